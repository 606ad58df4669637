/* test_sim_rules.c: azsim's rules, each as a request against the real binary (demo scenario,
 * page size 2, instant operations) and the exact answer: Entra tokens and assertions, ARM
 * authentication and api-version, paging, identity PATCH, extension rules and failure codes,
 * role assignment rules, Graph, IMDS, throttling and violations, scenario validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "harness.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define SUB1 "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define TENANT "8f3c1a2e-0000-4000-8000-00000000aaaa"
#define APP "0a1b2c3d-0000-4000-8000-00000000c001"
#define SECRET "azsim-demo-secret-not-a-credential"
#define RG1 "/subscriptions/" SUB1 "/resourceGroups/rg-entra"
#define VMS RG1 "/providers/Microsoft.Compute/virtualMachines/"
#define CV "api-version=2024-07-01"
#define AV "api-version=2022-04-01"
#define ALICE "6b7c8d9e-0000-4000-8000-00000000d001"
#define CAROL "6b7c8d9e-0000-4000-8000-00000000d003"
#define ADMIN_ROLE "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define USER_ROLE "fb879df8-f326-4884-b1cf-06f3ad86be52"
/* the demo app's service principal: holds Virtual Machine Contributor and Role Based Access
 * Control Administrator on both subscriptions, and Graph app roles */
#define APP_SP "0a1b2c3d-0000-4000-8000-00000000e001"
#define STRANGER "11111111-0000-4000-8000-000000000099"

static struct sim SIM;
static char ARM_TOKEN[4096];

static char *url(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *url(const char *fmt, ...)
{
    va_list ap;
    char path[2048];

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return xasprintf("%s%s", SIM.p.url, path);
}

static long call(const char *method, const char *path, const char *body, const char *token,
                 struct resp *r)
{
    char auth[4200];
    const char *hdrs[] = {auth, NULL};
    char *u = xasprintf("%s%s", SIM.p.url, path);
    long st;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : ARM_TOKEN);
    memset(r, 0, sizeof(*r));
    st = h_http(method, u, body, token && !token[0] ? NULL : hdrs, r);
    free(u);
    return st;
}

static const char *jstr(json_t *j, const char *path)
{
    char key[128];
    json_t *cur = j;

    while (cur && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)strtol(key, NULL, 10))
                                 : json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return json_string_value(cur);
}

static const char *err_code(struct resp *r)
{
    return jstr(r->json, "error.code");
}

static void mint(const char *body, char *out, size_t cap)
{
    struct resp r;
    char *u = url("/_sim/tokens");

    assert_int_equal(h_http("POST", u, body, NULL, &r), 200);
    snprintf(out, cap, "%s", jstr(r.json, "access_token"));
    h_resp_cleanup(&r);
    free(u);
}

static void control(const char *method, const char *path, const char *body, long want)
{
    struct resp r;
    char *u = url("%s", path);

    assert_int_equal(h_http(method, u, body, NULL, &r), want);
    h_resp_cleanup(&r);
    free(u);
}

static int setup(void **state)
{
    const char *args[] = {"--page-size", "2", "--time-scale", "0", NULL};
    char path[512];
    (void)state;
    xalloc_init_json();
    snprintf(path, sizeof(path), "%s/sim/scenarios/demo.json", SOURCE_DIR);
    if (!h_sim_start(&SIM, path, args))
        return -1;
    mint("{\"aud\":\"https://management.azure.com\",\"expiresIn\":3600,\"oid\":\"" APP_SP "\"}",
         ARM_TOKEN, sizeof(ARM_TOKEN));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_sim_stop(&SIM);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    control("POST", "/_sim/reset", "{}", 200);
    return 0;
}

/* ---- Entra ---- */

/* A form POST; origin (may be NULL) is sent as Origin, as a browser page's fetch does. */
static long form_post(const char *path, const char *form, const char *origin, struct resp *r)
{
    char o[256];
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", o, NULL};
    char *u = url("%s", path);
    long st;

    snprintf(o, sizeof(o), "Origin: %s", origin ? origin : "");
    if (origin == NULL)
        h[1] = NULL;
    memset(r, 0, sizeof(*r));
    st = h_http("POST", u, form, h, r);
    free(u);
    return st;
}

static long token_post(const char *path, const char *form, struct resp *r)
{
    return form_post(path, form, NULL, r);
}

static void test_discovery_and_jwks(void **state)
{
    struct resp r;
    char *want;
    (void)state;
    assert_int_equal(call("GET", "/" TENANT "/v2.0/.well-known/openid-configuration", NULL, "", &r),
                     200);
    want = url("/" TENANT "/v2.0");
    assert_string_equal(jstr(r.json, "issuer"), want);
    free(want);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/adfs/.well-known/openid-configuration", NULL, "", &r), 200);
    want = url("/adfs/oauth2/token");
    assert_string_equal(jstr(r.json, "token_endpoint"), want);
    free(want);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/" TENANT "/discovery/v2.0/keys", NULL, "", &r), 200);
    assert_string_equal(jstr(r.json, "keys.0.kty"), "RSA");
    assert_non_null(jstr(r.json, "keys.0.kid"));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET",
                          "/00000000-0000-4000-8000-000000000bad/v2.0/.well-known/"
                          "openid-configuration",
                          NULL, "", &r),
                     400);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r.json, "error_codes"), 0)),
                     90002);
    h_resp_cleanup(&r);
}

static void test_token_secret(void **state)
{
    struct resp r;
    struct jws j;
    (void)state;
    assert_int_equal(token_post("/" TENANT "/oauth2/v2.0/token",
                                "grant_type=client_credentials&client_id=" APP
                                "&client_secret=" SECRET
                                "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
                                &r),
                     200);
    assert_string_equal(jstr(r.json, "token_type"), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")), 3599);
    assert_int_equal(jws_parse(jstr(r.json, "access_token"), &j, NULL), ERR_OK);
    assert_string_equal(j.alg, "RS256");
    assert_string_equal(jstr(j.claims, "aud"), "https://management.azure.com");
    assert_string_equal(jstr(j.claims, "tid"), TENANT);
    assert_string_equal(jstr(j.claims, "appid"), APP);
    assert_string_equal(jstr(j.claims, "idtyp"), "app");
    jws_cleanup(&j);
    h_resp_cleanup(&r);
    assert_int_equal(token_post("/adfs/oauth2/token",
                                "grant_type=client_credentials&client_id=" APP
                                "&client_secret=wrong&scope=https%3A%2F%2Fx%2F.default",
                                &r),
                     401);
    assert_string_equal(jstr(r.json, "error"), "invalid_client");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r.json, "error_codes"), 0)),
                     7000215);
    assert_non_null(strstr(jstr(r.json, "error_description"), "AADSTS7000215: "));
    h_resp_cleanup(&r);
    assert_int_equal(token_post("/adfs/oauth2/token",
                                "grant_type=client_credentials&client_id="
                                "11111111-1111-4111-8111-111111111111&client_secret=x&scope=a%2F."
                                "default",
                                &r),
                     400);
    assert_string_equal(jstr(r.json, "error"), "unauthorized_client");
    h_resp_cleanup(&r);
    assert_int_equal(token_post("/adfs/oauth2/token",
                                "grant_type=client_credentials&client_id=" APP
                                "&client_secret=" SECRET "&scope=https%3A%2F%2Fx",
                                &r),
                     400);
    assert_string_equal(jstr(r.json, "error"), "invalid_scope");
    h_resp_cleanup(&r);
}

/* The device authorization grant (v2-oauth2-device-code): the code answer's fields; pending,
 * slow_down when polled faster than interval, approval by the control call as a scenario user,
 * a delegated token with that user's oid/upn/roles and a refresh token that works once;
 * declined; expired; an unknown code. */
#define DC_FORM "client_id=" APP "&scope=api%3A%2F%2Fvmlogind-test%2F.default%20offline_access"
#define DC_GRANT "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"

static void devicecode(struct resp *r, char *device, size_t dcap, char *user, size_t ucap)
{
    assert_int_equal(token_post("/" TENANT "/oauth2/v2.0/devicecode", DC_FORM, r), 200);
    snprintf(device, dcap, "%s", jstr(r->json, "device_code"));
    snprintf(user, ucap, "%s", jstr(r->json, "user_code"));
    assert_true(device[0] && user[0]);
}

static long device_poll(const char *device, struct resp *r)
{
    char form[512];
    snprintf(form, sizeof(form), "%s&client_id=%s&device_code=%s", DC_GRANT, APP, device);
    return token_post("/" TENANT "/oauth2/v2.0/token", form, r);
}

static void test_device_code(void **state)
{
    struct resp r;
    struct jws j;
    char device[128], user[16], body[256], form[512], rt[128];
    (void)state;

    control("PUT", "/_sim/config", "{\"deviceCodeIntervalSeconds\":1}", 200);
    devicecode(&r, device, sizeof(device), user, sizeof(user));
    assert_int_equal(json_integer_value(json_object_get(r.json, "interval")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")), 900);
    assert_non_null(strstr(jstr(r.json, "verification_uri"), "/devicelogin"));
    assert_non_null(strstr(jstr(r.json, "message"), user));
    h_resp_cleanup(&r);
    assert_int_equal(device_poll(device, &r), 400);
    assert_string_equal(jstr(r.json, "error"), "authorization_pending");
    h_resp_cleanup(&r);
    assert_int_equal(device_poll(device, &r), 400); /* again at once: too fast */
    assert_string_equal(jstr(r.json, "error"), "slow_down");
    h_resp_cleanup(&r);
    snprintf(body, sizeof(body),
             "{\"userCode\":\"%s\",\"upn\":\"carol@contoso.example\",\"roles\":[\"Operator\"]}",
             user);
    control("POST", "/_sim/deviceCodes/approve", body, 200);
    control("POST", "/_sim/deviceCodes/approve", body, 404); /* no longer pending */
    assert_int_equal(device_poll(device, &r), 200);
    assert_int_equal(jws_parse(jstr(r.json, "access_token"), &j, NULL), ERR_OK);
    assert_string_equal(jstr(j.claims, "aud"), "api://vmlogind-test");
    assert_string_equal(jstr(j.claims, "oid"), CAROL);
    assert_string_equal(jstr(j.claims, "upn"), "carol@contoso.example");
    assert_string_equal(jstr(j.claims, "idtyp"), "user");
    assert_string_equal(jstr(j.claims, "scp"), "user_impersonation");
    assert_string_equal(jstr(j.claims, "roles.0"), "Operator");
    jws_cleanup(&j);
    snprintf(rt, sizeof(rt), "%s", jstr(r.json, "refresh_token"));
    assert_true(rt[0] != '\0');
    h_resp_cleanup(&r);
    assert_int_equal(device_poll(device, &r), 400); /* redeemed once */
    assert_string_equal(jstr(r.json, "error"), "bad_verification_code");
    h_resp_cleanup(&r);
    snprintf(form, sizeof(form), "grant_type=refresh_token&client_id=" APP "&refresh_token=%s", rt);
    assert_int_equal(token_post("/" TENANT "/oauth2/v2.0/token", form, &r), 200);
    assert_true(jstr(r.json, "access_token")[0] != '\0');
    assert_string_not_equal(jstr(r.json, "refresh_token"), rt);
    h_resp_cleanup(&r);
    assert_int_equal(token_post("/" TENANT "/oauth2/v2.0/token", form, &r), 400);
    assert_string_equal(jstr(r.json, "error"), "invalid_grant");
    h_resp_cleanup(&r);

    devicecode(&r, device, sizeof(device), user, sizeof(user));
    h_resp_cleanup(&r);
    snprintf(body, sizeof(body), "{\"userCode\":\"%s\"}", user);
    control("POST", "/_sim/deviceCodes/decline", body, 200);
    assert_int_equal(device_poll(device, &r), 400);
    assert_string_equal(jstr(r.json, "error"), "authorization_declined");
    h_resp_cleanup(&r);

    control("PUT", "/_sim/config", "{\"deviceCodeLifetimeSeconds\":1}", 200);
    devicecode(&r, device, sizeof(device), user, sizeof(user));
    h_resp_cleanup(&r);
    int64_t until = clock_now_ms() + 1100;
    for (long st = 0; st != 400 || strcmp(jstr(r.json, "error"), "expired_token") != 0;) {
        h_resp_cleanup(&r);
        assert_true(clock_now_ms() < until + 5000);
        st = device_poll(device, &r);
    }
    h_resp_cleanup(&r);
    control("PUT", "/_sim/config",
            "{\"deviceCodeLifetimeSeconds\":900,\"deviceCodeIntervalSeconds\":5}", 200);
    assert_int_equal(device_poll("nope", &r), 400);
    assert_string_equal(jstr(r.json, "error"), "bad_verification_code");
    h_resp_cleanup(&r);
}

/* The authorization code grant with PKCE (v2-oauth2-auth-code-flow): the picker page lists the
 * users; an unregistered redirect_uri is an error page, never a redirect; a request without an
 * S256 challenge goes back with error=invalid_request; the picker's POST redirects with code
 * and state; the code redeems once, only with its verifier, client and redirect_uri, into a
 * delegated token with the picked user's oid and role, with CORS for the page's origin. */
#define AC_REDIRECT "http%3A%2F%2F127.0.0.1%3A4567%2F"
#define AC_VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define AC_CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" /* RFC 7636 appendix B */
#define AC_PARAMS                                                                                  \
    "client_id=" APP "&response_type=code&redirect_uri=" AC_REDIRECT                               \
    "&scope=api%3A%2F%2Fvmlogind-test%2F.default&state=st-1"
#define AC_PATH "/" TENANT "/oauth2/v2.0/authorize"

static void authorize_code(const char *extra, char *code, size_t cap)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    char *u = url("%s", AC_PATH);
    char form[1024], loc[1024];
    const char *c;
    struct resp r;

    snprintf(form, sizeof(form), "%s&code_challenge=%s&code_challenge_method=S256&user=%s%s",
             AC_PARAMS, AC_CHALLENGE, ALICE, extra);
    assert_int_equal(h_http("POST", u, form, h, &r), 302);
    assert_true(h_resp_header(&r, "Location", loc, sizeof(loc)));
    assert_true(strncmp(loc, "http://127.0.0.1:4567/?code=", 28) == 0);
    assert_non_null(strstr(loc, "&state=st-1"));
    c = loc + 28;
    snprintf(code, cap, "%.*s", (int)strcspn(c, "&"), c);
    h_resp_cleanup(&r);
    free(u);
}

static long redeem(const char *code, const char *verifier, const char *redirect, struct resp *r)
{
    char form[1024];

    snprintf(form, sizeof(form),
             "grant_type=authorization_code&client_id=" APP "&code=%s&redirect_uri=%s"
             "&code_verifier=%s&scope=api%%3A%%2F%%2Fvmlogind-test%%2F.default",
             code, redirect, verifier);
    return form_post("/" TENANT "/oauth2/v2.0/token", form, "http://127.0.0.1:4567", r);
}

static void test_auth_code_pkce(void **state)
{
    struct resp r;
    struct jws j;
    char code[160], loc[1024], acao[128];
    char *u;
    (void)state;

    u = url("%s",
            AC_PATH "?" AC_PARAMS "&code_challenge=" AC_CHALLENGE "&code_challenge_method=S256");
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "alice@contoso.example"));
    assert_non_null(strstr(r.body, "name=\"user\" value=\"" ALICE "\""));
    assert_non_null(strstr(r.body, "name=\"state\" value=\"st-1\""));
    assert_null(strstr(r.body, "erin@contoso.example")); /* disabled: cannot sign in */
    h_resp_cleanup(&r);
    free(u);
    u = url("%s", AC_PATH "?client_id=" APP "&response_type=code&scope=openid&state=st-1"
                          "&code_challenge=" AC_CHALLENGE
                          "&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fevil.example%2F");
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 400);
    assert_false(h_resp_header(&r, "Location", loc, sizeof(loc)));
    assert_non_null(strstr(r.body, "AADSTS50011"));
    h_resp_cleanup(&r);
    free(u);
    u = url("%s", AC_PATH "?" AC_PARAMS); /* no PKCE */
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 302);
    assert_true(h_resp_header(&r, "Location", loc, sizeof(loc)));
    assert_non_null(strstr(loc, "error=invalid_request"));
    assert_non_null(strstr(loc, "state=st-1"));
    h_resp_cleanup(&r);
    free(u);

    authorize_code("&role=VmLogin.Operator", code, sizeof(code));
    assert_int_equal(redeem(code, "wrong-verifier-wrong-verifier-wrong-verifier", AC_REDIRECT, &r),
                     400);
    assert_string_equal(jstr(r.json, "error"), "invalid_grant");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r.json, "error_codes"), 0)),
                     50148);
    assert_true(h_resp_header(&r, "Access-Control-Allow-Origin", acao, sizeof(acao)));
    assert_string_equal(acao, "http://127.0.0.1:4567");
    h_resp_cleanup(&r);
    assert_int_equal(redeem(code, AC_VERIFIER, AC_REDIRECT, &r), 400); /* single use */
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r.json, "error_codes"), 0)),
                     54005);
    h_resp_cleanup(&r);

    authorize_code("&role=VmLogin.Operator", code, sizeof(code));
    assert_int_equal(redeem(code, AC_VERIFIER, "http%3A%2F%2F127.0.0.1%3A9999%2F", &r), 400);
    assert_string_equal(jstr(r.json, "error"), "invalid_grant");
    h_resp_cleanup(&r);

    authorize_code("&role=VmLogin.Operator", code, sizeof(code));
    assert_int_equal(redeem(code, AC_VERIFIER, AC_REDIRECT, &r), 200);
    assert_true(h_resp_header(&r, "Access-Control-Allow-Origin", acao, sizeof(acao)));
    assert_int_equal(jws_parse(jstr(r.json, "access_token"), &j, NULL), ERR_OK);
    assert_string_equal(jstr(j.claims, "aud"), "api://vmlogind-test");
    assert_string_equal(jstr(j.claims, "oid"), ALICE);
    assert_string_equal(jstr(j.claims, "azp"), APP);
    assert_string_equal(jstr(j.claims, "roles.0"), "VmLogin.Operator");
    jws_cleanup(&j);
    h_resp_cleanup(&r);
}

static char *cert_pem(X509 *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *d;
    long n;
    char *out;

    PEM_write_bio_X509(b, c);
    n = BIO_get_mem_data(b, &d);
    out = xstrndup(d, (size_t)n);
    BIO_free(b);
    return out;
}

static char *assertion(EVP_PKEY *k, X509 *c, const char *aud, const char *iss, long exp_off,
                       const char *jti)
{
    char *t256 = x5t_sha256(c);
    json_t *h = json_pack("{s:s}", "x5t#S256", t256);
    int64_t now = clock_now_ms() / 1000;
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "aud", aud, "iss", iss, "sub", iss,
                           "jti", jti, "nbf", (json_int_t)now, "exp", (json_int_t)(now + exp_off));
    char *t = jws_sign(k, "PS256", h, cl);

    json_decref(h);
    json_decref(cl);
    free(t256);
    return t;
}

static long post_assertion(const char *a, struct resp *r)
{
    char *form = xasprintf("grant_type=client_credentials&client_id=" APP
                           "&scope=https%%3A%%2F%%2Fmanagement.azure.com%%2F.default"
                           "&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-"
                           "assertion-type%%3Ajwt-bearer&client_assertion=%s",
                           a);
    long st = token_post("/" TENANT "/oauth2/v2.0/token", form, r);

    free(form);
    return st;
}

static int code0(struct resp *r)
{
    return (int)json_integer_value(json_array_get(json_object_get(r->json, "error_codes"), 0));
}

static void test_token_assertion(void **state)
{
    EVP_PKEY *k = jose_rsa_generate(2048);
    X509 *c = jose_selfsigned_cert(k, "sim-test", 1);
    char *pem = cert_pem(c);
    json_t *reg = json_pack("{s:s, s:s}", "appId", APP, "certificatePem", pem);
    char *regs = json_dumps(reg, 0);
    char *aud = url("/" TENANT "/oauth2/v2.0/token");
    char jti[UUID_STR_LEN];
    struct resp r;
    char *a;
    (void)state;
    control("POST", "/_sim/certificates", regs, 201);
    uuid_v4(jti);
    a = assertion(k, c, aud, APP, 300, jti);
    assert_int_equal(post_assertion(a, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(post_assertion(a, &r), 401); /* replayed jti */
    assert_int_equal(code0(&r), 700223);
    h_resp_cleanup(&r);
    free(a);
    uuid_v4(jti);
    a = assertion(k, c, "https://login.example/other/token", APP, 300, jti);
    assert_int_equal(post_assertion(a, &r), 401);
    assert_int_equal(code0(&r), 50013);
    h_resp_cleanup(&r);
    free(a);
    uuid_v4(jti);
    a = assertion(k, c, aud, APP, -600, jti);
    assert_int_equal(post_assertion(a, &r), 401);
    assert_int_equal(code0(&r), 700024);
    h_resp_cleanup(&r);
    free(a);
    uuid_v4(jti);
    a = assertion(k, c, aud, "22222222-2222-4222-8222-222222222222", 300, jti);
    assert_int_equal(post_assertion(a, &r), 401);
    assert_int_equal(code0(&r), 700021);
    h_resp_cleanup(&r);
    free(a);
    {
        EVP_PKEY *other = jose_rsa_generate(2048);
        uuid_v4(jti);
        a = assertion(other, c, aud, APP, 300, jti); /* right x5t, wrong key */
        assert_int_equal(post_assertion(a, &r), 401);
        assert_int_equal(code0(&r), 700027);
        h_resp_cleanup(&r);
        free(a);
        EVP_PKEY_free(other);
    }
    free(aud);
    free(regs);
    json_decref(reg);
    free(pem);
    X509_free(c);
    EVP_PKEY_free(k);
}

/* ---- ARM authentication and api-version ---- */

static void expect_arm(const char *token, long status, const char *code)
{
    struct resp r;

    assert_int_equal(call("GET", "/subscriptions?api-version=2019-11-01", NULL, token, &r), status);
    if (code)
        assert_string_equal(err_code(&r), code);
    h_resp_cleanup(&r);
}

static void test_arm_auth(void **state)
{
    char t[4096];
    (void)state;
    expect_arm("", 401, "AuthenticationFailed");
    expect_arm("not-a-jwt", 401, "InvalidAuthenticationToken");
    mint("{\"aud\":\"https://management.azure.com\",\"expiresIn\":-600}", t, sizeof(t));
    expect_arm(t, 401, "ExpiredAuthenticationToken");
    mint("{\"aud\":\"https://graph.microsoft.com\"}", t, sizeof(t));
    expect_arm(t, 401, "InvalidAuthenticationTokenAudience");
    mint("{\"aud\":\"https://management.azure.com\",\"kid\":\"unknown-kid\"}", t, sizeof(t));
    expect_arm(t, 401, "InvalidAuthenticationToken");
    mint("{\"aud\":\"https://management.core.windows.net/\"}", t, sizeof(t));
    expect_arm(t, 200, NULL);
    mint("{\"aud\":\"https://management.azure.com/\"}", t, sizeof(t));
    expect_arm(t, 200, NULL);
}

static void test_api_version(void **state)
{
    struct resp r;
    (void)state;
    assert_int_equal(call("GET", VMS "win-vm-01", NULL, NULL, &r), 400);
    assert_string_equal(err_code(&r), "MissingApiVersionParameter");
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?api-version=2015-01-01", NULL, NULL, &r), 400);
    assert_string_equal(err_code(&r), "NoRegisteredProviderFound");
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?api-version=2022-08-01", NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?api-version=2022-11-01", NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
}

/* Every version azure-rest-api-specs lists is taken, the newest and previews included; an
 * unknown one is refused naming the resource's own location and the supported list. */
static void test_api_versions_current(void **state)
{
    static const char *ok[] = {
        VMS "win-vm-01?api-version=2026-03-01",
        VMS "win-vm-01?api-version=2025-11-01",
        VMS "win-vm-01?api-version=2016-04-30-preview",
        VMS "win-vm-01/extensions?api-version=2026-03-01",
        RG1 "?api-version=2025-04-01",
        "/subscriptions/" SUB1 "?api-version=2022-12-01",
        RG1 "/providers/Microsoft.Authorization/roleAssignments?api-version=2020-10-01-preview",
        RG1 "/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-05-01-preview",
    };
    struct resp r;
    const char *msg;
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(call("GET", ok[i], NULL, NULL, &r), 200);
        h_resp_cleanup(&r);
    }
    assert_int_equal(call("GET", VMS "win-vm-01?api-version=2026-09-01", NULL, NULL, &r), 400);
    assert_string_equal(err_code(&r), "NoRegisteredProviderFound");
    msg = jstr(r.json, "error.message");
    assert_non_null(strstr(msg, "location 'westeurope' and API version '2026-09-01' for type "
                                "'virtualMachines'"));
    assert_non_null(strstr(msg, "2025-11-01, 2026-03-01'"));
    h_resp_cleanup(&r);
    assert_int_equal(
        call("GET", RG1 "/providers/Microsoft.Authorization/roleAssignments?api-version=2024-07-01",
             NULL, NULL, &r),
        400);
    assert_non_null(strstr(jstr(r.json, "error.message"), "for type 'roleAssignments'"));
    h_resp_cleanup(&r);
}

/* ---- VMs ---- */

static void test_vm_get_case_insensitive(void **state)
{
    struct resp r;
    char rid[64];
    (void)state;
    assert_int_equal(call("GET",
                          "/SUBSCRIPTIONS/" SUB1 "/resourcegroups/RG-ENTRA/providers/"
                          "microsoft.compute/VIRTUALMACHINES/WIN-VM-01?" CV "&$expand=instanceView",
                          NULL, NULL, &r),
                     200);
    assert_string_equal(jstr(r.json, "name"), "win-vm-01");
    assert_string_equal(jstr(r.json, "properties.osProfile.computerName"), "win-vm-01");
    assert_string_equal(jstr(r.json, "properties.storageProfile.osDisk.osType"), "Windows");
    assert_string_equal(jstr(r.json, "properties.instanceView.osVersion"),
                        "Microsoft Windows NT 10.0.17763.0");
    assert_string_equal(jstr(r.json, "properties.instanceView.statuses.1.code"),
                        "PowerState/running");
    assert_true(h_resp_header(&r, "x-ms-ratelimit-remaining-subscription-reads", rid, sizeof(rid)));
    assert_true(h_resp_header(&r, "x-ms-request-id", rid, sizeof(rid)));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "nope?" CV, NULL, NULL, &r), 404);
    assert_string_equal(err_code(&r), "ResourceNotFound");
    h_resp_cleanup(&r);
    assert_int_equal(call("GET",
                          "/subscriptions/" SUB1 "/resourceGroups/nope/providers/"
                          "Microsoft.Compute/virtualMachines/x?" CV,
                          NULL, NULL, &r),
                     404);
    assert_string_equal(err_code(&r), "ResourceGroupNotFound");
    h_resp_cleanup(&r);
}

static void test_vm_list_paging(void **state)
{
    char *next = xasprintf("/subscriptions/" SUB1 "/providers/Microsoft.Compute/"
                           "virtualMachines?" CV);
    size_t total = 0, pages = 0, empty = 0;
    size_t base_len = strlen(SIM.p.url);
    (void)state;
    while (next) {
        struct resp r;
        const char *nl;
        assert_int_equal(call("GET", next, NULL, NULL, &r), 200);
        free(next);
        next = NULL;
        total += json_array_size(json_object_get(r.json, "value"));
        empty += json_array_size(json_object_get(r.json, "value")) == 0;
        pages++;
        nl = jstr(r.json, "nextLink");
        if (nl) {
            assert_memory_equal(nl, SIM.p.url, base_len); /* absolute, on azsim's host */
            next = xstrdup(nl + base_len);
        }
        h_resp_cleanup(&r);
        assert_true(pages < 50);
    }
    assert_int_equal(total, 10);
    assert_int_equal(empty, 1);
    assert_int_equal(pages, 6);
}

static void patch_identity(const char *vm, const char *body, long want, struct resp *r)
{
    char *p = xasprintf(VMS "%s?" CV, vm);

    assert_int_equal(call("PATCH", p, body, NULL, r), want);
    free(p);
}

static void test_identity_patch(void **state)
{
    struct resp r;
    char h[512];
    const char *pid;
    char *look;
    (void)state;
    patch_identity("ws2022-uaonly",
                   "{\"identity\":{\"type\":\"SystemAssigned, UserAssigned\","
                   "\"userAssignedIdentities\":{\"/subscriptions/" SUB1
                   "/resourceGroups/rg-entra/providers/Microsoft.ManagedIdentity/"
                   "userAssignedIdentities/app-identity\":{}}}}",
                   200, &r);
    assert_string_equal(jstr(r.json, "identity.type"), "SystemAssigned, UserAssigned");
    assert_int_equal(json_object_size(json_object_get(json_object_get(r.json, "identity"),
                                                      "userAssignedIdentities")),
                     1);
    pid = jstr(r.json, "identity.principalId");
    assert_true(uuid_is_valid(pid));
    assert_string_equal(jstr(r.json, "identity.tenantId"), TENANT);
    assert_true(h_resp_header(&r, "Azure-AsyncOperation", h, sizeof(h)));
    assert_true(strncmp(h, SIM.p.url, strlen(SIM.p.url)) == 0);
    assert_true(strstr(h, "/providers/Microsoft.Compute/locations/westeurope/operations/"));
    assert_true(h_resp_header(&r, "Retry-After", h, sizeof(h)));
    assert_true(strtol(h, NULL, 10) >= 1);
    look = xasprintf("/_sim/lookup?id=%s", pid);
    h_resp_cleanup(&r);
    {
        struct resp l;
        char *u = url("%s", look);
        assert_int_equal(h_http("GET", u, NULL, NULL, &l), 200);
        assert_string_equal(jstr(l.json, "object.servicePrincipalType"), "ManagedIdentity");
        h_resp_cleanup(&l);
        free(u);
    }
    free(look);
    /* SystemAssigned alone drops the user-assigned identities, as real Compute does */
    patch_identity("ws2022-uaonly", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 200, &r);
    assert_string_equal(jstr(r.json, "identity.type"), "SystemAssigned");
    h_resp_cleanup(&r);
}

/* The identity PATCH's If-Match: the VM's current etag or "*" goes through and moves the etag;
 * a stale one is 412 PreconditionFailed and changes nothing (what vmlogind's retry relies on). */
static void test_patch_if_match(void **state)
{
    static const char *body = "{\"tags\":{\"team\":\"ops\"}}";
    char *p = xasprintf(VMS "ws2022-uaonly?" CV);
    char auth[4200], ifm[96], etag[32], etag2[32];
    const char *hdrs[] = {auth, ifm, NULL};
    char *u = url("%s", p);
    struct resp r;
    (void)state;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ARM_TOKEN);
    assert_int_equal(call("GET", p, NULL, NULL, &r), 200);
    snprintf(etag, sizeof(etag), "%s", jstr(r.json, "etag"));
    h_resp_cleanup(&r);
    assert_true(etag[0] == '"');

    snprintf(ifm, sizeof(ifm), "If-Match: \"stale-%s\"", etag + 1);
    assert_int_equal(h_http("PATCH", u, body, hdrs, &r), 412);
    assert_string_equal(err_code(&r), "PreconditionFailed");
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", p, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "etag"), etag); /* nothing changed */
    assert_null(json_object_get(json_object_get(r.json, "tags"), "team"));
    h_resp_cleanup(&r);

    snprintf(ifm, sizeof(ifm), "If-Match: %s", etag);
    assert_int_equal(h_http("PATCH", u, body, hdrs, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", p, NULL, NULL, &r), 200);
    snprintf(etag2, sizeof(etag2), "%s", jstr(r.json, "etag"));
    assert_string_not_equal(etag2, etag);
    h_resp_cleanup(&r);

    /* the old etag is stale now; "*" matches whatever the VM holds */
    assert_int_equal(h_http("PATCH", u, body, hdrs, &r), 412);
    h_resp_cleanup(&r);
    snprintf(ifm, sizeof(ifm), "If-Match: *");
    assert_int_equal(h_http("PATCH", u, body, hdrs, &r), 200);
    h_resp_cleanup(&r);
    free(u);
    free(p);
}

/* ---- extensions ---- */

static const char *AAD_BODY = "{\"location\":\"westeurope\",\"properties\":{\"publisher\":"
                              "\"Microsoft.Azure.ActiveDirectory\",\"type\":\"AADLoginForWindows\","
                              "\"typeHandlerVersion\":\"1.0\",\"autoUpgradeMinorVersion\":true}}";

static void put_ext(const char *vm, const char *name, long want, const char *code, char *op_url,
                    size_t cap)
{
    struct resp r;
    char *p = xasprintf(VMS "%s/extensions/%s?" CV, vm, name);

    assert_int_equal(call("PUT", p, AAD_BODY, NULL, &r), want);
    if (code)
        assert_string_equal(err_code(&r), code);
    if (op_url) {
        char h[512];
        assert_string_equal(jstr(r.json, "properties.provisioningState"), "Creating");
        assert_true(h_resp_header(&r, "Azure-AsyncOperation", h, sizeof(h)));
        snprintf(op_url, cap, "%s", h + strlen(SIM.p.url));
    }
    h_resp_cleanup(&r);
    free(p);
}

static void expect_failed(const char *vm, const char *op, const char *code, const char *sub)
{
    struct resp r;
    char *p = xasprintf(VMS "%s/extensions/AADLoginForWindows?" CV "&$expand=instanceView", vm);
    char want[96];

    assert_int_equal(call("GET", op, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "status"), "Failed");
    assert_string_equal(jstr(r.json, "error.code"), code);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", p, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "properties.provisioningState"), "Failed");
    snprintf(want, sizeof(want), "ProvisioningState/failed/%s", sub);
    assert_string_equal(jstr(r.json, "properties.instanceView.statuses.0.code"), want);
    h_resp_cleanup(&r);
    free(p);
}

static void test_ext_failure_codes(void **state)
{
    char op[512];
    struct resp r;
    (void)state;
    put_ext("ws2016-legacy", "AADLoginForWindows", 201, NULL, op, sizeof(op));
    expect_failed("ws2016-legacy", op, "VMExtensionProvisioningError", "51");
    put_ext("win-vm-01", "AADLoginForWindows", 201, NULL, op, sizeof(op));
    expect_failed("win-vm-01", op, "VMExtensionHandlerNonTransientError", "1007");
    assert_int_equal(call("GET", op, NULL, NULL, &r), 200);
    assert_non_null(strstr(jstr(r.json, "error.message"), "terminal error code '1007'"));
    h_resp_cleanup(&r);
    put_ext("ws2022-dup", "AADLoginForWindows", 201, NULL, op, sizeof(op));
    expect_failed("ws2022-dup", op, "VMExtensionProvisioningError", "-2145648509");
    /* a failed extension blocks other operations on the VM, except itself */
    patch_identity("win-vm-01", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 409, &r);
    assert_string_equal(err_code(&r), "OperationNotAllowed");
    assert_non_null(strstr(jstr(r.json, "error.message"), "in failed state"));
    h_resp_cleanup(&r);
}

static json_t *first_item(const char *path, struct resp *r)
{
    assert_int_equal(call("GET", path, NULL, NULL, r), 200);
    return json_array_get(json_object_get(r->json, "value"), 0);
}

/* What each request form answers (virtualMachine.json 2024-07-01; azure-powershell #19751):
 * the plain list the model, statusOnly=true the status alone, $expand=instanceView both. */
static void test_vm_shapes(void **state)
{
    char op[512];
    struct resp r;
    json_t *vm;
    (void)state;
    vm = first_item(RG1 "/providers/Microsoft.Compute/virtualMachines?" CV, &r);
    assert_non_null(jstr(vm, "properties.storageProfile.imageReference.exactVersion"));
    assert_string_equal(jstr(vm, "properties.storageProfile.imageReference.exactVersion"),
                        "17763.6414.241010");
    assert_non_null(jstr(vm, "properties.osProfile.computerName"));
    assert_null(json_object_get(json_object_get(vm, "properties"), "instanceView"));
    assert_null(json_object_get(json_object_get(vm, "properties"), "userData"));
    h_resp_cleanup(&r);
    vm = first_item(RG1 "/providers/Microsoft.Compute/virtualMachines?" CV "&statusOnly=true", &r);
    assert_non_null(jstr(vm, "id"));
    assert_string_equal(jstr(vm, "properties.instanceView.statuses.1.code"), "PowerState/running");
    assert_null(json_object_get(json_object_get(vm, "properties"), "storageProfile"));
    assert_null(json_object_get(json_object_get(vm, "properties"), "osProfile"));
    assert_null(json_object_get(vm, "identity"));
    assert_null(json_object_get(vm, "resources"));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV "&$expand=userData", NULL, NULL, &r), 200);
    assert_null(json_object_get(json_object_get(r.json, "properties"), "instanceView"));
    h_resp_cleanup(&r);
    /* a failed extension shows in the VM's own provisioning status */
    put_ext("win-vm-01", "AADLoginForWindows", 201, NULL, op, sizeof(op));
    assert_int_equal(call("GET", VMS "win-vm-01?" CV "&$expand=instanceView", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "properties.instanceView.statuses.0.code"),
                        "ProvisioningState/failed/VMExtensionHandlerNonTransientError");
    assert_string_equal(jstr(r.json, "properties.instanceView.statuses.0.level"), "Error");
    assert_non_null(strstr(jstr(r.json, "properties.instanceView.statuses.0.message"),
                           "terminal error code '1007'"));
    assert_non_null(jstr(r.json, "properties.storageProfile.osDisk.osType"));
    h_resp_cleanup(&r);
}

static void test_ext_success_and_rules(void **state)
{
    char op[512];
    struct resp r;
    (void)state;
    put_ext("ws2022-app-01", "AADLoginForWindows", 201, NULL, op, sizeof(op));
    assert_int_equal(call("GET", op, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "status"), "Succeeded");
    h_resp_cleanup(&r);
    /* one extension per handler */
    put_ext("ws2022-app-01", "AADLogin", 400, "BadRequest", NULL, 0);
    /* VM not running */
    put_ext("ws2019-stopped", "AADLoginForWindows", 409, "OperationNotAllowed", NULL, 0);
    /* another operation in progress */
    control("PUT", "/_sim/faults", "{\"lroDurationsMs\":{\"vmUpdate\":60000}}", 200);
    patch_identity("win10-desk-01", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 200, &r);
    h_resp_cleanup(&r);
    put_ext("win10-desk-01", "AADLoginForWindows", 409, "OperationNotAllowed", NULL, 0);
    /* DELETE: 202 with Location, then 204 once gone */
    assert_int_equal(
        call("DELETE", VMS "ws2022-app-01/extensions/AADLoginForWindows?" CV, NULL, NULL, &r), 202);
    h_resp_cleanup(&r);
    assert_int_equal(
        call("DELETE", VMS "ws2022-app-01/extensions/AADLoginForWindows?" CV, NULL, NULL, &r), 204);
    h_resp_cleanup(&r);
}

static size_t devices_named(const char *graph_token, const char *name)
{
    struct resp r;
    char *p = xasprintf("/v1.0/devices?$filter=displayName%%20eq%%20%%27%s%%27", name);
    size_t n;

    assert_int_equal(call("GET", p, NULL, graph_token, &r), 200);
    n = json_array_size(json_object_get(r.json, "value"));
    if (n > 0) {
        assert_string_equal(jstr(r.json, "value.0.trustType"), "AzureAd");
        assert_true(uuid_is_valid(jstr(r.json, "value.0.deviceId")));
    }
    h_resp_cleanup(&r);
    free(p);
    return n;
}

/* A successful AADLoginForWindows joins the VM: a device object named after its hostname appears
 * in Graph. Installing the extension again on the same VM re-joins (its own device is no
 * hostname collision), and leaves one device. */
static void test_join_leaves_device(void **state)
{
    char op[512], g[4096], host[128];
    struct resp r;
    (void)state;

    mint("{\"aud\":\"https://graph.microsoft.com\",\"roles\":[\"Device.Read.All\"]}", g, sizeof(g));
    assert_int_equal(call("GET", VMS "ws2022-app-01?" CV, NULL, NULL, &r), 200);
    snprintf(host, sizeof(host), "%s", jstr(r.json, "properties.osProfile.computerName"));
    h_resp_cleanup(&r);
    assert_int_equal(devices_named(g, host), 0);
    for (int round = 0; round < 2; round++) {
        put_ext("ws2022-app-01", "AADLoginForWindows", 201, NULL, op, sizeof(op));
        assert_int_equal(call("GET", op, NULL, NULL, &r), 200);
        assert_string_equal(jstr(r.json, "status"), "Succeeded");
        h_resp_cleanup(&r);
        assert_int_equal(devices_named(g, host), 1);
        assert_int_equal(
            call("DELETE", VMS "ws2022-app-01/extensions/AADLoginForWindows?" CV, NULL, NULL, &r),
            202);
        h_resp_cleanup(&r);
        assert_int_equal(
            call("DELETE", VMS "ws2022-app-01/extensions/AADLoginForWindows?" CV, NULL, NULL, &r),
            204);
        h_resp_cleanup(&r);
    }
}

/* ---- role assignments ---- */

static long ra_put(const char *scope, const char *name, const char *role, const char *pid,
                   const char *ptype, struct resp *r)
{
    char *p = xasprintf("%s/providers/Microsoft.Authorization/roleAssignments/%s?" AV, scope, name);
    char *b = xasprintf("{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" SUB1
                        "/providers/Microsoft.Authorization/roleDefinitions/%s\","
                        "\"principalId\":\"%s\"%s%s%s}}",
                        role, pid, ptype ? ",\"principalType\":\"" : "", ptype ? ptype : "",
                        ptype ? "\"" : "");
    long st = call("PUT", p, b, NULL, r);

    free(p);
    free(b);
    return st;
}

static void test_role_assignment_rules(void **state)
{
    struct resp r;
    const char *n1 = "c0000000-0000-4000-8000-000000000001";
    (void)state;
    assert_int_equal(ra_put(VMS "win-vm-01", "not-a-guid", USER_ROLE, ALICE, NULL, &r), 400);
    assert_string_equal(err_code(&r), "InvalidRoleAssignmentId");
    h_resp_cleanup(&r);
    assert_int_equal(ra_put(VMS "win-vm-01", n1, USER_ROLE, ALICE, NULL, &r), 201);
    assert_string_equal(jstr(r.json, "properties.principalType"), "User");
    assert_string_equal(jstr(r.json, "properties.scope"), VMS "win-vm-01");
    h_resp_cleanup(&r);
    /* the same name and body again: 201, as ARM template redeployments rely on */
    assert_int_equal(ra_put(VMS "win-vm-01", n1, USER_ROLE, ALICE, NULL, &r), 201);
    assert_string_equal(jstr(r.json, "name"), n1);
    h_resp_cleanup(&r);
    /* a scope whose resource does not exist */
    assert_int_equal(ra_put(VMS "no-such-vm", "c0000000-0000-4000-8000-000000000004", USER_ROLE,
                            ALICE, NULL, &r),
                     404);
    assert_string_equal(err_code(&r), "ResourceNotFound");
    h_resp_cleanup(&r);
    assert_int_equal(
        ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-000000000002", USER_ROLE, ALICE, NULL, &r),
        409);
    assert_string_equal(err_code(&r), "RoleAssignmentExists");
    h_resp_cleanup(&r);
    assert_int_equal(ra_put(VMS "win-vm-01", n1, USER_ROLE, CAROL, NULL, &r), 400);
    assert_string_equal(err_code(&r), "RoleAssignmentUpdateNotPermitted");
    h_resp_cleanup(&r);
    /* the caller needs roleAssignments/write at the management group before ARM looks further */
    control("POST", "/_sim/roleAssignments",
            "{\"scope\":\"/providers/Microsoft.Management/managementGroups/mg1\","
            "\"roleName\":\"User Access Administrator\",\"principalId\":\"" APP_SP "\"}",
            201);
    assert_int_equal(ra_put("/providers/Microsoft.Management/managementGroups/mg1",
                            "c0000000-0000-4000-8000-000000000003", ADMIN_ROLE, ALICE, NULL, &r),
                     400);
    assert_string_equal(err_code(&r), "InvalidCreateRoleAssignmentRequest");
    h_resp_cleanup(&r);
    assert_int_equal(call("DELETE",
                          VMS "win-vm-01/providers/Microsoft.Authorization/roleAssignments/"
                              "c0000000-0000-4000-8000-000000000001?" AV,
                          NULL, NULL, &r),
                     200);
    assert_string_equal(jstr(r.json, "name"), n1);
    h_resp_cleanup(&r);
    assert_int_equal(call("DELETE",
                          VMS "win-vm-01/providers/Microsoft.Authorization/roleAssignments/"
                              "c0000000-0000-4000-8000-000000000001?" AV,
                          NULL, NULL, &r),
                     204);
    h_resp_cleanup(&r);
}

static void test_principal_replication_delay(void **state)
{
    struct resp r;
    const char *fresh = "6b7c8d9e-0000-4000-8000-0000000000ff";

    (void)state;
    control("PUT", "/_sim/config", "{\"replicationDelaySeconds\":600}", 200);
    control("POST", "/_sim/users",
            "{\"id\":\"6b7c8d9e-0000-4000-8000-0000000000ff\",\"userPrincipalName\":"
            "\"new@contoso.example\"}",
            201);
    assert_int_equal(
        ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-000000000010", USER_ROLE, fresh, NULL, &r),
        400);
    assert_string_equal(err_code(&r), "PrincipalNotFound");
    h_resp_cleanup(&r);
    assert_int_equal(ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-000000000010", USER_ROLE,
                            fresh, "User", &r),
                     201);
    h_resp_cleanup(&r);
    assert_int_equal(ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-000000000011", ADMIN_ROLE,
                            fresh, "Group", &r),
                     400);
    assert_string_equal(err_code(&r), "UnmatchedPrincipalType");
    h_resp_cleanup(&r);
    /* injected: PrincipalNotFound in the delay although principalType is sent */
    control("PUT", "/_sim/faults", "{\"principalTypeIgnored\":true}", 200);
    assert_int_equal(ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-000000000012", ADMIN_ROLE,
                            fresh, "User", &r),
                     400);
    assert_string_equal(err_code(&r), "PrincipalNotFound");
    h_resp_cleanup(&r);
    control("PUT", "/_sim/faults", "{\"principalTypeIgnored\":1}", 400);
    control("PUT", "/_sim/faults", "{}", 200);
    control("PUT", "/_sim/config", "{\"replicationDelaySeconds\":0}", 200);
}

static size_t list_count(const char *scope, const char *filter)
{
    struct resp r;
    char *p = xasprintf("%s/providers/Microsoft.Authorization/roleAssignments?" AV "%s%s", scope,
                        filter ? "&$filter=" : "", filter ? filter : "");
    size_t n;

    assert_int_equal(call("GET", p, NULL, NULL, &r), 200);
    n = json_array_size(json_object_get(r.json, "value"));
    if (jstr(r.json, "nextLink"))
        n += 1000; /* page size is 2 in this suite: mark "more" */
    h_resp_cleanup(&r);
    free(p);
    return n;
}

static void test_role_assignment_filters(void **state)
{
    struct resp r;
    (void)state;
    assert_int_equal(ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-000000000020", ADMIN_ROLE,
                            ALICE, "User", &r),
                     201);
    h_resp_cleanup(&r);
    /* carol is in Tier1 Operators, nested in VM Users, assigned at rg-entra */
    assert_int_equal(list_count(VMS "win-vm-01", "assignedTo('" CAROL "')"), 1);
    assert_int_equal(list_count(VMS "win-vm-01", "principalId%20eq%20'" CAROL "'"), 0);
    assert_int_equal(list_count(VMS "win-vm-01", "principalId%20eq%20'" ALICE "'"), 1);
    /* atScope() at the VM: the VM's own, the RG's group assignment, the app's two at the sub */
    assert_int_equal(list_count(VMS "win-vm-01", "atScope()"), 1000 + 2); /* a page of 2, more */
    assert_int_equal(list_count(VMS "ws2022-app-01", "atScope()"), 1000 + 2);
    assert_int_equal(call("GET",
                          VMS "win-vm-01/providers/Microsoft.Authorization/roleAssignments?" AV
                              "&$filter=bogus",
                          NULL, NULL, &r),
                     400);
    assert_string_equal(err_code(&r), "UnsupportedQuery");
    h_resp_cleanup(&r);
}

/* ---- Graph ---- */

static void test_graph(void **state)
{
    char t[4096];
    struct resp r;
    (void)state;
    mint("{\"aud\":\"https://graph.microsoft.com\",\"roles\":[\"Directory.Read.All\","
         "\"Application.ReadWrite.All\"]}",
         t, sizeof(t));
    assert_int_equal(call("GET", "/v1.0/users/alice@contoso.example", NULL, t, &r), 200);
    assert_string_equal(jstr(r.json, "id"), ALICE);
    assert_null(json_object_get(r.json, "userType"));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET",
                          "/v1.0/users/dave_fabrikam.example%23EXT%23@contoso.example"
                          "?$select=id,userType,accountEnabled",
                          NULL, t, &r),
                     200);
    assert_string_equal(jstr(r.json, "userType"), "Guest");
    assert_true(json_is_true(json_object_get(r.json, "accountEnabled")));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/v1.0/users/nobody@contoso.example", NULL, t, &r), 404);
    assert_string_equal(err_code(&r), "Request_ResourceNotFound");
    h_resp_cleanup(&r);
    /* prefix look-up: startswith on displayName or userPrincipalName, case ignored */
    assert_int_equal(call("GET",
                          "/v1.0/users?$filter=startswith(displayName,'CAR')%20or%20"
                          "startswith(userPrincipalName,'CAR')&$select=id,displayName",
                          NULL, t, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    assert_string_equal(jstr(r.json, "value.0.id"), CAROL);
    h_resp_cleanup(&r);
    assert_int_equal(
        call("GET", "/v1.0/users?$filter=startswith(userPrincipalName,'bob@')", NULL, t, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/v1.0/users?$filter=startswith(displayName,'zz')", NULL, t, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 0);
    h_resp_cleanup(&r);
    assert_int_equal(
        call("GET", "/v1.0/users?$filter=startswith(displayName,'a')%20and%20x", NULL, t, &r), 400);
    h_resp_cleanup(&r);
    assert_int_equal(call("POST", "/v1.0/directoryObjects/getByIds",
                          "{\"ids\":[\"" ALICE "\",\"9a8b7c6d-0000-4000-8000-00000000f001\"]}", t,
                          &r),
                     200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "value"), 0), "@odata.type")),
                        "#microsoft.graph.user");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "value"), 1), "@odata.type")),
                        "#microsoft.graph.group");
    h_resp_cleanup(&r);
    assert_int_equal(call("POST", "/v1.0/users/" CAROL "/checkMemberGroups",
                          "{\"groupIds\":[\"9a8b7c6d-0000-4000-8000-00000000f003\","
                          "\"9a8b7c6d-0000-4000-8000-00000000f001\"]}",
                          t, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 2);
    h_resp_cleanup(&r);
    assert_int_equal(
        call("GET", "/v1.0/devices?$filter=displayName%20eq%20'contoso-ws01'", NULL, t, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    h_resp_cleanup(&r);
    assert_int_equal(call("POST", "/v1.0/servicePrincipals",
                          "{\"appId\":\"372140e0-b3b7-4226-8ef9-d57986796201\"}", t, &r),
                     201);
    assert_string_equal(jstr(r.json, "displayName"),
                        "Microsoft Azure Windows Virtual Machine Sign-in");
    h_resp_cleanup(&r);
    assert_int_equal(call("POST", "/v1.0/servicePrincipals",
                          "{\"appId\":\"372140e0-b3b7-4226-8ef9-d57986796201\"}", t, &r),
                     409);
    assert_string_equal(err_code(&r), "Request_MultipleObjectsWithSameKeyValue");
    h_resp_cleanup(&r);
    assert_int_equal(call("GET",
                          "/v1.0/servicePrincipals(appId='372140e0-b3b7-4226-8ef9-"
                          "d57986796201')",
                          NULL, t, &r),
                     200);
    h_resp_cleanup(&r);
    /* an ARM token is not a Graph token */
    assert_int_equal(call("GET", "/v1.0/users/" ALICE, NULL, NULL, &r), 401);
    assert_string_equal(err_code(&r), "InvalidAuthenticationToken");
    h_resp_cleanup(&r);
}

/* ---- IMDS ---- */

static void test_imds(void **state)
{
    struct resp r;
    const char *md[] = {"Metadata: true", NULL};
    char *u = url("/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                  "https://management.azure.com/");
    (void)state;
    assert_int_equal(h_http("GET", u, NULL, NULL, &r), 400);
    assert_string_equal(jstr(r.json, "error"), "bad_request_102");
    h_resp_cleanup(&r);
    assert_int_equal(h_http("GET", u, NULL, md, &r), 200);
    assert_true(json_is_string(json_object_get(r.json, "expires_in")));
    assert_true(json_is_string(json_object_get(r.json, "expires_on")));
    assert_string_equal(jstr(r.json, "resource"), "https://management.azure.com/");
    h_resp_cleanup(&r);
    free(u);
    u = url("/metadata/identity/info?api-version=2018-02-01");
    assert_int_equal(h_http("GET", u, NULL, md, &r), 200);
    assert_string_equal(jstr(r.json, "tenantId"), TENANT);
    h_resp_cleanup(&r);
    free(u);
}

/* ---- throttling ---- */

static void test_throttle_and_violations(void **state)
{
    struct resp r;
    char h[64];
    (void)state;
    control("PUT", "/_sim/throttle", "{\"arm\":{\"reads\":{\"burst\":2,\"rate\":0.01}}}", 200);
    control("POST", "/_sim/stats/reset", "{}", 200);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 200);
    assert_true(h_resp_header(&r, "x-ms-ratelimit-remaining-subscription-reads", h, sizeof(h)));
    assert_string_equal(h, "1");
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 429);
    assert_string_equal(err_code(&r), "SubscriptionRequestsThrottled");
    assert_true(h_resp_header(&r, "Retry-After", h, sizeof(h)));
    assert_true(strtol(h, NULL, 10) >= 1 && strchr(h, '.') == NULL);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 429); /* too early */
    h_resp_cleanup(&r);
    {
        char *u = url("/_sim/stats");
        assert_int_equal(h_http("GET", u, NULL, NULL, &r), 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "throttled429")), 2);
        assert_int_equal(json_integer_value(json_object_get(r.json, "violations")), 1);
        h_resp_cleanup(&r);
        free(u);
    }
    control("PUT", "/_sim/throttle", "{\"arm\":{\"reads\":{\"burst\":250,\"rate\":25}}}", 200);
}

/* ---- scenario validation ---- */

static void test_bad_scenario(void **state)
{
    char dir[256], path[320], log[400];
    char *cmd;
    char *text;
    int st;
    (void)state;
    h_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    snprintf(log, sizeof(log), "%s/err.txt", dir);
    h_write_file(path, "{\"tenantId\":\"8f3c1a2e-0000-4000-8000-00000000aaaa\",\"subscriptions\":"
                       "[{\"subscriptionId\":\"5d0f6e8a-0000-4000-8000-00000000bbbb\"}],"
                       "\"vms\":[{\"subscriptionId\":\"5d0f6e8a-0000-4000-8000-00000000bbbb\","
                       "\"resourceGroup\":\"rg\",\"location\":\"westeurope\"}]}");
    cmd = xasprintf("'%s' --listen 127.0.0.1:0 --tls-cert '%s' --tls-key '%s' --scenario '%s' "
                    ">/dev/null 2>'%s'",
                    AZSIM_BIN, SIM.cert, SIM.key, path, log);
    st = system(cmd);
    free(cmd);
    assert_int_equal(WEXITSTATUS(st), 2);
    text = h_read_file(log);
    assert_non_null(strstr(text, path));
    assert_non_null(strstr(text, "$.vms[0]"));
    assert_non_null(strstr(text, "name"));
    free(text);
}

/* ---- authorization of the caller ---- */

static void expect_denied(const char *method, const char *path, const char *body, const char *t,
                          const char *action)
{
    struct resp r;
    char *want;

    assert_int_equal(call(method, path, body, t, &r), 403);
    assert_string_equal(err_code(&r), "AuthorizationFailed");
    want = xasprintf("The client '%s' with object id '%s' does not have authorization to perform "
                     "action '%s' over scope '%.*s' or the scope is invalid. If access was "
                     "recently granted, please refresh your credentials.",
                     STRANGER, STRANGER, action, (int)strcspn(path, "?"), path);
    assert_string_equal(jstr(r.json, "error.message"), want);
    free(want);
    h_resp_cleanup(&r);
}

static void test_arm_authorization(void **state)
{
    char t[4096];
    struct resp r;
    const char *vm = VMS "win-vm-01?" CV;
    const char *ext = VMS "win-vm-01/extensions/AADLoginForWindows?" CV;
    const char *ra = VMS "win-vm-01/providers/Microsoft.Authorization/roleAssignments/"
                         "3f2a1b00-0000-4000-8000-000000000001?" AV;
    const char *ra_body = "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" SUB1
                          "/providers/Microsoft.Authorization/roleDefinitions/" USER_ROLE
                          "\",\"principalId\":\"" ALICE "\",\"principalType\":\"User\"}}";
    (void)state;
    mint("{\"aud\":\"https://management.azure.com\",\"oid\":\"" STRANGER "\"}", t, sizeof(t));
    /* no role at all: every write is refused, reads are not checked */
    expect_denied("PATCH", vm, "{\"identity\":{\"type\":\"SystemAssigned\"}}", t,
                  "Microsoft.Compute/virtualMachines/write");
    expect_denied(
        "PUT", ext,
        "{\"location\":\"westeurope\",\"properties\":{\"publisher\":\"Microsoft.Azure."
        "ActiveDirectory\",\"type\":\"AADLoginForWindows\",\"typeHandlerVersion\":\"1.0\"}}",
        t, "Microsoft.Compute/virtualMachines/extensions/write");
    expect_denied("DELETE", ext, NULL, t, "Microsoft.Compute/virtualMachines/extensions/delete");
    expect_denied("PUT", ra, ra_body, t, "Microsoft.Authorization/roleAssignments/write");
    assert_int_equal(call("GET", vm, NULL, t, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(
        call("GET", RG1 "/providers/Microsoft.Authorization/permissions?" AV, NULL, t, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 0);
    h_resp_cleanup(&r);
    /* Contributor, inherited from the subscription: VM writes yes, role assignments no
     * (NotActions Microsoft.Authorization/ * /Write) */
    control("POST", "/_sim/roleAssignments",
            "{\"scope\":\"/subscriptions/" SUB1
            "\",\"roleName\":\"Contributor\",\"principalId\":\"" STRANGER "\"}",
            201);
    assert_int_equal(call("PATCH", vm, "{\"identity\":{\"type\":\"SystemAssigned\"}}", t, &r), 200);
    h_resp_cleanup(&r);
    expect_denied("PUT", ra, ra_body, t, "Microsoft.Authorization/roleAssignments/write");
    assert_int_equal(
        call("GET", RG1 "/providers/Microsoft.Authorization/permissions?" AV, NULL, t, &r), 200);
    assert_string_equal(jstr(r.json, "value.0.actions.0"), "*");
    assert_string_equal(jstr(r.json, "value.0.notActions.1"), "Microsoft.Authorization/*/Write");
    h_resp_cleanup(&r);
    /* Role Based Access Control Administrator at the resource group, through a group */
    control("POST", "/_sim/groups",
            "{\"id\":\"11111111-0000-4000-8000-0000000000aa\",\"displayName\":\"rbac admins\"}",
            201);
    control("POST", "/_sim/servicePrincipals",
            "{\"id\":\"" STRANGER "\",\"appId\":\"11111111-0000-4000-8000-0000000000ab\","
            "\"displayName\":\"stranger\"}",
            201);
    control("POST", "/_sim/groups/11111111-0000-4000-8000-0000000000aa/members",
            "{\"id\":\"" STRANGER "\"}", 200);
    control("POST", "/_sim/roleAssignments",
            "{\"scope\":\"" RG1 "\",\"roleName\":\"Role Based Access Control Administrator\","
            "\"principalId\":\"11111111-0000-4000-8000-0000000000aa\"}",
            201);
    assert_int_equal(call("PUT", ra, ra_body, t, &r), 201);
    h_resp_cleanup(&r);
    assert_int_equal(call("DELETE", ra, NULL, t, &r), 200);
    h_resp_cleanup(&r);
}

static void test_graph_app_roles(void **state)
{
    char t[4096];
    struct resp r;
    (void)state;
    mint("{\"aud\":\"https://graph.microsoft.com\"}", t, sizeof(t));
    assert_int_equal(call("GET", "/v1.0/users/alice@contoso.example", NULL, t, &r), 403);
    assert_string_equal(err_code(&r), "Authorization_RequestDenied");
    assert_string_equal(jstr(r.json, "error.message"),
                        "Insufficient privileges to complete the operation.");
    h_resp_cleanup(&r);
    mint("{\"aud\":\"https://graph.microsoft.com\",\"roles\":[\"User.Read.All\"]}", t, sizeof(t));
    assert_int_equal(call("GET", "/v1.0/users/alice@contoso.example", NULL, t, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(
        call("POST", "/v1.0/directoryObjects/getByIds", "{\"ids\":[\"" ALICE "\"]}", t, &r), 403);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/v1.0/devices", NULL, t, &r), 403);
    h_resp_cleanup(&r);
    /* the demo app's client-credentials token carries its consented app roles */
    {
        const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        char *u = url("/" TENANT "/oauth2/v2.0/token");
        struct jws j;
        assert_int_equal(h_http("POST", u,
                                "grant_type=client_credentials&client_id=" APP
                                "&client_secret=" SECRET
                                "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
                                h, &r),
                         200);
        assert_int_equal(jws_parse(jstr(r.json, "access_token"), &j, NULL), ERR_OK);
        assert_int_equal(json_array_size(json_object_get(j.claims, "roles")), 7);
        jws_cleanup(&j);
        free(u);
        h_resp_cleanup(&r);
    }
}

/* ---- the errors production meets, injected per scope ---- */

static void expect_op(const char *op, const char *status, const char *code)
{
    struct resp r;

    assert_int_equal(call("GET", op, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "status"), status);
    assert_string_equal(jstr(r.json, "error.code"), code);
    h_resp_cleanup(&r);
}

/* PUT AADLoginForWindows (created or updated); the Azure-AsyncOperation path into op. */
static void put_aad_op(const char *vm, char *op, size_t cap)
{
    struct resp r;
    char *p = xasprintf(VMS "%s/extensions/AADLoginForWindows?" CV, vm);
    char h[512];

    assert_int_equal(call("PUT", p, AAD_BODY, NULL, &r) / 100, 2);
    assert_true(h_resp_header(&r, "Azure-AsyncOperation", h, sizeof(h)));
    snprintf(op, cap, "%s", h + strlen(SIM.p.url));
    h_resp_cleanup(&r);
    free(p);
}

static void test_scope_faults(void **state)
{
    char op[512];
    struct resp r;
    const char *pa = "/subscriptions/" SUB1 "/providers/Microsoft.Authorization/policyAssignments/"
                     "deny-aad-login";
    (void)state;
    control("PUT", "/_sim/faults", "{\"scopes\":[{\"scope\":\"/x\",\"kind\":\"flood\"}]}", 400);
    control("PUT", "/_sim/faults",
            "{\"scopes\":["
            "{\"scope\":\"" RG1 "\",\"kind\":\"policyDeny\",\"operations\":[\"ext.put\"],"
            "\"policyAssignmentId\":\"/subscriptions/" SUB1
            "/providers/Microsoft.Authorization/policyAssignments/deny-aad-login\"},"
            "{\"scope\":\"/subscriptions/" SUB1 "\",\"kind\":\"roleAssignmentLimit\"}]}",
            200);
    put_ext("ws2022-app-01", "AADLoginForWindows", 403, "RequestDisallowedByPolicy", NULL, 0);
    assert_int_equal(
        call("PUT", VMS "ws2022-app-01/extensions/AADLoginForWindows?" CV, AAD_BODY, NULL, &r),
        403);
    assert_string_equal(jstr(r.json, "error.additionalInfo.0.type"), "PolicyViolation");
    assert_string_equal(jstr(r.json, "error.additionalInfo.0.info.policyAssignmentId"), pa);
    assert_non_null(strstr(jstr(r.json, "error.message"), "was disallowed by policy"));
    h_resp_cleanup(&r);
    /* only the listed operation is denied */
    patch_identity("ws2022-app-01", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 200, &r);
    h_resp_cleanup(&r);
    assert_int_equal(
        ra_put(VMS "win-vm-01", "c0000000-0000-4000-8000-0000000000f1", USER_ROLE, ALICE, NULL, &r),
        400);
    assert_string_equal(err_code(&r), "RoleAssignmentLimitExceeded");
    h_resp_cleanup(&r);
    /* locks: CanNotDelete lets writes through and stops deletes; ReadOnly stops writes */
    control("PUT", "/_sim/faults",
            "{\"scopes\":[{\"scope\":\"" VMS "ws2022-app-01\",\"kind\":\"lock\","
            "\"lockType\":\"CanNotDelete\",\"name\":\"keep\"},"
            "{\"scope\":\"" VMS "win10-desk-01\",\"kind\":\"lock\",\"lockType\":\"ReadOnly\"}]}",
            200);
    put_ext("ws2022-app-01", "AADLoginForWindows", 201, NULL, op, sizeof(op));
    assert_int_equal(
        call("DELETE", VMS "ws2022-app-01/extensions/AADLoginForWindows?" CV, NULL, NULL, &r), 409);
    assert_string_equal(err_code(&r), "ScopeLocked");
    assert_non_null(strstr(jstr(r.json, "error.message"),
                           "cannot perform delete operation because following scope(s) are "
                           "locked: '" VMS "ws2022-app-01/providers/Microsoft.Authorization/locks/"
                           "keep'"));
    h_resp_cleanup(&r);
    patch_identity("win10-desk-01", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 409, &r);
    assert_string_equal(err_code(&r), "ScopeLocked");
    h_resp_cleanup(&r);
    /* operations: preempted, the 90-minute extension timeout, a VM agent that is not ready */
    control("PUT", "/_sim/faults",
            "{\"scopes\":[{\"scope\":\"" VMS "win10-desk-01\",\"kind\":\"operationPreempted\"},"
            "{\"scope\":\"" VMS "win11-desk-01\",\"kind\":\"extensionTimeout\"},"
            "{\"scope\":\"" VMS "ws2022-app-01\",\"kind\":\"agentNotReady\"}]}",
            200);
    patch_identity("win10-desk-01", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 200, &r);
    assert_true(h_resp_header(&r, "Azure-AsyncOperation", op, sizeof(op)));
    h_resp_cleanup(&r);
    memmove(op, op + strlen(SIM.p.url), strlen(op) - strlen(SIM.p.url) + 1);
    expect_op(op, "Canceled", "OperationPreempted");
    put_aad_op("ws2022-app-01", op, sizeof(op));
    expect_op(op, "Failed", "VMAgentStatusCommunicationError");
    patch_identity("win11-desk-01", "{\"identity\":{\"type\":\"SystemAssigned\"}}", 200, &r);
    h_resp_cleanup(&r);
    put_aad_op("win11-desk-01", op, sizeof(op));
    expect_op(op, "Failed", "VMExtensionProvisioningTimeout");
}

/* Buckets per principal, the Compute provider's policies, Graph 429s without Retry-After, and
 * violations counted per bucket. */
static void test_throttle_principals_compute_graph(void **state)
{
    struct resp r;
    char h[256], other[4096], g[4096];
    (void)state;
    mint("{\"aud\":\"https://management.azure.com\",\"oid\":\"" STRANGER "\"}", other,
         sizeof(other));
    control("PUT", "/_sim/throttle", "{\"arm\":{\"reads\":{\"burst\":2,\"rate\":0.01}}}", 200);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 200);
        h_resp_cleanup(&r);
    }
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 429);
    h_resp_cleanup(&r);
    /* another principal has its own bucket in the same subscription */
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, other, &r), 200);
    h_resp_cleanup(&r);
    /* Compute: LowCostGet3Min of 2, reported and enforced per subscription */
    control("POST", "/_sim/reset", "{}", 200);
    control("PUT", "/_sim/throttle", "{\"compute\":{\"LowCostGet3Min\":{\"limit\":2}}}", 200);
    control("POST", "/_sim/stats/reset", "{}", 200);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 200);
    assert_true(h_resp_header(&r, "x-ms-ratelimit-remaining-resource", h, sizeof(h)));
    assert_non_null(strstr(h, "Microsoft.Compute/LowCostGet3Min;1"));
    assert_non_null(strstr(h, "Microsoft.Compute/LowCostGet30Min;"));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, other, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 429);
    assert_string_equal(err_code(&r), "OperationNotAllowed");
    assert_string_equal(jstr(r.json, "error.details.0.code"), "TooManyRequests");
    assert_string_equal(jstr(r.json, "error.details.0.target"), "LowCostGet3Min");
    assert_true(h_resp_header(&r, "Retry-After", h, sizeof(h)));
    assert_true(strtol(h, NULL, 10) > 1);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 429); /* too early */
    h_resp_cleanup(&r);
    {
        char *u = url("/_sim/stats");
        assert_int_equal(h_http("GET", u, NULL, NULL, &r), 200);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(r.json, "violationsByBucket"),
                                               "compute|" SUB1 "|LowCostGet3Min")),
            1);
        h_resp_cleanup(&r);
        free(u);
    }
    /* Graph: per app; every 2nd 429 comes without Retry-After */
    control("PUT", "/_sim/throttle",
            "{\"graph\":{\"burst\":1,\"rate\":0.01,\"omitRetryAfterEvery\":2}}", 200);
    control("POST", "/_sim/stats/reset", "{}", 200);
    mint("{\"aud\":\"https://graph.microsoft.com\",\"roles\":[\"Directory.Read.All\"]}", g,
         sizeof(g));
    assert_int_equal(call("GET", "/v1.0/users/alice@contoso.example", NULL, g, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/v1.0/users/alice@contoso.example", NULL, g, &r), 429);
    assert_true(h_resp_header(&r, "Retry-After", h, sizeof(h)));
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", "/v1.0/users/alice@contoso.example", NULL, g, &r), 429);
    assert_false(h_resp_header(&r, "Retry-After", h, sizeof(h)));
    h_resp_cleanup(&r);
}

/* ARM throttles deletes in their own bucket beside reads and writes, and a subscription as a
 * whole gets 15x a principal's limit: the 16th principal is refused although its own bucket is
 * full (request-limits-and-throttling, as sim_throttle.c cites). */
static void test_throttle_deletes_and_subscription(void **state)
{
    static const char *ra = RG1 "/providers/Microsoft.Authorization/roleAssignments/"
                                "0c5f3a6e-0000-4000-8000-00000000dd01?" AV;
    char t[4096], first[4096];
    struct resp r;
    long st;
    (void)state;

    control("PUT", "/_sim/throttle", "{\"arm\":{\"deletes\":{\"burst\":1,\"rate\":0.001}}}", 200);
    st = call("DELETE", ra, NULL, NULL, &r);
    assert_true(st == 200 || st == 204);
    h_resp_cleanup(&r);
    assert_int_equal(call("DELETE", ra, NULL, NULL, &r), 429);
    h_resp_cleanup(&r);
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, NULL, &r), 200); /* reads: own */
    h_resp_cleanup(&r);

    control("POST", "/_sim/reset", "{}", 200);
    control("PUT", "/_sim/throttle", "{\"arm\":{\"reads\":{\"burst\":1,\"rate\":0.001}}}", 200);
    for (int i = 0; i < 16; i++) {
        char claims[160];
        snprintf(claims, sizeof(claims),
                 "{\"aud\":\"https://management.azure.com\",\"oid\":"
                 "\"22222222-0000-4000-8000-0000000000%02d\"}",
                 i);
        mint(claims, i == 0 ? first : t, sizeof(t));
        assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, i == 0 ? first : t, &r),
                         i < 15 ? 200 : 429);
        h_resp_cleanup(&r);
    }
    assert_int_equal(call("GET", VMS "win-vm-01?" CV, NULL, first, &r), 429);
    h_resp_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_discovery_and_jwks, reset),
        cmocka_unit_test_setup(test_token_secret, reset),
        cmocka_unit_test_setup(test_token_assertion, reset),
        cmocka_unit_test_setup(test_device_code, reset),
        cmocka_unit_test_setup(test_arm_auth, reset),
        cmocka_unit_test_setup(test_api_version, reset),
        cmocka_unit_test_setup(test_api_versions_current, reset),
        cmocka_unit_test_setup(test_vm_get_case_insensitive, reset),
        cmocka_unit_test_setup(test_vm_list_paging, reset),
        cmocka_unit_test_setup(test_identity_patch, reset),
        cmocka_unit_test_setup(test_patch_if_match, reset),
        cmocka_unit_test_setup(test_ext_failure_codes, reset),
        cmocka_unit_test_setup(test_vm_shapes, reset),
        cmocka_unit_test_setup(test_ext_success_and_rules, reset),
        cmocka_unit_test_setup(test_join_leaves_device, reset),
        cmocka_unit_test_setup(test_role_assignment_rules, reset),
        cmocka_unit_test_setup(test_principal_replication_delay, reset),
        cmocka_unit_test_setup(test_role_assignment_filters, reset),
        cmocka_unit_test_setup(test_graph, reset),
        cmocka_unit_test_setup(test_imds, reset),
        cmocka_unit_test_setup(test_throttle_and_violations, reset),
        cmocka_unit_test_setup(test_bad_scenario, reset),
        cmocka_unit_test_setup(test_arm_authorization, reset),
        cmocka_unit_test_setup(test_graph_app_roles, reset),
        cmocka_unit_test_setup(test_auth_code_pkce, reset),
        cmocka_unit_test_setup(test_scope_faults, reset),
        cmocka_unit_test_setup(test_throttle_principals_compute_graph, reset),
        cmocka_unit_test_setup(test_throttle_deletes_and_subscription, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
