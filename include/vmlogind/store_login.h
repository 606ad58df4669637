/* store_login.h: the store's Entra-login tables: desired login settings per scope
 * (store_login_settings.c), the reconciler's per-VM login row (store_vm_login.c) and the
 * per-item results of an operation (store_operation_items.c). Same rules as store.h: the
 * calling thread's connection, ms times, lowercase keys for ARM ids. */
#ifndef VMLOGIND_STORE_LOGIN_H
#define VMLOGIND_STORE_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlogind/store.h"

/* ---- login_settings (desired) -----------------------------------------------------------------
 */

struct store_login_setting {
    char *scope_key;
    char *scope;
    char *scope_kind; /* subscription | resourceGroup | vm */
    char *desired;    /* enabled | disabled */
    char *mode;       /* enforce | audit */
    char *exclude_tags;
    char *extension_version;
    char *spec; /* canonical JSON of the body */
    int64_t generation;
    char *operation_id; /* NULL if none */
    char *created_by;
    char *updated_by;
    int64_t created_at;
    int64_t updated_at;
};
void store_login_setting_clear(struct store_login_setting *s);
void store_login_setting_list_free(struct store_login_setting *list, size_t n);

enum err store_login_setting_get(struct store *st, const char *scope_key,
                                 struct store_login_setting *out,
                                 struct err_detail *d) VL_MUST_CHECK;
/* Inserts or replaces the desired state of s->scope_key (scope, scope_kind, desired, mode,
 * exclude_tags, extension_version, spec, operation_id and updated_by are read; created_by is
 * updated_by on insert). The generation goes up by one on every write. *generation (may be
 * NULL) receives the new one. */
enum err store_login_setting_put(struct store *st, const struct store_login_setting *s, int64_t now,
                                 int64_t *generation, struct err_detail *d) VL_MUST_CHECK;
/* The setting governing a VM: the most specific of its VM, resource group and subscription
 * scope keys (any may be NULL). ERR_NOT_FOUND when none exists. */
enum err store_login_setting_effective(struct store *st, const char *vm_key, const char *rg_key,
                                       const char *sub_key, struct store_login_setting *out,
                                       struct err_detail *d) VL_MUST_CHECK;
/* Every setting, by scope key. */
enum err store_login_setting_list(struct store *st, struct store_login_setting **out, size_t *n,
                                  struct err_detail *d) VL_MUST_CHECK;
/* Records a subscription seen through a VM (the sync fills its details); a no-op when
 * present. */
enum err store_login_subscription_ensure(struct store *st, const char *subscription_id, int64_t now,
                                         struct err_detail *d) VL_MUST_CHECK;

/* ---- vm_login (the reconciler's per-VM state) -------------------------------------------------
 */

struct store_vm_login {
    char *vm_key;
    char *setting_key;   /* NULL: no setting covers it */
    char *state;         /* not_covered excluded unsupported pending applying waiting enabled
                            failed disabling disabled drifted */
    char *step;          /* identity | extension | uninstall | waitForStart | ... */
    char *cause_code;    /* NULL if none */
    char *cause_message; /* NULL if none */
    int64_t backoff_until;
    char *operation_id;
    char *preflight; /* JSON text or NULL */
    int64_t preflight_at;
    char *ext_name; /* the AADLoginForWindows extension as last seen, NULL if absent */
    char *ext_state;
    char *ext_version;
    bool has_identity;
    int failures;
    char *fingerprint;
    int64_t checked_at;
    int64_t updated_at;
};
void store_vm_login_clear(struct store_vm_login *l);

/* ERR_NOT_FOUND when the VM has no row yet. */
enum err store_vm_login_get(struct store *st, const char *vm_key, struct store_vm_login *out,
                            struct err_detail *d) VL_MUST_CHECK;
/* Writes the whole row (the VM must be in vms). */
enum err store_vm_login_put(struct store *st, const struct store_vm_login *l, int64_t now,
                            struct err_detail *d) VL_MUST_CHECK;
/* Only the preflight columns (creating the row as not_covered if needed). */
enum err store_vm_login_put_preflight(struct store *st, const char *vm_key,
                                      const char *preflight_json, int64_t now,
                                      struct err_detail *d) VL_MUST_CHECK;

/* A present VM with its login row (NULL fields when it has none), for scans. Borrowed for the
 * callback only. */
struct store_vm_login_view {
    const struct store_vm *vm;
    const struct store_vm_login *login; /* NULL if no row */
};
typedef enum err (*store_vm_login_fn)(const struct store_vm_login_view *v, void *arg);
/* Every present VM of a subscription (NULL: all), optionally of one resource group and/or one
 * VM (lowercase keys), by id; fn's non-OK answer stops and is returned. */
enum err store_vm_login_scan(struct store *st, const char *subscription_id, const char *rg_key,
                             const char *vm_key, store_vm_login_fn fn, void *arg,
                             struct err_detail *d) VL_MUST_CHECK;

/* ---- operation_items ----------------------------------------------------------------------------
 */

struct store_operation_item {
    char *item;
    char *status; /* NotStarted Running Succeeded Failed Skipped Canceled */
    char *step;
    char *error_code;
    char *error_message;
    int64_t updated_at;
    char *client_request_id; /* of the Azure call behind the step; NULL if none */
    char *azure_request_id;  /* Azure's x-ms-request-id of that call; NULL if none */
};
/* The ids of one Azure call ("" when unknown), quoted for a support case. */
struct store_call_ids {
    char client_request_id[64];
    char azure_request_id[64];
};
void store_operation_items_free(struct store_operation_item *items, size_t n);

/* Inserts the item as NotStarted if the operation lacks it (a no-op otherwise). */
enum err store_operation_item_add(struct store *st, const char *operation_id, const char *item,
                                  int64_t now, struct err_detail *d) VL_MUST_CHECK;
/* Sets status and step, and the error (both NULL clear it); ids (NULL or an empty client
 * request id: keep the item's) name the Azure call behind the step. ERR_NOT_FOUND if absent. */
enum err store_operation_item_set(struct store *st, const char *operation_id, const char *item,
                                  const char *status, const char *step, const char *error_code,
                                  const char *error_message, const struct store_call_ids *ids,
                                  int64_t now, struct err_detail *d) VL_MUST_CHECK;
enum err store_operation_items_list(struct store *st, const char *operation_id,
                                    struct store_operation_item **out, size_t *n,
                                    struct err_detail *d) VL_MUST_CHECK;

#endif
