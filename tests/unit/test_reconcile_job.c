/* test_reconcile_job.c: what replicas on PostgreSQL know of each other. Two store handles on
 * one database play two replicas. A task that runs on one replica at a time
 * (reconcile_job_begin): while one holds the task's job, the other's begin reschedules the task
 * instead of running it; once released, the other takes it. Liveness (reconcile_liveness): a
 * dead replica's leases come back at once. On SQLite (one replica) every begin runs and there
 * is no liveness. unit.test_reconcile_job.pg runs it on PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/reconcile.h"

static void test_one_replica_at_a_time(void **state)
{
    struct fixture *f = *state;
    struct store *second = NULL;
    struct store_task sync = {.kind = "sync", .key = "all"}, other = {.kind = "sync", .key = "x"};
    struct reconcile_env a = {0}, b = {0};
    struct reconcile_result res = {0};
    struct reconcile_job *ja = NULL, *jb = NULL, *jo = NULL;

    assert_int_equal(fixture_open_second(f, &second, NULL), ERR_OK);
    a.store = f->st;
    b.store = second;
    assert_true(reconcile_job_begin(&a, &sync, &res, &ja));
    assert_true(reconcile_job_held(ja));
    if (fixture_pg_host() == NULL) {
        assert_null(ja);
        assert_true(reconcile_job_begin(&b, &sync, &res, &jb));
        assert_null(jb);
        store_close(second);
        return;
    }
    assert_non_null(ja);
    /* the other replica: rescheduled, with why */
    assert_false(reconcile_job_begin(&b, &sync, &res, &jb));
    assert_null(jb);
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    assert_true(res.delay_ms > 0);
    assert_non_null(strstr(res.error, "another replica"));
    /* another task is another job */
    assert_true(reconcile_job_begin(&b, &other, &res, &jo));
    reconcile_job_end(jo);
    /* released: the other replica takes it */
    reconcile_job_end(ja);
    assert_true(reconcile_job_begin(&b, &sync, &res, &jb));
    assert_true(reconcile_job_held(jb));
    reconcile_job_end(jb);
    store_close(second);
}

/* A replica's leases go back as soon as it is dead (its liveness lock free), not before: two
 * handles play replicas on two hosts; owners without a "host/pid/run/" prefix are left alone. */
static void test_dead_replica_leases_come_back(void **state)
{
    struct fixture *f = *state;
    struct store *b = NULL;
    struct reconcile_liveness *la, *lb;
    struct store_task t = {0};
    int64_t due = -1;

    if (fixture_pg_host() == NULL) {
        assert_null(reconcile_liveness_new(f->st, "ha/1/r0/"));
        reconcile_liveness_sweep(NULL, 0);
        return;
    }
    assert_int_equal(fixture_open_second(f, &b, NULL), ERR_OK);
    la = reconcile_liveness_new(f->st, "ha/1/r0/");
    lb = reconcile_liveness_new(b, "hb/2/r1/");
    assert_non_null(la);
    assert_non_null(lb);
    assert_int_equal(store_task_upsert(b, "grant", "g1", 1000, NULL, 1000, NULL), ERR_OK);
    assert_int_equal(store_task_upsert(b, "grant", "g2", 1000, NULL, 1000, NULL), ERR_OK);
    assert_int_equal(store_task_lease(b, NULL, "hb/2/r1/w0", 1000, 600000, &t, NULL), ERR_OK);
    store_task_clear(&t);
    assert_int_equal(store_task_lease(b, NULL, "nohost", 1000, 600000, &t, NULL), ERR_OK);
    store_task_clear(&t);
    /* b lives: its lease stands */
    reconcile_liveness_sweep(la, 2000);
    assert_int_equal(store_task_count_due(f->st, 2000, &due, NULL), ERR_OK);
    assert_int_equal(due, 0);
    /* b dies (its session and lock go): a's next sweep gives its lease back, not the other */
    reconcile_liveness_free(lb);
    reconcile_liveness_sweep(la, 3000);
    assert_int_equal(store_task_count_due(f->st, 3000, &due, NULL), ERR_OK);
    assert_int_equal(due, 1);
    reconcile_liveness_free(la);
    store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_replica_at_a_time, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dead_replica_leases_come_back, fixture_setup_file,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
