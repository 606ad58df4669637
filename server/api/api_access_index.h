/* api_access_index.h: an in-memory image of what GET /v1{vm}/access reads (login-role
 * assignments by scope, transitive group members, principals), built from one consistent read
 * of the store and valid for exactly the access generation it was read at (migration 0005:
 * every write to a source table bumps it). A reader that finds another generation gets NULL
 * and answers from SQL; the index is rebuilt by one request thread once the generation has
 * held still for a moment (not while a sync is writing page after page). */
#ifndef VMLOGIND_API_ACCESS_INDEX_H
#define VMLOGIND_API_ACCESS_INDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "vmlogind/model_access.h"
#include "vmlogind/store_access.h"

struct store;
struct access_index;

/* The index for the store's current generation, referenced (release it), or NULL: stale and
 * being rebuilt, the store has no generation table, or the data has a shape it does not hold.
 * Builds it in the calling thread when no other thread is (allow_build, and not in a
 * transaction); reads only the generation otherwise. */
/* A known principal as the access answer shows it, written once per index by frag: which 0
 * gives principal ("principal":{...}), 1 group ("group":{...}), 2 blocked (the signInBlocked
 * reason, NULL when none). A new string; NULL for 0 or 1 fails the build. */
struct access_index_known {
    const char *principal;
    const char *group;
    const char *blocked;
};
typedef char *(*access_index_frag_fn)(const struct store_principal_row *p, int which);
struct access_index *access_index_acquire(struct store *st, bool allow_build,
                                          access_index_frag_fn frag);
void access_index_release(struct access_index *ix);
/* Drops the process's index (tests; memory). */
void access_index_reset(void);

/* What store_access_at_scopes + model_access_dedupe give for these lowercase scope keys, as
 * model assignments whose strings live in the index or in *arena (free() it after use).
 * false if a key is not lowercase (the caller uses SQL then). */
bool access_index_at_scopes(const struct access_index *ix, const char *const *keys, size_t nkeys,
                            struct model_access_assignment **out, size_t *n, char **arena);
/* The transitive members of the given groups, as store_access_members_of gives them. */
void access_index_members_of(const struct access_index *ix, const char *const *groups,
                             size_t ngroups, struct model_access_member **out, size_t *n);
/* The known principal with this id, or NULL. */
const struct access_index_known *access_index_known(const struct access_index *ix, const char *id);

#endif
