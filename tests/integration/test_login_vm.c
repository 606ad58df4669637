/* Entra login on single VMs of azsim's demo tenant: one VM end to end with the identity added
 * (and a repeated PUT creating no new work), a VM with a user-assigned identity keeps it,
 * Server 2016 refused by preflight with no ARM change, an Entra device with the VM's hostname
 * found before any change, an injected 1007 failure diagnosed with its remedy, retried and
 * removed, and a deallocated VM enabled once azsim starts it (also under a resource group whose
 * scope re-checks only hourly: the sync that sees it running wakes it). */
#include "test_login_common.h"

/* azsim's record of the mutation op on a path with needle that carried client request id crid:
 * its requestId (what azsim answered in x-ms-request-id), copied into out; false if none. */
static bool sim_mutation_with_crid(struct lctx *c, const char *needle, const char *op,
                                   const char *crid, char *out, size_t cap)
{
    json_t *st = sim(c, "GET", "/_sim/stats", NULL);
    bool found = false;
    size_t i;
    json_t *m;

    json_array_foreach(json_object_get(st, "mutations"), i, m)
    {
        const char *path = json_string_value(json_object_get(m, "path"));
        const char *o = json_string_value(json_object_get(m, "op"));
        const char *id = json_string_value(json_object_get(m, "clientRequestId"));
        if (!found && path && strcasestr(path, needle) && o && strcmp(o, op) == 0 && id &&
            strcmp(id, crid) == 0) {
            snprintf(out, cap, "%s", json_string_value(json_object_get(m, "requestId")));
            found = true;
        }
    }
    json_decref(st);
    return found;
}

static void test_enable_one_vm(void **state)
{
    struct lctx c;
    char op[64], op2[64], sim_rid[128];
    json_t *j, *vm;
    const json_t *ext, *item;
    int n = 0;
    char *st;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    j = login_call(&c, "PUT", VM_API(RG, "win-vm-01"), NULL, op, sizeof(op));
    json_decref(j);
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    item = op_item(j, VM_ARM(RG, "win-vm-01"));
    assert_string_equal(json_string_value(json_object_get(item, "status")), "Succeeded");
    /* the succeeded step quotes the ids of its change, the extension PUT azsim received */
    assert_non_null(json_string_value(json_object_get(item, "clientRequestId")));
    assert_true(sim_mutation_with_crid(&c, "virtualMachines/win-vm-01/extensions", "ext.put",
                                       json_string_value(json_object_get(item, "clientRequestId")),
                                       sim_rid, sizeof(sim_rid)));
    assert_string_equal(json_string_value(json_object_get(item, "azureRequestId")), sim_rid);
    json_decref(j);

    vm = sim_vm(&c, VM_ARM(RG, "win-vm-01"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(vm, "identity"), "type")),
                        "SystemAssigned");
    ext = sim_aad(vm, &n);
    assert_int_equal(n, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ext, "properties"), "provisioningState")),
        "Succeeded");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ext, "properties"),
                                                          "typeHandlerVersion")),
                        "1.0");
    assert_true(json_is_true(
        json_object_get(json_object_get(ext, "properties"), "autoUpgradeMinorVersion")));
    json_decref(vm);
    st = login_state(&c, VM_API(RG, "win-vm-01"));
    assert_string_equal(st, "enabled");
    free(st);

    /* the same PUT again: the same operation, no new ARM request */
    j = login_call(&c, "PUT", VM_API(RG, "win-vm-01"), "{}", op2, sizeof(op2));
    assert_string_equal(op, op2);
    json_decref(j);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win-vm-01", "vm.patch"), 1);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win-vm-01/extensions", "ext.put"), 1);

    /* a bad body names the field */
    j = api(&c, "PUT", VM_API(RG, "win-vm-01") "/entraLogin", "{\"mode\":\"fix\",\"x\":1}", 400,
            NULL, 0);
    {
        char *text = json_dumps(j, 0);
        assert_non_null(strstr(text, "\"mode\""));
        assert_non_null(strstr(text, "unknown_field"));
        free(text);
    }
    json_decref(j);
    lctx_stop(&c);
}

static void test_user_assigned_kept(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j, *before, *after;
    const json_t *ua;
    const char *k;
    json_t *v;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    before = sim_vm(&c, VM_ARM(RG, "ws2022-uaonly"));
    ua = json_object_get(json_object_get(before, "identity"), "userAssignedIdentities");
    assert_true(json_object_size(ua) >= 1);
    json_decref(login_call(&c, "PUT", VM_API(RG, "ws2022-uaonly"), NULL, op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);
    after = sim_vm(&c, VM_ARM(RG, "ws2022-uaonly"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(after, "identity"), "type")),
        "SystemAssigned, UserAssigned");
    json_object_foreach((json_t *)ua, k, v) assert_non_null(json_object_get(
        json_object_get(json_object_get(after, "identity"), "userAssignedIdentities"), k));
    json_decref(before);
    json_decref(after);
    lctx_stop(&c);
}

static bool preflight_refreshed(void *arg)
{
    struct lctx *c = arg;
    json_t *j =
        api(c, "POST", VM_API(RG, "ws2016-legacy") "/entraLogin/preflight", NULL, 200, NULL, 0);
    bool ok = strcmp(json_string_value(json_object_get(j, "source")), "reconciler") == 0;

    json_decref(j);
    return ok;
}

static void test_unsupported_refused(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j;
    const json_t *it, *e;
    size_t i;
    json_t *chk;
    bool os_failed = false;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    json_decref(sim(&c, "POST", "/_sim/stats/reset", NULL));
    json_decref(login_call(&c, "PUT", VM_API(RG, "ws2016-legacy"), NULL, op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Failed");
    it = op_item(j, VM_ARM(RG, "ws2016-legacy"));
    e = json_object_get(it, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unsupported_os");
    assert_non_null(strstr(json_string_value(json_object_get(e, "fix")), "Windows Server 2019"));
    json_decref(j);
    /* refused before any change: azsim saw no mutating request for the VM */
    assert_int_equal(sim_mutations(&c, "virtualMachines/ws2016-legacy", NULL), 0);

    /* the preflight endpoint says why, after the reconciler's look */
    assert_true(h_poll(preflight_refreshed, &c, 20000));
    j = api(&c, "POST", VM_API(RG, "ws2016-legacy") "/entraLogin/preflight", NULL, 200, NULL, 0);
    json_array_foreach(
        json_object_get(j, "checks"), i,
        chk) if (strcmp(json_string_value(json_object_get(chk, "name")), "osSupported") == 0)
        os_failed = strcmp(json_string_value(json_object_get(chk, "result")), "fail") == 0;
    assert_true(os_failed);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "fail");
    json_decref(j);
    lctx_stop(&c);
}

static void test_hostname_collision(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j;
    const json_t *e;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    json_decref(login_call(&c, "PUT", VM_API(RG, "ws2022-dup"), NULL, op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Failed");
    e = json_object_get(op_item(j, VM_ARM(RG, "ws2022-dup")), "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "hostname_duplicate");
    assert_non_null(strstr(json_string_value(json_object_get(e, "fix")), "Entra device"));
    assert_false(json_is_true(json_object_get(e, "retryable")));
    json_decref(j);
    /* found by the Graph lookup before installing: no extension PUT reached azsim */
    assert_int_equal(sim_mutations(&c, "virtualMachines/ws2022-dup/extensions", "ext.put"), 0);
    lctx_stop(&c);
}

static void test_1007_diagnosed(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j, *vm;
    const json_t *e;
    int n = 0;
    (void)state;

    lctx_start(&c, "0.02", "login_max_attempts = 2\n");
    json_decref(sim(&c, "PATCH", "/_sim/vms?id=" VM_ARM(RG, "win11-desk-01"),
                    "{\"facts\":{\"imdsIdentityUnavailable\":true}}"));
    json_decref(login_call(&c, "PUT", VM_API(RG, "win11-desk-01"), NULL, op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Failed");
    e = json_object_get(op_item(j, VM_ARM(RG, "win11-desk-01")), "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "1007");
    assert_string_equal(json_string_value(json_object_get(e, "name")),
                        "DSREG_E_MSI_TENANTID_UNAVAILABLE");
    assert_non_null(
        strstr(json_string_value(json_object_get(e, "fix")), "system-assigned managed identity"));
    json_decref(j);
    /* retried once by policy (max 2 installs), then the failed extension was removed so it
       does not block other operations on the VM */
    assert_int_equal(sim_mutations(&c, "virtualMachines/win11-desk-01/extensions", "ext.put"), 2);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win11-desk-01/extensions", "ext.delete"),
                     1);
    vm = sim_vm(&c, VM_ARM(RG, "win11-desk-01"));
    assert_null(sim_aad(vm, &n));
    json_decref(vm);
    lctx_stop(&c);
}

/* The operation has an item for the VM whose field (step or status) is want (h_poll). */
struct item_wait {
    struct lctx *c;
    const char *op;
    const char *vm;
    const char *field;
    const char *want;
};

static bool item_is(void *arg)
{
    struct item_wait *w = arg;
    char path[128];
    json_t *j;
    json_t *x;
    size_t i;
    bool ok = false;

    snprintf(path, sizeof(path), "/v1/operations/%s", w->op);
    j = api(w->c, "GET", path, NULL, 200, NULL, 0);
    json_array_foreach(json_object_get(j, "virtualMachines"), i, x)
    {
        const char *id = json_string_value(json_object_get(x, "id"));
        const char *v = json_string_value(json_object_get(x, w->field));
        if (id != NULL && strcasecmp(id, w->vm) == 0)
            ok = v != NULL && strcmp(v, w->want) == 0;
    }
    json_decref(j);
    return ok;
}

static void test_deallocated_waits(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j, *vm;
    struct item_wait w;
    int n = 0;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    json_decref(login_call(&c, "PUT", VM_API(RG, "ws2019-stopped"), NULL, op, sizeof(op)));
    w = (struct item_wait){&c, op, VM_ARM(RG, "ws2019-stopped"), "step", "waitForStart"};
    assert_true(h_poll(item_is, &w, 20000));
    {
        char path[128];
        snprintf(path, sizeof(path), "/v1/operations/%s", op);
        j = api(&c, "GET", path, NULL, 200, NULL, 0);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "Running");
        json_decref(j);
    }
    /* waiting is not a failure and changes nothing */
    assert_int_equal(sim_mutations(&c, "virtualMachines/ws2019-stopped", NULL), 0);
    json_decref(sim(&c, "PATCH", "/_sim/vms?id=" VM_ARM(RG, "ws2019-stopped"),
                    "{\"powerState\":\"running\"}"));
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);
    vm = sim_vm(&c, VM_ARM(RG, "ws2019-stopped"));
    assert_non_null(sim_aad(vm, &n));
    assert_int_equal(n, 1);
    json_decref(vm);
    lctx_stop(&c);
}

/* A deallocated VM under an enabled resource group is enabled once a sync sees it running,
 * not at its next re-check: login_recheck_s is an hour here. */
static void test_started_vm_woken_by_sync(void **state)
{
    struct lctx c;
    char op[64];
    struct item_wait w;
    int n = 0;
    json_t *vm;
    (void)state;

    lctx_start(&c, "0.02", "sync_interval_s = 1\nlogin_recheck_s = 3600\n");
    json_decref(login_call(&c, "PUT", "/v1/subscriptions/" SUB "/resourceGroups/" RG, NULL, op,
                           sizeof(op)));
    w = (struct item_wait){&c, op, VM_ARM(RG, "ws2019-stopped"), "step", "waitForStart"};
    assert_true(h_poll(item_is, &w, 30000));
    json_decref(sim(&c, "PATCH", "/_sim/vms?id=" VM_ARM(RG, "ws2019-stopped"),
                    "{\"powerState\":\"running\"}"));
    w = (struct item_wait){&c, op, VM_ARM(RG, "ws2019-stopped"), "status", "Succeeded"};
    assert_true(h_poll(item_is, &w, 60000));
    vm = sim_vm(&c, VM_ARM(RG, "ws2019-stopped"));
    assert_non_null(sim_aad(vm, &n));
    assert_int_equal(n, 1);
    json_decref(vm);
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enable_one_vm),
        cmocka_unit_test(test_user_assigned_kept),
        cmocka_unit_test(test_unsupported_refused),
        cmocka_unit_test(test_hostname_collision),
        cmocka_unit_test(test_1007_diagnosed),
        cmocka_unit_test(test_deallocated_waits),
        cmocka_unit_test(test_started_vm_woken_by_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
