/* test_store_fixture.h: a migrated store per test for the test_store_*.c files, on a
 * temporary file (so several connections share it) or on :memory:. With
 * VMLOGIND_TEST_STORE_PG set (the ctest registrations *.pg: the test PostgreSQL's socket
 * directory) the same tests run on PostgreSQL instead, each in a schema of its own. */
#ifndef TEST_STORE_FIXTURE_H
#define TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>
#include <string.h>

#include "vmlogind/store.h"
#include "vmlogind/store_pg.h"

struct fixture {
    struct store *st;
    char path[64];
    char schema[48]; /* PostgreSQL: the test's schema */
    char ci[320];    /* PostgreSQL: the connection string that selects it */
};

/* The test PostgreSQL's socket directory when the tests run there, else NULL. */
static inline const char *fixture_pg_host(void)
{
    const char *h = getenv("VMLOGIND_TEST_STORE_PG");
    return h != NULL && h[0] != '\0' ? h : NULL;
}

/* Runs sql as the test server's superuser; false (and a message) on failure. */
static inline bool fixture_pg_admin(const char *sql)
{
    char ci[256];
    PGconn *c;
    PGresult *r;
    bool ok;

    snprintf(ci, sizeof(ci), "host=%s user=vmlogind dbname=postgres", fixture_pg_host());
    c = PQconnectdb(ci);
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "fixture: %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

/* A store on a new schema of the test PostgreSQL, found first on the search path. */
static inline enum err fixture_open_pg(struct fixture *f, struct err_detail *d)
{
    static int seq;
    char sql[96];
    struct store_pg_options o = {.conninfo = f->ci, .pool_size = 4};

    snprintf(f->schema, sizeof(f->schema), "vl_test_%d_%d", (int)getpid(), ++seq);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
    if (!fixture_pg_admin(sql))
        return err_set(d, ERR_STORE, "fixture", "cannot create schema %s", f->schema);
    snprintf(f->ci, sizeof(f->ci),
             "host=%s user=vmlogind dbname=postgres options='-c search_path=%s'", fixture_pg_host(),
             f->schema);
    return store_open_pg(&o, &f->st, d);
}

/* Opens f's database again into f->st (after the test closed it). */
static inline enum err fixture_reopen(struct fixture *f, struct err_detail *d)
{
    struct store_pg_options o = {.conninfo = f->ci, .pool_size = 4};

    if (f->schema[0] != '\0')
        return store_open_pg(&o, &f->st, d);
    return store_open(f->path, &f->st, d);
}

/* A second store on f's database, as another replica (or process) has one; f->st stays. */
static inline enum err fixture_open_second(struct fixture *f, struct store **out,
                                           struct err_detail *d)
{
    struct store *first = f->st;
    enum err e = fixture_reopen(f, d);

    *out = f->st;
    f->st = first;
    return e;
}

/* Runs sql on f's database on a connection of its own, outside the store: 0 when it ran, 1
 * when a constraint (CHECK, NOT NULL, unique, foreign key) refused it, -1 for another error. */
static inline int fixture_raw_exec(struct fixture *f, const char *sql)
{
    int rc;

    if (f->schema[0] != '\0') {
        PGconn *c = PQconnectdb(f->ci);
        PGresult *r = PQexec(c, sql);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK           ? 0
             : state != NULL && strncmp(state, "23", 2) == 0 ? 1
                                                             : -1;
        PQclear(r);
        PQfinish(c);
        return rc;
    }
    sqlite3 *db;
    if (sqlite3_open(f->path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : (rc & 0xff) == SQLITE_CONSTRAINT ? 1 : -1;
}

static inline int fixture_setup_at(void **state, bool on_file)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct err_detail d = {0};
    int fd;

    if (f == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), ":memory:");
    if (on_file) {
        snprintf(f->path, sizeof(f->path), "/tmp/test_store_XXXXXX");
        fd = mkstemp(f->path);
        if (fd < 0)
            return -1;
        close(fd);
    }
    if ((fixture_pg_host() != NULL ? fixture_open_pg(f, &d) : store_open(f->path, &f->st, &d)) !=
            ERR_OK ||
        store_migrate(f->st, &d) != ERR_OK) {
        fprintf(stderr, "fixture: %s\n", d.msg);
        return -1;
    }
    if (!on_file && f->schema[0] != '\0') { /* a key of its own, as a :memory: store has */
        static const char key[] = "the audit key of a throwaway test schema";
        if (store_audit_key_set(f->st, key, sizeof(key) - 1, &d) != ERR_OK) {
            fprintf(stderr, "fixture: %s\n", d.msg);
            return -1;
        }
    }
    if (on_file) { /* a random audit key made now, in a file beside the database */
        char key[96];
        snprintf(key, sizeof(key), "%s.audit-key", f->path);
        if (store_audit_key_load(f->st, key, true, NULL, &d) != ERR_OK) {
            fprintf(stderr, "fixture: %s\n", d.msg);
            return -1;
        }
    }
    *state = f;
    return 0;
}

static inline int fixture_setup(void **state)
{
    return fixture_setup_at(state, false);
}

static inline int fixture_setup_file(void **state)
{
    return fixture_setup_at(state, true);
}

static inline int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    char p[160];

    store_close(f->st);
    if (f->schema[0] != '\0') {
        snprintf(p, sizeof(p), "SET client_min_messages = warning; DROP SCHEMA %s CASCADE",
                 f->schema);
        (void)fixture_pg_admin(p);
    }
    if (f->path[0] == '/') {
        unlink(f->path);
        snprintf(p, sizeof(p), "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s.audit-key", f->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s.audit-checkpoints", f->path);
        unlink(p);
    }
    free(f);
    return 0;
}

#define ST(state) (((struct fixture *)*(state))->st)

#endif
