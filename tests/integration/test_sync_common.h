/* test_sync_common.h: what the inventory-sync integration tests share: azsim plus vmlogind,
 * POST /v1/sync and waiting for that run, the run's counts, every VM id the API lists, and
 * azsim's control API (faults, throttle, stats, lookups). Included by test_sync_*.c only (each
 * is its own executable), so the helpers are static inline. */
#ifndef TEST_SYNC_COMMON_H
#define TEST_SYNC_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "harness.h"
#include "vmlogind/clock.h"

struct sc {
    struct sim s;
    struct daemon d;
    char key[128];
    int64_t posted_ms; /* wall clock just before the last POST /v1/sync */
};

/* Waits (30 s) for grant id's state to match state ("a|b" for either) and returns the grant
 * (new reference); fails the test otherwise. */
static inline json_t *sc_wait_grant(struct sc *c, const char *id, const char *state)
{
    char p[128];

    snprintf(p, sizeof(p), "/v1/loginGrants/%s", id);
    return h_wait_field(c->d.p.url, c->key, p, "state", state, 30000);
}

/* GET url (with the API key when key is not NULL) expecting status want; the JSON body (new
 * reference, may be NULL). */
static inline json_t *sc_get_json(const char *url, const char *key, long want)
{
    struct resp r;
    const char *h[] = {h_bearer(key), NULL};
    json_t *j;

    assert_int_equal(h_http("GET", url, NULL, key ? h : NULL, &r), want);
    j = json_incref(r.json);
    h_resp_cleanup(&r);
    return j;
}

/* A call on azsim's control API (path starts with "/_sim/"); returns the JSON answer. */
static inline json_t *sc_sim(struct sc *c, const char *method, const char *path, const char *body,
                             long want)
{
    char u[2048]; /* room for the URL and a path of up to 1024 bytes (-Wformat-truncation) */
    struct resp r;
    json_t *j;

    assert_true(snprintf(u, sizeof(u), "%s%s", c->s.p.url, path) < (int)sizeof(u));
    assert_int_equal(h_http(method, u, body, NULL, &r), want);
    j = json_incref(r.json);
    h_resp_cleanup(&r);
    return j;
}

static inline bool sc_sync_done(void *arg)
{
    struct sc *c = arg;
    char u[512];
    json_t *j;
    json_t *last;
    int64_t started = 0;
    bool done;

    snprintf(u, sizeof(u), "%s/v1/sync", c->d.p.url);
    j = sc_get_json(u, c->key, 200);
    last = json_object_get(j, "last");
    /* a run that started after the POST: one already running then may have missed changes */
    done = json_is_object(last) &&
           clock_parse_rfc3339(json_string_value(json_object_get(last, "startedAt")), &started) &&
           started >= c->posted_ms;
    json_decref(j);
    return done;
}

/* POST /v1/sync and wait up to timeout_ms for a run that started after it; returns that run
 * (new reference), whatever its state. */
static inline json_t *sc_sync_run(struct sc *c, int timeout_ms)
{
    char u[512];
    struct resp r;
    const char *h[] = {h_bearer(c->key), NULL};
    json_t *j;
    json_t *run;

    snprintf(u, sizeof(u), "%s/v1/sync", c->d.p.url);
    c->posted_ms = clock_now_ms();
    assert_int_equal(h_http("POST", u, NULL, h, &r), 202);
    h_resp_cleanup(&r);
    assert_true(h_poll(sc_sync_done, c, timeout_ms));
    j = sc_get_json(u, c->key, 200);
    run = json_incref(json_object_get(j, "last"));
    json_decref(j);
    return run;
}

static inline bool sc_any_run_done(void *arg)
{
    struct sc *c = arg;
    char u[512];
    json_t *j;
    bool done;

    snprintf(u, sizeof(u), "%s/v1/sync", c->d.p.url);
    j = sc_get_json(u, c->key, 200);
    done = json_is_object(json_object_get(j, "last"));
    json_decref(j);
    return done;
}

/* Waits up to timeout_ms for the sync the daemon runs as it starts; returns it (new
 * reference), asserting it succeeded. */
static inline json_t *sc_first_run(struct sc *c, int timeout_ms)
{
    char u[512];
    json_t *j;
    json_t *run;

    assert_true(h_poll(sc_any_run_done, c, timeout_ms));
    snprintf(u, sizeof(u), "%s/v1/sync", c->d.p.url);
    j = sc_get_json(u, c->key, 200);
    run = json_incref(json_object_get(j, "last"));
    json_decref(j);
    assert_string_equal(json_string_value(json_object_get(run, "state")), "succeeded");
    return run;
}

/* Seconds between a run's startedAt and finishedAt. */
static inline double sc_run_seconds(const json_t *run)
{
    int64_t a = 0;
    int64_t b = 0;

    assert_true(clock_parse_rfc3339(json_string_value(json_object_get(run, "startedAt")), &a));
    assert_true(clock_parse_rfc3339(json_string_value(json_object_get(run, "finishedAt")), &b));
    return (double)(b - a) / 1000.0;
}

/* The same, asserting the run succeeded. */
static inline json_t *sc_sync_now(struct sc *c)
{
    json_t *run = sc_sync_run(c, 60000);

    if (strcmp(json_string_value(json_object_get(run, "state")), "succeeded") != 0)
        fail_msg("sync %s: %s", json_string_value(json_object_get(run, "state")),
                 json_string_value(json_object_get(run, "lastError")));
    return run;
}

/* counts.group.what of a run (what NULL: counts.group itself). */
static inline int64_t sc_count(const json_t *run, const char *group, const char *what)
{
    const json_t *c = json_object_get(run, "counts");

    if (what == NULL)
        return json_integer_value(json_object_get(c, group));
    return json_integer_value(json_object_get(json_object_get(c, group), what));
}

static inline int sc_cmp_lower(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static inline void sc_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; ids != NULL && i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Every VM id GET /v1/virtualMachines{query} lists, following nextLink, sorted
 * case-insensitively; *pages counts the pages. */
static inline size_t sc_api_vm_ids(struct sc *c, const char *query, char ***out, int *pages)
{
    char u[2048];
    size_t n = 0;
    size_t cap = 256;
    char **ids = calloc(cap, sizeof(char *));

    snprintf(u, sizeof(u), "%s/v1/virtualMachines%s", c->d.p.url, query);
    *pages = 0;
    for (;;) {
        json_t *j = sc_get_json(u, c->key, 200);
        json_t *v = json_object_get(j, "value");
        const char *next = json_string_value(json_object_get(j, "nextLink"));
        size_t i;
        json_t *vm;

        (*pages)++;
        json_array_foreach(v, i, vm)
        {
            if (n == cap) {
                cap *= 2;
                ids = realloc(ids, cap * sizeof(char *));
                assert_non_null(ids);
            }
            ids[n++] = strdup(json_string_value(json_object_get(vm, "id")));
        }
        if (next == NULL) {
            json_decref(j);
            break;
        }
        assert_non_null(strstr(next, "cursor="));
        snprintf(u, sizeof(u), "%s%s", c->d.p.url, next);
        json_decref(j);
        assert_true(*pages < 100000);
    }
    qsort(ids, n, sizeof(char *), sc_cmp_lower);
    *out = ids;
    return n;
}

/* The API lists exactly the VMs azsim holds: as many as azsim counts, no id twice, and each
 * one a VM azsim knows (by its control API's lookup). Returns the number. */
static inline size_t sc_assert_vms_match_sim(struct sc *c)
{
    char **ids = NULL;
    int pages = 0;
    size_t n = sc_api_vm_ids(c, "?limit=1000", &ids, &pages);
    json_t *state = sc_sim(c, "GET", "/_sim/state", NULL, 200);
    char path[1024];

    assert_int_equal((int64_t)n, json_integer_value(json_object_get(state, "vms")));
    json_decref(state);
    for (size_t i = 0; i < n; i++) {
        json_t *j;

        if (i > 0)
            assert_true(strcasecmp(ids[i - 1], ids[i]) < 0);
        snprintf(path, sizeof(path), "/_sim/lookup?id=%s", ids[i]);
        j = sc_sim(c, "GET", path, NULL, 200);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "vm");
        json_decref(j);
    }
    sc_free_ids(ids, n);
    return n;
}

/* azsim on scenario (NULL: the demo tenant) with sim_args. Skips when azsim was not built. */
static inline void sc_start_sim(struct sc *c, const char *scenario, const char *const sim_args[])
{
    memset(c, 0, sizeof(*c));
    if (AZSIM_BIN[0] == '\0')
        skip();
    assert_true(h_sim_start(&c->s, scenario ? scenario : H_DEMO_SCENARIO, sim_args));
}

/* vmlogind pointed at the started azsim with extra_config, and an administrator key. It syncs
 * once as it starts. */
static inline void sc_start_daemon(struct sc *c, const char *extra_config)
{
    assert_true(h_daemon_start_for_sim(&c->d, &c->s, extra_config));
    h_daemon_key(&c->d, "administrator", NULL, c->key, sizeof(c->key));
}

static inline void sc_start(struct sc *c, const char *scenario, const char *const sim_args[],
                            const char *extra_config)
{
    sc_start_sim(c, scenario, sim_args);
    sc_start_daemon(c, extra_config);
}

static inline void sc_stop(struct sc *c)
{
    assert_int_equal(h_daemon_stop(&c->d), 0);
    h_sim_stop(&c->s);
}

#endif
