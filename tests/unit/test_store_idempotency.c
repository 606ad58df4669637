/* Idempotency-Key records: written with their response only, a live record is never
 * overwritten (a second writer gets ERR_CONFLICT), an expired one is replaced; a record made in
 * a transaction that never commits (the process died) is not there afterwards; and the table
 * itself refuses a record without a response, so no key can be left "in progress". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_idempotency.h"

#define TTL 86400000

static enum err record(void **state, const char *key, int status, int64_t now)
{
    struct store_idem r = {.request_hash = "h1",
                           .response_status = status,
                           .response_body = "{}",
                           .location = "/v1/sync"};
    struct err_detail d;
    return store_idem_record(ST(state), "key:a", key, &r, now, now + TTL, &d);
}

static void test_record_get_expire(void **state)
{
    struct store_idem got = {0};
    struct err_detail d;

    assert_int_equal(store_idem_get(ST(state), "key:a", "k", 1000, &got, &d), ERR_NOT_FOUND);
    assert_int_equal(record(state, "k", 202, 1000), ERR_OK);
    assert_int_equal(store_idem_get(ST(state), "key:a", "k", 2000, &got, &d), ERR_OK);
    assert_int_equal(got.response_status, 202);
    assert_string_equal(got.request_hash, "h1");
    assert_string_equal(got.response_body, "{}");
    assert_string_equal(got.location, "/v1/sync");
    store_idem_clear(&got);
    /* keys are per caller */
    assert_int_equal(store_idem_get(ST(state), "key:b", "k", 2000, &got, &d), ERR_NOT_FOUND);
    /* a live record is never overwritten: the second writer learns it lost */
    assert_int_equal(record(state, "k", 400, 3000), ERR_CONFLICT);
    assert_int_equal(store_idem_get(ST(state), "key:a", "k", 3000, &got, &d), ERR_OK);
    assert_int_equal(got.response_status, 202);
    store_idem_clear(&got);
    /* expired: gone for readers, replaced by the next writer */
    assert_int_equal(store_idem_get(ST(state), "key:a", "k", 1000 + TTL, &got, &d), ERR_NOT_FOUND);
    assert_int_equal(record(state, "k", 201, 1000 + TTL), ERR_OK);
    assert_int_equal(store_idem_get(ST(state), "key:a", "k", 1001 + TTL, &got, &d), ERR_OK);
    assert_int_equal(got.response_status, 201);
    store_idem_clear(&got);
}

/* The write runner's record shares the intent's transaction: a process that dies before the
 * commit (closing the connection without one) leaves no record at all. */
static void test_uncommitted_record_does_not_survive(void **state)
{
    struct fixture *f = *state;
    struct store_idem got = {0};
    struct err_detail d;

    assert_int_equal(store_tx_begin(f->st, &d), ERR_OK);
    assert_int_equal(record(state, "crash", 202, 1000), ERR_OK);
    store_close(f->st); /* no commit, as after kill -9 */
    assert_int_equal(fixture_reopen(f, &d), ERR_OK);
    assert_int_equal(store_idem_get(f->st, "key:a", "crash", 2000, &got, &d), ERR_NOT_FOUND);
}

/* No row can say "the first request is still running": the schema refuses one. */
static void test_table_refuses_unfinished(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(fixture_raw_exec(f, "INSERT INTO idempotency_keys (caller, key, request_hash,"
                                         " created_at, expires_at)"
                                         " VALUES ('key:a', 'running', 'h1', 1, 2)"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_get_expire, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_record_does_not_survive,
                                        fixture_setup_file, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_table_refuses_unfinished, fixture_setup_file,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
