/* store_login_settings.c: the desired Entra-login state per scope (login_settings). A DELETE
 * keeps the row with desired = 'disabled' so the intent survives restarts until the reconciler
 * has uninstalled. What a setting means for a VM (most specific scope wins) is answered here
 * by one indexed lookup; the judging itself lives in model/ and reconcile/. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_login.h"
#include "vmlogind/xalloc.h"

#define LS_COLUMNS                                                                                 \
    "scope_key, scope, scope_kind, desired, mode, exclude_tags, extension_version, spec,"          \
    " generation, operation_id, created_by, updated_by, created_at, updated_at"

static const char SQL_GET[] = "SELECT " LS_COLUMNS " FROM login_settings WHERE scope_key = :key";
static const char SQL_PUT[] =
    "INSERT INTO login_settings (scope_key, scope, scope_kind, desired, mode, exclude_tags,"
    " extension_version, spec, generation, operation_id, created_by, updated_by, created_at,"
    " updated_at)"
    " VALUES (:key, :scope, :kind, :desired, :mode, :tags, :version, :spec, 1, :op, :actor,"
    " :actor, :now, :now)"
    " ON CONFLICT (scope_key) DO UPDATE SET scope = :scope, desired = :desired, mode = :mode,"
    "  exclude_tags = :tags, extension_version = :version, spec = :spec,"
    "  generation = login_settings.generation + 1, operation_id = :op, updated_by = :actor,"
    "  updated_at = :now"
    " RETURNING generation";
/* Most specific first: a VM's own row, then its resource group's, then its subscription's. */
static const char SQL_EFFECTIVE[] =
    "SELECT " LS_COLUMNS " FROM login_settings WHERE scope_key IN (:vm, :rg, :sub)"
    " ORDER BY CASE scope_kind WHEN 'vm' THEN 0 WHEN 'resourceGroup' THEN 1 ELSE 2 END LIMIT 1";
static const char SQL_LIST[] = "SELECT " LS_COLUMNS " FROM login_settings ORDER BY scope_key";
static const char SQL_SUB_ENSURE[] =
    "INSERT INTO subscriptions (id, first_seen_at, changed_at) VALUES (lower(:id), :now, :now)"
    " ON CONFLICT (id) DO NOTHING";

static void row_to_setting(struct store_q *s, struct store_login_setting *o)
{
    o->scope_key = col_text(s, 0);
    o->scope = col_text(s, 1);
    o->scope_kind = col_text(s, 2);
    o->desired = col_text(s, 3);
    o->mode = col_text(s, 4);
    o->exclude_tags = col_text(s, 5);
    o->extension_version = col_text(s, 6);
    o->spec = col_text(s, 7);
    o->generation = col_int64(s, 8);
    o->operation_id = col_text(s, 9);
    o->created_by = col_text(s, 10);
    o->updated_by = col_text(s, 11);
    o->created_at = col_int64(s, 12);
    o->updated_at = col_int64(s, 13);
}

void store_login_setting_clear(struct store_login_setting *s)
{
    if (s == NULL)
        return;
    free(s->scope_key);
    free(s->scope);
    free(s->scope_kind);
    free(s->desired);
    free(s->mode);
    free(s->exclude_tags);
    free(s->extension_version);
    free(s->spec);
    free(s->operation_id);
    free(s->created_by);
    free(s->updated_by);
    *s = (struct store_login_setting){0};
}

void store_login_setting_list_free(struct store_login_setting *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_login_setting_clear(&list[i]);
    free(list);
}

static enum err get_one(struct store_q *s, struct store_login_setting *out, struct err_detail *d)
{
    enum err e = store_step_one(s, d, "login setting");

    if (e != ERR_OK)
        return e;
    row_to_setting(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_login_setting_get(struct store *st, const char *scope_key,
                                 struct store_login_setting *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_login_setting){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":key", scope_key);
    return get_one(s, out, d);
}

enum err store_login_setting_put(struct store *st, const struct store_login_setting *in,
                                 int64_t now, int64_t *generation, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PUT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":key", in->scope_key);
    bind_text(s, ":scope", in->scope);
    bind_text(s, ":kind", in->scope_kind);
    bind_text(s, ":desired", in->desired);
    bind_text_or(s, ":mode", in->mode, "enforce");
    bind_text_or(s, ":tags", in->exclude_tags, "{}");
    bind_text_or(s, ":version", in->extension_version, "1.0");
    bind_text_or(s, ":spec", in->spec, "{}");
    bind_text(s, ":op", in->operation_id);
    bind_text_or(s, ":actor", in->updated_by, "");
    bind_int64(s, ":now", now);
    e = store_step_one(s, d, "login setting put");
    if (e != ERR_OK)
        return e;
    if (generation != NULL)
        *generation = col_int64(s, 0);
    store_reset(s);
    return ERR_OK;
}

enum err store_login_setting_effective(struct store *st, const char *vm_key, const char *rg_key,
                                       const char *sub_key, struct store_login_setting *out,
                                       struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_EFFECTIVE, &s, d);

    *out = (struct store_login_setting){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm", vm_key);
    bind_text(s, ":rg", rg_key);
    bind_text(s, ":sub", sub_key);
    return get_one(s, out, d);
}

enum err store_login_setting_list(struct store *st, struct store_login_setting **out, size_t *n,
                                  struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_LIST, &s, d);
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    *out = xcalloc(cap, sizeof(**out));
    while ((rc = store_step(s)) == STORE_ROW) {
        if (*n == cap) {
            *out = xreallocarray(*out, xmul(2, cap), sizeof(**out));
            cap *= 2;
        }
        (*out)[*n] = (struct store_login_setting){0};
        row_to_setting(s, &(*out)[(*n)++]);
    }
    if (rc != STORE_DONE) {
        store_login_setting_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_fail(s, rc, d, "login settings list");
    }
    store_reset(s);
    return ERR_OK;
}

enum err store_login_subscription_ensure(struct store *st, const char *subscription_id, int64_t now,
                                         struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_SUB_ENSURE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", subscription_id);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "subscription ensure");
}
