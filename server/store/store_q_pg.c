/* store_q_pg.c: the PostgreSQL side of a store statement (struct store_q in store.c). The
 * store's SQL names its parameters :name; at prepare they become $1..$n (the same name, the
 * same number) and the names are kept. Values are bound as text, integers formatted into the
 * statement's own buffers. The first step runs the statement on the thread's transaction
 * connection, or on a pooled one taken and given back around the call; the rows are then read
 * from the result. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"
#include "store/store_q_pg.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

struct store_pgq {
    char *text;   /* the SQL with $n for :name */
    char **names; /* names[i] is the ":name" of $i+1 */
    int n;
    const char **vals;
    char (*nums)[24]; /* integers bound to $i+1, as text */
    PGresult *res;
    int row; /* the row a STORE_ROW step made current; -1 before the first step */
    bool ran;
    int64_t changed;
    struct err_detail err; /* the failure of the last step */
};

static bool ident_char(char ch, bool first)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
           (!first && ch >= '0' && ch <= '9');
}

static int name_index(const struct store_pgq *q, const char *name, size_t len)
{
    for (int i = 0; i < q->n; i++)
        if (strlen(q->names[i]) == len && strncmp(q->names[i], name, len) == 0)
            return i;
    return -1;
}

/* Copies a quoted literal or identifier starting at *p (quote ch) into out; *p after it. */
static void copy_quoted(const char **p, char **out)
{
    char ch = **p;

    *(*out)++ = *(*p)++;
    while (**p != '\0') {
        char c = *(*p)++;
        *(*out)++ = c;
        if (c == ch) {
            if (**p != ch)
                return;
            *(*out)++ = *(*p)++; /* a doubled quote stays inside */
        }
    }
}

/* :name -> $n; "::" (a cast) and quoted text are left alone. */
static void translate(struct store_pgq *q, const char *sql)
{
    /* ":x" (2 bytes at least) becomes "$n": at most twice as long below a thousand names */
    size_t cap = xadd(xmul(strlen(sql), 2), 16);
    char *out = xmalloc(cap);
    const char *p = sql;

    q->text = out;
    while (*p != '\0') {
        size_t len = 1;
        int i;

        if (*p == '\'' || *p == '"') {
            copy_quoted(&p, &out);
            continue;
        }
        if (p[0] == ':' && p[1] == ':') {
            *out++ = *p++;
            *out++ = *p++;
            continue;
        }
        if (p[0] != ':' || !ident_char(p[1], true)) {
            *out++ = *p++;
            continue;
        }
        while (ident_char(p[len], false))
            len++;
        i = name_index(q, p, len);
        if (i < 0) {
            q->names = xreallocarray(q->names, (size_t)q->n + 1, sizeof(*q->names));
            q->names[q->n] = xstrndup(p, len);
            i = q->n++;
        }
        out += snprintf(out, cap - (size_t)(out - q->text), "$%d", i + 1);
        p += len;
    }
    *out = '\0';
}

struct store_pgq *store_pgq_new(const char *sql)
{
    struct store_pgq *q = xcalloc(1, sizeof(*q));

    translate(q, sql);
    q->vals = xcalloc((size_t)q->n + 1, sizeof(*q->vals));
    q->nums = xcalloc((size_t)q->n + 1, sizeof(*q->nums));
    q->row = -1;
    return q;
}

void store_pgq_free(struct store_pgq *q)
{
    if (q == NULL)
        return;
    PQclear(q->res);
    for (int i = 0; i < q->n; i++)
        free(q->names[i]);
    free(q->names);
    free(q->vals);
    free(q->nums);
    free(q->text);
    free(q);
}

const char *store_pgq_text(const struct store_pgq *q)
{
    return q->text;
}

int store_pgq_param(const struct store_pgq *q, const char *name)
{
    return name_index(q, name, strlen(name));
}

void store_pgq_bind_text(struct store_pgq *q, int i, const char *v)
{
    if (i >= 0 && i < q->n)
        q->vals[i] = v;
}

void store_pgq_bind_int64(struct store_pgq *q, int i, int64_t v)
{
    if (i < 0 || i >= q->n)
        return;
    snprintf(q->nums[i], sizeof(q->nums[i]), "%" PRId64, v);
    q->vals[i] = q->nums[i];
}

void store_pgq_reset(struct store_pgq *q)
{
    PQclear(q->res);
    q->res = NULL;
    q->row = -1;
    q->ran = false;
}

void store_pgq_clear_bindings(struct store_pgq *q)
{
    for (int i = 0; i < q->n; i++)
        q->vals[i] = NULL;
}

/* The rows an INSERT, UPDATE or DELETE changed; PQcmdTuples counts a SELECT's rows too. */
static int64_t rows_changed(const PGresult *r)
{
    const char *tag = PQcmdStatus((PGresult *)r);

    if (strncmp(tag, "INSERT ", 7) != 0 && strncmp(tag, "UPDATE ", 7) != 0 &&
        strncmp(tag, "DELETE ", 7) != 0)
        return 0;
    return strtoll(PQcmdTuples((PGresult *)r), NULL, 10);
}

int store_pgq_step(struct store_pgq *q, struct store_pg *pool, struct store_pg_conn *held,
                   int wait_ms, int64_t *changes)
{
    struct store_pg_conn *c = held;

    if (!q->ran) {
        q->ran = true;
        q->changed = 0;
        q->err = (struct err_detail){0};
        if (c == NULL)
            c = store_pg_acquire(pool, wait_ms, &q->err);
        if (c == NULL)
            return STORE_PG_FAILED;
        q->res = store_pg_exec(c, q->text, q->n, q->vals, &q->err);
        if (held == NULL)
            store_pg_release(pool, c);
        if (q->res == NULL)
            return STORE_PG_FAILED;
        q->changed = rows_changed(q->res);
        *changes += q->changed;
    }
    if (q->res == NULL || q->row + 1 >= PQntuples(q->res))
        return STORE_DONE;
    q->row++;
    return STORE_ROW;
}

int64_t store_pgq_changed(const struct store_pgq *q)
{
    return q->changed;
}

const char *store_pgq_col(const struct store_pgq *q, int i)
{
    if (q->res == NULL || q->row < 0 || i >= PQnfields(q->res) || PQgetisnull(q->res, q->row, i))
        return NULL;
    return PQgetvalue(q->res, q->row, i);
}

int64_t store_pgq_col_int64(const struct store_pgq *q, int i)
{
    const char *v = store_pgq_col(q, i);

    if (v == NULL)
        return 0;
    if (PQftype(q->res, i) == 16) /* boolean: 't' or 'f' */
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

bool store_pgq_col_is_int(const struct store_pgq *q, int i)
{
    Oid t = q->res != NULL ? PQftype(q->res, i) : 0;

    return t == 20 || t == 21 || t == 23; /* int8, int2, int4 */
}

int store_pgq_col_count(const struct store_pgq *q)
{
    return q->res != NULL ? PQnfields(q->res) : 0;
}

/* SQLSTATE classes as SQLite's constraint codes map in store_fail. */
enum err store_pgq_fail(struct store_pgq *q, struct err_detail *d, const char *what)
{
    char state[6];
    enum err e = ERR_STORE;
    const char *code = "store";

    store_pg_sqlstate(&q->err, state);
    if (strcmp(state, "23505") == 0) { /* unique_violation */
        e = ERR_CONFLICT;
        code = "conflict";
    } else if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
               strcmp(state, "22P02") == 0) { /* check, not null, invalid text */
        e = ERR_INVALID;
        code = "invalid";
    } else if (strcmp(state, "23503") == 0) { /* foreign_key_violation */
        e = ERR_PRECONDITION;
        code = "missing_reference";
    } else if (strcmp(q->err.code, "store_pg_busy") == 0) {
        code = q->err.code;
    }
    err_set(d, e, code, "%s: %s", what, q->err.msg);
    if (e == ERR_STORE) {
        char m[2 * sizeof(q->err.msg) + 3]; /* PostgreSQL's messages quote names: escaped */
        log_error("store_error", "op=%s err=%s", what, log_q(m, sizeof(m), q->err.msg));
    }
    store_pgq_reset(q);
    return e;
}

/* A write transaction is SQLite's BEGIN IMMEDIATE: one writer at a time, across every
 * connection of every replica. PostgreSQL's READ COMMITTED alone would let two transactions
 * read the same rows and both write what they decided from them (two audit appends reading one
 * tail, a read-modify-write losing the other's update), and the store retries nothing. So a
 * write transaction first takes one transaction-level advisory lock, held until its commit or
 * rollback: "vmlogind.write" (FNV-1a, the key space of store_pg_job.c), not the migrators' key.
 * It waits at most 30 s for it, as long as for a pooled connection (SQLite's busy wait), then
 * fails (55P03) instead of waiting behind a stuck writer for ever. One round trip. Read
 * transactions take no lock and see one snapshot, as SQLite's do. */
#define SQL_BEGIN_WRITE                                                                            \
    "BEGIN; SET LOCAL lock_timeout = '30s';"                                                       \
    " SELECT pg_advisory_xact_lock(6347651197954986470); SET LOCAL lock_timeout TO DEFAULT"
#define SQL_BEGIN_READ "BEGIN ISOLATION LEVEL REPEATABLE READ"

enum err store_pgq_begin(struct store_pg *pool, bool write, struct store_pg_conn **out,
                         struct err_detail *d)
{
    struct store_pg_conn *c = store_pg_acquire(pool, STORE_PG_ACQUIRE_MS, d);
    enum err e;

    *out = NULL;
    if (c == NULL)
        return ERR_STORE;
    e = store_pg_run(c, write ? SQL_BEGIN_WRITE : SQL_BEGIN_READ, d);
    if (e != ERR_OK) {
        /* the BEGIN may have run before the lock failed: the connection goes back idle */
        if (PQtransactionStatus(store_pg_conn_pg(c)) != PQTRANS_IDLE)
            (void)store_pg_run(c, "ROLLBACK", NULL);
        store_pg_release(pool, c);
        return e;
    }
    *out = c;
    return ERR_OK;
}

enum err store_pgq_end(struct store_pg *pool, struct store_pg_conn *c, bool commit,
                       struct err_detail *d)
{
    PGresult *r = PQexec(store_pg_conn_pg(c), commit ? "COMMIT" : "ROLLBACK");
    enum err e = ERR_OK;

    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        e = err_set(d, ERR_STORE, "store_pg", "PostgreSQL %s: %s", commit ? "commit" : "rollback",
                    PQerrorMessage(store_pg_conn_pg(c)));
    else if (commit && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
        /* COMMIT of a transaction a failed statement aborted rolls it back */
        e = err_set(d, ERR_STORE, "store_pg",
                    "PostgreSQL commit: the transaction had failed and was rolled back");
    PQclear(r);
    store_pg_release(pool, c);
    return e;
}
