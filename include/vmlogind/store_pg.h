/* store_pg.h: the PostgreSQL 15 store backend (store_backend = postgresql), for several
 * replicas on one database: its connection pool, its migrations (migrations/postgresql/, the
 * same numbers and names as the SQLite ones), the store of store.h on it (store_open_pg), and
 * what replicas share beyond the store (singleton jobs, the access generation's notices). */
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
/* The pool of a store opened with store_open_pg, NULL for any other store: for the jobs and
 * the listener below. */
struct store_pg *store_pg_pool(struct store *st);
/* The connection string as it may be logged: every password masked. */
const char *store_pg_conninfo_masked(const struct store_pg *pg);

/* Singleton jobs across replicas (inventory sync, sweeps), store_pg_job.c: a session-level
 * advisory lock named by the job, held on a connection of the job's own, so it lives exactly
 * as long as that session. A replica that exits, is killed or loses the database loses the
 * session and the lock with it; another replica's next store_pg_job_try takes the job. One
 * handle per job and thread (a handle is not shared between threads). */
struct store_pg_job;

/* A handle for the job name (any length; the lock is keyed by all of it, logs show its first 63
 * bytes); it connects on the first try. */
enum err store_pg_job_open(struct store_pg *pg, const char *name, struct store_pg_job **out,
                           struct err_detail *d) VL_MUST_CHECK;
/* Takes the job if no replica holds it. *held true: this replica holds it now, run it; false:
 * another replica does, or this one just lost it (its session dropped, and with it the lock,
 * logged store_pg_job_lost). Call it before each run: a job held so far is checked to be held
 * still, a dropped connection is reopened on the next call. ERR_STORE (d filled, *held false)
 * when the database cannot be reached. */
enum err store_pg_job_try(struct store_pg_job *job, bool *held, struct err_detail *d) VL_MUST_CHECK;
/* Gives the job up for another replica to take; the connection stays for the next try. */
void store_pg_job_release(struct store_pg_job *job);
/* Whether the last try left the job held. */
bool store_pg_job_held(const struct store_pg_job *job);
/* The PostgreSQL backend pid of the job's connection (0: none). */
int store_pg_job_pid(const struct store_pg_job *job);
/* Releases the job and closes its connection; NULL is allowed. */
void store_pg_job_close(struct store_pg_job *job);

/* The access generation across replicas, store_pg_listen.c: access_gen_bump (migration 0005)
 * also NOTIFYs this channel, without payload (one notification per writing transaction), and a
 * listener on a connection of its own wakes up on it and reads access_generation.gen. */
#define STORE_PG_ACCESS_CHANNEL "vmlogind_access"

struct store_pg_listen;

enum store_pg_listen_event {
    STORE_PG_LISTEN_TIMEOUT, /* nothing notified before the deadline */
    STORE_PG_LISTEN_CHANGED, /* a transaction that bumped the generation committed */
    STORE_PG_LISTEN_RESUMED, /* the connection dropped and was reopened: notifications of the
                                gap are lost, so the generation may have changed */
};

/* Connects, LISTENs and reads the generation. */
enum err store_pg_listen_open(struct store_pg *pg, struct store_pg_listen **out,
                              struct err_detail *d) VL_MUST_CHECK;
/* Waits up to timeout_ms (poll on the connection's socket) for a notification; *generation is
 * the generation as last read (re-read after CHANGED and RESUMED). A dropped connection is
 * reopened within the call (RESUMED); when that fails the call waits out timeout_ms and returns
 * ERR_STORE (d filled), and the next call tries again. */
enum err store_pg_listen_wait(struct store_pg_listen *l, int timeout_ms,
                              enum store_pg_listen_event *ev, int64_t *generation,
                              struct err_detail *d) VL_MUST_CHECK;
/* The PostgreSQL backend pid of the listener's connection (0: none). */
int store_pg_listen_pid(const struct store_pg_listen *l);
/* Closes the connection; NULL is allowed. */
void store_pg_listen_close(struct store_pg_listen *l);

#endif
