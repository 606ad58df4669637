/* store_tasks.c: the reconciler's durable queue. A task is leased by one statement that
 * picks the earliest due pending row and stamps the lease (UPDATE ... WHERE id = (SELECT ...
 * LIMIT 1) RETURNING), which maps onto PostgreSQL's FOR UPDATE SKIP LOCKED unchanged in shape.
 * Every change after the lease is conditioned on the lease owner, so a worker whose lease
 * expired and was taken over learns it (ERR_CONFLICT) instead of overwriting. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/xalloc.h"

#define TASK_COLUMNS                                                                               \
    "id, kind, key, state, due_at, attempts, lease_owner, lease_until, last_error, op_url,"        \
    " payload, created_at, updated_at"

/* A task leased right now keeps its lease and due time; it is marked to run again. */
static const char SQL_UPSERT[] =
    "INSERT INTO tasks (kind, key, state, due_at, payload, created_at, updated_at)"
    " VALUES (:kind, :key, 'pending', :due_at, coalesce(:payload, '{}'), :now, :now)"
    " ON CONFLICT (kind, key) DO UPDATE SET"
    "  payload = coalesce(:payload, tasks.payload),"
    "  updated_at = :now,"
    "  rewake = CASE WHEN tasks.lease_owner IS NOT NULL AND tasks.lease_until > :now"
    "           THEN 1 ELSE 0 END,"
    "  due_at = CASE WHEN tasks.lease_owner IS NOT NULL AND tasks.lease_until > :now"
    "           THEN tasks.due_at"
    "           WHEN tasks.state = 'pending' AND tasks.due_at < :due_at THEN tasks.due_at"
    "           ELSE :due_at END,"
    "  state = 'pending'";

/* PostgreSQL: the subquery gains FOR UPDATE SKIP LOCKED. */
#define LEASE_SET                                                                                  \
    "UPDATE tasks SET lease_owner = :owner, lease_until = :until, due_at = :until,"                \
    " attempts = attempts + 1, rewake = 0, updated_at = :now"
/* On PostgreSQL concurrent leasers skip each other's row (SKIP LOCKED) instead of waiting for
 * it, as SQLite's single writer never had to; the lease expires by due_at = lease_until alike. */
static const struct store_sql SQL_LEASE = {
    .lite =
        LEASE_SET " WHERE id = (SELECT id FROM tasks"
                  "  WHERE state = 'pending' AND due_at <= :now AND (:kind IS NULL OR kind = :kind)"
                  "  AND (:key IS NULL OR key = :key)"
                  "  ORDER BY due_at, id LIMIT 1)"
                  " RETURNING " TASK_COLUMNS,
    .pg = LEASE_SET " WHERE id = (SELECT id FROM tasks"
                    "  WHERE state = 'pending' AND due_at <= :now"
                    "  AND (CAST(:kind AS text) IS NULL OR kind = :kind)"
                    "  AND (CAST(:key AS text) IS NULL OR key = :key)"
                    "  ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                    " RETURNING " TASK_COLUMNS,
};

static const char SQL_RENEW[] =
    "UPDATE tasks SET lease_until = :until, due_at = :until, op_url = coalesce(:op_url, op_url),"
    " updated_at = :now"
    " WHERE id = :id AND lease_owner = :owner AND state = 'pending'";

static const char SQL_COMPLETE[] =
    "UPDATE tasks SET state = CASE WHEN rewake = 1 THEN 'pending' ELSE 'done' END,"
    " due_at = CASE WHEN rewake = 1 THEN :now ELSE due_at END,"
    " rewake = 0, attempts = 0, lease_owner = NULL, lease_until = NULL, last_error = NULL,"
    " op_url = NULL, updated_at = :now"
    " WHERE id = :id AND lease_owner = :owner AND state = 'pending'";

static const char SQL_RESCHEDULE[] =
    "UPDATE tasks SET due_at = CASE WHEN rewake = 1 THEN CAST(:now AS BIGINT)"
    " ELSE CAST(:due_at AS BIGINT) END,"
    " rewake = 0, lease_owner = NULL, lease_until = NULL, last_error = :last_error,"
    " op_url = :op_url, updated_at = :now"
    " WHERE id = :id AND lease_owner = :owner AND state = 'pending'";

static const char SQL_FAIL[] =
    "UPDATE tasks SET state = CASE WHEN rewake = 1 THEN 'pending' ELSE 'dead' END,"
    " due_at = CASE WHEN rewake = 1 THEN :now ELSE due_at END,"
    " rewake = 0, lease_owner = NULL, lease_until = NULL, last_error = :last_error,"
    " updated_at = :now"
    " WHERE id = :id AND lease_owner = :owner AND state = 'pending'";

#define RELEASE_SET(attempts)                                                                      \
    "UPDATE tasks SET due_at = :now, attempts = " attempts ", rewake = 0,"                         \
    " lease_owner = NULL, lease_until = NULL, updated_at = :now"                                   \
    " WHERE id = :id AND lease_owner = :owner AND state = 'pending'"
static const struct store_sql SQL_RELEASE = {
    .lite = RELEASE_SET("max(attempts - 1, 0)"),
    .pg = RELEASE_SET("greatest(attempts - 1, 0)"),
};

#define OWNERS_WHERE                                                                               \
    "SELECT DISTINCT lease_owner FROM tasks WHERE state = 'pending' AND lease_owner IS NOT NULL"   \
    " AND lease_until > :now"
static const struct store_sql SQL_OWNERS = {
    .lite = OWNERS_WHERE " AND substr(lease_owner, 1, length(:prefix)) = :prefix",
    .pg = OWNERS_WHERE " AND substr(lease_owner, 1, length(CAST(:prefix AS text))) = :prefix",
};

static const char SQL_RELEASE_OWNER[] =
    "UPDATE tasks SET due_at = :now, lease_owner = NULL, lease_until = NULL, updated_at = :now"
    " WHERE lease_owner = :owner AND state = 'pending'";

static const char SQL_GET[] =
    "SELECT " TASK_COLUMNS " FROM tasks WHERE kind = :kind AND key = :key";

static const char SQL_COUNT_DUE[] =
    "SELECT count(*) FROM tasks WHERE state = 'pending' AND due_at <= :now";

static enum store_task_state state_of(const char *s)
{
    if (s != NULL && s[0] == 'd')
        return s[1] == 'o' ? STORE_TASK_DONE : STORE_TASK_DEAD;
    return STORE_TASK_PENDING;
}

static void row_to_task(struct store_q *s, struct store_task *t)
{
    t->id = col_int64(s, 0);
    t->kind = col_text(s, 1);
    t->key = col_text(s, 2);
    t->state = state_of(col_view(s, 3));
    t->due_at = col_int64(s, 4);
    t->attempts = (int)col_int64(s, 5);
    t->lease_owner = col_text(s, 6);
    t->lease_until = col_int64(s, 7);
    t->last_error = col_text(s, 8);
    t->op_url = col_text(s, 9);
    t->payload = col_text(s, 10);
    t->created_at = col_int64(s, 11);
    t->updated_at = col_int64(s, 12);
}

void store_task_clear(struct store_task *t)
{
    if (t == NULL)
        return;
    free(t->kind);
    free(t->key);
    free(t->lease_owner);
    free(t->last_error);
    free(t->op_url);
    free(t->payload);
    *t = (struct store_task){0};
}

enum err store_task_upsert(struct store *st, const char *kind, const char *key, int64_t due_at,
                           const char *payload, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_UPSERT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":kind", kind);
    bind_text(s, ":key", key);
    bind_int64(s, ":due_at", due_at);
    bind_text(s, ":payload", payload);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "task upsert");
}

/* Reads the one row a SELECT or RETURNING statement yields; ERR_NOT_FOUND if none. */
static enum err one_task(struct store_q *s, struct store_task *out, struct err_detail *d,
                         const char *what)
{
    enum err e = store_step_one(s, d, what);

    *out = (struct store_task){0};
    if (e != ERR_OK)
        return e;
    row_to_task(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_task_lease_key(struct store *st, const char *kind, const char *key,
                              const char *owner, int64_t now, int64_t lease_ms,
                              struct store_task *out, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt_sql(st, &SQL_LEASE, &s, d);

    *out = (struct store_task){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":owner", owner);
    bind_int64(s, ":until", now + lease_ms);
    bind_int64(s, ":now", now);
    bind_text(s, ":kind", kind);
    bind_text(s, ":key", key);
    return one_task(s, out, d, "task lease");
}

enum err store_task_lease(struct store *st, const char *kind, const char *owner, int64_t now,
                          int64_t lease_ms, struct store_task *out, struct err_detail *d)
{
    return store_task_lease_key(st, kind, NULL, owner, now, lease_ms, out, d);
}

/* Runs a lease-conditioned update; ERR_CONFLICT when the caller no longer holds the lease. */
static enum err by_owner(struct store_q *s, int64_t id, const char *owner, int64_t now,
                         struct err_detail *d, const char *what)
{
    int64_t n;
    enum err e;

    bind_int64(s, ":id", id);
    bind_text(s, ":owner", owner);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &n, d, what);
    if (e == ERR_OK && n == 0)
        return err_set(d, ERR_CONFLICT, "lease_lost", "%s: task %lld is not leased by %s", what,
                       (long long)id, owner);
    return e;
}

enum err store_task_renew(struct store *st, int64_t id, const char *owner, int64_t now,
                          int64_t lease_ms, const char *op_url, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_RENEW, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":until", now + lease_ms);
    bind_text(s, ":op_url", op_url);
    return by_owner(s, id, owner, now, d, "task renew");
}

enum err store_task_complete(struct store *st, int64_t id, const char *owner, int64_t now,
                             struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_COMPLETE, &s, d);

    if (e != ERR_OK)
        return e;
    return by_owner(s, id, owner, now, d, "task complete");
}

enum err store_task_reschedule(struct store *st, int64_t id, const char *owner, int64_t now,
                               int64_t delay_ms, const char *last_error, const char *op_url,
                               struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_RESCHEDULE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_int64(s, ":due_at", now + (delay_ms > 0 ? delay_ms : 0));
    bind_text(s, ":last_error", last_error);
    bind_text(s, ":op_url", op_url);
    return by_owner(s, id, owner, now, d, "task reschedule");
}

enum err store_task_fail(struct store *st, int64_t id, const char *owner, int64_t now,
                         const char *last_error, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_FAIL, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":last_error", last_error);
    return by_owner(s, id, owner, now, d, "task fail");
}

enum err store_task_release(struct store *st, int64_t id, const char *owner, int64_t now,
                            struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt_sql(st, &SQL_RELEASE, &s, d);

    if (e != ERR_OK)
        return e;
    return by_owner(s, id, owner, now, d, "task release");
}

enum err store_task_get(struct store *st, const char *kind, const char *key, struct store_task *out,
                        struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_task){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":kind", kind);
    bind_text(s, ":key", key);
    return one_task(s, out, d, "task get");
}

enum err store_task_count_due(struct store *st, int64_t now, int64_t *count, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_COUNT_DUE, &s, d);
    int rc;

    *count = 0;
    if (e != ERR_OK)
        return e;
    bind_int64(s, ":now", now);
    rc = store_step(s);
    if (rc != STORE_ROW)
        return store_fail(s, rc, d, "task count");
    *count = col_int64(s, 0);
    store_reset(s);
    return ERR_OK;
}

int64_t store_task_backoff_ms(int attempts, int64_t base_ms, int64_t cap_ms, double jitter_seed)
{
    int64_t delay = base_ms;

    for (int i = 1; i < attempts && delay < cap_ms; i++)
        delay *= 2;
    if (delay > cap_ms)
        delay = cap_ms;
    if (jitter_seed > 0 && jitter_seed < 1)
        delay -= (int64_t)((double)delay * 0.2 * jitter_seed);
    return delay;
}

void store_strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

enum err store_task_lease_owners(struct store *st, const char *prefix, int64_t now, char ***owners,
                                 struct err_detail *d)
{
    struct store_q *s;
    size_t n = 0;
    char **v = xcalloc(1, sizeof(*v));
    enum err e = store_stmt_sql(st, &SQL_OWNERS, &s, d);
    int rc;

    *owners = NULL;
    if (e != ERR_OK) {
        free(v);
        return e;
    }
    bind_text(s, ":prefix", prefix);
    bind_int64(s, ":now", now);
    while ((rc = store_step(s)) == STORE_ROW) {
        v = xreallocarray(v, xadd(n, 2), sizeof(*v));
        v[n++] = col_text(s, 0);
        v[n] = NULL;
    }
    if (rc != STORE_DONE) {
        store_strv_free(v);
        return store_fail(s, rc, d, "task lease owners");
    }
    store_reset(s);
    *owners = v;
    return ERR_OK;
}

enum err store_task_release_owner(struct store *st, const char *owner, int64_t now, int64_t *n,
                                  struct err_detail *d)
{
    struct store_q *s;
    int64_t changed = 0;
    enum err e = store_stmt(st, SQL_RELEASE_OWNER, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":owner", owner);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &changed, d, "task release owner");
    if (n != NULL)
        *n = changed;
    return e;
}
