/* fuzz_auth_jwks.c: the JWKS document an Entra tenant serves, as auth_jwt parses it on the
 * first token (the fetch seam returns the input). A fixed token signed with a throwaway key
 * made at start-up is then checked against whatever keys were read: it can only be accepted
 * when the document carries that very key. */
#include <jansson.h>
#include <stdio.h>

#include "fuzz.h"
#include "fuzz_auth.h"
#include "vmlogind/auth.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"

static char *token;
static char *our_n;
static const uint8_t *input;
static size_t input_size;

static enum err fetch(void *arg, const char *url, struct buf *out, struct err_detail *d)
{
    (void)arg;
    (void)d;
    return fuzz_auth_serve(url, out, input, input_size);
}

static void setup(void)
{
    EVP_PKEY *key;
    json_t *claims, *hdr, *jwk;

    if (token != NULL)
        return;
    log_set_level(LOG_ERROR);
    key = jose_rsa_generate(2048);
    if (key == NULL)
        abort();
    claims = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "iss", FUZZ_ISSUER, "tid", FUZZ_TENANT, "aud",
        "api://vmlogind", "oid", "0b7f5a1e-3c9d-4e2f-8a6b-1d2c3e4f5a6b", "azp",
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "exp", (json_int_t)1767228600, "ver", "2.0");
    hdr = json_pack("{s:s}", "kid", FUZZ_KID);
    token = jws_sign(key, "RS256", hdr, claims);
    jwk = jwk_from_pkey(key, FUZZ_KID, NULL);
    our_n = strdup(json_string_value(json_object_get(jwk, "n")));
    json_decref(jwk);
    json_decref(hdr);
    json_decref(claims);
    EVP_PKEY_free(key);
    if (token == NULL || our_n == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_jwt_options o = {.login_url = FUZZ_LOGIN,
                                 .tenant_id = FUZZ_TENANT,
                                 .audiences = "api://vmlogind",
                                 .skew_s = 300,
                                 .refresh_min_s = 300,
                                 .cache_s = 86400,
                                 .timeout_s = 5,
                                 .role_reader = "VmLogin.Reader",
                                 .fetch = fetch};
    struct auth_jwt *j = NULL;
    struct auth_caller *caller = NULL;
    struct err_detail d;
    enum err rc;

    setup();
    input = data;
    input_size = size;
    if (auth_jwt_new(&o, &j, &d) != ERR_OK)
        abort();
    rc = auth_jwt_verify(j, token, FUZZ_NOW_MS, &caller, &d);
    if (rc == ERR_OK && memmem(data, size, our_n, strlen(our_n)) == NULL) {
        fprintf(stderr, "accepted a token with a key the JWKS does not hold\n");
        abort();
    }
    auth_caller_free(caller);
    auth_jwt_free(j);
    return 0;
}
