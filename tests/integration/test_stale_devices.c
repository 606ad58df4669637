/* Stale Entra devices (issue 16 item 5) against azsim: a VM deleted from Azure leaves its Entra
 * device (displayName = its hostname); with stale_devices = delete the sync that sees the VM gone
 * reports the device (audit device.stale, dryRun), deletes it through Graph after the grace
 * (device.delete deleted; azsim no longer has it), and a new VM with the same name then enables
 * without the hostname duplication error. With stale_devices = off nothing is reported or
 * deleted. The demo app is given Device.ReadWrite.All (Graph "Delete device" needs it). */
#include <unistd.h>

#include "test_login_common.h"

#define VM "win11-desk-01"
#define DEVICE "4d5e6f70-0000-4000-8000-00000000b0d1"

/* The demo scenario with Device.ReadWrite.All on the app, written to path. */
static void scenario_with_device_write(char *path, size_t cap, bool grant)
{
    json_error_t je;
    json_t *root = json_load_file(H_DEMO_SCENARIO, 0, &je);
    json_t *roles;

    assert_non_null(root);
    roles = json_object_get(json_array_get(json_object_get(root, "apps"), 0), "graphAppRoles");
    if (grant)
        json_array_append_new(roles, json_string("Device.ReadWrite.All"));
    snprintf(path, cap, "/tmp/vmlogind-stale-%ld.json", (long)getpid());
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(1)), 0);
    json_decref(root);
}

static void start_as(struct lctx *c, const char *policy, bool grant)
{
    const char *args[] = {"--time-scale", "0.02", NULL};
    char cfg[1024], scen[256];

    memset(c, 0, sizeof(*c));
    scenario_with_device_write(scen, sizeof(scen), grant);
    assert_true(h_sim_start(&c->s, scen, args));
    snprintf(cfg, sizeof(cfg),
             "%ssync_interval_s = 1\nstale_devices = %s\nstale_device_grace = 1\n",
             LOGIN_TEST_CONFIG, policy);
    assert_true(h_daemon_start_for_sim(&c->d, &c->s, cfg));
    h_daemon_key(&c->d, "administrator", NULL, c->key, sizeof(c->key));
    (void)unlink(scen);
}

static void start(struct lctx *c, const char *policy)
{
    start_as(c, policy, true);
}

struct vm_wait {
    struct lctx *c;
    long want;
};

static bool vm_status_is(void *arg)
{
    struct vm_wait *w = arg;
    char url[1024];
    const char *h[] = {h_bearer(w->c->key), NULL};
    struct resp r;
    long st;

    snprintf(url, sizeof(url), "%s%s", w->c->d.p.url, VM_API(RG, VM));
    st = h_http("GET", url, NULL, h, &r);
    h_resp_cleanup(&r);
    return st == w->want;
}

static void wait_vm(struct lctx *c, long want)
{
    struct vm_wait w = {c, want};

    if (!h_poll(vm_status_is, &w, 30000))
        fail_msg("GET %s never answered %ld", VM, want);
}

struct audit_find {
    struct lctx *c;
    const char *action;
    const char *outcome;
};

static bool audit_has(void *arg)
{
    struct audit_find *f = arg;
    json_t *j = api(f->c, "GET", "/v1/audit?limit=1000", NULL, 200, NULL, 0);
    bool found = false;
    size_t i;
    json_t *row;

    json_array_foreach(json_object_get(j, "value"), i, row)
    {
        if (strcmp(h_jstr(row, "action"), f->action) == 0 &&
            strcmp(h_jstr(row, "outcome"), f->outcome) == 0)
            found = true;
    }
    json_decref(j);
    return found;
}

static bool sim_has_device(struct lctx *c)
{
    char url[600];
    struct resp r;
    long st;

    snprintf(url, sizeof(url), "%s/_sim/lookup?id=%s", c->s.p.url, DEVICE);
    st = h_http("GET", url, NULL, NULL, &r);
    h_resp_cleanup(&r);
    return st == 200;
}

/* The VM's device, the VM deleted from Azure: returns its computer name in cn. */
static void orphan_device(struct lctx *c, char *cn, size_t cap)
{
    char path[600], body[400];
    json_t *j;

    wait_vm(c, 200);
    j = api(c, "GET", VM_API(RG, VM), NULL, 200, NULL, 0);
    snprintf(cn, cap, "%s", h_jstr(j, "computerName"));
    assert_true(cn[0] != '\0');
    json_decref(j);
    snprintf(body, sizeof(body),
             "{\"id\":\"" DEVICE "\",\"displayName\":\"%s\",\"deviceId\":"
             "\"9a8b7c6d-0000-4000-8000-00000000d0d1\",\"operatingSystem\":\"Windows\","
             "\"trustType\":\"AzureAd\"}",
             cn);
    json_decref(sim(c, "POST", "/_sim/devices", body));
    assert_true(sim_has_device(c));
    snprintf(path, sizeof(path), "/_sim/vms?id=%s", VM_ARM(RG, VM));
    json_decref(sim(c, "DELETE", path, NULL));
    wait_vm(c, 404); /* the sync saw it gone */
}

static void new_vm_same_name(struct lctx *c, const char *cn)
{
    char body[800];

    snprintf(
        body, sizeof(body),
        "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"" RG "\",\"name\":\"" VM "\","
        "\"location\":\"westeurope\",\"computerName\":\"%s\",\"imageReference\":{\"publisher\":"
        "\"MicrosoftWindowsDesktop\",\"offer\":\"Windows-11\",\"sku\":\"win11-23h2-pro\","
        "\"version\":\"latest\"},\"osName\":\"Windows 11 Pro\",\"osVersion\":"
        "\"10.0.22631.4317\",\"osType\":\"Windows\"}",
        cn);
    json_decref(sim(c, "POST", "/_sim/vms", body));
    wait_vm(c, 200);
}

static void test_stale_device_deleted_then_name_reused(void **state)
{
    struct lctx c;
    char cn[128], op[64];
    struct audit_find reported = {&c, "device.stale", "reported"};
    struct audit_find deleted = {&c, "device.delete", "deleted"};
    json_t *j;
    (void)state;

    start(&c, "delete");
    orphan_device(&c, cn, sizeof(cn));
    if (!h_poll(audit_has, &reported, 30000))
        fail_msg("the stale device was never reported");
    if (!h_poll(audit_has, &deleted, 30000))
        fail_msg("the stale device was never deleted");
    assert_false(sim_has_device(&c));
    assert_true(sim_mutations(&c, "/devices/" DEVICE, "graph.device.delete") >= 1);

    /* a new VM with the same name (and hostname) joins: no hostname duplication */
    new_vm_same_name(&c, cn);
    json_decref(login_call(&c, "PUT", VM_API(RG, VM), NULL, op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(h_jstr(j, "status"), "Succeeded");
    json_decref(j);
    lctx_stop(&c);
}

struct sync_after {
    struct lctx *c;
    json_int_t id;
};

static json_int_t last_sync(struct lctx *c)
{
    json_t *j = api(c, "GET", "/v1/sync", NULL, 200, NULL, 0);
    json_int_t id = json_integer_value(json_object_get(json_object_get(j, "last"), "id"));

    json_decref(j);
    return id;
}

static bool sync_passed(void *arg)
{
    struct sync_after *w = arg;

    return last_sync(w->c) > w->id;
}

static void test_off_does_nothing(void **state)
{
    struct lctx c;
    char cn[128];
    struct audit_find reported = {&c, "device.stale", "reported"};
    struct sync_after w = {&c, 0};
    (void)state;

    start(&c, "off");
    orphan_device(&c, cn, sizeof(cn));
    /* two more complete syncs after the one that saw it gone: still nothing */
    w.id = last_sync(&c) + 1;
    if (!h_poll(sync_passed, &w, 30000))
        fail_msg("no sync completed after the VM was gone");
    assert_false(audit_has(&reported));
    assert_true(sim_has_device(&c));
    assert_int_equal(sim_mutations(&c, "/devices/", NULL), 0);
    lctx_stop(&c);
}

/* report: the device is reported, never deleted, and a new VM with the same name still fails
 * with the hostname duplication error (what delete clears). */
static void test_report_never_deletes(void **state)
{
    struct lctx c;
    char cn[128], op[64];
    struct audit_find reported = {&c, "device.stale", "reported"};
    struct sync_after w = {&c, 0};
    const json_t *item;
    json_t *j;
    char *text;
    (void)state;

    start(&c, "report");
    orphan_device(&c, cn, sizeof(cn));
    if (!h_poll(audit_has, &reported, 30000))
        fail_msg("the stale device was never reported");
    w.id = last_sync(&c) + 1; /* past the 1 s grace, and two syncs on */
    if (!h_poll(sync_passed, &w, 30000))
        fail_msg("no sync completed after the report");
    assert_true(sim_has_device(&c));
    assert_int_equal(sim_mutations(&c, "/devices/", NULL), 0);
    new_vm_same_name(&c, cn);
    json_decref(login_call(&c, "PUT", VM_API(RG, VM), NULL, op, sizeof(op)));
    j = wait_op(&c, op, 30000);
    assert_string_equal(h_jstr(j, "status"), "Failed");
    item = op_item(j, VM_ARM(RG, VM));
    text = json_dumps(item, JSON_COMPACT);
    assert_non_null(strstr(text, "hostname_duplicate"));
    free(text);
    json_decref(j);
    lctx_stop(&c);
}

static bool permissions_checked(void *arg)
{
    struct lctx *c = arg;
    json_t *j = api(c, "GET", "/v1/diagnostics/permissions", NULL, 200, NULL, 0);
    bool done = strcmp(h_jstr(j, "state"), "checked") == 0;

    json_decref(j);
    return done;
}

/* delete without Device.ReadWrite.All: Graph's 403 ends in a failed device.delete row (the
 * device stays), and the permissions report names the permission as missing. */
static void test_delete_without_permission(void **state)
{
    struct lctx c;
    char cn[128];
    struct audit_find failed = {&c, "device.delete", "failed"};
    json_t *j, *x;
    size_t i;
    bool named = false;
    (void)state;

    start_as(&c, "delete", false);
    orphan_device(&c, cn, sizeof(cn));
    if (!h_poll(audit_has, &failed, 30000))
        fail_msg("the refused delete was never audited");
    assert_true(sim_has_device(&c));
    if (!h_poll(permissions_checked, &c, 30000))
        fail_msg("permissions never checked");
    j = api(&c, "GET", "/v1/diagnostics/permissions", NULL, 200, NULL, 0);
    json_array_foreach(json_object_get(json_object_get(j, "graph"), "missing"), i, x)
    {
        named = named || strcmp(h_jstr(x, "appRole"), "Device.ReadWrite.All") == 0;
    }
    assert_true(named);
    json_decref(j);
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_device_deleted_then_name_reused),
        cmocka_unit_test(test_off_does_nothing),
        cmocka_unit_test(test_report_never_deletes),
        cmocka_unit_test(test_delete_without_permission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
