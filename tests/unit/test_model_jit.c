/* test_model_jit.c: just-in-time bodies without I/O: ISO 8601 durations (parsed and printed
 * back), the eligibility body (its grant part refused as a grant's would be, its terms), the
 * activation body, approve/deny bodies, and the state shown for an activation whose grant ran
 * out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/model_jit.h"

#define SUB "0b1f6471-1bf0-4dda-aec3-111122223333"
#define GROUP "9a8b7c6d-0000-4000-8000-00000000f002"
#define NOW 1800000000000LL
#define MAX_S 7776000

static bool has_code(const struct violations *vs, const char *field, const char *code)
{
    for (size_t i = 0; i < vs->n; i++) {
        if (strcmp(vs->v[i].field, field) == 0 && strcmp(vs->v[i].code, code) == 0)
            return true;
    }
    return false;
}

static void test_durations(void **state)
{
    static const struct {
        const char *text;
        int64_t s; /* -1: refused */
    } cases[] = {
        {"PT8H", 28800},   {"PT30M", 1800},
        {"PT90S", 90},     {"P1D", 86400},
        {"P2W", 1209600},  {"P1DT2H3M4S", 93784},
        {"PT1H30M", 5400}, {"P", -1},
        {"PT", -1},        {"P1DT", -1},
        {"PT1M1H", -1},    {"PT1H1H", -1},
        {"P1Y", -1},       {"P1M", -1},
        {"PT-1H", -1},     {"PT1.5H", -1},
        {"8h", -1},        {"", -1},
        {"P9999W", -1},    {"PT1234567890S", -1},
    };
    char buf[48];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t s = -1;
        bool ok = model_jit_duration_parse(cases[i].text, &s);
        if (ok != (cases[i].s >= 0) || (ok && s != cases[i].s))
            fail_msg("%s: %d %lld", cases[i].text, ok, (long long)s);
    }
    assert_string_equal(model_jit_duration_fmt(93784, buf, sizeof(buf)), "P1DT2H3M4S");
    assert_string_equal(model_jit_duration_fmt(7200, buf, sizeof(buf)), "PT2H");
    assert_string_equal(model_jit_duration_fmt(86400, buf, sizeof(buf)), "P1D");
    assert_string_equal(model_jit_duration_fmt(0, buf, sizeof(buf)), "PT0S");
}

static bool eligibility(const char *text, struct model_eligibility_spec *e, struct violations *vs)
{
    json_t *j = json_loads(text, 0, NULL);
    bool ok;

    assert_non_null(j);
    violations_init(vs);
    ok = model_eligibility_from_json(j, NOW, MAX_S, e, vs);
    json_decref(j);
    return ok;
}

static void test_eligibility(void **state)
{
    struct model_eligibility_spec e;
    struct violations vs;

    (void)state;
    assert_true(
        eligibility("{\"scope\":\"/subscriptions/" SUB "/resourceGroups/rg\","
                    "\"role\":\"user\",\"principal\":{\"objectId\":\"" GROUP
                    "\",\"type\":\"group\"},\"maxDuration\":\"PT8H\","
                    "\"requireApproval\":true,\"requireTicket\":true,"
                    "\"approvers\":[{\"objectId\":\"9A8B7C6D-0000-4000-8000-00000000F001\"}]}",
                    &e, &vs));
    assert_int_equal(e.max_duration_s, 28800);
    assert_true(e.require_approval && e.require_ticket && !e.require_justification);
    assert_int_equal(e.napprovers, 1);
    assert_string_equal(e.approvers[0], "9a8b7c6d-0000-4000-8000-00000000f001");
    assert_int_equal(e.grant.role, MODEL_GRANT_ROLE_USER);
    assert_string_equal(e.grant.object_id, GROUP);

    /* the grant part is judged as a grant's (once its shape is right, as for a grant), the
     * terms field by field, all at once */
    assert_false(eligibility("{\"scope\":\"/providers/Microsoft.Management/managementGroups/mg\","
                             "\"role\":\"owner\",\"principal\":{},\"maxDuration\":\"PT0S\","
                             "\"requireApproval\":true,\"requireTicket\":1}",
                             &e, &vs));
    assert_true(has_code(&vs, "scope", "management_group_scope"));
    assert_true(has_code(&vs, "role", "unknown_role"));
    assert_true(has_code(&vs, "principal", "one_of_required"));
    assert_true(has_code(&vs, "maxDuration", "duration_out_of_range"));
    assert_true(has_code(&vs, "approvers", "required"));
    assert_true(has_code(&vs, "requireTicket", "wrong_type"));
    assert_false(eligibility("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                             "\"principal\":{\"objectId\":\"" GROUP "\"},\"maxDuration\":\"PT1H\","
                             "\"colour\":1}",
                             &e, &vs));
    assert_true(has_code(&vs, "colour", "unknown_field"));
    assert_false(eligibility("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                             "\"principal\":{\"objectId\":\"" GROUP "\"},\"maxDuration\":\"PT1H\","
                             "\"approvers\":[{\"objectId\":\"" GROUP "\"},{\"objectId\":\"" GROUP
                             "\"},{\"objectId\":\"x\"},{\"id\":1}]}",
                             &e, &vs));
    assert_true(has_code(&vs, "approvers[1].objectId", "duplicate"));
    assert_true(has_code(&vs, "approvers[2].objectId", "invalid_object_id"));
    assert_true(has_code(&vs, "approvers[3].id", "unknown_field"));
    assert_false(eligibility("{\"scope\":\"/subscriptions/" SUB "\",\"role\":\"user\","
                             "\"principal\":{\"objectId\":\"" GROUP "\"}}",
                             &e, &vs));
    assert_true(has_code(&vs, "maxDuration", "required"));
}

static void test_activation(void **state)
{
    struct model_activation_spec a;
    struct violations vs;
    json_t *j;

    (void)state;
    j = json_loads("{\"scope\":\"/subscriptions/" SUB "/resourceGroups/rg/virtualMachines/vm1\","
                   "\"role\":\"administrator\",\"duration\":\"PT2H\",\"justification\":\"x\","
                   "\"ticket\":\"INC-1\",\"principal\":{\"objectId\":\"" GROUP "\"}}",
                   0, NULL);
    violations_init(&vs);
    assert_true(model_activation_from_json(j, MAX_S, &a, &vs));
    assert_int_equal(a.scope.kind, MODEL_SCOPE_VM);
    assert_int_equal(a.duration_s, 7200);
    assert_string_equal(a.ticket, "INC-1");
    assert_string_equal(a.principal_id, GROUP);
    json_decref(j);
    j = json_loads("{\"scope\":1,\"role\":\"root\",\"duration\":\"P1000D\",\"principal\":"
                   "{\"upn\":\"a@b.c\"},\"x\":0}",
                   0, NULL);
    violations_init(&vs);
    assert_false(model_activation_from_json(j, MAX_S, &a, &vs));
    assert_true(has_code(&vs, "scope", "wrong_type"));
    assert_true(has_code(&vs, "role", "unknown_role"));
    assert_true(has_code(&vs, "duration", "duration_out_of_range"));
    assert_true(has_code(&vs, "principal.upn", "unknown_field"));
    assert_true(has_code(&vs, "x", "unknown_field"));
    json_decref(j);
}

static void test_decisions_and_states(void **state)
{
    struct violations vs;
    const char *reason;
    json_t *j = json_loads("{\"reason\":\"no\"}", 0, NULL);

    (void)state;
    violations_init(&vs);
    assert_true(model_activation_decision_from_json(NULL, false, &reason, &vs));
    assert_string_equal(reason, "");
    assert_false(model_activation_decision_from_json(NULL, true, &reason, &vs));
    assert_true(has_code(&vs, "reason", "required"));
    violations_init(&vs);
    assert_true(model_activation_decision_from_json(j, true, &reason, &vs));
    assert_string_equal(reason, "no");
    json_decref(j);

    assert_true(model_activation_state_valid("pendingApproval"));
    assert_false(model_activation_state_valid("pending"));
    assert_string_equal(model_activation_state_shown("active", "expired"), "expired");
    assert_string_equal(model_activation_state_shown("active", "revoking"), "deactivated");
    assert_string_equal(model_activation_state_shown("active", "active"), "active");
    assert_string_equal(model_activation_state_shown("denied", NULL), "denied");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_eligibility),
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_decisions_and_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
