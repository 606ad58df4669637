/* azure_retry.c: retry arithmetic only: Retry-After parsing, backoff with jitter, which
 * statuses and methods may be retried. The loop that uses them is in azure_http.c. */
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"

#define RETRY_AFTER_MAX_MS (3600LL * 1000)

int64_t azure_retry_after_parse(const char *value, int64_t now_ms)
{
    char *end;
    double secs;
    time_t when;

    if (value == NULL)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    if (*value == '\0')
        return -1;
    if (isdigit((unsigned char)*value) || *value == '.') {
        secs = strtod(value, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (*end != '\0' || !isfinite(secs) || secs < 0)
            return -1;
        if (secs * 1000.0 > (double)RETRY_AFTER_MAX_MS)
            return RETRY_AFTER_MAX_MS;
        return (int64_t)ceil(secs * 1000.0);
    }
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    if ((int64_t)when > (INT64_MAX - RETRY_AFTER_MAX_MS) / 1000 - now_ms / 1000)
        return RETRY_AFTER_MAX_MS; /* a date absurdly far ahead: wait the longest we ever wait */
    if ((int64_t)when * 1000 <= now_ms)
        return 0;
    if ((int64_t)when * 1000 - now_ms > RETRY_AFTER_MAX_MS)
        return RETRY_AFTER_MAX_MS;
    return (int64_t)when * 1000 - now_ms;
}

int64_t azure_retry_backoff_ms(long base_ms, long max_ms, int n, uint32_t rnd)
{
    int64_t d = base_ms > 0 ? base_ms : 1;
    int64_t half;

    for (int i = 1; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    half = d / 2;
    return half + (d - half > 0 ? (int64_t)(rnd % (uint32_t)(d - half + 1)) : 0);
}

bool azure_retry_status_retriable(long status)
{
    switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return false;
    }
}

bool azure_retry_method_idempotent(const char *method)
{
    static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcasecmp(method, ok[i]) == 0)
            return true;
    }
    return false;
}
