/* test_azure_throttle.c: the client-side throttle bucket shared by several threads, against an
 * in-process model of ARM's bucket that is tighter than the client's own limits (so the client
 * learns of it only from remaining counts and 429s). Like azsim, the model counts a
 * "violation" when a request arrives before the Retry-After of a 429 it gave has passed: with
 * four threads there must be none, and only one request (the probe) may go after a 429. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"

#define THREADS 4
#define PER_THREAD 12
/* Network time each way: what lets a request leave before the 429 to another is known. */
#define LATENCY_MS 3

/* The server's bucket: burst 2, 20 per second, Retry-After in ms. */
struct server {
    pthread_mutex_t mu;
    double tokens;
    int64_t last_ms;
    int64_t throttled_until_ms; /* of the last 429 */
    int inflight;
    int max_inflight_while_throttled; /* requests at the server at once after a 429 */
    int ok;
    int n429;
    int violations;
};

static struct server S;
static struct azure_throttle *T;

/* One request arriving at the server: the answer it gets. */
static void server_call(struct azure_throttle_answer *a)
{
    int64_t now = clock_mono_ms();
    bool after_429;

    pthread_mutex_lock(&S.mu);
    S.tokens += (double)(now - S.last_ms) * 20.0 / 1000.0;
    if (S.tokens > 2)
        S.tokens = 2;
    S.last_ms = now;
    if (now < S.throttled_until_ms)
        S.violations++;
    after_429 = S.n429 > 0;
    S.inflight++;
    if (after_429 && S.inflight > S.max_inflight_while_throttled)
        S.max_inflight_while_throttled = S.inflight;
    for (int k = 0; k < AZURE_OP_KINDS; k++)
        a->remaining[k] = -1;
    if (S.tokens >= 1.0) {
        S.tokens -= 1.0;
        S.ok++;
        a->status = 200;
        a->remaining[AZURE_OP_WRITE] = (long)S.tokens;
    } else {
        int64_t wait = (int64_t)ceil((1.0 - S.tokens) * 1000.0 / 20.0);

        S.n429++;
        S.throttled_until_ms = now + wait;
        a->status = 429;
        a->blocked_until_ms = now + wait;
    }
    pthread_mutex_unlock(&S.mu);
}

static void server_leave(void)
{
    pthread_mutex_lock(&S.mu);
    S.inflight--;
    pthread_mutex_unlock(&S.mu);
}

static pthread_barrier_t START;

static void *worker(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&START); /* all at once */
    for (int i = 0; i < PER_THREAD;) {
        struct azure_throttle_answer a = {0};
        uint64_t ticket = 0;

        if (azure_throttle_acquire(T, "Sub-1", AZURE_OP_WRITE, clock_mono_ms() + 60000, &ticket) !=
            ERR_OK)
            return (void *)1;
        clock_sleep_ms(LATENCY_MS); /* on the way there */
        server_call(&a);
        server_leave();
        clock_sleep_ms(LATENCY_MS); /* and back */
        azure_throttle_done(T, "sub-1", AZURE_OP_WRITE, ticket, &a);
        if (a.status == 200)
            i++;
    }
    return NULL;
}

static void test_threads_never_send_into_a_throttled_bucket(void **state)
{
    /* the client believes in ARM's default write limits, far above the server's */
    struct azure_throttle_limits lim = {
        .capacity = {250, 200, 200}, .rate = {25, 100, 10}, .margin_ms = 5};
    pthread_t th[THREADS];

    (void)state;
    memset(&S, 0, sizeof(S));
    pthread_mutex_init(&S.mu, NULL);
    S.tokens = 2;
    S.last_ms = clock_mono_ms();
    T = azure_throttle_new(&lim);
    pthread_barrier_init(&START, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        void *rv = NULL;

        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    print_message("%d writes, %d 429s, %d violations\n", S.ok, S.n429, S.violations);
    assert_int_equal(S.ok, THREADS * PER_THREAD);
    assert_true(S.n429 > 0); /* the server's limit did bite */
    assert_int_equal(S.violations, 0);
    /* after the first 429, requests reached the server one at a time or within its count */
    assert_true(S.max_inflight_while_throttled <= 2);
    azure_throttle_free(T);
    pthread_barrier_destroy(&START);
    pthread_mutex_destroy(&S.mu);
}

/* After a 429 and its Retry-After, one caller probes; the others wait for its answer. */
static void test_one_probe_after_429(void **state)
{
    struct azure_throttle_limits lim = {.capacity = {100, 100, 100}, .rate = {100, 100, 100}};
    struct azure_throttle *t = azure_throttle_new(&lim);
    int64_t now = clock_mono_ms();
    struct azure_throttle_answer a429 = {.status = 429, .remaining = {-1, -1, -1}};
    struct azure_throttle_answer ok = {.status = 200, .remaining = {-1, -1, -1}};
    uint64_t k1 = 0;
    uint64_t k2 = 0;
    uint64_t probe = 0;

    (void)state;
    /* the first request to a bucket goes alone: the second waits for its answer */
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, now, &k1), 0);
    assert_true(azure_throttle_try(t, "s", AZURE_OP_WRITE, now, NULL) > 0);
    ok.remaining[AZURE_OP_WRITE] = 50;
    azure_throttle_done(t, "s", AZURE_OP_WRITE, k1, &ok);
    /* then two at once, within the server's count */
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, now, &k1), 0);
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, now, &k2), 0);
    a429.blocked_until_ms = now + 1000;
    azure_throttle_done(t, "s", AZURE_OP_WRITE, k1, &a429);
    /* shut for everyone, without refilling meanwhile */
    assert_true(azure_throttle_try(t, "s", AZURE_OP_WRITE, now + 999, NULL) > 0);
    assert_true(azure_throttle_tokens(t, "s", AZURE_OP_WRITE, now + 999) == 0.0);
    /* the request still in flight from before is answered (no count): the probe may go */
    azure_throttle_done(t, "s", AZURE_OP_WRITE, k2, NULL);
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, now + 1001, &probe), 0);
    /* ...alone: nobody else until it is answered, though time passes */
    assert_true(azure_throttle_try(t, "s", AZURE_OP_WRITE, now + 5000, NULL) > 0);
    assert_true(azure_throttle_try(t, "s", AZURE_OP_WRITE, now + 60000, NULL) > 0);
    /* other kinds and keys are not held back */
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_READ, now + 1001, NULL), 0);
    assert_int_equal(azure_throttle_try(t, "other", AZURE_OP_WRITE, now + 1001, NULL), 0);
    /* the probe got through with 7 left: the bucket opens to that count */
    ok.remaining[AZURE_OP_WRITE] = 7;
    azure_throttle_done(t, "s", AZURE_OP_WRITE, probe, &ok);
    assert_true(azure_throttle_tokens(t, "s", AZURE_OP_WRITE, clock_mono_ms()) <= 7.0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, clock_mono_ms() + 60000, &k1),
                         0);
    /* the count is used up with 7 in flight: an eighth would go beyond it, so it waits */
    assert_true(azure_throttle_try(t, "s", AZURE_OP_WRITE, clock_mono_ms() + 60000, NULL) > 0);
    /* the newest answer carries no count: the client's own bucket governs again */
    ok.remaining[AZURE_OP_WRITE] = -1;
    azure_throttle_done(t, "s", AZURE_OP_WRITE, k1, &ok);
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, clock_mono_ms() + 120000, NULL), 0);
    azure_throttle_free(t);
}

/* A probe that fails in transport tells nothing: the next caller probes. */
static void test_probe_lost_in_transport(void **state)
{
    struct azure_throttle_limits lim = {.capacity = {10, 10, 10}, .rate = {10, 10, 10}};
    struct azure_throttle *t = azure_throttle_new(&lim);
    int64_t now = clock_mono_ms();
    struct azure_throttle_answer lost = {.status = 0, .remaining = {-1, -1, -1}};
    uint64_t probe = 0;

    (void)state;
    azure_throttle_block(t, "s", AZURE_OP_DELETE, now + 100); /* (a new bucket probes anyway) */
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_DELETE, now + 200, &probe), 0);
    assert_true(azure_throttle_try(t, "s", AZURE_OP_DELETE, now + 200, NULL) > 0);
    azure_throttle_done(t, "s", AZURE_OP_DELETE, probe, &lost);
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_DELETE, now + 200, &probe), 0);
    assert_true(azure_throttle_try(t, "s", AZURE_OP_DELETE, now + 200, NULL) > 0);
    azure_throttle_free(t);
}

/* A 10-token bucket (1 a second) for key "s" whose first, probing write was let out and
 * answered, so the next ones take tokens. */
static struct azure_throttle *opened_bucket(int64_t now)
{
    struct azure_throttle_limits lim = {.capacity = {10, 10, 10}, .rate = {1, 1, 1}};
    struct azure_throttle *t = azure_throttle_new(&lim);
    struct azure_throttle_answer ok = {.status = 200, .remaining = {-1, -1, -1}};
    uint64_t tk = 0;

    assert_int_equal(azure_throttle_try_yielding(t, "s", AZURE_OP_WRITE, now, &tk), 0);
    azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    return t;
}

/* Role-assignment PUTs yield (azure_throttle_try_yielding): with tokens plentiful they go at
 * once; after a run of VM writes they stand back while the bucket holds no more than those
 * writes may need again, and VM writes still go; once that demand has decayed they go. */
static void test_yielding_writes_stand_back(void **state)
{
    struct azure_throttle_answer ok = {.status = 200, .remaining = {-1, -1, -1}};
    int64_t now = clock_mono_ms();
    struct azure_throttle *t = opened_bucket(now);
    uint64_t tk = 0;

    (void)state;
    assert_int_equal(azure_throttle_try_yielding(t, "s", AZURE_OP_WRITE, now, &tk), 0);
    azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    /* six VM writes leave about 2 tokens: fewer than their follow-ups may need */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(azure_throttle_acquire(t, "s", AZURE_OP_WRITE, now + 1000, &tk), ERR_OK);
        azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    }
    now = clock_mono_ms();
    assert_true(azure_throttle_try_yielding(t, "s", AZURE_OP_WRITE, now, NULL) > 0);
    assert_int_equal(azure_throttle_acquire(t, "s", AZURE_OP_WRITE, now + 1000, &tk), ERR_OK);
    azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    /* other buckets (another subscription) are not held back */
    assert_int_equal(azure_throttle_try_yielding(t, "other", AZURE_OP_WRITE, now, &tk), 0);
    azure_throttle_done(t, "other", AZURE_OP_WRITE, tk, &ok);
    /* a minute on, the bucket has refilled and the demand has decayed */
    assert_int_equal(azure_throttle_try_yielding(t, "s", AZURE_OP_WRITE, now + 61000, &tk), 0);
    azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    azure_throttle_free(t);
}

/* A rollout about to start (azure_throttle_expect): before any VM write has gone, yielding
 * writes leave it the whole bucket until the expectation ends; VM writes are not held. */
static void test_yielding_writes_leave_an_expected_rollout_the_bucket(void **state)
{
    struct azure_throttle_answer ok = {.status = 200, .remaining = {-1, -1, -1}};
    int64_t now = clock_mono_ms();
    struct azure_throttle *t = opened_bucket(now);
    uint64_t tk = 0;

    (void)state;
    azure_throttle_expect(t, "S", AZURE_OP_WRITE, now + 5000); /* keys ignore case */
    assert_true(azure_throttle_try_yielding(t, "s", AZURE_OP_WRITE, now, NULL) > 0);
    assert_int_equal(azure_throttle_acquire(t, "s", AZURE_OP_WRITE, now + 1000, &tk), ERR_OK);
    azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    /* the other subscription's grants go */
    assert_int_equal(azure_throttle_try_yielding(t, "other", AZURE_OP_WRITE, now, &tk), 0);
    azure_throttle_done(t, "other", AZURE_OP_WRITE, tk, &ok);
    /* past the expectation, with the bucket refilled and the one write's demand decayed */
    assert_int_equal(azure_throttle_try_yielding(t, "s", AZURE_OP_WRITE, now + 120000, &tk), 0);
    azure_throttle_done(t, "s", AZURE_OP_WRITE, tk, &ok);
    azure_throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_never_send_into_a_throttled_bucket),
        cmocka_unit_test(test_one_probe_after_429),
        cmocka_unit_test(test_probe_lost_in_transport),
        cmocka_unit_test(test_yielding_writes_stand_back),
        cmocka_unit_test(test_yielding_writes_leave_an_expected_rollout_the_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
