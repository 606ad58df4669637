/* reconcile_sync_int.h: what the reconcile_sync*.c files share and nothing else sees: the
 * sync-pass object (one per run of the sync task, on the caller's stack, passed to every
 * phase), the pass's error, transaction and progress helpers (reconcile_sync.c), and one entry
 * per resource: subscriptions (reconcile_sync_subs.c), VMs with their extensions
 * (reconcile_sync_vms.c), login-role assignments (reconcile_sync_authz.c), principals and group
 * members (reconcile_sync_principals.c). */
#ifndef VMLOGIND_RECONCILE_SYNC_INT_H
#define VMLOGIND_RECONCILE_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/reconcile_sync.h"
#include "vmlogind/store.h"

#define SYNC_PROGRESS_MS 1000    /* progress row and lease renewal at most this often */
#define SYNC_DELETED_LOOKUPS 100 /* deletedItems lookups per run for vanished principals */
#define SYNC_RETRY_BASE_MS 5000  /* after a partial failure */
#define SYNC_RETRY_CAP_MS 300000
/* Pages are written in transactions of several pages: a commit writes every index page the
 * rows touched to the WAL, and rows with random keys touch most of them whatever their
 * number. The write lock is held at most this long or for this many rows. */
#define SYNC_TX_MS 250
#define SYNC_TX_ROWS 20000

/* The statusOnly listing of the subscription being synced, sorted by id for the join. */
struct vm_status {
    struct azure_vm *v;
    size_t n;
    size_t cap;
};

/* One run of the sync task: what it has counted (run), the transaction spanning pages, and the
 * scratch of the phase under way. Lives on reconcile_sync's stack; nothing of it is static or
 * per thread. */
struct sync_pass {
    const struct reconcile_env *env;
    const struct store_task *task;
    struct reconcile_job *job; /* on PostgreSQL: this pass holds the sync (reconcile_job_begin) */
    struct store_sync_run run;
    int64_t changes_start;    /* store_changes() when the run started */
    int64_t bookkeeping;      /* changes made by sync_runs writes, not observed rows */
    int64_t last_progress_ms; /* monotonic */
    int64_t now;              /* wall clock of this run: changed_at of what it writes */
    const char *sub;          /* subscription being listed */
    bool stopped;
    bool tx_open;                                  /* a transaction spanning pages is open */
    int64_t tx_start;                              /* monotonic, when it opened */
    size_t tx_rows;                                /* rows written in it */
    int64_t ms_vms, ms_assignments, ms_principals; /* time per phase, for the log */
    /* principals found by getByIds, sorted for lookups */
    char **found;
    size_t n_found;
    size_t cap_found;
    char **groups;
    size_t n_groups;
    size_t cap_groups;
    struct store_seen *seen_vms; /* VMs this pass listed: the rest of a listed sub is gone */
    struct store_seen *seen_ras; /* likewise role assignments */
    struct vm_status status;     /* statusOnly listing of s->sub, for the join */
    char **ext_lists;            /* VMs of s->sub whose extensions are listed on their own */
    size_t n_ext_lists;
    size_t cap_ext_lists;
};

/* ---- the pass (reconcile_sync.c) ---------------------------------------------------------- */

/* Counts an error of the pass and keeps it as the run's last error (ae or d may be NULL). */
void reconcile_sync_error(struct sync_pass *s, const char *what, const char *sub, enum err rc,
                          const struct azure_error *ae, const struct err_detail *d);
/* Pages are written in transactions of several pages: begin before a page's writes, end
 * after them (rc their result: a failure rolls back the open transaction), flush to commit
 * what is open. */
enum err reconcile_sync_tx_begin(struct sync_pass *s, struct err_detail *d) VL_MUST_CHECK;
enum err reconcile_sync_tx_end(struct sync_pass *s, size_t rows, enum err rc,
                               struct err_detail *d) VL_MUST_CHECK;
enum err reconcile_sync_tx_flush(struct sync_pass *s, struct err_detail *d) VL_MUST_CHECK;
/* A commit of the pages of the subscription being listed failed: counted, ERR_STORE. */
enum err reconcile_sync_store_error(struct sync_pass *s, const struct err_detail *d);
/* Between pages: keeps the lease, shows progress; ERR_UNAVAILABLE once stopping. */
enum err reconcile_sync_progress(struct sync_pass *s);
/* An empty page (the next one is late): commits what is open, so no write lock is held while
 * it comes, then progress. */
enum err reconcile_sync_page_late(struct sync_pass *s);
void reconcile_sync_strs_free(char **v, size_t n);

/* ---- one entry per resource ----------------------------------------------------------------- */

/* Lists subscriptions into *ids (new strings); marks the vanished ones gone. */
enum err reconcile_sync_subs(struct sync_pass *s, char ***ids, size_t *n);
/* The VMs of subscription sub and their extensions; marks gone what a complete listing lacks. */
void reconcile_sync_vms(struct sync_pass *s, const char *sub);
/* The login-role assignments seen from subscription sub; true when listed completely. */
bool reconcile_sync_authz(struct sync_pass *s, const char *sub);
/* The principals the assignments name and the members of their groups. */
void reconcile_sync_principals(struct sync_pass *s);

#endif
