/* test_store_sync.c: the observed-table modules a sync pass writes through: an unchanged pass
 * counts no VM as changed and moves store_changes() by nothing (the report of vms.changed = 1
 * on an unchanged re-sync, checked across the shapes facts come in: NULL vs empty, upper-case
 * subscription and resource group, a VM listed twice, a pass after a gone-and-back), extensions
 * and role assignments write only on change and are marked gone per subscription, principals
 * keep userType/accountEnabled when a lookup does not know them and a deleted one comes back,
 * group members are replaced and pruned, and sync runs record and recover. The same tests run
 * on PostgreSQL (unit.test_store_sync.pg), where the pass's seen sets are in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_access.h"

/* The current sync pass's seen set (store_seen_new per pass, as the reconciler's pass does). */
static struct store_seen *pass;

static void pass_begin(void)
{
    store_seen_free(pass);
    pass = store_seen_new();
}

#define SUB "0b1f6471-1bf0-4dda-aec3-111122223333"
#define SUB_UPPER "0B1F6471-1BF0-4DDA-AEC3-111122223333"
#define SUB2 "1c2f6471-1bf0-4dda-aec3-111122223333"
#define VM_A                                                                                       \
    "/subscriptions/" SUB "/resourceGroups/RG-One/providers/Microsoft.Compute/virtualMachines/A"
#define VM_B                                                                                       \
    "/subscriptions/" SUB "/resourceGroups/rg-one/providers/Microsoft.Compute/virtualMachines/b"
#define VM_C                                                                                       \
    "/subscriptions/" SUB2 "/resourceGroups/rg2/providers/Microsoft.Compute/virtualMachines/c"
#define ALICE "6B7C8D9E-0000-4000-8000-00000000D001"
#define GUEST "6b7c8d9e-0000-4000-8000-00000000d004"
#define GROUP "9a8b7c6d-0000-4000-8000-00000000f001"
#define LOGIN_ROLE "fb879df8-f326-4884-b1cf-06f3ad86be52"

static void subscriptions(struct store *st)
{
    bool changed;

    assert_int_equal(store_subscription_upsert(st, SUB, "Prod", "Enabled", "t", 1, &changed, NULL),
                     ERR_OK);
    assert_int_equal(store_subscription_upsert(st, SUB2, "Dev", "Enabled", "t", 1, &changed, NULL),
                     ERR_OK);
}

/* The facts in the shapes a listing may give them: NULLs, an upper-case subscription, a
 * resource group whose case differs from another VM's in the same group, unicode tags. */
static void facts(struct store_vm_facts f[3])
{
    f[0] = (struct store_vm_facts){.id = VM_A,
                                   .subscription_id = SUB_UPPER,
                                   .resource_group = "RG-One",
                                   .name = "A",
                                   .os_type = "Windows",
                                   .power_state = "running",
                                   .tags = "{\"owner\":\"j\\u00f6rg\"}"};
    f[1] = (struct store_vm_facts){.id = VM_B,
                                   .subscription_id = SUB,
                                   .resource_group = "rg-one",
                                   .name = "b",
                                   .location = "",
                                   .user_assigned_ids = "[]"};
    f[2] = (struct store_vm_facts){
        .id = VM_C, .subscription_id = SUB2, .resource_group = "rg2", .name = "c"};
}

/* One pass over all three VMs; returns rows the VM upserts wrote. */
static size_t vm_pass(struct store *st, const struct store_vm_facts *f, size_t n, int64_t now,
                      size_t *gone)
{
    size_t changed = 0;
    size_t g1 = 0;
    size_t g2 = 0;

    pass_begin();
    assert_int_equal(store_vms_upsert(st, pass, f, n, now, &changed, NULL), ERR_OK);
    assert_int_equal(store_vms_mark_gone(st, pass, SUB, now, &g1, NULL), ERR_OK);
    assert_int_equal(store_vms_mark_gone(st, pass, SUB2, now, &g2, NULL), ERR_OK);
    *gone = g1 + g2;
    return changed;
}

static void test_unchanged_vm_pass_counts_zero(void **state)
{
    struct store *st = ST(state);
    struct store_vm_facts f[4];
    struct store_vm v;
    size_t gone = 9;
    int64_t before;

    subscriptions(st);
    facts(f);
    assert_int_equal(vm_pass(st, f, 3, 10, &gone), 3);
    assert_int_equal(gone, 0);

    /* the same facts again: nothing written, nothing counted, store_changes() unmoved */
    before = store_changes(st);
    assert_int_equal(vm_pass(st, f, 3, 20, &gone), 0);
    assert_int_equal(gone, 0);
    assert_int_equal(store_changes(st) - before, 0);

    /* a VM listed twice in one pass (pages shifting under a listing) counts once at most */
    f[3] = f[0];
    assert_int_equal(vm_pass(st, f, 4, 60, &gone), 0);
    assert_int_equal(gone, 0);

    /* NULL and "" are the same fact */
    f[1].location = NULL;
    f[1].user_assigned_ids = NULL;
    f[2].tags = "{}";
    assert_int_equal(vm_pass(st, f, 3, 70, &gone), 0);
    assert_int_equal(store_changes(st) - before, 0);

    /* a real change is one row, generation + 1, and only then changed_at moves */
    assert_int_equal(store_vm_get(st, VM_A, &v, NULL), ERR_OK);
    assert_int_equal(v.generation, 1);
    assert_int_equal(v.changed_at, 10);
    assert_string_equal(v.subscription_id, SUB);
    store_vm_clear(&v);
    f[0].power_state = "deallocated";
    assert_int_equal(vm_pass(st, f, 3, 80, &gone), 1);
    assert_int_equal(store_vm_get(st, VM_A, &v, NULL), ERR_OK);
    assert_int_equal(v.generation, 2);
    assert_int_equal(v.changed_at, 80);
    store_vm_clear(&v);
    assert_int_equal(vm_pass(st, f, 3, 90, &gone), 0);
}

/* Within one pass the facts found at its first upsert decide what is written: a changed VM
 * is written, an unchanged one is not, a VM listed again with its old facts after a change in
 * the same pass is written back, a VM new in the pass is not marked gone, a missing one is. */
static void test_facts_compared_in_pass(void **state)
{
    struct store *st = ST(state);
    struct store_vm_facts f[4];
    struct store_vm v;
    size_t changed = 0;
    size_t gone = 0;

    subscriptions(st);
    facts(f);
    assert_int_equal(vm_pass(st, f, 3, 10, &gone), 3);

    pass_begin();
    f[0].power_state = "deallocated";
    assert_int_equal(store_vms_upsert(st, pass, f, 3, 20, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
    f[0].power_state = "running"; /* listed again, as it was when the pass began */
    assert_int_equal(store_vms_upsert(st, pass, f, 1, 21, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_vm_get(st, VM_A, &v, NULL), ERR_OK);
    assert_string_equal(v.power_state, "running");
    assert_int_equal(v.generation, 3);
    store_vm_clear(&v);

    /* a VM new in this pass, in SUB2 beside c: nothing there is gone */
    f[3] = f[2];
    f[3].id = "/subscriptions/" SUB2 "/resourceGroups/rg2/providers/Microsoft.Compute/"
              "virtualMachines/d";
    f[3].name = "d";
    assert_int_equal(store_vms_upsert(st, pass, &f[3], 1, 22, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_vms_mark_gone(st, pass, SUB2, 22, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 0);

    /* the next pass lists a and b but not c, d: both are gone, a and b untouched */
    pass_begin();
    assert_int_equal(store_vms_upsert(st, pass, f, 2, 30, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_vms_mark_gone(st, pass, SUB, 30, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 0);
    assert_int_equal(store_vms_mark_gone(st, pass, SUB2, 30, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 2);
    store_seen_free(pass);
    pass = NULL;
}

static void test_extensions(void **state)
{
    struct store *st = ST(state);
    struct store_vm_facts f[3];
    struct store_extension_facts e[2] = {
        {.vm_id = VM_A,
         .name = "AADLoginForWindows",
         .publisher = "Microsoft.Azure.ActiveDirectory",
         .type = "AADLoginForWindows",
         .type_handler_version = "2.0",
         .auto_upgrade_minor = true,
         .provisioning_state = "Succeeded"},
        {.vm_id = VM_C, .name = "other", .publisher = "p", .type = "t"},
    };
    struct store_extension *got = NULL;
    size_t n = 0;
    size_t changed = 0;
    size_t gone = 0;

    subscriptions(st);
    facts(f);
    (void)vm_pass(st, f, 3, 10, &gone);
    assert_int_equal(store_extensions_sync_begin(st, NULL), ERR_OK);
    assert_int_equal(store_extensions_upsert(st, e, 2, 10, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(store_extensions_sync_begin(st, NULL), ERR_OK);
    assert_int_equal(store_extensions_upsert(st, e, 2, 20, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);
    e[0].provisioning_state = "Failed";
    e[0].status_code = "ProvisioningState/failed/1007";
    assert_int_equal(store_extensions_upsert(st, e, 2, 30, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);

    /* a pass that sees only SUB2's extension marks SUB's gone, not SUB2's */
    assert_int_equal(store_extensions_sync_begin(st, NULL), ERR_OK);
    assert_int_equal(store_extensions_upsert(st, &e[1], 1, 40, &changed, NULL), ERR_OK);
    assert_int_equal(store_extensions_mark_gone(st, SUB, 40, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 1);
    assert_int_equal(store_extensions_mark_gone(st, SUB2, 40, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 0);
    assert_int_equal(store_extensions_of_vm(st, VM_A, &got, &n, NULL), ERR_OK);
    assert_int_equal(n, 0);
    store_extension_list_free(got, n);
    /* and it comes back when seen again */
    assert_int_equal(store_extensions_upsert(st, e, 1, 50, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_extensions_of_vm(st, VM_A, &got, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].status_code, "ProvisioningState/failed/1007");
    store_extension_list_free(got, n);
    /* by publisher and type in any case, on the VMs of a key range */
    assert_int_equal(store_extensions_by_type(st, "microsoft.azure.activedirectory",
                                              "AADLOGINFORWINDOWS", "/subscriptions/",
                                              "/subscriptions0", &got, &n, NULL),
                     ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].name, "AADLoginForWindows");
    store_extension_list_free(got, n);
    assert_int_equal(store_extensions_by_type(st, "p", "t", "/subscriptions/" SUB,
                                              "/subscriptions/" SUB "0", &got, &n, NULL),
                     ERR_OK);
    assert_int_equal(n, 0); /* other's VM is in SUB2 */
    store_extension_list_free(got, n);
}

static void test_role_assignments(void **state)
{
    struct store *st = ST(state);
    struct store_role_assignment_facts ra[3] = {
        {.id = VM_A "/providers/Microsoft.Authorization/roleAssignments/r1",
         .name = "r1",
         .scope = VM_A,
         .role_definition_id = LOGIN_ROLE,
         .principal_id = ALICE,
         .principal_type = "User",
         .created_on = 5},
        {.id = "/subscriptions/" SUB2 "/providers/Microsoft.Authorization/roleAssignments/r2",
         .name = "r2",
         .scope = "/subscriptions/" SUB2,
         .role_definition_id = LOGIN_ROLE,
         .principal_id = GROUP,
         .principal_type = "Group"},
        {.id = "/providers/Microsoft.Management/managementGroups/mg/providers/"
               "Microsoft.Authorization/roleAssignments/r3",
         .name = "r3",
         .scope = "/providers/Microsoft.Management/managementGroups/mg",
         .role_definition_id = LOGIN_ROLE,
         .principal_id = ALICE,
         .principal_type = "User"},
    };
    char **ids = NULL;
    size_t n = 0;
    size_t changed = 0;
    size_t gone = 0;

    pass_begin();
    assert_int_equal(store_role_assignments_upsert(st, pass, ra, 3, 10, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 3);
    pass_begin();
    assert_int_equal(store_role_assignments_upsert(st, pass, ra, 3, 20, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);

    /* distinct principals, lower-case, sorted */
    assert_int_equal(store_role_assignment_principal_ids(st, &ids, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "6b7c8d9e-0000-4000-8000-00000000d001");
    assert_string_equal(ids[1], GROUP);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);

    /* a pass that saw only r1: SUB2's r2 goes with SUB2's listing, r3 with the scopes above */
    pass_begin();
    assert_int_equal(store_role_assignments_upsert(st, pass, ra, 1, 30, &changed, NULL), ERR_OK);
    assert_int_equal(store_role_assignments_mark_gone(st, pass, SUB, 30, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 0);
    assert_int_equal(store_role_assignments_mark_gone(st, pass, SUB2, 30, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 1);
    assert_int_equal(store_role_assignments_mark_gone(st, pass, NULL, 30, &gone, NULL), ERR_OK);
    assert_int_equal(gone, 1);
    assert_int_equal(store_role_assignment_principal_ids(st, &ids, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    free(ids[0]);
    free(ids);
}

static struct store_principal_row principal(struct store *st, const char *id)
{
    struct store_principal_row p = {0};

    assert_int_equal(store_access_principal_find(st, id, &p, NULL), ERR_OK);
    return p;
}

static void test_principals_user_type_and_enabled(void **state)
{
    struct store *st = ST(state);
    struct store_principal_facts p[2] = {
        {.id = GUEST,
         .kind = "user",
         .upn = "dave_fabrikam.example#EXT#@contoso.example",
         .display_name = "Dave",
         .user_type = "Guest",
         .has_account_enabled = true,
         .account_enabled = true},
        {.id = ALICE, .kind = "user", .upn = "alice@contoso.example", .display_name = "Alice"},
    };
    struct store_principal_row r;
    size_t changed = 0;
    bool ch = false;

    assert_int_equal(store_principals_upsert(st, p, 2, 10, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 2);
    r = principal(st, GUEST);
    assert_string_equal(r.user_type, "Guest");
    assert_int_equal(r.account_enabled, 1);
    store_principal_row_clear(&r);
    r = principal(st, "ALICE@contoso.example");
    assert_string_equal(r.user_type, "");
    assert_int_equal(r.account_enabled, -1); /* never looked up */
    store_principal_row_clear(&r);

    /* same facts: nothing written */
    assert_int_equal(store_principals_upsert(st, p, 2, 20, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);
    /* a listing that did not select them keeps them, and writes nothing */
    p[0].user_type = NULL;
    p[0].has_account_enabled = false;
    assert_int_equal(store_principals_upsert(st, p, 1, 30, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);
    r = principal(st, GUEST);
    assert_string_equal(r.user_type, "Guest");
    assert_int_equal(r.account_enabled, 1);
    store_principal_row_clear(&r);
    /* disabled now: one row */
    p[0].has_account_enabled = true;
    p[0].account_enabled = false;
    p[1].user_type = "Member";
    assert_int_equal(store_principals_upsert(st, p, 2, 40, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 2);
    r = principal(st, GUEST);
    assert_string_equal(r.user_type, "Guest");
    assert_int_equal(r.account_enabled, 0);
    store_principal_row_clear(&r);

    /* deleted, then seen again */
    assert_int_equal(store_principal_mark_deleted(st, GUEST, "soft", 50, &ch, NULL), ERR_OK);
    assert_true(ch);
    assert_int_equal(store_principal_mark_deleted(st, GUEST, "soft", 60, &ch, NULL), ERR_OK);
    assert_false(ch);
    assert_int_equal(store_principal_mark_deleted(st, "unknown", "gone", 60, &ch, NULL), ERR_OK);
    assert_false(ch);
    assert_int_equal(store_principals_upsert(st, p, 2, 70, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
    r = principal(st, GUEST);
    assert_string_equal(r.deleted, "none");
    store_principal_row_clear(&r);
}

static void test_group_members(void **state)
{
    struct store *st = ST(state);
    struct store_principal_facts g = {.id = GROUP, .kind = "group", .display_name = "VM Admins"};
    struct store_member_facts m[2] = {{.member_id = ALICE, .member_kind = "user"},
                                      {.member_id = GUEST, .member_kind = "user"}};
    int64_t principals = 0;
    int64_t members = 0;
    size_t changed = 0;

    assert_int_equal(store_principals_upsert(st, &g, 1, 10, NULL, NULL), ERR_OK);
    assert_int_equal(store_group_members_sync_begin(st, NULL), ERR_OK);
    assert_int_equal(store_group_members_replace(st, GROUP, m, 2, 10, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(store_group_members_replace(st, GROUP, m, 2, 20, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);
    assert_true(store_access_is_member(st, GROUP, "6b7c8d9e-0000-4000-8000-00000000d001"));
    /* one member left: the other row goes */
    assert_int_equal(store_group_members_replace(st, GROUP, m, 1, 30, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
    assert_false(store_access_is_member(st, GROUP, GUEST));
    assert_int_equal(store_principals_count(st, &principals, &members, NULL), ERR_OK);
    assert_int_equal(principals, 1);
    assert_int_equal(members, 1);
    /* prune after a pass that refreshed the group keeps it; one that did not drops its rows */
    assert_int_equal(store_group_members_prune(st, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_group_members_sync_begin(st, NULL), ERR_OK);
    assert_int_equal(store_group_members_prune(st, &changed, NULL), ERR_OK);
    assert_int_equal(changed, 1);
}

static void test_sync_runs(void **state)
{
    struct store *st = ST(state);
    struct store_sync_run a = {.started_at = 100};
    struct store_sync_run b = {.started_at = 200};
    struct store_sync_run latest;
    struct store_sync_run done;

    assert_int_equal(store_sync_run_latest(st, &latest, &done, NULL), ERR_NOT_FOUND);
    assert_int_equal(store_sync_run_start(st, &a, NULL), ERR_OK);
    assert_true(a.id > 0);
    assert_int_equal(store_sync_run_latest(st, &latest, &done, NULL), ERR_OK);
    assert_string_equal(latest.state, "running");
    assert_int_equal(done.id, 0);
    /* a run left running (the daemon stopped) is failed "interrupted" by the next start */
    assert_int_equal(store_sync_run_start(st, &b, NULL), ERR_OK);
    assert_int_equal(store_sync_run_latest(st, &latest, &done, NULL), ERR_OK);
    assert_int_equal(latest.id, b.id);
    assert_int_equal(done.id, a.id);
    assert_string_equal(done.state, "failed");
    assert_string_equal(done.last_error, "interrupted");
    snprintf(b.state, sizeof(b.state), "succeeded");
    b.finished_at = 300;
    b.vms_seen = 7;
    b.rows_written = 3;
    assert_int_equal(store_sync_run_update(st, &b, NULL), ERR_OK);
    assert_int_equal(store_sync_run_latest(st, &latest, &done, NULL), ERR_OK);
    assert_int_equal(done.id, b.id);
    assert_int_equal(done.vms_seen, 7);
    assert_int_equal(done.rows_written, 3);
    assert_int_equal(done.finished_at, 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unchanged_vm_pass_counts_zero, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_facts_compared_in_pass, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_extensions, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_role_assignments, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_principals_user_type_and_enabled, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_group_members, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sync_runs, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
