/* fuzz_model_grant.c: the POST /v1/loginGrants body (and the same bytes as a PATCH body) as the API
 * reads it: json_loadb with duplicate keys refused (as http_server does),
 * model_grant_request_from_json (shape), then model_grant_validate (semantics) at a fixed "now". A
 * valid grant must carry a canonical scope that parses back to itself, and a role-assignment name.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>

#include "fuzz.h"
#include "vmlogind/model_grant.h"

#define NOW_MS 1767225600000 /* 2026-01-01T00:00:00Z */
#define MAX_DURATION_S 7776000

static void check_spec(const struct model_grant_spec *s)
{
    struct model_scope again;
    char name[UUID_STR_LEN];

    for (size_t i = 0; s->scope.arm[i] != '\0'; i++) {
        if (s->scope.key[i] != (char)tolower((unsigned char)s->scope.arm[i]))
            abort(); /* key is arm lowercased */
    }
    if (!model_scope_parse(s->scope.arm, &again, NULL, "scope") ||
        strcmp(again.key, s->scope.key) != 0 || again.kind != s->scope.kind) {
        fprintf(stderr, "canonical scope '%s' does not parse back\n", s->scope.arm);
        abort();
    }
    if ((s->upn[0] == '\0') == (s->object_id[0] == '\0'))
        abort(); /* exactly one of upn / objectId */
    if (s->expires_at != 0 &&
        (s->expires_at <= NOW_MS || s->expires_at > NOW_MS + (int64_t)MAX_DURATION_S * 1000))
        abort();
    model_grant_assignment_name(
        s->scope.key, s->role,
        s->object_id[0] ? s->object_id : "00000000-0000-0000-0000-000000000000", name);
    if (s->upn[0] != '\0')
        model_grant_pending_name(s->scope.key, s->role, s->upn, name);
    if (strlen(name) != UUID_STR_LEN - 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct model_grant_request rq;
    struct model_grant_spec spec;
    struct violations vs;

    if (root == NULL)
        return 0;
    violations_init(&vs);
    if (model_grant_request_from_json(root, &rq, &vs)) {
        violations_init(&vs);
        if (model_grant_validate(&rq, NOW_MS, MAX_DURATION_S, &spec, &vs))
            check_spec(&spec);
        else if (vs.n == 0)
            abort(); /* a refusal names at least one violation */
    } else if (vs.n == 0) {
        abort();
    }
    /* the same bytes as a PATCH body: a valid expiry is within bounds, a refusal names why */
    {
        int64_t exp = 0;

        violations_init(&vs);
        if (model_grant_change_from_json(root, NOW_MS, MAX_DURATION_S, &exp, &vs)) {
            if (exp <= NOW_MS || exp > NOW_MS + (int64_t)MAX_DURATION_S * 1000)
                abort();
        } else if (vs.n == 0) {
            abort();
        }
    }
    json_decref(root);
    return 0;
}
