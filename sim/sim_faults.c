/* sim_faults.c: injected latency and failures per operation (429, 500, 503, connection reset,
 * timeout), the errors production meets injected per scope, and request statistics (counts per
 * operation, recent mutating ARM requests).
 * Settings: {"latencyMs":{op|"*":ms}, "failureRates":{op|"*":{"429":p,...}}, "timeoutMs":ms,
 * "lroDurationsMs":{...}, "lroOutcome":{op:"Failed"|"Canceled"},
 * "scopes":[{"scope":ARM id, "kind":K, "operations":[op...]?, ...}]} where K is policyDeny
 * (policyAssignmentId, policyAssignmentName?), lock (lockType ReadOnly|CanNotDelete, name?),
 * operationPreempted, extensionTimeout, agentNotReady or roleAssignmentLimit: each applies to
 * requests on that scope or below it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

static const char *FAULT_KINDS[] = {"429", "500", "503", "reset", "timeout"};
#define N_FAULTS 5

static const json_t *for_op(const char *section, const char *op)
{
    const json_t *s = json_object_get(S.faults, section);
    const json_t *v = json_object_get(s, op);
    char prefix[64];
    const char *dot = strchr(op, '.');

    if (!v && dot && (size_t)(dot - op) < sizeof(prefix) - 3) {
        snprintf(prefix, sizeof(prefix), "%.*s.*", (int)(dot - op), op);
        v = json_object_get(s, prefix);
    }
    return v ? v : json_object_get(s, "*");
}

static double roll(void)
{
    uint32_t x;

    uuid_random_bytes(&x, sizeof(x));
    return (double)x / 4294967296.0;
}

bool sim_faults_apply(struct sim_req *r, const char *op)
{
    int64_t latency;
    int64_t timeout_ms;
    double p[N_FAULTS] = {0};
    double x, acc = 0;
    int hit = -1;

    pthread_mutex_lock(&S.mu);
    latency = (int64_t)json_number_value(for_op("latencyMs", op));
    timeout_ms = json_integer_value(json_object_get(S.faults, "timeoutMs"));
    for (int i = 0; i < N_FAULTS; i++)
        p[i] = json_number_value(json_object_get(for_op("failureRates", op), FAULT_KINDS[i]));
    pthread_mutex_unlock(&S.mu);
    if (latency > 0)
        clock_sleep_ms(latency);
    x = roll();
    for (int i = 0; i < N_FAULTS && hit < 0; i++) {
        acc += p[i];
        if (x < acc)
            hit = i;
    }
    if (hit < 0)
        return true;
    pthread_mutex_lock(&S.mu);
    json_object_set_new(
        S.stats_requests, "_injected",
        json_integer(json_integer_value(json_object_get(S.stats_requests, "_injected")) + 1));
    pthread_mutex_unlock(&S.mu);
    switch (hit) {
    case 0:
        sim_reply_header(r, "Retry-After", "1");
        if (sim_seg_is(r, 0, "v1.0"))
            sim_graph_error(r, 429, "TooManyRequests", "Please retry again later.");
        else
            sim_arm_error(r, 429, "SubscriptionRequestsThrottled",
                          "Number of requests exceeded (injected). Please try again after '1' "
                          "seconds.");
        break;
    case 1:
        sim_arm_error(r, 500, "InternalServerError",
                      "Encountered internal server error. Diagnostic information: tracking id "
                      "'%s'.",
                      r->request_id);
        break;
    case 2:
        sim_reply_header(r, "Retry-After", "1");
        sim_arm_error(r, 503, "ServiceUnavailable",
                      "The service is temporarily unavailable. Please retry later.");
        break;
    case 4:
        clock_sleep_ms(timeout_ms > 0 ? timeout_ms : 30000);
        r->reset = true;
        break;
    default:
        r->reset = true;
        break;
    }
    return false;
}

/* ---- the errors production meets, per scope ---- */

static const char *SCOPE_KINDS[] = {
    "policyDeny",          "lock", "operationPreempted", "extensionTimeout", "agentNotReady",
    "roleAssignmentLimit", NULL};

/* The operations each kind applies to unless the fault lists its own. */
static const char *const *default_ops(const char *kind)
{
    static const char *const writes[] = {"vm.patch", "ext.put", "ra.put", NULL};
    static const char *const lock_ops[] = {"vm.patch", "ext.put", "ext.delete", NULL};
    static const char *const lros[] = {"vm.patch", "ext.put", "ext.delete", NULL};
    static const char *const ext_put[] = {"ext.put", NULL};
    static const char *const ra_put[] = {"ra.put", NULL};

    if (strcmp(kind, "policyDeny") == 0)
        return writes;
    if (strcmp(kind, "lock") == 0)
        return lock_ops;
    if (strcmp(kind, "roleAssignmentLimit") == 0)
        return ra_put;
    if (strcmp(kind, "operationPreempted") == 0)
        return lros;
    return ext_put;
}

static bool scope_faults_ok(const json_t *a, char *err, size_t cap)
{
    size_t i;
    json_t *f;

    if (a == NULL)
        return true;
    if (!json_is_array(a)) {
        snprintf(err, cap, "faults.scopes must be an array");
        return false;
    }
    json_array_foreach((json_t *)a, i, f)
    {
        const char *scope = json_string_value(json_object_get(f, "scope"));
        const char *kind = json_string_value(json_object_get(f, "kind"));
        bool known = false;
        for (size_t k = 0; kind && SCOPE_KINDS[k] && !known; k++)
            known = strcmp(kind, SCOPE_KINDS[k]) == 0;
        if (!scope || scope[0] != '/' || !known ||
            (json_object_get(f, "operations") &&
             !json_is_array(json_object_get(f, "operations")))) {
            snprintf(err, cap,
                     "faults.scopes[%zu]: need scope (an ARM id) and kind (policyDeny, lock, "
                     "operationPreempted, extensionTimeout, agentNotReady, roleAssignmentLimit)",
                     i);
            return false;
        }
    }
    return true;
}

static bool op_listed(const json_t *f, const char *op)
{
    const json_t *ops = json_object_get(f, "operations");
    const char *const *d = default_ops(json_string_value(json_object_get(f, "kind")));

    if (ops != NULL) {
        for (size_t i = 0; i < json_array_size(ops); i++) {
            const char *o = json_string_value(json_array_get(ops, i));
            if (o && strcmp(o, op) == 0)
                return true;
        }
        return false;
    }
    for (; *d; d++) {
        if (strcmp(*d, op) == 0)
            return true;
    }
    return false;
}

const json_t *sim_scope_fault(const char *path, const char *op, const char *kind)
{
    const json_t *a = json_object_get(S.faults, "scopes");
    size_t i;
    json_t *f;

    json_array_foreach((json_t *)a, i, f)
    {
        const char *scope = json_string_value(json_object_get(f, "scope"));
        size_t n = strlen(scope);
        if (kind && strcmp(json_string_value(json_object_get(f, "kind")), kind) != 0)
            continue;
        if (strncasecmp(scope, path, n) == 0 && (path[n] == '\0' || path[n] == '/') &&
            op_listed(f, op))
            return f;
    }
    return NULL;
}

/* 403 RequestDisallowedByPolicy with the assignment in additionalInfo (ErrorResponse of
 * specification/common-types/resource-management/v5/types.json; the body shape of
 * https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-policy-requestdisallowedbypolicy).
 */
static void policy_deny(struct sim_req *r, const json_t *f)
{
    const char *pa = sim_or(json_string_value(json_object_get(f, "policyAssignmentId")),
                            "/providers/Microsoft.Authorization/policyAssignments/azsim-deny");
    const char *slash = strrchr(pa, '/');
    const char *pa_name = sim_or(json_string_value(json_object_get(f, "policyAssignmentName")),
                                 slash ? slash + 1 : pa);
    const char *pd = "/providers/Microsoft.Authorization/policyDefinitions/azsim-deny-definition";
    const char *target = strrchr(r->url, '/') ? strrchr(r->url, '/') + 1 : r->url;
    char *ids =
        xasprintf("[{\"policyAssignment\":{\"name\":\"%s\",\"id\":\"%s\"},"
                  "\"policyDefinition\":{\"name\":\"azsim-deny-definition\",\"id\":\"%s\"}}]",
                  pa_name, pa, pd);
    char *msg =
        xasprintf("Resource '%s' was disallowed by policy. Policy identifiers: '%s'.", target, ids);

    sim_reply_json(
        r, 403,
        json_pack("{s:{s:s, s:s, s:s, s:[{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}]}}",
                  "error", "code", "RequestDisallowedByPolicy", "target", target, "message", msg,
                  "additionalInfo", "type", "PolicyViolation", "info",
                  "policyDefinitionDisplayName", "azsim deny", "policyDefinitionId", pd,
                  "policyDefinitionName", "azsim-deny-definition", "policyDefinitionEffect", "deny",
                  "policyAssignmentId", pa, "policyAssignmentName", pa_name,
                  "policyAssignmentScope", json_string_value(json_object_get(f, "scope")),
                  "policyAssignmentDisplayName", pa_name));
    free(msg);
    free(ids);
}

bool sim_scope_faults_check(struct sim_req *r, const struct sim_route *rt)
{
    const json_t *f = sim_scope_fault(r->url, rt->op, NULL);
    const char *kind = json_string_value(json_object_get(f, "kind"));
    bool del = strcmp(r->method, "DELETE") == 0;

    if (f == NULL)
        return true;
    if (strcmp(kind, "policyDeny") == 0) {
        policy_deny(r, f);
        return false;
    }
    if (strcmp(kind, "lock") == 0) {
        const char *type = sim_or(json_string_value(json_object_get(f, "lockType")), "ReadOnly");
        if (!del && !sim_ieq(type, "ReadOnly"))
            return true; /* CanNotDelete blocks deletes only */
        /* 409 ScopeLocked
         * (https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources) */
        sim_arm_error(r, 409, "ScopeLocked",
                      "The scope '%s' cannot perform %s operation because following scope(s) are "
                      "locked: '%s/providers/Microsoft.Authorization/locks/%s'. Please remove the "
                      "lock and try again.",
                      r->url, del ? "delete" : "write",
                      json_string_value(json_object_get(f, "scope")),
                      sim_or(json_string_value(json_object_get(f, "name")), "azsim-lock"));
        return false;
    }
    if (strcmp(kind, "roleAssignmentLimit") == 0) {
        /* https://learn.microsoft.com/azure/role-based-access-control/troubleshoot-limits
         * (RoleAssignmentLimitExceeded; azure-wire.md section 8) */
        sim_arm_error(r, 400, "RoleAssignmentLimitExceeded",
                      "No more role assignments can be created.");
        return false;
    }
    return true; /* the others shape the long-running operation (sim_lro.c) */
}

bool sim_faults_set(const json_t *j, char *err, size_t cap)
{
    static const char *sections[] = {"latencyMs", "failureRates", "lroDurationsMs", "lroOutcome"};

    if (!scope_faults_ok(json_object_get(j, "scopes"), err, cap))
        return false;
    const char *k;
    json_t *v;

    if (!json_is_object(j)) {
        snprintf(err, cap, "faults must be an object");
        return false;
    }
    json_object_foreach((json_t *)j, k, v)
    {
        bool flag = strcmp(k, "principalTypeIgnored") == 0; /* sim_arm_authz.c */
        bool known = strcmp(k, "timeoutMs") == 0 || strcmp(k, "scopes") == 0 || flag;
        for (size_t i = 0; i < 4 && !known; i++)
            known = strcmp(k, sections[i]) == 0;
        if (!known || (flag                          ? !json_is_boolean(v)
                       : strcmp(k, "timeoutMs") == 0 ? !json_is_integer(v)
                       : strcmp(k, "scopes") == 0    ? !json_is_array(v)
                                                     : !json_is_object(v))) {
            snprintf(err, cap, "faults.%s: unknown key or wrong type", k);
            return false;
        }
    }
    json_decref(S.faults);
    S.faults = json_deep_copy(j);
    return true;
}

void sim_stats_count(const char *op)
{
    json_t *c = json_object_get(S.stats_requests, op);

    json_object_set_new(S.stats_requests, op, json_integer(json_integer_value(c) + 1));
}

void sim_stats_mutation(struct sim_req *r)
{
    char ts[32];
    const char *crid = sim_header(r, "x-ms-client-request-id");

    clock_fmt_rfc3339(clock_now_ms(), ts, sizeof(ts));
    if (json_array_size(S.mutations) >= SIM_RECENT_MUTATIONS)
        json_array_remove(S.mutations, 0);
    json_array_append_new(S.mutations,
                          json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s*}", "time", ts,
                                    "method", r->method, "path", r->url, "op", r->op, "status",
                                    r->status, "client", r->client, "apiVersion",
                                    sim_query(r, "api-version") ? sim_query(r, "api-version") : "",
                                    "requestId", r->request_id, "clientRequestId", crid));
}
