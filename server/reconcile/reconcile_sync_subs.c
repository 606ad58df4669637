/* reconcile_sync_subs.c: the subscriptions of a sync pass: each one Azure lists is upserted;
 * one the store holds that Azure no longer lists is marked gone with everything under it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/reconcile_sync_int.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

/* ---- subscriptions ------------------------------------------------------------------------ */

struct subs {
    struct sync_pass *s;
    char **ids;
    size_t n;
    size_t cap;
    enum err rc;
    struct err_detail d;
};

static enum err on_subs(const struct azure_subscription *subs, size_t n, void *arg)
{
    struct subs *l = arg;
    bool changed;

    for (size_t i = 0; i < n; i++) {
        if (subs[i].subscription_id == NULL)
            continue;
        l->rc = store_subscription_upsert(l->s->env->store, subs[i].subscription_id,
                                          subs[i].display_name, subs[i].state, subs[i].tenant_id,
                                          l->s->now, &changed, &l->d);
        if (l->rc != ERR_OK)
            return l->rc;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 8;
            l->ids = xreallocarray(l->ids, l->cap, sizeof(*l->ids));
        }
        l->ids[l->n++] = xstrdup(subs[i].subscription_id);
    }
    return reconcile_sync_progress(l->s);
}

static bool listed(char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(ids[i], id) == 0)
            return true;
    }
    return false;
}

/* Everything of a subscription Azure no longer lists is gone. */
static void sub_vanished(struct sync_pass *s, const char *sub)
{
    struct store *st = s->env->store;
    struct err_detail d;
    size_t vms = 0;
    size_t exts = 0;
    size_t ras = 0;
    bool changed;
    enum err rc = store_subscription_mark_gone(st, sub, s->now, &changed, &d);

    if (rc == ERR_OK)
        rc = store_vms_mark_gone(st, NULL, sub, s->now, &vms, &d);
    if (rc == ERR_OK)
        rc = store_extensions_sync_begin(st, &d);
    if (rc == ERR_OK)
        rc = store_extensions_mark_gone(st, sub, s->now, &exts, &d);
    if (rc == ERR_OK)
        rc = store_role_assignments_mark_gone(st, NULL, sub, s->now, &ras, &d);
    s->run.vms_gone += (int64_t)vms;
    s->run.extensions_gone += (int64_t)exts;
    s->run.assignments_gone += (int64_t)ras;
    if (rc != ERR_OK)
        reconcile_sync_error(s, "mark subscription gone", sub, rc, NULL, &d);
}

/* Lists subscriptions into *ids; marks the vanished ones gone. */
enum err reconcile_sync_subs(struct sync_pass *s, char ***ids, size_t *n)
{
    struct subs l = {.s = s};
    struct azure_error ae;
    struct store_subscription *stored = NULL;
    size_t n_stored = 0;
    struct err_detail d;
    enum err rc;

    azure_error_clear(&ae);
    rc = s->env->cloud->subscriptions_list(s->env->cloud->ctx, on_subs, &l, &ae);
    if (rc != ERR_OK) {
        reconcile_sync_error(s, "list subscriptions", NULL, rc, l.rc != ERR_OK ? NULL : &ae, &l.d);
        reconcile_sync_strs_free(l.ids, l.n);
        return rc;
    }
    rc = store_subscription_list(s->env->store, &stored, &n_stored, &d);
    for (size_t i = 0; rc == ERR_OK && i < n_stored; i++) {
        if (stored[i].gone_at == 0 && !listed(l.ids, l.n, stored[i].id))
            sub_vanished(s, stored[i].id);
    }
    if (rc != ERR_OK)
        reconcile_sync_error(s, "read subscriptions", NULL, rc, NULL, &d);
    store_subscription_list_free(stored, n_stored);
    *ids = l.ids;
    *n = l.n;
    s->run.subscriptions = (int64_t)l.n;
    return ERR_OK;
}
