/* azure_internal.h: what the files of server/azure/ share among themselves and with their unit
 * tests: the client struct, retry arithmetic, throttle buckets, metrics recording, credentials,
 * JSON helpers and paging. Nothing outside server/azure/ (and its tests) includes it. */
#ifndef VMLOGIND_AZURE_INTERNAL_H
#define VMLOGIND_AZURE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmlogind/azure.h"

/* ---- retry arithmetic (azure_retry.c) ---------------------------------------------------- */

/* Retry-After as milliseconds: integer or decimal seconds ("10", "2.128") or an HTTP date;
 * -1 if absent or malformed. now_ms is the wall clock used for a date. */
int64_t azure_retry_after_parse(const char *value, int64_t now_ms);
/* Backoff before attempt n (n >= 1 is the first retry): d = min(max, base * 2^(n-1)), result in
 * [d/2, d] picked with rnd ("equal jitter"). */
int64_t azure_retry_backoff_ms(long base_ms, long max_ms, int n, uint32_t rnd);
bool azure_retry_status_retriable(long status);
bool azure_retry_method_idempotent(const char *method);

/* ---- throttle (azure_throttle.c) --------------------------------------------------------- */

enum azure_op_kind { AZURE_OP_READ = 0, AZURE_OP_WRITE, AZURE_OP_DELETE, AZURE_OP_KINDS };

struct azure_throttle_limits {
    double capacity[AZURE_OP_KINDS];
    double rate[AZURE_OP_KINDS]; /* tokens per second */
    long margin_ms;
};

struct azure_throttle;

/* What came back for a request a bucket let out. */
struct azure_throttle_answer {
    long status;                    /* HTTP status; 0: no answer (transport failure) */
    long remaining[AZURE_OP_KINDS]; /* x-ms-ratelimit-remaining-*; -1: not sent */
    int64_t blocked_until_ms;       /* after a 429: monotonic end of its Retry-After */
};

struct azure_throttle *azure_throttle_new(const struct azure_throttle_limits *lim);
void azure_throttle_free(struct azure_throttle *t);
/* Lets a request out of (key, kind) if the bucket allows it now: returns 0 and sets *ticket
 * (may be NULL), and the request counts as in flight until azure_throttle_done. Otherwise
 * returns how many ms to wait at most before trying again. key is case-insensitive. A bucket
 * lets nothing out while shut after a 429; then one probe, alone; and while requests are in
 * flight, only those the server's last remaining count has room for. */
int64_t azure_throttle_try(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                           int64_t now_ms, uint64_t *ticket);
/* Waits for azure_throttle_try to let the request out (woken early when an answer comes);
 * ERR_CLOUD_THROTTLED if that cannot happen before deadline_ms. */
enum err azure_throttle_acquire(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                                int64_t deadline_ms, uint64_t *ticket) VL_MUST_CHECK;
/* For a write that does not unblock anything long (a role assignment PUT): never waits, and
 * returns 0 (let out, *ticket set) or the ms to wait before trying again. Besides what
 * azure_throttle_try asks, it lets nothing out while a write that does not yield waits for
 * the bucket or was let out in the last THROTTLE_YIELD_HOLD_MS: an identity PATCH is followed
 * by an extension PUT once its LRO ends, and that PUT must find tokens left, or the
 * extension's long install starts late. Yielding ends once yielding writes have been held back
 * for THROTTLE_YIELD_MAX_MS without one let out, so a long rollout delays them, bounded. */
int64_t azure_throttle_try_yielding(struct azure_throttle *t, const char *key,
                                    enum azure_op_kind kind, int64_t now_ms, uint64_t *ticket);
/* How long a yielding write would stand back now (0: it would ask for a token), without
 * taking one: a caller with work to do before its write (look-ups, an audit row) waits first. */
int64_t azure_throttle_yield_wait(struct azure_throttle *t, const char *key,
                                  enum azure_op_kind kind, int64_t now_ms);
/* Writes that do not yield are about to come to key's bucket (a rollout expanding): until
 * until_ms (monotonic) yielding writes leave the whole bucket to them, as if they waited. */
void azure_throttle_expect(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                           int64_t until_ms);
/* The answer to the request with ticket (a NULL a: none): a 429 shuts the bucket until
 * a->blocked_until_ms (+ margin) and makes the next request a probe; any other answer ends
 * probing; the remaining counts cap the buckets. */
void azure_throttle_done(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                         uint64_t ticket, const struct azure_throttle_answer *a);
/* The server said remaining calls in this bucket: the bucket never holds more than that. */
void azure_throttle_observe(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                            long remaining, int64_t now_ms);
/* After a 429: no token until until_ms (+ margin), then one probe. */
void azure_throttle_block(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                          int64_t until_ms);
/* Current tokens (tests). */
double azure_throttle_tokens(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                             int64_t now_ms);
enum azure_op_kind azure_throttle_kind(const char *method);

/* ---- metrics (azure_metrics.c) ----------------------------------------------------------- */

void azure_metrics_record(const char *op, int attempts, int throttled, bool error,
                          int64_t latency_ms);

/* ---- credentials (azure_cred.c) ---------------------------------------------------------- */

struct azure_cred;

enum err azure_cred_new(struct azure_client *c, const struct azure_config *cfg,
                        struct azure_cred **out, struct err_detail *d) VL_MUST_CHECK;
void azure_cred_free(struct azure_cred *cr);
/* Builds the client-assertion JWT for a certificate credential (tests verify it). */
char *azure_cred_client_assertion(struct azure_cred *cr, const char *aud);

/* ---- the client (azure_client.c) --------------------------------------------------------- */

struct azure_client {
    struct azure_cloud cloud;
    char compute_api[32];
    char authz_api[32];
    char *ca_bundle;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_response_bytes;
    int retry_max_attempts;
    long retry_max_total_ms;
    long retry_backoff_base_ms;
    long retry_backoff_max_ms;
    long token_refresh_before_ms;
    long token_failure_cache_ms;
    long lro_poll_default_ms;
    long lro_poll_min_ms;
    long lro_poll_max_ms;
    long lro_timeout_ms;
    struct azure_throttle *arm_throttle;
    struct azure_throttle *graph_throttle;
    struct azure_cred *cred;
    void *curl_share;
    pthread_mutex_t share_locks[8];
};

/* ---- JSON helpers (azure_json.c) --------------------------------------------------------- */

/* Parses a response body (NULL on bad JSON). */
json_t *azure_json_load(const struct buf *b);
/* New copy of a string member (NULL when absent or not a string). */
char *azure_json_dup(const json_t *o, const char *key);
/* Borrowed string member or NULL. */
const char *azure_json_str(const json_t *o, const char *key);
/* Borrowed string at a dotted path ("properties.osProfile.computerName"), or NULL. */
const char *azure_json_path_str(const json_t *o, const char *path);
char *azure_json_path_dup(const json_t *o, const char *path);
const json_t *azure_json_path(const json_t *o, const char *path);
/* Copies s into dst (cap bytes), truncating. */
void azure_strlcpy(char *dst, const char *s, size_t cap);
/* Appends s as a JSON string literal (quoted, escaped). */
enum err azure_json_append_str(struct buf *out, const char *s) VL_MUST_CHECK;

/* ---- paging (azure_page.c) --------------------------------------------------------------- */

/* Called with each page's "value" array (possibly empty). Return ERR_OK to continue. */
typedef enum err (*azure_page_fn)(const json_t *value, void *arg);

/* GETs rq->url, then follows nextLink / @odata.nextLink verbatim until absent. A repeated
 * nextLink is an error (ERR_CLOUD, code "NextLinkLoop"). */
enum err azure_page_each(struct azure_client *c, const struct azure_request *rq, azure_page_fn fn,
                         void *arg, struct azure_error *ae) VL_MUST_CHECK;

/* Small GET/send helpers for the typed calls: sends rq and parses the JSON body into *out. */
enum err azure_send_json(struct azure_client *c, const struct azure_request *rq, json_t **out,
                         struct azure_error *ae) VL_MUST_CHECK;

/* ---- JSON scanning (azure_scan.c) ------------------------------------------------------- */

#define AZURE_SCAN_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

/* A cursor over JSON text that accepts what json_loadb(text, 0) accepts. Callers walk it:
 * azure_scan_object() then azure_scan_member() until false (key in key/key_len, the cursor at
 * its value, which the caller must read or skip), likewise array/element. Once bad, every
 * call reports the end; azure_scan_done() says whether the whole text was one good value. */
struct azure_scan {
    const char *p;
    const char *end;
    bool bad;
    int depth;
    char *key; /* the last member name, decoded, NUL-terminated */
    size_t key_len;
    size_t key_cap;
    char stack[AZURE_SCAN_MAX_DEPTH]; /* '{' or '[' per open container */
    bool fresh[AZURE_SCAN_MAX_DEPTH]; /* no item read yet in that container */
};

void azure_scan_init(struct azure_scan *s, const char *text, size_t len);
void azure_scan_cleanup(struct azure_scan *s);
/* The next value's kind: '{', '[', '"', '0' (number), 't', 'f', 'n'; 0 at the end or bad. */
int azure_scan_peek(struct azure_scan *s);
/* Skips (and checks) one value. */
bool azure_scan_skip(struct azure_scan *s);
/* Enters an object / array; a value of another kind is skipped and false returned. */
bool azure_scan_object(struct azure_scan *s);
bool azure_scan_array(struct azure_scan *s);
/* The next member / element (true) or the container's end (consumed, false). */
bool azure_scan_member(struct azure_scan *s);
bool azure_scan_element(struct azure_scan *s);
bool azure_scan_key_is(const struct azure_scan *s, const char *name);
/* A string value, decoded (owned); any other value is skipped and NULL returned. */
char *azure_scan_str(struct azure_scan *s);
/* Consumes a value; true when it was the literal true. */
bool azure_scan_true(struct azure_scan *s);
/* Frees *field and puts value there: a repeated member replaces the earlier one. */
void azure_scan_take(char **field, char *value);
/* A string member read straight into a struct: its name and the field's offsetof. */
struct azure_scan_field {
    const char *name;
    size_t offset;
};
/* When the current member is one of fields (ended by a NULL name), takes its string value into
 * the char * at base + offset (azure_scan_take) and returns true; otherwise reads nothing. */
bool azure_scan_str_member(struct azure_scan *s, void *base, const struct azure_scan_field *fields);
/* Reads the rest of an object (already entered) keeping the string members named in fields. */
void azure_scan_str_object(struct azure_scan *s, void *base, const struct azure_scan_field *fields);
/* True when only whitespace is left and all of it was good JSON. */
bool azure_scan_done(struct azure_scan *s);

/* ---- typed pages (azure_typed.c) --------------------------------------------------------- */

/* Adapts a JSON page to an array of structs: parse each item, deliver, clean up. */
struct azure_typed_page {
    size_t size;                                  /* sizeof the struct */
    void (*parse)(const json_t *item, void *out); /* out is zeroed */
    /* the same from a scanner inside the item's object, reading it to its end; when set, list
     * pages are scanned rather than loaded into a tree */
    void (*scan)(struct azure_scan *s, void *out);
    /* pipelined: deliver is also called with no items when the page after a delivered one is
     * late (50 ms): the caller may commit what it holds open rather than wait holding it */
    bool idle;
    void (*cleanup)(void *item);
    enum err (*deliver)(const struct azure_typed_page *tp, const void *items, size_t n);
    void (*fn)(void); /* the caller's typed callback, cast back by deliver */
    void *arg;
};

/* An azure_page_fn: tp is a struct azure_typed_page. */
enum err azure_typed_page_cb(const json_t *value, void *tp);
/* Parses every item of a JSON array into a new array of structs (n may be 0). */
void *azure_typed_parse_array(const struct azure_typed_page *tp, const json_t *value, size_t *n);
void azure_typed_free_array(const struct azure_typed_page *tp, void *items, size_t n);
/* A new array of the strings of a JSON array (non-strings skipped). */
char **azure_strv_from_json(const json_t *arr, size_t *n);
void azure_strv_free(char **v, size_t n);

/* azure_page_each into tp, pipelined: a second thread fetches and parses the next page while
 * tp->deliver runs on the caller's thread for this one (deliver sees pages in order, alone).
 * The first error (the caller's or the fetch's) ends it; a fetch error is the result only when
 * every delivered page succeeded. */
enum err azure_page_each_typed(struct azure_client *c, const struct azure_request *rq,
                               const struct azure_typed_page *tp, struct azure_error *ae);
/* A page body (len bytes, HTTP status) scanned straight into tp->scan structs, no tree: *items
 * (free with azure_typed_free_array), *n, *next (owned, NULL on the last page). The verdicts
 * are azure_send_json's and the json_t path's: not JSON is ERR_CLOUD InvalidResponseBody
 * (InvalidCollection for a 204), JSON without a value array is InvalidCollection. */
enum err azure_page_scan(const struct azure_typed_page *tp, const char *body, size_t len,
                         long status, void **items, size_t *n, char **next,
                         struct azure_error *ae) VL_MUST_CHECK;

/* ---- parsers the typed calls share with their tests -------------------------------------- */

void azure_vm_parse(const json_t *o, void *out);
void azure_extension_parse(const json_t *o, void *out);
void azure_role_assignment_parse(const json_t *o, void *out);
void azure_vm_scan(struct azure_scan *s, void *out);
void azure_role_assignment_scan(struct azure_scan *s, void *out);
void azure_directory_object_parse(const json_t *o, void *out);
/* "atScope() and principalId eq '...'" etc. URL-encoded after "&$filter=" (empty: nothing). */
enum err azure_ra_filter_append(const void *filter, struct buf *out) VL_MUST_CHECK;
/* Appends a Graph/OData string literal: quotes doubled, then URL-encoded. */
enum err azure_odata_quote_append(struct buf *out, const char *s) VL_MUST_CHECK;
/* Builds an ARM URL for path ("/subscriptions/...") with the given api-version. */
enum err azure_arm_url(struct azure_client *c, const char *path, const char *api,
                       const char *query_tail, struct buf *out) VL_MUST_CHECK;
/* Sends and parses: GET url (ARM, bucket from the id's subscription) into *out (json). */
enum err azure_arm_get_json(struct azure_client *c, const char *url, const char *sub,
                            const char *op, json_t **out, struct azure_error *ae) VL_MUST_CHECK;

#endif
