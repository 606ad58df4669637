/* sim_arm_compute.c: ARM resource-manager basics (subscriptions, tenants, resource groups,
 * api-version rules) and Microsoft.Compute: VM get/list/PATCH identity, instance views,
 * extensions (PUT/GET/DELETE/list as long-running operations), extension image listings, and
 * the AADLoginForWindows outcome rules. Operation timing lives in sim_lro.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

#define AAD_PUBLISHER "Microsoft.Azure.ActiveDirectory"
#define AAD_WINDOWS "AADLoginForWindows"
#define MIN_BUILD 17763
#define DEFAULT_PAGE 1000

struct image {
    const char *publisher;
    const char *type;
    const char *versions[6];
};

static const struct image IMAGES[] = {
    {AAD_PUBLISHER, AAD_WINDOWS, {"1.0.0.0", "1.0.0.1", "2.0.0.0", "2.1.0.0", NULL}},
    {AAD_PUBLISHER, "AADSSHLoginForLinux", {"1.0.0.0", "1.0.1.0", "1.0.2.0", NULL}},
    {AAD_PUBLISHER, "AADLoginForLinux", {"1.0.0.0", NULL}},
    {"Microsoft.Compute", "CustomScriptExtension", {"1.10.0.0", "1.10.12.0", NULL}},
    {"Microsoft.Compute", "BGInfo", {"2.1.0.0", "2.2.0.0", NULL}},
    {"Microsoft.Compute", "JsonADDomainExtension", {"1.3.0.0", NULL}},
    {"Microsoft.Azure.Extensions", "CustomScript", {"2.0.0.0", "2.1.0.0", NULL}},
    {"Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", {"1.0.0.0", "1.22.0.0", NULL}},
};
#define N_IMAGES (sizeof(IMAGES) / sizeof(IMAGES[0]))

/* ---- api-versions ----
 * One table: each resource type azsim serves and every api-version azure-rest-api-specs lists
 * for it (stable and preview). Sources, per row:
 * - Compute: specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/<v>/ and
 *   (from 2025-04-01) .../Microsoft.Compute/Compute/stable/<v>/ComputeRP.json (virtualMachine,
 *   virtualMachineExtension and runCommand paths are in each of them); preview/2016-04-30-preview.
 * - Authorization: specification/authorization/resource-manager/Microsoft.Authorization/
 *   Authorization/readme.md input files: authorization-RoleAssignmentsCalls.json (stable
 *   2015-07-01, 2022-04-01; preview 2018-01-01, 2018-09-01, 2020-03-01, 2020-04-01,
 *   2020-08-01, 2020-10-01) and authorization-RoleDefinitionsCalls.json, which also holds
 *   the permissions paths (stable 2015-07-01, 2022-04-01; preview 2018-01-01, 2022-05-01).
 * - Resources: specification/resources/resource-manager/Microsoft.Resources/subscriptions/
 *   readme.md (subscriptions.json) and .../resources/readme.md (resources.json: resourceGroups).
 * A version outside its row is refused with 400 NoRegisteredProviderFound, worded as ARM words it
 * (seen in service output: /work/shared/reference/azure-wire.md section 2). */
#define V_COMPUTE                                                                                  \
    "2015-06-15", "2016-03-30", "2016-04-30-preview", "2017-03-30", "2017-12-01", "2018-04-01",    \
        "2018-06-01", "2018-10-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-06-01",        \
        "2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01",        \
        "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01",        \
        "2024-07-01", "2024-11-01", "2025-04-01", "2025-11-01", "2026-03-01"
#define V_ROLE_DEFINITIONS "2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview"

static const struct api_row {
    const char *op_prefix; /* route operation names starting with it */
    const char *type;      /* resource type, as ARM names it in the error */
    const char *versions[40];
} API_VERSIONS[] = {
    {"ext.", "virtualMachines/extensions", {V_COMPUTE, NULL}},
    {"runcmd.", "virtualMachines/runCommands", {V_COMPUTE, NULL}},
    {"ra.",
     "roleAssignments",
     {"2015-07-01", "2018-01-01-preview", "2018-09-01-preview", "2020-03-01-preview",
      "2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2022-04-01", NULL}},
    {"rd.", "roleDefinitions", {V_ROLE_DEFINITIONS, NULL}},
    {"perm.", "permissions", {V_ROLE_DEFINITIONS, NULL}},
    {"sub.",
     "subscriptions",
     {"2015-11-01", "2016-06-01", "2018-06-01", "2019-06-01", "2019-11-01", "2020-01-01",
      "2021-01-01", "2022-12-01", NULL}},
    {"tenant.",
     "tenants",
     {"2015-11-01", "2016-06-01", "2018-06-01", "2019-06-01", "2019-11-01", "2020-01-01",
      "2021-01-01", "2022-12-01", NULL}},
    {"rg.", "resourceGroups", {"2015-11-01", "2016-02-01", "2016-07-01", "2016-09-01", "2017-05-10",
                               "2018-02-01", "2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10",
                               "2019-07-01", "2019-08-01", "2019-10-01", "2020-06-01", "2020-08-01",
                               "2020-10-01", "2021-01-01", "2021-04-01", "2022-09-01", "2023-07-01",
                               "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01",
                               NULL}},
    /* last: every other ARM operation azsim serves is Microsoft.Compute */
    {"", "virtualMachines", {V_COMPUTE, NULL}},
};

static const struct api_row *api_row(const char *op)
{
    size_t i = 0;

    while (strncmp(op, API_VERSIONS[i].op_prefix, strlen(API_VERSIONS[i].op_prefix)) != 0)
        i++;
    return &API_VERSIONS[i];
}

/* The location ARM names in NoRegisteredProviderFound: the addressed VM's, a /locations/{l}
 * segment, the resource group's; "global" for the global providers and unaddressed lists. */
static const char *request_location(struct sim_req *r, const struct api_row *row)
{
    struct sim_sub *s;
    json_t *rg;
    char *k;

    if (row->type[0] != 'v')
        return "global";
    if (r->nseg >= 6 && sim_seg_is(r, 4, "locations"))
        return r->segs[5];
    if (r->nseg >= 8 && sim_seg_is(r, 2, "resourceGroups")) {
        struct sim_vm *vm = sim_vm_get(r->segs[1], r->segs[3], r->segs[7]);
        if (vm)
            return vm->location;
    }
    s = r->nseg >= 4 && sim_seg_is(r, 2, "resourceGroups") ? sim_sub_get(r->segs[1]) : NULL;
    if (s == NULL)
        return "global";
    k = sim_lc(r->segs[3]);
    rg = json_object_get(s->rgs, k);
    free(k);
    return rg ? sim_or(json_string_value(json_object_get(rg, "location")), "global") : "global";
}

bool sim_api_version_ok(struct sim_req *r, const char *op)
{
    const char *v = sim_query(r, "api-version");
    const struct api_row *row = api_row(op);
    char list[1024] = "";
    size_t o = 0;

    if (!v || !v[0]) {
        sim_arm_error(r, 400, "MissingApiVersionParameter",
                      "The api-version query parameter (?api-version=) is required for all "
                      "requests.");
        return false;
    }
    for (int i = 0; row->versions[i]; i++) {
        if (strcmp(row->versions[i], v) == 0)
            return true;
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", row->versions[i]);
    }
    sim_arm_error(r, 400, "NoRegisteredProviderFound",
                  "No registered resource provider found for location '%s' and API version '%s' "
                  "for type '%s'. The supported api-versions are '%s'. The supported locations "
                  "are 'westeurope, northeurope, eastus, westus2'.",
                  request_location(r, row), v, row->type, list);
    return false;
}

/* ---- lookups that answer with ARM's 404s ---- */

static struct sim_sub *need_sub(struct sim_req *r, const char *id)
{
    struct sim_sub *s = sim_sub_get(id);

    if (!s)
        sim_arm_error(r, 404, "SubscriptionNotFound", "The subscription '%s' could not be found.",
                      id);
    return s;
}

static bool need_rg(struct sim_req *r, struct sim_sub *s, const char *rg)
{
    char *k = sim_lc(rg);
    bool ok = json_object_get(s->rgs, k) != NULL;

    free(k);
    if (!ok)
        sim_arm_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                      rg);
    return ok;
}

/* segs: subscriptions/{1}/resourceGroups/{3}/providers/Microsoft.Compute/virtualMachines/{7} */
static struct sim_vm *need_vm(struct sim_req *r, bool parent)
{
    struct sim_sub *s = need_sub(r, r->segs[1]);
    struct sim_vm *vm;

    if (!s || !need_rg(r, s, r->segs[3]))
        return NULL;
    vm = sim_vm_get(r->segs[1], r->segs[3], r->segs[7]);
    if (!vm && parent)
        sim_arm_error(r, 404, "ParentResourceNotFound",
                      "Can not perform requested operation on nested resource. Parent resource "
                      "'%s' not found.",
                      r->segs[7]);
    else if (!vm)
        sim_arm_error(r, 404, "ResourceNotFound",
                      "The Resource 'Microsoft.Compute/virtualMachines/%s' under resource group "
                      "'%s' was not found. For more details please go to "
                      "https://aka.ms/ARMResourceNotFoundFix",
                      r->segs[7], r->segs[3]);
    if (vm)
        sim_lro_settle(vm);
    return vm;
}

/* ---- rendering ---- */

static json_t *status_at(const char *code, const char *level, const char *display, const char *msg,
                         bool timed)
{
    char ts[32];
    json_t *s;

    s = json_pack("{s:s, s:s, s:s}", "code", code, "level", level, "displayStatus", display);
    if (msg)
        json_object_set_new(s, "message", json_string(msg));
    if (timed) {
        clock_fmt_rfc3339(clock_now_ms(), ts, sizeof(ts));
        json_object_set_new(s, "time", json_string(ts));
    }
    return s;
}

static json_t *status(const char *code, const char *level, const char *display, const char *msg)
{
    return status_at(code, level, display, msg, true);
}

static const char *ext_state_str(enum sim_ext_state st)
{
    static const char *names[] = {"Creating", "Updating", "Succeeded", "Failed", "Deleting"};
    return names[st];
}

static json_t *ext_instance_view(struct sim_ext *e)
{
    char *full = xasprintf("%s.%s", e->publisher, e->type);
    json_t *st;
    json_t *iv;

    if (e->state == EXT_FAILED) {
        char *code = xasprintf("ProvisioningState/failed/%s", e->fail_code ? e->fail_code : "0");
        st = status(code, "Error", "Provisioning failed", e->fail_message);
        free(code);
    } else if (e->state == EXT_SUCCEEDED) {
        st = status("ProvisioningState/succeeded", "Info", "Provisioning succeeded",
                    "Plugin enabled");
    } else {
        st = status("ProvisioningState/transitioning", "Info", "Transitioning", NULL);
    }
    iv = json_pack("{s:s, s:s, s:s, s:[o]}", "name", e->name, "type", full, "typeHandlerVersion",
                   e->version, "statuses", st);
    free(full);
    return iv;
}

json_t *sim_ext_to_json(struct sim_vm *vm, struct sim_ext *e, bool instance_view)
{
    char *id = xasprintf("%s/extensions/%s", vm->id, e->name);
    json_t *props =
        json_pack("{s:b, s:s, s:s, s:s, s:s}", "autoUpgradeMinorVersion", e->auto_upgrade,
                  "provisioningState", ext_state_str(e->state), "publisher", e->publisher, "type",
                  e->type, "typeHandlerVersion", e->version);
    json_t *j;

    if (e->settings)
        json_object_set(props, "settings", e->settings);
    if (e->force_update_tag)
        json_object_set_new(props, "forceUpdateTag", json_string(e->force_update_tag));
    if (instance_view)
        json_object_set_new(props, "instanceView", ext_instance_view(e));
    j = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "name", e->name, "type",
                  "Microsoft.Compute/virtualMachines/extensions", "location", vm->location,
                  "properties", props);
    free(id);
    return j;
}

static json_t *identity_json(struct sim_vm *vm)
{
    bool ua = json_object_size(vm->user_identities) > 0;
    json_t *id;

    if (!vm->sys_identity && !ua)
        return NULL;
    id = json_pack("{s:s}", "type",
                   vm->sys_identity && ua ? "SystemAssigned, UserAssigned"
                   : vm->sys_identity     ? "SystemAssigned"
                                          : "UserAssigned");
    if (vm->sys_identity) {
        json_object_set_new(id, "principalId", json_string(vm->principal_id));
        json_object_set_new(id, "tenantId", json_string(S.tenant));
    }
    if (ua)
        json_object_set_new(id, "userAssignedIdentities", json_deep_copy(vm->user_identities));
    return id;
}

static const char *power_display(const char *p)
{
    if (sim_ieq(p, "running"))
        return "VM running";
    if (sim_ieq(p, "deallocated"))
        return "VM deallocated";
    if (sim_ieq(p, "stopped"))
        return "VM stopped";
    return p;
}

static struct sim_ext *failed_ext(struct sim_vm *vm, const char *except);

/* The error ARM reports for a failed extension: the terminal handler error or the provisioning
 * error, with the handler's message (service output quoted in azure-wire.md section 6 [O]). */
static const char *ext_error(const struct sim_ext *e, char **message)
{
    const char *msg = e->fail_message ? e->fail_message : "Extension failed";

    if (e->fail_terminal) {
        *message =
            xasprintf("Handler '%s.%s' has reported failure for VM Extension '%s' with "
                      "terminal error code '%s' and error message: '%s'",
                      e->publisher, e->type, e->name, e->fail_code ? e->fail_code : "0", msg);
        return "VMExtensionHandlerNonTransientError";
    }
    *message =
        xasprintf("VM has reported a failure when processing extension '%s' (publisher "
                  "'%s' and type '%s'). Error message: \"%s\"\r\n\r\nMore information on "
                  "troubleshooting is available at https://aka.ms/VMExtensionWindowsTroubleshoot ",
                  e->name, e->publisher, e->type, msg);
    return "VMExtensionProvisioningError";
}

/* The VM's provisioning status: ProvisioningState/<state> in lower case, or, when an
 * extension has failed, ProvisioningState/failed/<error code> with its message
 * (VirtualMachineInstanceView.statuses, InstanceViewStatus in virtualMachine.json 2024-07-01;
 * codes and lower case as in the example VirtualMachine_Get_InstanceView.json). */
static json_t *vm_prov_status(struct sim_vm *vm)
{
    struct sim_ext *f = failed_ext(vm, NULL);
    char *code;
    char *lc;
    json_t *st;

    if (f != NULL) {
        char *msg = NULL;
        const char *err = ext_error(f, &msg);

        code = xasprintf("ProvisioningState/failed/%s", err);
        st = status(code, "Error", "Provisioning failed", msg);
        free(msg);
        free(code);
        return st;
    }
    lc = sim_lc(vm->prov_state);
    code = xasprintf("ProvisioningState/%s", lc);
    if (strcmp(lc, "succeeded") == 0)
        st = status(code, "Info", "Provisioning succeeded", NULL);
    else
        st = status(code, "Info", vm->prov_state, NULL);
    free(lc);
    free(code);
    return st;
}

/* osVersion as the Windows guest agent reports it: "Microsoft Windows NT 10.0.14393.0"
 * (example VirtualMachine_Get_InstanceView.json; also service output in azure-powershell
 * #9470). A scenario may give the bare "10.0.17763.6414". */
static char *os_version_text(const struct sim_vm *vm)
{
    unsigned a = 0, b = 0, c = 0;

    if (sim_ieq(vm->os_type, "Windows") && sscanf(vm->os_version, "%u.%u.%u", &a, &b, &c) == 3)
        return xasprintf("Microsoft Windows NT %u.%u.%u.0", a, b, c);
    return xstrdup(vm->os_version);
}

static json_t *vm_instance_view(struct sim_vm *vm)
{
    bool running = sim_ieq(vm->power, "running");
    char *pcode = xasprintf("PowerState/%s", vm->power);
    /* the power status carries no time (example VirtualMachine_Get_InstanceView.json) */
    json_t *iv =
        json_pack("{s:s, s:[o,o]}", "hyperVGeneration", "V2", "statuses", vm_prov_status(vm),
                  status_at(pcode, "Info", power_display(vm->power), NULL, false));

    free(pcode);
    if (running) {
        json_t *exts = json_array();
        json_t *handlers = json_array();
        char *osv = os_version_text(vm);

        json_object_set_new(iv, "computerName", json_string(vm->computer_name));
        json_object_set_new(iv, "osName", json_string(vm->os_name));
        json_object_set_new(iv, "osVersion", json_string(osv));
        free(osv);
        for (size_t i = 0; i < vm->exts.len; i++) {
            struct sim_ext *e = vm->exts.items[i];
            json_t *eiv = ext_instance_view(e);
            json_array_append_new(handlers,
                                  json_pack("{s:O, s:s, s:O}", "type", json_object_get(eiv, "type"),
                                            "typeHandlerVersion", e->version, "status",
                                            json_array_get(json_object_get(eiv, "statuses"), 0)));
            json_array_append_new(exts, eiv);
        }
        json_object_set_new(
            iv, "vmAgent",
            json_pack("{s:s, s:[o], s:o}", "vmAgentVersion", "2.7.41491.1102", "statuses",
                      status("ProvisioningState/succeeded", "Info", "Ready",
                             "GuestAgent is running and processing the extensions."),
                      "extensionHandlers", handlers));
        json_object_set_new(iv, "extensions", exts);
    }
    return iv;
}

/* imageReference.exactVersion: the platform image version the VM was made from; it differs
 * from version only when version is "latest" (ImageReference in virtualMachine.json
 * 2024-07-01). azsim derives it from the OS build: "17763.6414.241010" for 10.0.17763.6414. */
static char *exact_version(const struct sim_vm *vm)
{
    unsigned a = 0, b = 0, c = 0, d = 0;

    if (!sim_ieq(vm->img_version, "latest"))
        return xstrdup(vm->img_version);
    if (sscanf(vm->os_version, "%u.%u.%u.%u", &a, &b, &c, &d) == 4)
        return xasprintf("%u.%u.241010", c, d);
    return xasprintf("%s.20241010", vm->os_version);
}

static json_t *vm_model(struct sim_vm *vm)
{
    bool win = sim_ieq(vm->os_type, "Windows");
    char *nic = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/"
                          "networkInterfaces/%s-nic",
                          vm->sub, vm->rg, vm->name);
    char *disk = xasprintf("%s_OsDisk_1", vm->name);
    char *exact = exact_version(vm);
    char etag[32];
    char created[32];
    json_t *osprof, *props, *j, *identity;

    snprintf(etag, sizeof(etag), "\"%d\"", vm->etag);
    clock_fmt_rfc3339(vm->created_ms - vm->created_ms % 1000, created, sizeof(created));
    osprof =
        json_pack("{s:s, s:s, s:b, s:b}", "computerName", vm->computer_name, "adminUsername",
                  "azureuser", "allowExtensionOperations", 1, "requireGuestProvisionSignal", 1);
    if (win)
        json_object_set_new(
            osprof, "windowsConfiguration",
            json_pack("{s:b, s:b}", "provisionVMAgent", 1, "enableAutomaticUpdates", 1));
    else
        json_object_set_new(
            osprof, "linuxConfiguration",
            json_pack("{s:b, s:b}", "disablePasswordAuthentication", 1, "provisionVMAgent", 1));
    props = json_pack(
        "{s:s, s:s, s:{s:s}, s:{s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:{s:s}}}, "
        "s:o, s:{s:[{s:s}]}, s:s}",
        "vmId", vm->vm_id, "provisioningState", vm->prov_state, "hardwareProfile", "vmSize",
        "Standard_D2s_v3", "storageProfile", "imageReference", "publisher", vm->img_publisher,
        "offer", vm->img_offer, "sku", vm->img_sku, "version", vm->img_version, "exactVersion",
        exact, "osDisk", "osType", vm->os_type, "name", disk, "createOption", "FromImage",
        "caching", "ReadWrite", "managedDisk", "storageAccountType", "Premium_LRS", "osProfile",
        osprof, "networkProfile", "networkInterfaces", "id", nic, "timeCreated", created);
    j = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:o}", "id", vm->id, "name", vm->name, "type",
                  "Microsoft.Compute/virtualMachines", "location", vm->location, "tags", vm->tags,
                  "etag", etag, "properties", props);
    identity = identity_json(vm);
    if (identity)
        json_object_set_new(j, "identity", identity);
    if (vm->exts.len) {
        json_t *res = json_array();
        for (size_t i = 0; i < vm->exts.len; i++)
            json_array_append_new(res, sim_ext_to_json(vm, vm->exts.items[i], false));
        json_object_set_new(j, "resources", res);
    }
    free(nic);
    free(disk);
    free(exact);
    return j;
}

/* What a VM answer holds depends on the request's form (virtualMachine.json 2024-07-01):
 * - VIEW_MODEL: the model; a plain GET or list, PATCH's answer. No instanceView, no userData.
 * - VIEW_MODEL_IV: the model with properties.instanceView ($expand=instanceView).
 * - VIEW_STATUS: the run-time status only (list with statusOnly=true: "fetch the run time
 *   status of all Virtual Machines"; the model is not in it, as service output in
 *   azure-powershell #19751 shows and azure-wire.md section 3 notes): id, name, type,
 *   location and properties.instanceView.
 * userData is only in a GET with $expand=userData (InstanceViewTypes in virtualMachine.json). */
enum vm_view { VIEW_MODEL, VIEW_MODEL_IV, VIEW_STATUS };

static json_t *vm_render(struct sim_vm *vm, enum vm_view view, bool user_data)
{
    json_t *j;
    const char *ud;

    if (view == VIEW_STATUS)
        return json_pack("{s:s, s:s, s:s, s:s, s:{s:o}}", "id", vm->id, "name", vm->name, "type",
                         "Microsoft.Compute/virtualMachines", "location", vm->location,
                         "properties", "instanceView", vm_instance_view(vm));
    j = vm_model(vm);
    if (view == VIEW_MODEL_IV)
        json_object_set_new(json_object_get(j, "properties"), "instanceView", vm_instance_view(vm));
    ud = json_string_value(json_object_get(vm->facts, "userData"));
    if (user_data && ud)
        json_object_set_new(json_object_get(j, "properties"), "userData", json_string(ud));
    return j;
}

json_t *sim_vm_to_json(struct sim_vm *vm, bool instance_view)
{
    return vm_render(vm, instance_view ? VIEW_MODEL_IV : VIEW_MODEL, false);
}

/* ---- paging ---- */

/* Reads $skiptoken: "o<offset>" is a normal page, "e<offset>" the deliberate empty page. */
static size_t page_offset(struct sim_req *r, bool *empty)
{
    const char *t = sim_query(r, "$skiptoken");
    unsigned char *raw;
    size_t n;
    size_t off = 0;

    *empty = false;
    if (!t)
        t = sim_query(r, "$skipToken");
    if (!t)
        return 0;
    raw = b64url_decode(t, strlen(t), &n);
    if (raw && n > 1 && (raw[0] == 'o' || raw[0] == 'e')) {
        *empty = raw[0] == 'e';
        off = (size_t)strtoull((char *)raw + 1, NULL, 10);
    }
    free(raw);
    return off;
}

/* Appends nextLink (ARM) for the next page at off; keeps api-version and the given extras. */
static void next_link(struct sim_req *r, json_t *body, const char *key, char kind, size_t off,
                      const char *extra_query)
{
    char raw[32];
    char *tok;
    char *url;
    const char *v = sim_query(r, "api-version");

    snprintf(raw, sizeof(raw), "%c%zu", kind, off);
    tok = b64url_encode(raw, strlen(raw));
    if (v)
        url = sim_url(r, "%s?api-version=%s%s&$skiptoken=%s", r->url, v, extra_query, tok);
    else
        url = sim_url(r, "%s?%s%s$skiptoken=%s", r->url, extra_query + (extra_query[0] == '&'),
                      extra_query[0] ? "&" : "", tok);
    json_object_set_new(body, key, json_string(url));
    free(url);
    free(tok);
}

int sim_page_size(void)
{
    return S.page_size > 0 ? S.page_size : DEFAULT_PAGE;
}

/* With a configured small page size, the second page is an empty one that still carries a
 * nextLink (legal in ARM and Graph; clients must not stop on an empty page). */
static void page_links(struct sim_req *r, json_t *body, const char *link_key, const char *extra,
                       bool empty, size_t off, size_t size, size_t total)
{
    if (empty)
        next_link(r, body, link_key, 'o', off, extra);
    else if (off + size < total)
        next_link(r, body, link_key, S.page_size > 0 && off == 0 ? 'e' : 'o', off + size, extra);
}

void sim_page_reply(struct sim_req *r, json_t *items, const char *link_key, const char *extra)
{
    bool empty;
    size_t off = page_offset(r, &empty);
    size_t size = (size_t)sim_page_size();
    size_t total = json_array_size(items);
    json_t *page = json_array();
    json_t *body;

    for (size_t i = off; !empty && i < total && i < off + size; i++)
        json_array_append(page, json_array_get(items, i));
    body = json_pack("{s:o}", "value", page);
    page_links(r, body, link_key, extra, empty, off, size, total);
    json_decref(items);
    sim_reply_json(r, 200, body);
}

void sim_page_vec(struct sim_req *r, const struct sim_vec *v, json_t *(*render)(void *),
                  const char *link_key, const char *extra, size_t size)
{
    bool empty;
    size_t off = page_offset(r, &empty);
    json_t *page = json_array();
    json_t *body;

    if (size == 0)
        size = (size_t)sim_page_size();
    for (size_t i = off; !empty && i < v->len && i < off + size; i++)
        json_array_append_new(page, render(v->items[i]));
    body = json_pack("{s:o}", "value", page);
    page_links(r, body, link_key, extra, empty, off, size, v->len);
    sim_reply_json(r, 200, body);
}

/* The rendered-text cache of sim_page_vec_cached: open addressing on (item, variant), all of
 * it dropped when sim_gen moves. */
struct text_entry {
    const void *item;
    int variant;
    char *text;
    size_t len;
};

static struct {
    uint64_t gen;
    struct text_entry *e;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} text_cache;

static void text_cache_clear(void)
{
    for (size_t i = 0; i < text_cache.cap; i++)
        free(text_cache.e[i].text);
    free(text_cache.e);
    text_cache.e = NULL;
    text_cache.cap = 0;
    text_cache.n = 0;
}

static size_t text_slot(const struct text_entry *e, size_t cap, const void *item, int variant)
{
    uint64_t h = ((uint64_t)(uintptr_t)item ^ (uint64_t)variant) * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (cap - 1);

    while (e[i].item != NULL && (e[i].item != item || e[i].variant != variant))
        i = (i + 1) & (cap - 1);
    return i;
}

static struct text_entry *text_cache_get(const void *item, int variant)
{
    struct text_entry *e;

    if (text_cache.gen != sim_gen) {
        text_cache_clear();
        text_cache.gen = sim_gen;
    }
    if (2 * (text_cache.n + 1) > text_cache.cap) {
        size_t cap = text_cache.cap ? text_cache.cap * 2 : 1024;
        struct text_entry *ne = xcalloc(cap, sizeof(*ne));

        for (size_t i = 0; i < text_cache.cap; i++) {
            if (text_cache.e[i].item != NULL)
                ne[text_slot(ne, cap, text_cache.e[i].item, text_cache.e[i].variant)] =
                    text_cache.e[i];
        }
        free(text_cache.e);
        text_cache.e = ne;
        text_cache.cap = cap;
    }
    e = &text_cache.e[text_slot(text_cache.e, text_cache.cap, item, variant)];
    return e;
}

struct text_buf {
    char *p;
    size_t len;
    size_t cap;
};

static void text_append(struct text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 65536;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sim_page_vec_cached(struct sim_req *r, const struct sim_vec *v, json_t *(*render)(void *),
                         bool (*cacheable)(void *), int variant, const char *link_key,
                         const char *extra, size_t size)
{
    bool empty;
    size_t off = page_offset(r, &empty);
    json_t *links = json_object();
    char *tail;
    struct text_buf b = {0};

    if (size == 0)
        size = (size_t)sim_page_size();
    text_append(&b, "{\"value\":[", 10);
    for (size_t i = off; !empty && i < v->len && i < off + size; i++) {
        void *item = v->items[i];
        bool keep = cacheable == NULL || cacheable(item);
        struct text_entry *e = keep ? text_cache_get(item, variant) : NULL;

        if (i > off)
            text_append(&b, ",", 1);
        if (e != NULL && e->item != NULL) {
            text_append(&b, e->text, e->len);
            continue;
        }
        {
            json_t *j = render(item);
            char *t = json_dumps(j, JSON_COMPACT);
            size_t n = t != NULL ? strlen(t) : 0;

            json_decref(j);
            if (t == NULL)
                t = xstrdup("null"), n = 4;
            text_append(&b, t, n);
            if (e != NULL) {
                *e = (struct text_entry){.item = item, .variant = variant, .text = t, .len = n};
                text_cache.n++;
            } else {
                free(t);
            }
        }
    }
    text_append(&b, "]", 1);
    page_links(r, links, link_key, extra, empty, off, size, v->len);
    tail = json_dumps(links, JSON_COMPACT); /* "{}" or {"nextLink":"..."} */
    json_decref(links);
    if (tail != NULL && strlen(tail) > 2) {
        text_append(&b, ",", 1);
        text_append(&b, tail + 1, strlen(tail + 1));
    } else {
        text_append(&b, "}", 1);
    }
    free(tail);
    sim_reply_text(r, 200, b.p);
}

/* ---- resource manager basics ---- */

static json_t *sub_json(struct sim_sub *s)
{
    char *id = xasprintf("/subscriptions/%s", s->id);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:s}", "id", id, "subscriptionId", s->id,
        "tenantId", S.tenant, "displayName", s->display_name, "state", "Enabled",
        "subscriptionPolicies", "locationPlacementId", "Public_2014-09-01", "quotaId",
        "PayAsYouGo_2014-09-01", "spendingLimit", "Off", "authorizationSource", "RoleBased");
    free(id);
    return j;
}

static void subs_list(struct sim_req *r)
{
    json_t *items = json_array();

    for (size_t i = 0; i < S.subs.len; i++)
        json_array_append_new(items, sub_json(S.subs.items[i]));
    sim_page_reply(r, items, "nextLink", "");
}

static void sub_get(struct sim_req *r)
{
    struct sim_sub *s = need_sub(r, r->segs[1]);

    if (s)
        sim_reply_json(r, 200, sub_json(s));
}

static void tenants_list(struct sim_req *r)
{
    char *id = xasprintf("/tenants/%s", S.tenant);

    sim_reply_json(r, 200,
                   json_pack("{s:[{s:s, s:s, s:s, s:s, s:[s], s:s}]}", "value", "id", id,
                             "tenantId", S.tenant, "tenantCategory", "Home", "displayName",
                             "azsim tenant", "domains", S.tenant_domain, "defaultDomain",
                             S.tenant_domain));
    free(id);
}

static void rg_get(struct sim_req *r)
{
    struct sim_sub *s = need_sub(r, r->segs[1]);
    json_t *rg;
    char *k, *id;

    if (!s || !need_rg(r, s, r->segs[3]))
        return;
    k = sim_lc(r->segs[3]);
    rg = json_object_get(s->rgs, k);
    id = xasprintf("/subscriptions/%s/resourceGroups/%s", s->id,
                   json_string_value(json_object_get(rg, "name")));
    sim_reply_json(
        r, 200,
        json_pack("{s:s, s:O, s:s, s:O, s:{s:s}}", "id", id, "name", json_object_get(rg, "name"),
                  "type", "Microsoft.Resources/resourceGroups", "location",
                  json_object_get(rg, "location"), "properties", "provisioningState", "Succeeded"));
    free(id);
    free(k);
}

/* ---- VMs ---- */

static bool query_is(struct sim_req *r, const char *name, const char *value)
{
    const char *v = sim_query(r, name);

    return v != NULL && sim_ieq(v, value);
}

/* The view a list asks for: statusOnly=true the run-time status, $expand=instanceView the
 * model with its instance view, else the model (VirtualMachines_ListAll / _List parameters in
 * virtualMachine.json 2024-07-01). */
static enum vm_view list_view(struct sim_req *r)
{
    if (query_is(r, "statusOnly", "true"))
        return VIEW_STATUS;
    return query_is(r, "$expand", "instanceView") ? VIEW_MODEL_IV : VIEW_MODEL;
}

static __thread enum vm_view list_as;

static json_t *render_vm(void *p)
{
    sim_lro_settle(p);
    return vm_render(p, list_as, false);
}

/* A VM with an operation running changes with time alone: rendered fresh, never kept. */
static bool vm_cacheable(void *p)
{
    struct sim_vm *vm = p;

    sim_lro_settle(vm);
    return vm->busy == NULL;
}

static void vm_list(struct sim_req *r)
{
    struct sim_sub *s = need_sub(r, r->segs[1]);
    bool by_rg = sim_seg_is(r, 2, "resourceGroups");
    bool by_loc = sim_seg_is(r, 4, "locations");
    enum vm_view view = list_view(r);
    struct sim_vec match = {0};
    const struct sim_vec *v;
    const char *extra = view == VIEW_STATUS     ? "&statusOnly=true"
                        : view == VIEW_MODEL_IV ? "&$expand=instanceView"
                                                : "";

    if (!s || (by_rg && !need_rg(r, s, r->segs[3])))
        return;
    v = &s->vms;
    if (by_rg || by_loc) {
        for (size_t i = 0; i < s->vms.len; i++) {
            struct sim_vm *vm = s->vms.items[i];
            if ((by_rg && !sim_ieq(vm->rg, r->segs[3])) ||
                (by_loc && !sim_ieq(vm->location, r->segs[5])))
                continue;
            sim_vec_push(&match, vm);
        }
        v = &match;
    }
    list_as = view;
    sim_page_vec_cached(r, v, render_vm, vm_cacheable, (int)view, "nextLink", extra, 0);
    sim_vec_cleanup(&match);
}

/* GET: $expand=instanceView adds the instance view, $expand=userData the user data
 * (InstanceViewTypes in virtualMachine.json 2024-07-01). */
static void vm_get(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, false);

    if (vm)
        sim_reply_json(
            r, 200,
            vm_render(vm, query_is(r, "$expand", "instanceView") ? VIEW_MODEL_IV : VIEW_MODEL,
                      query_is(r, "$expand", "userData")));
}

static void vm_instance_view_get(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, false);

    if (vm)
        sim_reply_json(r, 200, vm_instance_view(vm));
}

static struct sim_ext *failed_ext(struct sim_vm *vm, const char *except)
{
    for (size_t i = 0; i < vm->exts.len; i++) {
        struct sim_ext *e = vm->exts.items[i];
        if (e->state == EXT_FAILED && !(except && sim_ieq(e->name, except)))
            return e;
    }
    return NULL;
}

/* The ARM rules shared by every mutating Compute call on a VM. */
static bool vm_mutable(struct sim_req *r, struct sim_vm *vm, const char *opname, const char *ext,
                       bool needs_running)
{
    struct sim_ext *f;

    if (vm->busy) {
        sim_arm_error(r, 409, "OperationNotAllowed",
                      "Operation '%s' is not allowed on VM '%s' since another operation is in "
                      "progress.",
                      opname, vm->name);
        return false;
    }
    f = failed_ext(vm, ext);
    if (f) {
        sim_arm_error(r, 409, "OperationNotAllowed",
                      "Operation '%s' is not allowed on VM '%s' since VM has extension '%s' in "
                      "failed state.",
                      opname, vm->name, f->name);
        return false;
    }
    if (needs_running && !sim_ieq(vm->power, "running")) {
        sim_arm_error(r, 409, "OperationNotAllowed",
                      "Cannot modify extensions in the VM when the VM is not running.");
        return false;
    }
    return true;
}

static void ensure_mi_sp(struct sim_vm *vm)
{
    char app[UUID_STR_LEN];

    if (sim_principal_any(vm->principal_id))
        return;
    uuid_v5("6ba7b812-9dad-11d1-80b4-00c04fd430c8", vm->principal_id, 36, app);
    sim_principal_new_sp(vm->principal_id, app, vm->name, "ManagedIdentity");
}

static bool apply_identity(struct sim_req *r, struct sim_vm *vm, const json_t *id)
{
    const char *type = json_string_value(json_object_get(id, "type"));
    const json_t *ua = json_object_get(id, "userAssignedIdentities");
    bool sys, user;
    const char *k;
    json_t *v;

    if (!type) {
        sim_arm_error(r, 400, "InvalidParameter", "Required parameter 'identity.type' is missing.");
        return false;
    }
    sys = sim_ieq(type, "SystemAssigned") || sim_ieq(type, "SystemAssigned, UserAssigned") ||
          sim_ieq(type, "SystemAssigned,UserAssigned");
    user = sim_ieq(type, "UserAssigned") || strstr(type, "UserAssigned") != NULL;
    if (!sys && !user && !sim_ieq(type, "None")) {
        sim_arm_error(r, 400, "InvalidParameter",
                      "The value '%s' of parameter 'identity.type' is not valid.", type);
        return false;
    }
    if (user && json_object_size(vm->user_identities) == 0 && json_object_size(ua) == 0) {
        sim_arm_error(r, 400, "InvalidParameter",
                      "Parameter 'identity.userAssignedIdentities' is required when type is '%s'.",
                      type);
        return false;
    }
    if (!user)
        json_object_clear(vm->user_identities);
    json_object_foreach((json_t *)ua, k, v)
    {
        char pg[UUID_STR_LEN], cg[UUID_STR_LEN];
        if (json_is_null(v)) {
            json_object_del(vm->user_identities, k);
            continue;
        }
        if (json_object_get(vm->user_identities, k))
            continue;
        uuid_v5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", k, strlen(k), pg);
        uuid_v5("6ba7b812-9dad-11d1-80b4-00c04fd430c8", k, strlen(k), cg);
        json_object_set_new(vm->user_identities, k,
                            json_pack("{s:s, s:s}", "principalId", pg, "clientId", cg));
    }
    if (sys && !vm->sys_identity) {
        if (!vm->principal_id[0])
            uuid_v4(vm->principal_id);
        vm->sys_identity = true;
        ensure_mi_sp(vm);
    } else if (!sys && vm->sys_identity) {
        struct sim_principal *p = sim_principal_any(vm->principal_id);
        vm->sys_identity = false;
        if (p)
            sim_principal_remove(p, false);
        vm->principal_id[0] = '\0';
    }
    return true;
}

static void vm_patch(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, false);
    json_t *body;
    const json_t *id, *tags;
    const char *im = sim_header(r, "If-Match");
    char etag[32];
    struct sim_op *op;

    if (!vm)
        return;
    body = sim_body_json(r);
    if (!json_is_object(body)) {
        sim_arm_error(r, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be deserialized.");
        goto out;
    }
    snprintf(etag, sizeof(etag), "\"%d\"", vm->etag);
    /* VirtualMachines_Update takes an optional If-Match (the VM's etag, or "*"); a stale one is
     * 412 PreconditionFailed and nothing changes. Source: azure-rest-api-specs
     * specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01/
     * virtualMachine.json (parameters IfMatch/IfNoneMatch, VirtualMachine.etag);
     * shared/reference/azure-wire.md section 3. */
    if (im && strcmp(im, "*") != 0 && strcmp(im, etag) != 0) {
        sim_arm_error(r, 412, "PreconditionFailed",
                      "The condition specified using HTTP conditional header(s) is not met.");
        goto out;
    }
    if (!vm_mutable(r, vm, "updateVM", NULL, false))
        goto out;
    id = json_object_get(body, "identity");
    if (id && !apply_identity(r, vm, id))
        goto out;
    tags = json_object_get(body, "tags");
    if (json_is_object(tags)) {
        json_decref(vm->tags);
        vm->tags = json_deep_copy(tags);
    }
    vm->etag++;
    op = sim_op_start(r, OP_IDENTITY, vm, NULL, sim_lro_duration("vmUpdate"));
    sim_reply_json(r, 200, sim_vm_to_json(vm, false));
    sim_lro_headers(r, op);
    sim_lro_settle(vm);
out:
    json_decref(body);
}

/* ---- extensions ---- */

static void ext_list(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, false);
    bool iv = sim_query(r, "$expand") && sim_ieq(sim_query(r, "$expand"), "instanceView");
    json_t *value;

    if (!vm)
        return;
    value = json_array();
    for (size_t i = 0; i < vm->exts.len; i++)
        json_array_append_new(value, sim_ext_to_json(vm, vm->exts.items[i], iv));
    sim_reply_json(r, 200, json_pack("{s:o}", "value", value));
}

static void ext_get(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, false);
    struct sim_ext *e;
    bool iv = sim_query(r, "$expand") && sim_ieq(sim_query(r, "$expand"), "instanceView");

    if (!vm)
        return;
    e = sim_vm_ext_get(vm, r->segs[9]);
    if (!e) {
        sim_arm_error(r, 404, "NotFound", "The entity was not found in this Azure location.");
        return;
    }
    sim_reply_json(r, 200, sim_ext_to_json(vm, e, iv));
}

static const struct image *image_find(const char *pub, const char *type)
{
    for (size_t i = 0; i < N_IMAGES; i++) {
        if (sim_ieq(IMAGES[i].publisher, pub) && sim_ieq(IMAGES[i].type, type))
            return &IMAGES[i];
    }
    return NULL;
}

static bool version_known(const struct image *img, const char *v)
{
    size_t n = strlen(v);

    for (int i = 0; img->versions[i]; i++) {
        if (strncmp(img->versions[i], v, n) == 0 &&
            (img->versions[i][n] == '\0' || img->versions[i][n] == '.'))
            return true;
    }
    return false;
}

/* Decides how an AADLoginForWindows install ends on this VM (seed's failure codes). */
static void aad_outcome(struct sim_vm *vm, struct sim_op *op, struct sim_ext *e)
{
    const json_t *forced = json_object_get(vm->facts, "extensionFailure");
    const char *handler = AAD_PUBLISHER "." AAD_WINDOWS;
    char *msg = NULL;
    const char *code = NULL;
    bool terminal = false;
    int build = sim_os_build(vm->os_version);

    if (json_is_object(forced)) {
        code = json_string_value(json_object_get(forced, "code"));
        msg = xstrdup(json_string_value(json_object_get(forced, "message"))
                          ? json_string_value(json_object_get(forced, "message"))
                          : "Injected failure");
        terminal = json_is_true(json_object_get(forced, "terminal"));
        if (!code)
            code = "1";
    } else if (!sim_ieq(vm->os_type, "Windows") || (build > 0 && build < MIN_BUILD)) {
        code = "51";
        msg = xstrdup("Exit code: 51. This extension is not supported on the VM's operating "
                      "system.");
    } else if (!vm->sys_identity ||
               json_is_true(json_object_get(vm->facts, "imdsIdentityUnavailable"))) {
        code = "1007";
        terminal = true;
        msg = xasprintf("Install failed for plugin (name: %s, version 1.0.0.1) with exception "
                        "Command C:\\Packages\\Plugins\\%s\\1.0.0.1\\AADLoginForWindowsHandler.exe "
                        "of %s has exited with Exit code: -2145648574 "
                        "(DSREG_E_MSI_TENANTID_UNAVAILABLE)",
                        handler, handler, handler);
    } else if (json_is_true(json_object_get(vm->facts, "registrationEndpointUnreachable"))) {
        code = "-2145648607";
        msg = xstrdup("Exit code: -2145648607 (DSREG_AUTOJOIN_DISC_FAILED). The extension can't "
                      "reach the https://enterpriseregistration.windows.net endpoint.");
    } else {
        char own[UUID_STR_LEN];
        sim_vm_device_id(vm, own);
        for (size_t i = 0; i < S.principals.len && !code; i++) {
            struct sim_principal *p = S.principals.items[i];
            /* another machine's device with this hostname; the VM's own (a re-install) is not */
            if (p->kind == PR_DEVICE && !p->soft_deleted &&
                sim_ieq(p->display_name, vm->computer_name) &&
                !(p->device_id != NULL && sim_ieq(p->device_id, own))) {
                code = "-2145648509";
                msg = xasprintf("Exit code: -2145648509. The device failed to join Microsoft "
                                "Entra ID: a device object with displayName '%s' already exists "
                                "(hostname duplication).",
                                vm->computer_name);
            }
        }
    }
    if (!code)
        return;
    free(e->fail_code);
    free(e->fail_message);
    e->fail_code = xstrdup(code);
    e->fail_message = msg;
    e->fail_terminal = terminal;
    free(op->err_code);
    free(op->err_message);
    op->err_code = xstrdup(ext_error(e, &op->err_message));
}

static bool ext_body(struct sim_req *r, json_t *body, const char **pub, const char **type,
                     const char **ver, int *auto_up, json_t **settings, const char **fut)
{
    json_t *props = json_object_get(body, "properties");

    *pub = json_string_value(json_object_get(props, "publisher"));
    *type = json_string_value(json_object_get(props, "type"));
    *ver = json_string_value(json_object_get(props, "typeHandlerVersion"));
    *auto_up = json_is_true(json_object_get(props, "autoUpgradeMinorVersion"));
    *settings = json_object_get(props, "settings");
    *fut = json_string_value(json_object_get(props, "forceUpdateTag"));
    if (!*pub || !*type || !*ver) {
        sim_arm_error(r, 400, "InvalidParameter",
                      "Required parameters 'publisher', 'type' and 'typeHandlerVersion' of "
                      "resource 'Microsoft.Compute/virtualMachines/extensions' are missing.");
        return false;
    }
    return true;
}

static void ext_put(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, true);
    json_t *body = NULL;
    const char *pub, *type, *ver, *fut;
    int auto_up;
    json_t *settings;
    const struct image *img;
    struct sim_ext *e;
    bool created;
    struct sim_op *op;

    if (!vm)
        return;
    body = sim_body_json(r);
    if (!json_is_object(body)) {
        sim_arm_error(r, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be deserialized.");
        goto out;
    }
    if (!ext_body(r, body, &pub, &type, &ver, &auto_up, &settings, &fut))
        goto out;
    img = image_find(pub, type);
    if (!img) {
        sim_arm_error(r, 404, "ArtifactNotFound",
                      "The VM extension with publisher '%s' and type '%s' could not be found in "
                      "location '%s'.",
                      pub, type, vm->location);
        goto out;
    }
    if (!version_known(img, ver)) {
        sim_arm_error(r, 404, "ArtifactVersionNotFound",
                      "The VM extension with publisher '%s', type '%s' and version '%s' could not "
                      "be found in location '%s'.",
                      pub, type, ver, vm->location);
        goto out;
    }
    for (size_t i = 0; i < vm->exts.len && sim_ieq(vm->os_type, "Windows"); i++) {
        struct sim_ext *o = vm->exts.items[i];
        if (!sim_ieq(o->name, r->segs[9]) && sim_ieq(o->publisher, pub) && sim_ieq(o->type, type)) {
            sim_arm_error(r, 400, "BadRequest",
                          "Multiple VMExtensions per handler not supported for OS type "
                          "'Windows'. VMExtension '%s' with handler '%s.%s' already added or "
                          "specified in input.",
                          r->segs[9], img->publisher, img->type);
            goto out;
        }
    }
    if (!vm_mutable(r, vm, "putExtension", r->segs[9], true))
        goto out;
    e = sim_vm_ext_get(vm, r->segs[9]);
    created = e == NULL;
    if (created) {
        e = xcalloc(1, sizeof(*e));
        e->name = xstrdup(r->segs[9]);
        sim_vec_push(&vm->exts, e);
    }
    free(e->publisher);
    free(e->type);
    free(e->version);
    free(e->force_update_tag);
    json_decref(e->settings);
    e->publisher = xstrdup(img->publisher);
    e->type = xstrdup(img->type);
    e->version = xstrdup(ver);
    e->auto_upgrade = auto_up;
    /* properties.settings: the extension's public settings, kept as received and answered on
     * GET (Virtual Machine Extensions - Create Or Update, VirtualMachineExtensionProperties
     * .settings, api-version 2024-07-01,
     * https://learn.microsoft.com/rest/api/compute/virtual-machine-extensions/create-or-update).
     * For AADLoginForWindows, {"mdmId": "0000000a-0000-0000-c000-000000000000"} asks for Intune
     * MDM autoenrollment at join (https://learn.microsoft.com/entra/identity/devices/
     * howto-vm-sign-in-azure-ad-windows, "Using Intune"); tests read it back from the VM. */
    e->settings = json_incref(settings);
    e->force_update_tag = fut ? xstrdup(fut) : NULL;
    e->state = created ? EXT_CREATING : EXT_UPDATING;
    op = sim_op_start(r, OP_EXT_PUT, vm, e->name, sim_lro_duration("extension"));
    if (sim_ieq(img->type, AAD_WINDOWS))
        aad_outcome(vm, op, e);
    sim_reply_json(r, created ? 201 : 200, sim_ext_to_json(vm, e, false));
    sim_lro_headers(r, op);
    sim_lro_settle(vm);
out:
    json_decref(body);
}

static void ext_delete(struct sim_req *r)
{
    struct sim_vm *vm = need_vm(r, false);
    struct sim_ext *e;
    struct sim_op *op;

    if (!vm)
        return;
    e = sim_vm_ext_get(vm, r->segs[9]);
    if (!e) {
        sim_reply_json(r, 204, NULL);
        return;
    }
    if (!vm_mutable(r, vm, "deleteExtension", e->name, true))
        return;
    e->state = EXT_DELETING;
    op = sim_op_start(r, OP_EXT_DELETE, vm, e->name, sim_lro_duration("extensionDelete"));
    sim_reply_json(r, 202, NULL);
    sim_lro_headers(r, op);
    sim_lro_settle(vm);
}

/* ---- extension images ---- */

static json_t *image_entry(struct sim_req *r, const char *name, const char *path_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *image_entry(struct sim_req *r, const char *name, const char *path_fmt, ...)
{
    va_list ap;
    char *tail;
    char *id;
    json_t *j;

    va_start(ap, path_fmt);
    if (vasprintf(&tail, path_fmt, ap) < 0)
        abort();
    va_end(ap);
    id = xasprintf("/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s%s", r->segs[1],
                   r->segs[5], tail);
    j = json_pack("{s:s, s:s, s:s}", "name", name, "location", r->segs[5], "id", id);
    free(id);
    free(tail);
    return j;
}

static void images(struct sim_req *r)
{
    json_t *arr = json_array();

    if (!need_sub(r, r->segs[1])) {
        json_decref(arr);
        return;
    }
    if (r->nseg == 7) { /* .../publishers */
        for (size_t i = 0; i < N_IMAGES; i++) {
            if (i == 0 || strcmp(IMAGES[i].publisher, IMAGES[i - 1].publisher) != 0)
                json_array_append_new(arr, image_entry(r, IMAGES[i].publisher, "/Publishers/%s",
                                                       IMAGES[i].publisher));
        }
    } else if (r->nseg == 11) { /* .../types */
        for (size_t i = 0; i < N_IMAGES; i++) {
            if (sim_ieq(IMAGES[i].publisher, r->segs[7]))
                json_array_append_new(
                    arr, image_entry(r, IMAGES[i].type,
                                     "/Publishers/%s/ArtifactTypes/VMExtension/Types/%s",
                                     IMAGES[i].publisher, IMAGES[i].type));
        }
    } else { /* .../types/{t}/versions[/{v}] */
        const struct image *img = image_find(r->segs[7], r->segs[11]);
        for (int i = 0; img && img->versions[i]; i++) {
            if (r->nseg == 14 && strcmp(img->versions[i], r->segs[13]) != 0)
                continue;
            json_array_append_new(
                arr, image_entry(r, img->versions[i],
                                 "/Publishers/%s/ArtifactTypes/VMExtension/Types/%s/Versions/%s",
                                 img->publisher, img->type, img->versions[i]));
        }
        if (r->nseg == 14) {
            json_t *one = json_incref(json_array_get(arr, 0));
            json_decref(arr);
            if (!one) {
                sim_arm_error(r, 404, "ArtifactVersionNotFound",
                              "The VM extension version '%s' could not be found.", r->segs[13]);
                return;
            }
            json_object_set_new(one, "properties",
                                json_pack("{s:s, s:b}", "operatingSystem", "Windows",
                                          "supportsMultipleExtensions", 0));
            sim_reply_json(r, 200, one);
            return;
        }
    }
    sim_reply_json(r, 200, arr);
}

/* ---- routing ---- */

/* subscriptions/{s}/providers/Microsoft.Compute/...: lists, LRO status and images. */
static bool compute_provider(struct sim_req *r, struct sim_route *rt, int tk)
{
    bool get = strcmp(r->method, "GET") == 0;
    int n = r->nseg;

    if (get && n == 5 && sim_seg_is(r, 4, "virtualMachines"))
        return sim_arm_route(rt, vm_list, "vm.list", tk, r->segs[1]);
    if (n >= 6 && sim_seg_is(r, 4, "locations")) {
        if (get && n == 7 && sim_seg_is(r, 6, "virtualMachines"))
            return sim_arm_route(rt, vm_list, "vm.list", tk, r->segs[1]);
        if (get && n == 8 && sim_seg_is(r, 6, "operations"))
            return sim_arm_route(rt, sim_query(r, "monitor") ? sim_lro_result : sim_lro_status,
                                 "op.get", tk, r->segs[1]);
        if (get && sim_seg_is(r, 6, "publishers") &&
            (n == 7 ||
             (n == 11 && sim_seg_is(r, 8, "artifacttypes") && sim_seg_is(r, 9, "vmextension") &&
              sim_seg_is(r, 10, "types")) ||
             ((n == 13 || n == 14) && sim_seg_is(r, 8, "artifacttypes") &&
              sim_seg_is(r, 12, "versions"))))
            return sim_arm_route(rt, images, "image.list", tk, r->segs[1]);
    }
    return false;
}

static bool compute_under_sub(struct sim_req *r, struct sim_route *rt, int tk)
{
    const char *m = r->method;
    bool get = strcmp(m, "GET") == 0;
    int n = r->nseg;

    if (sim_seg_is(r, 2, "providers") && sim_seg_is(r, 3, "Microsoft.Compute"))
        return compute_provider(r, rt, tk);
    if (!sim_seg_is(r, 2, "resourceGroups") || n < 4)
        return false;
    if (n == 4 && get)
        return sim_arm_route(rt, rg_get, "rg.get", tk, r->segs[1]);
    if (n < 7 || !sim_seg_is(r, 4, "providers") || !sim_seg_is(r, 5, "Microsoft.Compute") ||
        !sim_seg_is(r, 6, "virtualMachines"))
        return false;
    if (n == 7 && get)
        return sim_arm_route(rt, vm_list, "vm.list", tk, r->segs[1]);
    if (n == 8 && get)
        return sim_arm_route(rt, vm_get, "vm.get", tk, r->segs[1]);
    if (n == 8 && strcmp(m, "PATCH") == 0)
        return sim_arm_route(rt, vm_patch, "vm.patch", tk, r->segs[1]);
    if (n == 9 && get && sim_seg_is(r, 8, "instanceView"))
        return sim_arm_route(rt, vm_instance_view_get, "vm.instanceView", tk, r->segs[1]);
    if (n == 9 && strcmp(m, "POST") == 0 && sim_seg_is(r, 8, "runCommand"))
        return sim_arm_route(rt, sim_runcmd_post, "runcmd.post", tk, r->segs[1]);
    if (!sim_seg_is(r, 8, "extensions"))
        return false;
    if (n == 9 && get)
        return sim_arm_route(rt, ext_list, "ext.list", tk, r->segs[1]);
    if (n == 10 && get)
        return sim_arm_route(rt, ext_get, "ext.get", tk, r->segs[1]);
    if (n == 10 && strcmp(m, "PUT") == 0)
        return sim_arm_route(rt, ext_put, "ext.put", tk, r->segs[1]);
    if (n == 10 && strcmp(m, "DELETE") == 0)
        return sim_arm_route(rt, ext_delete, "ext.delete", tk, r->segs[1]);
    return false;
}

bool sim_compute_route(struct sim_req *r, struct sim_route *rt)
{
    int tk = strcmp(r->method, "GET") == 0 ? 0 : strcmp(r->method, "DELETE") == 0 ? 2 : 1;
    bool get = strcmp(r->method, "GET") == 0;

    if (r->nseg == 1 && get && sim_seg_is(r, 0, "subscriptions"))
        return sim_arm_route(rt, subs_list, "sub.list", tk, NULL);
    if (r->nseg == 1 && get && sim_seg_is(r, 0, "tenants"))
        return sim_arm_route(rt, tenants_list, "tenant.list", tk, NULL);
    if (r->nseg < 2 || !sim_seg_is(r, 0, "subscriptions"))
        return false;
    if (r->nseg == 2 && get)
        return sim_arm_route(rt, sub_get, "sub.get", tk, r->segs[1]);
    return compute_under_sub(r, rt, tk);
}
