/* test_azure_http.c: the request machinery against a scripted fake server on 127.0.0.1: token
 * fetch and cache for secret / IMDS / workload identity, 429 with Retry-After then 200, 503s,
 * a reset connection, the throttle bucket shut after a 429, typed errors, the response cap,
 * paging with an empty page, and LROs through Azure-AsyncOperation, Location and the
 * resource. Waits are checked from the recorded arrival times, never with sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "azure/azure_internal.h"
#include "test_azure_fake.h"
#include "vmlogind/xalloc.h"

static struct fake F;
static char fed_path[256];

static void reply(struct fake_resp *out, int status, const char *body)
{
    fake_resp_json(out, status, body);
}

static void token_endpoint(const struct fake_req *rq, struct fake_resp *out)
{
    char body[256];
    int n = fake_count(&F, "POST", "/t1/oauth2/v2.0/token");

    if (strstr(rq->body, "client_secret=s3cret") == NULL &&
        strstr(rq->body, "client_assertion=fed-") == NULL) {
        reply(out, 401,
              "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
              "Invalid client secret provided.\",\"error_codes\":[7000215]}");
        return;
    }
    snprintf(body, sizeof(body),
             "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"ext_expires_in\":3600,"
             "\"access_token\":\"tok-%d\"}",
             n);
    reply(out, 200, body);
}

static void imds_endpoint(const struct fake_req *rq, struct fake_resp *out)
{
    if (strcasestr(rq->headers, "\r\nMetadata: true") == NULL) {
        reply(out, 400,
              "{\"error\":\"bad_request_102\",\"error_description\":\"Required "
              "metadata header not specified\"}");
        return;
    }
    if (fake_count(&F, "GET", "/metadata/identity/oauth2/token") == 1) {
        reply(out, 410, "");
        return;
    }
    reply(out, 200,
          "{\"access_token\":\"mi-tok\",\"refresh_token\":\"\",\"expires_in\":\"3599\","
          "\"expires_on\":\"1506484173\",\"not_before\":\"1506480273\",\"resource\":"
          "\"x\",\"token_type\":\"Bearer\"}");
}

/* n-th call (1-based) of this method+path */
static int nth(const struct fake_req *rq)
{
    char key[2048];
    char *q;

    snprintf(key, sizeof(key), "%s", rq->path);
    q = strchr(key, '?');
    if (q != NULL)
        *q = '\0';
    return fake_count(&F, rq->method, key);
}

static void with_link(struct fake_resp *out, const char *hdr, const char *path, int status)
{
    char line[256];

    snprintf(line, sizeof(line), "%s: %s%s", hdr, F.url, path);
    fake_header(out, line);
    fake_header(out, "Retry-After: 0");
    out->status = status;
}

static void page(struct fake_resp *out, const char *items, const char *next_key, const char *next)
{
    char body[512];

    if (next != NULL)
        snprintf(body, sizeof(body), "{\"value\":[%s],\"%s\":\"%s%s\"}", items, next_key, F.url,
                 next);
    else
        snprintf(body, sizeof(body), "{\"value\":[%s]}", items);
    reply(out, 200, body);
}

static void lro_routes(const struct fake_req *rq, struct fake_resp *out, int k)
{
    const char *p = rq->path;

    if (strcmp(rq->method, "PUT") == 0 && strncmp(p, "/lro/res", 8) == 0) {
        reply(out, 201, "{\"properties\":{\"provisioningState\":\"Creating\"}}");
        with_link(out, "Azure-AsyncOperation", "/lro/op1", 201);
    } else if (strncmp(p, "/lro/op1", 8) == 0) {
        reply(out, 200, k < 3 ? "{\"status\":\"InProgress\"}" : "{\"status\":\"succeeded\"}");
        fake_header(out, "Retry-After: 0");
    } else if (strncmp(p, "/lro/res", 8) == 0) {
        reply(out, 200, "{\"name\":\"res\",\"properties\":{\"provisioningState\":\"Succeeded\"}}");
    } else if (strncmp(p, "/lro/del", 8) == 0) {
        with_link(out, "Location", "/lro/loc1", 202);
    } else if (strncmp(p, "/lro/loc1", 9) == 0) {
        out->status = k < 3 ? 202 : 204;
        fake_header(out, "Retry-After: 0");
    } else if (strncmp(p, "/lro/fail", 9) == 0) {
        with_link(out, "Azure-AsyncOperation", "/lro/op2", 200);
    } else if (strncmp(p, "/lro/op2", 8) == 0) {
        reply(out, 200,
              "{\"status\":\"Failed\",\"error\":{\"code\":\"VMExtensionProvisioningError\","
              "\"message\":\"VM has reported a failure\"}}");
    } else if (strncmp(p, "/lro/cancel", 11) == 0) {
        with_link(out, "Azure-AsyncOperation", "/lro/op3", 201);
    } else if (strncmp(p, "/lro/op3", 8) == 0) {
        reply(out, 200, "{\"status\":\"Cancelled\",\"error\":{\"code\":\"OperationPreempted\"}}");
    } else if (strncmp(p, "/lro/rsrc", 9) == 0) {
        reply(out, strcmp(rq->method, "PUT") == 0 ? 201 : 200,
              k < 2 || strcmp(rq->method, "PUT") == 0
                  ? "{\"properties\":{\"provisioningState\":\"Updating\"}}"
                  : "{\"properties\":{\"provisioningState\":\"Succeeded\"}}");
    } else {
        reply(out, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"no\"}}");
    }
}

static void handler(struct fake *f, const struct fake_req *rq, int n, struct fake_resp *out)
{
    const char *p = rq->path;
    int k = nth(rq);
    char big[4096];

    (void)f;
    (void)n;
    if (strncmp(p, "/t1/oauth2/v2.0/token", 21) == 0) {
        token_endpoint(rq, out);
    } else if (strncmp(p, "/metadata/identity/oauth2/token", 31) == 0) {
        imds_endpoint(rq, out);
    } else if (strncmp(p, "/r429", 5) == 0 || strncmp(p, "/always429", 10) == 0) {
        if (k == 1 || p[1] == 'a') {
            reply(out, 429,
                  "{\"error\":{\"code\":\"SubscriptionRequestsThrottled\",\"message\":"
                  "\"Number of 'read' requests exceeded.\"}}");
            fake_header(out, "Retry-After: 1");
        } else {
            reply(out, 200, "{}");
        }
    } else if (strncmp(p, "/g429", 5) == 0) {
        reply(out, k == 1 ? 429 : 200, "{}");
        fake_header(out, "Retry-After: 0.3");
    } else if (strncmp(p, "/r503", 5) == 0) {
        reply(out, k <= 2 ? 503 : 200, "{}");
    } else if (strncmp(p, "/reset", 6) == 0 || strncmp(p, "/post-reset", 11) == 0) {
        out->reset = k == 1 || p[1] == 'p';
        reply(out, 200, "{}");
    } else if (strncmp(p, "/conflict", 9) == 0) {
        reply(out, 409,
              "{\"error\":{\"code\":\"RoleAssignmentExists\",\"message\":\"The role "
              "assignment already exists.\"}}");
    } else if (strncmp(p, "/big", 4) == 0) {
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        reply(out, 200, big);
    } else if (strncmp(p, "/ok", 3) == 0) {
        reply(out, 200, "{\"ok\":true}");
        fake_header(out, "x-ms-ratelimit-remaining-subscription-reads: 2");
    } else if (strncmp(p, "/page1", 6) == 0) {
        page(out, "1,2", "nextLink", "/page2?$skipToken=a");
    } else if (strncmp(p, "/page2", 6) == 0) {
        page(out, "", "nextLink", "/page3?$skipToken=b");
    } else if (strncmp(p, "/page3", 6) == 0) {
        page(out, "3", "nextLink", NULL);
    } else if (strncmp(p, "/gpage1", 7) == 0) {
        page(out, "\"a\"", "@odata.nextLink", "/gpage2");
    } else if (strncmp(p, "/gpage2", 7) == 0) {
        page(out, "\"b\",\"c\"", "@odata.nextLink", NULL);
    } else if (strncmp(p, "/loop", 5) == 0) {
        page(out, "1", "nextLink", "/loop");
    } else {
        lro_routes(rq, out, k);
    }
}

static struct azure_client *client_with(struct azure_config *cfg)
{
    struct azure_client *c = NULL;
    struct err_detail d;

    memset(&d, 0, sizeof(d));

    cfg->cloud = "custom";
    cfg->arm_url = cfg->login_url = cfg->graph_url = F.url;
    cfg->imds_url = F.url;
    if (cfg->tenant_id == NULL)
        cfg->tenant_id = "t1";
    if (cfg->client_id == NULL)
        cfg->client_id = "c1";
    if (cfg->retry_backoff_base_ms == 0)
        cfg->retry_backoff_base_ms = 10;
    cfg->retry_backoff_max_ms = 50;
    cfg->lro_poll_min_ms = 1;
    cfg->lro_poll_default_ms = 5;
    cfg->timeout_ms = 5000;
    if (azure_client_new(cfg, &c, &d) != ERR_OK)
        fail_msg("client: %s %s", d.code, d.msg);
    return c;
}

static struct azure_client *secret_client(void)
{
    struct azure_config cfg = {.credential = AZURE_CRED_SECRET, .client_secret = "s3cret"};

    return client_with(&cfg);
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
    if (fed_path[0] != '\0')
        unlink(fed_path);
    return 0;
}

static enum err get(struct azure_client *c, const char *path, const char *sub, enum azure_api api,
                    struct azure_response *rs, struct azure_error *ae)
{
    char url[256];
    struct azure_request rq = {
        .method = "GET", .url = url, .api = api, .op = "test_get", .subscription = sub};

    snprintf(url, sizeof(url), "%s%s", F.url, path);
    return azure_http_send(c, &rq, rs, ae);
}

static void test_secret_token_and_cache(void **state)
{
    struct azure_client *c = secret_client();
    struct azure_error ae;
    char *tok = NULL;
    const struct fake_req *r;
    int before = fake_count(&F, "POST", "/t1/oauth2/v2.0/token");

    (void)state;
    assert_int_equal(azure_token_get(c, azure_client_cloud(c)->arm_scope, &tok, NULL, &ae), ERR_OK);
    assert_non_null(strstr(tok, "tok-"));
    free(tok);
    assert_int_equal(azure_token_get(c, azure_client_cloud(c)->arm_scope, &tok, NULL, &ae), ERR_OK);
    free(tok);
    assert_int_equal(azure_token_fetch_count(c), 1);
    assert_int_equal(fake_count(&F, "POST", "/t1/oauth2/v2.0/token"), before + 1);
    r = fake_nth(&F, "/t1/oauth2/v2.0/token", before);
    assert_non_null(strstr(r->body, "client_id=c1"));
    assert_non_null(strstr(r->body, "grant_type=client_credentials"));
    assert_non_null(strstr(r->body, "scope=https%3A%2F%2Fmanagement.azure.com%2F.default"));
    assert_non_null(strcasestr(r->headers, "application/x-www-form-urlencoded"));
    /* a second scope has its own token */
    assert_int_equal(azure_token_get(c, azure_client_cloud(c)->graph_scope, &tok, NULL, &ae),
                     ERR_OK);
    free(tok);
    azure_client_free(c);
}

static void test_token_refresh(void **state)
{
    struct azure_config cfg = {.credential = AZURE_CRED_SECRET,
                               .client_secret = "s3cret",
                               .token_refresh_before_ms = 3599500};
    struct azure_client *c = client_with(&cfg);
    struct azure_error ae;
    char *tok = NULL;
    int64_t deadline = clock_mono_ms() + 60000; /* generous: this runs under valgrind too */

    (void)state;
    assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
    free(tok);
    assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
    free(tok);
    assert_int_equal(azure_token_fetch_count(c), 1); /* still fresh: cached */
    while (azure_token_fetch_count(c) < 2 && clock_mono_ms() < deadline) {
        assert_int_equal(azure_token_get(c, "s/.default", &tok, NULL, &ae), ERR_OK);
        free(tok);
    }
    assert_int_equal(azure_token_fetch_count(c), 2); /* refreshed ahead of expiry */
    azure_client_free(c);
}

static void test_bad_secret(void **state)
{
    struct azure_config cfg = {.credential = AZURE_CRED_SECRET, .client_secret = "wrong"};
    struct azure_client *c = client_with(&cfg);
    struct azure_response rs;
    struct azure_error ae;

    (void)state;
    assert_int_equal(get(c, "/ok", "s1", AZURE_API_ARM, &rs, &ae), ERR_UNAUTHORIZED);
    assert_string_equal(ae.code, "invalid_client");
    assert_true(azure_error_has_aadsts(&ae, 7000215));
    assert_int_equal(ae.attempts, 1); /* 401 is not retried */
    azure_response_cleanup(&rs);
    azure_client_free(c);
}

static void test_imds(void **state)
{
    struct azure_config cfg = {.credential = AZURE_CRED_MANAGED_IDENTITY};
    struct azure_client *c = client_with(&cfg);
    struct azure_error ae;
    char *tok = NULL;
    int64_t exp = 0;
    const struct fake_req *r;

    (void)state;
    assert_int_equal(azure_token_get(c, "https://management.azure.com/.default", &tok, &exp, &ae),
                     ERR_OK);
    assert_string_equal(tok, "mi-tok");
    assert_true(exp > clock_now_ms() + 3500 * 1000);
    free(tok);
    assert_int_equal(fake_count(&F, "GET", "/metadata/identity/oauth2/token"), 2); /* 410, 200 */
    r = fake_nth(&F, "/metadata/identity/oauth2/token", 1);
    assert_non_null(strstr(r->path, "api-version=2018-02-01"));
    assert_non_null(strstr(r->path, "resource=https%3A%2F%2Fmanagement.azure.com%2F"));
    azure_client_free(c);
}

static void write_fed(const char *text)
{
    FILE *fp = fopen(fed_path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_workload_identity(void **state)
{
    struct azure_config cfg = {.credential = AZURE_CRED_WORKLOAD_IDENTITY};
    struct azure_client *c;
    struct azure_error ae;
    char *tok = NULL;
    int n0 = fake_count(&F, "POST", "/t1/oauth2/v2.0/token");
    const struct fake_req *r;

    (void)state;
    snprintf(fed_path, sizeof(fed_path), "/tmp/azure-fed-%d", (int)getpid());
    write_fed("fed-one\n");
    setenv("AZURE_FEDERATED_TOKEN_FILE", fed_path, 1);
    setenv("AZURE_CLIENT_ID", "wi-client", 1);
    cfg.tenant_id = "t1";
    cfg.client_id = "";
    c = client_with(&cfg);
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    assert_int_equal(azure_token_get(c, "a/.default", &tok, NULL, &ae), ERR_OK);
    free(tok);
    write_fed("fed-two");
    assert_int_equal(azure_token_get(c, "b/.default", &tok, NULL, &ae), ERR_OK);
    free(tok);
    r = fake_nth(&F, "/t1/oauth2/v2.0/token", n0);
    assert_non_null(strstr(r->body, "client_assertion=fed-one"));
    assert_non_null(strstr(r->body, "client_id=wi-client"));
    assert_non_null(strstr(r->body, "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
                                    "assertion-type%3Ajwt-bearer"));
    r = fake_nth(&F, "/t1/oauth2/v2.0/token", n0 + 1);
    assert_non_null(strstr(r->body, "client_assertion=fed-two")); /* re-read every time */
    azure_client_free(c);
}

static void test_429_retry_after(void **state)
{
    struct azure_client *c = secret_client();
    struct azure_response rs;
    struct azure_error ae;
    struct azure_metrics_op m;
    const struct fake_req *a;
    const struct fake_req *b;

    (void)state;
    azure_metrics_reset();
    assert_int_equal(get(c, "/r429", "subA", AZURE_API_ARM, &rs, &ae), ERR_OK);
    assert_int_equal(rs.status, 200);
    a = fake_nth(&F, "/r429", 0);
    b = fake_nth(&F, "/r429", 1);
    assert_true(b->at_ms - a->at_ms >= 1000); /* Retry-After: 1 honoured */
    assert_non_null(strcasestr(a->headers, "x-ms-client-request-id: "));
    assert_non_null(strcasestr(a->headers, "Authorization: Bearer tok-"));
    azure_metrics_get("test_get", &m);
    assert_int_equal(m.calls, 1);
    assert_int_equal(m.retries, 1);
    assert_int_equal(m.throttled, 1);
    assert_int_equal(m.errors, 0);
    azure_response_cleanup(&rs);
    /* Graph sends decimal Retry-After */
    assert_int_equal(get(c, "/g429", NULL, AZURE_API_GRAPH, &rs, &ae), ERR_OK);
    a = fake_nth(&F, "/g429", 0);
    b = fake_nth(&F, "/g429", 1);
    assert_true(b->at_ms - a->at_ms >= 300);
    azure_response_cleanup(&rs);
    azure_client_free(c);
}

static void test_bucket_shut_after_429(void **state)
{
    struct azure_config cfg = {
        .credential = AZURE_CRED_SECRET, .client_secret = "s3cret", .retry_max_attempts = 1};
    struct azure_client *c = client_with(&cfg);
    struct azure_response rs;
    struct azure_error ae;
    const struct fake_req *t429;
    const struct fake_req *ok;
    int n_ok = fake_count(&F, "GET", "/ok");

    (void)state;
    assert_int_equal(get(c, "/always429", "subB", AZURE_API_ARM, &rs, &ae), ERR_CLOUD_THROTTLED);
    assert_string_equal(ae.code, "SubscriptionRequestsThrottled");
    assert_int_equal(ae.retry_after_ms, 1000);
    azure_response_cleanup(&rs);
    /* another subscription is not held back */
    assert_int_equal(get(c, "/ok?x=1", "subC", AZURE_API_ARM, &rs, &ae), ERR_OK);
    azure_response_cleanup(&rs);
    /* the same subscription's read bucket stays shut until Retry-After passed */
    assert_int_equal(get(c, "/ok?x=2", "SUBB", AZURE_API_ARM, &rs, &ae), ERR_OK);
    azure_response_cleanup(&rs);
    t429 = fake_nth(&F, "/always429", fake_count(&F, "GET", "/always429") - 1);
    ok = fake_nth(&F, "/ok", n_ok + 1);
    if (ok == NULL || t429 == NULL)
        fail(); /* and tells gcc -O2 the pointers are not NULL below */
    assert_non_null(strstr(ok->path, "x=2"));
    assert_true(ok->at_ms - t429->at_ms >= 1000);
    /* the remaining-reads header (2) capped the bucket */
    assert_true(azure_throttle_tokens(c->arm_throttle, "subB", AZURE_OP_READ, clock_mono_ms()) <
                3.0);
    azure_client_free(c);
}

static void test_503_and_reset(void **state)
{
    struct azure_client *c = secret_client();
    struct azure_response rs;
    struct azure_error ae;
    char url[128];
    struct azure_request post = {.method = "POST", .url = url, .body = "{}", .op = "test_post"};

    (void)state;
    assert_int_equal(get(c, "/r503", "s1", AZURE_API_ARM, &rs, &ae), ERR_OK);
    assert_int_equal(ae.attempts, 3);
    azure_response_cleanup(&rs);
    assert_int_equal(get(c, "/reset", "s1", AZURE_API_ARM, &rs, &ae), ERR_OK);
    assert_int_equal(ae.attempts, 2);
    azure_response_cleanup(&rs);
    /* a POST is not idempotent: a reset after sending is not retried */
    snprintf(url, sizeof(url), "%s/post-reset", F.url);
    assert_int_equal(azure_http_send(c, &post, &rs, &ae), ERR_CLOUD);
    assert_int_equal(ae.attempts, 1);
    assert_int_equal(ae.status, 0);
    assert_true(ae.transport != 0);
    azure_response_cleanup(&rs);
    azure_client_free(c);
}

static void test_errors_and_cap(void **state)
{
    struct azure_config cfg = {
        .credential = AZURE_CRED_SECRET, .client_secret = "s3cret", .max_response_bytes = 1024};
    struct azure_client *c = client_with(&cfg);
    struct azure_response rs;
    struct azure_error ae;
    struct err_detail d;

    (void)state;
    assert_int_equal(get(c, "/conflict", "s1", AZURE_API_ARM, &rs, &ae), ERR_CONFLICT);
    assert_true(azure_error_is(&ae, "RoleAssignmentExists"));
    assert_int_equal(ae.attempts, 1);
    azure_error_to_detail(&ae, &d);
    assert_string_equal(d.code, "RoleAssignmentExists");
    azure_response_cleanup(&rs);
    assert_int_equal(get(c, "/nothing-here", "s1", AZURE_API_ARM, &rs, &ae), ERR_NOT_FOUND);
    assert_string_equal(ae.code, "ResourceNotFound");
    azure_response_cleanup(&rs);
    assert_int_equal(get(c, "/big", "s1", AZURE_API_ARM, &rs, &ae), ERR_TOO_LARGE);
    assert_int_equal(ae.attempts, 1);
    azure_response_cleanup(&rs);
    azure_client_free(c);
}

struct collected {
    int pages;
    int items;
};

static enum err collect(const json_t *value, void *arg)
{
    struct collected *k = arg;

    k->pages++;
    k->items += (int)json_array_size(value);
    return ERR_OK;
}

static void test_paging(void **state)
{
    struct azure_client *c = secret_client();
    struct azure_error ae;
    char url[128];
    struct azure_request rq = {.method = "GET", .url = url, .op = "test_page"};
    struct collected k = {0};

    (void)state;
    snprintf(url, sizeof(url), "%s/page1", F.url);
    assert_int_equal(azure_page_each(c, &rq, collect, &k, &ae), ERR_OK);
    assert_int_equal(k.pages, 3); /* the empty middle page did not end it */
    assert_int_equal(k.items, 3);
    assert_non_null(strstr(fake_nth(&F, "/page3", 0)->path, "$skipToken=b"));
    memset(&k, 0, sizeof(k));
    snprintf(url, sizeof(url), "%s/gpage1", F.url);
    rq.api = AZURE_API_GRAPH;
    assert_int_equal(azure_page_each(c, &rq, collect, &k, &ae), ERR_OK);
    assert_int_equal(k.pages, 2);
    assert_int_equal(k.items, 3);
    snprintf(url, sizeof(url), "%s/loop", F.url);
    assert_int_equal(azure_page_each(c, &rq, collect, &k, &ae), ERR_CLOUD);
    assert_string_equal(ae.code, "NextLinkLoop");
    azure_client_free(c);
}

static enum err begin(struct azure_client *c, const char *method, const char *path,
                      struct azure_lro *l, struct azure_error *ae)
{
    char url[128];
    struct azure_request rq = {.method = method,
                               .url = url,
                               .op = "test_lro",
                               .subscription = "s9",
                               .body = strcmp(method, "DELETE") != 0 ? "{}" : NULL};
    struct azure_response rs;
    enum err rc;

    snprintf(url, sizeof(url), "%s%s", F.url, path);
    rc = azure_lro_begin(c, &rq, l, &rs, ae);
    azure_response_cleanup(&rs);
    return rc;
}

static void test_lro_async_op(void **state)
{
    struct azure_client *c = secret_client();
    struct azure_lro l;
    struct azure_lro resumed;
    struct azure_response fin;
    struct azure_error ae;
    struct buf enc;

    (void)state;
    assert_int_equal(begin(c, "PUT", "/lro/res", &l, &ae), ERR_OK);
    assert_int_equal(l.kind, AZURE_LRO_ASYNC_OP);
    assert_int_equal(l.state, AZURE_LRO_RUNNING);
    assert_int_equal(l.retry_after_ms, 0);
    /* non-blocking form: persist, "restart", resume from the stored URL */
    buf_init(&enc, 4096);
    assert_int_equal(azure_lro_encode(&l, &enc), ERR_OK);
    azure_lro_cleanup(&l);
    assert_int_equal(azure_lro_decode(enc.data, &resumed), ERR_OK);
    buf_cleanup(&enc);
    assert_int_equal(azure_lro_poll(c, &resumed, &ae), ERR_OK);
    assert_int_equal(resumed.state, AZURE_LRO_RUNNING);
    assert_int_equal(azure_lro_wait(c, &resumed, 10000, &fin, &ae), ERR_OK);
    assert_int_equal(resumed.state, AZURE_LRO_SUCCEEDED);
    assert_int_equal(fake_count(&F, "GET", "/lro/op1"), 3);
    assert_non_null(strstr(fin.body.data, "\"res\"")); /* final GET of the resource */
    azure_response_cleanup(&fin);
    azure_lro_cleanup(&resumed);
    azure_client_free(c);
}

static void test_lro_location_and_failures(void **state)
{
    struct azure_client *c = secret_client();
    struct azure_lro l;
    struct azure_error ae;
    struct azure_response fin;

    (void)state;
    assert_int_equal(begin(c, "DELETE", "/lro/del", &l, &ae), ERR_OK);
    assert_int_equal(l.kind, AZURE_LRO_LOCATION);
    assert_int_equal(azure_lro_wait(c, &l, 10000, NULL, &ae), ERR_OK);
    assert_int_equal(fake_count(&F, "GET", "/lro/loc1"), 3);
    azure_lro_cleanup(&l);

    assert_int_equal(begin(c, "PUT", "/lro/fail", &l, &ae), ERR_OK);
    assert_int_equal(azure_lro_wait(c, &l, 10000, NULL, &ae), ERR_CLOUD);
    assert_int_equal(l.state, AZURE_LRO_FAILED);
    assert_string_equal(ae.code, "VMExtensionProvisioningError");
    azure_lro_cleanup(&l);

    assert_int_equal(begin(c, "PUT", "/lro/cancel", &l, &ae), ERR_OK);
    assert_int_equal(azure_lro_wait(c, &l, 10000, NULL, &ae), ERR_CLOUD);
    assert_int_equal(l.state, AZURE_LRO_CANCELED);
    assert_true(azure_error_is(&ae, "OperationPreempted"));
    azure_lro_cleanup(&l);

    /* no header: follow the resource's provisioningState */
    assert_int_equal(begin(c, "PUT", "/lro/rsrc", &l, &ae), ERR_OK);
    assert_int_equal(l.kind, AZURE_LRO_RESOURCE);
    assert_int_equal(azure_lro_wait(c, &l, 10000, &fin, &ae), ERR_OK);
    assert_non_null(strstr(fin.body.data, "Succeeded"));
    azure_response_cleanup(&fin);
    azure_lro_cleanup(&l);
    azure_client_free(c);
}

static void test_metrics_render(void **state)
{
    struct buf b;

    (void)state;
    azure_metrics_record("vm_list", 3, 1, false, 1500);
    buf_init(&b, 1 << 20);
    assert_int_equal(azure_metrics_render(&b), ERR_OK);
    assert_non_null(strstr(b.data, "# TYPE vmlogind_azure_requests_total counter"));
    assert_non_null(strstr(b.data, "vmlogind_azure_retries_total{op=\"vm_list\"} 2"));
    assert_non_null(strstr(b.data, "vmlogind_azure_throttled_total{op=\"vm_list\"} 1"));
    assert_non_null(strstr(b.data, "vmlogind_azure_request_duration_seconds_sum{op=\"vm_list\"} "
                                   "1.5"));
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_token_and_cache),
        cmocka_unit_test(test_token_refresh),
        cmocka_unit_test(test_bad_secret),
        cmocka_unit_test(test_imds),
        cmocka_unit_test(test_workload_identity),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_bucket_shut_after_429),
        cmocka_unit_test(test_503_and_reset),
        cmocka_unit_test(test_errors_and_cap),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_lro_async_op),
        cmocka_unit_test(test_lro_location_and_failures),
        cmocka_unit_test(test_metrics_render),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
