/* Inventory sync under a hostile Azure: injected 500s, 503s, connection resets and timeouts on
 * every call the sync makes (subscriptions, VM pages of 2, role assignments, Graph) are
 * retried and the sync is still exact (the API lists exactly azsim's VMs and a clean re-sync
 * writes nothing); ARM and Graph buckets shrunk to 5 make azsim throttle, and vmlogind
 * honours every Retry-After (azsim counts no violation); guests and disabled accounts named by
 * login-role assignments are stored with their userType and accountEnabled. */
#include "test_sync_common.h"

#define DAVE_GUEST "6b7c8d9e-0000-4000-8000-00000000d004"
#define ERIN_DISABLED "6b7c8d9e-0000-4000-8000-00000000d005"
#define BOB "6b7c8d9e-0000-4000-8000-00000000d002"
#define DEV_VM                                                                                     \
    "/subscriptions/7a1e9c44-0000-4000-8000-00000000cccc/resourceGroups/rg-dev/providers/"         \
    "Microsoft.Compute/virtualMachines/dev-ws2022-01"

/* Fast retries: a timeout costs one second, backoff stays under a second (at the default 500 ms
 * doubling, a request that fails six times in a row waits half a minute, and a whole sync of
 * pages of 2 under these fault rates could outlast the test's deadline), and many attempts
 * make giving up improbable. */
#define FAST_RETRY_CONFIG                                                                          \
    "http_timeout_s = 1\n"                                                                         \
    "retry_max_attempts = 12\n"                                                                    \
    "retry_max_total_s = 120\n"                                                                    \
    "retry_backoff_base_ms = 50\n"                                                                 \
    "retry_backoff_max_ms = 800\n"

static int64_t injected(struct sc *c)
{
    json_t *st = sc_sim(c, "GET", "/_sim/stats", NULL, 200);
    int64_t n = json_integer_value(json_object_get(json_object_get(st, "requests"), "_injected"));

    json_decref(st);
    return n;
}

/* A clean re-sync after run writes nothing and sees the same: run stored exactly Azure. */
static void assert_clean_resync_writes_nothing(struct sc *c, const json_t *run)
{
    json_t *again = sc_sync_now(c);
    char *text = json_dumps(json_object_get(again, "counts"), JSON_COMPACT);

    print_message("clean re-sync: %s\n", text);
    free(text);
    assert_int_equal(sc_count(again, "rowsWritten", NULL), 0);
    assert_int_equal(sc_count(again, "vms", "changed"), 0);
    assert_int_equal(sc_count(again, "vms", "gone"), 0);
    assert_int_equal(sc_count(again, "extensions", "changed"), 0);
    assert_int_equal(sc_count(again, "assignments", "changed"), 0);
    assert_int_equal(sc_count(again, "principals", "changed"), 0);
    assert_int_equal(sc_count(again, "groupMembers", "changed"), 0);
    assert_int_equal(sc_count(again, "vms", "seen"), sc_count(run, "vms", "seen"));
    assert_int_equal(sc_count(again, "extensions", "seen"), sc_count(run, "extensions", "seen"));
    assert_int_equal(sc_count(again, "assignments", "seen"), sc_count(run, "assignments", "seen"));
    assert_int_equal(sc_count(again, "principals", "seen"), sc_count(run, "principals", "seen"));
    json_decref(again);
}

static void test_faults_survived(void **state)
{
    const char *const args[] = {"--page-size", "2", NULL};
    static const char faults[] =
        "{\"timeoutMs\": 1500, \"failureRates\": {"
        "\"sub.list\": {\"500\": 0.15, \"503\": 0.1, \"reset\": 0.1, \"timeout\": 0.05},"
        "\"vm.list\": {\"500\": 0.15, \"503\": 0.1, \"reset\": 0.1, \"timeout\": 0.05},"
        "\"ra.list\": {\"500\": 0.15, \"503\": 0.1, \"reset\": 0.1, \"timeout\": 0.05},"
        "\"graph.*\": {\"500\": 0.15, \"503\": 0.1, \"reset\": 0.1, \"timeout\": 0.05}}}";
    struct sc c;
    json_t *run;
    int64_t n_sim;
    (void)state;

    sc_start_sim(&c, NULL, args);
    json_decref(sc_sim(&c, "PUT", "/_sim/faults", faults, 200));
    /* faults from the very first sync, which writes everything */
    sc_start_daemon(&c, FAST_RETRY_CONFIG);
    run = sc_sync_now(&c);
    print_message("sync under faults: %.1f s, %lld faults injected\n", sc_run_seconds(run),
                  (long long)injected(&c));
    assert_int_equal(sc_count(run, "errors", NULL), 0);
    assert_true(injected(&c) > 0);
    n_sim = (int64_t)sc_assert_vms_match_sim(&c);
    assert_int_equal(sc_count(run, "vms", "seen"), n_sim);
    assert_true(sc_count(run, "assignments", "seen") >= 2);
    assert_true(sc_count(run, "principals", "seen") >= 2);

    /* still exact: without faults a re-sync finds nothing to write */
    json_decref(sc_sim(&c, "PUT", "/_sim/faults", "{}", 200));
    assert_clean_resync_writes_nothing(&c, run);
    json_decref(run);

    /* a VM deleted in azsim while faults are on is gone after the next sync */
    json_decref(sc_sim(&c, "PUT", "/_sim/faults", faults, 200));
    {
        char path[512];

        snprintf(path, sizeof(path), "/_sim/vms?id=%s", DEV_VM);
        json_decref(sc_sim(&c, "DELETE", path, NULL, 200));
    }
    run = sc_sync_now(&c);
    assert_int_equal(sc_count(run, "vms", "gone"), 1);
    assert_int_equal(sc_count(run, "vms", "seen"), n_sim - 1);
    assert_int_equal((int64_t)sc_assert_vms_match_sim(&c), n_sim - 1);
    json_decref(run);
    sc_stop(&c);
}

static int64_t violations(struct sc *c, int64_t *throttled)
{
    json_t *st = sc_sim(c, "GET", "/_sim/stats", NULL, 200);
    int64_t v = json_integer_value(json_object_get(st, "violations"));

    *throttled = json_integer_value(json_object_get(st, "throttled429"));
    json_decref(st);
    return v;
}

static void test_throttle_honoured(void **state)
{
    const char *const args[] = {"--page-size", "2", NULL};
    struct sc c;
    json_t *run;
    int64_t throttled = 0;
    (void)state;

    sc_start_sim(&c, NULL, args);
    json_decref(sc_sim(&c, "PUT", "/_sim/throttle",
                       "{\"arm\": {\"reads\": {\"burst\": 5, \"rate\": 5}},"
                       " \"graph\": {\"burst\": 5, \"rate\": 5}}",
                       200));
    sc_start_daemon(&c, FAST_RETRY_CONFIG);
    run = sc_sync_now(&c);
    assert_int_equal(sc_count(run, "errors", NULL), 0);
    assert_int_equal(sc_count(run, "vms", "seen"), (int64_t)sc_assert_vms_match_sim(&c));
    assert_int_equal(violations(&c, &throttled), 0);
    /* a second pass right away runs into empty buckets again */
    assert_clean_resync_writes_nothing(&c, run);
    json_decref(run);
    assert_int_equal(violations(&c, &throttled), 0);
    print_message("azsim answered %lld requests with 429, no Retry-After violated\n",
                  (long long)throttled);
    sc_stop(&c);
}

/* The access view shows what the sync stored about a principal. */
static json_t *principal_of(struct sc *c, const char *id)
{
    char u[512];
    json_t *j;
    json_t *p;

    snprintf(u, sizeof(u), "%s/v1/principals/%s/access", c->d.p.url, id);
    j = sc_get_json(u, c->key, 200);
    p = json_incref(json_object_get(j, "principal"));
    json_decref(j);
    return p;
}

static void add_login_assignment(struct sc *c, const char *principal)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"scope\": \"%s\", \"roleName\": \"Virtual Machine User Login\","
             " \"principalId\": \"%s\", \"principalType\": \"User\"}",
             DEV_VM, principal);
    json_decref(sc_sim(c, "POST", "/_sim/roleAssignments", body, 201));
}

static void test_guest_and_disabled_principals(void **state)
{
    struct sc c;
    json_t *run;
    json_t *p;
    (void)state;

    sc_start_sim(&c, NULL, NULL);
    add_login_assignment(&c, DAVE_GUEST);
    add_login_assignment(&c, ERIN_DISABLED);
    sc_start_daemon(&c, NULL);
    run = sc_sync_now(&c);
    json_decref(run);

    p = principal_of(&c, DAVE_GUEST);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "user");
    assert_string_equal(json_string_value(json_object_get(p, "userType")), "Guest");
    assert_true(json_is_true(json_object_get(p, "accountEnabled")));
    json_decref(p);
    p = principal_of(&c, ERIN_DISABLED);
    assert_string_equal(json_string_value(json_object_get(p, "userType")), "Member");
    assert_true(json_is_false(json_object_get(p, "accountEnabled")));
    json_decref(p);
    /* a member reached through a group (VM Users) carries them too */
    p = principal_of(&c, BOB);
    assert_string_equal(json_string_value(json_object_get(p, "userType")), "Member");
    assert_true(json_is_true(json_object_get(p, "accountEnabled")));
    json_decref(p);

    /* and a re-sync keeps them without writing */
    run = sc_sync_now(&c);
    assert_int_equal(sc_count(run, "rowsWritten", NULL), 0);
    json_decref(run);
    p = principal_of(&c, DAVE_GUEST);
    assert_string_equal(json_string_value(json_object_get(p, "userType")), "Guest");
    json_decref(p);
    sc_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_and_disabled_principals),
        cmocka_unit_test(test_faults_survived),
        cmocka_unit_test(test_throttle_honoured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
