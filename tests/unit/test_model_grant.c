/* test_model_grant.c: grant validation without I/O: scope forms and normalisation (management
 * groups refused with the reason), roles, principal forms, expiry bounds, the body's shape,
 * deterministic UUIDv5 names, and which directory principals may receive a login role. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/model_grant.h"

#define SUB "0b1f6471-1bf0-4dda-aec3-111122223333"
#define NOW 1800000000000LL

static bool has_code(const struct violations *vs, const char *field, const char *code)
{
    for (size_t i = 0; i < vs->n; i++) {
        if (strcmp(vs->v[i].field, field) == 0 && strcmp(vs->v[i].code, code) == 0)
            return true;
    }
    return false;
}

static void test_scope_forms(void **state)
{
    struct model_scope s;
    struct violations vs;

    (void)state;
    violations_init(&vs);
    assert_true(model_scope_parse("/subscriptions/" SUB, &s, &vs, "scope"));
    assert_int_equal(s.kind, MODEL_SCOPE_SUBSCRIPTION);
    assert_string_equal(s.arm, "/subscriptions/" SUB);
    assert_true(model_scope_parse("/SUBSCRIPTIONS/0B1F6471-1BF0-4DDA-AEC3-111122223333/"
                                  "resourcegroups/Rg-App/",
                                  &s, &vs, "scope"));
    assert_int_equal(s.kind, MODEL_SCOPE_RESOURCE_GROUP);
    assert_string_equal(s.arm, "/subscriptions/" SUB "/resourceGroups/Rg-App");
    assert_string_equal(s.key, "/subscriptions/" SUB "/resourcegroups/rg-app");
    /* the ARM VM id and the short form normalise to the same ARM id */
    assert_true(model_scope_parse("/subscriptions/" SUB "/resourceGroups/rg/providers/"
                                  "microsoft.compute/VirtualMachines/vm1",
                                  &s, &vs, "scope"));
    assert_string_equal(s.arm,
                        "/subscriptions/" SUB
                        "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1");
    assert_true(model_scope_parse("/subscriptions/" SUB "/resourceGroups/rg/virtualMachines/vm1",
                                  &s, &vs, "scope"));
    assert_int_equal(s.kind, MODEL_SCOPE_VM);
    assert_string_equal(s.vm, "vm1");
    assert_int_equal(vs.n, 0);
}

static void test_scope_refusals(void **state)
{
    static const char *const bad[] = {
        "",
        "subscriptions/" SUB,
        "/subscriptions/not-a-guid",
        "/subscriptions/" SUB "/resourceGroups",
        "/subscriptions/" SUB "/resourceGroups/rg/providers/Microsoft.Network/vnets/x",
        "/subscriptions/" SUB "/resourceGroups/rg./",
        "/subscriptions/" SUB "//resourceGroups/rg",
        "/subscriptions/" SUB "/resourceGroups/r g",
        "/subscriptions/" SUB "/resourceGroups/rg/virtualMachines/bad name",
        "/",
    };
    struct model_scope s;
    struct violations vs;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        violations_init(&vs);
        assert_false(model_scope_parse(bad[i], &s, &vs, "scope"));
        assert_true(has_code(&vs, "scope", "invalid_scope"));
    }
    violations_init(&vs);
    assert_false(model_scope_parse("/providers/Microsoft.Management/managementGroups/mg1", &s, &vs,
                                   "scope"));
    assert_true(has_code(&vs, "scope", "management_group_scope"));
    assert_non_null(strstr(vs.v[0].msg, "dataActions"));
    assert_false(model_scope_parse(NULL, &s, NULL, "scope")); /* NULL list is allowed */
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(model_grant_role_parse("administrator"), MODEL_GRANT_ROLE_ADMIN);
    assert_int_equal(model_grant_role_parse("user"), MODEL_GRANT_ROLE_USER);
    assert_int_equal(model_grant_role_parse("owner"), MODEL_GRANT_ROLE_NONE);
    assert_int_equal(model_grant_role_parse("Administrator"), MODEL_GRANT_ROLE_NONE);
    assert_int_equal(
        model_grant_role_from_definition("/subscriptions/" SUB "/providers/Microsoft.Authorization/"
                                         "roleDefinitions/1C0163C0-47E6-4577-8991-EA5C82E286E4"),
        MODEL_GRANT_ROLE_ADMIN);
    assert_int_equal(model_grant_role_from_definition(MODEL_GRANT_ROLE_USER_GUID),
                     MODEL_GRANT_ROLE_USER);
    /* Owner and Contributor never count as login */
    assert_int_equal(model_grant_role_from_definition("8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
                     MODEL_GRANT_ROLE_NONE);
    assert_int_equal(model_grant_role_from_definition("b24988ac-6180-42a0-ab88-20f7382dd24c"),
                     MODEL_GRANT_ROLE_NONE);
    assert_string_equal(model_grant_principal_type_arm("servicePrincipal"), "ServicePrincipal");
    assert_null(model_grant_principal_type_arm("device"));
    assert_string_equal(model_grant_principal_type_api("Group"), "group");
}

static bool validate_text(const char *body, int64_t max_s, struct model_grant_spec *spec,
                          struct violations *vs)
{
    json_error_t e;
    json_t *root = json_loads(body, JSON_REJECT_DUPLICATES, &e);
    struct model_grant_request rq;
    bool ok;

    assert_non_null(root);
    violations_init(vs);
    ok = model_grant_request_from_json(root, &rq, vs) &&
         model_grant_validate(&rq, NOW, max_s, spec, vs);
    /* spec borrows from root only through justification: copy-free checks happen here */
    if (ok && spec->justification[0] != '\0')
        assert_non_null(spec->justification);
    json_decref(root);
    return ok;
}

static void test_request_ok(void **state)
{
    struct model_grant_spec spec;
    struct violations vs;

    (void)state;
    assert_true(validate_text("{\"scope\":\"/subscriptions/" SUB "/resourceGroups/rg\","
                              "\"role\":\"user\",\"principal\":{\"upn\":\"alice@contoso.com\"},"
                              "\"expiresAt\":\"2027-02-01T08:00:00Z\"}",
                              86400 * 90, &spec, &vs));
    assert_int_equal(spec.role, MODEL_GRANT_ROLE_USER);
    assert_string_equal(spec.upn, "alice@contoso.com");
    assert_true(spec.expires_at > NOW);
    assert_true(
        validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"administrator\","
                      "\"principal\":{\"objectId\":\"AAAAAAAA-1111-2222-3333-444444444444\","
                      "\"type\":\"group\"}}",
                      60, &spec, &vs));
    assert_string_equal(spec.object_id, "aaaaaaaa-1111-2222-3333-444444444444");
    assert_string_equal(spec.principal_type, "Group");
    assert_int_equal(spec.expires_at, 0);
}

/* principal.id is the Principal schema's name for objectId: either, or both when they agree */
static void test_request_principal_id(void **state)
{
    struct model_grant_spec spec;
    struct violations vs;

    (void)state;
    assert_true(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                              "\"principal\":{\"id\":\"AAAAAAAA-1111-2222-3333-444444444444\"}}",
                              60, &spec, &vs));
    assert_string_equal(spec.object_id, "aaaaaaaa-1111-2222-3333-444444444444");
    assert_true(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                              "\"principal\":{\"id\":\"" SUB "\",\"objectId\":\"" SUB "\"}}",
                              60, &spec, &vs));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                               "\"principal\":{\"id\":\"AAAAAAAA-1111-2222-3333-444444444444\","
                               "\"objectId\":\"" SUB "\"}}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "principal.id", "conflicting_fields"));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                               "\"principal\":{\"id\":\"nope\"}}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "principal.id", "invalid_object_id"));
}

static void test_request_refusals(void **state)
{
    struct model_grant_spec spec;
    struct violations vs;

    (void)state;
    assert_false(validate_text("[]", 60, &spec, &vs));
    assert_false(validate_text("{}", 60, &spec, &vs));
    assert_true(has_code(&vs, "scope", "required"));
    assert_true(has_code(&vs, "role", "required"));
    assert_true(has_code(&vs, "principal", "required"));
    assert_false(validate_text("{\"scope\":1,\"role\":\"owner\",\"principal\":{\"upn\":\"a@b\","
                               "\"objectId\":\"" SUB "\"},\"extra\":true}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "scope", "wrong_type"));
    assert_true(has_code(&vs, "extra", "unknown_field"));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"owner\","
                               "\"principal\":{\"upn\":\"a@b\",\"objectId\":\"" SUB "\"}}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "role", "unknown_role"));
    assert_true(has_code(&vs, "principal", "one_of_required"));
    assert_false(validate_text("{\"scope\":\"/providers/Microsoft.Management/managementGroups/m\","
                               "\"role\":\"user\",\"principal\":{\"upn\":\"nobody\"}}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "scope", "management_group_scope"));
    assert_true(has_code(&vs, "principal.upn", "invalid_upn"));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                               "\"principal\":{\"objectId\":\"nope\",\"type\":\"device\"},"
                               "\"expiresAt\":\"yesterday\"}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "principal.objectId", "invalid_object_id"));
    assert_true(has_code(&vs, "principal.type", "invalid_principal_type"));
    assert_true(has_code(&vs, "expiresAt", "invalid_time"));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                               "\"principal\":{\"upn\":\"a@b\"},"
                               "\"expiresAt\":\"2020-01-01T00:00:00Z\"}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "expiresAt", "expiry_in_past"));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                               "\"principal\":{\"upn\":\"a@b\"},"
                               "\"expiresAt\":\"2099-01-01T00:00:00Z\"}",
                               86400, &spec, &vs));
    assert_true(has_code(&vs, "expiresAt", "expiry_too_far"));
    assert_false(validate_text("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                               "\"principal\":{\"upn\":\"a@b\",\"type\":\"group\"}}",
                               60, &spec, &vs));
    assert_true(has_code(&vs, "principal.type", "invalid_principal_type"));
}

/* PATCH body: one required future expiry within the maximum; every refusal names its field. */
static void change_case(const char *body, bool ok, const char *code)
{
    json_t *j = json_loads(body, 0, NULL);
    struct violations vs;
    int64_t exp = -1;

    assert_non_null(j);
    violations_init(&vs);
    assert_int_equal(model_grant_change_from_json(j, NOW, 7776000, &exp, &vs), ok);
    if (ok) {
        assert_true(exp > NOW);
        assert_int_equal(vs.n, 0);
    } else {
        assert_true(vs.n >= 1);
        assert_string_equal(vs.v[0].code, code);
    }
    json_decref(j);
}

static void test_change(void **state)
{
    (void)state;
    /* NOW is 2027-01-15T08:00:00Z */
    change_case("{\"expiresAt\":\"2027-01-16T08:00:00Z\"}", true, NULL);
    change_case("{\"expiresAt\":\"2027-01-14T08:00:00Z\"}", false, "expiry_in_past");
    change_case("{\"expiresAt\":\"2028-01-16T08:00:00Z\"}", false, "expiry_too_far");
    change_case("{\"expiresAt\":\"tomorrow\"}", false, "invalid_time");
    change_case("{\"expiresAt\":7}", false, "wrong_type");
    change_case("{\"expiresAt\":null}", false, "required");
    change_case("{}", false, "required");
    change_case("[]", false, "wrong_type");
    change_case("{\"expiresAt\":\"2027-01-16T08:00:00Z\",\"role\":\"user\"}", false,
                "unknown_field");
}

static void test_names(void **state)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN], c[UUID_STR_LEN], p[UUID_STR_LEN];

    (void)state;
    model_grant_assignment_name("/subscriptions/" SUB "/resourceGroups/RG", MODEL_GRANT_ROLE_ADMIN,
                                "AAAAAAAA-1111-2222-3333-444444444444", a);
    model_grant_assignment_name("/subscriptions/" SUB "/resourcegroups/rg", MODEL_GRANT_ROLE_ADMIN,
                                "aaaaaaaa-1111-2222-3333-444444444444", b);
    model_grant_assignment_name("/subscriptions/" SUB "/resourcegroups/rg", MODEL_GRANT_ROLE_USER,
                                "aaaaaaaa-1111-2222-3333-444444444444", c);
    model_grant_pending_name("/subscriptions/" SUB "/resourcegroups/rg", MODEL_GRANT_ROLE_USER,
                             "Alice@Contoso.com", p);
    assert_true(uuid_is_valid(a));
    assert_string_equal(a, b); /* case never changes the name */
    assert_string_not_equal(a, c);
    assert_string_not_equal(c, p);
    assert_int_equal(a[14], '5'); /* version 5 */
    /* fixed forever (Python uuid5 agrees): a change would orphan every assignment made so far */
    assert_string_equal(a, "28e03ea9-c56a-5ebb-856e-98228bdbd1d2");
}

static void test_principal_check(void **state)
{
    struct err_detail d;
    struct model_principal_facts ok = {
        .kind = "user", .user_type = "Member", .account_enabled = 1, .deleted = "none"};
    struct model_principal_facts guest = {
        .kind = "user", .user_type = "Guest", .account_enabled = 1};
    struct model_principal_facts off = {
        .kind = "user", .user_type = "Member", .account_enabled = 0};
    struct model_principal_facts soft = {.kind = "user", .account_enabled = 1, .deleted = "soft"};
    struct model_principal_facts dev = {.kind = "device", .account_enabled = -1};
    struct model_principal_facts grp = {.kind = "group", .account_enabled = -1};

    (void)state;
    assert_int_equal(model_grant_principal_check(&ok, &d), ERR_OK);
    assert_int_equal(model_grant_principal_check(&grp, &d), ERR_OK);
    assert_int_equal(model_grant_principal_check(&guest, &d), ERR_INVALID);
    assert_string_equal(d.code, "guest_principal");
    assert_int_equal(model_grant_principal_check(&off, &d), ERR_INVALID);
    assert_string_equal(d.code, "principal_disabled");
    assert_int_equal(model_grant_principal_check(&soft, &d), ERR_INVALID);
    assert_string_equal(d.code, "principal_deleted");
    assert_int_equal(model_grant_principal_check(&dev, &d), ERR_INVALID);
    assert_string_equal(d.code, "principal_type_unsupported");
    assert_true(model_grant_state_is_live("revoking"));
    assert_false(model_grant_state_is_live("failed"));
    assert_false(model_grant_state_valid("gone"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_forms),
        cmocka_unit_test(test_scope_refusals),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_request_ok),
        cmocka_unit_test(test_request_principal_id),
        cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_change),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_principal_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
