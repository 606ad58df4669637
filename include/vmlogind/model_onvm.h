/* model_onvm.h: the output of vmlogind's read-only on-VM check script (run through ARM Run
 * Command), parsed without I/O. The script prints sections, each opened by a line
 * "=== <name> ===": "dsregcmd" (the text of dsregcmd /status as Windows prints it), "endpoints"
 * (one "<url> <http status> [error]" line per endpoint the seed lists; status 0 when it could
 * not connect), "imds" (the JSON of /metadata/identity/info), "Administrators" and "Remote
 * Desktop Users" (one member a line). Unknown sections and lines are ignored; nothing in the
 * output is trusted beyond its text. */
#ifndef VMLOGIND_MODEL_ONVM_H
#define VMLOGIND_MODEL_ONVM_H

#include <jansson.h>
#include <stddef.h>

/* Longest output read (Run Command itself returns at most the last 4096 bytes of each
 * stream; a larger input is cut there). */
#define MODEL_ONVM_MAX_BYTES (64u * 1024u)

/* {"dsregcmd": {"azureAdJoined", "domainJoined", "enterpriseJoined", "azureAdPrt": true|false
 * |null, "deviceId", "tenantId", "deviceName": string|null}, "endpoints": [{url, status,
 * reachable, error?}], "imdsTenantId": string|null, "administrators": [..],
 * "remoteDesktopUsers": [..]}. A new reference; never NULL. */
json_t *model_onvm_parse(const char *text, size_t len);

/* The RunCommandInput of the read-only check script for a VM in cloud (AzureCloud,
 * AzureUSGovernment, AzureChinaCloud; anything else: AzureCloud's endpoints): {"commandId":
 * "RunPowerShellScript", "script": [lines]}. It probes the endpoints the seed lists for that
 * cloud. A new reference. */
json_t *model_onvm_script(const char *cloud);

#endif
