/* model_diagnose.c: why an AADLoginForWindows install failed and what fixes it, from the
 * async operation's error and the extension's instance-view status (azure-wire.md section 5,
 * the seed's troubleshooting section). One table of known causes; anything else is passed
 * through verbatim and treated as retryable. Pure. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model_login.h"
#include "vmlogind/model_permissions.h"

struct cause_entry {
    const char *cause;
    const char *const *aliases; /* other codes meaning the same */
    const char *name;
    const char *meaning;
    const char *fix; /* %s: cloud-specific endpoints where used */
    bool retryable;
};

static const char *const msi_aliases[] = {"-2145648574", "DSREG_E_MSI_TENANTID_UNAVAILABLE", NULL};
static const char *const disc_aliases[] = {"DSREG_AUTOJOIN_DISC_FAILED", NULL};
static const char *const os_aliases[] = {"50", NULL};
static const char *const host_aliases[] = {"-2145648509", NULL};
static const char *const timeout_aliases[] = {"VMExtensionProvisioningTimeout", NULL};
static const char *const none[] = {NULL};

static const struct cause_entry causes[] = {
    {MODEL_CAUSE_MSI_TENANT, msi_aliases, "DSREG_E_MSI_TENANTID_UNAVAILABLE",
     "the extension could not read the Entra tenant from the Instance Metadata Service",
     "turn on the VM's system-assigned managed identity before installing the extension "
     "(vmlogind does), then check from the VM that "
     "http://169.254.169.254/metadata/identity/info?api-version=2018-02-01 returns the tenant id",
     true},
    {MODEL_CAUSE_DISCOVERY, disc_aliases, "DSREG_AUTOJOIN_DISC_FAILED",
     "the VM could not reach the Entra device registration endpoint",
     "allow outbound TCP 443 from the VM to %s and IMDS (169.254.169.254), and make sure the "
     "VM's DNS resolves them",
     true},
    {MODEL_CAUSE_UNSUPPORTED_OS, os_aliases, "",
     "the extension is not supported on the VM's operating system",
     "Entra login needs Windows Server 2019 Datacenter or later, Windows 10 1809 or later, or "
     "Windows 11 21H2 or later: upgrade the OS or leave the VM out (vmlogind removes the failed "
     "extension)",
     false},
    {MODEL_CAUSE_HOSTNAME_DUPLICATE, host_aliases, "",
     "an Entra device with the VM's hostname already exists, so the join failed",
     "delete the stale Entra device with the VM's hostname (Entra admin center > Devices) or "
     "change the VM's hostname, then enable again",
     false},
    {MODEL_CAUSE_DOMAIN_JOINED, none, "",
     "the VM is joined to an AD domain (JsonADDomainExtension); an Entra join excludes it",
     "leave the AD domain and remove the JsonADDomainExtension first, or keep this VM on AD "
     "sign-in",
     false},
    {MODEL_CAUSE_PREFLIGHT_OS, none, "",
     "the VM's operating system can't run AADLoginForWindows; nothing was changed",
     "Entra login needs Windows Server 2019 Datacenter or later, Windows 10 1809 or later, or "
     "Windows 11 21H2 or later: upgrade the OS or leave the VM out",
     false},
    {MODEL_CAUSE_MDM_SERVER, none, "",
     "MDM enrollment was asked for, but Windows Server VMs don't support MDM enrollment",
     "drop \"mdm\" from this VM's entraLogin settings (Entra login itself works on Windows "
     "Server 2019 and later), or use a Windows 10 or 11 client VM for Intune enrollment",
     false},
    {MODEL_CAUSE_TIMEOUT, timeout_aliases, "", "the extension did not report back in time",
     "check that the VM agent is running and can reach Azure; vmlogind retries with backoff", true},
    /* refusals a person must fix (model_permissions.h): held, never retried on their own */
    {MODEL_CAUSE_AUTHORIZATION, none, "AuthorizationFailed",
     "Azure refused vmlogind's identity the action (403 AuthorizationFailed)",
     "see GET /v1/diagnostics/permissions for the role to assign and where, then enable again",
     false},
    {MODEL_CAUSE_POLICY, none, "RequestDisallowedByPolicy",
     "an Azure Policy assignment denied the request",
     "ask the policy assignment's owner for an exemption, then enable again", false},
    {MODEL_CAUSE_LOCKED, none, "ScopeLocked", "a resource lock blocks the change",
     "remove the lock, then enable again", false},
};
#define NCAUSES (sizeof(causes) / sizeof(causes[0]))

static const char *endpoints(const char *cloud)
{
    if (cloud != NULL && strcasecmp(cloud, "AzureUSGovernment") == 0)
        return "https://enterpriseregistration.microsoftonline.us, "
               "https://login.microsoftonline.us and https://pasff.usgovcloudapi.net";
    if (cloud != NULL && strcasecmp(cloud, "AzureChinaCloud") == 0)
        return "https://enterpriseregistration.partner.microsoftonline.cn, "
               "https://login.chinacloudapi.cn and https://pas.chinacloudapi.cn";
    return "https://enterpriseregistration.windows.net, https://login.microsoftonline.com and "
           "https://pas.windows.net";
}

static const struct cause_entry *find(const char *code)
{
    if (code == NULL || code[0] == '\0')
        return NULL;
    for (size_t i = 0; i < NCAUSES; i++) {
        if (strcasecmp(causes[i].cause, code) == 0)
            return &causes[i];
        for (size_t k = 0; causes[i].aliases[k] != NULL; k++)
            if (strcasecmp(causes[i].aliases[k], code) == 0)
                return &causes[i];
    }
    return NULL;
}

static void fill(const struct cause_entry *c, const char *cloud, struct model_diagnosis *out)
{
    snprintf(out->cause, sizeof(out->cause), "%s", c->cause);
    snprintf(out->name, sizeof(out->name), "%s", c->name);
    snprintf(out->meaning, sizeof(out->meaning), "%s", c->meaning);
    if (strstr(c->fix, "%s") != NULL) {
        const char *p = strstr(c->fix, "%s");
        snprintf(out->fix, sizeof(out->fix), "%.*s%s%s", (int)(p - c->fix), c->fix,
                 endpoints(cloud), p + 2);
    } else {
        snprintf(out->fix, sizeof(out->fix), "%s", c->fix);
    }
    out->retryable = c->retryable;
}

bool model_diagnose_cause_at(size_t i, const char **cause, const char *const **aliases)
{
    if (i >= NCAUSES)
        return false;
    *cause = causes[i].cause;
    *aliases = causes[i].aliases;
    return true;
}

void model_diagnose_cause(const char *cause, const char *cloud, struct model_diagnosis *out)
{
    const struct cause_entry *c = find(cause);

    *out = (struct model_diagnosis){0};
    if (c != NULL) {
        fill(c, cloud, out);
        return;
    }
    snprintf(out->cause, sizeof(out->cause), "%s", cause && cause[0] ? cause : "unknown");
    snprintf(out->meaning, sizeof(out->meaning), "the extension failed with code %s", out->cause);
    snprintf(out->fix, sizeof(out->fix),
             "read the handler message; vmlogind retries with backoff. Logs on the VM: "
             "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.ActiveDirectory.AADLoginForWindows");
    out->retryable = true;
}

/* Copies a signed decimal number that follows marker in s (case-insensitive) into out. */
static bool number_after(const char *s, const char *marker, char *out, size_t cap)
{
    const char *p;
    size_t n = 0;

    if (s == NULL)
        return false;
    for (p = s; *p != '\0'; p++)
        if (strncasecmp(p, marker, strlen(marker)) == 0)
            break;
    if (*p == '\0')
        return false;
    p += strlen(marker);
    while (*p == ' ' || *p == '\'' || *p == ':')
        p++;
    if (*p == '-' && n + 1 < cap)
        out[n++] = *p++;
    while (isdigit((unsigned char)*p) && n + 1 < cap)
        out[n++] = *p++;
    out[n] = '\0';
    return n > 0 && !(n == 1 && out[0] == '-');
}

static bool contains(const char *s, const char *needle)
{
    size_t n = strlen(needle);

    for (const char *p = s; p != NULL && *p != '\0'; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return false;
}

/* The handler's code: the instance-view status suffix, else the terminal error code or exit
 * code named in a message. "" if none. */
static void handler_code(const struct model_failure *f, char *out, size_t cap)
{
    const char *prefix = "ProvisioningState/failed/";

    out[0] = '\0';
    if (f->status_code && strncasecmp(f->status_code, prefix, strlen(prefix)) == 0)
        snprintf(out, cap, "%s", f->status_code + strlen(prefix));
    /* the generic "failed/1" hides the real code: look in the messages then */
    if (out[0] != '\0' && strcmp(out, "1") != 0 && strcmp(out, "0") != 0)
        return;
    if (number_after(f->op_error_message, "terminal error code", out, cap) ||
        number_after(f->status_message, "Exit code", out, cap) ||
        number_after(f->op_error_message, "Exit code", out, cap))
        return;
    if (f->status_code && strncasecmp(f->status_code, prefix, strlen(prefix)) == 0)
        snprintf(out, cap, "%s", f->status_code + strlen(prefix));
}

void model_diagnose(const struct model_failure *f, struct model_diagnosis *out)
{
    char code[48];
    const char *msgs[] = {f->status_message, f->op_error_message};

    /* the named DSREG errors and the hostname duplication win over generic codes */
    for (size_t i = 0; i < 2; i++) {
        if (contains(msgs[i], "-2145648574") || contains(msgs[i], "MSI_TENANTID_UNAVAILABLE")) {
            model_diagnose_cause(MODEL_CAUSE_MSI_TENANT, f->cloud, out);
            return;
        }
        if (contains(msgs[i], "-2145648607") || contains(msgs[i], "AUTOJOIN_DISC_FAILED")) {
            model_diagnose_cause(MODEL_CAUSE_DISCOVERY, f->cloud, out);
            return;
        }
        if (contains(msgs[i], "hostname dup") || contains(msgs[i], "duplicate hostname")) {
            model_diagnose_cause(MODEL_CAUSE_HOSTNAME_DUPLICATE, f->cloud, out);
            return;
        }
    }
    handler_code(f, code, sizeof(code));
    if (code[0] == '\0' && f->op_error_code != NULL)
        snprintf(code, sizeof(code), "%s", f->op_error_code);
    model_diagnose_cause(code, f->cloud, out);
    if (find(code) == NULL) {
        const char *m = f->status_message ? f->status_message : f->op_error_message;
        if (m != NULL)
            snprintf(out->meaning, sizeof(out->meaning), "%s", m);
    }
}
