/* store_int.h: what the store_*.c files share and nothing outside server/store/ sees: the
 * per-thread connection, the per-connection statement cache, binding and column helpers.
 * Statements are identified by their static SQL constant's address. */
#ifndef VMLOGIND_STORE_INT_H
#define VMLOGIND_STORE_INT_H

#include <sqlite3.h>

#include "vmlogind/store.h"
#include "vmlogind/store_pg.h" /* store_pg_pool */

#define STORE_STMT_SLOTS 256

/* A prepared statement of the store, whatever the backend: every store_*.c file binds, steps
 * and reads through it. On SQLite it wraps one cached sqlite3_stmt (reading a column is a
 * call into SQLite, nothing is copied); see store.c. */
struct store_q;

/* What store_step answers besides a backend's failure code (which store_fail maps). */
#define STORE_ROW 100  /* a row is ready to read (SQLITE_ROW) */
#define STORE_DONE 101 /* no more rows (SQLITE_DONE) */

/* A statement with a PostgreSQL text of its own beside the SQLite one, for SQL that is not
 * valid PostgreSQL as written (INSERT OR IGNORE, json_each, julianday, ...). Both name their
 * parameters alike (:name). Prepared with store_stmt_sql. */
struct store_sql {
    const char *lite;
    const char *pg;
};

struct store_pg_conn;
struct store_pg_scratch;

struct store_conn {
    sqlite3 *db; /* NULL on PostgreSQL */
    struct store *st;
    const void *keys[STORE_STMT_SLOTS]; /* SQL constant address -> statement */
    struct store_q *qs[STORE_STMT_SLOTS];
    bool in_tx;
    int64_t scratch_changes;     /* changes to TEMP tables, which store_changes() leaves out */
    uint64_t serial;             /* tells this process's connections apart (store_version) */
    struct store_pg_conn *pg_tx; /* PostgreSQL: the connection held for the transaction */
    int64_t pg_changes;          /* PostgreSQL: rows changed by this thread's statements */
    struct store_conn *next;     /* in st->conns */
    /* PostgreSQL: a sync pass's seen sets (store_seen.h) */
    struct store_pg_scratch *pg_scratch;
};

/* The versions of list are positive and increasing (ERR_INTERNAL "migration_order" if not):
 * checked before migrating, on either backend. */
enum err store_migrations_check(const struct store_migration *list, int n, struct err_detail *d);
/* The calling thread's connection, opened on first use; NULL (d filled) if it can't open. */
struct store_conn *store_conn_get(struct store *st, struct err_detail *d);
/* The cached statement for sql on this thread's connection, prepared on first use and ready
 * to bind. Finish every use with store_reset (store_exec_stmt and friends do). ERR_INTERNAL
 * when all STORE_STMT_SLOTS slots hold other statements. */
enum err store_stmt(struct store *st, const char *sql, struct store_q **out, struct err_detail *d);
/* The same for a statement with a text per backend. */
enum err store_stmt_sql(struct store *st, const struct store_sql *sql, struct store_q **out,
                        struct err_detail *d);
/* The same for a statement that must not join the thread's transaction: a bookkeeping write
 * made during a read (an API key's last use, a rate bucket), whose failure must not abort the
 * transaction and which must not fail on the transaction's snapshot. On PostgreSQL it runs on a
 * pooled connection of its own, in autocommit, and only when one is free right now (else the
 * step fails: such writes are best effort); on SQLite as store_stmt (its one connection, where
 * a failed statement leaves the transaction usable). */
enum err store_stmt_apart(struct store *st, const char *sql, struct store_q **out,
                          struct err_detail *d);
/* Steps q: STORE_ROW, STORE_DONE or a failure code for store_fail. Outside transactions a busy
 * database is retried. */
int store_step(struct store_q *q);
/* Ends this use of q: its result and bindings are dropped, it can run again. */
void store_reset(struct store_q *q);
/* Runs q to completion (no rows expected), resets it; maps errors. */
enum err store_exec_stmt(struct store_q *q, struct err_detail *d, const char *what);
/* The same, giving the number of rows the statement changed. */
enum err store_exec_count(struct store_q *q, int64_t *changed, struct err_detail *d,
                          const char *what);
/* Steps q expecting at most one row: ERR_OK with the row ready to read (the caller resets q),
 * else ERR_NOT_FOUND or the failure, with q reset. */
enum err store_step_one(struct store_q *q, struct err_detail *d, const char *what);
/* Maps a failed step's code into enum err (constraint -> ERR_CONFLICT or ERR_INVALID for
 * CHECK) with the database's message; resets q. */
enum err store_fail(struct store_q *q, int rc, struct err_detail *d, const char *what);

/* Bind by :name; a NULL string binds SQL NULL. Text is not copied: it must live until the
 * statement is reset. A name the statement lacks is a programmer error: it is logged and the
 * statement's next step fails (store_fail: ERR_INTERNAL naming the parameter), in every build. */
void bind_text(struct store_q *q, const char *name, const char *v);
void bind_text_or(struct store_q *q, const char *name, const char *v, const char *dflt);
void bind_int64(struct store_q *q, const char *name, int64_t v);
/* Binds v, or NULL when v == 0. */
void bind_time(struct store_q *q, const char *name, int64_t v);
/* Copies of column text (NULL stays NULL) and integers (NULL -> 0). */
char *col_text(struct store_q *q, int i);
int64_t col_int64(struct store_q *q, int i);
/* Column i's text without a copy (NULL for SQL NULL), valid until the next step or reset. */
const char *col_view(struct store_q *q, int i);
/* A copy of column i's JSON text as SQLite writes it: compact. PostgreSQL's json_build_object
 * (the event triggers) writes {"a" : 1, "b" : 2}; its whitespace outside strings is dropped, so
 * what the store hands out (SSE, webhook bodies) is the same bytes on both backends. */
char *col_json(struct store_q *q, int i);
/* Whether column i is SQL NULL; whether it holds an integer. */
bool col_null(struct store_q *q, int i);
bool col_is_int(struct store_q *q, int i);
/* The number of columns of q's rows. */
int col_count(struct store_q *q);
/* Lowercase ASCII copy (ARM ids are case-insensitive; their keys are lowercase). */
char *store_lower(const char *s);

/* Begins a write transaction unless the thread is in one; *own tells store_own_tx_end whether
 * to commit (rc == ERR_OK) or roll back. */
enum err store_own_tx_begin(struct store *st, bool *own, struct err_detail *d);
enum err store_own_tx_end(struct store *st, bool own, enum err rc, struct err_detail *d);

/* The audit chain's keys (store_audit.c): derived from the key file by store_audit_key_set,
 * set before threads use the store, then only read. */
struct store_audit_keys {
    bool set;
    unsigned char chain[32];
    unsigned char checkpoint[32];
    unsigned char webhook[32]; /* seals webhook signing secrets (store_webhooks.c) */
};
struct store_audit_keys *store_audit_keys(struct store *st);
/* A random key, for a store nothing outlives (":memory:"). */
void store_audit_key_random(struct store *st);
/* HMAC-SHA256 of p under key, as lowercase hex. */
void store_audit_hmac_hex(const unsigned char key[32], const void *p, size_t n, char out[65]);

/* One signed checkpoint (store_audit_anchor.c), and where it was read (for messages). */
struct store_audit_cp {
    int64_t seq;
    char hash[65];
    int64_t legacy_end;
    int64_t at;
    char mac[65];
    char where[160];
};
/* Walks the chain in the caller's read transaction: rows 1..legacy_end by the plain hash,
 * later ones by the keyed one, each checkpoint of cps (sorted by seq) held to the row at its
 * seq. Fills r (rows, broken_seq); ERR_CONFLICT with the code and message of store.h. */
enum err store_audit_walk(struct store *st, int64_t legacy_end, const struct store_audit_cp *cps,
                          size_t ncps, struct store_audit_report *r, struct err_detail *d);

#endif
