/* model_login.h: the pure domain of Entra login on VMs: scopes of a login setting, the
 * settings body, tag exclusions, the preflight checks (model_login.c) and the diagnosis of a
 * failed AADLoginForWindows install (model_diagnose.c). No I/O: the reconciler gathers the
 * facts, these functions judge them. */
#ifndef VMLOGIND_MODEL_LOGIN_H
#define VMLOGIND_MODEL_LOGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmlogind/model.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/violations.h"

/* ---- scopes (model_login.c) ---------------------------------------------------------------- */
/* Scopes are model_grant.h's struct model_scope (subscription, resource group or VM). */

#define MODEL_SCOPE_MAX MODEL_GRANT_SCOPE_MAX

/* Parses an ARM id (any case) of a subscription, a resource group or a VM; false otherwise. */
bool model_login_scope_from_id(const char *id, struct model_scope *out);
/* The lowercase keys of the subscription and resource group above s (rg_key is "" for a
 * subscription scope). */
void model_login_scope_parent_keys(const struct model_scope *s, char sub_key[MODEL_SCOPE_MAX],
                                   char rg_key[MODEL_SCOPE_MAX]);
/* "subscription", "resourceGroup", "vm": login_settings.scope_kind. */
const char *model_login_scope_kind_str(enum model_grant_scope_kind k);

/* ---- the settings body of PUT .../entraLogin (model_login.c) -------------------------------- */

#define MODEL_LOGIN_MAX_EXCLUDE_TAGS 32
#define MODEL_TAG_NAME_MAX 512
#define MODEL_TAG_VALUE_MAX 256

enum model_login_mode { MODEL_LOGIN_ENFORCE = 0, MODEL_LOGIN_AUDIT };

/* MDM autoenrollment at join ("mdm": "intune"): AADLoginForWindows gets the setting
 * {"mdmId": MODEL_INTUNE_MDM_ID}, the value Microsoft's page gives for Intune ("Using Intune
 * ... az vm extension set ... --settings '{\"mdmId\":\"0000000a-0000-0000-c000-000000000000\"}'",
 * https://learn.microsoft.com/entra/identity/devices/howto-vm-sign-in-azure-ad-windows). The
 * seed: "Windows Server VMs don't support MDM enrollment" (and it needs Entra ID P1). */
enum model_login_mdm { MODEL_LOGIN_MDM_NONE = 0, MODEL_LOGIN_MDM_INTUNE };
#define MODEL_INTUNE_MDM_ID "0000000a-0000-0000-c000-000000000000"
#define MODEL_MDM_SERVER_REASON                                                                    \
    "Windows Server VMs don't support MDM enrollment: \"mdm\" applies to Windows 10 and 11 "       \
    "client VMs only"

struct model_tag {
    char *name;
    char *value;
};

/* Owns its strings: model_login_spec_cleanup(). */
struct model_login_spec {
    enum model_login_mode mode;
    struct model_tag *exclude; /* sorted by name (case-insensitive) */
    size_t n_exclude;
    char extension_version[32];
    enum model_login_mdm mdm;
    /* "allowedLocalAccounts": the local accounts that may sit in Administrators or Remote
     * Desktop Users (seed: "flag the use of unapproved local accounts"); has_local_policy is
     * false when the field is absent (nothing is judged), true for [] (none allowed). */
    bool has_local_policy;
    char **allowed_local; /* sorted, case-insensitive */
    size_t n_allowed_local;
};
void model_login_spec_cleanup(struct model_login_spec *s);

/* Reads the optional body {mode?, excludeTags?, extensionVersion?, mdm?,
 * allowedLocalAccounts?} (NULL = no body) over the
 * defaults given; every unknown field, wrong type or bad value goes to vs with its path. */
bool model_login_spec_from_json(const json_t *body, const char *default_mode,
                                const char *default_version, struct model_login_spec *out,
                                struct violations *vs);
/* Canonical JSON text of the spec (sorted tags): equal specs give equal text. New string. */
char *model_login_spec_to_text(const struct model_login_spec *s);
/* Canonical JSON text of the excludeTags object alone (the store's exclude_tags column), as
 * it appears inside model_login_spec_to_text's. New string. */
char *model_login_spec_tags_text(const struct model_login_spec *s);
/* Back from the canonical text (the store's spec column). */
bool model_login_spec_from_text(const char *text, struct model_login_spec *out);
const char *model_login_mode_str(enum model_login_mode m);
const char *model_login_mdm_str(enum model_login_mdm m); /* "none" | "intune" */
/* The mdmId to send in the extension's settings for a VM of this edition: MODEL_INTUNE_MDM_ID
 * for Intune on a client VM, NULL otherwise (no MDM asked for; Server, which can't enroll;
 * unknown edition, until the inventory knows it). */
const char *model_login_mdm_id(enum model_login_mdm m, enum model_os_edition e);
/* True when the request is one Windows Server can't honour: MDM asked for, edition Server. */
bool model_login_mdm_refused(enum model_login_mdm m, enum model_os_edition e);
/* True when the VM's tags (a JSON object text, NULL = none) match one exclusion: same name
 * (case-insensitive, as ARM tag names are) and same value ("*" matches any value). */
bool model_login_excluded(const struct model_login_spec *s, const char *vm_tags_json);
/* Compares "1.0", "1.0.0.1", "2.1": <0, 0, >0 by numeric parts (missing parts are 0). */
int model_version_cmp(const char *a, const char *b);

/* The API's login state of a VM (enabled, pending, failed, unsupported, excluded, notCovered,
 * drifted, disabling, disabled): the reconciler's vm_login state when it has judged the VM
 * under a setting, else model_login_state() over the observed facts. */
const char *model_login_api_state(const char *row_state, const struct model_login_facts *f);

/* ---- local accounts (model_localacct.c) ---------------------------------------------------- */

#define MODEL_LOCAL_ACCOUNTS_MAX 64
#define MODEL_LOCAL_ACCOUNT_NAME_MAX 20 /* Windows: local user names are at most 20 characters */

/* Reads "allowedLocalAccounts" (an array of 0 to 64 local user names) into s; problems go to vs
 * under the field's path. */
void model_localacct_read(const json_t *v, struct model_login_spec *s, struct violations *vs);
/* The allow list as a JSON array (new reference). */
json_t *model_localacct_allowed_json(const struct model_login_spec *s);
/* The local accounts (members named "<computer name>\<user>" or without a domain) of the
 * Administrators and Remote Desktop Users groups in on_vm (model_onvm_parse's output) that are
 * not on s's allow list: {"allowed": [..], "unapproved": [{"account", "name", "groups": [..]}]}.
 * NULL when s has no local-account policy or on_vm is NULL. A new reference. */
json_t *model_localacct_check_json(const json_t *on_vm, const char *computer_name,
                                   const struct model_login_spec *s);

/* ---- preflight (model_login.c) --------------------------------------------------------------- */

enum model_check_result {
    MODEL_CHECK_PASS = 0,
    MODEL_CHECK_WARN,
    MODEL_CHECK_FAIL,
    MODEL_CHECK_UNKNOWN, /* not observed yet: the reconciler has not looked */
};

enum model_tri { MODEL_TRI_UNKNOWN = 0, MODEL_TRI_NO, MODEL_TRI_YES };

/* What the preflight reads; borrowed strings. */
struct model_preflight_facts {
    const struct model_os_verdict *os;
    const char *power_state; /* NULL: unknown */
    const char *vm_name;
    const char *computer_name;
    enum model_tri system_identity;
    size_t n_user_assigned;
    enum model_tri device_duplicate; /* an Entra device has displayName == computer name */
    bool own_device;                 /* the VM was enabled before: the device is its own */
    enum model_tri signin_sp;        /* "Azure Windows VM Sign-In" service principal present */
    bool create_signin_sp;           /* the setting: vmlogind creates it when missing */
    enum model_tri domain_joined;    /* a JsonADDomainExtension is present */
    const char *cloud;               /* AzureCloud | AzureUSGovernment | AzureChinaCloud */
};

#define MODEL_PREFLIGHT_CHECKS 7

struct model_check {
    const char *name; /* osSupported, vmRunning, systemIdentity, vmNameLength,
                         hostnameUnique, signInServicePrincipal, notDomainJoined */
    enum model_check_result result;
    char reason[240];
    char fix[240]; /* "" when nothing to do */
};

struct model_preflight {
    struct model_check checks[MODEL_PREFLIGHT_CHECKS];
    size_t n;
    enum model_check_result overall; /* worst of pass < warn < unknown < fail */
    /* the first failing check (NULL if none) and whether waiting can fix it (VM stopped) */
    const struct model_check *blocking;
    bool wait; /* blocked only because the VM is not running */
};

void model_preflight_run(const struct model_preflight_facts *f, struct model_preflight *out);
const char *model_check_result_str(enum model_check_result r);
/* {"result":..,"checks":[{name,result,reason,fix?}]}: new reference. */
json_t *model_preflight_to_json(const struct model_preflight *p);

/* ---- diagnosis of a failed install (model_diagnose.c) ---------------------------------------- */

/* Stable cause codes: the API shows them, the store keeps them, compliance counts by them. */
#define MODEL_CAUSE_MSI_TENANT "1007"       /* DSREG_E_MSI_TENANTID_UNAVAILABLE */
#define MODEL_CAUSE_DISCOVERY "-2145648607" /* DSREG_AUTOJOIN_DISC_FAILED */
#define MODEL_CAUSE_UNSUPPORTED_OS "51"     /* extension not supported on the OS */
#define MODEL_CAUSE_HOSTNAME_DUPLICATE "hostname_duplicate"
#define MODEL_CAUSE_DOMAIN_JOINED "domain_joined"
#define MODEL_CAUSE_PREFLIGHT_OS "unsupported_os" /* refused before any change */
#define MODEL_CAUSE_TIMEOUT "timeout"
#define MODEL_CAUSE_MDM_SERVER "mdm_unsupported_os" /* MDM asked for on Windows Server */

struct model_diagnosis {
    char cause[48]; /* one of the MODEL_CAUSE_* or the handler's code verbatim */
    char name[64];  /* DSREG_E_MSI_TENANTID_UNAVAILABLE, ... or "" */
    char meaning[200];
    char fix[400];
    bool retryable; /* false: retrying cannot help until the facts change */
};

/* What the failure showed: the async operation's error and the extension's instance-view
 * status (code like "ProvisioningState/failed/1007", and message). Any may be NULL. */
struct model_failure {
    const char *op_error_code;
    const char *op_error_message;
    const char *status_code;
    const char *status_message;
    const char *cloud; /* for the endpoints in the fix; NULL = AzureCloud */
};

void model_diagnose(const struct model_failure *f, struct model_diagnosis *out);
/* The table entry for a stored cause code (unknown codes: passed through, retryable). */
void model_diagnose_cause(const char *cause, const char *cloud, struct model_diagnosis *out);
/* The i-th entry of that table: its cause code and the other codes meaning the same
 * (NULL-terminated); false past the end. What a store builds its SQL lookup from. */
bool model_diagnose_cause_at(size_t i, const char **cause, const char *const **aliases);

#endif
