/* fuzz_router.c: http_router_match with arbitrary methods and decoded paths against the real
 * route table. Input: "METHOD PATH" (the first space splits; no space: GET). A match must
 * name the route's own method and fill no more parameters than fit. */
#include <stdio.h>

#include "fuzz.h"
#include "http/http_internal.h"
#include "vmlogind/api.h"
#include "vmlogind/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    const char *method = "GET", *path = s;
    char *sp = strchr(s, ' ');
    char allowed[64];
    struct http_request *req = xcalloc(1, sizeof(*req));
    const struct route *r;

    if (sp != NULL) {
        *sp = '\0';
        method = s;
        path = sp + 1;
    }
    r = http_router_match(api_routes, api_routes_count, method, path, req, allowed,
                          sizeof(allowed));
    if (r != NULL) {
        if (strcmp(r->method, method) != 0 || req->route != r || req->nparams > HTTP_MAX_PARAMS)
            abort();
        for (size_t i = 0; i < req->nparams; i++) {
            if (req->param_values[i] == NULL || req->param_values[i][0] == '\0' ||
                strchr(req->param_values[i], '/') != NULL)
                abort();
            if (http_param(req, req->param_names[i]) == NULL)
                abort();
        }
    } else if (strlen(allowed) >= sizeof(allowed)) {
        abort();
    }
    /* A tiny Allow buffer must truncate, not overflow. */
    r = http_router_match(api_routes, api_routes_count, method, path, NULL, allowed, 4);
    (void)r;
    http_request_release(req);
    free(s);
    return 0;
}
