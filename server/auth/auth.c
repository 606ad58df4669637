/* auth.c: the authenticator the daemon holds: reads "Bearer <credential>", sends API keys
 * ("vlk_...") to auth_keys.c and anything else to the JWT validator, and owns the per-caller
 * rate limiter. It never logs a credential; errors carry fixed reasons only. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"
#include "vmlogind/store_rate.h"
#include "vmlogind/xalloc.h"

#define RATE_MAX_IDS 10000
#define RATE_TRIM_MS (3600 * 1000) /* shared buckets idle this long are forgotten */

struct auth {
    struct store *st;
    struct auth_jwt *jwt;    /* NULL when JWTs are not configured */
    struct auth_rate *rate;  /* this replica's buckets (SQLite; PostgreSQL when it fails) */
    struct auth_rate *stash; /* PostgreSQL: tokens taken ahead from the shared buckets */
    double rate_rps, rate_burst;
    _Atomic int64_t rate_failed_ms;  /* when the shared buckets last failed, logged */
    _Atomic int64_t rate_trimmed_ms; /* when idle shared buckets were last forgotten */
};

const char *auth_login_base(const struct config *cfg)
{
    if (cfg->api_login_url[0] != '\0')
        return cfg->api_login_url;
    if (cfg->login_url[0] != '\0')
        return cfg->login_url;
    if (strcmp(cfg->cloud, "AzureUSGovernment") == 0)
        return "https://login.microsoftonline.us";
    if (strcmp(cfg->cloud, "AzureChinaCloud") == 0)
        return "https://login.chinacloudapi.cn";
    return "https://login.microsoftonline.com";
}

const char *auth_tenant(const struct config *cfg)
{
    return cfg->api_tenant_id[0] ? cfg->api_tenant_id : cfg->tenant_id;
}

enum err auth_new_with(const struct config *cfg, struct store *st,
                       const struct auth_jwt_options *jo, struct auth **out, struct err_detail *d)
{
    struct auth *a = xcalloc(1, sizeof(*a));
    enum err rc;

    a->st = st;
    a->rate =
        auth_rate_new((double)cfg->rate_limit_rps, (double)cfg->rate_limit_burst, RATE_MAX_IDS);
    a->stash = auth_rate_stash_new(RATE_MAX_IDS);
    a->rate_rps = (double)cfg->rate_limit_rps;
    a->rate_burst = (double)cfg->rate_limit_burst;
    if (jo != NULL) {
        rc = auth_jwt_new(jo, &a->jwt, d);
        if (rc != ERR_OK) {
            auth_free(a);
            return rc;
        }
    }
    *out = a;
    return ERR_OK;
}

enum err auth_new(const struct config *cfg, struct store *st, struct auth **out,
                  struct err_detail *d)
{
    const char *tenant = auth_tenant(cfg);
    struct auth_jwt_options jo = {
        .login_url = auth_login_base(cfg),
        .tenant_id = tenant,
        .audiences = cfg->api_audience,
        .ca_bundle = cfg->ca_bundle,
        .skew_s = cfg->jwt_skew_s,
        .refresh_min_s = cfg->jwks_refresh_min_s,
        .cache_s = cfg->jwks_cache_s,
        .timeout_s = cfg->http_timeout_s,
        .role_reader = cfg->role_reader,
        .role_operator = cfg->role_operator,
        .role_administrator = cfg->role_administrator,
    };
    bool jwt = cfg->api_audience[0] != '\0' && tenant[0] != '\0';

    return auth_new_with(cfg, st, jwt ? &jo : NULL, out, d);
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    auth_jwt_free(a->jwt);
    auth_rate_free(a->rate);
    auth_rate_free(a->stash);
    free(a);
}

/* Holds c to the limits stored for subject, if any. Read per request (one primary-key lookup),
 * so a change applies at once. */
static enum err limits_of(struct auth *a, struct auth_caller *c, const char *subject,
                          struct err_detail *d)
{
    struct store_identity_limits l;
    enum err rc = store_identity_limits_get(a->st, subject, &l, d);

    if (rc == ERR_NOT_FOUND)
        return ERR_OK;
    if (rc != ERR_OK)
        return rc == ERR_STORE ? ERR_UNAVAILABLE : rc;
    rc = auth_caller_restrict(c, l.scopes, l.grant_limits, d);
    if (rc != ERR_OK)
        rc = err_set(d, ERR_INTERNAL, "bad_identity_limits", "stored limits of %s are malformed",
                     l.subject);
    store_identity_limits_clear(&l);
    return rc;
}

/* An Entra caller named in identity_limits is held to its scopes and grant limits, as an API
 * key is to its own; and whenever the token names an application, to that application's
 * limits as well (a user calling through a limited app is held to both). */
static enum err identity_limits(struct auth *a, struct auth_caller *c, struct err_detail *d)
{
    char app[sizeof(c->app_id) + 4];
    enum err rc = limits_of(a, c, c->subject, d);

    if (rc != ERR_OK || c->app_id[0] == '\0')
        return rc;
    snprintf(app, sizeof(app), "app:%s", c->app_id);
    if (strcmp(app, c->subject) == 0)
        return ERR_OK;
    return limits_of(a, c, app, d);
}

enum err auth_authenticate(struct auth *a, const char *authorization, struct auth_caller **out,
                           struct err_detail *d)
{
    const char *cred;
    enum err rc;

    *out = NULL;
    if (authorization == NULL || authorization[0] == '\0')
        return err_set(d, ERR_UNAUTHORIZED, "unauthenticated",
                       "send Authorization: Bearer with a token or an API key");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return err_set(d, ERR_UNAUTHORIZED, "unsupported_scheme",
                       "only the Bearer scheme is accepted");
    cred = authorization + 7;
    while (*cred == ' ')
        cred++;
    if (strncmp(cred, AUTH_KEY_PREFIX, strlen(AUTH_KEY_PREFIX)) == 0)
        return auth_keys_authenticate(a->st, cred, clock_now_ms(), out, d);
    if (a->jwt == NULL)
        return err_set(d, ERR_UNAUTHORIZED, "jwt_not_configured",
                       "this server accepts API keys only (no api_audience configured)");
    rc = auth_jwt_verify(a->jwt, cred, clock_now_ms(), out, d);
    if (rc == ERR_OK)
        rc = identity_limits(a, *out, d);
    if (rc != ERR_OK && *out != NULL) {
        auth_caller_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The caller's bucket shared by the replicas (PostgreSQL): true when it decided. A token comes
 * from the tokens this replica took ahead, else from the shared bucket, a batch at a time (a
 * tenth of the smaller of burst and rate: one statement for several requests of a busy caller,
 * and the replicas together never spend more than the bucket gave). A store that cannot answer
 * leaves the decision to this replica's own bucket, logged once a minute. */
static bool shared_rate(struct auth *a, const struct auth_caller *c, bool *ok, int64_t *wait_ms)
{
    struct err_detail d;
    char m[512];
    int64_t now = clock_mono_ms(), last = atomic_load(&a->rate_failed_ms);
    int64_t trimmed = atomic_load(&a->rate_trimmed_ms), taken = 0;
    double least = a->rate_rps < a->rate_burst ? a->rate_rps : a->rate_burst;

    *ok = true;
    if (auth_rate_stash_take(a->stash, c->subject, now))
        return true;
    /* buckets idle for an hour are full, the same as none: forgotten once an hour */
    if (now - trimmed >= RATE_TRIM_MS &&
        atomic_compare_exchange_strong(&a->rate_trimmed_ms, &trimmed, now) &&
        store_rate_trim(a->st, RATE_TRIM_MS, &d) != ERR_OK)
        log_warn("rate_trim_failed", "error=%s", log_q(m, sizeof(m), d.msg));
    if (store_rate_take(a->st, c->subject, a->rate_rps, a->rate_burst, (int64_t)(least / 10),
                        &taken, wait_ms, &d) == ERR_OK) {
        *ok = taken > 0;
        if (taken > 1)
            auth_rate_stash_put(a->stash, c->subject, (double)(taken - 1), now);
        return true;
    }
    if (now - last >= 60000 && atomic_compare_exchange_strong(&a->rate_failed_ms, &last, now))
        log_warn("rate_store_failed",
                 "error=%s effect=\"this replica's own buckets limit callers until the store "
                 "answers\"",
                 log_q(m, sizeof(m), d.msg));
    return false;
}

bool auth_rate_allow(struct auth *a, const struct auth_caller *c, int64_t *retry_after_s)
{
    int64_t wait_ms = 0;
    bool ok = true;

    if (a->st != NULL && store_is_shared(a->st) && shared_rate(a, c, &ok, &wait_ms)) {
        if (ok)
            return true;
    } else if (auth_rate_take(a->rate, c->subject, clock_mono_ms(), &wait_ms)) {
        return true;
    }
    *retry_after_s = wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000;
    return false;
}
