/* xalloc.c: allocation wrappers that abort on out-of-memory (Redis, Kore). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmlogind/xalloc.h"

static void die(const char *msg, size_t len)
{
    if (write(STDERR_FILENO, msg, len) < 0)
        abort();
    abort();
}

static void oom(void)
{
    static const char msg[] = "level=error msg=out_of_memory\n";
    die(msg, sizeof(msg) - 1);
}

/* A size that overflows size_t: no allocation of it could succeed. */
static void overflow(void)
{
    static const char msg[] = "level=error msg=size_overflow\n";
    die(msg, sizeof(msg) - 1);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom();
    return q;
}

size_t xmul(size_t a, size_t b)
{
    size_t r;

    if (__builtin_mul_overflow(a, b, &r))
        overflow();
    return r;
}

size_t xadd(size_t a, size_t b)
{
    size_t r;

    if (__builtin_add_overflow(a, b, &r))
        overflow();
    return r;
}

void *xmallocarray(size_t n, size_t size)
{
    return xmalloc(xmul(n, size));
}

void *xreallocarray(void *p, size_t n, size_t size)
{
    return xrealloc(p, xmul(n, size));
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p;

    n = strnlen(s, n); /* at most n bytes, never past the string's end */
    p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom();
    return p;
}

static void *json_xmalloc(size_t n)
{
    return xmalloc(n);
}

void xalloc_init_json(void)
{
    json_set_alloc_funcs(json_xmalloc, free);
}
