/* fuzz_api_events_last_id.c: api_events_parse_last_id on arbitrary text (the Last-Event-ID
 * header of GET /v1/events). An accepted id is non-negative and prints back to the same text
 * once its leading zeros are set aside (no sign, no space, no overflow). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "vmlogind/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    char buf[32];
    int64_t v = -1;

    if (api_events_parse_last_id(s, &v)) {
        const char *digits = s;
        while (digits[0] == '0' && digits[1] != '\0')
            digits++;
        snprintf(buf, sizeof(buf), "%" PRId64, v);
        if (v < 0 || strcmp(buf, digits) != 0) {
            fprintf(stderr, "'%s' -> %" PRId64 "\n", s, v);
            abort();
        }
    }
    free(s);
    return 0;
}
