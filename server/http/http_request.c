/* http_request.c: request accessors and request-owned memory. Everything allocated here is
 * released in one place when the request completes (http_request_release); the first few
 * hundred bytes come from the request itself, the rest from malloc. */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "vmlogind/xalloc.h"

struct alloc_node {
    struct alloc_node *next;
    max_align_t data[];
};

void *http_alloc(struct http_request *req, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    size_t round = (n + align - 1) / align * align;
    struct alloc_node *a;

    if (round >= n && round <= sizeof(req->scratch) - req->scratch_used) {
        void *p = req->scratch + req->scratch_used;
        req->scratch_used += round;
        return p;
    }
    a = xmalloc(sizeof(*a) + n);
    a->next = req->allocs;
    req->allocs = a;
    return a->data;
}

char *http_strndup(struct http_request *req, const char *s, size_t n)
{
    char *p = http_alloc(req, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *http_strdup(struct http_request *req, const char *s)
{
    return http_strndup(req, s, strlen(s));
}

char *http_printf(struct http_request *req, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    p = http_alloc(req, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

const char *http_param(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

const char *http_query(const struct http_request *req, const char *name)
{
    if (req->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
    if (req->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void http_add_header(struct http_request *req, const char *name, const char *value)
{
    if (req->nextra >= HTTP_MAX_EXTRA_HEADERS)
        return;
    req->extra_names[req->nextra] = http_strdup(req, name);
    req->extra_values[req->nextra] = http_strdup(req, value);
    req->nextra++;
}

void http_request_release(struct http_request *req)
{
    struct alloc_node *a = req->allocs;

    if (req->stream_ops != NULL) /* a streamed reply that was never queued */
        req->stream_ops->done(req->stream_cls);

    while (a != NULL) {
        struct alloc_node *next = a->next;
        free(a);
        a = next;
    }
    if (req->caller != NULL && req->caller_free != NULL)
        req->caller_free(req->caller);
    json_decref(req->json);
    buf_cleanup(&req->body);
    free(req->resp);
    free(req);
}
