/* fuzz_azure_retry_after.c: azure_retry_after_parse on a Retry-After header value (seconds,
 * decimal seconds or an HTTP date). The result is -1 or a wait that cannot be negative. */
#include <stdio.h>

#include "fuzz.h"
#include "azure/azure_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    /* A fixed "now" keeps runs reproducible: 2026-01-01T00:00:00Z. */
    int64_t ms = azure_retry_after_parse(s, 1767225600000);

    if (ms < -1) {
        fprintf(stderr, "Retry-After '%s' gave %lld\n", s, (long long)ms);
        abort();
    }
    free(s);
    return 0;
}
