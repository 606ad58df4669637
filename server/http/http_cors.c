/* http_cors.c: Cross-Origin Resource Sharing for the portals that call the API from a browser
 * page on another origin (WHATWG Fetch, "CORS protocol"). Exact origins only, from the
 * cors_allowed_origins setting: never "*", never a reflected origin that is not listed. A
 * listed origin gets Access-Control-Allow-Origin on every answer (problems included, so the
 * page can read them) and its preflights are answered from the route table; another origin
 * gets no CORS header at all and its preflight a 403. Owns the parsed list; not the routes. */
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"
#include "vmlogind/http_problem.h"
#include "vmlogind/xalloc.h"

#define CORS_MAX_ORIGINS 32
#define CORS_MAX_AGE_S "600" /* preflight answers cached ten minutes at most */

struct http_cors {
    char *origin[CORS_MAX_ORIGINS];
    size_t n;
};

/* scheme://host[:port] with nothing after: what a browser sends in Origin. */
static bool is_origin(const char *o, size_t len)
{
    const char *host;
    size_t rest;

    if (len > 7 && strncmp(o, "http://", 7) == 0)
        host = o + 7;
    else if (len > 8 && strncmp(o, "https://", 8) == 0)
        host = o + 8;
    else
        return false;
    rest = len - (size_t)(host - o);
    if (rest == 0 || host[rest - 1] == '.')
        return false;
    for (size_t i = 0; i < rest; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == ':' || c == '[' || c == ']'))
            return false; /* no path, query, userinfo, wildcard or upper case */
    }
    return true;
}

enum err http_cors_parse(const char *list, struct http_cors **out, struct err_detail *d)
{
    struct http_cors *c = xcalloc(1, sizeof(*c));
    const char *p = list != NULL ? list : "";

    *out = NULL;
    while (*p != '\0') {
        size_t len;

        p += strspn(p, " ,\t");
        len = strcspn(p, " ,\t");
        if (len == 0)
            break;
        if (!is_origin(p, len) || c->n == CORS_MAX_ORIGINS) {
            int shown = len > 80 ? 80 : (int)len;
            http_cors_free(c);
            return err_set(d, ERR_INVALID, "cors_allowed_origins",
                           "cors_allowed_origins: '%.*s' is not an origin (scheme://host[:port], "
                           "lower case, no path, no wildcard; at most %d)",
                           shown, p, CORS_MAX_ORIGINS);
        }
        c->origin[c->n++] = xstrndup(p, len);
        p += len;
    }
    if (c->n == 0) {
        http_cors_free(c);
        return ERR_OK;
    }
    *out = c;
    return ERR_OK;
}

void http_cors_free(struct http_cors *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->origin[i]);
    free(c);
}

static bool listed(const struct http_cors *c, const char *origin)
{
    for (size_t i = 0; c != NULL && origin != NULL && i < c->n; i++) {
        if (strcmp(c->origin[i], origin) == 0)
            return true;
    }
    return false;
}

bool http_cors_apply(const struct http_cors *c, struct http_request *req,
                     const struct route *routes, size_t nroutes)
{
    const char *origin = http_header(req, "Origin");
    bool ok = listed(c, origin);
    char allowed[128];

    if (c == NULL || origin == NULL)
        return false;
    http_add_header(req, "Vary", "Origin");
    if (ok) {
        http_add_header(req, "Access-Control-Allow-Origin", origin);
        http_add_header(req, "Access-Control-Expose-Headers",
                        "Location, ETag, Retry-After, X-Request-Id, Deprecation, Sunset, Link");
    }
    if (strcmp(req->method, "OPTIONS") != 0 ||
        http_header(req, "Access-Control-Request-Method") == NULL)
        return false; /* not a preflight: the request goes on */
    if (http_router_match(routes, nroutes, "OPTIONS", req->path, req, allowed, sizeof(allowed)) !=
            NULL ||
        allowed[0] == '\0') {
        http_problem_reply(req, "not_found", "no such path", NULL);
        return true;
    }
    if (!ok) {
        http_problem_reply(req, "cors_origin_not_allowed",
                           "this origin is not in cors_allowed_origins", NULL);
        return true;
    }
    http_add_header(req, "Access-Control-Allow-Methods", allowed);
    http_add_header(req, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, "
                    "X-Request-Id");
    http_add_header(req, "Access-Control-Max-Age", CORS_MAX_AGE_S);
    http_reply_raw(req, 204, "text/plain", "", 0);
    return true;
}
