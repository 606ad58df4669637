/* test_grants_api.c: the grant API's edges against azsim: who may grant what (operators user
 * login only, readers nothing, scope limits, grant limits), list filters and cursor paging,
 * malformed requests answered 4xx naming the field, a principal that never appears failed
 * with its cause once principal_not_found_timeout_s passes, a grant whose daemon is killed
 * right after accepting it converges after the restart (once the dead worker's lease lapses),
 * and /principals/{p}/access paging. */
#include "test_sync_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define SUB_DEV "7a1e9c44-0000-4000-8000-00000000cccc"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define RG_DEV "/subscriptions/" SUB_DEV "/resourceGroups/rg-dev"
#define VM_PATH(n) RG "/providers/Microsoft.Compute/virtualMachines/" n
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"

static struct sc C;
static char operator_key[128], reader_key[128], dev_key[128], groups_key[128];

static json_t *call(const char *key, const char *method, const char *path, const char *body,
                    long want)
{
    return h_api(C.d.p.url, key, method, path, body, want);
}

static const char *jstr(const json_t *o, const char *k)
{
    return h_jstr(o, k);
}

static void expect_code(const char *key, const char *body, long status, const char *code)
{
    json_t *p = call(key, "POST", "/v1/loginGrants", body, status);
    assert_string_equal(jstr(p, "code"), code);
    json_decref(p);
}

static int setup(void **state)
{
    const char *groups_only[] = {
        "keys",  "create", "--name", "groups", "--role", "administrator", "--grant-principal-types",
        "group", NULL};
    const char *dev_scope[] = {RG_DEV, NULL};
    char *out = NULL;
    const char *p;

    (void)state;
    sc_start(&C, NULL, NULL, "principal_not_found_timeout_s = 2\ntask_lease_s = 5\n");
    json_decref(sc_sync_now(&C));
    h_daemon_key(&C.d, "operator", NULL, operator_key, sizeof(operator_key));
    h_daemon_key(&C.d, "reader", NULL, reader_key, sizeof(reader_key));
    h_daemon_key(&C.d, "operator", dev_scope, dev_key, sizeof(dev_key));
    assert_int_equal(h_daemon_run(&C.d, groups_only, &out), 0);
    p = strstr(out, "vlk_");
    assert_non_null(p);
    snprintf(groups_key, sizeof(groups_key), "%.*s", (int)strcspn(p, " \r\n\t\""), p);
    free(out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sc_stop(&C);
    return 0;
}

static void test_delegation(void **state)
{
    json_t *g, *list;
    size_t i;
    json_t *v;

    (void)state;
    /* operators may grant user login only */
    expect_code(operator_key,
                "{\"scope\":\"" RG "\",\"role\":\"administrator\","
                "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                403, "grant_role_forbidden");
    g = call(operator_key, "POST", "/v1/loginGrants",
             "{\"scope\":\"" RG "\",\"role\":\"user\","
             "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
             202);
    /* the same rules hold for moving its expiry: the operator may, a reader may not */
    {
        char path[128], body[80], at[40];

        snprintf(path, sizeof(path), "/v1/loginGrants/%s", jstr(g, "id"));
        clock_fmt_rfc3339(clock_now_ms() + 3600 * 1000, at, sizeof(at));
        snprintf(body, sizeof(body), "{\"expiresAt\":\"%s\"}", at);
        json_decref(call(reader_key, "PATCH", path, body, 403));
        json_decref(call(dev_key, "PATCH", path, body, 403));
        json_decref(call(operator_key, "PATCH", path, body, 200));
    }
    json_decref(g);
    /* readers may not grant at all */
    json_decref(call(reader_key, "POST", "/v1/loginGrants",
                     "{\"scope\":\"" RG "\",\"role\":\"user\","
                     "\"principal\":{\"upn\":\"carol@contoso.example\"}}",
                     403));
    /* a key limited to rg-dev grants there and nowhere else */
    expect_code(dev_key,
                "{\"scope\":\"" RG "\",\"role\":\"user\","
                "\"principal\":{\"upn\":\"carol@contoso.example\"}}",
                403, "scope_forbidden");
    json_decref(call(dev_key, "POST", "/v1/loginGrants",
                     "{\"scope\":\"" RG_DEV "/virtualMachines/dev-ws2022-01\",\"role\":\"user\","
                     "\"principal\":{\"upn\":\"carol@contoso.example\"}}",
                     202));
    list = call(dev_key, "GET", "/v1/loginGrants", NULL, 200);
    assert_true(json_array_size(json_object_get(list, "value")) >= 1);
    json_array_foreach(json_object_get(list, "value"), i, v)
    {
        assert_non_null(strstr(jstr(v, "scope"), "/resourceGroups/rg-dev"));
    }
    json_decref(list);
    /* grant limits: this administrator key may grant to groups only */
    expect_code(groups_key,
                "{\"scope\":\"" RG "\",\"role\":\"user\","
                "\"principal\":{\"upn\":\"carol@contoso.example\"}}",
                403, "principal_type_forbidden");
}

static void test_malformed_requests(void **state)
{
    json_t *p;

    (void)state;
    p = call(C.key, "POST", "/v1/loginGrants",
             "{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":{\"upn\":\"a@b\"},"
             "\"extra\":1}",
             400);
    assert_string_equal(jstr(json_array_get(json_object_get(p, "errors"), 0), "field"), "extra");
    json_decref(p);
    json_decref(
        call(C.key, "POST", "/v1/loginGrants", "{\"scope\":\"" RG "\",\"scope\":\"" RG "\"}", 400));
    json_decref(call(C.key, "POST", "/v1/loginGrants", "{\"scope\":", 400));
    json_decref(call(C.key, "POST", "/v1/loginGrants",
                     "{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":"
                     "{\"objectId\":\"6b7c8d9e-0000-4000-8000-00000000ffff\"}}",
                     400)); /* type needed for an id the sync has not seen */
    json_decref(call(C.key, "GET", "/v1/loginGrants/not-a-grant", NULL, 404));
    json_decref(
        call(C.key, "DELETE", "/v1/loginGrants/6b7c8d9e-0000-4000-8000-000000000000", NULL, 404));
    json_decref(call(C.key, "GET", "/v1/loginGrants?state=sleeping", NULL, 400));
    json_decref(call(C.key, "GET", "/v1/loginGrants?limit=0", NULL, 400));
    json_decref(call(C.key, "GET", "/v1/loginGrants?scope=/tenants/x", NULL, 400));
    json_decref(call(C.key, "POST", "/v1/loginGrants/sweeps", "{\"dryRun\":\"yes\"}", 400));
    json_decref(call(C.key, "PUT", "/v1/subscriptions/" SUB "/loginPolicy", "{}", 400));
}

static void test_list_filters_and_paging(void **state)
{
    json_t *g, *page;
    char next[1024] = "/v1/loginGrants?limit=1&principal=bob@contoso.example";
    size_t seen = 0;
    int pages = 0;

    (void)state;
    g = call(
        C.key, "POST", "/v1/loginGrants",
        "{\"scope\":\"" VM_PATH("win-vm-01") "\",\"role\":\"administrator\","
                                             "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
        202);
    json_decref(sc_wait_grant(&C, jstr(g, "id"), "active"));
    json_decref(g);
    /* bob holds two grants now (the operator's at the RG and this one): one per page */
    while (next[0] != '\0' && pages < 10) {
        size_t i;
        json_t *v;
        page = call(C.key, "GET", next, NULL, 200);
        json_array_foreach(json_object_get(page, "value"), i, v)
        {
            assert_string_equal(jstr(json_object_get(v, "principal"), "objectId"), BOB);
            seen++;
        }
        snprintf(next, sizeof(next), "%s", jstr(page, "nextLink"));
        json_decref(page);
        pages++;
    }
    assert_int_equal(seen, 2);
    assert_true(pages >= 2);
    page = call(C.key, "GET", "/v1/loginGrants?state=active&scope=" RG "/virtualMachines/win-vm-01",
                NULL, 200);
    assert_int_equal(json_array_size(json_object_get(page, "value")), 1);
    json_decref(page);
}

/* A change right behind the grant races the reconciler, which moves the grant on (pending to
 * active) at the same time: the caller's change still lands, never a spurious 409. */
static void test_change_while_reconciling(void **state)
{
    static const char *const users[] = {"alice", "bob", "carol"};
    static const char *const vms[] = {"ws2022-app-01", "win11-desk-01", "ws2019-stopped"};
    char body[256], path[128], at[40];
    (void)state;

    for (int i = 0; i < 9; i++) {
        json_t *g, *changed;

        snprintf(body, sizeof(body),
                 "{\"scope\":\"" RG "/providers/Microsoft.Compute/virtualMachines/%s\","
                 "\"role\":\"user\",\"principal\":{\"upn\":\"%s@contoso.example\"}}",
                 vms[i / 3], users[i % 3]);
        g = call(C.key, "POST", "/v1/loginGrants", body, 202);
        snprintf(path, sizeof(path), "/v1/loginGrants/%s", jstr(g, "id"));
        json_decref(g);
        clock_fmt_rfc3339(clock_now_ms() + (int64_t)(i + 2) * 3600 * 1000, at, sizeof(at));
        snprintf(body, sizeof(body), "{\"expiresAt\":\"%s\"}", at);
        changed = call(C.key, "PATCH", path, body, 200);
        assert_string_equal(jstr(changed, "expiresAt"), at);
        json_decref(changed);
        if (i % 3 == 2) /* and a revoke right behind */
            json_decref(call(C.key, "DELETE", path, NULL, 202));
    }
}

static void test_principal_never_appears(void **state)
{
    json_t *g;
    char id[64];

    (void)state;
    g = call(C.key, "POST", "/v1/loginGrants",
             "{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":"
             "{\"objectId\":\"6b7c8d9e-0000-4000-8000-00000000dead\",\"type\":\"user\"}}",
             202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    json_decref(g);
    g = sc_wait_grant(&C, id, "failed");
    assert_string_equal(jstr(json_object_get(g, "error"), "code"), "principal_not_found");
    json_decref(g);
}

static void test_converges_after_kill(void **state)
{
    json_t *g, *ras;
    char id[64];

    (void)state;
    g = call(
        C.key, "POST", "/v1/loginGrants",
        "{\"scope\":\"" VM_PATH("ws2022-uaonly") "\",\"role\":\"user\","
                                                 "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
        202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    json_decref(g);
    h_proc_kill(&C.d.p);
    assert_true(h_daemon_restart(&C.d, NULL));
    json_decref(sc_wait_grant(&C, id, "active"));
    ras = sc_sim(&C, "GET",
                 "/_sim/roleAssignments?scope=" VM_PATH("ws2022-uaonly") "&principalId=" BOB, NULL,
                 200);
    assert_int_equal(json_array_size(json_object_get(ras, "value")), 1);
    json_decref(ras);
}

static void test_principal_access_paging(void **state)
{
    char next[1024] = "/v1/principals/bob@contoso.example/access?limit=3";
    char seen[64][200];
    size_t n = 0;
    int pages = 0;

    (void)state;
    /* bob: user login at rg-entra (the operator's grant, and the demo's VM Users group) */
    while (next[0] != '\0' && pages < 40) {
        size_t i;
        json_t *v;
        json_t *page = call(C.key, "GET", next, NULL, 200);
        assert_string_equal(jstr(json_object_get(page, "principal"), "id"), BOB);
        json_array_foreach(json_object_get(page, "value"), i, v)
        {
            const char *vm = jstr(json_object_get(v, "vm"), "id");
            for (size_t k = 0; k < n; k++)
                assert_true(strcasecmp(seen[k], vm) != 0); /* no VM twice across pages */
            assert_true(n < 64);
            snprintf(seen[n++], sizeof(seen[0]), "%s", vm);
            if (strcasecmp(vm, VM_PATH("win-vm-01")) == 0)
                assert_string_equal(jstr(v, "role"), "administrator");
        }
        snprintf(next, sizeof(next), "%s", jstr(page, "nextLink"));
        json_decref(page);
        pages++;
    }
    assert_true(n >= 10); /* every VM of rg-entra */
    assert_true(pages >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delegation),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_list_filters_and_paging),
        cmocka_unit_test(test_change_while_reconciling),
        cmocka_unit_test(test_principal_never_appears),
        cmocka_unit_test(test_converges_after_kill),
        cmocka_unit_test(test_principal_access_paging),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
