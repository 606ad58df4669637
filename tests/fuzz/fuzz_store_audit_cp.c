/* fuzz_store_audit_cp.c: the audit checkpoint file that `vmlogind audit verify` reads (a file
 * outside the database, so anyone who can write it is an attacker). Any content must be read
 * without a crash, and none may verify: the store's key is random and never in the input, so
 * no line can carry a valid mac (an accepted file would be a forged anchor). */
#include "fuzz.h"
#include "vmlogind/store.h"
#include "vmlogind/xalloc.h"

static struct store *ST;

static void close_store(void)
{
    store_close(ST);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_tmp(data, size);
    struct store_audit_report r;
    struct err_detail d;

    if (ST == NULL) {
        xalloc_init_json();
        /* ":memory:" makes its own random audit key (store.h) */
        if (store_open(":memory:", &ST, NULL) != ERR_OK || store_migrate(ST, NULL) != ERR_OK)
            abort();
        atexit(close_store);
    }
    memset(&r, 0, sizeof(r));
    memset(&d, 0, sizeof(d));
    if (store_audit_verify_anchored(ST, path, &r, &d) == ERR_OK) {
        fprintf(stderr, "a checkpoint file without the key verified: %s\n", d.msg);
        abort();
    }
    return 0;
}
