/* reconcile_kinds.c: the one table of task kinds the daemon runs, like the route table. */
#include "vmlogind/reconcile.h"
#include "vmlogind/reconcile_grant.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/reconcile_login.h"
#include "vmlogind/reconcile_permissions.h"
#include "vmlogind/reconcile_signin.h"
#include "vmlogind/reconcile_vm_diag.h"
#include "vmlogind/model_onvm.h"
#include "vmlogind/model_signin.h"
#include "vmlogind/reconcile_sync.h"

/* "noop": converges at once; lets tests and operators prove the loop is alive. */
static void noop(const struct reconcile_env *env, const struct store_task *task,
                 struct reconcile_result *res)
{
    (void)env;
    (void)task;
    reconcile_done(res);
}

const struct reconcile_kind reconcile_kinds[] = {
    {.kind = "noop", .fn = noop},
    {.kind = "grant", .fn = reconcile_grant},
    {.kind = "grant_sweep", .fn = reconcile_grant_sweep},
    {.kind = RECONCILE_SYNC_KIND, .fn = reconcile_sync},
    {.kind = RECONCILE_KIND_SCOPE_LOGIN, .fn = reconcile_login_scope},
    {.kind = RECONCILE_KIND_VM_LOGIN, .fn = reconcile_login_vm},
    {.kind = RECONCILE_KIND_LOGIN_PREFLIGHT, .fn = reconcile_login_preflight},
    {.kind = MODEL_PERM_TASK_KIND, .fn = reconcile_permissions},
    {.kind = MODEL_SIGNIN_TASK_KIND, .fn = reconcile_signin},
    {.kind = MODEL_ONVM_TASK_KIND, .fn = reconcile_vm_diagnostics},
};

const size_t reconcile_kinds_count = sizeof(reconcile_kinds) / sizeof(reconcile_kinds[0]);
