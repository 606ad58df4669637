/* model_jit.h: just-in-time login as plain data: the bodies of POST /v1/eligibilities,
 * POST /v1/activations and the approve/deny decisions, ISO 8601 durations, and the activation
 * states. An eligibility body is a grant body (scope, role, principal, expiresAt,
 * justification: judged by model_grant_validate, so scopes, management groups and principals
 * are refused exactly as for grants) plus the JIT terms. Pure: no I/O, no clock. */
#ifndef VMLOGIND_MODEL_JIT_H
#define VMLOGIND_MODEL_JIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/model_grant.h"
#include "vmlogind/model_states.h"
#include "vmlogind/uuid.h"
#include "vmlogind/violations.h"

#define MODEL_JIT_APPROVERS_MAX 16
#define MODEL_JIT_TICKET_MAX 128
#define MODEL_JIT_REASON_MAX 1024
#define MODEL_JIT_DURATION_MIN_S 1

/* An ISO 8601 duration of days, hours, minutes and seconds ("PT8H", "P1DT30M", "PT90S", "P2W"):
 * whole numbers only, no years or months (their length varies). True with *seconds; false for
 * anything else, an empty duration ("P", "PT") or more than 10 years. */
bool model_jit_duration_parse(const char *s, int64_t *seconds);
/* seconds (>= 0) as the shortest ISO 8601 duration of days, hours, minutes and seconds that
 * model_jit_duration_parse reads back ("PT8H", "P1DT30M", "PT0S"); returns out. */
const char *model_jit_duration_fmt(int64_t seconds, char *out, size_t cap);

/* What a valid eligibility body means. grant's strings borrow from the body's json_t. */
struct model_eligibility_spec {
    struct model_grant_spec grant; /* scope, role, principal, expiresAt, justification */
    int64_t max_duration_s;
    bool require_approval;
    bool require_justification;
    bool require_ticket;
    size_t napprovers;
    char approvers[MODEL_JIT_APPROVERS_MAX][UUID_STR_LEN]; /* lowercase object ids */
};

/* POST /v1/eligibilities: {scope, role, principal, maxDuration, requireApproval?, approvers?,
 * requireJustification?, requireTicket?, expiresAt?, justification?}. maxDuration is at least
 * MODEL_JIT_DURATION_MIN_S and at most max_duration_s; approvers ([{objectId}], at most
 * MODEL_JIT_APPROVERS_MAX, no repeats) are required when requireApproval is true. Collects every
 * violation (field paths as in the body); true when there is none. */
bool model_eligibility_from_json(const json_t *root, int64_t now_ms, int64_t max_duration_s,
                                 struct model_eligibility_spec *out, struct violations *vs);

/* What a valid activation body means. Strings borrow from the body's json_t ("" when absent). */
struct model_activation_spec {
    struct model_scope scope;
    enum model_grant_role role;
    int64_t duration_s;
    const char *justification;
    const char *ticket;
    char principal_id[UUID_STR_LEN]; /* "" : the caller herself */
};

/* POST /v1/activations: {scope, role, duration, justification?, ticket?, principal?:
 * {objectId}}. duration is an ISO 8601 duration of at least MODEL_JIT_DURATION_MIN_S and at most
 * max_duration_s (the eligibility's own bound is checked once it is found). Collects every
 * violation; true when there is none. */
bool model_activation_from_json(const json_t *root, int64_t max_duration_s,
                                struct model_activation_spec *out, struct violations *vs);

/* The body of approve ({reason?}) or deny ({reason}: required when reason_required): a NULL
 * body is an empty one. *reason borrows from root ("" when absent). */
bool model_activation_decision_from_json(const json_t *root, bool reason_required,
                                         const char **reason, struct violations *vs);

/* A just-in-time activation's state (table activations). Its words live here rather than in
 * model_states.c: "denied" would collide there with the Graph-denied cause. */
enum activation_state {
    ACTIVATION_STATE_REQUESTED = 0,
    ACTIVATION_STATE_PENDING, /* "pendingApproval" */
    ACTIVATION_STATE_ACTIVE,
    ACTIVATION_STATE_DENIED,
    ACTIVATION_STATE_EXPIRED,
    ACTIVATION_STATE_CANCELLED,
    ACTIVATION_STATE_DEACTIVATED,
};
#define ACTIVATION_STATE_COUNT 7

const char *model_activation_state_str(enum activation_state s);
/* True when s is one of the words. */
bool model_activation_state_valid(const char *s);
/* True when the stored word s spells st (false for NULL or an unknown word). */
bool model_activation_state_is(const char *s, enum activation_state st);

/* The state an activation shows (enum activation_state, model_states.h), given its grant's
 * state: an active one whose grant expired is "expired", one whose grant was revoked or failed
 * "deactivated"; otherwise the stored state. */
const char *model_activation_state_shown(const char *stored, const char *grant_state);

#endif
