/* sim_entra.c: the Entra side: signing key, OpenID discovery (v2, v1, ADFS), JWKS, the
 * client-credentials token endpoint (secret, certificate assertion, federated assertion),
 * IMDS, and bearer checks for ARM and Graph. AADSTS error shapes follow azure-wire.md 12. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

#define TOKEN_LIFETIME_S 3599
#define SKEW_S 300
#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

static const char *ARM_AUDS[] = {"https://management.azure.com", "https://management.azure.com/",
                                 "https://management.core.windows.net/",
                                 "https://management.core.windows.net", NULL};

bool sim_keys_init(void)
{
    char *x5t;

    S.sign_key = jose_rsa_generate(2048);
    S.sign_cert = S.sign_key ? jose_selfsigned_cert(S.sign_key, "azsim token signing", 365) : NULL;
    if (!S.sign_cert)
        return false;
    x5t = x5t_sha1(S.sign_cert);
    snprintf(S.kid, sizeof(S.kid), "%s", x5t);
    free(x5t);
    return true;
}

char *sim_token_sign(json_t *claims, const char *kid)
{
    json_t *hdr = json_pack("{s:s, s:s}", "kid", kid ? kid : S.kid, "x5t", kid ? kid : S.kid);
    char *t = jws_sign(S.sign_key, "RS256", hdr, claims);

    json_decref(hdr);
    json_decref(claims);
    return t;
}

json_t *sim_token_app_claims(const char *base, const char *aud, const char *appid, const char *oid,
                             int64_t lifetime_s)
{
    int64_t now = clock_now_ms() / 1000;
    char uti[UUID_STR_LEN];
    char *iss = xasprintf("%s/%s/v2.0", base, S.tenant);
    json_t *c;

    uuid_v4(uti);
    c = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                  "aud", aud, "iss", iss, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                  (json_int_t)(now + lifetime_s), "appid", appid, "azp", appid, "appidacr", "1",
                  "idp", iss, "idtyp", "app", "oid", oid, "sub", oid, "tid", S.tenant, "uti", uti,
                  "ver", "2.0");
    free(iss);
    return c;
}

/* ---- helpers ---- */

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Value of key in an x-www-form-urlencoded body, decoded; NULL if absent. Caller frees. */
char *sim_form_get(const char *body, const char *key)
{
    size_t klen = strlen(key);
    const char *p = body;

    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char *out = xmalloc(n);
            size_t o = 0;
            for (size_t i = klen + 1; i < n; i++) {
                if (p[i] == '+') {
                    out[o++] = ' ';
                } else if (p[i] == '%' && i + 2 < n + 1 && hexv(p[i + 1]) >= 0 &&
                           hexv(p[i + 2]) >= 0) {
                    out[o++] = (char)(hexv(p[i + 1]) * 16 + hexv(p[i + 2]));
                    i += 2;
                } else {
                    out[o++] = p[i];
                }
            }
            out[o] = '\0';
            return out;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

void sim_aadsts(struct sim_req *r, int status, const char *error, int code, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    char *desc;
    char ts[32];
    char ts2[32];
    char corr[UUID_STR_LEN];
    char *uri;
    int64_t now = clock_now_ms();

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    uuid_v4(corr);
    clock_fmt_rfc3339(now - now % 1000, ts, sizeof(ts));
    snprintf(ts2, sizeof(ts2), "%.10s %.8sZ", ts, ts + 11);
    desc = xasprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code,
                     msg, r->request_id, corr, ts2);
    uri = sim_url(r, "/error?code=%d", code);
    sim_reply_json(r, status,
                   json_pack("{s:s, s:s, s:[i], s:s, s:s, s:s, s:s}", "error", error,
                             "error_description", desc, "error_codes", code, "timestamp", ts2,
                             "trace_id", r->request_id, "correlation_id", corr, "error_uri", uri));
    free(uri);
    free(desc);
    free(msg);
}

bool sim_tenant_ok(const char *t)
{
    return sim_ieq(t, S.tenant) || sim_ieq(t, S.tenant_domain) || sim_ieq(t, "adfs");
}

/* ---- discovery and keys ---- */

static void discovery(struct sim_req *r)
{
    const char *t = r->segs[0];
    bool adfs = sim_ieq(t, "adfs");
    bool v2 = sim_seg_is(r, 1, "v2.0");
    bool generic = sim_ieq(t, "common") || sim_ieq(t, "organizations");
    char *iss, *authz, *tok, *jwks;
    json_t *doc;

    if (!adfs && !generic && !sim_tenant_ok(t)) {
        sim_aadsts(
            r, 400, "invalid_tenant", 90002,
            "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
            t);
        return;
    }
    if (adfs) {
        iss = sim_url(r, "/adfs");
        authz = sim_url(r, "/adfs/oauth2/authorize");
        tok = sim_url(r, "/adfs/oauth2/token");
        jwks = sim_url(r, "/adfs/discovery/keys");
    } else if (v2) {
        iss = generic ? sim_url(r, "/{tenantid}/v2.0") : sim_url(r, "/%s/v2.0", S.tenant);
        authz = sim_url(r, "/%s/oauth2/v2.0/authorize", t);
        tok = sim_url(r, "/%s/oauth2/v2.0/token", t);
        jwks = sim_url(r, "/%s/discovery/v2.0/keys", t);
    } else {
        iss = xasprintf("https://sts.windows.net/%s/", generic ? "{tenantid}" : S.tenant);
        authz = sim_url(r, "/%s/oauth2/authorize", t);
        tok = sim_url(r, "/%s/oauth2/token", t);
        jwks = sim_url(r, "/%s/discovery/keys", t);
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:[s,s], s:[s], s:[s], s:[s,s,s], s:[s,s,s], s:s, s:s, "
                    "s:s, s:s, s:b}",
                    "issuer", iss, "authorization_endpoint", authz, "token_endpoint", tok,
                    "jwks_uri", jwks, "response_types_supported", "code", "id_token",
                    "subject_types_supported", "pairwise", "id_token_signing_alg_values_supported",
                    "RS256", "token_endpoint_auth_methods_supported", "client_secret_post",
                    "private_key_jwt", "client_secret_basic", "scopes_supported", "openid",
                    "profile", "email", "tenant_region_scope", "EU", "cloud_instance_name",
                    "microsoftonline.com", "msgraph_host", "graph.microsoft.com", "rbac_url",
                    "https://pas.windows.net", "request_uri_parameter_supported", 0);
    free(iss);
    free(authz);
    free(tok);
    free(jwks);
    sim_reply_json(r, 200, doc);
}

static void keys(struct sim_req *r)
{
    json_t *jwk = jwk_from_pkey(S.sign_key, S.kid, S.sign_cert);
    bool v2 = sim_seg_is(r, 2, "v2.0");
    char *iss =
        v2 ? sim_url(r, "/%s/v2.0", S.tenant) : xasprintf("https://sts.windows.net/%s/", S.tenant);

    json_object_set_new(jwk, "issuer", json_string(iss));
    json_object_set_new(jwk, "cloud_instance_name", json_string("microsoftonline.com"));
    free(iss);
    sim_reply_json(r, 200, json_pack("{s:[o]}", "keys", jwk));
}

static void arm_metadata(struct sim_req *r)
{
    char *login = sim_url(r, "/adfs");
    char *aud = sim_url(r, "/");

    sim_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:s, s:{s:s, s:[s,s]}}", "galleryEndpoint", "",
                             "graphEndpoint", "https://graph.windows.net/", "portalEndpoint", "",
                             "authentication", "loginEndpoint", login, "audiences",
                             "https://management.core.windows.net/", aud));
    free(login);
    free(aud);
}

/* ---- token endpoint ---- */

struct treq {
    char *grant, *client_id, *secret, *atype, *assertion, *scope, *resource;
};

static void treq_free(struct treq *t)
{
    free(t->grant);
    free(t->client_id);
    free(t->secret);
    free(t->atype);
    free(t->assertion);
    free(t->scope);
    free(t->resource);
}

static void basic_auth(struct sim_req *r, struct treq *t)
{
    const char *h = sim_header(r, "Authorization");
    unsigned char *raw;
    size_t n;
    char *colon;

    if (!h || !sim_iprefix(h, "Basic "))
        return;
    raw = b64_decode(h + 6, strlen(h + 6), &n);
    colon = raw ? strchr((char *)raw, ':') : NULL;
    if (colon) {
        *colon = '\0';
        if (!t->client_id)
            t->client_id = xstrdup((char *)raw);
        if (!t->secret)
            t->secret = xstrdup(colon + 1);
    }
    free(raw);
}

/* The resource a token is for: scope "<resource>/.default" (v2, ADFS) or resource= (v1). */
static char *resource_of(struct sim_req *r, struct treq *t)
{
    const char *suffix = "/.default";
    char *s;
    size_t n;

    if (t->resource && !t->scope)
        return xstrdup(t->resource);
    if (!t->scope) {
        sim_aadsts(r, 400, "invalid_request", 900144,
                   "The request body must contain the following parameter: 'scope'.");
        return NULL;
    }
    s = xstrdup(t->scope);
    s[strcspn(s, " ")] = '\0';
    n = strlen(s);
    if (n <= strlen(suffix) || strcmp(s + n - strlen(suffix), suffix) != 0) {
        sim_aadsts(
            r, 400, "invalid_scope", 1002012,
            "The provided value for scope %s is not valid. Client credential flows must have "
            "a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
            t->scope);
        free(s);
        return NULL;
    }
    s[n - strlen(suffix)] = '\0';
    return s;
}

static bool jti_replayed(const char *jti, int64_t exp_s)
{
    int64_t *until;

    sim_jti_gc(clock_now_ms());
    if (sim_map_get(&S.jti_seen, jti))
        return true;
    until = xmalloc(sizeof(*until));
    *until = exp_s * 1000 + SKEW_S * 1000;
    sim_map_put(&S.jti_seen, jti, until);
    return false;
}

void sim_jti_gc(int64_t now_ms)
{
    if (S.jti_seen.len < 4096)
        return;
    for (size_t i = 0; i < S.jti_seen.cap; i++) {
        const char *k;
        void *v;
        if (sim_map_at(&S.jti_seen, i, &k, &v) && *(int64_t *)v < now_ms) {
            char *key = xstrdup(k);
            free(sim_map_del(&S.jti_seen, key));
            free(key);
        }
    }
}

static bool aud_matches(const json_t *aud, const char *want)
{
    size_t n = strlen(want);

    if (json_is_string(aud)) {
        const char *a = json_string_value(aud);
        size_t an = strlen(a);
        return strcmp(a, want) == 0 || (an == n + 1 && a[n] == '/' && strncmp(a, want, n) == 0) ||
               (n == an + 1 && want[an] == '/' && strncmp(a, want, an) == 0);
    }
    for (size_t i = 0; i < json_array_size(aud); i++) {
        if (aud_matches(json_array_get(aud, i), want))
            return true;
    }
    return false;
}

static X509 *find_cert(struct sim_app *a, const struct jws *j)
{
    const char *t1 = json_string_value(json_object_get(j->header, "x5t"));
    const char *t2 = json_string_value(json_object_get(j->header, "x5t#S256"));

    for (size_t i = 0; i < a->certs.len; i++) {
        X509 *c = a->certs.items[i];
        char *h1 = x5t_sha1(c);
        char *h2 = x5t_sha256(c);
        bool hit = (!t1 && !t2) || (t1 && strcmp(t1, h1) == 0) || (t2 && strcmp(t2, h2) == 0);
        free(h1);
        free(h2);
        if (hit && (t1 || t2 || jws_verify(j, X509_get0_pubkey(c), NULL) == ERR_OK))
            return c;
    }
    return NULL;
}

static bool time_ok(struct sim_req *r, const json_t *c)
{
    int64_t now = clock_now_ms() / 1000;
    json_int_t exp = json_integer_value(json_object_get(c, "exp"));
    json_int_t nbf = json_integer_value(json_object_get(c, "nbf"));

    if (!json_is_integer(json_object_get(c, "exp")) || exp < now ||
        (json_is_integer(json_object_get(c, "nbf")) && nbf > now + SKEW_S)) {
        sim_aadsts(r, 401, "invalid_client", 700024,
                   "Client assertion is not within its valid time range. Current time: %lld, "
                   "assertion valid from %lld, expiry time of assertion %lld.",
                   (long long)now, (long long)nbf, (long long)exp);
        return false;
    }
    return true;
}

/* A token azsim minted itself (POST /_sim/tokens type federated) presented as a workload
 * identity assertion; the app needs a matching federated credential. */
static bool federated_ok(struct sim_req *r, struct sim_app *a, const struct jws *j)
{
    const char *iss = json_string_value(json_object_get(j->claims, "iss"));
    const char *sub = json_string_value(json_object_get(j->claims, "sub"));
    const json_t *aud = json_object_get(j->claims, "aud");
    size_t i;

    if (jws_verify(j, S.sign_key, NULL) != ERR_OK || strcmp(j->kid, S.kid) != 0) {
        sim_aadsts(r, 401, "invalid_client", 700027,
                   "Client assertion contains an invalid signature. [Reason - The key was not "
                   "found.]");
        return false;
    }
    if (!time_ok(r, j->claims))
        return false;
    for (i = 0; i < json_array_size(a->federated); i++) {
        const json_t *f = json_array_get(a->federated, i);
        const json_t *auds = json_object_get(f, "audiences");
        if (iss && sub && sim_ieq(json_string_value(json_object_get(f, "issuer")), iss) &&
            strcmp(sim_or(json_string_value(json_object_get(f, "subject")), ""), sub) == 0) {
            for (size_t k = 0; k < json_array_size(auds); k++) {
                if (aud_matches(aud, json_string_value(json_array_get(auds, k))))
                    return true;
            }
        }
    }
    sim_aadsts(r, 400, "invalid_request", 70021,
               "No matching federated identity record found for presented assertion. Assertion "
               "Issuer: '%s'. Assertion Subject: '%s'.",
               iss ? iss : "", sub ? sub : "");
    return false;
}

static bool assertion_ok(struct sim_req *r, struct sim_app *a, struct treq *t)
{
    struct jws j;
    const char *iss, *sub, *jti;
    char *posted = NULL;
    X509 *cert;
    bool ok = false;

    if (!t->atype || strcmp(t->atype, JWT_BEARER) != 0) {
        sim_aadsts(r, 400, "invalid_request", 700026,
                   "The value of client_assertion_type must be '%s'.", JWT_BEARER);
        return false;
    }
    if (jws_parse(t->assertion, &j, NULL) != ERR_OK) {
        sim_aadsts(r, 401, "invalid_client", 50027, "JWT token is invalid or malformed.");
        return false;
    }
    iss = json_string_value(json_object_get(j.claims, "iss"));
    if (json_array_size(a->federated) > 0 && iss && strcmp(iss, a->app_id) != 0) {
        ok = federated_ok(r, a, &j);
        goto out;
    }
    cert = find_cert(a, &j);
    if (!cert) {
        sim_aadsts(
            r, 401, "invalid_client", 700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found., "
            "Thumbprint of key used by client: '%s']",
            sim_or(json_string_value(json_object_get(j.header, "x5t")),
                   sim_or(json_string_value(json_object_get(j.header, "x5t#S256")), "")));
        goto out;
    }
    if (jws_verify(&j, X509_get0_pubkey(cert), NULL) != ERR_OK) {
        sim_aadsts(r, 401, "invalid_client", 700027,
                   "Client assertion contains an invalid signature. [Reason - The provided "
                   "signature value did not match the expected signature value.]");
        goto out;
    }
    sub = json_string_value(json_object_get(j.claims, "sub"));
    if (!iss || !sub || strcmp(iss, a->app_id) != 0 || strcmp(sub, a->app_id) != 0) {
        sim_aadsts(r, 401, "invalid_client", 700021,
                   "Client assertion application identifier doesn't match 'client_id' parameter.");
        goto out;
    }
    posted = sim_url(r, "%s", r->url);
    if (!aud_matches(json_object_get(j.claims, "aud"), posted)) {
        sim_aadsts(
            r, 401, "invalid_client", 50013,
            "Assertion audience claim does not match the required value. The audience in the "
            "assertion was '%s' and the expected audience is '%s'.",
            sim_or(json_string_value(json_object_get(j.claims, "aud")), ""), posted);
        goto out;
    }
    if (!time_ok(r, j.claims))
        goto out;
    jti = json_string_value(json_object_get(j.claims, "jti"));
    if (!jti) {
        sim_aadsts(r, 401, "invalid_client", 50027,
                   "JWT token is invalid or malformed: the assertion has no 'jti'.");
        goto out;
    }
    if (jti_replayed(jti, json_integer_value(json_object_get(j.claims, "exp")))) {
        sim_aadsts(r, 401, "invalid_client", 700223,
                   "The client assertion with jti '%s' has already been used.", jti);
        goto out;
    }
    ok = true;
out:
    free(posted);
    jws_cleanup(&j);
    return ok;
}

static bool secret_eq(const char *a, const char *b)
{
    size_t n = strlen(a);
    unsigned char d = (unsigned char)(n != strlen(b));

    for (size_t i = 0; i < n && b[i]; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static bool is_arm_aud(const char *aud)
{
    for (int i = 0; ARM_AUDS[i]; i++) {
        if (strcmp(aud, ARM_AUDS[i]) == 0)
            return true;
    }
    return false;
}

/* The grants a person signs in with (device code, refresh token, authorization code). */
static bool user_grant(struct sim_req *r, const char *grant)
{
    return sim_devicecode_token(r, grant) || sim_authcode_token(r, grant);
}

static void token(struct sim_req *r)
{
    json_t *claims;
    const char *tenant = r->segs[0];
    struct treq t = {0};
    struct sim_app *a;
    char *resource = NULL;
    char *tok;

    t.grant = sim_form_get(r->body, "grant_type");
    t.client_id = sim_form_get(r->body, "client_id");
    t.secret = sim_form_get(r->body, "client_secret");
    t.atype = sim_form_get(r->body, "client_assertion_type");
    t.assertion = sim_form_get(r->body, "client_assertion");
    t.scope = sim_form_get(r->body, "scope");
    t.resource = sim_form_get(r->body, "resource");
    basic_auth(r, &t);
    if (!sim_tenant_ok(tenant)) {
        sim_aadsts(
            r, 400, "invalid_request", 90002,
            "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
            tenant);
        goto out;
    }
    if (user_grant(r, t.grant))
        goto out;
    if (!t.grant || strcmp(t.grant, "client_credentials") != 0) {
        sim_aadsts(r, 400, "unsupported_grant_type", 70003,
                   "The app requested an unsupported grant type '%s'.", t.grant ? t.grant : "");
        goto out;
    }
    if (!t.client_id) {
        sim_aadsts(r, 400, "invalid_request", 900144,
                   "The request body must contain the following parameter: 'client_id'.");
        goto out;
    }
    resource = resource_of(r, &t);
    if (!resource)
        goto out;
    a = sim_app_get(t.client_id);
    if (!a) {
        sim_aadsts(r, 400, "unauthorized_client", 700016,
                   "Application with identifier '%s' was not found in the directory '%s'. This can "
                   "happen if the application has not been installed by the administrator of the "
                   "tenant or consented to by any user in the tenant.",
                   t.client_id, S.tenant);
        goto out;
    }
    if (t.assertion) {
        if (!assertion_ok(r, a, &t))
            goto out;
    } else if (t.secret) {
        if (!a->secret || !secret_eq(a->secret, t.secret)) {
            sim_aadsts(
                r, 401, "invalid_client", 7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                "app '%s'.",
                a->app_id);
            goto out;
        }
    } else {
        sim_aadsts(r, 401, "invalid_client", 7000218,
                   "The request body must contain the following parameter: 'client_assertion' or "
                   "'client_secret'.");
        goto out;
    }
    snprintf(r->client, sizeof(r->client), "%s", a->sp_id);
    claims = sim_token_app_claims(r->base, resource, a->app_id, a->sp_id, TOKEN_LIFETIME_S);
    /* An app-only token carries the application permissions consented for that resource in
     * `roles` (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference,
     * "roles"); ARM defines none, so only Graph tokens have them. */
    if (a->graph_roles && json_array_size(a->graph_roles) > 0 && !is_arm_aud(resource))
        json_object_set_new(claims, "roles", json_deep_copy(a->graph_roles));
    tok = sim_token_sign(claims, NULL);
    sim_reply_json(r, 200,
                   json_pack("{s:s, s:i, s:i, s:s}", "token_type", "Bearer", "expires_in",
                             TOKEN_LIFETIME_S, "ext_expires_in", TOKEN_LIFETIME_S, "access_token",
                             tok));
    free(tok);
out:
    free(resource);
    treq_free(&t);
}

/* ---- IMDS ---- */

static void imds_error(struct sim_req *r, int status, const char *error, const char *desc)
{
    sim_reply_json(r, status, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

static struct sim_vm *imds_vm(struct sim_req *r)
{
    const char *h = sim_header(r, "x-azsim-vm");

    if (h)
        return sim_vm_get_by_id(h);
    if (S.imds_vm)
        return sim_vm_get_by_id(S.imds_vm);
    for (size_t i = 0; i < S.subs.len; i++) {
        struct sim_sub *s = S.subs.items[i];
        for (size_t k = 0; k < s->vms.len; k++) {
            struct sim_vm *vm = s->vms.items[k];
            if (vm->sys_identity)
                return vm;
        }
    }
    return NULL;
}

static bool imds_pre(struct sim_req *r, struct sim_vm **vm)
{
    const char *md = sim_header(r, "Metadata");

    if (!md || strcmp(md, "true") != 0) {
        imds_error(r, 400, "bad_request_102", "Required metadata header not specified");
        return false;
    }
    *vm = imds_vm(r);
    if (!*vm) {
        imds_error(r, 400, "invalid_request", "Identity not found");
        return false;
    }
    if (json_is_true(json_object_get((*vm)->facts, "imdsIdentityUnavailable"))) {
        imds_error(r, 500, "unknown", "Failed to retrieve token from the Active directory");
        return false;
    }
    return true;
}

static void imds_token(struct sim_req *r)
{
    struct sim_vm *vm;
    const char *resource = sim_query(r, "resource");
    const char *cid = sim_query(r, "client_id");
    const char *oid = sim_query(r, "object_id");
    const char *mri = sim_query(r, "msi_res_id");
    char app[UUID_STR_LEN];
    const char *use_oid = NULL, *use_cid = NULL;
    int64_t now = clock_now_ms() / 1000;
    char *tok;
    char e1[24], e2[24], e3[24];

    if (!imds_pre(r, &vm))
        return;
    if (!resource) {
        imds_error(r, 400, "invalid_request", "Required audience parameter not specified");
        return;
    }
    if (cid || oid || mri) {
        const char *k;
        json_t *v;
        json_object_foreach(vm->user_identities, k, v)
        {
            const char *p = json_string_value(json_object_get(v, "principalId"));
            const char *c = json_string_value(json_object_get(v, "clientId"));
            if ((cid && sim_ieq(cid, c)) || (oid && sim_ieq(oid, p)) || (mri && sim_ieq(mri, k))) {
                use_oid = p;
                use_cid = c;
            }
        }
    } else if (vm->sys_identity) {
        uuid_v5("6ba7b812-9dad-11d1-80b4-00c04fd430c8", vm->principal_id, 36, app);
        use_oid = vm->principal_id;
        use_cid = app;
    }
    if (!use_oid) {
        imds_error(r, 400, "invalid_request", "Identity not found");
        return;
    }
    tok = sim_token_sign(
        sim_token_app_claims(r->base, resource, use_cid, use_oid, TOKEN_LIFETIME_S + 82800), NULL);
    snprintf(e1, sizeof(e1), "%d", TOKEN_LIFETIME_S + 82800);
    snprintf(e2, sizeof(e2), "%lld", (long long)(now + TOKEN_LIFETIME_S + 82800));
    snprintf(e3, sizeof(e3), "%lld", (long long)now);
    sim_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "access_token", tok,
                             "client_id", use_cid, "expires_in", e1, "expires_on", e2,
                             "ext_expires_in", e1, "not_before", e3, "resource", resource,
                             "token_type", "Bearer"));
    free(tok);
}

static void imds_info(struct sim_req *r)
{
    struct sim_vm *vm;

    if (!imds_pre(r, &vm))
        return;
    if (!vm->sys_identity) {
        imds_error(r, 400, "invalid_request", "Identity not found");
        return;
    }
    sim_reply_json(r, 200, json_pack("{s:s}", "tenantId", S.tenant));
}

/* ---- bearer checks ---- */

static bool deny(struct sim_req *r, bool arm, const char *code, const char *msg)
{
    if (arm) {
        sim_arm_error(r, 401, code, "%s", msg);
        sim_reply_header(r, "WWW-Authenticate",
                         "Bearer authorization_uri=\"%s/%s\", error=\"invalid_token\", "
                         "error_description=\"%s\"",
                         r->base, S.tenant, msg);
    } else {
        sim_graph_error(r, 401, "InvalidAuthenticationToken", "%s", msg);
    }
    return false;
}

static bool graph_aud_ok(struct sim_req *r, const char *aud)
{
    size_t n = strlen(r->base);

    if (sim_ieq(aud, "https://graph.microsoft.com") ||
        sim_ieq(aud, "https://graph.microsoft.com/") ||
        sim_ieq(aud, "00000003-0000-0000-c000-000000000000"))
        return true;
    return strncasecmp(aud, r->base, n) == 0 && (aud[n] == '\0' || strcmp(aud + n, "/") == 0);
}

bool sim_bearer_check(struct sim_req *r, bool arm)
{
    const char *h = sim_header(r, "Authorization");
    struct jws j;
    const char *aud, *oid, *tid;
    int64_t now = clock_now_ms() / 1000;
    bool ok = false;
    char msg[512];

    if (!h)
        return deny(r, arm, "AuthenticationFailed",
                    arm ? "Authentication failed. The 'Authorization' header is missing."
                        : "Access token is empty.");
    if (!sim_iprefix(h, "Bearer "))
        return deny(r, arm, "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is provided in an invalid "
                    "format.");
    if (jws_parse(h + 7, &j, NULL) != ERR_OK)
        return deny(r, arm, "InvalidAuthenticationToken",
                    arm ? "The access token is invalid." : "IDX14100: JWT is not well formed.");
    if (strcmp(j.kid, S.kid) != 0 || jws_verify(&j, S.sign_key, NULL) != ERR_OK) {
        deny(r, arm, "InvalidAuthenticationToken",
             arm ? "The access token is invalid."
                 : "Access token validation failure. Invalid signature.");
        goto out;
    }
    if (json_integer_value(json_object_get(j.claims, "exp")) < now) {
        char t1[32], t2[32];
        clock_fmt_rfc3339(json_integer_value(json_object_get(j.claims, "exp")) * 1000, t1,
                          sizeof(t1));
        clock_fmt_rfc3339(now * 1000, t2, sizeof(t2));
        snprintf(msg, sizeof(msg),
                 arm ? "The access token expiry UTC time '%s' is earlier than current UTC time "
                       "'%s'."
                     : "Lifetime validation failed, the token is expired (%s < %s).",
                 t1, t2);
        deny(r, arm, "ExpiredAuthenticationToken", msg);
        goto out;
    }
    if (json_integer_value(json_object_get(j.claims, "nbf")) > now + SKEW_S) {
        deny(r, arm, "InvalidAuthenticationToken",
             arm ? "The access token is not yet valid." : "Lifetime validation failed.");
        goto out;
    }
    aud = json_string_value(json_object_get(j.claims, "aud"));
    if (!aud)
        aud = "";
    if (arm) {
        if (!is_arm_aud(aud)) {
            snprintf(msg, sizeof(msg),
                     "The access token has been obtained for wrong audience or resource '%s'. It "
                     "should exactly match with one of the allowed audiences "
                     "'https://management.core.windows.net/','https://management.core.windows."
                     "net','https://management.azure.com/','https://management.azure.com'.",
                     aud);
            deny(r, arm, "InvalidAuthenticationTokenAudience", msg);
            goto out;
        }
    } else if (!graph_aud_ok(r, aud)) {
        deny(r, arm, "InvalidAuthenticationToken",
             "Access token validation failure. Invalid audience.");
        goto out;
    }
    tid = json_string_value(json_object_get(j.claims, "tid"));
    if (!tid || !sim_ieq(tid, S.tenant)) {
        deny(r, arm, arm ? "InvalidAuthenticationTokenTenant" : "InvalidAuthenticationToken",
             "The access token is from the wrong issuer. It must match the tenant associated "
             "with this subscription.");
        goto out;
    }
    oid = json_string_value(json_object_get(j.claims, "oid"));
    snprintf(r->client, sizeof(r->client), "%s", oid ? oid : "unknown");
    snprintf(r->appid, sizeof(r->appid), "%s",
             sim_or(json_string_value(json_object_get(j.claims, "appid")), ""));
    r->roles[0] = '\0';
    for (size_t i = 0; i < json_array_size(json_object_get(j.claims, "roles")); i++) {
        const char *role = json_string_value(json_array_get(json_object_get(j.claims, "roles"), i));
        size_t o = strlen(r->roles);
        if (role)
            snprintf(r->roles + o, sizeof(r->roles) - o, "%s,", role);
    }
    ok = true;
out:
    jws_cleanup(&j);
    return ok;
}

/* ---- routing ---- */

static bool set(struct sim_route *rt, sim_handler fn, const char *op, enum sim_area area)
{
    rt->fn = fn;
    rt->op = op;
    rt->area = area;
    return true;
}

/* v2-oauth2-auth-code-flow, "Request an authorization code": GET /{tenant}/oauth2/v2.0/authorize;
 * the sign-in page posts back to the same path (azsim's user picker). */
static bool authorize_route(struct sim_req *r, struct sim_route *rt)
{
    if ((strcmp(r->method, "GET") == 0 || strcmp(r->method, "POST") == 0) && r->nseg == 4 &&
        sim_seg_is(r, 1, "oauth2") && sim_seg_is(r, 2, "v2.0") && sim_seg_is(r, 3, "authorize"))
        return set(rt, sim_authcode_authorize, "entra.authorize", AREA_ENTRA);
    return false;
}

/* https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code: the device
 * authorization request is POST /{tenant}/oauth2/v2.0/devicecode */
static bool oauth2_route(struct sim_req *r, struct sim_route *rt)
{
    if (authorize_route(r, rt))
        return true;
    if (strcmp(r->method, "POST") == 0 && r->nseg == 4 && sim_seg_is(r, 1, "oauth2") &&
        sim_seg_is(r, 2, "v2.0") && sim_seg_is(r, 3, "devicecode"))
        return set(rt, sim_devicecode_start, "entra.devicecode", AREA_ENTRA);
    return false;
}

bool sim_entra_route(struct sim_req *r, struct sim_route *rt)
{
    bool get = strcmp(r->method, "GET") == 0;
    bool post = strcmp(r->method, "POST") == 0;

    if (r->nseg >= 2 && sim_seg_is(r, 0, "metadata")) {
        if (get && r->nseg == 4 && sim_seg_is(r, 1, "identity") && sim_seg_is(r, 2, "oauth2") &&
            sim_seg_is(r, 3, "token"))
            return set(rt, imds_token, "imds.token", AREA_IMDS);
        if (get && r->nseg == 3 && sim_seg_is(r, 1, "identity") && sim_seg_is(r, 2, "info"))
            return set(rt, imds_info, "imds.info", AREA_IMDS);
        if (get && r->nseg == 2 && sim_seg_is(r, 1, "endpoints"))
            return set(rt, arm_metadata, "arm.metadata", AREA_ENTRA);
        return false;
    }
    if (r->nseg < 2 || sim_seg_is(r, 0, "subscriptions") || sim_seg_is(r, 0, "providers") ||
        sim_seg_is(r, 0, "v1.0") || sim_seg_is(r, 0, "_sim"))
        return false;
    if (get && r->nseg == 3 && sim_seg_is(r, 1, ".well-known") &&
        sim_seg_is(r, 2, "openid-configuration"))
        return set(rt, discovery, "entra.discovery", AREA_ENTRA);
    if (get && r->nseg == 4 && sim_seg_is(r, 1, "v2.0") && sim_seg_is(r, 2, ".well-known") &&
        sim_seg_is(r, 3, "openid-configuration"))
        return set(rt, discovery, "entra.discovery", AREA_ENTRA);
    if (get && sim_seg_is(r, 1, "discovery") &&
        ((r->nseg == 3 && sim_seg_is(r, 2, "keys")) ||
         (r->nseg == 4 && sim_seg_is(r, 2, "v2.0") && sim_seg_is(r, 3, "keys"))))
        return set(rt, keys, "entra.keys", AREA_ENTRA);
    if (post && sim_seg_is(r, 1, "oauth2") &&
        ((r->nseg == 3 && sim_seg_is(r, 2, "token")) ||
         (r->nseg == 4 && sim_seg_is(r, 2, "v2.0") && sim_seg_is(r, 3, "token"))))
        return set(rt, token, "entra.token", AREA_ENTRA);
    return oauth2_route(r, rt);
}
