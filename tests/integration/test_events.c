/* GET /v1/events against the real daemon: a caller limited to a resource group sees that
 * group's events and no other; a stream resumed with Last-Event-ID gets what it missed exactly
 * once; events_max_streams refuses one stream more with 503 problem+json, counts it in
 * /metrics, and a client that goes away frees its slot; a malformed Last-Event-ID is a 400
 * naming the header. The events come from grants recorded through the API (no Azure needed:
 * a grant's row is written before the reconciler acts on it). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define SUB "5d0f6e8a-0000-4000-8000-00000000bbbb"
#define SCOPE_A "/subscriptions/" SUB "/resourceGroups/rg-a"
#define SCOPE_B "/subscriptions/" SUB "/resourceGroups/rg-b"
#define CONFIG "events_max_streams = 2\nevents_heartbeat_s = 1\nevents_poll_ms = 50\n"

struct ctx {
    struct daemon d;
    char admin[128];
    char reader_a[128];
};

static int setup(void **state)
{
    static struct ctx c;
    const char *scopes[] = {SCOPE_A, NULL};

    memset(&c, 0, sizeof(c));
    if (!h_daemon_start(&c.d, CONFIG, NULL))
        return -1;
    h_daemon_key(&c.d, "administrator", NULL, c.admin, sizeof(c.admin));
    h_daemon_key(&c.d, "reader", scopes, c.reader_a, sizeof(c.reader_a));
    *state = &c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    return h_daemon_stop(&c->d) == 0 ? 0 : -1;
}

/* A grant at scope for principal n; returns its id in out. */
static void grant(struct ctx *c, const char *scope, int n, char *out, size_t cap)
{
    char body[512];
    json_t *j;

    snprintf(body, sizeof(body),
             "{\"scope\":\"%s\",\"role\":\"user\",\"principal\":{\"objectId\":"
             "\"11111111-1111-4111-8111-%012d\",\"type\":\"User\"}}",
             scope, n);
    j = h_api(c->d.p.url, c->admin, "POST", "/v1/loginGrants", body, 202);
    snprintf(out, cap, "%s", h_jstr(j, "id"));
    json_decref(j);
    assert_true(out[0] != '\0');
}

/* ---- a small SSE reader on libcurl: reads until the text holds want or the time is up ---- */

struct sse {
    char *text;
    size_t len;
    const char *want; /* stop once the stream holds this */
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
    struct sse *s = arg;
    size_t k = sz * n;

    s->text = realloc(s->text, s->len + k + 1);
    assert_non_null(s->text);
    memcpy(s->text + s->len, p, k);
    s->len += k;
    s->text[s->len] = '\0';
    return s->want != NULL && strstr(s->text, s->want) != NULL ? 0 : k;
}

/* GET /v1/events with key and Last-Event-ID last (NULL: none); the status, the text in s. */
static long sse_once(struct ctx *c, const char *key, const char *last, const char *want,
                     int timeout_ms, struct sse *s)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[256], auth[256], lid[96];
    long status = 0;

    memset(s, 0, sizeof(*s));
    s->want = want;
    snprintf(url, sizeof(url), "%s/v1/events", c->d.p.url);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    hl = curl_slist_append(hl, auth);
    if (last != NULL) {
        snprintf(lid, sizeof(lid), "Last-Event-ID: %s", last);
        hl = curl_slist_append(hl, lid);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms * h_timeout_scale()));
    curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

/* The same, coming back while both slots are still held by streams this test just closed
 * (the server frees them when it sees the hang-up), for up to 15 s. */
static long sse_read(struct ctx *c, const char *key, const char *last, const char *want,
                     int timeout_ms, struct sse *s)
{
    struct timespec t0, t;
    long st;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        st = sse_once(c, key, last, want, timeout_ms, s);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (st != 503 || t.tv_sec - t0.tv_sec > 15 * h_timeout_scale())
            return st;
        free(s->text);
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL); /* a retry pace, not a wait */
    }
}

/* How many events in text carry the grant id. */
static int count_of(const char *text, const char *id)
{
    int n = 0;
    for (const char *p = text ? strstr(text, id) : NULL; p != NULL; p = strstr(p + 1, id))
        n++;
    return n;
}

/* The id: line of the last event that mentions needle, or 0. */
static long long id_of(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle), *p = text, *id = NULL;
    while (hit != NULL && (p = strstr(p, "id: ")) != NULL && p < hit) {
        id = p;
        p += 4;
    }
    return id != NULL ? strtoll(id + 4, NULL, 10) : 0;
}

static void test_scoped_caller_sees_its_scope_only(void **state)
{
    struct ctx *c = *state;
    char a1[64], b1[64], a2[64];
    struct sse all, mine;

    grant(c, SCOPE_A, 1, a1, sizeof(a1));
    grant(c, SCOPE_B, 2, b1, sizeof(b1));
    grant(c, SCOPE_A, 3, a2, sizeof(a2));
    /* the administrator sees all three, in order */
    assert_int_equal(sse_read(c, c->admin, "0", a2, 10000, &all), 200);
    assert_int_equal(count_of(all.text, a1), 1);
    assert_int_equal(count_of(all.text, b1), 1);
    assert_int_equal(count_of(all.text, a2), 1);
    assert_true(strstr(all.text, "event: grant.changed\n") != NULL);
    assert_true(strstr(all.text, a1) < strstr(all.text, b1));
    /* the reader limited to rg-a: both of rg-a's, none of rg-b's, though b1 came between */
    assert_int_equal(sse_read(c, c->reader_a, "0", a2, 10000, &mine), 200);
    assert_int_equal(count_of(mine.text, a1), 1);
    assert_int_equal(count_of(mine.text, a2), 1);
    assert_int_equal(count_of(mine.text, b1), 0);
    assert_null(strstr(mine.text, "rg-b"));
    free(all.text);
    free(mine.text);
}

static void test_resume_gets_missed_events_once(void **state)
{
    struct ctx *c = *state;
    char g1[64], g2[64], g3[64], last[32];
    struct sse first, again;
    long long seen;

    grant(c, SCOPE_A, 11, g1, sizeof(g1));
    assert_int_equal(sse_read(c, c->admin, "0", g1, 10000, &first), 200);
    seen = id_of(first.text, g1);
    assert_true(seen > 0);
    /* disconnected: two more happen */
    grant(c, SCOPE_A, 12, g2, sizeof(g2));
    grant(c, SCOPE_B, 13, g3, sizeof(g3));
    snprintf(last, sizeof(last), "%lld", seen);
    assert_int_equal(sse_read(c, c->admin, last, g3, 10000, &again), 200);
    assert_int_equal(count_of(again.text, g1), 0);
    assert_int_equal(count_of(again.text, g2), 1);
    assert_int_equal(count_of(again.text, g3), 1);
    assert_true(id_of(again.text, g2) > seen);
    assert_true(id_of(again.text, g3) > id_of(again.text, g2));
    assert_null(strstr(again.text, "event: gap"));
    free(first.text);
    free(again.text);
}

static void test_malformed_last_event_id(void **state)
{
    struct ctx *c = *state;
    const char *bad[] = {"abc", "-1", "12345678901234567890", "1 2", "0x10"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sse s;
        long st = sse_read(c, c->admin, bad[i], NULL, 5000, &s);
        assert_int_equal(st, 400);
        assert_non_null(strstr(s.text, "\"code\":\"invalid_last_event_id\""));
        assert_non_null(strstr(s.text, "\"field\":\"Last-Event-ID\""));
        free(s.text);
    }
}

/* A raw connection that opened a stream and holds it: the status line is read, the rest not. */
static int hold_stream(struct ctx *c, const char *key)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    const char *port = strrchr(c->d.p.url, ':') + 1;
    char req[512], buf[64] = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    a.sin_port = htons((uint16_t)strtol(port, NULL, 10));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    snprintf(req, sizeof(req),
             "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", key);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    n = recv(fd, buf, 12, MSG_WAITALL);
    assert_int_equal(n, 12);
    assert_string_equal(buf, "HTTP/1.1 200");
    return fd;
}

static long long metric(struct ctx *c, const char *name)
{
    char url[256], line[128];
    struct resp r;
    const char *p;
    long long v = -1;

    snprintf(url, sizeof(url), "%s/metrics", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), 200);
    snprintf(line, sizeof(line), "\n%s ", name);
    p = strstr(r.body, line);
    if (p != NULL)
        v = strtoll(p + strlen(line), NULL, 10);
    h_resp_cleanup(&r);
    return v;
}

struct slot_wait {
    struct ctx *c;
};

static bool stream_opens(void *arg)
{
    struct slot_wait *w = arg;
    struct sse s;
    long st = sse_once(w->c, w->c->admin, NULL, "retry:", 3000, &s);
    free(s.text);
    return st == 200;
}

/* The earlier tests' streams are closed by their clients; the server frees their slots within
 * a poll or two, so wait for that before filling the cap. */
static bool no_streams(void *arg)
{
    return metric(arg, "vmlogind_events_streams") == 0;
}

static void test_cap_enforced_and_freed(void **state)
{
    struct ctx *c = *state;
    int fd1, fd2;
    long long refused;
    char ra[32];
    struct slot_wait w = {c};
    struct resp r;
    char url[256];
    const char *h[] = {h_bearer(c->admin), NULL};

    assert_true(h_poll(no_streams, c, 30000));
    fd1 = hold_stream(c, c->admin);
    fd2 = hold_stream(c, c->reader_a);
    assert_int_equal(metric(c, "vmlogind_events_streams"), 2);
    refused = metric(c, "vmlogind_events_streams_refused_total");
    /* one more: refused at once with a problem and a time to come back */
    snprintf(url, sizeof(url), "%s/v1/events", c->d.p.url);
    assert_int_equal(h_http("GET", url, NULL, h, &r), 503);
    assert_non_null(r.json);
    assert_string_equal(h_jstr(r.json, "code"), "too_many_streams");
    assert_true(h_resp_header(&r, "Retry-After", ra, sizeof(ra)));
    assert_true(h_resp_header(&r, "Content-Type", url, sizeof(url)));
    assert_non_null(strstr(url, "application/problem+json"));
    h_resp_cleanup(&r);
    assert_int_equal(metric(c, "vmlogind_events_streams_refused_total"), refused + 1);
    /* the rest of the API is still served while both slots are taken */
    json_decref(h_api(c->d.p.url, c->admin, "GET", "/v1/loginGrants", NULL, 200));
    /* one client goes away: its slot comes back (at the latest with the next heartbeat) */
    close(fd1);
    assert_true(h_poll(stream_opens, &w, 15000));
    close(fd2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scoped_caller_sees_its_scope_only),
        cmocka_unit_test(test_resume_gets_missed_events_once),
        cmocka_unit_test(test_malformed_last_event_id),
        cmocka_unit_test(test_cap_enforced_and_freed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
