/* store_api_keys.c: API clients (DESIGN section 6). Only a key's SHA-256 is stored; making,
 * hashing and checking keys and permissions belongs to auth/. */
#include <stdlib.h>

#include "store/store_int.h"
#include "store/store_seen.h"
#include "vmlogind/xalloc.h"

#define KEY_COLUMNS                                                                                \
    "id, name, role, scopes, grant_limits, key_hash, created_by, created_at, revoked_at,"          \
    " last_used_at"
#define TOUCH_EVERY_MS 60000

static const char SQL_INSERT[] =
    "INSERT INTO api_keys (" KEY_COLUMNS ") VALUES (:id, :name, :role,"
    " coalesce(:scopes, '[]'), coalesce(:grant_limits, '{}'), :key_hash,"
    " coalesce(:created_by, ''), :created_at, NULL, NULL)";
static const char SQL_BY_HASH[] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE key_hash = :hash";
static const char SQL_BY_ID[] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = :id";
static const char SQL_LIST[] = "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY created_at, id";
static const char SQL_REVOKE[] =
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, :now) WHERE id = :id";
static const char SQL_TOUCH[] =
    "UPDATE api_keys SET last_used_at = :now"
    " WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= CAST(:now AS BIGINT) - :every)";

static void row_to_api_key(struct store_q *s, void *out)
{
    struct store_api_key *k = out;

    k->id = col_text(s, 0);
    k->name = col_text(s, 1);
    k->role = col_text(s, 2);
    k->scopes = col_text(s, 3);
    k->grant_limits = col_text(s, 4);
    k->key_hash = col_text(s, 5);
    k->created_by = col_text(s, 6);
    k->created_at = col_int64(s, 7);
    k->revoked_at = col_int64(s, 8);
    k->last_used_at = col_int64(s, 9);
}

void store_api_key_clear(struct store_api_key *k)
{
    if (k == NULL)
        return;
    free(k->id);
    free(k->name);
    free(k->role);
    free(k->scopes);
    free(k->grant_limits);
    free(k->key_hash);
    free(k->created_by);
    *k = (struct store_api_key){0};
}

void store_api_key_list_free(struct store_api_key *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_api_key_clear(&list[i]);
    free(list);
}

enum err store_api_key_insert(struct store *st, const struct store_api_key *k, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_INSERT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", k->id);
    bind_text(s, ":name", k->name);
    bind_text(s, ":role", k->role);
    bind_text(s, ":scopes", k->scopes);
    bind_text(s, ":grant_limits", k->grant_limits);
    bind_text(s, ":key_hash", k->key_hash);
    bind_text(s, ":created_by", k->created_by);
    bind_int64(s, ":created_at", k->created_at);
    return store_exec_stmt(s, d, "api key insert");
}

static enum err one_key(struct store_q *s, struct store_api_key *out, struct err_detail *d)
{
    enum err e = store_step_one(s, d, "api key");

    if (e != ERR_OK)
        return e;
    row_to_api_key(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_api_key_find_by_hash(struct store *st, const char *key_hash,
                                    struct store_api_key *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_BY_HASH, &s, d);

    *out = (struct store_api_key){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":hash", key_hash);
    return one_key(s, out, d);
}

enum err store_api_key_get(struct store *st, const char *id, struct store_api_key *out,
                           struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_BY_ID, &s, d);

    *out = (struct store_api_key){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    return one_key(s, out, d);
}

static void clear_key(void *k)
{
    store_api_key_clear(k);
}

enum err store_api_key_list(struct store *st, struct store_api_key **out, size_t *n,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_LIST, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    return store_collect(s, sizeof(**out), row_to_api_key, clear_key, (void **)out, n, d,
                         "api key list");
}

enum err store_api_key_revoke(struct store *st, const char *id, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_REVOKE, &s, d);
    int64_t changed;

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &changed, d, "api key revoke");
    if (e == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "not_found", "no such API key");
    return e;
}

enum err store_api_key_touch(struct store *st, const char *id, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt_apart(st, SQL_TOUCH, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    bind_int64(s, ":now", now);
    bind_int64(s, ":every", TOUCH_EVERY_MS);
    return store_exec_stmt(s, d, "api key touch");
}
