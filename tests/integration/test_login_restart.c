/* vmlogind SIGKILLed in the middle of an enablement (the AADLoginForWindows PUT accepted by
 * azsim, its long-running operation still in progress) and started again on the same
 * database converges: the same operation ends Succeeded, azsim holds exactly one extension,
 * and no second PUT or PATCH was sent (the stored operation URL was resumed). */
#include "test_login_common.h"

struct ext_wait {
    struct lctx *c;
    const char *vm;
};

/* The PUT reached azsim and the extension is still being created. */
static bool ext_creating(void *arg)
{
    struct ext_wait *w = arg;
    json_t *vm = sim_vm(w->c, w->vm);
    int n = 0;
    const json_t *e = sim_aad(vm, &n);
    const char *st = e ? json_string_value(
                             json_object_get(json_object_get(e, "properties"), "provisioningState"))
                       : NULL;
    bool ok = st != NULL && strcmp(st, "Creating") == 0;

    json_decref(vm);
    return ok;
}

static void test_sigkill_mid_enablement(void **state)
{
    struct lctx c;
    char op[64];
    struct ext_wait w;
    json_t *j, *vm;
    const json_t *e;
    int n = 0;
    (void)state;

    /* 10%: identity 1 s, extension 9 s: time enough to be killed in the middle */
    lctx_start(&c, "0.1", NULL);
    json_decref(login_call(&c, "PUT", VM_API(RG, "win10-desk-01"), NULL, op, sizeof(op)));
    w = (struct ext_wait){&c, VM_ARM(RG, "win10-desk-01")};
    assert_true(h_poll(ext_creating, &w, 20000));
    h_proc_kill(&c.d.p);
    assert_true(h_daemon_restart(&c.d, NULL));

    j = wait_op(&c, op, 60000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);
    vm = sim_vm(&c, VM_ARM(RG, "win10-desk-01"));
    e = sim_aad(vm, &n);
    assert_int_equal(n, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "properties"), "provisioningState")),
        "Succeeded");
    assert_string_equal(json_string_value(json_object_get(json_object_get(vm, "identity"), "type")),
                        "SystemAssigned");
    json_decref(vm);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win10-desk-01/extensions", "ext.put"), 1);
    assert_int_equal(sim_mutations(&c, "virtualMachines/win10-desk-01", "vm.patch"), 1);
    {
        char *st = login_state(&c, VM_API(RG, "win10-desk-01"));
        assert_string_equal(st, "enabled");
        free(st);
    }
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_mid_enablement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
