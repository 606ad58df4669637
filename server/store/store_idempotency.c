/* store_idempotency.c: the idempotency_keys table. A claim is one INSERT that either wins or
 * shows the row that holds the key; expired rows are replaced in the same statement. While
 * its request runs a claim expires after a short lease; finishing sets the record's real
 * expiry. A finished record is never overwritten or released by a late finisher. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_idempotency.h"

static const char SQL_CLAIM[] =
    "INSERT INTO idempotency_keys (caller, key, request_hash, created_at, expires_at)"
    " VALUES (:caller, :key, :hash, :now, :expires)"
    " ON CONFLICT (caller, key) DO UPDATE SET request_hash = excluded.request_hash,"
    " response_status = NULL, response_body = NULL, location = NULL,"
    " created_at = excluded.created_at, expires_at = excluded.expires_at"
    " WHERE idempotency_keys.expires_at <= :now";
static const char SQL_GET[] = "SELECT request_hash, response_status, response_body, location"
                              " FROM idempotency_keys WHERE caller = :caller AND key = :key";
static const char SQL_FINISH[] =
    "UPDATE idempotency_keys SET response_status = :status, response_body = :body,"
    " location = :location, expires_at = :expires"
    " WHERE caller = :caller AND key = :key AND response_status IS NULL";
static const char SQL_RELEASE[] =
    "DELETE FROM idempotency_keys"
    " WHERE caller = :caller AND key = :key AND response_status IS NULL";
static const char SQL_RELEASE_UNFINISHED[] =
    "DELETE FROM idempotency_keys WHERE response_status IS NULL";

void store_idem_clear(struct store_idem *r)
{
    free(r->request_hash);
    free(r->response_body);
    free(r->location);
    r->request_hash = r->response_body = r->location = NULL;
    r->response_status = 0;
}

enum err store_idem_claim(struct store *st, const char *caller, const char *key,
                          const char *request_hash, int64_t now, int64_t expires_at,
                          struct store_idem *existing, struct err_detail *d)
{
    sqlite3_stmt *s;
    int64_t n = 0;
    enum err e = store_stmt(st, SQL_CLAIM, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":caller", caller);
    bind_text(s, ":key", key);
    bind_text(s, ":hash", request_hash);
    bind_int64(s, ":now", now);
    bind_int64(s, ":expires", expires_at);
    e = store_exec_count(s, &n, d, "idempotency claim");
    if (e != ERR_OK || n > 0)
        return e;
    e = store_stmt(st, SQL_GET, &s, d);
    if (e != ERR_OK)
        return e;
    bind_text(s, ":caller", caller);
    bind_text(s, ":key", key);
    e = store_step_one(s, d, "idempotency get");
    if (e != ERR_OK)
        return e;
    existing->request_hash = col_text(s, 0);
    existing->response_status = (int)col_int64(s, 1);
    existing->response_body = col_text(s, 2);
    existing->location = col_text(s, 3);
    sqlite3_reset(s);
    return ERR_CONFLICT;
}

enum err store_idem_finish(struct store *st, const char *caller, const char *key, int status,
                           const char *body, const char *location, int64_t expires_at,
                           struct err_detail *d)
{
    sqlite3_stmt *s;
    enum err e = store_stmt(st, SQL_FINISH, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":caller", caller);
    bind_text(s, ":key", key);
    bind_int64(s, ":status", status);
    bind_text(s, ":body", body);
    bind_text(s, ":location", location);
    bind_int64(s, ":expires", expires_at);
    return store_exec_stmt(s, d, "idempotency finish");
}

enum err store_idem_release(struct store *st, const char *caller, const char *key,
                            struct err_detail *d)
{
    sqlite3_stmt *s;
    enum err e = store_stmt(st, SQL_RELEASE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":caller", caller);
    bind_text(s, ":key", key);
    return store_exec_stmt(s, d, "idempotency release");
}

enum err store_idem_release_unfinished(struct store *st, int64_t *released, struct err_detail *d)
{
    sqlite3_stmt *s;
    enum err e = store_stmt(st, SQL_RELEASE_UNFINISHED, &s, d);

    *released = 0;
    if (e != ERR_OK)
        return e;
    return store_exec_count(s, released, d, "idempotency release unfinished");
}
