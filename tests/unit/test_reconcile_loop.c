/* The reconciler loop: due tasks run once per upsert, AGAIN reschedules, FAILED leaves the task
 * dead, wake-ups cut the idle wait, and stop returns promptly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmlogind/buf.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile.h"

static _Atomic int done_runs, again_runs, fail_runs;

static void k_done(const struct reconcile_env *env, const struct store_task *t,
                   struct reconcile_result *res)
{
    (void)env;
    (void)t;
    atomic_fetch_add(&done_runs, 1);
    reconcile_done(res);
}

static void k_again(const struct reconcile_env *env, const struct store_task *t,
                    struct reconcile_result *res)
{
    (void)env;
    if (atomic_fetch_add(&again_runs, 1) < 2)
        reconcile_again(res, 1, "not yet (attempt %d)", t->attempts);
    else
        reconcile_done(res);
}

static void k_fail(const struct reconcile_env *env, const struct store_task *t,
                   struct reconcile_result *res)
{
    (void)env;
    (void)t;
    atomic_fetch_add(&fail_runs, 1);
    reconcile_failed(res, "cannot be fixed by retrying");
}

static const struct reconcile_kind kinds[] = {
    {.kind = "done", .fn = k_done},
    {.kind = "again", .fn = k_again},
    {.kind = "fail", .fn = k_fail},
};

static bool wait_for(_Atomic int *v, int want)
{
    int64_t deadline = clock_mono_ms() + 60000; /* generous: this runs under valgrind too */
    while (clock_mono_ms() < deadline) {
        if (atomic_load(v) >= want)
            return true;
        clock_sleep_ms(5);
    }
    return false;
}

/* Polls until the task reaches want; t holds the last read either way. */
static bool wait_for_state(struct store *st, const char *kind, const char *key,
                           enum store_task_state want, struct store_task *t)
{
    int64_t deadline = clock_mono_ms() + 60000;
    struct err_detail d;

    for (;;) {
        store_task_clear(t);
        assert_int_equal(store_task_get(st, kind, key, t, &d), ERR_OK);
        if (t->state == want)
            return true;
        if (clock_mono_ms() >= deadline)
            return false;
        clock_sleep_ms(5);
    }
}

static void test_loop(void **state)
{
    struct store *st = NULL;
    struct reconciler *r = NULL;
    struct config cfg;
    struct err_detail d;
    struct store_task t = {0};
    int64_t t0;
    (void)state;

    config_defaults(&cfg);
    cfg.reconcile_tick_ms = 10000; /* only wake-ups make it look early */
    assert_int_equal(store_open(":memory:", &st, &d), ERR_OK);
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    assert_int_equal(reconciler_start(st, NULL, &cfg, kinds, 3, 2, &r, &d), ERR_OK);

    assert_int_equal(store_task_upsert(st, "done", "a", clock_now_ms(), NULL, clock_now_ms(), &d),
                     ERR_OK);
    reconciler_wake(r);
    assert_true(wait_for(&done_runs, 1));

    assert_int_equal(store_task_upsert(st, "again", "b", clock_now_ms(), NULL, clock_now_ms(), &d),
                     ERR_OK);
    assert_int_equal(store_task_upsert(st, "fail", "c", clock_now_ms(), NULL, clock_now_ms(), &d),
                     ERR_OK);
    reconciler_wake(r);
    assert_true(wait_for(&fail_runs, 1));
    /* "again" reschedules itself 1 ms later; the 10 s tick would be too slow, so the loop
     * must look again at once after a run instead of idling */
    assert_true(wait_for(&again_runs, 3));

    /* the kind ran; the loop records its verdict just after: poll for it */
    assert_true(wait_for_state(st, "fail", "c", STORE_TASK_DEAD, &t));
    assert_string_equal(t.last_error, "cannot be fixed by retrying");
    store_task_clear(&t);

    t0 = clock_mono_ms();
    reconciler_stop(r);
    assert_true(clock_mono_ms() - t0 < 2000);
    assert_int_equal(atomic_load(&done_runs), 1);
    store_close(st);
}

/* A task leased for an hour by owner (a process of this host before this one) runs at once
 * after the reconciler starts. */
static void predecessor_lease_recovered(const char *owner)
{
    struct store *st = NULL;
    struct reconciler *r = NULL;
    struct config cfg;
    struct err_detail d;
    struct store_task t = {0};
    char path[] = "/tmp/vmlogind-rec-XXXXXX";
    int before = atomic_load(&done_runs);
    int fd;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    config_defaults(&cfg);
    assert_int_equal(store_open(path, &st, &d), ERR_OK);
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    assert_int_equal(store_task_upsert(st, "done", "z", clock_now_ms(), NULL, clock_now_ms(), &d),
                     ERR_OK);
    assert_int_equal(store_task_lease(st, "done", owner, clock_now_ms(), 3600 * 1000, &t, &d),
                     ERR_OK);
    store_task_clear(&t);
    assert_int_equal(reconciler_start(st, NULL, &cfg, kinds, 3, 1, &r, &d), ERR_OK);
    assert_true(wait_for(&done_runs, before + 1));
    reconciler_stop(r);
    store_close(st);
    unlink(path);
}

/* A task leased by a process of this host that no longer exists (SIGKILL) runs at once after a
 * restart, not after its hour-long lease. */
static void test_dead_predecessor_lease(void **state)
{
    char host[64] = "host", owner[128];
    (void)state;

    gethostname(host, sizeof(host) - 1);
    snprintf(owner, sizeof(owner), "%s/4194304/0a1b2c3d/w0", host); /* above pid_max */
    predecessor_lease_recovered(owner);
}

/* The same when the process before had this process's pid, as a container's PID 1 started
 * again after a kill does: another run token (or none, as owners had before them) is not this
 * process, though its pid is. */
static void test_same_pid_predecessor_lease(void **state)
{
    char host[64] = "host", owner[128];
    (void)state;

    gethostname(host, sizeof(host) - 1);
    snprintf(owner, sizeof(owner), "%s/%d/0a1b2c3d/w0", host, (int)getpid());
    predecessor_lease_recovered(owner);
    snprintf(owner, sizeof(owner), "%s/%d/w0", host, (int)getpid());
    predecessor_lease_recovered(owner);
}

/* The targeted wake: the order in which one worker runs "order" tasks. */
static char ran[16][8];
static _Atomic int nran;
static _Atomic bool held = true;

static void k_order(const struct reconcile_env *env, const struct store_task *t,
                    struct reconcile_result *res)
{
    int i = atomic_load(&nran);
    int64_t deadline = clock_mono_ms() + 60000;

    (void)env;
    if (i < 16)
        snprintf(ran[i], sizeof(ran[i]), "%s", t->key);
    atomic_store(&nran, i + 1);
    while (i == 0 && atomic_load(&held) && clock_mono_ms() < deadline)
        clock_sleep_ms(2); /* the first run waits until the test has queued the write */
    reconcile_done(res);
}

/* A task a write touched runs before an older backlog of due tasks (the worker is busy when the
 * write lands; in due order it would run last). */
static void test_targeted_wake(void **state)
{
    static const struct reconcile_kind order_kinds[] = {{.kind = "order", .fn = k_order}};
    struct store *st = NULL;
    struct reconciler *r = NULL;
    struct config cfg;
    struct err_detail d;
    struct buf m;
    int64_t now = clock_now_ms();
    (void)state;

    buf_init(&m, 1 << 16);
    config_defaults(&cfg);
    assert_int_equal(store_open(":memory:", &st, &d), ERR_OK);
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    for (int i = 0; i < 10; i++) {
        char key[8];
        snprintf(key, sizeof(key), "b%d", i);
        assert_int_equal(store_task_upsert(st, "order", key, now - 1000 + i, NULL, now, &d),
                         ERR_OK);
    }
    assert_int_equal(reconciler_start(st, NULL, &cfg, order_kinds, 1, 1, &r, &d), ERR_OK);
    assert_true(wait_for(&nran, 1));
    assert_int_equal(
        store_task_upsert(st, "order", "hot", clock_now_ms(), NULL, clock_now_ms(), &d), ERR_OK);
    reconciler_wake_task(r, "order", "hot");
    reconciler_wake_task(r, "order", "gone"); /* no such task: skipped, nothing stalls */
    atomic_store(&held, false);
    assert_true(wait_for(&nran, 11));
    assert_string_equal(ran[0], "b0");
    assert_string_equal(ran[1], "hot");
    assert_string_equal(ran[10], "b9");
    assert_int_equal(reconciler_metrics(r, &m), ERR_OK);
    assert_non_null(strstr(m.data, "vmlogind_reconcile_targeted_runs_total 1\n"));
    buf_cleanup(&m);
    reconciler_stop(r);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop), cmocka_unit_test(test_dead_predecessor_lease),
        cmocka_unit_test(test_same_pid_predecessor_lease), cmocka_unit_test(test_targeted_wake)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
