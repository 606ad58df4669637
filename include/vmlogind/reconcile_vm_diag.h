/* reconcile_vm_diag.h: on-VM checks through ARM Run Command (task kind TASK_KIND_VM_DIAGNOSTICS,
 * key the VM id lowercase, payload {"vm", "operation"}): starts the read-only check script
 * (model_onvm_script), follows the long-running operation through the task's op_url across
 * restarts, parses the output (model_onvm_parse), stores it with the VM (vm_diagnostics) and
 * ends the operation. Changes nothing in Azure but running that script. */
#ifndef VMLOGIND_RECONCILE_VM_DIAG_H
#define VMLOGIND_RECONCILE_VM_DIAG_H

#include "vmlogind/reconcile.h"

void reconcile_vm_diagnostics(const struct reconcile_env *env, const struct store_task *task,
                              struct reconcile_result *res);

#endif
