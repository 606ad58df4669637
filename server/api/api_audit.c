/* api_audit.c: the audit trail as the API sees it. api_audit() appends a row for the request
 * inside the handler's open store transaction (actor = the caller's subject, the request id),
 * so the change and its row commit or vanish together; api_audit_denied() records a refused
 * privileged attempt on its own; GET /v1/audit pages the log. The hash chain itself belongs to
 * the store. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"

#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_PAGE_MAX 1000

/* Who acted: the caller's subject, and for a person calling through an application (a portal's
 * backend on her behalf, a CLI) that application as well: "user:<oid> via app:<appid>". */
static char *actor_of(struct http_request *req)
{
    const struct auth_caller *c = req->caller;

    if (c == NULL || c->app_id[0] == '\0' || strncmp(c->subject, "user:", 5) != 0)
        return req->subject;
    return http_printf(req, "%s via app:%s", req->subject, c->app_id);
}

enum err api_audit(struct http_request *req, const char *action, const char *target,
                   const char *outcome, const char *details_json)
{
    struct app *app = req->app;
    struct store_audit_entry e = {
        .at = clock_now_ms(),
        .actor = actor_of(req),
        .action = (char *)action,
        .target = (char *)target,
        .request_id = req->request_id,
        .outcome = (char *)outcome,
        .details = (char *)details_json,
    };
    struct err_detail d = {{0}, {0}};
    enum err rc;

    rc = store_audit_append(app->store, &e, &d);
    if (rc != ERR_OK)
        log_error("audit_append_failed", "request_id=%s action=%s error=\"%s\"", req->request_id,
                  action, d.msg);
    return rc;
}

void api_audit_denied(struct http_request *req, const char *action, const char *target,
                      const char *code, int status)
{
    struct app *app = req->app;
    json_t *j = json_pack("{s:s, s:i, s:s, s:s}", "code", code && code[0] ? code : "forbidden",
                          "status", status, "method", req->method, "path", req->path);
    char *details = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *what = action;

    json_decref(j);
    if (what == NULL)
        what = http_printf(req, "%s %s", req->method, req->route ? req->route->pattern : req->path);
    if (api_write_defer_denied(req, what, target ? target : req->path, details)) {
        free(details);
        return;
    }
    if (app == NULL || app->store == NULL || store_in_tx(app->store) ||
        api_audit(req, what, target ? target : req->path, "denied", details) != ERR_OK)
        log_error("audit_denied_lost", "request_id=%s action=%s", req->request_id, what);
    free(details);
}

/* A non-negative decimal query parameter (dflt when absent); false if malformed. */
static bool query_int(struct http_request *req, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = http_query(req, name);
    char *end = NULL;
    long long n;

    *out = dflt;
    if (v == NULL)
        return true;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0)
        return false;
    *out = n;
    return true;
}

static json_t *entry_json(const struct store_audit_entry *e)
{
    char at[32];
    json_t *details = json_loads(e->details ? e->details : "{}", 0, NULL);

    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "seq",
                     (json_int_t)e->seq, "at", clock_fmt_rfc3339(e->at, at, sizeof(at)), "actor",
                     e->actor ? e->actor : "", "action", e->action ? e->action : "", "target",
                     e->target ? e->target : "", "requestId", e->request_id ? e->request_id : "",
                     "outcome", e->outcome ? e->outcome : "", "details",
                     details ? details : json_object(), "prevHash", e->prev_hash, "hash", e->hash);
}

void api_audit_list(struct http_request *req)
{
    struct app *app = req->app;
    const struct auth_caller *c = api_caller(req);
    struct store_audit_entry *rows = NULL;
    size_t n = 0;
    int64_t after, limit;
    struct err_detail d = {{0}, {0}};
    json_t *value, *body;
    enum err rc;

    /* The log spans every scope, so a scope-limited caller may not read it. */
    if (c == NULL || c->nscopes != 0) {
        api_audit_denied(req, "audit.read", "/", "scope_forbidden", 403);
        http_problem_reply(req, "scope_forbidden",
                           "the audit log is for administrators without scope limits", NULL);
        return;
    }
    if (!query_int(req, "after", 0, &after) ||
        !query_int(req, "limit", AUDIT_PAGE_DEFAULT, &limit) || limit < 1 ||
        limit > AUDIT_PAGE_MAX) {
        http_problem_reply(req, "invalid_query", "after is a sequence number; limit is 1 to 1000",
                           NULL);
        return;
    }
    rc = store_audit_list(app->store, after, (int)limit, &rows, &n, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    value = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(value, entry_json(&rows[i]));
    body = json_pack("{s:o}", "value", value);
    if (n == (size_t)limit)
        json_object_set_new(
            body, "nextLink",
            json_string(http_printf(req, "/v1/audit?after=%" PRId64 "&limit=%" PRId64,
                                    rows[n - 1].seq, limit)));
    store_audit_list_free(rows, n);
    http_reply_json(req, 200, body);
}
