/* api_access_index.h: an in-memory image of what GET /v1{vm}/access reads (login-role
 * assignments by scope, transitive group members, principals), built from one consistent read
 * of the store and valid for exactly the access generation it was read at (migration 0005:
 * every write to a source table bumps it). A reader that finds another generation gets NULL
 * and answers from SQL, and wakes the builder thread (access_index_start), which builds a new
 * index once the generation has held still for a moment (not while a sync is writing page
 * after page): no request ever waits for a build. */
#ifndef VMLOGIND_API_ACCESS_INDEX_H
#define VMLOGIND_API_ACCESS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/model_access.h"
#include "vmlogind/store_access.h"

struct store;
struct access_index;

/* A known principal as the access answer shows it, written once per index by frag: which 0
 * gives principal ("principal":{...}), 1 group ("group":{...}), 2 blocked (the signInBlocked
 * reason, NULL when none). A new string; NULL for 0 or 1 fails the build. */
struct access_index_known {
    const char *principal;
    const char *group;
    const char *blocked;
    size_t principal_len, group_len;
};
typedef char *(*access_index_frag_fn)(const struct store_principal_row *p, int which);
/* Starts the builder thread, which reads through st (a connection of its own) and builds the
 * first index when a reader first asks. false if the thread could not start (every answer
 * comes from SQL). */
bool access_index_start(struct store *st, access_index_frag_fn frag);
/* Ends the builder (a build under way gives up) and drops the index. */
void access_index_stop(void);
/* The index for this generation (store_access_generation), referenced (release it), or NULL:
 * none built for it yet (the builder is woken), or the data has a shape the index does not
 * hold. */
struct access_index *access_index_get(int64_t epoch, int64_t gen);
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
