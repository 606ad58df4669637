/* access_vm.c: the answer of GET /v1{vm}/access, "who can sign in to this VM, and as what?",
 * from the read model's snapshot when one is current (one statement: the generation), else
 * from the store in one read transaction. Both hand the same entries to the
 * same renderer. The caller's scopes are api/'s business: this answers for the VM as a whole. */
#include <stdlib.h>
#include <string.h>

#include "access/access_internal.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/store.h"
#include "vmlogind/xalloc.h"

#define ANSWER_START (32u << 10) /* a VM's answer is 15-21 KB: no regrowth on the way */
#define ANSWER_MAX (64u << 20)

struct vm_access {
    struct access_rows l;
    struct store_member_row *members;
    size_t nmembers;
    struct model_access_entry *entries;
    size_t nentries;
    struct access_known_set known; /* the store path's principals */
    struct access_snapshot *snap;  /* the in-memory path: everything borrowed from it */
    long found[3];                 /* where the snapshot has each key */
    char *arena;
};

static void vm_access_free(struct vm_access *v)
{
    access_rows_cleanup(&v->l);
    store_member_rows_free(v->members, v->nmembers);
    free(v->entries);
    access_render_known_set_cleanup(&v->known);
    free(v->arena);
    access_index_release(v->snap);
    *v = (struct vm_access){0};
}

/* The in-memory path, from v->snap (referenced by the caller): false if a key is not
 * lowercase (the caller answers from the store). */
static bool from_snapshot(const char *const keys[3], struct vm_access *v)
{
    struct model_access_member *m = NULL;
    const char **groups;
    size_t ngroups = 0, nm = 0;

    if (!access_index_at_scopes(v->snap, keys, 3, &v->l.a, &v->l.na, &v->arena, v->found))
        return false;
    groups = access_rows_groups(&v->l, &ngroups);
    access_index_members_of(v->snap, groups, ngroups, &m, &nm);
    free(groups);
    model_access_compute(v->l.a, v->l.na, m, nm, &v->entries, &v->nentries);
    free(m);
    return true;
}

/* The store path. */
static enum err from_store(struct store *st, const char *const keys[3], struct vm_access *v,
                           struct err_detail *d)
{
    const char **groups = NULL, **ids = NULL;
    struct model_access_member *m = NULL;
    struct store_principal_row *p = NULL;
    size_t ngroups = 0, np = 0;
    enum err rc;

    rc = store_access_at_scopes(st, keys, 3, &v->l.rows, &v->l.nrows, d);
    if (rc != ERR_OK)
        return rc;
    access_rows_init(&v->l);
    groups = access_rows_groups(&v->l, &ngroups);
    rc = store_access_members_of(st, groups, ngroups, &v->members, &v->nmembers, d);
    free(groups);
    if (rc != ERR_OK)
        return rc;
    m = xcalloc(v->nmembers + 1, sizeof(*m));
    for (size_t i = 0; i < v->nmembers; i++)
        m[i] = (struct model_access_member){.group_id = v->members[i].group_id,
                                            .member_id = v->members[i].member_id,
                                            .member_kind = v->members[i].member_kind};
    model_access_compute(v->l.a, v->l.na, m, v->nmembers, &v->entries, &v->nentries);
    free(m);
    ids = xcalloc(v->nentries + 1, sizeof(*ids));
    for (size_t i = 0; i < v->nentries; i++)
        ids[i] = v->entries[i].principal_id;
    rc = store_access_principals_get(st, ids, v->nentries, &p, &np, d);
    free(ids);
    if (rc == ERR_OK)
        access_render_known_set_init(&v->known, p, np);
    return rc;
}

/* The VM's row as store_vm_get reads it (not found, or any failure: unknown); *owned holds
 * the computer name it borrows (free() it). */
static void vm_row_get(struct store *st, const struct model_scope *vm, struct access_vm_facts *row,
                       char **owned)
{
    struct store_vm r;

    *row = (struct access_vm_facts){0};
    if (store_vm_get(st, vm->arm, &r, NULL) != ERR_OK)
        return;
    *row = (struct access_vm_facts){.found = true, .gone = r.gone_at != 0};
    row->computer_name = *owned = r.computer_name;
    r.computer_name = NULL;
    store_vm_clear(&r);
}

/* "vm": {...}. */
static void vm_object(struct buf_json *w, const struct model_scope *vm,
                      const struct access_vm_facts *row)
{
    buf_json_key(w, "vm");
    buf_json_open(w, '{');
    buf_json_str(w, "id", vm->arm);
    buf_json_str(w, "name", vm->vm);
    if (!row->found) {
        buf_json_bool(w, "known", false);
    } else {
        buf_json_bool(w, "known", !row->gone);
        buf_json_str(w, "computerName", row->computer_name ? row->computer_name : "");
    }
    buf_json_close(w, '}');
}

/* The known principal of this id, from whichever path answers. */
static const struct access_known *known_of(const struct vm_access *v, const char *id)
{
    if (v->snap != NULL)
        return id != NULL ? access_index_known(v->snap, id) : NULL;
    return access_render_known_find(&v->known, id);
}

/* The answer for v into w. */
static void write_answer(struct buf_json *w, const struct model_scope *vm,
                         const struct access_vm_facts *row, const struct vm_access *v)
{
    /* every entry's principal and group first, with their text fetched ahead: an answer's few
     * dozen principals lie anywhere in a snapshot of tens of MB, and cache misses asked for
     * together overlap where one after the other they add up */
    const struct access_known **kn = xcalloc(2 * v->nentries + 1, sizeof(*kn));

    for (size_t i = 0; i < v->nentries; i++) {
        kn[2 * i] = known_of(v, v->entries[i].principal_id);
        kn[2 * i + 1] = known_of(v, v->entries[i].via_group);
        if (kn[2 * i] != NULL) {
            for (size_t at = 0; at < kn[2 * i]->principal_len; at += 64)
                __builtin_prefetch(kn[2 * i]->principal + at);
        }
    }
    buf_json_init(w, ANSWER_START, ANSWER_MAX);
    buf_json_open(w, '{');
    vm_object(w, vm, row);
    buf_json_key(w, "value");
    buf_json_open(w, '[');
    for (size_t i = 0; i < v->nentries; i++)
        access_render_vm_entry(w, &v->entries[i], kn[2 * i], kn[2 * i + 1]);
    buf_json_close(w, ']');
    buf_json_close(w, '}');
    free(kn);
}

/* The keys of the VM's subscription and resource group, as model_scope_from_parts gives them:
 * the VM's key starts with both ("/subscriptions/{s}" and "/resourcegroups/{rg}", lowercase
 * byte for byte). */
static void parent_keys(const struct model_scope *vm, char sub[MODEL_GRANT_SCOPE_MAX],
                        char rg[MODEL_GRANT_SCOPE_MAX])
{
    size_t ns = strlen("/subscriptions/") + strlen(vm->subscription);
    size_t nr = ns + strlen("/resourcegroups/") + strlen(vm->resource_group);

    memcpy(sub, vm->key, ns);
    sub[ns] = '\0';
    memcpy(rg, vm->key, nr);
    rg[nr] = '\0';
}

enum err access_vm_answer(struct access_index *ix, const struct model_scope *vm, struct buf_json *w,
                          enum access_path *path, struct err_detail *d)
{
    struct store *st = access_index_store(ix);
    char sub[MODEL_GRANT_SCOPE_MAX], rg[MODEL_GRANT_SCOPE_MAX];
    struct access_vm_facts row = {0};
    struct vm_access v = {0};
    const char *keys[3] = {sub, rg, vm->key};
    char *owned = NULL;
    int64_t epoch, gen;
    bool tx;
    enum err rc = ERR_OK;

    *w = (struct buf_json){0};
    parent_keys(vm, sub, rg);
    /* the snapshot's answer costs one statement (the generation) and no wait: the builder
     * thread keeps the snapshot current. Inside the caller's transaction too: the generation
     * read there names the state the transaction sees (its own writes bump it, and an index
     * of another generation is not used) */
    if (store_access_generation(st, &epoch, &gen, NULL) == ERR_OK &&
        (v.snap = access_index_get(ix, epoch, gen)) != NULL && from_snapshot(keys, &v)) {
        *path = ACCESS_PATH_INDEX;
        access_index_vm(v.snap, v.found[2], &row);
        write_answer(w, vm, &row, &v);
    } else {
        /* from the store, in one read transaction for the VM's row and its access: each
         * transaction costs a round of file locks */
        *path = ACCESS_PATH_STORE;
        vm_access_free(&v);
        tx = !store_in_tx(st) && store_tx_begin_read(st, NULL) == ERR_OK;
        vm_row_get(st, vm, &row, &owned);
        rc = from_store(st, keys, &v, d);
        if (rc == ERR_OK)
            write_answer(w, vm, &row, &v);
        if (tx && store_tx_commit(st, NULL) != ERR_OK)
            store_tx_rollback(st);
    }
    if (rc == ERR_OK)
        access_index_count(ix, *path);
    free(owned);
    vm_access_free(&v);
    return rc;
}
