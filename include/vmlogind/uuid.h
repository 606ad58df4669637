/* uuid.h: random (v4) and name-based (v5, SHA-1) UUIDs as lowercase text. */
#ifndef VMLOGIND_UUID_H
#define VMLOGIND_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_STR_LEN 37 /* 36 chars + NUL */

void uuid_v4(char out[UUID_STR_LEN]);
/* A v4-shaped id that is unique within the process and cheap (no RAND call per id): for
 * request ids, never for anything a caller must not guess. */
void uuid_v4_fast(char out[UUID_STR_LEN]);
/* UUIDv5 of name in namespace ns (text form); false if ns is not a UUID. */
bool uuid_v5(const char *ns, const char *name, size_t name_len, char out[UUID_STR_LEN]);
bool uuid_is_valid(const char *s);
/* Fills p with n cryptographically random bytes (OpenSSL RAND_bytes); aborts on failure. */
void uuid_random_bytes(void *p, size_t n);

#endif
