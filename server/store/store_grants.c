/* store_grants.c: login_grants and authoritative_scopes. What a state means and which
 * transition is allowed is decided in api/ and reconcile/; this file only makes each write
 * conditional on the generation the writer read, so two writers never lose a step. */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "vmlogind/store_grants.h"
#include "vmlogind/xalloc.h"

#define GRANT_COLUMNS                                                                              \
    "id, scope, scope_key, role, principal_id, principal_type, upn, expires_at, justification,"    \
    " state, last_error_code, last_error_message, assignment_name, assignment_id, operation_id,"   \
    " generation, created_by, revoked_by, created_at, updated_at, activation_id"
#define LIVE "('pending', 'active', 'revoking')"

static const char SQL_INSERT[] =
    "INSERT INTO login_grants (id, scope, scope_key, role, principal_id, principal_type, upn,"
    " expires_at, justification, state, assignment_name, operation_id, created_by, created_at,"
    " updated_at, activation_id)"
    " VALUES (:id, :scope, lower(:scope), :role, lower(:principal_id), :principal_type, :upn,"
    " :expires_at, coalesce(:justification, ''), 'pending', :assignment_name, :operation_id,"
    " :created_by, :now, :now, :activation_id)";
static const char SQL_GET[] = "SELECT " GRANT_COLUMNS " FROM login_grants WHERE id = lower(:id)";
static const char SQL_FIND_LIVE[] = "SELECT " GRANT_COLUMNS " FROM login_grants"
                                    " WHERE assignment_name = lower(:name) AND state IN " LIVE;
static const char SQL_PAGE[] = "SELECT " GRANT_COLUMNS " FROM login_grants"
                               " WHERE id > :after"
                               " AND (CAST(:scope_key AS TEXT) IS NULL OR scope_key = :scope_key)"
                               " AND (CAST(:principal AS TEXT) IS NULL"
                               "      OR principal_id = lower(:principal)"
                               "      OR lower(upn) = lower(:principal))"
                               " AND (CAST(:state AS TEXT) IS NULL OR state = :state)"
                               " ORDER BY id LIMIT :limit";
static const char SQL_UPDATE[] =
    "UPDATE login_grants SET state = coalesce(:state, state),"
    " last_error_code = :error_code, last_error_message = :error_message,"
    " assignment_id = coalesce(:assignment_id, assignment_id),"
    " assignment_name = coalesce(lower(:assignment_name), assignment_name),"
    " principal_id = coalesce(lower(:principal_id), principal_id),"
    " principal_type = coalesce(:principal_type, principal_type),"
    " revoked_by = coalesce(:revoked_by, revoked_by),"
    " expires_at = CASE WHEN CAST(:expires_at AS BIGINT) > 0 THEN :expires_at"
    "  ELSE expires_at END,"
    " generation = generation + 1, updated_at = :now"
    " WHERE id = lower(:id) AND generation = :gen";
static const char SQL_EXISTS[] = "SELECT 1 FROM login_grants WHERE id = lower(:id)";
#define FOR_ASSIGNMENT(same_arm_id)                                                                \
    "SELECT id FROM login_grants WHERE state IN " LIVE " AND assignment_name = lower(:name)"       \
    " UNION ALL SELECT id FROM login_grants WHERE state IN " LIVE                                  \
    " AND assignment_id IS NOT NULL AND " same_arm_id " LIMIT 1"
/* ARM ids compare without case: SQLite's NOCASE, PostgreSQL's lower() on both sides. */
static const struct store_sql SQL_FOR_ASSIGNMENT = {
    .lite = FOR_ASSIGNMENT("assignment_id = :arm_id COLLATE NOCASE"),
    .pg = FOR_ASSIGNMENT("lower(assignment_id) = lower(:arm_id)"),
};
static const char SQL_EXPIRED[] = "SELECT id FROM login_grants"
                                  " WHERE expires_at IS NOT NULL AND expires_at <= :now"
                                  " AND state IN ('pending', 'active') ORDER BY expires_at"
                                  " LIMIT :limit";

static const char SQL_POLICY_GET[] =
    "SELECT scope, scope_key, dry_run, created_by, created_at FROM authoritative_scopes"
    " WHERE scope_key = lower(:scope)";
static const char SQL_POLICY_COVERING[] =
    "SELECT scope, scope_key, dry_run, created_by, created_at FROM authoritative_scopes"
    " WHERE scope_key = lower(:scope)"
    " OR substr(lower(:scope), 1, length(scope_key) + 1) = scope_key || '/'"
    " ORDER BY length(scope_key) DESC LIMIT 1";
static const char SQL_POLICY_PUT[] =
    "INSERT INTO authoritative_scopes (scope_key, scope, dry_run, created_by, created_at)"
    " VALUES (lower(:scope), :scope, :dry_run, :actor, :now)"
    " ON CONFLICT (scope_key) DO UPDATE SET dry_run = excluded.dry_run,"
    " created_by = excluded.created_by, created_at = excluded.created_at"
    " WHERE authoritative_scopes.dry_run IS DISTINCT FROM excluded.dry_run";
static const char SQL_POLICY_DELETE[] =
    "DELETE FROM authoritative_scopes WHERE scope_key = lower(:scope)";

static void row_to_grant(struct store_q *s, struct store_grant *g)
{
    g->id = col_text(s, 0);
    g->scope = col_text(s, 1);
    g->scope_key = col_text(s, 2);
    g->role = col_text(s, 3);
    g->principal_id = col_text(s, 4);
    g->principal_type = col_text(s, 5);
    g->upn = col_text(s, 6);
    g->expires_at = col_int64(s, 7);
    g->justification = col_text(s, 8);
    g->state = col_text(s, 9);
    g->last_error_code = col_text(s, 10);
    g->last_error_message = col_text(s, 11);
    g->assignment_name = col_text(s, 12);
    g->assignment_id = col_text(s, 13);
    g->operation_id = col_text(s, 14);
    g->generation = col_int64(s, 15);
    g->created_by = col_text(s, 16);
    g->revoked_by = col_text(s, 17);
    g->created_at = col_int64(s, 18);
    g->updated_at = col_int64(s, 19);
    g->activation_id = col_text(s, 20);
}

void store_grant_clear(struct store_grant *g)
{
    if (g == NULL)
        return;
    free(g->id);
    free(g->scope);
    free(g->scope_key);
    free(g->role);
    free(g->principal_id);
    free(g->principal_type);
    free(g->upn);
    free(g->justification);
    free(g->state);
    free(g->last_error_code);
    free(g->last_error_message);
    free(g->assignment_name);
    free(g->assignment_id);
    free(g->operation_id);
    free(g->created_by);
    free(g->revoked_by);
    free(g->activation_id);
    *g = (struct store_grant){0};
}

void store_grant_list_free(struct store_grant *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_grant_clear(&list[i]);
    free(list);
}

enum err store_grant_insert(struct store *st, const struct store_grant *g, int64_t now,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_INSERT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", g->id);
    bind_text(s, ":scope", g->scope);
    bind_text(s, ":role", g->role);
    bind_text_or(s, ":principal_id", g->principal_id, "");
    bind_text(s, ":principal_type", g->principal_type);
    bind_text(s, ":upn", g->upn);
    bind_time(s, ":expires_at", g->expires_at);
    bind_text(s, ":justification", g->justification);
    bind_text(s, ":assignment_name", g->assignment_name);
    bind_text(s, ":operation_id", g->operation_id);
    bind_text(s, ":created_by", g->created_by);
    bind_text(s, ":activation_id", g->activation_id);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "grant insert");
}

static enum err get_one(struct store *st, const char *sql, const char *name, const char *value,
                        struct store_grant *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    *out = (struct store_grant){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, name, value);
    e = store_step_one(s, d, "grant");
    if (e != ERR_OK)
        return e;
    row_to_grant(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_grant_get(struct store *st, const char *id, struct store_grant *out,
                         struct err_detail *d)
{
    return get_one(st, SQL_GET, ":id", id, out, d);
}

enum err store_grant_find_live(struct store *st, const char *assignment_name,
                               struct store_grant *out, struct err_detail *d)
{
    return get_one(st, SQL_FIND_LIVE, ":name", assignment_name, out, d);
}

enum err store_grant_list(struct store *st, const struct store_grant_filter *f, const char *after,
                          int limit, struct store_grant **out, size_t *n, char **next_after,
                          struct err_detail *d)
{
    struct store_q *s;
    struct store_grant *list;
    size_t len = 0;
    int rc;
    enum err e;

    *out = NULL;
    *n = 0;
    *next_after = NULL;
    if (limit < 1 || limit > 1000)
        return err_set(d, ERR_INVALID, "invalid_limit", "limit is 1 to 1000");
    e = store_stmt(st, SQL_PAGE, &s, d);
    if (e != ERR_OK)
        return e;
    bind_text_or(s, ":after", after, "");
    bind_text(s, ":scope_key", f != NULL ? f->scope_key : NULL);
    bind_text(s, ":principal", f != NULL ? f->principal : NULL);
    bind_text(s, ":state", f != NULL ? f->state : NULL);
    bind_int64(s, ":limit", limit);
    list = xcalloc((size_t)limit, sizeof(*list));
    while ((rc = store_step(s)) == STORE_ROW)
        row_to_grant(s, &list[len++]);
    if (rc != STORE_DONE) {
        store_grant_list_free(list, len);
        return store_fail(s, rc, d, "grant list");
    }
    store_reset(s);
    if (len == (size_t)limit)
        *next_after = xstrdup(list[len - 1].id);
    *out = list;
    *n = len;
    return ERR_OK;
}

enum err store_grant_update(struct store *st, const char *id, int64_t gen,
                            const struct store_grant_update *u, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    int64_t changed = 0;
    enum err e = store_stmt(st, SQL_UPDATE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    bind_int64(s, ":gen", gen);
    bind_text(s, ":state", u->state);
    bind_text(s, ":error_code", u->error_code);
    bind_text(s, ":error_message", u->error_message);
    bind_text(s, ":assignment_id", u->assignment_id);
    bind_text(s, ":assignment_name", u->assignment_name);
    bind_text(s, ":principal_id", u->principal_id);
    bind_text(s, ":principal_type", u->principal_type);
    bind_text(s, ":revoked_by", u->revoked_by);
    bind_int64(s, ":expires_at", u->expires_at);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &changed, d, "grant update");
    if (e != ERR_OK || changed == 1)
        return e;
    e = store_stmt(st, SQL_EXISTS, &s, d);
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    e = store_step_one(s, d, "grant");
    if (e == ERR_OK) {
        store_reset(s);
        return err_set(d, ERR_CONFLICT, "grant_changed", "the grant changed meanwhile");
    }
    return e;
}

enum err store_grant_for_assignment(struct store *st, const char *name, const char *arm_id,
                                    char **grant_id, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt_sql(st, &SQL_FOR_ASSIGNMENT, &s, d);

    *grant_id = NULL;
    if (e != ERR_OK)
        return e;
    bind_text_or(s, ":name", name, "");
    bind_text_or(s, ":arm_id", arm_id, "");
    e = store_step_one(s, d, "grant for assignment");
    if (e != ERR_OK)
        return e;
    *grant_id = col_text(s, 0);
    store_reset(s);
    return ERR_OK;
}

enum err store_grant_expired_ids(struct store *st, int64_t now, int limit, char ***out, size_t *n,
                                 struct err_detail *d)
{
    struct store_q *s;
    char **ids;
    size_t len = 0;
    int rc;
    enum err e = store_stmt(st, SQL_EXPIRED, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    if (limit < 1)
        limit = 1;
    bind_int64(s, ":now", now);
    bind_int64(s, ":limit", limit);
    ids = xcalloc((size_t)limit, sizeof(*ids));
    while ((rc = store_step(s)) == STORE_ROW)
        ids[len++] = col_text(s, 0);
    if (rc != STORE_DONE) {
        for (size_t i = 0; i < len; i++)
            free(ids[i]);
        free(ids);
        return store_fail(s, rc, d, "grant expiry");
    }
    store_reset(s);
    *out = ids;
    *n = len;
    return ERR_OK;
}

/* ---- authoritative scopes -------------------------------------------------------------------- */

void store_login_policy_clear(struct store_login_policy *p)
{
    if (p == NULL)
        return;
    free(p->scope);
    free(p->scope_key);
    free(p->created_by);
    *p = (struct store_login_policy){0};
}

static enum err policy_read(struct store *st, const char *sql, const char *scope_key,
                            struct store_login_policy *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    *out = (struct store_login_policy){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":scope", scope_key);
    e = store_step_one(s, d, "login policy");
    if (e == ERR_NOT_FOUND)
        return ERR_OK;
    if (e != ERR_OK)
        return e;
    out->scope = col_text(s, 0);
    out->scope_key = col_text(s, 1);
    out->authoritative = true;
    out->dry_run = col_int64(s, 2) != 0;
    out->created_by = col_text(s, 3);
    out->created_at = col_int64(s, 4);
    store_reset(s);
    return ERR_OK;
}

enum err store_login_policy_get(struct store *st, const char *scope_key,
                                struct store_login_policy *out, struct err_detail *d)
{
    return policy_read(st, SQL_POLICY_GET, scope_key, out, d);
}

enum err store_login_policy_covering(struct store *st, const char *scope_key,
                                     struct store_login_policy *out, struct err_detail *d)
{
    return policy_read(st, SQL_POLICY_COVERING, scope_key, out, d);
}

enum err store_login_policy_put(struct store *st, const char *scope, bool authoritative,
                                bool dry_run, const char *actor, int64_t now, bool *changed,
                                struct err_detail *d)
{
    struct store_q *s;
    int64_t n = 0;
    enum err e = store_stmt(st, authoritative ? SQL_POLICY_PUT : SQL_POLICY_DELETE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":scope", scope);
    if (authoritative) {
        bind_int64(s, ":dry_run", dry_run ? 1 : 0);
        bind_text_or(s, ":actor", actor, "");
        bind_int64(s, ":now", now);
    }
    e = store_exec_count(s, &n, d, "login policy");
    if (changed != NULL)
        *changed = e == ERR_OK && n > 0;
    return e;
}
