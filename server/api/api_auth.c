/* api_auth.c: the HTTP side of authentication and authorization. The hook runs after routing
 * and before any body check or handler: public routes pass; everything else needs a valid
 * bearer credential (401 + WWW-Authenticate), stays within the caller's rate (429 +
 * Retry-After), holds the route's role (403), and, for paths under /v1/subscriptions/, lies
 * within the caller's scopes (403; audited when the route writes or needs an operator or
 * administrator). Handlers then only check what the path cannot show
 * (a grant's scope and recipient in its body) with auth_check_scope/auth_check_grant. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/api.h"
#include "vmlogind/auth.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"

#define SCOPED_PREFIX "/v1/subscriptions/"

static void free_caller(void *p)
{
    auth_caller_free(p);
}

const struct auth_caller *api_caller(const struct http_request *req)
{
    return req->caller;
}

static enum auth_role role_for(enum http_perm p)
{
    switch (p) {
    case PERM_PUBLIC:
    case PERM_SELF:
        return AUTH_ROLE_NONE;
    case PERM_READ:
        return AUTH_ROLE_READER;
    case PERM_OPERATE:
        return AUTH_ROLE_OPERATOR;
    case PERM_ADMIN:
        break;
    }
    return AUTH_ROLE_ADMINISTRATOR;
}

static void reply_unauthorized(struct http_request *req, const char *authz,
                               const struct err_detail *d)
{
    /* RFC 6750: no error attribute when no credential was sent. Reasons are fixed text. */
    if (authz == NULL || authz[0] == '\0')
        http_add_header(req, "WWW-Authenticate", "Bearer realm=\"vmlogind\"");
    else
        http_add_header(req, "WWW-Authenticate",
                        http_printf(req,
                                    "Bearer realm=\"vmlogind\", error=\"invalid_token\", "
                                    "error_description=\"%s\"",
                                    d->msg));
    http_reply_error(req, ERR_UNAUTHORIZED, d);
}

void api_read_end(struct http_request *req)
{
    struct app *app = req->app;

    if (!req->read_tx)
        return;
    req->read_tx = false;
    if (store_tx_commit(app->store, NULL) != ERR_OK)
        store_tx_rollback(app->store);
}

static bool authorize(struct http_request *req, struct app *app);

bool api_auth_hook(struct http_request *req, void *arg)
{
    struct app *app = arg;

    if (req->route->perm == PERM_PUBLIC)
        return true;
    if (app == NULL || app->auth == NULL) {
        http_problem_reply(req, "auth_unavailable", "authentication is not set up", NULL);
        return false;
    }
    /* a snapshot route: the key's row and the handler's reads in one read transaction */
    if (req->route->snapshot && app->store != NULL && !store_in_tx(app->store))
        req->read_tx = store_tx_begin_read(app->store, NULL) == ERR_OK;
    if (authorize(req, app))
        return true;
    api_read_end(req);
    return false;
}

static bool authorize(struct http_request *req, struct app *app)
{
    const char *authz;
    struct auth_caller *c = NULL;
    struct err_detail d = {{0}, {0}};
    int64_t retry_after = 0;
    enum err rc;

    authz = http_header(req, "Authorization");
    rc = auth_authenticate(app->auth, authz, &c, &d);
    if (rc == ERR_UNAUTHORIZED) {
        reply_unauthorized(req, authz, &d);
        return false;
    }
    if (rc != ERR_OK) {
        log_warn("auth_failed", "request_id=%s code=%s", req->request_id, d.code);
        if (rc == ERR_UNAVAILABLE) /* keys being fetched in the background: soon */
            http_add_header(req, "Retry-After", "1");
        if (rc == ERR_UNAVAILABLE)
            http_reply_error(req, rc, &d);
        else
            http_problem_reply(req, "auth_failed", "the caller could not be checked", NULL);
        return false;
    }
    req->caller = c;
    req->caller_free = free_caller;
    snprintf(req->subject, sizeof(req->subject), "%s", c->subject);
    if (!auth_rate_allow(app->auth, c, &retry_after)) {
        http_add_header(req, "Retry-After", http_printf(req, "%lld", (long long)retry_after));
        http_problem_reply(
            req, "rate_limited",
            http_printf(req, "too many requests; retry after %lld s", (long long)retry_after),
            NULL);
        return false;
    }
    rc = auth_check_role(c, role_for(req->route->perm), &d);
    if (rc == ERR_OK && strncasecmp(req->path, SCOPED_PREFIX, strlen(SCOPED_PREFIX)) == 0)
        rc = auth_check_scope(c, req->path + 3, &d);
    if (rc != ERR_OK) {
        /* A refused write or administrator route is a privileged attempt: audited (a write,
         * so after any read transaction) */
        api_read_end(req);
        if (req->route->perm >= PERM_OPERATE || strcmp(req->method, "GET") != 0)
            api_audit_denied(req, NULL, NULL, d.code, 403);
        http_reply_error(req, ERR_FORBIDDEN, &d);
        return false;
    }
    return true;
}
