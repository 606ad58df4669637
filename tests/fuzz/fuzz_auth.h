/* fuzz_auth.h: the fake Entra tenant the auth targets verify tokens for: its names, a fixed
 * "now", and its OpenID discovery document (served through auth_jwt's fetch seam). */
#ifndef VMLOGIND_FUZZ_AUTH_H
#define VMLOGIND_FUZZ_AUTH_H

#include <stddef.h>
#include <string.h>

#include "vmlogind/buf.h"

#define FUZZ_LOGIN "https://login.fuzz.test"
#define FUZZ_TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define FUZZ_ISSUER FUZZ_LOGIN "/" FUZZ_TENANT "/v2.0"
#define FUZZ_KID "fuzz-kid-1"
#define FUZZ_NOW_MS 1767225600000 /* 2026-01-01T00:00:00Z */

/* auth_jwt's fetch, answered: the discovery document for its URL, else the JWKS given. */
static inline enum err fuzz_auth_serve(const char *url, struct buf *out, const void *jwks,
                                       size_t len)
{
    if (strstr(url, "openid-configuration") == NULL)
        return buf_append(out, jwks, len);
    return buf_appends(out, "{\"issuer\":\"" FUZZ_ISSUER "\",\"jwks_uri\":\"" FUZZ_LOGIN
                            "/" FUZZ_TENANT "/discovery/v2.0/keys\"}");
}

#endif
