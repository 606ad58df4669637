/* store_vm_login.c: the reconciler's per-VM Entra-login row (vm_login): the state machine's
 * state and step, the extension and identity it last saw, the failure cause and its retry
 * bookkeeping, and the last preflight. Scans pair each present VM with its row for the API's
 * observed state and compliance. What the states mean is decided in reconcile/. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/model_states.h"
#include "vmlogind/store_login.h"

#define VL_COLUMNS                                                                                 \
    "vm_key, setting_key, state, step, cause_code, cause_message, backoff_until, operation_id,"    \
    " preflight, preflight_at, ext_name, ext_state, ext_version, has_identity, failures,"          \
    " fingerprint, checked_at, updated_at"

static const char SQL_GET[] = "SELECT " VL_COLUMNS " FROM vm_login WHERE vm_key = lower(:vm)";
/* setting_key may name a setting deleted meanwhile: keep the row, drop the link. */
static const char SQL_PUT[] =
    "INSERT INTO vm_login (vm_key, setting_key, state, step, cause_code, cause_message,"
    " backoff_until, operation_id, preflight, preflight_at, ext_name, ext_state, ext_version,"
    " has_identity, failures, fingerprint, checked_at, updated_at)"
    " VALUES (lower(:vm), (SELECT scope_key FROM login_settings WHERE scope_key = :setting),"
    " :state, coalesce(:step, ''), :cause, :cause_msg, :backoff, :op, :preflight, :preflight_at,"
    " :ext_name, :ext_state, :ext_version, :identity, :failures, :fp, :checked, :now)"
    " ON CONFLICT (vm_key) DO UPDATE SET setting_key = excluded.setting_key,"
    "  state = excluded.state, step = excluded.step, cause_code = excluded.cause_code,"
    "  cause_message = excluded.cause_message, backoff_until = excluded.backoff_until,"
    "  operation_id = excluded.operation_id,"
    "  preflight = coalesce(excluded.preflight, vm_login.preflight),"
    "  preflight_at = coalesce(excluded.preflight_at, vm_login.preflight_at),"
    "  ext_name = excluded.ext_name, ext_state = excluded.ext_state,"
    "  ext_version = excluded.ext_version, has_identity = excluded.has_identity,"
    "  failures = excluded.failures, fingerprint = excluded.fingerprint,"
    "  checked_at = excluded.checked_at, updated_at = excluded.updated_at,"
    "  generation = vm_login.generation + 1";
static const char SQL_PUT_PREFLIGHT[] =
    "INSERT INTO vm_login (vm_key, preflight, preflight_at, updated_at)"
    " VALUES (lower(:vm), :preflight, :now, :now)"
    " ON CONFLICT (vm_key) DO UPDATE SET preflight = :preflight, preflight_at = :now,"
    "  updated_at = :now, generation = vm_login.generation + 1";

static void row_to_login(struct store_q *s, struct store_vm_login *o)
{
    o->vm_key = col_text(s, 0);
    o->setting_key = col_text(s, 1);
    o->state = col_text(s, 2);
    o->step = col_text(s, 3);
    o->cause_code = col_text(s, 4);
    o->cause_message = col_text(s, 5);
    o->backoff_until = col_int64(s, 6);
    o->operation_id = col_text(s, 7);
    o->preflight = col_text(s, 8);
    o->preflight_at = col_int64(s, 9);
    o->ext_name = col_text(s, 10);
    o->ext_state = col_text(s, 11);
    o->ext_version = col_text(s, 12);
    o->has_identity = col_int64(s, 13) != 0;
    o->failures = (int)col_int64(s, 14);
    o->fingerprint = col_text(s, 15);
    o->checked_at = col_int64(s, 16);
    o->updated_at = col_int64(s, 17);
}

void store_vm_login_clear(struct store_vm_login *l)
{
    if (l == NULL)
        return;
    free(l->vm_key);
    free(l->setting_key);
    free(l->state);
    free(l->step);
    free(l->cause_code);
    free(l->cause_message);
    free(l->operation_id);
    free(l->preflight);
    free(l->ext_name);
    free(l->ext_state);
    free(l->ext_version);
    free(l->fingerprint);
    *l = (struct store_vm_login){0};
}

enum err store_vm_login_get(struct store *st, const char *vm_key, struct store_vm_login *out,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_vm_login){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm", vm_key);
    e = store_step_one(s, d, "vm login");
    if (e != ERR_OK)
        return e;
    row_to_login(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_vm_login_put(struct store *st, const struct store_vm_login *l, int64_t now,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PUT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm", l->vm_key);
    bind_text(s, ":setting", l->setting_key);
    bind_text_or(s, ":state", l->state, login_state_str(LOGIN_STATE_NOT_COVERED));
    bind_text(s, ":step", l->step);
    bind_text(s, ":cause", l->cause_code);
    bind_text(s, ":cause_msg", l->cause_message);
    bind_time(s, ":backoff", l->backoff_until);
    bind_text(s, ":op", l->operation_id);
    bind_text(s, ":preflight", l->preflight);
    bind_time(s, ":preflight_at", l->preflight_at);
    bind_text(s, ":ext_name", l->ext_name);
    bind_text(s, ":ext_state", l->ext_state);
    bind_text(s, ":ext_version", l->ext_version);
    bind_int64(s, ":identity", l->has_identity ? 1 : 0);
    bind_int64(s, ":failures", l->failures);
    bind_text(s, ":fp", l->fingerprint);
    bind_time(s, ":checked", l->checked_at);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "vm login put");
}

enum err store_vm_login_put_preflight(struct store *st, const char *vm_key,
                                      const char *preflight_json, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PUT_PREFLIGHT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm", vm_key);
    bind_text(s, ":preflight", preflight_json);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "vm login preflight");
}

static enum err visit(struct store *st, const struct store_vm *vm, store_vm_login_fn fn, void *arg,
                      struct err_detail *d)
{
    struct store_vm_login l;
    struct store_vm_login_view v = {.vm = vm};
    enum err e = store_vm_login_get(st, vm->id_key, &l, d);

    if (e != ERR_OK && e != ERR_NOT_FOUND)
        return e;
    v.login = e == ERR_OK ? &l : NULL;
    e = fn(&v, arg);
    store_vm_login_clear(&l);
    return e;
}

enum err store_vm_login_scan(struct store *st, const char *subscription_id, const char *rg_key,
                             const char *vm_key, store_vm_login_fn fn, void *arg,
                             struct err_detail *d)
{
    struct store_vm_filter f = {.subscription_id = subscription_id, .resource_group = rg_key};
    char *after = NULL;
    enum err e = ERR_OK;

    if (vm_key != NULL) {
        struct store_vm vm;
        e = store_vm_get(st, vm_key, &vm, d);
        if (e == ERR_NOT_FOUND)
            return ERR_OK;
        if (e == ERR_OK && vm.gone_at == 0)
            e = visit(st, &vm, fn, arg, d);
        store_vm_clear(&vm);
        return e;
    }
    do {
        struct store_vm *page = NULL;
        size_t n = 0;
        char *next = NULL;
        e = store_vm_list(st, &f, after, 1000, &page, &n, &next, d);
        for (size_t i = 0; e == ERR_OK && i < n; i++)
            e = visit(st, &page[i], fn, arg, d);
        store_vm_list_free(page, n);
        free(after);
        after = next;
    } while (e == ERR_OK && after != NULL);
    free(after);
    return e;
}
