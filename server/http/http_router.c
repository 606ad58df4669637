/* http_router.c: matching a method and decoded path against the route table. Literal
 * segments compare case-insensitively (ARM paths do); {name} takes one non-empty segment.
 * 404 versus 405 + Allow falls out of the same walk. Pure: no I/O, no allocation. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/http.h"

/* Next segment of *p (after a '/'); returns its length and advances *p. */
static size_t seg(const char **p, const char **start)
{
    const char *s = *p + (**p == '/');
    const char *e = strchr(s, '/'); /* one byte to look for: strchr, not strcspn's set */
    size_t n = e != NULL ? (size_t)(e - s) : strlen(s);

    *start = s;
    *p = s + n;
    return n;
}

static bool match_path(const char *pattern, const char *path, struct http_request *req)
{
    const char *pp = pattern, *qp = path;
    size_t np = 0;

    if (req != NULL)
        req->nparams = 0;
    if (strcmp(pattern, "/") == 0) /* the root: the one path with no segment */
        return strcmp(path, "/") == 0;
    for (;;) {
        const char *ps, *qs;
        bool pend = *pp == '\0', qend = *qp == '\0';
        if (pend || qend)
            return pend && qend;
        size_t pl = seg(&pp, &ps);
        size_t ql = seg(&qp, &qs);
        if (ql == 0)
            return false; /* empty segment: "//" or a trailing '/' */
        if (pl >= 2 && ps[0] == '{' && ps[pl - 1] == '}') {
            if (np >= HTTP_MAX_PARAMS)
                return false;
            if (req != NULL) {
                req->param_names[np] = http_strndup(req, ps + 1, pl - 2);
                req->param_values[np] = http_strndup(req, qs, ql);
                req->nparams = np + 1;
            }
            np++;
            continue;
        }
        if (pl != ql || strncasecmp(ps, qs, pl) != 0)
            return false;
    }
}

const struct route *http_router_match(const struct route *routes, size_t n, const char *method,
                                      const char *path, struct http_request *req, char *allowed,
                                      size_t allowed_cap)
{
    const char *last = strrchr(path, '/'); /* the path's last segment */
    size_t used = 0;

    if (allowed_cap > 0)
        allowed[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        /* a pattern ending in another literal cannot match: many share a long prefix */
        const char *plast = strrchr(routes[i].pattern, '/');
        if (last != NULL && plast != NULL && plast[1] != '{' &&
            strcasecmp(plast + 1, last + 1) != 0)
            continue;
        if (!match_path(routes[i].pattern, path, NULL))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            match_path(routes[i].pattern, path, req);
            if (req != NULL)
                req->route = &routes[i];
            return &routes[i];
        }
        if (allowed_cap > 0 && strstr(allowed, routes[i].method) == NULL) {
            int w = snprintf(allowed + used, allowed_cap - used, "%s%s", used ? ", " : "",
                             routes[i].method);
            if (w > 0 && (size_t)w < allowed_cap - used)
                used += (size_t)w;
        }
    }
    return NULL;
}

void http_route_announce(struct http_request *req)
{
    const struct route *r = req->route;

    if (r == NULL || r->deprecated == NULL)
        return;
    http_add_header(req, "Deprecation", r->deprecated);
    if (r->deprecation_link != NULL)
        http_add_header(req, "Link",
                        http_printf(req, "<%s>; rel=\"deprecation\"", r->deprecation_link));
    if (r->sunset != NULL)
        http_add_header(req, "Sunset", r->sunset);
}
