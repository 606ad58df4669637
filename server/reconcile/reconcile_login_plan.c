/* reconcile_login_plan.c: the pure decision of Entra login for one VM: from the desired
 * setting and what Azure shows, the one next step (DESIGN section 5: plan, then apply). The
 * order matters and follows the seed: identity before the extension; a failed extension is
 * re-PUT or removed before anything else; causes that retrying can't fix stop until the facts
 * change; audit mode never changes anything. No I/O here: reconcile_login.c applies. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmlogind/model_permissions.h"
#include "vmlogind/reconcile_login.h"

static bool ieq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

static bool ext_transitional(const char *s)
{
    return ieq(s, "Creating") || ieq(s, "Updating") || ieq(s, "Deleting");
}

static void set(struct login_plan_out *o, enum login_action a, enum login_state state,
                const char *step, enum operation_status item)
{
    o->action = a;
    o->state = login_state_str(state);
    o->step = step;
    o->item_status = operation_status_str(item);
}

static void cause(struct login_plan_out *o, const char *c)
{
    snprintf(o->cause, sizeof(o->cause), "%s", c ? c : "");
}

static void plan_disable(const struct login_plan_in *in, struct login_plan_out *o)
{
    if (!in->has_ext) {
        set(o, LOGIN_ACT_NONE, LOGIN_STATE_DISABLED, "", OPERATION_STATUS_SUCCEEDED);
        return;
    }
    if (ieq(in->ext_state, "Deleting")) {
        set(o, LOGIN_ACT_WAIT, LOGIN_STATE_DISABLING, "uninstall", OPERATION_STATUS_RUNNING);
        return;
    }
    if (!in->running) {
        set(o, LOGIN_ACT_WAIT, LOGIN_STATE_DISABLING, "waitForStart", OPERATION_STATUS_RUNNING);
        snprintf(o->note, sizeof(o->note),
                 "the VM is not running: the extension is removed once it starts");
        return;
    }
    if (in->vm_busy) {
        set(o, LOGIN_ACT_WAIT, LOGIN_STATE_DISABLING, "waitForVm", OPERATION_STATUS_RUNNING);
        return;
    }
    set(o, LOGIN_ACT_DELETE_EXT, LOGIN_STATE_DISABLING, "uninstall", OPERATION_STATUS_RUNNING);
}

static void plan_audit(const struct login_plan_in *in, struct login_plan_out *o)
{
    set(o, LOGIN_ACT_REPORT, LOGIN_STATE_DRIFTED, "audit", OPERATION_STATUS_SKIPPED);
    if (in->has_ext && model_provisioning_is(in->ext_state, OPERATION_STATUS_FAILED))
        snprintf(o->note, sizeof(o->note), "audit: AADLoginForWindows is in a failed state");
    else if (!in->has_ext)
        snprintf(o->note, sizeof(o->note), "audit: AADLoginForWindows is not installed");
    else if (!in->has_system_identity)
        snprintf(o->note, sizeof(o->note), "audit: the system-assigned identity is off");
    else
        snprintf(o->note, sizeof(o->note), "audit: AADLoginForWindows is %s",
                 in->ext_state ? in->ext_state : "not ready");
}

/* The failed extension: re-PUT while retrying can help, else remove it and fail. */
static void plan_failed_ext(const struct login_plan_in *in, struct login_plan_out *o)
{
    const struct model_diagnosis *dg = in->ext_failure;
    bool retryable = dg == NULL || dg->retryable;

    o->count_failure = true;
    cause(o, dg ? dg->cause : "unknown");
    if (!retryable || in->failures + 1 >= in->max_failures) {
        set(o, LOGIN_ACT_DELETE_EXT, LOGIN_STATE_FAILED, "removeFailedExtension",
            OPERATION_STATUS_RUNNING);
        o->then_fail = true;
        return;
    }
    set(o, LOGIN_ACT_PUT_EXT, LOGIN_STATE_APPLYING, "extension", OPERATION_STATUS_RUNNING);
    o->force_update = true;
}

static void pick_version(const struct login_plan_in *in, struct login_plan_out *o)
{
    const char *want = in->want_version && in->want_version[0] ? in->want_version : "1.0";

    if (in->has_ext && in->ext_version && model_version_cmp(in->ext_version, want) > 0)
        want = in->ext_version; /* never downgrade a newer installed handler */
    snprintf(o->version, sizeof(o->version), "%s", want);
}

/* The mdmId a PUT sends: Intune's on a client VM when asked for, else none. An installed
 * extension's mdmId is kept when the setting does not ask for one (a PUT replaces settings). */
static void pick_mdm(const struct login_plan_in *in, struct login_plan_out *o)
{
    const char *id = model_login_mdm_id(in->mdm, in->edition);

    if (id == NULL && in->has_ext && in->ext_mdm_id != NULL && strlen(in->ext_mdm_id) == 36 &&
        strspn(in->ext_mdm_id, "0123456789abcdefABCDEF-") == 36)
        id = in->ext_mdm_id; /* a GUID, as sent back into JSON text */
    snprintf(o->mdm_id, sizeof(o->mdm_id), "%s", id ? id : "");
}

static bool ext_ok(const struct login_plan_in *in)
{
    const char *want = in->want_version && in->want_version[0] ? in->want_version : "1.0";
    const char *mdm = model_login_mdm_id(in->mdm, in->edition);

    return in->has_ext && model_provisioning_is(in->ext_state, OPERATION_STATUS_SUCCEEDED) &&
           in->has_system_identity &&
           (in->ext_version == NULL || model_version_cmp(in->ext_version, want) >= 0) &&
           (mdm == NULL || (in->ext_mdm_id != NULL && strcasecmp(in->ext_mdm_id, mdm) == 0));
}

static bool plan_blockers(const struct login_plan_in *in, struct login_plan_out *o)
{
    bool failed_ext = in->has_ext && model_provisioning_is(in->ext_state, OPERATION_STATUS_FAILED);
    bool stuck = in->prior_failed && in->facts_unchanged &&
                 (!in->prior_retryable || in->failures >= in->max_failures);
    /* A re-PUT can clear a failed extension, but not a refusal a person must lift (a lock, a
     * policy deny, a missing role): Azure would refuse the re-PUT the same way. */
    bool denied = in->prior_failed && model_denial_cause(in->prior_cause);

    if (stuck && (!failed_ext || denied)) {
        set(o, LOGIN_ACT_FAIL, LOGIN_STATE_FAILED, "held", OPERATION_STATUS_FAILED);
        cause(o, in->prior_cause);
        return true;
    }
    if (in->explicit_vm && model_login_mdm_refused(in->mdm, in->edition)) {
        /* asked for this VM alone (wider scopes install without it): the seed's refusal */
        set(o, LOGIN_ACT_FAIL, LOGIN_STATE_FAILED, "preflight", OPERATION_STATUS_FAILED);
        cause(o, MODEL_CAUSE_MDM_SERVER);
        return true;
    }
    if (in->domain_joined) {
        set(o, LOGIN_ACT_FAIL, LOGIN_STATE_FAILED, "preflight", OPERATION_STATUS_FAILED);
        cause(o, MODEL_CAUSE_DOMAIN_JOINED);
        return true;
    }
    if (in->device_duplicate == MODEL_TRI_YES && !in->was_enabled && !failed_ext) {
        set(o, LOGIN_ACT_FAIL, LOGIN_STATE_FAILED, "preflight", OPERATION_STATUS_FAILED);
        cause(o, MODEL_CAUSE_HOSTNAME_DUPLICATE);
        return true;
    }
    return false;
}

/* The OS can't run the extension: a failure at VM scope, a skip at a wider one; a failed
 * extension left on the VM blocks every other operation on it, so it is removed first. */
static void plan_unsupported(const struct login_plan_in *in, struct login_plan_out *o)
{
    cause(o, MODEL_CAUSE_PREFLIGHT_OS);
    if (in->has_ext && model_provisioning_is(in->ext_state, OPERATION_STATUS_FAILED) &&
        in->mode == MODEL_LOGIN_ENFORCE && in->running && !in->vm_busy) {
        set(o, LOGIN_ACT_DELETE_EXT, LOGIN_STATE_UNSUPPORTED, "removeFailedExtension",
            OPERATION_STATUS_RUNNING);
        o->then_fail = true;
        return;
    }
    set(o, LOGIN_ACT_FAIL, LOGIN_STATE_UNSUPPORTED, "preflight",
        in->explicit_vm ? OPERATION_STATUS_FAILED : OPERATION_STATUS_SKIPPED);
}

void reconcile_login_plan(const struct login_plan_in *in, struct login_plan_out *o)
{
    *o = (struct login_plan_out){0};
    pick_version(in, o);
    pick_mdm(in, o);
    if (in->desired == LOGIN_DESIRED_NONE) {
        set(o, LOGIN_ACT_NONE, LOGIN_STATE_NOT_COVERED, "", OPERATION_STATUS_SKIPPED);
        return;
    }
    if (in->desired == LOGIN_DESIRED_DISABLED) {
        plan_disable(in, o);
        return;
    }
    if (in->excluded) {
        set(o, LOGIN_ACT_NONE, LOGIN_STATE_EXCLUDED, "", OPERATION_STATUS_SKIPPED);
        return;
    }
    if (in->os == MODEL_OS_UNSUPPORTED) {
        plan_unsupported(in, o);
        return;
    }
    if (ext_ok(in)) {
        set(o, LOGIN_ACT_NONE, LOGIN_STATE_ENABLED, "", OPERATION_STATUS_SUCCEEDED);
        return;
    }
    if (in->mode == MODEL_LOGIN_AUDIT) {
        plan_audit(in, o);
        return;
    }
    if (!in->running) {
        set(o, LOGIN_ACT_WAIT, LOGIN_STATE_PENDING, "waitForStart", OPERATION_STATUS_RUNNING);
        snprintf(o->note, sizeof(o->note),
                 "the VM is not running: vmlogind continues when it starts");
        return;
    }
    if (in->vm_busy || (in->has_ext && ext_transitional(in->ext_state))) {
        set(o, LOGIN_ACT_WAIT, LOGIN_STATE_PENDING, "waitForVm", OPERATION_STATUS_RUNNING);
        snprintf(o->note, sizeof(o->note), "another operation is running on the VM");
        return;
    }
    if (plan_blockers(in, o))
        return;
    if (in->has_ext && model_provisioning_is(in->ext_state, OPERATION_STATUS_FAILED)) {
        plan_failed_ext(in, o);
        return;
    }
    if (!in->has_system_identity) {
        set(o, LOGIN_ACT_IDENTITY, LOGIN_STATE_APPLYING, "identity", OPERATION_STATUS_RUNNING);
        return;
    }
    set(o, LOGIN_ACT_PUT_EXT, LOGIN_STATE_APPLYING, "extension", OPERATION_STATUS_RUNNING);
}

const char *reconcile_login_action_str(enum login_action a)
{
    static const char *const names[] = {"none",     "wait",         "report",         "fail",
                                        "identity", "putExtension", "deleteExtension"};
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "none";
}

const char *reconcile_login_rollup(const char *const *st, size_t n)
{
    size_t ok = 0, failed = 0;
    enum operation_status s;

    for (size_t i = 0; i < n; i++) {
        if (!operation_status_parse(st[i], &s))
            s = OPERATION_STATUS_FAILED; /* an unknown word counts as a failure, as before */
        if (s == OPERATION_STATUS_NOT_STARTED || s == OPERATION_STATUS_RUNNING)
            return operation_status_str(OPERATION_STATUS_RUNNING);
        if (s == OPERATION_STATUS_SUCCEEDED || s == OPERATION_STATUS_SKIPPED)
            ok++;
        else
            failed++;
    }
    if (failed == 0)
        return operation_status_str(OPERATION_STATUS_SUCCEEDED);
    return operation_status_str(ok == 0 ? OPERATION_STATUS_FAILED
                                        : OPERATION_STATUS_PARTIALLY_SUCCEEDED);
}
