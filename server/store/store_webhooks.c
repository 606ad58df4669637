/* store_webhooks.c: webhook subscriptions and their outbox (migrations/0015_webhooks.sql).
 * Deliveries are added by the events trigger in the statement that writes the event, never
 * here (but the test message, which is no event); this file reads them and records attempts.
 * Signing secrets are sealed at rest with AES-256-GCM under a key derived from the audit key
 * file (kept outside the database), bound to the subscription's id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/store_int.h"
#include "store/store_seen.h"
#include "vmlogind/jose.h"
#include "vmlogind/store_webhooks.h"
#include "vmlogind/xalloc.h"

#define SEAL_PREFIX "enc:v1:"
#define SEAL_NONCE 12
#define SEAL_TAG 16

#define WEBHOOK_COLS                                                                               \
    "id, url, description, events, scopes, unlimited, secret, prev_secret, prev_until, enabled,"   \
    " disabled_reason, disabled_at, failures, created_by, created_at, updated_at"

static const char SQL_INSERT[] =
    "INSERT INTO webhooks (id, url, description, events, scopes, unlimited, secret, enabled,"
    " failures, created_by, created_at, updated_at) VALUES (:id, :url, :description, :events,"
    " :scopes, :unlimited, :secret, 1, 0, :created_by, :now, :now)";
static const char SQL_GET[] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = :id";
static const char SQL_LIST[] =
    "SELECT " WEBHOOK_COLS " FROM webhooks ORDER BY created_at, id LIMIT :limit";
static const char SQL_DELETE[] = "DELETE FROM webhooks WHERE id = :id";
static const char SQL_ROTATE[] =
    "UPDATE webhooks SET prev_secret = secret, prev_until = :prev_until, secret = :secret,"
    " updated_at = :now WHERE id = :id";
/* The casts give PostgreSQL one type per parameter (it types each from its first use). */
static const char SQL_ENABLE[] =
    "UPDATE webhooks SET enabled = CAST(:enabled AS BIGINT), failures = CASE WHEN"
    " CAST(:enabled AS BIGINT) = 1 THEN 0 ELSE failures END, disabled_reason = :reason,"
    " disabled_at = CASE WHEN CAST(:enabled AS BIGINT) = 1 THEN NULL ELSE CAST(:now AS BIGINT)"
    " END, updated_at = CAST(:now AS BIGINT) WHERE id = :id";
static const char SQL_ENQUEUE[] =
    "INSERT INTO webhook_deliveries (webhook_id, msg_id, seq, type, body, next_at, created_at)"
    " VALUES (:id, :msg_id, NULL, :type, :body, :now, :now) RETURNING id";

#define DELIVERY_COLS                                                                              \
    "d.id, d.webhook_id, d.msg_id, d.seq, d.type, d.body, d.state, d.attempts, d.next_at,"         \
    " d.last_at, d.last_status, d.last_error, d.created_at, d.state = 'pending'"

static const char SQL_DELIVERIES[] =
    "SELECT " DELIVERY_COLS " FROM webhook_deliveries d WHERE d.webhook_id = :id"
    " AND (CAST(:before AS BIGINT) = 0 OR d.id < CAST(:before AS BIGINT))"
    " ORDER BY d.id DESC LIMIT :limit";
static const char SQL_REDELIVER[] =
    "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = :now"
    " WHERE webhook_id = :webhook_id AND id = :id";
static const char SQL_DUE[] =
    "SELECT " DELIVERY_COLS ", w.url, w.secret, w.prev_secret, w.prev_until"
    " FROM webhooks w JOIN webhook_deliveries d ON d.id = (SELECT min(x.id)"
    " FROM webhook_deliveries x WHERE x.webhook_id = w.id AND x.state = 'pending')"
    " WHERE w.enabled = 1 AND d.next_at <= :now ORDER BY d.next_at, d.id LIMIT :limit";
static const char SQL_RECORD[] =
    "UPDATE webhook_deliveries SET state = :state, attempts = attempts + 1, next_at = :next_at,"
    " last_at = :now, last_status = :status, last_error = :error WHERE id = :id";
/* Compare-and-set on the due time the caller read: of several replicas that read
 * the same due delivery, one statement changes the row and the others change nothing. */
static const char SQL_CLAIM[] = "UPDATE webhook_deliveries SET next_at = :until"
                                " WHERE id = :id AND state = 'pending' AND next_at = :next_at";
static const char SQL_FAILURES[] =
    "UPDATE webhooks SET failures = CASE WHEN :ok THEN 0 ELSE failures + 1 END"
    " WHERE id = :id RETURNING failures, enabled";
static const char SQL_PENDING[] =
    "SELECT count(*), coalesce(min(d.created_at), 0) FROM webhook_deliveries d"
    " JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND w.enabled = 1";
static const char SQL_TRIM[] =
    "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < :before";

/* ---- secrets at rest ------------------------------------------------------------------------ */

/* AES-256-GCM of in (n bytes) with aad; out gets n bytes and tag. */
static bool gcm(bool enc, const unsigned char key[32], const unsigned char *nonce, const char *aad,
                const unsigned char *in, int n, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok = c != NULL &&
              EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
              EVP_CipherUpdate(c, out, &len, in, n) == 1 &&
              (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1) &&
              EVP_CipherFinal_ex(c, out + len, &len) == 1 &&
              (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1);

    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* "enc:v1:" + base64(nonce | ciphertext | tag), or a plain copy when the store has no audit key
 * (a store nothing outlives: unit tests). NULL on failure. */
static char *seal(struct store *st, const char *id, const char *secret)
{
    const struct store_audit_keys *k = store_audit_keys(st);
    size_t n = strlen(secret);
    unsigned char *buf;
    char *b64, *out;

    if (!k->set)
        return xstrdup(secret);
    buf = xmalloc(SEAL_NONCE + n + SEAL_TAG);
    if (RAND_bytes(buf, SEAL_NONCE) != 1 ||
        !gcm(true, k->webhook, buf, id, (const unsigned char *)secret, (int)n, buf + SEAL_NONCE,
             buf + SEAL_NONCE + n)) {
        free(buf);
        return NULL;
    }
    b64 = b64_encode(buf, SEAL_NONCE + n + SEAL_TAG);
    free(buf);
    out = xasprintf("%s%s", SEAL_PREFIX, b64);
    free(b64);
    return out;
}

/* The secret of a stored value (taken over and freed): NULL when it does not open (another
 * key, another row), so nothing is signed with it. */
static char *unseal(struct store *st, const char *id, char *stored)
{
    const struct store_audit_keys *k = store_audit_keys(st);
    size_t plen = strlen(SEAL_PREFIX), n = 0;
    unsigned char *raw;
    char *out = NULL;

    if (stored == NULL || strncmp(stored, SEAL_PREFIX, plen) != 0)
        return stored;
    raw = k->set ? b64_decode(stored + plen, strlen(stored + plen), &n) : NULL;
    if (raw != NULL && n > SEAL_NONCE + SEAL_TAG) {
        size_t len = n - SEAL_NONCE - SEAL_TAG;
        out = xmalloc(len + 1);
        if (gcm(false, k->webhook, raw, id, raw + SEAL_NONCE, (int)len, (unsigned char *)out,
                raw + SEAL_NONCE + len)) {
            out[len] = '\0';
        } else {
            OPENSSL_cleanse(out, len);
            free(out);
            out = NULL;
        }
    }
    free(raw);
    free(stored);
    return out;
}

static void unseal_webhook(struct store *st, struct store_webhook *w)
{
    w->secret = unseal(st, w->id, w->secret);
    w->prev_secret = unseal(st, w->id, w->prev_secret);
}

void store_webhook_clear(struct store_webhook *w)
{
    if (w == NULL)
        return;
    free(w->id);
    free(w->url);
    free(w->description);
    free(w->events);
    free(w->scopes);
    free(w->secret);
    free(w->prev_secret);
    free(w->disabled_reason);
    free(w->created_by);
    *w = (struct store_webhook){0};
}

static void webhook_clear(void *p)
{
    store_webhook_clear(p);
}

void store_webhook_list_free(struct store_webhook *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_webhook_clear(&list[i]);
    free(list);
}

static void row_to_webhook(struct store_q *s, void *p)
{
    struct store_webhook *w = p;

    w->id = col_text(s, 0);
    w->url = col_text(s, 1);
    w->description = col_text(s, 2);
    w->events = col_text(s, 3);
    w->scopes = col_text(s, 4);
    w->unlimited = col_int64(s, 5) != 0;
    w->secret = col_text(s, 6);
    w->prev_secret = col_text(s, 7);
    w->prev_until = col_int64(s, 8);
    w->enabled = col_int64(s, 9) != 0;
    w->disabled_reason = col_text(s, 10);
    w->disabled_at = col_int64(s, 11);
    w->failures = col_int64(s, 12);
    w->created_by = col_text(s, 13);
    w->created_at = col_int64(s, 14);
    w->updated_at = col_int64(s, 15);
}

enum err store_webhooks_insert(struct store *st, const struct store_webhook *w,
                               struct err_detail *d)
{
    struct store_q *s;
    char *sealed = seal(st, w->id, w->secret);
    enum err e = sealed != NULL ? store_stmt(st, SQL_INSERT, &s, d)
                                : err_set(d, ERR_INTERNAL, "seal", "could not seal the secret");

    if (e != ERR_OK) {
        free(sealed);
        return e;
    }
    bind_text(s, ":id", w->id);
    bind_text(s, ":url", w->url);
    bind_text_or(s, ":description", w->description, "");
    bind_text(s, ":events", w->events);
    bind_text_or(s, ":scopes", w->scopes, "[]");
    bind_int64(s, ":unlimited", w->unlimited ? 1 : 0);
    bind_text(s, ":secret", sealed);
    bind_text(s, ":created_by", w->created_by);
    bind_int64(s, ":now", w->created_at);
    e = store_exec_stmt(s, d, "webhook insert");
    free(sealed);
    return e;
}

enum err store_webhooks_get(struct store *st, const char *id, struct store_webhook *out,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_webhook){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    e = store_step_one(s, d, "webhook");
    if (e != ERR_OK)
        return e;
    row_to_webhook(s, out);
    store_reset(s);
    unseal_webhook(st, out);
    return ERR_OK;
}

enum err store_webhooks_list(struct store *st, struct store_webhook **out, size_t *n,
                             struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_LIST, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":limit", STORE_WEBHOOKS_MAX);
    e = store_collect(s, sizeof(**out), row_to_webhook, webhook_clear, (void **)out, n, d,
                      "webhooks");
    for (size_t i = 0; e == ERR_OK && i < *n; i++)
        unseal_webhook(st, &(*out)[i]);
    return e;
}

/* Runs s (bound to :id already or not) expecting it to change one row. */
static enum err exec_one(struct store_q *s, struct err_detail *d, const char *what)
{
    int64_t changed = 0;
    enum err e = store_exec_count(s, &changed, d, what);

    if (e == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "webhook_not_found", "no such webhook");
    return e;
}

enum err store_webhooks_delete(struct store *st, const char *id, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_DELETE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    return exec_one(s, d, "webhook delete");
}

enum err store_webhooks_rotate(struct store *st, const char *id, const char *secret,
                               int64_t prev_until, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    char *sealed = seal(st, id, secret);
    enum err e = sealed != NULL ? store_stmt(st, SQL_ROTATE, &s, d)
                                : err_set(d, ERR_INTERNAL, "seal", "could not seal the secret");

    if (e != ERR_OK) {
        free(sealed);
        return e;
    }
    bind_text(s, ":id", id);
    bind_text(s, ":secret", sealed);
    bind_int64(s, ":prev_until", prev_until);
    bind_int64(s, ":now", now);
    e = exec_one(s, d, "webhook rotate");
    free(sealed);
    return e;
}

enum err store_webhooks_set_enabled(struct store *st, const char *id, bool enabled,
                                    const char *reason, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_ENABLE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    bind_int64(s, ":enabled", enabled ? 1 : 0);
    bind_text(s, ":reason", enabled ? NULL : reason);
    bind_int64(s, ":now", now);
    return exec_one(s, d, "webhook enable");
}

enum err store_webhooks_enqueue(struct store *st, const char *id, const char *msg_id,
                                const char *type, const char *body, int64_t now,
                                int64_t *delivery_id, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_ENQUEUE, &s, d);

    *delivery_id = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    bind_text(s, ":msg_id", msg_id);
    bind_text(s, ":type", type);
    bind_text(s, ":body", body);
    bind_int64(s, ":now", now);
    e = store_step_one(s, d, "webhook test delivery");
    if (e != ERR_OK)
        return e;
    *delivery_id = col_int64(s, 0); /* RETURNING: SQLite 3.35+, PostgreSQL alike */
    store_reset(s);
    return ERR_OK;
}

/* ---- deliveries ------------------------------------------------------------------------------ */

void store_delivery_clear(struct store_delivery *x)
{
    if (x == NULL)
        return;
    free(x->webhook_id);
    free(x->msg_id);
    free(x->type);
    free(x->body);
    free(x->state);
    free(x->last_error);
    free(x->url);
    free(x->secret);
    free(x->prev_secret);
    *x = (struct store_delivery){0};
}

static void delivery_clear(void *p)
{
    store_delivery_clear(p);
}

void store_delivery_list_free(struct store_delivery *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_delivery_clear(&list[i]);
    free(list);
}

static void row_to_delivery(struct store_q *s, void *p)
{
    struct store_delivery *x = p;

    x->id = col_int64(s, 0);
    x->webhook_id = col_text(s, 1);
    x->msg_id = col_text(s, 2);
    x->seq = col_int64(s, 3);
    x->type = col_text(s, 4);
    x->body = col_json(s, 5); /* the same bytes on both backends (store_int.h) */
    x->state = col_text(s, 6);
    x->attempts = col_int64(s, 7);
    x->next_at = col_int64(s, 8);
    x->last_at = col_int64(s, 9);
    x->last_status = col_int64(s, 10);
    x->last_error = col_text(s, 11);
    x->created_at = col_int64(s, 12);
    x->pending = col_int64(s, 13) != 0;
}

static void row_to_due(struct store_q *s, void *p)
{
    struct store_delivery *x = p;

    row_to_delivery(s, p);
    x->url = col_text(s, 14);
    x->secret = col_text(s, 15);
    x->prev_secret = col_text(s, 16);
    x->prev_until = col_int64(s, 17);
}

enum err store_deliveries_list(struct store *st, const char *webhook_id, int64_t before,
                               size_t limit, struct store_delivery **out, size_t *n,
                               struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_DELIVERIES, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", webhook_id);
    bind_int64(s, ":before", before);
    bind_int64(s, ":limit", (int64_t)limit);
    return store_collect(s, sizeof(**out), row_to_delivery, delivery_clear, (void **)out, n, d,
                         "webhook deliveries");
}

enum err store_deliveries_redeliver(struct store *st, const char *webhook_id, int64_t id,
                                    int64_t now, struct err_detail *d)
{
    struct store_q *s;
    int64_t changed = 0;
    enum err e = store_stmt(st, SQL_REDELIVER, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":webhook_id", webhook_id);
    bind_int64(s, ":id", id);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &changed, d, "webhook redeliver");
    if (e == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "delivery_not_found", "no such delivery");
    return e;
}

enum err store_deliveries_due(struct store *st, int64_t now, size_t limit,
                              struct store_delivery **out, size_t *n, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_DUE, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":now", now);
    bind_int64(s, ":limit", (int64_t)limit);
    e = store_collect(s, sizeof(**out), row_to_due, delivery_clear, (void **)out, n, d,
                      "webhook deliveries due");
    for (size_t i = 0; e == ERR_OK && i < *n; i++) {
        (*out)[i].secret = unseal(st, (*out)[i].webhook_id, (*out)[i].secret);
        (*out)[i].prev_secret = unseal(st, (*out)[i].webhook_id, (*out)[i].prev_secret);
    }
    return e;
}

enum err store_deliveries_claim(struct store *st, const struct store_delivery *x, int64_t until,
                                bool *claimed, struct err_detail *d)
{
    struct store_q *s;
    int64_t changed = 0;
    enum err e = store_stmt(st, SQL_CLAIM, &s, d);

    *claimed = false;
    if (store_pg_pool(st) == NULL) {
        /* one process sends (SQLite has one replica) and its workers split the subscriptions:
         * nobody to claim against, and a restarted replica resends at once */
        *claimed = true;
        return ERR_OK;
    }
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":id", x->id);
    bind_int64(s, ":next_at", x->next_at);
    bind_int64(s, ":until", until);
    e = store_exec_count(s, &changed, d, "webhook delivery claim");
    *claimed = e == ERR_OK && changed == 1;
    return e;
}

/* The delivery's row, then the subscription's run of failures, which may disable it. */
static enum err record_in_tx(struct store *st, const struct store_delivery *x,
                             const struct store_attempt *a, bool *disabled, struct err_detail *d)
{
    struct store_q *s;
    int64_t failures;
    bool enabled;
    char reason[400];
    enum err e = store_stmt(st, SQL_RECORD, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":id", x->id);
    bind_text(s, ":state", a->ok ? "succeeded" : a->next_at > 0 ? "pending" : "failed");
    bind_int64(s, ":next_at", a->next_at > 0 ? a->next_at : a->now);
    bind_int64(s, ":now", a->now);
    bind_time(s, ":status", a->status);
    bind_text(s, ":error", a->ok ? NULL : a->error);
    e = store_exec_stmt(s, d, "webhook attempt");
    if (e == ERR_OK)
        e = store_stmt(st, SQL_FAILURES, &s, d);
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", x->webhook_id);
    bind_int64(s, ":ok", a->ok ? 1 : 0);
    e = store_step_one(s, d, "webhook failures");
    if (e != ERR_OK)
        return e == ERR_NOT_FOUND ? ERR_OK : e; /* deleted meanwhile */
    failures = col_int64(s, 0);
    enabled = col_int64(s, 1) != 0;
    store_reset(s);
    if (a->ok || !enabled || failures < a->disable_after)
        return ERR_OK;
    snprintf(reason, sizeof(reason), "%lld failed attempts in a row; the last: %.300s",
             (long long)failures, a->error != NULL ? a->error : "?");
    *disabled = true;
    return store_webhooks_set_enabled(st, x->webhook_id, false, reason, a->now, d);
}

enum err store_deliveries_record(struct store *st, const struct store_delivery *x,
                                 const struct store_attempt *a, bool *disabled,
                                 struct err_detail *d)
{
    bool own = false;
    enum err e = store_own_tx_begin(st, &own, d);

    *disabled = false;
    if (e != ERR_OK)
        return e;
    e = record_in_tx(st, x, a, disabled, d);
    return store_own_tx_end(st, own, e, d);
}

enum err store_deliveries_pending(struct store *st, int64_t *count, int64_t *oldest_at,
                                  struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PENDING, &s, d);

    *count = *oldest_at = 0;
    if (e != ERR_OK)
        return e;
    e = store_step_one(s, d, "webhook deliveries pending");
    if (e != ERR_OK)
        return e;
    *count = col_int64(s, 0);
    *oldest_at = col_int64(s, 1);
    store_reset(s);
    return ERR_OK;
}

enum err store_deliveries_trim(struct store *st, int64_t before, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_TRIM, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":before", before);
    return store_exec_stmt(s, d, "webhook deliveries trim");
}
