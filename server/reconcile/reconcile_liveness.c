/* reconcile_liveness.c: on PostgreSQL, which replicas live. Each replica holds a session-level
 * advisory lock named after its lease owners' prefix ("host/pid/run/") for as long as it runs,
 * taken before its workers lease anything. A replica that dies (killed, its node lost) or loses the
 * database loses its session, and PostgreSQL frees the lock; the sweep of any other replica then
 * takes it, and so knows the leases of that prefix have no living holder, and makes their tasks
 * due at once instead of after task_lease_s. A replica that only lost its connection for a while
 * finds its lock gone at its own next sweep and takes it again; a task given away meanwhile is
 * run by another, and the lease checks refuse the first holder's late results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/log.h"
#include "vmlogind/reconcile.h"
#include "vmlogind/store_pg.h"
#include "vmlogind/xalloc.h"

struct reconcile_liveness {
    struct store *st;
    struct store_pg_job *own;
    char prefix[96];
};

/* The lock's name for an owner prefix (its first len bytes). */
static void live_name(const char *prefix, size_t len, char *out, size_t cap)
{
    snprintf(out, cap, "live:%.*s", (int)len, prefix);
}

struct reconcile_liveness *reconcile_liveness_new(struct store *st, const char *prefix)
{
    struct reconcile_liveness *l;
    struct err_detail d;
    char name[128];
    bool held = false;

    if (store_pg_pool(st) == NULL)
        return NULL;
    l = xcalloc(1, sizeof(*l));
    l->st = st;
    snprintf(l->prefix, sizeof(l->prefix), "%s", prefix);
    live_name(l->prefix, strlen(l->prefix), name, sizeof(name));
    if (store_pg_job_open(store_pg_pool(st), name, &l->own, &d) != ERR_OK ||
        store_pg_job_try(l->own, &held, &d) != ERR_OK || !held)
        log_warn("liveness_lock_failed",
                 "prefix=%s effect=\"other replicas may take this "
                 "one's leases until its next sweep\"",
                 l->prefix);
    return l;
}

/* Whether no replica holds the liveness lock of prefix (its first len bytes): dead. Taking the
 * lock tells; it is given back at once. A database that does not answer tells nothing. */
static bool prefix_dead(struct store *st, const char *prefix, size_t len)
{
    struct store_pg_job *job = NULL;
    struct err_detail d;
    char name[128];
    bool took = false;

    live_name(prefix, len, name, sizeof(name));
    if (store_pg_job_open(store_pg_pool(st), name, &job, &d) != ERR_OK ||
        store_pg_job_try(job, &took, &d) != ERR_OK)
        took = false;
    store_pg_job_close(job);
    return took;
}

/* The length of owner's "host/pid/run/" prefix, 0 when it has none (an owner that names no
 * run is left to its lease's end). */
static size_t owner_prefix(const char *owner)
{
    const char *p = owner;

    for (int i = 0; i < 3 && p != NULL; i++) {
        p = strchr(p, '/');
        if (p != NULL)
            p++;
    }
    return p != NULL ? (size_t)(p - owner) : 0;
}

void reconcile_liveness_sweep(struct reconcile_liveness *l, int64_t now)
{
    char **owners = NULL;
    struct err_detail d;
    bool held = false;

    if (l == NULL)
        return;
    if (store_pg_job_try(l->own, &held, &d) != ERR_OK || !held)
        log_warn("liveness_lock_failed", "prefix=%s", l->prefix);
    if (store_task_lease_owners(l->st, "", now, &owners, &d) != ERR_OK)
        return;
    for (size_t i = 0; owners[i] != NULL; i++) {
        size_t len = owner_prefix(owners[i]);
        int64_t n = 0;
        if (len == 0 || strncmp(owners[i], l->prefix, len) == 0)
            continue; /* not a replica's, or this one's */
        /* a prefix seen before in this list was judged already */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(owners[j], owners[i], len) == 0 && owner_prefix(owners[j]) == len;
        if (seen || !prefix_dead(l->st, owners[i], len))
            continue;
        for (size_t j = i; owners[j] != NULL; j++) {
            if (owner_prefix(owners[j]) != len || strncmp(owners[j], owners[i], len) != 0)
                continue;
            if (store_task_release_owner(l->st, owners[j], now, &n, &d) == ERR_OK && n > 0)
                log_info("task_leases_recovered",
                         "owner=%s tasks=%lld reason=\"no replica "
                         "holds its liveness lock\"",
                         owners[j], (long long)n);
        }
    }
    store_strv_free(owners);
}

void reconcile_liveness_free(struct reconcile_liveness *l)
{
    if (l == NULL)
        return;
    store_pg_job_close(l->own);
    free(l);
}
