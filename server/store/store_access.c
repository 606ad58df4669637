/* store_access.c: indexed reads for effective access and grant checks. Lists of ids are bound
 * as one JSON array and expanded with json_each (json_array_elements_text on PostgreSQL), so
 * every statement stays a static string prepared once. Only the two VM login role GUIDs are
 * ever selected: Owner, Contributor and the rest never count as login. A statement SQLite and
 * PostgreSQL cannot share has a text per backend (struct store_sql); the SQLite texts are the
 * ones the access index was measured with. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store_int.h"
#include "vmlogind/model_grant.h"
#include "vmlogind/store_access.h"
#include "vmlogind/xalloc.h"

#define LOGIN_ROLES "('" MODEL_GRANT_ROLE_ADMIN_GUID "', '" MODEL_GRANT_ROLE_USER_GUID "')"
#define LIVE "('pending', 'active', 'revoking')"
#define ROLE_OF_GRANT                                                                              \
    "CASE g.role WHEN 'administrator' THEN '" MODEL_GRANT_ROLE_ADMIN_GUID                          \
    "' ELSE '" MODEL_GRANT_ROLE_USER_GUID "' END"
#define PRINCIPAL_COLUMNS "id, kind, upn, display_name, user_type, account_enabled, deleted"

/* Observed rows, each with the live grant behind it (by deterministic name, or by the ARM id
 * of an assignment the grant adopted). ARM ids compare without case: SQLite's NOCASE, lower()
 * on PostgreSQL, where the index is on lower(assignment_id) and ra.id_key is lower(id). */
#define OBSERVED_AS(where, same_arm_id)                                                            \
    "SELECT ra.scope, ra.scope_key, ra.role_definition_id, ra.principal_id, ra.principal_type,"    \
    " coalesce(g1.id, g2.id), ra.id, coalesce(g1.expires_at, g2.expires_at),"                      \
    " coalesce(g1.activation_id, g2.activation_id)"                                                \
    " FROM role_assignments ra"                                                                    \
    " LEFT JOIN login_grants g1 ON g1.assignment_name = ra.name AND g1.state IN " LIVE             \
    " LEFT JOIN login_grants g2 ON g2.assignment_id IS NOT NULL"                                   \
    " AND " same_arm_id " AND g2.state IN " LIVE " WHERE " where                                   \
    " AND ra.gone_at IS NULL AND ra.role_definition_id IN " LOGIN_ROLES
#define OBSERVED(where) OBSERVED_AS(where, "g2.assignment_id = ra.id_key COLLATE NOCASE")
#define OBSERVED_PG(where) OBSERVED_AS(where, "lower(g2.assignment_id) = ra.id_key")
#define GRANTED(where)                                                                             \
    "SELECT g.scope, g.scope_key, " ROLE_OF_GRANT ", g.principal_id, g.principal_type, g.id,"      \
    " g.assignment_id, g.expires_at, g.activation_id FROM login_grants g WHERE " where             \
    " AND g.state = 'active'"

/* The elements of a JSON array of strings bound to p, as a subquery for IN. */
#define IN_LITE(p) "(SELECT value FROM json_each(" p "))"
#define IN_PG(p) "(SELECT value FROM json_array_elements_text(CAST(" p " AS json)))"

static const struct store_sql SQL_AT_SCOPES = {
    .lite = OBSERVED("ra.scope_key IN " IN_LITE(":keys")) " UNION ALL " GRANTED(
        "g.scope_key IN " IN_LITE(":keys")),
    .pg = OBSERVED_PG("ra.scope_key IN " IN_PG(":keys")) " UNION ALL " GRANTED(
        "g.scope_key IN " IN_PG(":keys")),
};
static const struct store_sql SQL_OF_PRINCIPALS = {
    .lite = OBSERVED("ra.principal_id IN " IN_LITE(":ids")) " UNION ALL " GRANTED(
        "g.principal_id IN " IN_LITE(":ids")),
    .pg = OBSERVED_PG("ra.principal_id IN " IN_PG(":ids")) " UNION ALL " GRANTED(
        "g.principal_id IN " IN_PG(":ids")),
};
static const char SQL_PRINCIPAL_FIND[] = "SELECT " PRINCIPAL_COLUMNS " FROM principals"
                                         " WHERE id = lower(:x) OR upn_key = lower(:x) LIMIT 1";
#define PRINCIPALS_GET(in) "SELECT " PRINCIPAL_COLUMNS " FROM principals WHERE id IN " in
static const struct store_sql SQL_PRINCIPALS_GET = {.lite = PRINCIPALS_GET(IN_LITE(":ids")),
                                                    .pg = PRINCIPALS_GET(IN_PG(":ids"))};
/* UNION (not UNION ALL) ends cycles in nested groups. */
static const char SQL_GROUPS_OF[] =
    "WITH RECURSIVE up(gid) AS ("
    " SELECT group_id FROM group_members WHERE member_id = lower(:id)"
    " UNION SELECT gm.group_id FROM group_members gm JOIN up ON gm.member_id = up.gid)"
    " SELECT gid FROM up";
static const char SQL_KNOWS_MEMBERS[] =
    "SELECT 1 FROM group_members WHERE group_id = lower(:id) LIMIT 1";
#define MEMBERS_OF(in)                                                                             \
    "WITH RECURSIVE m(root, member_id, member_kind) AS ("                                          \
    " SELECT group_id, member_id, member_kind FROM group_members"                                  \
    " WHERE group_id IN " in " UNION SELECT m.root, gm.member_id, gm.member_kind FROM m"           \
    " JOIN group_members gm ON gm.group_id = m.member_id WHERE m.member_kind = 'group')"           \
    " SELECT root, member_id, member_kind FROM m"
static const struct store_sql SQL_MEMBERS_OF = {.lite = MEMBERS_OF(IN_LITE(":ids")),
                                                .pg = MEMBERS_OF(IN_PG(":ids"))};

/* ---- helpers ------------------------------------------------------------------------------- */

static char *ids_json(const char *const *ids, size_t n)
{
    json_t *a = json_array();
    char *text;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(ids[i] ? ids[i] : ""));
    text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

/* Runs s (bound) collecting rows with read(); each row is size bytes in a growing array. */
static enum err collect(struct store_q *s, size_t size, void (*read)(struct store_q *, void *),
                        void (*free_list)(void *, size_t), void **out, size_t *n,
                        struct err_detail *d, const char *what)
{
    char *list = NULL;
    size_t len = 0, cap = 0;
    int rc;

    while ((rc = store_step(s)) == STORE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            list = xreallocarray(list, cap, size);
        }
        memset(list + len * size, 0, size);
        read(s, list + len * size);
        len++;
    }
    if (rc != STORE_DONE) {
        free_list(list, len);
        return store_fail(s, rc, d, what);
    }
    store_reset(s);
    *out = list;
    *n = len;
    return ERR_OK;
}

/* ---- principals ---------------------------------------------------------------------------- */

void store_principal_row_clear(struct store_principal_row *p)
{
    if (p == NULL)
        return;
    free(p->id);
    free(p->kind);
    free(p->upn);
    free(p->display_name);
    free(p->user_type);
    free(p->deleted);
    *p = (struct store_principal_row){0};
}

void store_principal_rows_free(struct store_principal_row *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        store_principal_row_clear(&list[i]);
    free(list);
}

static void read_principal(struct store_q *s, void *p)
{
    struct store_principal_row *r = p;

    r->id = col_text(s, 0);
    r->kind = col_text(s, 1);
    r->upn = col_text(s, 2);
    r->display_name = col_text(s, 3);
    r->user_type = col_text(s, 4);
    r->account_enabled = col_null(s, 5) ? -1 : (int)col_int64(s, 5);
    r->deleted = col_text(s, 6);
}

static void free_principals(void *list, size_t n)
{
    store_principal_rows_free(list, n);
}

enum err store_access_principal_find(struct store *st, const char *upn_or_id,
                                     struct store_principal_row *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PRINCIPAL_FIND, &s, d);

    *out = (struct store_principal_row){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":x", upn_or_id);
    e = store_step_one(s, d, "principal");
    if (e != ERR_OK)
        return e;
    read_principal(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_access_principals_get(struct store *st, const char *const *ids, size_t nids,
                                     struct store_principal_row **out, size_t *n,
                                     struct err_detail *d)
{
    struct store_q *s;
    char *keys;
    enum err e;

    *out = NULL;
    *n = 0;
    if (nids == 0)
        return ERR_OK;
    e = store_stmt_sql(st, &SQL_PRINCIPALS_GET, &s, d);
    if (e != ERR_OK)
        return e;
    keys = ids_json(ids, nids);
    bind_text(s, ":ids", keys);
    e = collect(s, sizeof(**out), read_principal, free_principals, (void **)out, n, d,
                "principals");
    free(keys);
    return e;
}

enum err store_access_groups_of(struct store *st, const char *principal_id, char ***out, size_t *n,
                                struct err_detail *d)
{
    struct store_q *s;
    char **ids = NULL;
    size_t len = 0, cap = 0;
    int rc;
    enum err e = store_stmt(st, SQL_GROUPS_OF, &s, d);

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", principal_id);
    while ((rc = store_step(s)) == STORE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            ids = xreallocarray(ids, cap, sizeof(*ids));
        }
        ids[len++] = col_text(s, 0);
    }
    if (rc != STORE_DONE) {
        for (size_t i = 0; i < len; i++)
            free(ids[i]);
        free(ids);
        return store_fail(s, rc, d, "groups of");
    }
    store_reset(s);
    *out = ids;
    *n = len;
    return ERR_OK;
}

bool store_access_is_member(struct store *st, const char *group_id, const char *principal_id)
{
    char **groups = NULL;
    size_t n = 0;
    bool found;

    if (group_id == NULL || principal_id == NULL)
        return false;
    found = strcasecmp(group_id, principal_id) == 0;
    if (found || store_access_groups_of(st, principal_id, &groups, &n, NULL) != ERR_OK)
        return found;
    for (size_t i = 0; i < n; i++) {
        found = found || strcasecmp(groups[i], group_id) == 0;
        free(groups[i]);
    }
    free(groups);
    return found;
}

bool store_access_knows_members(struct store *st, const char *group_id)
{
    struct store_q *s;
    bool known;
    int rc;

    if (group_id == NULL || store_stmt(st, SQL_KNOWS_MEMBERS, &s, NULL) != ERR_OK)
        return false;
    bind_text(s, ":id", group_id);
    rc = store_step(s);
    known = rc == STORE_ROW;
    store_reset(s);
    return known;
}

/* ---- assignments --------------------------------------------------------------------------- */

void store_access_rows_free(struct store_access_row *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++) {
        free(list[i].scope);
        free(list[i].scope_key);
        free(list[i].role_guid);
        free(list[i].principal_id);
        free(list[i].principal_type);
        free(list[i].grant_id);
        free(list[i].assignment_id);
        free(list[i].activation_id);
    }
    free(list);
}

static void read_access(struct store_q *s, void *p)
{
    struct store_access_row *r = p;

    r->scope = col_text(s, 0);
    r->scope_key = col_text(s, 1);
    r->role_guid = col_text(s, 2);
    r->principal_id = col_text(s, 3);
    r->principal_type = col_text(s, 4);
    r->grant_id = col_text(s, 5);
    r->assignment_id = col_text(s, 6);
    r->expires_at = col_int64(s, 7);
    r->activation_id = col_text(s, 8);
}

static void free_access(void *list, size_t n)
{
    store_access_rows_free(list, n);
}

static enum err access_query(struct store *st, const struct store_sql *sql, const char *param,
                             const char *const *ids, size_t nids, struct store_access_row **out,
                             size_t *n, struct err_detail *d)
{
    struct store_q *s;
    char *keys;
    enum err e;

    *out = NULL;
    *n = 0;
    if (nids == 0)
        return ERR_OK;
    e = store_stmt_sql(st, sql, &s, d);
    if (e != ERR_OK)
        return e;
    keys = ids_json(ids, nids);
    bind_text(s, param, keys);
    e = collect(s, sizeof(**out), read_access, free_access, (void **)out, n, d, "access");
    free(keys);
    return e;
}

enum err store_access_at_scopes(struct store *st, const char *const *scope_keys, size_t nkeys,
                                struct store_access_row **out, size_t *n, struct err_detail *d)
{
    return access_query(st, &SQL_AT_SCOPES, ":keys", scope_keys, nkeys, out, n, d);
}

enum err store_access_of_principals(struct store *st, const char *const *ids, size_t nids,
                                    struct store_access_row **out, size_t *n, struct err_detail *d)
{
    return access_query(st, &SQL_OF_PRINCIPALS, ":ids", ids, nids, out, n, d);
}

/* ---- members ------------------------------------------------------------------------------- */

void store_member_rows_free(struct store_member_row *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++) {
        free(list[i].group_id);
        free(list[i].member_id);
        free(list[i].member_kind);
    }
    free(list);
}

static void read_member(struct store_q *s, void *p)
{
    struct store_member_row *r = p;

    r->group_id = col_text(s, 0);
    r->member_id = col_text(s, 1);
    r->member_kind = col_text(s, 2);
}

static void free_members(void *list, size_t n)
{
    store_member_rows_free(list, n);
}

enum err store_access_members_of(struct store *st, const char *const *group_ids, size_t ngroups,
                                 struct store_member_row **out, size_t *n, struct err_detail *d)
{
    struct store_q *s;
    char *keys;
    enum err e;

    *out = NULL;
    *n = 0;
    if (ngroups == 0)
        return ERR_OK;
    e = store_stmt_sql(st, &SQL_MEMBERS_OF, &s, d);
    if (e != ERR_OK)
        return e;
    keys = ids_json(group_ids, ngroups);
    bind_text(s, ":ids", keys);
    e = collect(s, sizeof(**out), read_member, free_members, (void **)out, n, d, "members");
    free(keys);
    return e;
}

/* ---- whole-table scans for the in-memory access index --------------------------------------- */

static const char SQL_GENERATION[] = "SELECT epoch, gen FROM access_generation WHERE id = 1";
/* PostgreSQL 15 wants a name for each subquery (o, gr), and a boolean after WHERE. */
#define ALL_ASSIGNMENTS(observed, o, granted, g)                                                   \
    "SELECT *, 0 FROM (" observed ")" o " UNION ALL SELECT *, 1 FROM (" granted ")" g
/* The full scans. On PostgreSQL each runs as a cursor, read SCAN_FETCH rows at a time, so a
 * scan of a million rows never holds them all in one result (SQLite steps row by row anyway). */
#define CURSOR "DECLARE vl_scan NO SCROLL CURSOR FOR "
#define SCAN_FETCH "4096"
static const struct store_sql SQL_ALL_ASSIGNMENTS = {
    .lite = ALL_ASSIGNMENTS(OBSERVED("1"), "", GRANTED("1"), ""),
    .pg = CURSOR ALL_ASSIGNMENTS(OBSERVED_PG("true"), " o", GRANTED("true"), " gr"),
};
#define ALL_MEMBERS                                                                                \
    "WITH RECURSIVE m(root, member_id, member_kind) AS ("                                          \
    " SELECT group_id, member_id, member_kind FROM group_members"                                  \
    " UNION SELECT m.root, gm.member_id, gm.member_kind FROM m"                                    \
    " JOIN group_members gm ON gm.group_id = m.member_id WHERE m.member_kind = 'group')"           \
    " SELECT root, member_id, member_kind FROM m"
#define ALL_PRINCIPALS "SELECT " PRINCIPAL_COLUMNS " FROM principals"
#define ALL_VMS "SELECT id_key, gone_at IS NOT NULL, computer_name FROM vms"
static const struct store_sql SQL_ALL_MEMBERS = {.lite = ALL_MEMBERS, .pg = CURSOR ALL_MEMBERS};
static const struct store_sql SQL_ALL_PRINCIPALS = {.lite = ALL_PRINCIPALS,
                                                    .pg = CURSOR ALL_PRINCIPALS};
static const struct store_sql SQL_ALL_VMS = {.lite = ALL_VMS, .pg = CURSOR ALL_VMS};
static const char SQL_SCAN_FETCH[] = "FETCH " SCAN_FETCH " FROM vl_scan";
static const char SQL_SCAN_CLOSE[] = "CLOSE vl_scan";

enum err store_access_generation(struct store *st, int64_t *epoch, int64_t *gen,
                                 struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GENERATION, &s, d);

    if (e != ERR_OK)
        return e;
    e = store_step_one(s, d, "access generation");
    if (e != ERR_OK)
        return e;
    *epoch = col_int64(s, 0);
    *gen = col_int64(s, 1);
    store_reset(s);
    return ERR_OK;
}

struct scan_fn {
    const struct store_access_scan_fns *fns;
    void *arg;
};

/* Hands each row of q to row(); ends early (ERR_UNAVAILABLE) when the caller's stop() says so,
 * looked at every 4096 rows: a full scan takes seconds at 1M assignments and must not hold up a
 * shutdown. *n counts the rows. */
static enum err scan_rows(struct store_q *q, void (*row)(struct store_q *, void *),
                          const struct scan_fn *f, unsigned long *n, struct err_detail *d,
                          const char *what)
{
    int rc;

    while ((rc = store_step(q)) == STORE_ROW) {
        if ((++*n & 4095) == 0 && f->fns->stop != NULL && f->fns->stop(f->arg)) {
            store_reset(q);
            return err_set(d, ERR_UNAVAILABLE, "stopped", "%s: scan stopped", what);
        }
        row(q, (void *)f);
    }
    if (rc != STORE_DONE)
        return store_fail(q, rc, d, what);
    store_reset(q);
    return ERR_OK;
}

/* PostgreSQL: the cursor sql declared, fetched SCAN_FETCH rows at a time until a fetch comes
 * back short, then closed (the transaction's end would close it too). */
static enum err scan_cursor(struct store *st, void (*row)(struct store_q *, void *),
                            const struct scan_fn *f, struct err_detail *d, const char *what)
{
    struct store_q *q;
    unsigned long n = 0, before;
    enum err e = store_stmt(st, SQL_SCAN_FETCH, &q, d);

    while (e == ERR_OK) {
        before = n;
        e = scan_rows(q, row, f, &n, d, what);
        if (e != ERR_OK || n - before < strtoul(SCAN_FETCH, NULL, 10))
            break;
        e = store_stmt(st, SQL_SCAN_FETCH, &q, d);
    }
    if (e == ERR_OK)
        e = store_stmt(st, SQL_SCAN_CLOSE, &q, d);
    return e == ERR_OK ? store_exec_stmt(q, d, what) : e;
}

/* Runs sql and hands each row to row() (scan_rows); on PostgreSQL through its cursor. */
static enum err scan(struct store *st, const struct store_sql *sql,
                     void (*row)(struct store_q *, void *), const struct scan_fn *f,
                     struct err_detail *d, const char *what)
{
    struct store_q *s;
    unsigned long n = 0;
    enum err e = store_stmt_sql(st, sql, &s, d);

    if (e != ERR_OK)
        return e;
    if (store_pg_pool(st) == NULL)
        return scan_rows(s, row, f, &n, d, what);
    e = store_exec_stmt(s, d, what);
    return e == ERR_OK ? scan_cursor(st, row, f, d, what) : e;
}

static void assignment_row(struct store_q *s, void *p)
{
    const struct scan_fn *f = p;
    struct store_access_view v = {
        .scope = col_view(s, 0),
        .scope_key = col_view(s, 1),
        .role_guid = col_view(s, 2),
        .principal_id = col_view(s, 3),
        .principal_type = col_view(s, 4),
        .grant_id = col_view(s, 5),
        .assignment_id = col_view(s, 6),
        .expires_at = col_int64(s, 7),
        .activation_id = col_view(s, 8),
        .granted = (int)col_int64(s, 9) != 0,
    };
    f->fns->assignment(f->arg, &v);
}

static void member_row(struct store_q *s, void *p)
{
    const struct scan_fn *f = p;

    f->fns->member(f->arg, col_view(s, 0), col_view(s, 1), col_view(s, 2));
}

static void vm_row(struct store_q *s, void *p)
{
    const struct scan_fn *f = p;

    f->fns->vm(f->arg, col_view(s, 0), (int)col_int64(s, 1) != 0, col_view(s, 2));
}

static void principal_row(struct store_q *s, void *p)
{
    const struct scan_fn *f = p;
    struct store_principal_row r = {0};

    read_principal(s, &r);
    f->fns->principal(f->arg, &r);
}

enum err store_access_scan(struct store *st, const struct store_access_scan_fns *fns, void *arg,
                           int64_t *epoch, int64_t *gen, struct err_detail *d)
{
    struct scan_fn f = {.fns = fns, .arg = arg};
    enum err e = store_tx_begin_read(st, d);

    if (e != ERR_OK)
        return e;
    e = store_access_generation(st, epoch, gen, d);
    if (e == ERR_OK)
        e = scan(st, &SQL_ALL_PRINCIPALS, principal_row, &f, d, "principals");
    if (e == ERR_OK)
        e = scan(st, &SQL_ALL_MEMBERS, member_row, &f, d, "members");
    if (e == ERR_OK)
        e = scan(st, &SQL_ALL_ASSIGNMENTS, assignment_row, &f, d, "assignments");
    if (e == ERR_OK && fns->vm != NULL)
        e = scan(st, &SQL_ALL_VMS, vm_row, &f, d, "vms");
    if (e == ERR_OK)
        return store_tx_commit(st, d);
    store_tx_rollback(st);
    return e;
}
