/* Entra callers held to scopes and grant limits: `vmlogind identities limit` names a JWT
 * subject (a user's object id or an application's id) and the scopes and grant limits it is
 * held to, like an API key's. The same token is allowed before the limit, refused outside it
 * while it stands (scope_forbidden, principal_type_forbidden, the audit log), and allowed again
 * after `identities unlimit`; each change is audited and the chain still verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG_ENTRA "/subscriptions/" SUB "/resourceGroups/rg-entra"
#define RG_DEV "/subscriptions/7a1e9c44-0000-4000-8000-00000000cccc/resourceGroups/rg-dev"
#define OPERATOR_OID "6b7c8d9e-0000-4000-8000-00000000e0e1"
#define ADMIN_APP "0a1b2c3d-0000-4000-8000-00000000c0de"
#define LIMITED_APP "0a1b2c3d-0000-4000-8000-00000000c0df"
#define VM_ADMINS "9a8b7c6d-0000-4000-8000-00000000f001"
#define NEW_USER "6b7c8d9e-0000-4000-8000-00000000d0f1"

static struct sim S;
static struct daemon D;
static char *operator_token, *admin_token;

static char *mint(const char *body_json)
{
    char url[512];
    struct resp r;
    char *tok;

    snprintf(url, sizeof(url), "%s/_sim/tokens", S.p.url);
    assert_int_equal(h_http("POST", url, body_json, NULL, &r), 200);
    tok = strdup(h_jstr(r.json, "access_token"));
    h_resp_cleanup(&r);
    assert_true(tok != NULL && tok[0] != '\0');
    return tok;
}

/* POST /v1/loginGrants of user login to principal at scope as token, expecting status want and,
 * when code is not NULL, that problem code. */
static void grant(const char *token, const char *scope, const char *principal, long want,
                  const char *code)
{
    char body[512];
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"user\",\"principal\":%s,\"justification\":\"t\"}", scope,
             principal);
    j = h_api(D.p.url, token, "POST", "/v1/loginGrants", body, want);
    if (code != NULL)
        assert_string_equal(h_jstr(j, "code"), code);
    json_decref(j);
}

#define CAROL "{\"upn\":\"carol@contoso.example\"}"
#define VM_USERS "{\"objectId\":\"9a8b7c6d-0000-4000-8000-00000000f003\",\"type\":\"group\"}"

static int run(const char *const args[], char **out)
{
    return h_daemon_run(&D, args, out);
}

static int setup(void **state)
{
    (void)state;
    if (AZSIM_BIN[0] == '\0')
        return 0;
    assert_true(h_sim_start(&S, H_DEMO_SCENARIO, NULL));
    assert_true(h_daemon_start_for_sim(&D, &S, NULL));
    operator_token = mint("{\"aud\":\"" H_API_AUDIENCE "\",\"upn\":\"ops@contoso.example\","
                          "\"oid\":\"" OPERATOR_OID "\",\"roles\":[\"VmLogin.Operator\"]}");
    admin_token = mint("{\"aud\":\"" H_API_AUDIENCE "\",\"appid\":\"" ADMIN_APP "\","
                       "\"roles\":[\"VmLogin.Administrator\"]}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (AZSIM_BIN[0] == '\0')
        return 0;
    assert_int_equal(h_daemon_stop(&D), 0);
    h_sim_stop(&S);
    free(operator_token);
    free(admin_token);
    return 0;
}

static void test_user_held_to_a_resource_group(void **state)
{
    const char *limit[] = {"identities",
                           "limit",
                           "--subject",
                           "user:" OPERATOR_OID,
                           "--scope",
                           RG_DEV,
                           "--grant-principal-types",
                           "group",
                           NULL};
    const char *unlimit[] = {"identities", "unlimit", "--subject", "user:" OPERATOR_OID, NULL};
    const char *list[] = {"identities", "list", NULL};
    char *out = NULL;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    /* unlimited: held only by the operator role */
    grant(operator_token, RG_ENTRA, CAROL, 202, NULL);

    assert_int_equal(run(limit, &out), 0);
    free(out);
    assert_int_equal(run(list, &out), 0);
    assert_non_null(strstr(out, "user:" OPERATOR_OID));
    assert_non_null(strstr(out, "rg-dev"));
    free(out);
    /* the next request is held, no restart needed */
    grant(operator_token, RG_ENTRA, VM_USERS, 403, "scope_forbidden");
    grant(operator_token, RG_DEV, CAROL, 403, "principal_type_forbidden");
    grant(operator_token, RG_DEV, VM_USERS, 202, NULL);

    assert_int_equal(run(unlimit, &out), 0);
    free(out);
    grant(operator_token, RG_ENTRA, VM_USERS, 202, NULL);
    assert_int_equal(run(unlimit, &out), 1); /* nothing left to remove */
    free(out);
}

static void test_app_limited_loses_the_audit_log(void **state)
{
    const char *limit[] = {"identities", "limit", "--subject", "app:" ADMIN_APP,
                           "--scope",    RG_DEV,  NULL};
    json_t *log, *e;
    size_t i;
    int limits = 0, unlimits = 0;
    char *out = NULL;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    json_decref(h_api(D.p.url, admin_token, "GET", "/v1/audit?limit=1", NULL, 200));
    assert_int_equal(run(limit, &out), 0);
    free(out);
    /* the log spans every scope: a scope-limited administrator may not read it */
    json_decref(h_api(D.p.url, admin_token, "GET", "/v1/audit?limit=1", NULL, 403));
    {
        const char *unlimit[] = {"identities", "unlimit", "--subject", "app:" ADMIN_APP, NULL};
        assert_int_equal(run(unlimit, &out), 0);
        free(out);
    }
    log = h_api(D.p.url, admin_token, "GET", "/v1/audit?limit=1000", NULL, 200);
    json_array_foreach(json_object_get(log, "value"), i, e)
    {
        limits += strcmp(h_jstr(e, "action"), "identity.limit") == 0;
        unlimits += strcmp(h_jstr(e, "action"), "identity.unlimit") == 0;
    }
    json_decref(log);
    assert_true(limits >= 2);
    assert_true(unlimits >= 2);
    {
        const char *verify[] = {"audit", "verify", NULL};
        assert_int_equal(run(verify, &out), 0);
        free(out);
    }
}

/* Entra sends idtyp only as an optional claim: an app token without it is still an app, held
 * to its app: limits (no audit log, no login enabled outside its scope); and a user calling
 * through that application is held to the application's limits too. */
static void test_app_without_idtyp_is_held(void **state)
{
    const char *limit[] = {"identities", "limit", "--subject", "app:" LIMITED_APP,
                           "--scope",    RG_DEV,  NULL};
    const char *unlimit[] = {"identities", "unlimit", "--subject", "app:" LIMITED_APP, NULL};
    char *app, *user, *out = NULL;
    json_t *j;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    app = mint("{\"aud\":\"" H_API_AUDIENCE "\",\"appid\":\"" LIMITED_APP "\",\"idtyp\":null,"
               "\"roles\":[\"VmLogin.Administrator\"]}");
    user = mint("{\"aud\":\"" H_API_AUDIENCE
                "\",\"upn\":\"ops@contoso.example\",\"azp\":\"" LIMITED_APP
                "\",\"idtyp\":null,\"roles\":[\"VmLogin.Administrator\"]}");
    assert_int_equal(run(limit, &out), 0);
    free(out);
    j = h_api(D.p.url, app, "GET", "/v1/audit?limit=1", NULL, 403);
    assert_string_equal(h_jstr(j, "code"), "scope_forbidden");
    json_decref(j);
    j = h_api(D.p.url, app, "PUT", "/v1" RG_ENTRA "/entraLogin", "{}", 403);
    assert_string_equal(h_jstr(j, "code"), "scope_forbidden");
    json_decref(j);
    grant(app, RG_ENTRA, CAROL, 403, "scope_forbidden");
    json_decref(h_api(D.p.url, app, "GET", "/v1" RG_DEV "/entraLogin", NULL, 200));
    /* the user is held through the application it calls with */
    json_decref(h_api(D.p.url, user, "GET", "/v1/audit?limit=1", NULL, 403));
    j = h_api(D.p.url, user, "PUT", "/v1" RG_ENTRA "/entraLogin", "{}", 403);
    assert_string_equal(h_jstr(j, "code"), "scope_forbidden");
    json_decref(j);
    assert_int_equal(run(unlimit, &out), 0);
    free(out);
    json_decref(h_api(D.p.url, app, "GET", "/v1/audit?limit=1", NULL, 200));
    json_decref(h_api(D.p.url, user, "GET", "/v1/audit?limit=1", NULL, 200));
    free(app);
    free(user);
}

/* A portal's backend calling on a person's behalf (a delegated token: scp, her app roles, the
 * portal's azp) acts as her, and the audit row names both: "user:<oid> via app:<appid>". */
static void test_on_behalf_of_audited_with_both(void **state)
{
    char *user;
    json_t *log, *e;
    size_t i;
    bool found = false;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    user = mint("{\"aud\":\"" H_API_AUDIENCE "\",\"upn\":\"ops@contoso.example\",\"scp\":"
                "\"user_impersonation\",\"azp\":\"" LIMITED_APP
                "\",\"roles\":[\"VmLogin.Administrator\"]}");
    json_decref(h_api(D.p.url, user, "PUT", "/v1" RG_DEV "/entraLogin", "{}", 202));
    log = h_api(D.p.url, user, "GET", "/v1/audit?limit=1000", NULL, 200);
    json_array_foreach(json_object_get(log, "value"), i, e)
    {
        const char *actor = h_jstr(e, "actor");
        if (strncmp(actor, "user:", 5) == 0 && strstr(actor, " via app:" LIMITED_APP) != NULL &&
            strstr(h_jstr(e, "target"), "rg-dev") != NULL)
            found = true;
    }
    json_decref(log);
    assert_true(found);
    free(user);
}

/* GET /v1/loginGrants/{id} until its state is final; the answer (new reference). */
static json_t *settled(const char *token, const json_t *g)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/loginGrants/%s", h_jstr(g, "id"));
    return h_wait_field(D.p.url, token, path, "state", "active|failed", 30000);
}

static json_t *grant_json(const char *token, const char *scope, const char *principal)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"user\",\"principal\":%s,\"justification\":\"t\"}", scope,
             principal);
    return h_api(D.p.url, token, "POST", "/v1/loginGrants", body, 202);
}

/* --grant-member-of a group the store knows no members of (it holds no assignment): its direct
 * members are granted (the reconciler asks Graph), others end failed principal_not_member.
 * --grant-principal-types judges the directory's type, not the type the caller claims. */
static void test_delegation_checked_in_the_directory(void **state)
{
    const char *member_of[] = {"identities",         "limit",   "--subject",
                               "user:" OPERATOR_OID, "--scope", RG_ENTRA,
                               "--grant-member-of",  VM_ADMINS, NULL};
    const char *groups_only[] = {"identities",
                                 "limit",
                                 "--subject",
                                 "user:" OPERATOR_OID,
                                 "--scope",
                                 RG_ENTRA,
                                 "--grant-principal-types",
                                 "group",
                                 NULL};
    const char *unlimit[] = {"identities", "unlimit", "--subject", "user:" OPERATOR_OID, NULL};
    char url[512];
    struct resp r;
    json_t *g, *done;
    char *out = NULL;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    assert_int_equal(run(member_of, &out), 0);
    free(out);
    /* alice is a direct member of VM Admins (no assignment, so not in the store's members) */
    g = grant_json(operator_token, RG_ENTRA, "{\"upn\":\"alice@contoso.example\"}");
    done = settled(operator_token, g);
    assert_string_equal(h_jstr(done, "state"), "active");
    json_decref(done);
    json_decref(g);
    /* bob is not a member: accepted, then failed before anything reached Azure */
    g = grant_json(operator_token, RG_ENTRA, "{\"upn\":\"bob@contoso.example\"}");
    done = settled(operator_token, g);
    assert_string_equal(h_jstr(done, "state"), "failed");
    assert_string_equal(h_jstr(json_object_get(done, "error"), "code"), "principal_not_member");
    json_decref(done);
    json_decref(g);
    /* a user the sync has not seen, claimed to be a group */
    snprintf(url, sizeof(url), "%s/_sim/users", S.p.url);
    assert_int_equal(h_http("POST", url,
                            "{\"id\":\"" NEW_USER
                            "\",\"userPrincipalName\":\"frank@contoso.example\","
                            "\"displayName\":\"Frank New\"}",
                            NULL, &r),
                     201);
    h_resp_cleanup(&r);
    assert_int_equal(run(groups_only, &out), 0);
    free(out);
    g = grant_json(operator_token, RG_ENTRA, "{\"objectId\":\"" NEW_USER "\",\"type\":\"group\"}");
    done = settled(operator_token, g);
    assert_string_equal(h_jstr(done, "state"), "failed");
    assert_string_equal(h_jstr(json_object_get(done, "error"), "code"), "principal_type_forbidden");
    json_decref(done);
    json_decref(g);
    assert_int_equal(run(unlimit, &out), 0);
    free(out);
}

static void test_bad_limits_refused(void **state)
{
    const char *bad_subject[] = {"identities", "limit", "--subject", "bob@contoso.example",
                                 "--scope",    RG_DEV,  NULL};
    const char *bad_scope[] = {"identities", "limit",
                               "--subject",  "user:" OPERATOR_OID,
                               "--scope",    "/providers/Microsoft.Management/managementGroups/x",
                               NULL};
    const char *bad_flag[] = {"identities", "limit",  "--subject", "user:" OPERATOR_OID,
                              "--role",     "reader", NULL};
    const char *list[] = {"identities", "list", NULL};
    char *out = NULL;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    assert_int_equal(run(bad_subject, &out), 1);
    free(out);
    assert_int_equal(run(bad_scope, &out), 1);
    free(out);
    assert_int_equal(run(bad_flag, &out), 2);
    free(out);
    assert_int_equal(run(list, &out), 0);
    assert_null(strstr(out, OPERATOR_OID)); /* nothing was stored */
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_held_to_a_resource_group),
        cmocka_unit_test(test_app_limited_loses_the_audit_log),
        cmocka_unit_test(test_app_without_idtyp_is_held),
        cmocka_unit_test(test_on_behalf_of_audited_with_both),
        cmocka_unit_test(test_delegation_checked_in_the_directory),
        cmocka_unit_test(test_bad_limits_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
