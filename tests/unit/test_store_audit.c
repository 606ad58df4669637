/* test_store_audit.c: the hash-chained audit log (append, page, verify, tampering found at the
 * edited row, an append rolled back with its change), its anchoring (rows deleted from the
 * end found by the checkpoint file, a row rewritten with the chain recomputed by plain SHA-256
 * found, checkpoints forged without the key refused, an older plain-SHA log migrated with no
 * row lost), API keys and operations. unit.test_store_audit.pg runs it on PostgreSQL: the
 * edits behind the store's back go through fixture_raw_exec there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store_int.h"
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

/* Runs SQL on the database behind the store's back, as an attacker with access to the file
 * (or to the database's owner) would, the guards dropped first. */
static void raw(struct fixture *f, const char *sql)
{
    static const char guards_lite[] = "DROP TRIGGER IF EXISTS audit_log_no_update;"
                                      "DROP TRIGGER IF EXISTS audit_log_no_delete;"
                                      "DROP TRIGGER IF EXISTS audit_anchor_no_update;"
                                      "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;";
    static const char guards_pg[] =
        "SET client_min_messages = warning;"
        "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log;"
        "DROP TRIGGER IF EXISTS audit_log_no_delete ON audit_log;"
        "DROP TRIGGER IF EXISTS audit_anchor_no_update ON audit_anchor;"
        "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete ON audit_checkpoints;";

    (void)fixture_raw_exec(f, f->schema[0] != '\0' ? guards_pg : guards_lite);
    if (fixture_raw_exec(f, sql) != 0)
        fail_msg("%s: failed", sql);
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

    /* one transaction: each append joins it (and PostgreSQL takes no round trips for 1200
     * transactions) */
    assert_int_equal(store_tx_begin(f->st, NULL), ERR_OK);
    for (int i = 1; i <= 1200; i++) {
        append(f->st, i, &e);
        assert_int_equal(e.seq, i);
        if (i == 1)
            assert_string_equal(e.prev_hash, STORE_AUDIT_GENESIS);
    }
    assert_int_equal(store_tx_commit(f->st, NULL), ERR_OK);
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
    assert_int_not_equal(fixture_raw_exec(f, "UPDATE audit_log SET actor = 'x' WHERE seq = 3"), 0);
    assert_int_not_equal(fixture_raw_exec(f, "DELETE FROM audit_log"), 0);

    raw(f, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 777");
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
    raw(f, "UPDATE audit_log SET hash = '" STORE_AUDIT_GENESIS "' WHERE seq = 2");
    assert_int_equal(store_audit_verify(f->st, &rows, &broken, NULL), ERR_CONFLICT);
    assert_int_equal(broken, 2);
}

static const char *cp_file(const struct fixture *f)
{
    static char p[96];
    snprintf(p, sizeof(p), "%s.audit-checkpoints", f->path);
    return p;
}

/* n rows, then a checkpoint of the head in the database and the file. */
static void rows_and_checkpoint(struct fixture *f, int n)
{
    struct store_audit_entry e;
    bool written = false;

    for (int i = 1; i <= n; i++)
        append(f->st, i, &e);
    assert_int_equal(store_audit_checkpoint(f->st, cp_file(f), 5000, 1, 0, &written, NULL), ERR_OK);
    assert_true(written);
}

static void expect_bad(struct fixture *f, const char *file, const char *code, const char *text)
{
    struct store_audit_report r;
    struct err_detail d = {{0}, {0}};

    assert_int_equal(store_audit_verify_anchored(f->st, file, &r, &d), ERR_CONFLICT);
    assert_string_equal(d.code, code);
    if (strstr(d.msg, text) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", d.msg, text);
}

static void test_truncation_found_by_checkpoint_file(void **state)
{
    struct fixture *f = *state;
    struct store_audit_entry e;
    struct store_audit_report r;
    struct err_detail d = {{0}, {0}};
    bool written = true;

    /* An empty log is anchored too: its genesis is signed. */
    assert_int_equal(store_audit_checkpoint(f->st, cp_file(f), 1000, 1, 0, &written, NULL), ERR_OK);
    assert_true(written);
    rows_and_checkpoint(f, 10);
    /* nothing new: no checkpoint; a row, but neither 5 rows nor 60 s: none either */
    assert_int_equal(store_audit_checkpoint(f->st, cp_file(f), 6000, 5, 60000, &written, NULL),
                     ERR_OK);
    assert_false(written);
    append(f->st, 11, &e);
    assert_int_equal(store_audit_checkpoint(f->st, cp_file(f), 6000, 5, 60000, &written, NULL),
                     ERR_OK);
    assert_false(written);
    assert_int_equal(store_audit_verify_anchored(f->st, cp_file(f), &r, &d), ERR_OK);
    assert_int_equal(r.rows, 11);
    assert_int_equal(r.checkpoints, 2 * 2); /* seq 0 and 10, each in the file and the table */
    assert_int_equal(r.checkpoint_seq, 10);
    assert_int_equal(r.legacy_end, 0);

    /* The last rows go, with the checkpoints in the database: the chain left is intact... */
    raw(f, "DELETE FROM audit_log WHERE seq > 7; DELETE FROM audit_checkpoints");
    assert_int_equal(store_audit_verify_anchored(f->st, NULL, &r, &d), ERR_OK);
    assert_int_equal(r.rows, 7);
    /* ...but the file outside the database still says it reached seq 10. */
    expect_bad(f, cp_file(f), "audit_truncated", "truncated after checkpoint seq 10");
    expect_bad(f, cp_file(f), "audit_truncated", "ends at seq 7");
    /* Without the file there is nothing to hold the chain to. */
    unlink(cp_file(f));
    expect_bad(f, cp_file(f), "audit_unanchored", "cannot be ruled out");
}

/* Replicas on one database each keep a checkpoint file of their own. One whose file holds
 * nothing yet gets the head signed into it though the head is signed already (by another
 * replica), so `audit verify` holds the chain to its file too; once it holds one, nothing new
 * writes nothing. */
static void test_each_replica_file_anchored(void **state)
{
    struct fixture *f = *state;
    struct store_audit_report r;
    struct err_detail d = {{0}, {0}};
    bool written = false;
    char other[128];

    rows_and_checkpoint(f, 3);
    snprintf(other, sizeof(other), "%s.replica-2", cp_file(f));
    unlink(other);
    assert_int_equal(store_audit_checkpoint(f->st, other, 6000, 1, 0, &written, NULL), ERR_OK);
    assert_true(written);
    assert_int_equal(store_audit_verify_anchored(f->st, other, &r, &d), ERR_OK);
    assert_int_equal(r.checkpoint_seq, 3);
    assert_int_equal(store_audit_checkpoint(f->st, other, 7000, 1, 0, &written, NULL), ERR_OK);
    assert_false(written);
    assert_int_equal(store_audit_checkpoint(f->st, cp_file(f), 7000, 1, 0, &written, NULL), ERR_OK);
    assert_false(written);
    unlink(other);
}

static void test_truncation_found_by_database_checkpoint(void **state)
{
    struct fixture *f = *state;

    rows_and_checkpoint(f, 6);
    raw(f, "DELETE FROM audit_log WHERE seq > 4");
    expect_bad(f, NULL, "audit_truncated", "truncated after checkpoint seq 6");
}

/* What an attacker without the key can do: edit row 5 and recompute every later hash and link
 * with plain SHA-256, as the chain was computed before. */
static void rewrite_plain(struct fixture *f, int from, int to)
{
    struct store_audit_entry *list;
    char prev[65] = {0};
    char *script = NULL; /* one run of raw for all the rows: connections cost on PostgreSQL */
    size_t n;

    assert_int_equal(store_audit_list(f->st, 0, 1000, &list, &n, NULL), ERR_OK);
    for (size_t i = 0; i < n; i++) {
        struct store_audit_entry *e = &list[i];
        if (e->seq < from || e->seq > to) {
            memcpy(prev, e->hash, sizeof(prev));
            continue;
        }
        if (e->seq == from) {
            free(e->outcome);
            e->outcome = strdup("denied");
        } else {
            memcpy(e->prev_hash, prev, sizeof(prev));
        }
        store_audit_hash(e, e->hash);
        memcpy(prev, e->hash, sizeof(prev));
        script = sqlite3_mprintf("%zUPDATE audit_log SET outcome = %Q, prev_hash = %Q, hash = %Q "
                                 "WHERE seq = %lld;",
                                 script, e->outcome, e->prev_hash, e->hash, (long long)e->seq);
    }
    raw(f, script);
    sqlite3_free(script);
    store_audit_list_free(list, n);
}

static void test_rewrite_with_plain_sha_found(void **state)
{
    struct fixture *f = *state;
    struct store_audit_report r;
    struct err_detail d = {{0}, {0}};

    rows_and_checkpoint(f, 10);
    rewrite_plain(f, 5, 10);
    assert_int_equal(store_audit_verify_anchored(f->st, cp_file(f), &r, &d), ERR_CONFLICT);
    assert_string_equal(d.code, "audit_chain_broken");
    assert_int_equal(r.broken_seq, 5);
    assert_int_equal(r.rows, 4);
    /* Claiming the whole log predates the key (so plain SHA-256 would do) is caught by the
     * signed checkpoints, which carry where the keyed chain starts. */
    raw(f, "UPDATE audit_anchor SET legacy_end = 10");
    rewrite_plain(f, 1, 10);
    expect_bad(f, cp_file(f), "audit_checkpoint_mismatch", "predate the key");
}

static void test_checkpoint_forgery_refused(void **state)
{
    struct fixture *f = *state;
    struct store *other;
    struct store_audit_entry *list;
    char line[512], sha[65], text[256];
    size_t n;
    FILE *out;

    rows_and_checkpoint(f, 10);
    raw(f, "DELETE FROM audit_log WHERE seq > 7; DELETE FROM audit_checkpoints");
    assert_int_equal(store_audit_list(f->st, 6, 1, &list, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    /* A checkpoint of the new head "signed" with plain SHA-256, replacing the file. */
    snprintf(text, sizeof(text), "vmlogind-audit-checkpoint v1 seq=7 hash=%s legacy_end=0 at=9000",
             list[0].hash);
    sha256_hex(text, strlen(text), sha);
    snprintf(line, sizeof(line), "%s mac=%s\n", text, sha);
    out = fopen(cp_file(f), "w");
    assert_non_null(out);
    fputs(line, out);
    fclose(out);
    expect_bad(f, cp_file(f), "audit_checkpoint_forged", "line 1");
    /* The same into the database table. */
    raw(f, "DELETE FROM audit_checkpoints");
    {
        char *sql = sqlite3_mprintf("INSERT INTO audit_checkpoints VALUES (7, %Q, 0, 9000, %Q)",
                                    list[0].hash, sha);
        raw(f, sql);
        sqlite3_free(sql);
    }
    expect_bad(f, NULL, "audit_checkpoint_forged", "in the database");
    raw(f, "DELETE FROM audit_checkpoints");
    /* A checkpoint signed with another key does not pass either. */
    {
        struct err_detail d = {{0}, {0}};
        unsigned char k[32];
        for (size_t i = 0; i < sizeof(k); i++)
            k[i] = (unsigned char)(list[0].hash[i] ^ 0x5a);
        assert_int_equal(fixture_open_second(f, &other, &d), ERR_OK);
        assert_int_equal(store_audit_key_set(other, k, sizeof(k), &d), ERR_OK);
        unlink(cp_file(f));
        assert_int_equal(store_audit_checkpoint(other, cp_file(f), 9000, 1, 0, NULL, &d), ERR_OK);
        store_close(other);
        expect_bad(f, cp_file(f), "audit_checkpoint_forged", "seq 7");
    }
    store_audit_list_free(list, n);
    /* Appends refuse to run without a key. */
    {
        struct store *nokey;
        struct store_audit_entry e = {
            .at = 1, .actor = (char *)"a", .action = (char *)"b", .outcome = (char *)"c"};
        assert_int_equal(fixture_open_second(f, &nokey, NULL), ERR_OK);
        assert_int_equal(store_audit_append(nokey, &e, NULL), ERR_PRECONDITION);
        store_close(nokey);
    }
}

/* A log an older version wrote (plain SHA-256 rows, no anchor) migrates with every row kept,
 * verified as it was; the keyed chain starts after it. */
static void test_legacy_log_migrates(void **state)
{
    struct fixture *f = *state;
    struct store *st;
    struct store_audit_entry e;
    struct store_audit_report r;
    struct err_detail d = {{0}, {0}};
    char key[96], prev[65] = STORE_AUDIT_GENESIS;
    bool created = false;
    bool pg = f->schema[0] != '\0';
    const struct store_migration *migs = pg ? store_pg_migrations : store_migrations;
    int count = pg ? store_pg_migrations_count : store_migrations_count;
    int before = 0;

    store_close(f->st);
    f->st = NULL;
    if (pg) { /* the schema empty again */
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE; CREATE SCHEMA %s", f->schema,
                 f->schema);
        assert_true(fixture_pg_admin(sql));
    } else {
        unlink(f->path);
    }
    while (before < count && migs[before].version < 8)
        before++;
    assert_int_equal(fixture_reopen(f, &d), ERR_OK);
    st = f->st;
    f->st = NULL;
    assert_int_equal(pg ? store_pg_migrate_with(store_pg_pool(st), migs, before, &d)
                        : store_migrate_with(st, migs, before, &d),
                     ERR_OK);
    char *script = NULL;
    for (int i = 1; i <= 5; i++) {
        e = (struct store_audit_entry){.seq = i,
                                       .at = 100 + i,
                                       .actor = (char *)"cli",
                                       .action = (char *)"apiKey.create",
                                       .target = (char *)"k",
                                       .outcome = (char *)"succeeded"};
        memcpy(e.prev_hash, prev, sizeof(prev));
        store_audit_hash(&e, e.hash);
        memcpy(prev, e.hash, sizeof(prev));
        script = sqlite3_mprintf("%zINSERT INTO audit_log (seq, at, actor, action, target, "
                                 "outcome, prev_hash, hash) VALUES (%d, %d, 'cli', "
                                 "'apiKey.create', 'k', 'succeeded', %Q, %Q);",
                                 script, i, 100 + i, e.prev_hash, e.hash);
    }
    raw(f, script);
    sqlite3_free(script);
    assert_int_equal(store_migrate(st, &d), ERR_OK);
    snprintf(key, sizeof(key), "%s.audit-key", f->path);
    unlink(key);
    assert_int_equal(store_audit_key_load(st, key, true, &created, &d), ERR_OK);
    assert_true(created);
    f->st = st;
    rows_and_checkpoint(f, 3);
    assert_int_equal(store_audit_verify_anchored(st, cp_file(f), &r, &d), ERR_OK);
    assert_int_equal(r.rows, 8);
    assert_int_equal(r.legacy_end, 5);
    /* The new rows are keyed: their hash is not the plain one. */
    {
        struct store_audit_entry *list;
        size_t n;
        char plain[65];
        assert_int_equal(store_audit_list(st, 5, 1, &list, &n, NULL), ERR_OK);
        assert_string_equal(list[0].prev_hash, prev);
        store_audit_hash(&list[0], plain);
        assert_string_not_equal(plain, list[0].hash);
        store_audit_list_free(list, n);
    }
    /* The key file lost once keyed rows exist: no new key is made over it. */
    unlink(key);
    assert_int_equal(store_audit_key_load(st, key, true, &created, &d), ERR_PRECONDITION);
    assert_non_null(strstr(d.msg, "restore"));
    /* A legacy row rewritten (and the plain chain recomputed up to the key) breaks the link
     * into the keyed chain. */
    rewrite_plain(f, 2, 5);
    expect_bad(f, cp_file(f), "audit_chain_broken", "seq 6");
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
        cmocka_unit_test_setup_teardown(test_truncation_found_by_checkpoint_file,
                                        fixture_setup_file, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_each_replica_file_anchored, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_truncation_found_by_database_checkpoint,
                                        fixture_setup_file, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_with_plain_sha_found, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_forgery_refused, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_legacy_log_migrates, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_append_rolls_back_with_change, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_keys, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_operations, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
