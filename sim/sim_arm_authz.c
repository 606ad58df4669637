/* sim_arm_authz.c: Microsoft.Authorization: the built-in role definitions the project cares
 * about (real GUIDs and permissions) and role assignments: PUT/GET/DELETE/list at any scope,
 * with ARM's validation rules and the atScope()/assignedTo()/principalId filters. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

struct role {
    const char *guid;
    const char *name;
    const char *description;
    const char *actions[10];
    const char *not_actions[4];
    const char *data_actions[5];
};

#define VM_READS                                                                                   \
    "Microsoft.Network/publicIPAddresses/read", "Microsoft.Network/virtualNetworks/read",          \
        "Microsoft.Network/loadBalancers/read", "Microsoft.Network/networkInterfaces/read",        \
        "Microsoft.Compute/virtualMachines/*/read", "Microsoft.HybridCompute/machines/*/read",     \
        "Microsoft.HybridConnectivity/endpoints/listCredentials/action"

static const struct role ROLES[] = {
    {"1c0163c0-47e6-4577-8991-ea5c82e286e4",
     "Virtual Machine Administrator Login",
     "View Virtual Machines in the portal and login as administrator",
     {VM_READS, NULL},
     {NULL},
     {"Microsoft.Compute/virtualMachines/login/action",
      "Microsoft.Compute/virtualMachines/loginAsAdmin/action",
      "Microsoft.HybridCompute/machines/login/action",
      "Microsoft.HybridCompute/machines/loginAsAdmin/action", NULL}},
    {"fb879df8-f326-4884-b1cf-06f3ad86be52",
     "Virtual Machine User Login",
     "View Virtual Machines in the portal and login as a regular user.",
     {VM_READS, NULL},
     {NULL},
     {"Microsoft.Compute/virtualMachines/login/action",
      "Microsoft.HybridCompute/machines/login/action", NULL}},
    {"66f75aeb-eabe-4b70-9f1e-c350c4c9ad04",
     "Virtual Machine Data Access Administrator (preview)",
     "Manage access to Virtual Machines by adding or removing role assignments for the Virtual "
     "Machine Administrator Login and Virtual Machine User Login roles.",
     {"Microsoft.Authorization/roleAssignments/write",
      "Microsoft.Authorization/roleAssignments/delete", "Microsoft.Compute/virtualMachines/*/read",
      NULL},
     {NULL},
     {NULL}},
    {"602da2ba-a5c2-41da-b01d-5360126ab525",
     "Virtual Machine Local User Login",
     "View Virtual Machines in the portal and login as a local user configured on the arc server",
     {"Microsoft.HybridCompute/machines/*/read",
      "Microsoft.HybridConnectivity/endpoints/listCredentials/action", NULL},
     {NULL},
     {NULL}},
    {"9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
     "Virtual Machine Contributor",
     "Create and manage virtual machines, manage disks, install and run software, reset password "
     "of the root user of the virtual machine using VM extensions, and manage local user "
     "accounts using VM extensions.",
     {"Microsoft.Authorization/*/read", "Microsoft.Compute/virtualMachines/*",
      "Microsoft.Compute/disks/*", "Microsoft.Network/networkInterfaces/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read", NULL},
     {NULL},
     {NULL}},
    {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
     "Owner",
     "Grants full access to manage all resources, including the ability to assign roles in "
     "Azure RBAC.",
     {"*", NULL},
     {NULL},
     {NULL}},
    {"b24988ac-6180-42a0-ab88-20f7382dd24c",
     "Contributor",
     "Grants full access to manage all resources, but does not allow you to assign roles in "
     "Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
     {"*", NULL},
     {"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action", NULL},
     {NULL}},
    {"acdd72a7-3385-48ef-bd42-f606fba81ae7",
     "Reader",
     "View all resources, but does not allow you to make any changes.",
     {"*/read", NULL},
     {NULL},
     {NULL}},
    {"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
     "User Access Administrator",
     "Lets you manage user access to Azure resources.",
     {"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*", NULL},
     {NULL},
     {NULL}},
    {"f58310d9-a9f6-439a-9e8d-f62e7b41a168",
     "Role Based Access Control Administrator",
     "Manage access to Azure resources by assigning roles using Azure RBAC.",
     {"Microsoft.Authorization/roleAssignments/write",
      "Microsoft.Authorization/roleAssignments/delete", "*/read", "Microsoft.Support/*", NULL},
     {NULL},
     {NULL}},
};
#define N_ROLES (sizeof(ROLES) / sizeof(ROLES[0]))

static const struct role *role_get(const char *guid)
{
    for (size_t i = 0; i < N_ROLES; i++) {
        if (sim_ieq(ROLES[i].guid, guid))
            return &ROLES[i];
    }
    return NULL;
}

const char *sim_role_guid_by_name(const char *name)
{
    for (size_t i = 0; i < N_ROLES; i++) {
        if (sim_ieq(ROLES[i].name, name))
            return ROLES[i].guid;
    }
    return NULL;
}

bool sim_role_exists(const char *guid)
{
    return role_get(guid) != NULL;
}

static json_t *strs(const char *const *a)
{
    json_t *j = json_array();

    for (; *a; a++)
        json_array_append_new(j, json_string(*a));
    return j;
}

/* "/subscriptions/{s}" prefix of a scope, or "" for tenant-level scopes. */
static char *sub_prefix(const char *scope)
{
    const char *p;

    if (!sim_iprefix(scope, "/subscriptions/"))
        return xstrdup("");
    p = strchr(scope + 15, '/');
    return p ? xstrndup(scope, (size_t)(p - scope)) : xstrdup(scope);
}

static json_t *role_json(const struct role *ro, const char *scope)
{
    char *pre = sub_prefix(scope);
    char *id = xasprintf("%s/providers/Microsoft.Authorization/roleDefinitions/%s", pre, ro->guid);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:[s], s:[{s:o, s:o, s:o, s:[]}], s:s, s:s, s:n, "
        "s:n}}",
        "id", id, "name", ro->guid, "type", "Microsoft.Authorization/roleDefinitions", "properties",
        "roleName", ro->name, "type", "BuiltInRole", "description", ro->description,
        "assignableScopes", "/", "permissions", "actions", strs(ro->actions), "notActions",
        strs(ro->not_actions), "dataActions", strs(ro->data_actions), "notDataActions", "createdOn",
        "2018-02-09T22:00:00.0000000Z", "updatedOn", "2023-11-21T16:00:00.0000000Z", "createdBy",
        "updatedBy");
    free(id);
    free(pre);
    return j;
}

json_t *sim_ra_to_json(const struct sim_ra *ra)
{
    const char *scope = ra->sc->scope;
    bool root = strcmp(scope, "/") == 0;
    char *pre = sub_prefix(scope);
    char *id = xasprintf("%s/providers/Microsoft.Authorization/roleAssignments/%s",
                         root ? "" : scope, ra->name);
    char *rd = xasprintf("%s/providers/Microsoft.Authorization/roleDefinitions/%s", pre, ra->role);
    char created[32];
    json_t *j;

    clock_fmt_rfc3339(ra->created_ms ? ra->created_ms : 1700000000000, created, sizeof(created));
    j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:n, s:n, s:s, s:s, s:s*, s:s*, s:n, "
                  "s:s*}}",
                  "id", id, "name", ra->name, "type", "Microsoft.Authorization/roleAssignments",
                  "properties", "roleDefinitionId", rd, "principalId", ra->principal,
                  "principalType", ra->ptype, "scope", scope, "condition", "conditionVersion",
                  "createdOn", created, "updatedOn", created, "createdBy", ra->created_by,
                  "updatedBy", ra->created_by, "delegatedManagedIdentityResourceId", "description",
                  ra->description);
    if (!ra->description)
        json_object_set_new(json_object_get(j, "properties"), "description", json_null());
    if (!ra->created_by) {
        json_object_set_new(json_object_get(j, "properties"), "createdBy", json_null());
        json_object_set_new(json_object_get(j, "properties"), "updatedBy", json_null());
    }
    free(id);
    free(rd);
    free(pre);
    return j;
}

static json_t *render_ra(void *p)
{
    return sim_ra_to_json(p);
}

/* ---- scope handling ---- */

struct authz_path {
    char *scope; /* "/" for the tenant root */
    int kind_at; /* index of roleAssignments/roleDefinitions */
};

/* Scope: the segments before providers/Microsoft.Authorization. */
static int authz_index(const struct sim_req *r)
{
    for (int i = 0; i + 2 < r->nseg; i++) {
        if (sim_seg_is(r, i, "providers") && sim_seg_is(r, i + 1, "Microsoft.Authorization"))
            return i;
    }
    return -1;
}

static char *scope_of(const struct sim_req *r, int upto)
{
    size_t n = 2;
    char *s;
    size_t o = 0;

    for (int i = 0; i < upto; i++)
        n += strlen(r->segs[i]) + 1;
    s = xmalloc(n);
    for (int i = 0; i < upto; i++)
        o += (size_t)snprintf(s + o, n - o, "/%s", r->segs[i]);
    if (o == 0)
        snprintf(s, n, "/");
    return s;
}

static bool is_mg_scope(const char *scope)
{
    return sim_iprefix(scope, "/providers/Microsoft.Management/managementGroups/");
}

/* Checks that the subscription and resource group of a scope exist. */
/* A VM scope names a VM that exists: ARM answers 404 for an assignment at a resource it does
 * not find (RoleAssignments_Create at {scope}, authorization-RoleAssignmentsCalls.json
 * 2022-04-01: the scope is the resource's id). Other resource types azsim does not hold. */
static bool vm_scope_exists(struct sim_req *r, const char *scope, const char *sub, const char *rg)
{
    const char *p = strstr(scope, "/providers/");
    char name[128] = "";

    if (p == NULL || !sim_iprefix(p, "/providers/Microsoft.Compute/virtualMachines/"))
        return true;
    sscanf(p + strlen("/providers/Microsoft.Compute/virtualMachines/"), "%127[^/]", name);
    if (sim_vm_get(sub, rg, name) != NULL)
        return true;
    sim_arm_error(r, 404, "ResourceNotFound",
                  "The Resource 'Microsoft.Compute/virtualMachines/%s' under resource group '%s' "
                  "was not found. For more details please go to "
                  "https://aka.ms/ARMResourceNotFoundFix",
                  name, rg);
    return false;
}

static bool scope_exists(struct sim_req *r, const char *scope)
{
    char sub[64] = "", rg[128] = "";
    struct sim_sub *s;
    char *k;
    bool ok;

    if (!sim_iprefix(scope, "/subscriptions/"))
        return true;
    sscanf(scope, "/subscriptions/%63[^/]/resourceGroups/%127[^/]", sub, rg);
    if (!sub[0])
        sscanf(scope, "/subscriptions/%63[^/]", sub);
    s = sim_sub_get(sub);
    if (!s) {
        sim_arm_error(r, 404, "SubscriptionNotFound", "The subscription '%s' could not be found.",
                      sub);
        return false;
    }
    if (!sim_iprefix(scope + 15 + strlen(sub), "/resourceGroups/") || !rg[0])
        return true;
    k = sim_lc(rg);
    ok = json_object_get(s->rgs, k) != NULL;
    free(k);
    if (!ok)
        sim_arm_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                      rg);
    return ok && vm_scope_exists(r, scope, sub, rg);
}

/* a is at or above b (both lowercase, no trailing slash except "/"). */
static bool at_or_above(const char *a, const char *b)
{
    size_t n = strlen(a);

    if (strcmp(a, "/") == 0)
        return true;
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

/* ---- role definitions ---- */

static void rd_list(struct sim_req *r)
{
    char *scope = scope_of(r, authz_index(r));
    const char *f = sim_query(r, "$filter");
    char name[256];
    bool by_name = f && sim_parse_quoted(f, "roleName eq '", name, sizeof(name), NULL);
    json_t *value = json_array();

    for (size_t i = 0; i < N_ROLES; i++) {
        if (by_name && !sim_ieq(ROLES[i].name, name))
            continue;
        json_array_append_new(value, role_json(&ROLES[i], scope));
    }
    sim_reply_json(r, 200, json_pack("{s:o}", "value", value));
    free(scope);
}

static void rd_get(struct sim_req *r)
{
    int i = authz_index(r);
    char *scope = scope_of(r, i);
    const struct role *ro = role_get(r->segs[i + 3]);

    if (ro)
        sim_reply_json(r, 200, role_json(ro, scope));
    else
        sim_arm_error(r, 404, "RoleDefinitionDoesNotExist",
                      "The specified role definition with ID '%s' does not exist.", r->segs[i + 3]);
    free(scope);
}

/* ---- role assignments ---- */

static const char *ptype_of(const struct sim_principal *p)
{
    switch (p->kind) {
    case PR_USER:
        return "User";
    case PR_GROUP:
        return "Group";
    case PR_SP:
        return "ServicePrincipal";
    case PR_DEVICE:
        return "Device";
    }
    return "User";
}

static struct sim_ra *ra_at(const char *name, const char *scope)
{
    char *k = sim_lc(name);
    char *sl = sim_lc(scope);
    struct sim_ra *ra = sim_map_get(&S.ra_by_name, k);

    if (ra && strcmp(ra->sc->scope_lc, sl) != 0)
        ra = NULL;
    free(k);
    free(sl);
    return ra;
}

static struct sim_ra *ra_triple(const char *scope, const char *role, const char *principal)
{
    char *sl = sim_lc(scope);
    struct sim_scope *sc = sim_map_get(&S.ra_by_scope, sl);
    struct sim_ra *hit = NULL;

    for (size_t i = 0; sc && i < sc->ras.len && !hit; i++) {
        struct sim_ra *ra = sc->ras.items[i];
        if (sim_ieq(ra->role, role) && sim_ieq(ra->principal, principal))
            hit = ra;
    }
    free(sl);
    return hit;
}

static bool principal_known(struct sim_req *r, const char *pid, const char *ptype)
{
    struct sim_principal *p = sim_principal_get(pid);
    int64_t age = p && p->created_ms ? clock_now_ms() - p->created_ms : INT64_MAX;

    /* principalType lets ARM skip the directory look-up, but PrincipalNotFound during the
     * replication delay is reported to happen with it too; faults.principalTypeIgnored injects
     * that (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting,
     * "Symptom - Assigning a role to a new principal sometimes fails"). */
    if (ptype && json_is_true(json_object_get(S.faults, "principalTypeIgnored")))
        ptype = NULL;
    if (ptype) {
        if (p && !sim_ieq(ptype, ptype_of(p)) && !sim_ieq(ptype, "ForeignGroup")) {
            sim_arm_error(r, 400, "UnmatchedPrincipalType",
                          "The PrincipalType '%s' in the request doesn't match the principal "
                          "type '%s' of the principal ID '%s'.",
                          ptype, ptype_of(p), pid);
            return false;
        }
        return true;
    }
    if (p && age >= S.replication_delay_ms)
        return true;
    sim_arm_error(r, 400, "PrincipalNotFound",
                  "Principal %s does not exist in the directory %s. Check that you have the "
                  "correct principal ID. If you are creating this principal and then immediately "
                  "assigning a role, this error might be related to a replication delay. In this "
                  "case, set the role assignment principalType property to a value, such as "
                  "ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                  pid, S.tenant);
    return false;
}

static void ra_put(struct sim_req *r)
{
    int i = authz_index(r);
    char *scope = scope_of(r, i);
    const char *name = r->segs[i + 3];
    json_t *body = sim_body_json(r);
    json_t *props = json_object_get(body, "properties");
    const char *rdid = json_string_value(json_object_get(props, "roleDefinitionId"));
    const char *pid = json_string_value(json_object_get(props, "principalId"));
    const char *ptype = json_string_value(json_object_get(props, "principalType"));
    const char *desc = json_string_value(json_object_get(props, "description"));
    const char *cv = json_string_value(json_object_get(props, "conditionVersion"));
    const char *role;
    const struct role *ro;
    struct sim_ra *ra;

    if (!uuid_is_valid(name)) {
        sim_arm_error(r, 400, "InvalidRoleAssignmentId",
                      "The role assignment ID '%s' is not valid. The role assignment ID must be a "
                      "GUID.",
                      name);
        goto out;
    }
    if (!json_is_object(props) || !rdid || !pid) {
        sim_arm_error(r, 400, "InvalidRequestContent",
                      "The request content was invalid: 'properties.roleDefinitionId' and "
                      "'properties.principalId' are required.");
        goto out;
    }
    if (!uuid_is_valid(pid)) {
        sim_arm_error(r, 400, "InvalidPrincipalId",
                      "The Principal ID '%s' is not valid. Principal ID must be a GUID.", pid);
        goto out;
    }
    if (cv && strcmp(cv, "2.0") != 0) {
        sim_arm_error(r, 400, "InvalidConditionVersion",
                      "The condition version '%s' is not supported. Supported versions: 2.0.", cv);
        goto out;
    }
    if (!scope_exists(r, scope))
        goto out;
    role = strrchr(rdid, '/') ? strrchr(rdid, '/') + 1 : rdid;
    ro = role_get(role);
    if (!ro) {
        sim_arm_error(r, 404, "RoleDefinitionDoesNotExist",
                      "The specified role definition with ID '%s' does not exist.", role);
        goto out;
    }
    if (is_mg_scope(scope) && ro->data_actions[0]) {
        sim_arm_error(r, 400, "InvalidCreateRoleAssignmentRequest",
                      "Role assignments to Management Groups can not be made to custom role "
                      "definitions with DataActions");
        goto out;
    }
    ra = sim_map_get(&S.ra_by_name, name);
    if (!ra) {
        char *k = sim_lc(name);
        ra = sim_map_get(&S.ra_by_name, k);
        free(k);
    }
    if (ra) {
        char *sl = sim_lc(scope);
        bool same = strcmp(ra->sc->scope_lc, sl) == 0 && sim_ieq(ra->principal, pid) &&
                    sim_ieq(ra->role, ro->guid);
        free(sl);
        /* The same name and body again succeeds (201), as redeploying an ARM template that
         * holds the assignment does (https://learn.microsoft.com/azure/role-based-access-control/
         * role-assignments-template: the name GUID makes the deployment idempotent); another
         * name for the same scope, role and principal is RoleAssignmentExists (below). */
        if (same)
            sim_reply_json(r, 201, sim_ra_to_json(ra));
        else
            sim_arm_error(r, 400, "RoleAssignmentUpdateNotPermitted",
                          "Tenant ID, application ID, principal ID, and scope are not allowed to "
                          "be updated.");
        goto out;
    }
    if (ra_triple(scope, ro->guid, pid)) {
        sim_arm_error(r, 409, "RoleAssignmentExists", "The role assignment already exists.");
        goto out;
    }
    if (!principal_known(r, pid, ptype))
        goto out;
    if (!ptype) {
        struct sim_principal *p = sim_principal_get(pid);
        ptype = p ? ptype_of(p) : "User";
    }
    ra = sim_ra_add(name, scope, ro->guid, pid, ptype, clock_now_ms());
    ra->description = desc ? xstrdup(desc) : NULL;
    ra->created_by = r->client[0] ? xstrdup(r->client) : NULL;
    sim_reply_json(r, 201, sim_ra_to_json(ra));
out:
    json_decref(body);
    free(scope);
}

static void ra_get(struct sim_req *r)
{
    int i = authz_index(r);
    char *scope = scope_of(r, i);
    struct sim_ra *ra = ra_at(r->segs[i + 3], scope);

    if (ra)
        sim_reply_json(r, 200, sim_ra_to_json(ra));
    else
        sim_arm_error(r, 404, "RoleAssignmentNotFound", "The role assignment '%s' is not found.",
                      r->segs[i + 3]);
    free(scope);
}

static void ra_delete(struct sim_req *r)
{
    int i = authz_index(r);
    char *scope = scope_of(r, i);
    struct sim_ra *ra = ra_at(r->segs[i + 3], scope);

    if (ra) {
        sim_reply_json(r, 200, sim_ra_to_json(ra));
        sim_ra_remove(ra);
    } else {
        sim_reply_json(r, 204, NULL);
    }
    free(scope);
}

struct ra_filter {
    bool at_scope;
    bool has_principal;
    bool transitive;
    char principal[UUID_STR_LEN + 8];
};

static bool parse_filter(const char *f, struct ra_filter *out)
{
    char rest[512];
    const char *tail;

    memset(out, 0, sizeof(*out));
    if (!f || !f[0])
        return true;
    snprintf(rest, sizeof(rest), "%s", f);
    if (sim_iprefix(rest, "atScope()")) {
        out->at_scope = true;
        memmove(rest, rest + 9, strlen(rest + 9) + 1);
        if (!rest[0])
            return true;
        if (!sim_iprefix(rest, " and "))
            return false;
        memmove(rest, rest + 5, strlen(rest + 5) + 1);
    }
    if (sim_parse_quoted(rest, "assignedTo('", out->principal, sizeof(out->principal), &tail)) {
        out->has_principal = out->transitive = true;
        return strcmp(tail, ")") == 0;
    }
    if (sim_parse_quoted(rest, "principalId eq '", out->principal, sizeof(out->principal), &tail)) {
        out->has_principal = true;
        return *tail == '\0';
    }
    return false;
}

static void collect_principal(const char *pid, const char *scope_lc, bool at_scope,
                              struct sim_vec *out)
{
    char *k = sim_lc(pid);
    struct sim_vec *v = sim_map_get(&S.ra_by_principal, k);

    free(k);
    for (size_t i = 0; v && i < v->len; i++) {
        struct sim_ra *ra = v->items[i];
        if (at_or_above(ra->sc->scope_lc, scope_lc) ||
            (!at_scope && at_or_above(scope_lc, ra->sc->scope_lc)))
            sim_vec_push(out, ra);
    }
}

/* The role-assignment scopes sorted by scope_lc, rebuilt when sim_scopes_gen moves: the
 * scopes below one are then a range, found by bisection, instead of a walk over all of them
 * for every page of a listing (which made listing n assignments cost n^2 / page size). */
static struct {
    uint64_t gen;
    struct sim_scope **v;
    size_t n;
} sorted_scopes;

static int scope_cmp(const void *a, const void *b)
{
    return strcmp((*(struct sim_scope *const *)a)->scope_lc,
                  (*(struct sim_scope *const *)b)->scope_lc);
}

static void sorted_scopes_build(void)
{
    const char *k;
    void *v;

    if (sorted_scopes.gen == sim_scopes_gen)
        return;
    free(sorted_scopes.v);
    sorted_scopes.v = xcalloc(S.ra_by_scope.len + 1, sizeof(*sorted_scopes.v));
    sorted_scopes.n = 0;
    for (size_t i = 0; i < S.ra_by_scope.cap; i++) {
        if (sim_map_at(&S.ra_by_scope, i, &k, &v) && sorted_scopes.n < S.ra_by_scope.len)
            sorted_scopes.v[sorted_scopes.n++] = v;
    }
    qsort(sorted_scopes.v, sorted_scopes.n, sizeof(*sorted_scopes.v), scope_cmp);
    sorted_scopes.gen = sim_scopes_gen;
}

/* The first sorted scope not below key in strcmp order. */
static size_t scopes_lower_bound(const char *key)
{
    size_t lo = 0;
    size_t hi = sorted_scopes.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(sorted_scopes.v[mid]->scope_lc, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void push_scope(struct sim_vec *out, const struct sim_scope *sc)
{
    for (size_t n = 0; sc != NULL && n < sc->ras.len; n++)
        sim_vec_push(out, sc->ras.items[n]);
}

/* The assignments at the scopes above scope_lc, from the root down. */
static void push_above(const char *scope_lc, struct sim_vec *out)
{
    char *up = xstrdup(scope_lc);

    if (strcmp(scope_lc, "/") != 0)
        push_scope(out, sim_map_get(&S.ra_by_scope, "/"));
    for (size_t i = 1; up[i] != '\0'; i++) {
        if (up[i] != '/')
            continue;
        up[i] = '\0';
        push_scope(out, sim_map_get(&S.ra_by_scope, up));
        up[i] = '/';
    }
    free(up);
}

/* The assignments at scope_lc and above it, and (unless at_scope) below it: the scopes
 * above, then scope_lc's own, then those below in order. */
static void collect_scope(const char *scope_lc, bool at_scope, struct sim_vec *out)
{
    char *below = xasprintf("%s/", strcmp(scope_lc, "/") == 0 ? "" : scope_lc);
    size_t nb = strlen(below);

    sorted_scopes_build();
    push_above(scope_lc, out);
    push_scope(out, sim_map_get(&S.ra_by_scope, scope_lc));
    for (size_t i = at_scope ? sorted_scopes.n : scopes_lower_bound(below);
         i < sorted_scopes.n && strncmp(sorted_scopes.v[i]->scope_lc, below, nb) == 0; i++) {
        if (strcmp(sorted_scopes.v[i]->scope_lc, scope_lc) != 0) /* "/" is its own prefix */
            push_scope(out, sorted_scopes.v[i]);
    }
    free(below);
}

static void ra_list(struct sim_req *r)
{
    char *scope = scope_of(r, authz_index(r));
    char *scope_lc = sim_lc(scope);
    const char *f = sim_query(r, "$filter");
    struct ra_filter flt;
    struct sim_vec out = {0};
    char *extra = NULL;

    if (!parse_filter(f, &flt)) {
        sim_arm_error(r, 400, "UnsupportedQuery", "The filter '%s' is not supported.", f);
        goto out;
    }
    if (!scope_exists(r, scope))
        goto out;
    if (flt.has_principal) {
        struct sim_principal *p = sim_principal_get(flt.principal);
        collect_principal(flt.principal, scope_lc, flt.at_scope, &out);
        if (flt.transitive && p) {
            struct sim_vec groups = {0};
            sim_principal_groups(p, &groups);
            for (size_t i = 0; i < groups.len; i++)
                collect_principal(((struct sim_principal *)groups.items[i])->id, scope_lc,
                                  flt.at_scope, &out);
            sim_vec_cleanup(&groups);
        }
    } else {
        collect_scope(scope_lc, flt.at_scope, &out);
    }
    if (f) {
        char *enc = sim_urlenc(f);
        extra = xasprintf("&$filter=%s", enc);
        free(enc);
    }
    sim_page_vec_cached(r, &out, render_ra, NULL, 0, "nextLink", extra ? extra : "", 0);
out:
    free(extra);
    sim_vec_cleanup(&out);
    free(scope_lc);
    free(scope);
}

/* ---- authorization of the caller ---- */

/* An action pattern against an action: case-insensitive, '*' matching any run of characters
 * (https://learn.microsoft.com/azure/role-based-access-control/role-definitions#actions:
 * "The wildcard (*) character ... grants access to all operations that match the string"). */
static bool action_match(const char *pat, const char *act)
{
    for (; *pat; pat++, act++) {
        if (*pat == '*') {
            for (const char *a = act;; a++) {
                if (action_match(pat + 1, a))
                    return true;
                if (!*a)
                    return false;
            }
        }
        if (!*act || tolower((unsigned char)*pat) != tolower((unsigned char)*act))
            return false;
    }
    return *act == '\0';
}

static bool any_match(const char *const *pats, const char *act)
{
    for (; *pats; pats++) {
        if (action_match(*pats, act))
            return true;
    }
    return false;
}

/* A role grants Actions minus its NotActions
 * (https://learn.microsoft.com/azure/role-based-access-control/role-definitions#notactions). */
static bool role_allows(const struct role *ro, const char *action)
{
    return ro && any_match(ro->actions, action) && !any_match(ro->not_actions, action);
}

/* Calls f for every role assignment of principal (and of the groups it is in, transitively)
 * at or above scope_lc: assignments are inherited down the scope hierarchy
 * (https://learn.microsoft.com/azure/role-based-access-control/scope-overview). f returns true
 * to stop. */
static bool each_effective_ra(const char *principal, const char *scope_lc,
                              bool (*f)(const struct sim_ra *, void *), void *arg)
{
    struct sim_principal *p = sim_principal_get(principal);
    struct sim_vec ids = {0};
    bool stop = false;

    sim_vec_push(&ids, (void *)principal);
    if (p) {
        struct sim_vec groups = {0};
        sim_principal_groups(p, &groups);
        for (size_t i = 0; i < groups.len; i++)
            sim_vec_push(&ids, ((struct sim_principal *)groups.items[i])->id);
        sim_vec_cleanup(&groups);
    }
    for (size_t i = 0; i < ids.len && !stop; i++) {
        char *k = sim_lc(ids.items[i]);
        struct sim_vec *v = sim_map_get(&S.ra_by_principal, k);
        free(k);
        for (size_t n = 0; v && n < v->len && !stop; n++) {
            const struct sim_ra *ra = v->items[n];
            if (at_or_above(ra->sc->scope_lc, scope_lc))
                stop = f(ra, arg);
        }
    }
    sim_vec_cleanup(&ids);
    return stop;
}

static bool ra_allows(const struct sim_ra *ra, void *action)
{
    return role_allows(role_get(ra->role), action);
}

/* The action each mutating ARM operation needs, from the resource provider operations list
 * (https://learn.microsoft.com/azure/role-based-access-control/permissions/compute and
 * .../permissions/management-and-governance#microsoftauthorization). Reads are not checked. */
static const struct {
    const char *op;
    const char *action;
} OP_ACTIONS[] = {
    {"vm.patch", "Microsoft.Compute/virtualMachines/write"},
    {"ext.put", "Microsoft.Compute/virtualMachines/extensions/write"},
    {"ext.delete", "Microsoft.Compute/virtualMachines/extensions/delete"},
    {"ra.put", "Microsoft.Authorization/roleAssignments/write"},
    {"ra.delete", "Microsoft.Authorization/roleAssignments/delete"},
};

bool sim_authz_check(struct sim_req *r, const struct sim_route *rt)
{
    const char *action = NULL;
    char *scope_lc;
    bool ok;

    for (size_t i = 0; i < sizeof(OP_ACTIONS) / sizeof(OP_ACTIONS[0]) && !action; i++) {
        if (strcmp(rt->op, OP_ACTIONS[i].op) == 0)
            action = OP_ACTIONS[i].action;
    }
    if (!action)
        return true;
    scope_lc = sim_lc(r->url);
    ok = each_effective_ra(r->client, scope_lc, ra_allows, (void *)action);
    free(scope_lc);
    if (ok)
        return true;
    /* 403 AuthorizationFailed, Azure's words (azure-wire.md section 8 [O];
     * https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---authorization-failed)
     */
    sim_arm_error(r, 403, "AuthorizationFailed",
                  "The client '%s' with object id '%s' does not have authorization to perform "
                  "action '%s' over scope '%s' or the scope is invalid. If access was recently "
                  "granted, please refresh your credentials.",
                  r->client, r->client, action, r->url);
    return false;
}

/* GET {scope}/providers/Microsoft.Authorization/permissions: the caller's permissions at the
 * scope, one entry per role assignment that applies (Permissions_ListForResourceGroup and
 * Permissions_ListForResource, specification/authorization/resource-manager/
 * Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json, schema
 * PermissionGetResult {value: [Permission], nextLink}). */
static bool perm_add(const struct sim_ra *ra, void *arg)
{
    const struct role *ro = role_get(ra->role);

    if (ro)
        json_array_append_new(arg, json_pack("{s:o, s:o, s:o, s:[], s:n, s:n}", "actions",
                                             strs(ro->actions), "notActions", strs(ro->not_actions),
                                             "dataActions", strs(ro->data_actions),
                                             "notDataActions", "condition", "conditionVersion"));
    return false;
}

static void permissions(struct sim_req *r)
{
    char *scope = scope_of(r, authz_index(r));
    char *scope_lc = sim_lc(scope);
    json_t *value = json_array();

    each_effective_ra(r->client, scope_lc, perm_add, value);
    sim_reply_json(r, 200, json_pack("{s:o}", "value", value));
    free(scope_lc);
    free(scope);
}

bool sim_authz_route(struct sim_req *r, struct sim_route *rt)
{
    int i = authz_index(r);
    int tk = strcmp(r->method, "GET") == 0 ? 0 : strcmp(r->method, "DELETE") == 0 ? 2 : 1;
    const char *sub = sim_seg_is(r, 0, "subscriptions") && r->nseg > 1 ? r->segs[1] : NULL;
    bool get = strcmp(r->method, "GET") == 0;

    if (i < 0)
        return false;
    /* the documented forms are a resource group and a resource; azsim serves any scope */
    if (get && r->nseg == i + 3 && sim_seg_is(r, i + 2, "permissions"))
        return sim_arm_route(rt, permissions, "rd.permissions", tk, sub);
    if (sim_seg_is(r, i + 2, "roleDefinitions")) {
        if (get && r->nseg == i + 3)
            return sim_arm_route(rt, rd_list, "rd.list", tk, sub);
        if (get && r->nseg == i + 4)
            return sim_arm_route(rt, rd_get, "rd.get", tk, sub);
        return false;
    }
    if (!sim_seg_is(r, i + 2, "roleAssignments"))
        return false;
    if (get && r->nseg == i + 3)
        return sim_arm_route(rt, ra_list, "ra.list", tk, sub);
    if (r->nseg != i + 4)
        return false;
    if (get)
        return sim_arm_route(rt, ra_get, "ra.get", tk, sub);
    if (strcmp(r->method, "PUT") == 0)
        return sim_arm_route(rt, ra_put, "ra.put", tk, sub);
    if (strcmp(r->method, "DELETE") == 0)
        return sim_arm_route(rt, ra_delete, "ra.delete", tk, sub);
    return false;
}
