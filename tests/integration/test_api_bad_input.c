/* Bad input on real routes: malformed JSON, duplicate keys, wrong types, unknown fields, an
 * oversize body, a wrong media type, unknown routes and wrong methods each get the right 4xx
 * problem+json naming the field and a stable code, and nothing reaches the store. Also
 * Idempotency-Key: a retried POST replays the first answer; a reused key with another body is
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define GRANTS "/v1/loginGrants"
#define LOGIN                                                                                      \
    "/v1/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb/resourceGroups/rg-entra/entraLogin"
#define GOOD_GRANT                                                                                 \
    "{\"scope\":\"/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb/resourceGroups/rg-entra\","  \
    "\"role\":\"user\",\"principal\":{\"objectId\":\"6b7c8d9e-0000-4000-8000-00000000d002\","      \
    "\"type\":\"user\"}}"

static struct daemon d;
static char key[128];

static int setup(void **state)
{
    (void)state;
    if (!h_daemon_start(&d, "sync_interval_s = 0\nmax_body_bytes = 4096\n", NULL))
        return -1;
    h_daemon_key(&d, "administrator", NULL, key, sizeof(key));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return h_daemon_stop(&d) == 0 ? 0 : -1;
}

/* Sends body with a content type; checks status, problem+json, code, and (if field) that
 * errors[] names it. */
static void expect(const char *method, const char *path, const char *ctype, const char *body,
                   long status, const char *code, const char *field)
{
    char url[1024], ct[160], got[128];
    const char *h[3] = {h_bearer(key), NULL, NULL};
    struct resp r;

    if (ctype != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        h[1] = ct;
    }
    snprintf(url, sizeof(url), "%s%s", d.p.url, path);
    h_http(method, url, body, h, &r);
    if (r.status != status)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, status, r.body);
    assert_true(h_resp_header(&r, "Content-Type", got, sizeof(got)));
    assert_string_equal(got, "application/problem+json");
    assert_string_equal(json_string_value(json_object_get(r.json, "code")), code);
    if (field != NULL) {
        char *errs = json_dumps(json_object_get(r.json, "errors"), 0);
        if (errs == NULL || strstr(errs, field) == NULL)
            fail_msg("%s %s: errors[] does not name %s: %s", method, path, field, r.body);
        free(errs);
    }
    h_resp_cleanup(&r);
}

static long count_rows(const char *table)
{
    char sql[128], line[64];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    assert_int_equal(h_daemon_sql(&d, sql, NULL, line, sizeof(line)), 0);
    return strtol(line, NULL, 10);
}

static void test_bad_bodies(void **state)
{
    char *big = malloc(8192);
    const char *json = "application/json";
    long audit_before = count_rows("audit_log");
    (void)state;

    expect("POST", GRANTS, json, "{\"scope\":", 400, "malformed_json", NULL);
    expect("POST", GRANTS, json, "{\"role\":\"user\",\"role\":\"administrator\"}", 400,
           "duplicate_key", NULL);
    expect("POST", GRANTS, json, "[1,2]", 400, "validation_failed", NULL);
    expect("POST", GRANTS, json,
           "{\"scope\":5,\"role\":\"user\",\"principal\":{\"upn\":\"a@b.c\"}}", 400,
           "validation_failed", "scope");
    expect("POST", GRANTS, json,
           "{\"scope\":\"/subscriptions/5d0f6e8a-0000-4000-8000-00000000bbbb\",\"role\":\"user\","
           "\"principal\":{\"upn\":\"a@b.c\"},\"colour\":\"blue\"}",
           400, "validation_failed", "colour");
    expect("POST", GRANTS, "text/plain", GOOD_GRANT, 415, "unsupported_media_type", NULL);
    expect("PUT", LOGIN, json, "{\"mode\":\"sometimes\"}", 400, "validation_failed", "mode");
    expect("PUT", LOGIN, json, "{\"excludeTags\":[1]}", 400, "validation_failed", "excludeTags");
    expect("PUT", LOGIN, "application/xml", "<x/>", 415, "unsupported_media_type", NULL);
    memset(big, ' ', 8191);
    big[0] = '{';
    big[8190] = '}';
    big[8191] = '\0';
    expect("POST", GRANTS, json, big, 413, "body_too_large", NULL);
    free(big);
    expect("GET", "/v1/nothing/here", NULL, NULL, 404, "not_found", NULL);
    expect("PATCH", GRANTS, json, "{}", 405, "method_not_allowed", NULL);

    /* nothing reached the store */
    assert_int_equal(count_rows("login_grants"), 0);
    assert_int_equal(count_rows("login_settings"), 0);
    assert_int_equal(count_rows("audit_log"), audit_before);
}

static void test_idempotency_key(void **state)
{
    char url[1024], replayed[16], id1[64];
    const char *h[] = {h_bearer(key), "Idempotency-Key: grant-bob-1", NULL};
    const char *bad[] = {h_bearer(key), "Idempotency-Key: has space", NULL};
    struct resp r;
    (void)state;

    snprintf(url, sizeof(url), "%s%s", d.p.url, GRANTS);
    assert_int_equal(h_http("POST", url, GOOD_GRANT, h, &r), 202);
    snprintf(id1, sizeof(id1), "%s", json_string_value(json_object_get(r.json, "id")));
    assert_false(h_resp_header(&r, "Idempotency-Replayed", replayed, sizeof(replayed)));
    h_resp_cleanup(&r);
    /* the retry gets the first answer again, marked as a replay; no second grant */
    assert_int_equal(h_http("POST", url, GOOD_GRANT, h, &r), 202);
    assert_true(h_resp_header(&r, "Idempotency-Replayed", replayed, sizeof(replayed)));
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), id1);
    h_resp_cleanup(&r);
    assert_int_equal(count_rows("login_grants"), 1);
    /* the same key with another body is refused */
    assert_int_equal(h_http("POST", url, "{\"scope\":\"x\"}", h, &r), 422);
    assert_string_equal(json_string_value(json_object_get(r.json, "code")),
                        "idempotency_key_reused");
    h_resp_cleanup(&r);
    assert_int_equal(h_http("POST", url, GOOD_GRANT, bad, &r), 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "code")),
                        "invalid_idempotency_key");
    h_resp_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_idempotency_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
