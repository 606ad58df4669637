/* vmloginctl's progress line: counts of VMs done (Succeeded, Skipped), failed (Failed,
 * Canceled) and pending, the slowest pending step by its updatedAt, the elapsed time, and
 * colour only when asked; NO_COLOR turns colour off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

#define VMS "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/"

static const char *OP =
    "{\"id\":\"op1\",\"status\":\"Running\",\"createdAt\":\"2026-12-07T10:00:00Z\","
    "\"virtualMachines\":["
    "{\"id\":\"" VMS "a\",\"status\":\"Succeeded\",\"updatedAt\":\"2026-12-07T10:01:00Z\"},"
    "{\"id\":\"" VMS "b\",\"status\":\"Skipped\"},"
    "{\"id\":\"" VMS "c\",\"status\":\"Failed\",\"step\":\"extension\"},"
    "{\"id\":\"" VMS "d\",\"status\":\"Running\",\"step\":\"roleAssignment\","
    "\"updatedAt\":\"2026-12-07T10:04:00Z\"},"
    "{\"id\":\"" VMS "e\",\"status\":\"Running\",\"step\":\"extension\","
    "\"updatedAt\":\"2026-12-07T10:02:47Z\"},"
    "{\"id\":\"" VMS "f\",\"status\":\"NotStarted\",\"updatedAt\":\"2026-12-07T10:03:00Z\"}]}";

static void test_progress(void **state)
{
    json_t *op = json_loads(OP, 0, NULL);
    struct cli_progress p;
    char line[512];
    time_t now;
    (void)state;

    assert_true(cli_time_parse("2026-12-07T10:05:00Z", &now));
    cli_progress_of(op, now, &p);
    assert_int_equal(p.done, 2);
    assert_int_equal(p.failed, 1);
    assert_int_equal(p.pending, 3);
    assert_string_equal(p.slowest_vm, "e");
    assert_string_equal(p.slowest_step, "extension");
    cli_progress_format(&p, false, true, line, sizeof(line));
    assert_string_equal(line, "Running: 2 done, 1 failed, 3 pending, slowest: e extension "
                              "(2m 13s) [5m 00s]");
    cli_progress_format(&p, false, false, line, sizeof(line));
    assert_string_equal(line, "Running: 2 done, 1 failed, 3 pending, slowest: e extension");
    cli_progress_format(&p, true, false, line, sizeof(line));
    assert_string_equal(line, "\033[33mRunning\033[0m: 2 done, 1 failed, 3 pending, slowest: e "
                              "extension");
    json_decref(op);

    op = json_loads("{\"status\":\"Succeeded\",\"virtualMachines\":[{\"status\":\"Succeeded\"}]}",
                    0, NULL);
    cli_progress_of(op, now, &p);
    cli_progress_format(&p, false, true, line, sizeof(line));
    assert_string_equal(line, "Succeeded: 1 done, 0 failed, 0 pending [0s]");
    json_decref(op);
}

static void test_no_color(void **state)
{
    (void)state;
    unsetenv("NO_COLOR");
    assert_true(cli_color_wanted(true));
    assert_false(cli_color_wanted(false));
    setenv("NO_COLOR", "1", 1);
    assert_false(cli_color_wanted(true));
    setenv("NO_COLOR", "", 1); /* https://no-color.org: present and not empty */
    assert_true(cli_color_wanted(true));
    unsetenv("NO_COLOR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_progress),
                                       cmocka_unit_test(test_no_color)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
