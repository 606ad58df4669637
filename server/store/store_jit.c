/* store_jit.c: eligibilities, their approvers, and activations (migration 0016). Reads join an
 * activation's grant state so an answer tells an activation whose grant ran out; deciding what
 * a state means is left to api/ and reconcile/. */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "store/store_seen.h"
#include "vmlogind/store_jit.h"
#include "vmlogind/xalloc.h"

/* The approvers as a JSON array in key order, written alike by both backends. */
#define ELIG_COLUMNS_WITH(approvers)                                                               \
    "e.id, e.scope, e.scope_key, e.role, e.principal_id, e.principal_type, e.max_duration_s,"      \
    " e.require_approval, e.require_justification, e.require_ticket, e.expires_at,"                \
    " e.justification, e.created_by, e.created_at, (SELECT " approvers                             \
    " FROM eligibility_approvers a WHERE a.eligibility_id = e.id)"
#define ELIG_COLUMNS_LITE ELIG_COLUMNS_WITH("json_group_array(approver_id)")
#define ELIG_COLUMNS_PG                                                                            \
    ELIG_COLUMNS_WITH("coalesce('[' || string_agg(to_json(approver_id)::text, ','"                 \
                      " ORDER BY approver_id) || ']', '[]')")
#define ACT_COLUMNS                                                                                \
    "a.id, a.eligibility_id, a.scope, a.scope_key, a.role, a.principal_id, a.requested_by,"        \
    " a.duration_s, a.justification, a.ticket, a.state, a.approvers, a.pending_until,"             \
    " a.decided_by, a.reason, a.grant_id, a.expires_at, a.generation, a.created_at,"               \
    " a.updated_at, g.state"
#define ACT_FROM " FROM activations a LEFT JOIN login_grants g ON g.id = a.grant_id"

static const char SQL_ELIG_INSERT[] =
    "INSERT INTO eligibilities (id, scope, scope_key, role, principal_id, principal_type,"
    " max_duration_s, require_approval, require_justification, require_ticket, expires_at,"
    " justification, created_by, created_at)"
    " VALUES (:id, :scope, lower(:scope), :role, lower(:principal_id), :principal_type,"
    " :max_duration_s, :require_approval, :require_justification, :require_ticket, :expires_at,"
    " coalesce(:justification, ''), :created_by, :now)";
static const struct store_sql SQL_APPROVER_INSERT = {
    .lite = "INSERT OR IGNORE INTO eligibility_approvers (eligibility_id, approver_id)"
            " VALUES (:id, lower(:approver))",
    .pg = "INSERT INTO eligibility_approvers (eligibility_id, approver_id)"
          " VALUES (:id, lower(:approver)) ON CONFLICT DO NOTHING",
};
#define ELIG_GET(columns) "SELECT " columns " FROM eligibilities e WHERE e.id = lower(:id)"
static const struct store_sql SQL_ELIG_GET = {.lite = ELIG_GET(ELIG_COLUMNS_LITE),
                                              .pg = ELIG_GET(ELIG_COLUMNS_PG)};
static const char SQL_ELIG_DELETE[] = "DELETE FROM eligibilities WHERE id = lower(:id)";
#define ELIG_PAGE(columns)                                                                         \
    "SELECT " columns " FROM eligibilities e WHERE e.id > :after"                                  \
    " AND (CAST(:scope_key AS TEXT) IS NULL OR e.scope_key = :scope_key)"                          \
    " AND (CAST(:principal AS TEXT) IS NULL OR e.principal_id = lower(:principal))"                \
    " ORDER BY e.id LIMIT :limit"
static const struct store_sql SQL_ELIG_PAGE = {.lite = ELIG_PAGE(ELIG_COLUMNS_LITE),
                                               .pg = ELIG_PAGE(ELIG_COLUMNS_PG)};
#define ELIG_COVERING(columns)                                                                     \
    "SELECT " columns " FROM eligibilities e WHERE e.role = :role"                                 \
    " AND (e.expires_at IS NULL OR e.expires_at > :now)"                                           \
    " AND (e.scope_key = lower(:scope)"                                                            \
    "      OR substr(lower(:scope), 1, length(e.scope_key) + 1) = e.scope_key || '/')"             \
    " ORDER BY length(e.scope_key) DESC, e.id LIMIT 100"
static const struct store_sql SQL_ELIG_COVERING = {.lite = ELIG_COVERING(ELIG_COLUMNS_LITE),
                                                   .pg = ELIG_COVERING(ELIG_COLUMNS_PG)};

static const char SQL_ACT_INSERT[] =
    "INSERT INTO activations (id, eligibility_id, scope, scope_key, role, principal_id,"
    " requested_by, duration_s, justification, ticket, state, approvers, pending_until,"
    " grant_id, expires_at, created_at, updated_at)"
    " VALUES (:id, :eligibility_id, :scope, lower(:scope), :role, lower(:principal_id),"
    " :requested_by, :duration_s, coalesce(:justification, ''), coalesce(:ticket, ''), :state,"
    " coalesce(:approvers, '[]'), :pending_until, :grant_id, :expires_at, :now, :now)";
static const char SQL_ACT_GET[] = "SELECT " ACT_COLUMNS ACT_FROM " WHERE a.id = lower(:id)";
static const char SQL_ACT_PAGE[] = "SELECT " ACT_COLUMNS ACT_FROM " WHERE a.id > :after"
                                   " AND (CAST(:state AS TEXT) IS NULL OR a.state = :state)"
                                   " ORDER BY a.id LIMIT :limit";
static const char SQL_ACT_UPDATE[] =
    "UPDATE activations SET state = coalesce(:state, state),"
    " decided_by = coalesce(:decided_by, decided_by), reason = coalesce(:reason, reason),"
    " grant_id = coalesce(:grant_id, grant_id),"
    " expires_at = CASE WHEN CAST(:expires_at AS BIGINT) > 0 THEN :expires_at"
    "  ELSE expires_at END,"
    " generation = generation + 1, updated_at = :now"
    " WHERE id = lower(:id) AND generation = :gen";
static const char SQL_ACT_EXISTS[] = "SELECT 1 FROM activations WHERE id = lower(:id)";

/* ---- eligibilities ------------------------------------------------------------------------- */

static void row_to_elig(struct store_q *s, void *out)
{
    struct store_eligibility *e = out;

    e->id = col_text(s, 0);
    e->scope = col_text(s, 1);
    e->scope_key = col_text(s, 2);
    e->role = col_text(s, 3);
    e->principal_id = col_text(s, 4);
    e->principal_type = col_text(s, 5);
    e->max_duration_s = col_int64(s, 6);
    e->require_approval = col_int64(s, 7) != 0;
    e->require_justification = col_int64(s, 8) != 0;
    e->require_ticket = col_int64(s, 9) != 0;
    e->expires_at = col_int64(s, 10);
    e->justification = col_text(s, 11);
    e->created_by = col_text(s, 12);
    e->created_at = col_int64(s, 13);
    e->approvers = col_text(s, 14);
}

void store_eligibility_clear(struct store_eligibility *e)
{
    if (e == NULL)
        return;
    free(e->id);
    free(e->scope);
    free(e->scope_key);
    free(e->role);
    free(e->principal_id);
    free(e->principal_type);
    free(e->justification);
    free(e->created_by);
    free(e->approvers);
    *e = (struct store_eligibility){0};
}

static void clear_elig(void *p)
{
    store_eligibility_clear(p);
}

void store_eligibility_list_free(struct store_eligibility *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_eligibility_clear(&list[i]);
    free(list);
}

enum err store_eligibility_insert(struct store *st, const struct store_eligibility *e,
                                  const char *const *approvers, size_t napprovers, int64_t now,
                                  struct err_detail *d)
{
    struct store_q *s;
    enum err rc = store_stmt(st, SQL_ELIG_INSERT, &s, d);

    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", e->id);
    bind_text(s, ":scope", e->scope);
    bind_text(s, ":role", e->role);
    bind_text(s, ":principal_id", e->principal_id);
    bind_text(s, ":principal_type", e->principal_type);
    bind_int64(s, ":max_duration_s", e->max_duration_s);
    bind_int64(s, ":require_approval", e->require_approval ? 1 : 0);
    bind_int64(s, ":require_justification", e->require_justification ? 1 : 0);
    bind_int64(s, ":require_ticket", e->require_ticket ? 1 : 0);
    bind_time(s, ":expires_at", e->expires_at);
    bind_text(s, ":justification", e->justification);
    bind_text(s, ":created_by", e->created_by);
    bind_int64(s, ":now", now);
    rc = store_exec_stmt(s, d, "eligibility insert");
    for (size_t i = 0; rc == ERR_OK && i < napprovers; i++) {
        rc = store_stmt_sql(st, &SQL_APPROVER_INSERT, &s, d);
        if (rc != ERR_OK)
            break;
        bind_text(s, ":id", e->id);
        bind_text(s, ":approver", approvers[i]);
        rc = store_exec_stmt(s, d, "eligibility approver insert");
    }
    return rc;
}

enum err store_eligibility_get(struct store *st, const char *id, struct store_eligibility *out,
                               struct err_detail *d)
{
    struct store_q *s;
    enum err rc = store_stmt_sql(st, &SQL_ELIG_GET, &s, d);

    *out = (struct store_eligibility){0};
    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", id);
    rc = store_step_one(s, d, "eligibility");
    if (rc != ERR_OK)
        return rc;
    row_to_elig(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_eligibility_delete(struct store *st, const char *id, struct err_detail *d)
{
    struct store_q *s;
    int64_t changed = 0;
    enum err rc = store_stmt(st, SQL_ELIG_DELETE, &s, d);

    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", id);
    rc = store_exec_count(s, &changed, d, "eligibility delete");
    if (rc == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "not_found", "no eligibility with that id");
    return rc;
}

/* The page's next cursor: the last id when the page is full. */
static char *next_of(const char *last_id, size_t n, int limit)
{
    return n == (size_t)limit && last_id != NULL ? xstrdup(last_id) : NULL;
}

enum err store_eligibility_list(struct store *st, const char *scope_key, const char *principal,
                                const char *after, int limit, struct store_eligibility **out,
                                size_t *n, char **next_after, struct err_detail *d)
{
    struct store_q *s;
    enum err rc;

    *out = NULL;
    *n = 0;
    *next_after = NULL;
    if (limit < 1 || limit > 1000)
        return err_set(d, ERR_INVALID, "invalid_limit", "limit is 1 to 1000");
    rc = store_stmt_sql(st, &SQL_ELIG_PAGE, &s, d);
    if (rc != ERR_OK)
        return rc;
    bind_text_or(s, ":after", after, "");
    bind_text(s, ":scope_key", scope_key);
    bind_text(s, ":principal", principal);
    bind_int64(s, ":limit", limit);
    rc = store_collect(s, sizeof(**out), row_to_elig, clear_elig, (void **)out, n, d,
                       "eligibility list");
    if (rc == ERR_OK && *n > 0)
        *next_after = next_of((*out)[*n - 1].id, *n, limit);
    return rc;
}

enum err store_eligibility_covering(struct store *st, const char *scope_key, const char *role,
                                    int64_t now, struct store_eligibility **out, size_t *n,
                                    struct err_detail *d)
{
    struct store_q *s;
    enum err rc = store_stmt_sql(st, &SQL_ELIG_COVERING, &s, d);

    *out = NULL;
    *n = 0;
    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":scope", scope_key);
    bind_text(s, ":role", role);
    bind_int64(s, ":now", now);
    return store_collect(s, sizeof(**out), row_to_elig, clear_elig, (void **)out, n, d,
                         "eligibility covering");
}

/* ---- activations --------------------------------------------------------------------------- */

static void row_to_act(struct store_q *s, void *out)
{
    struct store_activation *a = out;

    a->id = col_text(s, 0);
    a->eligibility_id = col_text(s, 1);
    a->scope = col_text(s, 2);
    a->scope_key = col_text(s, 3);
    a->role = col_text(s, 4);
    a->principal_id = col_text(s, 5);
    a->requested_by = col_text(s, 6);
    a->duration_s = col_int64(s, 7);
    a->justification = col_text(s, 8);
    a->ticket = col_text(s, 9);
    a->state = col_text(s, 10);
    a->approvers = col_text(s, 11);
    a->pending_until = col_int64(s, 12);
    a->decided_by = col_text(s, 13);
    a->reason = col_text(s, 14);
    a->grant_id = col_text(s, 15);
    a->expires_at = col_int64(s, 16);
    a->generation = col_int64(s, 17);
    a->created_at = col_int64(s, 18);
    a->updated_at = col_int64(s, 19);
    a->grant_state = col_text(s, 20);
}

void store_activation_clear(struct store_activation *a)
{
    if (a == NULL)
        return;
    free(a->id);
    free(a->eligibility_id);
    free(a->scope);
    free(a->scope_key);
    free(a->role);
    free(a->principal_id);
    free(a->requested_by);
    free(a->justification);
    free(a->ticket);
    free(a->state);
    free(a->approvers);
    free(a->decided_by);
    free(a->reason);
    free(a->grant_id);
    free(a->grant_state);
    *a = (struct store_activation){0};
}

static void clear_act(void *p)
{
    store_activation_clear(p);
}

void store_activation_list_free(struct store_activation *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_activation_clear(&list[i]);
    free(list);
}

enum err store_activation_insert(struct store *st, const struct store_activation *a, int64_t now,
                                 struct err_detail *d)
{
    struct store_q *s;
    enum err rc = store_stmt(st, SQL_ACT_INSERT, &s, d);

    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", a->id);
    bind_text(s, ":eligibility_id", a->eligibility_id);
    bind_text(s, ":scope", a->scope);
    bind_text(s, ":role", a->role);
    bind_text(s, ":principal_id", a->principal_id);
    bind_text(s, ":requested_by", a->requested_by);
    bind_int64(s, ":duration_s", a->duration_s);
    bind_text(s, ":justification", a->justification);
    bind_text(s, ":ticket", a->ticket);
    bind_text(s, ":state", a->state);
    bind_text(s, ":approvers", a->approvers);
    bind_time(s, ":pending_until", a->pending_until);
    bind_text(s, ":grant_id", a->grant_id);
    bind_time(s, ":expires_at", a->expires_at);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "activation insert");
}

enum err store_activation_get(struct store *st, const char *id, struct store_activation *out,
                              struct err_detail *d)
{
    struct store_q *s;
    enum err rc = store_stmt(st, SQL_ACT_GET, &s, d);

    *out = (struct store_activation){0};
    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", id);
    rc = store_step_one(s, d, "activation");
    if (rc != ERR_OK)
        return rc;
    row_to_act(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_activation_list(struct store *st, const char *state, const char *after, int limit,
                               struct store_activation **out, size_t *n, char **next_after,
                               struct err_detail *d)
{
    struct store_q *s;
    enum err rc;

    *out = NULL;
    *n = 0;
    *next_after = NULL;
    if (limit < 1 || limit > 1000)
        return err_set(d, ERR_INVALID, "invalid_limit", "limit is 1 to 1000");
    rc = store_stmt(st, SQL_ACT_PAGE, &s, d);
    if (rc != ERR_OK)
        return rc;
    bind_text_or(s, ":after", after, "");
    bind_text(s, ":state", state);
    bind_int64(s, ":limit", limit);
    rc = store_collect(s, sizeof(**out), row_to_act, clear_act, (void **)out, n, d,
                       "activation list");
    if (rc == ERR_OK && *n > 0)
        *next_after = next_of((*out)[*n - 1].id, *n, limit);
    return rc;
}

enum err store_activation_update(struct store *st, const char *id, int64_t gen,
                                 const struct store_activation_update *u, int64_t now,
                                 struct err_detail *d)
{
    struct store_q *s;
    int64_t changed = 0;
    enum err rc = store_stmt(st, SQL_ACT_UPDATE, &s, d);

    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", id);
    bind_int64(s, ":gen", gen);
    bind_text(s, ":state", u->state);
    bind_text(s, ":decided_by", u->decided_by);
    bind_text(s, ":reason", u->reason);
    bind_text(s, ":grant_id", u->grant_id);
    bind_int64(s, ":expires_at", u->expires_at);
    bind_int64(s, ":now", now);
    rc = store_exec_count(s, &changed, d, "activation update");
    if (rc != ERR_OK || changed == 1)
        return rc;
    rc = store_stmt(st, SQL_ACT_EXISTS, &s, d);
    if (rc != ERR_OK)
        return rc;
    bind_text(s, ":id", id);
    rc = store_step_one(s, d, "activation");
    if (rc == ERR_OK) {
        store_reset(s);
        return err_set(d, ERR_CONFLICT, "activation_changed", "the activation changed meanwhile");
    }
    return rc;
}
