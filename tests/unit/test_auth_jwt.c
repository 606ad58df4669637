/* test_auth_jwt.c: caller JWT validation against a JWKS served through the fetch seam: a good
 * token and each way a token must be refused (expired, not yet valid, non-numeric nbf, a
 * lifetime no Entra token has, wrong aud/iss/tid, bad signature, alg none, HS256, PS256,
 * unknown kid, oversized), app versus user told without the optional idtyp, the rate-limited
 * background refetch on an unknown kid that never holds a request, and role mapping. Keys are
 * generated at test time. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/auth.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

#define LOGIN "https://login.test"
#define TENANT "11111111-2222-3333-4444-555555555555"
#define AUD "api://vmlogind"
#define NOW_MS 1800000000000LL
#define NOW_S (NOW_MS / 1000)

static EVP_PKEY *signer;  /* published in the JWKS as kid "k1" */
static EVP_PKEY *other;   /* not published */
static EVP_PKEY *rotated; /* published as "k2" only once rotate is set */
static bool rotate;
static unsigned fetches;
static int64_t fake_now = NOW_MS; /* the validator's clock for refreshes */
/* While hold is set, a fetch waits until it is cleared (a slow tenant). */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static bool hold, holding;

static int64_t fake_clock(void)
{
    return fake_now;
}

static void set_hold(bool on)
{
    pthread_mutex_lock(&hold_mu);
    hold = on;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
}

static enum err fake_fetch(void *arg, const char *url, struct buf *out, struct err_detail *d)
{
    (void)arg;
    (void)d;
    pthread_mutex_lock(&hold_mu);
    holding = hold;
    pthread_cond_broadcast(&hold_cv);
    while (hold)
        pthread_cond_wait(&hold_cv, &hold_mu);
    holding = false;
    pthread_mutex_unlock(&hold_mu);
    fetches++;
    if (strcmp(url, LOGIN "/" TENANT "/v2.0/.well-known/openid-configuration") == 0)
        return buf_appends(out, "{\"issuer\":\"" LOGIN "/" TENANT "/v2.0\","
                                "\"jwks_uri\":\"" LOGIN "/" TENANT "/discovery/v2.0/keys\"}");
    if (strcmp(url, LOGIN "/" TENANT "/discovery/v2.0/keys") == 0) {
        json_t *keys = json_array(), *jwks;
        char *text;
        enum err rc;
        json_array_append_new(keys, jwk_from_pkey(signer, "k1", NULL));
        if (rotate)
            json_array_append_new(keys, jwk_from_pkey(rotated, "k2", NULL));
        jwks = json_pack("{s:o}", "keys", keys);
        text = json_dumps(jwks, JSON_COMPACT);
        json_decref(jwks);
        rc = buf_appends(out, text);
        free(text);
        return rc;
    }
    return ERR_NOT_FOUND;
}

static struct auth_jwt *new_validator(void)
{
    struct auth_jwt_options o = {
        .login_url = LOGIN "/",
        .tenant_id = TENANT,
        .audiences = "00000000-aaaa-bbbb-cccc-000000000000, " AUD,
        .skew_s = 300,
        .refresh_min_s = 60,
        .cache_s = 86400,
        .role_reader = "VmLogin.Reader",
        .role_operator = "VmLogin.Operator",
        .role_administrator = "VmLogin.Administrator",
        .fetch = fake_fetch,
        .now_ms = fake_clock,
    };
    struct auth_jwt *j = NULL;

    assert_int_equal(auth_jwt_new(&o, &j, NULL), ERR_OK);
    return j;
}

#define USER_OID "9f0e2d4c-1111-2222-3333-444444444444"
#define CLIENT_APP "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

/* A delegated (user) token as Entra sends it: scp, a pairwise sub, the client in azp. */
static json_t *good_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:[s]}", "iss",
                     LOGIN "/" TENANT "/v2.0", "aud", AUD, "tid", TENANT, "oid", USER_OID, "sub",
                     "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "scp", "user_impersonation",
                     "azp", CLIENT_APP, "iat", (json_int_t)NOW_S - 10, "nbf",
                     (json_int_t)NOW_S - 10, "exp", (json_int_t)NOW_S + 3600, "ver", "2.0", "roles",
                     "VmLogin.Operator");
}

/* An app-only token: no scp, sub == oid (the service principal), the app in azp; no idtyp
 * (an optional claim). */
static json_t *app_claims(void)
{
    json_t *cl = good_claims();

    json_object_del(cl, "scp");
    json_object_set_new(cl, "oid", json_string("5a5a5a5a-0000-4000-8000-00000000005a"));
    json_object_set_new(cl, "sub", json_string("5a5a5a5a-0000-4000-8000-00000000005a"));
    json_object_set_new(cl, "azp", json_string("0a0b0c0d-0000-0000-0000-000000000002"));
    return cl;
}

static char *sign(EVP_PKEY *key, const char *kid, json_t *claims)
{
    json_t *hdr = json_pack("{s:s}", "kid", kid);
    char *t = jws_sign(key, "RS256", hdr, claims);

    json_decref(hdr);
    json_decref(claims);
    return t;
}

/* A token with any header, signed with nothing (alg none) or garbage. */
static char *craft(const char *header_json, json_t *claims, const char *sig)
{
    char *h = b64url_encode(header_json, strlen(header_json));
    char *payload = json_dumps(claims, JSON_COMPACT);
    char *p = b64url_encode(payload, strlen(payload));
    char *t = xasprintf("%s.%s.%s", h, p, sig);

    free(h);
    free(payload);
    free(p);
    json_decref(claims);
    return t;
}

static void expect(const char *token, enum err want, const char *code)
{
    struct auth_jwt *j = new_validator();
    struct auth_caller *c = NULL;
    struct err_detail d = {{0}, {0}};

    assert_int_equal(auth_jwt_verify(j, token, NOW_MS, &c, &d), want);
    if (code != NULL)
        assert_string_equal(d.code, code);
    if (want != ERR_OK)
        assert_null(c);
    auth_caller_free(c);
    auth_jwt_free(j);
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_json();
    signer = jose_rsa_generate(2048);
    other = jose_rsa_generate(2048);
    rotated = jose_rsa_generate(2048);
    return signer && other && rotated ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(signer);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rotated);
    return 0;
}

static void test_good_token(void **state)
{
    struct auth_jwt *j = new_validator();
    struct auth_caller *c = NULL;
    char *t = sign(signer, "k1", good_claims());

    (void)state;
    assert_int_equal(auth_jwt_verify(j, t, NOW_MS, &c, NULL), ERR_OK);
    assert_int_equal(c->role, AUTH_ROLE_OPERATOR);
    assert_int_equal(c->kind, AUTH_KIND_USER);
    assert_string_equal(c->subject, "user:" USER_OID);
    assert_string_equal(c->app_id, CLIENT_APP);
    assert_int_equal(c->nscopes, 0);
    assert_null(strstr(c->subject, t));
    auth_caller_free(c);
    auth_jwt_free(j);
    free(t);
}

static void test_v1_issuer_and_app(void **state)
{
    json_t *cl = good_claims();
    char *t;

    (void)state;
    json_object_set_new(cl, "iss", json_string("https://sts.windows.net/" TENANT "/"));
    json_object_set_new(cl, "ver", json_string("1.0"));
    json_object_set_new(cl, "idtyp", json_string("app"));
    json_object_del(cl, "scp");
    json_object_del(cl, "azp");
    json_object_set_new(cl, "sub", json_string(USER_OID));
    json_object_set_new(cl, "appid", json_string("0a0b0c0d-0000-0000-0000-000000000001"));
    json_object_set_new(cl, "roles",
                        json_pack("[s, s]", "VmLogin.Reader", "VmLogin.Administrator"));
    t = sign(signer, "k1", cl);
    {
        struct auth_jwt *j = new_validator();
        struct auth_caller *c = NULL;
        assert_int_equal(auth_jwt_verify(j, t, NOW_MS, &c, NULL), ERR_OK);
        assert_int_equal(c->role, AUTH_ROLE_ADMINISTRATOR);
        assert_string_equal(c->subject, "app:0a0b0c0d-0000-0000-0000-000000000001");
        auth_caller_free(c);
        auth_jwt_free(j);
    }
    free(t);
}

static void test_no_known_role(void **state)
{
    json_t *cl = good_claims();
    struct auth_jwt *j = new_validator();
    struct auth_caller *c = NULL;
    char *t;

    (void)state;
    json_object_set_new(cl, "roles", json_pack("[s]", "Something.Else"));
    t = sign(signer, "k1", cl);
    assert_int_equal(auth_jwt_verify(j, t, NOW_MS, &c, NULL), ERR_OK);
    assert_int_equal(c->role, AUTH_ROLE_NONE);
    auth_caller_free(c);
    auth_jwt_free(j);
    free(t);
}

static void claim_case(const char *name, json_t *value, const char *code)
{
    json_t *cl = good_claims();
    char *t;

    if (value == NULL)
        json_object_del(cl, name);
    else
        json_object_set_new(cl, name, value);
    t = sign(signer, "k1", cl);
    expect(t, code ? ERR_UNAUTHORIZED : ERR_OK, code);
    free(t);
}

static void test_time_claims(void **state)
{
    (void)state;
    claim_case("exp", json_integer(NOW_S - 301), "token_expired");
    claim_case("exp", json_integer(NOW_S - 100), NULL); /* within the skew */
    claim_case("exp", NULL, "invalid_token");
    claim_case("exp", json_string("soon"), "invalid_token");
    claim_case("nbf", json_integer(NOW_S + 301), "token_not_yet_valid");
    claim_case("nbf", json_integer(NOW_S + 100), NULL);
}

/* Non-numeric nbf/iat are refused, not ignored; no token may live longer than Entra's
 * longest (1 day): exp in 9999, or a day and more past nbf/iat. */
static void test_time_claims_strict(void **state)
{
    (void)state;
    claim_case("nbf", json_string("later"), "invalid_token");
    claim_case("nbf", json_string("1800000000"), "invalid_token");
    claim_case("nbf", json_true(), "invalid_token");
    claim_case("nbf", json_integer(-5), "invalid_token");
    claim_case("iat", json_string("now"), "invalid_token");
    claim_case("nbf", NULL, NULL);
    claim_case("exp", json_integer(253402300799LL), "token_lifetime_too_long");
    claim_case("exp", json_integer(NOW_S + 86400 + 301), "token_lifetime_too_long");
    claim_case("exp", json_integer(NOW_S + 86400 - 3600), NULL);
    claim_case("nbf", json_integer(NOW_S - 7 * 86400), "token_lifetime_too_long");
    claim_case("iat", json_integer(NOW_S - 2 * 86400), "token_lifetime_too_long");
}

static struct auth_caller *verify_ok(json_t *claims)
{
    struct auth_jwt *j = new_validator();
    struct auth_caller *c = NULL;
    char *t = sign(signer, "k1", claims);

    assert_int_equal(auth_jwt_verify(j, t, NOW_MS, &c, NULL), ERR_OK);
    auth_jwt_free(j);
    free(t);
    return c;
}

/* App versus user from the claims Entra always sends, never from the optional idtyp. */
static void test_app_without_idtyp(void **state)
{
    struct auth_caller *c;
    json_t *cl;
    char *t;

    (void)state;
    c = verify_ok(app_claims());
    assert_int_equal(c->kind, AUTH_KIND_APP);
    assert_string_equal(c->subject, "app:0a0b0c0d-0000-0000-0000-000000000002");
    auth_caller_free(c);
    /* v1: the app is in appid */
    cl = app_claims();
    json_object_del(cl, "azp");
    json_object_set_new(cl, "appid", json_string("0a0b0c0d-0000-0000-0000-000000000003"));
    c = verify_ok(cl);
    assert_string_equal(c->subject, "app:0a0b0c0d-0000-0000-0000-000000000003");
    auth_caller_free(c);
    /* idtyp "user" does not turn an app token into a user */
    cl = app_claims();
    json_object_set_new(cl, "idtyp", json_string("user"));
    c = verify_ok(cl);
    assert_int_equal(c->kind, AUTH_KIND_APP);
    auth_caller_free(c);
    /* a user token without idtyp stays a user and keeps its client app */
    c = verify_ok(good_claims());
    assert_int_equal(c->kind, AUTH_KIND_USER);
    assert_string_equal(c->app_id, CLIENT_APP);
    auth_caller_free(c);
    /* no scp: an app token must name its application, and its sub is its oid */
    cl = app_claims();
    json_object_del(cl, "azp");
    t = sign(signer, "k1", cl);
    expect(t, ERR_UNAUTHORIZED, "invalid_token");
    free(t);
    cl = app_claims();
    json_object_set_new(cl, "sub", json_string("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"));
    t = sign(signer, "k1", cl);
    expect(t, ERR_UNAUTHORIZED, "invalid_token");
    free(t);
}

static void test_identity_claims(void **state)
{
    (void)state;
    claim_case("aud", json_string("api://someone-else"), "invalid_audience");
    claim_case("aud", json_pack("[s, s]", "x", AUD), NULL);
    claim_case("aud", NULL, "invalid_audience");
    claim_case("aud", json_string("00000000-aaaa-bbbb-cccc-000000000000"), NULL);
    claim_case("iss", json_string("https://evil.test/" TENANT "/v2.0"), "invalid_issuer");
    claim_case("iss", json_string(LOGIN "/" TENANT "/v2.0/"), "invalid_issuer");
    claim_case("iss", NULL, "invalid_issuer");
    claim_case("tid", json_string("99999999-2222-3333-4444-555555555555"), "invalid_tenant");
    claim_case("tid", NULL, "invalid_tenant");
    claim_case("ver", json_string("3.0"), "invalid_token");
    claim_case("oid", json_string("a b"), "invalid_token");
}

static void test_bad_signature(void **state)
{
    char *t = sign(other, "k1", good_claims());
    char *u;

    (void)state;
    expect(t, ERR_UNAUTHORIZED, "invalid_signature");
    /* a valid signature moved onto other claims */
    u = sign(signer, "k1", good_claims());
    {
        json_t *cl = good_claims();
        json_object_set_new(cl, "roles", json_pack("[s]", "VmLogin.Administrator"));
        char *forged = craft("{\"alg\":\"RS256\",\"kid\":\"k1\"}", cl, strrchr(u, '.') + 1);
        expect(forged, ERR_UNAUTHORIZED, "invalid_signature");
        free(forged);
    }
    free(u);
    free(t);
}

static void test_algorithms_refused(void **state)
{
    char *t;

    (void)state;
    t = craft("{\"alg\":\"none\",\"kid\":\"k1\"}", good_claims(), "");
    expect(t, ERR_UNAUTHORIZED, NULL);
    free(t);
    t = craft("{\"alg\":\"none\",\"kid\":\"k1\"}", good_claims(), "AAAA");
    expect(t, ERR_UNAUTHORIZED, "unsupported_alg");
    free(t);
    t = craft("{\"alg\":\"HS256\",\"kid\":\"k1\"}", good_claims(), "c2lnbmF0dXJl");
    expect(t, ERR_UNAUTHORIZED, "unsupported_alg");
    free(t);
    {
        json_t *hdr = json_pack("{s:s}", "kid", "k1");
        json_t *cl = good_claims();
        t = jws_sign(signer, "PS256", hdr, cl);
        json_decref(hdr);
        json_decref(cl);
        expect(t, ERR_UNAUTHORIZED, "unsupported_alg");
        free(t);
    }
    t = craft("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}", good_claims(), "AAAA");
    expect(t, ERR_UNAUTHORIZED, "invalid_token");
    free(t);
    t = craft("{\"alg\":\"RS256\"}", good_claims(), "AAAA");
    expect(t, ERR_UNAUTHORIZED, "invalid_token");
    free(t);
}

static void test_malformed_and_large(void **state)
{
    char *big = xmalloc(AUTH_JWT_MAX_BYTES + 10);

    (void)state;
    expect("not-a-jwt", ERR_UNAUTHORIZED, "invalid_token");
    expect("a.b.c", ERR_UNAUTHORIZED, "invalid_token");
    expect("", ERR_UNAUTHORIZED, "invalid_token");
    memset(big, 'a', AUTH_JWT_MAX_BYTES + 9);
    big[AUTH_JWT_MAX_BYTES + 9] = '\0';
    expect(big, ERR_UNAUTHORIZED, "token_too_large");
    free(big);
}

static void test_unknown_kid_refetch_is_limited(void **state)
{
    struct auth_jwt *j;
    struct auth_caller *c = NULL;
    struct err_detail d = {{0}, {0}};
    char *good = sign(signer, "k1", good_claims());
    char *k2 = sign(rotated, "k2", good_claims());
    unsigned f0;

    (void)state;
    rotate = false;
    fetches = 0;
    fake_now = NOW_MS;
    j = new_validator(); /* fetched once at start */
    assert_int_equal(auth_jwt_verify(j, good, NOW_MS, &c, NULL), ERR_OK);
    auth_caller_free(c);
    c = NULL;
    f0 = auth_jwt_fetches(j);
    assert_int_equal(f0, 1);
    assert_int_equal(fetches, 2); /* discovery + keys */
    /* unknown kid within refresh_min_s of the last fetch: no refetch */
    fake_now = NOW_MS + 1000;
    assert_int_equal(auth_jwt_verify(j, k2, NOW_MS + 1000, &c, &d), ERR_UNAUTHORIZED);
    assert_string_equal(d.code, "unknown_kid");
    auth_jwt_settle(j);
    assert_int_equal(auth_jwt_fetches(j), f0);
    /* a flood of unknown kids still does not refetch */
    for (int i = 0; i < 20; i++) {
        fake_now = NOW_MS + 2000 + i;
        assert_int_equal(auth_jwt_verify(j, k2, NOW_MS + 2000 + i, &c, &d), ERR_UNAUTHORIZED);
    }
    auth_jwt_settle(j);
    assert_int_equal(auth_jwt_fetches(j), f0);
    /* keys rolled; after the gap an unknown kid asks for one refetch in the background and is
     * told to retry (503), without waiting for it; once it ran, the token passes */
    rotate = true;
    fake_now = NOW_MS + 61000;
    assert_int_equal(auth_jwt_verify(j, k2, NOW_MS + 61000, &c, &d), ERR_UNAVAILABLE);
    assert_string_equal(d.code, "jwks_refreshing");
    auth_jwt_settle(j);
    assert_int_equal(auth_jwt_fetches(j), f0 + 1);
    assert_int_equal(auth_jwt_verify(j, k2, NOW_MS + 61000, &c, NULL), ERR_OK);
    auth_caller_free(c);
    c = NULL;
    /* known kids never refetch */
    assert_int_equal(auth_jwt_verify(j, good, NOW_MS + 62000, &c, NULL), ERR_OK);
    auth_jwt_settle(j);
    assert_int_equal(auth_jwt_fetches(j), f0 + 1);
    auth_caller_free(c);
    rotate = false;
    free(good);
    free(k2);
    auth_jwt_free(j);
}

/* A slow tenant never holds a request: while a refresh hangs on the network, tokens with a
 * known kid pass and an unknown kid is answered at once. */
static void test_refresh_never_blocks_requests(void **state)
{
    struct auth_jwt *j;
    struct auth_caller *c = NULL;
    struct err_detail d = {{0}, {0}};
    char *good = sign(signer, "k1", good_claims());
    char *k2 = sign(rotated, "k2", good_claims());

    (void)state;
    rotate = false;
    fake_now = NOW_MS;
    j = new_validator();
    set_hold(true);
    rotate = true;
    fake_now = NOW_MS + 3600 * 1000;
    assert_int_equal(auth_jwt_verify(j, k2, NOW_MS, &c, &d), ERR_UNAVAILABLE);
    assert_string_equal(d.code, "jwks_refreshing");
    pthread_mutex_lock(&hold_mu); /* the refresh is now stuck in the fetch */
    while (!holding)
        pthread_cond_wait(&hold_cv, &hold_mu);
    pthread_mutex_unlock(&hold_mu);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(auth_jwt_verify(j, good, NOW_MS, &c, NULL), ERR_OK);
        auth_caller_free(c);
        c = NULL;
        assert_int_equal(auth_jwt_verify(j, k2, NOW_MS, &c, &d), ERR_UNAUTHORIZED);
        assert_string_equal(d.code, "unknown_kid");
    }
    set_hold(false);
    auth_jwt_settle(j);
    assert_int_equal(auth_jwt_verify(j, k2, NOW_MS, &c, NULL), ERR_OK);
    auth_caller_free(c);
    rotate = false;
    fake_now = NOW_MS;
    free(good);
    free(k2);
    auth_jwt_free(j);
}

static enum err failing_fetch(void *arg, const char *url, struct buf *out, struct err_detail *d)
{
    (void)arg;
    (void)url;
    (void)out;
    return err_set(d, ERR_UNAVAILABLE, "jwks_unavailable", "down");
}

static void test_jwks_unavailable(void **state)
{
    struct auth_jwt_options o = {
        .login_url = LOGIN,
        .tenant_id = TENANT,
        .audiences = AUD,
        .refresh_min_s = 60,
        .cache_s = 86400,
        .fetch = failing_fetch,
    };
    struct auth_jwt *j = NULL;
    struct auth_caller *c = NULL;
    struct err_detail d = {{0}, {0}};
    char *t = sign(signer, "k1", good_claims());

    (void)state;
    assert_int_equal(auth_jwt_new(&o, &j, NULL), ERR_OK);
    assert_int_equal(auth_jwt_verify(j, t, NOW_MS, &c, &d), ERR_UNAVAILABLE);
    assert_string_equal(d.code, "jwks_unavailable");
    assert_null(c);
    auth_jwt_free(j);
    free(t);
    /* no audience: refused at construction */
    o.audiences = "";
    assert_int_equal(auth_jwt_new(&o, &j, NULL), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token),
        cmocka_unit_test(test_v1_issuer_and_app),
        cmocka_unit_test(test_no_known_role),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_time_claims_strict),
        cmocka_unit_test(test_app_without_idtyp),
        cmocka_unit_test(test_refresh_never_blocks_requests),
        cmocka_unit_test(test_identity_claims),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_algorithms_refused),
        cmocka_unit_test(test_malformed_and_large),
        cmocka_unit_test(test_unknown_kid_refetch_is_limited),
        cmocka_unit_test(test_jwks_unavailable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
