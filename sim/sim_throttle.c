/* sim_throttle.c: ARM token buckets per subscription (or tenant), per principal and per
 * operation type, plus the subscription's global bucket (15x a principal's); the Compute
 * provider's own policies (sliding windows named like Azure's, reported in
 * x-ms-ratelimit-remaining-resource); a Graph bucket per app, whose 429s carry Retry-After
 * except every Nth when configured; the remaining-quota headers, 429s, and violations counted
 * per client and per bucket: a request that arrives before the Retry-After it was given. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

static const char *KIND[] = {"reads", "writes", "deletes"};
static const char *KIND1[] = {"read", "write", "delete"};

/* ---- the Compute provider's own limits ---- */

/* Compute throttles per subscription and region by named policies over 3- and 30-minute
 * windows, reported as x-ms-ratelimit-remaining-resource:
 * "Microsoft.Compute/HighCostGet3Min;159,Microsoft.Compute/HighCostGet30Min;1297"; a 429 is
 * OperationNotAllowed with details[{code TooManyRequests, target <policy>}] (azure-wire.md
 * section 9; https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/
 * troubleshooting-throttling-errors). Azure does not publish the counts: the defaults below are
 * azsim's, set per policy with PUT /_sim/throttle {"compute": {"PutVM3Min": {"limit": n}}}. */
static const struct {
    const char *name;
    int window_s;
    double dflt;
    const char *ops[6];
} POLICIES[] = {
    {"HighCostGet3Min", 180, 1000, {"vm.list", NULL}},
    {"HighCostGet30Min", 1800, 8000, {"vm.list", NULL}},
    {"LowCostGet3Min", 180, 4000, {"vm.get", "vm.instanceView", "ext.get", "ext.list", NULL}},
    {"LowCostGet30Min", 1800, 32000, {"vm.get", "vm.instanceView", "ext.get", "ext.list", NULL}},
    {"PutVM3Min", 180, 1000, {"vm.patch", "ext.put", "ext.delete", NULL}},
    {"PutVM30Min", 1800, 8000, {"vm.patch", "ext.put", "ext.delete", NULL}},
};
#define N_POLICIES (sizeof(POLICIES) / sizeof(POLICIES[0]))

static void windows_clear(void);

void sim_throttle_defaults(void)
{
    S.limits.burst[0] = 250;
    S.limits.rate[0] = 25;
    S.limits.burst[1] = 200;
    S.limits.rate[1] = 10;
    S.limits.burst[2] = 200;
    S.limits.rate[2] = 10;
    S.limits.graph_burst = 3500;
    S.limits.graph_rate = 350;
    S.limits.graph_omit_retry_after_every = 0;
    for (size_t i = 0; i < N_POLICIES; i++)
        S.limits.compute[i] = POLICIES[i].dflt;
    windows_clear();
}

static struct sim_bucket *bucket(const char *key, double burst, int64_t now)
{
    struct sim_bucket *b = sim_map_get(&S.buckets, key);

    if (!b) {
        b = xcalloc(1, sizeof(*b));
        b->tokens = burst;
        b->last_ms = now;
        sim_map_put(&S.buckets, key, b);
    }
    return b;
}

static void count(json_t *o, const char *key)
{
    json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + 1));
}

static void violation_check(const char *tkey, const char *bucket_key, const char *client,
                            int64_t now)
{
    int64_t *until = sim_map_get(&S.throttled, tkey);

    if (!until || now >= *until)
        return;
    S.stats_violations++;
    count(S.stats_violations_by_client, client);
    count(S.stats_violations_by_bucket, bucket_key);
}

static void remember(const char *tkey, int64_t until_ms)
{
    int64_t *u = sim_map_get(&S.throttled, tkey);

    if (!u) {
        u = xmalloc(sizeof(*u));
        sim_map_put(&S.throttled, tkey, u);
    }
    *u = until_ms;
}

static void refill(struct sim_bucket *b, double burst, double rate, int64_t now)
{
    b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ms = now;
}

static bool policy_has(size_t i, const char *op)
{
    for (int k = 0; POLICIES[i].ops[k]; k++) {
        if (strcmp(POLICIES[i].ops[k], op) == 0)
            return true;
    }
    return false;
}

/* Request times of one policy window: a ring of the last `limit` arrivals. */
struct window {
    int64_t *at;
    size_t cap, len, head;
};

static struct sim_map windows; /* "compute|sub|policy" -> struct window, under S.mu */

static void windows_clear(void)
{
    for (size_t i = 0; i < windows.cap; i++) {
        const char *k;
        void *v;
        if (sim_map_at(&windows, i, &k, &v)) {
            free(((struct window *)v)->at);
            free(v);
        }
    }
    sim_map_cleanup(&windows);
}

static struct window *window_get(const char *key, size_t cap)
{
    struct window *w = sim_map_get(&windows, key);

    if (!w) {
        w = xcalloc(1, sizeof(*w));
        sim_map_put(&windows, key, w);
    }
    if (w->cap != cap) { /* new or resized limit: start afresh */
        free(w->at);
        w->at = xcalloc(cap + 1, sizeof(*w->at));
        w->cap = cap;
        w->len = w->head = 0;
    }
    return w;
}

static size_t window_count(struct window *w, int64_t since)
{
    while (w->len > 0 && w->at[(w->head + w->cap - w->len) % w->cap] < since)
        w->len--;
    return w->len;
}

static bool compute_take(struct sim_req *r, const struct sim_route *rt, int64_t now)
{
    char hdr[512] = "";
    size_t o = 0;
    bool ok = true;
    size_t hit = 0;
    int64_t retry_ms = 0;

    if (!rt->sub || strncmp(rt->op, "vm.", 3) != 0) {
        if (strncmp(rt->op, "ext.", 4) != 0 || !rt->sub)
            return true;
    }
    for (size_t i = 0; i < N_POLICIES; i++) {
        size_t limit = (size_t)S.limits.compute[i];
        char *key;
        struct window *w;
        size_t used;
        if (!policy_has(i, rt->op) || limit == 0)
            continue;
        key = xasprintf("compute|%s|%s", rt->sub, POLICIES[i].name);
        w = window_get(key, limit);
        {
            char *tk = xasprintf("%s|%s", r->client, key);
            violation_check(tk, key, r->client, now);
            free(tk);
        }
        free(key);
        used = window_count(w, now - (int64_t)POLICIES[i].window_s * 1000);
        if (used >= limit && ok) {
            ok = false;
            hit = i;
            retry_ms = w->at[(w->head + w->cap - w->len) % w->cap] +
                       (int64_t)POLICIES[i].window_s * 1000 - now;
        }
        if (ok) {
            w->at[w->head] = now;
            w->head = (w->head + 1) % w->cap;
            if (w->len < w->cap)
                w->len++;
            used++;
        }
        o += (size_t)snprintf(hdr + o, sizeof(hdr) - o, "%sMicrosoft.Compute/%s;%zu", o ? "," : "",
                              POLICIES[i].name, limit - (used < limit ? used : limit));
        if (o >= sizeof(hdr))
            o = sizeof(hdr) - 1;
    }
    if (hdr[0])
        sim_reply_header(r, "x-ms-ratelimit-remaining-resource", "%s", hdr);
    if (ok)
        return true;
    {
        char start[32], end[32], *detail;
        int wait = (int)((retry_ms + 999) / 1000);
        char *bkey = xasprintf("compute|%s|%s", rt->sub, POLICIES[hit].name);
        char *tkey = xasprintf("%s|%s", r->client, bkey);
        if (wait < 1)
            wait = 1;
        remember(tkey, now + (int64_t)wait * 1000);
        clock_fmt_rfc3339(now, start, sizeof(start));
        clock_fmt_rfc3339(now + (int64_t)wait * 1000, end, sizeof(end));
        detail = xasprintf("{\"operationGroup\":\"%s\",\"startTime\":\"%s\",\"endTime\":"
                           "\"%s\",\"allowedRequestCount\":%d,\"measuredRequestCount\":%d}",
                           POLICIES[hit].name, start, end, (int)S.limits.compute[hit],
                           (int)S.limits.compute[hit] + 1);
        S.stats_429++;
        sim_reply_header(r, "Retry-After", "%d", wait);
        sim_reply_json(r, 429,
                       json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:s}]}}", "error", "code",
                                 "OperationNotAllowed", "message",
                                 "The server rejected the request because too many requests have "
                                 "been received for this subscription.",
                                 "details", "code", "TooManyRequests", "target", POLICIES[hit].name,
                                 "message", detail));
        free(detail);
        free(tkey);
        free(bkey);
    }
    return false;
}

static void remaining_header(struct sim_req *r, bool sub, int k, int left)
{
    char name[64];

    snprintf(name, sizeof(name), "x-ms-ratelimit-remaining-%s-%s", sub ? "subscription" : "tenant",
             KIND[k]);
    sim_reply_header(r, name, "%d", left);
}

bool sim_throttle_take(struct sim_req *r, const struct sim_route *rt)
{
    int64_t now = clock_now_ms();
    bool graph = rt->area == AREA_GRAPH;
    int k = rt->tkind;
    double burst = graph ? S.limits.graph_burst : S.limits.burst[k];
    double rate = graph ? S.limits.graph_rate : S.limits.rate[k];
    char *scope = graph ? xstrdup("graph") : rt->sub ? sim_lc(rt->sub) : xstrdup("tenant");
    /* ARM: "limits apply per subscription per service principal per operation type", and a
     * subscription's global limit is 15x a principal's (azure-wire.md section 9; https://learn.
     * microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling) */
    char *key =
        graph ? xasprintf("graph|%s", r->client) : xasprintf("%s|%s|%s", scope, r->client, KIND[k]);
    char *gkey = xasprintf("%s|*|%s", scope, KIND[k]);
    char *tkey = xasprintf("%s|%s", r->client, key);
    struct sim_bucket *b = bucket(key, burst, now);
    struct sim_bucket *g = graph ? NULL : bucket(gkey, burst * 15, now);
    bool ok = true;

    refill(b, burst, rate, now);
    if (g != NULL)
        refill(g, burst * 15, rate * 15, now);
    violation_check(tkey, key, r->client, now);
    if (g != NULL && g->tokens < 1.0 && b->tokens >= 1.0)
        b = g; /* the subscription as a whole is out */
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        if (g != NULL && g != b)
            g->tokens -= 1.0;
        if (graph)
            sim_reply_header(r, "x-ms-resource-unit", "1");
        else
            remaining_header(r, rt->sub != NULL, k, (int)b->tokens);
        goto out;
    }
    ok = false;
    S.stats_429++;
    if (graph) {
        double wait = rate > 0 ? (1.0 - b->tokens) / rate : 10.0;
        char ts[32];
        if (wait < 0.001)
            wait = 0.001;
        clock_fmt_rfc3339(now, ts, sizeof(ts));
        /* Some Graph 429s come without Retry-After (azure-wire.md section 11; https://learn.
         * microsoft.com/graph/throttling: "fall back to exponential backoff") */
        if (S.limits.graph_omit_retry_after_every <= 0 ||
            S.stats_429 % S.limits.graph_omit_retry_after_every != 0)
            sim_reply_header(r, "Retry-After", "%.3f", wait);
        sim_reply_header(r, "x-ms-throttle-scope", "Application/Limit/%s/%s", r->client, S.tenant);
        sim_reply_json(r, 429,
                       json_pack("{s:{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}}", "error", "code",
                                 "TooManyRequests", "message", "Please retry again later.",
                                 "innerError", "code", "429", "date", ts, "message",
                                 "Please retry after", "request-id", r->request_id, "status",
                                 "429"));
        remember(tkey, now + (int64_t)(wait * 1000));
    } else {
        int wait = rate > 0 ? (int)ceil((1.0 - b->tokens) / rate) : 60;
        if (wait < 1)
            wait = 1;
        sim_reply_header(r, "Retry-After", "%d", wait);
        sim_arm_error(r, 429, rt->sub ? "SubscriptionRequestsThrottled" : "TenantRequestsThrottled",
                      "Number of '%s' requests for subscription '%s' actor '%s' exceeded. Please "
                      "try again after '%d' seconds after additional tokens are available. Refer "
                      "to https://aka.ms/arm-throttling",
                      KIND1[k], rt->sub ? rt->sub : S.tenant, r->client, wait);
        remember(tkey, now + (int64_t)wait * 1000);
    }
out:
    free(tkey);
    free(gkey);
    free(key);
    free(scope);
    return ok && (graph || compute_take(r, rt, now));
}

json_t *sim_throttle_to_json(void)
{
    json_t *arm = json_object();

    for (int k = 0; k < 3; k++)
        json_object_set_new(
            arm, KIND[k],
            json_pack("{s:f, s:f}", "burst", S.limits.burst[k], "rate", S.limits.rate[k]));
    json_t *compute = json_object();

    for (size_t i = 0; i < N_POLICIES; i++)
        json_object_set_new(
            compute, POLICIES[i].name,
            json_pack("{s:f, s:i}", "limit", S.limits.compute[i], "windowS", POLICIES[i].window_s));
    return json_pack("{s:o, s:{s:f, s:f, s:i}, s:o}", "arm", arm, "graph", "burst",
                     S.limits.graph_burst, "rate", S.limits.graph_rate, "omitRetryAfterEvery",
                     S.limits.graph_omit_retry_after_every, "compute", compute);
}

static bool pair(const json_t *o, double *burst, double *rate, char *err, size_t cap,
                 const char *what)
{
    const json_t *b = json_object_get(o, "burst");
    const json_t *r = json_object_get(o, "rate");

    if (!o)
        return true;
    if (!json_is_object(o) || (b && !json_is_number(b)) || (r && !json_is_number(r)) ||
        (b && json_number_value(b) < 1) || (r && json_number_value(r) < 0)) {
        snprintf(err, cap, "%s: expected {\"burst\": number >= 1, \"rate\": number >= 0}", what);
        return false;
    }
    if (b)
        *burst = json_number_value(b);
    if (r)
        *rate = json_number_value(r);
    return true;
}

/* {"PutVM3Min": {"limit": n}, ...}: 0 turns a policy off. */
static bool compute_from_json(const json_t *c, struct sim_limits *l, char *err, size_t cap)
{
    const char *k;
    json_t *v;

    if (c == NULL)
        return true;
    if (!json_is_object(c)) {
        snprintf(err, cap, "compute must be an object of policies");
        return false;
    }
    json_object_foreach((json_t *)c, k, v)
    {
        size_t i = 0;
        const json_t *lim = json_object_get(v, "limit");
        while (i < N_POLICIES && strcmp(POLICIES[i].name, k) != 0)
            i++;
        if (i == N_POLICIES || !json_is_number(lim) || json_number_value(lim) < 0 ||
            json_number_value(lim) > 1e6) {
            snprintf(err, cap, "compute.%s: unknown policy or limit not a number in 0..1e6", k);
            return false;
        }
        l->compute[i] = json_number_value(lim);
    }
    return true;
}

bool sim_throttle_from_json(const json_t *j, char *err, size_t cap)
{
    struct sim_limits l = S.limits;
    const json_t *v;
    const json_t *arm = json_object_get(j, "arm");

    if (!json_is_object(j)) {
        snprintf(err, cap, "throttle must be an object");
        return false;
    }
    for (int k = 0; k < 3; k++) {
        if (!pair(json_object_get(arm, KIND[k]), &l.burst[k], &l.rate[k], err, cap, KIND[k]))
            return false;
    }
    if (!pair(json_object_get(j, "graph"), &l.graph_burst, &l.graph_rate, err, cap, "graph"))
        return false;
    if (!compute_from_json(json_object_get(j, "compute"), &l, err, cap))
        return false;
    v = json_object_get(json_object_get(j, "graph"), "omitRetryAfterEvery");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        snprintf(err, cap, "graph.omitRetryAfterEvery: expected an integer >= 0");
        return false;
    }
    if (v != NULL)
        l.graph_omit_retry_after_every = (int)json_integer_value(v);
    S.limits = l;
    windows_clear();
    for (size_t i = 0; i < S.buckets.cap; i++) {
        const char *k;
        void *b;
        if (sim_map_at(&S.buckets, i, &k, &b))
            free(b);
    }
    sim_map_cleanup(&S.buckets);
    return true;
}
