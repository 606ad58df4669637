/* Slow clients cannot take the API down (DESIGN §6). Connections that trickle a header line
 * now and then are cut at the header deadline however long they keep trickling; more of them
 * than the server has connections leave /healthz and an authenticated call answered; one
 * address is held to its connection limit. Everything runs on 127.0.0.1 with small limits
 * set in the daemon's configuration, so that it stays within the default 1024 descriptors,
 * bounded in connections (at most SL_MAX open at once) and in time (each phase has a fixed
 * number of rounds), and stops by itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "vmlogind/clock.h"

#define SL_MAX 160
#define TRICKLE_MS 400

struct slow {
    int fd[SL_MAX];
    size_t n;
    unsigned port;
    unsigned cut; /* connections the server closed */
};

static unsigned port_of(const struct daemon *d)
{
    return (unsigned)strtoul(strrchr(d->p.url, ':') + 1, NULL, 10);
}

static int dial(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* A slow client: the request line and one header, then a header line now and then, never
 * the blank line that ends the headers. */
static int slow_open(unsigned port)
{
    int fd = dial(port);
    if (fd >= 0 && !send_all(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends each open slow client one more header line; the ones the server closed are counted
 * and, if reopen, replaced by a new slow client (the attacker keeps up the pressure). */
static void trickle(struct slow *s, bool reopen)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->fd[i] >= 0 && !send_all(s->fd[i], "X-Slow: 1\r\n")) {
            close(s->fd[i]);
            s->fd[i] = -1;
            s->cut++;
        }
        if (s->fd[i] < 0 && reopen)
            s->fd[i] = slow_open(s->port);
    }
}

/* Waits up to ms for the server to close slow clients (reads EOF or an error); counts them. */
static void wait_cuts(struct slow *s, int ms)
{
    struct pollfd pf[SL_MAX];
    int64_t end = clock_mono_ms() + ms;

    for (;;) {
        int64_t left = end - clock_mono_ms();
        int nready;
        if (left <= 0)
            return;
        for (size_t i = 0; i < s->n; i++)
            pf[i] = (struct pollfd){.fd = s->fd[i], .events = POLLIN};
        nready = poll(pf, s->n, (int)left);
        if (nready <= 0)
            return;
        for (size_t i = 0; i < s->n; i++) {
            char b[256];
            if (s->fd[i] < 0 || pf[i].revents == 0)
                continue;
            if (read(s->fd[i], b, sizeof(b)) <= 0) {
                close(s->fd[i]);
                s->fd[i] = -1;
                s->cut++;
            }
        }
    }
}

static size_t still_open(const struct slow *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->fd[i] >= 0;
    return n;
}

static void slow_close(struct slow *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->fd[i] >= 0)
            close(s->fd[i]);
    s->n = 0;
}

/* One prompt request (Connection: close) on a raw socket; the status, or 0 if no answer came
 * within 10 s (stretched by the timeout scale): "unanswered". */
static int prompt_get(unsigned port, const char *path, const char *bearer)
{
    char req[512], resp[256];
    size_t got = 0;
    int status = 0, fd = dial(port);
    int64_t end = clock_mono_ms() + (int64_t)(10000 * h_timeout_scale());

    if (fd < 0)
        return 0;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sConnection: close\r\n\r\n", path,
             bearer ? bearer : "", bearer ? "\r\n" : "");
    if (!send_all(fd, req)) {
        close(fd);
        return 0;
    }
    while (got < sizeof(resp) - 1) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int64_t left = end - clock_mono_ms();
        ssize_t n;
        if (left <= 0 || poll(&pf, 1, (int)left) != 1)
            break;
        n = read(fd, resp + got, sizeof(resp) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    resp[got] = '\0';
    close(fd);
    if (strncmp(resp, "HTTP/1.1 ", 9) == 0)
        status = (int)strtol(resp + 9, NULL, 10);
    return status;
}

/* Opens one connection with head, then sends unit every TRICKLE_MS for up to 40 rounds
 * (16 s: far past a 1-2 s deadline, far short of the 60 s idle timeout); true if the server
 * closed it meanwhile. */
static bool cut_while_trickling(unsigned port, const char *head, const char *unit)
{
    struct slow s = {.n = 1, .port = port};
    int rounds = 0;

    s.fd[0] = dial(port);
    assert_true(s.fd[0] >= 0);
    assert_true(send_all(s.fd[0], head));
    while (s.cut == 0 && rounds++ < 40) {
        if (!send_all(s.fd[0], unit))
            s.cut++;
        else
            wait_cuts(&s, TRICKLE_MS);
    }
    slow_close(&s);
    return s.cut > 0;
}

/* A connection trickling a header line every TRICKLE_MS is cut at the 1 s header deadline,
 * and one trickling its body at the 2 s request deadline, although bytes keep coming (the
 * idle timeout would never run out): trickling extends neither. */
static void test_deadlines_ignore_trickle(void **state)
{
    struct daemon d;
    (void)state;

    assert_true(h_daemon_start(&d, "header_timeout_s = 1\nrequest_timeout_s = 2\n", NULL));
    assert_true(cut_while_trickling(port_of(&d), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                    "X-Slow: 1\r\n"));
    assert_true(cut_while_trickling(port_of(&d),
                                    "POST /v1/sync HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Type: application/json\r\n"
                                    "Content-Length: 1000\r\n\r\n{",
                                    " "));
    assert_int_equal(prompt_get(port_of(&d), "/healthz", NULL), 200);
    assert_int_equal(h_daemon_stop(&d), 0);
}

/* More slow clients than the server has connections (all from 127.0.0.1, no per-address
 * limit): the reserve and the deadline keep /healthz and an authenticated call answered
 * throughout. */
static void test_slowloris_leaves_room(void **state)
{
    struct daemon d;
    struct slow s = {.n = SL_MAX};
    char key[128];
    (void)state;

    assert_true(h_daemon_start(&d,
                               "max_connections = 64\nmax_connections_per_ip = 0\n"
                               "header_timeout_s = 3\nrequest_timeout_s = 60\nthreads = 2\n",
                               NULL));
    h_daemon_key(&d, "reader", NULL, key, sizeof(key));
    s.port = port_of(&d);
    for (size_t i = 0; i < s.n; i++)
        s.fd[i] = slow_open(s.port);
    for (int round = 0; round < 12; round++) {
        trickle(&s, true);
        wait_cuts(&s, TRICKLE_MS);
        if (round % 3 != 2)
            continue;
        assert_int_equal(prompt_get(s.port, "/healthz", NULL), 200);
        assert_int_equal(prompt_get(s.port, "/v1/subscriptions", h_bearer(key)), 200);
    }
    slow_close(&s);
    assert_true(s.cut > 0);
    assert_int_equal(h_daemon_stop(&d), 0);
}

/* One address holds at most max_connections_per_ip: the stalled ones beyond it are closed
 * (the header deadline is long here, so only the limit can have closed them), and a prompt
 * request from the same address is still served. */
static void test_per_ip_limit(void **state)
{
    struct daemon d;
    struct slow s = {.n = 64};
    (void)state;

    assert_true(h_daemon_start(&d,
                               "max_connections = 256\nmax_connections_per_ip = 16\n"
                               "header_timeout_s = 600\nrequest_timeout_s = 600\n",
                               NULL));
    s.port = port_of(&d);
    for (size_t i = 0; i < s.n; i++)
        s.fd[i] = slow_open(s.port);
    for (int round = 0; round < 25 && still_open(&s) > 16; round++)
        wait_cuts(&s, TRICKLE_MS);
    assert_true(still_open(&s) <= 16);
    assert_int_equal(prompt_get(s.port, "/healthz", NULL), 200);
    slow_close(&s);
    assert_int_equal(h_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadlines_ignore_trickle),
        cmocka_unit_test(test_slowloris_leaves_room),
        cmocka_unit_test(test_per_ip_limit),
    };
    struct rlimit rl;

    /* SL_MAX + a few: well inside the default 1024, raised anyway if the soft limit is low */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 512 && rl.rlim_max >= 512) {
        rl.rlim_cur = 512;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
