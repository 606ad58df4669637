/* model_access.h: effective VM login access, computed without I/O from the assignments of the
 * two login roles that cover a VM (its own scope, its resource group, its subscription) and
 * the transitive members of the groups among them. Administrator beats user; a direct
 * assignment beats one through a group; a grant that never expires beats one that does.
 * Owner and Contributor never appear here: only the two login role GUIDs are ever loaded. */
#ifndef VMLOGIND_MODEL_ACCESS_H
#define VMLOGIND_MODEL_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/model_grant.h"

/* One assignment of a login role (observed in Azure, or a vmlogind grant). Borrowed strings. */
struct model_access_assignment {
    const char *scope;
    const char *scope_key; /* lowercase */
    enum model_grant_role role;
    const char *principal_id;   /* lowercase */
    const char *principal_type; /* ARM spelling: User | Group | ServicePrincipal | ... */
    const char *grant_id;       /* the vmlogind grant behind it; NULL = made outside vmlogind */
    const char *assignment_id;  /* ARM id when known, else NULL */
    int64_t expires_at;         /* 0 = never */
    const char *activation_id;  /* the just-in-time activation behind the grant, NULL if none */
    bool json_plain; /* scope and assignment_id need no escaping in JSON (whoever read it knows) */
};

/* member_id is a transitive member of group_id. */
struct model_access_member {
    const char *group_id;
    const char *member_id;
    const char *member_kind; /* "user", "group", "servicePrincipal", "device" */
};

/* One principal that can sign in, with the assignment that gives it its highest role. */
struct model_access_entry {
    const char *principal_id;
    const char *principal_kind; /* API spelling: "user", "group", "servicePrincipal" */
    enum model_grant_role role;
    const struct model_access_assignment *best; /* points into the assignments given */
    const char *via_group;                      /* NULL: direct */
    size_t paths;                               /* assignments that reach this principal */
};

/* True when scope_key is resource_key itself or one of its ancestors (segment boundary). */
bool model_access_scope_covers(const char *scope_key, const char *resource_key);

/* Sorts a and drops duplicates of the same (scope, role, principal), keeping the one with a
 * grant id (and the assignment id of whichever duplicate knew it). Returns the new count.
 * Input already in model_access_order costs n - 1 comparisons and no sort. */
size_t model_access_dedupe(struct model_access_assignment *a, size_t n);
/* The total order model_access_dedupe sorts by (qsort's contract, on assignments). */
int model_access_order(const void *a, const void *b);

/* Who can sign in, from assignments that all cover the VM and the transitive memberships of
 * the groups among their principals. *out is a new array (free() it) of *n entries sorted
 * administrators first, then by principal id. Groups appear too (kind "group", direct). */
void model_access_compute(const struct model_access_assignment *a, size_t na,
                          const struct model_access_member *m, size_t nm,
                          struct model_access_entry **out, size_t *n);

/* The best of the assignments a[0..na) that cover resource_key for principal self_id, whose
 * transitive groups are all the other principal ids in a (the caller loads only those).
 * Returns its index, or -1 if none covers the resource. */
long model_access_best_for(const struct model_access_assignment *a, size_t na,
                           const char *resource_key, const char *self_id);

#endif
