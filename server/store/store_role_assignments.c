/* store_role_assignments.c: observed role assignments of the VM login roles, at every scope
 * that covers a VM (management group, subscription, resource group, VM). Writes only on
 * change; a sync pass remembers which it saw in memory (a seen_set of this thread's connection)
 * and marks the rest gone per subscription. Effective access is computed elsewhere from these rows.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_seen.h"
#include "vmlogind/xalloc.h"

#define RA_FACTS                                                                                   \
    "id, name, scope, scope_key, role_definition_id, principal_id, principal_type, created_on,"    \
    " created_by"
#define RA_COLUMNS                                                                                 \
    "id, name, scope, role_definition_id, principal_id, principal_type, created_on, created_by,"   \
    " changed_at, gone_at"

static const char SQL_UPSERT[] =
    "INSERT INTO role_assignments (id_key, " RA_FACTS ", changed_at)"
    " VALUES (lower(:id), :id, lower(:name), :scope, lower(:scope), lower(:role),"
    " lower(:principal_id), :principal_type, :created_on, :created_by, :now)"
    " ON CONFLICT (id_key) DO UPDATE SET (" RA_FACTS ") = (excluded.id, excluded.name,"
    " excluded.scope, excluded.scope_key, excluded.role_definition_id, excluded.principal_id,"
    " excluded.principal_type, excluded.created_on, excluded.created_by),"
    " changed_at = excluded.changed_at, gone_at = NULL"
    " WHERE role_assignments.gone_at IS NOT NULL"
    " OR (role_assignments.id, role_assignments.name, role_assignments.scope,"
    " role_assignments.role_definition_id, role_assignments.principal_id,"
    " role_assignments.principal_type, role_assignments.created_on,"
    " role_assignments.created_by) IS DISTINCT FROM (excluded.id, excluded.name, excluded.scope,"
    " excluded.role_definition_id, excluded.principal_id, excluded.principal_type,"
    " excluded.created_on, excluded.created_by)";
/* The present assignments at the subscription's scope and everything below it. */
static const char SQL_PRESENT_SUB[] = "SELECT id_key FROM role_assignments"
                                      " WHERE (scope_key = '/subscriptions/' || lower(:sub)"
                                      " OR (scope_key > '/subscriptions/' || lower(:sub) || '/'"
                                      " AND scope_key < '/subscriptions/' || lower(:sub) || '0'))"
                                      " AND gone_at IS NULL";
/* ... and at the scopes above every subscription. */
static const char SQL_PRESENT_ABOVE[] = "SELECT id_key FROM role_assignments"
                                        " WHERE scope_key NOT LIKE '/subscriptions/%'"
                                        " AND gone_at IS NULL";
/* The facts of the present assignments as the upsert compares them (store_seen_known_load). */
static const char SQL_KNOWN[] =
    "SELECT id_key, id, name, scope, role_definition_id, principal_id, principal_type,"
    " created_on, created_by FROM role_assignments WHERE gone_at IS NULL";
static const char SQL_MARK_GONE[] = "UPDATE role_assignments SET gone_at = :now, changed_at = :now"
                                    " WHERE id_key = :id_key AND gone_at IS NULL";

/* With the principals just-in-time login names (eligible users and groups, approvers), so the
 * sync reads them and expands their groups' members too. */
static const char SQL_PRINCIPALS[] =
    "SELECT principal_id FROM role_assignments WHERE gone_at IS NULL"
    " UNION SELECT principal_id FROM eligibilities"
    " UNION SELECT approver_id FROM eligibility_approvers ORDER BY 1";
static const char SQL_UNDER[] =
    "SELECT " RA_COLUMNS " FROM role_assignments WHERE gone_at IS NULL"
    " AND (:scope IS NULL OR scope_key = lower(:scope)"
    " OR (scope_key > lower(:scope) || '/' AND scope_key < lower(:scope) || '0'))"
    " ORDER BY id_key";

static void ra_clear(void *p)
{
    store_role_assignment_clear(p);
}

static void row_to_ra(struct store_q *s, void *p)
{
    struct store_role_assignment *r = p;

    r->id = col_text(s, 0);
    r->name = col_text(s, 1);
    r->scope = col_text(s, 2);
    r->role_definition_id = col_text(s, 3);
    r->principal_id = col_text(s, 4);
    r->principal_type = col_text(s, 5);
    r->created_on = col_int64(s, 6);
    r->created_by = col_text(s, 7);
    r->changed_at = col_int64(s, 8);
    r->gone_at = col_int64(s, 9);
}

void store_role_assignment_clear(struct store_role_assignment *ra)
{
    if (ra == NULL)
        return;
    free(ra->id);
    free(ra->name);
    free(ra->scope);
    free(ra->role_definition_id);
    free(ra->principal_id);
    free(ra->principal_type);
    free(ra->created_by);
    *ra = (struct store_role_assignment){0};
}

void store_role_assignment_list_free(struct store_role_assignment *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_role_assignment_clear(&list[i]);
    free(list);
}

/* What store_batch hands upsert_all: the rows and the pass's seen set. */
struct ra_batch {
    const struct store_role_assignment_facts *ra;
    struct store_seen *seen;
};

/* The facts as the upsert binds and stores them, in SQL_KNOWN's order, hashed. */
static uint64_t facts_hash(const struct store_role_assignment_facts *ra)
{
    uint64_t h = store_seen_hash_text(SEEN_FACTS_SEED, ra->id, false);

    h = store_seen_hash_text(h, ra->name != NULL ? ra->name : "", true);
    h = store_seen_hash_text(h, ra->scope, false);
    h = store_seen_hash_text(h, ra->role_definition_id, true);
    h = store_seen_hash_text(h, ra->principal_id, true);
    h = store_seen_hash_text(h, ra->principal_type != NULL ? ra->principal_type : "", false);
    h = store_seen_hash_int(h, ra->created_on, ra->created_on == 0);
    return store_seen_hash_text(h, ra->created_by != NULL ? ra->created_by : "", false);
}

static enum err upsert_all(struct store *st, const void *items, size_t n, int64_t now,
                           size_t *changed, struct err_detail *d)
{
    const struct ra_batch *b = items;
    const struct store_role_assignment_facts *ra = b->ra;
    struct store_q *up = NULL;
    int64_t c;
    enum err e = ERR_OK;

    if (b->seen != NULL && !b->seen->known_loaded) {
        e = store_stmt(st, SQL_KNOWN, &up, d);
        if (e == ERR_OK)
            e = store_seen_known_load(b->seen, up, 3, d, "role assignment known"); /* scope */
    }
    if (e == ERR_OK)
        e = store_stmt(st, SQL_UPSERT, &up, d);
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        uint64_t h;

        if (ra[i].id == NULL || ra[i].scope == NULL || ra[i].role_definition_id == NULL ||
            ra[i].principal_id == NULL)
            return err_set(d, ERR_INVALID, "invalid", "role assignment %zu is incomplete", i);
        h = b->seen != NULL ? facts_hash(&ra[i]) : 0;
        if (store_seen_known_same(b->seen, ra[i].id, h)) {
            seen_set_add(b->seen, ra[i].id);
            continue;
        }
        bind_text(up, ":id", ra[i].id);
        bind_text_or(up, ":name", ra[i].name, "");
        bind_text(up, ":scope", ra[i].scope);
        bind_text(up, ":role", ra[i].role_definition_id);
        bind_text(up, ":principal_id", ra[i].principal_id);
        bind_text_or(up, ":principal_type", ra[i].principal_type, "");
        bind_time(up, ":created_on", ra[i].created_on);
        bind_text_or(up, ":created_by", ra[i].created_by, "");
        bind_int64(up, ":now", now);
        e = store_exec_count(up, &c, d, "role assignment upsert");
        *changed += (size_t)c;
        if (e != ERR_OK)
            break;
        store_seen_known_put(b->seen, ra[i].id, h);
        seen_set_add(b->seen, ra[i].id);
    }
    return e;
}

enum err store_role_assignments_upsert(struct store *st, struct store_seen *seen,
                                       const struct store_role_assignment_facts *ra, size_t n,
                                       int64_t now, size_t *changed, struct err_detail *d)
{
    struct ra_batch b = {.ra = ra, .seen = seen};
    enum err e = store_batch(st, upsert_all, &b, n, now, changed, d);

    if (e != ERR_OK)
        store_seen_known_forget(seen);
    return e;
}

enum err store_role_assignments_mark_gone(struct store *st, struct store_seen *seen,
                                          const char *subscription_id, int64_t now, size_t *gone,
                                          struct err_detail *d)
{
    struct store_q *s;
    enum err e =
        store_stmt(st, subscription_id != NULL ? SQL_PRESENT_SUB : SQL_PRESENT_ABOVE, &s, d);

    if (gone != NULL)
        *gone = 0;
    if (e != ERR_OK)
        return e;
    if (store_seen_known_all_seen(seen, subscription_id))
        return ERR_OK; /* every assignment present there at the start was listed again */
    if (subscription_id != NULL)
        bind_text(s, ":sub", subscription_id);
    return seen_set_mark_unseen(st, seen, s, SQL_MARK_GONE, now, gone, d,
                                "role assignment mark gone");
}

static void row_to_id(struct store_q *s, void *p)
{
    *(char **)p = col_text(s, 0);
}

static void id_clear(void *p)
{
    free(*(char **)p);
}

enum err store_role_assignment_principal_ids(struct store *st, char ***ids, size_t *n,
                                             struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PRINCIPALS, &s, d);

    *ids = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    return store_collect(s, sizeof(char *), row_to_id, id_clear, (void **)ids, n, d,
                         "assignment principals");
}

enum err store_role_assignments_under(struct store *st, const char *scope,
                                      struct store_role_assignment **out, size_t *n,
                                      struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_UNDER, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":scope", scope);
    return store_collect(s, sizeof(**out), row_to_ra, ra_clear, (void **)out, n, d,
                         "assignments under scope");
}
