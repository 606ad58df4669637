/* api_health.c: liveness, readiness, metrics and the contract. Public: no caller identity. */
#include <string.h>

#include "vmlogind/access.h"
#include "vmlogind/api.h"
#include "vmlogind/store.h"

void api_health_healthz(struct http_request *req)
{
    http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

void api_health_readyz(struct http_request *req)
{
    struct app *app = req->app;

    if (app->store == NULL || !store_is_ready(app->store)) {
        http_problem_reply(req, "not_ready", "the store is not open or not migrated", NULL);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

void api_health_metrics(struct http_request *req)
{
    struct app *app = req->app;
    struct buf b;
    enum err rc;

    buf_init(&b, 4u << 20);
    rc = buf_printf(&b,
                    "# HELP vmlogind_build_info Build information.\n"
                    "# TYPE vmlogind_build_info gauge\n"
                    "vmlogind_build_info{version=\"%s\"} 1\n"
                    "# HELP vmlogind_start_time_seconds Start time.\n"
                    "# TYPE vmlogind_start_time_seconds gauge\n"
                    "vmlogind_start_time_seconds %lld\n",
                    VMLOGIND_VERSION, (long long)(app->started_ms / 1000));
    if (rc == ERR_OK && app->http != NULL)
        rc = http_server_metrics(app->http, &b);
    if (rc == ERR_OK && app->access != NULL)
        rc = access_index_metrics(app->access, &b);
    if (rc == ERR_OK)
        rc = api_events_metrics(app, &b);
    if (rc == ERR_OK && app->store != NULL && store_is_ready(app->store))
        rc = api_metrics_store(app, &b);
    if (rc == ERR_OK && app->metrics_extra != NULL)
        rc = app->metrics_extra(&b, app->metrics_arg);
    if (rc != ERR_OK) {
        buf_cleanup(&b);
        http_reply_error(req, rc, NULL);
        return;
    }
    http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
                   b.len);
    buf_cleanup(&b);
}

void api_health_openapi(struct http_request *req)
{
    http_reply_raw(req, 200, "application/yaml", vl_openapi_yaml, vl_openapi_yaml_len);
}
