/* http.h: the HTTP core on libmicrohttpd: server lifecycle, the route table and matching,
 * the per-request context (which owns everything a request allocates), and replies,
 * including every error as RFC 9457 application/problem+json. It knows nothing of the
 * resources served: handlers and the authentication hook come from the api layer. */
#ifndef VMLOGIND_HTTP_H
#define VMLOGIND_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/err.h"
#include "vmlogind/violations.h"

#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_EXTRA_HEADERS 8

struct http_request;
struct http_server;

/* What a route requires of its caller. The api layer's auth hook interprets it. */
enum http_perm {
    PERM_PUBLIC = 0, /* no authentication (health, metrics, the contract) */
    PERM_SELF,       /* any authenticated caller, even one holding no role: a person acting for
                        herself (just-in-time activation, approval); the handler decides */
    PERM_READ,       /* reader and above */
    PERM_OPERATE,    /* operator and above */
    PERM_ADMIN,      /* administrator */
};

enum http_body {
    BODY_NONE = 0, /* a body is refused (413 if sent) */
    BODY_JSON_OPTIONAL,
    BODY_JSON_REQUIRED,
};

typedef void (*http_handler)(struct http_request *req);

struct route {
    const char *method;
    const char *pattern; /* literal segments and {name} segments, matched case-insensitively */
    enum http_perm perm;
    enum http_body body;
    http_handler handler;
    const char *summary;
    bool write; /* a write: the handler runs inside the api layer's write runner (one transaction
                   with its audit row and Idempotency-Key record, then a wake-up) */
    /* A deprecated route (docs/api-versioning.md; openapi.yaml marks it deprecated: true): every
     * answer carries Deprecation (RFC 9745, "@<unix seconds>" of the deprecation), Link
     * rel="deprecation" to deprecation_link when set, and Sunset (RFC 8594, the HTTP-date of its
     * removal) once one is set. NULL: not deprecated. */
    const char *deprecated;
    const char *deprecation_link;
    const char *sunset;
    /* A hot read: the api layer opens one read transaction before authentication and closes
     * it after the handler, so the key's row and the handler's reads cost one round of the
     * store's locks, not one each (every round takes the WAL-index mutex all workers share). */
    bool snapshot;
};

/* The request context: allocated on MHD's first call, freed when the request completes. */
struct http_request {
    const char *method;
    const char *path; /* decoded path, no query */
    const struct route *route;
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    size_t nparams;
    char request_id[72];
    char subject[160]; /* who is calling, for logs and audit; "-" if anonymous */
    void *caller;      /* set by the auth hook; owned by the request (freed with it) */
    void (*caller_free)(void *);
    json_t *json; /* parsed body (JSON_REJECT_DUPLICATES), NULL if none */
    struct buf body;
    void *app;    /* the application context given to http_server_start */
    void *run;    /* the write runner's state (api layer), NULL outside a write */
    bool read_tx; /* the api layer's read transaction of a snapshot route is open */
    /* reply */
    int status;
    char *resp;
    size_t resp_len;
    const char *resp_type;
    char *extra_names[HTTP_MAX_EXTRA_HEADERS];
    char *extra_values[HTTP_MAX_EXTRA_HEADERS];
    size_t nextra;
    const struct http_stream_ops *stream_ops; /* a streamed reply (http_reply_stream) */
    void *stream_cls;
    /* internals */
    void *conn;
    int64_t start_mono_ms;
    int state;
    int early_status; /* a limit of the request line was crossed: answered once headers are in */
    const char *early_code;
    const char *early_detail;
    bool body_too_large;
    bool replied;
    struct alloc_node *allocs;
    /* http_alloc's first bytes come from here: a request's path, params and headers fit */
    size_t scratch_used;
    _Alignas(max_align_t) unsigned char scratch[768];
};

/* Called after routing and before the handler (if set). Returns true to go on; otherwise it
 * has replied (401/403/429). */
typedef bool (*http_auth_hook)(struct http_request *req, void *arg);

struct http_options {
    const char *listen; /* "127.0.0.1:0", "[::1]:8080", "0.0.0.0:8080" */
    int threads;
    size_t max_body_bytes;
    size_t max_header_bytes;
    unsigned request_timeout_s;
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: no per-address limit */
    unsigned header_timeout_s;       /* whole header phase, however slowly bytes trickle */
    const char *cors_origins;        /* exact browser origins allowed (CORS); NULL/"": none */
    const char *tls_cert_pem;        /* NULL for plain HTTP */
    const char *tls_key_pem;
    const struct route *routes;
    size_t nroutes;
    http_auth_hook auth;
    void *auth_arg;
    /* Around the handler, after authentication and body checks (both may be NULL): before
     * returns false when it replied itself (e.g. an idempotent replay); after sees the reply,
     * and runs for every request the auth hook let in, handler or not. */
    http_auth_hook before_handler;
    void (*after_handler)(struct http_request *req, void *arg);
    void *app;
    bool access_log;
};

/* Starts serving; the bound port is in *port (useful with port 0). *out is set before the
 * first request can reach a handler, so handlers may read it through the app context. */
enum err http_server_start(const struct http_options *o, struct http_server **out, unsigned *port,
                           struct err_detail *d) VL_MUST_CHECK;
/* Stops accepting, lets requests in flight finish, frees the server. NULL is fine. */
void http_server_stop(struct http_server *s);
/* Prometheus text for requests by route and status, and the latency histogram. */
enum err http_server_metrics(struct http_server *s, struct buf *out) VL_MUST_CHECK;

/* The Deprecation, Link and Sunset headers of req's route, when it is deprecated. */
void http_route_announce(struct http_request *req);

/* Router (pure; unit-tested). Returns the matching route, fills params; on no match, *allowed
 * lists the methods that would match the path ("GET, PUT") or is empty for 404. */
const struct route *http_router_match(const struct route *routes, size_t n, const char *method,
                                      const char *path, struct http_request *req, char *allowed,
                                      size_t allowed_cap);

/* Request accessors. Borrowed strings live as long as the request. */
const char *http_param(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);
/* Request-owned memory: freed when the request completes. */
void *http_alloc(struct http_request *req, size_t n);
char *http_strdup(struct http_request *req, const char *s);
char *http_strndup(struct http_request *req, const char *s, size_t n);
char *http_printf(struct http_request *req, const char *fmt, ...) VL_PRINTF(2, 3);

/* Replies. The first reply wins; later ones are ignored. */
void http_reply_json(struct http_request *req, int status, json_t *body); /* steals body */
void http_reply_raw(struct http_request *req, int status, const char *type, const char *data,
                    size_t len);
/* The same with data malloc'd and NUL-terminated at len, taken over instead of copied. */
void http_reply_take(struct http_request *req, int status, const char *type, char *data,
                     size_t len);
void http_add_header(struct http_request *req, const char *name, const char *value);
/* A streamed reply (Server-Sent Events). fill writes up to cap bytes into buf and returns how
 * many: > 0 sent, 0 nothing to send now (the connection is parked, holding no thread, until
 * http_server_wake_streams), < 0 the end of the stream. done runs exactly once when the stream
 * is over for any reason (end, client gone, server stopping); cls is not used after it. Both
 * run on the server's threads, never at the same time for one stream. If the reply is never
 * queued (another reply won), done still runs when the request is released. */
struct http_stream_ops {
    long (*fill)(void *cls, char *buf, size_t cap);
    void (*done)(void *cls);
};
void http_reply_stream(struct http_request *req, int status, const char *type,
                       const struct http_stream_ops *ops, void *cls);
/* Gives every parked stream another call of fill; any thread. */
void http_server_wake_streams(struct http_server *s);
/* Ends the parked streams whose client hung up, freeing their slots; any thread. */
void http_server_reap_streams(struct http_server *s);
/* Drops the reply made so far and its extra headers, so that another can be made (a write
 * whose transaction failed after its handler replied). */
void http_reply_discard(struct http_request *req);
/* problem+json with type, title, status, detail, code, instance (the request id), and
 * errors[] when vs is given. The primitive under the problem registry: reply with
 * http_problem_reply (vmlogind/http_problem.h), which takes the status from the code's row. */
void http_reply_problem(struct http_request *req, int status, const char *code, const char *detail,
                        const struct violations *vs);
/* The one mapping from enum err to HTTP status and problem code (d may be NULL): d's code when
 * the registry has it with that status, else e's generic row; a row marked internal (store
 * failures) sends its title, never d's message. */
void http_reply_error(struct http_request *req, enum err e, const struct err_detail *d);
int http_status_for(enum err e);

/* Test seam: the same mapping and body the server produces, without a connection. */
char *http_problem_body(int status, const char *code, const char *detail, const char *instance,
                        const struct violations *vs);

#endif
