/* reconcile_login.c: applies Entra login. "scope_login" expands a login setting to the VMs the
 * inventory holds under its scope (again every login_recheck_s, so VMs that appear later are
 * covered and drift found by the sync is acted on); "vm_login" takes one VM one step further
 * per run: look (GET with instance view, Graph device and service-principal lookups, preflight),
 * ask reconcile_login_plan() for the next step, apply it (identity PATCH, extension PUT or
 * DELETE: each a long-running operation whose state is kept in the task's op_url, so polls are
 * reschedules and a restart resumes) and record the VM's row, its operation item and the audit
 * trail. "login_preflight" only looks. The task key is the VM, so the lease guarantees one
 * mutating operation per VM at a time. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/model_permissions.h"
#include "vmlogind/reconcile_login.h"
#include "vmlogind/reconcile_permissions.h"
#include "vmlogind/reconcile_sync.h"
#include "vmlogind/store_login.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define WAIT_SYNC_MS 2000 /* the VM is not in the inventory yet */
/* A scope's first expansion waits for a sync begun after the request: looked at often, since
 * the rollout's first writes wait on it (a store read each time) */
#define WAIT_FIRST_SYNC_MS 250
/* How long a rollout about to start keeps the subscription's write tokens from writes that
 * can wait, each time it is looked at (it is looked at again well within it) */
#define EXPECT_WRITES_MS 10000
#define WAIT_BUSY_MS 5000 /* another operation runs on the VM */
#define NO_AZURE_MS 60000 /* Azure is not configured */
#define DOMAIN_JOIN_PUBLISHER "Microsoft.Compute"
#define DOMAIN_JOIN_TYPE "JsonADDomainExtension"

/* What one look at a VM found. */
struct look {
    struct azure_vm vm;
    const struct azure_extension *aad; /* matched by publisher + type, never by name */
    const struct azure_extension *dj;
    struct model_os_verdict os;
    enum model_os_edition edition;
    enum model_tri device_dup;
    enum model_tri sp;
    bool has_diag;
    struct model_diagnosis diag;
    struct model_preflight pf;
    char *pf_json;
};

static void look_cleanup(struct look *l)
{
    azure_vm_cleanup(&l->vm);
    free(l->pf_json);
}

static bool ieq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

static int64_t recheck_ms(const struct reconcile_env *env)
{
    return env->cfg ? env->cfg->login_recheck_s * 1000 : 120000;
}

static const char *cloud_name(const struct reconcile_env *env)
{
    return env->cfg ? env->cfg->cloud : "AzureCloud";
}

/* What a look asks Graph: nothing, or the device and service principal lookups, creating the
 * missing service principal only on the way to a change (never in audit mode or preflight). */
enum graph_look { GRAPH_NONE = 0, GRAPH_LOOK, GRAPH_LOOK_AND_CREATE };

/* The sign-in app's service principal is one fact of the tenant, not of a VM: looked up once
 * per sync (reconcile_sync_generation), by one worker while the others wait for its answer, so
 * a pass over a thousand VMs asks Graph once. Found or not found is kept until the next sync
 * starts; an error is not kept, and not found is looked at again on the way to creating it. */
static struct {
    pthread_mutex_t mu;
    int64_t gen; /* the sync generation sp was found in, -1 none */
    enum model_tri sp;
} signin_sp = {.mu = PTHREAD_MUTEX_INITIALIZER, .gen = -1};

static enum model_tri signin_sp_lookup(const struct reconcile_env *env, enum graph_look g)
{
    struct azure_service_principal sp = {0};
    struct azure_error ae;
    enum err rc;

    azure_error_clear(&ae);
    rc = env->cloud->sp_by_app_id(env->cloud->ctx, AZURE_APP_WINDOWS_VM_SIGNIN, &sp, &ae);
    if (rc == ERR_NOT_FOUND && g == GRAPH_LOOK_AND_CREATE && env->cfg != NULL &&
        env->cfg->create_signin_sp) {
        bool existed = false;
        azure_service_principal_cleanup(&sp);
        azure_error_clear(&ae);
        if (reconcile_audit(env, "servicePrincipal.create", AZURE_APP_WINDOWS_VM_SIGNIN,
                            "requested", NULL, NULL) == ERR_OK)
            rc = env->cloud->sp_create(env->cloud->ctx, AZURE_APP_WINDOWS_VM_SIGNIN, &sp, &existed,
                                       &ae);
        if (rc == ERR_OK)
            log_info("login_signin_sp_created", "existed=%d", existed ? 1 : 0);
    }
    azure_service_principal_cleanup(&sp);
    return rc == ERR_OK ? MODEL_TRI_YES : rc == ERR_NOT_FOUND ? MODEL_TRI_NO : MODEL_TRI_UNKNOWN;
}

static enum model_tri signin_sp_known(const struct reconcile_env *env, enum graph_look g)
{
    int64_t gen = reconcile_sync_generation();
    bool creating = g == GRAPH_LOOK_AND_CREATE && env->cfg != NULL && env->cfg->create_signin_sp;
    enum model_tri sp;

    pthread_mutex_lock(&signin_sp.mu);
    if (signin_sp.gen == gen && (signin_sp.sp == MODEL_TRI_YES || !creating)) {
        sp = signin_sp.sp;
    } else {
        sp = signin_sp_lookup(env, g);
        signin_sp.gen = sp != MODEL_TRI_UNKNOWN ? gen : -1;
        signin_sp.sp = sp;
    }
    pthread_mutex_unlock(&signin_sp.mu);
    return sp;
}

/* Graph: is there an Entra device named like the VM's hostname; is the sign-in app's service
 * principal there (created when create_signin_sp says so). Errors leave UNKNOWN. */
static void look_graph(const struct reconcile_env *env, enum graph_look g, struct look *l)
{
    struct azure_device *devs = NULL;
    size_t n = 0;
    struct azure_error ae;
    enum err rc;

    if (l->vm.computer_name != NULL && l->vm.computer_name[0] != '\0') {
        azure_error_clear(&ae);
        rc = env->cloud->devices_by_name(env->cloud->ctx, l->vm.computer_name, &devs, &n, &ae);
        if (rc == ERR_OK)
            l->device_dup = n > 0 ? MODEL_TRI_YES : MODEL_TRI_NO;
        else
            log_warn("login_device_lookup_failed", "vm=%s code=%s", l->vm.id, ae.code);
        azure_devices_free(devs, n);
    }
    l->sp = signin_sp_known(env, g);
}

static void look_diagnose(const struct reconcile_env *env, const struct azure_error *lro_err,
                          struct look *l)
{
    const struct azure_status *st = NULL;
    struct model_failure f = {.cloud = cloud_name(env)};

    if (l->aad == NULL ||
        !model_provisioning_is(l->aad->provisioning_state, OPERATION_STATUS_FAILED))
        return;
    for (size_t i = 0; i < l->aad->n_statuses && st == NULL; i++)
        if (ieq(l->aad->statuses[i].level, "Error"))
            st = &l->aad->statuses[i];
    if (st == NULL && l->aad->n_statuses > 0)
        st = &l->aad->statuses[0];
    f.status_code = st ? st->code : NULL;
    f.status_message = st ? st->message : NULL;
    if (lro_err != NULL && lro_err->code[0] != '\0') {
        f.op_error_code = lro_err->code;
        f.op_error_message = lro_err->message;
    }
    model_diagnose(&f, &l->diag);
    l->has_diag = true;
}

/* GET the VM with its instance view and judge it; graph: also the Graph lookups. */
static enum err look_at(const struct reconcile_env *env, const char *vm_id, enum graph_look graph,
                        bool own_device, const struct azure_error *lro_err, struct look *l,
                        struct azure_error *ae)
{
    struct model_os_facts of;
    struct model_preflight_facts pf;
    json_t *j;
    enum err rc = env->cloud->vm_get(env->cloud->ctx, vm_id, true, &l->vm, ae);

    if (rc != ERR_OK)
        return rc;
    l->aad = azure_extension_find(l->vm.extensions, l->vm.n_extensions, MODEL_AADLOGIN_PUBLISHER,
                                  MODEL_AADLOGIN_TYPE);
    l->dj = azure_extension_find(l->vm.extensions, l->vm.n_extensions, DOMAIN_JOIN_PUBLISHER,
                                 DOMAIN_JOIN_TYPE);
    of = (struct model_os_facts){
        .os_type = l->vm.os_type,
        .image_publisher = l->vm.image_publisher,
        .image_offer = l->vm.image_offer,
        .image_sku = l->vm.image_sku,
        .image_id = l->vm.image_id,
        .os_name = l->vm.os_name,
        .os_version = l->vm.os_version,
    };
    model_os_support(&of, &l->os);
    l->edition = model_os_edition(&of);
    if (graph != GRAPH_NONE)
        look_graph(env, graph, l);
    look_diagnose(env, lro_err, l);
    pf = (struct model_preflight_facts){
        .os = &l->os,
        .power_state = l->vm.power_state,
        .vm_name = l->vm.name,
        .computer_name = l->vm.computer_name,
        .system_identity = azure_vm_has_system_identity(&l->vm) ? MODEL_TRI_YES : MODEL_TRI_NO,
        .n_user_assigned = l->vm.n_user_assigned,
        .device_duplicate = l->device_dup,
        .own_device = own_device,
        .signin_sp = l->sp,
        .create_signin_sp = env->cfg != NULL && env->cfg->create_signin_sp,
        .domain_joined = l->dj ? MODEL_TRI_YES : MODEL_TRI_NO,
        .cloud = cloud_name(env),
    };
    model_preflight_run(&pf, &l->pf);
    j = model_preflight_to_json(&l->pf);
    l->pf_json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return ERR_OK;
}

/* ---- the operation: items and roll-up ------------------------------------------------------- */

static bool op_terminal(const char *status)
{
    enum operation_status s;

    return operation_status_parse(status, &s) && operation_status_is_terminal(s);
}

/* Recomputes the operation's status from its items (inside the caller's transaction). */
static enum err rollup(struct store *st, const char *op_id, int64_t now, struct err_detail *d)
{
    struct store_operation op;
    struct store_operation_item *items = NULL;
    size_t n = 0;
    const char **sts = NULL;
    const char *status;
    const char *code = NULL;
    const char *msg = NULL;
    enum err rc = store_operation_get(st, op_id, &op, d);

    if (rc != ERR_OK)
        return rc == ERR_NOT_FOUND ? ERR_OK : rc;
    if (operation_status_is(op.status, OPERATION_STATUS_NOT_STARTED) || op_terminal(op.status))
        goto out;
    rc = store_operation_items_list(st, op_id, &items, &n, d);
    if (rc != ERR_OK)
        goto out;
    sts = xcalloc(n + 1, sizeof(*sts));
    for (size_t i = 0; i < n; i++) {
        sts[i] = items[i].status;
        if (operation_status_is(items[i].status, OPERATION_STATUS_FAILED) && code == NULL) {
            code = items[i].error_code;
            msg = items[i].error_message;
        }
    }
    status = reconcile_login_rollup(sts, n);
    if (strcmp(status, op.status) != 0)
        rc = store_operation_update(st, op_id, status, NULL, code, msg, now, d);
out:
    free(sts);
    store_operation_items_free(items, n);
    store_operation_clear(&op);
    return rc;
}

static enum err item_set(struct store *st, const char *op_id, const char *vm_id, const char *status,
                         const char *step, const char *code, const char *msg,
                         const struct store_call_ids *ids, int64_t now, struct err_detail *d)
{
    struct store_operation op;
    enum err rc;

    if (op_id == NULL || status == NULL)
        return ERR_OK;
    rc = store_operation_get(st, op_id, &op, d);
    if (rc != ERR_OK || op_terminal(op.status)) {
        store_operation_clear(&op);
        return rc == ERR_NOT_FOUND ? ERR_OK : rc;
    }
    store_operation_clear(&op);
    rc = store_operation_item_add(st, op_id, vm_id, now, d);
    if (rc == ERR_OK)
        rc = store_operation_item_set(st, op_id, vm_id, status, step, code, msg, ids, now, d);
    if (rc == ERR_OK)
        rc = rollup(st, op_id, now, d);
    return rc;
}

/* ---- one VM --------------------------------------------------------------------------------- */

struct vm_run {
    const struct reconcile_env *env;
    const struct store_task *task;
    struct model_scope scope;
    char *op_id; /* from the task payload; NULL when no operation follows this VM */
    struct store_login_setting setting;
    bool has_setting;
    struct model_login_spec spec;
    struct store_vm_login prior;
    bool has_prior;
    struct azure_error lro_err; /* the error of a resumed operation that failed */
    struct look look;
    char fingerprint[600];
    const char *denial_msg;    /* a held refusal's diagnosis, recorded instead of the cause's */
    struct store_call_ids ids; /* of this run's change or refused call, for the item's step */
};

static char *payload_op(const char *payload)
{
    json_t *j = payload ? json_loads(payload, 0, NULL) : NULL;
    const char *s = json_string_value(json_object_get(j, "operationId"));
    char *out = s ? xstrdup(s) : NULL;

    json_decref(j);
    return out;
}

static void vm_run_cleanup(struct vm_run *r)
{
    free(r->op_id);
    store_login_setting_clear(&r->setting);
    model_login_spec_cleanup(&r->spec);
    store_vm_login_clear(&r->prior);
    look_cleanup(&r->look);
}

/* Polls a stored operation once. true: the handler is finished for this run (res is set). */
static bool resume(struct vm_run *r, struct reconcile_result *res)
{
    const struct reconcile_env *env = r->env;
    struct azure_lro l;
    struct azure_error ae;
    enum err rc;

    azure_lro_init(&l);
    azure_error_clear(&ae);
    if (azure_lro_decode(r->task->op_url, &l) != ERR_OK) {
        azure_lro_cleanup(&l);
        return false; /* unreadable: look at the VM afresh */
    }
    rc = env->cloud->lro_poll(env->cloud->ctx, &l, &ae);
    if (rc != ERR_OK) {
        snprintf(res->op_url, sizeof(res->op_url), "%s", r->task->op_url);
        reconcile_again(res, env->cloud->lro_next_delay_ms(env->cloud->ctx, &l),
                        "polling %s: %s %s", r->scope.arm, ae.code, ae.message);
        azure_lro_cleanup(&l);
        return true;
    }
    if (l.state == AZURE_LRO_RUNNING) {
        snprintf(res->op_url, sizeof(res->op_url), "%s", r->task->op_url);
        reconcile_again(res, env->cloud->lro_next_delay_ms(env->cloud->ctx, &l), "%s", "");
        azure_lro_cleanup(&l);
        return true;
    }
    if (l.state == AZURE_LRO_FAILED || l.state == AZURE_LRO_CANCELED)
        r->lro_err = l.error;
    azure_lro_cleanup(&l);
    return false;
}

static void make_fingerprint(struct vm_run *r)
{
    const struct azure_vm *vm = &r->look.vm;

    snprintf(r->fingerprint, sizeof(r->fingerprint), "g=%lld|os=%.60s|host=%.64s|dev=%d|dj=%d",
             (long long)r->setting.generation, vm->os_version ? vm->os_version : "",
             vm->computer_name ? vm->computer_name : "", (int)r->look.device_dup,
             r->look.dj != NULL);
}

static bool prior_was_enabled(const struct vm_run *r)
{
    return r->has_prior && (login_state_is(r->prior.state, LOGIN_STATE_ENABLED) ||
                            login_state_is(r->prior.state, LOGIN_STATE_DRIFTED));
}

/* The Graph lookups matter before the first change; a VM on its way or enabled passed them. */
static enum graph_look wants_graph(const struct vm_run *r)
{
    const char *st = r->has_prior ? r->prior.state : NULL;

    if (!r->has_setting || !login_state_is(r->setting.desired, LOGIN_STATE_ENABLED))
        return GRAPH_NONE;
    if ((login_state_is(st, LOGIN_STATE_APPLYING) || login_state_is(st, LOGIN_STATE_ENABLED)) &&
        r->prior.cause_code == NULL)
        return GRAPH_NONE;
    return r->spec.mode == MODEL_LOGIN_ENFORCE ? GRAPH_LOOK_AND_CREATE : GRAPH_LOOK;
}

static void plan_inputs(struct vm_run *r, struct login_plan_in *in)
{
    const struct look *l = &r->look;
    const char *ps = l->vm.provisioning_state;
    bool prior_failed = r->has_prior && login_state_is(r->prior.state, LOGIN_STATE_FAILED);
    struct model_diagnosis pd = {0};

    if (prior_failed)
        model_diagnose_cause(r->prior.cause_code, cloud_name(r->env), &pd);
    *in = (struct login_plan_in){
        .desired = !r->has_setting ? LOGIN_DESIRED_NONE
                   : login_state_is(r->setting.desired, LOGIN_STATE_ENABLED)
                       ? LOGIN_DESIRED_ENABLED
                       : LOGIN_DESIRED_DISABLED,
        .mode = r->spec.mode,
        .explicit_vm = r->has_setting && strcmp(r->setting.scope_kind, "vm") == 0,
        .os = l->os.support,
        .running = model_power_running(l->vm.power_state),
        .vm_busy = ieq(ps, "Creating") || ieq(ps, "Updating") || ieq(ps, "Deleting"),
        .has_system_identity = azure_vm_has_system_identity(&l->vm),
        .has_ext = l->aad != NULL,
        .ext_state = l->aad ? l->aad->provisioning_state : NULL,
        .ext_version = l->aad ? l->aad->type_handler_version : NULL,
        .ext_failure = l->has_diag ? &l->diag : NULL,
        .domain_joined = l->dj != NULL,
        .device_duplicate = l->device_dup,
        .was_enabled = prior_was_enabled(r),
        .prior_failed = prior_failed,
        .prior_retryable = pd.retryable,
        .prior_cause = r->prior.cause_code,
        .facts_unchanged =
            r->prior.fingerprint && strcmp(r->prior.fingerprint, r->fingerprint) == 0,
        .failures = r->prior.failures,
        .max_failures = r->env->cfg ? (int)r->env->cfg->login_max_attempts : 5,
        .want_version = r->spec.extension_version,
        .mdm = r->spec.mdm,
        .edition = l->edition,
        .ext_mdm_id = l->aad ? l->aad->mdm_id : NULL,
    };
}

/* Tags live in the store's VM row (JSON text); exclusion is judged on them. */
static bool vm_excluded(struct vm_run *r)
{
    struct store_vm v;
    bool ex = false;

    if (!r->has_setting || r->spec.n_exclude == 0)
        return false;
    if (store_vm_get(r->env->store, r->scope.key, &v, NULL) == ERR_OK)
        ex = model_login_excluded(&r->spec, v.tags);
    store_vm_clear(&v);
    return ex;
}

/* Writes the VM's row, its operation item and, for changes and outcomes, an audit row. */
/* What the recorded failure says: a held refusal's diagnosis (this run's, or the prior one
 * for the same cause), else the meaning of the cause (the extension's own when it matches).
 * Borrowed from r or dg. */
static const char *cause_message(struct vm_run *r, const struct login_plan_out *p,
                                 struct model_diagnosis *dg)
{
    const struct look *l = &r->look;

    model_diagnose_cause(p->cause, cloud_name(r->env), dg);
    if (l->has_diag && strcmp(l->diag.cause, p->cause) == 0)
        *dg = l->diag;
    if (r->denial_msg == NULL && r->has_prior && r->prior.cause_code != NULL &&
        r->prior.cause_message != NULL && strcmp(r->prior.cause_code, p->cause) == 0 &&
        model_denial_cause(p->cause))
        r->denial_msg = r->prior.cause_message; /* held: keep the diagnosis */
    return r->denial_msg != NULL ? r->denial_msg : dg->meaning;
}

static enum err record(struct vm_run *r, const struct login_plan_out *p, const char *audit_action,
                       const char *audit_outcome, int failures)
{
    struct store *st = r->env->store;
    const struct look *l = &r->look;
    int64_t now = clock_now_ms();
    struct err_detail d = {0};
    struct model_diagnosis dg = {0};
    bool failed = p->cause[0] != '\0';
    const char *item_code = failed ? p->cause : p->note[0] ? "note" : NULL;
    char item_msg[1536] = "";
    struct store_vm_login row = {
        .vm_key = r->scope.key,
        .setting_key = r->has_setting ? r->setting.scope_key : NULL,
        .state = (char *)p->state,
        .step = (char *)p->step,
        .operation_id = r->op_id,
        .preflight = l->pf_json,
        .preflight_at = l->pf_json ? now : 0,
        .ext_name = l->aad ? l->aad->name : NULL,
        .ext_state = l->aad ? l->aad->provisioning_state : NULL,
        .ext_version = l->aad ? l->aad->type_handler_version : NULL,
        .has_identity = azure_vm_has_system_identity(&l->vm),
        .failures = failures,
        .fingerprint = r->fingerprint,
        .checked_at = now,
    };
    enum err rc;

    if (failed) {
        row.cause_code = (char *)p->cause;
        row.cause_message = (char *)cause_message(r, p, &dg);
        snprintf(item_msg, sizeof(item_msg), "%s", row.cause_message);
    } else if (p->note[0] != '\0') {
        snprintf(item_msg, sizeof(item_msg), "%s", p->note);
    }
    rc = store_tx_begin(st, &d);
    if (rc != ERR_OK)
        return rc;
    rc = store_vm_login_put(st, &row, now, &d);
    if (rc == ERR_OK)
        rc = item_set(st, r->op_id, l->vm.id ? l->vm.id : r->scope.arm, p->item_status, p->step,
                      item_code, item_msg[0] ? item_msg : NULL, &r->ids, now, &d);
    if (rc == ERR_OK && audit_action != NULL)
        rc =
            reconcile_audit(r->env, audit_action, l->vm.id ? l->vm.id : r->scope.arm, audit_outcome,
                            json_pack("{s:s, s:s, s:s?, s:s?}", "state", p->state, "step", p->step,
                                      "cause", failed ? p->cause : NULL, "operationId", r->op_id),
                            &d);
    if (rc != ERR_OK) {
        store_tx_rollback(st);
        log_warn("login_record_failed", "vm=%s error=\"%s\"", r->scope.arm, d.msg);
        return rc;
    }
    return store_tx_commit(st, &d);
}

/* Keeps the ids of the call ae answered, for the operation item's step (a support case). */
static void call_ids(struct vm_run *r, const struct azure_error *ae)
{
    snprintf(r->ids.client_request_id, sizeof(r->ids.client_request_id), "%s",
             ae->client_request_id);
    snprintf(r->ids.azure_request_id, sizeof(r->ids.azure_request_id), "%s", ae->request_id);
}

/* A refusal a person must fix (403 AuthorizationFailed, a policy deny, a lock): the step ends
 * failed with the diagnosis and is held, not retried, until the setting is applied again (its
 * generation is in the fingerprint). False when ae is something else. */
static bool held_refusal(struct vm_run *r, const char *step, const struct azure_error *ae,
                         struct reconcile_result *res)
{
    struct model_denial dn;
    struct login_plan_out f = {0};

    if (!model_denial_diagnose(ae->status, ae->code, ae->message, ae->policy_assignment, NULL, &dn))
        return false;
    model_denial_add_ids(&dn, ae->client_request_id, ae->request_id);
    call_ids(r, ae);
    f.action = LOGIN_ACT_FAIL;
    f.state = login_state_str(LOGIN_STATE_FAILED);
    f.step = step;
    f.item_status = operation_status_str(OPERATION_STATUS_FAILED);
    snprintf(f.cause, sizeof(f.cause), "%s", dn.cause);
    r->denial_msg = dn.message;
    if (strcmp(dn.cause, MODEL_CAUSE_AUTHORIZATION) == 0 &&
        reconcile_permissions_schedule(r->env->store, clock_now_ms(), NULL) != ERR_OK)
        log_warn("permissions_schedule_failed", "vm=%s", r->scope.arm);
    log_warn("login_refused",
             "vm=%s step=%s code=%s client_request_id=%s request_id=%s diagnosis=\"%s\"",
             r->scope.arm, step, ae->code, ae->client_request_id, ae->request_id, dn.message);
    if (record(r, &f, "entraLogin.failed", "failed", r->prior.failures + 1) != ERR_OK)
        reconcile_again(res, 0, "recording %s", r->scope.arm);
    else
        reconcile_failed(res, "%s: %s: %s", r->scope.arm, dn.cause, dn.message);
    r->denial_msg = NULL;
    return true;
}

static void arm_error_again(struct vm_run *r, struct reconcile_result *res,
                            const struct azure_error *ae, const char *what)
{
    int64_t delay = 0; /* backoff by attempts */

    if (ae->retry_after_ms > 0)
        delay = ae->retry_after_ms;
    else if (ae->status == 409)
        delay = WAIT_BUSY_MS; /* busy, not running, or a failed extension: look again soon */
    reconcile_again(res, delay, "%s %s: %s %s (client request id %s, Azure request id %s)", what,
                    r->scope.arm, ae->code, ae->message, ae->client_request_id, ae->request_id);
}

/* The call in Azure behind a planned change (identity, extension PUT or DELETE). */
static enum err start_change(struct vm_run *r, const struct login_plan_out *p,
                             struct azure_lro *lro, bool *skipped, struct azure_error *ae)
{
    const struct reconcile_env *env = r->env;
    const struct look *l = &r->look;
    char tag[UUID_STR_LEN];
    char settings[80];

    if (p->action == LOGIN_ACT_IDENTITY)
        return env->cloud->vm_enable_system_identity(env->cloud->ctx, l->vm.id, &l->vm, lro,
                                                     skipped, ae);
    if (p->action == LOGIN_ACT_PUT_EXT) {
        struct azure_extension_spec spec = {
            .name = l->aad ? l->aad->name : MODEL_AADLOGIN_TYPE,
            .location = l->vm.location,
            .publisher = MODEL_AADLOGIN_PUBLISHER,
            .type = MODEL_AADLOGIN_TYPE,
            .type_handler_version = p->version,
            .auto_upgrade_minor_version = true,
        };
        if (p->force_update) {
            uuid_v4(tag);
            spec.force_update_tag = tag;
        }
        if (p->mdm_id[0] != '\0') {
            /* MDM autoenrollment (model_login.h): the extension's public settings */
            snprintf(settings, sizeof(settings), "{\"mdmId\":\"%s\"}", p->mdm_id);
            spec.settings_json = settings;
        }
        return env->cloud->extension_put(env->cloud->ctx, l->vm.id, &spec, lro, ae);
    }
    return env->cloud->extension_delete(env->cloud->ctx, l->vm.id,
                                        l->aad ? l->aad->name : MODEL_AADLOGIN_TYPE, lro, ae);
}

/* Starts a change; on success the task keeps the operation's state to poll. */
static void apply_change(struct vm_run *r, const struct login_plan_out *p,
                         struct reconcile_result *res)
{
    const struct reconcile_env *env = r->env;
    const struct look *l = &r->look;
    struct azure_lro lro;
    struct azure_error ae;
    struct buf enc;
    bool skipped = false;
    enum err rc = ERR_OK;
    const char *action = p->action == LOGIN_ACT_IDENTITY  ? "entraLogin.identity"
                         : p->action == LOGIN_ACT_PUT_EXT ? "entraLogin.installExtension"
                                                          : "entraLogin.removeExtension";

    azure_lro_init(&lro);
    azure_error_clear(&ae);
    buf_init(&enc, sizeof(res->op_url) - 1);
    if (reconcile_audit(env, action, l->vm.id ? l->vm.id : r->scope.arm, "requested",
                        json_pack("{s:s?}", "operationId", r->op_id), NULL) != ERR_OK) {
        /* no audit row, no change */
        reconcile_again(res, WAIT_BUSY_MS, "audit log unavailable: %s not attempted", action);
        goto out;
    }
    rc = start_change(r, p, &lro, &skipped, &ae);
    if (rc != ERR_OK) {
        if (!held_refusal(r, p->step, &ae, res))
            arm_error_again(r, res, &ae, reconcile_login_action_str(p->action));
        goto out;
    }
    if (!skipped)
        call_ids(r, &ae);
    if (record(r, p, skipped ? NULL : action, "started",
               p->count_failure ? r->prior.failures + 1 : r->prior.failures) != ERR_OK) {
        /* the change is under way; the next run finds it in Azure and records then */
        reconcile_again(res, WAIT_BUSY_MS, "recording %s", r->scope.arm);
        goto out;
    }
    if (lro.state != AZURE_LRO_RUNNING || azure_lro_encode(&lro, &enc) != ERR_OK) {
        reconcile_again(res, 1, "%s", ""); /* done at once: plan the next step now */
        goto out;
    }
    /* kept now, so a crash right after this resumes polling instead of starting again */
    if (reconcile_renew(env, r->task, enc.data) != ERR_OK)
        log_warn("login_renew_failed", "vm=%s", r->scope.arm);
    snprintf(res->op_url, sizeof(res->op_url), "%s", enc.data);
    reconcile_again(res, env->cloud->lro_next_delay_ms(env->cloud->ctx, &lro), "%s", "");
out:
    buf_cleanup(&enc);
    azure_lro_cleanup(&lro);
}

static void apply(struct vm_run *r, const struct login_plan_out *p, struct reconcile_result *res)
{
    int failures = r->prior.failures;
    const char *outcome = NULL;
    const char *action = NULL;

    if (p->action == LOGIN_ACT_IDENTITY || p->action == LOGIN_ACT_PUT_EXT ||
        p->action == LOGIN_ACT_DELETE_EXT) {
        apply_change(r, p, res);
        return;
    }
    if (login_state_is(p->state, LOGIN_STATE_ENABLED) ||
        login_state_is(p->state, LOGIN_STATE_DISABLED))
        failures = 0;
    if (p->action == LOGIN_ACT_NONE && r->has_prior && r->prior.state &&
        strcmp(r->prior.state, p->state) != 0 &&
        (login_state_is(p->state, LOGIN_STATE_ENABLED) ||
         login_state_is(p->state, LOGIN_STATE_DISABLED))) {
        action = login_state_is(p->state, LOGIN_STATE_ENABLED) ? "entraLogin.enabled"
                                                               : "entraLogin.disabled";
        outcome = "succeeded";
    } else if (p->action == LOGIN_ACT_FAIL &&
               !(r->has_prior && r->prior.state && strcmp(r->prior.state, p->state) == 0 &&
                 r->prior.cause_code && strcmp(r->prior.cause_code, p->cause) == 0)) {
        action = "entraLogin.failed";
        outcome = "failed";
    } else if (p->action == LOGIN_ACT_REPORT &&
               !(r->has_prior && login_state_is(r->prior.state, LOGIN_STATE_DRIFTED))) {
        action = "entraLogin.drift";
        outcome = "failed";
    }
    if (record(r, p, action, outcome, failures) != ERR_OK) {
        reconcile_again(res, 0, "recording %s", r->scope.arm);
        return;
    }
    switch (p->action) {
    case LOGIN_ACT_WAIT:
        reconcile_again(res,
                        strcmp(p->step, "waitForStart") == 0 ? recheck_ms(r->env) : WAIT_BUSY_MS,
                        "%s", "");
        break;
    case LOGIN_ACT_FAIL:
        reconcile_failed(res, "%s: %s", r->scope.arm, p->cause);
        break;
    default:
        reconcile_done(res);
        break;
    }
}

static bool load_desired(struct vm_run *r, struct reconcile_result *res)
{
    struct store *st = r->env->store;
    char rg_key[MODEL_SCOPE_MAX];
    char sub_key[MODEL_SCOPE_MAX];
    struct err_detail d = {0};
    enum err rc;

    model_login_scope_parent_keys(&r->scope, sub_key, rg_key);
    rc = store_login_setting_effective(st, r->scope.key, rg_key, sub_key, &r->setting, &d);
    if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
        reconcile_again(res, 0, "reading settings: %s", d.msg);
        return false;
    }
    r->has_setting = rc == ERR_OK;
    if (r->has_setting)
        (void)model_login_spec_from_text(r->setting.spec, &r->spec);
    else
        r->spec = (struct model_login_spec){.extension_version = "1.0"};
    rc = store_vm_login_get(st, r->scope.key, &r->prior, &d);
    r->has_prior = rc == ERR_OK;
    return true;
}

static void vm_gone(struct vm_run *r, struct reconcile_result *res)
{
    struct store *st = r->env->store;
    struct err_detail d = {0};
    int64_t now = clock_now_ms();

    if (r->op_id != NULL && store_tx_begin(st, &d) == ERR_OK) {
        if (item_set(st, r->op_id, r->scope.arm, operation_status_str(OPERATION_STATUS_FAILED), "",
                     "vm_not_found", "the VM does not exist in Azure", NULL, now, &d) != ERR_OK ||
            store_tx_commit(st, &d) != ERR_OK)
            store_tx_rollback(st);
    }
    reconcile_done(res);
}

/* The task names a VM and Azure is there to ask; otherwise res says why not. */
static bool vm_run_begin(struct vm_run *r, struct reconcile_result *res)
{
    if (!model_login_scope_from_id(r->task->key, &r->scope) || r->scope.kind != MODEL_SCOPE_VM) {
        reconcile_failed(res, "not a VM id: %s", r->task->key);
        return false;
    }
    if (r->env->cloud == NULL) {
        reconcile_again(res, NO_AZURE_MS, "Azure is not configured");
        return false;
    }
    return true;
}

/* The VM is not in the inventory yet (its row hangs off it): ask the sync, look again soon. */
static void wait_for_inventory(struct vm_run *r, struct reconcile_result *res)
{
    if (reconcile_sync_schedule(r->env->store, clock_now_ms(), NULL) != ERR_OK)
        log_warn("login_sync_schedule_failed", "vm=%s", r->scope.arm);
    reconcile_again(res, WAIT_SYNC_MS, "waiting for the inventory to hold %s", r->scope.arm);
}

void reconcile_login_vm(const struct reconcile_env *env, const struct store_task *task,
                        struct reconcile_result *res)
{
    struct vm_run r = {.env = env, .task = task};
    struct login_plan_in in;
    struct login_plan_out out;
    struct azure_error ae;
    struct store_vm v;
    enum err rc;

    if (!vm_run_begin(&r, res))
        return;
    r.op_id = payload_op(task->payload);
    azure_error_clear(&r.lro_err);
    if (task->op_url != NULL && task->op_url[0] != '\0' && resume(&r, res))
        goto out;
    if (!load_desired(&r, res))
        goto out;
    azure_error_clear(&ae);
    rc =
        look_at(env, r.scope.arm, wants_graph(&r), prior_was_enabled(&r), &r.lro_err, &r.look, &ae);
    if (rc == ERR_NOT_FOUND) {
        vm_gone(&r, res);
        goto out;
    }
    if (rc != ERR_OK) {
        arm_error_again(&r, res, &ae, "reading");
        goto out;
    }
    /* the row hangs off the inventory's VM row: let the sync store a VM it has not seen */
    rc = store_vm_get(env->store, r.scope.key, &v, NULL);
    store_vm_clear(&v);
    if (rc == ERR_NOT_FOUND) {
        wait_for_inventory(&r, res);
        goto out;
    }
    make_fingerprint(&r);
    plan_inputs(&r, &in);
    in.excluded = vm_excluded(&r);
    reconcile_login_plan(&in, &out);
    log_debug("login_plan", "vm=%s action=%s state=%s step=%s cause=%s", r.scope.arm,
              reconcile_login_action_str(out.action), out.state, out.step, out.cause);
    apply(&r, &out, res);
out:
    vm_run_cleanup(&r);
}

/* ---- preflight only ------------------------------------------------------------------------- */

void reconcile_login_preflight(const struct reconcile_env *env, const struct store_task *task,
                               struct reconcile_result *res)
{
    struct vm_run r = {.env = env, .task = task};
    struct azure_error ae;
    struct err_detail d = {0};
    enum err rc;

    if (!vm_run_begin(&r, res))
        return;
    if (!load_desired(&r, res))
        goto out;
    azure_error_clear(&ae);
    rc = look_at(env, r.scope.arm, GRAPH_LOOK, prior_was_enabled(&r), NULL, &r.look, &ae);
    if (rc == ERR_NOT_FOUND) {
        reconcile_done(res);
        goto out;
    }
    if (rc != ERR_OK) {
        arm_error_again(&r, res, &ae, "reading");
        goto out;
    }
    rc = store_vm_login_put_preflight(env->store, r.scope.key, r.look.pf_json, clock_now_ms(), &d);
    if (rc == ERR_CONFLICT || rc == ERR_INVALID) {
        wait_for_inventory(&r, res); /* the foreign key: not in the inventory yet */
        goto out;
    }
    if (rc != ERR_OK)
        reconcile_again(res, 0, "storing the preflight: %s", d.msg);
    else
        reconcile_done(res);
out:
    vm_run_cleanup(&r);
}

/* ---- a scope --------------------------------------------------------------------------------- */

struct scope_run {
    const struct reconcile_env *env;
    const struct store_login_setting *setting;
    const char *op_id; /* set on the first expansion of the setting's operation */
    char *payload;
    size_t vms;
    enum err err;
};

/* Does this VM need a look now? Converged VMs are left alone unless the sync saw their
 * extension change (drift) or their facts changed since they were judged. */
static bool needs_look(struct store *st, const struct store_vm_login_view *v)
{
    const struct store_vm_login *l = v->login;
    struct store_extension *ex = NULL;
    size_t n = 0;
    bool drift = false;

    if (l == NULL || l->state == NULL)
        return true;
    if (login_state_is(l->state, LOGIN_STATE_ENABLED)) {
        bool found = false;
        if (store_extensions_of_vm(st, v->vm->id, &ex, &n, NULL) != ERR_OK)
            return true;
        for (size_t i = 0; i < n; i++) {
            if (!model_is_aadlogin_extension(ex[i].publisher, ex[i].type))
                continue;
            found = true;
            drift = !model_provisioning_is(ex[i].provisioning_state, OPERATION_STATUS_SUCCEEDED) &&
                    !ieq(ex[i].provisioning_state, "Creating") &&
                    !ieq(ex[i].provisioning_state, "Updating");
        }
        store_extension_list_free(ex, n);
        return drift || !found;
    }
    if (login_state_is(l->state, LOGIN_STATE_UNSUPPORTED) ||
        login_state_is(l->state, LOGIN_STATE_EXCLUDED) ||
        login_state_is(l->state, LOGIN_STATE_NOT_COVERED) ||
        login_state_is(l->state, LOGIN_STATE_DISABLED))
        return v->vm->changed_at > l->updated_at;
    return true;
}

static enum err on_vm(const struct store_vm_login_view *v, void *arg)
{
    struct scope_run *s = arg;
    struct store *st = s->env->store;
    struct store_login_setting eff;
    struct model_scope vs;
    struct err_detail d = {0};
    char rg_key[MODEL_SCOPE_MAX], sub_key[MODEL_SCOPE_MAX];
    int64_t now = clock_now_ms();
    enum err rc;

    if (!model_login_scope_from_id(v->vm->id, &vs))
        return ERR_OK;
    model_login_scope_parent_keys(&vs, sub_key, rg_key);
    rc = store_login_setting_effective(st, vs.key, rg_key, sub_key, &eff, &d);
    if (rc != ERR_OK) {
        store_login_setting_clear(&eff);
        return rc == ERR_NOT_FOUND ? ERR_OK : rc;
    }
    /* a more specific setting governs this VM: its own scope task handles it */
    if (strcmp(eff.scope_key, s->setting->scope_key) != 0 ||
        (v->vm->os_type != NULL && ieq(v->vm->os_type, "Linux"))) {
        store_login_setting_clear(&eff);
        return ERR_OK;
    }
    store_login_setting_clear(&eff);
    if (s->op_id == NULL && !needs_look(st, v))
        return ERR_OK;
    if (s->op_id != NULL) {
        rc = store_operation_item_add(st, s->op_id, v->vm->id, now, &d);
        if (rc != ERR_OK)
            return rc;
    }
    s->vms++;
    return store_task_upsert(st, task_kind_str(TASK_KIND_VM_LOGIN), vs.key, now, s->payload, now,
                             &d);
}

/* A scope is expanded from the inventory: it must be at least as fresh as the request, or VMs
 * created just before it would be missed. Asks for a sync unless one started since. */
static bool inventory_ready(const struct reconcile_env *env, int64_t since)
{
    struct store_sync_run latest = {0}, done = {0};
    enum err rc = store_sync_run_latest(env->store, &latest, &done, NULL);

    if (rc == ERR_OK && done.id != 0 && done.started_at >= since)
        return true;
    if (rc == ERR_OK && latest.finished_at == 0 && latest.started_at >= since)
        return false; /* one is running and will do */
    if (reconcile_sync_schedule(env->store, clock_now_ms(), NULL) != ERR_OK)
        log_warn("login_sync_schedule_failed", "reason=\"%s\"", "first expansion");
    return false;
}

/* In one transaction: the scope's VMs get their tasks (a VM scope's first expansion: its one
 * VM, which may not be in the inventory yet) and, on the first expansion, the operation its
 * items and the "expand" step. */
static enum err expand(struct scope_run *s, const struct model_scope *sc,
                       const struct store_login_setting *set, bool first, int64_t now,
                       struct err_detail *d)
{
    struct store *st = s->env->store;
    enum err rc = store_tx_begin(st, d);

    if (rc != ERR_OK)
        return rc;
    if (sc->kind == MODEL_SCOPE_VM && first) {
        s->vms = 1;
        rc = store_operation_item_add(st, s->op_id, sc->arm, now, d);
        if (rc == ERR_OK)
            rc = store_task_upsert(st, task_kind_str(TASK_KIND_VM_LOGIN), sc->key, now, s->payload,
                                   now, d);
    } else {
        rc = store_vm_login_scan(st, sc->subscription,
                                 sc->kind != MODEL_SCOPE_SUBSCRIPTION ? sc->resource_group : NULL,
                                 sc->kind == MODEL_SCOPE_VM ? sc->key : NULL, on_vm, s, d);
    }
    if (rc == ERR_OK && first) {
        char steps[160];
        snprintf(steps, sizeof(steps),
                 "[{\"name\":\"expand\",\"status\":\"Succeeded\",\"vms\":%zu}]", s->vms);
        rc = store_operation_update(st, set->operation_id, "Running", steps, NULL, NULL, now, d);
        if (rc == ERR_OK)
            rc = rollup(st, set->operation_id, now, d);
    }
    if (rc == ERR_OK)
        return store_tx_commit(st, d);
    store_tx_rollback(st);
    return rc;
}

void reconcile_login_scope(const struct reconcile_env *env, const struct store_task *task,
                           struct reconcile_result *res)
{
    struct store *st = env->store;
    struct store_login_setting set;
    struct store_operation op = {0};
    struct model_scope sc;
    struct scope_run s = {.env = env};
    struct err_detail d = {0};
    int64_t now = clock_now_ms();
    bool first = false;
    enum err rc = store_login_setting_get(st, task->key, &set, &d);

    if (rc == ERR_NOT_FOUND) {
        reconcile_done(res);
        return;
    }
    if (rc != ERR_OK || !model_login_scope_from_id(set.scope, &sc)) {
        reconcile_again(res, 0, "reading setting %s: %s", task->key, d.msg);
        goto out;
    }
    if (set.operation_id != NULL &&
        store_operation_get(st, set.operation_id, &op, NULL) == ERR_OK &&
        operation_status_is(op.status, OPERATION_STATUS_NOT_STARTED))
        first = true;
    s.setting = &set;
    /* the rollout's identity PATCHes and extension PUTs start long chains: the grants' role
     * assignments, posted at the same moment, leave them the subscription's write tokens */
    if (first && login_state_is(set.desired, LOGIN_STATE_ENABLED) && env->cloud != NULL &&
        env->cloud->expect_vm_writes != NULL)
        env->cloud->expect_vm_writes(env->cloud->ctx, sc.subscription, EXPECT_WRITES_MS);
    if (first && sc.kind != MODEL_SCOPE_VM && !inventory_ready(env, set.updated_at)) {
        reconcile_again(res, WAIT_FIRST_SYNC_MS, "waiting for a first inventory sync");
        goto out;
    }
    if (first) {
        json_t *p = json_pack("{s:s}", "operationId", set.operation_id);
        s.op_id = set.operation_id;
        s.payload = json_dumps(p, JSON_COMPACT);
        json_decref(p);
    }
    rc = expand(&s, &sc, &set, first, now, &d);
    if (rc != ERR_OK) {
        reconcile_again(res, 0, "expanding %s: %s", set.scope, d.msg);
        goto out;
    }
    if (login_state_is(set.desired, LOGIN_STATE_ENABLED))
        reconcile_again(res, recheck_ms(env), "%s", "");
    else
        reconcile_done(res);
out:
    free(s.payload);
    store_operation_clear(&op);
    store_login_setting_clear(&set);
}
