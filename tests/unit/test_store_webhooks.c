/* test_store_webhooks.c: migrations/0015_webhooks.sql and store_webhooks.c. The webhook-facing
 * types come from the triggers (grant states, login enabled/failed with the fix, drift detected
 * and repaired, a failed sync, new permission gaps, a sweep ending); an event is fanned out to
 * the enabled subscriptions that asked for its type and whose scopes hold it, with its body
 * frozen (the event log may be trimmed); each subscription's oldest pending delivery is the
 * one due; an attempt's outcome schedules, ends or disables; secrets are sealed at rest.
 * unit.test_store_webhooks.pg runs it on PostgreSQL, where a body reads back in the same bytes
 * as on SQLite although PostgreSQL's triggers space their JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_int.h"
#include "unit/test_store_fixture.h"
#include "vmlogind/store_events.h"
#include "vmlogind/store_login.h"
#include "vmlogind/store_webhooks.h"

#define SUB "0b1f6471-1bf0-4dda-aec3-111122223333"
#define RG "/subscriptions/" SUB "/resourceGroups/RG-One"
#define RG_KEY "/subscriptions/" SUB "/resourcegroups/rg-one"
#define VM RG "/providers/Microsoft.Compute/virtualMachines/Web-A"
#define VM_KEY RG_KEY "/providers/microsoft.compute/virtualmachines/web-a"

/* Runs sql beside the store: on SQLite on the thread's connection (":memory:" is this store's
 * alone), on PostgreSQL on a connection of its own. */
static void exec(struct fixture *f, const char *sql)
{
    char *msg = NULL;

    if (f->schema[0] != '\0') {
        if (fixture_raw_exec(f, sql) != 0)
            fail_msg("%s: failed", sql);
        return;
    }
    if (sqlite3_exec(store_conn_get(f->st, NULL)->db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* The integer a one-row query answers, read the same way. */
static int64_t count(struct fixture *f, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t n;

    if (f->schema[0] != '\0') {
        PGconn *c = PQconnectdb(f->ci);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return n;
    }
    assert_int_equal(sqlite3_prepare_v2(store_conn_get(f->st, NULL)->db, sql, -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* The data of the newest event of type (NULL if none), a copy. */
static char *last_of(struct store *st, const char *type)
{
    struct store_event *ev = NULL;
    size_t n = 0;
    char *out = NULL;

    assert_int_equal(store_events_after(st, 0, 100, &ev, &n, NULL), ERR_OK);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ev[i].type, type) == 0) {
            free(out);
            out = strdup(ev[i].data);
        }
    store_event_list_free(ev, n);
    return out;
}

static void test_types_from_triggers(void **state)
{
    struct fixture *f = *state;
    struct store *st = f->st;
    struct store_vm_facts vm = {
        .id = VM, .subscription_id = SUB, .resource_group = "RG-One", .name = "Web-A"};
    struct store_vm_login l = {.vm_key = VM_KEY, .state = "applying", .step = "extension"};
    struct store_sync_run r = {.started_at = 10};
    size_t changed;
    char *d;

    /* grants: active, then revoked */
    exec(f, "INSERT INTO login_grants (id, scope, scope_key, role, principal_id, principal_type,"
            " state, assignment_name, created_by, created_at, updated_at) VALUES ('g1', '" RG
            "', '" RG_KEY "', 'user', 'p1', 'User', 'pending', 'n1', 'me', 1, 1)");
    assert_null(last_of(st, "grant.active"));
    exec(f, "UPDATE login_grants SET state = 'active', updated_at = 2 WHERE id = 'g1'");
    d = last_of(st, "grant.active");
    assert_non_null(d);
    assert_non_null(strstr(d, "\"grantId\":\"g1\""));
    free(d);
    exec(f, "UPDATE login_grants SET state = 'revoking', revoked_by = 'me' WHERE id = 'g1'");
    assert_null(last_of(st, "grant.revoked"));
    exec(f, "UPDATE login_grants SET state = 'revoked' WHERE id = 'g1'");
    d = last_of(st, "grant.revoked");
    assert_non_null(strstr(d, "\"revokedBy\":\"me\""));
    free(d);

    /* a VM's login: failed with the cause's fix, drifted, enabled again = repaired */
    assert_int_equal(store_subscription_upsert(st, SUB, "Prod", "Enabled", "t", 1, NULL, NULL),
                     ERR_OK);
    assert_int_equal(store_vms_upsert(st, NULL, &vm, 1, 100, &changed, NULL), ERR_OK);
    assert_int_equal(store_vm_login_put(st, &l, 200, NULL), ERR_OK);
    l.state = "failed";
    l.cause_code = "timeout";
    assert_int_equal(store_vm_login_put(st, &l, 300, NULL), ERR_OK);
    d = last_of(st, "login.failed");
    assert_non_null(d);
    assert_non_null(strstr(d, "\"causeCode\":\"timeout\""));
    assert_non_null(strstr(d, "\"fix\":\"check that the VM agent"));
    assert_non_null(strstr(d, "\"vm\":\"" VM "\""));
    free(d);
    l.state = "enabled";
    l.cause_code = NULL;
    assert_int_equal(store_vm_login_put(st, &l, 400, NULL), ERR_OK);
    assert_null(last_of(st, "drift.repaired")); /* enabled, but there was no drift */
    d = last_of(st, "login.enabled");
    assert_non_null(d);
    free(d);
    l.state = "drifted";
    assert_int_equal(store_vm_login_put(st, &l, 500, NULL), ERR_OK);
    d = last_of(st, "drift.detected");
    assert_non_null(d);
    free(d);
    l.state = "applying";
    assert_int_equal(store_vm_login_put(st, &l, 600, NULL), ERR_OK);
    l.state = "enabled";
    assert_int_equal(store_vm_login_put(st, &l, 700, NULL), ERR_OK);
    d = last_of(st, "drift.repaired");
    assert_non_null(d);
    free(d);
    assert_int_equal(count(f, "SELECT count(*) FROM events WHERE type = 'drift.repaired'"), 1);

    /* a failed sync; a successful one says nothing here */
    assert_int_equal(store_sync_run_start(st, &r, NULL), ERR_OK);
    snprintf(r.state, sizeof(r.state), "failed");
    r.finished_at = 20;
    assert_int_equal(store_sync_run_update(st, &r, NULL), ERR_OK);
    d = last_of(st, "sync.failed");
    assert_non_null(d);
    free(d);

    /* permission gaps: new ones, the same again (nothing), others */
    assert_int_equal(
        store_permission_check_put(st, "self",
                                   "{\"missingCount\":1,\"graph\":{\"missing\":[\"a\"]}}", 1, NULL),
        ERR_OK);
    assert_int_equal(
        store_permission_check_put(st, "self",
                                   "{\"missingCount\":1,\"graph\":{\"missing\":[\"a\"]}}", 2, NULL),
        ERR_OK);
    assert_int_equal(
        store_permission_check_put(st, "self",
                                   "{\"missingCount\":1,\"graph\":{\"missing\":[\"b\"]}}", 3, NULL),
        ERR_OK);
    assert_int_equal(count(f, "SELECT count(*) FROM events WHERE type = 'permissions.missing'"), 2);

    /* a sweep ending */
    exec(f,
         "INSERT INTO operations (id, kind, target, target_key, status, created_at,"
         " updated_at) VALUES ('s1', 'loginGrant.sweep', '" RG "', '" RG_KEY "', 'Running', 1, 1)");
    exec(f, "UPDATE operations SET status = 'Succeeded', steps = '{\"dryRun\":true,\"counts\":"
            "{\"external\":2,\"wouldRemove\":2},\"items\":[]}' WHERE id = 's1'");
    d = last_of(st, "sweep.completed");
    assert_non_null(strstr(d, "\"sweepId\":\"s1\""));
    assert_non_null(strstr(d, "\"dryRun\":true"));
    assert_non_null(strstr(d, "\"counts\":{\"external\":2,\"wouldRemove\":2}"));
    free(d);
}

static void webhook(struct fixture *f, const char *id, const char *events, const char *scopes,
                    int unlimited, int enabled)
{
    char sql[1024];

    snprintf(sql, sizeof(sql),
             "INSERT INTO webhooks (id, url, events, scopes, unlimited, secret, enabled,"
             " created_by, created_at, updated_at) VALUES ('%s', 'https://h.example/', '%s', "
             "'%s', %d, 'whsec_AAAA', %d, 'me', 1, 1)",
             id, events, scopes, unlimited, enabled);
    exec(f, sql);
}

static void test_fanout(void **state)
{
    struct fixture *f = *state;
    struct store *st = f->st;
    struct store_delivery *list;
    size_t n;

    webhook(f, "all", "[\"*\"]", "[]", 1, 1);
    webhook(f, "rg", "[\"grant.active\"]", "[\"" RG_KEY "\"]", 0, 1);
    webhook(f, "rg-prefix", "[\"*\"]", "[\"" RG_KEY "x\"]", 0, 1);
    webhook(f, "off", "[\"*\"]", "[]", 1, 0);
    webhook(f, "types", "[\"sync.failed\"]", "[]", 1, 1);
    exec(f, "INSERT INTO events (at, type, scope, data) VALUES (1000, 'grant.active', '" VM_KEY
            "', '{\"grantId\":\"g\"}')");
    exec(f, "INSERT INTO events (at, type, scope, data) VALUES (1000, 'sync.failed', NULL,"
            " '{}')");
    exec(f, "INSERT INTO events (at, type, scope, data) VALUES (1000, 'login.changed', '" VM_KEY
            "', '{}')");
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'all'"),
                     2);
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'rg'"),
                     1);
    assert_int_equal(
        count(f, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'rg-prefix'"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'off'"),
                     0);
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'types'"),
                     1);
    /* the body is frozen: the events trim loses nothing to be sent; it reads back in the same
     * bytes on both backends */
    exec(f, "DELETE FROM events");
    assert_int_equal(store_deliveries_list(st, "rg", 0, 10, &list, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].body, "{\"type\":\"grant.active\",\"timestamp\":"
                                      "\"1970-01-01T00:00:01.000Z\",\"data\":{\"grantId\":\"g\"}}");
    assert_int_equal(strncmp(list[0].msg_id, "msg_", 4), 0);
    store_delivery_list_free(list, n);
}

static void test_due_and_outcomes(void **state)
{
    struct fixture *f = *state;
    struct store *st = f->st;
    struct store_delivery *due = NULL;
    struct store_webhook w = {0};
    size_t n = 0;
    int64_t id1 = 0, id2 = 0, pending = 0, oldest = 0;
    bool disabled = false;
    struct store_attempt fail = {.error = "HTTP 500", .status = 500, .disable_after = 2};

    webhook(f, "w", "[\"*\"]", "[]", 1, 1);
    assert_int_equal(store_webhooks_enqueue(st, "w", "m1", "webhook.test", "{}", 100, &id1, NULL),
                     ERR_OK);
    assert_int_equal(store_webhooks_enqueue(st, "w", "m2", "webhook.test", "{}", 100, &id2, NULL),
                     ERR_OK);
    assert_true(id2 > id1);
    /* the oldest only, with where and how to send */
    assert_int_equal(store_deliveries_due(st, 200, 10, &due, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].id, id1);
    assert_string_equal(due[0].secret, "whsec_AAAA");
    /* a failure scheduled later holds the line: m2 waits behind it */
    fail.now = 300;
    fail.next_at = 1000;
    assert_int_equal(store_deliveries_record(st, &due[0], &fail, &disabled, NULL), ERR_OK);
    assert_false(disabled);
    store_delivery_list_free(due, n);
    assert_int_equal(store_deliveries_due(st, 500, 10, &due, &n, NULL), ERR_OK);
    assert_int_equal(n, 0);
    store_delivery_list_free(due, n);
    assert_int_equal(store_deliveries_pending(st, &pending, &oldest, NULL), ERR_OK);
    assert_int_equal(pending, 2);
    assert_int_equal(oldest, 100);
    /* the second failure in a row disables, with the reason; nothing is due while disabled */
    assert_int_equal(store_deliveries_due(st, 1000, 10, &due, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    fail.now = 1000;
    fail.next_at = 2000;
    assert_int_equal(store_deliveries_record(st, &due[0], &fail, &disabled, NULL), ERR_OK);
    assert_true(disabled);
    store_delivery_list_free(due, n);
    assert_int_equal(store_webhooks_get(st, "w", &w, NULL), ERR_OK);
    assert_false(w.enabled);
    assert_string_equal(w.disabled_reason, "2 failed attempts in a row; the last: HTTP 500");
    store_webhook_clear(&w);
    assert_int_equal(store_deliveries_due(st, 5000, 10, &due, &n, NULL), ERR_OK);
    assert_int_equal(n, 0);
    store_delivery_list_free(due, n);
    /* enabled again: the run starts over; a success moves on to m2 */
    assert_int_equal(store_webhooks_set_enabled(st, "w", true, NULL, 5000, NULL), ERR_OK);
    assert_int_equal(store_deliveries_due(st, 5000, 10, &due, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    {
        struct store_attempt ok = {.ok = true, .status = 204, .now = 5000, .disable_after = 2};
        assert_int_equal(store_deliveries_record(st, &due[0], &ok, &disabled, NULL), ERR_OK);
    }
    store_delivery_list_free(due, n);
    assert_int_equal(store_deliveries_due(st, 5000, 10, &due, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].id, id2);
    /* the last retry over: failed, and not due again; redeliver makes it pending again */
    fail.next_at = 0;
    assert_int_equal(store_deliveries_record(st, &due[0], &fail, &disabled, NULL), ERR_OK);
    store_delivery_list_free(due, n);
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE state = 'failed'"), 1);
    assert_int_equal(store_deliveries_redeliver(st, "w", id2, 6000, NULL), ERR_OK);
    assert_int_equal(store_deliveries_redeliver(st, "other", id2, 6000, NULL), ERR_NOT_FOUND);
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"
                              " AND attempts = 0 AND msg_id = 'm2'"),
                     1);
    /* rotation keeps the old secret for the overlap */
    assert_int_equal(store_webhooks_rotate(st, "w", "whsec_BBBB", 9000, 6000, NULL), ERR_OK);
    assert_int_equal(store_deliveries_due(st, 6000, 10, &due, &n, NULL), ERR_OK);
    assert_string_equal(due[0].secret, "whsec_BBBB");
    assert_string_equal(due[0].prev_secret, "whsec_AAAA");
    assert_int_equal(due[0].prev_until, 9000);
    store_delivery_list_free(due, n);
    /* delete takes the deliveries along */
    assert_int_equal(store_webhooks_delete(st, "w", NULL), ERR_OK);
    assert_int_equal(store_webhooks_delete(st, "w", NULL), ERR_NOT_FOUND);
    assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries"), 0);
}

/* Of two senders (replicas) that read the same due delivery, one claims it; it is not due
 * again until the claim runs out, and then the next claim of it works. On SQLite (one replica)
 * every claim succeeds and writes nothing. */
static void test_claim_once(void **state)
{
    struct fixture *f = *state;
    struct store *st = f->st;
    struct store_delivery *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int64_t id = 0;
    bool claimed = true;

    webhook(f, "w", "[\"*\"]", "[]", 1, 1);
    assert_int_equal(store_webhooks_enqueue(st, "w", "m1", "webhook.test", "{}", 100, &id, NULL),
                     ERR_OK);
    assert_int_equal(store_deliveries_due(st, 200, 10, &a, &na, NULL), ERR_OK);
    assert_int_equal(store_deliveries_due(st, 200, 10, &b, &nb, NULL), ERR_OK);
    assert_int_equal(na, 1);
    assert_int_equal(nb, 1);
    assert_int_equal(store_deliveries_claim(st, &a[0], 5000, &claimed, NULL), ERR_OK);
    assert_true(claimed);
    assert_int_equal(store_deliveries_claim(st, &b[0], 5000, &claimed, NULL), ERR_OK);
    if (fixture_pg_host() == NULL) {
        assert_true(claimed);
        assert_int_equal(count(f, "SELECT count(*) FROM webhook_deliveries WHERE next_at = 100"),
                         1);
        store_delivery_list_free(a, na);
        store_delivery_list_free(b, nb);
        return;
    }
    assert_false(claimed);
    store_delivery_list_free(b, nb);
    assert_int_equal(store_deliveries_due(st, 4999, 10, &b, &nb, NULL), ERR_OK);
    assert_int_equal(nb, 0);
    store_delivery_list_free(b, nb);
    /* the claimer died: at the claim's end it is due again, and taken again */
    assert_int_equal(store_deliveries_due(st, 5000, 10, &b, &nb, NULL), ERR_OK);
    assert_int_equal(nb, 1);
    assert_int_equal(b[0].id, id);
    assert_int_equal(store_deliveries_claim(st, &b[0], 9000, &claimed, NULL), ERR_OK);
    assert_true(claimed);
    /* the first reading is stale now */
    assert_int_equal(store_deliveries_claim(st, &a[0], 9000, &claimed, NULL), ERR_OK);
    assert_false(claimed);
    store_delivery_list_free(a, na);
    store_delivery_list_free(b, nb);
}

/* With an audit key, the secret is sealed at rest (not in the row), opens for its own row only,
 * and the previous one after a rotation opens too. */
static void test_secret_sealed(void **state)
{
    struct fixture *f = *state;
    struct store *st = f->st;
    struct store_webhook w = {.id = "w1",
                              .url = "https://h.example/",
                              .description = "",
                              .events = "[\"*\"]",
                              .scopes = "[]",
                              .unlimited = true,
                              .secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                              .created_by = "me",
                              .created_at = 1};
    struct store_webhook got = {0};

    assert_int_equal(store_webhooks_insert(st, &w, NULL), ERR_OK);
    assert_int_equal(count(f, "SELECT count(*) FROM webhooks WHERE secret LIKE 'enc:v1:%'"
                              " AND secret NOT LIKE '%c2VjcmV0%'"),
                     1);
    assert_int_equal(store_webhooks_get(st, "w1", &got, NULL), ERR_OK);
    assert_string_equal(got.secret, w.secret);
    store_webhook_clear(&got);
    assert_int_equal(store_webhooks_rotate(st, "w1", "whsec_bmV3", 10, 2, NULL), ERR_OK);
    assert_int_equal(store_webhooks_get(st, "w1", &got, NULL), ERR_OK);
    assert_string_equal(got.secret, "whsec_bmV3");
    assert_string_equal(got.prev_secret, w.secret);
    store_webhook_clear(&got);
    /* the sealed value moved to another row does not open there */
    w.id = "w2";
    assert_int_equal(store_webhooks_insert(st, &w, NULL), ERR_OK);
    exec(f, "UPDATE webhooks SET secret = (SELECT secret FROM webhooks WHERE id = 'w1')"
            " WHERE id = 'w2'");
    assert_int_equal(store_webhooks_get(st, "w2", &got, NULL), ERR_OK);
    assert_null(got.secret);
    store_webhook_clear(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types_from_triggers, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fanout, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_due_and_outcomes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_claim_once, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_secret_sealed, fixture_setup_file, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
