/* store_metrics.h: the few numbers /metrics reads from the store at scrape time: the
 * reconciler's queue (due tasks, the oldest due time, dead tasks) and operations by status.
 * Each is one indexed or small aggregate query. */
#ifndef VMLOGIND_STORE_METRICS_H
#define VMLOGIND_STORE_METRICS_H

#include <stdint.h>

#include "vmlogind/err.h"

struct store;

#define STORE_METRICS_OP_STATES                                                                    \
    6 /* NotStarted Running Succeeded Failed PartiallySucceeded                                    \
         Canceled */

struct store_metrics {
    int64_t tasks_due;        /* pending tasks due at now */
    int64_t tasks_oldest_due; /* the earliest due_at among them (ms), 0 when none */
    int64_t tasks_dead;       /* tasks that gave up */
    int64_t operations[STORE_METRICS_OP_STATES]; /* by store_metrics_op_states[i] */
};
extern const char *const store_metrics_op_states[STORE_METRICS_OP_STATES];

enum err store_metrics_read(struct store *st, int64_t now, struct store_metrics *m,
                            struct err_detail *d) VL_MUST_CHECK;

#endif
