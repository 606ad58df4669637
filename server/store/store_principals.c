/* store_principals.c: observed directory objects (users, groups, service principals) named by
 * the login-role assignments and their groups' members, and the groups' member lists. Writes
 * only on change. Sync owns kind, UPN, display name, app id, user type, account enabled and
 * deletion; a fact the caller does not know (user_type NULL, !has_account_enabled) keeps its
 * stored value, so a lookup without those properties never clears them.
 * Memberships are the groups' transitive members (Graph transitiveMembers), so a recursive
 * walk of group_members and a flat lookup give the same answer. The groups a sync pass
 * replaced, and the members of the one being replaced, are TEMP tables on SQLite; on PostgreSQL
 * the pass's groups stay in the thread (store_seen.h: struct store_pg_scratch) and both sets
 * are bound to the statements that read them as JSON arrays. */
#include <jansson.h>
#include <stdlib.h>

#include "store/store_seen.h"

/* :user_type and :account_enabled are NULL when unknown: the stored value stays. */
static const char SQL_UPSERT[] =
    "INSERT INTO principals (id, kind, upn, upn_key, display_name, app_id, user_type,"
    " account_enabled, deleted, changed_at, checked_at)"
    " VALUES (lower(:id), :kind, :upn, lower(:upn), :display_name, :app_id,"
    " coalesce(:user_type, ''), :account_enabled, 'none', :now, :now)"
    " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, upn = excluded.upn,"
    " upn_key = excluded.upn_key, display_name = excluded.display_name,"
    " app_id = excluded.app_id, user_type = coalesce(:user_type, principals.user_type),"
    " account_enabled = coalesce(:account_enabled, principals.account_enabled),"
    " deleted = 'none', changed_at = excluded.changed_at, checked_at = excluded.checked_at"
    " WHERE (principals.kind, principals.upn, principals.display_name, principals.app_id,"
    " principals.user_type, principals.account_enabled, principals.deleted)"
    " IS DISTINCT FROM (excluded.kind, excluded.upn, excluded.display_name, excluded.app_id,"
    " coalesce(:user_type, principals.user_type),"
    " coalesce(:account_enabled, principals.account_enabled), 'none')";
static const char SQL_MARK_DELETED[] =
    "UPDATE principals SET deleted = :deleted, changed_at = :now, checked_at = :now"
    " WHERE id = lower(:id) AND deleted IS DISTINCT FROM :deleted";
static const char SQL_GROUPS_CREATE[] =
    "CREATE TEMP TABLE IF NOT EXISTS group_seen (group_id TEXT PRIMARY KEY) WITHOUT ROWID";
static const char SQL_GROUPS_RESET[] = "DELETE FROM group_seen WHERE 1";
static const char SQL_GROUP_SEEN[] =
    "INSERT INTO group_seen (group_id) VALUES (lower(:group_id)) ON CONFLICT DO NOTHING";
static const char SQL_MEMBERS_CREATE[] =
    "CREATE TEMP TABLE IF NOT EXISTS member_seen (member_id TEXT PRIMARY KEY) WITHOUT ROWID";
static const char SQL_MEMBERS_RESET[] = "DELETE FROM member_seen WHERE 1";
static const char SQL_MEMBER_SEEN[] =
    "INSERT INTO member_seen (member_id) VALUES (lower(:member_id)) ON CONFLICT DO NOTHING";
static const char SQL_MEMBER_UPSERT[] =
    "INSERT INTO group_members (group_id, member_id, member_kind, changed_at)"
    " VALUES (lower(:group_id), lower(:member_id), :member_kind, :now)"
    " ON CONFLICT (group_id, member_id) DO UPDATE SET member_kind = excluded.member_kind,"
    " changed_at = excluded.changed_at"
    " WHERE group_members.member_kind IS DISTINCT FROM excluded.member_kind";
/* The lowercased strings of a JSON array bound to p (PostgreSQL). */
#define LOWER_IN_PG(p) "(SELECT lower(value) FROM json_array_elements_text(CAST(" p " AS json)))"
#define MEMBERS_DROP(seen)                                                                         \
    "DELETE FROM group_members WHERE group_id = lower(:group_id) AND member_id NOT IN " seen
static const struct store_sql SQL_MEMBERS_DROP = {
    .lite = MEMBERS_DROP("(SELECT member_id FROM member_seen)"),
    .pg = MEMBERS_DROP(LOWER_IN_PG(":members")),
};
#define PRUNE(seen) "DELETE FROM group_members WHERE group_id NOT IN " seen
static const struct store_sql SQL_PRUNE = {.lite = PRUNE("(SELECT group_id FROM group_seen)"),
                                           .pg = PRUNE(LOWER_IN_PG(":groups"))};
static const char SQL_COUNT[] = "SELECT (SELECT count(*) FROM principals WHERE deleted = 'none'),"
                                " (SELECT count(*) FROM group_members)";

static enum err upsert_all(struct store *st, const void *items, size_t n, int64_t now,
                           size_t *changed, struct err_detail *d)
{
    const struct store_principal_facts *p = items;
    struct store_q *s;
    int64_t c;
    enum err e = store_stmt(st, SQL_UPSERT, &s, d);

    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        if (p[i].id == NULL || p[i].kind == NULL)
            return err_set(d, ERR_INVALID, "invalid", "principal %zu has no id or kind", i);
        bind_text(s, ":id", p[i].id);
        bind_text(s, ":kind", p[i].kind);
        bind_text(s, ":upn", p[i].upn);
        bind_text_or(s, ":display_name", p[i].display_name, "");
        bind_text(s, ":app_id", p[i].app_id);
        bind_text(s, ":user_type", p[i].user_type);
        if (p[i].has_account_enabled)
            bind_int64(s, ":account_enabled", p[i].account_enabled ? 1 : 0);
        else
            bind_text(s, ":account_enabled", NULL);
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &c, d, "principal upsert");
        *changed += (size_t)c;
    }
    return e;
}

enum err store_principals_upsert(struct store *st, const struct store_principal_facts *p, size_t n,
                                 int64_t now, size_t *changed, struct err_detail *d)
{
    return store_batch(st, upsert_all, p, n, now, changed, d);
}

enum err store_principal_mark_deleted(struct store *st, const char *id, const char *deleted,
                                      int64_t now, bool *changed, struct err_detail *d)
{
    struct store_q *s;
    int64_t n = 0;
    enum err e = store_stmt(st, SQL_MARK_DELETED, &s, d);

    if (e == ERR_OK) {
        bind_text(s, ":id", id);
        bind_text(s, ":deleted", deleted);
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &n, d, "principal mark deleted");
    }
    if (changed != NULL)
        *changed = n > 0;
    return e;
}

enum err store_group_members_sync_begin(struct store *st, struct err_detail *d)
{
    struct store_pg_scratch *pg;
    enum err e;

    if (store_pg_pool(st) != NULL) {
        pg = store_pg_scratch(st, d);
        if (pg == NULL)
            return ERR_STORE;
        json_array_clear(pg->groups);
        return ERR_OK;
    }
    e = store_seen_exec(st, SQL_MEMBERS_CREATE, d);
    return e == ERR_OK ? store_seen_reset(st, SQL_GROUPS_CREATE, SQL_GROUPS_RESET, d) : e;
}

struct members_batch {
    const char *group_id;
    const struct store_member_facts *m;
};

/* Upserts the members; on SQLite each is also recorded in member_seen, emptied first. */
static enum err upsert_members(struct store *st, const struct members_batch *b, size_t n,
                               int64_t now, size_t *changed, struct err_detail *d)
{
    bool lite = store_pg_pool(st) == NULL;
    struct store_q *up = NULL;
    struct store_q *seen = NULL;
    int64_t c = 0;
    enum err e = lite ? store_seen_exec(st, SQL_MEMBERS_RESET, d) : ERR_OK;

    if (e == ERR_OK)
        e = store_stmt(st, SQL_MEMBER_UPSERT, &up, d);
    if (e == ERR_OK && lite)
        e = store_stmt(st, SQL_MEMBER_SEEN, &seen, d);
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        bind_text(up, ":group_id", b->group_id);
        bind_text(up, ":member_id", b->m[i].member_id);
        bind_text(up, ":member_kind", b->m[i].member_kind);
        bind_int64(up, ":now", now);
        e = store_exec_count(up, &c, d, "group member upsert");
        *changed += (size_t)c;
        if (e == ERR_OK && seen != NULL) {
            bind_text(seen, ":member_id", b->m[i].member_id);
            e = store_seen_step(st, seen, d);
        }
    }
    return e;
}

/* The ids of m[0..n) as a JSON array (PostgreSQL binds the members seen so). */
static char *member_ids_json(const struct store_member_facts *m, size_t n)
{
    json_t *a = json_array();
    char *text;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(m[i].member_id != NULL ? m[i].member_id : ""));
    text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

/* Deletes the group's rows of members not in m[0..n). */
static enum err drop_members(struct store *st, const struct members_batch *b, size_t n,
                             size_t *changed, struct err_detail *d)
{
    struct store_q *s;
    char *ids = NULL;
    int64_t c = 0;
    enum err e = store_stmt_sql(st, &SQL_MEMBERS_DROP, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":group_id", b->group_id);
    if (store_pg_pool(st) != NULL) {
        ids = member_ids_json(b->m, n);
        bind_text(s, ":members", ids);
    }
    e = store_exec_count(s, &c, d, "group members drop");
    *changed += (size_t)c;
    free(ids);
    return e;
}

static enum err replace_members(struct store *st, const void *items, size_t n, int64_t now,
                                size_t *changed, struct err_detail *d)
{
    const struct members_batch *b = items;
    struct store_q *seen = NULL;
    enum err e = upsert_members(st, b, n, now, changed, d);

    if (e == ERR_OK)
        e = drop_members(st, b, n, changed, d);
    if (e != ERR_OK || store_pg_pool(st) != NULL)
        return e; /* PostgreSQL: store_group_members_replace records the group */
    e = store_stmt(st, SQL_GROUP_SEEN, &seen, d);
    if (e == ERR_OK) {
        bind_text(seen, ":group_id", b->group_id);
        e = store_seen_step(st, seen, d);
    }
    return e;
}

enum err store_group_members_replace(struct store *st, const char *group_id,
                                     const struct store_member_facts *m, size_t n, int64_t now,
                                     size_t *changed, struct err_detail *d)
{
    struct members_batch b = {.group_id = group_id, .m = m};
    struct store_pg_scratch *pg;
    enum err e = store_batch(st, replace_members, &b, n, now, changed, d);

    if (e != ERR_OK || store_pg_pool(st) == NULL)
        return e;
    /* as group_seen's row, recorded once the members are written */
    pg = store_pg_scratch(st, d);
    if (pg == NULL)
        return ERR_STORE;
    json_array_append_new(pg->groups, json_string(group_id));
    return ERR_OK;
}

enum err store_group_members_prune(struct store *st, size_t *removed, struct err_detail *d)
{
    struct store_pg_scratch *pg = NULL;
    struct store_q *s;
    char *groups = NULL;
    int64_t n = 0;
    enum err e = ERR_OK;

    if (removed != NULL)
        *removed = 0;
    if (store_pg_pool(st) != NULL) {
        pg = store_pg_scratch(st, d);
        if (pg == NULL)
            return ERR_STORE; /* never prune with no list of the groups replaced */
    }
    e = store_stmt_sql(st, &SQL_PRUNE, &s, d);
    if (e != ERR_OK)
        return e;
    if (pg != NULL) {
        groups = json_dumps(pg->groups, JSON_COMPACT);
        bind_text(s, ":groups", groups);
    }
    e = store_exec_count(s, &n, d, "group members prune");
    free(groups);
    if (removed != NULL)
        *removed = (size_t)n;
    return e;
}

enum err store_principals_count(struct store *st, int64_t *principals, int64_t *members,
                                struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_COUNT, &s, d);

    *principals = 0;
    *members = 0;
    if (e == ERR_OK)
        e = store_step_one(s, d, "principal count");
    if (e != ERR_OK)
        return e;
    *principals = col_int64(s, 0);
    *members = col_int64(s, 1);
    store_reset(s);
    return ERR_OK;
}
