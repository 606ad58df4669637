/* model_states.h: the typed spellings of what vmlogind stores as words: task kinds, the
 * per-VM login state, grant states, operation (and operation item) statuses, sync run states.
 * Each enum has one table in model_states.c; `_str` gives the stored spelling, `_parse` reads
 * it back (exact spelling, as the database's CHECK constraints hold it) and `_is` compares a
 * stored word with one value. Nothing outside model/ compares these words with strcmp
 * (scripts/check-source.sh holds that). */
#ifndef VMLOGIND_MODEL_STATES_H
#define VMLOGIND_MODEL_STATES_H

#include <stdbool.h>

/* ---- task kinds (tasks.kind): what a reconciler task is about --------------------------- */

enum task_kind {
    TASK_KIND_NOOP = 0,            /* "noop": converges at once (tests, liveness) */
    TASK_KIND_GRANT,               /* "grant": key a grant id */
    TASK_KIND_GRANT_SWEEP,         /* "grant_sweep": key a sweep operation id or policy scope */
    TASK_KIND_SYNC,                /* "sync": key "all" */
    TASK_KIND_SCOPE_LOGIN,         /* "scope_login": key a login setting's scope key */
    TASK_KIND_VM_LOGIN,            /* "vm_login": key a VM's lowercase ARM id */
    TASK_KIND_LOGIN_PREFLIGHT,     /* "login_preflight": key a VM */
    TASK_KIND_PERMISSIONS,         /* "permissions_check": key "self" */
    TASK_KIND_SIGNIN_FACTS,        /* "signin_facts": key a VM and a principal (model_signin.h) */
    TASK_KIND_VM_DIAGNOSTICS,      /* "vm_diagnostics": key a VM (Run Command, model_onvm.h) */
    TASK_KIND_STALE_DEVICE,        /* "stale_device": key a gone VM; finds and reports its device */
    TASK_KIND_STALE_DEVICE_DELETE, /* "stale_device_delete": key a gone VM; deletes what was
                                      reported, after the grace period */
    TASK_KIND_ACTIVATION,          /* "activation": key an activation id; lapses a pending
                                      approval at its time */
};
#define TASK_KIND_COUNT 13
/* The one key of the sync task. */
#define TASK_KEY_SYNC "all"

/* The stored spelling; "" for a value out of range. */
const char *task_kind_str(enum task_kind k);
/* False (and *out untouched) when s is NULL or not a known kind. */
bool task_kind_parse(const char *s, enum task_kind *out);
bool task_kind_is(const char *s, enum task_kind k);

/* ---- the per-VM login state machine (vm_login.state) ----------------------------------- */

enum login_state {
    LOGIN_STATE_NOT_COVERED = 0, /* "not_covered" */
    LOGIN_STATE_EXCLUDED,
    LOGIN_STATE_UNSUPPORTED,
    LOGIN_STATE_PENDING,
    LOGIN_STATE_APPLYING,
    LOGIN_STATE_WAITING,
    LOGIN_STATE_ENABLED,
    LOGIN_STATE_FAILED,
    LOGIN_STATE_DISABLING,
    LOGIN_STATE_DISABLED,
    LOGIN_STATE_DRIFTED,
};
#define LOGIN_STATE_COUNT 11

const char *login_state_str(enum login_state s);
bool login_state_parse(const char *s, enum login_state *out);
/* True when the stored word s spells st (false for NULL or an unknown word). A login
 * setting's desired state ("enabled"/"disabled") is read with these too. */
bool login_state_is(const char *s, enum login_state st);

/* ---- grant states (login_grants.state) ------------------------------------------------- */

enum grant_state {
    GRANT_STATE_PENDING = 0,
    GRANT_STATE_ACTIVE,
    GRANT_STATE_FAILED,
    GRANT_STATE_REVOKING,
    GRANT_STATE_REVOKED,
    GRANT_STATE_EXPIRED,
};
#define GRANT_STATE_COUNT 6

const char *grant_state_str(enum grant_state s);
bool grant_state_parse(const char *s, enum grant_state *out);
bool grant_state_is(const char *s, enum grant_state st);

/* ---- operation and operation item statuses (operations.status, operation_items.status) -- */

enum operation_status {
    OPERATION_STATUS_NOT_STARTED = 0, /* "NotStarted" */
    OPERATION_STATUS_RUNNING,
    OPERATION_STATUS_SUCCEEDED,
    OPERATION_STATUS_FAILED,
    OPERATION_STATUS_PARTIALLY_SUCCEEDED, /* operations only */
    OPERATION_STATUS_CANCELED,
    OPERATION_STATUS_SKIPPED, /* operation items only */
};
#define OPERATION_STATUS_COUNT 7

const char *operation_status_str(enum operation_status s);
bool operation_status_parse(const char *s, enum operation_status *out);
bool operation_status_is(const char *s, enum operation_status st);
/* Succeeded, Failed, PartiallySucceeded or Canceled: the operation has ended. */
bool operation_status_is_terminal(enum operation_status s);

/* ---- sync run states (sync_runs.state) ------------------------------------------------- */

enum sync_state {
    SYNC_STATE_RUNNING = 0,
    SYNC_STATE_SUCCEEDED,
    SYNC_STATE_PARTIAL,
    SYNC_STATE_FAILED,
};
#define SYNC_STATE_COUNT 4

const char *sync_state_str(enum sync_state s);
bool sync_state_parse(const char *s, enum sync_state *out);
bool sync_state_is(const char *s, enum sync_state st);

/* ---- Azure provisioningState (ARM's word, case-insensitive) ---------------------------- */

/* True when an ARM provisioningState (an extension's, a VM's) spells Succeeded, Failed or
 * Canceled/Cancelled, compared case-insensitively as ARM's documentation allows; false for
 * NULL. Keeps the comparison of ARM's words in model/ next to ours. */
bool model_provisioning_is(const char *provisioning_state, enum operation_status st);

#endif
