/* cert.h: what /metrics says about certificates on disk (cert.c). */
#ifndef VMLOGIND_CERT_H
#define VMLOGIND_CERT_H

#include <stdint.h>

#include "vmlogind/err.h"

/* The notAfter of the first PEM certificate in path, in seconds since the epoch. ERR_NOT_FOUND
 * when the file cannot be read, ERR_INVALID when it holds no certificate. */
enum err cert_not_after(const char *path, int64_t *not_after_s) VL_MUST_CHECK;

#endif
