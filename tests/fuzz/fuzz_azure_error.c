/* fuzz_azure_error.c: azure_error_parse on any error body Azure (or something pretending to be
 * it) may send: ARM, unwrapped ARM, Graph, OAuth/AADSTS, IMDS. The first two bytes pick the
 * HTTP status; the rest is the body. Every field must stay NUL-terminated and in bounds. */
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/azure.h"

static void check_str(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct azure_error e;
    struct err_detail d;
    long status = 0;
    char *body;

    if (size >= 2) {
        status = 100 + (long)((data[0] << 8 | data[1]) % 500);
        data += 2;
        size -= 2;
    }
    /* NUL-terminated as the callers' struct buf is: a body that is not JSON is copied as text
     * up to its NUL (set_message ignores len), so an exact-size copy would stop every run. */
    body = fuzz_strdup(data, size);
    azure_error_clear(&e);
    azure_error_parse(&e, status, body, size);
    check_str(e.code, sizeof(e.code));
    check_str(e.inner, sizeof(e.inner));
    check_str(e.message, sizeof(e.message));
    check_str(e.request_id, sizeof(e.request_id));
    if (e.n_aadsts > AZURE_MAX_AADSTS)
        abort();
    (void)azure_error_to_err(&e);
    (void)azure_error_is(&e, "RoleAssignmentExists");
    (void)azure_error_has_aadsts(&e, 700016);
    azure_error_to_detail(&e, &d);
    check_str(d.msg, sizeof(d.msg));
    azure_error_to_detail(&e, NULL);
    free(body);
    return 0;
}
