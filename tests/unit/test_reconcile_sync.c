/* test_reconcile_sync.c: the inventory sync on the fake cloud: what lands in the store, what is
 * marked gone (only after a complete listing), and how a failure is recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_reconcile_env.h"
#include "vmlogind/model_states.h"
#include "vmlogind/reconcile_sync.h"

#define SUB "22222222-2222-2222-2222-222222222222"
#define ALICE "aaaaaaaa-0000-0000-0000-000000000001"

static struct reconcile_result sync_once(struct renv *e)
{
    return renv_run(e, reconcile_sync, task_kind_str(TASK_KIND_SYNC), TASK_KEY_SYNC, NULL);
}

static struct store_sync_run last_run(struct renv *e)
{
    struct store_sync_run latest = {0}, done = {0};

    assert_int_equal(store_sync_run_latest(e->st, &latest, &done, NULL), ERR_OK);
    return latest;
}

/* gone_at of the VM named name in SUB/rg1 (-1: not in the store) */
static int64_t vm_gone_at(struct renv *e, const char *name)
{
    struct store_vm v = {0};
    char id[256];
    int64_t gone;

    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/%s",
             SUB, name);
    if (store_vm_get(e->st, id, &v, NULL) != ERR_OK)
        return -1;
    gone = v.gone_at;
    store_vm_clear(&v);
    return gone;
}

static void fleet(struct renv *e)
{
    cloud_fake_add_sub(e->cloud, SUB);
    cloud_fake_add_vm(e->cloud, SUB, "rg1", "vm1");
    cloud_fake_add_vm(e->cloud, SUB, "rg1", "vm2")->has_aad = true;
    snprintf(e->cloud->vms[1].aad_state, sizeof(e->cloud->vms[1].aad_state), "Succeeded");
    snprintf(e->cloud->vms[1].aad_version, sizeof(e->cloud->vms[1].aad_version), "1.0");
    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    cloud_fake_add_ra(e->cloud, "/subscriptions/" SUB, "33333333-3333-3333-3333-333333333333",
                      AZURE_ROLE_VM_USER_LOGIN, ALICE, "User");
    /* not a login role: not inventoried */
    cloud_fake_add_ra(e->cloud, "/subscriptions/" SUB, "44444444-4444-4444-4444-444444444444",
                      "b24988ac-6180-42a0-ab88-20f7382dd24c", ALICE, "User");
}

static void test_sync_stores_vms_assignments_and_principals(void **state)
{
    struct renv *e = *state;
    struct store_sync_run r;

    fleet(e);
    assert_int_equal(sync_once(e).outcome, RECONCILE_AGAIN); /* every sync_interval_s */
    r = last_run(e);
    assert_string_equal(r.state, "succeeded");
    assert_int_equal(r.subscriptions, 1);
    assert_int_equal(r.vms_seen, 2);
    assert_int_equal(r.extensions_seen, 1);
    assert_int_equal(r.assignments_seen, 1);
    assert_int_equal(r.principals_seen, 1);
    assert_int_equal(r.errors, 0);
    assert_int_equal(vm_gone_at(e, "vm1"), 0);
    assert_int_equal(vm_gone_at(e, "vm2"), 0);
    /* nothing changed: nothing written */
    (void)sync_once(e);
    r = last_run(e);
    assert_string_equal(r.state, "succeeded");
    assert_int_equal(r.rows_written, 0);
    assert_int_equal(r.vms_changed, 0);
}

static void test_sync_marks_vanished_vms_gone(void **state)
{
    struct renv *e = *state;
    struct store_sync_run r;

    fleet(e);
    (void)sync_once(e);
    cloud_fake_remove_vm(e->cloud, "vm2");
    (void)sync_once(e);
    r = last_run(e);
    assert_string_equal(r.state, "succeeded");
    assert_int_equal(r.vms_gone, 1);
    assert_int_equal(vm_gone_at(e, "vm1"), 0);
    assert_true(vm_gone_at(e, "vm2") > 0);
}

static void test_sync_failed_listing_marks_nothing_gone_and_records_the_error(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;
    struct store_sync_run r;

    fleet(e);
    (void)sync_once(e);
    cloud_fake_remove_vm(e->cloud, "vm2");
    cloud_fake_fail(e->cloud, "vms_list", 403, "AuthorizationFailed", -1);
    res = sync_once(e);
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    assert_non_null(strstr(res.error, "AuthorizationFailed"));
    r = last_run(e);
    assert_string_not_equal(r.state, "succeeded");
    assert_true(r.errors > 0);
    assert_non_null(strstr(r.last_error, "AuthorizationFailed"));
    assert_int_equal(vm_gone_at(e, "vm2"), 0); /* an incomplete listing deletes nothing */
}

static void test_sync_asks_deleted_items_about_a_vanished_principal(void **state)
{
    struct renv *e = *state;
    struct store_sync_run r;

    fleet(e);
    (void)sync_once(e);
    e->cloud->ps[0].soft_deleted = true; /* ALICE deleted in the directory */
    (void)sync_once(e);
    r = last_run(e);
    assert_string_equal(r.state, "succeeded");
    assert_int_equal(cloud_fake_calls(e->cloud, "deleted_item_get"), 1);
}

static void test_sync_without_azure_does_nothing(void **state)
{
    struct renv *e = *state;

    e->env.cloud = NULL;
    assert_int_equal(sync_once(e).outcome, RECONCILE_DONE);
    assert_int_equal(cloud_fake_calls(e->cloud, "subscriptions_list"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_stores_vms_assignments_and_principals, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_sync_marks_vanished_vms_gone, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_failed_listing_marks_nothing_gone_and_records_the_error, renv_setup,
            renv_teardown),
        cmocka_unit_test_setup_teardown(test_sync_asks_deleted_items_about_a_vanished_principal,
                                        renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_sync_without_azure_does_nothing, renv_setup,
                                        renv_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
