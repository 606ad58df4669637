/* model_permissions.c: what vmlogind's own identity needs in Azure and how to tell a refusal
 * that a person must fix from one that passes. The role for each action is the least-privilege
 * built-in role (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles);
 * role assignments go through Role Based Access Control Administrator constrained to the two
 * login roles, never Owner or User Access Administrator. Pure. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model_permissions.h"

#define VM_CONTRIBUTOR "Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", false
#define RBAC_ADMIN                                                                                 \
    "Role Based Access Control Administrator", "f58310d9-a9f6-439a-9e8d-f62e7b41a168", true

const struct model_perm_need model_perm_needs[] = {
    {"Microsoft.Compute/virtualMachines/read", "read the fleet (inventory sync, each step's look)",
     VM_CONTRIBUTOR},
    {"Microsoft.Compute/virtualMachines/write", "turn on the VM's system-assigned identity",
     VM_CONTRIBUTOR},
    {"Microsoft.Compute/virtualMachines/extensions/write", "install AADLoginForWindows",
     VM_CONTRIBUTOR},
    {"Microsoft.Compute/virtualMachines/extensions/delete", "remove AADLoginForWindows",
     VM_CONTRIBUTOR},
    {"Microsoft.Authorization/roleAssignments/read", "read who may sign in", VM_CONTRIBUTOR},
    {"Microsoft.Authorization/roleAssignments/write", "grant the VM login roles", RBAC_ADMIN},
    {"Microsoft.Authorization/roleAssignments/delete", "revoke the VM login roles", RBAC_ADMIN},
};
const size_t model_perm_needs_count = sizeof(model_perm_needs) / sizeof(model_perm_needs[0]);
_Static_assert(sizeof(model_perm_needs) / sizeof(model_perm_needs[0]) <= MODEL_PERM_NEEDS_MAX,
               "raise MODEL_PERM_NEEDS_MAX");

/* Each call's page under https://learn.microsoft.com/graph/api/ lists, for application
 * permissions, the least privileged one first and the higher ones that also work. */
static const char *const also_user[] = {"User.ReadWrite.All", "Directory.Read.All",
                                        "Directory.ReadWrite.All", NULL};
static const char *const also_group[] = {"Group.Read.All", "Group.ReadWrite.All",
                                         "Directory.Read.All", "Directory.ReadWrite.All", NULL};
static const char *const also_device[] = {"Device.ReadWrite.All", "Directory.Read.All",
                                          "Directory.ReadWrite.All", NULL};
static const char *const also_dir[] = {"Directory.ReadWrite.All", NULL};
static const char *const also_app[] = {"Directory.ReadWrite.All", NULL};
static const char *const also_none[] = {NULL};

const struct model_graph_need model_graph_needs[] = {
    {"User.Read.All", "resolve users by UPN; refuse guests and disabled accounts", also_user, false,
     MODEL_GRAPH_ALWAYS},
    {"GroupMember.Read.All", "expand group membership for who-can-sign-in", also_group, false,
     MODEL_GRAPH_ALWAYS},
    {"Device.Read.All", "find an Entra device with the VM's hostname before a join", also_device,
     false, MODEL_GRAPH_ALWAYS},
    {"Directory.Read.All", "resolve object ids of any type (getByIds) and deleted objects",
     also_dir, false, MODEL_GRAPH_ALWAYS},
    {"Application.ReadWrite.All",
     "create the Azure Windows VM Sign-In service principal when missing (create_signin_sp)",
     also_app, true, MODEL_GRAPH_CREATE_SIGNIN_SP},
    /* https://learn.microsoft.com/graph/api/device-delete?view=graph-rest-1.0 */
    {"Device.ReadWrite.All",
     "delete the Entra device of a VM gone from Azure (stale_devices = delete)", also_none, true,
     MODEL_GRAPH_STALE_DELETE},
};
const size_t model_graph_needs_count = sizeof(model_graph_needs) / sizeof(model_graph_needs[0]);

const struct model_perm_need *model_perm_need_for(const char *action)
{
    for (size_t i = 0; action != NULL && i < model_perm_needs_count; i++)
        if (strcasecmp(model_perm_needs[i].action, action) == 0)
            return &model_perm_needs[i];
    return NULL;
}

/* '*' matches any run of characters, case-insensitively
 * (https://learn.microsoft.com/azure/role-based-access-control/role-definitions#actions). */
static bool match(const char *pat, const char *act)
{
    for (; *pat != '\0'; pat++, act++) {
        if (*pat == '*') {
            for (const char *a = act;; a++) {
                if (match(pat + 1, a))
                    return true;
                if (*a == '\0')
                    return false;
            }
        }
        if (*act == '\0' || tolower((unsigned char)*pat) != tolower((unsigned char)*act))
            return false;
    }
    return *act == '\0';
}

static bool any(char *const *pats, size_t n, const char *action)
{
    for (size_t i = 0; i < n; i++)
        if (pats[i] != NULL && match(pats[i], action))
            return true;
    return false;
}

bool model_perm_allows(char *const *actions, size_t n_actions, char *const *not_actions,
                       size_t n_not_actions, const char *action)
{
    return any(actions, n_actions, action) && !any(not_actions, n_not_actions, action);
}

static bool has_role(const json_t *roles, const char *role)
{
    for (size_t i = 0; i < json_array_size(roles); i++) {
        const char *r = json_string_value(json_array_get(roles, i));
        if (r != NULL && strcasecmp(r, role) == 0)
            return true;
    }
    return false;
}

bool model_graph_has(const json_t *roles, const struct model_graph_need *need)
{
    if (has_role(roles, need->app_role))
        return true;
    for (size_t i = 0; need->also[i] != NULL; i++)
        if (has_role(roles, need->also[i]))
            return true;
    return false;
}

/* "/subscriptions/{s}" of a scope, the scope itself when it has none. */
static int sub_len(const char *scope)
{
    const char *p;

    if (scope == NULL || strncasecmp(scope, "/subscriptions/", 15) != 0)
        return scope != NULL ? (int)strlen(scope) : 0;
    p = strchr(scope + 15, '/');
    return p != NULL ? (int)(p - scope) : (int)strlen(scope);
}

void model_perm_fix(const struct model_perm_need *need, const char *scope, const char *principal,
                    char *out, size_t cap)
{
    const char *who = principal != NULL ? principal : "<vmlogind's object id>";
    int n = sub_len(scope);

    snprintf(out, cap,
             "assign '%s' to vmlogind's identity %s at %.*s%s: az role assignment create "
             "--assignee-object-id %s --assignee-principal-type ServicePrincipal --role %s "
             "--scope %.*s",
             need->role, who, n, scope != NULL ? scope : "",
             need->constrained ? ", constrained by a condition to the two VM login roles (GET "
                                 "/v1/diagnostics/permissions gives it)"
                               : "",
             who, need->role_id, n, scope != NULL ? scope : "");
}

/* Copies the text between the first `open` after `after` and the next `close`. */
static bool between(const char *s, const char *after, char close, char *out, size_t cap)
{
    const char *p = s != NULL ? strstr(s, after) : NULL;
    const char *e;

    if (p == NULL)
        return false;
    p += strlen(after);
    e = strchr(p, close);
    if (e == NULL)
        return false;
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return true;
}

static void authorization(const char *message, struct model_denial *out)
{
    char action[160] = "", scope[300] = "", oid[64] = "", fix[800];
    const struct model_perm_need *need;

    /* "The client '{id}' with object id '{oid}' does not have authorization to perform action
     * '{action}' over scope '{scope}' or the scope is invalid." (azure-wire.md section 8) */
    (void)between(message, "perform action '", '\'', action, sizeof(action));
    (void)between(message, "over scope '", '\'', scope, sizeof(scope));
    (void)between(message, "with object id '", '\'', oid, sizeof(oid));
    need = model_perm_need_for(action);
    if (need != NULL)
        model_perm_fix(need, scope, oid[0] ? oid : NULL, fix, sizeof(fix));
    else
        snprintf(fix, sizeof(fix), "grant vmlogind's identity '%.159s' at %.299s", action, scope);
    snprintf(out->cause, sizeof(out->cause), "%s", MODEL_CAUSE_AUTHORIZATION);
    snprintf(out->message, sizeof(out->message),
             "Azure refused vmlogind's identity the action %.159s over %.299s (403 "
             "AuthorizationFailed). Fix: %.799s; then retry the operation",
             action[0] ? action : "(unknown)", scope[0] ? scope : "(unknown)", fix);
}

bool model_denial_cause(const char *cause)
{
    return cause != NULL &&
           (strcmp(cause, MODEL_CAUSE_AUTHORIZATION) == 0 ||
            strcmp(cause, MODEL_CAUSE_POLICY) == 0 || strcmp(cause, MODEL_CAUSE_LOCKED) == 0 ||
            strcmp(cause, MODEL_CAUSE_GRAPH_DENIED) == 0);
}

bool model_denial_diagnose(long status, const char *code, const char *message,
                           const char *policy_assignment, const char *graph_role,
                           struct model_denial *out)
{
    char lock[512] = "";

    *out = (struct model_denial){{0}, {0}};
    if (code == NULL)
        return false;
    if (status == 403 && strcasecmp(code, "AuthorizationFailed") == 0) {
        authorization(message, out);
        return true;
    }
    /* https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-policy-requestdisallowedbypolicy
     */
    if (status == 403 && strcasecmp(code, "RequestDisallowedByPolicy") == 0) {
        snprintf(out->cause, sizeof(out->cause), "%s", MODEL_CAUSE_POLICY);
        snprintf(out->message, sizeof(out->message),
                 "an Azure Policy assignment denied the request (403 RequestDisallowedByPolicy): "
                 "policy assignment %s. Fix: ask its owner for a policy exemption "
                 "(Microsoft.Authorization/policyExemptions) covering this VM or scope, or change "
                 "the assignment; then retry the operation",
                 policy_assignment != NULL && policy_assignment[0] ? policy_assignment
                                                                   : "(not named)");
        return true;
    }
    /* https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources */
    if (status == 409 && strcasecmp(code, "ScopeLocked") == 0) {
        if (!between(message, "are locked: '", '\'', lock, sizeof(lock)))
            (void)between(message, "The scope '", '\'', lock, sizeof(lock));
        snprintf(out->cause, sizeof(out->cause), "%s", MODEL_CAUSE_LOCKED);
        snprintf(out->message, sizeof(out->message),
                 "a resource lock blocks the change (409 ScopeLocked): %s. Fix: remove the lock "
                 "(or change a ReadOnly lock to CanNotDelete when only deletes must be blocked) "
                 "with az lock delete --ids <lock id>; then retry the operation",
                 lock[0] ? lock : "(lock not named)");
        return true;
    }
    /* https://learn.microsoft.com/graph/resolve-auth-errors */
    if (status == 403 && strcasecmp(code, "Authorization_RequestDenied") == 0) {
        snprintf(out->cause, sizeof(out->cause), "%s", MODEL_CAUSE_GRAPH_DENIED);
        snprintf(out->message, sizeof(out->message),
                 "Microsoft Graph refused vmlogind's app (403 Authorization_RequestDenied). Fix: "
                 "grant the app the Microsoft Graph application permission %s and grant admin "
                 "consent; then retry the operation",
                 graph_role != NULL && graph_role[0] ? graph_role : "the call needs");
        return true;
    }
    return false;
}

void model_denial_add_ids(struct model_denial *dn, const char *client_request_id,
                          const char *request_id)
{
    size_t n = strlen(dn->message);

    if ((client_request_id == NULL || client_request_id[0] == '\0') &&
        (request_id == NULL || request_id[0] == '\0'))
        return;
    snprintf(dn->message + n, sizeof(dn->message) - n,
             " (for an Azure support case: client request id %s, Azure request id %s)",
             client_request_id != NULL && client_request_id[0] ? client_request_id : "-",
             request_id != NULL && request_id[0] ? request_id : "-");
}
