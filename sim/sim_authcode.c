/* sim_authcode.c: the OAuth 2.0 authorization code grant with PKCE as Entra ID answers a
 * single-page application: GET /{tenant}/oauth2/v2.0/authorize shows a page where the person
 * picks one of the tenant's users (azsim's stand-in for signing in), POST to the same path
 * redirects to redirect_uri?code=...&state=..., and the token endpoint redeems the code
 * (grant_type=authorization_code) against the code_verifier, with CORS for the page's origin.
 * Source for every rule below unless another is named:
 * https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define AC_MAX 64
#define PARAM_MAX 2048

/* "Authorization codes are short lived. Typically, they expire after about 10 minutes." */
#define AC_LIFETIME_MS (600 * 1000)

struct ac {
    char code[UUID_STR_LEN * 2 + 8];
    char client_id[64];
    char challenge[64];
    char *redirect;
    char *scope;
    json_t *user;
    int64_t expires_ms;
    bool used;
};

static struct ac codes[AC_MAX];
static unsigned next_code;

void sim_authcode_reset(void)
{
    for (size_t i = 0; i < AC_MAX; i++) {
        free(codes[i].redirect);
        free(codes[i].scope);
        json_decref(codes[i].user);
    }
    memset(codes, 0, sizeof(codes));
}

/* The parameters of an authorization request: the query string of the GET, the form of the
 * picker's POST (which carries them on as hidden fields). */
struct areq {
    char *client_id, *redirect_uri, *response_type, *scope, *state, *challenge, *method, *nonce;
    char *user, *role;
};

static char *param(struct sim_req *r, bool post, const char *name)
{
    char *v = post ? sim_form_get(r->body, name) : NULL;
    const char *q = post ? NULL : sim_query(r, name);

    if (!post && q != NULL)
        v = xstrdup(q);
    if (v != NULL && strlen(v) > PARAM_MAX)
        v[PARAM_MAX] = '\0';
    return v;
}

static void areq_read(struct sim_req *r, struct areq *a)
{
    bool post = strcmp(r->method, "POST") == 0;

    a->client_id = param(r, post, "client_id");
    a->redirect_uri = param(r, post, "redirect_uri");
    a->response_type = param(r, post, "response_type");
    a->scope = param(r, post, "scope");
    a->state = param(r, post, "state");
    a->challenge = param(r, post, "code_challenge");
    a->method = param(r, post, "code_challenge_method");
    a->nonce = param(r, post, "nonce");
    a->user = post ? sim_form_get(r->body, "user") : NULL;
    a->role = post ? sim_form_get(r->body, "role") : NULL;
}

static void areq_free(struct areq *a)
{
    char **f[] = {&a->client_id, &a->redirect_uri, &a->response_type, &a->scope, &a->state,
                  &a->challenge, &a->method,       &a->nonce,         &a->user,  &a->role};

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        free(*f[i]);
}

/* A page being written (open_memstream). */
struct page {
    FILE *f;
    char *p;
    size_t n;
};

static void page_open(struct page *b)
{
    b->p = NULL;
    b->n = 0;
    b->f = open_memstream(&b->p, &b->n);
    if (b->f == NULL)
        abort();
}

static char *page_take(struct page *b)
{
    fclose(b->f);
    return b->p;
}

#define page_puts(b, s) fputs((s), (b)->f)
#define page_putc(b, c) fputc((c), (b)->f)
#define page_printf(b, ...) fprintf((b)->f, __VA_ARGS__)

static void html_esc(struct page *b, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<':
            page_puts(b, "&lt;");
            break;
        case '>':
            page_puts(b, "&gt;");
            break;
        case '&':
            page_puts(b, "&amp;");
            break;
        case '"':
            page_puts(b, "&quot;");
            break;
        case '\'':
            page_puts(b, "&#39;");
            break;
        default:
            page_putc(b, *s);
        }
    }
}

/* Errors that cannot go back to the app (unknown app, unregistered redirect_uri) are shown on
 * the sign-in page itself, as Entra does; the AADSTS code names the cause. */
static void error_page(struct sim_req *r, int code, const char *msg)
{
    struct page b;

    page_open(&b);
    page_puts(&b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in "
                  "error</title></head><body><main><h1>Sorry, but we're having trouble signing "
                  "you in.</h1><p id=\"error\">");
    page_printf(&b, "AADSTS%d: ", code);
    html_esc(&b, msg);
    page_puts(&b, "</p></main></body></html>");
    sim_reply_html(r, 400, page_take(&b));
}

/* Loopback redirect URIs: "the port component is ignored" when matching
 * (https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions),
 * so a registered http://127.0.0.1/ admits http://127.0.0.1:8080/. Out: the URI without its
 * port when the host is 127.0.0.1 or localhost, else the URI. */
static void without_loopback_port(const char *uri, char *out, size_t cap)
{
    const char *host = strstr(uri, "://");
    const char *colon, *end;

    snprintf(out, cap, "%s", uri);
    if (host == NULL)
        return;
    host += 3;
    end = host + strcspn(host, "/?#");
    colon = memchr(host, ':', (size_t)(end - host));
    if (colon == NULL)
        return;
    if (!((colon - host == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
          (colon - host == 9 && strncasecmp(host, "localhost", 9) == 0)))
        return;
    snprintf(out, cap, "%.*s%s", (int)(colon - uri), uri, end);
}

static bool redirect_registered(const struct sim_app *app, const char *uri)
{
    char want[PARAM_MAX + 1], have[PARAM_MAX + 1];

    without_loopback_port(uri, want, sizeof(want));
    for (size_t i = 0; i < json_array_size(app->spa_redirects); i++) {
        without_loopback_port(json_string_value(json_array_get(app->spa_redirects, i)), have,
                              sizeof(have));
        if (strcmp(want, have) == 0)
            return true;
    }
    return false;
}

/* redirect_uri + "?" (or "&") + the given query, as the docs' "Successful response" and
 * "Error response" send the browser back. */
static void redirect_back(struct sim_req *r, const char *uri, const char *query)
{
    sim_reply_header(r, "Location", "%s%c%s", uri, strchr(uri, '?') ? '&' : '?', query);
    sim_reply_header(r, "Cache-Control", "no-store");
    sim_reply_json(r, 302, NULL);
}

static void error_back(struct sim_req *r, const struct areq *a, const char *error, int code,
                       const char *msg)
{
    char *desc = xasprintf("AADSTS%d: %s", code, msg);
    char *e_desc = sim_urlenc(desc);
    char *e_state = sim_urlenc(a->state ? a->state : "");
    char *q = xasprintf("error=%s&error_description=%s%s%s", error, e_desc,
                        a->state ? "&state=" : "", a->state ? e_state : "");

    redirect_back(r, a->redirect_uri, q);
    free(q);
    free(e_state);
    free(e_desc);
    free(desc);
}

/* The checks before anything goes back to the app: tenant, client_id, redirect_uri. */
static struct sim_app *checked_app(struct sim_req *r, const struct areq *a)
{
    struct sim_app *app;
    char msg[PARAM_MAX + 256];

    if (!sim_tenant_ok(r->segs[0])) {
        snprintf(msg, sizeof(msg), "Tenant '%.64s' not found.", r->segs[0]);
        error_page(r, 90002, msg);
        return NULL;
    }
    app = a->client_id ? sim_app_get(a->client_id) : NULL;
    if (app == NULL) {
        snprintf(msg, sizeof(msg),
                 "Application with identifier '%.64s' was not found in the directory.",
                 a->client_id ? a->client_id : "");
        error_page(r, 700016, msg);
        return NULL;
    }
    if (a->redirect_uri == NULL || !redirect_registered(app, a->redirect_uri)) {
        snprintf(msg, sizeof(msg),
                 "The redirect URI '%s' specified in the request does not match the redirect "
                 "URIs configured for the application '%s'.",
                 a->redirect_uri ? a->redirect_uri : "", app->app_id);
        error_page(r, 50011, msg);
        return NULL;
    }
    return app;
}

/* RFC 7636 4.2: an S256 code_challenge is BASE64URL(SHA256(verifier)), 43 characters. */
static bool challenge_ok(const char *c)
{
    if (c == NULL || strlen(c) != 43)
        return false;
    for (; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    }
    return true;
}

/* The checks whose failure goes back to the app as ?error=: response_type, scope, PKCE. A
 * single-page app must use PKCE ("Request an authorization code": code_challenge is
 * "Recommended / required for single page apps"); Entra also takes the plain method, azsim
 * only S256, the one the docs recommend. */
static bool request_ok(struct sim_req *r, const struct areq *a)
{
    if (a->response_type == NULL || strcmp(a->response_type, "code") != 0) {
        error_back(r, a, "unsupported_response_type", 70000,
                   "The provided value for the input parameter 'response_type' is not allowed "
                   "for this request. Expected value: code.");
        return false;
    }
    if (a->scope == NULL || a->scope[0] == '\0') {
        error_back(r, a, "invalid_request", 900144,
                   "The request body must contain the following parameter: 'scope'.");
        return false;
    }
    if (a->challenge == NULL || a->method == NULL || strcmp(a->method, "S256") != 0 ||
        !challenge_ok(a->challenge)) {
        error_back(r, a, "invalid_request", 9002325,
                   "Proof Key for Code Exchange is required for cross-origin authorization code "
                   "redemption (code_challenge with code_challenge_method S256).");
        return false;
    }
    return true;
}

static void hidden(struct page *b, const char *name, const char *value)
{
    if (value == NULL)
        return;
    page_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    html_esc(b, value);
    page_puts(b, "\">");
}

/* azsim has no app role assignments: the person picks the app role of the API they hold, as
 * POST /_sim/deviceCodes/approve takes them. The names are vmlogind's default role values. */
static const char *const PICK_ROLES[] = {"VmLogin.Reader", "VmLogin.Operator",
                                         "VmLogin.Administrator"};

static void picker_users(struct page *b)
{
    bool first = true;

    for (size_t i = 0; i < S.principals.len; i++) {
        const struct sim_principal *p = S.principals.items[i];
        if (p->kind != PR_USER || p->soft_deleted || !p->enabled || p->upn == NULL)
            continue;
        page_printf(b, "<li><label><input type=\"radio\" name=\"user\" value=\"%s\"%s> ", p->id,
                    first ? " required" : "");
        html_esc(b, p->display_name);
        page_puts(b, " <span>");
        html_esc(b, p->upn);
        page_puts(b, "</span></label></li>");
        first = false;
    }
}

static void picker(struct sim_req *r, const struct areq *a)
{
    struct page b;

    page_open(&b);
    page_puts(&b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in "
                  "to your account (azsim)</title></head><body><main><h1>Pick an account</h1>"
                  "<form method=\"post\" aria-label=\"Pick an account\"><fieldset><legend>User"
                  "</legend><ul>");
    picker_users(&b);
    page_puts(&b, "</ul></fieldset><label for=\"role\">App role held</label> <select id=\"role\" "
                  "name=\"role\"><option value=\"\">(none)</option>");
    for (size_t i = 0; i < sizeof(PICK_ROLES) / sizeof(PICK_ROLES[0]); i++)
        page_printf(&b, "<option>%s</option>", PICK_ROLES[i]);
    page_puts(&b, "</select>");
    hidden(&b, "client_id", a->client_id);
    hidden(&b, "redirect_uri", a->redirect_uri);
    hidden(&b, "response_type", a->response_type);
    hidden(&b, "scope", a->scope);
    hidden(&b, "state", a->state);
    hidden(&b, "code_challenge", a->challenge);
    hidden(&b, "code_challenge_method", a->method);
    hidden(&b, "nonce", a->nonce);
    page_puts(&b, " <button type=\"submit\">Sign in</button></form></main></body></html>");
    sim_reply_header(r, "Cache-Control", "no-store");
    sim_reply_header(r, "X-Frame-Options", "DENY");
    sim_reply_html(r, 200, page_take(&b));
}

static json_t *picked_user(const struct areq *a)
{
    struct sim_principal *p = a->user ? sim_principal_get(a->user) : NULL;
    json_t *u, *roles = json_array();

    if (p == NULL || p->kind != PR_USER || !p->enabled)
        return NULL;
    for (size_t i = 0; a->role && i < sizeof(PICK_ROLES) / sizeof(PICK_ROLES[0]); i++) {
        if (strcmp(a->role, PICK_ROLES[i]) == 0)
            json_array_append_new(roles, json_string(PICK_ROLES[i]));
    }
    u = json_pack("{s:s, s:s, s:s?, s:o}", "oid", p->id, "upn", p->upn ? p->upn : "", "name",
                  p->display_name, "roles", roles);
    return u;
}

/* The picker's POST: a code bound to client_id, redirect_uri and the challenge, then back to
 * the app with code and state ("Successful response"). */
static void issue(struct sim_req *r, const struct areq *a)
{
    json_t *user = picked_user(a);
    struct ac *c;
    char u[UUID_STR_LEN], v[UUID_STR_LEN];
    char *q, *e_state;

    if (user == NULL) {
        error_back(r, a, "access_denied", 50034,
                   "The user account does not exist in the directory or is disabled.");
        return;
    }
    c = &codes[next_code++ % AC_MAX];
    free(c->redirect);
    free(c->scope);
    json_decref(c->user);
    memset(c, 0, sizeof(*c));
    uuid_v4(u);
    uuid_v4(v);
    snprintf(c->code, sizeof(c->code), "0.AXA%s%s", u, v);
    snprintf(c->client_id, sizeof(c->client_id), "%s", a->client_id);
    snprintf(c->challenge, sizeof(c->challenge), "%s", a->challenge);
    c->redirect = xstrdup(a->redirect_uri);
    c->scope = xstrdup(a->scope);
    c->user = user;
    c->expires_ms = clock_now_ms() + AC_LIFETIME_MS;
    e_state = sim_urlenc(a->state ? a->state : "");
    q = xasprintf("code=%s%s%s", c->code, a->state ? "&state=" : "", a->state ? e_state : "");
    redirect_back(r, a->redirect_uri, q);
    free(q);
    free(e_state);
}

void sim_authcode_authorize(struct sim_req *r)
{
    struct areq a = {0};

    areq_read(r, &a);
    if (checked_app(r, &a) != NULL && request_ok(r, &a)) {
        if (strcmp(r->method, "POST") == 0)
            issue(r, &a);
        else
            picker(r, &a);
    }
    areq_free(&a);
}

/* ---- the token endpoint ---- */

static struct ac *code_find(const char *code)
{
    for (size_t i = 0; code != NULL && i < AC_MAX; i++) {
        if (codes[i].code[0] != '\0' && strcmp(codes[i].code, code) == 0)
            return &codes[i];
    }
    return NULL;
}

static bool verifier_ok(const char *verifier, const char *challenge)
{
    unsigned char d[32];
    char *enc;
    bool ok;

    /* RFC 7636 4.1: 43 to 128 characters */
    if (verifier == NULL || strlen(verifier) < 43 || strlen(verifier) > 128)
        return false;
    sha256(verifier, strlen(verifier), d);
    enc = b64url_encode(d, sizeof(d));
    ok = strcmp(enc, challenge) == 0;
    free(enc);
    return ok;
}

/* "Redeem a code for an access token": client_id, code, redirect_uri (the same as in the
 * authorize request), grant_type=authorization_code, code_verifier. Each code redeems once
 * (AADSTS54005), within its lifetime (AADSTS70008), by the client and redirect_uri it was
 * issued to, with the verifier of its challenge (AADSTS50148); all are invalid_grant. */
static void redeem(struct sim_req *r, const char *client, const char *code, const char *redirect,
                   const char *verifier)
{
    struct ac *c = code_find(code);

    if (c == NULL || client == NULL || strcmp(c->client_id, client) != 0) {
        sim_aadsts(r, 400, "invalid_grant", 70000,
                   "The provided value for the 'code' parameter is not valid.");
        return;
    }
    if (c->used) {
        sim_aadsts(r, 400, "invalid_grant", 54005,
                   "OAuth2 Authorization code was already redeemed, please retry with a new valid "
                   "code or use an existing refresh token.");
        return;
    }
    c->used = true;
    if (clock_now_ms() >= c->expires_ms) {
        sim_aadsts(r, 400, "invalid_grant", 70008,
                   "The provided authorization code or refresh token has expired due to "
                   "inactivity. Send a new interactive authorization request for this user and "
                   "resource.");
        return;
    }
    if (redirect == NULL || strcmp(redirect, c->redirect) != 0) {
        sim_aadsts(r, 400, "invalid_grant", 500112,
                   "The reply address '%s' does not match the reply address '%s' provided when "
                   "requesting Authorization code.",
                   redirect ? redirect : "", c->redirect);
        return;
    }
    if (!verifier_ok(verifier, c->challenge)) {
        sim_aadsts(r, 400, "invalid_grant", 50148,
                   "The code_verifier does not match the code_challenge supplied in the "
                   "authorization request for PKCE.");
        return;
    }
    sim_user_tokens(r, c->client_id, c->scope, c->user);
}

bool sim_authcode_token(struct sim_req *r, const char *grant)
{
    const char *origin = sim_header(r, "Origin");
    char *client, *code, *redirect, *verifier;

    if (grant == NULL || strcmp(grant, "authorization_code") != 0)
        return false;
    /* A single-page app redeems its code with fetch from its own origin; Entra answers with
     * Access-Control-Allow-Origin for SPA redirect URIs ("Redirect URIs for single-page apps
     * (SPAs)": "the token endpoint ... CORS"), errors included so the page can read them. */
    if (origin != NULL && strlen(origin) < PARAM_MAX) {
        sim_reply_header(r, "Access-Control-Allow-Origin", "%s", origin);
        sim_reply_header(r, "Vary", "Origin");
    }
    client = sim_form_get(r->body, "client_id");
    code = sim_form_get(r->body, "code");
    redirect = sim_form_get(r->body, "redirect_uri");
    verifier = sim_form_get(r->body, "code_verifier");
    if (client == NULL || code == NULL) {
        sim_aadsts(r, 400, "invalid_request", 900144,
                   "The request body must contain the following parameter: '%s'.",
                   client == NULL ? "client_id" : "code");
    } else {
        redeem(r, client, code, redirect, verifier);
    }
    free(client);
    free(code);
    free(redirect);
    free(verifier);
    return true;
}
