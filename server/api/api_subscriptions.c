/* api_subscriptions.c: GET /v1/subscriptions: the subscriptions the last sync saw (gone ones
 * are left out), limited to the caller's scopes. Few per tenant, so one page. */
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/store.h"

static json_t *time_or_null(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

void api_subscriptions_list(struct http_request *req)
{
    struct app *app = req->app;
    const struct auth_caller *c = api_caller(req);
    struct store_subscription *subs = NULL;
    size_t n = 0;
    struct err_detail d = {{0}, {0}};
    json_t *value;
    enum err rc = store_subscription_list(app->store, &subs, &n, &d);

    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    value = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *id = http_printf(req, "/subscriptions/%s", subs[i].id);

        if (subs[i].gone_at > 0 || (c != NULL && !auth_scope_allows(c, id)))
            continue;
        json_array_append_new(value, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", id,
                                               "subscriptionId", subs[i].id, "displayName",
                                               subs[i].display_name, "state", subs[i].state,
                                               "tenantId", subs[i].tenant_id, "firstSeenAt",
                                               time_or_null(subs[i].first_seen_at), "changedAt",
                                               time_or_null(subs[i].changed_at)));
    }
    store_subscription_list_free(subs, n);
    http_reply_json(req, 200, json_pack("{s:o}", "value", value));
}
