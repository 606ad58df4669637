/* store_pg_migrate.c: the SQLite store's migration contract on PostgreSQL. Each migration runs
 * in its own transaction that first takes a transaction-level advisory lock, so replicas
 * migrating at once take turns: the second finds the first's rows in schema_migrations and
 * applies nothing twice. A database newer than the binary is refused. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "store/store_pg_int.h"
#include "vmlogind/buf.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_login.h"

/* The advisory lock every migrator takes: "vmlogind" as a big-endian 64-bit number. */
static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(8533596094669090404)";
static const char SQL_MIGRATIONS_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                           " version BIGINT PRIMARY KEY,"
                                           " name TEXT NOT NULL,"
                                           " applied_at BIGINT NOT NULL)";
static const char SQL_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
static const char SQL_HAS_TABLE[] = "SELECT to_regclass('schema_migrations') IS NOT NULL";
static const char SQL_RECORD[] =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";

static enum err read_version(struct store_pg_conn *c, const char *sql, int *version,
                             struct err_detail *d)
{
    PGresult *r = store_pg_exec(c, sql, 0, NULL, d);

    *version = 0;
    if (r == NULL)
        return ERR_STORE;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *version = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return ERR_OK;
}

enum err store_pg_schema_version(struct store_pg *pg, int *version, struct err_detail *d)
{
    struct store_pg_conn *c = store_pg_acquire(pg, STORE_PG_ACQUIRE_MS, d);
    enum err e;

    PGresult *r;
    bool has;

    *version = 0;
    if (c == NULL)
        return ERR_STORE;
    r = store_pg_exec(c, SQL_HAS_TABLE, 0, NULL, d);
    has = r != NULL && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    e = r != NULL ? ERR_OK : ERR_STORE;
    PQclear(r);
    if (e == ERR_OK && has)
        e = read_version(c, SQL_VERSION, version, d);
    store_pg_release(pg, c);
    return e;
}

static enum err record(struct store_pg_conn *c, const struct store_migration *m,
                       struct err_detail *d)
{
    char version[24], at[24];
    const char *params[3] = {version, m->name, at};
    PGresult *r;

    snprintf(version, sizeof(version), "%d", m->version);
    snprintf(at, sizeof(at), "%" PRId64, clock_now_ms());
    r = store_pg_exec(c, SQL_RECORD, 3, params, d);
    if (r == NULL)
        return ERR_STORE;
    PQclear(r);
    return ERR_OK;
}

/* One transaction: lock, read the version, apply the next migration the database lacks.
 * *next is that migration's index, or -1 when there was none (the database is current). */
static enum err step(struct store_pg_conn *c, const struct store_migration *list, int n, int *next,
                     struct err_detail *d)
{
    int newest = n > 0 ? list[n - 1].version : 0;
    int cur = 0;
    PGresult *r;
    enum err e;

    *next = -1;
    e = store_pg_run(c, "BEGIN", d);
    if (e != ERR_OK)
        return e;
    r = store_pg_exec(c, SQL_LOCK, 0, NULL, d);
    if (r == NULL)
        goto fail;
    PQclear(r);
    if (store_pg_run(c, SQL_MIGRATIONS_TABLE, d) != ERR_OK ||
        read_version(c, SQL_VERSION, &cur, d) != ERR_OK)
        goto fail;
    if (cur > newest) {
        err_set(d, ERR_STORE, "schema_too_new",
                "database schema version %d is newer than this binary knows (%d): "
                "run a newer vmlogind",
                cur, newest);
        goto fail;
    }
    for (int i = 0; i < n && *next < 0; i++)
        if (list[i].version > cur)
            *next = i;
    if (*next >= 0) {
        const struct store_migration *m = &list[*next];
        if (store_pg_run(c, m->sql, d) != ERR_OK) {
            char msg[sizeof(d->msg)];
            snprintf(msg, sizeof(msg), "%s", d->msg);
            err_set(d, ERR_STORE, "migration_failed", "migration %s failed: %s", m->name, msg);
            goto fail;
        }
        if (record(c, m, d) != ERR_OK)
            goto fail;
    }
    return store_pg_run(c, "COMMIT", d);
fail:
    store_pg_run(c, "ROLLBACK", NULL);
    return ERR_STORE;
}

enum err store_pg_migrate_with(struct store_pg *pg, const struct store_migration *list, int n,
                               struct err_detail *d)
{
    struct err_detail local;
    struct store_pg_conn *c;
    enum err e = store_migrations_check(list, n, d);
    int next = 0;
    char q[320];

    if (d == NULL)
        d = &local;
    if (e != ERR_OK)
        return e;
    c = store_pg_acquire(pg, STORE_PG_ACQUIRE_MS, d);
    if (c == NULL)
        return ERR_STORE;
    while (next >= 0) {
        e = step(c, list, n, &next, d);
        if (e != ERR_OK) {
            log_error("store_migrate", "backend=postgresql err=%s", log_q(q, sizeof(q), d->msg));
            break;
        }
        if (next >= 0)
            log_info("store_migrate", "backend=postgresql migration=%s version=%d", list[next].name,
                     list[next].version);
    }
    store_pg_release(pg, c);
    return e;
}

/* Appends s as an SQL literal. */
static enum err put_literal(struct buf *b, PGconn *conn, const char *s)
{
    char *lit = PQescapeLiteral(conn, s, strlen(s));
    enum err e;

    if (lit == NULL)
        return ERR_INTERNAL;
    e = buf_appends(b, lit);
    PQfreemem(lit);
    return e;
}

/* "WHEN lower(cause) IN (lower('code'), lower('alias')...) THEN 'fix'" for table entry i. */
static enum err put_case(struct buf *b, PGconn *conn, const char *code, const char *const *aliases,
                         const char *cloud)
{
    struct model_diagnosis dg;
    enum err e = buf_appends(b, " WHEN lower(cause) IN (lower(");

    model_diagnose_cause(code, cloud, &dg);
    if (e == ERR_OK)
        e = put_literal(b, conn, code);
    for (size_t k = 0; e == ERR_OK && aliases[k] != NULL; k++) {
        e = buf_appends(b, "), lower(");
        if (e == ERR_OK)
            e = put_literal(b, conn, aliases[k]);
    }
    if (e == ERR_OK)
        e = buf_appends(b, ")) THEN ");
    if (e == ERR_OK)
        e = dg.fix[0] != '\0' ? put_literal(b, conn, dg.fix) : buf_appends(b, "NULL");
    return e;
}

/* CREATE OR REPLACE FUNCTION vl_login_fix from the diagnosis table: NULL for NULL, the
 * entry's fix for its code or an alias (case-insensitive), the fix for an unknown code else. */
static enum err login_fix_sql(struct buf *b, PGconn *conn, const char *cloud)
{
    const char *code;
    const char *const *aliases;
    struct model_diagnosis unknown;
    enum err e = buf_appends(b, "CREATE OR REPLACE FUNCTION vl_login_fix(cause TEXT) RETURNS TEXT"
                                " LANGUAGE sql IMMUTABLE AS $vl$ SELECT CASE"
                                " WHEN cause IS NULL THEN NULL");

    for (size_t i = 0; e == ERR_OK && model_diagnose_cause_at(i, &code, &aliases); i++)
        e = put_case(b, conn, code, aliases, cloud);
    model_diagnose_cause("", cloud, &unknown);
    if (e == ERR_OK)
        e = buf_appends(b, " ELSE ");
    if (e == ERR_OK)
        e = put_literal(b, conn, unknown.fix);
    if (e == ERR_OK)
        e = buf_appends(b, " END $vl$");
    return e;
}

/* (Re)creates vl_login_fix for this cloud, under the migrators' lock. */
static enum err install_login_fix(struct store_pg *pg, struct err_detail *d)
{
    struct store_pg_conn *c = store_pg_acquire(pg, STORE_PG_ACQUIRE_MS, d);
    struct buf sql;
    PGresult *r;
    enum err e;

    if (c == NULL)
        return ERR_STORE;
    buf_init(&sql, 1 << 20);
    e = login_fix_sql(&sql, store_pg_conn_pg(c), store_pg_cloud(pg));
    if (e != ERR_OK) {
        err_set(d, e, "store_pg", "vl_login_fix: %s", err_str(e));
    } else if ((e = store_pg_run(c, "BEGIN", d)) == ERR_OK) {
        r = store_pg_exec(c, SQL_LOCK, 0, NULL, d);
        e = r != NULL ? store_pg_run(c, sql.data, d) : ERR_STORE;
        PQclear(r);
        e = e == ERR_OK ? store_pg_run(c, "COMMIT", d) : e;
        if (e != ERR_OK)
            store_pg_run(c, "ROLLBACK", NULL);
    }
    buf_cleanup(&sql);
    store_pg_release(pg, c);
    return e;
}

enum err store_pg_migrate(struct store_pg *pg, struct err_detail *d)
{
    enum err e = store_pg_migrate_with(pg, store_pg_migrations, store_pg_migrations_count, d);

    e = e == ERR_OK ? install_login_fix(pg, d) : e;
    return e == ERR_OK ? store_pg_listen_install(pg, d) : e;
}
