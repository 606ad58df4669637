/* reconcile_stale.h: the Entra device of a VM that is gone from Azure (issue 16 item 5). When a
 * sync marks VMs gone, reconcile_stale_enqueue queues a "stale_device" task per VM (unless
 * stale_devices = off). That task finds the device (by the device id the VM's last on-VM
 * diagnostics saw, else by displayName = its hostname through Graph) and reports it (an audit
 * row device.stale); with stale_devices = delete the report is the dry run, and a
 * "stale_device_delete" task due stale_device_grace later deletes exactly the devices it named
 * (Graph DELETE /devices/{id}), so that a new VM with the same hostname joins instead of failing
 * with the hostname duplication error. */
#ifndef VMLOGIND_RECONCILE_STALE_H
#define VMLOGIND_RECONCILE_STALE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmlogind/azure_graph.h"
#include "vmlogind/reconcile.h"

enum stale_policy { STALE_POLICY_OFF = 0, STALE_POLICY_REPORT, STALE_POLICY_DELETE };

/* "off" | "report" | "delete" (anything else: off). */
enum stale_policy reconcile_stale_policy(const char *word);
/* Pure: whether a device Graph listed under the VM's hostname is the gone VM's. With the
 * device id the VM's diagnostics saw, only that device; without it, a device that has not
 * signed in since the VM went gone (approximateLastSignInDateTime, when Graph gives it). */
bool reconcile_stale_is_candidate(const struct azure_device *d, const char *known_device_id,
                                  int64_t gone_at_ms);
/* Queues a stale_device task for every VM of subscription_id marked gone at gone_at (the sync
 * run's time). Nothing when the policy is off. */
enum err reconcile_stale_enqueue(const struct reconcile_env *env, const char *subscription_id,
                                 int64_t gone_at, struct err_detail *d) VL_MUST_CHECK;

void reconcile_stale_device(const struct reconcile_env *env, const struct store_task *task,
                            struct reconcile_result *res);
void reconcile_stale_device_delete(const struct reconcile_env *env, const struct store_task *task,
                                   struct reconcile_result *res);

#endif
