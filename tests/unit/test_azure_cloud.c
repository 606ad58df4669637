/* test_azure_cloud.c: the pure parts of the Azure layer: cloud tables and URL construction per
 * sovereign cloud, URL encoding, Retry-After parsing, backoff bounds, the token bucket, and
 * error-body parsing of every shape the services send. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"

static void cloud_of(struct azure_cloud *c, const char *name)
{
    assert_int_equal(azure_cloud_init(c, name, NULL, NULL, NULL, NULL), ERR_OK);
}

static void url_is(enum err rc, struct buf *b, const char *want)
{
    assert_int_equal(rc, ERR_OK);
    assert_string_equal(b->data, want);
    buf_reset(b);
}

static void test_public_cloud(void **state)
{
    struct azure_cloud c;
    struct buf b;

    (void)state;
    buf_init(&b, AZURE_URL_MAX_BYTES);
    cloud_of(&c, NULL);
    assert_string_equal(c.name, "AzureCloud");
    assert_string_equal(c.arm_scope, "https://management.azure.com/.default");
    assert_string_equal(c.graph_scope, "https://graph.microsoft.com/.default");
    assert_string_equal(c.device_reg_url, "https://enterpriseregistration.windows.net");
    assert_string_equal(c.pas_url, "https://pas.windows.net");
    url_is(azure_cloud_token_url(&c, "contoso.onmicrosoft.com", &b), &b,
           "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    url_is(azure_cloud_arm_url(&c, "/subscriptions/s1/providers/Microsoft.Compute/virtualMachines",
                               "2024-07-01", NULL, &b),
           &b,
           "https://management.azure.com/subscriptions/s1/providers/Microsoft.Compute/"
           "virtualMachines?api-version=2024-07-01");
    url_is(azure_cloud_arm_url(&c, "/x?$expand=instanceView", "2024-07-01", "&a=b", &b), &b,
           "https://management.azure.com/x?$expand=instanceView&api-version=2024-07-01&a=b");
    url_is(azure_cloud_graph_url(&c, "/users/u1", &b), &b,
           "https://graph.microsoft.com/v1.0/users/u1");
    url_is(azure_cloud_imds_token_url(&c, c.arm_scope, NULL, &b), &b,
           "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
           "&resource=https%3A%2F%2Fmanagement.azure.com%2F");
    buf_cleanup(&b);
}

static void test_gov_cloud(void **state)
{
    struct azure_cloud c;
    struct buf b;

    (void)state;
    buf_init(&b, AZURE_URL_MAX_BYTES);
    cloud_of(&c, "azureusgovernment");
    assert_string_equal(c.name, "AzureUSGovernment");
    assert_string_equal(c.arm_scope, "https://management.usgovcloudapi.net/.default");
    assert_string_equal(c.graph_scope, "https://graph.microsoft.us/.default");
    assert_string_equal(c.pas_url, "https://pasff.usgovcloudapi.net");
    assert_string_equal(c.device_reg_url, "https://enterpriseregistration.microsoftonline.us");
    url_is(azure_cloud_token_url(&c, "t1", &b), &b,
           "https://login.microsoftonline.us/t1/oauth2/v2.0/token");
    url_is(azure_cloud_arm_url(&c, "/subscriptions", "2022-12-01", NULL, &b), &b,
           "https://management.usgovcloudapi.net/subscriptions?api-version=2022-12-01");
    url_is(azure_cloud_graph_url(&c, "/devices", &b), &b,
           "https://graph.microsoft.us/v1.0/devices");
    buf_cleanup(&b);
}

static void test_china_cloud(void **state)
{
    struct azure_cloud c;
    struct buf b;

    (void)state;
    buf_init(&b, AZURE_URL_MAX_BYTES);
    cloud_of(&c, "AzureChinaCloud");
    assert_string_equal(c.arm_scope, "https://management.chinacloudapi.cn/.default");
    assert_string_equal(c.graph_scope, "https://microsoftgraph.chinacloudapi.cn/.default");
    assert_string_equal(c.pas_url, "https://pas.chinacloudapi.cn");
    assert_string_equal(c.device_reg_url,
                        "https://enterpriseregistration.partner.microsoftonline.cn");
    url_is(azure_cloud_token_url(&c, "t1", &b), &b,
           "https://login.chinacloudapi.cn/t1/oauth2/v2.0/token");
    url_is(azure_cloud_graph_url(&c, "/users", &b), &b,
           "https://microsoftgraph.chinacloudapi.cn/v1.0/users");
    url_is(azure_cloud_arm_url(&c, "/subscriptions", "2022-12-01", NULL, &b), &b,
           "https://management.chinacloudapi.cn/subscriptions?api-version=2022-12-01");
    buf_cleanup(&b);
}

static void test_custom_cloud(void **state)
{
    struct azure_cloud c;
    struct err_detail d;
    struct buf b;

    (void)state;
    buf_init(&b, AZURE_URL_MAX_BYTES);
    assert_int_equal(azure_cloud_init(&c, "custom", "https://127.0.0.1:8443/", NULL, NULL, &d),
                     ERR_INVALID);
    assert_string_equal(d.code, "CustomCloudIncomplete");
    assert_int_equal(azure_cloud_init(&c, "Mars", NULL, NULL, NULL, &d), ERR_INVALID);
    assert_int_equal(azure_cloud_init(&c, "custom", "ftp://x", "https://a", "https://b", &d),
                     ERR_INVALID);
    assert_int_equal(azure_cloud_init(&c, "custom", "https://127.0.0.1:8443/",
                                      "https://127.0.0.1:8443", "https://127.0.0.1:8443//", &d),
                     ERR_OK);
    assert_string_equal(c.arm_url, "https://127.0.0.1:8443");
    assert_string_equal(c.arm_scope, "https://management.azure.com/.default");
    assert_string_equal(c.graph_scope, "https://graph.microsoft.com/.default");
    azure_cloud_set_imds(&c, "http://127.0.0.1:9000/");
    url_is(azure_cloud_imds_token_url(&c, "https://127.0.0.1:8443/.default", "cid-1", &b), &b,
           "http://127.0.0.1:9000/metadata/identity/oauth2/token?api-version=2018-02-01"
           "&resource=https%3A%2F%2F127.0.0.1%3A8443%2F&client_id=cid-1");
    url_is(azure_cloud_token_url(&c, "t1", &b), &b, "https://127.0.0.1:8443/t1/oauth2/v2.0/token");
    buf_cleanup(&b);
}

static void test_url_encode(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1024);
    url_is(azure_url_encode(&b, "principalId eq 'a b'"), &b, "principalId%20eq%20%27a%20b%27");
    url_is(azure_url_encode_segment(&b, "AdeleV_adatum.com#EXT#@contoso.com"), &b,
           "AdeleV_adatum.com%23EXT%23@contoso.com");
    url_is(azure_url_encode_segment(&b, "a/b?c"), &b, "a%2Fb%3Fc");
    buf_cleanup(&b);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(azure_retry_after_parse("10", 0), 10000);
    assert_int_equal(azure_retry_after_parse(" 1 ", 0), 1000);
    assert_int_equal(azure_retry_after_parse("2.128", 0), 2128);
    assert_int_equal(azure_retry_after_parse("0.5", 0), 500);
    assert_int_equal(azure_retry_after_parse("0", 0), 0);
    assert_int_equal(azure_retry_after_parse("", 0), -1);
    assert_int_equal(azure_retry_after_parse(NULL, 0), -1);
    assert_int_equal(azure_retry_after_parse("-3", 0), -1);
    assert_int_equal(azure_retry_after_parse("10s", 0), -1);
    assert_int_equal(azure_retry_after_parse("999999999", 0), 3600LL * 1000);
    /* HTTP date: 5 s after "now" */
    assert_int_equal(azure_retry_after_parse("Thu, 01 Jan 1970 00:00:15 GMT", 10000), 5000);
    assert_int_equal(azure_retry_after_parse("Thu, 01 Jan 1970 00:00:05 GMT", 10000), 0);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    for (uint32_t rnd = 0; rnd < 5000; rnd += 37) {
        int64_t d1 = azure_retry_backoff_ms(500, 30000, 1, rnd);
        int64_t d3 = azure_retry_backoff_ms(500, 30000, 3, rnd * 7919u);
        int64_t d20 = azure_retry_backoff_ms(500, 30000, 20, rnd * 104729u);

        assert_true(d1 >= 250 && d1 <= 500);
        assert_true(d3 >= 1000 && d3 <= 2000);
        assert_true(d20 >= 15000 && d20 <= 30000);
    }
    assert_true(azure_retry_backoff_ms(0, 0, 1, 0) <= 1);
    assert_true(azure_retry_status_retriable(429));
    assert_true(azure_retry_status_retriable(503));
    assert_true(azure_retry_status_retriable(504));
    assert_false(azure_retry_status_retriable(501));
    assert_false(azure_retry_status_retriable(409));
    assert_true(azure_retry_method_idempotent("PUT"));
    assert_true(azure_retry_method_idempotent("delete"));
    assert_false(azure_retry_method_idempotent("POST"));
}

/* azure_throttle_try, and when the request is let out its answer (200, no remaining count)
 * right away: a plain token bucket. */
static int64_t take(struct azure_throttle *t, const char *key, enum azure_op_kind kind, int64_t now)
{
    struct azure_throttle_answer ok = {.status = 200, .remaining = {-1, -1, -1}};
    uint64_t ticket = 0;
    int64_t wait = azure_throttle_try(t, key, kind, now, &ticket);

    if (wait == 0)
        azure_throttle_done(t, key, kind, ticket, &ok);
    return wait;
}

static void test_token_bucket(void **state)
{
    struct azure_throttle_limits lim = {.capacity = {5, 2, 2}, .rate = {1, 0.5, 0.5}};
    struct azure_throttle *t = azure_throttle_new(&lim);
    int64_t now = 1000000;

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(take(t, "SUB-1", AZURE_OP_READ, now), 0);
    assert_int_equal(take(t, "sub-1", AZURE_OP_READ, now), 1000);
    /* other kinds and other subscriptions have their own buckets */
    assert_int_equal(take(t, "sub-1", AZURE_OP_WRITE, now), 0);
    assert_int_equal(take(t, "sub-2", AZURE_OP_READ, now), 0);
    /* refill at 1/s, capped at capacity */
    assert_int_equal(take(t, "sub-1", AZURE_OP_READ, now + 1000), 0);
    assert_true(azure_throttle_tokens(t, "sub-1", AZURE_OP_READ, now + 100000) == 5.0);
    /* the server's remaining count caps the bucket */
    azure_throttle_observe(t, "sub-1", AZURE_OP_READ, 1, now + 100000);
    assert_int_equal(take(t, "sub-1", AZURE_OP_READ, now + 100000), 0);
    assert_true(take(t, "sub-1", AZURE_OP_READ, now + 100000) > 0);
    azure_throttle_free(t);
    assert_int_equal(azure_throttle_kind("GET"), AZURE_OP_READ);
    assert_int_equal(azure_throttle_kind("PATCH"), AZURE_OP_WRITE);
    assert_int_equal(azure_throttle_kind("DELETE"), AZURE_OP_DELETE);
}

static void test_throttle_block(void **state)
{
    struct azure_throttle_limits lim = {.capacity = {100, 100, 100}, .rate = {100, 100, 100}};
    struct azure_throttle *t = azure_throttle_new(&lim);
    int64_t now = clock_mono_ms();
    int64_t wait;

    (void)state;
    azure_throttle_block(t, "s", AZURE_OP_READ, now + 2000);
    wait = azure_throttle_try(t, "s", AZURE_OP_READ, now, NULL);
    assert_true(wait > 1900 && wait <= 2000);
    assert_true(azure_throttle_try(t, "s", AZURE_OP_READ, now + 1999, NULL) > 0);
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_WRITE, now, NULL), 0);
    assert_int_equal(azure_throttle_try(t, "s", AZURE_OP_READ, now + 2001, NULL), 0);
    /* acquire gives up when the wait passes the deadline */
    azure_throttle_block(t, "s", AZURE_OP_DELETE, clock_mono_ms() + 60000);
    assert_int_equal(azure_throttle_acquire(t, "s", AZURE_OP_DELETE, clock_mono_ms() + 10, NULL),
                     ERR_CLOUD_THROTTLED);
    azure_throttle_free(t);
}

static void parse(struct azure_error *e, long status, const char *body)
{
    azure_error_clear(e);
    azure_error_parse(e, status, body, strlen(body));
}

static void test_error_shapes(void **state)
{
    struct azure_error e;
    struct err_detail d;

    (void)state;
    parse(&e, 409,
          "{\"error\":{\"code\":\"RoleAssignmentExists\",\"message\":\"The role "
          "assignment already exists.\"}}");
    assert_string_equal(e.code, "RoleAssignmentExists");
    assert_true(azure_error_is(&e, "roleassignmentexists"));
    assert_int_equal(azure_error_to_err(&e), ERR_CONFLICT);
    azure_error_to_detail(&e, &d);
    assert_string_equal(d.code, "RoleAssignmentExists");

    /* Compute throttling: unwrapped, with details */
    parse(&e, 429,
          "{\"code\":\"OperationNotAllowed\",\"message\":\"too many\",\"details\":"
          "[{\"code\":\"TooManyRequests\",\"target\":\"HighCostGet30Min\"}]}");
    assert_string_equal(e.code, "OperationNotAllowed");
    assert_string_equal(e.inner, "TooManyRequests");
    assert_true(azure_error_is(&e, "TooManyRequests"));
    assert_int_equal(azure_error_to_err(&e), ERR_CLOUD_THROTTLED);

    /* Graph */
    parse(&e, 404,
          "{\"error\":{\"code\":\"Request_ResourceNotFound\",\"message\":\"Resource "
          "'x' does not exist\",\"innerError\":{\"date\":\"d\",\"request-id\":\"r\"}}}");
    assert_string_equal(e.code, "Request_ResourceNotFound");
    assert_int_equal(azure_error_to_err(&e), ERR_NOT_FOUND);
    parse(&e, 429,
          "{\"error\":{\"code\":\"TooManyRequests\",\"innerError\":{\"code\":\"429\","
          "\"message\":\"Please retry after\"},\"message\":\"Please retry again "
          "later.\"}}");
    assert_string_equal(e.inner, "429");

    /* OAuth with error_codes and AADSTS in the description */
    parse(&e, 401,
          "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
          "Invalid client secret provided.\\r\\nTrace ID: x\",\"error_codes\":"
          "[7000215],\"timestamp\":\"t\"}");
    assert_string_equal(e.code, "invalid_client");
    assert_int_equal(e.n_aadsts, 1);
    assert_true(azure_error_has_aadsts(&e, 7000215));
    assert_null(strchr(e.message, '\r'));
    assert_int_equal(azure_error_to_err(&e), ERR_UNAUTHORIZED);

    /* AADSTS only in the description */
    parse(&e, 400, "{\"error\":\"invalid_scope\",\"error_description\":\"AADSTS70011: bad\"}");
    assert_true(azure_error_has_aadsts(&e, 70011));

    /* IMDS */
    parse(&e, 400,
          "{\"error\":\"bad_request_102\",\"error_description\":\"Required metadata "
          "header not specified\"}");
    assert_string_equal(e.code, "bad_request_102");
    assert_int_equal(e.n_aadsts, 0);

    /* LRO failure body */
    parse(&e, 200,
          "{\"status\":\"Failed\",\"error\":{\"code\":\"VMExtensionProvisioningError\","
          "\"message\":\"VM has reported a failure\"}}");
    assert_string_equal(e.code, "VMExtensionProvisioningError");

    /* not JSON at all */
    parse(&e, 502, "<html>Bad Gateway</html>");
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "<html>Bad Gateway</html>");
    assert_int_equal(azure_error_to_err(&e), ERR_CLOUD);
    azure_error_to_detail(&e, &d);
    assert_string_equal(d.code, "Http502");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_cloud),   cmocka_unit_test(test_gov_cloud),
        cmocka_unit_test(test_china_cloud),    cmocka_unit_test(test_custom_cloud),
        cmocka_unit_test(test_url_encode),     cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff_bounds), cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_throttle_block), cmocka_unit_test(test_error_shapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
