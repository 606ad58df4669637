/* store_extensions.c: observed VM extensions, from each VM's embedded resources[]. The upsert
 * writes a row only when a fact changed, so a re-sync of an unchanged fleet writes nothing.
 * Which extensions a sync pass saw lives in this connection's TEMP table ext_seen (on
 * PostgreSQL in the thread's in-memory set, store_seen.h: struct store_pg_scratch). Matching
 * the login extension by publisher and type is the callers' business (model.h). */
#include <stdlib.h>

#include "store/store_seen.h"

#define EXT_FACTS                                                                                  \
    "name, publisher, type, type_handler_version, auto_upgrade_minor, provisioning_state,"         \
    " status_code, status_level, status_message"
#define EXT_COLUMNS "vm_key, " EXT_FACTS ", generation, changed_at, gone_at"

static const char SQL_SEEN_CREATE[] =
    "CREATE TEMP TABLE IF NOT EXISTS ext_seen (vm_key TEXT NOT NULL, name_key TEXT NOT NULL,"
    " PRIMARY KEY (vm_key, name_key)) WITHOUT ROWID";
/* WHERE 1: no truncate optimisation, so SQLite counts these rows like store_changes() does */
static const char SQL_SEEN_RESET[] = "DELETE FROM ext_seen WHERE 1";
static const char SQL_SEEN[] = "INSERT INTO ext_seen (vm_key, name_key)"
                               " VALUES (lower(:vm_id), lower(:name)) ON CONFLICT DO NOTHING";
static const char SQL_UPSERT[] =
    "INSERT INTO extensions (vm_key, name_key, " EXT_FACTS ", generation, changed_at)"
    " VALUES (lower(:vm_id), lower(:name), :name, :publisher, :type, :type_handler_version,"
    " :auto_upgrade_minor, :provisioning_state, :status_code, :status_level, :status_message,"
    " 1, :now)"
    " ON CONFLICT (vm_key, name_key) DO UPDATE SET (" EXT_FACTS ") = (excluded.name,"
    " excluded.publisher, excluded.type, excluded.type_handler_version,"
    " excluded.auto_upgrade_minor, excluded.provisioning_state, excluded.status_code,"
    " excluded.status_level, excluded.status_message),"
    " generation = extensions.generation + 1, changed_at = excluded.changed_at, gone_at = NULL"
    " WHERE extensions.gone_at IS NOT NULL"
    " OR (extensions.name, extensions.publisher, extensions.type,"
    " extensions.type_handler_version, extensions.auto_upgrade_minor,"
    " extensions.provisioning_state, extensions.status_code, extensions.status_level,"
    " extensions.status_message) IS DISTINCT FROM (excluded.name, excluded.publisher,"
    " excluded.type, excluded.type_handler_version, excluded.auto_upgrade_minor,"
    " excluded.provisioning_state, excluded.status_code, excluded.status_level,"
    " excluded.status_message)";
/* VM keys of a subscription are the range ['/subscriptions/<s>/', '/subscriptions/<s>0'). */
static const char SQL_MARK_GONE[] =
    "UPDATE extensions SET gone_at = :now, changed_at = :now, generation = generation + 1"
    " WHERE vm_key > '/subscriptions/' || lower(:sub) || '/'"
    " AND vm_key < '/subscriptions/' || lower(:sub) || '0' AND gone_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM ext_seen s"
    " WHERE s.vm_key = extensions.vm_key AND s.name_key = extensions.name_key)";
/* PostgreSQL: the present extensions of the subscription's VMs, keyed as in the seen set
 * (store_pg_scratch_ext_key), and the one that marks such a key gone. */
static const char SQL_PRESENT_PG[] =
    "SELECT vm_key || chr(10) || name_key FROM extensions"
    " WHERE vm_key > '/subscriptions/' || lower(:sub) || '/'"
    " AND vm_key < '/subscriptions/' || lower(:sub) || '0' AND gone_at IS NULL";
static const char SQL_MARK_ONE_PG[] =
    "UPDATE extensions SET gone_at = :now, changed_at = :now, generation = generation + 1"
    " WHERE vm_key = split_part(CAST(:id_key AS text), chr(10), 1)"
    " AND name_key = split_part(CAST(:id_key AS text), chr(10), 2) AND gone_at IS NULL";
static const char SQL_OF_VM[] = "SELECT " EXT_COLUMNS " FROM extensions"
                                " WHERE vm_key = lower(:vm_id) AND gone_at IS NULL"
                                " ORDER BY name_key";
static const char SQL_BY_TYPE[] =
    "SELECT " EXT_COLUMNS " FROM extensions"
    " WHERE lower(publisher) = lower(:publisher) AND lower(type) = lower(:type)"
    " AND vm_key >= :from AND vm_key <= :to AND gone_at IS NULL ORDER BY vm_key";

static void ext_clear(void *p)
{
    store_extension_clear(p);
}

static void row_to_ext(struct store_q *s, void *p)
{
    struct store_extension *e = p;

    e->vm_key = col_text(s, 0);
    e->name = col_text(s, 1);
    e->publisher = col_text(s, 2);
    e->type = col_text(s, 3);
    e->type_handler_version = col_text(s, 4);
    e->auto_upgrade_minor = col_int64(s, 5) != 0;
    e->provisioning_state = col_text(s, 6);
    e->status_code = col_text(s, 7);
    e->status_level = col_text(s, 8);
    e->status_message = col_text(s, 9);
    e->generation = col_int64(s, 10);
    e->changed_at = col_int64(s, 11);
    e->gone_at = col_int64(s, 12);
}

void store_extension_clear(struct store_extension *e)
{
    if (e == NULL)
        return;
    free(e->vm_key);
    free(e->name);
    free(e->publisher);
    free(e->type);
    free(e->type_handler_version);
    free(e->provisioning_state);
    free(e->status_code);
    free(e->status_level);
    free(e->status_message);
    *e = (struct store_extension){0};
}

void store_extension_list_free(struct store_extension *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_extension_clear(&list[i]);
    free(list);
}

enum err store_extensions_sync_begin(struct store *st, struct err_detail *d)
{
    struct store_pg_scratch *pg;

    if (store_pg_pool(st) == NULL)
        return store_seen_reset(st, SQL_SEEN_CREATE, SQL_SEEN_RESET, d);
    pg = store_pg_scratch(st, d);
    if (pg == NULL)
        return ERR_STORE;
    store_seen_free(pg->exts);
    pg->exts = store_seen_new();
    return ERR_OK;
}

/* Records that the pass saw x: a row of ext_seen on SQLite (seen: its statement), a key of the
 * thread's set on PostgreSQL (seen: NULL). */
static enum err saw(struct store *st, struct store_q *seen, const struct store_extension_facts *x,
                    struct err_detail *d)
{
    struct store_pg_scratch *pg;
    char *key;

    if (seen != NULL) {
        bind_text(seen, ":vm_id", x->vm_id);
        bind_text(seen, ":name", x->name);
        return store_seen_step(st, seen, d);
    }
    pg = store_pg_scratch(st, d);
    if (pg == NULL)
        return ERR_STORE;
    key = store_pg_scratch_ext_key(x->vm_id, x->name);
    seen_set_add(pg->exts, key);
    free(key);
    return ERR_OK;
}

static void bind_facts(struct store_q *s, const struct store_extension_facts *x, int64_t now)
{
    bind_text(s, ":vm_id", x->vm_id);
    bind_text(s, ":name", x->name);
    bind_text_or(s, ":publisher", x->publisher, "");
    bind_text_or(s, ":type", x->type, "");
    bind_text_or(s, ":type_handler_version", x->type_handler_version, "");
    bind_int64(s, ":auto_upgrade_minor", x->auto_upgrade_minor);
    bind_text_or(s, ":provisioning_state", x->provisioning_state, "");
    bind_text_or(s, ":status_code", x->status_code, "");
    bind_text_or(s, ":status_level", x->status_level, "");
    bind_text_or(s, ":status_message", x->status_message, "");
    bind_int64(s, ":now", now);
}

static enum err upsert_all(struct store *st, const void *items, size_t n, int64_t now,
                           size_t *changed, struct err_detail *d)
{
    const struct store_extension_facts *x = items;
    struct store_q *up;
    struct store_q *seen = NULL;
    int64_t c;
    enum err e = store_stmt(st, SQL_UPSERT, &up, d);

    if (e == ERR_OK && store_pg_pool(st) == NULL)
        e = store_stmt(st, SQL_SEEN, &seen, d);
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        if (x[i].vm_id == NULL || x[i].name == NULL)
            return err_set(d, ERR_INVALID, "invalid", "extension %zu has no VM id or name", i);
        bind_facts(up, &x[i], now);
        e = store_exec_count(up, &c, d, "extension upsert");
        *changed += (size_t)c;
        if (e != ERR_OK)
            break;
        e = saw(st, seen, &x[i], d);
    }
    return e;
}

enum err store_extensions_upsert(struct store *st, const struct store_extension_facts *e, size_t n,
                                 int64_t now, size_t *changed, struct err_detail *d)
{
    return store_batch(st, upsert_all, e, n, now, changed, d);
}

/* PostgreSQL: the present extensions the thread's set has not seen, marked one by one. */
static enum err mark_gone_pg(struct store *st, const char *subscription_id, int64_t now,
                             size_t *gone, struct err_detail *d)
{
    struct store_pg_scratch *pg = store_pg_scratch(st, d);
    struct store_q *s;
    enum err e = pg != NULL ? store_stmt(st, SQL_PRESENT_PG, &s, d) : ERR_STORE;

    if (gone != NULL)
        *gone = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":sub", subscription_id);
    return seen_set_mark_unseen(st, pg->exts, s, SQL_MARK_ONE_PG, now, gone, d,
                                "extension mark gone");
}

enum err store_extensions_mark_gone(struct store *st, const char *subscription_id, int64_t now,
                                    size_t *gone, struct err_detail *d)
{
    struct store_q *s;
    int64_t n = 0;
    enum err e;

    if (store_pg_pool(st) != NULL)
        return mark_gone_pg(st, subscription_id, now, gone, d);
    e = store_stmt(st, SQL_MARK_GONE, &s, d);

    if (e == ERR_OK) {
        bind_text(s, ":sub", subscription_id);
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &n, d, "extension mark gone");
    }
    if (gone != NULL)
        *gone = (size_t)n;
    return e;
}

enum err store_extensions_of_vm(struct store *st, const char *vm_id, struct store_extension **out,
                                size_t *n, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_OF_VM, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm_id", vm_id);
    return store_collect(s, sizeof(**out), row_to_ext, ext_clear, (void **)out, n, d,
                         "extensions of vm");
}

enum err store_extensions_by_type(struct store *st, const char *publisher, const char *type,
                                  const char *from_key, const char *to_key,
                                  struct store_extension **out, size_t *n, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_BY_TYPE, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":publisher", publisher);
    bind_text(s, ":type", type);
    bind_text(s, ":from", from_key);
    bind_text(s, ":to", to_key);
    return store_collect(s, sizeof(**out), row_to_ext, ext_clear, (void **)out, n, d,
                         "extensions by type");
}
