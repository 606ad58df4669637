/* sim_devicecode.c: the OAuth 2.0 device authorization grant as Entra ID answers it, plus the
 * refresh_token grant that keeps a signed-in command line going, and the control call that
 * plays the person who types the code in a browser (POST /_sim/deviceCodes/approve|decline).
 * Source for every rule below unless another is named:
 * https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/clock.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define DC_MAX 64
#define RT_MAX 128
#define DEVICE_CODE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

/* v2-oauth2-device-code, "Device authorization response": interval defaults to 5 seconds and
 * codes live 15 minutes (expires_in 900). PUT /_sim/config shortens both for tests. */
int sim_devicecode_interval_s = 5, sim_devicecode_lifetime_s = 900;

enum dc_state { DC_FREE, DC_PENDING, DC_APPROVED, DC_DECLINED, DC_REDEEMED };

struct dc {
    enum dc_state state;
    char device_code[UUID_STR_LEN * 2 + 8];
    char user_code[16];
    char client_id[64];
    char *scope;
    int64_t expires_ms, next_poll_ms;
    json_t *user; /* {"oid","upn","name","roles","expiresIn"} once approved */
};

struct rt {
    char token[UUID_STR_LEN * 2 + 8];
    char client_id[64];
    char *scope;
    json_t *user;
};

static struct dc codes[DC_MAX];
static struct rt refresh[RT_MAX];
static unsigned next_code, next_rt;

void sim_devicecode_reset(void)
{
    for (size_t i = 0; i < DC_MAX; i++) {
        free(codes[i].scope);
        json_decref(codes[i].user);
    }
    for (size_t i = 0; i < RT_MAX; i++) {
        free(refresh[i].scope);
        json_decref(refresh[i].user);
    }
    memset(codes, 0, sizeof(codes));
    memset(refresh, 0, sizeof(refresh));
}

/* "ABCD-EFGH"-like codes people can type: letters without I and O (the docs' sample user_code
 * is 8-9 upper-case letters and digits). */
static void user_code(char out[16])
{
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    char u[UUID_STR_LEN];

    uuid_v4(u);
    for (int i = 0; i < 9; i++)
        out[i] = alphabet[(unsigned char)u[i * 3] % (sizeof(alphabet) - 1)];
    out[9] = '\0';
}

static struct dc *code_by(const char *device, const char *user)
{
    for (size_t i = 0; i < DC_MAX; i++) {
        struct dc *c = &codes[i];
        if (c->state == DC_FREE)
            continue;
        if (device != NULL && strcmp(c->device_code, device) == 0)
            return c;
        if (user != NULL && sim_ieq(c->user_code, user))
            return c;
    }
    return NULL;
}

/* POST /{tenant}/oauth2/v2.0/devicecode, form client_id + scope (docs: "Device authorization
 * request"); answers device_code, user_code, verification_uri, expires_in, interval, message. */
void sim_devicecode_start(struct sim_req *r)
{
    char *client = sim_form_get(r->body, "client_id");
    char *scope = sim_form_get(r->body, "scope");
    struct dc *c = &codes[next_code++ % DC_MAX];
    char u[UUID_STR_LEN], v[UUID_STR_LEN];
    char *uri, *msg;

    if (!sim_tenant_ok(r->segs[0])) {
        sim_aadsts(r, 400, "invalid_request", 90002, "Tenant '%s' not found.", r->segs[0]);
        goto out;
    }
    if (client == NULL || scope == NULL) {
        sim_aadsts(r, 400, "invalid_request", 900144,
                   "The request body must contain the following parameter: '%s'.",
                   client == NULL ? "client_id" : "scope");
        goto out;
    }
    free(c->scope);
    json_decref(c->user);
    memset(c, 0, sizeof(*c));
    uuid_v4(u);
    uuid_v4(v);
    snprintf(c->device_code, sizeof(c->device_code), "DAQAB%s%s", u, v);
    user_code(c->user_code);
    snprintf(c->client_id, sizeof(c->client_id), "%s", client);
    c->scope = xstrdup(scope);
    c->state = DC_PENDING;
    c->expires_ms = clock_now_ms() + (int64_t)sim_devicecode_lifetime_s * 1000;
    c->next_poll_ms = 0;
    uri = sim_url(r, "/devicelogin");
    msg = xasprintf("To sign in, use a web browser to open the page %s and enter the code %s to "
                    "authenticate.",
                    uri, c->user_code);
    sim_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "device_code", c->device_code,
                             "user_code", c->user_code, "verification_uri", uri, "expires_in",
                             sim_devicecode_lifetime_s, "interval", sim_devicecode_interval_s,
                             "message", msg));
    free(uri);
    free(msg);
out:
    free(client);
    free(scope);
}

/* The audience of a v2 scope list: the resource of its first scope that is not an OpenID one
 * ("api://x/.default offline_access" -> "api://x"), and the delegated permission names. */
static void scope_parts(const char *scope, char *aud, size_t acap, char *scp, size_t scap)
{
    char *copy = xstrdup(scope), *save = NULL;

    aud[0] = scp[0] = '\0';
    for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        char *slash = strrchr(w, '/');
        if (slash == NULL || strncmp(w, "https://graph", 13) == 0)
            continue; /* openid, profile, offline_access */
        if (aud[0] == '\0')
            snprintf(aud, acap, "%.*s", (int)(slash - w), w);
        if (strcmp(slash + 1, ".default") != 0)
            snprintf(scp + strlen(scp), scap - strlen(scp), "%s%s", scp[0] ? " " : "", slash + 1);
    }
    if (scp[0] == '\0')
        snprintf(scp, scap, "user_impersonation");
    free(copy);
}

/* A refresh token is issued only when the scope asks for offline_access (docs: "Successful
 * authentication response", refresh_token: "Issued if the original scope parameter included
 * offline_access"). */
static char *issue_refresh(const char *client, const char *scope, const json_t *user)
{
    struct rt *t;
    char u[UUID_STR_LEN], v[UUID_STR_LEN];

    if (strstr(scope, "offline_access") == NULL)
        return NULL;
    t = &refresh[next_rt++ % RT_MAX];
    free(t->scope);
    json_decref(t->user);
    uuid_v4(u);
    uuid_v4(v);
    snprintf(t->token, sizeof(t->token), "0.AR%s.%s", u, v);
    snprintf(t->client_id, sizeof(t->client_id), "%s", client);
    t->scope = xstrdup(scope);
    t->user = json_deep_copy(user);
    return xstrdup(t->token);
}

/* A delegated access token for user (claims as access-token-claims-reference lists them for a
 * user: oid, pairwise sub, upn, name, scp, azp, idtyp user; app roles the user holds in roles). */
void sim_user_tokens(struct sim_req *r, const char *client, const char *scope, const json_t *user)
{
    int64_t now = clock_now_ms() / 1000;
    json_int_t life = json_integer_value(json_object_get(user, "expiresIn"));
    char aud[256], scp[256], uti[UUID_STR_LEN];
    char *iss = sim_url(r, "/%s/v2.0", S.tenant);
    const char *oid = json_string_value(json_object_get(user, "oid"));
    char sub[80];
    json_t *c, *body;
    char *tok, *rt;

    if (life <= 0)
        life = 3599;
    scope_parts(scope, aud, sizeof(aud), scp, sizeof(scp));
    uuid_v4(uti);
    snprintf(sub, sizeof(sub), "pw-%s", oid ? oid : "");
    c = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "aud",
                  aud, "iss", iss, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                  (json_int_t)(now + life), "tid", S.tenant, "oid", oid ? oid : "", "sub", sub,
                  "azp", client, "idtyp", "user", "scp", scp, "uti", uti, "ver", "2.0", "upn",
                  json_string_value(json_object_get(user, "upn")));
    if (json_is_string(json_object_get(user, "name")))
        json_object_set(c, "name", json_object_get(user, "name"));
    if (json_array_size(json_object_get(user, "roles")) > 0)
        json_object_set(c, "roles", json_object_get(user, "roles"));
    tok = sim_token_sign(c, NULL);
    body = json_pack("{s:s, s:s, s:I, s:I, s:s}", "token_type", "Bearer", "scope", scope,
                     "expires_in", life, "ext_expires_in", life, "access_token", tok);
    rt = issue_refresh(client, scope, user);
    if (rt != NULL)
        json_object_set_new(body, "refresh_token", json_string(rt));
    sim_reply_json(r, 200, body);
    snprintf(r->client, sizeof(r->client), "%s", oid ? oid : "");
    free(rt);
    free(tok);
    free(iss);
}

/* The token request with grant_type DEVICE_CODE_GRANT (docs: "Authenticating the user"): while
 * the person has not finished, authorization_pending; polling faster than interval, slow_down
 * (RFC 8628 3.5, which the docs' error table follows); declined, authorization_declined; past
 * expires_in, expired_token; an unknown code, bad_verification_code. Each code redeems once. */
static void device_token(struct sim_req *r, const char *client, const char *device)
{
    int64_t now = clock_now_ms();
    struct dc *c = device ? code_by(device, NULL) : NULL;

    if (c == NULL || c->state == DC_REDEEMED || client == NULL ||
        strcmp(client, c->client_id) != 0) {
        sim_aadsts(r, 400, "bad_verification_code", 70018,
                   "The device_code is unknown, was already used or belongs to another client.");
        return;
    }
    if (now >= c->expires_ms) {
        sim_aadsts(r, 400, "expired_token", 70019,
                   "Verification code expired. Have the user retry the sign-in.");
        return;
    }
    if (c->state == DC_DECLINED) {
        sim_aadsts(r, 400, "authorization_declined", 70000,
                   "The end user denied the authorization request.");
        return;
    }
    if (c->state == DC_PENDING) {
        bool early = now < c->next_poll_ms;
        c->next_poll_ms = now + (int64_t)sim_devicecode_interval_s * 1000 - 100;
        if (early)
            sim_aadsts(r, 400, "slow_down", 70016,
                       "The client polls faster than the interval; wait longer between polls.");
        else
            sim_aadsts(r, 400, "authorization_pending", 70016,
                       "OAuth 2.0 device flow error. Authorization is pending. Continue polling.");
        return;
    }
    c->state = DC_REDEEMED;
    sim_user_tokens(r, c->client_id, c->scope, c->user);
}

/* grant_type=refresh_token with client_id, refresh_token and scope
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token):
 * a fresh access token and a new refresh token; an unknown one is invalid_grant. */
static void refresh_token(struct sim_req *r, const char *client, const char *token)
{
    for (size_t i = 0; token != NULL && client != NULL && i < RT_MAX; i++) {
        struct rt *t = &refresh[i];
        if (t->token[0] == '\0' || strcmp(t->token, token) != 0 ||
            strcmp(t->client_id, client) != 0)
            continue;
        char *scope = xstrdup(t->scope);
        json_t *user = json_incref(t->user);
        t->token[0] = '\0'; /* rotated: each refresh token is used once here */
        sim_user_tokens(r, client, scope, user);
        json_decref(user);
        free(scope);
        return;
    }
    sim_aadsts(r, 400, "invalid_grant", 9002313,
               "Invalid request. The refresh token is malformed, expired or was already used.");
}

bool sim_devicecode_token(struct sim_req *r, const char *grant)
{
    char *client, *code;

    if (grant == NULL || (strcmp(grant, DEVICE_CODE_GRANT) != 0 && strcmp(grant, "refresh_token")))
        return false;
    client = sim_form_get(r->body, "client_id");
    if (strcmp(grant, DEVICE_CODE_GRANT) == 0) {
        code = sim_form_get(r->body, "device_code");
        device_token(r, client, code);
    } else {
        code = sim_form_get(r->body, "refresh_token");
        refresh_token(r, client, code);
    }
    free(code);
    free(client);
    return true;
}

/* The user the control call signs in as: a user of the scenario by upn (or oid), with the app
 * roles the body lists (the app role assignments of the vmlogind API the person holds). */
static json_t *approving_user(struct sim_req *r, const json_t *b)
{
    const char *upn = json_string_value(json_object_get(b, "upn"));
    const char *oid = json_string_value(json_object_get(b, "oid"));
    struct sim_principal *p = NULL;
    json_t *u;

    if (upn != NULL) {
        char *k = sim_lc(upn);
        p = sim_map_get(&S.user_by_upn, k);
        free(k);
    } else if (oid != NULL) {
        p = sim_principal_get(oid);
    }
    if (p == NULL || p->kind != PR_USER) {
        sim_reply_json(r, 404, json_pack("{s:s}", "error", "no such user (give upn or oid)"));
        return NULL;
    }
    u = json_pack("{s:s, s:s, s:s?}", "oid", p->id, "upn", p->upn ? p->upn : "", "name",
                  p->display_name);
    json_object_set_new(u, "roles",
                        json_is_array(json_object_get(b, "roles"))
                            ? json_deep_copy(json_object_get(b, "roles"))
                            : json_array());
    if (json_is_integer(json_object_get(b, "expiresIn")))
        json_object_set(u, "expiresIn", json_object_get(b, "expiresIn"));
    return u;
}

void sim_devicecode_control(struct sim_req *r)
{
    json_t *b = sim_body_json(r);
    bool approve = sim_seg_is(r, 2, "approve");
    const char *code = json_string_value(json_object_get(b, "userCode"));
    struct dc *c = code ? code_by(NULL, code) : NULL;

    if (c == NULL || c->state != DC_PENDING) {
        sim_reply_json(r, 404,
                       json_pack("{s:s}", "error", "no pending device code with that userCode"));
        json_decref(b);
        return;
    }
    if (approve) {
        json_t *u = approving_user(r, b);
        if (u == NULL) {
            json_decref(b);
            return;
        }
        c->user = u;
        c->state = DC_APPROVED;
    } else {
        c->state = DC_DECLINED;
    }
    sim_reply_json(r, 200,
                   json_pack("{s:s, s:s}", "userCode", c->user_code, "state",
                             approve ? "approved" : "declined"));
    json_decref(b);
}
