/* test_login_common.h: what the Entra-login integration tests share: azsim (demo tenant, LROs
 * scaled down) plus vmlogind, API calls on entraLogin, waiting for operations, and azsim's
 * view of a VM and of the mutating ARM requests it received. Included by test_login_*.c only
 * (each is its own executable), so the helpers are static. */
#ifndef TEST_LOGIN_COMMON_H
#define TEST_LOGIN_COMMON_H

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

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG "rg-entra"
#define VM_ARM(rg, name)                                                                           \
    "/subscriptions/" SUB "/resourceGroups/" rg "/providers/Microsoft.Compute/"                    \
    "virtualMachines/" name
#define VM_API(rg, name) "/v1/subscriptions/" SUB "/resourceGroups/" rg "/virtualMachines/" name

/* Fast enough for tests: LROs scaled to 2% (identity 0.2 s, extension 1.8 s), polls every
 * 200 ms, scopes re-expanded and stopped VMs re-checked every second. */
#define LOGIN_TEST_CONFIG                                                                          \
    "login_recheck_s = 1\n"                                                                        \
    "task_lease_s = 5\n"                                                                           \
    "lro_poll_max_ms = 200\n"                                                                      \
    "reconcile_workers = 4\n"

struct lctx {
    struct sim s;
    struct daemon d;
    char key[128];
    char scenario[512];
};

static inline void lctx_start(struct lctx *c, const char *time_scale, const char *extra_config)
{
    const char *args[] = {"--time-scale", time_scale, NULL};
    char cfg[1024];

    memset(c, 0, sizeof(*c));
    assert_true(h_sim_start(&c->s, H_DEMO_SCENARIO, args));
    snprintf(cfg, sizeof(cfg), "%s%s", LOGIN_TEST_CONFIG, extra_config ? extra_config : "");
    assert_true(h_daemon_start_for_sim(&c->d, &c->s, cfg));
    h_daemon_key(&c->d, "administrator", NULL, c->key, sizeof(c->key));
}

static inline void lctx_stop(struct lctx *c)
{
    h_daemon_stop(&c->d);
    h_sim_stop(&c->s);
}

/* A request to vmlogind with the test key; the parsed body (new reference, may be NULL). */
static inline json_t *api(struct lctx *c, const char *method, const char *path, const char *body,
                          long want, char *location, size_t loc_cap)
{
    char url[1024];
    const char *h[] = {h_bearer(c->key), NULL};
    struct resp r;
    long st;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", c->d.p.url, path);
    st = h_http(method, url, body, h, &r);
    if (st != want)
        fail_msg("%s %s: status %ld, want %ld: %s", method, path, st, want, r.body ? r.body : "");
    if (location != NULL && !h_resp_header(&r, "Location", location, loc_cap))
        location[0] = '\0';
    j = json_incref(r.json);
    h_resp_cleanup(&r);
    return j;
}

/* azsim's control API (no auth). */
static inline json_t *sim(struct lctx *c, const char *method, const char *path, const char *body)
{
    char url[1024];
    struct resp r;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", c->s.p.url, path);
    if (h_http(method, url, body, NULL, &r) / 100 != 2)
        fail_msg("azsim %s %s: %ld %s", method, path, r.status, r.body ? r.body : "");
    j = json_incref(r.json);
    h_resp_cleanup(&r);
    return j;
}

/* azsim's VM object (resources[], identity, powerState...). */
static inline json_t *sim_vm(struct lctx *c, const char *arm_id)
{
    char path[600];
    json_t *j, *o;

    snprintf(path, sizeof(path), "/_sim/lookup?id=%s", arm_id);
    j = sim(c, "GET", path, NULL);
    o = json_incref(json_object_get(j, "object"));
    json_decref(j);
    return o;
}

/* The AADLoginForWindows extension azsim holds on the VM (matched by publisher + type), and
 * how many there are. Borrowed from vm. */
static inline const json_t *sim_aad(const json_t *vm, int *count)
{
    const json_t *found = NULL;
    size_t i;
    json_t *e;

    *count = 0;
    json_array_foreach(json_object_get(vm, "resources"), i, e)
    {
        const json_t *p = json_object_get(e, "properties");
        const char *pub = json_string_value(json_object_get(p, "publisher"));
        const char *type = json_string_value(json_object_get(p, "type"));
        if (pub && type && strcasecmp(pub, "Microsoft.Azure.ActiveDirectory") == 0 &&
            strcasecmp(type, "AADLoginForWindows") == 0) {
            found = e;
            (*count)++;
        }
    }
    return found;
}

/* Mutating ARM requests azsim saw whose path contains needle and whose op is op (NULL: any). */
static inline int sim_mutations(struct lctx *c, const char *needle, const char *op)
{
    json_t *st = sim(c, "GET", "/_sim/stats", NULL);
    int n = 0;
    size_t i;
    json_t *m;

    json_array_foreach(json_object_get(st, "mutations"), i, m)
    {
        const char *path = json_string_value(json_object_get(m, "path"));
        const char *o = json_string_value(json_object_get(m, "op"));
        if (path && strcasestr(path, needle) && (op == NULL || (o && strcmp(o, op) == 0)))
            n++;
    }
    json_decref(st);
    return n;
}

/* PUT (or DELETE) .../entraLogin: 202 with Location; copies the operation id into op. */
static inline json_t *login_call(struct lctx *c, const char *method, const char *api_scope,
                                 const char *body, char *op, size_t cap)
{
    char path[600], loc[600];
    json_t *j;

    snprintf(path, sizeof(path), "%s/entraLogin", api_scope);
    j = api(c, method, path, body, 202, loc, sizeof(loc));
    assert_non_null(strstr(loc, "/v1/operations/"));
    assert_string_equal(strrchr(loc, '/') + 1, json_string_value(json_object_get(j, "id")));
    snprintf(op, cap, "%s", strrchr(loc, '/') + 1);
    return j;
}

struct op_wait {
    struct lctx *c;
    const char *op;
    json_t *last;
};

static inline bool op_ended(void *arg)
{
    struct op_wait *w = arg;
    char path[256];
    const char *st;

    snprintf(path, sizeof(path), "/v1/operations/%s", w->op);
    json_decref(w->last);
    w->last = api(w->c, "GET", path, NULL, 200, NULL, 0);
    st = json_string_value(json_object_get(w->last, "status"));
    return st && strcmp(st, "Running") != 0 && strcmp(st, "NotStarted") != 0;
}

/* Waits for the operation to end; returns it (new reference). */
static inline json_t *wait_op(struct lctx *c, const char *op, int timeout_ms)
{
    struct op_wait w = {.c = c, .op = op};

    if (!h_poll(op_ended, &w, timeout_ms))
        fail_msg("operation %s did not end: %s", op,
                 w.last ? json_dumps(w.last, JSON_COMPACT) : "(none)");
    return w.last;
}

/* The operation's item for a VM (borrowed from op). */
static inline const json_t *op_item(const json_t *op, const char *arm_id)
{
    size_t i;
    json_t *it;

    json_array_foreach(json_object_get(op, "virtualMachines"), i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        if (id && strcasecmp(id, arm_id) == 0)
            return it;
    }
    fail_msg("no item for %s in %s", arm_id, json_dumps(op, JSON_COMPACT));
    return NULL;
}

/* The VM's state in GET .../entraLogin at VM scope (a new string). */
static inline char *login_state(struct lctx *c, const char *api_vm)
{
    char path[600];
    json_t *j, *vms;
    char *s = NULL;

    snprintf(path, sizeof(path), "%s/entraLogin", api_vm);
    j = api(c, "GET", path, NULL, 200, NULL, 0);
    vms = json_object_get(json_object_get(j, "observed"), "virtualMachines");
    if (json_array_size(vms) == 1)
        s = strdup(json_string_value(json_object_get(json_array_get(vms, 0), "state")));
    json_decref(j);
    return s;
}

#endif
