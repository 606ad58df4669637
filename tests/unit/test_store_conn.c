/* test_store_conn.c: the per-connection machinery of store.c and store_seen.c, whose faults
 * were once caught only by assert (compiled out of Release builds): a full statement cache,
 * a bind to a parameter the statement lacks, and more seen-sets on a thread than a fixed
 * table held. Each must be an error or handled in every build. Also the statement handle on
 * either backend (unit.test_store_conn.pg runs it on PostgreSQL): :name parameters, NULL
 * columns, a commit after a failed statement, and (PostgreSQL) one prepare per connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_int.h"
#include "store/store_seen.h"
#include "unit/test_store_fixture.h"

/* Statements are cached by their SQL's address: each row is one more statement. */
static char sqls[STORE_STMT_SLOTS + 1][24];

static void test_stmt_cache_full_is_an_error(void **state)
{
    struct store *st = ST(state);
    static struct store_q *got[STORE_STMT_SLOTS + 1];
    struct err_detail d = {0};
    size_t n = 0;
    enum err rc = ERR_OK;

    for (; n < STORE_STMT_SLOTS + 1; n++) {
        snprintf(sqls[n], sizeof(sqls[n]), "SELECT %zu", n);
        rc = store_stmt(st, sqls[n], &got[n], &d);
        if (rc != ERR_OK)
            break;
    }
    /* migrations hold a few slots already: the cache fills before the last row */
    assert_int_equal(rc, ERR_INTERNAL);
    assert_null(got[n]);
    assert_non_null(strstr(d.msg, "statement cache full"));
    assert_true(n > 0 && n <= STORE_STMT_SLOTS);
    /* no live statement was prepared over: each still answers its own query */
    for (size_t i = 0; i < n; i++) {
        struct store_q *s;

        assert_int_equal(store_stmt(st, sqls[i], &s, &d), ERR_OK);
        assert_ptr_equal(s, got[i]);
        assert_int_equal(store_step_one(s, &d, "select"), ERR_OK);
        assert_int_equal(col_int64(s, 0), (int64_t)i);
        store_reset(s);
    }
}

static const char SQL_ECHO[] = "SELECT :a";

static void test_missing_bind_param_is_an_error(void **state)
{
    struct store *st = ST(state);
    struct err_detail d = {0};
    struct store_q *s;

    assert_int_equal(store_stmt(st, SQL_ECHO, &s, &d), ERR_OK);
    bind_text(s, ":b", "x"); /* no :b in SQL_ECHO */
    assert_int_equal(store_step_one(s, &d, "echo"), ERR_INTERNAL);
    assert_non_null(strstr(d.msg, ":b"));

    /* the next use of the statement starts clean */
    assert_int_equal(store_stmt(st, SQL_ECHO, &s, &d), ERR_OK);
    bind_text(s, ":a", "y");
    assert_int_equal(store_step_one(s, &d, "echo"), ERR_OK);
    assert_string_equal(col_view(s, 0), "y");
    store_reset(s);

    /* a bad bind followed by a fresh fetch before the step is still cleared, not leaked into
     * the next caller */
    bind_int64(s, ":nope", 1);
    assert_int_equal(store_stmt(st, SQL_ECHO, &s, &d), ERR_OK);
    bind_int64(s, ":a", 7);
    assert_int_equal(store_step_one(s, &d, "echo"), ERR_OK);
    assert_int_equal(col_int64(s, 0), 7);
    store_reset(s);
}

/* :name parameters: one name used twice is one parameter; text in quotes is not one. */
static const char SQL_NAMES[] = "SELECT :a || ':b' || :a || ' ''x:c'' ', NULL, :n";

static void test_parameter_names(void **state)
{
    struct store *st = ST(state);
    struct err_detail d = {0};
    struct store_q *s;

    assert_int_equal(store_stmt(st, SQL_NAMES, &s, &d), ERR_OK);
    bind_text(s, ":a", "x");
    bind_int64(s, ":n", -42);
    assert_int_equal(store_step_one(s, &d, "names"), ERR_OK);
    assert_string_equal(col_view(s, 0), "x:bx 'x:c' ");
    assert_true(col_null(s, 1));
    assert_null(col_text(s, 1));
    assert_int_equal(col_int64(s, 1), 0);
    assert_int_equal(col_int64(s, 2), -42);
    assert_false(col_null(s, 2));
    assert_int_equal(col_count(s), 3);
    store_reset(s);
    /* ':b' is text, not a parameter */
    assert_int_equal(store_stmt(st, SQL_NAMES, &s, &d), ERR_OK);
    bind_text(s, ":b", "y");
    assert_int_equal(store_step_one(s, &d, "names"), ERR_INTERNAL);
}

static const char SQL_DUP_KEY[] =
    "INSERT INTO api_keys (id, name, role, key_hash, created_at) VALUES ('k', 'n', 'reader',"
    " '0000000000000000000000000000000000000000000000000000000000000000', 1)";

/* A transaction whose statement failed: on SQLite the statement alone is undone and the
 * transaction commits the rest; PostgreSQL aborts the whole transaction, and its commit says
 * so instead of reporting success. */
static void test_commit_after_failed_statement(void **state)
{
    struct store *st = ST(state);
    struct err_detail d = {0};
    struct store_q *s;
    enum err want = fixture_pg_host() != NULL ? ERR_STORE : ERR_OK;

    assert_int_equal(store_stmt(st, SQL_DUP_KEY, &s, &d), ERR_OK);
    assert_int_equal(store_exec_stmt(s, &d, "key"), ERR_OK);
    assert_int_equal(store_tx_begin(st, &d), ERR_OK);
    assert_int_equal(store_stmt(st, SQL_DUP_KEY, &s, &d), ERR_OK);
    assert_int_equal(store_exec_stmt(s, &d, "key"), ERR_CONFLICT);
    assert_int_equal(store_tx_commit(st, &d), want);
    assert_false(store_in_tx(st));
    /* the thread's connection is usable again either way */
    assert_int_equal(store_tx_begin(st, &d), ERR_OK);
    store_tx_rollback(st);
}

static const char SQL_PREPARED[] = "SELECT count(*) FROM pg_prepared_statements"
                                   " WHERE statement LIKE '%FROM api_keys WHERE id = $1%'"
                                   " AND statement NOT LIKE '%pg_prepared_statements%'";

/* PostgreSQL: a store statement is prepared once on a connection and reused after. A
 * transaction holds one connection, so the count it reads is that connection's. */
static void test_prepared_once_per_connection(void **state)
{
    struct store *st = ST(state);
    struct store_api_key k;
    struct err_detail d = {0};
    struct store_q *s;

    if (fixture_pg_host() == NULL)
        skip();
    assert_int_equal(store_tx_begin(st, &d), ERR_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_api_key_get(st, "nope", &k, &d), ERR_NOT_FOUND);
    assert_int_equal(store_stmt(st, SQL_PREPARED, &s, &d), ERR_OK);
    assert_int_equal(store_step_one(s, &d, "prepared"), ERR_OK);
    assert_int_equal(col_int64(s, 0), 1);
    store_reset(s);
    store_tx_rollback(st);
}

/* A pass's seen set: keys compare as SQL lower() makes id_key, it grows past its first table
 * without losing a key, and NULL is the pass that saw nothing. */
static void test_seen_set(void **state)
{
    struct store_seen *s = store_seen_new();
    char key[96];
    (void)state;

    seen_set_add(s, "/subscriptions/s/resourceGroups/rg/virtualMachines/vm");
    assert_true(seen_set_has(s, "/SUBSCRIPTIONS/s/resourcegroups/RG/virtualMachines/vm"));
    assert_false(seen_set_has(s, "/subscriptions/s/resourceGroups/rg/virtualMachines/vm2"));
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "/subscriptions/s/resourceGroups/rg/virtualMachines/v%d", i);
        seen_set_add(s, key);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "/subscriptions/s/resourceGroups/RG/virtualMachines/V%d", i);
        assert_true(seen_set_has(s, key));
    }
    assert_int_equal(s->n, 10001);
    seen_set_add(NULL, key);
    assert_false(seen_set_has(NULL, key));
    store_seen_free(s);
    store_seen_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stmt_cache_full_is_an_error, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_bind_param_is_an_error, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_seen_set, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_parameter_names, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_commit_after_failed_statement, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_prepared_once_per_connection, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
