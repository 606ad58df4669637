/* buf.c: capped growable buffer. Every network-facing accumulation goes through one. Also the
 * streaming JSON writer of the hot answers, built on it. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/buf.h"
#include "vmlogind/xalloc.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static enum err grow(struct buf *b, size_t need)
{
    size_t ncap;

    if (need > b->max)
        return ERR_TOO_LARGE;
    if (need + 1 <= b->cap)
        return ERR_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need + 1)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    b->data = xrealloc(b->data, ncap);
    b->cap = ncap;
    return ERR_OK;
}

enum err buf_append(struct buf *b, const void *p, size_t n)
{
    enum err rc;

    if (n > b->max - b->len)
        return ERR_TOO_LARGE;
    rc = grow(b, b->len + n);
    if (rc != ERR_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return ERR_OK;
}

enum err buf_appends(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    char *big = NULL;
    int n;
    enum err rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return ERR_INTERNAL;
    if ((size_t)n < sizeof(small))
        return buf_append(b, small, (size_t)n);
    va_start(ap, fmt);
    n = vasprintf(&big, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ERR_INTERNAL;
    rc = buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

enum err buf_read_file(struct buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    enum err rc = ERR_OK;

    if (f == NULL)
        return ERR_NOT_FOUND;
    while (rc == ERR_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(b, chunk, n);
    if (rc == ERR_OK && ferror(f))
        rc = ERR_INVALID;
    fclose(f);
    /* the chunk may have held a secret */
    memset(chunk, 0, sizeof(chunk));
    if (rc != ERR_OK && b->data != NULL) {
        memset(b->data, 0, b->len);
        buf_reset(b);
    }
    return rc;
}

char *buf_steal(struct buf *b)
{
    char *p = b->data;
    size_t max = b->max;

    if (p == NULL)
        p = xstrdup("");
    buf_init(b, max);
    return p;
}

/* ---- the streaming JSON writer (see buf.h) ------------------------------------------------- */

void buf_json_init(struct buf_json *w, size_t start, size_t max)
{
    *w = (struct buf_json){0};
    buf_init(&w->b, max);
    if (start > max)
        start = max;
    w->b.data = xmalloc(start + 1);
    w->b.data[0] = '\0';
    w->b.cap = start + 1;
}

enum err buf_json_append_slow(struct buf_json *w, const char *s, size_t n)
{
    return buf_append(&w->b, s, n);
}

void buf_json_sep(struct buf_json *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth <= 0)
        return;
    if (w->depth > BUF_JSON_DEPTH) {
        /* deeper than comma[] tracks (buf_json_open flagged it) */
        if (w->rc == ERR_OK)
            w->rc = ERR_INTERNAL;
        return;
    }
    if (w->comma[w->depth - 1])
        buf_json_raw(w, ",", 1);
    w->comma[w->depth - 1] = true;
}

/* Does any of the n bytes at s need escaping in a JSON string (control, '"', '\\')? Eight
 * bytes at a time: the answers are mostly long ARM ids that need none. */
static bool needs_escape(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t v, q, b;
        memcpy(&v, s + i, 8);
        q = v ^ (ones * '"');
        b = v ^ (ones * '\\');
        if ((((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs)
            return true;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return true;
    }
    return false;
}

void buf_json_quoted_n(struct buf_json *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s, *end = s + len;

    buf_json_raw(w, "\"", 1);
    if (!needs_escape(s, len)) {
        buf_json_raw(w, s, len);
        buf_json_raw(w, "\"", 1);
        return;
    }
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_json_raw(w, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            buf_json_raw(w, esc, 2);
        } else {
            buf_json_raw(w, esc, 6);
        }
        run = s + 1;
    }
    buf_json_raw(w, run, (size_t)(s - run));
    buf_json_raw(w, "\"", 1);
}

void buf_json_quoted(struct buf_json *w, const char *s)
{
    buf_json_quoted_n(w, s, strlen(s));
}

void buf_json_quoted_or_null(struct buf_json *w, const char *s)
{
    if (s != NULL)
        buf_json_quoted(w, s);
    else
        BUF_JSON_LIT(w, "null");
}

void buf_json_quoted_as(struct buf_json *w, const char *s, bool plain)
{
    if (s == NULL || !plain) {
        buf_json_quoted_or_null(w, s);
        return;
    }
    BUF_JSON_LIT(w, "\"");
    buf_json_raw(w, s, strlen(s));
    BUF_JSON_LIT(w, "\"");
}

void buf_json_open(struct buf_json *w, char c)
{
    buf_json_sep(w);
    buf_json_raw(w, &c, 1);
    if (w->depth < BUF_JSON_DEPTH)
        w->comma[w->depth] = false;
    else if (w->rc == ERR_OK)
        w->rc = ERR_INTERNAL;
    w->depth++;
}

void buf_json_close(struct buf_json *w, char c)
{
    w->depth--;
    buf_json_raw(w, &c, 1);
}

void buf_json_key(struct buf_json *w, const char *k)
{
    buf_json_sep(w);
    buf_json_raw(w, "\"", 1);
    buf_json_raw(w, k, strlen(k));
    buf_json_raw(w, "\":", 2);
    w->after_key = true;
}

void buf_json_member(struct buf_json *w, const char *text, size_t len)
{
    buf_json_sep(w);
    buf_json_raw(w, text, len);
}

void buf_json_uint(struct buf_json *w, uint64_t v)
{
    char n[24];
    size_t i = sizeof(n);

    do {
        n[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    buf_json_raw(w, n + i, sizeof(n) - i);
}

void buf_json_str(struct buf_json *w, const char *k, const char *v)
{
    buf_json_key(w, k);
    buf_json_sep(w);
    buf_json_quoted_or_null(w, v);
}

void buf_json_int(struct buf_json *w, const char *k, int64_t v)
{
    buf_json_key(w, k);
    buf_json_sep(w);
    if (v < 0)
        BUF_JSON_LIT(w, "-");
    buf_json_uint(w, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

void buf_json_bool(struct buf_json *w, const char *k, bool v)
{
    buf_json_key(w, k);
    buf_json_sep(w);
    buf_json_raw(w, v ? "true" : "false", v ? 4 : 5);
}
