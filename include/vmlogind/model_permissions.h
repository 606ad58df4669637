/* model_permissions.h: vmlogind's own permissions in Azure: the ARM actions and Graph app roles
 * it needs and why, the least-privilege role that grants each, whether a Permissions_List answer
 * allows an action, and the diagnosis of a refusal (403 AuthorizationFailed, policy deny,
 * resource lock, Graph Authorization_RequestDenied): a cause, what was refused, and the fix.
 * Pure: no I/O. */
#ifndef VMLOGIND_MODEL_PERMISSIONS_H
#define VMLOGIND_MODEL_PERMISSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The key of the reconciler task that checks them (TASK_KIND_PERMISSIONS, model_states.h),
 * and of the store row it writes. */
#define MODEL_PERM_SUBJECT "self"
/* How often the check runs again, and sooner while a subscription had no scope to ask about. */
#define MODEL_PERM_RECHECK_MS (15 * 60 * 1000)
#define MODEL_PERM_UNCHECKED_MS 10000

/* Causes of a held failure (never retried: a person must act). */
#define MODEL_CAUSE_AUTHORIZATION "authorization_failed"
#define MODEL_CAUSE_POLICY "policy_denied"
#define MODEL_CAUSE_LOCKED "scope_locked"
#define MODEL_CAUSE_GRAPH_DENIED "graph_permission_missing"

/* The ABAC condition that limits Role Based Access Control Administrator to the two login roles
 * (https://learn.microsoft.com/azure/role-based-access-control/delegate-role-assignments-examples,
 * "Constrain roles"). */
#define MODEL_PERM_LOGIN_ROLES_CONDITION                                                           \
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "                     \
    "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "                         \
    "ForAnyOfAnyValues:GuidEquals {1c0163c0-47e6-4577-8991-ea5c82e286e4, "                         \
    "fb879df8-f326-4884-b1cf-06f3ad86be52})) AND "                                                 \
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "                    \
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "                        \
    "ForAnyOfAnyValues:GuidEquals {1c0163c0-47e6-4577-8991-ea5c82e286e4, "                         \
    "fb879df8-f326-4884-b1cf-06f3ad86be52}))"

struct model_perm_need {
    const char *action;  /* ARM action */
    const char *purpose; /* what vmlogind does with it */
    const char *role;    /* least-privilege built-in role that grants it */
    const char *role_id; /* its GUID */
    bool constrained;    /* assign with MODEL_PERM_LOGIN_ROLES_CONDITION */
};
#define MODEL_PERM_NEEDS_MAX 16 /* bound of model_perm_needs_count */
extern const struct model_perm_need model_perm_needs[];
extern const size_t model_perm_needs_count;

/* The optional feature a Graph permission is needed for (counted missing only when it is on). */
enum model_graph_feature {
    MODEL_GRAPH_ALWAYS = 0,
    MODEL_GRAPH_CREATE_SIGNIN_SP, /* create_signin_sp = true */
    MODEL_GRAPH_STALE_DELETE,     /* stale_devices = delete */
};

struct model_graph_need {
    const char *app_role; /* least-privilege Graph application permission */
    const char *purpose;
    const char *const *also; /* app roles that satisfy it as well (NULL-terminated) */
    bool optional;           /* only for an optional feature (below) */
    enum model_graph_feature feature;
};
extern const struct model_graph_need model_graph_needs[];
extern const size_t model_graph_needs_count;

/* The need an action falls under (NULL when vmlogind does not need it). */
const struct model_perm_need *model_perm_need_for(const char *action);
/* True when one permission entry (a role assignment's actions and notActions, as
 * Permissions_List gives them) allows action: an action matches and no notAction does. */
bool model_perm_allows(char *const *actions, size_t n_actions, char *const *not_actions,
                       size_t n_not_actions, const char *action);
/* True when roles (a JSON array of strings, the token's roles claim) satisfy need. */
bool model_graph_has(const json_t *roles, const struct model_graph_need *need);
/* The fix for a missing action at scope (vmlogind's object id principal, may be NULL). */
void model_perm_fix(const struct model_perm_need *need, const char *scope, const char *principal,
                    char *out, size_t cap);

/* True for the causes above (a refusal held until a person acts). */
bool model_denial_cause(const char *cause);

struct model_denial {
    char cause[48];
    char message[1536]; /* what Azure refused, and the fix */
};

/* A refusal that a person must fix: 403 AuthorizationFailed, 403 RequestDisallowedByPolicy (with
 * the policy assignment id from additionalInfo, may be ""), 409 ScopeLocked, 403
 * Authorization_RequestDenied from Graph (graph_role: the app role the call needs). False for
 * anything else (the caller retries it as before). */
bool model_denial_diagnose(long status, const char *code, const char *message,
                           const char *policy_assignment, const char *graph_role,
                           struct model_denial *out);

/* Appends the ids an Azure support case quotes ("client request id X, Azure request id Y");
 * either may be NULL or "". */
void model_denial_add_ids(struct model_denial *dn, const char *client_request_id,
                          const char *request_id);

#endif
