/* test_model_access.c: the effective-access computation: administrator beats user, direct
 * beats group, nested groups reach their members, inherited scopes count, duplicates of an
 * observed and a granted assignment collapse onto the grant, and covering is by segment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/model_access.h"

#define SUBK "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333"
#define RGK SUBK "/resourcegroups/rg"
#define VMK RGK "/providers/microsoft.compute/virtualmachines/vm1"

static const struct model_access_entry *entry(const struct model_access_entry *e, size_t n,
                                              const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].principal_id, id) == 0)
            return &e[i];
    }
    return NULL;
}

static void test_covers(void **state)
{
    (void)state;
    assert_true(model_access_scope_covers(SUBK, VMK));
    assert_true(model_access_scope_covers(RGK, VMK));
    assert_true(model_access_scope_covers(VMK, VMK));
    assert_false(
        model_access_scope_covers(SUBK "/resourcegroups/r", VMK)); /* not a prefix by segment */
    assert_false(model_access_scope_covers(VMK "2", VMK));
    assert_false(model_access_scope_covers("", VMK));
}

static void test_highest_role_direct_and_groups(void **state)
{
    struct model_access_assignment a[] = {
        {.scope_key = SUBK,
         .role = MODEL_GRANT_ROLE_USER,
         .principal_id = "alice",
         .principal_type = "User"},
        {.scope_key = RGK,
         .role = MODEL_GRANT_ROLE_ADMIN,
         .principal_id = "ops",
         .principal_type = "Group",
         .grant_id = "g-ops",
         .expires_at = 5000},
        {.scope_key = VMK,
         .role = MODEL_GRANT_ROLE_USER,
         .principal_id = "bob",
         .principal_type = "User"},
        {.scope_key = VMK,
         .role = MODEL_GRANT_ROLE_USER,
         .principal_id = "app",
         .principal_type = "ServicePrincipal"},
    };
    /* ops contains nested, nested contains carol and alice (transitive pairs) */
    struct model_access_member m[] = {
        {.group_id = "ops", .member_id = "nested", .member_kind = "group"},
        {.group_id = "ops", .member_id = "carol", .member_kind = "user"},
        {.group_id = "ops", .member_id = "alice", .member_kind = "user"},
        {.group_id = "other", .member_id = "bob", .member_kind = "user"},
    };
    struct model_access_entry *e = NULL;
    const struct model_access_entry *x;
    size_t n = 0;

    (void)state;
    model_access_compute(a, 4, m, 4, &e, &n);
    assert_int_equal(n, 6); /* alice bob app ops nested carol */
    /* administrators come first */
    assert_int_equal(e[0].role, MODEL_GRANT_ROLE_ADMIN);
    x = entry(e, n, "alice"); /* user directly at the subscription, admin through ops at RG */
    assert_non_null(x);
    assert_int_equal(x->role, MODEL_GRANT_ROLE_ADMIN);
    assert_string_equal(x->via_group, "ops");
    assert_string_equal(x->best->grant_id, "g-ops");
    assert_int_equal(x->best->expires_at, 5000);
    assert_int_equal(x->paths, 2);
    x = entry(e, n, "carol"); /* nested member */
    assert_non_null(x);
    assert_int_equal(x->role, MODEL_GRANT_ROLE_ADMIN);
    assert_string_equal(x->principal_kind, "user");
    x = entry(e, n, "bob"); /* member of an unassigned group: direct user only */
    assert_int_equal(x->role, MODEL_GRANT_ROLE_USER);
    assert_null(x->via_group);
    assert_null(x->best->grant_id); /* external */
    x = entry(e, n, "app");
    assert_string_equal(x->principal_kind, "servicePrincipal");
    x = entry(e, n, "ops");
    assert_string_equal(x->principal_kind, "group");
    free(e);
}

static void test_direct_beats_group_and_no_expiry_beats_expiry(void **state)
{
    struct model_access_assignment a[] = {
        {.scope_key = SUBK,
         .role = MODEL_GRANT_ROLE_USER,
         .principal_id = "g",
         .principal_type = "Group"},
        {.scope_key = VMK,
         .role = MODEL_GRANT_ROLE_USER,
         .principal_id = "u",
         .principal_type = "User",
         .expires_at = 100},
        {.scope_key = RGK,
         .role = MODEL_GRANT_ROLE_USER,
         .principal_id = "u",
         .principal_type = "User"},
    };
    struct model_access_member m[] = {{.group_id = "g", .member_id = "u", .member_kind = "user"}};
    struct model_access_entry *e = NULL;
    size_t n = 0;
    const struct model_access_entry *x;

    (void)state;
    model_access_compute(a, 3, m, 1, &e, &n);
    x = entry(e, n, "u");
    assert_null(x->via_group);
    assert_int_equal(x->best->expires_at, 0);
    assert_string_equal(x->best->scope_key, RGK);
    free(e);
    assert_int_equal(model_access_best_for(a, 3, VMK, "u"), 2);
    assert_int_equal(model_access_best_for(a, 3, SUBK "/resourcegroups/other/x", "u"), 0);
    assert_int_equal(model_access_best_for(a, 3, "/subscriptions/other", "u"), -1);
}

static void test_dedupe_prefers_grant(void **state)
{
    struct model_access_assignment a[] = {
        {.scope_key = VMK,
         .role = MODEL_GRANT_ROLE_ADMIN,
         .principal_id = "u",
         .assignment_id = "/x/roleAssignments/n1"},
        {.scope_key = VMK, .role = MODEL_GRANT_ROLE_ADMIN, .principal_id = "u", .grant_id = "g1"},
        {.scope_key = VMK, .role = MODEL_GRANT_ROLE_USER, .principal_id = "u"},
        {.scope_key = RGK, .role = MODEL_GRANT_ROLE_ADMIN, .principal_id = "u"},
    };
    size_t n;

    (void)state;
    n = model_access_dedupe(a, 4);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i].scope_key, VMK) == 0 && a[i].role == MODEL_GRANT_ROLE_ADMIN) {
            assert_string_equal(a[i].grant_id, "g1");
            /* the observed duplicate's ARM id is kept */
            assert_string_equal(a[i].assignment_id, "/x/roleAssignments/n1");
        }
    }
    assert_int_equal(model_access_dedupe(a, 0), 0);
}

static void test_empty(void **state)
{
    struct model_access_entry *e = NULL;
    size_t n = 9;

    (void)state;
    model_access_compute(NULL, 0, NULL, 0, &e, &n);
    assert_int_equal(n, 0);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covers),
        cmocka_unit_test(test_highest_role_direct_and_groups),
        cmocka_unit_test(test_direct_beats_group_and_no_expiry_beats_expiry),
        cmocka_unit_test(test_dedupe_prefers_grant),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
