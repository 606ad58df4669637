/* api_entra_login.c: PUT, GET and DELETE /v1{scope}/entraLogin at subscription, resource-group
 * and VM scope (one handler each for the three route rows), and POST /v1{vm}/entraLogin/
 * preflight. PUT and DELETE record the desired state, an operation and the scope's task (the
 * write runner adds the audit row, commits and wakes the reconciler) and answer 202 + Location; GET
 * shows desired next to observed. Preflight answers from the inventory and the reconciler's last
 * look (Graph facts it could not see yet say "unknown") and queues a fresh look: the API never
 * calls Azure. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_login.h"
#include "vmlogind/store.h"
#include "vmlogind/store_login.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define OBSERVED_LIST_MAX 1000
#define IDENTITY_NOTE                                                                              \
    "the system-assigned managed identity is left as it is: vmlogind turned it on and does not "   \
    "turn it off; remove it yourself if nothing else uses it"

static json_t *time_json(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

/* Scope from the path; replies 400 or 403 and returns false when it can't be used. */
static bool scope_of(struct http_request *req, struct model_scope *sc)
{
    struct violations vs;
    struct err_detail d = {0};

    violations_init(&vs);
    if (!model_scope_from_parts(http_param(req, "s"), http_param(req, "rg"),
                                http_param(req, "name"), sc, &vs)) {
        http_problem_reply(req, "invalid_scope", "the scope in the path is not valid", &vs);
        return false;
    }
    if (api_caller(req) != NULL && auth_check_scope(api_caller(req), sc->arm, &d) != ERR_OK) {
        http_problem_reply(req, d.code[0] ? d.code : "scope_forbidden", d.msg, NULL);
        return false;
    }
    return true;
}

/* The OS judgement on the inventory's facts. */
static void os_of(const struct store_vm *vm, struct model_os_verdict *out)
{
    struct model_os_facts of = {
        .os_type = vm->os_type,
        .image_publisher = vm->image_publisher,
        .image_offer = vm->image_offer,
        .image_sku = vm->image_sku,
        .image_id = vm->image_id,
        .os_name = vm->os_name,
        .os_version = vm->os_version,
    };

    model_os_support(&of, out);
}

/* ---- per-VM state, shared with compliance --------------------------------------------------- */

/* A failed extension the sync saw on a VM vmlogind never judged: its cause from the status. */
static void diagnose_stored(const struct store_extension *e, struct api_login_state *out)
{
    struct model_failure f = {.status_code = e->status_code, .status_message = e->status_message};
    struct model_diagnosis dg;

    if (e->provisioning_state == NULL ||
        !model_provisioning_is(e->provisioning_state, OPERATION_STATUS_FAILED))
        return;
    model_diagnose(&f, &dg);
    snprintf(out->cause_buf, sizeof(out->cause_buf), "%s", dg.cause);
    out->cause = out->cause_buf;
}

void api_entra_login_vm_state(struct store *st, const struct store_vm_login_view *v,
                              struct api_login_state *out)
{
    const struct store_vm *vm = v->vm;
    const struct store_vm_login *l = v->login;
    struct model_os_verdict os;
    struct model_login_facts f = {0};
    struct store_login_setting eff;
    struct store_extension *ex = NULL;
    size_t n = 0;
    struct model_scope sc;
    char sub_key[MODEL_SCOPE_MAX], rg_key[MODEL_SCOPE_MAX];

    *out = (struct api_login_state){0};
    os_of(vm, &os);
    f.os = os.support;
    if (model_login_scope_from_id(vm->id, &sc)) {
        model_login_scope_parent_keys(&sc, sub_key, rg_key);
        if (store_login_setting_effective(st, sc.key, rg_key, sub_key, &eff, NULL) == ERR_OK &&
            login_state_is(eff.desired, LOGIN_STATE_ENABLED)) {
            struct model_login_spec spec;
            f.covered = true;
            (void)model_login_spec_from_text(eff.spec, &spec);
            f.excluded = model_login_excluded(&spec, vm->tags);
            model_login_spec_cleanup(&spec);
        }
        store_login_setting_clear(&eff);
    }
    if (l == NULL || l->state == NULL || login_state_is(l->state, LOGIN_STATE_NOT_COVERED)) {
        if (store_extensions_of_vm(st, vm->id, &ex, &n, NULL) == ERR_OK) {
            for (size_t i = 0; i < n; i++) {
                if (model_is_aadlogin_extension(ex[i].publisher, ex[i].type)) {
                    f.has_extension = true;
                    f.ext_provisioning = ex[i].provisioning_state;
                    diagnose_stored(&ex[i], out);
                }
            }
        }
    }
    out->state = model_login_api_state(l ? l->state : NULL, &f);
    if (out->cause == out->cause_buf && !login_state_is(out->state, LOGIN_STATE_FAILED))
        out->cause = NULL;
    if (l != NULL && l->cause_code != NULL)
        out->cause = l->cause_code;
    if (login_state_is(out->state, LOGIN_STATE_UNSUPPORTED) && out->cause == NULL)
        out->cause = MODEL_CAUSE_PREFLIGHT_OS;
    snprintf(out->os_reason, sizeof(out->os_reason), "%s", os.reason);
    store_extension_list_free(ex, n);
}

json_t *api_entra_login_local_accounts_json(struct store *st, const struct store_vm *vm,
                                            const json_t *on_vm)
{
    struct model_scope sc;
    struct store_login_setting eff;
    struct model_login_spec spec = {0};
    char sub_key[MODEL_SCOPE_MAX], rg_key[MODEL_SCOPE_MAX];
    json_t *out = NULL;

    if (on_vm == NULL || !model_login_scope_from_id(vm->id, &sc))
        return NULL;
    model_login_scope_parent_keys(&sc, sub_key, rg_key);
    if (store_login_setting_effective(st, sc.key, rg_key, sub_key, &eff, NULL) != ERR_OK)
        return NULL;
    if (login_state_is(eff.desired, LOGIN_STATE_ENABLED) &&
        model_login_spec_from_text(eff.spec, &spec))
        out = model_localacct_check_json(on_vm, vm->computer_name, &spec);
    if (out != NULL)
        json_object_set_new(out, "policyScope", json_string(eff.scope));
    model_login_spec_cleanup(&spec);
    store_login_setting_clear(&eff);
    return out;
}

/* ---- PUT / DELETE ---------------------------------------------------------------------------- */

static json_t *desired_json(const struct store_login_setting *s);

/* The ETag of the scope's login settings (the "desired" of GET: JSON null when none). */
static void settings_etag_set(struct http_request *req, const struct model_scope *sc)
{
    struct store_login_setting cur;
    json_t *repr =
        store_login_setting_get(((struct app *)req->app)->store, sc->key, &cur, NULL) == ERR_OK
            ? desired_json(&cur)
            : json_null();

    api_etag_set(req, repr);
    json_decref(repr);
    store_login_setting_clear(&cur);
}

static void reply_operation(struct http_request *req, const char *op_id, bool disable)
{
    struct app *app = req->app;
    struct store_operation op;
    json_t *body;

    if (store_operation_get(app->store, op_id, &op, NULL) != ERR_OK) {
        http_problem_reply(req, "operation_missing", "the operation could not be read", NULL);
        return;
    }
    body = api_operation_json(app->store, &op, app->cfg->cloud);
    if (disable)
        json_object_set_new(body, "notes", json_pack("[s]", IDENTITY_NOTE));
    http_add_header(req, "Location", http_printf(req, "/v1/operations/%s", op_id));
    http_reply_json(req, 202, body);
    store_operation_clear(&op);
}

/* The operation and the setting that record desired (enabled or disabled) for sc, with the
 * scope's task (inside the write runner's transaction). */
static enum err record_desired(struct http_request *req, const struct model_scope *sc,
                               const struct model_login_spec *spec, bool enable, const char *text,
                               const char *op_id, struct err_detail *d)
{
    struct app *app = req->app;
    struct store_operation op = {
        .id = (char *)op_id,
        .kind = enable ? "entraLogin.enable" : "entraLogin.disable",
        .target = (char *)sc->arm,
        .created_by = req->subject,
        .request_id = req->request_id,
    };
    char *tags = model_login_spec_tags_text(spec);
    int64_t now = clock_now_ms();
    enum err rc = store_operation_create(app->store, &op, now, d);

    if (rc == ERR_OK) {
        struct store_login_setting s = {
            .scope_key = (char *)sc->key,
            .scope = (char *)sc->arm,
            .scope_kind = (char *)model_login_scope_kind_str(sc->kind),
            .desired = enable ? "enabled" : "disabled",
            .mode = (char *)model_login_mode_str(spec->mode),
            .exclude_tags = tags,
            .extension_version = (char *)spec->extension_version,
            .spec = (char *)text,
            .operation_id = (char *)op_id,
            .updated_by = req->subject,
        };
        rc = store_login_setting_put(app->store, &s, now, NULL, d);
    }
    free(tags);
    if (rc == ERR_OK)
        rc = api_write_task(req, task_kind_str(TASK_KIND_SCOPE_LOGIN), sc->key, NULL, d);
    return rc;
}

/* Records desired (enabled or disabled) for sc; reuses the last operation when nothing changed. */
static void put_desired(struct http_request *req, const struct model_scope *sc,
                        const struct model_login_spec *spec, bool enable)
{
    struct store_login_setting cur = {0};
    struct err_detail d = {0};
    char *text = model_login_spec_to_text(spec);
    char op_id[UUID_STR_LEN];
    const char *desired = enable ? "enabled" : "disabled";
    enum err rc = store_login_setting_get(((struct app *)req->app)->store, sc->key, &cur, &d);
    json_t *repr = rc == ERR_OK ? desired_json(&cur) : json_null();
    bool pass =
        (rc == ERR_OK || rc == ERR_NOT_FOUND) && api_etag_preconditions_of(req, repr, rc == ERR_OK);

    json_decref(repr);
    if (!pass) {
        if (rc != ERR_OK && rc != ERR_NOT_FOUND)
            http_reply_error(req, rc, &d);
        store_login_setting_clear(&cur);
        free(text);
        return;
    }
    if (rc == ERR_OK && strcmp(cur.desired, desired) == 0 && strcmp(cur.spec, text) == 0 &&
        cur.operation_id != NULL) {
        /* the same request again: same desired state, same operation, no new work */
        snprintf(op_id, sizeof(op_id), "%s", cur.operation_id);
        rc = ERR_OK;
    } else if (rc == ERR_OK || rc == ERR_NOT_FOUND) {
        uuid_v4(op_id);
        rc = record_desired(req, sc, spec, enable, text, op_id, &d);
        api_write_audit(req, enable ? "entraLogin.put" : "entraLogin.delete", sc->arm, "accepted",
                        http_printf(req, "{\"operationId\":\"%s\",\"desired\":\"%s\",\"spec\":%s}",
                                    op_id, desired, text));
    }
    if (rc == ERR_OK) {
        settings_etag_set(req, sc);
        reply_operation(req, op_id, !enable);
    } else {
        http_reply_error(req, rc, &d);
    }
    store_login_setting_clear(&cur);
    free(text);
}

/* MDM on one VM that the inventory knows to be Windows Server: refused with the seed's reason
 * (true: replied). Wider scopes are accepted: their Server VMs get the extension without it. */
static bool mdm_refused(struct http_request *req, const struct model_scope *sc,
                        const struct model_login_spec *spec)
{
    struct app *app = req->app;
    struct store_vm vm;
    struct model_os_facts of;
    struct violations vs;
    bool refused;

    if (spec->mdm == MODEL_LOGIN_MDM_NONE || sc->kind != MODEL_SCOPE_VM ||
        store_vm_get(app->store, sc->key, &vm, NULL) != ERR_OK)
        return false;
    of = (struct model_os_facts){
        .os_type = vm.os_type,
        .image_publisher = vm.image_publisher,
        .image_offer = vm.image_offer,
        .image_sku = vm.image_sku,
        .image_id = vm.image_id,
        .os_name = vm.os_name,
        .os_version = vm.os_version,
    };
    refused = vm.gone_at == 0 && model_login_mdm_refused(spec->mdm, model_os_edition(&of));
    store_vm_clear(&vm);
    if (!refused)
        return false;
    violations_init(&vs);
    violations_add(&vs, "mdm", MODEL_CAUSE_MDM_SERVER, "%s", MODEL_MDM_SERVER_REASON);
    http_problem_reply(req, MODEL_CAUSE_MDM_SERVER, MODEL_MDM_SERVER_REASON, &vs);
    return true;
}

void api_entra_login_put(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope sc;
    struct model_login_spec spec;
    struct violations vs;

    if (!scope_of(req, &sc))
        return;
    violations_init(&vs);
    if (!model_login_spec_from_json(req->json, app->cfg->login_mode, app->cfg->extension_version,
                                    &spec, &vs)) {
        http_problem_reply(req, "validation_failed", "the entraLogin settings are not valid", &vs);
        return;
    }
    if (!mdm_refused(req, &sc, &spec))
        put_desired(req, &sc, &spec, true);
    model_login_spec_cleanup(&spec);
}

void api_entra_login_delete(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope sc;
    struct model_login_spec spec;
    struct store_login_setting cur;

    if (!scope_of(req, &sc))
        return;
    /* keep the enabled settings' spec, so a repeated DELETE finds the same row */
    if (store_login_setting_get(app->store, sc.key, &cur, NULL) != ERR_OK ||
        !model_login_spec_from_text(cur.spec, &spec))
        spec = (struct model_login_spec){.mode = MODEL_LOGIN_ENFORCE, .extension_version = "1.0"};
    store_login_setting_clear(&cur);
    put_desired(req, &sc, &spec, false);
    model_login_spec_cleanup(&spec);
}

/* ---- GET ---------------------------------------------------------------------------------- */

struct observed {
    struct store *st;
    json_t *vms;
    json_t *counts;
    size_t n;
};

static json_t *vm_json(const struct store_vm_login_view *v, const struct api_login_state *s)
{
    const struct store_vm_login *l = v->login;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "id", v->vm->id, "name", v->vm->name, "state",
                          s->state, "powerState", v->vm->power_state ? v->vm->power_state : "");

    if (s->cause != NULL) {
        struct model_diagnosis dg;
        model_diagnose_cause(s->cause, NULL, &dg);
        json_object_set_new(j, "error",
                            json_pack("{s:s, s:s, s:s, s:b}", "code", s->cause, "message",
                                      l && l->cause_message ? l->cause_message : dg.meaning, "fix",
                                      dg.fix, "retryable", dg.retryable));
    }
    if (l != NULL) {
        json_object_set_new(j, "step", json_string(l->step ? l->step : ""));
        json_object_set_new(j, "identity",
                            json_string(l->has_identity ? "SystemAssigned" : "none"));
        if (l->ext_name != NULL)
            json_object_set_new(j, "extension",
                                json_pack("{s:s, s:s, s:s}", "name", l->ext_name,
                                          "provisioningState", l->ext_state ? l->ext_state : "",
                                          "typeHandlerVersion",
                                          l->ext_version ? l->ext_version : ""));
        json_object_set_new(j, "checkedAt", time_json(l->checked_at));
    }
    return j;
}

static enum err observe(const struct store_vm_login_view *v, void *arg)
{
    struct observed *o = arg;
    struct api_login_state s;
    json_t *c;

    api_entra_login_vm_state(o->st, v, &s);
    c = json_object_get(o->counts, s.state);
    json_object_set_new(o->counts, s.state, json_integer(c ? json_integer_value(c) + 1 : 1));
    if (o->n++ < OBSERVED_LIST_MAX)
        json_array_append_new(o->vms, vm_json(v, &s));
    return ERR_OK;
}

static json_t *desired_json(const struct store_login_setting *s)
{
    json_t *spec = json_loads(s->spec, 0, NULL);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:I, s:o, s:s, s:o}", "scope", s->scope, "state", s->desired,
                  "scopeKind", s->scope_kind, "generation", (json_int_t)s->generation, "updatedAt",
                  time_json(s->updated_at), "updatedBy", s->updated_by ? s->updated_by : "",
                  "operationId", s->operation_id ? json_string(s->operation_id) : json_null());

    if (spec != NULL)
        json_object_update(j, spec);
    json_decref(spec);
    return j;
}

void api_entra_login_get(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope sc;
    struct store_login_setting cur, eff;
    struct observed o = {.st = app->store, .vms = json_array(), .counts = json_object()};
    struct err_detail d = {0};
    char sub_key[MODEL_SCOPE_MAX], rg_key[MODEL_SCOPE_MAX];
    json_t *body;
    enum err rc;

    if (!scope_of(req, &sc)) {
        json_decref(o.vms);
        json_decref(o.counts);
        return;
    }
    model_login_scope_parent_keys(&sc, sub_key, rg_key);
    body =
        json_pack("{s:s, s:s}", "scope", sc.arm, "scopeKind", model_login_scope_kind_str(sc.kind));
    rc = store_login_setting_get(app->store, sc.key, &cur, &d);
    json_object_set_new(body, "desired", rc == ERR_OK ? desired_json(&cur) : json_null());
    api_etag_set(req, json_object_get(body, "desired"));
    store_login_setting_clear(&cur);
    /* what actually governs: a broader scope's setting when this one has none */
    if (store_login_setting_effective(app->store, sc.kind == MODEL_SCOPE_VM ? sc.key : NULL,
                                      sc.kind != MODEL_SCOPE_SUBSCRIPTION ? rg_key : NULL, sub_key,
                                      &eff, NULL) == ERR_OK)
        json_object_set_new(body, "effective", desired_json(&eff));
    store_login_setting_clear(&eff);
    rc = store_vm_login_scan(app->store, sc.subscription,
                             sc.kind != MODEL_SCOPE_SUBSCRIPTION ? sc.resource_group : NULL,
                             sc.kind == MODEL_SCOPE_VM ? sc.key : NULL, observe, &o, &d);
    if (rc != ERR_OK) {
        json_decref(body);
        json_decref(o.vms);
        json_decref(o.counts);
        http_reply_error(req, rc, &d);
        return;
    }
    json_object_set_new(body, "observed",
                        json_pack("{s:I, s:o, s:o, s:b}", "total", (json_int_t)o.n, "counts",
                                  o.counts, "virtualMachines", o.vms, "truncated",
                                  o.n > OBSERVED_LIST_MAX));
    http_reply_json(req, 200, body);
}

/* ---- preflight ------------------------------------------------------------------------------ */

static enum model_tri tri_of_stored(json_t *stored, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(stored, "checks"), i, c)
    {
        const char *r = json_string_value(json_object_get(c, "result"));
        const char *cn = json_string_value(json_object_get(c, "name"));
        if (cn == NULL || strcmp(cn, name) != 0 || r == NULL)
            continue;
        if (strcmp(r, "unknown") == 0)
            return MODEL_TRI_UNKNOWN;
        /* hostnameUnique pass = no duplicate; signInServicePrincipal pass = present */
        if (strcmp(name, "hostnameUnique") == 0)
            return strcmp(r, "fail") == 0 ? MODEL_TRI_YES : MODEL_TRI_NO;
        return strcmp(r, "pass") == 0 ? MODEL_TRI_YES : MODEL_TRI_NO;
    }
    return MODEL_TRI_UNKNOWN;
}

static size_t json_array_len_text(const char *text)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    size_t n = json_array_size(a);

    json_decref(a);
    return n;
}

/* The checks from the inventory, with what only Graph can tell taken from the reconciler's
 * last look (unknown when it has not looked yet). */
static json_t *preflight_from_store(struct store *st, const struct store_vm *vm,
                                    const struct store_vm_login *l, const struct config *cfg)
{
    struct model_os_verdict os;
    struct model_preflight p;
    struct store_extension *ex = NULL;
    size_t n = 0;
    json_t *stored = l && l->preflight ? json_loads(l->preflight, 0, NULL) : NULL;
    enum model_tri dj = MODEL_TRI_UNKNOWN;
    struct model_preflight_facts f;
    json_t *j;

    os_of(vm, &os);
    if (store_extensions_of_vm(st, vm->id, &ex, &n, NULL) == ERR_OK) {
        dj = MODEL_TRI_NO;
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(ex[i].type ? ex[i].type : "", "JsonADDomainExtension") == 0)
                dj = MODEL_TRI_YES;
    }
    store_extension_list_free(ex, n);
    f = (struct model_preflight_facts){
        .os = &os,
        .power_state = vm->power_state,
        .vm_name = vm->name,
        .computer_name = vm->computer_name,
        .system_identity = vm->identity_type && strstr(vm->identity_type, "SystemAssigned")
                               ? MODEL_TRI_YES
                               : MODEL_TRI_NO,
        .n_user_assigned = json_array_len_text(vm->user_assigned_ids),
        .device_duplicate = tri_of_stored(stored, "hostnameUnique"),
        .own_device = l && login_state_is(l->state, LOGIN_STATE_ENABLED),
        .signin_sp = tri_of_stored(stored, "signInServicePrincipal"),
        .create_signin_sp = cfg->create_signin_sp,
        .domain_joined = dj,
        .cloud = cfg->cloud,
    };
    model_preflight_run(&f, &p);
    j = model_preflight_to_json(&p);
    json_decref(stored);
    return j;
}

void api_entra_login_preflight(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope sc;
    struct store_vm vm;
    struct store_vm_login l;
    struct err_detail d = {0};
    bool has_login;
    json_t *body;
    enum err rc;

    if (!scope_of(req, &sc))
        return;
    rc = api_write_task(req, task_kind_str(TASK_KIND_LOGIN_PREFLIGHT), sc.key, NULL, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    rc = store_vm_get(app->store, sc.key, &vm, &d);
    if (rc == ERR_NOT_FOUND || (rc == ERR_OK && vm.gone_at != 0)) {
        store_vm_clear(&vm);
        api_write_keep(req); /* the look stays queued */
        http_add_header(req, "Retry-After", "2");
        http_problem_reply(req, "vm_not_in_inventory",
                           "the VM is not in the inventory yet: a look at it was queued; ask "
                           "again shortly",
                           NULL);
        return;
    }
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    has_login = store_vm_login_get(app->store, sc.key, &l, NULL) == ERR_OK;
    /* the reconciler's own look is fresher than the inventory unless the sync saw a change */
    body = has_login && l.preflight != NULL && l.preflight_at >= vm.changed_at
               ? json_loads(l.preflight, 0, NULL)
               : NULL;
    if (body != NULL) {
        json_object_set_new(body, "source", json_string("reconciler"));
    } else {
        body = preflight_from_store(app->store, &vm, has_login ? &l : NULL, app->cfg);
        json_object_set_new(body, "source", json_string("inventory"));
    }
    json_object_set_new(body, "virtualMachine", json_string(vm.id));
    json_object_set_new(body, "checkedAt", time_json(has_login ? l.preflight_at : 0));
    json_object_set_new(body, "observedAt", time_json(vm.changed_at));
    json_object_set_new(body, "refresh", json_string("queued"));
    store_vm_login_clear(&l);
    store_vm_clear(&vm);
    http_reply_json(req, 200, body);
}
