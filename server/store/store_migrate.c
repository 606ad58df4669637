/* store_migrate.c: brings the schema up to the embedded migrations, each one in its own
 * BEGIN IMMEDIATE ... COMMIT, recorded in schema_migrations and PRAGMA user_version. It never
 * edits or reverts an applied migration, and refuses a database newer than the binary. */
#include <stdio.h>
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_pg.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"

/* Created inside the first migration's transaction, so a failed first migration leaves an
 * empty file truly empty. */
static const char SQL_MIGRATIONS_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                           " version INTEGER PRIMARY KEY,"
                                           " name TEXT NOT NULL,"
                                           " applied_at INTEGER NOT NULL"
                                           ") STRICT";
static const char SQL_RECORD[] = "INSERT INTO schema_migrations (version, name, applied_at)"
                                 " VALUES (:version, :name, :applied_at)";
static const char SQL_USER_VERSION[] = "PRAGMA user_version";

enum err store_schema_version(struct store *st, int *version, struct err_detail *d)
{
    struct store_q *s;
    enum err e;
    int rc;

    *version = 0;
    if (store_pg_pool(st) != NULL)
        return store_pg_schema_version(store_pg_pool(st), version, d);
    e = store_stmt(st, SQL_USER_VERSION, &s, d);
    if (e != ERR_OK)
        return e;
    rc = store_step(s);
    if (rc != STORE_ROW)
        return store_fail(s, rc, d, "read user_version");
    *version = (int)col_int64(s, 0);
    store_reset(s);
    return ERR_OK;
}

bool store_is_ready(struct store *st)
{
    int v;

    if (st == NULL || store_migrations_count == 0)
        return false;
    if (store_schema_version(st, &v, NULL) != ERR_OK)
        return false;
    return v == store_migrations[store_migrations_count - 1].version;
}

static int count_rows(void *arg, int ncol, char **vals, char **names)
{
    (void)ncol;
    (void)vals;
    (void)names;
    (*(int *)arg)++;
    return 0;
}

/* Runs one migration's SQL and its bookkeeping inside the open transaction. */
static enum err apply_one(struct store *st, sqlite3 *db, const struct store_migration *m,
                          struct err_detail *d)
{
    char pragma[64];
    char *msg = NULL;
    struct store_q *s;
    enum err e;
    int fk_violations = 0;

    if (sqlite3_exec(db, SQL_MIGRATIONS_TABLE, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(d, ERR_STORE, "migration_failed", "migration %s failed: %s", m->name,
                msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return ERR_STORE;
    }
    if (sqlite3_exec(db, "PRAGMA foreign_key_check", count_rows, &fk_violations, &msg) !=
            SQLITE_OK ||
        fk_violations > 0) {
        err_set(d, ERR_STORE, "migration_failed", "migration %s failed: %s", m->name,
                msg ? msg : "it leaves rows violating foreign keys");
        sqlite3_free(msg);
        return ERR_STORE;
    }
    e = store_stmt(st, SQL_RECORD, &s, d);
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":version", m->version);
    bind_text(s, ":name", m->name);
    bind_int64(s, ":applied_at", clock_now_ms());
    e = store_exec_stmt(s, d, "record migration");
    if (e != ERR_OK)
        return e;
    /* PRAGMA takes no bound parameters; the value is an int from the embedded table. */
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
    if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(d, ERR_STORE, "migration_failed", "migration %s: %s", m->name, msg);
        sqlite3_free(msg);
        return ERR_STORE;
    }
    return ERR_OK;
}

enum err store_migrations_check(const struct store_migration *list, int n, struct err_detail *d)
{
    for (int i = 0; i < n; i++) {
        if (list[i].version <= 0 || (i > 0 && list[i].version <= list[i - 1].version))
            return err_set(d, ERR_INTERNAL, "migration_order",
                           "migration %s: versions must be positive and increasing", list[i].name);
    }
    return ERR_OK;
}

enum err store_migrate_with(struct store *st, const struct store_migration *list, int n,
                            struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    int newest = n > 0 ? list[n - 1].version : 0;
    char q[320];
    int cur;
    enum err e;

    if (c == NULL)
        return ERR_STORE;
    e = store_migrations_check(list, n, d);
    if (e != ERR_OK)
        return e;
    e = store_schema_version(st, &cur, d);
    if (e != ERR_OK)
        return e;
    if (cur > newest)
        return err_set(d, ERR_STORE, "schema_too_new",
                       "database schema version %d is newer than this binary knows (%d): "
                       "run a newer vmlogind",
                       cur, newest);
    for (int i = 0; i < n; i++) {
        if (list[i].version <= cur)
            continue;
        e = store_tx_begin(st, d);
        if (e != ERR_OK)
            return e;
        /* Another process may have migrated while we waited for the write lock. */
        e = store_schema_version(st, &cur, d);
        if (e == ERR_OK && list[i].version > cur)
            e = apply_one(st, c->db, &list[i], d);
        if (e != ERR_OK) {
            store_tx_rollback(st);
            log_error("store_migrate", "migration=%s err=%s", list[i].name,
                      log_q(q, sizeof(q), d ? d->msg : err_str(e)));
            return e;
        }
        e = store_tx_commit(st, d);
        if (e != ERR_OK)
            return e;
        cur = list[i].version;
        log_info("store_migrate", "migration=%s version=%d", list[i].name, list[i].version);
    }
    return ERR_OK;
}

enum err store_migrate(struct store *st, struct err_detail *d)
{
    if (store_pg_pool(st) != NULL)
        return store_pg_migrate(store_pg_pool(st), d);
    return store_migrate_with(st, store_migrations, store_migrations_count, d);
}
