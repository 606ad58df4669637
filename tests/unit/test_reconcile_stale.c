/* Stale Entra devices of VMs gone from Azure (reconcile_stale.c) over the fake cloud: policy off
 * calls nothing and writes nothing; report writes the device.stale row and never deletes;
 * delete reports first (dry run, the delete task due after the grace period) and then deletes
 * exactly the devices the report named; the device id from the VM's diagnostics narrows the
 * match; a device that signed in after the VM went gone is left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_reconcile_env.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_stale.h"

#define VM_ID "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/old"
#define VM_KEY "/subscriptions/s1/resourcegroups/rg/providers/microsoft.compute/virtualmachines/old"
#define GONE_AT 1700000000000LL

static const char *payload(void)
{
    static char p[512];

    snprintf(p, sizeof(p), "{\"vm\":\"%s\",\"computerName\":\"WIN-OLD\",\"goneAt\":%lld}", VM_ID,
             (long long)GONE_AT);
    return p;
}

/* How many audit rows have this action and outcome. */
static int audits(struct renv *e, const char *action, const char *outcome)
{
    struct store_audit_entry *list = NULL;
    size_t n = 0;
    int k = 0;

    assert_int_equal(store_audit_list(e->st, 0, 1000, &list, &n, NULL), ERR_OK);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].action, action) == 0 && strcmp(list[i].outcome, outcome) == 0)
            k++;
    store_audit_list_free(list, n);
    return k;
}

static void policy(struct renv *e, const char *word, int64_t grace)
{
    snprintf(e->cfg.stale_devices, sizeof(e->cfg.stale_devices), "%s", word);
    e->cfg.stale_device_grace = grace;
}

static void test_off_does_nothing(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;
    struct store_task t;

    policy(e, "off", 0);
    cloud_fake_add_device(e->cloud, "d0000000-0000-4000-8000-000000000001", "dev-1", "WIN-OLD");
    res = renv_run(e, reconcile_stale_device, "stale_device", VM_KEY, payload());
    assert_int_equal(res.outcome, RECONCILE_DONE);
    res = renv_run(e, reconcile_stale_device_delete, "stale_device_delete", VM_KEY, payload());
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_int_equal(cloud_fake_calls(e->cloud, "devices_by_name"), 0);
    assert_int_equal(cloud_fake_calls(e->cloud, "device_delete"), 0);
    assert_int_equal(audits(e, "device.stale", "reported"), 0);
    assert_int_equal(store_task_get(e->st, "stale_device_delete", VM_KEY, &t, NULL), ERR_NOT_FOUND);
}

static void test_report_never_deletes(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;
    struct store_task t;
    char p[600];

    policy(e, "report", 0);
    cloud_fake_add_device(e->cloud, "d0000000-0000-4000-8000-000000000001", "dev-1", "WIN-OLD");
    res = renv_run(e, reconcile_stale_device, "stale_device", VM_KEY, payload());
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_int_equal(audits(e, "device.stale", "reported"), 1);
    assert_int_equal(store_task_get(e->st, "stale_device_delete", VM_KEY, &t, NULL), ERR_NOT_FOUND);
    /* even a delete task (left from an earlier policy) deletes nothing under report */
    snprintf(p, sizeof(p),
             "{\"vm\":\"%s\",\"computerName\":\"WIN-OLD\",\"goneAt\":%lld,\"devices\":[\"%s\"]}",
             VM_ID, (long long)GONE_AT, "d0000000-0000-4000-8000-000000000001");
    res = renv_run(e, reconcile_stale_device_delete, "stale_device_delete", VM_KEY, p);
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_int_equal(cloud_fake_calls(e->cloud, "device_delete"), 0);
    assert_false(e->cloud->devices[0].deleted);
}

static void test_delete_after_dry_run(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;
    struct store_task t;

    policy(e, "delete", 3600);
    cloud_fake_add_device(e->cloud, "d0000000-0000-4000-8000-000000000001", "dev-1", "WIN-OLD");
    cloud_fake_add_device(e->cloud, "d0000000-0000-4000-8000-000000000002", "dev-2", "OTHER");
    res = renv_run(e, reconcile_stale_device, "stale_device", VM_KEY, payload());
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_int_equal(audits(e, "device.stale", "reported"), 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "device_delete"), 0); /* the dry run first */
    assert_int_equal(store_task_get(e->st, "stale_device_delete", VM_KEY, &t, NULL), ERR_OK);
    assert_true(t.due_at >= GONE_AT + 3600 * 1000LL);
    assert_non_null(strstr(t.payload, "d0000000-0000-4000-8000-000000000001"));
    assert_null(strstr(t.payload, "d0000000-0000-4000-8000-000000000002"));
    /* a device of the same name that appeared after the report is not deleted */
    cloud_fake_add_device(e->cloud, "d0000000-0000-4000-8000-000000000003", "dev-3", "WIN-OLD");
    res = renv_run(e, reconcile_stale_device_delete, "stale_device_delete", VM_KEY, t.payload);
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_true(e->cloud->devices[0].deleted);
    assert_false(e->cloud->devices[1].deleted);
    assert_false(e->cloud->devices[2].deleted);
    assert_int_equal(audits(e, "device.delete", "requested"), 1);
    assert_int_equal(audits(e, "device.delete", "deleted"), 1);
    store_task_clear(&t);
}

static void test_graph_error_retried(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;

    policy(e, "report", 0);
    cloud_fake_add_device(e->cloud, "d0000000-0000-4000-8000-000000000001", "dev-1", "WIN-OLD");
    cloud_fake_fail(e->cloud, "devices_by_name", 403, "Authorization_RequestDenied", 1);
    res = renv_run(e, reconcile_stale_device, "stale_device", VM_KEY, payload());
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    assert_non_null(strstr(res.error, "Authorization_RequestDenied"));
    assert_int_equal(audits(e, "device.stale", "reported"), 0);
}

static void test_candidates(void **state)
{
    struct azure_device d = {.id = "o1", .device_id = "dev-1", .display_name = "WIN-OLD"};
    char before[32], after[32];
    (void)state;

    assert_true(reconcile_stale_is_candidate(&d, NULL, GONE_AT));
    assert_true(reconcile_stale_is_candidate(&d, "DEV-1", GONE_AT));
    assert_false(reconcile_stale_is_candidate(&d, "dev-2", GONE_AT));
    (void)clock_fmt_rfc3339(GONE_AT - 60000, before, sizeof(before));
    d.approximate_last_sign_in = before;
    assert_true(reconcile_stale_is_candidate(&d, NULL, GONE_AT));
    (void)clock_fmt_rfc3339(GONE_AT + 60000, after, sizeof(after));
    d.approximate_last_sign_in = after;
    assert_false(reconcile_stale_is_candidate(&d, NULL, GONE_AT)); /* in use since */
    assert_int_equal(reconcile_stale_policy("delete"), STALE_POLICY_DELETE);
    assert_int_equal(reconcile_stale_policy("report"), STALE_POLICY_REPORT);
    assert_int_equal(reconcile_stale_policy("bogus"), STALE_POLICY_OFF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_does_nothing, renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_report_never_deletes, renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_delete_after_dry_run, renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_graph_error_retried, renv_setup, renv_teardown),
        cmocka_unit_test(test_candidates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
