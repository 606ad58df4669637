/* Entra login at resource-group scope and after enablement, against azsim: a resource group
 * covers the VMs the sync finds there, including one added to azsim afterwards, minus the one
 * excluded by tag; DELETE uninstalls and leaves the identity (and says so); an extension
 * removed out of band is repaired in enforce mode and only reported in audit mode. */
#include "test_login_common.h"

#define SYNC_EVERY_SECOND "sync_interval_s = 1\n"

static void add_vm(struct lctx *c, const char *rg, const char *name, const char *tags)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"%s\",\"name\":\"%s\","
             "\"location\":\"westeurope\",\"tags\":%s}",
             rg, name, tags ? tags : "{}");
    json_decref(sim(c, "POST", "/_sim/vms", body));
}

struct ext_wait {
    struct lctx *c;
    const char *vm;
    const char *state; /* NULL: absent */
};

static bool ext_is(void *arg)
{
    struct ext_wait *w = arg;
    json_t *vm = sim_vm(w->c, w->vm);
    int n = 0;
    const json_t *e = sim_aad(vm, &n);
    bool ok;

    if (w->state == NULL)
        ok = e == NULL;
    else
        ok = e != NULL && n == 1 &&
             strcmp(json_string_value(
                        json_object_get(json_object_get(e, "properties"), "provisioningState")),
                    w->state) == 0;
    json_decref(vm);
    return ok;
}

struct state_wait {
    struct lctx *c;
    const char *api_vm;
    const char *state;
};

static bool state_is(void *arg)
{
    struct state_wait *w = arg;
    char *st = login_state(w->c, w->api_vm);
    bool ok = st != NULL && strcmp(st, w->state) == 0;

    free(st);
    return ok;
}

static void test_resource_group_scope(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j;
    struct ext_wait w;
    char *st;
    (void)state;

    /* scopes re-check only hourly here: the VM added later must be picked up because the
     * sync that finds it wakes the scope */
    lctx_start(&c, "0.02", SYNC_EVERY_SECOND "login_recheck_s = 3600\n");
    add_vm(&c, "rg-login", "login-a", NULL);
    add_vm(&c, "rg-login", "login-skip", "{\"entra\":\"off\"}");
    json_decref(login_call(&c, "PUT", "/v1/subscriptions/" SUB "/resourceGroups/rg-login",
                           "{\"excludeTags\":{\"entra\":\"off\"}}", op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    assert_string_equal(
        json_string_value(json_object_get(op_item(j, VM_ARM("rg-login", "login-a")), "status")),
        "Succeeded");
    assert_string_equal(
        json_string_value(json_object_get(op_item(j, VM_ARM("rg-login", "login-skip")), "status")),
        "Skipped");
    json_decref(j);
    w = (struct ext_wait){&c, VM_ARM("rg-login", "login-skip"), NULL};
    assert_true(ext_is(&w));

    /* a VM created later is covered: the sync finds it, the scope picks it up */
    add_vm(&c, "rg-login", "login-b", NULL);
    w = (struct ext_wait){&c, VM_ARM("rg-login", "login-b"), "Succeeded"};
    assert_true(h_poll(ext_is, &w, 30000));
    {
        json_t *vm = sim_vm(&c, VM_ARM("rg-login", "login-b"));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(vm, "identity"), "type")),
            "SystemAssigned");
        json_decref(vm);
    }
    {
        struct state_wait sw = {&c, VM_API("rg-login", "login-b"), "enabled"};
        assert_true(h_poll(state_is, &sw, 20000));
    }
    st = login_state(&c, VM_API("rg-login", "login-skip"));
    assert_string_equal(st, "excluded");
    free(st);

    /* compliance counts them */
    j = api(&c, "GET", "/v1/compliance?subscription=" SUB, NULL, 200, NULL, 0);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_object_get(j, "total"), "counts"), "enabled")) >= 2);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_object_get(j, "total"), "counts"), "excluded")) >= 1);
    json_decref(j);
    lctx_stop(&c);
}

static bool first_sync_done(void *arg)
{
    json_t *j = api(arg, "GET", "/v1/sync", NULL, 200, NULL, 0);
    bool done = json_is_object(json_object_get(j, "last"));

    json_decref(j);
    return done;
}

static int64_t sim_requests(struct lctx *c, const char *op)
{
    json_t *st = sim(c, "GET", "/_sim/stats", NULL);
    int64_t n = json_integer_value(json_object_get(json_object_get(st, "requests"), op));

    json_decref(st);
    return n;
}

static bool many_looks(void *arg)
{
    return sim_requests(arg, "graph.devices.list") >= 12;
}

/* The sign-in app's service principal is looked up once per sync, not once per VM look: a
 * resource group of ten VMs, each looked at several times, asks Graph for it at most twice
 * (before and after the sync at start). */
static void test_signin_sp_once_per_sync(void **state)
{
    struct lctx c;
    char op[64];
    (void)state;

    lctx_start(&c, "0.02", "sync_interval_s = 3600\n");
    assert_true(h_poll(first_sync_done, &c, 30000));
    json_decref(login_call(&c, "PUT", "/v1/subscriptions/" SUB "/resourceGroups/rg-entra", "{}", op,
                           sizeof(op)));
    assert_true(h_poll(many_looks, &c, 60000)); /* the device lookup is per VM and look */
    assert_true(sim_requests(&c, "graph.sp.list") >= 1);
    assert_true(sim_requests(&c, "graph.sp.list") <= 2);
    lctx_stop(&c);
}

static void enable_vm(struct lctx *c, const char *api_vm, const char *body)
{
    char op[64];
    json_t *j;

    json_decref(login_call(c, "PUT", api_vm, body, op, sizeof(op)));
    j = wait_op(c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);
}

static void test_disable_keeps_identity(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j, *vm;
    int n = 0;
    char *st;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    enable_vm(&c, VM_API(RG, "win-vm-01"), NULL);
    j = login_call(&c, "DELETE", VM_API(RG, "win-vm-01"), NULL, op, sizeof(op));
    assert_non_null(strstr(json_string_value(json_array_get(json_object_get(j, "notes"), 0)),
                           "identity is left as it is"));
    json_decref(j);
    j = wait_op(&c, op, 30000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);
    vm = sim_vm(&c, VM_ARM(RG, "win-vm-01"));
    assert_null(sim_aad(vm, &n));
    assert_string_equal(json_string_value(json_object_get(json_object_get(vm, "identity"), "type")),
                        "SystemAssigned");
    json_decref(vm);
    st = login_state(&c, VM_API(RG, "win-vm-01"));
    assert_string_equal(st, "disabled");
    free(st);
    lctx_stop(&c);
}

/* Removes the extension behind vmlogind's back, with an ARM token of azsim's own minting. */
static void delete_out_of_band(struct lctx *c, const char *vm_arm)
{
    json_t *t = sim(c, "POST", "/_sim/tokens",
                    "{\"aud\":\"https://management.azure.com\",\"oid\":\"" H_DEMO_APP_SP "\"}");
    char url[1024];
    const char *h[] = {h_bearer(json_string_value(json_object_get(t, "access_token"))), NULL};
    struct resp r;
    struct ext_wait w = {c, vm_arm, NULL};

    snprintf(url, sizeof(url), "%s%s/extensions/AADLoginForWindows?api-version=2024-07-01",
             c->s.p.url, vm_arm);
    assert_int_equal(h_http("DELETE", url, NULL, h, &r) / 100, 2);
    h_resp_cleanup(&r);
    json_decref(t);
    assert_true(h_poll(ext_is, &w, 20000));
}

static void test_drift_enforce_repairs(void **state)
{
    struct lctx c;
    struct ext_wait w;
    (void)state;

    lctx_start(&c, "0.02", SYNC_EVERY_SECOND);
    enable_vm(&c, VM_API(RG, "win10-desk-01"), NULL);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win10-desk-01/extensions", "ext.put"), 1);
    delete_out_of_band(&c, VM_ARM(RG, "win10-desk-01"));
    w = (struct ext_wait){&c, VM_ARM(RG, "win10-desk-01"), "Succeeded"};
    assert_true(h_poll(ext_is, &w, 30000));
    assert_int_equal(sim_mutations(&c, "virtualMachines/win10-desk-01/extensions", "ext.put"), 2);
    lctx_stop(&c);
}

/* The VM's checkedAt in GET .../entraLogin (a new string, "" if none). */
static char *checked_at(struct lctx *c, const char *api_vm)
{
    char path[600];
    json_t *j;
    const char *v;
    char *out;

    snprintf(path, sizeof(path), "%s/entraLogin", api_vm);
    j = api(c, "GET", path, NULL, 200, NULL, 0);
    v = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(j, "observed"), "virtualMachines"), 0),
        "checkedAt"));
    out = strdup(v ? v : "");
    json_decref(j);
    return out;
}

struct look_wait {
    struct lctx *c;
    const char *api_vm;
    int looks;
    char last[64];
};

/* True after the reconciler has looked at the VM again this many times. */
static bool looked_again(void *arg)
{
    struct look_wait *w = arg;
    char *now = checked_at(w->c, w->api_vm);

    if (strcmp(now, w->last) != 0) {
        snprintf(w->last, sizeof(w->last), "%s", now);
        w->looks--;
    }
    free(now);
    return w->looks <= 0;
}

static void test_drift_audit_reports(void **state)
{
    struct lctx c;
    struct state_wait w = {&c, VM_API(RG, "win11-desk-01"), "drifted"};
    (void)state;

    lctx_start(&c, "0.02", SYNC_EVERY_SECOND);
    enable_vm(&c, VM_API(RG, "win11-desk-01"), NULL);
    enable_vm(&c, VM_API(RG, "win11-desk-01"), "{\"mode\":\"audit\"}");
    delete_out_of_band(&c, VM_ARM(RG, "win11-desk-01"));
    assert_true(h_poll(state_is, &w, 30000));
    /* the reconciler looks at it again (twice more): still only reported, never repaired */
    {
        struct look_wait lw = {&c, VM_API(RG, "win11-desk-01"), 3, ""};
        assert_true(h_poll(looked_again, &lw, 30000));
    }
    assert_int_equal(sim_mutations(&c, "virtualMachines/win11-desk-01/extensions", "ext.put"), 1);
    assert_true(state_is(&w));
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_group_scope),
        cmocka_unit_test(test_signin_sp_once_per_sync),
        cmocka_unit_test(test_disable_keeps_identity),
        cmocka_unit_test(test_drift_enforce_repairs),
        cmocka_unit_test(test_drift_audit_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
