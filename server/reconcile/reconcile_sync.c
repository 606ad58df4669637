/* reconcile_sync.c: the inventory sync. One pass lists subscriptions, each subscription's VMs
 * twice as Azure documents it (virtualMachine.json, VirtualMachines_ListAll): statusOnly=true
 * for the run-time status (power state, OS name and version, extension statuses from the
 * instance view), then the plain list for the model (image, identity, tags, extensions from
 * resources[]), joined by id; a VM whose extensions these do not tell in full (not running, or
 * resources[] not embedded) has them listed on their own. Then the VM-login role assignments per
 * subscription (the listing includes the scopes above and below it), then resolves the principals
 * they name through Graph getByIds and each group's transitive members. Each page is written in one
 * transaction as it arrives; the store writes only rows that changed. Things are marked gone only
 * after a complete listing of their subscription, so a failed page never deletes. It does not judge
 * or change anything in Azure. The pass object and its helpers are here; each resource has its
 * own file (reconcile_sync_int.h lists them). */
#include <jansson.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/reconcile_sync_int.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/model_states.h"
#include "vmlogind/reconcile_login.h"
#include "vmlogind/store_login.h"
#include "vmlogind/xalloc.h"

/* Process-wide figures for /metrics. */
static _Atomic int64_t m_runs;
static _Atomic int64_t m_failed_runs;
static _Atomic int64_t m_last_duration_ms;
static _Atomic int64_t m_last_vms;
static _Atomic int64_t m_vms_seen_total;
static _Atomic int64_t m_vms_changed_total;
static _Atomic int64_t m_vms_gone_total;
static _Atomic int64_t m_rows_written_total;
static _Atomic int64_t m_last_success_ms;

void reconcile_sync_error(struct sync_pass *s, const char *what, const char *sub, enum err rc,
                          const struct azure_error *ae, const struct err_detail *d)
{
    char msg[sizeof(s->run.last_error)];

    if (ae != NULL && (ae->code[0] != '\0' || ae->status != 0))
        (void)snprintf(msg, sizeof(msg), "%s%s%s: %s (HTTP %ld%s%s)", what, sub ? " " : "",
                       sub ? sub : "", err_str(rc), ae->status, ae->code[0] ? ", " : "", ae->code);
    else
        (void)snprintf(msg, sizeof(msg), "%s%s%s: %s%s%s", what, sub ? " " : "", sub ? sub : "",
                       err_str(rc), d != NULL && d->msg[0] ? ": " : "", d != NULL ? d->msg : "");
    s->run.errors++;
    memcpy(s->run.last_error, msg, sizeof(msg));
    log_warn("sync_error", "error=\"%s\"", msg);
}

/* Commits the transaction spanning pages, if one is open. */
enum err reconcile_sync_tx_flush(struct sync_pass *s, struct err_detail *d)
{
    enum err rc;

    if (!s->tx_open)
        return ERR_OK;
    s->tx_open = false;
    rc = store_tx_commit(s->env->store, d);
    if (rc != ERR_OK) {
        store_seen_rolled_back(s->seen_vms);
        store_seen_rolled_back(s->seen_ras);
    }
    return rc;
}

/* Before a page's writes: opens a transaction unless one is open. */
enum err reconcile_sync_tx_begin(struct sync_pass *s, struct err_detail *d)
{
    enum err rc;

    if (s->tx_open)
        return ERR_OK;
    rc = store_tx_begin(s->env->store, d);
    if (rc == ERR_OK) {
        s->tx_open = true;
        s->tx_start = clock_mono_ms();
        s->tx_rows = 0;
    }
    return rc;
}

/* After a page's writes (rc their result): a failure rolls the open transaction back (with
 * the pages before it in the same transaction: the listing is then incomplete and marks
 * nothing gone); a transaction that is old or large enough is committed. */
enum err reconcile_sync_tx_end(struct sync_pass *s, size_t rows, enum err rc, struct err_detail *d)
{
    if (rc != ERR_OK) {
        s->tx_open = false;
        store_tx_rollback(s->env->store);
        store_seen_rolled_back(s->seen_vms);
        store_seen_rolled_back(s->seen_ras);
        return rc;
    }
    s->tx_rows += rows;
    if (s->tx_rows >= SYNC_TX_ROWS || clock_mono_ms() - s->tx_start >= SYNC_TX_MS)
        return reconcile_sync_tx_flush(s, d);
    return ERR_OK;
}

/* A commit of the pages of the subscription being listed failed. */
enum err reconcile_sync_store_error(struct sync_pass *s, const struct err_detail *d)
{
    reconcile_sync_error(s, "store page of", s->sub, ERR_STORE, NULL, d);
    return ERR_STORE;
}

/* Writes the run row; its own changes are bookkeeping, not observed rows. */
static void save_run(struct sync_pass *s)
{
    struct err_detail d;
    int64_t before = store_changes(s->env->store);

    s->run.rows_written = before - s->changes_start - s->bookkeeping;
    if (store_sync_run_update(s->env->store, &s->run, &d) != ERR_OK)
        log_warn("sync_progress_failed", "error=\"%s\"", d.msg);
    s->bookkeeping += store_changes(s->env->store) - before;
}

/* Between pages: keep the lease, show progress, notice a shutdown. */
enum err reconcile_sync_progress(struct sync_pass *s)
{
    int64_t mono = clock_mono_ms();
    int64_t before;

    if (reconcile_stopping(s->env)) {
        s->stopped = true;
        return ERR_UNAVAILABLE;
    }
    if (mono - s->last_progress_ms < SYNC_PROGRESS_MS)
        return ERR_OK;
    s->last_progress_ms = mono;
    if (!reconcile_job_held(s->job)) {
        /* the database dropped the job's session: another replica may sync now */
        log_warn("sync_job_lost", "effect=\"this pass stops; the task runs again\"");
        s->stopped = true;
        return ERR_UNAVAILABLE;
    }
    /* renewing the lease writes the task row: bookkeeping, not an observed row */
    before = store_changes(s->env->store);
    if (reconcile_renew(s->env, s->task, NULL) != ERR_OK)
        log_warn("sync_lease_lost", "effect=\"another worker may run the sync too\"");
    s->bookkeeping += store_changes(s->env->store) - before;
    save_run(s);
    return ERR_OK;
}

enum err reconcile_sync_page_late(struct sync_pass *s)
{
    struct err_detail d;

    return reconcile_sync_tx_flush(s, &d) == ERR_OK ? reconcile_sync_progress(s)
                                                    : reconcile_sync_store_error(s, &d);
}

void reconcile_sync_strs_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- the pass ----------------------------------------------------------------------------- */

static enum err sync_begin(struct sync_pass *s, struct err_detail *d)
{
    s->seen_vms = store_seen_new();
    s->seen_ras = store_seen_new();
    return store_extensions_sync_begin(s->env->store, d);
}

static void run_pass(struct sync_pass *s)
{
    struct err_detail d;
    char **subs = NULL;
    size_t n_subs = 0;
    bool all_assignments = true;
    size_t gone = 0;
    int64_t before;
    int64_t t;
    enum err rc;

    if (reconcile_sync_subs(s, &subs, &n_subs) != ERR_OK)
        return;
    /* Resetting the scratch sets is no observed write, whatever SQLite counts for it. */
    before = store_changes(s->env->store);
    rc = sync_begin(s, &d);
    s->bookkeeping += store_changes(s->env->store) - before;
    if (rc != ERR_OK) {
        reconcile_sync_error(s, "begin sync", NULL, ERR_STORE, NULL, &d);
        reconcile_sync_strs_free(subs, n_subs);
        return;
    }
    store_sync_cache_begin(s->env->store);
    t = clock_mono_ms();
    for (size_t i = 0; i < n_subs && !s->stopped; i++)
        reconcile_sync_vms(s, subs[i]);
    s->ms_vms = clock_mono_ms() - t;
    /* the VMs are marked gone: their seen set and facts are no longer needed */
    store_seen_free(s->seen_vms);
    s->seen_vms = NULL;
    t = clock_mono_ms();
    for (size_t i = 0; i < n_subs && !s->stopped; i++)
        all_assignments = reconcile_sync_authz(s, subs[i]) && all_assignments;
    /* Scopes above every subscription are seen only through the subscriptions' listings. */
    if (all_assignments && !s->stopped) {
        rc = store_role_assignments_mark_gone(s->env->store, s->seen_ras, NULL, s->now, &gone, &d);
        s->run.assignments_gone += (int64_t)gone;
        if (rc != ERR_OK)
            reconcile_sync_error(s, "mark role assignments gone", NULL, rc, NULL, &d);
    }
    s->ms_assignments = clock_mono_ms() - t;
    store_seen_free(s->seen_ras);
    s->seen_ras = NULL;
    s->sub = NULL;
    t = clock_mono_ms();
    if (!s->stopped)
        reconcile_sync_principals(s);
    s->ms_principals = clock_mono_ms() - t;
    store_sync_cache_end(s->env->store);
    reconcile_sync_strs_free(subs, n_subs);
}

static void record_metrics(const struct sync_pass *s, int64_t duration_ms)
{
    atomic_fetch_add(&m_runs, 1);
    if (!sync_state_is(s->run.state, SYNC_STATE_SUCCEEDED))
        atomic_fetch_add(&m_failed_runs, 1);
    else
        atomic_store(&m_last_success_ms, s->run.finished_at);
    atomic_store(&m_last_duration_ms, duration_ms);
    atomic_store(&m_last_vms, s->run.vms_seen);
    atomic_fetch_add(&m_vms_seen_total, s->run.vms_seen);
    atomic_fetch_add(&m_vms_changed_total, s->run.vms_changed);
    atomic_fetch_add(&m_vms_gone_total, s->run.vms_gone);
    atomic_fetch_add(&m_rows_written_total, s->run.rows_written);
}

/* VMs came or went: every entraLogin scope looks again now (new VMs in a covered resource
 * group or subscription get login at once, not at the next scope re-check). */
static void cover_changes(const struct reconcile_env *env, const struct sync_pass *s)
{
    struct store_login_setting *list = NULL;
    struct err_detail d;
    int64_t now = clock_now_ms();
    size_t n = 0;

    if (s->run.vms_changed == 0 && s->run.vms_gone == 0)
        return;
    if (store_login_setting_list(env->store, &list, &n, &d) != ERR_OK) {
        log_warn("sync_cover_failed", "error=\"%s\"", d.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (store_task_upsert(env->store, task_kind_str(TASK_KIND_SCOPE_LOGIN), list[i].scope_key,
                              now, NULL, now, &d) != ERR_OK)
            log_warn("sync_cover_failed", "scope=%s error=\"%s\"", list[i].scope_key, d.msg);
    store_login_setting_list_free(list, n);
    if (n > 0)
        reconciler_wake(env->rec);
}

static void finish(const struct reconcile_env *env, const struct store_task *task,
                   struct sync_pass *s, struct reconcile_result *res)
{
    int64_t interval_ms = env->cfg != NULL ? env->cfg->sync_interval_s * 1000 : 0;
    int64_t retry_ms;

    if (s->stopped) {
        /* Shutting down: the task is given back and the next start syncs again. */
        reconcile_again(res, 0, "%s", "");
        return;
    }
    if (s->run.errors == 0) {
        if (interval_ms > 0)
            reconcile_again(res, interval_ms, "%s", "");
        else
            reconcile_done(res);
        return;
    }
    retry_ms = store_task_backoff_ms(
        task->attempts, SYNC_RETRY_BASE_MS,
        interval_ms > 0 && interval_ms < SYNC_RETRY_CAP_MS ? interval_ms : SYNC_RETRY_CAP_MS,
        (double)(clock_mono_ms() % 1000) / 1000.0);
    reconcile_again(res, retry_ms, "%s", s->run.last_error);
}

void reconcile_sync(const struct reconcile_env *env, const struct store_task *task,
                    struct reconcile_result *res)
{
    struct sync_pass s = {.env = env, .task = task};
    struct err_detail d;
    int64_t t0 = clock_mono_ms();

    if (env->cloud == NULL) {
        reconcile_done(res); /* nothing to sync from; main has said why */
        return;
    }
    if (!reconcile_job_begin(env, task, res, &s.job))
        return; /* another replica syncs now */
    s.now = clock_now_ms();
    s.run.started_at = s.now;
    s.changes_start = store_changes(env->store);
    if (store_sync_run_start(env->store, &s.run, &d) != ERR_OK) {
        reconcile_job_end(s.job);
        reconcile_again(res, SYNC_RETRY_BASE_MS, "sync run: %s", d.msg);
        return;
    }
    s.bookkeeping = store_changes(env->store) - s.changes_start;
    s.last_progress_ms = t0;
    log_info("sync_start", "run=%lld", (long long)s.run.id);
    run_pass(&s);
    s.run.finished_at = clock_now_ms();
    (void)snprintf(s.run.state, sizeof(s.run.state), "%s",
                   sync_state_str(s.stopped            ? SYNC_STATE_FAILED
                                  : s.run.errors == 0  ? SYNC_STATE_SUCCEEDED
                                  : s.run.vms_seen > 0 ? SYNC_STATE_PARTIAL
                                                       : SYNC_STATE_FAILED));
    if (s.stopped)
        (void)snprintf(s.run.last_error, sizeof(s.run.last_error), "interrupted");
    save_run(&s);
    record_metrics(&s, clock_mono_ms() - t0);
    log_info("sync_done",
             "run=%lld state=%s ms=%lld subscriptions=%lld vms=%lld vms_changed=%lld "
             "vms_gone=%lld assignments=%lld principals=%lld rows_written=%lld errors=%lld "
             "ms_vms=%lld ms_assignments=%lld ms_principals=%lld",
             (long long)s.run.id, s.run.state, (long long)(clock_mono_ms() - t0),
             (long long)s.run.subscriptions, (long long)s.run.vms_seen,
             (long long)s.run.vms_changed, (long long)s.run.vms_gone,
             (long long)s.run.assignments_seen, (long long)s.run.principals_seen,
             (long long)s.run.rows_written, (long long)s.run.errors, (long long)s.ms_vms,
             (long long)s.ms_assignments, (long long)s.ms_principals);
    cover_changes(env, &s);
    finish(env, task, &s, res);
    reconcile_job_end(s.job);
    reconcile_sync_strs_free(s.found, s.n_found);
    reconcile_sync_strs_free(s.groups, s.n_groups);
    store_seen_free(s.seen_vms);
    store_seen_free(s.seen_ras);
#if defined(__GLIBC__)
    /* a pass frees megabytes of page buffers and parse trees in this thread's arena; give
     * them back rather than keep them resident until the next pass */
    (void)malloc_trim(0);
#endif
}

enum err reconcile_sync_schedule(struct store *st, int64_t now, struct err_detail *d)
{
    return store_task_upsert(st, task_kind_str(TASK_KIND_SYNC), TASK_KEY_SYNC, now, NULL, now, d);
}

enum err reconcile_sync_metrics(struct buf *out)
{
    return buf_printf(
        out,
        "# HELP vmlogind_sync_runs_total Inventory sync runs.\n"
        "# TYPE vmlogind_sync_runs_total counter\n"
        "vmlogind_sync_runs_total %lld\n"
        "# HELP vmlogind_sync_failed_runs_total Sync runs that ended with errors.\n"
        "# TYPE vmlogind_sync_failed_runs_total counter\n"
        "vmlogind_sync_failed_runs_total %lld\n"
        "# HELP vmlogind_sync_last_duration_seconds Duration of the last sync run.\n"
        "# TYPE vmlogind_sync_last_duration_seconds gauge\n"
        "vmlogind_sync_last_duration_seconds %.3f\n"
        "# HELP vmlogind_sync_last_success_timestamp_seconds End of the last clean sync.\n"
        "# TYPE vmlogind_sync_last_success_timestamp_seconds gauge\n"
        "vmlogind_sync_last_success_timestamp_seconds %.3f\n"
        "# HELP vmlogind_sync_last_vms VMs seen by the last sync run.\n"
        "# TYPE vmlogind_sync_last_vms gauge\n"
        "vmlogind_sync_last_vms %lld\n"
        "# HELP vmlogind_sync_vms_total VMs by what the sync found: seen, changed, gone.\n"
        "# TYPE vmlogind_sync_vms_total counter\n"
        "vmlogind_sync_vms_total{result=\"seen\"} %lld\n"
        "vmlogind_sync_vms_total{result=\"changed\"} %lld\n"
        "vmlogind_sync_vms_total{result=\"gone\"} %lld\n"
        "# HELP vmlogind_sync_rows_written_total Observed rows written by syncs.\n"
        "# TYPE vmlogind_sync_rows_written_total counter\n"
        "vmlogind_sync_rows_written_total %lld\n",
        (long long)atomic_load(&m_runs), (long long)atomic_load(&m_failed_runs),
        (double)atomic_load(&m_last_duration_ms) / 1000.0,
        (double)atomic_load(&m_last_success_ms) / 1000.0, (long long)atomic_load(&m_last_vms),
        (long long)atomic_load(&m_vms_seen_total), (long long)atomic_load(&m_vms_changed_total),
        (long long)atomic_load(&m_vms_gone_total), (long long)atomic_load(&m_rows_written_total));
}

int64_t reconcile_sync_generation(void)
{
    return atomic_load(&m_runs);
}
