/* azure_arm.h: typed ARM calls vmlogind needs: subscriptions, virtual machines (list, get,
 * PATCH identity), VM extensions, role definitions and role assignments. Plain C structs in and
 * out; every string member is a heap copy (NULL when Azure sent none) released by the type's
 * _cleanup. ARM ids are passed whole ("/subscriptions/.../virtualMachines/vm1") and compared
 * case-insensitively. List calls hand each page to a callback; returning non-ERR_OK from it
 * stops the listing and is returned. */
#ifndef VMLOGIND_AZURE_ARM_H
#define VMLOGIND_AZURE_ARM_H

#include <stdbool.h>
#include <stddef.h>

#include "vmlogind/azure.h"

#define AZURE_AADLOGIN_PUBLISHER "Microsoft.Azure.ActiveDirectory"
#define AZURE_AADLOGIN_TYPE "AADLoginForWindows"
#define AZURE_ROLE_VM_ADMIN_LOGIN "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define AZURE_ROLE_VM_USER_LOGIN "fb879df8-f326-4884-b1cf-06f3ad86be52"

/* ---- ids --------------------------------------------------------------------------------- */

/* Copies the segment after key ("subscriptions", "resourceGroups", "virtualMachines", ...,
 * case-insensitive) of an ARM id into out; false if absent or too long. */
bool azure_id_segment(const char *id, const char *key, char *out, size_t cap);

/* ---- subscriptions ----------------------------------------------------------------------- */

struct azure_subscription {
    char *id;              /* "/subscriptions/{guid}" */
    char *subscription_id; /* guid */
    char *display_name;
    char *state; /* Enabled, Disabled, Warned, PastDue, Deleted */
    char *tenant_id;
};

typedef enum err (*azure_subscriptions_fn)(const struct azure_subscription *subs, size_t n,
                                           void *arg);
enum err azure_subscriptions_list(struct azure_client *c, azure_subscriptions_fn fn, void *arg,
                                  struct azure_error *ae) VL_MUST_CHECK;
void azure_subscription_cleanup(struct azure_subscription *s);

/* ---- virtual machines -------------------------------------------------------------------- */

struct azure_kv {
    char *key;
    char *value;
};

/* InstanceViewStatus */
struct azure_status {
    char *code; /* "ProvisioningState/succeeded", "PowerState/running", ... */
    char *level;
    char *display_status;
    char *message;
    char *time;
};

struct azure_extension {
    char *id;
    char *name;
    char *location;
    char *publisher;
    char *type;
    char *type_handler_version;
    bool auto_upgrade_minor_version;
    char *provisioning_state;
    char *mdm_id;                  /* properties.settings.mdmId (public settings), or NULL */
    char *iv_type_handler_version; /* instanceView.typeHandlerVersion */
    struct azure_status *statuses; /* instanceView.statuses */
    size_t n_statuses;
    struct azure_status *substatuses; /* instanceView.substatuses */
    size_t n_substatuses;
};

struct azure_vm {
    char *id;
    char *name;
    char *subscription_id; /* from id */
    char *resource_group;  /* from id */
    char *location;
    char *etag;
    char *vm_id;
    char *computer_name; /* osProfile.computerName, else instanceView.computerName */
    char *os_type;       /* Windows | Linux */
    char *image_publisher;
    char *image_offer;
    char *image_sku;
    char *image_version;      /* version, or exactVersion when version is "latest" and given */
    char *image_id;           /* custom / gallery image id */
    char *os_name;            /* instanceView */
    char *os_version;         /* instanceView, "Microsoft Windows NT 10.0.17763.0" etc. */
    char *power_state;        /* "running", "deallocated", ... from PowerState/x; NULL unknown */
    char *provisioning_state; /* properties.provisioningState */
    char *identity_type;      /* "SystemAssigned, UserAssigned", ...; NULL = none */
    char *identity_principal_id;
    char *identity_tenant_id;
    char **user_assigned_ids; /* full ARM ids of the user-assigned identities */
    size_t n_user_assigned;
    struct azure_kv *tags;
    size_t n_tags;
    /* resources[], with the statuses of instanceView.extensions joined by name; an instance-view
     * extension without a resource is added (publisher and type split from "Publisher.Type") */
    struct azure_extension *extensions;
    size_t n_extensions;
    struct azure_status *statuses; /* instanceView.statuses */
    size_t n_statuses;
    bool has_resources; /* the answer had a resources[] member (a list need not embed it) */
};

void azure_vm_cleanup(struct azure_vm *vm);
void azure_extension_cleanup(struct azure_extension *e);
void azure_extensions_free(struct azure_extension *e, size_t n);
/* True when identity_type includes SystemAssigned. */
bool azure_vm_has_system_identity(const struct azure_vm *vm);
/* The first extension of publisher+type (case-insensitive), never matched by name; NULL if none. */
const struct azure_extension *azure_extension_find(const struct azure_extension *e, size_t n,
                                                   const char *publisher, const char *type);

/* Called per page, in order, on the caller's thread. Also called with n == 0 when the next
 * page is late (and for an empty page): a moment to commit held work rather than wait. */
typedef enum err (*azure_vms_fn)(const struct azure_vm *vms, size_t n, void *arg);

/* VMs of a subscription (resource_group NULL) or of one resource group, page by page.
 * status_only adds statusOnly=true (run-time status: power state, OS name/version). */
enum err azure_vms_list(struct azure_client *c, const char *subscription_id,
                        const char *resource_group, bool status_only, azure_vms_fn fn, void *arg,
                        struct azure_error *ae) VL_MUST_CHECK;
/* One VM by id, with $expand=instanceView when instance_view. ERR_NOT_FOUND if absent. */
enum err azure_vm_get(struct azure_client *c, const char *vm_id, bool instance_view,
                      struct azure_vm *out, struct azure_error *ae) VL_MUST_CHECK;
/* The PATCH body that turns on the system-assigned identity and keeps the user-assigned ones:
 * {"identity":{"type":"SystemAssigned"}} or {"identity":{"type":"SystemAssigned, UserAssigned",
 * "userAssignedIdentities":{"<id>":{},...}}}. *needed is false (and out untouched) when the VM
 * already has it. */
enum err azure_vm_identity_patch_body(const struct azure_vm *vm, struct buf *out,
                                      bool *needed) VL_MUST_CHECK;
/* Starts the identity PATCH (non-blocking; follow l with azure_lro_poll / azure_lro_wait).
 * current is the VM as just read (NULL: it is read first). When the identity is already on,
 * *skipped is true and l->state is SUCCEEDED without a request. */
enum err azure_vm_enable_system_identity(struct azure_client *c, const char *vm_id,
                                         const struct azure_vm *current, struct azure_lro *l,
                                         bool *skipped, struct azure_error *ae) VL_MUST_CHECK;

/* ---- extensions -------------------------------------------------------------------------- */

/* All extensions of a VM (not pageable). *out is an array the caller frees with
 * azure_extensions_free. */
enum err azure_extensions_list(struct azure_client *c, const char *vm_id, bool instance_view,
                               struct azure_extension **out, size_t *n,
                               struct azure_error *ae) VL_MUST_CHECK;
enum err azure_extension_get(struct azure_client *c, const char *vm_id, const char *name,
                             bool instance_view, struct azure_extension *out,
                             struct azure_error *ae) VL_MUST_CHECK;

struct azure_extension_spec {
    const char *name;     /* resource name, e.g. "AADLoginForWindows" */
    const char *location; /* the VM's location */
    const char *publisher;
    const char *type;
    const char *type_handler_version; /* "1.0" */
    bool auto_upgrade_minor_version;
    const char *settings_json;    /* a JSON object as text, or NULL */
    const char *force_update_tag; /* NULL: not sent */
};

/* PUT the extension; non-blocking (l tells how to follow). */
enum err azure_extension_put(struct azure_client *c, const char *vm_id,
                             const struct azure_extension_spec *spec, struct azure_lro *l,
                             struct azure_error *ae) VL_MUST_CHECK;
/* DELETE the extension; 200/202/204 start or finish it (l->state SUCCEEDED when done).
 * A 404 is success too. */
enum err azure_extension_delete(struct azure_client *c, const char *vm_id, const char *name,
                                struct azure_lro *l, struct azure_error *ae) VL_MUST_CHECK;

/* ---- role definitions and assignments ---------------------------------------------------- */

struct azure_role_definition {
    char *id;
    char *name; /* the GUID */
    char *role_name;
    char *role_type; /* BuiltInRole | CustomRole */
    char **actions;
    size_t n_actions;
    char **data_actions;
    size_t n_data_actions;
};

/* GET {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}; scope like
 * "/subscriptions/{s}" (NULL or "" for the tenant form). */
enum err azure_role_definition_get(struct azure_client *c, const char *scope, const char *guid,
                                   struct azure_role_definition *out,
                                   struct azure_error *ae) VL_MUST_CHECK;
void azure_role_definition_cleanup(struct azure_role_definition *d);

struct azure_role_assignment {
    char *id;
    char *name; /* GUID */
    char *scope;
    char *role_definition_id;   /* as returned (subscription or tenant form) */
    char *role_definition_guid; /* its trailing GUID, lowercase: compare with this */
    char *principal_id;
    char *principal_type;
    char *description;
    char *condition;
    char *created_on;
    char *updated_on;
};

void azure_role_assignment_cleanup(struct azure_role_assignment *ra);

/* $filter parts; all NULL/false lists everything at, above and below the scope. */
struct azure_ra_filter {
    bool at_scope;            /* atScope() */
    const char *principal_id; /* principalId eq '{id}' */
    const char *assigned_to;  /* assignedTo('{id}'): user/SP incl. transitive groups */
};

/* Called like azure_vms_fn: per page, and with n == 0 when the next page is late. */
typedef enum err (*azure_role_assignments_fn)(const struct azure_role_assignment *ras, size_t n,
                                              void *arg);
enum err azure_role_assignments_list(struct azure_client *c, const char *scope,
                                     const struct azure_ra_filter *filter,
                                     azure_role_assignments_fn fn, void *arg,
                                     struct azure_error *ae) VL_MUST_CHECK;
/* One entry of Permissions_List: what a role assignment that applies to the caller allows. */
struct azure_permission {
    char **actions;
    size_t n_actions;
    char **not_actions;
    size_t n_not_actions;
};
/* GET {scope}/providers/Microsoft.Authorization/permissions (scope: a resource group or a
 * resource): the caller's own permission entries, all pages. *out is freed with
 * azure_permissions_free. */
enum err azure_permissions_list(struct azure_client *c, const char *scope,
                                struct azure_permission **out, size_t *n,
                                struct azure_error *ae) VL_MUST_CHECK;
void azure_permissions_free(struct azure_permission *v, size_t n);
enum err azure_role_assignment_get(struct azure_client *c, const char *scope, const char *name,
                                   struct azure_role_assignment *out,
                                   struct azure_error *ae) VL_MUST_CHECK;

struct azure_role_assignment_spec {
    const char *scope;           /* "/subscriptions/{s}[/resourceGroups/{rg}[/providers/...]]" */
    const char *name;            /* deterministic GUID chosen by the caller (UUIDv5) */
    const char *role_definition; /* a GUID or a full roleDefinitions id */
    const char *principal_id;
    const char *principal_type; /* User | Group | ServicePrincipal | ...: always sent */
    const char *description;    /* optional */
};

/* PUT (201 or 200 are success; out may be NULL). 409 RoleAssignmentExists comes back as
 * ERR_CONFLICT with azure_error_is(ae, "RoleAssignmentExists"): list with principal_id at the
 * scope and adopt the existing one. */
enum err azure_role_assignment_put(struct azure_client *c,
                                   const struct azure_role_assignment_spec *spec,
                                   struct azure_role_assignment *out,
                                   struct azure_error *ae) VL_MUST_CHECK;
/* DELETE: 200 (existed, *existed true) and 204 (did not) are both ERR_OK. existed may be NULL. */
enum err azure_role_assignment_delete(struct azure_client *c, const char *scope, const char *name,
                                      bool *existed, struct azure_error *ae) VL_MUST_CHECK;

/* Run Command (azure_arm_compute.c, azure_arm_runcmd.c). Starts POST {vm}/runCommand with
 * body (a RunCommandInput); follow l with azure_lro_poll. Once it SUCCEEDED, *out is the
 * script's stdout (a new string) from the async operation's properties.output; ERR_CLOUD when
 * the answer has none. */
enum err azure_vm_run_command_begin(struct azure_client *c, const char *vm_id, const char *body,
                                    struct azure_lro *l, struct azure_error *ae) VL_MUST_CHECK;
enum err azure_vm_run_command_output(struct azure_client *c, const struct azure_lro *l, char **out,
                                     struct azure_error *ae) VL_MUST_CHECK;

#endif
