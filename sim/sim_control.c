/* sim_control.c: azsim's own control API under /_sim/ (plain JSON, no auth, never part of the
 * Azure surface): state summary and lookups, run-time changes to VMs, principals, devices,
 * apps and role assignments, faults, throttle limits, config, statistics, reset, and minting
 * tokens for the daemon's own API tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

static void bad(struct sim_req *r, int status, const char *msg)
{
    sim_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static json_t *body_obj(struct sim_req *r)
{
    json_t *b = sim_body_json(r);

    if (!json_is_object(b)) {
        json_decref(b);
        bad(r, 400, "body must be a JSON object");
        return NULL;
    }
    return b;
}

static void state_get(struct sim_req *r)
{
    sim_lro_settle(NULL);
    sim_reply_json(r, 200, sim_state_summary());
}

static struct sim_ra *ra_by_any(const char *id)
{
    const char *slash = strrchr(id, '/');
    char *k = sim_lc(slash ? slash + 1 : id);
    struct sim_ra *ra = sim_map_get(&S.ra_by_name, k);

    free(k);
    return ra;
}

static void lookup(struct sim_req *r)
{
    const char *id = sim_query(r, "id");
    struct sim_vm *vm;
    struct sim_principal *p;
    struct sim_ra *ra;

    if (!id) {
        bad(r, 400, "query parameter id is required");
        return;
    }
    vm = sim_vm_get_by_id(id);
    if (vm) {
        json_t *j;
        sim_lro_settle(vm);
        j = sim_vm_to_json(vm, true);
        json_object_set(j, "facts", vm->facts);
        json_object_set_new(j, "powerState", json_string(vm->power));
        json_object_set_new(j, "busy", json_boolean(vm->busy != NULL));
        sim_reply_json(r, 200, json_pack("{s:s, s:o}", "kind", "vm", "object", j));
        return;
    }
    p = sim_principal_any(id);
    if (!p) {
        char *k = sim_lc(id);
        p = sim_map_get(&S.user_by_upn, k);
        free(k);
    }
    if (p) {
        static const char *kinds[] = {"user", "group", "servicePrincipal", "device"};
        json_t *j = sim_principal_to_json(p, "id,displayName,userPrincipalName,userType,"
                                             "accountEnabled,appId,servicePrincipalType,"
                                             "servicePrincipalNames,deviceId,trustType,"
                                             "operatingSystem,deletedDateTime");
        json_object_set_new(j, "softDeleted", json_boolean(p->soft_deleted));
        sim_reply_json(r, 200, json_pack("{s:s, s:o}", "kind", kinds[p->kind], "object", j));
        return;
    }
    ra = ra_by_any(id);
    if (ra) {
        sim_reply_json(
            r, 200,
            json_pack("{s:s, s:o}", "kind", "roleAssignment", "object", sim_ra_to_json(ra)));
        return;
    }
    bad(r, 404, "no object with that id");
}

static void vm_add(struct sim_req *r)
{
    json_t *b = body_obj(r);
    char err[512];

    if (!b)
        return;
    if (!sim_state_add_vm(b, "$", err, sizeof(err)))
        bad(r, 400, err);
    else
        sim_reply_json(
            r, 201,
            sim_vm_to_json(sim_vm_get(json_string_value(json_object_get(b, "subscriptionId")),
                                      json_string_value(json_object_get(b, "resourceGroup")),
                                      json_string_value(json_object_get(b, "name"))),
                           true));
    json_decref(b);
}

static void replace(char **dst, const json_t *v)
{
    if (!json_is_string(v))
        return;
    free(*dst);
    *dst = xstrdup(json_string_value(v));
}

static void vm_patch(struct sim_req *r)
{
    const char *id = sim_query(r, "id");
    struct sim_vm *vm = id ? sim_vm_get_by_id(id) : NULL;
    json_t *b;

    if (!vm) {
        bad(r, 404, "no VM with that id (query parameter id = ARM id)");
        return;
    }
    b = body_obj(r);
    if (!b)
        return;
    replace(&vm->power, json_object_get(b, "powerState"));
    replace(&vm->os_version, json_object_get(b, "osVersion"));
    replace(&vm->os_name, json_object_get(b, "osName"));
    replace(&vm->computer_name, json_object_get(b, "computerName"));
    replace(&vm->prov_state, json_object_get(b, "provisioningState"));
    if (json_is_object(json_object_get(b, "facts")))
        json_object_update(vm->facts, json_object_get(b, "facts"));
    if (json_is_object(json_object_get(b, "tags"))) {
        json_decref(vm->tags);
        vm->tags = json_deep_copy(json_object_get(b, "tags"));
    }
    sim_reply_json(r, 200, sim_vm_to_json(vm, true));
    json_decref(b);
}

static void vm_delete(struct sim_req *r)
{
    const char *id = sim_query(r, "id");
    struct sim_vm *vm = id ? sim_vm_get_by_id(id) : NULL;

    if (!vm) {
        bad(r, 404, "no VM with that id");
        return;
    }
    sim_vm_remove(vm);
    sim_reply_json(r, 200, json_pack("{s:s}", "deleted", id));
}

static void principal_add(struct sim_req *r)
{
    const char *what = r->segs[1];
    enum sim_principal_kind kind = sim_ieq(what, "users")     ? PR_USER
                                   : sim_ieq(what, "groups")  ? PR_GROUP
                                   : sim_ieq(what, "devices") ? PR_DEVICE
                                                              : PR_SP;
    json_t *b = body_obj(r);
    json_t *members;
    char err[512];
    struct sim_principal *p;

    if (!b)
        return;
    members = json_incref(json_object_get(b, "members"));
    json_object_del(b, "members");
    if (!sim_state_add_principal(b, kind, clock_now_ms(), "$", err, sizeof(err))) {
        bad(r, 400, err);
        goto out;
    }
    p = sim_principal_any(json_string_value(json_object_get(b, "id")));
    for (size_t i = 0; i < json_array_size(members); i++) {
        struct sim_principal *m = sim_principal_get(json_string_value(json_array_get(members, i)));
        if (m && m != p) {
            sim_vec_push(&p->members, m);
            sim_vec_push(&m->member_of, p);
        }
    }
    sim_reply_json(r, 201, sim_principal_to_json(p, NULL));
out:
    json_decref(members);
    json_decref(b);
}

static void group_member_add(struct sim_req *r)
{
    struct sim_principal *g = sim_principal_get(r->segs[2]);
    json_t *b = body_obj(r);
    struct sim_principal *m;

    if (!b)
        return;
    m = sim_principal_get(sim_or(json_string_value(json_object_get(b, "id")), ""));
    if (!g || g->kind != PR_GROUP || !m || m == g) {
        bad(r, 404, "unknown group or member");
    } else {
        sim_vec_push(&g->members, m);
        sim_vec_push(&m->member_of, g);
        sim_reply_json(r, 200, json_pack("{s:s, s:s}", "group", g->id, "member", m->id));
    }
    json_decref(b);
}

static void principal_delete(struct sim_req *r)
{
    struct sim_principal *p = sim_principal_get(r->segs[2]);
    const char *mode = sim_query(r, "mode");
    bool soft = mode && sim_ieq(mode, "soft");

    if (!p) {
        bad(r, 404, "no live principal with that id");
        return;
    }
    sim_reply_json(r, 200,
                   json_pack("{s:s, s:s}", "deleted", p->id, "mode", soft ? "soft" : "hard"));
    sim_principal_remove(p, soft);
}

static void app_add(struct sim_req *r)
{
    json_t *b = body_obj(r);
    char err[512];

    if (!b)
        return;
    if (!sim_state_add_app(b, "$", err, sizeof(err)))
        bad(r, 400, err);
    else
        sim_reply_json(r, 201, json_pack("{s:O}", "appId", json_object_get(b, "appId")));
    json_decref(b);
}

static void cert_add(struct sim_req *r)
{
    json_t *b = body_obj(r);
    struct sim_app *a;
    const char *pem;
    X509 *c;

    if (!b)
        return;
    a = sim_app_get(sim_or(json_string_value(json_object_get(b, "appId")), ""));
    pem = json_string_value(json_object_get(b, "certificatePem"));
    c = pem ? pem_load_cert_mem(pem, strlen(pem)) : NULL;
    if (!a || !c) {
        X509_free(c);
        bad(r, 400, "need appId of a registered app and certificatePem");
    } else {
        sim_vec_push(&a->certs, c);
        sim_reply_json(
            r, 201, json_pack("{s:s, s:i}", "appId", a->app_id, "certificates", (int)a->certs.len));
    }
    json_decref(b);
}

static void ra_add(struct sim_req *r)
{
    json_t *b = body_obj(r);
    const char *scope, *pid, *role, *name, *pt;
    char gen[UUID_STR_LEN];
    struct sim_ra *ra;

    if (!b)
        return;
    scope = json_string_value(json_object_get(b, "scope"));
    pid = json_string_value(json_object_get(b, "principalId"));
    role = json_string_value(json_object_get(b, "roleName"))
               ? sim_role_guid_by_name(json_string_value(json_object_get(b, "roleName")))
               : json_string_value(json_object_get(b, "roleDefinitionId"));
    if (role && strrchr(role, '/'))
        role = strrchr(role, '/') + 1;
    name = json_string_value(json_object_get(b, "name"));
    pt = json_string_value(json_object_get(b, "principalType"));
    if (!scope || scope[0] != '/' || !pid || !uuid_is_valid(pid) || !role ||
        !sim_role_exists(role) || (name && !uuid_is_valid(name))) {
        bad(r, 400, "need scope, principalId (GUID), roleName or roleDefinitionId, optional name");
        goto out;
    }
    if (!name) {
        uuid_v4(gen);
        name = gen;
    }
    if (sim_map_get(&S.ra_by_name, name)) {
        bad(r, 409, "a role assignment with that name exists");
        goto out;
    }
    ra = sim_ra_add(name, scope, role, pid, pt, clock_now_ms());
    sim_reply_json(r, 201, sim_ra_to_json(ra));
out:
    json_decref(b);
}

static void ra_del(struct sim_req *r)
{
    struct sim_ra *ra = ra_by_any(r->segs[2]);

    if (!ra) {
        bad(r, 404, "no role assignment with that name");
        return;
    }
    sim_reply_json(r, 200, sim_ra_to_json(ra));
    sim_ra_remove(ra);
}

static void ra_query(struct sim_req *r)
{
    const char *scope = sim_query(r, "scope");
    const char *pid = sim_query(r, "principalId");
    json_t *value = json_array();

    for (size_t i = 0; i < S.ras.len; i++) {
        struct sim_ra *ra = S.ras.items[i];
        if (scope && !sim_ieq(ra->sc->scope, scope))
            continue;
        if (pid && !sim_ieq(ra->principal, pid))
            continue;
        json_array_append_new(value, sim_ra_to_json(ra));
        if (json_array_size(value) >= 10000)
            break;
    }
    sim_reply_json(r, 200, json_pack("{s:o}", "value", value));
}

/* GET returns the setting; PUT applies the body with set() first. */
static void setting(struct sim_req *r, bool (*apply)(const json_t *, char *, size_t),
                    json_t *(*get)(void))
{
    char err[256];
    json_t *b;

    if (strcmp(r->method, "PUT") == 0) {
        b = body_obj(r);
        if (!b)
            return;
        if (!apply(b, err, sizeof(err))) {
            bad(r, 400, err);
            json_decref(b);
            return;
        }
        json_decref(b);
    }
    sim_reply_json(r, 200, get());
}

static json_t *faults_get(void)
{
    return json_deep_copy(S.faults);
}

static void faults(struct sim_req *r)
{
    setting(r, sim_faults_set, faults_get);
}

static void throttle(struct sim_req *r)
{
    setting(r, sim_throttle_from_json, sim_throttle_to_json);
}

/* deviceCodeIntervalSeconds (1..60) and deviceCodeLifetimeSeconds (1..3600). */
static void config_devicecode(const json_t *b)
{
    const json_t *v = json_object_get(b, "deviceCodeIntervalSeconds");

    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 60)
        sim_devicecode_interval_s = (int)json_integer_value(v);
    v = json_object_get(b, "deviceCodeLifetimeSeconds");
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 3600)
        sim_devicecode_lifetime_s = (int)json_integer_value(v);
}

static void config(struct sim_req *r)
{
    json_t *b;
    const json_t *v;

    if (strcmp(r->method, "PUT") == 0) {
        b = body_obj(r);
        if (!b)
            return;
        v = json_object_get(b, "pageSize");
        if (json_is_integer(v))
            S.page_size = (int)json_integer_value(v);
        v = json_object_get(b, "timeScale");
        if (json_is_number(v) && json_number_value(v) >= 0)
            S.time_scale = json_number_value(v);
        v = json_object_get(b, "replicationDelaySeconds");
        if (json_is_number(v))
            S.replication_delay_ms = (int64_t)(json_number_value(v) * 1000);
        config_devicecode(b);
        v = json_object_get(b, "imdsVm");
        if (json_is_string(v)) {
            free(S.imds_vm);
            S.imds_vm = sim_lc(json_string_value(v));
        }
        json_decref(b);
    }
    sim_reply_json(r, 200,
                   json_pack("{s:i, s:f, s:f, s:s?, s:i, s:i}", "pageSize", S.page_size,
                             "timeScale", S.time_scale, "replicationDelaySeconds",
                             (double)S.replication_delay_ms / 1000.0, "imdsVm", S.imds_vm,
                             "deviceCodeIntervalSeconds", sim_devicecode_interval_s,
                             "deviceCodeLifetimeSeconds", sim_devicecode_lifetime_s));
}

static void stats_clear(void)
{
    json_decref(S.stats_requests);
    json_decref(S.stats_violations_by_client);
    json_decref(S.stats_violations_by_bucket);
    json_decref(S.mutations);
    S.stats_requests = json_object();
    S.stats_violations_by_client = json_object();
    S.stats_violations_by_bucket = json_object();
    S.mutations = json_array();
    S.stats_429 = 0;
    S.stats_violations = 0;
}

static void stats(struct sim_req *r)
{
    if (strcmp(r->method, "POST") == 0)
        stats_clear();
    sim_reply_json(r, 200,
                   json_pack("{s:O, s:I, s:I, s:O, s:O, s:O}", "requests", S.stats_requests,
                             "throttled429", (json_int_t)S.stats_429, "violations",
                             (json_int_t)S.stats_violations, "violationsByClient",
                             S.stats_violations_by_client, "violationsByBucket",
                             S.stats_violations_by_bucket, "mutations", S.mutations));
}

static void reset(struct sim_req *r)
{
    char err[1024];

    sim_state_clear();
    sim_devicecode_reset();
    sim_authcode_reset();
    json_decref(S.faults);
    S.faults = json_object();
    sim_throttle_defaults();
    stats_clear();
    if (!sim_state_load(S.scenario_path, err, sizeof(err))) {
        bad(r, 500, err);
        return;
    }
    sim_reply_json(r, 200, sim_state_summary());
}

/* A user's sub: pairwise, unique to the user and the client app, never the oid (Entra access
 * token claims,
 * https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference "sub").
 * Stable per oid here, since azsim has one client. */
static json_t *pairwise_sub(const char *oid)
{
    unsigned long h = 5381;
    char sub[64];

    for (const char *p = oid; *p != '\0'; p++)
        h = h * 33u + (unsigned char)*p;
    snprintf(sub, sizeof(sub), "pw%016lx-%.12s", h, oid);
    return json_string(sub);
}

/* The claims Entra always sends to tell an app from a user (access-token-claims-reference,
 * the docs page above): a delegated token carries scp and a pairwise sub; an
 * app-only token has no scp, sub == oid, and both name the client application in appid (v1)
 * or azp (v2). idtyp is only an optional claim: it is sent by default, and tests remove it
 * with "idtyp": null. The client is the body's appid or azp, else a fixed one. */
static void client_claims(json_t *c, json_t *b, bool user, const char *ver)
{
    const char *client = json_string_value(json_object_get(b, "appid"));
    bool v1 = ver != NULL && strcmp(ver, "1.0") == 0;

    if (client == NULL)
        client = json_string_value(json_object_get(b, "azp"));
    if (client == NULL)
        client = user ? "04b07795-8ddb-461a-bbee-02f9e1bf7b46" /* the Azure CLI's client id */
                      : "5e1c0b7a-0000-4000-8000-00000000a99d";
    json_object_set_new(c, v1 ? "appid" : "azp", json_string(client));
    json_object_set_new(c, "idtyp", json_string(user ? "user" : "app"));
    if (user) {
        json_object_set_new(c, "scp", json_string("user_impersonation"));
        json_object_set_new(c, "sub", pairwise_sub(json_string_value(json_object_get(c, "oid"))));
    }
}

static void tokens(struct sim_req *r)
{
    json_t *b = body_obj(r);
    int64_t now = clock_now_ms() / 1000;
    const char *type, *aud, *ver, *upn, *kid;
    json_int_t expires_in;
    json_t *c;
    char oid[UUID_STR_LEN];
    char uti[UUID_STR_LEN];
    char *iss;
    char *tok;

    if (!b)
        return;
    type = json_string_value(json_object_get(b, "type"));
    aud = json_string_value(json_object_get(b, "aud"));
    ver = json_string_value(json_object_get(b, "ver"));
    upn = json_string_value(json_object_get(b, "upn"));
    kid = json_string_value(json_object_get(b, "kid"));
    expires_in = json_is_integer(json_object_get(b, "expiresIn"))
                     ? json_integer_value(json_object_get(b, "expiresIn"))
                     : 3600;
    if (type && sim_ieq(type, "federated")) {
        if (!json_is_string(json_object_get(b, "sub"))) {
            bad(r, 400, "a federated token needs sub");
            goto out;
        }
        if (!aud)
            aud = "api://AzureADTokenExchange";
    }
    if (!aud) {
        bad(r, 400, "aud is required");
        goto out;
    }
    uuid_v4(oid);
    uuid_v4(uti);
    if (type && sim_ieq(type, "federated"))
        iss = sim_url(r, "/federation");
    else if (ver && strcmp(ver, "1.0") == 0)
        iss = xasprintf("https://sts.windows.net/%s/", S.tenant);
    else
        iss = sim_url(r, "/%s/v2.0", S.tenant);
    c = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "aud", aud, "iss", iss,
                  "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                  (json_int_t)(now + expires_in), "tid", S.tenant, "oid", oid, "sub", oid, "uti",
                  uti, "ver", ver ? ver : "2.0");
    free(iss);
    if (!type || !sim_ieq(type, "federated"))
        client_claims(c, b, upn != NULL, ver);
    if (upn)
        json_object_set_new(c, "upn", json_string(upn));
    /* explicit fields win: oid, tid, iss, sub, nbf, idtyp, roles, scp, appid, azp, name; a
     * null one is left out of the token */
    {
        static const char *pass[] = {"oid", "tid",   "iss", "sub",  "nbf",    "idtyp", "roles",
                                     "scp", "appid", "azp", "name", "groups", "iat",   NULL};
        const char *k;
        json_t *v;
        for (int i = 0; pass[i]; i++) {
            v = json_object_get(b, pass[i]);
            if (v)
                json_object_set(c, pass[i], v);
        }
        v = json_object_get(b, "oid");
        if (json_is_string(v) && !json_object_get(b, "sub"))
            json_object_set_new(c, "sub",
                                upn ? pairwise_sub(json_string_value(v)) : json_incref(v));
        if (json_is_object(json_object_get(b, "claims")))
            json_object_update(c, json_object_get(b, "claims"));
        json_object_foreach(json_object_get(b, "claims"), k, v)
        {
            if (json_is_null(v))
                json_object_del(c, k);
        }
        for (int i = 0; pass[i]; i++) {
            if (json_is_null(json_object_get(b, pass[i])))
                json_object_del(c, pass[i]);
        }
    }
    tok = sim_token_sign(json_incref(c), kid);
    sim_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:I, s:o}", "access_token", tok, "token_type", "Bearer",
                             "expires_in", (json_int_t)expires_in, "claims", c));
    free(tok);
out:
    json_decref(b);
}

static bool set(struct sim_route *rt, sim_handler fn, const char *op)
{
    rt->fn = fn;
    rt->op = op;
    rt->area = AREA_CONTROL;
    return true;
}

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_PATCH = 8, M_DELETE = 16 };

/* The control plane's routes: /_sim/<seg[1]>[/<seg[2]>[/<seg[3]>]] with exactly nseg segments
 * (NULL: any segment, an id), one of the methods; the first match wins. */
static const struct ctl_route {
    int nseg;
    unsigned methods;
    const char *seg[4];
    sim_handler fn;
    const char *op;
} ctl_routes[] = {
    {2, M_GET, {NULL, "state"}, state_get, "_sim.state"},
    {2, M_GET, {NULL, "lookup"}, lookup, "_sim.lookup"},
    {2, M_POST, {NULL, "vms"}, vm_add, "_sim.vms"},
    {2, M_PATCH, {NULL, "vms"}, vm_patch, "_sim.vms"},
    {2, M_DELETE, {NULL, "vms"}, vm_delete, "_sim.vms"},
    {2, M_GET, {NULL, "vms"}, lookup, "_sim.lookup"},
    {2, M_POST, {NULL, "users"}, principal_add, "_sim.principals"},
    {2, M_POST, {NULL, "groups"}, principal_add, "_sim.principals"},
    {2, M_POST, {NULL, "servicePrincipals"}, principal_add, "_sim.principals"},
    {2, M_POST, {NULL, "devices"}, principal_add, "_sim.principals"},
    {4, M_POST, {NULL, "groups", NULL, "members"}, group_member_add, "_sim.principals"},
    {3, M_DELETE, {NULL, "principals"}, principal_delete, "_sim.principals"},
    {3, M_DELETE, {NULL, "users"}, principal_delete, "_sim.principals"},
    {3, M_DELETE, {NULL, "groups"}, principal_delete, "_sim.principals"},
    {3, M_DELETE, {NULL, "servicePrincipals"}, principal_delete, "_sim.principals"},
    {3, M_DELETE, {NULL, "devices"}, principal_delete, "_sim.principals"},
    {2, M_POST, {NULL, "apps"}, app_add, "_sim.apps"},
    {2, M_POST, {NULL, "certificates"}, cert_add, "_sim.apps"},
    {2, M_POST, {NULL, "roleAssignments"}, ra_add, "_sim.roleAssignments"},
    {2, M_GET, {NULL, "roleAssignments"}, ra_query, "_sim.roleAssignments"},
    {3, M_DELETE, {NULL, "roleAssignments"}, ra_del, "_sim.roleAssignments"},
    {2, M_GET | M_PUT, {NULL, "faults"}, faults, "_sim.faults"},
    {2, M_GET | M_PUT, {NULL, "throttle"}, throttle, "_sim.throttle"},
    {2, M_GET | M_PUT, {NULL, "config"}, config, "_sim.config"},
    {2, M_GET, {NULL, "stats"}, stats, "_sim.stats"},
    {3, M_POST, {NULL, "stats", "reset"}, stats, "_sim.stats"},
    {2, M_POST, {NULL, "reset"}, reset, "_sim.reset"},
    {2, M_POST, {NULL, "tokens"}, tokens, "_sim.tokens"},
    {3, M_POST, {NULL, "deviceCodes", "approve"}, sim_devicecode_control, "_sim.deviceCodes"},
    {3, M_POST, {NULL, "deviceCodes", "decline"}, sim_devicecode_control, "_sim.deviceCodes"},
};

static unsigned method_bit(const char *m)
{
    static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(m, names[i]) == 0)
            return 1u << i;
    return 0;
}

static bool ctl_matches(const struct ctl_route *c, const struct sim_req *r, unsigned method)
{
    if (c->nseg != r->nseg || (c->methods & method) == 0)
        return false;
    for (int i = 1; i < c->nseg && i < 4; i++)
        if (c->seg[i] != NULL && !sim_seg_is(r, i, c->seg[i]))
            return false;
    return true;
}

bool sim_control_route(struct sim_req *r, struct sim_route *rt)
{
    unsigned method = method_bit(r->method);

    if (!sim_seg_is(r, 0, "_sim") || r->nseg < 2)
        return false;
    for (size_t i = 0; i < sizeof(ctl_routes) / sizeof(ctl_routes[0]); i++)
        if (ctl_matches(&ctl_routes[i], r, method))
            return set(rt, ctl_routes[i].fn, ctl_routes[i].op);
    return false;
}
