/* err.c: names for enum err and the detail filler. The HTTP mapping lives in http_response.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmlogind/err.h"

const char *err_str(enum err e)
{
    switch (e) {
    case ERR_OK:
        return "ok";
    case ERR_INVALID:
        return "invalid";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_PRECONDITION:
        return "precondition";
    case ERR_UNAUTHORIZED:
        return "unauthorized";
    case ERR_FORBIDDEN:
        return "forbidden";
    case ERR_TOO_LARGE:
        return "too_large";
    case ERR_UNSUPPORTED_MEDIA:
        return "unsupported_media";
    case ERR_RATE_LIMITED:
        return "rate_limited";
    case ERR_STORE:
        return "store";
    case ERR_CLOUD:
        return "cloud";
    case ERR_CLOUD_THROTTLED:
        return "cloud_throttled";
    case ERR_TIMEOUT:
        return "timeout";
    case ERR_UNAVAILABLE:
        return "unavailable";
    case ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}

enum err err_set(struct err_detail *d, enum err e, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (d == NULL)
        return e;
    snprintf(d->code, sizeof(d->code), "%s", code ? code : "");
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    return e;
}
