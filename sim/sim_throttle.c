/* sim_throttle.c: ARM token buckets per subscription (or tenant) and operation type, and a
 * Graph bucket per client, with the remaining-quota headers, 429s, and the violation count:
 * a request from a client that arrives before the Retry-After it was given has passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

static const char *KIND[] = {"reads", "writes", "deletes"};
static const char *KIND1[] = {"read", "write", "delete"};

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

static void violation_check(const char *tkey, const char *client, int64_t now)
{
    int64_t *until = sim_map_get(&S.throttled, tkey);
    json_t *c;

    if (!until || now >= *until)
        return;
    S.stats_violations++;
    c = json_object_get(S.stats_violations_by_client, client);
    json_object_set_new(S.stats_violations_by_client, client,
                        json_integer(json_integer_value(c) + 1));
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
    char *key = graph ? xasprintf("graph|%s", r->client) : xasprintf("%s|%s", scope, KIND[k]);
    char *tkey = xasprintf("%s|%s", r->client, key);
    struct sim_bucket *b = bucket(key, burst, now);
    bool ok = true;

    b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ms = now;
    violation_check(tkey, r->client, now);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
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
    free(key);
    free(scope);
    return ok;
}

json_t *sim_throttle_to_json(void)
{
    json_t *arm = json_object();

    for (int k = 0; k < 3; k++)
        json_object_set_new(
            arm, KIND[k],
            json_pack("{s:f, s:f}", "burst", S.limits.burst[k], "rate", S.limits.rate[k]));
    return json_pack("{s:o, s:{s:f, s:f}}", "arm", arm, "graph", "burst", S.limits.graph_burst,
                     "rate", S.limits.graph_rate);
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

bool sim_throttle_from_json(const json_t *j, char *err, size_t cap)
{
    struct sim_limits l = S.limits;
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
    S.limits = l;
    for (size_t i = 0; i < S.buckets.cap; i++) {
        const char *k;
        void *v;
        if (sim_map_at(&S.buckets, i, &k, &v))
            free(v);
    }
    sim_map_cleanup(&S.buckets);
    return true;
}
