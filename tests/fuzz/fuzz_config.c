/* fuzz_config.c: config_load_file on an arbitrary file (the input is written to a private
 * temporary file, rewritten for each run), then config_validate and config_dump. Any prefix
 * that loads must leave a config that dumps. */
#include "fuzz.h"
#include "vmlogind/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    struct err_detail d;
    struct buf out;
    const char *path = fuzz_write_tmp(data, size);

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
