/* fuzz_model_webhook.c: a webhook subscription body ({url, events[], description}) and the
 * retry schedule setting, on any text. An accepted body names an allowed host that the URL
 * check accepts again, and events that are known types or exactly ["*"]; a refused one says
 * why. The first input byte picks the allow list, so listed, "*" and empty lists are all met. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "vmlogind/model_webhook.h"

static const char *const lists[] = {"", "*", "127.0.0.1", "hooks.example.com *",
                                    "a.example,b.example localhost"};

static void check_accepted(const struct model_webhook_request *r, const char *allowed)
{
    char host[MODEL_WEBHOOK_HOST_MAX + 1];
    struct violations vs;
    size_t i;
    const json_t *v;

    violations_init(&vs);
    if (!model_webhook_url_check(r->url, allowed, host, sizeof(host), &vs) ||
        strcmp(host, r->host) != 0)
        abort();
    if (json_array_size(r->events) == 0)
        abort();
    json_array_foreach(r->events, i, v)
    {
        const char *t = json_string_value(v);
        if (t == NULL || (!model_webhook_type_known(t) &&
                          !(strcmp(t, "*") == 0 && json_array_size(r->events) == 1)))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *allowed = lists[size > 0 ? data[0] % (sizeof(lists) / sizeof(lists[0])) : 0];
    char *s = fuzz_strdup(size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
    json_t *body = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    struct model_webhook_request r;
    struct violations vs;
    int64_t sched[MODEL_WEBHOOK_SCHEDULE_MAX];
    size_t n;

    violations_init(&vs);
    if (model_webhook_request_from_json(body, allowed, &r, &vs))
        check_accepted(&r, allowed);
    else if (vs.n == 0)
        abort();
    model_webhook_request_cleanup(&r);
    json_decref(body);
    violations_init(&vs);
    {
        char host[MODEL_WEBHOOK_HOST_MAX + 1];
        if (!model_webhook_url_check(s, allowed, host, sizeof(host), &vs) && vs.n == 0)
            abort();
    }
    if (model_webhook_schedule_parse(s, sched, &n) && (n == 0 || n > MODEL_WEBHOOK_SCHEDULE_MAX))
        abort();
    free(s);
    return 0;
}
