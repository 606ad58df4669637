/* api_web.c: serves the ops dashboard embedded from web/: index.html at / (no-cache), the
 * assets at /assets/<content hash>/<name> (cached for a year, immutable). Every answer carries
 * a Content-Security-Policy that allows only this origin's scripts, styles and API, and no
 * framing. It knows nothing of the page's contents. */
#include <string.h>

#include "vmlogind/api.h"

#define WEB_CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static const struct api_web_file *find(const char *name)
{
    for (size_t i = 0; i < vl_web_files_count; i++)
        if (strcmp(vl_web_files[i].name, name) == 0)
            return &vl_web_files[i];
    return NULL;
}

static void send_file(struct http_request *req, const struct api_web_file *f, const char *cache)
{
    http_add_header(req, "Content-Security-Policy", WEB_CSP);
    http_add_header(req, "X-Frame-Options", "DENY");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_add_header(req, "Cache-Control", cache);
    http_reply_raw(req, 200, f->type, (const char *)f->data, f->len);
}

void api_web_index(struct http_request *req)
{
    const struct api_web_file *f = find("index.html");

    if (f == NULL) {
        http_problem_reply(req, "not_found", "this build has no dashboard", NULL);
        return;
    }
    send_file(req, f, "no-cache");
}

void api_web_asset(struct http_request *req)
{
    const char *hash = http_param(req, "hash");
    const char *name = http_param(req, "file");
    const struct api_web_file *f = name != NULL ? find(name) : NULL;

    /* index.html is a page, not an asset; an old hash is another build's assets */
    if (f == NULL || strcmp(name, "index.html") == 0 || hash == NULL ||
        strcmp(hash, vl_web_hash) != 0) {
        http_problem_reply(req, "not_found", "no such asset in this build", NULL);
        return;
    }
    send_file(req, f, "public, max-age=31536000, immutable");
}
