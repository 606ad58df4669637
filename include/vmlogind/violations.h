/* violations.h: validation problems with their field paths, collected rather than returned
 * one at a time, so a caller learns every problem with a request at once. */
#ifndef VMLOGIND_VIOLATIONS_H
#define VMLOGIND_VIOLATIONS_H

#include <stddef.h>

#include "vmlogind/err.h"

#define VIOLATIONS_MAX 16

struct violation {
    char field[128]; /* JSON pointer-ish path, e.g. "principal.upn" */
    char code[48];   /* stable, e.g. "required", "wrong_type", "unknown_field" */
    char msg[200];
};

struct violations {
    size_t n;
    size_t dropped; /* more than VIOLATIONS_MAX */
    struct violation v[VIOLATIONS_MAX];
};

void violations_init(struct violations *vs);
void violations_add(struct violations *vs, const char *field, const char *code, const char *fmt,
                    ...) VL_PRINTF(4, 5);

#endif
