/* test_reconcile_login.c: the VM login handler on the fake cloud: the steps it takes in Azure
 * (identity, then the extension), what it records on the VM's login row, and how a refusal
 * is recorded with its diagnosis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_reconcile_env.h"
#include "vmlogind/model_states.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_login.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/reconcile_login.h"
#include "vmlogind/reconcile_sync.h"
#include "vmlogind/store_login.h"

#define SUB "55555555-5555-5555-5555-555555555555"

/* One Windows VM in the inventory (synced from the fake) and a login setting at its scope. */
static const char *vm_with_setting(struct renv *e, const char *desired)
{
    struct cloud_fake_vm *v;
    struct model_login_spec spec = {.mode = MODEL_LOGIN_ENFORCE, .extension_version = "1.0"};
    struct store_login_setting s = {0};
    struct err_detail d;
    char key[256];

    cloud_fake_add_sub(e->cloud, SUB);
    v = cloud_fake_add_vm(e->cloud, SUB, "rg1", "vm1");
    (void)renv_run(e, reconcile_sync, task_kind_str(TASK_KIND_SYNC), TASK_KEY_SYNC, NULL);
    renv_key(v->id, key, sizeof(key));
    s = (struct store_login_setting){
        .scope_key = key,
        .scope = v->id,
        .scope_kind = (char *)"vm",
        .desired = (char *)desired,
        .mode = (char *)"enforce",
        .extension_version = (char *)"1.0",
        .spec = model_login_spec_to_text(&spec),
        .updated_by = (char *)"unit",
    };
    assert_int_equal(store_login_setting_put(e->st, &s, clock_now_ms(), NULL, &d), ERR_OK);
    free(s.spec);
    return v->id;
}

/* Runs the VM task until it settles (at most 8 runs): each change finishes at once in the
 * fake, and the next run plans the next step. */
static struct reconcile_result settle(struct renv *e, const char *vm_id)
{
    struct reconcile_result res = {0};

    for (int i = 0; i < 8; i++) {
        res = renv_run(e, reconcile_login_vm, task_kind_str(TASK_KIND_VM_LOGIN), vm_id, NULL);
        if (res.outcome != RECONCILE_AGAIN || res.delay_ms > 1)
            break;
    }
    return res;
}

static void expect_login(struct renv *e, const char *vm_id, const char *state, const char *cause)
{
    struct store_vm_login l = {0};
    char key[256];

    renv_key(vm_id, key, sizeof(key));
    assert_int_equal(store_vm_login_get(e->st, key, &l, NULL), ERR_OK);
    assert_string_equal(l.state, state);
    assert_string_equal(l.cause_code ? l.cause_code : "", cause);
    store_vm_login_clear(&l);
}

static void test_login_installs_identity_then_extension(void **state)
{
    struct renv *e = *state;
    const char *id = vm_with_setting(e, "enabled");
    struct reconcile_result res = settle(e, id);

    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_true(e->cloud->vms[0].identity);
    assert_true(e->cloud->vms[0].has_aad);
    assert_string_equal(e->cloud->vms[0].aad_version, "1.0");
    assert_int_equal(cloud_fake_calls(e->cloud, "vm_enable_system_identity"), 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "extension_put"), 1);
    expect_login(e, id, "enabled", "");
    /* converged: another run changes nothing */
    res = settle(e, id);
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_int_equal(cloud_fake_calls(e->cloud, "extension_put"), 1);
}

static void test_login_disabled_removes_the_extension(void **state)
{
    struct renv *e = *state;
    const char *id = vm_with_setting(e, "disabled");

    e->cloud->vms[0].has_aad = true;
    snprintf(e->cloud->vms[0].aad_state, sizeof(e->cloud->vms[0].aad_state), "Succeeded");
    snprintf(e->cloud->vms[0].aad_version, sizeof(e->cloud->vms[0].aad_version), "1.0");
    assert_int_equal(settle(e, id).outcome, RECONCILE_DONE);
    assert_false(e->cloud->vms[0].has_aad);
    assert_int_equal(cloud_fake_calls(e->cloud, "extension_delete"), 1);
    expect_login(e, id, "disabled", "");
}

static void test_login_refusal_is_recorded_with_its_diagnosis(void **state)
{
    struct renv *e = *state;
    const char *id = vm_with_setting(e, "enabled");
    struct reconcile_result res;

    cloud_fake_fail(e->cloud, "vm_enable_system_identity", 403, "AuthorizationFailed", -1);
    res = settle(e, id);
    assert_int_equal(res.outcome, RECONCILE_FAILED);
    assert_non_null(strstr(res.error, MODEL_CAUSE_AUTHORIZATION));
    expect_login(e, id, "failed", MODEL_CAUSE_AUTHORIZATION);
    assert_non_null(strstr(res.error, "Microsoft.Fake/vm_enable_system_identity/action"));
    assert_false(e->cloud->vms[0].has_aad); /* nothing after the refused step */
    assert_int_equal(cloud_fake_calls(e->cloud, "extension_put"), 0);
}

static void test_login_stopped_vm_waits(void **state)
{
    struct renv *e = *state;
    const char *id = vm_with_setting(e, "enabled");
    struct reconcile_result res;

    snprintf(e->cloud->vms[0].power, sizeof(e->cloud->vms[0].power), "deallocated");
    res = settle(e, id);
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    assert_true(res.delay_ms > 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "vm_enable_system_identity"), 0);
    assert_int_equal(cloud_fake_calls(e->cloud, "extension_put"), 0);
}

static void test_login_vanished_vm_is_done(void **state)
{
    struct renv *e = *state;
    const char *id = vm_with_setting(e, "enabled");
    char copy[256];

    snprintf(copy, sizeof(copy), "%s", id);
    cloud_fake_remove_vm(e->cloud, "vm1");
    assert_int_equal(settle(e, copy).outcome, RECONCILE_DONE);
    assert_int_equal(cloud_fake_calls(e->cloud, "extension_put"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_installs_identity_then_extension, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_login_disabled_removes_the_extension, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_login_refusal_is_recorded_with_its_diagnosis,
                                        renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_login_stopped_vm_waits, renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_login_vanished_vm_is_done, renv_setup, renv_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
