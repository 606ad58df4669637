/* fuzz.h: the one entry point every target defines (libFuzzer's), declared once so that
 * -Wmissing-prototypes holds, plus small helpers the targets share. A target must not leak,
 * must not depend on earlier inputs, and may abort() when a property it checks is broken. */
#ifndef VMLOGIND_FUZZ_H
#define VMLOGIND_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (inner NULs kept: C parsers then see a prefix). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
