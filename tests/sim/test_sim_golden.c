/* test_sim_golden.c: azsim against Azure's own examples. For each official example in
 * tests/sim/golden/ (x-ms-examples files copied from Azure/azure-rest-api-specs; INDEX.md there
 * names their sources) it sends the request behind the example to azsim (the demo tenant's
 * names in the path, the example's api-version) and compares the answer with the example's:
 * the status, the headers the example shows, and the body's field paths with their JSON types.
 * Fields azsim returns that the example lacks must be documented in the spec (EXTRAS, each with
 * the definition it comes from); fields the example has that azsim leaves out must be listed as
 * not modelled (ABSENT). Nothing else may differ. Two copied examples are not sent: azsim
 * serves neither VirtualMachineExtensions_Update (PATCH) nor VirtualMachines_CreateOrUpdate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "harness.h"
#include "vmlogind/xalloc.h"

#define SUB1 "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG1 "/subscriptions/" SUB1 "/resourceGroups/rg-entra"
/* a running VM with an extension */
#define DEV_VM                                                                                     \
    "/subscriptions/7a1e9c44-0000-4000-8000-00000000cccc/resourceGroups/rg-dev/providers/"         \
    "Microsoft.Compute/virtualMachines/dev-ws2022-01"
#define VMS RG1 "/providers/Microsoft.Compute/virtualMachines/"
#define RAS "/providers/Microsoft.Authorization/roleAssignments/"
#define ALICE "6b7c8d9e-0000-4000-8000-00000000d001"
#define ADMIN_ROLE "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define USER_ROLE "fb879df8-f326-4884-b1cf-06f3ad86be52"
#define RA1 "e0000000-0000-4000-8000-000000000001"
#define RA2 "e0000000-0000-4000-8000-000000000002"
#define RA3 "e0000000-0000-4000-8000-000000000003"
#define RA4 "e0000000-0000-4000-8000-000000000004"
#define RA_BODY(role)                                                                              \
    "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" SUB1                                 \
    "/providers/Microsoft.Authorization/roleDefinitions/" role "\",\"principalId\":\"" ALICE       \
    "\",\"principalType\":\"User\"}}"
#define AAD_BODY                                                                                   \
    "{\"location\":\"westeurope\",\"properties\":{\"publisher\":"                                  \
    "\"Microsoft.Azure.ActiveDirectory\",\"type\":\"AADLoginForWindows\","                         \
    "\"typeHandlerVersion\":\"1.0\",\"autoUpgradeMinorVersion\":true}}"

/* One example and the request behind it, in the order they run (state carries over: the
 * extension and the assignments made first are read and deleted after). */
struct golden {
    const char *file;
    const char *method;
    const char *path;  /* on azsim; the example's api-version is appended */
    const char *query; /* more query ("&..."), or "" */
    const char *body;  /* NULL: none */
    const char *status;
};

static const struct golden GOLDEN[] = {
    {"compute-2025-04-01_VirtualMachines_Get.json", "GET", DEV_VM, "&$expand=userData", NULL,
     "200"},
    {"compute-2024-07-01_VirtualMachines_InstanceView.json", "GET", DEV_VM "/instanceView", "",
     NULL, "200"},
    {"compute-2024-07-01_VirtualMachines_ListAll_BySubscription_MinimumSet.json", "GET",
     "/subscriptions/" SUB1 "/providers/Microsoft.Compute/virtualMachines", "", NULL, "200"},
    {"compute-2024-07-01_VirtualMachines_List_ByResourceGroup_MinimumSet.json", "GET",
     RG1 "/providers/Microsoft.Compute/virtualMachines", "", NULL, "200"},
    {"compute-2024-07-01_VirtualMachines_ListByLocation.json", "GET",
     "/subscriptions/" SUB1 "/providers/Microsoft.Compute/locations/westeurope/virtualMachines", "",
     NULL, "200"},
    {"compute-2025-04-01_VirtualMachines_Update_PATCH_Example.json", "PATCH", VMS "ws2022-app-01",
     "", "{\"identity\":{\"type\":\"SystemAssigned\"}}", "200"},
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MinimumSet.json", "PUT",
     VMS "ws2022-app-01/extensions/AADLoginForWindows", "", AAD_BODY, "201"},
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MaximumSet.json", "PUT",
     VMS "ws2022-app-01/extensions/AADLoginForWindows", "", AAD_BODY, "200"},
    {"compute-2024-07-01_VirtualMachineExtensions_Get_MinimumSet.json", "GET",
     VMS "ws2022-app-01/extensions/AADLoginForWindows", "", NULL, "200"},
    {"compute-2024-07-01_VirtualMachineExtensions_Get_MaximumSet.json", "GET",
     VMS "ws2022-app-01/extensions/AADLoginForWindows", "&$expand=instanceView", NULL, "200"},
    {"compute-2024-07-01_VirtualMachineExtensions_List_MaximumSet.json", "GET",
     VMS "ws2022-app-01/extensions", "&$expand=instanceView", NULL, "200"},
    {"compute-2024-07-01_VirtualMachineExtensions_Delete_MaximumSet.json", "DELETE",
     VMS "ws2022-app-01/extensions/AADLoginForWindows", "", NULL, "202"},
    {"authz-2022-04-01_RoleAssignments_CreateForSubscription.json", "PUT",
     "/subscriptions/" SUB1 RAS RA1, "", RA_BODY(USER_ROLE), "201"},
    {"authz-2022-04-01_RoleAssignments_CreateForResourceGroup.json", "PUT", RG1 RAS RA2, "",
     RA_BODY(USER_ROLE), "201"},
    {"authz-2022-04-01_RoleAssignments_CreateForResource.json", "PUT", VMS "win-vm-01" RAS RA3, "",
     RA_BODY(USER_ROLE), "201"},
    {"authz-2022-04-01_RoleAssignments_CreateById.json", "PUT", "/subscriptions/" SUB1 RAS RA4, "",
     RA_BODY(ADMIN_ROLE), "201"},
    {"authz-2022-04-01_RoleAssignments_Get.json", "GET", "/subscriptions/" SUB1 RAS RA1, "", NULL,
     "200"},
    {"authz-2022-04-01_RoleAssignments_GetById.json", "GET", "/subscriptions/" SUB1 RAS RA4, "",
     NULL, "200"},
    {"authz-2022-04-01_RoleAssignments_ListForScope.json", "GET",
     "/subscriptions/" SUB1 "/providers/Microsoft.Authorization/roleAssignments", "", NULL, "200"},
    {"authz-2022-04-01_RoleAssignments_ListForResourceGroup.json", "GET",
     RG1 "/providers/Microsoft.Authorization/roleAssignments", "", NULL, "200"},
    {"authz-2022-04-01_RoleDefinitions_GetByName.json", "GET",
     "/subscriptions/" SUB1 "/providers/Microsoft.Authorization/roleDefinitions/" USER_ROLE, "",
     NULL, "200"},
    {"authz-2022-04-01_RoleAssignments_Delete.json", "DELETE", "/subscriptions/" SUB1 RAS RA1, "",
     NULL, "200"},
    {"authz-2022-04-01_RoleAssignments_DeleteById.json", "DELETE", "/subscriptions/" SUB1 RAS RA4,
     "", NULL, "200"},
    {"authz-2022-04-01_RoleAssignments_Delete.json", "DELETE", "/subscriptions/" SUB1 RAS RA1, "",
     NULL, "204"},
};

/* Fields azsim returns beyond an example, each documented in the spec (definition named). A
 * pattern matches a path, or a path under it. */
static const struct {
    const char *file; /* NULL: every example */
    const char *path;
} EXTRAS[] = {
    /* VirtualMachine (virtualMachine.json 2024-07-01): identity (VirtualMachineIdentity),
     * resources (the extensions), etag */
    {NULL, "identity"},
    {NULL, "resources"},
    {NULL, "value[].identity"},
    {NULL, "value[].resources"},
    {NULL, "value[].etag"},
    /* Resource.tags, VirtualMachine.etag (the PATCH example omits them) */
    {"compute-2025-04-01_VirtualMachines_Update_PATCH_Example.json", "tags"},
    {"compute-2025-04-01_VirtualMachines_Update_PATCH_Example.json", "etag"},
    /* OSProfile.allowExtensionOperations */
    {NULL, "properties.osProfile.allowExtensionOperations"},
    {NULL, "value[].properties.osProfile.allowExtensionOperations"},
    /* VirtualMachineProperties: timeCreated (2021-11-01 on) */
    {NULL, "properties.timeCreated"},
    {NULL, "value[].properties.timeCreated"},
    /* OSProfile.requireGuestProvisionSignal, ImageReference.exactVersion, ManagedDiskParameters */
    {NULL, "properties.osProfile.requireGuestProvisionSignal"},
    {NULL, "value[].properties.osProfile.requireGuestProvisionSignal"},
    {NULL, "value[].properties.osProfile.adminUsername"},
    {NULL, "properties.storageProfile.imageReference.exactVersion"},
    {NULL, "value[].properties.storageProfile.imageReference.exactVersion"},
    {NULL, "value[].properties.storageProfile.osDisk.managedDisk"},
    {NULL, "value[].properties.storageProfile.osDisk.caching"},
    {NULL, "value[].properties.osProfile.linuxConfiguration"},
    /* the minimal list examples show only id and location of a VirtualMachine */
    {"compute-2024-07-01_VirtualMachines_ListAll_BySubscription_MinimumSet.json", "value[]"},
    {"compute-2024-07-01_VirtualMachines_List_ByResourceGroup_MinimumSet.json", "value[]"},
    /* VirtualMachineInstanceView: vmAgent.extensionHandlers[].status.message, statuses' time
     * and message (InstanceViewStatus) */
    {NULL, "vmAgent.extensionHandlers[].status.message"},
    {NULL, "vmAgent.extensionHandlers[].status.time"},
    {NULL, "extensions[].statuses[].time"},
    /* VirtualMachineExtension: location, settings, forceUpdateTag, id and type */
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MinimumSet.json", "id"},
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MinimumSet.json", "name"},
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MinimumSet.json", "type"},
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MinimumSet.json", "properties"},
    {"compute-2024-07-01_VirtualMachineExtensions_Get_MinimumSet.json", "id"},
    {"compute-2024-07-01_VirtualMachineExtensions_Get_MinimumSet.json", "name"},
    {"compute-2024-07-01_VirtualMachineExtensions_Get_MinimumSet.json", "type"},
    {"compute-2024-07-01_VirtualMachineExtensions_Get_MinimumSet.json", "properties"},
    {NULL, "properties.instanceView.statuses[].time"},
    {NULL, "value[].properties.instanceView.statuses[].time"},
    /* RoleAssignmentProperties (authorization-RoleAssignmentsCalls.json 2022-04-01): the
     * examples omit what the service returns (azure-examples/INDEX.md caveats) */
    {NULL, "properties.condition"},
    {NULL, "properties.conditionVersion"},
    {NULL, "properties.createdOn"},
    {NULL, "properties.updatedOn"},
    {NULL, "properties.createdBy"},
    {NULL, "properties.updatedBy"},
    {NULL, "properties.delegatedManagedIdentityResourceId"},
    {NULL, "properties.description"},
    {NULL, "value[].properties.condition"},
    {NULL, "value[].properties.conditionVersion"},
    {NULL, "value[].properties.createdOn"},
    {NULL, "value[].properties.updatedOn"},
    {NULL, "value[].properties.createdBy"},
    {NULL, "value[].properties.updatedBy"},
    {NULL, "value[].properties.delegatedManagedIdentityResourceId"},
    {NULL, "value[].properties.description"},
    /* RoleDefinition: the example shows properties only partly */
    {"authz-2022-04-01_RoleDefinitions_GetByName.json", "properties.permissions[].condition"},
    {"authz-2022-04-01_RoleDefinitions_GetByName.json", "properties.createdOn"},
    {"authz-2022-04-01_RoleDefinitions_GetByName.json", "properties.updatedOn"},
    {"authz-2022-04-01_RoleDefinitions_GetByName.json", "properties.createdBy"},
    {"authz-2022-04-01_RoleDefinitions_GetByName.json", "properties.updatedBy"},
};

/* Fields of an example azsim does not model (optional in the spec, or filler of the generated
 * MaximumSet examples); a pattern matches a path or a path under it. */
static const struct {
    const char *file; /* NULL: every example */
    const char *path;
} ABSENT[] = {
    /* VirtualMachineProperties azsim does not model */
    {NULL, "properties.availabilitySet"},
    {NULL, "value[].properties.availabilitySet"},
    {NULL, "properties.proximityPlacementGroup"},
    {NULL, "properties.applicationProfile"},
    {NULL, "properties.extensionsTimeBudget"},
    {NULL, "managedBy"},
    {NULL, "properties.storageProfile.dataDisks"},
    {NULL, "value[].properties.storageProfile.dataDisks"},
    {NULL, "properties.storageProfile.osDisk.managedDisk.id"},
    {NULL, "properties.storageProfile.osDisk.diskSizeGB"},
    {NULL, "value[].properties.storageProfile.osDisk.diskSizeGB"},
    {NULL, "value[].properties.storageProfile.osDisk.vhd"},
    {NULL, "properties.diagnosticsProfile"},
    {NULL, "properties.osProfile.secrets"},
    {NULL, "value[].properties.osProfile.secrets"},
    {NULL, "properties.networkProfile.networkInterfaces[].properties"},
    /* win-vm-01 holds no user data: Azure then omits it */
    {NULL, "properties.userData"},
    /* the embedded extension's optional settings and tags */
    {NULL, "resources[].tags"},
    {NULL, "resources[].properties.settings"},
    /* VirtualMachineInstanceView parts azsim does not model */
    {NULL, "platformUpdateDomain"},
    {NULL, "platformFaultDomain"},
    {NULL, "disks"},
    {NULL, "bootDiagnostics"},
    {NULL, "patchStatus"},
    {NULL, "isVMInStandbyPool"},
    /* VirtualMachineExtensionProperties that are optional and not set by azsim's callers;
     * protectedSettings is never returned by the service (it is write-only) */
    {NULL, "tags"},
    {NULL, "value[].tags"},
    {NULL, "properties.suppressFailures"},
    {NULL, "properties.settings"},
    {NULL, "properties.forceUpdateTag"},
    {NULL, "properties.enableAutomaticUpgrade"},
    {NULL, "properties.protectedSettings"},
    {NULL, "properties.protectedSettingsFromKeyVault"},
    {NULL, "properties.provisionAfterExtensions"},
    {NULL, "value[].properties.suppressFailures"},
    {NULL, "value[].properties.settings"},
    {NULL, "value[].properties.forceUpdateTag"},
    {NULL, "value[].properties.enableAutomaticUpgrade"},
    {NULL, "value[].properties.protectedSettings"},
    {NULL, "value[].properties.protectedSettingsFromKeyVault"},
    {NULL, "value[].properties.provisionAfterExtensions"},
    /* an extension's instance view comes with $expand=instanceView, not in a PUT's answer */
    {"compute-2024-07-01_VirtualMachineExtensions_CreateOrUpdate_MaximumSet.json",
     "properties.instanceView"},
    /* substatuses: AADLoginForWindows reports none on success */
    {NULL, "properties.instanceView.substatuses"},
    {NULL, "value[].properties.instanceView.substatuses"},
};

static struct sim SIM;
static char TOKEN[4096];

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Maps (tags, userAssignedIdentities) have keys of the caller's choosing: one key "*". */
static bool is_map(const char *path)
{
    size_t n = strlen(path);

    return (n >= 4 && strcmp(path + n - 4, "tags") == 0) ||
           (n >= 22 && strcmp(path + n - 22, "userAssignedIdentities") == 0);
}

/* Every path of v into out as {path: kind}; array elements as "[]", map keys as "*". A path
 * that is null somewhere keeps the kind it has elsewhere. */
static void paths(const json_t *v, const char *path, json_t *out)
{
    const char *k;
    json_t *c;
    size_t i;
    json_t *had = json_object_get(out, path);

    if (path[0] != '\0' && (had == NULL || strcmp(json_string_value(had), "null") == 0))
        json_object_set_new(out, path, json_string(json_kind(v)));
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c)
        {
            char *p = xasprintf("%s%s%s", path, path[0] ? "." : "", is_map(path) ? "*" : k);
            paths(c, p, out);
            free(p);
        }
    } else if (json_is_array(v)) {
        char *p = xasprintf("%s[]", path);
        json_array_foreach(v, i, c) paths(c, p, out);
        free(p);
    }
}

static bool under(const char *path, const char *pattern)
{
    size_t n = strlen(pattern);

    return strncmp(path, pattern, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '[');
}

static bool extra_ok(const char *file, const char *path)
{
    for (size_t i = 0; i < sizeof(EXTRAS) / sizeof(EXTRAS[0]); i++) {
        if ((EXTRAS[i].file == NULL || strcmp(EXTRAS[i].file, file) == 0) &&
            under(path, EXTRAS[i].path))
            return true;
    }
    return false;
}

static bool absent_ok(const char *file, const char *path)
{
    for (size_t i = 0; i < sizeof(ABSENT) / sizeof(ABSENT[0]); i++) {
        if ((ABSENT[i].file == NULL || strcmp(ABSENT[i].file, file) == 0) &&
            under(path, ABSENT[i].path))
            return true;
    }
    return false;
}

static json_t *load_example(const char *file)
{
    char path[1024];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/tests/sim/golden/%s", SOURCE_DIR, file);
    j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

static int compare(const struct golden *g, const json_t *want, const json_t *got)
{
    json_t *w = json_object();
    json_t *o = json_object();
    const char *k;
    json_t *v;
    int bad = 0;

    if (want != NULL)
        paths(want, "", w);
    if (got != NULL)
        paths(got, "", o);
    json_object_foreach(o, k, v)
    {
        const char *wk = json_string_value(json_object_get(w, k));
        const char *ok = json_string_value(v);

        if (wk == NULL && !extra_ok(g->file, k)) {
            print_error("%s: azsim returns %s (%s), not in the example nor listed\n", g->file, k,
                        ok);
            bad++;
        } else if (wk != NULL && strcmp(wk, "null") != 0 && strcmp(ok, "null") != 0 &&
                   strcmp(wk, ok) != 0) {
            print_error("%s: %s is %s in azsim, %s in the example\n", g->file, k, ok, wk);
            bad++;
        }
    }
    json_object_foreach(w, k, v)
    {
        if (json_object_get(o, k) == NULL && !absent_ok(g->file, k)) {
            print_error("%s: the example has %s, azsim does not\n", g->file, k);
            bad++;
        }
    }
    json_decref(w);
    json_decref(o);
    return bad;
}

static int run_one(const struct golden *g)
{
    json_t *ex = load_example(g->file);
    const char *v =
        json_string_value(json_object_get(json_object_get(ex, "parameters"), "api-version"));
    json_t *want = json_object_get(json_object_get(ex, "responses"), g->status);
    char auth[4200];
    const char *hdrs[] = {auth, NULL};
    char *u = xasprintf("%s%s?api-version=%s%s", SIM.p.url, g->path, v, g->query);
    struct resp r;
    const char *h;
    json_t *hv;
    int bad = 0;

    assert_non_null(v);
    assert_non_null(want);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", TOKEN);
    if (h_http(g->method, u, g->body, hdrs, &r) != strtol(g->status, NULL, 10)) {
        print_error("%s: %s %s answered %ld, the example %s: %.300s\n", g->file, g->method, u,
                    r.status, g->status, r.body ? r.body : "");
        bad++;
    }
    json_object_foreach(json_object_get(want, "headers"), h, hv)
    {
        char got[1024];

        (void)hv;
        if (!h_resp_header(&r, h, got, sizeof(got))) {
            print_error("%s: header %s missing\n", g->file, h);
            bad++;
        }
    }
    if (bad == 0)
        bad += compare(g, json_object_get(want, "body"), r.json);
    h_resp_cleanup(&r);
    free(u);
    json_decref(ex);
    return bad;
}

static void test_golden(void **state)
{
    int bad = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(GOLDEN) / sizeof(GOLDEN[0]); i++)
        bad += run_one(&GOLDEN[i]);
    assert_int_equal(bad, 0);
}

static int setup(void **state)
{
    const char *args[] = {"--time-scale", "0", NULL};
    char path[512];
    struct resp r;
    char *u;
    (void)state;
    xalloc_init_json();
    snprintf(path, sizeof(path), "%s/sim/scenarios/demo.json", SOURCE_DIR);
    if (!h_sim_start(&SIM, path, args))
        return -1;
    u = xasprintf("%s/_sim/tokens", SIM.p.url);
    /* as the demo app's service principal, which holds Virtual Machine Contributor and Role
     * Based Access Control Administrator in the scenario (azsim checks the caller's roles) */
    if (h_http("POST", u,
               "{\"aud\":\"https://management.azure.com\",\"expiresIn\":3600,"
               "\"oid\":\"0a1b2c3d-0000-4000-8000-00000000e001\"}",
               NULL, &r) != 200)
        return -1;
    snprintf(TOKEN, sizeof(TOKEN), "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    h_resp_cleanup(&r);
    free(u);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_sim_stop(&SIM);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
