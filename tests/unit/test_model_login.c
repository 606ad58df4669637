/* Entra login domain: the settings body (defaults, unknown fields, wrong types), tag
 * exclusions, version order, the preflight checks one by one, the failure diagnosis table
 * (seed codes, Azure's message shapes, unknown codes verbatim) and the API login state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmlogind/model_login.h"

static bool has_violation(const struct violations *vs, const char *field, const char *code)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].field, field) == 0 && strcmp(vs->v[i].code, code) == 0)
            return true;
    return false;
}

static bool parse(const char *text, struct model_login_spec *out, struct violations *vs)
{
    json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    bool ok;

    violations_init(vs);
    ok = model_login_spec_from_json(j, "enforce", "1.0", out, vs);
    json_decref(j);
    return ok;
}

static void test_spec_defaults_and_canonical(void **state)
{
    struct model_login_spec a, b;
    struct violations vs;
    char *ta, *tb;
    (void)state;

    assert_true(parse(NULL, &a, &vs));
    assert_int_equal(a.mode, MODEL_LOGIN_ENFORCE);
    assert_string_equal(a.extension_version, "1.0");
    assert_true(parse("{}", &b, &vs));
    ta = model_login_spec_to_text(&a);
    tb = model_login_spec_to_text(&b);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    model_login_spec_cleanup(&a);
    model_login_spec_cleanup(&b);

    assert_true(parse("{\"excludeTags\":{\"b\":\"1\",\"A\":\"*\"},\"mode\":\"audit\","
                      "\"extensionVersion\":\"2.0\"}",
                      &a, &vs));
    assert_true(parse("{\"mode\":\"audit\",\"extensionVersion\":\"2.0\","
                      "\"excludeTags\":{\"A\":\"*\",\"b\":\"1\"}}",
                      &b, &vs));
    ta = model_login_spec_to_text(&a);
    tb = model_login_spec_to_text(&b);
    assert_string_equal(ta, tb); /* same settings, same text: PUT is idempotent */
    assert_string_equal(a.exclude[0].name, "A");
    model_login_spec_cleanup(&b);
    assert_true(model_login_spec_from_text(ta, &b));
    assert_int_equal(b.mode, MODEL_LOGIN_AUDIT);
    assert_int_equal(b.n_exclude, 2);
    free(ta);
    free(tb);
    model_login_spec_cleanup(&a);
    model_login_spec_cleanup(&b);
}

/* "mdm": "intune" is read, kept in the canonical text (absent when not asked for, so older
 * settings keep theirs), and turns into Intune's mdmId on client VMs only; Server refuses it. */
static void test_spec_mdm(void **state)
{
    struct model_login_spec a, b;
    struct violations vs;
    char *ta;
    (void)state;

    assert_true(parse("{}", &a, &vs));
    assert_int_equal(a.mdm, MODEL_LOGIN_MDM_NONE);
    ta = model_login_spec_to_text(&a);
    assert_null(strstr(ta, "mdm"));
    free(ta);
    model_login_spec_cleanup(&a);

    assert_true(parse("{\"mdm\":\"intune\"}", &a, &vs));
    assert_int_equal(a.mdm, MODEL_LOGIN_MDM_INTUNE);
    ta = model_login_spec_to_text(&a);
    assert_non_null(strstr(ta, "\"mdm\":\"intune\""));
    assert_true(model_login_spec_from_text(ta, &b));
    assert_int_equal(b.mdm, MODEL_LOGIN_MDM_INTUNE);
    free(ta);
    model_login_spec_cleanup(&a);
    model_login_spec_cleanup(&b);
    assert_true(parse("{\"mdm\":\"none\"}", &a, &vs));
    assert_int_equal(a.mdm, MODEL_LOGIN_MDM_NONE);
    model_login_spec_cleanup(&a);
    assert_true(parse("{\"mdm\":null}", &a, &vs));
    model_login_spec_cleanup(&a);

    assert_false(parse("{\"mdm\":\"jamf\"}", &a, &vs));
    assert_true(has_violation(&vs, "mdm", "invalid_value"));
    assert_false(parse("{\"mdm\":1}", &a, &vs));
    assert_true(has_violation(&vs, "mdm", "wrong_type"));

    assert_string_equal(model_login_mdm_id(MODEL_LOGIN_MDM_INTUNE, MODEL_OS_EDITION_CLIENT),
                        "0000000a-0000-0000-c000-000000000000");
    assert_null(model_login_mdm_id(MODEL_LOGIN_MDM_INTUNE, MODEL_OS_EDITION_SERVER));
    assert_null(model_login_mdm_id(MODEL_LOGIN_MDM_INTUNE, MODEL_OS_EDITION_UNKNOWN));
    assert_null(model_login_mdm_id(MODEL_LOGIN_MDM_NONE, MODEL_OS_EDITION_CLIENT));
    assert_true(model_login_mdm_refused(MODEL_LOGIN_MDM_INTUNE, MODEL_OS_EDITION_SERVER));
    assert_false(model_login_mdm_refused(MODEL_LOGIN_MDM_INTUNE, MODEL_OS_EDITION_CLIENT));
    assert_false(model_login_mdm_refused(MODEL_LOGIN_MDM_NONE, MODEL_OS_EDITION_SERVER));
}

/* allowedLocalAccounts: read, canonical (sorted), bad names named by index; the check keeps
 * local members of Administrators and Remote Desktop Users off the list, one entry per account
 * with its groups, and leaves Entra, domain and built-in members alone. */
static void test_local_accounts(void **state)
{
    struct model_login_spec a, b;
    struct violations vs;
    json_t *onvm, *r, *u;
    char *ta;
    (void)state;

    assert_true(parse("{}", &a, &vs));
    assert_false(a.has_local_policy);
    onvm = json_pack("{s:[s,s,s,s,s], s:[s,s]}", "administrators", "WIN10\\azureuser",
                     "win10\\Admin-BreakGlass", "AzureAD\\alice@contoso.example",
                     "CONTOSO\\Domain Admins", "NT AUTHORITY\\SYSTEM", "remoteDesktopUsers",
                     "WIN10\\helpdesk", "WIN10\\azureuser");
    assert_null(model_localacct_check_json(onvm, "WIN10", &a)); /* no policy: nothing judged */
    model_login_spec_cleanup(&a);

    assert_true(parse("{\"allowedLocalAccounts\":[\"zed\",\"admin-breakglass\"]}", &a, &vs));
    assert_true(a.has_local_policy);
    assert_string_equal(a.allowed_local[0], "admin-breakglass");
    ta = model_login_spec_to_text(&a);
    assert_non_null(strstr(ta, "\"allowedLocalAccounts\":[\"admin-breakglass\",\"zed\"]"));
    assert_true(model_login_spec_from_text(ta, &b));
    assert_int_equal(b.n_allowed_local, 2);
    free(ta);
    model_login_spec_cleanup(&b);
    assert_null(model_localacct_check_json(NULL, "WIN10", &a)); /* no diagnostics yet */

    r = model_localacct_check_json(onvm, "win10", &a);
    u = json_object_get(r, "unapproved");
    assert_int_equal(json_array_size(u), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(u, 0), "account")),
                        "WIN10\\azureuser");
    assert_int_equal(json_array_size(json_object_get(json_array_get(u, 0), "groups")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(u, 1), "name")),
                        "helpdesk");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_array_get(u, 1), "groups"), 0)),
        "Remote Desktop Users");
    json_decref(r);
    model_login_spec_cleanup(&a);

    assert_true(parse("{\"allowedLocalAccounts\":[]}", &a, &vs)); /* none allowed */
    r = model_localacct_check_json(onvm, "WIN10", &a);
    assert_int_equal(json_array_size(json_object_get(r, "unapproved")), 3);
    json_decref(r);
    model_login_spec_cleanup(&a);
    json_decref(onvm);

    assert_false(parse("{\"allowedLocalAccounts\":\"x\"}", &a, &vs));
    assert_true(has_violation(&vs, "allowedLocalAccounts", "wrong_type"));
    assert_false(parse("{\"allowedLocalAccounts\":[\"ok\",\"a\\\\b\"]}", &a, &vs));
    assert_true(has_violation(&vs, "allowedLocalAccounts[1]", "invalid_value"));
    assert_false(parse("{\"allowedLocalAccounts\":[\"Ab\",\"aB\"]}", &a, &vs));
    assert_true(has_violation(&vs, "allowedLocalAccounts[1]", "duplicate"));
    assert_false(parse("{\"allowedLocalAccounts\":[1]}", &a, &vs));
    assert_true(has_violation(&vs, "allowedLocalAccounts[0]", "wrong_type"));
    assert_false(parse("{\"allowedLocalAccounts\":[\"abcdefghijklmnopqrstu\"]}", &a, &vs));
    assert_true(has_violation(&vs, "allowedLocalAccounts[0]", "invalid_value"));
}

/* The exclude_tags column is written straight from the spec (it was once re-parsed from the
 * spec's own text with an unchecked json_loads). */
static void test_spec_tags_text(void **state)
{
    struct model_login_spec a;
    struct violations vs;
    char *tags, *text;
    (void)state;

    assert_true(parse("{\"excludeTags\":{\"b\":\"1\",\"A\":\"*\"}}", &a, &vs));
    tags = model_login_spec_tags_text(&a);
    assert_string_equal(tags, "{\"A\":\"*\",\"b\":\"1\"}");
    text = model_login_spec_to_text(&a);
    assert_non_null(strstr(text, "\"excludeTags\":{\"A\":\"*\",\"b\":\"1\"}"));
    free(tags);
    free(text);
    model_login_spec_cleanup(&a);

    assert_true(parse(NULL, &a, &vs));
    tags = model_login_spec_tags_text(&a);
    assert_string_equal(tags, "{}");
    free(tags);
    model_login_spec_cleanup(&a);
}

static void test_spec_rejects(void **state)
{
    struct model_login_spec s;
    struct violations vs;
    (void)state;

    assert_false(parse("{\"mode\":\"repair\"}", &s, &vs));
    assert_true(has_violation(&vs, "mode", "invalid_value"));
    assert_false(parse("{\"mode\":1}", &s, &vs));
    assert_true(has_violation(&vs, "mode", "wrong_type"));
    assert_false(parse("{\"excludeTags\":[\"a\"]}", &s, &vs));
    assert_true(has_violation(&vs, "excludeTags", "wrong_type"));
    assert_false(parse("{\"excludeTags\":{\"env\":3}}", &s, &vs));
    assert_true(has_violation(&vs, "excludeTags.env", "wrong_type"));
    assert_false(parse("{\"excludeTags\":{\"Env\":\"a\",\"env\":\"b\"}}", &s, &vs));
    assert_true(has_violation(&vs, "excludeTags.env", "duplicate") ||
                has_violation(&vs, "excludeTags.Env", "duplicate"));
    assert_false(parse("{\"extensionVersion\":\"1.x\"}", &s, &vs));
    assert_true(has_violation(&vs, "extensionVersion", "invalid_value"));
    assert_false(parse("{\"extensionVersion\":1.0}", &s, &vs));
    assert_true(has_violation(&vs, "extensionVersion", "wrong_type"));
    assert_false(parse("{\"modes\":\"audit\",\"x\":1}", &s, &vs));
    assert_true(has_violation(&vs, "modes", "unknown_field"));
    assert_true(has_violation(&vs, "x", "unknown_field"));
    assert_false(parse("[]", &s, &vs));
}

static void test_exclusion_and_versions(void **state)
{
    struct model_login_spec s;
    struct violations vs;
    (void)state;

    assert_true(parse("{\"excludeTags\":{\"Entra\":\"off\",\"legacy\":\"*\"}}", &s, &vs));
    assert_true(model_login_excluded(&s, "{\"entra\":\"off\"}"));
    assert_false(model_login_excluded(&s, "{\"entra\":\"OFF\"}")); /* values are exact */
    assert_true(model_login_excluded(&s, "{\"LEGACY\":\"anything\"}"));
    assert_false(model_login_excluded(&s, "{\"env\":\"prod\"}"));
    assert_false(model_login_excluded(&s, NULL));
    model_login_spec_cleanup(&s);

    assert_int_equal(model_version_cmp("1.0", "1.0.0.0"), 0);
    assert_true(model_version_cmp("1.0.0.1", "1.0") > 0);
    assert_true(model_version_cmp("1.0", "2.1") < 0);
    assert_true(model_version_cmp("10.0", "9.9") > 0);
}

static void test_scope_ids(void **state)
{
    struct model_scope sc;
    char sub[MODEL_SCOPE_MAX], rg[MODEL_SCOPE_MAX];
    (void)state;

    assert_true(model_login_scope_from_id("/subscriptions/11111111-1111-1111-1111-111111111111/"
                                          "resourceGroups/RG-Web/providers/Microsoft.Compute/"
                                          "virtualMachines/web01",
                                          &sc));
    assert_int_equal(sc.kind, MODEL_SCOPE_VM);
    model_login_scope_parent_keys(&sc, sub, rg);
    assert_string_equal(sub, "/subscriptions/11111111-1111-1111-1111-111111111111");
    assert_string_equal(rg, "/subscriptions/11111111-1111-1111-1111-111111111111/"
                            "resourcegroups/rg-web");
    assert_string_equal(model_login_scope_kind_str(sc.kind), "vm");
    assert_false(
        model_login_scope_from_id("/providers/Microsoft.Management/managementGroups/x", &sc));
}

static struct model_preflight_facts good_facts(struct model_os_verdict *os)
{
    *os = (struct model_os_verdict){.support = MODEL_OS_SUPPORTED, .reason = "Server 2022"};
    return (struct model_preflight_facts){
        .os = os,
        .power_state = "running",
        .vm_name = "web01",
        .computer_name = "web01",
        .system_identity = MODEL_TRI_YES,
        .device_duplicate = MODEL_TRI_NO,
        .signin_sp = MODEL_TRI_YES,
        .domain_joined = MODEL_TRI_NO,
    };
}

static const struct model_check *check(const struct model_preflight *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->checks[i].name, name) == 0)
            return &p->checks[i];
    fail_msg("no check %s", name);
    return NULL;
}

static void test_preflight(void **state)
{
    struct model_os_verdict os;
    struct model_preflight_facts f = good_facts(&os);
    struct model_preflight p;
    json_t *j;
    (void)state;

    model_preflight_run(&f, &p);
    assert_int_equal(p.n, MODEL_PREFLIGHT_CHECKS);
    assert_int_equal(p.overall, MODEL_CHECK_PASS);
    assert_null(p.blocking);

    /* unsupported OS fails with the seed's versions in the fix */
    os.support = MODEL_OS_UNSUPPORTED;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "osSupported")->result, MODEL_CHECK_FAIL);
    assert_non_null(strstr(check(&p, "osSupported")->fix, "Windows Server 2019"));
    assert_string_equal(p.blocking->name, "osSupported");
    os.support = MODEL_OS_SUPPORTED;

    /* a deallocated VM is a wait, not a failure */
    f.power_state = "deallocated";
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "vmRunning")->result, MODEL_CHECK_WARN);
    assert_true(p.wait);
    assert_null(p.blocking);
    f.power_state = "running";

    /* identity off is added, keeping user-assigned ones */
    f.system_identity = MODEL_TRI_NO;
    f.n_user_assigned = 2;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "systemIdentity")->result, MODEL_CHECK_PASS);
    assert_non_null(strstr(check(&p, "systemIdentity")->reason, "keeping the 2 user-assigned"));
    f.system_identity = MODEL_TRI_YES;

    /* long names warn (NetBIOS truncation) */
    f.vm_name = "a-very-long-vm-name-01";
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "vmNameLength")->result, MODEL_CHECK_WARN);
    assert_int_equal(p.overall, MODEL_CHECK_WARN);
    f.vm_name = "web01";

    /* a device with the hostname fails, unless it is the VM's own */
    f.device_duplicate = MODEL_TRI_YES;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "hostnameUnique")->result, MODEL_CHECK_FAIL);
    assert_non_null(strstr(check(&p, "hostnameUnique")->fix, "delete the stale Entra device"));
    f.own_device = true;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "hostnameUnique")->result, MODEL_CHECK_PASS);
    f.own_device = false;
    f.device_duplicate = MODEL_TRI_UNKNOWN;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "hostnameUnique")->result, MODEL_CHECK_UNKNOWN);
    assert_int_equal(p.overall, MODEL_CHECK_UNKNOWN);
    f.device_duplicate = MODEL_TRI_NO;

    /* sign-in service principal: warn, or pass when vmlogind creates it */
    f.signin_sp = MODEL_TRI_NO;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "signInServicePrincipal")->result, MODEL_CHECK_WARN);
    assert_non_null(strstr(check(&p, "signInServicePrincipal")->fix, "create_signin_sp"));
    f.create_signin_sp = true;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "signInServicePrincipal")->result, MODEL_CHECK_PASS);
    f.signin_sp = MODEL_TRI_YES;

    /* an AD domain join excludes the Entra join */
    f.domain_joined = MODEL_TRI_YES;
    model_preflight_run(&f, &p);
    assert_int_equal(check(&p, "notDomainJoined")->result, MODEL_CHECK_FAIL);
    j = model_preflight_to_json(&p);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "fail");
    assert_int_equal(json_array_size(json_object_get(j, "checks")), MODEL_PREFLIGHT_CHECKS);
    json_decref(j);
}

static void diag(const char *op_code, const char *op_msg, const char *st_code, const char *st_msg,
                 const char *cloud, struct model_diagnosis *out)
{
    struct model_failure f = {op_code, op_msg, st_code, st_msg, cloud};
    model_diagnose(&f, out);
}

static void test_diagnose(void **state)
{
    struct model_diagnosis d;
    (void)state;

    /* azsim/Azure: terminal 1007 with the exit code in the message */
    diag("VMExtensionHandlerNonTransientError",
         "Handler 'Microsoft.Azure.ActiveDirectory.AADLoginForWindows' has reported failure for "
         "VM Extension 'AADLoginForWindows' with terminal error code '1007' and error message: "
         "'... Exit code: -2145648574 (DSREG_E_MSI_TENANTID_UNAVAILABLE)'",
         "ProvisioningState/failed/1007", NULL, NULL, &d);
    assert_string_equal(d.cause, "1007");
    assert_string_equal(d.name, "DSREG_E_MSI_TENANTID_UNAVAILABLE");
    assert_non_null(strstr(d.fix, "system-assigned managed identity"));
    assert_true(d.retryable);

    diag("VMExtensionProvisioningError", "VM has reported a failure ... Exit code: -2145648607",
         "ProvisioningState/failed/-2145648607", NULL, "AzureUSGovernment", &d);
    assert_string_equal(d.cause, "-2145648607");
    assert_string_equal(d.name, "DSREG_AUTOJOIN_DISC_FAILED");
    assert_non_null(strstr(d.fix, "enterpriseregistration.microsoftonline.us"));
    diag(NULL, NULL, "ProvisioningState/failed/-2145648607", NULL, NULL, &d);
    assert_non_null(strstr(d.fix, "enterpriseregistration.windows.net"));
    assert_non_null(strstr(d.fix, "pas.windows.net"));

    diag("VMExtensionProvisioningError", "Exit code: 51. This extension is not supported",
         "ProvisioningState/failed/51", NULL, NULL, &d);
    assert_string_equal(d.cause, "51");
    assert_false(d.retryable);

    diag("VMExtensionProvisioningError",
         "a device object with displayName 'web01' already exists (hostname duplication).",
         "ProvisioningState/failed/-2145648509", NULL, NULL, &d);
    assert_string_equal(d.cause, "hostname_duplicate");
    assert_false(d.retryable);

    /* a generic failed/1 hides the real code in the message */
    diag("VMExtensionProvisioningError", "Error message: \"Exit code: 51. not supported\"",
         "ProvisioningState/failed/1", NULL, NULL, &d);
    assert_string_equal(d.cause, "51");

    /* unknown codes pass through verbatim, retryable */
    diag("VMExtensionProvisioningError", "Install failed: something new",
         "ProvisioningState/failed/-1234", "something new", NULL, &d);
    assert_string_equal(d.cause, "-1234");
    assert_string_equal(d.meaning, "something new");
    assert_true(d.retryable);
    diag("InternalExecutionError", "An internal execution error occurred.", NULL, NULL, NULL, &d);
    assert_string_equal(d.cause, "InternalExecutionError");
    diag("VMExtensionProvisioningTimeout", "timed out", NULL, NULL, NULL, &d);
    assert_string_equal(d.cause, "timeout");

    model_diagnose_cause("-2145648574", NULL, &d);
    assert_string_equal(d.cause, "1007");
    model_diagnose_cause("unsupported_os", NULL, &d);
    assert_false(d.retryable);
    model_diagnose_cause("domain_joined", NULL, &d);
    assert_false(d.retryable);
}

static void test_api_state(void **state)
{
    struct model_login_facts f = {.os = MODEL_OS_SUPPORTED};
    (void)state;

    assert_string_equal(model_login_api_state("applying", &f), "pending");
    assert_string_equal(model_login_api_state("failed", &f), "failed");
    assert_string_equal(model_login_api_state("drifted", &f), "drifted");
    assert_string_equal(model_login_api_state(NULL, &f), "notCovered");
    f.has_extension = true;
    f.ext_provisioning = "Succeeded";
    /* installed by hand, never covered: still enabled */
    assert_string_equal(model_login_api_state("not_covered", &f), "enabled");
    f.has_extension = false;
    f.covered = true;
    f.excluded = true;
    assert_string_equal(model_login_api_state(NULL, &f), "excluded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_defaults_and_canonical),
        cmocka_unit_test(test_spec_tags_text),
        cmocka_unit_test(test_spec_mdm),
        cmocka_unit_test(test_local_accounts),
        cmocka_unit_test(test_spec_rejects),
        cmocka_unit_test(test_exclusion_and_versions),
        cmocka_unit_test(test_scope_ids),
        cmocka_unit_test(test_preflight),
        cmocka_unit_test(test_diagnose),
        cmocka_unit_test(test_api_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
