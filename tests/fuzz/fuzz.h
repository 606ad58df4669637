/* fuzz.h: the one entry point every target defines (libFuzzer's), declared once so that
 * -Wmissing-prototypes holds, plus small helpers the targets share. A target must not leak,
 * must not depend on earlier inputs, and may abort() when a property it checks is broken. */
#ifndef VMLOGIND_FUZZ_H
#define VMLOGIND_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Writes the input to a private temporary file made on the first call (removed at exit) and
 * returns its path, for parsers that read files. */
static inline char *fuzz_tmp_path(void)
{
    static char path[64];
    return path;
}

static inline void fuzz_tmp_remove(void)
{
    unlink(fuzz_tmp_path());
}

static inline const char *fuzz_write_tmp(const uint8_t *data, size_t size)
{
    char *path = fuzz_tmp_path();
    FILE *f;

    if (path[0] == '\0') {
        int fd;
        snprintf(path, 64, "/tmp/vmlogind-fuzz.XXXXXX");
        fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(fuzz_tmp_remove);
    }
    f = fopen(path, "wb");
    if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    return path;
}

#endif
