/* A store failure answers a generic 5xx problem: no SQLite message, no SQL, no table name in
 * the body; the detail is in the log under the request id the answer carries. The failure is
 * real: a table is dropped (sqlite3 CLI, or psql on PostgreSQL) while the daemon runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "harness.h"

static bool log_has(void *arg)
{
    const char *const *want = arg;
    char *log = h_read_file(want[0]);
    bool found = log != NULL && strstr(log, want[1]) != NULL;
    free(log);
    return found;
}

static void test_store_error_is_generic(void **state)
{
    struct daemon d;
    char key[128], url[512], rid[128], line[256];
    const char *hdrs[2];
    const char *want[2];
    struct resp r;
    (void)state;

    assert_true(h_daemon_start(&d, NULL, NULL));
    h_daemon_key(&d, "reader", NULL, key, sizeof(key));
    hdrs[0] = h_bearer(key);
    hdrs[1] = NULL;
    snprintf(url, sizeof(url), "%s/v1/subscriptions", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, hdrs, &r), 200);
    h_resp_cleanup(&r);

    /* waits for the daemon's write lock like the daemon waits for ours */
    assert_int_equal(
        h_daemon_sql(&d, "DROP TABLE subscriptions", "DROP TABLE subscriptions CASCADE", NULL, 0),
        0);
    h_http("GET", url, NULL, hdrs, &r);
    assert_true(r.status >= 500 && r.status < 600);
    assert_non_null(r.json);
    assert_true(h_resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    assert_string_equal(h_jstr(r.json, "instance"), rid);
    assert_true(h_jstr(r.json, "code")[0] != '\0');
    for (const char *const *bad =
             (const char *const[]){"no such table", "subscriptions", "SQL", "prepare failed", NULL};
         *bad != NULL; bad++)
        if (strcasestr(r.body, *bad) != NULL)
            fail_msg("the %ld answer leaks \"%s\": %s", r.status, *bad, r.body);
    h_resp_cleanup(&r);

    /* the detail is logged with the request id */
    snprintf(line, sizeof(line), "msg=http_server_error request_id=%s", rid);
    want[0] = d.p.log;
    want[1] = line;
    assert_true(h_poll(log_has, want, 5000));
    want[1] = h_daemon_pg() ? "relation \\\"subscriptions\\\" does not exist"
                            : "no such table: subscriptions";
    assert_true(h_poll(log_has, want, 5000));
    assert_int_equal(h_daemon_stop(&d), 0);
    /* PostgreSQL's message quotes the name: escaped in every line, which stays key=value */
    want[1] = "relation \"subscriptions\"";
    assert_false(log_has(want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_error_is_generic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
