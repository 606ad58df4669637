/* reconcile_jit.h: the reconciler's part of just-in-time login: a pending approval lapses at its
 * time. Approval itself and the grant it makes belong to the API (a request thread records the
 * grant, and the grant task makes the assignment); an activated grant expires like any other. */
#ifndef VMLOGIND_RECONCILE_JIT_H
#define VMLOGIND_RECONCILE_JIT_H

#include "vmlogind/reconcile.h"

/* The "activation" task (key: an activation id): while the activation waits for approval and
 * its time has not come, runs again then; once it has, marks it expired (audited) and converges.
 * Any other state converges at once. */
void reconcile_activation(const struct reconcile_env *env, const struct store_task *task,
                          struct reconcile_result *res);

#endif
