/* config.c: the settings table and its loaders. One row per setting: key, type, default,
 * bounds or allowed values, and whether it names a secret (those are never printed). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmlogind/clock.h"
#include "vmlogind/config.h"

enum ctype { C_STR, C_INT, C_BOOL };

struct setting {
    const char *key;
    enum ctype type;
    size_t off;
    size_t size;       /* C_STR: capacity */
    const char *def;   /* default as text */
    int64_t min, max;  /* C_INT bounds */
    const char *oneof; /* C_STR: allowed values, "|" separated, or NULL */
    bool secret;       /* never printed by config_dump */
    const char *help;
};

#define S(k, d, one, sec, h)                                                                       \
    {                                                                                              \
        .key = #k, .type = C_STR, .off = offsetof(struct config, k),                               \
        .size = sizeof(((struct config *)0)->k), .def = d, .oneof = one, .secret = sec, .help = h  \
    }
#define I(k, d, lo, hi, h)                                                                         \
    {                                                                                              \
        .key = #k, .type = C_INT, .off = offsetof(struct config, k), .def = d, .min = lo,          \
        .max = hi, .help = h                                                                       \
    }
#define B(k, d, h)                                                                                 \
    {                                                                                              \
        .key = #k, .type = C_BOOL, .off = offsetof(struct config, k), .def = d, .help = h          \
    }

static const struct setting settings[] = {
    S(listen, "127.0.0.1:8080", NULL, false, "address:port to serve on (port 0 picks one)"),
    S(db, "vmlogind.db", NULL, false, "SQLite database file"),
    S(store_backend, "sqlite", "sqlite|postgresql", false,
      "where the store lives: sqlite (the db file) or postgresql (postgres_url; several "
      "replicas on one database)"),
    S(postgres_url, "", NULL, false,
      "PostgreSQL 15 connection string (libpq key=value or postgresql:// URI); keep the "
      "password out of it (postgres_password_file or PGPASSFILE): it is logged masked"),
    S(postgres_password_file, "", NULL, false,
      "file holding the PostgreSQL password (empty: libpq's own, e.g. PGPASSFILE)"),
    I(postgres_pool_size, "8", 1, 256, "PostgreSQL connections per process"),
    S(log_level, "info", "debug|info|warn|error", false, "log level"),
    I(threads, "0", 0, 256, "HTTP worker threads; 0 = one per core"),
    I(max_body_bytes, "1048576", 1024, 67108864, "largest request body accepted"),
    I(max_header_bytes, "16384", 1024, 1048576, "largest request header block accepted"),
    I(request_timeout_s, "30", 1, 3600, "idle connection and request time limit"),
    I(max_connections, "1024", 16, 65536, "concurrent connections"),
    I(max_connections_per_ip, "128", 0, 65536,
      "concurrent connections from one client address; 0 = no limit"),
    I(header_timeout_s, "10", 1, 600,
      "time a connection has to send its request headers (and to start its next request)"),
    I(events_max_streams, "32", 1, 4096, "GET /v1/events streams open at once"),
    I(events_heartbeat_s, "15", 1, 300,
      "seconds between keep-alive comments on a quiet event stream"),
    I(events_poll_ms, "250", 10, 10000, "how often new events are looked for (ms)"),
    S(tls_cert_file, "", NULL, false, "PEM certificate for native HTTPS"),
    S(tls_key_file, "", NULL, false, "PEM private key for native HTTPS"),
    S(cors_allowed_origins, "", NULL, false,
      "browser origins (https://portal.example.com) allowed to call the API, space separated"),
    S(api_audience, "", NULL, false, "accepted aud of caller JWTs (the daemon's app id / URI)"),
    S(api_tenant_id, "", NULL, false, "tenant of caller JWTs (defaults to tenant_id)"),
    S(api_login_url, "", NULL, false, "authority for caller JWT discovery (defaults to login_url)"),
    S(dashboard_client_id, "", NULL, false,
      "client id the dashboard signs in to Entra with (auth code + PKCE; a SPA redirect URI "
      "for this server's /); empty: the dashboard takes API keys only"),
    S(dashboard_scope, "", NULL, false,
      "scope the dashboard asks Entra for (empty: <first api_audience>/.default)"),
    S(role_reader, "VmLogin.Reader", NULL, false, "JWT app role mapped to reader"),
    S(role_operator, "VmLogin.Operator", NULL, false, "JWT app role mapped to operator"),
    S(role_administrator, "VmLogin.Administrator", NULL, false,
      "JWT app role mapped to administrator"),
    I(rate_limit_rps, "50", 1, 1000000, "requests per second per caller"),
    I(rate_limit_burst, "100", 1, 1000000, "burst per caller"),
    I(jwt_skew_s, "300", 0, 3600, "clock skew allowed on exp/nbf"),
    I(jwks_refresh_min_s, "300", 0, 86400,
      "an unknown JWT kid refetches the JWKS at most once per this"),
    I(jwks_cache_s, "86400", 60, 604800, "JWKS cache lifetime (keys roll)"),
    S(cloud, "AzureCloud", "AzureCloud|AzureUSGovernment|AzureChinaCloud|custom", false,
      "Azure cloud"),
    S(arm_url, "", NULL, false, "ARM endpoint (custom cloud)"),
    S(login_url, "", NULL, false, "login authority (custom cloud)"),
    S(graph_url, "", NULL, false, "Microsoft Graph endpoint (custom cloud)"),
    S(arm_scope, "", NULL, false,
      "token scope for ARM (empty: <arm_url>/.default; a custom cloud: the public cloud's)"),
    S(graph_scope, "", NULL, false,
      "token scope for Graph (empty: <graph_url>/.default; a custom cloud: the public cloud's)"),
    S(imds_url, "http://169.254.169.254", NULL, false, "instance metadata service base URL"),
    S(tenant_id, "", NULL, false, "Entra tenant id"),
    S(client_id, "", NULL, false, "application (client) id vmlogind signs in as"),
    S(credential, "auto", "auto|secret|certificate|managed_identity|workload_identity", false,
      "how vmlogind authenticates to Azure"),
    S(client_secret_file, "", NULL, false, "file holding the client secret"),
    S(client_secret, "", NULL, true, "the client secret itself (prefer client_secret_file)"),
    S(client_secret_expires_at, "", NULL, false,
      "when the client secret expires (RFC 3339, its \"Expires\" in the app registration); "
      "exported as vmlogind_client_secret_expiry_timestamp_seconds for alerting"),
    S(client_certificate_file, "", NULL, false, "PEM file with certificate and private key"),
    S(client_certificate_alg, "PS256", "PS256|RS256", false, "client assertion algorithm"),
    S(federated_token_file, "", NULL, false, "workload identity token file"),
    S(ca_bundle, "", NULL, false, "CA bundle for outbound TLS (empty = system)"),
    I(arm_read_bucket, "250", 1, 100000, "ARM read bucket size per subscription"),
    I(arm_read_refill, "25", 1, 100000, "ARM read refill per second"),
    I(arm_write_bucket, "200", 1, 100000, "ARM write/delete bucket size per subscription"),
    I(arm_write_refill, "10", 1, 100000, "ARM write/delete refill per second"),
    I(http_timeout_s, "60", 1, 600, "outbound request timeout"),
    I(retry_max_attempts, "6", 1, 50, "attempts per outbound request"),
    I(retry_max_total_s, "120", 1, 3600, "time budget per outbound request with retries"),
    I(retry_backoff_base_ms, "500", 1, 600000,
      "first retry backoff; doubles per attempt, with jitter (Retry-After wins)"),
    I(retry_backoff_max_ms, "30000", 1, 600000, "longest retry backoff"),
    I(lro_poll_min_ms, "1000", 0, 600000, "shortest wait between operation polls"),
    I(lro_poll_max_ms, "60000", 1, 600000, "longest wait between operation polls"),
    I(sync_interval_s, "300", 0, 86400, "inventory sync period; 0 = only on demand"),
    I(reconcile_workers, "4", 1, 64, "reconciler worker threads"),
    I(reconcile_tick_ms, "200", 10, 60000, "reconciler idle poll period"),
    I(task_lease_s, "120", 5, 3600, "task lease length"),
    I(task_max_backoff_s, "600", 1, 86400, "longest retry backoff of a task"),
    S(login_mode, "enforce", "enforce|audit", false, "default drift policy for entraLogin"),
    S(extension_version, "1.0", NULL, false, "AADLoginForWindows typeHandlerVersion"),
    B(create_signin_sp, "false", "create the Azure Windows VM Sign-In service principal"),
    I(login_recheck_s, "120", 1, 86400,
      "entraLogin: how often a scope is re-expanded (new VMs, drift) and a stopped VM re-checked"),
    I(login_max_attempts, "5", 1, 100,
      "entraLogin: failed installs in a row before a VM is marked failed"),
    I(grant_max_duration_s, "7776000", 60, 315360000, "longest time-bound grant (default 90 d)"),
    I(principal_not_found_timeout_s, "600", 1, 86400,
      "how long PrincipalNotFound is retried before a grant fails"),
    I(activation_approval_timeout_s, "86400", 1, 2592000,
      "how long a just-in-time activation waits for approval before it expires"),
    S(stale_devices, "off", "off|report|delete", false,
      "the Entra device of a VM gone from Azure: off | report (audit only) | delete (report, "
      "then DELETE it in Graph after stale_device_grace; needs Device.ReadWrite.All)"),
    I(stale_device_grace, "86400", 0, 31536000,
      "seconds between reporting a gone VM's device and deleting it (stale_devices = delete)"),
    S(rdp_dns_suffix, "", NULL, false,
      "DNS suffix appended to a VM's computer name in RDP files (e.g. corp.example.com)"),
    S(audit_key_file, "", NULL, false,
      "file holding the audit chain's HMAC key (empty: <db>.audit-key, made on first start)"),
    S(audit_checkpoint_file, "", NULL, false,
      "file the signed audit checkpoints are appended to (empty: <db>.audit-checkpoints)"),
    I(audit_checkpoint_rows, "100", 1, 1000000, "audit rows between signed checkpoints"),
    I(audit_checkpoint_interval_s, "60", 1, 86400,
      "longest time a new audit row waits for a signed checkpoint"),
    S(webhook_allowed_hosts, "", NULL, false,
      "hosts webhooks may be sent to, exact names, space or comma separated; a listed host may "
      "resolve to any address (http allowed to a listed loopback host); \"*\": any other host "
      "whose addresses are all public"),
    S(webhook_retry_schedule_ms, "5000,300000,1800000,7200000,18000000,36000000,21600000", NULL,
      false,
      "ms before each retry of a failed delivery (+0..20% jitter); after the last, it fails"),
    I(webhook_disable_after, "30", 1, 100000,
      "failed attempts in a row that disable a webhook subscription"),
    I(webhook_rotation_overlap_s, "86400", 0, 2592000,
      "seconds the previous secret still signs after a rotation"),
    I(webhook_connect_timeout_ms, "5000", 100, 60000, "webhook connect timeout"),
    I(webhook_timeout_ms, "15000", 100, 120000, "webhook request timeout, connect included"),
    I(webhook_workers, "2", 1, 16, "webhook delivery threads"),
    I(webhook_poll_ms, "500", 10, 60000, "how often due webhook deliveries are looked for"),
    I(webhook_keep_s, "604800", 3600, 31536000, "how long finished deliveries are kept"),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct setting *find(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

bool config_word_in(const char *list, const char *v)
{
    size_t vl = strlen(v);
    const char *p = list;

    while (*p != '\0') {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, v, l) == 0)
            return true;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    return false;
}

static enum err apply(struct config *c, const struct setting *s, const char *v,
                      struct err_detail *d)
{
    char *base = (char *)c + s->off;

    switch (s->type) {
    case C_STR:
        if (strlen(v) >= s->size)
            return err_set(d, ERR_INVALID, "config_too_long", "%s: longer than %zu bytes", s->key,
                           s->size - 1);
        if (s->oneof != NULL && !config_word_in(s->oneof, v))
            return err_set(d, ERR_INVALID, "config_not_allowed", "%s: '%s' is not one of %s",
                           s->key, v, s->oneof);
        memcpy(base, v, strlen(v) + 1);
        return ERR_OK;
    case C_INT: {
        char *end = NULL;
        long long n;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0')
            return err_set(d, ERR_INVALID, "config_not_integer", "%s: '%s' is not an integer",
                           s->key, v);
        if (n < s->min || n > s->max)
            return err_set(d, ERR_INVALID, "config_out_of_range",
                           "%s: %lld is outside [%lld, %lld]", s->key, n, (long long)s->min,
                           (long long)s->max);
        memcpy(base, &(int64_t){n}, sizeof(int64_t));
        return ERR_OK;
    }
    case C_BOOL: {
        bool b;
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
            b = true;
        else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
            b = false;
        else
            return err_set(d, ERR_INVALID, "config_not_boolean", "%s: '%s' is not a boolean",
                           s->key, v);
        memcpy(base, &b, sizeof(bool));
        return ERR_OK;
    }
    }
    return ERR_INTERNAL;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NSETTINGS; i++) {
        enum err rc = apply(c, &settings[i], settings[i].def, NULL);
        if (rc != ERR_OK)
            abort(); /* a bad default is a programmer error */
    }
}

enum err config_set(struct config *c, const char *key, const char *value, struct err_detail *d)
{
    const struct setting *s = find(key);

    if (s == NULL)
        return err_set(d, ERR_INVALID, "config_unknown_key", "unknown setting '%s'", key);
    return apply(c, s, value, d);
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

enum err config_load_file(struct config *c, const char *path, struct err_detail *d)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int lineno = 0;
    enum err rc = ERR_OK;

    if (f == NULL)
        return err_set(d, ERR_INVALID, "config_unreadable", "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p, *eq, *key, *val;
        struct err_detail inner;
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = err_set(d, ERR_INVALID, "config_line_too_long", "%s:%d: line too long", path,
                         lineno);
            break;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        eq = strchr(p, '=');
        if (eq == NULL) {
            rc = err_set(d, ERR_INVALID, "config_syntax", "%s:%d: expected key = value", path,
                         lineno);
            break;
        }
        *eq = '\0';
        key = trim(p);
        val = trim(eq + 1);
        if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
            val[strlen(val) - 1] = '\0';
            val++;
        }
        rc = config_set(c, key, val, &inner);
        if (rc != ERR_OK) {
            err_set(d, rc, inner.code, "%s:%d: %s", path, lineno, inner.msg);
            break;
        }
    }
    fclose(f);
    return rc;
}

enum err config_load_env(struct config *c, struct err_detail *d)
{
    char name[128];

    for (size_t i = 0; i < NSETTINGS; i++) {
        size_t o = (size_t)snprintf(name, sizeof(name), "VMLOGIND_");
        for (const char *k = settings[i].key; *k != '\0' && o < sizeof(name) - 1; k++)
            name[o++] = (char)toupper((unsigned char)*k);
        name[o] = '\0';
        const char *v = getenv(name);
        if (v == NULL)
            continue;
        struct err_detail inner;
        enum err rc = apply(c, &settings[i], v, &inner);
        if (rc != ERR_OK)
            return err_set(d, rc, inner.code, "%s: %s", name, inner.msg);
    }
    return ERR_OK;
}

enum err config_validate(const struct config *c, struct err_detail *d)
{
    if (strcmp(c->cloud, "custom") == 0 &&
        (c->arm_url[0] == '\0' || c->login_url[0] == '\0' || c->graph_url[0] == '\0'))
        return err_set(d, ERR_INVALID, "config_custom_cloud",
                       "cloud=custom needs arm_url, login_url and graph_url");
    if ((c->tls_cert_file[0] == '\0') != (c->tls_key_file[0] == '\0'))
        return err_set(d, ERR_INVALID, "config_tls_pair",
                       "tls_cert_file and tls_key_file go together");
    if (c->lro_poll_min_ms > c->lro_poll_max_ms)
        return err_set(d, ERR_INVALID, "config_out_of_range",
                       "lro_poll_min_ms is above lro_poll_max_ms");
    if (c->client_secret_expires_at[0] != '\0' &&
        !clock_parse_rfc3339(c->client_secret_expires_at, &(int64_t){0}))
        return err_set(d, ERR_INVALID, "config_client_secret_expires_at",
                       "client_secret_expires_at: expected an RFC 3339 time "
                       "(2027-03-31T00:00:00Z)");
    if (strcmp(c->store_backend, "postgresql") == 0 && c->postgres_url[0] == '\0')
        return err_set(d, ERR_INVALID, "config_postgres_url",
                       "store_backend=postgresql needs postgres_url (a libpq connection string, "
                       "e.g. host=/run/postgresql dbname=vmlogind user=vmlogind)");
    if (strchr(c->listen, ':') == NULL)
        return err_set(d, ERR_INVALID, "config_listen", "listen: expected ADDRESS:PORT");
    return ERR_OK;
}

enum err config_dump(const struct config *c, struct buf *out)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const char *base = (const char *)c + s->off;
        enum err rc = ERR_OK;
        switch (s->type) {
        case C_STR: {
            char masked[CONFIG_STR_MAX + 64];
            if (strcmp(s->key, "postgres_url") == 0) {
                config_conninfo_mask(base, masked, sizeof(masked));
                base = masked;
            }
            rc = buf_printf(out, "%s%s=%s", i ? " " : "", s->key,
                            s->secret && base[0] != '\0' ? "<set>" : base);
            break;
        }
        case C_INT: {
            int64_t v;
            memcpy(&v, base, sizeof(v));
            rc = buf_printf(out, "%s%s=%lld", i ? " " : "", s->key, (long long)v);
            break;
        }
        case C_BOOL: {
            bool b;
            memcpy(&b, base, sizeof(b));
            rc = buf_printf(out, "%s%s=%s", i ? " " : "", s->key, b ? "true" : "false");
            break;
        }
        }
        if (rc != ERR_OK)
            return rc;
    }
    return ERR_OK;
}

bool config_setting_at(size_t i, const char **key, const char **def, const char **help)
{
    if (i >= NSETTINGS)
        return false;
    *key = settings[i].key;
    *def = settings[i].def;
    *help = settings[i].help;
    return true;
}

int config_threads(const struct config *c)
{
    long n;
    if (c->threads > 0)
        return (int)c->threads;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- conninfo masking -------------------------------------------------------------------- */

struct mask_out {
    char *p;
    size_t cap, len;
};

static void mask_put(struct mask_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
        o->p[o->len++] = s[i];
    o->p[o->len] = '\0';
}

static void mask_puts(struct mask_out *o, const char *s)
{
    mask_put(o, s, strlen(s));
}

/* postgresql://user:secret@host/db?password=secret&...: the part of the user info after ':'
 * and every password parameter of the query are masked. */
static void mask_uri(const char *in, size_t scheme_len, struct mask_out *o)
{
    const char *rest = in + scheme_len;
    const char *query = strchr(rest, '?');
    const char *end = query ? query : rest + strlen(rest);
    const char *at = NULL;

    mask_put(o, in, scheme_len);
    for (const char *q = rest; q < end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        mask_put(o, rest, (size_t)((colon ? colon : at) - rest));
        if (colon != NULL)
            mask_puts(o, ":***");
        rest = at;
    }
    mask_put(o, rest, (size_t)(end - rest));
    if (query == NULL)
        return;
    for (const char *p = query; *p != '\0';) {
        const char *amp = strchr(p + 1, '&');
        const char *stop = amp ? amp : p + strlen(p);
        if (strncmp(p + 1, "password=", 9) == 0) {
            mask_put(o, p, 10);
            mask_puts(o, "***");
        } else {
            mask_put(o, p, (size_t)(stop - p));
        }
        p = stop;
    }
}

/* One value of a key=value conninfo: quoted ('...' with \ escapes) or up to a space. Returns
 * where it ends, or NULL when a quote is not closed. */
static const char *kv_value_end(const char *p)
{
    if (*p == '\'') {
        for (p++; *p != '\0'; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '\'')
                return p + 1;
        }
        return NULL;
    }
    while (*p != '\0' && !isspace((unsigned char)*p)) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        p++;
    }
    return p;
}

static const char *skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* Writes the key=value pair at p masked and returns where it ends; NULL (after writing "***")
 * when it does not parse. */
static const char *mask_pair(const char *p, struct mask_out *o)
{
    const char *key = p, *val, *end;
    size_t klen;

    while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
        p++;
    klen = (size_t)(p - key);
    p = skip_space(p);
    end = *p == '=' ? kv_value_end(val = skip_space(p + 1)) : NULL;
    if (o->len)
        mask_puts(o, " ");
    if (end == NULL) {
        mask_puts(o, "***");
        return NULL;
    }
    mask_put(o, key, klen);
    mask_puts(o, "=");
    if (klen == 8 && strncmp(key, "password", 8) == 0)
        mask_puts(o, "***");
    else
        mask_put(o, val, (size_t)(end - val));
    return end;
}

void config_conninfo_mask(const char *in, char *out, size_t cap)
{
    struct mask_out o = {out, cap, 0};
    const char *p = in;

    if (cap == 0)
        return;
    out[0] = '\0';
    if (strncmp(in, "postgresql://", 13) == 0 || strncmp(in, "postgres://", 11) == 0) {
        mask_uri(in, in[8] == ':' ? 11 : 13, &o);
        return;
    }
    for (p = skip_space(p); p != NULL && *p != '\0'; p = p ? skip_space(p) : NULL)
        p = mask_pair(p, &o);
}
