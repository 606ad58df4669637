/* store_audit_anchor.c: what ties the audit chain to things outside the database: the key
 * file the chain is keyed with, and signed checkpoints of the chain's head, kept both in
 * audit_checkpoints and in a file of their own (one line each, appended), and the check that
 * holds the chain to them. Encodings are in store.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store/store_int.h"
#include "vmlogind/xalloc.h"

#define KEY_FILE_MAX 4096
#define CP_PREFIX "vmlogind-audit-checkpoint v1"
#define CP_LINE_MAX 512

static const char SQL_LEGACY_END[] = "SELECT legacy_end FROM audit_anchor WHERE id = 1";
static const char SQL_KEYED_USE[] =
    "SELECT (SELECT count(*) FROM audit_log WHERE seq > (SELECT coalesce(max(legacy_end), 0)"
    " FROM audit_anchor)) + (SELECT count(*) FROM audit_checkpoints)";
static const char SQL_HEAD[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char SQL_LAST_CP[] = "SELECT seq, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1";
/* A checkpoint of a head already signed is kept as it was (ON CONFLICT DO NOTHING: SQLite's
 * and PostgreSQL's spelling alike). */
static const char SQL_CP_INSERT[] =
    "INSERT INTO audit_checkpoints (seq, hash, legacy_end, at, mac)"
    " VALUES (:seq, :hash, :legacy_end, :at, :mac) ON CONFLICT DO NOTHING";
static const char SQL_CP_ALL[] =
    "SELECT seq, hash, legacy_end, at, mac FROM audit_checkpoints ORDER BY seq";

/* One integer from a one-row query; dflt when there is no row. */
static enum err query_int(struct store *st, const char *sql, int64_t dflt, int64_t *out,
                          struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    *out = dflt;
    if (e != ERR_OK)
        return e;
    e = store_step_one(s, d, "audit anchor");
    if (e == ERR_NOT_FOUND)
        return ERR_OK;
    if (e != ERR_OK)
        return e;
    *out = col_int64(s, 0);
    store_reset(s);
    return ERR_OK;
}

/* ---- the key file --------------------------------------------------------------------------- */

static enum err key_generate(const char *path, struct err_detail *d)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    char text[66];
    ssize_t w;
    int fd;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return err_set(d, ERR_INTERNAL, "audit_key_random", "no randomness for the audit key");
    for (size_t i = 0; i < sizeof(raw); i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[64] = '\n';
    text[65] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return ERR_OK; /* another process made it first: use theirs */
    if (fd < 0)
        return err_set(d, ERR_PRECONDITION, "audit_key_unwritable",
                       "cannot create the audit key file %s: %s", path, strerror(errno));
    w = write(fd, text, 65);
    OPENSSL_cleanse(text, sizeof(text));
    if (w != 65 || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return err_set(d, ERR_PRECONDITION, "audit_key_unwritable",
                       "cannot write the audit key file %s", path);
    }
    close(fd);
    return ERR_OK;
}

static enum err key_read(struct store *st, const char *path, struct err_detail *d)
{
    unsigned char *buf = xmalloc(KEY_FILE_MAX + 1);
    size_t n = 0;
    ssize_t got;
    enum err e;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        free(buf);
        return err_set(d, errno == ENOENT ? ERR_NOT_FOUND : ERR_PRECONDITION, "audit_key_missing",
                       "cannot read the audit key file %s: %s", path, strerror(errno));
    }
    while (n <= KEY_FILE_MAX && (got = read(fd, buf + n, KEY_FILE_MAX + 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n > KEY_FILE_MAX || n < STORE_AUDIT_KEY_MIN)
        e = err_set(d, ERR_PRECONDITION, "audit_key_invalid",
                    "the audit key file %s must hold %d to %d bytes", path, STORE_AUDIT_KEY_MIN,
                    KEY_FILE_MAX);
    else
        e = store_audit_key_set(st, buf, n, d);
    OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
    free(buf);
    return e;
}

enum err store_audit_key_load(struct store *st, const char *path, bool create, bool *created,
                              struct err_detail *d)
{
    int64_t used = 0;
    enum err e;

    if (created != NULL)
        *created = false;
    e = key_read(st, path, d);
    if (e != ERR_NOT_FOUND || !create)
        return e;
    e = query_int(st, SQL_KEYED_USE, 0, &used, d);
    if (e != ERR_OK)
        return e;
    if (used > 0)
        return err_set(d, ERR_PRECONDITION, "audit_key_missing",
                       "the audit key file %s is missing but the audit log was signed with a "
                       "key: restore the file (a new key would leave the log unverifiable)",
                       path);
    e = key_generate(path, d);
    if (e == ERR_OK && created != NULL)
        *created = true;
    return e == ERR_OK ? key_read(st, path, d) : e;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

/* The signed text of c (without " mac=..."). */
static void cp_text(const struct store_audit_cp *c, char *out, size_t cap)
{
    snprintf(out, cap, CP_PREFIX " seq=%" PRId64 " hash=%s legacy_end=%" PRId64 " at=%" PRId64,
             c->seq, c->hash, c->legacy_end, c->at);
}

static void cp_sign(struct store *st, struct store_audit_cp *c)
{
    char text[CP_LINE_MAX];

    cp_text(c, text, sizeof(text));
    store_audit_hmac_hex(store_audit_keys(st)->checkpoint, text, strlen(text), c->mac);
}

static bool cp_valid(struct store *st, const struct store_audit_cp *c)
{
    struct store_audit_cp want = *c;

    cp_sign(st, &want);
    return CRYPTO_memcmp(want.mac, c->mac, 64) == 0;
}

static enum err cp_append_file(const char *file, const struct store_audit_cp *c,
                               struct err_detail *d)
{
    char line[CP_LINE_MAX + 80];
    size_t n;
    int fd;

    cp_text(c, line, CP_LINE_MAX);
    n = strlen(line);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " mac=%s\n", c->mac);
    fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(d, ERR_STORE, "audit_checkpoint_unwritable",
                       "cannot open the audit checkpoint file %s: %s", file, strerror(errno));
    if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
        close(fd);
        return err_set(d, ERR_STORE, "audit_checkpoint_unwritable",
                       "cannot append to the audit checkpoint file %s", file);
    }
    close(fd);
    return ERR_OK;
}

/* Whether file is given but holds no checkpoint yet (missing or empty). Each replica on one
 * database keeps a file of its own, and signs into it only the checkpoints it makes: one that
 * starts when the head is signed already would have none, and `audit verify` there could not
 * rule out truncation. Such a file gets the head signed anew (the database keeps its row). */
static bool file_unanchored(const char *file)
{
    struct stat sb;

    if (file == NULL || file[0] == '\0')
        return false;
    return stat(file, &sb) != 0 ? errno == ENOENT : sb.st_size == 0;
}

/* Inside the write transaction: the head, and whether it is due for a checkpoint (always when
 * force). */
static enum err cp_due(struct store *st, int64_t now, int64_t min_rows, int64_t min_age_ms,
                       bool force, struct store_audit_cp *c, bool *due, struct err_detail *d)
{
    struct store_q *s;
    int64_t last_seq = -1, last_at = 0;
    enum err e;

    *due = false;
    *c = (struct store_audit_cp){.at = now};
    snprintf(c->hash, sizeof(c->hash), "%s", STORE_AUDIT_GENESIS);
    e = query_int(st, SQL_LEGACY_END, -1, &c->legacy_end, d);
    if (e == ERR_OK && c->legacy_end < 0)
        e = err_set(d, ERR_CONFLICT, "audit_anchor_missing", "the audit_anchor row is gone");
    if (e == ERR_OK)
        e = store_stmt(st, SQL_HEAD, &s, d);
    if (e == ERR_OK && (e = store_step_one(s, d, "audit head")) == ERR_OK) {
        c->seq = col_int64(s, 0);
        snprintf(c->hash, sizeof(c->hash), "%s", col_view(s, 1));
        store_reset(s);
    }
    if (e == ERR_NOT_FOUND)
        e = ERR_OK;
    if (e == ERR_OK)
        e = store_stmt(st, SQL_LAST_CP, &s, d);
    if (e == ERR_OK && (e = store_step_one(s, d, "audit checkpoint")) == ERR_OK) {
        last_seq = col_int64(s, 0);
        last_at = col_int64(s, 1);
        store_reset(s);
    }
    if (e == ERR_NOT_FOUND)
        e = ERR_OK;
    *due = force || last_seq < 0 ||
           (c->seq > last_seq && (c->seq - last_seq >= min_rows || now - last_at >= min_age_ms));
    return e;
}

enum err store_audit_checkpoint(struct store *st, const char *file, int64_t now, int64_t min_rows,
                                int64_t min_age_ms, bool *written, struct err_detail *d)
{
    struct store_audit_cp c;
    struct store_q *s;
    bool due = false;
    bool force = file_unanchored(file);
    enum err e;

    if (written != NULL)
        *written = false;
    if (!store_audit_keys(st)->set)
        return err_set(d, ERR_PRECONDITION, "audit_key_missing", "the audit key is not loaded");
    /* A look without the write lock first: most calls (a timer's) find nothing due. */
    e = cp_due(st, now, min_rows, min_age_ms, force, &c, &due, d);
    if (e != ERR_OK || !due)
        return e;
    e = store_tx_begin(st, d);
    if (e != ERR_OK)
        return e;
    e = cp_due(st, now, min_rows, min_age_ms, force, &c, &due, d);
    if (e != ERR_OK || !due) {
        store_tx_rollback(st);
        return e;
    }
    cp_sign(st, &c);
    e = store_stmt(st, SQL_CP_INSERT, &s, d);
    if (e == ERR_OK) {
        bind_int64(s, ":seq", c.seq);
        bind_text(s, ":hash", c.hash);
        bind_int64(s, ":legacy_end", c.legacy_end);
        bind_int64(s, ":at", c.at);
        bind_text(s, ":mac", c.mac);
        e = store_exec_stmt(s, d, "audit checkpoint");
    }
    /* The file first, while the write lock holds the head still: the rows it signs are
     * committed already, so the line is true whether or not this commit succeeds. */
    if (e == ERR_OK && file != NULL && file[0] != '\0')
        e = cp_append_file(file, &c, d);
    if (e != ERR_OK) {
        store_tx_rollback(st);
        return e;
    }
    e = store_tx_commit(st, d);
    if (e == ERR_OK && written != NULL)
        *written = true;
    return e;
}

/* ---- verification --------------------------------------------------------------------------- */

struct cps {
    struct store_audit_cp *v;
    size_t n, cap;
};

static struct store_audit_cp *cps_add(struct cps *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n] = (struct store_audit_cp){0};
    return &l->v[l->n++];
}

static enum err forged(const struct store_audit_cp *c, struct err_detail *d)
{
    return err_set(d, ERR_CONFLICT, "audit_checkpoint_forged",
                   "checkpoint %s is not signed with this audit key (forged, damaged, or made "
                   "with another key)",
                   c->where);
}

static enum err cps_from_db(struct store *st, struct cps *l, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_CP_ALL, &s, d);
    int rc = STORE_DONE;

    if (e != ERR_OK)
        return e;
    while (e == ERR_OK && (rc = store_step(s)) == STORE_ROW) {
        struct store_audit_cp *c = cps_add(l);
        const char *h = col_view(s, 1), *m = col_view(s, 4);
        c->seq = col_int64(s, 0);
        c->legacy_end = col_int64(s, 2);
        c->at = col_int64(s, 3);
        snprintf(c->hash, sizeof(c->hash), "%s", h ? h : "");
        snprintf(c->mac, sizeof(c->mac), "%s", m ? m : "");
        snprintf(c->where, sizeof(c->where), "seq %" PRId64 " in the database", c->seq);
        if (!cp_valid(st, c))
            e = forged(c, d);
    }
    store_reset(s);
    if (e == ERR_OK && rc != STORE_DONE)
        return err_set(d, ERR_STORE, "store", "reading audit_checkpoints failed");
    return e;
}

static enum err cps_from_file(struct store *st, const char *file, struct cps *l, size_t *found,
                              struct err_detail *d)
{
    char line[CP_LINE_MAX + 80];
    FILE *f = fopen(file, "re");
    int lineno = 0, used;
    enum err e = ERR_OK;

    *found = 0;
    if (f == NULL)
        return err_set(d, ERR_CONFLICT, "audit_unanchored",
                       "cannot read the audit checkpoint file %s (%s): truncation of the log "
                       "cannot be ruled out",
                       file, strerror(errno));
    while (e == ERR_OK && fgets(line, sizeof(line), f) != NULL) {
        struct store_audit_cp *c = cps_add(l);
        lineno++;
        snprintf(c->where, sizeof(c->where), "seq ? in %.100s line %d", file, lineno);
        used = 0;
        if (sscanf(line,
                   CP_PREFIX " seq=%" SCNd64 " hash=%64[0-9a-f] legacy_end=%" SCNd64 " at=%" SCNd64
                             " mac=%64[0-9a-f]%n",
                   &c->seq, c->hash, &c->legacy_end, &c->at, c->mac, &used) != 5 ||
            (line[used] != '\n' && line[used] != '\0')) {
            e = forged(c, d);
            break;
        }
        snprintf(c->where, sizeof(c->where), "seq %" PRId64 " in %.100s line %d", c->seq, file,
                 lineno);
        if (!cp_valid(st, c))
            e = forged(c, d);
        (*found)++;
    }
    fclose(f);
    if (e == ERR_OK && *found == 0)
        e = err_set(d, ERR_CONFLICT, "audit_unanchored",
                    "the audit checkpoint file %s holds no checkpoint: truncation of the log "
                    "cannot be ruled out",
                    file);
    return e;
}

static int cp_cmp(const void *a, const void *b)
{
    const struct store_audit_cp *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static enum err check(struct store *st, const char *file, struct store_audit_report *r,
                      struct err_detail *d)
{
    struct cps l = {0};
    size_t in_file = 0;
    enum err e = query_int(st, SQL_LEGACY_END, -1, &r->legacy_end, d);

    if (e == ERR_OK && r->legacy_end < 0)
        e = err_set(d, ERR_CONFLICT, "audit_anchor_missing",
                    "the audit_anchor row is gone: the log's keyed part cannot be told");
    if (e == ERR_OK)
        e = cps_from_db(st, &l, d);
    if (e == ERR_OK && file != NULL)
        e = cps_from_file(st, file, &l, &in_file, d);
    for (size_t i = 0; e == ERR_OK && i < l.n; i++) {
        if (l.v[i].legacy_end != r->legacy_end)
            e = err_set(d, ERR_CONFLICT, "audit_checkpoint_mismatch",
                        "audit log rewritten: the database says rows 1..%" PRId64
                        " predate the key, checkpoint %s says 1..%" PRId64,
                        r->legacy_end, l.v[i].where, l.v[i].legacy_end);
    }
    if (e == ERR_OK && l.n > 0) {
        qsort(l.v, l.n, sizeof(*l.v), cp_cmp);
        r->checkpoints = (int64_t)l.n;
        r->checkpoint_seq = l.v[l.n - 1].seq;
    }
    if (e == ERR_OK)
        e = store_audit_walk(st, r->legacy_end, l.v, l.n, r, d);
    free(l.v);
    return e;
}

enum err store_audit_verify_anchored(struct store *st, const char *file,
                                     struct store_audit_report *r, struct err_detail *d)
{
    bool own = !store_in_tx(st);
    enum err e;

    *r = (struct store_audit_report){0};
    if (!store_audit_keys(st)->set)
        return err_set(d, ERR_PRECONDITION, "audit_key_missing", "the audit key is not loaded");
    /* One snapshot, so appends during the walk don't look like a broken tail. */
    if (own) {
        e = store_tx_begin_read(st, d);
        if (e != ERR_OK)
            return e;
    }
    e = check(st, file, r, d);
    if (own)
        store_tx_rollback(st);
    return e;
}
