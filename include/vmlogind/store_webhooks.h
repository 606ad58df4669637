/* store_webhooks.h: webhook subscriptions and their outbox (migrations/0015_webhooks.sql). The
 * events trigger adds one delivery per matching enabled subscription; this file reads and
 * changes subscriptions, lists deliveries, and gives the delivery worker what is due and
 * records each attempt's outcome. */
#ifndef VMLOGIND_STORE_WEBHOOKS_H
#define VMLOGIND_STORE_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"

struct store;

#define STORE_WEBHOOKS_MAX 100 /* subscriptions in one database */

struct store_webhook {
    char *id;
    char *url;
    char *description;
    char *events; /* JSON array text */
    char *scopes; /* JSON array text of lowercase ARM scopes */
    bool unlimited;
    char *secret;      /* whsec_...; never leaves the daemon but in the one reply */
    char *prev_secret; /* NULL: no rotation overlap */
    int64_t prev_until;
    bool enabled;
    char *disabled_reason;
    int64_t disabled_at;
    int64_t failures;
    char *created_by;
    int64_t created_at;
    int64_t updated_at;
};
void store_webhook_clear(struct store_webhook *w);
void store_webhook_list_free(struct store_webhook *list, size_t n);

/* Inserts w (every string set but prev_secret, disabled_reason). ERR_CONFLICT on a taken id. */
enum err store_webhooks_insert(struct store *st, const struct store_webhook *w,
                               struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND when there is no such subscription. *out is the caller's. */
enum err store_webhooks_get(struct store *st, const char *id, struct store_webhook *out,
                            struct err_detail *d) VL_MUST_CHECK;
/* Every subscription, oldest first (at most STORE_WEBHOOKS_MAX). */
enum err store_webhooks_list(struct store *st, struct store_webhook **out, size_t *n,
                             struct err_detail *d) VL_MUST_CHECK;
/* Deletes the subscription and its deliveries; ERR_NOT_FOUND if none. */
enum err store_webhooks_delete(struct store *st, const char *id,
                               struct err_detail *d) VL_MUST_CHECK;
/* The current secret becomes the previous one, signing until prev_until; secret is the new. */
enum err store_webhooks_rotate(struct store *st, const char *id, const char *secret,
                               int64_t prev_until, int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* Enables (failures back to 0, reason cleared) or disables with reason. */
enum err store_webhooks_set_enabled(struct store *st, const char *id, bool enabled,
                                    const char *reason, int64_t now,
                                    struct err_detail *d) VL_MUST_CHECK;
/* Adds a delivery of body (type webhook.test, message msg_id) to this subscription only. */
enum err store_webhooks_enqueue(struct store *st, const char *id, const char *msg_id,
                                const char *type, const char *body, int64_t now,
                                int64_t *delivery_id, struct err_detail *d) VL_MUST_CHECK;

struct store_delivery {
    int64_t id;
    char *webhook_id;
    char *msg_id;
    int64_t seq; /* 0: not from the event log (webhook.test) */
    char *type;
    char *body;
    char *state;  /* pending succeeded failed */
    bool pending; /* state is pending */
    int64_t attempts;
    int64_t next_at;
    int64_t last_at;
    int64_t last_status; /* 0: no HTTP answer */
    char *last_error;
    int64_t created_at;
    /* filled by store_deliveries_due only: where and how to send */
    char *url;
    char *secret;
    char *prev_secret;
    int64_t prev_until;
};
void store_delivery_clear(struct store_delivery *x);
void store_delivery_list_free(struct store_delivery *list, size_t n);

/* A subscription's deliveries, newest first, with id < before (0: from the newest). */
enum err store_deliveries_list(struct store *st, const char *webhook_id, int64_t before,
                               size_t limit, struct store_delivery **out, size_t *n,
                               struct err_detail *d) VL_MUST_CHECK;
/* Makes a delivery of this subscription pending again, due now, its attempts back to 0.
 * ERR_NOT_FOUND when the subscription has no such delivery. */
enum err store_deliveries_redeliver(struct store *st, const char *webhook_id, int64_t id,
                                    int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* For each enabled subscription, its oldest pending delivery when due at now (so one
 * subscription's messages go out in order), at most limit, earliest due first. */
enum err store_deliveries_due(struct store *st, int64_t now, size_t limit,
                              struct store_delivery **out, size_t *n,
                              struct err_detail *d) VL_MUST_CHECK;

/* Takes a due delivery (as store_deliveries_due read it) for one attempt: its due time moves to
 * until, so no other worker or replica finds it due before then. *claimed false: another one
 * took it first (or it changed meanwhile); leave it. A replica that dies mid-attempt leaves
 * the delivery due again at until: it is sent again then (receivers dedupe by the message id,
 * as Standard Webhooks asks). On SQLite, whose one replica's workers split the subscriptions
 * among them, there is nobody to claim against: *claimed is true and nothing is written, so a
 * restarted replica resends an interrupted delivery at once. */
enum err store_deliveries_claim(struct store *st, const struct store_delivery *x, int64_t until,
                                bool *claimed, struct err_detail *d) VL_MUST_CHECK;

/* One attempt's outcome. ok: the delivery succeeded. Otherwise next_at > 0 schedules the next
 * attempt and 0 ends it failed. The subscription's run of failures is reset on success or
 * counted; at disable_after it is disabled with a reason naming error. *disabled tells. */
struct store_attempt {
    bool ok;
    int64_t status; /* HTTP status, 0 if none */
    const char *error;
    int64_t now;
    int64_t next_at;
    int64_t disable_after;
};
enum err store_deliveries_record(struct store *st, const struct store_delivery *x,
                                 const struct store_attempt *a, bool *disabled,
                                 struct err_detail *d) VL_MUST_CHECK;
/* Pending deliveries to enabled subscriptions and the oldest one's creation time (0: none). */
enum err store_deliveries_pending(struct store *st, int64_t *count, int64_t *oldest_at,
                                  struct err_detail *d) VL_MUST_CHECK;
/* Deletes finished deliveries created before before. */
enum err store_deliveries_trim(struct store *st, int64_t before,
                               struct err_detail *d) VL_MUST_CHECK;

#endif
