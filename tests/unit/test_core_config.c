/* Configuration: defaults < file < environment < set; types and bounds enforced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmlogind/config.h"

static char path[] = "/tmp/vmlogind-config-XXXXXX";

static void write_cfg(const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_defaults(void **state)
{
    struct config c;
    struct err_detail d;
    (void)state;
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_string_equal(c.extension_version, "1.0");
    assert_false(c.create_signin_sp);
    assert_int_equal(config_validate(&c, &d), ERR_OK);
}

static void test_precedence(void **state)
{
    struct config c;
    struct err_detail d;
    (void)state;
    strcpy(path, "/tmp/vmlogind-config-XXXXXX");
    write_cfg("# comment\nlisten = 127.0.0.1:9000\ndb = \"/tmp/file.db\"\nsync_interval_s=10\n"
              "create_signin_sp = true\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, &d), ERR_OK);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_string_equal(c.db, "/tmp/file.db");
    assert_true(c.create_signin_sp);
    setenv("VMLOGIND_SYNC_INTERVAL_S", "20", 1);
    setenv("VMLOGIND_DB", "/tmp/env.db", 1);
    assert_int_equal(config_load_env(&c, &d), ERR_OK);
    assert_int_equal(c.sync_interval_s, 20);
    assert_string_equal(c.db, "/tmp/env.db");
    assert_int_equal(config_set(&c, "db", "/tmp/flag.db", &d), ERR_OK);
    assert_string_equal(c.db, "/tmp/flag.db");
    assert_string_equal(c.listen, "127.0.0.1:9000");
    unsetenv("VMLOGIND_SYNC_INTERVAL_S");
    unsetenv("VMLOGIND_DB");
    unlink(path);
}

static void test_bounds_and_types(void **state)
{
    struct config c;
    struct err_detail d;
    (void)state;
    config_defaults(&c);
    assert_int_equal(config_set(&c, "max_body_bytes", "10", &d), ERR_INVALID);
    assert_string_equal(d.code, "config_out_of_range");
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(config_set(&c, "threads", "four", &d), ERR_INVALID);
    assert_string_equal(d.code, "config_not_integer");
    assert_int_equal(config_set(&c, "threads", "4x", &d), ERR_INVALID);
    assert_int_equal(config_set(&c, "create_signin_sp", "maybe", &d), ERR_INVALID);
    assert_int_equal(config_set(&c, "cloud", "Mars", &d), ERR_INVALID);
    assert_string_equal(d.code, "config_not_allowed");
    assert_int_equal(config_set(&c, "no_such", "1", &d), ERR_INVALID);
    assert_string_equal(d.code, "config_unknown_key");
    assert_int_equal(config_set(&c, "cloud", "custom", &d), ERR_OK);
    assert_int_equal(config_validate(&c, &d), ERR_INVALID);
    assert_string_equal(d.code, "config_custom_cloud");
}

static void test_file_errors(void **state)
{
    struct config c;
    struct err_detail d;
    (void)state;
    strcpy(path, "/tmp/vmlogind-config-XXXXXX");
    write_cfg("listen = 127.0.0.1:1\nthis line has no equals\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, &d), ERR_INVALID);
    assert_non_null(strstr(d.msg, ":2:"));
    unlink(path);
    assert_int_equal(config_load_file(&c, "/nonexistent/x.conf", &d), ERR_INVALID);
    setenv("VMLOGIND_THREADS", "-1", 1);
    assert_int_equal(config_load_env(&c, &d), ERR_INVALID);
    assert_non_null(strstr(d.msg, "VMLOGIND_THREADS"));
    unsetenv("VMLOGIND_THREADS");
}

static void test_dump_redacts(void **state)
{
    struct config c;
    struct err_detail d;
    struct buf b;
    (void)state;
    config_defaults(&c);
    assert_int_equal(config_set(&c, "client_secret", "s3cr3t-value", &d), ERR_OK);
    buf_init(&b, 1 << 16);
    assert_int_equal(config_dump(&c, &b), ERR_OK);
    assert_null(strstr(b.data, "s3cr3t-value"));
    assert_non_null(strstr(b.data, "client_secret=<set>"));
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_bounds_and_types), cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_dump_redacts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
