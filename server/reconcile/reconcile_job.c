/* reconcile_job.c: tasks that run on one replica at a time (reconcile.h). The task's lease
 * already keeps other workers off it while it is renewed; the job is for the case the lease
 * cannot cover: a pass that outlives a lapsed lease (a slow ARM, a paused process) while another
 * replica leases the task again. The job is a session-level advisory lock on a connection of its
 * own, so a replica that dies frees it with its session. */
#include <stdio.h>
#include <stdlib.h>

#include "vmlogind/log.h"
#include "vmlogind/reconcile.h"
#include "vmlogind/store_pg.h"
#include "vmlogind/xalloc.h"

#define JOB_BUSY_RETRY_MS 15000 /* another replica runs it: look again after this */

struct reconcile_job {
    struct store_pg_job *pg;
};

bool reconcile_job_begin(const struct reconcile_env *env, const struct store_task *task,
                         struct reconcile_result *res, struct reconcile_job **job)
{
    struct store_pg *pool = store_pg_pool(env->store);
    struct store_pg_job *pj = NULL;
    struct err_detail d;
    char *name;
    bool held = false;
    enum err e;

    *job = NULL;
    if (pool == NULL)
        return true;
    name = xasprintf("%s:%s", task->kind, task->key != NULL ? task->key : "");
    e = store_pg_job_open(pool, name, &pj, &d);
    free(name);
    if (e != ERR_OK || store_pg_job_try(pj, &held, &d) != ERR_OK) {
        store_pg_job_close(pj);
        reconcile_again(res, JOB_BUSY_RETRY_MS, "the database's job lock: %s", d.msg);
        return false;
    }
    if (!held) {
        store_pg_job_close(pj);
        log_info("task_busy_elsewhere", "kind=%s key=%s", task->kind, task->key);
        reconcile_again(res, JOB_BUSY_RETRY_MS, "another replica runs it now");
        return false;
    }
    *job = xcalloc(1, sizeof(**job));
    (*job)->pg = pj;
    return true;
}

bool reconcile_job_held(struct reconcile_job *job)
{
    bool held = false;
    struct err_detail d;

    if (job == NULL)
        return true;
    return store_pg_job_try(job->pg, &held, &d) == ERR_OK && held;
}

void reconcile_job_end(struct reconcile_job *job)
{
    if (job == NULL)
        return;
    store_pg_job_close(job->pg);
    free(job);
}
