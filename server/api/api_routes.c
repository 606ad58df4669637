/* api_routes.c: the one route table. Each row declares its permission and body; 404 versus
 * 405 + Allow, --list-routes and the OpenAPI check all come from here. */
#include "vmlogind/api.h"

const struct route api_routes[] = {
    {.method = "GET",
     .pattern = "/healthz",
     .perm = PERM_PUBLIC,
     .handler = api_health_healthz,
     .summary = "liveness"},
    {.method = "GET",
     .pattern = "/readyz",
     .perm = PERM_PUBLIC,
     .handler = api_health_readyz,
     .summary = "readiness: store open and migrated"},
    {.method = "GET",
     .pattern = "/metrics",
     .perm = PERM_PUBLIC,
     .handler = api_health_metrics,
     .summary = "Prometheus metrics"},
    {.method = "GET",
     .pattern = "/openapi.yaml",
     .perm = PERM_PUBLIC,
     .handler = api_health_openapi,
     .summary = "the API contract"},
    {.method = "GET",
     .pattern = "/v1/audit",
     .perm = PERM_ADMIN,
     .handler = api_audit_list,
     .summary = "the audit log, paged (administrators without scope limits)"},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
