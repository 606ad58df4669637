/* store_rate.h: the per-caller rate limit's token buckets in the store (table rate_buckets), for
 * replicas that must share them: on PostgreSQL each caller has one bucket whichever replica its
 * requests reach. The bucket's clock is the database's, the same for every replica. */
#ifndef VMLOGIND_STORE_RATE_H
#define VMLOGIND_STORE_RATE_H

#include "vmlogind/store.h"

/* Takes up to want tokens (1 to burst) from subject's bucket (burst tokens, refilled at rps per
 * second; a new bucket is full) in one statement: *taken is how many, whole ones, 0 when the
 * bucket holds less than one token, and then *retry_after_ms says when one is due. PostgreSQL
 * only (ERR_INTERNAL on SQLite, whose one replica keeps its buckets in memory). */
enum err store_rate_take(struct store *st, const char *subject, double rps, double burst,
                         int64_t want, int64_t *taken, int64_t *retry_after_ms,
                         struct err_detail *d) VL_MUST_CHECK;
/* Forgets the buckets idle for idle_ms (a full bucket is the same as none). */
enum err store_rate_trim(struct store *st, int64_t idle_ms, struct err_detail *d) VL_MUST_CHECK;

#endif
