/* Capped buffer, RFC 3339 and UUIDs: the limits hold and the formats round-trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmlogind/buf.h"
#include "vmlogind/clock.h"
#include "vmlogind/uuid.h"

static void test_cap(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_appends(&b, "hello"), ERR_OK);
    assert_int_equal(buf_appends(&b, "world"), ERR_OK);
    assert_int_equal(buf_appends(&b, "!"), ERR_TOO_LARGE);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), ERR_OK);
    assert_string_equal(b.data, "42-x");
    char *s = buf_steal(&b);
    assert_string_equal(s, "42-x");
    free(s);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

static void test_rfc3339(void **state)
{
    int64_t ms;
    char out[32];
    (void)state;
    assert_true(clock_parse_rfc3339("2026-11-27T11:44:31Z", &ms));
    assert_string_equal(clock_fmt_rfc3339(ms, out, sizeof(out)), "2026-11-27T11:44:31Z");
    assert_true(clock_parse_rfc3339("2026-11-27T12:44:31.250+01:00", &ms));
    assert_string_equal(clock_fmt_rfc3339(ms, out, sizeof(out)), "2026-11-27T11:44:31.250Z");
    assert_false(clock_parse_rfc3339("2026-11-27 11:44:31Z", &ms));
    assert_false(clock_parse_rfc3339("2026-13-27T11:44:31Z", &ms));
    assert_false(clock_parse_rfc3339("2026-11-27T11:44:31", &ms));
    assert_false(clock_parse_rfc3339("2026-11-27T11:44:31Zjunk", &ms));
    assert_false(clock_parse_rfc3339("", &ms));
}

static void test_uuid(void **state)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    (void)state;
    uuid_v4(a);
    assert_true(uuid_is_valid(a));
    assert_int_equal(a[14], '4');
    /* RFC 9562 appendix: UUIDv5 of "www.example.com" in the DNS namespace */
    assert_true(uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com", 15, b));
    assert_string_equal(b, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    assert_false(uuid_is_valid("not-a-uuid"));
    assert_false(uuid_v5("bad", "x", 1, b));
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Request ids: valid v4 text, and 20000 of them all
 * different, with no run of shared prefixes that a counter shown in plain would give. */
static void test_uuid_fast(void **state)
{
    enum { N = 20000 };
    char(*ids)[UUID_STR_LEN] = calloc(N, UUID_STR_LEN);
    int same_prefix = 0;
    (void)state;

    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        uuid_v4_fast(ids[i]);
        assert_true(uuid_is_valid(ids[i]));
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
        if (i > 0 && strncmp(ids[i], ids[i - 1], 8) == 0)
            same_prefix++;
    }
    assert_true(same_prefix < 5);
    qsort(ids, N, UUID_STR_LEN, cmp_id);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i], ids[i - 1]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_uuid_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
