/* reconcile_signin.c: the directory facts for GET /v1{vm}/signIn, read from Microsoft Graph
 * and stored (store_signin.h) for the API to judge. One read per ask: the task converges once
 * the facts are stored; the API asks again when they are older than MODEL_SIGNIN_FRESH_MS. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_signin.h"
#include "vmlogind/reconcile_signin.h"
#include "vmlogind/store_signin.h"

#define SIGNIN_RECENT 20

/* A section that Graph refused or failed: denied (403) names the permission. */
static json_t *section_error(const struct azure_error *ae, enum err rc, const char *perm)
{
    if (ae->status == 403)
        return json_pack("{s:s, s:s, s:s}", "status", "denied", "permission", perm, "error",
                         ae->code[0] ? ae->code : "Authorization_RequestDenied");
    if (rc == ERR_NOT_FOUND || ae->status == 404)
        return json_pack("{s:s}", "status", "notFound");
    return json_pack("{s:s, s:s}", "status", "error", "error",
                     ae->code[0] ? ae->code : err_str(rc));
}

static json_t *read_user(const struct reconcile_env *env, const char *principal, char *uid,
                         size_t cap)
{
    struct azure_user u = {0};
    struct azure_error ae;
    enum err rc;
    json_t *out;

    azure_error_clear(&ae);
    rc = env->cloud->user_get(env->cloud->ctx, principal, &u, &ae);
    if (rc != ERR_OK) {
        azure_user_cleanup(&u);
        return section_error(&ae, rc, MODEL_SIGNIN_PERM_USER);
    }
    snprintf(uid, cap, "%s", u.id ? u.id : "");
    out = json_pack("{s:s, s:{s:s?, s:s?, s:s?, s:s?}}", "status", "ok", "value", "id", u.id,
                    "userPrincipalName", u.upn, "userType", u.user_type, "displayName",
                    u.display_name);
    if (u.has_account_enabled)
        json_object_set_new(json_object_get(out, "value"), "accountEnabled",
                            json_boolean(u.account_enabled));
    azure_user_cleanup(&u);
    return out;
}

static json_t *read_devices(const struct reconcile_env *env, const char *hostname)
{
    struct azure_device *dv = NULL;
    struct azure_error ae;
    size_t n = 0;
    enum err rc;
    json_t *v;

    if (hostname == NULL || hostname[0] == '\0')
        return json_pack("{s:s, s:s}", "status", "error", "error", "hostname not known yet");
    azure_error_clear(&ae);
    rc = env->cloud->devices_by_name(env->cloud->ctx, hostname, &dv, &n, &ae);
    if (rc != ERR_OK)
        return section_error(&ae, rc, MODEL_SIGNIN_PERM_DEVICE);
    v = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            v, json_pack("{s:s?, s:s?, s:s?, s:s?, s:b, s:s?}", "id", dv[i].id, "deviceId",
                         dv[i].device_id, "displayName", dv[i].display_name, "trustType",
                         dv[i].trust_type, "accountEnabled", dv[i].account_enabled,
                         "approximateLastSignInDateTime", dv[i].approximate_last_sign_in));
    azure_devices_free(dv, n);
    return json_pack("{s:s, s:o}", "status", "ok", "value", v);
}

static json_t *read_policies(const struct reconcile_env *env)
{
    struct azure_error ae;
    json_t *v = NULL;
    enum err rc;

    azure_error_clear(&ae);
    rc = env->cloud->ca_policies(env->cloud->ctx, &v, &ae);
    if (rc != ERR_OK) {
        json_decref(v);
        return section_error(&ae, rc, MODEL_SIGNIN_PERM_POLICY);
    }
    return json_pack("{s:s, s:o}", "status", "ok", "value", v);
}

static json_t *read_signins(const struct reconcile_env *env, const char *uid)
{
    struct azure_error ae;
    json_t *v = NULL;
    enum err rc;

    if (uid[0] == '\0')
        return json_pack("{s:s, s:s}", "status", "error", "error", "no account to read for");
    azure_error_clear(&ae);
    rc = env->cloud->signins(env->cloud->ctx, uid, MODEL_SIGNIN_APP_ID, SIGNIN_RECENT, &v, &ae);
    if (rc != ERR_OK) {
        json_decref(v);
        return section_error(&ae, rc, MODEL_SIGNIN_PERM_SIGNINS);
    }
    return json_pack("{s:s, s:o}", "status", "ok", "value", v);
}

void reconcile_signin(const struct reconcile_env *env, const struct store_task *task,
                      struct reconcile_result *res)
{
    json_t *payload = json_loads(task->payload ? task->payload : "{}", 0, NULL);
    const char *vm_id = json_string_value(json_object_get(payload, "vm"));
    const char *principal = json_string_value(json_object_get(payload, "principal"));
    struct err_detail d = {{0}, {0}};
    struct store_vm vm = {0};
    char uid[64] = "";
    json_t *dir;
    char *text;

    if (vm_id == NULL || principal == NULL) {
        reconcile_failed(res, "signin facts: the task has no vm and principal");
        json_decref(payload);
        return;
    }
    if (env->cloud == NULL) {
        reconcile_again(res, MODEL_SIGNIN_FRESH_MS, "Azure is not configured");
        json_decref(payload);
        return;
    }
    if (store_vm_get(env->store, vm_id, &vm, &d) != ERR_OK)
        vm = (struct store_vm){0};
    dir = json_object();
    json_object_set_new(dir, "user", read_user(env, principal, uid, sizeof(uid)));
    json_object_set_new(dir, "devices", read_devices(env, vm.computer_name));
    json_object_set_new(dir, "policies", read_policies(env));
    json_object_set_new(dir, "signIns", read_signins(env, uid));
    store_vm_clear(&vm);
    text = json_dumps(dir, JSON_COMPACT);
    if (store_signin_facts_put(env->store, vm_id, principal, text, clock_now_ms(), &d) != ERR_OK)
        reconcile_again(res, 0, "recording signin facts: %s", d.msg);
    else
        reconcile_done(res);
    log_info("signin_facts_read", "vm=%s user=%s", vm_id, uid[0] ? uid : "-");
    free(text);
    json_decref(dir);
    json_decref(payload);
}
