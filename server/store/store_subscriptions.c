/* store_subscriptions.c: observed subscriptions. Like VMs, an unchanged subscription is not
 * written by a re-sync. */
#include "store/store_int.h"

static const char SQL_UPSERT[] =
    "INSERT INTO subscriptions (id, display_name, state, tenant_id, first_seen_at, changed_at)"
    " VALUES (lower(:id), :display_name, :state, :tenant_id, :now, :now)"
    " ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,"
    " state = excluded.state, tenant_id = excluded.tenant_id, changed_at = excluded.changed_at,"
    " gone_at = NULL"
    " WHERE subscriptions.gone_at IS NOT NULL"
    " OR (subscriptions.display_name, subscriptions.state, subscriptions.tenant_id)"
    " IS NOT (excluded.display_name, excluded.state, excluded.tenant_id)";

enum err store_subscription_upsert(struct store *st, const char *id, const char *display_name,
                                   const char *state, const char *tenant_id, int64_t now,
                                   bool *changed, struct err_detail *d)
{
    sqlite3_stmt *s;
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
