/* The grant and sweep plans: a grant's next step from its state and expiry, what Azure's
 * answer to a PUT or DELETE means, and what a sweep does with one assignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/model_grant.h"
#include "vmlogind/reconcile_grant.h"

static enum grant_action plan(const char *state, int64_t expires_at, bool has_principal)
{
    struct grant_plan_in in = {
        .state = state, .now = 1000, .expires_at = expires_at, .has_principal = has_principal};

    return reconcile_grant_plan(&in);
}

static void test_grant_plan_by_state(void **state)
{
    (void)state;
    assert_int_equal(plan("pending", 0, true), GRANT_ACT_CREATE);
    assert_int_equal(plan("pending", 0, false), GRANT_ACT_RESOLVE);
    assert_int_equal(plan("active", 0, true), GRANT_ACT_VERIFY);
    assert_int_equal(plan("revoking", 0, true), GRANT_ACT_REVOKE);
    assert_int_equal(plan("failed", 0, true), GRANT_ACT_NONE);
    assert_int_equal(plan("revoked", 0, true), GRANT_ACT_NONE);
    assert_int_equal(plan("expired", 0, true), GRANT_ACT_NONE);
    assert_int_equal(plan("bogus", 0, true), GRANT_ACT_NONE);
    assert_int_equal(plan(NULL, 0, true), GRANT_ACT_NONE);
    assert_string_equal(reconcile_grant_action_str(GRANT_ACT_VERIFY), "verify");
}

static void test_grant_plan_expiry(void **state)
{
    (void)state;
    /* at or past expires_at a live grant is deleted, whatever its step */
    assert_int_equal(plan("active", 1000, true), GRANT_ACT_EXPIRE);
    assert_int_equal(plan("pending", 999, false), GRANT_ACT_EXPIRE);
    assert_int_equal(plan("active", 1001, true), GRANT_ACT_VERIFY);
    /* a revocation is a revocation, even past expiry; an ended grant stays ended */
    assert_int_equal(plan("revoking", 10, true), GRANT_ACT_REVOKE);
    assert_int_equal(plan("failed", 10, true), GRANT_ACT_NONE);
}

static struct azure_error err(long status, const char *code, const char *message)
{
    struct azure_error ae;

    azure_error_clear(&ae);
    ae.status = status;
    snprintf(ae.code, sizeof(ae.code), "%s", code);
    snprintf(ae.message, sizeof(ae.message), "%s", message);
    return ae;
}

static void test_grant_outcome_of_a_put(void **state)
{
    struct azure_error ae = err(0, "", "");
    (void)state;

    assert_int_equal(reconcile_grant_outcome(ERR_OK, &ae, false, false), GRANT_OUT_OK);
    ae = err(409, "RoleAssignmentExists", "The role assignment already exists.");
    assert_int_equal(reconcile_grant_outcome(ERR_CONFLICT, &ae, false, false), GRANT_OUT_EXISTS);
    ae = err(400, "PrincipalNotFound", "Principal x does not exist in the directory");
    assert_int_equal(reconcile_grant_outcome(ERR_CLOUD, &ae, false, false),
                     GRANT_OUT_PRINCIPAL_WAIT);
    assert_int_equal(reconcile_grant_outcome(ERR_CLOUD, &ae, false, true),
                     GRANT_OUT_PRINCIPAL_FAIL);
    ae = err(429, "TooManyRequests", "");
    assert_int_equal(reconcile_grant_outcome(ERR_CLOUD_THROTTLED, &ae, false, false),
                     GRANT_OUT_TRANSIENT);
    ae = err(503, "ServiceUnavailable", "");
    assert_int_equal(reconcile_grant_outcome(ERR_CLOUD, &ae, false, false), GRANT_OUT_TRANSIENT);
    ae = err(0, "", ""); /* transport */
    assert_int_equal(reconcile_grant_outcome(ERR_CLOUD, &ae, false, false), GRANT_OUT_TRANSIENT);
    ae = err(403, "AuthorizationFailed",
             "The client 'x' with object id 'y' does not have authorization to perform action "
             "'Microsoft.Authorization/roleAssignments/write' over scope '/subscriptions/s' or "
             "the scope is invalid.");
    assert_int_equal(reconcile_grant_outcome(ERR_FORBIDDEN, &ae, false, false), GRANT_OUT_DENIED);
    ae = err(400, "InvalidRoleDefinitionId", "bad");
    assert_int_equal(reconcile_grant_outcome(ERR_CLOUD, &ae, false, false), GRANT_OUT_ERROR);
}

static void test_grant_outcome_of_a_delete(void **state)
{
    struct azure_error ae = err(404, "RoleAssignmentNotFound", "");
    (void)state;

    assert_int_equal(reconcile_grant_outcome(ERR_NOT_FOUND, &ae, true, false), GRANT_OUT_GONE);
    /* a 404 on a PUT is no success */
    assert_int_equal(reconcile_grant_outcome(ERR_NOT_FOUND, &ae, false, false), GRANT_OUT_ERROR);
    ae = err(409, "ScopeLocked", "The scope is locked.");
    assert_int_equal(reconcile_grant_outcome(ERR_CONFLICT, &ae, true, false), GRANT_OUT_DENIED);
    /* codes only a PUT can mean are not read into a DELETE */
    ae = err(409, "RoleAssignmentExists", "");
    assert_int_equal(reconcile_grant_outcome(ERR_CONFLICT, &ae, true, false), GRANT_OUT_ERROR);
}

static struct sweep_plan_out sweep(enum sweep_principal p, bool has_grant, bool authoritative,
                                   bool policy_dry_run, bool dry_run)
{
    struct sweep_plan_in in = {.principal = p,
                               .has_grant = has_grant,
                               .authoritative = authoritative,
                               .policy_dry_run = policy_dry_run,
                               .dry_run = dry_run};
    struct sweep_plan_out out;

    reconcile_sweep_plan(&in, &out);
    return out;
}

static void test_sweep_plan_orphans_and_soft_deleted(void **state)
{
    struct sweep_plan_out o;
    (void)state;

    o = sweep(SWEEP_PRINCIPAL_GONE, false, false, false, false);
    assert_int_equal(o.reason, SWEEP_ORPHAN);
    assert_int_equal(o.action, SWEEP_ACT_REMOVE);
    /* an orphan goes with or without a grant or a policy */
    o = sweep(SWEEP_PRINCIPAL_GONE, true, true, true, false);
    assert_int_equal(o.action, SWEEP_ACT_REMOVE);
    o = sweep(SWEEP_PRINCIPAL_GONE, false, false, false, true);
    assert_int_equal(o.action, SWEEP_ACT_WOULD_REMOVE);
    /* soft-deleted: kept, even under an authoritative policy */
    o = sweep(SWEEP_PRINCIPAL_SOFT_DELETED, false, true, false, false);
    assert_int_equal(o.reason, SWEEP_SOFT_DELETED);
    assert_int_equal(o.action, SWEEP_ACT_KEEP);
    assert_string_equal(reconcile_sweep_reason_str(o.reason), "softDeleted");
    assert_string_equal(reconcile_sweep_action_str(o.action), "kept");
}

static void test_sweep_plan_externals(void **state)
{
    struct sweep_plan_out o;
    (void)state;

    o = sweep(SWEEP_PRINCIPAL_PRESENT, true, true, false, false);
    assert_int_equal(o.reason, SWEEP_FINE); /* ours */
    assert_int_equal(o.action, SWEEP_ACT_NONE);
    assert_null(reconcile_sweep_reason_str(o.reason));
    o = sweep(SWEEP_PRINCIPAL_PRESENT, false, false, false, false);
    assert_int_equal(o.reason, SWEEP_EXTERNAL);
    assert_int_equal(o.action, SWEEP_ACT_KEEP); /* not authoritative */
    o = sweep(SWEEP_PRINCIPAL_PRESENT, false, true, false, false);
    assert_int_equal(o.action, SWEEP_ACT_REMOVE);
    o = sweep(SWEEP_PRINCIPAL_PRESENT, false, true, true, false);
    assert_int_equal(o.action, SWEEP_ACT_WOULD_REMOVE); /* the policy reports only */
    o = sweep(SWEEP_PRINCIPAL_PRESENT, false, true, false, true);
    assert_int_equal(o.action, SWEEP_ACT_WOULD_REMOVE); /* the sweep reports only */
    assert_string_equal(reconcile_sweep_action_str(o.action), "wouldRemove");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_plan_by_state),
        cmocka_unit_test(test_grant_plan_expiry),
        cmocka_unit_test(test_grant_outcome_of_a_put),
        cmocka_unit_test(test_grant_outcome_of_a_delete),
        cmocka_unit_test(test_sweep_plan_orphans_and_soft_deleted),
        cmocka_unit_test(test_sweep_plan_externals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
