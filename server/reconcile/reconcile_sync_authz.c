/* reconcile_sync_authz.c: the VM-login role assignments seen from one subscription (the
 * listing includes the scopes above and below it); other roles are not inventoried. Marked
 * gone only after a complete listing. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/reconcile_sync_int.h"
#include "vmlogind/clock.h"
#include "vmlogind/reconcile_cloud.h"
#include "vmlogind/log.h"
#include "vmlogind/xalloc.h"

/* ---- role assignments --------------------------------------------------------------------- */

static bool is_login_role(const char *guid)
{
    return guid != NULL && (strcasecmp(guid, AZURE_ROLE_VM_ADMIN_LOGIN) == 0 ||
                            strcasecmp(guid, AZURE_ROLE_VM_USER_LOGIN) == 0);
}

static enum err on_assignments(const struct azure_role_assignment *ras, size_t n, void *arg)
{
    struct sync_pass *s = arg;
    struct store_role_assignment_facts *f;
    size_t kept = 0;
    size_t changed = 0;
    struct err_detail d;
    enum err rc;

    if (n == 0)
        return reconcile_sync_page_late(s);
    f = xcalloc(n + 1, sizeof(*f));

    for (size_t i = 0; i < n; i++) {
        int64_t created = 0;

        if (!is_login_role(ras[i].role_definition_guid) || ras[i].id == NULL ||
            ras[i].scope == NULL || ras[i].principal_id == NULL)
            continue;
        if (ras[i].created_on != NULL && !clock_parse_rfc3339(ras[i].created_on, &created))
            created = 0;
        f[kept++] = (struct store_role_assignment_facts){
            .id = ras[i].id,
            .name = ras[i].name,
            .scope = ras[i].scope,
            .role_definition_id = ras[i].role_definition_guid,
            .principal_id = ras[i].principal_id,
            .principal_type = ras[i].principal_type,
            .created_on = created,
        };
    }
    rc = reconcile_sync_tx_begin(s, &d);
    if (rc == ERR_OK)
        rc = store_role_assignments_upsert(s->env->store, s->seen_ras, f, kept, s->now, &changed,
                                           &d);
    rc = reconcile_sync_tx_end(s, kept, rc, &d);
    free(f);
    if (rc != ERR_OK) {
        reconcile_sync_error(s, "store role assignments of", s->sub, rc, NULL, &d);
        return rc;
    }
    s->run.assignments_seen += (int64_t)kept;
    s->run.assignments_changed += (int64_t)changed;
    return reconcile_sync_progress(s);
}

/* True when the subscription's assignments were listed completely. */
bool reconcile_sync_authz(struct sync_pass *s, const char *sub)
{
    struct azure_error ae;
    struct err_detail d;
    char scope[128];
    size_t gone = 0;
    int64_t errors = s->run.errors;
    enum err rc;

    azure_error_clear(&ae);
    s->sub = sub;
    (void)snprintf(scope, sizeof(scope), "/subscriptions/%s", sub);
    rc = s->env->cloud->role_assignments_list(s->env->cloud->ctx, scope, NULL, on_assignments, s,
                                              &ae);
    if (reconcile_sync_tx_flush(s, &d) != ERR_OK) {
        reconcile_sync_error(s, "store role assignments of", sub, ERR_STORE, NULL, &d);
        return false;
    }
    if (rc != ERR_OK) {
        if (!s->stopped && s->run.errors == errors)
            reconcile_sync_error(s, "list role assignments of", sub, rc, &ae, NULL);
        return false;
    }
    rc = store_role_assignments_mark_gone(s->env->store, s->seen_ras, sub, s->now, &gone, &d);
    s->run.assignments_gone += (int64_t)gone;
    if (rc != ERR_OK)
        reconcile_sync_error(s, "mark role assignments gone in", sub, rc, NULL, &d);
    return rc == ERR_OK;
}
