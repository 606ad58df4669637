/* test_store_access.c: the access store's reads (store_access.h), on SQLite and (unit.*.pg) on
 * PostgreSQL: login-role assignments at scopes and of principals, each with the grant behind
 * it (by assignment name, or by an adopted ARM id in another case), plus active grants; other
 * roles never; principals by id; transitive members and groups through a cycle; the full scan
 * the access index is built from; the generation every write moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/store_access.h"
#include "vmlogind/store_grants.h"

#define SUB "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333"
#define RG SUB "/resourceGroups/RG-One"
#define RG_KEY "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourcegroups/rg-one"
#define RA_PATH "/providers/Microsoft.Authorization/roleAssignments/"
#define OWNER_GUID "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define ANN "6B7C8D9E-0000-4000-8000-00000000D001"
#define ANN_KEY "6b7c8d9e-0000-4000-8000-00000000d001"
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"
#define ADMINS "9a8b7c6d-0000-4000-8000-00000000f001"
#define NESTED "9a8b7c6d-0000-4000-8000-00000000f002"

static void assignment(struct store *st, const char *scope, const char *name, const char *role,
                       const char *principal, const char *type)
{
    char id[256];
    struct store_role_assignment_facts ra = {.id = id,
                                             .name = name,
                                             .scope = scope,
                                             .role_definition_id = role,
                                             .principal_id = principal,
                                             .principal_type = type};

    snprintf(id, sizeof(id), "%s" RA_PATH "%s", scope, name);
    assert_int_equal(store_role_assignments_upsert(st, NULL, &ra, 1, 10, NULL, NULL), ERR_OK);
}

/* A grant moved to state (and, when arm_id is set, adopting that assignment). */
static void grant(struct store *st, const char *id, const char *scope, const char *principal,
                  const char *name, const char *state, const char *arm_id)
{
    struct store_grant g = {.id = (char *)id,
                            .scope = (char *)scope,
                            .role = "user",
                            .principal_id = (char *)principal,
                            .principal_type = "User",
                            .assignment_name = (char *)name,
                            .created_by = "me"};
    struct store_grant_update u = {.state = state, .assignment_id = arm_id};

    assert_int_equal(store_grant_insert(st, &g, 10, NULL), ERR_OK);
    assert_int_equal(store_grant_update(st, id, 1, &u, 11, NULL), ERR_OK);
}

/* Ann: administrator at RG, by an assignment made outside vmlogind whose ARM id grant g-adopt
 * adopted (stored upper-case); Admins: user at SUB, behind the pending grant g-name by the
 * assignment's name; an Owner assignment that never counts; Bob: an active grant at RG not
 * observed yet. Admins holds Ann and Nested, Nested holds Bob and Admins (a cycle). */
static void seed(struct store *st)
{
    struct store_principal_facts p[4] = {
        {.id = ANN, .kind = "user", .upn = "Ann@Contoso.example", .display_name = "Ann"},
        {.id = BOB, .kind = "user", .upn = "bob@contoso.example", .display_name = "Bob"},
        {.id = ADMINS, .kind = "group", .display_name = "Admins"},
        {.id = NESTED, .kind = "group", .display_name = "Nested"},
    };
    struct store_member_facts admins[2] = {{.member_id = ANN, .member_kind = "user"},
                                           {.member_id = NESTED, .member_kind = "group"}};
    struct store_member_facts nested[2] = {{.member_id = BOB, .member_kind = "user"},
                                           {.member_id = ADMINS, .member_kind = "group"}};

    assert_int_equal(store_principals_upsert(st, p, 4, 10, NULL, NULL), ERR_OK);
    assert_int_equal(store_group_members_sync_begin(st, NULL), ERR_OK);
    assert_int_equal(store_group_members_replace(st, ADMINS, admins, 2, 10, NULL, NULL), ERR_OK);
    assert_int_equal(store_group_members_replace(st, NESTED, nested, 2, 10, NULL, NULL), ERR_OK);
    assignment(st, RG, "r-ann", MODEL_GRANT_ROLE_ADMIN_GUID, ANN, "User");
    assignment(st, SUB, "r-admins", MODEL_GRANT_ROLE_USER_GUID, ADMINS, "Group");
    assignment(st, RG, "r-owner", OWNER_GUID, ANN, "User");
    grant(st, "g-adopt", RG, ANN, "n-adopt", "active", RG RA_PATH "R-ANN");
    grant(st, "g-name", SUB, ADMINS, "r-admins", "pending", NULL);
    grant(st, "g-bob", RG, BOB, "n-bob", "active", NULL);
}

static bool same(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The row of rows with this grant and this assignment (either may be NULL); fails when none. */
static const struct store_access_row *row(const struct store_access_row *rows, size_t n,
                                          const char *grant_id, const char *assignment_id)
{
    for (size_t i = 0; i < n; i++) {
        if (same(rows[i].grant_id, grant_id) && same(rows[i].assignment_id, assignment_id))
            return &rows[i];
    }
    fail_msg("no row for grant %s, assignment %s", grant_id ? grant_id : "-",
             assignment_id ? assignment_id : "-");
    return NULL;
}

static void test_at_scopes_and_of_principals(void **state)
{
    struct store *st = ST(state);
    const char *scopes[] = {RG_KEY, "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333"};
    const char *ann[] = {ANN_KEY};
    struct store_access_row *rows = NULL;
    const struct store_access_row *r;
    size_t n = 0;

    seed(st);
    assert_int_equal(store_access_at_scopes(st, scopes, 2, &rows, &n, NULL), ERR_OK);
    /* observed: r-ann (g-adopt by its ARM id), r-admins (g-name by name); granted: g-adopt,
     * g-bob; the Owner assignment is no login role */
    assert_int_equal(n, 4);
    r = row(rows, n, "g-adopt", RG RA_PATH "r-ann");
    assert_string_equal(r->role_guid, MODEL_GRANT_ROLE_ADMIN_GUID);
    assert_string_equal(r->principal_id, ANN_KEY);
    assert_string_equal(r->scope_key, RG_KEY);
    r = row(rows, n, "g-name", SUB RA_PATH "r-admins");
    assert_string_equal(r->principal_type, "Group");
    r = row(rows, n, "g-bob", NULL);
    assert_string_equal(r->role_guid, MODEL_GRANT_ROLE_USER_GUID);
    assert_null(r->assignment_id);
    r = row(rows, n, "g-adopt", RG RA_PATH "R-ANN"); /* the active grant's own row */
    assert_string_equal(r->role_guid, MODEL_GRANT_ROLE_USER_GUID);
    store_access_rows_free(rows, n);

    assert_int_equal(store_access_of_principals(st, ann, 1, &rows, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    (void)row(rows, n, "g-adopt", RG RA_PATH "r-ann");
    (void)row(rows, n, "g-adopt", RG RA_PATH "R-ANN");
    store_access_rows_free(rows, n);
    assert_int_equal(store_access_at_scopes(st, scopes, 1, &rows, &n, NULL), ERR_OK);
    assert_int_equal(n, 3); /* RG alone */
    store_access_rows_free(rows, n);
    assert_int_equal(store_access_at_scopes(st, ann, 1, &rows, &n, NULL), ERR_OK);
    assert_int_equal(n, 0);
    store_access_rows_free(rows, n);
}

static void test_principals_and_members(void **state)
{
    struct store *st = ST(state);
    const char *ids[] = {ANN_KEY, ADMINS, "unknown"};
    const char *groups[] = {ADMINS};
    struct store_principal_row *p = NULL;
    struct store_principal_row one;
    struct store_member_row *m = NULL;
    char **of = NULL;
    size_t n = 0;
    int users = 0;

    seed(st);
    assert_int_equal(store_access_principals_get(st, ids, 3, &p, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    store_principal_rows_free(p, n);
    assert_int_equal(store_access_principal_find(st, "ANN@contoso.EXAMPLE", &one, NULL), ERR_OK);
    assert_string_equal(one.id, ANN_KEY);
    store_principal_row_clear(&one);

    /* Admins' transitive members: Ann, Nested, Bob and (through the cycle) Admins itself */
    assert_int_equal(store_access_members_of(st, groups, 1, &m, &n, NULL), ERR_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(m[i].group_id, ADMINS);
        users += strcmp(m[i].member_kind, "user") == 0;
    }
    assert_int_equal(users, 2);
    store_member_rows_free(m, n);
    assert_int_equal(store_access_groups_of(st, BOB, &of, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        free(of[i]);
    free(of);
    assert_true(store_access_is_member(st, ADMINS, BOB));
    assert_true(store_access_is_member(st, NESTED, ANN)); /* through Admins */
    assert_false(store_access_is_member(st, ADMINS, "6b7c8d9e-0000-4000-8000-00000000d009"));
    assert_true(store_access_knows_members(st, NESTED));
    assert_false(store_access_knows_members(st, ANN));
}

struct scanned {
    int principals, members, observed, granted, vms;
    bool adopted; /* r-ann's row carried g-adopt */
};

static void on_principal(void *arg, struct store_principal_row *p)
{
    ((struct scanned *)arg)->principals++;
    store_principal_row_clear(p);
}

static void on_member(void *arg, const char *group_id, const char *member_id, const char *kind)
{
    (void)group_id, (void)member_id, (void)kind;
    ((struct scanned *)arg)->members++;
}

static void on_assignment(void *arg, const struct store_access_view *a)
{
    struct scanned *s = arg;

    if (a->granted) {
        s->granted++;
        return;
    }
    s->observed++;
    if (strcmp(a->assignment_id, RG RA_PATH "r-ann") == 0)
        s->adopted = a->grant_id != NULL && strcmp(a->grant_id, "g-adopt") == 0;
}

static void on_vm(void *arg, const char *id_key, bool gone, const char *computer_name)
{
    (void)id_key, (void)gone, (void)computer_name;
    ((struct scanned *)arg)->vms++;
}

static void test_scan_and_generation(void **state)
{
    struct store *st = ST(state);
    struct store_access_scan_fns fns = {
        .principal = on_principal, .member = on_member, .assignment = on_assignment, .vm = on_vm};
    struct scanned s = {0};
    int64_t epoch = 0, gen = 0, epoch2 = 0, gen2 = 0;

    assert_int_equal(store_access_generation(st, &epoch, &gen, NULL), ERR_OK);
    seed(st);
    assert_int_equal(store_access_scan(st, &fns, &s, &epoch2, &gen2, NULL), ERR_OK);
    assert_int_equal(epoch2, epoch);
    assert_true(gen2 > gen);
    assert_int_equal(s.principals, 4);
    /* Admins: Ann, Nested, Bob, Admins; Nested: Bob, Admins, Ann, Nested */
    assert_int_equal(s.members, 8);
    assert_int_equal(s.observed, 2);
    assert_int_equal(s.granted, 2);
    assert_true(s.adopted);
    assert_int_equal(s.vms, 0);
}

/* A scan longer than one fetch of PostgreSQL's cursor (4096 rows) reads every row once. */
static void test_scan_reads_past_a_fetch(void **state)
{
    struct fixture *f = *state;
    struct store_access_scan_fns fns = {
        .principal = on_principal, .member = on_member, .assignment = on_assignment, .vm = on_vm};
    struct scanned s = {0};
    int64_t epoch = 0, gen = 0;

    assert_int_equal(fixture_raw_exec(f, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
                                         " SELECT i + 1 FROM n WHERE i < 9000)"
                                         " INSERT INTO principals (id, kind, changed_at)"
                                         " SELECT 'p-' || i, 'user', 1 FROM n"),
                     0);
    assert_int_equal(store_access_scan(f->st, &fns, &s, &epoch, &gen, NULL), ERR_OK);
    assert_int_equal(s.principals, 9000);
    /* and again: the cursor of the last scan is closed */
    s = (struct scanned){0};
    assert_int_equal(store_access_scan(f->st, &fns, &s, &epoch, &gen, NULL), ERR_OK);
    assert_int_equal(s.principals, 9000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_at_scopes_and_of_principals, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_principals_and_members, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_scan_and_generation, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_scan_reads_past_a_fetch, fixture_setup_file,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
