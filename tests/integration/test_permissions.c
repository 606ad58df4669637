/* test_permissions.c: vmlogind's own permissions against azsim's demo tenant with its app
 * deliberately under-privileged (sim/scenarios/demo-underprivileged.json: no Role Based Access
 * Control Administrator in the development subscription, no Application.ReadWrite.All in Graph,
 * which create_signin_sp needs).
 * GET /v1/diagnostics/permissions names each gap with the role to assign and where; a grant
 * there fails with the same diagnosis and is not retried; an enable whose identity PATCH Azure
 * refuses (403 AuthorizationFailed) ends failed, held, with the role to assign; an Azure Policy
 * deny names the policy assignment and a resource lock names the lock, both held. */
#include "test_login_common.h"

#include "vmlogind/clock.h"

#define SUB_PROD SUB
#define SUB_DEV "7a1e9c44-0000-4000-8000-00000000cccc"
#define VMC_PROD_RA "b0000000-0000-4000-8000-000000000003" /* the app's VM Contributor, prod */
#define DEV_VM "/subscriptions/" SUB_DEV "/resourceGroups/rg-dev/virtualMachines/dev-ws2022-01"
#define PROD_VM_ARM                                                                                \
    "/subscriptions/" SUB_PROD "/resourceGroups/rg-entra/providers/Microsoft.Compute/"             \
    "virtualMachines/win-vm-01"
#define PROD_VM_API "/subscriptions/" SUB_PROD "/resourceGroups/rg-entra/virtualMachines/win-vm-01"

static struct lctx C;
static int64_t posted_ms;

static json_t *api_get(const char *path, const char *key)
{
    return h_api(C.d.p.url, key ? key : C.key, "GET", path, NULL, 200);
}

static bool sync_done(void *arg)
{
    json_t *j = api_get("/v1/sync", NULL);
    const json_t *last = json_object_get(j, "last");
    int64_t started = 0;
    bool done = json_is_object(last) && clock_parse_rfc3339(h_jstr(last, "startedAt"), &started) &&
                started >= posted_ms && strcmp(h_jstr(last, "state"), "running") != 0;

    (void)arg;
    json_decref(j);
    return done;
}

/* POST /v1/sync and wait for a run that started after it. */
static void sync_now(void)
{
    posted_ms = clock_now_ms();
    json_decref(api(&C, "POST", "/v1/sync", NULL, 202, NULL, 0));
    assert_true(h_poll(sync_done, NULL, 60000));
}

static const json_t *sub_of(const json_t *report, const char *sub)
{
    size_t i;
    json_t *s;

    json_array_foreach(json_object_get(report, "subscriptions"), i, s)
    {
        if (strcasecmp(h_jstr(s, "subscriptionId"), sub) == 0)
            return s;
    }
    return NULL;
}

static const json_t *missing_action(const json_t *sub, const char *action)
{
    size_t i;
    json_t *m;

    json_array_foreach(json_object_get(sub, "missing"), i, m)
    {
        if (strcmp(h_jstr(m, "action"), action) == 0)
            return m;
    }
    return NULL;
}

struct report_wait {
    const char *sub;    /* this subscription ... */
    const char *action; /* ... misses this action (NULL: any complete check) */
    json_t *last;
};

static bool report_ready(void *arg)
{
    struct report_wait *w = arg;
    size_t i;
    json_t *s;
    bool ok;

    json_decref(w->last);
    w->last = api_get("/v1/diagnostics/permissions", NULL);
    ok = strcmp(h_jstr(w->last, "state"), "checked") == 0 &&
         json_array_size(json_object_get(w->last, "subscriptions")) > 0;
    json_array_foreach(json_object_get(w->last, "subscriptions"), i, s)
    {
        ok = ok && strcmp(h_jstr(s, "state"), "checked") == 0;
    }
    if (ok && w->action != NULL)
        ok = missing_action(sub_of(w->last, w->sub), w->action) != NULL;
    return ok;
}

static json_t *wait_report(const char *sub, const char *action)
{
    struct report_wait w = {sub, action, NULL};

    if (!h_poll(report_ready, &w, 60000))
        fail_msg("no complete permissions report: %s",
                 w.last ? json_dumps(w.last, JSON_COMPACT) : "(none)");
    return w.last;
}

static int setup(void **state)
{
    const char *args[] = {"--time-scale", "0.02", NULL};
    (void)state;
    memset(&C, 0, sizeof(C));
    if (!h_sim_start(&C.s, SOURCE_DIR "/sim/scenarios/demo-underprivileged.json", args) ||
        !h_daemon_start_for_sim(&C.d, &C.s, LOGIN_TEST_CONFIG "create_signin_sp = true\n"))
        return -1;
    h_daemon_key(&C.d, "administrator", NULL, C.key, sizeof(C.key));
    sync_now();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lctx_stop(&C);
    return 0;
}

static void test_diagnosis_names_each_gap(void **state)
{
    json_t *r, *g;
    const json_t *prod, *dev, *m;
    char reader[128], scoped[128];
    const char *scopes[] = {"/subscriptions/" SUB_PROD, NULL};
    char *log;
    size_t i;
    json_t *x;
    bool app_missing = false;

    (void)state;
    r = wait_report(NULL, NULL);
    assert_string_equal(h_jstr(json_object_get(r, "identity"), "objectId"), H_DEMO_APP_SP);
    prod = sub_of(r, SUB_PROD);
    dev = sub_of(r, SUB_DEV);
    assert_non_null(prod);
    assert_non_null(dev);
    assert_int_equal(json_array_size(json_object_get(prod, "missing")), 0);
    /* the development subscription lacks the role-assignment actions, nothing else */
    assert_int_equal(json_array_size(json_object_get(dev, "missing")), 2);
    m = missing_action(dev, "Microsoft.Authorization/roleAssignments/write");
    assert_non_null(m);
    assert_non_null(missing_action(dev, "Microsoft.Authorization/roleAssignments/delete"));
    assert_string_equal(h_jstr(m, "role"), "Role Based Access Control Administrator");
    assert_string_equal(h_jstr(m, "roleDefinitionId"), "f58310d9-a9f6-439a-9e8d-f62e7b41a168");
    assert_string_equal(h_jstr(m, "scope"), "/subscriptions/" SUB_DEV);
    assert_non_null(strstr(h_jstr(m, "condition"), "1c0163c0-47e6-4577-8991-ea5c82e286e4"));
    assert_non_null(strstr(h_jstr(m, "condition"), "fb879df8-f326-4884-b1cf-06f3ad86be52"));
    assert_non_null(strstr(h_jstr(m, "fix"), "--assignee-object-id " H_DEMO_APP_SP));
    /* Graph: the token lacks Application.ReadWrite.All, which create_signin_sp needs */
    g = json_object_get(r, "graph");
    json_array_foreach(json_object_get(g, "missing"), i, x)
    {
        app_missing = app_missing || strcmp(h_jstr(x, "appRole"), "Application.ReadWrite.All") == 0;
    }
    assert_true(app_missing);
    assert_int_equal(json_array_size(json_object_get(g, "missing")), 1);
    json_decref(r);
    /* readers may read it; a reader held to the production subscription sees only that one */
    h_daemon_key(&C.d, "reader", NULL, reader, sizeof(reader));
    r = api_get("/v1/diagnostics/permissions", reader);
    assert_int_equal(json_array_size(json_object_get(r, "subscriptions")), 2);
    json_decref(r);
    h_daemon_key(&C.d, "reader", scopes, scoped, sizeof(scoped));
    r = api_get("/v1/diagnostics/permissions", scoped);
    assert_int_equal(json_array_size(json_object_get(r, "subscriptions")), 1);
    assert_non_null(sub_of(r, SUB_PROD));
    json_decref(r);
    /* and the log says it too */
    log = h_read_file(C.d.p.log);
    assert_non_null(log);
    assert_non_null(strstr(log, "permission_missing subscription=" SUB_DEV
                                " action=Microsoft.Authorization/roleAssignments/write"));
    assert_non_null(strstr(log, "graph_permission_missing app_role=Application.ReadWrite.All"));
    free(log);
}

static void test_grant_refused_is_failed_and_held(void **state)
{
    json_t *g, *st;
    char id[64], p[128];
    const char *crid;
    const json_t *e;

    (void)state;
    json_decref(sim(&C, "POST", "/_sim/stats/reset", "{}"));
    g = h_api(C.d.p.url, C.key, "POST", "/v1/loginGrants",
              "{\"scope\":\"" DEV_VM "\",\"role\":\"user\","
              "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
              202);
    snprintf(id, sizeof(id), "%s", h_jstr(g, "id"));
    json_decref(g);
    snprintf(p, sizeof(p), "/v1/loginGrants/%s", id);
    g = h_wait_field(C.d.p.url, C.key, p, "state", "failed", 30000);
    e = json_object_get(g, "error");
    assert_string_equal(h_jstr(e, "code"), "authorization_failed");
    assert_non_null(strstr(h_jstr(e, "message"), "Microsoft.Authorization/roleAssignments/write"));
    assert_non_null(strstr(h_jstr(e, "message"), "Role Based Access Control Administrator"));
    assert_non_null(strstr(h_jstr(e, "message"), "/subscriptions/" SUB_DEV));
    /* the x-ms-client-request-id azsim received is quoted for a support case */
    st = sim(&C, "GET", "/_sim/stats", NULL);
    crid = h_jstr(json_array_get(json_object_get(st, "mutations"), 0), "clientRequestId");
    assert_string_equal(h_jstr(json_array_get(json_object_get(st, "mutations"), 0), "op"),
                        "ra.put");
    assert_true(strlen(crid) >= 36);
    assert_non_null(strstr(h_jstr(e, "message"), crid));
    json_decref(st);
    json_decref(g);
    /* not retried: a whole sync later, still the one refused PUT */
    sync_now();
    st = sim(&C, "GET", "/_sim/stats", NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "requests"), "ra.put")),
                     1);
    json_decref(st);
    g = api_get(p, NULL);
    assert_string_equal(h_jstr(g, "state"), "failed");
    json_decref(g);
}

static void test_enable_refused_is_failed_and_held(void **state)
{
    char op[64];
    json_t *j, *r;
    const json_t *e;
    char *s;

    (void)state;
    /* Azure takes Virtual Machine Contributor away in production */
    json_decref(sim(&C, "DELETE", "/_sim/roleAssignments/" VMC_PROD_RA, NULL));
    json_decref(login_call(&C, "PUT", "/v1" PROD_VM_API, "{}", op, sizeof(op)));
    j = wait_op(&C, op, 60000);
    assert_string_equal(h_jstr(j, "status"), "Failed");
    e = json_object_get(op_item(j, PROD_VM_ARM), "error");
    assert_string_equal(h_jstr(e, "code"), "authorization_failed");
    assert_non_null(strstr(h_jstr(e, "message"), "Microsoft.Compute/virtualMachines/write"));
    assert_non_null(strstr(h_jstr(e, "message"), "'Virtual Machine Contributor'"));
    json_decref(j);
    s = login_state(&C, "/v1" PROD_VM_API);
    assert_string_equal(s, "failed");
    free(s);
    assert_int_equal(sim_mutations(&C, "win-vm-01", "vm.patch"), 1); /* the refused one */
    /* the refusal made the check run again: production now lacks the VM actions */
    r = wait_report(SUB_PROD, "Microsoft.Compute/virtualMachines/write");
    assert_non_null(missing_action(sub_of(r, SUB_PROD), "Microsoft.Compute/virtualMachines/write"));
    json_decref(r);
}

/* Has the VM's login been judged "held" (a refusal kept, nothing sent)? arg: its /v1 path. */
static bool step_held(void *arg)
{
    char path[600];
    json_t *j, *vms;
    bool held;

    snprintf(path, sizeof(path), "%s/entraLogin", (const char *)arg);
    j = api(&C, "GET", path, NULL, 200, NULL, 0);
    vms = json_object_get(json_object_get(j, "observed"), "virtualMachines");
    held = json_array_size(vms) == 1 && strcmp(h_jstr(json_array_get(vms, 0), "step"), "held") == 0;
    json_decref(j);
    return held;
}

static void test_policy_deny_and_lock_are_failed_and_held(void **state)
{
    char op[64];
    json_t *j;
    const json_t *e;
    const char *pa = "/subscriptions/" SUB_DEV
                     "/providers/Microsoft.Authorization/policyAssignments/deny-vm-extensions";

    (void)state;
    json_decref(sim(&C, "PUT", "/_sim/faults",
                    "{\"scopes\":[{\"scope\":\"/subscriptions/" SUB_DEV
                    "/resourceGroups/rg-dev/providers/Microsoft.Compute/virtualMachines/"
                    "dev-ws2019-unreach\",\"kind\":\"policyDeny\",\"policyAssignmentId\":\"/"
                    "subscriptions/" SUB_DEV
                    "/providers/Microsoft.Authorization/policyAssignments/deny-vm-extensions\"},"
                    "{\"scope\":\"/subscriptions/" SUB_DEV
                    "/resourceGroups/rg-dev/providers/Microsoft.Compute/virtualMachines/"
                    "dev-ws2022-failed\",\"kind\":\"lock\",\"lockType\":\"ReadOnly\","
                    "\"name\":\"freeze\"}]}"));
    json_decref(sim(&C, "POST", "/_sim/stats/reset", "{}"));
    json_decref(login_call(&C, "PUT", "/v1/subscriptions/" SUB_DEV "/resourceGroups/rg-dev", "{}",
                           op, sizeof(op)));
    j = wait_op(&C, op, 60000);
    e = json_object_get(op_item(j, "/subscriptions/" SUB_DEV "/resourceGroups/rg-dev/providers/"
                                   "Microsoft.Compute/virtualMachines/dev-ws2019-unreach"),
                        "error");
    assert_string_equal(h_jstr(e, "code"), "policy_denied");
    assert_non_null(strstr(h_jstr(e, "message"), pa));
    e = json_object_get(op_item(j, "/subscriptions/" SUB_DEV "/resourceGroups/rg-dev/providers/"
                                   "Microsoft.Compute/virtualMachines/dev-ws2022-failed"),
                        "error");
    assert_string_equal(h_jstr(e, "code"), "scope_locked");
    assert_non_null(strstr(h_jstr(e, "message"),
                           "/dev-ws2022-failed/providers/Microsoft.Authorization/locks/freeze"));
    json_decref(j);
    /* held: the tasks look again every login_recheck_s (1 s here) and after a sync; once each
     * VM's next look has recorded "held", each refused request was still sent only once (the
     * locked VM's extension was already Failed, which alone would call for a re-PUT) */
    sync_now();
    assert_true(h_poll(step_held,
                       "/v1/subscriptions/" SUB_DEV
                       "/resourceGroups/rg-dev/virtualMachines/dev-ws2019-unreach",
                       30000));
    assert_true(h_poll(step_held,
                       "/v1/subscriptions/" SUB_DEV
                       "/resourceGroups/rg-dev/virtualMachines/dev-ws2022-failed",
                       30000));
    assert_int_equal(sim_mutations(&C, "dev-ws2019-unreach", "ext.put"), 1);
    assert_int_equal(sim_mutations(&C, "dev-ws2022-failed", NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagnosis_names_each_gap),
        cmocka_unit_test(test_grant_refused_is_failed_and_held),
        cmocka_unit_test(test_enable_refused_is_failed_and_held),
        cmocka_unit_test(test_policy_deny_and_lock_are_failed_and_held),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
