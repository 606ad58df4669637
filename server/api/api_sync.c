/* api_sync.c: GET /v1/sync (progress of the running inventory sync and the last result) and
 * POST /v1/sync (start one now: the write runner makes the reconciler's "sync" task due). The
 * sync itself runs in the reconciler; this file only reads its run rows and records the intent. */
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_states.h"
#include "vmlogind/store.h"

static json_t *time_or_null(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

/* A run as the caller may see it: a caller limited to scopes sees neither the fleet-wide
 * counts nor the error text (which can name any subscription), only whether it failed. */
static json_t *run_json(const struct store_sync_run *r, bool scoped)
{
    json_t *counts = json_pack(
        "{s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I},"
        " s:{s:I}, s:I, s:I}",
        "subscriptions", (json_int_t)r->subscriptions, "vms", "seen", (json_int_t)r->vms_seen,
        "changed", (json_int_t)r->vms_changed, "gone", (json_int_t)r->vms_gone, "extensions",
        "seen", (json_int_t)r->extensions_seen, "changed", (json_int_t)r->extensions_changed,
        "gone", (json_int_t)r->extensions_gone, "assignments", "seen",
        (json_int_t)r->assignments_seen, "changed", (json_int_t)r->assignments_changed, "gone",
        (json_int_t)r->assignments_gone, "principals", "seen", (json_int_t)r->principals_seen,
        "changed", (json_int_t)r->principals_changed, "groupMembers", "changed",
        (json_int_t)r->members_changed, "rowsWritten", (json_int_t)r->rows_written, "errors",
        (json_int_t)r->errors);

    if (scoped) {
        json_decref(counts);
        counts = json_null();
    }
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)r->id, "state", r->state,
                     "startedAt", time_or_null(r->started_at), "finishedAt",
                     time_or_null(r->finished_at), "counts", counts, "lastError",
                     r->last_error[0] == '\0' ? json_null()
                     : scoped                 ? json_string("the run had errors")
                                              : json_string(r->last_error));
}

/* {state: idle|running, current?, last?, next?} */
static enum err status_json(struct http_request *req, json_t **out, struct err_detail *d)
{
    struct app *app = req->app;
    struct store_sync_run latest;
    struct store_sync_run done;
    struct store_task t = {0};
    const struct auth_caller *c = api_caller(req);
    bool scoped = c != NULL && c->nscopes != 0;
    bool running;
    enum err rc = store_sync_run_latest(app->store, &latest, &done, d);
    json_t *o;

    if (rc != ERR_OK && rc != ERR_NOT_FOUND)
        return rc;
    running = rc == ERR_OK && sync_state_is(latest.state, SYNC_STATE_RUNNING);
    o = json_pack("{s:s}", "state", running ? "running" : "idle");
    json_object_set_new(o, "current", running ? run_json(&latest, scoped) : json_null());
    json_object_set_new(o, "last",
                        rc == ERR_OK && done.id > 0 ? run_json(&done, scoped) : json_null());
    if (store_task_get(app->store, task_kind_str(TASK_KIND_SYNC), TASK_KEY_SYNC, &t, NULL) ==
            ERR_OK &&
        t.state == STORE_TASK_PENDING)
        json_object_set_new(o, "nextRunAt", time_or_null(t.due_at));
    else
        json_object_set_new(o, "nextRunAt", json_null());
    store_task_clear(&t);
    json_object_set_new(o, "intervalSeconds", json_integer(app->cfg->sync_interval_s));
    *out = o;
    return ERR_OK;
}

void api_sync_get(struct http_request *req)
{
    struct err_detail d = {{0}, {0}};
    json_t *o = NULL;
    enum err rc = status_json(req, &o, &d);

    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    http_reply_json(req, 200, o);
}

void api_sync_post(struct http_request *req)
{
    struct err_detail d = {{0}, {0}};
    json_t *o = NULL;
    enum err rc = api_write_task(req, task_kind_str(TASK_KIND_SYNC), TASK_KEY_SYNC, NULL, &d);

    if (rc == ERR_OK)
        rc = status_json(req, &o, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    api_write_audit(req, "sync.start", "", "accepted", NULL);
    http_add_header(req, "Location", "/v1/sync");
    http_reply_json(req, 202, o);
}
