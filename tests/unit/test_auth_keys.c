/* test_auth_keys.c: API keys on an in-memory store: format and hashing, create (audited, only
 * the hash stored), authenticate, revoke; the Bearer front door; and the keys/audit commands
 * (the key printed once, alone on stdout; list shows no secret). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmlogind/auth.h"
#include "vmlogind/jose.h"
#include "vmlogind/store.h"
#include "vmlogind/xalloc.h"

#define RG "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/RG1"

static struct store *open_store(void)
{
    struct store *st = NULL;

    assert_int_equal(store_open(":memory:", &st, NULL), ERR_OK);
    assert_int_equal(store_migrate(st, NULL), ERR_OK);
    return st;
}

static void test_format(void **state)
{
    char a[AUTH_KEY_LEN + 1], b[AUTH_KEY_LEN + 1], h[65], h2[65];

    (void)state;
    auth_key_generate(a);
    auth_key_generate(b);
    assert_int_equal(strlen(a), AUTH_KEY_LEN);
    assert_memory_equal(a, "vlk_", 4);
    assert_string_not_equal(a, b);
    assert_true(auth_key_is_well_formed(a));
    assert_false(auth_key_is_well_formed("vlk_short"));
    assert_false(auth_key_is_well_formed(NULL));
    a[10] = '+';
    assert_false(auth_key_is_well_formed(a));
    auth_key_hash(b, h);
    sha256_hex(b, strlen(b), h2);
    assert_string_equal(h, h2);
    assert_int_equal(strlen(h), 64);
}

static void test_create_authenticate_revoke(void **state)
{
    struct store *st = open_store();
    const char *scopes[] = {RG};
    struct auth_key_spec s = {.name = "bot",
                              .role = AUTH_ROLE_OPERATOR,
                              .scopes = scopes,
                              .nscopes = 1,
                              .limits = {.principal_types = AUTH_PT_GROUP},
                              .actor = "cli"};
    char key[AUTH_KEY_LEN + 1], id[AUTH_KEY_ID_LEN + 1], hash[65];
    struct auth_caller *c = NULL;
    struct err_detail d = {{0}, {0}};
    struct store_api_key k = {0};
    struct store_audit_entry *rows = NULL;
    size_t n = 0;
    int64_t count = 0, broken = 0;

    (void)state;
    assert_int_equal(auth_keys_create(st, &s, key, id, &d), ERR_OK);
    assert_true(auth_key_is_well_formed(key));
    assert_int_equal(strlen(id), AUTH_KEY_ID_LEN);
    /* only the hash is stored */
    assert_int_equal(store_api_key_get(st, id, &k, NULL), ERR_OK);
    auth_key_hash(key, hash);
    assert_string_equal(k.key_hash, hash);
    assert_null(strstr(k.scopes, key));
    assert_string_equal(k.role, "operator");
    store_api_key_clear(&k);

    assert_int_equal(auth_keys_authenticate(st, key, 1000, &c, &d), ERR_OK);
    assert_int_equal(c->role, AUTH_ROLE_OPERATOR);
    assert_int_equal(c->kind, AUTH_KIND_KEY);
    assert_int_equal(c->nscopes, 1);
    assert_string_equal(c->scopes[0],
                        "/subscriptions/00000000-0000-0000-0000-00000000000a/resourcegroups/rg1");
    assert_int_equal(c->limits.principal_types, AUTH_PT_GROUP);
    assert_non_null(strstr(c->subject, id));
    assert_null(strstr(c->subject, key + 4));
    auth_caller_free(c);
    c = NULL;

    /* another well-formed key is unknown */
    {
        char other[AUTH_KEY_LEN + 1];
        auth_key_generate(other);
        assert_int_equal(auth_keys_authenticate(st, other, 1000, &c, &d), ERR_UNAUTHORIZED);
        assert_string_equal(d.code, "invalid_api_key");
    }
    assert_int_equal(auth_keys_authenticate(st, "vlk_nope", 1000, &c, &d), ERR_UNAUTHORIZED);

    assert_int_equal(auth_keys_revoke(st, id, "cli", &d), ERR_OK);
    assert_int_equal(auth_keys_authenticate(st, key, 1000, &c, &d), ERR_UNAUTHORIZED);
    assert_string_equal(d.code, "api_key_revoked");
    assert_null(c);
    assert_int_equal(auth_keys_revoke(st, "0000000000000000", "cli", &d), ERR_NOT_FOUND);

    /* both changes audited, the chain intact, and no secret in the log */
    assert_int_equal(store_audit_list(st, 0, 100, &rows, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].action, "apiKey.create");
    assert_string_equal(rows[0].actor, "cli");
    assert_string_equal(rows[0].target, id);
    assert_string_equal(rows[1].action, "apiKey.revoke");
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(rows[i].details, key));
        assert_null(strstr(rows[i].details, hash));
    }
    store_audit_list_free(rows, n);
    assert_int_equal(store_audit_verify(st, &count, &broken, NULL), ERR_OK);
    assert_int_equal(count, 2);
    assert_int_equal(broken, 0);
    store_close(st);
}

static struct auth_key_spec reader_spec(const char *name)
{
    return (struct auth_key_spec){.name = name, .role = AUTH_ROLE_READER, .actor = "cli"};
}

/* a = authenticate on st: the caller's role or -1 with d's code */
static int authn(struct store *st, const char *key, int64_t now, struct err_detail *d)
{
    struct auth_caller *c = NULL;
    int role;

    if (auth_keys_authenticate(st, key, now, &c, d) != ERR_OK) {
        assert_null(c);
        return -1;
    }
    role = (int)c->role;
    auth_caller_free(c);
    return role;
}

struct revoker {
    struct store *st;
    const char *id;
    enum err rc;
};

static void *revoke_thread(void *p)
{
    struct revoker *r = p;

    r->rc = auth_keys_revoke(r->st, r->id, "cli", NULL);
    return NULL;
}

/* The thread's last keys answer only while nothing was committed since their look-up: a
 * revocation through another handle of the file (as `vmlogind keys revoke` is, in another
 * process), through another thread's connection, or inside a read transaction begun after it,
 * is seen at once; an unrelated commit makes the next request look the key up again; a key
 * due for its last-use touch still gets it. */
static void test_cache_sees_every_commit(void **state)
{
    char dir[] = "/tmp/vmlogind-keycache-XXXXXX", path[64];
    struct store *st = NULL, *cli = NULL, *mem = open_store();
    struct auth_key_spec a = reader_spec("a"), b = reader_spec("b"), c = reader_spec("c");
    char ka[AUTH_KEY_LEN + 1], kb[AUTH_KEY_LEN + 1], kc[AUTH_KEY_LEN + 1];
    char ia[AUTH_KEY_ID_LEN + 1], ib[AUTH_KEY_ID_LEN + 1], ic[AUTH_KEY_ID_LEN + 1];
    struct err_detail d = {{0}, {0}};
    struct store_api_key row = {0};
    struct revoker rv;
    pthread_t t;
    uint64_t hits;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/v.db", dir);
    assert_int_equal(store_open(path, &st, NULL), ERR_OK);
    assert_int_equal(store_migrate(st, NULL), ERR_OK);
    assert_int_equal(store_open(path, &cli, NULL), ERR_OK);
    assert_int_equal(store_audit_key_set(st, "0123456789abcdef0123456789abcdef", 32, NULL), ERR_OK);
    assert_int_equal(store_audit_key_set(cli, "0123456789abcdef0123456789abcdef", 32, NULL),
                     ERR_OK);
    assert_int_equal(auth_keys_create(st, &a, ka, ia, &d), ERR_OK);
    assert_int_equal(auth_keys_create(st, &b, kb, ib, &d), ERR_OK);

    /* the second request is answered from the cache */
    assert_int_equal(authn(st, ka, 1000, &d), AUTH_ROLE_READER);
    hits = auth_keys_cache_hits();
    assert_int_equal(authn(st, ka, 1000, &d), AUTH_ROLE_READER);
    assert_int_equal(auth_keys_cache_hits(), hits + 1);

    /* revoked through another handle: refused at once */
    assert_int_equal(auth_keys_revoke(cli, ia, "cli", &d), ERR_OK);
    assert_int_equal(authn(st, ka, 1000, &d), -1);
    assert_string_equal(d.code, "api_key_revoked");

    /* the same inside read transactions, as a snapshot route reads */
    assert_int_equal(store_tx_begin_read(st, NULL), ERR_OK);
    assert_int_equal(authn(st, kb, 1000, &d), AUTH_ROLE_READER);
    assert_int_equal(store_tx_commit(st, NULL), ERR_OK);
    assert_int_equal(auth_keys_revoke(cli, ib, "cli", &d), ERR_OK);
    assert_int_equal(store_tx_begin_read(st, NULL), ERR_OK);
    assert_int_equal(authn(st, kb, 1000, &d), -1);
    assert_string_equal(d.code, "api_key_revoked");
    assert_int_equal(store_tx_commit(st, NULL), ERR_OK);

    /* any commit elsewhere sends the next request to the store; the answer is the same */
    assert_int_equal(auth_keys_create(st, &c, kc, ic, &d), ERR_OK);
    assert_int_equal(authn(st, kc, 1000, &d), AUTH_ROLE_READER);
    assert_int_equal(auth_keys_create(cli, &a, ka, ia, &d), ERR_OK);
    hits = auth_keys_cache_hits();
    assert_int_equal(authn(st, kc, 1000, &d), AUTH_ROLE_READER);
    assert_int_equal(auth_keys_cache_hits(), hits);

    /* a minute on, the key's last use is still recorded */
    assert_int_equal(authn(st, kc, 61000, &d), AUTH_ROLE_READER);
    assert_int_equal(store_api_key_get(cli, ic, &row, NULL), ERR_OK);
    assert_int_equal(row.last_used_at, 61000);
    store_api_key_clear(&row);

    /* revoked by another thread's connection of the same handle: refused at once */
    assert_int_equal(authn(st, kc, 61000, &d), AUTH_ROLE_READER);
    rv = (struct revoker){.st = st, .id = ic};
    assert_int_equal(pthread_create(&t, NULL, revoke_thread, &rv), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rv.rc, ERR_OK);
    assert_int_equal(authn(st, kc, 61000, &d), -1);
    assert_string_equal(d.code, "api_key_revoked");

    /* and on an in-memory store, whose threads share one database */
    assert_int_equal(auth_keys_create(mem, &a, ka, ia, &d), ERR_OK);
    assert_int_equal(authn(mem, ka, 1000, &d), AUTH_ROLE_READER);
    assert_int_equal(authn(mem, ka, 1000, &d), AUTH_ROLE_READER);
    rv = (struct revoker){.st = mem, .id = ia};
    assert_int_equal(pthread_create(&t, NULL, revoke_thread, &rv), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rv.rc, ERR_OK);
    assert_int_equal(authn(mem, ka, 1000, &d), -1);
    assert_string_equal(d.code, "api_key_revoked");

    store_close(mem);
    store_close(cli);
    store_close(st);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

static void test_create_refuses(void **state)
{
    struct store *st = open_store();
    const char *bad_scope[] = {"/subscriptions/x/resourceGroups/rg/providers/a/b/c"};
    struct auth_key_spec s = {.name = "x", .role = AUTH_ROLE_READER};
    char key[AUTH_KEY_LEN + 1], id[AUTH_KEY_ID_LEN + 1];
    struct err_detail d = {{0}, {0}};
    struct store_api_key *list = NULL;
    size_t n = 0;

    (void)state;
    s.name = "";
    assert_int_equal(auth_keys_create(st, &s, key, id, &d), ERR_INVALID);
    s.name = "x";
    s.role = AUTH_ROLE_NONE;
    assert_int_equal(auth_keys_create(st, &s, key, id, &d), ERR_INVALID);
    s.role = AUTH_ROLE_READER;
    s.scopes = bad_scope;
    s.nscopes = 1;
    assert_int_equal(auth_keys_create(st, &s, key, id, &d), ERR_INVALID);
    s.nscopes = 0;
    snprintf(s.limits.member_of, sizeof(s.limits.member_of), "not a group");
    assert_int_equal(auth_keys_create(st, &s, key, id, &d), ERR_INVALID);
    assert_int_equal(store_api_key_list(st, &list, &n, NULL), ERR_OK);
    assert_int_equal(n, 0);
    store_api_key_list_free(list, n);
    store_close(st);
}

static void test_front_door(void **state)
{
    struct store *st = open_store();
    struct config cfg;
    struct auth *a = NULL;
    struct auth_caller *c = NULL;
    struct auth_key_spec s = {.name = "r", .role = AUTH_ROLE_READER};
    char key[AUTH_KEY_LEN + 1], id[AUTH_KEY_ID_LEN + 1], hdr[80];
    struct err_detail d = {{0}, {0}};
    int64_t retry = 0;

    (void)state;
    config_defaults(&cfg);
    cfg.rate_limit_rps = 1;
    cfg.rate_limit_burst = 2;
    assert_int_equal(auth_new(&cfg, st, &a, NULL), ERR_OK); /* no audience: keys only */
    assert_int_equal(auth_keys_create(st, &s, key, id, NULL), ERR_OK);
    assert_int_equal(auth_authenticate(a, NULL, &c, &d), ERR_UNAUTHORIZED);
    assert_string_equal(d.code, "unauthenticated");
    assert_int_equal(auth_authenticate(a, "Basic dXNlcjpwdw==", &c, &d), ERR_UNAUTHORIZED);
    assert_string_equal(d.code, "unsupported_scheme");
    assert_int_equal(auth_authenticate(a, "Bearer eyJhbGciOiJub25lIn0.e30.", &c, &d),
                     ERR_UNAUTHORIZED);
    assert_string_equal(d.code, "jwt_not_configured");
    snprintf(hdr, sizeof(hdr), "bearer %s", key);
    assert_int_equal(auth_authenticate(a, hdr, &c, &d), ERR_OK);
    assert_int_equal(c->role, AUTH_ROLE_READER);
    assert_true(auth_rate_allow(a, c, &retry));
    assert_true(auth_rate_allow(a, c, &retry));
    assert_false(auth_rate_allow(a, c, &retry));
    assert_int_equal(retry, 1);
    auth_caller_free(c);
    auth_free(a);
    store_close(st);
}

/* Runs a command, capturing stdout and stderr. */
static int run(struct store *st, const char *const *words, size_t nw, const char *const *names,
               const char *const *values, size_t nf, char **out, char **err)
{
    char *ob = NULL, *eb = NULL;
    size_t ol = 0, el = 0;
    FILE *o = open_memstream(&ob, &ol);
    FILE *e = open_memstream(&eb, &el);
    int rc = auth_cli_run(st, words, nw, names, values, nf, o, e);

    fclose(o);
    fclose(e);
    *out = ob;
    *err = eb;
    return rc;
}

static void test_cli(void **state)
{
    struct store *st = open_store();
    const char *create[] = {"keys", "create"}, *list[] = {"keys", "list"},
               *revoke[] = {"keys", "revoke"}, *verify[] = {"audit", "verify"};
    const char *names[] = {"name", "role", "scope", "grant-roles", "grant-principal-types"};
    const char *values[] = {"deploy-bot", "administrator", RG, "user", "group,user"};
    const char *id_name[] = {"id"};
    char *out = NULL, *err = NULL, key[AUTH_KEY_LEN + 1], id[AUTH_KEY_ID_LEN + 1];
    const char *p;

    (void)state;
    assert_int_equal(run(st, create, 2, names, values, 5, &out, &err), 0);
    assert_int_equal(strlen(out), AUTH_KEY_LEN + 1); /* the key and a newline, nothing else */
    snprintf(key, sizeof(key), "%s", out);
    assert_true(auth_key_is_well_formed(key));
    assert_null(strstr(err, key));
    p = strstr(err, "id=");
    assert_non_null(p);
#pragma GCC diagnostic push
    /* gcc 12 at -O2 follows err back to run()'s open_memstream buffer and misreads it as a
     * dangling stack pointer; it is the heap buffer run() handed over */
#pragma GCC diagnostic ignored "-Wdangling-pointer"
    snprintf(id, sizeof(id), "%.16s", p + 3);
#pragma GCC diagnostic pop
    free(out);
    free(err);

    assert_int_equal(run(st, list, 2, NULL, NULL, 0, &out, &err), 0);
    assert_non_null(strstr(out, id));
    assert_non_null(strstr(out, "deploy-bot"));
    assert_non_null(strstr(out, "\"loginRoles\":[\"user\"]"));
    assert_null(strstr(out, key));
    {
        char hash[65];
        auth_key_hash(key, hash);
        assert_null(strstr(out, hash));
    }
    free(out);
    free(err);

    assert_int_equal(
        run(st, revoke, 2, id_name, (const char *[]){"ffffffffffffffff"}, 1, &out, &err), 1);
    free(out);
    free(err);
    assert_int_equal(run(st, revoke, 2, id_name, (const char *[]){id}, 1, &out, &err), 0);
    free(out);
    free(err);
    assert_int_equal(run(st, verify, 2, NULL, NULL, 0, &out, &err), 0);
    assert_string_equal(out, "audit log intact (2 rows)\n");
    free(out);
    free(err);

    /* usage errors */
    assert_int_equal(run(st, create, 2, names + 1, values + 1, 1, &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(run(st, create, 2, (const char *[]){"name", "role", "colour"},
                         (const char *[]){"n", "reader", "red"}, 3, &out, &err),
                     2);
    free(out);
    free(err);
    assert_int_equal(run(st, (const char *[]){"keys", "rotate"}, 2, NULL, NULL, 0, &out, &err), 2);
    free(out);
    free(err);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_create_authenticate_revoke),
        cmocka_unit_test(test_cache_sees_every_commit),
        cmocka_unit_test(test_create_refuses),
        cmocka_unit_test(test_front_door),
        cmocka_unit_test(test_cli),
    };
    xalloc_init_json();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
