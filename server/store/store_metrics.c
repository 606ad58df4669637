/* store_metrics.c: what /metrics reads from the store at scrape time (store_metrics.h). */
#include <string.h>

#include "store/store_int.h"
#include "vmlogind/store_metrics.h"

const char *const store_metrics_op_states[STORE_METRICS_OP_STATES] = {
    "NotStarted", "Running", "Succeeded", "Failed", "PartiallySucceeded", "Canceled"};

/* tasks_due is on the partial index tasks_due (state = 'pending'). */
static const char SQL_TASKS[] =
    "SELECT (SELECT count(*) FROM tasks WHERE state = 'pending' AND due_at <= :now),"
    " coalesce((SELECT min(due_at) FROM tasks WHERE state = 'pending' AND due_at <= :now), 0),"
    " (SELECT count(*) FROM tasks WHERE state = 'dead')";
static const char SQL_OPS[] = "SELECT status, count(*) FROM operations GROUP BY status";

static enum err read_tasks(struct store *st, int64_t now, struct store_metrics *m,
                           struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_TASKS, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":now", now);
    e = store_step_one(s, d, "task metrics");
    if (e != ERR_OK)
        return e;
    m->tasks_due = col_int64(s, 0);
    m->tasks_oldest_due = col_int64(s, 1);
    m->tasks_dead = col_int64(s, 2);
    store_reset(s);
    return ERR_OK;
}

enum err store_metrics_read(struct store *st, int64_t now, struct store_metrics *m,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e;
    int rc;

    memset(m, 0, sizeof(*m));
    e = read_tasks(st, now, m, d);
    if (e == ERR_OK)
        e = store_stmt(st, SQL_OPS, &s, d);
    if (e != ERR_OK)
        return e;
    while ((rc = store_step(s)) == STORE_ROW) {
        const char *status = col_view(s, 0);
        for (int i = 0; status != NULL && i < STORE_METRICS_OP_STATES; i++)
            if (strcmp(status, store_metrics_op_states[i]) == 0)
                m->operations[i] = col_int64(s, 1);
    }
    if (rc != STORE_DONE)
        return store_fail(s, rc, d, "operation metrics");
    store_reset(s);
    return ERR_OK;
}
