/* model_signin.h: "why can't she sign in?", judged without I/O. The caller gathers what the
 * store knows (the VM, its extension, the login role that reaches her) and what the
 * reconciler last read from Microsoft Graph (her account, the VM's device object, the
 * Conditional Access policies aimed at the Azure Windows VM Sign-In app, her recent sign-ins
 * to it); model_signin_evaluate turns them into checks, each pass|fail|warn|unknown with the
 * evidence, the reason and the fix in the seed's terms, and one verdict. */
#ifndef VMLOGIND_MODEL_SIGNIN_H
#define VMLOGIND_MODEL_SIGNIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmlogind/model_grant.h"

/* The Azure Windows VM Sign-In app (seed: "Microsoft Azure Windows Virtual Machine Sign-in"). */
#define MODEL_SIGNIN_APP_ID "372140e0-b3b7-4226-8ef9-d57986796201"
/* Directory facts older than this are read again when someone asks. */
#define MODEL_SIGNIN_FRESH_MS (5 * 60 * 1000)
/* The Graph application permission each directory section needs (least privilege). */
#define MODEL_SIGNIN_PERM_USER "User.Read.All"
#define MODEL_SIGNIN_PERM_DEVICE "Device.Read.All"
#define MODEL_SIGNIN_PERM_POLICY "Policy.Read.All"
#define MODEL_SIGNIN_PERM_SIGNINS "AuditLog.Read.All"

/* What the store knows; borrowed strings, NULL when unknown. */
struct model_signin_vm {
    const char *id;
    const char *computer_name;
    const char *power_state;     /* "running", "deallocated", ... */
    int os_support;              /* enum model_os_support */
    const char *os_reason;       /* the OS verdict's reason */
    bool has_system_identity;    /* identity type includes SystemAssigned */
    bool extension_present;      /* AADLoginForWindows is on the VM */
    const char *extension_state; /* its provisioningState */
    const char *extension_code;  /* instance-view status code, e.g. ProvisioningState/failed/1007 */
    const char *extension_message;
    const char *cloud; /* AzureCloud | AzureUSGovernment | AzureChinaCloud | custom */
};

/* The best login role that reaches her (model_access_best_for), NONE when none does. */
struct model_signin_role {
    enum model_grant_role role;
    const char *scope;      /* where it is assigned */
    const char *scope_kind; /* subscription | resourceGroup | vm (model_login_scope_kind_str) */
    const char *via_group;  /* NULL: assigned to her directly */
    const char *via_group_name;
    bool from_grant; /* a vmlogind grant (else made outside vmlogind) */
};

struct model_signin_input {
    const char *principal; /* as asked: UPN or object id */
    const struct model_signin_vm *vm;
    const struct model_signin_role *role;
    /* The reconciler's last read of the directory (the "directory" object documented in
     * api/openapi.yaml: user, devices, policies, signIns sections, each {status, permission?,
     * value?}); NULL when it has not read it yet. */
    const json_t *directory;
    /* The last on-VM checks, parsed (model_onvm_parse), NULL when none: they add the onVm*
     * checks. */
    const json_t *on_vm;
};

/* The checks and the verdict: {"verdict": canSignIn|cannotSignIn|unknown, "checks": [{id,
 * title, status, evidence, reason?, fix?, permission?}], "blocking": [ids]}. A fail makes
 * cannotSignIn; else an unknown makes unknown; warn never blocks. A new reference. */
json_t *model_signin_evaluate(const struct model_signin_input *in);

/* What a sign-in error code of Microsoft Entra means and what to do, or NULL when the table
 * does not know the code. */
const char *model_signin_error_meaning(long code);
const char *model_signin_error_fix(long code);

#endif
