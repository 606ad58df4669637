/* test_store_api_keys.c: the api_keys table through store.h, on SQLite and (unit.*.pg) on
 * PostgreSQL: insert with its defaults, duplicates and a bad role refused with the store's
 * codes, lookups by hash and id, the list's order, revoke keeping its first time, and touch
 * writing at most once a minute; and the limits of Entra callers (identity_limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit/test_store_fixture.h"

/* A key hash (64 hex digits, as the schema wants) made of digit i. */
static char *H(int i)
{
    static char h[10][65];

    memset(h[i], '0' + i, 64);
    h[i][64] = '\0';
    return h[i];
}

static struct store_api_key key(const char *id, const char *hash, int64_t at)
{
    return (struct store_api_key){.id = (char *)id,
                                  .name = "bot",
                                  .role = "operator",
                                  .key_hash = (char *)hash,
                                  .created_at = at};
}

static void test_insert_and_find(void **state)
{
    struct store *st = ST(state);
    struct store_api_key k = key("k1", H(1), 100), got = {0};
    struct err_detail d = {0};

    k.scopes = "[\"/subscriptions/a\"]";
    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_OK);
    assert_int_equal(store_api_key_find_by_hash(st, H(1), &got, &d), ERR_OK);
    assert_string_equal(got.id, "k1");
    assert_string_equal(got.role, "operator");
    assert_string_equal(got.scopes, "[\"/subscriptions/a\"]");
    assert_string_equal(got.grant_limits, "{}"); /* the defaults */
    assert_string_equal(got.created_by, "");
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(got.last_used_at, 0);
    store_api_key_clear(&got);
    assert_int_equal(store_api_key_get(st, "k1", &got, &d), ERR_OK);
    assert_string_equal(got.key_hash, H(1));
    store_api_key_clear(&got);
    assert_int_equal(store_api_key_find_by_hash(st, H(9), &got, &d), ERR_NOT_FOUND);
    assert_int_equal(store_api_key_get(st, "nope", &got, &d), ERR_NOT_FOUND);
}

static void test_refusals(void **state)
{
    struct store *st = ST(state);
    struct store_api_key k = key("k1", H(1), 100);
    struct err_detail d = {0};

    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_OK);
    k.key_hash = H(2); /* the same id */
    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_CONFLICT);
    assert_string_equal(d.code, "conflict");
    k = key("k2", H(1), 100); /* the same hash */
    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_CONFLICT);
    k = key("k3", H(3), 100);
    k.role = "root";
    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_INVALID);
    assert_string_equal(d.code, "invalid");
    k = key("k4", H(4), 100);
    k.scopes = "not json";
    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_INVALID);
}

static void test_list_revoke_touch(void **state)
{
    struct store *st = ST(state);
    struct store_api_key k = key("kb", H(5), 200), *list = NULL, got = {0};
    struct err_detail d = {0};
    size_t n = 0;

    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_OK);
    k = key("ka", H(6), 300);
    assert_int_equal(store_api_key_insert(st, &k, &d), ERR_OK);
    assert_int_equal(store_api_key_list(st, &list, &n, &d), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "kb"); /* by created_at */
    assert_string_equal(list[1].id, "ka");
    store_api_key_list_free(list, n);

    assert_int_equal(store_api_key_revoke(st, "ka", 1000, &d), ERR_OK);
    assert_int_equal(store_api_key_revoke(st, "ka", 2000, &d), ERR_OK);
    assert_int_equal(store_api_key_revoke(st, "nope", 2000, &d), ERR_NOT_FOUND);
    assert_int_equal(store_api_key_get(st, "ka", &got, &d), ERR_OK);
    assert_int_equal(got.revoked_at, 1000);
    store_api_key_clear(&got);

    assert_int_equal(store_api_key_touch(st, "kb", 10000, &d), ERR_OK);
    assert_int_equal(store_api_key_touch(st, "kb", 10000 + 59999, &d), ERR_OK); /* too soon */
    assert_int_equal(store_api_key_get(st, "kb", &got, &d), ERR_OK);
    assert_int_equal(got.last_used_at, 10000);
    store_api_key_clear(&got);
    assert_int_equal(store_api_key_touch(st, "kb", 10000 + 60000, &d), ERR_OK);
    assert_int_equal(store_api_key_get(st, "kb", &got, &d), ERR_OK);
    assert_int_equal(got.last_used_at, 70000);
    store_api_key_clear(&got);
}

/* The limits of Entra callers: put replaces, subjects compare lowercase, bad ones refused. */
static void test_identity_limits(void **state)
{
    struct store *st = ST(state);
    struct store_identity_limits l = {.subject = "User:ABC", .scopes = "[\"/subscriptions/a\"]"};
    struct store_identity_limits got = {0}, *list = NULL;
    struct err_detail d = {0};
    size_t n = 0;

    assert_int_equal(store_identity_limits_put(st, &l, 10, &d), ERR_OK);
    assert_int_equal(store_identity_limits_get(st, "user:abc", &got, &d), ERR_OK);
    assert_string_equal(got.subject, "user:abc");
    assert_string_equal(got.scopes, "[\"/subscriptions/a\"]");
    assert_string_equal(got.grant_limits, "{}");
    assert_int_equal(got.updated_at, 10);
    store_identity_limits_clear(&got);
    l.scopes = NULL;
    l.grant_limits = "{\"max_hours\":4}";
    assert_int_equal(store_identity_limits_put(st, &l, 20, &d), ERR_OK); /* replaces */
    l = (struct store_identity_limits){.subject = "app:x1"};
    assert_int_equal(store_identity_limits_put(st, &l, 30, &d), ERR_OK);
    assert_int_equal(store_identity_limits_list(st, &list, &n, &d), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].subject, "app:x1");
    assert_string_equal(list[1].subject, "user:abc");
    assert_string_equal(list[1].scopes, "[]");
    assert_string_equal(list[1].grant_limits, "{\"max_hours\":4}");
    assert_int_equal(list[1].updated_at, 20);
    store_identity_limits_list_free(list, n);

    l.subject = "group:x";
    assert_int_equal(store_identity_limits_put(st, &l, 40, &d), ERR_INVALID);
    l.subject = "app:x2";
    l.grant_limits = "[]";
    assert_int_equal(store_identity_limits_put(st, &l, 40, &d), ERR_INVALID);
    assert_int_equal(store_identity_limits_delete(st, "USER:abc", &d), ERR_OK);
    assert_int_equal(store_identity_limits_delete(st, "user:abc", &d), ERR_NOT_FOUND);
    assert_int_equal(store_identity_limits_get(st, "user:abc", &got, &d), ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_and_find, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_list_revoke_touch, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_identity_limits, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
