/* test_core_buf_json.c: the streaming JSON writer of buf.h (moved from api_access.c): nesting
 * is bounded by the comma table, and going past it fails the answer instead of reading and
 * writing past the table; commas, escapes and the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vmlogind/buf.h"

static void test_nesting_to_the_bound(void **state)
{
    struct buf_json w;
    (void)state;

    buf_json_init(&w, 64, 1 << 20);
    for (int i = 0; i < BUF_JSON_DEPTH; i++)
        buf_json_open(&w, '[');
    buf_json_sep(&w);
    buf_json_uint(&w, 1);
    buf_json_sep(&w);
    buf_json_uint(&w, 2);
    for (int i = 0; i < BUF_JSON_DEPTH; i++)
        buf_json_close(&w, ']');
    assert_int_equal(w.rc, ERR_OK);
    assert_string_equal(w.b.data, "[[[[[[[[1,2]]]]]]]]");
    buf_cleanup(&w.b);
}

static void test_nesting_past_the_bound_fails(void **state)
{
    struct buf_json w;
    (void)state;

    buf_json_init(&w, 64, 1 << 20);
    for (int i = 0; i < BUF_JSON_DEPTH + 3; i++)
        buf_json_open(&w, '[');
    buf_json_sep(&w);
    buf_json_uint(&w, 1);
    buf_json_sep(&w);
    buf_json_uint(&w, 2);
    for (int i = 0; i < BUF_JSON_DEPTH + 3; i++)
        buf_json_close(&w, ']');
    assert_int_equal(w.depth, 0);
    assert_int_equal(w.rc, ERR_INTERNAL);
    buf_cleanup(&w.b);
}

/* Members, commas, escapes, null, numbers; past the initial room the buffer grows. */
static void test_members_and_escapes(void **state)
{
    struct buf_json w;
    (void)state;

    buf_json_init(&w, 4, 1 << 20);
    buf_json_open(&w, '{');
    buf_json_str(&w, "a", "x\"y\\z\n\x01 long enough to take the slow path");
    buf_json_str(&w, "n", NULL);
    buf_json_int(&w, "i", -42);
    buf_json_bool(&w, "b", true);
    buf_json_key(&w, "l");
    buf_json_open(&w, '[');
    buf_json_sep(&w);
    buf_json_quoted_as(&w, "plain", true);
    buf_json_member(&w, "{}", 2);
    buf_json_close(&w, ']');
    buf_json_close(&w, '}');
    assert_int_equal(w.rc, ERR_OK);
    assert_string_equal(w.b.data, "{\"a\":\"x\\\"y\\\\z\\u000a\\u0001 long enough to take the "
                                  "slow path\",\"n\":null,\"i\":-42,\"b\":true,\"l\":[\"plain\","
                                  "{}]}");
    buf_cleanup(&w.b);
}

/* Past the cap the answer fails (ERR_TOO_LARGE) and nothing more is written. */
static void test_cap(void **state)
{
    struct buf_json w;
    (void)state;

    buf_json_init(&w, 4, 16);
    buf_json_open(&w, '[');
    for (int i = 0; i < 10; i++) {
        buf_json_sep(&w);
        buf_json_quoted(&w, "abc");
    }
    assert_int_equal(w.rc, ERR_TOO_LARGE);
    assert_true(w.b.len <= 16);
    buf_cleanup(&w.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_to_the_bound),
        cmocka_unit_test(test_nesting_past_the_bound_fails),
        cmocka_unit_test(test_members_and_escapes),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
