/* sim_graph.c: Microsoft Graph v1.0 over the simulated directory: users, groups, devices,
 * service principals, directoryObjects, transitive membership, soft-deleted items, with
 * $select, the few $filter forms clients use, and @odata.nextLink paging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

#define GRAPH_PAGE 100
#define GRAPH_MAX_PAGE 999

static const char *odata_type(const struct sim_principal *p)
{
    static const char *t[] = {"#microsoft.graph.user", "#microsoft.graph.group",
                              "#microsoft.graph.servicePrincipal", "#microsoft.graph.device"};
    return t[p->kind];
}

static bool selected(const char *select, const char *field)
{
    size_t n = strlen(field);
    const char *p = select;

    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        if (len == n && strncasecmp(p, field, n) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static void put_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static json_t *full_json(const struct sim_principal *p)
{
    json_t *o = json_pack("{s:s, s:s}", "@odata.type", odata_type(p), "id", p->id);

    put_str(o, "displayName", p->display_name);
    switch (p->kind) {
    case PR_USER:
        json_object_set_new(o, "businessPhones", json_array());
        put_str(o, "givenName", NULL);
        put_str(o, "jobTitle", NULL);
        put_str(o, "mail", p->upn);
        put_str(o, "mobilePhone", NULL);
        put_str(o, "officeLocation", NULL);
        put_str(o, "preferredLanguage", NULL);
        put_str(o, "surname", NULL);
        put_str(o, "userPrincipalName", p->upn);
        put_str(o, "userType", p->user_type);
        json_object_set_new(o, "accountEnabled", json_boolean(p->enabled));
        break;
    case PR_GROUP:
        json_object_set_new(o, "securityEnabled", json_true());
        json_object_set_new(o, "mailEnabled", json_false());
        json_object_set_new(o, "groupTypes", json_array());
        break;
    case PR_SP:
        put_str(o, "appId", p->app_id);
        put_str(o, "appDisplayName", p->display_name);
        put_str(o, "servicePrincipalType", p->sp_type);
        json_object_set_new(o, "servicePrincipalNames", json_deep_copy(p->spns));
        json_object_set_new(o, "accountEnabled", json_boolean(p->enabled));
        break;
    case PR_DEVICE:
        put_str(o, "deviceId", p->device_id);
        put_str(o, "operatingSystem", p->os);
        put_str(o, "operatingSystemVersion", p->os_version);
        put_str(o, "trustType", p->trust_type);
        json_object_set_new(o, "accountEnabled", json_boolean(p->enabled));
        if (p->created_ms != 0) { /* joined while azsim runs: signed in at its join */
            char ts[32];
            clock_fmt_rfc3339(p->created_ms, ts, sizeof(ts));
            put_str(o, "approximateLastSignInDateTime", ts);
        } else {
            put_str(o, "approximateLastSignInDateTime", "2026-11-01T08:00:00Z");
        }
        break;
    }
    if (p->soft_deleted) {
        char ts[32];
        clock_fmt_rfc3339(p->deleted_ms, ts, sizeof(ts));
        put_str(o, "deletedDateTime", ts);
    }
    return o;
}

/* select NULL: Graph's default property set (users omit userType/accountEnabled). */
json_t *sim_principal_to_json(const struct sim_principal *p, const char *select)
{
    json_t *full = full_json(p);
    json_t *out;
    const char *k;
    json_t *v;

    if (!select) {
        if (p->kind == PR_USER) {
            json_object_del(full, "userType");
            json_object_del(full, "accountEnabled");
        }
        return full;
    }
    out = json_pack("{s:s}", "@odata.type", odata_type(p));
    json_object_foreach(full, k, v)
    {
        if (selected(select, k))
            json_object_set(out, k, v);
    }
    json_decref(full);
    return out;
}

static __thread const char *cur_select;

static json_t *render(void *p)
{
    return sim_principal_to_json(p, cur_select);
}

static size_t page_size(struct sim_req *r)
{
    const char *top = sim_query(r, "$top");
    long n = top ? strtol(top, NULL, 10) : 0;

    if (n > 0)
        return (size_t)(n > GRAPH_MAX_PAGE ? GRAPH_MAX_PAGE : n);
    return S.page_size > 0 ? (size_t)S.page_size : GRAPH_PAGE;
}

static void reply_list(struct sim_req *r, const struct sim_vec *v, const char *ctx)
{
    const char *sel = sim_query(r, "$select");
    const char *flt = sim_query(r, "$filter");
    const char *top = sim_query(r, "$top");
    char *extra = xstrdup("");
    json_t *body;
    char *ctxurl;

    if (sel || flt || top) {
        char *e1 = sel ? sim_urlenc(sel) : NULL;
        char *e2 = flt ? sim_urlenc(flt) : NULL;
        free(extra);
        extra =
            xasprintf("%s%s%s%s%s%s", sel ? "&$select=" : "", sel ? e1 : "", flt ? "&$filter=" : "",
                      flt ? e2 : "", top ? "&$top=" : "", top ? top : "");
        free(e1);
        free(e2);
    }
    cur_select = sel;
    sim_page_vec(r, v, render, "@odata.nextLink", extra, page_size(r));
    cur_select = NULL;
    free(extra);
    /* sim_page_vec produced the body; add @odata.context */
    body = json_loads(r->resp, 0, NULL);
    ctxurl = sim_url(r, "/v1.0/$metadata#%s", ctx);
    json_object_set_new(body, "@odata.context", json_string(ctxurl));
    free(ctxurl);
    sim_reply_json(r, 200, body);
}

static struct sim_principal *lookup(struct sim_req *r, const char *key, int kind)
{
    struct sim_principal *p = sim_principal_get(key);
    char buf[512];

    if (!p && key[0] == '(' && key[1] == '\'') {
        snprintf(buf, sizeof(buf), "%s", key + 2);
        buf[strcspn(buf, "'")] = '\0';
        key = buf;
        p = sim_principal_get(key);
    }
    if (!p && kind == PR_USER) {
        char *k = sim_lc(key);
        p = sim_map_get(&S.user_by_upn, k);
        free(k);
    }
    if (p && kind >= 0 && (int)p->kind != kind)
        p = NULL;
    if (!p)
        sim_graph_error(r, 404, "Request_ResourceNotFound",
                        "Resource '%s' does not exist or one of its queried reference-property "
                        "objects are not present.",
                        key);
    return p;
}

static bool eq_filter(const char *f, const char *prop, char *out, size_t cap)
{
    char prefix[64];
    const char *rest;

    snprintf(prefix, sizeof(prefix), "%s eq '", prop);
    return sim_parse_quoted(f, prefix, out, cap, &rest) && *rest == '\0';
}

static bool spn_filter(const char *f, char *out, size_t cap)
{
    const char *pre = "servicePrincipalNames/any(c:c eq '";
    size_t n;

    if (!f || !sim_iprefix(f, pre))
        return false;
    snprintf(out, cap, "%s", f + strlen(pre));
    n = strlen(out);
    if (n < 2 || strcmp(out + n - 2, "')") != 0)
        return false;
    out[n - 2] = '\0';
    return true;
}

/* startswith(prop,'v') [or startswith(prop,'v')]...: the prefix look-up the filter docs list
 * for users and groups (https://learn.microsoft.com/graph/filter-query-parameter, "startswith";
 * https://learn.microsoft.com/graph/api/user-list?view=graph-rest-1.0, "Get users ... whose
 * displayName starts with"; comparisons of directory object strings ignore case). *parsed says
 * whether f has that shape. */
static bool startswith_filter(const struct sim_principal *p, const char *f, bool *parsed)
{
    static const char *const props[] = {"displayName", "userPrincipalName", "mail"};
    bool hit = false;
    char v[512], prefix[64];

    *parsed = false;
    while (f != NULL && sim_iprefix(f, "startswith(")) {
        const char *rest = NULL, *have = NULL;
        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]) && rest == NULL; i++) {
            snprintf(prefix, sizeof(prefix), "startswith(%s,'", props[i]);
            if (sim_parse_quoted(f, prefix, v, sizeof(v), &rest))
                have = i == 0 ? p->display_name : p->upn;
        }
        if (rest == NULL || *rest != ')')
            return false;
        hit = hit || (have != NULL && sim_iprefix(have, v));
        f = rest + 1;
        if (*f == '\0') {
            *parsed = true;
            return hit;
        }
        f = sim_iprefix(f, " or ") ? f + 4 : NULL;
    }
    return false;
}

static bool matches(const struct sim_principal *p, const char *f, bool *bad)
{
    char v[512];
    bool parsed, hit;

    if (!f)
        return true;
    hit = startswith_filter(p, f, &parsed);
    if (parsed)
        return hit;
    if (eq_filter(f, "userPrincipalName", v, sizeof(v)))
        return sim_ieq(p->upn, v);
    if (eq_filter(f, "mail", v, sizeof(v)))
        return sim_ieq(p->upn, v);
    if (eq_filter(f, "displayName", v, sizeof(v)))
        return sim_ieq(p->display_name, v);
    if (eq_filter(f, "appId", v, sizeof(v)))
        return sim_ieq(p->app_id, v);
    if (eq_filter(f, "deviceId", v, sizeof(v)))
        return sim_ieq(p->device_id, v);
    if (eq_filter(f, "id", v, sizeof(v)))
        return sim_ieq(p->id, v);
    if (spn_filter(f, v, sizeof(v))) {
        for (size_t i = 0; i < json_array_size(p->spns); i++) {
            if (sim_ieq(json_string_value(json_array_get(p->spns, i)), v))
                return true;
        }
        return false;
    }
    *bad = true;
    return false;
}

static void collection(struct sim_req *r, int kind, const char *ctx)
{
    const char *f = sim_query(r, "$filter");
    struct sim_vec out = {0};
    bool bad = false;
    char v[512];

    /* fast paths through the indices */
    if (kind == PR_USER && eq_filter(f, "userPrincipalName", v, sizeof(v))) {
        char *k = sim_lc(v);
        struct sim_principal *p = sim_map_get(&S.user_by_upn, k);
        free(k);
        if (p)
            sim_vec_push(&out, p);
    } else if (kind == PR_SP && eq_filter(f, "appId", v, sizeof(v))) {
        char *k = sim_lc(v);
        struct sim_principal *p = sim_map_get(&S.sp_by_appid, k);
        free(k);
        if (p && !p->soft_deleted)
            sim_vec_push(&out, p);
    } else {
        for (size_t i = 0; i < S.principals.len && !bad; i++) {
            struct sim_principal *p = S.principals.items[i];
            if ((int)p->kind == kind && !p->soft_deleted && matches(p, f, &bad))
                sim_vec_push(&out, p);
        }
    }
    if (bad)
        sim_graph_error(r, 400, "Request_UnsupportedQuery", "Unsupported Query.");
    else
        reply_list(r, &out, ctx);
    sim_vec_cleanup(&out);
}

static void users(struct sim_req *r)
{
    collection(r, PR_USER, "users");
}
static void groups(struct sim_req *r)
{
    collection(r, PR_GROUP, "groups");
}
static void devices(struct sim_req *r)
{
    collection(r, PR_DEVICE, "devices");
}
static void sps(struct sim_req *r)
{
    collection(r, PR_SP, "servicePrincipals");
}

static int kind_of_seg(const char *s)
{
    if (sim_ieq(s, "users"))
        return PR_USER;
    if (sim_ieq(s, "groups"))
        return PR_GROUP;
    if (sim_ieq(s, "servicePrincipals"))
        return PR_SP;
    if (sim_ieq(s, "devices"))
        return PR_DEVICE;
    return -1; /* directoryObjects */
}

static void object_get(struct sim_req *r)
{
    int kind = kind_of_seg(r->segs[1]);
    struct sim_principal *p;
    const char *key = r->segs[2];
    char buf[128];
    json_t *j;
    char *ctx;

    if (kind == PR_SP && sim_iprefix(key, "(appId='")) {
        char *k;
        snprintf(buf, sizeof(buf), "%s", key + 8);
        buf[strcspn(buf, "'")] = '\0';
        k = sim_lc(buf);
        p = sim_map_get(&S.sp_by_appid, k);
        free(k);
        if (!p || p->soft_deleted) {
            sim_graph_error(r, 404, "Request_ResourceNotFound",
                            "Resource '%s' does not exist or one of its queried "
                            "reference-property objects are not present.",
                            buf);
            return;
        }
    } else {
        p = lookup(r, key, kind);
        if (!p)
            return;
    }
    j = sim_principal_to_json(p, sim_query(r, "$select"));
    ctx = sim_url(r, "/v1.0/$metadata#%s/$entity", r->segs[1]);
    json_object_set_new(j, "@odata.context", json_string(ctx));
    free(ctx);
    sim_reply_json(r, 200, j);
}

static void members_of(struct sim_req *r)
{
    int kind = kind_of_seg(r->segs[1]);
    struct sim_principal *p = lookup(r, r->segs[2], kind);
    bool transitive = sim_ieq(r->segs[3], "transitiveMemberOf");
    bool only_groups = r->nseg == 5;
    struct sim_vec out = {0};

    if (!p)
        return;
    if (transitive)
        sim_principal_groups(p, &out);
    else
        for (size_t i = 0; i < p->member_of.len; i++)
            sim_vec_push(&out, p->member_of.items[i]);
    (void)only_groups; /* everything in member_of is a group here */
    reply_list(r, &out, "directoryObjects");
    sim_vec_cleanup(&out);
}

static void collect_members(struct sim_principal *g, bool transitive, struct sim_vec *out)
{
    for (size_t i = 0; i < g->members.len; i++) {
        struct sim_principal *m = g->members.items[i];
        bool seen = false;
        for (size_t k = 0; k < out->len && !seen; k++)
            seen = out->items[k] == m;
        if (seen)
            continue;
        sim_vec_push(out, m);
        if (transitive && m->kind == PR_GROUP)
            collect_members(m, true, out);
    }
}

static void group_members(struct sim_req *r)
{
    struct sim_principal *g = lookup(r, r->segs[2], PR_GROUP);
    struct sim_vec out = {0};

    if (!g)
        return;
    collect_members(g, sim_ieq(r->segs[3], "transitiveMembers"), &out);
    reply_list(r, &out, "directoryObjects");
    sim_vec_cleanup(&out);
}

static void check_member_groups(struct sim_req *r)
{
    struct sim_principal *p = lookup(r, r->segs[2], kind_of_seg(r->segs[1]));
    json_t *body = sim_body_json(r);
    json_t *ids = json_object_get(body, "groupIds");
    struct sim_vec groups = {0};
    json_t *value;
    char *ctx;

    if (!p)
        goto out;
    if (!json_is_array(ids) || json_array_size(ids) > 20) {
        sim_graph_error(r, 400, "Request_BadRequest",
                        "Invalid value specified for property 'groupIds': at most 20 ids.");
        goto out;
    }
    sim_principal_groups(p, &groups);
    value = json_array();
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        for (size_t k = 0; id && k < groups.len; k++) {
            if (sim_ieq(((struct sim_principal *)groups.items[k])->id, id)) {
                json_array_append_new(value, json_string(id));
                break;
            }
        }
    }
    ctx = sim_url(r, "/v1.0/$metadata#Collection(Edm.String)");
    sim_reply_json(r, 200, json_pack("{s:s, s:o}", "@odata.context", ctx, "value", value));
    free(ctx);
out:
    sim_vec_cleanup(&groups);
    json_decref(body);
}

static void get_member_objects(struct sim_req *r)
{
    struct sim_principal *p = lookup(r, r->segs[2], kind_of_seg(r->segs[1]));
    struct sim_vec groups = {0};
    json_t *value;
    char *ctx;

    if (!p)
        return;
    sim_principal_groups(p, &groups);
    value = json_array();
    for (size_t k = 0; k < groups.len; k++)
        json_array_append_new(value, json_string(((struct sim_principal *)groups.items[k])->id));
    ctx = sim_url(r, "/v1.0/$metadata#Collection(Edm.String)");
    sim_reply_json(r, 200, json_pack("{s:s, s:o}", "@odata.context", ctx, "value", value));
    free(ctx);
    sim_vec_cleanup(&groups);
}

static void get_by_ids(struct sim_req *r)
{
    json_t *body = sim_body_json(r);
    json_t *ids = json_object_get(body, "ids");
    json_t *types = json_object_get(body, "types");
    json_t *value = json_array();
    char *ctx;

    if (!json_is_array(ids) || json_array_size(ids) > 1000) {
        json_decref(value);
        sim_graph_error(
            r, 400, "Request_BadRequest",
            "Invalid value specified for property 'ids' of resource 'DirectoryObject'.");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        struct sim_principal *p = id ? sim_principal_get(id) : NULL;
        bool ok = p && json_array_size(types) == 0;
        for (size_t k = 0; p && !ok && k < json_array_size(types); k++)
            ok = sim_ieq(json_string_value(json_array_get(types, k)), odata_type(p) + 17);
        if (ok) /* like Graph: $select applies (users show userType only when selected) */
            json_array_append_new(value, sim_principal_to_json(p, sim_query(r, "$select")));
    }
    ctx = sim_url(r, "/v1.0/$metadata#directoryObjects");
    sim_reply_json(r, 200, json_pack("{s:s, s:o}", "@odata.context", ctx, "value", value));
    free(ctx);
out:
    json_decref(body);
}

/* DELETE /v1.0/devices/{id}: Graph v1.0 "Delete device"
 * (https://learn.microsoft.com/graph/api/device-delete?view=graph-rest-1.0): 204 No Content;
 * 404 Request_ResourceNotFound when no device has that object id. The device is removed for
 * good (devices are not restorable from deletedItems), so the list
 * (https://learn.microsoft.com/graph/api/device-list?view=graph-rest-1.0, $filter=displayName
 * eq) no longer shows it and the hostname duplication check of an AADLoginForWindows install
 * (sim_arm_compute.c) no longer finds it. */
static void device_delete(struct sim_req *r)
{
    struct sim_principal *p = sim_principal_get(r->segs[2]);

    if (p == NULL || p->kind != PR_DEVICE) {
        sim_graph_error(r, 404, "Request_ResourceNotFound",
                        "Resource '%s' does not exist or one of its queried reference-property "
                        "objects are not present.",
                        r->segs[2]);
        return;
    }
    sim_principal_remove(p, false);
    sim_reply_json(r, 204, NULL);
}

static void sp_create(struct sim_req *r)
{
    json_t *body = sim_body_json(r);
    const char *app = json_string_value(json_object_get(body, "appId"));
    const char *dn = json_string_value(json_object_get(body, "displayName"));
    char *k;
    struct sim_principal *p;
    struct sim_app *a;
    char id[UUID_STR_LEN];

    if (!app || !uuid_is_valid(app)) {
        sim_graph_error(r, 400, "Request_BadRequest",
                        "Invalid value specified for property 'appId' of resource "
                        "'ServicePrincipal'.");
        goto out;
    }
    k = sim_lc(app);
    p = sim_map_get(&S.sp_by_appid, k);
    free(k);
    if (p && !p->soft_deleted) {
        sim_graph_error(r, 409, "Request_MultipleObjectsWithSameKeyValue",
                        "The service principal cannot be created, updated, or restored because "
                        "the service principal name %s is already in use.",
                        app);
        goto out;
    }
    a = sim_app_get(app);
    uuid_v4(id);
    p = sim_principal_new_sp(id, app,
                             a    ? a->display_name
                             : dn ? dn
                             : sim_ieq(app, "372140e0-b3b7-4226-8ef9-d57986796201")
                                 ? "Microsoft Azure Windows Virtual Machine Sign-in"
                                 : "Application",
                             "Application");
    sim_reply_json(r, 201, sim_principal_to_json(p, NULL));
out:
    json_decref(body);
}

static void deleted_item(struct sim_req *r)
{
    struct sim_principal *p = sim_principal_any(r->segs[3]);

    if (!p || !p->soft_deleted) {
        sim_graph_error(r, 404, "Request_ResourceNotFound",
                        "Resource '%s' does not exist or one of its queried reference-property "
                        "objects are not present.",
                        r->segs[3]);
        return;
    }
    sim_reply_json(r, 200, sim_principal_to_json(p, sim_query(r, "$select")));
}

/* ---- app roles ---- */

/* The application permissions that allow each call, least privileged first, as each call's
 * page in https://learn.microsoft.com/graph/api/ names them under "Permissions" (user-get,
 * group-get, group-list-transitivemembers, device-get, serviceprincipal-get,
 * serviceprincipal-post-serviceprincipals, directoryobject-getbyids,
 * user-list-transitivememberof, directoryobject-checkmembergroups,
 * directoryobject-getmemberobjects, directory-deleteditems-get). Directory.ReadWrite.All
 * appears on every read page as a higher privilege. */
#define R_DIR "Directory.Read.All", "Directory.ReadWrite.All"
static const char *const P_USERS[] = {"User.Read.All", "User.ReadWrite.All", R_DIR, NULL};
static const char *const P_GROUPS[] = {"GroupMember.Read.All", "Group.Read.All",
                                       "Group.ReadWrite.All", R_DIR, NULL};
static const char *const P_DEVICES[] = {"Device.Read.All", "Device.ReadWrite.All", R_DIR, NULL};
static const char *const P_SPS[] = {"Application.Read.All", "Application.ReadWrite.All", R_DIR,
                                    NULL};
static const char *const P_SP_CREATE[] = {
    "Application.ReadWrite.OwnedBy", "Application.ReadWrite.All", "Directory.ReadWrite.All", NULL};
static const char *const P_DIRECTORY[] = {R_DIR, NULL};
/* Delete device: application permission Device.ReadWrite.All (device-delete page above) */
static const char *const P_DEVICE_DELETE[] = {"Device.ReadWrite.All", NULL};
static const char *const P_MEMBERSHIP[] = {"GroupMember.Read.All", "Group.Read.All", R_DIR, NULL};
static const char *const P_DELETED[] = {"User.Read.All", "Group.Read.All", "Application.Read.All",
                                        R_DIR, NULL};

/* https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies: application
 * Policy.Read.All, no higher one; https://learn.microsoft.com/graph/api/signin-list:
 * application AuditLog.Read.All. */
static const char *const P_POLICIES[] = {"Policy.Read.All", NULL};
static const char *const P_SIGNINS[] = {"AuditLog.Read.All", NULL};

static const char *const *needed_roles(const struct sim_req *r, const char *op)
{
    if (strcmp(op, "graph.caPolicies.list") == 0)
        return P_POLICIES;
    if (strcmp(op, "graph.signIns.list") == 0)
        return P_SIGNINS;
    if (strcmp(op, "graph.sp.create") == 0)
        return P_SP_CREATE;
    if (strcmp(op, "graph.getByIds") == 0)
        return P_DIRECTORY;
    if (strcmp(op, "graph.device.delete") == 0)
        return P_DEVICE_DELETE;
    if (strcmp(op, "graph.deletedItems.get") == 0)
        return P_DELETED;
    if (strcmp(op, "graph.memberOf") == 0 || strcmp(op, "graph.checkMemberGroups") == 0 ||
        strcmp(op, "graph.getMemberObjects") == 0 || strcmp(op, "graph.group.members") == 0)
        return P_MEMBERSHIP;
    switch (kind_of_seg(r->segs[1])) {
    case PR_USER:
        return P_USERS;
    case PR_GROUP:
        return P_GROUPS;
    case PR_DEVICE:
        return P_DEVICES;
    case PR_SP:
        return P_SPS;
    default:
        return P_DIRECTORY;
    }
}

static bool holds(const char *roles, const char *role)
{
    size_t n = strlen(role);

    for (const char *p = roles; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncasecmp(p, role, n) == 0)
            return true;
        p += len + (comma != NULL);
    }
    return false;
}

bool sim_graph_roles_check(struct sim_req *r, const struct sim_route *rt)
{
    const char *const *need = needed_roles(r, rt->op);

    for (size_t i = 0; need[i]; i++) {
        if (holds(r->roles, need[i]))
            return true;
    }
    /* 403 Authorization_RequestDenied (azure-wire.md section 11 [O];
     * https://learn.microsoft.com/graph/resolve-auth-errors#403-forbidden-authorization_requestdenied)
     */
    sim_graph_error(r, 403, "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.");
    return false;
}

static bool set(struct sim_route *rt, sim_handler fn, const char *op, int tkind)
{
    rt->fn = fn;
    rt->op = op;
    rt->area = AREA_GRAPH;
    rt->tkind = tkind;
    return true;
}

/* GET /v1.0/<collection>: the lists azsim serves. */
static bool collection_route(struct sim_req *r, struct sim_route *rt)
{
    static const struct {
        const char *seg;
        sim_handler fn;
        const char *op;
    } lists[] = {
        {"users", users, "graph.users.list"},
        {"groups", groups, "graph.groups.list"},
        {"devices", devices, "graph.devices.list"},
        {"servicePrincipals", sps, "graph.sp.list"},
    };

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (sim_seg_is(r, 1, lists[i].seg))
            return set(rt, lists[i].fn, lists[i].op, 0);
    return false;
}

/* GET of the policy and sign-in log reads the sign-in diagnosis makes. */
static bool report_route(struct sim_req *r, struct sim_route *rt)
{
    int n = r->nseg;

    if (n == 4 && sim_seg_is(r, 1, "identity") && sim_seg_is(r, 2, "conditionalAccess") &&
        sim_seg_is(r, 3, "policies"))
        return set(rt, sim_signin_policies, "graph.caPolicies.list", 0);
    if (n == 3 && sim_seg_is(r, 1, "auditLogs") && sim_seg_is(r, 2, "signIns"))
        return set(rt, sim_signin_list, "graph.signIns.list", 0);
    return false;
}

bool sim_graph_route(struct sim_req *r, struct sim_route *rt)
{
    bool get = strcmp(r->method, "GET") == 0;
    bool post = strcmp(r->method, "POST") == 0;
    int n = r->nseg;
    bool obj;

    if (!sim_seg_is(r, 0, "v1.0") || n < 2)
        return false;
    obj = kind_of_seg(r->segs[1]) >= 0 || sim_seg_is(r, 1, "directoryObjects");
    if (get && n == 2 && collection_route(r, rt))
        return true;
    if (get && n == 2 && sim_iprefix(r->segs[1], "servicePrincipals(appId='")) {
        /* /servicePrincipals(appId='x') arrives as one segment */
        r->segs[2] = xstrdup(r->segs[1] + 17);
        r->segs[1][17] = '\0';
        r->nseg = 3;
        return set(rt, object_get, "graph.object.get", 0);
    }
    if (strcmp(r->method, "DELETE") == 0 && n == 3 && sim_seg_is(r, 1, "devices"))
        return set(rt, device_delete, "graph.device.delete", 2);
    if (post && n == 2 && sim_seg_is(r, 1, "servicePrincipals"))
        return set(rt, sp_create, "graph.sp.create", 1);
    if (post && n == 3 && sim_seg_is(r, 1, "directoryObjects") && sim_seg_is(r, 2, "getByIds"))
        return set(rt, get_by_ids, "graph.getByIds", 0);
    if (get && report_route(r, rt))
        return true;
    if (get && n == 4 && sim_seg_is(r, 1, "directory") && sim_seg_is(r, 2, "deletedItems"))
        return set(rt, deleted_item, "graph.deletedItems.get", 0);
    if (!obj || n < 3)
        return false;
    if (get && n == 3)
        return set(rt, object_get, "graph.object.get", 0);
    if (get && (n == 4 || n == 5) &&
        (sim_seg_is(r, 3, "transitiveMemberOf") || sim_seg_is(r, 3, "memberOf")))
        return set(rt, members_of, "graph.memberOf", 0);
    if (get && n == 4 && sim_seg_is(r, 1, "groups") &&
        (sim_seg_is(r, 3, "members") || sim_seg_is(r, 3, "transitiveMembers")))
        return set(rt, group_members, "graph.group.members", 0);
    if (post && n == 4 && sim_seg_is(r, 3, "checkMemberGroups"))
        return set(rt, check_member_groups, "graph.checkMemberGroups", 0);
    if (post && n == 4 && sim_seg_is(r, 3, "getMemberObjects"))
        return set(rt, get_member_objects, "graph.getMemberObjects", 0);
    return false;
}
