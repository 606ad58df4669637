/* The reconciler's changes in Azure are audited: a "requested" row before each change, the
 * outcome after, all hash-chained; and when the audit row cannot be written, the change does
 * not happen (azsim sees no mutation) until it can. */
#include "test_login_common.h"

struct audit_find {
    struct lctx *c;
    const char *action;
    const char *outcome;
};

static bool audit_has(void *arg)
{
    struct audit_find *f = arg;
    json_t *j = api(f->c, "GET", "/v1/audit?limit=1000", NULL, 200, NULL, 0);
    bool found = false;
    size_t i;
    json_t *row;

    json_array_foreach(json_object_get(j, "value"), i, row)
    {
        const char *actor = json_string_value(json_object_get(row, "actor"));
        const char *action = json_string_value(json_object_get(row, "action"));
        const char *outcome = json_string_value(json_object_get(row, "outcome"));
        if (actor && action && outcome && strcmp(actor, "reconciler") == 0 &&
            strcmp(action, f->action) == 0 && strcmp(outcome, f->outcome) == 0)
            found = true;
    }
    json_decref(j);
    return found;
}

/* The VM's task was put back because the audit row could not be written. */
static bool refused_for_audit(void *arg)
{
    struct lctx *c = arg;
    char line[256];

    if (h_daemon_sql(&c->d,
                     "SELECT count(*) FROM tasks WHERE kind = 'vm_login' AND "
                     "last_error LIKE '%audit log unavailable%'",
                     NULL, line, sizeof(line)) != 0)
        return false;
    return strtol(line, NULL, 10) > 0;
}

static void test_no_audit_no_change(void **state)
{
    struct lctx c;
    char op[64];
    json_t *j;
    struct audit_find f = {.c = &c, .action = "entraLogin.identity", .outcome = "requested"};
    const char *const verify[] = {"audit", "verify", NULL};
    (void)state;

    lctx_start(&c, "0.02", NULL);
    /* the audit log refuses new rows: the reconciler must not touch Azure */
    assert_int_equal(
        h_daemon_sql(&c.d,
                     "CREATE TRIGGER audit_block BEFORE INSERT ON audit_log "
                     "WHEN NEW.actor = 'reconciler' BEGIN SELECT RAISE(ABORT, 'blocked'); END;",
                     "CREATE FUNCTION audit_block() RETURNS trigger LANGUAGE plpgsql AS $$ "
                     "BEGIN IF NEW.actor = 'reconciler' THEN RAISE EXCEPTION 'blocked'; END IF; "
                     "RETURN NEW; END $$; CREATE TRIGGER audit_block BEFORE INSERT ON audit_log "
                     "FOR EACH ROW EXECUTE FUNCTION audit_block();",
                     NULL, 0),
        0);
    j = login_call(&c, "PUT", VM_API(RG, "win-vm-01"), "{}", op, sizeof(op));
    json_decref(j);
    /* the reconciler looks at the VM (reads), then stops short of the change and says why */
    assert_true(h_poll(refused_for_audit, &c, 30000));
    assert_false(audit_has(&f));
    assert_int_equal(sim_mutations(&c, "win-vm-01", NULL), 0);

    /* once rows can be written again, the change goes ahead, audited before and after */
    assert_int_equal(h_daemon_sql(&c.d, "DROP TRIGGER audit_block;",
                                  "DROP TRIGGER audit_block ON audit_log;", NULL, 0),
                     0);
    j = wait_op(&c, op, 60000);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Succeeded");
    json_decref(j);
    assert_true(h_poll(audit_has, &f, 10000));
    f.action = "entraLogin.installExtension";
    assert_true(audit_has(&f));
    assert_true(sim_mutations(&c, "win-vm-01", NULL) >= 2);
    assert_int_equal(h_daemon_run(&c.d, verify, NULL), 0);
    lctx_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_audit_no_change)};
    if (AZSIM_BIN[0] == '\0')
        return 0;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
