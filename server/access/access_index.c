/* access_index.c: the access read model (vmlogind/access.h): its snapshots (see
 * access_internal.h), the builder thread that keeps one current, and the answer counters.
 * Compact: an
 * assignment is 24 bytes (interned principal, role, interned ARM principal type, the
 * assignment GUID as 16 bytes, its ARM id rebuilt from scope + GUID); one that does not fit
 * that shape (a grant, an expiry, an ARM id spelled otherwise) keeps its strings on the side.
 * Strings live in arenas; ids and scope keys are found through open-addressing hash tables. */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access/access_internal.h"
#include "vmlogind/buf.h"
#include "vmlogind/clock.h"
#include "vmlogind/log.h"
#include "vmlogind/store.h"
#include "vmlogind/store_pg.h"
#include "vmlogind/xalloc.h"

#define RA_SUFFIX "/providers/Microsoft.Authorization/roleAssignments/"
#define RA_SUFFIX_LEN (sizeof(RA_SUFFIX) - 1)
#define GUID_LEN 36
#define ARENA_CHUNK (1u << 20)
#define SMALL_MAX 250
#define REBUILD_GAP_MS 1000 /* at least this (and the last build's time) between builds */
#define LISTEN_WAIT_MS 250  /* PostgreSQL: the listener's longest wait (how soon it sees a stop) */
#define QUIET_MS 300        /* a generation must hold this long before an index is built for it */
#define BUILDER_POLL_MS 50  /* how often the builder looks at the generation */
#define ID_SLOT 40          /* object ids are GUIDs: longer ones are not indexed */
#define ID_AT(ix, i) ((ix)->ids + (size_t)(i)*ID_SLOT)

enum { AX_EXC = 1, AX_GRANTED = 2 };
enum { AX_VM_ROW = 1, AX_VM_GONE = 2 }; /* ax_scope.vm */

struct ax_rec {
    uint32_t principal; /* id index (compact), exception index (AX_EXC) */
    uint8_t role;
    uint8_t ptype; /* small-string index */
    uint8_t flags;
    uint8_t pad;
    unsigned char guid[16];
};

struct ax_exc {
    char *scope, *principal_id, *principal_type, *grant_id, *assignment_id, *activation_id;
    enum model_grant_role role;
    int64_t expires_at;
};

struct ax_scope {
    const char *scope; /* as the first row spelled it; the key is its lowercase */
    uint32_t first, n;
    bool plain;    /* nothing in it needs escaping in JSON (nor in its compact assignments' ids) */
    uint8_t vm;    /* AX_VM_*: the scope is a VM's, with a row */
    uint16_t len;  /* strlen(scope), 0 when it does not fit */
    uint32_t name; /* its row's computer name, at this offset in names (0: "") */
};

struct ax_member {
    uint32_t member;
    uint8_t kind;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct access_snapshot {
    atomic_int refs;
    int64_t epoch, gen;
    bool ok;
    struct arena_chunk *arena;
    /* interned small strings (principal types, member kinds) */
    const char *small[SMALL_MAX];
    size_t nsmall;
    /* principal ids */
    char *ids; /* ID_SLOT bytes each, so that an id's address gives its index */
    size_t nids, capids;
    uint32_t *idh; /* hash: index + 1 */
    size_t idh_cap;
    uint32_t *mem_first, *mem_n; /* per id: its closure in members */
    struct access_known *known;  /* per id: principal NULL for an id with no principal */
    /* scopes */
    struct ax_scope *scopes;
    size_t nscopes, capscopes;
    uint64_t *sch; /* SLOT()s */
    size_t sch_cap;
    /* assignments grouped by scope */
    struct ax_rec *recs;
    size_t nrecs, caprecs;
    uint32_t *rec_scope; /* build only */
    struct ax_exc *exc;
    size_t nexc, capexc;
    /* members sorted by root id */
    struct ax_member *members;
    uint32_t *member_root; /* build only */
    size_t nmembers, capmembers;
    /* VMs' computer names, each ending in NUL, after one NUL */
    char *names;
    size_t nnames, capnames;
    struct store_principal_row *principals;
    size_t nprincipals, capprincipals;
    const atomic_bool *stop; /* build only: the builder is to end */
};

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *arena_dup(struct access_snapshot *ix, const char *s)
{
    size_t n = strlen(s) + 1;
    struct arena_chunk *c = ix->arena;

    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = xmalloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        c->next = ix->arena;
        ix->arena = c;
    }
    memcpy(c->data + c->used, s, n);
    c->used += n;
    return c->data + c->used - n;
}

#define HASH_START 2166136261u

/* FNV-1a of s, continued from h (HASH_START for a whole string). */
static uint32_t hash_more(uint32_t h, const char *s)
{
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static uint32_t hash_str(const char *s)
{
    return hash_more(HASH_START, s);
}

static uint32_t hash_lower(const char *s)
{
    uint32_t h = HASH_START;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        h = (h ^ (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
    }
    return h;
}

/* The bytes of x with ASCII capitals lowercased, eight at a time: a byte's high bit is set in
 * upper when it is ASCII and in 'A'..'Z' (each byte computed apart: no carry crosses one). */
static uint64_t lower8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t low7 = x & ~high;
    uint64_t ge_a = low7 + (0x80 - 'A') * ones; /* high bit: byte >= 'A' */
    uint64_t gt_z = low7 + (0x7f - 'Z') * ones; /* high bit: byte > 'Z' */
    uint64_t upper = (ge_a & ~gt_z) & ~x & high;

    return x | (upper >> 2); /* 0x80 >> 2 = 0x20 */
}

/* Is the lowercase of s (len bytes) exactly key (len bytes)? */
static bool lower_eq_n(const char *s, const char *key, size_t len)
{
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t a, b;
        memcpy(&a, s + i, 8);
        memcpy(&b, key + i, 8);
        if (lower8(a) != b)
            return false;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((char)(c >= 'A' && c <= 'Z' ? c + 32 : c) != key[i])
            return false;
    }
    return true;
}

/* Is the lowercase of s exactly key? */
static bool lower_eq(const char *s, const char *key)
{
    for (; *s != '\0' && *key != '\0'; s++, key++) {
        unsigned char c = (unsigned char)*s;
        if ((char)(c >= 'A' && c <= 'Z' ? c + 32 : c) != *key)
            return false;
    }
    return *s == *key;
}

/* Does s need no escaping as a JSON string (no control character, '"' or '\\')? */
static bool json_plain(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static bool is_lower(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z')
            return false;
    }
    return true;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    while (*cap < need)
        *cap = *cap ? *cap * 2 : 64;
    return xreallocarray(p, *cap, size);
}

static int small_of(struct access_snapshot *ix, const char *s)
{
    for (size_t i = 0; i < ix->nsmall; i++) {
        if (strcmp(ix->small[i], s) == 0)
            return (int)i;
    }
    if (ix->nsmall == SMALL_MAX)
        return -1;
    ix->small[ix->nsmall] = arena_dup(ix, s);
    return (int)ix->nsmall++;
}

/* ---- ids ----------------------------------------------------------------------------------- */

static long id_find(const struct access_snapshot *ix, const char *id)
{
    if (ix->idh_cap == 0)
        return -1;
    for (size_t h = hash_str(id) & (ix->idh_cap - 1);; h = (h + 1) & (ix->idh_cap - 1)) {
        uint32_t v = ix->idh[h];
        if (v == 0)
            return -1;
        if (strcmp(ID_AT(ix, v - 1), id) == 0)
            return (long)v - 1;
    }
}

static void id_rehash(struct access_snapshot *ix)
{
    size_t cap = ix->idh_cap ? ix->idh_cap * 2 : 1024;

    free(ix->idh);
    ix->idh = xcalloc(cap, sizeof(*ix->idh));
    ix->idh_cap = cap;
    for (size_t i = 0; i < ix->nids; i++) {
        size_t h = hash_str(ID_AT(ix, i)) & (cap - 1);
        while (ix->idh[h] != 0)
            h = (h + 1) & (cap - 1);
        ix->idh[h] = (uint32_t)i + 1;
    }
}

static uint32_t id_intern(struct access_snapshot *ix, const char *id)
{
    long f = id_find(ix, id);

    if (f >= 0)
        return (uint32_t)f;
    if (strlen(id) >= ID_SLOT) {
        ix->ok = false;
        return 0;
    }
    ix->ids = grow(ix->ids, &ix->capids, ix->nids + 1, ID_SLOT);
    memcpy(ID_AT(ix, ix->nids), id, strlen(id) + 1);
    ix->nids++;
    if (ix->nids * 2 > ix->idh_cap) {
        id_rehash(ix);
    } else {
        size_t h = hash_str(id) & (ix->idh_cap - 1);
        while (ix->idh[h] != 0)
            h = (h + 1) & (ix->idh_cap - 1);
        ix->idh[h] = (uint32_t)ix->nids;
    }
    return (uint32_t)ix->nids - 1;
}

/* ---- scopes -------------------------------------------------------------------------------- */

/* A slot of the scope table: the key's hash above, the scope's index + 1 below (0: empty).
 * The hash tells most other keys apart without reading their scope (a cache miss each). */
#define SLOT(hash, i) ((uint64_t)(hash) << 32 | ((uint64_t)(i) + 1))

/* The scope whose key is key (klen bytes, hash its hash_str), or -1. */
static long scope_find_hashed(const struct access_snapshot *ix, const char *key, size_t klen,
                              uint32_t hash)
{
    if (ix->sch_cap == 0)
        return -1;
    for (size_t h = hash & (ix->sch_cap - 1);; h = (h + 1) & (ix->sch_cap - 1)) {
        uint64_t v = ix->sch[h];
        uint32_t i = (uint32_t)v;
        if (v == 0)
            return -1;
        if ((uint32_t)(v >> 32) != hash)
            continue;
        const struct ax_scope *s = &ix->scopes[i - 1];
        if (s->len != 0 ? s->len == klen && lower_eq_n(s->scope, key, klen)
                        : lower_eq(s->scope, key))
            return (long)i - 1;
    }
}

static long scope_find(const struct access_snapshot *ix, const char *key)
{
    return scope_find_hashed(ix, key, strlen(key), hash_str(key));
}

static void scope_put(struct access_snapshot *ix, uint32_t hash, size_t i)
{
    size_t h = hash & (ix->sch_cap - 1);

    while (ix->sch[h] != 0)
        h = (h + 1) & (ix->sch_cap - 1);
    ix->sch[h] = SLOT(hash, i);
}

static void scope_rehash(struct access_snapshot *ix)
{
    size_t cap = ix->sch_cap ? ix->sch_cap * 2 : 1024;

    free(ix->sch);
    ix->sch = xcalloc(cap, sizeof(*ix->sch));
    ix->sch_cap = cap;
    for (size_t i = 0; i < ix->nscopes; i++)
        scope_put(ix, hash_lower(ix->scopes[i].scope), i);
}

/* The scope whose key is scope_key (lowercase), added with this spelling if new; -1 if the
 * spelling's lowercase is not the key (such rows are held as exceptions). */
static long scope_intern(struct access_snapshot *ix, const char *scope, const char *scope_key)
{
    long f = scope_find(ix, scope_key);

    if (f >= 0)
        return f;
    if (!lower_eq(scope, scope_key))
        return -1;
    ix->scopes = grow(ix->scopes, &ix->capscopes, ix->nscopes + 1, sizeof(*ix->scopes));
    size_t len = strlen(scope);
    ix->scopes[ix->nscopes++] = (struct ax_scope){.scope = arena_dup(ix, scope),
                                                  .plain = json_plain(scope),
                                                  .len = len <= UINT16_MAX ? (uint16_t)len : 0};
    if (ix->nscopes * 2 > ix->sch_cap)
        scope_rehash(ix);
    else
        scope_put(ix, hash_str(scope_key), ix->nscopes - 1);
    return (long)ix->nscopes - 1;
}

/* ---- GUIDs --------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses a lowercase 8-4-4-4-12 GUID (exactly GUID_LEN chars, then NUL). */
static bool guid_parse(const char *s, unsigned char out[16])
{
    size_t k = 0;

    for (size_t i = 0; i < GUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    return s[GUID_LEN] == '\0';
}

static void guid_format(const unsigned char g[16], char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;

    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[g[i] >> 4];
        out[k++] = hex[g[i] & 15];
    }
    out[k] = '\0';
}

/* ---- building ------------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

static void on_principal(void *arg, struct store_principal_row *p)
{
    struct access_snapshot *ix = arg;

    ix->principals =
        grow(ix->principals, &ix->capprincipals, ix->nprincipals + 1, sizeof(*ix->principals));
    ix->principals[ix->nprincipals++] = *p;
    if (p->id == NULL)
        ix->ok = false;
}

static void on_member(void *arg, const char *group_id, const char *member_id, const char *kind)
{
    struct access_snapshot *ix = arg;
    int k;

    if (group_id == NULL || member_id == NULL || kind == NULL || (k = small_of(ix, kind)) < 0) {
        ix->ok = false;
        return;
    }
    size_t cap = ix->capmembers;
    ix->members = grow(ix->members, &ix->capmembers, ix->nmembers + 1, sizeof(*ix->members));
    if (cap != ix->capmembers)
        ix->member_root = xreallocarray(ix->member_root, ix->capmembers, sizeof(*ix->member_root));
    ix->member_root[ix->nmembers] = id_intern(ix, group_id);
    ix->members[ix->nmembers++] =
        (struct ax_member){.member = id_intern(ix, member_id), .kind = (uint8_t)k};
}

/* Does the row fit the compact shape? Fills r if so. */
static bool compact(struct access_snapshot *ix, const struct store_access_view *a,
                    const struct ax_scope *s, struct ax_rec *r)
{
    size_t n = strlen(s->scope);
    int pt;
    enum model_grant_role role;

    if (a->grant_id != NULL || a->expires_at != 0 || a->assignment_id == NULL ||
        a->principal_id == NULL || a->principal_type == NULL || a->role_guid == NULL ||
        strcmp(a->scope, s->scope) != 0)
        return false;
    if (strncmp(a->assignment_id, s->scope, n) != 0 ||
        strncmp(a->assignment_id + n, RA_SUFFIX, RA_SUFFIX_LEN) != 0 ||
        !guid_parse(a->assignment_id + n + RA_SUFFIX_LEN, r->guid))
        return false;
    role = model_grant_role_from_definition(a->role_guid);
    if (role == MODEL_GRANT_ROLE_NONE || (pt = small_of(ix, a->principal_type)) < 0)
        return false;
    r->principal = id_intern(ix, a->principal_id);
    r->role = (uint8_t)role;
    r->ptype = (uint8_t)pt;
    r->flags = 0;
    return true;
}

static void on_assignment(void *arg, const struct store_access_view *a)
{
    struct access_snapshot *ix = arg;
    struct ax_rec r = {0};
    size_t cap = ix->caprecs;
    long s;

    if (a->scope == NULL || a->scope_key == NULL)
        return; /* NOT NULL columns: never */
    if (!is_lower(a->scope_key))
        return; /* no request key is ever spelled so; never matched */
    s = scope_intern(ix, a->scope, a->scope_key);
    if (s < 0) {
        ix->ok = false; /* a key that is not its scope's lowercase */
        return;
    }
    if (!compact(ix, a, &ix->scopes[s], &r)) {
        ix->exc = grow(ix->exc, &ix->capexc, ix->nexc + 1, sizeof(*ix->exc));
        ix->exc[ix->nexc] = (struct ax_exc){
            .scope = xstrdup(a->scope),
            .principal_id = dup_or_null(a->principal_id),
            .principal_type = dup_or_null(a->principal_type),
            .grant_id = dup_or_null(a->grant_id),
            .assignment_id = dup_or_null(a->assignment_id),
            .role = model_grant_role_from_definition(a->role_guid),
            .expires_at = a->expires_at,
            .activation_id = dup_or_null(a->activation_id),
        };
        memset(&r, 0, sizeof(r));
        r.principal = (uint32_t)ix->nexc++;
        r.flags = AX_EXC;
    }
    /* rows of the grants half follow every observed row: keep them apart per request */
    if (a->granted)
        r.flags |= AX_GRANTED;
    ix->recs = grow(ix->recs, &ix->caprecs, ix->nrecs + 1, sizeof(*ix->recs));
    if (cap != ix->caprecs)
        ix->rec_scope = xreallocarray(ix->rec_scope, ix->caprecs, sizeof(*ix->rec_scope));
    ix->rec_scope[ix->nrecs] = (uint32_t)s;
    ix->recs[ix->nrecs++] = r;
}

/* After every assignment (on_assignment keeps a scope as its first row spells it). */
static void on_vm(void *arg, const char *id_key, bool gone, const char *computer_name)
{
    struct access_snapshot *ix = arg;
    long s;

    if (id_key == NULL || !is_lower(id_key) || (s = scope_intern(ix, id_key, id_key)) < 0) {
        ix->ok = false; /* NOT NULL, lower(id): never */
        return;
    }
    ix->scopes[s].vm = (uint8_t)(AX_VM_ROW | (gone ? AX_VM_GONE : 0));
    ix->scopes[s].name = 0;
    if (computer_name == NULL || computer_name[0] == '\0')
        return;
    size_t n = strlen(computer_name) + 1;
    if (ix->nnames == 0)
        ix->nnames = 1; /* names[0] is "" */
    if (ix->nnames + n > UINT32_MAX) {
        ix->ok = false;
        return;
    }
    ix->names = grow(ix->names, &ix->capnames, ix->nnames + n, 1);
    ix->names[0] = '\0';
    memcpy(ix->names + ix->nnames, computer_name, n);
    ix->scopes[s].name = (uint32_t)ix->nnames;
    ix->nnames += n;
}

static int by_principal_id(const void *pa, const void *pb)
{
    return strcmp(((const struct store_principal_row *)pa)->id,
                  ((const struct store_principal_row *)pb)->id);
}

/* Groups recs by scope and members by root (a counting sort each; stable). */
static void finish(struct access_snapshot *ix)
{
    struct ax_rec *recs = xmallocarray(ix->nrecs ? ix->nrecs : 1, sizeof(*recs));
    struct ax_member *mem = xmallocarray(ix->nmembers ? ix->nmembers : 1, sizeof(*mem));
    uint32_t pos = 0;

    for (size_t i = 0; i < ix->nrecs; i++)
        ix->scopes[ix->rec_scope[i]].n++;
    for (size_t i = 0; i < ix->nscopes; i++) {
        ix->scopes[i].first = pos;
        pos += ix->scopes[i].n;
        ix->scopes[i].n = 0;
    }
    for (size_t i = 0; i < ix->nrecs; i++) {
        struct ax_scope *s = &ix->scopes[ix->rec_scope[i]];
        recs[s->first + s->n++] = ix->recs[i];
    }
    free(ix->recs);
    free(ix->rec_scope);
    ix->rec_scope = NULL;
    ix->recs = recs;
    ix->caprecs = ix->nrecs;

    ix->mem_first = xcalloc(ix->nids + 1, sizeof(*ix->mem_first));
    ix->mem_n = xcalloc(ix->nids + 1, sizeof(*ix->mem_n));
    for (size_t i = 0; i < ix->nmembers; i++)
        ix->mem_n[ix->member_root[i]]++;
    pos = 0;
    for (size_t i = 0; i < ix->nids; i++) {
        ix->mem_first[i] = pos;
        pos += ix->mem_n[i];
        ix->mem_n[i] = 0;
    }
    for (size_t i = 0; i < ix->nmembers; i++) {
        uint32_t g = ix->member_root[i];
        mem[ix->mem_first[g] + ix->mem_n[g]++] = ix->members[i];
    }
    free(ix->members);
    free(ix->member_root);
    ix->member_root = NULL;
    ix->members = mem;
    if (ix->nprincipals > 1)
        qsort(ix->principals, ix->nprincipals, sizeof(*ix->principals), by_principal_id);
}

static void index_free(struct access_snapshot *ix)
{
    if (ix == NULL)
        return;
    while (ix->arena != NULL) {
        struct arena_chunk *c = ix->arena;
        ix->arena = c->next;
        free(c);
    }
    for (size_t i = 0; i < ix->nexc; i++) {
        free(ix->exc[i].scope);
        free(ix->exc[i].principal_id);
        free(ix->exc[i].principal_type);
        free(ix->exc[i].grant_id);
        free(ix->exc[i].activation_id);
        free(ix->exc[i].assignment_id);
    }
    free(ix->exc);
    free(ix->ids);
    free(ix->idh);
    free(ix->mem_first);
    free(ix->mem_n);
    free(ix->known);
    free(ix->scopes);
    free(ix->names);
    free(ix->sch);
    free(ix->recs);
    free(ix->rec_scope);
    free(ix->members);
    free(ix->member_root);
    store_principal_rows_free(ix->principals, ix->nprincipals);
    free(ix);
}

static bool stopping(void *arg)
{
    const struct access_snapshot *ix = arg;

    return atomic_load(ix->stop);
}

/* A snapshot of the store's access data now; NULL if the store failed, the data has a shape a
 * snapshot does not hold, or *stop was set meanwhile. */
static void sort_recs(struct access_snapshot *ix);

static struct access_snapshot *index_build(struct store *st, const atomic_bool *stop)
{
    static const struct store_access_scan_fns fns = {.principal = on_principal,
                                                     .member = on_member,
                                                     .assignment = on_assignment,
                                                     .vm = on_vm,
                                                     .stop = stopping};
    struct access_snapshot *ix = xcalloc(1, sizeof(*ix));

    ix->ok = true;
    ix->stop = stop;
    if (store_access_scan(st, &fns, ix, &ix->epoch, &ix->gen, NULL) != ERR_OK || !ix->ok) {
        index_free(ix);
        return NULL;
    }
    for (size_t i = 0; i < ix->nprincipals; i++)
        (void)id_intern(ix, ix->principals[i].id);
    finish(ix);
    sort_recs(ix);
    /* no more growth: give back the slack of the doubling arrays read at 1M rows */
    if (ix->nnames > 0)
        ix->names = xrealloc(ix->names, ix->nnames);
    if (ix->nscopes > 0)
        ix->scopes = xreallocarray(ix->scopes, ix->nscopes, sizeof(*ix->scopes));
    ix->capnames = ix->nnames;
    ix->capscopes = ix->nscopes;
    /* by id, not by principal: an answer's entry finds it in one step */
    ix->known = xcalloc(ix->nids + 1, sizeof(*ix->known));
    for (size_t i = 0; i < ix->nprincipals; i++) {
        struct access_known *kn = &ix->known[id_find(ix, ix->principals[i].id)], k;
        if (!access_render_known_init(&k, &ix->principals[i])) {
            index_free(ix);
            return NULL;
        }
        *kn = (struct access_known){.principal = arena_dup(ix, k.principal),
                                    .group = arena_dup(ix, k.group),
                                    .blocked = k.blocked,
                                    .principal_len = k.principal_len,
                                    .group_len = k.group_len};
        access_render_known_cleanup(&k);
    }
    /* the fragments hold all the answer shows of a principal */
    store_principal_rows_free(ix->principals, ix->nprincipals);
    ix->principals = NULL;
    atomic_init(&ix->refs, 1);
    return ix;
}

/* ---- the read model ------------------------------------------------------------------------ */

struct access_index {
    struct store *st; /* borrowed */
    bool build;       /* false: never builds (every answer from the store) */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* wakes the builder */
    struct access_snapshot *cur; /* holds one reference */
    int64_t built_at, build_ms, failed_epoch, failed_gen;
    /* the last generation the builder saw, and since when: while a sync writes page after
     * page the generation moves every few ms, and a snapshot built for any of them would be
     * stale at once */
    int64_t seen_epoch, seen_gen, seen_at;
    /* a reader found no snapshot for its generation since the builder last found one current:
     * the first is built once /access is asked for (not at start: 50 MiB at 1M assignments
     * that a daemon never asked for access does not hold), and a new one once a reader needs
     * it */
    bool asked;
    atomic_bool stop; /* the builder is to end: a build under way gives up */
    pthread_t thread;
    bool started;
    /* PostgreSQL: the listener thread, woken by other replicas' writes (store_pg_listen) */
    pthread_t listener;
    bool listening;
    _Atomic int64_t built_gen;       /* the generation of the snapshot held, 0: none (metrics) */
    atomic_uint_fast64_t notified;   /* notifications of a new generation received (metrics) */
    atomic_uint_fast64_t answers[2]; /* by enum access_path */
};

static void unref(struct access_snapshot *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1)
        index_free(s);
}

void access_index_release(struct access_snapshot *s)
{
    unref(s);
}

struct store *access_index_store(const struct access_index *ix)
{
    return ix->st;
}

void access_index_reset(struct access_index *ix)
{
    pthread_mutex_lock(&ix->mu);
    unref(ix->cur);
    ix->cur = NULL;
    ix->built_at = ix->build_ms = 0;
    ix->failed_epoch = ix->failed_gen = 0;
    pthread_mutex_unlock(&ix->mu);
}

struct access_snapshot *access_index_get(struct access_index *ix, int64_t epoch, int64_t gen)
{
    struct access_snapshot *s = NULL;

    if (!ix->build)
        return NULL;
    pthread_mutex_lock(&ix->mu);
    if (ix->cur != NULL && ix->cur->epoch == epoch && ix->cur->gen == gen) {
        s = ix->cur;
        atomic_fetch_add(&s->refs, 1);
    } else if (!ix->asked) {
        ix->asked = true;
        pthread_cond_signal(&ix->cv);
    }
    pthread_mutex_unlock(&ix->mu);
    return s;
}

/* One look at the generation; builds a snapshot for it when the current one is stale and the
 * generation has held still long enough. */
static void builder_step(struct access_index *ix)
{
    struct access_snapshot *s, *old;
    int64_t epoch, gen, now = clock_mono_ms();

    if (store_access_generation(ix->st, &epoch, &gen, NULL) != ERR_OK)
        return;
    pthread_mutex_lock(&ix->mu);
    if (epoch != ix->seen_epoch || gen != ix->seen_gen) {
        ix->seen_epoch = epoch;
        ix->seen_gen = gen;
        ix->seen_at = now;
    }
    if (ix->cur != NULL && ix->cur->epoch == epoch && ix->cur->gen == gen)
        ix->asked = false; /* current: nothing to do until a reader finds it stale */
    if (!ix->asked || (ix->failed_epoch == epoch && ix->failed_gen == gen) ||
        (ix->built_at != 0 &&
         (now - ix->built_at < REBUILD_GAP_MS || now - ix->built_at < ix->build_ms ||
          now - ix->seen_at < QUIET_MS))) {
        pthread_mutex_unlock(&ix->mu);
        return;
    }
    /* stale: never served again; its memory goes before the new one is built */
    old = ix->cur;
    ix->cur = NULL;
    pthread_mutex_unlock(&ix->mu);
    unref(old);

    s = index_build(ix->st, &ix->stop);
    malloc_trim(0); /* the build's scratch and the old snapshot go back to the system */
    if (s != NULL)
        log_info("access_index_built",
                 "gen=%lld scopes=%zu assignments=%zu exceptions=%zu principals=%zu ms=%lld",
                 (long long)s->gen, s->nscopes, s->nrecs, s->nexc, s->nprincipals,
                 (long long)(clock_mono_ms() - now));

    pthread_mutex_lock(&ix->mu);
    ix->built_at = clock_mono_ms();
    ix->build_ms = ix->built_at - now;
    if (s == NULL && !atomic_load(&ix->stop)) {
        ix->failed_epoch = epoch;
        ix->failed_gen = gen;
    }
    ix->cur = s; /* its reference */
    atomic_store(&ix->built_gen, s != NULL ? s->gen : 0);
    pthread_mutex_unlock(&ix->mu);
}

/* Sleeps until a reader asks, then looks at the generation every BUILDER_POLL_MS until the
 * snapshot is current again. */
static void *builder_main(void *arg)
{
    struct access_index *ix = arg;

    pthread_mutex_lock(&ix->mu);
    while (!atomic_load(&ix->stop)) {
        struct timespec until;
        if (!ix->asked) {
            (void)pthread_cond_wait(&ix->cv, &ix->mu);
            continue;
        }
        pthread_mutex_unlock(&ix->mu);
        builder_step(ix);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += BUILDER_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&ix->mu);
        if (ix->asked && !atomic_load(&ix->stop))
            (void)pthread_cond_timedwait(&ix->cv, &ix->mu, &until);
    }
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

/* A notified change of the generation: an index in use is rebuilt now, before a reader finds
 * it stale (the reader's check of the generation keeps answers exact either way). */
static void notified(struct access_index *ix, int64_t gen)
{
    atomic_fetch_add(&ix->notified, 1);
    pthread_mutex_lock(&ix->mu);
    if (ix->cur != NULL && ix->cur->gen != gen && !ix->asked) {
        ix->asked = true;
        pthread_cond_signal(&ix->cv);
    }
    pthread_mutex_unlock(&ix->mu);
}

/* PostgreSQL: waits for the generation's notifications (another replica's writes, and this
 * one's) and hands them to the builder. Its waits are short, so a stop is seen soon. */
static void *listener_main(void *arg)
{
    struct access_index *ix = arg;
    struct store_pg_listen *l = NULL;
    struct err_detail d;
    bool warned = false;

    while (!atomic_load(&ix->stop)) {
        enum store_pg_listen_event ev = STORE_PG_LISTEN_TIMEOUT;
        int64_t gen = 0;
        if (l == NULL && store_pg_listen_open(store_pg_pool(ix->st), &l, &d) != ERR_OK) {
            if (!warned)
                log_warn("access_listener_failed",
                         "error=\"%s\" effect=\"the index is rebuilt "
                         "when a reader finds it stale\"",
                         d.msg);
            warned = true;
            nanosleep(&(struct timespec){.tv_nsec = LISTEN_WAIT_MS * 1000000L}, NULL);
            continue;
        }
        if (store_pg_listen_wait(l, LISTEN_WAIT_MS, &ev, &gen, &d) == ERR_OK &&
            ev != STORE_PG_LISTEN_TIMEOUT)
            notified(ix, gen);
    }
    store_pg_listen_close(l);
    return NULL;
}

enum err access_index_new(struct store *st, bool build, struct access_index **out)
{
    struct access_index *ix = xcalloc(1, sizeof(*ix));
    pthread_condattr_t ca;

    ix->st = st;
    ix->build = build;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ix->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&ix->stop, false);
    atomic_init(&ix->answers[0], 0);
    atomic_init(&ix->answers[1], 0);
    atomic_init(&ix->built_gen, 0);
    atomic_init(&ix->notified, 0);
    *out = ix;
    if (!build)
        return ERR_OK;
    if (pthread_create(&ix->thread, NULL, builder_main, ix) != 0) {
        log_warn("access_index_not_started", "reason=\"thread\"");
        access_index_free(ix);
        *out = NULL;
        return ERR_INTERNAL;
    }
    ix->started = true;
    if (store_pg_pool(st) != NULL) {
        if (pthread_create(&ix->listener, NULL, listener_main, ix) == 0)
            ix->listening = true;
        else
            log_warn("access_listener_not_started", "reason=\"thread\"");
    }
    return ERR_OK;
}

void access_index_free(struct access_index *ix)
{
    if (ix == NULL)
        return;
    if (ix->started) {
        pthread_mutex_lock(&ix->mu);
        atomic_store(&ix->stop, true);
        pthread_cond_signal(&ix->cv);
        pthread_mutex_unlock(&ix->mu);
        pthread_join(ix->thread, NULL);
    }
    if (ix->listening)
        pthread_join(ix->listener, NULL);
    unref(ix->cur);
    pthread_cond_destroy(&ix->cv);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

const char *access_path_str(enum access_path p)
{
    return p == ACCESS_PATH_INDEX ? "index" : "store";
}

void access_index_count(struct access_index *ix, enum access_path p)
{
    atomic_fetch_add_explicit(&ix->answers[p == ACCESS_PATH_INDEX ? 0 : 1], 1,
                              memory_order_relaxed);
}

enum err access_index_metrics(const struct access_index *ix, struct buf *out)
{
    return buf_printf(out,
                      "# HELP vmlogind_access_answers_total Effective-access answers by the path "
                      "that gave them.\n"
                      "# TYPE vmlogind_access_answers_total counter\n"
                      "vmlogind_access_answers_total{path=\"index\"} %llu\n"
                      "vmlogind_access_answers_total{path=\"store\"} %llu\n"
                      "# HELP vmlogind_access_index_generation The access generation of the "
                      "in-memory index (0: none held).\n"
                      "# TYPE vmlogind_access_index_generation gauge\n"
                      "vmlogind_access_index_generation %lld\n"
                      "# HELP vmlogind_access_notifications_total Notifications of a new access "
                      "generation received (PostgreSQL: any replica's writes).\n"
                      "# TYPE vmlogind_access_notifications_total counter\n"
                      "vmlogind_access_notifications_total %llu\n",
                      (unsigned long long)atomic_load(&ix->answers[0]),
                      (unsigned long long)atomic_load(&ix->answers[1]),
                      (long long)atomic_load(&ix->built_gen),
                      (unsigned long long)atomic_load(&ix->notified));
}

/* ---- reading ------------------------------------------------------------------------------- */

static size_t rec_arena_need(const struct ax_scope *s)
{
    return strlen(s->scope) + RA_SUFFIX_LEN + GUID_LEN + 1;
}

/* The assignment r of scope s stands for, as a request for key reads it. A compact row's ARM
 * id is written at id (rec_arena_need(s) bytes at most); returns the bytes used there. */
static size_t rec_view(const struct access_snapshot *ix, const struct ax_scope *s, const char *key,
                       const struct ax_rec *r, char *id, struct model_access_assignment *out)
{
    size_t len;

    if (r->flags & AX_EXC) {
        const struct ax_exc *e = &ix->exc[r->principal];
        *out = (struct model_access_assignment){
            .scope = e->scope,
            .scope_key = key,
            .role = e->role,
            .principal_id = e->principal_id,
            .principal_type = e->principal_type,
            .grant_id = e->grant_id,
            .assignment_id = e->assignment_id,
            .expires_at = e->expires_at,
            .activation_id = e->activation_id,
        };
        return 0;
    }
    len = strlen(s->scope);
    memcpy(id, s->scope, len);
    memcpy(id + len, RA_SUFFIX, RA_SUFFIX_LEN);
    guid_format(r->guid, id + len + RA_SUFFIX_LEN);
    *out = (struct model_access_assignment){
        .scope = s->scope,
        .scope_key = key,
        .role = (enum model_grant_role)r->role,
        .principal_id = ID_AT(ix, r->principal),
        .principal_type = ix->small[r->ptype],
        .assignment_id = id,
        .json_plain = s->plain,
    };
    return len + RA_SUFFIX_LEN + GUID_LEN + 1;
}

struct rec_sort {
    struct model_access_assignment a;
    struct ax_rec r;
};

static int rec_sort_cmp(const void *x, const void *y)
{
    return model_access_order(&((const struct rec_sort *)x)->a, &((const struct rec_sort *)y)->a);
}

/* Each scope's rows in model_access_order. A request reads the rows of a subscription, a group
 * and a VM in that order, which is their keys' order too, so its rows come sorted (unless it
 * has rows of the grants half) and model_access_dedupe does not sort them. */
static void sort_recs(struct access_snapshot *ix)
{
    struct rec_sort *t = NULL;
    char *ids = NULL;
    size_t cap = 0, idcap = 0;

    for (size_t i = 0; i < ix->nscopes; i++) {
        const struct ax_scope *s = &ix->scopes[i];
        size_t used = 0;
        if (s->n < 2)
            continue;
        t = grow(t, &cap, s->n, sizeof(*t));
        ids = grow(ids, &idcap, s->n * rec_arena_need(s), 1);
        for (uint32_t j = 0; j < s->n; j++) {
            t[j].r = ix->recs[s->first + j];
            used += rec_view(ix, s, s->scope, &t[j].r, ids + used, &t[j].a);
        }
        qsort(t, s->n, sizeof(*t), rec_sort_cmp);
        for (uint32_t j = 0; j < s->n; j++)
            ix->recs[s->first + j] = t[j].r;
    }
    free(t);
    free(ids);
}

/* Finds each key's scope (sc[k], NULL if none; found[k] its place or -1) and what its rows
 * need; false if a key is not lowercase. */
static bool find_keys(const struct access_snapshot *ix, const char *const *keys, size_t nkeys,
                      const struct ax_scope **sc, long *found, size_t *total, size_t *need)
{
    uint32_t hash = HASH_START;
    size_t prev = 0;

    for (size_t k = 0; k < nkeys; k++) {
        long s;
        if (keys[k] == NULL || !is_lower(keys[k]))
            return false;
        /* a key that extends the one before (subscription, group, VM) continues its hash */
        if (k == 0 || strncmp(keys[k], keys[k - 1], prev) != 0) {
            hash = HASH_START;
            prev = 0;
        }
        hash = hash_more(hash, keys[k] + prev);
        prev = strlen(keys[k]);
        s = scope_find_hashed(ix, keys[k], prev, hash);
        if (found != NULL)
            found[k] = s;
        sc[k] = s >= 0 ? &ix->scopes[s] : NULL;
        if (sc[k] != NULL) {
            *total += sc[k]->n;
            *need += sc[k]->n * rec_arena_need(sc[k]);
        }
    }
    return true;
}

bool access_index_at_scopes(const struct access_snapshot *ix, const char *const *keys, size_t nkeys,
                            struct model_access_assignment **out, size_t *n, char **arena,
                            long *found)
{
    const struct ax_scope *sc[ACCESS_INDEX_KEYS_MAX];
    size_t total = 0, need = 1, w = 0, used = 0;
    struct model_access_assignment *a;
    char *buf;

    *out = NULL;
    *n = 0;
    *arena = NULL;
    if (nkeys > ACCESS_INDEX_KEYS_MAX || !find_keys(ix, keys, nkeys, sc, found, &total, &need))
        return false;
    a = xcalloc(total ? total : 1, sizeof(*a));
    buf = xmalloc(need);
    /* observed rows first, then the grants half, as the SQL union gives them */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < nkeys; k++) {
            if (sc[k] == NULL)
                continue;
            for (uint32_t i = 0; i < sc[k]->n; i++) {
                const struct ax_rec *r = &ix->recs[sc[k]->first + i];
                if (((r->flags & AX_GRANTED) != 0) != (pass == 1))
                    continue;
                used += rec_view(ix, sc[k], keys[k], r, buf + used, &a[w++]);
            }
        }
    }
    *out = a;
    *n = model_access_dedupe(a, w);
    *arena = buf;
    return true;
}

void access_index_members_of(const struct access_snapshot *ix, const char *const *groups,
                             size_t ngroups, struct model_access_member **out, size_t *n)
{
    size_t total = 0, w = 0;
    long *g = xcalloc(ngroups + 1, sizeof(*g));
    struct model_access_member *m;

    for (size_t i = 0; i < ngroups; i++) {
        g[i] = id_find(ix, groups[i]);
        for (size_t j = 0; j < i && g[i] >= 0; j++) {
            if (g[j] == g[i])
                g[i] = -1; /* the SQL IN list dedupes */
        }
        if (g[i] >= 0)
            total += ix->mem_n[g[i]];
    }
    m = xcalloc(total + 1, sizeof(*m));
    for (size_t i = 0; i < ngroups; i++) {
        if (g[i] < 0)
            continue;
        const char *root = ID_AT(ix, g[i]);
        for (uint32_t j = 0; j < ix->mem_n[g[i]]; j++) {
            const struct ax_member *x = &ix->members[ix->mem_first[g[i]] + j];
            m[w++] = (struct model_access_member){.group_id = root,
                                                  .member_id = ID_AT(ix, x->member),
                                                  .member_kind = ix->small[x->kind]};
        }
    }
    free(g);
    *out = m;
    *n = w;
}

void access_index_vm(const struct access_snapshot *ix, long scope, struct access_vm_facts *out)
{
    const struct ax_scope *s =
        scope >= 0 && (size_t)scope < ix->nscopes ? &ix->scopes[scope] : NULL;

    *out = (struct access_vm_facts){0};
    if (s == NULL || (s->vm & AX_VM_ROW) == 0)
        return;
    *out = (struct access_vm_facts){.found = true,
                                    .gone = (s->vm & AX_VM_GONE) != 0,
                                    .computer_name = s->name != 0 ? ix->names + s->name : ""};
}

const struct access_known *access_index_known(const struct access_snapshot *ix, const char *id)
{
    uintptr_t at = (uintptr_t)id, base = (uintptr_t)ix->ids;
    long i;

    if (id == NULL)
        return NULL;
    if (at >= base && at < base + ix->nids * ID_SLOT)
        i = (long)((at - base) / ID_SLOT); /* an id the index handed out */
    else
        i = id_find(ix, id);
    return i >= 0 && ix->known[i].principal != NULL ? &ix->known[i] : NULL;
}
