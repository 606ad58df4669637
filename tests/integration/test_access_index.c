/* test_access_index.c: GET /v1{vm}/access answered from the in-memory access index (as its
 * X-Vmlogind-Access-Path header and vmlogind_access_answers_total{path="index"} show) gives,
 * byte for byte, what the store path gives (VMLOGIND_ACCESS_INDEX=off, which answers "store"
 * every time) for every VM of the demo fleet (nested groups, RG and subscription inheritance,
 * administrator over user, external and vmlogind sources, grants that expire); a grant is
 * visible in the next request after it is active, and gone in the next request after it is
 * revoked; and the index catches up with both by itself: the index answers with them. */
#include "test_sync_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define VM_ACCESS "/v1" RG "/virtualMachines/ubuntu-web-01/access"
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"
#define MAX_VMS 64

static struct sc C;

/* GET path: its status, body (new string) and, when via is given, which path answered (the
 * X-Vmlogind-Access-Path header, "" when absent). */
static long get_via(const char *path, char **body, char via[16])
{
    char u[1024];
    struct resp r;
    const char *h[] = {h_bearer(C.key), NULL};
    long got;

    assert_true(snprintf(u, sizeof(u), "%s%s", C.d.p.url, path) < (int)sizeof(u));
    got = h_http("GET", u, NULL, h, &r);
    *body = r.body != NULL ? strdup(r.body) : NULL;
    if (via != NULL && !h_resp_header(&r, "X-Vmlogind-Access-Path", via, 16))
        via[0] = '\0';
    h_resp_cleanup(&r);
    return got;
}

/* vmlogind_access_answers_total{path="<path>"} from /metrics. */
static long answers(const char *path)
{
    char u[512], line[128], *at;
    struct resp r;
    long n = -1;

    snprintf(u, sizeof(u), "%s/metrics", C.d.p.url);
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 200);
    snprintf(line, sizeof(line), "vmlogind_access_answers_total{path=\"%s\"} ", path);
    at = r.body != NULL ? strstr(r.body, line) : NULL;
    assert_non_null(at);
    n = strtol(at + strlen(line), NULL, 10);
    h_resp_cleanup(&r);
    return n;
}

/* The VM_ACCESS answer came from the index. */
static bool index_answers(void *arg)
{
    char via[16], *body = NULL;

    (void)arg;
    assert_int_equal(get_via(VM_ACCESS, &body, via), 200);
    free(body);
    return strcmp(via, "index") == 0;
}

static json_t *call(const char *method, const char *path, const char *body, long want)
{
    return h_api(C.d.p.url, C.key, method, path, body, want);
}

static const char *jstr(const json_t *o, const char *k)
{
    return h_jstr(o, k);
}

/* Bob's entry in VM_ACCESS now (a new reference), or NULL. */
static json_t *bob_entry(void)
{
    json_t *acc = call("GET", VM_ACCESS, NULL, 200), *v, *found = NULL;
    size_t i;

    json_array_foreach(json_object_get(acc, "value"), i, v)
    {
        if (strcmp(jstr(json_object_get(v, "principal"), "id"), BOB) == 0)
            found = json_incref(v);
    }
    json_decref(acc);
    return found;
}

/* Every demo VM's access answer (the VMs of the demo scenario), each answered by the path via;
 * returns the count. */
static size_t all_access(char *paths[MAX_VMS], char *bodies[MAX_VMS], const char *via)
{
    json_error_t err;
    json_t *demo = json_load_file(H_DEMO_SCENARIO, 0, &err), *v;
    size_t i, n = 0;

    assert_non_null(demo);
    json_array_foreach(json_object_get(demo, "vms"), i, v)
    {
        char p[1024];
        if (n == MAX_VMS)
            break;
        snprintf(p, sizeof(p), "/v1/subscriptions/%s/resourceGroups/%s/virtualMachines/%s/access",
                 jstr(v, "subscriptionId"), jstr(v, "resourceGroup"), jstr(v, "name"));
        char got[16];
        paths[n] = strdup(p);
        assert_int_equal(get_via(p, &bodies[n], got), 200);
        assert_string_equal(got, via);
        n++;
    }
    json_decref(demo);
    return n;
}

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

/* Grants bob administrator on RG and waits for it to be active; its id into id. */
static void grant_bob(char id[64])
{
    json_t *g = call("POST", "/v1/loginGrants",
                     "{\"scope\":\"" RG "\",\"role\":\"administrator\","
                     "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                     202);

    snprintf(id, 64, "%s", jstr(g, "id"));
    json_decref(g);
    json_decref(sc_wait_grant(&C, id, "active"));
}

/* Revokes grant id and waits for it to be revoked. */
static void revoke_grant(const char *id)
{
    char p[128];

    snprintf(p, sizeof(p), "/v1/loginGrants/%s", id);
    json_decref(call("DELETE", p, NULL, 202));
    json_decref(sc_wait_grant(&C, id, "revoked"));
}

/* Bob's entry has grant id (has) or not (!has). */
static void check_bob(const char *id, bool has)
{
    json_t *e = bob_entry();

    if (has) {
        assert_non_null(e);
        assert_string_equal(jstr(e, "role"), "administrator");
        assert_string_equal(jstr(e, "source"), "vmlogind");
        assert_string_equal(jstr(e, "grantId"), id);
    } else {
        assert_true(e == NULL || strcmp(jstr(e, "grantId"), id) != 0);
    }
    json_decref(e);
}

static void test_fresh_after_grant_and_revoke(void **state)
{
    char id[64];

    (void)state;
    json_decref(bob_entry()); /* the index is built for the synced state */
    grant_bob(id);
    check_bob(id, true);
    revoke_grant(id);
    check_bob(id, false);
}

/* What index_shows waits for: bob's entry with grant id there (has) or not (!has). */
struct want {
    const char *id;
    bool has;
};

/* The index answered VM_ACCESS, and its answer shows what *arg wants. */
static bool index_shows(void *arg)
{
    const struct want *want = arg;
    char via[16], *body = NULL;
    json_t *acc, *v;
    bool has = false;
    size_t i;

    assert_int_equal(get_via(VM_ACCESS, &body, via), 200);
    acc = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(acc);
    json_array_foreach(json_object_get(acc, "value"), i, v)
    {
        const char *g = jstr(v, "grantId");
        if (strcmp(jstr(json_object_get(v, "principal"), "id"), BOB) == 0 && g != NULL &&
            strcmp(g, want->id) == 0)
            has = true;
    }
    json_decref(acc);
    return strcmp(via, "index") == 0 && has == want->has;
}

/* The builder thread catches up with a change without holding up a request: a grant made
 * after an index was built is in the index's answer once a newer index has been built, and a
 * revoked one is gone from it. */
static void test_index_catches_up(void **state)
{
    char id[64];
    struct want want = {.id = id, .has = false};

    (void)state;
    id[0] = '\0';
    assert_true(h_poll(index_answers, NULL, 30000));
    grant_bob(id);
    want.has = true;
    assert_true(h_poll(index_shows, &want, 30000));
    check_bob(id, true);
    revoke_grant(id);
    want.has = false;
    assert_true(h_poll(index_shows, &want, 30000));
    check_bob(id, false);
}

/* Every answer of the index (its header says so, and its counter counts each) equals the store
 * path's of a daemon that never builds one. */
static void test_index_matches_sql(void **state)
{
    char *paths[MAX_VMS], *paths2[MAX_VMS], *on[MAX_VMS], *off[MAX_VMS];
    char *const env_off[] = {"VMLOGIND_ACCESS_INDEX=off", NULL};
    long index0, store0;
    size_t n, n2;

    (void)state;
    assert_true(h_poll(index_answers, NULL, 30000));
    index0 = answers("index");
    store0 = answers("store");
    n = all_access(paths, on, "index");
    assert_true(n >= 4);
    assert_int_equal(answers("index"), index0 + (long)n);
    assert_int_equal(answers("store"), store0);

    assert_int_equal(h_daemon_stop(&C.d), 0);
    assert_true(h_daemon_restart(&C.d, env_off));
    n2 = all_access(paths2, off, "store");
    assert_int_equal(n2, n);
    assert_int_equal(answers("index"), 0);
    assert_int_equal(answers("store"), (long)n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(on[i], off[i]) != 0)
            fail_msg("%s differs:\nindex: %s\nsql:   %s", paths[i], on[i], off[i]);
        free(on[i]);
        free(off[i]);
        free(paths[i]);
        free(paths2[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_after_grant_and_revoke),
        cmocka_unit_test(test_index_catches_up),
        cmocka_unit_test(test_index_matches_sql),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
