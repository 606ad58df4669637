/* auth_jwt.c: validating caller JWTs issued by Entra for this API (azure-wire.md 12.3): RS256
 * only, keys from the tenant's JWKS found by OpenID discovery and cached; iss (v1 or v2 form),
 * tid, aud, exp/nbf with skew and a longest lifetime; app roles mapped to the role ladder.
 * Discovery and the JWKS are fetched by one background thread only (at start, when the cache
 * is stale, and on an unknown kid at most once per refresh_min_s): a request never waits on
 * the network. It does not accept other tenants or Graph tokens, and its errors name a
 * reason, never the token. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define JWKS_MAX_BYTES (1 << 20)
#define JWKS_MAX_KEYS 64
#define EMPTY_RETRY_MS 5000  /* with no keys at all, retry discovery this often at most */
#define START_WAIT_MAX_S 5   /* start-up waits this long at most for the first keys */
#define MAX_LIFETIME_S 86400 /* Entra's configurable access-token lifetime tops at 1 day */

struct jwk_entry {
    char kid[128];
    EVP_PKEY *key;
};

struct auth_jwt {
    struct auth_jwt_options o; /* strings below are owned copies */
    char *login, *tenant, *audiences, *ca_bundle, *role_names[3];
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* signalled when want, busy or stop change */
    pthread_t thread;
    bool want; /* a refresh is asked for */
    bool busy; /* the thread is fetching */
    bool stop;
    struct jwk_entry *keys;
    size_t nkeys;
    char *issuer;         /* from discovery */
    int64_t fetched_at;   /* last successful fetch, 0 = never */
    int64_t attempted_at; /* last attempt, 0 = never */
    unsigned fetches;
};

static int64_t now_of(const struct auth_jwt *j)
{
    return j->o.now_ms != NULL ? j->o.now_ms() : clock_now_ms();
}

static void *refresher(void *arg);
static void start_wait(struct auth_jwt *j);

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

enum err auth_jwt_new(const struct auth_jwt_options *o, struct auth_jwt **out, struct err_detail *d)
{
    struct auth_jwt *j;
    size_t n;

    if (o->login_url == NULL || o->tenant_id == NULL || o->audiences == NULL ||
        o->tenant_id[0] == '\0' || o->audiences[0] == '\0')
        return err_set(d, ERR_INVALID, "jwt_config", "JWTs need a login URL, tenant and audience");
    j = xcalloc(1, sizeof(*j));
    j->o = *o;
    j->login = dup_or_empty(o->login_url);
    n = strlen(j->login);
    while (n > 0 && j->login[n - 1] == '/')
        j->login[--n] = '\0';
    j->tenant = dup_or_empty(o->tenant_id);
    j->audiences = dup_or_empty(o->audiences);
    j->ca_bundle = dup_or_empty(o->ca_bundle);
    j->role_names[0] = dup_or_empty(o->role_reader);
    j->role_names[1] = dup_or_empty(o->role_operator);
    j->role_names[2] = dup_or_empty(o->role_administrator);
    if (j->o.timeout_s <= 0)
        j->o.timeout_s = 30;
    if (j->o.max_lifetime_s <= 0)
        j->o.max_lifetime_s = MAX_LIFETIME_S;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->want = true; /* the first keys, fetched now rather than on the first token */
    if (pthread_create(&j->thread, NULL, refresher, j) != 0)
        fatalx("jwks_thread", "pthread_create failed for the JWKS refresher");
    start_wait(j);
    *out = j;
    return ERR_OK;
}

static void free_keys(struct jwk_entry *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        EVP_PKEY_free(keys[i].key);
    free(keys);
}

void auth_jwt_free(struct auth_jwt *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    free_keys(j->keys, j->nkeys);
    free(j->issuer);
    free(j->login);
    free(j->tenant);
    free(j->audiences);
    free(j->ca_bundle);
    for (size_t i = 0; i < 3; i++)
        free(j->role_names[i]);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

unsigned auth_jwt_fetches(const struct auth_jwt *j)
{
    return j->fetches;
}

void auth_jwt_settle(struct auth_jwt *j)
{
    pthread_mutex_lock(&j->mu);
    while ((j->want || j->busy) && !j->stop)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
}

/* ---- fetching discovery and keys ------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;

    if (buf_append(b, p, size * nmemb) != ERR_OK)
        return 0;
    return size * nmemb;
}

/* Ends a transfer early when the validator is being freed. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct auth_jwt *j = arg;
    bool stop;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    pthread_mutex_lock(&j->mu);
    stop = j->stop;
    pthread_mutex_unlock(&j->mu);
    return stop ? 1 : 0;
}

static enum err curl_fetch(struct auth_jwt *j, const char *url, struct buf *out,
                           struct err_detail *d)
{
    CURL *c = curl_easy_init();
    CURLcode cc;
    long status = 0;

    if (c == NULL)
        return err_set(d, ERR_INTERNAL, "curl_init", "curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)j->o.timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, j);
    if (j->ca_bundle[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, j->ca_bundle);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK)
        return err_set(d, ERR_UNAVAILABLE, "jwks_unavailable", "fetch failed: %s",
                       curl_easy_strerror(cc));
    if (status != 200)
        return err_set(d, ERR_UNAVAILABLE, "jwks_unavailable", "fetch answered %ld", status);
    return ERR_OK;
}

static json_t *fetch_json(struct auth_jwt *j, const char *url, struct err_detail *d)
{
    struct buf b;
    json_t *v = NULL;
    enum err rc;

    buf_init(&b, JWKS_MAX_BYTES);
    if (j->o.fetch != NULL)
        rc = j->o.fetch(j->o.fetch_arg, url, &b, d);
    else
        rc = curl_fetch(j, url, &b, d);
    if (rc == ERR_OK) {
        v = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        if (!json_is_object(v)) {
            json_decref(v);
            v = NULL;
            err_set(d, ERR_UNAVAILABLE, "jwks_unavailable", "the answer is not a JSON object");
        }
    }
    buf_cleanup(&b);
    return v;
}

static enum err parse_jwks(json_t *jwks, struct jwk_entry **out, size_t *n, struct err_detail *d)
{
    json_t *arr = json_object_get(jwks, "keys"), *k;
    struct jwk_entry *keys;
    size_t i, used = 0;

    if (!json_is_array(arr))
        return err_set(d, ERR_UNAVAILABLE, "jwks_unavailable", "the JWKS has no keys array");
    keys = xcalloc(JWKS_MAX_KEYS, sizeof(*keys));
    json_array_foreach(arr, i, k)
    {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *use = json_string_value(json_object_get(k, "use"));
        EVP_PKEY *key;
        if (used >= JWKS_MAX_KEYS || kid == NULL || kty == NULL || strcmp(kty, "RSA") != 0 ||
            (use != NULL && strcmp(use, "sig") != 0) || strlen(kid) >= sizeof(keys[0].kid))
            continue;
        key = jwk_to_pkey(k);
        if (key == NULL)
            continue;
        snprintf(keys[used].kid, sizeof(keys[used].kid), "%s", kid);
        keys[used++].key = key;
    }
    *out = keys;
    *n = used;
    return ERR_OK;
}

/* Discovery, then the JWKS; swaps the new keys in on success. Called by the refresher thread
 * alone, without mu (it is taken only to swap the result in). */
static enum err refresh(struct auth_jwt *j, struct err_detail *d)
{
    char *url = xasprintf("%s/%s/v2.0/.well-known/openid-configuration", j->login, j->tenant);
    json_t *disc = NULL, *jwks = NULL;
    const char *jwks_uri, *issuer;
    struct jwk_entry *keys = NULL;
    size_t nkeys = 0;
    enum err rc = ERR_UNAVAILABLE;

    disc = fetch_json(j, url, d);
    if (disc == NULL)
        goto out;
    jwks_uri = json_string_value(json_object_get(disc, "jwks_uri"));
    issuer = json_string_value(json_object_get(disc, "issuer"));
    if (jwks_uri == NULL || issuer == NULL) {
        err_set(d, ERR_UNAVAILABLE, "jwks_unavailable", "discovery lacks jwks_uri or issuer");
        goto out;
    }
    jwks = fetch_json(j, jwks_uri, d);
    if (jwks == NULL)
        goto out;
    rc = parse_jwks(jwks, &keys, &nkeys, d);
    if (rc != ERR_OK)
        goto out;
    pthread_mutex_lock(&j->mu);
    free_keys(j->keys, j->nkeys);
    j->keys = keys;
    j->nkeys = nkeys;
    free(j->issuer);
    j->issuer = xstrdup(issuer);
    j->fetched_at = now_of(j);
    pthread_mutex_unlock(&j->mu);
    log_info("jwks_refreshed", "keys=%zu", nkeys);
out:
    if (rc != ERR_OK)
        log_warn("jwks_refresh_failed", "error=\"%s\"", d ? d->msg : "");
    json_decref(disc);
    json_decref(jwks);
    free(url);
    return rc;
}

/* The background thread: waits for a request to refresh, fetches, and tells waiters. */
static void *refresher(void *arg)
{
    struct auth_jwt *j = arg;

    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        struct err_detail fd = {{0}, {0}};
        if (!j->want) {
            pthread_cond_wait(&j->cv, &j->mu);
            continue;
        }
        j->want = false;
        j->busy = true;
        j->attempted_at = now_of(j);
        j->fetches++;
        pthread_mutex_unlock(&j->mu);
        (void)refresh(j, &fd);
        pthread_mutex_lock(&j->mu);
        j->busy = false;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* At start-up (never on a request): wait a bounded time for the first fetch, so that the
 * daemon is ready for tokens when it says it listens. */
static void start_wait(struct auth_jwt *j)
{
    int64_t secs = j->o.timeout_s < START_WAIT_MAX_S ? j->o.timeout_s : START_WAIT_MAX_S;
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)secs;
    pthread_mutex_lock(&j->mu);
    while ((j->want || j->busy) && !j->stop) {
        if (pthread_cond_timedwait(&j->cv, &j->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&j->mu);
}

/* The key for kid with a reference the caller frees, or NULL. Asks the refresher for new keys
 * when the kid is unknown or the cache stale, at most once per refresh_min_s; *asked tells
 * whether this call did. Never waits on the network. */
static EVP_PKEY *find_key(struct auth_jwt *j, const char *kid, bool *asked, bool *have_keys)
{
    EVP_PKEY *key = NULL;
    int64_t min_gap = j->o.refresh_min_s * 1000, now = now_of(j);
    bool stale;

    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < j->nkeys && key == NULL; i++) {
        if (strcmp(j->keys[i].kid, kid) == 0 && EVP_PKEY_up_ref(j->keys[i].key) == 1)
            key = j->keys[i].key;
    }
    if (j->nkeys == 0 && min_gap > EMPTY_RETRY_MS)
        min_gap = EMPTY_RETRY_MS;
    stale = j->fetched_at == 0 || now - j->fetched_at >= j->o.cache_s * 1000;
    *asked = (key == NULL || stale) && !j->want && !j->busy &&
             (j->attempted_at == 0 || now - j->attempted_at >= min_gap);
    if (*asked) {
        j->want = true;
        pthread_cond_broadcast(&j->cv);
    }
    *have_keys = j->fetched_at != 0;
    pthread_mutex_unlock(&j->mu);
    return key;
}

static enum err key_for(struct auth_jwt *j, const char *kid, EVP_PKEY **out, struct err_detail *d)
{
    bool asked, have_keys;
    EVP_PKEY *key = find_key(j, kid, &asked, &have_keys);

    if (key != NULL) {
        *out = key;
        return ERR_OK;
    }
    if (!have_keys)
        return err_set(d, ERR_UNAVAILABLE, "jwks_unavailable",
                       "the signing keys of the tenant could not be fetched yet");
    if (asked)
        return err_set(d, ERR_UNAVAILABLE, "jwks_refreshing",
                       "the token's signing key is not known yet; the keys are being refreshed");
    return err_set(d, ERR_UNAUTHORIZED, "unknown_kid", "the token's signing key is not known");
}

/* ---- claims ---------------------------------------------------------------------------- */

static enum err unauthorized(struct err_detail *d, const char *code, const char *msg)
{
    return err_set(d, ERR_UNAUTHORIZED, code, "%s", msg);
}

enum claim_state { CLAIM_ABSENT, CLAIM_OK, CLAIM_BAD };

/* A claim that is a NumericDate, in ms. CLAIM_BAD when present but not a number of seconds
 * within years 1970..9999: a time this daemon cannot honour is refused, never ignored. */
static enum claim_state claim_time(const json_t *claims, const char *name, int64_t *ms)
{
    json_t *v = json_object_get(claims, name);
    double secs;

    if (v == NULL)
        return CLAIM_ABSENT;
    if (!json_is_number(v))
        return CLAIM_BAD;
    secs = json_number_value(v);
    if (!isfinite(secs) || secs < 0 || secs > 253402300799.0)
        return CLAIM_BAD;
    *ms = (int64_t)(secs * 1000.0);
    return CLAIM_OK;
}

static bool aud_accepted(const struct auth_jwt *j, const char *aud)
{
    const char *p = j->audiences;
    size_t al = strlen(aud);

    while (*p != '\0') {
        size_t l = strcspn(p, ",");
        const char *s = p;
        size_t sl = l;
        while (sl > 0 && *s == ' ') {
            s++;
            sl--;
        }
        while (sl > 0 && s[sl - 1] == ' ')
            sl--;
        if (sl == al && sl > 0 && strncmp(s, aud, al) == 0)
            return true;
        p += l;
        if (*p == ',')
            p++;
    }
    return false;
}

static bool check_aud(const struct auth_jwt *j, const json_t *claims)
{
    json_t *aud = json_object_get(claims, "aud"), *v;
    size_t i;

    if (json_is_string(aud))
        return aud_accepted(j, json_string_value(aud));
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && aud_accepted(j, json_string_value(v)))
            return true;
    }
    return false;
}

static bool check_iss(struct auth_jwt *j, const char *iss, const char *tid)
{
    char v2[CONFIG_STR_MAX + 128], v1[160];
    bool ok;

    snprintf(v2, sizeof(v2), "%s/%s/v2.0", j->login, tid);
    snprintf(v1, sizeof(v1), "https://sts.windows.net/%s/", tid);
    if (strcmp(iss, v2) == 0 || strcmp(iss, v1) == 0)
        return true;
    pthread_mutex_lock(&j->mu);
    ok = j->issuer != NULL && strcmp(iss, j->issuer) == 0;
    pthread_mutex_unlock(&j->mu);
    return ok;
}

/* The configured tenant, or the GUID in the discovery issuer "{login}/{guid}/v2.0" when the
 * configuration names the tenant by domain. */
static bool check_tid(struct auth_jwt *j, const char *tid)
{
    char expect[80] = "";
    const char *end, *start;

    if (strcasecmp(tid, j->tenant) == 0)
        return true;
    pthread_mutex_lock(&j->mu);
    if (j->issuer != NULL) {
        end = strstr(j->issuer, "/v2.0");
        for (start = end; start != NULL && start > j->issuer && start[-1] != '/'; start--)
            ;
        if (end != NULL && start != NULL && (size_t)(end - start) < sizeof(expect))
            snprintf(expect, sizeof(expect), "%.*s", (int)(end - start), start);
    }
    pthread_mutex_unlock(&j->mu);
    return expect[0] != '\0' && strcasecmp(tid, expect) == 0;
}

static enum auth_role map_roles(const struct auth_jwt *j, const json_t *claims)
{
    json_t *roles = json_object_get(claims, "roles"), *v;
    enum auth_role best = AUTH_ROLE_NONE;
    size_t i;

    json_array_foreach(roles, i, v)
    {
        const char *r = json_string_value(v);
        for (unsigned k = 0; r != NULL && k < 3; k++) {
            if (j->role_names[k][0] != '\0' && strcmp(r, j->role_names[k]) == 0 &&
                (enum auth_role)(k + 1) > best)
                best = (enum auth_role)(k + 1);
        }
    }
    return best;
}

/* An identifier fit for a log line and the audit log: letters, digits, '-', '.', '_'. */
static bool plain_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_'))
            return false;
    }
    return true;
}

/* App or user, from the claims Entra always sends (access-token-claims-reference: "idtyp" is
 * an optional claim; "scp" is present only in delegated tokens, an app-only token has
 * "roles" and no "scp", and its "sub" equals its "oid"; "appid" (v1) and "azp" (v2) name
 * the client application in both). An app is "app:<application id>"; a user is
 * "user:<oid>" and keeps the application it calls through in app_id. */
static enum err make_caller(const struct auth_jwt *j, const json_t *claims,
                            struct auth_caller **out, struct err_detail *d)
{
    const char *idtyp = json_string_value(json_object_get(claims, "idtyp"));
    const char *oid = json_string_value(json_object_get(claims, "oid"));
    const char *appid = json_string_value(json_object_get(claims, "appid"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    json_t *scp = json_object_get(claims, "scp");
    bool app = scp == NULL || (idtyp != NULL && strcmp(idtyp, "app") == 0);
    char subject[160];

    if (appid == NULL)
        appid = json_string_value(json_object_get(claims, "azp"));
    if (appid != NULL && !plain_id(appid))
        return unauthorized(d, "invalid_token", "the token names no usable application");
    if (app && appid == NULL)
        return unauthorized(d, "invalid_token", "an app-only token must name its application");
    if (app && oid != NULL && sub != NULL && strcmp(oid, sub) != 0)
        return unauthorized(d, "invalid_token",
                            "the token has no scp yet its sub is not its oid (not an app token)");
    if (!app && oid == NULL)
        oid = sub;
    if (!plain_id(app ? appid : oid))
        return unauthorized(d, "invalid_token", "the token names no usable caller identity");
    snprintf(subject, sizeof(subject), "%s:%s", app ? "app" : "user", app ? appid : oid);
    *out = auth_caller_new(app ? AUTH_KIND_APP : AUTH_KIND_USER, map_roles(j, claims), subject);
    if (appid != NULL)
        snprintf((*out)->app_id, sizeof((*out)->app_id), "%s", appid);
    return ERR_OK;
}

/* exp required; nbf and iat optional but, when present, NumericDates; no lifetime (from iat
 * or nbf, and from now) longer than max_lifetime_s. */
static enum err check_times(const struct auth_jwt *j, const json_t *claims, int64_t now_ms,
                            struct err_detail *d)
{
    int64_t exp = 0, nbf = 0, iat = 0, skew = j->o.skew_s * 1000;
    int64_t longest = j->o.max_lifetime_s * 1000;
    enum claim_state has_nbf = claim_time(claims, "nbf", &nbf);
    enum claim_state has_iat = claim_time(claims, "iat", &iat);

    if (claim_time(claims, "exp", &exp) != CLAIM_OK)
        return unauthorized(d, "invalid_token", "the token has no valid exp");
    if (has_nbf == CLAIM_BAD)
        return unauthorized(d, "invalid_token", "the token's nbf is not a NumericDate");
    if (has_iat == CLAIM_BAD)
        return unauthorized(d, "invalid_token", "the token's iat is not a NumericDate");
    if (now_ms >= exp + skew)
        return unauthorized(d, "token_expired", "the token has expired");
    if (has_nbf == CLAIM_OK && now_ms + skew < nbf)
        return unauthorized(d, "token_not_yet_valid", "the token is not valid yet");
    if (exp - now_ms > longest + skew || (has_nbf == CLAIM_OK && exp - nbf > longest + skew) ||
        (has_iat == CLAIM_OK && exp - iat > longest + skew))
        return unauthorized(d, "token_lifetime_too_long",
                            "the token lives longer than an Entra access token can");
    return ERR_OK;
}

static enum err check_claims(struct auth_jwt *j, const json_t *claims, int64_t now_ms,
                             struct err_detail *d)
{
    const char *tid = json_string_value(json_object_get(claims, "tid"));
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *ver = json_string_value(json_object_get(claims, "ver"));

    if (tid == NULL || !plain_id(tid) || !check_tid(j, tid))
        return unauthorized(d, "invalid_tenant", "the token is not from the accepted tenant");
    if (iss == NULL || !check_iss(j, iss, tid))
        return unauthorized(d, "invalid_issuer", "the token's issuer is not accepted");
    if (!check_aud(j, claims))
        return unauthorized(d, "invalid_audience", "the token is not meant for this API");
    if (ver != NULL && strcmp(ver, "1.0") != 0 && strcmp(ver, "2.0") != 0)
        return unauthorized(d, "invalid_token", "the token's version is not 1.0 or 2.0");
    return check_times(j, claims, now_ms, d);
}

enum err auth_jwt_verify(struct auth_jwt *j, const char *token, int64_t now_ms,
                         struct auth_caller **out, struct err_detail *d)
{
    struct jws jws;
    EVP_PKEY *key = NULL;
    struct err_detail vd;
    enum err rc;

    *out = NULL;
    if (token == NULL || strnlen(token, AUTH_JWT_MAX_BYTES + 1) > AUTH_JWT_MAX_BYTES)
        return unauthorized(d, "token_too_large", "the token is too large");
    if (jws_parse(token, &jws, &vd) != ERR_OK)
        return unauthorized(d, "invalid_token", "the bearer credential is not a valid JWT");
    if (strcmp(jws.alg, "RS256") != 0) {
        rc = unauthorized(d, "unsupported_alg", "only RS256 tokens are accepted");
        goto out;
    }
    if (json_object_get(jws.header, "crit") != NULL || jws.kid[0] == '\0') {
        rc = unauthorized(d, "invalid_token", "the token header is not acceptable");
        goto out;
    }
    rc = key_for(j, jws.kid, &key, d);
    if (rc != ERR_OK)
        goto out;
    if (jws_verify(&jws, key, &vd) != ERR_OK) {
        rc = unauthorized(d, "invalid_signature", "the token's signature does not verify");
        goto out;
    }
    rc = check_claims(j, jws.claims, now_ms, d);
    if (rc == ERR_OK)
        rc = make_caller(j, jws.claims, out, d);
out:
    EVP_PKEY_free(key);
    jws_cleanup(&jws);
    return rc;
}
