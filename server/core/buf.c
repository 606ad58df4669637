/* buf.c: capped growable buffer. Every network-facing accumulation goes through one. */
#include <stdarg.h>
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
