/* api_webhooks.c: /v1/webhooks, subscriptions to the event log's webhook types. A subscription
 * keeps the scopes its creator had and receives only events those scopes may read (the
 * events trigger of migrations/0015_webhooks.sql matches them); an administrator sees and
 * changes only the subscriptions whose scopes lie within hers. The signing secret is answered
 * by create and rotate, once: never listed, logged, audited or replayed. Sending is the
 * delivery workers' (reconcile_webhooks.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_webhook.h"
#include "vmlogind/store.h"
#include "vmlogind/store_webhooks.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define DELIVERIES_PAGE_MAX 100
#define DELIVERIES_PAGE_DEFAULT 50

static struct store *store_of(struct http_request *req)
{
    struct app *app = req->app;

    return app->store;
}

static json_t *time_or_null(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static json_t *json_or_array(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;

    return v != NULL ? v : json_array();
}

/* Whether the caller's scopes hold every scope of the subscription. */
static bool visible(const struct auth_caller *c, const struct store_webhook *w)
{
    json_t *scopes;
    size_t i;
    json_t *s;
    bool ok = true;

    if (c->nscopes == 0)
        return true;
    if (w->unlimited)
        return false;
    scopes = json_or_array(w->scopes);
    json_array_foreach(scopes, i, s)
    {
        ok = ok && auth_scope_allows(c, json_string_value(s));
    }
    json_decref(scopes);
    return ok;
}

static json_t *webhook_json(const struct store_webhook *w, int64_t now)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:o, s:o, s:I, s:s, s:o, s:o}", "id", w->id,
                  "url", w->url, "description", w->description != NULL ? w->description : "",
                  "events", json_or_array(w->events), "scopes", json_or_array(w->scopes),
                  "fleetWide", w->unlimited, "enabled", w->enabled, "disabledReason",
                  w->disabled_reason != NULL ? json_string(w->disabled_reason) : json_null(),
                  "disabledAt", time_or_null(w->disabled_at), "consecutiveFailures",
                  (json_int_t)w->failures, "createdBy", w->created_by, "createdAt",
                  time_or_null(w->created_at), "updatedAt", time_or_null(w->updated_at));

    json_object_set_new(o, "previousSecretValidUntil",
                        w->prev_secret != NULL && w->prev_until > now ? time_or_null(w->prev_until)
                                                                      : json_null());
    return o;
}

static const char *target_of(struct http_request *req, const char *id)
{
    return http_printf(req, "/v1/webhooks/%s", id);
}

/* The subscription named by the path, visible to the caller; false after answering 404. */
static bool load(struct http_request *req, struct store_webhook *w)
{
    const char *id = http_param(req, "webhookId");
    struct err_detail d = {{0}, {0}};
    enum err rc = store_webhooks_get(store_of(req), id, w, &d);

    if (rc == ERR_OK && visible(api_caller(req), w))
        return true;
    store_webhook_clear(w);
    if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
        http_reply_error(req, rc, &d);
        return false;
    }
    http_problem_reply(req, "webhook_not_found", "no webhook subscription with this id", NULL);
    return false;
}

/* ---- create ---------------------------------------------------------------------------------- */

static void reply_invalid(struct http_request *req, const struct violations *vs)
{
    const char *code = "validation_failed";

    for (size_t i = 0; i < vs->n; i++) {
        if (strcmp(vs->v[i].code, "host_not_allowed") == 0)
            code = "webhook_host_not_allowed";
        else if (strcmp(vs->v[i].code, "https_required") == 0 &&
                 strcmp(code, "validation_failed") == 0)
            code = "webhook_https_required";
    }
    http_problem_reply(req, code, "the webhook subscription is not valid", vs);
}

static char *caller_scopes(const struct auth_caller *c)
{
    json_t *a = json_array();
    char *text;

    for (size_t i = 0; i < c->nscopes; i++)
        json_array_append_new(a, json_string(c->scopes[i]));
    text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

static enum err count_ok(struct http_request *req, struct err_detail *d)
{
    struct store_webhook *list = NULL;
    size_t n = 0;
    enum err rc = store_webhooks_list(store_of(req), &list, &n, d);

    store_webhook_list_free(list, n);
    if (rc == ERR_OK && n >= STORE_WEBHOOKS_MAX)
        return err_set(d, ERR_CONFLICT, "webhook_limit_reached",
                       "%d webhook subscriptions exist; delete one first", STORE_WEBHOOKS_MAX);
    return rc;
}

/* The audit row: where and what, never the secret. */
static void audit_create(struct http_request *req, const char *id, const char *url, json_t *events)
{
    json_t *o = json_pack("{s:s, s:O}", "url", url, "events", events);
    char *text = json_dumps(o, JSON_COMPACT);

    api_write_audit(req, "webhook.create", target_of(req, id), "succeeded", text);
    free(text);
    json_decref(o);
}

void api_webhooks_create(struct http_request *req)
{
    struct app *app = req->app;
    const struct auth_caller *c = api_caller(req);
    struct model_webhook_request rq;
    struct violations vs;
    struct err_detail d = {{0}, {0}};
    char id[UUID_STR_LEN];
    struct store_webhook w = {0};
    char *events = NULL, *scopes = NULL, *secret = NULL;
    json_t *o;
    enum err rc;

    violations_init(&vs);
    if (!model_webhook_request_from_json(req->json, app->cfg->webhook_allowed_hosts, &rq, &vs)) {
        model_webhook_request_cleanup(&rq);
        reply_invalid(req, &vs);
        return;
    }
    uuid_v4(id);
    events = json_dumps(rq.events, JSON_COMPACT);
    scopes = caller_scopes(c);
    secret = model_webhook_secret_new();
    w = (struct store_webhook){.id = id,
                               .url = rq.url,
                               .description = rq.description,
                               .events = events,
                               .scopes = scopes,
                               .unlimited = c->nscopes == 0,
                               .secret = secret,
                               .created_by = (char *)c->subject,
                               .created_at = clock_now_ms()};
    w.updated_at = w.created_at;
    w.enabled = true;
    rc = count_ok(req, &d);
    if (rc == ERR_OK)
        rc = store_webhooks_insert(app->store, &w, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        goto out;
    }
    audit_create(req, id, rq.url, rq.events);
    o = webhook_json(&w, w.created_at);
    json_object_set_new(o, "secret", json_string(secret));
    api_write_redact_secret(req);
    http_add_header(req, "Location", target_of(req, id));
    http_reply_json(req, 201, o);
out:
    if (secret != NULL)
        memset(secret, 0, strlen(secret));
    free(secret);
    free(events);
    free(scopes);
    model_webhook_request_cleanup(&rq);
}

/* ---- read ------------------------------------------------------------------------------------ */

void api_webhooks_list(struct http_request *req)
{
    struct store_webhook *list = NULL;
    size_t n = 0;
    struct err_detail d = {{0}, {0}};
    enum err rc = store_webhooks_list(store_of(req), &list, &n, &d);
    const struct auth_caller *c = api_caller(req);
    int64_t now = clock_now_ms();
    json_t *items;

    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++)
        if (visible(c, &list[i]))
            json_array_append_new(items, webhook_json(&list[i], now));
    store_webhook_list_free(list, n);
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

void api_webhooks_get(struct http_request *req)
{
    struct store_webhook w;

    if (!load(req, &w))
        return;
    http_reply_json(req, 200, webhook_json(&w, clock_now_ms()));
    store_webhook_clear(&w);
}

/* ---- change ---------------------------------------------------------------------------------- */

void api_webhooks_patch(struct http_request *req)
{
    struct store_webhook w;
    struct violations vs;
    struct err_detail d = {{0}, {0}};
    const json_t *en = json_object_get(req->json, "enabled");
    char id[UUID_STR_LEN];
    enum err rc;

    violations_init(&vs);
    if (!json_is_object(req->json) || json_object_size(req->json) != 1 || !json_is_boolean(en)) {
        violations_add(&vs, "enabled", "required",
                       "the body is {\"enabled\": true|false} and nothing else");
        http_problem_reply(req, "validation_failed", "the change is not valid", &vs);
        return;
    }
    if (!load(req, &w))
        return;
    snprintf(id, sizeof(id), "%s", w.id);
    store_webhook_clear(&w);
    rc = store_webhooks_set_enabled(store_of(req), id, json_is_true(en),
                                    "disabled by an administrator", clock_now_ms(), &d);
    if (rc == ERR_OK)
        rc = store_webhooks_get(store_of(req), id, &w, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    api_write_audit(req, json_is_true(en) ? "webhook.enable" : "webhook.disable",
                    target_of(req, w.id), "succeeded", NULL);
    http_reply_json(req, 200, webhook_json(&w, clock_now_ms()));
    store_webhook_clear(&w);
}

void api_webhooks_delete(struct http_request *req)
{
    struct store_webhook w;
    struct err_detail d = {{0}, {0}};
    enum err rc;

    if (!load(req, &w))
        return;
    rc = store_webhooks_delete(store_of(req), w.id, &d);
    if (rc != ERR_OK) {
        store_webhook_clear(&w);
        http_reply_error(req, rc, &d);
        return;
    }
    api_write_audit(req, "webhook.delete", target_of(req, w.id), "succeeded", NULL);
    store_webhook_clear(&w);
    http_reply_raw(req, 204, "application/json", "", 0);
}

void api_webhooks_rotate(struct http_request *req)
{
    struct app *app = req->app;
    struct store_webhook w;
    struct err_detail d = {{0}, {0}};
    int64_t now = clock_now_ms(), until = now + app->cfg->webhook_rotation_overlap_s * 1000;
    char *secret;
    enum err rc;

    if (!load(req, &w))
        return;
    secret = model_webhook_secret_new();
    rc = store_webhooks_rotate(app->store, w.id, secret, until, now, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
    } else {
        api_write_audit(req, "webhook.rotate", target_of(req, w.id), "succeeded",
                        http_printf(req, "{\"previousSecretValidUntil\":%lld}", (long long)until));
        api_write_redact_secret(req);
        http_reply_json(req, 200,
                        json_pack("{s:s, s:s, s:o}", "id", w.id, "secret", secret,
                                  "previousSecretValidUntil", time_or_null(until)));
    }
    memset(secret, 0, strlen(secret));
    free(secret);
    store_webhook_clear(&w);
}

void api_webhooks_test(struct http_request *req)
{
    struct store_webhook w;
    struct err_detail d = {{0}, {0}};
    char uuid[UUID_STR_LEN], ts[32];
    int64_t now = clock_now_ms(), delivery = 0;
    char *msg, *body;
    enum err rc;

    if (!load(req, &w))
        return;
    uuid_v4(uuid);
    msg = http_printf(req, "msg_test_%s", uuid);
    body =
        http_printf(req, "{\"type\":\"%s\",\"timestamp\":\"%s\",\"data\":{\"webhookId\":\"%s\"}}",
                    MODEL_WEBHOOK_TEST_TYPE, clock_fmt_rfc3339(now, ts, sizeof(ts)), w.id);
    rc = store_webhooks_enqueue(store_of(req), w.id, msg, MODEL_WEBHOOK_TEST_TYPE, body, now,
                                &delivery, &d);
    if (rc != ERR_OK) {
        store_webhook_clear(&w);
        http_reply_error(req, rc, &d);
        return;
    }
    api_write_audit(req, "webhook.test", target_of(req, w.id), "accepted", NULL);
    http_add_header(req, "Location",
                    http_printf(req, "/v1/webhooks/%s/deliveries/%lld", w.id, (long long)delivery));
    http_reply_json(req, 202,
                    json_pack("{s:s, s:I, s:s}", "webhookId", w.id, "deliveryId",
                              (json_int_t)delivery, "messageId", msg));
    store_webhook_clear(&w);
}

/* ---- deliveries ------------------------------------------------------------------------------ */

static json_t *delivery_json(const struct store_delivery *x)
{
    bool pending = x->pending;

    return json_pack(
        "{s:I, s:s, s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)x->id,
        "messageId", x->msg_id, "type", x->type, "eventSeq",
        x->seq > 0 ? json_integer(x->seq) : json_null(), "status", x->state, "attempts",
        (json_int_t)x->attempts, "lastAttemptAt", time_or_null(x->last_at), "lastResponseStatus",
        x->last_status > 0 ? json_integer(x->last_status) : json_null(), "lastError",
        x->last_error != NULL ? json_string(x->last_error) : json_null(), "nextAttemptAt",
        pending ? time_or_null(x->next_at) : json_null(), "createdAt", time_or_null(x->created_at));
}

/* A positive decimal of at most 18 digits, or false. */
static bool parse_pos(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v > 0;
}

static bool page_args(struct http_request *req, int64_t *before, int64_t *limit)
{
    const char *b = http_query(req, "before"), *l = http_query(req, "limit");
    struct violations vs;

    *before = 0;
    *limit = DELIVERIES_PAGE_DEFAULT;
    violations_init(&vs);
    if (b != NULL && !parse_pos(b, before))
        violations_add(&vs, "before", "invalid", "a delivery id (a positive integer)");
    if (l != NULL && (!parse_pos(l, limit) || *limit > DELIVERIES_PAGE_MAX))
        violations_add(&vs, "limit", "invalid", "1 to %d", DELIVERIES_PAGE_MAX);
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "validation_failed", "the query is not valid", &vs);
    return false;
}

void api_webhooks_deliveries(struct http_request *req)
{
    struct store_webhook w;
    struct store_delivery *list = NULL;
    struct err_detail d = {{0}, {0}};
    int64_t before, limit;
    size_t n = 0;
    json_t *items, *o;
    enum err rc;

    if (!page_args(req, &before, &limit) || !load(req, &w))
        return;
    rc = store_deliveries_list(store_of(req), w.id, before, (size_t)limit + 1, &list, &n, &d);
    if (rc != ERR_OK) {
        store_webhook_clear(&w);
        http_reply_error(req, rc, &d);
        return;
    }
    items = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(items, delivery_json(&list[i]));
    o = json_pack("{s:o}", "items", items);
    json_object_set_new(
        o, "next",
        n > (size_t)limit
            ? json_string(http_printf(req,
                                      "/v1/webhooks/%s/deliveries?before=%lld"
                                      "&limit=%lld",
                                      w.id, (long long)list[limit - 1].id, (long long)limit))
            : json_null());
    store_delivery_list_free(list, n);
    store_webhook_clear(&w);
    http_reply_json(req, 200, o);
}

void api_webhooks_redeliver(struct http_request *req)
{
    struct store_webhook w;
    struct err_detail d = {{0}, {0}};
    int64_t id = 0;
    enum err rc;

    if (!parse_pos(http_param(req, "deliveryId"), &id)) {
        http_problem_reply(req, "delivery_not_found", "no delivery with this id", NULL);
        return;
    }
    if (!load(req, &w))
        return;
    rc = store_deliveries_redeliver(store_of(req), w.id, id, clock_now_ms(), &d);
    if (rc == ERR_NOT_FOUND) {
        http_problem_reply(req, "delivery_not_found", "no delivery with this id", NULL);
    } else if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
    } else {
        api_write_audit(req, "webhook.redeliver", target_of(req, w.id), "accepted",
                        http_printf(req, "{\"deliveryId\":%lld}", (long long)id));
        http_reply_json(req, 202,
                        json_pack("{s:s, s:I}", "webhookId", w.id, "deliveryId", (json_int_t)id));
    }
    store_webhook_clear(&w);
}
