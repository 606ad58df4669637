/* model_webhook.c: webhook subscription rules and Standard Webhooks signatures. The URL is
 * parsed with libcurl's own parser (curl_url), the one the delivery worker's transfer uses, so
 * a URL cannot mean one host here and another when sent. No I/O but the random secret. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/model_webhook.h"
#include "vmlogind/xalloc.h"

const char *const model_webhook_types[] = {
    "activation.requested", "activation.approved",    "activation.denied", "activation.expired",
    "activation.activated", "activation.deactivated", "grant.active",      "grant.failed",
    "grant.expired",        "grant.revoked",          "login.enabled",     "login.failed",
    "drift.detected",       "drift.repaired",         "sweep.completed",   "sync.failed",
    "permissions.missing",
};
const size_t model_webhook_types_count =
    sizeof(model_webhook_types) / sizeof(model_webhook_types[0]);

bool model_webhook_type_known(const char *type)
{
    for (size_t i = 0; type != NULL && i < model_webhook_types_count; i++)
        if (strcmp(type, model_webhook_types[i]) == 0)
            return true;
    return false;
}

void model_webhook_request_cleanup(struct model_webhook_request *r)
{
    if (r == NULL)
        return;
    json_decref(r->events);
    r->events = NULL;
}

/* ---- hosts and addresses --------------------------------------------------------------------- */

bool model_webhook_host_listed(const char *allowed, const char *host)
{
    size_t hn = host != NULL ? strlen(host) : 0;
    const char *p = allowed;

    if (hn == 0 || p == NULL)
        return false;
    while (*p != '\0') {
        size_t n;
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        n = strcspn(p, " ,\t");
        if (n == hn && strncasecmp(p, host, n) == 0)
            return true;
        p += n;
    }
    return false;
}

static bool v4_is_public(const unsigned char a[4])
{
    if (a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224)
        return false; /* this network, RFC 1918, loopback, multicast and reserved */
    if (a[0] == 169 && a[1] == 254)
        return false; /* link-local (and the instance metadata service) */
    if (a[0] == 172 && (a[1] & 0xf0) == 16)
        return false;
    if (a[0] == 192 && a[1] == 168)
        return false;
    if (a[0] == 100 && (a[1] & 0xc0) == 64)
        return false; /* carrier-grade NAT */
    if (a[0] == 192 && a[1] == 0 && a[2] == 0)
        return false; /* IETF protocol assignments */
    if (a[0] == 198 && (a[1] & 0xfe) == 18)
        return false; /* benchmarking */
    return true;
}

static bool v6_is_public(const unsigned char a[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char zero[15] = {0};

    if (memcmp(a, mapped, 12) == 0)
        return v4_is_public(a + 12);
    if (memcmp(a, zero, 15) == 0)
        return false; /* :: and ::1 */
    if ((a[0] & 0xfe) == 0xfc)
        return false; /* unique local */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return false; /* link-local */
    if (a[0] == 0xff)
        return false; /* multicast */
    if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b)
        return false; /* NAT64 can reach any IPv4 address */
    return true;
}

bool model_webhook_addr_is_public(const struct sockaddr *sa, socklen_t len)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return v4_is_public((const unsigned char *)&in->sin_addr);
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return v6_is_public((const unsigned char *)&in6->sin6_addr);
    }
    return false;
}

/* A literal address that is not public ("[::1]" with its brackets too); false for names. */
static bool literal_not_public(const char *host)
{
    unsigned char a[16];
    char h[MODEL_WEBHOOK_HOST_MAX + 1];
    size_t n = strlen(host);

    if (inet_pton(AF_INET, host, a) == 1)
        return !v4_is_public(a);
    if (n > 2 && n < sizeof(h) + 2 && host[0] == '[' && host[n - 1] == ']') {
        memcpy(h, host + 1, n - 2);
        h[n - 2] = '\0';
        return inet_pton(AF_INET6, h, a) != 1 || !v6_is_public(a);
    }
    return false;
}

static bool is_loopback_host(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

/* ---- the request ------------------------------------------------------------------------------
 */

struct url_parts {
    char *scheme, *host, *user, *password, *fragment;
};

static void parts_free(struct url_parts *p)
{
    curl_free(p->scheme);
    curl_free(p->host);
    curl_free(p->user);
    curl_free(p->password);
    curl_free(p->fragment);
}

static bool url_parse(const char *url, struct url_parts *p)
{
    CURLU *u = curl_url();
    bool ok;

    *p = (struct url_parts){0};
    if (u == NULL)
        return false;
    ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &p->host, 0) == CURLUE_OK;
    if (ok) {
        (void)curl_url_get(u, CURLUPART_USER, &p->user, 0);
        (void)curl_url_get(u, CURLUPART_PASSWORD, &p->password, 0);
        (void)curl_url_get(u, CURLUPART_FRAGMENT, &p->fragment, 0);
    }
    curl_url_cleanup(u);
    return ok;
}

/* The host against the allow list; false after adding the violation. */
static bool host_check(const char *host, const char *scheme, const char *allowed,
                       struct violations *vs)
{
    bool listed = model_webhook_host_listed(allowed, host);

    if (!listed && !model_webhook_host_listed(allowed, "*")) {
        violations_add(vs, "url", "host_not_allowed",
                       "the host %.200s is not in webhook_allowed_hosts", host);
        return false;
    }
    if (!listed && literal_not_public(host)) {
        violations_add(vs, "url", "host_not_allowed",
                       "%.200s is not a public address and is not in webhook_allowed_hosts", host);
        return false;
    }
    if (strcasecmp(scheme, "https") != 0 && !(listed && is_loopback_host(host))) {
        violations_add(vs, "url", "https_required",
                       "the URL must be https (http only to a loopback host that "
                       "webhook_allowed_hosts lists)");
        return false;
    }
    return true;
}

bool model_webhook_url_check(const char *url, const char *allowed, char *host, size_t cap,
                             struct violations *vs)
{
    struct url_parts p;
    size_t n = url != NULL ? strlen(url) : 0;
    bool ok = false;

    if (n == 0 || n > MODEL_WEBHOOK_URL_MAX || strchr(url, ' ') != NULL) {
        violations_add(vs, "url", "invalid_url", "an absolute https URL of at most %d bytes",
                       MODEL_WEBHOOK_URL_MAX);
        return false;
    }
    if (!url_parse(url, &p)) {
        violations_add(vs, "url", "invalid_url", "not an absolute http(s) URL");
        parts_free(&p);
        return false;
    }
    if (strcasecmp(p.scheme, "https") != 0 && strcasecmp(p.scheme, "http") != 0)
        violations_add(vs, "url", "https_required", "the URL must be https");
    else if (p.user != NULL || p.password != NULL)
        violations_add(vs, "url", "invalid_url", "the URL must not carry a user or password");
    else if (p.fragment != NULL)
        violations_add(vs, "url", "invalid_url", "the URL must not have a fragment");
    else if (strlen(p.host) >= cap || strlen(p.host) > MODEL_WEBHOOK_HOST_MAX)
        violations_add(vs, "url", "invalid_url", "the host is too long");
    else
        ok = host_check(p.host, p.scheme, allowed, vs);
    if (ok) {
        for (size_t i = 0; p.host[i] != '\0'; i++)
            host[i] = (char)tolower((unsigned char)p.host[i]);
        host[strlen(p.host)] = '\0';
    }
    parts_free(&p);
    return ok;
}

static bool events_check(const json_t *events, struct violations *vs, json_t **out)
{
    size_t i;
    const json_t *v;
    bool star = false, ok = true;

    if (!json_is_array(events) || json_array_size(events) == 0 ||
        json_array_size(events) > MODEL_WEBHOOK_EVENTS_MAX) {
        violations_add(vs, "events", "wrong_type", "a list of 1 to %d event types, or [\"*\"]",
                       MODEL_WEBHOOK_EVENTS_MAX);
        return false;
    }
    *out = json_array();
    json_array_foreach(events, i, v)
    {
        const char *t = json_string_value(v);
        char path[32];
        snprintf(path, sizeof(path), "events/%zu", i);
        if (t != NULL && strcmp(t, "*") == 0) {
            star = true;
        } else if (!model_webhook_type_known(t)) {
            violations_add(vs, path, "unknown_event_type", "not a webhook event type");
            ok = false;
        } else {
            size_t j;
            const json_t *w;
            bool dup = false;
            json_array_foreach(*out, j, w)
            {
                dup = dup || strcmp(json_string_value(w), t) == 0;
            }
            if (!dup)
                json_array_append_new(*out, json_string(t));
        }
    }
    if (ok && star) {
        json_array_clear(*out);
        json_array_append_new(*out, json_string("*"));
    }
    return ok;
}

bool model_webhook_request_from_json(const json_t *body, const char *allowed,
                                     struct model_webhook_request *r, struct violations *vs)
{
    const char *k;
    const json_t *v;
    const json_t *url = json_object_get(body, "url");
    const json_t *desc = json_object_get(body, "description");
    bool ok = true;

    *r = (struct model_webhook_request){0};
    if (!json_is_object(body)) {
        violations_add(vs, "", "wrong_type", "the body must be a JSON object");
        return false;
    }
    json_object_foreach((json_t *)body, k, v)
    {
        if (strcmp(k, "url") != 0 && strcmp(k, "events") != 0 && strcmp(k, "description") != 0) {
            violations_add(vs, k, "unknown_field", "unknown field");
            ok = false;
        }
    }
    if (!json_is_string(url)) {
        violations_add(vs, "url", url == NULL ? "required" : "wrong_type",
                       "url is required: an https URL");
        ok = false;
    } else if (model_webhook_url_check(json_string_value(url), allowed, r->host, sizeof(r->host),
                                       vs)) {
        snprintf(r->url, sizeof(r->url), "%s", json_string_value(url));
    } else {
        ok = false;
    }
    if (desc != NULL && (!json_is_string(desc) ||
                         strlen(json_string_value(desc)) > MODEL_WEBHOOK_DESCRIPTION_MAX)) {
        violations_add(vs, "description", "wrong_type", "a string of at most %d bytes",
                       MODEL_WEBHOOK_DESCRIPTION_MAX);
        ok = false;
    } else if (desc != NULL) {
        snprintf(r->description, sizeof(r->description), "%s", json_string_value(desc));
    }
    if (json_object_get(body, "events") == NULL) {
        violations_add(vs, "events", "required", "events is required: types, or [\"*\"]");
        ok = false;
    } else if (!events_check(json_object_get(body, "events"), vs, &r->events)) {
        ok = false;
    }
    return ok;
}

/* ---- schedule, secret, signature ------------------------------------------------------------- */

bool model_webhook_schedule_parse(const char *s, int64_t *out, size_t *n)
{
    const char *p = s;

    *n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (;;) {
        int64_t v = 0;
        size_t digits = 0;
        while (*p == ' ')
            p++;
        while (*p >= '0' && *p <= '9' && digits < 10) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        while (*p == ' ')
            p++;
        if (digits == 0 || v < 1 || v > 172800000 || *n >= MODEL_WEBHOOK_SCHEDULE_MAX)
            return false;
        out[(*n)++] = v;
        if (*p == '\0')
            return true;
        if (*p++ != ',')
            return false;
    }
}

char *model_webhook_secret_new(void)
{
    unsigned char raw[MODEL_WEBHOOK_SECRET_BYTES];
    char *b64, *out;
    size_t n;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        fatalx("random_failed", "%s", "RAND_bytes failed");
    b64 = b64_encode(raw, sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    n = strlen(MODEL_WEBHOOK_SECRET_PREFIX) + strlen(b64) + 1;
    out = xmalloc(n);
    snprintf(out, n, "%s%s", MODEL_WEBHOOK_SECRET_PREFIX, b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return out;
}

bool model_webhook_sign(const char *secret, const char *msg_id, int64_t ts, const char *body,
                        size_t len, char out[MODEL_WEBHOOK_SIG_MAX])
{
    size_t plen = strlen(MODEL_WEBHOOK_SECRET_PREFIX), klen = 0;
    unsigned char *key, mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char head[160];
    char *b64, *msg;
    int hn;
    bool ok;

    if (secret == NULL || strncmp(secret, MODEL_WEBHOOK_SECRET_PREFIX, plen) != 0)
        return false;
    key = b64_decode(secret + plen, strlen(secret + plen), &klen);
    hn = snprintf(head, sizeof(head), "%s.%lld.", msg_id, (long long)ts);
    if (key == NULL || klen == 0 || hn < 0 || (size_t)hn >= sizeof(head)) {
        free(key);
        return false;
    }
    msg = xmalloc((size_t)hn + len + 1);
    memcpy(msg, head, (size_t)hn);
    memcpy(msg + hn, body, len);
    ok = HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, (size_t)hn + len, mac,
              &maclen) != NULL;
    free(msg);
    OPENSSL_cleanse(key, klen);
    free(key);
    if (!ok)
        return false;
    b64 = b64_encode(mac, maclen);
    snprintf(out, MODEL_WEBHOOK_SIG_MAX, "v1,%s", b64);
    free(b64);
    return true;
}
