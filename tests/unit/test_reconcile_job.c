/* test_reconcile_job.c: a task that runs on one replica at a time (reconcile_job_begin). Two
 * store handles on one database play two replicas: while one holds the task's job, the other's
 * begin reschedules the task instead of running it; once released, the other takes it. On
 * SQLite (one replica) every begin runs. unit.test_reconcile_job.pg runs it on PostgreSQL. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_replica_at_a_time, fixture_setup_file,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
