/* reconcile_login.h: Entra login on VMs in the reconciler. Task kinds: "scope_login" (key: a
 * login setting's scope key; expands the scope to its VMs, again every login_recheck_s so new
 * VMs are covered and drift is found), "vm_login" (key: a VM's lowercase ARM id; one step per
 * run: identity, extension, uninstall, each an LRO resumed from the task's op_url) and
 * "login_preflight" (key: a VM; refreshes the facts and the preflight without changing
 * anything). The next step comes from the pure reconcile_login_plan(). */
#ifndef VMLOGIND_RECONCILE_LOGIN_H
#define VMLOGIND_RECONCILE_LOGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "vmlogind/model_login.h"
#include "vmlogind/reconcile.h"

void reconcile_login_scope(const struct reconcile_env *env, const struct store_task *task,
                           struct reconcile_result *res);
void reconcile_login_vm(const struct reconcile_env *env, const struct store_task *task,
                        struct reconcile_result *res);
void reconcile_login_preflight(const struct reconcile_env *env, const struct store_task *task,
                               struct reconcile_result *res);

/* ---- the plan (reconcile_login_plan.c): desired + observed -> the next step ------------------ */

enum login_desired { LOGIN_DESIRED_NONE = 0, LOGIN_DESIRED_ENABLED, LOGIN_DESIRED_DISABLED };

struct login_plan_in {
    enum login_desired desired;
    enum model_login_mode mode;
    bool explicit_vm; /* the governing setting is at VM scope (an unsupported VM is a failure,
                         not a skip) */
    bool excluded;
    enum model_os_support os;
    bool running;
    bool vm_busy; /* provisioningState Creating/Updating/Deleting */
    bool has_system_identity;
    bool has_ext;          /* an AADLoginForWindows extension, matched by publisher+type */
    const char *ext_state; /* its provisioningState */
    const char *ext_version;
    const struct model_diagnosis *ext_failure; /* when ext_state is Failed */
    bool domain_joined;
    enum model_tri device_duplicate;
    bool was_enabled; /* this VM was enabled before (its device is its own) */
    bool prior_failed;
    bool prior_retryable;
    const char *prior_cause;
    bool facts_unchanged; /* the facts the prior failure was judged on are the same */
    int failures;         /* failed installs in a row */
    int max_failures;
    const char *want_version;
    enum model_login_mdm mdm;      /* the setting's "mdm" */
    enum model_os_edition edition; /* client or Server Windows */
    const char *ext_mdm_id;        /* the installed extension's settings.mdmId, NULL none */
};

enum login_action {
    LOGIN_ACT_NONE = 0, /* converged (or nothing to do): record, done */
    LOGIN_ACT_WAIT,     /* can't act now (VM stopped or busy): record, look again later */
    LOGIN_ACT_REPORT,   /* audit mode: record what is wrong, change nothing */
    LOGIN_ACT_FAIL,     /* record the cause, change nothing until the facts change */
    LOGIN_ACT_IDENTITY, /* PATCH the system-assigned identity on */
    LOGIN_ACT_PUT_EXT,  /* PUT AADLoginForWindows */
    LOGIN_ACT_DELETE_EXT,
};

struct login_plan_out {
    enum login_action action;
    const char *state; /* vm_login.state to record */
    const char *step;
    const char *item_status; /* the operation item: Running Succeeded Failed Skipped */
    char cause[48];          /* failure cause ("" none) */
    char note[160];          /* what is wrong, for audit reports and waits */
    char version[32];        /* PUT: typeHandlerVersion (never lower than the installed one) */
    char mdm_id[40];         /* PUT: settings.mdmId to send ("" none) */
    bool force_update;       /* PUT over a failed extension: send a new forceUpdateTag */
    bool count_failure;      /* a failed install was seen: failures + 1 */
    bool then_fail;          /* DELETE of a failed extension we give up on */
};

void reconcile_login_plan(const struct login_plan_in *in, struct login_plan_out *out);
const char *reconcile_login_action_str(enum login_action a);

/* Status of an operation from its items' statuses: NotStarted/Running items keep it Running;
 * otherwise Succeeded (all Succeeded or Skipped), Failed (no Succeeded), PartiallySucceeded. */
const char *reconcile_login_rollup(const char *const *item_statuses, size_t n);

#endif
