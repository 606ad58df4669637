/* reconcile_permissions.c: what vmlogind's own identity may do. ARM documents Permissions_List
 * for a resource group and a resource only, so each subscription is asked at the resource
 * groups of its VMs (up to PERM_MAX_RGS); an action counts as granted in a subscription when
 * every one of them allows it. Graph has no such call: the app roles are read from the roles
 * claim of vmlogind's own Graph token. Nothing here changes Azure. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/azure_arm.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/model_states.h"
#include "vmlogind/reconcile_permissions.h"
#include "vmlogind/xalloc.h"

#define PERM_MAX_RGS 20

struct identity {
    char oid[64];
    char appid[64];
    json_t *roles; /* the Graph token's roles claim (new reference) or NULL */
};

/* Reads claims of vmlogind's own token for scope (not verified: it is only read). */
static enum err token_claims(const struct cloud_ops *cl, const char *scope, struct identity *id,
                             bool graph, struct azure_error *ae)
{
    char *tok = NULL;
    struct jws j;
    enum err rc = cl->token_get(cl->ctx, scope, &tok, NULL, ae);

    if (rc != ERR_OK)
        return rc;
    rc = jws_parse(tok, &j, NULL);
    free(tok);
    if (rc != ERR_OK)
        return rc;
    if (graph) {
        json_t *roles = json_object_get(j.claims, "roles");
        id->roles = json_is_array(roles) ? json_incref(roles) : json_array();
    } else {
        snprintf(id->oid, sizeof(id->oid), "%s",
                 json_string_value(json_object_get(j.claims, "oid"))
                     ? json_string_value(json_object_get(j.claims, "oid"))
                     : "");
        snprintf(id->appid, sizeof(id->appid), "%s",
                 json_string_value(json_object_get(j.claims, "appid"))
                     ? json_string_value(json_object_get(j.claims, "appid"))
                     : "");
    }
    jws_cleanup(&j);
    return ERR_OK;
}

static json_t *error_json(const struct azure_error *ae)
{
    return json_pack("{s:I, s:s, s:s, s:s}", "status", (json_int_t)ae->status, "code",
                     ae->code[0] ? ae->code : "error", "message", ae->message, "requestId",
                     ae->request_id);
}

static bool entries_allow(const struct azure_permission *p, size_t n, const char *action)
{
    for (size_t i = 0; i < n; i++)
        if (model_perm_allows(p[i].actions, p[i].n_actions, p[i].not_actions, p[i].n_not_actions,
                              action))
            return true;
    return false;
}

/* Asks one scope; appends it to each need's missing list where it is not allowed. */
static void check_scope(const struct reconcile_env *env, const char *scope, json_t **missing_at,
                        json_t *errors)
{
    struct azure_permission *p = NULL;
    size_t n = 0;
    struct azure_error ae;

    azure_error_clear(&ae);
    if (env->cloud->permissions_list(env->cloud->ctx, scope, &p, &n, &ae) != ERR_OK) {
        json_t *e = error_json(&ae);
        json_object_set_new(e, "scope", json_string(scope));
        json_array_append_new(errors, e);
        for (size_t k = 0; k < model_perm_needs_count; k++)
            json_array_append_new(missing_at[k], json_string(scope));
        return;
    }
    for (size_t k = 0; k < model_perm_needs_count; k++)
        if (!entries_allow(p, n, model_perm_needs[k].action))
            json_array_append_new(missing_at[k], json_string(scope));
    azure_permissions_free(p, n);
}

static json_t *missing_entry(const struct model_perm_need *need, const char *sub_scope,
                             const char *oid)
{
    char fix[800];

    model_perm_fix(need, sub_scope, oid[0] ? oid : NULL, fix, sizeof(fix));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s}", "action", need->action,
                     "purpose", need->purpose, "role", need->role, "roleDefinitionId",
                     need->role_id, "scope", sub_scope, "condition",
                     need->constrained ? MODEL_PERM_LOGIN_ROLES_CONDITION : NULL,
                     "conditionVersion", need->constrained ? "2.0" : NULL, "fix", fix);
}

/* One subscription's section; *unchecked when no scope could be asked yet. */
static json_t *check_subscription(const struct reconcile_env *env, const char *sub, const char *oid,
                                  int *n_missing, bool *unchecked)
{
    char sub_scope[128];
    char **rgs = NULL;
    size_t n_rgs = 0;
    json_t *missing_at[MODEL_PERM_NEEDS_MAX];
    json_t *scopes = json_array(), *perms = json_array(), *missing = json_array(),
           *errors = json_array();
    json_t *out;

    snprintf(sub_scope, sizeof(sub_scope), "/subscriptions/%s", sub);
    for (size_t k = 0; k < model_perm_needs_count; k++)
        missing_at[k] = json_array();
    if (store_vm_resource_groups(env->store, sub, PERM_MAX_RGS, &rgs, &n_rgs, NULL) != ERR_OK)
        n_rgs = 0;
    for (size_t i = 0; i < n_rgs; i++) {
        char *scope = xasprintf("%s/resourceGroups/%s", sub_scope, rgs[i]);
        check_scope(env, scope, missing_at, errors);
        json_array_append_new(scopes, json_string(scope));
        free(scope);
        free(rgs[i]);
    }
    free(rgs);
    *unchecked = n_rgs == 0;
    for (size_t k = 0; k < model_perm_needs_count; k++) {
        const struct model_perm_need *need = &model_perm_needs[k];
        bool granted = n_rgs > 0 && json_array_size(missing_at[k]) == 0;
        json_array_append_new(perms, json_pack("{s:s, s:s, s:o, s:o}", "action", need->action,
                                               "purpose", need->purpose, "granted",
                                               n_rgs > 0 ? json_boolean(granted) : json_null(),
                                               "missingAt", missing_at[k]));
        if (n_rgs > 0 && !granted) {
            json_array_append_new(missing, missing_entry(need, sub_scope, oid));
            log_warn("permission_missing",
                     "subscription=%s action=%s role=\"%s\" scope=%s purpose=\"%s\"", sub,
                     need->action, need->role, sub_scope, need->purpose);
            (*n_missing)++;
        }
    }
    out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "subscriptionId", sub, "state",
                    *unchecked ? "unchecked" : "checked", "scopesChecked", scopes, "permissions",
                    perms, "missing", missing, "errors", errors);
    if (*unchecked)
        json_object_set_new(out, "reason",
                            json_string("no VM of this subscription is in the inventory yet: ARM "
                                        "answers Permissions_List per resource group, so the "
                                        "check runs again after the inventory sync"));
    return out;
}

/* Whether the optional feature a Graph permission serves is turned on. */
static bool feature_on(const struct reconcile_env *env, enum model_graph_feature f)
{
    if (env->cfg == NULL)
        return false;
    if (f == MODEL_GRAPH_CREATE_SIGNIN_SP)
        return env->cfg->create_signin_sp;
    if (f == MODEL_GRAPH_STALE_DELETE)
        return strcmp(env->cfg->stale_devices, "delete") == 0;
    return true;
}

static json_t *check_graph(const struct reconcile_env *env, const struct identity *id,
                           const struct azure_error *ae, int *n_missing)
{
    json_t *roles = json_array(), *missing = json_array();

    if (id->roles == NULL)
        return json_pack("{s:o}", "error", error_json(ae));
    for (size_t k = 0; k < model_graph_needs_count; k++) {
        const struct model_graph_need *need = &model_graph_needs[k];
        bool has = model_graph_has(id->roles, need);
        char fix[400];
        json_array_append_new(roles, json_pack("{s:s, s:s, s:b, s:b}", "appRole", need->app_role,
                                               "purpose", need->purpose, "granted", has, "optional",
                                               need->optional));
        if (has || (need->optional && !feature_on(env, need->feature)))
            continue;
        snprintf(fix, sizeof(fix),
                 "grant the app %s the Microsoft Graph application permission %s (or one of "
                 "the higher ones its Graph docs name) and grant admin consent",
                 id->appid[0] ? id->appid : "vmlogind", need->app_role);
        json_array_append_new(missing, json_pack("{s:s, s:s, s:b, s:s}", "appRole", need->app_role,
                                                 "purpose", need->purpose, "optional",
                                                 need->optional, "fix", fix));
        log_warn("graph_permission_missing", "app_role=%s purpose=\"%s\"", need->app_role,
                 need->purpose);
        (*n_missing)++;
    }
    return json_pack("{s:O, s:o, s:o}", "roles", id->roles, "appRoles", roles, "missing", missing);
}

struct subs_acc {
    json_t *ids;
};

static enum err subs_cb(const struct azure_subscription *subs, size_t n, void *arg)
{
    struct subs_acc *a = arg;

    for (size_t i = 0; i < n; i++)
        if (subs[i].subscription_id != NULL)
            json_array_append_new(a->ids, json_string(subs[i].subscription_id));
    return ERR_OK;
}

void reconcile_permissions(const struct reconcile_env *env, const struct store_task *task,
                           struct reconcile_result *res)
{
    const struct azure_cloud *cloud;
    struct identity id = {{0}, {0}, NULL};
    struct azure_error ae, gae;
    struct subs_acc subs = {json_array()};
    json_t *report = NULL, *subs_out = json_array();
    struct err_detail d = {{0}, {0}};
    bool any_unchecked = false;
    int n_missing = 0;
    char *text;
    (void)task;

    if (env->cloud == NULL) {
        reconcile_again(res, MODEL_PERM_RECHECK_MS, "Azure is not configured");
        goto out;
    }
    cloud = env->cloud->cloud(env->cloud->ctx);
    azure_error_clear(&ae);
    azure_error_clear(&gae);
    if (token_claims(env->cloud, cloud->arm_scope, &id, false, &ae) != ERR_OK ||
        env->cloud->subscriptions_list(env->cloud->ctx, subs_cb, &subs, &ae) != ERR_OK) {
        reconcile_again(res, 0, "permissions check: %ld %s %s", ae.status, ae.code, ae.message);
        goto out;
    }
    (void)token_claims(env->cloud, cloud->graph_scope, &id, true, &gae);
    for (size_t i = 0; i < json_array_size(subs.ids); i++) {
        bool unchecked = false;
        json_array_append_new(
            subs_out, check_subscription(env, json_string_value(json_array_get(subs.ids, i)),
                                         id.oid, &n_missing, &unchecked));
        any_unchecked = any_unchecked || unchecked;
    }
    report = json_pack("{s:{s:s, s:s}, s:o, s:o, s:i}", "identity", "objectId", id.oid, "appId",
                       id.appid, "subscriptions", subs_out, "graph",
                       check_graph(env, &id, &gae, &n_missing), "missingCount", n_missing);
    subs_out = NULL;
    text = json_dumps(report, JSON_COMPACT);
    if (store_permission_check_put(env->store, MODEL_PERM_SUBJECT, text, clock_now_ms(), &d) !=
        ERR_OK) {
        free(text);
        reconcile_again(res, 0, "recording the permissions check: %s", d.msg);
        goto out;
    }
    free(text);
    log_info("permissions_checked", "subscriptions=%zu missing=%d object_id=%s",
             json_array_size(subs.ids), n_missing, id.oid);
    reconcile_again(res, any_unchecked ? MODEL_PERM_UNCHECKED_MS : MODEL_PERM_RECHECK_MS, "%s", "");
out:
    json_decref(report);
    json_decref(subs_out);
    json_decref(subs.ids);
    json_decref(id.roles);
}

enum err reconcile_permissions_schedule(struct store *st, int64_t due_ms, struct err_detail *d)
{
    return store_task_upsert(st, task_kind_str(TASK_KIND_PERMISSIONS), MODEL_PERM_SUBJECT, due_ms,
                             NULL, clock_now_ms(), d);
}
