/* reconcile_sync_vms.c: the VMs of one subscription in a sync pass, listed twice as Azure
 * documents it (virtualMachine.json, VirtualMachines_ListAll): statusOnly=true for the run-time
 * status, then the plain list for the model, joined by id; a VM whose extensions these do not
 * tell in full has them listed on its own. Marked gone only after a complete listing. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/reconcile_sync_int.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/reconcile_stale.h"
#include "vmlogind/xalloc.h"

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
    reconcile_sync_strs_free(p->owned, p->n_owned);
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

static enum err write_vm_page(struct sync_pass *s, const struct vm_page *p, size_t n_vms,
                              size_t *vms_changed, size_t *exts_changed, struct err_detail *d)
{
    struct store *st = s->env->store;
    enum err rc = reconcile_sync_tx_begin(s, d);

    if (rc != ERR_OK)
        return rc;
    rc = store_vms_upsert(st, s->seen_vms, p->vms, n_vms, s->now, vms_changed, d);
    if (rc == ERR_OK && p->n_exts > 0)
        rc = store_extensions_upsert(st, p->exts, p->n_exts, s->now, exts_changed, d);
    return reconcile_sync_tx_end(s, n_vms + p->n_exts, rc, d);
}

/* Keeps of a statusOnly item only what the join reads (vm_facts, needs_ext_list): the rest
 * (its status list, the names parsed from its id, ...) would be held for a whole subscription. */
static void status_trim(struct azure_vm *v)
{
    struct azure_vm keep = {.id = v->id,
                            .computer_name = v->computer_name,
                            .os_name = v->os_name,
                            .os_version = v->os_version,
                            .power_state = v->power_state,
                            .extensions = v->extensions,
                            .n_extensions = v->n_extensions};

    v->id = v->computer_name = v->os_name = v->os_version = v->power_state = NULL;
    v->extensions = NULL;
    v->n_extensions = 0;
    azure_vm_cleanup(v);
    *v = keep;
}

/* The statusOnly pages: the items are taken from the page (trimmed) and kept until the model
 * list is joined to them. */
static enum err on_vm_status(const struct azure_vm *vms, size_t n, void *arg)
{
    struct sync_pass *s = arg;

    for (size_t i = 0; i < n; i++) {
        struct azure_vm *v = (struct azure_vm *)&vms[i]; /* taken: left empty for the page */

        if (v->id == NULL)
            continue;
        if (s->status.n == s->status.cap) {
            s->status.cap = s->status.cap ? s->status.cap * 2 : 256;
            s->status.v = xreallocarray(s->status.v, s->status.cap, sizeof(*s->status.v));
        }
        s->status.v[s->status.n] = *v;
        memset(v, 0, sizeof(*v));
        status_trim(&s->status.v[s->status.n++]);
    }
    return reconcile_sync_progress(s);
}

static void note_ext_list(struct sync_pass *s, const char *vm_id)
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
    struct sync_pass *s = arg;
    struct vm_page p = {0};
    size_t n_ext = 0;
    size_t kept = 0;
    size_t vms_changed = 0;
    size_t exts_changed = 0;
    struct err_detail d;
    enum err rc;

    if (n == 0)
        return reconcile_sync_page_late(s);
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
        reconcile_sync_error(s, "store VMs of", s->sub, rc, NULL, &d);
        return rc;
    }
    s->run.vms_seen += (int64_t)kept;
    s->run.vms_changed += (int64_t)vms_changed;
    s->run.extensions_seen += (int64_t)p.n_exts;
    s->run.extensions_changed += (int64_t)exts_changed;
    return reconcile_sync_progress(s);
}

/* The extensions of the VMs needs_ext_list picked: listed per VM with their
 * instance view (VirtualMachineExtensions_List) and written like a page. */
static enum err sync_ext_lists(struct sync_pass *s)
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
        rc = s->env->cloud->extensions_list(s->env->cloud->ctx, s->ext_lists[i], true, &e, &n, &ae);
        if (rc != ERR_OK) {
            reconcile_sync_error(s, "list extensions of", s->ext_lists[i], rc, &ae, NULL);
            break;
        }
        f = xcalloc(n + 1, sizeof(*f));
        for (size_t j = 0; j < n; j++)
            ext_facts(s->ext_lists[i], &e[j], NULL, &f[j]);
        rc = reconcile_sync_tx_begin(s, &d);
        if (rc == ERR_OK && n > 0)
            rc = store_extensions_upsert(s->env->store, f, n, s->now, &changed, &d);
        rc = reconcile_sync_tx_end(s, n, rc, &d);
        if (rc != ERR_OK)
            reconcile_sync_error(s, "store extensions of", s->ext_lists[i], rc, NULL, &d);
        s->run.extensions_seen += (int64_t)n;
        s->run.extensions_changed += (int64_t)changed;
        free(f);
        azure_extensions_free(e, n);
        if (rc == ERR_OK)
            rc = reconcile_sync_progress(s);
    }
    return rc;
}

/* Lists the subscription's VMs: status first, then the model joined to it page by page.
 * ERR_OK only when both listings (and the extension lists they call for) are complete. */
static enum err list_vms(struct sync_pass *s, const char *sub, struct azure_error *ae)
{
    enum err rc = s->env->cloud->vms_list(s->env->cloud->ctx, sub, NULL, true, on_vm_status, s, ae);

    if (rc != ERR_OK)
        return rc;
    qsort(s->status.v, s->status.n, sizeof(*s->status.v), vm_id_cmp);
    rc = s->env->cloud->vms_list(s->env->cloud->ctx, sub, NULL, false, on_vms, s, ae);
    if (rc == ERR_OK)
        rc = sync_ext_lists(s);
    return rc;
}

void reconcile_sync_vms(struct sync_pass *s, const char *sub)
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
    reconcile_sync_strs_free(s->ext_lists, s->n_ext_lists);
    s->ext_lists = NULL;
    s->n_ext_lists = s->cap_ext_lists = 0;
    if (reconcile_sync_tx_flush(s, &d) != ERR_OK) {
        reconcile_sync_error(s, "store VMs of", sub, ERR_STORE, NULL, &d);
        return;
    }
    if (rc != ERR_OK) {
        if (!s->stopped && s->run.errors == errors)
            reconcile_sync_error(s, "list VMs of", sub, rc, &ae, NULL);
        return; /* incomplete listing: mark nothing gone */
    }
    rc = store_vms_mark_gone(s->env->store, s->seen_vms, sub, s->now, &gone, &d);
    s->run.vms_gone += (int64_t)gone;
    if (rc == ERR_OK && gone > 0)
        rc = reconcile_stale_enqueue(s->env, sub, s->now, &d); /* their Entra devices */
    if (rc == ERR_OK)
        rc = store_extensions_mark_gone(s->env->store, sub, s->now, &gone, &d);
    if (rc == ERR_OK)
        s->run.extensions_gone += (int64_t)gone;
    if (rc != ERR_OK)
        reconcile_sync_error(s, "mark VMs gone in", sub, rc, NULL, &d);
}
