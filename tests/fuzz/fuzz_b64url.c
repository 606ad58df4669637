/* fuzz_b64url.c: b64url_decode and b64_decode on arbitrary text. Whatever decodes must encode
 * back to something that decodes to the same bytes, with the promised trailing NUL. */
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/jose.h"

typedef unsigned char *(*decode_fn)(const char *s, size_t slen, size_t *out_len);
typedef char *(*encode_fn)(const void *p, size_t n);

static void check(decode_fn dec, encode_fn enc, const char *s, size_t n)
{
    size_t len = 0, len2 = 0;
    unsigned char *raw = dec(s, n, &len);
    unsigned char *again;
    char *text;

    if (raw == NULL)
        return;
    if (raw[len] != '\0') {
        fprintf(stderr, "decoded buffer not NUL-terminated\n");
        abort();
    }
    text = enc(raw, len);
    if (text == NULL)
        abort();
    again = dec(text, strlen(text), &len2);
    if (again == NULL || len2 != len || memcmp(again, raw, len) != 0) {
        fprintf(stderr, "round trip changed the bytes\n");
        abort();
    }
    free(again);
    free(text);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy without a NUL, so a read past slen is caught by ASan. */
    char *s = malloc(size ? size : 1);

    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    check(b64url_decode, b64url_encode, s, size);
    check(b64_decode, b64_encode, s, size);
    free(s);
    return 0;
}
