/* The PostgreSQL backend on a real PostgreSQL 15 (tests/pg/pg_server.sh, the ctest fixture
 * "pg", whose socket directory is VMLOGIND_TEST_PGHOST; without it the server tests skip):
 * the pool and its prepare-once statements, the password (file, PGPASSFILE, never logged),
 * and migrations (once, concurrent migrators, a newer database refused, a failure rolled
 * back). Each test works in a database of its own. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store_pg_int.h"
#include "vmlogind/log.h"
#include "vmlogind/model_login.h"

static const char *host;
static int seq;

/* Runs sql as the superuser in db; the first row's first value (or "") into out. */
static void admin(const char *db, const char *sql, char *out, size_t cap)
{
    char ci[512];
    PGconn *c;
    PGresult *r;

    snprintf(ci, sizeof(ci), "host=%s user=vmlogind dbname=%s", host, db);
    c = PQconnectdb(ci);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    if (out != NULL)
        snprintf(out, cap, "%s", PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

static int admin_int(const char *db, const char *sql)
{
    char v[64];
    admin(db, sql, v, sizeof(v));
    return atoi(v);
}

/* A new database; its name into db and a conninfo for it into ci. */
static void new_db(char *db, size_t dbcap, char *ci, size_t cicap)
{
    char sql[128];
    snprintf(db, dbcap, "vl_unit_%d_%d", (int)getpid(), ++seq);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    admin("postgres", sql, NULL, 0);
    snprintf(ci, cicap, "host=%s user=vmlogind dbname=%s", host, db);
}

static void drop_db(const char *db)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db);
    admin("postgres", sql, NULL, 0);
}

static struct store_pg *open_pg(const char *ci, int pool)
{
    struct store_pg_options o = {.conninfo = ci, .pool_size = pool};
    struct store_pg *pg = NULL;
    struct err_detail d;
    if (store_pg_open(&o, &pg, &d) != ERR_OK)
        fail_msg("store_pg_open: %s", d.msg);
    return pg;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (host == NULL)                                                                          \
            skip();                                                                                \
    } while (0)

static const char SQL_ADD[] = "SELECT $1::int + 1";

/* Runs sql with one parameter on c; the first value of its first row as an int. */
static int exec_int(struct store_pg_conn *c, const char *sql, const char *param)
{
    struct err_detail d;
    const char *p[1] = {param};
    PGresult *r = store_pg_exec(c, sql, 1, p, &d);
    int n;
    if (r == NULL)
        fail_msg("exec: %s", d.msg);
    n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static int add_one(struct store_pg_conn *c, const char *v)
{
    return exec_int(c, SQL_ADD, v);
}

/* pg_prepared_statements as the connection itself sees it, for SQL_ADD. */
static int server_prepared(struct store_pg_conn *c)
{
    return exec_int(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", SQL_ADD);
}

/* Every pooled connection bounds how long a vanished replica's session lives on: the client
 * check during a statement, an end to an idle transaction (the server's keepalives, set too,
 * read 0 on the test's Unix socket). */
static void test_pool_sessions_bounded(void **state)
{
    static const char *const want[][2] = {
        {"SHOW idle_in_transaction_session_timeout", "1min"},
        {"SHOW client_connection_check_interval", "5s"},
    };
    char db[64], ci[512];
    struct err_detail d;
    struct store_pg *pg;
    struct store_pg_conn *c;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pg = open_pg(ci, 1);
    c = store_pg_acquire(pg, 1000, &d);
    assert_non_null(c);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        PGresult *r = store_pg_exec(c, want[i][0], 0, NULL, &d);
        assert_non_null(r);
        assert_string_equal(PQgetvalue(r, 0, 0), want[i][1]);
        PQclear(r);
    }
    store_pg_release(pg, c);
    store_pg_close(pg);
    drop_db(db);
}

/* Each statement is prepared once per connection; the pool holds pool_size connections, a
 * caller finding them all busy is told so at its deadline, and a released connection comes
 * back with its statements. */
static void test_pool_prepares_once(void **state)
{
    char db[64], ci[512];
    struct err_detail d;
    struct store_pg *pg;
    struct store_pg_conn *a, *b;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pg = open_pg(ci, 2);
    assert_int_equal(store_pg_pool_open(pg), 1);
    a = store_pg_acquire(pg, 1000, &d);
    assert_non_null(a);
    assert_int_equal(add_one(a, "41"), 42);
    assert_int_equal(add_one(a, "1"), 2);
    assert_int_equal(add_one(a, "-1"), 0);
    assert_int_equal(server_prepared(a), 1);
    /* SQL_ADD, the catalog query and the open's collation check */
    assert_int_equal(store_pg_conn_prepared(a), 3);
    b = store_pg_acquire(pg, 1000, &d);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(store_pg_pool_open(pg), 2);
    assert_int_equal(add_one(b, "6"), 7);
    assert_int_equal(server_prepared(b), 1);
    assert_null(store_pg_acquire(pg, 50, &d));
    assert_string_equal(d.code, "store_pg_busy");
    assert_non_null(strstr(d.msg, "postgres_pool_size"));
    store_pg_release(pg, a);
    a = store_pg_acquire(pg, 1000, &d);
    assert_non_null(a);
    assert_int_equal(add_one(a, "9"), 10);
    assert_int_equal(store_pg_conn_prepared(a), 3);
    assert_int_equal(server_prepared(a), 1);
    /* A failing statement reports PostgreSQL's SQLSTATE, and the connection goes on. */
    assert_null(store_pg_exec(a, "SELECT 1 / $1::int", 1, (const char *[]){"0"}, &d));
    assert_string_equal(d.code, "store_pg");
    assert_non_null(strstr(d.msg, "22012"));
    assert_int_equal(add_one(a, "2"), 3);
    store_pg_release(pg, a);
    store_pg_release(pg, b);
    store_pg_close(pg);
    drop_db(db);
}

/* stderr (where the log goes) into a file while fn runs; the file's text into out. */
static void capture_stderr(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    char path[] = "/tmp/vmlogind-pglog-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    ssize_t n;
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    fn(arg);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

#define SECRET "pw-4c1f-secret"

struct leak_case {
    char ok_ci[600], bad_db_ci[512], bad_syntax_ci[512], uri_ci[512];
    char msgs[4][512];
};

static void open_four(void *arg)
{
    struct leak_case *lc = arg;
    const char *cis[4] = {lc->ok_ci, lc->bad_db_ci, lc->bad_syntax_ci, lc->uri_ci};
    const enum err want[4] = {ERR_OK, ERR_STORE, ERR_INVALID, ERR_STORE};
    for (int i = 0; i < 4; i++) {
        struct store_pg_options o = {.conninfo = cis[i], .pool_size = 1};
        struct store_pg *pg = NULL;
        struct err_detail d = {{0}, {0}};
        assert_int_equal(store_pg_open(&o, &pg, &d), want[i]);
        snprintf(lc->msgs[i], sizeof(lc->msgs[i]), "%s", d.msg);
        if (pg != NULL) {
            struct err_detail m;
            assert_int_equal(store_pg_migrate(pg, &m), ERR_OK);
            store_pg_close(pg);
        }
    }
}

/* A password written into postgres_url reaches neither the log nor an error message, whether
 * the connection works, fails, or the string does not parse; the log shows it masked. */
static void test_password_never_logged(void **state)
{
    struct leak_case lc;
    char db[64], ci[400], log[16384];
    enum log_level was = log_get_level();
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    snprintf(lc.ok_ci, sizeof(lc.ok_ci), "%s password=" SECRET, ci);
    snprintf(lc.bad_db_ci, sizeof(lc.bad_db_ci),
             "host=%s user=vl_nobody_here dbname=none password='" SECRET "'", host);
    snprintf(lc.bad_syntax_ci, sizeof(lc.bad_syntax_ci), "host=%s password " SECRET, host);
    snprintf(lc.uri_ci, sizeof(lc.uri_ci),
             "postgresql://vl_nobody_here:" SECRET "@/none?host=%s&password=" SECRET, host);
    log_set_level(LOG_DEBUG);
    capture_stderr(open_four, &lc, log, sizeof(log));
    log_set_level(was);
    assert_null(strstr(log, SECRET));
    assert_non_null(strstr(log, "msg=store_pg_open"));
    assert_non_null(strstr(log, "password=***"));
    assert_non_null(strstr(log, "msg=store_migrate"));
    for (int i = 1; i < 4; i++) {
        assert_null(strstr(lc.msgs[i], SECRET));
        assert_true(strstr(lc.msgs[i], "password=***") != NULL ||
                    strstr(lc.msgs[i], ":***@") != NULL || strstr(lc.msgs[i], "***") != NULL);
    }
    assert_non_null(strstr(lc.msgs[1], "vl_nobody_here"));
    drop_db(db);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* The password comes from postgres_password_file, else from libpq's PGPASSFILE; a wrong one
 * is refused by the server, a missing file named. The test role signs in with scram-sha-256. */
static void test_password_file(void **state)
{
    char role[64], sql[256], ci[512], pwfile[] = "/tmp/vmlogind-pgpw-XXXXXX";
    char passfile[] = "/tmp/vmlogind-pgpass-XXXXXX", line[128];
    struct store_pg_options o = {.conninfo = ci, .password_file = pwfile, .pool_size = 1};
    struct store_pg *pg = NULL;
    struct err_detail d;
    (void)state;
    NEED_SERVER();
    snprintf(role, sizeof(role), "vl_pw_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN PASSWORD 'pw-file-83'", role);
    admin("postgres", sql, NULL, 0);
    snprintf(ci, sizeof(ci), "host=%s user=%s dbname=postgres", host, role);
    close(mkstemp(pwfile));
    write_file(pwfile, "pw-file-83\n");
    assert_int_equal(store_pg_open(&o, &pg, &d), ERR_OK);
    store_pg_close(pg);
    write_file(pwfile, "not-it\n");
    assert_int_equal(store_pg_open(&o, &pg, &d), ERR_STORE);
    assert_non_null(strstr(d.msg, "password authentication failed"));
    assert_null(strstr(d.msg, "not-it"));
    unlink(pwfile);
    assert_int_equal(store_pg_open(&o, &pg, &d), ERR_INVALID);
    assert_string_equal(d.code, "config_postgres_password_file");
    /* No file: libpq's own, here PGPASSFILE (host:port:db:user:password; mode 0600). */
    o.password_file = NULL;
    close(mkstemp(passfile));
    snprintf(line, sizeof(line), "*:*:*:%s:pw-file-83\n", role);
    write_file(passfile, line);
    setenv("PGPASSFILE", passfile, 1);
    assert_int_equal(store_pg_open(&o, &pg, &d), ERR_OK);
    store_pg_close(pg);
    unsetenv("PGPASSFILE");
    unlink(passfile);
    assert_int_equal(store_pg_open(&o, &pg, &d), ERR_STORE);
    snprintf(sql, sizeof(sql), "DROP ROLE %s", role);
    admin("postgres", sql, NULL, 0);
}

/* The embedded migrations apply in order, each recorded once; a second run is a no-op. */
static void test_migrate_twice(void **state)
{
    char db[64], ci[512], before[64], after[64];
    struct err_detail d;
    struct store_pg *pg;
    int v = -1;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pg = open_pg(ci, 1);
    assert_int_equal(store_pg_schema_version(pg, &v, &d), ERR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(store_pg_migrate(pg, &d), ERR_OK);
    assert_int_equal(store_pg_schema_version(pg, &v, &d), ERR_OK);
    assert_int_equal(v, store_pg_migrations[store_pg_migrations_count - 1].version);
    assert_int_equal(admin_int(db, "SELECT count(*) FROM schema_migrations"),
                     store_pg_migrations_count);
    admin(db, "SELECT string_agg(name || applied_at, ',' ORDER BY version) FROM schema_migrations",
          before, sizeof(before));
    assert_int_equal(store_pg_migrate(pg, &d), ERR_OK);
    admin(db, "SELECT string_agg(name || applied_at, ',' ORDER BY version) FROM schema_migrations",
          after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(admin_int(db,
                               "SELECT count(*) FROM information_schema.tables"
                               " WHERE table_schema = 'public' AND table_name = 'login_grants'"),
                     1);
    store_pg_close(pg);
    drop_db(db);
}

/* vl_login_fix(code) in the migrated database against the diagnosis table in C. */
static void assert_fix(struct store_pg *pg, const char *code, const char *cloud)
{
    struct store_pg_conn *c;
    struct model_diagnosis dg;
    struct err_detail d;
    const char *p[1] = {code};
    PGresult *r;
    c = store_pg_acquire(pg, 1000, &d);
    assert_non_null(c);
    r = store_pg_exec(c, "SELECT vl_login_fix($1)", 1, p, &d);
    if (r == NULL)
        fail_msg("vl_login_fix(%s): %s", code ? code : "NULL", d.msg);
    if (code == NULL) {
        assert_true(PQgetisnull(r, 0, 0));
    } else {
        model_diagnose_cause(code, cloud, &dg);
        if (dg.fix[0] == '\0')
            assert_true(PQgetisnull(r, 0, 0));
        else
            assert_string_equal(PQgetvalue(r, 0, 0), dg.fix);
    }
    PQclear(r);
    store_pg_release(pg, c);
}

/* migrate creates vl_login_fix (called by 0015's login.failed triggers) for the configured
 * cloud from the C diagnosis table: every code and alias, in any case, an unknown code and
 * NULL give what model_diagnose_cause gives. */
static void test_migrate_login_fix(void **state)
{
    char db[64], ci[512], upper[64];
    struct store_pg_options o = {.conninfo = ci, .pool_size = 1, .cloud = "AzureUSGovernment"};
    struct store_pg *pg = NULL;
    struct err_detail d;
    const char *code;
    const char *const *aliases;
    size_t i;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    assert_int_equal(store_pg_open(&o, &pg, &d), ERR_OK);
    assert_int_equal(store_pg_migrate(pg, &d), ERR_OK);
    for (i = 0; model_diagnose_cause_at(i, &code, &aliases); i++) {
        assert_fix(pg, code, o.cloud);
        for (size_t k = 0; aliases[k] != NULL; k++)
            assert_fix(pg, aliases[k], o.cloud);
        snprintf(upper, sizeof(upper), "%s", code);
        for (char *q = upper; *q != '\0'; q++)
            *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
        assert_fix(pg, upper, o.cloud);
    }
    assert_true(i > 5);
    assert_fix(pg, "no-such-code", o.cloud);
    assert_fix(pg, "", o.cloud);
    assert_fix(pg, NULL, o.cloud);
    assert_int_equal(admin_int(db, "SELECT count(*) FROM pg_proc WHERE proname = 'vl_login_fix'"
                                   " AND prosrc LIKE '%usgovcloudapi%'"),
                     1);
    store_pg_close(pg);
    drop_db(db);
}

struct racer {
    const char *ci;
    pthread_barrier_t *go;
    enum err e;
    char msg[256];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct store_pg_options o = {.conninfo = r->ci, .pool_size = 1};
    struct store_pg *pg = NULL;
    struct err_detail d = {{0}, {0}};
    r->e = store_pg_open(&o, &pg, &d);
    pthread_barrier_wait(r->go);
    if (r->e == ERR_OK)
        r->e = store_pg_migrate(pg, &d);
    snprintf(r->msg, sizeof(r->msg), "%s", d.msg);
    store_pg_close(pg);
    return NULL;
}

/* Two replicas migrating one empty database at once both succeed, with one set of rows. */
static void test_migrate_concurrent(void **state)
{
    char db[64], ci[512];
    pthread_barrier_t go;
    pthread_t t[2];
    struct racer r[2];
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        r[i] = (struct racer){.ci = ci, .go = &go};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        if (r[i].e != ERR_OK)
            fail_msg("migrator %d: %s", i, r[i].msg);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(admin_int(db, "SELECT count(*) FROM schema_migrations"),
                     store_pg_migrations_count);
    assert_int_equal(admin_int(db, "SELECT count(DISTINCT version) FROM schema_migrations"),
                     store_pg_migrations_count);
    assert_int_equal(admin_int(db, "SELECT count(*) FROM access_generation"), 1);
    drop_db(db);
}

/* A database a newer vmlogind migrated is refused, and left as it was. */
static void test_migrate_refuses_newer(void **state)
{
    char db[64], ci[512];
    struct err_detail d;
    struct store_pg *pg;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pg = open_pg(ci, 1);
    assert_int_equal(store_pg_migrate_with(pg, store_pg_migrations, 2, &d), ERR_OK);
    admin(db, "INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)", NULL, 0);
    assert_int_equal(store_pg_migrate(pg, &d), ERR_STORE);
    assert_string_equal(d.code, "schema_too_new");
    assert_non_null(strstr(d.msg, "9999"));
    assert_int_equal(admin_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    assert_int_equal(admin_int(db, "SELECT count(*) FROM information_schema.tables"
                                   " WHERE table_name = 'vm_login'"),
                     1);
    assert_int_equal(admin_int(db, "SELECT count(*) FROM information_schema.columns"
                                   " WHERE table_name = 'vm_login' AND column_name = 'ext_name'"),
                     0);
    store_pg_close(pg);
    drop_db(db);
}

/* A failing migration is rolled back whole, named in the error, and the ones before stay. */
static void test_migrate_failure_rolls_back(void **state)
{
    static const struct store_migration list[] = {
        {.version = 1, .name = "0001_a.sql", .sql = "CREATE TABLE a (x BIGINT)"},
        {.version = 2,
         .name = "0002_b.sql",
         .sql = "CREATE TABLE b (x BIGINT); INSERT INTO b VALUES (1); SELECT no_such_fn()"},
    };
    char db[64], ci[512];
    struct err_detail d;
    struct store_pg *pg;
    int v = -1;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pg = open_pg(ci, 1);
    assert_int_equal(store_pg_migrate_with(pg, list, 2, &d), ERR_STORE);
    assert_string_equal(d.code, "migration_failed");
    assert_non_null(strstr(d.msg, "0002_b.sql"));
    assert_non_null(strstr(d.msg, "no_such_fn"));
    assert_int_equal(store_pg_schema_version(pg, &v, &d), ERR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(admin_int(db, "SELECT (to_regclass('a') IS NOT NULL)::int"), 1);
    assert_int_equal(admin_int(db, "SELECT (to_regclass('b') IS NOT NULL)::int"), 0);
    store_pg_close(pg);
    drop_db(db);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool job_try(struct store_pg_job *j)
{
    struct err_detail d;
    bool held = true;
    if (store_pg_job_try(j, &held, &d) != ERR_OK)
        fail_msg("store_pg_job_try: %s", d.msg);
    assert_int_equal(held, store_pg_job_held(j));
    return held;
}

/* Tries until j holds its job, up to ms; how many tries it took (0: it never did). */
static int job_take_within(struct store_pg_job *j, int ms)
{
    int64_t until = mono_ms() + ms;
    int tries = 0;
    do {
        tries++;
        if (job_try(j))
            return tries;
        poll(NULL, 0, 5); /* between tries of a polled deadline */
    } while (mono_ms() < until);
    return 0;
}

static void terminate_backend(int pid)
{
    char sql[96];
    assert_true(pid > 0);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
    admin("postgres", sql, NULL, 0);
    /* Gone for good, so that no later write reaches that session. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
    for (int64_t until = mono_ms() + 10000; admin_int("postgres", sql) != 0;)
        assert_true(mono_ms() < until);
}

static struct store_pg_job *job_open(struct store_pg *pg, const char *name)
{
    struct store_pg_job *j = NULL;
    struct err_detail d;
    if (store_pg_job_open(pg, name, &j, &d) != ERR_OK)
        fail_msg("store_pg_job_open: %s", d.msg);
    return j;
}

/* A pooled connection the server ended while it sat idle (a terminated backend, as a restart
 * or failover of PostgreSQL ends every session) is opened afresh when next acquired: the
 * statement it is handed runs, on a new session, instead of failing. */
static void test_pool_reopens_ended_connection(void **state)
{
    char db[64], ci[512];
    struct err_detail d;
    struct store_pg *pg;
    struct store_pg_conn *c;
    int pid;
    (void)state;
    NEED_SERVER();
    new_db(db, sizeof(db), ci, sizeof(ci));
    pg = open_pg(ci, 1);
    c = store_pg_acquire(pg, 1000, &d);
    assert_non_null(c);
    pid = exec_int(c, "SELECT pg_backend_pid() + 0 * $1::int", "0");
    store_pg_release(pg, c);
    terminate_backend(pid);
    c = store_pg_acquire(pg, 1000, &d);
    assert_non_null(c);
    assert_int_equal(add_one(c, "41"), 42);
    assert_int_not_equal(exec_int(c, "SELECT pg_backend_pid() + 0 * $1::int", "0"), pid);
    store_pg_release(pg, c);
    store_pg_close(pg);
    drop_db(db);
}

/* Two replicas: two handles on one new database. */
struct replicas {
    char db[64], ci[512];
    struct store_pg *a, *b;
};

static void replicas_open(struct replicas *r)
{
    new_db(r->db, sizeof(r->db), r->ci, sizeof(r->ci));
    r->a = open_pg(r->ci, 1);
    r->b = open_pg(r->ci, 1);
}

static void replicas_close(struct replicas *r)
{
    store_pg_close(r->a);
    store_pg_close(r->b);
    drop_db(r->db);
}

/* Two replicas (two handles): a job one holds is not the other's until the first releases it,
 * or until the first's session dies (pg_terminate_backend, as when the replica is killed);
 * then the other takes it within a deadline. Jobs of other names are independent. */
static void test_job_singleton(void **state)
{
    struct replicas r;
    struct err_detail d;
    struct store_pg_job *ja, *jb, *jb_sweep, *bad = NULL;
    char sql[128], app[64];
    int pid;
    (void)state;
    NEED_SERVER();
    replicas_open(&r);
    assert_int_equal(store_pg_job_open(r.a, "", &bad, &d), ERR_INVALID);
    assert_null(bad);
    ja = job_open(r.a, "sync");
    jb = job_open(r.b, "sync");
    jb_sweep = job_open(r.b, "sweep");
    assert_true(job_try(ja));
    assert_false(job_try(jb));
    assert_true(job_try(jb_sweep));
    assert_true(job_try(ja)); /* still held, not taken twice */
    assert_false(job_try(jb));
    assert_int_equal(admin_int(r.db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                     " AND granted AND database = (SELECT oid FROM pg_database"
                                     " WHERE datname = current_database())"),
                     2);
    /* Its own session, named, with the keepalive settings taken (one statement with the name). */
    snprintf(sql, sizeof(sql), "SELECT application_name FROM pg_stat_activity WHERE pid = %d",
             store_pg_job_pid(ja));
    admin(r.db, sql, app, sizeof(app));
    assert_string_equal(app, "vmlogind job sync");
    /* Released: the other replica takes it. */
    store_pg_job_release(ja);
    assert_false(store_pg_job_held(ja));
    assert_int_not_equal(job_take_within(jb, 10000), 0);
    assert_false(job_try(ja));
    /* The holder's session dies: the lock goes with it. */
    pid = store_pg_job_pid(jb);
    terminate_backend(pid);
    assert_int_not_equal(job_take_within(ja, 10000), 0);
    assert_false(job_try(jb)); /* reports the loss */
    assert_false(job_try(jb)); /* reconnected: the job is the other's now */
    assert_int_not_equal(store_pg_job_pid(jb), pid);
    store_pg_job_close(ja); /* closing releases */
    assert_int_not_equal(job_take_within(jb, 10000), 0);
    store_pg_job_close(jb);
    store_pg_job_close(jb_sweep);
    store_pg_job_close(NULL);
    replicas_close(&r);
}

/* Runs sql (no parameters) on a connection of pg's pool. */
static void pool_run(struct store_pg *pg, const char *sql)
{
    struct err_detail d;
    struct store_pg_conn *c = store_pg_acquire(pg, 1000, &d);
    assert_non_null(c);
    if (store_pg_run(c, sql, &d) != ERR_OK)
        fail_msg("%s: %s", sql, d.msg);
    store_pg_release(pg, c);
}

static enum store_pg_listen_event listen_wait(struct store_pg_listen *l, int ms, int64_t *gen)
{
    enum store_pg_listen_event ev;
    struct err_detail d;
    if (store_pg_listen_wait(l, ms, &ev, gen, &d) != ERR_OK)
        fail_msg("store_pg_listen_wait: %s", d.msg);
    return ev;
}

static int64_t db_gen(const char *db)
{
    return admin_int(db, "SELECT gen FROM access_generation WHERE id = 1");
}

/* Two replicas on a migrated database, and a listener on the second; its generation now into
 * *gen0. */
static struct store_pg_listen *replicas_listening(struct replicas *r, int64_t *gen0)
{
    struct err_detail d;
    struct store_pg_listen *l = NULL;
    replicas_open(r);
    assert_int_equal(store_pg_migrate(r->a, &d), ERR_OK);
    assert_int_equal(store_pg_listen_open(r->b, &l, &d), ERR_OK);
    assert_int_equal(listen_wait(l, 0, gen0), STORE_PG_LISTEN_TIMEOUT);
    assert_int_equal(*gen0, db_gen(r->db));
    return l;
}

/* A write on one replica that bumps the access generation wakes the other's listener with the
 * new generation; a transaction of many bumps is one wake-up; after the listener's session is
 * killed it reconnects ("maybe changed", with the generation read anew, a write of the gap
 * included) and delivers later writes. */
static void test_listen_generation(void **state)
{
    struct replicas r;
    struct store_pg_listen *l;
    int64_t gen = 0, gen0;
    int pid;
    (void)state;
    NEED_SERVER();
    l = replicas_listening(&r, &gen0);
    pool_run(r.a, "INSERT INTO principals (id, kind, changed_at) VALUES ('p1', 'user', 1)");
    assert_int_equal(listen_wait(l, 10000, &gen), STORE_PG_LISTEN_CHANGED);
    assert_int_equal(gen, gen0 + 1);
    /* Fifty bumps in one transaction: one notification. */
    pool_run(r.a, "INSERT INTO principals (id, kind, changed_at)"
                  " SELECT 'q' || i, 'user', 1 FROM generate_series(1, 50) AS i");
    assert_int_equal(listen_wait(l, 10000, &gen), STORE_PG_LISTEN_CHANGED);
    assert_int_equal(gen, gen0 + 51);
    assert_int_equal(listen_wait(l, 0, &gen), STORE_PG_LISTEN_TIMEOUT);
    /* A write not about access does not wake it. */
    pool_run(r.a, "SELECT pg_notify('other', 'x')");
    assert_int_equal(listen_wait(l, 50, &gen), STORE_PG_LISTEN_TIMEOUT);
    /* The listener's session dies; a write lands in the gap. */
    pid = store_pg_listen_pid(l);
    terminate_backend(pid);
    pool_run(r.a, "UPDATE principals SET display_name = 'x' WHERE id = 'p1'");
    assert_int_equal(listen_wait(l, 10000, &gen), STORE_PG_LISTEN_RESUMED);
    assert_int_equal(gen, gen0 + 52);
    assert_int_not_equal(store_pg_listen_pid(l), pid);
    pool_run(r.a, "DELETE FROM principals WHERE id = 'p1'");
    assert_int_equal(listen_wait(l, 10000, &gen), STORE_PG_LISTEN_CHANGED);
    assert_int_equal(gen, gen0 + 53);
    assert_int_equal(gen, db_gen(r.db));
    store_pg_listen_close(l);
    store_pg_listen_close(NULL);
    replicas_close(&r);
}

static void allow_connections(const char *db, bool allow)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS %s", db,
             allow ? "true" : "false");
    admin("postgres", sql, NULL, 0);
}

/* While the database refuses connections, a listener whose session died waits out its timeout
 * and reports the error (no spinning), and a job's holder learns it lost the job and then gets
 * the error; once the database is back, the listener resumes (a write of the gap counted) and
 * the job is taken again. */
static void test_ha_database_unreachable(void **state)
{
    struct replicas r;
    struct err_detail d;
    struct store_pg_listen *l;
    struct store_pg_job *j;
    enum store_pg_listen_event ev;
    int64_t gen = 0, gen0, t0;
    bool held = true;
    (void)state;
    NEED_SERVER();
    l = replicas_listening(&r, &gen0);
    j = job_open(r.b, "sync");
    assert_true(job_try(j));
    allow_connections(r.db, false);
    terminate_backend(store_pg_listen_pid(l));
    terminate_backend(store_pg_job_pid(j));
    pool_run(r.a, "INSERT INTO principals (id, kind, changed_at) VALUES ('p1', 'user', 1)");
    t0 = mono_ms();
    assert_int_equal(store_pg_listen_wait(l, 200, &ev, &gen, &d), ERR_STORE);
    assert_string_equal(d.code, "store_pg_connect");
    assert_true(mono_ms() - t0 >= 200);
    assert_int_equal(gen, gen0);
    assert_int_equal(store_pg_job_try(j, &held, &d), ERR_OK); /* the loss */
    assert_false(held);
    assert_int_equal(store_pg_job_try(j, &held, &d), ERR_STORE);
    assert_false(held);
    allow_connections(r.db, true);
    assert_int_equal(listen_wait(l, 10000, &gen), STORE_PG_LISTEN_RESUMED);
    assert_int_equal(gen, gen0 + 1);
    assert_int_not_equal(job_take_within(j, 10000), 0);
    store_pg_job_close(j);
    store_pg_listen_close(l);
    replicas_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_prepares_once),
        cmocka_unit_test(test_pool_sessions_bounded),
        cmocka_unit_test(test_pool_reopens_ended_connection),
        cmocka_unit_test(test_password_never_logged),
        cmocka_unit_test(test_password_file),
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_migrate_refuses_newer),
        cmocka_unit_test(test_migrate_failure_rolls_back),
        cmocka_unit_test(test_migrate_login_fix),
        cmocka_unit_test(test_job_singleton),
        cmocka_unit_test(test_listen_generation),
        cmocka_unit_test(test_ha_database_unreachable),
    };
    host = getenv("VMLOGIND_TEST_PGHOST");
    if (host != NULL && host[0] == '\0')
        host = NULL;
    if (host == NULL)
        fprintf(stderr, "VMLOGIND_TEST_PGHOST is not set (ctest's pg fixture sets it): "
                        "the PostgreSQL tests skip\n");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
