/* test_azure_etag.c: the identity PATCH is conditional. It carries If-Match with the etag of
 * the VM it read; when a user-assigned identity is added meanwhile ARM answers 412, the VM is
 * read again and the PATCH repeated with the new etag and the identity kept, never dropped. */
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

#define VM "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
#define UA                                                                                         \
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"                     \
    "userAssignedIdentities/ua1"

static struct fake F;

/* The VM as ARM holds it now: someone added ua1, so its etag moved to "2". */
#define VM_NOW                                                                                     \
    "{\"id\":\"" VM "\",\"name\":\"vm\",\"location\":\"westeurope\",\"etag\":\"\\\"2\\\"\","       \
    "\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"" UA "\":{"             \
    "\"principalId\":\"p1\",\"clientId\":\"c1\"}}},\"properties\":{\"provisioningState\":"         \
    "\"Succeeded\"}}"

static void handler(struct fake *f, const struct fake_req *rq, int n, struct fake_resp *out)
{
    (void)f;
    (void)n;
    if (strncmp(rq->path, "/t1/oauth2", 10) == 0) {
        fake_resp_json(out, 200,
                       "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"tok\"}");
    } else if (strcmp(rq->method, "GET") == 0) {
        fake_resp_json(out, 200, VM_NOW);
    } else if (strcasestr(rq->headers, "\r\nIf-Match: \"2\"") == NULL) {
        fake_resp_json(out, 412,
                       "{\"error\":{\"code\":\"PreconditionFailed\",\"message\":\"The condition "
                       "specified using HTTP conditional header(s) is not met.\"}}");
    } else {
        fake_resp_json(out, 200, VM_NOW);
    }
}

static void test_identity_patch_keeps_identity_added_meanwhile(void **state)
{
    struct azure_config cfg = {.credential = AZURE_CRED_SECRET, .client_secret = "s3cret"};
    struct azure_client *c = NULL;
    struct err_detail d;
    struct azure_vm read = {.id = VM, .etag = "\"1\""}; /* as vmlogind last read it: no identity */
    struct azure_lro l;
    struct azure_error ae;
    bool skipped = true;
    const struct fake_req *p1, *p2;

    (void)state;
    memset(&d, 0, sizeof(d));
    cfg.cloud = "custom";
    cfg.arm_url = cfg.login_url = cfg.graph_url = F.url;
    cfg.tenant_id = "t1";
    cfg.client_id = "c1";
    cfg.retry_max_attempts = 1;
    cfg.timeout_ms = 5000;
    assert_int_equal(azure_client_new(&cfg, &c, &d), ERR_OK);
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
        cmocka_unit_test(test_identity_patch_keeps_identity_added_meanwhile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
