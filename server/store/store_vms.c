/* store_vms.c: observed VMs. The sync upsert writes a row only when a fact changed (the
 * conflict clause's WHERE compares every fact), so a re-sync of an unchanged fleet writes
 * nothing and generation moves exactly when cached JSON must be rebuilt. Which VMs a sync pass
 * saw lives in memory (a seen_set of this thread's connection), never in the database file. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_seen.h"
#include "vmlogind/xalloc.h"

#define VM_FACTS                                                                                   \
    "id, subscription_id, resource_group, resource_group_key, name, location, vm_id,"              \
    " computer_name, os_type, image_publisher, image_offer, image_sku, image_version, image_id,"   \
    " os_name, os_version, power_state, provisioning_state, identity_type,"                        \
    " identity_principal_id, user_assigned_ids, tags"
/* VM_FACTS without resource_group_key (derived from resource_group) */
#define VM_COMPARED                                                                                \
    "id, subscription_id, resource_group, name, location, vm_id, computer_name, os_type,"          \
    " image_publisher, image_offer, image_sku, image_version, image_id, os_name, os_version,"      \
    " power_state, provisioning_state, identity_type, identity_principal_id, user_assigned_ids,"   \
    " tags"
#define VM_COLUMNS "id_key, " VM_FACTS ", generation, first_seen_at, changed_at, gone_at"
#define VM_FACTS_OF(t)                                                                             \
    "(" t ".id, " t ".subscription_id, " t ".resource_group, " t ".name, " t ".location, " t       \
    ".vm_id, " t ".computer_name, " t ".os_type, " t ".image_publisher, " t ".image_offer, " t     \
    ".image_sku, " t ".image_version, " t ".image_id, " t ".os_name, " t ".os_version, " t         \
    ".power_state, " t ".provisioning_state, " t ".identity_type, " t ".identity_principal_id, " t \
    ".user_assigned_ids, " t ".tags)"

static const char SQL_UPSERT[] =
    "INSERT INTO vms (id_key, " VM_FACTS ", generation, first_seen_at, changed_at)"
    " VALUES (lower(:id), :id, lower(:subscription_id), :resource_group, lower(:resource_group),"
    " :name, :location, :vm_id, :computer_name, :os_type, :image_publisher, :image_offer,"
    " :image_sku, :image_version, :image_id, :os_name, :os_version, :power_state,"
    " :provisioning_state, :identity_type, :identity_principal_id, :user_assigned_ids, :tags,"
    " 1, :now, :now)"
    " ON CONFLICT (id_key) DO UPDATE SET"
    " (" VM_FACTS ") = (excluded.id, excluded.subscription_id, excluded.resource_group,"
    " excluded.resource_group_key, excluded.name, excluded.location, excluded.vm_id,"
    " excluded.computer_name, excluded.os_type, excluded.image_publisher, excluded.image_offer,"
    " excluded.image_sku, excluded.image_version, excluded.image_id, excluded.os_name,"
    " excluded.os_version, excluded.power_state, excluded.provisioning_state,"
    " excluded.identity_type, excluded.identity_principal_id, excluded.user_assigned_ids,"
    " excluded.tags),"
    " generation = vms.generation + 1, changed_at = excluded.changed_at, gone_at = NULL"
    " WHERE vms.gone_at IS NOT NULL OR " VM_FACTS_OF("vms") " IS DISTINCT FROM " VM_FACTS_OF(
        "excluded");

/* The facts of the present VMs as the upsert compares them (VM_FACTS_OF), for the pass's
 * comparison before writing (store_seen_known_load). */
static const char SQL_KNOWN[] = "SELECT id_key, " VM_COMPARED " FROM vms WHERE gone_at IS NULL";
static const char SQL_PRESENT[] = "SELECT id_key FROM vms"
                                  " WHERE subscription_id = lower(:subscription_id)"
                                  " AND gone_at IS NULL";
static const char SQL_MARK_GONE[] =
    "UPDATE vms SET gone_at = :now, changed_at = :now, generation = generation + 1"
    " WHERE id_key = :id_key AND gone_at IS NULL";

static const char SQL_GET[] = "SELECT " VM_COLUMNS " FROM vms WHERE id_key = lower(:id)";
/* Keys sort by subscription, then resource group, so a filter is a key range. */
static const char SQL_PAGE[] = "SELECT " VM_COLUMNS " FROM vms"
                               " WHERE id_key > :lo AND id_key < :hi"
                               " AND (:include_gone = 1 OR gone_at IS NULL)"
                               " ORDER BY id_key LIMIT :limit";

/* The text columns of VM_COLUMNS in order; SKIP marks resource_group_key (not returned). */
#define SKIP ((size_t)-1)
static const size_t vm_text[] = {
    offsetof(struct store_vm, id_key),
    offsetof(struct store_vm, id),
    offsetof(struct store_vm, subscription_id),
    offsetof(struct store_vm, resource_group),
    SKIP,
    offsetof(struct store_vm, name),
    offsetof(struct store_vm, location),
    offsetof(struct store_vm, vm_id),
    offsetof(struct store_vm, computer_name),
    offsetof(struct store_vm, os_type),
    offsetof(struct store_vm, image_publisher),
    offsetof(struct store_vm, image_offer),
    offsetof(struct store_vm, image_sku),
    offsetof(struct store_vm, image_version),
    offsetof(struct store_vm, image_id),
    offsetof(struct store_vm, os_name),
    offsetof(struct store_vm, os_version),
    offsetof(struct store_vm, power_state),
    offsetof(struct store_vm, provisioning_state),
    offsetof(struct store_vm, identity_type),
    offsetof(struct store_vm, identity_principal_id),
    offsetof(struct store_vm, user_assigned_ids),
    offsetof(struct store_vm, tags),
};
#define VM_TEXT_N ((int)(sizeof(vm_text) / sizeof(vm_text[0])))

static char **vm_field(struct store_vm *v, int i)
{
    return (char **)(void *)((char *)v + vm_text[i]);
}

static void row_to_vm(struct store_q *s, struct store_vm *v)
{
    for (int i = 0; i < VM_TEXT_N; i++) {
        if (vm_text[i] != SKIP)
            *vm_field(v, i) = col_text(s, i);
    }
    v->generation = col_int64(s, VM_TEXT_N);
    v->first_seen_at = col_int64(s, VM_TEXT_N + 1);
    v->changed_at = col_int64(s, VM_TEXT_N + 2);
    v->gone_at = col_int64(s, VM_TEXT_N + 3);
}

void store_vm_clear(struct store_vm *v)
{
    if (v == NULL)
        return;
    for (int i = 0; i < VM_TEXT_N; i++) {
        if (vm_text[i] != SKIP)
            free(*vm_field(v, i));
    }
    *v = (struct store_vm){0};
}

void store_vm_list_free(struct store_vm *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_vm_clear(&list[i]);
    free(list);
}

/* The facts as the upsert binds and stores them, in VM_COMPARED order, hashed. */
static uint64_t facts_hash(const struct store_vm_facts *v)
{
    const char *text[] = {v->resource_group,
                          v->name,
                          v->location,
                          v->vm_id,
                          v->computer_name,
                          v->os_type,
                          v->image_publisher,
                          v->image_offer,
                          v->image_sku,
                          v->image_version,
                          v->image_id,
                          v->os_name,
                          v->os_version,
                          v->power_state,
                          v->provisioning_state,
                          v->identity_type,
                          v->identity_principal_id};
    uint64_t h = store_seen_hash_text(SEEN_FACTS_SEED, v->id, false);

    h = store_seen_hash_text(h, v->subscription_id != NULL ? v->subscription_id : "", true);
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
        h = store_seen_hash_text(h, text[i] != NULL ? text[i] : "", false);
    h = store_seen_hash_text(h, v->user_assigned_ids != NULL ? v->user_assigned_ids : "[]", false);
    return store_seen_hash_text(h, v->tags != NULL ? v->tags : "{}", false);
}

static void bind_facts(struct store_q *s, const struct store_vm_facts *v)
{
    bind_text(s, ":id", v->id);
    bind_text_or(s, ":subscription_id", v->subscription_id, "");
    bind_text_or(s, ":resource_group", v->resource_group, "");
    bind_text_or(s, ":name", v->name, "");
    bind_text_or(s, ":location", v->location, "");
    bind_text_or(s, ":vm_id", v->vm_id, "");
    bind_text_or(s, ":computer_name", v->computer_name, "");
    bind_text_or(s, ":os_type", v->os_type, "");
    bind_text_or(s, ":image_publisher", v->image_publisher, "");
    bind_text_or(s, ":image_offer", v->image_offer, "");
    bind_text_or(s, ":image_sku", v->image_sku, "");
    bind_text_or(s, ":image_version", v->image_version, "");
    bind_text_or(s, ":image_id", v->image_id, "");
    bind_text_or(s, ":os_name", v->os_name, "");
    bind_text_or(s, ":os_version", v->os_version, "");
    bind_text_or(s, ":power_state", v->power_state, "");
    bind_text_or(s, ":provisioning_state", v->provisioning_state, "");
    bind_text_or(s, ":identity_type", v->identity_type, "");
    bind_text_or(s, ":identity_principal_id", v->identity_principal_id, "");
    bind_text_or(s, ":user_assigned_ids", v->user_assigned_ids, "[]");
    bind_text_or(s, ":tags", v->tags, "{}");
}

static enum err upsert_all(struct store *st, struct store_seen *seen,
                           const struct store_vm_facts *vms, size_t n, int64_t now, size_t *changed,
                           struct err_detail *d)
{
    struct store_q *up = NULL;
    int64_t c;
    enum err e = ERR_OK;

    if (seen != NULL && !seen->known_loaded) {
        e = store_stmt(st, SQL_KNOWN, &up, d);
        if (e == ERR_OK)
            e = store_seen_known_load(seen, up, 2, d, "vm known"); /* 2: subscription_id */
    }
    if (e == ERR_OK)
        e = store_stmt(st, SQL_UPSERT, &up, d);
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        uint64_t h;

        if (vms[i].id == NULL)
            return err_set(d, ERR_INVALID, "invalid", "VM %zu has no id", i);
        h = seen != NULL ? facts_hash(&vms[i]) : 0;
        if (!store_seen_known_same(seen, vms[i].id, h)) {
            bind_facts(up, &vms[i]);
            bind_int64(up, ":now", now);
            e = store_exec_count(up, &c, d, "vm upsert");
            *changed += (size_t)c;
            if (e != ERR_OK)
                break;
            store_seen_known_put(seen, vms[i].id, h);
        }
        seen_set_add(seen, vms[i].id);
    }
    return e;
}

enum err store_vms_upsert(struct store *st, struct store_seen *seen,
                          const struct store_vm_facts *vms, size_t n, int64_t now, size_t *changed,
                          struct err_detail *d)
{
    size_t dummy = 0;
    bool own;
    enum err e;

    if (changed == NULL)
        changed = &dummy;
    *changed = 0;
    e = store_own_tx_begin(st, &own, d);
    if (e != ERR_OK)
        return e;
    e = upsert_all(st, seen, vms, n, now, changed, d);
    e = store_own_tx_end(st, own, e, d);
    if (e != ERR_OK) {
        *changed = 0;
        store_seen_known_forget(seen);
    }
    return e;
}

enum err store_vms_mark_gone(struct store *st, struct store_seen *seen, const char *subscription_id,
                             int64_t now, size_t *gone, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PRESENT, &s, d);

    if (gone != NULL)
        *gone = 0;
    if (e != ERR_OK)
        return e;
    if (store_seen_known_all_seen(seen, subscription_id))
        return ERR_OK; /* every VM present at the start of the pass was listed again */
    bind_text(s, ":subscription_id", subscription_id);
    return seen_set_mark_unseen(st, seen, s, SQL_MARK_GONE, now, gone, d, "vm mark gone");
}

enum err store_vm_get(struct store *st, const char *id, struct store_vm *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_vm){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    e = store_step_one(s, d, "vm get");
    if (e != ERR_OK)
        return e;
    row_to_vm(s, out);
    store_reset(s);
    return ERR_OK;
}

/* The key range [prefix, prefix with its last '/' raised to '0') for a filter. */
static char *range_prefix(const struct store_vm_filter *f)
{
    char *sub;
    char *rg;
    char *p;

    if (f == NULL || f->subscription_id == NULL)
        return xstrdup("/subscriptions/");
    sub = store_lower(f->subscription_id);
    if (f->resource_group == NULL) {
        p = xasprintf("/subscriptions/%s/", sub);
    } else {
        rg = store_lower(f->resource_group);
        p = xasprintf("/subscriptions/%s/resourcegroups/%s/", sub, rg);
        free(rg);
    }
    free(sub);
    return p;
}

static enum err page(struct store_q *s, int limit, struct store_vm **out, size_t *n,
                     struct err_detail *d)
{
    int rc;

    *out = xcalloc((size_t)limit + 1, sizeof(**out));
    while ((rc = store_step(s)) == STORE_ROW)
        row_to_vm(s, &(*out)[(*n)++]);
    if (rc != STORE_DONE)
        return store_fail(s, rc, d, "vm list");
    store_reset(s);
    return ERR_OK;
}

enum err store_vm_list(struct store *st, const struct store_vm_filter *f, const char *after,
                       int limit, struct store_vm **out, size_t *n, char **next_after,
                       struct err_detail *d)
{
    struct store_q *s;
    char *lo;
    char *hi;
    enum err e;

    *out = NULL;
    *n = 0;
    *next_after = NULL;
    if (limit < 1 || limit > 1000)
        return err_set(d, ERR_INVALID, "invalid", "limit must be 1..1000");
    if (f != NULL && f->resource_group != NULL && f->subscription_id == NULL)
        return err_set(d, ERR_INVALID, "invalid", "a resource group filter needs a subscription");
    e = store_stmt(st, SQL_PAGE, &s, d);
    if (e != ERR_OK)
        return e;
    lo = range_prefix(f);
    hi = xstrdup(lo);
    hi[strlen(hi) - 1] = '0'; /* '0' follows '/': the end of the prefix range */
    bind_text(s, ":lo", after != NULL && strcmp(after, lo) > 0 ? after : lo);
    bind_text(s, ":hi", hi);
    bind_int64(s, ":include_gone", f != NULL && f->include_gone);
    bind_int64(s, ":limit", limit + 1); /* one more tells whether a next page exists */
    e = page(s, limit, out, n, d);
    free(lo);
    free(hi);
    if (e == ERR_OK && *n > (size_t)limit) {
        store_vm_clear(&(*out)[--(*n)]);
        *next_after = xstrdup((*out)[*n - 1].id_key);
    }
    if (e != ERR_OK) {
        store_vm_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return e;
}
