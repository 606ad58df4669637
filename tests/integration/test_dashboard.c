/* The dashboard as the daemon serves it: index.html at / with the strict CSP, X-Frame-Options,
 * nosniff and no-cache; its assets under the content-hashed path, immutable, and another hash
 * 404; GET /v1/me tells a scoped reader who it is and refuses the anonymous; the VM list's name
 * search refuses an empty or oversized name naming the parameter; the Audit view's chain
 * verification answers an administrator and refuses a reader; GET /v1/auth/config offers API
 * keys only until dashboard_client_id is set, then the authority, endpoints, client id and
 * scope, and the page's CSP admits the authority's origin for the token request; the client
 * secret's configured expiry and the latency per route template reach /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define SCOPE "/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb/resourceGroups/rg-a"
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

struct ctx {
    struct daemon d;
    char reader[128];
    char admin[128];
};

static int setup(void **state)
{
    static struct ctx c;
    const char *scopes[] = {SCOPE, NULL};

    memset(&c, 0, sizeof(c));
    if (!h_daemon_start(&c.d, NULL, NULL))
        return -1;
    h_daemon_key(&c.d, "reader", scopes, c.reader, sizeof(c.reader));
    h_daemon_key(&c.d, "administrator", NULL, c.admin, sizeof(c.admin));
    *state = &c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    return h_daemon_stop(&c->d) == 0 ? 0 : -1;
}

static void assert_header(const struct resp *r, const char *name, const char *want)
{
    char v[512];
    assert_true(h_resp_header(r, name, v, sizeof(v)));
    assert_string_equal(v, want);
}

static void test_index_and_assets(void **state)
{
    struct ctx *c = *state;
    char url[512], asset[256];
    struct resp r;
    const char *p, *q;

    snprintf(url, sizeof(url), "%s/", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_header(&r, "Content-Security-Policy", CSP);
    assert_header(&r, "X-Frame-Options", "DENY");
    assert_header(&r, "X-Content-Type-Options", "nosniff");
    assert_header(&r, "Cache-Control", "no-cache");
    assert_header(&r, "Content-Type", "text/html; charset=utf-8");
    assert_null(strstr(r.body, "@ASSETS@"));
    assert_null(strstr(r.body, "<script>")); /* no inline script */
    p = strstr(r.body, "src=\"/assets/");
    assert_non_null(p);
    p += strlen("src=\"");
    q = strchr(p, '"');
    assert_true(q != NULL && (size_t)(q - p) < sizeof(asset));
    memcpy(asset, p, (size_t)(q - p));
    asset[q - p] = '\0';
    h_resp_cleanup(&r);

    snprintf(url, sizeof(url), "%s%s", c->d.p.url, asset);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_header(&r, "Cache-Control", "public, max-age=31536000, immutable");
    assert_header(&r, "Content-Type", "text/javascript; charset=utf-8");
    assert_header(&r, "X-Content-Type-Options", "nosniff");
    h_resp_cleanup(&r);

    /* another build's hash, an unknown file, and index.html as an asset: 404 problem+json */
    snprintf(url, sizeof(url), "%s/assets/0123456789abcdef/app.js", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 404);
    assert_string_equal(h_jstr(r.json, "code"), "not_found");
    h_resp_cleanup(&r);
    snprintf(url, sizeof(url), "%s%s", c->d.p.url, asset);
    snprintf(strrchr(url, '/'), 16, "/index.html");
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 404);
    h_resp_cleanup(&r);
    snprintf(strrchr(url, '/'), 16, "/nope.js");
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 404);
    h_resp_cleanup(&r);
}

static void test_me(void **state)
{
    struct ctx *c = *state;
    json_t *me = h_api(c->d.p.url, c->reader, "GET", "/v1/me", NULL, 200);
    char url[256], *text;
    struct resp r;

    assert_string_equal(h_jstr(me, "role"), "reader");
    assert_string_equal(h_jstr(me, "kind"), "apiKey");
    assert_true(strncmp(h_jstr(me, "subject"), "key:", 4) == 0);
    assert_true(json_is_false(json_object_get(me, "unlimited")));
    assert_int_equal(json_array_size(json_object_get(me, "scopes")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(me, "scopes"), 0)),
                        "/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb/resourcegroups/rg-a");
    text = json_dumps(me, 0);
    assert_null(strstr(text, "vlk_")); /* never the key itself */
    free(text);
    json_decref(me);
    snprintf(url, sizeof(url), "%s/v1/me", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 401);
    h_resp_cleanup(&r);
}

static void test_vm_name_search_limits(void **state)
{
    struct ctx *c = *state;
    char path[600], *text;
    json_t *j;

    j = h_api(c->d.p.url, c->reader, "GET", "/v1/virtualMachines?name=", NULL, 400);
    text = json_dumps(j, 0);
    assert_non_null(strstr(text, "\"field\": \"name\""));
    free(text);
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/virtualMachines?name=%0300d", 7);
    json_decref(h_api(c->d.p.url, c->reader, "GET", path, NULL, 400));
    j = h_api(c->d.p.url, c->reader, "GET", "/v1/virtualMachines?name=web", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "value")), 0);
    json_decref(j);
}

/* The audit chain verified on demand: intact after the keys' records; a reader is refused. */
static void test_audit_verification(void **state)
{
    struct ctx *c = *state;
    json_t *v = h_api(c->d.p.url, c->admin, "GET", "/v1/audit/verification", NULL, 200);

    assert_true(json_is_true(json_object_get(v, "intact")));
    assert_true(json_integer_value(json_object_get(v, "rows")) >= 2);
    assert_int_equal(json_integer_value(json_object_get(v, "brokenSeq")), 0);
    assert_null(json_object_get(v, "code"));
    json_decref(v);
    json_decref(h_api(c->d.p.url, c->reader, "GET", "/v1/audit/verification", NULL, 403));
}

static void test_auth_config(void **state)
{
    struct ctx *c = *state;
    struct daemon d;
    char url[512];
    struct resp r;
    json_t *e;

    snprintf(url, sizeof(url), "%s/v1/auth/config", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200); /* public */
    assert_true(json_is_true(json_object_get(r.json, "apiKey")));
    assert_true(json_is_null(json_object_get(r.json, "entra")));
    h_resp_cleanup(&r);

    assert_true(
        h_daemon_start(&d,
                       "api_audience = api://vmlogind-x, 0a1b2c3d-0000-4000-8000-000000000001\n"
                       "tenant_id = 8f3c1a2e-0000-4000-8000-00000000aaaa\n"
                       "api_login_url = https://127.0.0.1:9/\n"
                       "dashboard_client_id = 0a1b2c3d-0000-4000-8000-00000000c009\n",
                       NULL));
    snprintf(url, sizeof(url), "%s/v1/auth/config", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    e = json_object_get(r.json, "entra");
    assert_string_equal(h_jstr(e, "authority"),
                        "https://127.0.0.1:9/8f3c1a2e-0000-4000-8000-00000000aaaa");
    assert_string_equal(h_jstr(e, "authorizeUrl"), "https://127.0.0.1:9/8f3c1a2e-0000-4000-8000-"
                                                   "00000000aaaa/oauth2/v2.0/authorize");
    assert_string_equal(h_jstr(e, "tokenUrl"), "https://127.0.0.1:9/8f3c1a2e-0000-4000-8000-"
                                               "00000000aaaa/oauth2/v2.0/token");
    assert_string_equal(h_jstr(e, "clientId"), "0a1b2c3d-0000-4000-8000-00000000c009");
    assert_string_equal(h_jstr(e, "scope"), "api://vmlogind-x/.default");
    h_resp_cleanup(&r);
    snprintf(url, sizeof(url), "%s/", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_header(&r, "Content-Security-Policy",
                  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' "
                  "https://127.0.0.1:9; img-src 'self' data:; frame-ancestors 'none'; base-uri "
                  "'none'; form-action 'self'");
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

/* Latency per route in /metrics: a histogram labelled with the route template (a principal in
 * the path does not make a series of its own), for each route that served requests. */
static void test_route_latency(void **state)
{
    struct ctx *c = *state;
    char url[512], auth[256];
    const char *hdrs[] = {auth, NULL};
    struct resp r;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->admin);
    for (int i = 0; i < 2; i++) {
        snprintf(url, sizeof(url), "%s/v1/principals/%s%%40contoso.example/access", c->d.p.url,
                 i ? "bob" : "alice");
        assert_true(h_http("GET", url, NULL, hdrs, &r) > 0);
        h_resp_cleanup(&r);
    }
    snprintf(url, sizeof(url), "%s/metrics", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_non_null(
        strstr(r.body, "# TYPE vmlogind_http_route_request_duration_seconds histogram"));
    assert_non_null(strstr(r.body, "vmlogind_http_route_request_duration_seconds_count{method="
                                   "\"GET\",route=\"/v1/principals/{principal}/access\"} 2\n"));
    assert_non_null(strstr(r.body,
                           "vmlogind_http_route_request_duration_seconds_bucket{method="
                           "\"GET\",route=\"/v1/principals/{principal}/access\",le=\"+Inf\"} "
                           "2\n"));
    assert_null(strstr(r.body, "alice"));
    h_resp_cleanup(&r);
}

/* client_secret_expires_at reaches /metrics as the secret's expiry (the alert rule's input); a
 * value that is not an RFC 3339 time is refused by --check-config. */
static void test_secret_expiry_metric(void **state)
{
    struct daemon d;
    char url[512];
    struct resp r;
    char *out = NULL;
    const char *check[] = {"--check-config", NULL};
    (void)state;

    assert_true(h_daemon_start(&d, "client_secret_expires_at = 2027-03-31T00:00:00Z\n", NULL));
    snprintf(url, sizeof(url), "%s/metrics", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "# TYPE vmlogind_client_secret_expiry_timestamp_seconds gauge\n"
                                   "vmlogind_client_secret_expiry_timestamp_seconds 1806451200\n"));
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
    h_write_file(d.config, "client_secret_expires_at = next spring\n");
    assert_int_not_equal(h_daemon_run(&d, check, &out), 0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_and_assets),      cmocka_unit_test(test_me),
        cmocka_unit_test(test_vm_name_search_limits), cmocka_unit_test(test_audit_verification),
        cmocka_unit_test(test_auth_config),           cmocka_unit_test(test_secret_expiry_metric),
        cmocka_unit_test(test_route_latency),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
