/* reconcile_cloud_azure.c: the real cloud_ops table, each entry a forward to the azure/ client it
 * is named after. Nothing else: retries, throttling, tokens and error shapes stay in azure/. */
#include "vmlogind/reconcile_cloud.h"

static enum err subscriptions_list(void *ctx, azure_subscriptions_fn fn, void *arg,
                                   struct azure_error *ae)
{
    return azure_subscriptions_list(ctx, fn, arg, ae);
}

static enum err vms_list(void *ctx, const char *sub, const char *rg, bool status_only,
                         azure_vms_fn fn, void *arg, struct azure_error *ae)
{
    return azure_vms_list(ctx, sub, rg, status_only, fn, arg, ae);
}

static enum err vm_get(void *ctx, const char *vm_id, bool iv, struct azure_vm *out,
                       struct azure_error *ae)
{
    return azure_vm_get(ctx, vm_id, iv, out, ae);
}

static enum err vm_enable_system_identity(void *ctx, const char *vm_id,
                                          const struct azure_vm *current, struct azure_lro *l,
                                          bool *skipped, struct azure_error *ae)
{
    return azure_vm_enable_system_identity(ctx, vm_id, current, l, skipped, ae);
}

static enum err extensions_list(void *ctx, const char *vm_id, bool iv, struct azure_extension **out,
                                size_t *n, struct azure_error *ae)
{
    return azure_extensions_list(ctx, vm_id, iv, out, n, ae);
}

static enum err extension_put(void *ctx, const char *vm_id, const struct azure_extension_spec *spec,
                              struct azure_lro *l, struct azure_error *ae)
{
    return azure_extension_put(ctx, vm_id, spec, l, ae);
}

static enum err extension_delete(void *ctx, const char *vm_id, const char *name,
                                 struct azure_lro *l, struct azure_error *ae)
{
    return azure_extension_delete(ctx, vm_id, name, l, ae);
}

static enum err lro_poll(void *ctx, struct azure_lro *l, struct azure_error *ae)
{
    return azure_lro_poll(ctx, l, ae);
}

static int64_t lro_next_delay_ms(void *ctx, const struct azure_lro *l)
{
    return azure_lro_next_delay_ms(ctx, l);
}

static enum err role_assignments_list(void *ctx, const char *scope,
                                      const struct azure_ra_filter *filter,
                                      azure_role_assignments_fn fn, void *arg,
                                      struct azure_error *ae)
{
    return azure_role_assignments_list(ctx, scope, filter, fn, arg, ae);
}

static enum err role_assignment_get(void *ctx, const char *scope, const char *name,
                                    struct azure_role_assignment *out, struct azure_error *ae)
{
    return azure_role_assignment_get(ctx, scope, name, out, ae);
}

static enum err role_assignment_put(void *ctx, const struct azure_role_assignment_spec *spec,
                                    struct azure_role_assignment *out, struct azure_error *ae)
{
    return azure_role_assignment_put(ctx, spec, out, ae);
}

static enum err role_assignment_delete(void *ctx, const char *scope, const char *name,
                                       bool *existed, struct azure_error *ae)
{
    return azure_role_assignment_delete(ctx, scope, name, existed, ae);
}

static enum err permissions_list(void *ctx, const char *scope, struct azure_permission **out,
                                 size_t *n, struct azure_error *ae)
{
    return azure_permissions_list(ctx, scope, out, n, ae);
}

static const struct azure_cloud *cloud(void *ctx)
{
    return azure_client_cloud(ctx);
}

static enum err token_get(void *ctx, const char *scope, char **token, int64_t *expires_ms,
                          struct azure_error *ae)
{
    return azure_token_get(ctx, scope, token, expires_ms, ae);
}

static enum err user_get(void *ctx, const char *id_or_upn, struct azure_user *out,
                         struct azure_error *ae)
{
    return azure_graph_user_get(ctx, id_or_upn, out, ae);
}

static enum err get_by_ids(void *ctx, const char *const *ids, size_t n, azure_objects_fn fn,
                           void *arg, struct azure_error *ae)
{
    return azure_graph_get_by_ids(ctx, ids, n, fn, arg, ae);
}

static enum err group_members(void *ctx, const char *group_id, azure_objects_fn fn, void *arg,
                              struct azure_error *ae)
{
    return azure_graph_group_members(ctx, group_id, fn, arg, ae);
}

static enum err deleted_item_get(void *ctx, const char *id, struct azure_directory_object *out,
                                 struct azure_error *ae)
{
    return azure_graph_deleted_item_get(ctx, id, out, ae);
}

static enum err device_delete(void *ctx, const char *id, bool *existed, struct azure_error *ae)
{
    return azure_graph_device_delete(ctx, id, existed, ae);
}

static enum err devices_by_name(void *ctx, const char *name, struct azure_device **out, size_t *n,
                                struct azure_error *ae)
{
    return azure_graph_devices_by_name(ctx, name, out, n, ae);
}

static enum err sp_by_app_id(void *ctx, const char *app_id, struct azure_service_principal *out,
                             struct azure_error *ae)
{
    return azure_graph_sp_by_app_id(ctx, app_id, out, ae);
}

static enum err sp_create(void *ctx, const char *app_id, struct azure_service_principal *out,
                          bool *existed, struct azure_error *ae)
{
    return azure_graph_sp_create(ctx, app_id, out, existed, ae);
}

static enum err vm_run_command_begin(void *ctx, const char *vm_id, const char *body,
                                     struct azure_lro *l, struct azure_error *ae)
{
    return azure_vm_run_command_begin(ctx, vm_id, body, l, ae);
}

static enum err vm_run_command_output(void *ctx, const struct azure_lro *l, char **out,
                                      struct azure_error *ae)
{
    return azure_vm_run_command_output(ctx, l, out, ae);
}

static enum err ca_policies(void *ctx, json_t **out, struct azure_error *ae)
{
    return azure_graph_ca_policies(ctx, out, ae);
}

static enum err signins(void *ctx, const char *user_id, const char *app_id, int top, json_t **out,
                        struct azure_error *ae)
{
    return azure_graph_signins(ctx, user_id, app_id, top, out, ae);
}

static void expect_vm_writes(void *ctx, const char *subscription_id, int64_t within_ms)
{
    azure_client_expect_vm_writes(ctx, subscription_id, within_ms);
}

static int64_t yielding_write_wait_ms(void *ctx, const char *subscription_id)
{
    return azure_client_yielding_write_wait_ms(ctx, subscription_id);
}

void reconcile_cloud_azure_init(struct cloud_ops *ops, struct azure_client *az)
{
    *ops = (struct cloud_ops){
        .ctx = az,
        .subscriptions_list = subscriptions_list,
        .vms_list = vms_list,
        .vm_get = vm_get,
        .vm_enable_system_identity = vm_enable_system_identity,
        .extensions_list = extensions_list,
        .extension_put = extension_put,
        .extension_delete = extension_delete,
        .lro_poll = lro_poll,
        .lro_next_delay_ms = lro_next_delay_ms,
        .expect_vm_writes = expect_vm_writes,
        .yielding_write_wait_ms = yielding_write_wait_ms,
        .role_assignments_list = role_assignments_list,
        .role_assignment_get = role_assignment_get,
        .role_assignment_put = role_assignment_put,
        .role_assignment_delete = role_assignment_delete,
        .permissions_list = permissions_list,
        .cloud = cloud,
        .token_get = token_get,
        .user_get = user_get,
        .get_by_ids = get_by_ids,
        .group_members = group_members,
        .deleted_item_get = deleted_item_get,
        .devices_by_name = devices_by_name,
        .device_delete = device_delete,
        .sp_by_app_id = sp_by_app_id,
        .sp_create = sp_create,
        .vm_run_command_begin = vm_run_command_begin,
        .vm_run_command_output = vm_run_command_output,
        .ca_policies = ca_policies,
        .signins = signins,
    };
}
