/* vmloginctl's profiles and credential files: the directory ($XDG_CONFIG_HOME/vmloginctl, else
 * ~/.config/vmloginctl) made 0700 (and narrowed when it was wider), files 0600, settings per
 * profile, the current profile, profile names that cannot leave the directory, and the
 * global options parsed on every command (--profile among them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli.h"

static char base[256];

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_dir_and_modes(void **state)
{
    char dir[400], path[512];
    json_t *j = json_pack("{s:s}", "kind", "apiKey");
    (void)state;

    setenv("XDG_CONFIG_HOME", base, 1);
    assert_true(cli_config_dir(dir, sizeof(dir)));
    snprintf(path, sizeof(path), "%s/vmloginctl", base);
    assert_string_equal(dir, path);
    assert_true(cli_config_write("p.cred.json", j));
    assert_int_equal(mode_of(dir), 0700);
    snprintf(path, sizeof(path), "%s/p.cred.json", dir);
    assert_int_equal(mode_of(path), 0600);
    chmod(dir, 0755);
    assert_true(cli_config_write("p.cred.json", j));
    assert_int_equal(mode_of(dir), 0700);
    json_decref(j);
    j = cli_config_read("p.cred.json");
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "apiKey");
    json_decref(j);
    assert_true(cli_config_remove("p.cred.json"));
    assert_null(cli_config_read("p.cred.json"));
    assert_true(cli_config_remove("p.cred.json")); /* already gone is fine */

    /* without XDG_CONFIG_HOME (or a relative one): $HOME/.config */
    setenv("XDG_CONFIG_HOME", "relative", 1);
    setenv("HOME", "/home/someone", 1);
    assert_true(cli_config_dir(dir, sizeof(dir)));
    assert_string_equal(dir, "/home/someone/.config/vmloginctl");
    setenv("XDG_CONFIG_HOME", base, 1);
}

static void test_profiles(void **state)
{
    char *v;
    (void)state;

    setenv("XDG_CONFIG_HOME", base, 1);
    unsetenv("VMLOGINCTL_PROFILE");
    assert_string_equal(cli_profile_name(NULL), "default");
    assert_true(cli_profile_set("prod", "url", "https://vl.example"));
    assert_true(cli_profile_set("dev", "url", "http://127.0.0.1:8080"));
    v = cli_profile_get("prod", "url");
    assert_string_equal(v, "https://vl.example");
    free(v);
    assert_null(cli_profile_get("prod", "tenant"));
    assert_true(cli_profile_set("prod", "url", NULL)); /* unset */
    assert_null(cli_profile_get("prod", "url"));
    assert_true(cli_profile_use("dev"));
    assert_string_equal(cli_profile_name(NULL), "dev");
    setenv("VMLOGINCTL_PROFILE", "env", 1);
    assert_string_equal(cli_profile_name(NULL), "env");
    assert_string_equal(cli_profile_name("given"), "given");
    unsetenv("VMLOGINCTL_PROFILE");

    assert_true(cli_profile_name_ok("prod-eu_2"));
    assert_false(cli_profile_name_ok(""));
    assert_false(cli_profile_name_ok("../etc"));
    assert_false(cli_profile_name_ok("a/b"));
    assert_false(cli_profile_name_ok("a b"));
    assert_true(cli_setting_known("client-id"));
    assert_false(cli_setting_known("apiKey"));
}

static void test_global_options(void **state)
{
    const struct cli_opt_spec none[] = {{NULL, false}};
    char *argv[] = {"--profile", "prod", "-o", "wide", "--url=http://x", "--debug"};
    struct cli_args a;
    char err[128];
    enum cli_format f;
    (void)state;

    assert_true(cli_parse(6, argv, none, &a, err, sizeof(err)));
    assert_string_equal(cli_opt(&a, "--profile"), "prod");
    assert_string_equal(cli_opt(&a, "--url"), "http://x");
    assert_true(cli_format_parse(cli_opt(&a, "--output"), false, &f));
    assert_int_equal(f, CLI_FMT_WIDE);
    assert_true(cli_fmt_is_table(f));
    assert_false(cli_fmt_is_table(CLI_FMT_TSV));
}

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "%s/vmloginctl-unit-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(base) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_and_modes),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_global_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
