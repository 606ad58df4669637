/* reconcile_sync.h: the inventory sync (task kind "sync", key "all"): subscriptions, VMs with
 * their embedded extensions, the VM-login role assignments at every scope covering a VM, and
 * the principals they name with their groups' members, from Azure into the store. What
 * vanished is marked gone; a re-sync with no change writes no observed row. */
#ifndef VMLOGIND_RECONCILE_SYNC_H
#define VMLOGIND_RECONCILE_SYNC_H

#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/reconcile.h"

/* The task handler (reconcile_kinds.c). Reschedules itself every sync_interval_s (0: only
 * when upserted again, e.g. by POST /v1/sync). */
void reconcile_sync(const struct reconcile_env *env, const struct store_task *task,
                    struct reconcile_result *res);
/* Makes the sync task due now (at start, or on demand). */
enum err reconcile_sync_schedule(struct store *st, int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* Prometheus text: runs, last duration, VMs seen/changed/gone, rows written. */
enum err reconcile_sync_metrics(struct buf *out) VL_MUST_CHECK;
/* How many syncs this process has started: what was looked up in Azure once per sync (the
 * sign-in app's service principal) holds while it stays the same. */
int64_t reconcile_sync_generation(void);

#endif
