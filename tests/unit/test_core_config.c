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

/* store_backend, postgres_url, postgres_password_file, postgres_pool_size: their variables,
 * bounds, and postgresql without a URL refused with a message naming what to set. */
static void test_postgres_settings(void **state)
{
    struct config c;
    struct err_detail d;
    (void)state;
    config_defaults(&c);
    assert_string_equal(c.store_backend, "sqlite");
    assert_int_equal(c.postgres_pool_size, 8);
    assert_int_equal(config_set(&c, "store_backend", "mysql", &d), ERR_INVALID);
    assert_string_equal(d.code, "config_not_allowed");
    assert_int_equal(config_set(&c, "postgres_pool_size", "0", &d), ERR_INVALID);
    assert_string_equal(d.code, "config_out_of_range");
    setenv("VMLOGIND_STORE_BACKEND", "postgresql", 1);
    setenv("VMLOGIND_POSTGRES_POOL_SIZE", "3", 1);
    setenv("VMLOGIND_POSTGRES_PASSWORD_FILE", "/run/secrets/pg", 1);
    assert_int_equal(config_load_env(&c, &d), ERR_OK);
    assert_string_equal(c.store_backend, "postgresql");
    assert_int_equal(c.postgres_pool_size, 3);
    assert_string_equal(c.postgres_password_file, "/run/secrets/pg");
    assert_int_equal(config_validate(&c, &d), ERR_INVALID);
    assert_string_equal(d.code, "config_postgres_url");
    assert_non_null(strstr(d.msg, "postgres_url"));
    setenv("VMLOGIND_POSTGRES_URL", "host=/run/postgresql dbname=vmlogind", 1);
    assert_int_equal(config_load_env(&c, &d), ERR_OK);
    assert_int_equal(config_validate(&c, &d), ERR_OK);
    unsetenv("VMLOGIND_STORE_BACKEND");
    unsetenv("VMLOGIND_POSTGRES_POOL_SIZE");
    unsetenv("VMLOGIND_POSTGRES_PASSWORD_FILE");
    unsetenv("VMLOGIND_POSTGRES_URL");
}

static void assert_masked(const char *in, const char *want)
{
    char out[256];
    config_conninfo_mask(in, out, sizeof(out));
    assert_string_equal(out, want);
    assert_null(strstr(out, "pw-9f2"));
}

/* Every password of a conninfo is masked, in both of libpq's forms; the rest is kept. */
static void test_conninfo_mask(void **state)
{
    char small[8];
    struct config c;
    struct err_detail d;
    struct buf b;
    (void)state;
    assert_masked("host=/tmp/pg dbname=vl", "host=/tmp/pg dbname=vl");
    assert_masked("host=db password=pw-9f2 user=vl", "host=db password=*** user=vl");
    assert_masked("host = db  password = 'pw-9f2 \\' x' user=vl", "host=db password=*** user=vl");
    assert_masked("password=pw-9f2", "password=***");
    assert_masked("host=db password 'pw-9f2'", "host=db ***");
    assert_masked("host=db password='pw-9f2", "host=db ***");
    assert_masked("postgresql://vl:pw-9f2@db:5432/vl?sslmode=require",
                  "postgresql://vl:***@db:5432/vl?sslmode=require");
    assert_masked("postgres://vl:pw-9f2@db/vl", "postgres://vl:***@db/vl");
    assert_masked("postgresql://vl@db/vl?sslmode=verify-full&password=pw-9f2&x=1",
                  "postgresql://vl@db/vl?sslmode=verify-full&password=***&x=1");
    assert_masked("postgresql:///vl?host=/tmp/pg", "postgresql:///vl?host=/tmp/pg");
    config_conninfo_mask("host=db password=pw-9f2", small, sizeof(small));
    assert_string_equal(small, "host=db");
    /* The effective configuration (logged at start) shows the URL masked. */
    config_defaults(&c);
    assert_int_equal(config_set(&c, "postgres_url", "host=db password=pw-9f2", &d), ERR_OK);
    buf_init(&b, 1 << 16);
    assert_int_equal(config_dump(&c, &b), ERR_OK);
    assert_null(strstr(b.data, "pw-9f2"));
    assert_non_null(strstr(b.data, "postgres_url=host=db password=***"));
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_bounds_and_types), cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_dump_redacts),     cmocka_unit_test(test_postgres_settings),
        cmocka_unit_test(test_conninfo_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
