/* reconcile_grant.h: the reconciler's handlers for login grants (task kind "grant", key the
 * grant id) and for sweeps (task kind "grant_sweep", key a sweep operation id, or
 * "policy:<scope key>" for the standing enforcement of an authoritative scope). */
#ifndef VMLOGIND_RECONCILE_GRANT_H
#define VMLOGIND_RECONCILE_GRANT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmlogind/azure.h"
#include "vmlogind/reconcile.h"

/* Drives one grant towards its state: resolves the principal through Graph when needed
 * (unknown UPN, guest, disabled: failed with the cause), PUTs the role assignment under its
 * deterministic name with principalType, adopts an existing one on 409 RoleAssignmentExists,
 * retries PrincipalNotFound for principal_not_found_timeout_s, deletes it on revocation or at
 * expiry (404/204 mean done), and re-creates an active grant's assignment deleted by hand. */
void reconcile_grant(const struct reconcile_env *env, const struct store_task *task,
                     struct reconcile_result *res);

/* Sweeps the login-role assignments at and under a scope (read from ARM): orphans whose
 * principal is gone for good (soft-deleted ones are kept; any Graph error deletes nothing),
 * and external assignments under an authoritative scope. Writes the report into the sweep's
 * operation; a policy task repeats every sync_interval_s while its policy stands. */
void reconcile_grant_sweep(const struct reconcile_env *env, const struct store_task *task,
                           struct reconcile_result *res);

/* ---- the plans (reconcile_grant_plan.c): pure, no I/O ---------------------------------------- */

/* A grant's next step from its state, expiry and principal. */
enum grant_action {
    GRANT_ACT_NONE = 0, /* failed, revoked, expired (or unknown): nothing to do */
    GRANT_ACT_REVOKE,   /* revoking: delete the assignment, then revoked */
    GRANT_ACT_EXPIRE,   /* pending or active past expires_at: delete, then expired */
    GRANT_ACT_VERIFY,   /* active: is the assignment still there (re-create if not) */
    GRANT_ACT_RESOLVE,  /* pending by UPN: look the user up first */
    GRANT_ACT_CREATE,   /* pending: check the principal, then PUT the assignment */
};

struct grant_plan_in {
    const char *state;
    int64_t now;
    int64_t expires_at; /* 0: never */
    bool has_principal; /* an object id is known (not a UPN still to resolve) */
};

enum grant_action reconcile_grant_plan(const struct grant_plan_in *in);
const char *reconcile_grant_action_str(enum grant_action a);

/* What a failed (or not) Azure call of a grant means. */
enum grant_outcome {
    GRANT_OUT_OK = 0,         /* done: record it */
    GRANT_OUT_EXISTS,         /* PUT: 409 RoleAssignmentExists under another name: adopt it */
    GRANT_OUT_GONE,           /* DELETE: 404, already gone: done */
    GRANT_OUT_PRINCIPAL_WAIT, /* PrincipalNotFound within the replication window: wait */
    GRANT_OUT_PRINCIPAL_FAIL, /* PrincipalNotFound past it: fail the grant */
    GRANT_OUT_TRANSIENT,      /* throttling, 5xx, 408, transport: again, honouring Retry-After */
    GRANT_OUT_DENIED,         /* a refusal a person must fix (model_denial_diagnose) */
    GRANT_OUT_ERROR,          /* any other refusal */
};

/* Throttling, 5xx, 408, a timeout or a transport failure: worth running again. */
bool reconcile_grant_transient(enum err rc, const struct azure_error *ae);
/* rc and ae of a role-assignment PUT or DELETE (is_delete); past_deadline: the principal's
 * replication window is over. */
enum grant_outcome reconcile_grant_outcome(enum err rc, const struct azure_error *ae,
                                           bool is_delete, bool past_deadline);

/* One login-role assignment found by a sweep, judged. */
enum sweep_principal {
    SWEEP_PRINCIPAL_PRESENT = 0, /* getByIds returned it */
    SWEEP_PRINCIPAL_SOFT_DELETED,
    SWEEP_PRINCIPAL_GONE, /* neither: deleted for good */
};
enum sweep_reason { SWEEP_FINE = 0, SWEEP_ORPHAN, SWEEP_SOFT_DELETED, SWEEP_EXTERNAL };
enum sweep_action { SWEEP_ACT_NONE = 0, SWEEP_ACT_REMOVE, SWEEP_ACT_WOULD_REMOVE, SWEEP_ACT_KEEP };

struct sweep_plan_in {
    enum sweep_principal principal;
    bool has_grant;      /* a live vmlogind grant holds it */
    bool authoritative;  /* a login policy covering its scope is authoritative */
    bool policy_dry_run; /* ... and reports only */
    bool dry_run;        /* the sweep reports only */
};

struct sweep_plan_out {
    enum sweep_reason reason;
    enum sweep_action action;
};

void reconcile_sweep_plan(const struct sweep_plan_in *in, struct sweep_plan_out *out);
/* The report's spellings: "orphan" "softDeleted" "external" (NULL for fine); "removed"
 * "wouldRemove" "kept" (NULL for none). */
const char *reconcile_sweep_reason_str(enum sweep_reason r);
const char *reconcile_sweep_action_str(enum sweep_action a);

#endif
