/* The daemon's foundation over real HTTP: readiness within a second of start, clean exit on
 * SIGTERM, problem+json for unknown paths and wrong methods, request ids, limits, metrics and
 * the served contract; migrate and --check-config from the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "vmlogind/clock.h"

static struct daemon d;

static int setup(void **state)
{
    (void)state;
    return h_daemon_start(&d, "log_level = info\nsync_interval_s = 0\n", NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_daemon_stop(&d);
    return 0;
}

static char *url(const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s%s", d.p.url, path);
    return buf;
}

static void assert_problem(struct resp *r, long status, const char *code)
{
    char ct[128];
    assert_int_equal(r->status, status);
    assert_true(h_resp_header(r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "application/problem+json");
    assert_non_null(r->json);
    assert_int_equal(json_integer_value(json_object_get(r->json, "status")), status);
    assert_string_equal(json_string_value(json_object_get(r->json, "code")), code);
    assert_non_null(json_object_get(r->json, "title"));
    assert_non_null(json_object_get(r->json, "type"));
}

static void test_ready_fast(void **state)
{
    struct daemon d2;
    struct resp r;
    int64_t t0 = clock_mono_ms();
    (void)state;
    assert_true(h_daemon_start(&d2, "sync_interval_s = 0\n", NULL));
    char u[256];
    snprintf(u, sizeof(u), "%s/readyz", d2.p.url);
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 200);
    /* within a second (on a sanitizer run, that second stretches like every deadline) */
    assert_true(clock_mono_ms() - t0 < (int64_t)(1000 * h_timeout_scale()));
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ready");
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d2), 0);
}

static void test_not_found_and_method(void **state)
{
    struct resp r;
    char allow[64];
    (void)state;
    h_http("GET", url("/no/such/path"), NULL, NULL, &r);
    assert_problem(&r, 404, "not_found");
    h_resp_cleanup(&r);
    h_http("POST", url("/healthz"), "{}", NULL, &r);
    assert_problem(&r, 405, "method_not_allowed");
    assert_true(h_resp_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET");
    h_resp_cleanup(&r);
    h_http("DELETE", url("/readyz"), NULL, NULL, &r);
    assert_problem(&r, 405, "method_not_allowed");
    h_resp_cleanup(&r);
}

static void test_request_id(void **state)
{
    struct resp r;
    char rid[80];
    const char *hdrs[] = {"X-Request-Id: abc-123_x.y", NULL};
    const char *bad[] = {"X-Request-Id: has spaces and \"quotes\"", NULL};
    (void)state;
    h_http("GET", url("/healthz"), NULL, hdrs, &r);
    assert_true(h_resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    assert_string_equal(rid, "abc-123_x.y");
    h_resp_cleanup(&r);
    h_http("GET", url("/nope"), NULL, bad, &r);
    assert_true(h_resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    assert_string_not_equal(rid, "has spaces and \"quotes\"");
    assert_string_equal(json_string_value(json_object_get(r.json, "instance")), rid);
    h_resp_cleanup(&r);
}

static void test_header_limit(void **state)
{
    struct resp r;
    char *big = malloc(40000);
    const char *hdrs[] = {big, NULL};
    (void)state;
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 30000);
    big[30007] = '\0';
    h_http("GET", url("/healthz"), NULL, hdrs, &r);
    assert_true(r.status == 431 || r.status == 413);
    h_resp_cleanup(&r);
    free(big);
    /* and the daemon is still serving */
    assert_int_equal(h_http("GET", url("/healthz"), NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
}

static void test_metrics_and_contract(void **state)
{
    struct resp r;
    (void)state;
    h_http("GET", url("/healthz"), NULL, NULL, &r);
    h_resp_cleanup(&r);
    assert_int_equal(h_http("GET", url("/metrics"), NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "vmlogind_build_info{version="));
    assert_non_null(strstr(r.body, "vmlogind_http_requests_total{method=\"GET\",route=\"/healthz\","
                                   "status=\"200\"}"));
    assert_non_null(strstr(r.body, "vmlogind_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
    h_resp_cleanup(&r);
    assert_int_equal(h_http("GET", url("/openapi.yaml"), NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "openapi: 3.1.0"));
    h_resp_cleanup(&r);
}

static void test_cli(void **state)
{
    char *out = NULL;
    const char *migrate[] = {"migrate", NULL};
    const char *check[] = {"--check-config", NULL};
    (void)state;
    assert_int_equal(h_daemon_run(&d, migrate, &out), 0);
    assert_non_null(strstr(out, "schema version"));
    free(out);
    assert_int_equal(h_daemon_run(&d, check, &out), 0);
    assert_non_null(strstr(out, "configuration OK"));
    free(out);
}

static void test_bad_config_refused(void **state)
{
    struct daemon d2;
    (void)state;
    /* a bad setting: the daemon refuses to start, naming it */
    assert_false(h_daemon_start(&d2, "max_body_bytes = 12\n", NULL));
    char *log = h_read_file(d2.p.log);
    assert_non_null(log);
    assert_non_null(strstr(log, "max_body_bytes"));
    free(log);
}

static void test_failed_migration_refuses_start(void **state)
{
    struct daemon d2;
    (void)state;
    assert_true(h_daemon_start(&d2, "sync_interval_s = 0\n", NULL));
    assert_int_equal(h_daemon_stop(&d2), 0);
    /* pretend the database comes from a newer vmlogind: it must refuse, not touch it */
    assert_int_equal(h_daemon_sql(&d2, "PRAGMA user_version = 999;",
                                  "INSERT INTO schema_migrations (version, name, applied_at) "
                                  "VALUES (999, '0999_future.sql', 0)",
                                  NULL, 0),
                     0);
    assert_false(h_daemon_restart(&d2, NULL));
    char *log = h_read_file(d2.p.log);
    assert_non_null(strstr(log, "migrat"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_fast),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_metrics_and_contract),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_bad_config_refused),
        cmocka_unit_test(test_failed_migration_refuses_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
