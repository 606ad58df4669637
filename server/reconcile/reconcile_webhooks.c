/* reconcile_webhooks.c: the webhook delivery workers. Each worker owns the subscriptions whose
 * id hashes to it, so one subscription's messages leave one at a time, oldest first. An
 * attempt signs the frozen body with the subscription's secret (and the previous one during a
 * rotation's overlap), sends it once with libcurl (no redirects, no proxy, capped answer,
 * connect and total timeouts), checks the address it actually connects to (a DNS answer that
 * changed since the URL was checked cannot reach a private address), and records the outcome.
 * Secrets and bodies are never logged. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_webhook.h"
#include "vmlogind/reconcile_webhooks.h"
#include "vmlogind/store.h"
#include "vmlogind/store_webhooks.h"
#include "vmlogind/xalloc.h"

#define WH_BATCH 64
#define WH_WORKERS_MAX 16
#define WH_RESPONSE_MAX 65536 /* read at most this much of an answer */
#define WH_TRIM_EVERY_MS (3600 * 1000)
#define WH_CLAIM_MARGIN_MS 5000 /* a claim lasts the attempt's timeout and this */

struct reconcile_webhooks {
    const struct config *cfg;
    struct store *st;
    int64_t schedule[MODEL_WEBHOOK_SCHEDULE_MAX];
    size_t nschedule;
    pthread_t threads[WH_WORKERS_MAX];
    size_t nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    _Atomic unsigned long long succeeded, failed, given_up, refused, disabled;
};

struct worker {
    struct reconcile_webhooks *w;
    size_t k;
    uint64_t rng;
};

/* One transfer's view of its connection and answer. */
struct transfer {
    const char *host;
    bool listed;
    bool refused;
    size_t received;
    bool capped;
};

static uint64_t next_rand(struct worker *wk)
{
    wk->rng ^= wk->rng << 13;
    wk->rng ^= wk->rng >> 7;
    wk->rng ^= wk->rng << 17;
    return wk->rng;
}

static size_t hash_id(const char *s)
{
    size_t h = 5381;

    for (; *s != '\0'; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

/* libcurl asks for each socket it connects: the address is checked here, after resolution. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct transfer *t = clientp;

    (void)purpose;
    if (!t->listed && !model_webhook_addr_is_public(&a->addr, a->addrlen)) {
        t->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *clientp)
{
    struct transfer *t = clientp;

    (void)p;
    t->received += size * n;
    if (t->received > WH_RESPONSE_MAX) {
        t->capped = true;
        return 0; /* stop reading: the status line already told */
    }
    return size * n;
}

/* The webhook-signature value: the current secret's, then the previous one's in its overlap. */
static bool signature(const struct store_delivery *x, int64_t now_ms, int64_t ts, char *out,
                      size_t cap)
{
    char a[MODEL_WEBHOOK_SIG_MAX], b[MODEL_WEBHOOK_SIG_MAX];
    size_t len = strlen(x->body);

    if (!model_webhook_sign(x->secret, x->msg_id, ts, x->body, len, a))
        return false;
    if (x->prev_secret != NULL && x->prev_until > now_ms &&
        model_webhook_sign(x->prev_secret, x->msg_id, ts, x->body, len, b)) {
        snprintf(out, cap, "webhook-signature: %s %s", a, b);
        return true;
    }
    snprintf(out, cap, "webhook-signature: %s", a);
    return true;
}

static struct curl_slist *headers(const struct store_delivery *x, int64_t now_ms, char *err,
                                  size_t errcap)
{
    char line[256];
    int64_t ts = now_ms / 1000;
    struct curl_slist *h = NULL;

    if (!signature(x, now_ms, ts, line, sizeof(line))) {
        snprintf(err, errcap, "the subscription's secret cannot sign");
        return NULL;
    }
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "webhook-id: %s", x->msg_id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "webhook-timestamp: %lld", (long long)ts);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "Content-Type: application/json");
    return curl_slist_append(h, "User-Agent: vmlogind-webhooks");
}

static void setup(CURL *c, const struct config *cfg, const struct store_delivery *x,
                  struct curl_slist *h, struct transfer *t)
{
    curl_easy_setopt(c, CURLOPT_URL, x->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* a proxy would connect where we cannot check */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->webhook_connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->webhook_timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    if (cfg->ca_bundle[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_bundle);
}

/* One attempt: true on a 2xx; else err says why. *status gets the HTTP status (0: none). */
static bool send_once(const struct config *cfg, const struct store_delivery *x, int64_t now_ms,
                      long *status, char *err, size_t errcap)
{
    char host[MODEL_WEBHOOK_HOST_MAX + 1];
    struct violations vs;
    struct transfer t = {0};
    struct curl_slist *h;
    CURLcode rc;
    CURL *c;

    *status = 0;
    violations_init(&vs);
    if (!model_webhook_url_check(x->url, cfg->webhook_allowed_hosts, host, sizeof(host), &vs)) {
        snprintf(err, errcap, "refused: %s", vs.n > 0 ? vs.v[0].msg : "URL not allowed");
        return false;
    }
    h = headers(x, now_ms, err, errcap);
    c = curl_easy_init();
    if (h == NULL || c == NULL) {
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (c == NULL)
            snprintf(err, errcap, "could not start a transfer");
        return false;
    }
    t.host = host;
    t.listed = model_webhook_host_listed(cfg->webhook_allowed_hosts, host);
    setup(c, cfg, x, h, &t);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (t.refused)
        snprintf(err, errcap, "refused: %s resolves to an address that is not public", host);
    else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.capped))
        snprintf(err, errcap, "%s", curl_easy_strerror(rc));
    else if (*status < 200 || *status > 299)
        snprintf(err, errcap, "HTTP %ld", *status);
    else
        return true;
    return false;
}

/* Claims x for one attempt (see store_deliveries_claim): false when another replica or worker
 * has it. The claim outlasts the attempt's timeout by a margin, so a live sender's record
 * lands first. */
static bool claim(struct reconcile_webhooks *w, const struct store_delivery *x)
{
    struct err_detail d;
    bool claimed = false;
    int64_t until = clock_now_ms() + w->cfg->webhook_timeout_ms + WH_CLAIM_MARGIN_MS;

    if (store_deliveries_claim(w->st, x, until, &claimed, &d) != ERR_OK)
        log_warn("webhook_claim_failed", "delivery=%lld error=\"%s\"", (long long)x->id, d.msg);
    return claimed;
}

/* One attempt at x when this worker gets it (false: another has it). */
static bool deliver(struct worker *wk, const struct store_delivery *x)
{
    struct reconcile_webhooks *w = wk->w;
    char err[400] = "";
    long status = 0;
    bool ok, disabled = false;
    struct store_attempt a = {.error = err, .disable_after = w->cfg->webhook_disable_after};
    struct err_detail d;
    size_t idx = (size_t)x->attempts;

    if (!claim(w, x))
        return false;
    ok = send_once(w->cfg, x, clock_now_ms(), &status, err, sizeof(err));
    a.ok = ok;
    a.status = status;
    a.now = clock_now_ms();
    if (!ok && idx < w->nschedule) {
        int64_t base = w->schedule[idx];
        a.next_at = a.now + base + (int64_t)(next_rand(wk) % (uint64_t)(base / 5 + 1));
    }
    if (store_deliveries_record(w->st, x, &a, &disabled, &d) != ERR_OK)
        log_warn("webhook_record_failed", "delivery=%lld error=\"%s\"", (long long)x->id, d.msg);
    atomic_fetch_add(ok ? &w->succeeded : &w->failed, 1);
    if (strncmp(err, "refused", 7) == 0)
        atomic_fetch_add(&w->refused, 1);
    if (!ok && a.next_at == 0)
        atomic_fetch_add(&w->given_up, 1);
    if (disabled)
        atomic_fetch_add(&w->disabled, 1);
    log_info(ok ? "webhook_delivered" : "webhook_attempt_failed",
             "webhook=%s delivery=%lld msg=%s type=%s attempt=%lld status=%ld error=\"%s\""
             " retry_in_ms=%lld disabled=%d",
             x->webhook_id, (long long)x->id, x->msg_id, x->type, (long long)x->attempts + 1,
             status, err, a.next_at > 0 ? (long long)(a.next_at - a.now) : 0LL, disabled);
    return true;
}

static bool stopping(struct reconcile_webhooks *w)
{
    bool s;

    pthread_mutex_lock(&w->mu);
    s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* Sends this worker's share of what is due; the number sent. */
static size_t round_once(struct worker *wk)
{
    struct reconcile_webhooks *w = wk->w;
    struct store_delivery *due = NULL;
    struct err_detail d;
    size_t n = 0, sent = 0;

    if (store_deliveries_due(w->st, clock_now_ms(), WH_BATCH, &due, &n, &d) != ERR_OK) {
        log_warn("webhook_due_failed", "error=\"%s\"", d.msg);
        return 0;
    }
    for (size_t i = 0; i < n && !stopping(w); i++) {
        if (hash_id(due[i].webhook_id) % w->nthreads != wk->k)
            continue;
        if (deliver(wk, &due[i]))
            sent++;
    }
    store_delivery_list_free(due, n);
    return sent;
}

static void wait_ms(struct reconcile_webhooks *w, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += (time_t)(ms / 1000) + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&w->mu);
    if (!w->stop)
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    pthread_mutex_unlock(&w->mu);
}

static void *worker_run(void *arg)
{
    struct worker *wk = arg;
    struct reconcile_webhooks *w = wk->w;
    int64_t trimmed = 0;

    while (!stopping(w)) {
        int64_t now = clock_now_ms();
        struct err_detail d;
        if (wk->k == 0 && now - trimmed >= WH_TRIM_EVERY_MS) {
            trimmed = now;
            if (store_deliveries_trim(w->st, now - w->cfg->webhook_keep_s * 1000, &d) != ERR_OK)
                log_warn("webhook_trim_failed", "error=\"%s\"", d.msg);
        }
        if (round_once(wk) == 0)
            wait_ms(w, w->cfg->webhook_poll_ms);
    }
    store_thread_done(w->st);
    free(wk);
    return NULL;
}

enum err reconcile_webhooks_start(const struct config *cfg, struct store *st,
                                  struct reconcile_webhooks **out, struct err_detail *d)
{
    struct reconcile_webhooks *w = xcalloc(1, sizeof(*w));

    *out = NULL;
    if (!model_webhook_schedule_parse(cfg->webhook_retry_schedule_ms, w->schedule, &w->nschedule)) {
        free(w);
        return err_set(d, ERR_INVALID, "config",
                       "webhook_retry_schedule_ms: 1 to %d comma-separated ms values",
                       MODEL_WEBHOOK_SCHEDULE_MAX);
    }
    w->cfg = cfg;
    w->st = st;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    for (size_t k = 0; k < (size_t)cfg->webhook_workers && k < WH_WORKERS_MAX; k++) {
        struct worker *wk = xcalloc(1, sizeof(*wk));
        wk->w = w;
        wk->k = k;
        wk->rng = (uint64_t)clock_now_ms() * 2654435761u + k + 1;
        w->nthreads = k + 1; /* before the thread reads it */
        if (pthread_create(&w->threads[k], NULL, worker_run, wk) != 0) {
            free(wk);
            w->nthreads = k;
            reconcile_webhooks_stop(w);
            return err_set(d, ERR_INTERNAL, "thread", "could not start a webhook worker");
        }
    }
    *out = w;
    return ERR_OK;
}

void reconcile_webhooks_stop(struct reconcile_webhooks *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (size_t k = 0; k < w->nthreads; k++)
        pthread_join(w->threads[k], NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

enum err reconcile_webhooks_metrics(struct reconcile_webhooks *w, struct store *st, struct buf *out)
{
    int64_t pending = 0, oldest = 0, now = clock_now_ms();
    struct err_detail d;
    enum err rc;

    if (w == NULL)
        return ERR_OK;
    if (store_deliveries_pending(st, &pending, &oldest, &d) != ERR_OK)
        log_warn("webhook_metrics_failed", "error=\"%s\"", d.msg);
    rc = buf_printf(
        out,
        "# HELP vmlogind_webhook_attempts_total Webhook delivery attempts by outcome.\n"
        "# TYPE vmlogind_webhook_attempts_total counter\n"
        "vmlogind_webhook_attempts_total{outcome=\"succeeded\"} %llu\n"
        "vmlogind_webhook_attempts_total{outcome=\"failed\"} %llu\n"
        "# HELP vmlogind_webhook_refused_total Attempts refused by webhook_allowed_hosts or "
        "because the connected address was not public.\n"
        "# TYPE vmlogind_webhook_refused_total counter\n"
        "vmlogind_webhook_refused_total %llu\n"
        "# HELP vmlogind_webhook_deliveries_failed_total Deliveries that failed after their "
        "last retry.\n"
        "# TYPE vmlogind_webhook_deliveries_failed_total counter\n"
        "vmlogind_webhook_deliveries_failed_total %llu\n"
        "# HELP vmlogind_webhook_disabled_total Subscriptions disabled after failures in a row.\n"
        "# TYPE vmlogind_webhook_disabled_total counter\n"
        "vmlogind_webhook_disabled_total %llu\n"
        "# HELP vmlogind_webhook_queue_depth Deliveries pending to enabled subscriptions.\n"
        "# TYPE vmlogind_webhook_queue_depth gauge\n"
        "vmlogind_webhook_queue_depth %lld\n"
        "# HELP vmlogind_webhook_oldest_pending_seconds Age of the oldest pending delivery.\n"
        "# TYPE vmlogind_webhook_oldest_pending_seconds gauge\n"
        "vmlogind_webhook_oldest_pending_seconds %.3f\n",
        atomic_load(&w->succeeded), atomic_load(&w->failed), atomic_load(&w->refused),
        atomic_load(&w->given_up), atomic_load(&w->disabled), (long long)pending,
        oldest > 0 && now > oldest ? (double)(now - oldest) / 1000.0 : 0.0);
    return rc;
}
