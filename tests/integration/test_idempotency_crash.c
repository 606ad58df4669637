/* kill -9 while a POST with an Idempotency-Key runs: the key is left with no record at all
 * (checked in the database before any restart, so no recovery at start is needed), and a retry
 * with the same key gets a real answer (it runs), not 409 "still running" for the rest of the
 * day. The request is held inside its write transaction by a trigger (installed with the
 * sqlite3 CLI, or psql on PostgreSQL) that makes the task insert of POST /v1/sync compute (or
 * sleep) for minutes; the daemon is killed once the request has been seen held across several
 * polls. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define IDEM_KEY "crash-sync-1"

static struct daemon d;

/* Runs one SQL text on the daemon's database (h_daemon_sql: the sqlite3 CLI waits for the
 * daemon's write lock like the daemon waits for ours); pg_text is its PostgreSQL text when not
 * NULL. Returns the exit status. */
static int sql(const char *text, const char *pg_text, char *out, size_t cap)
{
    return h_daemon_sql(&d, text, pg_text, out, cap);
}

/* True once the request has been seen held in its transaction on 3 polls in a row (arg counts
 * them), not a short write of the reconciler: SQLite's write lock taken, or on PostgreSQL a
 * session of the daemon asleep in the trigger. */
static bool held(void *arg)
{
    int *seen = arg;
    char cmd[1024], n[32] = "";

    if (h_daemon_pg()) {
        sql("",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
            "wait_event = 'PgSleep'",
            n, sizeof(n));
        *seen = strcmp(n, "1") == 0 ? *seen + 1 : 0;
        return *seen >= 3;
    }
    snprintf(cmd, sizeof(cmd), "sqlite3 -bail '%s' 'BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1",
             d.db);
    *seen = system(cmd) != 0 ? *seen + 1 : 0;
    return *seen >= 3;
}

/* Sends the POST on a raw socket and returns without waiting for the answer. */
static int post_async(const char *key)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char req[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t n;

    assert_true(fd >= 0);
    sa.sin_port = htons((uint16_t)strtoul(strrchr(d.p.url, ':') + 1, NULL, 10));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                         "Idempotency-Key: " IDEM_KEY "\r\nContent-Length: 0\r\n\r\n",
                         h_bearer(key));
    assert_int_equal(send(fd, req, n, MSG_NOSIGNAL), (ssize_t)n);
    return fd;
}

static void test_kill_during_idempotent_post(void **state)
{
    char key[128], url[512], n[32];
    const char *hdrs[3];
    struct resp r;
    int fd, seen = 0;
    (void)state;

    assert_true(h_daemon_start(&d, "sync_interval_s = 0\n", NULL));
    h_daemon_key(&d, "operator", NULL, key, sizeof(key));
    /* 2000^3 rows to count (or ten minutes' sleep): inside the handler's transaction */
    assert_int_equal(sql("CREATE TABLE slow_rows (x INTEGER);"
                         " WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
                         " LIMIT 2000) INSERT INTO slow_rows SELECT x FROM c;"
                         " CREATE TRIGGER slow_sync BEFORE INSERT ON tasks"
                         " WHEN NEW.kind = 'sync' BEGIN"
                         " SELECT count(*) FROM slow_rows a, slow_rows b, slow_rows c; END;",
                         "CREATE FUNCTION slow_sync() RETURNS trigger LANGUAGE plpgsql AS $$"
                         " BEGIN PERFORM pg_sleep(600); RETURN NEW; END $$;"
                         " CREATE TRIGGER slow_sync BEFORE INSERT ON tasks FOR EACH ROW"
                         " WHEN (NEW.kind = 'sync') EXECUTE FUNCTION slow_sync();",
                         NULL, 0),
                     0);
    fd = post_async(key);
    assert_true(h_poll(held, &seen, 20000));
    h_proc_kill(&d.p); /* kill -9 while the request runs */
    close(fd);
    /* PostgreSQL's session of the dead daemon finds its client gone once the statement ends:
     * end it now, so it rolls back and frees the write lock */
    assert_int_equal(sql("SELECT 0",
                         "SELECT count(*) FROM pg_stat_activity WHERE CASE WHEN datname = "
                         "current_database() AND pid <> pg_backend_pid() THEN NOT "
                         "pg_terminate_backend(pid, 20000) ELSE false END",
                         n, sizeof(n)),
                     0);
    assert_string_equal(n, "0");
    /* nothing of the request survived: no key "in progress", no half-made change */
    sql("SELECT count(*) FROM idempotency_keys", NULL, n, sizeof(n));
    assert_string_equal(n, "0");
    sql("SELECT count(*) FROM tasks WHERE kind = 'sync'", NULL, n, sizeof(n));
    assert_string_equal(n, "0");

    assert_int_equal(sql("DROP TRIGGER slow_sync; DROP TABLE slow_rows;",
                         "DROP TRIGGER slow_sync ON tasks; DROP FUNCTION slow_sync();", NULL, 0),
                     0);
    assert_true(h_daemon_restart(&d, NULL));
    hdrs[0] = h_bearer(key);
    hdrs[1] = "Idempotency-Key: " IDEM_KEY;
    hdrs[2] = NULL;
    snprintf(url, sizeof(url), "%s/v1/sync", d.p.url);
    h_http("POST", url, NULL, hdrs, &r);
    if (r.status != 202)
        fail_msg("retry after the crash: %ld, want 202: %s", r.status, r.body ? r.body : "");
    h_resp_cleanup(&r);
    /* and the key now replays that answer */
    h_http("POST", url, NULL, hdrs, &r);
    assert_int_equal(r.status, 202);
    assert_true(h_resp_header(&r, "Idempotency-Replayed", url, sizeof(url)));
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_idempotent_post),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
