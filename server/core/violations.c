/* violations.c: the validation problem list. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmlogind/violations.h"

void violations_init(struct violations *vs)
{
    memset(vs, 0, sizeof(*vs));
}

void violations_add(struct violations *vs, const char *field, const char *code, const char *fmt,
                    ...)
{
    struct violation *v;
    va_list ap;

    if (vs->n >= VIOLATIONS_MAX) {
        vs->dropped++;
        return;
    }
    v = &vs->v[vs->n++];
    snprintf(v->field, sizeof(v->field), "%s", field);
    snprintf(v->code, sizeof(v->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
    va_end(ap);
}
