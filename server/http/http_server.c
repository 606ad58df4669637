/* http_server.c: libmicrohttpd glue. An epoll thread pool sized to the cores; a request
 * context per request, made as soon as the request line is in so that the request-target's
 * limits (length, query parameters) are ours to answer; the body accumulated into a capped
 * buffer; routing, media-type and JSON checks before any handler runs; the response queued on
 * the final call of the access handler (never the first) so keep-alive holds; one access-log
 * line per request, including those libmicrohttpd rejects itself. Slow clients are the
 * guard's (http_guard.c). It owns no resource semantics: handlers and the auth hook come from
 * the caller. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/http_problem.h"
#include "vmlogind/log.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

enum { ST_NEW = 0, ST_BODY, ST_DONE };

/* More query parameters than any route reads; libmicrohttpd 0.9.75 drops the connection
 * without an answer when its per-connection pool cannot hold them all. */
#define HTTP_MAX_QUERY_PARAMS 64

static const int tracked_status[] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409,
                                     412, 413, 414, 415, 422, 429, 431, 500, 502, 503, 504};
#define NSTATUS (sizeof(tracked_status) / sizeof(tracked_status[0]) + 1)
static const double bucket_ms[] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
#define NBUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]) + 1)

struct route_stats {
    _Atomic uint64_t status[NSTATUS];
    _Atomic uint64_t bucket[NBUCKETS];
    _Atomic uint64_t sum_us;
};

/* A streamed reply in flight. Parked (suspended in libmicrohttpd) while it has nothing to
 * send, so a quiet client holds a connection slot but no thread. */
struct http_stream {
    struct http_server *s;
    struct MHD_Connection *conn;
    const struct http_stream_ops *ops;
    void *cls;
    bool parked;
    bool gone; /* the client hung up while parked: end the stream on its next call */
    struct http_stream *prev, *next;
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct http_guard *guard;
    struct http_cors *cors; /* NULL: no origin is allowed */
    struct http_options o;
    struct route_stats *stats; /* nroutes + 1 (unmatched) */
    _Atomic int inflight;
    pthread_mutex_t streams_mu; /* the list, each stream's parked flag, suspend and resume */
    struct http_stream *streams;
    _Atomic uint64_t wake_gen; /* bumped by every wake: a fill that raced one runs again */
    bool stopping;             /* under streams_mu: streams end instead of parking */
};

static int status_index(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (tracked_status[i] == status)
            return (int)i;
    return (int)NSTATUS - 1;
}

static void count(struct http_server *s, const struct http_request *req, int status)
{
    size_t ri = req->route ? (size_t)(req->route - s->o.routes) : s->o.nroutes;
    struct route_stats *rs = &s->stats[ri];
    int64_t us = (clock_mono_ms() - req->start_mono_ms) * 1000;
    double ms = (double)us / 1000.0;
    size_t b = 0;

    atomic_fetch_add(&rs->status[status_index(status)], 1);
    while (b < NBUCKETS - 1 && ms > bucket_ms[b])
        b++;
    atomic_fetch_add(&rs->bucket[b], 1);
    atomic_fetch_add(&rs->sum_us, (uint64_t)(us > 0 ? us : 0));
}

static bool valid_request_id(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    size_t *total = cls;
    (void)kind;
    *total += strlen(k) + (v ? strlen(v) : 0) + 4;
    return MHD_YES;
}

/* libmicrohttpd's content reader for a stream: fill, or park the connection until a wake. A
 * wake between fill finding nothing and the park would be lost, so the park happens only if
 * no wake came since this fill began; otherwise fill runs again. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *st = cls;
    struct http_server *s = st->s;
    (void)pos;

    for (;;) {
        uint64_t gen = atomic_load(&s->wake_gen);
        long n;
        bool parked = false, stopping;

        pthread_mutex_lock(&s->streams_mu);
        stopping = s->stopping || st->gone;
        pthread_mutex_unlock(&s->streams_mu);
        if (stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        n = st->ops->fill(st->cls, buf, max);
        if (n != 0)
            return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&s->streams_mu);
        if (!s->stopping && atomic_load(&s->wake_gen) == gen) {
            MHD_suspend_connection(st->conn);
            st->parked = parked = true;
        }
        pthread_mutex_unlock(&s->streams_mu);
        if (parked)
            return 0;
    }
}

/* The response is gone (stream over, client gone, or never sent): forget the stream. */
static void stream_free(void *cls)
{
    struct http_stream *st = cls;
    struct http_server *s = st->s;

    pthread_mutex_lock(&s->streams_mu);
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&s->streams_mu);
    st->ops->done(st->cls);
    free(st);
}

void http_server_wake_streams(struct http_server *s)
{
    pthread_mutex_lock(&s->streams_mu);
    atomic_fetch_add(&s->wake_gen, 1);
    for (struct http_stream *st = s->streams; st != NULL; st = st->next) {
        if (st->parked) {
            st->parked = false;
            MHD_resume_connection(st->conn);
        }
    }
    pthread_mutex_unlock(&s->streams_mu);
}

/* A parked connection is not watched by libmicrohttpd, so a client that hung up would hold its
 * slot until the next heartbeat's write failed; a look at the socket frees it sooner. */
void http_server_reap_streams(struct http_server *s)
{
    pthread_mutex_lock(&s->streams_mu);
    for (struct http_stream *st = s->streams; st != NULL; st = st->next) {
        const union MHD_ConnectionInfo *ci;
        struct pollfd p = {.events = POLLRDHUP};

        if (!st->parked)
            continue;
        ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci == NULL)
            continue;
        p.fd = ci->connect_fd;
        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
            st->gone = true;
            st->parked = false;
            MHD_resume_connection(st->conn);
        }
    }
    pthread_mutex_unlock(&s->streams_mu);
}

/* The response for a reply: its buffer, or the stream (which it takes from req). */
static struct MHD_Response *make_response(struct http_server *s, struct http_request *req)
{
    struct MHD_Response *r;
    struct http_stream *st;

    if (req->stream_ops == NULL) {
        r = MHD_create_response_from_buffer(req->resp_len, req->resp, MHD_RESPMEM_MUST_FREE);
        if (r != NULL)
            req->resp = NULL; /* MHD owns it now */
        return r;
    }
    st = xcalloc(1, sizeof(*st));
    *st = (struct http_stream){
        .s = s, .conn = req->conn, .ops = req->stream_ops, .cls = req->stream_cls};
    req->stream_ops = NULL; /* the stream owns cls now: stream_free ends it */
    req->stream_cls = NULL;
    pthread_mutex_lock(&s->streams_mu);
    st->next = s->streams;
    if (s->streams != NULL)
        s->streams->prev = st;
    s->streams = st;
    pthread_mutex_unlock(&s->streams_mu);
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (r == NULL)
        stream_free(st);
    return r;
}

static bool has_extra(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nextra; i++)
        if (strcasecmp(req->extra_names[i], name) == 0)
            return true;
    return false;
}

static enum MHD_Result queue(struct http_server *s, struct http_request *req)
{
    struct MHD_Response *r;
    enum MHD_Result ok;

    if (!req->replied)
        http_problem_reply(req, "internal", "the handler gave no reply", NULL);
    r = make_response(s, req);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", req->resp_type);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    if (!has_extra(req, "Cache-Control"))
        MHD_add_response_header(r, "Cache-Control", "no-store");
    for (size_t i = 0; i < req->nextra; i++)
        MHD_add_response_header(r, req->extra_names[i], req->extra_values[i]);
    count(s, req, req->status);
    http_guard_body_done(req->conn);
    ok = MHD_queue_response(req->conn, (unsigned)req->status, r);
    MHD_destroy_response(r);
    req->state = ST_DONE;
    return ok;
}

static bool is_json_type(const char *ct)
{
    size_t n;
    if (ct == NULL)
        return false;
    n = strcspn(ct, "; \t");
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0 &&
            strncasecmp(ct, "application/", 12) == 0);
}

/* Media type, JSON syntax, duplicate keys and top-level shape, before any handler runs. */
static bool check_body(struct http_request *req)
{
    json_error_t jerr;

    if (req->route->body == BODY_NONE || req->body.len == 0) {
        if (req->route->body == BODY_JSON_REQUIRED) {
            http_problem_reply(req, "body_required", "this request needs a JSON body", NULL);
            return false;
        }
        return true;
    }
    if (!is_json_type(http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        http_problem_reply(req, "unsupported_media_type",
                           "send the body as Content-Type: application/json", NULL);
        return false;
    }
    req->json = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (req->json == NULL) {
        bool dup = json_error_code(&jerr) == json_error_duplicate_key;
        char *detail =
            http_printf(req, "%s at line %d, column %d", jerr.text, jerr.line, jerr.column);
        http_problem_reply(req, dup ? "duplicate_key" : "malformed_json", detail, NULL);
        return false;
    }
    if (!json_is_object(req->json)) {
        struct violations vs;
        violations_init(&vs);
        violations_add(&vs, "", "wrong_type", "the body must be a JSON object");
        http_problem_reply(req, "validation_failed", "the body must be a JSON object", &vs);
        return false;
    }
    return true;
}

static void dispatch(struct http_server *s, struct http_request *req)
{
    char allowed[128];

    if (req->body_too_large) {
        http_problem_reply(
            req, "body_too_large",
            http_printf(req, "the body is larger than %zu bytes", s->o.max_body_bytes), NULL);
        return;
    }
    if (http_cors_apply(s->cors, req, s->o.routes, s->o.nroutes))
        return; /* a preflight, answered without authentication as browsers send it */
    if (http_router_match(s->o.routes, s->o.nroutes, req->method, req->path, req, allowed,
                          sizeof(allowed)) == NULL) {
        if (allowed[0] != '\0') {
            http_add_header(req, "Allow", allowed);
            http_problem_reply(
                req, "method_not_allowed",
                http_printf(req, "%s is not allowed here; use %s", req->method, allowed), NULL);
        } else {
            http_problem_reply(req, "not_found", "no such path", NULL);
        }
        return;
    }
    http_route_announce(req);
    if (s->o.auth != NULL && !s->o.auth(req, s->o.auth_arg))
        return;
    /* once the auth hook let the request in, the after hook always runs: it ends what the
     * hooks opened (a snapshot route's read transaction) even when no handler runs */
    if (check_body(req) && (s->o.before_handler == NULL || s->o.before_handler(req, s->o.auth_arg)))
        req->route->handler(req);
    if (s->o.after_handler != NULL)
        s->o.after_handler(req, s->o.auth_arg);
}

static struct http_request *new_request(struct http_server *s, struct MHD_Connection *conn,
                                        const char *uri)
{
    struct http_request *req = xcalloc(1, sizeof(*req));
    size_t n = strcspn(uri, "?");

    atomic_fetch_add(&s->inflight, 1);
    req->conn = conn;
    req->method = "-";
    req->path = http_strndup(req, uri, n < 256 ? n : 256); /* until the decoded path is in */
    req->app = s->o.app;
    req->start_mono_ms = clock_mono_ms();
    uuid_v4_fast(req->request_id); /* replaced by a valid X-Request-Id once the headers are in */
    snprintf(req->subject, sizeof(req->subject), "-");
    buf_init(&req->body, s->o.max_body_bytes);
    return req;
}

/* The request line is in, its query not yet parsed (MHD_OPTION_URI_LOG_CALLBACK). Limits on
 * the request-target are checked here and answered later as problem+json. Too many query
 * parameters are cut off before libmicrohttpd parses them into its pool: the callback is
 * given the raw target inside the connection's (writable) read buffer, and libmicrohttpd
 * parses the query from the byte after '?' once this returns, so ending the string there
 * leaves it nothing to parse. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *s = cls;
    struct http_request *req = new_request(s, conn, uri);
    const char *q = strchr(uri, '?');
    size_t nparams = 0;

    if (q != NULL && q[1] != '\0') {
        nparams = 1;
        for (const char *p = q + 1; *p != '\0'; p++)
            nparams += *p == '&';
    }
    if (strlen(uri) > s->o.max_header_bytes) {
        req->early_status = 414;
        req->early_code = "uri_too_long";
        req->early_detail =
            http_printf(req, "the request target is longer than %zu bytes", s->o.max_header_bytes);
    } else if (nparams > HTTP_MAX_QUERY_PARAMS) {
        req->early_status = 414;
        req->early_code = "too_many_query_parameters";
        req->early_detail = http_printf(req, "the query has %zu parameters; at most %d are read",
                                        nparams, HTTP_MAX_QUERY_PARAMS);
    }
    if (req->early_status != 0 && q != NULL)
        ((char *)q)[1] = '\0';
    return req;
}

/* libmicrohttpd's own messages (MHD_OPTION_EXTERNAL_LOGGER). The ones that matter are its own
 * answers to requests too large for a connection's memory (414, 431, with a fixed HTML text
 * we cannot replace): those are logged and counted; the rest is debug detail. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *s = cls;
    char msg[512], quoted[600];
    const char *code;
    int status = 0;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
    msg[strcspn(msg, "\r\n")] = '\0';
    code = strstr(msg, "HTTP response code is ");
    if (code != NULL)
        status = (int)strtol(code + strlen("HTTP response code is "), NULL, 10);
    if (status < 400) {
        log_debug("http_mhd", "message=%s", log_q(quoted, sizeof(quoted), msg));
        return;
    }
    atomic_fetch_add(&s->stats[s->o.nroutes].status[status_index(status)], 1);
    log_warn("http_rejected", "status=%d by=libmicrohttpd reason=%s", status,
             log_q(quoted, sizeof(quoted),
                   status == 414   ? "request line larger than a connection's memory"
                   : status == 431 ? "request headers larger than a connection's memory"
                                   : "malformed request"));
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_request *req = *con_cls;
    (void)version;

    if (req == NULL) /* no request-line callback ran (not expected): make the context now */
        req = *con_cls = new_request(s, conn, url);
    if (req->state == ST_NEW) {
        const char *rid, *cl;
        size_t hdr_total = 0;

        http_guard_headers_done(conn);
        req->method = method;
        req->path = url;
        rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (rid != NULL && valid_request_id(rid))
            snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
        if (req->early_status != 0) {
            http_problem_reply(req, req->early_code, req->early_detail, NULL);
            return queue(s, req);
        }
        MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hdr_total);
        if (hdr_total > s->o.max_header_bytes) {
            http_problem_reply(req, "headers_too_large", "the request headers are too large", NULL);
            return queue(s, req);
        }
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > s->o.max_body_bytes) {
            req->body_too_large = true;
            dispatch(s, req);
            return queue(s, req);
        }
        req->state = ST_BODY;
        return MHD_YES;
    }
    if (req->state == ST_DONE) {
        *upload_size = 0; /* already answered (early 413/431): drop the rest */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!req->body_too_large && buf_append(&req->body, upload_data, *upload_size) != ERR_OK)
            req->body_too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    http_guard_body_done(conn); /* the handler's own time is not the client's to be cut for */
    dispatch(s, req);
    return queue(s, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_request *req = *con_cls;

    http_guard_request_done(conn);
    if (req == NULL)
        return;
    if (req->state == ST_NEW) {
        /* never reached the access handler: libmicrohttpd answered it itself (counted in
         * on_mhd_log) or the client went away before its headers were in */
        const union MHD_ConnectionInfo *st =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
        req->status = st != NULL ? (int)st->http_status : 0;
        req->replied = req->status != 0;
        toe = req->replied ? MHD_REQUEST_TERMINATED_COMPLETED_OK
                           : MHD_REQUEST_TERMINATED_CLIENT_ABORT;
    }
    if (s->o.access_log) {
        char path[300];
        log_info("http_request", "method=%s path=%s status=%d ms=%lld request_id=%s subject=%s%s",
                 req->method, log_q(path, sizeof(path), req->path), req->replied ? req->status : 0,
                 (long long)(clock_mono_ms() - req->start_mono_ms), req->request_id, req->subject,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
    }
    http_request_release(req);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static enum err parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6,
                             struct err_detail *d)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    unsigned long port;
    size_t hl;

    if (colon == NULL)
        return err_set(d, ERR_INVALID, "listen", "listen: expected ADDRESS:PORT");
    port = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port > 65535)
        return err_set(d, ERR_INVALID, "listen", "listen: bad port in '%s'", listen);
    hl = (size_t)(colon - listen);
    if (hl >= sizeof(host))
        return err_set(d, ERR_INVALID, "listen", "listen: address too long");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return err_set(d, ERR_INVALID, "listen", "listen: bad IPv6 address");
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return ERR_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return err_set(d, ERR_INVALID, "listen", "listen: bad IPv4 address '%s'", host);
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *v6 = false;
    return ERR_OK;
}

enum err http_server_start(const struct http_options *o, struct http_server **out, unsigned *port,
                           struct err_detail *d)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    struct http_server *s;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    enum err rc;

    rc = parse_listen(o->listen, &ss, &v6, d);
    if (rc != ERR_OK)
        return rc;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (o->tls_cert_pem != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return err_set(d, ERR_INVALID, "tls_unsupported",
                           "this libmicrohttpd was built without TLS");
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key_pem};
    }
    http_mhd_errors_init();
    s = xcalloc(1, sizeof(*s));
    if (http_cors_parse(o->cors_origins, &s->cors, d) != ERR_OK) {
        free(s);
        return ERR_INVALID;
    }
    s->o = *o;
    s->stats = xcalloc(o->nroutes + 1, sizeof(*s->stats));
    s->guard = http_guard_new(o);
    pthread_mutex_init(&s->streams_mu, NULL);
    /* before the first request can run: handlers read it (GET /metrics), and a store after
     * MHD's threads start raced with them */
    *out = s;
    /* The pool holds the request line and headers: twice the header limit and a margin, so
     * that targets and headers over our limits still fit and get our problem+json answer.
     * libmicrohttpd zeroes the whole pool between requests on a connection, so it costs
     * every request its size (at four times the limit, 96 KiB: 3% of a GET /access). */
    s->mhd = MHD_start_daemon(
        flags | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(o->threads > 0 ? o->threads : 1), MHD_OPTION_CONNECTION_TIMEOUT,
        o->request_timeout_s, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(o->max_header_bytes * 2 + 32768),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        http_guard_notify, s->guard, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (s->mhd == NULL) {
        *out = NULL;
        pthread_mutex_destroy(&s->streams_mu);
        http_guard_free(s->guard);
        http_cors_free(s->cors);
        free(s->stats);
        free(s);
        return err_set(d, ERR_UNAVAILABLE, "listen_failed",
                       "could not listen on %s (address in use or not permitted)", o->listen);
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *port = info != NULL ? info->port : 0;
    return ERR_OK;
}

void http_server_stop(struct http_server *s)
{
    int64_t deadline;

    if (s == NULL)
        return;
    /* Stop accepting, end the streams (none parks again: libmicrohttpd refuses to stop with a
     * suspended connection), then give requests in flight up to 4 s to finish. */
    MHD_quiesce_daemon(s->mhd);
    pthread_mutex_lock(&s->streams_mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->streams_mu);
    http_server_wake_streams(s);
    deadline = clock_mono_ms() + 4000;
    while (atomic_load(&s->inflight) > 0 && clock_mono_ms() < deadline)
        clock_sleep_ms(10);
    MHD_stop_daemon(s->mhd);
    pthread_mutex_destroy(&s->streams_mu);
    http_guard_free(s->guard);
    http_cors_free(s->cors);
    free(s->stats);
    free(s);
}

/* One histogram over all routes (the per-route ones are in route_histograms). */
static enum err total_histogram(struct http_server *s, struct buf *out)
{
    enum err rc = buf_appends(out, "# HELP vmlogind_http_request_duration_seconds Request latency."
                                   "\n# TYPE vmlogind_http_request_duration_seconds histogram\n");
    uint64_t cum = 0, sum_us = 0, b[NBUCKETS] = {0};
    for (size_t r = 0; r <= s->o.nroutes; r++) {
        for (size_t i = 0; i < NBUCKETS; i++)
            b[i] += atomic_load(&s->stats[r].bucket[i]);
        sum_us += atomic_load(&s->stats[r].sum_us);
    }
    for (size_t i = 0; rc == ERR_OK && i < NBUCKETS; i++) {
        cum += b[i];
        if (i < NBUCKETS - 1)
            rc = buf_printf(out, "vmlogind_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                            bucket_ms[i] / 1000.0, (unsigned long long)cum);
        else
            rc = buf_printf(out,
                            "vmlogind_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                            "vmlogind_http_request_duration_seconds_sum %.6f\n"
                            "vmlogind_http_request_duration_seconds_count %llu\n",
                            (unsigned long long)cum, (double)sum_us / 1e6, (unsigned long long)cum);
    }
    return rc;
}

/* Latency per route: one histogram per route (method and route template, never the raw
 * path, so at most one per row of the route table plus "unmatched") that has served a
 * request. */
static enum err route_histograms(struct http_server *s, struct buf *out)
{
    enum err rc = buf_appends(out, "# HELP vmlogind_http_route_request_duration_seconds Request "
                                   "latency by route template.\n"
                                   "# TYPE vmlogind_http_route_request_duration_seconds "
                                   "histogram\n");

    for (size_t r = 0; rc == ERR_OK && r <= s->o.nroutes; r++) {
        const char *m = r < s->o.nroutes ? s->o.routes[r].method : "";
        const char *p = r < s->o.nroutes ? s->o.routes[r].pattern : "unmatched";
        uint64_t b[NBUCKETS], cum = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            b[i] = atomic_load(&s->stats[r].bucket[i]);
            cum += b[i];
        }
        if (cum == 0)
            continue;
        cum = 0;
        for (size_t i = 0; rc == ERR_OK && i < NBUCKETS - 1; i++) {
            cum += b[i];
            rc = buf_printf(out,
                            "vmlogind_http_route_request_duration_seconds_bucket{method=\"%s\","
                            "route=\"%s\",le=\"%g\"} %llu\n",
                            m, p, bucket_ms[i] / 1000.0, (unsigned long long)cum);
        }
        cum += b[NBUCKETS - 1];
        if (rc == ERR_OK)
            rc = buf_printf(
                out,
                "vmlogind_http_route_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                "le=\"+Inf\"} %llu\n"
                "vmlogind_http_route_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} "
                "%.6f\n"
                "vmlogind_http_route_request_duration_seconds_count{method=\"%s\",route=\"%s\"} "
                "%llu\n",
                m, p, (unsigned long long)cum, m, p, (double)atomic_load(&s->stats[r].sum_us) / 1e6,
                m, p, (unsigned long long)cum);
    }
    return rc;
}

enum err http_server_metrics(struct http_server *s, struct buf *out)
{
    enum err rc = ERR_OK;

    rc = buf_appends(out, "# HELP vmlogind_http_requests_total HTTP requests by route and "
                          "status.\n# TYPE vmlogind_http_requests_total counter\n");
    for (size_t r = 0; rc == ERR_OK && r <= s->o.nroutes; r++) {
        const char *m = r < s->o.nroutes ? s->o.routes[r].method : "";
        const char *p = r < s->o.nroutes ? s->o.routes[r].pattern : "unmatched";
        for (size_t i = 0; rc == ERR_OK && i < NSTATUS; i++) {
            uint64_t v = atomic_load(&s->stats[r].status[i]);
            if (v == 0)
                continue;
            if (i < NSTATUS - 1)
                rc = buf_printf(out,
                                "vmlogind_http_requests_total{method=\"%s\",route=\"%s\","
                                "status=\"%d\"} %llu\n",
                                m, p, tracked_status[i], (unsigned long long)v);
            else
                rc = buf_printf(out,
                                "vmlogind_http_requests_total{method=\"%s\",route=\"%s\","
                                "status=\"other\"} %llu\n",
                                m, p, (unsigned long long)v);
        }
    }
    if (rc == ERR_OK)
        rc = total_histogram(s, out);
    if (rc == ERR_OK)
        rc = route_histograms(s, out);
    if (rc == ERR_OK)
        rc = http_guard_metrics(s->guard, out);
    return rc;
}
