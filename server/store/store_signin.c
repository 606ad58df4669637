/* store_signin.c: the facts behind GET /v1{vm}/signIn that the reconciler reads from Azure
 * (migration 0012): per VM and principal the directory facts, per VM the on-VM diagnostics.
 * Keys are stored lowercase; the JSON is the reconciler's, kept as given. */
#include <stdlib.h>

#include "store/store_int.h"
#include "vmlogind/store_signin.h"
#include "vmlogind/xalloc.h"

static const char SQL_FACTS_PUT[] =
    "INSERT INTO signin_facts (vm_key, principal_key, directory, checked_at)"
    " VALUES (lower(:vm), lower(:principal), :result, :now)"
    " ON CONFLICT (vm_key, principal_key) DO UPDATE SET directory = excluded.directory,"
    " checked_at = excluded.checked_at";
static const char SQL_FACTS_GET[] =
    "SELECT directory, checked_at FROM signin_facts"
    " WHERE vm_key = lower(:vm) AND principal_key = lower(:principal)";
static const char SQL_DIAG_PUT[] =
    "INSERT INTO vm_diagnostics (vm_key, result, checked_at) VALUES (lower(:vm), :result, :now)"
    " ON CONFLICT (vm_key) DO UPDATE SET result = excluded.result,"
    " checked_at = excluded.checked_at";
static const char SQL_DIAG_GET[] =
    "SELECT result, checked_at FROM vm_diagnostics WHERE vm_key = lower(:vm)";

static enum err put(struct store *st, const char *sql, const char *vm, const char *principal,
                    const char *result, int64_t now, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm", vm);
    if (principal != NULL)
        bind_text(s, ":principal", principal);
    bind_text(s, ":result", result);
    bind_int64(s, ":now", now);
    return store_exec_stmt(s, d, "signin facts put");
}

static enum err get(struct store *st, const char *sql, const char *vm, const char *principal,
                    char **result, int64_t *checked_at, struct err_detail *d)
{
    struct store_q *s;
    enum err e = store_stmt(st, sql, &s, d);

    *result = NULL;
    *checked_at = 0;
    if (e != ERR_OK)
        return e;
    bind_text(s, ":vm", vm);
    if (principal != NULL)
        bind_text(s, ":principal", principal);
    e = store_step_one(s, d, "signin facts get");
    if (e != ERR_OK)
        return e;
    *result = col_text(s, 0);
    *checked_at = col_int64(s, 1);
    store_reset(s);
    return ERR_OK;
}

enum err store_signin_facts_put(struct store *st, const char *vm_id, const char *principal,
                                const char *directory, int64_t now, struct err_detail *d)
{
    return put(st, SQL_FACTS_PUT, vm_id, principal, directory, now, d);
}

enum err store_signin_facts_get(struct store *st, const char *vm_id, const char *principal,
                                char **directory, int64_t *checked_at, struct err_detail *d)
{
    return get(st, SQL_FACTS_GET, vm_id, principal, directory, checked_at, d);
}

enum err store_vm_diagnostics_put(struct store *st, const char *vm_id, const char *result,
                                  int64_t now, struct err_detail *d)
{
    return put(st, SQL_DIAG_PUT, vm_id, NULL, result, now, d);
}

enum err store_vm_diagnostics_get(struct store *st, const char *vm_id, char **result,
                                  int64_t *checked_at, struct err_detail *d)
{
    return get(st, SQL_DIAG_GET, vm_id, NULL, result, checked_at, d);
}
