/* fuzz_sim_scenario.c: azsim's scenario loader (sim_state_load) on any file, so a malformed
 * scenario fails with a message instead of bringing the simulator down. The input is written
 * to a private temporary file; after each load the state is cleared. Inputs that name a
 * roleAssignmentsFile are skipped: that would read an arbitrary path. */
#include "fuzz.h"
#include "sim.h"

static void setup(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    /* As azsim's main does before loading. */
    pthread_mutex_init(&S.mu, NULL);
    S.time_scale = 1.0;
    S.faults = json_object();
    S.stats_requests = json_object();
    S.stats_violations_by_client = json_object();
    S.mutations = json_array();
    sim_throttle_defaults();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    const char *path;

    if (memmem(data, size, "roleAssignmentsFile", 19) != NULL)
        return 0;
    setup();
    path = fuzz_write_tmp(data, size);
    pthread_mutex_lock(&S.mu);
    if (!sim_state_load(path, err, sizeof(err)) && err[0] == '\0')
        abort(); /* a refusal always says why */
    sim_state_clear();
    pthread_mutex_unlock(&S.mu);
    return 0;
}
