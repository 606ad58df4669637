/* sim_main.c: azsim's command line, start-up (keys, scenario, TLS listener on loopback only)
 * and shutdown on SIGTERM/SIGINT. Usage errors and bad scenarios exit 2. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "vmlogind/buf.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

struct opts {
    const char *listen;
    const char *cert;
    const char *key;
    const char *scenario;
    const char *tenant;
    double time_scale;
    int page_size;
    int threads;
};

static void usage(void)
{
    fprintf(stderr, "usage: azsim --listen 127.0.0.1:PORT --tls-cert FILE --tls-key FILE "
                    "--scenario FILE [--time-scale X] [--page-size N] [--tenant GUID] "
                    "[--threads N]\n");
}

static bool parse_num(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, struct opts *o)
{
    double d;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return false;
        i++;
        if (strcmp(a, "--listen") == 0)
            o->listen = v;
        else if (strcmp(a, "--tls-cert") == 0)
            o->cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            o->key = v;
        else if (strcmp(a, "--scenario") == 0)
            o->scenario = v;
        else if (strcmp(a, "--tenant") == 0)
            o->tenant = v;
        else if (strcmp(a, "--time-scale") == 0 && parse_num(v, 0, 1000, &d))
            o->time_scale = d;
        else if (strcmp(a, "--page-size") == 0 && parse_num(v, 0, 100000, &d))
            o->page_size = (int)d;
        else if (strcmp(a, "--threads") == 0 && parse_num(v, 1, 16, &d))
            o->threads = (int)d;
        else
            return false;
    }
    return o->listen && o->cert && o->key && o->scenario;
}

static char *slurp(const char *path)
{
    struct buf b;

    buf_init(&b, 1u << 20); /* a TLS certificate or key */
    if (buf_read_file(&b, path) != ERR_OK || b.len == 0) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_steal(&b);
}

/* "127.0.0.1:PORT" with a loopback address only. */
static bool parse_listen(const char *s, char *addr, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':');
    struct in_addr a;
    double p;

    if (!colon || (size_t)(colon - s) >= cap)
        return false;
    memcpy(addr, s, (size_t)(colon - s));
    addr[colon - s] = '\0';
    if (!parse_num(colon + 1, 0, 65535, &p) || inet_pton(AF_INET, addr, &a) != 1)
        return false;
    *port = (int)p;
    return (ntohl(a.s_addr) >> 24) == 127;
}

static void state_init(const struct opts *o)
{
    pthread_mutex_init(&S.mu, NULL);
    S.scenario_path = xstrdup(o->scenario);
    S.time_scale = o->time_scale;
    S.page_size = o->page_size;
    S.faults = json_object();
    S.stats_requests = json_object();
    S.stats_violations_by_client = json_object();
    S.stats_violations_by_bucket = json_object();
    S.mutations = json_array();
    sim_throttle_defaults();
}

int main(int argc, char **argv)
{
    struct opts o = {.time_scale = 1.0, .threads = 4};
    char addr[64];
    int port;
    char err[1024];
    char *cert_pem = NULL;
    char *key_pem = NULL;
    int rc = 2;
    sigset_t set;
    int sig;

    xalloc_init_json();
    if (!parse_args(argc, argv, &o)) {
        usage();
        return 2;
    }
    if (!parse_listen(o.listen, addr, sizeof(addr), &port)) {
        fprintf(stderr, "azsim: --listen must be a loopback IPv4 address:port, got '%s'\n",
                o.listen);
        return 2;
    }
    cert_pem = slurp(o.cert);
    key_pem = slurp(o.key);
    if (!cert_pem || !key_pem) {
        fprintf(stderr, "azsim: cannot read --tls-cert or --tls-key\n");
        goto out;
    }
    state_init(&o);
    if (!sim_keys_init()) {
        fprintf(stderr, "azsim: cannot generate the token signing key\n");
        rc = 1;
        goto out;
    }
    if (!sim_state_load(o.scenario, err, sizeof(err))) {
        fprintf(stderr, "azsim: bad scenario: %s\n", err);
        goto out_state;
    }
    if (o.tenant && uuid_is_valid(o.tenant))
        snprintf(S.tenant, sizeof(S.tenant), "%s", o.tenant);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    port = sim_http_start(addr, port, cert_pem, key_pem, o.threads);
    if (port < 0) {
        fprintf(stderr, "azsim: cannot listen on %s\n", o.listen);
        rc = 1;
        goto out_state;
    }
    pthread_mutex_lock(&S.mu); /* requests may already be changing the state */
    log_info("azsim.start", "port=%d tenant=%s vms=%zu role_assignments=%zu time_scale=%g", port,
             S.tenant, S.vm_by_key.len, S.ras.len, S.time_scale);
    pthread_mutex_unlock(&S.mu);
    printf("listening on https://%s:%d\n", addr, port);
    fflush(stdout);
    sigwait(&set, &sig);
    log_info("azsim.stop", "signal=%d", sig);
    sim_http_stop();
    rc = 0;
out_state:
    pthread_mutex_lock(&S.mu);
    sim_state_clear();
    pthread_mutex_unlock(&S.mu);
out:
    free(cert_pem);
    free(key_pem);
    return rc;
}
