/* A 10,000-VM fleet (sim/tools/genfleet: 4 subscriptions, 2,000 login-role assignments, 1,000
 * users, 20 groups) synced and counted exactly: GET /v1/virtualMachines lists exactly the VMs
 * of the generated scenario, a re-sync with no change writes nothing, and the ingest rate is
 * printed (not asserted: machines differ; bench/bench_sync measures it at 100k). */
#include "test_sync_common.h"

#define FLEET_VMS 10000

/* The scenario's VM ids, sorted case-insensitively. */
static size_t scenario_vm_ids(const char *scenario, char ***out)
{
    json_error_t e;
    json_t *root = json_load_file(scenario, 0, &e);
    json_t *vms = json_object_get(root, "vms");
    size_t n = json_array_size(vms);
    char **ids = calloc(n + 1, sizeof(char *));
    size_t i;
    json_t *vm;

    assert_non_null(root);
    json_array_foreach(vms, i, vm)
    {
        assert_true(asprintf(&ids[i],
                             "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                             "virtualMachines/%s",
                             json_string_value(json_object_get(vm, "subscriptionId")),
                             json_string_value(json_object_get(vm, "resourceGroup")),
                             json_string_value(json_object_get(vm, "name"))) > 0);
    }
    json_decref(root);
    qsort(ids, n, sizeof(char *), sc_cmp_lower);
    *out = ids;
    return n;
}

static void test_fleet_10k(void **state)
{
    char dir[256];
    char cmd[1024];
    char scenario[512];
    struct sc c;
    char **want = NULL;
    char **got = NULL;
    size_t n_want;
    size_t n_got;
    int pages = 0;
    json_t *run;
    double secs;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    h_tmpdir(dir, sizeof(dir));
    snprintf(cmd, sizeof(cmd),
             "python3 %s/sim/tools/genfleet --out %s --vms %d --role-assignments 2000 "
             "--users 1000 --groups 20 >/dev/null",
             SOURCE_DIR, dir, FLEET_VMS);
    assert_int_equal(system(cmd), 0);
    snprintf(scenario, sizeof(scenario), "%s/fleet.json", dir);
    n_want = scenario_vm_ids(scenario, &want);
    assert_int_equal(n_want, FLEET_VMS);

    sc_start(&c, scenario, NULL, NULL);
    run = sc_first_run(&c, 120000); /* the sync at start ingests the fleet */
    secs = sc_run_seconds(run);
    print_message("synced %lld VMs, %lld extensions, %lld assignments, %lld principals in %.2f s: "
                  "%.0f VMs/s\n",
                  (long long)sc_count(run, "vms", "seen"),
                  (long long)sc_count(run, "extensions", "seen"),
                  (long long)sc_count(run, "assignments", "seen"),
                  (long long)sc_count(run, "principals", "seen"), secs,
                  secs > 0 ? (double)FLEET_VMS / secs : 0.0);
    assert_int_equal(sc_count(run, "vms", "seen"), FLEET_VMS);
    assert_int_equal(sc_count(run, "vms", "changed"), FLEET_VMS);
    assert_int_equal(sc_count(run, "assignments", "seen"), 2000);
    assert_int_equal(sc_count(run, "errors", NULL), 0);
    json_decref(run);

    /* exactly the scenario's VMs, in pages of 1000 */
    n_got = sc_api_vm_ids(&c, "?limit=1000", &got, &pages);
    assert_int_equal(n_got, n_want);
    assert_int_equal(pages, FLEET_VMS / 1000);
    for (size_t i = 0; i < n_got; i++)
        assert_true(strcasecmp(got[i], want[i]) == 0);

    /* a re-sync of the unchanged fleet writes nothing */
    run = sc_sync_now(&c);
    secs = sc_run_seconds(run);
    print_message("re-sync of the unchanged fleet: %.2f s, %lld rows written\n", secs,
                  (long long)sc_count(run, "rowsWritten", NULL));
    assert_int_equal(sc_count(run, "vms", "seen"), FLEET_VMS);
    assert_int_equal(sc_count(run, "rowsWritten", NULL), 0);
    assert_int_equal(sc_count(run, "vms", "changed"), 0);
    json_decref(run);

    sc_free_ids(want, n_want);
    sc_free_ids(got, n_got);
    sc_stop(&c);
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_10k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
