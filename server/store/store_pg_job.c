/* store_pg_job.c: singleton jobs across replicas (inventory sync, sweeps). A job is a
 * session-level advisory lock, keyed by the job's name, held on a connection of the job's own
 * (not the pool's): the lock lives exactly as long as that session. A replica that exits, is
 * killed or loses the database loses its session, PostgreSQL frees the lock, and the next
 * store_pg_job_try of another replica takes the job. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define JOB_NAME_MAX 64

struct store_pg_job {
    struct store_pg *pg;
    PGconn *conn;
    char name[JOB_NAME_MAX]; /* its first bytes, for logs and application_name */
    char key[24];            /* the lock's bigint key as text */
    bool held;
};

static const char SQL_TRY[] = "SELECT pg_try_advisory_lock($1::bigint)";
static const char SQL_UNLOCK[] = "SELECT pg_advisory_unlock($1::bigint)";
static const char SQL_ALIVE[] = "SELECT 1";

/* The lock's key: FNV-1a of "vmlogind.job:" and the whole name, as a signed bigint. The
 * migrators' transaction lock (store_pg_migrate.c) is another key of the same space. */
static void job_key(const char *name, char *out, size_t cap)
{
    uint64_t h = store_pg_fnv1a(store_pg_fnv1a(STORE_PG_FNV_START, "vmlogind.job:"), name);

    snprintf(out, cap, "%lld", (long long)(int64_t)h);
}

enum err store_pg_job_open(struct store_pg *pg, const char *name, struct store_pg_job **out,
                           struct err_detail *d)
{
    struct store_pg_job *job;

    *out = NULL;
    if (name == NULL || name[0] == '\0')
        return err_set(d, ERR_INVALID, "store_pg_job", "a job needs a name");
    job = xcalloc(1, sizeof(*job));
    job->pg = pg;
    snprintf(job->name, sizeof(job->name), "%.*s", JOB_NAME_MAX - 1, name); /* for logs */
    job_key(name, job->key, sizeof(job->key));
    *out = job;
    return ERR_OK;
}

/* Runs one of the statements above with the key; the first value is "t" into *yes. false when
 * the statement failed (d filled; a dropped connection shows as CONNECTION_BAD after). */
static bool run_key(struct store_pg_job *job, const char *sql, bool *yes, struct err_detail *d)
{
    const char *params[1] = {job->key};
    PGresult *r = PQexecParams(job->conn, sql, sql == SQL_ALIVE ? 0 : 1, NULL,
                               sql == SQL_ALIVE ? NULL : params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    char msg[200];

    if (ok) {
        *yes = PQgetvalue(r, 0, 0)[0] == 't' || PQgetvalue(r, 0, 0)[0] == '1';
    } else {
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(job->conn));
        msg[strcspn(msg, "\r\n")] = '\0';
        err_set(d, ERR_STORE, "store_pg", "job %s: %s", job->name,
                msg[0] != '\0' ? msg : "no result from PostgreSQL");
    }
    PQclear(r);
    return ok;
}

static void drop_conn(struct store_pg_job *job)
{
    PQfinish(job->conn);
    job->conn = NULL;
}

/* A lock held so far: still held while the session lives (nothing else releases it). */
static enum err check_held(struct store_pg_job *job, bool *held, struct err_detail *d)
{
    bool one = false;

    if (run_key(job, SQL_ALIVE, &one, d) && PQstatus(job->conn) == CONNECTION_OK) {
        *held = true;
        return ERR_OK;
    }
    /* The session is gone and the lock with it: another replica may run the job by now. This
     * call reports the loss; the next one reconnects and tries again. */
    log_warn("store_pg_job_lost", "job=%s", job->name);
    job->held = false;
    drop_conn(job);
    *held = false;
    return ERR_OK;
}

enum err store_pg_job_try(struct store_pg_job *job, bool *held, struct err_detail *d)
{
    char app[JOB_NAME_MAX + 16];
    bool got = false;

    *held = false;
    if (job->held)
        return check_held(job, held, d);
    if (job->conn != NULL && PQstatus(job->conn) != CONNECTION_OK)
        drop_conn(job);
    if (job->conn == NULL) {
        snprintf(app, sizeof(app), "vmlogind job %s", job->name);
        job->conn = store_pg_connect(job->pg, app, d);
        if (job->conn == NULL)
            return ERR_STORE;
    }
    if (!run_key(job, SQL_TRY, &got, d)) {
        if (PQstatus(job->conn) != CONNECTION_OK)
            drop_conn(job);
        return ERR_STORE;
    }
    if (got)
        log_info("store_pg_job_taken", "job=%s pid=%d", job->name, PQbackendPID(job->conn));
    job->held = got;
    *held = got;
    return ERR_OK;
}

void store_pg_job_release(struct store_pg_job *job)
{
    bool was = false;

    if (job == NULL || !job->held)
        return;
    job->held = false;
    /* Should the unlock fail, the session is dropped: that frees the lock too. */
    if (!run_key(job, SQL_UNLOCK, &was, NULL) || !was)
        drop_conn(job);
}

bool store_pg_job_held(const struct store_pg_job *job)
{
    return job->held;
}

int store_pg_job_pid(const struct store_pg_job *job)
{
    return job->conn != NULL ? PQbackendPID(job->conn) : 0;
}

void store_pg_job_close(struct store_pg_job *job)
{
    if (job == NULL)
        return;
    store_pg_job_release(job);
    PQfinish(job->conn);
    free(job);
}
