/* fuzz_clock.c: clock_parse_rfc3339 on arbitrary text (ARM and Graph timestamps, expiry times
 * in requests). An accepted time must format and parse back to the same instant. */
#include <inttypes.h>
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    char buf[64];
    int64_t ms = 0, again = 0;

    if (clock_parse_rfc3339(s, &ms)) {
        clock_fmt_rfc3339(ms, buf, sizeof(buf));
        if (!clock_parse_rfc3339(buf, &again) || again != ms) {
            fprintf(stderr, "round trip: '%s' -> %" PRId64 " -> '%s'\n", s, ms, buf);
            abort();
        }
    }
    free(s);
    return 0;
}
