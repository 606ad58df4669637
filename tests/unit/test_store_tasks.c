/* test_store_tasks.c: the durable task queue: upsert without duplicates, lease order and
 * exclusivity, a dead worker's lease expiring, complete/reschedule/fail/release conditioned on
 * the lease, wake-ups during a lease, backoff, and two threads leasing concurrently; on
 * PostgreSQL (unit.test_store_tasks.pg), a lease skipping a task another transaction holds;
 * targeted leases, and a dead predecessor's leases found by owner and given back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"

#define T0 1000000
#define LEASE 30000

static void lease_ok(struct store *st, const char *owner, int64_t now, struct store_task *t)
{
    struct err_detail d = {0};

    assert_int_equal(store_task_lease(st, NULL, owner, now, LEASE, t, &d), ERR_OK);
}

static void test_upsert_does_not_duplicate(void **state)
{
    struct store *st = ST(state);
    struct store_task t;
    int64_t due;

    assert_int_equal(store_task_upsert(st, "vm_login", "/s/1/vm/a", T0 + 500, NULL, T0, NULL),
                     ERR_OK);
    assert_int_equal(
        store_task_upsert(st, "vm_login", "/s/1/vm/a", T0 + 100, "{\"x\":1}", T0, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(st, "vm_login", "/s/1/vm/a", T0 + 900, NULL, T0, NULL),
                     ERR_OK);
    assert_int_equal(store_task_count_due(st, T0 + 1000, &due, NULL), ERR_OK);
    assert_int_equal(due, 1);
    assert_int_equal(store_task_get(st, "vm_login", "/s/1/vm/a", &t, NULL), ERR_OK);
    assert_int_equal(t.due_at, T0 + 100); /* the earliest wins */
    assert_string_equal(t.payload, "{\"x\":1}");
    assert_int_equal(t.state, STORE_TASK_PENDING);
    assert_null(t.lease_owner);
    store_task_clear(&t);
    assert_int_equal(store_task_upsert(st, "vm_login", "k", T0, "not json", T0, NULL), ERR_INVALID);
}

static void test_lease_order_and_exclusivity(void **state)
{
    struct store *st = ST(state);
    struct store_task a;
    struct store_task b;
    struct store_task none;

    assert_int_equal(store_task_upsert(st, "grant", "late", T0 + 10, NULL, T0, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(st, "grant", "early", T0, NULL, T0, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(st, "grant", "future", T0 + 999999, NULL, T0, NULL), ERR_OK);
    lease_ok(st, "w1", T0 + 20, &a);
    assert_string_equal(a.key, "early");
    assert_string_equal(a.lease_owner, "w1");
    assert_int_equal(a.lease_until, T0 + 20 + LEASE);
    assert_int_equal(a.attempts, 1);
    lease_ok(st, "w2", T0 + 20, &b);
    assert_string_equal(b.key, "late");
    assert_int_equal(store_task_lease(st, NULL, "w3", T0 + 20, LEASE, &none, NULL), ERR_NOT_FOUND);
    assert_int_equal(store_task_lease(st, "other_kind", "w3", T0 + 2000000, LEASE, &none, NULL),
                     ERR_NOT_FOUND);
    /* Only the holder may complete. */
    assert_int_equal(store_task_complete(st, a.id, "w2", T0 + 30, NULL), ERR_CONFLICT);
    assert_int_equal(store_task_complete(st, a.id, "w1", T0 + 30, NULL), ERR_OK);
    assert_int_equal(store_task_complete(st, a.id, "w1", T0 + 30, NULL), ERR_CONFLICT);
    store_task_clear(&a);
    assert_int_equal(store_task_get(st, "grant", "early", &a, NULL), ERR_OK);
    assert_int_equal(a.state, STORE_TASK_DONE);
    assert_int_equal(a.attempts, 0);
    assert_null(a.lease_owner);
    store_task_clear(&a);
    store_task_clear(&b);
}

static void test_dead_worker_lease_expires(void **state)
{
    struct store *st = ST(state);
    struct store_task a;
    struct store_task b;
    struct store_task none;

    assert_int_equal(store_task_upsert(st, "vm_login", "x", T0, NULL, T0, NULL), ERR_OK);
    lease_ok(st, "dead", T0, &a);
    /* Before the lease ends nobody else gets it; after, the next worker does. */
    assert_int_equal(store_task_lease(st, NULL, "w2", T0 + LEASE - 1, LEASE, &none, NULL),
                     ERR_NOT_FOUND);
    lease_ok(st, "w2", T0 + LEASE, &b);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.attempts, 2);
    /* The dead worker, come back, has lost it. */
    assert_int_equal(store_task_reschedule(st, a.id, "dead", T0 + LEASE + 1, 10, "x", NULL, NULL),
                     ERR_CONFLICT);
    assert_int_equal(store_task_renew(st, b.id, "w2", T0 + LEASE + 1, LEASE, "https://op/1", NULL),
                     ERR_OK);
    store_task_clear(&b);
    assert_int_equal(store_task_get(st, "vm_login", "x", &b, NULL), ERR_OK);
    assert_string_equal(b.op_url, "https://op/1");
    assert_int_equal(b.lease_until, T0 + LEASE + 1 + LEASE);
    store_task_clear(&a);
    store_task_clear(&b);
}

/* A targeted wake leases that task only, ahead of an older backlog, and not while another
 * holds it; a restarted process finds the leases of its dead predecessors by owner prefix and
 * makes their tasks due at once. */
static void test_lease_key_and_dead_owners(void **state)
{
    struct store *st = ST(state);
    struct store_task a, b, c, none;
    char **owners = NULL;
    int64_t n = 0, due = 0;

    assert_int_equal(store_task_upsert(st, "grant", "old", T0, NULL, T0, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(st, "vm_login", "woken", T0 + 5, NULL, T0, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(st, "vm_login", "third", T0 + 6, NULL, T0, NULL), ERR_OK);
    assert_int_equal(
        store_task_lease_key(st, "vm_login", "woken", "host/1/w0", T0 + 10, LEASE, &a, NULL),
        ERR_OK);
    assert_string_equal(a.key, "woken"); /* not "old", due earlier */
    assert_int_equal(
        store_task_lease_key(st, "vm_login", "woken", "host/2/w0", T0 + 10, LEASE, &none, NULL),
        ERR_NOT_FOUND); /* held */
    assert_int_equal(
        store_task_lease_key(st, "vm_login", "absent", "host/2/w0", T0 + 10, LEASE, &none, NULL),
        ERR_NOT_FOUND);
    lease_ok(st, "host/1/w1", T0 + 10, &b);
    assert_string_equal(b.key, "old");
    lease_ok(st, "other/7/w0", T0 + 10, &c);
    assert_string_equal(c.key, "third");
    assert_int_equal(store_task_lease_owners(st, "host/", T0 + 20, &owners, NULL), ERR_OK);
    assert_non_null(owners[0]);
    assert_non_null(owners[1]);
    assert_null(owners[2]);
    assert_true((strcmp(owners[0], "host/1/w0") == 0 && strcmp(owners[1], "host/1/w1") == 0) ||
                (strcmp(owners[1], "host/1/w0") == 0 && strcmp(owners[0], "host/1/w1") == 0));
    store_strv_free(owners);
    /* host/1 died: its two tasks are due now, the other host's lease stands */
    assert_int_equal(store_task_release_owner(st, "host/1/w0", T0 + 20, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_task_release_owner(st, "host/1/w1", T0 + 20, NULL, NULL), ERR_OK);
    assert_int_equal(store_task_count_due(st, T0 + 20, &due, NULL), ERR_OK);
    assert_int_equal(due, 2);
    assert_int_equal(store_task_lease_owners(st, "host/", T0 + 20, &owners, NULL), ERR_OK);
    assert_null(owners[0]);
    store_strv_free(owners);
    /* the dead owner's late reply changes nothing */
    assert_int_equal(store_task_complete(st, a.id, "host/1/w0", T0 + 21, NULL), ERR_CONFLICT);
    assert_int_equal(
        store_task_lease_key(st, "vm_login", "woken", "host/2/w0", T0 + 21, LEASE, &none, NULL),
        ERR_OK);
    assert_string_equal(none.lease_owner, "host/2/w0");
    store_task_clear(&none);
    store_task_clear(&a);
    store_task_clear(&b);
    store_task_clear(&c);
}

static void test_reschedule_fail_release(void **state)
{
    struct store *st = ST(state);
    struct store_task a;
    struct store_task none;

    assert_int_equal(store_task_upsert(st, "vm_login", "y", T0, NULL, T0, NULL), ERR_OK);
    lease_ok(st, "w", T0, &a);
    assert_int_equal(
        store_task_reschedule(st, a.id, "w", T0 + 5, 1000, "Conflict", "https://lro", NULL),
        ERR_OK);
    assert_int_equal(store_task_lease(st, NULL, "w", T0 + 1004, LEASE, &none, NULL), ERR_NOT_FOUND);
    store_task_clear(&a);
    lease_ok(st, "w", T0 + 1005, &a);
    assert_string_equal(a.last_error, "Conflict");
    assert_string_equal(a.op_url, "https://lro");
    assert_int_equal(a.attempts, 2);
    /* Release gives it back due now without counting the attempt. */
    assert_int_equal(store_task_release(st, a.id, "w", T0 + 1006, NULL), ERR_OK);
    store_task_clear(&a);
    lease_ok(st, "w", T0 + 1006, &a);
    assert_int_equal(a.attempts, 2);
    assert_int_equal(store_task_fail(st, a.id, "w", T0 + 1007, "PrincipalNotFound", NULL), ERR_OK);
    assert_int_equal(store_task_lease(st, NULL, "w", T0 + 9999999, LEASE, &none, NULL),
                     ERR_NOT_FOUND);
    store_task_clear(&a);
    assert_int_equal(store_task_get(st, "vm_login", "y", &a, NULL), ERR_OK);
    assert_int_equal(a.state, STORE_TASK_DEAD);
    assert_string_equal(a.last_error, "PrincipalNotFound");
    store_task_clear(&a);
    /* An upsert brings a dead task back. */
    assert_int_equal(store_task_upsert(st, "vm_login", "y", T0 + 2000, NULL, T0 + 2000, NULL),
                     ERR_OK);
    lease_ok(st, "w", T0 + 2000, &a);
    store_task_clear(&a);
}

static void test_wake_during_lease(void **state)
{
    struct store *st = ST(state);
    struct store_task a;
    struct store_task b;
    struct store_task none;

    assert_int_equal(store_task_upsert(st, "vm_login", "z", T0, NULL, T0, NULL), ERR_OK);
    lease_ok(st, "w1", T0, &a);
    /* Desired state changed while w1 works: the lease holds, nobody else runs it... */
    assert_int_equal(store_task_upsert(st, "vm_login", "z", T0 + 1, NULL, T0 + 1, NULL), ERR_OK);
    assert_int_equal(store_task_lease(st, NULL, "w2", T0 + 2, LEASE, &none, NULL), ERR_NOT_FOUND);
    /* ...and completing makes it due again at once instead of done. */
    assert_int_equal(store_task_complete(st, a.id, "w1", T0 + 3, NULL), ERR_OK);
    lease_ok(st, "w2", T0 + 3, &b);
    assert_int_equal(b.id, a.id);
    assert_int_equal(store_task_complete(st, b.id, "w2", T0 + 4, NULL), ERR_OK);
    assert_int_equal(store_task_lease(st, NULL, "w2", T0 + 5, LEASE, &none, NULL), ERR_NOT_FOUND);
    store_task_clear(&a);
    store_task_clear(&b);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(store_task_backoff_ms(1, 1000, 60000, 0), 1000);
    assert_int_equal(store_task_backoff_ms(2, 1000, 60000, 0), 2000);
    assert_int_equal(store_task_backoff_ms(4, 1000, 60000, 0), 8000);
    assert_int_equal(store_task_backoff_ms(40, 1000, 60000, 0), 60000);
    assert_int_equal(store_task_backoff_ms(1, 1000, 60000, 0.5), 900);
}

#define PER_THREAD 200

struct worker {
    struct store *st;
    char owner[16];
    int leased;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct store_task t;

    for (;;) {
        if (store_task_lease(w->st, "bulk", w->owner, T0, LEASE, &t, NULL) != ERR_OK)
            break;
        if (store_task_complete(w->st, t.id, w->owner, T0, NULL) == ERR_OK)
            w->leased++;
        store_task_clear(&t);
    }
    store_thread_done(w->st);
    return NULL;
}

/* Two threads, each with its own connection, drain the queue: every task exactly once. */
static void test_two_threads(void **state)
{
    struct store *st = ST(state);
    struct worker w[2] = {{.st = st, .owner = "t1"}, {.st = st, .owner = "t2"}};
    pthread_t th[2];
    char key[32];

    assert_int_equal(store_tx_begin(st, NULL), ERR_OK);
    for (int i = 0; i < 2 * PER_THREAD; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(store_task_upsert(st, "bulk", key, T0, NULL, T0, NULL), ERR_OK);
    }
    assert_int_equal(store_tx_commit(st, NULL), ERR_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].leased + w[1].leased, 2 * PER_THREAD);
}

struct skipper {
    struct store *st;
    pthread_mutex_t mu;
    pthread_cond_t done_cv;
    bool done;
    enum err rc;
    char key[16];
};

static void *lease_other(void *p)
{
    struct skipper *k = p;
    struct store_task t = {0};
    enum err rc = store_task_lease(k->st, NULL, "w2", T0 + 20, LEASE, &t, NULL);

    pthread_mutex_lock(&k->mu);
    k->rc = rc;
    if (rc == ERR_OK)
        snprintf(k->key, sizeof(k->key), "%s", t.key);
    k->done = true;
    pthread_cond_signal(&k->done_cv);
    pthread_mutex_unlock(&k->mu);
    store_task_clear(&t);
    store_thread_done(k->st);
    return NULL;
}

/* PostgreSQL: a task leased in a transaction not yet committed is skipped, not waited for
 * (FOR UPDATE SKIP LOCKED): another worker leases the next task at once. (SQLite has one
 * writer at a time; there the second lease waits for the first transaction.) */
static void test_lease_skips_locked(void **state)
{
    struct store *st = ST(state);
    struct skipper k = {.st = st};
    struct store_task a = {0};
    struct timespec until;
    pthread_t th;
    bool done;

    if (fixture_pg_host() == NULL)
        skip();
    assert_int_equal(store_task_upsert(st, "grant", "a", T0, NULL, T0, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(st, "grant", "b", T0 + 1, NULL, T0, NULL), ERR_OK);
    pthread_mutex_init(&k.mu, NULL);
    pthread_cond_init(&k.done_cv, NULL);
    assert_int_equal(store_tx_begin(st, NULL), ERR_OK);
    lease_ok(st, "w1", T0 + 20, &a);
    assert_string_equal(a.key, "a");
    assert_int_equal(pthread_create(&th, NULL, lease_other, &k), 0);
    /* the other worker answers while this transaction still holds task a */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&k.mu);
    while (!k.done && pthread_cond_timedwait(&k.done_cv, &k.mu, &until) == 0)
        ;
    done = k.done;
    pthread_mutex_unlock(&k.mu);
    assert_int_equal(store_tx_commit(st, NULL), ERR_OK);
    pthread_join(th, NULL);
    assert_true(done);
    assert_int_equal(k.rc, ERR_OK);
    assert_string_equal(k.key, "b");
    store_task_clear(&a);
    pthread_cond_destroy(&k.done_cv);
    pthread_mutex_destroy(&k.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upsert_does_not_duplicate, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lease_order_and_exclusivity, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dead_worker_lease_expires, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lease_key_and_dead_owners, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reschedule_fail_release, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wake_during_lease, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test_setup_teardown(test_two_threads, fixture_setup_file, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lease_skips_locked, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
