/* sim_map.c: the small containers azsim's indices are made of: an open-addressing string map,
 * a pointer vector, and case-insensitive string helpers. No locking: callers hold S.mu. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"
#include "vmlogind/xalloc.h"

static char TOMBSTONE[1];

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void sim_map_init(struct sim_map *m)
{
    memset(m, 0, sizeof(*m));
}

void sim_map_cleanup(struct sim_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] && m->keys[i] != TOMBSTONE)
            free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static size_t find_slot(const struct sim_map *m, const char *key, bool *found)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash(key) & mask;
    size_t first_tomb = SIZE_MAX;

    *found = false;
    for (;;) {
        char *k = m->keys[i];
        if (!k)
            return first_tomb != SIZE_MAX ? first_tomb : i;
        if (k == TOMBSTONE) {
            if (first_tomb == SIZE_MAX)
                first_tomb = i;
        } else if (strcmp(k, key) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void grow(struct sim_map *m)
{
    struct sim_map old = *m;
    size_t cap = old.cap ? old.cap * 2 : 64;
    bool found;

    if (old.cap && old.len * 4 < old.cap)
        cap = old.cap; /* mostly tombstones: rehash in place size */
    m->keys = xcalloc(cap, sizeof(char *));
    m->vals = xcalloc(cap, sizeof(void *));
    m->cap = cap;
    m->len = 0;
    m->used = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.keys[i] || old.keys[i] == TOMBSTONE)
            continue;
        size_t s = find_slot(m, old.keys[i], &found);
        m->keys[s] = old.keys[i];
        m->vals[s] = old.vals[i];
        m->len++;
        m->used++;
    }
    free(old.keys);
    free(old.vals);
}

void *sim_map_get(const struct sim_map *m, const char *key)
{
    bool found;
    size_t i;

    if (!m->cap || !key)
        return NULL;
    i = find_slot(m, key, &found);
    return found ? m->vals[i] : NULL;
}

void sim_map_put(struct sim_map *m, const char *key, void *val)
{
    bool found;
    size_t i;

    if ((m->used + 1) * 4 >= m->cap * 3)
        grow(m);
    i = find_slot(m, key, &found);
    if (found) {
        m->vals[i] = val;
        return;
    }
    if (!m->keys[i])
        m->used++;
    m->keys[i] = xstrdup(key);
    m->vals[i] = val;
    m->len++;
}

void *sim_map_del(struct sim_map *m, const char *key)
{
    bool found;
    size_t i;
    void *v;

    if (!m->cap)
        return NULL;
    i = find_slot(m, key, &found);
    if (!found)
        return NULL;
    v = m->vals[i];
    free(m->keys[i]);
    m->keys[i] = TOMBSTONE;
    m->vals[i] = NULL;
    m->len--;
    return v;
}

bool sim_map_at(const struct sim_map *m, size_t i, const char **key, void **val)
{
    if (i >= m->cap || !m->keys[i] || m->keys[i] == TOMBSTONE)
        return false;
    *key = m->keys[i];
    *val = m->vals[i];
    return true;
}

void sim_vec_push(struct sim_vec *v, void *p)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->items = xreallocarray(v->items, v->cap, sizeof(void *));
    }
    v->items[v->len++] = p;
}

bool sim_vec_remove(struct sim_vec *v, const void *p)
{
    for (size_t i = v->len; i-- > 0;) {
        if (v->items[i] == p) {
            memmove(&v->items[i], &v->items[i + 1], (v->len - i - 1) * sizeof(void *));
            v->len--;
            return true;
        }
    }
    return false;
}

void sim_vec_cleanup(struct sim_vec *v)
{
    free(v->items);
    memset(v, 0, sizeof(*v));
}

char *sim_lc(const char *s)
{
    char *o = xstrdup(s ? s : "");

    for (char *p = o; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return o;
}

bool sim_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool sim_iprefix(const char *s, const char *prefix)
{
    return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

const char *sim_or(const char *a, const char *b)
{
    return a ? a : b;
}

bool sim_parse_quoted(const char *s, const char *prefix, char *out, size_t cap, const char **rest)
{
    size_t n = 0;

    if (!s || !sim_iprefix(s, prefix))
        return false;
    s += strlen(prefix);
    while (*s && n + 1 < cap) {
        if (s[0] == '\'' && s[1] == '\'') {
            out[n++] = '\'';
            s += 2;
        } else if (s[0] == '\'') {
            break;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    if (*s != '\'')
        return false;
    if (rest)
        *rest = s + 1;
    return true;
}
