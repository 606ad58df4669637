/* vmloginctl's documentation: every command (from `vmloginctl --commands`, the command table)
 * answers --help with exit 0, its usage and an Example; `vmloginctl --help` lists them all; the
 * man page generated at build time is well-formed (groff -ww reports nothing, man -l renders
 * it) and documents every command, the settings, the environment and the exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_cli_common.h"

static char DIR_[256];

static void test_every_help_has_example(void **state)
{
    char cmd[1024], *list, *out, *all;
    int n = 0;
    (void)state;

    snprintf(cmd, sizeof(cmd), "'%s' --commands", VMLOGINCTL_BIN);
    assert_int_equal(cli_sh(DIR_, cmd, &list, NULL), 0);
    snprintf(cmd, sizeof(cmd), "'%s' --help", VMLOGINCTL_BIN);
    assert_int_equal(cli_sh(DIR_, cmd, &all, NULL), 0);
    for (char *line = list, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        snprintf(cmd, sizeof(cmd), "'%s' %s --help", VMLOGINCTL_BIN, line);
        int rc = cli_sh(DIR_, cmd, &out, NULL);
        if (rc != 0 || strstr(out, "\n\nExample:\n  ") == NULL ||
            strstr(out, "usage: vmloginctl ") == NULL)
            fail_msg("vmloginctl %s --help: exit %d:\n%s", line, rc, out);
        char usage[128];
        snprintf(usage, sizeof(usage), "  vmloginctl %s", line);
        if (strstr(all, usage) == NULL)
            fail_msg("vmloginctl --help does not list %s", line);
        free(out);
        n++;
    }
    assert_true(n >= 25);
    free(list);
    free(all);
}

static void test_man_page(void **state)
{
    char cmd[1024], *page, *out, *err, *list;
    (void)state;

    page = h_read_file(VMLOGINCTL_MAN);
    assert_non_null(page);
    assert_true(strncmp(page, ".TH VMLOGINCTL 1 ", 17) == 0);
    assert_non_null(strstr(page, "\n.SH SYNOPSIS\n"));
    assert_non_null(strstr(page, "\n.SH ENVIRONMENT\n"));
    assert_non_null(strstr(page, "\n.SH EXIT STATUS\n"));
    snprintf(cmd, sizeof(cmd), "'%s' --commands", VMLOGINCTL_BIN);
    assert_int_equal(cli_sh(DIR_, cmd, &list, NULL), 0);
    for (char *line = list, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char ss[128];
        *nl = '\0';
        snprintf(ss, sizeof(ss), "\n.SS vmloginctl %s", line);
        if (strstr(page, ss) == NULL)
            fail_msg("the man page has no section for %s", line);
    }
    free(list);
    free(page);

    if (system("command -v groff >/dev/null 2>&1") != 0) {
        print_message("groff is not installed: the man page's rendering is SKIPPED "
                      "(scripts/install-deps.sh installs groff-base and man-db)\n");
        return;
    }
    snprintf(cmd, sizeof(cmd), "groff -man -Tutf8 -ww -z '%s'", VMLOGINCTL_MAN);
    assert_int_equal(cli_sh(DIR_, cmd, NULL, &err), 0);
    if (err != NULL && err[0] != '\0')
        fail_msg("groff warns about the man page:\n%s", err);
    free(err);
    if (system("command -v man >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd), "MANWIDTH=200 MAN_KEEP_FORMATTING= man -l '%s' | col -b",
                 VMLOGINCTL_MAN);
        assert_int_equal(cli_sh(DIR_, cmd, &out, NULL), 0);
        assert_non_null(strstr(out, "vmloginctl login --api-key [--key-file FILE]"));
        assert_non_null(strstr(out, "Ctrl-C while waiting"));
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_help_has_example),
                                       cmocka_unit_test(test_man_page)};
    h_tmpdir(DIR_, sizeof(DIR_));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
