/* http_guard.c: keeps slow clients from holding the server's connections (DESIGN §6). Every
 * TCP connection is tracked from accept to close with the phase it is in. A connection that
 * has not finished its request headers within header_timeout (an idle keep-alive connection
 * counts: it is waiting for the next headers) or its body within request_timeout is shut
 * down, however slowly it keeps trickling bytes: libmicrohttpd's own timeout restarts on every
 * byte, this deadline does not. When a connection starts, one address may hold max_per_ip
 * connections, and near max_connections a reserve is kept free: in both cases the oldest
 * connection still in its header phase makes room (for the address limit that may be the new
 * one itself), so a prompt caller (a health check, an authenticated portal) is served while
 * stalled ones go. Limits are enforced as the connection is registered, under the lock, so
 * accepts racing on several threads cannot overshoot them. It knows nothing of requests. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define SWEEP_MS 200
#define SUMMARY_MS 10000

/* waiting for headers; receiving the body; handling and answering (no deadline of ours) */
enum { PH_HEADER = 0, PH_BODY, PH_SERVE };

static const char *const reason_names[HTTP_GUARD_NREASONS] = {
    [HTTP_GUARD_HEADER_TIMEOUT] = "header_timeout",
    [HTTP_GUARD_BODY_TIMEOUT] = "body_timeout",
    [HTTP_GUARD_PER_IP] = "per_ip",
    [HTTP_GUARD_RESERVE] = "reserve",
    [HTTP_GUARD_REFUSED_PER_IP] = "refused_per_ip",
};

struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    int family;
    unsigned char ip[16];
    _Atomic int64_t phase_start_ms;
    _Atomic int phase;
    bool evicted; /* shut down by the guard; under mu */
};

struct http_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t sweeper;
    bool stop;
    bool started;
    struct http_conn *head;
    unsigned live; /* tracked and not evicted */
    unsigned soft_limit;
    unsigned per_ip;
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
    _Atomic uint64_t count[HTTP_GUARD_NREASONS];
};

static void ip_of(const struct sockaddr *sa, int *family, unsigned char ip[16])
{
    memset(ip, 0, 16);
    *family = sa != NULL ? sa->sa_family : AF_UNSPEC;
    if (*family == AF_INET)
        memcpy(ip, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    else if (*family == AF_INET6)
        memcpy(ip, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

static bool same_ip(const struct http_conn *c, int family, const unsigned char ip[16])
{
    return c->family == family && memcmp(c->ip, ip, 16) == 0;
}

/* Shuts the socket down so the connection's own thread reads EOF and closes it; the fd stays
 * valid until then because NOTIFY_CLOSED (which unlinks c under mu) precedes the close. */
static void evict(struct http_guard *g, struct http_conn *c, enum http_guard_reason why)
{
    (void)shutdown(c->fd, SHUT_RDWR);
    c->evicted = true;
    g->live--;
    atomic_fetch_add(&g->count[why], 1);
}

/* The connection that has waited longest for its headers (of one address if ip is given),
 * other than skip. */
static struct http_conn *oldest_header(struct http_guard *g, int family, const unsigned char *ip,
                                       const struct http_conn *skip)
{
    struct http_conn *best = NULL;
    int64_t best_start = 0;

    for (struct http_conn *c = g->head; c != NULL; c = c->next) {
        int64_t start = atomic_load(&c->phase_start_ms);
        if (c == skip || c->evicted || atomic_load(&c->phase) != PH_HEADER)
            continue;
        if (ip != NULL && !same_ip(c, family, ip))
            continue;
        if (best == NULL || start < best_start) {
            best = c;
            best_start = start;
        }
    }
    return best;
}

/* c was just registered: holds its address to per_ip (the oldest waiting for headers goes,
 * the new one included) and keeps the reserve (never by closing the new one). Under mu. */
static void enforce(struct http_guard *g, struct http_conn *c)
{
    unsigned same = 0;

    for (struct http_conn *o = g->head; o != NULL; o = o->next)
        if (!o->evicted && same_ip(o, c->family, c->ip))
            same++;
    while (g->per_ip > 0 && same > g->per_ip) {
        struct http_conn *victim = oldest_header(g, c->family, c->ip, NULL);
        if (victim == NULL)
            break;
        evict(g, victim, victim == c ? HTTP_GUARD_REFUSED_PER_IP : HTTP_GUARD_PER_IP);
        same--;
    }
    if (!c->evicted && g->live > g->soft_limit) {
        struct http_conn *victim = oldest_header(g, AF_UNSPEC, NULL, c);
        if (victim != NULL)
            evict(g, victim, HTTP_GUARD_RESERVE);
    }
}

void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct http_guard *g = cls;
    struct http_conn *c = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        c = xcalloc(1, sizeof(*c));
        c->fd = fd != NULL ? fd->connect_fd : -1;
        ip_of(addr != NULL ? addr->client_addr : NULL, &c->family, c->ip);
        atomic_store(&c->phase_start_ms, clock_mono_ms());
        atomic_store(&c->phase, PH_HEADER);
        pthread_mutex_lock(&g->mu);
        c->next = g->head;
        if (g->head != NULL)
            g->head->prev = c;
        g->head = c;
        g->live++;
        enforce(g, c);
        pthread_mutex_unlock(&g->mu);
        *socket_context = c;
        return;
    }
    if (c == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (!c->evicted)
        g->live--;
    pthread_mutex_unlock(&g->mu);
    free(c);
    *socket_context = NULL;
}

static void set_phase(struct MHD_Connection *conn, int phase)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = info != NULL ? info->socket_context : NULL;

    if (c == NULL)
        return;
    /* the start first: the sweeper never sees a new phase with the old phase's start */
    atomic_store(&c->phase_start_ms, clock_mono_ms());
    atomic_store(&c->phase, phase);
}

void http_guard_headers_done(struct MHD_Connection *conn)
{
    set_phase(conn, PH_BODY);
}

void http_guard_body_done(struct MHD_Connection *conn)
{
    set_phase(conn, PH_SERVE);
}

void http_guard_request_done(struct MHD_Connection *conn)
{
    set_phase(conn, PH_HEADER);
}

static void sweep(struct http_guard *g, int64_t now)
{
    for (struct http_conn *c = g->head; c != NULL; c = c->next) {
        int phase = atomic_load(&c->phase);
        int64_t age = now - atomic_load(&c->phase_start_ms);
        if (c->evicted)
            continue;
        if (phase == PH_HEADER && age > g->header_timeout_ms)
            evict(g, c, HTTP_GUARD_HEADER_TIMEOUT);
        else if (phase == PH_BODY && age > g->body_timeout_ms)
            evict(g, c, HTTP_GUARD_BODY_TIMEOUT);
    }
}

/* One line per SUMMARY_MS at most, and only when something was closed: an attack must not
 * turn into a log flood. */
static void summarize(struct http_guard *g, uint64_t last[HTTP_GUARD_NREASONS])
{
    uint64_t d[HTTP_GUARD_NREASONS];
    bool any = false;

    for (int i = 0; i < HTTP_GUARD_NREASONS; i++) {
        uint64_t v = atomic_load(&g->count[i]);
        d[i] = v - last[i];
        last[i] = v;
        any = any || d[i] > 0;
    }
    if (any)
        log_warn("http_connections_closed",
                 "header_timeout=%llu body_timeout=%llu per_ip=%llu reserve=%llu "
                 "refused_per_ip=%llu window_s=%d",
                 (unsigned long long)d[HTTP_GUARD_HEADER_TIMEOUT],
                 (unsigned long long)d[HTTP_GUARD_BODY_TIMEOUT],
                 (unsigned long long)d[HTTP_GUARD_PER_IP],
                 (unsigned long long)d[HTTP_GUARD_RESERVE],
                 (unsigned long long)d[HTTP_GUARD_REFUSED_PER_IP], SUMMARY_MS / 1000);
}

static void *sweeper_main(void *arg)
{
    struct http_guard *g = arg;
    uint64_t last[HTTP_GUARD_NREASONS] = {0};
    int64_t next_summary = clock_mono_ms() + SUMMARY_MS;

    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec ts;
        int64_t now;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        now = clock_mono_ms();
        sweep(g, now);
        if (now >= next_summary) {
            summarize(g, last);
            next_summary = now + SUMMARY_MS;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

struct http_guard *http_guard_new(const struct http_options *o)
{
    struct http_guard *g = xcalloc(1, sizeof(*g));
    pthread_condattr_t ca;
    unsigned reserve = o->max_connections / 8;

    if (reserve < 2)
        reserve = 2;
    g->soft_limit = o->max_connections > reserve ? o->max_connections - reserve : 1;
    g->per_ip = o->max_connections_per_ip;
    g->header_timeout_ms = (int64_t)(o->header_timeout_s > 0 ? o->header_timeout_s : 10) * 1000;
    g->body_timeout_ms = (int64_t)(o->request_timeout_s > 0 ? o->request_timeout_s : 30) * 1000;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    g->started = pthread_create(&g->sweeper, NULL, sweeper_main, g) == 0;
    if (!g->started)
        log_error("http_guard_start_failed", "effect=\"slow clients are not cut off\"");
    return g;
}

void http_guard_free(struct http_guard *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->started)
        pthread_join(g->sweeper, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

enum err http_guard_metrics(struct http_guard *g, struct buf *out)
{
    enum err rc;
    unsigned live;

    pthread_mutex_lock(&g->mu);
    live = g->live;
    pthread_mutex_unlock(&g->mu);
    rc = buf_printf(out,
                    "# HELP vmlogind_http_connections Open client connections.\n"
                    "# TYPE vmlogind_http_connections gauge\nvmlogind_http_connections %u\n"
                    "# HELP vmlogind_http_connections_closed_total Connections the server closed "
                    "or refused to keep slow clients from holding it, by reason.\n"
                    "# TYPE vmlogind_http_connections_closed_total counter\n",
                    live);
    for (int i = 0; rc == ERR_OK && i < HTTP_GUARD_NREASONS; i++)
        rc = buf_printf(out, "vmlogind_http_connections_closed_total{reason=\"%s\"} %llu\n",
                        reason_names[i], (unsigned long long)atomic_load(&g->count[i]));
    return rc;
}
