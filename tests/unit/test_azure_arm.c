/* test_azure_arm.c: the typed ARM and Graph calls against a scripted fake server: VM parsing,
 * the identity PATCH body, extension matching by publisher+type, role-assignment filters, put,
 * 409 and delete, Graph users (guest UPN, quote escaping), getByIds batching, service principal
 * create-or-adopt, deleted items; and the certificate client assertion, verified with jose.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "azure/azure_internal.h"
#include "test_azure_fake.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/jose.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define SUB "/subscriptions/00000000-0000-0000-0000-000000000001"
#define VMID SUB "/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1"
#define VM_LIST SUB "/providers/Microsoft.Compute/virtualMachines"
#define UAI SUB "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"

static struct fake F;
static char pem_path[256];

static const char VM_JSON[] =
    "{\"id\":\"" VMID "\",\"name\":\"vm1\",\"location\":\"westeurope\",\"etag\":\"\\\"1\\\"\","
    "\"tags\":{\"env\":\"prod\",\"team\":\"ops\"},"
    "\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"" UAI "id1\":"
    "{\"principalId\":\"p\",\"clientId\":\"c\"},\"" UAI "id2\":{}}},"
    "\"properties\":{\"vmId\":\"0f47b100-583c-48e3-a4c0-aefc2c9bbcc1\","
    "\"provisioningState\":\"Succeeded\",\"storageProfile\":{\"imageReference\":{\"publisher\":"
    "\"MicrosoftWindowsServer\",\"offer\":\"WindowsServer\",\"sku\":\"2019-Datacenter\","
    "\"version\":\"latest\",\"exactVersion\":\"17763.1.2\"},\"osDisk\":{\"osType\":\"Windows\"}},"
    "\"instanceView\":{\"computerName\":\"host-vm1\",\"osName\":\"Windows Server 2019 "
    "Datacenter\",\"osVersion\":\"Microsoft Windows NT 10.0.17763.0\",\"statuses\":["
    "{\"code\":\"ProvisioningState/succeeded\",\"level\":\"Info\"},{\"code\":\"PowerState/"
    "running\",\"displayStatus\":\"VM running\"}]}},"
    "\"resources\":[{\"id\":\"" VMID "/extensions/AADLogin\",\"name\":\"AADLogin\","
    "\"properties\":{\"publisher\":\"microsoft.azure.activedirectory\",\"type\":"
    "\"aadloginforwindows\",\"typeHandlerVersion\":\"1.0\",\"provisioningState\":\"Failed\","
    "\"instanceView\":{\"statuses\":[{\"code\":\"ProvisioningState/failed/1007\",\"level\":"
    "\"Error\",\"message\":\"terminal error code 1007\"}],\"substatuses\":[{\"code\":"
    "\"ComponentStatus/x\"}]}}}]}";

static void reply(struct fake_resp *out, int status, const char *body)
{
    fake_resp_json(out, status, body);
}

static int nth(const struct fake_req *rq, const char *prefix)
{
    return fake_count(&F, rq->method, prefix);
}

static void arm_routes(const struct fake_req *rq, struct fake_resp *out)
{
    const char *p = rq->path;
    char body[1024];

    if (strncmp(p, VM_LIST, strlen(VM_LIST)) == 0 && strstr(p, "skip") == NULL) {
        out->status = 200;
        out->body =
            xasprintf("{\"value\":[%s],\"nextLink\":\"%s" VM_LIST "?skip=1\"}", VM_JSON, F.url);
    } else if (strstr(p, "virtualMachines?skip=1") != NULL) {
        reply(out, 200, "{\"value\":[]}");
    } else if (strcmp(rq->method, "PATCH") == 0) {
        reply(out, 200, "{\"properties\":{\"provisioningState\":\"Updating\"}}");
        snprintf(body, sizeof(body), "Azure-AsyncOperation: %s/op/1", F.url);
        fake_header(out, body);
    } else if (strncmp(p, "/op/1", 5) == 0) {
        reply(out, 200, "{\"status\":\"Succeeded\"}");
    } else if (strstr(p, "/extensions?") != NULL) {
        out->body = xasprintf("{\"value\":[{\"name\":\"Other\",\"properties\":{\"publisher\":"
                              "\"Microsoft.Azure.Monitor\",\"type\":\"AzureMonitorWindowsAgent\"}},"
                              "{\"name\":\"AADLogin\",\"properties\":{\"publisher\":"
                              "\"Microsoft.Azure.ActiveDirectory\",\"type\":\"AADLoginForWindows\","
                              "\"provisioningState\":\"Succeeded\"}}]}");
        out->status = 200;
    } else if (strstr(p, "/extensions/") != NULL && strcmp(rq->method, "PUT") == 0) {
        reply(out, 201, "{\"properties\":{\"provisioningState\":\"Creating\"}}");
        snprintf(body, sizeof(body), "Azure-AsyncOperation: %s/op/1", F.url);
        fake_header(out, body);
    } else if (strstr(p, "/extensions/") != NULL && strcmp(rq->method, "DELETE") == 0) {
        out->status = nth(rq, VMID "/extensions/") == 1 ? 204 : 404;
        reply(out, out->status, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"x\"}}");
    } else if (strncmp(p, VMID "?", sizeof(VMID)) == 0) {
        reply(out, 200, VM_JSON);
    } else {
        reply(out, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"no\"}}");
    }
}

static void authz_routes(const struct fake_req *rq, struct fake_resp *out)
{
    const char *ra = "{\"id\":\"" SUB "/providers/Microsoft.Authorization/roleAssignments/"
                     "a1\",\"name\":\"a1\",\"properties\":{\"scope\":\"" SUB "\","
                     "\"roleDefinitionId\":\"" SUB "/providers/Microsoft.Authorization/"
                     "roleDefinitions/FB879DF8-F326-4884-B1CF-06F3AD86BE52\",\"principalId\":"
                     "\"p1\",\"principalType\":\"User\",\"condition\":null}}";

    if (strcmp(rq->method, "PUT") == 0 && strstr(rq->path, "/dup") != NULL) {
        reply(out, 409,
              "{\"error\":{\"code\":\"RoleAssignmentExists\",\"message\":\"The role "
              "assignment already exists.\"}}");
    } else if (strcmp(rq->method, "PUT") == 0) {
        reply(out, 201, ra);
    } else if (strcmp(rq->method, "DELETE") == 0) {
        reply(out, strstr(rq->path, "/gone") != NULL ? 204 : 200,
              strstr(rq->path, "/gone") != NULL ? NULL : ra);
    } else if (strstr(rq->path, "roleDefinitions") != NULL) {
        reply(out, 200,
              "{\"id\":\"/providers/Microsoft.Authorization/roleDefinitions/"
              "fb879df8-f326-4884-b1cf-06f3ad86be52\",\"name\":\"fb879df8-f326-4884-b1cf-"
              "06f3ad86be52\",\"properties\":{\"roleName\":\"Virtual Machine User "
              "Login\",\"type\":\"BuiltInRole\",\"permissions\":[{\"actions\":["
              "\"Microsoft.Network/publicIPAddresses/read\"],\"dataActions\":["
              "\"Microsoft.Compute/virtualMachines/login/action\"]}]}}");
    } else {
        out->status = 200;
        out->body = xasprintf("{\"value\":[%s,%s]}", ra, ra);
    }
}

static void graph_routes(const struct fake_req *rq, struct fake_resp *out)
{
    const char *p = rq->path;

    if (strncmp(p, "/v1.0/directoryObjects/getByIds", 31) == 0) {
        reply(out, 200,
              "{\"value\":[{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"u1\"},"
              "{\"@odata.type\":\"#microsoft.graph.group\",\"id\":\"g1\"}]}");
    } else if (strncmp(p, "/v1.0/servicePrincipals?", 24) == 0) {
        reply(out, 200,
              "{\"value\":[{\"id\":\"sp1\",\"appId\":\"372140e0-b3b7-4226-8ef9-"
              "d57986796201\",\"servicePrincipalType\":\"Application\"}]}");
    } else if (strncmp(p, "/v1.0/servicePrincipals", 23) == 0) {
        reply(out, 409,
              "{\"error\":{\"code\":\"Request_MultipleObjectsWithSameKeyValue\","
              "\"message\":\"in use\"}}");
    } else if (strncmp(p, "/v1.0/directory/deletedItems/", 29) == 0) {
        if (strstr(p, "soft") != NULL)
            reply(out, 200,
                  "{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"soft\","
                  "\"deletedDateTime\":\"2026-01-01T00:00:00Z\"}");
        else
            reply(out, 404,
                  "{\"error\":{\"code\":\"Request_ResourceNotFound\",\"message\":"
                  "\"x\"}}");
    } else if (strncmp(p, "/v1.0/devices?", 14) == 0) {
        reply(out, 200,
              "{\"value\":[{\"id\":\"d1\",\"displayName\":\"host-vm1\",\"trustType\":"
              "\"AzureAd\",\"accountEnabled\":true}]}");
    } else if (strncmp(p, "/v1.0/users?", 12) == 0) {
        reply(out, 200, "{\"value\":[]}");
    } else if (strncmp(p, "/v1.0/users/", 12) == 0 && strstr(p, "transitiveMemberOf") != NULL) {
        reply(out, 200,
              "{\"value\":[{\"@odata.type\":\"#microsoft.graph.group\",\"id\":\"g1\","
              "\"displayName\":\"G\"}]}");
    } else if (strncmp(p, "/v1.0/users/", 12) == 0) {
        reply(out, 200,
              "{\"id\":\"u1\",\"userPrincipalName\":\"a#EXT#@c.com\",\"userType\":"
              "\"Guest\",\"accountEnabled\":false,\"displayName\":\"A\"}");
    } else {
        reply(out, 404, "{\"error\":{\"code\":\"Request_ResourceNotFound\",\"message\":\"x\"}}");
    }
}

static void handler(struct fake *f, const struct fake_req *rq, int n, struct fake_resp *out)
{
    (void)f;
    (void)n;
    if (strstr(rq->path, "/oauth2/v2.0/token") != NULL)
        reply(out, 200, "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"t\"}");
    else if (strncmp(rq->path, "/v1.0/", 6) == 0)
        graph_routes(rq, out);
    else if (strstr(rq->path, "Microsoft.Authorization") != NULL)
        authz_routes(rq, out);
    else
        arm_routes(rq, out);
}

static struct azure_client *client(void)
{
    struct azure_config cfg = {.cloud = "custom",
                               .arm_url = F.url,
                               .login_url = F.url,
                               .graph_url = F.url,
                               .tenant_id = "t1",
                               .client_id = "c1",
                               .client_secret = "s",
                               .lro_poll_min_ms = 1,
                               .lro_poll_default_ms = 1,
                               .retry_backoff_base_ms = 5};
    struct azure_client *c = NULL;

    assert_int_equal(azure_client_new(&cfg, &c, NULL), ERR_OK);
    return c;
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_json();
    azure_global_init();
    fake_start(&F, handler, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_stop(&F);
    if (pem_path[0] != '\0')
        unlink(pem_path);
    return 0;
}

static void test_vm_parse(void **state)
{
    json_error_t jerr;
    json_t *o = json_loads(VM_JSON, 0, &jerr);
    struct azure_vm vm = {0};
    const struct azure_extension *e;

    (void)state;
    assert_non_null(o);
    azure_vm_parse(o, &vm);
    json_decref(o);
    assert_string_equal(vm.subscription_id, "00000000-0000-0000-0000-000000000001");
    assert_string_equal(vm.resource_group, "rg1");
    assert_string_equal(vm.computer_name, "host-vm1"); /* no osProfile: instance view */
    assert_string_equal(vm.os_type, "Windows");
    assert_string_equal(vm.image_sku, "2019-Datacenter");
    assert_string_equal(vm.image_version, "17763.1.2");
    assert_string_equal(vm.os_version, "Microsoft Windows NT 10.0.17763.0");
    assert_string_equal(vm.power_state, "running");
    assert_string_equal(vm.provisioning_state, "Succeeded");
    assert_string_equal(vm.identity_type, "UserAssigned");
    assert_int_equal(vm.n_user_assigned, 2);
    assert_int_equal(vm.n_tags, 2);
    assert_int_equal(vm.n_extensions, 1);
    e = azure_extension_find(vm.extensions, vm.n_extensions, AZURE_AADLOGIN_PUBLISHER,
                             AZURE_AADLOGIN_TYPE);
    assert_non_null(e);
    assert_string_equal(e->name, "AADLogin");
    assert_string_equal(e->provisioning_state, "Failed");
    assert_int_equal(e->n_statuses, 1);
    assert_string_equal(e->statuses[0].code, "ProvisioningState/failed/1007");
    assert_int_equal(e->n_substatuses, 1);
    assert_false(azure_vm_has_system_identity(&vm));
    azure_vm_cleanup(&vm);
}

static void test_identity_body(void **state)
{
    char *ua[] = {(char *)UAI "id1", (char *)UAI "id2"};
    struct azure_vm vm = {0};
    struct buf b;
    bool needed;

    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(azure_vm_identity_patch_body(&vm, &b, &needed), ERR_OK);
    assert_true(needed);
    assert_string_equal(b.data, "{\"identity\":{\"type\":\"SystemAssigned\"}}");
    buf_reset(&b);
    vm.identity_type = (char *)"UserAssigned";
    vm.user_assigned_ids = ua;
    vm.n_user_assigned = 2;
    assert_int_equal(azure_vm_identity_patch_body(&vm, &b, &needed), ERR_OK);
    assert_string_equal(b.data,
                        "{\"identity\":{\"type\":\"SystemAssigned, UserAssigned\","
                        "\"userAssignedIdentities\":{\"" UAI "id1\":{},\"" UAI "id2\":{}}}}");
    buf_reset(&b);
    vm.identity_type = (char *)"SystemAssigned, UserAssigned";
    assert_int_equal(azure_vm_identity_patch_body(&vm, &b, &needed), ERR_OK);
    assert_false(needed);
    buf_cleanup(&b);
}

static enum err count_vms(const struct azure_vm *vms, size_t n, void *arg)
{
    int *k = arg;

    for (size_t i = 0; i < n; i++)
        assert_string_equal(vms[i].name, "vm1");
    *k += (int)n;
    return ERR_OK;
}

static void test_vms_and_identity(void **state)
{
    struct azure_client *c = client();
    struct azure_error ae;
    struct azure_lro l;
    bool skipped = true;
    int k = 0;
    const struct fake_req *patch;

    (void)state;
    assert_int_equal(
        azure_vms_list(c, "00000000-0000-0000-0000-000000000001", NULL, true, count_vms, &k, &ae),
        ERR_OK);
    assert_int_equal(k, 1);
    assert_non_null(
        strstr(fake_nth(&F, SUB "/providers/Microsoft.Compute/virtualMachines", 0)->path,
               "?api-version=2024-07-01&statusOnly=true"));
    assert_int_equal(azure_vm_enable_system_identity(c, VMID, NULL, &l, &skipped, &ae), ERR_OK);
    assert_false(skipped);
    assert_int_equal(l.kind, AZURE_LRO_ASYNC_OP);
    assert_int_equal(azure_lro_wait(c, &l, 5000, NULL, &ae), ERR_OK);
    azure_lro_cleanup(&l);
    patch = fake_nth(&F, VMID "?api-version", 1);
    assert_string_equal(patch->method, "PATCH");
    assert_string_equal(patch->body,
                        "{\"identity\":{\"type\":\"SystemAssigned, UserAssigned\","
                        "\"userAssignedIdentities\":{\"" UAI "id1\":{},\"" UAI "id2\":{}}}}");
    azure_client_free(c);
}

static void test_extensions(void **state)
{
    struct azure_client *c = client();
    struct azure_error ae;
    struct azure_extension *ext = NULL;
    size_t n = 0;
    struct azure_lro l;
    const struct azure_extension_spec spec = {.name = "AADLoginForWindows",
                                              .location = "westeurope",
                                              .publisher = AZURE_AADLOGIN_PUBLISHER,
                                              .type = AZURE_AADLOGIN_TYPE,
                                              .type_handler_version = "1.0",
                                              .auto_upgrade_minor_version = true};
    const struct fake_req *put;

    (void)state;
    assert_int_equal(azure_extensions_list(c, VMID, true, &ext, &n, &ae), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(
        azure_extension_find(ext, n, "microsoft.azure.activedirectory", "AADLOGINFORWINDOWS")->name,
        "AADLogin");
    azure_extensions_free(ext, n);
    assert_int_equal(azure_extension_put(c, VMID, &spec, &l, &ae), ERR_OK);
    assert_int_equal(l.state, AZURE_LRO_RUNNING);
    azure_lro_cleanup(&l);
    put = fake_nth(&F, VMID "/extensions/AADLoginForWindows", 0);
    assert_string_equal(put->body,
                        "{\"location\":\"westeurope\",\"properties\":{\"publisher\":\"Microsoft."
                        "Azure.ActiveDirectory\",\"type\":\"AADLoginForWindows\","
                        "\"typeHandlerVersion\":\"1.0\",\"autoUpgradeMinorVersion\":true}}");
    assert_int_equal(azure_extension_delete(c, VMID, "AADLogin", &l, &ae), ERR_OK); /* 204 */
    assert_int_equal(l.state, AZURE_LRO_SUCCEEDED);
    azure_lro_cleanup(&l);
    assert_int_equal(azure_extension_delete(c, VMID, "AADLogin", &l, &ae), ERR_OK); /* 404 */
    assert_int_equal(l.state, AZURE_LRO_SUCCEEDED);
    azure_lro_cleanup(&l);
    azure_client_free(c);
}

static enum err count_ras(const struct azure_role_assignment *ras, size_t n, void *arg)
{
    int *k = arg;

    assert_string_equal(ras[0].role_definition_guid, AZURE_ROLE_VM_USER_LOGIN);
    assert_null(ras[0].condition);
    *k += (int)n;
    return ERR_OK;
}

static void test_role_assignments(void **state)
{
    struct azure_client *c = client();
    struct azure_error ae;
    struct azure_ra_filter f = {.at_scope = true, .principal_id = "p'1"};
    struct azure_role_assignment ra;
    struct azure_role_definition rd;
    struct azure_role_assignment_spec spec = {.scope = SUB,
                                              .name = "a1",
                                              .role_definition = AZURE_ROLE_VM_USER_LOGIN,
                                              .principal_id = "p1",
                                              .principal_type = "Group"};
    bool existed = false;
    int k = 0;

    (void)state;
    assert_int_equal(azure_role_assignments_list(c, SUB, &f, count_ras, &k, &ae), ERR_OK);
    assert_int_equal(k, 2);
    assert_non_null(strstr(fake_nth(&F, SUB "/providers/Microsoft.Authorization", 0)->path,
                           "&$filter=atScope%28%29%20and%20principalId%20eq%20%27p%27%271%27"));
    assert_int_equal(azure_role_assignment_put(c, &spec, &ra, &ae), ERR_OK);
    assert_string_equal(ra.principal_id, "p1");
    azure_role_assignment_cleanup(&ra);
    assert_string_equal(
        fake_nth(&F, SUB "/providers/Microsoft.Authorization/roleAssignments/a1", 0)->body,
        "{\"properties\":{\"roleDefinitionId\":\"" SUB "/providers/Microsoft.Authorization/"
        "roleDefinitions/" AZURE_ROLE_VM_USER_LOGIN "\",\"principalId\":\"p1\","
        "\"principalType\":\"Group\"}}");
    spec.name = "dup";
    assert_int_equal(azure_role_assignment_put(c, &spec, NULL, &ae), ERR_CONFLICT);
    assert_true(azure_error_is(&ae, "RoleAssignmentExists"));
    assert_int_equal(azure_role_assignment_delete(c, SUB, "a1", &existed, &ae), ERR_OK);
    assert_true(existed);
    assert_int_equal(azure_role_assignment_delete(c, SUB, "gone", &existed, &ae), ERR_OK);
    assert_false(existed);
    assert_int_equal(azure_role_definition_get(c, SUB, AZURE_ROLE_VM_USER_LOGIN, &rd, &ae), ERR_OK);
    assert_string_equal(rd.role_name, "Virtual Machine User Login");
    assert_int_equal(rd.n_data_actions, 1);
    azure_role_definition_cleanup(&rd);
    azure_client_free(c);
}

static enum err count_objs(const struct azure_directory_object *o, size_t n, void *arg)
{
    int *k = arg;

    assert_non_null(o[0].kind);
    *k += (int)n;
    return ERR_OK;
}

static void test_graph(void **state)
{
    struct azure_client *c = client();
    struct azure_error ae;
    struct azure_user u;
    struct azure_device *d = NULL;
    size_t n = 0;
    struct azure_service_principal sp;
    struct azure_directory_object del;
    bool existed = false;
    const char **ids = xcalloc(1500, sizeof(char *));
    int k = 0;

    (void)state;
    assert_int_equal(azure_graph_user_get(c, "a#EXT#@c.com", &u, &ae), ERR_OK);
    assert_string_equal(u.user_type, "Guest");
    assert_true(u.has_account_enabled);
    assert_false(u.account_enabled);
    azure_user_cleanup(&u);
    assert_non_null(strstr(fake_nth(&F, "/v1.0/users/", 0)->path,
                           "/v1.0/users/a%23EXT%23@c.com?$select=id,userPrincipalName,userType,"
                           "accountEnabled,displayName"));
    assert_int_equal(azure_graph_user_find_by_upn(c, "o'brien@c.com", &u, &ae), ERR_NOT_FOUND);
    assert_non_null(strstr(fake_nth(&F, "/v1.0/users?", 0)->path,
                           "$filter=userPrincipalName%20eq%20%27o%27%27brien%40c.com%27"));
    assert_int_equal(azure_graph_user_member_of(c, "u1", count_objs, &k, &ae), ERR_OK);
    assert_int_equal(k, 1);
    assert_int_equal(azure_graph_devices_by_name(c, "host-vm1", &d, &n, &ae), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].trust_type, "AzureAd");
    azure_devices_free(d, n);
    for (int i = 0; i < 1500; i++)
        ids[i] = "00000000-0000-0000-0000-000000000000";
    k = 0;
    assert_int_equal(azure_graph_get_by_ids(c, ids, 1500, count_objs, &k, &ae), ERR_OK);
    assert_int_equal(fake_count(&F, "POST", "/v1.0/directoryObjects/getByIds"), 2);
    /* Graph returns userType and accountEnabled only when selected */
    assert_non_null(strstr(fake_nth(&F, "/v1.0/directoryObjects/getByIds", 0)->path,
                           "?$select=id,displayName,userPrincipalName,appId,userType,"
                           "accountEnabled"));
    assert_int_equal(k, 4);
    free(ids);
    assert_int_equal(azure_graph_sp_create(c, AZURE_APP_WINDOWS_VM_SIGNIN, &sp, &existed, &ae),
                     ERR_OK);
    assert_true(existed);
    assert_string_equal(sp.id, "sp1");
    azure_service_principal_cleanup(&sp);
    assert_int_equal(azure_graph_deleted_item_get(c, "soft", &del, &ae), ERR_OK);
    assert_string_equal(del.kind, "user");
    azure_directory_object_cleanup(&del);
    assert_int_equal(azure_graph_deleted_item_get(c, "hard", &del, &ae), ERR_NOT_FOUND);
    azure_client_free(c);
}

static void write_pem(EVP_PKEY *key, X509 *cert)
{
    FILE *fp;

    snprintf(pem_path, sizeof(pem_path), "/tmp/azure-cert-%d.pem", (int)getpid());
    fp = fopen(pem_path, "w");
    assert_non_null(fp);
    assert_true(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) == 1);
    assert_true(PEM_write_X509(fp, cert) == 1);
    fclose(fp);
}

static void check_assertion(EVP_PKEY *key, X509 *cert, const char *alg)
{
    struct azure_config cfg = {.cloud = "custom",
                               .arm_url = F.url,
                               .login_url = F.url,
                               .graph_url = F.url,
                               .tenant_id = "t1",
                               .client_id = "app-1",
                               .client_certificate_file = pem_path,
                               .client_assertion_alg = alg};
    struct azure_client *c = NULL;
    struct jws j;
    char aud[128];
    char *jwt;
    char *want;
    int64_t now = clock_now_ms() / 1000;
    bool ps = strcmp(alg, "PS256") == 0;
    struct azure_error ae;
    char *tok = NULL;

    assert_int_equal(azure_client_new(&cfg, &c, NULL), ERR_OK);
    snprintf(aud, sizeof(aud), "%s/t1/oauth2/v2.0/token", F.url);
    jwt = azure_cred_client_assertion(c->cred, aud);
    assert_non_null(jwt);
    assert_int_equal(jws_parse(jwt, &j, NULL), ERR_OK);
    assert_int_equal(jws_verify(&j, key, NULL), ERR_OK);
    assert_string_equal(j.alg, alg);
    want = ps ? x5t_sha256(cert) : x5t_sha1(cert);
    assert_string_equal(json_string_value(json_object_get(j.header, ps ? "x5t#S256" : "x5t")),
                        want);
    assert_null(json_object_get(j.header, ps ? "x5t" : "x5t#S256"));
    assert_string_equal(json_string_value(json_object_get(j.claims, "aud")), aud);
    assert_string_equal(json_string_value(json_object_get(j.claims, "iss")), "app-1");
    assert_string_equal(json_string_value(json_object_get(j.claims, "sub")), "app-1");
    assert_true(uuid_is_valid(json_string_value(json_object_get(j.claims, "jti"))));
    assert_true(json_integer_value(json_object_get(j.claims, "nbf")) >= now - 5);
    assert_true(json_integer_value(json_object_get(j.claims, "exp")) >
                json_integer_value(json_object_get(j.claims, "nbf")));
    free(want);
    free(jwt);
    jws_cleanup(&j);
    /* and it is what the token request posts */
    assert_int_equal(azure_token_get(c, "x/.default", &tok, NULL, &ae), ERR_OK);
    free(tok);
    assert_non_null(strstr(
        fake_nth(&F, "/t1/oauth2/v2.0/token", fake_count(&F, "POST", "/t1/oauth2") - 1)->body,
        "&client_assertion=ey"));
    azure_client_free(c);
}

static void test_client_assertion(void **state)
{
    EVP_PKEY *key = jose_rsa_generate(2048);
    X509 *cert = jose_selfsigned_cert(key, "vmlogind-test", 1);

    (void)state;
    assert_non_null(cert);
    write_pem(key, cert);
    check_assertion(key, cert, "PS256");
    check_assertion(key, cert, "RS256");
    X509_free(cert);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_parse),         cmocka_unit_test(test_identity_body),
        cmocka_unit_test(test_vms_and_identity), cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_role_assignments), cmocka_unit_test(test_graph),
        cmocka_unit_test(test_client_assertion),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
