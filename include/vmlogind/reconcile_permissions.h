/* reconcile_permissions.h: the check of vmlogind's own permissions (task kind
 * MODEL_PERM_TASK_KIND, key MODEL_PERM_SUBJECT): per subscription, Permissions_List at the
 * resource groups of its VMs against the actions vmlogind needs; in Graph, the app roles in its
 * token. The report goes to the store (GET /v1/diagnostics/permissions serves it) and each gap
 * to the log, with the least-privilege role to assign and where. */
#ifndef VMLOGIND_RECONCILE_PERMISSIONS_H
#define VMLOGIND_RECONCILE_PERMISSIONS_H

#include <stdint.h>

#include "vmlogind/reconcile.h"

void reconcile_permissions(const struct reconcile_env *env, const struct store_task *task,
                           struct reconcile_result *res);
/* Makes the check due at due_ms (at start, and after Azure refused vmlogind something). */
enum err reconcile_permissions_schedule(struct store *st, int64_t due_ms,
                                        struct err_detail *d) VL_MUST_CHECK;

#endif
