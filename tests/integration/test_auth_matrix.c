/* test_auth_matrix.c: every route of the table (vmlogind --list-routes, with each route's
 * permission from --list-permissions) x every kind of caller, with the exact status: 401 for
 * anonymous and each bad token (expired, wrong audience, wrong issuer, bad signature, alg none,
 * unknown kid) on every non-public route; a reader 403 on what needs more and never 401/403 on
 * reads; an operator key limited to one resource group 403 outside it and on admin routes; an
 * administrator never refused. Tokens come from azsim. At the end the daemon's whole log is
 * searched for every token and key used: none may appear. Also: per-caller rate limits. */
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
    char url[1024];
    const char *hdrs[3] = {NULL, NULL, NULL};

    assert_true(snprintf(url, sizeof(url), "%s%s", d->p.url, path) < (int)sizeof(url));
    if (token != NULL)
        hdrs[0] = h_bearer(token);
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
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
