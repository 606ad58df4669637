/* model_grant.h: login grants as plain data: the two VM login roles, scope parsing and
 * normalisation (subscription, resource group or VM; never a management group), the
 * POST /v1/loginGrants body and its validation, the deterministic role-assignment name, and
 * the verdict on a directory principal (guests, disabled and deleted accounts can't sign in).
 * Pure: no I/O, no clock; callers pass "now". */
#ifndef VMLOGIND_MODEL_GRANT_H
#define VMLOGIND_MODEL_GRANT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"
#include "vmlogind/model_states.h"
#include "vmlogind/uuid.h"
#include "vmlogind/violations.h"

#define MODEL_GRANT_ROLE_ADMIN_GUID "1c0163c0-47e6-4577-8991-ea5c82e286e4"
#define MODEL_GRANT_ROLE_USER_GUID "fb879df8-f326-4884-b1cf-06f3ad86be52"
/* The namespace of role-assignment names (UUIDv5): fixed forever, or names change. */
#define MODEL_GRANT_NAME_NAMESPACE "5d6f0c1e-3b1a-4f6e-9c7d-2a8b4e1f0c93"

#define MODEL_GRANT_SCOPE_MAX 400
#define MODEL_GRANT_UPN_MAX 256
#define MODEL_GRANT_JUSTIFICATION_MAX 1024

enum model_grant_role { MODEL_GRANT_ROLE_NONE = 0, MODEL_GRANT_ROLE_USER, MODEL_GRANT_ROLE_ADMIN };

enum model_grant_scope_kind {
    MODEL_SCOPE_SUBSCRIPTION = 1,
    MODEL_SCOPE_RESOURCE_GROUP,
    MODEL_SCOPE_VM,
};

/* A parsed scope. arm is the canonical ARM form ("/subscriptions/{s}/resourceGroups/{rg}/
 * providers/Microsoft.Compute/virtualMachines/{name}", names in the case given, the
 * subscription lowercased); key is arm lowercased: what the store indexes and compares. */
struct model_scope {
    enum model_grant_scope_kind kind;
    char subscription[40];
    char resource_group[96];
    char vm[72];
    char arm[MODEL_GRANT_SCOPE_MAX];
    char key[MODEL_GRANT_SCOPE_MAX];
};

/* Parses in as a subscription, resource group or VM scope (the ARM VM id or the short
 * /subscriptions/{s}/resourceGroups/{rg}/virtualMachines/{name}; a trailing '/' is ignored).
 * A management-group scope is refused with code "management_group_scope" and the reason;
 * anything else with "invalid_scope". Violations go under field (vs may be NULL). */
bool model_scope_parse(const char *in, struct model_scope *out, struct violations *vs,
                       const char *field);
/* Builds a scope from path parts (rg and vm may be NULL); same checks and result. */
bool model_scope_from_parts(const char *sub, const char *rg, const char *vm,
                            struct model_scope *out, struct violations *vs);

const char *model_grant_role_name(enum model_grant_role r); /* "user" | "administrator" */
const char *model_grant_role_guid(enum model_grant_role r);
enum model_grant_role model_grant_role_parse(const char *s); /* NONE if unknown */
/* From a role definition id or GUID (any form, any case): NONE unless one of the two. */
enum model_grant_role model_grant_role_from_definition(const char *role_definition_id);

/* Principal types as ARM writes them: "User", "Group", "ServicePrincipal". The API spells
 * them "user", "group", "servicePrincipal"; both are accepted (any case). NULL if unknown. */
const char *model_grant_principal_type_arm(const char *s);
/* "User" -> "user", "Group" -> "group", "ServicePrincipal" -> "servicePrincipal". */
const char *model_grant_principal_type_api(const char *arm_type);

/* The body of POST /v1/loginGrants. Strings point into the json_t it came from. */
struct model_grant_request {
    const char *scope;
    const char *role;
    const char *upn;
    const char *object_id;
    const char
        *object_id_field;       /* the field it came from: "principal.id" or "principal.objectId" */
    const char *principal_type; /* NULL if not given */
    const char *expires_at;     /* RFC 3339, NULL if not given */
    const char *justification;  /* NULL if not given */
};

/* Shape: an object with exactly the known fields of the right types (unknown fields,
 * wrong types, missing scope/role/principal are violations). Borrows from root. */
bool model_grant_request_from_json(const json_t *root, struct model_grant_request *out,
                                   struct violations *vs);

/* Body helpers shared by the models of request bodies: the string member name of o (NULL when
 * absent or null; a violation at path when not a string), and a violation per member of o not
 * in known (NULL-terminated), its path prefixed. */
const char *model_grant_json_str(const json_t *o, const char *name, const char *path,
                                 struct violations *vs);
void model_grant_json_unknown(const json_t *o, const char *const *known, const char *prefix,
                              struct violations *vs);

/* What a valid request means. */
struct model_grant_spec {
    struct model_scope scope;
    enum model_grant_role role;
    char upn[MODEL_GRANT_UPN_MAX + 1]; /* "" when granted by object id */
    char object_id[UUID_STR_LEN];      /* lowercase, "" when granted by UPN */
    const char *principal_type;        /* ARM spelling, NULL if not given */
    int64_t expires_at;                /* ms, 0 = never */
    const char *justification;         /* borrowed, "" if none */
};

/* Semantics: scope, role, exactly one of upn/objectId (UPN syntax, GUID), principal type,
 * expiresAt RFC 3339 in the future and at most max_duration_s ahead, justification length.
 * Collects every violation; true when there is none. */
bool model_grant_validate(const struct model_grant_request *rq, int64_t now_ms,
                          int64_t max_duration_s, struct model_grant_spec *out,
                          struct violations *vs);

/* The body of PATCH /v1/loginGrants/{id}: {"expiresAt": RFC 3339} (required, in the future, at
 * most max_duration_s ahead of now_ms; unknown fields refused). Collects every violation; true
 * with *expires_at (ms) when there is none. */
bool model_grant_change_from_json(const json_t *root, int64_t now_ms, int64_t max_duration_s,
                                  int64_t *expires_at, struct violations *vs);

/* The role-assignment name for (scope, role, principal): UUIDv5 in MODEL_GRANT_NAME_NAMESPACE
 * of "<lowercase scope>|<role GUID>|<lowercase principal id>". The same triple always gives the
 * same name, so a retried PUT is idempotent. */
void model_grant_assignment_name(const char *scope, enum model_grant_role role,
                                 const char *principal_id, char out[UUID_STR_LEN]);
/* Placeholder name of a grant whose UPN is not resolved yet ("upn:" + lowercase UPN in place of
 * the id): keeps repeats of the same pending request idempotent. */
void model_grant_pending_name(const char *scope, enum model_grant_role role, const char *upn,
                              char out[UUID_STR_LEN]);

/* What is known about a directory principal. */
struct model_principal_facts {
    const char *kind;      /* "user", "group", "servicePrincipal", "device" */
    const char *user_type; /* "Member", "Guest", "" */
    int account_enabled;   /* 1, 0, or -1 unknown */
    const char *deleted;   /* "none", "soft", "gone" (NULL = none) */
};

/* May this principal receive a VM login role? ERR_OK, else ERR_INVALID with a stable code in d:
 * "guest_principal" (guests can't sign in to Entra-joined VMs), "principal_disabled",
 * "principal_deleted", "principal_type_unsupported" (devices), and the reason in d->msg. */
enum err model_grant_principal_check(const struct model_principal_facts *p,
                                     struct err_detail *d) VL_MUST_CHECK;

/* Grant states: enum grant_state (model_states.h). True for a stored grant state word. */
bool model_grant_state_valid(const char *s);
/* pending, active or revoking: the grant still holds (or is about to hold) an assignment. */
bool model_grant_state_is_live(const char *s);

#endif
