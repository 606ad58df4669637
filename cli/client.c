/* client.c: vmloginctl's HTTP client (libcurl): one request, problem+json errors, exit codes,
 * --debug tracing with the Authorization header redacted. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "vmlogind/buf.h"
#include "vmlogind/xalloc.h"

#define CLI_MAX_BODY (64u << 20)

struct hdrs {
    char *location;
    size_t cap;
    char request_id[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, p, size * n) == ERR_OK ? size * n : 0;
}

/* Copies the value of header line h into out when its name is name. */
static void header_value(const char *h, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(h, name, nl) != 0 || h[nl] != ':')
        return;
    h += nl + 1;
    len -= nl + 1;
    while (len > 0 && (*h == ' ' || *h == '\t'))
        h++, len--;
    while (len > 0 && (h[len - 1] == '\r' || h[len - 1] == '\n' || h[len - 1] == ' '))
        len--;
    snprintf(out, cap, "%.*s", (int)len, h);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct hdrs *h = arg;
    header_value(p, size * n, "Location", h->location, h->cap);
    header_value(p, size * n, "X-Request-Id", h->request_id, sizeof(h->request_id));
    return size * n;
}

static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
    FILE *f = arg;
    const char *prefix;
    (void)c;

    if (type == CURLINFO_HEADER_OUT)
        prefix = "> ";
    else if (type == CURLINFO_HEADER_IN)
        prefix = "< ";
    else if (type == CURLINFO_DATA_OUT || type == CURLINFO_DATA_IN)
        prefix = type == CURLINFO_DATA_OUT ? "> " : "< ";
    else
        return 0;
    /* line by line, so the Authorization header can be redacted */
    for (size_t i = 0; i < size;) {
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
        size_t len = j - i;
        if (len > 0 && data[i + len - 1] == '\r')
            len--;
        if (len >= 14 && strncasecmp(data + i, "Authorization:", 14) == 0)
            fprintf(f, "%sAuthorization: [redacted]\n", prefix);
        else if (len > 0)
            fprintf(f, "%s%.*s\n", prefix, (int)len, data + i);
        i = j + 1;
    }
    return 0;
}

/* The authority's form posts and answers carry device codes and tokens: headers only. */
static int on_debug_secret(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
    if (type == CURLINFO_DATA_OUT || type == CURLINFO_DATA_IN) {
        fprintf(arg, "%s[%zu bytes of form or token data, not shown]\n",
                type == CURLINFO_DATA_OUT ? "> " : "< ", size);
        return 0;
    }
    return on_debug(c, type, data, size, arg);
}

static char last_request_id[128];

volatile sig_atomic_t cli_interrupted;

/* libcurl's progress callback: a Ctrl-C ends the transfer at once. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)arg, (void)dt, (void)dn, (void)ut, (void)un;
    return cli_interrupted ? 1 : 0;
}

static struct curl_slist *headers_for(const struct cli_ctx *ctx, const char *content_type,
                                      bool to_api, char **auth)
{
    struct curl_slist *h = NULL;

    h = curl_slist_append(h, "Accept: application/json, application/problem+json");
    *auth = NULL;
    if (to_api && ctx->key != NULL && ctx->key[0] != '\0') {
        *auth = xasprintf("Authorization: Bearer %s", ctx->key);
        h = curl_slist_append(h, *auth);
    }
    if (content_type != NULL) {
        char *ct = xasprintf("Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
        free(ct);
    }
    return h;
}

static void set_body(CURL *c, const char *method, const char *body)
{
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
}

static void set_debug(CURL *c, const struct cli_ctx *ctx, bool secret_bodies)
{
    if (!ctx->debug)
        return;
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, secret_bodies ? on_debug_secret : on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, ctx->err);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
}

/* One request to url: to the API (to_api: with the bearer key) or a form post to the authority,
 * without the key, whose bodies --debug does not print (they carry codes and tokens). */
static long request(struct cli_ctx *ctx, const char *method, const char *url, const char *body,
                    const char *content_type, bool to_api, struct cli_resp *r)
{
    CURL *c = curl_easy_init();
    struct buf b;
    struct hdrs hd = {r->location, sizeof(r->location), ""};
    char errbuf[CURL_ERROR_SIZE] = "";
    char *auth;
    struct curl_slist *h;
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (c == NULL) {
        fprintf(ctx->err, "vmloginctl: %s %s: cannot start libcurl\n", method, url);
        return 0;
    }
    buf_init(&b, CLI_MAX_BODY);
    h = headers_for(ctx, content_type, to_api, &auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vmloginctl/" VMLOGIND_VERSION);
    if (ctx->ca_bundle != NULL && ctx->ca_bundle[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, ctx->ca_bundle);
    set_body(c, method, body);
    set_debug(c, ctx, !to_api);
    rc = curl_easy_perform(c);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        /* interrupted: the caller says what it means */
    } else if (rc != CURLE_OK) {
        fprintf(ctx->err, "vmloginctl: %s %s: %s\n", method, url,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        r->body = buf_steal(&b);
        r->json = json_loads(r->body, 0, NULL);
        snprintf(last_request_id, sizeof(last_request_id), "%s", hd.request_id);
    }
    buf_cleanup(&b);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (auth != NULL) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    return r->status;
}

long cli_request(struct cli_ctx *ctx, const char *method, const char *path, const char *body,
                 struct cli_resp *r)
{
    char *url = xasprintf("%s%s", ctx->url, path);
    long st = request(ctx, method, url, body, body != NULL ? "application/json" : NULL, true, r);
    free(url);
    return st;
}

long cli_form_post(struct cli_ctx *ctx, const char *url, const char *form, struct cli_resp *r)
{
    return request(ctx, "POST", url, form, "application/x-www-form-urlencoded", false, r);
}

void cli_resp_cleanup(struct cli_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

int cli_exit_for_status(long status)
{
    if (status >= 200 && status < 300)
        return CLI_OK;
    if (status == 401 || status == 403)
        return CLI_AUTH;
    if (status == 404)
        return CLI_NOT_FOUND;
    return CLI_FAILED;
}

int cli_exit_for_operation(const char *status)
{
    if (status != NULL && strcmp(status, "Succeeded") == 0)
        return CLI_OK;
    if (status != NULL && strcmp(status, "PartiallySucceeded") == 0)
        return CLI_PARTIAL;
    return CLI_FAILED;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int cli_report_error(struct cli_ctx *ctx, const struct cli_resp *r)
{
    const json_t *p = r->json;
    size_t i;
    const json_t *e;

    if (r->status == 0)
        return CLI_FAILED;
    if (json_is_object(p) && json_object_get(p, "title") != NULL) {
        fprintf(ctx->err, "error: %s (HTTP %ld, %s)\n", jstr(p, "title"), r->status,
                jstr(p, "code"));
        if (jstr(p, "detail")[0])
            fprintf(ctx->err, "  %s\n", jstr(p, "detail"));
        json_array_foreach(json_object_get(p, "errors"), i, e)
        {
            const char *field = jstr(e, "field");
            fprintf(ctx->err, "  - %s: %s (%s)\n", field[0] ? field : "(request)",
                    jstr(e, "message"), jstr(e, "code"));
        }
    } else {
        fprintf(ctx->err, "error: HTTP %ld%s%.200s\n", r->status, r->body && r->body[0] ? ": " : "",
                r->body ? r->body : "");
    }
    if (r->status == 401 && (ctx->key == NULL || ctx->key[0] == '\0'))
        fprintf(ctx->err, "  no credential: vmloginctl login --api-key (or --entra), or set "
                          "VMLOGIND_API_KEY\n");
    if (json_is_object(p) && jstr(p, "instance")[0])
        fprintf(ctx->err, "  request id: %s\n", jstr(p, "instance"));
    else if (last_request_id[0])
        fprintf(ctx->err, "  request id: %s\n", last_request_id);
    return cli_exit_for_status(r->status);
}

static void on_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_sigint(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a sleep returns at once */
    sigaction(SIGINT, &sa, NULL);
}

bool cli_pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (!cli_interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return !cli_interrupted;
}
