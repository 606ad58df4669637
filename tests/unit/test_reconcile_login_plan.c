/* The Entra login plan: one next step from desired + observed. Identity before the extension,
 * extensions matched by publisher+type (the caller's job) reused by name, never a downgrade, a
 * failed extension re-PUT while retrying can help and removed when it can't, causes that
 * retrying can't fix held until the facts change, stopped VMs waited for, audit never changes
 * anything, disable leaves the identity alone; and the operation roll-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmlogind/reconcile_login.h"

static struct login_plan_in base(void)
{
    return (struct login_plan_in){
        .desired = LOGIN_DESIRED_ENABLED,
        .mode = MODEL_LOGIN_ENFORCE,
        .os = MODEL_OS_SUPPORTED,
        .running = true,
        .has_system_identity = false,
        .device_duplicate = MODEL_TRI_NO,
        .max_failures = 3,
        .want_version = "1.0",
    };
}

static struct login_plan_out plan(const struct login_plan_in *in)
{
    struct login_plan_out o;
    reconcile_login_plan(in, &o);
    return o;
}

static void test_happy_path_order(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_IDENTITY); /* identity first (1007 otherwise) */
    assert_string_equal(o.state, "applying");
    in.has_system_identity = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
    assert_string_equal(o.version, "1.0");
    assert_false(o.force_update);
    in.has_ext = true;
    in.ext_state = "Creating";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_WAIT);
    in.ext_state = "Succeeded";
    in.ext_version = "1.0";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE);
    assert_string_equal(o.state, "enabled");
    assert_string_equal(o.item_status, "Succeeded");
}

static void test_versions(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    in.has_system_identity = true;
    in.has_ext = true;
    in.ext_state = "Succeeded";
    in.ext_version = "2.0";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE); /* newer installed: keep it */
    in.ext_state = "Failed";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
    assert_string_equal(o.version, "2.0"); /* never downgrade on a re-PUT */
    in.ext_state = "Succeeded";
    in.ext_version = "1.0";
    in.want_version = "2.0";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT); /* upgrade to the wanted one */
    assert_string_equal(o.version, "2.0");
}

static void test_not_running_and_busy(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    in.running = false;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_WAIT);
    assert_string_equal(o.step, "waitForStart");
    assert_string_equal(o.state, "pending");
    assert_string_equal(o.cause, ""); /* waiting is not a failure */
    in.running = true;
    in.vm_busy = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_WAIT);
}

static void test_refusals(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    in.os = MODEL_OS_UNSUPPORTED;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
    assert_string_equal(o.cause, "unsupported_os");
    assert_string_equal(o.item_status, "Skipped"); /* at a scope: not this VM's business */
    in.explicit_vm = true;
    o = plan(&in);
    assert_string_equal(o.item_status, "Failed");
    in = base();
    in.device_duplicate = MODEL_TRI_YES;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
    assert_string_equal(o.cause, "hostname_duplicate");
    in.was_enabled = true; /* the device is its own after an earlier join */
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_IDENTITY);
    in = base();
    in.domain_joined = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
    assert_string_equal(o.cause, "domain_joined");
    in = base();
    in.excluded = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE);
    assert_string_equal(o.state, "excluded");
}

static void test_failed_extension(void **state)
{
    struct login_plan_in in = base();
    struct model_diagnosis msi = {.cause = "1007", .retryable = true};
    struct model_diagnosis os51 = {.cause = "51", .retryable = false};
    struct login_plan_out o;
    (void)state;

    in.has_system_identity = true;
    in.has_ext = true;
    in.ext_state = "Failed";
    in.ext_failure = &msi;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT); /* re-PUT clears the failed state */
    assert_true(o.force_update);
    assert_true(o.count_failure);
    assert_string_equal(o.cause, "1007");
    in.failures = 2; /* this is the third failure of max 3: give up, remove it */
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_DELETE_EXT);
    assert_true(o.then_fail);
    in.failures = 0;
    in.ext_failure = &os51;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_DELETE_EXT); /* can't be fixed by retrying */
    assert_string_equal(o.cause, "51");
    assert_string_equal(o.state, "failed");
    /* after the removal, the same facts: held, no change */
    in.has_ext = false;
    in.ext_state = NULL;
    in.ext_failure = NULL;
    in.prior_failed = true;
    in.prior_retryable = false;
    in.prior_cause = "51";
    in.facts_unchanged = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
    assert_string_equal(o.cause, "51");
    /* the facts changed (e.g. the OS was upgraded): try again */
    in.facts_unchanged = false;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
    /* a retryable cause that ran out of attempts is held too */
    in.facts_unchanged = true;
    in.prior_retryable = true;
    in.failures = 3;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
}

/* A failed extension is re-PUT, unless the last try was refused by something a person must lift
 * (a ReadOnly lock here): the re-PUT would be refused again, so the refusal is held. */
static void test_failed_extension_behind_a_refusal(void **state)
{
    struct login_plan_in in = base();
    struct model_diagnosis msi = {.cause = "1007", .retryable = true};
    struct login_plan_out o;
    (void)state;

    in.has_system_identity = true;
    in.has_ext = true;
    in.ext_state = "Failed";
    in.ext_failure = &msi;
    in.prior_failed = true;
    in.prior_retryable = false;
    in.prior_cause = "scope_locked";
    in.facts_unchanged = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
    assert_string_equal(o.step, "held");
    assert_string_equal(o.cause, "scope_locked");
    /* the setting was applied again (a new fingerprint): try once more */
    in.facts_unchanged = false;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
}

static void test_audit_never_changes(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    in.mode = MODEL_LOGIN_AUDIT;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_REPORT);
    assert_string_equal(o.state, "drifted");
    in.has_system_identity = true;
    in.has_ext = true;
    in.ext_state = "Failed";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_REPORT);
    assert_non_null(strstr(o.note, "failed"));
    in.ext_state = "Succeeded";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE);
    assert_string_equal(o.state, "enabled");
}

static void test_disable(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    in.desired = LOGIN_DESIRED_DISABLED;
    in.has_system_identity = true;
    in.has_ext = true;
    in.ext_state = "Succeeded";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_DELETE_EXT);
    assert_string_equal(o.state, "disabling");
    in.running = false;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_WAIT);
    in.has_ext = false;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE); /* identity is never touched */
    assert_string_equal(o.state, "disabled");
    in.desired = LOGIN_DESIRED_NONE;
    o = plan(&in);
    assert_string_equal(o.state, "not_covered");
}

/* MDM: Intune's mdmId in the PUT on a client VM, an installed extension without it is put
 * again, Server VMs under a wider scope get the extension without it, and a VM-scope setting
 * on Server fails with mdm_unsupported_os before any change. */
static void test_mdm(void **state)
{
    struct login_plan_in in = base();
    struct login_plan_out o;
    (void)state;

    in.has_system_identity = true;
    in.mdm = MODEL_LOGIN_MDM_INTUNE;
    in.edition = MODEL_OS_EDITION_CLIENT;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
    assert_string_equal(o.mdm_id, MODEL_INTUNE_MDM_ID);
    in.has_ext = true;
    in.ext_state = "Succeeded";
    in.ext_version = "1.0";
    o = plan(&in); /* installed before, without the setting: PUT again with it */
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
    assert_string_equal(o.mdm_id, MODEL_INTUNE_MDM_ID);
    in.ext_mdm_id = MODEL_INTUNE_MDM_ID;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE);
    assert_string_equal(o.state, "enabled");

    /* mdm not asked for: an installed mdmId is kept, never a reason to PUT */
    in.mdm = MODEL_LOGIN_MDM_NONE;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE);
    assert_string_equal(o.mdm_id, MODEL_INTUNE_MDM_ID);
    in.ext_mdm_id = "\"},\"x\":{\"";
    o = plan(&in); /* not a GUID: not echoed into JSON */
    assert_string_equal(o.mdm_id, "");

    /* Server under a resource group: installed without mdmId, enabled as it is */
    in = base();
    in.has_system_identity = true;
    in.mdm = MODEL_LOGIN_MDM_INTUNE;
    in.edition = MODEL_OS_EDITION_SERVER;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_PUT_EXT);
    assert_string_equal(o.mdm_id, "");
    in.has_ext = true;
    in.ext_state = "Succeeded";
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_NONE);

    /* Server asked for alone: refused with the seed's reason, nothing changed */
    in = base();
    in.mdm = MODEL_LOGIN_MDM_INTUNE;
    in.edition = MODEL_OS_EDITION_SERVER;
    in.explicit_vm = true;
    o = plan(&in);
    assert_int_equal(o.action, LOGIN_ACT_FAIL);
    assert_string_equal(o.cause, MODEL_CAUSE_MDM_SERVER);
    assert_string_equal(o.item_status, "Failed");
}

static void test_rollup(void **state)
{
    const char *a[] = {"Succeeded", "Skipped"};
    const char *b[] = {"Succeeded", "Running"};
    const char *c[] = {"Failed", "Failed"};
    const char *e[] = {"Succeeded", "Failed"};
    (void)state;

    assert_string_equal(reconcile_login_rollup(a, 2), "Succeeded");
    assert_string_equal(reconcile_login_rollup(b, 2), "Running");
    assert_string_equal(reconcile_login_rollup(c, 2), "Failed");
    assert_string_equal(reconcile_login_rollup(e, 2), "PartiallySucceeded");
    assert_string_equal(reconcile_login_rollup(NULL, 0), "Succeeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path_order),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_not_running_and_busy),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_failed_extension),
        cmocka_unit_test(test_failed_extension_behind_a_refusal),
        cmocka_unit_test(test_audit_never_changes),
        cmocka_unit_test(test_disable),
        cmocka_unit_test(test_mdm),
        cmocka_unit_test(test_rollup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
