/* Inventory sync against azsim's demo tenant: GET /v1/virtualMachines lists exactly the VMs
 * azsim holds (also across pages of 2), a re-sync with no change writes no observed row, a
 * VM deleted in azsim is gone after the next sync, single VM reads, and bad query parameters
 * answer 400 naming the field. */
#include "test_sync_common.h"

static void test_demo_sync_exact(void **state)
{
    const char *const args[] = {"--page-size", "2", NULL};
    struct sc c;
    char **api = NULL;
    size_t n_api;
    size_t n_sim;
    int pages = 0;
    json_t *run;
    json_t *j;
    char u[1024];
    (void)state;

    sc_start(&c, NULL, args, NULL);
    run = sc_sync_now(&c);
    n_sim = sc_assert_vms_match_sim(&c); /* exactly azsim's VMs, each looked up */
    assert_true(n_sim > 0);
    assert_int_equal(sc_count(run, "vms", "seen"), (int64_t)n_sim);
    assert_int_equal(sc_count(run, "errors", NULL), 0);
    /* (the daemon synced once at start already, so this run may have found nothing new) */
    json_decref(run);

    /* pages of 3 across the whole fleet give every VM once */
    n_api = sc_api_vm_ids(&c, "?limit=3", &api, &pages);
    assert_int_equal(n_api, n_sim);
    assert_true(pages >= (int)(n_sim + 2) / 3);
    for (size_t i = 1; i < n_api; i++)
        assert_true(strcasecmp(api[i - 1], api[i]) < 0);

    /* every VM listed reads back one by one, ids case-insensitive */
    for (size_t i = 0; i < n_api; i++) {
        char sub[64], rg[128], name[128];
        char *upper = strdup(api[i]);

        assert_int_equal(sscanf(api[i],
                                "/subscriptions/%63[^/]/resourceGroups/%127[^/]/providers/"
                                "Microsoft.Compute/virtualMachines/%127s",
                                sub, rg, name),
                         3);
        for (char *p = rg; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        snprintf(u, sizeof(u), "%s/v1/subscriptions/%s/resourceGroups/%s/virtualMachines/%s",
                 c.d.p.url, sub, rg, name);
        j = sc_get_json(u, c.key, 200);
        assert_true(strcasecmp(json_string_value(json_object_get(j, "id")), api[i]) == 0);
        assert_non_null(json_object_get(j, "osSupport"));
        assert_non_null(json_string_value(json_object_get(j, "loginState")));
        assert_true(json_is_array(json_object_get(j, "extensions")));
        json_decref(j);
        free(upper);
    }

    /* a re-sync with no change writes no observed row */
    run = sc_sync_now(&c);
    assert_int_equal(sc_count(run, "vms", "seen"), (int64_t)n_sim);
    assert_int_equal(sc_count(run, "rowsWritten", NULL), 0);
    assert_int_equal(sc_count(run, "vms", "changed"), 0);
    assert_int_equal(sc_count(run, "assignments", "changed"), 0);
    assert_int_equal(sc_count(run, "principals", "changed"), 0);
    json_decref(run);

    /* a VM deleted in azsim is gone after the next sync */
    {
        struct resp r;
        char *victim = strdup(api[0]);
        char **after = NULL;
        size_t n_after;

        snprintf(u, sizeof(u), "%s/_sim/vms?id=%s", c.s.p.url, victim);
        assert_int_equal(h_http("DELETE", u, NULL, NULL, &r), 200);
        h_resp_cleanup(&r);
        run = sc_sync_now(&c);
        assert_int_equal(sc_count(run, "vms", "gone"), 1);
        assert_int_equal(sc_count(run, "vms", "seen"), (int64_t)n_sim - 1);
        json_decref(run);
        n_after = sc_api_vm_ids(&c, "?limit=1000", &after, &pages);
        assert_int_equal(n_after, n_sim - 1);
        assert_int_equal(pages, 1);
        for (size_t i = 0; i < n_after; i++)
            assert_true(strcasecmp(after[i], victim) != 0);
        sc_free_ids(after, n_after);
        free(victim);
    }

    /* subscriptions */
    snprintf(u, sizeof(u), "%s/v1/subscriptions", c.d.p.url);
    j = sc_get_json(u, c.key, 200);
    assert_int_equal(json_array_size(json_object_get(j, "value")), 2);
    json_decref(j);

    sc_free_ids(api, n_api);
    sc_stop(&c);
}

static const char *path_str(json_t *j, const char *path)
{
    json_t *cur = j;
    char key[64];

    while (cur != NULL && *path) {
        size_t n = strcspn(path, ".");

        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return json_string_value(cur);
}

static void same_fact(const char *vm, const char *what, const char *want, json_t *got)
{
    const char *g = json_string_value(got);

    if ((want == NULL) != (g == NULL) || (want != NULL && strcmp(want, g) != 0))
        fail_msg("%s: %s is '%s' in azsim, '%s' in vmlogind", vm, what, want ? want : "(null)",
                 g ? g : "(null)");
}

/* The status azsim gives as the first instance-view status of extension name. */
static const char *iv_ext_status(json_t *vm, const char *name)
{
    json_t *exts = json_object_get(
        json_object_get(json_object_get(vm, "properties"), "instanceView"), "extensions");
    size_t i;
    json_t *e;

    json_array_foreach(exts, i, e)
    {
        if (strcasecmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return path_str(json_array_get(json_object_get(e, "statuses"), 0), "code");
    }
    return NULL;
}

/* Every fact of every VM, as azsim holds it (model and instance view), is in vmlogind after a
 * sync that reads only Azure's documented shapes: the model from the plain list, the status
 * from statusOnly=true, joined by id. */
static void test_sync_keeps_every_fact(void **state)
{
    struct sc c;
    char **ids = NULL;
    int pages = 0;
    size_t n;
    json_t *run;
    char u[1024];
    (void)state;

    sc_start(&c, NULL, NULL, NULL);
    /* a deallocated VM reports no extension in its instance view: its extensions are listed */
    json_decref(sc_sim(&c, "POST", "/_sim/vms",
                       "{\"subscriptionId\":\"5d0f6e8a-0000-4000-8000-00000000bbbb\","
                       "\"resourceGroup\":\"rg-entra\",\"name\":\"ws2022-off-ext\","
                       "\"location\":\"westeurope\",\"powerState\":\"deallocated\","
                       "\"extensions\":[{\"name\":\"AADLoginForWindows\",\"publisher\":"
                       "\"Microsoft.Azure.ActiveDirectory\",\"type\":\"AADLoginForWindows\","
                       "\"typeHandlerVersion\":\"1.0\",\"provisioningState\":\"Succeeded\"}]}",
                       201));
    run = sc_sync_now(&c);
    assert_int_equal(sc_count(run, "errors", NULL), 0);
    json_decref(run);
    n = sc_api_vm_ids(&c, "?limit=1000", &ids, &pages);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        json_t *sim, *vm, *got, *exts, *e;
        const char *power;
        size_t k;

        snprintf(u, sizeof(u), "/_sim/lookup?id=%s", ids[i]);
        sim = sc_sim(&c, "GET", u, NULL, 200);
        vm = json_object_get(sim, "object");
        power = path_str(vm, "powerState");
        {
            char sub[64], rg[128], name[128];

            assert_int_equal(sscanf(ids[i],
                                    "/subscriptions/%63[^/]/resourceGroups/%127[^/]/providers/"
                                    "Microsoft.Compute/virtualMachines/%127s",
                                    sub, rg, name),
                             3);
            snprintf(u, sizeof(u), "%s/v1/subscriptions/%s/resourceGroups/%s/virtualMachines/%s",
                     c.d.p.url, sub, rg, name);
        }
        got = sc_get_json(u, c.key, 200);
        same_fact(ids[i], "vmId", path_str(vm, "properties.vmId"), json_object_get(got, "vmId"));
        same_fact(ids[i], "computerName", path_str(vm, "properties.osProfile.computerName"),
                  json_object_get(got, "computerName"));
        same_fact(ids[i], "osType", path_str(vm, "properties.storageProfile.osDisk.osType"),
                  json_object_get(got, "osType"));
        same_fact(ids[i], "osName", path_str(vm, "properties.instanceView.osName"),
                  json_object_get(got, "osName"));
        same_fact(ids[i], "osVersion", path_str(vm, "properties.instanceView.osVersion"),
                  json_object_get(got, "osVersion"));
        same_fact(ids[i], "powerState", power, json_object_get(got, "powerState"));
        same_fact(ids[i], "provisioningState", path_str(vm, "properties.provisioningState"),
                  json_object_get(got, "provisioningState"));
        same_fact(ids[i], "image sku", path_str(vm, "properties.storageProfile.imageReference.sku"),
                  json_object_get(json_object_get(got, "image"), "sku"));
        same_fact(ids[i], "image version",
                  path_str(vm, "properties.storageProfile.imageReference.exactVersion"),
                  json_object_get(json_object_get(got, "image"), "version"));
        same_fact(ids[i], "identity type", path_str(vm, "identity.type"),
                  json_object_get(json_object_get(got, "identity"), "type"));
        same_fact(ids[i], "identity principalId", path_str(vm, "identity.principalId"),
                  json_object_get(json_object_get(got, "identity"), "principalId"));
        assert_true(json_equal(json_object_get(vm, "tags"), json_object_get(got, "tags")));
        exts = json_object_get(vm, "resources");
        assert_int_equal(json_array_size(exts),
                         json_array_size(json_object_get(got, "extensions")));
        json_array_foreach(exts, k, e)
        {
            const char *name = json_string_value(json_object_get(e, "name"));
            json_t *mine = NULL;
            size_t m;
            json_t *x;

            json_array_foreach(json_object_get(got, "extensions"), m, x)
            {
                if (strcasecmp(json_string_value(json_object_get(x, "name")), name) == 0)
                    mine = x;
            }
            assert_non_null(mine);
            same_fact(ids[i], "extension provisioningState",
                      path_str(e, "properties.provisioningState"),
                      json_object_get(mine, "provisioningState"));
            same_fact(ids[i], "extension typeHandlerVersion",
                      path_str(e, "properties.typeHandlerVersion"),
                      json_object_get(mine, "typeHandlerVersion"));
            if (iv_ext_status(vm, name) != NULL)
                same_fact(ids[i], "extension status", iv_ext_status(vm, name),
                          json_object_get(json_object_get(mine, "status"), "code"));
            else /* not running: listed on its own, with its status */
                assert_non_null(json_object_get(json_object_get(mine, "status"), "code"));
        }
        json_decref(got);
        json_decref(sim);
    }
    sc_free_ids(ids, n);
    sc_stop(&c);
}

static void test_bad_queries(void **state)
{
    static const struct {
        const char *query;
        const char *field;
    } bad[] = {
        {"?limit=0", "limit"},
        {"?limit=1001", "limit"},
        {"?limit=abc", "limit"},
        {"?limit=-5", "limit"},
        {"?supported=yes", "supported"},
        {"?loginState=sideways", "loginState"},
        {"?cursor=not-a-cursor", "cursor"},
        {"?cursor=djE6L2V0Yy9wYXNzd2Q", "cursor"},
        {"?subscription=not/a/guid", "subscription"},
        {"?resourceGroup=rg1", "resourceGroup"},
        {"?tag=", "tag"},
    };
    struct sc c;
    char u[512];
    (void)state;

    sc_start(&c, NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j;
        json_t *errors;

        snprintf(u, sizeof(u), "%s/v1/virtualMachines%s", c.d.p.url, bad[i].query);
        j = sc_get_json(u, c.key, 400);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "code")), "invalid_query");
        errors = json_object_get(j, "errors");
        assert_true(json_array_size(errors) >= 1);
        char *text = json_dumps(errors, 0);
        assert_non_null(strstr(text, bad[i].field));
        free(text);
        json_decref(j);
    }
    snprintf(u, sizeof(u),
             "%s/v1/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/nope/"
             "virtualMachines/none",
             c.d.p.url);
    json_decref(sc_get_json(u, c.key, 404));
    sc_stop(&c);
}

/* arm_scope is the token scope for ARM: the form az uses is accepted, a scope whose audience ARM
 * does not know makes the sync fail with ARM's own error, and nothing is stored. */
static void test_arm_scope_setting(void **state)
{
    struct sc c;
    json_t *run;
    char u[512];
    json_t *vms;
    (void)state;

    sc_start(&c, NULL, NULL, "arm_scope = https://management.core.windows.net//.default\n");
    run = sc_sync_now(&c);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_object_get(run, "counts"), "vms"), "seen")) > 0);
    json_decref(run);
    sc_stop(&c);

    sc_start(&c, NULL, NULL, "arm_scope = https://management.core.example/.default\n");
    run = sc_sync_run(&c, 60000);
    assert_string_equal(json_string_value(json_object_get(run, "state")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(run, "lastError")),
                           "InvalidAuthenticationTokenAudience"));
    json_decref(run);
    snprintf(u, sizeof(u), "%s/v1/virtualMachines", c.d.p.url);
    vms = sc_get_json(u, c.key, 200);
    assert_int_equal(json_array_size(json_object_get(vms, "value")), 0);
    json_decref(vms);
    sc_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_sync_exact),
        cmocka_unit_test(test_sync_keeps_every_fact),
        cmocka_unit_test(test_bad_queries),
        cmocka_unit_test(test_arm_scope_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
