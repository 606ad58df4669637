/* store_idempotency.c: the idempotency_keys table. A record is one INSERT with its response,
 * made inside the transaction of the change it answers; an expired record is replaced in the
 * same statement, a live one is never overwritten. There is no "claimed" state to release. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_idempotency.h"

static const char SQL_RECORD[] =
    "INSERT INTO idempotency_keys (caller, key, request_hash, response_status, response_body,"
    " location, created_at, expires_at)"
    " VALUES (:caller, :key, :hash, :status, :body, :location, :now, :expires)"
    " ON CONFLICT (caller, key) DO UPDATE SET request_hash = excluded.request_hash,"
    " response_status = excluded.response_status, response_body = excluded.response_body,"
    " location = excluded.location, created_at = excluded.created_at,"
    " expires_at = excluded.expires_at"
    " WHERE idempotency_keys.expires_at <= :now";
static const char SQL_GET[] = "SELECT request_hash, response_status, response_body, location"
                              " FROM idempotency_keys"
                              " WHERE caller = :caller AND key = :key AND expires_at > :now";

void store_idem_clear(struct store_idem *r)
{
    free(r->request_hash);
    free(r->response_body);
    free(r->location);
    r->request_hash = r->response_body = r->location = NULL;
    r->response_status = 0;
}

enum err store_idem_get(struct store *st, const char *caller, const char *key, int64_t now,
                        struct store_idem *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":caller", caller);
    bind_text(s, ":key", key);
    bind_int64(s, ":now", now);
    e = store_step_one(s, d, "idempotency get");
    if (e != ERR_OK)
        return e;
    out->request_hash = col_text(s, 0);
    out->response_status = (int)col_int64(s, 1);
    out->response_body = col_text(s, 2);
    out->location = col_text(s, 3);
    store_reset(s);
    return ERR_OK;
}

enum err store_idem_record(struct store *st, const char *caller, const char *key,
                           const struct store_idem *r, int64_t now, int64_t expires_at,
                           struct err_detail *d)
{
    struct store_q *s;
    int64_t n = 0;
    enum err e = store_stmt(st, SQL_RECORD, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":caller", caller);
    bind_text(s, ":key", key);
    bind_text(s, ":hash", r->request_hash);
    bind_int64(s, ":status", r->response_status);
    bind_text(s, ":body", r->response_body ? r->response_body : "");
    bind_text(s, ":location", r->location);
    bind_int64(s, ":now", now);
    bind_int64(s, ":expires", expires_at);
    e = store_exec_count(s, &n, d, "idempotency record");
    if (e == ERR_OK && n == 0)
        e = err_set(d, ERR_CONFLICT, "idempotency_in_progress",
                    "another request with this Idempotency-Key answered first");
    return e;
}
