/* azure_typed.c: the glue every typed call shares: JSON pages to arrays of plain structs,
 * string arrays, ARM URL building with the client's cloud, ARM GET-and-parse, and OData
 * string literals. Nothing here knows a resource type. */
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/xalloc.h"

void *azure_typed_parse_array(const struct azure_typed_page *tp, const json_t *value, size_t *n)
{
    size_t count = json_is_array(value) ? json_array_size(value) : 0;
    char *items = xcalloc(count > 0 ? count : 1, tp->size);
    size_t i;
    const json_t *v;

    *n = 0;
    json_array_foreach(value, i, v)
    {
        if (!json_is_object(v))
            continue;
        tp->parse(v, items + *n * tp->size);
        (*n)++;
    }
    return items;
}

void azure_typed_free_array(const struct azure_typed_page *tp, void *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        tp->cleanup((char *)items + i * tp->size);
    free(items);
}

enum err azure_typed_page_cb(const json_t *value, void *arg)
{
    const struct azure_typed_page *tp = arg;
    size_t n = 0;
    void *items = azure_typed_parse_array(tp, value, &n);
    enum err rc = tp->deliver(tp, items, n);

    azure_typed_free_array(tp, items, n);
    return rc;
}

char **azure_strv_from_json(const json_t *arr, size_t *n)
{
    size_t count = json_is_array(arr) ? json_array_size(arr) : 0;
    char **v = xcalloc(count > 0 ? count : 1, sizeof(*v));
    size_t i;
    const json_t *s;

    *n = 0;
    json_array_foreach(arr, i, s)
    {
        if (json_is_string(s))
            v[(*n)++] = xstrdup(json_string_value(s));
    }
    return v;
}

void azure_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

enum err azure_arm_url(struct azure_client *c, const char *path, const char *api,
                       const char *query_tail, struct buf *out)
{
    return azure_cloud_arm_url(&c->cloud, path, api, query_tail, out);
}

enum err azure_arm_get_json(struct azure_client *c, const char *url, const char *sub,
                            const char *op, json_t **out, struct azure_error *ae)
{
    struct azure_request rq = {
        .method = "GET", .url = url, .api = AZURE_API_ARM, .op = op, .subscription = sub};

    return azure_send_json(c, &rq, out, ae);
}

enum err azure_odata_quote_append(struct buf *out, const char *s)
{
    struct buf q;
    enum err rc;

    buf_init(&q, AZURE_URL_MAX_BYTES);
    rc = buf_appends(&q, "'");
    for (const char *p = s; *p != '\0' && rc == ERR_OK; p++)
        rc = *p == '\'' ? buf_appends(&q, "''") : buf_append(&q, p, 1);
    if (rc == ERR_OK)
        rc = buf_appends(&q, "'");
    if (rc == ERR_OK)
        rc = azure_url_encode(out, q.data);
    buf_cleanup(&q);
    return rc;
}
