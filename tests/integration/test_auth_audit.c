/* test_auth_audit.c: key lifecycle and the audit trail through the real binary: keys created
 * and revoked by the command line are audited (actor "cli"); a revoked key is refused at once;
 * GET /v1/audit pages the log with nextLink; `vmlogind audit verify` passes on the untouched
 * log and fails, naming the row, after a row is edited with the sqlite3 CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static long get(const struct daemon *d, const char *path, const char *key, struct resp *r)
{
    char url[512];
    const char *hdrs[] = {h_bearer(key), NULL};

    snprintf(url, sizeof(url), "%s%s", d->p.url, path);
    return h_http("GET", url, NULL, hdrs, r);
}

/* The id of the newest key named name, from `keys list`. */
static void key_id(struct daemon *d, const char *name, char *out, size_t cap)
{
    const char *args[] = {"keys", "list", NULL};
    char *text = NULL;
    size_t nl = strlen(name);

    assert_int_equal(h_daemon_run(d, args, &text), 0);
    out[0] = '\0';
    for (const char *line = text; *line != '\0';) {
        size_t n = strcspn(line, "\n");
        if (n > nl && strncmp(line + n - nl, name, nl) == 0 && line[n - nl - 1] == ' ')
            snprintf(out, cap, "%.*s", (int)strcspn(line, " "), line);
        line += n;
        if (*line == '\n')
            line++;
    }
    free(text);
    assert_true(out[0] != '\0');
}

static void test_revoked_key_refused(void **state)
{
    struct daemon d;
    char admin[128], victim[128], id[64], *out = NULL;
    const char *create[] = {"keys", "create", "--name", "victim", "--role", "reader", NULL};
    const char *revoke[] = {"keys", "revoke", "--id", id, NULL};
    struct resp r;
    (void)state;

    assert_true(h_daemon_start(&d, NULL, NULL));
    h_daemon_key(&d, "administrator", NULL, admin, sizeof(admin));
    assert_int_equal(h_daemon_run(&d, create, &out), 0);
    snprintf(victim, sizeof(victim), "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    assert_int_equal(strncmp(victim, "vlk_", 4), 0);
    assert_int_equal(get(&d, "/v1/audit", victim, &r), 403); /* a reader, but known */
    h_resp_cleanup(&r);
    key_id(&d, "victim", id, sizeof(id));
    assert_int_equal(h_daemon_run(&d, revoke, NULL), 0);
    assert_int_equal(get(&d, "/v1/audit", victim, &r), 401);
    assert_string_equal(json_string_value(json_object_get(r.json, "code")), "api_key_revoked");
    h_resp_cleanup(&r);
    /* the other key still works, and sees the three CLI actions and the reader's refused
     * attempt to read the log */
    assert_int_equal(get(&d, "/v1/audit", admin, &r), 200);
    {
        json_t *v = json_object_get(r.json, "value");
        assert_int_equal(json_array_size(v), 4);
        assert_string_equal(json_string_value(json_object_get(json_array_get(v, 2), "outcome")),
                            "denied");
        assert_string_equal(json_string_value(json_object_get(json_array_get(v, 2), "action")),
                            "GET /v1/audit");
        assert_string_equal(json_string_value(json_object_get(json_array_get(v, 3), "action")),
                            "apiKey.revoke");
        assert_string_equal(json_string_value(json_object_get(json_array_get(v, 3), "actor")),
                            "cli");
        assert_string_equal(json_string_value(json_object_get(json_array_get(v, 3), "target")), id);
    }
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

/* GET /v1{vm}/access reads the key's row and the VM's access in one read transaction per
 * request: a key revoked from the command line is refused there at once too, on every worker,
 * also after requests that were refused inside that transaction (a 403 outside the caller's
 * scope, a 401) and so had to end it early. */
static void test_snapshot_route_sees_revocation(void **state)
{
    struct daemon d;
    char reader[128], scoped[128], id[64], *out = NULL;
    const char *create[] = {"keys", "create", "--name", "snap", "--role", "reader", NULL};
    const char *create_scoped[] = {
        "keys",   "create", "--name",  "snap-scoped",
        "--role", "reader", "--scope", "/subscriptions/00000000-0000-0000-0000-0000000000aa",
        NULL};
    const char *revoke[] = {"keys", "revoke", "--id", id, NULL};
    const char *vm = "/v1/subscriptions/00000000-0000-0000-0000-0000000000bb/resourceGroups/rg/"
                     "virtualMachines/vm1/access";
    struct resp r;
    (void)state;

    assert_true(h_daemon_start(&d, NULL, NULL));
    assert_int_equal(h_daemon_run(&d, create, &out), 0);
    snprintf(reader, sizeof(reader), "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    assert_int_equal(h_daemon_run(&d, create_scoped, &out), 0);
    snprintf(scoped, sizeof(scoped), "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    for (int i = 0; i < 8; i++) { /* new connections: both workers answer some */
        assert_int_equal(get(&d, vm, reader, &r), 200);
        assert_non_null(strstr(r.body, "\"known\":false"));
        h_resp_cleanup(&r);
        assert_int_equal(get(&d, vm, scoped, &r), 403);
        h_resp_cleanup(&r);
        assert_int_equal(get(&d, vm, "vlk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &r), 401);
        h_resp_cleanup(&r);
    }
    key_id(&d, "snap", id, sizeof(id));
    assert_int_equal(h_daemon_run(&d, revoke, NULL), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(get(&d, vm, reader, &r), 401);
        assert_string_equal(json_string_value(json_object_get(r.json, "code")), "api_key_revoked");
        h_resp_cleanup(&r);
    }
    assert_int_equal(h_daemon_stop(&d), 0);
}

static void test_audit_paging(void **state)
{
    struct daemon d;
    char admin[128], scoped[128], next[256];
    const char *sc[] = {"/subscriptions/00000000-0000-0000-0000-000000000001", NULL};
    struct resp r;
    size_t seen = 0;
    int64_t last = 0;
    (void)state;

    assert_true(h_daemon_start(&d, NULL, NULL));
    for (int i = 0; i < 4; i++)
        h_daemon_key(&d, "reader", NULL, scoped, sizeof(scoped));
    h_daemon_key(&d, "administrator", sc, scoped, sizeof(scoped));
    h_daemon_key(&d, "administrator", NULL, admin, sizeof(admin));
    /* 6 rows, pages of 4 */
    snprintf(next, sizeof(next), "/v1/audit?limit=4");
    while (next[0] != '\0') {
        json_t *v, *e;
        size_t i;
        assert_int_equal(get(&d, next, admin, &r), 200);
        v = json_object_get(r.json, "value");
        json_array_foreach(v, i, e)
        {
            int64_t seq = json_integer_value(json_object_get(e, "seq"));
            assert_true(seq > last);
            last = seq;
            assert_int_equal(strlen(json_string_value(json_object_get(e, "hash"))), 64);
            seen++;
        }
        next[0] = '\0';
        if (json_is_string(json_object_get(r.json, "nextLink")))
            snprintf(next, sizeof(next), "%s",
                     json_string_value(json_object_get(r.json, "nextLink")));
        h_resp_cleanup(&r);
    }
    assert_int_equal(seen, 6);
    assert_int_equal(get(&d, "/v1/audit?limit=0", admin, &r), 400);
    h_resp_cleanup(&r);
    assert_int_equal(get(&d, "/v1/audit?after=x", admin, &r), 400);
    h_resp_cleanup(&r);
    /* an administrator limited to a subscription may not read the whole log */
    assert_int_equal(get(&d, "/v1/audit", scoped, &r), 403);
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

static void test_tamper_detected(void **state)
{
    struct daemon d;
    char key[128], *out = NULL;
    const char *verify[] = {"audit", "verify", NULL};
    (void)state;

    assert_true(h_daemon_start(&d, NULL, NULL));
    h_daemon_key(&d, "reader", NULL, key, sizeof(key));
    h_daemon_key(&d, "operator", NULL, key, sizeof(key));
    h_daemon_key(&d, "administrator", NULL, key, sizeof(key));
    assert_int_equal(h_daemon_stop(&d), 0);

    assert_int_equal(h_daemon_run(&d, verify, &out), 0);
    assert_non_null(strstr(out, "audit log intact (3 rows)"));
    free(out);

    /* the table refuses edits; someone with the database drops the guard and rewrites row 2 */
    assert_true(h_daemon_sql(&d, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", NULL, NULL,
                             0) != 0);
    assert_int_equal(h_daemon_sql(&d,
                                  "DROP TRIGGER audit_log_no_update; "
                                  "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
                                  "DROP TRIGGER audit_log_no_update ON audit_log; "
                                  "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
                                  NULL, 0),
                     0);
    assert_int_not_equal(h_daemon_run(&d, verify, &out), 0);
    assert_non_null(strstr(out, "row 2"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revoked_key_refused),
        cmocka_unit_test(test_snapshot_route_sees_revocation),
        cmocka_unit_test(test_audit_paging),
        cmocka_unit_test(test_tamper_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
