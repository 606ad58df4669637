/* Entra login on many VMs at once under a tight ARM write limit: four reconciler workers write
 * (identity PATCH, extension PUT) into one subscription whose write bucket azsim keeps at a
 * burst of 2 and 2 per second. azsim answers 429s; vmlogind must shut the bucket for every
 * worker until the Retry-After has passed and then let one request probe, so azsim counts at
 * most one violation per 429 (the probe's, were it early) and in practice none. */
#include "test_login_common.h"

#define N_VMS 10
#define THROTTLE_RG "rg-throttle"

static void add_vms(struct lctx *c)
{
    for (int i = 0; i < N_VMS; i++) {
        char body[512];

        snprintf(body, sizeof(body),
                 "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"" THROTTLE_RG "\","
                 "\"name\":\"thr-%02d\",\"location\":\"westeurope\"}",
                 i);
        json_decref(sim(c, "POST", "/_sim/vms", body));
    }
}

struct all_wait {
    struct lctx *c;
    int done;
};

/* Every VM of the resource group has one AADLoginForWindows in Succeeded. */
static bool all_enabled(void *arg)
{
    struct all_wait *w = arg;

    w->done = 0;
    for (int i = 0; i < N_VMS; i++) {
        char id[512];
        json_t *vm;
        const json_t *e;
        int n = 0;
        const char *ps;

        snprintf(id, sizeof(id), VM_ARM(THROTTLE_RG, "thr-%02d"), i);
        vm = sim_vm(w->c, id);
        e = sim_aad(vm, &n);
        ps = json_string_value(
            json_object_get(json_object_get(e, "properties"), "provisioningState"));
        if (e != NULL && n == 1 && ps != NULL && strcmp(ps, "Succeeded") == 0)
            w->done++;
        json_decref(vm);
    }
    return w->done == N_VMS;
}

static void test_workers_respect_write_throttle(void **state)
{
    struct lctx c;
    char op[64];
    struct all_wait w;
    json_t *st;
    int64_t throttled;
    int64_t violations;
    (void)state;

    /* the sync every second finds the VMs the scope covers */
    lctx_start(&c, "0.02", "sync_interval_s = 1\n");
    add_vms(&c);
    json_decref(sim(&c, "POST", "/_sim/stats/reset", "{}"));
    json_decref(
        sim(&c, "PUT", "/_sim/throttle", "{\"arm\":{\"writes\":{\"burst\":2,\"rate\":2}}}"));
    json_decref(login_call(&c, "PUT", "/v1/subscriptions/" SUB "/resourceGroups/" THROTTLE_RG, "{}",
                           op, sizeof(op)));
    w = (struct all_wait){&c, 0};
    if (!h_poll(all_enabled, &w, 120000))
        fail_msg("only %d of %d VMs enabled", w.done, N_VMS);
    st = sim(&c, "GET", "/_sim/stats", NULL);
    throttled = json_integer_value(json_object_get(st, "throttled429"));
    violations = json_integer_value(json_object_get(st, "violations"));
    json_decref(st);
    print_message("%d VMs enabled by 4 workers: azsim answered %lld 429s, counted %lld "
                  "violations\n",
                  N_VMS, (long long)throttled, (long long)violations);
    assert_true(throttled > 0); /* the limit did bite */
    assert_int_equal(violations, 0);
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_respect_write_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
