/* auth_keys.c: API keys. A key is "vlk_" + 32 random bytes in base64url, shown once at
 * creation; only its SHA-256 is stored, next to its role, scopes and grant limits. Creating
 * and revoking a key are audited in the same transaction. Never logs a key. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vmlogind/auth.h"
#include "vmlogind/clock.h"
#include "vmlogind/jose.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"
#include "vmlogind/uuid.h"
#include "vmlogind/xalloc.h"

#define KEY_RANDOM_BYTES 32
#define KEY_NAME_MAX 100
#define KEY_TOUCH_MS 60000 /* last use is kept to the minute */
#define KEY_CACHE_N 4

void auth_key_generate(char out[AUTH_KEY_LEN + 1])
{
    unsigned char raw[KEY_RANDOM_BYTES];
    char *enc;

    uuid_random_bytes(raw, sizeof(raw));
    enc = b64url_encode(raw, sizeof(raw));
    snprintf(out, AUTH_KEY_LEN + 1, "%s%s", AUTH_KEY_PREFIX, enc);
    free(enc);
}

static bool is_b64url(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

bool auth_key_is_well_formed(const char *key)
{
    size_t plen = strlen(AUTH_KEY_PREFIX);

    if (key == NULL || strncmp(key, AUTH_KEY_PREFIX, plen) != 0 || strlen(key) != AUTH_KEY_LEN)
        return false;
    for (size_t i = plen; i < AUTH_KEY_LEN; i++)
        if (!is_b64url(key[i]))
            return false;
    return true;
}

void auth_key_hash(const char *key, char out[65])
{
    sha256_hex(key, strlen(key), out);
}

static enum err check_name(const char *name, struct err_detail *d)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > KEY_NAME_MAX)
        return err_set(d, ERR_INVALID, "invalid_name", "a key name has 1 to %d characters",
                       KEY_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return err_set(d, ERR_INVALID, "invalid_name", "a key name is printable text");
    return ERR_OK;
}

enum err auth_limits_encode(const char *const *scopes, size_t nscopes,
                            const struct auth_limits *limits, json_t **scopes_out,
                            char **limits_text, struct err_detail *d)
{
    struct auth_limits checked;
    json_t *arr;
    enum err rc;

    *scopes_out = NULL;
    *limits_text = NULL;
    if (nscopes > AUTH_MAX_SCOPES)
        return err_set(d, ERR_INVALID, "too_many_scopes", "at most %d scopes", AUTH_MAX_SCOPES);
    arr = json_array();
    for (size_t i = 0; i < nscopes; i++) {
        char norm[AUTH_SCOPE_MAX];
        rc = auth_scope_normalize(scopes[i], norm, sizeof(norm), d);
        if (rc != ERR_OK) {
            json_decref(arr);
            return rc;
        }
        json_array_append_new(arr, json_string(norm));
    }
    *limits_text = auth_limits_to_json(limits);
    rc = auth_limits_from_json(*limits_text, &checked, d); /* e.g. memberOf is an object id */
    if (rc != ERR_OK) {
        json_decref(arr);
        free(*limits_text);
        *limits_text = NULL;
        return rc;
    }
    *scopes_out = arr;
    return ERR_OK;
}

enum err auth_audit_commit(struct store *st, enum err rc, const char *actor, const char *action,
                           const char *target, json_t *details, struct err_detail *d)
{
    char *text;

    if (rc == ERR_OK) {
        text = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
        struct store_audit_entry e = {
            .at = clock_now_ms(),
            .actor = (char *)(actor ? actor : "cli"),
            .action = (char *)action,
            .target = (char *)target,
            .outcome = (char *)"succeeded",
            .details = text,
        };
        rc = store_audit_append(st, &e, d);
        free(text);
    }
    if (rc == ERR_OK)
        return store_tx_commit(st, d);
    store_tx_rollback(st);
    return rc;
}

enum err auth_keys_create(struct store *st, const struct auth_key_spec *s,
                          char key_out[AUTH_KEY_LEN + 1], char id_out[AUTH_KEY_ID_LEN + 1],
                          struct err_detail *d)
{
    unsigned char raw_id[AUTH_KEY_ID_LEN / 2];
    char hash[65];
    json_t *scopes = NULL, *details = NULL;
    char *scopes_text = NULL, *limits_text = NULL;
    struct store_api_key k;
    enum err rc;

    rc = check_name(s->name, d);
    if (rc != ERR_OK)
        return rc;
    if (s->role < AUTH_ROLE_READER || s->role > AUTH_ROLE_ADMINISTRATOR)
        return err_set(d, ERR_INVALID, "invalid_role",
                       "the role is reader, operator or administrator");
    rc = auth_limits_encode(s->scopes, s->nscopes, &s->limits, &scopes, &limits_text, d);
    if (rc != ERR_OK)
        return rc;
    uuid_random_bytes(raw_id, sizeof(raw_id));
    for (size_t i = 0; i < sizeof(raw_id); i++)
        snprintf(id_out + 2 * i, 3, "%02x", raw_id[i]);
    auth_key_generate(key_out);
    auth_key_hash(key_out, hash);
    scopes_text = json_dumps(scopes, JSON_COMPACT);
    k = (struct store_api_key){
        .id = id_out,
        .name = (char *)s->name,
        .role = (char *)auth_role_name(s->role),
        .scopes = scopes_text,
        .grant_limits = limits_text,
        .key_hash = hash,
        .created_by = (char *)(s->actor ? s->actor : "cli"),
        .created_at = clock_now_ms(),
    };
    details = json_pack("{s:s, s:s, s:O, s:o}", "name", s->name, "role", auth_role_name(s->role),
                        "scopes", scopes, "grantLimits", json_loads(limits_text, 0, NULL));
    rc = store_tx_begin(st, d);
    if (rc != ERR_OK)
        goto out;
    rc = store_api_key_insert(st, &k, d);
    rc = auth_audit_commit(st, rc, s->actor, "apiKey.create", id_out, details, d);
out:
    if (rc != ERR_OK)
        memset(key_out, 0, AUTH_KEY_LEN + 1);
    json_decref(details);
    json_decref(scopes);
    free(scopes_text);
    free(limits_text);
    return rc;
}

enum err auth_keys_revoke(struct store *st, const char *id, const char *actor, struct err_detail *d)
{
    json_t *details = json_object();
    enum err rc;

    rc = store_tx_begin(st, d);
    if (rc != ERR_OK)
        goto out;
    rc = store_api_key_revoke(st, id, clock_now_ms(), d);
    rc = auth_audit_commit(st, rc, actor, "apiKey.revoke", id, details, d);
out:
    json_decref(details);
    return rc;
}

static enum err caller_from_key(const struct store_api_key *k, struct auth_caller **out,
                                struct err_detail *d)
{
    enum auth_role role;
    struct auth_caller *c;
    char subject[160];
    enum err rc;

    if (!auth_role_parse(k->role, &role))
        return err_set(d, ERR_INTERNAL, "bad_key_row", "api key %s has an unknown role", k->id);
    snprintf(subject, sizeof(subject), "key:%s", k->id);
    c = auth_caller_new(AUTH_KIND_KEY, role, subject);
    rc = auth_caller_restrict(c, k->scopes, k->grant_limits, d);
    if (rc != ERR_OK) {
        auth_caller_free(c);
        return err_set(d, ERR_INTERNAL, "bad_key_row", "api key %s has malformed limits", k->id);
    }
    *out = c;
    return ERR_OK;
}

/* ---- a thread's last keys ------------------------------------------------------------------
 * A bot sends the same key on every request, and looking it up is an indexed statement each
 * time. Each thread keeps the callers of its last few keys with the store version read before
 * their look-up, and uses one again only while that version is unchanged: nothing committed
 * since, by any connection of any process, so not the key's revocation either (store_version).
 * Kept by the key's SHA-256, as the store keeps it: the key itself is not kept. */

struct key_cached {
    struct store_version ver;
    char hash[65];
    int64_t last_used_at;
    struct auth_caller *caller;
};

struct key_cache {
    struct key_cached e[KEY_CACHE_N];
    unsigned next;
};

static atomic_uint_fast64_t cache_hits;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
    struct key_cache *c = p;

    for (size_t i = 0; i < KEY_CACHE_N; i++)
        auth_caller_free(c->e[i].caller);
    free(c);
}

static void cache_init(void)
{
    if (pthread_key_create(&cache_key, cache_free) != 0)
        abort();
}

static struct key_cache *cache_get(void)
{
    struct key_cache *c;

    pthread_once(&cache_once, cache_init);
    c = pthread_getspecific(cache_key);
    if (c == NULL) {
        c = xcalloc(1, sizeof(*c));
        pthread_setspecific(cache_key, c);
    }
    return c;
}

/* The cached caller of hash if the store is as it was when it was looked up, and its last use
 * needs no touch; else NULL. */
static const struct auth_caller *cache_find(const char *hash, const struct store_version *v,
                                            int64_t now_ms)
{
    struct key_cache *c = cache_get();

    for (size_t i = 0; i < KEY_CACHE_N; i++) {
        const struct key_cached *e = &c->e[i];
        if (e->caller != NULL && store_version_eq(&e->ver, v) && strcmp(e->hash, hash) == 0)
            return now_ms - e->last_used_at < KEY_TOUCH_MS ? e->caller : NULL;
    }
    return NULL;
}

static void cache_put(const char *hash, const struct store_version *v, int64_t last_used_at,
                      const struct auth_caller *caller)
{
    struct key_cache *c = cache_get();
    struct key_cached *e = NULL;

    for (size_t i = 0; i < KEY_CACHE_N && e == NULL; i++)
        if (c->e[i].caller != NULL && strcmp(c->e[i].hash, hash) == 0)
            e = &c->e[i];
    if (e == NULL)
        e = &c->e[c->next++ % KEY_CACHE_N];
    auth_caller_free(e->caller);
    *e = (struct key_cached){.ver = *v, .last_used_at = last_used_at};
    memcpy(e->hash, hash, sizeof(e->hash));
    e->caller = auth_caller_dup(caller);
}

uint64_t auth_keys_cache_hits(void)
{
    return atomic_load(&cache_hits);
}

enum err auth_keys_authenticate(struct store *st, const char *key, int64_t now_ms,
                                struct auth_caller **out, struct err_detail *d)
{
    char hash[65];
    struct store_api_key k = {0};
    struct store_version ver;
    const struct auth_caller *hit;
    struct err_detail td;
    enum err rc;

    if (!auth_key_is_well_formed(key))
        return err_set(d, ERR_UNAUTHORIZED, "invalid_api_key", "the API key is not valid");
    auth_key_hash(key, hash);
    /* read before the look-up: a commit between the two makes the version of the next request
     * differ, so an entry is never newer than what its version names */
    if (store_version_get(st, &ver, NULL) != ERR_OK)
        ver = (struct store_version){0}; /* matches nothing */
    hit = cache_find(hash, &ver, now_ms);
    if (hit != NULL) {
        atomic_fetch_add(&cache_hits, 1);
        *out = auth_caller_dup(hit);
        return ERR_OK;
    }
    rc = store_api_key_find_by_hash(st, hash, &k, d);
    if (rc == ERR_NOT_FOUND)
        return err_set(d, ERR_UNAUTHORIZED, "invalid_api_key", "the API key is not valid");
    if (rc != ERR_OK)
        return rc == ERR_STORE ? ERR_UNAVAILABLE : rc;
    if (k.revoked_at != 0) {
        rc = err_set(d, ERR_UNAUTHORIZED, "api_key_revoked", "the API key was revoked");
        goto out;
    }
    rc = caller_from_key(&k, out, d);
    if (rc == ERR_OK && ver.conn != 0)
        cache_put(hash, &ver, k.last_used_at, *out);
    /* last use is kept to the minute; within it the hot path stays read-only (no write
     * statement, so no write lock per request). Inside a snapshot route's read transaction
     * the touch upgrades it, or fails at once when another commit came first (store.h). A
     * touch changes the version, so the entry just kept is looked up again next time */
    if (rc == ERR_OK && now_ms - k.last_used_at >= KEY_TOUCH_MS &&
        store_api_key_touch(st, k.id, now_ms, &td) != ERR_OK)
        log_debug("api_key_touch_failed", "id=%s error=\"%s\"", k.id, td.msg);
out:
    store_api_key_clear(&k);
    return rc;
}
