/* store_idempotency.h: Idempotency-Key records for POST requests (DESIGN §4). A record is
 * written with its response, in the same transaction as the change it answers (the api write
 * runner), so no record ever says "still running": a crash leaves either both or neither. */
#ifndef VMLOGIND_STORE_IDEMPOTENCY_H
#define VMLOGIND_STORE_IDEMPOTENCY_H

#include "vmlogind/store.h"

struct store_idem {
    char *request_hash;
    int response_status;
    char *response_body;
    char *location;
};
void store_idem_clear(struct store_idem *r);

/* The live (unexpired at now) record of (caller, key) into *out (owned: store_idem_clear).
 * ERR_NOT_FOUND when there is none. */
enum err store_idem_get(struct store *st, const char *caller, const char *key, int64_t now,
                        struct store_idem *out, struct err_detail *d) VL_MUST_CHECK;
/* Records the response r (request_hash, status, body, location) of (caller, key), kept until
 * expires_at; an expired record is replaced. ERR_CONFLICT when a live record holds the key. */
enum err store_idem_record(struct store *st, const char *caller, const char *key,
                           const struct store_idem *r, int64_t now, int64_t expires_at,
                           struct err_detail *d) VL_MUST_CHECK;

#endif
