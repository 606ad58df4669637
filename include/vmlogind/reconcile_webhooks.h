/* reconcile_webhooks.h: the webhook delivery workers. They send the outbox's due deliveries
 * (store_webhooks.h) with Standard Webhooks 1.0 headers and signatures, only to hosts that
 * webhook_allowed_hosts allows and to addresses that are public unless the host is listed,
 * retry failures on webhook_retry_schedule_ms, and disable a subscription after
 * webhook_disable_after failures in a row. At least once: a delivery stays pending until its
 * outcome is recorded, so a crash mid-send sends it again (with the same webhook-id). */
#ifndef VMLOGIND_RECONCILE_WEBHOOKS_H
#define VMLOGIND_RECONCILE_WEBHOOKS_H

#include "vmlogind/buf.h"
#include "vmlogind/config.h"
#include "vmlogind/err.h"

struct store;
struct reconcile_webhooks;

/* Starts cfg->webhook_workers threads; ERR_INVALID when webhook_retry_schedule_ms is not a
 * schedule (model_webhook_schedule_parse). */
enum err reconcile_webhooks_start(const struct config *cfg, struct store *st,
                                  struct reconcile_webhooks **out,
                                  struct err_detail *d) VL_MUST_CHECK;
/* Stops and joins the threads (an attempt in flight finishes or times out first); NULL ok. */
void reconcile_webhooks_stop(struct reconcile_webhooks *w);
/* Prometheus text: attempts by outcome, subscriptions disabled, queue depth, oldest age. */
enum err reconcile_webhooks_metrics(struct reconcile_webhooks *w, struct store *st,
                                    struct buf *out) VL_MUST_CHECK;

#endif
