/* reconcile_signin.h: reads what "why can't she sign in?" needs from Microsoft Graph (task kind
 * TASK_KIND_SIGNIN_FACTS, key "<vm id>|<principal>", payload {"vm", "principal"}): her account,
 * the VM's device objects by hostname, the Conditional Access policies, her recent sign-ins to
 * the Azure Windows VM Sign-In app. Each section records its own status, so a permission
 * vmlogind lacks (403) makes that section "denied" with the permission, never the whole read.
 * Nothing here changes Azure. */
#ifndef VMLOGIND_RECONCILE_SIGNIN_H
#define VMLOGIND_RECONCILE_SIGNIN_H

#include "vmlogind/reconcile.h"

void reconcile_signin(const struct reconcile_env *env, const struct store_task *task,
                      struct reconcile_result *res);

#endif
