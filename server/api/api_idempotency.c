/* api_idempotency.c: Idempotency-Key for POST (DESIGN §4). The first request with a key runs
 * and its response is kept for a day; a retry with the same key and body gets that response
 * again (Idempotency-Replayed: true); the same key with another body is refused (422); a retry
 * while the first is still running gets 409 with Retry-After. Keys are per caller. A running
 * claim is a lease of IDEM_LEASE_MS, and claims left by a crash are released at start
 * (api_idem_recover), so a crash never strands a key for the day. */
#include <stdio.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/store_idempotency.h"

#define IDEM_KEY_MAX 255
#define IDEM_TTL_MS (24LL * 3600 * 1000)
/* Requests record intent and never wait on Azure: two minutes is far beyond any of them. */
#define IDEM_LEASE_MS (120LL * 1000)

static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return true;
}

static void request_hash(const struct http_request *req, char out[65])
{
    struct buf b;

    buf_init(&b, req->body.len + 4096);
    if (buf_printf(&b, "%s\n%s\n", req->method, req->path) != ERR_OK ||
        buf_append(&b, req->body.data ? req->body.data : "", req->body.len) != ERR_OK) {
        snprintf(out, 65, "unhashable");
        buf_cleanup(&b);
        return;
    }
    sha256_hex(b.data, b.len, out);
    buf_cleanup(&b);
}

bool api_idem_before(struct http_request *req, void *arg)
{
    struct app *app = req->app;
    struct store_idem prior = {0};
    struct err_detail d = {0};
    const char *key;
    char hash[65];
    int64_t now = clock_now_ms();
    enum err e;
    (void)arg;

    if (strcmp(req->method, "POST") != 0)
        return true;
    key = http_header(req, "Idempotency-Key");
    if (key == NULL)
        return true;
    if (!key_ok(key)) {
        struct violations vs;
        violations_init(&vs);
        violations_add(&vs, "Idempotency-Key", "invalid",
                       "1 to %d printable ASCII characters without spaces", IDEM_KEY_MAX);
        http_reply_problem(req, 400, "invalid_idempotency_key",
                           "the Idempotency-Key header is malformed", &vs);
        return false;
    }
    request_hash(req, hash);
    e = store_idem_claim(app->store, req->subject, key, hash, now, now + IDEM_LEASE_MS, &prior, &d);
    if (e == ERR_OK) {
        req->idem_key = http_strdup(req, key);
        return true;
    }
    if (e != ERR_CONFLICT) {
        http_reply_error(req, e, &d);
        return false;
    }
    if (strcmp(prior.request_hash ? prior.request_hash : "", hash) != 0) {
        http_reply_problem(req, 422, "idempotency_key_reused",
                           "this Idempotency-Key was used for a different request", NULL);
    } else if (prior.response_status == 0) {
        http_add_header(req, "Retry-After", "1");
        http_reply_problem(req, 409, "idempotency_in_progress",
                           "the first request with this Idempotency-Key is still running", NULL);
    } else {
        const char *body = prior.response_body ? prior.response_body : "";
        if (prior.location != NULL)
            http_add_header(req, "Location", prior.location);
        http_add_header(req, "Idempotency-Replayed", "true");
        http_reply_raw(req, prior.response_status,
                       prior.response_status >= 400 ? "application/problem+json"
                                                    : "application/json",
                       body, strlen(body));
    }
    store_idem_clear(&prior);
    return false;
}

void api_idem_after(struct http_request *req, void *arg)
{
    struct app *app = req->app;
    struct err_detail d;
    const char *location = NULL;
    enum err e;
    (void)arg;

    if (req->idem_key == NULL)
        return;
    for (size_t i = 0; i < req->nextra; i++)
        if (strcmp(req->extra_names[i], "Location") == 0)
            location = req->extra_values[i];
    /* keep what a retry should see again; forget what a retry might fix */
    if (req->status < 500 && req->status != 429)
        e = store_idem_finish(app->store, req->subject, req->idem_key, req->status,
                              req->resp ? req->resp : "", location, clock_now_ms() + IDEM_TTL_MS,
                              &d);
    else
        e = store_idem_release(app->store, req->subject, req->idem_key, &d);
    (void)e; /* best effort: a lost record means a retry runs again, which is idempotent */
}

void api_idem_recover(struct store *st)
{
    struct err_detail d;
    int64_t n = 0;

    if (store_idem_release_unfinished(st, &n, &d) != ERR_OK)
        log_warn("idempotency_recover_failed",
                 "error=\"%s\" effect=\"keys claimed before "
                 "a crash answer 409 until their lease ends\"",
                 d.msg);
    else if (n > 0)
        log_info("idempotency_recovered", "released=%lld", (long long)n);
}
