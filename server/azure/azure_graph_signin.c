/* azure_graph_signin.c: the Microsoft Graph v1.0 reads behind "why can't she sign in?": the
 * tenant's Conditional Access policies (Policy.Read.All) and a user's recent sign-ins to one
 * app (AuditLog.Read.All). Both answer raw JSON: the model judges the Graph shapes directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/azure_graph.h"
#include "vmlogind/xalloc.h"

#define CA_MAX_PAGES 20

/* Appends the "value" items of every page from url on (up to max_pages) to *out. */
static enum err get_pages(struct azure_client *c, const char *first, const char *op, int max_pages,
                          json_t *out, struct azure_error *ae)
{
    char *url = xstrdup(first);
    enum err rc = ERR_OK;

    for (int page = 0; rc == ERR_OK && url != NULL && page < max_pages; page++) {
        struct azure_request rq = {.method = "GET", .url = url, .api = AZURE_API_GRAPH, .op = op};
        json_t *root = NULL;
        const char *next;
        rc = azure_send_json(c, &rq, &root, ae);
        if (rc == ERR_OK)
            json_array_extend(out, json_object_get(root, "value"));
        next = rc == ERR_OK ? json_string_value(json_object_get(root, "@odata.nextLink")) : NULL;
        free(url);
        url = next != NULL ? xstrdup(next) : NULL;
        json_decref(root);
    }
    free(url);
    return rc;
}

/* GET /identity/conditionalAccess/policies
 * (https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies). */
enum err azure_graph_ca_policies(struct azure_client *c, json_t **out, struct azure_error *ae)
{
    struct buf url;
    enum err rc;

    *out = json_array();
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = azure_cloud_graph_url(&c->cloud, "/identity/conditionalAccess/policies", &url);
    if (rc == ERR_OK)
        rc = get_pages(c, url.data, "graph_ca_policies", CA_MAX_PAGES, *out, ae);
    buf_cleanup(&url);
    return rc;
}

/* GET /auditLogs/signIns?$filter=userId eq '..' and appId eq '..'&$top=N
 * (https://learn.microsoft.com/graph/api/signin-list: newest first). One page. */
enum err azure_graph_signins(struct azure_client *c, const char *user_id, const char *app_id,
                             int top, json_t **out, struct azure_error *ae)
{
    struct buf path, url;
    char tail[32];
    enum err rc;

    *out = json_array();
    snprintf(tail, sizeof(tail), "&$top=%d", top);
    buf_init(&path, AZURE_URL_MAX_BYTES);
    buf_init(&url, AZURE_URL_MAX_BYTES);
    rc = buf_appends(&path, "/auditLogs/signIns?$filter=userId%20eq%20");
    if (rc == ERR_OK)
        rc = azure_odata_quote_append(&path, user_id);
    if (rc == ERR_OK)
        rc = buf_appends(&path, "%20and%20appId%20eq%20");
    if (rc == ERR_OK)
        rc = azure_odata_quote_append(&path, app_id);
    if (rc == ERR_OK)
        rc = buf_appends(&path, tail);
    if (rc == ERR_OK)
        rc = azure_cloud_graph_url(&c->cloud, path.data, &url);
    if (rc == ERR_OK)
        rc = get_pages(c, url.data, "graph_signins", 1, *out, ae);
    buf_cleanup(&path);
    buf_cleanup(&url);
    return rc;
}
