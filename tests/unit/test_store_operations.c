/* test_store_operations.c: operations and subscriptions through store.h, on SQLite and
 * (unit.*.pg) on PostgreSQL. Operations: create with defaults, a duplicate id and a bad status
 * refused, updates keeping what they are not given, ended_at set once by the first terminal
 * status; its items (added once, set with the Azure call's ids, listed). Subscriptions: an upsert
 * writes only changes, the list's order, mark gone once and a return clearing gone_at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/store_login.h"
#include "vmlogind/store_metrics.h"

static void test_operation_create_get(void **state)
{
    struct store *st = ST(state);
    struct store_operation o = {.id = "op1", .kind = "sync", .target = "/Subscriptions/A"};
    struct store_operation got = {0};
    struct err_detail d = {0};

    assert_int_equal(store_operation_create(st, &o, 100, &d), ERR_OK);
    assert_int_equal(store_operation_get(st, "op1", &got, &d), ERR_OK);
    assert_string_equal(got.kind, "sync");
    assert_string_equal(got.target, "/Subscriptions/A");
    assert_string_equal(got.status, "NotStarted");
    assert_string_equal(got.steps, "[]");
    assert_string_equal(got.created_by, "");
    assert_null(got.error_code);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(got.ended_at, 0);
    store_operation_clear(&got);
    assert_int_equal(store_operation_get(st, "nope", &got, &d), ERR_NOT_FOUND);

    assert_int_equal(store_operation_create(st, &o, 100, &d), ERR_CONFLICT);
    o.id = "op2";
    o.status = "Sleeping";
    assert_int_equal(store_operation_create(st, &o, 100, &d), ERR_INVALID);
}

static void test_operation_update(void **state)
{
    struct store *st = ST(state);
    struct store_operation o = {.id = "op1", .kind = "sync", .target = "t"};
    struct store_operation got = {0};
    struct err_detail d = {0};

    assert_int_equal(store_operation_create(st, &o, 100, &d), ERR_OK);
    assert_int_equal(store_operation_update(st, "op1", "Running", "[1]", NULL, NULL, 200, &d),
                     ERR_OK);
    assert_int_equal(store_operation_get(st, "op1", &got, &d), ERR_OK);
    assert_string_equal(got.status, "Running");
    assert_string_equal(got.steps, "[1]");
    assert_int_equal(got.updated_at, 200);
    assert_int_equal(got.ended_at, 0);
    store_operation_clear(&got);

    assert_int_equal(store_operation_update(st, "op1", "Failed", NULL, "E1", "broke", 300, &d),
                     ERR_OK);
    assert_int_equal(store_operation_update(st, "op1", "Failed", NULL, NULL, NULL, 400, &d),
                     ERR_OK);
    assert_int_equal(store_operation_get(st, "op1", &got, &d), ERR_OK);
    assert_string_equal(got.status, "Failed");
    assert_string_equal(got.steps, "[1]"); /* kept */
    assert_string_equal(got.error_code, "E1");
    assert_string_equal(got.error_message, "broke");
    assert_int_equal(got.updated_at, 400);
    assert_int_equal(got.ended_at, 300); /* the first terminal status */
    store_operation_clear(&got);
    assert_int_equal(store_operation_update(st, "op1", "Bogus", NULL, NULL, NULL, 500, &d),
                     ERR_INVALID);
}

static void test_operation_items(void **state)
{
    struct store *st = ST(state);
    struct store_operation o = {.id = "op1", .kind = "entraLogin.enable", .target = "t"};
    struct store_call_ids ids = {.client_request_id = "c1", .azure_request_id = "a1"};
    struct store_operation_item *items = NULL;
    struct err_detail d = {0};
    size_t n = 0;

    assert_int_equal(store_operation_create(st, &o, 100, &d), ERR_OK);
    assert_int_equal(store_operation_item_add(st, "op1", "/VM/B", 100, &d), ERR_OK);
    assert_int_equal(store_operation_item_add(st, "op1", "/vm/a", 100, &d), ERR_OK);
    assert_int_equal(store_operation_item_add(st, "op1", "/vm/b", 110, &d), ERR_OK); /* no-op */
    assert_int_equal(store_operation_item_add(st, "nope", "/vm/a", 100, &d), ERR_PRECONDITION);
    assert_int_equal(store_operation_item_set(st, "op1", "/vm/B", "Failed", "extension", "E", "m",
                                              &ids, 200, &d),
                     ERR_OK);
    /* no ids: the call's ids stay */
    assert_int_equal(
        store_operation_item_set(st, "op1", "/vm/b", "Failed", NULL, "E2", NULL, NULL, 300, &d),
        ERR_OK);
    assert_int_equal(
        store_operation_item_set(st, "op1", "/vm/c", "Failed", NULL, NULL, NULL, NULL, 300, &d),
        ERR_NOT_FOUND);
    assert_int_equal(store_operation_items_list(st, "op1", &items, &n, &d), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].item, "/vm/a");
    assert_string_equal(items[0].status, "NotStarted");
    assert_null(items[0].client_request_id);
    assert_string_equal(items[1].item, "/VM/B"); /* as first given */
    assert_string_equal(items[1].status, "Failed");
    assert_string_equal(items[1].step, "");
    assert_string_equal(items[1].error_code, "E2");
    assert_null(items[1].error_message);
    assert_int_equal(items[1].updated_at, 300);
    assert_string_equal(items[1].client_request_id, "c1");
    assert_string_equal(items[1].azure_request_id, "a1");
    store_operation_items_free(items, n);
}

static void test_subscriptions(void **state)
{
    struct store *st = ST(state);
    struct store_subscription *list = NULL;
    struct err_detail d = {0};
    size_t n = 0;
    bool changed = false;

    assert_int_equal(store_subscription_upsert(st, "BBBB", "b", "Enabled", "t", 10, &changed, &d),
                     ERR_OK);
    assert_true(changed);
    assert_int_equal(store_subscription_upsert(st, "aaaa", "a", "Enabled", "t", 10, &changed, &d),
                     ERR_OK);
    assert_int_equal(store_subscription_upsert(st, "bbbb", "b", "Enabled", "t", 20, &changed, &d),
                     ERR_OK);
    assert_false(changed); /* the same facts: nothing written */
    assert_int_equal(store_subscription_upsert(st, "bbbb", "b", "Disabled", "t", 30, &changed, &d),
                     ERR_OK);
    assert_true(changed);
    assert_int_equal(store_subscription_mark_gone(st, "aaaa", 40, &changed, &d), ERR_OK);
    assert_true(changed);
    assert_int_equal(store_subscription_mark_gone(st, "AAAA", 50, &changed, &d), ERR_OK);
    assert_false(changed);

    assert_int_equal(store_subscription_list(st, &list, &n, &d), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "aaaa");
    assert_int_equal(list[0].gone_at, 40);
    assert_string_equal(list[1].id, "bbbb"); /* stored lowercase */
    assert_string_equal(list[1].state, "Disabled");
    assert_int_equal(list[1].first_seen_at, 10);
    assert_int_equal(list[1].changed_at, 30);
    assert_int_equal(list[1].gone_at, 0);
    store_subscription_list_free(list, n);

    /* listed again: it returns */
    assert_int_equal(store_subscription_upsert(st, "aaaa", "a", "Enabled", "t", 60, &changed, &d),
                     ERR_OK);
    assert_true(changed);
    assert_int_equal(store_subscription_list(st, &list, &n, &d), ERR_OK);
    assert_int_equal(list[0].gone_at, 0);
    assert_int_equal(list[0].changed_at, 60);
    store_subscription_list_free(list, n);
}

/* What /metrics reads: due and dead tasks, the oldest due time, operations by status. */
static void test_metrics(void **state)
{
    struct store *st = ST(state);
    struct store_operation o = {.id = "op1", .kind = "sync", .target = "t"};
    struct store_metrics m = {0};
    struct err_detail d = {0};

    assert_int_equal(store_metrics_read(st, 100, &m, &d), ERR_OK);
    assert_int_equal(m.tasks_due, 0);
    assert_int_equal(m.tasks_oldest_due, 0);
    assert_int_equal(store_task_upsert(st, "k", "a", 50, NULL, 1, &d), ERR_OK);
    assert_int_equal(store_task_upsert(st, "k", "b", 70, NULL, 1, &d), ERR_OK);
    assert_int_equal(store_task_upsert(st, "k", "c", 500, NULL, 1, &d), ERR_OK);
    assert_int_equal(store_operation_create(st, &o, 1, &d), ERR_OK);
    o.id = "op2";
    assert_int_equal(store_operation_create(st, &o, 1, &d), ERR_OK);
    assert_int_equal(store_operation_update(st, "op2", "Failed", NULL, NULL, NULL, 2, &d), ERR_OK);
    assert_int_equal(store_metrics_read(st, 100, &m, &d), ERR_OK);
    assert_int_equal(m.tasks_due, 2);
    assert_int_equal(m.tasks_oldest_due, 50);
    assert_int_equal(m.tasks_dead, 0);
    for (int i = 0; i < STORE_METRICS_OP_STATES; i++) {
        const char *state_name = store_metrics_op_states[i];
        int64_t want = strcmp(state_name, "NotStarted") == 0 || strcmp(state_name, "Failed") == 0;
        assert_int_equal(m.operations[i], want);
    }
}

static struct store_login_setting setting(const char *key, const char *kind, const char *desired)
{
    return (struct store_login_setting){.scope_key = (char *)key,
                                        .scope = (char *)key,
                                        .scope_kind = (char *)kind,
                                        .desired = (char *)desired,
                                        .mode = "enforce",
                                        .exclude_tags = "{}",
                                        .extension_version = "2.0",
                                        .spec = "{}",
                                        .updated_by = "me"};
}

/* Login settings: put returns the generation (up by one a write), the most specific scope
 * governs a VM, a bad value is refused; a subscription seen through a VM is recorded once. */
static void test_login_settings(void **state)
{
    struct store *st = ST(state);
    struct store_login_setting s = setting("/subscriptions/s", "subscription", "enabled");
    struct store_login_setting got = {0}, *list = NULL;
    struct store_subscription *subs = NULL;
    struct err_detail d = {0};
    int64_t gen = 0;
    size_t n = 0;

    assert_int_equal(store_login_setting_put(st, &s, 10, &gen, &d), ERR_OK);
    assert_int_equal(gen, 1);
    s.desired = "disabled";
    s.updated_by = "you";
    assert_int_equal(store_login_setting_put(st, &s, 20, &gen, &d), ERR_OK);
    assert_int_equal(gen, 2);
    assert_int_equal(store_login_setting_get(st, "/subscriptions/s", &got, &d), ERR_OK);
    assert_string_equal(got.desired, "disabled");
    assert_string_equal(got.created_by, "me");
    assert_string_equal(got.updated_by, "you");
    assert_int_equal(got.created_at, 10);
    assert_int_equal(got.updated_at, 20);
    assert_null(got.operation_id);
    store_login_setting_clear(&got);

    s = setting("/subscriptions/s/resourcegroups/rg", "resourceGroup", "enabled");
    assert_int_equal(store_login_setting_put(st, &s, 30, &gen, &d), ERR_OK);
    assert_int_equal(store_login_setting_effective(st, "/subscriptions/s/resourcegroups/rg/vm/v",
                                                   "/subscriptions/s/resourcegroups/rg",
                                                   "/subscriptions/s", &got, &d),
                     ERR_OK);
    assert_string_equal(got.scope_kind, "resourceGroup");
    store_login_setting_clear(&got);
    assert_int_equal(store_login_setting_effective(st, NULL, "/subscriptions/s/resourcegroups/x",
                                                   "/subscriptions/s", &got, &d),
                     ERR_OK);
    assert_string_equal(got.scope_kind, "subscription");
    store_login_setting_clear(&got);
    assert_int_equal(store_login_setting_effective(st, NULL, NULL, "/subscriptions/t", &got, &d),
                     ERR_NOT_FOUND);
    assert_int_equal(store_login_setting_list(st, &list, &n, &d), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].scope_key, "/subscriptions/s");
    store_login_setting_list_free(list, n);
    s = setting("/subscriptions/u", "tenant", "enabled");
    assert_int_equal(store_login_setting_put(st, &s, 40, &gen, &d), ERR_INVALID);

    assert_int_equal(store_login_subscription_ensure(st, "ABCD", 50, &d), ERR_OK);
    assert_int_equal(store_login_subscription_ensure(st, "abcd", 60, &d), ERR_OK);
    assert_int_equal(store_subscription_list(st, &subs, &n, &d), ERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(subs[0].id, "abcd");
    assert_int_equal(subs[0].first_seen_at, 50);
    store_subscription_list_free(subs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operation_create_get, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_operation_update, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_operation_items, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_login_settings, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_metrics, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
