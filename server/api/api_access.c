/* api_access.c: effective access. GET /v1{vm}/access answers "who can sign in to this VM, and
 * as what?"; GET /v1/principals/{upnOrId}/access answers "which VMs can this principal sign
 * in to?". Both read observed assignments and active grants of the two login roles through
 * indexed lookups (the VM's three covering scope keys, or the principal and its transitive
 * groups), expand groups transitively, and leave the judgement to model_access.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_grants.h"
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_access.h"
#include "vmlogind/store.h"
#include "vmlogind/store_access.h"
#include "vmlogind/store_grants.h"
#include "vmlogind/xalloc.h"

#define ACCESS_PAGE_DEFAULT 100
#define ACCESS_PAGE_MAX 1000

/* Store rows seen as model assignments (borrowing their strings). */
struct loaded {
    struct store_access_row *rows;
    size_t nrows;
    struct model_access_assignment *a;
    size_t na;
};

static void loaded_free(struct loaded *l)
{
    store_access_rows_free(l->rows, l->nrows);
    free(l->a);
    *l = (struct loaded){0};
}

static void to_model(struct loaded *l)
{
    l->a = xcalloc(l->nrows ? l->nrows : 1, sizeof(*l->a));
    for (size_t i = 0; i < l->nrows; i++) {
        const struct store_access_row *r = &l->rows[i];
        l->a[i] = (struct model_access_assignment){
            .scope = r->scope,
            .scope_key = r->scope_key,
            .role = model_grant_role_from_definition(r->role_guid),
            .principal_id = r->principal_id,
            .principal_type = r->principal_type,
            .grant_id = r->grant_id,
            .assignment_id = r->assignment_id,
            .expires_at = r->expires_at,
        };
    }
    l->na = model_access_dedupe(l->a, l->nrows);
}

static json_t *time_or_null(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static int by_id(const void *pa, const void *pb)
{
    return strcmp(((const struct store_principal_row *)pa)->id,
                  ((const struct store_principal_row *)pb)->id);
}

static const struct store_principal_row *find_principal(const struct store_principal_row *p,
                                                        size_t n, const char *id)
{
    struct store_principal_row key = {.id = (char *)id};

    return id != NULL && n > 0 ? bsearch(&key, p, n, sizeof(*p), by_id) : NULL;
}

static json_t *principal_json(const char *id, const char *kind, const struct store_principal_row *p)
{
    json_t *o = json_pack("{s:s, s:s}", "id", id, "type", p != NULL ? p->kind : kind);

    if (p == NULL)
        return o;
    if (p->upn != NULL)
        json_object_set_new(o, "upn", json_string(p->upn));
    json_object_set_new(o, "displayName", json_string(p->display_name ? p->display_name : ""));
    if (p->user_type != NULL && p->user_type[0] != '\0')
        json_object_set_new(o, "userType", json_string(p->user_type));
    if (p->account_enabled >= 0)
        json_object_set_new(o, "accountEnabled", json_boolean(p->account_enabled));
    return o;
}

/* Why a principal that holds a role still can't sign in (NULL when nothing is known
 * against it). */
static const char *blocked_reason(const struct store_principal_row *p)
{
    if (p == NULL)
        return NULL;
    if (p->deleted != NULL && strcmp(p->deleted, "none") != 0)
        return "deleted";
    if (p->user_type != NULL && strcasecmp(p->user_type, "Guest") == 0)
        return "guest";
    if (p->account_enabled == 0)
        return "disabled";
    return NULL;
}

/* Adds role, via, scope, source and expiry of assignment a (reached via group, or direct). */
static void add_path(json_t *o, const struct model_access_assignment *a, const char *via_group,
                     const struct store_principal_row *group)
{
    const char *aid = a->assignment_id;

    json_object_set_new(o, "role", json_string(model_grant_role_name(a->role)));
    json_object_set_new(o, "via", json_string(via_group ? "group" : "direct"));
    if (via_group != NULL)
        json_object_set_new(o, "group",
                            json_pack("{s:s, s:s}", "id", via_group, "displayName",
                                      group && group->display_name ? group->display_name : ""));
    json_object_set_new(o, "scope", json_string(a->scope));
    json_object_set_new(o, "source", json_string(a->grant_id ? "vmlogind" : "external"));
    if (a->grant_id != NULL)
        json_object_set_new(o, "grantId", json_string(a->grant_id));
    json_object_set_new(o, "assignmentId", aid ? json_string(aid) : json_null());
    json_object_set_new(o, "expiresAt", time_or_null(a->expires_at));
}

/* ---- GET /v1{vm}/access -------------------------------------------------------------------- */

struct vm_access {
    struct loaded l;
    struct store_member_row *members;
    size_t nmembers;
    struct model_access_entry *entries;
    size_t nentries;
    struct store_principal_row *principals;
    size_t nprincipals;
};

static void vm_access_free(struct vm_access *v)
{
    loaded_free(&v->l);
    store_member_rows_free(v->members, v->nmembers);
    free(v->entries);
    store_principal_rows_free(v->principals, v->nprincipals);
}

static enum err vm_access_load(struct store *st, const struct model_scope *vm, struct vm_access *v,
                               struct err_detail *d)
{
    struct model_scope sub, rg;
    const char *keys[3];
    const char **groups = NULL, **ids = NULL;
    struct model_access_member *m = NULL;
    size_t ngroups = 0;
    enum err rc;

    (void)model_scope_from_parts(vm->subscription, NULL, NULL, &sub, NULL);
    (void)model_scope_from_parts(vm->subscription, vm->resource_group, NULL, &rg, NULL);
    keys[0] = sub.key;
    keys[1] = rg.key;
    keys[2] = vm->key;
    rc = store_access_at_scopes(st, keys, 3, &v->l.rows, &v->l.nrows, d);
    if (rc != ERR_OK)
        return rc;
    to_model(&v->l);
    groups = xcalloc(v->l.na + 1, sizeof(*groups));
    for (size_t i = 0; i < v->l.na; i++) {
        if (v->l.a[i].principal_type && strcasecmp(v->l.a[i].principal_type, "Group") == 0)
            groups[ngroups++] = v->l.a[i].principal_id;
    }
    rc = store_access_members_of(st, groups, ngroups, &v->members, &v->nmembers, d);
    free(groups);
    if (rc != ERR_OK)
        return rc;
    m = xcalloc(v->nmembers + 1, sizeof(*m));
    for (size_t i = 0; i < v->nmembers; i++)
        m[i] = (struct model_access_member){.group_id = v->members[i].group_id,
                                            .member_id = v->members[i].member_id,
                                            .member_kind = v->members[i].member_kind};
    model_access_compute(v->l.a, v->l.na, m, v->nmembers, &v->entries, &v->nentries);
    free(m);
    ids = xcalloc(v->nentries + 1, sizeof(*ids));
    for (size_t i = 0; i < v->nentries; i++)
        ids[i] = v->entries[i].principal_id;
    rc = store_access_principals_get(st, ids, v->nentries, &v->principals, &v->nprincipals, d);
    free(ids);
    if (rc == ERR_OK && v->nprincipals > 1)
        qsort(v->principals, v->nprincipals, sizeof(*v->principals), by_id);
    return rc;
}

static json_t *vm_json(struct store *st, const struct model_scope *vm)
{
    struct store_vm row;
    json_t *o = json_pack("{s:s, s:s}", "id", vm->arm, "name", vm->vm);

    if (store_vm_get(st, vm->arm, &row, NULL) != ERR_OK) {
        json_object_set_new(o, "known", json_false());
        return o;
    }
    json_object_set_new(o, "known", json_boolean(row.gone_at == 0));
    json_object_set_new(o, "computerName", json_string(row.computer_name ? row.computer_name : ""));
    store_vm_clear(&row);
    return o;
}

void api_access_vm(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope vm;
    struct vm_access v = {0};
    struct err_detail d = {{0}, {0}};
    json_t *value;
    enum err rc;

    if (!api_grants_path_scope(req, &vm))
        return;
    rc = vm_access_load(app->store, &vm, &v, &d);
    if (rc != ERR_OK) {
        vm_access_free(&v);
        http_reply_error(req, rc, &d);
        return;
    }
    value = json_array();
    for (size_t i = 0; i < v.nentries; i++) {
        const struct model_access_entry *e = &v.entries[i];
        const struct store_principal_row *p =
            find_principal(v.principals, v.nprincipals, e->principal_id);
        const char *blocked = blocked_reason(p);
        json_t *o =
            json_pack("{s:o}", "principal", principal_json(e->principal_id, e->principal_kind, p));
        add_path(o, e->best, e->via_group,
                 find_principal(v.principals, v.nprincipals, e->via_group));
        json_object_set_new(o, "paths", json_integer((json_int_t)e->paths));
        if (blocked != NULL)
            json_object_set_new(o, "signInBlocked", json_string(blocked));
        json_array_append_new(value, o);
    }
    http_reply_json(req, 200,
                    json_pack("{s:o, s:o}", "vm", vm_json(app->store, &vm), "value", value));
    vm_access_free(&v);
}

/* ---- GET /v1/principals/{upnOrId}/access --------------------------------------------------- */

/* A covering scope, ordered the way the VM keys under it sort. */
struct cover {
    const struct model_access_assignment *a;
    char sort[MODEL_GRANT_SCOPE_MAX + 2];
    struct model_scope scope;
};

static int by_sort(const void *pa, const void *pb)
{
    return strcmp(((const struct cover *)pa)->sort, ((const struct cover *)pb)->sort);
}

/* Distinct scopes of a, none inside another, sorted like VM keys. *n set. */
static struct cover *covers_of(const struct loaded *l, size_t *n)
{
    struct cover *c = xcalloc(l->na + 1, sizeof(*c));
    size_t w = 0;

    for (size_t i = 0; i < l->na; i++) {
        struct cover x = {.a = &l->a[i]};
        if (l->a[i].role == MODEL_GRANT_ROLE_NONE ||
            !model_scope_parse(l->a[i].scope, &x.scope, NULL, "scope"))
            continue; /* management-group assignments never reach here; skip oddities */
        snprintf(x.sort, sizeof(x.sort), "%s%s", x.scope.key,
                 x.scope.kind == MODEL_SCOPE_VM ? "" : "/");
        c[w++] = x;
    }
    qsort(c, w, sizeof(*c), by_sort);
    /* drop scopes inside an earlier one (and duplicates) */
    size_t k = 0;
    for (size_t i = 0; i < w; i++) {
        if (k > 0 && model_access_scope_covers(c[k - 1].scope.key, c[i].scope.key))
            continue;
        c[k++] = c[i];
    }
    *n = k;
    return c;
}

/* Resolves upn_or_id to an object id through the store (principals, else grants). */
static bool principal_id_of(struct store *st, const char *upn_or_id, char *id, size_t cap,
                            struct store_principal_row *p)
{
    struct store_grant_filter f = {.principal = upn_or_id};
    struct store_grant *g = NULL;
    size_t n = 0;
    char *next = NULL;

    if (store_access_principal_find(st, upn_or_id, p, NULL) == ERR_OK) {
        snprintf(id, cap, "%s", p->id);
        return true;
    }
    if (uuid_is_valid(upn_or_id)) {
        for (size_t i = 0; upn_or_id[i] != '\0' && i + 1 < cap; i++)
            id[i] = (char)((upn_or_id[i] >= 'A' && upn_or_id[i] <= 'F') ? upn_or_id[i] + 32
                                                                        : upn_or_id[i]);
        id[strlen(upn_or_id) < cap ? strlen(upn_or_id) : cap - 1] = '\0';
        return true;
    }
    if (store_grant_list(st, &f, NULL, 1, &g, &n, &next, NULL) == ERR_OK && n == 1 &&
        g[0].principal_id != NULL && g[0].principal_id[0] != '\0')
        snprintf(id, cap, "%s", g[0].principal_id);
    else
        id[0] = '\0';
    store_grant_list_free(g, n);
    free(next);
    return id[0] != '\0';
}

static json_t *vm_entry(const struct loaded *l, long best, const char *self, const char *vm_id,
                        const char *name, const char *computer_name,
                        const struct store_principal_row *groups, size_t ngroups)
{
    const struct model_access_assignment *a = &l->a[best];
    bool direct = strcmp(a->principal_id, self) == 0;
    json_t *o = json_pack("{s:{s:s, s:s, s:s}}", "vm", "id", vm_id, "name", name, "computerName",
                          computer_name ? computer_name : "");

    add_path(o, a, direct ? NULL : a->principal_id,
             find_principal(groups, ngroups, a->principal_id));
    return o;
}

/* Appends the page of VMs after cursor to value; sets *last to the last VM key (request-owned)
 * when the page is full. */
static enum err page_vms(struct http_request *req, const struct loaded *l, const char *self,
                         const struct cover *c, size_t nc, const char *cursor, int limit,
                         const struct store_principal_row *groups, size_t ngroups, json_t *value,
                         char **last)
{
    struct app *app = req->app;
    const struct auth_caller *caller = api_caller(req);
    int have = 0;
    enum err rc = ERR_OK;

    *last = NULL;
    for (size_t i = 0; i < nc && have < limit && rc == ERR_OK; i++) {
        const struct model_scope *s = &c[i].scope;
        if (s->kind == MODEL_SCOPE_VM) {
            if (cursor != NULL && strcmp(s->key, cursor) <= 0)
                continue;
            if (auth_scope_allows(caller, s->arm)) {
                long b = model_access_best_for(l->a, l->na, s->key, self);
                json_array_append_new(value,
                                      vm_entry(l, b, self, s->arm, s->vm, NULL, groups, ngroups));
            }
            if (++have == limit)
                *last = http_strdup(req, s->key);
            continue;
        }
        struct store_vm_filter f = {
            .subscription_id = s->subscription,
            .resource_group = s->kind == MODEL_SCOPE_RESOURCE_GROUP ? s->resource_group : NULL};
        struct store_vm *vms = NULL;
        size_t n = 0;
        char *next = NULL;
        rc = store_vm_list(app->store, &f, cursor, limit - have, &vms, &n, &next, NULL);
        for (size_t j = 0; rc == ERR_OK && j < n; j++) {
            if (auth_scope_allows(caller, vms[j].id)) {
                long b = model_access_best_for(l->a, l->na, vms[j].id_key, self);
                json_array_append_new(value, vm_entry(l, b, self, vms[j].id, vms[j].name,
                                                      vms[j].computer_name, groups, ngroups));
            }
            if (++have == limit)
                *last = http_strdup(req, vms[j].id_key);
        }
        store_vm_list_free(vms, n);
        free(next);
    }
    return rc;
}

static bool query_page(struct http_request *req, const char **cursor, int *limit)
{
    const char *v = http_query(req, "limit");
    char *end = NULL;
    long n = ACCESS_PAGE_DEFAULT;

    *cursor = http_query(req, "cursor");
    if (*cursor != NULL && (strncmp(*cursor, "/subscriptions/", 15) != 0 || strlen(*cursor) > 400))
        return false;
    if (v != NULL) {
        errno = 0;
        n = strtol(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 || n > ACCESS_PAGE_MAX)
            return false;
    }
    *limit = (int)n;
    return true;
}

static json_t *assignments_json(const struct loaded *l, const char *self,
                                const struct store_principal_row *groups, size_t ngroups)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < l->na; i++) {
        const struct model_access_assignment *a = &l->a[i];
        bool direct = strcmp(a->principal_id, self) == 0;
        json_t *o = json_object();
        if (a->role == MODEL_GRANT_ROLE_NONE)
            continue;
        add_path(o, a, direct ? NULL : a->principal_id,
                 find_principal(groups, ngroups, a->principal_id));
        json_array_append_new(arr, o);
    }
    return arr;
}

void api_access_principal(struct http_request *req)
{
    struct app *app = req->app;
    const char *who = http_param(req, "principal");
    struct store_principal_row p = {0}, *groups_rows = NULL;
    struct loaded l = {0};
    struct cover *c = NULL;
    struct err_detail d = {{0}, {0}};
    char id[UUID_STR_LEN + 1], **groups = NULL;
    const char **ids = NULL;
    const char *cursor;
    char *last = NULL;
    size_t ngroups = 0, nrows = 0, nc = 0;
    int limit;
    json_t *value = NULL, *body;
    enum err rc;

    if (!query_page(req, &cursor, &limit)) {
        http_reply_problem(req, 400, "invalid_query",
                           "limit is 1 to 1000; cursor is the one a nextLink carries", NULL);
        return;
    }
    if (who == NULL || strlen(who) > 256 || !principal_id_of(app->store, who, id, sizeof(id), &p)) {
        http_reply_problem(req, 404, "principal_not_found",
                           "no such principal in the directory as last synced, nor in any grant",
                           NULL);
        goto out;
    }
    rc = store_access_groups_of(app->store, id, &groups, &ngroups, &d);
    ids = xcalloc(ngroups + 1, sizeof(*ids));
    ids[0] = id;
    for (size_t i = 0; i < ngroups; i++)
        ids[i + 1] = groups[i];
    if (rc == ERR_OK)
        rc = store_access_of_principals(app->store, ids, ngroups + 1, &l.rows, &l.nrows, &d);
    if (rc == ERR_OK)
        rc = store_access_principals_get(app->store, ids + 1, ngroups, &groups_rows, &nrows, &d);
    if (rc == ERR_OK && nrows > 1)
        qsort(groups_rows, nrows, sizeof(*groups_rows), by_id);
    if (rc == ERR_OK) {
        to_model(&l);
        c = covers_of(&l, &nc);
        value = json_array();
        rc = page_vms(req, &l, id, c, nc, cursor, limit, groups_rows, nrows, value, &last);
    }
    if (rc != ERR_OK) {
        json_decref(value);
        http_reply_error(req, rc, &d);
        goto out;
    }
    body = json_pack("{s:o, s:o, s:o}", "principal",
                     principal_json(id, p.kind ? p.kind : "unknown", p.id ? &p : NULL),
                     "assignments", assignments_json(&l, id, groups_rows, nrows), "value", value);
    if (last != NULL)
        json_object_set_new(
            body, "nextLink",
            json_string(
                http_printf(req, "/v1/principals/%s/access?cursor=%s&limit=%d", id, last, limit)));
    http_reply_json(req, 200, body);
out:
    for (size_t i = 0; i < ngroups; i++)
        free(groups[i]);
    free(groups);
    free(ids);
    free(c);
    loaded_free(&l);
    store_principal_rows_free(groups_rows, nrows);
    store_principal_row_clear(&p);
}
