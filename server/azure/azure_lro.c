/* azure_lro.c: long-running ARM operations. Begin sends the request and records how to follow
 * it (Azure-AsyncOperation, else Location on a 202, else the resource's provisioningState);
 * poll asks once; wait loops with Retry-After clamped and a deadline, then GETs the resource
 * of a PUT/PATCH. The state encodes to one line so a restart resumes from the stored URL. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

void azure_lro_init(struct azure_lro *l)
{
    memset(l, 0, sizeof(*l));
    l->retry_after_ms = -1;
    azure_error_clear(&l->error);
}

void azure_lro_cleanup(struct azure_lro *l)
{
    if (l == NULL)
        return;
    free(l->poll_url);
    free(l->resource_url);
    free(l->subscription);
    azure_lro_init(l);
}

const char *azure_lro_state_str(enum azure_lro_state s)
{
    switch (s) {
    case AZURE_LRO_SUCCEEDED:
        return "Succeeded";
    case AZURE_LRO_FAILED:
        return "Failed";
    case AZURE_LRO_CANCELED:
        return "Canceled";
    default:
        return "InProgress";
    }
}

/* Terminal states compare case-insensitively; "Cancelled" is tolerated. */
static enum azure_lro_state state_of(const char *s)
{
    if (s == NULL)
        return AZURE_LRO_RUNNING;
    if (strcasecmp(s, "Succeeded") == 0)
        return AZURE_LRO_SUCCEEDED;
    if (strcasecmp(s, "Failed") == 0)
        return AZURE_LRO_FAILED;
    if (strcasecmp(s, "Canceled") == 0 || strcasecmp(s, "Cancelled") == 0)
        return AZURE_LRO_CANCELED;
    return AZURE_LRO_RUNNING;
}

static bool is_delete(const struct azure_lro *l)
{
    return strcasecmp(l->method, "DELETE") == 0;
}

/* The operation's failure from a status body (error required on Failed/Canceled). */
static void set_failure(struct azure_lro *l, const struct azure_response *rs, const char *dflt)
{
    azure_error_clear(&l->error);
    azure_error_parse(&l->error, rs->status, rs->body.data, rs->body.len);
    azure_strlcpy(l->error.request_id, rs->request_id, sizeof(l->error.request_id));
    if (l->error.code[0] == '\0')
        azure_strlcpy(l->error.code, dflt, sizeof(l->error.code));
}

static void from_resource_body(struct azure_lro *l, const struct azure_response *rs)
{
    json_t *root = azure_json_load(&rs->body);
    const char *ps = azure_json_path_str(root, "properties.provisioningState");

    l->state = ps != NULL ? state_of(ps) : AZURE_LRO_SUCCEEDED;
    if (l->state == AZURE_LRO_FAILED || l->state == AZURE_LRO_CANCELED)
        set_failure(l, rs,
                    l->state == AZURE_LRO_FAILED ? "ProvisioningFailed" : "ProvisioningCanceled");
    json_decref(root);
}

enum err azure_lro_begin(struct azure_client *c, const struct azure_request *rq,
                         struct azure_lro *l, struct azure_response *rs, struct azure_error *ae)
{
    enum err rc;

    azure_lro_init(l);
    rc = azure_http_send(c, rq, rs, ae);
    if (rc != ERR_OK)
        return rc;
    azure_strlcpy(l->method, rq->method, sizeof(l->method));
    l->resource_url = xstrdup(rq->url);
    l->subscription = rq->subscription != NULL ? xstrdup(rq->subscription) : NULL;
    l->retry_after_ms = rs->retry_after_ms;
    l->state = AZURE_LRO_RUNNING;
    if (rs->async_op != NULL) {
        l->kind = AZURE_LRO_ASYNC_OP;
        l->poll_url = xstrdup(rs->async_op);
    } else if (rs->status == 202 && rs->location != NULL) {
        l->kind = AZURE_LRO_LOCATION;
        l->poll_url = xstrdup(rs->location);
    } else if (rs->status == 202 || (!is_delete(l) && rs->status != 204)) {
        l->kind = AZURE_LRO_RESOURCE;
        l->poll_url = xstrdup(rq->url);
        if (rs->status != 202)
            from_resource_body(l, rs);
    } else {
        l->state = AZURE_LRO_SUCCEEDED; /* DELETE 200/204 */
    }
    if (l->state != AZURE_LRO_RUNNING) {
        l->kind = AZURE_LRO_NONE;
        free(l->poll_url);
        l->poll_url = NULL;
    }
    return ERR_OK;
}

static void poll_async_op(struct azure_lro *l, const struct azure_response *rs)
{
    json_t *root = azure_json_load(&rs->body);

    l->state = state_of(azure_json_str(root, "status"));
    if (l->state == AZURE_LRO_FAILED || l->state == AZURE_LRO_CANCELED)
        set_failure(l, rs, l->state == AZURE_LRO_FAILED ? "OperationFailed" : "OperationCanceled");
    json_decref(root);
}

enum err azure_lro_poll(struct azure_client *c, struct azure_lro *l, struct azure_error *ae)
{
    struct azure_request rq = {.method = "GET",
                               .url = l->poll_url,
                               .api = AZURE_API_ARM,
                               .op = "lro_poll",
                               .subscription = l->subscription};
    struct azure_response rs;
    enum err rc;

    if (l->state != AZURE_LRO_RUNNING || l->poll_url == NULL)
        return ERR_OK;
    rc = azure_http_send(c, &rq, &rs, ae);
    l->retry_after_ms = rs.retry_after_ms;
    if (rc == ERR_NOT_FOUND && l->kind == AZURE_LRO_RESOURCE && is_delete(l)) {
        l->state = AZURE_LRO_SUCCEEDED; /* the resource is gone */
        rc = ERR_OK;
    } else if (rc != ERR_OK && l->kind == AZURE_LRO_LOCATION && rs.status >= 400 &&
               rs.status < 500 && rs.status != 429) {
        /* Location returns what the synchronous call would have: here, its failure. */
        set_failure(l, &rs, "OperationFailed");
        l->state = AZURE_LRO_FAILED;
        rc = ERR_OK;
    } else if (rc == ERR_OK && l->kind == AZURE_LRO_ASYNC_OP) {
        poll_async_op(l, &rs);
    } else if (rc == ERR_OK && l->kind == AZURE_LRO_LOCATION) {
        l->state = rs.status == 202 ? AZURE_LRO_RUNNING : AZURE_LRO_SUCCEEDED;
    } else if (rc == ERR_OK) {
        from_resource_body(l, &rs);
    }
    azure_response_cleanup(&rs);
    return rc;
}

int64_t azure_lro_next_delay_ms(const struct azure_client *c, const struct azure_lro *l)
{
    int64_t d = l->retry_after_ms >= 0 ? l->retry_after_ms : c->lro_poll_default_ms;

    if (d < c->lro_poll_min_ms)
        d = c->lro_poll_min_ms;
    if (d > c->lro_poll_max_ms)
        d = c->lro_poll_max_ms;
    return d;
}

static enum err final_get(struct azure_client *c, struct azure_lro *l, struct azure_response *final,
                          struct azure_error *ae)
{
    struct azure_request rq = {.method = "GET",
                               .url = l->resource_url,
                               .api = AZURE_API_ARM,
                               .op = "lro_final",
                               .subscription = l->subscription};

    return azure_http_send(c, &rq, final, ae);
}

enum err azure_lro_wait(struct azure_client *c, struct azure_lro *l, long timeout_ms,
                        struct azure_response *final, struct azure_error *ae)
{
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : c->lro_timeout_ms);
    enum err rc;

    azure_error_clear(ae);
    while (l->state == AZURE_LRO_RUNNING) {
        int64_t d = azure_lro_next_delay_ms(c, l);

        if (clock_mono_ms() + d > deadline) {
            azure_strlcpy(ae->code, "OperationPollTimeout", sizeof(ae->code));
            azure_strlcpy(ae->message, "operation still running at the deadline",
                          sizeof(ae->message));
            return ERR_TIMEOUT;
        }
        clock_sleep_ms(d);
        rc = azure_lro_poll(c, l, ae);
        if (rc != ERR_OK)
            return rc;
    }
    if (l->state != AZURE_LRO_SUCCEEDED) {
        *ae = l->error;
        return ERR_CLOUD;
    }
    if (final != NULL && !is_delete(l) && strcasecmp(l->method, "POST") != 0)
        return final_get(c, l, final, ae);
    return ERR_OK;
}

enum err azure_lro_encode(const struct azure_lro *l, struct buf *out)
{
    json_t *o =
        json_pack("{s:s, s:i, s:s?, s:s?, s:s?}", "method", l->method, "kind", (int)l->kind, "poll",
                  l->poll_url, "resource", l->resource_url, "subscription", l->subscription);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    enum err rc = text != NULL ? buf_appends(out, text) : ERR_INVALID;

    free(text);
    json_decref(o);
    return rc;
}

enum err azure_lro_decode(const char *text, struct azure_lro *l)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    const char *method = NULL;
    const char *poll = NULL;
    const char *res = NULL;
    const char *sub = NULL;
    int kind = 0;

    azure_lro_init(l);
    /* the encoder writes null for absent URLs: treat null like a missing key */
    if (o != NULL) {
        const char *nullable[] = {"poll", "resource", "subscription"};
        for (size_t i = 0; i < 3; i++)
            if (json_is_null(json_object_get(o, nullable[i])))
                json_object_del(o, nullable[i]);
    }
    if (o == NULL ||
        json_unpack(o, "{s:s, s:i, s?s, s?s, s?s}", "method", &method, "kind", &kind, "poll", &poll,
                    "resource", &res, "subscription", &sub) != 0 ||
        kind < AZURE_LRO_NONE || kind > AZURE_LRO_RESOURCE || (kind != 0 && poll == NULL)) {
        json_decref(o);
        return ERR_INVALID;
    }
    azure_strlcpy(l->method, method, sizeof(l->method));
    l->kind = (enum azure_lro_kind)kind;
    l->poll_url = poll != NULL ? xstrdup(poll) : NULL;
    l->resource_url = res != NULL ? xstrdup(res) : NULL;
    l->subscription = sub != NULL ? xstrdup(sub) : NULL;
    l->state = kind == AZURE_LRO_NONE ? AZURE_LRO_SUCCEEDED : AZURE_LRO_RUNNING;
    json_decref(o);
    return ERR_OK;
}
