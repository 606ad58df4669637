/* test_api_access.c: the streaming JSON writer of api_access.c, which is static to it (h2o's
 * unit tests include the file under test the same way): nesting is bounded by the comma
 * table, and going past it fails the answer instead of reading and writing past the table;
 * index_wanted() is asked from several threads at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/api_access.c"

static void test_jw_nesting_to_the_bound(void **state)
{
    struct jw w;
    (void)state;

    jw_init(&w);
    for (int i = 0; i < JW_DEPTH; i++)
        jw_open(&w, '[');
    jw_sep(&w);
    jw_uint(&w, 1);
    jw_sep(&w);
    jw_uint(&w, 2);
    for (int i = 0; i < JW_DEPTH; i++)
        jw_close(&w, ']');
    assert_int_equal(w.rc, ERR_OK);
    assert_string_equal(w.b.data, "[[[[[[[[1,2]]]]]]]]");
    buf_cleanup(&w.b);
}

static void test_jw_nesting_past_the_bound_fails(void **state)
{
    struct jw w;
    (void)state;

    jw_init(&w);
    for (int i = 0; i < JW_DEPTH + 3; i++)
        jw_open(&w, '[');
    jw_sep(&w);
    jw_uint(&w, 1);
    jw_sep(&w);
    jw_uint(&w, 2);
    for (int i = 0; i < JW_DEPTH + 3; i++)
        jw_close(&w, ']');
    assert_int_equal(w.depth, 0);
    assert_int_equal(w.rc, ERR_INTERNAL);
    buf_cleanup(&w.b);
}

static void *ask_index_wanted(void *arg)
{
    *(bool *)arg = index_wanted();
    return NULL;
}

/* Every HTTP thread asks, the first ones while it is still unset: under ThreadSanitizer
 * (scripts/test.sh) a plain lazily set static is a reported race between these two. */
static void test_index_wanted_from_threads(void **state)
{
    pthread_t t[2];
    bool got[2] = {false, false};
    (void)state;

    unsetenv("VMLOGIND_ACCESS_INDEX");
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ask_index_wanted, &got[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(got[0] && got[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jw_nesting_to_the_bound),
        cmocka_unit_test(test_jw_nesting_past_the_bound_fails),
        cmocka_unit_test(test_index_wanted_from_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
