/* store_seen.c: the scratch side of sync passes: statements on this connection's TEMP tables,
 * whose changes are kept out of store_changes() so a pass that writes nothing observed reports
 * zero. */
#include <stdlib.h>
#include <string.h>

#include "store/store_seen.h"
#include "vmlogind/xalloc.h"

enum err store_seen_step(struct store *st, sqlite3_stmt *s, struct err_detail *d)
{
    struct store_conn *c = store_conn_get(st, d);
    int64_t n = 0, before;
    enum err e;

    if (c == NULL)
        return ERR_STORE;
    /* measured as the connection's total before and after: sqlite3_changes() is stale after a
     * statement that is not INSERT/UPDATE/DELETE (CREATE TEMP TABLE), which once made a
     * re-sync report -2 rows written */
    before = sqlite3_total_changes64(c->db);
    e = store_exec_count(s, &n, d, "sync scratch");
    c->scratch_changes += sqlite3_total_changes64(c->db) - before;
    return e;
}

enum err store_seen_exec(struct store *st, const char *sql, struct err_detail *d)
{
    sqlite3_stmt *s;
    enum err e = store_stmt(st, sql, &s, d);

    return e == ERR_OK ? store_seen_step(st, s, d) : e;
}

enum err store_collect(sqlite3_stmt *s, size_t elem_size, void (*row)(sqlite3_stmt *, void *),
                       void (*clear)(void *), void **out, size_t *n, struct err_detail *d,
                       const char *what)
{
    size_t cap = 16;
    char *arr = xcalloc(cap, elem_size);
    int rc;

    *n = 0;
    while ((rc = store_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            arr = xreallocarray(arr, xmul(cap, 2), elem_size);
            memset(arr + cap * elem_size, 0, cap * elem_size);
            cap *= 2;
        }
        row(s, arr + (*n)++ * elem_size);
    }
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < *n; i++)
            clear(arr + i * elem_size);
        free(arr);
        *out = NULL;
        *n = 0;
        return store_fail(s, rc, d, what);
    }
    sqlite3_reset(s);
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

static uint64_t key_hash(const char *k)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the ASCII-lowercased key, then mixed */

    for (const unsigned char *p = (const unsigned char *)k; *p != '\0'; p++) {
        unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;

        h = (h ^ c) * 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h != 0 ? h : 1;
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

static enum err unseen(const struct store_seen *set, sqlite3_stmt *s, char ***keys, size_t *n,
                       struct err_detail *d, const char *what)
{
    size_t cap = 0;
    int rc;

    while ((rc = store_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);

        if (k == NULL || seen_set_has(set, k))
            continue;
        if (*n == cap) {
            cap = cap != 0 ? 2 * cap : 16;
            *keys = xreallocarray(*keys, cap, sizeof(**keys));
        }
        (*keys)[(*n)++] = xstrdup(k);
    }
    if (rc != SQLITE_DONE)
        return store_fail(s, rc, d, what);
    sqlite3_reset(s);
    return ERR_OK;
}

static enum err mark_each(struct store *st, const char *sql, char **keys, size_t n, int64_t now,
                          size_t *gone, struct err_detail *d, const char *what)
{
    sqlite3_stmt *s;
    int64_t c;
    enum err e = store_stmt(st, sql, &s, d);

    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        bind_text(s, ":id_key", keys[i]);
        bind_int64(s, ":now", now);
        e = store_exec_count(s, &c, d, what);
        *gone += (size_t)c;
    }
    return e;
}

enum err seen_set_mark_unseen(struct store *st, const struct store_seen *set, sqlite3_stmt *present,
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
            e = store_own_tx_end(st, own, mark_each(st, mark_sql, keys, n, now, &marked, d, what),
                                 d);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    if (gone != NULL)
        *gone = e == ERR_OK ? marked : 0;
    return e;
}
