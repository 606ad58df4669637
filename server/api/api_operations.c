/* api_operations.c: GET /v1/operations/{id}, the resource behind every 202 + Location: status,
 * steps, error, and for operations over VMs each VM's result with the diagnosis of a failure
 * (cause, meaning, fix). Written by the reconciler; this file only reads and renders. */
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_login.h"
#include "vmlogind/store.h"
#include "vmlogind/store_login.h"

static json_t *time_json(int64_t ms)
{
    char buf[32];

    return ms > 0 ? json_string(clock_fmt_rfc3339(ms, buf, sizeof(buf))) : json_null();
}

static json_t *item_json(const struct store_operation_item *it, const char *cloud)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:o}", "id", it->item, "status", it->status, "step",
                          it->step ? it->step : "", "updatedAt", time_json(it->updated_at));

    /* the Azure call behind the step, for a support case: only ids, never the call's content */
    if (it->client_request_id != NULL)
        json_object_set_new(j, "clientRequestId", json_string(it->client_request_id));
    if (it->azure_request_id != NULL)
        json_object_set_new(j, "azureRequestId", json_string(it->azure_request_id));

    if (it->error_code != NULL && strcmp(it->error_code, "note") == 0) {
        json_object_set_new(j, "note", json_string(it->error_message ? it->error_message : ""));
    } else if (it->error_code != NULL) {
        struct model_diagnosis dg;
        json_t *e;
        model_diagnose_cause(it->error_code, cloud, &dg);
        e = json_pack("{s:s, s:s, s:s, s:s, s:b}", "code", it->error_code, "message",
                      it->error_message ? it->error_message : dg.meaning, "meaning", dg.meaning,
                      "fix", dg.fix, "retryable", dg.retryable);
        if (dg.name[0] != '\0')
            json_object_set_new(e, "name", json_string(dg.name));
        json_object_set_new(j, "error", e);
    }
    return j;
}

json_t *api_operation_json(struct store *st, const struct store_operation *op, const char *cloud)
{
    struct store_operation_item *items = NULL;
    size_t n = 0;
    json_t *steps = json_loads(op->steps ? op->steps : "[]", 0, NULL);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", op->id, "kind", op->kind,
                  "target", op->target, "status", op->status, "createdBy",
                  op->created_by ? op->created_by : "", "createdAt", time_json(op->created_at),
                  "updatedAt", time_json(op->updated_at), "endedAt", time_json(op->ended_at));

    json_object_set_new(j, "steps", steps ? steps : json_array());
    if (op->error_code != NULL) {
        struct model_diagnosis dg;
        model_diagnose_cause(op->error_code, cloud, &dg);
        json_object_set_new(j, "error",
                            json_pack("{s:s, s:s}", "code", op->error_code, "message",
                                      op->error_message ? op->error_message : dg.meaning));
    }
    if (store_operation_items_list(st, op->id, &items, &n, NULL) == ERR_OK && n > 0) {
        json_t *arr = json_array();
        json_t *summary = json_object();
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_object_get(summary, items[i].status);
            json_object_set_new(summary, items[i].status,
                                json_integer(c ? json_integer_value(c) + 1 : 1));
            json_array_append_new(arr, item_json(&items[i], cloud));
        }
        json_object_set_new(j, "summary", summary);
        json_object_set_new(j, "virtualMachines", arr);
    }
    store_operation_items_free(items, n);
    return j;
}

void api_operations_get(struct http_request *req)
{
    struct app *app = req->app;
    struct store_operation op;
    struct err_detail d = {0};
    const char *id = http_param(req, "operationId");
    enum err rc = store_operation_get(app->store, id, &op, &d);

    /* a caller limited to scopes sees only operations on them; others look absent */
    if (rc == ERR_NOT_FOUND || (rc == ERR_OK && api_caller(req) != NULL &&
                                !auth_scope_allows(api_caller(req), op.target))) {
        store_operation_clear(&op);
        http_problem_reply(req, "operation_not_found", "no operation with that id", NULL);
        return;
    }
    if (rc != ERR_OK) {
        http_reply_error(req, rc, &d);
        return;
    }
    http_reply_json(req, 200, api_operation_json(app->store, &op, app->cfg->cloud));
    store_operation_clear(&op);
}
