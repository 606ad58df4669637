/* model_access.c: the effective-access computation (pure). Inputs come from store_access.c;
 * the JSON comes from api_access.c. Nothing here knows where an assignment was read from. */
#include <stdlib.h>
#include <string.h>

#include "vmlogind/model_access.h"
#include "vmlogind/xalloc.h"

bool model_access_scope_covers(const char *scope_key, const char *resource_key)
{
    size_t n = strlen(scope_key);

    if (n == 0 || strncmp(scope_key, resource_key, n) != 0)
        return false;
    return resource_key[n] == '\0' || resource_key[n] == '/';
}

static int str_cmp(const char *a, const char *b)
{
    if (a == b)
        return 0; /* the same string: scope keys are shared by every assignment at a scope */
    return strcmp(a ? a : "", b ? b : "");
}

/* qsort, unless a is in order already (members come from the index grouped, and often one
 * group only): n - 1 comparisons instead of a sort. */
static void sort_unless_sorted(void *a, size_t n, size_t size,
                               int (*cmp)(const void *, const void *))
{
    const char *p = a;

    for (size_t i = 1; i < n; i++) {
        if (cmp(p + (i - 1) * size, p + i * size) > 0) {
            qsort(a, n, size, cmp);
            return;
        }
    }
}

int model_access_order(const void *pa, const void *pb)
{
    const struct model_access_assignment *a = pa, *b = pb;
    int c = str_cmp(a->scope_key, b->scope_key);

    if (c == 0)
        c = (int)a->role - (int)b->role;
    if (c == 0)
        c = str_cmp(a->principal_id, b->principal_id);
    if (c == 0) /* the one with a grant id first */
        c = (a->grant_id == NULL) - (b->grant_id == NULL);
    /* then a total order, so that the answer never depends on the order rows were read in */
    if (c == 0)
        c = (a->assignment_id == NULL) - (b->assignment_id == NULL);
    if (c == 0)
        c = str_cmp(a->assignment_id, b->assignment_id);
    if (c == 0)
        c = str_cmp(a->grant_id, b->grant_id);
    if (c == 0)
        c = (a->expires_at > b->expires_at) - (a->expires_at < b->expires_at);
    if (c == 0)
        c = str_cmp(a->scope, b->scope);
    if (c == 0)
        c = str_cmp(a->principal_type, b->principal_type);
    return c;
}

size_t model_access_dedupe(struct model_access_assignment *a, size_t n)
{
    size_t w = 0;

    if (n == 0)
        return 0;
    sort_unless_sorted(a, n, sizeof(*a), model_access_order);
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && str_cmp(a[w - 1].scope_key, a[i].scope_key) == 0 &&
            a[w - 1].role == a[i].role && str_cmp(a[w - 1].principal_id, a[i].principal_id) == 0) {
            if (a[w - 1].assignment_id == NULL) {
                a[w - 1].assignment_id = a[i].assignment_id;
                a[w - 1].json_plain = false; /* vouched for with another id */
            }
            continue;
        }
        a[w++] = a[i];
    }
    return w;
}

/* Is path x (assignment, direct?) better than y? */
static bool better(const struct model_access_assignment *x, bool x_direct,
                   const struct model_access_assignment *y, bool y_direct)
{
    if (x->role != y->role)
        return x->role > y->role;
    if (x_direct != y_direct)
        return x_direct;
    if (x->expires_at != y->expires_at) {
        if (x->expires_at == 0 || y->expires_at == 0)
            return x->expires_at == 0;
        return x->expires_at > y->expires_at;
    }
    /* the narrower scope explains access more precisely */
    size_t xl = strlen(x->scope_key ? x->scope_key : ""),
           yl = strlen(y->scope_key ? y->scope_key : "");
    if (xl != yl)
        return xl > yl;
    /* then a total order (the group, the assignment), so that the answer never depends on the
     * order rows were read in */
    int c = str_cmp(x->principal_id, y->principal_id);
    if (c == 0)
        c = str_cmp(x->scope_key, y->scope_key);
    if (c == 0)
        c = str_cmp(x->assignment_id, y->assignment_id);
    if (c == 0)
        c = str_cmp(x->grant_id, y->grant_id);
    return c < 0;
}

static const char *kind_of_type(const char *arm_type)
{
    return model_grant_principal_type_api(arm_type);
}

struct path {
    const char *id;
    const char *kind;
    const struct model_access_assignment *a;
    const char *via;
};

struct paths {
    struct path *p;
    size_t n, cap;
};

static void push(struct paths *ps, const char *id, const char *kind,
                 const struct model_access_assignment *a, const char *via)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 32;
        ps->p = xreallocarray(ps->p, ps->cap, sizeof(*ps->p));
    }
    ps->p[ps->n++] = (struct path){.id = id, .kind = kind, .a = a, .via = via};
}

/* The first eight bytes of s as a big-endian number (zero past its end): numbers compare as
 * strcmp compares the strings' first eight bytes. */
static uint64_t prefix_of(const char *s)
{
    uint64_t v = 0;
    int i = 0;

    for (; i < 8 && s[i] != '\0'; i++)
        v = v << 8 | (unsigned char)s[i];
    return i == 0 ? 0 : v << (8 * (8 - i));
}

/* Sorts ps by id, stably (what qsort's merge sort gives): a merge sort whose comparisons are
 * mostly one integer compare of the ids' first bytes. Object ids are GUIDs and differ early;
 * a request sorts a few dozen paths and qsort's indirect calls were most of its cost. */
static void sort_paths(struct path *p, size_t n)
{
    uint64_t *pre, *tpre;
    struct path *tmp;

    if (n < 2)
        return;
    pre = xmallocarray(xmul(2, n), sizeof(*pre));
    tpre = pre + n;
    tmp = xmallocarray(n, sizeof(*tmp));
    for (size_t i = 0; i < n; i++)
        pre[i] = prefix_of(p[i].id);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n,
                   hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                /* the left one on a tie: stable */
                bool right = pre[j] < pre[i] || (pre[j] == pre[i] && strcmp(p[j].id, p[i].id) < 0);
                tpre[k] = right ? pre[j] : pre[i];
                tmp[k++] = right ? p[j++] : p[i++];
            }
            for (; i < mid; k++, i++) {
                tpre[k] = pre[i];
                tmp[k] = p[i];
            }
            for (; j < hi; k++, j++) {
                tpre[k] = pre[j];
                tmp[k] = p[j];
            }
        }
        memcpy(p, tmp, n * sizeof(*p));
        memcpy(pre, tpre, n * sizeof(*pre));
    }
    free(tmp);
    free(pre);
}

static int by_member_group(const void *pa, const void *pb)
{
    const struct model_access_member *a = *(const struct model_access_member *const *)pa;
    const struct model_access_member *b = *(const struct model_access_member *const *)pb;

    return strcmp(a->group_id, b->group_id);
}

/* Index of the first member of group in the sorted index, or nm if none. */
static size_t first_of(const struct model_access_member *const *ix, size_t nm, const char *group)
{
    size_t lo = 0, hi = nm;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix[mid]->group_id, group) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int by_entry(const void *pa, const void *pb)
{
    const struct model_access_entry *a = pa, *b = pb;

    if (a->role != b->role)
        return (int)b->role - (int)a->role;
    return strcmp(a->principal_id, b->principal_id);
}

/* Orders e (unique ids, in id order) as sorting by by_entry would, in one stable pass per
 * role, highest first. */
static void order_by_role(struct model_access_entry *e, size_t n)
{
    static const enum model_grant_role order[] = {MODEL_GRANT_ROLE_ADMIN, MODEL_GRANT_ROLE_USER,
                                                  MODEL_GRANT_ROLE_NONE};
    struct model_access_entry *t;
    size_t w = 0;

    if (n < 2)
        return;
    t = xmallocarray(n, sizeof(*t));
    for (size_t r = 0; r < sizeof(order) / sizeof(order[0]); r++) {
        for (size_t i = 0; i < n; i++) {
            if (e[i].role == order[r])
                t[w++] = e[i];
        }
    }
    if (w == n)
        memcpy(e, t, n * sizeof(*e));
    else
        qsort(e, n, sizeof(*e), by_entry); /* a role outside the three: never */
    free(t);
}

/* One entry per principal: the best of its paths (ps sorted by id). */
static void reduce(const struct paths *ps, struct model_access_entry **out, size_t *n)
{
    struct model_access_entry *e = xcalloc(ps->n ? ps->n : 1, sizeof(*e));
    size_t w = 0;

    for (size_t i = 0; i < ps->n; i++) {
        const struct path *p = &ps->p[i];
        struct model_access_entry *cur = w > 0 ? &e[w - 1] : NULL;
        if (cur != NULL && strcmp(cur->principal_id, p->id) == 0) {
            cur->paths++;
            if (better(p->a, p->via == NULL, cur->best, cur->via_group == NULL)) {
                cur->best = p->a;
                cur->role = p->a->role;
                cur->via_group = p->via;
            }
            continue;
        }
        e[w++] = (struct model_access_entry){.principal_id = p->id,
                                             .principal_kind = p->kind,
                                             .role = p->a->role,
                                             .best = p->a,
                                             .via_group = p->via,
                                             .paths = 1};
    }
    order_by_role(e, w);
    *out = e;
    *n = w;
}

void model_access_compute(const struct model_access_assignment *a, size_t na,
                          const struct model_access_member *m, size_t nm,
                          struct model_access_entry **out, size_t *n)
{
    struct paths ps = {0};
    const struct model_access_member **ix = xcalloc(nm ? nm : 1, sizeof(*ix));

    for (size_t j = 0; j < nm; j++)
        ix[j] = &m[j];
    sort_unless_sorted(ix, nm, sizeof(*ix), by_member_group);
    for (size_t i = 0; i < na; i++) {
        const char *gid = a[i].principal_id;
        if (a[i].role == MODEL_GRANT_ROLE_NONE || gid == NULL || gid[0] == '\0')
            continue;
        push(&ps, gid, kind_of_type(a[i].principal_type), &a[i], NULL);
        for (size_t j = first_of(ix, nm, gid); j < nm && strcmp(ix[j]->group_id, gid) == 0; j++) {
            if (strcmp(ix[j]->member_id, gid) != 0)
                push(&ps, ix[j]->member_id, ix[j]->member_kind, &a[i], gid);
        }
    }
    free(ix);
    sort_paths(ps.p, ps.n);
    reduce(&ps, out, n);
    free(ps.p);
}

long model_access_best_for(const struct model_access_assignment *a, size_t na,
                           const char *resource_key, const char *self_id)
{
    long best = -1;

    for (size_t i = 0; i < na; i++) {
        bool direct = strcmp(a[i].principal_id, self_id) == 0;
        if (a[i].role == MODEL_GRANT_ROLE_NONE ||
            !model_access_scope_covers(a[i].scope_key, resource_key))
            continue;
        if (best < 0 || better(&a[i], direct, &a[best], strcmp(a[best].principal_id, self_id) == 0))
            best = (long)i;
    }
    return best;
}
