/* api.h: the REST resources of vmlogind, the one route table, and the application context
 * handlers reach through req->app. Handlers record intent in the store and wake the
 * reconciler; they never call Azure. */
#ifndef VMLOGIND_API_H
#define VMLOGIND_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/config.h"
#include "vmlogind/http.h"
#include "vmlogind/http_problem.h"

struct store;
struct auth;
struct access_index;

struct app {
    const struct config *cfg;
    struct store *store;
    struct http_server *http;
    struct auth *auth;
    int64_t started_ms;
    /* Set by main: more Prometheus text (Azure client, reconciler) for /metrics. */
    enum err (*metrics_extra)(struct buf *out, void *arg);
    void *metrics_arg;
    /* Set by main: nudges the reconciler to look at a task now (kind, key). */
    void (*wake)(void *arg, const char *kind, const char *key);
    void *wake_arg;
    /* Set by main: the access read model (vmlogind/access.h). */
    struct access_index *access;
    /* Set by main when Azure is configured: users and groups whose names start with prefix
     * (at most max of each kind), appended to out (GET /v1/principals). */
    enum err (*principal_search)(void *arg, const char *prefix, size_t max, json_t *out,
                                 struct err_detail *d);
    void *principal_search_arg;
    /* Set by api_events_start: the live event streams' hub. */
    struct api_events *events;
};

extern const struct route api_routes[];
extern const size_t api_routes_count;

/* The committed api/openapi.yaml, embedded at build time. */
extern const char vl_openapi_yaml[];
extern const size_t vl_openapi_yaml_len;

/* The ops dashboard (web/), embedded at build time by cmake/embed_web.cmake. */
struct api_web_file {
    const char *name; /* "index.html", "app.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};
extern const struct api_web_file vl_web_files[];
extern const size_t vl_web_files_count;
extern const char vl_web_hash[]; /* the assets' path segment: /assets/<hash>/<name> */

/* The write runner (api_write.c): the http before/after hooks. Routes flagged .write run their
 * handler inside one store transaction (begun with busy retry) that the runner ends with the
 * handler's audit row and the request's Idempotency-Key record, then commits and wakes the
 * reconciler for the tasks the handler touched. A reply >= 400 rolls the intent back. */
bool api_write_begin(struct http_request *req, void *arg);
void api_write_end(struct http_request *req, void *arg);
/* Ends the read transaction a snapshot route's request opened (struct route.snapshot). */
void api_read_end(struct http_request *req);
/* Inside a write handler: makes task (kind, key) due now with payload (may be NULL) and wakes
 * the reconciler for it once the transaction commits. */
enum err api_write_task(struct http_request *req, const char *kind, const char *key,
                        const char *payload, struct err_detail *d) VL_MUST_CHECK;
/* Inside a write handler: the audit row the runner appends before committing (strings are
 * copied). outcome: "accepted" or "succeeded". Without one, the write is not audited. */
void api_write_audit(struct http_request *req, const char *action, const char *target,
                     const char *outcome, const char *details_json);
/* Inside a write handler: commit the intent even though the reply is an error (a 404 that
 * still queued a look). */
void api_write_keep(struct http_request *req);
/* Inside a write handler: the reply holds a secret shown once; the Idempotency-Key's record
 * keeps the reply without its "secret" member, so a replay never shows it again. */
void api_write_redact_secret(struct http_request *req);
/* Inside a write: queues a refused attempt's audit row (outcome "denied") for the runner,
 * which writes it whether the intent commits or not. False outside a write. */
bool api_write_defer_denied(struct http_request *req, const char *action, const char *target,
                            const char *details_json);

/* Handlers (one file per resource). */
void api_health_healthz(struct http_request *req);
void api_health_readyz(struct http_request *req);
void api_health_metrics(struct http_request *req);
void api_health_openapi(struct http_request *req);
/* Login grants, sweeps and login policy (api_grants.c); effective access (api_access.c); the
 * RDP file (api_rdp.c). */
void api_grants_create(struct http_request *req);
void api_grants_list(struct http_request *req);
void api_grants_get(struct http_request *req);
void api_grants_change(struct http_request *req);
void api_grants_revoke(struct http_request *req);
void api_grants_sweep(struct http_request *req);
void api_grants_sweep_get(struct http_request *req);
void api_grants_policy_get(struct http_request *req);
void api_grants_policy_put(struct http_request *req);
/* Just-in-time login (api_jit.c): eligibilities, activations, approve/deny. */
void api_jit_eligibility_create(struct http_request *req);
void api_jit_eligibility_list(struct http_request *req);
void api_jit_eligibility_get(struct http_request *req);
void api_jit_eligibility_delete(struct http_request *req);
void api_jit_activate(struct http_request *req);
void api_jit_activation_list(struct http_request *req);
void api_jit_activation_get(struct http_request *req);
void api_jit_approve(struct http_request *req);
void api_jit_deny(struct http_request *req);
void api_jit_activation_end(struct http_request *req);
void api_access_vm(struct http_request *req);
void api_access_principal(struct http_request *req);
void api_rdp_get(struct http_request *req);
/* api_vms.c: the OS verdict of a stored VM (model_os_support on its facts). */
struct store_vm;
struct model_os_verdict;
void api_vms_os_verdict(const struct store_vm *v, struct model_os_verdict *out);
/* api_signin.c: reads a present VM of the inventory into *row (store_vm_clear it) and returns
 * true; else answers 404 vm_not_found (or the store's error) and returns false. */
bool api_vm_present(struct http_request *req, const char *vm_id, struct store_vm *row);
/* api_signin.c: GET /v1{vm}/signIn?principal=, "why can't she sign in?". */
void api_signin_get(struct http_request *req);
/* api_signin.c: POST /v1{vm}/diagnostics, on-VM checks through Run Command (202). */
void api_diagnostics_vm_post(struct http_request *req);
/* The inventory (api_vms.c, api_subscriptions.c, api_sync.c). */
void api_vms_list(struct http_request *req);
void api_vms_get(struct http_request *req);
void api_subscriptions_list(struct http_request *req);
void api_sync_get(struct http_request *req);
void api_sync_post(struct http_request *req);
/* vmlogind's own permissions in Azure (api_diagnostics.c). */
void api_diagnostics_permissions(struct http_request *req);

/* ---- Entra login (api_entra_login.c, api_operations.c, api_compliance.c) ---------------- */

struct store;
struct store_operation;
struct store_vm_login_view;

void api_entra_login_put(struct http_request *req);
void api_entra_login_get(struct http_request *req);
void api_entra_login_delete(struct http_request *req);
void api_entra_login_preflight(struct http_request *req);
void api_operations_get(struct http_request *req);
void api_compliance_get(struct http_request *req);
/* Prometheus text: vmlogind_compliance_vms{state} (every present VM; no subscription label,
 * since /metrics is public). */
enum err api_compliance_metrics(const struct app *app, struct buf *out) VL_MUST_CHECK;
/* Prometheus text from the store (api_metrics.c): the reconciler's queue depth and age, dead
 * tasks, operations by status, and api_compliance_metrics. */
enum err api_metrics_store(const struct app *app, struct buf *out) VL_MUST_CHECK;

/* A VM's login state as the API shows it; strings are static or borrowed from the view. */
struct api_login_state {
    const char *state; /* enabled pending failed unsupported excluded notCovered drifted ... */
    const char *cause; /* failure cause, NULL if none */
    char cause_buf[48];
    char os_reason[160];
};
/* The local-account check of a VM (model_localacct_check_json) under the entraLogin setting that
 * governs it, with "policyScope" (where the allow list is set) added; NULL when no setting with
 * allowedLocalAccounts governs the VM or on_vm (its stored diagnostics, parsed) is NULL. */
json_t *api_entra_login_local_accounts_json(struct store *st, const struct store_vm *vm,
                                            const json_t *on_vm);
void api_entra_login_vm_state(struct store *st, const struct store_vm_login_view *v,
                              struct api_login_state *out);
/* The operation with its per-VM items and their diagnosis (new reference). */
json_t *api_operation_json(struct store *st, const struct store_operation *op, const char *cloud);

/* ---- the dashboard and its caller (api_web.c) --------------------------------------------- */

/* GET /: index.html, no-cache; GET /assets/{hash}/{file}: an asset, immutable. Both with the
 * dashboard's strict Content-Security-Policy. */
void api_web_index(struct http_request *req);
void api_web_asset(struct http_request *req);
/* GET /v1/auth/config (public): how the dashboard signs in: {"apiKey": true, "entra": null} or
 * entra {authority, authorizeUrl, tokenUrl, clientId, scope} when dashboard_client_id is set. */
void api_web_auth_config(struct http_request *req);
/* GET /v1/principals?search= (api_principals.c): users and groups by the start of their name. */
void api_principals_search(struct http_request *req);
/* GET /v1/me (api_me.c): who the caller is (subject, kind, role, scopes), so a page shows
 * only what it may do. */
void api_me_get(struct http_request *req);

/* ---- live events (api_events.c) --------------------------------------------------------- */

/* Starts the hub thread that wakes GET /v1/events streams when the event log moves (call once
 * the store is open, before serving); api_events_stop (after the HTTP server stopped) ends it.
 * Without a hub, GET /v1/events answers 503. */
enum err api_events_start(struct app *app, struct err_detail *d) VL_MUST_CHECK;
void api_events_stop(struct app *app);
/* Points the hub at the server whose streams it wakes (after http_server_start), or detaches
 * it (NULL, before http_server_stop): once this returns, the hub no longer touches the old. */
void api_events_serve(struct app *app, struct http_server *http);
/* GET /v1/events: Server-Sent Events filtered by the caller's scopes. */
void api_events_get(struct http_request *req);
/* Prometheus text: streams open, opened, refused, events sent. */
enum err api_events_metrics(const struct app *app, struct buf *out) VL_MUST_CHECK;
/* A Last-Event-ID value: 1 to 19 decimal digits, at most INT64_MAX. Untrusted input. */
bool api_events_parse_last_id(const char *s, int64_t *out);

/* ---- optimistic concurrency (api_etag.c) ----------------------------------------------------- */

#define API_ETAG_MAX 35      /* a quoted 32-hex-digit tag and its NUL */
#define API_ETAG_LIST_MAX 64 /* entity tags in one If-Match or If-None-Match */
/* The strong ETag of a representation (quoted hex of its compact, key-sorted JSON's SHA-256). */
void api_etag_of(const json_t *repr, char out[API_ETAG_MAX]);
/* Adds the ETag header of repr to the reply. */
void api_etag_set(struct http_request *req, const json_t *repr);
/* An If-Match or If-None-Match value ("*" or a comma-separated list of entity tags, at most
 * API_ETAG_LIST_MAX) against the current etag (may be NULL); "*" matches when the resource
 * exists, a tag when it equals etag (strong comparison: a weak tag never matches). False when
 * the value is malformed. Untrusted input. */
bool api_etag_match(const char *header, const char *etag, bool exists, bool *matched);
/* If-Match and If-None-Match of a write against the resource as it is now: true when the write
 * may go on; otherwise replies 400 invalid_precondition (malformed) or 412 precondition_failed
 * and returns false. The _of form takes the current representation (its ETag, api_etag_of). */
bool api_etag_preconditions(struct http_request *req, const char *etag, bool exists);
bool api_etag_preconditions_of(struct http_request *req, const json_t *repr, bool exists);

/* ---- webhooks (api_webhooks.c) ------------------------------------------------------------ */

/* Subscriptions (administrators; each held to the scopes its creator had): create (the secret
 * is answered once), list, read, change, delete, rotate the secret, send a test message, list
 * deliveries, deliver one again. */
void api_webhooks_create(struct http_request *req);
void api_webhooks_list(struct http_request *req);
void api_webhooks_get(struct http_request *req);
void api_webhooks_patch(struct http_request *req);
void api_webhooks_delete(struct http_request *req);
void api_webhooks_rotate(struct http_request *req);
void api_webhooks_test(struct http_request *req);
void api_webhooks_deliveries(struct http_request *req);
void api_webhooks_redeliver(struct http_request *req);

/* ---- authentication and audit (api_auth.c, api_audit.c) ---------------------------------- */

struct auth_caller;

/* The http auth hook (arg is the struct app): see api_auth.c for what it enforces. */
bool api_auth_hook(struct http_request *req, void *arg);
/* The authenticated caller (borrowed, lives as long as req); NULL on public routes. Pass it to
 * auth_check_scope() / auth_check_grant() (vmlogind/auth.h) for what the path does not show. */
const struct auth_caller *api_caller(const struct http_request *req);
/* Appends an audit row for req (actor = req->subject, its request id) inside the open store
 * transaction (the write runner's: handlers use api_write_audit). outcome: "accepted",
 * "succeeded", "failed" or "denied"; target an ARM id or resource id (may be NULL);
 * details_json JSON object text (may be NULL). On an error the transaction must not commit. */
enum err api_audit(struct http_request *req, const char *action, const char *target,
                   const char *outcome, const char *details_json) VL_MUST_CHECK;
/* Records a refused privileged attempt (outcome "denied", details {code, status, method,
 * path}) in its own store transaction; call it outside any. action as for api_audit, or NULL
 * for "<METHOD> <route pattern>"; target NULL for the request path. A failure is logged. */
void api_audit_denied(struct http_request *req, const char *action, const char *target,
                      const char *code, int status);
/* GET /v1/audit?after=&limit=: administrators without scope limits. */
void api_audit_list(struct http_request *req);
/* GET /v1/audit/verification (api_audit_verify.c): the chain walked now, held to the database's
 * signed checkpoints: {intact, rows, brokenSeq, checkpoints, checkpointSeq, code?, message?}. */
void api_audit_verify_get(struct http_request *req);

#endif
