/* test_audit_anchor.c: the audit chain anchored outside the database, attacked the way someone
 * with the database file (and the sqlite3 CLI) but without the audit key would: the last rows
 * deleted are caught by `vmlogind audit verify` through the checkpoint file ("truncated after
 * checkpoint seq X"); a checkpoint forged without the key is refused; the daemon signs the
 * head by itself as rows come; and refused privileged attempts (a reader POSTing a grant, an
 * operator limited to user login asking for administrator) are audited with the actor, the
 * action, the target and the refusal code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "vmlogind/jose.h"

#define RG "/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb/resourceGroups/rg-entra"

static void sqlite(const struct daemon *d, const char *sql)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "sqlite3 -cmd '.timeout 10000' '%s' \"%s\"", d->db, sql);
    assert_int_equal(system(cmd), 0);
}

static char *verify(struct daemon *d, int want_status)
{
    const char *args[] = {"audit", "verify", NULL};
    char *out = NULL;
    int st = h_daemon_run(d, args, &out);

    if (st != want_status)
        fail_msg("audit verify exited %d (want %d): %s", st, want_status, out);
    return out;
}

static void test_truncation_and_forgery_detected(void **state)
{
    struct daemon d;
    char key[128], path[400], *out;
    struct stat sb;
    (void)state;

    h_skip_on_pg("it truncates and forges the audit log in the SQLite file (sqlite3 CLI)");
    assert_true(h_daemon_start(&d, NULL, NULL));
    for (int i = 0; i < 4; i++)
        h_daemon_key(&d, "reader", NULL, key, sizeof(key));
    assert_int_equal(h_daemon_stop(&d), 0);
    /* the key was made on first start, beside the database, for the owner only */
    snprintf(path, sizeof(path), "%s.audit-key", d.db);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    out = verify(&d, 0);
    assert_non_null(strstr(out, "audit log intact (4 rows)"));
    free(out);

    /* someone with the database drops the guards and deletes the last rows, and the
     * checkpoints kept in the database with them: the chain left is consistent */
    sqlite(&d, "DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_checkpoints_no_delete; "
               "DELETE FROM audit_log WHERE seq > 2; DELETE FROM audit_checkpoints;");
    out = verify(&d, 1);
    assert_non_null(strstr(out, "truncated after checkpoint seq 4"));
    assert_non_null(strstr(out, "ends at seq 2"));
    free(out);

    /* a checkpoint of the shortened chain, "signed" without the key, does not pass */
    {
        char text[256], sha[65], line[400];
        char *hash = NULL;
        char cmd[600];
        FILE *p;
        snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'SELECT hash FROM audit_log WHERE seq = 2'", d.db);
        p = popen(cmd, "r");
        assert_non_null(p);
        hash = calloc(1, 80);
        assert_non_null(fgets(hash, 80, p));
        pclose(p);
        hash[strcspn(hash, "\n")] = '\0';
        snprintf(text, sizeof(text), "vmlogind-audit-checkpoint v1 seq=2 hash=%s legacy_end=0 at=1",
                 hash);
        sha256_hex(text, strlen(text), sha);
        snprintf(line, sizeof(line), "%s mac=%s\n", text, sha);
        snprintf(path, sizeof(path), "%s.audit-checkpoints", d.db);
        h_write_file(path, line);
        free(hash);
    }
    out = verify(&d, 1);
    assert_non_null(strstr(out, "is not signed with this audit key"));
    free(out);

    /* and without the checkpoint file, truncation cannot be ruled out: not intact either */
    unlink(path);
    out = verify(&d, 1);
    assert_non_null(strstr(out, "cannot be ruled out"));
    free(out);
}

static const json_t *denied_row(const json_t *rows, const char *action)
{
    size_t i;
    const json_t *e;

    json_array_foreach(rows, i, e)
    {
        if (strcmp(h_jstr(e, "outcome"), "denied") == 0 && strcmp(h_jstr(e, "action"), action) == 0)
            return e;
    }
    fail_msg("no denied %s row", action);
    return NULL;
}

struct cp_wait {
    const char *file;
    const char *want;
};

static bool cp_has(void *arg)
{
    const struct cp_wait *w = arg;
    char *text = h_read_file(w->file);
    bool ok = text != NULL && strstr(text, w->want) != NULL;

    free(text);
    return ok;
}

static void test_refusals_audited_and_signed(void **state)
{
    const char *limited[] = {"keys",     "create",        "--name", "limited", "--role",
                             "operator", "--grant-roles", "user",   NULL};
    struct daemon d;
    char admin[128], reader[128], op[128], cps[400], *out = NULL;
    const json_t *e;
    json_t *audit;
    const char *p;
    (void)state;

    assert_true(h_daemon_start(&d, "audit_checkpoint_rows = 1\n", NULL));
    h_daemon_key(&d, "administrator", NULL, admin, sizeof(admin));
    h_daemon_key(&d, "reader", NULL, reader, sizeof(reader));
    assert_int_equal(h_daemon_run(&d, limited, &out), 0);
    p = strstr(out, "vlk_");
    assert_non_null(p);
    snprintf(op, sizeof(op), "%.*s", (int)strcspn(p, " \r\n\t\""), p);
    free(out);

    json_decref(h_api(d.p.url, reader, "POST", "/v1/loginGrants",
                      "{\"scope\":\"" RG "\",\"role\":\"user\","
                      "\"principal\":{\"upn\":\"carol@contoso.example\"}}",
                      403));
    json_decref(h_api(d.p.url, op, "POST", "/v1/loginGrants",
                      "{\"scope\":\"" RG "\",\"role\":\"administrator\","
                      "\"principal\":{\"upn\":\"bob@contoso.example\"}}",
                      403));
    audit = h_api(d.p.url, admin, "GET", "/v1/audit", NULL, 200);
    e = denied_row(json_object_get(audit, "value"), "POST /v1/loginGrants");
    assert_int_equal(strncmp(h_jstr(e, "actor"), "key:", 4), 0);
    assert_string_equal(h_jstr(e, "target"), "/v1/loginGrants");
    assert_string_equal(h_jstr(json_object_get(e, "details"), "code"), "insufficient_role");
    e = denied_row(json_object_get(audit, "value"), "loginGrant.create");
    assert_int_equal(strncmp(h_jstr(e, "actor"), "key:", 4), 0);
    assert_string_equal(h_jstr(e, "target"), RG);
    assert_string_equal(h_jstr(json_object_get(e, "details"), "code"), "grant_role_forbidden");
    json_decref(audit);

    /* the running daemon signs the head as rows come (one row apart here): seq 5 is the
     * second refusal (3 keys created, then two refusals) */
    snprintf(cps, sizeof(cps), "%s.audit-checkpoints", d.db);
    {
        struct cp_wait w = {.file = cps, .want = "checkpoint v1 seq=5 "};
        assert_true(h_poll(cp_has, &w, 10000));
    }
    assert_int_equal(h_daemon_stop(&d), 0);
    out = verify(&d, 0);
    assert_non_null(strstr(out, "audit log intact (5 rows)"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncation_and_forgery_detected),
        cmocka_unit_test(test_refusals_audited_and_signed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
