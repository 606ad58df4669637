/* Webhooks end to end: the real vmlogind and azsim, and a receiver (tests/webhooks/receiver.mjs)
 * that verifies every delivery with the standardwebhooks npm package. A grant becoming active
 * is delivered as grant.active and verifies; during a rotation both signatures verify; a
 * receiver answering 500 gets the retries of the (short, test) schedule and then everything,
 * in order, and so does a receiver that was down; vmlogind killed with SIGKILL while a delivery is
 * in flight sends it again after the restart with the same webhook-id; URLs to private or unlisted
 * hosts are refused at create, and a host whose name resolves to loopback without being listed is
 * refused at delivery; a subscription made by an administrator limited to a resource group gets no
 * event outside it; a subscription failing webhook_disable_after times in a row is disabled with
 * the reason; an active grant's assignment deleted in Azure gives drift.detected, then
 * drift.repaired. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"
#include "test_sync_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define SUB_DEV "7a1e9c44-0000-4000-8000-00000000cccc"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define VM_APP RG "/virtualMachines/ws2022-app-01"
#define SCHEDULE_MS 200, 400, 800, 1600, 3200, 3200, 3200, 3200
#define CONFIG                                                                                     \
    "webhook_allowed_hosts = 127.0.0.1 *\n"                                                        \
    "webhook_retry_schedule_ms = 200,400,800,1600,3200,3200,3200,3200\n"                           \
    "webhook_disable_after = 8\n"                                                                  \
    "webhook_poll_ms = 50\n"                                                                       \
    "webhook_timeout_ms = 5000\n" /* on PostgreSQL a killed sender's claim runs this + 5 s */      \
    "webhook_rotation_overlap_s = 3600\n"                                                          \
    "principal_not_found_timeout_s = 30\n"

static struct sc C;
static struct proc R; /* the receiver */

/* ---- the receiver -----------------------------------------------------------------------------
 */

/* Starts the receiver on port (NULL: any free one). */
static void receiver_start(const char *port)
{
    char dir[256], log[320], script[512], src[512], portenv[32];
    char *argv[] = {(char *)NODE_BIN, script, NULL};
    char *env[] = {src, port != NULL ? portenv : NULL, NULL};

    h_tmpdir(dir, sizeof(dir));
    snprintf(log, sizeof(log), "%s/receiver.log", dir);
    snprintf(script, sizeof(script), "%s/tests/webhooks/receiver.mjs", SOURCE_DIR);
    snprintf(src, sizeof(src), "SOURCE_DIR=%s", SOURCE_DIR);
    snprintf(portenv, sizeof(portenv), "PORT=%s", port != NULL ? port : "0");
    if (!h_proc_start(&R, argv, env, log, 20000)) {
        char *l = h_read_file(log);
        fail_msg("the receiver did not start (node %s; scripts/install-deps.sh installs "
                 "standardwebhooks into .cache/webhooks): %s",
                 NODE_BIN, l ? l : "");
    }
}

/* Configures the receiver: its secrets (a JSON array text) and modes (JSON object text). */
static void receiver_config(const char *secrets, const char *mode, const char *modes)
{
    char url[256], body[2048];
    struct resp r;

    snprintf(url, sizeof(url), "%s/_ctl/config", R.url);
    snprintf(body, sizeof(body), "{\"secrets\":%s,\"mode\":\"%s\",\"modes\":%s}",
             secrets ? secrets : "null", mode, modes ? modes : "{}");
    assert_int_equal(h_http("POST", url, body, NULL, &r), 200);
    h_resp_cleanup(&r);
}

static void secrets_set(const char *a, const char *b, const char *mode, const char *modes)
{
    char s[512];

    if (b != NULL)
        snprintf(s, sizeof(s), "[\"%s\",\"%s\"]", a, b);
    else
        snprintf(s, sizeof(s), "[\"%s\"]", a);
    receiver_config(s, mode, modes);
}

/* What the receiver got on path (new reference: an array). */
static json_t *received(const char *path)
{
    char url[256];
    struct resp r;
    json_t *out = json_array(), *v;
    size_t i;

    snprintf(url, sizeof(url), "%s/_ctl/received", R.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    json_array_foreach(json_object_get(r.json, "items"), i, v)
    {
        if (strcmp(h_jstr(v, "path"), path) == 0)
            json_array_append(out, v);
    }
    h_resp_cleanup(&r);
    return out;
}

struct want {
    const char *path;
    const char *type;
    const char *key; /* a data member that must equal value (NULL: any) */
    const char *value;
    const char *id; /* a webhook-id (NULL: any) */
    size_t count;   /* at least this many matching */
};

static size_t count_matching(const struct want *w)
{
    json_t *a = received(w->path), *v;
    size_t i, n = 0;

    json_array_foreach(a, i, v)
    {
        if (w->type != NULL && strcmp(h_jstr(v, "type"), w->type) != 0)
            continue;
        if (w->key != NULL && strcmp(h_jstr(json_object_get(v, "data"), w->key), w->value) != 0)
            continue;
        if (w->id != NULL && strcmp(h_jstr(v, "id"), w->id) != 0)
            continue;
        n++;
    }
    json_decref(a);
    return n;
}

static bool got(void *arg)
{
    const struct want *w = arg;
    return count_matching(w) >= w->count;
}

/* Waits for the receiver to have what w asks for; fails with what it has otherwise. */
static void wait_received(const struct want *w, int timeout_ms)
{
    if (!h_poll(got, (void *)w, timeout_ms)) {
        json_t *a = received(w->path);
        char *t = json_dumps(a, JSON_COMPACT);
        fail_msg("the receiver did not get %zu x %s on %s: %s", w->count, w->type ? w->type : "*",
                 w->path, t);
    }
}

/* The last received item matching w (new reference). */
static json_t *last_matching(const struct want *w)
{
    json_t *a = received(w->path), *v, *out = NULL;
    size_t i;

    json_array_foreach(a, i, v)
    {
        if ((w->type == NULL || strcmp(h_jstr(v, "type"), w->type) == 0) &&
            (w->id == NULL || strcmp(h_jstr(v, "id"), w->id) == 0)) {
            json_decref(out);
            out = json_incref(v);
        }
    }
    json_decref(a);
    assert_non_null(out);
    return out;
}

static bool verified_by(const json_t *item, int idx)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(item, "verifiedBy"), i, v)
    {
        if (json_integer_value(v) == idx)
            return true;
    }
    return false;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static bool json_has(const json_t *j, const char *needle)
{
    char *t = json_dumps(j, 0);
    bool ok = t != NULL && strstr(t, needle) != NULL;

    free(t);
    return ok;
}

static json_t *api(const char *key, const char *method, const char *path, const char *body,
                   long want)
{
    return h_api(C.d.p.url, key, method, path, body, want);
}

/* Creates a subscription to path with events (JSON array text); its id and secret. */
static void subscribe(const char *key, const char *path, const char *events, char *id, char *secret)
{
    char body[1024];
    json_t *j;

    snprintf(body, sizeof(body), "{\"url\":\"%s%s\",\"events\":%s,\"description\":\"test\"}", R.url,
             path, events);
    j = api(key, "POST", "/v1/webhooks", body, 201);
    snprintf(id, 64, "%s", h_jstr(j, "id"));
    snprintf(secret, 128, "%s", h_jstr(j, "secret"));
    assert_true(strncmp(secret, "whsec_", 6) == 0);
    json_decref(j);
}

/* POST /v1/loginGrants (202); the grant's id in id (64 bytes). */
static void post_grant(const char *scope, const char *role, const char *upn, char *id)
{
    char body[512];
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"%s\",\"principal\":{\"upn\":\"%s\"}}", scope, role, upn);
    j = api(C.key, "POST", "/v1/loginGrants", body, 202);
    snprintf(id, 64, "%s", h_jstr(j, "id"));
    json_decref(j);
}

/* POST .../test; the message id. */
static void send_test(const char *id, char *msg)
{
    char p[128];
    json_t *j;

    snprintf(p, sizeof(p), "/v1/webhooks/%s/test", id);
    j = api(C.key, "POST", p, NULL, 202);
    snprintf(msg, 96, "%s", h_jstr(j, "messageId"));
    json_decref(j);
}

/* The webhook's deliveries (new reference: the items array). */
static json_t *deliveries(const char *id)
{
    char p[128];
    json_t *j, *items;

    snprintf(p, sizeof(p), "/v1/webhooks/%s/deliveries", id);
    j = api(C.key, "GET", p, NULL, 200);
    items = json_incref(json_object_get(j, "items"));
    json_decref(j);
    return items;
}

static json_t *delivery_of(const char *id, const char *msg)
{
    json_t *items = deliveries(id), *v, *out = NULL;
    size_t i;

    json_array_foreach(items, i, v)
    {
        if (strcmp(h_jstr(v, "messageId"), msg) == 0)
            out = json_incref(v);
    }
    json_decref(items);
    return out;
}

struct delivery_state {
    const char *id, *msg, *status;
};

static bool delivery_is(void *arg)
{
    const struct delivery_state *s = arg;
    json_t *d = delivery_of(s->id, s->msg);
    bool ok = d != NULL && strcmp(h_jstr(d, "status"), s->status) == 0;

    json_decref(d);
    return ok;
}

/* ---- setup ------------------------------------------------------------------------------------
 */

static int setup(void **state)
{
    (void)state;
    sc_start(&C, NULL, NULL, CONFIG);
    json_decref(sc_sync_now(&C));
    receiver_start(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_proc_stop(&R, 5000);
    sc_stop(&C);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

/* Refused at create with problem+json naming the field: a private literal not listed, http to a
 * host that is not a listed loopback, an unknown event type, an unknown field; a reader. */
static void test_create_refused(void **state)
{
    char reader[128];
    json_t *j;

    (void)state;
    j = api(C.key, "POST", "/v1/webhooks", "{\"url\":\"https://10.1.2.3/hook\",\"events\":[\"*\"]}",
            400);
    assert_string_equal(h_jstr(j, "code"), "webhook_host_not_allowed");
    assert_string_equal(h_jstr(json_array_get(json_object_get(j, "errors"), 0), "field"), "url");
    json_decref(j);
    j = api(C.key, "POST", "/v1/webhooks",
            "{\"url\":\"http://hooks.example.com/x\",\"events\":[\"*\"]}", 400);
    assert_string_equal(h_jstr(j, "code"), "webhook_https_required");
    json_decref(j);
    j = api(C.key, "POST", "/v1/webhooks",
            "{\"url\":\"https://hooks.example.com/x\",\"events\":[\"grant.nope\"],\"x\":1}", 400);
    assert_string_equal(h_jstr(j, "code"), "validation_failed");
    assert_true(json_has(j, "events/0"));
    assert_true(json_has(j, "unknown_field"));
    json_decref(j);
    h_daemon_key(&C.d, "reader", NULL, reader, sizeof(reader));
    json_decref(api(reader, "POST", "/v1/webhooks",
                    "{\"url\":\"https://hooks.example.com/x\",\"events\":[\"*\"]}", 403));
}

/* A grant becomes active: grant.active arrives, signed so standardwebhooks verifies it, and the
 * secret is never shown again (get, list). */
static void test_grant_active_delivered(void **state)
{
    char id[64], secret[128], p[128], grant[64];
    json_t *j, *item;
    struct want w = {.path = "/hook/grants", .type = "grant.active", .key = "grantId", .count = 1};

    (void)state;
    subscribe(C.key, "/hook/grants", "[\"grant.active\",\"grant.revoked\"]", id, secret);
    secrets_set(secret, NULL, "ok", NULL);
    snprintf(p, sizeof(p), "/v1/webhooks/%s", id);
    j = api(C.key, "GET", p, NULL, 200);
    assert_null(json_object_get(j, "secret"));
    assert_true(json_is_true(json_object_get(j, "enabled")));
    json_decref(j);
    j = api(C.key, "GET", "/v1/webhooks", NULL, 200);
    assert_false(json_has(j, secret + 6));
    json_decref(j);

    post_grant(VM_APP, "user", "alice@contoso.example", grant);
    w.value = grant;
    wait_received(&w, 30000);
    item = last_matching(&w);
    assert_true(verified_by(item, 0));
    assert_int_equal(json_integer_value(json_object_get(item, "signatures")), 1);
    assert_true(strncmp(h_jstr(item, "id"), "msg_", 4) == 0);
    json_decref(item);
}

/* After a rotation both the old and the new secret verify the same delivery; the new one
 * alone once the overlap is over is the unit tests' (test_model_webhook). */
static void test_rotation_both_verify(void **state)
{
    char id[64], old[128], p[128], msg[96], fresh[128];
    json_t *j, *item;
    struct want w = {.path = "/hook/rotate", .type = "webhook.test", .count = 1};

    (void)state;
    subscribe(C.key, "/hook/rotate", "[\"*\"]", id, old);
    snprintf(p, sizeof(p), "/v1/webhooks/%s/rotate", id);
    j = api(C.key, "POST", p, NULL, 200);
    snprintf(fresh, sizeof(fresh), "%s", h_jstr(j, "secret"));
    assert_true(strncmp(fresh, "whsec_", 6) == 0);
    assert_string_not_equal(fresh, old);
    json_decref(j);
    /* the receiver knows the old secret first, then the new one */
    secrets_set(old, fresh, "ok", NULL);
    send_test(id, msg);
    w.id = msg;
    wait_received(&w, 20000);
    item = last_matching(&w);
    assert_int_equal(json_integer_value(json_object_get(item, "signatures")), 2);
    assert_true(verified_by(item, 0)); /* the old secret */
    assert_true(verified_by(item, 1)); /* the new secret */
    json_decref(item);
}

/* The receiver answers 500: the message is retried on the schedule (each gap at least the
 * schedule's step), a second message waits behind it, and once the receiver recovers both
 * arrive, in order, nothing lost; the deliveries say so. */
static void test_retries_then_recovery(void **state)
{
    static const int64_t schedule[] = {SCHEDULE_MS};
    char id[64], secret[128], m1[96], m2[96];
    json_t *a, *v;
    size_t i, first_ok = 0, second_ok = 0;
    int64_t prev = 0;
    int k = 0;
    struct want w = {.path = "/hook/flaky", .type = "webhook.test", .count = 3};
    struct delivery_state ds = {.status = "succeeded"};

    (void)state;
    subscribe(C.key, "/hook/flaky", "[\"*\"]", id, secret);
    secrets_set(secret, NULL, "ok", "{\"/hook/flaky\":\"fail\"}");
    send_test(id, m1);
    send_test(id, m2);
    w.id = m1;
    wait_received(&w, 20000); /* three failed attempts of the first */
    secrets_set(secret, NULL, "ok", NULL);
    ds.id = id;
    ds.msg = m2;
    assert_true(h_poll(delivery_is, &ds, 20000));

    a = received("/hook/flaky");
    json_array_foreach(a, i, v)
    {
        int64_t at = json_integer_value(json_object_get(v, "at"));
        assert_true(verified_by(v, 0));
        if (strcmp(h_jstr(v, "id"), m2) == 0) {
            assert_true(first_ok > 0); /* in order: never before the first succeeded */
            second_ok = strcmp(h_jstr(v, "answered"), "ok") == 0 ? i + 1 : second_ok;
            continue;
        }
        if (prev > 0 && k < 5)
            assert_true(at - prev >= schedule[k - 1]); /* waited at least the schedule's step */
        prev = at;
        k++;
        if (strcmp(h_jstr(v, "answered"), "ok") == 0)
            first_ok = i + 1;
    }
    json_decref(a);
    assert_true(first_ok > 0);
    assert_true(second_ok > first_ok);
    v = delivery_of(id, m1);
    assert_string_equal(h_jstr(v, "status"), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(v, "attempts")), k);
    assert_int_equal(json_integer_value(json_object_get(v, "lastResponseStatus")), 204);
    json_decref(v);
}

/* SIGKILL while a delivery is in flight (the receiver holds it unanswered): after the restart
 * the same message is sent again with the same webhook-id, and verifies. */
static void test_sigkill_redelivers(void **state)
{
    char id[64], secret[128], msg[96];
    json_t *item;
    struct want w = {.path = "/hook/crash", .type = "webhook.test", .count = 1};

    (void)state;
    subscribe(C.key, "/hook/crash", "[\"*\"]", id, secret);
    secrets_set(secret, NULL, "ok", "{\"/hook/crash\":\"hang\"}");
    send_test(id, msg);
    w.id = msg;
    wait_received(&w, 20000);
    h_proc_kill(&C.d.p); /* kill -9 mid-delivery */
    secrets_set(secret, NULL, "ok", NULL);
    assert_true(h_daemon_restart(&C.d, NULL));
    w.count = 2;
    wait_received(&w, 20000);
    item = last_matching(&w);
    assert_string_equal(h_jstr(item, "id"), msg);
    assert_true(verified_by(item, 0));
    json_decref(item);
}

/* "*" allows public hosts only: localhost is a name, accepted at create, but it resolves to
 * loopback and is not listed, so the connection is refused at delivery (the check is on the
 * address connected to) and the receiver gets nothing. */
static void test_unlisted_name_to_loopback_refused(void **state)
{
    char body[512], id[64], msg[96], port[16];
    const char *colon = strrchr(R.url, ':');
    json_t *j, *d;
    struct delivery_state ds = {.status = "pending"};

    (void)state;
    snprintf(port, sizeof(port), "%s", colon + 1);
    snprintf(body, sizeof(body),
             "{\"url\":\"https://localhost:%s/hook/rebind\",\"events\":[\"*\"]}", port);
    j = api(C.key, "POST", "/v1/webhooks", body, 201);
    snprintf(id, sizeof(id), "%s", h_jstr(j, "id"));
    json_decref(j);
    send_test(id, msg);
    ds.id = id;
    ds.msg = msg;
    /* pending with a recorded failed attempt */
    for (int i = 0;; i++) {
        assert_true(h_poll(delivery_is, &ds, 10000));
        d = delivery_of(id, msg);
        if (json_integer_value(json_object_get(d, "attempts")) > 0)
            break;
        json_decref(d);
        assert_true(i < 1000);
    }
    assert_non_null(strstr(h_jstr(d, "lastError"), "not public"));
    assert_true(json_is_null(json_object_get(d, "lastResponseStatus")));
    json_decref(d);
    j = received("/hook/rebind");
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

/* An administrator limited to the resource group rg-entra: her subscription gets the grant
 * inside it and not the one at another resource group; she cannot see the fleet-wide one. */
static void test_scope_limited_subscription(void **state)
{
    const char *scopes[] = {RG, NULL};
    char scoped[128], id[64], secret[128], in_grant[64], out_grant[64], p[128];
    json_t *a, *v;
    size_t i;
    struct want w = {.path = "/hook/scoped", .type = "grant.active", .key = "grantId", .count = 1};
    struct want all = {.path = "/hook/all", .type = "grant.active", .key = "grantId", .count = 1};
    char all_id[64], all_secret[128];

    (void)state;
    h_daemon_key(&C.d, "administrator", scopes, scoped, sizeof(scoped));
    subscribe(scoped, "/hook/scoped", "[\"*\"]", id, secret);
    subscribe(C.key, "/hook/all", "[\"grant.active\"]", all_id, all_secret);
    secrets_set(secret, all_secret, "ok", NULL);
    snprintf(p, sizeof(p), "/v1/webhooks/%s", all_id);
    json_decref(api(scoped, "GET", p, NULL, 404)); /* fleet-wide: not hers */

    post_grant("/subscriptions/" SUB_DEV "/resourceGroups/rg-dev", "user", "bob@contoso.example",
               out_grant);
    post_grant(RG, "user", "bob@contoso.example", in_grant);
    /* the fleet-wide subscription gets both; by then the scoped one had its chance */
    all.value = out_grant;
    wait_received(&all, 30000);
    all.value = in_grant;
    wait_received(&all, 30000);
    w.value = in_grant;
    wait_received(&w, 30000);
    a = received("/hook/scoped");
    json_array_foreach(a, i, v)
    {
        assert_string_not_equal(h_jstr(json_object_get(v, "data"), "grantId"), out_grant);
        assert_true(verified_by(v, 0));
    }
    json_decref(a);
}

static bool webhook_disabled(void *arg)
{
    char p[128];
    json_t *j;
    bool off;

    snprintf(p, sizeof(p), "/v1/webhooks/%s", (const char *)arg);
    j = api(C.key, "GET", p, NULL, 200);
    off = json_is_false(json_object_get(j, "enabled"));
    json_decref(j);
    return off;
}

/* webhook_disable_after (8: room for a receiver restarted on a loaded machine in the
 * down-then-back test) failures in a row disable the subscription, with the reason. */
static void test_disabled_after_failures(void **state)
{
    char id[64], secret[128], msg[96], p[128];
    json_t *j;

    (void)state;
    subscribe(C.key, "/hook/dead", "[\"*\"]", id, secret);
    secrets_set(secret, NULL, "ok", "{\"/hook/dead\":\"fail\"}");
    send_test(id, msg);
    snprintf(p, sizeof(p), "/v1/webhooks/%s", id);
    assert_true(h_poll(webhook_disabled, id, 60000));
    j = api(C.key, "GET", p, NULL, 200);
    assert_true(json_is_false(json_object_get(j, "enabled")));
    assert_non_null(strstr(h_jstr(j, "disabledReason"), "8 failed attempts in a row"));
    assert_non_null(strstr(h_jstr(j, "disabledReason"), "HTTP 500"));
    json_decref(j);
    /* enabling it again resets the run and sends what waited */
    secrets_set(secret, NULL, "ok", NULL);
    j = api(C.key, "PATCH", p, "{\"enabled\":true}", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "consecutiveFailures")), 0);
    json_decref(j);
    {
        struct want w = {.path = "/hook/dead", .type = "webhook.test", .id = msg, .count = 9};
        wait_received(&w, 20000);
    }
}

/* Someone deletes an active grant's role assignment in Azure: the next look at the grant (here
 * after its expiry is moved) makes it again, and the subscription gets drift.detected then
 * drift.repaired for that grant. */
static void test_grant_drift(void **state)
{
    char id[64], secret[128], grant[64], name[64], p[256], body[128], when[32];
    time_t t = time(NULL) + 86400;
    json_t *g;
    struct want det = {
        .path = "/hook/drift", .type = "drift.detected", .key = "grantId", .count = 1};
    struct want rep = {
        .path = "/hook/drift", .type = "drift.repaired", .key = "grantId", .count = 1};

    (void)state;
    subscribe(C.key, "/hook/drift", "[\"drift.detected\",\"drift.repaired\"]", id, secret);
    secrets_set(secret, NULL, "ok", NULL);
    post_grant(VM_APP, "administrator", "carol@contoso.example", grant);
    snprintf(p, sizeof(p), "/v1/loginGrants/%s", grant);
    g = h_wait_field(C.d.p.url, C.key, p, "state", "active", 30000);
    snprintf(name, sizeof(name), "%s", h_jstr(g, "assignmentName"));
    json_decref(g);
    snprintf(p, sizeof(p), "/_sim/roleAssignments/%s", name);
    json_decref(sc_sim(&C, "DELETE", p, NULL, 200));
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    snprintf(body, sizeof(body), "{\"expiresAt\":\"%s\"}", when);
    snprintf(p, sizeof(p), "/v1/loginGrants/%s", grant);
    json_decref(api(C.key, "PATCH", p, body, 200));
    det.value = rep.value = grant;
    wait_received(&det, 30000);
    wait_received(&rep, 30000);
}

struct attempted {
    const char *id, *msg;
    int64_t attempts;
};

/* The delivery failed at least a->attempts times without an HTTP answer. */
static bool attempted_unanswered(void *arg)
{
    const struct attempted *a = arg;
    json_t *d = delivery_of(a->id, a->msg);
    bool ok = d != NULL && json_integer_value(json_object_get(d, "attempts")) >= a->attempts &&
              json_is_null(json_object_get(d, "lastResponseStatus")) &&
              json_is_string(json_object_get(d, "lastError"));

    json_decref(d);
    return ok;
}

/* The receiver is down (nothing listens): attempts fail without an answer and are retried; once
 * it is back on the same port, both messages arrive, in order, verified. */
static void test_receiver_down_then_back(void **state)
{
    char id[64], secret[128], m1[96], m2[96], port[16];
    struct attempted a = {.attempts = 2};
    struct want w1 = {.path = "/hook/down", .type = "webhook.test", .count = 1};
    struct want w2 = {.path = "/hook/down", .type = "webhook.test", .count = 1};
    json_t *item1, *item2;

    (void)state;
    snprintf(port, sizeof(port), "%s", strrchr(R.url, ':') + 1);
    subscribe(C.key, "/hook/down", "[\"*\"]", id, secret);
    assert_int_equal(h_proc_stop(&R, 5000), 0);
    send_test(id, m1);
    send_test(id, m2);
    a.id = id;
    a.msg = m1;
    assert_true(h_poll(attempted_unanswered, &a, 20000));
    receiver_start(port);
    secrets_set(secret, NULL, "ok", NULL);
    w1.id = m1;
    w2.id = m2;
    wait_received(&w1, 20000);
    wait_received(&w2, 20000);
    item1 = last_matching(&w1);
    item2 = last_matching(&w2);
    assert_true(verified_by(item1, 0));
    assert_true(verified_by(item2, 0));
    assert_true(json_integer_value(json_object_get(item1, "at")) <=
                json_integer_value(json_object_get(item2, "at")));
    json_decref(item1);
    json_decref(item2);
}

/* A sweep asked for (an operation) and a login policy's standing sweep (none) both end in
 * sweep.completed with the report's counts; both are dry runs here, so nothing is removed. */
static void test_sweeps_completed(void **state)
{
    char id[64], secret[128], sweep[64];
    json_t *j, *item;
    struct want op = {
        .path = "/hook/sweeps", .type = "sweep.completed", .key = "sweepId", .count = 1};
    struct want pol = {
        .path = "/hook/sweeps", .type = "sweep.completed", .key = "scope", .count = 1};

    (void)state;
    subscribe(C.key, "/hook/sweeps", "[\"sweep.completed\"]", id, secret);
    secrets_set(secret, NULL, "ok", NULL);
    j = api(C.key, "POST", "/v1/loginGrants/sweeps", "{\"dryRun\":true}", 202);
    snprintf(sweep, sizeof(sweep), "%s", h_jstr(j, "id"));
    json_decref(j);
    op.value = sweep;
    wait_received(&op, 30000);
    item = last_matching(&op);
    assert_true(verified_by(item, 0));
    assert_true(json_is_object(json_object_get(json_object_get(item, "data"), "counts")));
    json_decref(item);
    json_decref(api(C.key, "PUT", "/v1/subscriptions/" SUB_DEV "/resourceGroups/rg-dev/loginPolicy",
                    "{\"authoritative\":true,\"dryRun\":true}", 200));
    pol.value = "/subscriptions/" SUB_DEV "/resourceGroups/rg-dev";
    wait_received(&pol, 30000);
}

/* The value of a metric line "name value" in the /metrics text, or -1. */
static double metric(const char *text, const char *name)
{
    char key[160];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(text, key);
    return p != NULL ? strtod(p + strlen(key), NULL) : -1;
}

/* /metrics counts what the tests above did: successes, failed attempts, refusals (the
 * loopback name), a disabled subscription, and the queue's gauges. The counters start at the
 * restart of the SIGKILL test; the refusal, down-receiver and disable tests run after it. */
static void test_metrics(void **state)
{
    char url[256];
    struct resp r;

    (void)state;
    snprintf(url, sizeof(url), "%s/metrics", C.d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_true(metric(r.body, "vmlogind_webhook_attempts_total{outcome=\"succeeded\"}") > 0);
    assert_true(metric(r.body, "vmlogind_webhook_attempts_total{outcome=\"failed\"}") > 0);
    assert_true(metric(r.body, "vmlogind_webhook_refused_total") > 0);
    assert_true(metric(r.body, "vmlogind_webhook_disabled_total") > 0);
    assert_true(metric(r.body, "vmlogind_webhook_queue_depth") >= 0);
    assert_true(metric(r.body, "vmlogind_webhook_oldest_pending_seconds") >= 0);
    h_resp_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_refused),
        cmocka_unit_test(test_grant_active_delivered),
        cmocka_unit_test(test_rotation_both_verify),
        cmocka_unit_test(test_retries_then_recovery),
        cmocka_unit_test(test_sigkill_redelivers),
        cmocka_unit_test(test_unlisted_name_to_loopback_refused),
        cmocka_unit_test(test_scope_limited_subscription),
        cmocka_unit_test(test_disabled_after_failures),
        cmocka_unit_test(test_grant_drift),
        cmocka_unit_test(test_receiver_down_then_back),
        cmocka_unit_test(test_sweeps_completed),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
