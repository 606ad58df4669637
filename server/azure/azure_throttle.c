/* azure_throttle.c: client-side token buckets per (key, read|write|delete), mirroring ARM's
 * subscription limits, so vmlogind stays under the throttle by itself. A bucket also follows
 * the server's x-ms-ratelimit-remaining-* count and, after a 429, stays shut until Retry-After
 * has passed: no request is ever sent into a bucket the server throttles. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

#define THROTTLE_SLOTS 256
#define THROTTLE_KEY_MAX 128

struct bucket {
    double tokens;
    int64_t last_ms;          /* of the last refill */
    int64_t blocked_until_ms; /* 0: not blocked */
};

struct entry {
    struct entry *next;
    char key[THROTTLE_KEY_MAX];
    struct bucket b[AZURE_OP_KINDS];
};

struct azure_throttle {
    pthread_mutex_t mu;
    struct azure_throttle_limits lim;
    struct entry *slots[THROTTLE_SLOTS];
};

struct azure_throttle *azure_throttle_new(const struct azure_throttle_limits *lim)
{
    struct azure_throttle *t = xcalloc(1, sizeof(*t));

    pthread_mutex_init(&t->mu, NULL);
    t->lim = *lim;
    return t;
}

void azure_throttle_free(struct azure_throttle *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < THROTTLE_SLOTS; i++) {
        struct entry *e = t->slots[i];

        while (e != NULL) {
            struct entry *next = e->next;

            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

enum azure_op_kind azure_throttle_kind(const char *method)
{
    if (strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0)
        return AZURE_OP_READ;
    if (strcasecmp(method, "DELETE") == 0)
        return AZURE_OP_DELETE;
    return AZURE_OP_WRITE;
}

/* Called with the lock held. Keys compare case-insensitively (ARM ids do). */
static struct entry *lookup(struct azure_throttle *t, const char *key, int64_t now_ms)
{
    char k[THROTTLE_KEY_MAX];
    uint32_t h = 2166136261u;
    size_t n = 0;
    struct entry *e;

    if (key == NULL)
        key = "";
    for (; key[n] != '\0' && n + 1 < sizeof(k); n++) {
        k[n] = (char)tolower((unsigned char)key[n]);
        h = (h ^ (unsigned char)k[n]) * 16777619u;
    }
    k[n] = '\0';
    for (e = t->slots[h % THROTTLE_SLOTS]; e != NULL; e = e->next) {
        if (strcmp(e->key, k) == 0)
            return e;
    }
    e = xcalloc(1, sizeof(*e));
    memcpy(e->key, k, n + 1);
    for (int i = 0; i < AZURE_OP_KINDS; i++) {
        e->b[i].tokens = t->lim.capacity[i];
        e->b[i].last_ms = now_ms;
    }
    e->next = t->slots[h % THROTTLE_SLOTS];
    t->slots[h % THROTTLE_SLOTS] = e;
    return e;
}

static void refill(const struct azure_throttle *t, struct bucket *b, enum azure_op_kind kind,
                   int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * t->lim.rate[kind] / 1000.0;
        if (b->tokens > t->lim.capacity[kind])
            b->tokens = t->lim.capacity[kind];
        b->last_ms = now_ms;
    }
}

int64_t azure_throttle_try(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                           int64_t now_ms)
{
    struct bucket *b;
    int64_t wait = 0;

    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, now_ms)->b[kind];
    refill(t, b, kind, now_ms);
    if (b->blocked_until_ms > now_ms) {
        wait = b->blocked_until_ms - now_ms;
    } else if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double rate = t->lim.rate[kind] > 0 ? t->lim.rate[kind] : 1.0;

        wait = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / rate);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return wait;
}

enum err azure_throttle_acquire(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                                int64_t deadline_ms)
{
    for (;;) {
        int64_t now = clock_mono_ms();
        int64_t wait = azure_throttle_try(t, key, kind, now);

        if (wait == 0)
            return ERR_OK;
        if (now + wait > deadline_ms)
            return ERR_CLOUD_THROTTLED;
        clock_sleep_ms(wait);
    }
}

void azure_throttle_observe(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                            long remaining, int64_t now_ms)
{
    struct bucket *b;

    if (remaining < 0)
        return;
    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, now_ms)->b[kind];
    refill(t, b, kind, now_ms);
    if (b->tokens > (double)remaining)
        b->tokens = (double)remaining;
    pthread_mutex_unlock(&t->mu);
}

void azure_throttle_block(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                          int64_t until_ms)
{
    struct bucket *b;
    int64_t now = clock_mono_ms();

    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, now)->b[kind];
    refill(t, b, kind, now);
    b->tokens = 0;
    if (until_ms + t->lim.margin_ms > b->blocked_until_ms)
        b->blocked_until_ms = until_ms + t->lim.margin_ms;
    pthread_mutex_unlock(&t->mu);
}

double azure_throttle_tokens(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                             int64_t now_ms)
{
    struct bucket *b;
    double v;

    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, now_ms)->b[kind];
    refill(t, b, kind, now_ms);
    v = b->tokens;
    pthread_mutex_unlock(&t->mu);
    return v;
}
