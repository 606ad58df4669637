/* store.h: the only door to persistent state. SQLite today (WAL, one connection per thread,
 * statements prepared once), PostgreSQL later, so no sqlite3 type appears here.
 * Every function works on the calling thread's own connection, opened lazily from the store
 * handle; a transaction begun on a thread is that thread's. Times are ms since the epoch.
 * IDs are stored as given next to a lowercased key; lookups by ID are case-insensitive. */
#ifndef VMLOGIND_STORE_H
#define VMLOGIND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/err.h"

struct store;

/* ---- open, migrate, transactions ------------------------------------------------------- */

/* One embedded migration: migrations/NNNN_name.sql (generated migrations_embedded.c). */
struct store_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct store_migration store_migrations[];
extern const int store_migrations_count;
/* The same migrations in PostgreSQL 15's dialect, for store_backend = postgresql:
 * migrations/postgresql/NNNN_name.sql, the same numbers and names (generated
 * pg_migrations_embedded.c). */
extern const struct store_migration store_pg_migrations[];
extern const int store_pg_migrations_count;

/* Opens (creating if needed) the database at path (":memory:" allowed: one private in-memory
 * database shared by this handle's threads). Configures SQLite once per process. Does not
 * migrate. *out belongs to the caller: store_close() it. */
enum err store_open(const char *path, struct store **out, struct err_detail *d) VL_MUST_CHECK;
/* The cloud (config "cloud") whose endpoints the fix of a login.failed event names; call before
 * threads use the store. NULL or "" = AzureCloud. */
void store_set_cloud(const char *cloud);
/* Closes every thread's connection and frees st (NULL allowed). Stop every thread that uses
 * st first. */
void store_close(struct store *st);
/* Closes the calling thread's connection now (it also closes when the thread exits). */
void store_thread_done(struct store *st);

/* Applies the embedded migrations the database lacks, in order, each in its own write
 * transaction recorded in schema_migrations and PRAGMA user_version. A failure rolls that
 * migration back (the database stays as it was) and returns ERR_STORE naming the file and
 * SQLite's error; a database newer than this binary is refused with ERR_PRECONDITION. */
enum err store_migrate(struct store *st, struct err_detail *d) VL_MUST_CHECK;
/* The same with an explicit list (sorted by version); for tests. */
enum err store_migrate_with(struct store *st, const struct store_migration *list, int n,
                            struct err_detail *d) VL_MUST_CHECK;
/* The schema version the database is at (0 when empty). */
enum err store_schema_version(struct store *st, int *version, struct err_detail *d) VL_MUST_CHECK;
/* Open and migrated to the newest embedded version: what /readyz asks. */
bool store_is_ready(struct store *st);
/* Whether other processes may serve the same store (PostgreSQL: several replicas), so what a
 * process keeps in memory for all callers (rate buckets, say) must live in the store instead. */
bool store_is_shared(const struct store *st);

/* Write transaction (BEGIN IMMEDIATE): holds the write lock until commit or rollback; busy is
 * retried inside. Nested begin on one thread is ERR_INTERNAL. */
enum err store_tx_begin(struct store *st, struct err_detail *d) VL_MUST_CHECK;
/* Read transaction: one consistent snapshot for several reads. The one write made in one is
 * an API key's last-use touch (a minute apart, during a snapshot route's request): SQLite
 * upgrades the transaction when nothing was committed since it began, else the touch fails at
 * once with busy and the next request tries again. Nothing else writes in one. */
enum err store_tx_begin_read(struct store *st, struct err_detail *d) VL_MUST_CHECK;
/* On failure the transaction is rolled back and nothing of it persists. */
enum err store_tx_commit(struct store *st, struct err_detail *d) VL_MUST_CHECK;
/* Safe to call when no transaction is open. */
void store_tx_rollback(struct store *st);
bool store_in_tx(struct store *st);
/* Rows inserted, updated or deleted through this thread's connection since it opened. */
int64_t store_changes(struct store *st);
/* What this thread's connection has seen of the database. Two equal versions read on one
 * thread mean nothing was committed in between, by this connection or any other, in this
 * process or another (PRAGMA data_version, https://sqlite.org/pragma.html#pragma_data_version,
 * and the connection's own total changes; conn tells connections apart). Inside a read
 * transaction it names the state that transaction sees, and costs no page read. On
 * PostgreSQL conn is 0, which store_version_eq never finds equal. */
struct store_version {
    uint64_t conn;
    int64_t data_version;
    int64_t own_changes;
};
enum err store_version_get(struct store *st, struct store_version *v,
                           struct err_detail *d) VL_MUST_CHECK;
bool store_version_eq(const struct store_version *a, const struct store_version *b);

/* ---- tasks: the reconciler's durable work queue (DESIGN §5) ---------------------------- */
/* A task names a thing (kind "vm_login", key a VM id), not a step. A task is leasable when it
 * is pending and due; a lease moves due_at to the lease's end, so a lease held by a dead
 * worker simply becomes due again. */

enum store_task_state { STORE_TASK_PENDING = 0, STORE_TASK_DONE, STORE_TASK_DEAD };

struct store_task {
    int64_t id;
    char *kind;
    char *key;
    enum store_task_state state;
    int64_t due_at;
    int attempts;      /* leases since it last completed */
    char *lease_owner; /* NULL when not leased */
    int64_t lease_until;
    char *last_error; /* NULL if none */
    char *op_url;     /* a stored async-operation URL to resume polling, NULL if none */
    char *payload;    /* JSON text, "{}" by default */
    int64_t created_at;
    int64_t updated_at;
};
void store_task_clear(struct store_task *t);

/* Creates the task or makes the existing one pending and due at min(due_at, its due time).
 * A task leased right now keeps its lease and is marked to run again when it is released or
 * completed. payload may be NULL (keeps the stored one, "{}" for a new task). */
enum err store_task_upsert(struct store *st, const char *kind, const char *key, int64_t due_at,
                           const char *payload, int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* Leases the earliest due pending task (kind NULL: any kind) to owner until now + lease_ms.
 * ERR_NOT_FOUND when nothing is due. *out is filled; store_task_clear() it. */
enum err store_task_lease(struct store *st, const char *kind, const char *owner, int64_t now,
                          int64_t lease_ms, struct store_task *out,
                          struct err_detail *d) VL_MUST_CHECK;
/* store_task_lease() limited to the task (kind, key) when key is not NULL: a targeted wake
 * runs the task a write touched ahead of an older backlog. ERR_NOT_FOUND when it is not due
 * or someone else holds it. */
enum err store_task_lease_key(struct store *st, const char *kind, const char *key,
                              const char *owner, int64_t now, int64_t lease_ms,
                              struct store_task *out, struct err_detail *d) VL_MUST_CHECK;
/* Extends owner's lease (and stores op_url if not NULL). ERR_CONFLICT if owner lost it. */
enum err store_task_renew(struct store *st, int64_t id, const char *owner, int64_t now,
                          int64_t lease_ms, const char *op_url, struct err_detail *d) VL_MUST_CHECK;
/* Converged: done (or pending again if it was woken while leased); clears error and op_url. */
enum err store_task_complete(struct store *st, int64_t id, const char *owner, int64_t now,
                             struct err_detail *d) VL_MUST_CHECK;
/* Not converged yet: due again at now + delay_ms (use store_task_backoff_ms), with an error
 * (NULL for none) and the async-operation URL to resume (NULL clears it). */
enum err store_task_reschedule(struct store *st, int64_t id, const char *owner, int64_t now,
                               int64_t delay_ms, const char *last_error, const char *op_url,
                               struct err_detail *d) VL_MUST_CHECK;
/* Gave up: dead until upserted again. */
enum err store_task_fail(struct store *st, int64_t id, const char *owner, int64_t now,
                         const char *last_error, struct err_detail *d) VL_MUST_CHECK;
/* Gives the lease back untouched (shutdown): due now, the attempt not counted. */
enum err store_task_release(struct store *st, int64_t id, const char *owner, int64_t now,
                            struct err_detail *d) VL_MUST_CHECK;
enum err store_task_get(struct store *st, const char *kind, const char *key, struct store_task *out,
                        struct err_detail *d) VL_MUST_CHECK;
/* Exponential backoff for the given attempt: base * 2^(attempts-1) capped at cap, with up
 * to 20% jitter subtracted (jitter_seed in [0,1): pass a random number; 0 = none). */
int64_t store_task_backoff_ms(int attempts, int64_t base_ms, int64_t cap_ms, double jitter_seed);
/* Owners (NULL-terminated list, store_strv_free it) holding live leases whose owner id starts
 * with prefix: how a restarted process finds leases its dead predecessor on this host held. */
enum err store_task_lease_owners(struct store *st, const char *prefix, int64_t now, char ***owners,
                                 struct err_detail *d) VL_MUST_CHECK;
/* Makes every task leased by owner due now, as if its lease had expired. *n (may be NULL)
 * counts them. Only for owners known to be dead. */
enum err store_task_release_owner(struct store *st, const char *owner, int64_t now, int64_t *n,
                                  struct err_detail *d) VL_MUST_CHECK;
void store_strv_free(char **v);
/* Pending tasks due at or before now (for metrics and tests). */
enum err store_task_count_due(struct store *st, int64_t now, int64_t *count,
                              struct err_detail *d) VL_MUST_CHECK;

/* ---- audit log: append-only, hash-chained (DESIGN §6) ---------------------------------- */
/* hash = sha256_hex over the fields, each written as "<decimal length>:<bytes>;" in the order
 * prev_hash, seq, at, actor, action, target, request_id, outcome, details (seq and at as
 * decimal text). The first row's prev_hash is 64 '0'. */

#define STORE_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

struct store_audit_entry {
    int64_t seq; /* set by append */
    int64_t at;
    char *actor;      /* "key:<id>", "user:<oid>", "reconciler" */
    char *action;     /* "loginGrant.create", "entraLogin.put", ... */
    char *target;     /* resource id or "" */
    char *request_id; /* "" when none */
    char *outcome;    /* "accepted", "succeeded", "failed", "denied" */
    char *details;    /* JSON text, "{}" when none */
    char prev_hash[65];
    char hash[65];
};
void store_audit_entry_clear(struct store_audit_entry *e);

/* Appends e (fields borrowed; NULL target/request_id/details mean ""/""/"{}"). Inside the
 * caller's write transaction when one is open, so if this fails the caller rolls back and
 * the change does not happen; else in its own. Sets e->seq and the hashes on success. */
enum err store_audit_append(struct store *st, struct store_audit_entry *e,
                            struct err_detail *d) VL_MUST_CHECK;
/* Rows with seq > after, ascending, at most limit (1..1000). *out is a new array of *n
 * entries: store_audit_list_free() it. */
enum err store_audit_list(struct store *st, int64_t after, int limit,
                          struct store_audit_entry **out, size_t *n,
                          struct err_detail *d) VL_MUST_CHECK;
void store_audit_list_free(struct store_audit_entry *list, size_t n);
/* Walks the chain (store_audit_verify_anchored without a file). ERR_OK with *broken_seq = 0
 * when intact (*rows counted); ERR_CONFLICT with *broken_seq the first row whose hash, link or
 * sequence is wrong, or another code (see below) with *broken_seq 0. */
enum err store_audit_verify(struct store *st, int64_t *rows, int64_t *broken_seq,
                            struct err_detail *d) VL_MUST_CHECK;
/* The plain SHA-256 hash above (rows older versions wrote), for verifiers outside the store. */
void store_audit_hash(const struct store_audit_entry *e, char out[65]);

/* ---- audit anchoring: a key outside the database and signed checkpoints ------------------ */
/* Rows after audit_anchor.legacy_end (the last row an older version wrote, fixed by migration
 * 0008) are chained with hash = HMAC-SHA256(K_chain, the same encoding as above), so nobody
 * without the key can recompute the chain after editing a row. A checkpoint signs the head
 * of the chain: the line
 *   "vmlogind-audit-checkpoint v1 seq=<seq> hash=<hash> legacy_end=<n> at=<ms>"
 * with mac = HMAC-SHA256(K_checkpoint, that line), kept in audit_checkpoints and appended as
 * "<line> mac=<mac>\n" to a file outside the database, so deleting the last rows (with their
 * checkpoints in the database) is caught by the file. K_chain = HMAC-SHA256(key, "vmlogind
 * audit chain v1"), K_checkpoint = HMAC-SHA256(key, "vmlogind audit checkpoint v1"), where
 * key is the key file's bytes (trailing whitespace trimmed). */

#define STORE_AUDIT_KEY_MIN 32 /* bytes of key material at least */

/* Sets the audit key (copied; at least STORE_AUDIT_KEY_MIN bytes). Set it before threads use
 * st. Without it appends and checkpoints fail with ERR_PRECONDITION, except on a ":memory:"
 * store, which starts with a random key of its own (nothing of it outlives the process). */
enum err store_audit_key_set(struct store *st, const void *key, size_t len,
                             struct err_detail *d) VL_MUST_CHECK;
/* Reads the key file at path and sets it. When the file does not exist and create is true,
 * writes a new random key there (64 hex characters, mode 0600, never over an existing file)
 * and sets *created, but only while no row has been chained with a key: once one has, a lost
 * key file is ERR_PRECONDITION (a new key would leave the log unverifiable). */
enum err store_audit_key_load(struct store *st, const char *path, bool create, bool *created,
                              struct err_detail *d) VL_MUST_CHECK;

/* Signs the head of the chain when it is past the newest checkpoint by at least min_rows
 * rows, or by any row once min_age_ms passed since that checkpoint, or when there is none
 * yet: appends the line to file (NULL or "": none) and inserts the checkpoint into the
 * database. *written (may be NULL) tells whether one was made. Not inside a transaction. */
enum err store_audit_checkpoint(struct store *st, const char *file, int64_t now, int64_t min_rows,
                                int64_t min_age_ms, bool *written,
                                struct err_detail *d) VL_MUST_CHECK;

struct store_audit_report {
    int64_t rows;           /* rows whose link and hash were checked */
    int64_t legacy_end;     /* rows 1..legacy_end are plain SHA-256 (older versions) */
    int64_t broken_seq;     /* the first bad row, 0 if none */
    int64_t checkpoints;    /* signed checkpoints checked (file and database) */
    int64_t checkpoint_seq; /* the newest of them */
};
/* Walks the chain and holds it to every checkpoint in the database and in file (NULL: the
 * database's only): each must carry a valid mac, the chain must reach its seq with its hash,
 * and file must hold at least one. ERR_OK when intact; ERR_CONFLICT with d->code
 * audit_chain_broken (r->broken_seq), audit_truncated, audit_checkpoint_forged,
 * audit_checkpoint_mismatch or audit_unanchored, and d->msg saying what is wrong;
 * ERR_PRECONDITION without a key. */
enum err store_audit_verify_anchored(struct store *st, const char *file,
                                     struct store_audit_report *r,
                                     struct err_detail *d) VL_MUST_CHECK;

/* ---- API keys (DESIGN §6): only the SHA-256 of a key is stored -------------------------- */

struct store_api_key {
    char *id;
    char *name;
    char *role;         /* "reader" | "operator" | "administrator" */
    char *scopes;       /* JSON array of scope ids, "[]" = unlimited */
    char *grant_limits; /* JSON object, "{}" = no limit beyond the role */
    char *key_hash;     /* sha256 hex */
    char *created_by;
    int64_t created_at;
    int64_t revoked_at;   /* 0 = live */
    int64_t last_used_at; /* 0 = never */
};
void store_api_key_clear(struct store_api_key *k);
void store_api_key_list_free(struct store_api_key *list, size_t n);

/* Inserts k (id, name, role, key_hash required; scopes/grant_limits/created_by may be NULL).
 * ERR_CONFLICT on a duplicate id or hash, ERR_INVALID on a bad role or JSON. */
enum err store_api_key_insert(struct store *st, const struct store_api_key *k,
                              struct err_detail *d) VL_MUST_CHECK;
/* Live or revoked: the caller checks revoked_at. ERR_NOT_FOUND if unknown. */
enum err store_api_key_find_by_hash(struct store *st, const char *key_hash,
                                    struct store_api_key *out, struct err_detail *d) VL_MUST_CHECK;
enum err store_api_key_get(struct store *st, const char *id, struct store_api_key *out,
                           struct err_detail *d) VL_MUST_CHECK;
/* Every key, revoked ones too, by created_at. */
enum err store_api_key_list(struct store *st, struct store_api_key **out, size_t *n,
                            struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND if unknown; revoking a revoked key is ERR_OK and keeps the first time. */
enum err store_api_key_revoke(struct store *st, const char *id, int64_t now,
                              struct err_detail *d) VL_MUST_CHECK;
/* Records use; writes at most once a minute per key so the hot path stays read-only. */
enum err store_api_key_touch(struct store *st, const char *id, int64_t now,
                             struct err_detail *d) VL_MUST_CHECK;

/* ---- identity limits: scopes and grant limits for Entra callers (JWT subjects) ---------- */

struct store_identity_limits {
    char *subject;      /* "user:<oid>" or "app:<appid>", lowercase */
    char *scopes;       /* JSON array of scope ids, "[]" = unlimited */
    char *grant_limits; /* JSON object, "{}" = no limit beyond the role */
    char *created_by;
    int64_t updated_at;
};
void store_identity_limits_clear(struct store_identity_limits *l);
void store_identity_limits_list_free(struct store_identity_limits *list, size_t n);
/* Sets (replaces) the limits of l->subject. ERR_INVALID on a bad subject or JSON. */
enum err store_identity_limits_put(struct store *st, const struct store_identity_limits *l,
                                   int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND when the subject has no limits. */
enum err store_identity_limits_get(struct store *st, const char *subject,
                                   struct store_identity_limits *out,
                                   struct err_detail *d) VL_MUST_CHECK;
enum err store_identity_limits_list(struct store *st, struct store_identity_limits **out, size_t *n,
                                    struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND when the subject had none. */
enum err store_identity_limits_delete(struct store *st, const char *subject,
                                      struct err_detail *d) VL_MUST_CHECK;

/* ---- operations: long work behind 202 + Location ---------------------------------------- */

struct store_operation {
    char *id;
    char *kind;   /* "entraLogin.enable", "loginGrant.create", "sync", ... */
    char *target; /* scope or resource id as given */
    char *status; /* NotStarted|Running|Succeeded|Failed|PartiallySucceeded|Canceled */
    char *created_by;
    char *request_id;
    char *steps;         /* JSON array */
    char *error_code;    /* NULL if none */
    char *error_message; /* NULL if none */
    int64_t created_at;
    int64_t updated_at;
    int64_t ended_at; /* 0 while running */
};
void store_operation_clear(struct store_operation *o);

/* Inserts o (id, kind, target required; status defaults to NotStarted, steps to "[]"). */
enum err store_operation_create(struct store *st, const struct store_operation *o, int64_t now,
                                struct err_detail *d) VL_MUST_CHECK;
enum err store_operation_get(struct store *st, const char *id, struct store_operation *out,
                             struct err_detail *d) VL_MUST_CHECK;
/* Sets status, and steps / error when not NULL; a terminal status sets ended_at. */
enum err store_operation_update(struct store *st, const char *id, const char *status,
                                const char *steps, const char *error_code,
                                const char *error_message, int64_t now,
                                struct err_detail *d) VL_MUST_CHECK;

/* ---- VMs (observed) -------------------------------------------------------------------- */

/* What a sync reads about one VM. Borrowed strings; NULL means "". id must be the canonical
 * ARM id (/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/
 * virtualMachines/{name}); user_assigned_ids and tags are JSON text (NULL: "[]" / "{}"). */
struct store_vm_facts {
    const char *id;
    const char *subscription_id;
    const char *resource_group;
    const char *name;
    const char *location;
    const char *vm_id;
    const char *computer_name;
    const char *os_type;
    const char *image_publisher;
    const char *image_offer;
    const char *image_sku;
    const char *image_version;
    const char *image_id;
    const char *os_name;
    const char *os_version;
    const char *power_state;
    const char *provisioning_state;
    const char *identity_type;
    const char *identity_principal_id;
    const char *user_assigned_ids;
    const char *tags;
};

/* One stored VM. Owns its strings. */
struct store_vm {
    char *id;
    char *id_key;
    char *subscription_id;
    char *resource_group;
    char *name;
    char *location;
    char *vm_id;
    char *computer_name;
    char *os_type;
    char *image_publisher;
    char *image_offer;
    char *image_sku;
    char *image_version;
    char *image_id;
    char *os_name;
    char *os_version;
    char *power_state;
    char *provisioning_state;
    char *identity_type;
    char *identity_principal_id;
    char *user_assigned_ids;
    char *tags;
    int64_t generation; /* bumped whenever any fact changes: key for cached JSON */
    int64_t first_seen_at;
    int64_t changed_at; /* when a sync last changed a fact */
    int64_t gone_at;    /* 0 while present in Azure */
};
/* The keys a sync pass has seen (VMs, role assignments): the pass owns one per kind of row
 * and hands it to the upserts, then to mark_gone, which marks gone what it lacks. No
 * thread-local state: the pass object is explicit, so a pass may move between threads. It
 * belongs to one pass over one store: it also holds the facts the rows had at the pass's
 * first upsert, so only the pass may write those rows while it runs. */
struct store_seen;
struct store_seen *store_seen_new(void);
void store_seen_free(struct store_seen *s);
/* The pass also keeps a hash of each row's facts, so an unchanged row costs no statement; a
 * caller that rolls back a transaction holding the pass's upserts calls this, and the next
 * upsert reads the facts again. */
void store_seen_rolled_back(struct store_seen *s);
void store_vm_clear(struct store_vm *v);
void store_vm_list_free(struct store_vm *list, size_t n);

/* Upserts n VMs in one write transaction (or the caller's): a VM whose facts are unchanged is
 * not written at all; a new or changed one gets generation + 1 and changed_at = now; a gone
 * one comes back. Each VM is added to seen (the sync pass's; NULL outside a pass). *changed
 * (may be NULL) counts rows written. The subscription must exist in subscriptions. */
enum err store_vms_upsert(struct store *st, struct store_seen *seen,
                          const struct store_vm_facts *vms, size_t n, int64_t now, size_t *changed,
                          struct err_detail *d) VL_MUST_CHECK;
/* Marks gone every present VM of subscription_id that seen lacks (NULL: all of them). Call
 * only after a complete listing of that subscription. *gone (may be NULL) counts them. */
enum err store_vms_mark_gone(struct store *st, struct store_seen *seen, const char *subscription_id,
                             int64_t now, size_t *gone, struct err_detail *d) VL_MUST_CHECK;
/* By ARM id, any case. ERR_NOT_FOUND if unknown (gone VMs are found, gone_at set). */
enum err store_vm_get(struct store *st, const char *id, struct store_vm *out,
                      struct err_detail *d) VL_MUST_CHECK;

struct store_vm_filter {
    const char *subscription_id; /* NULL: any */
    const char *resource_group;  /* NULL: any; needs subscription_id */
    bool include_gone;
};
/* A page of at most limit (1..1000) VMs ordered by id key, after the key `after` (NULL or ""
 * for the first page). *next_after is a new string to pass as `after` for the next page, NULL
 * on the last page. */
enum err store_vm_list(struct store *st, const struct store_vm_filter *f, const char *after,
                       int limit, struct store_vm **out, size_t *n, char **next_after,
                       struct err_detail *d) VL_MUST_CHECK;

/* ---- subscriptions (observed) ----------------------------------------------------------- */

/* Upserts a subscription seen now; writes nothing if nothing changed. */
enum err store_subscription_upsert(struct store *st, const char *id, const char *display_name,
                                   const char *state, const char *tenant_id, int64_t now,
                                   bool *changed, struct err_detail *d) VL_MUST_CHECK;

/* All subscriptions, ordered by id, gone ones too (gone_at set). */
struct store_subscription {
    char *id; /* GUID, lowercase */
    char *display_name;
    char *state;
    char *tenant_id;
    int64_t first_seen_at;
    int64_t changed_at;
    int64_t gone_at; /* 0 while Azure lists it */
};
void store_subscription_list_free(struct store_subscription *list, size_t n);
enum err store_subscription_list(struct store *st, struct store_subscription **out, size_t *n,
                                 struct err_detail *d) VL_MUST_CHECK;
/* Marks a subscription gone (no longer listed); writes nothing if it already is. */
enum err store_subscription_mark_gone(struct store *st, const char *id, int64_t now, bool *changed,
                                      struct err_detail *d) VL_MUST_CHECK;

/* ---- extensions (observed; store_extensions.c) ------------------------------------------- */
/* A VM's extensions as its embedded resources[] shows them, keyed by (VM, name). Like VMs, a
 * re-sync of unchanged extensions writes nothing; a sync pass remembers which it saw. */

struct store_extension_facts {
    const char *vm_id; /* the VM's ARM id (any case) */
    const char *name;
    const char *publisher;
    const char *type;
    const char *type_handler_version;
    bool auto_upgrade_minor;
    const char *provisioning_state;
    const char *status_code; /* instanceView.statuses[0] when known, else NULL */
    const char *status_level;
    const char *status_message;
};

struct store_extension {
    char *vm_key;
    char *name;
    char *publisher;
    char *type;
    char *type_handler_version;
    bool auto_upgrade_minor;
    char *provisioning_state;
    char *status_code;
    char *status_level;
    char *status_message;
    int64_t generation;
    int64_t changed_at;
    int64_t gone_at; /* 0 while present */
};
void store_extension_clear(struct store_extension *e);
void store_extension_list_free(struct store_extension *list, size_t n);

/* Starts a sync pass on this thread: forgets which extensions were seen. */
enum err store_extensions_sync_begin(struct store *st, struct err_detail *d) VL_MUST_CHECK;
/* Upserts n extensions (their VMs must be stored), writing only changed ones; each counts as
 * seen. *changed (may be NULL) counts rows written. */
enum err store_extensions_upsert(struct store *st, const struct store_extension_facts *e, size_t n,
                                 int64_t now, size_t *changed, struct err_detail *d) VL_MUST_CHECK;
/* Marks gone every present extension of the subscription's VMs not seen since sync_begin.
 * Call only after a complete listing of that subscription. */
enum err store_extensions_mark_gone(struct store *st, const char *subscription_id, int64_t now,
                                    size_t *gone, struct err_detail *d) VL_MUST_CHECK;
/* The present extensions of one VM (any case), by name. */
enum err store_extensions_of_vm(struct store *st, const char *vm_id, struct store_extension **out,
                                size_t *n, struct err_detail *d) VL_MUST_CHECK;
/* The present extensions of publisher+type (case-insensitive) on VMs whose key lies in
 * [from_key, to_key] (VM id keys, lowercase), ordered by VM key: one query for a page. */
enum err store_extensions_by_type(struct store *st, const char *publisher, const char *type,
                                  const char *from_key, const char *to_key,
                                  struct store_extension **out, size_t *n,
                                  struct err_detail *d) VL_MUST_CHECK;

/* ---- role assignments (observed; store_role_assignments.c) ------------------------------- */

struct store_role_assignment_facts {
    const char *id; /* full ARM id */
    const char *name;
    const char *scope;
    const char *role_definition_id; /* the role GUID */
    const char *principal_id;
    const char *principal_type;
    int64_t created_on; /* 0: unknown */
    const char *created_by;
};

struct store_role_assignment {
    char *id;
    char *name;
    char *scope;
    char *role_definition_id;
    char *principal_id;
    char *principal_type;
    int64_t created_on;
    char *created_by;
    int64_t changed_at;
    int64_t gone_at;
};
void store_role_assignment_clear(struct store_role_assignment *ra);
void store_role_assignment_list_free(struct store_role_assignment *list, size_t n);

/* Upserts n assignments, writing only changed ones (GUIDs stored lowercase); each is added to
 * seen (the sync pass's; NULL outside a pass). */
enum err store_role_assignments_upsert(struct store *st, struct store_seen *seen,
                                       const struct store_role_assignment_facts *ra, size_t n,
                                       int64_t now, size_t *changed,
                                       struct err_detail *d) VL_MUST_CHECK;
/* Marks gone the present assignments that seen lacks (NULL: all of them) whose scope is the
 * subscription or below it; subscription_id NULL: scopes outside every subscription
 * (management groups, root). */
enum err store_role_assignments_mark_gone(struct store *st, struct store_seen *seen,
                                          const char *subscription_id, int64_t now, size_t *gone,
                                          struct err_detail *d) VL_MUST_CHECK;
/* Distinct principal ids of present assignments and of just-in-time eligibilities and their
 * approvers, sorted; *ids is an array of new strings
 * (free each, then the array). */
enum err store_role_assignment_principal_ids(struct store *st, char ***ids, size_t *n,
                                             struct err_detail *d) VL_MUST_CHECK;
/* Present assignments whose scope is scope or below it (scope NULL: all), by id. */
enum err store_role_assignments_under(struct store *st, const char *scope,
                                      struct store_role_assignment **out, size_t *n,
                                      struct err_detail *d) VL_MUST_CHECK;

/* ---- principals and group members (observed; store_principals.c) -------------------------- */

struct store_principal_facts {
    const char *id;   /* object id (any case; stored lowercase) */
    const char *kind; /* user | group | servicePrincipal | device */
    const char *upn;  /* users; NULL otherwise */
    const char *display_name;
    const char *app_id;       /* service principals */
    const char *user_type;    /* users: Member | Guest; NULL: not known, the stored one stays */
    bool has_account_enabled; /* false: not known, the stored account_enabled stays */
    bool account_enabled;
};

struct store_member_facts {
    const char *member_id;
    const char *member_kind;
};

/* Upserts principals seen in the directory now: writes only when a fact changed or the
 * principal was marked deleted. user_type and account_enabled are written when given and
 * left as they are when not (a listing that did not select them never clears them). */
enum err store_principals_upsert(struct store *st, const struct store_principal_facts *p, size_t n,
                                 int64_t now, size_t *changed, struct err_detail *d) VL_MUST_CHECK;
/* Marks a stored principal the directory no longer returns: deleted is "soft" or "gone".
 * Writes nothing if it is unknown or already so marked. */
enum err store_principal_mark_deleted(struct store *st, const char *id, const char *deleted,
                                      int64_t now, bool *changed,
                                      struct err_detail *d) VL_MUST_CHECK;
/* Starts a sync pass for group memberships: forgets which groups were refreshed. */
enum err store_group_members_sync_begin(struct store *st, struct err_detail *d) VL_MUST_CHECK;
/* Makes group_id's members exactly m[0..n) (the group must be a stored principal): adds the
 * new ones, deletes the vanished, writes nothing when unchanged. */
enum err store_group_members_replace(struct store *st, const char *group_id,
                                     const struct store_member_facts *m, size_t n, int64_t now,
                                     size_t *changed, struct err_detail *d) VL_MUST_CHECK;
/* Deletes the memberships of every group not replaced since sync_begin. */
enum err store_group_members_prune(struct store *st, size_t *removed,
                                   struct err_detail *d) VL_MUST_CHECK;
/* Counts for tests and status: principals (not deleted) and membership rows. */
enum err store_principals_count(struct store *st, int64_t *principals, int64_t *members,
                                struct err_detail *d) VL_MUST_CHECK;

/* ---- sync runs (store_sync.c) ------------------------------------------------------------ */

struct store_sync_run {
    int64_t id;
    char state[16]; /* running | succeeded | partial | failed */
    int64_t started_at;
    int64_t finished_at; /* 0 while running */
    int64_t subscriptions;
    int64_t vms_seen, vms_changed, vms_gone;
    int64_t extensions_seen, extensions_changed, extensions_gone;
    int64_t assignments_seen, assignments_changed, assignments_gone;
    int64_t principals_seen, principals_changed, members_changed;
    int64_t rows_written; /* observed rows written by the run */
    int64_t errors;
    char last_error[512];
};

/* Inserts a running row (r->started_at used) and sets r->id; a run still marked running (the
 * daemon stopped during it) becomes failed "interrupted". Keeps the last 100 runs. */
enum err store_sync_run_start(struct store *st, struct store_sync_run *r,
                              struct err_detail *d) VL_MUST_CHECK;
/* A larger page cache on this thread's connection for a sync pass, and back to the usual one
 * (its memory freed) after it. */
void store_sync_cache_begin(struct store *st);
void store_sync_cache_end(struct store *st);
/* Writes r's state, counts and finish time. */
enum err store_sync_run_update(struct store *st, const struct store_sync_run *r,
                               struct err_detail *d) VL_MUST_CHECK;
/* The newest run, and the newest finished one (either may be absent: ERR_NOT_FOUND when
 * there was no run at all; last_done->id is 0 when none finished). */
enum err store_sync_run_latest(struct store *st, struct store_sync_run *latest,
                               struct store_sync_run *last_done,
                               struct err_detail *d) VL_MUST_CHECK;

/* ---- permission_checks (store_permissions.c) ---- */

/* The last report of vmlogind's own permissions for subject ("self"): result is JSON text. */
enum err store_permission_check_put(struct store *st, const char *subject, const char *result,
                                    int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* ERR_NOT_FOUND before the first check; *result is the caller's to free. */
enum err store_permission_check_get(struct store *st, const char *subject, char **result,
                                    int64_t *checked_at, struct err_detail *d) VL_MUST_CHECK;
/* Up to limit resource group names of the subscription's live VMs (as Azure spells them), in
 * key order; *out is an array of n strings the caller frees (each, then the array). */
enum err store_vm_resource_groups(struct store *st, const char *subscription_id, size_t limit,
                                  char ***out, size_t *n, struct err_detail *d) VL_MUST_CHECK;

#endif
