/* azure_page.c: collection paging for ARM (nextLink) and Graph (@odata.nextLink). The next
 * link is followed verbatim until absent; the end is never inferred from a page's size, and an
 * empty page with a next link is legal. */
#include <stdlib.h>
#include <string.h>

#include "azure/azure_internal.h"
#include "vmlogind/xalloc.h"

#define PAGE_MAX_PAGES 1000000

static const char *next_link(const json_t *root)
{
    const char *n = azure_json_str(root, "nextLink");

    if (n == NULL)
        n = azure_json_str(root, "@odata.nextLink");
    return n != NULL && n[0] != '\0' ? n : NULL;
}

static enum err bad_body(struct azure_error *ae, const char *code, const char *msg)
{
    azure_error_clear(ae);
    azure_strlcpy(ae->code, code, sizeof(ae->code));
    azure_strlcpy(ae->message, msg, sizeof(ae->message));
    return ERR_CLOUD;
}

enum err azure_page_each(struct azure_client *c, const struct azure_request *rq, azure_page_fn fn,
                         void *arg, struct azure_error *ae)
{
    struct azure_request page = *rq;
    char *url = xstrdup(rq->url);
    char *prev = NULL;
    enum err rc = ERR_OK;

    for (long n = 0; url != NULL && rc == ERR_OK; n++) {
        json_t *root = NULL;
        const json_t *value;
        const char *next;

        if (n == PAGE_MAX_PAGES) {
            rc = bad_body(ae, "TooManyPages", "collection has too many pages");
            break;
        }
        page.url = url;
        rc = azure_send_json(c, &page, &root, ae);
        if (rc != ERR_OK)
            break;
        value = json_object_get(root, "value");
        if (!json_is_array(value)) {
            json_decref(root);
            rc = bad_body(ae, "InvalidCollection", "collection body without a value array");
            break;
        }
        rc = fn(value, arg);
        next = next_link(root);
        free(prev);
        prev = url;
        url = next != NULL ? xstrdup(next) : NULL;
        json_decref(root);
        if (url != NULL && strcmp(url, prev) == 0)
            rc = bad_body(ae, "NextLinkLoop", "nextLink repeats the page just read");
    }
    free(prev);
    free(url);
    return rc;
}
