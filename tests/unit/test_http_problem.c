/* Error-to-problem mapping: every enum err has a status; bodies are RFC 9457 with a code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "vmlogind/http.h"

static void test_status_map(void **state)
{
    (void)state;
    assert_int_equal(http_status_for(ERR_INVALID), 400);
    assert_int_equal(http_status_for(ERR_UNAUTHORIZED), 401);
    assert_int_equal(http_status_for(ERR_FORBIDDEN), 403);
    assert_int_equal(http_status_for(ERR_NOT_FOUND), 404);
    assert_int_equal(http_status_for(ERR_CONFLICT), 409);
    assert_int_equal(http_status_for(ERR_PRECONDITION), 412);
    assert_int_equal(http_status_for(ERR_TOO_LARGE), 413);
    assert_int_equal(http_status_for(ERR_UNSUPPORTED_MEDIA), 415);
    assert_int_equal(http_status_for(ERR_RATE_LIMITED), 429);
    assert_int_equal(http_status_for(ERR_INTERNAL), 500);
    for (int e = ERR_INVALID; e <= ERR_INTERNAL; e++) {
        int s = http_status_for((enum err)e);
        assert_true(s >= 400 && s < 600);
        assert_string_not_equal(err_str((enum err)e), "unknown");
    }
}

static void test_problem_body(void **state)
{
    struct violations vs;
    json_t *j;
    char *body;
    (void)state;

    violations_init(&vs);
    violations_add(&vs, "principal.upn", "required", "give upn or objectId");
    violations_add(&vs, "role", "not_allowed", "role must be %s or %s", "administrator", "user");
    body = http_problem_body(400, "validation_failed", "2 problems", "req-1", &vs);
    j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "validation_failed");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "Bad Request");
    assert_string_equal(json_string_value(json_object_get(j, "instance")), "req-1");
    assert_non_null(json_object_get(j, "type"));
    json_t *errs = json_object_get(j, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                        "principal.upn");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 1), "message")),
                        "role must be administrator or user");
    json_decref(j);
    free(body);
}

static void test_violations_cap(void **state)
{
    struct violations vs;
    (void)state;
    violations_init(&vs);
    for (int i = 0; i < VIOLATIONS_MAX + 5; i++)
        violations_add(&vs, "f", "c", "m%d", i);
    assert_int_equal(vs.n, VIOLATIONS_MAX);
    assert_int_equal(vs.dropped, 5);
}

/* A 5xx answers a generic detail; what went wrong inside (here an SQLite message naming a
 * table and a statement) stays in the log. A 4xx keeps its detail. */
static void test_server_error_hides_detail(void **state)
{
    struct http_request req = {.request_id = "req-5xx"};
    struct err_detail d = {.code = "store"};
    json_t *j;
    (void)state;

    snprintf(d.msg, sizeof(d.msg), "grants list: no such table: grants (SELECT id FROM grants)");
    http_reply_error(&req, ERR_STORE, &d);
    assert_int_equal(req.status, 503);
    assert_string_equal(req.resp_type, "application/problem+json");
    assert_null(strstr(req.resp, "no such table"));
    assert_null(strstr(req.resp, "SELECT"));
    assert_null(strstr(req.resp, "grants"));
    j = json_loads(req.resp, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "store");
    assert_string_equal(json_string_value(json_object_get(j, "instance")), "req-5xx");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "Service Unavailable");
    json_decref(j);
    free(req.resp);

    memset(&req, 0, sizeof(req));
    http_reply_problem(&req, 500, "internal", "sqlite3_step: database disk image is malformed",
                       NULL);
    assert_int_equal(req.status, 500);
    assert_null(strstr(req.resp, "sqlite"));
    assert_null(strstr(req.resp, "malformed"));
    free(req.resp);

    memset(&req, 0, sizeof(req));
    http_reply_problem(&req, 404, "not_found", "no such grant", NULL);
    assert_non_null(strstr(req.resp, "no such grant"));
    free(req.resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_error_hides_detail),
        cmocka_unit_test(test_status_map),
        cmocka_unit_test(test_problem_body),
        cmocka_unit_test(test_violations_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
