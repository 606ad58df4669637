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
enum err store_seen_step(struct store *st, struct store_q *s, struct err_detail *d);

/* Steps the bound statement s, converting each row with row(s, element) into a new array of
 * elements of elem_size bytes. On failure frees what was built with clear(element) and
 * returns the mapped error; s is reset either way. */
enum err store_collect(struct store_q *s, size_t elem_size, void (*row)(struct store_q *, void *),
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
    /* The rows of the table present when the pass first wrote to it: key hash -> hash of the
     * facts as stored, so an unchanged row costs no statement (store_seen_known_same). */
    uint64_t *known_key;   /* open addressing like h */
    uint64_t *known_facts; /* beside known_key */
    uint64_t *known_group; /* beside known_key: store_seen_group_of the row's subscription */
    size_t known_cap;
    size_t known_n;
    bool known_loaded;
};

/* Adds key to s; s NULL: nothing (an upsert outside a sync pass). */
void seen_set_add(struct store_seen *s, const char *key);
/* True when s saw key; s NULL: nothing was seen. */
bool seen_set_has(const struct store_seen *s, const char *key);
/* The facts of a row hashed field after field, as the upsert binds them and as the table
 * stores them: start with SEEN_FACTS_SEED; lower hashes the ASCII-lowercased text (a column
 * the upsert stores through lower()); an integer column NULL when null. A changed row is taken
 * for unchanged with probability about 2^-64, and then written by the next change. */
#define SEEN_FACTS_SEED 0x9e3779b97f4a7c15ull
uint64_t store_seen_hash_text(uint64_t h, const char *s, bool lower);
uint64_t store_seen_hash_int(uint64_t h, int64_t v, bool null);
/* Once per pass and table (set->known_loaded): the present rows of the bound statement rows,
 * column 0 the key, the others the facts in the order the upsert hashes them (text, or
 * integer/NULL). Resets rows either way. */
enum err store_seen_known_load(struct store_seen *set, struct store_q *rows, int group_col,
                               struct err_detail *d, const char *what);
/* The subscription of a scope, or of a bare subscription id, hashed (0: above all of them).
 * Column group_col of store_seen_known_load's rows gives it per row. */
uint64_t store_seen_group_of(const char *text);
/* True when every row present at the start of the pass in the subscription (NULL: at the
 * scopes above every subscription) has been seen: then nothing there is to be marked gone
 * (rows the pass added are seen), and the caller need not read the table. False when the
 * facts were not loaded. */
bool store_seen_known_all_seen(const struct store_seen *set, const char *subscription_id);
/* True when key was present at the start of the pass with these facts (set NULL: false). */
bool store_seen_known_same(const struct store_seen *set, const char *key, uint64_t facts);
/* Records that key, present at the start of the pass, now holds facts (after a write, so a
 * key listed twice compares with what the first listing wrote; a new key is not kept: the
 * upsert compares it again). */
void store_seen_known_put(struct store_seen *set, const char *key, uint64_t facts);

/* Forgets the facts (a write rolled back: what was put may not be stored); the next upsert
 * of the pass loads them again. */
void store_seen_known_forget(struct store_seen *set);

/* Marks gone the keys of the bound statement present (column 0) that set has not seen (set
 * NULL: none was): runs mark_sql (binding :id_key and :now) on each in one write transaction,
 * none when all were seen. *gone is the rows updated (0 on failure). Resets present either
 * way. */
enum err seen_set_mark_unseen(struct store *st, struct store_seen *set, struct store_q *present,
                              const char *mark_sql, int64_t now, size_t *gone, struct err_detail *d,
                              const char *what);

/* PostgreSQL: a sync pass's scratch sets, kept in memory on the thread's connection (struct
 * store_conn) where SQLite keeps TEMP tables. A TEMP table lives in one database session, and
 * on PostgreSQL a thread's statements run each on a pooled connection (a transaction holds one
 * until it ends), while a pass spans many transactions; so the pass's sets stay in the thread,
 * as they do on SQLite (one connection per thread). What a statement needs of them is bound to
 * it: the keys of the groups replaced as a JSON array, the seen extensions looked up in C. */
struct store_pg_scratch {
    struct store_seen *exts; /* extensions upserted since store_extensions_sync_begin, by
                              * store_pg_scratch_ext_key */
    struct json_t *groups;   /* ids of the groups replaced since store_group_members_sync_begin */
};
/* The calling thread's scratch sets (both made empty on first use); NULL (d filled) when the
 * thread has no connection. */
struct store_pg_scratch *store_pg_scratch(struct store *st, struct err_detail *d);
void store_pg_scratch_free(struct store_pg_scratch *s);
/* The key of an extension in exts: "<vm id>\n<name>" (hashed without case, so the stored
 * vm_key || chr(10) || name_key is the same key). A new string. */
char *store_pg_scratch_ext_key(const char *vm_id, const char *name);

#endif
