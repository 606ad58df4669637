/* api.h: the REST resources of vmlogind, the one route table, and the application context
 * handlers reach through req->app. Handlers record intent in the store and wake the
 * reconciler; they never call Azure. */
#ifndef VMLOGIND_API_H
#define VMLOGIND_API_H

#include <stddef.h>
#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/config.h"
#include "vmlogind/http.h"

struct store;
struct auth;

struct app {
    const struct config *cfg;
    struct store *store;
    struct http_server *http;
    struct auth *auth;
    int64_t started_ms;
    /* Set by main: more Prometheus text (Azure client, reconciler) for /metrics. */
    enum err (*metrics_extra)(struct buf *out, void *arg);
    void *metrics_arg;
    /* Set by main: nudges the reconciler to look at a task now (kind, key). */
    void (*wake)(void *arg, const char *kind, const char *key);
    void *wake_arg;
};

extern const struct route api_routes[];
extern const size_t api_routes_count;

/* The committed api/openapi.yaml, embedded at build time. */
extern const char vl_openapi_yaml[];
extern const size_t vl_openapi_yaml_len;

/* Handlers (one file per resource). */
void api_health_healthz(struct http_request *req);
void api_health_readyz(struct http_request *req);
void api_health_metrics(struct http_request *req);
void api_health_openapi(struct http_request *req);

#endif
