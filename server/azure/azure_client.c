/* azure_client.c: turns struct azure_config into a client: defaults, the cloud table, the
 * credential, the curl share handle (connection, DNS and TLS session reuse across threads)
 * and the throttle buckets. The request machinery itself is in azure_http.c. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define DEF(v, d) ((v) > 0 ? (v) : (d))

void azure_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct azure_client *c = arg;

    (void)h;
    (void)access;
    pthread_mutex_lock(&c->share_locks[(unsigned)data % 8]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    struct azure_client *c = arg;

    (void)h;
    pthread_mutex_unlock(&c->share_locks[(unsigned)data % 8]);
}

static void init_share(struct azure_client *c)
{
    CURLSH *sh = curl_share_init();

    if (sh == NULL)
        abort();
    for (int i = 0; i < 8; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(sh, CURLSHOPT_USERDATA, c);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    c->curl_share = sh;
}

static void init_settings(struct azure_client *c, const struct azure_config *cfg)
{
    azure_strlcpy(c->compute_api,
                  cfg->compute_api_version ? cfg->compute_api_version : "2024-07-01",
                  sizeof(c->compute_api));
    azure_strlcpy(c->authz_api, cfg->authz_api_version ? cfg->authz_api_version : "2022-04-01",
                  sizeof(c->authz_api));
    c->ca_bundle = cfg->ca_bundle && cfg->ca_bundle[0] ? xstrdup(cfg->ca_bundle) : NULL;
    c->connect_timeout_ms = DEF(cfg->connect_timeout_ms, 10000);
    c->timeout_ms = DEF(cfg->timeout_ms, 60000);
    c->max_response_bytes = DEF(cfg->max_response_bytes, (size_t)16 << 20);
    c->retry_max_attempts = DEF(cfg->retry_max_attempts, 6);
    c->retry_max_total_ms = DEF(cfg->retry_max_total_ms, 120000);
    c->retry_backoff_base_ms = DEF(cfg->retry_backoff_base_ms, 500);
    c->retry_backoff_max_ms = DEF(cfg->retry_backoff_max_ms, 30000);
    c->token_refresh_before_ms =
        cfg->token_refresh_before_ms != 0 ? cfg->token_refresh_before_ms : 300000;
    if (c->token_refresh_before_ms < 0)
        c->token_refresh_before_ms = 0;
    c->token_failure_cache_ms =
        cfg->token_failure_cache_ms != 0 ? cfg->token_failure_cache_ms : 5000;
    if (c->token_failure_cache_ms < 0)
        c->token_failure_cache_ms = 0;
    c->lro_poll_default_ms = DEF(cfg->lro_poll_default_ms, 5000);
    c->lro_poll_min_ms = DEF(cfg->lro_poll_min_ms, 1000);
    c->lro_poll_max_ms = DEF(cfg->lro_poll_max_ms, 30000);
    c->lro_timeout_ms = DEF(cfg->lro_timeout_ms, 1800000);
}

static void init_throttle(struct azure_client *c, const struct azure_config *cfg)
{
    struct azure_throttle_limits arm = {
        .capacity = {DEF(cfg->throttle_read_capacity, 250), DEF(cfg->throttle_write_capacity, 200),
                     DEF(cfg->throttle_delete_capacity, 200)},
        .rate = {DEF(cfg->throttle_read_rate, 25), DEF(cfg->throttle_write_rate, 10),
                 DEF(cfg->throttle_delete_rate, 10)},
        .margin_ms = DEF(cfg->throttle_margin_ms, 50),
    };
    double gc = DEF(cfg->throttle_graph_capacity, 3500);
    double gr = DEF(cfg->throttle_graph_rate, 350);
    struct azure_throttle_limits graph = {
        .capacity = {gc, gc, gc},
        .rate = {gr, gr, gr},
        .margin_ms = arm.margin_ms,
    };

    c->arm_throttle = azure_throttle_new(&arm);
    c->graph_throttle = azure_throttle_new(&graph);
}

enum err azure_client_new(const struct azure_config *cfg, struct azure_client **out,
                          struct err_detail *d)
{
    struct azure_client *c = xcalloc(1, sizeof(*c));
    enum err rc;

    *out = NULL;
    rc = azure_cloud_init(&c->cloud, cfg->cloud, cfg->arm_url, cfg->login_url, cfg->graph_url, d);
    if (rc != ERR_OK)
        goto out;
    azure_cloud_set_imds(&c->cloud, cfg->imds_url);
    if (cfg->arm_scope != NULL && cfg->arm_scope[0] != '\0')
        azure_strlcpy(c->cloud.arm_scope, cfg->arm_scope, sizeof(c->cloud.arm_scope));
    if (cfg->graph_scope != NULL && cfg->graph_scope[0] != '\0')
        azure_strlcpy(c->cloud.graph_scope, cfg->graph_scope, sizeof(c->cloud.graph_scope));
    init_settings(c, cfg);
    init_share(c);
    init_throttle(c, cfg);
    rc = azure_cred_new(c, cfg, &c->cred, d);
    if (rc != ERR_OK)
        goto out;
    log_info("azure_client", "cloud=%s arm=%s login=%s graph=%s compute_api=%s authz_api=%s",
             c->cloud.name, c->cloud.arm_url, c->cloud.login_url, c->cloud.graph_url,
             c->compute_api, c->authz_api);
    *out = c;
    c = NULL;
out:
    azure_client_free(c);
    return rc;
}

void azure_client_expect_vm_writes(struct azure_client *c, const char *subscription_id,
                                   int64_t within_ms)
{
    if (c != NULL && c->arm_throttle != NULL && subscription_id != NULL)
        azure_throttle_expect(c->arm_throttle, subscription_id, AZURE_OP_WRITE,
                              clock_mono_ms() + within_ms);
}

int64_t azure_client_yielding_write_wait_ms(struct azure_client *c, const char *subscription_id)
{
    if (c == NULL || c->arm_throttle == NULL || subscription_id == NULL)
        return 0;
    return azure_throttle_yield_wait(c->arm_throttle, subscription_id, AZURE_OP_WRITE,
                                     clock_mono_ms());
}

void azure_client_free(struct azure_client *c)
{
    if (c == NULL)
        return;
    azure_cred_free(c->cred);
    azure_throttle_free(c->arm_throttle);
    azure_throttle_free(c->graph_throttle);
    if (c->curl_share != NULL) {
        curl_share_cleanup((CURLSH *)c->curl_share);
        for (int i = 0; i < 8; i++)
            pthread_mutex_destroy(&c->share_locks[i]);
    }
    free(c->ca_bundle);
    free(c);
}

const struct azure_cloud *azure_client_cloud(const struct azure_client *c)
{
    return &c->cloud;
}

const char *azure_client_compute_api(const struct azure_client *c)
{
    return c->compute_api;
}

const char *azure_client_authz_api(const struct azure_client *c)
{
    return c->authz_api;
}
