/* The on-VM check script's output (model_onvm_parse) on recorded real-format dsregcmd /status
 * text (tests/unit/data/onvm: a joined VM with CRLF line ends; a domain-joined VM with
 * blocked endpoints and no IMDS identity), odd input, and what the parsed facts add to the
 * sign-in verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmlogind/model_onvm.h"
#include "vmlogind/model_signin.h"

static json_t *parse_file(const char *name)
{
    char path[512], buf[16384];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/tests/unit/data/onvm/%s", SOURCE_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return model_onvm_parse(buf, n);
}

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_joined(void **state)
{
    json_t *o = parse_file("joined.txt");
    const json_t *ds = json_object_get(o, "dsregcmd");
    (void)state;

    assert_true(json_is_true(json_object_get(ds, "azureAdJoined")));
    assert_true(json_is_false(json_object_get(ds, "domainJoined")));
    assert_true(json_is_true(json_object_get(ds, "azureAdPrt")));
    assert_string_equal(s(ds, "deviceId"), "5820fbe9-60c8-43b0-bb11-44aee233e4e7");
    assert_string_equal(s(ds, "tenantId"), "8f3c1a2e-0000-4000-8000-00000000aaaa");
    assert_string_equal(s(ds, "deviceName"), "win-vm-01");
    assert_int_equal(json_array_size(json_object_get(o, "endpoints")), 5);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(o, "endpoints"), 2), "reachable")));
    assert_string_equal(s(o, "imdsTenantId"), "8f3c1a2e-0000-4000-8000-00000000aaaa");
    assert_int_equal(json_array_size(json_object_get(o, "administrators")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "administrators"), 1)),
                        "AzureAD\\alice@contoso.example");
    assert_int_equal(json_array_size(json_object_get(o, "remoteDesktopUsers")), 1);
    json_decref(o);
}

static void test_domain_joined_blocked(void **state)
{
    json_t *o = parse_file("domain-blocked.txt");
    const json_t *ds = json_object_get(o, "dsregcmd");
    const json_t *ep = json_array_get(json_object_get(o, "endpoints"), 1);
    (void)state;

    assert_true(json_is_false(json_object_get(ds, "azureAdJoined")));
    assert_true(json_is_true(json_object_get(ds, "domainJoined")));
    assert_true(json_is_false(json_object_get(ds, "azureAdPrt")));
    assert_true(json_is_null(json_object_get(ds, "deviceId")));
    assert_true(json_is_false(json_object_get(ep, "reachable")));
    assert_string_equal(s(ep, "error"),
                        "Could not resolve host: enterpriseregistration.windows.net");
    assert_true(json_is_null(json_object_get(o, "imdsTenantId")));
    assert_int_equal(json_array_size(json_object_get(o, "remoteDesktopUsers")), 0);
    json_decref(o);
}

static void test_odd_input(void **state)
{
    static const char nul[] = "=== dsregcmd ===\nAzureAdJoined : YES\0junk\n";
    json_t *o;
    (void)state;

    o = model_onvm_parse(NULL, 0);
    assert_true(json_is_null(json_object_get(json_object_get(o, "dsregcmd"), "azureAdJoined")));
    json_decref(o);
    /* a line with a NUL byte is not text: ignored */
    o = model_onvm_parse(nul, sizeof(nul) - 1);
    assert_true(json_is_null(json_object_get(json_object_get(o, "dsregcmd"), "azureAdJoined")));
    json_decref(o);
    /* name/value lines outside the dsregcmd section do not count */
    o = model_onvm_parse("AzureAdJoined : YES\n=== imds ===\nnot json\n", 40);
    assert_true(json_is_null(json_object_get(json_object_get(o, "dsregcmd"), "azureAdJoined")));
    assert_true(json_is_null(json_object_get(o, "imdsTenantId")));
    json_decref(o);
}

static const char *status_of(const json_t *r, const char *id)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(r, "checks"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            return json_string_value(json_object_get(c, "status"));
    }
    return "absent";
}

static void test_feeds_the_verdict(void **state)
{
    json_t *good = parse_file("joined.txt"), *bad = parse_file("domain-blocked.txt"), *r;
    struct model_signin_input in = {.principal = "alice@contoso.example", .on_vm = good};
    (void)state;

    r = model_signin_evaluate(&in);
    assert_string_equal(status_of(r, "onVmJoin"), "pass");
    assert_string_equal(status_of(r, "onVmEndpoints"), "pass");
    assert_string_equal(status_of(r, "onVmImds"), "pass");
    assert_string_equal(status_of(r, "onVmPrt"), "absent");
    json_decref(r);
    in.on_vm = bad;
    r = model_signin_evaluate(&in);
    assert_string_equal(json_string_value(json_object_get(r, "verdict")), "cannotSignIn");
    assert_string_equal(status_of(r, "onVmJoin"), "fail");
    assert_string_equal(status_of(r, "onVmEndpoints"), "fail");
    assert_string_equal(status_of(r, "onVmImds"), "fail");
    assert_string_equal(status_of(r, "onVmPrt"), "warn");
    json_decref(r);
    in.on_vm = NULL;
    r = model_signin_evaluate(&in);
    assert_string_equal(status_of(r, "onVmJoin"), "absent");
    json_decref(r);
    json_decref(good);
    json_decref(bad);
}

/* The script probes the seed's endpoints of the VM's cloud, and only reads. */
static void test_script_per_cloud(void **state)
{
    json_t *g = model_onvm_script("AzureUSGovernment"), *c = model_onvm_script("AzureCloud");
    char *gt = json_dumps(g, 0), *ct = json_dumps(c, 0);
    (void)state;

    assert_string_equal(s(g, "commandId"), "RunPowerShellScript");
    assert_non_null(strstr(gt, "https://pasff.usgovcloudapi.net/"));
    assert_non_null(strstr(gt, "https://enterpriseregistration.microsoftonline.us/"));
    assert_null(strstr(gt, "pas.windows.net"));
    assert_non_null(strstr(ct, "https://enterpriseregistration.windows.net/"));
    assert_non_null(strstr(ct, "dsregcmd /status"));
    assert_non_null(strstr(ct, "=== Remote Desktop Users ==="));
    assert_null(strstr(ct, "Add-LocalGroupMember"));
    free(gt);
    free(ct);
    json_decref(g);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_joined),           cmocka_unit_test(test_domain_joined_blocked),
        cmocka_unit_test(test_odd_input),        cmocka_unit_test(test_feeds_the_verdict),
        cmocka_unit_test(test_script_per_cloud),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
