/* test_model_states.c: every task kind, login, grant, operation and sync state survives
 * _str -> _parse unchanged; unknown, NULL, differently cased and out-of-range values are
 * refused (parse leaves *out untouched, str gives ""); the stored spellings the database's
 * CHECK constraints and the API rely on are pinned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/model_grant.h"
#include "vmlogind/model_states.h"

static void test_task_kinds(void **state)
{
    enum task_kind k;

    (void)state;
    for (int i = 0; i < TASK_KIND_COUNT; i++) {
        k = (enum task_kind) - 1;
        assert_true(task_kind_parse(task_kind_str((enum task_kind)i), &k));
        assert_int_equal(k, i);
    }
    assert_true(task_kind_is("grant", TASK_KIND_GRANT));
    assert_false(task_kind_is("grant", TASK_KIND_GRANT_SWEEP));
    assert_string_equal(task_kind_str(TASK_KIND_GRANT_SWEEP), "grant_sweep");
    assert_string_equal(task_kind_str(TASK_KIND_VM_LOGIN), "vm_login");
    assert_string_equal(task_kind_str(TASK_KIND_PERMISSIONS), "permissions_check");
    k = TASK_KIND_SYNC;
    assert_false(task_kind_parse("Sync", &k));
    assert_false(task_kind_parse("", &k));
    assert_false(task_kind_parse(NULL, &k));
    assert_false(task_kind_parse("vm_login ", &k));
    assert_int_equal(k, TASK_KIND_SYNC);
    assert_string_equal(task_kind_str((enum task_kind)TASK_KIND_COUNT), "");
    assert_string_equal(task_kind_str((enum task_kind) - 1), "");
}

static void test_login_states(void **state)
{
    enum login_state s;

    (void)state;
    for (int i = 0; i < LOGIN_STATE_COUNT; i++) {
        s = (enum login_state) - 1;
        assert_true(login_state_parse(login_state_str((enum login_state)i), &s));
        assert_int_equal(s, i);
        assert_true(login_state_is(login_state_str((enum login_state)i), (enum login_state)i));
    }
    assert_string_equal(login_state_str(LOGIN_STATE_NOT_COVERED), "not_covered");
    assert_string_equal(login_state_str(LOGIN_STATE_DRIFTED), "drifted");
    s = LOGIN_STATE_ENABLED;
    assert_false(login_state_parse("notCovered", &s)); /* the API spelling is model.h's */
    assert_false(login_state_parse("Enabled", &s));
    assert_false(login_state_parse(NULL, &s));
    assert_int_equal(s, LOGIN_STATE_ENABLED);
    assert_false(login_state_is(NULL, LOGIN_STATE_NOT_COVERED));
    assert_false(login_state_is("gone", LOGIN_STATE_NOT_COVERED));
    assert_false(login_state_is("enabled", LOGIN_STATE_DISABLED));
    assert_string_equal(login_state_str((enum login_state)LOGIN_STATE_COUNT), "");
}

static void test_grant_states(void **state)
{
    enum grant_state s;

    (void)state;
    for (int i = 0; i < GRANT_STATE_COUNT; i++) {
        s = (enum grant_state) - 1;
        assert_true(grant_state_parse(grant_state_str((enum grant_state)i), &s));
        assert_int_equal(s, i);
        assert_true(model_grant_state_valid(grant_state_str((enum grant_state)i)));
    }
    assert_string_equal(grant_state_str(GRANT_STATE_REVOKING), "revoking");
    s = GRANT_STATE_ACTIVE;
    assert_false(grant_state_parse("ACTIVE", &s));
    assert_false(grant_state_parse("gone", &s));
    assert_int_equal(s, GRANT_STATE_ACTIVE);
    assert_false(model_grant_state_valid("Active"));
    assert_true(grant_state_is("pending", GRANT_STATE_PENDING));
    assert_false(grant_state_is(NULL, GRANT_STATE_PENDING));
    assert_string_equal(grant_state_str((enum grant_state)GRANT_STATE_COUNT), "");
}

static void test_operation_statuses(void **state)
{
    enum operation_status s;

    (void)state;
    for (int i = 0; i < OPERATION_STATUS_COUNT; i++) {
        s = (enum operation_status) - 1;
        assert_true(operation_status_parse(operation_status_str((enum operation_status)i), &s));
        assert_int_equal(s, i);
    }
    assert_string_equal(operation_status_str(OPERATION_STATUS_NOT_STARTED), "NotStarted");
    assert_string_equal(operation_status_str(OPERATION_STATUS_PARTIALLY_SUCCEEDED),
                        "PartiallySucceeded");
    s = OPERATION_STATUS_RUNNING;
    assert_false(operation_status_parse("succeeded", &s));
    assert_false(operation_status_parse("Cancelled", &s));
    assert_int_equal(s, OPERATION_STATUS_RUNNING);
    assert_true(operation_status_is_terminal(OPERATION_STATUS_CANCELED));
    assert_true(operation_status_is_terminal(OPERATION_STATUS_PARTIALLY_SUCCEEDED));
    assert_false(operation_status_is_terminal(OPERATION_STATUS_RUNNING));
    assert_false(operation_status_is_terminal(OPERATION_STATUS_SKIPPED));
    assert_string_equal(operation_status_str((enum operation_status)OPERATION_STATUS_COUNT), "");
}

static void test_sync_states(void **state)
{
    enum sync_state s;

    (void)state;
    for (int i = 0; i < SYNC_STATE_COUNT; i++) {
        s = (enum sync_state) - 1;
        assert_true(sync_state_parse(sync_state_str((enum sync_state)i), &s));
        assert_int_equal(s, i);
    }
    s = SYNC_STATE_PARTIAL;
    assert_false(sync_state_parse("idle", &s)); /* GET /v1/sync's word, not a run's state */
    assert_int_equal(s, SYNC_STATE_PARTIAL);
    assert_true(sync_state_is("running", SYNC_STATE_RUNNING));
    assert_false(sync_state_is("Running", SYNC_STATE_RUNNING));
}

/* ARM's provisioningState is compared case-insensitively, and "Cancelled" is Canceled. */
static void test_provisioning(void **state)
{
    (void)state;
    assert_true(model_provisioning_is("Succeeded", OPERATION_STATUS_SUCCEEDED));
    assert_true(model_provisioning_is("failed", OPERATION_STATUS_FAILED));
    assert_true(model_provisioning_is("Cancelled", OPERATION_STATUS_CANCELED));
    assert_true(model_provisioning_is("canceled", OPERATION_STATUS_CANCELED));
    assert_false(model_provisioning_is("Creating", OPERATION_STATUS_SUCCEEDED));
    assert_false(model_provisioning_is(NULL, OPERATION_STATUS_FAILED));
    assert_false(model_provisioning_is("Cancelled", OPERATION_STATUS_FAILED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_kinds),   cmocka_unit_test(test_login_states),
        cmocka_unit_test(test_grant_states), cmocka_unit_test(test_operation_statuses),
        cmocka_unit_test(test_sync_states),  cmocka_unit_test(test_provisioning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
