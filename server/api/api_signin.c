/* api_signin.c: GET /v1{vm}/signIn?principal=UPN|OBJECTID, "why can't she sign in?". One
 * answer from what the store knows (the VM, its extension, the login role that reaches her,
 * computed as GET /v1{vm}/access does) and the directory facts the reconciler last read from
 * Microsoft Graph; model_signin_evaluate judges. The API never calls Azure: facts that are
 * missing or older than MODEL_SIGNIN_FRESH_MS schedule a read, and until it lands those checks
 * say unknown ("directory": {"state": "pending"}). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_grants.h"
#include "vmlogind/api.h"
#include "vmlogind/clock.h"
#include "vmlogind/config.h"
#include "vmlogind/model.h"
#include "vmlogind/model_access.h"
#include "vmlogind/model_login.h"
#include "vmlogind/model_onvm.h"
#include "vmlogind/model_signin.h"
#include "vmlogind/store.h"
#include "vmlogind/store_access.h"
#include "vmlogind/store_signin.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

/* A UPN (name@domain, printable, no '|') or an object id; else 400 naming the field. */
static bool principal_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    const char *at = p ? strchr(p, '@') : NULL;

    if (n == 0 || n > MODEL_GRANT_UPN_MAX)
        return false;
    if (uuid_is_valid(p))
        return true;
    if (at == NULL || at == p || at[1] == '\0')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c == 0x7f || c == '|' || c == '\\' || c == '"')
            return false;
    }
    return true;
}

/* What the store holds about the VM's AADLoginForWindows extension, copied into held. */
struct held {
    struct store_vm vm;
    struct store_extension *ext;
    size_t next;
    struct model_os_verdict os;
    char **groups;
    size_t ngroups;
    struct store_access_row *rows;
    size_t nrows;
    struct model_access_assignment *a;
    size_t na;
    struct store_principal_row group_row;
};

static void held_free(struct held *h)
{
    store_vm_clear(&h->vm);
    store_extension_list_free(h->ext, h->next);
    for (size_t i = 0; i < h->ngroups; i++)
        free(h->groups[i]);
    free(h->groups);
    store_access_rows_free(h->rows, h->nrows);
    free(h->a);
    store_principal_row_clear(&h->group_row);
}

static void fill_vm(struct held *h, const char *cloud, struct model_signin_vm *out)
{
    const struct store_vm *v = &h->vm;

    api_vms_os_verdict(v, &h->os);
    *out = (struct model_signin_vm){
        .id = v->id,
        .computer_name = v->computer_name,
        .power_state = v->power_state,
        .os_support = (int)h->os.support,
        .os_reason = h->os.reason,
        .has_system_identity =
            v->identity_type != NULL && strcasestr(v->identity_type, "SystemAssigned") != NULL,
        .cloud = cloud,
    };
    for (size_t i = 0; i < h->next; i++) {
        const struct store_extension *e = &h->ext[i];
        if (e->gone_at != 0 || !model_is_aadlogin_extension(e->publisher, e->type))
            continue;
        out->extension_present = true;
        out->extension_state = e->provisioning_state;
        out->extension_code = e->status_code;
        out->extension_message = e->status_message;
    }
}

/* The best login role that reaches principal id at the VM (model_access_best_for over her
 * assignments and her groups'), as GET /v1/principals/{p}/access computes it. */
static enum err fill_role(struct store *st, struct held *h, const char *id,
                          struct model_signin_role *out, struct err_detail *d)
{
    const char **ids;
    struct model_scope sc;
    long best;
    enum err rc;

    *out = (struct model_signin_role){.role = MODEL_GRANT_ROLE_NONE};
    if (id == NULL || id[0] == '\0')
        return ERR_OK;
    rc = store_access_groups_of(st, id, &h->groups, &h->ngroups, d);
    if (rc != ERR_OK)
        return rc;
    ids = xcalloc(h->ngroups + 1, sizeof(*ids));
    ids[0] = id;
    for (size_t i = 0; i < h->ngroups; i++)
        ids[i + 1] = h->groups[i];
    rc = store_access_of_principals(st, ids, h->ngroups + 1, &h->rows, &h->nrows, d);
    free(ids);
    if (rc != ERR_OK)
        return rc;
    h->a = xcalloc(h->nrows + 1, sizeof(*h->a));
    for (size_t i = 0; i < h->nrows; i++)
        h->a[i] = (struct model_access_assignment){
            .scope = h->rows[i].scope,
            .scope_key = h->rows[i].scope_key,
            .role = model_grant_role_from_definition(h->rows[i].role_guid),
            .principal_id = h->rows[i].principal_id,
            .principal_type = h->rows[i].principal_type,
            .grant_id = h->rows[i].grant_id,
            .assignment_id = h->rows[i].assignment_id,
            .expires_at = h->rows[i].expires_at,
        };
    h->na = model_access_dedupe(h->a, h->nrows);
    best = model_access_best_for(h->a, h->na, h->vm.id_key, id);
    if (best < 0)
        return ERR_OK;
    const struct model_access_assignment *b = &h->a[best];
    out->role = b->role;
    out->scope = b->scope;
    out->scope_kind = model_scope_parse(b->scope, &sc, NULL, "scope")
                          ? model_login_scope_kind_str(sc.kind)
                          : NULL;
    out->from_grant = b->grant_id != NULL;
    if (strcasecmp(b->principal_id, id) != 0) {
        out->via_group = b->principal_id;
        if (store_access_principal_find(st, b->principal_id, &h->group_row, NULL) == ERR_OK)
            out->via_group_name = h->group_row.display_name;
    }
    return ERR_OK;
}

/* Schedules a read of the directory facts for (vm, principal). */
static void schedule(struct app *app, const char *vm_id, const char *principal, int64_t now)
{
    struct err_detail d = {{0}, {0}};
    char *key = xasprintf("%s|%s", vm_id, principal);
    json_t *p = json_pack("{s:s, s:s}", "vm", vm_id, "principal", principal);
    char *payload = json_dumps(p, JSON_COMPACT);

    for (char *k = key; *k; k++)
        *k = (char)(*k >= 'A' && *k <= 'Z' ? *k + 32 : *k);
    if (store_task_upsert(app->store, task_kind_str(TASK_KIND_SIGNIN_FACTS), key, now, payload, now,
                          &d) == ERR_OK &&
        app->wake != NULL)
        app->wake(app->wake_arg, task_kind_str(TASK_KIND_SIGNIN_FACTS), key);
    free(payload);
    json_decref(p);
    free(key);
}

/* The stored JSON of a getter, parsed; NULL when absent or unreadable. */
static json_t *stored(enum err rc, char *text)
{
    json_t *j = rc == ERR_OK && text != NULL ? json_loads(text, 0, NULL) : NULL;

    free(text);
    return json_is_object(j) ? j : (json_decref(j), NULL);
}

bool api_vm_present(struct http_request *req, const char *vm_id, struct store_vm *row)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    enum err rc = store_vm_get(app->store, vm_id, row, &d);

    if (rc == ERR_OK && row->gone_at == 0)
        return true;
    if (rc == ERR_OK)
        store_vm_clear(row);
    *row = (struct store_vm){0};
    if (rc == ERR_OK || rc == ERR_NOT_FOUND)
        http_problem_reply(req, "vm_not_found", "no such VM in the inventory", NULL);
    else
        http_reply_error(req, rc, &d);
    return false;
}

/* The local accounts the allow list does not name (a warning: they don't stop her, but the seed
 * says to flag them), as a check and as "localAccounts". */
static void add_local_accounts(struct store *st, const struct store_vm *vm, const json_t *onvm,
                               json_t *out)
{
    json_t *la = api_entra_login_local_accounts_json(st, vm, onvm);
    size_t n = json_array_size(json_object_get(la, "unapproved"));
    json_t *c;

    if (la == NULL)
        return;
    c = json_pack("{s:s, s:s, s:s, s:{s:O}}", "id", "onVmLocalAccounts", "title",
                  "Only approved local accounts in Administrators and Remote Desktop Users",
                  "status", n > 0 ? "warn" : "pass", "evidence", "unapproved",
                  json_object_get(la, "unapproved"));
    if (n > 0) {
        json_object_set_new(c, "reason",
                            json_sprintf("%zu local account(s) not on the allow list of %s", n,
                                         json_string_value(json_object_get(la, "policyScope"))));
        json_object_set_new(c, "fix",
                            json_string("remove the accounts from the VM's local groups, or add "
                                        "them to allowedLocalAccounts of the entraLogin setting"));
    }
    json_array_append_new(json_object_get(out, "checks"), c);
    json_object_set_new(out, "localAccounts", la);
}

void api_signin_get(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope vm;
    struct held h = {0};
    struct model_signin_vm mvm;
    struct model_signin_role role;
    struct store_principal_row p = {0};
    struct err_detail d = {{0}, {0}};
    const char *who = http_query(req, "principal");
    const char *id = NULL;
    json_t *dir = NULL, *onvm = NULL, *out;
    int64_t now = clock_now_ms(), at = 0, diag_at = 0;
    char *text = NULL, ts[32];
    struct violations vs;
    enum err rc;

    if (!api_grants_path_scope(req, &vm))
        return;
    if (!principal_ok(who)) {
        violations_init(&vs);
        violations_add(&vs, "principal", who ? "invalid_principal" : "required",
                       "principal is her user principal name (name@domain) or object id");
        http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
        return;
    }
    if (!api_vm_present(req, vm.arm, &h.vm)) {
        held_free(&h);
        return;
    }
    rc = store_extensions_of_vm(app->store, h.vm.id, &h.ext, &h.next, &d);
    if (rc != ERR_OK)
        goto fail;
    rc = store_signin_facts_get(app->store, h.vm.id, who, &text, &at, &d);
    dir = stored(rc, text);
    if (rc != ERR_OK && rc != ERR_NOT_FOUND)
        goto fail;
    if (dir == NULL || now - at > MODEL_SIGNIN_FRESH_MS)
        schedule(app, h.vm.id, who, now);
    text = NULL;
    rc = store_vm_diagnostics_get(app->store, h.vm.id, &text, &diag_at, &d);
    onvm = stored(rc, text);
    /* her object id: the inventory's, else the one Graph gave, else the one asked by */
    if (store_access_principal_find(app->store, who, &p, NULL) == ERR_OK)
        id = p.id;
    else if (json_string_value(json_object_get(
                 json_object_get(json_object_get(dir, "user"), "value"), "id")) != NULL)
        id = json_string_value(
            json_object_get(json_object_get(json_object_get(dir, "user"), "value"), "id"));
    else if (uuid_is_valid(who))
        id = who;
    fill_vm(&h, app->cfg->cloud, &mvm);
    rc = fill_role(app->store, &h, id, &role, &d);
    if (rc != ERR_OK)
        goto fail;
    out = model_signin_evaluate(&(struct model_signin_input){
        .principal = who, .vm = &mvm, .role = &role, .directory = dir, .on_vm = onvm});
    add_local_accounts(app->store, &h.vm, onvm, out);
    json_object_set_new(out, "vm",
                        json_pack("{s:s, s:s, s:s?}", "id", h.vm.id, "name", h.vm.name,
                                  "computerName", h.vm.computer_name));
    json_object_set_new(out, "principal", json_pack("{s:s, s:s?}", "asked", who, "id", id));
    json_object_set_new(out, "onVm",
                        onvm == NULL
                            ? json_pack("{s:s}", "state", "none")
                            : json_pack("{s:s, s:s, s:O?}", "state", "checked", "checkedAt",
                                        clock_fmt_rfc3339(diag_at, ts, sizeof(ts)), "operationId",
                                        json_object_get(onvm, "operationId")));
    json_object_set_new(out, "directory",
                        dir == NULL ? json_pack("{s:s, s:n}", "state", "pending", "checkedAt")
                                    : json_pack("{s:s, s:s, s:b}", "state", "checked", "checkedAt",
                                                clock_fmt_rfc3339(at, ts, sizeof(ts)), "stale",
                                                now - at > MODEL_SIGNIN_FRESH_MS));
    http_add_header(req, "Cache-Control", "no-store");
    http_reply_json(req, 200, out);
    goto out;
fail:
    http_reply_error(req, rc, &d);
out:
    json_decref(dir);
    json_decref(onvm);
    store_principal_row_clear(&p);
    held_free(&h);
}

/* POST /v1{vm}/diagnostics: records the intent (an operation, a task, an audit row, in one
 * transaction) and answers 202 with the operation; the reconciler runs the read-only check
 * script through ARM Run Command. A VM that is not running is refused up front (409
 * vm_not_running): Run Command needs the VM agent. */
void api_diagnostics_vm_post(struct http_request *req)
{
    struct app *app = req->app;
    struct store *st = app->store;
    struct model_scope vm;
    struct store_vm row = {0};
    struct store_operation op = {0};
    struct err_detail d = {{0}, {0}};
    char op_id[UUID_STR_LEN], *payload = NULL, *key = NULL, *details = NULL;
    int64_t now = clock_now_ms();
    json_t *body;
    enum err rc;

    if (!api_grants_path_scope(req, &vm))
        return;
    if (!api_vm_present(req, vm.arm, &row))
        return;
    if (row.power_state != NULL && !model_power_running(row.power_state)) {
        http_problem_reply(req, "vm_not_running",
                           http_printf(req,
                                       "the VM is %s: Run Command needs a running VM (its agent "
                                       "runs the script); start it first",
                                       row.power_state),
                           NULL);
        store_vm_clear(&row);
        return;
    }
    uuid_v4(op_id);
    key = xstrdup(row.id_key);
    payload = xasprintf("{\"vm\":\"%s\",\"operation\":\"%s\"}", row.id, op_id);
    op = (struct store_operation){.id = op_id,
                                  .kind = "vm.diagnostics",
                                  .target = row.id,
                                  .created_by = req->subject,
                                  .request_id = req->request_id};
    rc = store_operation_create(st, &op, now, &d);
    if (rc == ERR_OK)
        rc = api_write_task(req, task_kind_str(TASK_KIND_VM_DIAGNOSTICS), key, payload, &d);
    op = (struct store_operation){0};
    if (rc == ERR_OK)
        rc = store_operation_get(st, op_id, &op, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        goto out;
    }
    details = xasprintf("{\"operationId\":\"%s\"}", op_id);
    api_write_audit(req, "vm.diagnostics", row.id, "accepted", details);
    body = api_operation_json(st, &op, app->cfg->cloud);
    store_operation_clear(&op);
    http_add_header(req, "Location", http_printf(req, "/v1/operations/%s", op_id));
    http_reply_json(req, 202, body);
out:
    free(details);
    free(payload);
    free(key);
    store_vm_clear(&row);
}
