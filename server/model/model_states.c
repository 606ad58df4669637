/* model_states.c: one table per enum of model_states.h, the only place the stored words of
 * task kinds, login, grant, operation and sync states are spelled. Pure: no I/O. Every
 * `_str`/`_parse` pair goes through the two table helpers below, so the tables stay the only
 * difference between them (STATE_FUNCS below writes the three functions of each enum). */
#include <string.h>
#include <strings.h>

#include "vmlogind/model_states.h"

static const char *const task_kinds[TASK_KIND_COUNT] = {
    [TASK_KIND_NOOP] = "noop",
    [TASK_KIND_GRANT] = "grant",
    [TASK_KIND_GRANT_SWEEP] = "grant_sweep",
    [TASK_KIND_SYNC] = "sync",
    [TASK_KIND_SCOPE_LOGIN] = "scope_login",
    [TASK_KIND_VM_LOGIN] = "vm_login",
    [TASK_KIND_LOGIN_PREFLIGHT] = "login_preflight",
    [TASK_KIND_PERMISSIONS] = "permissions_check",
    [TASK_KIND_SIGNIN_FACTS] = "signin_facts",
    [TASK_KIND_VM_DIAGNOSTICS] = "vm_diagnostics",
    [TASK_KIND_STALE_DEVICE] = "stale_device",
    [TASK_KIND_STALE_DEVICE_DELETE] = "stale_device_delete",
    [TASK_KIND_ACTIVATION] = "activation",
};

static const char *const login_states[LOGIN_STATE_COUNT] = {
    [LOGIN_STATE_NOT_COVERED] = "not_covered", [LOGIN_STATE_EXCLUDED] = "excluded",
    [LOGIN_STATE_UNSUPPORTED] = "unsupported", [LOGIN_STATE_PENDING] = "pending",
    [LOGIN_STATE_APPLYING] = "applying",       [LOGIN_STATE_WAITING] = "waiting",
    [LOGIN_STATE_ENABLED] = "enabled",         [LOGIN_STATE_FAILED] = "failed",
    [LOGIN_STATE_DISABLING] = "disabling",     [LOGIN_STATE_DISABLED] = "disabled",
    [LOGIN_STATE_DRIFTED] = "drifted",
};

static const char *const grant_states[GRANT_STATE_COUNT] = {
    [GRANT_STATE_PENDING] = "pending", [GRANT_STATE_ACTIVE] = "active",
    [GRANT_STATE_FAILED] = "failed",   [GRANT_STATE_REVOKING] = "revoking",
    [GRANT_STATE_REVOKED] = "revoked", [GRANT_STATE_EXPIRED] = "expired",
};

static const char *const operation_statuses[OPERATION_STATUS_COUNT] = {
    [OPERATION_STATUS_NOT_STARTED] = "NotStarted",
    [OPERATION_STATUS_RUNNING] = "Running",
    [OPERATION_STATUS_SUCCEEDED] = "Succeeded",
    [OPERATION_STATUS_FAILED] = "Failed",
    [OPERATION_STATUS_PARTIALLY_SUCCEEDED] = "PartiallySucceeded",
    [OPERATION_STATUS_CANCELED] = "Canceled",
    [OPERATION_STATUS_SKIPPED] = "Skipped",
};

static const char *const sync_states[SYNC_STATE_COUNT] = {
    [SYNC_STATE_RUNNING] = "running",
    [SYNC_STATE_SUCCEEDED] = "succeeded",
    [SYNC_STATE_PARTIAL] = "partial",
    [SYNC_STATE_FAILED] = "failed",
};

static const char *name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n ? names[v] : "";
}

/* The index of s in names, or -1. */
static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0)
            return i;
    }
    return -1;
}

/* The _str, _parse and _is of one enum, each a call into the helpers above with its table. */
#define STATE_FUNCS(type, table, count)                                                            \
    const char *type##_str(enum type v)                                                            \
    {                                                                                              \
        return name_of(table, count, (int)v);                                                      \
    }                                                                                              \
    bool type##_parse(const char *s, enum type *out)                                               \
    {                                                                                              \
        int i = index_of(table, count, s);                                                         \
        if (i >= 0)                                                                                \
            *out = (enum type)i;                                                                   \
        return i >= 0;                                                                             \
    }                                                                                              \
    bool type##_is(const char *s, enum type v)                                                     \
    {                                                                                              \
        return index_of(table, count, s) == (int)v;                                                \
    }

STATE_FUNCS(task_kind, task_kinds, TASK_KIND_COUNT)
STATE_FUNCS(login_state, login_states, LOGIN_STATE_COUNT)
STATE_FUNCS(grant_state, grant_states, GRANT_STATE_COUNT)
STATE_FUNCS(operation_status, operation_statuses, OPERATION_STATUS_COUNT)
STATE_FUNCS(sync_state, sync_states, SYNC_STATE_COUNT)

bool operation_status_is_terminal(enum operation_status s)
{
    return s == OPERATION_STATUS_SUCCEEDED || s == OPERATION_STATUS_FAILED ||
           s == OPERATION_STATUS_PARTIALLY_SUCCEEDED || s == OPERATION_STATUS_CANCELED;
}

bool model_provisioning_is(const char *provisioning_state, enum operation_status st)
{
    if (provisioning_state == NULL)
        return false;
    if (st == OPERATION_STATUS_CANCELED && strcasecmp(provisioning_state, "Cancelled") == 0)
        return true;
    return strcasecmp(provisioning_state, operation_status_str(st)) == 0;
}
