/* test_core_xalloc.c: array sizes are multiplied with an overflow check: a count times an
 * element size that wraps around size_t aborts (as out of memory does) instead of allocating
 * the small wrapped product and letting the caller write past it. */
#include <setjmp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmlogind/xalloc.h"

/* A wrapped product: (SIZE_MAX / 8 + 2) * 16 is 16 modulo 2^64. */
#define HUGE_N (SIZE_MAX / 8 + 2)

static void test_products_that_fit(void **state)
{
    int *v;
    (void)state;

    assert_int_equal(xmul(3, 5), 15);
    assert_int_equal(xmul(SIZE_MAX, 1), SIZE_MAX);
    assert_int_equal(xmul(0, SIZE_MAX), 0);
    assert_int_equal(xadd(SIZE_MAX - 1, 1), SIZE_MAX);
    v = xmallocarray(4, sizeof(*v));
    v[3] = 7;
    v = xreallocarray(v, 1000, sizeof(*v));
    v[999] = 9;
    assert_int_equal(v[3] + v[999], 16);
    free(v);
}

/* Runs what() in a child: true when the child died of SIGABRT. */
static bool aborts(void (*what)(void))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO); /* keep the abort's message out of the test log */
        what();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void realloc_wrapped(void)
{
    char *p = xreallocarray(NULL, HUGE_N, 16);

    memset(p, 0, 32); /* what a caller would do with "HUGE_N elements" */
    free(p);
}

static void malloc_wrapped(void)
{
    free(xmallocarray(HUGE_N, 16));
}

static void mul_wrapped(void)
{
    (void)xmul(SIZE_MAX / 2 + 1, 2);
}

static void add_wrapped(void)
{
    (void)xadd(SIZE_MAX, 1);
}

static void test_wrapped_products_abort(void **state)
{
    (void)state;

    assert_true(aborts(realloc_wrapped));
    assert_true(aborts(malloc_wrapped));
    assert_true(aborts(mul_wrapped));
    assert_true(aborts(add_wrapped));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products_that_fit),
        cmocka_unit_test(test_wrapped_products_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
