/* test_store_audit.c: the hash-chained audit log (append, page, verify, tampering found at the
 * edited row, an append rolled back with its change), API keys and operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/jose.h"

static void append(struct store *st, int i, struct store_audit_entry *e)
{
    char target[64];
    struct err_detail d = {0};

    snprintf(target, sizeof(target), "/subscriptions/s/resourceGroups/rg/vm%d", i);
    *e = (struct store_audit_entry){.at = 1000 + i,
                                    .actor = (char *)"key:k1",
                                    .action = (char *)"loginGrant.create",
                                    .target = target,
                                    .request_id = (char *)"req-1",
                                    .outcome = (char *)"accepted",
                                    .details = (char *)"{\"role\":\"user\"}"};
    assert_int_equal(store_audit_append(st, e, &d), ERR_OK);
    e->target = NULL; /* borrowed, gone with this frame */
}

/* Edits one row behind the store's back, as an attacker with file access would. */
static void tamper(const char *path, const char *sql)
{
    sqlite3 *db;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER audit_log_no_update", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_chain_verify_and_tamper(void **state)
{
    struct fixture *f = *state;
    struct store_audit_entry e;
    struct store_audit_entry *list;
    struct err_detail d = {0};
    int64_t rows;
    int64_t broken;
    size_t n;

    for (int i = 1; i <= 1200; i++) {
        append(f->st, i, &e);
        assert_int_equal(e.seq, i);
        if (i == 1)
            assert_string_equal(e.prev_hash, STORE_AUDIT_GENESIS);
    }
    assert_int_equal(store_audit_verify(f->st, &rows, &broken, &d), ERR_OK);
    assert_int_equal(rows, 1200);
    assert_int_equal(broken, 0);

    assert_int_equal(store_audit_list(f->st, 1000, 50, &list, &n, &d), ERR_OK);
    assert_int_equal(n, 50);
    assert_int_equal(list[0].seq, 1001);
    assert_string_equal(list[1].prev_hash, list[0].hash);
    assert_string_equal(list[0].details, "{\"role\":\"user\"}");
    store_audit_list_free(list, n);
    assert_int_equal(store_audit_list(f->st, 1190, 1000, &list, &n, &d), ERR_OK);
    assert_int_equal(n, 10);
    store_audit_list_free(list, n);
    assert_int_equal(store_audit_list(f->st, 0, 0, &list, &n, &d), ERR_INVALID);

    /* The store refuses to edit history. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE audit_log SET actor = 'x' WHERE seq = 3", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_log", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    tamper(f->path, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 777");
    assert_int_equal(store_audit_verify(f->st, &rows, &broken, &d), ERR_CONFLICT);
    assert_int_equal(broken, 777);
    assert_int_equal(rows, 776);
    assert_non_null(strstr(d.msg, "777"));
}

static void test_tamper_hash_recomputed_breaks_next(void **state)
{
    struct fixture *f = *state;
    struct store_audit_entry e;
    int64_t rows;
    int64_t broken;

    for (int i = 1; i <= 5; i++)
        append(f->st, i, &e);
    /* Rewriting a row's own hash does not help: the next row's link breaks. */
    tamper(f->path, "UPDATE audit_log SET hash = '" STORE_AUDIT_GENESIS "' WHERE seq = 2");
    assert_int_equal(store_audit_verify(f->st, &rows, &broken, NULL), ERR_CONFLICT);
    assert_int_equal(broken, 2);
}

static void test_append_rolls_back_with_change(void **state)
{
    struct store *st = ST(state);
    struct store_audit_entry e = {.at = 1,
                                  .actor = (char *)"a",
                                  .action = (char *)"b",
                                  .outcome = (char *)"accepted",
                                  .details = (char *)"{bad"};
    struct store_operation op = {
        .id = (char *)"op-1", .kind = (char *)"x", .target = (char *)"/subscriptions/S"};
    struct store_operation got;
    int64_t rows;
    int64_t broken;

    /* A change and its audit row: the row can't be written, so the change does not happen. */
    assert_int_equal(store_tx_begin(st, NULL), ERR_OK);
    assert_int_equal(store_operation_create(st, &op, 5, NULL), ERR_OK);
    assert_int_equal(store_audit_append(st, &e, NULL), ERR_INVALID);
    store_tx_rollback(st);
    assert_int_equal(store_operation_get(st, "op-1", &got, NULL), ERR_NOT_FOUND);
    assert_int_equal(store_audit_verify(st, &rows, &broken, NULL), ERR_OK);
    assert_int_equal(rows, 0);
    e.actor = NULL;
    assert_int_equal(store_audit_append(st, &e, NULL), ERR_INVALID);
}

static void test_api_keys(void **state)
{
    struct store *st = ST(state);
    char hash[65];
    char hash2[65];
    struct store_api_key k = {.id = (char *)"k1",
                              .name = (char *)"bot",
                              .role = (char *)"operator",
                              .scopes = (char *)"[\"/subscriptions/s1\"]",
                              .created_at = 10};
    struct store_api_key got;
    struct store_api_key *list;
    size_t n;

    sha256_hex("vlk_secret", 10, hash);
    sha256_hex("vlk_other", 9, hash2);
    k.key_hash = hash;
    assert_int_equal(store_api_key_insert(st, &k, NULL), ERR_OK);
    assert_int_equal(store_api_key_insert(st, &k, NULL), ERR_CONFLICT);
    k.id = (char *)"k2";
    k.role = (char *)"root";
    k.key_hash = hash2;
    assert_int_equal(store_api_key_insert(st, &k, NULL), ERR_INVALID);
    k.role = (char *)"reader";
    k.scopes = NULL;
    assert_int_equal(store_api_key_insert(st, &k, NULL), ERR_OK);

    assert_int_equal(store_api_key_find_by_hash(st, hash, &got, NULL), ERR_OK);
    assert_string_equal(got.id, "k1");
    assert_string_equal(got.role, "operator");
    assert_string_equal(got.scopes, "[\"/subscriptions/s1\"]");
    assert_string_equal(got.grant_limits, "{}");
    assert_int_equal(got.revoked_at, 0);
    store_api_key_clear(&got);
    assert_int_equal(store_api_key_find_by_hash(st, STORE_AUDIT_GENESIS, &got, NULL),
                     ERR_NOT_FOUND);

    int64_t before = store_changes(st);
    assert_int_equal(store_api_key_touch(st, "k1", 100000, NULL), ERR_OK);
    assert_int_equal(store_api_key_touch(st, "k1", 100500, NULL), ERR_OK); /* too soon: no write */
    assert_int_equal(store_changes(st), before + 1);

    assert_int_equal(store_api_key_revoke(st, "k1", 200, NULL), ERR_OK);
    assert_int_equal(store_api_key_revoke(st, "k1", 300, NULL), ERR_OK);
    assert_int_equal(store_api_key_revoke(st, "nope", 300, NULL), ERR_NOT_FOUND);
    assert_int_equal(store_api_key_get(st, "k1", &got, NULL), ERR_OK);
    assert_int_equal(got.revoked_at, 200);
    assert_int_equal(got.last_used_at, 100000);
    store_api_key_clear(&got);

    assert_int_equal(store_api_key_list(st, &list, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[1].id, "k2");
    store_api_key_list_free(list, n);
}

static void test_operations(void **state)
{
    struct store *st = ST(state);
    struct store_operation op = {.id = (char *)"op-2",
                                 .kind = (char *)"entraLogin.enable",
                                 .target = (char *)"/subscriptions/S/resourceGroups/RG"};
    struct store_operation got;

    assert_int_equal(store_operation_create(st, &op, 5, NULL), ERR_OK);
    assert_int_equal(store_operation_get(st, "op-2", &got, NULL), ERR_OK);
    assert_string_equal(got.status, "NotStarted");
    assert_string_equal(got.steps, "[]");
    assert_int_equal(got.ended_at, 0);
    store_operation_clear(&got);
    assert_int_equal(
        store_operation_update(st, "op-2", "Running", "[{\"vm\":\"a\"}]", NULL, NULL, 6, NULL),
        ERR_OK);
    assert_int_equal(store_operation_update(st, "op-2", "PartiallySucceeded", NULL, "Ext1007",
                                            "one VM failed", 7, NULL),
                     ERR_OK);
    assert_int_equal(store_operation_update(st, "op-2", "Bogus", NULL, NULL, NULL, 8, NULL),
                     ERR_INVALID);
    assert_int_equal(store_operation_update(st, "nope", "Running", NULL, NULL, NULL, 8, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(store_operation_get(st, "op-2", &got, NULL), ERR_OK);
    assert_string_equal(got.status, "PartiallySucceeded");
    assert_string_equal(got.steps, "[{\"vm\":\"a\"}]");
    assert_string_equal(got.error_code, "Ext1007");
    assert_int_equal(got.ended_at, 7);
    assert_int_equal(got.updated_at, 7);
    store_operation_clear(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_verify_and_tamper, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_hash_recomputed_breaks_next, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_append_rolls_back_with_change, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_keys, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_operations, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
