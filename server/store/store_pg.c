/* store_pg.c: the PostgreSQL backend's connection pool. At most pool_size libpq connections,
 * opened on first need and reopened when one breaks; each keeps the statements prepared on it
 * (named vl_<FNV-1a of the SQL>), so a statement is prepared once per connection. The password
 * comes from postgres_password_file (kept in memory for reconnects, wiped at close) or from
 * libpq itself (PGPASSFILE, ~/.pgpass); only the masked connection string is ever logged. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_pg_int.h"
#include "vmlogind/config.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define PASSWORD_MAX 1024

struct pg_stmt {
    char *sql;
    char name[24];
};

struct store_pg_conn {
    PGconn *pg;
    bool busy;
    struct pg_stmt *stmts;
    int nstmts, cap;
};

struct store_pg {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    char *conninfo;
    char *password; /* NULL: libpq's own */
    char masked[CONFIG_STR_MAX + 64];
    char cloud[32];
    int size;
    struct store_pg_conn *conns;
};

static void ignore_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Trims libpq's message to one line for err_detail. */
static const char *one_line(char *buf, size_t cap, const char *msg)
{
    size_t n;

    snprintf(buf, cap, "%s", msg != NULL ? msg : "");
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return buf;
}

static void forget_stmts(struct store_pg_conn *c)
{
    for (int i = 0; i < c->nstmts; i++)
        free(c->stmts[i].sql);
    c->nstmts = 0;
}

static enum err connect_one(struct store_pg *pg, struct store_pg_conn *c, struct err_detail *d)
{
    /* Later keywords win: the defaults first, then the expanded connection string, then the
     * password from the file. */
    const char *keys[] = {"application_name", "connect_timeout", "dbname", "password", NULL};
    const char *vals[] = {"vmlogind", "10", pg->conninfo, pg->password, NULL};
    char msg[200];

    if (c->pg != NULL)
        PQfinish(c->pg);
    forget_stmts(c);
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (c->pg == NULL)
        return err_set(d, ERR_STORE, "store_pg_connect", "PostgreSQL %s: out of memory",
                       pg->masked);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        err_set(d, ERR_STORE, "store_pg_connect", "PostgreSQL %s: %s", pg->masked,
                one_line(msg, sizeof(msg), PQerrorMessage(c->pg)));
        PQfinish(c->pg);
        c->pg = NULL;
        return ERR_STORE;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    PQclear(PQexec(c->pg, STORE_PG_KEEPALIVE_SQL));
    store_pg_keepalive(c->pg);
    return ERR_OK;
}

/* Reads the password file: its first line, at most PASSWORD_MAX bytes. */
static enum err read_password(const char *path, char **out, struct err_detail *d)
{
    char buf[PASSWORD_MAX + 2];
    FILE *f = fopen(path, "r");
    size_t n;

    *out = NULL;
    if (f == NULL)
        return err_set(d, ERR_INVALID, "config_postgres_password_file",
                       "postgres_password_file %s: %s", path, strerror(errno));
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    n = strlen(buf);
    if (n == 0 || n > PASSWORD_MAX) {
        memset(buf, 0, sizeof(buf));
        return err_set(d, ERR_INVALID, "config_postgres_password_file",
                       "postgres_password_file %s: expected the password on its first line "
                       "(1 to %d bytes)",
                       path, PASSWORD_MAX);
    }
    *out = xstrdup(buf);
    memset(buf, 0, sizeof(buf));
    return ERR_OK;
}

static enum err check_conninfo(const char *conninfo, const char *masked, struct err_detail *d)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);

    /* libpq's message may quote the string, password and all: it is not passed on. */
    PQfreemem(msg);
    if (opts == NULL)
        return err_set(d, ERR_INVALID, "config_postgres_url",
                       "postgres_url is not a libpq connection string or URI: %s", masked);
    PQconninfoFree(opts);
    return ERR_OK;
}

static bool c_locale(const char *l)
{
    return strcmp(l, "C") == 0 || strcmp(l, "POSIX") == 0 || strcmp(l, "C.UTF-8") == 0 ||
           strcmp(l, "C.utf8") == 0;
}

/* The database must sort and compare text byte by byte, as SQLite and the access index do
 * (ids, cursors and answers in one order on every path and replica; lower() of ASCII only). */
static enum err check_collation(struct store_pg_conn *c, struct err_detail *d)
{
    PGresult *r = store_pg_exec(c,
                                "SELECT CASE WHEN datlocprovider = 'i' THEN 'ICU ' ||"
                                " coalesce(daticulocale, '') ELSE datcollate END, datctype"
                                " FROM pg_database WHERE datname = current_database()",
                                0, NULL, d);
    enum err e = ERR_OK;

    if (r == NULL)
        return ERR_STORE;
    if (PQntuples(r) == 1) {
        const char *coll = PQgetvalue(r, 0, 0), *ctype = PQgetvalue(r, 0, 1);
        /* C.UTF-8 of glibc 2.35 and later (Debian 12) sorts by code point: byte order */
        if (!c_locale(coll) || !c_locale(ctype))
            e = err_set(d, ERR_INVALID, "postgres_collation",
                        "the database's collation is %.40s (ctype %.40s); vmlogind needs the "
                        "byte order of the C locale: CREATE DATABASE vmlogind TEMPLATE template0 "
                        "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
                        coll, ctype);
    }
    PQclear(r);
    return e;
}

enum err store_pg_open(const struct store_pg_options *o, struct store_pg **out,
                       struct err_detail *d)
{
    struct store_pg *pg;
    struct store_pg_conn *c;
    enum err e;

    *out = NULL;
    if (o == NULL || o->conninfo == NULL || o->conninfo[0] == '\0' || o->pool_size < 1)
        return err_set(d, ERR_INVALID, "config_postgres_url",
                       "the PostgreSQL backend needs postgres_url and a pool size of 1 or more");
    pg = xcalloc(1, sizeof(*pg));
    config_conninfo_mask(o->conninfo, pg->masked, sizeof(pg->masked));
    e = check_conninfo(o->conninfo, pg->masked, d);
    if (e == ERR_OK && o->password_file != NULL && o->password_file[0] != '\0')
        e = read_password(o->password_file, &pg->password, d);
    if (e != ERR_OK) {
        free(pg);
        return e;
    }
    pg->conninfo = xstrdup(o->conninfo);
    snprintf(pg->cloud, sizeof(pg->cloud), "%s", o->cloud != NULL ? o->cloud : "AzureCloud");
    pg->size = o->pool_size;
    pg->conns = xcalloc((size_t)pg->size, sizeof(*pg->conns));
    pthread_mutex_init(&pg->mu, NULL);
    pthread_cond_init(&pg->freed, NULL);
    /* One connection now, so that a wrong URL or password is reported at start. */
    c = store_pg_acquire(pg, 0, d);
    if (c == NULL) {
        log_error("store_pg_open_failed", "conninfo=%s", pg->masked);
        store_pg_close(pg);
        return ERR_STORE;
    }
    log_info("store_pg_open", "conninfo=\"%s\" pool_size=%d server_version=%d", pg->masked,
             pg->size, PQserverVersion(c->pg));
    e = check_collation(c, d);
    store_pg_release(pg, c);
    if (e != ERR_OK) {
        store_pg_close(pg);
        return e;
    }
    *out = pg;
    return ERR_OK;
}

void store_pg_close(struct store_pg *pg)
{
    if (pg == NULL)
        return;
    for (int i = 0; i < pg->size; i++) {
        forget_stmts(&pg->conns[i]);
        free(pg->conns[i].stmts);
        if (pg->conns[i].pg != NULL)
            PQfinish(pg->conns[i].pg);
    }
    free(pg->conns);
    if (pg->password != NULL) {
        memset(pg->password, 0, strlen(pg->password));
        free(pg->password);
    }
    free(pg->conninfo);
    pthread_cond_destroy(&pg->freed);
    pthread_mutex_destroy(&pg->mu);
    free(pg);
}

const char *store_pg_conninfo_masked(const struct store_pg *pg)
{
    return pg->masked;
}

const char *store_pg_cloud(const struct store_pg *pg)
{
    return pg->cloud;
}

PGconn *store_pg_conn_pg(struct store_pg_conn *c)
{
    return c->pg;
}

/* A free connection, an open one first; NULL when all are busy. Under pg->mu. */
static struct store_pg_conn *pick_free(struct store_pg *pg)
{
    struct store_pg_conn *unopened = NULL;

    for (int i = 0; i < pg->size; i++) {
        struct store_pg_conn *c = &pg->conns[i];
        if (c->busy)
            continue;
        if (c->pg != NULL)
            return c;
        if (unopened == NULL)
            unopened = c;
    }
    return unopened;
}

static struct timespec deadline_in(int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* An idle connection has nothing to read: input there is the server ending the session (a
 * terminated backend, a restart or failover of PostgreSQL sends its FATAL message, then closes)
 * or something as unexpected. Such a connection is opened afresh before use, instead of
 * failing the statement it would be handed. */
static bool ended_by_server(PGconn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};

    return p.fd >= 0 && poll(&p, 1, 0) > 0;
}

struct store_pg_conn *store_pg_acquire(struct store_pg *pg, int timeout_ms, struct err_detail *d)
{
    struct timespec until = deadline_in(timeout_ms);
    struct store_pg_conn *c;
    int rc = 0;

    pthread_mutex_lock(&pg->mu);
    while ((c = pick_free(pg)) == NULL && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&pg->freed, &pg->mu, &until);
    if (c != NULL)
        c->busy = true;
    pthread_mutex_unlock(&pg->mu);
    if (c == NULL) {
        err_set(d, ERR_STORE, "store_pg_busy",
                "all %d PostgreSQL connections stayed in use for %d ms (postgres_pool_size)",
                pg->size, timeout_ms);
        return NULL;
    }
    /* Connecting happens outside the lock; the slot is ours meanwhile. */
    if ((c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK || ended_by_server(c->pg)) &&
        connect_one(pg, c, d) != ERR_OK) {
        store_pg_release(pg, c);
        return NULL;
    }
    return c;
}

void store_pg_release(struct store_pg *pg, struct store_pg_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&pg->mu);
    c->busy = false;
    pthread_cond_signal(&pg->freed);
    pthread_mutex_unlock(&pg->mu);
}

int store_pg_pool_size(const struct store_pg *pg)
{
    return pg->size;
}

int store_pg_pool_open(struct store_pg *pg)
{
    int n = 0;

    pthread_mutex_lock(&pg->mu);
    for (int i = 0; i < pg->size; i++)
        n += pg->conns[i].pg != NULL;
    pthread_mutex_unlock(&pg->mu);
    return n;
}

int store_pg_conn_prepared(const struct store_pg_conn *c)
{
    return c->nstmts;
}

/* Fills d from a failed result: SQLSTATE and PostgreSQL's message. */
static enum err result_error(const PGconn *conn, const PGresult *r, struct err_detail *d)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    char line[200];

    return err_set(d, ERR_STORE, "store_pg", "PostgreSQL %s: %s", state ? state : "error",
                   one_line(line, sizeof(line), msg));
}

static bool result_ok(const PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

uint64_t store_pg_fnv1a(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The name sql is prepared under on c, preparing it on first use; NULL on failure. */
static const char *prepared_name(struct store_pg_conn *c, const char *sql, int n,
                                 struct err_detail *d)
{
    struct pg_stmt *s;
    PGresult *r;

    for (int i = 0; i < c->nstmts; i++)
        if (strcmp(c->stmts[i].sql, sql) == 0)
            return c->stmts[i].name;
    if (c->nstmts == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->stmts = xreallocarray(c->stmts, (size_t)c->cap, sizeof(*c->stmts));
    }
    s = &c->stmts[c->nstmts];
    /* Two texts with one hash would both name vl_<hash>: the index keeps them apart. */
    snprintf(s->name, sizeof(s->name), "vl_%016llx_%d",
             (unsigned long long)store_pg_fnv1a(STORE_PG_FNV_START, sql), c->nstmts);
    r = PQprepare(c->pg, s->name, sql, n, NULL);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        result_error(c->pg, r, d);
        PQclear(r);
        return NULL;
    }
    PQclear(r);
    s->sql = xstrdup(sql);
    c->nstmts++;
    return s->name;
}

PGresult *store_pg_exec(struct store_pg_conn *c, const char *sql, int n, const char *const *params,
                        struct err_detail *d)
{
    const char *name = prepared_name(c, sql, n, d);
    PGresult *r;

    if (name == NULL)
        return NULL;
    r = PQexecPrepared(c->pg, name, n, params, NULL, NULL, 0);
    if (r == NULL || !result_ok(r)) {
        result_error(c->pg, r, d);
        PQclear(r);
        return NULL;
    }
    return r;
}

enum err store_pg_run(struct store_pg_conn *c, const char *sql, struct err_detail *d)
{
    PGresult *r = PQexec(c->pg, sql);
    enum err e = ERR_OK;

    if (r == NULL || !result_ok(r))
        e = result_error(c->pg, r, d);
    PQclear(r);
    return e;
}

PGconn *store_pg_connect(struct store_pg *pg, const char *app, struct err_detail *d)
{
    struct store_pg_conn c = {0};
    char *lit;
    char sql[256];
    PGresult *r;

    if (connect_one(pg, &c, d) != ERR_OK)
        return NULL;
    /* Set after connecting: the connection string's own keywords stay as they are. */
    lit = PQescapeLiteral(c.pg, app != NULL ? app : "vmlogind",
                          strlen(app != NULL ? app : "vmlogind"));
    snprintf(sql, sizeof(sql), "SET application_name = %s", lit != NULL ? lit : "'vmlogind'");
    PQfreemem(lit);
    r = PQexec(c.pg, sql);
    PQclear(r);
    return c.pg;
}

void store_pg_sqlstate(const struct err_detail *d, char out[6])
{
    /* result_error writes "PostgreSQL <SQLSTATE>: <message>" */
    const char *m = d->msg;

    out[0] = '\0';
    if (strcmp(d->code, "store_pg") == 0 && strncmp(m, "PostgreSQL ", 11) == 0 && strlen(m) > 17 &&
        m[16] == ':')
        snprintf(out, 6, "%.5s", m + 11);
}
