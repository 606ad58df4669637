/* store.c: opening the database, one connection per thread with its statement cache,
 * transactions with busy retry, and the small helpers every store_<table>.c uses.
 * It knows no table: the schema lives in migrations/, each table's SQL in its own file. */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "store/store_int.h"
#include "store/store_pg_int.h"
#include "store/store_q_pg.h"
#include "store/store_seen.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_login.h"
#include "vmlogind/xalloc.h"

#define BUSY_TIMEOUT_MS 5000
#define BUSY_RETRIES 20

struct store {
    char *uri;
    pthread_key_t key;
    pthread_mutex_t mu;
    struct store_conn *conns; /* every open thread connection, under mu */
    sqlite3 *anchor;          /* keeps an in-memory database (and the WAL) alive */
    struct store_pg *pg;      /* the PostgreSQL backend's pool; NULL on SQLite */
    struct store_audit_keys audit_keys;
};

struct store_audit_keys *store_audit_keys(struct store *st)
{
    return &st->audit_keys;
}

/* Per connection; WAL is a property of the file and is set once on the anchor. A small page
 * cache plus a large mmap keeps private memory low (DESIGN §8). */
static const char SQL_CONN_PRAGMAS[] = "PRAGMA foreign_keys = ON;"
                                       "PRAGMA synchronous = NORMAL;"
                                       "PRAGMA cache_size = -2048;"
                                       /* the whole file: SQLite caps it at its compiled
                                        * maximum; pages mapped are shared, not private */
                                       "PRAGMA mmap_size = 68719476736;"
                                       "PRAGMA temp_store = MEMORY;";
static const char SQL_WAL[] = "PRAGMA journal_mode = WAL";
static const char SQL_BEGIN_WRITE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void config_process(void)
{
    /* Connections are never shared between threads, so SQLite's own mutexes are not needed;
     * memory statistics cost a global mutex on every allocation. Both must precede init;
     * if another library initialised SQLite first these fail harmlessly. */
    (void)sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_initialize() != SQLITE_OK)
        fatalx("store_init", "err=\"sqlite3_initialize failed\"");
}

/* A statement of the store: the SQLite statement cached for it on the thread's connection. */
struct store_q {
    sqlite3_stmt *s;         /* SQLite; NULL on PostgreSQL */
    struct store_pgq *pg;    /* PostgreSQL (store_q_pg.c); NULL on SQLite */
    struct store_conn *conn; /* the thread connection it is cached on */
    bool apart;              /* PostgreSQL: this use runs apart from the transaction */
};

static void q_free(struct store_q *q)
{
    if (q == NULL)
        return;
    sqlite3_finalize(q->s);
    store_pgq_free(q->pg);
    free(q);
}

static void conn_free(struct store_conn *c)
{
    for (int i = 0; i < STORE_STMT_SLOTS; i++)
        q_free(c->qs[i]);
    if (c->pg_tx != NULL) /* a thread that ended inside a transaction */
        (void)store_pgq_end(c->st->pg, c->pg_tx, false, NULL);
    store_pg_scratch_free(c->pg_scratch);
    sqlite3_close(c->db);
    free(c);
}

static void conn_unlink(struct store *st, struct store_conn *c)
{
    pthread_mutex_lock(&st->mu);
    for (struct store_conn **p = &st->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

/* Thread exit: the thread's connection goes with it. */
static void conn_destroy(void *p)
{
    struct store_conn *c = p;

    conn_unlink(c->st, c);
    conn_free(c);
}

/* The cloud whose endpoints a login fix names (store_set_cloud); "" = AzureCloud. */
static char fix_cloud[32];

void store_set_cloud(const char *cloud)
{
    snprintf(fix_cloud, sizeof(fix_cloud), "%s", cloud != NULL ? cloud : "");
}

/* vl_login_fix(cause): the diagnosis table's fix for a stored cause code, or NULL. The event
 * triggers of migrations/0015_webhooks.sql call it for login.failed. */
static void sql_login_fix(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *cause = argc == 1 ? sqlite3_value_text(argv[0]) : NULL;
    struct model_diagnosis dg;

    if (cause == NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    model_diagnose_cause((const char *)cause, fix_cloud[0] != '\0' ? fix_cloud : NULL, &dg);
    if (dg.fix[0] == '\0')
        sqlite3_result_null(ctx);
    else
        sqlite3_result_text(ctx, dg.fix, -1, SQLITE_TRANSIENT);
}

static enum err open_db(const char *uri, sqlite3 **out, struct err_detail *d)
{
    sqlite3 *db = NULL;
    int rc;

    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                         NULL);
    if (rc != SQLITE_OK) {
        err_set(d, ERR_STORE, "store_open", "cannot open database %s: %s", uri,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return ERR_STORE;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_create_function(db, "vl_login_fix", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            sql_login_fix, NULL, NULL);
    *out = db;
    return ERR_OK;
}

static atomic_uint_fast64_t conn_serials; /* store_conn.serial */

struct store_conn *store_conn_get(struct store *st, struct err_detail *d)
{
    struct store_conn *c = pthread_getspecific(st->key);
    char *msg = NULL;

    if (c != NULL)
        return c;
    c = xcalloc(1, sizeof(*c));
    c->st = st;
    c->serial = atomic_fetch_add(&conn_serials, 1) + 1;
    if (st->pg != NULL)
        goto registered; /* PostgreSQL: pooled connections, taken per statement */
    if (open_db(st->uri, &c->db, d) != ERR_OK) {
        free(c);
        return NULL;
    }
    if (sqlite3_exec(c->db, SQL_CONN_PRAGMAS, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(d, ERR_STORE, "store_open", "configuring connection: %s", msg ? msg : "?");
        sqlite3_free(msg);
        conn_free(c);
        return NULL;
    }
registered:
    pthread_mutex_lock(&st->mu);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->mu);
    pthread_setspecific(st->key, c);
    return c;
}

/* The lock and the thread key of a new store; on failure neither is left. */
static enum err threads_init(struct store *st, struct err_detail *d)
{
    pthread_mutex_init(&st->mu, NULL);
    if (pthread_key_create(&st->key, conn_destroy) != 0) {
        pthread_mutex_destroy(&st->mu);
        return err_set(d, ERR_STORE, "store_open", "no thread key left");
    }
    return ERR_OK;
}

enum err store_open(const char *path, struct store **out, struct err_detail *d)
{
    static atomic_int mem_seq;
    struct store *st;
    char *msg = NULL;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return err_set(d, ERR_INVALID, "store_open", "no database path");
    pthread_once(&config_once, config_process);
    st = xcalloc(1, sizeof(*st));
    if (strcmp(path, ":memory:") == 0) {
        /* Every thread's connection must see the same database. A name that starts with '/'
         * makes a memdb database shared by the connections of this process
         * (https://sqlite.org/inmemorydb.html). Unlike a shared-cache one, whose table locks
         * fail at once with SQLITE_LOCKED, its locks answer SQLITE_BUSY, so busy_timeout and
         * store_step's retry apply as they do to a file. */
        st->uri = xasprintf("file:/vmlogind-mem-%d-%d?vfs=memdb", (int)getpid(),
                            atomic_fetch_add(&mem_seq, 1));
    } else if (strncmp(path, "file:", 5) == 0) {
        st->uri = xstrdup(path);
    } else {
        /* A plain path: let SQLite treat it as a file name, never as a URI. */
        st->uri = xasprintf("file:%s", path);
        for (char *p = st->uri + 5; *p != '\0'; p++) {
            if (*p == '?' || *p == '#' || *p == '%') {
                free(st->uri);
                free(st);
                return err_set(d, ERR_INVALID, "store_open",
                               "database path must not contain '?', '#' or '%%': %s", path);
            }
        }
    }
    if (threads_init(st, d) != ERR_OK) {
        free(st->uri);
        free(st);
        return ERR_STORE;
    }
    if (open_db(st->uri, &st->anchor, d) != ERR_OK) {
        store_close(st);
        return ERR_STORE;
    }
    if (sqlite3_exec(st->anchor, SQL_WAL, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(d, ERR_STORE, "store_open", "cannot use %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        store_close(st);
        return ERR_STORE;
    }
    if (strncmp(st->uri, "file:/vmlogind-mem-", 19) == 0)
        store_audit_key_random(st);
    *out = st;
    return ERR_OK;
}

enum err store_open_pg(const struct store_pg_options *o, struct store **out, struct err_detail *d)
{
    struct store *st;
    enum err e;

    *out = NULL;
    st = xcalloc(1, sizeof(*st));
    e = store_pg_open(o, &st->pg, d);
    if (e != ERR_OK) {
        free(st);
        return e;
    }
    if (threads_init(st, d) != ERR_OK) {
        store_pg_close(st->pg);
        free(st);
        return ERR_STORE;
    }
    *out = st;
    return ERR_OK;
}

void store_close(struct store *st)
{
    struct store_conn *c;

    if (st == NULL)
        return;
    pthread_key_delete(st->key);
    while (st->conns != NULL) {
        c = st->conns;
        st->conns = c->next;
        conn_free(c);
    }
    sqlite3_close(st->anchor);
    store_pg_close(st->pg);
    pthread_mutex_destroy(&st->mu);
    OPENSSL_cleanse(&st->audit_keys, sizeof(st->audit_keys));
    free(st->uri);
    free(st);
}

void store_thread_done(struct store *st)
{
    struct store_conn *c = pthread_getspecific(st->key);

    if (c == NULL)
        return;
    pthread_setspecific(st->key, NULL);
    conn_destroy(c);
}

/* A bind_* call on this thread that named a parameter its statement lacks: that statement's
 * next step fails (store_fail says which name) instead of running with the parameter NULL.
 * Checked in every build, not by assert: Release builds compile asserts out. */
static _Thread_local struct {
    struct store_q *q;
    const char *name;
} bad_bind;

/* q is handed out again (or anew at a reused address): its bindings start over. */
static struct store_q *q_fresh(struct store_q *q)
{
    if (bad_bind.q == q)
        bad_bind.q = NULL;
    return q;
}

static size_t slot_of(const void *sql)
{
    return ((uintptr_t)sql >> 3) % STORE_STMT_SLOTS;
}

/* A new statement for text on c: SQLite prepares it now, PostgreSQL translates its parameters
 * (and prepares it on each pooled connection at its first run there). */
static enum err q_prepare(struct store_conn *c, const char *text, struct store_q **out,
                          struct err_detail *d)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (c->st->pg == NULL) {
        rc = sqlite3_prepare_v3(c->db, text, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK) {
            char m[512];
            /* A statement that doesn't prepare is a bug or a schema not migrated yet. */
            err_set(d, ERR_STORE, "store_prepare", "prepare failed: %s", sqlite3_errmsg(c->db));
            log_error("store_prepare", "err=%s", log_q(m, sizeof(m), sqlite3_errmsg(c->db)));
            return ERR_STORE;
        }
    }
    *out = xcalloc(1, sizeof(**out));
    (*out)->s = s;
    (*out)->conn = c;
    if (c->st->pg != NULL)
        (*out)->pg = store_pgq_new(text);
    return ERR_OK;
}

/* The statement cached under key on this thread's connection, prepared from text first. */
static enum err stmt_get(struct store *st, const void *key, const char *text, struct store_q **out,
                         struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    size_t i;

    *out = NULL;
    if (c == NULL)
        return ERR_STORE;
    i = slot_of(key);
    for (size_t n = 0; n < STORE_STMT_SLOTS; n++, i = (i + 1) % STORE_STMT_SLOTS) {
        if (c->keys[i] == key) {
            if (c->qs[i]->pg != NULL)
                store_pgq_clear_bindings(c->qs[i]->pg);
            else
                sqlite3_clear_bindings(c->qs[i]->s);
            *out = q_fresh(c->qs[i]);
            return ERR_OK;
        }
        if (c->keys[i] == NULL)
            break;
    }
    if (c->keys[i] != NULL) {
        /* every slot holds a statement a caller may be using: preparing over one would
         * orphan it (and leak it), so this is an error in every build */
        log_error("store_prepare", "err=\"statement cache full\" slots=%d", STORE_STMT_SLOTS);
        return err_set(d, ERR_INTERNAL, "store_prepare",
                       "statement cache full (%d): raise STORE_STMT_SLOTS", STORE_STMT_SLOTS);
    }
    if (q_prepare(c, text, &c->qs[i], d) != ERR_OK)
        return ERR_STORE;
    c->keys[i] = key;
    *out = q_fresh(c->qs[i]);
    return ERR_OK;
}

/* Every use of a cached statement says anew whether it runs apart (store_stmt_apart). */
static enum err stmt_use(struct store *st, const void *key, const char *sql, bool apart,
                         struct store_q **out, struct err_detail *d)
{
    enum err e = stmt_get(st, key, sql, out, d);

    if (e == ERR_OK)
        (*out)->apart = apart;
    return e;
}

enum err store_stmt(struct store *st, const char *sql, struct store_q **out, struct err_detail *d)
{
    return stmt_use(st, sql, sql, false, out, d);
}

enum err store_stmt_sql(struct store *st, const struct store_sql *sql, struct store_q **out,
                        struct err_detail *d)
{
    return stmt_use(st, sql, st->pg != NULL ? sql->pg : sql->lite, false, out, d);
}

enum err store_stmt_apart(struct store *st, const char *sql, struct store_q **out,
                          struct err_detail *d)
{
    return stmt_use(st, sql, sql, true, out, d);
}

_Static_assert(STORE_ROW == SQLITE_ROW && STORE_DONE == SQLITE_DONE, "store_step's codes");

int store_step(struct store_q *q)
{
    sqlite3_stmt *s = q->s;
    int rc;

    if (q == bad_bind.q)
        return SQLITE_RANGE; /* a parameter was not bound: store_fail reports it */
    if (q->pg != NULL && q->apart && q->conn->pg_tx != NULL)
        return store_pgq_step(q->pg, q->conn->st->pg, NULL, 0, &q->conn->pg_changes);
    if (q->pg != NULL)
        return store_pgq_step(q->pg, q->conn->st->pg, q->conn->pg_tx, STORE_PG_ACQUIRE_MS,
                              &q->conn->pg_changes);
    rc = sqlite3_step(s);

    /* busy_timeout already waited; outside a transaction a retry is safe. Inside one, the
     * caller must roll back and start over, so busy is returned. */
    for (int i = 0; (rc & 0xff) == SQLITE_BUSY && i < BUSY_RETRIES; i++) {
        if (!sqlite3_get_autocommit(sqlite3_db_handle(s)))
            break;
        sqlite3_reset(s);
        clock_sleep_ms(10 + i * 10);
        rc = sqlite3_step(s);
    }
    return rc;
}

void store_reset(struct store_q *q)
{
    if (q->pg != NULL)
        store_pgq_reset(q->pg);
    else
        sqlite3_reset(q->s);
}

enum err store_fail(struct store_q *q, int rc, struct err_detail *d, const char *what)
{
    sqlite3_stmt *s = q->s;
    sqlite3 *db;
    enum err e = ERR_STORE;
    const char *code = "store";

    if (q == bad_bind.q) {
        bad_bind.q = NULL;
        store_reset(q);
        return err_set(d, ERR_INTERNAL, "store_bind", "%s: the statement has no parameter %s", what,
                       bad_bind.name);
    }
    if (q->pg != NULL)
        return store_pgq_fail(q->pg, d, what);
    db = sqlite3_db_handle(s);
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        e = ERR_CONFLICT;
        code = "conflict";
        break;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        e = ERR_INVALID;
        code = "invalid";
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        e = ERR_PRECONDITION;
        code = "missing_reference";
        break;
    default:
        break;
    }
    err_set(d, e, code, "%s: %s", what, sqlite3_errmsg(db));
    if (e == ERR_STORE) {
        char m[512];
        log_error("store_error", "op=%s rc=%d err=%s", what, rc,
                  log_q(m, sizeof(m), sqlite3_errmsg(db)));
    }
    sqlite3_reset(s);
    return e;
}

enum err store_exec_stmt(struct store_q *q, struct err_detail *d, const char *what)
{
    int rc = store_step(q);

    if (rc != STORE_DONE && rc != STORE_ROW)
        return store_fail(q, rc, d, what);
    store_reset(q);
    return ERR_OK;
}

enum err store_exec_count(struct store_q *q, int64_t *changed, struct err_detail *d,
                          const char *what)
{
    int rc = store_step(q);

    *changed = 0;
    if (rc != STORE_DONE && rc != STORE_ROW)
        return store_fail(q, rc, d, what);
    *changed =
        q->pg != NULL ? store_pgq_changed(q->pg) : sqlite3_changes64(sqlite3_db_handle(q->s));
    store_reset(q);
    return ERR_OK;
}

enum err store_step_one(struct store_q *q, struct err_detail *d, const char *what)
{
    int rc = store_step(q);

    if (rc == STORE_ROW)
        return ERR_OK;
    if (rc != STORE_DONE)
        return store_fail(q, rc, d, what);
    store_reset(q);
    return err_set(d, ERR_NOT_FOUND, "not_found", "%s: not found", what);
}

static enum err exec_cached(struct store *st, const char *sql, struct err_detail *d)
{
    struct store_q *s;
    enum err rc = store_stmt(st, sql, &s, d);

    if (rc != ERR_OK)
        return rc;
    return store_exec_stmt(s, d, sql);
}

static enum err tx_begin(struct store *st, const char *sql, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    enum err rc;

    if (c == NULL)
        return ERR_STORE;
    if (c->in_tx)
        return err_set(d, ERR_INTERNAL, "store_tx", "transaction already open on this thread");
    if (st->pg != NULL)
        rc = store_pgq_begin(st->pg, sql == SQL_BEGIN_WRITE, &c->pg_tx, d);
    else
        rc = exec_cached(st, sql, d);
    if (rc == ERR_OK)
        c->in_tx = true;
    return rc;
}

enum err store_tx_begin(struct store *st, struct err_detail *d)
{
    return tx_begin(st, SQL_BEGIN_WRITE, d);
}

enum err store_tx_begin_read(struct store *st, struct err_detail *d)
{
    return tx_begin(st, SQL_BEGIN_READ, d);
}

enum err store_tx_commit(struct store *st, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    struct store_q *q;
    sqlite3_stmt *s;
    enum err e;
    int rc;

    if (c == NULL || !c->in_tx)
        return err_set(d, ERR_INTERNAL, "store_tx", "commit without a transaction");
    if (c->pg_tx != NULL) {
        e = store_pgq_end(st->pg, c->pg_tx, true, d);
        c->pg_tx = NULL;
        c->in_tx = false;
        return e;
    }
    e = store_stmt(st, SQL_COMMIT, &q, d);
    if (e != ERR_OK) {
        store_tx_rollback(st);
        return e;
    }
    s = q->s;
    rc = sqlite3_step(s);
    for (int i = 0; (rc & 0xff) == SQLITE_BUSY && i < BUSY_RETRIES; i++) {
        sqlite3_reset(s);
        clock_sleep_ms(10 + i * 10);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        e = store_fail(q, rc, d, "commit");
        store_tx_rollback(st);
        return e;
    }
    sqlite3_reset(s);
    c->in_tx = false;
    return ERR_OK;
}

void store_tx_rollback(struct store *st)
{
    struct store_conn *c = store_conn_get(st, NULL);

    if (c == NULL)
        return;
    c->in_tx = false;
    if (c->pg_tx != NULL) {
        (void)store_pgq_end(st->pg, c->pg_tx, false, NULL);
        c->pg_tx = NULL;
        return;
    }
    if (c->db == NULL || sqlite3_get_autocommit(c->db))
        return;
    if (exec_cached(st, SQL_ROLLBACK, NULL) != ERR_OK) {
        char m[512];
        log_error("store_rollback", "err=%s", log_q(m, sizeof(m), sqlite3_errmsg(c->db)));
    }
}

struct store_pg *store_pg_pool(struct store *st)
{
    return st != NULL ? st->pg : NULL;
}

bool store_is_shared(const struct store *st)
{
    return st != NULL && st->pg != NULL;
}

bool store_in_tx(struct store *st)
{
    struct store_conn *c = pthread_getspecific(st->key);

    return c != NULL && c->in_tx;
}

int64_t store_changes(struct store *st)
{
    struct store_conn *c = store_conn_get(st, NULL);

    if (c == NULL)
        return 0;
    if (st->pg != NULL)
        return c->pg_changes - c->scratch_changes;
    return sqlite3_total_changes64(c->db) - c->scratch_changes;
}

static const char SQL_DATA_VERSION[] = "PRAGMA data_version";

enum err store_version_get(struct store *st, struct store_version *v, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    struct store_q *s;
    enum err e;

    *v = (struct store_version){0};
    if (c == NULL)
        return ERR_STORE;
    if (st->pg != NULL)
        return ERR_OK; /* no data_version there: conn 0 equals no version, so nothing is kept */
    e = store_stmt(st, SQL_DATA_VERSION, &s, d);
    if (e != ERR_OK)
        return e;
    e = store_step_one(s, d, "data version");
    if (e != ERR_OK)
        return e;
    *v = (struct store_version){.conn = c->serial,
                                .data_version = col_int64(s, 0),
                                .own_changes = sqlite3_total_changes64(c->db)};
    store_reset(s);
    return ERR_OK;
}

bool store_version_eq(const struct store_version *a, const struct store_version *b)
{
    return a->conn != 0 && a->conn == b->conn && a->data_version == b->data_version &&
           a->own_changes == b->own_changes;
}

enum err store_own_tx_begin(struct store *st, bool *own, struct err_detail *d)
{
    *own = !store_in_tx(st);
    return *own ? store_tx_begin(st, d) : ERR_OK;
}

enum err store_own_tx_end(struct store *st, bool own, enum err rc, struct err_detail *d)
{
    if (!own)
        return rc;
    if (rc != ERR_OK) {
        store_tx_rollback(st);
        return rc;
    }
    return store_tx_commit(st, d);
}

/* ---- binding and columns ---- */

static int param(struct store_q *q, const char *name)
{
    int i =
        q->pg != NULL ? store_pgq_param(q->pg, name) + 1 : sqlite3_bind_parameter_index(q->s, name);

    if (i <= 0 && bad_bind.q != q) {
        /* a programmer error; binding index 0 would silently leave the parameter NULL */
        log_error("store_bind", "err=\"statement has no parameter %s\" sql=\"%.80s\"", name,
                  q->pg != NULL ? store_pgq_text(q->pg) : sqlite3_sql(q->s));
        bad_bind.q = q;
        bad_bind.name = name;
    }
    return i;
}

void bind_text(struct store_q *q, const char *name, const char *v)
{
    int i = param(q, name);

    if (q->pg != NULL)
        store_pgq_bind_text(q->pg, i - 1, v);
    else if (v == NULL)
        sqlite3_bind_null(q->s, i);
    else
        sqlite3_bind_text(q->s, i, v, -1, SQLITE_STATIC);
}

void bind_text_or(struct store_q *q, const char *name, const char *v, const char *dflt)
{
    bind_text(q, name, v != NULL ? v : dflt);
}

void bind_int64(struct store_q *q, const char *name, int64_t v)
{
    if (q->pg != NULL)
        store_pgq_bind_int64(q->pg, param(q, name) - 1, v);
    else
        sqlite3_bind_int64(q->s, param(q, name), v);
}

void bind_time(struct store_q *q, const char *name, int64_t v)
{
    if (v != 0)
        bind_int64(q, name, v);
    else
        bind_text(q, name, NULL);
}

const char *col_view(struct store_q *q, int i)
{
    if (q->pg != NULL)
        return store_pgq_col(q->pg, i);
    return (const char *)sqlite3_column_text(q->s, i);
}

char *col_text(struct store_q *q, int i)
{
    const char *t = col_view(q, i);

    return t ? xstrdup(t) : NULL;
}

/* Drops the whitespace outside JSON strings, in place. */
static void json_compact(char *s)
{
    bool in_str = false;
    char *w = s;

    for (const char *r = s; *r != '\0'; r++) {
        if (in_str && *r == '\\' && r[1] != '\0') {
            *w++ = *r++; /* the escaped character stays, whatever it is */
        } else if (*r == '"') {
            in_str = !in_str;
        } else if (!in_str && (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r')) {
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

char *col_json(struct store_q *q, int i)
{
    char *t = col_text(q, i);

    if (t != NULL && q->pg != NULL)
        json_compact(t);
    return t;
}

int64_t col_int64(struct store_q *q, int i)
{
    if (q->pg != NULL)
        return store_pgq_col_int64(q->pg, i);
    return sqlite3_column_int64(q->s, i);
}

bool col_is_int(struct store_q *q, int i)
{
    if (q->pg != NULL)
        return store_pgq_col_is_int(q->pg, i);
    return sqlite3_column_type(q->s, i) == SQLITE_INTEGER;
}

int col_count(struct store_q *q)
{
    if (q->pg != NULL)
        return store_pgq_col_count(q->pg);
    return sqlite3_column_count(q->s);
}

bool col_null(struct store_q *q, int i)
{
    if (q->pg != NULL)
        return store_pgq_col(q->pg, i) == NULL;
    return sqlite3_column_type(q->s, i) == SQLITE_NULL;
}

char *store_lower(const char *s)
{
    char *r = xstrdup(s ? s : "");

    for (char *p = r; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}
