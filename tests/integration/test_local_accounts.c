/* Unapproved local accounts (issue 16 item 3): with allowedLocalAccounts on the VM's entraLogin
 * setting, the local members of Administrators and Remote Desktop Users that on-VM diagnostics
 * saw and the list does not name are reported in GET .../signIn (check onVmLocalAccounts and
 * "localAccounts"), counted in GET /v1/compliance and written as one audit row
 * vm.localAccounts.unapproved; an Entra member and an allowed account are not reported. */
#include "test_login_common.h"

#define VM "win10-desk-01"

struct audit_find {
    struct lctx *c;
    const char *target_needle;
    json_t *details;
};

static bool audit_has(void *arg)
{
    struct audit_find *f = arg;
    json_t *j = api(f->c, "GET", "/v1/audit?limit=1000", NULL, 200, NULL, 0);
    size_t i;
    json_t *row;

    json_array_foreach(json_object_get(j, "value"), i, row)
    {
        const char *action = json_string_value(json_object_get(row, "action"));
        const char *target = json_string_value(json_object_get(row, "target"));
        if (f->details == NULL && action && target &&
            strcmp(action, "vm.localAccounts.unapproved") == 0 &&
            strcasestr(target, f->target_needle) != NULL)
            f->details = json_incref(json_object_get(row, "details"));
    }
    json_decref(j);
    return f->details != NULL;
}

static void run_diagnostics(struct lctx *c)
{
    char loc[256];
    json_t *op;

    json_decref(api(c, "POST", VM_API(RG, VM) "/diagnostics", NULL, 202, loc, sizeof(loc)));
    op = h_wait_field(c->d.p.url, c->key, loc, "status", "Succeeded|Failed", 30000);
    assert_string_equal(h_jstr(op, "status"), "Succeeded");
    json_decref(op);
}

static void test_unapproved_reported(void **state)
{
    struct lctx c;
    char op[64], facts[600], path[700];
    json_t *j, *la, *u, *check = NULL, *tot;
    struct audit_find f = {.c = &c, .target_needle = VM};
    const char *cn;
    size_t i;
    json_t *e;
    (void)state;

    lctx_start(&c, "0.02", NULL);
    j = login_call(&c, "PUT", VM_API(RG, VM), "{\"allowedLocalAccounts\":[\"admin-breakglass\"]}",
                   op, sizeof(op));
    json_decref(j);
    json_decref(wait_op(&c, op, 30000));
    j = api(&c, "GET", VM_API(RG, VM), NULL, 200, NULL, 0);
    cn = h_jstr(j, "computerName");
    assert_true(cn[0] != '\0');
    /* azsim's check script lists "<cn>\azureuser" first, then these */
    snprintf(facts, sizeof(facts),
             "{\"facts\":{\"localAdministrators\":[\"%s\\\\admin-breakglass\","
             "\"AzureAD\\\\alice@contoso.example\"],\"remoteDesktopUsers\":[\"%s\\\\helpdesk\"]}}",
             cn, cn);
    json_decref(j);
    snprintf(path, sizeof(path), "/_sim/vms?id=%s", VM_ARM(RG, VM));
    json_decref(sim(&c, "PATCH", path, facts));
    run_diagnostics(&c);

    j = api(&c, "GET", VM_API(RG, VM) "/signIn?principal=alice@contoso.example", NULL, 200, NULL,
            0);
    la = json_object_get(j, "localAccounts");
    assert_non_null(la);
    assert_non_null(strcasestr(h_jstr(la, "policyScope"), VM));
    u = json_object_get(la, "unapproved");
    assert_int_equal(json_array_size(u), 2);
    assert_string_equal(h_jstr(json_array_get(u, 0), "name"), "azureuser");
    assert_string_equal(h_jstr(json_array_get(u, 1), "name"), "helpdesk");
    json_array_foreach(json_object_get(j, "checks"), i, e)
    {
        if (strcmp(h_jstr(e, "id"), "onVmLocalAccounts") == 0)
            check = e;
    }
    assert_non_null(check);
    assert_string_equal(h_jstr(check, "status"), "warn");
    json_decref(j);

    j = api(&c, "GET", "/v1/compliance", NULL, 200, NULL, 0);
    tot = json_object_get(json_object_get(j, "total"), "localAccounts");
    assert_int_equal(json_integer_value(json_object_get(tot, "vmsChecked")), 1);
    assert_int_equal(json_integer_value(json_object_get(tot, "vmsWithUnapproved")), 1);
    assert_int_equal(json_integer_value(json_object_get(tot, "unapproved")), 2);
    json_decref(j);

    if (!h_poll(audit_has, &f, 10000))
        fail_msg("no audit row vm.localAccounts.unapproved");
    assert_int_equal(json_array_size(json_object_get(f.details, "unapproved")), 2);
    json_decref(f.details);

    /* both allowed now: nothing unapproved, the check passes */
    j = login_call(&c, "PUT", VM_API(RG, VM),
                   "{\"allowedLocalAccounts\":[\"admin-breakglass\",\"azureuser\",\"helpdesk\"]}",
                   op, sizeof(op));
    json_decref(j);
    j = api(&c, "GET", VM_API(RG, VM) "/signIn?principal=alice@contoso.example", NULL, 200, NULL,
            0);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(j, "localAccounts"), "unapproved")), 0);
    json_decref(j);

    /* a bad name is named */
    j = api(&c, "PUT", VM_API(RG, VM) "/entraLogin", "{\"allowedLocalAccounts\":[\"a/b\"]}", 400,
            NULL, 0);
    assert_string_equal(h_jstr(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "allowedLocalAccounts[0]");
    json_decref(j);
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unapproved_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
