/* Idempotency-Key records: a running claim is a lease that a retry takes over once it ends; a
 * finished record keeps its own expiry and is never overwritten by a late finisher; the
 * claims a crash left unfinished are released at start, the finished ones stay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_idempotency.h"

#define LEASE 120000
#define TTL 86400000

static enum err claim(void **state, const char *key, int64_t now, struct store_idem *prior)
{
    struct err_detail d;
    store_idem_clear(prior);
    return store_idem_claim(ST(state), "key:a", key, "h1", now, now + LEASE, prior, &d);
}

static void test_lease_and_finish(void **state)
{
    struct store_idem prior = {0};
    struct err_detail d;

    assert_int_equal(claim(state, "k", 1000, &prior), ERR_OK);
    assert_int_equal(claim(state, "k", 2000, &prior), ERR_CONFLICT);
    assert_int_equal(prior.response_status, 0); /* still running */
    /* the lease ended without an answer (its process died): a retry takes the key */
    assert_int_equal(claim(state, "k", 1000 + LEASE, &prior), ERR_OK);
    assert_int_equal(
        store_idem_finish(ST(state), "key:a", "k", 202, "{}", "/v1/sync", 1000 + LEASE + TTL, &d),
        ERR_OK);
    /* finished: replayed long after the lease */
    assert_int_equal(claim(state, "k", 1000 + 10 * LEASE, &prior), ERR_CONFLICT);
    assert_int_equal(prior.response_status, 202);
    assert_string_equal(prior.location, "/v1/sync");
    /* a late finisher (the first holder of the lease) changes nothing, nor does a release */
    assert_int_equal(
        store_idem_finish(ST(state), "key:a", "k", 400, "{\"late\":1}", NULL, 5000, &d), ERR_OK);
    assert_int_equal(store_idem_release(ST(state), "key:a", "k", &d), ERR_OK);
    assert_int_equal(claim(state, "k", 1000 + 10 * LEASE, &prior), ERR_CONFLICT);
    assert_int_equal(prior.response_status, 202);
    assert_string_equal(prior.response_body, "{}");
    store_idem_clear(&prior);
}

static void test_release_unfinished(void **state)
{
    struct store_idem prior = {0};
    struct err_detail d;
    int64_t n = -1;

    assert_int_equal(claim(state, "done", 1000, &prior), ERR_OK);
    assert_int_equal(store_idem_finish(ST(state), "key:a", "done", 201, "{}", NULL, TTL, &d),
                     ERR_OK);
    assert_int_equal(claim(state, "running", 1000, &prior), ERR_OK);
    assert_int_equal(store_idem_release_unfinished(ST(state), &n, &d), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(claim(state, "running", 1001, &prior), ERR_OK);
    assert_int_equal(claim(state, "done", 1001, &prior), ERR_CONFLICT);
    assert_int_equal(prior.response_status, 201);
    store_idem_clear(&prior);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lease_and_finish, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_release_unfinished, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
