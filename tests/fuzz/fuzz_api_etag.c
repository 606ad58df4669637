/* fuzz_api_etag.c: api_etag_match on arbitrary text (the If-Match and If-None-Match headers of
 * writes), against a fixed current ETag, present and absent. The same text is accepted or
 * refused alike in both cases; nothing matches a resource that does not exist; a match on an
 * existing one means "*" or the current tag appears in the text. */
#include <string.h>

#include "fuzz.h"
#include "vmlogind/api.h"

#define CURRENT "\"0123456789abcdef0123456789abcdef\""

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    bool m_yes = false, m_no = false;
    bool ok_yes = api_etag_match(s, CURRENT, true, &m_yes);
    bool ok_no = api_etag_match(s, NULL, false, &m_no);

    if (ok_yes != ok_no || m_no ||
        (ok_yes && m_yes && strchr(s, '*') == NULL && strstr(s, CURRENT) == NULL))
        abort();
    free(s);
    return 0;
}
