/* test_cloud_fake.h: an in-memory cloud behind struct cloud_ops for the reconciler's unit
 * tests: subscriptions, VMs with their AADLoginForWindows extension and identity, role
 * assignments, directory principals (live or soft-deleted) and group members. It keeps the
 * few rules the handlers depend on (a PUT of a (scope, role, principal) held under another
 * name answers 409 RoleAssignmentExists; a DELETE of a missing assignment answers 404; a list
 * at a scope returns the assignments at, above and below it; long-running operations finish at
 * once). Failures are injected per operation name (cloud_fake_fail), and every call is counted
 * (cloud_fake_calls). Real wire behaviour is azsim's, in the integration tests. Header-only:
 * each test includes it once. */
#ifndef TEST_CLOUD_FAKE_H
#define TEST_CLOUD_FAKE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/xalloc.h"

#define CLOUD_FAKE_MAX 32

struct cloud_fake_vm {
    char id[256]; /* /subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/... */
    char sub[40];
    char rg[64];
    char name[64];
    char power[16]; /* running, deallocated */
    bool identity;  /* system-assigned */
    bool has_aad;   /* AADLoginForWindows installed */
    char aad_state[16];
    char aad_version[16];
};

struct cloud_fake_ra {
    char scope[256];
    char name[40];
    char role_guid[40];
    char principal[40];
    char ptype[24];
};

struct cloud_fake_principal {
    char id[40];
    char kind[24]; /* user, group, servicePrincipal */
    char upn[128];
    char user_type[16];
    bool disabled;
    bool soft_deleted; /* only in deletedItems */
};

struct cloud_fake_device {
    char id[40];        /* object id */
    char device_id[40]; /* deviceId */
    char name[64];      /* displayName */
    char last_sign_in[32];
    bool deleted;
};

struct cloud_fake_fail {
    char op[40];
    long status; /* 0: a transport failure */
    char code[64];
    int times; /* calls left to fail; <0 every call */
};

struct cloud_fake {
    struct cloud_ops ops;
    char subs[4][40];
    size_t n_subs;
    struct cloud_fake_vm vms[CLOUD_FAKE_MAX];
    size_t n_vms;
    struct cloud_fake_ra ras[CLOUD_FAKE_MAX];
    size_t n_ras;
    struct cloud_fake_principal ps[CLOUD_FAKE_MAX];
    size_t n_ps;
    struct {
        char group[40], member[40];
    } members[CLOUD_FAKE_MAX];
    size_t n_members;
    struct cloud_fake_device devices[CLOUD_FAKE_MAX];
    size_t n_devices;
    struct cloud_fake_fail fails[8];
    size_t n_fails;
    struct {
        const char *op;
        int n;
    } calls[32];
    size_t n_calls;
    struct azure_cloud cloud;
    int64_t stand_back_ms; /* what yielding_write_wait_ms answers */
};

/* ---- the test's side --------------------------------------------------------------------- */

static inline int cloud_fake_calls(const struct cloud_fake *f, const char *op)
{
    for (size_t i = 0; i < f->n_calls; i++)
        if (strcmp(f->calls[i].op, op) == 0)
            return f->calls[i].n;
    return 0;
}

/* The next `times` calls of op (a cloud_ops member name) fail with status and code (times < 0:
 * every call). */
static inline void cloud_fake_fail(struct cloud_fake *f, const char *op, long status,
                                   const char *code, int times)
{
    struct cloud_fake_fail *x = &f->fails[f->n_fails++];

    snprintf(x->op, sizeof(x->op), "%s", op);
    snprintf(x->code, sizeof(x->code), "%s", code);
    x->status = status;
    x->times = times;
}

static inline void cloud_fake_add_sub(struct cloud_fake *f, const char *sub)
{
    snprintf(f->subs[f->n_subs++], sizeof(f->subs[0]), "%s", sub);
}

static inline struct cloud_fake_vm *cloud_fake_add_vm(struct cloud_fake *f, const char *sub,
                                                      const char *rg, const char *name)
{
    struct cloud_fake_vm *v = &f->vms[f->n_vms++];

    *v = (struct cloud_fake_vm){.identity = false};
    snprintf(v->sub, sizeof(v->sub), "%s", sub);
    snprintf(v->rg, sizeof(v->rg), "%s", rg);
    snprintf(v->name, sizeof(v->name), "%s", name);
    snprintf(v->power, sizeof(v->power), "running");
    snprintf(v->id, sizeof(v->id),
             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s",
             sub, rg, name);
    return v;
}

static inline void cloud_fake_remove_vm(struct cloud_fake *f, const char *name)
{
    for (size_t i = 0; i < f->n_vms; i++)
        if (strcmp(f->vms[i].name, name) == 0)
            f->vms[i] = f->vms[--f->n_vms];
}

static inline struct cloud_fake_principal *
cloud_fake_add_principal(struct cloud_fake *f, const char *id, const char *kind, const char *upn)
{
    struct cloud_fake_principal *p = &f->ps[f->n_ps++];

    *p = (struct cloud_fake_principal){.disabled = false};
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->kind, sizeof(p->kind), "%s", kind);
    snprintf(p->upn, sizeof(p->upn), "%s", upn ? upn : "");
    snprintf(p->user_type, sizeof(p->user_type), "Member");
    return p;
}

static inline struct cloud_fake_ra *cloud_fake_add_ra(struct cloud_fake *f, const char *scope,
                                                      const char *name, const char *role_guid,
                                                      const char *principal, const char *ptype)
{
    struct cloud_fake_ra *r = &f->ras[f->n_ras++];

    snprintf(r->scope, sizeof(r->scope), "%s", scope);
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->role_guid, sizeof(r->role_guid), "%s", role_guid);
    snprintf(r->principal, sizeof(r->principal), "%s", principal);
    snprintf(r->ptype, sizeof(r->ptype), "%s", ptype);
    return r;
}

/* ---- the rules --------------------------------------------------------------------------- */

static inline bool cloud_fake_enter(struct cloud_fake *f, const char *op, struct azure_error *ae,
                                    enum err *rc)
{
    size_t i;

    for (i = 0; i < f->n_calls && strcmp(f->calls[i].op, op) != 0; i++)
        ;
    if (i == f->n_calls)
        f->calls[f->n_calls++].op = op;
    f->calls[i].n++;
    for (i = 0; i < f->n_fails; i++) {
        struct cloud_fake_fail *x = &f->fails[i];
        if (strcmp(x->op, op) != 0 || x->times == 0)
            continue;
        if (x->times > 0)
            x->times--;
        ae->status = x->status;
        snprintf(ae->code, sizeof(ae->code), "%s", x->code);
        if (strcmp(x->code, "AuthorizationFailed") == 0) /* ARM's wording of a missing action */
            snprintf(ae->message, sizeof(ae->message),
                     "The client 'vmlogind' with object id 'fake' does not have authorization to "
                     "perform action 'Microsoft.Fake/%s/action' over scope '/subscriptions/fake' "
                     "or the scope is invalid.",
                     op);
        else
            snprintf(ae->message, sizeof(ae->message), "injected %s", x->code);
        snprintf(ae->request_id, sizeof(ae->request_id), "fake-request");
        snprintf(ae->client_request_id, sizeof(ae->client_request_id), "fake-client-request");
        *rc = azure_error_to_err(ae);
        return false;
    }
    return true;
}

static inline enum err cloud_fake_status(struct azure_error *ae, long status, const char *code)
{
    ae->status = status;
    snprintf(ae->code, sizeof(ae->code), "%s", code);
    snprintf(ae->message, sizeof(ae->message), "%s", code);
    return azure_error_to_err(ae);
}

#define FAKE_ENTER(f, op, ae)                                                                      \
    do {                                                                                           \
        enum err rc_;                                                                              \
        if (!cloud_fake_enter((f), (op), (ae), &rc_))                                              \
            return rc_;                                                                            \
    } while (0)

static inline char *cloud_fake_ra_id(const struct cloud_fake_ra *r)
{
    return xasprintf("%s/providers/Microsoft.Authorization/roleAssignments/%s", r->scope, r->name);
}

/* a covers b: b is a or under it (ARM ids, case-insensitive) */
static inline bool cloud_fake_covers(const char *a, const char *b)
{
    size_t n = strlen(a);

    return strncasecmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

static inline void cloud_fake_ra_out(const struct cloud_fake_ra *r, struct azure_role_assignment *o)
{
    *o = (struct azure_role_assignment){
        .id = cloud_fake_ra_id(r),
        .name = xstrdup(r->name),
        .scope = xstrdup(r->scope),
        .role_definition_id =
            xasprintf("/providers/Microsoft.Authorization/roleDefinitions/%s", r->role_guid),
        .role_definition_guid = xstrdup(r->role_guid),
        .principal_id = xstrdup(r->principal),
        .principal_type = xstrdup(r->ptype),
    };
}

static inline struct cloud_fake_ra *cloud_fake_ra_find(struct cloud_fake *f, const char *scope,
                                                       const char *name)
{
    for (size_t i = 0; i < f->n_ras; i++)
        if (strcasecmp(f->ras[i].scope, scope) == 0 && strcasecmp(f->ras[i].name, name) == 0)
            return &f->ras[i];
    return NULL;
}

static inline struct cloud_fake_vm *cloud_fake_vm_find(struct cloud_fake *f, const char *id)
{
    for (size_t i = 0; i < f->n_vms; i++)
        if (strcasecmp(f->vms[i].id, id) == 0)
            return &f->vms[i];
    return NULL;
}

static inline struct cloud_fake_principal *cloud_fake_principal_find(struct cloud_fake *f,
                                                                     const char *id_or_upn)
{
    for (size_t i = 0; i < f->n_ps; i++)
        if (strcasecmp(f->ps[i].id, id_or_upn) == 0 || strcasecmp(f->ps[i].upn, id_or_upn) == 0)
            return &f->ps[i];
    return NULL;
}

static inline void cloud_fake_ext_out(const struct cloud_fake_vm *v, bool with_status,
                                      struct azure_extension *e)
{
    *e = (struct azure_extension){
        .id = xasprintf("%s/extensions/AADLoginForWindows", v->id),
        .name = xstrdup("AADLoginForWindows"),
        .location = xstrdup("westeurope"),
        .publisher = xstrdup(AZURE_AADLOGIN_PUBLISHER),
        .type = xstrdup(AZURE_AADLOGIN_TYPE),
        .type_handler_version = xstrdup(v->aad_version),
        .auto_upgrade_minor_version = true,
        .provisioning_state = xstrdup(v->aad_state),
    };
    if (with_status) {
        e->statuses = xcalloc(1, sizeof(*e->statuses));
        e->statuses[0].code = xasprintf("ProvisioningState/%s", v->aad_state);
        e->statuses[0].level = xstrdup("Info");
        e->n_statuses = 1;
    }
}

/* The VM as ARM describes it: a supported Windows Server image. status: the statusOnly view
 * (instance view only); else the model with resources[]. */
static inline void cloud_fake_vm_out(const struct cloud_fake_vm *v, bool status, bool model,
                                     struct azure_vm *o)
{
    *o = (struct azure_vm){.has_resources = model};
    o->id = xstrdup(v->id);
    o->name = xstrdup(v->name);
    o->subscription_id = xstrdup(v->sub);
    o->resource_group = xstrdup(v->rg);
    o->location = xstrdup("westeurope");
    o->computer_name = xstrdup(v->name);
    o->os_type = xstrdup("Windows");
    o->provisioning_state = xstrdup("Succeeded");
    if (model) {
        o->image_publisher = xstrdup("MicrosoftWindowsServer");
        o->image_offer = xstrdup("WindowsServer");
        o->image_sku = xstrdup("2022-datacenter-azure-edition");
        o->image_version = xstrdup("latest");
        if (v->identity) {
            o->identity_type = xstrdup("SystemAssigned");
            o->identity_principal_id = xstrdup("00000000-0000-0000-0000-0000000000aa");
        }
    }
    if (status) {
        o->power_state = xstrdup(v->power);
        o->os_name = xstrdup("Windows Server 2022 Datacenter");
        o->os_version = xstrdup("Microsoft Windows NT 10.0.20348.0");
    }
    if (v->has_aad) {
        o->extensions = xcalloc(1, sizeof(*o->extensions));
        cloud_fake_ext_out(v, status, &o->extensions[0]);
        o->n_extensions = 1;
    }
}

static inline void cloud_fake_obj_out(const struct cloud_fake_principal *p,
                                      struct azure_directory_object *o)
{
    *o = (struct azure_directory_object){
        .id = xstrdup(p->id),
        .kind = xstrdup(p->kind),
        .display_name = xstrdup(p->id),
        .upn = p->upn[0] ? xstrdup(p->upn) : NULL,
        .user_type = strcmp(p->kind, "user") == 0 ? xstrdup(p->user_type) : NULL,
        .account_enabled = !p->disabled,
        .has_account_enabled = true,
    };
}

/* ---- the ops ----------------------------------------------------------------------------- */

static inline enum err cloud_fake_subscriptions_list(void *ctx, azure_subscriptions_fn fn,
                                                     void *arg, struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct azure_subscription s[4] = {{0}};
    enum err rc;

    FAKE_ENTER(f, "subscriptions_list", ae);
    for (size_t i = 0; i < f->n_subs; i++)
        s[i] = (struct azure_subscription){
            .id = xasprintf("/subscriptions/%s", f->subs[i]),
            .subscription_id = xstrdup(f->subs[i]),
            .display_name = xstrdup(f->subs[i]),
            .state = xstrdup("Enabled"),
            .tenant_id = xstrdup("tenant"),
        };
    rc = fn(s, f->n_subs, arg);
    for (size_t i = 0; i < f->n_subs; i++)
        azure_subscription_cleanup(&s[i]);
    return rc;
}

static inline enum err cloud_fake_vms_list(void *ctx, const char *sub, const char *rg,
                                           bool status_only, azure_vms_fn fn, void *arg,
                                           struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct azure_vm v[CLOUD_FAKE_MAX] = {{0}};
    size_t n = 0;
    enum err rc;

    FAKE_ENTER(f, status_only ? "vms_list_status" : "vms_list", ae);
    for (size_t i = 0; i < f->n_vms; i++)
        if (strcasecmp(f->vms[i].sub, sub) == 0 &&
            (rg == NULL || strcasecmp(f->vms[i].rg, rg) == 0))
            cloud_fake_vm_out(&f->vms[i], status_only, !status_only, &v[n++]);
    rc = fn(v, n, arg);
    for (size_t i = 0; i < n; i++)
        azure_vm_cleanup(&v[i]);
    return rc;
}

static inline enum err cloud_fake_vm_get(void *ctx, const char *vm_id, bool iv,
                                         struct azure_vm *out, struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    const struct cloud_fake_vm *v = cloud_fake_vm_find(f, vm_id);

    FAKE_ENTER(f, "vm_get", ae);
    if (v == NULL)
        return cloud_fake_status(ae, 404, "ResourceNotFound");
    cloud_fake_vm_out(v, iv, true, out);
    return ERR_OK;
}

static inline void cloud_fake_lro_done(struct azure_lro *l)
{
    l->kind = AZURE_LRO_NONE;
    l->state = AZURE_LRO_SUCCEEDED;
}

static inline enum err cloud_fake_vm_enable_system_identity(void *ctx, const char *vm_id,
                                                            const struct azure_vm *current,
                                                            struct azure_lro *l, bool *skipped,
                                                            struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct cloud_fake_vm *v = cloud_fake_vm_find(f, vm_id);

    (void)current;
    FAKE_ENTER(f, "vm_enable_system_identity", ae);
    if (v == NULL)
        return cloud_fake_status(ae, 404, "ResourceNotFound");
    *skipped = v->identity;
    v->identity = true;
    cloud_fake_lro_done(l);
    return ERR_OK;
}

static inline enum err cloud_fake_extensions_list(void *ctx, const char *vm_id, bool iv,
                                                  struct azure_extension **out, size_t *n,
                                                  struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    const struct cloud_fake_vm *v = cloud_fake_vm_find(f, vm_id);

    FAKE_ENTER(f, "extensions_list", ae);
    *out = NULL;
    *n = 0;
    if (v == NULL)
        return cloud_fake_status(ae, 404, "ResourceNotFound");
    if (v->has_aad) {
        *out = xcalloc(1, sizeof(**out));
        cloud_fake_ext_out(v, iv, *out);
        *n = 1;
    }
    return ERR_OK;
}

static inline enum err cloud_fake_extension_put(void *ctx, const char *vm_id,
                                                const struct azure_extension_spec *spec,
                                                struct azure_lro *l, struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct cloud_fake_vm *v = cloud_fake_vm_find(f, vm_id);

    FAKE_ENTER(f, "extension_put", ae);
    if (v == NULL)
        return cloud_fake_status(ae, 404, "ResourceNotFound");
    v->has_aad = true;
    snprintf(v->aad_state, sizeof(v->aad_state), "Succeeded");
    snprintf(v->aad_version, sizeof(v->aad_version), "%s", spec->type_handler_version);
    cloud_fake_lro_done(l);
    return ERR_OK;
}

static inline enum err cloud_fake_extension_delete(void *ctx, const char *vm_id, const char *name,
                                                   struct azure_lro *l, struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct cloud_fake_vm *v = cloud_fake_vm_find(f, vm_id);

    (void)name;
    FAKE_ENTER(f, "extension_delete", ae);
    if (v != NULL)
        v->has_aad = false;
    cloud_fake_lro_done(l);
    return ERR_OK;
}

static inline enum err cloud_fake_lro_poll(void *ctx, struct azure_lro *l, struct azure_error *ae)
{
    FAKE_ENTER((struct cloud_fake *)ctx, "lro_poll", ae);
    cloud_fake_lro_done(l);
    return ERR_OK;
}

static inline int64_t cloud_fake_lro_next_delay_ms(void *ctx, const struct azure_lro *l)
{
    (void)ctx;
    (void)l;
    return 1;
}

static inline enum err cloud_fake_role_assignments_list(void *ctx, const char *scope,
                                                        const struct azure_ra_filter *filter,
                                                        azure_role_assignments_fn fn, void *arg,
                                                        struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct azure_role_assignment out[CLOUD_FAKE_MAX] = {{0}};
    size_t n = 0;
    enum err rc;

    FAKE_ENTER(f, "role_assignments_list", ae);
    for (size_t i = 0; i < f->n_ras; i++) {
        const struct cloud_fake_ra *r = &f->ras[i];
        if (!cloud_fake_covers(r->scope, scope) && !cloud_fake_covers(scope, r->scope))
            continue;
        if (filter != NULL && filter->principal_id != NULL &&
            strcasecmp(filter->principal_id, r->principal) != 0)
            continue;
        cloud_fake_ra_out(r, &out[n++]);
    }
    rc = fn(out, n, arg);
    for (size_t i = 0; i < n; i++)
        azure_role_assignment_cleanup(&out[i]);
    return rc;
}

static inline enum err cloud_fake_role_assignment_get(void *ctx, const char *scope,
                                                      const char *name,
                                                      struct azure_role_assignment *out,
                                                      struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    const struct cloud_fake_ra *r = cloud_fake_ra_find(f, scope, name);

    FAKE_ENTER(f, "role_assignment_get", ae);
    if (r == NULL)
        return cloud_fake_status(ae, 404, "RoleAssignmentNotFound");
    cloud_fake_ra_out(r, out);
    return ERR_OK;
}

static inline enum err cloud_fake_role_assignment_put(void *ctx,
                                                      const struct azure_role_assignment_spec *s,
                                                      struct azure_role_assignment *out,
                                                      struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    const char *guid = strrchr(s->role_definition, '/');
    struct cloud_fake_ra *r;

    guid = guid != NULL ? guid + 1 : s->role_definition;
    FAKE_ENTER(f, "role_assignment_put", ae);
    if (cloud_fake_principal_find(f, s->principal_id) == NULL)
        return cloud_fake_status(ae, 400, "PrincipalNotFound");
    for (size_t i = 0; i < f->n_ras; i++) {
        r = &f->ras[i];
        if (strcasecmp(r->scope, s->scope) == 0 && strcasecmp(r->role_guid, guid) == 0 &&
            strcasecmp(r->principal, s->principal_id) == 0 && strcasecmp(r->name, s->name) != 0)
            return cloud_fake_status(ae, 409, "RoleAssignmentExists");
    }
    r = cloud_fake_ra_find(f, s->scope, s->name);
    if (r == NULL)
        r = cloud_fake_add_ra(f, s->scope, s->name, guid, s->principal_id, s->principal_type);
    cloud_fake_ra_out(r, out);
    return ERR_OK;
}

static inline enum err cloud_fake_role_assignment_delete(void *ctx, const char *scope,
                                                         const char *name, bool *existed,
                                                         struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct cloud_fake_ra *r = cloud_fake_ra_find(f, scope, name);

    FAKE_ENTER(f, "role_assignment_delete", ae);
    if (existed != NULL)
        *existed = r != NULL;
    if (r == NULL)
        return ERR_OK; /* 204: nothing there */
    *r = f->ras[--f->n_ras];
    return ERR_OK;
}

static inline enum err cloud_fake_permissions_list(void *ctx, const char *scope,
                                                   struct azure_permission **out, size_t *n,
                                                   struct azure_error *ae)
{
    (void)scope;
    FAKE_ENTER((struct cloud_fake *)ctx, "permissions_list", ae);
    *out = NULL;
    *n = 0;
    return ERR_OK;
}

static inline const struct azure_cloud *cloud_fake_cloud(void *ctx)
{
    return &((struct cloud_fake *)ctx)->cloud;
}

static inline enum err cloud_fake_token_get(void *ctx, const char *scope, char **token,
                                            int64_t *expires_ms, struct azure_error *ae)
{
    (void)scope;
    (void)expires_ms;
    *token = NULL;
    FAKE_ENTER((struct cloud_fake *)ctx, "token_get", ae);
    return cloud_fake_status(ae, 401, "invalid_client");
}

static inline int64_t cloud_fake_yielding_write_wait_ms(void *ctx, const char *subscription_id)
{
    (void)subscription_id;
    return ((struct cloud_fake *)ctx)->stand_back_ms;
}

static inline enum err cloud_fake_user_get(void *ctx, const char *id_or_upn, struct azure_user *out,
                                           struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    const struct cloud_fake_principal *p = cloud_fake_principal_find(f, id_or_upn);

    FAKE_ENTER(f, "user_get", ae);
    if (p == NULL || p->soft_deleted || strcmp(p->kind, "user") != 0)
        return cloud_fake_status(ae, 404, "Request_ResourceNotFound");
    *out = (struct azure_user){
        .id = xstrdup(p->id),
        .upn = xstrdup(p->upn),
        .user_type = xstrdup(p->user_type),
        .display_name = xstrdup(p->id),
        .account_enabled = !p->disabled,
        .has_account_enabled = true,
    };
    return ERR_OK;
}

static inline enum err cloud_fake_get_by_ids(void *ctx, const char *const *ids, size_t n,
                                             azure_objects_fn fn, void *arg, struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct azure_directory_object o[CLOUD_FAKE_MAX] = {{0}};
    size_t k = 0;
    enum err rc;

    FAKE_ENTER(f, "get_by_ids", ae);
    for (size_t i = 0; i < n; i++) {
        const struct cloud_fake_principal *p = cloud_fake_principal_find(f, ids[i]);
        if (p != NULL && !p->soft_deleted)
            cloud_fake_obj_out(p, &o[k++]);
    }
    rc = fn(o, k, arg);
    for (size_t i = 0; i < k; i++)
        azure_directory_object_cleanup(&o[i]);
    return rc;
}

static inline enum err cloud_fake_group_members(void *ctx, const char *group_id,
                                                azure_objects_fn fn, void *arg,
                                                struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    struct azure_directory_object o[CLOUD_FAKE_MAX] = {{0}};
    size_t k = 0;
    enum err rc;

    FAKE_ENTER(f, "group_members", ae);
    for (size_t i = 0; i < f->n_members; i++) {
        const struct cloud_fake_principal *p = cloud_fake_principal_find(f, f->members[i].member);
        if (strcasecmp(f->members[i].group, group_id) == 0 && p != NULL)
            cloud_fake_obj_out(p, &o[k++]);
    }
    rc = fn(o, k, arg);
    for (size_t i = 0; i < k; i++)
        azure_directory_object_cleanup(&o[i]);
    return rc;
}

static inline enum err cloud_fake_deleted_item_get(void *ctx, const char *id,
                                                   struct azure_directory_object *out,
                                                   struct azure_error *ae)
{
    struct cloud_fake *f = ctx;
    const struct cloud_fake_principal *p = cloud_fake_principal_find(f, id);

    FAKE_ENTER(f, "deleted_item_get", ae);
    if (p == NULL || !p->soft_deleted)
        return cloud_fake_status(ae, 404, "Request_ResourceNotFound");
    cloud_fake_obj_out(p, out);
    return ERR_OK;
}

static inline struct cloud_fake_device *
cloud_fake_add_device(struct cloud_fake *f, const char *id, const char *device_id, const char *name)
{
    struct cloud_fake_device *d = &f->devices[f->n_devices++];

    *d = (struct cloud_fake_device){.deleted = false};
    snprintf(d->id, sizeof(d->id), "%s", id);
    snprintf(d->device_id, sizeof(d->device_id), "%s", device_id);
    snprintf(d->name, sizeof(d->name), "%s", name);
    return d;
}

/* GET /devices?$filter=displayName eq: the live devices of that name (case-insensitive). */
static inline enum err cloud_fake_devices_by_name(void *ctx, const char *name,
                                                  struct azure_device **out, size_t *n,
                                                  struct azure_error *ae)
{
    struct cloud_fake *f = ctx;

    *out = NULL;
    *n = 0;
    FAKE_ENTER(f, "devices_by_name", ae);
    *out = xcalloc(f->n_devices + 1, sizeof(**out));
    for (size_t i = 0; i < f->n_devices; i++) {
        const struct cloud_fake_device *d = &f->devices[i];
        if (d->deleted || strcasecmp(d->name, name) != 0)
            continue;
        (*out)[*n] = (struct azure_device){
            .id = xstrdup(d->id),
            .device_id = xstrdup(d->device_id),
            .display_name = xstrdup(d->name),
            .approximate_last_sign_in = d->last_sign_in[0] ? xstrdup(d->last_sign_in) : NULL,
        };
        (*n)++;
    }
    return ERR_OK;
}

/* DELETE /devices/{id}: 204, or 404 Request_ResourceNotFound. */
static inline enum err cloud_fake_device_delete(void *ctx, const char *id, bool *existed,
                                                struct azure_error *ae)
{
    struct cloud_fake *f = ctx;

    *existed = false;
    FAKE_ENTER(f, "device_delete", ae);
    for (size_t i = 0; i < f->n_devices; i++) {
        if (!f->devices[i].deleted && strcasecmp(f->devices[i].id, id) == 0) {
            f->devices[i].deleted = true;
            *existed = true;
        }
    }
    return ERR_OK;
}

static inline enum err cloud_fake_sp_by_app_id(void *ctx, const char *app_id,
                                               struct azure_service_principal *out,
                                               struct azure_error *ae)
{
    FAKE_ENTER((struct cloud_fake *)ctx, "sp_by_app_id", ae);
    *out = (struct azure_service_principal){.id = xstrdup("sp-signin"), .app_id = xstrdup(app_id)};
    return ERR_OK;
}

static inline enum err cloud_fake_sp_create(void *ctx, const char *app_id,
                                            struct azure_service_principal *out, bool *existed,
                                            struct azure_error *ae)
{
    *existed = true;
    return cloud_fake_sp_by_app_id(ctx, app_id, out, ae);
}

/* A new, empty fake cloud with its ops table. */
static inline struct cloud_fake *cloud_fake_new(void)
{
    struct cloud_fake *f = xcalloc(1, sizeof(*f));

    f->ops = (struct cloud_ops){
        .ctx = f,
        .subscriptions_list = cloud_fake_subscriptions_list,
        .vms_list = cloud_fake_vms_list,
        .vm_get = cloud_fake_vm_get,
        .vm_enable_system_identity = cloud_fake_vm_enable_system_identity,
        .extensions_list = cloud_fake_extensions_list,
        .extension_put = cloud_fake_extension_put,
        .extension_delete = cloud_fake_extension_delete,
        .lro_poll = cloud_fake_lro_poll,
        .lro_next_delay_ms = cloud_fake_lro_next_delay_ms,
        .role_assignments_list = cloud_fake_role_assignments_list,
        .role_assignment_get = cloud_fake_role_assignment_get,
        .role_assignment_put = cloud_fake_role_assignment_put,
        .role_assignment_delete = cloud_fake_role_assignment_delete,
        .permissions_list = cloud_fake_permissions_list,
        .cloud = cloud_fake_cloud,
        .token_get = cloud_fake_token_get,
        .user_get = cloud_fake_user_get,
        .yielding_write_wait_ms = cloud_fake_yielding_write_wait_ms,
        .get_by_ids = cloud_fake_get_by_ids,
        .group_members = cloud_fake_group_members,
        .deleted_item_get = cloud_fake_deleted_item_get,
        .devices_by_name = cloud_fake_devices_by_name,
        .device_delete = cloud_fake_device_delete,
        .sp_by_app_id = cloud_fake_sp_by_app_id,
        .sp_create = cloud_fake_sp_create,
    };
    snprintf(f->cloud.name, sizeof(f->cloud.name), "AzureCloud");
    return f;
}

#endif
