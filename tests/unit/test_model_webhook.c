/* test_model_webhook.c: the Standard Webhooks signature against the reference implementation's
 * own example (the npm standardwebhooks package signs it to the same value); secrets; the URL
 * and host rules of webhook_allowed_hosts; public and non-public addresses; the request body;
 * the retry schedule. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmlogind/model_webhook.h"

static void test_signature_reference(void **state)
{
    const char body[] = "{\"test\": 2432232314}";
    char sig[MODEL_WEBHOOK_SIG_MAX];

    (void)state;
    assert_true(model_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                   "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
                                   sig));
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* another timestamp, another signature; a secret without its prefix or not base64: none */
    assert_true(model_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                   "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, strlen(body),
                                   sig));
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_false(model_webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, body, 1, sig));
    assert_false(model_webhook_sign("whsec_", "m", 1, body, 1, sig));
    assert_false(model_webhook_sign("whsec_!!!!", "m", 1, body, 1, sig));
}

static void test_secret(void **state)
{
    char *a = model_webhook_secret_new(), *b = model_webhook_secret_new();
    char sig[MODEL_WEBHOOK_SIG_MAX];

    (void)state;
    assert_true(strncmp(a, "whsec_", 6) == 0);
    assert_int_equal(strlen(a), 6 + 32); /* base64 of 24 bytes */
    assert_string_not_equal(a, b);
    assert_true(model_webhook_sign(a, "msg_1", 1, "{}", 2, sig));
    free(a);
    free(b);
}

static bool url_ok(const char *url, const char *allowed, const char *code)
{
    char host[MODEL_WEBHOOK_HOST_MAX + 1];
    struct violations vs;
    bool ok;

    violations_init(&vs);
    ok = model_webhook_url_check(url, allowed, host, sizeof(host), &vs);
    if (code != NULL) {
        assert_false(ok);
        assert_true(vs.n > 0);
        assert_string_equal(vs.v[0].code, code);
        assert_string_equal(vs.v[0].field, "url");
    }
    return ok;
}

static void test_url_rules(void **state)
{
    (void)state;
    /* listed exactly (any case); not listed, without "*": refused */
    assert_true(url_ok("https://Hooks.Example.com/x", "hooks.example.com", NULL));
    url_ok("https://evil.example.com/x", "hooks.example.com", "host_not_allowed");
    url_ok("https://hooks.example.com.evil.net/x", "hooks.example.com", "host_not_allowed");
    url_ok("https://hooks.example.com/x", "", "host_not_allowed");
    /* "*": any name, but not a private, loopback or link-local literal unless listed */
    assert_true(url_ok("https://anything.example.org/", "*", NULL));
    url_ok("https://10.0.0.5/", "*", "host_not_allowed");
    url_ok("https://169.254.169.254/", "*", "host_not_allowed");
    url_ok("https://[::1]:8443/", "*", "host_not_allowed");
    url_ok("https://[fd00::1]/", "*", "host_not_allowed");
    url_ok("https://[::ffff:127.0.0.1]/", "*", "host_not_allowed");
    assert_true(url_ok("https://10.0.0.5/", "10.0.0.5 *", NULL));
    /* http only to a listed loopback host */
    assert_true(url_ok("http://127.0.0.1:8080/hook", "127.0.0.1", NULL));
    url_ok("http://127.0.0.1:8080/hook", "*", "host_not_allowed");
    url_ok("http://hooks.example.com/", "hooks.example.com", "https_required");
    url_ok("ftp://hooks.example.com/", "hooks.example.com", "https_required");
    /* no credentials, no fragment, no junk */
    url_ok("https://u:p@hooks.example.com/", "hooks.example.com", "invalid_url");
    url_ok("https://hooks.example.com/#x", "hooks.example.com", "invalid_url");
    url_ok("hooks.example.com/x", "hooks.example.com", "invalid_url");
    url_ok("", "*", "invalid_url");
    url_ok("https://hooks.example.com/a b", "*", "invalid_url");
}

static void test_host_listed(void **state)
{
    (void)state;
    assert_true(model_webhook_host_listed("a.example, b.example  c.example", "c.example"));
    assert_true(model_webhook_host_listed("a.example,b.example", "B.EXAMPLE"));
    assert_false(model_webhook_host_listed("a.example", "example"));
    assert_false(model_webhook_host_listed("a.example", ""));
    assert_false(model_webhook_host_listed("", "a.example"));
}

static bool v4(const char *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET};

    assert_int_equal(inet_pton(AF_INET, s, &a.sin_addr), 1);
    return model_webhook_addr_is_public((struct sockaddr *)&a, sizeof(a));
}

static bool v6(const char *s)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};

    assert_int_equal(inet_pton(AF_INET6, s, &a.sin6_addr), 1);
    return model_webhook_addr_is_public((struct sockaddr *)&a, sizeof(a));
}

static void test_addresses(void **state)
{
    (void)state;
    assert_true(v4("93.184.216.34"));
    assert_true(v4("8.8.8.8"));
    assert_false(v4("127.0.0.1"));
    assert_false(v4("10.1.2.3"));
    assert_false(v4("172.16.0.1"));
    assert_false(v4("172.31.255.255"));
    assert_true(v4("172.32.0.1"));
    assert_false(v4("192.168.1.1"));
    assert_false(v4("169.254.169.254"));
    assert_false(v4("100.64.0.1"));
    assert_false(v4("0.0.0.0"));
    assert_false(v4("224.0.0.1"));
    assert_true(v6("2606:4700::1111"));
    assert_false(v6("::1"));
    assert_false(v6("::"));
    assert_false(v6("fe80::1"));
    assert_false(v6("fd12:3456::1"));
    assert_false(v6("::ffff:10.0.0.1"));
    assert_true(v6("::ffff:93.184.216.34"));
    assert_false(v6("64:ff9b::a00:1"));
    assert_false(model_webhook_addr_is_public(NULL, 0));
}

static void test_request(void **state)
{
    struct model_webhook_request r;
    struct violations vs;
    json_t *b;

    (void)state;
    b = json_loads("{\"url\":\"https://h.example/x\",\"events\":[\"grant.active\","
                   "\"grant.active\",\"login.failed\"],\"description\":\"ops\"}",
                   0, NULL);
    violations_init(&vs);
    assert_true(model_webhook_request_from_json(b, "h.example", &r, &vs));
    assert_int_equal(json_array_size(r.events), 2); /* duplicates folded */
    assert_string_equal(r.host, "h.example");
    assert_string_equal(r.description, "ops");
    model_webhook_request_cleanup(&r);
    json_decref(b);

    b = json_loads("{\"url\":\"https://h.example/x\",\"events\":[\"grant.active\",\"*\"]}", 0,
                   NULL);
    violations_init(&vs);
    assert_true(model_webhook_request_from_json(b, "h.example", &r, &vs));
    assert_int_equal(json_array_size(r.events), 1);
    assert_string_equal(json_string_value(json_array_get(r.events, 0)), "*");
    model_webhook_request_cleanup(&r);
    json_decref(b);

    /* every problem at once, each with its field */
    b = json_loads("{\"url\":7,\"events\":[\"nope\"],\"description\":1,\"secret\":\"x\"}", 0, NULL);
    violations_init(&vs);
    assert_false(model_webhook_request_from_json(b, "h.example", &r, &vs));
    assert_int_equal(vs.n, 4);
    model_webhook_request_cleanup(&r);
    json_decref(b);

    b = json_loads("{\"url\":\"https://h.example/x\",\"events\":[]}", 0, NULL);
    violations_init(&vs);
    assert_false(model_webhook_request_from_json(b, "h.example", &r, &vs));
    assert_string_equal(vs.v[0].field, "events");
    model_webhook_request_cleanup(&r);
    json_decref(b);

    violations_init(&vs);
    assert_false(model_webhook_request_from_json(NULL, "h.example", &r, &vs));
    model_webhook_request_cleanup(&r);
}

static void test_schedule(void **state)
{
    int64_t s[MODEL_WEBHOOK_SCHEDULE_MAX];
    size_t n;

    (void)state;
    assert_true(model_webhook_schedule_parse("5000,300000, 1800000", s, &n));
    assert_int_equal(n, 3);
    assert_int_equal(s[2], 1800000);
    assert_true(model_webhook_schedule_parse("1", s, &n));
    assert_false(model_webhook_schedule_parse("", s, &n));
    assert_false(model_webhook_schedule_parse("0", s, &n));
    assert_false(model_webhook_schedule_parse("5,", s, &n));
    assert_false(model_webhook_schedule_parse("5,,6", s, &n));
    assert_false(model_webhook_schedule_parse("-5", s, &n));
    assert_false(model_webhook_schedule_parse("172800001", s, &n));
    assert_false(model_webhook_schedule_parse("99999999999999999999", s, &n));
    assert_false(model_webhook_schedule_parse(
        "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21", s, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_reference),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_host_listed),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
