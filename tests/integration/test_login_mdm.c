/* MDM autoenrollment (issue 16 item 4): PUT .../entraLogin {"mdm":"intune"} on a Windows 10
 * client VM installs AADLoginForWindows with Intune's mdmId in its settings (as azsim received
 * them); on a Windows Server VM the inventory knows it is refused with 422 mdm_unsupported_os
 * naming the field mdm, and nothing reaches ARM. */
#include "test_login_common.h"

#define INTUNE "0000000a-0000-0000-c000-000000000000"

struct in_inventory {
    struct lctx *c;
    const char *path;
};

static bool vm_known(void *arg)
{
    struct in_inventory *w = arg;
    char url[1024];
    const char *h[] = {h_bearer(w->c->key), NULL};
    struct resp r;
    long st;

    snprintf(url, sizeof(url), "%s%s", w->c->d.p.url, w->path);
    st = h_http("GET", url, NULL, h, &r);
    h_resp_cleanup(&r);
    return st == 200;
}

static void wait_inventory(struct lctx *c, const char *path)
{
    struct in_inventory w = {c, path};

    if (!h_poll(vm_known, &w, 30000))
        fail_msg("%s never reached the inventory", path);
}

static void test_mdm_on_client_vm(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j, *vm;
    const json_t *ext, *settings;
    int n = 0;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    j = login_call(&c, "PUT", VM_API(RG, "win10-desk-01"), "{\"mdm\":\"intune\"}", op, sizeof(op));
    json_decref(j);
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);

    vm = sim_vm(&c, VM_ARM(RG, "win10-desk-01"));
    ext = sim_aad(vm, &n);
    assert_int_equal(n, 1);
    settings = json_object_get(json_object_get(ext, "properties"), "settings");
    assert_string_equal(json_string_value(json_object_get(settings, "mdmId")), INTUNE);
    json_decref(vm);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win10-desk-01/extensions", "ext.put"), 1);

    /* the desired state shows it; the same PUT again is the same operation */
    j = api(&c, "GET", VM_API(RG, "win10-desk-01") "/entraLogin", NULL, 200, NULL, 0);
    assert_string_equal(h_jstr(json_object_get(j, "desired"), "mdm"), "intune");
    json_decref(j);
    {
        char op2[64];
        j = login_call(&c, "PUT", VM_API(RG, "win10-desk-01"), "{\"mdm\":\"intune\"}", op2,
                       sizeof(op2));
        assert_string_equal(op, op2);
        json_decref(j);
    }
    lctx_stop(&c);
}

static void test_mdm_refused_on_server(void **state)
{
    struct lctx c;
    json_t *j;
    const json_t *e;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    wait_inventory(&c, VM_API(RG, "ws2022-app-01"));
    j = api(&c, "PUT", VM_API(RG, "ws2022-app-01") "/entraLogin", "{\"mdm\":\"intune\"}", 422, NULL,
            0);
    assert_string_equal(h_jstr(j, "code"), "mdm_unsupported_os");
    assert_non_null(strstr(h_jstr(j, "detail"), "Windows Server VMs don't support MDM enrollment"));
    e = json_array_get(json_object_get(j, "errors"), 0);
    assert_string_equal(h_jstr(e, "field"), "mdm");
    assert_string_equal(h_jstr(e, "code"), "mdm_unsupported_os");
    json_decref(j);
    /* nothing recorded, nothing sent */
    j = api(&c, "GET", VM_API(RG, "ws2022-app-01") "/entraLogin", NULL, 200, NULL, 0);
    assert_true(json_is_null(json_object_get(j, "desired")));
    json_decref(j);
    assert_int_equal(sim_mutations(&c, "virtualMachines/ws2022-app-01", NULL), 0);

    /* a bad value names the field too */
    j = api(&c, "PUT", VM_API(RG, "ws2022-app-01") "/entraLogin", "{\"mdm\":\"jamf\"}", 400, NULL,
            0);
    assert_string_equal(h_jstr(json_array_get(json_object_get(j, "errors"), 0), "field"), "mdm");
    json_decref(j);
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mdm_on_client_vm),
        cmocka_unit_test(test_mdm_refused_on_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
