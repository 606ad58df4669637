/* store_events.c: reads the bounded event log. The rows are written by the triggers of
 * migrations/0014_events.sql and 0015_webhooks.sql, so every writer feeds it alike; only a
 * change that no table records is written here (store_events_emit), by the one code path that
 * makes it. */
#include <stdlib.h>

#include "store/store_seen.h"
#include "vmlogind/store_events.h"

/* Two subqueries: SQLite answers each min/max from the primary key alone. */
static const char SQL_BOUNDS[] = "SELECT coalesce((SELECT min(seq) FROM events), 0),"
                                 " coalesce((SELECT max(seq) FROM events), 0)";
/* json() refuses data that is not JSON (SQLite also makes it compact); PostgreSQL has the cast,
 * and its text is made compact where it is read (col_json). */
#define SQL_EMIT_WITH(data)                                                                        \
    "INSERT INTO events (at, type, scope, data) VALUES (:at, :type, :scope, " data ")"
static const struct store_sql SQL_EMIT = {.lite = SQL_EMIT_WITH("json(:data)"),
                                          .pg = SQL_EMIT_WITH("CAST(CAST(:data AS json) AS TEXT)")};
static const char SQL_AFTER[] = "SELECT seq, at, type, scope, data FROM events"
                                " WHERE seq > :after ORDER BY seq LIMIT :limit";

void store_event_clear(struct store_event *e)
{
    if (e == NULL)
        return;
    free(e->type);
    free(e->scope);
    free(e->data);
    *e = (struct store_event){0};
}

static void event_clear(void *p)
{
    store_event_clear(p);
}

void store_event_list_free(struct store_event *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_event_clear(&list[i]);
    free(list);
}

static void row_to_event(struct store_q *s, void *p)
{
    struct store_event *e = p;

    e->seq = col_int64(s, 0);
    e->at = col_int64(s, 1);
    e->type = col_text(s, 2);
    e->scope = col_text(s, 3);
    e->data = col_json(s, 4); /* the same bytes on both backends (store_int.h) */
}

enum err store_events_bounds(struct store *st, int64_t *oldest, int64_t *newest,
                             struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_BOUNDS, &s, d);

    *oldest = *newest = 0;
    if (e != ERR_OK)
        return e;
    e = store_step_one(s, d, "event bounds");
    if (e != ERR_OK)
        return e;
    *oldest = col_int64(s, 0);
    *newest = col_int64(s, 1);
    store_reset(s);
    return ERR_OK;
}

enum err store_events_after(struct store *st, int64_t after, size_t limit, struct store_event **out,
                            size_t *n, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_AFTER, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":after", after);
    bind_int64(s, ":limit", (int64_t)limit);
    return store_collect(s, sizeof(**out), row_to_event, event_clear, (void **)out, n, d,
                         "events after");
}

enum err store_events_emit(struct store *st, int64_t at, const char *type, const char *scope,
                           const char *data, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt_sql(st, &SQL_EMIT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":at", at);
    bind_text(s, ":type", type);
    bind_text(s, ":scope", scope);
    bind_text(s, ":data", data);
    return store_exec_stmt(s, d, "event emit");
}
