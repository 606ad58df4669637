/* sim_http.c: libmicrohttpd + TLS glue. Accumulates bodies, splits the path, picks the route,
 * then runs faults, authentication, api-version and throttling checks before the handler, all
 * handlers under the one state lock. It knows nothing of Azure resources themselves. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

uint64_t sim_gen = 1;

static struct MHD_Daemon *daemon_;
static int port_;

const char *sim_query(struct sim_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sim_header(struct sim_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void sim_reply_json(struct sim_req *r, int status, json_t *body)
{
    r->status = status;
    free(r->resp);
    r->resp = NULL;
    if (body) {
        r->resp = json_dumps(body, JSON_COMPACT);
        r->content_type = "application/json; charset=utf-8";
        json_decref(body);
    }
}

void sim_reply_text(struct sim_req *r, int status, char *text)
{
    r->status = status;
    free(r->resp);
    r->resp = text;
    r->content_type = "application/json; charset=utf-8";
}

void sim_reply_html(struct sim_req *r, int status, char *html)
{
    r->status = status;
    free(r->resp);
    r->resp = html;
    r->content_type = "text/html; charset=utf-8";
}

void sim_reply_header(struct sim_req *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    char *v;

    if (r->nhdr >= 16)
        return;
    va_start(ap, fmt);
    if (vasprintf(&v, fmt, ap) < 0)
        abort();
    va_end(ap);
    r->hdr_names[r->nhdr] = xstrdup(name);
    r->hdr_vals[r->nhdr] = v;
    r->nhdr++;
}

json_t *sim_body_json(struct sim_req *r)
{
    if (!r->body || r->body_len == 0)
        return NULL;
    return json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
}

static char *vfmt(const char *fmt, va_list ap)
{
    char *s;

    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    return s;
}

void sim_arm_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = vfmt(fmt, ap);
    va_end(ap);
    sim_reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
    free(msg);
}

void sim_graph_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    char ts[32];
    const char *crid = sim_header(r, "client-request-id");

    va_start(ap, fmt);
    msg = vfmt(fmt, ap);
    va_end(ap);
    clock_fmt_rfc3339(clock_now_ms(), ts, sizeof(ts));
    sim_reply_json(r, status,
                   json_pack("{s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "error", "code", code, "message",
                             msg, "innerError", "date", ts, "request-id", r->request_id,
                             "client-request-id", crid ? crid : r->request_id));
    free(msg);
}

bool sim_seg_is(const struct sim_req *r, int i, const char *lit)
{
    return i < r->nseg && sim_ieq(r->segs[i], lit);
}

char *sim_url(const struct sim_req *r, const char *fmt, ...)
{
    va_list ap;
    char *tail;
    char *url;

    va_start(ap, fmt);
    tail = vfmt(fmt, ap);
    va_end(ap);
    url = xasprintf("%s%s", r->base, tail);
    free(tail);
    return url;
}

static void split_path(struct sim_req *r)
{
    const char *p = r->url;

    while (*p && r->nseg < SIM_MAX_SEGS) {
        const char *e;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        e = strchr(p, '/');
        if (!e)
            e = p + strlen(p);
        r->segs[r->nseg++] = xstrndup(p, (size_t)(e - p));
        p = e;
    }
    r->path_lc = sim_lc(r->url);
}

static void req_free(struct sim_req *r)
{
    for (int i = 0; i < r->nseg; i++)
        free(r->segs[i]);
    for (int i = 0; i < r->nhdr; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_vals[i]);
    }
    free(r->path_lc);
    free(r->body);
    free(r->resp);
    free(r);
}

static bool route(struct sim_req *r, struct sim_route *rt)
{
    memset(rt, 0, sizeof(*rt));
    if (sim_control_route(r, rt))
        return true;
    if (sim_entra_route(r, rt))
        return true;
    if (sim_graph_route(r, rt))
        return true;
    if (sim_authz_route(r, rt))
        return true;
    return sim_compute_route(r, rt);
}

static void not_found(struct sim_req *r)
{
    if (sim_seg_is(r, 0, "v1.0"))
        sim_graph_error(r, 400, "BadRequest", "Resource not found for the segment '%s'.",
                        r->nseg > 1 ? r->segs[1] : "");
    else
        sim_arm_error(r, 404, "NotFound", "The requested path '%s' is not served by azsim.",
                      r->url);
}

static void arm_headers(struct sim_req *r)
{
    const char *crid = sim_header(r, "x-ms-client-request-id");
    const char *corr = sim_header(r, "x-ms-correlation-request-id");

    sim_reply_header(r, "x-ms-request-id", "%s", r->request_id);
    sim_reply_header(r, "x-ms-correlation-request-id", "%s", corr ? corr : r->request_id);
    if (crid)
        sim_reply_header(r, "x-ms-client-request-id", "%s", crid);
}

/* Whether the request may change what a cached list page shows: control calls and ARM or
 * Graph writes. Reads sent as POST (Graph getByIds, checkMemberGroups, token requests) keep the
 * rendered-text cache: a sync pass resolves principals with getByIds, which otherwise dropped
 * every VM's text and made each pass render the whole fleet again. */
static bool changes_state(const struct sim_req *r, const struct sim_route *rt)
{
    if (rt->area == AREA_CONTROL)
        return true;
    if (strcmp(r->method, "GET") == 0 || rt->area == AREA_ENTRA || rt->area == AREA_IMDS)
        return false;
    return rt->tkind != 0;
}

/* What /_sim/stats lists under mutations: ARM writes, and Graph's own writes (creating a service
 * principal, deleting a device); Graph's read-only POSTs (getByIds, checkMemberGroups) have
 * tkind 0. */
static bool is_mutation(const struct sim_req *r, const struct sim_route *rt)
{
    if (rt->area == AREA_ARM)
        return strcmp(r->method, "GET") != 0;
    return rt->area == AREA_GRAPH && rt->tkind != 0;
}

static void run(struct sim_req *r)
{
    struct sim_route rt;
    const char *host = sim_header(r, "Host");
    bool mutating;

    uuid_v4(r->request_id);
    snprintf(r->base, sizeof(r->base), "https://%s", host ? host : "127.0.0.1");
    split_path(r);
    if (!route(r, &rt)) {
        not_found(r);
        return;
    }
    r->op = rt.op;
    if (rt.area == AREA_ARM)
        arm_headers(r);
    else if (rt.area == AREA_GRAPH)
        sim_reply_header(r, "request-id", "%s", r->request_id);
    if (rt.area != AREA_CONTROL) {
        pthread_mutex_lock(&S.mu);
        sim_stats_count(rt.op);
        pthread_mutex_unlock(&S.mu);
    }
    if (rt.area != AREA_CONTROL && !sim_faults_apply(r, rt.op))
        return;
    pthread_mutex_lock(&S.mu);
    mutating = changes_state(r, &rt);
    if (mutating)
        sim_gen++;
    if (rt.area == AREA_ARM || rt.area == AREA_GRAPH) {
        if (!sim_bearer_check(r, rt.area == AREA_ARM))
            goto out;
    }
    if (rt.area == AREA_ARM && !sim_api_version_ok(r, rt.op))
        goto out;
    if ((rt.area == AREA_ARM || rt.area == AREA_GRAPH) && !sim_throttle_take(r, &rt))
        goto out;
    if (rt.area == AREA_ARM && (!sim_authz_check(r, &rt) || !sim_scope_faults_check(r, &rt))) {
        sim_stats_mutation(r); /* refused writes are recorded too, with their status */
        goto out;
    }
    if (rt.area == AREA_GRAPH && !sim_graph_roles_check(r, &rt))
        goto out;
    rt.fn(r);
    if (is_mutation(r, &rt))
        sim_stats_mutation(r);
out:
    if (mutating)
        sim_gen++; /* text rendered during the change is stale too */
    pthread_mutex_unlock(&S.mu);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct sim_req *r)
{
    /* the body (malloc'd) is handed to MHD, which frees it: a listing's page is megabytes */
    struct MHD_Response *resp =
        r->resp ? MHD_create_response_from_buffer(strlen(r->resp), r->resp, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    if (r->resp)
        MHD_add_response_header(resp, "Content-Type", r->content_type);
    r->resp = NULL; /* MHD's now */
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr_names[i], r->hdr_vals[i]);
    ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ctx)
{
    struct sim_req *r = *ctx;
    (void)cls;
    (void)version;

    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->conn = c;
        r->method = method;
        r->url = url;
        r->status = 500;
        *ctx = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->body_len + *upload_size > SIM_MAX_BODY)
            return MHD_NO;
        r->body = xrealloc(r->body, r->body_len + *upload_size + 1);
        memcpy(r->body + r->body_len, upload, *upload_size);
        r->body_len += *upload_size;
        r->body[r->body_len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    run(r);
    if (r->reset)
        return MHD_NO;
    return queue(c, r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    if (*ctx)
        req_free(*ctx);
    *ctx = NULL;
}

int sim_http_start(const char *addr, int port, const char *cert_pem, const char *key_pem,
                   int threads)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -1;
    daemon_ = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!daemon_)
        return -1;
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port_ = info ? info->port : port;
    return port_;
}

void sim_http_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}

char *sim_urlenc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = xmalloc(xadd(xmul(strlen(s), 3), 1));
    size_t n = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-_.~$()", c)) {
            o[n++] = (char)c;
        } else {
            o[n++] = '%';
            o[n++] = hex[c >> 4];
            o[n++] = hex[c & 15];
        }
    }
    o[n] = '\0';
    return o;
}

bool sim_arm_route(struct sim_route *rt, sim_handler fn, const char *op, int tkind, const char *sub)
{
    rt->fn = fn;
    rt->op = op;
    rt->area = AREA_ARM;
    rt->tkind = tkind;
    rt->sub = sub;
    return true;
}
