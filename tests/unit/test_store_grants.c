/* test_store_grants.c: login grants through store_grants.h, on SQLite and (unit.*.pg) on
 * PostgreSQL: insert (one live grant per assignment name), get, find live, list pages with
 * filters, updates conditioned on the generation, the grant behind an observed assignment by
 * name or ARM id in any case, expired ids; and authoritative scopes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_grants.h"

#define SCOPE "/subscriptions/s/resourceGroups/RG"

static struct store_grant grant(const char *id, const char *principal, const char *name)
{
    return (struct store_grant){.id = (char *)id,
                                .scope = SCOPE,
                                .role = "user",
                                .principal_id = (char *)principal,
                                .principal_type = "User",
                                .assignment_name = (char *)name,
                                .created_by = "me"};
}

static void test_insert_get_find(void **state)
{
    struct store *st = ST(state);
    struct store_grant g = grant("g1", "P1", "n1"), got = {0};
    struct err_detail d = {0};

    g.upn = "Bob@X";
    g.expires_at = 1700000000000;
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_OK);
    assert_int_equal(store_grant_get(st, "G1", &got, &d), ERR_OK);
    assert_string_equal(got.scope_key, "/subscriptions/s/resourcegroups/rg");
    assert_string_equal(got.principal_id, "p1");
    assert_string_equal(got.state, "pending");
    assert_string_equal(got.justification, "");
    assert_int_equal(got.expires_at, 1700000000000);
    assert_int_equal(got.generation, 1);
    assert_null(got.assignment_id);
    store_grant_clear(&got);
    assert_int_equal(store_grant_find_live(st, "N1", &got, &d), ERR_OK);
    assert_string_equal(got.id, "g1");
    store_grant_clear(&got);
    g.id = "g2"; /* the same live assignment name */
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_CONFLICT);
    assert_int_equal(store_grant_get(st, "nope", &got, &d), ERR_NOT_FOUND);
}

static void test_list_filters(void **state)
{
    struct store *st = ST(state);
    struct store_grant g = grant("g1", "p1", "n1"), *list = NULL;
    struct store_grant_filter f = {0};
    struct err_detail d = {0};
    char *next = NULL, *after;
    size_t n = 0;

    g.upn = "bob@x";
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_OK);
    g = grant("g2", "p2", "n2");
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_OK);
    g = grant("g3", "p1", "n3");
    g.scope = "/subscriptions/t";
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_OK);

    assert_int_equal(store_grant_list(st, &f, NULL, 2, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[1].id, "g2");
    assert_non_null(next);
    store_grant_list_free(list, n);
    after = next;
    assert_int_equal(store_grant_list(st, &f, after, 2, &list, &n, &next, &d), ERR_OK);
    free(after);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "g3");
    assert_null(next);
    store_grant_list_free(list, n);

    f.principal = "BOB@X"; /* by UPN, any case */
    assert_int_equal(store_grant_list(st, &f, NULL, 10, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "g1");
    store_grant_list_free(list, n);
    f = (struct store_grant_filter){.scope_key = "/subscriptions/s/resourcegroups/rg",
                                    .principal = "p1"};
    assert_int_equal(store_grant_list(st, &f, NULL, 10, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 1);
    store_grant_list_free(list, n);
    f = (struct store_grant_filter){.state = "active"};
    assert_int_equal(store_grant_list(st, &f, NULL, 10, &list, &n, &next, &d), ERR_OK);
    assert_int_equal(n, 0);
    store_grant_list_free(list, n);
}

static void test_update_and_lookups(void **state)
{
    struct store *st = ST(state);
    struct store_grant g = grant("g1", "p1", "n1"), got = {0};
    struct store_grant_update u = {.state = "active", .assignment_id = "/S/ra/A1"};
    struct err_detail d = {0};
    char *id = NULL, **ids = NULL;
    size_t n = 0;

    g.expires_at = 100;
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_OK);
    assert_int_equal(store_grant_update(st, "g1", 1, &u, 20, &d), ERR_OK);
    assert_int_equal(store_grant_update(st, "g1", 1, &u, 20, &d), ERR_CONFLICT); /* moved on */
    u = (struct store_grant_update){.error_code = "E", .expires_at = 1700000000000};
    assert_int_equal(store_grant_update(st, "g1", 2, &u, 30, &d), ERR_OK);
    assert_int_equal(store_grant_get(st, "g1", &got, &d), ERR_OK);
    assert_string_equal(got.state, "active"); /* kept */
    assert_string_equal(got.assignment_id, "/S/ra/A1");
    assert_string_equal(got.last_error_code, "E");
    assert_int_equal(got.expires_at, 1700000000000);
    assert_int_equal(got.generation, 3);
    store_grant_clear(&got);
    assert_int_equal(store_grant_update(st, "nope", 1, &u, 30, &d), ERR_NOT_FOUND);

    assert_int_equal(store_grant_for_assignment(st, "N1", NULL, &id, &d), ERR_OK);
    assert_string_equal(id, "g1");
    free(id);
    assert_int_equal(store_grant_for_assignment(st, "other", "/s/RA/a1", &id, &d), ERR_OK);
    assert_string_equal(id, "g1");
    free(id);
    assert_int_equal(store_grant_for_assignment(st, "other", "/s/ra/a2", &id, &d), ERR_NOT_FOUND);

    g = grant("g2", "p2", "n2");
    g.expires_at = 50;
    assert_int_equal(store_grant_insert(st, &g, 10, &d), ERR_OK);
    assert_int_equal(store_grant_expired_ids(st, 60, 10, &ids, &n, &d), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "g2");
    free(ids[0]);
    free(ids);
}

/* Authoritative scopes: set, unchanged on a second identical put, found from a scope below,
 * removed. */
static void test_policies(void **state)
{
    struct store *st = ST(state);
    struct store_login_policy p = {0};
    struct err_detail d = {0};
    bool changed = false;

    assert_int_equal(store_login_policy_put(st, SCOPE, true, true, "me", 10, &changed, &d), ERR_OK);
    assert_true(changed);
    assert_int_equal(store_login_policy_put(st, SCOPE, true, true, "me", 20, &changed, &d), ERR_OK);
    assert_false(changed);
    assert_int_equal(store_login_policy_get(st, "/subscriptions/s/resourcegroups/rg", &p, &d),
                     ERR_OK);
    assert_true(p.authoritative);
    assert_true(p.dry_run);
    assert_int_equal(p.created_at, 10);
    store_login_policy_clear(&p);
    assert_int_equal(store_login_policy_covering(
                         st, "/subscriptions/s/resourcegroups/rg/providers/x/vm1", &p, &d),
                     ERR_OK);
    assert_true(p.authoritative);
    assert_string_equal(p.scope, SCOPE);
    store_login_policy_clear(&p);
    assert_int_equal(store_login_policy_covering(st, "/subscriptions/s/resourcegroups/rg2", &p, &d),
                     ERR_OK);
    assert_false(p.authoritative);
    store_login_policy_clear(&p);
    assert_int_equal(store_login_policy_put(st, SCOPE, false, false, "me", 30, &changed, &d),
                     ERR_OK);
    assert_true(changed);
    assert_int_equal(store_login_policy_get(st, "/subscriptions/s/resourcegroups/rg", &p, &d),
                     ERR_OK);
    assert_false(p.authoritative);
    store_login_policy_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_get_find, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_update_and_lookups, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_policies, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
