/* api_events.c: GET /v1/events, the event log as Server-Sent Events. A stream replays what
 * followed its Last-Event-ID, then follows the log: a hub thread looks at the log's head every
 * events_poll_ms and wakes the parked streams when it moved (or a heartbeat is due); each
 * stream reads on from its own last seq and keeps only what its caller's scopes allow. Streams
 * are capped (events_max_streams, 503 beyond) and hold no thread while quiet. The events
 * themselves are written by the store's triggers, never here. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"
#include "vmlogind/store_events.h"
#include "vmlogind/xalloc.h"

#define EVENTS_BATCH 128              /* rows read per look at the log */
#define EVENTS_PENDING_MAX (1u << 20) /* what one fill may queue for a client */
#define EVENTS_RETRY_MS 2000          /* the reconnection delay suggested to clients */

struct api_events {
    struct app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct http_server *http; /* under mu: the server whose streams are woken, NULL detached */
    _Atomic long open;
    _Atomic unsigned long long opened;
    _Atomic unsigned long long refused;
    _Atomic unsigned long long sent;
};

/* One stream: its caller's copy (the request's is freed before the stream is), where it is in
 * the log, and bytes made but not yet taken by libmicrohttpd. */
struct events_client {
    struct api_events *hub;
    struct auth_caller *who;
    int64_t last_seq;
    int64_t last_write_ms;
    struct buf pending;
    size_t off;
};

bool api_events_parse_last_id(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n;

    if (s == NULL)
        return false;
    n = strlen(s);
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* ---- the hub ------------------------------------------------------------------------------ */

/* The head of the log, or -1 when it could not be read. */
static int64_t head(struct api_events *h)
{
    int64_t oldest, newest;
    struct err_detail d;

    if (store_events_bounds(h->app->store, &oldest, &newest, &d) != ERR_OK) {
        log_warn("events_poll_failed", "error=\"%s\"", d.msg);
        return -1;
    }
    return newest;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    ts->tv_sec += (time_t)(ms / 1000) + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* Wakes under mu, so that once api_events_serve(app, NULL) returns no wake reaches the server. */
static void *hub_run(void *arg)
{
    struct api_events *h = arg;
    const struct config *cfg = h->app->cfg;
    int64_t seen = -1, last_beat = clock_mono_ms();

    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        int64_t now = clock_mono_ms(), newest = -1;

        if (h->http != NULL && atomic_load(&h->open) > 0) {
            pthread_mutex_unlock(&h->mu);
            newest = head(h);
            pthread_mutex_lock(&h->mu);
        }
        if (h->http != NULL && newest >= 0 &&
            (newest != seen || now - last_beat >= cfg->events_heartbeat_s * 1000)) {
            last_beat = now;
            http_server_wake_streams(h->http);
        } else if (h->http != NULL && atomic_load(&h->open) > 0) {
            http_server_reap_streams(h->http);
        }
        if (newest >= 0)
            seen = newest;
        deadline_after(&ts, cfg->events_poll_ms);
        if (!h->stop)
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    store_thread_done(h->app->store);
    return NULL;
}

void api_events_serve(struct app *app, struct http_server *http)
{
    struct api_events *h = app->events;

    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->http = http;
    pthread_mutex_unlock(&h->mu);
}

enum err api_events_start(struct app *app, struct err_detail *d)
{
    struct api_events *h = xcalloc(1, sizeof(*h));

    h->app = app;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, hub_run, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return err_set(d, ERR_INTERNAL, "thread", "could not start the event hub");
    }
    app->events = h;
    return ERR_OK;
}

void api_events_stop(struct app *app)
{
    struct api_events *h = app->events;

    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    app->events = NULL;
    free(h);
}

enum err api_events_metrics(const struct app *app, struct buf *out)
{
    const struct api_events *h = app->events;

    if (h == NULL)
        return ERR_OK;
    return buf_printf(out,
                      "# HELP vmlogind_events_streams Event streams (GET /v1/events) open now.\n"
                      "# TYPE vmlogind_events_streams gauge\n"
                      "vmlogind_events_streams %ld\n"
                      "# HELP vmlogind_events_streams_opened_total Event streams opened.\n"
                      "# TYPE vmlogind_events_streams_opened_total counter\n"
                      "vmlogind_events_streams_opened_total %llu\n"
                      "# HELP vmlogind_events_streams_refused_total Event streams refused at "
                      "events_max_streams.\n"
                      "# TYPE vmlogind_events_streams_refused_total counter\n"
                      "vmlogind_events_streams_refused_total %llu\n"
                      "# HELP vmlogind_events_sent_total Events sent on streams.\n"
                      "# TYPE vmlogind_events_sent_total counter\n"
                      "vmlogind_events_sent_total %llu\n",
                      atomic_load(&h->open), atomic_load(&h->opened), atomic_load(&h->refused),
                      atomic_load(&h->sent));
}

/* ---- one stream --------------------------------------------------------------------------- */

static bool visible(const struct events_client *c, const struct store_event *e)
{
    return e->scope == NULL || auth_scope_allows(c->who, e->scope);
}

/* Appends the events after c->last_seq its caller may see, reading on past whole batches it
 * may not see, until something is queued or the log is exhausted. */
static enum err collect(struct events_client *c)
{
    struct store *st = c->hub->app->store;

    for (;;) {
        struct store_event *ev = NULL;
        size_t n = 0;
        struct err_detail d;
        enum err rc = store_events_after(st, c->last_seq, EVENTS_BATCH, &ev, &n, &d);

        if (rc != ERR_OK) {
            log_warn("events_read_failed", "error=\"%s\"", d.msg);
            return rc;
        }
        for (size_t i = 0; rc == ERR_OK && i < n; i++) {
            c->last_seq = ev[i].seq;
            if (!visible(c, &ev[i]))
                continue;
            rc = buf_printf(&c->pending, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)ev[i].seq,
                            ev[i].type, ev[i].data);
            atomic_fetch_add(&c->hub->sent, 1);
        }
        store_event_list_free(ev, n);
        if (rc != ERR_OK || n < EVENTS_BATCH || c->pending.len > 0)
            return rc;
    }
}

/* A little under the hub's wake period, so that the wake finds the heartbeat due. */
static int64_t heartbeat_ms(const struct config *cfg)
{
    int64_t ms = cfg->events_heartbeat_s * 1000 - cfg->events_poll_ms;
    return ms > 0 ? ms : 0;
}

static long events_fill(void *cls, char *out, size_t cap)
{
    struct events_client *c = cls;
    int64_t now = clock_mono_ms();
    size_t n;

    if (c->off >= c->pending.len) {
        buf_reset(&c->pending);
        c->off = 0;
        if (collect(c) != ERR_OK)
            return -1; /* the client reconnects with its Last-Event-ID */
        if (c->pending.len == 0 && now - c->last_write_ms >= heartbeat_ms(c->hub->app->cfg) &&
            buf_appends(&c->pending, ": keep-alive\n\n") != ERR_OK)
            return -1;
        if (c->pending.len == 0)
            return 0;
    }
    n = c->pending.len - c->off;
    if (n > cap)
        n = cap;
    memcpy(out, c->pending.data + c->off, n);
    c->off += n;
    c->last_write_ms = now;
    return (long)n;
}

static void events_done(void *cls)
{
    struct events_client *c = cls;

    atomic_fetch_sub(&c->hub->open, 1);
    auth_caller_free(c->who);
    buf_cleanup(&c->pending);
    free(c);
}

static const struct http_stream_ops events_ops = {.fill = events_fill, .done = events_done};

/* A slot under events_max_streams, or false. */
static bool take_slot(struct api_events *h)
{
    long cur = atomic_load(&h->open);

    do {
        if (cur >= (long)h->app->cfg->events_max_streams)
            return false;
    } while (!atomic_compare_exchange_weak(&h->open, &cur, cur + 1));
    atomic_fetch_add(&h->opened, 1);
    return true;
}

/* Where the stream starts: after Last-Event-ID when it is still in the log, else at the head
 * with a "gap" event saying what was lost (ids newer than the head, from another database,
 * start at the head too). */
static bool start_point(struct http_request *req, struct events_client *c)
{
    const char *h = http_header(req, "Last-Event-ID");
    int64_t last = 0, oldest, newest;
    struct err_detail d;
    enum err rc;

    if (h != NULL && !api_events_parse_last_id(h, &last)) {
        struct violations vs;
        violations_init(&vs);
        violations_add(&vs, "Last-Event-ID", "invalid",
                       "an event id: the decimal seq of an event (1 to 19 digits)");
        http_problem_reply(req, "invalid_last_event_id",
                           "the Last-Event-ID header is not an event id", &vs);
        return false;
    }
    rc = store_events_bounds(c->hub->app->store, &oldest, &newest, &d);
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return false;
    }
    c->last_seq = h != NULL && last <= newest ? last : newest;
    if (buf_printf(&c->pending, "retry: %d\n\n", EVENTS_RETRY_MS) != ERR_OK)
        return false;
    if (h != NULL && (last > newest || (oldest > 0 && last < oldest - 1)) &&
        buf_printf(&c->pending,
                   "event: gap\ndata: {\"lastEventId\":%lld,\"oldest\":%lld,\"newest\":%lld}\n\n",
                   (long long)last, (long long)oldest, (long long)newest) != ERR_OK)
        return false;
    return true;
}

void api_events_get(struct http_request *req)
{
    struct app *app = req->app;
    struct api_events *h = app->events;
    struct events_client *c;

    if (h == NULL || !take_slot(h)) {
        if (h != NULL)
            atomic_fetch_add(&h->refused, 1);
        http_add_header(req, "Retry-After",
                        http_printf(req, "%lld", (long long)app->cfg->events_heartbeat_s));
        http_problem_reply(req, "too_many_streams",
                           http_printf(req, "%lld event streams are open; retry later",
                                       (long long)app->cfg->events_max_streams),
                           NULL);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    c->hub = h;
    c->who = auth_caller_dup(api_caller(req));
    c->last_write_ms = clock_mono_ms();
    buf_init(&c->pending, EVENTS_PENDING_MAX);
    if (!start_point(req, c)) {
        http_problem_reply(req, "internal", "the stream could not start", NULL);
        events_done(c);
        return;
    }
    http_add_header(req, "X-Accel-Buffering", "no"); /* proxies: pass each event on at once */
    http_reply_stream(req, 200, "text/event-stream; charset=utf-8", &events_ops, c);
}
