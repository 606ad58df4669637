/* azure.h: the outbound Azure client: settings, the client object, the one typed cloud error,
 * tokens, raw requests (retries, throttling, request ids), long-running operations and
 * metrics. The typed ARM and Graph calls are in azure_arm.h and azure_graph.h. Nothing here
 * hands out json_t; every function is safe to call from several threads on one client. */
#ifndef VMLOGIND_AZURE_H
#define VMLOGIND_AZURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/azure_cloud.h"
#include "vmlogind/buf.h"
#include "vmlogind/err.h"

/* ---- settings ---------------------------------------------------------------------------- */

enum azure_cred_kind {
    AZURE_CRED_AUTO = 0,         /* certificate file, else secret, else workload, else IMDS */
    AZURE_CRED_SECRET,           /* client_secret_file (or client_secret) */
    AZURE_CRED_CERTIFICATE,      /* client_certificate_file: PEM with key and certificate */
    AZURE_CRED_MANAGED_IDENTITY, /* IMDS */
    AZURE_CRED_WORKLOAD_IDENTITY /* federated token file */
};

/* Names follow DESIGN §9 (VMLOGIND_<NAME> in upper case). Strings are borrowed for the call to
 * azure_client_new only. Zero/NULL means the default given in the comment. */
struct azure_config {
    const char *cloud;     /* AzureCloud | AzureUSGovernment | AzureChinaCloud | custom */
    const char *arm_url;   /* custom cloud (or override) */
    const char *login_url; /* custom cloud (or override) */
    const char *graph_url; /* custom cloud (or override) */
    const char *arm_scope; /* override of the ARM token scope (custom: the public cloud's) */
    const char *graph_scope;
    const char *imds_url; /* http://169.254.169.254 */
    const char *tenant_id;
    const char *client_id;
    enum azure_cred_kind credential;
    const char *client_secret_file;
    const char *client_secret; /* tests only; prefer the file */
    const char *client_certificate_file;
    const char *client_assertion_alg;       /* "PS256" (x5t#S256, default) or "RS256" (x5t) */
    const char *managed_identity_client_id; /* user-assigned identity for IMDS, optional */
    const char *federated_token_file;       /* default $AZURE_FEDERATED_TOKEN_FILE */
    const char *ca_bundle;                  /* CA file for TLS; default: system store */
    const char *compute_api_version;        /* 2024-07-01 */
    const char *authz_api_version;          /* 2022-04-01 */
    long connect_timeout_ms;                /* 10000 */
    long timeout_ms;                        /* per attempt, 60000 */
    size_t max_response_bytes;              /* 16 MiB */
    int retry_max_attempts;                 /* 6 (first try included) */
    long retry_max_total_ms;                /* 120000: no retry is started past this */
    long retry_backoff_base_ms;             /* 500 */
    long retry_backoff_max_ms;              /* 30000 */
    long token_refresh_before_ms;           /* 300000: refresh this long before expiry */
    long token_failure_cache_ms; /* 5000: after a failed fetch, no new one for this long (<0: 0) */
    /* ARM token buckets per subscription (and one for tenant-level calls). */
    double throttle_read_capacity;   /* 250 */
    double throttle_read_rate;       /* 25 per second */
    double throttle_write_capacity;  /* 200 */
    double throttle_write_rate;      /* 10 per second */
    double throttle_delete_capacity; /* 200 */
    double throttle_delete_rate;     /* 10 per second */
    double throttle_graph_capacity;  /* 3500 (Graph: per app and tenant) */
    double throttle_graph_rate;      /* 350 per second */
    long throttle_margin_ms;         /* 50: extra wait after a Retry-After */
    long lro_poll_default_ms;        /* 5000 when no Retry-After */
    long lro_poll_min_ms;            /* 1000 (clamp of Retry-After) */
    long lro_poll_max_ms;            /* 30000 */
    long lro_timeout_ms;             /* 1800000 */
};

/* ---- the typed cloud error --------------------------------------------------------------- */

#define AZURE_MAX_AADSTS 8

/* What a failed call tells: the HTTP status and the service's codes, whichever shape the body
 * had (ARM {"error":{..}}, ARM unwrapped {"code":..}, Graph, OAuth/AADSTS, IMDS). Branch on
 * code/inner_code/aadsts, never on message. */
struct azure_error {
    long status;    /* HTTP status of the last response; 0 for a transport failure */
    char code[96];  /* ARM/Graph error.code, or the OAuth "error" string */
    char inner[96]; /* ARM details[0].code or Graph innerError.code */
    char message[512];
    long aadsts[AZURE_MAX_AADSTS]; /* error_codes[] or AADSTSnnn from the description */
    size_t n_aadsts;
    char request_id[64];    /* x-ms-request-id of the last response */
    int64_t retry_after_ms; /* -1 when absent */
    int transport;          /* CURLcode of a transport failure, 0 otherwise */
    int attempts;           /* requests sent for this call */
    /* additionalInfo[].info.policyAssignmentId of a policy deny */
    char policy_assignment[512];
    /* the x-ms-client-request-id (Graph: client-request-id) vmlogind sent, for support cases */
    char client_request_id[64];
};

void azure_error_clear(struct azure_error *e);
/* Parses an error body of any known shape; status and headers are set by the caller. */
void azure_error_parse(struct azure_error *e, long status, const char *body, size_t len);
/* Case-insensitive match of e->code or e->inner. */
bool azure_error_is(const struct azure_error *e, const char *code);
bool azure_error_has_aadsts(const struct azure_error *e, long code);
/* 404 -> ERR_NOT_FOUND, 409 -> ERR_CONFLICT, 429 -> ERR_CLOUD_THROTTLED, 401 -> ERR_UNAUTHORIZED,
 * 403 -> ERR_FORBIDDEN, transport timeout -> ERR_TIMEOUT, others ERR_CLOUD. */
enum err azure_error_to_err(const struct azure_error *e);
/* Copies code and a short message into d (may be NULL). */
void azure_error_to_detail(const struct azure_error *e, struct err_detail *d);

/* ---- the client -------------------------------------------------------------------------- */

struct azure_client;

/* Builds a client from settings: cloud, credential (reads the secret/cert files now), curl
 * share handle, throttle buckets. ERR_INVALID with a reason in d on bad settings. */
enum err azure_client_new(const struct azure_config *cfg, struct azure_client **out,
                          struct err_detail *d) VL_MUST_CHECK;
void azure_client_free(struct azure_client *c);
const struct azure_cloud *azure_client_cloud(const struct azure_client *c);
const char *azure_client_compute_api(const struct azure_client *c);
const char *azure_client_authz_api(const struct azure_client *c);
/* A rollout is about to write to VMs of this subscription (identity PATCHes, then extension
 * PUTs): for the next within_ms, writes that yield (role assignment PUTs) leave the
 * subscription's write tokens to it. */
void azure_client_expect_vm_writes(struct azure_client *c, const char *subscription_id,
                                   int64_t within_ms);
/* How long a role assignment PUT in this subscription would stand back now for VM writes
 * (0: it would go), without taking a write token. */
int64_t azure_client_yielding_write_wait_ms(struct azure_client *c, const char *subscription_id);
/* Must be called once per process before threads start (curl_global_init). */
void azure_global_init(void);

/* ---- tokens ------------------------------------------------------------------------------ */

/* A bearer token for scope (e.g. cloud->arm_scope), from the cache or freshly fetched; tokens
 * are refreshed token_refresh_before_ms before expiry, one fetch per scope at a time. A failed
 * refresh returns the cached token while it is still valid; a failed fetch is not tried again
 * for token_failure_cache_ms (callers meanwhile, and those that waited on it, get the cached
 * token if valid, else its error). *token is a new string the caller frees (and never logs).
 * expires_ms (may be NULL): epoch ms. */
enum err azure_token_get(struct azure_client *c, const char *scope, char **token,
                         int64_t *expires_ms, struct azure_error *ae) VL_MUST_CHECK;
/* Drops the cached token for scope (after a 401 for an expired or revoked token). */
void azure_token_invalidate(struct azure_client *c, const char *scope);
/* Number of tokens fetched from the identity endpoint so far (for tests and metrics). */
long azure_token_fetch_count(struct azure_client *c);

/* ---- raw requests ------------------------------------------------------------------------ */

enum azure_api { AZURE_API_ARM = 0, AZURE_API_GRAPH, AZURE_API_LOGIN, AZURE_API_IMDS };

struct azure_request {
    const char *method;         /* GET PUT PATCH DELETE POST */
    const char *url;            /* absolute */
    const char *body;           /* NULL: none */
    const char *content_type;   /* default application/json when body is set */
    const char *op;             /* metrics label, a static string like "vm_list" */
    enum azure_api api;         /* ARM and Graph get the bearer token and a throttle bucket */
    const char *subscription;   /* ARM bucket key; NULL: the tenant bucket */
    const char *request_id;     /* x-ms-client-request-id; NULL: a new GUID per call */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    bool force_idempotent;      /* retry a POST too (reads like getByIds, token requests) */
    /* yields its bucket's tokens to the writes that start long chains (a VM's identity PATCH
     * and extension PUT): see azure_throttle_acquire_yielding; a write that cannot go now
     * fails at once with ERR_CLOUD_THROTTLED and the wait as retry_after_ms */
    bool yields;
};

struct azure_response {
    long status;
    struct buf body;
    char *location;         /* Location header, NULL if absent */
    char *async_op;         /* Azure-AsyncOperation header, NULL if absent */
    int64_t retry_after_ms; /* -1 if absent */
    char request_id[64];
};

void azure_response_init(struct azure_response *r);
void azure_response_cleanup(struct azure_response *r);

/* Sends one logical request: waits for its throttle bucket, adds the token and request id,
 * retries 429/5xx/network errors (idempotent methods only) honouring Retry-After, else backs
 * off exponentially with jitter, bounded by retry_max_attempts and retry_max_total_ms. Returns
 * ERR_OK for any status below 400 (rs holds it; ae holds only the call's client_request_id and
 * request_id); otherwise the mapped error with ae filled (rs holds the last response). rs and ae
 * may not be NULL. */
enum err azure_http_send(struct azure_client *c, const struct azure_request *rq,
                         struct azure_response *rs, struct azure_error *ae) VL_MUST_CHECK;

/* ---- long-running operations ------------------------------------------------------------- */

enum azure_lro_state {
    AZURE_LRO_RUNNING = 0,
    AZURE_LRO_SUCCEEDED,
    AZURE_LRO_FAILED,
    AZURE_LRO_CANCELED
};
enum azure_lro_kind {
    AZURE_LRO_NONE = 0, /* completed synchronously */
    AZURE_LRO_ASYNC_OP, /* poll Azure-AsyncOperation: {"status": ...} */
    AZURE_LRO_LOCATION, /* poll Location: 202 while running */
    AZURE_LRO_RESOURCE  /* poll the resource: properties.provisioningState */
};

/* The state of one operation, enough to resume it after a restart (see azure_lro_encode). */
struct azure_lro {
    char method[8]; /* of the original request */
    enum azure_lro_kind kind;
    char *poll_url;     /* NULL when kind is NONE */
    char *resource_url; /* the original URL: final GET for PUT/PATCH */
    char *subscription; /* throttle bucket of the polls; may be NULL */
    enum azure_lro_state state;
    int64_t retry_after_ms;   /* server's suggested wait before the next poll, -1 if none */
    struct azure_error error; /* when FAILED or CANCELED: the operation's error.code/message */
};

void azure_lro_init(struct azure_lro *l);
void azure_lro_cleanup(struct azure_lro *l);
/* Starts an operation: sends rq and records how to follow it in l. rs gets the first
 * response (its body is the resource for a PUT/PATCH 200/201). l->state is SUCCEEDED when the
 * call completed synchronously. */
enum err azure_lro_begin(struct azure_client *c, const struct azure_request *rq,
                         struct azure_lro *l, struct azure_response *rs,
                         struct azure_error *ae) VL_MUST_CHECK;
/* Polls once and updates l->state (FAILED/CANCELED fill l->error). A failed poll request is
 * returned as an error and leaves the state RUNNING. Never sleeps except inside retries. */
enum err azure_lro_poll(struct azure_client *c, struct azure_lro *l,
                        struct azure_error *ae) VL_MUST_CHECK;
/* How long to wait before the next poll: Retry-After clamped to [lro_poll_min_ms,
 * lro_poll_max_ms], lro_poll_default_ms without one. */
int64_t azure_lro_next_delay_ms(const struct azure_client *c, const struct azure_lro *l);
/* Polls until terminal or timeout_ms (0: lro_timeout_ms) passes (ERR_TIMEOUT). Then for a
 * PUT/PATCH that succeeded GETs the resource into final (may be NULL to skip). FAILED or
 * CANCELED return ERR_CLOUD with ae = the operation's error. */
enum err azure_lro_wait(struct azure_client *c, struct azure_lro *l, long timeout_ms,
                        struct azure_response *final, struct azure_error *ae) VL_MUST_CHECK;
/* One line of text (JSON) to persist l while it runs, and back. */
enum err azure_lro_encode(const struct azure_lro *l, struct buf *out) VL_MUST_CHECK;
enum err azure_lro_decode(const char *text, struct azure_lro *l) VL_MUST_CHECK;
const char *azure_lro_state_str(enum azure_lro_state s);

/* ---- metrics ----------------------------------------------------------------------------- */

struct azure_metrics_op {
    long calls;     /* logical calls */
    long retries;   /* extra attempts */
    long throttled; /* 429 responses */
    long errors;    /* calls that ended in an error */
    double latency_sum_s;
    long latency_count;
};

/* Process-wide counters per operation label. Renders Prometheus text:
 * vmlogind_azure_requests_total{op=..}, _retries_total, _throttled_total, _errors_total,
 * vmlogind_azure_request_duration_seconds_sum/_count. */
enum err azure_metrics_render(struct buf *out) VL_MUST_CHECK;
/* Snapshot for one op (zeros if never seen). */
void azure_metrics_get(const char *op, struct azure_metrics_op *out);
void azure_metrics_reset(void);

#endif
