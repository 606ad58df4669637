/* buf.h: a growable byte buffer with a hard cap (curl's dynbuf), always NUL-terminated, and a
 * streaming JSON writer on one. */
#ifndef VMLOGIND_BUF_H
#define VMLOGIND_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmlogind/err.h"

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* appending past max fails with ERR_TOO_LARGE */
};

void buf_init(struct buf *b, size_t max);
void buf_cleanup(struct buf *b);
void buf_reset(struct buf *b);
enum err buf_append(struct buf *b, const void *p, size_t n) VL_MUST_CHECK;
enum err buf_appends(struct buf *b, const char *s) VL_MUST_CHECK;
enum err buf_printf(struct buf *b, const char *fmt, ...) VL_MUST_CHECK
    __attribute__((format(printf, 2, 3)));
/* Appends the whole file at path to b (within b's cap). ERR_NOT_FOUND if it can't be opened,
 * ERR_TOO_LARGE past the cap (b is then reset), ERR_INVALID on a read error. */
enum err buf_read_file(struct buf *b, const char *path) VL_MUST_CHECK;
/* Hands the data to the caller (who frees it) and re-inits b. Never NULL. */
char *buf_steal(struct buf *b);

/* ---- a streaming JSON writer on a capped buffer ---------------------------------------------
 * Hot answers are built straight into one buffer, piece by piece: no jansson tree per request
 * (DESIGN §8: building and dumping trees was most of the cost of the access answers). The
 * caller opens and closes objects and arrays in order and writes keys before values; the
 * writer puts the commas. The first failure (the cap, nesting past BUF_JSON_DEPTH: a bug of
 * the caller, never input) is kept in rc and every later call does nothing. */
#define BUF_JSON_DEPTH 8

struct buf_json {
    struct buf b;
    enum err rc;
    int depth;
    bool after_key;
    bool comma[BUF_JSON_DEPTH];
};

/* Starts an empty writer with start bytes ready (no regrowth below that) and a cap of max. */
void buf_json_init(struct buf_json *w, size_t start, size_t max);
enum err buf_json_append_slow(struct buf_json *w, const char *s, size_t n) VL_MUST_CHECK;
/* Appends n bytes as they are; a piece that fits is one memcpy without a call (an answer is a
 * few thousand pieces). */
static inline void buf_json_raw(struct buf_json *w, const char *s, size_t n)
{
    struct buf *b = &w->b;

    if (w->rc != ERR_OK)
        return;
    if (n < b->cap - b->len) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    w->rc = buf_json_append_slow(w, s, n);
}
/* A constant piece. */
#define BUF_JSON_LIT(w, s) buf_json_raw((w), (s), sizeof(s) - 1)
/* The separator before a value: none right after a key, a comma between siblings. */
void buf_json_sep(struct buf_json *w);
/* s (len bytes) as a JSON string; s, s or null; s or null where plain says the caller knows
 * it needs no escaping. */
void buf_json_quoted_n(struct buf_json *w, const char *s, size_t len);
void buf_json_quoted(struct buf_json *w, const char *s);
void buf_json_quoted_or_null(struct buf_json *w, const char *s);
void buf_json_quoted_as(struct buf_json *w, const char *s, bool plain);
/* Opens ('{' or '[') and closes ('}' or ']') a value. */
void buf_json_open(struct buf_json *w, char c);
void buf_json_close(struct buf_json *w, char c);
/* A key of the open object; k is a constant of the caller, with nothing to escape. */
void buf_json_key(struct buf_json *w, const char *k);
/* A member already written as JSON text ("key":value), after its separator. */
void buf_json_member(struct buf_json *w, const char *text, size_t len);
/* v in decimal (no separator). */
void buf_json_uint(struct buf_json *w, uint64_t v);
/* Members: "k":"v" (null when v is NULL), "k":v, "k":true|false. */
void buf_json_str(struct buf_json *w, const char *k, const char *v);
void buf_json_int(struct buf_json *w, const char *k, int64_t v);
void buf_json_bool(struct buf_json *w, const char *k, bool v);

#endif
