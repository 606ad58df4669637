/* store_identity_limits.c: scopes and grant limits that hold an Entra caller (a JWT subject),
 * the counterpart of an API key's own columns. Read once per request of such a caller, by
 * primary key; judging them belongs to auth/. */
#include <stdlib.h>

#include "store/store_int.h"
#include "store/store_seen.h"
#include "vmlogind/xalloc.h"

#define LIMIT_COLUMNS "subject, scopes, grant_limits, created_by, updated_at"

static const char SQL_PUT[] =
    "INSERT INTO identity_limits (" LIMIT_COLUMNS ") VALUES (lower(:subject),"
    " coalesce(:scopes, '[]'), coalesce(:grant_limits, '{}'), coalesce(:created_by, ''), :now)"
    " ON CONFLICT (subject) DO UPDATE SET scopes = excluded.scopes,"
    " grant_limits = excluded.grant_limits, created_by = excluded.created_by,"
    " updated_at = excluded.updated_at";
static const char SQL_GET[] =
    "SELECT " LIMIT_COLUMNS " FROM identity_limits WHERE subject = lower(:subject)";
static const char SQL_LIST[] = "SELECT " LIMIT_COLUMNS " FROM identity_limits ORDER BY subject";
static const char SQL_DELETE[] = "DELETE FROM identity_limits WHERE subject = lower(:subject)";

static void row_to_limits(struct store_q *s, void *out)
{
    struct store_identity_limits *l = out;

    l->subject = col_text(s, 0);
    l->scopes = col_text(s, 1);
    l->grant_limits = col_text(s, 2);
    l->created_by = col_text(s, 3);
    l->updated_at = col_int64(s, 4);
}

void store_identity_limits_clear(struct store_identity_limits *l)
{
    if (l == NULL)
        return;
    free(l->subject);
    free(l->scopes);
    free(l->grant_limits);
    free(l->created_by);
    *l = (struct store_identity_limits){0};
}

void store_identity_limits_list_free(struct store_identity_limits *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_identity_limits_clear(&list[i]);
    free(list);
}

enum err store_identity_limits_put(struct store *st, const struct store_identity_limits *l,
                                   int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PUT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":subject", l->subject);
    bind_text(s, ":scopes", l->scopes);
    bind_text(s, ":grant_limits", l->grant_limits);
    bind_text(s, ":created_by", l->created_by);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "identity limits put");
}

enum err store_identity_limits_get(struct store *st, const char *subject,
                                   struct store_identity_limits *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_identity_limits){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":subject", subject);
    e = store_step_one(s, d, "identity limits");
    if (e != ERR_OK)
        return e;
    row_to_limits(s, out);
    store_reset(s);
    return ERR_OK;
}

static void clear_limits(void *l)
{
    store_identity_limits_clear(l);
}

enum err store_identity_limits_list(struct store *st, struct store_identity_limits **out, size_t *n,
                                    struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_LIST, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    return store_collect(s, sizeof(**out), row_to_limits, clear_limits, (void **)out, n, d,
                         "identity limits list");
}

enum err store_identity_limits_delete(struct store *st, const char *subject, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_DELETE, &s, d);
    int64_t changed;

    if (e != ERR_OK)
        return e;
    bind_text(s, ":subject", subject);
    e = store_exec_count(s, &changed, d, "identity limits delete");
    if (e == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "not_found", "no limits for that identity");
    return e;
}
