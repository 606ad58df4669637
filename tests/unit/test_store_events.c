/* test_store_events.c: the event log the triggers of 0014_events.sql write: an operation's
 * creation and each change of its status or steps (not a write that changes neither), its
 * items with the operation's target as scope (as GET /v1/operations/{id} holds them), a sync run
 * only when it finishes (fleet-wide: no scope); a VM's login state when it says something,
 * without the VM's operation id; reading after a seq pages in order; the log
 * keeps the newest STORE_EVENTS_KEEP rows and never reuses a seq. Also store_metrics_read.
 * unit.test_store_events.pg runs it on PostgreSQL: the data read back are the same bytes as
 * SQLite's (compact JSON, keys in the triggers' order), whitespace inside strings kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_events.h"
#include "vmlogind/store_login.h"
#include "vmlogind/store_metrics.h"

#define SUB "0b1f6471-1bf0-4dda-aec3-111122223333"
#define RG "/subscriptions/" SUB "/resourceGroups/RG-One"
#define VM RG "/providers/Microsoft.Compute/virtualMachines/Web-A"
#define OP "7f000000-0000-4000-8000-000000000001"

static int64_t newest(struct store *st)
{
    int64_t o, n;
    assert_int_equal(store_events_bounds(st, &o, &n, NULL), ERR_OK);
    return n;
}

/* The events after seq (at most 16), in *n. */
static struct store_event *after(struct store *st, int64_t seq, size_t *n)
{
    struct store_event *ev;
    assert_int_equal(store_events_after(st, seq, 16, &ev, n, NULL), ERR_OK);
    return ev;
}

static void test_operation_and_items(void **state)
{
    struct fixture *f = *state;
    struct store_operation o = {.id = OP, .kind = "entraLogin.enable", .target = RG};
    struct store_event *ev;
    size_t n;
    int64_t mark;

    assert_int_equal(newest(f->st), 0);
    assert_int_equal(store_operation_create(f->st, &o, 1000, NULL), ERR_OK);
    assert_int_equal(store_operation_update(f->st, OP, "Running", NULL, NULL, NULL, 2000, NULL),
                     ERR_OK);
    mark = newest(f->st);
    assert_int_equal(mark, 2);
    /* a write that changes neither status nor steps is no event */
    assert_int_equal(store_operation_update(f->st, OP, "Running", NULL, NULL, NULL, 2500, NULL),
                     ERR_OK);
    assert_int_equal(newest(f->st), mark);

    assert_int_equal(store_operation_item_add(f->st, OP, VM, 3000, NULL), ERR_OK);
    assert_int_equal(store_operation_item_set(f->st, OP, VM, "Running", "extension", NULL, NULL,
                                              NULL, 3100, NULL),
                     ERR_OK);
    assert_int_equal(store_operation_item_add(f->st, OP, "grant-1", 3200, NULL), ERR_OK);

    ev = after(f->st, 0, &n);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].seq, (int64_t)i + 1);
        assert_string_equal(ev[i].type, "operation.progress");
        assert_null(strchr(ev[i].data, '\n'));
    }
    assert_string_equal(ev[0].scope, "/subscriptions/" SUB "/resourcegroups/rg-one");
    assert_int_equal(ev[0].at, 1000);
    assert_string_equal(ev[1].data, "{\"operationId\":\"" OP "\",\"kind\":\"entraLogin.enable\","
                                    "\"target\":\"" RG "\",\"status\":\"Running\","
                                    "\"errorCode\":null}");
    assert_string_equal(ev[2].scope, "/subscriptions/" SUB "/resourcegroups/rg-one");
    assert_non_null(strstr(ev[2].data, "\"item\":\"" VM "\""));
    assert_non_null(strstr(ev[3].data, "\"step\":\"extension\""));
    assert_string_equal(ev[4].scope, "/subscriptions/" SUB "/resourcegroups/rg-one");
    store_event_list_free(ev, n);

    /* paging: after 3, at most 16: the last two */
    ev = after(f->st, 3, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].seq, 4);
    store_event_list_free(ev, n);
}

static void test_sync_finished_only(void **state)
{
    struct fixture *f = *state;
    struct store_sync_run r = {.started_at = 5000};
    struct store_event *ev;
    size_t n;

    assert_int_equal(store_sync_run_start(f->st, &r, NULL), ERR_OK);
    snprintf(r.state, sizeof(r.state), "running");
    r.vms_seen = 10;
    assert_int_equal(store_sync_run_update(f->st, &r, NULL), ERR_OK);
    assert_int_equal(newest(f->st), 0);
    snprintf(r.state, sizeof(r.state), "succeeded");
    r.finished_at = 6000;
    assert_int_equal(store_sync_run_update(f->st, &r, NULL), ERR_OK);
    ev = after(f->st, 0, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].type, "sync.finished");
    assert_null(ev[0].scope);
    assert_int_equal(ev[0].at, 6000);
    assert_non_null(strstr(ev[0].data, "\"vmsSeen\":10"));
    assert_null(strchr(ev[0].data, ' '));
    store_event_list_free(ev, n);
}

/* The log holds seq 1..30 and STORE_EVENTS_KEEP (as if the rows between had been written and
 * read), then 25 runs write through the store: the rows STORE_EVENTS_KEEP back are trimmed, the
 * seq goes on where the log was and no seq is handed out twice. (Ten thousand writes would
 * take seconds on PostgreSQL, whose events_trim costs up to a scan of the log each.) */
static void test_bounded_and_never_reused(void **state)
{
    struct fixture *f = *state;
    char sql[320];
    int64_t oldest, last;
    int runs = 25;

    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 30)"
             " INSERT INTO events (seq, at, type, scope, data) SELECT i, i, 'sync.finished', NULL,"
             " '{}' FROM g UNION ALL SELECT %d, 0, 'sync.finished', NULL, '{}'",
             STORE_EVENTS_KEEP);
    assert_int_equal(fixture_raw_exec(f, sql), 0);
    /* PostgreSQL's identity column does not see given values: it is set on */
    snprintf(sql, sizeof(sql), "ALTER TABLE events ALTER COLUMN seq RESTART WITH %d",
             STORE_EVENTS_KEEP + 1);
    if (f->schema[0] != '\0')
        assert_int_equal(fixture_raw_exec(f, sql), 0);
    for (int i = 0; i < runs; i++) {
        struct store_sync_run r = {.started_at = i + 1};
        assert_int_equal(store_sync_run_start(f->st, &r, NULL), ERR_OK);
        snprintf(r.state, sizeof(r.state), "succeeded");
        r.finished_at = i + 2;
        assert_int_equal(store_sync_run_update(f->st, &r, NULL), ERR_OK);
    }
    assert_int_equal(store_events_bounds(f->st, &oldest, &last, NULL), ERR_OK);
    assert_int_equal(last, STORE_EVENTS_KEEP + runs);
    assert_int_equal(last - oldest + 1, STORE_EVENTS_KEEP);
    assert_int_equal(oldest, 26);
}

/* login.changed: only a state or step that says something, scoped to the VM, carrying the VM
 * as Azure spells it and no operation id (the VM's last operation may be at a wider scope). */
static void test_login_changed(void **state)
{
    struct fixture *f = *state;
    struct store_vm_facts vm = {.id = VM,
                                .subscription_id = SUB,
                                .resource_group = "RG-One",
                                .name = "Web-A",
                                .os_type = "Windows"};
    char key[256];
    struct store_vm_login l = {
        .vm_key = key, .state = "not_covered", .step = "", .operation_id = OP};
    struct store_event *ev;
    size_t n, changed;

    snprintf(key, sizeof(key), "%s",
             "/subscriptions/" SUB "/resourcegroups/rg-one/providers/"
             "microsoft.compute/virtualmachines/web-a");
    assert_int_equal(store_subscription_upsert(f->st, SUB, "Prod", "Enabled", "t", 1, NULL, NULL),
                     ERR_OK);
    assert_int_equal(store_vms_upsert(f->st, NULL, &vm, 1, 100, &changed, NULL), ERR_OK);
    assert_int_equal(store_vm_login_put(f->st, &l, 200, NULL), ERR_OK);
    assert_int_equal(newest(f->st), 0); /* not_covered: nothing to say */
    l.state = "applying";
    l.step = "extension";
    assert_int_equal(store_vm_login_put(f->st, &l, 300, NULL), ERR_OK);
    l.state = "enabled";
    l.step = "";
    assert_int_equal(store_vm_login_put(f->st, &l, 400, NULL), ERR_OK);
    ev = after(f->st, 0, &n);
    /* two login.changed, and the webhook-facing login.enabled (0015) */
    assert_int_equal(n, 3);
    size_t changed_n = 0, enabled_n = 0;
    const struct store_event *ch[2] = {NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ev[i].scope, key);
        assert_non_null(strstr(ev[i].data, "\"vm\":\"" VM "\""));
        assert_null(strstr(ev[i].data, OP));
        assert_null(strstr(ev[i].data, "operationId"));
        if (strcmp(ev[i].type, "login.enabled") == 0) {
            enabled_n++;
            continue;
        }
        assert_string_equal(ev[i].type, "login.changed");
        if (changed_n < 2)
            ch[changed_n] = &ev[i];
        changed_n++;
    }
    assert_int_equal(changed_n, 2);
    assert_int_equal(enabled_n, 1);
    assert_non_null(strstr(ch[0]->data, "\"step\":\"extension\""));
    assert_non_null(strstr(ch[1]->data, "\"state\":\"enabled\""));
    store_event_list_free(ev, n);
}

/* An event written here (not by a trigger): its data read back compact, whatever spacing it
 * came with, with the spaces, colons, commas, quotes and escapes inside its strings kept. */
static void test_emit_compact(void **state)
{
    struct fixture *f = *state;
    struct store_event *ev;
    size_t n;

    assert_int_equal(store_events_emit(f->st, 7000, "sweep.completed", RG,
                                       "{ \"a\" : \"x : y, \\\" z \" ,\n\t\"b\" : [ 1 , 2 ],"
                                       " \"c\" : { \"d\" : null } }",
                                       NULL),
                     ERR_OK);
    ev = after(f->st, 0, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].data, "{\"a\":\"x : y, \\\" z \",\"b\":[1,2],\"c\":{\"d\":null}}");
    store_event_list_free(ev, n);
}

static void test_metrics(void **state)
{
    struct fixture *f = *state;
    struct store_operation o = {.id = OP, .kind = "entraLogin.enable", .target = RG};
    struct store_metrics m;

    assert_int_equal(store_operation_create(f->st, &o, 1000, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(f->st, "vm_login", VM, 500, NULL, 400, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(f->st, "vm_login", "other", 9000, NULL, 400, NULL), ERR_OK);
    assert_int_equal(store_metrics_read(f->st, 1500, &m, NULL), ERR_OK);
    assert_int_equal(m.tasks_due, 1);
    assert_int_equal(m.tasks_oldest_due, 500);
    assert_int_equal(m.tasks_dead, 0);
    assert_int_equal(m.operations[0], 1); /* NotStarted */
    assert_int_equal(m.operations[2], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operation_and_items, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sync_finished_only, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bounded_and_never_reused, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_login_changed, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_emit_compact, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_metrics, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
