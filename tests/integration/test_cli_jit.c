/* test_cli_jit.c: just-in-time login through vmloginctl with people's own Entra tokens from
 * azsim (VMLOGIND_API_KEY carries any bearer): carol activates what Tier1 Operators may, alice
 * sees it with `activations --pending` and approves it, and the grant it made shows up; carol's
 * own `approve` is refused (exit 4, self_approval_forbidden); `deny` without --reason is a
 * usage error; a denial with one is shown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_cli_common.h"
#include "test_sync_common.h"
#include "test_jit_common.h"

#define RG "/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb/resourceGroups/rg-entra"
#define ALICE "6b7c8d9e-0000-4000-8000-00000000d001"
#define CAROL "6b7c8d9e-0000-4000-8000-00000000d003"
#define VM_ADMINS "9a8b7c6d-0000-4000-8000-00000000f001"
#define TIER1 "9a8b7c6d-0000-4000-8000-00000000f002"

static struct sc C;
static char DIR_[256];

/* vmloginctl args as the person holding token; exit code, stdout in *out. */
static int ctl(const char *token, const char *args, char **out, char **err)
{
    char cmd[2048];

    int n = snprintf(cmd, sizeof(cmd), "VMLOGIND_URL='%s' VMLOGIND_API_KEY='%s' '%s' %s", C.d.p.url,
                     token, VMLOGINCTL_BIN, args);

    assert_true(n > 0 && (size_t)n < sizeof(cmd)); /* a token fits */
    return cli_sh(DIR_, cmd, out, err);
}

static void test_activate_approve_deny(void **state)
{
    char *carol, *alice, *out = NULL, *err = NULL, args[512];
    json_t *j;
    char id[64];

    (void)state;
    sc_start(&C, NULL, NULL, NULL);
    h_tmpdir(DIR_, sizeof(DIR_));
    json_decref(h_api(C.d.p.url, C.key, "POST", "/v1/eligibilities",
                      "{\"scope\":\"" RG "\",\"role\":\"administrator\",\"principal\":{"
                      "\"objectId\":\"" TIER1 "\",\"type\":\"group\"},\"maxDuration\":\"PT4H\","
                      "\"requireApproval\":true,\"requireTicket\":true,"
                      "\"approvers\":[{\"objectId\":\"" VM_ADMINS "\"}]}",
                      201));
    json_decref(sc_sync_now(&C));
    carol = jit_mint_user(&C.s, CAROL, "carol@contoso.example");
    alice = jit_mint_user(&C.s, ALICE, "alice@contoso.example");

    /* the eligibility's terms: a ticket is needed (the API's 400: exit 1, naming the field) */
    assert_int_equal(ctl(carol,
                         "activate " RG
                         "/providers/Microsoft.Compute/virtualMachines/ws2022-app-01 --role "
                         "administrator --duration 2h --justification disk",
                         NULL, &err),
                     1);
    if (strstr(err, "ticket") == NULL)
        fail_msg("stderr does not name ticket: %s", err);
    free(err);
    assert_int_equal(ctl(carol,
                         "-o json activate " RG
                         "/providers/Microsoft.Compute/virtualMachines/ws2022-app-01 --role "
                         "administrator --duration 2h --justification disk --ticket INC-1",
                         &out, NULL),
                     0);
    j = json_loads(out, 0, NULL);
    assert_string_equal(h_jstr(j, "state"), "pendingApproval");
    assert_string_equal(h_jstr(j, "duration"), "PT2H");
    snprintf(id, sizeof(id), "%s", h_jstr(j, "id"));
    json_decref(j);
    free(out);

    /* the approver's queue lists it; the requester may not approve her own */
    assert_int_equal(ctl(alice, "-o tsv activations --pending", &out, NULL), 0);
    assert_non_null(strstr(out, id));
    free(out);
    snprintf(args, sizeof(args), "approve %s", id);
    assert_int_equal(ctl(carol, args, NULL, &err), 4);
    assert_non_null(strstr(err, "self_approval_forbidden"));
    free(err);
    snprintf(args, sizeof(args), "deny %s", id);
    assert_int_equal(ctl(alice, args, NULL, NULL), 2); /* --reason is required */
    snprintf(args, sizeof(args), "-o json approve %s --reason 'on call'", id);
    assert_int_equal(ctl(alice, args, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_string_equal(h_jstr(j, "state"), "active");
    assert_true(h_jstr(j, "grantId")[0] != '\0');
    json_decref(j);
    free(out);

    /* a second one, denied */
    assert_int_equal(ctl(carol,
                         "-o json activate " RG " --role administrator --duration PT1H "
                         "--ticket INC-2",
                         &out, NULL),
                     0);
    j = json_loads(out, 0, NULL);
    snprintf(args, sizeof(args), "-o json deny %s --reason 'use staging'", h_jstr(j, "id"));
    json_decref(j);
    free(out);
    assert_int_equal(ctl(alice, args, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_string_equal(h_jstr(j, "state"), "denied");
    assert_string_equal(h_jstr(j, "reason"), "use staging");
    json_decref(j);
    free(out);
    free(carol);
    free(alice);
    sc_stop(&C);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activate_approve_deny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
