/* store_pg_listen.c: the access generation across replicas. Every write to a table the access
 * index is built from bumps access_generation.gen (migration 0005's access_gen_bump); on
 * PostgreSQL that function also NOTIFYs STORE_PG_ACCESS_CHANNEL, so a replica's listener,
 * LISTENing on a connection of its own, learns of another replica's committed write without
 * polling. The notification carries no payload: PostgreSQL folds a transaction's identical
 * notifications into one, so a bulk write is one wake-up, and the listener reads the generation
 * itself after it. A dropped connection is reopened and LISTENs again; what was notified in the
 * gap is lost, so that wait reports STORE_PG_LISTEN_RESUMED ("maybe changed") with the
 * generation read anew. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_pg_int.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

struct store_pg_listen {
    struct store_pg *pg;
    PGconn *conn;
    int64_t gen;
};

/* The migrators' lock of store_pg_migrate.c: replicas replacing the function take turns. */
static const char SQL_INSTALL[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(8533596094669090404);"
    "CREATE OR REPLACE FUNCTION access_gen_bump() RETURNS trigger LANGUAGE plpgsql AS $vl$\n"
    "BEGIN\n"
    "    UPDATE access_generation SET gen = gen + 1 WHERE id = 1;\n"
    "    PERFORM pg_notify('" STORE_PG_ACCESS_CHANNEL "', '');\n"
    "    RETURN NULL;\n"
    "END;\n"
    "$vl$;"
    "COMMIT";
static const char SQL_LISTEN[] = "LISTEN " STORE_PG_ACCESS_CHANNEL;
static const char SQL_GEN[] = "SELECT gen FROM access_generation WHERE id = 1";

enum err store_pg_listen_install(struct store_pg *pg, struct err_detail *d)
{
    struct store_pg_conn *c = store_pg_acquire(pg, STORE_PG_ACQUIRE_MS, d);
    enum err e;

    if (c == NULL)
        return ERR_STORE;
    e = store_pg_run(c, SQL_INSTALL, d);
    if (e != ERR_OK)
        store_pg_run(c, "ROLLBACK", NULL);
    store_pg_release(pg, c);
    return e;
}

static enum err conn_error(PGconn *conn, const char *what, struct err_detail *d)
{
    char msg[200];

    snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
    msg[strcspn(msg, "\r\n")] = '\0';
    return err_set(d, ERR_STORE, "store_pg", "access listener: %s: %s", what,
                   msg[0] != '\0' ? msg : "no result from PostgreSQL");
}

/* Runs sql on the listener's connection; its first value as a number into *v (if v). */
static enum err run(PGconn *conn, const char *sql, int64_t *v, struct err_detail *d)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType s = PQresultStatus(r);
    enum err e = ERR_OK;

    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        e = conn_error(conn, sql, d);
    else if (v != NULL && PQntuples(r) == 1)
        *v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (v != NULL)
        e = err_set(d, ERR_STORE, "store_pg", "access listener: no access_generation row");
    PQclear(r);
    return e;
}

/* (Re)connects, LISTENs, then reads the generation: a write committed after the LISTEN is
 * notified, one committed before is in the generation read. */
static enum err listen_connect(struct store_pg_listen *l, struct err_detail *d)
{
    enum err e;

    PQfinish(l->conn);
    l->conn = store_pg_connect(l->pg, "vmlogind access listener", d);
    if (l->conn == NULL)
        return ERR_STORE;
    e = run(l->conn, SQL_LISTEN, NULL, d);
    if (e == ERR_OK)
        e = run(l->conn, SQL_GEN, &l->gen, d);
    if (e != ERR_OK) {
        PQfinish(l->conn);
        l->conn = NULL;
    }
    return e;
}

enum err store_pg_listen_open(struct store_pg *pg, struct store_pg_listen **out,
                              struct err_detail *d)
{
    struct store_pg_listen *l = xcalloc(1, sizeof(*l));
    enum err e;

    *out = NULL;
    l->pg = pg;
    e = listen_connect(l, d);
    if (e != ERR_OK) {
        free(l);
        return e;
    }
    *out = l;
    return ERR_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes every notification received so far; true if there was one. */
static bool drain(PGconn *conn)
{
    PGnotify *n;
    bool any = false;

    while ((n = PQnotifies(conn)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

/* Waits for the socket until the deadline; false when the connection broke. */
static bool wait_socket(PGconn *conn, int64_t until, bool *notified)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
    int64_t left = until - now_ms();
    int rc;

    *notified = false;
    if (p.fd < 0)
        return false;
    rc = poll(&p, 1, left > 0 ? (int)(left < 60000 ? left : 60000) : 0);
    if (rc < 0)
        return errno == EINTR;
    if (rc == 0)
        return true;
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK)
        return false;
    *notified = drain(conn);
    return true;
}

/* The connection is gone: reconnect within this wait, or wait it out and report the error. */
static enum err resume(struct store_pg_listen *l, int64_t until, enum store_pg_listen_event *ev,
                       struct err_detail *d)
{
    enum err e = listen_connect(l, d);
    int64_t left;

    if (e == ERR_OK) {
        log_info("store_pg_listen_resumed", "gen=%lld", (long long)l->gen);
        *ev = STORE_PG_LISTEN_RESUMED;
        return ERR_OK;
    }
    /* The caller loops on waits: without this pause it would spin on a refused connection. */
    left = until - now_ms();
    if (left > 0)
        poll(NULL, 0, (int)(left < 60000 ? left : 60000));
    return e;
}

static bool is_up(struct store_pg_listen *l)
{
    return l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK;
}

enum err store_pg_listen_wait(struct store_pg_listen *l, int timeout_ms,
                              enum store_pg_listen_event *ev, int64_t *generation,
                              struct err_detail *d)
{
    int64_t until = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    bool notified = l->conn != NULL && drain(l->conn);
    enum err e = ERR_OK;

    *ev = STORE_PG_LISTEN_TIMEOUT;
    while (l->conn != NULL && !notified && now_ms() < until) {
        if (!wait_socket(l->conn, until, &notified))
            break;
    }
    if (is_up(l) && !notified && PQconsumeInput(l->conn) != 0)
        notified = drain(l->conn);
    if (is_up(l) && notified) {
        e = run(l->conn, SQL_GEN, &l->gen, d);
        *ev = STORE_PG_LISTEN_CHANGED;
    }
    /* Gone, before or while reading the generation: what it notified since may be lost. */
    if (!is_up(l))
        e = resume(l, until, ev, d);
    *generation = l->gen;
    return e;
}

int store_pg_listen_pid(const struct store_pg_listen *l)
{
    return l->conn != NULL ? PQbackendPID(l->conn) : 0;
}

void store_pg_listen_close(struct store_pg_listen *l)
{
    if (l == NULL)
        return;
    PQfinish(l->conn);
    free(l);
}
