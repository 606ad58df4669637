/* config.h: every setting of the daemon, in one table with types and bounds.
 * Precedence: defaults < file (key = value lines) < environment (VMLOGIND_<KEY>) < flags.
 * Secret settings hold file paths; the secrets themselves are read where they are used. */
#ifndef VMLOGIND_CONFIG_H
#define VMLOGIND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/err.h"

#define CONFIG_STR_MAX 512

struct config {
    /* serving */
    char listen[CONFIG_STR_MAX];
    char db[CONFIG_STR_MAX];
    /* store backend: sqlite (db) | postgresql (postgres_url) */
    char store_backend[16];
    char postgres_url[CONFIG_STR_MAX];
    char postgres_password_file[CONFIG_STR_MAX];
    int64_t postgres_pool_size;
    char log_level[16];
    int64_t threads; /* 0 = one per core */
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    int64_t request_timeout_s;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t header_timeout_s;
    int64_t events_max_streams; /* GET /v1/events streams open at once */
    int64_t events_heartbeat_s; /* a comment line to quiet streams; a gone client frees its slot */
    int64_t events_poll_ms;     /* how often the event log's head is looked at */
    char tls_cert_file[CONFIG_STR_MAX];
    char tls_key_file[CONFIG_STR_MAX];
    /* inbound auth */
    char api_audience[CONFIG_STR_MAX];
    char api_tenant_id[CONFIG_STR_MAX];
    char api_login_url[CONFIG_STR_MAX];
    char dashboard_client_id[CONFIG_STR_MAX];
    char dashboard_scope[CONFIG_STR_MAX];
    char client_secret_expires_at[CONFIG_STR_MAX];
    char role_reader[64];
    char role_operator[64];
    char role_administrator[64];
    int64_t rate_limit_rps;
    int64_t rate_limit_burst;
    int64_t jwt_skew_s;
    int64_t jwks_refresh_min_s;
    int64_t jwks_cache_s;
    /* Azure connection */
    char cloud[32];
    char arm_url[CONFIG_STR_MAX];
    char login_url[CONFIG_STR_MAX];
    char graph_url[CONFIG_STR_MAX];
    char arm_scope[CONFIG_STR_MAX];
    char graph_scope[CONFIG_STR_MAX];
    char imds_url[CONFIG_STR_MAX];
    char tenant_id[CONFIG_STR_MAX];
    char client_id[CONFIG_STR_MAX];
    char credential[32];
    char client_secret_file[CONFIG_STR_MAX];
    char client_secret[CONFIG_STR_MAX];
    char client_certificate_file[CONFIG_STR_MAX];
    char client_certificate_alg[16];
    char federated_token_file[CONFIG_STR_MAX];
    char ca_bundle[CONFIG_STR_MAX];
    int64_t arm_read_bucket;
    int64_t arm_read_refill;
    int64_t arm_write_bucket;
    int64_t arm_write_refill;
    int64_t http_timeout_s;
    int64_t retry_max_attempts;
    int64_t retry_max_total_s;
    int64_t retry_backoff_base_ms;
    int64_t retry_backoff_max_ms;
    int64_t lro_poll_min_ms;
    int64_t lro_poll_max_ms;
    /* reconciliation */
    int64_t sync_interval_s;
    int64_t reconcile_workers;
    int64_t reconcile_tick_ms;
    int64_t task_lease_s;
    int64_t task_max_backoff_s;
    char login_mode[16];
    char extension_version[32];
    bool create_signin_sp;
    int64_t login_recheck_s;
    int64_t login_max_attempts;
    int64_t grant_max_duration_s;
    int64_t activation_approval_timeout_s;
    int64_t principal_not_found_timeout_s;
    char stale_devices[16]; /* off | report | delete */
    int64_t stale_device_grace;
    char rdp_dns_suffix[256];
    char cors_allowed_origins[1024];
    /* audit anchoring */
    char audit_key_file[CONFIG_STR_MAX];
    char audit_checkpoint_file[CONFIG_STR_MAX];
    int64_t audit_checkpoint_rows;
    int64_t audit_checkpoint_interval_s;
    /* webhooks */
    char webhook_allowed_hosts[1024];
    char webhook_retry_schedule_ms[512];
    int64_t webhook_disable_after;
    int64_t webhook_rotation_overlap_s;
    int64_t webhook_connect_timeout_ms;
    int64_t webhook_timeout_ms;
    int64_t webhook_workers;
    int64_t webhook_poll_ms;
    int64_t webhook_keep_s;
};

/* Fills c with defaults. */
void config_defaults(struct config *c);
/* word is one of the '|'-separated words of list (the form of a setting's allowed values). */
bool config_word_in(const char *list, const char *word);
/* Applies "key = value" lines from a file. ERR_INVALID names the line and key in d. */
enum err config_load_file(struct config *c, const char *path, struct err_detail *d) VL_MUST_CHECK;
/* Applies VMLOGIND_<KEY> variables from the environment. */
enum err config_load_env(struct config *c, struct err_detail *d) VL_MUST_CHECK;
/* Sets one setting by key (also used for command-line flags). */
enum err config_set(struct config *c, const char *key, const char *value,
                    struct err_detail *d) VL_MUST_CHECK;
/* Cross-field checks (e.g. custom cloud needs its URLs). */
enum err config_validate(const struct config *c, struct err_detail *d) VL_MUST_CHECK;
/* Writes the effective configuration as key=value pairs, secrets redacted. */
enum err config_dump(const struct config *c, struct buf *out) VL_MUST_CHECK;
/* Writes conninfo (a libpq "key=value ..." string or a postgresql:// URI) to out (cap bytes,
 * always terminated) with the value of every password masked as "***": the form in which
 * postgres_url may be logged. What cannot be parsed is masked whole from there on. */
void config_conninfo_mask(const char *conninfo, char *out, size_t cap);
/* Number of ms in the host's core count based thread default. */
int config_threads(const struct config *c);
/* The i-th entry of the settings table: its key, default and one-line help (false past the
 * end). What `vmlogind --list-settings` prints. */
bool config_setting_at(size_t i, const char **key, const char **def, const char **help);

#endif
