/* test_reconcile_env.h: what a reconcile handler runs against in a unit test: a migrated
 * in-memory store, the fake cloud behind cloud_ops, default settings, and tasks built in
 * memory. Header-only: each test includes it once. */
#ifndef TEST_RECONCILE_ENV_H
#define TEST_RECONCILE_ENV_H

#include "test_cloud_fake.h"
#include "test_store_fixture.h"
#include "vmlogind/config.h"
#include "vmlogind/reconcile.h"

struct renv {
    struct fixture *fx;
    struct store *st;
    struct cloud_fake *cloud;
    struct config cfg;
    struct reconcile_env env;
};

static inline int renv_setup(void **state)
{
    struct renv *e = xcalloc(1, sizeof(*e));
    void *fx = NULL;

    if (fixture_setup(&fx) != 0)
        return -1;
    e->fx = fx;
    e->st = e->fx->st;
    e->cloud = cloud_fake_new();
    config_defaults(&e->cfg);
    e->env = (struct reconcile_env){
        .store = e->st, .cloud = &e->cloud->ops, .cfg = &e->cfg, .owner = "unit"};
    *state = e;
    return 0;
}

static inline int renv_teardown(void **state)
{
    struct renv *e = *state;
    void *fx = e->fx;

    free(e->cloud);
    fixture_teardown(&fx);
    free(e);
    return 0;
}

/* The store's key of an ARM id: lowercase. */
static inline void renv_key(const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s", id);
    for (char *p = out; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
}

/* Runs handler fn once on a task (kind, key, payload may be NULL) built in memory. */
static inline struct reconcile_result renv_run(struct renv *e, reconcile_fn fn, const char *kind,
                                               const char *key, const char *payload)
{
    struct reconcile_result res = {.outcome = RECONCILE_DONE};
    struct store_task t = {.id = 1,
                           .kind = (char *)kind,
                           .key = (char *)key,
                           .attempts = 1,
                           .payload = (char *)(payload ? payload : "{}")};

    fn(&e->env, &t, &res);
    return res;
}

#endif
