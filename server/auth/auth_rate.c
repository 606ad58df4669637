/* auth_rate.c: per-caller rate limits, a token bucket per identity in a small hash table
 * under one mutex. A bucket idle long enough to have refilled is the same as a new one, so
 * when the table is full those are forgotten first, then the least recently seen. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/auth.h"
#include "vmlogind/xalloc.h"

#define RATE_BUCKETS 1024

struct rate_node {
    struct rate_node *next;
    double tokens;
    int64_t last_ms;
    char id[];
};

struct auth_rate {
    pthread_mutex_t mu;
    bool stash; /* prefetched tokens (auth_rate_stash_new): start empty, never refill */
    double rps;
    double burst;
    size_t max_ids;
    size_t count;
    struct rate_node *table[RATE_BUCKETS];
};

struct auth_rate *auth_rate_new(double rps, double burst, size_t max_ids)
{
    struct auth_rate *r = xcalloc(1, sizeof(*r));

    pthread_mutex_init(&r->mu, NULL);
    r->rps = rps > 0 ? rps : 1;
    r->burst = burst >= 1 ? burst : 1;
    r->max_ids = max_ids > 0 ? max_ids : 1;
    return r;
}

void auth_rate_free(struct auth_rate *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < RATE_BUCKETS; i++) {
        struct rate_node *n = r->table[i];
        while (n != NULL) {
            struct rate_node *next = n->next;
            free(n);
            n = next;
        }
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static size_t hash_id(const char *s)
{
    size_t h = 5381;

    for (; *s != '\0'; s++)
        h = h * 33 + (unsigned char)*s;
    return h % RATE_BUCKETS;
}

/* Forgets buckets idle for idle_ms (or, with oldest_only, the least recently seen one);
 * returns how many. */
static size_t sweep(struct auth_rate *r, int64_t now_ms, int64_t idle_ms, bool oldest_only)
{
    struct rate_node **oldest = NULL;
    size_t removed = 0;

    for (size_t i = 0; i < RATE_BUCKETS; i++) {
        struct rate_node **pp = &r->table[i];
        while (*pp != NULL) {
            struct rate_node *n = *pp;
            if (!oldest_only && now_ms - n->last_ms >= idle_ms) {
                *pp = n->next;
                free(n);
                removed++;
                continue;
            }
            if (oldest_only && (oldest == NULL || n->last_ms < (*oldest)->last_ms))
                oldest = pp;
            pp = &n->next;
        }
    }
    if (oldest != NULL) {
        struct rate_node *n = *oldest;
        *oldest = n->next;
        free(n);
        removed++;
    }
    r->count -= removed;
    return removed;
}

static struct rate_node *find_or_add(struct auth_rate *r, const char *id, int64_t now_ms)
{
    size_t h = hash_id(id);
    struct rate_node *n;
    size_t len;

    for (n = r->table[h]; n != NULL; n = n->next)
        if (strcmp(n->id, id) == 0)
            return n;
    if (r->count >= r->max_ids) {
        int64_t refill_ms = (int64_t)ceil(r->burst / r->rps * 1000.0);
        if (sweep(r, now_ms, refill_ms, false) == 0)
            sweep(r, now_ms, 0, true);
    }
    len = strlen(id);
    n = xmalloc(sizeof(*n) + len + 1);
    memcpy(n->id, id, len + 1);
    n->tokens = r->stash ? 0 : r->burst;
    n->last_ms = now_ms;
    n->next = r->table[h];
    r->table[h] = n;
    r->count++;
    return n;
}

bool auth_rate_take(struct auth_rate *r, const char *id, int64_t now_ms, int64_t *retry_after_ms)
{
    struct rate_node *n;
    bool ok;

    pthread_mutex_lock(&r->mu);
    n = find_or_add(r, id, now_ms);
    if (now_ms > n->last_ms) {
        n->tokens += (double)(now_ms - n->last_ms) * r->rps / 1000.0;
        if (n->tokens > r->burst)
            n->tokens = r->burst;
        n->last_ms = now_ms;
    }
    ok = n->tokens >= 1.0;
    if (ok)
        n->tokens -= 1.0;
    else if (retry_after_ms != NULL)
        *retry_after_ms = (int64_t)ceil((1.0 - n->tokens) * 1000.0 / r->rps);
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* ---- prefetched tokens of a shared bucket ----------------------------------------------- */

struct auth_rate *auth_rate_stash_new(size_t max_ids)
{
    /* rps 1, burst 1: an entry idle for a second (its tokens expired) is the first forgotten */
    struct auth_rate *r = auth_rate_new(1, 1, max_ids);

    r->stash = true;
    return r;
}

bool auth_rate_stash_take(struct auth_rate *r, const char *id, int64_t now_ms)
{
    struct rate_node *n;
    bool ok;

    pthread_mutex_lock(&r->mu);
    n = find_or_add(r, id, now_ms);
    if (now_ms - n->last_ms >= AUTH_RATE_STASH_KEEP_MS)
        n->tokens = 0;
    ok = n->tokens >= 1.0;
    if (ok)
        n->tokens -= 1.0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void auth_rate_stash_put(struct auth_rate *r, const char *id, double tokens, int64_t now_ms)
{
    struct rate_node *n;

    pthread_mutex_lock(&r->mu);
    n = find_or_add(r, id, now_ms);
    if (now_ms - n->last_ms >= AUTH_RATE_STASH_KEEP_MS)
        n->tokens = 0;
    n->tokens += tokens;
    n->last_ms = now_ms;
    pthread_mutex_unlock(&r->mu);
}
