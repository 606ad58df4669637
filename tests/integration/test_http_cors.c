/* CORS for browser portals on another origin: a listed origin gets Access-Control-Allow-Origin
 * (on problems too, so the page can read them) and its preflight is answered from the route
 * table without authentication; an unlisted origin gets no CORS header and a 403 preflight; a
 * request without Origin is untouched; a wildcard or a path in the setting is refused at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define PORTAL "https://portal.example.com"

static struct daemon d;
static char key[256];

static int setup(void **state)
{
    (void)state;
    if (!h_daemon_start(&d, "cors_allowed_origins = " PORTAL " http://127.0.0.1:3000\n", NULL))
        return -1;
    h_daemon_key(&d, "reader", NULL, key, sizeof(key));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return h_daemon_stop(&d) == 0 ? 0 : -1;
}

static long req(const char *method, const char *path, const char *const extra[], struct resp *r)
{
    size_t n = strlen(d.p.url) + strlen(path) + 1;
    char *u = malloc(n);
    long st;

    assert_non_null(u);
    snprintf(u, n, "%s%s", d.p.url, path);
    st = h_http(method, u, NULL, extra, r);
    free(u);
    return st;
}

static void expect_header(const struct resp *r, const char *name, const char *want)
{
    char v[512];

    if (!h_resp_header(r, name, v, sizeof(v)))
        fail_msg("no %s header", name);
    assert_string_equal(v, want);
}

static void test_preflight_of_a_listed_origin(void **state)
{
    const char *h[] = {"Origin: " PORTAL, "Access-Control-Request-Method: POST",
                       "Access-Control-Request-Headers: authorization, idempotency-key", NULL};
    struct resp r;
    char v[512];
    (void)state;

    assert_int_equal(req("OPTIONS", "/v1/loginGrants", h, &r), 204);
    expect_header(&r, "Access-Control-Allow-Origin", PORTAL);
    assert_true(h_resp_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)));
    assert_non_null(strstr(v, "GET"));
    assert_non_null(strstr(v, "POST"));
    assert_null(strstr(v, "DELETE")); /* the route table's methods for this path only */
    assert_true(h_resp_header(&r, "Access-Control-Allow-Headers", v, sizeof(v)));
    assert_non_null(strstr(v, "Authorization"));
    assert_non_null(strstr(v, "Idempotency-Key"));
    assert_non_null(strstr(v, "If-Match"));
    expect_header(&r, "Access-Control-Max-Age", "600");
    expect_header(&r, "Vary", "Origin");
    h_resp_cleanup(&r);

    /* a path with a parameter: its own methods */
    assert_int_equal(req("OPTIONS", "/v1/loginGrants/g-1", h, &r), 204);
    assert_true(h_resp_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)));
    assert_non_null(strstr(v, "PATCH"));
    assert_non_null(strstr(v, "DELETE"));
    assert_null(strstr(v, "POST"));
    h_resp_cleanup(&r);

    /* a path no route has */
    assert_int_equal(req("OPTIONS", "/v1/nothing-here", h, &r), 404);
    h_resp_cleanup(&r);
}

static void test_answers_carry_the_origin(void **state)
{
    char auth[300];
    const char *h[] = {"Origin: http://127.0.0.1:3000", auth, NULL};
    const char *anon[] = {"Origin: http://127.0.0.1:3000", NULL};
    struct resp r;
    char v[512];
    (void)state;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    assert_int_equal(req("GET", "/v1/virtualMachines", h, &r), 200);
    expect_header(&r, "Access-Control-Allow-Origin", "http://127.0.0.1:3000");
    assert_true(h_resp_header(&r, "Access-Control-Expose-Headers", v, sizeof(v)));
    assert_non_null(strstr(v, "X-Request-Id"));
    assert_non_null(strstr(v, "Retry-After"));
    h_resp_cleanup(&r);
    /* a refusal is readable by the page too */
    assert_int_equal(req("GET", "/v1/virtualMachines", anon, &r), 401);
    expect_header(&r, "Access-Control-Allow-Origin", "http://127.0.0.1:3000");
    h_resp_cleanup(&r);
}

static void test_other_origins_get_nothing(void **state)
{
    char auth[300];
    const char *pre[] = {"Origin: https://evil.example.com", "Access-Control-Request-Method: GET",
                         NULL};
    const char *near[] = {"Origin: " PORTAL ".evil.example.com",
                          "Access-Control-Request-Method: GET", NULL};
    const char *get[] = {"Origin: https://evil.example.com", auth, NULL};
    const char *none[] = {auth, NULL};
    struct resp r;
    char v[512];
    (void)state;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    assert_int_equal(req("OPTIONS", "/v1/virtualMachines", pre, &r), 403);
    assert_string_equal(h_jstr(r.json, "code"), "cors_origin_not_allowed");
    assert_false(h_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)));
    h_resp_cleanup(&r);
    assert_int_equal(req("OPTIONS", "/v1/virtualMachines", near, &r), 403);
    h_resp_cleanup(&r);
    /* the request itself is served (a browser withholds the answer from the page) */
    assert_int_equal(req("GET", "/v1/virtualMachines", get, &r), 200);
    assert_false(h_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)));
    assert_false(h_resp_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)));
    h_resp_cleanup(&r);
    /* no Origin (curl, bots): no CORS header, OPTIONS without a preflight is 405 as before */
    assert_int_equal(req("GET", "/v1/virtualMachines", none, &r), 200);
    assert_false(h_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)));
    assert_false(h_resp_header(&r, "Vary", v, sizeof(v)));
    h_resp_cleanup(&r);
    assert_int_equal(req("OPTIONS", "/v1/virtualMachines", none, &r), 405);
    h_resp_cleanup(&r);
}

/* A wildcard, a path or an upper-case origin in the setting stops the daemon at start, naming
 * the entry, rather than opening the API to every page. */
static void test_bad_setting_refused(void **state)
{
    static const char *bad[] = {"*", "https://portal.example.com/app", "https://Portal.example.com",
                                "portal.example.com"};
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct daemon b;
        char conf[256];
        snprintf(conf, sizeof(conf), "cors_allowed_origins = %s\n", bad[i]);
        assert_false(h_daemon_start(&b, conf, NULL));
        {
            char path[600];
            char *log;
            snprintf(path, sizeof(path), "%s/vmlogind.log", b.dir);
            log = h_read_file(path);
            assert_non_null(log);
            assert_non_null(strstr(log, "is not an origin"));
            free(log);
        }
        h_daemon_stop(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preflight_of_a_listed_origin),
        cmocka_unit_test(test_answers_carry_the_origin),
        cmocka_unit_test(test_other_origins_get_nothing),
        cmocka_unit_test(test_bad_setting_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
