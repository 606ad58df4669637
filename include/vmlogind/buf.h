/* buf.h: a growable byte buffer with a hard cap (curl's dynbuf). Always NUL-terminated. */
#ifndef VMLOGIND_BUF_H
#define VMLOGIND_BUF_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
