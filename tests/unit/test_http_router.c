/* Router matching: literals case-insensitive, {params} copied, 404 vs 405 with Allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_internal.h"
#include "vmlogind/xalloc.h"

static void h(struct http_request *req)
{
    (void)req;
}

static const struct route routes[] = {
    {.method = "GET", .pattern = "/healthz", .handler = h},
    {.method = "GET", .pattern = "/v1/subscriptions/{s}/resourceGroups/{rg}", .handler = h},
    {.method = "PUT",
     .pattern = "/v1/subscriptions/{s}/resourceGroups/{rg}/entraLogin",
     .handler = h},
    {.method = "GET",
     .pattern = "/v1/subscriptions/{s}/resourceGroups/{rg}/entraLogin",
     .handler = h},
    {.method = "DELETE", .pattern = "/v1/loginGrants/{id}", .handler = h},
};
#define N (sizeof(routes) / sizeof(routes[0]))

static struct http_request *new_req(void)
{
    return xcalloc(1, sizeof(struct http_request));
}

static void test_literal(void **state)
{
    char allowed[64];
    struct http_request *req = new_req();
    (void)state;
    assert_ptr_equal(http_router_match(routes, N, "GET", "/healthz", req, allowed, 64), &routes[0]);
    assert_ptr_equal(req->route, &routes[0]);
    http_request_release(req);
}

/* The root matches "/" alone: not "", not "//", and no other path matches it. */
static void test_root(void **state)
{
    static const struct route with_root[] = {
        {.method = "GET", .pattern = "/healthz", .handler = h},
        {.method = "GET", .pattern = "/", .handler = h},
    };
    char allowed[64];
    struct http_request *req = new_req();
    (void)state;
    assert_ptr_equal(http_router_match(with_root, 2, "GET", "/", req, allowed, 64), &with_root[1]);
    assert_null(http_router_match(with_root, 2, "GET", "//", req, allowed, 64));
    assert_null(http_router_match(with_root, 2, "GET", "", req, allowed, 64));
    assert_ptr_equal(http_router_match(with_root, 2, "GET", "/healthz", req, allowed, 64),
                     &with_root[0]);
    assert_null(http_router_match(with_root, 2, "POST", "/", req, allowed, 64));
    assert_string_equal(allowed, "GET");
    http_request_release(req);
}

static void test_params_and_case(void **state)
{
    char allowed[64];
    struct http_request *req = new_req();
    (void)state;
    assert_ptr_equal(http_router_match(routes, N, "GET",
                                       "/V1/SUBSCRIPTIONS/abc/resourcegroups/Rg-1", req, allowed,
                                       64),
                     &routes[1]);
    assert_string_equal(http_param(req, "s"), "abc");
    assert_string_equal(http_param(req, "rg"), "Rg-1");
    assert_null(http_param(req, "nope"));
    /* the last literal in any case, and no match when it differs (not even for Allow) */
    assert_ptr_equal(http_router_match(routes, N, "GET",
                                       "/v1/subscriptions/a/resourceGroups/b/ENTRALOGIN", req,
                                       allowed, 64),
                     &routes[3]);
    assert_null(http_router_match(
        routes, N, "POST", "/v1/subscriptions/a/resourceGroups/b/entraLogin", req, allowed, 64));
    assert_string_equal(allowed, "PUT, GET");
    assert_null(http_router_match(
        routes, N, "GET", "/v1/subscriptions/a/resourceGroups/b/entraLogout", req, allowed, 64));
    assert_string_equal(allowed, "");
    http_request_release(req);
}

static void test_405_allow(void **state)
{
    char allowed[64];
    (void)state;
    assert_null(http_router_match(routes, N, "POST",
                                  "/v1/subscriptions/a/resourceGroups/b/entraLogin", NULL, allowed,
                                  sizeof(allowed)));
    assert_string_equal(allowed, "PUT, GET");
    assert_null(http_router_match(routes, N, "POST", "/healthz", NULL, allowed, sizeof(allowed)));
    assert_string_equal(allowed, "GET");
}

static void test_404(void **state)
{
    char allowed[64];
    (void)state;
    const char *paths[] = {"/",
                           "",
                           "/nope",
                           "/healthz/",
                           "/healthz/x",
                           "//healthz",
                           "/v1/loginGrants/",
                           "/v1/loginGrants//",
                           "/v1/subscriptions/a"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_null(http_router_match(routes, N, "GET", paths[i], NULL, allowed, 64));
        if (strcmp(paths[i], "/v1/loginGrants/") != 0)
            assert_string_equal(allowed, "");
    }
}

/* A deprecated route announces it on every answer (docs/api-versioning.md); others do not. */
static void test_deprecated_route_announced(void **state)
{
    static const struct route r[] = {
        {.method = "GET",
         .pattern = "/v1/old",
         .handler = h,
         .deprecated = "@1767225600",
         .deprecation_link = "https://example.com/docs/api-versioning.md",
         .sunset = "Wed, 30 Jun 2027 00:00:00 GMT"},
        {.method = "GET", .pattern = "/v1/new", .handler = h},
    };
    char allowed[64];
    struct http_request *req = new_req();
    (void)state;
    assert_ptr_equal(http_router_match(r, 2, "GET", "/v1/old", req, allowed, 64), &r[0]);
    http_route_announce(req);
    assert_int_equal(req->nextra, 3);
    assert_string_equal(req->extra_names[0], "Deprecation");
    assert_string_equal(req->extra_values[0], "@1767225600");
    assert_string_equal(req->extra_names[1], "Link");
    assert_string_equal(req->extra_values[1],
                        "<https://example.com/docs/api-versioning.md>; rel=\"deprecation\"");
    assert_string_equal(req->extra_names[2], "Sunset");
    assert_string_equal(req->extra_values[2], "Wed, 30 Jun 2027 00:00:00 GMT");
    http_request_release(req);
    req = new_req();
    assert_ptr_equal(http_router_match(r, 2, "GET", "/v1/new", req, allowed, 64), &r[1]);
    http_route_announce(req);
    assert_int_equal(req->nextra, 0);
    http_request_release(req);
}

/* Request-owned memory: aligned, distinct, kept until release, beyond the inline bytes too
 * (ASan and valgrind see every one freed). */
static void test_request_memory(void **state)
{
    struct http_request *req = new_req();
    char *p[64];
    (void)state;
    for (size_t i = 0; i < 64; i++) {
        char want[16];
        snprintf(want, sizeof(want), "s%zu", i);
        p[i] = i % 7 == 0 ? http_alloc(req, 100 + i) : http_strdup(req, want);
        assert_int_equal((uintptr_t)p[i] % _Alignof(max_align_t), 0);
        if (i % 7 == 0)
            memset(p[i], 'x', 100 + i);
    }
    for (size_t i = 0; i < 64; i++) {
        char want[16];
        snprintf(want, sizeof(want), "s%zu", i);
        if (i % 7 != 0)
            assert_string_equal(p[i], want);
        else
            assert_int_equal(p[i][99 + i], 'x');
    }
    assert_non_null(req->allocs); /* some went past the inline bytes */
    http_request_release(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_root),
        cmocka_unit_test(test_params_and_case),
        cmocka_unit_test(test_405_allow),
        cmocka_unit_test(test_request_memory),
        cmocka_unit_test(test_404),
        cmocka_unit_test(test_deprecated_route_announced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
