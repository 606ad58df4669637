/* fuzz_azure_lro.c: azure_lro_decode on the persisted form of a long-running operation (read
 * back from the store after a restart). What decodes must encode and decode to the same. */
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/azure.h"

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    struct azure_lro l, again;
    struct buf out;

    if (azure_lro_decode(s, &l) != ERR_OK) {
        azure_lro_cleanup(&l);
        free(s);
        return 0;
    }
    buf_init(&out, 1 << 20);
    if (azure_lro_encode(&l, &out) != ERR_OK)
        abort();
    if (azure_lro_decode(out.data, &again) != ERR_OK || again.kind != l.kind ||
        strcmp(again.method, l.method) != 0 || !same(again.poll_url, l.poll_url) ||
        !same(again.resource_url, l.resource_url) || !same(again.subscription, l.subscription)) {
        fprintf(stderr, "lro round trip changed: %s -> %s\n", s, out.data);
        abort();
    }
    (void)azure_lro_state_str(l.state);
    azure_lro_cleanup(&again);
    azure_lro_cleanup(&l);
    buf_cleanup(&out);
    free(s);
    return 0;
}
