/* reconcile_grant.h: the reconciler's handlers for login grants (task kind "grant", key the
 * grant id) and for sweeps (task kind "grant_sweep", key a sweep operation id, or
 * "policy:<scope key>" for the standing enforcement of an authoritative scope). */
#ifndef VMLOGIND_RECONCILE_GRANT_H
#define VMLOGIND_RECONCILE_GRANT_H

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

#endif
