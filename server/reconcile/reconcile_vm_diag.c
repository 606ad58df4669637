/* reconcile_vm_diag.c: POST /v1{vm}/diagnostics carried out: Run Command with the read-only
 * check script, polled through the task's op_url (one poll per run, so a restart resumes the
 * same command instead of starting another), then the output parsed and stored with the VM. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_onvm.h"
#include "vmlogind/reconcile_vm_diag.h"
#include "vmlogind/model_login.h"
#include "vmlogind/store.h"
#include "vmlogind/store_login.h"
#include "vmlogind/store_signin.h"

static void op_end(const struct reconcile_env *env, const char *op_id, const char *status,
                   const char *code, const char *msg)
{
    struct err_detail d = {{0}, {0}};
    json_t *steps = json_pack("[{s:s, s:s}]", "step", "runCommand", "status", status);
    char *text = json_dumps(steps, JSON_COMPACT);

    if (store_operation_update(env->store, op_id, status, text, code, msg, clock_now_ms(), &d) !=
        ERR_OK)
        log_warn("diagnostics_op_update_failed", "operation=%s error=\"%s\"", op_id, d.msg);
    free(text);
    json_decref(steps);
}

/* The local accounts the allow list governing the VM does not name, from what the script just
 * saw: one audit row (vm.localAccounts.unapproved) when there are any. Without an allow list
 * nothing is judged. */
static void audit_local_accounts(const struct reconcile_env *env, const char *vm_id,
                                 const json_t *parsed, const char *op_id)
{
    struct store_vm vm;
    struct model_scope sc;
    struct store_login_setting eff;
    struct model_login_spec spec = {0};
    char sub_key[MODEL_SCOPE_MAX], rg_key[MODEL_SCOPE_MAX];
    json_t *la = NULL;

    if (!model_login_scope_from_id(vm_id, &sc) ||
        store_vm_get(env->store, sc.key, &vm, NULL) != ERR_OK)
        return;
    model_login_scope_parent_keys(&sc, sub_key, rg_key);
    if (store_login_setting_effective(env->store, sc.key, rg_key, sub_key, &eff, NULL) == ERR_OK) {
        if (login_state_is(eff.desired, LOGIN_STATE_ENABLED) &&
            model_login_spec_from_text(eff.spec, &spec))
            la = model_localacct_check_json(parsed, vm.computer_name, &spec);
        if (la != NULL)
            json_object_set_new(la, "policyScope", json_string(eff.scope));
        store_login_setting_clear(&eff);
    }
    if (json_array_size(json_object_get(la, "unapproved")) > 0) {
        json_object_set_new(la, "operationId", json_string(op_id));
        if (reconcile_audit(env, "vm.localAccounts.unapproved", vm.id, "reported", la, NULL) !=
            ERR_OK)
            log_warn("local_accounts_audit_failed", "vm=%s", vm_id);
        la = NULL; /* reconcile_audit took it */
    }
    json_decref(la);
    model_login_spec_cleanup(&spec);
    store_vm_clear(&vm);
}

/* The command finished well: read its stdout, parse and store it. */
static void finish(const struct reconcile_env *env, const char *vm, const char *op_id,
                   const struct azure_lro *l, struct reconcile_result *res)
{
    struct azure_error ae;
    struct err_detail d = {{0}, {0}};
    char *out = NULL, *text;
    json_t *parsed;

    azure_error_clear(&ae);
    if (env->cloud->vm_run_command_output(env->cloud->ctx, l, &out, &ae) != ERR_OK) {
        op_end(env, op_id, "Failed", ae.code[0] ? ae.code : "RunCommandNoOutput",
               "Run Command answered without the script's output");
        reconcile_done(res);
        return;
    }
    parsed = model_onvm_parse(out, strlen(out));
    json_object_set_new(parsed, "operationId", json_string(op_id));
    text = json_dumps(parsed, JSON_COMPACT);
    if (store_vm_diagnostics_put(env->store, vm, text, clock_now_ms(), &d) != ERR_OK) {
        reconcile_again(res, 0, "storing diagnostics: %s", d.msg);
    } else {
        op_end(env, op_id, "Succeeded", NULL, NULL);
        log_info("vm_diagnostics_stored", "vm=%s operation=%s", vm, op_id);
        audit_local_accounts(env, vm, parsed, op_id);
        reconcile_done(res);
    }
    free(text);
    free(out);
    json_decref(parsed);
}

/* After begin or a poll: running (keep the op_url), failed, or finished. */
static void follow(const struct reconcile_env *env, const char *vm, const char *op_id,
                   struct azure_lro *l, struct reconcile_result *res)
{
    struct buf enc;

    if (l->state == AZURE_LRO_SUCCEEDED) {
        finish(env, vm, op_id, l, res);
        return;
    }
    if (l->state != AZURE_LRO_RUNNING) {
        op_end(env, op_id, "Failed", l->error.code[0] ? l->error.code : "RunCommandFailed",
               l->error.message[0] ? l->error.message : "Run Command failed");
        reconcile_done(res);
        return;
    }
    buf_init(&enc, sizeof(res->op_url) - 1);
    if (azure_lro_encode(l, &enc) == ERR_OK)
        snprintf(res->op_url, sizeof(res->op_url), "%s", enc.data);
    buf_cleanup(&enc);
    reconcile_again(res, env->cloud->lro_next_delay_ms(env->cloud->ctx, l), "%s", "");
}

void reconcile_vm_diagnostics(const struct reconcile_env *env, const struct store_task *task,
                              struct reconcile_result *res)
{
    json_t *p = json_loads(task->payload ? task->payload : "{}", 0, NULL);
    const char *vm = json_string_value(json_object_get(p, "vm"));
    const char *op_id = json_string_value(json_object_get(p, "operation"));
    struct azure_error ae;
    struct azure_lro l;
    json_t *input = NULL;
    char *body = NULL;
    enum err rc;

    azure_lro_init(&l);
    azure_error_clear(&ae);
    if (vm == NULL || op_id == NULL) {
        reconcile_failed(res, "diagnostics: the task has no vm and operation");
        goto out;
    }
    if (env->cloud == NULL) {
        reconcile_again(res, 60000, "Azure is not configured");
        goto out;
    }
    if (task->op_url != NULL && task->op_url[0] != '\0' &&
        azure_lro_decode(task->op_url, &l) == ERR_OK) {
        if (env->cloud->lro_poll(env->cloud->ctx, &l, &ae) != ERR_OK) {
            snprintf(res->op_url, sizeof(res->op_url), "%s", task->op_url);
            reconcile_again(res, env->cloud->lro_next_delay_ms(env->cloud->ctx, &l),
                            "polling %s: %s", vm, ae.code);
            goto out;
        }
        follow(env, vm, op_id, &l, res);
        goto out;
    }
    if (reconcile_audit(env, "vm.diagnostics.runCommand", vm, "requested",
                        json_pack("{s:s}", "operationId", op_id), NULL) != ERR_OK) {
        reconcile_again(res, 1000, "audit log unavailable: Run Command not attempted");
        goto out;
    }
    input = model_onvm_script(env->cfg != NULL ? env->cfg->cloud : NULL);
    body = json_dumps(input, JSON_COMPACT);
    rc = env->cloud->vm_run_command_begin(env->cloud->ctx, vm, body, &l, &ae);
    if (rc != ERR_OK) {
        /* refused outright (VM stopped, no permission, ...): the operation says why */
        op_end(env, op_id, "Failed", ae.code[0] ? ae.code : err_str(rc), ae.message);
        reconcile_done(res);
        goto out;
    }
    op_end(env, op_id, "Running", NULL, NULL);
    follow(env, vm, op_id, &l, res);
out:
    free(body);
    json_decref(input);
    azure_lro_cleanup(&l);
    json_decref(p);
}
