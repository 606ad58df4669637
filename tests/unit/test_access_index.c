/* test_access_index.c: the access read model as an owned object. One made not to build answers
 * every time from the store and counts it so; one that builds answers from the store first
 * (waking its builder), then from its index once built, with the same bytes; /metrics text
 * counts each path; freeing it joins its thread. The renderers write what the contract says
 * for a principal the directory does not know and a group it does not know. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "unit/test_store_fixture.h"
#include "vmlogind/access.h"
#include "vmlogind/clock.h"
#include "vmlogind/model_grant.h"

#define SUB "/subscriptions/11111111-2222-4333-8444-555555555555"
#define RG SUB "/resourceGroups/rg-A"
#define VM RG "/providers/Microsoft.Compute/virtualMachines/vm-1"
#define USER_ID "aaaaaaaa-0000-4000-8000-000000000001"
#define RA_ID                                                                                      \
    RG "/providers/Microsoft.Authorization/roleAssignments/bbbbbbbb-0000-4000-8000-000000000002"

/* One user with administrator login at the VM's resource group. */
static void seed(struct store *st)
{
    struct store_role_assignment_facts ra = {
        .id = RA_ID,
        .name = "bbbbbbbb-0000-4000-8000-000000000002",
        .scope = RG,
        .role_definition_id = MODEL_GRANT_ROLE_ADMIN_GUID,
        .principal_id = USER_ID,
        .principal_type = "User",
    };
    struct store_principal_facts p = {.id = USER_ID,
                                      .kind = "user",
                                      .upn = "ann@contoso.example",
                                      .display_name = "Ann \"the admin\"",
                                      .user_type = "Member",
                                      .has_account_enabled = true,
                                      .account_enabled = true};
    size_t changed;

    assert_int_equal(
        store_role_assignments_upsert(st, NULL, &ra, 1, clock_now_ms(), &changed, NULL), ERR_OK);
    assert_int_equal(store_principals_upsert(st, &p, 1, clock_now_ms(), &changed, NULL), ERR_OK);
}

/* The answer for VM, its path into *path; a new string. */
static char *answer(struct access_index *ix, enum access_path *path)
{
    struct model_scope vm;
    struct buf_json w;
    char *text;

    assert_true(model_scope_parse(VM, &vm, NULL, "scope"));
    assert_int_equal(access_vm_answer(ix, &vm, &w, path, NULL), ERR_OK);
    assert_int_equal(w.rc, ERR_OK);
    text = strdup(w.b.data);
    buf_cleanup(&w.b);
    return text;
}

static void assert_counted(const struct access_index *ix, const char *index, const char *store)
{
    struct buf b;
    char want[256];

    buf_init(&b, 1 << 16);
    assert_int_equal(access_index_metrics(ix, &b), ERR_OK);
    snprintf(want, sizeof(want),
             "vmlogind_access_answers_total{path=\"index\"} %s\n"
             "vmlogind_access_answers_total{path=\"store\"} %s\n",
             index, store);
    assert_non_null(strstr(b.data, want));
    buf_cleanup(&b);
}

static void test_without_index_the_store_answers(void **state)
{
    struct access_index *ix = NULL;
    enum access_path path = ACCESS_PATH_INDEX;
    char *a, *b;

    seed(ST(state));
    assert_int_equal(access_index_new(ST(state), false, &ix), ERR_OK);
    a = answer(ix, &path);
    assert_int_equal(path, ACCESS_PATH_STORE);
    b = answer(ix, &path);
    assert_int_equal(path, ACCESS_PATH_STORE);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "\"id\":\"" USER_ID "\""));
    assert_non_null(strstr(a, "\"displayName\":\"Ann \\\"the admin\\\"\""));
    assert_non_null(strstr(a, "\"role\":\"administrator\",\"via\":\"direct\""));
    assert_counted(ix, "0", "2");
    access_index_free(ix);
    free(a);
    free(b);
}

static void test_index_answers_once_built(void **state)
{
    struct access_index *ix = NULL;
    enum access_path path = ACCESS_PATH_INDEX;
    int64_t deadline = clock_mono_ms() + 60000; /* generous: valgrind runs this too */
    char *first, *later = NULL;
    int asked = 1;

    seed(ST(state));
    assert_int_equal(access_index_new(ST(state), true, &ix), ERR_OK);
    first = answer(ix, &path); /* wakes the builder */
    assert_int_equal(path, ACCESS_PATH_STORE);
    do {
        free(later);
        later = answer(ix, &path);
        asked++;
        if (path != ACCESS_PATH_INDEX)
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000L}, NULL);
    } while (path != ACCESS_PATH_INDEX && clock_mono_ms() < deadline);
    assert_int_equal(path, ACCESS_PATH_INDEX);
    assert_string_equal(first, later);
    {
        char store[16];
        snprintf(store, sizeof(store), "%d", asked - 1);
        assert_counted(ix, "1", store);
    }
    access_index_free(ix); /* joins the builder */
    free(first);
    free(later);
}

/* Waits for the index to answer; that answer. */
static char *answer_from_index(struct access_index *ix)
{
    enum access_path path = ACCESS_PATH_STORE;
    int64_t deadline = clock_mono_ms() + 60000; /* generous: valgrind runs this too */
    char *a = NULL;

    do {
        if (a != NULL)
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000L}, NULL);
        free(a);
        a = answer(ix, &path);
    } while (path != ACCESS_PATH_INDEX && clock_mono_ms() < deadline);
    assert_int_equal(path, ACCESS_PATH_INDEX);
    return a;
}

static void put_vm(struct store *st, const char *computer_name)
{
    struct store_vm_facts vm = {.id = VM,
                                .subscription_id = "11111111-2222-4333-8444-555555555555",
                                .resource_group = "rg-A",
                                .name = "vm-1",
                                .computer_name = computer_name,
                                .os_type = "Windows"};

    assert_int_equal(store_vms_upsert(st, NULL, &vm, 1, clock_now_ms(), NULL, NULL), ERR_OK);
}

/* The next answer holds want, whatever path gives it; so does the index's, once built. */
static void assert_seen(struct access_index *ix, const char *want)
{
    enum access_path path;
    char *a = answer(ix, &path);

    assert_non_null(strstr(a, want));
    free(a);
    a = answer_from_index(ix);
    assert_non_null(strstr(a, want));
    assert_non_null(strstr(a, "\"role\":\"administrator\",\"via\":\"direct\""));
    free(a);
}

/* The index holds the VM's row too (the answer's "vm" object): every change to it is seen at
 * once, first from the store, then from an index built for it. */
static void test_index_follows_the_vm_row(void **state)
{
    struct store *st = ST(state);
    struct access_index *ix = NULL;

    seed(st);
    assert_int_equal(access_index_new(st, true, &ix), ERR_OK);
    assert_seen(ix, "\"vm\":{\"id\":\"" VM "\",\"name\":\"vm-1\",\"known\":false}");
    assert_int_equal(store_subscription_upsert(st, "11111111-2222-4333-8444-555555555555", "Prod",
                                               "Enabled", "t", 1, NULL, NULL),
                     ERR_OK);
    put_vm(st, "HOST-1");
    assert_seen(ix, "\"known\":true,\"computerName\":\"HOST-1\"}");
    put_vm(st, "HOST-2"); /* renamed */
    assert_seen(ix, "\"known\":true,\"computerName\":\"HOST-2\"}");
    assert_int_equal(store_vms_mark_gone(st, NULL, "11111111-2222-4333-8444-555555555555",
                                         clock_now_ms(), NULL, NULL),
                     ERR_OK);
    assert_seen(ix, "\"known\":false,\"computerName\":\"HOST-2\"}");
    access_index_free(ix);
}

/* A figure of access_index_metrics' text (name: "\nNAME "). */
static long long metric(const struct access_index *ix, const char *name)
{
    struct buf b;
    const char *at;
    long long v;

    buf_init(&b, 1 << 16);
    assert_int_equal(access_index_metrics(ix, &b), ERR_OK);
    at = strstr(b.data, name);
    assert_non_null(at);
    v = strtoll(at + strlen(name), NULL, 10);
    buf_cleanup(&b);
    return v;
}

static long long index_gen(const struct access_index *ix)
{
    return metric(ix, "\nvmlogind_access_index_generation ");
}

/* PostgreSQL: another replica's write (a second store handle) is notified, and an index in use
 * is rebuilt for it before any reader asks. SQLite has one replica: nothing to listen to. */
static void test_index_follows_other_replicas(void **state)
{
    struct fixture *f = *state;
    struct store *other = NULL;
    struct access_index *ix = NULL;
    int64_t epoch = 0, gen = 0, deadline;
    char *a;

    if (fixture_pg_host() == NULL)
        skip();
    seed(f->st);
    assert_int_equal(access_index_new(f->st, true, &ix), ERR_OK);
    free(answer_from_index(ix));
    assert_int_equal(fixture_open_second(f, &other, NULL), ERR_OK);
    assert_int_equal(store_subscription_upsert(other, "11111111-2222-4333-8444-555555555555",
                                               "Prod", "Enabled", "t", 1, NULL, NULL),
                     ERR_OK);
    put_vm(other, "HOST-9");
    assert_int_equal(store_access_generation(other, &epoch, &gen, NULL), ERR_OK);
    assert_true(index_gen(ix) < gen);
    deadline = clock_mono_ms() + 60000;
    while (index_gen(ix) != gen && clock_mono_ms() < deadline)
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000L}, NULL);
    assert_int_equal(index_gen(ix), gen); /* no reader asked meanwhile */
    /* told by the database, not found by a poll */
    assert_true(metric(ix, "\nvmlogind_access_notifications_total ") > 0);
    {
        enum access_path path = ACCESS_PATH_STORE;
        a = answer(ix, &path);
        assert_int_equal(path, ACCESS_PATH_INDEX);
        assert_non_null(strstr(a, "\"computerName\":\"HOST-9\""));
        free(a);
    }
    access_index_free(ix);
    store_close(other);
}

static void test_render_unknown_principal_and_group(void **state)
{
    struct model_access_assignment a = {.scope = RG,
                                        .role = MODEL_GRANT_ROLE_USER,
                                        .principal_id = "g1",
                                        .principal_type = "Group",
                                        .assignment_id = RA_ID,
                                        .grant_id = "gr-1"};
    struct model_access_entry e = {
        .principal_id = "u1", .principal_kind = "user", .best = &a, .via_group = "g1", .paths = 2};
    struct buf_json w;
    (void)state;

    buf_json_init(&w, 16, 1 << 16);
    buf_json_open(&w, '[');
    access_render_vm_entry(&w, &e, NULL, NULL);
    access_render_principal_entry(&w, &a, "u1", NULL, VM, "vm-1", NULL);
    buf_json_close(&w, ']');
    assert_int_equal(w.rc, ERR_OK);
    assert_string_equal(
        w.b.data,
        "[{\"principal\":{\"id\":\"u1\",\"type\":\"user\"},\"role\":\"user\",\"via\":\"group\","
        "\"group\":{\"id\":\"g1\",\"displayName\":\"\"},\"scope\":\"" RG "\","
        "\"source\":\"vmlogind\",\"grantId\":\"gr-1\",\"assignmentId\":\"" RA_ID "\","
        "\"expiresAt\":null,\"paths\":2},"
        "{\"vm\":{\"id\":\"" VM "\",\"name\":\"vm-1\",\"computerName\":\"\"},\"role\":\"user\","
        "\"via\":\"group\",\"group\":{\"id\":\"g1\",\"displayName\":\"\"},\"scope\":\"" RG "\","
        "\"source\":\"vmlogind\",\"grantId\":\"gr-1\",\"assignmentId\":\"" RA_ID "\","
        "\"expiresAt\":null}]");
    buf_cleanup(&w.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_without_index_the_store_answers, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_index_answers_once_built, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_index_follows_the_vm_row, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_index_follows_other_replicas, fixture_setup_file,
                                        fixture_teardown),
        cmocka_unit_test(test_render_unknown_principal_and_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
