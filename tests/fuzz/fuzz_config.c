/* fuzz_config.c: config_load_file on an arbitrary file (the input is written to a private
 * temporary file, rewritten for each run), then config_validate and config_dump. Any prefix
 * that loads must leave a config that dumps. */
#include <stdio.h>
#include <unistd.h>

#include "fuzz.h"
#include "vmlogind/config.h"

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

static void setup(void)
{
    int fd;

    if (path[0] != '\0')
        return;
    snprintf(path, sizeof(path), "/tmp/fuzz_config.XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    struct err_detail d;
    struct buf out;
    FILE *f;

    setup();
    f = fopen(path, "wb");
    if (f == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();

    config_defaults(&c);
    d.code[0] = '\0';
    if (config_load_file(&c, path, &d) != ERR_OK) {
        if (d.code[0] == '\0')
            abort();
        return 0;
    }
    d.code[0] = '\0';
    if (config_validate(&c, &d) != ERR_OK && d.code[0] == '\0')
        abort(); /* a refusal always names its reason */
    buf_init(&out, 1 << 20);
    if (config_dump(&c, &out) != ERR_OK)
        abort();
    buf_cleanup(&out);
    return 0;
}
