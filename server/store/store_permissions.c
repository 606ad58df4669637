/* store_permissions.c: the last check of vmlogind's own permissions (permission_checks), and
 * the resource groups of a subscription's VMs, the scopes that check asks about. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/xalloc.h"

static const char SQL_PUT[] =
    "INSERT INTO permission_checks (subject, result, checked_at) VALUES (:subject, :result, :now)"
    " ON CONFLICT (subject) DO UPDATE SET result = excluded.result,"
    " checked_at = excluded.checked_at";
static const char SQL_GET[] =
    "SELECT result, checked_at FROM permission_checks WHERE subject = :subject";
static const char SQL_RGS[] =
    "SELECT min(resource_group) FROM vms WHERE subscription_id = lower(:sub) AND gone_at IS NULL"
    " GROUP BY resource_group_key ORDER BY resource_group_key LIMIT :limit";

enum err store_permission_check_put(struct store *st, const char *subject, const char *result,
                                    int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_PUT, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":subject", subject);
    bind_text(s, ":result", result);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "permission check put");
}

enum err store_permission_check_get(struct store *st, const char *subject, char **result,
                                    int64_t *checked_at, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_GET, &s, d);

    *result = NULL;
    *checked_at = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":subject", subject);
    e = store_step_one(s, d, "permission check get");
    if (e != ERR_OK)
        return e;
    *result = col_text(s, 0);
    *checked_at = col_int64(s, 1);
    store_reset(s);
    return ERR_OK;
}

enum err store_vm_resource_groups(struct store *st, const char *subscription_id, size_t limit,
                                  char ***out, size_t *n, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, SQL_RGS, &s, d);
    int rc;

    *out = NULL;
    *n = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":sub", subscription_id);
    bind_int64(s, ":limit", (int64_t)limit);
    *out = xcalloc(limit + 1, sizeof(**out));
    while ((rc = store_step(s)) == STORE_ROW && *n < limit)
        (*out)[(*n)++] = col_text(s, 0);
    if (rc != STORE_ROW && rc != STORE_DONE)
        return store_fail(s, rc, d, "vm resource groups");
    store_reset(s);
    return ERR_OK;
}
