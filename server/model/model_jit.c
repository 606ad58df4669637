/* model_jit.c: the bodies of just-in-time login (eligibilities, activations, decisions) turned
 * into plain structs, and ISO 8601 durations. The grant part of an eligibility is judged by
 * model_grant.c itself, never re-implemented here. Pure: no I/O, no clock. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "vmlogind/model_jit.h"

#define DURATION_MAX_S (10LL * 366 * 86400)

/* ---- durations ----------------------------------------------------------------------------- */

/* Reads digits at *p into *n (at most 9, so no overflow); false when there are none. */
static bool digits(const char **p, int64_t *n)
{
    int k = 0;

    *n = 0;
    while (isdigit((unsigned char)**p) && k < 9) {
        *n = *n * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    return k > 0 && !isdigit((unsigned char)**p);
}

/* The seconds of unit u in the date part (before 'T') or the time part; 0 when not allowed. */
static int64_t unit_seconds(char u, bool time_part)
{
    if (!time_part)
        return u == 'W' ? 7 * 86400 : u == 'D' ? 86400 : 0;
    return u == 'H' ? 3600 : u == 'M' ? 60 : u == 'S' ? 1 : 0;
}

bool model_jit_duration_parse(const char *s, int64_t *seconds)
{
    const char *p = s;
    const char *order = "WD";
    bool time_part = false, any = false;
    int64_t total = 0;

    if (s == NULL || *p++ != 'P')
        return false;
    while (*p != '\0') {
        int64_t n, mul;
        const char *at;
        if (*p == 'T' && !time_part) {
            time_part = true;
            order = "HMS";
            p++;
            if (*p == '\0')
                return false;
            continue;
        }
        if (!digits(&p, &n))
            return false;
        mul = unit_seconds(*p, time_part);
        at = *p != '\0' ? strchr(order, *p) : NULL;
        if (mul == 0 || at == NULL)
            return false; /* an unknown unit, or one out of order or repeated */
        order = at + 1;
        total += n * mul;
        if (total > DURATION_MAX_S)
            return false;
        any = true;
        p++;
    }
    if (!any)
        return false;
    *seconds = total;
    return true;
}

const char *model_jit_duration_fmt(int64_t seconds, char *out, size_t cap)
{
    long long d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60,
              sec = seconds % 60;
    size_t n = (size_t)snprintf(out, cap, "P");

    if (d > 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%lldD", d);
    if ((h > 0 || m > 0 || sec > 0 || d == 0) && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "T");
    if (h > 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%lldH", h);
    if (m > 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%lldM", m);
    if ((sec > 0 || (d == 0 && h == 0 && m == 0)) && n < cap)
        (void)snprintf(out + n, cap - n, "%lldS", sec);
    return out;
}

/* A duration member: violations at field; true with *out when it is valid and in bounds. */
static bool duration_field(const char *text, const char *field, int64_t max_s, int64_t *out,
                           struct violations *vs)
{
    int64_t s = 0;

    if (!model_jit_duration_parse(text, &s))
        violations_add(vs, field, "invalid_duration",
                       "%s is an ISO 8601 duration such as PT8H, PT30M or P1D", field);
    else if (s < MODEL_JIT_DURATION_MIN_S || s > max_s)
        violations_add(vs, field, "duration_out_of_range", "%s is %d s to %lld s", field,
                       MODEL_JIT_DURATION_MIN_S, (long long)max_s);
    else {
        *out = s;
        return true;
    }
    return false;
}

/* A boolean member: false when absent; a violation when not a boolean. */
static bool bool_field(const json_t *o, const char *name, struct violations *vs)
{
    const json_t *v = json_object_get(o, name);

    if (v != NULL && !json_is_boolean(v))
        violations_add(vs, name, "wrong_type", "%s must be a boolean", name);
    return json_is_true(v);
}

/* ---- eligibilities ------------------------------------------------------------------------- */

static void approvers_field(const json_t *a, struct model_eligibility_spec *out,
                            struct violations *vs)
{
    static const char *const pr[] = {"objectId", NULL};
    const json_t *e;
    size_t i;
    char path[48];

    if (!json_is_array(a)) {
        violations_add(vs, "approvers", "wrong_type", "approvers is an array of {\"objectId\"}");
        return;
    }
    if (json_array_size(a) > MODEL_JIT_APPROVERS_MAX) {
        violations_add(vs, "approvers", "too_many", "at most %d approvers",
                       MODEL_JIT_APPROVERS_MAX);
        return;
    }
    json_array_foreach(a, i, e)
    {
        const char *id;
        snprintf(path, sizeof(path), "approvers[%zu].", i);
        if (!json_is_object(e)) {
            violations_add(vs, "approvers", "wrong_type", "each approver is {\"objectId\"}");
            continue;
        }
        model_grant_json_unknown(e, pr, path, vs);
        snprintf(path, sizeof(path), "approvers[%zu].objectId", i);
        id = model_grant_json_str(e, "objectId", path, vs);
        if (id == NULL || !uuid_is_valid(id)) {
            violations_add(vs, path, "invalid_object_id", "an object id is a GUID");
            continue;
        }
        snprintf(out->approvers[out->napprovers], UUID_STR_LEN, "%s", id);
        for (char *c = out->approvers[out->napprovers]; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        for (size_t k = 0; k < out->napprovers; k++) {
            if (strcmp(out->approvers[k], out->approvers[out->napprovers]) == 0) {
                violations_add(vs, path, "duplicate", "this approver is listed twice");
                out->napprovers--;
                break;
            }
        }
        out->napprovers++;
    }
}

/* The JIT terms of an eligibility body (the members a grant body does not have). */
static void terms(const json_t *root, int64_t max_duration_s, struct model_eligibility_spec *out,
                  struct violations *vs)
{
    const char *md = model_grant_json_str(root, "maxDuration", "maxDuration", vs);
    const json_t *a = json_object_get(root, "approvers");

    if (json_object_get(root, "maxDuration") == NULL)
        violations_add(vs, "maxDuration", "required", "maxDuration is required (e.g. PT8H)");
    else if (md != NULL)
        (void)duration_field(md, "maxDuration", max_duration_s, &out->max_duration_s, vs);
    out->require_approval = bool_field(root, "requireApproval", vs);
    out->require_justification = bool_field(root, "requireJustification", vs);
    out->require_ticket = bool_field(root, "requireTicket", vs);
    if (a != NULL && !json_is_null(a))
        approvers_field(a, out, vs);
    if (out->require_approval && out->napprovers == 0)
        violations_add(vs, "approvers", "required",
                       "an eligibility that requires approval names its approvers");
}

bool model_eligibility_from_json(const json_t *root, int64_t now_ms, int64_t max_duration_s,
                                 struct model_eligibility_spec *out, struct violations *vs)
{
    static const char *const jit[] = {"maxDuration",          "requireApproval", "approvers",
                                      "requireJustification", "requireTicket",   NULL};
    size_t before = vs->n + vs->dropped;
    struct model_grant_request rq;
    json_t *grant_part;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(root)) {
        violations_add(vs, "", "wrong_type", "the body must be a JSON object");
        return false;
    }
    terms(root, max_duration_s, out, vs);
    /* the rest is a grant body: a shallow copy shares its strings with root */
    grant_part = json_copy((json_t *)root);
    for (size_t i = 0; jit[i] != NULL; i++)
        json_object_del(grant_part, jit[i]);
    if (model_grant_request_from_json(grant_part, &rq, vs))
        (void)model_grant_validate(&rq, now_ms, max_duration_s, &out->grant, vs);
    json_decref(grant_part);
    return vs->n + vs->dropped == before;
}

/* ---- activations --------------------------------------------------------------------------- */

static const char *bounded_text(const json_t *root, const char *name, size_t max,
                                struct violations *vs)
{
    const char *s = model_grant_json_str(root, name, name, vs);

    if (s != NULL && strlen(s) > max) {
        violations_add(vs, name, "too_long", "%s has at most %zu characters", name, max);
        return "";
    }
    return s != NULL ? s : "";
}

static void activation_principal(const json_t *p, struct model_activation_spec *out,
                                 struct violations *vs)
{
    static const char *const pr[] = {"objectId", NULL};
    const char *id;

    if (!json_is_object(p)) {
        violations_add(vs, "principal", "wrong_type", "principal is {\"objectId\": ...}");
        return;
    }
    model_grant_json_unknown(p, pr, "principal.", vs);
    id = model_grant_json_str(p, "objectId", "principal.objectId", vs);
    if (id == NULL || !uuid_is_valid(id)) {
        violations_add(vs, "principal.objectId", "invalid_object_id",
                       "an object id is a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        return;
    }
    snprintf(out->principal_id, sizeof(out->principal_id), "%s", id);
    for (char *c = out->principal_id; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
}

bool model_activation_from_json(const json_t *root, int64_t max_duration_s,
                                struct model_activation_spec *out, struct violations *vs)
{
    static const char *const top[] = {"scope",  "role",      "duration", "justification",
                                      "ticket", "principal", NULL};
    size_t before = vs->n + vs->dropped;
    const char *scope, *role, *duration;
    const json_t *p;

    memset(out, 0, sizeof(*out));
    out->justification = out->ticket = "";
    if (!json_is_object(root)) {
        violations_add(vs, "", "wrong_type", "the body must be a JSON object");
        return false;
    }
    model_grant_json_unknown(root, top, "", vs);
    scope = model_grant_json_str(root, "scope", "scope", vs);
    role = model_grant_json_str(root, "role", "role", vs);
    duration = model_grant_json_str(root, "duration", "duration", vs);
    if (scope == NULL)
        violations_add(vs, "scope", "required", "scope is required");
    else
        (void)model_scope_parse(scope, &out->scope, vs, "scope");
    out->role = role != NULL ? model_grant_role_parse(role) : MODEL_GRANT_ROLE_NONE;
    if (out->role == MODEL_GRANT_ROLE_NONE)
        violations_add(vs, "role", role ? "unknown_role" : "required",
                       "role is \"administrator\" or \"user\"");
    if (duration == NULL)
        violations_add(vs, "duration", "required", "duration is required (e.g. PT1H)");
    else
        (void)duration_field(duration, "duration", max_duration_s, &out->duration_s, vs);
    out->justification = bounded_text(root, "justification", MODEL_GRANT_JUSTIFICATION_MAX, vs);
    out->ticket = bounded_text(root, "ticket", MODEL_JIT_TICKET_MAX, vs);
    p = json_object_get(root, "principal");
    if (p != NULL && !json_is_null(p))
        activation_principal(p, out, vs);
    return vs->n + vs->dropped == before;
}

bool model_activation_decision_from_json(const json_t *root, bool reason_required,
                                         const char **reason, struct violations *vs)
{
    static const char *const top[] = {"reason", NULL};
    size_t before = vs->n + vs->dropped;

    *reason = "";
    if (root != NULL && !json_is_object(root)) {
        violations_add(vs, "", "wrong_type", "the body must be a JSON object");
        return false;
    }
    if (root != NULL) {
        model_grant_json_unknown(root, top, "", vs);
        *reason = bounded_text(root, "reason", MODEL_JIT_REASON_MAX, vs);
    }
    if (reason_required && (*reason)[0] == '\0')
        violations_add(vs, "reason", "required", "a denial gives its reason");
    return vs->n + vs->dropped == before;
}

/* ---- states -------------------------------------------------------------------------------- */

static const char *const activation_states[ACTIVATION_STATE_COUNT] = {
    [ACTIVATION_STATE_REQUESTED] = "requested",     [ACTIVATION_STATE_PENDING] = "pendingApproval",
    [ACTIVATION_STATE_ACTIVE] = "active",           [ACTIVATION_STATE_DENIED] = "denied",
    [ACTIVATION_STATE_EXPIRED] = "expired",         [ACTIVATION_STATE_CANCELLED] = "cancelled",
    [ACTIVATION_STATE_DEACTIVATED] = "deactivated",
};

const char *model_activation_state_str(enum activation_state s)
{
    return (unsigned)s < ACTIVATION_STATE_COUNT ? activation_states[s] : "";
}

bool model_activation_state_is(const char *s, enum activation_state st)
{
    return s != NULL && (unsigned)st < ACTIVATION_STATE_COUNT &&
           strcmp(s, activation_states[st]) == 0;
}

bool model_activation_state_valid(const char *s)
{
    for (int i = 0; i < ACTIVATION_STATE_COUNT; i++) {
        if (model_activation_state_is(s, (enum activation_state)i))
            return true;
    }
    return false;
}

const char *model_activation_state_shown(const char *stored, const char *grant_state)
{
    if (!model_activation_state_is(stored, ACTIVATION_STATE_ACTIVE) || grant_state == NULL)
        return stored;
    if (grant_state_is(grant_state, GRANT_STATE_EXPIRED))
        return model_activation_state_str(ACTIVATION_STATE_EXPIRED);
    if (grant_state_is(grant_state, GRANT_STATE_REVOKED) ||
        grant_state_is(grant_state, GRANT_STATE_REVOKING) ||
        grant_state_is(grant_state, GRANT_STATE_FAILED))
        return model_activation_state_str(ACTIVATION_STATE_DEACTIVATED);
    return stored;
}
