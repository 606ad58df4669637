/* Requests rejected before any route sees them: a query with 1,000 parameters, a request
 * target or header block over the limits. Each gets a problem+json answer with a stable code
 * (never a silent close, never HTML), including the ones too large for a connection's memory,
 * which libmicrohttpd answers itself: those are also logged and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;

static int setup(void **state)
{
    (void)state;
    return h_daemon_start(&d, "max_header_bytes = 16384\n", NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return h_daemon_stop(&d) == 0 ? 0 : -1;
}

static char *repeat(const char *unit, size_t times, const char *prefix)
{
    size_t ul = strlen(unit), pl = strlen(prefix);
    char *s = malloc(pl + ul * times + 1);

    assert_non_null(s);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + pl + i * ul, unit, ul);
    s[pl + ul * times] = '\0';
    return s;
}

static void expect_problem(const struct resp *r, long status, const char *code)
{
    char ct[128];
    json_t *st;

    if (r->status != status)
        fail_msg("status %ld, want %ld: %s", r->status, status, r->body ? r->body : "");
    assert_true(h_resp_header(r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "application/problem+json");
    if (r->json == NULL)
        fail_msg("not JSON: %s", r->body ? r->body : "");
    assert_string_equal(h_jstr(r->json, "code"), code);
    st = json_object_get(r->json, "status"); /* libmicrohttpd's own answers carry none */
    assert_true(st == NULL || json_integer_value(st) == status);
}

static bool log_has(void *arg)
{
    char *log = h_read_file(d.p.log);
    bool found = log != NULL && strstr(log, arg) != NULL;
    free(log);
    return found;
}

/* d.p.url followed by tail; caller frees. */
static char *url_of(const char *tail)
{
    size_t n = strlen(d.p.url) + strlen(tail) + 1;
    char *u = malloc(n);

    assert_non_null(u);
    snprintf(u, n, "%s%s", d.p.url, tail);
    return u;
}

static void test_many_query_parameters(void **state)
{
    char *tail = repeat("&a=1", 1000, "/healthz?x=1");
    char *url = url_of(tail);
    struct resp r;
    (void)state;

    h_http("GET", url, NULL, NULL, &r);
    expect_problem(&r, 414, "too_many_query_parameters");
    h_resp_cleanup(&r);
    free(url);
    free(tail);
    /* a handful still reach the route */
    url = url_of("/healthz?a=1&b=2&c=3");
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
    free(url);
}

static void test_long_target(void **state)
{
    char *path = repeat("x", 20000, "/");
    char *url = url_of(path);
    struct resp r;
    (void)state;

    h_http("GET", url, NULL, NULL, &r);
    expect_problem(&r, 414, "uri_too_long");
    h_resp_cleanup(&r);
    free(url);
    free(path);
}

/* Beyond a connection's memory libmicrohttpd answers itself: problem+json too, logged, counted. */
static void test_larger_than_memory(void **state)
{
    char *path = repeat("y", 200000, "/");
    char *url = url_of(path);
    char *hdr = repeat("z", 300000, "X-Big: ");
    const char *hdrs[] = {hdr, NULL};
    struct resp r;
    (void)state;

    h_http("GET", url, NULL, NULL, &r);
    expect_problem(&r, 414, "request_too_large");
    h_resp_cleanup(&r);
    assert_true(h_poll(log_has, "msg=http_rejected status=414 by=libmicrohttpd", 5000));

    snprintf(url, 256, "%s/healthz", d.p.url);
    h_http("GET", url, NULL, hdrs, &r);
    expect_problem(&r, 431, "request_too_large");
    h_resp_cleanup(&r);
    assert_true(h_poll(log_has, "msg=http_rejected status=431 by=libmicrohttpd", 5000));
    /* and the access line of that request */
    assert_true(h_poll(log_has, "path=\"/healthz\" status=431", 5000));

    snprintf(url, 256, "%s/metrics", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "route=\"unmatched\",status=\"414\"} "));
    assert_non_null(strstr(r.body, "route=\"unmatched\",status=\"431\"} "));
    h_resp_cleanup(&r);
    free(hdr);
    free(url);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_query_parameters),
        cmocka_unit_test(test_long_target),
        cmocka_unit_test(test_larger_than_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
