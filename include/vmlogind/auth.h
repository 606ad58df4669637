/* auth.h: who is calling and what they may do. Authenticates a bearer credential (an Entra
 * JWT checked against the tenant's JWKS, or an API key checked against its stored SHA-256),
 * holds the role ladder, scope limits, constrained delegation of login grants, per-caller
 * rate limits and API key management. It knows nothing of HTTP: api/api_auth.c turns its
 * errors into 401/403/429 replies. Never logs a token or a key. */
#ifndef VMLOGIND_AUTH_H
#define VMLOGIND_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "vmlogind/buf.h"
#include "vmlogind/config.h"
#include "vmlogind/err.h"

struct store;

/* ---- callers, roles, scopes, delegation (auth_perm.c) ----------------------------------- */

/* reader < operator < administrator. */
enum auth_role {
    AUTH_ROLE_NONE = 0, /* authenticated, but holds none of the roles */
    AUTH_ROLE_READER,
    AUTH_ROLE_OPERATOR,
    AUTH_ROLE_ADMINISTRATOR,
};

#define AUTH_MAX_SCOPES 32
#define AUTH_SCOPE_MAX 512

/* Login roles (bits of auth_limits.grant_roles). */
#define AUTH_GRANT_USER 1u
#define AUTH_GRANT_ADMINISTRATOR 2u
#define AUTH_GRANT_DENY 0x100u /* matches no login role: the caller may grant nothing */
/* Principal types (bits of auth_limits.principal_types). */
#define AUTH_PT_USER 1u
#define AUTH_PT_GROUP 2u
#define AUTH_PT_SERVICE_PRINCIPAL 4u
#define AUTH_PT_DENY 0x100u /* matches no principal type */

/* Constrained delegation: what a caller may grant, on top of its role (operator: user login
 * only; administrator: both). Zero values mean "no limit beyond the role". Stored with a key
 * as JSON {"loginRoles":["user"],"principalTypes":["Group"],"memberOf":"<group id>"}. */
struct auth_limits {
    unsigned grant_roles;     /* AUTH_GRANT_* bits; 0 = what the role allows */
    unsigned principal_types; /* AUTH_PT_* bits; 0 = any */
    char member_of[64];       /* group object id: only it or its (transitive) members */
};

enum auth_kind { AUTH_KIND_KEY = 1, AUTH_KIND_USER, AUTH_KIND_APP };

/* An authenticated caller. Owns its scope strings: auth_caller_free(). */
struct auth_caller {
    enum auth_kind kind;
    enum auth_role role;
    char subject[160]; /* "key:<id>", "user:<oid>" or "app:<appid>": for logs and audit */
    size_t nscopes;    /* 0 = unlimited */
    char *scopes[AUTH_MAX_SCOPES]; /* lowercase ARM scopes without a trailing '/' */
    struct auth_limits limits;
    /* JWT callers: the application the token was issued to (appid/azp), "" for keys. A user
     * calling through a limited application is held to that application's limits too. */
    char app_id[64];
};
struct auth_caller *auth_caller_new(enum auth_kind kind, enum auth_role role, const char *subject);
void auth_caller_free(struct auth_caller *c);
/* A copy of c, its own scope strings included. */
struct auth_caller *auth_caller_dup(const struct auth_caller *c);
/* Adds a scope (validated and normalized with auth_scope_normalize). */
enum err auth_caller_add_scope(struct auth_caller *c, const char *scope,
                               struct err_detail *d) VL_MUST_CHECK;

/* Holds c to stored limits: scopes_json a JSON array of scopes (NULL: none), limits_json the
 * grant limits object (NULL: none). A caller already limited is held to both: its scopes
 * become the intersection (possibly none at all) and its grant limits the stricter ones.
 * ERR_INVALID when either is malformed. */
enum err auth_caller_restrict(struct auth_caller *c, const char *scopes_json,
                              const char *limits_json, struct err_detail *d) VL_MUST_CHECK;

const char *auth_role_name(enum auth_role r); /* "reader", ..., "none" */
bool auth_role_parse(const char *s, enum auth_role *out);

/* A scope a caller may be limited to, "/subscriptions/{s}" or
 * "/subscriptions/{s}/resourceGroups/{rg}", lowercased into out without a trailing '/'.
 * ERR_INVALID for anything else. */
enum err auth_scope_normalize(const char *in, char *out, size_t cap,
                              struct err_detail *d) VL_MUST_CHECK;

/* ERR_FORBIDDEN ("insufficient_role") unless c's role is at least need. */
enum err auth_check_role(const struct auth_caller *c, enum auth_role need,
                         struct err_detail *d) VL_MUST_CHECK;
/* For handlers: may c act on (or read) the ARM resource or scope arm_id? True when c is
 * unlimited or arm_id equals or lies under one of c's scopes (case-insensitive). A path
 * like "/subscriptions/s/resourceGroups/rg/virtualMachines/vm/entraLogin" works as is. */
bool auth_scope_allows(const struct auth_caller *c, const char *arm_id);
/* The same as an error: ERR_FORBIDDEN ("scope_forbidden") naming the scope. */
enum err auth_check_scope(const struct auth_caller *c, const char *arm_id,
                          struct err_detail *d) VL_MUST_CHECK;

/* A login grant (or revocation) a caller asks for. */
struct auth_grant_request {
    const char *scope;          /* ARM scope of the grant */
    const char *login_role;     /* "user" | "administrator" */
    const char *principal_type; /* "User" | "Group" | "ServicePrincipal" (any case) */
    const char *principal_id;   /* object id */
    /* Is principal_id group_id itself or a transitive member of it? Needed only when the
     * caller is limited to a group's members; NULL then means refused. */
    bool (*is_member)(void *arg, const char *group_id, const char *principal_id);
    void *is_member_arg;
    /* Does the store know group_id's members, so that is_member's "no" is an answer? NULL:
     * it always does. */
    bool (*knows_members)(void *arg, const char *group_id);
    /* principal_type is what the caller claims (the directory has not seen the principal). */
    bool type_unverified;
    /* When not NULL, what the store cannot tell (membership of a group it does not know, a
     * claimed type) does not refuse the grant: *deferred is set and the caller has the
     * reconciler verify it against the directory before anything is applied. When NULL, it
     * refuses. */
    bool *deferred;
};
/* Constrained delegation for grants and revocations alike: operator or above; the scope
 * within c's scopes; the login role allowed by c's role (operator: "user" only) and limits;
 * the principal's type and group membership allowed by c's limits (see g->deferred). ERR_FORBIDDEN
 * with a stable code ("insufficient_role", "scope_forbidden", "grant_role_forbidden",
 * "principal_type_forbidden", "principal_not_member") and a reason in d; ERR_INVALID for an
 * unknown login role or principal type. */
enum err auth_check_grant(const struct auth_caller *c, const struct auth_grant_request *g,
                          struct err_detail *d) VL_MUST_CHECK;

/* Grant limits from/to their stored JSON form (see struct auth_limits). */
enum err auth_limits_from_json(const char *json, struct auth_limits *out,
                               struct err_detail *d) VL_MUST_CHECK;
char *auth_limits_to_json(const struct auth_limits *l); /* new string */
/* "user,administrator" -> AUTH_GRANT_* bits; "user,group,servicePrincipal" -> AUTH_PT_*. */
enum err auth_limits_parse_roles(const char *list, unsigned *out,
                                 struct err_detail *d) VL_MUST_CHECK;
enum err auth_limits_parse_types(const char *list, unsigned *out,
                                 struct err_detail *d) VL_MUST_CHECK;

/* Scopes normalized into a JSON array (*scopes_out, new reference) and grant limits checked
 * and encoded (*limits_text, new string), as stored for an API key or an identity.
 * ERR_INVALID naming what is wrong. */
enum err auth_limits_encode(const char *const *scopes, size_t nscopes,
                            const struct auth_limits *limits, json_t **scopes_out,
                            char **limits_text, struct err_detail *d) VL_MUST_CHECK;
/* Ends the transaction of a credential change made from the command line: when rc is ERR_OK,
 * appends its audit row and commits; otherwise (or if that fails) rolls back. Returns the
 * outcome. */
enum err auth_audit_commit(struct store *st, enum err rc, const char *actor, const char *action,
                           const char *target, json_t *details, struct err_detail *d) VL_MUST_CHECK;

/* ---- limits on Entra callers (auth_identities.c) ------------------------------------------ */

/* Limits for a JWT subject: "user:<object id>" or "app:<application id>". */
struct auth_identity_spec {
    const char *subject;
    const char *const *scopes; /* may be NULL when nscopes is 0 */
    size_t nscopes;
    struct auth_limits limits;
    const char *actor; /* for the audit row ("cli") */
};
/* Sets (replaces) the subject's limits with its audit row in one transaction. ERR_INVALID for
 * a malformed subject, scope or limit. */
enum err auth_identity_limit(struct store *st, const struct auth_identity_spec *s,
                             struct err_detail *d) VL_MUST_CHECK;
/* Removes them (the subject is then held by its role only), audited. ERR_NOT_FOUND if none. */
enum err auth_identity_unlimit(struct store *st, const char *subject, const char *actor,
                               struct err_detail *d) VL_MUST_CHECK;

/* ---- API keys (auth_keys.c) --------------------------------------------------------------- */

#define AUTH_KEY_PREFIX "vlk_"
#define AUTH_KEY_LEN 47    /* "vlk_" + 43 base64url characters (32 random bytes) */
#define AUTH_KEY_ID_LEN 16 /* hex */

/* A new random key; out needs AUTH_KEY_LEN + 1 bytes. */
void auth_key_generate(char out[AUTH_KEY_LEN + 1]);
/* "vlk_" followed by exactly 43 base64url characters. */
bool auth_key_is_well_formed(const char *key);
/* Lowercase hex SHA-256 of the key: the only form that is stored. */
void auth_key_hash(const char *key, char out[65]);

struct auth_key_spec {
    const char *name;
    enum auth_role role;
    const char *const *scopes; /* validated and normalized; may be NULL when nscopes is 0 */
    size_t nscopes;
    struct auth_limits limits;
    const char *actor; /* who creates it, for created_by and the audit row ("cli") */
};
/* Creates a key and its audit row in one transaction. key_out receives the secret (shown
 * once, never stored), id_out its id. ERR_INVALID for a bad name, role or scope. */
enum err auth_keys_create(struct store *st, const struct auth_key_spec *s,
                          char key_out[AUTH_KEY_LEN + 1], char id_out[AUTH_KEY_ID_LEN + 1],
                          struct err_detail *d) VL_MUST_CHECK;
/* Revokes a key and audits it in one transaction. ERR_NOT_FOUND if unknown. */
enum err auth_keys_revoke(struct store *st, const char *id, const char *actor,
                          struct err_detail *d) VL_MUST_CHECK;
/* Authenticates a well-formed key: ERR_UNAUTHORIZED ("invalid_api_key", "api_key_revoked")
 * or a new caller in *out. Each thread keeps the callers of its last few keys and answers
 * from them while nothing at all was committed to the store since their look-up
 * (store_version), so a revocation from any process counts from its commit on. */
enum err auth_keys_authenticate(struct store *st, const char *key, int64_t now_ms,
                                struct auth_caller **out, struct err_detail *d) VL_MUST_CHECK;
/* Authentications answered from those callers since the process started. */
uint64_t auth_keys_cache_hits(void);

/* ---- Entra JWTs (auth_jwt.c) ------------------------------------------------------------ */

struct auth_jwt;

struct auth_jwt_options {
    const char *login_url;   /* authority, e.g. https://login.microsoftonline.com */
    const char *tenant_id;   /* the one tenant whose tokens are accepted */
    const char *audiences;   /* accepted aud values, comma-separated */
    const char *ca_bundle;   /* "" or NULL: the system's */
    int64_t skew_s;          /* allowed clock skew on exp and nbf */
    int64_t refresh_min_s;   /* an unknown kid refetches the JWKS at most once per this */
    int64_t cache_s;         /* keys are refetched after this long anyway */
    int64_t timeout_s;       /* per fetch */
    const char *role_reader; /* app role names in the token's roles claim */
    const char *role_operator;
    const char *role_administrator;
    /* Test seam: fetch url into out (NULL: libcurl over HTTPS). */
    enum err (*fetch)(void *arg, const char *url, struct buf *out, struct err_detail *d);
    void *fetch_arg;
    int64_t max_lifetime_s;  /* longest exp - iat/nbf (and exp - now) accepted; 0: 86400 */
    int64_t (*now_ms)(void); /* test seam: the clock of key refreshes (NULL: clock_now_ms) */
};

#define AUTH_JWT_MAX_BYTES 16384

/* Copies o and starts the background thread that alone fetches discovery and the JWKS; waits
 * (at start-up only, at most min(timeout_s, 5) s) for the first fetch. A request never waits
 * on the network: a stale cache or an unknown kid asks the thread for a refresh, at most once
 * per refresh_min_s, and the request goes on with the keys at hand. */
enum err auth_jwt_new(const struct auth_jwt_options *o, struct auth_jwt **out,
                      struct err_detail *d) VL_MUST_CHECK;
/* Waits until no refresh is asked for or running (tests, fuzzers). */
void auth_jwt_settle(struct auth_jwt *j);
void auth_jwt_free(struct auth_jwt *j);
/* Validates a compact JWT at time now_ms: RS256 only, kid in the JWKS, signature, exp/nbf
 * with skew (both NumericDates; a lifetime over max_lifetime_s refused), iss (v1 or v2 form
 * for the tenant), tid, aud; roles mapped to the highest role named. App or user is told by
 * the claims Entra always sends: a delegated (user) token carries scp, an app-only token
 * does not and names its application in appid (v1) or azp (v2). ERR_UNAUTHORIZED with a
 * stable code in d ("token_too_large", "invalid_token", "unsupported_alg", "unknown_kid",
 * "invalid_signature", "token_expired", "token_not_yet_valid", "token_lifetime_too_long",
 * "invalid_issuer", "invalid_tenant", "invalid_audience"); ERR_UNAVAILABLE
 * ("jwks_unavailable": no keys yet; "jwks_refreshing": an unknown kid started a refresh, try
 * again); else a new caller in *out. */
enum err auth_jwt_verify(struct auth_jwt *j, const char *token, int64_t now_ms,
                         struct auth_caller **out, struct err_detail *d) VL_MUST_CHECK;
/* How many times discovery + JWKS were fetched (for tests). */
unsigned auth_jwt_fetches(const struct auth_jwt *j);

/* ---- per-caller rate limits (auth_rate.c) ----------------------------------------------- */

struct auth_rate;
/* A token bucket per identity: rps refill, burst size; remembers at most max_ids identities
 * (the least recently seen is forgotten first). */
struct auth_rate *auth_rate_new(double rps, double burst, size_t max_ids);
void auth_rate_free(struct auth_rate *r);
/* Takes one token for id at now_ms; false when empty, with the wait in *retry_after_ms. */
bool auth_rate_take(struct auth_rate *r, const char *id, int64_t now_ms, int64_t *retry_after_ms);
/* Tokens this replica took ahead from a bucket shared by all replicas (store_rate_take takes a
 * batch, one is spent, the rest wait here), per identity, for AUTH_RATE_STASH_KEEP_MS at most:
 * a replica spends only tokens taken from the shared bucket, so the replicas together never
 * exceed its limit; unspent ones expire rather than make a later burst. */
#define AUTH_RATE_STASH_KEEP_MS 1000
struct auth_rate *auth_rate_stash_new(size_t max_ids);
/* Spends one of id's tokens; false when it has none (left). */
bool auth_rate_stash_take(struct auth_rate *r, const char *id, int64_t now_ms);
/* Adds tokens to id's (their time starts now). */
void auth_rate_stash_put(struct auth_rate *r, const char *id, double tokens, int64_t now_ms);

/* ---- the authenticator the daemon holds (auth.c) ---------------------------------------- */

struct auth;
/* Builds the authenticator from cfg: API keys in st always; JWTs when api_audience and a
 * tenant (api_tenant_id or tenant_id) are set. Borrows cfg and st. */
enum err auth_new(const struct config *cfg, struct store *st, struct auth **out,
                  struct err_detail *d) VL_MUST_CHECK;
/* Same, with JWT options given (tests). jo may be NULL: no JWTs. */
enum err auth_new_with(const struct config *cfg, struct store *st,
                       const struct auth_jwt_options *jo, struct auth **out,
                       struct err_detail *d) VL_MUST_CHECK;
void auth_free(struct auth *a);
/* The authority callers' JWTs come from: api_login_url, else login_url, else the cloud's
 * (https://login.microsoftonline.com), without the tenant. */
const char *auth_login_base(const struct config *cfg);
/* The tenant of callers' JWTs: api_tenant_id, else tenant_id ("" when neither). */
const char *auth_tenant(const struct config *cfg);
/* Authenticates an Authorization header value (NULL when absent): ERR_UNAUTHORIZED with a
 * stable code ("unauthenticated" when there is no credential) or a new caller in *out. */
enum err auth_authenticate(struct auth *a, const char *authorization, struct auth_caller **out,
                           struct err_detail *d) VL_MUST_CHECK;
/* The caller's rate limit: false with *retry_after_s when over it. */
bool auth_rate_allow(struct auth *a, const struct auth_caller *c, int64_t *retry_after_s);

/* ---- command line (auth_cli.c) ---------------------------------------------------------- */

/* Runs "keys create|list|revoke" and "audit verify" (words[0] is "keys" or "audit") with the
 * subcommand flags (names without "--"). The new key goes to out alone on a line; messages
 * to err. Returns the exit status. */
int auth_cli_run(struct store *st, const char *const *words, size_t nwords,
                 const char *const *flag_names, const char *const *flag_values, size_t nflags,
                 FILE *out, FILE *err);
/* Runs "audit verify": the chain held to the signed checkpoints in the database and in
 * checkpoint_file (NULL: the database's only). Exit 0 when intact; 1 with what is wrong. */
int auth_cli_audit(struct store *st, const char *checkpoint_file, const char *const *words,
                   size_t nwords, const char *const *flag_names, size_t nflags, FILE *out,
                   FILE *err);

#endif
