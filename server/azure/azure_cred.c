/* azure_cred.c: where access tokens come from and how they are cached. Four credentials: client
 * secret, certificate (client-assertion JWT, PS256 + x5t#S256 or RS256 + x5t), managed identity
 * through IMDS, workload identity (federated token file, re-read on every fetch). Tokens are
 * cached per scope, refreshed ahead of expiry with one fetch in flight per scope, and are
 * never logged. A failed refresh keeps the still-valid token in use, and a failed fetch is
 * remembered for a short time (token_failure_cache_ms) so that callers waiting on it, and
 * those that come soon after, share its outcome instead of each fetching anew. The HTTP exchange
 * itself goes through azure_http_send. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define CRED_FILE_MAX (64 * 1024)
#define ASSERTION_LIFETIME_S 600

struct tok {
    struct tok *next;
    char *scope;
    char *token;
    int64_t expires_ms; /* wall clock */
    bool fetching;
    /* the last fetch failed: until failed_until_ms (monotonic) nobody fetches again; callers
     * get the token while it is valid, else this error */
    int64_t failed_until_ms;
    enum err failed_rc;
    struct azure_error failed;
};

struct azure_cred {
    struct azure_client *c; /* borrowed: the owner */
    enum azure_cred_kind kind;
    char *tenant;
    char *client_id;
    char *secret;
    EVP_PKEY *key;
    X509 *cert;
    char alg[8];
    char *thumbprint; /* x5t#S256 or x5t */
    char *mi_client_id;
    char *fed_file;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct tok *toks;
    long fetches;
};

static const char *kind_str(enum azure_cred_kind k)
{
    switch (k) {
    case AZURE_CRED_SECRET:
        return "secret";
    case AZURE_CRED_CERTIFICATE:
        return "certificate";
    case AZURE_CRED_MANAGED_IDENTITY:
        return "managed_identity";
    case AZURE_CRED_WORKLOAD_IDENTITY:
        return "workload_identity";
    default:
        return "auto";
    }
}

static bool given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void wipe_free(char *s)
{
    if (s != NULL)
        memset(s, 0, strlen(s));
    free(s);
}

/* Reads a small file whole, without trailing whitespace. NULL if unreadable, empty or large. */
static char *read_secret_file(const char *path)
{
    struct buf b;

    buf_init(&b, CRED_FILE_MAX);
    if (buf_read_file(&b, path) != ERR_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r' ||
                         b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
        b.data[--b.len] = '\0';
    if (b.len == 0) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static enum azure_cred_kind pick_kind(const struct azure_config *cfg, const char *fed_file)
{
    if (cfg->credential != AZURE_CRED_AUTO)
        return cfg->credential;
    if (given(cfg->client_certificate_file))
        return AZURE_CRED_CERTIFICATE;
    if (given(cfg->client_secret_file) || given(cfg->client_secret))
        return AZURE_CRED_SECRET;
    if (given(fed_file))
        return AZURE_CRED_WORKLOAD_IDENTITY;
    return AZURE_CRED_MANAGED_IDENTITY;
}

static enum err load_certificate(struct azure_cred *cr, const struct azure_config *cfg,
                                 struct err_detail *d)
{
    const char *alg = given(cfg->client_assertion_alg) ? cfg->client_assertion_alg : "PS256";

    if (strcasecmp(alg, "PS256") != 0 && strcasecmp(alg, "RS256") != 0)
        return err_set(d, ERR_INVALID, "BadAssertionAlg",
                       "client_assertion_alg must be PS256 "
                       "or RS256");
    azure_strlcpy(cr->alg, strcasecmp(alg, "PS256") == 0 ? "PS256" : "RS256", sizeof(cr->alg));
    cr->key = pem_load_key_file(cfg->client_certificate_file);
    cr->cert = pem_load_cert_file(cfg->client_certificate_file);
    if (cr->key == NULL || cr->cert == NULL)
        return err_set(d, ERR_INVALID, "BadCertificateFile",
                       "client_certificate_file needs a PEM private key and certificate");
    cr->thumbprint = strcmp(cr->alg, "PS256") == 0 ? x5t_sha256(cr->cert) : x5t_sha1(cr->cert);
    if (cr->thumbprint == NULL)
        return err_set(d, ERR_INVALID, "BadCertificateFile", "cannot hash the certificate");
    return ERR_OK;
}

static enum err load_kind(struct azure_cred *cr, const struct azure_config *cfg,
                          struct err_detail *d)
{
    switch (cr->kind) {
    case AZURE_CRED_SECRET:
        if (given(cfg->client_secret_file))
            cr->secret = read_secret_file(cfg->client_secret_file);
        else if (given(cfg->client_secret))
            cr->secret = xstrdup(cfg->client_secret);
        if (cr->secret == NULL)
            return err_set(d, ERR_INVALID, "NoClientSecret",
                           "client_secret_file is missing, unreadable or empty");
        return ERR_OK;
    case AZURE_CRED_CERTIFICATE:
        if (!given(cfg->client_certificate_file))
            return err_set(d, ERR_INVALID, "NoCertificate", "client_certificate_file not set");
        return load_certificate(cr, cfg, d);
    case AZURE_CRED_WORKLOAD_IDENTITY:
        if (!given(cr->fed_file))
            return err_set(d, ERR_INVALID, "NoFederatedToken",
                           "workload identity needs AZURE_FEDERATED_TOKEN_FILE");
        return ERR_OK;
    default:
        return ERR_OK;
    }
}

static char *first_given(const char *a, const char *env_name)
{
    const char *b = getenv(env_name);

    if (given(a))
        return xstrdup(a);
    return given(b) ? xstrdup(b) : NULL;
}

enum err azure_cred_new(struct azure_client *c, const struct azure_config *cfg,
                        struct azure_cred **out, struct err_detail *d)
{
    struct azure_cred *cr = xcalloc(1, sizeof(*cr));
    enum err rc;

    *out = NULL;
    cr->c = c;
    pthread_mutex_init(&cr->mu, NULL);
    pthread_cond_init(&cr->cv, NULL);
    cr->fed_file = first_given(cfg->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE");
    cr->kind = pick_kind(cfg, cr->fed_file);
    if (cr->kind == AZURE_CRED_WORKLOAD_IDENTITY) {
        cr->tenant = first_given(cfg->tenant_id, "AZURE_TENANT_ID");
        cr->client_id = first_given(cfg->client_id, "AZURE_CLIENT_ID");
    } else {
        cr->tenant = given(cfg->tenant_id) ? xstrdup(cfg->tenant_id) : NULL;
        cr->client_id = given(cfg->client_id) ? xstrdup(cfg->client_id) : NULL;
    }
    cr->mi_client_id =
        given(cfg->managed_identity_client_id) ? xstrdup(cfg->managed_identity_client_id) : NULL;
    if (cr->kind != AZURE_CRED_MANAGED_IDENTITY && (cr->tenant == NULL || cr->client_id == NULL)) {
        rc = err_set(d, ERR_INVALID, "NoTenantOrClient",
                     "credential %s needs tenant_id and "
                     "client_id",
                     kind_str(cr->kind));
        goto out;
    }
    rc = load_kind(cr, cfg, d);
    if (rc != ERR_OK)
        goto out;
    log_info("azure_credential", "kind=%s tenant=%s client_id=%s", kind_str(cr->kind),
             cr->tenant ? cr->tenant : "-", cr->client_id ? cr->client_id : "-");
    *out = cr;
    cr = NULL;
out:
    azure_cred_free(cr);
    return rc;
}

void azure_cred_free(struct azure_cred *cr)
{
    if (cr == NULL)
        return;
    while (cr->toks != NULL) {
        struct tok *t = cr->toks;

        cr->toks = t->next;
        free(t->scope);
        wipe_free(t->token);
        free(t);
    }
    wipe_free(cr->secret);
    EVP_PKEY_free(cr->key);
    X509_free(cr->cert);
    free(cr->thumbprint);
    free(cr->tenant);
    free(cr->client_id);
    free(cr->mi_client_id);
    free(cr->fed_file);
    pthread_mutex_destroy(&cr->mu);
    pthread_cond_destroy(&cr->cv);
    free(cr);
}

char *azure_cred_client_assertion(struct azure_cred *cr, const char *aud)
{
    char jti[UUID_STR_LEN];
    json_int_t now = (json_int_t)(clock_now_ms() / 1000);
    json_t *claims;
    json_t *hdr;
    char *jwt;

    if (cr->key == NULL)
        return NULL;
    uuid_v4(jti);
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", aud, "iss", cr->client_id,
                       "sub", cr->client_id, "jti", jti, "nbf", now, "iat", now, "exp",
                       now + ASSERTION_LIFETIME_S);
    hdr = json_pack("{s:s}", strcmp(cr->alg, "PS256") == 0 ? "x5t#S256" : "x5t", cr->thumbprint);
    jwt = claims != NULL && hdr != NULL ? jws_sign(cr->key, cr->alg, hdr, claims) : NULL;
    json_decref(claims);
    json_decref(hdr);
    return jwt;
}

/* ---- fetching ---------------------------------------------------------------------------- */

/* "k=v&" with v form-encoded. */
static enum err form_add(struct buf *b, const char *k, const char *v)
{
    enum err rc = buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", k);

    return rc == ERR_OK ? azure_url_encode(b, v) : rc;
}

/* The client-credentials form for the secret, certificate or federated-token credential. */
static enum err token_form(struct azure_cred *cr, const char *scope, const char *token_url,
                           struct buf *form, struct azure_error *ae)
{
    char *assertion = NULL;
    enum err rc = form_add(form, "client_id", cr->client_id);

    if (rc == ERR_OK)
        rc = form_add(form, "scope", scope);
    if (rc == ERR_OK)
        rc = form_add(form, "grant_type", "client_credentials");
    if (rc != ERR_OK)
        return rc;
    if (cr->kind == AZURE_CRED_SECRET)
        return form_add(form, "client_secret", cr->secret);
    if (cr->kind == AZURE_CRED_CERTIFICATE)
        assertion = azure_cred_client_assertion(cr, token_url);
    else
        assertion = read_secret_file(cr->fed_file); /* re-read: the file is rotated */
    if (assertion == NULL) {
        azure_strlcpy(ae->code,
                      cr->kind == AZURE_CRED_CERTIFICATE ? "AssertionSignFailed"
                                                         : "FederatedTokenUnreadable",
                      sizeof(ae->code));
        azure_strlcpy(ae->message, "cannot build the client assertion", sizeof(ae->message));
        return ERR_INVALID;
    }
    rc = form_add(form, "client_assertion_type",
                  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    if (rc == ERR_OK)
        rc = form_add(form, "client_assertion", assertion);
    wipe_free(assertion);
    return rc;
}

/* expires_in (number, or string from IMDS) else expires_on; epoch ms or -1. */
static int64_t token_expiry(const json_t *root)
{
    const json_t *in = json_object_get(root, "expires_in");
    const json_t *on = json_object_get(root, "expires_on");
    int64_t now = clock_now_ms();

    if (json_is_integer(in))
        return now + (int64_t)json_integer_value(in) * 1000;
    if (json_is_string(in))
        return now + strtoll(json_string_value(in), NULL, 10) * 1000;
    if (json_is_integer(on))
        return (int64_t)json_integer_value(on) * 1000;
    if (json_is_string(on))
        return strtoll(json_string_value(on), NULL, 10) * 1000;
    return -1;
}

static enum err parse_token(const struct azure_response *rs, char **token, int64_t *exp,
                            struct azure_error *ae)
{
    json_t *root = azure_json_load(&rs->body);
    const char *at = azure_json_str(root, "access_token");
    enum err rc = ERR_OK;

    *exp = token_expiry(root);
    if (at == NULL || at[0] == '\0' || *exp <= 0) {
        azure_error_clear(ae);
        ae->status = rs->status;
        azure_strlcpy(ae->code, "InvalidTokenResponse", sizeof(ae->code));
        azure_strlcpy(ae->message, "token response without access_token or expiry",
                      sizeof(ae->message));
        rc = ERR_CLOUD;
    } else {
        *token = xstrdup(at);
    }
    if (root != NULL) {
        json_t *v = json_object_get(root, "access_token");

        if (json_is_string(v))
            memset((char *)json_string_value(v), 0, strlen(json_string_value(v)));
    }
    json_decref(root);
    return rc;
}

static enum err fetch(struct azure_cred *cr, const char *scope, char **token, int64_t *exp,
                      struct azure_error *ae)
{
    struct azure_client *c = cr->c;
    struct buf url;
    struct buf form;
    struct azure_response rs;
    struct azure_request rq = {.method = "GET", .api = AZURE_API_IMDS, .op = "imds_token"};
    enum err rc;

    buf_init(&url, AZURE_URL_MAX_BYTES);
    buf_init(&form, CRED_FILE_MAX * 2);
    azure_response_init(&rs);
    if (cr->kind == AZURE_CRED_MANAGED_IDENTITY) {
        rc = azure_cloud_imds_token_url(&c->cloud, scope, cr->mi_client_id, &url);
    } else {
        rc = azure_cloud_token_url(&c->cloud, cr->tenant, &url);
        if (rc == ERR_OK)
            rc = token_form(cr, scope, url.data, &form, ae);
        rq = (struct azure_request){.method = "POST",
                                    .api = AZURE_API_LOGIN,
                                    .op = "token",
                                    .body = form.data,
                                    .content_type = "application/x-www-form-urlencoded",
                                    .force_idempotent = true};
    }
    if (rc != ERR_OK)
        goto out;
    rq.url = url.data;
    rc = azure_http_send(c, &rq, &rs, ae);
    if (rc == ERR_OK)
        rc = parse_token(&rs, token, exp, ae);
out:
    if (form.data != NULL)
        memset(form.data, 0, form.len);
    buf_cleanup(&form);
    buf_cleanup(&url);
    if (rs.body.data != NULL)
        memset(rs.body.data, 0, rs.body.len);
    azure_response_cleanup(&rs);
    return rc;
}

/* ---- the cache --------------------------------------------------------------------------- */

static struct tok *tok_for(struct azure_cred *cr, const char *scope)
{
    struct tok *t;

    for (t = cr->toks; t != NULL; t = t->next) {
        if (strcmp(t->scope, scope) == 0)
            return t;
    }
    t = xcalloc(1, sizeof(*t));
    t->scope = xstrdup(scope);
    t->next = cr->toks;
    cr->toks = t;
    return t;
}

static void store(struct azure_cred *cr, struct tok *t, char *token, int64_t exp)
{
    wipe_free(t->token);
    t->token = token;
    t->expires_ms = exp;
    cr->fetches++;
}

/* Called with the lock held: seconds the cached token is still valid (0: none). */
static long long valid_s(const struct tok *t)
{
    int64_t left = t->token != NULL ? t->expires_ms - clock_now_ms() : 0;

    return left > 0 ? (long long)(left / 1000) : 0LL;
}

/* Called with the lock held: hands out the cached token. */
static enum err give(const struct tok *t, char **token, int64_t *expires_ms)
{
    *token = xstrdup(t->token);
    if (expires_ms != NULL)
        *expires_ms = t->expires_ms;
    return ERR_OK;
}

/* Called with the lock held: the outcome of a failed fetch (rc, ae filled) once it is in; the
 * still-valid token when there is one (ae cleared). */
static enum err after_failure(const struct tok *t, char **token, int64_t *expires_ms,
                              struct azure_error *ae)
{
    if (t->token != NULL && clock_now_ms() < t->expires_ms) {
        azure_error_clear(ae);
        return give(t, token, expires_ms);
    }
    *ae = t->failed;
    return t->failed_rc;
}

enum err azure_token_get(struct azure_client *c, const char *scope, char **token,
                         int64_t *expires_ms, struct azure_error *ae)
{
    struct azure_cred *cr = c->cred;
    struct tok *t;
    char *fresh = NULL;
    int64_t exp = 0;
    enum err rc;

    *token = NULL;
    pthread_mutex_lock(&cr->mu);
    t = tok_for(cr, scope);
    for (;;) {
        int64_t now = clock_now_ms();
        bool valid = t->token != NULL && now < t->expires_ms;

        if (valid && (now < t->expires_ms - c->token_refresh_before_ms || t->fetching)) {
            rc = give(t, token, expires_ms);
            pthread_mutex_unlock(&cr->mu);
            return rc;
        }
        if (!t->fetching && clock_mono_ms() < t->failed_until_ms) {
            rc = after_failure(t, token, expires_ms, ae); /* failed just now: not again yet */
            pthread_mutex_unlock(&cr->mu);
            return rc;
        }
        if (!t->fetching)
            break;
        pthread_cond_wait(&cr->cv, &cr->mu); /* someone else is fetching; no usable token */
    }
    t->fetching = true;
    pthread_mutex_unlock(&cr->mu);
    rc = fetch(cr, scope, &fresh, &exp, ae);
    pthread_mutex_lock(&cr->mu);
    t->fetching = false;
    if (rc == ERR_OK) {
        store(cr, t, fresh, exp);
        t->failed_until_ms = 0;
        *token = xstrdup(fresh);
        if (expires_ms != NULL)
            *expires_ms = exp;
        log_info("azure_token", "scope=%s kind=%s expires_in_s=%lld", scope, kind_str(cr->kind),
                 (long long)((exp - clock_now_ms()) / 1000));
    } else {
        t->failed_until_ms = clock_mono_ms() + c->token_failure_cache_ms;
        t->failed_rc = rc;
        t->failed = *ae;
        log_warn("azure_token_failed",
                 "scope=%s kind=%s status=%ld code=%s aadsts=%ld cached_valid_s=%lld", scope,
                 kind_str(cr->kind), ae->status, ae->code[0] ? ae->code : "-",
                 ae->n_aadsts > 0 ? ae->aadsts[0] : 0L, valid_s(t));
        rc = after_failure(t, token, expires_ms, ae);
    }
    pthread_cond_broadcast(&cr->cv);
    pthread_mutex_unlock(&cr->mu);
    return rc;
}

void azure_token_invalidate(struct azure_client *c, const char *scope)
{
    struct azure_cred *cr = c->cred;

    pthread_mutex_lock(&cr->mu);
    for (struct tok *t = cr->toks; t != NULL; t = t->next) {
        if (strcmp(t->scope, scope) == 0 && !t->fetching) {
            wipe_free(t->token);
            t->token = NULL;
        }
    }
    pthread_mutex_unlock(&cr->mu);
}

long azure_token_fetch_count(struct azure_client *c)
{
    long n;

    pthread_mutex_lock(&c->cred->mu);
    n = c->cred->fetches;
    pthread_mutex_unlock(&c->cred->mu);
    return n;
}
