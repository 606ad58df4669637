/* azure_graph.h: typed Microsoft Graph v1.0 calls: users, transitive memberships, group
 * members, getByIds, devices by name, service principals, deleted items. Plain structs with
 * heap strings (NULL when absent), released by the type's _cleanup. Lists go page by page to a
 * callback, as in azure_arm.h. */
#ifndef VMLOGIND_AZURE_GRAPH_H
#define VMLOGIND_AZURE_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vmlogind/azure.h"

#define AZURE_APP_WINDOWS_VM_SIGNIN "372140e0-b3b7-4226-8ef9-d57986796201"
#define AZURE_GRAPH_GETBYIDS_MAX 1000

struct azure_user {
    char *id;
    char *upn;
    char *user_type; /* Member | Guest */
    char *display_name;
    bool account_enabled;
    bool has_account_enabled;
};

/* Users whose displayName or userPrincipalName, and groups whose displayName, start with prefix
 * (Graph $filter startswith, first page only, at most max of each): appended to out as
 * {"id", "kind": "user"|"group", "displayName", "userPrincipalName"?}. */
enum err azure_graph_principal_search(struct azure_client *c, const char *prefix, size_t max,
                                      json_t *out, struct azure_error *ae) VL_MUST_CHECK;
/* The matches of one answer page ({"value":[...]}; anything else: none) appended to out. */
void azure_graph_principal_matches(const json_t *page, const char *kind, json_t *out);
/* GET /users/{id or UPN}?$select=id,userPrincipalName,userType,accountEnabled,displayName.
 * '#' is sent as %23 (guest UPNs); a UPN starting with '$' uses /users('...'). */
enum err azure_graph_user_get(struct azure_client *c, const char *id_or_upn, struct azure_user *out,
                              struct azure_error *ae) VL_MUST_CHECK;
/* GET /users?$filter=userPrincipalName eq '...' : ERR_NOT_FOUND when no user matches. */
enum err azure_graph_user_find_by_upn(struct azure_client *c, const char *upn,
                                      struct azure_user *out, struct azure_error *ae) VL_MUST_CHECK;
void azure_user_cleanup(struct azure_user *u);

/* A directory object as lists return it. kind is @odata.type without "#microsoft.graph."
 * ("user", "group", "servicePrincipal", "device", "directoryRole", ...). Graph returns
 * userType and accountEnabled only when $select names them, which every list here does. */
struct azure_directory_object {
    char *id;
    char *kind;
    char *display_name;
    char *upn;               /* users */
    char *app_id;            /* service principals */
    char *deleted_date_time; /* deleted items */
    char *user_type;         /* users: Member | Guest; NULL when absent */
    bool account_enabled;    /* users, service principals, devices */
    bool has_account_enabled;
};

void azure_directory_object_cleanup(struct azure_directory_object *o);
typedef enum err (*azure_objects_fn)(const struct azure_directory_object *objs, size_t n,
                                     void *arg);

/* GET /users/{id}/transitiveMemberOf (groups, directory roles, administrative units), paged. */
enum err azure_graph_user_member_of(struct azure_client *c, const char *user_id,
                                    azure_objects_fn fn, void *arg,
                                    struct azure_error *ae) VL_MUST_CHECK;
/* GET /groups/{id}/transitiveMembers, paged. */
enum err azure_graph_group_members(struct azure_client *c, const char *group_id,
                                   azure_objects_fn fn, void *arg,
                                   struct azure_error *ae) VL_MUST_CHECK;
/* POST /directoryObjects/getByIds?$select=... in batches of at most 1000 ids; fn gets each
 * batch's objects (ids that no longer exist are simply missing), users with userType and
 * accountEnabled. */
enum err azure_graph_get_by_ids(struct azure_client *c, const char *const *ids, size_t n,
                                azure_objects_fn fn, void *arg,
                                struct azure_error *ae) VL_MUST_CHECK;
/* GET /directory/deletedItems/{id}: ERR_OK with out filled when soft-deleted, ERR_NOT_FOUND
 * when gone for good. */
enum err azure_graph_deleted_item_get(struct azure_client *c, const char *id,
                                      struct azure_directory_object *out,
                                      struct azure_error *ae) VL_MUST_CHECK;

struct azure_device {
    char *id;
    char *device_id;
    char *display_name;
    char *operating_system;
    char *operating_system_version;
    char *trust_type; /* AzureAd | ServerAd | Workplace */
    bool account_enabled;
    char *approximate_last_sign_in;
};

/* GET /devices?$filter=displayName eq '<name>' ('' escaping); *out is an array freed with
 * azure_devices_free (n may be 0). */
enum err azure_graph_devices_by_name(struct azure_client *c, const char *display_name,
                                     struct azure_device **out, size_t *n,
                                     struct azure_error *ae) VL_MUST_CHECK;
void azure_devices_free(struct azure_device *d, size_t n);
/* DELETE /devices/{id} (id: the device's object id, a GUID; Graph v1.0 "Delete device",
 * https://learn.microsoft.com/graph/api/device-delete?view=graph-rest-1.0, 204 No Content;
 * application permission Device.ReadWrite.All). *existed is false when Graph answered 404 (gone
 * either way: ERR_OK). ERR_INVALID when id is not a GUID. */
enum err azure_graph_device_delete(struct azure_client *c, const char *id, bool *existed,
                                   struct azure_error *ae) VL_MUST_CHECK;

struct azure_service_principal {
    char *id;
    char *app_id;
    char *display_name;
    char *service_principal_type;
    bool account_enabled;
};

/* GET /servicePrincipals?$filter=appId eq '...': ERR_NOT_FOUND when missing. */
enum err azure_graph_sp_by_app_id(struct azure_client *c, const char *app_id,
                                  struct azure_service_principal *out,
                                  struct azure_error *ae) VL_MUST_CHECK;
/* POST /servicePrincipals {"appId":...}: 201 created; a 409
 * Request_MultipleObjectsWithSameKeyValue means it exists (then it is read, *existed true). */
enum err azure_graph_sp_create(struct azure_client *c, const char *app_id,
                               struct azure_service_principal *out, bool *existed,
                               struct azure_error *ae) VL_MUST_CHECK;
void azure_service_principal_cleanup(struct azure_service_principal *sp);

/* azure_graph_signin.c. GET /identity/conditionalAccess/policies, every page: *out is a new
 * array of conditionalAccessPolicy objects (also on error: then partial). */
enum err azure_graph_ca_policies(struct azure_client *c, json_t **out,
                                 struct azure_error *ae) VL_MUST_CHECK;
/* GET /auditLogs/signIns for user_id's sign-ins to app_id, newest first, at most top: *out is a
 * new array of signIn objects. */
enum err azure_graph_signins(struct azure_client *c, const char *user_id, const char *app_id,
                             int top, json_t **out, struct azure_error *ae) VL_MUST_CHECK;

#endif
