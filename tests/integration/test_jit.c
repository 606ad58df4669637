/* test_jit.c: just-in-time login end to end against azsim's demo tenant, with real Entra tokens
 * minted by azsim for three people who hold no vmlogind role: carol (the requester, eligible
 * through the group Tier1 Operators), alice (an approver through VM Admins) and bob (a bystander,
 * in neither). Carol's activation without approval becomes a grant and the role assignment in
 * azsim at once; deactivating it early removes the assignment; one with approval waits, cannot be
 * approved by carol herself (although VM Admins contains her through Tier1) nor by bob, and once
 * alice approves, the assignment is made; a pending one lapses after activation_approval_timeout_s;
 * a short activation expires and its assignment goes. Bob's own activation is refused. Bad bodies
 * are answered 4xx naming the field. */
#include "test_sync_common.h"
#include "test_jit_common.h"
#include "vmlogind/uuid.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define VM_PATH(n) RG "/providers/Microsoft.Compute/virtualMachines/" n
#define ADMIN_GUID "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define USER_GUID "fb879df8-f326-4884-b1cf-06f3ad86be52"
#define ALICE "6b7c8d9e-0000-4000-8000-00000000d001"
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"
#define CAROL "6b7c8d9e-0000-4000-8000-00000000d003"
#define DAVE_GUEST "6b7c8d9e-0000-4000-8000-00000000d004"
#define VM_ADMINS "9a8b7c6d-0000-4000-8000-00000000f001"
#define TIER1 "9a8b7c6d-0000-4000-8000-00000000f002"
#define APPROVAL_TIMEOUT_S 8

static struct sc C;
static char *carol, *alice, *bob; /* their Entra tokens: no app roles */

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *as(const char *token, const char *method, const char *path, const char *body,
                  long want)
{
    return h_api(C.d.p.url, token, method, path, body, want);
}

static json_t *admin(const char *method, const char *path, const char *body, long want)
{
    return as(C.key, method, path, body, want);
}

/* Audit rows of action about id with outcome. */
static int audited_as(const char *action, const char *id, const char *outcome);

/* The event log's types for activation id, in order, comma-separated (read from the database, as
 * the webhook outbox and GET /v1/events see them); the caller frees. */
static char *activation_events(const char *id)
{
    char sqlite_sql[512], pg_sql[512], line[1024];

    snprintf(sqlite_sql, sizeof(sqlite_sql),
             "SELECT group_concat(type) FROM (SELECT type FROM events WHERE "
             "json_extract(data, '$.activationId') = '%s' ORDER BY seq)",
             id);
    snprintf(pg_sql, sizeof(pg_sql),
             "SELECT string_agg(type, ',' ORDER BY seq) FROM events WHERE "
             "data::json->>'activationId' = '%s'",
             id);
    assert_int_equal(h_daemon_sql(&C.d, sqlite_sql, pg_sql, line, sizeof(line)), 0);
    return strdup(line);
}

/* The event log must say want for activation id. */
static void expect_events(const char *id, const char *want)
{
    char *got = activation_events(id);

    if (strcmp(got, want) != 0)
        fail_msg("activation %s: events %s, want %s", id, got, want);
    free(got);
}

/* The problem's code and the field of its first violation must be code and field. */
static void expect_problem(json_t *p, const char *code, const char *field)
{
    json_t *errs = json_object_get(p, "errors");

    assert_string_equal(h_jstr(p, "code"), code);
    if (field != NULL) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e)
        {
            if (strcmp(h_jstr(e, "field"), field) == 0)
                found = true;
        }
        if (!found)
            fail_msg("no violation names %s", field);
    }
    json_decref(p);
}

/* azsim's assignments of role_guid at exactly scope for principal. */
static size_t sim_count(const char *scope, const char *principal, const char *role_guid)
{
    char p[768];
    json_t *j, *ra;
    size_t i, n = 0;

    snprintf(p, sizeof(p), "/_sim/roleAssignments?scope=%s&principalId=%s", scope, principal);
    j = sc_sim(&C, "GET", p, NULL, 200);
    json_array_foreach(json_object_get(j, "value"), i, ra)
    {
        const char *def = h_jstr(json_object_get(ra, "properties"), "roleDefinitionId");
        if (strstr(def, role_guid) != NULL)
            n++;
    }
    json_decref(j);
    return n;
}

struct ra_want {
    const char *scope, *principal, *guid;
    size_t n;
};

static bool ra_is(void *arg)
{
    const struct ra_want *w = arg;

    return sim_count(w->scope, w->principal, w->guid) == w->n;
}

static void wait_assignments(const char *scope, const char *principal, const char *guid, size_t n)
{
    struct ra_want w = {scope, principal, guid, n};

    if (!h_poll(ra_is, &w, 30000))
        fail_msg("azsim holds %zu assignments of %s at %s for %s, want %zu",
                 sim_count(scope, principal, guid), guid, scope, principal, n);
}

static json_t *wait_activation(const char *token, const char *id, const char *state, int ms)
{
    char p[128];

    snprintf(p, sizeof(p), "/v1/activations/%s", id);
    return h_wait_field(C.d.p.url, token, p, "state", state, ms);
}

/* An eligibility of Tier1 Operators at the resource group (new string: its id). */
static char *eligible(const char *role, const char *terms)
{
    char body[1024];
    json_t *e;
    char *id;

    snprintf(body, sizeof(body),
             "{\"scope\":\"" RG "\",\"role\":\"%s\",\"principal\":{\"objectId\":\"" TIER1
             "\",\"type\":\"group\"},%s}",
             role, terms);
    e = admin("POST", "/v1/eligibilities", body, 201);
    assert_string_equal(h_jstr(json_object_get(e, "principal"), "type"), "group");
    id = strdup(h_jstr(e, "id"));
    json_decref(e);
    json_decref(sc_sync_now(&C)); /* the group's members, read from Graph */
    return id;
}

static void not_eligible_any_more(const char *elig)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/eligibilities/%s", elig);
    json_decref(admin("DELETE", path, NULL, 200));
}

static int audited_as(const char *action, const char *id, const char *outcome)
{
    json_t *log = admin("GET", "/v1/audit?limit=1000", NULL, 200), *e;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(log, "value"), i, e)
    {
        char *details = json_dumps(json_object_get(e, "details"), JSON_COMPACT);
        if (strcmp(h_jstr(e, "action"), action) == 0 &&
            strcmp(h_jstr(e, "outcome"), outcome) == 0 && details && strstr(details, id) != NULL)
            n++;
        free(details);
    }
    json_decref(log);
    return n;
}

static int audited(const char *action, const char *id)
{
    return audited_as(action, id, "succeeded");
}

/* ---- setup -------------------------------------------------------------------------------- */

static int setup(void **state)
{
    char cfg[128];

    (void)state;
    snprintf(cfg, sizeof(cfg), "activation_approval_timeout_s = %d\n",
             (int)(APPROVAL_TIMEOUT_S * h_timeout_scale()));
    sc_start(&C, NULL, NULL, cfg);
    json_decref(sc_sync_now(&C));
    carol = jit_mint_user(&C.s, CAROL, "carol@contoso.example");
    alice = jit_mint_user(&C.s, ALICE, "alice@contoso.example");
    bob = jit_mint_user(&C.s, BOB, "bob@contoso.example");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sc_stop(&C);
    free(carol);
    free(alice);
    free(bob);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Without approval: carol's own token activates user login on a VM under the eligible resource
 * group; a grant linked to the activation makes the assignment in azsim; she deactivates it
 * early and the assignment goes. Terms are enforced field by field; bob is not eligible. */
static void test_activate_without_approval(void **state)
{
    json_t *a, *g, *acc;
    char id[64], grant[64], path[128], want[192];
    char *text;
    char *elig;

    (void)state;
    elig = eligible("user", "\"maxDuration\":\"PT2H\",\"requireJustification\":true");
    /* the terms, each naming its field */
    expect_problem(as(carol, "POST", "/v1/activations",
                      "{\"scope\":\"" VM_PATH("ws2022-app-01") "\",\"role\":\"user\","
                                                               "\"duration\":\"PT1H\"}",
                      400),
                   "validation_failed", "justification");
    expect_problem(as(carol, "POST", "/v1/activations",
                      "{\"scope\":\"" VM_PATH("ws2022-app-01") "\",\"role\":\"user\","
                                                               "\"duration\":\"PT3H\","
                                                               "\"justification\":\"x\"}",
                      400),
                   "validation_failed", "duration");
    /* the bystander is eligible for nothing */
    expect_problem(as(bob, "POST", "/v1/activations",
                      "{\"scope\":\"" VM_PATH("ws2022-app-01") "\",\"role\":\"user\","
                                                               "\"duration\":\"PT1H\","
                                                               "\"justification\":\"x\"}",
                      403),
                   "not_eligible", NULL);
    /* nor is carol for administrator login, nor outside the group's scope */
    expect_problem(as(carol, "POST", "/v1/activations",
                      "{\"scope\":\"" VM_PATH("ws2022-app-01") "\",\"role\":\"administrator\","
                                                               "\"duration\":\"PT1H\","
                                                               "\"justification\":\"x\"}",
                      403),
                   "not_eligible", NULL);
    expect_problem(as(carol, "POST", "/v1/activations",
                      "{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                      "\"duration\":\"PT1H\",\"justification\":\"x\"}",
                      403),
                   "not_eligible", NULL);

    a = as(carol, "POST", "/v1/activations",
           "{\"scope\":\"" VM_PATH("ws2022-app-01") "\",\"role\":\"user\",\"duration\":\"PT1H\","
                                                    "\"justification\":\"incident 4711\"}",
           201);
    assert_string_equal(h_jstr(a, "state"), "active");
    assert_string_equal(h_jstr(a, "eligibilityId"), elig);
    assert_string_equal(h_jstr(json_object_get(a, "principal"), "objectId"), CAROL);
    assert_string_equal(h_jstr(a, "requestedBy"), "user:" CAROL);
    snprintf(id, sizeof(id), "%s", h_jstr(a, "id"));
    snprintf(grant, sizeof(grant), "%s", h_jstr(a, "grantId"));
    assert_true(uuid_is_valid(grant));
    json_decref(a);
    /* the grant carries the activation and becomes the assignment in azsim */
    g = sc_wait_grant(&C, grant, "active");
    assert_string_equal(h_jstr(g, "activationId"), id);
    json_decref(g);
    assert_int_equal(sim_count(VM_PATH("ws2022-app-01"), CAROL, USER_GUID), 1);
    assert_int_equal(audited("activation.create", id), 1);
    /* /access shows the activated login with its activation and expiry */
    acc = admin("GET", "/v1" RG "/virtualMachines/ws2022-app-01/access", NULL, 200);
    text = json_dumps(acc, JSON_COMPACT);
    snprintf(want, sizeof(want), "\"grantId\":\"%s\",\"activationId\":\"%s\"", grant, id);
    if (strstr(text, want) == NULL)
        fail_msg("/access does not show %s: %s", want, text);
    free(text);
    json_decref(acc);
    /* bob may not read it; alice (no approver of this one, no role) neither */
    snprintf(path, sizeof(path), "/v1/activations/%s", id);
    json_decref(as(bob, "GET", path, NULL, 404));
    json_decref(as(bob, "DELETE", path, NULL, 404));
    /* early deactivation by carol herself revokes the grant and the assignment goes */
    a = as(carol, "DELETE", path, NULL, 200);
    assert_string_equal(h_jstr(a, "state"), "deactivated");
    json_decref(a);
    json_decref(sc_wait_grant(&C, grant, "revoked"));
    wait_assignments(VM_PATH("ws2022-app-01"), CAROL, USER_GUID, 0);
    assert_int_equal(audited("activation.deactivate", id), 1);
    expect_events(id, "activation.requested,activation.activated,activation.deactivated");
    json_decref(admin("DELETE",
                      "/v1/eligibilities/"
                      "00000000-0000-4000-8000-000000000000",
                      NULL, 404));
    snprintf(path, sizeof(path), "/v1/eligibilities/%s", elig);
    json_decref(admin("DELETE", path, NULL, 200));
    json_decref(admin("GET", path, NULL, 404));
    free(elig);
}

/* With approval: pending; self-approval refused though carol is in VM Admins through Tier1;
 * bob may neither approve nor deny; alice approves and the assignment is made. */
static void test_activate_with_approval(void **state)
{
    json_t *a, *list, *e;
    char id[64], path[160], grant[64];
    char *elig;
    size_t i;
    bool listed = false;

    (void)state;
    elig = eligible("administrator", "\"maxDuration\":\"PT1H\",\"requireApproval\":true,"
                                     "\"approvers\":[{\"objectId\":\"" VM_ADMINS "\"}]");
    a = as(carol, "POST", "/v1/activations",
           "{\"scope\":\"" VM_PATH("ws2022-app-01") "\",\"role\":\"administrator\","
                                                    "\"duration\":\"PT30M\",\"ticket\":\"INC-1\"}",
           201);
    assert_string_equal(h_jstr(a, "state"), "pendingApproval");
    assert_true(json_is_null(json_object_get(a, "grantId")));
    snprintf(id, sizeof(id), "%s", h_jstr(a, "id"));
    json_decref(a);
    /* the approver sees it among the pending ones */
    list = as(alice, "GET", "/v1/activations?state=pendingApproval", NULL, 200);
    json_array_foreach(json_object_get(list, "value"), i, e)
    {
        if (strcmp(h_jstr(e, "id"), id) == 0)
            listed = true;
    }
    json_decref(list);
    assert_true(listed);

    snprintf(path, sizeof(path), "/v1/activations/%s/approve", id);
    expect_problem(as(carol, "POST", path, "{}", 403), "self_approval_forbidden", NULL);
    expect_problem(as(bob, "POST", path, "{}", 403), "not_an_approver", NULL);
    snprintf(path, sizeof(path), "/v1/activations/%s/deny", id);
    expect_problem(as(bob, "POST", path, "{\"reason\":\"no\"}", 403), "not_an_approver", NULL);
    expect_problem(as(alice, "POST", path, "{}", 400), "validation_failed", "reason");
    assert_int_equal(sim_count(VM_PATH("ws2022-app-01"), CAROL, ADMIN_GUID), 0);

    snprintf(path, sizeof(path), "/v1/activations/%s/approve", id);
    a = as(alice, "POST", path, "{\"reason\":\"on call\"}", 200);
    assert_string_equal(h_jstr(a, "state"), "active");
    assert_string_equal(h_jstr(a, "decidedBy"), "user:" ALICE);
    snprintf(grant, sizeof(grant), "%s", h_jstr(a, "grantId"));
    json_decref(a);
    json_decref(sc_wait_grant(&C, grant, "active"));
    assert_int_equal(sim_count(VM_PATH("ws2022-app-01"), CAROL, ADMIN_GUID), 1);
    /* decided once */
    expect_problem(as(alice, "POST", path, "{}", 409), "activation_not_pending", NULL);
    assert_int_equal(audited("activation.approve", id), 1);
    /* the self-approval and the bystander's attempts are audited as refused */
    assert_int_equal(audited_as("activation.approve", id, "denied"), 2);
    assert_int_equal(audited_as("activation.deny", id, "denied"), 1);
    snprintf(path, sizeof(path), "/v1/activations/%s", id);
    json_decref(as(carol, "DELETE", path, NULL, 200));
    json_decref(sc_wait_grant(&C, grant, "revoked"));
    wait_assignments(VM_PATH("ws2022-app-01"), CAROL, ADMIN_GUID, 0);
    expect_events(id, "activation.requested,activation.approved,activation.activated,"
                      "activation.deactivated");
    not_eligible_any_more(elig);
    free(elig);
}

/* A pending activation lapses after activation_approval_timeout_s; it can no longer be approved.
 * A denied one and a cancelled one say so. */
static void test_pending_lapses_and_denial(void **state)
{
    json_t *a;
    char id[64], path[160];
    char *elig;
    static const char body[] = "{\"scope\":\"" VM_PATH(
        "win-vm-01") "\",\"role\":\"administrator\",\"duration\":\"PT30M\"}";

    (void)state;
    elig = eligible("administrator", "\"maxDuration\":\"PT1H\",\"requireApproval\":true,"
                                     "\"approvers\":[{\"objectId\":\"" ALICE "\"}]");
    a = as(carol, "POST", "/v1/activations", body, 201);
    snprintf(id, sizeof(id), "%s", h_jstr(a, "id"));
    json_decref(a);
    a = wait_activation(carol, id, "expired", (APPROVAL_TIMEOUT_S + 30) * 1000);
    assert_string_equal(h_jstr(a, "decidedBy"), "reconciler");
    json_decref(a);
    expect_events(id, "activation.requested,activation.expired");
    snprintf(path, sizeof(path), "/v1/activations/%s/approve", id);
    expect_problem(as(alice, "POST", path, "{}", 409), "activation_not_pending", NULL);
    assert_int_equal(sim_count(VM_PATH("win-vm-01"), CAROL, ADMIN_GUID), 0);

    /* denied with a reason */
    a = as(carol, "POST", "/v1/activations", body, 201);
    snprintf(id, sizeof(id), "%s", h_jstr(a, "id"));
    json_decref(a);
    snprintf(path, sizeof(path), "/v1/activations/%s/deny", id);
    a = as(alice, "POST", path, "{\"reason\":\"not today\"}", 200);
    assert_string_equal(h_jstr(a, "state"), "denied");
    assert_string_equal(h_jstr(a, "reason"), "not today");
    json_decref(a);
    expect_events(id, "activation.requested,activation.denied");

    /* cancelled by the requester while pending */
    a = as(carol, "POST", "/v1/activations", body, 201);
    snprintf(path, sizeof(path), "/v1/activations/%s", h_jstr(a, "id"));
    json_decref(a);
    a = as(carol, "DELETE", path, NULL, 200);
    assert_string_equal(h_jstr(a, "state"), "cancelled");
    json_decref(a);
    not_eligible_any_more(elig);
    free(elig);
}

/* A short activation (made by an operator on carol's behalf) expires: its grant expires, the
 * assignment goes, and the activation reads "expired". */
static void test_expiry_removes_assignment(void **state)
{
    json_t *a;
    char id[64], grant[64], body[512];
    char *elig;
    int secs = (int)(4 * h_timeout_scale());

    (void)state;
    elig = eligible("user", "\"maxDuration\":\"PT1H\"");
    snprintf(
        body, sizeof(body),
        "{\"scope\":\"" VM_PATH("ws2019-stopped") "\",\"role\":\"user\",\"duration\":\"PT%dS\","
                                                  "\"principal\":{\"objectId\":\"" CAROL "\"}}",
        secs);
    /* on someone's behalf needs an operator: carol's token names nobody else */
    a = as(bob, "POST", "/v1/activations", body, 403);
    json_decref(a);
    a = admin("POST", "/v1/activations", body, 201);
    assert_string_equal(h_jstr(a, "state"), "active");
    snprintf(id, sizeof(id), "%s", h_jstr(a, "id"));
    snprintf(grant, sizeof(grant), "%s", h_jstr(a, "grantId"));
    json_decref(a);
    json_decref(sc_wait_grant(&C, grant, "active|expired"));
    json_decref(sc_wait_grant(&C, grant, "expired"));
    wait_assignments(VM_PATH("ws2019-stopped"), CAROL, USER_GUID, 0);
    json_decref(wait_activation(carol, id, "expired", 5000));
    assert_int_equal(audited("activation.create", id), 1);
    expect_events(id, "activation.requested,activation.activated,activation.expired");
    not_eligible_any_more(elig);
    free(elig);
}

/* Bad bodies: 4xx problem+json naming the field; guests and management groups refused as for
 * grants; an API key activates only on someone's behalf. */
static void test_invalid_input(void **state)
{
    json_t *e;

    (void)state;
    expect_problem(admin("POST", "/v1/eligibilities",
                         "{\"scope\":\"" RG
                         "\",\"role\":\"user\",\"principal\":{\"objectId\":\"" TIER1
                         "\"},\"maxDuration\":\"1 hour\"}",
                         400),
                   "validation_failed", "maxDuration");
    expect_problem(admin("POST", "/v1/eligibilities",
                         "{\"scope\":\"" RG
                         "\",\"role\":\"user\",\"principal\":{\"objectId\":\"" TIER1
                         "\"},\"maxDuration\":\"PT1H\",\"requireApproval\":true}",
                         400),
                   "validation_failed", "approvers");
    expect_problem(admin("POST", "/v1/eligibilities",
                         "{\"scope\":\"/providers/Microsoft.Management/managementGroups/mg1\","
                         "\"role\":\"user\",\"principal\":{\"objectId\":\"" TIER1
                         "\"},\"maxDuration\":\"PT1H\"}",
                         400),
                   "management_group_scope", "scope");
    expect_problem(admin("POST", "/v1/eligibilities",
                         "{\"scope\":\"" RG
                         "\",\"role\":\"user\",\"principal\":{\"objectId\":\"" DAVE_GUEST
                         "\"},\"maxDuration\":\"PT1H\",\"colour\":1}",
                         400),
                   "validation_failed", "colour");
    /* a guest the sync has not seen yet is taken on its stated type; the eligibility makes the
     * sync read it, and from then on a guest is refused (as an activation by her would be) */
    e = admin("POST", "/v1/eligibilities",
              "{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":{\"objectId\":\"" DAVE_GUEST
              "\",\"type\":\"user\"},\"maxDuration\":\"PT1H\"}",
              201);
    json_decref(sc_sync_now(&C));
    expect_problem(admin("POST", "/v1/eligibilities",
                         "{\"scope\":\"" RG
                         "\",\"role\":\"user\",\"principal\":{\"objectId\":\"" DAVE_GUEST
                         "\"},\"maxDuration\":\"PT1H\"}",
                         422),
                   "guest_principal", "principal.objectId");
    not_eligible_any_more(h_jstr(e, "id"));
    json_decref(e);
    /* eligibilities need an operator: carol holds no role */
    json_decref(as(carol, "POST", "/v1/eligibilities",
                   "{\"scope\":\"" RG "\",\"role\":\"user\",\"principal\":{\"objectId\":\"" CAROL
                   "\"},\"maxDuration\":\"PT1H\"}",
                   403));
    expect_problem(as(carol, "POST", "/v1/activations",
                      "{\"scope\":\"" RG "\",\"role\":\"user\",\"duration\":\"PT0S\"}", 400),
                   "validation_failed", "duration");
    expect_problem(as(carol, "POST", "/v1/activations",
                      "{\"scope\":\"" RG "\",\"role\":\"owner\",\"duration\":\"PT1H\"}", 400),
                   "validation_failed", "role");
    expect_problem(as(carol, "POST", "/v1/activations", "[]", 400), "validation_failed", NULL);
    expect_problem(admin("POST", "/v1/activations",
                         "{\"scope\":\"" RG "\",\"role\":\"user\",\"duration\":\"PT1H\"}", 403),
                   "activation_needs_user", NULL);
    json_decref(as(carol, "GET", "/v1/activations?state=sleeping", NULL, 400));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_activate_without_approval),
        cmocka_unit_test(test_activate_with_approval),
        cmocka_unit_test(test_pending_lapses_and_denial),
        cmocka_unit_test(test_expiry_removes_assignment),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
