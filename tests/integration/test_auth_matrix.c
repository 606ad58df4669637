/* test_auth_matrix.c: every route of the table (vmlogind --list-routes, with each route's
 * permission from --list-permissions) x every kind of caller, with the exact status: 401 for
 * anonymous and each bad token (expired, wrong audience, wrong issuer, bad signature, alg none,
 * unknown kid) on every non-public route; a reader 403 on what needs more and never 401/403 on
 * reads; an operator key limited to one resource group 403 outside it and on admin routes; an
 * administrator never refused. Tokens come from azsim. At the end the daemon's whole log is
 * searched for every token and key used: none may appear. Also: per-caller rate limits; and a
 * caller limited to one resource group (an API key, and an Entra app token without idtyp held
 * by `identities limit`) reads every GET route of the table: no part of any answer (value[],
 * nested arrays, counts, nextLink cursors, error details) names anything outside its scope. */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "harness.h"
#include "test_sync_common.h"
#include "vmlogind/jose.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define RG_IN "rg-entra"
#define RG_OUT "rg-elsewhere"
#define ANY_ID "00000000-0000-4000-8000-0000000000f1"
#define MAX_ROUTES 128
#define MAX_SECRETS 32

struct route_row {
    char method[8];
    char pattern[256];
    char perm[16];
};

struct bad_caller {
    const char *name;
    char *token; /* NULL: no Authorization header */
    const char *code;
};

static struct route_row routes[MAX_ROUTES];
static size_t nroutes;
static const char *secrets[MAX_SECRETS];
static size_t nsecrets;

static void remember(const char *s)
{
    assert_true(nsecrets < MAX_SECRETS);
    secrets[nsecrets++] = s;
}

/* The route table, with permissions, from the binary itself. */
static void load_routes(void)
{
    FILE *f = popen("'" VMLOGIND_BIN "' --list-permissions", "r");
    char line[512];

    assert_non_null(f);
    nroutes = 0;
    while (fgets(line, sizeof(line), f) != NULL && nroutes < MAX_ROUTES) {
        struct route_row *r = &routes[nroutes];
        if (sscanf(line, "%7s %255s %15s", r->method, r->pattern, r->perm) == 3)
            nroutes++;
    }
    assert_int_equal(pclose(f), 0);
    assert_true(nroutes > 0);
    /* --list-routes is the same table */
    f = popen("'" VMLOGIND_BIN "' --list-routes", "r");
    assert_non_null(f);
    for (size_t i = 0; fgets(line, sizeof(line), f) != NULL; i++) {
        char m[8], p[256];
        assert_true(i < nroutes);
        assert_int_equal(sscanf(line, "%7s %255s", m, p), 2);
        assert_string_equal(m, routes[i].method);
        assert_string_equal(p, routes[i].pattern);
    }
    assert_int_equal(pclose(f), 0);
}

/* The pattern with plausible values: the segment before a {param} says what it is. */
static void fill(const char *pattern, const char *rg, char *out, size_t cap)
{
    const char *p = pattern;
    char prev[64] = "";
    size_t o = 0;

    while (*p != '\0' && o + 1 < cap) {
        size_t n;
        const char *val;
        p++; /* '/' */
        n = strcspn(p, "/");
        if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
            if (strcasecmp(prev, "subscriptions") == 0)
                val = SUB;
            else if (strcasecmp(prev, "resourceGroups") == 0)
                val = rg;
            else if (strcasecmp(prev, "virtualMachines") == 0)
                val = "vm-auth-1";
            else
                val = ANY_ID;
            o += (size_t)snprintf(out + o, cap - o, "/%s", val);
        } else {
            o += (size_t)snprintf(out + o, cap - o, "/%.*s", (int)n, p);
        }
        snprintf(prev, sizeof(prev), "%.*s", (int)(n < 63 ? n : 63), p);
        p += n;
    }
}

static bool is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

static long call(const struct daemon *d, const struct route_row *rt, const char *path,
                 const char *token, struct resp *r)
{
    char url[1024 + 128]; /* base URL + a path of up to 1024 */
    const char *hdrs[3] = {NULL, NULL, NULL};

    assert_true(snprintf(url, sizeof(url), "%s%s", d->p.url, path) < (int)sizeof(url));
    if (token != NULL)
        hdrs[0] = h_bearer(token);
    /* GET /v1/events streams until the client leaves: a malformed Last-Event-ID makes its
     * handler answer 400 at once, after the authentication and role checks this test is about */
    if (strcmp(rt->pattern, "/v1/events") == 0)
        hdrs[token != NULL ? 1 : 0] = "Last-Event-ID: not-an-id";
    return h_http(rt->method, url, is_write(rt->method) ? "{}" : NULL, hdrs, r);
}

/* A token from azsim's control API. claims_json is merged into the request body. */
static char *mint(const struct sim *s, const char *body_json)
{
    char url[512];
    struct resp r;
    char *tok;

    snprintf(url, sizeof(url), "%s/_sim/tokens", s->p.url);
    assert_int_equal(h_http("POST", url, body_json, NULL, &r), 200);
    tok = strdup(json_string_value(json_object_get(r.json, "access_token")));
    h_resp_cleanup(&r);
    assert_non_null(tok);
    remember(tok);
    return tok;
}

/* "h.p.s" -> parts; returns a new string built from pieces of two tokens or a new header. */
static char *splice(const char *header_of, const char *payload_of, const char *sig_of)
{
    const char *p1 = strchr(payload_of, '.');
    const char *p2 = strrchr(payload_of, '.');
    const char *s = strrchr(sig_of, '.');
    char *out;

    if (asprintf(&out, "%.*s.%.*s%s", (int)strcspn(header_of, "."), header_of, (int)(p2 - p1 - 1),
                 p1 + 1, s) < 0)
        abort();
    remember(out);
    return out;
}

static char *alg_none(const char *token)
{
    static const char hdr[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *h = b64url_encode(hdr, strlen(hdr));
    const char *p1 = strchr(token, '.');
    const char *p2 = strrchr(token, '.');
    char *out;

    if (asprintf(&out, "%s.%.*s.", h, (int)(p2 - p1 - 1), p1 + 1) < 0)
        abort();
    free(h);
    remember(out);
    return out;
}

static const char *problem_code(const struct resp *r)
{
    const char *c = json_string_value(json_object_get(r->json, "code"));
    return c ? c : "";
}

static void check_bad_callers(const struct daemon *d, const struct bad_caller *bad, size_t nbad)
{
    for (size_t i = 0; i < nroutes; i++) {
        char path[1024];
        fill(routes[i].pattern, RG_IN, path, sizeof(path));
        for (size_t k = 0; k < nbad; k++) {
            struct resp r;
            char www[256];
            long st = call(d, &routes[i], path, bad[k].token, &r);
            if (strcmp(routes[i].perm, "public") == 0) {
                if (st == 401 || st == 403)
                    fail_msg("%s %s as %s: %ld on a public route", routes[i].method, path,
                             bad[k].name, st);
            } else {
                if (st != 401)
                    fail_msg("%s %s as %s: %ld, want 401", routes[i].method, path, bad[k].name, st);
                if (strcmp(problem_code(&r), bad[k].code) != 0)
                    fail_msg("%s %s as %s: code %s, want %s", routes[i].method, path, bad[k].name,
                             problem_code(&r), bad[k].code);
                assert_true(h_resp_header(&r, "WWW-Authenticate", www, sizeof(www)));
                assert_int_equal(strncmp(www, "Bearer", 6), 0);
            }
            h_resp_cleanup(&r);
        }
    }
}

/* want: 0 = anything but 401/403, else the exact status. */
static void expect(const struct daemon *d, const struct route_row *rt, const char *path,
                   const char *who, const char *token, long want)
{
    struct resp r;
    long st = call(d, rt, path, token, &r);

    if (want == 0 && (st == 401 || st == 403 || st == 0))
        fail_msg("%s %s as %s: %ld (%s), want neither 401 nor 403", rt->method, path, who, st,
                 problem_code(&r));
    if (want != 0 && st != want)
        fail_msg("%s %s as %s: %ld (%s), want %ld", rt->method, path, who, st, problem_code(&r),
                 want);
    h_resp_cleanup(&r);
}

static long perm_rank(const char *perm)
{
    if (strcmp(perm, "read") == 0)
        return 1;
    if (strcmp(perm, "operate") == 0)
        return 2;
    if (strcmp(perm, "admin") == 0)
        return 3;
    return 0;
}

static void check_good_callers(const struct daemon *d, const char *reader, const char *op_rg,
                               const char *admin)
{
    for (size_t i = 0; i < nroutes; i++) {
        const struct route_row *rt = &routes[i];
        long need = perm_rank(rt->perm);
        bool scoped = strncasecmp(rt->pattern, "/v1/subscriptions/", 18) == 0;
        bool has_rg = strstr(rt->pattern, "/resourceGroups/") != NULL;
        char in[1024], out[1024];

        fill(rt->pattern, RG_IN, in, sizeof(in));
        fill(rt->pattern, RG_OUT, out, sizeof(out));
        /* reader: reads pass, anything more is 403 */
        expect(d, rt, in, "reader", reader, need <= 1 ? 0 : 403);
        /* operator limited to RG_IN */
        if (need == 3)
            expect(d, rt, in, "operator@rg", op_rg, 403);
        if (need >= 1 && need <= 2 && scoped) {
            expect(d, rt, out, "operator@rg", op_rg, 403);
            expect(d, rt, in, "operator@rg", op_rg, has_rg ? 0 : 403);
        }
        if (need == 0 || (need <= 2 && !scoped)) {
            struct resp r;
            long st = call(d, rt, in, op_rg, &r);
            if (st == 401 || st == 0)
                fail_msg("%s %s as operator@rg: %ld", rt->method, in, st);
            h_resp_cleanup(&r);
        }
        /* administrator: never refused */
        expect(d, rt, in, "administrator", admin, 0);
    }
}

static void test_matrix(void **state)
{
    struct sim s;
    struct daemon d;
    char reader_key[128], op_key[128], *log;
    const char *rg_scope[] = {"/subscriptions/" SUB "/resourceGroups/" RG_IN, NULL};
    char *admin, *reader, *expired, *wrong_aud, *wrong_iss, *bad_sig, *none, *unknown_kid;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    load_routes();
    assert_true(h_sim_start(&s, H_DEMO_SCENARIO, NULL));
    assert_true(h_daemon_start_for_sim(&d, &s, "rate_limit_rps = 10000\nrate_limit_burst = 10000"));

    admin = mint(&s, "{\"aud\":\"" H_API_AUDIENCE "\",\"appid\":\"0a1b2c3d-0000-4000-8000-"
                     "00000000c0ad\",\"roles\":[\"VmLogin.Administrator\"]}");
    reader = mint(&s, "{\"aud\":\"" H_API_AUDIENCE "\",\"upn\":\"bob@contoso.example\","
                      "\"roles\":[\"VmLogin.Reader\"]}");
    expired = mint(&s, "{\"aud\":\"" H_API_AUDIENCE "\",\"roles\":[\"VmLogin.Administrator\"],"
                       "\"expiresIn\":-3600,\"nbf\":1,\"iat\":1}");
    wrong_aud = mint(&s, "{\"aud\":\"api://someone-else\",\"roles\":[\"VmLogin.Administrator\"]}");
    wrong_iss = mint(&s, "{\"aud\":\"" H_API_AUDIENCE "\",\"roles\":[\"VmLogin.Administrator\"],"
                         "\"iss\":\"https://evil.example/" H_DEMO_TENANT "/v2.0\"}");
    unknown_kid = mint(&s, "{\"aud\":\"" H_API_AUDIENCE "\",\"roles\":[\"VmLogin.Administrator\"],"
                           "\"kid\":\"not-a-published-kid\"}");
    /* the reader's signature on the administrator's claims */
    bad_sig = splice(admin, admin, reader);
    none = alg_none(admin);

    h_daemon_key(&d, "reader", NULL, reader_key, sizeof(reader_key));
    h_daemon_key(&d, "operator", rg_scope, op_key, sizeof(op_key));
    remember(reader_key);
    remember(op_key);

    {
        struct bad_caller bad[] = {
            {"anonymous", NULL, "unauthenticated"},
            {"expired", expired, "token_expired"},
            {"wrong-audience", wrong_aud, "invalid_audience"},
            {"wrong-issuer", wrong_iss, "invalid_issuer"},
            {"bad-signature", bad_sig, "invalid_signature"},
            {"alg-none", none, "unsupported_alg"},
            {"unknown-kid", unknown_kid, "unknown_kid"},
            {"unknown-key", (char *)"vlk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "invalid_api_key"},
        };
        check_bad_callers(&d, bad, sizeof(bad) / sizeof(bad[0]));
    }
    check_good_callers(&d, reader, op_key, admin);
    /* a key-holding reader is a reader too */
    {
        struct route_row audit = {"GET", "/v1/audit", "admin"};
        expect(&d, &audit, "/v1/audit", "reader key", reader_key, 403);
        expect(&d, &audit, "/v1/audit", "administrator", admin, 200);
    }

    assert_int_equal(h_daemon_stop(&d), 0);
    h_sim_stop(&s);
    log = h_read_file(d.p.log);
    assert_non_null(log);
    assert_non_null(strstr(log, "subject=key:"));
    assert_non_null(strstr(log, "subject=app:"));
    for (size_t i = 0; i < nsecrets; i++) {
        const char *sig = strrchr(secrets[i], '.');
        if (strstr(log, secrets[i]) != NULL)
            fail_msg("secret %zu appears in the daemon log", i);
        if (sig != NULL && strlen(sig) > 20 && strstr(log, sig + 1) != NULL)
            fail_msg("the signature of token %zu appears in the daemon log", i);
        if (strncmp(secrets[i], "vlk_", 4) == 0 && strstr(log, secrets[i] + 4) != NULL)
            fail_msg("key %zu appears in the daemon log", i);
    }
    assert_null(strstr(log, H_DEMO_SECRET));
    free(log);
    for (size_t i = 0; i < nsecrets; i++)
        if (strncmp(secrets[i], "vlk_", 4) != 0)
            free((char *)secrets[i]);
    nsecrets = 0;
}

/* ---- scoped reads: every GET route as a caller limited to one resource group ------------- */

#define OTHER_SUB "7a1e9c44-0000-4000-8000-00000000cccc"
#define RG_IN_ARM "/subscriptions/" SUB "/resourceGroups/" RG_IN
#define RG_SIB_ARM "/subscriptions/" SUB "/resourceGroups/" RG_OUT
#define RG_DEV_ARM "/subscriptions/" OTHER_SUB "/resourceGroups/rg-dev"
#define BOB_UPN "bob@contoso.example"
#define BOB_ID "6b7c8d9e-0000-4000-8000-00000000d002"
#define ALICE_UPN "alice@contoso.example"
#define SCOPED_APP "0a1b2c3d-0000-4000-8000-00000000c5c0"
#define MAX_MARKS 24

/* What the scoped caller may never be shown, and the ids that are in its scope. */
struct scoped {
    struct sc c;
    char *marks[MAX_MARKS]; /* lowercase strings naming things outside RG_IN */
    size_t nmarks;
    char grant_in[64], grant_out[64], grant_sub[64], op_in[64], op_out[64], sweep_in[64],
        sweep_out[64], elig_in[64], act_in[64], webhook_in[64], webhook_out[64];
    unsigned reads[MAX_ROUTES]; /* 200 answers per GET route */
};

static void mark(struct scoped *x, const char *s)
{
    assert_true(x->nmarks < MAX_MARKS);
    x->marks[x->nmarks] = strdup(s);
    for (char *p = x->marks[x->nmarks]; *p != '\0'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    x->nmarks++;
}

/* The body must name nothing of marks (case-insensitively). */
static void check_clean(const struct scoped *x, const char *who, const char *path, const char *body)
{
    for (size_t i = 0; body != NULL && i < x->nmarks; i++) {
        if (strcasestr(body, x->marks[i]) != NULL)
            fail_msg("GET %s as %s names %s, outside its scope: %.600s", path, who, x->marks[i],
                     body);
    }
}

static void id_of(json_t *j, char out[64])
{
    assert_non_null(j);
    snprintf(out, 64, "%s", h_jstr(j, "id"));
    assert_true(out[0] != '\0');
    json_decref(j);
}

/* The operation id in a 202's Location header. */
static void op_of(struct scoped *x, const char *method, const char *path, const char *body,
                  char out[64])
{
    char u[1024], loc[512];
    const char *h[] = {h_bearer(x->c.key), NULL};
    struct resp r;

    snprintf(u, sizeof(u), "%s%s", x->c.d.p.url, path);
    assert_int_equal(h_http(method, u, body, h, &r), 202);
    assert_true(h_resp_header(&r, "Location", loc, sizeof(loc)));
    snprintf(out, 64, "%s", strrchr(loc, '/') + 1);
    h_resp_cleanup(&r);
}

/* An eligibility of bob's for user login at scope (needing alice's approval) and his pending
 * activation under it, made by the administrator key on his behalf. */
static void jit_of(struct scoped *x, const char *scope, char elig[64], char act[64])
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"user\",\"principal\":{\"objectId\":\"" BOB_ID
             "\",\"type\":\"user\"},\"maxDuration\":\"PT1H\",\"requireApproval\":true,"
             "\"approvers\":[{\"objectId\":\"6b7c8d9e-0000-4000-8000-00000000d001\"}]}",
             scope);
    id_of(h_api(x->c.d.p.url, x->c.key, "POST", "/v1/eligibilities", body, 201), elig);
    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"user\",\"duration\":\"PT1H\","
             "\"principal\":{\"objectId\":\"" BOB_ID "\"}}",
             scope);
    id_of(h_api(x->c.d.p.url, x->c.key, "POST", "/v1/activations", body, 201), act);
}

/* A webhook subscription made by an administrator limited to RG_IN (in) and a fleet-wide one
 * (out), before the grants, so both get deliveries. */
static void scoped_webhooks(struct scoped *x)
{
    const char *rg_scope[] = {RG_IN_ARM, NULL};
    const char *body = "{\"url\":\"http://127.0.0.1:9/hook\",\"events\":[\"*\"]}";
    char admin_rg[128];
    json_t *w;

    h_daemon_key(&x->c.d, "administrator", rg_scope, admin_rg, sizeof(admin_rg));
    w = h_api(x->c.d.p.url, admin_rg, "POST", "/v1/webhooks", body, 201);
    snprintf(x->webhook_in, sizeof(x->webhook_in), "%s", h_jstr(w, "id"));
    json_decref(w);
    w = h_api(x->c.d.p.url, x->c.key, "POST", "/v1/webhooks", body, 201);
    snprintf(x->webhook_out, sizeof(x->webhook_out), "%s", h_jstr(w, "id"));
    json_decref(w);
    mark(x, x->webhook_out);
}

static void scoped_setup(struct scoped *x)
{
    static const char vm[] =
        "{\"subscriptionId\":\"" SUB "\",\"resourceGroup\":\"" RG_OUT "\",\"name\":\"vm-sib-%d\","
        "\"location\":\"westeurope\",\"osType\":\"Windows\"}";
    char body[512], p[256];
    json_t *g;

    /* a scan budget the hidden VMs of the sibling group would spend (cursor naming one) */
    setenv("VMLOGIND_VMS_SCAN_BUDGET", "2", 1);
    sc_start(&x->c, NULL, NULL,
             "rate_limit_rps = 10000\nrate_limit_burst = 10000\n"
             "webhook_allowed_hosts = 127.0.0.1\n");
    unsetenv("VMLOGIND_VMS_SCAN_BUDGET");
    scoped_webhooks(x);
    for (int i = 1; i <= 3; i++) {
        snprintf(body, sizeof(body), vm, i);
        json_decref(sc_sim(&x->c, "POST", "/_sim/vms", body, 201));
    }
    json_decref(sc_sync_run(&x->c, 30000));
    /* bob: user login in RG_IN, in the sibling RG and in the other subscription */
    g = h_api(x->c.d.p.url, x->c.key, "POST", "/v1/loginGrants",
              "{\"scope\":\"" RG_IN_ARM "\",\"role\":\"user\",\"principal\":{\"upn\":\"" BOB_UPN
              "\"}}",
              202);
    id_of(g, x->grant_in);
    g = h_api(x->c.d.p.url, x->c.key, "POST", "/v1/loginGrants",
              "{\"scope\":\"" RG_SIB_ARM
              "\",\"role\":\"administrator\",\"principal\":{\"upn\":\"" BOB_UPN "\"}}",
              202);
    id_of(g, x->grant_out);
    mark(x, x->grant_out);
    g = h_api(x->c.d.p.url, x->c.key, "POST", "/v1/loginGrants",
              "{\"scope\":\"" RG_DEV_ARM "\",\"role\":\"user\",\"principal\":{\"upn\":\"" BOB_UPN
              "\"}}",
              202);
    snprintf(p, sizeof(p), "%s", h_jstr(g, "id"));
    mark(x, p);
    json_decref(g);
    /* and across the whole subscription: it holds RG_IN (shown) and the sibling RG (not) */
    g = h_api(x->c.d.p.url, x->c.key, "POST", "/v1/loginGrants",
              "{\"scope\":\"/subscriptions/" SUB
              "\",\"role\":\"user\",\"principal\":{\"upn\":\"" BOB_UPN "\"}}",
              202);
    snprintf(x->grant_sub, sizeof(x->grant_sub), "%s", h_jstr(g, "id"));
    json_decref(g);
    for (int i = 0; i < 4; i++) {
        const char *id = i == 0 ? x->grant_in : i == 1 ? x->grant_out : i == 2 ? p : x->grant_sub;
        char path[400];
        snprintf(path, sizeof(path), "/v1/loginGrants/%s", id);
        json_decref(h_wait_field(x->c.d.p.url, x->c.key, path, "state", "active", 30000));
    }
    /* what the grants made in Azure, as the store now knows it */
    json_decref(sc_sync_run(&x->c, 30000));
    op_of(x, "PUT", "/v1" RG_DEV_ARM "/entraLogin", "{}", x->op_out);
    mark(x, x->op_out);
    op_of(x, "PUT", "/v1" RG_IN_ARM "/virtualMachines/win-vm-01/entraLogin", "{}", x->op_in);
    id_of(h_api(x->c.d.p.url, x->c.key, "POST", "/v1/loginGrants/sweeps",
                "{\"scope\":\"" RG_DEV_ARM "\"}", 202),
          x->sweep_out);
    mark(x, x->sweep_out);
    id_of(h_api(x->c.d.p.url, x->c.key, "POST", "/v1/loginGrants/sweeps",
                "{\"scope\":\"" RG_IN_ARM "\"}", 202),
          x->sweep_in);
    jit_of(x, RG_IN_ARM, x->elig_in, x->act_in);
    jit_of(x, RG_DEV_ARM, body, p);
    mark(x, body);
    mark(x, p);
    mark(x, OTHER_SUB);
    mark(x, "/resourceGroups/" RG_OUT);
    mark(x, "vm-sib-");
    mark(x, "rg-dev");
    mark(x, "dev-ws2022");
    mark(x, "Contoso Development");
    mark(x, "b0000000-0000-4000-8000-000000000002"); /* alice's assignment in rg-dev */
}

/* The pattern filled with the in-scope ids of x; variant picks the principal. */
static void fill_in(const struct scoped *x, const char *pattern, int variant, char *out, size_t cap)
{
    static const char *const principals[] = {BOB_UPN, BOB_ID, ALICE_UPN};
    const char *p = pattern;
    size_t o = 0;

    while (*p != '\0' && o + 1 < cap) {
        size_t n;
        const char *val = NULL;
        p++;
        n = strcspn(p, "/");
        if (n >= 2 && p[0] == '{') {
            if (strncmp(p, "{s}", n) == 0)
                val = SUB;
            else if (strncmp(p, "{rg}", n) == 0)
                val = RG_IN;
            else if (strncmp(p, "{name}", n) == 0)
                val = "win-vm-01";
            else if (strncmp(p, "{operationId}", n) == 0)
                val = x->op_in;
            else if (strncmp(p, "{grantId}", n) == 0)
                val = x->grant_in;
            else if (strncmp(p, "{sweepId}", n) == 0)
                val = x->sweep_in;
            else if (strncmp(p, "{eligibilityId}", n) == 0)
                val = x->elig_in;
            else if (strncmp(p, "{activationId}", n) == 0)
                val = x->act_in;
            else if (strncmp(p, "{webhookId}", n) == 0)
                val = x->webhook_in;
            else if (strncmp(p, "{principal}", n) == 0)
                val = principals[variant % 3];
            else if (strncmp(p, "{hash}", n) == 0) /* the dashboard's assets: public */
                val = "0000000000000000";
            else if (strncmp(p, "{file}", n) == 0)
                val = "app.js";
            else
                fail_msg("no in-scope value for %.*s in %s", (int)n, p, pattern);
            o += (size_t)snprintf(out + o, cap - o, "/%s", val);
        } else {
            o += (size_t)snprintf(out + o, cap - o, "/%.*s", (int)n, p);
        }
        p += n;
    }
}

/* The cursor of a nextLink, percent-decoded and, when it is base64url, decoded again: an
 * opaque cursor must not carry what lies outside either. */
static void check_cursor(const struct scoped *x, const char *who, const char *next)
{
    const char *c = strstr(next, "cursor=");
    char plain[1024];
    size_t o = 0, len;
    unsigned char *raw;

    if (c == NULL)
        return;
    for (c += 7; *c != '\0' && *c != '&' && o + 1 < sizeof(plain); c++) {
        unsigned hex;
        if (*c == '%' && sscanf(c + 1, "%2x", &hex) == 1) {
            plain[o++] = (char)hex;
            c += 2;
        } else {
            plain[o++] = *c;
        }
    }
    plain[o] = '\0';
    check_clean(x, who, next, plain);
    raw = b64url_decode(plain, o, &len);
    if (raw != NULL) {
        char *text = strndup((const char *)raw, len);
        check_clean(x, who, next, text);
        free(text);
        free(raw);
    }
}

/* GET path (and every nextLink after it) as token: the status of the first answer; every page
 * is checked clean, and a page that carries a nextLink must be full (limit entries). */
static long read_all(struct scoped *x, const char *who, const char *token, const char *path,
                     int limit, size_t *nvalue)
{
    char cur[2048];
    long first = 0;

    snprintf(cur, sizeof(cur), "%s", path);
    *nvalue = 0;
    for (int page = 0; page < 100; page++) {
        char u[2300];
        const char *h[] = {h_bearer(token), NULL};
        struct resp r;
        const char *next;
        json_t *value;
        long st;
        snprintf(u, sizeof(u), "%s%s", x->c.d.p.url, cur);
        st = h_http("GET", u, NULL, h, &r);
        if (page == 0)
            first = st;
        check_clean(x, who, cur, r.body);
        value = json_object_get(r.json, "value");
        next = json_string_value(json_object_get(r.json, "nextLink"));
        if (json_is_array(value))
            *nvalue += json_array_size(value);
        if (next != NULL && limit > 0 && json_array_size(value) != (size_t)limit)
            fail_msg("GET %s as %s: a page of %zu with a nextLink (limit %d)", cur, who,
                     json_array_size(value), limit);
        if (next == NULL || st != 200) {
            h_resp_cleanup(&r);
            return first;
        }
        assert_true(strncmp(next, "/v1/", 4) == 0);
        assert_null(strpbrk(next, " \"<>"));
        check_cursor(x, who, next);
        snprintf(cur, sizeof(cur), "%s", next);
        h_resp_cleanup(&r);
    }
    fail_msg("GET %s as %s: more than 100 pages", path, who);
    return first;
}

/* Out-of-scope ids are not found (404) or refused (403), and the refusal names nothing. */
static void probe_out(struct scoped *x, const char *who, const char *token, const char *path)
{
    char u[1024];
    const char *h[] = {h_bearer(token), NULL};
    struct resp r;
    long st;

    snprintf(u, sizeof(u), "%s%s", x->c.d.p.url, path);
    st = h_http("GET", u, NULL, h, &r);
    if (st != 404 && st != 403)
        fail_msg("GET %s as %s: %ld, want 403 or 404", path, who, st);
    if (strstr(path, "/subscriptions/") == NULL) /* a path the caller wrote may be echoed */
        check_clean(x, who, path, r.body);
    h_resp_cleanup(&r);
}

struct sse_text {
    char *p;
    size_t n;
};

static size_t sse_take(char *d, size_t sz, size_t nm, void *arg)
{
    struct sse_text *t = arg;
    size_t k = sz * nm;

    t->p = realloc(t->p, t->n + k + 1);
    assert_non_null(t->p);
    memcpy(t->p + t->n, d, k);
    t->n += k;
    t->p[t->n] = '\0';
    return k;
}

/* GET /v1/events replayed from the start of the log (Last-Event-ID: 0): the replay, sent at
 * once, is everything of the log this caller may see; the stream is left after a moment (a
 * bound on the read, not a wait for anything). Its status; the text is held to check_clean. */
static long read_events(struct scoped *x, const char *who, const char *token)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct sse_text t = {NULL, 0};
    char url[512];
    long st = 0;

    snprintf(url, sizeof(url), "%s/v1/events", x->c.d.p.url);
    hl = curl_slist_append(hl, h_bearer(token));
    hl = curl_slist_append(hl, "Last-Event-ID: 0");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_take);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1500L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (st == 200 && (t.p == NULL || strstr(t.p, "retry:") == NULL))
        fail_msg("GET /v1/events as %s: no stream", who);
    check_clean(x, who, "/v1/events", t.p);
    free(t.p);
    return st;
}

static void scoped_reads_as(struct scoped *x, const char *who, const char *token)
{
    static const char *const paged[] = {"/v1/virtualMachines", "/v1/loginGrants",
                                        "/v1/principals/{principal}/access", "/v1/audit"};
    char path[1024], q[1100];
    size_t n;

    for (size_t i = 0; i < nroutes; i++) {
        const struct route_row *rt = &routes[i];
        if (strcmp(rt->method, "GET") != 0)
            continue;
        for (int v = 0; v < (strstr(rt->pattern, "{principal}") ? 3 : 1); v++) {
            long st;
            if (strcmp(rt->pattern, "/v1/events") == 0) {
                st = read_events(x, who, token);
                if (st != 200)
                    fail_msg("GET /v1/events as %s: %ld, want 200", who, st);
                x->reads[i]++;
                continue;
            }
            fill_in(x, rt->pattern, v, path, sizeof(path));
            if (strstr(rt->pattern, "/signIn") != NULL) /* its one required query */
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "?principal=%s",
                         BOB_UPN);
            if (strcmp(rt->pattern, "/v1/principals") == 0) /* the directory look-up */
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "?search=bo");
            /* the whole log and a subscription's settings lie outside a resource group */
            bool wider =
                strncmp(rt->pattern, "/v1/audit", 9) == 0 ||
                (strstr(rt->pattern, "{s}") != NULL && strstr(rt->pattern, "{rg}") == NULL);
            /* a GET for operators (the directory look-up) refuses a reader */
            bool above = strcmp(rt->perm, "operate") == 0 && strncmp(who, "reader", 6) == 0;
            /* webhooks are for administrators (a scoped one sees those within her scopes) */
            bool admin_only = strncmp(rt->pattern, "/v1/webhooks", 12) == 0 &&
                              strncmp(who, "administrator", 13) != 0;
            long want = wider || above || admin_only ? 403 : 200;
            st = read_all(x, who, token, path, 0, &n);
            if (strcmp(rt->perm, "public") != 0 && st != want)
                fail_msg("GET %s as %s: %ld, want %ld", path, who, st, want);
            x->reads[i]++;
            for (size_t k = 0; k < sizeof(paged) / sizeof(paged[0]); k++) {
                if (strcmp(rt->pattern, paged[k]) != 0)
                    continue;
                for (int lim = 1; lim <= 2; lim++) {
                    snprintf(q, sizeof(q), "%s?limit=%d", path, lim);
                    (void)read_all(x, who, token, q, lim, &n);
                }
            }
        }
    }
    /* the sync status: no fleet-wide counts for a caller that sees part of the fleet */
    {
        json_t *sync = h_api(x->c.d.p.url, token, "GET", "/v1/sync", NULL, 200);
        json_t *last = json_object_get(sync, "last");
        assert_true(json_is_object(last));
        assert_true(json_is_null(json_object_get(last, "counts")));
        json_decref(sync);
    }
    /* filters naming what lies outside: nothing, or a refusal */
    snprintf(q, sizeof(q), "/v1/virtualMachines?subscription=%s", OTHER_SUB);
    assert_int_equal(read_all(x, who, token, q, 0, &n), 200);
    assert_int_equal(n, 0);
    snprintf(q, sizeof(q), "/v1/loginGrants?principal=%s&limit=1", BOB_UPN);
    assert_int_equal(read_all(x, who, token, q, 1, &n), 200);
    assert_int_equal(n, 1); /* bob's grant in RG_IN only */
    /* bob's VMs, a page at a time, are exactly the VMs of RG_IN (he holds it through a group, a
     * grant there and one on the subscription) */
    {
        size_t in_rg = 0;
        snprintf(q, sizeof(q), "/v1/virtualMachines?subscription=%s&resourceGroup=%s&limit=1000",
                 SUB, RG_IN);
        assert_int_equal(read_all(x, who, token, q, 0, &in_rg), 200);
        snprintf(q, sizeof(q), "/v1/principals/%s/access?limit=1", BOB_UPN);
        assert_int_equal(read_all(x, who, token, q, 1, &n), 200);
        assert_true(in_rg > 0);
        assert_int_equal(n, in_rg);
    }
    snprintf(path, sizeof(path), "/v1/operations/%s", x->op_out);
    probe_out(x, who, token, path);
    snprintf(path, sizeof(path), "/v1/loginGrants/%s", x->grant_out);
    probe_out(x, who, token, path);
    snprintf(path, sizeof(path), "/v1/loginGrants/sweeps/%s", x->sweep_out);
    probe_out(x, who, token, path);
    snprintf(path, sizeof(path), "/v1/webhooks/%s", x->webhook_out);
    probe_out(x, who, token, path);
    snprintf(path, sizeof(path), "/v1/webhooks/%s/deliveries", x->webhook_out);
    probe_out(x, who, token, path);
    probe_out(x, who, token, "/v1" RG_DEV_ARM "/virtualMachines/dev-ws2022-01/access");
    probe_out(x, who, token, "/v1" RG_SIB_ARM "/entraLogin");
}

static void test_scoped_reads(void **state)
{
    struct scoped x;
    char key[128], *app;
    const char *rg_scope[] = {RG_IN_ARM, NULL};
    const char *limit[] = {"identities", "limit",   "--subject", "app:" SCOPED_APP,
                           "--scope",    RG_IN_ARM, NULL};
    char *out = NULL;
    (void)state;

    if (AZSIM_BIN[0] == '\0')
        skip();
    memset(&x, 0, sizeof(x));
    load_routes();
    scoped_setup(&x);
    h_daemon_key(&x.c.d, "reader", rg_scope, key, sizeof(key));
    scoped_reads_as(&x, "reader key@rg", key);
    h_daemon_key(&x.c.d, "operator", rg_scope, key, sizeof(key));
    scoped_reads_as(&x, "operator key@rg", key);
    assert_int_equal(h_daemon_run(&x.c.d, limit, &out), 0);
    free(out);
    {
        char url[512];
        struct resp r;
        snprintf(url, sizeof(url), "%s/_sim/tokens", x.c.s.p.url);
        assert_int_equal(h_http("POST", url,
                                "{\"aud\":\"" H_API_AUDIENCE "\",\"appid\":\"" SCOPED_APP
                                "\",\"idtyp\":null,\"roles\":[\"VmLogin.Administrator\"]}",
                                NULL, &r),
                         200);
        app = strdup(h_jstr(r.json, "access_token"));
        h_resp_cleanup(&r);
    }
    scoped_reads_as(&x, "administrator app@rg", app);
    free(app);
    /* every GET route of the table was read by a scoped caller */
    for (size_t i = 0; i < nroutes; i++) {
        if (strcmp(routes[i].method, "GET") == 0 && x.reads[i] == 0)
            fail_msg("GET %s was never read by a scoped caller", routes[i].pattern);
    }
    for (size_t i = 0; i < x.nmarks; i++)
        free(x.marks[i]);
    sc_stop(&x.c);
}

static void test_rate_limit(void **state)
{
    struct daemon d;
    char key[128], url[512], ra[32];
    struct resp r;
    const char *hdrs[2];
    long st = 0;
    int ok = 0;
    (void)state;

    assert_true(h_daemon_start(&d, "rate_limit_rps = 1\nrate_limit_burst = 3\n", NULL));
    h_daemon_key(&d, "administrator", NULL, key, sizeof(key));
    hdrs[0] = h_bearer(key);
    hdrs[1] = NULL;
    snprintf(url, sizeof(url), "%s/v1/audit", d.p.url);
    for (int i = 0; i < 10 && st != 429; i++) {
        st = h_http("GET", url, NULL, hdrs, &r);
        if (st == 200)
            ok++;
        if (st == 429) {
            assert_true(h_resp_header(&r, "Retry-After", ra, sizeof(ra)));
            assert_true(strtol(ra, NULL, 10) >= 1);
            assert_string_equal(problem_code(&r), "rate_limited");
        }
        h_resp_cleanup(&r);
    }
    assert_int_equal(st, 429);
    assert_true(ok >= 3);
    /* another caller has its own bucket; public routes are not limited */
    snprintf(url, sizeof(url), "%s/healthz", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_scoped_reads),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
