/* reconcile_stale.c: stale Entra devices of VMs gone from Azure (reconcile_stale.h): queued by
 * the sync, found through Graph, reported in the audit log, and with stale_devices = delete
 * deleted after the grace period, only those the report named. Graph calls go through the
 * cloud_ops seam (devices_by_name, device_delete). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/reconcile_stale.h"
#include "vmlogind/store.h"
#include "vmlogind/store_signin.h"
#include "vmlogind/xalloc.h"

#define STALE_PAGE 500
#define NO_AZURE_MS 60000

enum stale_policy reconcile_stale_policy(const char *word)
{
    if (word != NULL && strcmp(word, "report") == 0)
        return STALE_POLICY_REPORT;
    if (word != NULL && strcmp(word, "delete") == 0)
        return STALE_POLICY_DELETE;
    return STALE_POLICY_OFF;
}

bool reconcile_stale_is_candidate(const struct azure_device *d, const char *known_device_id,
                                  int64_t gone_at_ms)
{
    int64_t last = 0;

    if (d == NULL || d->id == NULL)
        return false;
    if (known_device_id != NULL && known_device_id[0] != '\0')
        return d->device_id != NULL && strcasecmp(d->device_id, known_device_id) == 0;
    /* a device that signed in after the VM went gone is in use by something else */
    if (d->approximate_last_sign_in != NULL &&
        clock_parse_rfc3339(d->approximate_last_sign_in, &last) && last > gone_at_ms)
        return false;
    return true;
}

static enum stale_policy policy_of(const struct reconcile_env *env)
{
    return reconcile_stale_policy(env->cfg != NULL ? env->cfg->stale_devices : NULL);
}

static enum err enqueue_one(const struct reconcile_env *env, const struct store_vm *v, int64_t now,
                            struct err_detail *d)
{
    json_t *p = json_pack("{s:s, s:s?, s:I}", "vm", v->id, "computerName", v->computer_name,
                          "goneAt", (json_int_t)v->gone_at);
    char *text = json_dumps(p, JSON_COMPACT);
    enum err rc = store_task_upsert(env->store, task_kind_str(TASK_KIND_STALE_DEVICE), v->id_key,
                                    now, text, now, d);

    free(text);
    json_decref(p);
    return rc;
}

enum err reconcile_stale_enqueue(const struct reconcile_env *env, const char *subscription_id,
                                 int64_t gone_at, struct err_detail *d)
{
    struct store_vm_filter f = {.subscription_id = subscription_id, .include_gone = true};
    char *after = NULL;
    enum err rc = ERR_OK;

    if (policy_of(env) == STALE_POLICY_OFF)
        return ERR_OK;
    do {
        struct store_vm *vms = NULL;
        size_t n = 0;
        char *next = NULL;
        rc = store_vm_list(env->store, &f, after, STALE_PAGE, &vms, &n, &next, d);
        for (size_t i = 0; rc == ERR_OK && i < n; i++) {
            if (vms[i].gone_at == gone_at)
                rc = enqueue_one(env, &vms[i], gone_at, d);
        }
        store_vm_list_free(vms, n);
        free(after);
        after = next;
    } while (rc == ERR_OK && after != NULL);
    free(after);
    return rc;
}

/* ---- the two tasks --------------------------------------------------------------------------- */

struct stale_run {
    const struct reconcile_env *env;
    json_t *payload;
    const char *vm;
    const char *computer_name;
    int64_t gone_at;
    char *device_id; /* from the VM's last diagnostics, NULL when none */
    struct azure_device *devs;
    size_t n_devs;
};

static void stale_run_cleanup(struct stale_run *r)
{
    json_decref(r->payload);
    free(r->device_id);
    azure_devices_free(r->devs, r->n_devs);
}

/* Reads the payload; false (and res set) when the task has nothing to do. */
static bool stale_run_begin(struct stale_run *r, const struct store_task *task,
                            struct reconcile_result *res)
{
    struct store_vm vm;
    char *text = NULL;
    int64_t at;

    r->payload = json_loads(task->payload ? task->payload : "{}", 0, NULL);
    r->vm = json_string_value(json_object_get(r->payload, "vm"));
    r->computer_name = json_string_value(json_object_get(r->payload, "computerName"));
    r->gone_at = (int64_t)json_integer_value(json_object_get(r->payload, "goneAt"));
    if (r->vm == NULL || r->computer_name == NULL || r->computer_name[0] == '\0') {
        reconcile_done(res); /* a VM whose hostname was never known has no device to find */
        return false;
    }
    if (store_vm_get(r->env->store, r->vm, &vm, NULL) == ERR_OK) {
        bool back = vm.gone_at == 0;
        store_vm_clear(&vm);
        if (back) {
            log_info("stale_device_vm_back", "vm=%s", r->vm);
            reconcile_done(res);
            return false;
        }
    }
    if (store_vm_diagnostics_get(r->env->store, r->vm, &text, &at, NULL) == ERR_OK) {
        json_t *j = text ? json_loads(text, 0, NULL) : NULL;
        const char *id =
            json_string_value(json_object_get(json_object_get(j, "dsregcmd"), "deviceId"));
        r->device_id = id ? xstrdup(id) : NULL;
        json_decref(j);
        free(text);
    }
    return true;
}

static bool look(struct stale_run *r, struct reconcile_result *res)
{
    struct azure_error ae;
    const struct cloud_ops *c = r->env->cloud;

    azure_error_clear(&ae);
    if (c->devices_by_name(c->ctx, r->computer_name, &r->devs, &r->n_devs, &ae) != ERR_OK) {
        reconcile_again(res, 0, "devices named %s: %s %s", r->computer_name, ae.code, ae.message);
        return false;
    }
    return true;
}

/* What both handlers do first: Azure must be configured, the task's payload read, and the
 * devices named like the gone VM listed. False when res says what happens instead. */
static bool stale_run_start(struct stale_run *r, const struct store_task *task,
                            struct reconcile_result *res)
{
    if (r->env->cloud == NULL) {
        reconcile_again(res, NO_AZURE_MS, "Azure is not configured");
        return false;
    }
    return stale_run_begin(r, task, res) && look(r, res);
}

static json_t *device_json(const struct azure_device *d)
{
    return json_pack("{s:s, s:s?, s:s?, s:s?}", "id", d->id, "deviceId", d->device_id,
                     "displayName", d->display_name, "approximateLastSignInDateTime",
                     d->approximate_last_sign_in);
}

void reconcile_stale_device(const struct reconcile_env *env, const struct store_task *task,
                            struct reconcile_result *res)
{
    struct stale_run r = {.env = env};
    enum stale_policy pol = policy_of(env);
    int64_t grace_ms = env->cfg != NULL ? env->cfg->stale_device_grace * 1000 : 86400000;
    json_t *found = json_array(), *ids = json_array(), *details;
    char ts[32];

    if (pol == STALE_POLICY_OFF) {
        reconcile_done(res);
        goto out;
    }
    if (!stale_run_start(&r, task, res))
        goto out;
    for (size_t i = 0; i < r.n_devs; i++) {
        if (!reconcile_stale_is_candidate(&r.devs[i], r.device_id, r.gone_at))
            continue;
        json_array_append_new(found, device_json(&r.devs[i]));
        json_array_append_new(ids, json_string(r.devs[i].id));
    }
    if (json_array_size(found) == 0) {
        log_info("stale_device_none", "vm=%s computer_name=%s", r.vm, r.computer_name);
        reconcile_done(res);
        goto out;
    }
    details = json_pack(
        "{s:s, s:s, s:s, s:O, s:s, s:b}", "vm", r.vm, "computerName", r.computer_name, "matchedBy",
        r.device_id ? "deviceId" : "displayName", "devices", found, "policy",
        pol == STALE_POLICY_DELETE ? "delete" : "report", "dryRun", pol == STALE_POLICY_DELETE);
    if (pol == STALE_POLICY_DELETE)
        json_object_set_new(details, "deleteAfter",
                            json_string(clock_fmt_rfc3339(r.gone_at + grace_ms, ts, sizeof(ts))));
    if (reconcile_audit(env, "device.stale", r.vm, "reported", details, NULL) != ERR_OK) {
        reconcile_again(res, 1000, "audit log unavailable: stale device not reported");
        goto out;
    }
    if (pol == STALE_POLICY_DELETE) {
        json_t *p = json_pack("{s:s, s:s, s:I, s:O}", "vm", r.vm, "computerName", r.computer_name,
                              "goneAt", (json_int_t)r.gone_at, "devices", ids);
        char *text = json_dumps(p, JSON_COMPACT);
        struct err_detail d = {{0}, {0}};
        int64_t now = clock_now_ms();
        int64_t due = r.gone_at + grace_ms > now ? r.gone_at + grace_ms : now;
        if (store_task_upsert(env->store, task_kind_str(TASK_KIND_STALE_DEVICE_DELETE), task->key,
                              due, text, now, &d) != ERR_OK)
            log_warn("stale_device_schedule_failed", "vm=%s error=\"%s\"", r.vm, d.msg);
        free(text);
        json_decref(p);
    }
    reconcile_done(res);
out:
    json_decref(found);
    json_decref(ids);
    stale_run_cleanup(&r);
}

static bool reported(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;

    json_array_foreach(ids, i, v)
    {
        if (json_string_value(v) != NULL && strcasecmp(json_string_value(v), id) == 0)
            return true;
    }
    return false;
}

/* Deletes one reported device: "requested" before, the outcome after. False: try again. */
static bool delete_one(struct stale_run *r, const struct azure_device *dv,
                       struct reconcile_result *res)
{
    const struct cloud_ops *c = r->env->cloud;
    struct azure_error ae;
    bool existed = false;
    enum err rc;

    if (reconcile_audit(r->env, "device.delete", r->vm, "requested", device_json(dv), NULL) !=
        ERR_OK) {
        reconcile_again(res, 1000, "audit log unavailable: stale device not deleted");
        return false;
    }
    azure_error_clear(&ae);
    rc = c->device_delete(c->ctx, dv->id, &existed, &ae);
    if (rc != ERR_OK) {
        json_t *det = device_json(dv);
        json_object_set_new(det, "error", json_string(ae.code[0] ? ae.code : err_str(rc)));
        if (reconcile_audit(r->env, "device.delete", r->vm, "failed", det, NULL) != ERR_OK)
            log_warn("stale_device_audit_failed", "vm=%s device=%s", r->vm, dv->id);
        reconcile_again(res, 0, "deleting device %s: %s %s", dv->id, ae.code, ae.message);
        return false;
    }
    if (reconcile_audit(r->env, "device.delete", r->vm, existed ? "deleted" : "alreadyGone",
                        device_json(dv), NULL) != ERR_OK)
        log_warn("stale_device_audit_failed", "vm=%s device=%s", r->vm, dv->id);
    log_info("stale_device_deleted", "vm=%s device=%s", r->vm, dv->id);
    return true;
}

void reconcile_stale_device_delete(const struct reconcile_env *env, const struct store_task *task,
                                   struct reconcile_result *res)
{
    struct stale_run r = {.env = env};
    const json_t *ids;

    if (policy_of(env) != STALE_POLICY_DELETE) {
        reconcile_done(res); /* the policy changed since the report: delete nothing */
        goto out;
    }
    if (!stale_run_start(&r, task, res))
        goto out;
    ids = json_object_get(r.payload, "devices");
    for (size_t i = 0; i < r.n_devs; i++) {
        /* only what the dry run named, and only while it still looks like the gone VM's */
        if (!reported(ids, r.devs[i].id) ||
            !reconcile_stale_is_candidate(&r.devs[i], r.device_id, r.gone_at))
            continue;
        if (!delete_one(&r, &r.devs[i], res))
            goto out;
    }
    reconcile_done(res);
out:
    stale_run_cleanup(&r);
}
