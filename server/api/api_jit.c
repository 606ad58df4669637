/* api_jit.c: just-in-time login. /v1/eligibilities (who may activate which login role where,
 * on which terms: operators, as for grants) and /v1/activations (a person activates what she is
 * eligible for with her own Entra token; an approver approves or denies; the requester or an
 * operator cancels or deactivates). An activation becomes a time-bound login grant through the
 * same steps as POST /v1/loginGrants (api_grants_submit), linked by its activationId, so the
 * reconciler makes and removes the role assignment as for any grant. Who is eligible and who
 * approves is judged against the synced directory, groups transitively. Handlers run inside the
 * write runner; they never call Azure. */
#include <stdlib.h>
#include <string.h>

#include "api/api_grants.h"
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_jit.h"
#include "vmlogind/model_states.h"
#include "vmlogind/store.h"
#include "vmlogind/store_access.h"
#include "vmlogind/store_jit.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define JIT_PAGE_DEFAULT 100
#define JIT_PAGE_MAX 1000

/* ---- the caller ------------------------------------------------------------------------------ */

/* The object id of a person calling with her own (delegated) Entra token; NULL for API keys and
 * applications, which act for nobody in particular. */
static const char *caller_oid(const struct http_request *req)
{
    const struct auth_caller *c = api_caller(req);

    if (c == NULL || c->kind != AUTH_KIND_USER || strncmp(c->subject, "user:", 5) != 0)
        return NULL;
    return c->subject + 5;
}

static bool caller_has(const struct http_request *req, enum auth_role need)
{
    const struct auth_caller *c = api_caller(req);

    return c != NULL && c->role >= need;
}

/* Is oid the principal id itself, or a transitive member of it (a group)? */
static bool is_or_member(struct store *st, const char *id, const char *oid)
{
    return id != NULL && oid != NULL &&
           (strcmp(id, oid) == 0 || store_access_is_member(st, id, oid));
}

/* Is oid one of approvers_json's principals, directly or through a group? */
static bool is_approver(struct store *st, const char *approvers_json, const char *oid)
{
    json_t *a = json_loads(approvers_json ? approvers_json : "[]", 0, NULL);
    json_t *v;
    size_t i;
    bool yes = false;

    json_array_foreach(a, i, v)
    {
        if (!yes && is_or_member(st, json_string_value(v), oid))
            yes = true;
    }
    json_decref(a);
    return yes;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *when(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static json_t *text_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *duration(int64_t s)
{
    char buf[48];

    return json_string(model_jit_duration_fmt(s, buf, sizeof(buf)));
}

/* ["id", ...] -> [{"objectId": "id"}, ...] */
static json_t *approvers_json(const char *ids)
{
    json_t *a = json_loads(ids ? ids : "[]", 0, NULL);
    json_t *out = json_array(), *v;
    size_t i;

    json_array_foreach(a, i, v)
    {
        if (json_is_string(v))
            json_array_append_new(out, json_pack("{s:O}", "objectId", v));
    }
    json_decref(a);
    return out;
}

static json_t *eligibility_json(const struct store_eligibility *e)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:b, s:o, s:b, s:b}", "id", e->id, "scope",
                  e->scope, "role", e->role, "principal", "objectId", e->principal_id, "type",
                  model_grant_principal_type_api(e->principal_type), "maxDuration",
                  duration(e->max_duration_s), "requireApproval", e->require_approval, "approvers",
                  approvers_json(e->approvers), "requireJustification", e->require_justification,
                  "requireTicket", e->require_ticket);

    json_object_set_new(o, "expiresAt", when(e->expires_at));
    json_object_set_new(o, "justification", json_string(e->justification ? e->justification : ""));
    json_object_set_new(o, "createdBy", json_string(e->created_by ? e->created_by : ""));
    json_object_set_new(o, "createdAt", when(e->created_at));
    return o;
}

static json_t *activation_json(const struct store_activation *a)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:o, s:s, s:s, s:s}", "id", a->id,
                  "eligibilityId", a->eligibility_id, "scope", a->scope, "role", a->role,
                  "principal", "objectId", a->principal_id, "requestedBy", a->requested_by,
                  "duration", duration(a->duration_s), "justification",
                  a->justification ? a->justification : "", "ticket", a->ticket ? a->ticket : "",
                  "state", model_activation_state_shown(a->state, a->grant_state));

    json_object_set_new(o, "approvers", approvers_json(a->approvers));
    json_object_set_new(o, "pendingUntil",
                        model_activation_state_is(a->state, ACTIVATION_STATE_PENDING)
                            ? when(a->pending_until)
                            : json_null());
    json_object_set_new(o, "decidedBy", text_or_null(a->decided_by));
    json_object_set_new(o, "reason", json_string(a->reason ? a->reason : ""));
    json_object_set_new(o, "grantId", text_or_null(a->grant_id));
    json_object_set_new(o, "expiresAt", when(a->expires_at));
    json_object_set_new(o, "createdAt", when(a->created_at));
    json_object_set_new(o, "updatedAt", when(a->updated_at));
    return o;
}

/* The audit row's details (request-owned). */
static const char *activation_details(struct http_request *req, const struct store_activation *a)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "activationId", a->id, "eligibilityId",
                          a->eligibility_id, "role", a->role, "principalId", a->principal_id,
                          "durationSeconds", (json_int_t)a->duration_s);
    char *text;
    const char *out;

    if (a->grant_id != NULL)
        json_object_set_new(o, "grantId", json_string(a->grant_id));
    if (a->requested_by != NULL && strcmp(a->requested_by, req->subject) != 0)
        json_object_set_new(o, "requestedBy", json_string(a->requested_by));
    if (a->ticket != NULL && a->ticket[0] != '\0')
        json_object_set_new(o, "ticket", json_string(a->ticket));
    if (caller_oid(req) == NULL || strcmp(caller_oid(req), a->principal_id) != 0)
        json_object_set_new(o, "onBehalfOf", json_string(a->principal_id));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    out = http_strdup(req, text ? text : "{}");
    free(text);
    return out;
}

/* ---- queries --------------------------------------------------------------------------------- */

static void query_limit(struct http_request *req, int *limit, struct violations *vs)
{
    if (!api_grants_query_limit(req, limit))
        violations_add(vs, "limit", "invalid_limit", "limit is 1 to %d", JIT_PAGE_MAX);
}

static const char *query_cursor(struct http_request *req, struct violations *vs)
{
    const char *c = http_query(req, "cursor");

    if (c != NULL && !uuid_is_valid(c))
        violations_add(vs, "cursor", "invalid_cursor", "use the nextLink as given");
    return c;
}

/* A list of one kind read page by page from the store and filtered for the caller. */
struct jit_list {
    int limit;
    /* a store page after `after` (NULL: the first): *rows, *n, *next (new string or NULL) */
    enum err (*fetch)(struct http_request *req, const struct jit_list *l, const char *after,
                      void **rows, size_t *n, char **next, struct err_detail *d);
    /* row i as JSON when the caller may see it, else NULL; *id its id */
    json_t *(*shown)(struct http_request *req, const void *rows, size_t i, const char **id);
    void (*free_rows)(void *rows, size_t n);
    const void *query;
};

/* Fills value with up to l->limit rows after cursor. Store pages are read until the answer is
 * full, so rows the caller may not see neither shorten a page nor become its cursor: *after
 * (new string, NULL on the last page) names a row shown. */
static enum err jit_collect(struct http_request *req, const struct jit_list *l, const char *cursor,
                            json_t *value, char **after, struct err_detail *d)
{
    char *from = cursor ? xstrdup(cursor) : NULL;
    enum err rc = ERR_OK;

    *after = NULL;
    while (rc == ERR_OK && *after == NULL) {
        void *rows = NULL;
        size_t n = 0;
        char *next = NULL;
        rc = l->fetch(req, l, from, &rows, &n, &next, d);
        for (size_t i = 0; rc == ERR_OK && i < n && *after == NULL; i++) {
            const char *id = NULL;
            json_t *j = l->shown(req, rows, i, &id);
            if (j == NULL)
                continue;
            json_array_append_new(value, j);
            if (json_array_size(value) == (size_t)l->limit && (i + 1 < n || next != NULL))
                *after = xstrdup(id);
        }
        l->free_rows(rows, n);
        free(from);
        from = next;
        if (from == NULL || json_array_size(value) == (size_t)l->limit)
            break;
    }
    free(from);
    return rc;
}

/* Answers the list: {value, nextLink?}, the link being link_path?cursor=..&limit=..rest. */
static void jit_reply_list(struct http_request *req, const struct jit_list *l, const char *cursor,
                           const char *link_path, const char *rest)
{
    struct err_detail d = {{0}, {0}};
    json_t *value = json_array(), *body;
    char *after = NULL;
    enum err rc = jit_collect(req, l, cursor, value, &after, &d);

    if (rc != ERR_OK) {
        json_decref(value);
        free(after);
        http_reply_error(req, rc, &d);
        return;
    }
    body = json_pack("{s:o}", "value", value);
    if (after != NULL)
        json_object_set_new(body, "nextLink",
                            json_string(http_printf(req, "%s?cursor=%s&limit=%d%s", link_path,
                                                    after, l->limit, rest)));
    free(after);
    http_reply_json(req, 200, body);
}

/* ---- eligibilities --------------------------------------------------------------------------- */

/* The eligibility's principal: known to the directory sync (guests, disabled and deleted refused
 * as for grants), a user or a group. Fills pid and *ptype, or replies and returns false. */
static bool eligible_principal(struct http_request *req, const struct model_eligibility_spec *s,
                               char *pid, const char **ptype, bool *known)
{
    struct violations vs;

    violations_init(&vs);
    if (!api_grants_resolve(req, &s->grant, pid, ptype, known))
        return false;
    if (pid[0] == '\0') {
        violations_add(&vs, "principal.upn", "principal_not_found",
                       "the directory sync has not seen this UPN yet; give its objectId");
        http_problem_reply(req, "principal_not_found", "no such principal", &vs);
        return false;
    }
    if (strcmp(*ptype, "User") != 0 && strcmp(*ptype, "Group") != 0) {
        violations_add(&vs, "principal.type", "principal_type_unsupported",
                       "an eligibility names a user or a group");
        http_problem_reply(req, "principal_type_unsupported",
                           "an eligibility names a user or a group", &vs);
        return false;
    }
    return true;
}

void api_jit_eligibility_create(struct http_request *req)
{
    struct app *app = req->app;
    struct model_eligibility_spec s;
    struct store_eligibility got = {0};
    struct err_detail d = {{0}, {0}};
    struct violations vs;
    const char *approvers[MODEL_JIT_APPROVERS_MAX];
    char id[UUID_STR_LEN], pid[UUID_STR_LEN];
    const char *ptype = NULL;
    bool known = false;
    enum err rc;

    violations_init(&vs);
    if (!model_eligibility_from_json(req->json, clock_now_ms(), app->cfg->grant_max_duration_s, &s,
                                     &vs)) {
        api_grants_reply_invalid(req, &vs, "the eligibility is not valid");
        return;
    }
    if (!eligible_principal(req, &s, pid, &ptype, &known) ||
        !api_grants_check_delegation(req, "eligibility.create", s.grant.scope.arm,
                                     model_grant_role_name(s.grant.role), ptype, pid, !known, NULL))
        return;
    uuid_v4(id);
    for (size_t i = 0; i < s.napprovers; i++)
        approvers[i] = s.approvers[i];
    struct store_eligibility e = {.id = id,
                                  .scope = s.grant.scope.arm,
                                  .role = (char *)model_grant_role_name(s.grant.role),
                                  .principal_id = pid,
                                  .principal_type = (char *)ptype,
                                  .max_duration_s = s.max_duration_s,
                                  .require_approval = s.require_approval,
                                  .require_justification = s.require_justification,
                                  .require_ticket = s.require_ticket,
                                  .expires_at = s.grant.expires_at,
                                  .justification = (char *)s.grant.justification,
                                  .created_by = req->subject};
    rc = store_eligibility_insert(app->store, &e, approvers, s.napprovers, clock_now_ms(), &d);
    /* the next sync reads the eligible and approving groups' members (store_role_assignment_
     * principal_ids names them): queue one now */
    if (rc == ERR_OK)
        rc = api_write_task(req, task_kind_str(TASK_KIND_SYNC), TASK_KEY_SYNC, NULL, &d);
    if (rc == ERR_OK)
        rc = store_eligibility_get(app->store, id, &got, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    api_write_audit(req, "eligibility.create", got.scope, "succeeded",
                    http_printf(req,
                                "{\"eligibilityId\":\"%s\",\"principalId\":\"%s\",\"role\":\"%s\"}",
                                id, pid, got.role));
    http_add_header(req, "Location", http_printf(req, "/v1/eligibilities/%s", id));
    http_reply_json(req, 201, eligibility_json(&got));
    store_eligibility_clear(&got);
}

/* The eligibility named by the path and visible to the caller; replies and returns false
 * otherwise (outside the caller's scopes: 404 on a read, 403 on a write, as for grants). */
static bool load_eligibility(struct http_request *req, struct store_eligibility *e)
{
    struct app *app = req->app;
    const char *id = http_param(req, "eligibilityId");
    struct err_detail d = {{0}, {0}};
    enum err rc = ERR_NOT_FOUND;
    bool read = strcmp(req->method, "GET") == 0;

    *e = (struct store_eligibility){0};
    if (id != NULL && uuid_is_valid(id))
        rc = store_eligibility_get(app->store, id, e, &d);
    if (rc == ERR_OK && !auth_scope_allows(api_caller(req), e->scope))
        rc = read ? ERR_NOT_FOUND
                  : err_set(&d, ERR_FORBIDDEN, "scope_forbidden",
                            "the caller may not act on this eligibility (outside its scopes)");
    if (rc == ERR_OK)
        return true;
    store_eligibility_clear(e);
    if (rc == ERR_NOT_FOUND)
        http_problem_reply(req, "eligibility_not_found", "no eligibility with that id", NULL);
    else
        http_reply_error(req, rc, &d);
    return false;
}

void api_jit_eligibility_get(struct http_request *req)
{
    struct store_eligibility e;

    if (!load_eligibility(req, &e))
        return;
    http_reply_json(req, 200, eligibility_json(&e));
    store_eligibility_clear(&e);
}

void api_jit_eligibility_delete(struct http_request *req)
{
    struct app *app = req->app;
    struct store_eligibility e;
    struct err_detail d = {{0}, {0}};
    enum err rc;

    if (!load_eligibility(req, &e))
        return;
    if (!api_grants_check_delegation(req, "eligibility.delete", e.scope, e.role, e.principal_type,
                                     e.principal_id, false, NULL)) {
        store_eligibility_clear(&e);
        return;
    }
    rc = store_eligibility_delete(app->store, e.id, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
    } else {
        api_write_audit(req, "eligibility.delete", e.scope, "succeeded",
                        http_printf(req, "{\"eligibilityId\":\"%s\"}", e.id));
        http_reply_json(req, 200, eligibility_json(&e));
    }
    store_eligibility_clear(&e);
}

struct elig_query {
    struct model_scope scope;
    const char *scope_key;
    const char *principal;
    const char *cursor;
    int limit;
};

static bool eligibility_query(struct http_request *req, struct elig_query *q)
{
    struct violations vs;
    const char *s = http_query(req, "scope");

    violations_init(&vs);
    memset(q, 0, sizeof(*q));
    if (s != NULL && model_scope_parse(s, &q->scope, &vs, "scope"))
        q->scope_key = q->scope.key;
    q->principal = http_query(req, "principal");
    if (q->principal != NULL && !uuid_is_valid(q->principal))
        violations_add(&vs, "principal", "invalid_principal", "principal is an object id");
    q->cursor = query_cursor(req, &vs);
    query_limit(req, &q->limit, &vs);
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
    return false;
}

static enum err eligibility_page(struct http_request *req, const struct jit_list *l,
                                 const char *after, void **rows, size_t *n, char **next,
                                 struct err_detail *d)
{
    struct app *app = req->app;
    const struct elig_query *q = l->query;

    return store_eligibility_list(app->store, q->scope_key, q->principal, after, l->limit,
                                  (struct store_eligibility **)rows, n, next, d);
}

static json_t *eligibility_shown(struct http_request *req, const void *rows, size_t i,
                                 const char **id)
{
    const struct store_eligibility *e = (const struct store_eligibility *)rows + i;

    *id = e->id;
    return auth_scope_allows(api_caller(req), e->scope) ? eligibility_json(e) : NULL;
}

static void eligibilities_free(void *rows, size_t n)
{
    store_eligibility_list_free(rows, n);
}

void api_jit_eligibility_list(struct http_request *req)
{
    struct elig_query q;

    if (!eligibility_query(req, &q))
        return;
    struct jit_list l = {.limit = q.limit,
                         .fetch = eligibility_page,
                         .shown = eligibility_shown,
                         .free_rows = eligibilities_free,
                         .query = &q};
    jit_reply_list(req, &l, q.cursor, "/v1/eligibilities",
                   http_printf(req, "%s%s%s%s", q.scope_key ? "&scope=" : "",
                               q.scope_key ? api_grants_query_escape(req, q.scope.arm) : "",
                               q.principal ? "&principal=" : "", q.principal ? q.principal : ""));
}

/* ---- POST /v1/activations -------------------------------------------------------------------- */

/* Who is activated: the caller herself, or (principal given) someone an operator names, which
 * needs operator at the scope. Fills pid, or replies 403 (audited) and returns false. */
static bool activation_for(struct http_request *req, const struct model_activation_spec *s,
                           char pid[UUID_STR_LEN])
{
    struct err_detail d = {{0}, {0}};
    const char *oid = caller_oid(req);
    enum err rc = ERR_OK;

    if (s->principal_id[0] != '\0' && (oid == NULL || strcmp(oid, s->principal_id) != 0)) {
        rc = auth_check_role(api_caller(req), AUTH_ROLE_OPERATOR, &d);
        if (rc == ERR_OK)
            rc = auth_check_scope(api_caller(req), s->scope.arm, &d);
        snprintf(pid, UUID_STR_LEN, "%s", s->principal_id);
    } else if (oid == NULL) {
        rc = err_set(&d, ERR_FORBIDDEN, "activation_needs_user",
                     "an API key or an application activates only on someone's behalf: name "
                     "her in principal.objectId");
    } else {
        snprintf(pid, UUID_STR_LEN, "%s", oid);
    }
    if (rc == ERR_OK)
        return true;
    api_audit_denied(req, "activation.create", s->scope.arm, d.code, 403);
    if (strcmp(d.code, "activation_needs_user") == 0)
        http_problem_reply(req, d.code, d.msg, NULL);
    else
        http_reply_error(req, rc, &d);
    return false;
}

/* The narrowest eligibility of pid (directly or through a group) for the role at or above the
 * scope. ERR_NOT_FOUND when there is none. */
static enum err find_eligibility(struct store *st, const struct model_activation_spec *s,
                                 const char *pid, struct store_eligibility *out,
                                 struct err_detail *d)
{
    struct store_eligibility *list = NULL;
    size_t n = 0;
    enum err rc = store_eligibility_covering(st, s->scope.key, model_grant_role_name(s->role),
                                             clock_now_ms(), &list, &n, d);

    *out = (struct store_eligibility){0};
    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        bool user = strcmp(list[i].principal_type, "User") == 0;
        if ((user && strcmp(list[i].principal_id, pid) == 0) ||
            (!user && store_access_is_member(st, list[i].principal_id, pid))) {
            *out = list[i];
            list[i] = (struct store_eligibility){0};
            store_eligibility_list_free(list, n);
            return ERR_OK;
        }
    }
    store_eligibility_list_free(list, n);
    return rc == ERR_OK ? ERR_NOT_FOUND : rc;
}

/* The eligibility's terms: duration within its bound, justification and ticket when it asks. */
static bool terms_met(struct http_request *req, const struct model_activation_spec *s,
                      const struct store_eligibility *e)
{
    struct violations vs;
    char buf[48];

    violations_init(&vs);
    if (s->duration_s > e->max_duration_s)
        violations_add(&vs, "duration", "duration_exceeds_eligibility",
                       "the eligibility allows at most %s",
                       model_jit_duration_fmt(e->max_duration_s, buf, sizeof(buf)));
    if (e->require_justification && s->justification[0] == '\0')
        violations_add(&vs, "justification", "required", "this eligibility needs a justification");
    if (e->require_ticket && s->ticket[0] == '\0')
        violations_add(&vs, "ticket", "required", "this eligibility needs a ticket");
    if (vs.n == 0)
        return true;
    http_problem_reply(req, "validation_failed",
                       "the activation does not meet the eligibility's terms", &vs);
    return false;
}

/* Makes the grant of an activation (at once, or once approved) with its expiry from now, and
 * records it in *a (grant_id, expires_at: owned copies). False after a reply. */
static bool make_grant(struct http_request *req, struct store_activation *a)
{
    struct model_grant_spec g;
    struct violations vs;
    struct store_grant out = {0};
    char pid[UUID_STR_LEN];
    const char *ptype = NULL;
    bool known = false, existing = false;

    violations_init(&vs);
    memset(&g, 0, sizeof(g));
    if (!model_scope_parse(a->scope, &g.scope, &vs, "scope")) {
        http_problem_reply(req, "invalid_scope", "the activation's scope is not valid", &vs);
        return false;
    }
    g.role = model_grant_role_parse(a->role);
    snprintf(g.object_id, sizeof(g.object_id), "%s", a->principal_id);
    g.principal_type = "User";
    g.expires_at = clock_now_ms() + a->duration_s * 1000;
    g.justification = a->justification;
    if (!api_grants_resolve(req, &g, pid, &ptype, &known))
        return false;
    if (!api_grants_submit(req, &g, pid, ptype, NULL, a->id, &out, &existing))
        return false;
    if (existing) {
        http_problem_reply(req, "already_active",
                           http_printf(req, "login grant %s already gives this login", out.id),
                           NULL);
        store_grant_clear(&out);
        return false;
    }
    free(a->grant_id);
    a->grant_id = xstrdup(out.id);
    a->expires_at = out.expires_at;
    store_grant_clear(&out);
    return true;
}

/* Appends the activation's audit row now (the runner's row, if any, is the grant's). */
static bool audit_activation(struct http_request *req, const char *action,
                             const struct store_activation *a)
{
    if (api_audit(req, action, a->scope, "succeeded", activation_details(req, a)) == ERR_OK)
        return true;
    http_reply_error(req, ERR_STORE, NULL);
    return false;
}

static void reply_activation(struct http_request *req, int status, const char *id)
{
    struct app *app = req->app;
    struct store_activation a;
    struct err_detail d = {{0}, {0}};
    enum err rc = store_activation_get(app->store, id, &a, &d);

    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    http_add_header(req, "Location", http_printf(req, "/v1/activations/%s", id));
    http_reply_json(req, status, activation_json(&a));
    store_activation_clear(&a);
}

/* Records the new activation a: waiting for approval (with its lapse task) or active with its
 * grant. False after a reply. */
static bool record_activation(struct http_request *req, const struct store_eligibility *e,
                              struct store_activation *a)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    int64_t now = clock_now_ms();
    enum err rc;

    if (e->require_approval) {
        a->state = xstrdup(model_activation_state_str(ACTIVATION_STATE_PENDING));
        a->pending_until = now + app->cfg->activation_approval_timeout_s * 1000;
    } else if (make_grant(req, a)) {
        a->state = xstrdup(model_activation_state_str(ACTIVATION_STATE_ACTIVE));
    } else {
        return false;
    }
    rc = store_activation_insert(app->store, a, now, &d);
    if (rc == ERR_OK && e->require_approval)
        rc = api_write_task(req, task_kind_str(TASK_KIND_ACTIVATION), a->id, NULL, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return false;
    }
    return audit_activation(req, "activation.create", a);
}

void api_jit_activate(struct http_request *req)
{
    struct app *app = req->app;
    struct model_activation_spec s;
    struct store_eligibility e = {0};
    struct store_activation a = {0};
    struct err_detail d = {{0}, {0}};
    struct violations vs;
    char pid[UUID_STR_LEN], id[UUID_STR_LEN];
    enum err rc;

    violations_init(&vs);
    if (!model_activation_from_json(req->json, app->cfg->grant_max_duration_s, &s, &vs)) {
        api_grants_reply_invalid(req, &vs, "the activation request is not valid");
        return;
    }
    if (!activation_for(req, &s, pid))
        return;
    rc = find_eligibility(app->store, &s, pid, &e, &d);
    if (rc == ERR_NOT_FOUND) {
        api_audit_denied(req, "activation.create", s.scope.arm, "not_eligible", 403);
        http_problem_reply(req, "not_eligible",
                           http_printf(req, "%s holds no eligibility for %s login at this scope",
                                       pid, model_grant_role_name(s.role)),
                           NULL);
        return;
    }
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    if (terms_met(req, &s, &e)) {
        uuid_v4(id);
        a = (struct store_activation){.id = xstrdup(id),
                                      .eligibility_id = xstrdup(e.id),
                                      .scope = xstrdup(s.scope.arm),
                                      .role = xstrdup(e.role),
                                      .principal_id = xstrdup(pid),
                                      .requested_by = xstrdup(req->subject),
                                      .duration_s = s.duration_s,
                                      .justification = xstrdup(s.justification),
                                      .ticket = xstrdup(s.ticket),
                                      .approvers = xstrdup(e.approvers ? e.approvers : "[]")};
        if (record_activation(req, &e, &a)) {
            log_info("activation_requested",
                     "request_id=%s activation=%s principal=%s state=%s grant=%s", req->request_id,
                     a.id, pid, a.state, a.grant_id ? a.grant_id : "");
            reply_activation(req, 201, a.id);
        }
    }
    store_activation_clear(&a);
    store_eligibility_clear(&e);
}

/* ---- reads ----------------------------------------------------------------------------------- */

/* May the caller see a? Readers within their scopes; the person herself, the one who asked, and
 * its approvers. */
static bool may_see(struct http_request *req, const struct store_activation *a)
{
    struct app *app = req->app;
    const char *oid = caller_oid(req);

    if (caller_has(req, AUTH_ROLE_READER) && auth_scope_allows(api_caller(req), a->scope))
        return true;
    if (strcmp(a->requested_by, req->subject) == 0)
        return true;
    return oid != NULL &&
           (strcmp(oid, a->principal_id) == 0 || is_approver(app->store, a->approvers, oid));
}

/* The activation named by the path and visible to the caller (any, when deciding: who may decide
 * is answered 403 by may_decide); replies 404 otherwise. */
static bool load_activation(struct http_request *req, struct store_activation *a, bool deciding)
{
    struct app *app = req->app;
    const char *id = http_param(req, "activationId");
    struct err_detail d = {{0}, {0}};
    enum err rc = ERR_NOT_FOUND;

    *a = (struct store_activation){0};
    if (id != NULL && uuid_is_valid(id))
        rc = store_activation_get(app->store, id, a, &d);
    if (rc == ERR_OK && !deciding && !may_see(req, a))
        rc = ERR_NOT_FOUND;
    if (rc == ERR_OK)
        return true;
    store_activation_clear(a);
    if (rc == ERR_NOT_FOUND)
        http_problem_reply(req, "activation_not_found", "no activation with that id", NULL);
    else
        http_reply_error(req, rc, &d);
    return false;
}

void api_jit_activation_get(struct http_request *req)
{
    struct store_activation a;

    if (!load_activation(req, &a, false))
        return;
    http_reply_json(req, 200, activation_json(&a));
    store_activation_clear(&a);
}

static enum err activation_page(struct http_request *req, const struct jit_list *l,
                                const char *after, void **rows, size_t *n, char **next,
                                struct err_detail *d)
{
    struct app *app = req->app;

    return store_activation_list(app->store, l->query, after, l->limit,
                                 (struct store_activation **)rows, n, next, d);
}

static json_t *activation_shown(struct http_request *req, const void *rows, size_t i,
                                const char **id)
{
    const struct store_activation *a = (const struct store_activation *)rows + i;

    *id = a->id;
    return may_see(req, a) ? activation_json(a) : NULL;
}

static void activations_free(void *rows, size_t n)
{
    store_activation_list_free(rows, n);
}

void api_jit_activation_list(struct http_request *req)
{
    struct violations vs;
    const char *state = http_query(req, "state");
    const char *cursor;
    int limit = JIT_PAGE_DEFAULT;

    violations_init(&vs);
    if (state != NULL && !model_activation_state_valid(state))
        violations_add(&vs, "state", "invalid_state",
                       "state is requested, pendingApproval, active, denied, expired, cancelled "
                       "or deactivated");
    cursor = query_cursor(req, &vs);
    query_limit(req, &limit, &vs);
    if (vs.n != 0) {
        http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
        return;
    }
    struct jit_list l = {.limit = limit,
                         .fetch = activation_page,
                         .shown = activation_shown,
                         .free_rows = activations_free,
                         .query = state};
    jit_reply_list(req, &l, cursor, "/v1/activations",
                   state ? http_printf(req, "&state=%s", state) : "");
}

/* ---- approve, deny --------------------------------------------------------------------------- */

/* May the caller decide a: a person (her own token) among its approvers, never the person
 * activated nor the one who asked. Replies 403 (audited) or 409 and returns false if not. */
static bool may_decide(struct http_request *req, const struct store_activation *a,
                       const char *action)
{
    struct app *app = req->app;
    const char *oid = caller_oid(req);
    const char *code = NULL, *msg = NULL;

    if (!model_activation_state_is(a->state, ACTIVATION_STATE_PENDING) ||
        clock_now_ms() >= a->pending_until) {
        http_problem_reply(req, "activation_not_pending",
                           http_printf(req, "the activation is %s",
                                       model_activation_state_is(a->state, ACTIVATION_STATE_PENDING)
                                           ? model_activation_state_str(ACTIVATION_STATE_EXPIRED)
                                           : a->state),
                           NULL);
        return false;
    }
    if ((oid != NULL && strcmp(oid, a->principal_id) == 0) ||
        strcmp(req->subject, a->requested_by) == 0) {
        code = "self_approval_forbidden";
        msg = "the requester may not decide her own activation; another approver must";
    } else if (oid == NULL || !is_approver(app->store, a->approvers, oid)) {
        code = "not_an_approver";
        msg = "the caller is not among this activation's approvers (directly or through a group)";
    }
    if (code == NULL)
        return true;
    api_audit_denied(req, action, a->scope, code, 403);
    http_problem_reply(req, code, msg, NULL);
    return false;
}

static void decide(struct http_request *req, bool approve)
{
    struct app *app = req->app;
    const char *action = approve ? "activation.approve" : "activation.deny";
    struct store_activation a;
    struct err_detail d = {{0}, {0}};
    struct violations vs;
    const char *reason = "";
    enum err rc;

    violations_init(&vs);
    if (!model_activation_decision_from_json(req->json, !approve, &reason, &vs)) {
        http_problem_reply(req, "validation_failed", "the decision is not valid", &vs);
        return;
    }
    if (!load_activation(req, &a, true))
        return;
    if (!may_decide(req, &a, action) || (approve && !make_grant(req, &a))) {
        store_activation_clear(&a);
        return;
    }
    struct store_activation_update u = {
        .state = approve ? model_activation_state_str(ACTIVATION_STATE_ACTIVE)
                         : model_activation_state_str(ACTIVATION_STATE_DENIED),
        .decided_by = req->subject,
        .reason = reason,
        .grant_id = a.grant_id,
        .expires_at = a.expires_at,
    };
    rc = store_activation_update(app->store, a.id, a.generation, &u, clock_now_ms(), &d);
    if (rc != ERR_OK)
        http_reply_error(req, rc, &d);
    else if (audit_activation(req, action, &a)) {
        log_info("activation_decided", "request_id=%s activation=%s state=%s", req->request_id,
                 a.id, u.state);
        reply_activation(req, 200, a.id);
    }
    store_activation_clear(&a);
}

void api_jit_approve(struct http_request *req)
{
    decide(req, true);
}

void api_jit_deny(struct http_request *req)
{
    decide(req, false);
}

/* ---- DELETE /v1/activations/{id} ------------------------------------------------------------- */

/* Revokes the activation's grant (its task removes the assignment). */
static enum err revoke_grant(struct http_request *req, const char *grant_id, struct err_detail *d)
{
    struct app *app = req->app;
    struct store_grant g;
    enum err rc = store_grant_get(app->store, grant_id, &g, d);

    if (rc == ERR_OK && model_grant_state_is_live(g.state) &&
        !grant_state_is(g.state, GRANT_STATE_REVOKING)) {
        struct store_grant_update u = {.state = grant_state_str(GRANT_STATE_REVOKING),
                                       .revoked_by = req->subject};
        rc = store_grant_update(app->store, g.id, g.generation, &u, clock_now_ms(), d);
        if (rc == ERR_OK)
            rc = api_write_task(req, task_kind_str(TASK_KIND_GRANT), g.id, NULL, d);
    }
    store_grant_clear(&g);
    return rc;
}

/* May the caller end a: the person herself, the one who asked, or an operator in its scope. */
static bool may_end(struct http_request *req, const struct store_activation *a)
{
    const char *oid = caller_oid(req);

    if ((oid != NULL && strcmp(oid, a->principal_id) == 0) ||
        strcmp(req->subject, a->requested_by) == 0 ||
        (caller_has(req, AUTH_ROLE_OPERATOR) && auth_scope_allows(api_caller(req), a->scope)))
        return true;
    api_audit_denied(req, "activation.end", a->scope, "forbidden", 403);
    http_problem_reply(req, "forbidden",
                       "only the person, the one who asked, or an operator ends an activation",
                       NULL);
    return false;
}

void api_jit_activation_end(struct http_request *req)
{
    struct app *app = req->app;
    struct store_activation a;
    struct err_detail d = {{0}, {0}};
    struct store_activation_update u = {.decided_by = req->subject};
    const char *shown;
    enum err rc = ERR_OK;

    if (!load_activation(req, &a, false))
        return;
    if (!may_end(req, &a)) {
        store_activation_clear(&a);
        return;
    }
    shown = model_activation_state_shown(a.state, a.grant_state);
    if (model_activation_state_is(shown, ACTIVATION_STATE_PENDING) ||
        model_activation_state_is(shown, ACTIVATION_STATE_REQUESTED))
        u.state = model_activation_state_str(ACTIVATION_STATE_CANCELLED);
    else if (model_activation_state_is(shown, ACTIVATION_STATE_ACTIVE))
        u.state = model_activation_state_str(ACTIVATION_STATE_DEACTIVATED);
    if (u.state != NULL && a.grant_id != NULL)
        rc = revoke_grant(req, a.grant_id, &d);
    if (rc == ERR_OK && u.state != NULL)
        rc = store_activation_update(app->store, a.id, a.generation, &u, clock_now_ms(), &d);
    if (rc != ERR_OK)
        http_reply_error(req, rc, &d);
    else if (u.state == NULL ||
             audit_activation(req,
                              model_activation_state_is(u.state, ACTIVATION_STATE_CANCELLED)
                                  ? "activation.cancel"
                                  : "activation.deactivate",
                              &a))
        reply_activation(req, 200, a.id); /* ended already: answered as it is */
    store_activation_clear(&a);
}
