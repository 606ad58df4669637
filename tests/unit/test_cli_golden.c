/* vmloginctl's output formats against golden files (tests/unit/data/cli): a VM list as table,
 * wide table (extra columns), coloured table, TSV and YAML, with times local and relative in
 * tables (TZ pinned to UTC, "now" fixed) and RFC 3339 elsewhere. To update a golden file after
 * a deliberate change, run with CLI_GOLDEN_UPDATE=1 and review the diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

#define DATA SOURCE_DIR "/tests/unit/data/cli/"

static const struct cli_col cols[] = {{"NAME", "name", false},
                                      {"RESOURCE GROUP", "resourceGroup", false},
                                      {"LOCATION", "location", true},
                                      {"OS", "osName", false},
                                      {"SUPPORTED", "supported", false},
                                      {"LOGIN", "loginState", false},
                                      {"EXTENSION", "loginExtension.status", true},
                                      {"CHANGED", "changedAt", false},
                                      {NULL, NULL, false}};

static char *slurp(FILE *f)
{
    long n;
    char *s;
    fflush(f);
    n = ftell(f);
    rewind(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void golden(const char *name, const char *got)
{
    char path[512];
    FILE *f;
    char *want;

    snprintf(path, sizeof(path), DATA "%s", name);
    if (getenv("CLI_GOLDEN_UPDATE") != NULL) {
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    want = slurp(f);
    fclose(f);
    if (strcmp(want, got) != 0)
        fail_msg("%s differs:\n--- want\n%s--- got\n%s", path, want, got);
    free(want);
}

static json_t *vms(void)
{
    json_error_t e;
    json_t *j = json_load_file(DATA "vms.json", 0, &e);
    if (j == NULL)
        fail_msg("vms.json: %s", e.text);
    return j;
}

static void render(enum cli_format fmt, bool color, const char *name)
{
    json_t *j = vms();
    FILE *f = tmpfile();
    time_t now;
    char *got;

    assert_true(cli_time_parse("2026-12-07T12:18:00Z", &now));
    cli_output_color(color);
    if (fmt == CLI_FMT_YAML)
        cli_print_yaml(f, j);
    else
        cli_print_rows(f, json_object_get(j, "value"), cols, fmt, now);
    cli_output_color(false);
    got = slurp(f);
    fclose(f);
    golden(name, got);
    free(got);
    json_decref(j);
}

static void test_table(void **state)
{
    (void)state;
    render(CLI_FMT_TABLE, false, "vms.table");
}

static void test_wide(void **state)
{
    (void)state;
    render(CLI_FMT_WIDE, false, "vms.wide");
}

static void test_color(void **state)
{
    (void)state;
    render(CLI_FMT_TABLE, true, "vms.color");
}

static void test_tsv(void **state)
{
    (void)state;
    render(CLI_FMT_TSV, false, "vms.tsv");
}

static void test_yaml(void **state)
{
    (void)state;
    render(CLI_FMT_YAML, false, "vms.yaml");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table), cmocka_unit_test(test_wide), cmocka_unit_test(test_color),
        cmocka_unit_test(test_tsv),   cmocka_unit_test(test_yaml),
    };
    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
