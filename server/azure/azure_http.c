/* azure_http.c: one logical request to ARM, Graph, the token endpoint or IMDS on libcurl:
 * throttle bucket, bearer token, x-ms-client-request-id, capped body, header capture, and the
 * retry loop (429/5xx/network, Retry-After or backoff with jitter, bounded in attempts and
 * time). Connections are reused through the client's curl share handle. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define HTTP_HEADER_MAX 8192

void azure_response_init(struct azure_response *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, 0);
    r->retry_after_ms = -1;
}

void azure_response_cleanup(struct azure_response *r)
{
    if (r == NULL)
        return;
    buf_cleanup(&r->body);
    free(r->location);
    free(r->async_op);
    r->location = r->async_op = NULL;
}

/* Per-attempt state the curl callbacks fill. */
struct attempt {
    struct azure_response *rs;
    long remaining[AZURE_OP_KINDS]; /* x-ms-ratelimit-remaining-{subscription,tenant}-* */
    bool too_large;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct attempt *a = arg;

    if (buf_append(&a->rs->body, p, size * n) != ERR_OK) {
        a->too_large = true;
        return 0;
    }
    return size * n;
}

static char *trim_dup(const char *v, size_t n)
{
    while (n > 0 && isspace((unsigned char)*v)) {
        v++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    return xstrndup(v, n);
}

static void on_ratelimit(struct attempt *a, const char *name, const char *value)
{
    static const char *const kinds[AZURE_OP_KINDS] = {"reads", "writes", "deletes"};
    const char *tail = NULL;
    char *end;
    long v;

    if (strncasecmp(name, "x-ms-ratelimit-remaining-subscription-", 38) == 0)
        tail = name + 38;
    else if (strncasecmp(name, "x-ms-ratelimit-remaining-tenant-", 32) == 0)
        tail = name + 32;
    if (tail == NULL)
        return;
    v = strtol(value, &end, 10);
    if (end == value || v < 0)
        return;
    for (int k = 0; k < AZURE_OP_KINDS; k++) {
        if (strcasecmp(tail, kinds[k]) == 0 && (a->remaining[k] < 0 || v < a->remaining[k]))
            a->remaining[k] = v;
    }
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct attempt *a = arg;
    size_t len = size * n;
    const char *colon = memchr(p, ':', len);
    char name[96];
    char *value;
    size_t nlen;

    if (colon == NULL || len > HTTP_HEADER_MAX)
        return len;
    nlen = (size_t)(colon - p);
    if (nlen >= sizeof(name))
        return len;
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    value = trim_dup(colon + 1, len - nlen - 1);
    if (strcasecmp(name, "Location") == 0) {
        free(a->rs->location);
        a->rs->location = value;
        value = NULL;
    } else if (strcasecmp(name, "Azure-AsyncOperation") == 0) {
        free(a->rs->async_op);
        a->rs->async_op = value;
        value = NULL;
    } else if (strcasecmp(name, "Retry-After") == 0) {
        a->rs->retry_after_ms = azure_retry_after_parse(value, clock_now_ms());
    } else if (strcasecmp(name, "x-ms-request-id") == 0 || strcasecmp(name, "request-id") == 0) {
        azure_strlcpy(a->rs->request_id, value, sizeof(a->rs->request_id));
    } else {
        on_ratelimit(a, name, value);
    }
    free(value);
    return len;
}

static void reset_response(struct azure_response *rs, size_t max)
{
    azure_response_cleanup(rs);
    azure_response_init(rs);
    rs->body.max = max;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *n = curl_slist_append(h, line);

    if (n == NULL)
        abort(); /* out of memory */
    return n;
}

static struct curl_slist *build_headers(const struct azure_request *rq, const char *token,
                                        const char *request_id)
{
    struct curl_slist *h = NULL;
    char line[128];

    h = add_header(h, "Accept: application/json");
    h = add_header(h, "Expect:");
    /* ARM reads x-ms-client-request-id (azure-wire.md section 1); Graph documents
     * client-request-id
     * (https://learn.microsoft.com/graph/best-practices-concept#reliability-and-support) */
    snprintf(line, sizeof(line), "%s: %s",
             rq->api == AZURE_API_GRAPH ? "client-request-id" : "x-ms-client-request-id",
             request_id);
    h = add_header(h, line);
    if (rq->api == AZURE_API_ARM)
        h = add_header(h, "x-ms-return-client-request-id: true");
    if (rq->api == AZURE_API_IMDS)
        h = add_header(h, "Metadata: true");
    if (rq->body != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s",
                 rq->content_type != NULL ? rq->content_type : "application/json");
        h = add_header(h, line);
    }
    for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
        h = add_header(h, rq->headers[i]);
    if (token != NULL) {
        char *auth = xasprintf("Authorization: Bearer %s", token);

        h = add_header(h, auth);
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    return h;
}

/* One request on the wire. Returns the CURLcode; rs and a are filled. */
static CURLcode perform(struct azure_client *c, const struct azure_request *rq, const char *token,
                        const char *request_id, struct attempt *a)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h;
    CURLcode cc;

    if (e == NULL)
        return CURLE_OUT_OF_MEMORY;
    h = build_headers(rq, token, request_id);
    curl_easy_setopt(e, CURLOPT_URL, rq->url);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vmlogind/" VMLOGIND_VERSION);
    curl_easy_setopt(e, CURLOPT_SHARE, (CURLSH *)c->curl_share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    if (rq->api == AZURE_API_IMDS)
        curl_easy_setopt(e, CURLOPT_PROXY, ""); /* IMDS is never proxied */
    if (c->ca_bundle != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    if (rq->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(rq->body));
    }
    if (strcmp(rq->method, "GET") != 0 && !(strcmp(rq->method, "POST") == 0 && rq->body != NULL))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    if (strcmp(rq->method, "POST") == 0 && rq->body == NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(e);
    if (cc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->rs->status);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    return cc;
}

static struct azure_throttle *bucket_of(struct azure_client *c, const struct azure_request *rq,
                                        const char **key)
{
    if (rq->api == AZURE_API_ARM) {
        *key = rq->subscription != NULL ? rq->subscription : "tenant";
        return c->arm_throttle;
    }
    if (rq->api == AZURE_API_GRAPH) {
        *key = "graph";
        return c->graph_throttle;
    }
    return NULL;
}

static const char *scope_of(struct azure_client *c, const struct azure_request *rq)
{
    if (rq->api == AZURE_API_ARM)
        return c->cloud.arm_scope;
    if (rq->api == AZURE_API_GRAPH)
        return c->cloud.graph_scope;
    return NULL;
}

static bool transport_retriable(CURLcode cc, bool idempotent)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return true; /* nothing was sent */
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return idempotent;
    default:
        return false;
    }
}

static bool status_retriable(const struct azure_request *rq, long status)
{
    if (rq->api == AZURE_API_IMDS && (status == 404 || status == 410))
        return true; /* IMDS is updating or not ready */
    return azure_retry_status_retriable(status);
}

static bool token_rejected(const struct azure_error *ae)
{
    return ae->status == 401 && (azure_error_is(ae, "InvalidAuthenticationToken") ||
                                 azure_error_is(ae, "ExpiredAuthenticationToken"));
}

/* State of one logical call across its attempts. */
struct call {
    int64_t start;
    int64_t deadline;
    int attempts;
    int throttled;
    bool reauthed;
    char request_id[UUID_STR_LEN + 64];
};

/* Decides whether to try again and how long to wait first; -1 means stop. */
static int64_t next_wait(struct azure_client *c, const struct azure_request *rq, struct call *k,
                         CURLcode cc, const struct azure_response *rs, bool idempotent)
{
    uint32_t rnd;
    int64_t wait;

    if (k->attempts >= c->retry_max_attempts)
        return -1;
    if (cc != CURLE_OK ? !transport_retriable(cc, idempotent)
                       : !(idempotent && status_retriable(rq, rs->status)))
        return -1;
    uuid_random_bytes(&rnd, sizeof(rnd));
    wait =
        azure_retry_backoff_ms(c->retry_backoff_base_ms, c->retry_backoff_max_ms, k->attempts, rnd);
    if (cc == CURLE_OK && rs->retry_after_ms >= 0)
        wait = rs->retry_after_ms;
    if (clock_mono_ms() + wait > k->deadline)
        return -1;
    return wait;
}

/* Hands the request's ticket back to its bucket with what the answer said (status, remaining
 * counts, the end of a 429's Retry-After); a transport failure tells nothing. */
static void observe(struct azure_client *c, const struct azure_request *rq, const struct attempt *a,
                    CURLcode cc, uint64_t ticket, int64_t backoff_ms)
{
    const char *key = NULL;
    struct azure_throttle *t = bucket_of(c, rq, &key);
    struct azure_throttle_answer ans = {.status = cc == CURLE_OK ? a->rs->status : 0};

    if (t == NULL)
        return;
    memcpy(ans.remaining, a->remaining, sizeof(ans.remaining));
    if (ans.status == 429)
        ans.blocked_until_ms =
            clock_mono_ms() + (a->rs->retry_after_ms >= 0 ? a->rs->retry_after_ms : backoff_ms);
    azure_throttle_done(t, key, azure_throttle_kind(rq->method), ticket, &ans);
}

static void fail(struct azure_error *ae, const struct azure_response *rs, CURLcode cc,
                 const struct attempt *a)
{
    int attempts = ae->attempts;

    azure_error_clear(ae);
    ae->attempts = attempts;
    if (cc != CURLE_OK) {
        ae->transport = a->too_large ? CURLE_WRITE_ERROR : (int)cc;
        snprintf(ae->message, sizeof(ae->message), "%s",
                 a->too_large ? "response body over the size cap" : curl_easy_strerror(cc));
        return;
    }
    azure_error_parse(ae, rs->status, rs->body.data, rs->body.len);
    ae->retry_after_ms = rs->retry_after_ms;
    azure_strlcpy(ae->request_id, rs->request_id, sizeof(ae->request_id));
}

/* Fetches the token and waits for the bucket to let the request out (*ticket, to hand back
 * with observe); ERR_OK or the error (ae filled). */
static enum err prepare(struct azure_client *c, const struct azure_request *rq, struct call *k,
                        char **token, uint64_t *ticket, struct azure_error *ae)
{
    const char *key = NULL;
    struct azure_throttle *t = bucket_of(c, rq, &key);
    const char *scope = scope_of(c, rq);
    enum err rc;

    if (scope != NULL) {
        rc = azure_token_get(c, scope, token, NULL, ae);
        if (rc != ERR_OK)
            return rc;
    }
    if (t != NULL && rq->yields) {
        int64_t wait = azure_throttle_try_yielding(t, key, azure_throttle_kind(rq->method),
                                                   clock_mono_ms(), ticket);
        if (wait == 0)
            return ERR_OK;
        azure_error_clear(ae);
        ae->status = 429;
        ae->retry_after_ms = wait;
        azure_strlcpy(ae->code, "ClientThrottled", sizeof(ae->code));
        azure_strlcpy(ae->message,
                      "standing back: the subscription's write tokens are kept for VM changes "
                      "under way",
                      sizeof(ae->message));
        return ERR_CLOUD_THROTTLED;
    }
    if (t != NULL && azure_throttle_acquire(t, key, azure_throttle_kind(rq->method), k->deadline,
                                            ticket) != ERR_OK) {
        azure_error_clear(ae);
        ae->status = 429;
        azure_strlcpy(ae->code, "ClientThrottled", sizeof(ae->code));
        azure_strlcpy(ae->message, "client-side throttle bucket empty past the retry deadline",
                      sizeof(ae->message));
        return ERR_CLOUD_THROTTLED;
    }
    return ERR_OK;
}

static void log_retry(const struct azure_request *rq, const struct call *k, CURLcode cc,
                      const struct azure_response *rs, int64_t wait)
{
    log_warn("azure_retry",
             "op=%s method=%s status=%ld transport=%d attempt=%d wait_ms=%lld "
             "request_id=%s ms_request_id=%s",
             rq->op != NULL ? rq->op : "-", rq->method, cc == CURLE_OK ? rs->status : 0L, (int)cc,
             k->attempts, (long long)wait, k->request_id,
             rs->request_id[0] != '\0' ? rs->request_id : "-");
}

/* Wipes and frees a bearer token (NULL: nothing). */
static void drop_token(char *token)
{
    if (token != NULL)
        memset(token, 0, strlen(token));
    free(token);
}

static enum err send_loop(struct azure_client *c, const struct azure_request *rq, struct call *k,
                          struct azure_response *rs, struct azure_error *ae)
{
    bool idempotent = rq->force_idempotent || azure_retry_method_idempotent(rq->method);
    const char *scope = scope_of(c, rq);

    for (;;) {
        struct attempt a = {.rs = rs, .remaining = {-1, -1, -1}};
        char *token = NULL;
        uint64_t ticket = 0;
        CURLcode cc;
        int64_t wait;
        enum err rc = prepare(c, rq, k, &token, &ticket, ae);

        if (rc != ERR_OK) {
            drop_token(token); /* fetched before the bucket said no */
            return rc;
        }
        reset_response(rs, c->max_response_bytes);
        k->attempts++;
        ae->attempts = k->attempts;
        cc = perform(c, rq, token, k->request_id, &a);
        drop_token(token);
        if (cc == CURLE_OK && rs->status == 429)
            k->throttled++;
        if (cc == CURLE_WRITE_ERROR && a.too_large)
            cc = CURLE_FILESIZE_EXCEEDED; /* never retried */
        wait = next_wait(c, rq, k, cc, rs, idempotent);
        observe(c, rq, &a, cc, ticket, wait > 0 ? wait : c->retry_backoff_base_ms);
        if (cc == CURLE_OK && rs->status < 400)
            return ERR_OK;
        fail(ae, rs, cc, &a);
        if (cc == CURLE_OK && scope != NULL && !k->reauthed && token_rejected(ae)) {
            /* The cached token was refused (expired or revoked early): fetch a new one once. */
            k->reauthed = true;
            azure_token_invalidate(c, scope);
            continue;
        }
        if (wait < 0)
            return azure_error_to_err(ae);
        log_retry(rq, k, cc, rs, wait);
        if (wait > 0)
            clock_sleep_ms(wait);
    }
}

enum err azure_http_send(struct azure_client *c, const struct azure_request *rq,
                         struct azure_response *rs, struct azure_error *ae)
{
    struct call k = {.start = clock_mono_ms()};
    enum err rc;

    k.deadline = k.start + c->retry_max_total_ms;
    if (rq->request_id != NULL)
        azure_strlcpy(k.request_id, rq->request_id, sizeof(k.request_id));
    else
        uuid_v4(k.request_id);
    azure_error_clear(ae);
    azure_response_init(rs);
    rc = send_loop(c, rq, &k, rs, ae);
    azure_strlcpy(ae->client_request_id, k.request_id, sizeof(ae->client_request_id));
    if (rc == ERR_OK) /* a success is quoted too (an operation item's step) */
        azure_strlcpy(ae->request_id, rs->request_id, sizeof(ae->request_id));
    azure_metrics_record(rq->op, k.attempts, k.throttled, rc != ERR_OK, clock_mono_ms() - k.start);
    if (rc != ERR_OK)
        log_info("azure_error",
                 "op=%s method=%s status=%ld code=%s inner=%s attempts=%d "
                 "request_id=%s ms_request_id=%s",
                 rq->op != NULL ? rq->op : "-", rq->method, ae->status,
                 ae->code[0] != '\0' ? ae->code : "-", ae->inner[0] != '\0' ? ae->inner : "-",
                 k.attempts, k.request_id, ae->request_id[0] != '\0' ? ae->request_id : "-");
    else
        log_debug("azure_call", "op=%s method=%s status=%ld attempts=%d ms=%lld request_id=%s",
                  rq->op != NULL ? rq->op : "-", rq->method, rs->status, k.attempts,
                  (long long)(clock_mono_ms() - k.start), k.request_id);
    return rc;
}

enum err azure_send_json(struct azure_client *c, const struct azure_request *rq, json_t **out,
                         struct azure_error *ae)
{
    struct azure_response rs;
    enum err rc = azure_http_send(c, rq, &rs, ae);

    *out = NULL;
    if (rc == ERR_OK) {
        *out = azure_json_load(&rs.body);
        if (*out == NULL && rs.status != 204) {
            azure_error_clear(ae);
            ae->status = rs.status;
            azure_strlcpy(ae->code, "InvalidResponseBody", sizeof(ae->code));
            azure_strlcpy(ae->message, "response body is not JSON", sizeof(ae->message));
            rc = ERR_CLOUD;
        }
    }
    azure_response_cleanup(&rs);
    return rc;
}
