/* test_azure_sim.c: the outbound Azure client against the real azsim over TLS: each credential
 * (secret, certificate PS256/RS256, IMDS, workload identity), token refresh, typed reads, and
 * ARM throttling: with azsim's buckets made small, 429s come back, Retry-After is honoured, and
 * /_sim/stats reports no violation. Keys and certificates are generated at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "harness.h"
#include "vmlogind/azure.h"
#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

#define TENANT "8f3c1a2e-0000-4000-8000-00000000aaaa"
#define APP "0a1b2c3d-0000-4000-8000-00000000c001"
#define SECRET "azsim-demo-secret-not-a-credential"
#define SUB1 "5d0f6e8a-0000-4000-8000-00000000bbbb"

static struct sim S;
static bool have_sim;

static void base_cfg(struct azure_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cloud = "custom";
    cfg->arm_url = cfg->login_url = cfg->graph_url = cfg->imds_url = S.p.url;
    cfg->ca_bundle = S.cert;
    cfg->tenant_id = TENANT;
    cfg->client_id = APP;
    cfg->lro_poll_min_ms = 10;
    cfg->retry_backoff_base_ms = 50;
}

static struct azure_client *make(struct azure_config *cfg)
{
    struct azure_client *c = NULL;
    struct err_detail d;

    memset(&d, 0, sizeof(d));
    if (azure_client_new(cfg, &c, &d) != ERR_OK)
        fail_msg("client: %s %s", d.code, d.msg);
    return c;
}

static json_t *sim_call(const char *method, const char *path, const char *body)
{
    char url[256];
    struct resp r;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", S.p.url, path);
    h_http(method, url, body, NULL, &r);
    if (r.status < 200 || r.status > 299)
        fail_msg("%s %s: %ld %s", method, path, r.status, r.body ? r.body : "");
    j = json_incref(r.json);
    h_resp_cleanup(&r);
    return j;
}

static int setup(void **state)
{
    char scen[512];

    (void)state;
    xalloc_init_json();
    azure_global_init();
    snprintf(scen, sizeof(scen), "%s/sim/scenarios/demo.json", SOURCE_DIR);
    have_sim = h_sim_start(&S, scen, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (have_sim)
        h_sim_stop(&S);
    return 0;
}

static enum err count_subs(const struct azure_subscription *s, size_t n, void *arg)
{
    (void)s;
    *(size_t *)arg += n;
    return ERR_OK;
}

static enum err count_vms(const struct azure_vm *v, size_t n, void *arg)
{
    for (size_t i = 0; i < n; i++)
        assert_non_null(v[i].vm_id);
    *(size_t *)arg += n;
    return ERR_OK;
}

/* A few typed reads that need a valid ARM and Graph token. */
static void reads_work(struct azure_client *c)
{
    struct azure_error ae;
    size_t subs = 0;
    size_t vms = 0;
    struct azure_user u;

    assert_int_equal(azure_subscriptions_list(c, count_subs, &subs, &ae), ERR_OK);
    assert_int_equal(subs, 2);
    assert_int_equal(azure_vms_list(c, SUB1, NULL, false, count_vms, &vms, &ae), ERR_OK);
    assert_true(vms > 0);
    assert_int_equal(azure_graph_user_get(c, "dave_fabrikam.example#EXT#@contoso.example", &u, &ae),
                     ERR_OK);
    assert_string_equal(u.user_type, "Guest");
    azure_user_cleanup(&u);
}

static void test_secret(void **state)
{
    struct azure_config cfg;
    struct azure_client *c;
    struct azure_error ae;
    char *tok = NULL;

    (void)state;
    if (!have_sim)
        skip();
    base_cfg(&cfg);
    cfg.client_secret = SECRET;
    c = make(&cfg);
    reads_work(c);
    azure_client_free(c);
    /* a wrong secret: the typed AADSTS error */
    cfg.client_secret = "nope";
    c = make(&cfg);
    assert_int_equal(azure_token_get(c, "https://management.azure.com/.default", &tok, NULL, &ae),
                     ERR_UNAUTHORIZED);
    assert_true(azure_error_has_aadsts(&ae, 7000215));
    azure_client_free(c);
}

static void test_certificate(void **state)
{
    EVP_PKEY *key = jose_rsa_generate(2048);
    X509 *cert = jose_selfsigned_cert(key, "vmlogind-it", 1);
    char dir[256];
    char path[320];
    FILE *fp;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long n;
    json_t *body;
    char *text;
    struct azure_config cfg;
    struct azure_client *c;

    (void)state;
    if (!have_sim)
        skip();
    h_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/client.pem", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
    PEM_write_X509(fp, cert);
    fclose(fp);
    PEM_write_bio_X509(bio, cert);
    n = BIO_get_mem_data(bio, &pem);
    body = json_pack("{s:s, s:s%}", "appId", APP, "certificatePem", pem, (size_t)n);
    text = json_dumps(body, 0);
    json_decref(sim_call("POST", "/_sim/certificates", text));
    free(text);
    json_decref(body);
    BIO_free(bio);
    for (int i = 0; i < 2; i++) {
        base_cfg(&cfg);
        cfg.client_certificate_file = path;
        cfg.client_assertion_alg = i == 0 ? "PS256" : "RS256";
        c = make(&cfg);
        reads_work(c);
        azure_client_free(c);
    }
    unlink(path);
    rmdir(dir);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void test_managed_identity(void **state)
{
    struct azure_config cfg;
    struct azure_client *c;
    struct azure_error ae;
    char *tok = NULL;
    int64_t exp = 0;

    (void)state;
    if (!have_sim)
        skip();
    base_cfg(&cfg);
    cfg.credential = AZURE_CRED_MANAGED_IDENTITY;
    c = make(&cfg);
    assert_int_equal(azure_token_get(c, "https://management.azure.com/.default", &tok, &exp, &ae),
                     ERR_OK);
    assert_true(strlen(tok) > 20);
    assert_true(exp > 0);
    free(tok);
    azure_client_free(c);
}

static void test_workload_identity(void **state)
{
    const char *subject = "system:serviceaccount:vmlogind:daemon";
    char iss[256];
    char body[1024];
    char dir[256];
    char path[320];
    json_t *tok;
    struct azure_config cfg;
    struct azure_client *c;

    (void)state;
    if (!have_sim)
        skip();
    snprintf(iss, sizeof(iss), "%s/federation", S.p.url);
    snprintf(body, sizeof(body),
             "{\"appId\":\"0a1b2c3d-0000-4000-8000-00000000c0f1\",\"displayName\":\"wi\","
             "\"federatedCredentials\":[{\"issuer\":\"%s\",\"subject\":\"%s\",\"audiences\":"
             "[\"api://AzureADTokenExchange\"]}]}",
             iss, subject);
    json_decref(sim_call("POST", "/_sim/apps", body));
    snprintf(body, sizeof(body), "{\"type\":\"federated\",\"sub\":\"%s\"}", subject);
    tok = sim_call("POST", "/_sim/tokens", body);
    h_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/token", dir);
    h_write_file(path, json_string_value(json_object_get(tok, "access_token")));
    json_decref(tok);
    setenv("AZURE_FEDERATED_TOKEN_FILE", path, 1);
    setenv("AZURE_CLIENT_ID", "0a1b2c3d-0000-4000-8000-00000000c0f1", 1);
    setenv("AZURE_TENANT_ID", TENANT, 1);
    base_cfg(&cfg);
    cfg.tenant_id = cfg.client_id = NULL;
    cfg.credential = AZURE_CRED_WORKLOAD_IDENTITY;
    c = make(&cfg);
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    {
        struct azure_error ae;
        char *t = NULL;

        assert_int_equal(azure_token_get(c, "https://management.azure.com/.default", &t, NULL, &ae),
                         ERR_OK);
        free(t);
    }
    azure_client_free(c);
    unlink(path);
    rmdir(dir);
}

static void test_token_refresh(void **state)
{
    struct azure_config cfg;
    struct azure_client *c;
    long before;

    (void)state;
    if (!have_sim)
        skip();
    base_cfg(&cfg);
    cfg.client_secret = SECRET;
    cfg.token_refresh_before_ms = 24L * 3600 * 1000; /* every token is always due for refresh */
    c = make(&cfg);
    reads_work(c);
    before = azure_token_fetch_count(c);
    reads_work(c);
    assert_true(azure_token_fetch_count(c) > before); /* refreshed, and the calls still work */
    azure_client_free(c);
}

static void test_throttle_no_violation(void **state)
{
    struct azure_config cfg;
    struct azure_client *c;
    struct azure_error ae;
    json_t *stats;
    struct azure_metrics_op m;
    struct azure_vm vm;
    char id[256];

    (void)state;
    if (!have_sim)
        skip();
    json_decref(sim_call("POST", "/_sim/stats/reset", "{}"));
    json_decref(
        sim_call("PUT", "/_sim/throttle", "{\"arm\":{\"reads\":{\"burst\":3,\"rate\":2}}}"));
    base_cfg(&cfg);
    cfg.client_secret = SECRET;
    c = make(&cfg); /* its own buckets still think 250: azsim must push back */
    azure_metrics_reset();
    snprintf(id, sizeof(id),
             "/subscriptions/%s/resourceGroups/rg-entra/providers/"
             "Microsoft.Compute/virtualMachines/does-not-matter",
             SUB1);
    for (int i = 0; i < 12; i++) {
        enum err rc = azure_vm_get(c, id, false, &vm, &ae);

        assert_true(rc == ERR_OK || rc == ERR_NOT_FOUND);
        azure_vm_cleanup(&vm);
    }
    azure_metrics_get("vm_get", &m);
    assert_int_equal(m.calls, 12);
    assert_true(m.throttled > 0); /* azsim did throttle... */
    stats = sim_call("GET", "/_sim/stats", NULL);
    assert_true(json_integer_value(json_object_get(stats, "throttled429")) > 0);
    assert_int_equal(json_integer_value(json_object_get(stats, "violations")), 0); /* ...never
                                                                                      ignored */
    json_decref(stats);
    json_decref(
        sim_call("PUT", "/_sim/throttle", "{\"arm\":{\"reads\":{\"burst\":250,\"rate\":25}}}"));
    azure_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret),           cmocka_unit_test(test_certificate),
        cmocka_unit_test(test_managed_identity), cmocka_unit_test(test_workload_identity),
        cmocka_unit_test(test_token_refresh),    cmocka_unit_test(test_throttle_no_violation),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
