/* "Why can't she sign in?": each check of model_signin_evaluate on its own (the seed's
 * causes one by one), sections vmlogind may not read (unknown, naming the permission), and the
 * verdict rule (fail beats unknown beats warn). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmlogind/model.h"
#include "vmlogind/model_signin.h"

#define VM "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v"
#define UID "0b1c2d3e-0000-4000-8000-000000000001"

static const char *good_dir =
    "{\"user\": {\"status\": \"ok\", \"value\": {\"id\": \"" UID "\", \"userPrincipalName\": "
    "\"alice@contoso.com\", \"userType\": \"Member\", \"accountEnabled\": true}},"
    " \"devices\": {\"status\": \"ok\", \"value\": [{\"id\": \"d1\", \"deviceId\": \"x\", "
    "\"displayName\": \"win-vm-01\", \"trustType\": \"AzureAd\", \"accountEnabled\": true}]},"
    " \"policies\": {\"status\": \"ok\", \"value\": []},"
    " \"signIns\": {\"status\": \"ok\", \"value\": []}}";

struct fx {
    struct model_signin_vm vm;
    struct model_signin_role role;
    json_t *dir;
};

static void fx_init(struct fx *f)
{
    f->vm = (struct model_signin_vm){.id = VM,
                                     .computer_name = "win-vm-01",
                                     .power_state = "running",
                                     .os_support = MODEL_OS_SUPPORTED,
                                     .os_reason = "Windows Server 2022",
                                     .has_system_identity = true,
                                     .extension_present = true,
                                     .extension_state = "Succeeded"};
    f->role = (struct model_signin_role){.role = MODEL_GRANT_ROLE_USER,
                                         .scope = "/subscriptions/s/resourceGroups/rg",
                                         .scope_kind = "resourceGroup"};
    f->dir = json_loads(good_dir, 0, NULL);
    assert_non_null(f->dir);
}

static json_t *eval(struct fx *f)
{
    struct model_signin_input in = {
        .principal = "alice@contoso.com", .vm = &f->vm, .role = &f->role, .directory = f->dir};
    return model_signin_evaluate(&in);
}

static const json_t *find(const json_t *r, const char *id)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(r, "checks"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            return c;
    }
    fail_msg("no check %s", id);
    return NULL;
}

static const char *status_of(const json_t *r, const char *id)
{
    return json_string_value(json_object_get(find(r, id), "status"));
}

static const char *verdict(const json_t *r)
{
    return json_string_value(json_object_get(r, "verdict"));
}

/* Sets a directory section from JSON text. */
static void set(struct fx *f, const char *section, const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    json_object_set_new(f->dir, section, v);
}

static void test_all_good(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    r = eval(&f);
    assert_string_equal(verdict(r), "canSignIn");
    assert_int_equal(json_array_size(json_object_get(r, "blocking")), 0);
    const json_t *role = json_object_get(find(r, "loginRole"), "evidence");
    assert_string_equal(json_string_value(json_object_get(role, "via")), "direct");
    assert_true(json_is_true(json_object_get(role, "inherited")));
    assert_string_equal(json_string_value(json_object_get(role, "roleName")),
                        "Virtual Machine User Login");
    json_decref(r);
    json_decref(f.dir);
}

static void test_account_failures(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    set(&f, "user",
        "{\"status\":\"ok\",\"value\":{\"id\":\"u\",\"userType\":\"Guest\",\"accountEnabled\":true}"
        "}");
    r = eval(&f);
    assert_string_equal(verdict(r), "cannotSignIn");
    assert_string_equal(status_of(r, "memberNotGuest"), "fail");
    assert_non_null(strstr(json_string_value(json_object_get(find(r, "memberNotGuest"), "reason")),
                           "guest accounts can't connect"));
    json_decref(r);
    set(&f, "user",
        "{\"status\":\"ok\",\"value\":{\"id\":\"u\",\"userType\":\"Member\","
        "\"accountEnabled\":false}}");
    r = eval(&f);
    assert_string_equal(status_of(r, "accountEnabled"), "fail");
    assert_string_equal(status_of(r, "memberNotGuest"), "pass");
    json_decref(r);
    set(&f, "user", "{\"status\":\"notFound\"}");
    r = eval(&f);
    assert_string_equal(status_of(r, "accountExists"), "fail");
    assert_string_equal(verdict(r), "cannotSignIn");
    json_decref(r);
    json_decref(f.dir);
}

static void test_no_role_names_the_grant(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    f.role.role = MODEL_GRANT_ROLE_NONE;
    r = eval(&f);
    assert_string_equal(verdict(r), "cannotSignIn");
    assert_string_equal(status_of(r, "loginRole"), "fail");
    assert_non_null(strstr(json_string_value(json_object_get(find(r, "loginRole"), "fix")),
                           "POST /v1/loginGrants"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "blocking"), 0)),
                        "loginRole");
    json_decref(r);
    json_decref(f.dir);
    fx_init(&f);
    f.role.via_group = "g1";
    f.role.scope_kind = "vm";
    r = eval(&f);
    const json_t *ev = json_object_get(find(r, "loginRole"), "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "via")), "group");
    assert_true(json_is_false(json_object_get(ev, "inherited")));
    json_decref(r);
    json_decref(f.dir);
}

static void test_vm_failures(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    f.vm.power_state = "deallocated";
    r = eval(&f);
    assert_string_equal(status_of(r, "vmRunning"), "fail");
    json_decref(r);
    f.vm.power_state = "running";
    f.vm.extension_state = "Failed";
    f.vm.extension_code = "ProvisioningState/failed/1007";
    f.vm.extension_message = "exit code -2145648574";
    r = eval(&f);
    assert_string_equal(status_of(r, "extension"), "fail");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(find(r, "extension"), "evidence"), "name")),
                        "DSREG_E_MSI_TENANTID_UNAVAILABLE");
    json_decref(r);
    f.vm.has_system_identity = false; /* the seed: identity off before the install */
    r = eval(&f);
    assert_string_equal(status_of(r, "systemIdentity"), "fail");
    json_decref(r);
    f.vm.has_system_identity = true;
    f.vm.extension_present = false;
    r = eval(&f);
    assert_string_equal(status_of(r, "extension"), "fail");
    assert_non_null(
        strstr(json_string_value(json_object_get(find(r, "extension"), "fix")), "entraLogin"));
    json_decref(r);
    f.vm.extension_present = true;
    f.vm.extension_state = "Creating";
    r = eval(&f);
    assert_string_equal(status_of(r, "extension"), "unknown");
    assert_string_equal(verdict(r), "unknown");
    json_decref(r);
    f.vm.extension_state = "Succeeded";
    f.vm.os_support = MODEL_OS_UNSUPPORTED;
    r = eval(&f);
    assert_string_equal(status_of(r, "osSupported"), "fail");
    json_decref(r);
    json_decref(f.dir);
}

static void test_device(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    set(&f, "devices", "{\"status\":\"ok\",\"value\":[]}");
    r = eval(&f);
    assert_string_equal(status_of(r, "device"), "fail");
    json_decref(r);
    set(&f, "devices",
        "{\"status\":\"ok\",\"value\":[{\"id\":\"a\",\"trustType\":\"AzureAd\","
        "\"accountEnabled\":false}]}");
    r = eval(&f);
    assert_string_equal(status_of(r, "device"), "fail");
    assert_non_null(
        strstr(json_string_value(json_object_get(find(r, "device"), "reason")), "disabled"));
    json_decref(r);
    set(&f, "devices",
        "{\"status\":\"ok\",\"value\":[{\"id\":\"a\",\"trustType\":\"AzureAd\"},"
        "{\"id\":\"b\",\"trustType\":\"AzureAd\"}]}");
    r = eval(&f);
    assert_non_null(strstr(json_string_value(json_object_get(find(r, "device"), "reason")),
                           "hostname duplication"));
    json_decref(r);
    json_decref(f.dir);
}

static void test_conditional_access(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    set(&f, "policies",
        "{\"status\":\"ok\",\"value\":[{\"id\":\"p1\",\"displayName\":\"MFA for VMs\","
        "\"state\":\"enabled\",\"conditions\":{\"applications\":{\"includeApplications\":"
        "[\"" MODEL_SIGNIN_APP_ID "\"]},\"users\":{\"includeUsers\":[\"All\"]}},"
        "\"grantControls\":{\"operator\":\"OR\",\"builtInControls\":[\"mfa\"]}},"
        "{\"id\":\"p2\",\"state\":\"enabled\",\"conditions\":{\"applications\":"
        "{\"includeApplications\":[\"other\"]},\"users\":{\"includeUsers\":[\"All\"]}},"
        "\"grantControls\":{\"builtInControls\":[\"block\"]}}]}");
    r = eval(&f);
    assert_string_equal(status_of(r, "conditionalAccess"), "warn");
    assert_string_equal(status_of(r, "client"), "warn");
    assert_string_equal(verdict(r), "canSignIn"); /* warn never blocks */
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(find(r, "conditionalAccess"), "evidence"), "policies")),
                     1);
    json_decref(r);
    /* excluded: the policy does not apply to her */
    set(&f, "policies",
        "{\"status\":\"ok\",\"value\":[{\"id\":\"p1\",\"state\":\"enabled\",\"conditions\":"
        "{\"applications\":{\"includeApplications\":[\"All\"]},\"users\":{\"includeUsers\":"
        "[\"All\"],\"excludeUsers\":[\"" UID "\"]}},\"grantControls\":{\"builtInControls\":"
        "[\"block\"]}}]}");
    r = eval(&f);
    assert_string_equal(status_of(r, "conditionalAccess"), "pass");
    json_decref(r);
    json_decref(f.dir);
}

static void test_signins_and_permissions(void **state)
{
    struct fx f;
    json_t *r;
    (void)state;

    fx_init(&f);
    set(&f, "signIns",
        "{\"status\":\"ok\",\"value\":[{\"createdDateTime\":\"2026-12-01T10:00:00Z\","
        "\"status\":{\"errorCode\":53003}},{\"status\":{\"errorCode\":0}}]}");
    r = eval(&f);
    assert_string_equal(status_of(r, "recentSignIns"), "fail");
    assert_non_null(strstr(json_string_value(json_object_get(find(r, "recentSignIns"), "reason")),
                           "BlockedByConditionalAccess"));
    json_decref(r);
    assert_non_null(strstr(model_signin_error_meaning(50158), "ExternalSecurityChallenge"));
    assert_null(model_signin_error_meaning(1));
    set(&f, "policies", "{\"status\":\"denied\",\"permission\":\"Policy.Read.All\"}");
    set(&f, "signIns", "{\"status\":\"ok\",\"value\":[{\"status\":{\"errorCode\":0}}]}");
    r = eval(&f);
    assert_string_equal(status_of(r, "conditionalAccess"), "unknown");
    assert_string_equal(
        json_string_value(json_object_get(find(r, "conditionalAccess"), "permission")),
        "Policy.Read.All");
    assert_string_equal(verdict(r), "unknown");
    json_decref(r);
    json_decref(f.dir);
    /* nothing read yet: unknown, never a guess */
    fx_init(&f);
    json_decref(f.dir);
    f.dir = NULL;
    r = eval(&f);
    assert_string_equal(verdict(r), "unknown");
    assert_string_equal(status_of(r, "accountExists"), "unknown");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_good),
        cmocka_unit_test(test_account_failures),
        cmocka_unit_test(test_no_role_names_the_grant),
        cmocka_unit_test(test_vm_failures),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_conditional_access),
        cmocka_unit_test(test_signins_and_permissions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
