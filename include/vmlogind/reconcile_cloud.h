/* reconcile_cloud.h: the seam between the reconciler and Azure (smtpd's table_backend). Every call
 * a reconcile handler makes to ARM or Graph goes through one of these function pointers; the real
 * table (reconcile_cloud_azure.c) forwards to the azure/ clients, and unit tests plug in an
 * in-memory fake. Data travels in the azure/ plain structs (azure_arm.h, azure_graph.h): the
 * contracts are those of the azure_* function each pointer is named after. */
#ifndef VMLOGIND_CLOUD_OPS_H
#define VMLOGIND_CLOUD_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/azure.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"

struct cloud_ops {
    void *ctx; /* the backend's state: passed back as every call's first argument */

    /* ---- ARM ---- */
    enum err (*subscriptions_list)(void *ctx, azure_subscriptions_fn fn, void *arg,
                                   struct azure_error *ae);
    enum err (*vms_list)(void *ctx, const char *subscription_id, const char *resource_group,
                         bool status_only, azure_vms_fn fn, void *arg, struct azure_error *ae);
    enum err (*vm_get)(void *ctx, const char *vm_id, bool instance_view, struct azure_vm *out,
                       struct azure_error *ae);
    enum err (*vm_enable_system_identity)(void *ctx, const char *vm_id,
                                          const struct azure_vm *current, struct azure_lro *l,
                                          bool *skipped, struct azure_error *ae);
    enum err (*extensions_list)(void *ctx, const char *vm_id, bool instance_view,
                                struct azure_extension **out, size_t *n, struct azure_error *ae);
    enum err (*extension_put)(void *ctx, const char *vm_id, const struct azure_extension_spec *spec,
                              struct azure_lro *l, struct azure_error *ae);
    enum err (*extension_delete)(void *ctx, const char *vm_id, const char *name,
                                 struct azure_lro *l, struct azure_error *ae);
    enum err (*lro_poll)(void *ctx, struct azure_lro *l, struct azure_error *ae);
    int64_t (*lro_next_delay_ms)(void *ctx, const struct azure_lro *l);
    /* A rollout is about to write to VMs of this subscription: writes that can wait (role
     * assignments) leave it the write tokens for within_ms. May be NULL (no throttle). */
    void (*expect_vm_writes)(void *ctx, const char *subscription_id, int64_t within_ms);
    /* How long a role assignment PUT in the subscription would stand back now for VM writes
     * (0: it would go); takes no token. May be NULL (never stands back). */
    int64_t (*yielding_write_wait_ms)(void *ctx, const char *subscription_id);
    enum err (*role_assignments_list)(void *ctx, const char *scope,
                                      const struct azure_ra_filter *filter,
                                      azure_role_assignments_fn fn, void *arg,
                                      struct azure_error *ae);
    enum err (*role_assignment_get)(void *ctx, const char *scope, const char *name,
                                    struct azure_role_assignment *out, struct azure_error *ae);
    enum err (*role_assignment_put)(void *ctx, const struct azure_role_assignment_spec *spec,
                                    struct azure_role_assignment *out, struct azure_error *ae);
    enum err (*role_assignment_delete)(void *ctx, const char *scope, const char *name,
                                       bool *existed, struct azure_error *ae);
    enum err (*permissions_list)(void *ctx, const char *scope, struct azure_permission **out,
                                 size_t *n, struct azure_error *ae);
    enum err (*vm_run_command_begin)(void *ctx, const char *vm_id, const char *body,
                                     struct azure_lro *l, struct azure_error *ae);
    enum err (*vm_run_command_output)(void *ctx, const struct azure_lro *l, char **out,
                                      struct azure_error *ae);

    /* ---- identity of vmlogind itself ---- */
    const struct azure_cloud *(*cloud)(void *ctx);
    enum err (*token_get)(void *ctx, const char *scope, char **token, int64_t *expires_ms,
                          struct azure_error *ae);

    /* ---- Graph ---- */
    enum err (*user_get)(void *ctx, const char *id_or_upn, struct azure_user *out,
                         struct azure_error *ae);
    enum err (*get_by_ids)(void *ctx, const char *const *ids, size_t n, azure_objects_fn fn,
                           void *arg, struct azure_error *ae);
    enum err (*group_members)(void *ctx, const char *group_id, azure_objects_fn fn, void *arg,
                              struct azure_error *ae);
    enum err (*deleted_item_get)(void *ctx, const char *id, struct azure_directory_object *out,
                                 struct azure_error *ae);
    enum err (*devices_by_name)(void *ctx, const char *display_name, struct azure_device **out,
                                size_t *n, struct azure_error *ae);
    enum err (*device_delete)(void *ctx, const char *id, bool *existed, struct azure_error *ae);
    enum err (*sp_by_app_id)(void *ctx, const char *app_id, struct azure_service_principal *out,
                             struct azure_error *ae);
    enum err (*sp_create)(void *ctx, const char *app_id, struct azure_service_principal *out,
                          bool *existed, struct azure_error *ae);
    enum err (*ca_policies)(void *ctx, json_t **out, struct azure_error *ae);
    enum err (*signins)(void *ctx, const char *user_id, const char *app_id, int top, json_t **out,
                        struct azure_error *ae);
};

/* Fills ops with the real table over az (borrowed: it must outlive every call through ops). */
void reconcile_cloud_azure_init(struct cloud_ops *ops, struct azure_client *az);

#endif
