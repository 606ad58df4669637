/* store_q_pg.h: the PostgreSQL side of a store statement, for store.c (store_q_pg.c). */
#ifndef VMLOGIND_STORE_Q_PG_H
#define VMLOGIND_STORE_Q_PG_H

#include <stdint.h>

#include "store/store_int.h"

struct store_pg;
struct store_pg_conn;
struct store_pgq;

/* What store_pgq_step answers when the statement failed (store_pgq_fail tells how). */
#define STORE_PG_FAILED (-1)

/* sql with its :name parameters as $1..$n, in order of first appearance. */
struct store_pgq *store_pgq_new(const char *sql);
void store_pgq_free(struct store_pgq *q);
const char *store_pgq_text(const struct store_pgq *q);
/* The index of parameter name (":x"), or -1. */
int store_pgq_param(const struct store_pgq *q, const char *name);
/* Text is not copied (as on SQLite); NULL binds SQL NULL. An index of -1 is ignored. */
void store_pgq_bind_text(struct store_pgq *q, int i, const char *v);
void store_pgq_bind_int64(struct store_pgq *q, int i, int64_t v);
void store_pgq_clear_bindings(struct store_pgq *q);
/* The first step runs q on held (the thread's transaction) or on a connection of pool taken for
 * the call (waiting up to wait_ms for a free one), adding the rows it changed to *changes; every
 * step makes the next row current. STORE_ROW, STORE_DONE or STORE_PG_FAILED. */
int store_pgq_step(struct store_pgq *q, struct store_pg *pool, struct store_pg_conn *held,
                   int wait_ms, int64_t *changes);
void store_pgq_reset(struct store_pgq *q);
/* The rows the last run changed (INSERT, UPDATE, DELETE). */
int64_t store_pgq_changed(const struct store_pgq *q);
/* The current row's column i: text (NULL for NULL) or an integer (NULL -> 0, booleans 0/1). */
const char *store_pgq_col(const struct store_pgq *q, int i);
int64_t store_pgq_col_int64(const struct store_pgq *q, int i);
/* Whether column i is an integer (bigint, integer, smallint); the number of columns. */
bool store_pgq_col_is_int(const struct store_pgq *q, int i);
int store_pgq_col_count(const struct store_pgq *q);
/* Maps the failed step's SQLSTATE as store_fail maps SQLite's codes; resets q. */
enum err store_pgq_fail(struct store_pgq *q, struct err_detail *d, const char *what);
/* A transaction on a connection taken from pool and held (*out) until store_pgq_end, which
 * commits (a transaction a failed statement aborted is reported, not committed) or rolls back
 * and gives the connection back. A write transaction is READ COMMITTED under one advisory lock
 * every write transaction takes first, so writers take turns as under SQLite's BEGIN IMMEDIATE;
 * a read one is REPEATABLE READ, one snapshot as on SQLite. */
enum err store_pgq_begin(struct store_pg *pool, bool write, struct store_pg_conn **out,
                         struct err_detail *d);
enum err store_pgq_end(struct store_pg *pool, struct store_pg_conn *c, bool commit,
                       struct err_detail *d);

#endif
