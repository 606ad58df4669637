/* store_pg_int.h: what the store_pg*.c files share: the pool's connections and the helper
 * that prepares each statement once per connection (PQprepare under a name derived from its
 * SQL) and runs it with text parameters. */
#ifndef VMLOGIND_STORE_PG_INT_H
#define VMLOGIND_STORE_PG_INT_H

#include <libpq-fe.h>

#include "vmlogind/store_pg.h"

/* How long store_pg_acquire waits for a free connection by default. */
#define STORE_PG_ACQUIRE_MS 30000

struct store_pg_conn;

/* A connection of the pool for the calling thread's exclusive use until store_pg_release,
 * (re)connected when needed; NULL (d filled: "store_pg_busy" after timeout_ms with every
 * connection in use, "store_pg_connect" when connecting failed). */
struct store_pg_conn *store_pg_acquire(struct store_pg *pg, int timeout_ms, struct err_detail *d);
void store_pg_release(struct store_pg *pg, struct store_pg_conn *c);

/* Runs sql with n text parameters ($1..$n; NULL is SQL NULL) as a statement prepared on this
 * connection on its first use and reused after. The result (rows or command status) belongs to
 * the caller (PQclear); NULL with d filled (code "store_pg", PostgreSQL's SQLSTATE and message)
 * on failure. */
PGresult *store_pg_exec(struct store_pg_conn *c, const char *sql, int n, const char *const *params,
                        struct err_detail *d);
/* Runs sql, one or more statements without parameters and without preparing (BEGIN, COMMIT,
 * a migration's script). */
enum err store_pg_run(struct store_pg_conn *c, const char *sql, struct err_detail *d);
/* The libpq connection itself (PQescapeLiteral and the like). */
PGconn *store_pg_conn_pg(struct store_pg_conn *c);
/* The configured Azure cloud (store_pg_options.cloud). */
const char *store_pg_cloud(const struct store_pg *pg);
/* Statements prepared on this connection so far. */
int store_pg_conn_prepared(const struct store_pg_conn *c);
/* The pool's size and the connections open now. */
int store_pg_pool_size(const struct store_pg *pg);
int store_pg_pool_open(struct store_pg *pg);

/* A connection of its own, outside the pool (a session-level advisory lock, LISTEN), with the
 * pool's connection string and password, named app in pg_stat_activity (NULL: "vmlogind").
 * The caller PQfinish()es it; NULL (d filled, "store_pg_connect") when connecting failed. */
PGconn *store_pg_connect(struct store_pg *pg, const char *app, struct err_detail *d);

/* FNV-1a of s, continued from h (STORE_PG_FNV_START for a whole string): the names of
 * prepared statements, the keys of job locks. */
#define STORE_PG_FNV_START 14695981039346656037ULL
uint64_t store_pg_fnv1a(uint64_t h, const char *s);

/* What every connection sets at connect, pooled or dedicated, so that a replica that vanishes
 * without a word (a node powered off, a partition) does not keep its session, and with it a
 * transaction's write lock or a job's lock, for the hours TCP would take: the server's
 * keepalives (10 s idle, 5 s apart, 3 probes), its check of the client during a long statement,
 * and an end to a transaction left idle for a minute. The client's keepalives go on its socket
 * (store_pg_keepalive.c). */
#define STORE_PG_KEEPALIVE_SQL                                                                     \
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3;" \
    " SET client_connection_check_interval = '5s'; SET idle_in_transaction_session_timeout = "     \
    "'60s'"
void store_pg_keepalive(PGconn *conn);

/* store_pg_migrate calls this after the migrations: it replaces access_gen_bump (migration
 * 0005) with the version that also NOTIFYs STORE_PG_ACCESS_CHANNEL, under the migrators' lock
 * (store_pg_listen.c). */
enum err store_pg_listen_install(struct store_pg *pg, struct err_detail *d) VL_MUST_CHECK;

/* The SQLSTATE of a failure store_pg_exec reported in d (5 characters), or "" for another. */
void store_pg_sqlstate(const struct err_detail *d, char out[6]);

#endif
