/* reconcile_grant.c: one login grant at a time, level-triggered. Reads the grant, decides the
 * next step from its state, does it against Azure, and records the outcome with an audit row
 * in one transaction conditional on the generation it read, so a revocation arriving meanwhile
 * is never overwritten: the task simply runs again and sees it. Every step is idempotent (PUT
 * under the deterministic name, DELETE where 404/204 mean done). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/reconcile_grant.h"
#include "vmlogind/reconcile_permissions.h"
#include "vmlogind/store_events.h"
#include "vmlogind/store_grants.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define NO_AZURE_MS 60000
#define MEMBER_CACHE_SIZE 64
#define MEMBER_CACHE_MS 300000 /* a directory answer about membership is reused this long */
#define BACKOFF_BASE_MS 2000
#define BACKOFF_CAP_MS 30000

struct run {
    const struct reconcile_env *env;
    const struct store_task *task;
    struct reconcile_result *res;
    struct store_grant g;
    struct model_scope scope;
    enum model_grant_role role;
    int64_t now;
};

static int64_t backoff(const struct run *r)
{
    unsigned char b;

    uuid_random_bytes(&b, 1);
    return store_task_backoff_ms(r->task->attempts, BACKOFF_BASE_MS, BACKOFF_CAP_MS, b / 256.0);
}

/* Writes a transition and its audit row in one transaction. ERR_CONFLICT means the grant moved
 * on meanwhile (the caller runs again). */
static enum err transition(struct run *r, const struct store_grant_update *u, const char *action,
                           const char *outcome, const char *extra_key, const char *extra_value)
{
    struct store *st = r->env->store;
    struct err_detail d = {{0}, {0}};
    json_t *det = json_pack("{s:s, s:s, s:s, s:s}", "grantId", r->g.id, "role", r->g.role,
                            "principalId", u->principal_id ? u->principal_id : r->g.principal_id,
                            "state", u->state ? u->state : r->g.state);
    char *text;
    struct store_audit_entry e = {.at = r->now,
                                  .actor = "reconciler",
                                  .action = (char *)action,
                                  .target = r->g.scope,
                                  .outcome = (char *)outcome};
    enum err rc;

    if (u->error_code != NULL)
        json_object_set_new(det, "error",
                            json_pack("{s:s, s:s}", "code", u->error_code, "message",
                                      u->error_message ? u->error_message : ""));
    if (extra_key != NULL)
        json_object_set_new(det, extra_key, json_string(extra_value));
    text = json_dumps(det, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(det);
    e.details = text;
    rc = store_tx_begin(st, &d);
    if (rc == ERR_OK)
        rc = store_grant_update(st, r->g.id, r->g.generation, u, r->now, &d);
    if (rc == ERR_OK && action != NULL)
        rc = store_audit_append(st, &e, &d);
    if (rc == ERR_OK)
        rc = store_tx_commit(st, &d);
    else
        store_tx_rollback(st);
    free(text);
    if (rc != ERR_OK && rc != ERR_CONFLICT)
        log_warn("grant_record_failed", "grant=%s error=\"%s\"", r->g.id, d.msg);
    if (rc == ERR_OK && u->state != NULL)
        log_info("grant_state", "grant=%s scope=%s role=%s state=%s code=%s", r->g.id, r->g.scope,
                 r->g.role, u->state, u->error_code ? u->error_code : "-");
    return rc;
}

/* After a failed transition: run again soon (the grant changed, or the store was busy). */
static void again_after(struct run *r, enum err rc)
{
    reconcile_again(r->res, rc == ERR_CONFLICT ? 1 : 0, "recording grant %s: %s", r->g.id,
                    err_str(rc));
}

static void fail_grant(struct run *r, const char *code, const char *fmt, ...) VL_PRINTF(3, 4);
static void fail_grant(struct run *r, const char *code, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    struct store_grant_update u = {
        .state = grant_state_str(GRANT_STATE_FAILED), .error_code = code, .error_message = msg};
    enum err rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rc = transition(r, &u, "loginGrant.fail", "failed", NULL, NULL);
    if (rc != ERR_OK) {
        again_after(r, rc);
        return;
    }
    reconcile_done(r->res);
}

/* Records a wait (the grant keeps its state; the cause is visible as its error) and runs
 * again after delay_ms. */
static void wait_with(struct run *r, int64_t delay_ms, const char *code, const char *msg)
{
    struct store_grant_update u = {.error_code = code, .error_message = msg};
    bool same = r->g.last_error_code != NULL && strcmp(r->g.last_error_code, code) == 0 &&
                r->g.last_error_message != NULL && strcmp(r->g.last_error_message, msg) == 0;

    if (!same)
        (void)transition(r, &u, NULL, NULL, NULL, NULL);
    reconcile_again(r->res, delay_ms, "%s: %s", code, msg);
}

/* Transient Azure trouble (throttling, 5xx, transport): again, honouring Retry-After. */
static void cloud_again(struct run *r, const char *what, const struct azure_error *ae)
{
    int64_t delay = ae->retry_after_ms > 0 ? ae->retry_after_ms : backoff(r);

    reconcile_again(r->res, delay, "%s %s: %ld %s %s (client request id %s, Azure request id %s)",
                    what, r->g.scope, ae->status, ae->code, ae->message, ae->client_request_id,
                    ae->request_id);
}

/* A refusal a person must fix (403 AuthorizationFailed, a policy deny, a lock, a Graph app role
 * missing): the grant fails with the diagnosis and is not retried. graph_role: the app role the
 * Graph call needs (NULL for ARM). False when ae is something else. */
static bool refused(struct run *r, const struct azure_error *ae, const char *graph_role)
{
    struct model_denial dn;

    if (!model_denial_diagnose(ae->status, ae->code, ae->message, ae->policy_assignment, graph_role,
                               &dn))
        return false;
    model_denial_add_ids(&dn, ae->client_request_id, ae->request_id);
    log_warn("grant_refused",
             "grant=%s scope=%s code=%s client_request_id=%s request_id=%s diagnosis=\"%s\"",
             r->g.id, r->g.scope, ae->code, ae->client_request_id, ae->request_id, dn.message);
    if ((strcmp(dn.cause, MODEL_CAUSE_AUTHORIZATION) == 0 ||
         strcmp(dn.cause, MODEL_CAUSE_GRAPH_DENIED) == 0) &&
        reconcile_permissions_schedule(r->env->store, r->now, NULL) != ERR_OK)
        log_warn("permissions_schedule_failed", "grant=%s", r->g.id);
    fail_grant(r, dn.cause, "%s", dn.message);
    return true;
}

/* ---- principal ---------------------------------------------------------------------------- */

/* Judges a user Graph returned; false after failing the grant. */
static bool user_ok(struct run *r, const struct azure_user *u)
{
    struct model_principal_facts f = {
        .kind = "user",
        .user_type = u->user_type,
        .account_enabled = u->has_account_enabled ? (u->account_enabled ? 1 : 0) : -1,
    };
    struct err_detail d = {{0}, {0}};

    if (model_grant_principal_check(&f, &d) == ERR_OK)
        return true;
    fail_grant(r, d.code, "%s (%s)", d.msg, u->upn ? u->upn : u->id);
    return false;
}

/* A grant by UPN: looks the user up and fixes its object id and assignment name. Returns true
 * when the run should go on to the PUT (with r->g updated). */
static bool resolve_upn(struct run *r)
{
    struct azure_user u = {0};
    struct azure_error ae;
    struct store_grant other = {0};
    char name[UUID_STR_LEN];
    struct store_grant_update up = {0};
    enum err rc;

    azure_error_clear(&ae);
    rc = r->env->cloud->user_get(r->env->cloud->ctx, r->g.upn, &u, &ae);
    if (rc == ERR_NOT_FOUND) {
        /* A UPN the directory does not know is refused at once, not waited for. */
        fail_grant(r, "principal_not_found", "no user with UPN %s in the directory", r->g.upn);
        return false;
    }
    if (rc != ERR_OK) {
        if (reconcile_grant_transient(rc, &ae))
            cloud_again(r, "looking up the user of", &ae);
        else if (!refused(r, &ae, "User.Read.All"))
            fail_grant(r, "directory_error", "Graph refused the lookup of %s: %ld %s %s", r->g.upn,
                       ae.status, ae.code, ae.message);
        return false;
    }
    if (!user_ok(r, &u) || u.id == NULL) {
        if (u.id == NULL)
            fail_grant(r, "directory_error", "Graph returned no object id for %s", r->g.upn);
        azure_user_cleanup(&u);
        return false;
    }
    model_grant_assignment_name(r->scope.key, r->role, u.id, name);
    if (store_grant_find_live(r->env->store, name, &other, NULL) == ERR_OK &&
        strcmp(other.id, r->g.id) != 0) {
        fail_grant(r, "duplicate_grant", "grant %s already gives %s this role at this scope",
                   other.id, r->g.upn);
        store_grant_clear(&other);
        azure_user_cleanup(&u);
        return false;
    }
    store_grant_clear(&other);
    up = (struct store_grant_update){.principal_id = u.id, .assignment_name = name};
    rc = transition(r, &up, "loginGrant.resolve", "succeeded", "upn", r->g.upn);
    azure_user_cleanup(&u);
    if (rc != ERR_OK) {
        again_after(r, rc);
        return false;
    }
    reconcile_again(r->res, 1, "%s", ""); /* resolved: the PUT comes in the next run */
    return false;
}

/* A user granted by object id: guests and disabled accounts are refused; an id Graph does not
 * know yet may be a principal still replicating, so it is waited for (bounded). Returns true
 * when the PUT may go ahead. */
static bool check_user_id(struct run *r)
{
    struct azure_user u = {0};
    struct azure_error ae;
    int64_t deadline = r->g.created_at + r->env->cfg->principal_not_found_timeout_s * 1000;
    bool ok;
    enum err rc;

    azure_error_clear(&ae);
    rc = r->env->cloud->user_get(r->env->cloud->ctx, r->g.principal_id, &u, &ae);
    if (rc == ERR_NOT_FOUND) {
        if (r->now >= deadline)
            fail_grant(r, "principal_not_found",
                       "no user with object id %s appeared in the directory within %llds",
                       r->g.principal_id, (long long)r->env->cfg->principal_not_found_timeout_s);
        else
            wait_with(r, backoff(r), "PrincipalNotFound",
                      "the directory does not know the principal yet (replication delay?); "
                      "retrying");
        return false;
    }
    if (rc != ERR_OK) {
        if (reconcile_grant_transient(rc, &ae))
            cloud_again(r, "looking up the user of", &ae);
        else if (!refused(r, &ae, "User.Read.All"))
            fail_grant(r, "directory_error", "Graph refused the lookup of %s: %ld %s %s",
                       r->g.principal_id, ae.status, ae.code, ae.message);
        return false;
    }
    ok = user_ok(r, &u);
    azure_user_cleanup(&u);
    return ok;
}

/* ---- constrained delegation the API could not judge (task payload "delegation") ----------- */

/* Graph answers about (group, member), kept a short while so that a burst of grants by one
 * delegated caller does not page the same group again and again. */
struct member_answer {
    char group[40], member[40];
    bool is_member;
    int64_t at;
};
static struct member_answer member_cache[MEMBER_CACHE_SIZE];
static pthread_mutex_t member_mu = PTHREAD_MUTEX_INITIALIZER;

static int cached_membership(const char *group, const char *member, int64_t now)
{
    int found = -1;

    pthread_mutex_lock(&member_mu);
    for (size_t i = 0; i < MEMBER_CACHE_SIZE && found < 0; i++) {
        const struct member_answer *a = &member_cache[i];
        if (a->at > 0 && now - a->at < MEMBER_CACHE_MS && strcasecmp(a->group, group) == 0 &&
            strcasecmp(a->member, member) == 0)
            found = a->is_member ? 1 : 0;
    }
    pthread_mutex_unlock(&member_mu);
    return found;
}

static void remember_membership(const char *group, const char *member, bool is_member, int64_t now)
{
    size_t oldest = 0;

    pthread_mutex_lock(&member_mu);
    for (size_t i = 1; i < MEMBER_CACHE_SIZE; i++)
        if (member_cache[i].at < member_cache[oldest].at)
            oldest = i;
    member_cache[oldest] = (struct member_answer){.is_member = is_member, .at = now};
    snprintf(member_cache[oldest].group, sizeof(member_cache[oldest].group), "%s", group);
    snprintf(member_cache[oldest].member, sizeof(member_cache[oldest].member), "%s", member);
    pthread_mutex_unlock(&member_mu);
}

struct seek {
    const char *id;
    char *kind; /* set when found */
};

static enum err seek_cb(const struct azure_directory_object *objs, size_t n, void *arg)
{
    struct seek *k = arg;

    for (size_t i = 0; i < n && k->kind == NULL; i++) {
        if (objs[i].id != NULL && strcasecmp(objs[i].id, k->id) == 0)
            k->kind = xstrdup(objs[i].kind ? objs[i].kind : "");
    }
    return ERR_OK;
}

/* Is the grant's principal of a type the delegating caller may grant to, and the type the grant
 * says? Returns true to go on; false after failing the grant or scheduling a retry. */
static bool delegation_type_ok(struct run *r, const json_t *types)
{
    struct seek k = {.id = r->g.principal_id};
    const char *ids[] = {r->g.principal_id};
    const char *arm;
    struct azure_error ae;
    bool allowed = !json_is_array(types) || json_array_size(types) == 0;
    json_t *v;
    size_t i;
    enum err rc;

    azure_error_clear(&ae);
    rc = r->env->cloud->get_by_ids(r->env->cloud->ctx, ids, 1, seek_cb, &k, &ae);
    if (rc != ERR_OK) {
        free(k.kind);
        if (reconcile_grant_transient(rc, &ae))
            cloud_again(r, "looking up the principal of", &ae);
        else
            fail_grant(r, "directory_error", "Graph refused the lookup of %s: %ld %s %s",
                       r->g.principal_id, ae.status, ae.code, ae.message);
        return false;
    }
    if (k.kind == NULL) {
        if (r->now >= r->g.created_at + r->env->cfg->principal_not_found_timeout_s * 1000)
            fail_grant(r, "principal_not_found", "no principal with object id %s in the directory",
                       r->g.principal_id);
        else
            wait_with(r, backoff(r), "PrincipalNotFound",
                      "the directory does not know the principal yet; retrying");
        return false;
    }
    json_array_foreach(types, i, v)
    {
        if (json_is_string(v) && strcasecmp(json_string_value(v), k.kind) == 0)
            allowed = true;
    }
    arm = model_grant_principal_type_arm(k.kind);
    if (!allowed)
        fail_grant(r, "principal_type_forbidden",
                   "the directory says %s is a %s, which the grant's author may not grant to",
                   r->g.principal_id, k.kind);
    else if (arm == NULL || strcmp(arm, r->g.principal_type) != 0)
        fail_grant(r, "principal_type_mismatch", "the directory says %s is a %s, not a %s",
                   r->g.principal_id, k.kind, r->g.principal_type);
    free(k.kind);
    return allowed && arm != NULL && strcmp(arm, r->g.principal_type) == 0;
}

/* Is the grant's principal group itself or a transitive member of it, by Graph (cached)?
 * Returns true to go on; false after failing the grant or scheduling a retry. */
static bool delegation_member_ok(struct run *r, const char *group)
{
    struct seek k = {.id = r->g.principal_id};
    struct azure_error ae;
    int known = cached_membership(group, r->g.principal_id, r->now);
    enum err rc = ERR_OK;

    if (strcasecmp(group, r->g.principal_id) == 0)
        return true;
    if (known < 0) {
        azure_error_clear(&ae);
        rc = r->env->cloud->group_members(r->env->cloud->ctx, group, seek_cb, &k, &ae);
        if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
            free(k.kind);
            if (reconcile_grant_transient(rc, &ae))
                cloud_again(r, "listing the members of the delegation group for", &ae);
            else
                fail_grant(r, "directory_error", "Graph refused the members of %s: %ld %s %s",
                           group, ae.status, ae.code, ae.message);
            return false;
        }
        known = k.kind != NULL ? 1 : 0;
        free(k.kind);
        remember_membership(group, r->g.principal_id, known == 1, r->now);
    }
    if (known == 1)
        return true;
    fail_grant(r, "principal_not_member",
               "%s is not a member of group %s, to whose members the grant's author is limited",
               r->g.principal_id, group);
    return false;
}

/* What the API deferred to the directory: checked before any assignment is made. */
static bool delegation_ok(struct run *r)
{
    json_t *p = json_loads(r->task->payload ? r->task->payload : "{}", 0, NULL);
    json_t *del = json_object_get(p, "delegation");
    const char *group = json_string_value(json_object_get(del, "memberOf"));
    json_t *types = json_object_get(del, "principalTypes");
    bool ok = true;

    if (json_is_object(del))
        ok = delegation_type_ok(r, types) && (group == NULL || delegation_member_ok(r, group));
    json_decref(p);
    return ok;
}

/* ---- the assignment ------------------------------------------------------------------------ */

struct find {
    const char *scope;
    const char *role_guid;
    char *id;
};

static bool same_scope(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    while (la > 0 && a[la - 1] == '/')
        la--;
    while (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

static enum err find_cb(const struct azure_role_assignment *ras, size_t n, void *arg)
{
    struct find *f = arg;

    for (size_t i = 0; i < n && f->id == NULL; i++) {
        if (ras[i].scope != NULL && same_scope(ras[i].scope, f->scope) &&
            ras[i].role_definition_guid != NULL &&
            strcasecmp(ras[i].role_definition_guid, f->role_guid) == 0 && ras[i].id != NULL)
            f->id = xstrdup(ras[i].id);
    }
    return ERR_OK;
}

static void activated(struct run *r, const char *assignment_id, bool adopted)
{
    struct store_grant_update u = {.state = grant_state_str(GRANT_STATE_ACTIVE),
                                   .assignment_id = assignment_id};
    enum err rc;

    rc = transition(r, &u, adopted ? "loginGrant.adopt" : "loginGrant.activate", "succeeded",
                    "assignmentId", assignment_id);
    if (rc != ERR_OK) {
        again_after(r, rc);
        return;
    }
    if (r->g.expires_at > 0)
        reconcile_again(r->res, r->g.expires_at - r->now > 0 ? r->g.expires_at - r->now : 1, "%s",
                        "");
    else
        reconcile_done(r->res);
}

/* 409 RoleAssignmentExists: the same (scope, role, principal) exists under another name. */
static void adopt(struct run *r)
{
    struct find f = {.scope = r->g.scope, .role_guid = model_grant_role_guid(r->role)};
    struct azure_ra_filter filter = {.principal_id = r->g.principal_id};
    struct azure_error ae;
    enum err rc;

    azure_error_clear(&ae);
    rc = r->env->cloud->role_assignments_list(r->env->cloud->ctx, r->g.scope, &filter, find_cb, &f,
                                              &ae);
    if (rc != ERR_OK) {
        free(f.id);
        cloud_again(r, "listing assignments to adopt at", &ae);
        return;
    }
    if (f.id == NULL) {
        reconcile_again(r->res, backoff(r),
                        "RoleAssignmentExists at %s but no matching assignment is listed yet",
                        r->g.scope);
        return;
    }
    log_info("grant_adopt", "grant=%s assignment=%s", r->g.id, f.id);
    activated(r, f.id, true);
    free(f.id);
}

/* A PUT that did not succeed: adopt, wait, retry or fail, as its answer says. */
static void put_failed(struct run *r, enum err rc, const struct azure_error *ae)
{
    int64_t deadline = r->g.created_at + r->env->cfg->principal_not_found_timeout_s * 1000;

    switch (reconcile_grant_outcome(rc, ae, false, r->now >= deadline)) {
    case GRANT_OUT_EXISTS:
        adopt(r);
        break;
    case GRANT_OUT_PRINCIPAL_FAIL:
        fail_grant(r, "PrincipalNotFound", "ARM still did not know principal %s after %llds: %s",
                   r->g.principal_id, (long long)r->env->cfg->principal_not_found_timeout_s,
                   ae->message);
        break;
    case GRANT_OUT_PRINCIPAL_WAIT:
        wait_with(r, backoff(r), "PrincipalNotFound",
                  "ARM does not know the principal yet (directory replication); retrying");
        break;
    case GRANT_OUT_TRANSIENT:
        cloud_again(r, "creating the assignment at", ae);
        break;
    default:
        if (!refused(r, ae, NULL))
            fail_grant(r, ae->code[0] ? ae->code : "arm_error",
                       "ARM refused the assignment: %ld %s", ae->status, ae->message);
        break;
    }
}

/* True when the assignment was made (the grant is active with it). */
static bool put_assignment(struct run *r)
{
    char role_def[160], desc[96];
    struct azure_role_assignment_spec spec = {
        .scope = r->g.scope,
        .name = r->g.assignment_name,
        .role_definition = role_def,
        .principal_id = r->g.principal_id,
        .principal_type = r->g.principal_type,
        .description = desc,
    };
    struct azure_role_assignment out = {0};
    struct azure_error ae;
    char *id;
    enum err rc;

    snprintf(role_def, sizeof(role_def),
             "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s",
             r->scope.subscription, model_grant_role_guid(r->role));
    snprintf(desc, sizeof(desc), "vmlogind grant %s", r->g.id);
    if (reconcile_audit(r->env, "roleAssignment.put", r->g.scope, "requested",
                        json_pack("{s:s, s:s, s:s}", "grantId", r->g.id, "assignmentName",
                                  r->g.assignment_name, "principalId", r->g.principal_id),
                        NULL) != ERR_OK) {
        reconcile_again(r->res, backoff(r), "audit log unavailable: assignment not attempted");
        return false;
    }
    azure_error_clear(&ae);
    rc = r->env->cloud->role_assignment_put(r->env->cloud->ctx, &spec, &out, &ae);
    if (rc == ERR_OK) {
        id = out.id ? xstrdup(out.id)
                    : xasprintf("%s/providers/Microsoft.Authorization/"
                                "roleAssignments/%s",
                                r->g.scope, r->g.assignment_name);
        azure_role_assignment_cleanup(&out);
        activated(r, id, false);
        free(id);
        return true;
    }
    azure_role_assignment_cleanup(&out);
    put_failed(r, rc, &ae);
    return false;
}

/* drift.detected / drift.repaired of an active grant whose assignment someone removed: no
 * table records the removal, so the event is written here (a lost one is only logged). */
static void grant_drift_event(struct run *r, const char *type)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "grantId", r->g.id, "scope", r->g.scope, "role",
                  r->g.role, "principalId", r->g.principal_id, "kind", "assignmentMissing");
    char *text = json_dumps(o, JSON_COMPACT);
    struct err_detail d;

    if (store_events_emit(r->env->store, clock_now_ms(), type, r->g.scope_key, text, &d) != ERR_OK)
        log_warn("event_emit_failed", "grant=%s type=%s error=\"%s\"", r->g.id, type, d.msg);
    free(text);
    json_decref(o);
}

/* The name of the assignment the grant holds: its adopted id's last segment, else its own. */
static const char *held_name(const struct store_grant *g)
{
    const char *slash = g->assignment_id ? strrchr(g->assignment_id, '/') : NULL;

    return slash != NULL && uuid_is_valid(slash + 1) ? slash + 1 : g->assignment_name;
}

/* A refused deletion is held: the grant keeps its state with the diagnosis; revoking again
 * retries. */
static void delete_held(struct run *r, const struct azure_error *ae)
{
    struct model_denial dn;

    if (!model_denial_diagnose(ae->status, ae->code, ae->message, ae->policy_assignment, NULL, &dn))
        return;
    model_denial_add_ids(&dn, ae->client_request_id, ae->request_id);
    log_warn("grant_refused",
             "grant=%s scope=%s code=%s client_request_id=%s request_id=%s diagnosis=\"%s\"",
             r->g.id, r->g.scope, ae->code, ae->client_request_id, ae->request_id, dn.message);
    wait_with(r, 0, dn.cause, dn.message);
    reconcile_done(r->res);
}

/* Revocation and expiry: delete, then the final state. */
static void delete_assignment(struct run *r, const char *final_state, const char *action)
{
    struct azure_error ae;
    struct store_grant_update u = {.state = final_state};
    const char *name = held_name(&r->g);
    enum err rc;

    if (reconcile_audit(r->env, "roleAssignment.delete", r->g.scope, "requested",
                        json_pack("{s:s, s:s}", "grantId", r->g.id, "assignmentName", name),
                        NULL) != ERR_OK) {
        reconcile_again(r->res, backoff(r), "audit log unavailable: deletion not attempted");
        return;
    }
    azure_error_clear(&ae);
    rc = r->env->cloud->role_assignment_delete(r->env->cloud->ctx, r->g.scope, name, NULL, &ae);
    if (rc == ERR_OK && strcmp(name, r->g.assignment_name) != 0) /* a pending PUT may exist */
        rc = r->env->cloud->role_assignment_delete(r->env->cloud->ctx, r->g.scope,
                                                   r->g.assignment_name, NULL, &ae);
    switch (reconcile_grant_outcome(rc, &ae, true, false)) {
    case GRANT_OUT_OK:
    case GRANT_OUT_GONE: /* gone already */
        break;
    case GRANT_OUT_TRANSIENT:
        cloud_again(r, "deleting the assignment at", &ae);
        return;
    case GRANT_OUT_DENIED:
        delete_held(r, &ae);
        return;
    default:
        wait_with(r, backoff(r) * 4, ae.code[0] ? ae.code : "arm_error", ae.message);
        return;
    }
    rc = transition(r, &u, action, "succeeded", NULL, NULL);
    if (rc != ERR_OK) {
        again_after(r, rc);
        return;
    }
    reconcile_done(r->res);
}

/* An active grant: still there? (re-created if someone deleted it by hand) */
static void verify_active(struct run *r)
{
    struct azure_role_assignment ra = {0};
    struct azure_error ae;
    enum err rc;

    azure_error_clear(&ae);
    rc = r->env->cloud->role_assignment_get(r->env->cloud->ctx, r->g.scope, held_name(&r->g), &ra,
                                            &ae);
    azure_role_assignment_cleanup(&ra);
    if (rc == ERR_NOT_FOUND) {
        log_info("grant_drift", "grant=%s scope=%s: assignment gone, creating it again", r->g.id,
                 r->g.scope);
        grant_drift_event(r, "drift.detected");
        if (put_assignment(r))
            grant_drift_event(r, "drift.repaired");
        return;
    }
    if (rc != ERR_OK) {
        cloud_again(r, "reading the assignment at", &ae);
        return;
    }
    if (r->g.expires_at > 0)
        reconcile_again(r->res, r->g.expires_at - r->now, "%s", "");
    else
        reconcile_done(r->res);
}

/* The assignment PUT yields its subscription's write tokens to VM rollouts under way: while
 * it would stand back, the run waits before its directory look-ups and its audit row, which
 * each attempt would otherwise repeat. True when it waits. */
static bool stand_back(struct run *r)
{
    int64_t wait = 0;

    if (r->env->cloud->yielding_write_wait_ms != NULL)
        wait = r->env->cloud->yielding_write_wait_ms(r->env->cloud->ctx, r->scope.subscription);
    if (wait <= 0)
        return false;
    reconcile_again(r->res, wait, "%s",
                    "standing back: the subscription's write tokens are kept for VM changes "
                    "under way");
    return true;
}

static void step(struct run *r)
{
    struct grant_plan_in in = {.state = r->g.state,
                               .now = r->now,
                               .expires_at = r->g.expires_at,
                               .has_principal = r->g.principal_id[0] != '\0'};

    switch (reconcile_grant_plan(&in)) {
    case GRANT_ACT_REVOKE:
        delete_assignment(r, grant_state_str(GRANT_STATE_REVOKED), "loginGrant.revoked");
        break;
    case GRANT_ACT_EXPIRE:
        delete_assignment(r, grant_state_str(GRANT_STATE_EXPIRED), "loginGrant.expire");
        break;
    case GRANT_ACT_VERIFY:
        verify_active(r);
        break;
    case GRANT_ACT_RESOLVE:
        (void)resolve_upn(r);
        break;
    case GRANT_ACT_CREATE:
        if (!stand_back(r) && delegation_ok(r) &&
            (strcmp(r->g.principal_type, "User") != 0 || check_user_id(r)))
            put_assignment(r);
        break;
    case GRANT_ACT_NONE:
        reconcile_done(r->res); /* failed, revoked, expired: nothing to do */
        break;
    }
}

void reconcile_grant(const struct reconcile_env *env, const struct store_task *task,
                     struct reconcile_result *res)
{
    struct run r = {.env = env, .task = task, .res = res, .now = clock_now_ms()};
    struct err_detail d = {{0}, {0}};
    struct violations vs;
    enum err rc = store_grant_get(env->store, task->key, &r.g, &d);

    if (rc == ERR_NOT_FOUND) {
        reconcile_done(res);
        return;
    }
    if (rc != ERR_OK) {
        reconcile_again(res, 0, "reading grant %s: %s", task->key, d.msg);
        return;
    }
    violations_init(&vs);
    r.role = model_grant_role_parse(r.g.role);
    if (!model_scope_parse(r.g.scope, &r.scope, &vs, "scope") || r.role == MODEL_GRANT_ROLE_NONE) {
        reconcile_failed(res, "grant %s has an invalid scope or role", r.g.id);
    } else if (env->cloud == NULL) {
        reconcile_again(res, NO_AZURE_MS, "Azure is not configured");
    } else {
        step(&r);
    }
    store_grant_clear(&r.g);
}
