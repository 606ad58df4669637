/* azure_graph.c: Microsoft Graph v1.0 reads and the one write vmlogind makes (creating the
 * sign-in app's service principal). Always $select to keep requests cheap; string literals in
 * $filter double their quotes; guest UPNs send '#' as %23. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define USER_SELECT "$select=id,userPrincipalName,userType,accountEnabled,displayName"
#define OBJ_SELECT "$select=id,displayName,userPrincipalName,appId,userType,accountEnabled"
#define DEVICE_SELECT                                                                              \
    "$select=id,deviceId,displayName,operatingSystem,operatingSystemVersion,trustType,"            \
    "accountEnabled,approximateLastSignInDateTime"
#define SP_SELECT "$select=id,appId,displayName,servicePrincipalType,accountEnabled"

/* ---- parsing ----------------------------------------------------------------------------- */

static void user_parse(const json_t *o, void *out)
{
    struct azure_user *u = out;
    const json_t *en = json_object_get(o, "accountEnabled");

    u->id = azure_json_dup(o, "id");
    u->upn = azure_json_dup(o, "userPrincipalName");
    u->user_type = azure_json_dup(o, "userType");
    u->display_name = azure_json_dup(o, "displayName");
    u->has_account_enabled = json_is_boolean(en);
    u->account_enabled = json_is_true(en);
}

void azure_user_cleanup(struct azure_user *u)
{
    if (u == NULL)
        return;
    free(u->id);
    free(u->upn);
    free(u->user_type);
    free(u->display_name);
    memset(u, 0, sizeof(*u));
}

void azure_directory_object_parse(const json_t *o, void *out)
{
    struct azure_directory_object *d = out;
    const char *t = azure_json_str(o, "@odata.type");
    static const char prefix[] = "#microsoft.graph.";

    d->id = azure_json_dup(o, "id");
    if (t != NULL && strncasecmp(t, prefix, sizeof(prefix) - 1) == 0)
        t += sizeof(prefix) - 1;
    d->kind = t != NULL ? xstrdup(t) : NULL;
    d->display_name = azure_json_dup(o, "displayName");
    d->upn = azure_json_dup(o, "userPrincipalName");
    d->app_id = azure_json_dup(o, "appId");
    d->deleted_date_time = azure_json_dup(o, "deletedDateTime");
    d->user_type = azure_json_dup(o, "userType");
    d->has_account_enabled = json_is_boolean(json_object_get(o, "accountEnabled"));
    d->account_enabled = json_is_true(json_object_get(o, "accountEnabled"));
}

void azure_directory_object_cleanup(struct azure_directory_object *o)
{
    if (o == NULL)
        return;
    free(o->id);
    free(o->kind);
    free(o->display_name);
    free(o->upn);
    free(o->app_id);
    free(o->deleted_date_time);
    free(o->user_type);
    memset(o, 0, sizeof(*o));
}

static void object_cleanup_v(void *p)
{
    azure_directory_object_cleanup(p);
}

static enum err deliver_objects(const struct azure_typed_page *tp, const void *items, size_t n)
{
    return ((azure_objects_fn)tp->fn)(items, n, tp->arg);
}

static void device_parse(const json_t *o, void *out)
{
    struct azure_device *d = out;

    d->id = azure_json_dup(o, "id");
    d->device_id = azure_json_dup(o, "deviceId");
    d->display_name = azure_json_dup(o, "displayName");
    d->operating_system = azure_json_dup(o, "operatingSystem");
    d->operating_system_version = azure_json_dup(o, "operatingSystemVersion");
    d->trust_type = azure_json_dup(o, "trustType");
    d->account_enabled = json_is_true(json_object_get(o, "accountEnabled"));
    d->approximate_last_sign_in = azure_json_dup(o, "approximateLastSignInDateTime");
}

static void device_cleanup_v(void *p)
{
    struct azure_device *d = p;

    free(d->id);
    free(d->device_id);
    free(d->display_name);
    free(d->operating_system);
    free(d->operating_system_version);
    free(d->trust_type);
    free(d->approximate_last_sign_in);
}

static const struct azure_typed_page device_type = {
    .size = sizeof(struct azure_device), .parse = device_parse, .cleanup = device_cleanup_v};

void azure_devices_free(struct azure_device *d, size_t n)
{
    azure_typed_free_array(&device_type, d, n);
}

static void sp_parse(const json_t *o, void *out)
{
    struct azure_service_principal *sp = out;
    sp->id = azure_json_dup(o, "id");
    sp->app_id = azure_json_dup(o, "appId");
    sp->display_name = azure_json_dup(o, "displayName");
    sp->service_principal_type = azure_json_dup(o, "servicePrincipalType");
    sp->account_enabled = json_is_true(json_object_get(o, "accountEnabled"));
}

void azure_service_principal_cleanup(struct azure_service_principal *sp)
{
    if (sp == NULL)
        return;
    free(sp->id);
    free(sp->app_id);
    free(sp->display_name);
    free(sp->service_principal_type);
    memset(sp, 0, sizeof(*sp));
}

/* ---- requests ---------------------------------------------------------------------------- */

/* {graph}/v1.0{pre}{segment-encoded id}{post} */
static enum err graph_url(struct azure_client *c, const char *pre, const char *id, const char *post,
                          struct buf *url)
{
    struct buf path;
    enum err rc;

    buf_init(&path, AZURE_URL_MAX_BYTES);
    rc = buf_appends(&path, pre);
    if (rc == ERR_OK && id != NULL)
        rc = azure_url_encode_segment(&path, id);
    if (rc == ERR_OK && post != NULL)
        rc = buf_appends(&path, post);
    if (rc == ERR_OK)
        rc = azure_cloud_graph_url(&c->cloud, path.data, url);
    buf_cleanup(&path);
    return rc;
}

static enum err graph_get(struct azure_client *c, const char *url, const char *op, json_t **out,
                          struct azure_error *ae)
{
    struct azure_request rq = {.method = "GET", .url = url, .api = AZURE_API_GRAPH, .op = op};

    return azure_send_json(c, &rq, out, ae);
}

/* {graph}/v1.0{pre}'{literal}'{post}, the literal OData-quoted (for $filter values). */
static enum err graph_filter_url(struct azure_client *c, const char *pre, const char *literal,
                                 const char *post, struct buf *url)
{
    struct buf path;
    enum err rc;

    buf_init(&path, AZURE_URL_MAX_BYTES);
    rc = buf_appends(&path, pre);
    if (rc == ERR_OK)
        rc = azure_odata_quote_append(&path, literal);
    if (rc == ERR_OK && post != NULL)
        rc = buf_appends(&path, post);
    if (rc == ERR_OK)
        rc = azure_cloud_graph_url(&c->cloud, path.data, url);
    buf_cleanup(&path);
    return rc;
}

/* The first element of a {"value":[...]} answer, or ERR_NOT_FOUND. */
static enum err first_of(struct azure_client *c, const char *url, const char *op, json_t **root,
                         const json_t **item, struct azure_error *ae)
{
    enum err rc = graph_get(c, url, op, root, ae);

    *item = rc == ERR_OK ? json_array_get(json_object_get(*root, "value"), 0) : NULL;
    if (rc == ERR_OK && !json_is_object(*item)) {
        azure_error_clear(ae);
        ae->status = 404;
        azure_strlcpy(ae->code, "Request_ResourceNotFound", sizeof(ae->code));
        azure_strlcpy(ae->message, "no object matches the filter", sizeof(ae->message));
        rc = ERR_NOT_FOUND;
    }
    return rc;
}

/* Ends a GET whose URL building returned rc: the object (or, when first, the first element of
 * its "value" list) is parsed into out. Releases url. */
static enum err graph_fetch(struct azure_client *c, struct buf *url, enum err rc, const char *op,
                            bool first, void (*parse)(const json_t *, void *), void *out,
                            struct azure_error *ae)
{
    json_t *root = NULL;
    const json_t *item = NULL;

    if (rc == ERR_OK && first) {
        rc = first_of(c, url->data, op, &root, &item, ae);
    } else if (rc == ERR_OK) {
        rc = graph_get(c, url->data, op, &root, ae);
        item = root;
    }
    if (rc == ERR_OK)
        parse(item, out);
    json_decref(root);
    buf_cleanup(url);
    return rc;
}

enum err azure_graph_user_get(struct azure_client *c, const char *id_or_upn, struct azure_user *out,
                              struct azure_error *ae)
{
    struct buf url;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, AZURE_URL_MAX_BYTES);
    if (id_or_upn[0] == '$')
        rc = graph_filter_url(c, "/users(", id_or_upn, ")?" USER_SELECT, &url);
    else
        rc = graph_url(c, "/users/", id_or_upn, "?" USER_SELECT, &url);
    return graph_fetch(c, &url, rc, "graph_user_get", false, user_parse, out, ae);
}

enum err azure_graph_user_find_by_upn(struct azure_client *c, const char *upn,
                                      struct azure_user *out, struct azure_error *ae)
{
    struct buf url;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc =
        graph_filter_url(c, "/users?$filter=userPrincipalName%20eq%20", upn, "&" USER_SELECT, &url);
    return graph_fetch(c, &url, rc, "graph_user_find", true, user_parse, out, ae);
}

void azure_graph_principal_matches(const json_t *page, const char *kind, json_t *out)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(page, "value"), i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *dn = json_string_value(json_object_get(v, "displayName"));
        const char *upn = json_string_value(json_object_get(v, "userPrincipalName"));
        if (id != NULL)
            json_array_append_new(out, json_pack("{s:s, s:s, s:s?, s:s?}", "id", id, "kind", kind,
                                                 "displayName", dn, "userPrincipalName", upn));
    }
}

/* One kind's look-up: GET {graph}/v1.0{pre}'prefix'{mid}'prefix'{post} (mid NULL: one
 * startswith), its "value" appended to out with kind. */
static enum err search_kind(struct azure_client *c, const char *pre, const char *mid,
                            const char *post, const char *prefix, const char *kind, json_t *out,
                            struct azure_error *ae)
{
    struct buf path, url;
    json_t *root = NULL;
    enum err rc;

    buf_init(&path, AZURE_URL_MAX_BYTES);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = buf_appends(&path, pre);
    if (rc == ERR_OK)
        rc = azure_odata_quote_append(&path, prefix);
    if (rc == ERR_OK && mid != NULL)
        rc = buf_appends(&path, mid);
    if (rc == ERR_OK && mid != NULL)
        rc = azure_odata_quote_append(&path, prefix);
    if (rc == ERR_OK)
        rc = buf_appends(&path, post);
    if (rc == ERR_OK)
        rc = azure_cloud_graph_url(&c->cloud, path.data, &url);
    if (rc == ERR_OK)
        rc = graph_get(c, url.data, "graph_principal_search", &root, ae);
    if (rc == ERR_OK)
        azure_graph_principal_matches(root, kind, out);
    json_decref(root);
    buf_cleanup(&path);
    buf_cleanup(&url);
    return rc;
}

/* https://learn.microsoft.com/graph/api/user-list?view=graph-rest-1.0 and group-list: $filter
 * with startswith on displayName and userPrincipalName is supported without advanced query
 * parameters (https://learn.microsoft.com/graph/aad-advanced-queries, "startswith"), so no
 * ConsistencyLevel header; $top bounds the page. */
enum err azure_graph_principal_search(struct azure_client *c, const char *prefix, size_t max,
                                      json_t *out, struct azure_error *ae)
{
    char post[96];
    enum err rc;

    snprintf(post, sizeof(post), ")&$select=id,displayName,userPrincipalName&$top=%zu", max);
    rc = search_kind(c, "/users?$filter=startswith(displayName,",
                     ")%20or%20startswith(userPrincipalName,", post, prefix, "user", out, ae);
    if (rc == ERR_OK) {
        snprintf(post, sizeof(post), ")&$select=id,displayName&$top=%zu", max);
        rc = search_kind(c, "/groups?$filter=startswith(displayName,", NULL, post, prefix, "group",
                         out, ae);
    }
    return rc;
}

static enum err list_objects(struct azure_client *c, const char *pre, const char *id,
                             const char *post, const char *op, azure_objects_fn fn, void *arg,
                             struct azure_error *ae)
{
    struct azure_typed_page tp = {.size = sizeof(struct azure_directory_object),
                                  .parse = azure_directory_object_parse,
                                  .cleanup = object_cleanup_v,
                                  .deliver = deliver_objects,
                                  .fn = (void (*)(void))fn,
                                  .arg = arg};
    struct buf url;
    struct azure_request rq = {.method = "GET", .api = AZURE_API_GRAPH, .op = op};
    enum err rc;

    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = graph_url(c, pre, id, post, &url);
    rq.url = url.data;
    if (rc == ERR_OK)
        rc = azure_page_each(c, &rq, azure_typed_page_cb, &tp, ae);
    buf_cleanup(&url);
    return rc;
}

enum err azure_graph_user_member_of(struct azure_client *c, const char *user_id,
                                    azure_objects_fn fn, void *arg, struct azure_error *ae)
{
    return list_objects(c, "/users/", user_id, "/transitiveMemberOf?" OBJ_SELECT "&$top=999",
                        "graph_member_of", fn, arg, ae);
}

enum err azure_graph_group_members(struct azure_client *c, const char *group_id,
                                   azure_objects_fn fn, void *arg, struct azure_error *ae)
{
    return list_objects(c, "/groups/", group_id, "/transitiveMembers?" OBJ_SELECT "&$top=999",
                        "graph_group_members", fn, arg, ae);
}

static enum err ids_body(const char *const *ids, size_t n, struct buf *b)
{
    enum err rc = buf_appends(b, "{\"ids\":[");

    for (size_t i = 0; i < n && rc == ERR_OK; i++) {
        rc = i > 0 ? buf_appends(b, ",") : ERR_OK;
        if (rc == ERR_OK)
            rc = azure_json_append_str(b, ids[i]);
    }
    return rc == ERR_OK ? buf_appends(b, "]}") : rc;
}

enum err azure_graph_get_by_ids(struct azure_client *c, const char *const *ids, size_t n,
                                azure_objects_fn fn, void *arg, struct azure_error *ae)
{
    struct azure_typed_page tp = {.size = sizeof(struct azure_directory_object),
                                  .parse = azure_directory_object_parse,
                                  .cleanup = object_cleanup_v,
                                  .deliver = deliver_objects,
                                  .fn = (void (*)(void))fn,
                                  .arg = arg};
    struct buf url;
    struct buf body;
    enum err rc;

    buf_init(&url, AZURE_URL_MAX_BYTES);
    buf_init(&body, 64 * AZURE_GRAPH_GETBYIDS_MAX);
    rc = azure_cloud_graph_url(&c->cloud, "/directoryObjects/getByIds?" OBJ_SELECT, &url);
    for (size_t off = 0; off < n && rc == ERR_OK; off += AZURE_GRAPH_GETBYIDS_MAX) {
        size_t k = n - off < AZURE_GRAPH_GETBYIDS_MAX ? n - off : AZURE_GRAPH_GETBYIDS_MAX;
        struct azure_request rq = {.method = "POST",
                                   .url = url.data,
                                   .api = AZURE_API_GRAPH,
                                   .op = "graph_get_by_ids",
                                   .force_idempotent = true};
        json_t *root = NULL;

        buf_reset(&body);
        rc = ids_body(ids + off, k, &body);
        rq.body = body.data;
        if (rc == ERR_OK)
            rc = azure_send_json(c, &rq, &root, ae);
        if (rc == ERR_OK)
            rc = azure_typed_page_cb(json_object_get(root, "value"), &tp);
        json_decref(root);
    }
    buf_cleanup(&url);
    buf_cleanup(&body);
    return rc;
}

enum err azure_graph_deleted_item_get(struct azure_client *c, const char *id,
                                      struct azure_directory_object *out, struct azure_error *ae)
{
    struct buf url;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = graph_url(c, "/directory/deletedItems/", id, NULL, &url);
    return graph_fetch(c, &url, rc, "graph_deleted_item_get", false, azure_directory_object_parse,
                       out, ae);
}

enum err azure_graph_devices_by_name(struct azure_client *c, const char *display_name,
                                     struct azure_device **out, size_t *n, struct azure_error *ae)
{
    struct buf url;
    json_t *root = NULL;
    enum err rc;

    *out = NULL;
    *n = 0;
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = graph_filter_url(c, "/devices?$filter=displayName%20eq%20", display_name,
                          "&" DEVICE_SELECT, &url);
    if (rc == ERR_OK)
        rc = graph_get(c, url.data, "graph_devices_by_name", &root, ae);
    if (rc == ERR_OK)
        *out = azure_typed_parse_array(&device_type, json_object_get(root, "value"), n);
    json_decref(root);
    buf_cleanup(&url);
    return rc;
}

enum err azure_graph_device_delete(struct azure_client *c, const char *id, bool *existed,
                                   struct azure_error *ae)
{
    char path[64];
    struct buf url;
    struct azure_response rs;
    struct azure_request rq = {
        .method = "DELETE", .api = AZURE_API_GRAPH, .op = "graph_device_delete"};
    enum err rc;

    azure_error_clear(ae);
    if (existed != NULL)
        *existed = false;
    if (id == NULL || !uuid_is_valid(id))
        return ERR_INVALID;
    snprintf(path, sizeof(path), "/devices/%s", id);
    azure_response_init(&rs);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = azure_cloud_graph_url(&c->cloud, path, &url);
    rq.url = url.data;
    if (rc == ERR_OK)
        rc = azure_http_send(c, &rq, &rs, ae);
    if (existed != NULL)
        *existed = rc == ERR_OK;
    if (rc == ERR_NOT_FOUND)
        rc = ERR_OK; /* gone either way */
    azure_response_cleanup(&rs);
    buf_cleanup(&url);
    return rc;
}

enum err azure_graph_sp_by_app_id(struct azure_client *c, const char *app_id,
                                  struct azure_service_principal *out, struct azure_error *ae)
{
    struct buf url;
    enum err rc;

    memset(out, 0, sizeof(*out));
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = graph_filter_url(c, "/servicePrincipals?$filter=appId%20eq%20", app_id, "&" SP_SELECT,
                          &url);
    return graph_fetch(c, &url, rc, "graph_sp_get", true, sp_parse, out, ae);
}

enum err azure_graph_sp_create(struct azure_client *c, const char *app_id,
                               struct azure_service_principal *out, bool *existed,
                               struct azure_error *ae)
{
    struct buf url;
    struct buf body;
    json_t *root = NULL;
    struct azure_request rq = {.method = "POST", .api = AZURE_API_GRAPH, .op = "graph_sp_create"};
    enum err rc;

    memset(out, 0, sizeof(*out));
    *existed = false;
    buf_init(&url, AZURE_URL_MAX_BYTES);
    buf_init(&body, 1024);
    rc = azure_cloud_graph_url(&c->cloud, "/servicePrincipals", &url);
    if (rc == ERR_OK)
        rc = buf_appends(&body, "{\"appId\":");
    if (rc == ERR_OK)
        rc = azure_json_append_str(&body, app_id);
    if (rc == ERR_OK)
        rc = buf_appends(&body, "}");
    rq.url = url.data;
    rq.body = body.data;
    if (rc == ERR_OK)
        rc = azure_send_json(c, &rq, &root, ae);
    if (rc == ERR_OK) {
        sp_parse(root, out);
    } else if (rc == ERR_CONFLICT &&
               azure_error_is(ae, "Request_MultipleObjectsWithSameKeyValue")) {
        *existed = true;
        rc = azure_graph_sp_by_app_id(c, app_id, out, ae);
    }
    json_decref(root);
    buf_cleanup(&url);
    buf_cleanup(&body);
    return rc;
}
