/* api_etag.c: optimistic concurrency for the resources a caller can change (login settings
 * per scope, login policy, login grants). A resource's ETag is strong: a hash of its JSON
 * representation (compact, keys sorted), so it changes exactly when the representation does.
 * Writes evaluate If-Match and If-None-Match inside the write runner's transaction, which holds
 * the store's write lock from the read on: of two writes made with the same ETag, the second
 * sees the first's change and is refused 412. */
#include <stdlib.h>
#include <string.h>

#include "vmlogind/api.h"
#include "vmlogind/http_problem.h"
#include "vmlogind/jose.h"

#define ETAG_HEX 32 /* 128 bits of SHA-256 */

void api_etag_of(const json_t *repr, char out[API_ETAG_MAX])
{
    char *text = repr ? json_dumps(repr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char hex[65];

    sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
    free(text);
    out[0] = '"';
    memcpy(out + 1, hex, ETAG_HEX);
    out[ETAG_HEX + 1] = '"';
    out[ETAG_HEX + 2] = '\0';
}

void api_etag_set(struct http_request *req, const json_t *repr)
{
    char etag[API_ETAG_MAX];

    api_etag_of(repr, etag);
    http_add_header(req, "ETag", http_strdup(req, etag));
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One entity-tag at *p (RFC 9110 8.8.3: [W/] DQUOTE *etagc DQUOTE); advances *p past it. */
static bool entity_tag(const char **p, const char **opaque, size_t *len, bool *weak)
{
    const char *s = *p;

    *weak = strncmp(s, "W/", 2) == 0;
    if (*weak)
        s += 2;
    if (*s != '"')
        return false;
    *opaque = s;
    s++;
    while (*s != '"') {
        unsigned char c = (unsigned char)*s;
        if (c == '\0' || c < 0x21 || c == 0x7f)
            return false;
        s++;
    }
    s++;
    *len = (size_t)(s - *opaque);
    *p = s;
    return true;
}

bool api_etag_match(const char *header, const char *etag, bool exists, bool *matched)
{
    const char *p = skip_ows(header ? header : "");
    size_t n = 0;

    *matched = false;
    if (*p == '*') { /* any current representation */
        *matched = exists;
        return *skip_ows(p + 1) == '\0';
    }
    while (*p != '\0') {
        const char *opaque;
        size_t len;
        bool weak;

        if (n++ >= API_ETAG_LIST_MAX || !entity_tag(&p, &opaque, &len, &weak))
            return false;
        /* strong comparison: a weak tag never matches */
        if (!weak && etag != NULL && strlen(etag) == len && memcmp(etag, opaque, len) == 0)
            *matched = true;
        p = skip_ows(p);
        if (*p == ',')
            p = skip_ows(p + 1);
        else if (*p != '\0')
            return false;
    }
    return n > 0;
}

/* One header's condition: true when it holds; replies 400 or 412 and returns false if not. */
static bool condition(struct http_request *req, const char *name, const char *etag, bool exists,
                      bool want)
{
    const char *h = http_header(req, name);
    bool matched;
    struct violations vs;

    if (h == NULL)
        return true;
    violations_init(&vs);
    if (!api_etag_match(h, etag, exists, &matched)) {
        violations_add(&vs, name, "invalid_header", "%s is * or a list of quoted entity tags",
                       name);
        http_problem_reply(req, "invalid_precondition",
                           http_printf(req, "the %s header is malformed", name), &vs);
        return false;
    }
    if (matched == want)
        return true;
    violations_add(&vs, name, "precondition_failed", "%s does not hold", name);
    http_problem_reply(req, "precondition_failed",
                       http_printf(req,
                                   want ? "%s: the resource changed (or does not exist); read it "
                                          "again for its current ETag"
                                        : "%s: the resource exists or has that ETag",
                                   name),
                       &vs);
    return false;
}

bool api_etag_preconditions(struct http_request *req, const char *etag, bool exists)
{
    return condition(req, "If-Match", etag, exists, true) &&
           condition(req, "If-None-Match", etag, exists, false);
}

bool api_etag_preconditions_of(struct http_request *req, const json_t *repr, bool exists)
{
    char etag[API_ETAG_MAX];

    api_etag_of(repr, etag);
    return api_etag_preconditions(req, etag, exists);
}
