/* access_internal.h: inside server/access/ only. A snapshot is an in-memory image of what
 * GET /v1{vm}/access reads (login-role assignments by scope, transitive group members, known
 * principals as the renderers write them, VMs' rows), built from one consistent read of the store
 * and valid for exactly the access generation it was read at. The read model (struct access_index,
 * vmlogind/access.h) holds the current one; a reader that finds another generation gets NULL and
 * answers from the store, and wakes the builder thread, which builds a new snapshot once the
 * generation has held still for a moment (not while a sync is writing page after page): no request
 * ever waits for a build. */
#ifndef VMLOGIND_ACCESS_INTERNAL_H
#define VMLOGIND_ACCESS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/access.h"

struct access_snapshot;

/* The snapshot for this generation (store_access_generation), referenced (release it), or
 * NULL: none built for it yet (the builder is woken), the read model does not build, or the
 * data has a shape a snapshot does not hold. */
struct access_snapshot *access_index_get(struct access_index *ix, int64_t epoch, int64_t gen);
void access_index_release(struct access_snapshot *s);
/* The store the read model reads (borrowed). */
struct store *access_index_store(const struct access_index *ix);

#define ACCESS_INDEX_KEYS_MAX 8

/* What store_access_at_scopes + model_access_dedupe give for these lowercase scope keys, as
 * model assignments whose strings live in the snapshot or in *arena (free() it after use);
 * found (NULL, or nkeys entries) gets each key's place in the snapshot for access_index_vm, or
 * -1. false if a key is not lowercase (the caller uses SQL then). */
bool access_index_at_scopes(const struct access_snapshot *s, const char *const *keys, size_t nkeys,
                            struct model_access_assignment **out, size_t *n, char **arena,
                            long *found);
/* The transitive members of the given groups, as store_access_members_of gives them. */
void access_index_members_of(const struct access_snapshot *s, const char *const *groups,
                             size_t ngroups, struct model_access_member **out, size_t *n);
/* What an answer shows of a VM's row; computer_name is borrowed. */
struct access_vm_facts {
    bool found; /* the VM has a row */
    bool gone;
    const char *computer_name;
};
/* The row of the VM whose key access_index_at_scopes found at scope, as the snapshot holds it
 * (not found for -1). */
void access_index_vm(const struct access_snapshot *s, long scope, struct access_vm_facts *out);
/* The known principal with this id, or NULL. */
const struct access_known *access_index_known(const struct access_snapshot *s, const char *id);

#endif
