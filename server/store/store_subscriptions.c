/* store_subscriptions.c: observed subscriptions. Like VMs, an unchanged subscription is not
 * written by a re-sync. */
#include <stdlib.h>

#include "store/store_seen.h"

static const char SQL_UPSERT[] =
    "INSERT INTO subscriptions (id, display_name, state, tenant_id, first_seen_at, changed_at)"
    " VALUES (lower(:id), :display_name, :state, :tenant_id, :now, :now)"
    " ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,"
    " state = excluded.state, tenant_id = excluded.tenant_id, changed_at = excluded.changed_at,"
    " gone_at = NULL"
    " WHERE subscriptions.gone_at IS NOT NULL"
    " OR (subscriptions.display_name, subscriptions.state, subscriptions.tenant_id)"
    " IS DISTINCT FROM (excluded.display_name, excluded.state, excluded.tenant_id)";

enum err store_subscription_upsert(struct store *st, const char *id, const char *display_name,
                                   const char *state, const char *tenant_id, int64_t now,
                                   bool *changed, struct err_detail *d)
{
    struct store_q *s;
    int64_t n = 0;
    enum err e = store_stmt(st, SQL_UPSERT, &s, d);

    if (e == ERR_OK) {
        bind_text(s, ":id", id);
        bind_text_or(s, ":display_name", display_name, "");
        bind_text_or(s, ":state", state, "");
        bind_text_or(s, ":tenant_id", tenant_id, "");
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &n, d, "subscription upsert");
    }
    if (changed != NULL)
        *changed = n > 0;
    return e;
}

static const char SQL_LIST[] = "SELECT id, display_name, state, tenant_id, first_seen_at,"
                               " changed_at, gone_at FROM subscriptions ORDER BY id";
static const char SQL_MARK_GONE[] = "UPDATE subscriptions SET gone_at = :now, changed_at = :now"
                                    " WHERE id = lower(:id) AND gone_at IS NULL";

static void sub_clear(void *p)
{
    struct store_subscription *r = p;

    free(r->id);
    free(r->display_name);
    free(r->state);
    free(r->tenant_id);
}

static void row_to_sub(struct store_q *s, void *p)
{
    struct store_subscription *r = p;

    r->id = col_text(s, 0);
    r->display_name = col_text(s, 1);
    r->state = col_text(s, 2);
    r->tenant_id = col_text(s, 3);
    r->first_seen_at = col_int64(s, 4);
    r->changed_at = col_int64(s, 5);
    r->gone_at = col_int64(s, 6);
}

void store_subscription_list_free(struct store_subscription *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        sub_clear(&list[i]);
    free(list);
}

enum err store_subscription_list(struct store *st, struct store_subscription **out, size_t *n,
                                 struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_LIST, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    return store_collect(s, sizeof(**out), row_to_sub, sub_clear, (void **)out, n, d,
                         "subscription list");
}

enum err store_subscription_mark_gone(struct store *st, const char *id, int64_t now, bool *changed,
                                      struct err_detail *d)
{
    struct store_q *s;
    int64_t n = 0;
    enum err e = store_stmt(st, SQL_MARK_GONE, &s, d);

    if (e == ERR_OK) {
        bind_text(s, ":id", id);
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &n, d, "subscription mark gone");
    }
    if (changed != NULL)
        *changed = n > 0;
    return e;
}
