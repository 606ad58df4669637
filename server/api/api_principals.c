/* api_principals.c: GET /v1/principals?search=<prefix>, the principal look-up of the grant form:
 * users (by display name or UPN) and groups (by display name) whose names start with the text,
 * asked of Microsoft Graph with vmlogind's own credentials at most PRINCIPALS_MAX of each. The
 * text is held to a short length and a plain alphabet before anything leaves the server. */
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/http_problem.h"
#include "vmlogind/violations.h"

#define PRINCIPALS_MAX 10
#define SEARCH_MAX 64

/* Letters, digits, space and the punctuation of names and UPNs (. - _ @ ' #). */
static bool search_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n > 0 && n <= SEARCH_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-_@'#") == n;
}

void api_principals_search(struct http_request *req)
{
    const struct app *app = req->app;
    const char *s = http_query(req, "search");
    struct err_detail d = {0};
    struct violations vs;
    json_t *out;
    enum err rc;

    if (!search_ok(s)) {
        violations_init(&vs);
        violations_add(&vs, "search", "invalid",
                       "the start of a name or UPN: 1 to %d letters, digits, spaces or . - _ @ ' #",
                       SEARCH_MAX);
        http_problem_reply(req, "invalid_query", "the query is not valid", &vs);
        return;
    }
    if (app->principal_search == NULL) {
        http_reply_error(req,
                         err_set(&d, ERR_UNAVAILABLE, "unavailable",
                                 "no Azure connection is configured to look principals up"),
                         &d);
        return;
    }
    out = json_array();
    rc = app->principal_search(app->principal_search_arg, s, PRINCIPALS_MAX, out, &d);
    if (rc != ERR_OK) {
        json_decref(out);
        http_reply_error(req, rc, &d);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:o}", "value", out));
}
