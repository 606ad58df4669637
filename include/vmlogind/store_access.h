/* store_access.h: the indexed reads behind effective access and grant validation: directory
 * principals as the inventory sync observed them, transitive group membership, and the
 * assignments of the two VM login roles at given scopes or to given principals, observed in
 * Azure (role_assignments) or granted by vmlogind (active login_grants), each tagged with the
 * grant behind it when there is one. Read-only; the tables belong to the sync and to grants. */
#ifndef VMLOGIND_STORE_ACCESS_H
#define VMLOGIND_STORE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"

struct store;

struct store_principal_row {
    char *id;
    char *kind; /* user | group | servicePrincipal | device */
    char *upn;
    char *display_name;
    char *user_type;     /* Member | Guest | "" */
    int account_enabled; /* 1, 0, -1 unknown */
    char *deleted;       /* none | soft | gone */
};
void store_principal_row_clear(struct store_principal_row *p);
void store_principal_rows_free(struct store_principal_row *list, size_t n);

/* By object id (any case) or UPN (any case). ERR_NOT_FOUND if the sync has not seen it. */
enum err store_access_principal_find(struct store *st, const char *upn_or_id,
                                     struct store_principal_row *out,
                                     struct err_detail *d) VL_MUST_CHECK;
/* The rows of the given object ids that are known (any order). */
enum err store_access_principals_get(struct store *st, const char *const *ids, size_t nids,
                                     struct store_principal_row **out, size_t *n,
                                     struct err_detail *d) VL_MUST_CHECK;
/* Is principal_id group_id itself or a transitive member of it? false on any error. */
bool store_access_is_member(struct store *st, const char *group_id, const char *principal_id);
/* Has the inventory sync recorded members of group_id (it does for groups that hold role
 * assignments)? When not, store_access_is_member's false is no answer. false on any error. */
bool store_access_knows_members(struct store *st, const char *group_id);
/* The groups principal_id belongs to, transitively. *out: free each id and the array. */
enum err store_access_groups_of(struct store *st, const char *principal_id, char ***out, size_t *n,
                                struct err_detail *d) VL_MUST_CHECK;

/* An assignment of a login role. Owns its strings. */
struct store_access_row {
    char *scope;
    char *scope_key;
    char *role_guid;
    char *principal_id;
    char *principal_type;
    char *grant_id;      /* NULL: made outside vmlogind */
    char *assignment_id; /* ARM id, NULL for a grant not yet observed */
    int64_t expires_at;
    char *activation_id; /* the just-in-time activation behind the grant, NULL if none */
};
void store_access_rows_free(struct store_access_row *list, size_t n);

/* Login-role assignments at exactly these scope keys (lowercase): observed ones joined to the
 * grant behind them, plus active grants (which may not have been observed yet). Duplicates
 * are left for model_access_dedupe. */
enum err store_access_at_scopes(struct store *st, const char *const *scope_keys, size_t nkeys,
                                struct store_access_row **out, size_t *n,
                                struct err_detail *d) VL_MUST_CHECK;
/* The same for assignments held by these principals (lowercase ids), at any scope. */
enum err store_access_of_principals(struct store *st, const char *const *ids, size_t nids,
                                    struct store_access_row **out, size_t *n,
                                    struct err_detail *d) VL_MUST_CHECK;
/* The transitive members of the given groups: pairs (group, member, member kind) where group
 * is one of group_ids. */
struct store_member_row {
    char *group_id;
    char *member_id;
    char *member_kind;
};
void store_member_rows_free(struct store_member_row *list, size_t n);
enum err store_access_members_of(struct store *st, const char *const *group_ids, size_t ngroups,
                                 struct store_member_row **out, size_t *n,
                                 struct err_detail *d) VL_MUST_CHECK;

/* ---- the in-memory access index's sources ---- */

/* The access generation (migration 0005): epoch tells databases apart, gen grows with every
 * write to role_assignments, principals, group_members or login_grants, and (migration 0018)
 * with every VM row added or removed and every change to a VM's computer name or presence. */
enum err store_access_generation(struct store *st, int64_t *epoch, int64_t *gen,
                                 struct err_detail *d) VL_MUST_CHECK;

/* A row of store_access_at_scopes, borrowed for the length of a callback. */
struct store_access_view {
    const char *scope;
    const char *scope_key;
    const char *role_guid;
    const char *principal_id;
    const char *principal_type;
    const char *grant_id;
    const char *assignment_id;
    int64_t expires_at;
    const char *activation_id;
    bool granted; /* from the active-grants half of the union */
};
struct store_access_scan_fns {
    /* every principal (the callee owns *p and its strings) */
    void (*principal)(void *arg, struct store_principal_row *p);
    /* every (group, transitive member, kind) as store_access_members_of gives them */
    void (*member)(void *arg, const char *group_id, const char *member_id, const char *kind);
    /* every row store_access_at_scopes would give for some scope key */
    void (*assignment)(void *arg, const struct store_access_view *a);
    /* optional: every VM row, after every assignment: its lowercase id, whether it is gone
     * and its computer name */
    void (*vm)(void *arg, const char *id_key, bool gone, const char *computer_name);
    /* optional: true ends the scan early (it then fails) */
    bool (*stop)(void *arg);
};
/* One consistent read of all of the above, with the generation it was read at. */
enum err store_access_scan(struct store *st, const struct store_access_scan_fns *fns, void *arg,
                           int64_t *epoch, int64_t *gen, struct err_detail *d) VL_MUST_CHECK;

#endif
