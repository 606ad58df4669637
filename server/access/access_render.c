/* access_render.c: the one renderer per kind of access answer entry (a VM's entry, a
 * principal's entry) and the fragments of a known principal they embed. Every path that
 * answers (the index, the store) writes through these, so the paths cannot drift apart byte by
 * byte. Reads nothing: the caller hands over what to write. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/access.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

#define FRAG_START 512
#define FRAG_MAX (64u << 10)

/* Why a principal that holds a role still can't sign in (NULL when nothing is known
 * against it). */
static const char *blocked_reason(const struct store_principal_row *p)
{
    if (p->deleted != NULL && strcmp(p->deleted, "none") != 0)
        return "deleted";
    if (p->user_type != NULL && strcasecmp(p->user_type, "Guest") == 0)
        return "guest";
    if (p->account_enabled == 0)
        return "disabled";
    return NULL;
}

/* "principal":{...} of a known principal. */
static void principal_object(struct buf_json *w, const struct store_principal_row *p)
{
    buf_json_key(w, "principal");
    buf_json_open(w, '{');
    buf_json_str(w, "id", p->id);
    buf_json_str(w, "type", p->kind);
    if (p->upn != NULL)
        buf_json_str(w, "upn", p->upn);
    buf_json_str(w, "displayName", p->display_name ? p->display_name : "");
    if (p->user_type != NULL && p->user_type[0] != '\0')
        buf_json_str(w, "userType", p->user_type);
    if (p->account_enabled >= 0)
        buf_json_bool(w, "accountEnabled", p->account_enabled != 0);
    buf_json_close(w, '}');
}

/* "group":{...}; display_name NULL for a group the directory does not know. */
static void group_object(struct buf_json *w, const char *id, const char *display_name)
{
    buf_json_key(w, "group");
    buf_json_open(w, '{');
    buf_json_str(w, "id", id);
    buf_json_str(w, "displayName", display_name ? display_name : "");
    buf_json_close(w, '}');
}

/* One member written on its own: the text after the '{' an object opens with. */
static char *member_text(const struct store_principal_row *p, bool group, size_t *len)
{
    struct buf_json w;
    char *text = NULL;

    buf_json_init(&w, FRAG_START, FRAG_MAX);
    buf_json_open(&w, '{');
    if (group)
        group_object(&w, p->id, p->display_name);
    else
        principal_object(&w, p);
    if (w.rc == ERR_OK) {
        *len = w.b.len - 1;
        text = xstrndup(w.b.data + 1, *len);
    }
    buf_cleanup(&w.b);
    return text;
}

bool access_render_known_init(struct access_known *k, const struct store_principal_row *p)
{
    *k = (struct access_known){0};
    if (p->id == NULL)
        return false;
    k->principal = member_text(p, false, &k->principal_len);
    k->group = member_text(p, true, &k->group_len);
    k->blocked = blocked_reason(p);
    if (k->principal == NULL || k->group == NULL) {
        access_render_known_cleanup(k);
        return false;
    }
    return true;
}

void access_render_known_cleanup(struct access_known *k)
{
    free((char *)k->principal);
    free((char *)k->group);
    *k = (struct access_known){0};
}

static int by_id(const void *pa, const void *pb)
{
    return strcmp(((const struct store_principal_row *)pa)->id,
                  ((const struct store_principal_row *)pb)->id);
}

void access_render_known_set_init(struct access_known_set *s, struct store_principal_row *rows,
                                  size_t n)
{
    size_t w = 0;

    /* a row without an id cannot be found: dropped */
    for (size_t i = 0; i < n; i++) {
        if (rows[i].id != NULL)
            rows[w++] = rows[i];
        else
            store_principal_row_clear(&rows[i]);
    }
    if (w > 1)
        qsort(rows, w, sizeof(*rows), by_id);
    s->rows = rows;
    s->n = w;
    s->known = xcalloc(w + 1, sizeof(*s->known));
    for (size_t i = 0; i < w; i++)
        (void)access_render_known_init(&s->known[i], &rows[i]);
}

const struct access_known *access_render_known_find(const struct access_known_set *s,
                                                    const char *id)
{
    struct store_principal_row key = {.id = (char *)id};
    const struct store_principal_row *r;

    if (id == NULL || s->n == 0)
        return NULL;
    r = bsearch(&key, s->rows, s->n, sizeof(*s->rows), by_id);
    if (r == NULL || s->known[r - s->rows].principal == NULL)
        return NULL;
    return &s->known[r - s->rows];
}

void access_render_known_set_cleanup(struct access_known_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        access_render_known_cleanup(&s->known[i]);
    free(s->known);
    store_principal_rows_free(s->rows, s->n);
    *s = (struct access_known_set){0};
}

void access_render_principal(struct buf_json *w, const char *id, const char *kind,
                             const struct access_known *k)
{
    if (k != NULL) {
        buf_json_member(w, k->principal, k->principal_len);
        return;
    }
    buf_json_key(w, "principal");
    buf_json_open(w, '{');
    buf_json_str(w, "id", id);
    buf_json_str(w, "type", kind);
    buf_json_close(w, '}');
}

/* Role, via, group, scope, source, grant and assignment ids and expiry of a (via the group
 * via_group as known g, or direct), as members of the open object. The keys after the first
 * are constant pieces with their comma (a VM's answer holds a few hundred entries). */
static void path(struct buf_json *w, const struct model_access_assignment *a, const char *via_group,
                 const struct access_known *g)
{
    char t[32];

    buf_json_key(w, "role");
    buf_json_sep(w);
    if (a->role == MODEL_GRANT_ROLE_ADMIN)
        BUF_JSON_LIT(w, "\"administrator\"");
    else if (a->role == MODEL_GRANT_ROLE_USER)
        BUF_JSON_LIT(w, "\"user\"");
    else
        buf_json_quoted(w, model_grant_role_name(a->role));
    if (via_group == NULL) {
        BUF_JSON_LIT(w, ",\"via\":\"direct\"");
    } else {
        BUF_JSON_LIT(w, ",\"via\":\"group\"");
        if (g != NULL)
            buf_json_member(w, g->group, g->group_len);
        else
            group_object(w, via_group, NULL);
    }
    BUF_JSON_LIT(w, ",\"scope\":");
    buf_json_quoted_as(w, a->scope, a->json_plain);
    if (a->grant_id != NULL) {
        BUF_JSON_LIT(w, ",\"source\":\"vmlogind\",\"grantId\":");
        buf_json_quoted(w, a->grant_id);
        if (a->activation_id != NULL) {
            BUF_JSON_LIT(w, ",\"activationId\":");
            buf_json_quoted(w, a->activation_id);
        }
    } else {
        BUF_JSON_LIT(w, ",\"source\":\"external\"");
    }
    BUF_JSON_LIT(w, ",\"assignmentId\":");
    buf_json_quoted_as(w, a->assignment_id, a->json_plain);
    BUF_JSON_LIT(w, ",\"expiresAt\":");
    buf_json_quoted_or_null(w, a->expires_at > 0 ? clock_fmt_rfc3339(a->expires_at, t, sizeof(t))
                                                 : NULL);
}

void access_render_vm_entry(struct buf_json *w, const struct model_access_entry *e,
                            const struct access_known *k, const struct access_known *g)
{
    buf_json_open(w, '{');
    access_render_principal(w, e->principal_id, e->principal_kind, k);
    path(w, e->best, e->via_group, g);
    buf_json_int(w, "paths", (int64_t)e->paths);
    if (k != NULL && k->blocked != NULL)
        buf_json_str(w, "signInBlocked", k->blocked);
    buf_json_close(w, '}');
}

void access_render_principal_entry(struct buf_json *w, const struct model_access_assignment *a,
                                   const char *self, const struct access_known *g,
                                   const char *vm_id, const char *vm_name,
                                   const char *computer_name)
{
    bool direct = strcmp(a->principal_id, self) == 0;

    buf_json_open(w, '{');
    if (vm_id != NULL) {
        buf_json_key(w, "vm");
        buf_json_open(w, '{');
        buf_json_str(w, "id", vm_id);
        buf_json_str(w, "name", vm_name);
        buf_json_str(w, "computerName", computer_name ? computer_name : "");
        buf_json_close(w, '}');
    }
    path(w, a, direct ? NULL : a->principal_id, direct ? NULL : g);
    buf_json_close(w, '}');
}
