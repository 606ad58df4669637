/* store_jit.h: just-in-time login's tables: eligibilities (with their approvers) and
 * activations. What a state means and which transition is allowed is decided in api/ and
 * reconcile/; activation writes are conditional on the generation the writer read, so the API
 * and the reconciler (which lapses pending approvals) never overwrite each other's step. */
#ifndef VMLOGIND_STORE_JIT_H
#define VMLOGIND_STORE_JIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"

struct store;

/* One eligibility. Owns its strings. */
struct store_eligibility {
    char *id;
    char *scope;
    char *scope_key;
    char *role;           /* "administrator" | "user" */
    char *principal_id;   /* lowercase object id */
    char *principal_type; /* "User" | "Group" */
    int64_t max_duration_s;
    bool require_approval;
    bool require_justification;
    bool require_ticket;
    int64_t expires_at; /* 0 = until deleted */
    char *justification;
    char *created_by;
    int64_t created_at;
    char *approvers; /* JSON array of lowercase object ids */
};
void store_eligibility_clear(struct store_eligibility *e);
void store_eligibility_list_free(struct store_eligibility *list, size_t n);

/* Inserts e (its approvers member is ignored) with approvers[0..n). */
enum err store_eligibility_insert(struct store *st, const struct store_eligibility *e,
                                  const char *const *approvers, size_t napprovers, int64_t now,
                                  struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND if unknown. */
enum err store_eligibility_get(struct store *st, const char *id, struct store_eligibility *out,
                               struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND if unknown. */
enum err store_eligibility_delete(struct store *st, const char *id,
                                  struct err_detail *d) VL_MUST_CHECK;
/* A page of at most limit (1..1000) eligibilities ordered by id after `after` (NULL: first),
 * at exactly scope_key and for principal (object id) when not NULL. *next_after: a new string
 * for the next page, NULL on the last. */
enum err store_eligibility_list(struct store *st, const char *scope_key, const char *principal,
                                const char *after, int limit, struct store_eligibility **out,
                                size_t *n, char **next_after, struct err_detail *d) VL_MUST_CHECK;
/* The eligibilities for role at scope_key or an ancestor of it, not expired at now (at most
 * 100, the narrowest scope first). */
enum err store_eligibility_covering(struct store *st, const char *scope_key, const char *role,
                                    int64_t now, struct store_eligibility **out, size_t *n,
                                    struct err_detail *d) VL_MUST_CHECK;

/* One activation. Owns its strings. grant_state is the linked grant's state (NULL if none). */
struct store_activation {
    char *id;
    char *eligibility_id;
    char *scope;
    char *scope_key;
    char *role;
    char *principal_id;
    char *requested_by;
    int64_t duration_s;
    char *justification;
    char *ticket;
    char *state;
    char *approvers; /* JSON array of object ids, copied from the eligibility */
    int64_t pending_until;
    char *decided_by;
    char *reason;
    char *grant_id;
    int64_t expires_at;
    int64_t generation;
    int64_t created_at;
    int64_t updated_at;
    char *grant_state;
};
void store_activation_clear(struct store_activation *a);
void store_activation_list_free(struct store_activation *list, size_t n);

/* Inserts a (id, eligibility_id, scope, role, principal_id, requested_by, duration_s, state
 * required; grant_id, expires_at, pending_until, approvers may be NULL/0). */
enum err store_activation_insert(struct store *st, const struct store_activation *a, int64_t now,
                                 struct err_detail *d) VL_MUST_CHECK;
enum err store_activation_get(struct store *st, const char *id, struct store_activation *out,
                              struct err_detail *d) VL_MUST_CHECK;
/* A page ordered by id after `after`, with the stored state when state is not NULL. */
enum err store_activation_list(struct store *st, const char *state, const char *after, int limit,
                               struct store_activation **out, size_t *n, char **next_after,
                               struct err_detail *d) VL_MUST_CHECK;

/* A transition: NULL/0 members keep the column. */
struct store_activation_update {
    const char *state;
    const char *decided_by;
    const char *reason;
    const char *grant_id;
    int64_t expires_at;
};
/* Applies u when the row is still at generation gen (and bumps it). ERR_CONFLICT when it moved
 * on; ERR_NOT_FOUND if unknown. */
enum err store_activation_update(struct store *st, const char *id, int64_t gen,
                                 const struct store_activation_update *u, int64_t now,
                                 struct err_detail *d) VL_MUST_CHECK;

#endif
