/* api_access.c: effective access. GET /v1{vm}/access answers "who can sign in to this VM, and
 * as what?"; GET /v1/principals/{upnOrId}/access answers "which VMs can this principal sign
 * in to?". Both read observed assignments and active grants of the two login roles through
 * indexed lookups (the VM's three covering scope keys, or the principal and its transitive
 * groups), expand groups transitively, and leave the judgement to model_access.c. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_access_index.h"
#include "api/api_grants.h"
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

/* ---- a streaming JSON writer ----------------------------------------------------------------
 * The answers are built straight into one buffer: no jansson tree per request (DESIGN §8:
 * building and dumping trees was most of the cost of this hot path). */

#define JW_DEPTH 8

struct jw {
    struct buf b;
    enum err rc;
    int depth;
    bool after_key;
    bool comma[JW_DEPTH];
};

#define JW_START (32u << 10) /* a VM's answer is 15-21 KB: no regrowth on the way */

static void jw_init(struct jw *w)
{
    *w = (struct jw){0};
    buf_init(&w->b, 64u << 20);
    w->b.data = xmalloc(JW_START);
    w->b.data[0] = '\0';
    w->b.cap = JW_START;
}

/* Appends n bytes; a piece that fits is one memcpy without a call (an answer is a few
 * thousand pieces). */
static void jw_raw(struct jw *w, const char *s, size_t n)
{
    struct buf *b = &w->b;

    if (w->rc != ERR_OK)
        return;
    if (n < b->cap - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    w->rc = buf_append(b, s, n);
}

/* A constant piece. */
#define JW_LIT(w, s) jw_raw((w), (s), sizeof(s) - 1)

/* The separator before a value: none right after a key, a comma between siblings. */
static void jw_sep(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth <= 0)
        return;
    if (w->depth > JW_DEPTH) {
        /* deeper than comma[] tracks (jw_open flagged it): a bug of this file, never input */
        if (w->rc == ERR_OK)
            w->rc = ERR_INTERNAL;
        return;
    }
    if (w->comma[w->depth - 1])
        jw_raw(w, ",", 1);
    w->comma[w->depth - 1] = true;
}

/* Does any of the n bytes at s need escaping in a JSON string (control, '"', '\\')? Eight
 * bytes at a time: the answers are mostly long ARM ids that need none. */
static bool needs_escape(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t v, q, b;
        memcpy(&v, s + i, 8);
        q = v ^ (ones * '"');
        b = v ^ (ones * '\\');
        if ((((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs)
            return true;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return true;
    }
    return false;
}

/* s (len bytes) as a JSON string. */
static void jw_quoted_n(struct jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    if (!needs_escape(s, len)) {
        jw_raw(w, "\"", 1);
        jw_raw(w, s, len);
        jw_raw(w, "\"", 1);
        return;
    }
    jw_raw(w, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jw_raw(w, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            jw_raw(w, esc, 2);
        } else {
            jw_raw(w, esc, 6);
        }
        run = s + 1;
    }
    jw_raw(w, run, (size_t)(s - run));
    jw_raw(w, "\"", 1);
}

static void jw_quoted(struct jw *w, const char *s)
{
    jw_quoted_n(w, s, strlen(s));
}

/* s as a JSON string, or null. */
static void jw_quoted_or_null(struct jw *w, const char *s)
{
    if (s != NULL)
        jw_quoted(w, s);
    else
        JW_LIT(w, "null");
}

/* s as a JSON string, or null; plain: the caller knows it needs no escaping. */
static void jw_quoted_as(struct jw *w, const char *s, bool plain)
{
    size_t len;

    if (s == NULL || !plain) {
        jw_quoted_or_null(w, s);
        return;
    }
    len = strlen(s);
    JW_LIT(w, "\"");
    jw_raw(w, s, len);
    JW_LIT(w, "\"");
}

static void jw_open(struct jw *w, char c)
{
    jw_sep(w);
    jw_raw(w, &c, 1);
    if (w->depth < JW_DEPTH)
        w->comma[w->depth] = false;
    else if (w->rc == ERR_OK)
        w->rc = ERR_INTERNAL;
    w->depth++;
}

static void jw_close(struct jw *w, char c)
{
    w->depth--;
    jw_raw(w, &c, 1);
}

/* k is always a constant of this file, with nothing to escape. */
static void jw_key(struct jw *w, const char *k)
{
    jw_sep(w);
    jw_raw(w, "\"", 1);
    jw_raw(w, k, strlen(k));
    jw_raw(w, "\":", 2);
    w->after_key = true;
}

static void jw_str(struct jw *w, const char *k, const char *v)
{
    jw_key(w, k);
    jw_sep(w);
    if (v != NULL)
        jw_quoted(w, v);
    else
        jw_raw(w, "null", 4);
}

/* v in decimal, without snprintf (one per entry of an answer). */
static void jw_uint(struct jw *w, uint64_t v)
{
    char n[24];
    size_t i = sizeof(n);

    do {
        n[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    jw_raw(w, n + i, sizeof(n) - i);
}

static void jw_int(struct jw *w, const char *k, int64_t v)
{
    jw_key(w, k);
    jw_sep(w);
    if (v < 0)
        JW_LIT(w, "-");
    jw_uint(w, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

static void jw_bool(struct jw *w, const char *k, bool v)
{
    jw_key(w, k);
    jw_sep(w);
    jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

static void jw_time(struct jw *w, const char *k, int64_t ms)
{
    char t[32];

    jw_str(w, k, ms > 0 ? clock_fmt_rfc3339(ms, t, sizeof(t)) : NULL);
}

/* Replies 200 with the written JSON (handing the buffer over, no copy), or 500 if it could not
 * be written. Empties the writer. */
static void jw_reply(struct http_request *req, struct jw *w)
{
    size_t len = w->b.len;

    if (w->rc != ERR_OK)
        http_reply_error(req, w->rc, NULL);
    else
        http_reply_take(req, 200, "application/json", buf_steal(&w->b), len);
    buf_cleanup(&w->b);
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

/* "principal": {...} */
static void jw_principal(struct jw *w, const char *id, const char *kind,
                         const struct store_principal_row *p)
{
    jw_key(w, "principal");
    jw_open(w, '{');
    jw_str(w, "id", id);
    jw_str(w, "type", p != NULL ? p->kind : kind);
    if (p != NULL) {
        if (p->upn != NULL)
            jw_str(w, "upn", p->upn);
        jw_str(w, "displayName", p->display_name ? p->display_name : "");
        if (p->user_type != NULL && p->user_type[0] != '\0')
            jw_str(w, "userType", p->user_type);
        if (p->account_enabled >= 0)
            jw_bool(w, "accountEnabled", p->account_enabled != 0);
    }
    jw_close(w, '}');
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

/* Role, via, scope, source and expiry of assignment a (reached via group, or direct), as
 * members of the open object. */
/* "group": {...} */
static void jw_group(struct jw *w, const char *id, const struct store_principal_row *group)
{
    jw_key(w, "group");
    jw_open(w, '{');
    jw_str(w, "id", id);
    jw_str(w, "displayName", group && group->display_name ? group->display_name : "");
    jw_close(w, '}');
}

/* A member written before (see frag_of): the separator, then the text. */
static void jw_member_text(struct jw *w, const char *text, size_t len)
{
    jw_sep(w);
    jw_raw(w, text, len);
}

static void jw_path(struct jw *w, const struct model_access_assignment *a, const char *via_group,
                    const struct store_principal_row *group)
{
    jw_str(w, "role", model_grant_role_name(a->role));
    jw_str(w, "via", via_group ? "group" : "direct");
    if (via_group != NULL)
        jw_group(w, via_group, group);
    jw_str(w, "scope", a->scope);
    jw_str(w, "source", a->grant_id ? "vmlogind" : "external");
    if (a->grant_id != NULL)
        jw_str(w, "grantId", a->grant_id);
    jw_str(w, "assignmentId", a->assignment_id);
    jw_time(w, "expiresAt", a->expires_at);
}

/* ---- GET /v1{vm}/access -------------------------------------------------------------------- */

struct vm_access {
    struct loaded l;
    struct store_member_row *members;
    size_t nmembers;
    struct model_access_entry *entries;
    size_t nentries;
    struct store_principal_row *principals; /* owned (SQL path) */
    size_t nprincipals;
    const struct store_principal_row *known; /* sorted by id: principals, or the index's */
    size_t nknown;
    struct access_index *ix; /* the in-memory path: everything borrowed from it */
    char *arena;
};

static void vm_access_free(struct vm_access *v)
{
    loaded_free(&v->l);
    store_member_rows_free(v->members, v->nmembers);
    free(v->entries);
    store_principal_rows_free(v->principals, v->nprincipals);
    free(v->arena);
    access_index_release(v->ix);
}

/* The ids of the groups among the assignments (a new array; the ids are borrowed). */
static const char **groups_of(const struct loaded *l, size_t *n)
{
    const char **groups = xcalloc(l->na + 1, sizeof(*groups));

    *n = 0;
    for (size_t i = 0; i < l->na; i++) {
        if (l->a[i].principal_type && strcasecmp(l->a[i].principal_type, "Group") == 0)
            groups[(*n)++] = l->a[i].principal_id;
    }
    return groups;
}

/* VMLOGIND_ACCESS_INDEX=off answers from SQL only (tests compare the two paths). */
static bool index_wanted(void)
{
    /* read by every HTTP thread: atomic, so the first ones to look may each set it (to the
     * same value) without a data race */
    static atomic_int wanted = -1;
    int v = atomic_load_explicit(&wanted, memory_order_relaxed);

    if (v < 0) {
        const char *e = getenv("VMLOGIND_ACCESS_INDEX");
        v = e == NULL || strcmp(e, "off") != 0;
        atomic_store_explicit(&wanted, v, memory_order_relaxed);
    }
    return v != 0;
}

/* The members of a known principal's entry that depend on it alone, written once per index:
 * which 0 is "principal":{...} as jw_principal writes it, 1 is "group":{...} as jw_group
 * writes it. */
static char *frag_of(const struct store_principal_row *p, int which)
{
    struct jw w;
    char *text = NULL;

    jw_init(&w);
    jw_open(&w, '{');
    if (which == 2) {
        const char *blocked = blocked_reason(p);
        buf_cleanup(&w.b);
        return blocked != NULL ? xstrdup(blocked) : NULL;
    }
    if (which == 0)
        jw_principal(&w, p->id, p->kind, p);
    else
        jw_group(&w, p->id, p);
    if (w.rc == ERR_OK)
        text = xstrndup(w.b.data + 1, w.b.len - 1);
    buf_cleanup(&w.b);
    return text;
}

/* The in-memory path, from v->ix (referenced by the caller): false if a key is not lowercase
 * (the caller answers from SQL). */
static bool vm_access_from_index(const char *const keys[3], struct vm_access *v)
{
    struct model_access_member *m = NULL;
    const char **groups;
    size_t ngroups = 0, nm = 0;

    if (!access_index_at_scopes(v->ix, keys, 3, &v->l.a, &v->l.na, &v->arena))
        return false;
    groups = groups_of(&v->l, &ngroups);
    access_index_members_of(v->ix, groups, ngroups, &m, &nm);
    free(groups);
    model_access_compute(v->l.a, v->l.na, m, nm, &v->entries, &v->nentries);
    free(m);
    return true;
}

/* The SQL path. */
static enum err vm_access_load(struct store *st, const char *const keys[3], struct vm_access *v,
                               struct err_detail *d)
{
    const char **groups = NULL, **ids = NULL;
    struct model_access_member *m = NULL;
    size_t ngroups = 0;
    enum err rc;

    rc = store_access_at_scopes(st, keys, 3, &v->l.rows, &v->l.nrows, d);
    if (rc != ERR_OK)
        return rc;
    to_model(&v->l);
    groups = groups_of(&v->l, &ngroups);
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
    v->known = v->principals;
    v->nknown = v->nprincipals;
    return rc;
}

/* "vm": {...}; row is the VM's row as store_access_vm_now reads it. */
static void jw_vm(struct jw *w, const struct model_scope *vm, const struct store_access_vm_now *row)
{
    jw_key(w, "vm");
    jw_open(w, '{');
    jw_str(w, "id", vm->arm);
    jw_str(w, "name", vm->vm);
    if (!row->found) {
        jw_bool(w, "known", false);
    } else {
        jw_bool(w, "known", row->gone_at == 0);
        jw_str(w, "computerName", row->computer_name ? row->computer_name : "");
    }
    jw_close(w, '}');
}

/* The VM's row as store_vm_get reads it (not found, or any failure: unknown). */
static void vm_row_get(struct store *st, const struct model_scope *vm,
                       struct store_access_vm_now *row)
{
    struct store_vm r;

    *row = (struct store_access_vm_now){0};
    if (store_vm_get(st, vm->arm, &r, NULL) != ERR_OK)
        return;
    row->found = true;
    row->gone_at = r.gone_at;
    row->computer_name = r.computer_name;
    r.computer_name = NULL;
    store_vm_clear(&r);
}

/* One entry of the index's answer: what the SQL path's jw_principal, jw_path, "paths" and
 * "signInBlocked" write, byte for byte, with the keys as constant pieces and the principal
 * and group members as the index wrote them once. */
static void write_entry_ix(struct jw *w, const struct model_access_entry *e,
                           const struct access_index_known *p, const struct access_index_known *g)
{
    const struct model_access_assignment *a = e->best;
    char t[32];

    jw_open(w, '{');
    if (p != NULL)
        jw_member_text(w, p->principal, p->principal_len);
    else
        jw_principal(w, e->principal_id, e->principal_kind, NULL);
    /* the principal member is always there: every piece below starts with its comma */
    if (a->role == MODEL_GRANT_ROLE_ADMIN)
        JW_LIT(w, ",\"role\":\"administrator\"");
    else if (a->role == MODEL_GRANT_ROLE_USER)
        JW_LIT(w, ",\"role\":\"user\"");
    else
        JW_LIT(w, ",\"role\":\"\"");
    if (e->via_group == NULL) {
        JW_LIT(w, ",\"via\":\"direct\"");
    } else {
        JW_LIT(w, ",\"via\":\"group\"");
        if (g != NULL)
            jw_member_text(w, g->group, g->group_len);
        else
            jw_group(w, e->via_group, NULL);
    }
    JW_LIT(w, ",\"scope\":");
    jw_quoted_as(w, a->scope, a->json_plain);
    if (a->grant_id != NULL) {
        JW_LIT(w, ",\"source\":\"vmlogind\",\"grantId\":");
        jw_quoted(w, a->grant_id);
    } else {
        JW_LIT(w, ",\"source\":\"external\"");
    }
    JW_LIT(w, ",\"assignmentId\":");
    jw_quoted_as(w, a->assignment_id, a->json_plain);
    JW_LIT(w, ",\"expiresAt\":");
    jw_quoted_or_null(w, a->expires_at > 0 ? clock_fmt_rfc3339(a->expires_at, t, sizeof(t)) : NULL);
    JW_LIT(w, ",\"paths\":");
    jw_uint(w, (uint64_t)e->paths);
    if (p != NULL && p->blocked != NULL) {
        JW_LIT(w, ",\"signInBlocked\":");
        jw_quoted(w, p->blocked);
    }
    jw_close(w, '}');
}

/* The answer for v into w. */
static void write_vm_access(struct jw *w, const struct model_scope *vm,
                            const struct store_access_vm_now *row, const struct vm_access *v)
{
    const struct access_index_known **kn = NULL;

    jw_init(w);
    jw_open(w, '{');
    jw_vm(w, vm, row);
    jw_key(w, "value");
    jw_open(w, '[');
    if (v->ix != NULL) {
        /* every entry's principal and group first, with their text fetched ahead: an answer's
         * few dozen principals lie anywhere in an index of tens of MB, and cache misses asked
         * for together overlap where one after the other they add up */
        kn = xcalloc(2 * v->nentries + 1, sizeof(*kn));
        for (size_t i = 0; i < v->nentries; i++) {
            kn[2 * i] = access_index_known(v->ix, v->entries[i].principal_id);
            kn[2 * i + 1] = access_index_known(v->ix, v->entries[i].via_group);
            if (kn[2 * i] != NULL) {
                for (size_t at = 0; at < kn[2 * i]->principal_len; at += 64)
                    __builtin_prefetch(kn[2 * i]->principal + at);
            }
        }
    }
    for (size_t i = 0; i < v->nentries; i++) {
        const struct model_access_entry *e = &v->entries[i];
        const struct store_principal_row *p;
        const char *blocked;
        if (kn != NULL) {
            write_entry_ix(w, e, kn[2 * i], kn[2 * i + 1]);
            continue;
        }
        p = find_principal(v->known, v->nknown, e->principal_id);
        blocked = blocked_reason(p);
        jw_open(w, '{');
        jw_principal(w, e->principal_id, e->principal_kind, p);
        jw_path(w, e->best, e->via_group, find_principal(v->known, v->nknown, e->via_group));
        jw_int(w, "paths", (int64_t)e->paths);
        if (blocked != NULL)
            jw_str(w, "signInBlocked", blocked);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_close(w, '}');
    free(kn);
}

void api_access_start(struct app *app)
{
    if (index_wanted())
        (void)access_index_start(app->store, frag_of);
}

void api_access_stop(void)
{
    access_index_stop();
}

/* The keys of the VM's subscription and resource group, as model_scope_from_parts gives them:
 * the VM's key starts with both ("/subscriptions/{s}" and "/resourcegroups/{rg}", lowercase
 * byte for byte). */
static void parent_keys(const struct model_scope *vm, char sub[MODEL_GRANT_SCOPE_MAX],
                        char rg[MODEL_GRANT_SCOPE_MAX])
{
    size_t ns = strlen("/subscriptions/") + strlen(vm->subscription);
    size_t nr = ns + strlen("/resourcegroups/") + strlen(vm->resource_group);

    memcpy(sub, vm->key, ns);
    sub[ns] = '\0';
    memcpy(rg, vm->key, nr);
    rg[nr] = '\0';
}

void api_access_vm(struct http_request *req)
{
    struct app *app = req->app;
    struct store *st = app->store;
    struct model_scope vm;
    char sub[MODEL_GRANT_SCOPE_MAX], rg[MODEL_GRANT_SCOPE_MAX];
    struct store_access_vm_now row = {0};
    struct vm_access v = {0};
    struct err_detail d = {{0}, {0}};
    const char *keys[3];
    struct jw w;
    bool tx;
    enum err rc = ERR_OK;

    if (!api_grants_path_scope(req, &vm))
        return;
    parent_keys(&vm, sub, rg);
    keys[0] = sub;
    keys[1] = rg;
    keys[2] = vm.key;
    /* the index's answer costs one statement (the generation and the VM's row) and no wait:
     * the builder thread keeps the index current */
    if (index_wanted() && !store_in_tx(st) &&
        store_access_vm_now(st, vm.arm, &row, NULL) == ERR_OK &&
        (v.ix = access_index_get(row.epoch, row.gen)) != NULL && vm_access_from_index(keys, &v)) {
        write_vm_access(&w, &vm, &row, &v);
    } else {
        /* from SQL, in one read transaction for the VM's row and its access: each transaction
         * costs a round of file locks */
        vm_access_free(&v);
        v = (struct vm_access){0};
        free(row.computer_name);
        tx = !store_in_tx(st) && store_tx_begin_read(st, NULL) == ERR_OK;
        vm_row_get(st, &vm, &row);
        rc = vm_access_load(st, keys, &v, &d);
        if (rc == ERR_OK)
            write_vm_access(&w, &vm, &row, &v);
        if (tx && store_tx_commit(st, NULL) != ERR_OK)
            store_tx_rollback(st);
    }
    if (rc != ERR_OK)
        http_reply_error(req, rc, &d);
    else
        jw_reply(req, &w);
    free(row.computer_name);
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
static struct cover *covers_of(const struct loaded *l, const struct auth_caller *caller, size_t *n)
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

static void jw_vm_entry(struct jw *w, const struct loaded *l, long best, const char *self,
                        const char *vm_id, const char *name, const char *computer_name,
                        const struct store_principal_row *groups, size_t ngroups)
{
    const struct model_access_assignment *a = &l->a[best];
    bool direct = strcmp(a->principal_id, self) == 0;

    jw_open(w, '{');
    jw_key(w, "vm");
    jw_open(w, '{');
    jw_str(w, "id", vm_id);
    jw_str(w, "name", name);
    jw_str(w, "computerName", computer_name ? computer_name : "");
    jw_close(w, '}');
    jw_path(w, a, direct ? NULL : a->principal_id,
            find_principal(groups, ngroups, a->principal_id));
    jw_close(w, '}');
}

/* Writes the page of VMs after cursor as array items; sets *last to the last VM key (request-owned)
 * when the page is full. */
static enum err page_vms(struct http_request *req, const struct loaded *l, const char *self,
                         const struct cover *c, size_t nc, const char *cursor, int limit,
                         const struct store_principal_row *groups, size_t ngroups, struct jw *w,
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
            if (!auth_scope_allows(caller, s->arm))
                continue; /* never counted: a hidden VM neither fills a page nor names a cursor */
            long b = model_access_best_for(l->a, l->na, s->key, self);
            jw_vm_entry(w, l, b, self, s->arm, s->vm, NULL, groups, ngroups);
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
            jw_vm_entry(w, l, b, self, vms[j].id, vms[j].name, vms[j].computer_name, groups,
                        ngroups);
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
static void jw_assignments(struct jw *w, const struct loaded *l, const char *self,
                           const struct auth_caller *caller,
                           const struct store_principal_row *groups, size_t ngroups)
{
    jw_key(w, "assignments");
    jw_open(w, '[');
    for (size_t i = 0; i < l->na; i++) {
        const struct model_access_assignment *a = &l->a[i];
        bool direct = strcmp(a->principal_id, self) == 0;
        if (a->role == MODEL_GRANT_ROLE_NONE || !scope_visible(caller, a->scope))
            continue;
        jw_open(w, '{');
        jw_path(w, a, direct ? NULL : a->principal_id,
                find_principal(groups, ngroups, a->principal_id));
        jw_close(w, '}');
    }
    jw_close(w, ']');
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
    struct jw w;
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
    if (rc == ERR_OK && nrows > 1)
        qsort(groups_rows, nrows, sizeof(*groups_rows), by_id);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        goto out;
    }
    to_model(&l);
    c = covers_of(&l, api_caller(req), &nc);
    jw_init(&w);
    jw_open(&w, '{');
    jw_principal(&w, id, p.kind ? p.kind : "unknown", p.id ? &p : NULL);
    jw_assignments(&w, &l, id, api_caller(req), groups_rows, nrows);
    jw_key(&w, "value");
    jw_open(&w, '[');
    rc = page_vms(req, &l, id, c, nc, cursor, limit, groups_rows, nrows, &w, &last);
    jw_close(&w, ']');
    if (last != NULL)
        jw_str(&w, "nextLink",
               http_printf(req, "/v1/principals/%s/access?cursor=%s&limit=%d",
                           api_grants_query_escape(req, id), api_grants_query_escape(req, last),
                           limit));
    jw_close(&w, '}');
    if (rc != ERR_OK) {
        buf_cleanup(&w.b);
        http_reply_error(req, rc, &d);
        goto out;
    }
    jw_reply(req, &w);
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
