/* vmlogind signs in to azsim's demo tenant with the harness configuration: the smoke test that
 * every azsim-backed integration test relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static void test_daemon_against_sim(void **state)
{
    struct sim s;
    struct daemon d;
    struct resp r;
    char u[512];
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    assert_true(h_sim_start(&s, H_DEMO_SCENARIO, NULL));
    assert_true(h_daemon_start_for_sim(&d, &s, NULL));
    snprintf(u, sizeof(u), "%s/readyz", d.p.url);
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
    h_sim_stop(&s);
    /* the client secret never reaches the log */
    char *log = h_read_file(d.p.log);
    assert_non_null(log);
    assert_null(strstr(log, H_DEMO_SECRET));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_daemon_against_sim)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
