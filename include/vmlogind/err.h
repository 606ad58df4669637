/* err.h: the one error enum of the project, and the caller-stack detail buffer.
 * Fallible functions return enum err and put results in out-parameters. */
#ifndef VMLOGIND_ERR_H
#define VMLOGIND_ERR_H

#include <stddef.h>

#define VL_MUST_CHECK __attribute__((warn_unused_result))
#define VL_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum err {
    ERR_OK = 0,
    ERR_INVALID,
    ERR_NOT_FOUND,
    ERR_CONFLICT,
    ERR_PRECONDITION,
    ERR_UNAUTHORIZED,
    ERR_FORBIDDEN,
    ERR_TOO_LARGE,
    ERR_UNSUPPORTED_MEDIA,
    ERR_RATE_LIMITED,
    ERR_STORE,
    ERR_CLOUD,
    ERR_CLOUD_THROTTLED,
    ERR_TIMEOUT,
    ERR_UNAVAILABLE,
    ERR_INTERNAL,
};

/* Optional detail a callee may fill; callers may pass NULL. */
struct err_detail {
    char code[64]; /* a stable machine code, e.g. "RoleAssignmentExists" */
    char msg[256];
};

/* Name of an error ("ERR_NOT_FOUND" -> "not_found"); never NULL. */
const char *err_str(enum err e);

/* Fills d (if not NULL) and returns e, so `return err_set(d, ERR_INVALID, "x", "...")` reads well.
 */
enum err err_set(struct err_detail *d, enum err e, const char *code, const char *fmt, ...)
    VL_PRINTF(4, 5);

#endif
