/* store_seen.h: what the observed-table modules (extensions, role assignments, principals,
 * sync runs) share beyond store_int.h: per-connection scratch sets a sync pass keeps in TEMP
 * tables (never in the database file, never counted by store_changes()), and collecting a
 * query's rows into an array. Private to server/store/. */
#ifndef VMLOGIND_STORE_SEEN_H
#define VMLOGIND_STORE_SEEN_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store_int.h"

/* Runs the cached statement sql to completion on a TEMP table and counts its changes as
 * scratch. Create the table with a "CREATE TEMP TABLE IF NOT EXISTS" run through this first. */
enum err store_seen_exec(struct store *st, const char *sql, struct err_detail *d);
/* Creates the TEMP table (create_sql: CREATE TEMP TABLE IF NOT EXISTS) and empties it
 * (reset_sql): the start of a sync pass. */
enum err store_seen_reset(struct store *st, const char *create_sql, const char *reset_sql,
                          struct err_detail *d);
/* Steps the already bound statement s (on a TEMP table) and counts its changes as scratch. */
enum err store_seen_step(struct store *st, sqlite3_stmt *s, struct err_detail *d);

/* Steps the bound statement s, converting each row with row(s, element) into a new array of
 * elements of elem_size bytes. On failure frees what was built with clear(element) and
 * returns the mapped error; s is reset either way. */
enum err store_collect(sqlite3_stmt *s, size_t elem_size, void (*row)(sqlite3_stmt *, void *),
                       void (*clear)(void *), void **out, size_t *n, struct err_detail *d,
                       const char *what);

/* One batch of an observed table's upserts: writes items[0..n), adding the rows written to
 * *changed. */
typedef enum err (*store_batch_fn)(struct store *st, const void *items, size_t n, int64_t now,
                                   size_t *changed, struct err_detail *d);
/* Runs fn in one write transaction (or the caller's); *changed (may be NULL) is the rows it
 * wrote, 0 when it failed and was rolled back. */
enum err store_batch(struct store *st, store_batch_fn fn, const void *items, size_t n, int64_t now,
                     size_t *changed, struct err_detail *d);

/* A sync pass's set of seen keys (struct store_seen, store.h), kept in memory instead of a
 * TEMP table: an in-memory TEMP database never gives its pages back (100k keys held ~30 MiB
 * per worker connection for good), and every insert into it cost a B-tree write. Keys are
 * 64-bit hashes of the ASCII-lowercased key (as SQL lower() makes id_key); a pass over n keys
 * misjudges an unseen key as seen with probability about n^2 / 2^64, so at worst one row is
 * marked gone a pass later. The pass owns it (no thread-local state): one thread at a time. */
struct store_seen {
    uint64_t *h; /* open addressing; 0 = free slot */
    size_t cap;  /* a power of two, or 0 */
    size_t n;
};

/* Adds key to s; s NULL: nothing (an upsert outside a sync pass). */
void seen_set_add(struct store_seen *s, const char *key);
/* True when s saw key; s NULL: nothing was seen. */
bool seen_set_has(const struct store_seen *s, const char *key);
/* Marks gone the keys of the bound statement present (column 0) that set has not seen (set
 * NULL: none was): runs mark_sql (binding :id_key and :now) on each in one write transaction,
 * none when all were seen. *gone is the rows updated (0 on failure). Resets present either
 * way. */
enum err seen_set_mark_unseen(struct store *st, const struct store_seen *set, sqlite3_stmt *present,
                              const char *mark_sql, int64_t now, size_t *gone, struct err_detail *d,
                              const char *what);

#endif
