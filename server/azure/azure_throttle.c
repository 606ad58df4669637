/* azure_throttle.c: client-side token buckets per (key, read|write|delete), mirroring ARM's
 * subscription limits, so vmlogind stays under the throttle by itself. A bucket also follows
 * the server's x-ms-ratelimit-remaining-* count and counts the requests it let out (in flight):
 *  - while requests are in flight, another is let out only if the server's last count (less
 *    those in flight) still has room for it; a request beyond that count goes alone, so the
 *    server's 429 to it is known before anyone else sends;
 *  - after a 429 the bucket is shut for every caller until Retry-After (+ margin) has passed,
 *    without refilling meanwhile; then one request probes, and the others wait for its answer
 *    (the first request to a new bucket is such a probe too: nothing is known of it yet).
 * So no request is sent into a bucket the server throttles (azsim counts such "violations"). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "azure/azure_internal.h"
#include "vmlogind/clock.h"
#include "vmlogind/xalloc.h"

#define THROTTLE_SLOTS 256
#define THROTTLE_KEY_MAX 128
/* How long a caller waiting for an answer in flight sleeps at most before looking again (it is
 * woken as soon as an answer comes). */
#define THROTTLE_ANSWER_WAIT_MS 1000
/* Yielding writes (azure_throttle_try_yielding): the writes that do not yield are counted
 * with this decay (their follow-ups come within it: an identity PATCH's LRO, then the
 * extension PUT), and a yielding write is held back for this long at most in a row. */
#define THROTTLE_YIELD_DECAY_MS 30000.0
#define THROTTLE_YIELD_MAX_MS 60000
#define THROTTLE_YIELD_WAIT_MAX_MS 10000

struct bucket {
    double tokens;
    int64_t last_ms;          /* of the last refill */
    int64_t blocked_until_ms; /* 0: not blocked */
    bool probing;             /* after a 429: one request at a time until one is not a 429 */
    bool counted;             /* the server has told its remaining count */
    double confirmed;         /* requests that count still has room for */
    int inflight;             /* requests let out and not yet answered */
    uint64_t seen;            /* ticket of the newest answer whose count was taken */
    int first_waiting;        /* writes that do not yield, waiting in azure_throttle_acquire */
    double recent;            /* writes that do not yield let out, decayed to recent_ms */
    int64_t recent_ms;
    int64_t held_since_ms; /* first yielding write held back since one was let out (0: none) */
    int64_t
        expect_until_ms; /* writes that do not yield are about to come (azure_throttle_expect) */
};

struct entry {
    struct entry *next;
    char key[THROTTLE_KEY_MAX];
    struct bucket b[AZURE_OP_KINDS];
};

struct azure_throttle {
    pthread_mutex_t mu;
    pthread_cond_t answered; /* broadcast when a request let out is answered */
    struct azure_throttle_limits lim;
    uint64_t tickets;
    struct entry *slots[THROTTLE_SLOTS];
};

struct azure_throttle *azure_throttle_new(const struct azure_throttle_limits *lim)
{
    struct azure_throttle *t = xcalloc(1, sizeof(*t));

    pthread_condattr_t ca;

    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the clock of clock_mono_ms */
    pthread_cond_init(&t->answered, &ca);
    pthread_condattr_destroy(&ca);
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
    pthread_cond_destroy(&t->answered);
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
        e->b[i].probing = true; /* the first request learns the server's count, alone */
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

/* Called with the lock held: how long until the bucket's next token. */
static int64_t refill_wait(const struct azure_throttle *t, const struct bucket *b,
                           enum azure_op_kind kind)
{
    double rate = t->lim.rate[kind] > 0 ? t->lim.rate[kind] : 1.0;
    int64_t wait = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / rate);

    return wait < 1 ? 1 : wait;
}

/* Called with the lock held: lets a request out (0, *ticket set) or says how long to wait;
 * *definite is false when the wait is for an answer in flight (it may come sooner or later). */
static int64_t admit(struct azure_throttle *t, struct bucket *b, enum azure_op_kind kind,
                     int64_t now_ms, uint64_t *ticket, bool *definite)
{
    /* the probe after a 429, or a request the server's count has no room for, goes alone */
    bool alone = b->probing || (b->counted && b->confirmed < 1.0);

    *definite = true;
    refill(t, b, kind, now_ms);
    if (b->blocked_until_ms > now_ms)
        return b->blocked_until_ms - now_ms;
    if (alone && b->inflight > 0) {
        *definite = false;
        return THROTTLE_ANSWER_WAIT_MS;
    }
    if (!b->probing && b->tokens < 1.0)
        return refill_wait(t, b, kind);
    if (b->tokens >= 1.0)
        b->tokens -= 1.0; /* the probe goes without one: the bucket did not refill while shut */
    if (b->confirmed >= 1.0)
        b->confirmed -= 1.0;
    b->inflight++;
    if (ticket != NULL)
        *ticket = ++t->tickets;
    return 0;
}

/* Called with the lock held: the decayed count of writes that do not yield, to now_ms. */
static double recent_at(struct bucket *b, int64_t now_ms)
{
    if (now_ms > b->recent_ms) {
        b->recent *= exp(-(double)(now_ms - b->recent_ms) / THROTTLE_YIELD_DECAY_MS);
        b->recent_ms = now_ms;
    }
    return b->recent;
}

/* Called with the lock held: 0 when a yielding write may ask admit(), or the wait. It stands
 * back while a write that does not yield waits, and while the bucket holds no more tokens than
 * the recent such writes may need again (their follow-ups); so when tokens are plentiful (one
 * VM enabled) it goes at once. */
static int64_t yield_wait(const struct azure_throttle *t, struct bucket *b, enum azure_op_kind kind,
                          int64_t now_ms)
{
    double cap_left = t->lim.capacity[kind] - 1.0;
    double reserve = recent_at(b, now_ms);
    double rate = t->lim.rate[kind] > 0 ? t->lim.rate[kind] : 1.0;
    int64_t wait;

    if (reserve > cap_left)
        reserve = cap_left;
    refill(t, b, kind, now_ms);
    if (now_ms < b->expect_until_ms)
        reserve = cap_left; /* a rollout about to start: its first writes get the whole bucket */
    if (b->first_waiting == 0 && b->tokens >= 1.0 + reserve)
        return 0;
    if (b->held_since_ms == 0)
        b->held_since_ms = now_ms;
    if (now_ms - b->held_since_ms >= THROTTLE_YIELD_MAX_MS)
        return 0; /* held back long enough: take turns like any write */
    if (b->first_waiting > 0)
        return THROTTLE_ANSWER_WAIT_MS;
    wait = (int64_t)ceil((1.0 + reserve - b->tokens) * 1000.0 / rate);
    return wait < 100 ? 100 : wait > THROTTLE_YIELD_WAIT_MAX_MS ? THROTTLE_YIELD_WAIT_MAX_MS : wait;
}

int64_t azure_throttle_try_yielding(struct azure_throttle *t, const char *key,
                                    enum azure_op_kind kind, int64_t now_ms, uint64_t *ticket)
{
    struct bucket *b;
    bool definite;
    int64_t wait;

    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, now_ms)->b[kind];
    wait = yield_wait(t, b, kind, now_ms);
    if (wait == 0)
        wait = admit(t, b, kind, now_ms, ticket, &definite);
    if (wait == 0)
        b->held_since_ms = 0;
    pthread_mutex_unlock(&t->mu);
    return wait;
}

int64_t azure_throttle_yield_wait(struct azure_throttle *t, const char *key,
                                  enum azure_op_kind kind, int64_t now_ms)
{
    int64_t wait;

    pthread_mutex_lock(&t->mu);
    wait = yield_wait(t, lookup(t, key, now_ms)->b + kind, kind, now_ms);
    pthread_mutex_unlock(&t->mu);
    return wait;
}

void azure_throttle_expect(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                           int64_t until_ms)
{
    struct bucket *b;

    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, clock_mono_ms())->b[kind];
    if (until_ms > b->expect_until_ms)
        b->expect_until_ms = until_ms;
    pthread_mutex_unlock(&t->mu);
}

int64_t azure_throttle_try(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                           int64_t now_ms, uint64_t *ticket)
{
    bool definite;
    int64_t wait;

    pthread_mutex_lock(&t->mu);
    wait = admit(t, &lookup(t, key, now_ms)->b[kind], kind, now_ms, ticket, &definite);
    pthread_mutex_unlock(&t->mu);
    return wait;
}

enum err azure_throttle_acquire(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                                int64_t deadline_ms, uint64_t *ticket)
{
    enum err rc = ERR_OK;

    struct bucket *b;

    pthread_mutex_lock(&t->mu);
    b = &lookup(t, key, clock_mono_ms())->b[kind];
    b->first_waiting++; /* yielding writes stand back meanwhile */
    for (;;) {
        int64_t now = clock_mono_ms();
        bool definite;
        int64_t wait = admit(t, b, kind, now, ticket, &definite);
        int64_t until;
        struct timespec ts;

        if (wait == 0) {
            b->recent = recent_at(b, now) + 1.0;
            break;
        }
        if (now + wait > deadline_ms && (definite || now >= deadline_ms)) {
            rc = ERR_CLOUD_THROTTLED;
            break;
        }
        until = now + wait < deadline_ms ? now + wait : deadline_ms;
        ts.tv_sec = (time_t)(until / 1000);
        ts.tv_nsec = (long)(until % 1000) * 1000000L;
        (void)pthread_cond_timedwait(&t->answered, &t->mu, &ts); /* woken by an answer */
    }
    b->first_waiting--;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* Called with the lock held. */
static void cap(struct bucket *b, double remaining)
{
    if (remaining < 0)
        remaining = 0;
    if (b->tokens > remaining)
        b->tokens = remaining;
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
    cap(b, (double)remaining);
    pthread_mutex_unlock(&t->mu);
}

/* Called with the lock held. */
static void block(struct azure_throttle *t, struct bucket *b, int64_t until_ms)
{
    until_ms += t->lim.margin_ms;
    b->tokens = 0;
    b->confirmed = 0;
    b->probing = true;
    if (until_ms > b->blocked_until_ms)
        b->blocked_until_ms = until_ms;
    if (b->last_ms < b->blocked_until_ms)
        b->last_ms = b->blocked_until_ms; /* no refill while shut: the server's is empty */
}

void azure_throttle_block(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                          int64_t until_ms)
{
    pthread_mutex_lock(&t->mu);
    block(t, &lookup(t, key, clock_mono_ms())->b[kind], until_ms);
    pthread_cond_broadcast(&t->answered);
    pthread_mutex_unlock(&t->mu);
}

void azure_throttle_done(struct azure_throttle *t, const char *key, enum azure_op_kind kind,
                         uint64_t ticket, const struct azure_throttle_answer *a)
{
    int64_t now = clock_mono_ms();
    struct entry *e;
    struct bucket *b;

    pthread_mutex_lock(&t->mu);
    e = lookup(t, key, now);
    b = &e->b[kind];
    if (b->inflight > 0)
        b->inflight--;
    for (int k = 0; a != NULL && k < AZURE_OP_KINDS; k++) {
        if (k != (int)kind && a->remaining[k] >= 0) {
            refill(t, &e->b[k], (enum azure_op_kind)k, now);
            cap(&e->b[k], (double)a->remaining[k]);
        }
    }
    if (a != NULL && a->status == 429) {
        block(t, b, a->blocked_until_ms);
    } else if (a != NULL && a->status > 0) {
        b->probing = false;
        if (ticket > b->seen && a->remaining[kind] < 0) {
            b->seen = ticket;
            b->counted = false; /* the newest answer has no count: the local bucket governs */
        } else if (ticket > b->seen) {
            /* the count is the server's after this request; those still in flight (sent before
             * or after it) may yet come out of it */
            b->seen = ticket;
            b->counted = true;
            b->confirmed = (double)(a->remaining[kind] - b->inflight);
            if (b->confirmed < 0)
                b->confirmed = 0;
            refill(t, b, kind, now);
            cap(b, b->confirmed);
        }
    }
    pthread_cond_broadcast(&t->answered);
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
