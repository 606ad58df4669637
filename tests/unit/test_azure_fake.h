/* test_azure_fake.h: a tiny scripted HTTP/1.1 server on 127.0.0.1:0 for the Azure client's unit
 * tests. One request per connection; a handler function decides each answer (status, headers,
 * body) or asks for a reset (the socket is closed without a reply). Every request is recorded
 * with its arrival time so tests can check waits. Header-only: each test includes it once. */
#ifndef TEST_AZURE_FAKE_H
#define TEST_AZURE_FAKE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmlogind/clock.h"

#define FAKE_MAX_REQ 512
#define FAKE_REQ_MAX_BYTES (256 * 1024)

struct fake_req {
    char method[16];
    char path[2048]; /* path and query as sent */
    char *headers;   /* raw header block */
    char *body;
    int64_t at_ms; /* monotonic arrival */
};

struct fake_resp {
    int status;
    char headers[1024]; /* extra header lines, each ending in \r\n */
    char *body;         /* owned (malloc'd) or NULL */
    bool reset;
};

struct fake;
typedef void (*fake_handler)(struct fake *f, const struct fake_req *rq, int n,
                             struct fake_resp *out);

struct fake {
    int fd;
    int port;
    char url[64];
    pthread_t th;
    atomic_bool stop; /* set by the test's thread, read by the server's: volatile is no fence */
    pthread_mutex_t mu;
    fake_handler handler;
    void *arg;
    struct fake_req reqs[FAKE_MAX_REQ];
    int n;
};

static inline void fake_resp_json(struct fake_resp *r, int status, const char *body)
{
    r->status = status;
    free(r->body);
    r->body = body != NULL ? strdup(body) : NULL;
}

static inline void fake_header(struct fake_resp *r, const char *line)
{
    size_t n = strlen(r->headers);

    snprintf(r->headers + n, sizeof(r->headers) - n, "%s\r\n", line);
}

/* Reads one request; false on EOF or garbage. */
static inline bool fake_read(int c, struct fake_req *rq)
{
    char *buf = malloc(FAKE_REQ_MAX_BYTES + 1);
    size_t len = 0;
    char *end = NULL;
    size_t clen = 0;
    const char *cl;

    while (end == NULL && len < FAKE_REQ_MAX_BYTES) {
        ssize_t k = read(c, buf + len, FAKE_REQ_MAX_BYTES - len);

        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (end == NULL) {
        free(buf);
        return false;
    }
    *end = '\0';
    sscanf(buf, "%15s %2047s", rq->method, rq->path);
    rq->headers = strdup(buf);
    cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl != NULL)
        clen = strtoul(cl + 17, NULL, 10);
    end += 4;
    while ((size_t)(buf + len - end) < clen && len < FAKE_REQ_MAX_BYTES) {
        ssize_t k = read(c, buf + len, FAKE_REQ_MAX_BYTES - len);

        if (k <= 0)
            break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    rq->body = strdup(end);
    free(buf);
    return true;
}

static inline void fake_write_all(int c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(c, p, n);

        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static inline void fake_serve(struct fake *f, int c)
{
    struct fake_req rq = {0};
    struct fake_resp rs = {.status = 500};
    char head[2048];
    int idx;
    size_t blen;

    if (!fake_read(c, &rq))
        return;
    rq.at_ms = clock_mono_ms();
    pthread_mutex_lock(&f->mu);
    idx = f->n < (int)(sizeof(f->reqs) / sizeof(f->reqs[0])) ? f->n++ : -1;
    if (idx >= 0)
        f->reqs[idx] = rq;
    pthread_mutex_unlock(&f->mu);
    f->handler(f, &rq, idx, &rs);
    if (idx < 0) {
        free(rq.headers);
        free(rq.body);
    }
    if (rs.reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};

        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        free(rs.body);
        return;
    }
    blen = rs.body != NULL ? strlen(rs.body) : 0;
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n%s\r\n",
             rs.status, blen, rs.headers);
    fake_write_all(c, head, strlen(head));
    if (blen > 0)
        fake_write_all(c, rs.body, blen);
    free(rs.body);
}

static inline void *fake_loop(void *arg)
{
    struct fake *f = arg;

    while (!atomic_load(&f->stop)) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        int c;

        if (poll(&p, 1, 50) <= 0)
            continue;
        c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        fake_serve(f, c);
        close(c);
    }
    return NULL;
}

static inline void fake_start(struct fake *f, fake_handler h, void *arg)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(f, 0, sizeof(*f));
    f->handler = h;
    f->arg = arg;
    pthread_mutex_init(&f->mu, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(f->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(f->fd, 64) != 0)
        abort();
    getsockname(f->fd, (struct sockaddr *)&a, &alen);
    f->port = ntohs(a.sin_port);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
    pthread_create(&f->th, NULL, fake_loop, f);
}

static inline void fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->fd);
    for (int i = 0; i < f->n; i++) {
        free(f->reqs[i].headers);
        free(f->reqs[i].body);
    }
    pthread_mutex_destroy(&f->mu);
}

/* Number of recorded requests whose path starts with prefix (and method, if not NULL). */
static inline int fake_count(struct fake *f, const char *method, const char *prefix)
{
    int k = 0;

    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n; i++) {
        if ((method == NULL || strcmp(f->reqs[i].method, method) == 0) &&
            strncmp(f->reqs[i].path, prefix, strlen(prefix)) == 0)
            k++;
    }
    pthread_mutex_unlock(&f->mu);
    return k;
}

/* The i-th recorded request whose path starts with prefix, or NULL. */
static inline const struct fake_req *fake_nth(struct fake *f, const char *prefix, int i)
{
    const struct fake_req *r = NULL;

    pthread_mutex_lock(&f->mu);
    for (int j = 0; j < f->n && r == NULL; j++) {
        if (strncmp(f->reqs[j].path, prefix, strlen(prefix)) == 0 && i-- == 0)
            r = &f->reqs[j];
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

#endif
