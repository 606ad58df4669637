/* xalloc.h: allocation that aborts on out-of-memory, so NULL never means OOM elsewhere. */
#ifndef VMLOGIND_XALLOC_H
#define VMLOGIND_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new heap string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Installs xmalloc/free as jansson's allocator. Call once at start. */
void xalloc_init_json(void);

#endif
