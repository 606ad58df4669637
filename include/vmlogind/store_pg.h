/* store_pg.h: the PostgreSQL 15 store backend (store_backend = postgresql), for several
 * replicas on one database. So far: its connection pool and its migrations
 * (migrations/postgresql/, the same numbers and names as the SQLite ones); the store
 * operations of store.h on it are still to come, so `vmlogind serve` refuses it. */
#ifndef VMLOGIND_STORE_PG_H
#define VMLOGIND_STORE_PG_H

#include "vmlogind/err.h"
#include "vmlogind/store.h"

struct store_pg;

struct store_pg_options {
    const char *conninfo;      /* postgres_url: libpq key=value string or postgresql:// URI */
    const char *password_file; /* postgres_password_file; NULL or "": libpq's own (PGPASSFILE) */
    int pool_size;             /* postgres_pool_size: connections at most, opened as needed */
    const char *cloud;         /* the Azure cloud, for vl_login_fix's fixes; NULL: AzureCloud */
};

/* Checks the connection string, reads the password file and connects once (so a wrong URL or
 * password fails here, naming the URL with its password masked). The password is never
 * logged. *out belongs to the caller: store_pg_close() it. */
enum err store_pg_open(const struct store_pg_options *o, struct store_pg **out,
                       struct err_detail *d) VL_MUST_CHECK;
/* Closes every connection; NULL is allowed. No connection may be in use. */
void store_pg_close(struct store_pg *pg);

/* The SQLite store's contract for PostgreSQL: applies the embedded PostgreSQL migrations the
 * database lacks, in order, each in its own transaction holding a transaction-level advisory
 * lock (so concurrent migrators of several replicas take turns and apply each once), recorded
 * in schema_migrations. A failure rolls that migration back and returns ERR_STORE naming the
 * file; a database newer than the binary is refused ("schema_too_new"). */
enum err store_pg_migrate(struct store_pg *pg, struct err_detail *d) VL_MUST_CHECK;
/* store_pg_migrate also (re)creates vl_login_fix(cause), the SQL function the event triggers
 * of migration 0015 call (SQLite has it as a C function on every connection): the diagnosis
 * table's fix for a cause code in the configured cloud, built from that table, so both
 * backends give the same. */
/* The same with a given list (tests); it leaves vl_login_fix alone. */
enum err store_pg_migrate_with(struct store_pg *pg, const struct store_migration *list, int n,
                               struct err_detail *d) VL_MUST_CHECK;
/* The newest migration recorded in schema_migrations (0: none). */
enum err store_pg_schema_version(struct store_pg *pg, int *version,
                                 struct err_detail *d) VL_MUST_CHECK;
/* A store (store.h) on PostgreSQL: store_pg_open's pool behind it, the store's statements
 * prepared once per pooled connection, a transaction held on one connection from begin to
 * commit. store_migrate applies the PostgreSQL migrations. So far the operations of these
 * areas run on it: see README (PostgreSQL); the others are SQLite's only. */
enum err store_open_pg(const struct store_pg_options *o, struct store **out,
                       struct err_detail *d) VL_MUST_CHECK;
/* The connection string as it may be logged: every password masked. */
const char *store_pg_conninfo_masked(const struct store_pg *pg);

#endif
