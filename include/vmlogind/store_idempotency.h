/* store_idempotency.h: Idempotency-Key records for POST requests (DESIGN §4): the first
 * request with a key claims it, later ones with the same key and body get its response. */
#ifndef VMLOGIND_STORE_IDEMPOTENCY_H
#define VMLOGIND_STORE_IDEMPOTENCY_H

#include "vmlogind/store.h"

struct store_idem {
    char *request_hash;
    int response_status; /* 0 while the first request is still running */
    char *response_body;
    char *location;
};
void store_idem_clear(struct store_idem *r);

/* Claims (caller, key) for a request whose hash is request_hash, until expires_at (a short
 * lease: a claim whose request never finishes, because its process died, frees itself).
 * ERR_OK: claimed, run the request. ERR_CONFLICT: the key is taken; *existing (filled) says by
 * what (same hash with a response: replay it; same hash without one: still running; another
 * hash: the key was reused for a different request). Expired claims are replaced. */
enum err store_idem_claim(struct store *st, const char *caller, const char *key,
                          const char *request_hash, int64_t now, int64_t expires_at,
                          struct store_idem *existing, struct err_detail *d) VL_MUST_CHECK;
/* Records the response of a claimed key, kept until expires_at. A record already finished
 * is left as it is. */
enum err store_idem_finish(struct store *st, const char *caller, const char *key, int status,
                           const char *body, const char *location, int64_t expires_at,
                           struct err_detail *d) VL_MUST_CHECK;
/* Forgets an unfinished claim (the request failed in a way a retry may fix). */
enum err store_idem_release(struct store *st, const char *caller, const char *key,
                            struct err_detail *d) VL_MUST_CHECK;
/* Forgets every unfinished claim: at start, before serving, their requests died with the
 * previous process (one vmlogind per SQLite database). *released: how many. */
enum err store_idem_release_unfinished(struct store *st, int64_t *released,
                                       struct err_detail *d) VL_MUST_CHECK;

#endif
