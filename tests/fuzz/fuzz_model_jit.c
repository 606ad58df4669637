/* fuzz_model_jit.c: the just-in-time bodies as the API reads them: json_loadb with duplicate keys
 * refused (as http_server does), then the same bytes as a POST /v1/eligibilities body, a POST
 * /v1/activations body and an approve/deny body; and, when the input is a short string, as an
 * ISO 8601 duration. A valid eligibility's maxDuration and a valid activation's duration lie in
 * bounds and print back to the same seconds; a refusal names at least one violation. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "vmlogind/model_jit.h"

#define NOW_MS 1767225600000 /* 2026-01-01T00:00:00Z */
#define MAX_DURATION_S 7776000

/* seconds -> text -> seconds must be the identity. */
static void round_trip(int64_t s)
{
    char buf[64];
    int64_t back = -1;

    if (!model_jit_duration_parse(model_jit_duration_fmt(s, buf, sizeof(buf)), &back) ||
        back != s) {
        fprintf(stderr, "duration %lld prints as %s, reads back as %lld\n", (long long)s, buf,
                (long long)back);
        abort();
    }
}

static void bodies(const json_t *root)
{
    struct model_eligibility_spec e;
    struct model_activation_spec a;
    struct violations vs;
    const char *reason;

    violations_init(&vs);
    if (model_eligibility_from_json(root, NOW_MS, MAX_DURATION_S, &e, &vs)) {
        if (e.max_duration_s < MODEL_JIT_DURATION_MIN_S || e.max_duration_s > MAX_DURATION_S ||
            (e.require_approval && e.napprovers == 0) || e.napprovers > MODEL_JIT_APPROVERS_MAX)
            abort();
        round_trip(e.max_duration_s);
    } else if (vs.n == 0) {
        abort();
    }
    violations_init(&vs);
    if (model_activation_from_json(root, MAX_DURATION_S, &a, &vs)) {
        if (a.duration_s < MODEL_JIT_DURATION_MIN_S || a.duration_s > MAX_DURATION_S ||
            a.role == MODEL_GRANT_ROLE_NONE || strlen(a.ticket) > MODEL_JIT_TICKET_MAX)
            abort();
        round_trip(a.duration_s);
    } else if (vs.n == 0) {
        abort();
    }
    for (int required = 0; required < 2; required++) {
        violations_init(&vs);
        if (model_activation_decision_from_json(root, required, &reason, &vs)) {
            if (required && reason[0] == '\0')
                abort();
        } else if (vs.n == 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    char text[64];
    int64_t s;

    if (size < sizeof(text)) {
        memcpy(text, data, size);
        text[size] = '\0';
        if (model_jit_duration_parse(text, &s))
            round_trip(s);
    }
    if (root == NULL)
        return 0;
    bodies(root);
    json_decref(root);
    return 0;
}
