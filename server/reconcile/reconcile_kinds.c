/* reconcile_kinds.c: the one table of task kinds the daemon runs, like the route table: a
 * handler per enum task_kind, named by the kind's stored spelling (model_states.c). */
#include "vmlogind/model_states.h"
#include "vmlogind/reconcile.h"
#include "vmlogind/reconcile_grant.h"
#include "vmlogind/reconcile_jit.h"
#include "vmlogind/reconcile_login.h"
#include "vmlogind/reconcile_permissions.h"
#include "vmlogind/reconcile_signin.h"
#include "vmlogind/reconcile_stale.h"
#include "vmlogind/reconcile_vm_diag.h"
#include "vmlogind/reconcile_sync.h"

/* "noop": converges at once; lets tests and operators prove the loop is alive. */
static void noop(const struct reconcile_env *env, const struct store_task *task,
                 struct reconcile_result *res)
{
    (void)env;
    (void)task;
    reconcile_done(res);
}

static const reconcile_fn handlers[TASK_KIND_COUNT] = {
    [TASK_KIND_NOOP] = noop,
    [TASK_KIND_GRANT] = reconcile_grant,
    [TASK_KIND_GRANT_SWEEP] = reconcile_grant_sweep,
    [TASK_KIND_SYNC] = reconcile_sync,
    [TASK_KIND_SCOPE_LOGIN] = reconcile_login_scope,
    [TASK_KIND_VM_LOGIN] = reconcile_login_vm,
    [TASK_KIND_LOGIN_PREFLIGHT] = reconcile_login_preflight,
    [TASK_KIND_PERMISSIONS] = reconcile_permissions,
    [TASK_KIND_SIGNIN_FACTS] = reconcile_signin,
    [TASK_KIND_VM_DIAGNOSTICS] = reconcile_vm_diagnostics,
    [TASK_KIND_STALE_DEVICE] = reconcile_stale_device,
    [TASK_KIND_STALE_DEVICE_DELETE] = reconcile_stale_device_delete,
    [TASK_KIND_ACTIVATION] = reconcile_activation,
};

size_t reconcile_kinds_init(struct reconcile_kind out[TASK_KIND_COUNT])
{
    for (int k = 0; k < TASK_KIND_COUNT; k++)
        out[k] =
            (struct reconcile_kind){.kind = task_kind_str((enum task_kind)k), .fn = handlers[k]};
    return TASK_KIND_COUNT;
}
