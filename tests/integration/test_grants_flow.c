/* test_grants_flow.c: login grants end to end against azsim's demo tenant: grants by UPN at VM,
 * resource-group and subscription scope become role assignments with the right role GUID,
 * principal and principalType; repeats are idempotent; an assignment made before is adopted
 * after 409; a principal that is not replicated yet is waited for; guests, disabled users,
 * unknown UPNs, management-group scopes and unknown roles are refused (4xx when the synced
 * directory knows, failed with the cause otherwise); revoke and expiry remove the
 * assignment; /access shows nested groups, inherited scopes and external assignments; and
 * the RDP file. One azsim and one vmlogind serve the tests in order. */
#include "test_sync_common.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define SUB_DEV "7a1e9c44-0000-4000-8000-00000000cccc"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define VM_PATH(n) RG "/providers/Microsoft.Compute/virtualMachines/" n
#define ADMIN_GUID "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define USER_GUID "fb879df8-f326-4884-b1cf-06f3ad86be52"
#define ALICE "6b7c8d9e-0000-4000-8000-00000000d001"
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"
#define CAROL "6b7c8d9e-0000-4000-8000-00000000d003"
#define VM_ADMINS "9a8b7c6d-0000-4000-8000-00000000f001"
#define VM_USERS "9a8b7c6d-0000-4000-8000-00000000f003"
#define TIER1 "9a8b7c6d-0000-4000-8000-00000000f002"

static struct sc C;

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *api(const char *method, const char *path, const char *body, long want)
{
    return h_api(C.d.p.url, C.key, method, path, body, want);
}

static const char *jstr(const json_t *o, const char *k)
{
    return h_jstr(o, k);
}

/* azsim's assignments at exactly scope for principal (new reference: the array). */
static json_t *sim_ras(const char *scope, const char *principal)
{
    char p[768];
    json_t *j, *v;

    snprintf(p, sizeof(p), "/_sim/roleAssignments?scope=%s&principalId=%s", scope, principal);
    j = sc_sim(&C, "GET", p, NULL, 200);
    v = json_incref(json_object_get(j, "value"));
    json_decref(j);
    return v;
}

static const char *ra_prop(const json_t *ra, const char *k)
{
    return jstr(json_object_get(ra, "properties"), k);
}

static bool ends_with_ci(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcasecmp(s + n - m, tail) == 0;
}

static json_t *post_grant(const char *body, long want)
{
    return api("POST", "/v1/loginGrants", body, want);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    sc_start(&C, NULL, NULL,
             "principal_not_found_timeout_s = 30\n"
             "retry_max_attempts = 2\n"
             "retry_max_total_s = 5\n"
             "rdp_dns_suffix = corp.contoso.example\n");
    json_decref(sc_sync_now(&C)); /* the directory and the fleet as the tests begin */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sc_stop(&C);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_grant_by_upn_at_vm_scope(void **state)
{
    json_t *g, *g2, *ras, *acc, *v;
    char id[64];
    bool found = false;
    size_t i;

    (void)state;
    g = post_grant("{\"scope\":\"" RG "/virtualMachines/ws2022-app-01\",\"role\":\"administrator\","
                   "\"principal\":{\"upn\":\"alice@contoso.example\"},"
                   "\"justification\":\"on-call\"}",
                   202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    /* the short VM form is normalised to the ARM id */
    assert_string_equal(jstr(g, "scope"), VM_PATH("ws2022-app-01"));
    assert_string_equal(jstr(json_object_get(g, "principal"), "objectId"), ALICE);
    json_decref(g);
    g = sc_wait_grant(&C, id, "active");
    assert_true(ends_with_ci(jstr(g, "assignmentId"), jstr(g, "assignmentName")));
    /* azsim holds the administrator-login assignment for alice, principalType sent */
    ras = sim_ras(VM_PATH("ws2022-app-01"), ALICE);
    assert_int_equal(json_array_size(ras), 1);
    assert_true(ends_with_ci(ra_prop(json_array_get(ras, 0), "roleDefinitionId"), ADMIN_GUID));
    assert_string_equal(ra_prop(json_array_get(ras, 0), "principalType"), "User");
    assert_string_equal(jstr(json_array_get(ras, 0), "name"), jstr(g, "assignmentName"));
    json_decref(ras);
    /* a repeat answers the live grant: no second grant, no second assignment */
    g2 = post_grant("{\"scope\":\"" VM_PATH(
                        "ws2022-app-01") "\",\"role\":\"administrator\","
                                         "\"principal\":{\"upn\":\"ALICE@contoso.example\"}}",
                    200);
    assert_string_equal(jstr(g2, "id"), id);
    json_decref(g2);
    ras = sim_ras(VM_PATH("ws2022-app-01"), ALICE);
    assert_int_equal(json_array_size(ras), 1);
    json_decref(ras);
    /* /access shows alice as administrator, direct, from this grant */
    acc = api("GET", "/v1" RG "/virtualMachines/ws2022-app-01/access", NULL, 200);
    json_array_foreach(json_object_get(acc, "value"), i, v)
    {
        if (strcmp(jstr(json_object_get(v, "principal"), "id"), ALICE) != 0)
            continue;
        found = true;
        assert_string_equal(jstr(v, "role"), "administrator");
        assert_string_equal(jstr(v, "via"), "direct");
        assert_string_equal(jstr(v, "source"), "vmlogind");
        assert_string_equal(jstr(v, "grantId"), id);
        assert_string_equal(jstr(json_object_get(v, "principal"), "upn"), "alice@contoso.example");
    }
    assert_true(found);
    json_decref(acc);
    json_decref(g);
}

static void test_grants_at_rg_and_subscription(void **state)
{
    json_t *g, *ras;
    char rg_id[64], sub_id[64];

    (void)state;
    g = post_grant("{\"scope\":\"" RG "\",\"role\":\"user\","
                   "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                   202);
    snprintf(rg_id, sizeof(rg_id), "%s", jstr(g, "id"));
    json_decref(g);
    g = post_grant("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                   "\"principal\":{\"objectId\":\"" VM_ADMINS "\",\"type\":\"group\"}}",
                   202);
    snprintf(sub_id, sizeof(sub_id), "%s", jstr(g, "id"));
    json_decref(g);
    json_decref(sc_wait_grant(&C, rg_id, "active"));
    json_decref(sc_wait_grant(&C, sub_id, "active"));
    ras = sim_ras(RG, BOB);
    assert_int_equal(json_array_size(ras), 1);
    assert_true(ends_with_ci(ra_prop(json_array_get(ras, 0), "roleDefinitionId"), USER_GUID));
    json_decref(ras);
    ras = sim_ras("/subscriptions/" SUB, VM_ADMINS);
    assert_int_equal(json_array_size(ras), 1);
    assert_true(ends_with_ci(ra_prop(json_array_get(ras, 0), "roleDefinitionId"), USER_GUID));
    assert_string_equal(ra_prop(json_array_get(ras, 0), "principalType"), "Group");
    json_decref(ras);
}

static void expect_problem(const char *body, long status, const char *code)
{
    json_t *p = post_grant(body, status);
    assert_string_equal(jstr(p, "code"), code);
    json_decref(p);
}

static void test_refusals_known_to_the_store(void **state)
{
    (void)state;
    /* the sync reads the principals that hold login roles: give dave and erin one outside
     * vmlogind so the store knows them */
    json_decref(sc_sim(&C, "POST", "/_sim/roleAssignments",
                       "{\"scope\":\"/subscriptions/" SUB_DEV "\",\"principalId\":"
                       "\"6b7c8d9e-0000-4000-8000-00000000d004\",\"principalType\":\"User\","
                       "\"roleName\":\"Virtual Machine User Login\"}",
                       201));
    json_decref(sc_sim(&C, "POST", "/_sim/roleAssignments",
                       "{\"scope\":\"/subscriptions/" SUB_DEV "\",\"principalId\":"
                       "\"6b7c8d9e-0000-4000-8000-00000000d005\",\"principalType\":\"User\","
                       "\"roleName\":\"Virtual Machine User Login\"}",
                       201));
    json_decref(sc_sync_now(&C));
    expect_problem("{\"scope\":\"" RG "\",\"role\":\"user\","
                   "\"principal\":{\"upn\":\"dave_fabrikam.example#EXT#@contoso.example\"}}",
                   422, "guest_principal");
    expect_problem("{\"scope\":\"" RG "\",\"role\":\"user\","
                   "\"principal\":{\"upn\":\"erin@contoso.example\"}}",
                   422, "principal_disabled");
    expect_problem("{\"scope\":\"/providers/Microsoft.Management/managementGroups/contoso\","
                   "\"role\":\"user\",\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                   400, "management_group_scope");
    expect_problem("{\"scope\":\"" RG "\",\"role\":\"owner\","
                   "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                   400, "validation_failed");
    expect_problem("{\"scope\":\"/subscriptions/" SUB "/resourceGroups/rg-entra/providers/"
                   "Microsoft.Network/virtualNetworks/v\",\"role\":\"user\","
                   "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                   400, "validation_failed");
    expect_problem("{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":{}}", 400,
                   "validation_failed");
    expect_problem("{\"scope\":\"" RG "\",\"role\":\"user\","
                   "\"principal\":{\"upn\":\"bob@contoso.example\"},"
                   "\"expiresAt\":\"2001-01-01T00:00:00Z\"}",
                   400, "validation_failed");
}

/* Principals the sync has not seen: accepted, then failed by the reconciler with the cause. */
static void test_refusals_judged_by_graph(void **state)
{
    json_t *g;
    char id[64];

    (void)state;
    json_decref(sc_sim(&C, "POST", "/_sim/users",
                       "{\"id\":\"6b7c8d9e-0000-4000-8000-00000000d0a1\","
                       "\"userPrincipalName\":\"gina_other.example#EXT#@contoso.example\","
                       "\"displayName\":\"Gina guest\",\"userType\":\"Guest\"}",
                       201));
    json_decref(sc_sim(&C, "POST", "/_sim/users",
                       "{\"id\":\"6b7c8d9e-0000-4000-8000-00000000d0a2\","
                       "\"userPrincipalName\":\"hank@contoso.example\","
                       "\"displayName\":\"Hank off\",\"accountEnabled\":false}",
                       201));
    struct {
        const char *upn;
        const char *code;
    } cases[] = {
        {"gina_other.example#EXT#@contoso.example", "guest_principal"},
        {"hank@contoso.example", "principal_disabled"},
        {"nobody@contoso.example", "principal_not_found"},
    };
    for (size_t i = 0; i < 3; i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":{\"upn\":\"%s\"}}",
                 cases[i].upn);
        g = post_grant(body, 202);
        snprintf(id, sizeof(id), "%s", jstr(g, "id"));
        json_decref(g);
        g = sc_wait_grant(&C, id, "failed");
        assert_string_equal(jstr(json_object_get(g, "error"), "code"), cases[i].code);
        json_decref(g);
    }
}

static void test_adopts_existing_assignment_after_409(void **state)
{
    json_t *made, *g, *ras;
    char id[64], existing[512];

    (void)state;
    made = sc_sim(&C, "POST", "/_sim/roleAssignments",
                  "{\"scope\":\"" VM_PATH("win11-desk-01") "\",\"principalId\":\"" CAROL "\","
                                                           "\"roleName\":\"Virtual Machine User "
                                                           "Login\",\"principalType\":\"User\"}",
                  201);
    snprintf(existing, sizeof(existing), "%s", jstr(made, "id"));
    json_decref(made);
    g = post_grant("{\"scope\":\"" VM_PATH(
                       "win11-desk-01") "\",\"role\":\"user\","
                                        "\"principal\":{\"upn\":\"carol@contoso.example\"}}",
                   202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    json_decref(g);
    g = sc_wait_grant(&C, id, "active");
    assert_true(strcasecmp(jstr(g, "assignmentId"), existing) == 0);
    json_decref(g);
    ras = sim_ras(VM_PATH("win11-desk-01"), CAROL);
    assert_int_equal(json_array_size(ras), 1); /* adopted, not duplicated */
    json_decref(ras);
}

static void test_rides_out_replication_delay(void **state)
{
    json_t *g;
    char id[64];

    (void)state;
    /* granted by object id before the directory knows the user */
    g = post_grant(
        "{\"scope\":\"" VM_PATH(
            "win10-desk-01") "\",\"role\":\"user\","
                             "\"principal\":{\"objectId\":\"6b7c8d9e-0000-4000-8000-00000000d0b1\","
                             "\"type\":\"user\"}}",
        202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    json_decref(g);
    /* the wait is visible on the grant while it lasts */
    {
        char p[128];

        snprintf(p, sizeof(p), "/v1/loginGrants/%s", id);
        g = api("GET", p, NULL, 200);
        assert_string_equal(jstr(g, "state"), "pending");
        json_decref(g);
    }
    json_decref(sc_sim(&C, "POST", "/_sim/users",
                       "{\"id\":\"6b7c8d9e-0000-4000-8000-00000000d0b1\","
                       "\"userPrincipalName\":\"ivy@contoso.example\",\"displayName\":\"Ivy New\"}",
                       201));
    json_decref(sc_wait_grant(&C, id, "active"));
    g = sim_ras(VM_PATH("win10-desk-01"), "6b7c8d9e-0000-4000-8000-00000000d0b1");
    assert_int_equal(json_array_size(g), 1);
    json_decref(g);
}

static void test_revoke_removes_the_assignment(void **state)
{
    json_t *g, *ras;
    char id[64], path[128];

    (void)state;
    g = post_grant(
        "{\"scope\":\"" VM_PATH("win-vm-01") "\",\"role\":\"administrator\","
                                             "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
        202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    json_decref(g);
    json_decref(sc_wait_grant(&C, id, "active"));
    ras = sim_ras(VM_PATH("win-vm-01"), BOB);
    assert_int_equal(json_array_size(ras), 1);
    json_decref(ras);
    snprintf(path, sizeof(path), "/v1/loginGrants/%s", id);
    g = api("DELETE", path, NULL, 202);
    json_decref(g);
    json_decref(sc_wait_grant(&C, id, "revoked"));
    ras = sim_ras(VM_PATH("win-vm-01"), BOB);
    assert_int_equal(json_array_size(ras), 0);
    json_decref(ras);
    json_decref(api("DELETE", path, NULL, 200)); /* nothing left to revoke */
}

/* "expiresAt" ms from now as a PATCH or grant body member */
static void expiry_body(char *out, size_t cap, int64_t from_now_ms)
{
    char at[40];

    clock_fmt_rfc3339(clock_now_ms() + from_now_ms, at, sizeof(at));
    snprintf(out, cap, "{\"expiresAt\":\"%s\"}", at);
}

/* How many audit rows of action name grant id in their details (the first 1000 rows). */
static int audited(const char *action, const char *id)
{
    json_t *log = api("GET", "/v1/audit?limit=1000", NULL, 200);
    json_t *e;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(log, "value"), i, e)
    {
        if (strcmp(jstr(e, "action"), action) == 0 &&
            strcmp(jstr(json_object_get(e, "details"), "grantId"), id) == 0)
            n++;
    }
    json_decref(log);
    return n;
}

/* A time-bound grant is extended, then shortened to a moment from now: it expires then and the
 * assignment goes; an expired grant can't be changed any more. */
static void test_expiry_moved_and_reached(void **state)
{
    json_t *g, *ras;
    char id[64], body[512], at[40], path[128];
    int64_t first = 0, moved = 0;

    (void)state;
    clock_fmt_rfc3339(clock_now_ms() + 3600 * 1000, at, sizeof(at));
    snprintf(body, sizeof(body),
             "{\"scope\":\"" VM_PATH("ws2019-stopped") "\",\"role\":\"user\","
                                                       "\"principal\":{\"upn\":\"carol@contoso."
                                                       "example\"},\"expiresAt\":\"%s\"}",
             at);
    g = post_grant(body, 202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    snprintf(path, sizeof(path), "/v1/loginGrants/%s", id);
    assert_true(clock_parse_rfc3339(jstr(g, "expiresAt"), &first));
    json_decref(g);
    json_decref(sc_wait_grant(&C, id, "active"));
    ras = sim_ras(VM_PATH("ws2019-stopped"), CAROL);
    assert_int_equal(json_array_size(ras), 1);
    json_decref(ras);

    /* extended by an hour: the answer and a later read carry the new expiry */
    expiry_body(body, sizeof(body), 2 * 3600 * 1000);
    g = api("PATCH", path, body, 200);
    assert_string_equal(jstr(g, "state"), "active");
    assert_true(clock_parse_rfc3339(jstr(g, "expiresAt"), &moved));
    assert_true(moved > first + 3500 * 1000);
    json_decref(g);
    /* refused changes leave it as it was */
    json_decref(api("PATCH", path, "{\"expiresAt\":\"2001-01-01T00:00:00Z\"}", 400));
    json_decref(api("PATCH", path, "{\"expiresAt\":null}", 400));
    json_decref(api("PATCH", path, "{\"state\":\"active\"}", 400));
    json_decref(api("PATCH", path, "{\"expiresAt\":\"2999-01-01T00:00:00Z\"}", 400));
    json_decref(api("PATCH", "/v1/loginGrants/6b7c8d9e-0000-4000-8000-000000000000", body, 404));
    g = api("GET", path, NULL, 200);
    assert_true(clock_parse_rfc3339(jstr(g, "expiresAt"), &first));
    assert_int_equal(first, moved);
    json_decref(g);

    /* shortened to a moment from now: it expires and the assignment is removed */
    expiry_body(body, sizeof(body), (int64_t)(1500 * h_timeout_scale()));
    json_decref(api("PATCH", path, body, 200));
    json_decref(sc_wait_grant(&C, id, "expired"));
    ras = sim_ras(VM_PATH("ws2019-stopped"), CAROL);
    assert_int_equal(json_array_size(ras), 0);
    json_decref(ras);
    assert_int_equal(audited("loginGrant.update", id), 2); /* the refused ones left no row */
    expiry_body(body, sizeof(body), 3600 * 1000);
    g = api("PATCH", path, body, 409);
    assert_string_equal(jstr(g, "code"), "grant_not_live");
    json_decref(g);
}

/* The entry of principal id in an /access answer (borrowed), or NULL. */
static json_t *access_of(json_t *acc, const char *id)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(acc, "value"), i, v)
    {
        if (strcmp(jstr(json_object_get(v, "principal"), "id"), id) == 0)
            return v;
    }
    return NULL;
}

static void test_access_nested_groups_and_external(void **state)
{
    json_t *acc, *e, *g;
    char id[64];

    (void)state;
    /* demo: "VM Users" (bob, and Tier1 Operators with carol) holds user login at rg-entra,
     * assigned outside vmlogind; the Owner service principal never counts */
    acc = api("GET", "/v1" RG "/virtualMachines/ubuntu-web-01/access", NULL, 200);
    e = access_of(acc, CAROL);
    assert_non_null(e);
    assert_string_equal(jstr(e, "role"), "user");
    assert_string_equal(jstr(e, "via"), "group");
    assert_string_equal(jstr(json_object_get(e, "group"), "id"), VM_USERS);
    assert_string_equal(jstr(e, "source"), "external");
    assert_string_equal(jstr(e, "scope"), RG);
    e = access_of(acc, VM_USERS);
    assert_non_null(e);
    assert_string_equal(jstr(e, "source"), "external");
    assert_null(access_of(acc, "0a1b2c3d-0000-4000-8000-00000000e001")); /* Owner */
    json_decref(acc);
    /* administrator login to VM Admins (Tier1 Operators nested in it, carol in that) at the
     * resource group: carol becomes administrator through the group, from the grant */
    g = post_grant("{\"scope\":\"" RG "\",\"role\":\"administrator\","
                   "\"principal\":{\"objectId\":\"" VM_ADMINS "\",\"type\":\"group\"}}",
                   202);
    snprintf(id, sizeof(id), "%s", jstr(g, "id"));
    json_decref(g);
    json_decref(sc_wait_grant(&C, id, "active"));
    json_decref(sc_sync_now(&C)); /* the sync expands the groups that hold login roles */
    acc = api("GET", "/v1" RG "/virtualMachines/ubuntu-web-01/access", NULL, 200);
    e = access_of(acc, CAROL);
    assert_non_null(e);
    assert_string_equal(jstr(e, "role"), "administrator");
    assert_string_equal(jstr(json_object_get(e, "group"), "id"), VM_ADMINS);
    assert_string_equal(jstr(e, "source"), "vmlogind");
    assert_string_equal(jstr(e, "grantId"), id);
    json_decref(acc);
    /* and the reverse question: carol can sign in to every VM of rg-entra */
    acc = api("GET", "/v1/principals/carol@contoso.example/access?limit=1000", NULL, 200);
    assert_true(json_array_size(json_object_get(acc, "value")) >= 10);
    assert_true(json_array_size(json_object_get(acc, "assignments")) >= 2);
    json_decref(acc);
}

static void test_external_assignment_made_in_azure(void **state)
{
    json_t *acc, *e;

    (void)state;
    /* demo: alice holds administrator login on dev-ws2022-01, made outside vmlogind */
    json_decref(sc_sync_now(&C));
    acc = api("GET",
              "/v1/subscriptions/" SUB_DEV "/resourceGroups/rg-dev/virtualMachines/"
              "dev-ws2022-01/access",
              NULL, 200);
    e = access_of(acc, ALICE);
    assert_non_null(e);
    assert_string_equal(jstr(e, "role"), "administrator");
    assert_string_equal(jstr(e, "source"), "external");
    assert_true(strlen(jstr(e, "assignmentId")) > 0);
    json_decref(acc);
}

static json_t *sweep_until_done(const char *body)
{
    json_t *s = api("POST", "/v1/loginGrants/sweeps", body, 202);
    char path[128];

    snprintf(path, sizeof(path), "/v1/loginGrants/sweeps/%s", jstr(s, "id"));
    json_decref(s);
    return h_wait_field(C.d.p.url, C.key, path, "status", "!NotStarted|Running", 30000);
}

static const json_t *item_of(const json_t *sweep, const char *principal)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(sweep, "items"), i, v)
    {
        if (strcmp(jstr(v, "principalId"), principal) == 0)
            return v;
    }
    return NULL;
}

static void test_orphan_sweep(void **state)
{
    static const char ghost[] = "6b7c8d9e-0000-4000-8000-00000000d0c1";
    static const char softy[] = "6b7c8d9e-0000-4000-8000-00000000d0c2";
    const char *sweep = "{\"dryRun\":false,\"scope\":\"/subscriptions/" SUB_DEV "\"}";
    json_t *s, *ras, *g;
    const json_t *it;
    char gone_grant[64];

    (void)state;
    json_decref(sc_sim(&C, "POST", "/_sim/users",
                       "{\"id\":\"6b7c8d9e-0000-4000-8000-00000000d0c1\","
                       "\"userPrincipalName\":\"ghost@contoso.example\",\"displayName\":\"G\"}",
                       201));
    json_decref(sc_sim(&C, "POST", "/_sim/users",
                       "{\"id\":\"6b7c8d9e-0000-4000-8000-00000000d0c2\","
                       "\"userPrincipalName\":\"softy@contoso.example\",\"displayName\":\"S\"}",
                       201));
    json_decref(sc_sim(&C, "POST", "/_sim/roleAssignments",
                       "{\"scope\":\"/subscriptions/" SUB_DEV "/resourceGroups/rg-dev\","
                       "\"principalId\":\"6b7c8d9e-0000-4000-8000-00000000d0c1\","
                       "\"roleName\":\"Virtual Machine User Login\",\"principalType\":\"User\"}",
                       201));
    json_decref(sc_sim(&C, "POST", "/_sim/roleAssignments",
                       "{\"scope\":\"/subscriptions/" SUB_DEV "/resourceGroups/rg-dev\","
                       "\"principalId\":\"6b7c8d9e-0000-4000-8000-00000000d0c2\","
                       "\"roleName\":\"Virtual Machine User Login\",\"principalType\":\"User\"}",
                       201));
    /* one of vmlogind's own grants whose principal is deleted later */
    json_decref(sc_sim(&C, "POST", "/_sim/users",
                       "{\"id\":\"6b7c8d9e-0000-4000-8000-00000000d0c3\","
                       "\"userPrincipalName\":\"gone@contoso.example\",\"displayName\":\"G2\"}",
                       201));
    g = post_grant("{\"scope\":\"/subscriptions/" SUB_DEV "/resourceGroups/rg-dev\",\"role\":"
                   "\"user\",\"principal\":{\"objectId\":\"6b7c8d9e-0000-4000-8000-00000000d0c3\","
                   "\"type\":\"user\"}}",
                   202);
    snprintf(gone_grant, sizeof(gone_grant), "%s", jstr(g, "id"));
    json_decref(g);
    json_decref(sc_wait_grant(&C, gone_grant, "active"));
    json_decref(
        sc_sim(&C, "DELETE", "/_sim/users/6b7c8d9e-0000-4000-8000-00000000d0c3", NULL, 200));
    json_decref(
        sc_sim(&C, "DELETE", "/_sim/users/6b7c8d9e-0000-4000-8000-00000000d0c1", NULL, 200));
    json_decref(sc_sim(&C, "DELETE", "/_sim/users/6b7c8d9e-0000-4000-8000-00000000d0c2?mode=soft",
                       NULL, 200));

    /* a dry run reports first and deletes nothing */
    s = sweep_until_done("{\"dryRun\":true,\"scope\":\"/subscriptions/" SUB_DEV "\"}");
    assert_string_equal(jstr(s, "status"), "Succeeded");
    it = item_of(s, ghost);
    assert_non_null(it);
    assert_string_equal(jstr(it, "reason"), "orphan");
    assert_string_equal(jstr(it, "action"), "wouldRemove");
    it = item_of(s, softy);
    assert_non_null(it);
    assert_string_equal(jstr(it, "reason"), "softDeleted");
    assert_string_equal(jstr(it, "action"), "kept");
    it = item_of(s, ALICE); /* alive: not an orphan; external, but the scope is not authoritative */
    assert_non_null(it);
    assert_string_equal(jstr(it, "reason"), "external");
    assert_string_equal(jstr(it, "action"), "kept");
    json_decref(s);
    ras = sim_ras("/subscriptions/" SUB_DEV "/resourceGroups/rg-dev", ghost);
    assert_int_equal(json_array_size(ras), 1);
    json_decref(ras);

    /* Graph failing: the sweep fails and deletes nothing */
    json_decref(sc_sim(&C, "PUT", "/_sim/faults",
                       "{\"failureRates\":{\"graph.getByIds\":{\"500\":1.0}}}", 200));
    s = sweep_until_done(sweep);
    assert_string_equal(jstr(s, "status"), "Failed");
    assert_string_equal(jstr(json_object_get(s, "error"), "code"), "graph_error");
    json_decref(s);
    ras = sim_ras("/subscriptions/" SUB_DEV "/resourceGroups/rg-dev", ghost);
    assert_int_equal(json_array_size(ras), 1);
    json_decref(ras);
    json_decref(sc_sim(&C, "PUT", "/_sim/faults", "{}", 200));

    /* for real: the orphan goes, the soft-deleted one stays */
    s = sweep_until_done(sweep);
    assert_string_equal(jstr(s, "status"), "Succeeded");
    assert_string_equal(jstr(item_of(s, ghost), "action"), "removed");
    json_decref(s);
    ras = sim_ras("/subscriptions/" SUB_DEV "/resourceGroups/rg-dev", ghost);
    assert_int_equal(json_array_size(ras), 0);
    json_decref(ras);
    ras = sim_ras("/subscriptions/" SUB_DEV "/resourceGroups/rg-dev", softy);
    assert_int_equal(json_array_size(ras), 1);
    json_decref(ras);
    /* the grant behind a removed orphan ends failed, naming why */
    ras = sim_ras("/subscriptions/" SUB_DEV "/resourceGroups/rg-dev",
                  "6b7c8d9e-0000-4000-8000-00000000d0c3");
    assert_int_equal(json_array_size(ras), 0);
    json_decref(ras);
    {
        char path[128];

        snprintf(path, sizeof(path), "/v1/loginGrants/%s", gone_grant);
        g = api("GET", path, NULL, 200);
        assert_string_equal(jstr(g, "state"), "failed");
        assert_string_equal(jstr(json_object_get(g, "error"), "code"), "principal_deleted");
        json_decref(g);
    }
}

static bool external_gone(void *arg)
{
    json_t *ras = sim_ras(arg, ALICE);
    bool gone = json_array_size(ras) == 0;

    json_decref(ras);
    return gone;
}

static void test_authoritative_scope_removes_external(void **state)
{
    static char vm[] = "/subscriptions/" SUB_DEV
                       "/resourceGroups/rg-dev/providers/Microsoft.Compute/virtualMachines/"
                       "dev-ws2022-01";
    json_t *p;

    (void)state;
    p = api("PUT",
            "/v1/subscriptions/" SUB_DEV "/resourceGroups/rg-dev/virtualMachines/dev-ws2022-01/"
            "loginPolicy",
            "{\"authoritative\":true}", 200);
    assert_true(json_is_true(json_object_get(p, "authoritative")));
    json_decref(p);
    assert_true(h_poll(external_gone, vm, 20000));
}

static void test_rdp_file(void **state)
{
    char u[512], v[256];
    struct resp r;
    const char *h[] = {h_bearer(C.key), NULL};

    (void)state;
    snprintf(u, sizeof(u),
             "%s/v1" RG "/virtualMachines/ws2022-dup/rdp?upn=alice@contoso.example&form=azuread",
             C.d.p.url);
    assert_int_equal(h_http("GET", u, NULL, h, &r), 200);
    assert_true(h_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/x-rdp");
    assert_true(h_resp_header(&r, "Content-Disposition", v, sizeof(v)));
    assert_string_equal(v, "attachment; filename=\"ws2022-dup.rdp\"");
    assert_non_null(strstr(r.body, "full address:s:CONTOSO-WS01.corp.contoso.example\r\n"));
    assert_non_null(strstr(r.body, "enablerdsaadauth:i:1\r\n"));
    assert_non_null(strstr(r.body, "username:s:AzureAD\\alice@contoso.example\r\n"));
    for (const char *p = strchr(r.body, '\n'); p != NULL; p = strchr(p + 1, '\n'))
        assert_int_equal(p[-1], '\r'); /* CRLF only */
    h_resp_cleanup(&r);
    snprintf(u, sizeof(u), "%s/v1" RG "/virtualMachines/ws2022-dup/rdp?form=telnet", C.d.p.url);
    assert_int_equal(h_http("GET", u, NULL, h, &r), 400);
    h_resp_cleanup(&r);
    snprintf(u, sizeof(u), "%s/v1" RG "/virtualMachines/no-such-vm/rdp", C.d.p.url);
    assert_int_equal(h_http("GET", u, NULL, h, &r), 404);
    h_resp_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_by_upn_at_vm_scope),
        cmocka_unit_test(test_grants_at_rg_and_subscription),
        cmocka_unit_test(test_refusals_known_to_the_store),
        cmocka_unit_test(test_refusals_judged_by_graph),
        cmocka_unit_test(test_adopts_existing_assignment_after_409),
        cmocka_unit_test(test_rides_out_replication_delay),
        cmocka_unit_test(test_revoke_removes_the_assignment),
        cmocka_unit_test(test_expiry_moved_and_reached),
        cmocka_unit_test(test_access_nested_groups_and_external),
        cmocka_unit_test(test_external_assignment_made_in_azure),
        cmocka_unit_test(test_orphan_sweep),
        cmocka_unit_test(test_authoritative_scope_removes_external),
        cmocka_unit_test(test_rdp_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
