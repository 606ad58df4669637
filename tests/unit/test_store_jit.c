/* test_store_jit.c: just-in-time eligibilities and activations through store_jit.h, on SQLite
 * and (unit.*.pg) on PostgreSQL: an eligibility with its approvers (a JSON array in key order,
 * the same text on both), lists with filters, the eligibilities covering a scope, delete; an
 * activation joined with its grant's state, lists by state, updates conditioned on the
 * generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_jit.h"

#define SCOPE "/subscriptions/s/resourceGroups/RG"

static struct store_eligibility elig(const char *id, const char *scope, const char *principal)
{
    return (struct store_eligibility){.id = (char *)id,
                                      .scope = (char *)scope,
                                      .role = "user",
                                      .principal_id = (char *)principal,
                                      .principal_type = "User",
                                      .max_duration_s = 3600,
                                      .require_approval = true,
                                      .created_by = "me"};
}

static void test_eligibilities(void **state)
{
    struct store *st = ST(state);
    const char *approvers[] = {"B2", "a1", "b2"};
    struct store_eligibility e = elig("e1", SCOPE, "P1"), got = {0}, *list = NULL;
    struct err_detail d = {0};
    char *next = NULL;
    size_t n = 0;

    assert_int_equal(store_eligibility_insert(st, &e, approvers, 3, 10, &d), ERR_OK);
    assert_int_equal(store_eligibility_get(st, "E1", &got, &d), ERR_OK);
    assert_string_equal(got.scope_key, "/subscriptions/s/resourcegroups/rg");
    assert_string_equal(got.principal_id, "p1");
    assert_true(got.require_approval);
    assert_false(got.require_ticket);
    assert_int_equal(got.max_duration_s, 3600);
    assert_int_equal(got.expires_at, 0);
    assert_string_equal(got.approvers, "[\"a1\",\"b2\"]");
    store_eligibility_clear(&got);
    e = elig("e2", "/subscriptions/s", "p2");
    assert_int_equal(store_eligibility_insert(st, &e, NULL, 0, 10, &d), ERR_OK);
    assert_int_equal(store_eligibility_get(st, "e2", &got, &d), ERR_OK);
    assert_string_equal(got.approvers, "[]");
    store_eligibility_clear(&got);
    e = elig("e3", SCOPE, "p3");
    e.principal_type = "Robot";
    assert_int_equal(store_eligibility_insert(st, &e, NULL, 0, 10, &d), ERR_INVALID);

    assert_int_equal(store_eligibility_list(st, NULL, "P1", NULL, 10, &list, &n, &next, &d),
                     ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "e1");
    store_eligibility_list_free(list, n);
    assert_int_equal(store_eligibility_list(st, NULL, NULL, NULL, 1, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 1);
    assert_non_null(next);
    store_eligibility_list_free(list, n);
    free(next);
    assert_int_equal(store_eligibility_covering(st, "/subscriptions/s/resourcegroups/rg/x/vm",
                                                "user", 100, &list, &n, &d),
                     ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "e1"); /* the narrowest scope first */
    assert_string_equal(list[1].id, "e2");
    store_eligibility_list_free(list, n);
    assert_int_equal(store_eligibility_delete(st, "e1", &d), ERR_OK);
    assert_int_equal(store_eligibility_delete(st, "e1", &d), ERR_NOT_FOUND);
}

static void test_activations(void **state)
{
    struct store *st = ST(state);
    struct store_activation a = {.id = "a1",
                                 .eligibility_id = "e1",
                                 .scope = SCOPE,
                                 .role = "user",
                                 .principal_id = "P1",
                                 .requested_by = "me",
                                 .duration_s = 600,
                                 .state = "pendingApproval"};
    struct store_activation got = {0}, *list = NULL;
    struct store_activation_update u = {
        .state = "active", .decided_by = "boss", .expires_at = 1700000000000};
    struct err_detail d = {0};
    char *next = NULL;
    size_t n = 0;

    assert_int_equal(store_activation_insert(st, &a, 10, &d), ERR_OK);
    a.id = "a2";
    a.state = "denied";
    assert_int_equal(store_activation_insert(st, &a, 10, &d), ERR_OK);
    assert_int_equal(store_activation_update(st, "A1", 1, &u, 20, &d), ERR_OK);
    assert_int_equal(store_activation_update(st, "a1", 1, &u, 20, &d), ERR_CONFLICT);
    assert_int_equal(store_activation_update(st, "zz", 1, &u, 20, &d), ERR_NOT_FOUND);
    assert_int_equal(store_activation_get(st, "a1", &got, &d), ERR_OK);
    assert_string_equal(got.state, "active");
    assert_string_equal(got.decided_by, "boss");
    assert_string_equal(got.approvers, "[]");
    assert_string_equal(got.principal_id, "p1");
    assert_int_equal(got.expires_at, 1700000000000);
    assert_int_equal(got.generation, 2);
    assert_null(got.grant_state); /* no grant yet */
    store_activation_clear(&got);
    assert_int_equal(store_activation_list(st, "denied", NULL, 10, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "a2");
    store_activation_list_free(list, n);
    assert_int_equal(store_activation_list(st, NULL, NULL, 10, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 2);
    store_activation_list_free(list, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eligibilities, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_activations, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
