/* Optimistic concurrency against azsim: the login policy, a login grant and a scope's login
 * settings carry an ETag; a write with If-Match of a stale ETag is refused 412
 * precondition_failed (naming the header) and changes nothing; a malformed If-Match is 400
 * invalid_precondition; If-None-Match: * creates only what does not exist yet. Two clients that
 * read the same login policy and write it at the same moment with its ETag: exactly one wins,
 * the other gets 412 (several rounds, both requests released together). A grant's principal has
 * the one Principal shape (id, type). */
#include <pthread.h>

#include "test_sync_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define POLICY "/v1/subscriptions/" SUB "/resourceGroups/rg-dev/loginPolicy"
#define SETTINGS "/v1" RG "/virtualMachines/win-vm-02/entraLogin"
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"
#define ROUNDS 6

static struct sc C;

static int setup(void **state)
{
    (void)state;
    sc_start(&C, NULL, NULL, NULL);
    json_decref(sc_sync_now(&C));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sc_stop(&C);
    return 0;
}

/* One request with extra header lines (NULL-terminated, may be NULL); status into r. */
static long req(const char *method, const char *path, const char *body, const char *h1,
                struct resp *r)
{
    char u[1024];
    const char *h[] = {h_bearer(C.key), h1, NULL};

    snprintf(u, sizeof(u), "%s%s", C.d.p.url, path);
    return h_http(method, u, body, h, r);
}

/* GET path: 200 with an ETag, copied to etag. */
static void get_etag(const char *path, char *etag, size_t cap)
{
    struct resp r;

    assert_int_equal(req("GET", path, NULL, NULL, &r), 200);
    assert_true(h_resp_header(&r, "ETag", etag, cap));
    assert_int_equal(etag[0], '"');
    assert_true(strlen(etag) > 2 && etag[strlen(etag) - 1] == '"');
    h_resp_cleanup(&r);
}

/* A write with one precondition header expecting status want; a 412 or 400 must be a problem
 * with code and name the header in errors[0].field. The ETag of a 2xx goes to etag_out. */
static void write_expect(const char *method, const char *path, const char *body, const char *header,
                         const char *value, long want, const char *code, char *etag_out, size_t cap)
{
    char h[512];
    struct resp r;

    snprintf(h, sizeof(h), "%s: %s", header, value);
    assert_int_equal(req(method, path, body, h, &r), want);
    if (code != NULL) {
        assert_non_null(r.json);
        assert_string_equal(h_jstr(r.json, "code"), code);
        assert_string_equal(h_jstr(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                            header);
        assert_non_null(strstr(h_jstr(r.json, "detail"), header));
    }
    if (etag_out != NULL)
        assert_true(h_resp_header(&r, "ETag", etag_out, cap));
    h_resp_cleanup(&r);
}

/* ---- two writers at once ----------------------------------------------------------------- */

struct writer {
    const char *body;
    const char *if_match;
    long status;
    pthread_barrier_t *go;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    char h[160];
    struct resp r;

    snprintf(h, sizeof(h), "If-Match: %s", w->if_match);
    pthread_barrier_wait(w->go);
    w->status = req("PUT", POLICY, w->body, h, &r);
    h_resp_cleanup(&r);
    return NULL;
}

static void test_concurrent_policy_edits(void **state)
{
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        char etag[128], after[128];
        pthread_barrier_t go;
        pthread_t t[2];
        struct writer w[2];
        json_t *cur = h_api(C.d.p.url, C.key, "GET", POLICY, NULL, 200);
        bool auth = json_is_true(json_object_get(cur, "authoritative"));
        bool dry = json_is_true(json_object_get(cur, "dryRun"));
        char b0[64], b1[64];
        int ok = 0, refused = 0;

        json_decref(cur);
        get_etag(POLICY, etag, sizeof(etag));
        /* both bodies differ from the policy as it stands (neither is a no-op): from no policy,
         * two different policies; from a policy, its removal against a flip of dryRun */
        snprintf(b0, sizeof(b0), "{\"authoritative\":true,\"dryRun\":%s}",
                 auth ? (dry ? "false" : "true") : "true");
        snprintf(b1, sizeof(b1), "%s",
                 auth ? "{\"authoritative\":false}" : "{\"authoritative\":true,\"dryRun\":false}");
        pthread_barrier_init(&go, NULL, 2);
        w[0] = (struct writer){.body = b0, .if_match = etag, .go = &go};
        w[1] = (struct writer){.body = b1, .if_match = etag, .go = &go};
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < 2; i++) {
            ok += w[i].status == 200;
            refused += w[i].status == 412;
        }
        if (ok != 1 || refused != 1)
            fail_msg("round %d: statuses %ld and %ld, want one 200 and one 412", round, w[0].status,
                     w[1].status);
        get_etag(POLICY, after, sizeof(after));
        assert_string_not_equal(after, etag);
    }
}

/* ---- the login policy, one client ---------------------------------------------------------- */

static void test_policy_preconditions(void **state)
{
    char etag[128], put_etag[128], now[128];

    (void)state;
    get_etag(POLICY, etag, sizeof(etag));
    write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-Match", "\"nope\"", 412,
                 "precondition_failed", NULL, 0);
    write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-Match", "nope", 400,
                 "invalid_precondition", NULL, 0);
    write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-None-Match", "\"a\" \"b\"", 400,
                 "invalid_precondition", NULL, 0);
    /* a weak tag never matches (strong comparison) */
    {
        char weak[140];
        snprintf(weak, sizeof(weak), "W/%s", etag);
        write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-Match", weak, 412,
                     "precondition_failed", NULL, 0);
    }
    /* the 2xx answers with the new ETag, which is what GET shows */
    write_expect("PUT", POLICY, "{\"authoritative\":true,\"dryRun\":true}", "If-Match", etag, 200,
                 NULL, put_etag, sizeof(put_etag));
    get_etag(POLICY, now, sizeof(now));
    assert_string_equal(now, put_etag);
    assert_string_not_equal(now, etag);
    /* If-None-Match: * creates only: the policy exists now */
    write_expect("PUT", POLICY, "{\"authoritative\":true,\"dryRun\":false}", "If-None-Match", "*",
                 412, "precondition_failed", NULL, 0);
    /* the stale ETag is refused and changes nothing */
    write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-Match", etag, 412,
                 "precondition_failed", NULL, 0);
    get_etag(POLICY, now, sizeof(now));
    assert_string_equal(now, put_etag);
    /* a list naming the current tag matches; "*" matches an existing policy */
    {
        char list[300];
        snprintf(list, sizeof(list), "\"x\", W/%s ,%s", put_etag, put_etag);
        write_expect("PUT", POLICY, "{\"authoritative\":true,\"dryRun\":false}", "If-Match", list,
                     200, NULL, NULL, 0);
    }
    write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-Match", "*", 200, NULL, NULL, 0);
    /* no policy now: If-Match: * fails, If-None-Match: * creates */
    write_expect("PUT", POLICY, "{\"authoritative\":false}", "If-Match", "*", 412,
                 "precondition_failed", NULL, 0);
    write_expect("PUT", POLICY, "{\"authoritative\":true,\"dryRun\":true}", "If-None-Match", "*",
                 200, NULL, NULL, 0);
    json_decref(h_api(C.d.p.url, C.key, "PUT", POLICY, "{\"authoritative\":false}", 200));
}

/* ---- a login grant ------------------------------------------------------------------------- */

struct stable {
    const char *path;
    char etag[128];
};

/* GET path twice in a row with the same ETag: the reconciler has left it alone for now. */
static bool etag_settled(void *arg)
{
    struct stable *s = arg;
    char a[128], b[128];

    get_etag(s->path, a, sizeof(a));
    get_etag(s->path, b, sizeof(b));
    snprintf(s->etag, sizeof(s->etag), "%s", b);
    return strcmp(a, b) == 0;
}

static bool delete_with_current_etag(void *arg)
{
    struct stable *s = arg;
    char h[160];
    struct resp r;
    long st;

    get_etag(s->path, s->etag, sizeof(s->etag));
    snprintf(h, sizeof(h), "If-Match: %s", s->etag);
    st = req("DELETE", s->path, NULL, h, &r);
    h_resp_cleanup(&r);
    assert_true(st == 202 || st == 412); /* 412 only if the reconciler moved it in between */
    return st == 202;
}

static void test_grant_preconditions(void **state)
{
    char path[128], body[80], at[40], fresh[128];
    struct stable s = {.path = path};
    json_t *g, *got;

    (void)state;
    g = h_api(C.d.p.url, C.key, "POST", "/v1/loginGrants",
              "{\"scope\":\"" RG "/providers/Microsoft.Compute/virtualMachines/win-vm-01\","
              "\"role\":\"user\",\"principal\":{\"upn\":\"bob@contoso.example\"}}",
              202);
    snprintf(path, sizeof(path), "/v1/loginGrants/%s", h_jstr(g, "id"));
    json_decref(g);
    json_decref(h_wait_field(C.d.p.url, C.key, path, "state", "active", 30000));
    assert_true(h_poll(etag_settled, &s, 20000));
    clock_fmt_rfc3339(clock_now_ms() + 3600 * 1000, at, sizeof(at));
    snprintf(body, sizeof(body), "{\"expiresAt\":\"%s\"}", at);
    write_expect("PATCH", path, body, "If-Match", "\"0000\"", 412, "precondition_failed", NULL, 0);
    write_expect("PATCH", path, body, "If-Match", "\"unterminated", 400, "invalid_precondition",
                 NULL, 0);
    write_expect("PATCH", path, body, "If-Match", s.etag, 200, NULL, fresh, sizeof(fresh));
    assert_string_not_equal(fresh, s.etag);
    /* the ETag the PATCH read is stale now: PATCH and DELETE with it are refused */
    clock_fmt_rfc3339(clock_now_ms() + 2 * 3600 * 1000, at, sizeof(at));
    snprintf(body, sizeof(body), "{\"expiresAt\":\"%s\"}", at);
    write_expect("PATCH", path, body, "If-Match", s.etag, 412, "precondition_failed", NULL, 0);
    write_expect("DELETE", path, NULL, "If-Match", s.etag, 412, "precondition_failed", NULL, 0);
    got = h_api(C.d.p.url, C.key, "GET", path, NULL, 200);
    assert_string_equal(h_jstr(got, "state"), "active");
    /* the one Principal shape: id and type (objectId, the same as id, kept for /v1) */
    {
        json_t *p = json_object_get(got, "principal");
        assert_string_equal(h_jstr(p, "type"), "user");
        assert_string_equal(h_jstr(p, "id"), BOB);
        assert_string_equal(h_jstr(p, "objectId"), BOB);
    }
    json_decref(got);
    /* with the current one it goes */
    assert_true(h_poll(delete_with_current_etag, &s, 20000));
    got = h_api(C.d.p.url, C.key, "GET", path, NULL, 200);
    assert_string_not_equal(h_jstr(got, "state"), "active");
    json_decref(got);
}

/* ---- a scope's login settings ------------------------------------------------------------ */

static void test_settings_preconditions(void **state)
{
    char none[128], created[128], now[128];

    (void)state;
    get_etag(SETTINGS, none, sizeof(none)); /* no settings at this VM yet */
    write_expect("PUT", SETTINGS, "{}", "If-Match", "*", 412, "precondition_failed", NULL, 0);
    write_expect("PUT", SETTINGS, "{}", "If-None-Match", "*", 202, NULL, created, sizeof(created));
    assert_string_not_equal(created, none);
    get_etag(SETTINGS, now, sizeof(now));
    assert_string_equal(now, created);
    /* they exist now: a second create is refused, and so is a write with the first ETag */
    write_expect("PUT", SETTINGS, "{}", "If-None-Match", "*", 412, "precondition_failed", NULL, 0);
    write_expect("DELETE", SETTINGS, NULL, "If-Match", none, 412, "precondition_failed", NULL, 0);
    write_expect("PUT", SETTINGS, "{\"mode\":\"audit\"}", "If-Match", none, 412,
                 "precondition_failed", NULL, 0);
    get_etag(SETTINGS, now, sizeof(now));
    assert_string_equal(now, created);
    write_expect("DELETE", SETTINGS, NULL, "If-Match", created, 202, NULL, now, sizeof(now));
    assert_string_not_equal(now, created);
    write_expect("PUT", SETTINGS, "{}", "If-Match", created, 412, "precondition_failed", NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_preconditions),
        cmocka_unit_test(test_concurrent_policy_edits),
        cmocka_unit_test(test_grant_preconditions),
        cmocka_unit_test(test_settings_preconditions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
