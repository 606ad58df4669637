/* model_webhook.h: what a webhook subscription may be and how a message is signed. The event
 * types a subscription may ask for, the URL and host policy (webhook_allowed_hosts), the retry
 * schedule, Standard Webhooks 1.0 signatures (v1: HMAC-SHA256 over "id.timestamp.body"), and
 * which connected addresses are public. Pure but for the random secret; parses with libcurl's
 * URL parser so the host checked is the host libcurl connects to. */
#ifndef VMLOGIND_MODEL_WEBHOOK_H
#define VMLOGIND_MODEL_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vmlogind/violations.h"

#define MODEL_WEBHOOK_URL_MAX 2048
#define MODEL_WEBHOOK_DESCRIPTION_MAX 256
#define MODEL_WEBHOOK_EVENTS_MAX 32
#define MODEL_WEBHOOK_HOST_MAX 256
#define MODEL_WEBHOOK_SCHEDULE_MAX 20
#define MODEL_WEBHOOK_SECRET_BYTES 24
#define MODEL_WEBHOOK_SECRET_PREFIX "whsec_"
#define MODEL_WEBHOOK_SIG_MAX 64 /* "v1," + base64 of 32 bytes, NUL included */
#define MODEL_WEBHOOK_TEST_TYPE "webhook.test"

/* The types a subscription may list ("*" stands for all of them). */
extern const char *const model_webhook_types[];
extern const size_t model_webhook_types_count;
bool model_webhook_type_known(const char *type);

struct model_webhook_request {
    char url[MODEL_WEBHOOK_URL_MAX + 1];
    char host[MODEL_WEBHOOK_HOST_MAX + 1]; /* lowercase, as libcurl will resolve it */
    char description[MODEL_WEBHOOK_DESCRIPTION_MAX + 1];
    json_t *events; /* a new array of distinct known types or ["*"] */
};
void model_webhook_request_cleanup(struct model_webhook_request *r);

/* {url, events[], description?} from an untrusted body, checked against allowed_hosts (the
 * webhook_allowed_hosts setting). False with every problem in vs; r is filled on success and
 * must be cleaned up either way. */
bool model_webhook_request_from_json(const json_t *body, const char *allowed_hosts,
                                     struct model_webhook_request *r, struct violations *vs);
/* The URL rules alone: https (http only to a loopback host listed in allowed_hosts), no user
 * or password, no fragment, a host allowed_hosts lists (exactly, any case) or, when it lists
 * "*", any host that is not a non-public address literal. host gets the host. */
bool model_webhook_url_check(const char *url, const char *allowed_hosts, char *host, size_t cap,
                             struct violations *vs);
/* Whether allowed_hosts (separated by spaces or commas) lists host itself (not "*"). */
bool model_webhook_host_listed(const char *allowed_hosts, const char *host);
/* Whether an address may be connected to without its host being listed: not loopback, private
 * (RFC 1918, fc00::/7), link-local, unspecified, CGNAT, multicast or IPv4-mapped such. */
bool model_webhook_addr_is_public(const struct sockaddr *sa, socklen_t len);

/* "5000,300000,..." (ms between attempts: the first retry waits the first) into out; false
 * when empty, longer than MODEL_WEBHOOK_SCHEDULE_MAX, or a value is not 1..172800000. */
bool model_webhook_schedule_parse(const char *s, int64_t *out, size_t *n);

/* A new secret: "whsec_" + base64 of MODEL_WEBHOOK_SECRET_BYTES random bytes (new string). */
char *model_webhook_secret_new(void);
/* "v1,<base64 HMAC-SHA256(key, msg_id.ts.body)>" where key is secret's base64 after "whsec_".
 * False when the secret is not of that form. */
bool model_webhook_sign(const char *secret, const char *msg_id, int64_t ts, const char *body,
                        size_t len, char out[MODEL_WEBHOOK_SIG_MAX]);

#endif
