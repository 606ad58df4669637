/* auth_perm.c: the permission model: the role ladder, scope limits, and constrained
 * delegation (which login role a caller may grant, and to whom). Pure functions on an
 * authenticated caller; it does not authenticate and reads no store. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "vmlogind/auth.h"
#include "vmlogind/xalloc.h"

struct auth_caller *auth_caller_new(enum auth_kind kind, enum auth_role role, const char *subject)
{
    struct auth_caller *c = xcalloc(1, sizeof(*c));

    c->kind = kind;
    c->role = role;
    snprintf(c->subject, sizeof(c->subject), "%s", subject);
    return c;
}

void auth_caller_free(struct auth_caller *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nscopes; i++)
        free(c->scopes[i]);
    free(c);
}

struct auth_caller *auth_caller_dup(const struct auth_caller *c)
{
    struct auth_caller *t = xmalloc(sizeof(*t));

    *t = *c;
    for (size_t i = 0; i < c->nscopes; i++)
        t->scopes[i] = xstrdup(c->scopes[i]);
    return t;
}

enum err auth_caller_add_scope(struct auth_caller *c, const char *scope, struct err_detail *d)
{
    char norm[AUTH_SCOPE_MAX];
    enum err rc;

    if (c->nscopes >= AUTH_MAX_SCOPES)
        return err_set(d, ERR_INVALID, "too_many_scopes", "at most %d scopes", AUTH_MAX_SCOPES);
    rc = auth_scope_normalize(scope, norm, sizeof(norm), d);
    if (rc != ERR_OK)
        return rc;
    c->scopes[c->nscopes++] = xstrdup(norm);
    return ERR_OK;
}

/* Is id equal to scope or under it, comparing case-insensitively on segment boundaries? */
static bool under(const char *scope, const char *id)
{
    size_t n = strlen(scope);

    if (strncasecmp(scope, id, n) != 0)
        return false;
    return id[n] == '\0' || id[n] == '/';
}

/* Stands for "no scope at all" when an intersection is empty: no ARM id starts with it, and
 * it is not empty (nscopes 0 means unlimited). */
static const char NO_SCOPE[] = "\x7f";

/* c's scopes := c's scopes intersected with the normalized scopes in b[0..nb): of two nested
 * scopes the inner one; disjoint ones drop out. */
static void intersect(struct auth_caller *c, char *const *b, size_t nb)
{
    char *keep[AUTH_MAX_SCOPES];
    size_t n = 0;

    for (size_t i = 0; i < c->nscopes; i++) {
        for (size_t k = 0; k < nb && n < AUTH_MAX_SCOPES; k++) {
            if (under(b[k], c->scopes[i]))
                keep[n++] = xstrdup(c->scopes[i]);
            else if (under(c->scopes[i], b[k]))
                keep[n++] = xstrdup(b[k]);
        }
        free(c->scopes[i]);
    }
    if (n == 0)
        keep[n++] = xstrdup(NO_SCOPE);
    memcpy(c->scopes, keep, n * sizeof(keep[0]));
    c->nscopes = n;
}

/* The stricter of two grant limits. Two different memberOf groups cannot both be held in one
 * field, so the caller may then grant nothing (AUTH_GRANT_DENY matches no role). */
static void limits_meet(struct auth_limits *a, const struct auth_limits *b)
{
    if (b->grant_roles != 0)
        a->grant_roles = a->grant_roles != 0 ? a->grant_roles & b->grant_roles : b->grant_roles;
    if (a->grant_roles == 0 && b->grant_roles != 0)
        a->grant_roles = AUTH_GRANT_DENY;
    if (b->principal_types != 0)
        a->principal_types =
            a->principal_types != 0 ? a->principal_types & b->principal_types : b->principal_types;
    if (a->principal_types == 0 && b->principal_types != 0)
        a->principal_types = AUTH_PT_DENY;
    if (b->member_of[0] != '\0' && a->member_of[0] == '\0')
        snprintf(a->member_of, sizeof(a->member_of), "%s", b->member_of);
    else if (b->member_of[0] != '\0' && strcasecmp(a->member_of, b->member_of) != 0)
        a->grant_roles = AUTH_GRANT_DENY;
}

enum err auth_caller_restrict(struct auth_caller *c, const char *scopes_json,
                              const char *limits_json, struct err_detail *d)
{
    json_t *scopes = json_loads(scopes_json != NULL ? scopes_json : "[]", 0, NULL);
    struct auth_caller *t = auth_caller_new(c->kind, c->role, c->subject);
    struct auth_limits l;
    enum err rc = ERR_OK;
    size_t i;
    json_t *v;

    if (!json_is_array(scopes)) {
        json_decref(scopes);
        auth_caller_free(t);
        return err_set(d, ERR_INVALID, "bad_scopes", "scopes are not a JSON array");
    }
    json_array_foreach(scopes, i, v)
    {
        rc = auth_caller_add_scope(t, json_string_value(v), d);
        if (rc != ERR_OK)
            break;
    }
    json_decref(scopes);
    if (rc == ERR_OK)
        rc = auth_limits_from_json(limits_json, &l, d);
    if (rc == ERR_OK) {
        if (c->nscopes == 0) {
            memcpy(c->scopes, t->scopes, t->nscopes * sizeof(t->scopes[0]));
            c->nscopes = t->nscopes;
            t->nscopes = 0;
        } else if (t->nscopes != 0) {
            intersect(c, t->scopes, t->nscopes);
        }
        limits_meet(&c->limits, &l);
    }
    auth_caller_free(t);
    return rc;
}

static const char *const role_names[] = {"none", "reader", "operator", "administrator"};

const char *auth_role_name(enum auth_role r)
{
    if ((unsigned)r >= sizeof(role_names) / sizeof(role_names[0]))
        return "none";
    return role_names[r];
}

bool auth_role_parse(const char *s, enum auth_role *out)
{
    for (unsigned i = AUTH_ROLE_READER; i <= AUTH_ROLE_ADMINISTRATOR; i++) {
        if (s != NULL && strcmp(s, role_names[i]) == 0) {
            *out = (enum auth_role)i;
            return true;
        }
    }
    return false;
}

/* One ARM name segment: non-empty, no '/', no control bytes, not absurdly long. */
static bool good_segment(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch == 0x7f || ch == '?' || ch == '#' || ch == '%')
            return false;
    }
    return true;
}

enum err auth_scope_normalize(const char *in, char *out, size_t cap, struct err_detail *d)
{
    const char *p = in;
    const char *segs[4];
    size_t lens[4];
    size_t n = 0, len;

    if (in == NULL || in[0] != '/')
        goto bad;
    len = strlen(in);
    if (len >= cap || len >= AUTH_SCOPE_MAX)
        goto bad;
    while (*p == '/' && n < 4) {
        size_t l = strcspn(p + 1, "/");
        segs[n] = p + 1;
        lens[n++] = l;
        p += 1 + l;
        if (*p == '/' && p[1] == '\0')
            p++; /* one trailing slash is tolerated */
    }
    if (*p != '\0' || (n != 2 && n != 4))
        goto bad;
    if (lens[0] != 13 || strncasecmp(segs[0], "subscriptions", 13) != 0 ||
        !good_segment(segs[1], lens[1]))
        goto bad;
    if (n == 4 && (lens[2] != 14 || strncasecmp(segs[2], "resourceGroups", 14) != 0 ||
                   !good_segment(segs[3], lens[3])))
        goto bad;
    len = 0;
    for (size_t i = 0; i < n; i++) {
        out[len++] = '/';
        for (size_t k = 0; k < lens[i]; k++)
            out[len++] = (char)tolower((unsigned char)segs[i][k]);
    }
    out[len] = '\0';
    return ERR_OK;
bad:
    return err_set(d, ERR_INVALID, "invalid_scope",
                   "a scope is /subscriptions/{id} or /subscriptions/{id}/resourceGroups/{name}");
}

enum err auth_check_role(const struct auth_caller *c, enum auth_role need, struct err_detail *d)
{
    if (c != NULL && c->role >= need)
        return ERR_OK;
    return err_set(d, ERR_FORBIDDEN, "insufficient_role",
                   "this needs the %s role; the caller is %s", auth_role_name(need),
                   c ? auth_role_name(c->role) : "anonymous");
}

bool auth_scope_allows(const struct auth_caller *c, const char *arm_id)
{
    if (c == NULL || arm_id == NULL)
        return false;
    if (c->nscopes == 0)
        return true;
    for (size_t i = 0; i < c->nscopes; i++)
        if (under(c->scopes[i], arm_id))
            return true;
    return false;
}

enum err auth_check_scope(const struct auth_caller *c, const char *arm_id, struct err_detail *d)
{
    if (auth_scope_allows(c, arm_id))
        return ERR_OK;
    return err_set(d, ERR_FORBIDDEN, "scope_forbidden", "the caller may not act on %.160s",
                   arm_id ? arm_id : "(none)");
}

struct name_bit {
    const char *name;
    unsigned bit;
};

static const struct name_bit login_roles[] = {
    {"user", AUTH_GRANT_USER},
    {"administrator", AUTH_GRANT_ADMINISTRATOR},
};
static const struct name_bit principal_types[] = {
    {"user", AUTH_PT_USER},
    {"group", AUTH_PT_GROUP},
    {"servicePrincipal", AUTH_PT_SERVICE_PRINCIPAL},
};

static bool bit_of(const struct name_bit *t, size_t n, const char *name, size_t len, unsigned *bit)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(t[i].name) == len && strncasecmp(t[i].name, name, len) == 0) {
            *bit = t[i].bit;
            return true;
        }
    }
    return false;
}

static enum err parse_list(const struct name_bit *t, size_t n, const char *list, unsigned *out,
                           const char *what, struct err_detail *d)
{
    const char *p = list;

    *out = 0;
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ",");
        unsigned bit;
        if (!bit_of(t, n, p, len, &bit))
            return err_set(d, ERR_INVALID, "invalid_limit", "unknown %s '%.*s'", what, (int)len, p);
        *out |= bit;
        p += len;
        if (*p == ',')
            p++;
    }
    if (*out == 0)
        return err_set(d, ERR_INVALID, "invalid_limit", "an empty list of %ss", what);
    return ERR_OK;
}

enum err auth_limits_parse_roles(const char *list, unsigned *out, struct err_detail *d)
{
    return parse_list(login_roles, 2, list, out, "login role", d);
}

enum err auth_limits_parse_types(const char *list, unsigned *out, struct err_detail *d)
{
    return parse_list(principal_types, 3, list, out, "principal type", d);
}

static bool good_object_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static enum err bits_from_json(const struct name_bit *t, size_t n, json_t *arr, unsigned *out,
                               struct err_detail *d)
{
    size_t i;
    json_t *v;

    *out = 0;
    if (arr == NULL)
        return ERR_OK;
    if (!json_is_array(arr))
        return err_set(d, ERR_INVALID, "invalid_limit", "grant limits: a list was expected");
    json_array_foreach(arr, i, v)
    {
        unsigned bit;
        const char *s = json_string_value(v);
        if (s == NULL || !bit_of(t, n, s, strlen(s), &bit))
            return err_set(d, ERR_INVALID, "invalid_limit", "grant limits: unknown value");
        *out |= bit;
    }
    return ERR_OK;
}

enum err auth_limits_from_json(const char *text, struct auth_limits *out, struct err_detail *d)
{
    json_error_t jerr;
    json_t *root, *roles = NULL, *types = NULL;
    const char *member = NULL;
    enum err rc = ERR_OK;

    *out = (struct auth_limits){0};
    if (text == NULL || text[0] == '\0')
        return ERR_OK;
    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL ||
        json_unpack_ex(root, &jerr, JSON_STRICT, "{s?o, s?o, s?s}", "loginRoles", &roles,
                       "principalTypes", &types, "memberOf", &member) != 0) {
        rc = err_set(d, ERR_INVALID, "invalid_limit", "grant limits: %s", jerr.text);
        goto out;
    }
    rc = bits_from_json(login_roles, 2, roles, &out->grant_roles, d);
    if (rc == ERR_OK)
        rc = bits_from_json(principal_types, 3, types, &out->principal_types, d);
    if (rc == ERR_OK && member != NULL) {
        if (!good_object_id(member))
            rc = err_set(d, ERR_INVALID, "invalid_limit", "grant limits: memberOf is an object id");
        else
            snprintf(out->member_of, sizeof(out->member_of), "%s", member);
    }
out:
    json_decref(root);
    return rc;
}

static json_t *bits_to_json(const struct name_bit *t, size_t n, unsigned bits)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        if (bits & t[i].bit)
            json_array_append_new(arr, json_string(t[i].name));
    return arr;
}

char *auth_limits_to_json(const struct auth_limits *l)
{
    json_t *o = json_object();
    char *s;

    if (l->grant_roles != 0)
        json_object_set_new(o, "loginRoles", bits_to_json(login_roles, 2, l->grant_roles));
    if (l->principal_types != 0)
        json_object_set_new(o, "principalTypes",
                            bits_to_json(principal_types, 3, l->principal_types));
    if (l->member_of[0] != '\0')
        json_object_set_new(o, "memberOf", json_string(l->member_of));
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* What a role may grant before any per-caller limit. */
static unsigned role_grants(enum auth_role r)
{
    if (r >= AUTH_ROLE_ADMINISTRATOR)
        return AUTH_GRANT_USER | AUTH_GRANT_ADMINISTRATOR;
    if (r == AUTH_ROLE_OPERATOR)
        return AUTH_GRANT_USER;
    return 0;
}

enum err auth_check_grant(const struct auth_caller *c, const struct auth_grant_request *g,
                          struct err_detail *d)
{
    unsigned role_bit, type_bit, allowed;
    enum err rc;

    rc = auth_check_role(c, AUTH_ROLE_OPERATOR, d);
    if (rc != ERR_OK)
        return rc;
    if (g->login_role == NULL ||
        !bit_of(login_roles, 2, g->login_role, strlen(g->login_role), &role_bit))
        return err_set(d, ERR_INVALID, "invalid_role", "the login role is user or administrator");
    if (g->principal_type == NULL ||
        !bit_of(principal_types, 3, g->principal_type, strlen(g->principal_type), &type_bit))
        return err_set(d, ERR_INVALID, "invalid_principal_type",
                       "the principal type is User, Group or ServicePrincipal");
    rc = auth_check_scope(c, g->scope, d);
    if (rc != ERR_OK)
        return rc;
    allowed = role_grants(c->role);
    if (c->limits.grant_roles != 0)
        allowed &= c->limits.grant_roles;
    if ((allowed & role_bit) == 0)
        return err_set(d, ERR_FORBIDDEN, "grant_role_forbidden",
                       "the caller (%s) may not grant or revoke %s login", auth_role_name(c->role),
                       g->login_role);
    if (c->limits.principal_types != 0 && (c->limits.principal_types & type_bit) == 0)
        return err_set(d, ERR_FORBIDDEN, "principal_type_forbidden",
                       "the caller may not grant login to a principal of type %s",
                       g->principal_type);
    if (c->limits.principal_types != 0 && g->type_unverified) {
        if (g->deferred == NULL)
            return err_set(d, ERR_FORBIDDEN, "principal_type_forbidden",
                           "the directory has not confirmed the principal's type");
        *g->deferred = true; /* the claimed type passes; the real one is checked before use */
    }
    if (c->limits.member_of[0] == '\0')
        return ERR_OK;
    if (g->principal_id != NULL && strcasecmp(g->principal_id, c->limits.member_of) == 0)
        return ERR_OK;
    if (g->principal_id != NULL && g->is_member != NULL &&
        g->is_member(g->is_member_arg, c->limits.member_of, g->principal_id))
        return ERR_OK;
    /* the store knows members of groups that hold assignments only: ask the directory later */
    if (g->deferred != NULL &&
        (g->principal_id == NULL || g->type_unverified ||
         (g->knows_members != NULL && !g->knows_members(g->is_member_arg, c->limits.member_of)))) {
        *g->deferred = true;
        return ERR_OK;
    }
    return err_set(d, ERR_FORBIDDEN, "principal_not_member",
                   "the caller may grant login only to members of group %s", c->limits.member_of);
}
