/* xalloc.h: allocation that aborts on out-of-memory, so NULL never means OOM elsewhere. */
#ifndef VMLOGIND_XALLOC_H
#define VMLOGIND_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* n elements of size bytes (OpenBSD reallocarray): when n * size overflows size_t these abort
 * as on out of memory, instead of allocating the wrapped-around product. Every array size is
 * computed through them or xmul. */
void *xmallocarray(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
/* a * b and a + b, aborting when they overflow size_t. */
size_t xmul(size_t a, size_t b);
size_t xadd(size_t a, size_t b);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new heap string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Installs xmalloc/free as jansson's allocator. Call once at start. */
void xalloc_init_json(void);

#endif
