/* store_rate.h: the per-caller rate limit's token buckets in the store (table rate_buckets), for
 * replicas that must share them: on PostgreSQL each caller has one bucket whichever replica its
 * requests reach. The bucket's clock is the database's, the same for every replica. */
#ifndef VMLOGIND_STORE_RATE_H
#define VMLOGIND_STORE_RATE_H

#include "vmlogind/store.h"

/* Takes one token from subject's bucket (burst tokens, refilled at rps per second; a new bucket
 * is full) in one statement. *ok false: empty, and *retry_after_ms says when a token is due.
 * PostgreSQL only (ERR_INTERNAL on SQLite, whose one replica keeps its buckets in memory). */
enum err store_rate_take(struct store *st, const char *subject, double rps, double burst, bool *ok,
                         int64_t *retry_after_ms, struct err_detail *d) VL_MUST_CHECK;
/* Forgets the buckets idle for idle_ms (a full bucket is the same as none). */
enum err store_rate_trim(struct store *st, int64_t idle_ms, struct err_detail *d) VL_MUST_CHECK;

#endif
