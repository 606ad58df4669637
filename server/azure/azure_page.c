/* azure_page.c: collection paging for ARM (nextLink) and Graph (@odata.nextLink). The next
 * link is followed verbatim until absent; the end is never inferred from a page's size, and an
 * empty page with a next link is legal. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azure/azure_internal.h"
#include "vmlogind/xalloc.h"

#define PAGE_MAX_PAGES 1000000
#define PAGE_IDLE_MS 50 /* a page later than this after the last one: idle is delivered */

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

/* ---- pipelined typed paging --------------------------------------------------------------
 * A fetch thread requests, loads and parses page N+1 into structs while the caller's thread
 * delivers page N (on two cores the store writes overlap the network and the parse). One
 * parsed page waits at most; the caller's thread alone calls deliver, in page order. */

struct parsed_page {
    void *items;
    size_t n;
};

struct pipe {
    struct azure_client *c;
    struct azure_request rq;
    const struct azure_typed_page *tp;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct parsed_page slot; /* the page handed over, when full */
    bool full;
    bool done;   /* the fetcher has finished (rc, ae say how) */
    bool cancel; /* the consumer wants no more pages */
    enum err rc; /* the fetcher's result */
    struct azure_error ae;
};

/* The items of a "value" array (anything else: none, false), each scanned by tp->scan. */
static bool scan_items(const struct azure_typed_page *tp, struct azure_scan *s,
                       struct parsed_page *out)
{
    size_t cap = 64;

    azure_typed_free_array(tp, out->items, out->n);
    out->n = 0;
    out->items = xcalloc(cap, tp->size);
    if (!azure_scan_array(s))
        return false;
    while (azure_scan_element(s)) {
        if (!azure_scan_object(s))
            continue;
        if (out->n == cap) {
            out->items = xreallocarray(out->items, xmul(2, cap), tp->size);
            memset((char *)out->items + cap * tp->size, 0, cap * tp->size);
            cap *= 2;
        }
        tp->scan(s, (char *)out->items + out->n * tp->size);
        out->n++;
    }
    return true;
}

enum err azure_page_scan(const struct azure_typed_page *tp, const char *body, size_t len,
                         long status, void **items, size_t *n, char **next, struct azure_error *ae)
{
    struct parsed_page pg = {0};
    struct parsed_page *out = &pg;
    struct azure_scan s;
    bool has_value = false;
    bool is_object;
    int top;
    char *link = NULL;
    char *odata = NULL;

    *items = NULL;
    *n = 0;
    *next = NULL;
    azure_scan_init(&s, body != NULL ? body : "", len);
    top = azure_scan_peek(&s);
    is_object = azure_scan_object(&s);
    while (is_object && azure_scan_member(&s)) {
        if (azure_scan_key_is(&s, "value"))
            has_value = scan_items(tp, &s, out);
        else if (azure_scan_key_is(&s, "nextLink"))
            azure_scan_take(&link, azure_scan_str(&s));
        else if (azure_scan_key_is(&s, "@odata.nextLink"))
            azure_scan_take(&odata, azure_scan_str(&s));
        else
            (void)azure_scan_skip(&s);
    }
    if (!azure_scan_done(&s) || !is_object || !has_value) {
        /* jansson wants an object or an array at the top */
        bool json = (top == '{' || top == '[') && azure_scan_done(&s);

        azure_scan_cleanup(&s);
        azure_typed_free_array(tp, out->items, out->n);
        *out = (struct parsed_page){0};
        free(link);
        free(odata);
        if (json || status == 204)
            return bad_body(ae, "InvalidCollection", "collection body without a value array");
        (void)bad_body(ae, "InvalidResponseBody", "response body is not JSON");
        ae->status = status;
        return ERR_CLOUD;
    }
    azure_scan_cleanup(&s);
    if (link == NULL)
        link = odata;
    else
        free(odata);
    if (link != NULL && link[0] == '\0')
        azure_scan_take(&link, NULL);
    *items = pg.items;
    *n = pg.n;
    *next = link;
    return ERR_OK;
}

static enum err fetch_one(struct pipe *p, const char *url, struct parsed_page *out, char **next,
                          struct azure_error *ae)
{
    struct azure_request page = p->rq;
    json_t *root = NULL;
    const json_t *value;
    const char *nl;
    enum err rc;

    page.url = url;
    if (p->tp->scan != NULL) {
        struct azure_response rs;

        rc = azure_http_send(p->c, &page, &rs, ae);
        if (rc == ERR_OK)
            rc = azure_page_scan(p->tp, rs.body.data, rs.body.len, rs.status, &out->items, &out->n,
                                 next, ae);
        azure_response_cleanup(&rs);
        return rc;
    }
    rc = azure_send_json(p->c, &page, &root, ae);
    if (rc != ERR_OK)
        return rc;
    value = json_object_get(root, "value");
    if (!json_is_array(value)) {
        json_decref(root);
        return bad_body(ae, "InvalidCollection", "collection body without a value array");
    }
    out->items = azure_typed_parse_array(p->tp, value, &out->n);
    nl = next_link(root);
    *next = nl != NULL ? xstrdup(nl) : NULL;
    json_decref(root);
    return ERR_OK;
}

static void *fetcher(void *arg)
{
    struct pipe *p = arg;
    char *url = xstrdup(p->rq.url);
    char *prev = NULL;
    enum err rc = ERR_OK;
    struct azure_error ae;

    azure_error_clear(&ae);
    for (long n = 0; url != NULL && rc == ERR_OK; n++) {
        struct parsed_page pg = {0};
        char *next = NULL;
        bool cancel;

        pthread_mutex_lock(&p->mu);
        cancel = p->cancel;
        pthread_mutex_unlock(&p->mu);
        if (cancel)
            break;
        if (n == PAGE_MAX_PAGES) {
            rc = bad_body(&ae, "TooManyPages", "collection has too many pages");
            break;
        }
        rc = fetch_one(p, url, &pg, &next, &ae);
        if (rc != ERR_OK)
            break;
        pthread_mutex_lock(&p->mu);
        while (p->full && !p->cancel)
            pthread_cond_wait(&p->cv, &p->mu);
        cancel = p->cancel;
        if (!cancel) {
            p->slot = pg;
            p->full = true;
            pthread_cond_broadcast(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
        if (cancel) {
            azure_typed_free_array(p->tp, pg.items, pg.n);
            free(next);
            break;
        }
        free(prev);
        prev = url;
        url = next;
        if (url != NULL && strcmp(url, prev) == 0)
            rc = bad_body(&ae, "NextLinkLoop", "nextLink repeats the page just read");
    }
    free(prev);
    free(url);
    pthread_mutex_lock(&p->mu);
    p->rc = rc;
    p->ae = ae;
    p->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Waits (p->mu held) up to PAGE_IDLE_MS for the fetcher; false if it has handed nothing over
 * by then. */
static bool wait_a_little(struct pipe *p)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += PAGE_IDLE_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!p->full && !p->done) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
            break;
    }
    return p->full || p->done;
}

enum err azure_page_each_typed(struct azure_client *c, const struct azure_request *rq,
                               const struct azure_typed_page *tp, struct azure_error *ae)
{
    struct pipe p = {.c = c, .rq = *rq, .tp = tp};
    pthread_t th;
    bool held = false; /* a page was delivered since the last idle call */
    enum err rc = ERR_OK;

    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (pthread_create(&th, NULL, fetcher, &p) != 0) {
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
        return azure_page_each(c, rq, azure_typed_page_cb, (void *)tp, ae);
    }
    for (;;) {
        struct parsed_page pg;

        pthread_mutex_lock(&p.mu);
        if (tp->idle && held && !wait_a_little(&p)) {
            /* the next page is late: the caller may finish what it holds open */
            pthread_mutex_unlock(&p.mu);
            held = false;
            rc = tp->deliver(tp, NULL, 0);
            if (rc != ERR_OK)
                break;
            pthread_mutex_lock(&p.mu);
        }
        while (!p.full && !p.done)
            pthread_cond_wait(&p.cv, &p.mu);
        if (!p.full) {
            pthread_mutex_unlock(&p.mu);
            break; /* the fetcher finished and handed over everything */
        }
        pg = p.slot;
        p.full = false;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        rc = tp->deliver(tp, pg.items, pg.n);
        held = true;
        azure_typed_free_array(tp, pg.items, pg.n);
        if (rc != ERR_OK)
            break;
    }
    pthread_mutex_lock(&p.mu);
    p.cancel = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
    if (p.full)
        azure_typed_free_array(tp, p.slot.items, p.slot.n);
    if (rc == ERR_OK && p.rc != ERR_OK) {
        rc = p.rc;
        *ae = p.ae;
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return rc;
}
