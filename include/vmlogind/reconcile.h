/* reconcile.h: the level-triggered reconciler (DESIGN §5). Worker threads lease due tasks
 * from the store, run the handler registered for the task's kind, and record what it said:
 * converged, run again later (with the error and any async-operation URL to resume), or
 * failed for good. Handlers are idempotent; a crash anywhere is repaired by running the task
 * again once its lease expires. */
#ifndef VMLOGIND_RECONCILE_H
#define VMLOGIND_RECONCILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/config.h"
#include "vmlogind/err.h"
#include "vmlogind/model_states.h"
#include "vmlogind/store.h"

struct reconciler;
struct azure_client;
struct cloud_ops;

enum reconcile_outcome {
    RECONCILE_DONE = 0, /* converged: nothing to do until the task is upserted again */
    RECONCILE_AGAIN,    /* not yet: run again after delay_ms (0 = backoff by attempts) */
    RECONCILE_FAILED,   /* gave up: the task stays dead until upserted again */
};

struct reconcile_result {
    enum reconcile_outcome outcome;
    int64_t delay_ms;
    char error[512];   /* the last error, "" for none */
    char op_url[2048]; /* AGAIN: an async-operation URL to resume polling, "" for none */
};

/* What a handler gets: borrowed for the call. */
struct reconcile_env {
    struct store *store;
    const struct cloud_ops
        *cloud; /* every Azure call (reconcile_cloud.h); NULL: Azure not configured */
    const struct config *cfg;
    struct reconciler *rec;
    const char *owner; /* this worker's lease owner id */
};

typedef void (*reconcile_fn)(const struct reconcile_env *env, const struct store_task *task,
                             struct reconcile_result *res);

struct reconcile_kind {
    const char *kind;
    reconcile_fn fn;
};

/* Fills out[] with the kinds vmlogind runs, one per enum task_kind (reconcile_kinds.c), and
 * returns how many; out[] must outlive the reconciler started with it. */
size_t reconcile_kinds_init(struct reconcile_kind out[TASK_KIND_COUNT]);

/* Starts `workers` threads running kinds[]. st, az and cfg must outlive the reconciler. */
enum err reconciler_start(struct store *st, struct azure_client *az, const struct config *cfg,
                          const struct reconcile_kind *kinds, size_t nkinds, int workers,
                          struct reconciler **out, struct err_detail *d) VL_MUST_CHECK;
/* Asks every worker to finish its current step, gives unfinished leases back, joins. */
void reconciler_stop(struct reconciler *r);
/* Cuts the idle wait short (something became due). Safe from any thread; NULL is fine. */
void reconciler_wake(struct reconciler *r);
/* A wake-up after a write touched the task (kind, key): the first free worker leases that task
 * ahead of any older due backlog (a bot's enable does not queue behind a sync's 500 VMs). */
void reconciler_wake_task(struct reconciler *r, const char *kind, const char *key);
/* True once stop was asked: long handlers check it between steps. */
bool reconcile_stopping(const struct reconcile_env *env);
/* Sleeps up to ms, returning false early if the reconciler is stopping. */
bool reconcile_sleep(const struct reconcile_env *env, int64_t ms);
/* Extends the lease of the task being run (long handlers call it between pages). */
enum err reconcile_renew(const struct reconcile_env *env, const struct store_task *task,
                         const char *op_url) VL_MUST_CHECK;
/* Appends an audit row with actor "reconciler" (inside the caller's transaction when one is
 * open). details is stolen (may be NULL). Before every change it makes in Azure a handler
 * writes a "requested" row and skips the change when that fails: no audit row, no change. */
enum err reconcile_audit(const struct reconcile_env *env, const char *action, const char *target,
                         const char *outcome, json_t *details, struct err_detail *d) VL_MUST_CHECK;

/* Prometheus text: tasks run by kind and outcome. */
enum err reconciler_metrics(struct reconciler *r, struct buf *out) VL_MUST_CHECK;

/* Helpers for results. */
void reconcile_done(struct reconcile_result *res);
void reconcile_again(struct reconcile_result *res, int64_t delay_ms, const char *fmt, ...)
    VL_PRINTF(3, 4);
void reconcile_failed(struct reconcile_result *res, const char *fmt, ...) VL_PRINTF(2, 3);

/* Which replicas live, on PostgreSQL (reconcile_liveness.c): a replica holds a lock named after
 * its lease owners' prefix ("host/pid/run/") while it runs; a sweep gives back at once the leases
 * of every prefix whose lock nobody holds (a replica killed or cut off, on any host), instead of
 * letting them run out. NULL (and a no-op sweep) on SQLite. Start it before any lease. */
struct reconcile_liveness;
struct reconcile_liveness *reconcile_liveness_new(struct store *st, const char *prefix);
void reconcile_liveness_sweep(struct reconcile_liveness *l, int64_t now);
void reconcile_liveness_free(struct reconcile_liveness *l);

/* A task that must run on one replica at a time even when its lease runs out while it still
 * works (the inventory sync, sweeps): on PostgreSQL, a singleton job (store_pg_job) named by the
 * task's kind and key, held until reconcile_job_end. false: another replica runs it now; the
 * task is rescheduled for later with a note (res is set), the handler returns. On SQLite (one
 * replica) every begin succeeds and holds nothing. */
struct reconcile_job;
bool reconcile_job_begin(const struct reconcile_env *env, const struct store_task *task,
                         struct reconcile_result *res, struct reconcile_job **job);
/* Whether the job is still held (false: its session dropped, another replica may take it; the
 * handler should stop at its next step). Always true on SQLite. */
bool reconcile_job_held(struct reconcile_job *job);
/* Releases the job; NULL is allowed. */
void reconcile_job_end(struct reconcile_job *job);

#endif
