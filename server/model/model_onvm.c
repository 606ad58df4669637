/* model_onvm.c: parses the on-VM check script's output (model_onvm.h). dsregcmd /status prints
 * "<padding>Name : Value" lines under boxed section titles; only the name/value lines matter
 * here, matched by name whatever the padding. An endpoint counts as reachable when it answered
 * any HTTP status: the seed says 404 from enterpriseregistration and pas is expected. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model_onvm.h"

#define LINE_MAX_BYTES 1024

enum section { SEC_NONE, SEC_DSREG, SEC_ENDPOINTS, SEC_IMDS, SEC_ADMINS, SEC_RDU };

/* Copies [s, e) trimmed of blanks and CR into out (cut at cap). */
static void trim_copy(const char *s, const char *e, char *out, size_t cap)
{
    size_t n;

    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    n = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static enum section section_of(const char *line)
{
    static const struct {
        const char *name;
        enum section s;
    } t[] = {{"dsregcmd", SEC_DSREG},
             {"endpoints", SEC_ENDPOINTS},
             {"imds", SEC_IMDS},
             {"Administrators", SEC_ADMINS},
             {"Remote Desktop Users", SEC_RDU}};
    char name[128];
    size_t n = strlen(line);

    if (n < 8 || strncmp(line, "=== ", 4) != 0 || strcmp(line + n - 4, " ===") != 0)
        return (enum section) - 1;
    trim_copy(line + 4, line + n - 4, name, sizeof(name));
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcasecmp(name, t[i].name) == 0)
            return t[i].s;
    return SEC_NONE;
}

static json_t *yes_no(const char *v)
{
    if (strcasecmp(v, "YES") == 0)
        return json_true();
    if (strcasecmp(v, "NO") == 0)
        return json_false();
    return json_null();
}

static void dsreg_line(json_t *ds, const char *line)
{
    static const struct {
        const char *name, *key;
        bool flag;
    } t[] = {{"AzureAdJoined", "azureAdJoined", true},
             {"DomainJoined", "domainJoined", true},
             {"EnterpriseJoined", "enterpriseJoined", true},
             {"AzureAdPrt", "azureAdPrt", true},
             {"DeviceId", "deviceId", false},
             {"TenantId", "tenantId", false},
             {"Device Name", "deviceName", false}};
    const char *colon = strchr(line, ':');
    char name[64], value[256];

    if (colon == NULL)
        return;
    trim_copy(line, colon, name, sizeof(name));
    trim_copy(colon + 1, line + strlen(line), value, sizeof(value));
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(name, t[i].name) != 0)
            continue;
        json_object_set_new(ds, t[i].key, t[i].flag ? yes_no(value) : json_string(value));
        return;
    }
}

static void endpoint_line(json_t *eps, const char *line)
{
    char url[512], err[256] = "";
    const char *sp = strchr(line, ' ');
    long status;
    char *end;
    json_t *o;

    if (sp == NULL || strncmp(line, "http", 4) != 0)
        return;
    trim_copy(line, sp, url, sizeof(url));
    status = strtol(sp + 1, &end, 10);
    if (end == sp + 1 || status < 0 || status > 999)
        return;
    trim_copy(end, line + strlen(line), err, sizeof(err));
    o = json_pack("{s:s, s:i, s:b}", "url", url, "status", (int)status, "reachable", status > 0);
    if (o == NULL)
        return; /* not UTF-8 */
    if (err[0] != '\0')
        json_object_set_new(o, "error", json_string(err));
    json_array_append_new(eps, o);
}

json_t *model_onvm_parse(const char *text, size_t len)
{
    json_t *ds = json_pack("{s:n, s:n, s:n, s:n, s:n, s:n, s:n}", "azureAdJoined", "domainJoined",
                           "enterpriseJoined", "azureAdPrt", "deviceId", "tenantId", "deviceName");
    json_t *out = json_pack("{s:o, s:[], s:n, s:[], s:[]}", "dsregcmd", ds, "endpoints",
                            "imdsTenantId", "administrators", "remoteDesktopUsers");
    enum section sec = SEC_NONE;
    char line[LINE_MAX_BYTES];
    size_t pos = 0;

    if (len > MODEL_ONVM_MAX_BYTES)
        len = MODEL_ONVM_MAX_BYTES;
    while (text != NULL && pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        const char *e = nl ? nl : text + len;
        enum section next;
        pos = (size_t)(e - text) + (nl ? 1 : 0);
        if (memchr(s, '\0', (size_t)(e - s)) != NULL)
            continue; /* not text */
        trim_copy(s, e, line, sizeof(line));
        next = section_of(line);
        if ((int)next >= 0) {
            sec = next;
            continue;
        }
        if (line[0] == '\0')
            continue;
        switch (sec) {
        case SEC_DSREG:
            dsreg_line(ds, line);
            break;
        case SEC_ENDPOINTS:
            endpoint_line(json_object_get(out, "endpoints"), line);
            break;
        case SEC_IMDS: {
            json_t *j = json_loads(line, 0, NULL);
            const char *tid = json_string_value(json_object_get(j, "tenantId"));
            if (tid != NULL)
                json_object_set_new(out, "imdsTenantId", json_string(tid));
            json_decref(j);
            break;
        }
        case SEC_ADMINS:
        case SEC_RDU:
            json_array_append_new(
                json_object_get(out, sec == SEC_ADMINS ? "administrators" : "remoteDesktopUsers"),
                json_string(line));
            break;
        default:
            break;
        }
    }
    return out;
}

/* The seed's network requirements per cloud (outbound TCP 443), plus device.login, which its
 * troubleshooting section also probes. The tenant-specific login URL is added on the VM from
 * the IMDS tenant. */
static const struct {
    const char *cloud;
    const char *endpoints[5];
} cloud_endpoints[] = {
    {"AzureUSGovernment",
     {"https://login.microsoftonline.us/", "https://enterpriseregistration.microsoftonline.us/",
      "https://pasff.usgovcloudapi.net/", NULL}},
    {"AzureChinaCloud",
     {"https://login.chinacloudapi.cn/",
      "https://enterpriseregistration.partner.microsoftonline.cn/", "https://pas.chinacloudapi.cn/",
      NULL}},
    {"AzureCloud",
     {"https://login.microsoftonline.com/", "https://enterpriseregistration.windows.net/",
      "https://device.login.microsoftonline.com/", "https://pas.windows.net/", NULL}},
};

json_t *model_onvm_script(const char *cloud)
{
    size_t k = sizeof(cloud_endpoints) / sizeof(cloud_endpoints[0]) - 1;
    json_t *lines = json_array();
    char line[512];

    for (size_t i = 0; cloud != NULL && i < k; i++)
        if (strcasecmp(cloud, cloud_endpoints[i].cloud) == 0)
            k = i;
    json_array_append_new(lines, json_string("$ErrorActionPreference = 'Continue'"));
    json_array_append_new(lines, json_string("Write-Output '=== dsregcmd ==='"));
    json_array_append_new(lines, json_string("dsregcmd /status"));
    json_array_append_new(lines, json_string("Write-Output '=== endpoints ==='"));
    for (size_t i = 0; cloud_endpoints[k].endpoints[i] != NULL; i++) {
        snprintf(line, sizeof(line),
                 "$c = curl.exe -s -o NUL -m 10 -w '%%{http_code}' '%s'; Write-Output ('%s ' + "
                 "[int]$c)",
                 cloud_endpoints[k].endpoints[i], cloud_endpoints[k].endpoints[i]);
        json_array_append_new(lines, json_string(line));
    }
    json_array_append_new(lines, json_string("Write-Output '=== imds ==='"));
    json_array_append_new(
        lines,
        json_string("curl.exe -s -H Metadata:true "
                    "'http://169.254.169.254/metadata/identity/info?api-version=2018-02-01'"));
    json_array_append_new(lines, json_string("Write-Output ''"));
    json_array_append_new(lines, json_string("Write-Output '=== Administrators ==='"));
    json_array_append_new(
        lines,
        json_string("Get-LocalGroupMember -Group Administrators | ForEach-Object { $_.Name }"));
    json_array_append_new(lines, json_string("Write-Output '=== Remote Desktop Users ==='"));
    json_array_append_new(lines, json_string("Get-LocalGroupMember -Group 'Remote Desktop Users' | "
                                             "ForEach-Object { $_.Name }"));
    return json_pack("{s:s, s:o}", "commandId", "RunPowerShellScript", "script", lines);
}
