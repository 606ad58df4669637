/* access.h: the access read model (server/access/). "Who can sign in to this VM, and as
 * what?" answered from an in-memory index of the login-role assignments, groups and principals,
 * valid for exactly the access generation it was read at (migration 0005), or from the store
 * when no index is current; and the one renderer per kind of answer entry, which every path
 * uses. Reads the store and the model; never HTTP, never the caller's identity (api/ filters). */
#ifndef VMLOGIND_ACCESS_H
#define VMLOGIND_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/buf.h"
#include "vmlogind/err.h"
#include "vmlogind/model_access.h"
#include "vmlogind/store_access.h"

struct store;
struct model_scope;

/* ---- the read model (access_index.c) ------------------------------------------------------- */

/* The index, its builder thread and its counters: one per daemon, made by main, reached by the
 * handlers through struct app. */
struct access_index;

/* Which path answered: the in-memory index, or the store (SQL). */
enum access_path { ACCESS_PATH_INDEX, ACCESS_PATH_STORE };
const char *access_path_str(enum access_path p);

/* A new read model over st (borrowed; close it after access_index_free). build false: no index
 * is ever built and every answer comes from the store (VMLOGIND_ACCESS_INDEX=off). Starts the
 * builder thread, which builds the first index once a reader first asks (a daemon never asked
 * for access holds none). ERR_INTERNAL if the thread could not start. */
enum err access_index_new(struct store *st, bool build, struct access_index **out) VL_MUST_CHECK;
/* Ends the builder (a build under way gives up), drops the index and frees ix (NULL allowed). */
void access_index_free(struct access_index *ix);
/* Drops the current index (tests; memory): the next reader wakes the builder. */
void access_index_reset(struct access_index *ix);
/* Counts an answer given by path p. */
void access_index_count(struct access_index *ix, enum access_path p);
/* Appends vmlogind_access_answers_total{path=...} in Prometheus text to out. */
enum err access_index_metrics(const struct access_index *ix, struct buf *out) VL_MUST_CHECK;

/* ---- store rows as model assignments (access_rows.c) --------------------------------------- */

/* Rows of store_access_at_scopes or store_access_of_principals (owned) seen as model
 * assignments (borrowing their strings), deduplicated as model_access_dedupe does. */
struct access_rows {
    struct store_access_row *rows;
    size_t nrows;
    struct model_access_assignment *a;
    size_t na;
};
/* Fills r->a from r->rows (which r owns from now on). */
void access_rows_init(struct access_rows *r);
void access_rows_cleanup(struct access_rows *r);
/* The ids of the groups among the assignments (a new array; the ids are borrowed). */
const char **access_rows_groups(const struct access_rows *r, size_t *n);

/* ---- GET /v1{vm}/access (access_vm.c) ------------------------------------------------------ */

/* The whole answer for vm into w (initialised here; the caller cleans it up), from the index
 * when one is current for the store's generation, else from the store in one read transaction;
 * *path says which answered (and is counted). Errors: the store's. */
enum err access_vm_answer(struct access_index *ix, const struct model_scope *vm, struct buf_json *w,
                          enum access_path *path, struct err_detail *d) VL_MUST_CHECK;

/* ---- the renderers (access_render.c) ------------------------------------------------------- */

/* A known principal as the answers show it, written once: "principal":{...}, "group":{...}
 * and the reason it cannot sign in (signInBlocked: a static string, or NULL). */
struct access_known {
    const char *principal;
    const char *group;
    const char *blocked;
    size_t principal_len, group_len;
};
/* Fills k from p with new strings (access_render_known_cleanup frees them); false if they
 * could not be written (k is then empty). */
bool access_render_known_init(struct access_known *k, const struct store_principal_row *p);
void access_render_known_cleanup(struct access_known *k);

/* Principal rows (taken over) with their fragments, found by id. */
struct access_known_set {
    struct store_principal_row *rows; /* sorted by id */
    struct access_known *known;
    size_t n;
};
void access_render_known_set_init(struct access_known_set *s, struct store_principal_row *rows,
                                  size_t n);
/* The entry of the principal with this id, or NULL (id NULL allowed). */
const struct access_known *access_render_known_find(const struct access_known_set *s,
                                                    const char *id);
void access_render_known_set_cleanup(struct access_known_set *s);

/* "principal":{...}: k's, or for a principal the directory does not know, its id and kind. */
void access_render_principal(struct buf_json *w, const char *id, const char *kind,
                             const struct access_known *k);
/* One entry of a VM's answer: who (e's principal, k as known or NULL), the best path (via the
 * group g as known, or NULL), how many paths, and why the principal cannot sign in. */
void access_render_vm_entry(struct buf_json *w, const struct model_access_entry *e,
                            const struct access_known *k, const struct access_known *g);
/* One entry of a principal's answer: assignment a, held directly when its principal is self
 * else through the group g (as known, or NULL); with the VM it reaches when vm_id is set
 * ("vm":{id, name, computerName}), else the assignment alone. */
void access_render_principal_entry(struct buf_json *w, const struct model_access_assignment *a,
                                   const char *self, const struct access_known *g,
                                   const char *vm_id, const char *vm_name,
                                   const char *computer_name);

#endif
