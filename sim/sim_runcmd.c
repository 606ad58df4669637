/* sim_runcmd.c: ARM Run Command on a simulated VM (POST .../virtualMachines/{vm}/runCommand,
 * VirtualMachines_RunCommand in specification/compute/resource-manager/Microsoft.Compute/
 * ComputeRP/stable/2024-07-01/virtualMachine.json: body RunCommandInput {commandId (required),
 * script[], parameters[]}; 202 Accepted, a long-running operation whose final state comes
 * through Azure-AsyncOperation, with the RunCommandResult {value: InstanceViewStatus[]} as its
 * output). azsim runs no script: it answers vmlogind's read-only on-VM check script with the
 * output the VM's scenario facts imply (dsregcmd /status, endpoints, IMDS, local groups), so
 * the failure modes are facts: an extension that did not succeed (not joined),
 * "domainJoined", "noPrt", "registrationEndpointUnreachable" / "blockedEndpoints",
 * "imdsIdentityUnavailable" or no system identity, "localAdministrators",
 * "remoteDesktopUsers". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/buf.h"
#include "vmlogind/xalloc.h"

/* Appends to the script output; the buffer's cap (64 KiB) is far above what is written. */
static void out_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct buf *b, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    enum err rc;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rc = buf_printf(b, "%s", line);
    (void)rc;
}

static bool fact(const struct sim_vm *vm, const char *k)
{
    return json_is_true(json_object_get(vm->facts, k));
}

static bool blocked(const struct sim_vm *vm, const char *host)
{
    size_t i;
    json_t *h;

    if (strcmp(host, "enterpriseregistration.windows.net") == 0 &&
        fact(vm, "registrationEndpointUnreachable"))
        return true;
    json_array_foreach(json_object_get(vm->facts, "blockedEndpoints"), i, h)
    {
        if (json_is_string(h) && sim_ieq(json_string_value(h), host))
            return true;
    }
    return false;
}

static bool joined(const struct sim_vm *vm)
{
    for (size_t i = 0; i < vm->exts.len; i++) {
        const struct sim_ext *e = vm->exts.items[i];
        if (sim_ieq(e->type, "AADLoginForWindows") && e->state == EXT_SUCCEEDED)
            return !fact(vm, "domainJoined");
    }
    return false;
}

static const char *device_id(const struct sim_vm *vm)
{
    for (size_t i = 0; i < S.principals.len; i++) {
        const struct sim_principal *p = S.principals.items[i];
        if (p->kind == PR_DEVICE && !p->soft_deleted && p->device_id != NULL &&
            sim_ieq(p->display_name, vm->computer_name))
            return p->device_id;
    }
    return vm->vm_id;
}

static void members(struct buf *b, const char *title, const struct sim_vm *vm, const char *fact_key,
                    const char *first)
{
    size_t i;
    json_t *m;

    out_printf(b, "=== %s ===\r\n", title);
    if (first != NULL)
        out_printf(b, "%s\r\n", first);
    json_array_foreach(json_object_get(vm->facts, fact_key), i, m)
    {
        if (json_is_string(m))
            out_printf(b, "%s\r\n", json_string_value(m));
    }
}

/* The script's stdout, in the format model_onvm.h documents, dsregcmd /status as Windows
 * prints it (https://learn.microsoft.com/entra/identity/devices/troubleshoot-device-dsregcmd). */
static char *script_output(const struct sim_vm *vm)
{
    static const char *const hosts[] = {"login.microsoftonline.com",
                                        "enterpriseregistration.windows.net",
                                        "device.login.microsoftonline.com", "pas.windows.net"};
    static const char *const box =
        "+----------------------------------------------------------------------+\r\n";
    bool j = joined(vm), dj = fact(vm, "domainJoined");
    const char *cn = vm->computer_name ? vm->computer_name : vm->name;
    char admin[300];
    struct buf b;
    char *out;

    buf_init(&b, 64 * 1024);
    out_printf(&b, "=== dsregcmd ===\r\n%s| Device State%58s|\r\n%s\r\n", box, "", box);
    out_printf(&b,
               "             AzureAdJoined : %s\r\n          EnterpriseJoined : NO\r\n"
               "              DomainJoined : %s\r\n               Device Name : %s\r\n\r\n",
               j ? "YES" : "NO", dj ? "YES" : "NO", cn);
    if (j)
        out_printf(&b,
                   "%s| Device Details%56s|\r\n%s\r\n                  DeviceId : %s\r\n"
                   "          DeviceAuthStatus : SUCCESS\r\n\r\n%s| Tenant Details%56s|\r\n"
                   "%s\r\n                  TenantId : %s\r\n\r\n",
                   box, "", box, device_id(vm), box, "", box, S.tenant);
    out_printf(&b, "%s| SSO State%61s|\r\n%s\r\n                AzureAdPrt : %s\r\n\r\n", box, "",
               box, j && !fact(vm, "noPrt") ? "YES" : "NO");
    out_printf(&b, "=== endpoints ===\r\n");
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        if (blocked(vm, hosts[i]))
            out_printf(&b, "https://%s/ 0 Could not resolve host: %s\r\n", hosts[i], hosts[i]);
        else /* the seed: enterpriseregistration and pas answer 404, which is expected */
            out_printf(&b, "https://%s/ %d\r\n", hosts[i], i % 2 ? 404 : 200);
    }
    if (vm->sys_identity && !fact(vm, "imdsIdentityUnavailable"))
        out_printf(&b, "=== imds ===\r\n{\"tenantId\":\"%s\"}\r\n", S.tenant);
    else
        out_printf(&b, "=== imds ===\r\n{\"error\":\"invalid_request\",\"error_description\":"
                       "\"Identity not found\"}\r\n");
    snprintf(admin, sizeof(admin), "%s\\azureuser", cn);
    members(&b, "Administrators", vm, "localAdministrators", admin);
    members(&b, "Remote Desktop Users", vm, "remoteDesktopUsers", NULL);
    out = xstrdup(b.data ? b.data : "");
    buf_cleanup(&b);
    return out;
}

json_t *sim_runcmd_result(const struct sim_op *op)
{
    return json_pack("{s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "value", "code",
                     "ComponentStatus/StdOut/succeeded", "level", "Info", "displayStatus",
                     "Provisioning succeeded", "message", op->output ? op->output : "", "code",
                     "ComponentStatus/StdErr/succeeded", "level", "Info", "displayStatus",
                     "Provisioning succeeded", "message", "");
}

void sim_runcmd_post(struct sim_req *r)
{
    struct sim_vm *vm = sim_vm_get(r->segs[1], r->segs[3], r->segs[7]);
    json_t *body = sim_body_json(r);
    const char *cmd = json_string_value(json_object_get(body, "commandId"));
    struct sim_op *op;

    if (vm == NULL) {
        sim_arm_error(r, 404, "ResourceNotFound",
                      "The Resource 'Microsoft.Compute/virtualMachines/%s' under resource group "
                      "'%s' was not found.",
                      r->segs[7], r->segs[3]);
        goto out;
    }
    sim_lro_settle(vm);
    if (cmd == NULL) {
        sim_arm_error(r, 400, "InvalidParameter",
                      "Required parameter 'commandId' is missing (null).");
        goto out;
    }
    /* Run Command needs the VM agent, so a running VM
     * (https://learn.microsoft.com/azure/virtual-machines/windows/run-command#restrictions). */
    if (!sim_ieq(vm->power, "running")) {
        sim_arm_error(r, 409, "Conflict",
                      "Operation 'RunCommand' is not allowed on VM '%s' since the VM is not "
                      "running.",
                      vm->name);
        goto out;
    }
    if (vm->busy != NULL) {
        sim_arm_error(r, 409, "Conflict",
                      "Operation 'RunCommand' is not allowed since the VM '%s' is busy with "
                      "another operation.",
                      vm->name);
        goto out;
    }
    op = sim_op_start(r, OP_RUN_COMMAND, vm, NULL, sim_lro_duration("runCommand"));
    op->output = script_output(vm);
    sim_lro_headers(r, op);
    sim_reply_json(r, 202, NULL);
out:
    json_decref(body);
}
