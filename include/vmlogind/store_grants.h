/* store_grants.h: the desired login grants (table login_grants) and the per-scope
 * authoritative mode (table authoritative_scopes). A grant names (scope, role, principal);
 * at most one grant per assignment name is live (pending, active or revoking) at a time, which
 * is what makes a repeated POST find the existing grant. Transitions are conditional on the
 * row's generation, so the API and the reconciler never overwrite each other's step. */
#ifndef VMLOGIND_STORE_GRANTS_H
#define VMLOGIND_STORE_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"

struct store;

/* One grant. Owns its strings (NULL where the column is NULL). */
struct store_grant {
    char *id;
    char *scope;          /* canonical ARM scope */
    char *scope_key;      /* lower(scope) */
    char *role;           /* "administrator" | "user" */
    char *principal_id;   /* lowercase object id; "" while a UPN is unresolved */
    char *principal_type; /* "User" | "Group" | "ServicePrincipal" */
    char *upn;
    int64_t expires_at; /* 0 = never */
    char *justification;
    char *state; /* pending | active | failed | revoking | revoked | expired */
    char *last_error_code;
    char *last_error_message;
    char *assignment_name; /* UUIDv5 of (scope, role, principal) */
    char *assignment_id;   /* ARM id once created or adopted */
    char *operation_id;
    int64_t generation;
    char *created_by;
    char *revoked_by;
    int64_t created_at;
    int64_t updated_at;
    char *activation_id; /* the just-in-time activation that made it (store_jit.h), or NULL */
};
void store_grant_clear(struct store_grant *g);
void store_grant_list_free(struct store_grant *list, size_t n);

/* Inserts a new pending grant (id, scope, role, principal_id, principal_type, assignment_name,
 * created_by required; the rest may be NULL/0). ERR_CONFLICT when a live grant already has
 * the same assignment name. */
enum err store_grant_insert(struct store *st, const struct store_grant *g, int64_t now,
                            struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND if unknown. *out: store_grant_clear() it. */
enum err store_grant_get(struct store *st, const char *id, struct store_grant *out,
                         struct err_detail *d) VL_MUST_CHECK;
/* The live grant with this assignment name, ERR_NOT_FOUND if none. */
enum err store_grant_find_live(struct store *st, const char *assignment_name,
                               struct store_grant *out, struct err_detail *d) VL_MUST_CHECK;

struct store_grant_filter {
    const char *scope_key; /* exact scope (lowercase), NULL: any */
    const char *principal; /* object id or UPN (any case), NULL: any */
    const char *state;     /* NULL: any */
};
/* A page of at most limit (1..1000) grants ordered by id, after the id `after` (NULL or "" for
 * the first page). *next_after is a new string for the next page, NULL on the last. */
enum err store_grant_list(struct store *st, const struct store_grant_filter *f, const char *after,
                          int limit, struct store_grant **out, size_t *n, char **next_after,
                          struct err_detail *d) VL_MUST_CHECK;

/* A transition. NULL members keep the column, except the error pair, which is always written
 * (NULL clears it). */
struct store_grant_update {
    const char *state;
    const char *error_code;
    const char *error_message;
    const char *assignment_id;
    const char *assignment_name;
    const char *principal_id;
    const char *principal_type;
    const char *revoked_by;
    int64_t expires_at; /* ms; 0 = unchanged */
};
/* Applies u when the row is still at generation gen (and bumps it). ERR_CONFLICT when the row
 * moved on (re-read and decide again) or when the new assignment name collides with another
 * live grant; ERR_NOT_FOUND if the grant is unknown. */
enum err store_grant_update(struct store *st, const char *id, int64_t gen,
                            const struct store_grant_update *u, int64_t now,
                            struct err_detail *d) VL_MUST_CHECK;

/* The live grant behind an observed assignment, matched by its name or (adopted) ARM id:
 * ERR_OK with *grant_id (new string), ERR_NOT_FOUND when the assignment is external. */
enum err store_grant_for_assignment(struct store *st, const char *name, const char *arm_id,
                                    char **grant_id, struct err_detail *d) VL_MUST_CHECK;

/* Live grants whose expiry has passed (at most limit): the safety net behind the per-grant
 * expiry task. *out is a new array of ids: free each and the array. */
enum err store_grant_expired_ids(struct store *st, int64_t now, int limit, char ***out, size_t *n,
                                 struct err_detail *d) VL_MUST_CHECK;

/* ---- authoritative scopes -------------------------------------------------------------------- */

struct store_login_policy {
    char *scope;
    char *scope_key;
    bool authoritative; /* false: no row */
    bool dry_run;       /* report external assignments, remove nothing */
    char *created_by;
    int64_t created_at;
};
void store_login_policy_clear(struct store_login_policy *p);

/* The policy set exactly at scope_key (authoritative false when none). */
enum err store_login_policy_get(struct store *st, const char *scope_key,
                                struct store_login_policy *out, struct err_detail *d) VL_MUST_CHECK;
/* Sets (authoritative) or removes (not authoritative) the policy at scope. *changed (may be
 * NULL) tells whether anything was written. */
enum err store_login_policy_put(struct store *st, const char *scope, bool authoritative,
                                bool dry_run, const char *actor, int64_t now, bool *changed,
                                struct err_detail *d) VL_MUST_CHECK;
/* The authoritative policy covering scope_key (the scope itself or an ancestor: VM, then
 * resource group, then subscription), authoritative false when none. */
enum err store_login_policy_covering(struct store *st, const char *scope_key,
                                     struct store_login_policy *out,
                                     struct err_detail *d) VL_MUST_CHECK;

#endif
