/* test_reconcile_grant.c: the grant handler on the fake cloud: what it does to the role
 * assignments and what it records on the grant, for creation, adoption on 409, expiry,
 * revocation, refusals and throttling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_reconcile_env.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/reconcile_grant.h"
#include "vmlogind/store_grants.h"

#define SUB "11111111-1111-1111-1111-111111111111"
#define SCOPE "/subscriptions/" SUB "/resourceGroups/rg1"
#define ALICE "aaaaaaaa-0000-0000-0000-000000000001"

/* Inserts a pending User grant for principal (by id) at SCOPE; expires_at 0 = never. */
static void add_grant(struct renv *e, const char *id, const char *principal, int64_t expires_at)
{
    struct model_scope sc;
    char name[UUID_STR_LEN];
    struct store_grant g = {
        .id = (char *)id,
        .scope = (char *)SCOPE,
        .role = (char *)"user",
        .principal_id = (char *)principal,
        .principal_type = (char *)"User",
        .expires_at = expires_at,
        .assignment_name = name,
        .created_by = (char *)"unit",
    };
    struct err_detail d;

    assert_true(model_scope_parse(SCOPE, &sc, NULL, "scope"));
    model_grant_assignment_name(sc.key, MODEL_GRANT_ROLE_USER, principal, name);
    g.scope_key = sc.key;
    assert_int_equal(store_grant_insert(e->st, &g, clock_now_ms() - 60000, &d), ERR_OK);
}

static void set_state(struct renv *e, const char *id, const char *state)
{
    struct store_grant g = {0};
    struct store_grant_update u = {.state = state};

    assert_int_equal(store_grant_get(e->st, id, &g, NULL), ERR_OK);
    assert_int_equal(store_grant_update(e->st, id, g.generation, &u, clock_now_ms(), NULL), ERR_OK);
    store_grant_clear(&g);
}

/* The grant's state (and error code, "" for none) after the handler ran. */
static void expect_grant(struct renv *e, const char *id, const char *state, const char *code)
{
    struct store_grant g = {0};

    assert_int_equal(store_grant_get(e->st, id, &g, NULL), ERR_OK);
    assert_string_equal(g.state, state);
    assert_string_equal(g.last_error_code ? g.last_error_code : "", code);
    store_grant_clear(&g);
}

static struct reconcile_result run(struct renv *e, const char *id)
{
    return renv_run(e, reconcile_grant, "grant", id, NULL);
}

static void test_grant_creates_exactly_one_assignment(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, 0);
    res = run(e, "g1");
    assert_int_equal(res.outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "active", "");
    assert_int_equal(e->cloud->n_ras, 1);
    assert_string_equal(e->cloud->ras[0].principal, ALICE);
    assert_string_equal(e->cloud->ras[0].role_guid, MODEL_GRANT_ROLE_USER_GUID);
    assert_string_equal(e->cloud->ras[0].scope, SCOPE);
    /* converged: the next run only reads it */
    res = run(e, "g1");
    assert_int_equal(res.outcome, RECONCILE_DONE);
    assert_int_equal(e->cloud->n_ras, 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_put"), 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_get"), 1);
}

static void test_grant_conflict_409_adopts_the_existing_assignment(void **state)
{
    struct renv *e = *state;
    struct store_grant g = {0};

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    cloud_fake_add_ra(e->cloud, SCOPE, "99999999-9999-9999-9999-999999999999",
                      MODEL_GRANT_ROLE_USER_GUID, ALICE, "User");
    add_grant(e, "g1", ALICE, 0);
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "active", "");
    assert_int_equal(e->cloud->n_ras, 1); /* adopted, not duplicated */
    assert_int_equal(store_grant_get(e->st, "g1", &g, NULL), ERR_OK);
    assert_non_null(strstr(g.assignment_id, "99999999-9999-9999-9999-999999999999"));
    store_grant_clear(&g);
}

static void test_grant_expired_assignment_is_deleted(void **state)
{
    struct renv *e = *state;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, clock_now_ms() + 3600000);
    assert_int_equal(run(e, "g1").outcome, RECONCILE_AGAIN); /* active, again at expiry */
    assert_int_equal(e->cloud->n_ras, 1);
    /* the expiry passes */
    {
        struct store_grant g = {0};
        struct store_grant_update u = {.expires_at = clock_now_ms() - 1};
        assert_int_equal(store_grant_get(e->st, "g1", &g, NULL), ERR_OK);
        assert_int_equal(store_grant_update(e->st, "g1", g.generation, &u, clock_now_ms(), NULL),
                         ERR_OK);
        store_grant_clear(&g);
    }
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "expired", "");
    assert_int_equal(e->cloud->n_ras, 0);
}

static void test_grant_revocation_deletes_and_a_missing_assignment_is_done(void **state)
{
    struct renv *e = *state;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, 0);
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    set_state(e, "g1", "revoking");
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "revoked", "");
    assert_int_equal(e->cloud->n_ras, 0);
    /* deleted by hand before the revocation ran: 404 means done */
    add_grant(e, "g2", ALICE, 0);
    assert_int_equal(run(e, "g2").outcome, RECONCILE_DONE);
    e->cloud->n_ras = 0;
    set_state(e, "g2", "revoking");
    cloud_fake_fail(e->cloud, "role_assignment_delete", 404, "RoleAssignmentNotFound", 1);
    assert_int_equal(run(e, "g2").outcome, RECONCILE_DONE);
    expect_grant(e, "g2", "revoked", "");
}

static void test_grant_deleted_by_hand_is_created_again(void **state)
{
    struct renv *e = *state;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, 0);
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    e->cloud->n_ras = 0; /* someone removed it in the portal */
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    assert_int_equal(e->cloud->n_ras, 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_put"), 2);
}

static void test_grant_refusal_is_recorded_with_its_diagnosis(void **state)
{
    struct renv *e = *state;
    struct store_grant g = {0};
    struct reconcile_result res;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, 0);
    cloud_fake_fail(e->cloud, "role_assignment_put", 403, "AuthorizationFailed", -1);
    res = run(e, "g1");
    assert_int_equal(res.outcome, RECONCILE_DONE); /* not retried: a person must fix it */
    expect_grant(e, "g1", "failed", MODEL_CAUSE_AUTHORIZATION);
    assert_int_equal(store_grant_get(e->st, "g1", &g, NULL), ERR_OK);
    /* the diagnosis names the call Azure refused, for a support case */
    assert_non_null(strstr(g.last_error_message, "fake-request"));
    /* and what to fix: the action Azure named, at its scope */
    assert_non_null(strstr(g.last_error_message, "Microsoft.Fake/role_assignment_put/action"));
    store_grant_clear(&g);
    assert_int_equal(e->cloud->n_ras, 0);
}

static void test_grant_throttled_runs_again_without_changing_state(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, 0);
    cloud_fake_fail(e->cloud, "role_assignment_put", 429, "TooManyRequests", 1);
    res = run(e, "g1");
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    assert_true(res.delay_ms > 0);
    expect_grant(e, "g1", "pending", "");
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "active", "");
}

static size_t audit_rows(struct renv *e)
{
    struct store_audit_entry *list = NULL;
    size_t n = 0;

    assert_int_equal(store_audit_list(e->st, 0, 1000, &list, &n, NULL), ERR_OK);
    store_audit_list_free(list, n);
    return n;
}

/* While the subscription's write tokens are kept for a VM rollout, a grant waits before it
 * looks the user up, audits its PUT or sends it; then it goes as usual. */
static void test_grant_stands_back_for_a_rollout(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;
    size_t rows;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    add_grant(e, "g1", ALICE, 0);
    rows = audit_rows(e);
    e->cloud->stand_back_ms = 700;
    res = run(e, "g1");
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    assert_int_equal(res.delay_ms, 700);
    assert_int_equal(cloud_fake_calls(e->cloud, "user_get"), 0);
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_put"), 0);
    assert_int_equal(audit_rows(e), rows);
    expect_grant(e, "g1", "pending", "");
    e->cloud->stand_back_ms = 0;
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    assert_int_equal(cloud_fake_calls(e->cloud, "user_get"), 1);
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_put"), 1);
    expect_grant(e, "g1", "active", "");
}

static void test_grant_guest_and_unknown_users_are_refused(void **state)
{
    struct renv *e = *state;

    cloud_fake_add_principal(e->cloud, ALICE, "user", "alice@example.com");
    snprintf(e->cloud->ps[0].user_type, sizeof(e->cloud->ps[0].user_type), "Guest");
    add_grant(e, "g1", ALICE, 0);
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "failed", "guest_principal");
    assert_int_equal(cloud_fake_calls(e->cloud, "role_assignment_put"), 0);
}

static void test_grant_principal_not_found_waits_then_fails(void **state)
{
    struct renv *e = *state;
    struct reconcile_result res;

    add_grant(e, "g1", ALICE, 0); /* Graph does not know ALICE yet */
    res = run(e, "g1");
    assert_int_equal(res.outcome, RECONCILE_AGAIN);
    expect_grant(e, "g1", "pending", "PrincipalNotFound");
    e->cfg.principal_not_found_timeout_s = 0; /* the replication window is over */
    assert_int_equal(run(e, "g1").outcome, RECONCILE_DONE);
    expect_grant(e, "g1", "failed", "principal_not_found");
    assert_int_equal(e->cloud->n_ras, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grant_creates_exactly_one_assignment, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_conflict_409_adopts_the_existing_assignment,
                                        renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_expired_assignment_is_deleted, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(
            test_grant_revocation_deletes_and_a_missing_assignment_is_done, renv_setup,
            renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_deleted_by_hand_is_created_again, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_refusal_is_recorded_with_its_diagnosis,
                                        renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_throttled_runs_again_without_changing_state,
                                        renv_setup, renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_stands_back_for_a_rollout, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_guest_and_unknown_users_are_refused, renv_setup,
                                        renv_teardown),
        cmocka_unit_test_setup_teardown(test_grant_principal_not_found_waits_then_fails, renv_setup,
                                        renv_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
