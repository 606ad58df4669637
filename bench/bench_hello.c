/* bench_hello.c: the baseline of DESIGN section 8. A bare libmicrohttpd server answering
 * "hello" with the configuration vmlogind's http_server.c uses (internal polling thread with
 * epoll, a thread pool the size of the core count, the response queued on the second call of
 * the access handler so keep-alive holds), and nothing else: no routing, no store, no JSON.
 *
 *   bench_hello [--listen 127.0.0.1:0] [--threads N] [--body-bytes N]
 *
 * --body-bytes N answers N bytes of JSON from memory instead of "hello" (the anchor for
 * /access: the same number of bytes vmlogind sends, without any of the work).
 * Prints "listening on http://ADDR:PORT" once it serves, then runs until SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char hello_body[] = "hello\n";
#define HELLO_MAX_BODY (16u * 1024 * 1024)

static int hello_marker; /* *con_cls after the first call */

static enum MHD_Result hello_access(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct MHD_Response *r = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;

    if (*con_cls == NULL) {
        *con_cls = &hello_marker; /* first call: headers only; answer on the next one */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, r);
}

/* n bytes of valid JSON: {"pad":"xxx...x"} (n >= 10), or spaces when n is smaller. */
static char *hello_json_body(size_t n)
{
    char *b = malloc(n);

    if (b == NULL)
        return NULL;
    memset(b, n >= 10 ? 'x' : ' ', n);
    if (n >= 10) {
        memcpy(b, "{\"pad\":\"", 8);
        memcpy(b + n - 2, "\"}", 2);
    }
    return b;
}

static int hello_parse_listen(const char *listen, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    unsigned long port;
    size_t hl;

    if (colon == NULL || (hl = (size_t)(colon - listen)) >= sizeof(host))
        return -1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0";
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    long body_bytes = 0;
    char *body = NULL;
    struct sockaddr_in sa;
    struct MHD_Response *r;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    sigset_t set;
    int sig = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--body-bytes") == 0)
            body_bytes = strtol(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (argc % 2 == 0 || hello_parse_listen(listen, &sa) != 0 || threads < 1 || threads > 256 ||
        body_bytes < 0 || body_bytes > (long)HELLO_MAX_BODY) {
        fprintf(stderr,
                "usage: bench_hello [--listen 127.0.0.1:PORT] [--threads N] [--body-bytes N]\n");
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (body_bytes > 0) {
        body = hello_json_body((size_t)body_bytes);
        if (body == NULL)
            return 1;
        r = MHD_create_response_from_buffer((size_t)body_bytes, body, MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(sizeof(hello_body) - 1, (void *)hello_body,
                                            MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL)
        return 1;
    MHD_add_response_header(r, "Content-Type", body ? "application/json" : "text/plain");
    /* The same flags and limits as server/http/http_server.c. */
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL, NULL, hello_access,
        r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 1024u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16384 * 2 + 32768), MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench_hello: could not listen on %s\n", listen);
        MHD_destroy_response(r);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on http://%s:%u\n", inet_ntoa(sa.sin_addr), info ? info->port : 0);
    fflush(stdout);
    while (sigwait(&set, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    MHD_destroy_response(r);
    free(body);
    return 0;
}
