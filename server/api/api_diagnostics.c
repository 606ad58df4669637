/* api_diagnostics.c: GET /v1/diagnostics/permissions: what vmlogind's own identity may do in
 * Azure, as the reconciler last checked it (the API never calls Azure): per subscription, each
 * ARM action it needs with the least-privilege role to assign where it is missing; in Graph,
 * the app roles its token holds and the ones it lacks. Readers may see it: it reveals only
 * vmlogind's own permissions, and subscriptions outside the caller's scopes are left out. A
 * report that is older than the recheck period or still waits for a subscription's inventory
 * schedules a new check. */
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/model_states.h"
#include "vmlogind/store.h"

/* Drops what the caller may not see; true when some subscription still waits for a scope. */
static bool filter_subs(struct http_request *req, json_t *subs)
{
    const struct auth_caller *c = api_caller(req);
    bool unchecked = false;

    for (size_t i = json_array_size(subs); i-- > 0;) {
        json_t *s = json_array_get(subs, i);
        const char *id = json_string_value(json_object_get(s, "subscriptionId"));
        const char *state = json_string_value(json_object_get(s, "state"));

        if (id == NULL ||
            (c != NULL && !auth_scope_allows(c, http_printf(req, "/subscriptions/%s", id)))) {
            json_array_remove(subs, i);
            continue;
        }
        unchecked = unchecked || (state != NULL && strcmp(state, "unchecked") == 0);
    }
    return unchecked;
}

static void schedule(struct app *app, int64_t now)
{
    struct err_detail d = {{0}, {0}};

    if (store_task_upsert(app->store, task_kind_str(TASK_KIND_PERMISSIONS), MODEL_PERM_SUBJECT, now,
                          NULL, now, &d) != ERR_OK)
        return; /* the periodic check still comes */
    if (app->wake != NULL)
        app->wake(app->wake_arg, task_kind_str(TASK_KIND_PERMISSIONS), MODEL_PERM_SUBJECT);
}

void api_diagnostics_permissions(struct http_request *req)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    int64_t now = clock_now_ms();
    int64_t at = 0;
    char *text = NULL;
    char ts[32];
    json_t *report;
    bool stale;
    enum err rc = store_permission_check_get(app->store, MODEL_PERM_SUBJECT, &text, &at, &d);

    if (rc == ERR_NOT_FOUND) {
        schedule(app, now);
        http_reply_json(req, 200,
                        json_pack("{s:s, s:n, s:[], s:n}", "state", "pending", "checkedAt",
                                  "subscriptions", "graph"));
        return;
    }
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    report = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(report)) {
        json_decref(report);
        http_reply_error(req, ERR_INTERNAL, NULL);
        return;
    }
    stale = filter_subs(req, json_object_get(report, "subscriptions")) ||
            now - at > MODEL_PERM_RECHECK_MS;
    if (stale)
        schedule(app, now);
    json_object_set_new(report, "state", json_string("checked"));
    json_object_set_new(report, "checkedAt", json_string(clock_fmt_rfc3339(at, ts, sizeof(ts))));
    json_object_set_new(report, "stale", json_boolean(stale));
    http_reply_json(req, 200, report);
}
