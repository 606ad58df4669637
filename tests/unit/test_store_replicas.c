/* test_store_replicas.c: two store handles on one database, as two replicas (or two processes)
 * hold them, each used by a thread of its own. Write transactions take turns, as under
 * SQLite's BEGIN IMMEDIATE (on PostgreSQL: the advisory lock every write transaction takes,
 * store_q_pg.c), so a read-modify-write in a transaction loses no update of the other handle,
 * and audit appends from both make one chain that verifies with every row.
 * unit.test_store_replicas.pg runs it on PostgreSQL. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_rate.h"

#define ROUNDS 150
#define COUNTER "op-counter"

struct replica {
    struct store *st;
    pthread_barrier_t *start;
    const char *actor;
    int failed; /* calls that did not answer ERR_OK */
    char err[256];
};

static struct store *open_second(struct fixture *f)
{
    struct store *second = NULL;

    assert_int_equal(fixture_open_second(f, &second, NULL), ERR_OK);
    return second;
}

static void failed(struct replica *r, const struct err_detail *d)
{
    if (r->failed++ == 0)
        snprintf(r->err, sizeof(r->err), "%.40s: %.200s", d->code, d->msg);
}

/* One round: read the counter, let the other replica run, write it plus one, commit. */
static void increment(struct replica *r)
{
    struct store_operation op;
    struct err_detail d = {0};
    char steps[32];
    long n;

    if (store_tx_begin(r->st, &d) != ERR_OK) {
        failed(r, &d);
        return;
    }
    if (store_operation_get(r->st, COUNTER, &op, &d) != ERR_OK) {
        store_tx_rollback(r->st);
        failed(r, &d);
        return;
    }
    n = strtol(op.steps + 1, NULL, 10); /* "[n]" */
    store_operation_clear(&op);
    sched_yield();
    snprintf(steps, sizeof(steps), "[%ld]", n + 1);
    if (store_operation_update(r->st, COUNTER, "Running", steps, NULL, NULL, n + 1, &d) != ERR_OK ||
        store_tx_commit(r->st, &d) != ERR_OK) {
        store_tx_rollback(r->st);
        failed(r, &d);
    }
}

static void *increments(void *p)
{
    struct replica *r = p;

    pthread_barrier_wait(r->start);
    for (int i = 0; i < ROUNDS; i++)
        increment(r);
    store_thread_done(r->st);
    return NULL;
}

static void *appends(void *p)
{
    struct replica *r = p;

    pthread_barrier_wait(r->start);
    for (int i = 0; i < ROUNDS; i++) {
        struct store_audit_entry e = {.at = 1000 + i,
                                      .actor = (char *)r->actor,
                                      .action = (char *)"loginGrant.create",
                                      .target = (char *)"/subscriptions/s",
                                      .outcome = (char *)"accepted"};
        struct err_detail d = {0};
        if (store_audit_append(r->st, &e, &d) != ERR_OK)
            failed(r, &d);
    }
    store_thread_done(r->st);
    return NULL;
}

/* Runs fn on a thread per handle, started together; each thread's failures are reported. */
static void run_both(struct store *a, struct store *b, void *(*fn)(void *))
{
    pthread_barrier_t start;
    struct replica r[2] = {{.st = a, .start = &start, .actor = "replica:a"},
                           {.st = b, .start = &start, .actor = "replica:b"}};
    pthread_t t[2];

    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++)
        if (r[i].failed != 0)
            fail_msg("%s: %d of %d failed, the first: %s", r[i].actor, r[i].failed, ROUNDS,
                     r[i].err);
}

static void test_read_modify_write_loses_nothing(void **state)
{
    struct fixture *f = *state;
    struct store_operation op = {
        .id = COUNTER, .kind = (char *)"counter", .target = (char *)"/subscriptions/S"};
    struct store *second = open_second(f);
    char want[32];

    assert_int_equal(store_operation_create(f->st, &op, 1, NULL), ERR_OK);
    assert_int_equal(store_operation_update(f->st, COUNTER, "Running", "[0]", NULL, NULL, 1, NULL),
                     ERR_OK);
    run_both(f->st, second, increments);
    store_close(second);
    assert_int_equal(store_operation_get(f->st, COUNTER, &op, NULL), ERR_OK);
    snprintf(want, sizeof(want), "[%d]", 2 * ROUNDS);
    assert_string_equal(op.steps, want);
    store_operation_clear(&op);
}

static void test_audit_appends_make_one_chain(void **state)
{
    struct fixture *f = *state;
    struct store *second = open_second(f);
    struct store_audit_entry *list;
    struct err_detail d = {0};
    char key[96];
    int64_t rows = 0, broken = 0;
    size_t n, from_b = 0;

    snprintf(key, sizeof(key), "%s.audit-key", f->path);
    assert_int_equal(store_audit_key_load(second, key, false, NULL, &d), ERR_OK);
    run_both(f->st, second, appends);
    store_close(second);
    assert_int_equal(store_audit_verify(f->st, &rows, &broken, &d), ERR_OK);
    assert_int_equal(rows, 2 * ROUNDS);
    assert_int_equal(broken, 0);
    /* both replicas' rows are in it */
    assert_int_equal(store_audit_list(f->st, 0, 1000, &list, &n, NULL), ERR_OK);
    assert_int_equal(n, 2 * ROUNDS);
    for (size_t i = 0; i < n; i++)
        from_b += strcmp(list[i].actor, "replica:b") == 0;
    assert_int_equal(from_b, ROUNDS);
    store_audit_list_free(list, n);
}

/* One caller's rate bucket is one bucket whichever replica takes from it (PostgreSQL); SQLite,
 * one replica, keeps its buckets in memory and has none in the store. At 1 token a second
 * nothing refills a whole token within the test's few milliseconds. */
static void test_rate_bucket_is_shared(void **state)
{
    struct fixture *f = *state;
    struct store *second = open_second(f);
    struct err_detail d = {0};
    int64_t taken = 0, wait = 0;

    if (!store_is_shared(f->st)) {
        assert_int_equal(store_rate_take(f->st, "key:a", 1, 5, 1, &taken, &wait, &d), ERR_INTERNAL);
        store_close(second);
        return;
    }
    assert_true(store_is_shared(second));
    assert_int_equal(store_rate_take(f->st, "key:a", 1, 5, 1, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 1);
    /* a batch: as many as asked while the bucket holds them */
    assert_int_equal(store_rate_take(second, "key:a", 1, 5, 2, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 2);
    /* then what is left, whole tokens only: 2 of the 3 asked */
    assert_int_equal(store_rate_take(f->st, "key:a", 1, 5, 3, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 2);
    /* five of five taken, across both: the next one waits, on either replica */
    assert_int_equal(store_rate_take(second, "key:a", 1, 5, 1, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 0);
    assert_true(wait > 0 && wait <= 1000);
    assert_int_equal(store_rate_take(f->st, "key:a", 1, 5, 2, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 0);
    /* another caller has a bucket of its own; a batch larger than the burst is the burst */
    assert_int_equal(store_rate_take(second, "key:b", 1, 5, 9, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 5);
    /* a trim keeps the buckets in use */
    assert_int_equal(store_rate_trim(second, 3600 * 1000, &d), ERR_OK);
    assert_int_equal(store_rate_take(second, "key:a", 1, 5, 1, &taken, &wait, &d), ERR_OK);
    assert_int_equal(taken, 0);
    store_close(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_modify_write_loses_nothing, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_audit_appends_make_one_chain, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rate_bucket_is_shared, fixture_setup_file,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
