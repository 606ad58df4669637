/* api_web.c: serves the ops dashboard embedded from web/: index.html at / (no-cache), the
 * assets at /assets/<content hash>/<name> (cached for a year, immutable). Every answer carries
 * a Content-Security-Policy that allows only this origin's scripts, styles and API (and, when
 * the dashboard signs in with Entra, the authority's token endpoint), and no framing. GET
 * /v1/auth/config tells the page how to sign in. It knows nothing of the page's contents. */
#include <stdio.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"

#define WEB_CSP_HEAD "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"
#define WEB_CSP_TAIL                                                                               \
    "; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The dashboard signs in with Entra when it has a client id and the server accepts JWTs. */
static bool entra_on(const struct config *cfg)
{
    return cfg->dashboard_client_id[0] != '\0' && cfg->api_audience[0] != '\0' &&
           auth_tenant(cfg)[0] != '\0';
}

/* scheme://host[:port] of an http(s) URL into out; false when url is not one (a character a
 * CSP source could not hold). */
static bool origin_of(const char *url, char *out, size_t cap)
{
    const char *host;
    size_t n;

    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return false;
    n = strcspn(host, "/?#");
    if (n == 0 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") < n)
        return false;
    return snprintf(out, cap, "%.*s", (int)(host - url + (long)n), url) < (int)cap;
}

static void add_csp(struct http_request *req)
{
    const struct app *app = req->app;
    const struct config *cfg = app->cfg;
    char origin[CONFIG_STR_MAX];
    char csp[sizeof(WEB_CSP_HEAD) + sizeof(WEB_CSP_TAIL) + CONFIG_STR_MAX + 2];

    if (entra_on(cfg) && origin_of(auth_login_base(cfg), origin, sizeof(origin)))
        snprintf(csp, sizeof(csp), "%s %s%s", WEB_CSP_HEAD, origin, WEB_CSP_TAIL);
    else
        snprintf(csp, sizeof(csp), "%s%s", WEB_CSP_HEAD, WEB_CSP_TAIL);
    http_add_header(req, "Content-Security-Policy", csp);
}

static const struct api_web_file *find(const char *name)
{
    for (size_t i = 0; i < vl_web_files_count; i++)
        if (strcmp(vl_web_files[i].name, name) == 0)
            return &vl_web_files[i];
    return NULL;
}

static void send_file(struct http_request *req, const struct api_web_file *f, const char *cache)
{
    add_csp(req);
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

/* The scope asked for: dashboard_scope, else the first api_audience + "/.default". */
static void scope_of(const struct config *cfg, char *out, size_t cap)
{
    size_t n = strcspn(cfg->api_audience, ", ");

    if (cfg->dashboard_scope[0] != '\0')
        snprintf(out, cap, "%s", cfg->dashboard_scope);
    else
        snprintf(out, cap, "%.*s/.default", (int)n, cfg->api_audience);
}

void api_web_auth_config(struct http_request *req)
{
    const struct app *app = req->app;
    const struct config *cfg = app->cfg;
    const char *base = auth_login_base(cfg);
    size_t blen = strlen(base);
    char authority[2 * CONFIG_STR_MAX + 2], scope[CONFIG_STR_MAX + 16];
    char authorize[sizeof(authority) + 32], token[sizeof(authority) + 32];

    if (!entra_on(cfg)) {
        http_reply_json(req, 200, json_pack("{s:b, s:n}", "apiKey", 1, "entra"));
        return;
    }
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    snprintf(authority, sizeof(authority), "%.*s/%s", (int)blen, base, auth_tenant(cfg));
    snprintf(authorize, sizeof(authorize), "%s/oauth2/v2.0/authorize", authority);
    snprintf(token, sizeof(token), "%s/oauth2/v2.0/token", authority);
    scope_of(cfg, scope, sizeof(scope));
    http_add_header(req, "Cache-Control", "no-cache");
    http_reply_json(req, 200,
                    json_pack("{s:b, s:{s:s, s:s, s:s, s:s, s:s}}", "apiKey", 1, "entra",
                              "authority", authority, "authorizeUrl", authorize, "tokenUrl", token,
                              "clientId", cfg->dashboard_client_id, "scope", scope));
}
