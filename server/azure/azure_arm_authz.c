/* azure_arm_authz.c: Microsoft.Authorization: role definitions (get) and role assignments (list
 * with $filter, get, put under a caller-chosen GUID, delete). Role assignment calls are
 * synchronous: no LRO. Role definitions compare by their trailing GUID. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/xalloc.h"

#define RA_PATH "/providers/Microsoft.Authorization/roleAssignments"
#define RD_PATH "/providers/Microsoft.Authorization/roleDefinitions/"
#define SUB_MAX 128

static char *trailing_guid(const char *id)
{
    const char *slash = id != NULL ? strrchr(id, '/') : NULL;
    char *g;

    if (id == NULL)
        return NULL;
    g = xstrdup(slash != NULL ? slash + 1 : id);
    for (char *p = g; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return g;
}

void azure_role_assignment_parse(const json_t *o, void *out)
{
    struct azure_role_assignment *ra = out;
    const json_t *p = json_object_get(o, "properties");

    ra->id = azure_json_dup(o, "id");
    ra->name = azure_json_dup(o, "name");
    ra->scope = azure_json_dup(p, "scope");
    ra->role_definition_id = azure_json_dup(p, "roleDefinitionId");
    ra->role_definition_guid = trailing_guid(ra->role_definition_id);
    ra->principal_id = azure_json_dup(p, "principalId");
    ra->principal_type = azure_json_dup(p, "principalType");
    ra->description = azure_json_dup(p, "description");
    ra->condition = azure_json_dup(p, "condition");
    ra->created_on = azure_json_dup(p, "createdOn");
    ra->updated_on = azure_json_dup(p, "updatedOn");
}

static const struct azure_scan_field RA_PROPERTY_FIELDS[] = {
    {"scope", offsetof(struct azure_role_assignment, scope)},
    {"roleDefinitionId", offsetof(struct azure_role_assignment, role_definition_id)},
    {"principalId", offsetof(struct azure_role_assignment, principal_id)},
    {"principalType", offsetof(struct azure_role_assignment, principal_type)},
    {"description", offsetof(struct azure_role_assignment, description)},
    {"condition", offsetof(struct azure_role_assignment, condition)},
    {"createdOn", offsetof(struct azure_role_assignment, created_on)},
    {"updatedOn", offsetof(struct azure_role_assignment, updated_on)},
    {NULL, 0},
};
static const struct azure_scan_field RA_FIELDS[] = {
    {"id", offsetof(struct azure_role_assignment, id)},
    {"name", offsetof(struct azure_role_assignment, name)},
    {NULL, 0},
};

/* azure_role_assignment_parse from a scanner, inside the item's object (list pages). */
void azure_role_assignment_scan(struct azure_scan *s, void *out)
{
    struct azure_role_assignment *ra = out;

    while (azure_scan_member(s)) {
        if (azure_scan_str_member(s, ra, RA_FIELDS))
            continue;
        if (azure_scan_key_is(s, "properties")) {
            if (azure_scan_object(s))
                azure_scan_str_object(s, ra, RA_PROPERTY_FIELDS);
        } else
            (void)azure_scan_skip(s);
    }
    ra->role_definition_guid = trailing_guid(ra->role_definition_id);
}

void azure_role_assignment_cleanup(struct azure_role_assignment *ra)
{
    if (ra == NULL)
        return;
    free(ra->id);
    free(ra->name);
    free(ra->scope);
    free(ra->role_definition_id);
    free(ra->role_definition_guid);
    free(ra->principal_id);
    free(ra->principal_type);
    free(ra->description);
    free(ra->condition);
    free(ra->created_on);
    free(ra->updated_on);
    memset(ra, 0, sizeof(*ra));
}

static void ra_cleanup_v(void *p)
{
    azure_role_assignment_cleanup(p);
}

static enum err deliver_ras(const struct azure_typed_page *tp, const void *items, size_t n)
{
    return ((azure_role_assignments_fn)tp->fn)(items, n, tp->arg);
}

void azure_role_definition_cleanup(struct azure_role_definition *d)
{
    if (d == NULL)
        return;
    free(d->id);
    free(d->name);
    free(d->role_name);
    free(d->role_type);
    azure_strv_free(d->actions, d->n_actions);
    azure_strv_free(d->data_actions, d->n_data_actions);
    memset(d, 0, sizeof(*d));
}

/* The subscription of a scope, for the throttle bucket; NULL for tenant scopes. */
static const char *scope_sub(const char *scope, char *out, size_t cap)
{
    return scope != NULL && azure_id_segment(scope, "subscriptions", out, cap) ? out : NULL;
}

/* {arm}{scope}{suffix}[name]?api-version=authz[tail] */
static enum err authz_url(struct azure_client *c, const char *scope, const char *suffix,
                          const char *name, const char *tail, struct buf *url)
{
    struct buf path;
    enum err rc;

    buf_init(&path, AZURE_URL_MAX_BYTES);
    rc = buf_printf(&path, "%s%s", scope != NULL ? scope : "", suffix);
    if (rc == ERR_OK && name != NULL)
        rc = azure_url_encode(&path, name);
    if (rc == ERR_OK)
        rc = azure_arm_url(c, path.data, c->authz_api, tail, url);
    buf_cleanup(&path);
    return rc;
}

enum err azure_role_definition_get(struct azure_client *c, const char *scope, const char *guid,
                                   struct azure_role_definition *out, struct azure_error *ae)
{
    char sub[SUB_MAX];
    struct buf url;
    json_t *root = NULL;
    const json_t *perm;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = authz_url(c, scope, RD_PATH, guid, NULL, &url);
    if (rc == ERR_OK)
        rc = azure_arm_get_json(c, url.data, scope_sub(scope, sub, sizeof(sub)),
                                "role_definition_get", &root, ae);
    if (rc == ERR_OK) {
        out->id = azure_json_dup(root, "id");
        out->name = azure_json_dup(root, "name");
        out->role_name = azure_json_path_dup(root, "properties.roleName");
        out->role_type = azure_json_path_dup(root, "properties.type");
        perm = json_array_get(azure_json_path(root, "properties.permissions"), 0);
        out->actions = azure_strv_from_json(json_object_get(perm, "actions"), &out->n_actions);
        out->data_actions =
            azure_strv_from_json(json_object_get(perm, "dataActions"), &out->n_data_actions);
    }
    json_decref(root);
    buf_cleanup(&url);
    return rc;
}

/* Appends " and "-joined "{pre}{id with ' doubled}{post}" (id may be NULL). */
static enum err filter_part(struct buf *f, const char *pre, const char *id, const char *post)
{
    enum err rc = f->len > 0 ? buf_appends(f, " and ") : ERR_OK;

    if (rc == ERR_OK)
        rc = buf_appends(f, pre);
    for (const char *p = id; p != NULL && *p != '\0' && rc == ERR_OK; p++)
        rc = *p == '\'' ? buf_appends(f, "''") : buf_append(f, p, 1);
    if (rc == ERR_OK && post != NULL)
        rc = buf_appends(f, post);
    return rc;
}

enum err azure_ra_filter_append(const void *filter, struct buf *out)
{
    const struct azure_ra_filter *fl = filter;
    struct buf f;
    enum err rc = ERR_OK;

    if (fl == NULL)
        return ERR_OK;
    buf_init(&f, 1024);
    if (fl->at_scope)
        rc = filter_part(&f, "atScope()", NULL, NULL);
    if (rc == ERR_OK && fl->principal_id != NULL)
        rc = filter_part(&f, "principalId eq '", fl->principal_id, "'");
    if (rc == ERR_OK && fl->assigned_to != NULL)
        rc = filter_part(&f, "assignedTo('", fl->assigned_to, "')");
    if (rc == ERR_OK && f.len > 0) {
        rc = buf_appends(out, "&$filter=");
        if (rc == ERR_OK)
            rc = azure_url_encode(out, f.data);
    }
    buf_cleanup(&f);
    return rc;
}

enum err azure_role_assignments_list(struct azure_client *c, const char *scope,
                                     const struct azure_ra_filter *filter,
                                     azure_role_assignments_fn fn, void *arg,
                                     struct azure_error *ae)
{
    struct azure_typed_page tp = {.size = sizeof(struct azure_role_assignment),
                                  .parse = azure_role_assignment_parse,
                                  .scan = azure_role_assignment_scan,
                                  .idle = true,
                                  .cleanup = ra_cleanup_v,
                                  .deliver = deliver_ras,
                                  .fn = (void (*)(void))fn,
                                  .arg = arg};
    char sub[SUB_MAX];
    struct buf tail;
    struct buf url;
    struct azure_request rq = {.method = "GET", .api = AZURE_API_ARM, .op = "role_assignment_list"};
    enum err rc;

    buf_init(&tail, AZURE_URL_MAX_BYTES);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = azure_ra_filter_append(filter, &tail);
    if (rc == ERR_OK)
        rc = authz_url(c, scope, RA_PATH, NULL, tail.data, &url);
    rq.url = url.data;
    rq.subscription = scope_sub(scope, sub, sizeof(sub));
    if (rc == ERR_OK)
        rc = azure_page_each_typed(c, &rq, &tp, ae);
    buf_cleanup(&tail);
    buf_cleanup(&url);
    return rc;
}

enum err azure_role_assignment_get(struct azure_client *c, const char *scope, const char *name,
                                   struct azure_role_assignment *out, struct azure_error *ae)
{
    char sub[SUB_MAX];
    struct buf url;
    json_t *root = NULL;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = authz_url(c, scope, RA_PATH "/", name, NULL, &url);
    if (rc == ERR_OK)
        rc = azure_arm_get_json(c, url.data, scope_sub(scope, sub, sizeof(sub)),
                                "role_assignment_get", &root, ae);
    if (rc == ERR_OK)
        azure_role_assignment_parse(root, out);
    json_decref(root);
    buf_cleanup(&url);
    return rc;
}

/* A bare GUID becomes /subscriptions/{s}/providers/.../roleDefinitions/{guid} (or the tenant
 * form when the scope has no subscription). */
static enum err role_definition_id(const struct azure_role_assignment_spec *s, struct buf *out)
{
    char sub[SUB_MAX];

    if (strchr(s->role_definition, '/') != NULL)
        return buf_appends(out, s->role_definition);
    if (scope_sub(s->scope, sub, sizeof(sub)) != NULL)
        return buf_printf(out, "/subscriptions/%s" RD_PATH "%s", sub, s->role_definition);
    return buf_printf(out, RD_PATH "%s", s->role_definition);
}

static enum err ra_body(const struct azure_role_assignment_spec *s, struct buf *b)
{
    struct buf rd;
    enum err rc;

    buf_init(&rd, 1024);
    rc = role_definition_id(s, &rd);
    if (rc == ERR_OK)
        rc = buf_appends(b, "{\"properties\":{\"roleDefinitionId\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(b, rd.data);
    if (rc == ERR_OK)
        rc = buf_appends(b, ",\"principalId\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(b, s->principal_id);
    if (rc == ERR_OK)
        rc = buf_appends(b, ",\"principalType\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(b, s->principal_type != NULL ? s->principal_type : "User");
    if (rc == ERR_OK && s->description != NULL) {
        rc = buf_appends(b, ",\"description\":");
        if (rc == ERR_OK)
            rc = azure_json_append_str(b, s->description);
    }
    if (rc == ERR_OK)
        rc = buf_appends(b, "}}");
    buf_cleanup(&rd);
    return rc;
}

enum err azure_role_assignment_put(struct azure_client *c,
                                   const struct azure_role_assignment_spec *spec,
                                   struct azure_role_assignment *out, struct azure_error *ae)
{
    char sub[SUB_MAX];
    struct buf url;
    struct buf body;
    json_t *root = NULL;
    /* a role assignment unblocks nothing long: it yields to the VM writes that do (an
     * extension's install takes minutes after its PUT) */
    struct azure_request rq = {
        .method = "PUT", .api = AZURE_API_ARM, .op = "role_assignment_put", .yields = true};
    enum err rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    azure_error_clear(ae);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    buf_init(&body, 64 * 1024);
    rc = authz_url(c, spec->scope, RA_PATH "/", spec->name, NULL, &url);
    if (rc == ERR_OK)
        rc = ra_body(spec, &body);
    rq.url = url.data;
    rq.body = body.data;
    rq.subscription = scope_sub(spec->scope, sub, sizeof(sub));
    if (rc == ERR_OK)
        rc = azure_send_json(c, &rq, &root, ae);
    if (rc == ERR_OK && out != NULL)
        azure_role_assignment_parse(root, out);
    json_decref(root);
    buf_cleanup(&url);
    buf_cleanup(&body);
    return rc;
}

enum err azure_role_assignment_delete(struct azure_client *c, const char *scope, const char *name,
                                      bool *existed, struct azure_error *ae)
{
    char sub[SUB_MAX];
    struct buf url;
    struct azure_response rs;
    struct azure_request rq = {
        .method = "DELETE", .api = AZURE_API_ARM, .op = "role_assignment_delete"};
    enum err rc;

    azure_response_init(&rs);
    azure_error_clear(ae);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = authz_url(c, scope, RA_PATH "/", name, NULL, &url);
    rq.url = url.data;
    rq.subscription = scope_sub(scope, sub, sizeof(sub));
    if (rc == ERR_OK)
        rc = azure_http_send(c, &rq, &rs, ae);
    if (existed != NULL)
        *existed = rc == ERR_OK && rs.status == 200;
    if (rc == ERR_NOT_FOUND)
        rc = ERR_OK; /* gone either way */
    azure_response_cleanup(&rs);
    buf_cleanup(&url);
    return rc;
}

/* ---- the caller's own permissions ---------------------------------------------------------- */

struct perm_acc {
    struct azure_permission *v;
    size_t n;
};

static enum err perm_page(const json_t *value, void *arg)
{
    struct perm_acc *a = arg;

    if (a->n + json_array_size(value) > 10000)
        return ERR_TOO_LARGE;
    a->v = xreallocarray(a->v, xadd(a->n, json_array_size(value) + 1), sizeof(*a->v));
    for (size_t i = 0; i < json_array_size(value); i++) {
        const json_t *e = json_array_get(value, i);
        struct azure_permission *p = &a->v[a->n++];
        p->actions = azure_strv_from_json(json_object_get(e, "actions"), &p->n_actions);
        p->not_actions = azure_strv_from_json(json_object_get(e, "notActions"), &p->n_not_actions);
    }
    return ERR_OK;
}

void azure_permissions_free(struct azure_permission *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        azure_strv_free(v[i].actions, v[i].n_actions);
        azure_strv_free(v[i].not_actions, v[i].n_not_actions);
    }
    free(v);
}

/* Permissions_ListForResourceGroup / Permissions_ListForResource (2022-04-01,
 * authorization-RoleDefinitionsCalls.json): x-ms-pageable with nextLink. */
enum err azure_permissions_list(struct azure_client *c, const char *scope,
                                struct azure_permission **out, size_t *n, struct azure_error *ae)
{
    char sub[SUB_MAX];
    struct buf url;
    struct azure_request rq = {.method = "GET", .api = AZURE_API_ARM, .op = "permissions_list"};
    struct perm_acc acc = {0};
    enum err rc;

    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = authz_url(c, scope, "/providers/Microsoft.Authorization/permissions", NULL, NULL, &url);
    rq.url = url.data;
    rq.subscription = scope_sub(scope, sub, sizeof(sub));
    if (rc == ERR_OK)
        rc = azure_page_each(c, &rq, perm_page, &acc, ae);
    if (rc != ERR_OK) {
        azure_permissions_free(acc.v, acc.n);
        acc = (struct perm_acc){0};
    }
    *out = acc.v;
    *n = acc.n;
    buf_cleanup(&url);
    return rc;
}
