/* test_reconcile_sweep.c: the grant sweep on the fake cloud: which login-role assignments it
 * deletes (orphans; externals under an authoritative scope), which it keeps (soft-deleted
 * principals, dry runs, anything when Graph fails), and the report it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_reconcile_env.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/reconcile_grant.h"
#include "vmlogind/store_grants.h"

#define SUB "66666666-6666-6666-6666-666666666666"
#define SCOPE "/subscriptions/" SUB
#define GONE "bbbbbbbb-0000-0000-0000-00000000000b"  /* deleted for good */
#define SOFT "cccccccc-0000-0000-0000-00000000000c"  /* soft-deleted */
#define ALICE "aaaaaaaa-0000-0000-0000-000000000001" /* lives, no grant */

static void directory(struct renv *e)
{
    cloud_fake_add_sub(e->cloud, SUB);
    cloud_fake_add_principal(e->cloud, SOFT, "user", "soft@example.com")->soft_deleted = true;
    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    cloud_fake_add_ra(e->cloud, SCOPE, "10000000-0000-0000-0000-000000000001",
                      MODEL_GRANT_ROLE_USER_GUID, GONE, "User");
    cloud_fake_add_ra(e->cloud, SCOPE, "10000000-0000-0000-0000-000000000002",
                      MODEL_GRANT_ROLE_ADMIN_GUID, SOFT, "User");
    cloud_fake_add_ra(e->cloud, SCOPE, "10000000-0000-0000-0000-000000000003",
                      MODEL_GRANT_ROLE_USER_GUID, ALICE, "User");
    /* Owner: never a login role, never swept */
    cloud_fake_add_ra(e->cloud, SCOPE, "10000000-0000-0000-0000-000000000004",
                      "8e3af657-a8ff-443e-a75f-2fe8c4bcb635", GONE, "User");
}

static bool has_ra(struct renv *e, const char *principal, const char *role)
{
    for (size_t i = 0; i < e->cloud->n_ras; i++)
        if (strcmp(e->cloud->ras[i].principal, principal) == 0 &&
            strcmp(e->cloud->ras[i].role_guid, role) == 0)
            return true;
    return false;
}

/* Runs sweep id over SCOPE; returns its operation (clear it). */
static struct store_operation sweep(struct renv *e, const char *id, bool dry_run)
{
    struct store_operation op = {.id = (char *)id,
                                 .kind = (char *)"loginGrant.sweep",
                                 .target = (char *)SCOPE,
                                 .status = (char *)"NotStarted"};
    char payload[160];

    assert_int_equal(store_operation_create(e->st, &op, clock_now_ms(), NULL), ERR_OK);
    snprintf(payload, sizeof(payload), "{\"scope\":\"%s\",\"dryRun\":%s}", SCOPE,
             dry_run ? "true" : "false");
    assert_int_equal(renv_run(e, reconcile_grant_sweep, "grant_sweep", id, payload).outcome,
                     RECONCILE_DONE);
    op = (struct store_operation){0};
    assert_int_equal(store_operation_get(e->st, id, &op, NULL), ERR_OK);
    return op;
}

static void test_sweep_deletes_orphans_and_keeps_the_rest(void **state)
{
    struct renv *e = *state;
    struct store_operation op;

    directory(e);
    op = sweep(e, "sw1", false);
    assert_string_equal(op.status, "Succeeded");
    assert_false(has_ra(e, GONE, MODEL_GRANT_ROLE_USER_GUID));            /* orphan: removed */
    assert_true(has_ra(e, SOFT, MODEL_GRANT_ROLE_ADMIN_GUID));            /* soft-deleted: kept */
    assert_true(has_ra(e, ALICE, MODEL_GRANT_ROLE_USER_GUID));            /* external, no policy */
    assert_true(has_ra(e, GONE, "8e3af657-a8ff-443e-a75f-2fe8c4bcb635")); /* not login */
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_delete"), 1);
    assert_non_null(strstr(op.steps, "\"orphans\":1"));
    assert_non_null(strstr(op.steps, "\"softDeleted\":1"));
    assert_non_null(strstr(op.steps, "\"removed\":1"));
    store_operation_clear(&op);
}

static void test_sweep_dry_run_deletes_nothing(void **state)
{
    struct renv *e = *state;
    struct store_operation op;

    directory(e);
    op = sweep(e, "sw1", true);
    assert_string_equal(op.status, "Succeeded");
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_delete"), 0);
    assert_int_equal(e->cloud->n_ras, 4);
    assert_non_null(strstr(op.steps, "\"wouldRemove\":1"));
    store_operation_clear(&op);
}

static void test_sweep_graph_failure_deletes_nothing(void **state)
{
    struct renv *e = *state;
    struct store_operation op;

    directory(e);
    cloud_fake_fail(e->cloud, "deleted_item_get", 503, "ServiceUnavailable", -1);
    op = sweep(e, "sw1", false);
    assert_string_equal(op.status, "Failed");
    assert_string_equal(op.error_code, "graph_error");
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_delete"), 0);
    assert_int_equal(e->cloud->n_ras, 4);
    store_operation_clear(&op);
}

static void test_sweep_removes_externals_under_an_authoritative_scope(void **state)
{
    struct renv *e = *state;
    struct store_operation op;

    directory(e);
    assert_int_equal(
        store_login_policy_put(e->st, SCOPE, true, false, "unit", clock_now_ms(), NULL, NULL),
        ERR_OK);
    op = sweep(e, "sw1", false);
    assert_string_equal(op.status, "Succeeded");
    assert_false(has_ra(e, ALICE, MODEL_GRANT_ROLE_USER_GUID)); /* external: removed */
    assert_true(has_ra(e, SOFT, MODEL_GRANT_ROLE_ADMIN_GUID));  /* soft-deleted: kept */
    assert_non_null(strstr(op.steps, "\"external\":1"));
    store_operation_clear(&op);
}

static void test_sweep_failed_delete_is_reported(void **state)
{
    struct renv *e = *state;
    struct store_operation op;

    directory(e);
    cloud_fake_fail(e->cloud, "role_assignment_delete", 403, "AuthorizationFailed", -1);
    op = sweep(e, "sw1", false);
    assert_string_equal(op.status, "PartiallySucceeded");
    assert_non_null(strstr(op.steps, "403 AuthorizationFailed"));
    assert_true(has_ra(e, GONE, MODEL_GRANT_ROLE_USER_GUID));
    store_operation_clear(&op);
}

static void test_sweep_fails_the_grant_of_a_deleted_principal(void **state)
{
    struct renv *e = *state;
    struct store_operation op;
    struct model_scope sc;
    struct store_grant g = {0};
    char name[UUID_STR_LEN];

    cloud_fake_add_sub(e->cloud, SUB);
    assert_true(model_scope_parse(SCOPE, &sc, NULL, "scope"));
    model_grant_assignment_name(sc.key, MODEL_GRANT_ROLE_USER, GONE, name);
    g = (struct store_grant){.id = (char *)"g1",
                             .scope = (char *)SCOPE,
                             .scope_key = sc.key,
                             .role = (char *)"user",
                             .principal_id = (char *)GONE,
                             .principal_type = (char *)"User",
                             .assignment_name = name,
                             .created_by = (char *)"unit"};
    assert_int_equal(store_grant_insert(e->st, &g, clock_now_ms(), NULL), ERR_OK);
    cloud_fake_add_ra(e->cloud, SCOPE, name, MODEL_GRANT_ROLE_USER_GUID, GONE, "User");
    op = sweep(e, "sw1", false);
    assert_string_equal(op.status, "Succeeded");
    assert_int_equal(e->cloud->n_ras, 0);
    store_operation_clear(&op);
    g = (struct store_grant){0};
    assert_int_equal(store_grant_get(e->st, "g1", &g, NULL), ERR_OK);
    assert_string_equal(g.state, "failed");
    assert_string_equal(g.last_error_code, "principal_deleted");
    store_grant_clear(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sweep_deletes_orphans_and_keeps_the_rest, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_dry_run_deletes_nothing, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_graph_failure_deletes_nothing, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_removes_externals_under_an_authoritative_scope,
                                        renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_failed_delete_is_reported, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_fails_the_grant_of_a_deleted_principal,
                                        renv_setup, renv_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
