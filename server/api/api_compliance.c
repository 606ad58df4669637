/* api_compliance.c: GET /v1/compliance: every present VM counted by its Entra-login state
 * (enabled, pending, failed by cause, unsupported, excluded, notCovered, drifted, disabling,
 * disabled), per subscription, from the store only. A caller limited to scopes sees the VMs
 * in them. ?subscription= narrows to one subscription. */
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_states.h"
#include "vmlogind/store.h"
#include "vmlogind/store_login.h"
#include "vmlogind/store_signin.h"
#include "vmlogind/uuid.h"

static const char *const states[] = {"enabled",     "pending",   "failed",
                                     "unsupported", "excluded",  "notCovered",
                                     "drifted",     "disabling", "disabled"};
#define NSTATES (sizeof(states) / sizeof(states[0]))

struct tally {
    struct store *st;
    const struct auth_caller *caller;
    json_t *subs; /* subscription id -> {total, counts{}, failedByCause{}} */
    json_t *total;
};

static json_t *new_counts(void)
{
    json_t *c = json_object();

    for (size_t i = 0; i < NSTATES; i++)
        json_object_set_new(c, states[i], json_integer(0));
    return c;
}

static void bump(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static void count_into(json_t *o, const struct api_login_state *s)
{
    bump(o, "total");
    bump(json_object_get(o, "counts"), s->state);
    if (login_state_is(s->state, LOGIN_STATE_FAILED))
        bump(json_object_get(o, "failedByCause"), s->cause ? s->cause : "unknown");
}

static json_t *new_bucket(void)
{
    return json_pack("{s:i, s:o, s:o, s:{s:i, s:i, s:i}}", "total", 0, "counts", new_counts(),
                     "failedByCause", json_object(), "localAccounts", "vmsChecked", 0,
                     "vmsWithUnapproved", 0, "unapproved", 0);
}

/* The VM's local accounts against the allow list that governs it, from its last diagnostics:
 * -1 when not judged (no allow list, or no diagnostics yet), else how many are unapproved. */
static long unapproved_of(struct store *st, const struct store_vm *vm)
{
    char *text = NULL;
    int64_t at = 0;
    json_t *onvm, *la;
    long n = -1;

    if (store_vm_diagnostics_get(st, vm->id, &text, &at, NULL) != ERR_OK)
        return -1;
    onvm = text ? json_loads(text, 0, NULL) : NULL;
    la = api_entra_login_local_accounts_json(st, vm, onvm);
    if (la != NULL)
        n = (long)json_array_size(json_object_get(la, "unapproved"));
    json_decref(la);
    json_decref(onvm);
    free(text);
    return n;
}

static void count_local(json_t *o, long unapproved)
{
    json_t *la = json_object_get(o, "localAccounts");

    if (unapproved < 0)
        return;
    bump(la, "vmsChecked");
    if (unapproved > 0)
        bump(la, "vmsWithUnapproved");
    json_object_set_new(
        la, "unapproved",
        json_integer(json_integer_value(json_object_get(la, "unapproved")) + unapproved));
}

static enum err on_vm(const struct store_vm_login_view *v, void *arg)
{
    struct tally *t = arg;
    struct api_login_state s;
    json_t *b;
    long n;

    if (t->caller != NULL && !auth_scope_allows(t->caller, v->vm->id))
        return ERR_OK;
    api_entra_login_vm_state(t->st, v, &s);
    b = json_object_get(t->subs, v->vm->subscription_id);
    if (b == NULL) {
        b = new_bucket();
        json_object_set_new(t->subs, v->vm->subscription_id, b);
    }
    count_into(b, &s);
    count_into(t->total, &s);
    n = unapproved_of(t->st, v->vm);
    count_local(b, n);
    count_local(t->total, n);
    return ERR_OK;
}

void api_compliance_get(struct http_request *req)
{
    struct app *app = req->app;
    const char *sub = http_query(req, "subscription");
    struct tally t = {
        .st = app->store, .caller = api_caller(req), .subs = json_object(), .total = new_bucket()};
    struct err_detail d = {0};
    char at[32];
    json_t *list, *body;
    const char *k;
    json_t *v;
    enum err rc;

    if (sub != NULL && !uuid_is_valid(sub)) {
        struct violations vs;
        violations_init(&vs);
        violations_add(&vs, "subscription", "invalid_value", "a subscription id is a GUID");
        json_decref(t.subs);
        json_decref(t.total);
        http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
        return;
    }
    rc = store_vm_login_scan(app->store, sub, NULL, NULL, on_vm, &t, &d);
    if (rc != ERR_OK) {
        json_decref(t.subs);
        json_decref(t.total);
        http_reply_error(req, rc, &d);
        return;
    }
    list = json_array();
    json_object_foreach(t.subs, k, v)
    {
        json_object_set_new(v, "subscriptionId", json_string(k));
        json_array_append(list, v);
    }
    json_decref(t.subs);
    body = json_pack("{s:s, s:o, s:o}", "generatedAt",
                     clock_fmt_rfc3339(clock_now_ms(), at, sizeof(at)), "total", t.total,
                     "subscriptions", list);
    http_reply_json(req, 200, body);
}

enum err api_compliance_metrics(const struct app *app, struct buf *out)
{
    struct tally t = {.st = app->store, .subs = json_object(), .total = new_bucket()};
    struct err_detail d;
    json_t *counts = json_object_get(t.total, "counts");
    enum err rc = store_vm_login_scan(app->store, NULL, NULL, NULL, on_vm, &t, &d);

    /* No subscription label: /metrics is public, and ids are for callers whose scopes hold
     * them (GET /v1/compliance answers per subscription, filtered). */
    if (rc == ERR_OK)
        rc = buf_appends(out, "# HELP vmlogind_compliance_vms Present VMs by Entra login state.\n"
                              "# TYPE vmlogind_compliance_vms gauge\n");
    for (size_t i = 0; rc == ERR_OK && i < NSTATES; i++)
        rc = buf_printf(out, "vmlogind_compliance_vms{state=\"%s\"} %lld\n", states[i],
                        (long long)json_integer_value(json_object_get(counts, states[i])));
    json_decref(t.subs);
    json_decref(t.total);
    return rc;
}
