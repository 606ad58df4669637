/* main.c: arguments, configuration, store, HTTP, reconciler, signals and shutdown.
 * Subcommands (migrate, keys, audit) share the same configuration and store. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmlogind/access.h"
#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/azure.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/clock.h"
#include "vmlogind/config.h"
#include "vmlogind/http.h"
#include "vmlogind/log.h"
#include "vmlogind/reconcile.h"
#include "vmlogind/reconcile_permissions.h"
#include "vmlogind/reconcile_sync.h"
#include "vmlogind/reconcile_webhooks.h"
#include "vmlogind/store.h"
#include "vmlogind/store_pg.h"
#include "vmlogind/xalloc.h"

#define MAX_ARGS 64

struct args {
    const char *config_file;
    bool check_config;
    bool list_routes;
    bool list_permissions;
    bool list_settings;
    bool help;
    bool version;
    const char *words[MAX_ARGS]; /* positionals: the subcommand */
    size_t nwords;
    const char *flag_names[MAX_ARGS]; /* subcommand flags: --name N, --role R, --scope S */
    const char *flag_values[MAX_ARGS];
    size_t nflags;
};

static const char usage[] =
    "usage:\n"
    "  vmlogind [--config FILE] [--listen ADDR:PORT] [--db PATH] [--<setting> VALUE]...\n"
    "  vmlogind --check-config [--config FILE]\n"
    "  vmlogind --list-routes | --list-permissions | --list-settings\n"
    "  vmlogind migrate [--db PATH]\n"
    "  vmlogind keys create --name N --role reader|operator|administrator [--scope S]...\n"
    "           [--grant-roles user,administrator] [--grant-principal-types user,group,...]\n"
    "           [--grant-member-of GROUP_OBJECT_ID]\n"
    "  vmlogind keys list | keys revoke --id ID\n"
    "  vmlogind identities limit --subject user:OBJECT_ID|app:APP_ID [--scope S]...\n"
    "           [--grant-roles ...] [--grant-principal-types ...] [--grant-member-of ID]\n"
    "  vmlogind identities list | identities unlimit --subject SUBJECT\n"
    "  vmlogind audit verify [--db PATH] [--audit-key-file F] [--audit-checkpoint-file F]\n"
    "Every setting also reads VMLOGIND_<SETTING> from the environment.\n";

/* Turns "--sync-interval-s" into "sync_interval_s". */
static void flag_key(const char *flag, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = flag + 2; *p != '\0' && o < cap - 1; p++)
        out[o++] = *p == '-' ? '_' : *p;
    out[o] = '\0';
}

static int parse_args(int argc, char **argv, struct args *a, struct config *flags_cfg,
                      const char **flag_settings, size_t *nset)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--check-config") == 0) {
            a->check_config = true;
        } else if (strcmp(s, "--list-routes") == 0) {
            a->list_routes = true;
        } else if (strcmp(s, "--list-permissions") == 0) {
            a->list_permissions = true;
        } else if (strcmp(s, "--list-settings") == 0) {
            a->list_settings = true;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = true;
        } else if (strcmp(s, "--version") == 0) {
            a->version = true;
        } else if (strncmp(s, "--", 2) == 0) {
            char key[128];
            struct err_detail d;
            const char *v;
            if (i + 1 >= argc) {
                fprintf(stderr, "vmlogind: %s needs a value\n", s);
                return 2;
            }
            v = argv[++i];
            if (strcmp(s, "--config") == 0) {
                a->config_file = v;
                continue;
            }
            flag_key(s, key, sizeof(key));
            if (config_set(flags_cfg, key, v, &d) == ERR_OK) {
                if (*nset >= MAX_ARGS)
                    return 2;
                flag_settings[(*nset)++] = s;
                flag_settings[(*nset)++] = v;
                continue;
            }
            if (strcmp(d.code, "config_unknown_key") != 0) {
                fprintf(stderr, "vmlogind: %s\n", d.msg);
                return 2;
            }
            if (a->nflags >= MAX_ARGS)
                return 2;
            a->flag_names[a->nflags] = s + 2;
            a->flag_values[a->nflags++] = v;
        } else {
            if (a->nwords >= MAX_ARGS)
                return 2;
            a->words[a->nwords++] = s;
        }
    }
    return 0;
}

/* defaults < file < environment < flags */
static int load_config(const struct args *a, const char **flag_settings, size_t nset,
                       struct config *cfg)
{
    struct err_detail d;
    enum log_level lvl;

    config_defaults(cfg);
    if (a->config_file != NULL && config_load_file(cfg, a->config_file, &d) != ERR_OK) {
        fprintf(stderr, "vmlogind: configuration: %s\n", d.msg);
        return 2;
    }
    if (config_load_env(cfg, &d) != ERR_OK) {
        fprintf(stderr, "vmlogind: configuration: %s\n", d.msg);
        return 2;
    }
    for (size_t i = 0; i + 1 < nset; i += 2) {
        char key[128];
        flag_key(flag_settings[i], key, sizeof(key));
        if (config_set(cfg, key, flag_settings[i + 1], &d) != ERR_OK) {
            fprintf(stderr, "vmlogind: %s\n", d.msg);
            return 2;
        }
    }
    if (config_validate(cfg, &d) != ERR_OK) {
        fprintf(stderr, "vmlogind: configuration: %s\n", d.msg);
        return 2;
    }
    if (log_level_parse(cfg->log_level, &lvl))
        log_set_level(lvl);
    return 0;
}

static int open_store(const struct config *cfg, struct store **st)
{
    struct err_detail d;

    store_set_cloud(cfg->cloud);
    if (strcmp(cfg->store_backend, "postgresql") == 0) {
        struct store_pg_options o = {.conninfo = cfg->postgres_url,
                                     .password_file = cfg->postgres_password_file,
                                     .pool_size = (int)cfg->postgres_pool_size,
                                     .cloud = cfg->cloud};
        if (store_open_pg(&o, st, &d) != ERR_OK) {
            /* d names the URL with its password masked */
            log_error("store_open_failed", "backend=postgresql error=\"%s\"", d.msg);
            fprintf(stderr, "vmlogind: %s\n", d.msg);
            return 1;
        }
    } else if (store_open(cfg->db, st, &d) != ERR_OK) {
        log_error("store_open_failed", "db=%s error=\"%s\"", cfg->db, d.msg);
        return 1;
    }
    if (store_migrate(*st, &d) != ERR_OK) {
        log_error("migration_failed", "db=%s error=\"%s\"", cfg->db, d.msg);
        fprintf(stderr, "vmlogind: the database %s could not be migrated: %s\n", cfg->db, d.msg);
        store_close(*st);
        *st = NULL;
        return 1;
    }
    return 0;
}

/* Where the audit key and checkpoints live: the settings, else beside the database (nothing
 * for an in-memory one, whose store keys itself). */
struct audit_files {
    char key[CONFIG_STR_MAX + 32];
    char checkpoints[CONFIG_STR_MAX + 32];
};

static void audit_files(const struct config *cfg, struct audit_files *f)
{
    bool mem = strcmp(cfg->db, ":memory:") == 0;

    snprintf(f->key, sizeof(f->key), "%s", cfg->audit_key_file);
    if (f->key[0] == '\0' && !mem)
        snprintf(f->key, sizeof(f->key), "%s.audit-key", cfg->db);
    snprintf(f->checkpoints, sizeof(f->checkpoints), "%s", cfg->audit_checkpoint_file);
    if (f->checkpoints[0] == '\0' && !mem)
        snprintf(f->checkpoints, sizeof(f->checkpoints), "%s.audit-checkpoints", cfg->db);
}

/* Loads the audit key (making one on first start when create, on SQLite; replicas on
 * PostgreSQL share a key file the operator makes) and, when create, signs the head of the chain
 * if it moved since the last checkpoint. 0 or 1 after a message. */
static int audit_open(const struct config *cfg, struct store *st, bool create)
{
    struct audit_files f = {{0}, {0}};
    struct err_detail d;
    struct stat sb;
    bool created = false, pg = store_is_shared(st);

    audit_files(cfg, &f);
    if (pg && cfg->audit_key_file[0] == '\0') {
        /* a key made beside each replica's --db would be one key per replica: a broken chain */
        fprintf(stderr, "vmlogind: store_backend=postgresql needs audit_key_file, the same key "
                        "file on every replica (make one with: openssl rand -hex 32 > FILE)\n");
        return 1;
    }
    if (f.key[0] == '\0')
        return 0;
    if (store_audit_key_load(st, f.key, create && !pg, &created, &d) != ERR_OK) {
        log_error("audit_key_unusable", "path=%s error=\"%s\"", f.key, d.msg);
        fprintf(stderr, "vmlogind: %s\n", d.msg);
        return 1;
    }
    if (created)
        log_warn("audit_key_generated",
                 "path=%s note=\"a new random audit key (mode 0600); keep it, and a copy away "
                 "from the database: without it the audit log cannot be verified\"",
                 f.key);
    if (stat(f.key, &sb) == 0 && (sb.st_mode & 077) != 0)
        log_warn("audit_key_readable",
                 "path=%s mode=%03o note=\"others than the owner can "
                 "read it; chmod 600\"",
                 f.key, (unsigned)(sb.st_mode & 0777));
    if (create &&
        store_audit_checkpoint(st, f.checkpoints, clock_now_ms(), 1, 0, NULL, &d) != ERR_OK) {
        log_error("audit_checkpoint_failed", "file=%s error=\"%s\"", f.checkpoints, d.msg);
        fprintf(stderr, "vmlogind: %s\n", d.msg);
        return 1;
    }
    return 0;
}

/* Signs the head of the audit chain when due (min_rows rows or min_age_ms since the last
 * checkpoint; 1 and 0: whenever it moved). */
static void audit_checkpoint(const struct config *cfg, struct store *st, int64_t min_rows,
                             int64_t min_age_ms)
{
    struct audit_files f = {{0}, {0}};
    struct err_detail d;
    bool written = false;

    audit_files(cfg, &f);
    if (store_audit_checkpoint(st, f.checkpoints, clock_now_ms(), min_rows, min_age_ms, &written,
                               &d) != ERR_OK)
        log_error("audit_checkpoint_failed", "file=%s error=\"%s\"", f.checkpoints, d.msg);
    else if (written)
        log_debug("audit_checkpoint", "file=%s", f.checkpoints);
}

/* migrate with store_backend = postgresql: the PostgreSQL migrations. */
static int cmd_migrate_pg(const struct config *cfg)
{
    struct store_pg_options o = {.conninfo = cfg->postgres_url,
                                 .password_file = cfg->postgres_password_file,
                                 .pool_size = (int)cfg->postgres_pool_size,
                                 .cloud = cfg->cloud};
    struct store_pg *pg = NULL;
    int version = 0;
    struct err_detail d;

    if (store_pg_open(&o, &pg, &d) != ERR_OK) {
        fprintf(stderr, "vmlogind: %s\n", d.msg);
        return 1;
    }
    if (store_pg_migrate(pg, &d) != ERR_OK) {
        fprintf(stderr, "vmlogind: the PostgreSQL database %s could not be migrated: %s\n",
                store_pg_conninfo_masked(pg), d.msg);
        store_pg_close(pg);
        return 1;
    }
    if (store_pg_schema_version(pg, &version, &d) != ERR_OK)
        version = -1;
    printf("PostgreSQL database %s is at schema version %d\n", store_pg_conninfo_masked(pg),
           version);
    store_pg_close(pg);
    return 0;
}

static int cmd_migrate(const struct config *cfg)
{
    struct store *st = NULL;
    int version = 0;
    struct err_detail d;

    if (strcmp(cfg->store_backend, "postgresql") == 0)
        return cmd_migrate_pg(cfg);
    if (open_store(cfg, &st) != 0)
        return 1;
    if (store_schema_version(st, &version, &d) != ERR_OK)
        version = -1;
    printf("database %s is at schema version %d\n", cfg->db, version);
    store_close(st);
    return 0;
}

/* keys create|list|revoke, identities limit|list|unlimit, audit verify (auth_cli.c). */
static int cmd_auth(const struct config *cfg, const struct args *a)
{
    struct store *st = NULL;
    int rc;

    bool verify = strcmp(a->words[0], "audit") == 0;
    struct audit_files f = {{0}, {0}};

    if (open_store(cfg, &st) != 0)
        return 1;
    if (audit_open(cfg, st, !verify) != 0) {
        store_close(st);
        return 1;
    }
    audit_files(cfg, &f);
    if (verify) {
        rc = auth_cli_audit(st, f.checkpoints[0] ? f.checkpoints : NULL, a->words, a->nwords,
                            a->flag_names, a->nflags, stdout, stderr);
    } else {
        rc = auth_cli_run(st, a->words, a->nwords, a->flag_names, a->flag_values, a->nflags, stdout,
                          stderr);
        audit_checkpoint(cfg, st, 1, 0); /* what the command audited, signed before it exits */
    }
    store_close(st);
    return rc;
}

static char *read_file(const char *path)
{
    struct buf b;

    buf_init(&b, 1 << 20);
    if (buf_read_file(&b, path) != ERR_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static void printable_host(const char *listen, char *out, size_t cap)
{
    const char *colon = strrchr(listen, ':');
    size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);

    if (hl == 7 && strncmp(listen, "0.0.0.0", 7) == 0)
        snprintf(out, cap, "127.0.0.1");
    else if (hl == 4 && strncmp(listen, "[::]", 4) == 0)
        snprintf(out, cap, "[::1]");
    else
        snprintf(out, cap, "%.*s", (int)hl, listen);
}

static enum azure_cred_kind cred_kind(const char *s)
{
    if (strcmp(s, "secret") == 0)
        return AZURE_CRED_SECRET;
    if (strcmp(s, "certificate") == 0)
        return AZURE_CRED_CERTIFICATE;
    if (strcmp(s, "managed_identity") == 0)
        return AZURE_CRED_MANAGED_IDENTITY;
    if (strcmp(s, "workload_identity") == 0)
        return AZURE_CRED_WORKLOAD_IDENTITY;
    return AZURE_CRED_AUTO;
}

static const char *opt(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}

/* The Azure client from settings; NULL (and a log line) when Azure is not configured, so the
 * daemon still serves its API and the store. */
static struct azure_client *azure_from_config(const struct config *cfg)
{
    struct azure_client *az = NULL;
    struct err_detail d;
    struct azure_config ac = {
        .cloud = cfg->cloud,
        .arm_url = opt(cfg->arm_url),
        .login_url = opt(cfg->login_url),
        .graph_url = opt(cfg->graph_url),
        .arm_scope = opt(cfg->arm_scope),
        .graph_scope = opt(cfg->graph_scope),
        .imds_url = opt(cfg->imds_url),
        .tenant_id = opt(cfg->tenant_id),
        .client_id = opt(cfg->client_id),
        .credential = cred_kind(cfg->credential),
        .client_secret_file = opt(cfg->client_secret_file),
        .client_secret = opt(cfg->client_secret),
        .client_certificate_file = opt(cfg->client_certificate_file),
        .client_assertion_alg = cfg->client_certificate_alg,
        .federated_token_file = opt(cfg->federated_token_file),
        .ca_bundle = opt(cfg->ca_bundle),
        .timeout_ms = (long)cfg->http_timeout_s * 1000,
        .retry_max_attempts = (int)cfg->retry_max_attempts,
        .retry_max_total_ms = (long)cfg->retry_max_total_s * 1000,
        .retry_backoff_base_ms = (long)cfg->retry_backoff_base_ms,
        .retry_backoff_max_ms = (long)cfg->retry_backoff_max_ms,
        .throttle_read_capacity = (double)cfg->arm_read_bucket,
        .throttle_read_rate = (double)cfg->arm_read_refill,
        .throttle_write_capacity = (double)cfg->arm_write_bucket,
        .throttle_write_rate = (double)cfg->arm_write_refill,
        .throttle_delete_capacity = (double)cfg->arm_write_bucket,
        .throttle_delete_rate = (double)cfg->arm_write_refill,
        .lro_poll_min_ms = (long)cfg->lro_poll_min_ms,
        .lro_poll_max_ms = (long)cfg->lro_poll_max_ms,
    };

    if (cfg->tenant_id[0] == '\0' && strcmp(cfg->credential, "managed_identity") != 0) {
        log_warn("azure_not_configured", "reason=\"tenant_id is not set\" effect=\"the API "
                                         "serves stored state; nothing reaches Azure\"");
        return NULL;
    }
    if (azure_client_new(&ac, &az, &d) != ERR_OK) {
        log_error("azure_config_invalid", "error=\"%s\"", d.msg);
        return NULL;
    }
    return az;
}

/* What /metrics adds beyond the API's own: the reconciler's and the webhook workers'. */
struct extras {
    struct reconciler *rec;
    struct reconcile_webhooks *webhooks;
    struct store *store;
};

static enum err metrics_extra(struct buf *out, void *arg)
{
    struct extras *x = arg;
    enum err rc = azure_metrics_render(out);
    if (rc == ERR_OK && x->rec != NULL)
        rc = reconciler_metrics(x->rec, out);
    if (rc == ERR_OK)
        rc = reconcile_sync_metrics(out);
    if (rc == ERR_OK)
        rc = reconcile_webhooks_metrics(x->webhooks, x->store, out);
    return rc;
}

static enum err principal_search(void *arg, const char *prefix, size_t max, json_t *out,
                                 struct err_detail *d)
{
    struct azure_error ae;
    enum err rc;

    azure_error_clear(&ae);
    rc = azure_graph_principal_search(arg, prefix, max, out, &ae);
    if (rc != ERR_OK)
        err_set(d, rc, err_str(rc), "Microsoft Graph answered %ld %s", ae.status, ae.code);
    return rc;
}

static void wake(void *arg, const char *kind, const char *key)
{
    reconciler_wake_task(arg, kind, key);
}

/* Reads the TLS files (the caller frees them) and starts the HTTP server; 0 or 1 after a
 * message. */
static int start_http(const struct config *cfg, struct app *app, char **cert, char **key)
{
    struct http_options ho;
    struct err_detail d;
    char host[256];
    unsigned port = 0;

    if (cfg->tls_cert_file[0] != '\0') {
        *cert = read_file(cfg->tls_cert_file);
        *key = read_file(cfg->tls_key_file);
        if (*cert == NULL || *key == NULL) {
            log_error("tls_unreadable", "cert=%s key=%s", cfg->tls_cert_file, cfg->tls_key_file);
            return 1;
        }
    }
    ho = (struct http_options){
        .listen = cfg->listen,
        .threads = config_threads(cfg),
        .max_body_bytes = (size_t)cfg->max_body_bytes,
        .max_header_bytes = (size_t)cfg->max_header_bytes,
        .request_timeout_s = (unsigned)cfg->request_timeout_s,
        .max_connections = (unsigned)cfg->max_connections,
        .max_connections_per_ip = (unsigned)cfg->max_connections_per_ip,
        .cors_origins = cfg->cors_allowed_origins,
        .header_timeout_s = (unsigned)cfg->header_timeout_s,
        .tls_cert_pem = *cert,
        .tls_key_pem = *key,
        .routes = api_routes,
        .nroutes = api_routes_count,
        .auth = api_auth_hook,
        .auth_arg = app,
        .before_handler = api_write_begin,
        .after_handler = api_write_end,
        .app = app,
        .access_log = true,
    };
    if (http_server_start(&ho, &app->http, &port, &d) != ERR_OK) {
        log_error("http_start_failed", "error=\"%s\"", d.msg);
        return 1;
    }
    printable_host(cfg->listen, host, sizeof(host));
    log_info("listening", "url=%s://%s:%u threads=%d", *cert ? "https" : "http", host, port,
             ho.threads);
    printf("listening on %s://%s:%u\n", *cert ? "https" : "http", host, port);
    fflush(stdout);
    return 0;
}

static int serve(const struct config *cfg)
{
    struct app app = {.cfg = cfg, .started_ms = clock_now_ms()};
    struct azure_client *az = NULL;
    struct reconciler *rec = NULL;
    struct extras extras = {0};
    struct reconcile_kind kinds[TASK_KIND_COUNT];
    size_t nkinds;
    struct err_detail d;
    struct buf dump;
    char *cert = NULL, *key = NULL;
    const char *access_env;
    sigset_t set;
    int sig = 0, rc = 1;

    /* Every thread inherits this mask; only sigwait below takes the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    buf_init(&dump, 1 << 16);
    if (config_dump(cfg, &dump) == ERR_OK)
        log_info("config", "%s", dump.data ? dump.data : "");
    buf_cleanup(&dump);

    if (open_store(cfg, &app.store) != 0)
        return 1;
    if (audit_open(cfg, app.store, true) != 0)
        goto out;
    az = azure_from_config(cfg);
    if (az == NULL && cfg->tenant_id[0] != '\0')
        goto out; /* configured but wrong: refuse to start rather than run half-blind */
    if (az != NULL && reconcile_sync_schedule(app.store, clock_now_ms(), &d) != ERR_OK)
        log_warn("sync_schedule_failed", "error=\"%s\"", d.msg);
    if (az != NULL && reconcile_permissions_schedule(app.store, clock_now_ms(), &d) != ERR_OK)
        log_warn("permissions_schedule_failed", "error=\"%s\"", d.msg);
    nkinds = reconcile_kinds_init(kinds);
    if (reconciler_start(app.store, az, cfg, kinds, nkinds, (int)cfg->reconcile_workers, &rec,
                         &d) != ERR_OK) {
        log_error("reconciler_start_failed", "error=\"%s\"", d.msg);
        goto out;
    }
    if (reconcile_webhooks_start(cfg, app.store, &extras.webhooks, &d) != ERR_OK) {
        log_error("webhooks_start_failed", "error=\"%s\"", d.msg);
        goto out;
    }
    extras.rec = rec;
    extras.store = app.store;
    app.metrics_extra = metrics_extra;
    app.metrics_arg = &extras;
    app.wake = wake;
    app.wake_arg = rec;
    if (az != NULL) {
        app.principal_search = principal_search;
        app.principal_search_arg = az;
    }
    /* VMLOGIND_ACCESS_INDEX=off answers every access request from the store (tests compare) */
    access_env = getenv("VMLOGIND_ACCESS_INDEX");
    if (access_index_new(app.store, access_env == NULL || strcmp(access_env, "off") != 0,
                         &app.access) != ERR_OK)
        goto out;
    if (auth_new(cfg, app.store, &app.auth, &d) != ERR_OK) {
        log_error("auth_start_failed", "error=\"%s\"", d.msg);
        goto out;
    }
    if (api_events_start(&app, &d) != ERR_OK) {
        log_error("events_start_failed", "error=\"%s\"", d.msg);
        goto out;
    }
    if (start_http(cfg, &app, &cert, &key) != 0)
        goto out;
    api_events_serve(&app, app.http);

    /* The main thread waits for a signal and, once a second, signs the audit chain's head
     * when audit_checkpoint_rows rows or audit_checkpoint_interval_s passed since the last. */
    while ((sig = sigtimedwait(&set, NULL, &(struct timespec){.tv_sec = 1})) < 0)
        audit_checkpoint(cfg, app.store, cfg->audit_checkpoint_rows,
                         cfg->audit_checkpoint_interval_s * 1000);
    log_info("shutdown", "signal=%d", sig);
    api_events_serve(&app, NULL);
    http_server_stop(app.http);
    app.http = NULL;
    rc = 0;
out:
    api_events_stop(&app);         /* after the HTTP threads: their streams count on the hub */
    access_index_free(app.access); /* after the HTTP threads, before the store */
    reconcile_webhooks_stop(extras.webhooks);
    reconciler_stop(rec);
    if (rc == 0)
        audit_checkpoint(cfg, app.store, 1, 0); /* the last rows, signed before exit */
    azure_client_free(az);
    auth_free(app.auth);
    store_close(app.store);
    free(cert);
    free(key);
    log_info("stopped", "exit=%d", rc);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct config flags_cfg, cfg;
    const char *flag_settings[MAX_ARGS];
    size_t nset = 0;
    int rc;

    xalloc_init_json();
    azure_global_init();
    config_defaults(&flags_cfg);
    rc = parse_args(argc, argv, &a, &flags_cfg, flag_settings, &nset);
    if (rc != 0 || a.help) {
        fputs(usage, rc ? stderr : stdout);
        return rc;
    }
    if (a.version) {
        printf("vmlogind %s\n", VMLOGIND_VERSION);
        return 0;
    }
    if (a.list_permissions) {
        /* The route table with each route's permission: what the auth matrix test walks. */
        static const char *const perms[] = {"public", "self", "read", "operate", "admin"};
        for (size_t i = 0; i < api_routes_count; i++)
            printf("%s %s %s\n", api_routes[i].method, api_routes[i].pattern,
                   perms[api_routes[i].perm]);
        return 0;
    }
    if (a.list_settings) {
        /* The settings table, one "key<TAB>default<TAB>help" line each: what the test holding
         * deploy/vmlogind.conf.example to it reads. */
        const char *key, *def, *help;
        for (size_t i = 0; config_setting_at(i, &key, &def, &help); i++)
            printf("%s\t%s\t%s\n", key, def, help);
        return 0;
    }
    if (a.list_routes) {
        for (size_t i = 0; i < api_routes_count; i++)
            printf("%s %s\n", api_routes[i].method, api_routes[i].pattern);
        return 0;
    }
    rc = load_config(&a, flag_settings, nset, &cfg);
    if (rc != 0)
        return rc;
    if (a.check_config) {
        printf("configuration OK\n");
        return 0;
    }
    if (a.nwords > 0 && strcmp(a.words[0], "migrate") == 0)
        return cmd_migrate(&cfg);
    if (a.nwords == 0 || strcmp(a.words[0], "serve") == 0)
        return serve(&cfg);
    if (strcmp(a.words[0], "keys") == 0 || strcmp(a.words[0], "audit") == 0 ||
        strcmp(a.words[0], "identities") == 0)
        return cmd_auth(&cfg, &a);
    fprintf(stderr, "vmlogind: unknown command '%s'\n%s", a.words[0], usage);
    return 2;
}
