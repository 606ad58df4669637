/* test_store_migrate.c: opening the store and migrating: embedded migrations applied in order
 * and recorded, re-running is a no-op, a failing migration leaves the file exactly as it was
 * and names itself, a newer database is refused, and readiness follows the schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "vmlogind/store.h"

static char db_path[64];

static int setup(void **state)
{
    int fd;

    (void)state;
    snprintf(db_path, sizeof(db_path), "/tmp/test_store_migrate_XXXXXX");
    fd = mkstemp(db_path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(db_path); /* let SQLite create it */
    return 0;
}

static int teardown(void **state)
{
    char p[96];

    (void)state;
    unlink(db_path);
    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
    return 0;
}

/* Reads one integer with a private connection, independent of the store under test. */
static int64_t raw_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t v = -1;

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static const char SQL_TABLES[] = "SELECT count(*) FROM sqlite_schema WHERE type = 'table'";

static void test_embedded_applied_and_recorded(void **state)
{
    struct store *st;
    struct err_detail d = {0};
    int v;

    (void)state;
    assert_true(store_migrations_count >= 1);
    assert_int_equal(store_migrations[0].version, 1);
    assert_string_equal(store_migrations[0].name, "0001_init.sql");
    assert_int_equal(store_open(db_path, &st, &d), ERR_OK);
    assert_false(store_is_ready(st));
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    assert_true(store_is_ready(st));
    assert_int_equal(store_schema_version(st, &v, &d), ERR_OK);
    assert_int_equal(v, store_migrations[store_migrations_count - 1].version);
    store_close(st);

    assert_int_equal(raw_int("PRAGMA user_version"), v);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_migrations"), store_migrations_count);
    assert_int_equal(raw_int("SELECT max(version) FROM schema_migrations"), v);
    assert_int_equal(raw_int("SELECT count(*) FROM sqlite_schema WHERE name = 'vms'"), 1);

    /* Re-running applies nothing and writes nothing. */
    assert_int_equal(store_open(db_path, &st, &d), ERR_OK);
    int64_t before = store_changes(st);
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    assert_int_equal(store_changes(st), before);
    assert_true(store_is_ready(st));
    store_close(st);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_migrations"), store_migrations_count);
}

static const struct store_migration fake[] = {
    {.version = 1, .name = "0001_a.sql", .sql = "CREATE TABLE a (x INTEGER) STRICT;"},
    {.version = 2, .name = "0002_b.sql", .sql = "CREATE TABLE b (y INTEGER) STRICT;"},
    {.version = 3,
     .name = "0003_broken.sql",
     .sql = "CREATE TABLE c (z INTEGER) STRICT; INSERT INTO a VALUES (1); SELEKT 1;"},
};

static void test_failing_migration_changes_nothing(void **state)
{
    struct store *st;
    struct err_detail d = {0};
    int64_t tables;

    (void)state;
    assert_int_equal(store_open(db_path, &st, &d), ERR_OK);
    assert_int_equal(store_migrate_with(st, fake, 2, &d), ERR_OK);
    tables = raw_int(SQL_TABLES);
    assert_int_equal(tables, 3); /* a, b, schema_migrations */

    assert_int_equal(store_migrate_with(st, fake, 3, &d), ERR_STORE);
    assert_non_null(strstr(d.msg, "0003_broken.sql"));
    assert_non_null(strstr(d.msg, "SELEKT"));
    assert_int_equal(raw_int("PRAGMA user_version"), 2);
    assert_int_equal(raw_int(SQL_TABLES), tables);
    assert_int_equal(raw_int("SELECT count(*) FROM a"), 0);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_migrations"), 2);
    /* The store is still usable afterwards. */
    assert_int_equal(store_tx_begin(st, &d), ERR_OK);
    assert_int_equal(store_tx_commit(st, &d), ERR_OK);
    store_close(st);
}

static void test_failing_first_migration_leaves_empty_file(void **state)
{
    struct store *st;
    struct err_detail d = {0};

    (void)state;
    assert_int_equal(store_open(db_path, &st, &d), ERR_OK);
    assert_int_equal(store_migrate_with(st, &fake[2], 1, &d), ERR_STORE);
    assert_non_null(strstr(d.msg, "0003_broken.sql"));
    store_close(st);
    assert_int_equal(raw_int(SQL_TABLES), 0);
    assert_int_equal(raw_int("PRAGMA user_version"), 0);
}

static void test_newer_schema_refused(void **state)
{
    struct store *st;
    struct err_detail d = {0};

    (void)state;
    assert_int_equal(store_open(db_path, &st, &d), ERR_OK);
    assert_int_equal(store_migrate_with(st, fake, 2, &d), ERR_OK);
    assert_int_equal(store_migrate_with(st, fake, 1, &d), ERR_STORE);
    assert_string_equal(d.code, "schema_too_new");
    assert_non_null(strstr(d.msg, "newer"));
    store_close(st);
}

static void test_unordered_list_refused(void **state)
{
    static const struct store_migration bad[] = {
        {.version = 2, .name = "0002_x.sql", .sql = "SELECT 1;"},
        {.version = 1, .name = "0001_y.sql", .sql = "SELECT 1;"},
    };
    struct store *st;
    struct err_detail d = {0};

    (void)state;
    assert_int_equal(store_open(db_path, &st, &d), ERR_OK);
    assert_int_equal(store_migrate_with(st, bad, 2, &d), ERR_INTERNAL);
    store_close(st);
}

static void test_memory_and_bad_paths(void **state)
{
    struct store *st;
    struct err_detail d = {0};

    (void)state;
    assert_int_equal(store_open(":memory:", &st, &d), ERR_OK);
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    assert_true(store_is_ready(st));
    store_close(st);
    assert_int_equal(store_open("/nonexistent-dir/x.db", &st, &d), ERR_STORE);
    assert_null(st);
    assert_int_equal(store_open("/tmp/a?b.db", &st, &d), ERR_INVALID);
    assert_int_equal(store_open("", &st, &d), ERR_INVALID);
}

static void test_nested_tx_refused(void **state)
{
    struct store *st;
    struct err_detail d = {0};

    (void)state;
    assert_int_equal(store_open(":memory:", &st, &d), ERR_OK);
    assert_int_equal(store_tx_begin(st, &d), ERR_OK);
    assert_true(store_in_tx(st));
    assert_int_equal(store_tx_begin(st, &d), ERR_INTERNAL);
    store_tx_rollback(st);
    assert_false(store_in_tx(st));
    store_tx_rollback(st); /* harmless */
    assert_int_equal(store_tx_commit(st, &d), ERR_INTERNAL);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_embedded_applied_and_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_migration_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_first_migration_leaves_empty_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unordered_list_refused, setup, teardown),
        cmocka_unit_test(test_memory_and_bad_paths),
        cmocka_unit_test(test_nested_tx_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
