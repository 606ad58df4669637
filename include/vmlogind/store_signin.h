/* store_signin.h: the facts behind GET /v1{vm}/signIn that only Azure knows, as the
 * reconciler last read them (migration 0012). Ids compare case-insensitively. */
#ifndef VMLOGIND_STORE_SIGNIN_H
#define VMLOGIND_STORE_SIGNIN_H

#include <stdint.h>

#include "vmlogind/err.h"

struct store;

/* The directory facts (JSON text) for one VM and principal (UPN or object id as asked). */
enum err store_signin_facts_put(struct store *st, const char *vm_id, const char *principal,
                                const char *directory, int64_t now,
                                struct err_detail *d) VL_MUST_CHECK;
/* *directory is a new string (free() it); ERR_NOT_FOUND when never read. */
enum err store_signin_facts_get(struct store *st, const char *vm_id, const char *principal,
                                char **directory, int64_t *checked_at,
                                struct err_detail *d) VL_MUST_CHECK;
/* The last on-VM diagnostics of a VM (JSON text). */
enum err store_vm_diagnostics_put(struct store *st, const char *vm_id, const char *result,
                                  int64_t now, struct err_detail *d) VL_MUST_CHECK;
enum err store_vm_diagnostics_get(struct store *st, const char *vm_id, char **result,
                                  int64_t *checked_at, struct err_detail *d) VL_MUST_CHECK;

#endif
