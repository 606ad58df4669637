/* store_operations.c: the rows behind 202 + Location: /v1/operations/{id}. Status and steps
 * are written by whoever does the work; what they mean is decided in api/ and reconcile/. */
#include <stdlib.h>

#include "store/store_int.h"

#define OP_COLUMNS                                                                                 \
    "id, kind, target, status, created_by, request_id, steps, error_code, error_message,"          \
    " created_at, updated_at, ended_at"

static const char SQL_CREATE[] =
    "INSERT INTO operations (id, kind, target, target_key, status, created_by, request_id,"
    " steps, error_code, error_message, created_at, updated_at)"
    " VALUES (:id, :kind, :target, lower(:target), coalesce(:status, 'NotStarted'),"
    " coalesce(:created_by, ''), coalesce(:request_id, ''), coalesce(:steps, '[]'),"
    " :error_code, :error_message, :now, :now)";
static const char SQL_GET[] = "SELECT " OP_COLUMNS " FROM operations WHERE id = :id";
static const char SQL_UPDATE[] =
    "UPDATE operations SET status = :status, steps = coalesce(:steps, steps),"
    " error_code = coalesce(:error_code, error_code),"
    " error_message = coalesce(:error_message, error_message), updated_at = :now,"
    " ended_at = CASE WHEN :status IN ('Succeeded', 'Failed', 'PartiallySucceeded', 'Canceled')"
    "            THEN coalesce(ended_at, :now) ELSE NULL END"
    " WHERE id = :id";

static void row_to_operation(struct store_q *s, struct store_operation *o)
{
    o->id = col_text(s, 0);
    o->kind = col_text(s, 1);
    o->target = col_text(s, 2);
    o->status = col_text(s, 3);
    o->created_by = col_text(s, 4);
    o->request_id = col_text(s, 5);
    o->steps = col_text(s, 6);
    o->error_code = col_text(s, 7);
    o->error_message = col_text(s, 8);
    o->created_at = col_int64(s, 9);
    o->updated_at = col_int64(s, 10);
    o->ended_at = col_int64(s, 11);
}

void store_operation_clear(struct store_operation *o)
{
    if (o == NULL)
        return;
    free(o->id);
    free(o->kind);
    free(o->target);
    free(o->status);
    free(o->created_by);
    free(o->request_id);
    free(o->steps);
    free(o->error_code);
    free(o->error_message);
    *o = (struct store_operation){0};
}

enum err store_operation_create(struct store *st, const struct store_operation *o, int64_t now,
                                struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_CREATE, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", o->id);
    bind_text(s, ":kind", o->kind);
    bind_text(s, ":target", o->target);
    bind_text(s, ":status", o->status);
    bind_text(s, ":created_by", o->created_by);
    bind_text(s, ":request_id", o->request_id);
    bind_text(s, ":steps", o->steps);
    bind_text(s, ":error_code", o->error_code);
    bind_text(s, ":error_message", o->error_message);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "operation create");
}

enum err store_operation_get(struct store *st, const char *id, struct store_operation *out,
                             struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *out = (struct store_operation){0};
    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    e = store_step_one(s, d, "operation");
    if (e != ERR_OK)
        return e;
    row_to_operation(s, out);
    store_reset(s);
    return ERR_OK;
}

enum err store_operation_update(struct store *st, const char *id, const char *status,
                                const char *steps, const char *error_code,
                                const char *error_message, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_UPDATE, &s, d);
    int64_t changed;

    if (e != ERR_OK)
        return e;
    bind_text(s, ":id", id);
    bind_text(s, ":status", status);
    bind_text(s, ":steps", steps);
    bind_text(s, ":error_code", error_code);
    bind_text(s, ":error_message", error_message);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &changed, d, "operation update");
    if (e == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "not_found", "no such operation");
    return e;
}
