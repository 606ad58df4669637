/* sim_state.c: the in-memory tenant: scenario loading with path-precise errors, object
 * creation and removal, and the hashed indices (ids lowercased). Callers hold S.mu, except
 * the loader at start-up. It renders nothing; the sim_arm_* and sim_graph files do. */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

struct sim_state S;

static const char *cur_file = "";
static char *cur_dir;

static bool fail(char *err, size_t cap, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(char *err, size_t cap, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, cap, "%s: %s: ", cur_file, path);

    if (n < 0 || (size_t)n >= cap)
        return false;
    va_start(ap, fmt);
    vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static bool unpack(const json_t *j, const char *path, char *err, size_t cap, const char *fmt, ...)
{
    json_error_t je;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = json_vunpack_ex((json_t *)j, &je, JSON_STRICT, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        const char *p = je.source[0] == '<' ? "" : je.source;
        return fail(err, cap, path, "%s%s%s", je.text, p[0] ? " at " : "", p);
    }
    return true;
}

static bool guid_ok(const char *s, const char *path, const char *key, char *err, size_t cap)
{
    if (s && uuid_is_valid(s))
        return true;
    return fail(err, cap, path, "%s '%s' is not a GUID", key, s ? s : "");
}

static char *dup_or(const char *s, const char *def)
{
    return s ? xstrdup(s) : def ? xstrdup(def) : NULL;
}

const char *sim_intern(const char *s)
{
    char *v = sim_map_get(&S.interned, s);

    if (v)
        return v;
    v = xstrdup(s);
    sim_map_put(&S.interned, s, v);
    return v;
}

int sim_os_build(const char *v)
{
    /* "10.0.17763", "Microsoft Windows NT 10.0.14393.0", "22.04" */
    const char *p = v ? strstr(v, "10.0.") : NULL;

    if (!p)
        return 0;
    return (int)strtol(p + 5, NULL, 10);
}

/* ---- lookups ---- */

struct sim_sub *sim_sub_get(const char *id)
{
    char *k = sim_lc(id);
    struct sim_sub *s = sim_map_get(&S.sub_by_id, k);

    free(k);
    return s;
}

struct sim_vm *sim_vm_get_by_id(const char *id)
{
    char *k = sim_lc(id);
    size_t n = strlen(k);
    struct sim_vm *vm;

    while (n > 0 && k[n - 1] == '/')
        k[--n] = '\0';
    vm = sim_map_get(&S.vm_by_key, k);
    free(k);
    return vm;
}

struct sim_vm *sim_vm_get(const char *sub, const char *rg, const char *name)
{
    char *id = xasprintf("/subscriptions/%s/resourcegroups/%s/providers/microsoft.compute/"
                         "virtualmachines/%s",
                         sub, rg, name);
    struct sim_vm *vm = sim_vm_get_by_id(id);

    free(id);
    return vm;
}

struct sim_principal *sim_principal_any(const char *id)
{
    char *k = sim_lc(id);
    struct sim_principal *p = sim_map_get(&S.pr_by_id, k);

    free(k);
    return p;
}

struct sim_principal *sim_principal_get(const char *id)
{
    struct sim_principal *p = sim_principal_any(id);

    return p && !p->soft_deleted ? p : NULL;
}

struct sim_app *sim_app_get(const char *app_id)
{
    char *k = sim_lc(app_id);
    struct sim_app *a = sim_map_get(&S.app_by_id, k);

    free(k);
    return a;
}

struct sim_ext *sim_vm_ext_get(struct sim_vm *vm, const char *name)
{
    for (size_t i = 0; i < vm->exts.len; i++) {
        struct sim_ext *e = vm->exts.items[i];
        if (sim_ieq(e->name, name))
            return e;
    }
    return NULL;
}

/* ---- VMs ---- */

void sim_ext_free(struct sim_ext *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->publisher);
    free(e->type);
    free(e->version);
    json_decref(e->settings);
    free(e->force_update_tag);
    free(e->fail_code);
    free(e->fail_message);
    free(e);
}

static void vm_free(struct sim_vm *vm)
{
    free(vm->id);
    free(vm->key);
    free(vm->sub);
    free(vm->rg);
    free(vm->name);
    free(vm->location);
    free(vm->computer_name);
    free(vm->os_type);
    free(vm->os_name);
    free(vm->os_version);
    free(vm->img_publisher);
    free(vm->img_offer);
    free(vm->img_sku);
    free(vm->img_version);
    free(vm->power);
    free(vm->prov_state);
    json_decref(vm->user_identities);
    json_decref(vm->tags);
    json_decref(vm->facts);
    for (size_t i = 0; i < vm->exts.len; i++)
        sim_ext_free(vm->exts.items[i]);
    sim_vec_cleanup(&vm->exts);
    free(vm);
}

void sim_vm_remove(struct sim_vm *vm)
{
    struct sim_sub *s = sim_sub_get(vm->sub);

    if (s)
        sim_vec_remove(&s->vms, vm);
    sim_map_del(&S.vm_by_key, vm->key);
    vm_free(vm);
}

static struct sim_ext *ext_from_json(const json_t *j, const char *path, char *err, size_t cap)
{
    const char *name, *pub, *type, *ver = "1.0", *state = "Succeeded";
    int auto_up = 1;
    json_t *settings = NULL;
    struct sim_ext *e;

    if (!unpack(j, path, err, cap, "{s:s, s:s, s:s, s?s, s?b, s?s, s?o}", "name", &name,
                "publisher", &pub, "type", &type, "typeHandlerVersion", &ver,
                "autoUpgradeMinorVersion", &auto_up, "provisioningState", &state, "settings",
                &settings))
        return NULL;
    e = xcalloc(1, sizeof(*e));
    e->name = xstrdup(name);
    e->publisher = xstrdup(pub);
    e->type = xstrdup(type);
    e->version = xstrdup(ver);
    e->auto_upgrade = auto_up;
    e->settings = json_incref(settings);
    if (sim_ieq(state, "Failed")) {
        e->state = EXT_FAILED;
        e->fail_code = xstrdup("1007");
        e->fail_message = xstrdup("Failed in a previous run (scenario)");
        e->fail_terminal = true;
    } else {
        e->state = EXT_SUCCEEDED;
    }
    return e;
}

static bool identity_from_json(struct sim_vm *vm, const json_t *id, const char *path, char *err,
                               size_t cap)
{
    const char *type = NULL, *pid = NULL;
    json_t *ua = NULL;
    const char *k;
    json_t *v;

    if (!unpack(id, path, err, cap, "{s:s, s?s, s?o}", "type", &type, "principalId", &pid,
                "userAssignedIdentities", &ua))
        return false;
    vm->sys_identity = strstr(type, "SystemAssigned") != NULL;
    if (vm->sys_identity) {
        if (pid && !guid_ok(pid, path, "principalId", err, cap))
            return false;
        if (pid)
            snprintf(vm->principal_id, sizeof(vm->principal_id), "%s", pid);
        else
            uuid_v4(vm->principal_id);
    }
    vm->user_identities = json_object();
    json_object_foreach(ua, k, v)
    {
        const char *p = json_string_value(json_object_get(v, "principalId"));
        const char *c = json_string_value(json_object_get(v, "clientId"));
        char pg[UUID_STR_LEN], cg[UUID_STR_LEN];
        uuid_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", k, strlen(k), pg);
        uuid_v5("6ba7b812-9dad-11d1-80b4-00c04fd430c8", k, strlen(k), cg);
        json_object_set_new(
            vm->user_identities, k,
            json_pack("{s:s, s:s}", "principalId", p ? p : pg, "clientId", c ? c : cg));
    }
    return true;
}

static void ensure_rg(struct sim_sub *s, const char *rg, const char *location)
{
    char *k = sim_lc(rg);

    if (!json_object_get(s->rgs, k))
        json_object_set_new(
            s->rgs, k,
            json_pack("{s:s, s:s}", "name", rg, "location", location ? location : "westeurope"));
    free(k);
}

bool sim_state_add_vm(const json_t *j, const char *path, char *err, size_t cap)
{
    const char *sub, *rg, *name, *loc, *cn = NULL, *ost = "Windows", *osn = NULL, *osv = NULL;
    const char *power = "running", *vmid = NULL, *prov = "Succeeded";
    json_t *img = NULL, *identity = NULL, *tags = NULL, *exts = NULL, *facts = NULL;
    const char *ip = "MicrosoftWindowsServer", *io = "WindowsServer", *is = "2022-datacenter",
               *iv = "latest";
    struct sim_sub *s;
    struct sim_vm *vm;
    char p2[256];

    if (!unpack(j, path, err, cap,
                "{s:s, s:s, s:s, s:s, s?s, s?s, s?s, s?s, s?o, s?s, s?o, s?o, s?o, s?o, s?s, s?s}",
                "subscriptionId", &sub, "resourceGroup", &rg, "name", &name, "location", &loc,
                "computerName", &cn, "osType", &ost, "osName", &osn, "osVersion", &osv,
                "imageReference", &img, "powerState", &power, "identity", &identity, "tags", &tags,
                "extensions", &exts, "facts", &facts, "vmId", &vmid, "provisioningState", &prov))
        return false;
    if (img) {
        snprintf(p2, sizeof(p2), "%s.imageReference", path);
        if (!unpack(img, p2, err, cap, "{s?s, s?s, s?s, s?s}", "publisher", &ip, "offer", &io,
                    "sku", &is, "version", &iv))
            return false;
    }
    s = sim_sub_get(sub);
    if (!s)
        return fail(err, cap, path, "subscriptionId '%s' is not a subscription of the scenario",
                    sub);
    if (sim_vm_get(sub, rg, name))
        return fail(err, cap, path, "duplicate VM '%s' in resource group '%s'", name, rg);
    if (strlen(name) > 64 || strchr(name, '/'))
        return fail(err, cap, path, "name '%s' is not a valid VM name", name);
    if ((tags && !json_is_object(tags)) || (facts && !json_is_object(facts)) ||
        (exts && !json_is_array(exts)))
        return fail(err, cap, path, "tags and facts must be objects, extensions an array");
    vm = xcalloc(1, sizeof(*vm));
    vm->id = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                       "virtualMachines/%s",
                       s->id, rg, name);
    vm->key = sim_lc(vm->id);
    vm->sub = xstrdup(s->id);
    vm->rg = xstrdup(rg);
    vm->name = xstrdup(name);
    vm->location = xstrdup(loc);
    vm->computer_name = cn ? xstrdup(cn) : xstrndup(name, 15);
    vm->os_type = xstrdup(ost);
    vm->os_name = dup_or(osn, sim_ieq(ost, "Linux") ? "ubuntu" : "Windows Server 2022 Datacenter");
    vm->os_version = dup_or(osv, sim_ieq(ost, "Linux") ? "22.04" : "10.0.20348.2762");
    vm->img_publisher = xstrdup(ip);
    vm->img_offer = xstrdup(io);
    vm->img_sku = xstrdup(is);
    vm->img_version = xstrdup(iv);
    vm->power = xstrdup(power);
    vm->prov_state = xstrdup(prov);
    vm->etag = 1;
    vm->tags = tags ? json_deep_copy(tags) : json_object();
    vm->facts = facts ? json_deep_copy(facts) : json_object();
    vm->created_ms = clock_now_ms();
    if (vmid && uuid_is_valid(vmid))
        snprintf(vm->vm_id, sizeof(vm->vm_id), "%s", vmid);
    else
        uuid_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", vm->key, strlen(vm->key), vm->vm_id);
    snprintf(p2, sizeof(p2), "%s.identity", path);
    if (identity && !identity_from_json(vm, identity, p2, err, cap)) {
        vm_free(vm);
        return false;
    }
    if (!vm->user_identities)
        vm->user_identities = json_object();
    for (size_t i = 0; i < json_array_size(exts); i++) {
        struct sim_ext *e;
        snprintf(p2, sizeof(p2), "%s.extensions[%zu]", path, i);
        e = ext_from_json(json_array_get(exts, i), p2, err, cap);
        if (!e) {
            vm_free(vm);
            return false;
        }
        sim_vec_push(&vm->exts, e);
    }
    ensure_rg(s, rg, loc);
    sim_vec_push(&s->vms, vm);
    sim_map_put(&S.vm_by_key, vm->key, vm);
    if (vm->sys_identity && !sim_principal_any(vm->principal_id)) {
        char app[UUID_STR_LEN];
        uuid_v5("6ba7b812-9dad-11d1-80b4-00c04fd430c8", vm->principal_id, 36, app);
        sim_principal_new_sp(vm->principal_id, app, vm->name, "ManagedIdentity")->created_ms = 0;
    }
    return true;
}

/* ---- principals ---- */

static void principal_index(struct sim_principal *p)
{
    char *k = sim_lc(p->id);

    sim_vec_push(&S.principals, p);
    sim_map_put(&S.pr_by_id, k, p);
    free(k);
    if (p->upn) {
        k = sim_lc(p->upn);
        sim_map_put(&S.user_by_upn, k, p);
        free(k);
    }
    if (p->app_id) {
        k = sim_lc(p->app_id);
        sim_map_put(&S.sp_by_appid, k, p);
        free(k);
    }
}

void sim_vm_device_id(const struct sim_vm *vm, char *out)
{
    uuid_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", vm->vm_id, strlen(vm->vm_id), out);
}

/* A successful AADLoginForWindows joins the VM to Microsoft Entra ID, which registers a device
 * object named after the hostname (https://learn.microsoft.com/entra/identity/devices/
 * howto-vm-sign-in-azure-ad-windows: "the VM is joined to Microsoft Entra ID"; the device
 * shows with the VM's hostname in the Devices list, the reason a reused hostname collides). */
void sim_device_join(const struct sim_vm *vm)
{
    char did[UUID_STR_LEN];
    struct sim_principal *p;

    sim_vm_device_id(vm, did);
    for (size_t i = 0; i < S.principals.len; i++) {
        const struct sim_principal *q = S.principals.items[i];
        if (q->kind == PR_DEVICE && !q->soft_deleted && q->device_id != NULL &&
            sim_ieq(q->device_id, did))
            return;
    }
    p = xcalloc(1, sizeof(*p));
    p->kind = PR_DEVICE;
    uuid_v4(p->id);
    p->display_name = xstrdup(vm->computer_name ? vm->computer_name : vm->name);
    p->device_id = xstrdup(did);
    p->os = xstrdup("Windows");
    p->os_version = xstrdup(vm->os_version ? vm->os_version : "");
    p->trust_type = xstrdup("AzureAd");
    p->enabled = true;
    p->created_ms = clock_now_ms();
    principal_index(p);
}

struct sim_principal *sim_principal_new_sp(const char *id, const char *app_id, const char *name,
                                           const char *type)
{
    struct sim_principal *p = xcalloc(1, sizeof(*p));

    p->kind = PR_SP;
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->app_id = xstrdup(app_id);
    p->display_name = xstrdup(name);
    p->sp_type = xstrdup(type);
    p->enabled = true;
    p->spns = json_pack("[s]", app_id);
    p->created_ms = clock_now_ms();
    principal_index(p);
    return p;
}

bool sim_state_add_principal(const json_t *j, enum sim_principal_kind kind, int64_t created_ms,
                             const char *path, char *err, size_t cap)
{
    const char *id = NULL, *dn = NULL, *upn = NULL, *ut = "Member", *app = NULL,
               *spt = "Application", *devid = NULL, *os = "Windows", *osv = "10.0.20348.0",
               *trust = "AzureAd", *mail = NULL;
    int enabled = 1;
    json_t *members = NULL, *spns = NULL;
    struct sim_principal *p;
    bool ok = false;

    switch (kind) {
    case PR_USER:
        ok = unpack(j, path, err, cap, "{s:s, s:s, s?s, s?s, s?b, s?s}", "id", &id,
                    "userPrincipalName", &upn, "displayName", &dn, "userType", &ut,
                    "accountEnabled", &enabled, "mail", &mail);
        break;
    case PR_GROUP:
        ok = unpack(j, path, err, cap, "{s:s, s:s, s?o}", "id", &id, "displayName", &dn, "members",
                    &members);
        break;
    case PR_SP:
        ok = unpack(j, path, err, cap, "{s:s, s:s, s?s, s?s, s?o, s?b}", "id", &id, "appId", &app,
                    "displayName", &dn, "servicePrincipalType", &spt, "servicePrincipalNames",
                    &spns, "accountEnabled", &enabled);
        break;
    case PR_DEVICE:
        ok =
            unpack(j, path, err, cap, "{s:s, s:s, s?s, s?s, s?s, s?s, s?b}", "id", &id,
                   "displayName", &dn, "deviceId", &devid, "operatingSystem", &os,
                   "operatingSystemVersion", &osv, "trustType", &trust, "accountEnabled", &enabled);
        break;
    }
    if (!ok || !guid_ok(id, path, "id", err, cap))
        return false;
    if (app && !guid_ok(app, path, "appId", err, cap))
        return false;
    if (sim_principal_any(id))
        return fail(err, cap, path, "duplicate object id '%s'", id);
    if (upn) {
        char *k = sim_lc(upn);
        bool dup = sim_map_get(&S.user_by_upn, k) != NULL;
        free(k);
        if (dup)
            return fail(err, cap, path, "duplicate userPrincipalName '%s'", upn);
    }
    if (app && sim_app_get(app) == NULL) {
        char *k = sim_lc(app);
        bool dup = sim_map_get(&S.sp_by_appid, k) != NULL;
        free(k);
        if (dup)
            return fail(err, cap, path, "duplicate service principal for appId '%s'", app);
    }
    if (members && !json_is_array(members))
        return fail(err, cap, path, "members must be an array of object ids");
    p = xcalloc(1, sizeof(*p));
    p->kind = kind;
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->display_name = dup_or(dn, upn ? upn : "");
    p->upn = dup_or(upn, NULL);
    p->user_type = dup_or(kind == PR_USER ? ut : NULL, NULL);
    p->enabled = enabled;
    p->app_id = dup_or(app, NULL);
    p->sp_type = dup_or(kind == PR_SP ? spt : NULL, NULL);
    p->spns = kind != PR_SP ? NULL : spns ? json_deep_copy(spns) : json_pack("[s]", app);
    if (kind == PR_DEVICE) {
        char did[UUID_STR_LEN];
        uuid_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", id, strlen(id), did);
        p->device_id = xstrdup(devid ? devid : did);
        p->os = xstrdup(os);
        p->os_version = xstrdup(osv);
        p->trust_type = xstrdup(trust);
    }
    p->created_ms = created_ms;
    principal_index(p);
    return true;
}

/* Second pass for groups: members may name groups declared later. */
static bool link_members(const json_t *groups, char *err, size_t cap)
{
    for (size_t i = 0; i < json_array_size(groups); i++) {
        const json_t *g = json_array_get(groups, i);
        struct sim_principal *gp = sim_principal_any(json_string_value(json_object_get(g, "id")));
        const json_t *m = json_object_get(g, "members");
        for (size_t k = 0; k < json_array_size(m); k++) {
            const char *mid = json_string_value(json_array_get(m, k));
            struct sim_principal *mp = mid ? sim_principal_any(mid) : NULL;
            char path[96];
            snprintf(path, sizeof(path), "$.groups[%zu].members[%zu]", i, k);
            if (!mp || mp == gp)
                return fail(err, cap, path, "'%s' is not a user, group or service principal",
                            mid ? mid : "");
            sim_vec_push(&gp->members, mp);
            sim_vec_push(&mp->member_of, gp);
        }
    }
    return true;
}

static void principal_free(struct sim_principal *p)
{
    free(p->display_name);
    free(p->upn);
    free(p->user_type);
    free(p->app_id);
    free(p->sp_type);
    json_decref(p->spns);
    free(p->device_id);
    free(p->os);
    free(p->os_version);
    free(p->trust_type);
    sim_vec_cleanup(&p->members);
    sim_vec_cleanup(&p->member_of);
    free(p);
}

void sim_principal_remove(struct sim_principal *p, bool soft)
{
    char *k;

    for (size_t i = 0; i < p->member_of.len; i++)
        sim_vec_remove(&((struct sim_principal *)p->member_of.items[i])->members, p);
    for (size_t i = 0; i < p->members.len; i++)
        sim_vec_remove(&((struct sim_principal *)p->members.items[i])->member_of, p);
    p->members.len = 0;
    p->member_of.len = 0;
    if (p->upn) {
        k = sim_lc(p->upn);
        sim_map_del(&S.user_by_upn, k);
        free(k);
    }
    if (p->app_id) {
        k = sim_lc(p->app_id);
        if (sim_map_get(&S.sp_by_appid, k) == p)
            sim_map_del(&S.sp_by_appid, k);
        free(k);
    }
    if (soft) {
        p->soft_deleted = true;
        p->deleted_ms = clock_now_ms();
        return;
    }
    k = sim_lc(p->id);
    sim_map_del(&S.pr_by_id, k);
    free(k);
    sim_vec_remove(&S.principals, p);
    principal_free(p);
}

void sim_principal_groups(const struct sim_principal *p, struct sim_vec *out)
{
    /* breadth-first over member_of; out doubles as the queue */
    size_t start = out->len;

    for (size_t i = 0; i < p->member_of.len; i++)
        sim_vec_push(out, p->member_of.items[i]);
    for (size_t i = start; i < out->len; i++) {
        struct sim_principal *g = out->items[i];
        for (size_t k = 0; k < g->member_of.len; k++) {
            bool seen = false;
            for (size_t m = start; m < out->len && !seen; m++)
                seen = out->items[m] == g->member_of.items[k];
            if (!seen)
                sim_vec_push(out, g->member_of.items[k]);
        }
    }
}

/* ---- apps ---- */

static X509 *load_cert_rel(const char *file)
{
    char *path = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", cur_dir ? cur_dir : ".", file);
    X509 *c = pem_load_cert_file(path);

    free(path);
    return c;
}

static bool strings_ok(const json_t *a)
{
    if (!json_is_array(a))
        return false;
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (!json_is_string(json_array_get(a, i)))
            return false;
    }
    return true;
}

static bool app_lists_ok(const json_t *roles, const json_t *spa, const char *path, char *err,
                         size_t cap)
{
    if (roles && !strings_ok(roles))
        return fail(err, cap, path, "graphAppRoles must be an array of app role values");
    if (spa && !strings_ok(spa))
        return fail(err, cap, path, "spaRedirectUris must be an array of URIs");
    return true;
}

bool sim_state_add_app(const json_t *j, const char *path, char *err, size_t cap)
{
    const char *app_id, *dn = "azsim app", *secret = NULL, *spid = NULL;
    json_t *certs = NULL, *fed = NULL, *pems = NULL, *roles = NULL, *spa = NULL;
    struct sim_app *a;
    char *k;

    if (!unpack(j, path, err, cap, "{s:s, s?s, s?s, s?o, s?o, s?o, s?s, s?o, s?o}", "appId",
                &app_id, "displayName", &dn, "clientSecret", &secret, "certificateFiles", &certs,
                "certificatePems", &pems, "federatedCredentials", &fed, "servicePrincipalId", &spid,
                "graphAppRoles", &roles, "spaRedirectUris", &spa) ||
        !guid_ok(app_id, path, "appId", err, cap))
        return false;
    if (!app_lists_ok(roles, spa, path, err, cap))
        return false;
    if (spid && !guid_ok(spid, path, "servicePrincipalId", err, cap))
        return false;
    if (sim_app_get(app_id))
        return fail(err, cap, path, "duplicate appId '%s'", app_id);
    a = xcalloc(1, sizeof(*a));
    a->app_id = xstrdup(app_id);
    a->display_name = xstrdup(dn);
    a->secret = dup_or(secret, NULL);
    a->federated = fed ? json_deep_copy(fed) : json_array();
    a->graph_roles = json_deep_copy(roles); /* NULL: none granted */
    a->spa_redirects = spa ? json_deep_copy(spa) : json_array();
    for (size_t i = 0; i < json_array_size(certs); i++) {
        const char *f = json_string_value(json_array_get(certs, i));
        X509 *c = f ? load_cert_rel(f) : NULL;
        if (!c) {
            char p2[128];
            snprintf(p2, sizeof(p2), "%s.certificateFiles[%zu]", path, i);
            return fail(err, cap, p2, "cannot read a PEM certificate from '%s'", f ? f : "");
        }
        sim_vec_push(&a->certs, c);
    }
    for (size_t i = 0; i < json_array_size(pems); i++) {
        const char *pem = json_string_value(json_array_get(pems, i));
        X509 *c = pem ? pem_load_cert_mem(pem, strlen(pem)) : NULL;
        if (!c) {
            char p2[128];
            snprintf(p2, sizeof(p2), "%s.certificatePems[%zu]", path, i);
            return fail(err, cap, p2, "not a PEM certificate");
        }
        sim_vec_push(&a->certs, c);
    }
    if (spid)
        snprintf(a->sp_id, sizeof(a->sp_id), "%s", spid);
    else
        uuid_v5("6ba7b812-9dad-11d1-80b4-00c04fd430c8", app_id, strlen(app_id), a->sp_id);
    k = sim_lc(app_id);
    sim_map_put(&S.app_by_id, k, a);
    free(k);
    sim_vec_push(&S.apps, a);
    if (!sim_principal_any(a->sp_id))
        sim_principal_new_sp(a->sp_id, a->app_id, a->display_name, "Application")->created_ms = 0;
    return true;
}

/* ---- role assignments ---- */

uint64_t sim_scopes_gen = 1;

struct sim_ra *sim_ra_add(const char *name, const char *scope, const char *role,
                          const char *principal, const char *ptype, int64_t created_ms)
{
    struct sim_ra *ra = xcalloc(1, sizeof(*ra));
    char *scope_lc = sim_lc(scope);
    struct sim_scope *sc = sim_map_get(&S.ra_by_scope, scope_lc);
    struct sim_vec *pv;
    char *k;

    if (!sc) {
        sc = xcalloc(1, sizeof(*sc));
        sc->scope = xstrdup(scope);
        sc->scope_lc = scope_lc;
        sim_map_put(&S.ra_by_scope, scope_lc, sc);
        sim_scopes_gen++;
    } else {
        free(scope_lc);
    }
    k = sim_lc(name);
    snprintf(ra->name, sizeof(ra->name), "%s", k);
    free(k);
    k = sim_lc(role);
    snprintf(ra->role, sizeof(ra->role), "%s", k);
    free(k);
    k = sim_lc(principal);
    snprintf(ra->principal, sizeof(ra->principal), "%s", k);
    free(k);
    ra->sc = sc;
    ra->ptype = sim_intern(ptype ? ptype : "User");
    ra->created_ms = created_ms;
    sim_vec_push(&sc->ras, ra);
    sim_vec_push(&S.ras, ra);
    sim_map_put(&S.ra_by_name, ra->name, ra);
    pv = sim_map_get(&S.ra_by_principal, ra->principal);
    if (!pv) {
        pv = xcalloc(1, sizeof(*pv));
        sim_map_put(&S.ra_by_principal, ra->principal, pv);
    }
    sim_vec_push(pv, ra);
    return ra;
}

void sim_ra_remove(struct sim_ra *ra)
{
    struct sim_vec *pv = sim_map_get(&S.ra_by_principal, ra->principal);

    if (pv)
        sim_vec_remove(pv, ra);
    sim_vec_remove(&ra->sc->ras, ra);
    sim_vec_remove(&S.ras, ra);
    sim_map_del(&S.ra_by_name, ra->name);
    free(ra->description);
    free(ra->created_by);
    free(ra);
}

static char *normalize_scope(const char *scope)
{
    char *s = xstrdup(scope);
    size_t n = strlen(s);

    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static bool add_ra_json(const json_t *j, const char *path, char *err, size_t cap)
{
    const char *name = NULL, *scope, *rdid = NULL, *rname = NULL, *pid, *pt = NULL;
    const char *role;
    char gen[UUID_STR_LEN];
    char *sc;

    if (!unpack(j, path, err, cap, "{s?s, s:s, s?s, s?s, s:s, s?s}", "name", &name, "scope", &scope,
                "roleDefinitionId", &rdid, "roleName", &rname, "principalId", &pid, "principalType",
                &pt) ||
        !guid_ok(pid, path, "principalId", err, cap))
        return false;
    role = rname ? sim_role_guid_by_name(rname) : rdid ? strrchr(rdid, '/') : NULL;
    if (role && role[0] == '/')
        role++;
    if (!role && rdid)
        role = rdid;
    if (!role || !sim_role_exists(role))
        return fail(err, cap, path, "unknown role '%s'", rname ? rname : rdid ? rdid : "");
    if (name && !guid_ok(name, path, "name", err, cap))
        return false;
    if (scope[0] != '/')
        return fail(err, cap, path, "scope '%s' must start with '/'", scope);
    sc = normalize_scope(scope);
    if (!name) {
        char *seed = xasprintf("%s|%s|%s", sc, role, pid);
        char *lc = sim_lc(seed);
        uuid_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", lc, strlen(lc), gen);
        free(lc);
        free(seed);
        name = gen;
    }
    if (sim_map_get(&S.ra_by_name, name)) {
        free(sc);
        return fail(err, cap, path, "duplicate role assignment name '%s'", name);
    }
    sim_ra_add(name, sc, role, pid, pt, 0);
    free(sc);
    return true;
}

/* TSV: name scope roleGuid principalId principalType, one a line (genfleet writes it). */
static bool load_ra_tsv(const char *file, char *err, size_t cap)
{
    char *path = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", cur_dir, file);
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t lineno = 0;

    if (!f) {
        fail(err, cap, "$.roleAssignmentsFile", "cannot open '%s': %s", path, strerror(errno));
        free(path);
        return false;
    }
    while (fgets(line, sizeof(line), f)) {
        char *fields[5] = {0};
        char *p = line;
        int n = 0;
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        while (n < 5) {
            fields[n++] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (n < 4 || !uuid_is_valid(fields[0]) || !uuid_is_valid(fields[3]) ||
            !sim_role_exists(fields[2])) {
            char where[64];
            snprintf(where, sizeof(where), "$.roleAssignmentsFile line %zu", lineno);
            fclose(f);
            free(path);
            return fail(err, cap, where, "expected name, scope, role GUID, principal id, type");
        }
        sim_ra_add(fields[0], fields[1], fields[2], fields[3], n > 4 ? fields[4] : "User", 0);
    }
    fclose(f);
    free(path);
    return true;
}

static bool load_array(const json_t *root, const char *key, char *err, size_t cap,
                       bool (*each)(const json_t *, const char *, char *, size_t))
{
    const json_t *a = json_object_get(root, key);
    char path[96];

    if (a && !json_is_array(a))
        return fail(err, cap, "$", "'%s' must be an array", key);
    for (size_t i = 0; i < json_array_size(a); i++) {
        snprintf(path, sizeof(path), "$.%s[%zu]", key, i);
        if (!each(json_array_get(a, i), path, err, cap))
            return false;
    }
    return true;
}

static bool add_sub(const json_t *j, const char *path, char *err, size_t cap)
{
    const char *id, *dn = NULL;
    json_t *rgs = NULL;
    struct sim_sub *s;
    char *k;

    if (!unpack(j, path, err, cap, "{s:s, s?s, s?o}", "subscriptionId", &id, "displayName", &dn,
                "resourceGroups", &rgs) ||
        !guid_ok(id, path, "subscriptionId", err, cap))
        return false;
    if (sim_sub_get(id))
        return fail(err, cap, path, "duplicate subscription '%s'", id);
    /* check every resource group before allocating, so a refusal leaks nothing */
    for (size_t i = 0; i < json_array_size(rgs); i++) {
        const char *n = NULL, *loc = NULL;
        char p2[256];
        snprintf(p2, sizeof(p2), "%s.resourceGroups[%zu]", path, i);
        if (!unpack(json_array_get(rgs, i), p2, err, cap, "{s:s, s?s}", "name", &n, "location",
                    &loc))
            return false;
    }
    s = xcalloc(1, sizeof(*s));
    s->id = sim_lc(id);
    s->display_name = xstrdup(dn ? dn : id);
    s->rgs = json_object();
    for (size_t i = 0; i < json_array_size(rgs); i++) {
        const char *n = NULL, *loc = NULL;
        if (json_unpack(json_array_get(rgs, i), "{s:s, s?s}", "name", &n, "location", &loc) == 0)
            ensure_rg(s, n, loc);
    }
    k = sim_lc(id);
    sim_map_put(&S.sub_by_id, k, s);
    free(k);
    sim_vec_push(&S.subs, s);
    return true;
}

static bool add_user(const json_t *j, const char *p, char *e, size_t c)
{
    return sim_state_add_principal(j, PR_USER, 0, p, e, c);
}
static bool add_group(const json_t *j, const char *p, char *e, size_t c)
{
    return sim_state_add_principal(j, PR_GROUP, 0, p, e, c);
}
static bool add_sp(const json_t *j, const char *p, char *e, size_t c)
{
    return sim_state_add_principal(j, PR_SP, 0, p, e, c);
}
static bool add_device(const json_t *j, const char *p, char *e, size_t c)
{
    return sim_state_add_principal(j, PR_DEVICE, 0, p, e, c);
}

bool sim_state_load(const char *path, char *err, size_t cap)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    const char *tenant = NULL, *domain = "contoso.example", *imds = NULL, *rafile = NULL,
               *desc = NULL;
    json_t *apps = NULL, *subs = NULL, *vms = NULL, *users = NULL, *groups = NULL, *sps = NULL,
           *devices = NULL, *ras = NULL, *throttle = NULL, *faults = NULL, *ca = NULL,
           *signin_log = NULL;
    int page = -1, delay = -1;
    char *dirbuf = xstrdup(path);
    bool ok = false;

    cur_file = path;
    free(cur_dir);
    cur_dir = xstrdup(dirname(dirbuf));
    free(dirbuf);
    if (!root) {
        snprintf(err, cap, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return false;
    }
    if (!unpack(root, "$", err, cap,
                "{s:s, s?s, s?i, s?i, s?s, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?o, s?s, s?o, "
                "s?o, s?s, s?o, s?o}",
                "tenantId", &tenant, "tenantDomain", &domain, "pageSize", &page,
                "replicationDelaySeconds", &delay, "imdsVm", &imds, "apps", &apps, "subscriptions",
                &subs, "vms", &vms, "users", &users, "groups", &groups, "servicePrincipals", &sps,
                "devices", &devices, "roleAssignments", &ras, "roleAssignmentsFile", &rafile,
                "throttle", &throttle, "faults", &faults, "description", &desc,
                "conditionalAccessPolicies", &ca, "signIns", &signin_log))
        goto out;
    if (!guid_ok(tenant, "$", "tenantId", err, cap))
        goto out;
    snprintf(S.tenant, sizeof(S.tenant), "%s", tenant);
    free(S.tenant_domain);
    S.tenant_domain = xstrdup(domain);
    if (page > 0 && S.page_size <= 0)
        S.page_size = page;
    if (delay >= 0)
        S.replication_delay_ms = (int64_t)delay * 1000;
    free(S.imds_vm);
    S.imds_vm = imds ? sim_lc(imds) : NULL;
    if (!load_array(root, "subscriptions", err, cap, add_sub) ||
        !load_array(root, "users", err, cap, add_user) ||
        !load_array(root, "servicePrincipals", err, cap, add_sp) ||
        !load_array(root, "apps", err, cap, sim_state_add_app) ||
        !load_array(root, "devices", err, cap, add_device) ||
        !load_array(root, "groups", err, cap, add_group) || !link_members(groups, err, cap) ||
        !load_array(root, "vms", err, cap, sim_state_add_vm) ||
        !load_array(root, "roleAssignments", err, cap, add_ra_json))
        goto out;
    if (rafile && !load_ra_tsv(rafile, err, cap))
        goto out;
    if (throttle && !sim_throttle_from_json(throttle, err, cap)) {
        fail(err, cap, "$.throttle", "%s", err);
        goto out;
    }
    if (faults && !sim_faults_set(faults, err, cap))
        goto out;
    if (!sim_signin_load(ca, signin_log, err, cap))
        goto out;
    ok = true;
out:
    json_decref(root);
    return ok;
}

static void clear_map_free(struct sim_map *m, void (*fr)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        const char *k;
        void *v;
        if (sim_map_at(m, i, &k, &v) && fr)
            fr(v);
    }
    sim_map_cleanup(m);
}

static void free_scope(void *p)
{
    struct sim_scope *sc = p;

    free(sc->scope);
    free(sc->scope_lc);
    sim_vec_cleanup(&sc->ras);
    free(sc);
}

static void free_vec(void *p)
{
    sim_vec_cleanup(p);
    free(p);
}

static void free_op(void *p)
{
    struct sim_op *op = p;

    free(op->sub);
    free(op->location);
    free(op->vm_key);
    free(op->ext_name);
    free(op->err_code);
    free(op->err_message);
    free(op->resource_url);
    free(op->output);
    free(op);
}

void sim_state_clear(void)
{
    sim_signin_clear();
    for (size_t i = 0; i < S.subs.len; i++) {
        struct sim_sub *s = S.subs.items[i];
        for (size_t k = 0; k < s->vms.len; k++)
            vm_free(s->vms.items[k]);
        sim_vec_cleanup(&s->vms);
        json_decref(s->rgs);
        free(s->id);
        free(s->display_name);
        free(s);
    }
    sim_vec_cleanup(&S.subs);
    sim_map_cleanup(&S.sub_by_id);
    sim_map_cleanup(&S.vm_by_key);
    for (size_t i = 0; i < S.principals.len; i++)
        principal_free(S.principals.items[i]);
    sim_vec_cleanup(&S.principals);
    sim_map_cleanup(&S.pr_by_id);
    sim_map_cleanup(&S.user_by_upn);
    sim_map_cleanup(&S.sp_by_appid);
    for (size_t i = 0; i < S.apps.len; i++) {
        struct sim_app *a = S.apps.items[i];
        for (size_t k = 0; k < a->certs.len; k++)
            X509_free(a->certs.items[k]);
        sim_vec_cleanup(&a->certs);
        json_decref(a->federated);
        json_decref(a->graph_roles);
        json_decref(a->spa_redirects);
        free(a->app_id);
        free(a->display_name);
        free(a->secret);
        free(a);
    }
    sim_vec_cleanup(&S.apps);
    sim_map_cleanup(&S.app_by_id);
    for (size_t i = 0; i < S.ras.len; i++) {
        struct sim_ra *ra = S.ras.items[i];
        free(ra->description);
        free(ra->created_by);
        free(ra);
    }
    sim_vec_cleanup(&S.ras);
    sim_map_cleanup(&S.ra_by_name);
    clear_map_free(&S.ra_by_scope, free_scope);
    sim_scopes_gen++;
    clear_map_free(&S.ra_by_principal, free_vec);
    clear_map_free(&S.ops, free_op);
    clear_map_free(&S.jti_seen, free);
    clear_map_free(&S.buckets, free);
    clear_map_free(&S.throttled, free);
}

json_t *sim_state_summary(void)
{
    size_t users = 0, groups = 0, sps = 0, devices = 0, deleted = 0, vms = 0, running = 0;
    json_t *subs = json_array();

    for (size_t i = 0; i < S.principals.len; i++) {
        struct sim_principal *p = S.principals.items[i];
        if (p->soft_deleted) {
            deleted++;
            continue;
        }
        users += p->kind == PR_USER;
        groups += p->kind == PR_GROUP;
        sps += p->kind == PR_SP;
        devices += p->kind == PR_DEVICE;
    }
    for (size_t i = 0; i < S.subs.len; i++) {
        struct sim_sub *s = S.subs.items[i];
        vms += s->vms.len;
        json_array_append_new(subs,
                              json_pack("{s:s, s:s, s:I}", "subscriptionId", s->id, "displayName",
                                        s->display_name, "vms", (json_int_t)s->vms.len));
    }
    for (size_t i = 0; i < S.ops.cap; i++) {
        const char *k;
        void *v;
        if (sim_map_at(&S.ops, i, &k, &v) && !((struct sim_op *)v)->settled)
            running++;
    }
    return json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:f, s:I}",
                     "tenantId", S.tenant, "subscriptions", subs, "vms", (json_int_t)vms, "users",
                     (json_int_t)users, "groups", (json_int_t)groups, "servicePrincipals",
                     (json_int_t)sps, "devices", (json_int_t)devices, "deletedObjects",
                     (json_int_t)deleted, "roleAssignments", (json_int_t)S.ras.len, "apps",
                     (json_int_t)S.apps.len, "operationsInProgress", (json_int_t)running,
                     "pageSize", S.page_size, "timeScale", S.time_scale, "replicationDelaySeconds",
                     (json_int_t)(S.replication_delay_ms / 1000));
}
