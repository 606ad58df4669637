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
 * or change anything in Azure. */
#include <jansson.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/azure_arm.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/model_states.h"
#include "vmlogind/reconcile_login.h"
#include "vmlogind/reconcile_sync.h"
#include "vmlogind/store_login.h"
#include "vmlogind/xalloc.h"

#define SYNC_PROGRESS_MS 1000    /* progress row and lease renewal at most this often */
#define SYNC_DELETED_LOOKUPS 100 /* deletedItems lookups per run for vanished principals */
#define SYNC_RETRY_BASE_MS 5000  /* after a partial failure */
#define SYNC_RETRY_CAP_MS 300000
/* Pages are written in transactions of several pages: a commit writes every index page the
 * rows touched to the WAL, and rows with random keys touch most of them whatever their
 * number. The write lock is held at most this long or for this many rows. */
#define SYNC_TX_MS 250
#define SYNC_TX_ROWS 20000

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

/* The statusOnly listing of the subscription being synced, sorted by id for the join. */
struct vm_status {
    struct azure_vm *v;
    size_t n;
    size_t cap;
};

struct sync {
    const struct reconcile_env *env;
    const struct store_task *task;
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
    struct vm_status status; /* statusOnly listing of s->sub, for the join */
    char **ext_lists;        /* VMs of s->sub whose extensions are listed on their own */
    size_t n_ext_lists;
    size_t cap_ext_lists;
};

static void note_error(struct sync *s, const char *what, const char *sub, enum err rc,
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
static enum err tx_flush(struct sync *s, struct err_detail *d)
{
    if (!s->tx_open)
        return ERR_OK;
    s->tx_open = false;
    return store_tx_commit(s->env->store, d);
}

/* Before a page's writes: opens a transaction unless one is open. */
static enum err tx_page_begin(struct sync *s, struct err_detail *d)
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
static enum err tx_page_end(struct sync *s, size_t rows, enum err rc, struct err_detail *d)
{
    if (rc != ERR_OK) {
        s->tx_open = false;
        store_tx_rollback(s->env->store);
        return rc;
    }
    s->tx_rows += rows;
    if (s->tx_rows >= SYNC_TX_ROWS || clock_mono_ms() - s->tx_start >= SYNC_TX_MS)
        return tx_flush(s, d);
    return ERR_OK;
}

/* A commit of the pages of the subscription being listed failed. */
static enum err note_store(struct sync *s, const struct err_detail *d)
{
    note_error(s, "store page of", s->sub, ERR_STORE, NULL, d);
    return ERR_STORE;
}

/* Writes the run row; its own changes are bookkeeping, not observed rows. */
static void save_run(struct sync *s)
{
    struct err_detail d;
    int64_t before = store_changes(s->env->store);

    s->run.rows_written = before - s->changes_start - s->bookkeeping;
    if (store_sync_run_update(s->env->store, &s->run, &d) != ERR_OK)
        log_warn("sync_progress_failed", "error=\"%s\"", d.msg);
    s->bookkeeping += store_changes(s->env->store) - before;
}

/* Between pages: keep the lease, show progress, notice a shutdown. */
static enum err progress(struct sync *s)
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
    /* renewing the lease writes the task row: bookkeeping, not an observed row */
    before = store_changes(s->env->store);
    if (reconcile_renew(s->env, s->task, NULL) != ERR_OK)
        log_warn("sync_lease_lost", "effect=\"another worker may run the sync too\"");
    s->bookkeeping += store_changes(s->env->store) - before;
    save_run(s);
    return ERR_OK;
}

/* ---- subscriptions ------------------------------------------------------------------------ */

struct subs {
    struct sync *s;
    char **ids;
    size_t n;
    size_t cap;
    enum err rc;
    struct err_detail d;
};

static enum err on_subs(const struct azure_subscription *subs, size_t n, void *arg)
{
    struct subs *l = arg;
    bool changed;

    for (size_t i = 0; i < n; i++) {
        if (subs[i].subscription_id == NULL)
            continue;
        l->rc = store_subscription_upsert(l->s->env->store, subs[i].subscription_id,
                                          subs[i].display_name, subs[i].state, subs[i].tenant_id,
                                          l->s->now, &changed, &l->d);
        if (l->rc != ERR_OK)
            return l->rc;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 8;
            l->ids = xreallocarray(l->ids, l->cap, sizeof(*l->ids));
        }
        l->ids[l->n++] = xstrdup(subs[i].subscription_id);
    }
    return progress(l->s);
}

static bool listed(char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(ids[i], id) == 0)
            return true;
    }
    return false;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/* Everything of a subscription Azure no longer lists is gone. */
static void sub_vanished(struct sync *s, const char *sub)
{
    struct store *st = s->env->store;
    struct err_detail d;
    size_t vms = 0;
    size_t exts = 0;
    size_t ras = 0;
    bool changed;
    int64_t before;
    enum err rc = store_subscription_mark_gone(st, sub, s->now, &changed, &d);

    before = store_changes(st);
    store_vms_sync_begin(st);
    s->bookkeeping += store_changes(st) - before;
    if (rc == ERR_OK)
        rc = store_vms_mark_gone(st, sub, s->now, &vms, &d);
    if (rc == ERR_OK)
        rc = store_extensions_sync_begin(st, &d);
    if (rc == ERR_OK)
        rc = store_extensions_mark_gone(st, sub, s->now, &exts, &d);
    if (rc == ERR_OK)
        rc = store_role_assignments_sync_begin(st, &d);
    if (rc == ERR_OK)
        rc = store_role_assignments_mark_gone(st, sub, s->now, &ras, &d);
    s->run.vms_gone += (int64_t)vms;
    s->run.extensions_gone += (int64_t)exts;
    s->run.assignments_gone += (int64_t)ras;
    if (rc != ERR_OK)
        note_error(s, "mark subscription gone", sub, rc, NULL, &d);
}

/* Lists subscriptions into *ids; marks the vanished ones gone. */
static enum err sync_subscriptions(struct sync *s, char ***ids, size_t *n)
{
    struct subs l = {.s = s};
    struct azure_error ae;
    struct store_subscription *stored = NULL;
    size_t n_stored = 0;
    struct err_detail d;
    enum err rc;

    azure_error_clear(&ae);
    rc = azure_subscriptions_list(s->env->az, on_subs, &l, &ae);
    if (rc != ERR_OK) {
        note_error(s, "list subscriptions", NULL, rc, l.rc != ERR_OK ? NULL : &ae, &l.d);
        free_strs(l.ids, l.n);
        return rc;
    }
    rc = store_subscription_list(s->env->store, &stored, &n_stored, &d);
    for (size_t i = 0; rc == ERR_OK && i < n_stored; i++) {
        if (stored[i].gone_at == 0 && !listed(l.ids, l.n, stored[i].id))
            sub_vanished(s, stored[i].id);
    }
    if (rc != ERR_OK)
        note_error(s, "read subscriptions", NULL, rc, NULL, &d);
    store_subscription_list_free(stored, n_stored);
    *ids = l.ids;
    *n = l.n;
    s->run.subscriptions = (int64_t)l.n;
    return ERR_OK;
}

/* ---- VMs and their extensions ------------------------------------------------------------- */

static char *json_text(json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(j);
    return t != NULL ? t : xstrdup("null");
}

static char *tags_json(const struct azure_vm *vm)
{
    json_t *o = json_object();

    for (size_t i = 0; i < vm->n_tags; i++) {
        if (vm->tags[i].key != NULL)
            json_object_set_new(o, vm->tags[i].key,
                                json_string(vm->tags[i].value ? vm->tags[i].value : ""));
    }
    return json_text(o);
}

static char *user_ids_json(const struct azure_vm *vm)
{
    json_t *a = json_array();

    for (size_t i = 0; i < vm->n_user_assigned; i++) {
        if (vm->user_assigned_ids[i] != NULL)
            json_array_append_new(a, json_string(vm->user_assigned_ids[i]));
    }
    return json_text(a);
}

static void vm_status_free(struct vm_status *st)
{
    for (size_t i = 0; i < st->n; i++)
        azure_vm_cleanup(&st->v[i]);
    free(st->v);
    *st = (struct vm_status){0};
}

static int vm_id_cmp(const void *a, const void *b)
{
    return strcasecmp(((const struct azure_vm *)a)->id, ((const struct azure_vm *)b)->id);
}

static const struct azure_vm *vm_status_find(const struct vm_status *st, const char *id)
{
    struct azure_vm key = {.id = (char *)id};

    return st->n > 0 ? bsearch(&key, st->v, st->n, sizeof(*st->v), vm_id_cmp) : NULL;
}

static const struct azure_extension *ext_named(const struct azure_vm *vm, const char *name)
{
    for (size_t i = 0; vm != NULL && name != NULL && i < vm->n_extensions; i++) {
        if (vm->extensions[i].name != NULL && strcasecmp(vm->extensions[i].name, name) == 0)
            return &vm->extensions[i];
    }
    return NULL;
}

struct vm_page {
    struct store_vm_facts *vms;
    char **owned; /* JSON texts to free */
    size_t n_owned;
    struct store_extension_facts *exts;
    size_t n_exts;
};

static void vm_page_free(struct vm_page *p)
{
    free_strs(p->owned, p->n_owned);
    free(p->vms);
    free(p->exts);
}

/* The facts of a VM: its model (vm) joined with its run-time status (st, may be NULL: the VM
 * came after the status listing; its power state is then unknown until the next sync). */
static void vm_facts(const struct azure_vm *vm, const struct azure_vm *st, struct store_vm_facts *f,
                     struct vm_page *p)
{
    char *tags = tags_json(vm);
    char *uai = user_ids_json(vm);

    p->owned[p->n_owned++] = tags;
    p->owned[p->n_owned++] = uai;
    *f = (struct store_vm_facts){
        .id = vm->id,
        .subscription_id = vm->subscription_id,
        .resource_group = vm->resource_group,
        .name = vm->name,
        .location = vm->location,
        .vm_id = vm->vm_id,
        .computer_name =
            vm->computer_name != NULL || st == NULL ? vm->computer_name : st->computer_name,
        .os_type = vm->os_type,
        .image_publisher = vm->image_publisher,
        .image_offer = vm->image_offer,
        .image_sku = vm->image_sku,
        .image_version = vm->image_version,
        .image_id = vm->image_id,
        .os_name = st != NULL ? st->os_name : vm->os_name,
        .os_version = st != NULL ? st->os_version : vm->os_version,
        .power_state = st != NULL ? st->power_state : vm->power_state,
        .provisioning_state = vm->provisioning_state,
        .identity_type = vm->identity_type,
        .identity_principal_id = vm->identity_principal_id,
        .user_assigned_ids = uai,
        .tags = tags,
    };
}

/* The facts of extension e of VM vm_id; its status from e, else from iv (the same extension
 * in the VM's instance view, may be NULL). */
static void ext_facts(const char *vm_id, const struct azure_extension *e,
                      const struct azure_extension *iv, struct store_extension_facts *f)
{
    const struct azure_status *st = e->n_statuses > 0                  ? &e->statuses[0]
                                    : iv != NULL && iv->n_statuses > 0 ? &iv->statuses[0]
                                                                       : NULL;

    *f = (struct store_extension_facts){
        .vm_id = vm_id,
        .name = e->name,
        .publisher = e->publisher,
        .type = e->type,
        .type_handler_version = e->type_handler_version,
        .auto_upgrade_minor = e->auto_upgrade_minor_version,
        .provisioning_state = e->provisioning_state,
        .status_code = st ? st->code : NULL,
        .status_level = st ? st->level : NULL,
        .status_message = st ? st->message : NULL,
    };
}

static enum err write_vm_page(struct sync *s, const struct vm_page *p, size_t n_vms,
                              size_t *vms_changed, size_t *exts_changed, struct err_detail *d)
{
    struct store *st = s->env->store;
    enum err rc = tx_page_begin(s, d);

    if (rc != ERR_OK)
        return rc;
    rc = store_vms_upsert(st, p->vms, n_vms, s->now, vms_changed, d);
    if (rc == ERR_OK && p->n_exts > 0)
        rc = store_extensions_upsert(st, p->exts, p->n_exts, s->now, exts_changed, d);
    return tx_page_end(s, n_vms + p->n_exts, rc, d);
}

/* The statusOnly pages: kept whole (the items are taken from the page) until the model
 * list is joined to them. */
static enum err on_vm_status(const struct azure_vm *vms, size_t n, void *arg)
{
    struct sync *s = arg;

    for (size_t i = 0; i < n; i++) {
        struct azure_vm *v = (struct azure_vm *)&vms[i]; /* taken: left empty for the page */

        if (v->id == NULL)
            continue;
        if (s->status.n == s->status.cap) {
            s->status.cap = s->status.cap ? s->status.cap * 2 : 256;
            s->status.v = xreallocarray(s->status.v, s->status.cap, sizeof(*s->status.v));
        }
        s->status.v[s->status.n++] = *v;
        memset(v, 0, sizeof(*v));
    }
    return progress(s);
}

static void note_ext_list(struct sync *s, const char *vm_id)
{
    if (s->n_ext_lists == s->cap_ext_lists) {
        s->cap_ext_lists = s->cap_ext_lists ? s->cap_ext_lists * 2 : 64;
        s->ext_lists = xreallocarray(s->ext_lists, s->cap_ext_lists, sizeof(*s->ext_lists));
    }
    s->ext_lists[s->n_ext_lists++] = xstrdup(vm_id);
}

/* Whether a VM's extensions must be listed on their own: the model (resources[], absent when
 * there are none) and the instance view (extension statuses, absent when the VM is not
 * running) do not tell them all: an extension of the model has no status, or one of the
 * instance view is not in the model (a list need not embed resources[]). */
static bool needs_ext_list(const struct azure_vm *vm, const struct azure_vm *st)
{
    for (size_t j = 0; j < vm->n_extensions; j++) {
        const struct azure_extension *e = &vm->extensions[j];
        const struct azure_extension *iv = ext_named(st, e->name);

        if (e->name != NULL && e->n_statuses == 0 && (iv == NULL || iv->n_statuses == 0))
            return true;
    }
    for (size_t j = 0; st != NULL && j < st->n_extensions; j++) {
        if (st->extensions[j].name != NULL && ext_named(vm, st->extensions[j].name) == NULL)
            return true;
    }
    return false;
}

static enum err on_vms(const struct azure_vm *vms, size_t n, void *arg)
{
    struct sync *s = arg;
    struct vm_page p = {0};
    size_t n_ext = 0;
    size_t kept = 0;
    size_t vms_changed = 0;
    size_t exts_changed = 0;
    struct err_detail d;
    enum err rc;

    if (n == 0) /* the next page is late: no write lock held while it comes */
        return tx_flush(s, &d) == ERR_OK ? progress(s) : note_store(s, &d);
    for (size_t i = 0; i < n; i++)
        n_ext += vms[i].n_extensions;
    p.vms = xcalloc(n + 1, sizeof(*p.vms));
    p.owned = xcalloc(2 * n + 1, sizeof(*p.owned));
    p.exts = xcalloc(n_ext + 1, sizeof(*p.exts));
    for (size_t i = 0; i < n; i++) {
        const struct azure_vm *st;

        if (vms[i].id == NULL || vms[i].subscription_id == NULL)
            continue; /* not an ARM VM id: nothing to key it by */
        st = vm_status_find(&s->status, vms[i].id);
        vm_facts(&vms[i], st, &p.vms[kept++], &p);
        if (needs_ext_list(&vms[i], st)) {
            note_ext_list(s, vms[i].id);
            continue;
        }
        for (size_t j = 0; j < vms[i].n_extensions; j++) {
            const struct azure_extension *e = &vms[i].extensions[j];

            if (e->name != NULL)
                ext_facts(vms[i].id, e, ext_named(st, e->name), &p.exts[p.n_exts++]);
        }
    }
    rc = write_vm_page(s, &p, kept, &vms_changed, &exts_changed, &d);
    vm_page_free(&p);
    if (rc != ERR_OK) {
        note_error(s, "store VMs of", s->sub, rc, NULL, &d);
        return rc;
    }
    s->run.vms_seen += (int64_t)kept;
    s->run.vms_changed += (int64_t)vms_changed;
    s->run.extensions_seen += (int64_t)p.n_exts;
    s->run.extensions_changed += (int64_t)exts_changed;
    return progress(s);
}

/* The extensions of the VMs needs_ext_list picked: listed per VM with their
 * instance view (VirtualMachineExtensions_List) and written like a page. */
static enum err sync_ext_lists(struct sync *s)
{
    struct err_detail d;
    enum err rc = ERR_OK;

    for (size_t i = 0; i < s->n_ext_lists && rc == ERR_OK; i++) {
        struct azure_extension *e = NULL;
        size_t n = 0;
        struct azure_error ae;
        struct store_extension_facts *f;
        size_t changed = 0;

        azure_error_clear(&ae);
        rc = azure_extensions_list(s->env->az, s->ext_lists[i], true, &e, &n, &ae);
        if (rc != ERR_OK) {
            note_error(s, "list extensions of", s->ext_lists[i], rc, &ae, NULL);
            break;
        }
        f = xcalloc(n + 1, sizeof(*f));
        for (size_t j = 0; j < n; j++)
            ext_facts(s->ext_lists[i], &e[j], NULL, &f[j]);
        rc = tx_page_begin(s, &d);
        if (rc == ERR_OK && n > 0)
            rc = store_extensions_upsert(s->env->store, f, n, s->now, &changed, &d);
        rc = tx_page_end(s, n, rc, &d);
        if (rc != ERR_OK)
            note_error(s, "store extensions of", s->ext_lists[i], rc, NULL, &d);
        s->run.extensions_seen += (int64_t)n;
        s->run.extensions_changed += (int64_t)changed;
        free(f);
        azure_extensions_free(e, n);
        if (rc == ERR_OK)
            rc = progress(s);
    }
    return rc;
}

/* Lists the subscription's VMs: status first, then the model joined to it page by page.
 * ERR_OK only when both listings (and the extension lists they call for) are complete. */
static enum err list_vms(struct sync *s, const char *sub, struct azure_error *ae)
{
    enum err rc = azure_vms_list(s->env->az, sub, NULL, true, on_vm_status, s, ae);

    if (rc != ERR_OK)
        return rc;
    qsort(s->status.v, s->status.n, sizeof(*s->status.v), vm_id_cmp);
    rc = azure_vms_list(s->env->az, sub, NULL, false, on_vms, s, ae);
    if (rc == ERR_OK)
        rc = sync_ext_lists(s);
    return rc;
}

static void sync_vms(struct sync *s, const char *sub)
{
    struct azure_error ae;
    struct err_detail d;
    size_t gone = 0;
    int64_t errors = s->run.errors;
    enum err rc;

    azure_error_clear(&ae);
    s->sub = sub;
    rc = list_vms(s, sub, &ae);
    vm_status_free(&s->status);
    free_strs(s->ext_lists, s->n_ext_lists);
    s->ext_lists = NULL;
    s->n_ext_lists = s->cap_ext_lists = 0;
    if (tx_flush(s, &d) != ERR_OK) {
        note_error(s, "store VMs of", sub, ERR_STORE, NULL, &d);
        return;
    }
    if (rc != ERR_OK) {
        if (!s->stopped && s->run.errors == errors)
            note_error(s, "list VMs of", sub, rc, &ae, NULL);
        return; /* incomplete listing: mark nothing gone */
    }
    rc = store_vms_mark_gone(s->env->store, sub, s->now, &gone, &d);
    s->run.vms_gone += (int64_t)gone;
    if (rc == ERR_OK)
        rc = store_extensions_mark_gone(s->env->store, sub, s->now, &gone, &d);
    if (rc == ERR_OK)
        s->run.extensions_gone += (int64_t)gone;
    if (rc != ERR_OK)
        note_error(s, "mark VMs gone in", sub, rc, NULL, &d);
}

/* ---- role assignments --------------------------------------------------------------------- */

static bool is_login_role(const char *guid)
{
    return guid != NULL && (strcasecmp(guid, AZURE_ROLE_VM_ADMIN_LOGIN) == 0 ||
                            strcasecmp(guid, AZURE_ROLE_VM_USER_LOGIN) == 0);
}

static enum err on_assignments(const struct azure_role_assignment *ras, size_t n, void *arg)
{
    struct sync *s = arg;
    struct store_role_assignment_facts *f;
    size_t kept = 0;
    size_t changed = 0;
    struct err_detail d;
    enum err rc;

    if (n == 0) /* the next page is late: no write lock held while it comes */
        return tx_flush(s, &d) == ERR_OK ? progress(s) : note_store(s, &d);
    f = xcalloc(n + 1, sizeof(*f));

    for (size_t i = 0; i < n; i++) {
        int64_t created = 0;

        if (!is_login_role(ras[i].role_definition_guid) || ras[i].id == NULL ||
            ras[i].scope == NULL || ras[i].principal_id == NULL)
            continue;
        if (ras[i].created_on != NULL && !clock_parse_rfc3339(ras[i].created_on, &created))
            created = 0;
        f[kept++] = (struct store_role_assignment_facts){
            .id = ras[i].id,
            .name = ras[i].name,
            .scope = ras[i].scope,
            .role_definition_id = ras[i].role_definition_guid,
            .principal_id = ras[i].principal_id,
            .principal_type = ras[i].principal_type,
            .created_on = created,
        };
    }
    rc = tx_page_begin(s, &d);
    if (rc == ERR_OK)
        rc = store_role_assignments_upsert(s->env->store, f, kept, s->now, &changed, &d);
    rc = tx_page_end(s, kept, rc, &d);
    free(f);
    if (rc != ERR_OK) {
        note_error(s, "store role assignments of", s->sub, rc, NULL, &d);
        return rc;
    }
    s->run.assignments_seen += (int64_t)kept;
    s->run.assignments_changed += (int64_t)changed;
    return progress(s);
}

/* True when the subscription's assignments were listed completely. */
static bool sync_assignments(struct sync *s, const char *sub)
{
    struct azure_error ae;
    struct err_detail d;
    char scope[128];
    size_t gone = 0;
    int64_t errors = s->run.errors;
    enum err rc;

    azure_error_clear(&ae);
    s->sub = sub;
    (void)snprintf(scope, sizeof(scope), "/subscriptions/%s", sub);
    rc = azure_role_assignments_list(s->env->az, scope, NULL, on_assignments, s, &ae);
    if (tx_flush(s, &d) != ERR_OK) {
        note_error(s, "store role assignments of", sub, ERR_STORE, NULL, &d);
        return false;
    }
    if (rc != ERR_OK) {
        if (!s->stopped && s->run.errors == errors)
            note_error(s, "list role assignments of", sub, rc, &ae, NULL);
        return false;
    }
    rc = store_role_assignments_mark_gone(s->env->store, sub, s->now, &gone, &d);
    s->run.assignments_gone += (int64_t)gone;
    if (rc != ERR_OK)
        note_error(s, "mark role assignments gone in", sub, rc, NULL, &d);
    return rc == ERR_OK;
}

/* ---- principals and group members --------------------------------------------------------- */

static bool principal_kind_ok(const char *kind)
{
    return kind != NULL && (strcmp(kind, "user") == 0 || strcmp(kind, "group") == 0 ||
                            strcmp(kind, "servicePrincipal") == 0 || strcmp(kind, "device") == 0);
}

static void push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = xreallocarray(*v, *cap, sizeof(**v));
    }
    (*v)[(*n)++] = xstrdup(s);
}

/* Upserts the directory objects that vmlogind can use; with found, remembers their ids. */
static enum err upsert_objects(struct sync *s, const struct azure_directory_object *o, size_t n,
                               bool remember)
{
    struct store_principal_facts *f = xcalloc(n + 1, sizeof(*f));
    size_t kept = 0;
    size_t changed = 0;
    struct err_detail d;
    enum err rc;

    for (size_t i = 0; i < n; i++) {
        if (o[i].id == NULL || !principal_kind_ok(o[i].kind))
            continue;
        f[kept++] = (struct store_principal_facts){.id = o[i].id,
                                                   .kind = o[i].kind,
                                                   .upn = o[i].upn,
                                                   .display_name = o[i].display_name,
                                                   .app_id = o[i].app_id,
                                                   .user_type = o[i].user_type,
                                                   .has_account_enabled = o[i].has_account_enabled,
                                                   .account_enabled = o[i].account_enabled};
        if (remember)
            push(&s->found, &s->n_found, &s->cap_found, o[i].id);
        if (remember && strcmp(o[i].kind, "group") == 0)
            push(&s->groups, &s->n_groups, &s->cap_groups, o[i].id);
    }
    rc = store_principals_upsert(s->env->store, f, kept, s->now, &changed, &d);
    free(f);
    if (rc != ERR_OK) {
        note_error(s, "store principals", NULL, rc, NULL, &d);
        return rc;
    }
    if (remember)
        s->run.principals_seen += (int64_t)kept;
    s->run.principals_changed += (int64_t)changed;
    return ERR_OK;
}

static enum err on_by_ids(const struct azure_directory_object *o, size_t n, void *arg)
{
    struct sync *s = arg;
    enum err rc = upsert_objects(s, o, n, true);

    return rc == ERR_OK ? progress(s) : rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static bool was_found(const struct sync *s, const char *id)
{
    return bsearch(&id, s->found, s->n_found, sizeof(char *), cmp_str) != NULL;
}

/* Principals named by assignments that getByIds did not return: soft-deleted or gone. */
static void mark_vanished(struct sync *s, char *const *ids, size_t n)
{
    int lookups = 0;

    qsort(s->found, s->n_found, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n && lookups < SYNC_DELETED_LOOKUPS && !s->stopped; i++) {
        struct azure_directory_object del = {0};
        struct azure_error ae;
        struct err_detail d;
        bool changed = false;
        enum err rc;

        if (was_found(s, ids[i]))
            continue;
        lookups++;
        azure_error_clear(&ae);
        rc = azure_graph_deleted_item_get(s->env->az, ids[i], &del, &ae);
        azure_directory_object_cleanup(&del);
        if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
            note_error(s, "look up deleted principal", ids[i], rc, &ae, NULL);
            continue;
        }
        rc = store_principal_mark_deleted(s->env->store, ids[i], rc == ERR_OK ? "soft" : "gone",
                                          s->now, &changed, &d);
        if (rc != ERR_OK)
            note_error(s, "mark principal deleted", ids[i], rc, NULL, &d);
        s->run.principals_changed += changed;
    }
}

struct members {
    struct sync *s;
    struct store_member_facts *m;
    char **owned;
    size_t n;
    size_t cap;
};

static enum err on_members(const struct azure_directory_object *o, size_t n, void *arg)
{
    struct members *l = arg;
    enum err rc = upsert_objects(l->s, o, n, false);

    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        if (o[i].id == NULL || !principal_kind_ok(o[i].kind))
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->m = xreallocarray(l->m, l->cap, sizeof(*l->m));
            l->owned = xreallocarray(l->owned, xmul(2, l->cap), sizeof(*l->owned));
        }
        l->owned[2 * l->n] = xstrdup(o[i].id);
        l->owned[2 * l->n + 1] = xstrdup(o[i].kind);
        l->m[l->n] = (struct store_member_facts){.member_id = l->owned[2 * l->n],
                                                 .member_kind = l->owned[2 * l->n + 1]};
        l->n++;
    }
    return rc == ERR_OK ? progress(l->s) : rc;
}

/* True when the group's members were listed and stored completely. */
static bool sync_group(struct sync *s, const char *group_id)
{
    struct members l = {.s = s};
    struct azure_error ae;
    struct err_detail d;
    size_t changed = 0;
    int64_t errors = s->run.errors;
    enum err rc;

    azure_error_clear(&ae);
    rc = azure_graph_group_members(s->env->az, group_id, on_members, &l, &ae);
    if (rc != ERR_OK && !s->stopped && s->run.errors == errors)
        note_error(s, "list members of group", group_id, rc, &ae, NULL);
    if (rc == ERR_OK) {
        rc = store_group_members_replace(s->env->store, group_id, l.m, l.n, s->now, &changed, &d);
        if (rc != ERR_OK)
            note_error(s, "store members of group", group_id, rc, NULL, &d);
    }
    s->run.members_changed += (int64_t)changed;
    free_strs(l.owned, 2 * l.n);
    free(l.m);
    return rc == ERR_OK;
}

static void sync_principals(struct sync *s)
{
    struct azure_error ae;
    struct err_detail d;
    char **ids = NULL;
    size_t n = 0;
    size_t removed = 0;
    bool all = true;
    int64_t errors = s->run.errors;
    enum err rc = store_role_assignment_principal_ids(s->env->store, &ids, &n, &d);

    if (rc != ERR_OK) {
        note_error(s, "read assignment principals", NULL, rc, NULL, &d);
        return;
    }
    azure_error_clear(&ae);
    rc = n > 0 ? azure_graph_get_by_ids(s->env->az, (const char *const *)ids, n, on_by_ids, s, &ae)
               : ERR_OK;
    if (rc != ERR_OK) {
        if (!s->stopped && s->run.errors == errors)
            note_error(s, "resolve principals", NULL, rc, &ae, NULL);
        free_strs(ids, n);
        return;
    }
    mark_vanished(s, ids, n);
    free_strs(ids, n);
    rc = store_group_members_sync_begin(s->env->store, &d);
    for (size_t i = 0; rc == ERR_OK && i < s->n_groups && !s->stopped; i++)
        all = sync_group(s, s->groups[i]) && all;
    if (rc == ERR_OK && all && !s->stopped)
        rc = store_group_members_prune(s->env->store, &removed, &d);
    s->run.members_changed += (int64_t)removed;
    if (rc != ERR_OK)
        note_error(s, "group members", NULL, rc, NULL, &d);
}

/* ---- the pass ----------------------------------------------------------------------------- */

static enum err sync_begin(struct sync *s, struct err_detail *d)
{
    struct store *st = s->env->store;
    enum err rc;

    store_vms_sync_begin(st);
    rc = store_extensions_sync_begin(st, d);
    if (rc == ERR_OK)
        rc = store_role_assignments_sync_begin(st, d);
    return rc;
}

static void run_pass(struct sync *s)
{
    struct err_detail d;
    char **subs = NULL;
    size_t n_subs = 0;
    bool all_assignments = true;
    size_t gone = 0;
    int64_t before;
    int64_t t;
    enum err rc;

    if (sync_subscriptions(s, &subs, &n_subs) != ERR_OK)
        return;
    /* Resetting the scratch sets is no observed write, whatever SQLite counts for it. */
    before = store_changes(s->env->store);
    rc = sync_begin(s, &d);
    s->bookkeeping += store_changes(s->env->store) - before;
    if (rc != ERR_OK) {
        note_error(s, "begin sync", NULL, ERR_STORE, NULL, &d);
        free_strs(subs, n_subs);
        return;
    }
    store_sync_cache_begin(s->env->store);
    t = clock_mono_ms();
    for (size_t i = 0; i < n_subs && !s->stopped; i++)
        sync_vms(s, subs[i]);
    s->ms_vms = clock_mono_ms() - t;
    t = clock_mono_ms();
    for (size_t i = 0; i < n_subs && !s->stopped; i++)
        all_assignments = sync_assignments(s, subs[i]) && all_assignments;
    /* Scopes above every subscription are seen only through the subscriptions' listings. */
    if (all_assignments && !s->stopped) {
        rc = store_role_assignments_mark_gone(s->env->store, NULL, s->now, &gone, &d);
        s->run.assignments_gone += (int64_t)gone;
        if (rc != ERR_OK)
            note_error(s, "mark role assignments gone", NULL, rc, NULL, &d);
    }
    s->ms_assignments = clock_mono_ms() - t;
    s->sub = NULL;
    t = clock_mono_ms();
    if (!s->stopped)
        sync_principals(s);
    s->ms_principals = clock_mono_ms() - t;
    store_sync_cache_end(s->env->store);
    free_strs(subs, n_subs);
}

static void record_metrics(const struct sync *s, int64_t duration_ms)
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
static void cover_changes(const struct reconcile_env *env, const struct sync *s)
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

static void finish(const struct reconcile_env *env, const struct store_task *task, struct sync *s,
                   struct reconcile_result *res)
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
    struct sync s = {.env = env, .task = task};
    struct err_detail d;
    int64_t t0 = clock_mono_ms();

    if (env->az == NULL) {
        reconcile_done(res); /* nothing to sync from; main has said why */
        return;
    }
    s.now = clock_now_ms();
    s.run.started_at = s.now;
    s.changes_start = store_changes(env->store);
    if (store_sync_run_start(env->store, &s.run, &d) != ERR_OK) {
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
    free_strs(s.found, s.n_found);
    free_strs(s.groups, s.n_groups);
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
