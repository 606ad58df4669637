/* test_azure_headers.c: what outbound Azure requests say about themselves. Every one, so an
 * Azure support case can quote it: User-Agent vmlogind/<version>, x-ms-client-request-id on ARM
 * and client-request-id on Graph (each its own API's header), and the same id handed back in
 * the error of a failed call; the policy assignment of a policy deny is read from
 * additionalInfo. The identity PATCH is conditional: If-Match with the etag of the VM it read;
 * when a user-assigned identity is added meanwhile ARM answers 412, the VM is read again and the
 * PATCH repeated with the new etag and the identity kept, never dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "azure/azure_internal.h"
#include "test_azure_fake.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/xalloc.h"

static struct fake F;

#define VM "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
#define UA                                                                                         \
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"                     \
    "userAssignedIdentities/ua1"

#define VM_NOW                                                                                     \
    "{\"id\":\"" VM "\",\"name\":\"vm\",\"location\":\"westeurope\",\"etag\":\"\\\"2\\\"\","       \
    "\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"" UA "\":{"             \
    "\"principalId\":\"p1\",\"clientId\":\"c1\"}}},\"properties\":{\"provisioningState\":"         \
    "\"Succeeded\"}}"

#define POLICY_DENY                                                                                \
    "{\"error\":{\"code\":\"RequestDisallowedByPolicy\",\"message\":\"Resource 'vm' was "          \
    "disallowed by policy.\",\"additionalInfo\":[{\"type\":\"PolicyViolation\",\"info\":{"         \
    "\"policyAssignmentId\":\"/subscriptions/s/providers/Microsoft.Authorization/"                 \
    "policyAssignments/deny\"}}]}}"

/* The VM: GET answers it as it is now; a PATCH without If-Match "2" is refused with 412. */
static void vm_route(const struct fake_req *rq, struct fake_resp *out)
{
    if (strcmp(rq->method, "PATCH") == 0 && strcasestr(rq->headers, "\r\nIf-Match: \"2\"") == NULL)
        fake_resp_json(out, 412,
                       "{\"error\":{\"code\":\"PreconditionFailed\",\"message\":\"The condition "
                       "specified using HTTP conditional header(s) is not met.\"}}");
    else
        fake_resp_json(out, 200, VM_NOW);
}

static void handler(struct fake *f, const struct fake_req *rq, int n, struct fake_resp *out)
{
    (void)f;
    (void)n;
    if (strncmp(rq->path, "/t1/oauth2", 10) == 0)
        fake_resp_json(out, 200,
                       "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"tok\"}");
    else if (strncmp(rq->path, "/deny", 5) == 0)
        fake_resp_json(out, 403, POLICY_DENY);
    else if (strncmp(rq->path, VM, strlen(VM)) == 0)
        vm_route(rq, out);
    else
        fake_resp_json(out, 200, "{}");
}

static struct azure_client *client(void)
{
    struct azure_config cfg = {.credential = AZURE_CRED_SECRET, .client_secret = "s3cret"};
    struct azure_client *c = NULL;
    struct err_detail d;

    memset(&d, 0, sizeof(d));
    cfg.cloud = "custom";
    cfg.arm_url = cfg.login_url = cfg.graph_url = F.url;
    cfg.tenant_id = "t1";
    cfg.client_id = "c1";
    cfg.retry_max_attempts = 1;
    cfg.timeout_ms = 5000;
    if (azure_client_new(&cfg, &c, &d) != ERR_OK)
        fail_msg("client: %s %s", d.code, d.msg);
    return c;
}

static enum err get(struct azure_client *c, const char *path, enum azure_api api,
                    struct azure_error *ae)
{
    char url[256];
    struct azure_request rq = {.method = "GET", .url = url, .api = api, .op = "test_get"};
    struct azure_response rs;
    enum err rc;

    snprintf(url, sizeof(url), "%s%s", F.url, path);
    rc = azure_http_send(c, &rq, &rs, ae);
    azure_response_cleanup(&rs);
    return rc;
}

/* The value of header name in a raw header block, into out. */
static bool header(const char *block, const char *name, char *out, size_t cap)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    p = strcasestr(block, pat);
    if (p == NULL)
        return false;
    p += strlen(pat);
    snprintf(out, cap, "%.*s", (int)strcspn(p, "\r\n"), p);
    return true;
}

static void test_request_ids_and_user_agent(void **state)
{
    struct azure_client *c = client();
    struct azure_error ae;
    const struct fake_req *r;
    char v[128];

    (void)state;
    assert_int_equal(get(c, "/arm/thing", AZURE_API_ARM, &ae), ERR_OK);
    r = fake_nth(&F, "/arm/thing", 0);
    assert_true(header(r->headers, "User-Agent", v, sizeof(v)));
    assert_string_equal(v, "vmlogind/" VMLOGIND_VERSION);
    assert_true(header(r->headers, "x-ms-client-request-id", v, sizeof(v)));
    assert_string_equal(v, ae.client_request_id);
    assert_false(header(r->headers, "client-request-id", v, sizeof(v)));

    assert_int_equal(get(c, "/v1.0/users/x", AZURE_API_GRAPH, &ae), ERR_OK);
    r = fake_nth(&F, "/v1.0/users/x", 0);
    assert_true(header(r->headers, "User-Agent", v, sizeof(v)));
    assert_string_equal(v, "vmlogind/" VMLOGIND_VERSION);
    assert_true(header(r->headers, "client-request-id", v, sizeof(v)));
    assert_string_equal(v, ae.client_request_id);
    assert_false(header(r->headers, "x-ms-client-request-id", v, sizeof(v)));

    /* a failed call carries the id it sent and the policy assignment that denied it */
    assert_int_equal(get(c, "/deny", AZURE_API_ARM, &ae), ERR_FORBIDDEN);
    r = fake_nth(&F, "/deny", 0);
    assert_true(header(r->headers, "x-ms-client-request-id", v, sizeof(v)));
    assert_string_equal(v, ae.client_request_id);
    assert_string_equal(ae.code, "RequestDisallowedByPolicy");
    assert_string_equal(
        ae.policy_assignment,
        "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/deny");
    azure_client_free(c);
}

static void test_identity_patch_keeps_identity_added_meanwhile(void **state)
{
    struct azure_client *c = client();
    struct azure_vm read = {.id = VM, .etag = "\"1\""}; /* as vmlogind last read it: no identity */
    struct azure_lro l;
    struct azure_error ae;
    bool skipped = true;
    const struct fake_req *p1, *p2;

    (void)state;
    assert_int_equal(azure_vm_enable_system_identity(c, VM, &read, &l, &skipped, &ae), ERR_OK);
    assert_false(skipped);
    assert_int_equal(fake_count(&F, "PATCH", VM), 2);
    p1 = fake_nth(&F, VM "?", 0);
    p2 = NULL;
    for (int i = 0; i < 8 && p2 == NULL; i++) {
        const struct fake_req *q = fake_nth(&F, VM "?", i);
        if (q != NULL && strcmp(q->method, "PATCH") == 0 && q != p1 &&
            strcasestr(q->headers, "If-Match: \"2\"") != NULL)
            p2 = q;
    }
    assert_string_equal(p1->method, "PATCH");
    assert_non_null(strcasestr(p1->headers, "\r\nIf-Match: \"1\""));
    assert_null(strstr(p1->body, "userAssignedIdentities"));
    assert_non_null(p2);
    assert_non_null(strstr(p2->body, "\"SystemAssigned, UserAssigned\""));
    assert_non_null(strstr(p2->body, "\"" UA "\""));
    azure_lro_cleanup(&l);
    azure_client_free(c);
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
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_ids_and_user_agent),
        cmocka_unit_test(test_identity_patch_keeps_identity_added_meanwhile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
