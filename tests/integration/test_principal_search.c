/* GET /v1/principals?search=: the grant form's principal look-up against azsim's Graph. Users
 * match on the start of displayName or userPrincipalName (case ignored), groups on displayName;
 * the text is validated before anything reaches Graph (empty, too long, a character outside
 * the alphabet: 400 naming "search"); readers are refused; a daemon with no Azure connection
 * answers 503. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define CAROL "6b7c8d9e-0000-4000-8000-00000000d003"

struct ctx {
    struct sim s;
    struct daemon d;
    char op[128];
    char reader[128];
};

static int setup(void **state)
{
    static struct ctx c;

    memset(&c, 0, sizeof(c));
    if (!h_sim_start(&c.s, H_DEMO_SCENARIO, NULL) ||
        !h_daemon_start_for_sim(&c.d, &c.s, "sync_interval_s = 0\n"))
        return -1;
    h_daemon_key(&c.d, "operator", NULL, c.op, sizeof(c.op));
    h_daemon_key(&c.d, "reader", NULL, c.reader, sizeof(c.reader));
    *state = &c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    int rc = h_daemon_stop(&c->d);
    h_sim_stop(&c->s);
    return rc == 0 ? 0 : -1;
}

static long search(const struct daemon *d, const char *key, const char *q, struct resp *r)
{
    char url[512], auth[256];
    const char *h[] = {auth, NULL};

    snprintf(url, sizeof(url), "%s/v1/principals?search=%s", d->p.url, q);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    return h_http("GET", url, NULL, h, r);
}

static const json_t *find_id(const json_t *list, const char *id)
{
    size_t i;
    const json_t *v;

    json_array_foreach(list, i, v)
    {
        if (strcmp(h_jstr(v, "id"), id) == 0)
            return v;
    }
    return NULL;
}

static void test_users_and_groups(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    const json_t *v, *carol;

    assert_int_equal(search(&c->d, c->op, "CAR", &r), 200);
    v = json_object_get(r.json, "value");
    assert_int_equal(json_array_size(v), 1);
    carol = find_id(v, CAROL);
    assert_non_null(carol);
    assert_string_equal(h_jstr(carol, "kind"), "user");
    assert_string_equal(h_jstr(carol, "userPrincipalName"), "carol@contoso.example");
    h_resp_cleanup(&r);
    assert_int_equal(search(&c->d, c->op, "bob%40contoso", &r), 200); /* by UPN */
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 1);
    h_resp_cleanup(&r);
    assert_int_equal(search(&c->d, c->op, "VM%20", &r), 200); /* two groups */
    v = json_object_get(r.json, "value");
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(h_jstr(json_array_get(v, 0), "kind"), "group");
    assert_non_null(find_id(v, "9a8b7c6d-0000-4000-8000-00000000f001"));
    h_resp_cleanup(&r);
    assert_int_equal(search(&c->d, c->op, "o%27brien", &r), 200); /* a quote is quoted */
    assert_int_equal(json_array_size(json_object_get(r.json, "value")), 0);
    h_resp_cleanup(&r);
}

static void test_bad_input_and_roles(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    char long_q[80];
    const char *bad[] = {"", "a%2Fb", "a)%20or%20true", "%C3%A9", long_q, NULL};

    memset(long_q, 'a', 65);
    long_q[65] = '\0';
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(search(&c->d, c->op, bad[i], &r), 400);
        assert_string_equal(h_jstr(r.json, "code"), "invalid_query");
        assert_string_equal(h_jstr(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                            "search");
        h_resp_cleanup(&r);
    }
    assert_int_equal(search(&c->d, c->reader, "car", &r), 403);
    h_resp_cleanup(&r);
}

static void test_no_azure(void **state)
{
    struct daemon d;
    struct resp r;
    char key[128];
    (void)state;

    assert_true(h_daemon_start(&d, NULL, NULL));
    h_daemon_key(&d, "operator", NULL, key, sizeof(key));
    assert_int_equal(search(&d, key, "car", &r), 503);
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_and_groups),
        cmocka_unit_test(test_bad_input_and_roles),
        cmocka_unit_test(test_no_azure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
