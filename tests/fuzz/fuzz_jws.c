/* fuzz_jws.c: jws_parse and jws_verify on untrusted compact tokens. Input starting with '{' is
 * taken as claims instead: they are signed with a throwaway key made at start-up (never
 * stored), and the token must then parse, verify and give the same claims back. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/jose.h"

static EVP_PKEY *key;

static void setup(void)
{
    if (key != NULL)
        return;
    key = jose_rsa_generate(2048);
    if (key == NULL)
        abort();
}

static void check_token(const char *token)
{
    struct jws j;
    struct err_detail d;

    if (jws_parse(token, &j, &d) != ERR_OK)
        return;
    if (j.header == NULL || j.claims == NULL || j.signing_input == NULL || j.sig == NULL)
        abort();
    if (jws_verify(&j, key, &d) == ERR_OK) {
        /* Only a token signed with our key may verify, and none in the corpus is. */
        fprintf(stderr, "unexpected valid signature\n");
        abort();
    }
    jws_cleanup(&j);
}

static void check_roundtrip(const uint8_t *data, size_t size)
{
    json_t *claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    const char *alg = size % 2 ? "PS256" : "RS256";
    char *token;
    struct jws j;
    struct err_detail d;

    if (!json_is_object(claims)) {
        json_decref(claims);
        return;
    }
    token = jws_sign(key, alg, NULL, claims);
    if (token == NULL) {
        fprintf(stderr, "jws_sign failed on a JSON object\n");
        abort();
    }
    if (jws_parse(token, &j, &d) != ERR_OK) {
        /* A signed token over a JSON object must come back (only size can stop it). */
        if (strlen(token) <= JOSE_MAX_TOKEN_BYTES) {
            fprintf(stderr, "own token does not parse: %s\n", d.msg);
            abort();
        }
    } else {
        if (jws_verify(&j, key, &d) != ERR_OK || strcmp(j.alg, alg) != 0 ||
            !json_equal(j.claims, claims)) {
            fprintf(stderr, "own token does not verify or claims changed: %s\n", d.msg);
            abort();
        }
        jws_cleanup(&j);
    }
    free(token);
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    setup();
    if (size > 0 && data[0] == '{') {
        check_roundtrip(data, size);
        return 0;
    }
    s = fuzz_strdup(data, size);
    check_token(s);
    free(s);
    return 0;
}
