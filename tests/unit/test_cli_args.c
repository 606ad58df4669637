/* vmloginctl's pure parts: argument parsing (options, values, usage errors), output format
 * choice, durations, scope ids, exit codes, and table/TSV rendering with times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

static const struct cli_opt_spec spec[] = {
    {"--mode", true}, {"--exclude-tag", true}, {"--wait", false}, {NULL, false}};

static void test_parse_options(void **state)
{
    char *argv[] = {"rg-web",        "--mode", "audit", "--exclude-tag=a=b", "-o", "tsv", "--wait",
                    "--exclude-tag", "c=d",    "--",    "--literal"};
    struct cli_args a;
    char err[128] = "";
    (void)state;

    assert_true(cli_parse(11, argv, spec, &a, err, sizeof(err)));
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "rg-web");
    assert_string_equal(a.pos[1], "--literal");
    assert_string_equal(cli_opt(&a, "--mode"), "audit");
    assert_string_equal(cli_opt(&a, "--output"), "tsv"); /* -o is --output */
    assert_string_equal(cli_opt(&a, "--wait"), "");
    assert_string_equal(cli_opt(&a, "--exclude-tag"), "c=d"); /* the last one */
    assert_null(cli_opt(&a, "--debug"));
    int tags = 0;
    for (int i = 0; i < a.nopt; i++)
        tags += strcmp(a.names[i], "--exclude-tag") == 0;
    assert_int_equal(tags, 2);
}

static void test_parse_errors(void **state)
{
    struct cli_args a;
    char err[128];
    char *unknown[] = {"--bogus"};
    char *missing[] = {"--mode"};
    char *flagval[] = {"--wait=yes"};
    char *many[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};
    (void)state;

    assert_false(cli_parse(1, unknown, spec, &a, err, sizeof(err)));
    assert_string_equal(err, "unknown option --bogus");
    assert_false(cli_parse(1, missing, spec, &a, err, sizeof(err)));
    assert_string_equal(err, "--mode needs a value");
    assert_false(cli_parse(1, flagval, spec, &a, err, sizeof(err)));
    assert_string_equal(err, "--wait takes no value");
    assert_false(cli_parse(9, many, spec, &a, err, sizeof(err)));
    /* --wait is not global: a command without it refuses it */
    char *w[] = {"--wait"};
    const struct cli_opt_spec none[] = {{NULL, false}};
    assert_false(cli_parse(1, w, none, &a, err, sizeof(err)));
    /* "-" alone is an argument (stdin) */
    char *dash[] = {"-"};
    assert_true(cli_parse(1, dash, none, &a, err, sizeof(err)));
    assert_int_equal(a.npos, 1);
}

static void test_format_and_duration(void **state)
{
    enum cli_format f;
    long long s;
    (void)state;

    assert_true(cli_format_parse(NULL, true, &f));
    assert_int_equal(f, CLI_FMT_TABLE);
    assert_true(cli_format_parse(NULL, false, &f));
    assert_int_equal(f, CLI_FMT_JSON);
    assert_true(cli_format_parse("tsv", true, &f));
    assert_int_equal(f, CLI_FMT_TSV);
    assert_true(cli_format_parse("yaml", false, &f));
    assert_int_equal(f, CLI_FMT_YAML);
    assert_false(cli_format_parse("xml", true, &f));

    assert_true(cli_duration_parse("8h", &s));
    assert_int_equal(s, 8 * 3600);
    assert_true(cli_duration_parse("30m", &s));
    assert_int_equal(s, 1800);
    assert_true(cli_duration_parse("2d", &s));
    assert_int_equal(s, 172800);
    assert_false(cli_duration_parse("8", &s));
    assert_false(cli_duration_parse("0h", &s));
    assert_false(cli_duration_parse("-1h", &s));
    assert_false(cli_duration_parse("8hh", &s));
    assert_false(cli_duration_parse("99999999999d", &s));
}

static void test_scopes(void **state)
{
    struct cli_scope sc;
    char out[512];
    (void)state;

    assert_true(cli_scope_parse_arm("/subscriptions/S1/resourceGroups/rg/providers/"
                                    "microsoft.compute/virtualMachines/vm1",
                                    &sc));
    assert_string_equal(sc.sub, "S1");
    assert_string_equal(sc.rg, "rg");
    assert_string_equal(sc.vm, "vm1");
    cli_scope_api(&sc, out, sizeof(out));
    assert_string_equal(out, "/v1/subscriptions/S1/resourceGroups/rg/virtualMachines/vm1");
    assert_true(cli_scope_parse_arm("/SUBSCRIPTIONS/S1/resourcegroups/rg/", &sc));
    assert_string_equal(sc.vm, "");
    cli_scope_arm(&sc, out, sizeof(out));
    assert_string_equal(out, "/subscriptions/S1/resourceGroups/rg");
    assert_true(cli_scope_parse_arm("/subscriptions/S1", &sc));
    cli_scope_api(&sc, out, sizeof(out));
    assert_string_equal(out, "/v1/subscriptions/S1");
    assert_false(cli_scope_parse_arm("/subscriptions/", &sc));
    assert_false(cli_scope_parse_arm("/subscriptions/S1/foo/x", &sc));
    assert_false(cli_scope_parse_arm("/subscriptions/S1/resourceGroups/rg/virtualMachines/v", &sc));
    assert_false(cli_scope_parse_arm("rg/vm", &sc));
}

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(cli_exit_for_status(200), CLI_OK);
    assert_int_equal(cli_exit_for_status(202), CLI_OK);
    assert_int_equal(cli_exit_for_status(401), CLI_AUTH);
    assert_int_equal(cli_exit_for_status(403), CLI_AUTH);
    assert_int_equal(cli_exit_for_status(404), CLI_NOT_FOUND);
    assert_int_equal(cli_exit_for_status(400), CLI_FAILED);
    assert_int_equal(cli_exit_for_status(500), CLI_FAILED);
    assert_int_equal(cli_exit_for_operation("Succeeded"), CLI_OK);
    assert_int_equal(cli_exit_for_operation("PartiallySucceeded"), CLI_PARTIAL);
    assert_int_equal(cli_exit_for_operation("Failed"), CLI_FAILED);
}

/* Renders rows into a string. */
static char *render(const json_t *rows, const struct cli_col *cols, enum cli_format fmt, time_t now)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cli_print_rows(f, rows, cols, fmt, now);
    fclose(f);
    return text;
}

static void test_rows(void **state)
{
    const struct cli_col cols[] = {{"NAME", "name", false},
                                   {"OK", "supported", false},
                                   {"EXT", "ext.status", false},
                                   {NULL, NULL, false}};
    json_t *rows = json_loads("[{\"name\":\"web-01\",\"supported\":true,\"ext\":{\"status\":"
                              "\"Succeeded\"}},{\"name\":\"a\\tb\",\"supported\":false,"
                              "\"ext\":null}]",
                              0, NULL);
    char *t;
    (void)state;

    assert_non_null(rows);
    t = render(rows, cols, CLI_FMT_TABLE, 0);
    assert_string_equal(t, "NAME    OK     EXT\n"
                           "web-01  true   Succeeded\n"
                           "a\tb     false  \n");
    free(t);
    t = render(rows, cols, CLI_FMT_TSV, 0);
    assert_string_equal(t, "web-01\ttrue\tSucceeded\n"
                           "a b\tfalse\t\n");
    free(t);
    json_decref(rows);
}

static void test_times(void **state)
{
    json_t *row = json_pack("{s:s, s:s, s:i}", "createdAt", "2026-12-07T05:00:00Z", "name",
                            "2026-12-07T05:00:00Z", "count", 3);
    time_t at = 1796619600; /* 2026-12-07T05:00:00Z */
    char *s, rel[32];
    (void)state;

    /* data formats keep RFC 3339 */
    s = cli_cell(row, "createdAt", false, at + 180);
    assert_string_equal(s, "2026-12-07T05:00:00Z");
    free(s);
    /* tables: local time and relative (TZ pinned to UTC in main) */
    s = cli_cell(row, "createdAt", true, at + 180);
    assert_string_equal(s, "2026-12-07 05:00 (3m ago)");
    free(s);
    /* only members named *At are times */
    s = cli_cell(row, "name", true, at);
    assert_string_equal(s, "2026-12-07T05:00:00Z");
    free(s);
    s = cli_cell(row, "count", true, at);
    assert_string_equal(s, "3");
    free(s);
    s = cli_cell(row, "missing.deep", true, at);
    assert_string_equal(s, "");
    free(s);
    json_decref(row);

    cli_relative(at, at + 2, rel, sizeof(rel));
    assert_string_equal(rel, "just now");
    cli_relative(at + 7200, at, rel, sizeof(rel));
    assert_string_equal(rel, "in 2h");
    cli_relative(at, at + 3 * 86400, rel, sizeof(rel));
    assert_string_equal(rel, "3d ago");
    cli_relative(at + 2 * 3600 + 13 * 60 + 30, at, rel, sizeof(rel));
    assert_string_equal(rel, "in 2h 13m");
    cli_relative(at, at + 5 * 60 + 59, rel, sizeof(rel));
    assert_string_equal(rel, "5m ago");
    cli_relative(at, at + 3 * 86400 + 4 * 3600 + 70, rel, sizeof(rel));
    assert_string_equal(rel, "3d 4h ago");
    cli_relative(at + 42, at, rel, sizeof(rel));
    assert_string_equal(rel, "in 42s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_options),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format_and_duration),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_times),
    };
    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
