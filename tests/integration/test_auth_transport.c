/* test_auth_transport.c: native HTTPS from certificate and key files generated now (a key works
 * over TLS, plain HTTP to the TLS port gets nothing), and the request limits: body (413),
 * headers (431) and time (an idle half-sent request is cut off). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void test_https(void **state)
{
    struct daemon d;
    char dir[256], cert[320], key[320], cfg[1024], api_key[128], url[512], plain[512];
    const char *hdrs[2];
    struct resp r;
    (void)state;

    h_tmpdir(dir, sizeof(dir));
    h_gen_cert(dir, cert, sizeof(cert), key, sizeof(key));
    snprintf(cfg, sizeof(cfg), "tls_cert_file = %s\ntls_key_file = %s\n", cert, key);
    assert_true(h_daemon_start(&d, cfg, NULL));
    assert_int_equal(strncmp(d.p.url, "https://127.0.0.1:", 18), 0);
    h_set_ca(cert);
    snprintf(url, sizeof(url), "%s/healthz", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    h_resp_cleanup(&r);
    h_daemon_key(&d, "administrator", NULL, api_key, sizeof(api_key));
    hdrs[0] = h_bearer(api_key);
    hdrs[1] = NULL;
    snprintf(url, sizeof(url), "%s/v1/audit", d.p.url);
    assert_int_equal(h_http("GET", url, NULL, hdrs, &r), 200);
    h_resp_cleanup(&r);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 401);
    h_resp_cleanup(&r);
    /* the same port without TLS answers nothing useful */
    assert_true(snprintf(plain, sizeof(plain), "http://%s/healthz", d.p.url + strlen("https://")) <
                (int)sizeof(plain));
    assert_true(h_http("GET", plain, NULL, NULL, &r) != 200);
    h_resp_cleanup(&r);
    assert_int_equal(h_daemon_stop(&d), 0);
}

static void test_body_and_header_limits(void **state)
{
    struct daemon d;
    char url[512], key[128], *body, *big_header;
    const char *hdrs[3];
    struct resp r;
    (void)state;

    assert_true(h_daemon_start(&d, "max_body_bytes = 1024\nmax_header_bytes = 2048\n", NULL));
    h_daemon_key(&d, "administrator", NULL, key, sizeof(key));
    snprintf(url, sizeof(url), "%s/v1/audit", d.p.url);
    body = malloc(8192);
    assert_non_null(body);
    memset(body, ' ', 8191);
    body[0] = '{';
    body[8190] = '}';
    body[8191] = '\0';
    hdrs[0] = h_bearer(key);
    hdrs[1] = NULL;
    assert_int_equal(h_http("POST", url, body, hdrs, &r), 413);
    h_resp_cleanup(&r);
    assert_int_equal(h_http("POST", url, body, NULL, &r), 413); /* before anything else */
    h_resp_cleanup(&r);
    free(body);

    big_header = malloc(4096);
    assert_non_null(big_header);
    memset(big_header, 'a', 4095);
    big_header[4095] = '\0';
    memcpy(big_header, "X-Filler: ", 10);
    hdrs[1] = big_header;
    hdrs[2] = NULL;
    assert_int_equal(h_http("GET", url, NULL, hdrs, &r), 431);
    h_resp_cleanup(&r);
    free(big_header);
    assert_int_equal(h_daemon_stop(&d), 0);
}

static void test_request_time_limit(void **state)
{
    struct daemon d;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const char *colon;
    static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    struct pollfd pfd;
    char buf[512];
    bool closed = false;
    int fd;
    (void)state;

    assert_true(h_daemon_start(&d, "request_timeout_s = 1\n", NULL));
    colon = strrchr(d.p.url, ':');
    sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, partial, sizeof(partial) - 1), (ssize_t)(sizeof(partial) - 1));
    /* the server must drop the idle, half-sent request long before this deadline */
    pfd = (struct pollfd){.fd = fd, .events = POLLIN};
    while (!closed && poll(&pfd, 1, 15000) == 1) {
        ssize_t n = read(fd, buf, sizeof(buf));
        closed = n <= 0;
    }
    close(fd);
    assert_true(closed);
    assert_int_equal(h_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_body_and_header_limits),
        cmocka_unit_test(test_request_time_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
