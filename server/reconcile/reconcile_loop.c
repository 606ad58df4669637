/* reconcile_loop.c: the worker threads. A worker leases the earliest due task, runs its
 * kind's handler, and records the outcome; when nothing is due it waits for a wake-up or the
 * tick. It knows nothing of VMs or grants: the handlers do. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/reconcile.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define MAX_KINDS 32
/* Tasks a write touched, run ahead of the backlog; more than this in one burst fall back to
 * due order (nothing is lost: the tasks are in the store either way). */
#define MAX_HINTS 64
#define LIVENESS_SWEEP_MS 5000 /* PostgreSQL: how often dead replicas' leases are looked for */

struct hint {
    char kind[32];
    char key[512];
};

struct kind_stats {
    _Atomic uint64_t runs[3];
};

struct worker {
    struct reconciler *r;
    pthread_t thread;
    char owner[96];
};

struct reconciler {
    struct store *store;
    struct cloud_ops cloud; /* over az, when Azure is configured */
    bool has_cloud;
    const struct config *cfg;
    const struct reconcile_kind *kinds;
    size_t nkinds;
    struct kind_stats stats[MAX_KINDS];
    struct worker *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    _Atomic bool stopping;
    uint64_t wakes;               /* under mu */
    int64_t next_due;             /* under mu: the soonest reschedule this process made, 0 = none */
    struct hint hints[MAX_HINTS]; /* under mu: a ring of tasks to lease first */
    size_t hint_head, nhints;     /* under mu */
    _Atomic uint64_t hinted_runs; /* tasks leased through a hint */
    struct reconcile_liveness *live; /* PostgreSQL: this replica's liveness, NULL on SQLite */
    _Atomic int64_t swept;           /* when worker 0 last swept dead replicas' leases */
};

void reconcile_done(struct reconcile_result *res)
{
    res->outcome = RECONCILE_DONE;
}

void reconcile_again(struct reconcile_result *res, int64_t delay_ms, const char *fmt, ...)
{
    va_list ap;
    res->outcome = RECONCILE_AGAIN;
    res->delay_ms = delay_ms;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

void reconcile_failed(struct reconcile_result *res, const char *fmt, ...)
{
    va_list ap;
    res->outcome = RECONCILE_FAILED;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

bool reconcile_stopping(const struct reconcile_env *env)
{
    return env->rec != NULL && atomic_load(&env->rec->stopping);
}

bool reconcile_sleep(const struct reconcile_env *env, int64_t ms)
{
    struct reconciler *r = env->rec;
    struct timespec ts;
    int64_t until;

    if (r == NULL) {
        clock_sleep_ms(ms);
        return true;
    }
    until = clock_now_ms() + ms;
    pthread_mutex_lock(&r->mu);
    while (!atomic_load(&r->stopping) && clock_now_ms() < until) {
        ts.tv_sec = (time_t)(until / 1000);
        ts.tv_nsec = (long)(until % 1000) * 1000000L;
        pthread_cond_timedwait(&r->cond, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return !atomic_load(&r->stopping);
}

enum err reconcile_renew(const struct reconcile_env *env, const struct store_task *task,
                         const char *op_url)
{
    int64_t lease_ms = env->cfg ? env->cfg->task_lease_s * 1000 : 120000;
    return store_task_renew(env->store, task->id, env->owner, clock_now_ms(), lease_ms, op_url,
                            NULL);
}

enum err reconcile_audit(const struct reconcile_env *env, const char *action, const char *target,
                         const char *outcome, json_t *details, struct err_detail *d)
{
    char *text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    struct store_audit_entry e = {
        .at = clock_now_ms(),
        .actor = "reconciler",
        .action = (char *)action,
        .target = (char *)(target ? target : ""),
        .outcome = (char *)outcome,
        .details = text,
    };
    enum err rc = store_audit_append(env->store, &e, d);

    free(text);
    json_decref(details);
    return rc;
}

void reconciler_wake(struct reconciler *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->wakes++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

void reconciler_wake_task(struct reconciler *r, const char *kind, const char *key)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    if (kind != NULL && key != NULL && strlen(kind) < sizeof(r->hints[0].kind) &&
        strlen(key) < sizeof(r->hints[0].key) && r->nhints < MAX_HINTS) {
        struct hint *h = &r->hints[(r->hint_head + r->nhints) % MAX_HINTS];
        snprintf(h->kind, sizeof(h->kind), "%s", kind);
        snprintf(h->key, sizeof(h->key), "%s", key);
        r->nhints++;
    }
    r->wakes++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

/* Takes the oldest hint into *h; false when there is none. */
static bool pop_hint(struct reconciler *r, struct hint *h)
{
    bool any;

    pthread_mutex_lock(&r->mu);
    any = r->nhints > 0;
    if (any) {
        *h = r->hints[r->hint_head];
        r->hint_head = (r->hint_head + 1) % MAX_HINTS;
        r->nhints--;
    }
    pthread_mutex_unlock(&r->mu);
    return any;
}

/* Leases a hinted task if one is due, else the earliest due task. */
static enum err lease_next(struct worker *w, int64_t lease_ms, struct store_task *t,
                           struct err_detail *d)
{
    struct reconciler *r = w->r;
    struct hint h;

    while (pop_hint(r, &h)) {
        enum err rc =
            store_task_lease_key(r->store, h.kind, h.key, w->owner, clock_now_ms(), lease_ms, t, d);
        if (rc == ERR_OK) {
            atomic_fetch_add(&r->hinted_runs, 1);
            return rc;
        }
        if (rc != ERR_NOT_FOUND)
            log_warn("task_lease_failed", "kind=%s error=\"%s\"", h.kind, d->msg);
    }
    return store_task_lease(r->store, NULL, w->owner, clock_now_ms(), lease_ms, t, d);
}

static const struct reconcile_kind *find_kind(struct reconciler *r, const char *kind, size_t *idx)
{
    for (size_t i = 0; i < r->nkinds; i++) {
        if (strcmp(r->kinds[i].kind, kind) == 0) {
            *idx = i;
            return &r->kinds[i];
        }
    }
    return NULL;
}

static void record(struct worker *w, const struct store_task *t, struct reconcile_result *res)
{
    struct reconciler *r = w->r;
    struct err_detail d = {0};
    int64_t now = clock_now_ms();
    int64_t cap = r->cfg ? r->cfg->task_max_backoff_s * 1000 : 600000;
    enum err rc = ERR_OK;
    char q[600];

    switch (res->outcome) {
    case RECONCILE_DONE:
        rc = store_task_complete(r->store, t->id, w->owner, now, &d);
        break;
    case RECONCILE_AGAIN: {
        double jitter;
        int64_t delay = res->delay_ms;
        unsigned char rb;
        uuid_random_bytes(&rb, 1);
        jitter = rb / 256.0;
        if (delay <= 0)
            delay = store_task_backoff_ms(t->attempts, 1000, cap, jitter);
        pthread_mutex_lock(&r->mu);
        if (r->next_due <= now || now + delay < r->next_due)
            r->next_due = now + delay;
        pthread_mutex_unlock(&r->mu);
        rc = store_task_reschedule(r->store, t->id, w->owner, now, delay,
                                   res->error[0] ? res->error : NULL,
                                   res->op_url[0] ? res->op_url : NULL, &d);
        if (res->error[0] != '\0')
            log_info("task_retry", "kind=%s key=%s attempts=%d delay_ms=%lld error=%s", t->kind,
                     t->key, t->attempts, (long long)delay, log_q(q, sizeof(q), res->error));
        break;
    }
    case RECONCILE_FAILED:
        rc = store_task_fail(r->store, t->id, w->owner, now, res->error, &d);
        log_warn("task_failed", "kind=%s key=%s attempts=%d error=%s", t->kind, t->key, t->attempts,
                 log_q(q, sizeof(q), res->error));
        break;
    }
    if (rc != ERR_OK)
        log_warn("task_record_failed", "kind=%s key=%s error=%s", t->kind, t->key,
                 log_q(q, sizeof(q), d.msg));
}

static void run_one(struct worker *w, struct store_task *t)
{
    struct reconciler *r = w->r;
    struct reconcile_env env = {.store = r->store,
                                .cloud = r->has_cloud ? &r->cloud : NULL,
                                .cfg = r->cfg,
                                .rec = r,
                                .owner = w->owner};
    struct reconcile_result *res = xcalloc(1, sizeof(*res));
    const struct reconcile_kind *k;
    size_t idx = 0;

    k = find_kind(r, t->kind, &idx);
    if (k == NULL) {
        reconcile_failed(res, "no handler for task kind '%s'", t->kind);
        record(w, t, res);
        free(res);
        return;
    }
    k->fn(&env, t, res);
    if (atomic_load(&r->stopping) && res->outcome == RECONCILE_AGAIN && res->error[0] == '\0' &&
        res->delay_ms <= 0) {
        /* interrupted by shutdown: give the lease back so the next start resumes at once */
        struct err_detail d;
        if (store_task_release(r->store, t->id, w->owner, clock_now_ms(), &d) != ERR_OK)
            log_warn("task_release_failed", "kind=%s key=%s", t->kind, t->key);
    } else {
        record(w, t, res);
    }
    if (idx < MAX_KINDS)
        atomic_fetch_add(&r->stats[idx].runs[res->outcome], 1);
    free(res);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct reconciler *r = w->r;
    int64_t lease_ms = r->cfg ? r->cfg->task_lease_s * 1000 : 120000;
    int64_t tick = r->cfg ? r->cfg->reconcile_tick_ms : 200;

    while (!atomic_load(&r->stopping)) {
        struct store_task t = {0};
        struct err_detail d = {0};
        uint64_t seen;
        enum err rc;

        pthread_mutex_lock(&r->mu);
        seen = r->wakes;
        pthread_mutex_unlock(&r->mu);
        rc = lease_next(w, lease_ms, &t, &d);
        if (rc == ERR_OK) {
            run_one(w, &t);
            store_task_clear(&t);
            continue;
        }
        if (rc != ERR_NOT_FOUND)
            log_warn("task_lease_failed", "error=\"%s\"", d.msg);
        if (r->live != NULL && w == r->workers &&
            clock_mono_ms() - atomic_load(&r->swept) >= LIVENESS_SWEEP_MS) {
            atomic_store(&r->swept, clock_mono_ms());
            reconcile_liveness_sweep(r->live, clock_now_ms());
        }
        /* nothing due: wait for a wake-up, the soonest reschedule, or the tick */
        pthread_mutex_lock(&r->mu);
        if (r->wakes == seen && !atomic_load(&r->stopping)) {
            struct timespec ts;
            int64_t now = clock_now_ms();
            int64_t until = now + tick;
            if (r->next_due != 0 && r->next_due <= now) {
                /* it came due since the lease above looked: look again, once */
                r->next_due = 0;
                pthread_mutex_unlock(&r->mu);
                continue;
            }
            if (r->next_due != 0 && r->next_due < until)
                until = r->next_due;
            ts.tv_sec = (time_t)(until / 1000);
            ts.tv_nsec = (long)(until % 1000) * 1000000L;
            pthread_cond_timedwait(&r->cond, &r->mu, &ts);
        }
        pthread_mutex_unlock(&r->mu);
    }
    store_thread_done(r->store);
    return NULL;
}

/* Whether an owner id of this host names an earlier process that is gone. Owner ids are
 * "host/pid/run/wN" (run: a random token per start; older ones lack it). A pid that still
 * exists is alive, whoever it is, unless it is this process's own pid under another run: a
 * container's PID 1 started again after a kill has the same host name and pid as the run
 * before it. */
static bool owner_gone(const char *owner, size_t prefix_len, const char *run)
{
    char *end = NULL;
    long pid = strtol(owner + prefix_len, &end, 10);

    if (end == NULL || *end != '/' || pid <= 0)
        return false;
    if (pid == (long)getpid())
        return strncmp(end + 1, run, strlen(run)) != 0 || end[1 + strlen(run)] != '/';
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Leases held by an earlier process on this host that is no longer running (a crash or
 * SIGKILL) are given back at once instead of waiting out task_lease_s. */
static void release_dead_leases(struct store *st, const char *host, const char *run)
{
    char prefix[96], **owners = NULL;
    struct err_detail d;

    snprintf(prefix, sizeof(prefix), "%s/", host);
    if (store_task_lease_owners(st, prefix, clock_now_ms(), &owners, &d) != ERR_OK)
        return;
    for (size_t i = 0; owners[i] != NULL; i++) {
        int64_t n = 0;
        if (!owner_gone(owners[i], strlen(prefix), run))
            continue;
        if (store_task_release_owner(st, owners[i], clock_now_ms(), &n, &d) == ERR_OK && n > 0)
            log_info("task_leases_recovered", "owner=%s tasks=%lld", owners[i], (long long)n);
    }
    store_strv_free(owners);
}

enum err reconciler_start(struct store *st, struct azure_client *az, const struct config *cfg,
                          const struct reconcile_kind *kinds, size_t nkinds, int workers,
                          struct reconciler **out, struct err_detail *d)
{
    struct reconciler *r;
    char host[64] = "host";
    unsigned char rb[4];
    char run[9];

    if (nkinds > MAX_KINDS || workers < 1)
        return err_set(d, ERR_INVALID, "reconciler", "bad reconciler settings");
    gethostname(host, sizeof(host) - 1);
    uuid_random_bytes(rb, sizeof(rb));
    snprintf(run, sizeof(run), "%02x%02x%02x%02x", rb[0], rb[1], rb[2], rb[3]);
    release_dead_leases(st, host, run);
    r = xcalloc(1, sizeof(*r));
    r->store = st;
    {
        /* before any worker leases: other replicas must find this one alive */
        char prefix[96];
        snprintf(prefix, sizeof(prefix), "%s/%d/%s/", host, (int)getpid(), run);
        r->live = reconcile_liveness_new(st, prefix);
        reconcile_liveness_sweep(r->live, clock_now_ms());
        atomic_init(&r->swept, clock_mono_ms());
    }
    if (az != NULL)
        reconcile_cloud_azure_init(&r->cloud, az);
    r->has_cloud = az != NULL;
    r->cfg = cfg;
    r->kinds = kinds;
    r->nkinds = nkinds;
    pthread_mutex_init(&r->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_cond_init(&r->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    r->workers = xcalloc((size_t)workers, sizeof(*r->workers));
    for (int i = 0; i < workers; i++) {
        struct worker *w = &r->workers[i];
        w->r = r;
        snprintf(w->owner, sizeof(w->owner), "%s/%d/%s/w%d", host, (int)getpid(), run, i);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            r->nworkers = i;
            reconciler_stop(r);
            return err_set(d, ERR_INTERNAL, "reconciler", "could not start worker threads");
        }
    }
    r->nworkers = workers;
    *out = r;
    return ERR_OK;
}

void reconciler_stop(struct reconciler *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stopping, true);
    reconciler_wake(r);
    for (int i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i].thread, NULL);
    reconcile_liveness_free(r->live);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    free(r->workers);
    free(r);
}

enum err reconciler_metrics(struct reconciler *r, struct buf *out)
{
    static const char *names[] = {"done", "again", "failed"};
    enum err rc;

    rc = buf_appends(out, "# HELP vmlogind_reconcile_runs_total Task runs by kind and outcome."
                          "\n# TYPE vmlogind_reconcile_runs_total counter\n");
    for (size_t i = 0; rc == ERR_OK && i < r->nkinds && i < MAX_KINDS; i++)
        for (int o = 0; rc == ERR_OK && o < 3; o++)
            rc = buf_printf(out, "vmlogind_reconcile_runs_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
                            r->kinds[i].kind, names[o],
                            (unsigned long long)atomic_load(&r->stats[i].runs[o]));
    if (rc == ERR_OK)
        rc = buf_printf(out,
                        "# HELP vmlogind_reconcile_targeted_runs_total Tasks a write touched that "
                        "ran ahead of the due backlog.\n"
                        "# TYPE vmlogind_reconcile_targeted_runs_total counter\n"
                        "vmlogind_reconcile_targeted_runs_total %llu\n",
                        (unsigned long long)atomic_load(&r->hinted_runs));
    return rc;
}
