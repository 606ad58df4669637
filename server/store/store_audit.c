/* store_audit.c: the append-only, hash-chained audit log (DESIGN section 6). An append reads
 * the tail and inserts the next row inside the caller's write transaction, so the audited
 * change and its row commit or vanish together. Write transactions take turns (SQLite's write
 * lock; PostgreSQL's advisory lock of store_q_pg.c, across replicas), so appends of several
 * replicas still make one chain: none reads a tail another is about to extend. Rows are chained
 * with HMAC-SHA256 under a key kept outside the database (rows older versions wrote keep their
 * plain SHA-256); the key file and the signed checkpoints are store_audit_anchor.c's. It decides
 * nothing about what gets audited. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "store/store_int.h"
#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

#define AUDIT_COLUMNS                                                                              \
    "seq, at, actor, action, target, request_id, outcome, details, prev_hash, hash"
#define AUDIT_PAGE 500

static const char SQL_TAIL[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_log (" AUDIT_COLUMNS ") VALUES (:seq, :at, :actor, :action, :target,"
    " :request_id, :outcome, :details, :prev_hash, :hash)";
static const char SQL_PAGE[] =
    "SELECT " AUDIT_COLUMNS " FROM audit_log WHERE seq > :after ORDER BY seq LIMIT :limit";

static void copy_hash(char dst[65], const char *src)
{
    snprintf(dst, 65, "%s", src ? src : "");
}

static void row_to_audit(struct store_q *s, struct store_audit_entry *e)
{
    e->seq = col_int64(s, 0);
    e->at = col_int64(s, 1);
    e->actor = col_text(s, 2);
    e->action = col_text(s, 3);
    e->target = col_text(s, 4);
    e->request_id = col_text(s, 5);
    e->outcome = col_text(s, 6);
    e->details = col_text(s, 7);
    copy_hash(e->prev_hash, col_view(s, 8));
    copy_hash(e->hash, col_view(s, 9));
}

void store_audit_entry_clear(struct store_audit_entry *e)
{
    if (e == NULL)
        return;
    free(e->actor);
    free(e->action);
    free(e->target);
    free(e->request_id);
    free(e->outcome);
    free(e->details);
    *e = (struct store_audit_entry){0};
}

void store_audit_list_free(struct store_audit_entry *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_audit_entry_clear(&list[i]);
    free(list);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* The fields of e as "<decimal length>:<bytes>;" in the order of store.h (xmalloc'd). */
static char *encode(const struct store_audit_entry *e, size_t *len)
{
    char seq[24];
    char at[24];
    const char *f[9];
    size_t total = 0;
    size_t off = 0;
    char *buf;

    snprintf(seq, sizeof(seq), "%" PRId64, e->seq);
    snprintf(at, sizeof(at), "%" PRId64, e->at);
    f[0] = e->prev_hash;
    f[1] = seq;
    f[2] = at;
    f[3] = or_empty(e->actor);
    f[4] = or_empty(e->action);
    f[5] = or_empty(e->target);
    f[6] = or_empty(e->request_id);
    f[7] = or_empty(e->outcome);
    f[8] = e->details ? e->details : "{}";
    for (int i = 0; i < 9; i++)
        total += strlen(f[i]) + 24;
    buf = xmalloc(total);
    for (int i = 0; i < 9; i++)
        off += (size_t)snprintf(buf + off, total - off, "%zu:%s;", strlen(f[i]), f[i]);
    *len = off;
    return buf;
}

void store_audit_hash(const struct store_audit_entry *e, char out[65])
{
    size_t n;
    char *buf = encode(e, &n);

    sha256_hex(buf, n, out);
    free(buf);
}

void store_audit_hmac_hex(const unsigned char key[32], const void *p, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];
    unsigned int len = 0;

    if (HMAC(EVP_sha256(), key, 32, p, n, mac, &len) == NULL || len != sizeof(mac))
        abort(); /* SHA-256 HMAC is always there in OpenSSL 3 */
    for (size_t i = 0; i < sizeof(mac); i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
}

/* The keyed hash of a row written since migration 0008. */
static void keyed_hash(const struct store_audit_keys *k, const struct store_audit_entry *e,
                       char out[65])
{
    size_t n;
    char *buf = encode(e, &n);

    store_audit_hmac_hex(k->chain, buf, n, out);
    free(buf);
}

static void derive(const unsigned char *key, size_t len, const char *label, unsigned char out[32])
{
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), key, (int)len, (const unsigned char *)label, strlen(label), out, &n) ==
            NULL ||
        n != 32)
        abort();
}

enum err store_audit_key_set(struct store *st, const void *key, size_t len, struct err_detail *d)
{
    struct store_audit_keys *k = store_audit_keys(st);

    if (key == NULL || len < STORE_AUDIT_KEY_MIN || len > INT32_MAX)
        return err_set(d, ERR_INVALID, "audit_key_short", "the audit key needs at least %d bytes",
                       STORE_AUDIT_KEY_MIN);
    derive(key, len, "vmlogind audit chain v1", k->chain);
    derive(key, len, "vmlogind audit checkpoint v1", k->checkpoint);
    derive(key, len, "vmlogind webhook secrets v1", k->webhook);
    k->set = true;
    return ERR_OK;
}

void store_audit_key_random(struct store *st)
{
    unsigned char key[32];

    if (RAND_bytes(key, sizeof(key)) != 1 || store_audit_key_set(st, key, sizeof(key), NULL))
        abort();
    OPENSSL_cleanse(key, sizeof(key));
}

/* The last row's seq and hash, or 0 and the genesis hash for an empty log. */
static enum err tail(struct store *st, int64_t *seq, char hash[65], struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_TAIL, &s, d);
    int rc;

    *seq = 0;
    copy_hash(hash, STORE_AUDIT_GENESIS);
    if (e != ERR_OK)
        return e;
    rc = store_step(s);
    if (rc == STORE_ROW) {
        *seq = col_int64(s, 0);
        copy_hash(hash, col_view(s, 1));
    } else if (rc != STORE_DONE) {
        return store_fail(s, rc, d, "audit tail");
    }
    store_reset(s);
    return ERR_OK;
}

static enum err insert(struct store *st, struct store_audit_entry *e, struct err_detail *d)
{
    struct store_q *s;
    enum err rc;
    int64_t last;

    rc = tail(st, &last, e->prev_hash, d);
    if (rc != ERR_OK)
        return rc;
    e->seq = last + 1;
    keyed_hash(store_audit_keys(st), e, e->hash);
    rc = store_stmt(st, SQL_INSERT, &s, d);
    if (rc != ERR_OK)
        return rc;
    bind_int64(s, ":seq", e->seq);
    bind_int64(s, ":at", e->at);
    bind_text(s, ":actor", e->actor);
    bind_text(s, ":action", e->action);
    bind_text_or(s, ":target", e->target, "");
    bind_text_or(s, ":request_id", e->request_id, "");
    bind_text(s, ":outcome", e->outcome);
    bind_text_or(s, ":details", e->details, "{}");
    bind_text(s, ":prev_hash", e->prev_hash);
    bind_text(s, ":hash", e->hash);
    return store_exec_stmt(s, d, "audit append");
}

enum err store_audit_append(struct store *st, struct store_audit_entry *e, struct err_detail *d)
{
    bool own;
    enum err rc;

    if (e->actor == NULL || e->action == NULL || e->outcome == NULL)
        return err_set(d, ERR_INVALID, "invalid", "audit entry needs actor, action and outcome");
    if (!store_audit_keys(st)->set)
        return err_set(d, ERR_PRECONDITION, "audit_key_missing", "the audit key is not loaded");
    rc = store_own_tx_begin(st, &own, d);
    if (rc != ERR_OK)
        return rc;
    rc = insert(st, e, d);
    return store_own_tx_end(st, own, rc, d);
}

/* Appends up to limit rows after `after` to *list (growing it). */
static enum err page(struct store *st, int64_t after, int limit, struct store_audit_entry **list,
                     size_t *n, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PAGE, &s, d);
    int rc;

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":after", after);
    bind_int64(s, ":limit", limit);
    *list = xreallocarray(*list, xadd(*n, (size_t)limit), sizeof(**list));
    while ((rc = store_step(s)) == STORE_ROW) {
        (*list)[*n] = (struct store_audit_entry){0};
        row_to_audit(s, &(*list)[(*n)++]);
    }
    if (rc != STORE_DONE)
        return store_fail(s, rc, d, "audit list");
    store_reset(s);
    return ERR_OK;
}

enum err store_audit_list(struct store *st, int64_t after, int limit,
                          struct store_audit_entry **out, size_t *n, struct err_detail *d)
{
    enum err e;

    *out = NULL;
    *n = 0;
    if (limit < 1 || limit > 1000)
        return err_set(d, ERR_INVALID, "invalid", "limit must be 1..1000");
    e = page(st, after, limit, out, n, d);
    if (e != ERR_OK) {
        store_audit_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return e;
}

/* Checks one row against its predecessor; returns false at a broken link. */
static bool row_ok(struct store *st, const struct store_audit_entry *r, int64_t prev_seq,
                   const char *prev_hash, int64_t legacy_end)
{
    char h[65];

    if (r->seq != prev_seq + 1 || strcmp(r->prev_hash, prev_hash) != 0)
        return false;
    if (r->seq <= legacy_end)
        store_audit_hash(r, h);
    else
        keyed_hash(store_audit_keys(st), r, h);
    return strcmp(h, r->hash) == 0;
}

/* Passes the checkpoints up to seq, holding those at seq to the chain's hash there. */
static enum err hold_to(const struct store_audit_cp *cps, size_t ncps, size_t *next, int64_t seq,
                        const char *hash, struct err_detail *d)
{
    for (; *next < ncps && cps[*next].seq <= seq; (*next)++) {
        const struct store_audit_cp *c = &cps[*next];
        if (c->seq == seq && strcmp(c->hash, hash) != 0)
            return err_set(d, ERR_CONFLICT, "audit_checkpoint_mismatch",
                           "audit log rewritten: row %" PRId64
                           " differs from the one checkpoint seq %" PRId64 " (%s) signed",
                           seq, c->seq, c->where);
    }
    return ERR_OK;
}

enum err store_audit_walk(struct store *st, int64_t legacy_end, const struct store_audit_cp *cps,
                          size_t ncps, struct store_audit_report *r, struct err_detail *d)
{
    struct store_audit_entry *list = NULL;
    char prev_hash[65] = STORE_AUDIT_GENESIS;
    int64_t prev_seq = 0;
    size_t n, next = 0;
    enum err e;

    e = hold_to(cps, ncps, &next, 0, prev_hash, d);
    do {
        n = 0;
        if (e == ERR_OK)
            e = page(st, prev_seq, AUDIT_PAGE, &list, &n, d);
        for (size_t i = 0; e == ERR_OK && i < n; i++) {
            if (!row_ok(st, &list[i], prev_seq, prev_hash, legacy_end)) {
                r->broken_seq = list[i].seq;
                e = err_set(d, ERR_CONFLICT, "audit_chain_broken",
                            "audit chain broken at seq %" PRId64
                            ": the row, its hash or its link to the row before was changed",
                            list[i].seq);
                break;
            }
            prev_seq = list[i].seq;
            memcpy(prev_hash, list[i].hash, sizeof(prev_hash));
            r->rows++;
            e = hold_to(cps, ncps, &next, prev_seq, prev_hash, d);
        }
        store_audit_list_free(list, n);
        list = NULL;
    } while (e == ERR_OK && n == AUDIT_PAGE);
    if (e == ERR_OK && next < ncps)
        e = err_set(d, ERR_CONFLICT, "audit_truncated",
                    "audit log truncated after checkpoint seq %" PRId64
                    ": the chain ends at seq %" PRId64 " but checkpoint seq %" PRId64
                    " (%s) signed a longer one: rows %" PRId64 "..%" PRId64 " at least are gone",
                    cps[ncps - 1].seq, prev_seq, cps[ncps - 1].seq, cps[ncps - 1].where,
                    prev_seq + 1, cps[ncps - 1].seq);
    return e;
}

enum err store_audit_verify(struct store *st, int64_t *rows, int64_t *broken_seq,
                            struct err_detail *d)
{
    struct store_audit_report r;
    enum err e = store_audit_verify_anchored(st, NULL, &r, d);

    *rows = r.rows;
    *broken_seq = r.broken_seq;
    return e;
}
