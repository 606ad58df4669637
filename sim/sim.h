/* sim.h: azsim's internal contract: the in-memory tenant (structs and indices), the request
 * context handlers see, and the entry points of each sim_*.c file. azsim is a test double of
 * Azure (Entra, ARM Compute/Authorization, Graph, IMDS); nothing here is linked into vmlogind. */
#ifndef AZSIM_SIM_H
#define AZSIM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmlogind/uuid.h"

#define SIM_MAX_BODY (8u << 20)
#define SIM_MAX_SEGS 24
#define SIM_RECENT_MUTATIONS 256

/* ---- sim_map.c: string-keyed hash map (keys copied, lowercased by the caller) ---- */
struct sim_map {
    char **keys;
    void **vals;
    size_t cap;
    size_t len;
    size_t used; /* live + tombstones */
};
void sim_map_init(struct sim_map *m);
void sim_map_cleanup(struct sim_map *m);
void *sim_map_get(const struct sim_map *m, const char *key);
void sim_map_put(struct sim_map *m, const char *key, void *val);
void *sim_map_del(struct sim_map *m, const char *key);
/* Iteration: i from 0 while < cap; returns false for empty slots. */
bool sim_map_at(const struct sim_map *m, size_t i, const char **key, void **val);

/* A growable array of pointers. */
struct sim_vec {
    void **items;
    size_t len;
    size_t cap;
};
void sim_vec_push(struct sim_vec *v, void *p);
bool sim_vec_remove(struct sim_vec *v, const void *p); /* keeps order */
void sim_vec_cleanup(struct sim_vec *v);

/* Lowercased copy (ARM ids and Graph ids are case-insensitive). */
char *sim_lc(const char *s);
bool sim_ieq(const char *a, const char *b);
bool sim_iprefix(const char *s, const char *prefix);
/* a if not NULL, else b. */
const char *sim_or(const char *a, const char *b);
/* Parses prefix + a single-quoted OData/ARM literal ('' escapes a quote) at the start of s into
 * out; *rest gets what follows the closing quote. False if s does not have that shape. */
bool sim_parse_quoted(const char *s, const char *prefix, char *out, size_t cap, const char **rest);

/* ---- the tenant ---- */
enum sim_ext_state { EXT_CREATING, EXT_UPDATING, EXT_SUCCEEDED, EXT_FAILED, EXT_DELETING };

struct sim_ext {
    char *name;
    char *publisher;
    char *type;
    char *version;
    bool auto_upgrade;
    json_t *settings; /* may be NULL */
    char *force_update_tag;
    enum sim_ext_state state;
    char *fail_code;    /* ProvisioningState/failed/<n> suffix, e.g. "1007" */
    char *fail_message; /* handler message */
    bool fail_terminal; /* VMExtensionHandlerNonTransientError vs VMExtensionProvisioningError */
};

struct sim_op;

struct sim_vm {
    char *id; /* canonical */
    char *key;
    char *sub;
    char *rg;
    char *name;
    char *location;
    char *computer_name;
    char *os_type; /* Windows | Linux */
    char *os_name;
    char *os_version;
    char *img_publisher, *img_offer, *img_sku, *img_version;
    char *power; /* running | deallocated | stopped | ... */
    char vm_id[UUID_STR_LEN];
    bool sys_identity;
    char principal_id[UUID_STR_LEN];
    json_t *user_identities; /* {armId: {principalId, clientId}} */
    json_t *tags;
    json_t *facts; /* free-form, e.g. {"registrationEndpointUnreachable":true} */
    char *prov_state;
    int etag;
    struct sim_op *busy; /* running operation on this VM, or NULL */
    struct sim_vec exts; /* struct sim_ext * */
    int64_t created_ms;
};

enum sim_principal_kind { PR_USER, PR_GROUP, PR_SP, PR_DEVICE };

struct sim_principal {
    enum sim_principal_kind kind;
    char id[UUID_STR_LEN];
    char *display_name;
    char *upn;       /* users */
    char *user_type; /* Member | Guest */
    bool enabled;
    char *app_id;           /* service principals */
    char *sp_type;          /* Application | ManagedIdentity */
    json_t *spns;           /* servicePrincipalNames */
    char *device_id;        /* devices */
    char *os, *os_version;  /* devices */
    char *trust_type;       /* devices */
    struct sim_vec members; /* groups: struct sim_principal * */
    struct sim_vec member_of;
    bool soft_deleted;
    int64_t created_ms; /* 0 for scenario objects: replicated long ago */
    int64_t deleted_ms;
};

struct sim_app {
    char *app_id;
    char *display_name;
    char *secret;
    struct sim_vec certs;  /* X509 * */
    json_t *federated;     /* [{issuer, subject, audiences[]}] */
    json_t *graph_roles;   /* Graph application permissions consented ("Directory.Read.All") */
    json_t *spa_redirects; /* the application's spa.redirectUris (auth code + PKCE, CORS) */
    char sp_id[UUID_STR_LEN];
};

struct sim_scope {
    char *scope; /* canonical case as first seen */
    char *scope_lc;
    struct sim_vec ras;
};

struct sim_ra {
    char name[UUID_STR_LEN];
    char role[UUID_STR_LEN];
    char principal[UUID_STR_LEN];
    struct sim_scope *sc;
    const char *ptype; /* interned */
    char *description;
    int64_t created_ms;
    char *created_by;
};

struct sim_sub {
    char *id;
    char *display_name;
    json_t *rgs; /* {lcname: {name, location}} */
    struct sim_vec vms;
};

enum sim_op_kind { OP_IDENTITY, OP_EXT_PUT, OP_EXT_DELETE, OP_RUN_COMMAND };

struct sim_op {
    char id[UUID_STR_LEN];
    enum sim_op_kind kind;
    char *sub;
    char *location;
    char *vm_key;
    char *ext_name;
    int64_t start_ms;
    int64_t end_ms;
    bool settled;
    char status[16]; /* InProgress Succeeded Failed Canceled */
    char *err_code;
    char *err_message;
    char *resource_url; /* absolute URL of the target, for Location results */
    char *output;       /* OP_RUN_COMMAND: the script's stdout */
};

struct sim_bucket {
    double tokens;
    int64_t last_ms;
};

struct sim_limits {
    double burst[3];
    double rate[3]; /* per second: reads, writes, deletes */
    double graph_burst, graph_rate;
    int graph_omit_retry_after_every; /* every Nth Graph 429 has no Retry-After (0: none) */
    double compute[8];                /* Compute policy limits (sim_throttle.c), 0 = off */
};

struct sim_state {
    pthread_mutex_t mu;
    char *scenario_path;
    char tenant[UUID_STR_LEN];
    char *tenant_domain;
    int page_size;
    double time_scale;
    int64_t replication_delay_ms;
    char *imds_vm; /* lowercased VM id the IMDS endpoints speak for; NULL = first with identity */

    struct sim_vec subs;
    struct sim_map sub_by_id;
    struct sim_map vm_by_key;
    struct sim_vec principals;
    struct sim_map pr_by_id;
    struct sim_map user_by_upn;
    struct sim_map sp_by_appid;
    struct sim_vec apps;
    struct sim_map app_by_id;
    struct sim_vec ras; /* insertion order */
    struct sim_map ra_by_name;
    struct sim_map ra_by_scope;     /* scope_lc -> struct sim_scope */
    struct sim_map ra_by_principal; /* principal -> struct sim_vec of ra */
    struct sim_map ops;
    struct sim_map jti_seen; /* jti -> expiry (boxed int64) */
    struct sim_map interned; /* principal types */

    /* keys */
    EVP_PKEY *sign_key;
    X509 *sign_cert;
    char kid[64];

    /* throttling, faults, stats */
    struct sim_limits limits;
    struct sim_map buckets;   /* "sub|kind" -> struct sim_bucket */
    struct sim_map throttled; /* "client|sub|kind" -> int64 until_ms (boxed) */
    json_t *faults;
    json_t *stats_requests; /* op -> count */
    int64_t stats_429;
    int64_t stats_violations;
    json_t *stats_violations_by_client;
    json_t *stats_violations_by_bucket;
    json_t *mutations; /* recent mutating ARM requests */
};

extern struct sim_state S;

/* ---- sim_state.c ---- */
/* Loads a scenario file into S (which must be zeroed or reset). On error prints
 * "FILE: $.path: reason" into err and returns false. */
bool sim_state_load(const char *path, char *err, size_t cap);
void sim_state_clear(void);
struct sim_sub *sim_sub_get(const char *id);
struct sim_vm *sim_vm_get(const char *sub, const char *rg, const char *name);
struct sim_vm *sim_vm_get_by_id(const char *id);
struct sim_principal *sim_principal_get(const char *id); /* live only */
struct sim_principal *sim_principal_any(const char *id); /* live or soft-deleted */
struct sim_app *sim_app_get(const char *app_id);
/* Adds objects from scenario-shaped JSON; path is for messages. */
bool sim_state_add_vm(const json_t *j, const char *path, char *err, size_t cap);
bool sim_state_add_principal(const json_t *j, enum sim_principal_kind kind, int64_t created_ms,
                             const char *path, char *err, size_t cap);
bool sim_state_add_app(const json_t *j, const char *path, char *err, size_t cap);
void sim_state_link_groups(void);
void sim_vm_remove(struct sim_vm *vm);
void sim_principal_remove(struct sim_principal *p, bool soft);
struct sim_principal *sim_principal_new_sp(const char *id, const char *app_id, const char *name,
                                           const char *type);
/* The device object a VM's Microsoft Entra join leaves in the directory (displayName = its
 * hostname, deviceId derived from the VM), made when AADLoginForWindows succeeds unless the VM
 * already has a live one. */
void sim_device_join(const struct sim_vm *vm);
/* The deviceId a VM joins with (stable per VM): out holds UUID_STR_LEN. */
void sim_vm_device_id(const struct sim_vm *vm, char *out);
struct sim_ext *sim_vm_ext_get(struct sim_vm *vm, const char *name);
void sim_ext_free(struct sim_ext *e);
/* Role assignments index. */
struct sim_ra *sim_ra_add(const char *name, const char *scope, const char *role,
                          const char *principal, const char *ptype, int64_t created_ms);
void sim_ra_remove(struct sim_ra *ra);
/* Transitive groups of a principal (ids into out, no duplicates). */
void sim_principal_groups(const struct sim_principal *p, struct sim_vec *out);
int sim_os_build(const char *os_version);
const char *sim_intern(const char *s);
json_t *sim_state_summary(void);

/* ---- sim_http.c: request context and replies ---- */
struct sim_req {
    void *conn;
    const char *method;
    const char *url; /* path, decoded */
    char *path_lc;
    char *segs[SIM_MAX_SEGS]; /* decoded, original case */
    int nseg;
    char *body;
    size_t body_len;
    char base[300]; /* "https://host:port" from the Host header */
    int status;
    char *resp; /* owned body text */
    const char *content_type;
    char *hdr_names[16];
    char *hdr_vals[16];
    int nhdr;
    bool reset;
    const char *op;  /* operation name for stats/faults */
    char client[64]; /* oid of the bearer, for throttling */
    char appid[64];  /* appid of the bearer ("" for a user) */
    char roles[512]; /* the bearer's roles claim, each followed by ',' */
    char request_id[UUID_STR_LEN];
};

const char *sim_query(struct sim_req *r, const char *name);
const char *sim_header(struct sim_req *r, const char *name);
void sim_reply_json(struct sim_req *r, int status, json_t *body); /* steals body; NULL = none */
void sim_reply_header(struct sim_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
json_t *sim_body_json(struct sim_req *r); /* parsed body (new ref) or NULL */
/* ARM error {"error":{"code","message"}}. */
void sim_arm_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* sim_runcmd.c: ARM Run Command answered from scenario facts. */
void sim_runcmd_post(struct sim_req *r);
json_t *sim_runcmd_result(const struct sim_op *op);
/* sim_signin.c: Conditional Access policies and the sign-in log, from scenario facts. */
bool sim_signin_load(const json_t *policies, const json_t *log, char *err, size_t cap);
void sim_signin_clear(void);
void sim_signin_policies(struct sim_req *r);
void sim_signin_list(struct sim_req *r);
void sim_graph_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool sim_seg_is(const struct sim_req *r, int i, const char *lit);
/* Percent-encodes s for a query value. Caller frees. */
char *sim_urlenc(const char *s);
/* "https://host" + fmt: an absolute URL on azsim's own host. */
char *sim_url(const struct sim_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int sim_http_start(const char *addr, int port, const char *cert_pem, const char *key_pem,
                   int threads);
void sim_http_stop(void);

/* ---- routing and areas ---- */
typedef void (*sim_handler)(struct sim_req *r);
enum sim_area { AREA_NONE, AREA_ENTRA, AREA_IMDS, AREA_ARM, AREA_GRAPH, AREA_CONTROL };
struct sim_route {
    sim_handler fn;
    const char *op;
    enum sim_area area;
    int tkind;       /* throttle kind 0 read 1 write 2 delete */
    const char *sub; /* segment for the throttle bucket, NULL = tenant */
};
/* Fills an ARM route; returns true (for `return sim_arm_route(...)`). */
bool sim_arm_route(struct sim_route *rt, sim_handler fn, const char *op, int tkind,
                   const char *sub);
bool sim_entra_route(struct sim_req *r, struct sim_route *rt);
bool sim_compute_route(struct sim_req *r, struct sim_route *rt);
bool sim_authz_route(struct sim_req *r, struct sim_route *rt);
bool sim_graph_route(struct sim_req *r, struct sim_route *rt);
bool sim_control_route(struct sim_req *r, struct sim_route *rt);

/* ---- sim_entra.c: tokens ---- */
bool sim_keys_init(void);
/* Mints a token signed with azsim's key. claims is stolen; kid NULL = azsim's kid. */
char *sim_token_sign(json_t *claims, const char *kid);
json_t *sim_token_app_claims(const char *base, const char *aud, const char *appid, const char *oid,
                             int64_t lifetime_s);
/* Checks the bearer for ARM (arm=true) or Graph; writes the error reply and returns false. */
bool sim_bearer_check(struct sim_req *r, bool arm);
void sim_jti_gc(int64_t now_ms);
/* Decoded value of key in an x-www-form-urlencoded body; NULL if absent. Caller frees. */
char *sim_form_get(const char *body, const char *key);
/* An AADSTS error answer (error, error_description with trace/correlation ids, error_codes). */
void sim_aadsts(struct sim_req *r, int status, const char *error, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* t names azsim's tenant (id or domain) or is "adfs". */
bool sim_tenant_ok(const char *t);

/* ---- sim_devicecode.c: the device authorization grant and refresh tokens ---- */
/* POST /{tenant}/oauth2/v2.0/devicecode */
void sim_devicecode_start(struct sim_req *r);
/* The token endpoint's device_code and refresh_token grants; false when grant is neither. */
bool sim_devicecode_token(struct sim_req *r, const char *grant);
/* POST /_sim/deviceCodes/approve|decline {"userCode", "upn" | "oid", "roles", "expiresIn"} */
void sim_devicecode_control(struct sim_req *r);
/* Forgets every code and refresh token (POST /_sim/reset). */
void sim_devicecode_reset(void);
/* Poll interval and lifetime of new codes, seconds (PUT /_sim/config). */
extern int sim_devicecode_interval_s, sim_devicecode_lifetime_s;

/* The token answer for a signed-in user (user: {"oid","upn","name","roles","expiresIn"}):
 * a delegated access token for the scope's resource, a refresh token with offline_access. */
void sim_user_tokens(struct sim_req *r, const char *client, const char *scope, const json_t *user);

/* ---- sim_authcode.c: the authorization code grant with PKCE (single-page apps) ---- */
/* GET|POST /{tenant}/oauth2/v2.0/authorize: the user picker page, then the redirect. */
void sim_authcode_authorize(struct sim_req *r);
/* The token endpoint's authorization_code grant; false when grant is another. */
bool sim_authcode_token(struct sim_req *r, const char *grant);
/* Forgets every code (POST /_sim/reset). */
void sim_authcode_reset(void);
void sim_reply_html(struct sim_req *r, int status, char *html);

/* ---- sim_lro.c ---- */
struct sim_op *sim_op_start(struct sim_req *r, enum sim_op_kind kind, struct sim_vm *vm,
                            const char *ext_name, int64_t duration_ms);
/* Applies finished operations of vm (all VMs when NULL) to the state. */
void sim_lro_settle(struct sim_vm *vm);
void sim_lro_headers(struct sim_req *r, struct sim_op *op);
void sim_lro_status(struct sim_req *r);
void sim_lro_result(struct sim_req *r);
int64_t sim_lro_duration(const char *kind);

/* ---- sim_arm_compute.c (renderers used by control too) ---- */
json_t *sim_vm_to_json(struct sim_vm *vm, bool instance_view);
json_t *sim_ext_to_json(struct sim_vm *vm, struct sim_ext *e, bool instance_view);
bool sim_api_version_ok(struct sim_req *r, const char *type);
/* Paging: page size in effect (configured, else 1000). */
int sim_page_size(void);
/* Replies {"value":[page], link_key: next} over items (stolen); extra is appended to the
 * nextLink query (already encoded, starting with '&'). size 0 = sim_page_size(). */
void sim_page_reply(struct sim_req *r, json_t *items, const char *link_key, const char *extra);
/* The same over a vector, rendering only the page's items. */
void sim_page_vec(struct sim_req *r, const struct sim_vec *v, json_t *(*render)(void *),
                  const char *link_key, const char *extra, size_t size);
/* sim_page_vec for list pages served often (VMs, role assignments): each item's compact text
 * is rendered once and kept, keyed by (item, variant), until the state generation moves; the
 * page is built by concatenation. cacheable(item) (may be NULL) says whether the item may be
 * kept now (it may settle the item first; a VM with an operation running is rendered fresh). */
void sim_page_vec_cached(struct sim_req *r, const struct sim_vec *v, json_t *(*render)(void *),
                         bool (*cacheable)(void *), int variant, const char *link_key,
                         const char *extra, size_t size);
/* The state generation: moved (under S.mu) by every request that may change state and by every
 * operation that settles, so text rendered at one generation is current while it holds. */
extern uint64_t sim_gen;
/* Moved (under S.mu) whenever the set of role-assignment scopes changes: a scope first used, or
 * all of them cleared. */
extern uint64_t sim_scopes_gen;
/* Replies with text (taken; compact JSON) as the body. */
void sim_reply_text(struct sim_req *r, int status, char *text);

/* ---- sim_arm_authz.c ---- */
json_t *sim_ra_to_json(const struct sim_ra *ra);
const char *sim_role_guid_by_name(const char *name);
bool sim_role_exists(const char *guid);
/* ARM authorization of the caller for a mutating route: the action the route needs, checked
 * against the caller's role assignments (and its groups') at or above the target scope. Writes
 * 403 AuthorizationFailed and returns false when none allows it. */
bool sim_authz_check(struct sim_req *r, const struct sim_route *rt);

/* ---- sim_graph.c ---- */
json_t *sim_principal_to_json(const struct sim_principal *p, const char *select);
/* Graph authorization: the app roles in the bearer against those the route's docs name.
 * Writes 403 Authorization_RequestDenied and returns false when none is held. */
bool sim_graph_roles_check(struct sim_req *r, const struct sim_route *rt);

/* ---- sim_throttle.c ---- */
void sim_throttle_defaults(void);
/* Takes a token; on empty bucket writes the 429 and returns false. */
bool sim_throttle_take(struct sim_req *r, const struct sim_route *rt);
json_t *sim_throttle_to_json(void);
bool sim_throttle_from_json(const json_t *j, char *err, size_t cap);

/* ---- sim_faults.c ---- */
/* Applies latency and failure injection for op. Returns false when the request has been
 * answered (error) or must be dropped (r->reset). Called without the state lock. */
bool sim_faults_apply(struct sim_req *r, const char *op);
bool sim_faults_set(const json_t *j, char *err, size_t cap);
/* The first per-scope fault (faults.scopes) of kind (NULL: any) at or above path that applies
 * to op, or NULL. */
const json_t *sim_scope_fault(const char *path, const char *op, const char *kind);
/* Answers a request hit by a per-scope policy deny, lock or role-assignment limit (returns
 * false); true when none applies. */
bool sim_scope_faults_check(struct sim_req *r, const struct sim_route *rt);
void sim_stats_count(const char *op);
void sim_stats_mutation(struct sim_req *r);

#endif
