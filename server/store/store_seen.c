/* store_seen.c: the scratch side of sync passes: statements on this connection's TEMP tables,
 * whose changes are kept out of store_changes() so a pass that writes nothing observed reports
 * zero. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store_seen.h"
#include "vmlogind/xalloc.h"

enum err store_seen_step(struct store *st, struct store_q *s, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    int64_t n = 0, before;
    enum err e;

    if (c == NULL)
        return ERR_STORE;
    /* measured as the connection's total before and after: sqlite3_changes() is stale after a
     * statement that is not INSERT/UPDATE/DELETE (CREATE TEMP TABLE), which once made a
     * re-sync report -2 rows written */
    before = store_changes(st);
    e = store_exec_count(s, &n, d, "sync scratch");
    c->scratch_changes += store_changes(st) - before;
    return e;
}

enum err store_seen_exec(struct store *st, const char *sql, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    return e == ERR_OK ? store_seen_step(st, s, d) : e;
}

enum err store_collect(struct store_q *s, size_t elem_size, void (*row)(struct store_q *, void *),
                       void (*clear)(void *), void **out, size_t *n, struct err_detail *d,
                       const char *what)
{
    size_t cap = 16;
    char *arr = xcalloc(cap, elem_size);
    int rc;

    *n = 0;
    while ((rc = store_step(s)) == STORE_ROW) {
        if (*n == cap) {
            arr = xreallocarray(arr, xmul(cap, 2), elem_size);
            memset(arr + cap * elem_size, 0, cap * elem_size);
            cap *= 2;
        }
        row(s, arr + (*n)++ * elem_size);
    }
    if (rc != STORE_DONE) {
        for (size_t i = 0; i < *n; i++)
            clear(arr + i * elem_size);
        free(arr);
        *out = NULL;
        *n = 0;
        return store_fail(s, rc, d, what);
    }
    store_reset(s);
    *out = arr;
    return ERR_OK;
}

enum err store_batch(struct store *st, store_batch_fn fn, const void *items, size_t n, int64_t now,
                     size_t *changed, struct err_detail *d)
{
    size_t dummy = 0;
    bool own;
    enum err rc;

    if (changed == NULL)
        changed = &dummy;
    *changed = 0;
    rc = store_own_tx_begin(st, &own, d);
    if (rc != ERR_OK)
        return rc;
    rc = fn(st, items, n, now, changed, d);
    rc = store_own_tx_end(st, own, rc, d);
    if (rc != ERR_OK)
        *changed = 0;
    return rc;
}

enum err store_seen_reset(struct store *st, const char *create_sql, const char *reset_sql,
                          struct err_detail *d)
{
    enum err e = store_seen_exec(st, create_sql, d);

    return e == ERR_OK ? store_seen_exec(st, reset_sql, d) : e;
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

/* The 8 bytes of w with 'A'..'Z' made lowercase, all at once. */
static uint64_t lower8(uint64_t w)
{
    const uint64_t high = 0x8080808080808080ull;
    uint64_t low7 = w & ~high;
    uint64_t above_z = low7 + 0x2525252525252525ull; /* high bit set where the byte > 'Z' */
    uint64_t from_a = low7 + 0x3f3f3f3f3f3f3f3full;  /* high bit set where the byte >= 'A' */

    return w | ((from_a & ~above_z & ~w & high) >> 2);
}

/* n bytes of s hashed 8 at a time (ASCII-lowercased when lower), the length ending them. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n, bool lower)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;

        memcpy(&w, s + i, 8);
        h = (h ^ (lower ? lower8(w) : w)) * 0x9fb21c651e98df25ull;
        h ^= h >> 29;
    }
    if (i < n) {
        uint64_t w = 0;

        memcpy(&w, s + i, n - i);
        h = (h ^ (lower ? lower8(w) : w)) * 0x9fb21c651e98df25ull;
    }
    return mix(h ^ ((uint64_t)n << 1));
}

/* The ASCII-lowercased key (as SQL lower() makes id_key), hashed; never 0 (a free slot). */
static uint64_t key_hash_n(const char *k, size_t n)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, k, n, true);

    return h != 0 ? h : 1;
}

static uint64_t key_hash(const char *k)
{
    return key_hash_n(k, strlen(k));
}

static size_t slot_of(const uint64_t *tab, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);

    while (tab[i] != 0 && tab[i] != h)
        i = (i + 1) & (cap - 1);
    return i;
}

struct store_seen *store_seen_new(void)
{
    return xcalloc(1, sizeof(struct store_seen));
}

void store_seen_free(struct store_seen *s)
{
    if (s == NULL)
        return;
    free(s->h);
    store_seen_known_forget(s);
    free(s);
}

void seen_set_add(struct store_seen *s, const char *key)
{
    uint64_t h = key_hash(key);
    size_t i;

    if (s == NULL)
        return;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap != 0 ? 2 * s->cap : 4096;
        uint64_t *tab = xcalloc(cap, sizeof(*tab));

        for (size_t j = 0; j < s->cap; j++) {
            if (s->h[j] != 0)
                tab[slot_of(tab, cap, s->h[j])] = s->h[j];
        }
        free(s->h);
        s->h = tab;
        s->cap = cap;
    }
    i = slot_of(s->h, s->cap, h);
    if (s->h[i] == 0) {
        s->h[i] = h;
        s->n++;
    }
}

bool seen_set_has(const struct store_seen *s, const char *key)
{
    if (s == NULL || s->cap == 0)
        return false;
    return s->h[slot_of(s->h, s->cap, key_hash(key))] != 0;
}

/* ---- the facts present at the start of a pass ---------------------------------------------- */

uint64_t store_seen_hash_text(uint64_t h, const char *s, bool lower)
{
    return hash_bytes(h, s, strlen(s), lower);
}

uint64_t store_seen_hash_int(uint64_t h, int64_t v, bool null)
{
    return mix((h ^ (uint64_t)v) * 0x9fb21c651e98df25ull ^ (null ? 1u : 2u));
}

static size_t known_slot(const struct store_seen *s, uint64_t k)
{
    return slot_of(s->known_key, s->known_cap, k);
}

static void known_insert(struct store_seen *s, uint64_t k, uint64_t facts, uint64_t group)
{
    size_t i;

    if (2 * (s->known_n + 1) > s->known_cap) {
        size_t cap = s->known_cap != 0 ? 2 * s->known_cap : 4096;
        struct store_seen grown = {.known_cap = cap};

        grown.known_key = xcalloc(cap, sizeof(uint64_t));
        grown.known_facts = xcalloc(cap, sizeof(uint64_t));
        grown.known_group = xcalloc(cap, sizeof(uint64_t));
        for (size_t j = 0; j < s->known_cap; j++) {
            if (s->known_key[j] != 0) {
                i = known_slot(&grown, s->known_key[j]);
                grown.known_key[i] = s->known_key[j];
                grown.known_facts[i] = s->known_facts[j];
                grown.known_group[i] = s->known_group[j];
            }
        }
        free(s->known_key);
        free(s->known_facts);
        free(s->known_group);
        s->known_key = grown.known_key;
        s->known_facts = grown.known_facts;
        s->known_group = grown.known_group;
        s->known_cap = cap;
    }
    i = known_slot(s, k);
    if (s->known_key[i] == 0) {
        s->known_key[i] = k;
        s->known_n++;
    }
    s->known_facts[i] = facts;
    s->known_group[i] = group;
}

void store_seen_known_put(struct store_seen *s, const char *key, uint64_t facts)
{
    size_t i;

    if (s == NULL || s->known_cap == 0)
        return;
    i = known_slot(s, key_hash(key));
    if (s->known_key[i] != 0)
        s->known_facts[i] = facts;
}

bool store_seen_known_same(const struct store_seen *s, const char *key, uint64_t facts)
{
    size_t i;

    if (s == NULL || s->known_cap == 0)
        return false;
    i = known_slot(s, key_hash(key));
    return s->known_key[i] != 0 && s->known_facts[i] != 0 && s->known_facts[i] == facts;
}

/* The facts hash of the current row of rows: columns 1.. */
static uint64_t row_facts(struct store_q *rows)
{
    uint64_t h = SEEN_FACTS_SEED;
    int n = col_count(rows);

    for (int i = 1; i < n; i++) {
        if (col_null(rows, i))
            h = store_seen_hash_int(h, 0, true);
        else if (col_is_int(rows, i))
            h = store_seen_hash_int(h, col_int64(rows, i), false);
        else
            h = store_seen_hash_text(h, col_view(rows, i), false);
    }
    return h;
}

void store_seen_known_forget(struct store_seen *s)
{
    if (s == NULL)
        return;
    free(s->known_key);
    free(s->known_facts);
    free(s->known_group);
    s->known_key = s->known_facts = s->known_group = NULL;
    s->known_cap = s->known_n = 0;
    s->known_loaded = false;
}

void store_seen_rolled_back(struct store_seen *s)
{
    store_seen_known_forget(s);
}

/* The subscription that text (a scope, or a bare subscription id when it does not start with
 * '/') lies in, hashed; 0 for a scope above every subscription. */
uint64_t store_seen_group_of(const char *text)
{
    static const char prefix[] = "/subscriptions/";
    size_t n = sizeof(prefix) - 1;

    if (text == NULL || text[0] != '/')
        return text != NULL ? key_hash(text) : 0;
    if (strncasecmp(text, prefix, n) != 0)
        return 0;
    return key_hash_n(text + n, strcspn(text + n, "/"));
}

enum err store_seen_known_load(struct store_seen *set, struct store_q *rows, int group_col,
                               struct err_detail *d, const char *what)
{
    int rc;

    set->known_loaded = true;
    while ((rc = store_step(rows)) == STORE_ROW) {
        const char *k = col_view(rows, 0);

        if (k != NULL)
            known_insert(set, key_hash(k), row_facts(rows),
                         store_seen_group_of(col_view(rows, group_col)));
    }
    if (rc != STORE_DONE)
        return store_fail(rows, rc, d, what);
    store_reset(rows);
    return ERR_OK;
}

static enum err unseen(const struct store_seen *set, struct store_q *s, char ***keys, size_t *n,
                       struct err_detail *d, const char *what)
{
    size_t cap = 0;
    int rc;

    while ((rc = store_step(s)) == STORE_ROW) {
        const char *k = col_view(s, 0);

        if (k == NULL || seen_set_has(set, k))
            continue;
        if (*n == cap) {
            cap = cap != 0 ? 2 * cap : 16;
            *keys = xreallocarray(*keys, cap, sizeof(**keys));
        }
        (*keys)[(*n)++] = xstrdup(k);
    }
    if (rc != STORE_DONE)
        return store_fail(s, rc, d, what);
    store_reset(s);
    return ERR_OK;
}

static enum err mark_each(struct store *st, struct store_seen *set, const char *sql, char **keys,
                          size_t n, int64_t now, size_t *gone, struct err_detail *d,
                          const char *what)
{
    struct store_q *s;
    int64_t c;
    enum err e = store_stmt(st, sql, &s, d);

    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        bind_text(s, ":id_key", keys[i]);
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &c, d, what);
        *gone += (size_t)c;
        store_seen_known_put(set, keys[i], 0); /* gone: listed again, it is written back */
    }
    return e;
}

enum err seen_set_mark_unseen(struct store *st, struct store_seen *set, struct store_q *present,
                              const char *mark_sql, int64_t now, size_t *gone, struct err_detail *d,
                              const char *what)
{
    char **keys = NULL;
    size_t n = 0;
    size_t marked = 0;
    bool own = false;
    enum err e = unseen(set, present, &keys, &n, d, what);

    if (e == ERR_OK && n > 0) {
        e = store_own_tx_begin(st, &own, d);
        if (e == ERR_OK)
            e = store_own_tx_end(st, own,
                                 mark_each(st, set, mark_sql, keys, n, now, &marked, d, what), d);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    if (gone != NULL)
        *gone = e == ERR_OK ? marked : 0;
    return e;
}

bool store_seen_known_all_seen(const struct store_seen *set, const char *subscription_id)
{
    uint64_t g = subscription_id != NULL ? store_seen_group_of(subscription_id) : 0;

    if (set == NULL || !set->known_loaded)
        return false;
    for (size_t i = 0; i < set->known_cap; i++) {
        if (set->known_key[i] != 0 && set->known_group[i] == g &&
            set->h[slot_of(set->h, set->cap, set->known_key[i])] == 0)
            return false;
    }
    return true;
}

/* ---- PostgreSQL: the pass's scratch sets in memory ------------------------------------------ */

struct store_pg_scratch *store_pg_scratch(struct store *st, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);

    if (c == NULL)
        return NULL;
    if (c->pg_scratch == NULL) {
        c->pg_scratch = xcalloc(1, sizeof(*c->pg_scratch));
        c->pg_scratch->exts = store_seen_new();
        c->pg_scratch->groups = json_array();
    }
    return c->pg_scratch;
}

void store_pg_scratch_free(struct store_pg_scratch *s)
{
    if (s == NULL)
        return;
    store_seen_free(s->exts);
    json_decref(s->groups);
    free(s);
}

char *store_pg_scratch_ext_key(const char *vm_id, const char *name)
{
    return xasprintf("%s\n%s", vm_id, name);
}
