/* api_write.c: the write runner, the one path of every route flagged .write (Redis call()).
 * Before the handler: the Idempotency-Key is checked and the store transaction begun (busy is
 * retried by the store); a key with a live record replays it without running the handler.
 * The handler validates and records intent inside that transaction (api_write_task,
 * api_write_audit). After it: the audit row, then the key's record with the reply, then the
 * commit, all or nothing, then a wake-up of the reconciler for each task touched. A reply of
 * 4xx/5xx rolls the intent back (unless the handler kept it); a 4xx is still recorded for the
 * key, in its own transaction. So a crash at any point leaves no key "in progress". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"
#include "vmlogind/store_idempotency.h"

#define IDEM_KEY_MAX 255
#define IDEM_TTL_MS (24LL * 3600 * 1000)
#define WRITE_MAX_WAKES 4
#define WRITE_MAX_DENIED 4

struct audit_row {
    const char *action, *target, *outcome, *details;
};

struct write_run {
    const char *idem_key; /* NULL: no Idempotency-Key */
    char hash[65];
    bool has_audit, keep;
    bool redact_secret; /* the reply holds a secret shown once: the key's record drops it */
    struct audit_row audit;
    struct audit_row denied[WRITE_MAX_DENIED];
    size_t ndenied;
    const char *wake_kind[WRITE_MAX_WAKES];
    const char *wake_key[WRITE_MAX_WAKES];
    size_t nwakes;
};

static struct write_run *run_of(struct http_request *req)
{
    return req->run;
}

static const char *dup_or_null(struct http_request *req, const char *s)
{
    return s != NULL ? http_strdup(req, s) : NULL;
}

/* ---- Idempotency-Key ----------------------------------------------------------------------- */

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

/* The key of a POST, checked; false after replying 400. */
static bool read_key(struct http_request *req, struct write_run *run)
{
    const char *key = strcmp(req->method, "POST") == 0 ? http_header(req, "Idempotency-Key") : NULL;
    struct violations vs;

    if (key == NULL)
        return true;
    if (!key_ok(key)) {
        violations_init(&vs);
        violations_add(&vs, "Idempotency-Key", "invalid",
                       "1 to %d printable ASCII characters without spaces", IDEM_KEY_MAX);
        http_problem_reply(req, "invalid_idempotency_key",
                           "the Idempotency-Key header is malformed", &vs);
        return false;
    }
    run->idem_key = http_strdup(req, key);
    request_hash(req, run->hash);
    return true;
}

/* Inside the transaction: a live record of the key answers instead of the handler. True when
 * it replied (or failed and replied). */
static bool replayed(struct http_request *req, const struct write_run *run)
{
    struct app *app = req->app;
    struct store_idem prior = {0};
    struct err_detail d = {{0}, {0}};
    enum err e =
        store_idem_get(app->store, req->subject, run->idem_key, clock_now_ms(), &prior, &d);

    if (e == ERR_NOT_FOUND)
        return false;
    if (e != ERR_OK) {
        http_reply_error(req, e, &d);
    } else if (strcmp(prior.request_hash, run->hash) != 0) {
        http_problem_reply(req, "idempotency_key_reused",
                           "this Idempotency-Key was used for a different request", NULL);
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
    return true;
}

/* What a retry should see again is kept; what a retry might fix is not. */
static bool recordable(int status)
{
    return status < 500 && status != 429;
}

static enum err record_key(struct http_request *req, const struct write_run *run,
                           struct err_detail *d)
{
    struct app *app = req->app;
    struct store_idem r = {.request_hash = (char *)run->hash,
                           .response_status = req->status,
                           .response_body = req->resp ? req->resp : ""};
    int64_t now = clock_now_ms();
    char *redacted = NULL;
    enum err e;

    if (run->idem_key == NULL || !recordable(req->status))
        return ERR_OK;
    for (size_t i = 0; i < req->nextra; i++)
        if (strcmp(req->extra_names[i], "Location") == 0)
            r.location = req->extra_values[i];
    if (run->redact_secret) {
        json_t *o = json_loads(r.response_body, 0, NULL);
        json_object_del(o, "secret");
        redacted = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        r.response_body = redacted != NULL ? redacted : "{}";
    }
    e = store_idem_record(app->store, req->subject, run->idem_key, &r, now, now + IDEM_TTL_MS, d);
    free(redacted);
    return e;
}

/* ---- the runner ------------------------------------------------------------------------------ */

bool api_write_begin(struct http_request *req, void *arg)
{
    struct app *app = req->app;
    struct write_run *run;
    struct err_detail d = {{0}, {0}};
    enum err e;
    (void)arg;

    if (!req->route->write)
        return true;
    run = http_alloc(req, sizeof(*run));
    *run = (struct write_run){0};
    if (!read_key(req, run))
        return false;
    e = store_tx_begin(app->store, &d);
    if (e != ERR_OK) {
        http_reply_error(req, e, &d);
        return false;
    }
    if (run->idem_key != NULL && replayed(req, run)) {
        store_tx_rollback(app->store);
        return false;
    }
    req->run = run;
    return true;
}

/* The refused attempts, then (with_intent) the handler's own row. */
static enum err append_audits(struct http_request *req, const struct write_run *run,
                              bool with_intent)
{
    enum err e = ERR_OK;

    for (size_t i = 0; e == ERR_OK && i < run->ndenied; i++)
        e = api_audit(req, run->denied[i].action, run->denied[i].target, "denied",
                      run->denied[i].details);
    if (e == ERR_OK && with_intent && run->has_audit)
        e = api_audit(req, run->audit.action, run->audit.target, run->audit.outcome,
                      run->audit.details);
    return e;
}

/* After a refused or failed handler: its intent is gone; what stays (refused attempts, the
 * key's 4xx answer) gets a transaction of its own. Best effort: a lost key record means a retry
 * runs again, which is idempotent; a lost denied row is logged. */
static void aftermath(struct http_request *req, const struct write_run *run)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    enum err e;

    if (run->ndenied == 0 && (run->idem_key == NULL || !recordable(req->status)))
        return;
    e = store_tx_begin(app->store, &d);
    if (e == ERR_OK)
        e = append_audits(req, run, false);
    if (e == ERR_OK)
        e = record_key(req, run, &d);
    if (e == ERR_OK)
        e = store_tx_commit(app->store, &d);
    else
        store_tx_rollback(app->store);
    if (e != ERR_OK)
        log_error("write_aftermath_lost", "request_id=%s denied=%zu error=\"%s\"", req->request_id,
                  run->ndenied, d.msg);
}

/* Audit row, key record, commit; on a failure the reply becomes the failure's. */
static bool commit(struct http_request *req, const struct write_run *run)
{
    struct app *app = req->app;
    struct err_detail d = {{0}, {0}};
    enum err e = append_audits(req, run, true);

    if (e != ERR_OK) {
        store_tx_rollback(app->store);
        http_reply_discard(req);
        http_problem_reply(req, "audit_unavailable",
                           "the change was not made because its audit record could not be written",
                           NULL);
        return false;
    }
    e = record_key(req, run, &d);
    if (e == ERR_CONFLICT) { /* a request with the same key got there first: its answer soon */
        store_tx_rollback(app->store);
        http_reply_discard(req);
        http_add_header(req, "Retry-After", "1");
        http_problem_reply(req, "idempotency_in_progress",
                           "the first request with this Idempotency-Key is still running", NULL);
        return false;
    }
    if (e == ERR_OK)
        e = store_tx_commit(app->store, &d);
    else
        store_tx_rollback(app->store);
    if (e != ERR_OK) {
        http_reply_discard(req);
        http_reply_error(req, e, &d);
        return false;
    }
    return true;
}

void api_write_end(struct http_request *req, void *arg)
{
    struct app *app = req->app;
    struct write_run *run = run_of(req);
    (void)arg;

    api_read_end(req);
    if (run == NULL)
        return;
    req->run = NULL;
    if (!req->replied)
        http_problem_reply(req, "internal", "the handler gave no reply", NULL);
    if (req->status >= 400 && !run->keep) {
        store_tx_rollback(app->store);
        aftermath(req, run);
        return;
    }
    if (!commit(req, run))
        return;
    for (size_t i = 0; i < run->nwakes && app->wake != NULL; i++)
        app->wake(app->wake_arg, run->wake_kind[i], run->wake_key[i]);
}

/* ---- what handlers call -------------------------------------------------------------------- */

enum err api_write_task(struct http_request *req, const char *kind, const char *key,
                        const char *payload, struct err_detail *d)
{
    struct app *app = req->app;
    struct write_run *run = run_of(req);
    int64_t now = clock_now_ms();
    enum err e;

    if (run == NULL)
        return err_set(d, ERR_INTERNAL, "internal", "api_write_task outside a write route");
    e = store_task_upsert(app->store, kind, key, now, payload, now, d);
    if (e == ERR_OK && run->nwakes < WRITE_MAX_WAKES) {
        run->wake_kind[run->nwakes] = http_strdup(req, kind);
        run->wake_key[run->nwakes] = http_strdup(req, key);
        run->nwakes++;
    }
    return e;
}

void api_write_audit(struct http_request *req, const char *action, const char *target,
                     const char *outcome, const char *details_json)
{
    struct write_run *run = run_of(req);

    if (run == NULL)
        return;
    run->has_audit = true;
    run->audit = (struct audit_row){.action = http_strdup(req, action),
                                    .target = dup_or_null(req, target),
                                    .outcome = http_strdup(req, outcome),
                                    .details = dup_or_null(req, details_json)};
}

void api_write_keep(struct http_request *req)
{
    struct write_run *run = run_of(req);

    if (run != NULL)
        run->keep = true;
}

void api_write_redact_secret(struct http_request *req)
{
    struct write_run *run = run_of(req);

    if (run != NULL)
        run->redact_secret = true;
}

bool api_write_defer_denied(struct http_request *req, const char *action, const char *target,
                            const char *details_json)
{
    struct write_run *run = run_of(req);

    if (run == NULL || run->ndenied >= WRITE_MAX_DENIED)
        return false;
    run->denied[run->ndenied++] = (struct audit_row){.action = http_strdup(req, action),
                                                     .target = dup_or_null(req, target),
                                                     .outcome = "denied",
                                                     .details = dup_or_null(req, details_json)};
    return true;
}
