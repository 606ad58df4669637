/* api_access.c: effective access over HTTP. GET /v1{vm}/access answers "who can sign in to
 * this VM, and as what?" from the access read model (server/access/), and says which path
 * answered (X-Vmlogind-Access-Path); GET /v1/principals/{upnOrId}/access answers "which VMs
 * can this principal sign in to?" from the principal and its transitive groups, filtered and
 * paged by the caller's scopes, written by the access renderers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_grants.h"
#include "vmlogind/access.h"
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/buf.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_access.h"
#include "vmlogind/store.h"
#include "vmlogind/store_access.h"
#include "vmlogind/store_grants.h"
#include "vmlogind/xalloc.h"

#define ACCESS_PAGE_DEFAULT 100
#define ACCESS_PAGE_MAX 1000
#define PRINCIPAL_ANSWER_START (32u << 10)
#define PRINCIPAL_ANSWER_MAX (64u << 20)

/* Replies 200 with the written JSON (handing the buffer over, no copy), or 500 if it could not
 * be written. Empties the writer. */
static void reply_json(struct http_request *req, struct buf_json *w)
{
    size_t len = w->b.len;

    if (w->rc != ERR_OK)
        http_reply_error(req, w->rc, NULL);
    else
        http_reply_take(req, 200, "application/json", buf_steal(&w->b), len);
    buf_cleanup(&w->b);
}

/* Which path answered, for tests and operators (api/openapi.yaml: X-Vmlogind-Access-Path). */
static void path_header(struct http_request *req, enum access_path path)
{
    http_add_header(req, "X-Vmlogind-Access-Path", access_path_str(path));
}

/* ---- GET /v1{vm}/access -------------------------------------------------------------------- */

void api_access_vm(struct http_request *req)
{
    struct app *app = req->app;
    struct model_scope vm;
    struct err_detail d = {{0}, {0}};
    struct buf_json w;
    enum access_path path;
    enum err rc;

    if (!api_grants_path_scope(req, &vm))
        return;
    rc = access_vm_answer(app->access, &vm, &w, &path, &d);
    if (rc != ERR_OK) {
        buf_cleanup(&w.b);
        http_reply_error(req, rc, &d);
        return;
    }
    path_header(req, path);
    reply_json(req, &w);
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

/* Adds the cover of assignment a at scope x as far as the caller may see it: x itself when it
 * lies within one of the caller's scopes, and each caller scope that lies within x. */
static void cover_add(struct cover *c, size_t *w, const struct auth_caller *caller,
                      const struct model_access_assignment *a, const struct model_scope *x)
{
    struct cover y = {.a = a, .scope = *x};

    if (caller == NULL || caller->nscopes == 0 || auth_scope_allows(caller, x->arm)) {
        snprintf(y.sort, sizeof(y.sort), "%s%s", x->key, x->kind == MODEL_SCOPE_VM ? "" : "/");
        c[(*w)++] = y;
        return;
    }
    for (size_t i = 0; i < caller->nscopes; i++) {
        if (!model_access_scope_covers(x->key, caller->scopes[i]) ||
            !model_scope_parse(caller->scopes[i], &y.scope, NULL, "scope"))
            continue;
        snprintf(y.sort, sizeof(y.sort), "%s/", y.scope.key);
        c[(*w)++] = y;
    }
}

/* Distinct scopes of a within the caller's scopes, none inside another, sorted like VM keys.
 * *n set. */
static struct cover *covers_of(const struct access_rows *l, const struct auth_caller *caller,
                               size_t *n)
{
    size_t per = caller != NULL && caller->nscopes > 0 ? caller->nscopes : 1;
    struct cover *c = xcalloc(l->na * per + 1, sizeof(*c));
    size_t w = 0;

    for (size_t i = 0; i < l->na; i++) {
        struct model_scope x;
        if (l->a[i].role == MODEL_GRANT_ROLE_NONE ||
            !model_scope_parse(l->a[i].scope, &x, NULL, "scope"))
            continue; /* management-group assignments never reach here; skip oddities */
        cover_add(c, &w, caller, &l->a[i], &x);
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

/* May the caller see assignment scope s: it lies within one of the caller's scopes, or holds
 * one of them (it then applies to VMs the caller sees)? */
static bool scope_visible(const struct auth_caller *caller, const char *s)
{
    struct model_scope x;

    if (caller == NULL || caller->nscopes == 0 || auth_scope_allows(caller, s))
        return true;
    if (!model_scope_parse(s, &x, NULL, "scope"))
        return false;
    for (size_t i = 0; i < caller->nscopes; i++)
        if (model_access_scope_covers(x.key, caller->scopes[i]))
            return true;
    return false;
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

/* The principal's entry for one VM, reached through l->a[best]. */
static void vm_entry(struct buf_json *w, const struct access_rows *l, long best, const char *self,
                     const struct access_known_set *groups, const char *vm_id, const char *name,
                     const char *computer_name)
{
    const struct model_access_assignment *a = &l->a[best];

    access_render_principal_entry(w, a, self, access_render_known_find(groups, a->principal_id),
                                  vm_id, name, computer_name);
}

/* Writes the page of VMs after cursor as array items; sets *last to the last VM key (request-owned)
 * when the page is full. */
static enum err page_vms(struct http_request *req, const struct access_rows *l, const char *self,
                         const struct cover *c, size_t nc, const char *cursor, int limit,
                         const struct access_known_set *groups, struct buf_json *w, char **last)
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
            if (!auth_scope_allows(caller, s->arm))
                continue; /* never counted: a hidden VM neither fills a page nor names a cursor */
            long b = model_access_best_for(l->a, l->na, s->key, self);
            vm_entry(w, l, b, self, groups, s->arm, s->vm, NULL);
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
            if (!auth_scope_allows(caller, vms[j].id))
                continue; /* covers lie within the caller's scopes: should not happen */
            long b = model_access_best_for(l->a, l->na, vms[j].id_key, self);
            vm_entry(w, l, b, self, groups, vms[j].id, vms[j].name, vms[j].computer_name);
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

/* "assignments": [...], those the caller may see (scope_visible). */
static void assignments(struct buf_json *w, const struct access_rows *l, const char *self,
                        const struct auth_caller *caller, const struct access_known_set *groups)
{
    buf_json_key(w, "assignments");
    buf_json_open(w, '[');
    for (size_t i = 0; i < l->na; i++) {
        const struct model_access_assignment *a = &l->a[i];
        if (a->role == MODEL_GRANT_ROLE_NONE || !scope_visible(caller, a->scope))
            continue;
        access_render_principal_entry(w, a, self, access_render_known_find(groups, a->principal_id),
                                      NULL, NULL, NULL);
    }
    buf_json_close(w, ']');
}

void api_access_principal(struct http_request *req)
{
    struct app *app = req->app;
    const char *who = http_param(req, "principal");
    struct store_principal_row p = {0}, *groups_rows = NULL;
    struct access_known pk = {0};
    struct access_known_set known = {0};
    struct access_rows l = {0};
    struct cover *c = NULL;
    struct err_detail d = {{0}, {0}};
    char id[UUID_STR_LEN + 1], **groups = NULL;
    const char **ids = NULL;
    const char *cursor;
    char *last = NULL;
    size_t ngroups = 0, nrows = 0, nc = 0;
    int limit;
    struct buf_json w;
    enum err rc;

    if (!query_page(req, &cursor, &limit)) {
        http_problem_reply(req, "invalid_query",
                           "limit is 1 to 1000; cursor is the one a nextLink carries", NULL);
        return;
    }
    if (who == NULL || strlen(who) > 256 || !principal_id_of(app->store, who, id, sizeof(id), &p)) {
        http_problem_reply(req, "principal_not_found",
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
    if (rc != ERR_OK) {
        store_principal_rows_free(groups_rows, nrows);
        http_reply_error(req, rc, &d);
        goto out;
    }
    access_render_known_set_init(&known, groups_rows, nrows);
    access_rows_init(&l);
    c = covers_of(&l, api_caller(req), &nc);
    buf_json_init(&w, PRINCIPAL_ANSWER_START, PRINCIPAL_ANSWER_MAX);
    buf_json_open(&w, '{');
    if (p.id != NULL)
        (void)access_render_known_init(&pk, &p);
    access_render_principal(&w, id, p.kind ? p.kind : "unknown", pk.principal ? &pk : NULL);
    assignments(&w, &l, id, api_caller(req), &known);
    buf_json_key(&w, "value");
    buf_json_open(&w, '[');
    rc = page_vms(req, &l, id, c, nc, cursor, limit, &known, &w, &last);
    buf_json_close(&w, ']');
    if (last != NULL)
        buf_json_str(&w, "nextLink",
                     http_printf(req, "/v1/principals/%s/access?cursor=%s&limit=%d",
                                 api_grants_query_escape(req, id),
                                 api_grants_query_escape(req, last), limit));
    buf_json_close(&w, '}');
    if (rc != ERR_OK) {
        buf_cleanup(&w.b);
        http_reply_error(req, rc, &d);
        goto out;
    }
    reply_json(req, &w);
out:
    for (size_t i = 0; i < ngroups; i++)
        free(groups[i]);
    free(groups);
    free(ids);
    free(c);
    access_rows_cleanup(&l);
    access_render_known_set_cleanup(&known);
    access_render_known_cleanup(&pk);
    store_principal_row_clear(&p);
}
