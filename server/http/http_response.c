/* http_response.c: replies, and the one mapping from enum err to status and problem+json
 * (RFC 9457) through the problem registry (http_problem.c). Problem bodies always carry a
 * registered `code`; validation adds `errors[]`. A 5xx never carries its detail (an SQLite
 * message, a statement) to the client, nor does a 4xx from the store (a constraint's message):
 * the detail goes to the log under the request id, the answer says what kind of failure it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "vmlogind/http_problem.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

static const char *title_for(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 500 ? "Client Error" : "Server Error";
    }
}

int http_status_for(enum err e)
{
    switch (e) {
    case ERR_OK:
        return 200;
    case ERR_INVALID:
        return 400;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_CONFLICT:
        return 409;
    case ERR_PRECONDITION:
        return 412;
    case ERR_UNAUTHORIZED:
        return 401;
    case ERR_FORBIDDEN:
        return 403;
    case ERR_TOO_LARGE:
        return 413;
    case ERR_UNSUPPORTED_MEDIA:
        return 415;
    case ERR_RATE_LIMITED:
        return 429;
    case ERR_STORE:
        return 503;
    case ERR_CLOUD:
        return 502;
    case ERR_CLOUD_THROTTLED:
        return 503;
    case ERR_TIMEOUT:
        return 504;
    case ERR_UNAVAILABLE:
        return 503;
    case ERR_INTERNAL:
        return 500;
    }
    return 500;
}

char *http_problem_body(int status, const char *code, const char *detail, const char *instance,
                        const struct violations *vs)
{
    json_t *p = json_object();
    char *out;

    json_object_set_new(p, "type", json_sprintf("urn:vmlogind:problem:%s", code));
    json_object_set_new(p, "title", json_string(title_for(status)));
    json_object_set_new(p, "status", json_integer(status));
    json_object_set_new(p, "code", json_string(code));
    if (detail != NULL && detail[0] != '\0')
        json_object_set_new(p, "detail", json_string(detail));
    if (instance != NULL && instance[0] != '\0')
        json_object_set_new(p, "instance", json_string(instance));
    if (vs != NULL && vs->n > 0) {
        json_t *errs = json_array();
        for (size_t i = 0; i < vs->n; i++)
            json_array_append_new(errs, json_pack("{s:s, s:s, s:s}", "field", vs->v[i].field,
                                                  "code", vs->v[i].code, "message", vs->v[i].msg));
        json_object_set_new(p, "errors", errs);
    }
    out = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return out;
}

void http_reply_raw(struct http_request *req, int status, const char *type, const char *data,
                    size_t len)
{
    if (req->replied)
        return;
    req->replied = true;
    req->status = status;
    req->resp_type = type;
    req->resp = xmalloc(len + 1);
    memcpy(req->resp, data, len);
    req->resp[len] = '\0';
    req->resp_len = len;
}

void http_reply_take(struct http_request *req, int status, const char *type, char *data, size_t len)
{
    if (req->replied) {
        free(data);
        return;
    }
    req->replied = true;
    req->status = status;
    req->resp_type = type;
    req->resp = data;
    req->resp_len = len;
}

void http_reply_stream(struct http_request *req, int status, const char *type,
                       const struct http_stream_ops *ops, void *cls)
{
    if (req->replied) {
        ops->done(cls);
        return;
    }
    req->replied = true;
    req->status = status;
    req->resp_type = type;
    req->stream_ops = ops;
    req->stream_cls = cls;
}

void http_reply_discard(struct http_request *req)
{
    if (req->stream_ops != NULL)
        req->stream_ops->done(req->stream_cls);
    req->stream_ops = NULL;
    req->stream_cls = NULL;
    free(req->resp);
    req->resp = NULL;
    req->resp_len = 0;
    req->status = 0;
    req->replied = false;
    req->nextra = 0; /* the names and values are request-owned: freed with it */
}

void http_reply_json(struct http_request *req, int status, json_t *body)
{
    char *text;

    if (req->replied) {
        json_decref(body);
        return;
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        http_reply_problem(req, 500, "internal", "reply could not be serialized", NULL);
        return;
    }
    req->replied = true;
    req->status = status;
    req->resp_type = "application/json";
    req->resp = text;
    req->resp_len = strlen(text);
}

static const char *server_error_detail(int status)
{
    switch (status) {
    case 502:
        return "a service this server depends on failed; the details are logged under this "
               "request's id (instance)";
    case 503:
        return "the service is unavailable; try again later (the cause is logged under this "
               "request's id, instance)";
    case 504:
        return "a service this server depends on did not answer in time";
    default:
        return "an internal error occurred; the details are logged under this request's id "
               "(instance)";
    }
}

void http_reply_problem(struct http_request *req, int status, const char *code, const char *detail,
                        const struct violations *vs)
{
    char *text;

    if (req->replied)
        return;
    if (http_problem_find(code) == NULL || http_problem_find(code)->status != status)
        log_error("problem_unregistered", "request_id=%s status=%d code=%s", req->request_id,
                  status, code ? code : "");
    if (status >= 500) {
        char q[600];
        log_error("http_server_error", "request_id=%s status=%d code=%s detail=%s", req->request_id,
                  status, code, log_q(q, sizeof(q), detail ? detail : ""));
        detail = server_error_detail(status);
        vs = NULL;
    }
    text = http_problem_body(status, code, detail, req->request_id, vs);
    req->replied = true;
    req->status = status;
    req->resp_type = "application/problem+json";
    req->resp = text;
    req->resp_len = strlen(text);
}

void http_reply_error(struct http_request *req, enum err e, const struct err_detail *d)
{
    const struct http_problem_row *row = http_problem_find(d != NULL ? d->code : NULL);

    /* the failure's own code when it is registered with the status e maps to, else e's own */
    if (row == NULL || row->status != http_status_for(e))
        row = http_problem_find(err_str(e));
    http_problem_reply(req, row != NULL ? row->code : "internal", d != NULL ? d->msg : NULL, NULL);
}
