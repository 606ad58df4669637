/* store_sync.c: the inventory sync's own bookkeeping: one sync_runs row per run, its progress
 * while it runs and its result after. These rows are the only ones a sync with nothing new
 * writes; the observed tables stay untouched. */
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"
#include "vmlogind/model_states.h"

#define STORE_SYNC_CACHE_KIB "12288" /* 12 MiB */

#define RUN_COUNTS                                                                                 \
    "subscriptions, vms_seen, vms_changed, vms_gone, extensions_seen, extensions_changed,"         \
    " extensions_gone, assignments_seen, assignments_changed, assignments_gone,"                   \
    " principals_seen, principals_changed, members_changed, rows_written, errors"

static const char SQL_START[] =
    "INSERT INTO sync_runs (state, started_at) VALUES ('running', :started_at) RETURNING id";
static const char SQL_INTERRUPTED[] =
    "UPDATE sync_runs SET state = 'failed', finished_at = :now, last_error = 'interrupted'"
    " WHERE state = 'running'";
static const char SQL_PRUNE[] = "DELETE FROM sync_runs WHERE id <= CAST(:id AS BIGINT) - 100";
static const char SQL_UPDATE[] =
    "UPDATE sync_runs SET state = :state, finished_at = :finished_at, (" RUN_COUNTS ") ="
    " (:subscriptions, :vms_seen, :vms_changed, :vms_gone, :extensions_seen,"
    " :extensions_changed, :extensions_gone, :assignments_seen, :assignments_changed,"
    " :assignments_gone, :principals_seen, :principals_changed, :members_changed,"
    " :rows_written, :errors), last_error = :last_error WHERE id = :id";
static const char SQL_LATEST[] = "SELECT id, state, started_at, finished_at, " RUN_COUNTS
                                 ", last_error FROM sync_runs ORDER BY id DESC LIMIT 1";
static const char SQL_LAST_DONE[] = "SELECT id, state, started_at, finished_at, " RUN_COUNTS
                                    ", last_error FROM sync_runs WHERE state <> 'running'"
                                    " ORDER BY id DESC LIMIT 1";

/* A pass writes pages of rows with random keys into five b-trees (table, primary key, three
 * indexes): with the connection's usual 2 MiB cache a transaction spills and every commit
 * rewrites most index pages to the WAL. The pass gets a larger cache; after it the cache is
 * set back and its memory freed (DESIGN §8: private memory). */
static const char SQL_CACHE_PASS[] = "PRAGMA cache_size = -" STORE_SYNC_CACHE_KIB;
static const char SQL_CACHE_IDLE[] = "PRAGMA cache_size = -2048"; /* store.c's, per connection */
static const char SQL_SHRINK[] = "PRAGMA shrink_memory";
/* Every commit of a pass rewrites most index pages to the WAL (random keys), and the default
 * checkpoint every 1000 pages (4 MiB) then copies the same pages back to the database again
 * and again. During a pass this connection checkpoints every 16384 pages (64 MiB of WAL, on
 * disk, not in memory) instead, so a page is copied back once per 64 MiB; after it, back to
 * SQLite's default, and what the pass left in the WAL is copied back at once (pages read
 * from the WAL go through each connection's private cache, pages of the database file are
 * mapped; a start after a crash reads the whole WAL). Durability is unchanged: a commit is in
 * the WAL either way. */
static const char SQL_CKPT_PASS[] = "PRAGMA wal_autocheckpoint = 16384";
static const char SQL_CKPT_IDLE[] = "PRAGMA wal_autocheckpoint = 1000";
static const char SQL_CKPT_NOW[] = "PRAGMA wal_checkpoint(PASSIVE)";

/* SQLite only: PostgreSQL keeps its own cache and checkpoints (and a failed statement would
 * abort the transaction it ran in). */
static void pragma(struct store *st, const char *sql)
{
    struct store_q *s;
    struct err_detail d;

    if (store_pg_pool(st) != NULL || store_stmt(st, sql, &s, &d) != ERR_OK)
        return; /* only a cache size: the pass works without it */
    while (store_step(s) == STORE_ROW)
        continue;
    store_reset(s);
}

void store_sync_cache_begin(struct store *st)
{
    pragma(st, SQL_CACHE_PASS);
    pragma(st, SQL_CKPT_PASS);
}

void store_sync_cache_end(struct store *st)
{
    pragma(st, SQL_CKPT_IDLE);
    pragma(st, SQL_CKPT_NOW);
    pragma(st, SQL_CACHE_IDLE);
    pragma(st, SQL_SHRINK);
}

/* The counters in RUN_COUNTS order. */
static int64_t *count_at(struct store_sync_run *r, int i)
{
    int64_t *c[] = {&r->subscriptions,    &r->vms_seen,         &r->vms_changed,
                    &r->vms_gone,         &r->extensions_seen,  &r->extensions_changed,
                    &r->extensions_gone,  &r->assignments_seen, &r->assignments_changed,
                    &r->assignments_gone, &r->principals_seen,  &r->principals_changed,
                    &r->members_changed,  &r->rows_written,     &r->errors};
    return c[i];
}
#define RUN_NCOUNTS 15
static const char *const count_params[RUN_NCOUNTS] = {
    ":subscriptions",       ":vms_seen",           ":vms_changed",     ":vms_gone",
    ":extensions_seen",     ":extensions_changed", ":extensions_gone", ":assignments_seen",
    ":assignments_changed", ":assignments_gone",   ":principals_seen", ":principals_changed",
    ":members_changed",     ":rows_written",       ":errors"};

enum err store_sync_run_start(struct store *st, struct store_sync_run *r, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    struct store_q *s;
    enum err e = c != NULL ? store_stmt(st, SQL_INTERRUPTED, &s, d) : ERR_STORE;

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":now", r->started_at);
    e = store_exec_stmt(s, d, "sync run interrupted");
    if (e == ERR_OK)
        e = store_stmt(st, SQL_START, &s, d);
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":started_at", r->started_at);
    e = store_step_one(s, d, "sync run start");
    if (e != ERR_OK)
        return e;
    r->id = col_int64(s, 0); /* RETURNING: SQLite 3.35+, PostgreSQL alike */
    store_reset(s);
    (void)snprintf(r->state, sizeof(r->state), "%s", sync_state_str(SYNC_STATE_RUNNING));
    e = store_stmt(st, SQL_PRUNE, &s, d);
    if (e == ERR_OK) {
        bind_int64(s, ":id", r->id);
        e = store_exec_stmt(s, d, "sync run prune");
    }
    return e;
}

enum err store_sync_run_update(struct store *st, const struct store_sync_run *r,
                               struct err_detail *d)
{
    struct store_sync_run copy = *r;
    struct store_q *s;
    enum err e = store_stmt(st, SQL_UPDATE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":id", r->id);
    bind_text(s, ":state", r->state);
    bind_time(s, ":finished_at", r->finished_at);
    for (int i = 0; i < RUN_NCOUNTS; i++)
        bind_int64(s, count_params[i], *count_at(&copy, i));
    bind_text(s, ":last_error", r->last_error[0] != '\0' ? r->last_error : NULL);
    return store_exec_stmt(s, d, "sync run update");
}

static void row_to_run(struct store_q *s, struct store_sync_run *r)
{
    const char *t;

    *r = (struct store_sync_run){0};
    r->id = col_int64(s, 0);
    t = col_view(s, 1);
    (void)snprintf(r->state, sizeof(r->state), "%s", t != NULL ? t : "");
    r->started_at = col_int64(s, 2);
    r->finished_at = col_int64(s, 3);
    for (int i = 0; i < RUN_NCOUNTS; i++)
        *count_at(r, i) = col_int64(s, 4 + i);
    t = col_view(s, 4 + RUN_NCOUNTS);
    (void)snprintf(r->last_error, sizeof(r->last_error), "%s", t != NULL ? t : "");
}

static enum err read_one(struct store *st, const char *sql, struct store_sync_run *out,
                         struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    *out = (struct store_sync_run){0};
    if (e == ERR_OK)
        e = store_step_one(s, d, "sync run");
    if (e != ERR_OK)
        return e;
    row_to_run(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_sync_run_latest(struct store *st, struct store_sync_run *latest,
                               struct store_sync_run *last_done, struct err_detail *d)
{
    enum err e = read_one(st, SQL_LATEST, latest, d);

    if (e != ERR_OK) {
        *last_done = (struct store_sync_run){0};
        return e;
    }
    e = read_one(st, SQL_LAST_DONE, last_done, d);
    return e == ERR_NOT_FOUND ? ERR_OK : e;
}
