/* test_auth_perm.c: the role ladder, scope limits and constrained delegation (which login role
 * a caller may grant, to which principal types, and only to members of a named group), the
 * grant-limit JSON, and the per-caller token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "vmlogind/auth.h"
#include "vmlogind/xalloc.h"

#define SUB "/subscriptions/00000000-0000-0000-0000-00000000000a"
#define RG SUB "/resourceGroups/RG-One"
#define VM RG "/providers/Microsoft.Compute/virtualMachines/vm1"
#define GROUP "6a1b2c3d-0000-0000-0000-0000000000aa"
#define MEMBER "7b1b2c3d-0000-0000-0000-0000000000bb"
#define STRANGER "8c1b2c3d-0000-0000-0000-0000000000cc"

static struct auth_caller *caller(enum auth_role r, const char *scope)
{
    struct auth_caller *c = auth_caller_new(AUTH_KIND_KEY, r, "key:test");

    if (scope != NULL)
        assert_int_equal(auth_caller_add_scope(c, scope, NULL), ERR_OK);
    return c;
}

static void test_roles(void **state)
{
    struct auth_caller *r = caller(AUTH_ROLE_READER, NULL);
    struct auth_caller *a = caller(AUTH_ROLE_ADMINISTRATOR, NULL);
    struct err_detail d = {{0}, {0}};
    enum auth_role role;

    (void)state;
    assert_int_equal(auth_check_role(r, AUTH_ROLE_READER, NULL), ERR_OK);
    assert_int_equal(auth_check_role(r, AUTH_ROLE_OPERATOR, &d), ERR_FORBIDDEN);
    assert_string_equal(d.code, "insufficient_role");
    assert_int_equal(auth_check_role(a, AUTH_ROLE_ADMINISTRATOR, NULL), ERR_OK);
    assert_int_equal(auth_check_role(NULL, AUTH_ROLE_READER, NULL), ERR_FORBIDDEN);
    assert_true(auth_role_parse("operator", &role));
    assert_int_equal(role, AUTH_ROLE_OPERATOR);
    assert_false(auth_role_parse("Operator", &role));
    assert_false(auth_role_parse("none", &role));
    assert_string_equal(auth_role_name(AUTH_ROLE_ADMINISTRATOR), "administrator");
    auth_caller_free(r);
    auth_caller_free(a);
}

static void test_scope_normalize(void **state)
{
    char out[AUTH_SCOPE_MAX];
    static const char *const bad[] = {
        "",
        "subscriptions/x",
        "/subscriptions",
        "/subscriptions/",
        "/subscriptions//resourceGroups/rg",
        "/subscriptions/x/resourceGroups",
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v",
        "/subscriptions/x/other/rg",
        "/providers/Microsoft.Management/managementGroups/mg",
        "/subscriptions/x y",
        "/subscriptions/x/resourceGroups/rg//",
    };

    (void)state;
    assert_int_equal(auth_scope_normalize(RG "/", out, sizeof(out), NULL), ERR_OK);
    assert_string_equal(out, "/subscriptions/00000000-0000-0000-0000-00000000000a"
                             "/resourcegroups/rg-one");
    assert_int_equal(auth_scope_normalize(SUB, out, sizeof(out), NULL), ERR_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(auth_scope_normalize(bad[i], out, sizeof(out), NULL), ERR_INVALID);
}

static void test_scope_limits(void **state)
{
    struct auth_caller *free_c = caller(AUTH_ROLE_OPERATOR, NULL);
    struct auth_caller *rg = caller(AUTH_ROLE_OPERATOR, RG);
    struct err_detail d = {{0}, {0}};

    (void)state;
    assert_true(auth_scope_allows(free_c, SUB));
    assert_true(auth_scope_allows(rg, RG));
    assert_true(auth_scope_allows(rg, VM));
    assert_true(auth_scope_allows(rg, "/SUBSCRIPTIONS/00000000-0000-0000-0000-00000000000A"
                                      "/resourcegroups/rg-one/virtualMachines/x/entraLogin"));
    assert_false(auth_scope_allows(rg, SUB));
    assert_false(auth_scope_allows(rg, SUB "/resourceGroups/RG-One-b"));
    assert_false(auth_scope_allows(rg, SUB "/resourceGroups/RG-Two"));
    assert_false(auth_scope_allows(rg, NULL));
    assert_int_equal(auth_check_scope(rg, SUB "/resourceGroups/other", &d), ERR_FORBIDDEN);
    assert_string_equal(d.code, "scope_forbidden");
    auth_caller_free(free_c);
    auth_caller_free(rg);
}

static bool fake_member(void *arg, const char *group, const char *principal)
{
    (void)arg;
    return strcasecmp(group, GROUP) == 0 && strcasecmp(principal, MEMBER) == 0;
}

static enum err grant(const struct auth_caller *c, const char *scope, const char *role,
                      const char *type, const char *who, const char *want_code)
{
    struct auth_grant_request g = {
        .scope = scope,
        .login_role = role,
        .principal_type = type,
        .principal_id = who,
        .is_member = fake_member,
    };
    struct err_detail d = {{0}, {0}};
    enum err rc = auth_check_grant(c, &g, &d);

    if (want_code != NULL)
        assert_string_equal(d.code, want_code);
    return rc;
}

static void test_delegation_by_role(void **state)
{
    struct auth_caller *r = caller(AUTH_ROLE_READER, NULL);
    struct auth_caller *op = caller(AUTH_ROLE_OPERATOR, RG);
    struct auth_caller *adm = caller(AUTH_ROLE_ADMINISTRATOR, NULL);

    (void)state;
    assert_int_equal(grant(r, VM, "user", "User", MEMBER, "insufficient_role"), ERR_FORBIDDEN);
    assert_int_equal(grant(op, VM, "user", "User", MEMBER, NULL), ERR_OK);
    assert_int_equal(grant(op, VM, "administrator", "User", MEMBER, "grant_role_forbidden"),
                     ERR_FORBIDDEN);
    assert_int_equal(
        grant(op, SUB "/resourceGroups/other", "user", "Group", GROUP, "scope_forbidden"),
        ERR_FORBIDDEN);
    assert_int_equal(grant(adm, SUB, "administrator", "ServicePrincipal", MEMBER, NULL), ERR_OK);
    assert_int_equal(grant(adm, SUB, "owner", "User", MEMBER, "invalid_role"), ERR_INVALID);
    assert_int_equal(grant(adm, SUB, "user", "Device", MEMBER, "invalid_principal_type"),
                     ERR_INVALID);
    auth_caller_free(r);
    auth_caller_free(op);
    auth_caller_free(adm);
}

static void test_delegation_limits(void **state)
{
    struct auth_caller *adm = caller(AUTH_ROLE_ADMINISTRATOR, NULL);
    struct auth_caller *grp = caller(AUTH_ROLE_OPERATOR, NULL);

    (void)state;
    /* an administrator limited to user login and groups */
    adm->limits.grant_roles = AUTH_GRANT_USER;
    adm->limits.principal_types = AUTH_PT_GROUP;
    assert_int_equal(grant(adm, VM, "user", "Group", GROUP, NULL), ERR_OK);
    assert_int_equal(grant(adm, VM, "user", "group", GROUP, NULL), ERR_OK);
    assert_int_equal(grant(adm, VM, "administrator", "Group", GROUP, "grant_role_forbidden"),
                     ERR_FORBIDDEN);
    assert_int_equal(grant(adm, VM, "user", "User", MEMBER, "principal_type_forbidden"),
                     ERR_FORBIDDEN);
    /* an operator limited to members of a named group (and the group itself) */
    snprintf(grp->limits.member_of, sizeof(grp->limits.member_of), "%s", GROUP);
    assert_int_equal(grant(grp, VM, "user", "User", MEMBER, NULL), ERR_OK);
    assert_int_equal(grant(grp, VM, "user", "Group", GROUP, NULL), ERR_OK);
    assert_int_equal(grant(grp, VM, "user", "User", STRANGER, "principal_not_member"),
                     ERR_FORBIDDEN);
    {
        /* no way to ask about membership: refused */
        struct auth_grant_request g = {
            .scope = VM, .login_role = "user", .principal_type = "User", .principal_id = MEMBER};
        assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_FORBIDDEN);
    }
    auth_caller_free(adm);
    auth_caller_free(grp);
}

static void test_limits_json(void **state)
{
    struct auth_limits l = {.grant_roles = AUTH_GRANT_USER,
                            .principal_types = AUTH_PT_GROUP | AUTH_PT_SERVICE_PRINCIPAL};
    struct auth_limits back;
    char *text;
    static const char *const bad[] = {
        "[]",
        "{\"loginRoles\":\"user\"}",
        "{\"loginRoles\":[\"owner\"]}",
        "{\"principalTypes\":[\"Device\"]}",
        "{\"memberOf\":\"not a guid\"}",
        "{\"other\":1}",
        "{\"memberOf\":\"a\",\"memberOf\":\"b\"}",
    };

    (void)state;
    snprintf(l.member_of, sizeof(l.member_of), "%s", GROUP);
    text = auth_limits_to_json(&l);
    assert_string_equal(text, "{\"loginRoles\":[\"user\"],\"memberOf\":\"" GROUP
                              "\",\"principalTypes\":[\"group\",\"servicePrincipal\"]}");
    assert_int_equal(auth_limits_from_json(text, &back, NULL), ERR_OK);
    assert_memory_equal(&l, &back, sizeof(l));
    free(text);
    assert_int_equal(auth_limits_from_json("{}", &back, NULL), ERR_OK);
    assert_int_equal(back.grant_roles, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(auth_limits_from_json(bad[i], &back, NULL), ERR_INVALID);
    assert_int_equal(auth_limits_parse_roles("user,administrator", &l.grant_roles, NULL), ERR_OK);
    assert_int_equal(l.grant_roles, AUTH_GRANT_USER | AUTH_GRANT_ADMINISTRATOR);
    assert_int_equal(auth_limits_parse_types("group,ServicePrincipal", &l.principal_types, NULL),
                     ERR_OK);
    assert_int_equal(l.principal_types, AUTH_PT_GROUP | AUTH_PT_SERVICE_PRINCIPAL);
    assert_int_equal(auth_limits_parse_roles("user,owner", &l.grant_roles, NULL), ERR_INVALID);
    assert_int_equal(auth_limits_parse_types("", &l.principal_types, NULL), ERR_INVALID);
}

/* A caller held to two sets of limits (its own and its application's) gets the intersection,
 * never the union; disjoint scopes leave it no scope at all (not "unlimited"). */
static bool knows_nothing(void *arg, const char *group)
{
    (void)arg;
    (void)group;
    return false;
}

static bool knows_all(void *arg, const char *group)
{
    (void)arg;
    (void)group;
    return true;
}

/* What only the directory can tell is deferred to the reconciler when the caller allows it,
 * and refused when it does not; what the store does know is judged at once. */
static void test_delegation_deferred(void **state)
{
    struct auth_caller *grp = caller(AUTH_ROLE_OPERATOR, NULL);
    bool deferred = false;
    struct auth_grant_request g = {.scope = VM,
                                   .login_role = "user",
                                   .principal_type = "User",
                                   .principal_id = STRANGER,
                                   .is_member = fake_member,
                                   .knows_members = knows_nothing,
                                   .deferred = &deferred};

    (void)state;
    snprintf(grp->limits.member_of, sizeof(grp->limits.member_of), "%s", GROUP);
    /* the store does not know the group's members: deferred */
    assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_OK);
    assert_true(deferred);
    /* it knows them: refused now */
    deferred = false;
    g.knows_members = knows_all;
    assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_FORBIDDEN);
    assert_false(deferred);
    /* a member by the store needs no deferral */
    g.principal_id = MEMBER;
    assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_OK);
    assert_false(deferred);
    /* a principal the sync has not seen under a types limit: the claim passes, deferred */
    grp->limits.member_of[0] = '\0';
    grp->limits.principal_types = AUTH_PT_GROUP;
    g.principal_type = "Group";
    g.type_unverified = true;
    assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_OK);
    assert_true(deferred);
    g.principal_type = "User"; /* a claim outside the limit is refused at once */
    deferred = false;
    assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_FORBIDDEN);
    /* without a way to defer (revocations), unverified is refused */
    g.principal_type = "Group";
    g.deferred = NULL;
    assert_int_equal(auth_check_grant(grp, &g, NULL), ERR_FORBIDDEN);
    auth_caller_free(grp);
}

static void test_restrict_twice_intersects(void **state)
{
    struct auth_caller *c = auth_caller_new(AUTH_KIND_USER, AUTH_ROLE_ADMINISTRATOR, "user:x");
    struct auth_grant_request g = {.scope = "/subscriptions/s1/resourceGroups/rg1",
                                   .login_role = "user",
                                   .principal_type = "User",
                                   .principal_id = "00000000-0000-0000-0000-000000000001"};

    (void)state;
    assert_int_equal(auth_caller_restrict(c, "[\"/subscriptions/s1\",\"/subscriptions/s2\"]",
                                          "{\"loginRoles\":[\"user\",\"administrator\"]}", NULL),
                     ERR_OK);
    assert_int_equal(auth_caller_restrict(c, "[\"/subscriptions/S1/resourceGroups/RG1\"]",
                                          "{\"loginRoles\":[\"administrator\"]}", NULL),
                     ERR_OK);
    assert_true(auth_scope_allows(c, "/subscriptions/s1/resourceGroups/rg1/x"));
    assert_false(auth_scope_allows(c, "/subscriptions/s1/resourceGroups/rg2"));
    assert_false(auth_scope_allows(c, "/subscriptions/s2"));
    assert_int_equal(auth_check_grant(c, &g, NULL), ERR_FORBIDDEN); /* user login: not both */
    /* a restriction without scopes keeps the scopes */
    assert_int_equal(auth_caller_restrict(c, NULL, NULL, NULL), ERR_OK);
    assert_true(auth_scope_allows(c, "/subscriptions/s1/resourceGroups/rg1"));
    /* disjoint: nothing at all */
    assert_int_equal(auth_caller_restrict(c, "[\"/subscriptions/s2\"]", NULL, NULL), ERR_OK);
    assert_int_not_equal(c->nscopes, 0);
    assert_false(auth_scope_allows(c, "/subscriptions/s1/resourceGroups/rg1"));
    assert_false(auth_scope_allows(c, "/subscriptions/s2"));
    assert_false(auth_scope_allows(c, "/"));
    auth_caller_free(c);
    /* two different memberOf groups: nothing may be granted */
    c = auth_caller_new(AUTH_KIND_USER, AUTH_ROLE_ADMINISTRATOR, "user:y");
    assert_int_equal(auth_caller_restrict(c, NULL, "{\"memberOf\":\"aaaa\"}", NULL), ERR_OK);
    assert_int_equal(auth_caller_restrict(c, NULL, "{\"memberOf\":\"bbbb\"}", NULL), ERR_OK);
    g.principal_id = "aaaa";
    assert_int_equal(auth_check_grant(c, &g, NULL), ERR_FORBIDDEN);
    auth_caller_free(c);
}

static void test_rate_limit(void **state)
{
    struct auth_rate *r = auth_rate_new(2, 3, 2);
    int64_t wait = 0;

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_true(auth_rate_take(r, "key:a", 1000, &wait));
    assert_false(auth_rate_take(r, "key:a", 1000, &wait));
    assert_int_equal(wait, 500);
    assert_true(auth_rate_take(r, "key:b", 1000, &wait)); /* another identity has its own */
    assert_true(auth_rate_take(r, "key:a", 1500, &wait)); /* refilled one */
    assert_false(auth_rate_take(r, "key:a", 1500, &wait));
    /* a third identity evicts the least recently seen; nothing breaks */
    assert_true(auth_rate_take(r, "key:c", 1600, &wait));
    assert_true(auth_rate_take(r, "key:d", 1700, &wait));
    auth_rate_free(r);
}

/* Tokens taken ahead from a shared bucket: none until put, spent one by one, never refilled,
 * and gone once kept AUTH_RATE_STASH_KEEP_MS. */
static void test_rate_stash(void **state)
{
    struct auth_rate *r = auth_rate_stash_new(4);

    (void)state;
    assert_false(auth_rate_stash_take(r, "key:a", 1000));
    auth_rate_stash_put(r, "key:a", 2, 1000);
    assert_false(auth_rate_stash_take(r, "key:b", 1000)); /* another identity's are its own */
    assert_true(auth_rate_stash_take(r, "key:a", 1100));
    assert_true(auth_rate_stash_take(r, "key:a", 1200));
    assert_false(auth_rate_stash_take(r, "key:a", 1300));
    auth_rate_stash_put(r, "key:a", 1, 2000);
    assert_false(auth_rate_stash_take(r, "key:a", 2000 + AUTH_RATE_STASH_KEEP_MS));
    auth_rate_stash_put(r, "key:a", 1, 5000);
    auth_rate_stash_put(r, "key:a", 1, 5100); /* they add up */
    assert_true(auth_rate_stash_take(r, "key:a", 5200));
    assert_true(auth_rate_stash_take(r, "key:a", 5200));
    assert_false(auth_rate_stash_take(r, "key:a", 5200));
    auth_rate_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_scope_normalize),
        cmocka_unit_test(test_scope_limits),
        cmocka_unit_test(test_delegation_by_role),
        cmocka_unit_test(test_delegation_limits),
        cmocka_unit_test(test_limits_json),
        cmocka_unit_test(test_delegation_deferred),
        cmocka_unit_test(test_restrict_twice_intersects),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_rate_stash),
    };
    xalloc_init_json();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
