/* reconcile_grant_sweep.c: orphan and drift sweeps of the two login roles. Reads the
 * assignments from ARM (not the store: what gets deleted must be what Azure holds now), asks
 * Graph which principals still exist, and only then deletes. Fail-closed: a Graph error of
 * any kind ends the sweep with nothing deleted. A principal that is only soft-deleted (its
 * /directory/deletedItems/{id} answers) is kept, since it can be restored with its access.
 * External assignments (no live vmlogind grant behind them) are removed only under a scope
 * whose login policy is authoritative and not a dry run. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/model_access.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/reconcile_grant.h"
#include "vmlogind/store_events.h"
#include "vmlogind/store_grants.h"
#include "vmlogind/xalloc.h"

#define POLICY_PREFIX "policy:"
#define REPORT_ITEMS_MAX 1000
#define POLICY_MIN_PERIOD_MS 60000

struct item {
    char *id;
    char *name;
    char *scope;
    char *role_guid;
    char *principal_id;
    char *principal_type;
    char *grant_id; /* NULL: external */
    enum sweep_principal principal;
    const char *reason; /* "orphan", "softDeleted", "external", NULL: fine */
    const char *action; /* "removed", "wouldRemove", "kept", "failed" */
    char error[160];
};

struct sweep {
    const struct reconcile_env *env;
    const struct store_task *task;
    bool dry_run;
    bool policy_only;                  /* a policy task: externals only */
    char scope[MODEL_GRANT_SCOPE_MAX]; /* "" = every subscription */
    char scope_key[MODEL_GRANT_SCOPE_MAX];
    struct item *items;
    size_t n, cap;
    char fail_code[64];
    char fail_msg[1024];
};

static void sweep_free(struct sweep *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].id);
        free(s->items[i].name);
        free(s->items[i].scope);
        free(s->items[i].role_guid);
        free(s->items[i].principal_id);
        free(s->items[i].principal_type);
        free(s->items[i].grant_id);
    }
    free(s->items);
}

static char *dup_lower(const char *s)
{
    char *d = xstrdup(s ? s : "");

    for (char *p = d; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    return d;
}

/* ---- reading ------------------------------------------------------------------------------- */

static enum err collect_ra(const struct azure_role_assignment *ras, size_t n, void *arg)
{
    struct sweep *s = arg;

    for (size_t i = 0; i < n; i++) {
        const struct azure_role_assignment *ra = &ras[i];
        char *key;
        bool keep;
        if (model_grant_role_from_definition(ra->role_definition_guid) == MODEL_GRANT_ROLE_NONE ||
            ra->scope == NULL || ra->principal_id == NULL || ra->id == NULL || ra->name == NULL)
            continue; /* Owner, Contributor and the rest never count as login */
        key = dup_lower(ra->scope);
        keep = s->scope_key[0] == '\0' || model_access_scope_covers(s->scope_key, key);
        free(key);
        if (!keep)
            continue; /* inherited from above the swept scope: not ours to judge here */
        for (size_t j = 0; j < s->n; j++) {
            if (strcasecmp(s->items[j].id, ra->id) == 0) {
                keep = false;
                break;
            }
        }
        if (!keep)
            continue;
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 32;
            s->items = xreallocarray(s->items, s->cap, sizeof(*s->items));
        }
        s->items[s->n++] = (struct item){
            .id = xstrdup(ra->id),
            .name = xstrdup(ra->name),
            .scope = xstrdup(ra->scope),
            .role_guid = dup_lower(ra->role_definition_guid),
            .principal_id = dup_lower(ra->principal_id),
            .principal_type = xstrdup(ra->principal_type ? ra->principal_type : ""),
        };
    }
    return reconcile_stopping(s->env) ? ERR_UNAVAILABLE : ERR_OK;
}

static enum err list_sub(const struct azure_subscription *subs, size_t n, void *arg)
{
    struct sweep *s = arg;
    struct azure_error ae;

    for (size_t i = 0; i < n; i++) {
        char scope[80];
        enum err rc;
        snprintf(scope, sizeof(scope), "/subscriptions/%s", subs[i].subscription_id);
        azure_error_clear(&ae);
        rc = s->env->cloud->role_assignments_list(s->env->cloud->ctx, scope, NULL, collect_ra, s,
                                                  &ae);
        if (rc != ERR_OK) {
            snprintf(s->fail_code, sizeof(s->fail_code), "arm_error");
            snprintf(s->fail_msg, sizeof(s->fail_msg), "listing assignments of %s: %ld %s %.300s",
                     scope, ae.status, ae.code, ae.message);
            return rc;
        }
    }
    return ERR_OK;
}

static enum err read_assignments(struct sweep *s)
{
    struct azure_error ae;
    enum err rc;

    azure_error_clear(&ae);
    if (s->scope[0] != '\0')
        rc = s->env->cloud->role_assignments_list(s->env->cloud->ctx, s->scope, NULL, collect_ra, s,
                                                  &ae);
    else
        rc = s->env->cloud->subscriptions_list(s->env->cloud->ctx, list_sub, s, &ae);
    if (rc != ERR_OK && s->fail_code[0] == '\0') {
        snprintf(s->fail_code, sizeof(s->fail_code), "arm_error");
        snprintf(s->fail_msg, sizeof(s->fail_msg), "listing assignments: %ld %s %.300s", ae.status,
                 ae.code, ae.message);
    }
    return rc;
}

/* ---- judging ------------------------------------------------------------------------------- */

struct found {
    char **ids;
    size_t n, cap;
};

static enum err collect_found(const struct azure_directory_object *objs, size_t n, void *arg)
{
    struct found *f = arg;

    for (size_t i = 0; i < n; i++) {
        if (objs[i].id == NULL)
            continue;
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 64;
            f->ids = xreallocarray(f->ids, f->cap, sizeof(*f->ids));
        }
        f->ids[f->n++] = dup_lower(objs[i].id);
    }
    return ERR_OK;
}

static bool in_found(const struct found *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->ids[i], id) == 0)
            return true;
    }
    return false;
}

static void graph_failed(struct sweep *s, const char *what, const struct azure_error *ae)
{
    snprintf(s->fail_code, sizeof(s->fail_code), "graph_error");
    snprintf(s->fail_msg, sizeof(s->fail_msg),
             "%s failed (%ld %s %.300s): nothing was deleted, since a principal Graph could not "
             "vouch for might still exist",
             what, ae->status, ae->code, ae->message);
}

/* Marks orphans and soft-deleted principals. False (fail_* set) on any Graph error. */
static bool judge_orphans(struct sweep *s)
{
    struct found f = {0};
    const char **ids = xcalloc(s->n + 1, sizeof(*ids));
    size_t nids = 0;
    struct azure_error ae;
    bool ok = true;
    enum err rc = ERR_OK;

    for (size_t i = 0; i < s->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < nids && !seen; j++)
            seen = strcmp(ids[j], s->items[i].principal_id) == 0;
        if (!seen)
            ids[nids++] = s->items[i].principal_id;
    }
    azure_error_clear(&ae);
    if (nids > 0)
        rc = s->env->cloud->get_by_ids(s->env->cloud->ctx, ids, nids, collect_found, &f, &ae);
    if (rc != ERR_OK) {
        graph_failed(s, "directoryObjects/getByIds", &ae);
        ok = false;
    }
    for (size_t i = 0; ok && i < s->n; i++) {
        struct item *it = &s->items[i];
        struct azure_directory_object del = {0};
        if (in_found(&f, it->principal_id))
            continue;
        /* the same principal was judged for an earlier item */
        for (size_t j = 0; j < i && it->principal == SWEEP_PRINCIPAL_PRESENT; j++) {
            if (strcmp(s->items[j].principal_id, it->principal_id) == 0)
                it->principal = s->items[j].principal;
        }
        if (it->principal != SWEEP_PRINCIPAL_PRESENT)
            continue;
        azure_error_clear(&ae);
        rc = s->env->cloud->deleted_item_get(s->env->cloud->ctx, it->principal_id, &del, &ae);
        azure_directory_object_cleanup(&del);
        if (rc == ERR_OK) {
            it->principal = SWEEP_PRINCIPAL_SOFT_DELETED;
        } else if (rc == ERR_NOT_FOUND) {
            it->principal = SWEEP_PRINCIPAL_GONE;
        } else {
            graph_failed(s, "directory/deletedItems", &ae);
            ok = false;
        }
    }
    for (size_t i = 0; i < f.n; i++)
        free(f.ids[i]);
    free(f.ids);
    free(ids);
    return ok;
}

/* Decides every item's reason and action (reconcile_sweep_plan), with the live grant behind
 * it and, for an external one, the login policy covering its scope. */
static void decide(struct sweep *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct item *it = &s->items[i];
        struct sweep_plan_in in = {.principal = it->principal, .dry_run = s->dry_run};
        struct sweep_plan_out out;
        in.has_grant = store_grant_for_assignment(s->env->store, it->name, it->id, &it->grant_id,
                                                  NULL) == ERR_OK;
        if (it->principal == SWEEP_PRINCIPAL_PRESENT && !in.has_grant) {
            struct store_login_policy p = {0};
            char *key = dup_lower(it->scope);
            if (store_login_policy_covering(s->env->store, key, &p, NULL) == ERR_OK) {
                in.authoritative = p.authoritative;
                in.policy_dry_run = p.dry_run;
            }
            free(key);
            store_login_policy_clear(&p);
        }
        reconcile_sweep_plan(&in, &out);
        it->reason = reconcile_sweep_reason_str(out.reason);
        it->action = reconcile_sweep_action_str(out.action);
    }
}

/* ---- acting -------------------------------------------------------------------------------- */

static enum err audit_removal(struct sweep *s, const struct item *it, const char *outcome)
{
    json_t *det = json_pack("{s:s, s:s, s:s, s:s, s:s}", "reason", it->reason, "principalId",
                            it->principal_id, "roleDefinitionId", it->role_guid, "scope", it->scope,
                            "task", s->task->key);
    enum err rc = reconcile_audit(s->env, "roleAssignment.remove", it->id, outcome, det, NULL);

    if (rc != ERR_OK)
        log_warn("sweep_audit_failed", "assignment=%s", it->id);
    return rc;
}

/* The live grant behind a removed orphan ends failed with the cause: its principal is gone from
 * the directory, so the assignment can't be made again, and the grant must not go on showing
 * access that no longer exists. */
static void fail_grant_of(struct sweep *s, const struct item *it)
{
    struct store *st = s->env->store;
    struct store_grant g = {0};
    struct err_detail d = {{0}, {0}};
    struct store_grant_update u = {
        .state = grant_state_str(GRANT_STATE_FAILED),
        .error_code = "principal_deleted",
        .error_message = "the principal was deleted from the directory; a sweep removed its "
                         "assignment"};
    enum err rc = store_tx_begin(st, &d);

    if (rc == ERR_OK)
        rc = store_grant_get(st, it->grant_id, &g, &d);
    if (rc == ERR_OK && (grant_state_is(g.state, GRANT_STATE_ACTIVE) ||
                         grant_state_is(g.state, GRANT_STATE_PENDING))) {
        rc = store_grant_update(st, g.id, g.generation, &u, clock_now_ms(), &d);
        if (rc == ERR_OK)
            rc = reconcile_audit(s->env, "loginGrant.fail", g.scope, "failed",
                                 json_pack("{s:s, s:s, s:s, s:s}", "grantId", g.id, "state",
                                           grant_state_str(GRANT_STATE_FAILED), "code",
                                           u.error_code, "task", s->task->key),
                                 &d);
    }
    if (rc == ERR_OK)
        rc = store_tx_commit(st, &d);
    else
        store_tx_rollback(st);
    if (rc != ERR_OK)
        log_warn("sweep_grant_not_failed", "grant=%s error=\"%s\"", it->grant_id, d.msg);
    store_grant_clear(&g);
}

/* Deletes what was decided; returns how many deletions failed. */
static size_t act(struct sweep *s)
{
    size_t failed = 0;

    for (size_t i = 0; i < s->n; i++) {
        struct item *it = &s->items[i];
        struct azure_error ae;
        enum err rc;
        if (it->action == NULL || strcmp(it->action, "removed") != 0)
            continue;
        if (audit_removal(s, it, "requested") != ERR_OK) {
            it->action = "failed"; /* no audit row, no change */
            snprintf(it->error, sizeof(it->error), "audit log unavailable");
            failed++;
            continue;
        }
        azure_error_clear(&ae);
        rc = s->env->cloud->role_assignment_delete(s->env->cloud->ctx, it->scope, it->name, NULL,
                                                   &ae);
        if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
            it->action = "failed";
            snprintf(it->error, sizeof(it->error), "%ld %s", ae.status, ae.code);
            failed++;
        }
        if (audit_removal(s, it, rc == ERR_OK || rc == ERR_NOT_FOUND ? "succeeded" : "failed") !=
            ERR_OK)
            log_warn("sweep_outcome_unaudited", "assignment=%s", it->id);
        if ((rc == ERR_OK || rc == ERR_NOT_FOUND) && it->grant_id != NULL)
            fail_grant_of(s, it);
        log_info("sweep_remove", "assignment=%s reason=%s outcome=%s", it->id, it->reason,
                 it->action);
    }
    return failed;
}

static char *report(const struct sweep *s)
{
    json_t *items = json_array();
    json_t *counts =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "assignments", (json_int_t)s->n, "orphans",
                  (json_int_t)0, "softDeleted", (json_int_t)0, "external", (json_int_t)0, "removed",
                  (json_int_t)0, "wouldRemove", (json_int_t)0);
    json_t *o;
    char *text;

    for (size_t i = 0; i < s->n; i++) {
        const struct item *it = &s->items[i];
        const char *ckey = it->reason == NULL                       ? NULL
                           : strcmp(it->reason, "orphan") == 0      ? "orphans"
                           : strcmp(it->reason, "softDeleted") == 0 ? "softDeleted"
                                                                    : "external";
        json_t *row;
        if (ckey == NULL)
            continue;
        json_object_set_new(counts, ckey,
                            json_integer(json_integer_value(json_object_get(counts, ckey)) + 1));
        if (strcmp(it->action, "removed") == 0 || strcmp(it->action, "wouldRemove") == 0)
            json_object_set_new(
                counts, it->action,
                json_integer(json_integer_value(json_object_get(counts, it->action)) + 1));
        if (json_array_size(items) >= REPORT_ITEMS_MAX)
            continue;
        row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "assignmentId", it->id, "scope",
                        it->scope, "role",
                        model_grant_role_name(model_grant_role_from_definition(it->role_guid)),
                        "principalId", it->principal_id, "principalType", it->principal_type,
                        "reason", it->reason, "action", it->action);
        if (it->grant_id != NULL)
            json_object_set_new(row, "grantId", json_string(it->grant_id));
        if (it->error[0] != '\0')
            json_object_set_new(row, "error", json_string(it->error));
        json_array_append_new(items, row);
    }
    o = json_pack("{s:b, s:o, s:o}", "dryRun", s->dry_run, "counts", counts, "items", items);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* ---- the task ------------------------------------------------------------------------------ */

static bool read_payload(struct sweep *s)
{
    json_t *p = json_loads(s->task->payload ? s->task->payload : "{}", 0, NULL);
    const char *scope = json_string_value(json_object_get(p, "scope"));
    struct model_scope ms;
    bool ok = true;

    s->dry_run = !json_is_false(json_object_get(p, "dryRun"));
    if (scope != NULL && scope[0] != '\0') {
        ok = model_scope_parse(scope, &ms, NULL, "scope");
        if (ok) {
            snprintf(s->scope, sizeof(s->scope), "%s", ms.arm);
            snprintf(s->scope_key, sizeof(s->scope_key), "%s", ms.key);
        }
    }
    json_decref(p);
    return ok;
}

static void finish_operation(struct sweep *s, size_t failed, int64_t now)
{
    char *text = report(s);
    const char *status = operation_status_str(s->fail_code[0] ? OPERATION_STATUS_FAILED
                                              : failed        ? OPERATION_STATUS_PARTIALLY_SUCCEEDED
                                                              : OPERATION_STATUS_SUCCEEDED);
    struct err_detail d = {{0}, {0}};

    if (store_operation_update(s->env->store, s->task->key, status, text,
                               s->fail_code[0] ? s->fail_code : NULL,
                               s->fail_code[0] ? s->fail_msg : NULL, now, &d) != ERR_OK)
        log_warn("sweep_record_failed", "sweep=%s error=\"%s\"", s->task->key, d.msg);
    free(text);
}

/* A login policy's standing sweep is no operation, so no trigger sees it end: when it found
 * assignments to remove (removed, or would remove in a dry run) sweep.completed is written
 * here, at the policy's scope, with the report's dryRun and counts. */
static void policy_event(struct sweep *s)
{
    char *text = report(s);
    json_t *r = json_loads(text, 0, NULL);
    json_t *counts = json_object_get(r, "counts");
    json_t *o;
    char *data;
    struct err_detail d;

    free(text);
    if (json_integer_value(json_object_get(counts, "removed")) +
            json_integer_value(json_object_get(counts, "wouldRemove")) ==
        0) {
        json_decref(r);
        return;
    }
    o = json_pack("{s:s, s:b, s:s, s:O, s:O}", "scope",
                  s->scope[0] != '\0' ? s->scope : s->task->key + strlen(POLICY_PREFIX), "policy",
                  true, "status", "Succeeded", "dryRun", json_object_get(r, "dryRun"), "counts",
                  counts);
    data = json_dumps(o, JSON_COMPACT);
    if (store_events_emit(s->env->store, clock_now_ms(), "sweep.completed",
                          s->task->key + strlen(POLICY_PREFIX), data, &d) != ERR_OK)
        log_warn("event_emit_failed", "sweep=%s error=\"%s\"", s->task->key, d.msg);
    free(data);
    json_decref(o);
    json_decref(r);
}

void reconcile_grant_sweep(const struct reconcile_env *env, const struct store_task *task,
                           struct reconcile_result *res)
{
    struct sweep s = {.env = env, .task = task};
    struct store_login_policy pol = {0};
    size_t failed = 0;
    int64_t period = env->cfg->sync_interval_s * 1000;
    struct reconcile_job *job = NULL;
    bool judged;

    s.policy_only = strncmp(task->key, POLICY_PREFIX, strlen(POLICY_PREFIX)) == 0;
    if (!read_payload(&s)) {
        reconcile_failed(res, "sweep %s: invalid scope in its payload", task->key);
        return;
    }
    if (s.policy_only) {
        /* the standing task of a policy: stop when the policy is gone */
        if (store_login_policy_get(env->store, task->key + strlen(POLICY_PREFIX), &pol, NULL) !=
                ERR_OK ||
            !pol.authoritative) {
            store_login_policy_clear(&pol);
            reconcile_done(res);
            return;
        }
        s.dry_run = pol.dry_run;
        store_login_policy_clear(&pol);
    }
    if (env->cloud == NULL) {
        reconcile_again(res, 60000, "Azure is not configured");
        return;
    }
    if (!reconcile_job_begin(env, task, res, &job))
        return; /* another replica sweeps this scope now */
    if (!s.policy_only && store_operation_update(env->store, task->key,
                                                 operation_status_str(OPERATION_STATUS_RUNNING),
                                                 NULL, NULL, NULL, clock_now_ms(), NULL) != ERR_OK)
        log_warn("sweep_record_failed", "sweep=%s", task->key);
    judged = read_assignments(&s) == ERR_OK && (s.policy_only || judge_orphans(&s));
    if (judged) {
        decide(&s);
        failed = s.dry_run ? 0 : act(&s);
    }
    if (!s.policy_only) {
        finish_operation(&s, failed, clock_now_ms());
        reconcile_done(res);
    } else if (!judged) {
        reconcile_again(res, 0, "%s: %s", s.fail_code, s.fail_msg);
    } else {
        policy_event(&s);
        reconcile_again(res, period > POLICY_MIN_PERIOD_MS ? period : POLICY_MIN_PERIOD_MS, "%s",
                        "");
    }
    reconcile_job_end(job);
    sweep_free(&s);
}
