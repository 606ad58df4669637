/* test_signin.c: GET /v1{vm}/signIn against azsim's sign-in scenario (sim/scenarios/signin.json),
 * one VM or user per failure the seed describes: a member reached through a group at the
 * resource group and one assigned directly at the VM can sign in; a guest, a disabled account,
 * a user without a login role, a stopped VM, a VM without the extension, a failed extension, a
 * missing, a disabled and a duplicated device object, a Conditional Access block (53003), an
 * MFA policy (warn, what her client needs) and a last sign-in that failed with 50158 each give
 * the verdict and the fix. Bad queries are 400 naming the field; a caller outside the VM's
 * scope is refused. A second tenant whose app lacks Policy.Read.All and AuditLog.Read.All makes
 * those checks unknown, naming the permission. */
#include "test_sync_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RGS "rg-signin"
#define SIGNIN_SCENARIO SOURCE_DIR "/sim/scenarios/signin.json"
#define VM_API(rg, name) "/v1/subscriptions/" SUB "/resourceGroups/" rg "/virtualMachines/" name
#define VMP(name) VM_API(RGS, name) "/signIn?principal="

static struct sc C;
static char admin[128];

/* azsim on scenario (LROs at 2%), vmlogind, one sync; then C.key is a reader's (what the
 * route needs) and admin an administrator's. */
static void start(const char *scenario)
{
    const char *args[] = {"--time-scale", "0.02", NULL};

    sc_start(&C, scenario, args, "lro_poll_max_ms = 200\n");
    json_decref(sc_sync_now(&C));
    snprintf(admin, sizeof(admin), "%s", C.key);
    h_daemon_key(&C.d, "reader", NULL, C.key, sizeof(C.key));
}

struct ask {
    const char *path;
    json_t *last;
};

static bool checked(void *arg)
{
    struct ask *a = arg;

    json_decref(a->last);
    a->last = h_api(C.d.p.url, C.key, "GET", a->path, NULL, 200);
    return strcmp(h_jstr(json_object_get(a->last, "directory"), "state"), "checked") == 0;
}

/* GET the verdict once the directory facts are read. */
static json_t *verdict_of(const char *path)
{
    struct ask a = {path, NULL};

    if (!h_poll(checked, &a, 30000))
        fail_msg("%s: directory never checked: %s", path,
                 a.last ? json_dumps(a.last, JSON_COMPACT) : "(none)");
    return a.last;
}

static const json_t *check_of(const json_t *r, const char *id)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(r, "checks"), i, c)
    {
        if (strcmp(h_jstr(c, "id"), id) == 0)
            return c;
    }
    fail_msg("no check %s in %s", id, json_dumps(r, JSON_COMPACT));
    return NULL;
}

/* Asserts the verdict, that check id has status (and, when given, that its reason or fix
 * contains text); returns nothing, frees r. */
static void expect(const char *path, const char *verdict, const char *id, const char *status,
                   const char *text)
{
    json_t *r = verdict_of(path);
    const json_t *c = check_of(r, id);

    if (strcmp(h_jstr(r, "verdict"), verdict) != 0 || strcmp(h_jstr(c, "status"), status) != 0)
        fail_msg("%s: want %s with %s %s, got %s", path, verdict, id, status,
                 json_dumps(r, JSON_COMPACT));
    if (text != NULL && strstr(h_jstr(c, "reason"), text) == NULL &&
        strstr(h_jstr(c, "fix"), text) == NULL)
        fail_msg("%s: %s says neither reason nor fix with '%s': %s", path, id, text,
                 json_dumps(c, JSON_COMPACT));
    json_decref(r);
}

static int setup(void **state)
{
    (void)state;
    start(SIGNIN_SCENARIO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sc_stop(&C);
    return 0;
}

static void test_can_sign_in(void **state)
{
    json_t *r;
    const json_t *ev;
    (void)state;

    r = verdict_of(VMP("vm-ok") "alice@contoso.example");
    assert_string_equal(h_jstr(r, "verdict"), "canSignIn");
    ev = json_object_get(check_of(r, "loginRole"), "evidence");
    assert_string_equal(h_jstr(ev, "via"), "group");
    assert_string_equal(h_jstr(ev, "groupName"), "VM Users");
    assert_true(json_is_true(json_object_get(ev, "inherited")));
    assert_string_equal(h_jstr(ev, "roleName"), "Virtual Machine User Login");
    assert_string_equal(h_jstr(check_of(r, "device"), "status"), "pass");
    assert_string_equal(h_jstr(check_of(r, "recentSignIns"), "status"), "pass");
    /* the report-only compliant-device policy is shown, never enforced */
    assert_string_equal(h_jstr(check_of(r, "conditionalAccess"), "status"), "pass");
    json_decref(r);
    r = verdict_of(VMP("vm-ok") "dave@contoso.example");
    assert_string_equal(h_jstr(r, "verdict"), "canSignIn");
    ev = json_object_get(check_of(r, "loginRole"), "evidence");
    assert_string_equal(h_jstr(ev, "via"), "direct");
    assert_string_equal(h_jstr(ev, "role"), "administrator");
    assert_true(json_is_false(json_object_get(ev, "inherited")));
    json_decref(r);
}

static void test_account_causes(void **state)
{
    (void)state;
    expect(VMP("vm-ok") "gina@contoso.example", "cannotSignIn", "memberNotGuest", "fail",
           "guest accounts can't connect");
    expect(VMP("vm-ok") "dan@contoso.example", "cannotSignIn", "accountEnabled", "fail",
           "disabled");
    expect(VMP("vm-ok") "nora@contoso.example", "cannotSignIn", "loginRole", "fail",
           "POST /v1/loginGrants");
    expect(VMP("vm-ok") "ghost@contoso.example", "cannotSignIn", "accountExists", "fail", NULL);
}

static void test_vm_causes(void **state)
{
    (void)state;
    expect(VMP("vm-stopped") "alice@contoso.example", "cannotSignIn", "vmRunning", "fail",
           "start the VM");
    expect(VMP("vm-noext") "alice@contoso.example", "cannotSignIn", "extension", "fail",
           "entraLogin");
    expect(VMP("vm-extfail") "alice@contoso.example", "cannotSignIn", "extension", "fail", NULL);
    expect(VMP("vm-nodevice") "alice@contoso.example", "cannotSignIn", "device", "fail",
           "no device object");
    expect(VMP("vm-devdisabled") "alice@contoso.example", "cannotSignIn", "device", "fail",
           "disabled");
    expect(VMP("vm-dup") "alice@contoso.example", "cannotSignIn", "device", "fail",
           "hostname duplication");
}

static void test_conditional_access_and_signins(void **state)
{
    json_t *r;
    (void)state;

    /* MFA required: she can, if her client supplies the MFA claim */
    expect(VMP("vm-ok") "mia@contoso.example", "canSignIn", "conditionalAccess", "warn",
           "Windows Hello for Business");
    expect(VMP("vm-ok") "mia@contoso.example", "canSignIn", "client", "warn", NULL);
    /* her last sign-in failed with 50158 */
    expect(VMP("vm-ok") "mike@contoso.example", "cannotSignIn", "recentSignIns", "fail", "50158");
    /* a policy blocks her, and the log shows 53003 */
    r = verdict_of(VMP("vm-ok") "bea@contoso.example");
    assert_string_equal(h_jstr(r, "verdict"), "cannotSignIn");
    assert_string_equal(h_jstr(check_of(r, "conditionalAccess"), "status"), "fail");
    assert_non_null(strstr(h_jstr(check_of(r, "recentSignIns"), "reason"), "53003"));
    json_decref(r);
}

static void test_bad_input_and_scope(void **state)
{
    char url[512], other[128];
    const char *scopes[] = {"/subscriptions/" SUB "/resourceGroups/rg-elsewhere", NULL};
    const char *h[] = {NULL, NULL};
    struct resp r;
    (void)state;

    snprintf(url, sizeof(url), "%s%s", C.d.p.url, VM_API(RGS, "vm-ok") "/signIn");
    h[0] = h_bearer(C.key);
    assert_int_equal(h_http("GET", url, NULL, h, &r), 400);
    assert_non_null(strstr(r.body, "\"principal\""));
    h_resp_cleanup(&r);
    snprintf(url, sizeof(url), "%s%s", C.d.p.url, VMP("vm-ok") "not%20a%20upn");
    assert_int_equal(h_http("GET", url, NULL, h, &r), 400);
    h_resp_cleanup(&r);
    json_decref(h_api(C.d.p.url, C.key, "GET", VMP("vm-none") "alice@contoso.example", NULL, 404));
    h_daemon_key(&C.d, "reader", scopes, other, sizeof(other));
    json_decref(h_api(C.d.p.url, other, "GET", VMP("vm-ok") "alice@contoso.example", NULL, 403));
}

/* POST .../diagnostics runs the check script through Run Command and its result feeds the
 * verdict: a joined VM passes; a domain-joined VM without a PRT that cannot reach
 * pas.windows.net fails with the reasons; a stopped VM is refused up front. */
static void test_on_vm_diagnostics(void **state)
{
    char loc[256];
    struct resp r;
    const char *h[] = {NULL, NULL};
    char url[512];
    json_t *op, *v;
    (void)state;

    h[0] = h_bearer(admin);
    snprintf(url, sizeof(url), "%s%s", C.d.p.url, VM_API(RGS, "vm-ok") "/diagnostics");
    if (h_http("POST", url, NULL, h, &r) != 202)
        fail_msg("POST diagnostics: %ld %s", r.status, r.body ? r.body : "");
    assert_true(h_resp_header(&r, "Location", loc, sizeof(loc)));
    h_resp_cleanup(&r);
    op = h_wait_field(C.d.p.url, C.key, loc, "status", "Succeeded|Failed", 30000);
    assert_string_equal(h_jstr(op, "status"), "Succeeded");
    json_decref(op);
    v = verdict_of(VMP("vm-ok") "alice@contoso.example");
    assert_string_equal(h_jstr(json_object_get(v, "onVm"), "state"), "checked");
    assert_string_equal(h_jstr(check_of(v, "onVmJoin"), "status"), "pass");
    assert_string_equal(h_jstr(check_of(v, "onVmEndpoints"), "status"), "pass");
    assert_string_equal(h_jstr(check_of(v, "onVmImds"), "status"), "pass");
    assert_string_equal(h_jstr(v, "verdict"), "canSignIn");
    json_decref(v);
    h[0] = h_bearer(admin); /* h_bearer's buffers rotate: take it again */
    snprintf(url, sizeof(url), "%s%s", C.d.p.url, VM_API(RGS, "vm-domain") "/diagnostics");
    assert_int_equal(h_http("POST", url, NULL, h, &r), 202);
    assert_true(h_resp_header(&r, "Location", loc, sizeof(loc)));
    h_resp_cleanup(&r);
    json_decref(h_wait_field(C.d.p.url, C.key, loc, "status", "Succeeded", 30000));
    expect(VMP("vm-domain") "alice@contoso.example", "cannotSignIn", "onVmJoin", "fail",
           "DomainJoined : YES");
    expect(VMP("vm-domain") "alice@contoso.example", "cannotSignIn", "onVmEndpoints", "fail",
           "pas.windows.net");
    expect(VMP("vm-domain") "alice@contoso.example", "cannotSignIn", "onVmPrt", "warn", NULL);
    h[0] = h_bearer(admin);
    snprintf(url, sizeof(url), "%s%s", C.d.p.url, VM_API(RGS, "vm-stopped") "/diagnostics");
    assert_int_equal(h_http("POST", url, NULL, h, &r), 409);
    assert_non_null(strstr(r.body, "vm_not_running"));
    h_resp_cleanup(&r);
    /* a reader may ask why, not run scripts on VMs */
    h[0] = h_bearer(C.key);
    snprintf(url, sizeof(url), "%s%s", C.d.p.url, VM_API(RGS, "vm-ok") "/diagnostics");
    assert_int_equal(h_http("POST", url, NULL, h, &r), 403);
    h_resp_cleanup(&r);
}

/* The same tenant, its app without Policy.Read.All and AuditLog.Read.All. */
static void test_missing_permissions_are_named(void **state)
{
    json_t *sc = json_load_file(SIGNIN_SCENARIO, 0, NULL), *roles, *r;
    char dir[256], path[512];
    const json_t *c;
    (void)state;

    sc_stop(&C);
    roles = json_object_get(json_array_get(json_object_get(sc, "apps"), 0), "graphAppRoles");
    json_array_clear(roles);
    json_array_append_new(roles, json_string("Directory.Read.All"));
    h_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/signin-underprivileged.json", dir);
    assert_int_equal(json_dump_file(sc, path, 0), 0);
    json_decref(sc);
    start(path);
    r = verdict_of(VMP("vm-ok") "alice@contoso.example");
    assert_string_equal(h_jstr(r, "verdict"), "unknown");
    c = check_of(r, "conditionalAccess");
    assert_string_equal(h_jstr(c, "status"), "unknown");
    assert_string_equal(h_jstr(c, "permission"), "Policy.Read.All");
    c = check_of(r, "recentSignIns");
    assert_string_equal(h_jstr(c, "status"), "unknown");
    assert_string_equal(h_jstr(c, "permission"), "AuditLog.Read.All");
    /* what Directory.Read.All covers still answers */
    assert_string_equal(h_jstr(check_of(r, "accountExists"), "status"), "pass");
    assert_string_equal(h_jstr(check_of(r, "device"), "status"), "pass");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_can_sign_in),
        cmocka_unit_test(test_account_causes),
        cmocka_unit_test(test_vm_causes),
        cmocka_unit_test(test_conditional_access_and_signins),
        cmocka_unit_test(test_bad_input_and_scope),
        cmocka_unit_test(test_on_vm_diagnostics),
        cmocka_unit_test(test_missing_permissions_are_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
