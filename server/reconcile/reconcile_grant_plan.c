/* reconcile_grant_plan.c: the pure decisions of grants and sweeps (DESIGN section 5: plan,
 * then apply): a grant's next step from its state, what an Azure answer to a grant's PUT or
 * DELETE means, and what a sweep does with one assignment. No I/O here: reconcile_grant.c and
 * reconcile_grant_sweep.c apply. */
#include <string.h>

#include "vmlogind/model_grant.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/model_states.h"
#include "vmlogind/reconcile_grant.h"

enum grant_action reconcile_grant_plan(const struct grant_plan_in *in)
{
    enum grant_state s;

    if (!grant_state_parse(in->state, &s))
        return GRANT_ACT_NONE; /* a word the store does not hold: nothing to do */
    if (s == GRANT_STATE_REVOKING)
        return GRANT_ACT_REVOKE;
    if (s != GRANT_STATE_PENDING && s != GRANT_STATE_ACTIVE)
        return GRANT_ACT_NONE;
    if (in->expires_at > 0 && in->now >= in->expires_at)
        return GRANT_ACT_EXPIRE;
    if (s == GRANT_STATE_ACTIVE)
        return GRANT_ACT_VERIFY;
    return in->has_principal ? GRANT_ACT_CREATE : GRANT_ACT_RESOLVE;
}

const char *reconcile_grant_action_str(enum grant_action a)
{
    static const char *const names[] = {"none", "revoke", "expire", "verify", "resolve", "create"};

    return (size_t)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

bool reconcile_grant_transient(enum err rc, const struct azure_error *ae)
{
    return rc == ERR_CLOUD_THROTTLED || rc == ERR_TIMEOUT || ae->status == 0 || ae->status >= 500 ||
           ae->status == 429 || ae->status == 408;
}

enum grant_outcome reconcile_grant_outcome(enum err rc, const struct azure_error *ae,
                                           bool is_delete, bool past_deadline)
{
    struct model_denial dn;

    if (rc == ERR_OK)
        return GRANT_OUT_OK;
    if (is_delete && rc == ERR_NOT_FOUND)
        return GRANT_OUT_GONE;
    if (!is_delete && azure_error_is(ae, "RoleAssignmentExists"))
        return GRANT_OUT_EXISTS;
    if (!is_delete && azure_error_is(ae, "PrincipalNotFound"))
        return past_deadline ? GRANT_OUT_PRINCIPAL_FAIL : GRANT_OUT_PRINCIPAL_WAIT;
    if (reconcile_grant_transient(rc, ae))
        return GRANT_OUT_TRANSIENT;
    if (model_denial_diagnose(ae->status, ae->code, ae->message, ae->policy_assignment, NULL, &dn))
        return GRANT_OUT_DENIED;
    return GRANT_OUT_ERROR;
}

void reconcile_sweep_plan(const struct sweep_plan_in *in, struct sweep_plan_out *out)
{
    bool report_only = in->dry_run || in->policy_dry_run;

    *out = (struct sweep_plan_out){.reason = SWEEP_FINE, .action = SWEEP_ACT_NONE};
    if (in->principal == SWEEP_PRINCIPAL_GONE) {
        /* deleted for good: nothing can use it, and nothing can restore it */
        out->reason = SWEEP_ORPHAN;
        out->action = in->dry_run ? SWEEP_ACT_WOULD_REMOVE : SWEEP_ACT_REMOVE;
    } else if (in->principal == SWEEP_PRINCIPAL_SOFT_DELETED) {
        /* a restore brings its access back with it */
        out->reason = SWEEP_SOFT_DELETED;
        out->action = SWEEP_ACT_KEEP;
    } else if (!in->has_grant) {
        out->reason = SWEEP_EXTERNAL;
        out->action = !in->authoritative ? SWEEP_ACT_KEEP
                      : report_only      ? SWEEP_ACT_WOULD_REMOVE
                                         : SWEEP_ACT_REMOVE;
    }
}

const char *reconcile_sweep_reason_str(enum sweep_reason r)
{
    static const char *const names[] = {NULL, "orphan", "softDeleted", "external"};

    return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : NULL;
}

const char *reconcile_sweep_action_str(enum sweep_action a)
{
    static const char *const names[] = {NULL, "removed", "wouldRemove", "kept"};

    return (size_t)a < sizeof(names) / sizeof(names[0]) ? names[a] : NULL;
}
