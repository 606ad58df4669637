/* reconcile_sync_principals.c: the principals the stored assignments name, resolved through
 * Graph getByIds; those it does not return are looked up in deletedItems (soft-deleted or
 * gone); then each group's transitive members. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/reconcile_sync_int.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

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
static enum err upsert_objects(struct sync_pass *s, const struct azure_directory_object *o,
                               size_t n, bool remember)
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
        reconcile_sync_error(s, "store principals", NULL, rc, NULL, &d);
        return rc;
    }
    if (remember)
        s->run.principals_seen += (int64_t)kept;
    s->run.principals_changed += (int64_t)changed;
    return ERR_OK;
}

static enum err on_by_ids(const struct azure_directory_object *o, size_t n, void *arg)
{
    struct sync_pass *s = arg;
    enum err rc = upsert_objects(s, o, n, true);

    return rc == ERR_OK ? reconcile_sync_progress(s) : rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static bool was_found(const struct sync_pass *s, const char *id)
{
    return s->n_found > 0 && bsearch(&id, s->found, s->n_found, sizeof(char *), cmp_str) != NULL;
}

/* Principals named by assignments that getByIds did not return: soft-deleted or gone. */
static void mark_vanished(struct sync_pass *s, char *const *ids, size_t n)
{
    int lookups = 0;

    if (s->n_found > 0) /* found is NULL when getByIds returned nobody: qsort(NULL) is UB */
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
        rc = s->env->cloud->deleted_item_get(s->env->cloud->ctx, ids[i], &del, &ae);
        azure_directory_object_cleanup(&del);
        if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
            reconcile_sync_error(s, "look up deleted principal", ids[i], rc, &ae, NULL);
            continue;
        }
        rc = store_principal_mark_deleted(s->env->store, ids[i], rc == ERR_OK ? "soft" : "gone",
                                          s->now, &changed, &d);
        if (rc != ERR_OK)
            reconcile_sync_error(s, "mark principal deleted", ids[i], rc, NULL, &d);
        s->run.principals_changed += changed;
    }
}

struct members {
    struct sync_pass *s;
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
    return rc == ERR_OK ? reconcile_sync_progress(l->s) : rc;
}

/* True when the group's members were listed and stored completely. */
static bool sync_group(struct sync_pass *s, const char *group_id)
{
    struct members l = {.s = s};
    struct azure_error ae;
    struct err_detail d;
    size_t changed = 0;
    int64_t errors = s->run.errors;
    enum err rc;

    azure_error_clear(&ae);
    rc = s->env->cloud->group_members(s->env->cloud->ctx, group_id, on_members, &l, &ae);
    if (rc != ERR_OK && !s->stopped && s->run.errors == errors)
        reconcile_sync_error(s, "list members of group", group_id, rc, &ae, NULL);
    if (rc == ERR_OK) {
        rc = store_group_members_replace(s->env->store, group_id, l.m, l.n, s->now, &changed, &d);
        if (rc != ERR_OK)
            reconcile_sync_error(s, "store members of group", group_id, rc, NULL, &d);
    }
    s->run.members_changed += (int64_t)changed;
    reconcile_sync_strs_free(l.owned, 2 * l.n);
    free(l.m);
    return rc == ERR_OK;
}

void reconcile_sync_principals(struct sync_pass *s)
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
        reconcile_sync_error(s, "read assignment principals", NULL, rc, NULL, &d);
        return;
    }
    azure_error_clear(&ae);
    rc = n > 0 ? s->env->cloud->get_by_ids(s->env->cloud->ctx, (const char *const *)ids, n,
                                           on_by_ids, s, &ae)
               : ERR_OK;
    if (rc != ERR_OK) {
        if (!s->stopped && s->run.errors == errors)
            reconcile_sync_error(s, "resolve principals", NULL, rc, &ae, NULL);
        reconcile_sync_strs_free(ids, n);
        return;
    }
    mark_vanished(s, ids, n);
    reconcile_sync_strs_free(ids, n);
    rc = store_group_members_sync_begin(s->env->store, &d);
    for (size_t i = 0; rc == ERR_OK && i < s->n_groups && !s->stopped; i++)
        all = sync_group(s, s->groups[i]) && all;
    if (rc == ERR_OK && all && !s->stopped)
        rc = store_group_members_prune(s->env->store, &removed, &d);
    s->run.members_changed += (int64_t)removed;
    if (rc != ERR_OK)
        reconcile_sync_error(s, "group members", NULL, rc, NULL, &d);
}
