/* api_me.c: GET /v1/me, the authenticated caller as the server sees it: subject, kind, role,
 * scopes and grant limits. A page hides what the caller may not do; the server refuses it
 * anyway. Nothing secret: no key, no token. */
#include "vmlogind/api.h"
#include "vmlogind/auth.h"

static const char *kind_name(enum auth_kind k)
{
    switch (k) {
    case AUTH_KIND_KEY:
        return "apiKey";
    case AUTH_KIND_USER:
        return "user";
    case AUTH_KIND_APP:
        return "application";
    }
    return "unknown";
}

static json_t *limits_json(const struct auth_limits *l)
{
    json_t *roles = json_array();

    if (l->grant_roles & AUTH_GRANT_USER)
        json_array_append_new(roles, json_string("user"));
    if (l->grant_roles & AUTH_GRANT_ADMINISTRATOR)
        json_array_append_new(roles, json_string("administrator"));
    return json_pack("{s:o, s:s?}", "loginRoles", roles, "memberOf",
                     l->member_of[0] != '\0' ? l->member_of : NULL);
}

void api_me_get(struct http_request *req)
{
    const struct auth_caller *c = api_caller(req);
    json_t *scopes = json_array();

    for (size_t i = 0; i < c->nscopes; i++)
        json_array_append_new(scopes, json_string(c->scopes[i]));
    http_reply_json(req, 200,
                    json_pack("{s:s, s:s, s:s, s:o, s:b, s:o}", "subject", c->subject, "kind",
                              kind_name(c->kind), "role", auth_role_name(c->role), "scopes", scopes,
                              "unlimited", c->nscopes == 0, "grantLimits",
                              limits_json(&c->limits)));
}
