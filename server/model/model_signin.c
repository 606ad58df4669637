/* model_signin.c: the checks behind GET /v1{vm}/signIn, from the seed's requirements and
 * troubleshooting sections, as a pure function of what the store and the reconciler's last
 * Graph read know. It reads nothing and judges only: the directory facts come in as the JSON
 * the reconciler stored, the VM facts as a struct. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model.h"
#include "vmlogind/model_login.h"
#include "vmlogind/model_signin.h"

/* Microsoft Entra authentication and authorization error codes,
 * https://learn.microsoft.com/entra/identity-platform/reference-error-codes (the AADSTS codes
 * that sign-in logs carry in status.errorCode). */
static const struct {
    long code;
    const char *meaning;
    const char *fix;
} error_codes[] = {
    {50020, "UserUnauthorized: the user is from another tenant or a guest (identity provider)",
     "sign in with a member account of the VM's tenant: guests can't use Entra VM sign-in"},
    {50034, "UserAccountNotFound: the account does not exist in the directory",
     "check the user name; use the UPN of her account in the VM's tenant"},
    {50053, "IdsLocked: the account is locked (too many wrong sign-ins) or the sign-in was blocked",
     "wait for the lockout to end or have an administrator unlock it"},
    {50055, "InvalidPasswordExpiredPassword: the password has expired",
     "change the password in a web browser (for instance the Azure portal), then connect again"},
    {50057, "UserDisabled: the account is disabled", "enable the account in Microsoft Entra ID"},
    {50074, "UserStrongAuthClientAuthNRequiredInterrupt: strong authentication is required",
     "sign in on her PC with Windows Hello for Business or use the web-account RDP option, so "
     "that the RDP client supplies an MFA claim"},
    {50076, "UserStrongAuthRequired: multifactor authentication is required",
     "sign in on her PC with Windows Hello for Business or use the web-account RDP option, so "
     "that the RDP client supplies an MFA claim; or remove legacy per-user MFA"},
    {50097, "DeviceAuthenticationRequired: device authentication is required",
     "connect from a Microsoft Entra joined or hybrid joined PC of the same directory"},
    {50105, "EntitlementGrantsNotFound: the user is not assigned to a role for the application",
     "grant her Virtual Machine User Login or Virtual Machine Administrator Login"},
    {50126, "InvalidUserNameOrPassword: wrong user name or password",
     "check the credentials; a Microsoft Entra registered PC must enter them as AzureAD\\UPN"},
    {50158,
     "ExternalSecurityChallenge: an external security challenge was not satisfied "
     "(a Conditional Access control such as MFA or a third-party provider)",
     "satisfy the policy's control from her client (Windows Hello for Business or the "
     "web-account RDP option), or exclude the Azure Windows VM Sign-In app from the policy"},
    {53000, "DeviceNotCompliant: Conditional Access requires a compliant device",
     "connect from a device that Intune reports compliant"},
    {53001, "DeviceNotDomainJoined: Conditional Access requires a domain-joined device",
     "connect from a Microsoft Entra hybrid joined device"},
    {53003, "BlockedByConditionalAccess: access has been blocked by Conditional Access policies",
     "read which policy blocked her in the sign-in log and change the policy or the conditions "
     "she signs in under"},
    {530032, "BlockedByConditionalAccessOnSecurityPolicy: blocked by a security policy",
     "ask the tenant administrator which security policy blocks her"},
};

const char *model_signin_error_meaning(long code)
{
    for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
        if (error_codes[i].code == code)
            return error_codes[i].meaning;
    return NULL;
}

const char *model_signin_error_fix(long code)
{
    for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
        if (error_codes[i].code == code)
            return error_codes[i].fix;
    return NULL;
}

static void check(json_t *checks, const char *id, const char *title, const char *status,
                  json_t *evidence, const char *reason, const char *fix)
{
    json_t *c = json_pack("{s:s, s:s, s:s}", "id", id, "title", title, "status", status);

    json_object_set_new(c, "evidence", evidence != NULL ? evidence : json_object());
    if (reason != NULL)
        json_object_set_new(c, "reason", json_string(reason));
    if (fix != NULL)
        json_object_set_new(c, "fix", json_string(fix));
    json_array_append_new(checks, c);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A directory section the reconciler could not read: unknown, naming the permission. True
 * when it was handled (the caller stops). */
static bool section_unknown(json_t *checks, const char *id, const char *title, const json_t *s)
{
    char reason[320], fix[320];
    const char *status = str(s, "status");
    const char *perm = str(s, "permission");

    if (s == NULL || status == NULL) {
        check(checks, id, title, "unknown", NULL,
              "vmlogind has not read this from Microsoft Graph yet; ask again in a moment", NULL);
        return true;
    }
    if (strcmp(status, "denied") == 0) {
        snprintf(reason, sizeof(reason),
                 "vmlogind may not read this: Microsoft Graph answered 403 "
                 "Authorization_RequestDenied; it needs the application permission %s",
                 perm ? perm : "?");
        snprintf(fix, sizeof(fix),
                 "grant vmlogind's app the Microsoft Graph application permission %s and grant "
                 "admin consent",
                 perm ? perm : "?");
        check(checks, id, title, "unknown", NULL, reason, fix);
        json_object_set_new(json_array_get(checks, json_array_size(checks) - 1), "permission",
                            json_string(perm ? perm : "?"));
        return true;
    }
    if (strcmp(status, "error") == 0) {
        check(checks, id, title, "unknown", json_pack("{s:s?}", "error", str(s, "error")),
              "Microsoft Graph did not answer this check; it is tried again on the next ask", NULL);
        return true;
    }
    return false;
}

static void user_checks(json_t *checks, const struct model_signin_input *in, const json_t *dir)
{
    const json_t *s = json_object_get(dir, "user");
    const json_t *u = json_object_get(s, "value");
    const char *type;
    char r[320];

    if (dir == NULL || section_unknown(checks, "accountExists", "Her account exists", s)) {
        if (dir == NULL)
            section_unknown(checks, "accountExists", "Her account exists", NULL);
        check(checks, "accountEnabled", "Her account is enabled", "unknown", NULL,
              "depends on reading her account", NULL);
        check(checks, "memberNotGuest", "She is a member, not a guest", "unknown", NULL,
              "depends on reading her account", NULL);
        return;
    }
    if (strcmp(str(s, "status"), "notFound") == 0 || !json_is_object(u)) {
        snprintf(r, sizeof(r), "no user '%s' in the VM's Microsoft Entra tenant", in->principal);
        check(checks, "accountExists", "Her account exists", "fail",
              json_pack("{s:s}", "principal", in->principal), r,
              "check the name; if her Microsoft Entra domain and login domain differ, ask by "
              "her object id (the seed's --assignee-object-id)");
        check(checks, "accountEnabled", "Her account is enabled", "unknown", NULL,
              "no account to check", NULL);
        check(checks, "memberNotGuest", "She is a member, not a guest", "unknown", NULL,
              "no account to check", NULL);
        return;
    }
    check(checks, "accountExists", "Her account exists", "pass",
          json_pack("{s:s?, s:s?}", "id", str(u, "id"), "userPrincipalName",
                    str(u, "userPrincipalName")),
          NULL, NULL);
    if (json_is_false(json_object_get(u, "accountEnabled")))
        check(checks, "accountEnabled", "Her account is enabled", "fail",
              json_pack("{s:b}", "accountEnabled", 0),
              "the account is disabled: when accounts are disabled or removed from Microsoft "
              "Entra ID, they no longer have access (seed)",
              "enable the account in Microsoft Entra ID, if she should still have access");
    else
        check(checks, "accountEnabled", "Her account is enabled",
              json_is_true(json_object_get(u, "accountEnabled")) ? "pass" : "unknown",
              json_pack("{s:O?}", "accountEnabled", json_object_get(u, "accountEnabled")), NULL,
              NULL);
    type = str(u, "userType");
    if (type != NULL && strcasecmp(type, "Guest") == 0)
        check(checks, "memberNotGuest", "She is a member, not a guest", "fail",
              json_pack("{s:s}", "userType", type),
              "Microsoft Entra guest accounts can't connect to Azure VMs or Azure Bastion "
              "enabled VMs via Microsoft Entra authentication (seed: authentication "
              "requirements)",
              "use a member account of the VM's tenant; a guest cannot be helped by a grant");
    else
        check(checks, "memberNotGuest", "She is a member, not a guest", type ? "pass" : "unknown",
              json_pack("{s:s?}", "userType", type), NULL, NULL);
}

static void role_check(json_t *checks, const struct model_signin_input *in)
{
    const struct model_signin_role *r = in->role;
    char fix[600];

    if (r == NULL || r->role == MODEL_GRANT_ROLE_NONE) {
        snprintf(fix, sizeof(fix),
                 "request a grant: POST /v1/loginGrants {\"scope\": \"%s\", \"role\": \"user\", "
                 "\"principal\": {\"upn\": \"%s\", \"type\": \"User\"}} (role administrator for "
                 "Virtual Machine Administrator Login)",
                 in->vm && in->vm->id ? in->vm->id : "", in->principal);
        check(checks, "loginRole", "A login role reaches her", "fail", NULL,
              "she holds neither Virtual Machine Administrator Login nor Virtual Machine User "
              "Login at the VM, its resource group or its subscription, directly or through a "
              "group (Owner or Contributor don't count); RDP shows \"Your account is "
              "configured to prevent you from using this device.\"",
              fix);
        return;
    }
    check(checks, "loginRole", "A login role reaches her", "pass",
          json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:b, s:s}", "role",
                    model_grant_role_name(r->role), "roleName",
                    r->role == MODEL_GRANT_ROLE_ADMIN ? "Virtual Machine Administrator Login"
                                                      : "Virtual Machine User Login",
                    "via", r->via_group ? "group" : "direct", "group", r->via_group, "groupName",
                    r->via_group_name, "scope", r->scope, "inherited",
                    r->scope_kind != NULL && strcmp(r->scope_kind, "vm") != 0, "source",
                    r->from_grant ? "grant" : "external"),
          NULL, NULL);
}

static bool ext_succeeded(const struct model_signin_vm *vm)
{
    return vm->extension_present && vm->extension_state != NULL &&
           strcasecmp(vm->extension_state, "Succeeded") == 0;
}

static void vm_checks(json_t *checks, const struct model_signin_vm *vm)
{
    struct model_diagnosis dg;

    if (vm->power_state == NULL)
        check(checks, "vmRunning", "The VM is running", "unknown", NULL,
              "the VM's power state is not known yet (next inventory sync)", NULL);
    else if (model_power_running(vm->power_state))
        check(checks, "vmRunning", "The VM is running", "pass",
              json_pack("{s:s}", "powerState", vm->power_state), NULL, NULL);
    else
        check(checks, "vmRunning", "The VM is running", "fail",
              json_pack("{s:s}", "powerState", vm->power_state),
              "the VM is not running: nobody can sign in to it", "start the VM");
    check(checks, "osSupported", "The VM's Windows supports Entra sign-in",
          vm->os_support == MODEL_OS_SUPPORTED     ? "pass"
          : vm->os_support == MODEL_OS_UNSUPPORTED ? "fail"
                                                   : "unknown",
          json_pack("{s:s?}", "reason", vm->os_reason),
          vm->os_support == MODEL_OS_SUPPORTED ? NULL : vm->os_reason,
          vm->os_support == MODEL_OS_UNSUPPORTED
              ? "use Windows Server 2019 Datacenter or later, Windows 10 1809 or later, or "
                "Windows 11 21H2 or later"
              : NULL);
    if (!vm->has_system_identity && !ext_succeeded(vm))
        check(checks, "systemIdentity", "The VM has a system-assigned managed identity", "fail",
              NULL,
              "the extension needs the system-assigned managed identity to join (exit code "
              "-2145648574, DSREG_E_MSI_TENANTID_UNAVAILABLE, without it)",
              "turn on the system-assigned identity (PUT /v1{vm}/entraLogin does it first)");
    else
        check(checks, "systemIdentity", "The VM has a system-assigned managed identity",
              vm->has_system_identity ? "pass" : "warn", NULL,
              vm->has_system_identity ? NULL : "no system-assigned identity; the join is done",
              NULL);
    if (!vm->extension_present) {
        check(checks, "extension", "AADLoginForWindows is installed and Succeeded", "fail", NULL,
              "the AADLoginForWindows extension is not installed: the VM is not Microsoft Entra "
              "joined (or the extension was uninstalled after the join)",
              "enable Entra login on the VM: PUT /v1{vm}/entraLogin {}");
        return;
    }
    if (ext_succeeded(vm)) {
        check(checks, "extension", "AADLoginForWindows is installed and Succeeded", "pass",
              json_pack("{s:s}", "provisioningState", vm->extension_state), NULL, NULL);
        return;
    }
    if (vm->extension_state != NULL && strcasecmp(vm->extension_state, "Failed") == 0) {
        model_diagnose(&(struct model_failure){.status_code = vm->extension_code,
                                               .status_message = vm->extension_message,
                                               .cloud = vm->cloud},
                       &dg);
        check(checks, "extension", "AADLoginForWindows is installed and Succeeded", "fail",
              json_pack("{s:s, s:s?, s:s, s:s}", "provisioningState", vm->extension_state,
                        "statusCode", vm->extension_code, "cause", dg.cause, "name", dg.name),
              dg.meaning, dg.fix);
        return;
    }
    check(checks, "extension", "AADLoginForWindows is installed and Succeeded", "unknown",
          json_pack("{s:s?}", "provisioningState", vm->extension_state),
          "the extension is still being installed; the join is not done",
          "ask again once it shows Succeeded");
}

static void device_check(json_t *checks, const struct model_signin_input *in, const json_t *dir)
{
    const char *title = "The VM's device object in Entra is joined and enabled";
    const json_t *s = json_object_get(dir, "devices");
    const json_t *v = json_object_get(s, "value");
    const json_t *d;
    char r[400];
    const char *host = in->vm->computer_name;

    if (host == NULL) {
        check(checks, "device", title, "unknown", NULL,
              "the VM's hostname is not known yet (next inventory sync)", NULL);
        return;
    }
    if (dir == NULL || section_unknown(checks, "device", title, s)) {
        if (dir == NULL)
            section_unknown(checks, "device", title, NULL);
        return;
    }
    if (json_array_size(v) == 0) {
        snprintf(r, sizeof(r),
                 "no device object named %s in Microsoft Entra ID: the VM has not joined (or its "
                 "device was deleted)",
                 host);
        check(checks, "device", title, "fail",
              json_pack("{s:s, s:i}", "hostname", host, "found", 0), r,
              "run the on-VM checks (POST /v1{vm}/diagnostics: dsregcmd /status should show "
              "AzureAdJoined : YES), then reinstall AADLoginForWindows");
        return;
    }
    if (json_array_size(v) > 1) {
        snprintf(r, sizeof(r),
                 "%zu device objects are named %s: a VM whose hostname equals an existing "
                 "device's displayName fails to join with a hostname duplication error (seed)",
                 json_array_size(v), host);
        check(checks, "device", title, "fail",
              json_pack("{s:s, s:I}", "hostname", host, "found", (json_int_t)json_array_size(v)), r,
              "delete the stale device object in Entra, or change the VM's hostname");
        return;
    }
    d = json_array_get(v, 0);
    json_t *ev = json_pack("{s:s?, s:s?, s:s?, s:O?}", "id", str(d, "id"), "deviceId",
                           str(d, "deviceId"), "trustType", str(d, "trustType"), "accountEnabled",
                           json_object_get(d, "accountEnabled"));
    if (json_is_false(json_object_get(d, "accountEnabled")))
        check(checks, "device", title, "fail", ev,
              "the VM's device object is disabled in Microsoft Entra ID: no Entra account can "
              "sign in to it",
              "enable the device in the Microsoft Entra admin center (Devices > All devices)");
    else if (str(d, "trustType") != NULL && strcasecmp(str(d, "trustType"), "AzureAd") != 0)
        check(checks, "device", title, "fail", ev,
              "the device object is not Microsoft Entra joined (trustType is not AzureAd): the "
              "VM is domain joined or only registered, and Entra login needs a join",
              "leave the other domain and reinstall AADLoginForWindows (a VM with Entra login "
              "can't also join another domain)");
    else
        check(checks, "device", title, "pass", ev, NULL, NULL);
}

static bool has_str(const json_t *a, const char *s)
{
    size_t i;
    json_t *x;

    json_array_foreach(a, i, x)
    {
        if (json_is_string(x) && strcasecmp(json_string_value(x), s) == 0)
            return true;
    }
    return false;
}

/* Does an enabled policy aim at the Azure Windows VM Sign-In app and at her? Conditional
 * Access policy shape: https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy
 * (conditions.applications.includeApplications, conditions.users.includeUsers, ...). */
static bool policy_applies(const json_t *p, const char *user_id, bool *for_groups)
{
    const json_t *apps = json_object_get(json_object_get(p, "conditions"), "applications");
    const json_t *users = json_object_get(json_object_get(p, "conditions"), "users");
    const json_t *inc = json_object_get(apps, "includeApplications");

    *for_groups = false;
    if (!(has_str(inc, MODEL_SIGNIN_APP_ID) || has_str(inc, "All")) ||
        has_str(json_object_get(apps, "excludeApplications"), MODEL_SIGNIN_APP_ID))
        return false;
    if (user_id != NULL && has_str(json_object_get(users, "excludeUsers"), user_id))
        return false;
    if (has_str(json_object_get(users, "includeUsers"), "All") ||
        (user_id != NULL && has_str(json_object_get(users, "includeUsers"), user_id)))
        return true;
    *for_groups = json_array_size(json_object_get(users, "includeGroups")) > 0 ||
                  json_array_size(json_object_get(users, "includeRoles")) > 0;
    return *for_groups;
}

struct ca_need {
    bool mfa, compliant, hybrid, block;
};

/* One policy: its evidence row, and what it asks of her when it is enabled and applies. */
static void ca_policy(json_t *ev, const json_t *p, const char *uid, struct ca_need *need)
{
    const json_t *gc = json_object_get(p, "grantControls");
    const json_t *bc = json_object_get(gc, "builtInControls");
    bool groups, mfa, strength, comp, hyb, blk;

    if (!policy_applies(p, uid, &groups) || !json_is_string(json_object_get(p, "state")))
        return;
    mfa = has_str(bc, "mfa");
    strength = json_is_object(json_object_get(gc, "authenticationStrength"));
    comp = has_str(bc, "compliantDevice");
    hyb = has_str(bc, "domainJoinedDevice");
    blk = has_str(bc, "block");
    json_array_append_new(ev, json_pack("{s:s?, s:s?, s:s, s:b, s:b, s:b, s:b, s:b, s:b}", "id",
                                        str(p, "id"), "displayName", str(p, "displayName"), "state",
                                        str(p, "state"), "mfa", mfa, "authenticationStrength",
                                        strength, "compliantDevice", comp, "domainJoinedDevice",
                                        hyb, "block", blk, "throughGroupOrRole", groups));
    if (strcmp(str(p, "state"), "enabled") != 0)
        return; /* report-only and disabled policies never stop her */
    need->mfa = need->mfa || mfa || strength;
    need->compliant = need->compliant || comp;
    need->hybrid = need->hybrid || hyb;
    need->block = need->block || blk;
}

static void ca_check(json_t *checks, const json_t *dir, struct ca_need *need)
{
    const char *title = "Conditional Access for the Azure Windows VM Sign-In app";
    const json_t *s = json_object_get(dir, "policies");
    const char *uid = str(json_object_get(json_object_get(dir, "user"), "value"), "id");
    json_t *ev = json_array(), *p;
    size_t i;
    char r[600];
    int w = 0;

    if (dir == NULL || section_unknown(checks, "conditionalAccess", title, s)) {
        if (dir == NULL)
            section_unknown(checks, "conditionalAccess", title, NULL);
        json_decref(ev);
        return;
    }
    json_array_foreach(json_object_get(s, "value"), i, p)
    {
        ca_policy(ev, p, uid, need);
    }
    if (need->block) {
        check(checks, "conditionalAccess", title, "fail", json_pack("{s:o}", "policies", ev),
              "an enabled Conditional Access policy blocks the Azure Windows VM Sign-In app "
              "(372140e0-b3b7-4226-8ef9-d57986796201) for her",
              "change the policy's conditions or exclude her from it");
        return;
    }
    if (!need->mfa && !need->compliant && !need->hybrid) {
        check(checks, "conditionalAccess", title, "pass", json_pack("{s:o}", "policies", ev), NULL,
              NULL);
        return;
    }
    w = snprintf(r, sizeof(r), "enabled policies on the Azure Windows VM Sign-In app require%s%s%s",
                 need->mfa ? " multifactor authentication" : "",
                 need->compliant ? " a compliant device" : "",
                 need->hybrid ? " a hybrid joined device" : "");
    if (need->mfa && w > 0 && (size_t)w < sizeof(r))
        snprintf(r + w, sizeof(r) - (size_t)w,
                 ": the RDP client must supply the MFA claim, else \"The sign-in method you're "
                 "trying to use isn't allowed\"");
    check(checks, "conditionalAccess", title, "warn", json_pack("{s:o}", "policies", ev), r,
          need->mfa ? "sign in to her Windows PC with Windows Hello for Business (PIN or "
                      "biometric, certificate trust) or use the web-account RDP option "
                      "(passwordless); if neither is possible, exclude the Azure Windows VM "
                      "Sign-In app from the MFA policy"
                    : "connect from a device that satisfies the policy's device controls");
}

static void signins_check(json_t *checks, const json_t *dir)
{
    const char *title = "Her recent sign-ins to the Azure Windows VM Sign-In app";
    const json_t *s = json_object_get(dir, "signIns");
    const json_t *v = json_object_get(s, "value");
    const json_t *last, *e;
    json_t *fails = json_array();
    json_int_t code;
    size_t i;
    char r[400];

    if (dir == NULL || section_unknown(checks, "recentSignIns", title, s)) {
        if (dir == NULL)
            section_unknown(checks, "recentSignIns", title, NULL);
        json_decref(fails);
        return;
    }
    json_array_foreach(v, i, e)
    {
        const json_t *st = json_object_get(e, "status");
        json_int_t c = json_integer_value(json_object_get(st, "errorCode"));
        if (c == 0)
            continue;
        json_array_append_new(fails, json_pack("{s:s?, s:I, s:s?, s:s?}", "createdDateTime",
                                               str(e, "createdDateTime"), "errorCode", c,
                                               "failureReason", str(st, "failureReason"), "meaning",
                                               model_signin_error_meaning((long)c)));
    }
    if (json_array_size(v) == 0) {
        check(checks, "recentSignIns", title, "pass",
              json_pack("{s:i, s:o}", "signIns", 0, "failures", fails),
              "no sign-in to the app is recorded for her", NULL);
        return;
    }
    /* Graph lists sign-ins newest first (createdDateTime desc, the default order of
     * https://learn.microsoft.com/graph/api/signin-list). */
    last = json_array_get(v, 0);
    code = json_integer_value(json_object_get(json_object_get(last, "status"), "errorCode"));
    if (code == 0) {
        check(checks, "recentSignIns", title, "pass",
              json_pack("{s:I, s:o}", "signIns", (json_int_t)json_array_size(v), "failures", fails),
              NULL, NULL);
        return;
    }
    snprintf(r, sizeof(r), "her last sign-in failed with error %lld: %s", (long long)code,
             model_signin_error_meaning((long)code) ? model_signin_error_meaning((long)code)
                                                    : "see the sign-in log's failureReason");
    check(checks, "recentSignIns", title, "fail",
          json_pack("{s:I, s:I, s:o}", "signIns", (json_int_t)json_array_size(v), "lastErrorCode",
                    code, "failures", fails),
          r,
          model_signin_error_fix((long)code)
              ? model_signin_error_fix((long)code)
              : "look the code up in the Microsoft Entra error codes reference");
}

static void client_check(json_t *checks, const struct ca_need *need)
{
    json_t *ev = json_pack("{s:b, s:b, s:b}", "mfaRequired", need->mfa, "compliantDeviceRequired",
                           need->compliant, "hybridJoinRequired", need->hybrid);
    const char *needs =
        "her Windows 10 or later PC must be Microsoft Entra joined or hybrid joined to the same "
        "directory, or Microsoft Entra registered (build 20H1 or later, credentials entered as "
        "AzureAD\\UPN), or use the \"Use a web account to sign in to the remote computer\" "
        "option (enablerdsaadauth, Windows 11 with KB5018418 or Windows 10 20H2 with "
        "KB5018410), connecting by hostname, never by IP";

    if (need->mfa || need->compliant || need->hybrid)
        check(checks, "client", "What her client needs", "warn", ev, needs,
              need->mfa ? "with MFA required: Windows Hello for Business on her PC, or the "
                          "web-account option with a passwordless method"
                        : "use a device that Conditional Access accepts");
    else
        check(checks, "client", "What her client needs", "pass", ev, needs,
              "GET /v1{vm}/rdp gives an .rdp file that connects by hostname with the web-account "
              "option on");
}

/* The last on-VM checks (model_onvm_parse's shape), when there are any: the seed's goals are
 * AzureAdJoined : YES and AzureAdPrt : YES, the endpoints reachable, a tenant from IMDS. */
static void onvm_checks(json_t *checks, const json_t *o)
{
    const json_t *ds = json_object_get(o, "dsregcmd");
    const json_t *joined = json_object_get(ds, "azureAdJoined");
    json_t *down = json_array(), *e;
    size_t i;
    char r[600];

    if (json_is_true(json_object_get(ds, "domainJoined")))
        check(checks, "onVmJoin", "dsregcmd /status on the VM: Microsoft Entra joined", "fail",
              json_pack("{s:O, s:b}", "dsregcmd", ds, "domainJoined", 1),
              "the VM is joined to another domain (DomainJoined : YES): a VM with Microsoft Entra "
              "login can't also join on-premises Active Directory or Domain Services",
              "leave the other domain, or uninstall AADLoginForWindows if the domain must stay");
    else if (json_is_true(joined))
        check(checks, "onVmJoin", "dsregcmd /status on the VM: Microsoft Entra joined", "pass",
              json_pack("{s:O}", "dsregcmd", ds), NULL, NULL);
    else
        check(checks, "onVmJoin", "dsregcmd /status on the VM: Microsoft Entra joined",
              json_is_false(joined) ? "fail" : "unknown", json_pack("{s:O}", "dsregcmd", ds),
              json_is_false(joined) ? "dsregcmd /status shows AzureAdJoined : NO: the join did "
                                      "not happen (see the User Device Registration admin log)"
                                    : "dsregcmd /status gave no AzureAdJoined line",
              "check the endpoints and the IMDS tenant below, then reinstall AADLoginForWindows "
              "(its CommandExecution.log names the step that failed)");
    if (json_is_false(json_object_get(ds, "azureAdPrt")))
        check(checks, "onVmPrt", "dsregcmd /status on the VM: SSO state", "warn",
              json_pack("{s:b}", "azureAdPrt", 0),
              "AzureAdPrt : NO: the signed-in session on the VM holds no Primary Refresh Token",
              "sign in again with the Entra account; the goal is AzureAdPrt : YES");
    json_array_foreach(json_object_get(o, "endpoints"), i, e)
    {
        if (json_is_false(json_object_get(e, "reachable")))
            json_array_append(down, e);
    }
    if (json_array_size(down) > 0) {
        snprintf(r, sizeof(r),
                 "the VM cannot reach %zu of the endpoints Entra login needs over TCP 443 "
                 "(first: %s)",
                 json_array_size(down), str(json_array_get(down, 0), "url"));
        check(checks, "onVmEndpoints", "The VM reaches the Entra endpoints", "fail",
              json_pack("{s:o}", "unreachable", down), r,
              "open outbound TCP 443 to them (network security group, firewall, proxy); if the "
              "name does not resolve, check the VM's DNS server (nslookup <URL>)");
    } else {
        check(checks, "onVmEndpoints", "The VM reaches the Entra endpoints",
              json_array_size(json_object_get(o, "endpoints")) > 0 ? "pass" : "unknown",
              json_pack("{s:O}", "endpoints", json_object_get(o, "endpoints")), NULL, NULL);
        json_decref(down);
    }
    if (!json_is_string(json_object_get(o, "imdsTenantId")))
        check(checks, "onVmImds", "IMDS gives the identity's tenant", "fail", NULL,
              "http://169.254.169.254/metadata/identity/info gave no tenant id "
              "(DSREG_E_MSI_TENANTID_UNAVAILABLE, exit code -2145648574)",
              "turn the system-assigned managed identity on (Identity pane, System assigned, "
              "Status On)");
    else
        check(checks, "onVmImds", "IMDS gives the identity's tenant", "pass",
              json_pack("{s:O}", "tenantId", json_object_get(o, "imdsTenantId")), NULL, NULL);
}

json_t *model_signin_evaluate(const struct model_signin_input *in)
{
    const struct model_signin_vm none = {0};
    struct ca_need need = {0};
    json_t *checks = json_array(), *blocking = json_array(), *c;
    struct model_signin_input cp = *in;
    bool fail = false, unknown = false;
    size_t i;

    if (cp.vm == NULL)
        cp.vm = &none;
    user_checks(checks, &cp, in->directory);
    role_check(checks, &cp);
    vm_checks(checks, cp.vm);
    device_check(checks, &cp, in->directory);
    ca_check(checks, in->directory, &need);
    signins_check(checks, in->directory);
    client_check(checks, &need);
    if (json_is_object(in->on_vm))
        onvm_checks(checks, in->on_vm);
    json_array_foreach(checks, i, c)
    {
        const char *st = str(c, "status");
        if (strcmp(st, "fail") == 0) {
            fail = true;
            json_array_append_new(blocking, json_string(str(c, "id")));
        }
        unknown = unknown || strcmp(st, "unknown") == 0;
    }
    return json_pack("{s:s, s:o, s:o}", "verdict",
                     fail      ? "cannotSignIn"
                     : unknown ? "unknown"
                               : "canSignIn",
                     "blocking", blocking, "checks", checks);
}
