/* api_grants.c: /v1/loginGrants (grant, list, read, change the expiry, revoke), orphan and drift
 * sweeps, and the per-scope login policy (authoritative mode). Handlers validate, check the
 * caller's right to delegate and record intent; the write runner adds the audit row, commits
 * and wakes the reconciler; they never call Azure. A principal the inventory sync already knows is
 * judged here (guests, disabled and deleted accounts get 422 at once); one it does not know yet is
 * accepted as pending and judged by the reconciler through Graph, which fails the grant with the
 * cause. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_grants.h"
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/store.h"
#include "vmlogind/store_access.h"
#include "vmlogind/store_grants.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define GRANTS_PAGE_DEFAULT 100
#define GRANTS_PAGE_MAX 1000

/* ---- JSON ---------------------------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *grant_json(const struct store_grant *g)
{
    /* the one Principal shape (id, type, upn); objectId, the same as id, stays for /v1 */
    json_t *principal =
        json_pack("{s:o, s:o, s:o, s:s}", "id", str_or_null(g->principal_id), "objectId",
                  str_or_null(g->principal_id), "upn", str_or_null(g->upn), "type",
                  model_grant_principal_type_api(g->principal_type));
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:s}", "id", g->id, "scope", g->scope,
                          "role", g->role, "principal", principal, "state", g->state, "expiresAt",
                          time_or_null(g->expires_at), "justification",
                          g->justification ? g->justification : "");

    if (g->last_error_code != NULL)
        json_object_set_new(o, "error",
                            json_pack("{s:s, s:s}", "code", g->last_error_code, "message",
                                      g->last_error_message ? g->last_error_message : ""));
    json_object_set_new(o, "roleDefinitionId",
                        json_string(model_grant_role_guid(model_grant_role_parse(g->role))));
    json_object_set_new(o, "assignmentName", json_string(g->assignment_name));
    json_object_set_new(o, "assignmentId", str_or_null(g->assignment_id));
    json_object_set_new(o, "createdBy", json_string(g->created_by ? g->created_by : ""));
    json_object_set_new(o, "revokedBy", str_or_null(g->revoked_by));
    json_object_set_new(o, "createdAt", time_or_null(g->created_at));
    json_object_set_new(o, "updatedAt", time_or_null(g->updated_at));
    json_object_set_new(o, "activationId", str_or_null(g->activation_id));
    return o;
}

static void reply_grant(struct http_request *req, int status, const struct store_grant *g)
{
    json_t *body = grant_json(g);

    http_add_header(req, "Location", http_printf(req, "/v1/loginGrants/%s", g->id));
    api_etag_set(req, body);
    http_reply_json(req, status, body);
}

/* If-Match / If-None-Match of a PATCH or DELETE against the grant as read. */
static bool grant_preconditions(struct http_request *req, const struct store_grant *g)
{
    json_t *repr = grant_json(g);
    bool ok = api_etag_preconditions_of(req, repr, true);

    json_decref(repr);
    return ok;
}

/* The audit row's details (request-owned). */
static const char *audit_details(struct http_request *req, const struct store_grant *g)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "grantId", g->id, "role", g->role,
                          "principalType", g->principal_type, "principalId",
                          str_or_null(g->principal_id), "upn", str_or_null(g->upn));
    char *text;
    const char *out;

    if (g->expires_at > 0)
        json_object_set_new(o, "expiresAt", time_or_null(g->expires_at));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    out = http_strdup(req, text ? text : "{}");
    free(text);
    return out;
}

/* ---- shared steps -------------------------------------------------------------------------- */

static bool member_cb(void *arg, const char *group_id, const char *principal_id)
{
    return store_access_is_member(arg, group_id, principal_id);
}

static bool knows_cb(void *arg, const char *group_id)
{
    return store_access_knows_members(arg, group_id);
}

/* May the caller grant or revoke this (action)? Replies 403/400, audits a refusal, and returns
 * false if not. With deferred (grants only), what only the directory can tell (the real type of a
 * principal the sync has not seen, membership of a group whose members the store does not know)
 * does not refuse: *deferred is set and the reconciler checks it against Graph before the
 * assignment is made (a request thread never waits on Azure). */
bool api_grants_check_delegation(struct http_request *req, const char *action, const char *scope,
                                 const char *role, const char *principal_type,
                                 const char *principal_id, bool type_unverified, bool *deferred)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    struct auth_grant_request g = {
        .scope = scope,
        .login_role = role,
        .principal_type = principal_type,
        .principal_id = principal_id != NULL && principal_id[0] != '\0' ? principal_id : NULL,
        .is_member = member_cb,
        .is_member_arg = app->store,
        .knows_members = knows_cb,
        .type_unverified = type_unverified,
        .deferred = deferred,
    };
    enum err rc = auth_check_grant(api_caller(req), &g, &d);

    if (rc != ERR_OK) {
        if (rc == ERR_FORBIDDEN)
            api_audit_denied(req, action, scope, d.code, 403);
        http_reply_error(req, rc, &d);
        return false;
    }
    return true;
}

/* The grant task's payload when delegation is deferred: the caller's type and membership
 * limits, for the reconciler to check (request-owned), else NULL. */
static const char *delegation_payload(struct http_request *req, bool deferred)
{
    const struct auth_caller *c = api_caller(req);
    struct auth_limits l = {0};
    char *limits, *text;

    if (!deferred || c == NULL)
        return NULL;
    l.principal_types = c->limits.principal_types;
    snprintf(l.member_of, sizeof(l.member_of), "%s", c->limits.member_of);
    limits = auth_limits_to_json(&l);
    text = http_printf(req, "{\"delegation\":%s}", limits);
    free(limits);
    return text;
}

/* ---- POST /v1/loginGrants ------------------------------------------------------------------ */

/* The principal as the inventory sync knows it: fills id/type, or replies 4xx and returns
 * false. *known is false when the store has not seen it (the reconciler will ask Graph). */
bool api_grants_resolve(struct http_request *req, const struct model_grant_spec *spec, char *id,
                        const char **ptype, bool *known)
{
    struct app *app = req->app;
    struct store_principal_row p;
    struct err_detail d = {{0}, {0}};
    struct violations vs;
    const char *who = spec->upn[0] != '\0' ? spec->upn : spec->object_id;
    const char *field = spec->upn[0] != '\0' ? "principal.upn" : "principal.objectId";
    enum err rc = store_access_principal_find(app->store, who, &p, &d);
    bool ok = false;

    violations_init(&vs);
    *known = rc == ERR_OK;
    *ptype = spec->principal_type;
    snprintf(id, UUID_STR_LEN, "%s", spec->object_id);
    if (rc == ERR_NOT_FOUND) {
        if (*ptype == NULL && spec->upn[0] != '\0')
            *ptype = "User";
        if (*ptype != NULL)
            return true;
        violations_add(&vs, "principal.type", "required",
                       "principal.type is required for an object id the directory sync has not "
                       "seen yet (user, group or servicePrincipal)");
        http_problem_reply(req, "validation_failed", "the grant request is not valid", &vs);
        return false;
    }
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return false;
    }
    struct model_principal_facts f = {.kind = p.kind,
                                      .user_type = p.user_type,
                                      .account_enabled = p.account_enabled,
                                      .deleted = p.deleted};
    const char *kind_type = model_grant_principal_type_arm(p.kind);
    if (model_grant_principal_check(&f, &d) != ERR_OK) {
        violations_add(&vs, field, d.code, "%s", d.msg);
        http_problem_reply(req, d.code, d.msg, &vs);
    } else if (*ptype != NULL && kind_type != NULL && strcmp(*ptype, kind_type) != 0) {
        violations_add(&vs, "principal.type", "principal_type_mismatch",
                       "the directory says %s is a %s", who, p.kind);
        http_problem_reply(req, "principal_type_mismatch",
                           "principal.type is not the "
                           "directory's type",
                           &vs);
    } else {
        snprintf(id, UUID_STR_LEN, "%s", p.id);
        *ptype = kind_type;
        ok = true;
    }
    store_principal_row_clear(&p);
    return ok;
}

/* Inserts g with its task and audit row, or finds the live grant with its name (inside the
 * write runner's transaction). *existing tells which; false after replying an error. */
static bool insert_grant(struct http_request *req, struct store_grant *g, const char *payload,
                         struct store_grant *out, bool *existing)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    enum err rc = store_grant_find_live(app->store, g->assignment_name, out, &d);

    *existing = rc == ERR_OK;
    if (rc == ERR_NOT_FOUND)
        rc = store_grant_insert(app->store, g, clock_now_ms(), &d);
    else if (rc == ERR_OK)
        return true;
    if (rc == ERR_OK)
        rc = api_write_task(req, task_kind_str(TASK_KIND_GRANT), g->id, payload, &d);
    if (rc == ERR_OK)
        rc = store_grant_get(app->store, g->id, out, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return false;
    }
    api_write_audit(req, "loginGrant.create", g->scope, "accepted", audit_details(req, g));
    return true;
}

bool api_grants_submit(struct http_request *req, const struct model_grant_spec *spec,
                       const char *principal_id, const char *ptype, const char *payload,
                       const char *activation_id, struct store_grant *out, bool *existing)
{
    char id[UUID_STR_LEN], name[UUID_STR_LEN];

    if (principal_id[0] != '\0')
        model_grant_assignment_name(spec->scope.key, spec->role, principal_id, name);
    else
        model_grant_pending_name(spec->scope.key, spec->role, spec->upn, name);
    uuid_v4(id);
    struct store_grant g = {
        .id = id,
        .scope = (char *)spec->scope.arm,
        .role = (char *)model_grant_role_name(spec->role),
        .principal_id = (char *)principal_id,
        .principal_type = (char *)ptype,
        .upn = spec->upn[0] != '\0' ? (char *)spec->upn : NULL,
        .expires_at = spec->expires_at,
        .justification = (char *)spec->justification,
        .assignment_name = name,
        .created_by = req->subject,
        .activation_id = (char *)activation_id,
    };
    return insert_grant(req, &g, payload, out, existing);
}

void api_grants_create(struct http_request *req)
{
    struct app *app = req->app;
    struct model_grant_request rq;
    struct model_grant_spec spec;
    struct violations vs;
    struct store_grant out = {0};
    char principal_id[UUID_STR_LEN];
    const char *ptype = NULL;
    bool known = false, existing = false, deferred = false;

    violations_init(&vs);
    if (!model_grant_request_from_json(req->json, &rq, &vs) ||
        !model_grant_validate(&rq, clock_now_ms(), app->cfg->grant_max_duration_s, &spec, &vs)) {
        api_grants_reply_invalid(req, &vs, "the grant request is not valid");
        return;
    }
    if (!api_grants_resolve(req, &spec, principal_id, &ptype, &known))
        return;
    if (!api_grants_check_delegation(req, "loginGrant.create", spec.scope.arm,
                                     model_grant_role_name(spec.role), ptype, principal_id, !known,
                                     &deferred))
        return;
    if (!api_grants_submit(req, &spec, principal_id, ptype, delegation_payload(req, deferred), NULL,
                           &out, &existing))
        return;
    log_info("grant_requested",
             "request_id=%s grant=%s scope=%s role=%s existing=%d delegation_deferred=%d",
             req->request_id, out.id, out.scope, out.role, existing ? 1 : 0, deferred ? 1 : 0);
    reply_grant(req, existing ? 200 : 202, &out);
    store_grant_clear(&out);
}

void api_grants_reply_invalid(struct http_request *req, const struct violations *vs,
                              const char *title)
{
    const struct violation *mg = NULL;

    for (size_t i = 0; i < vs->n; i++) {
        if (strcmp(vs->v[i].code, "management_group_scope") == 0)
            mg = &vs->v[i];
    }
    http_problem_reply(req, mg ? mg->code : "validation_failed", mg ? mg->msg : title, vs);
}

/* ---- GET /v1/loginGrants, GET /v1/loginGrants/{id} ----------------------------------------- */

bool api_grants_query_limit(struct http_request *req, int *limit)
{
    const char *v = http_query(req, "limit");
    char *end = NULL;
    long n;

    *limit = GRANTS_PAGE_DEFAULT;
    if (v == NULL)
        return true;
    errno = 0;
    n = strtol(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 || n > GRANTS_PAGE_MAX)
        return false;
    *limit = (int)n;
    return true;
}

/* Reads the list filters; replies 400 and returns false when one is malformed. */
static bool list_filters(struct http_request *req, struct store_grant_filter *f,
                         struct model_scope *scope, const char **cursor, int *limit)
{
    struct violations vs;
    const char *s = http_query(req, "scope");

    violations_init(&vs);
    memset(f, 0, sizeof(*f));
    if (s != NULL && model_scope_parse(s, scope, &vs, "scope"))
        f->scope_key = scope->key;
    f->principal = http_query(req, "principal");
    if (f->principal != NULL && (f->principal[0] == '\0' || strlen(f->principal) > 256))
        violations_add(&vs, "principal", "invalid_principal", "an object id or a UPN");
    f->state = http_query(req, "state");
    if (f->state != NULL && !model_grant_state_valid(f->state))
        violations_add(&vs, "state", "invalid_state",
                       "state is pending, active, failed, revoking, revoked or expired");
    *cursor = http_query(req, "cursor");
    if (*cursor != NULL && !uuid_is_valid(*cursor))
        violations_add(&vs, "cursor", "invalid_cursor", "use the nextLink as given");
    if (!api_grants_query_limit(req, limit))
        violations_add(&vs, "limit", "invalid_limit", "limit is 1 to %d", GRANTS_PAGE_MAX);
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
    return false;
}

char *api_grants_query_escape(struct http_request *req, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), w = 0;
    char *out = http_alloc(req, n * 3 + 1);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '@') {
            out[w++] = (char)c;
        } else {
            out[w++] = '%';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    out[w] = '\0';
    return out;
}

static char *next_link(struct http_request *req, const struct store_grant_filter *f,
                       const char *scope_arm, const char *after, int limit)
{
    char *esc_scope = scope_arm ? api_grants_query_escape(req, scope_arm) : NULL;
    char *esc_principal = f->principal ? api_grants_query_escape(req, f->principal) : NULL;

    return http_printf(req, "/v1/loginGrants?cursor=%s&limit=%d%s%s%s%s%s%s", after, limit,
                       esc_scope ? "&scope=" : "", esc_scope ? esc_scope : "",
                       esc_principal ? "&principal=" : "", esc_principal ? esc_principal : "",
                       f->state ? "&state=" : "", f->state ? f->state : "");
}

/* Up to limit grants after cursor that the caller may see, appended to value. Store pages are
 * read until the answer is full, so grants outside the caller's scopes neither shorten a page
 * nor reach the cursor: *after (new string, NULL on the last page) names a grant shown. */
static enum err visible_grants(struct http_request *req, const struct store_grant_filter *f,
                               const char *cursor, int limit, json_t *value, char **after,
                               struct err_detail *d)
{
    const struct auth_caller *c = api_caller(req);
    struct app *app = req->app;
    char *from = cursor != NULL ? xstrdup(cursor) : NULL;
    enum err rc = ERR_OK;

    *after = NULL;
    while (rc == ERR_OK && *after == NULL) {
        struct store_grant *rows = NULL;
        size_t n = 0;
        char *next = NULL;
        rc = store_grant_list(app->store, f, from, limit, &rows, &n, &next, d);
        for (size_t i = 0; rc == ERR_OK && i < n && *after == NULL; i++) {
            if (!auth_scope_allows(c, rows[i].scope))
                continue;
            json_array_append_new(value, grant_json(&rows[i]));
            /* full: more may follow this one */
            if (json_array_size(value) == (size_t)limit && (i + 1 < n || next != NULL))
                *after = xstrdup(rows[i].id);
        }
        store_grant_list_free(rows, n);
        free(from);
        from = next;
        if (from == NULL || json_array_size(value) == (size_t)limit)
            break;
    }
    free(from);
    return rc;
}

void api_grants_list(struct http_request *req)
{
    struct store_grant_filter f;
    struct model_scope scope;
    struct err_detail d = {{0}, {0}};
    const char *cursor;
    char *after = NULL;
    int limit;
    json_t *value, *body;
    enum err rc;

    if (!list_filters(req, &f, &scope, &cursor, &limit))
        return;
    value = json_array();
    rc = visible_grants(req, &f, cursor, limit, value, &after, &d);
    if (rc != ERR_OK) {
        json_decref(value);
        free(after);
        http_reply_error(req, rc, &d);
        return;
    }
    body = json_pack("{s:o}", "value", value);
    if (after != NULL)
        json_object_set_new(
            body, "nextLink",
            json_string(next_link(req, &f, f.scope_key ? scope.arm : NULL, after, limit)));
    free(after);
    http_reply_json(req, 200, body);
}

/* The grant named by the path, readable by the caller; replies and returns false otherwise. */
static bool load_grant(struct http_request *req, struct store_grant *g)
{
    struct app *app = req->app;
    const char *id = http_param(req, "grantId");
    struct err_detail d = {{0}, {0}};
    enum err rc;

    *g = (struct store_grant){0};
    if (id == NULL || !uuid_is_valid(id)) {
        http_problem_reply(req, "grant_not_found", "no login grant with that id", NULL);
        return false;
    }
    rc = store_grant_get(app->store, id, g, &d);
    /* outside the caller's scopes: a read finds nothing (a 403 would confirm the id), a write
     * is refused without naming the grant's scope */
    if (rc == ERR_OK && !auth_scope_allows(api_caller(req), g->scope) &&
        strcmp(req->method, "GET") != 0)
        rc = err_set(&d, ERR_FORBIDDEN, "scope_forbidden",
                     "the caller may not act on this grant (outside its scopes)");
    else if (rc == ERR_OK && !auth_scope_allows(api_caller(req), g->scope))
        rc = ERR_NOT_FOUND;
    if (rc == ERR_NOT_FOUND) {
        store_grant_clear(g);
        http_problem_reply(req, "grant_not_found", "no login grant with that id", NULL);
        return false;
    }
    if (rc != ERR_OK) {
        store_grant_clear(g);
        http_reply_error(req, rc, &d);
        return false;
    }
    return true;
}

void api_grants_get(struct http_request *req)
{
    struct store_grant g;
    json_t *body;

    if (!load_grant(req, &g))
        return;
    body = grant_json(&g);
    api_etag_set(req, body);
    http_reply_json(req, 200, body);
    store_grant_clear(&g);
}

/* ---- PATCH and DELETE /v1/loginGrants/{id} -------------------------------------------------- */

/* May the request change this grant (as read now)? Replies and returns false if not. */
typedef bool (*grant_check_fn)(struct http_request *req, const struct store_grant *g);

/* Reads the request's grant, checks the caller's delegation and check(), applies u and queues
 * the grant's task (inside the write runner's transaction, which holds the store's write lock
 * from the read on, so the reconciler cannot move the grant in between). True with *now_g (the
 * grant as it is now) when the change is made; false after a reply. */
static bool update_grant(struct http_request *req, grant_check_fn check,
                         const struct store_grant_update *u, const char *action,
                         struct store_grant *now_g)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    struct store_grant g;
    enum err rc;

    if (!load_grant(req, &g))
        return false;
    if (!api_grants_check_delegation(req, action, g.scope, g.role, g.principal_type, g.principal_id,
                                     false, NULL) ||
        !grant_preconditions(req, &g) || !check(req, &g)) {
        store_grant_clear(&g);
        return false;
    }
    rc = store_grant_update(app->store, g.id, g.generation, u, clock_now_ms(), &d);
    if (rc == ERR_OK)
        rc = api_write_task(req, task_kind_str(TASK_KIND_GRANT), g.id, NULL, &d);
    if (rc == ERR_OK)
        rc = store_grant_get(app->store, g.id, now_g, &d);
    if (rc == ERR_OK)
        api_write_audit(req, action, g.scope, "accepted", audit_details(req, now_g));
    else if (rc == ERR_CONFLICT)
        http_problem_reply(req, "grant_changed",
                           "the grant kept changing while it was being updated; try again", NULL);
    else
        http_reply_error(req, rc, &d);
    store_grant_clear(&g);
    return rc == ERR_OK;
}

static bool grant_is_live(const struct store_grant *g)
{
    return grant_state_is(g->state, GRANT_STATE_PENDING) ||
           grant_state_is(g->state, GRANT_STATE_ACTIVE);
}

static bool changeable(struct http_request *req, const struct store_grant *g)
{
    if (grant_is_live(g))
        return true;
    http_problem_reply(
        req, "grant_not_live",
        http_printf(req,
                    "the grant is %s; only a pending or active grant can be changed (grant again "
                    "instead)",
                    g->state),
        NULL);
    return false;
}

/* Only a grant that holds or may hold an assignment has anything to revoke; any other is
 * answered as it is. */
static bool revocable(struct http_request *req, const struct store_grant *g)
{
    if (grant_is_live(g))
        return true;
    reply_grant(req, grant_state_is(g->state, GRANT_STATE_REVOKING) ? 202 : 200, g);
    return false;
}

void api_grants_change(struct http_request *req)
{
    struct app *app = req->app;
    struct store_grant now_g = {0};
    struct store_grant_update u = {0};
    struct violations vs;

    violations_init(&vs);
    if (!model_grant_change_from_json(req->json, clock_now_ms(), app->cfg->grant_max_duration_s,
                                      &u.expires_at, &vs)) {
        http_problem_reply(req, "validation_failed", "the grant change is not valid", &vs);
        return;
    }
    if (update_grant(req, changeable, &u, "loginGrant.update", &now_g)) {
        log_info("grant_updated", "request_id=%s grant=%s expires_at=%lld", req->request_id,
                 now_g.id, (long long)u.expires_at);
        reply_grant(req, 200, &now_g);
    }
    store_grant_clear(&now_g);
}

void api_grants_revoke(struct http_request *req)
{
    struct store_grant now_g = {0};
    struct store_grant_update u = {.state = grant_state_str(GRANT_STATE_REVOKING),
                                   .revoked_by = req->subject};

    if (update_grant(req, revocable, &u, "loginGrant.revoke", &now_g))
        reply_grant(req, 202, &now_g);
    store_grant_clear(&now_g);
}

/* ---- sweeps: POST /v1/loginGrants/sweeps, GET /v1/loginGrants/sweeps/{id} ----------------- */

#define SWEEP_KIND "loginGrant.sweep"

static json_t *sweep_json(const struct store_operation *o)
{
    json_t *report = json_loads(o->steps ? o->steps : "{}", 0, NULL);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", o->id, "status", o->status, "scope",
                  o->target, "createdAt", time_or_null(o->created_at), "endedAt",
                  time_or_null(o->ended_at), "createdBy", str_or_null(o->created_by));

    if (json_is_object(report))
        json_object_update(body, report); /* dryRun, counts, items */
    json_decref(report);
    if (o->error_code != NULL)
        json_object_set_new(body, "error",
                            json_pack("{s:s, s:s}", "code", o->error_code, "message",
                                      o->error_message ? o->error_message : ""));
    return body;
}

/* The grant_sweep task's payload (a new string). */
static char *sweep_payload(bool dry_run, const char *scope)
{
    json_t *o = json_pack("{s:b, s:s}", "dryRun", dry_run, "scope", scope);
    char *text = json_dumps(o, JSON_COMPACT);

    json_decref(o);
    return text;
}

/* Reads {dryRun?, scope?}; replies 400 and returns false if malformed. */
static bool sweep_body(struct http_request *req, bool *dry_run, struct model_scope *scope,
                       bool *has_scope)
{
    struct violations vs;
    const char *k;
    json_t *v;

    violations_init(&vs);
    *dry_run = true; /* a sweep reports unless told to remove */
    *has_scope = false;
    if (req->json != NULL && !json_is_object(req->json))
        violations_add(&vs, "", "wrong_type", "the body must be a JSON object");
    json_object_foreach(json_is_object(req->json) ? req->json : NULL, k, v)
    {
        if (strcmp(k, "dryRun") == 0 && json_is_boolean(v))
            *dry_run = json_is_true(v);
        else if (strcmp(k, "dryRun") == 0)
            violations_add(&vs, "dryRun", "wrong_type", "dryRun must be a boolean");
        else if (strcmp(k, "scope") == 0 && json_is_string(v))
            *has_scope = model_scope_parse(json_string_value(v), scope, &vs, "scope");
        else if (strcmp(k, "scope") == 0)
            violations_add(&vs, "scope", "wrong_type", "scope must be a string");
        else
            violations_add(&vs, k, "unknown_field", "unknown field");
    }
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "validation_failed", "the sweep request is not valid", &vs);
    return false;
}

void api_grants_sweep(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope scope;
    struct store_operation op = {0}, got = {0};
    struct err_detail d = {{0}, {0}};
    char id[UUID_STR_LEN];
    bool dry_run, has_scope;
    char *payload, *steps;
    enum err rc;

    if (!sweep_body(req, &dry_run, &scope, &has_scope))
        return;
    if (has_scope && auth_check_scope(api_caller(req), scope.arm, &d) != ERR_OK) {
        api_audit_denied(req, "loginGrant.sweep", scope.arm, d.code, 403);
        http_reply_error(req, ERR_FORBIDDEN, &d);
        return;
    }
    if (!has_scope && api_caller(req) != NULL && api_caller(req)->nscopes != 0) {
        api_audit_denied(req, "loginGrant.sweep", "/", "scope_forbidden", 403);
        http_problem_reply(req, "scope_forbidden",
                           "a caller limited to scopes must name one of them as the sweep's scope",
                           NULL);
        return;
    }
    uuid_v4(id);
    payload = sweep_payload(dry_run, has_scope ? scope.arm : "");
    steps =
        http_printf(req, "{\"dryRun\":%s,\"counts\":{},\"items\":[]}", dry_run ? "true" : "false");
    op = (struct store_operation){.id = id,
                                  .kind = SWEEP_KIND,
                                  .target = has_scope ? scope.arm : "/",
                                  .created_by = req->subject,
                                  .request_id = req->request_id,
                                  .steps = steps};
    rc = store_operation_create(app->store, &op, clock_now_ms(), &d);
    if (rc == ERR_OK)
        rc = api_write_task(req, task_kind_str(TASK_KIND_GRANT_SWEEP), id, payload, &d);
    free(payload);
    if (rc == ERR_OK)
        rc = store_operation_get(app->store, id, &got, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    api_write_audit(req, "loginGrant.sweep", op.target, "accepted",
                    dry_run ? "{\"dryRun\":true}" : "{\"dryRun\":false}");
    http_add_header(req, "Location", http_printf(req, "/v1/loginGrants/sweeps/%s", id));
    http_reply_json(req, 202, sweep_json(&got));
    store_operation_clear(&got);
}

void api_grants_sweep_get(struct http_request *req)
{
    struct app *app = req->app;
    const char *id = http_param(req, "sweepId");
    struct store_operation o = {0};
    struct err_detail d = {{0}, {0}};
    enum err rc = ERR_NOT_FOUND;

    if (id != NULL && uuid_is_valid(id))
        rc = store_operation_get(app->store, id, &o, &d);
    if (rc == ERR_OK && strcmp(o.kind, SWEEP_KIND) != 0)
        rc = ERR_NOT_FOUND;
    if (rc == ERR_OK && !auth_scope_allows(api_caller(req), o.target))
        rc = ERR_NOT_FOUND; /* outside the caller's scopes: as if it did not exist */
    if (rc == ERR_NOT_FOUND)
        http_problem_reply(req, "sweep_not_found", "no sweep with that id", NULL);
    else if (rc != ERR_OK)
        http_reply_error(req, rc, &d);
    else
        http_reply_json(req, 200, sweep_json(&o));
    store_operation_clear(&o);
}

/* ---- login policy: GET/PUT /v1{scope}/loginPolicy ------------------------------------------ */

bool api_grants_path_scope(struct http_request *req, struct model_scope *out)
{
    struct violations vs;

    violations_init(&vs);
    if (model_scope_from_parts(http_param(req, "s"), http_param(req, "rg"), http_param(req, "name"),
                               out, &vs))
        return true;
    http_problem_reply(req, "invalid_scope", vs.n ? vs.v[0].msg : "invalid scope", &vs);
    return false;
}

static json_t *policy_json(const struct model_scope *scope, const struct store_login_policy *p)
{
    return json_pack("{s:s, s:b, s:b, s:o, s:o}", "scope", scope->arm, "authoritative",
                     p->authoritative, "dryRun", p->dry_run, "updatedBy",
                     str_or_null(p->created_by), "updatedAt", time_or_null(p->created_at));
}

static void reply_policy(struct http_request *req, const struct model_scope *scope,
                         const struct store_login_policy *p)
{
    json_t *body = policy_json(scope, p);

    api_etag_set(req, body);
    http_reply_json(req, 200, body);
}

/* If-Match / If-None-Match against the policy as it is now (it exists when authoritative). */
static bool policy_preconditions(struct http_request *req, const struct model_scope *scope)
{
    struct app *app = req->app;
    struct store_login_policy cur;
    struct err_detail d = {{0}, {0}};
    json_t *repr;
    enum err rc;
    bool ok;

    if (http_header(req, "If-Match") == NULL && http_header(req, "If-None-Match") == NULL)
        return true;
    rc = store_login_policy_get(app->store, scope->key, &cur, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return false;
    }
    repr = policy_json(scope, &cur);
    ok = api_etag_preconditions_of(req, repr, cur.authoritative);
    json_decref(repr);
    store_login_policy_clear(&cur);
    return ok;
}

void api_grants_policy_get(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope scope;
    struct store_login_policy p;
    struct err_detail d = {{0}, {0}};
    enum err rc;

    if (!api_grants_path_scope(req, &scope))
        return;
    rc = store_login_policy_get(app->store, scope.key, &p, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    reply_policy(req, &scope, &p);
    store_login_policy_clear(&p);
}

/* Reads {authoritative, dryRun?}; replies 400 and returns false if malformed. */
static bool policy_body(struct http_request *req, bool *authoritative, bool *dry_run)
{
    struct violations vs;
    json_t *a = json_object_get(req->json, "authoritative");
    json_t *r = json_object_get(req->json, "dryRun");
    const char *k;
    json_t *v;

    violations_init(&vs);
    if (!json_is_object(req->json))
        violations_add(&vs, "", "wrong_type", "the body must be a JSON object");
    json_object_foreach(json_is_object(req->json) ? req->json : NULL, k, v)
    {
        if (strcmp(k, "authoritative") != 0 && strcmp(k, "dryRun") != 0)
            violations_add(&vs, k, "unknown_field", "unknown field");
    }
    if (!json_is_boolean(a))
        violations_add(&vs, "authoritative", a ? "wrong_type" : "required",
                       "authoritative is a boolean");
    if (r != NULL && !json_is_boolean(r))
        violations_add(&vs, "dryRun", "wrong_type", "dryRun is a boolean");
    *authoritative = json_is_true(a);
    *dry_run = json_is_true(r);
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "validation_failed", "the policy is not valid", &vs);
    return false;
}

void api_grants_policy_put(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope scope;
    struct store_login_policy p = {0};
    struct err_detail d = {{0}, {0}};
    bool authoritative, dry_run, changed = false;
    char key[MODEL_GRANT_SCOPE_MAX + 16];
    char *payload = NULL;
    enum err rc;

    if (!api_grants_path_scope(req, &scope) || !policy_body(req, &authoritative, &dry_run) ||
        !policy_preconditions(req, &scope))
        return;
    snprintf(key, sizeof(key), "policy:%s", scope.key);
    rc = store_login_policy_put(app->store, scope.arm, authoritative, dry_run, req->subject,
                                clock_now_ms(), &changed, &d);
    /* The policy task enforces it now and again every sync interval while it stands. */
    if (rc == ERR_OK && changed && authoritative) {
        payload = sweep_payload(dry_run, scope.arm);
        rc = api_write_task(req, task_kind_str(TASK_KIND_GRANT_SWEEP), key, payload, &d);
        free(payload);
    }
    if (rc == ERR_OK)
        rc = store_login_policy_get(app->store, scope.key, &p, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    if (changed)
        api_write_audit(req, "loginPolicy.put", scope.arm, "succeeded",
                        http_printf(req, "{\"authoritative\":%s,\"dryRun\":%s}",
                                    authoritative ? "true" : "false", dry_run ? "true" : "false"));
    reply_policy(req, &scope, &p);
    store_login_policy_clear(&p);
}
