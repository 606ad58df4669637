/* sim_faults.c: injected latency and failures per operation (429, 500, 503, connection reset,
 * timeout), and request statistics (counts per operation, recent mutating ARM requests).
 * Settings: {"latencyMs":{op|"*":ms}, "failureRates":{op|"*":{"429":p,...}}, "timeoutMs":ms,
 * "lroDurationsMs":{...}, "lroOutcome":{op:"Failed"|"Canceled"}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    random_bytes(&x, sizeof(x));
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

bool sim_faults_set(const json_t *j, char *err, size_t cap)
{
    static const char *sections[] = {"latencyMs", "failureRates", "lroDurationsMs", "lroOutcome"};
    const char *k;
    json_t *v;

    if (!json_is_object(j)) {
        snprintf(err, cap, "faults must be an object");
        return false;
    }
    json_object_foreach((json_t *)j, k, v)
    {
        bool flag = strcmp(k, "principalTypeIgnored") == 0; /* sim_arm_authz.c */
        bool known = strcmp(k, "timeoutMs") == 0 || flag;
        for (size_t i = 0; i < 4 && !known; i++)
            known = strcmp(k, sections[i]) == 0;
        if (!known || (flag                          ? !json_is_boolean(v)
                       : strcmp(k, "timeoutMs") == 0 ? !json_is_integer(v)
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
