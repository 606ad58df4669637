/* fuzz_auth_jwt.c: auth_jwt_verify, the inbound bearer-token check, against a fake tenant whose
 * discovery and JWKS are served through the fetch seam. The tenant's key is a throwaway made
 * at start-up (never stored). Input starting with '{' is merged over a set of valid claims and
 * signed with that key, so the claim checks themselves are fuzzed; anything else is a raw
 * token, which can then never be accepted. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "fuzz.h"
#include "fuzz_auth.h"
#include "vmlogind/auth.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

#define AUDIENCE "api://vmlogind"

static EVP_PKEY *key;
static bool skip_huge_times;
static char *jwks_text;
static struct auth_jwt *verifier;

static enum err fetch(void *arg, const char *url, struct buf *out, struct err_detail *d)
{
    (void)arg;
    (void)d;
    return fuzz_auth_serve(url, out, jwks_text, strlen(jwks_text));
}

static void setup(void)
{
    struct auth_jwt_options o = {.login_url = FUZZ_LOGIN,
                                 .tenant_id = FUZZ_TENANT,
                                 .audiences = AUDIENCE ", 00000000-0000-0000-0000-00000000c0de",
                                 .skew_s = 300,
                                 .refresh_min_s = 300,
                                 .cache_s = 86400,
                                 .timeout_s = 5,
                                 .role_reader = "VmLogin.Reader",
                                 .role_operator = "VmLogin.Operator",
                                 .role_administrator = "VmLogin.Administrator",
                                 .fetch = fetch};
    json_t *jwks;
    struct err_detail d;

    if (verifier != NULL)
        return;
    log_set_level(LOG_ERROR);
    /* Known finding (findings/auth_jwt/): exp/nbf beyond the int64 range of ms is converted
     * with undefined behaviour in claim_time(). FUZZ_SKIP_HUGE_TIMES=1 fuzzes past it. */
    skip_huge_times = getenv("FUZZ_SKIP_HUGE_TIMES") != NULL;
    key = jose_rsa_generate(2048);
    if (key == NULL)
        abort();
    jwks = json_pack("{s:[o]}", "keys", jwk_from_pkey(key, FUZZ_KID, NULL));
    jwks_text = json_dumps(jwks, JSON_COMPACT);
    json_decref(jwks);
    if (jwks_text == NULL || auth_jwt_new(&o, &verifier, &d) != ERR_OK)
        abort();
}

/* Valid claims, overridden by the input's members (null removes one). */
static char *signed_token(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *claims, *hdr;
    const char *k;
    json_t *v;
    char *token;

    if (!json_is_object(in)) {
        json_decref(in);
        return NULL;
    }
    claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:[s]}", "iss",
                       FUZZ_ISSUER, "tid", FUZZ_TENANT, "aud", AUDIENCE, "oid",
                       "0b7f5a1e-3c9d-4e2f-8a6b-1d2c3e4f5a6b", "scp", "user_impersonation", "azp",
                       "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "iat", (json_int_t)1767225000, "nbf",
                       (json_int_t)1767225000, "exp", (json_int_t)1767228600, "ver", "2.0", "roles",
                       "VmLogin.Operator");
    json_object_foreach(in, k, v)
    {
        if (skip_huge_times && json_is_number(v) && fabs(json_number_value(v)) > 9e15) {
            json_decref(claims);
            json_decref(in);
            return NULL;
        }
        if (json_is_null(v))
            json_object_del(claims, k);
        else
            json_object_set(claims, k, v);
    }
    hdr = json_pack("{s:s}", "kid", FUZZ_KID);
    token = jws_sign(key, "RS256", hdr, claims);
    json_decref(hdr);
    json_decref(claims);
    json_decref(in);
    return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_caller *caller = NULL;
    struct err_detail d;
    bool is_signed = size > 0 && data[0] == '{';
    char *token;
    enum err rc;

    setup();
    token = is_signed ? signed_token(data, size) : fuzz_strdup(data, size);
    if (token == NULL)
        return 0;
    rc = auth_jwt_verify(verifier, token, FUZZ_NOW_MS, &caller, &d);
    if (rc == ERR_OK) {
        if (!is_signed || caller == NULL || caller->subject[0] == '\0') {
            fprintf(stderr, "accepted a token it should not have\n");
            abort();
        }
    } else if (caller != NULL || (rc != ERR_UNAUTHORIZED && rc != ERR_UNAVAILABLE)) {
        abort();
    }
    auth_caller_free(caller);
    free(token);
    return 0;
}
