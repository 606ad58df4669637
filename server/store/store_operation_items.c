/* store_operation_items.c: per-item results of an operation over many VMs (operation_items):
 * what the API lists under an operation and what its overall status is rolled up from. The
 * roll-up rule itself is reconcile/'s. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_login.h"
#include "vmlogind/xalloc.h"

static const char SQL_ADD[] =
    "INSERT INTO operation_items (operation_id, item_key, item, status, updated_at)"
    " VALUES (:op, lower(:item), :item, 'NotStarted', :now)"
    " ON CONFLICT (operation_id, item_key) DO NOTHING";
static const char SQL_SET[] =
    "UPDATE operation_items SET status = :status, step = coalesce(:step, ''),"
    " error_code = :code, error_message = :msg, updated_at = :now,"
    " client_request_id = coalesce(:crid, client_request_id),"
    " azure_request_id = CASE WHEN :crid IS NULL THEN azure_request_id ELSE :arid END"
    " WHERE operation_id = :op AND item_key = lower(:item)";
static const char SQL_LIST[] =
    "SELECT item, status, step, error_code, error_message, updated_at, client_request_id,"
    " azure_request_id FROM operation_items"
    " WHERE operation_id = :op ORDER BY item_key";

void store_operation_items_free(struct store_operation_item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++) {
        free(items[i].item);
        free(items[i].status);
        free(items[i].step);
        free(items[i].error_code);
        free(items[i].error_message);
        free(items[i].client_request_id);
        free(items[i].azure_request_id);
    }
    free(items);
}

enum err store_operation_item_add(struct store *st, const char *operation_id, const char *item,
                                  int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_ADD, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":op", operation_id);
    bind_text(s, ":item", item);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "operation item add");
}

enum err store_operation_item_set(struct store *st, const char *operation_id, const char *item,
                                  const char *status, const char *step, const char *error_code,
                                  const char *error_message, const struct store_call_ids *ids,
                                  int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_SET, &s, d);
    int64_t changed = 0;

    if (e != ERR_OK)
        return e;
    bind_text(s, ":op", operation_id);
    bind_text(s, ":item", item);
    bind_text(s, ":status", status);
    bind_text(s, ":step", step);
    bind_text(s, ":code", error_code);
    bind_text(s, ":msg", error_message);
    bind_text(s, ":crid", ids != NULL && ids->client_request_id[0] ? ids->client_request_id : NULL);
    bind_text(s, ":arid", ids != NULL && ids->azure_request_id[0] ? ids->azure_request_id : NULL);
    bind_int64(s, ":now", now);
    e = store_exec_count(s, &changed, d, "operation item set");
    if (e == ERR_OK && changed == 0)
        return err_set(d, ERR_NOT_FOUND, "not_found", "no such operation item");
    return e;
}

enum err store_operation_items_list(struct store *st, const char *operation_id,
                                    struct store_operation_item **out, size_t *n,
                                    struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_LIST, &s, d);
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":op", operation_id);
    *out = xcalloc(cap, sizeof(**out));
    while ((rc = store_step(s)) == STORE_ROW) {
        struct store_operation_item *it;
        if (*n == cap) {
            *out = xreallocarray(*out, xmul(2, cap), sizeof(**out));
            cap *= 2;
        }
        it = &(*out)[(*n)++];
        it->item = col_text(s, 0);
        it->status = col_text(s, 1);
        it->step = col_text(s, 2);
        it->error_code = col_text(s, 3);
        it->error_message = col_text(s, 4);
        it->updated_at = col_int64(s, 5);
        it->client_request_id = col_text(s, 6);
        it->azure_request_id = col_text(s, 7);
    }
    if (rc != STORE_DONE) {
        store_operation_items_free(*out, *n);
        *out = NULL;
        *n = 0;
        return store_fail(s, rc, d, "operation items list");
    }
    store_reset(s);
    return ERR_OK;
}
