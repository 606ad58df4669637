/* test_jit_common.h: what the just-in-time tests share: a person's Entra access token for the
 * API minted by azsim (aud, oid, upn; scp by default and no app roles, as Entra issues one to a
 * user who holds none). Included by test_jit.c and test_cli_jit.c only. */
#ifndef TEST_JIT_COMMON_H
#define TEST_JIT_COMMON_H

#include "harness.h"

/* A new string: the token of the person oid/upn, from azsim at s. */
static inline char *jit_mint_user(const struct sim *s, const char *oid, const char *upn)
{
    char url[512], body[512];
    struct resp r;
    char *tok;

    snprintf(url, sizeof(url), "%s/_sim/tokens", s->p.url);
    snprintf(body, sizeof(body), "{\"aud\":\"" H_API_AUDIENCE "\",\"oid\":\"%s\",\"upn\":\"%s\"}",
             oid, upn);
    assert_int_equal(h_http("POST", url, body, NULL, &r), 200);
    tok = strdup(h_jstr(r.json, "access_token"));
    h_resp_cleanup(&r);
    assert_true(tok != NULL && tok[0] != '\0');
    return tok;
}

#endif
