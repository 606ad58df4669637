/* cert.c: reads a PEM certificate's expiry for /metrics (an alert warns before the TLS or the
 * client certificate runs out). Reads only the first certificate of the file. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <time.h>

#include "vmlogind/cert.h"

enum err cert_not_after(const char *path, int64_t *not_after_s)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    struct tm tm;
    enum err rc = ERR_INVALID;

    if (f == NULL)
        return ERR_NOT_FOUND;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
        *not_after_s = (int64_t)timegm(&tm);
        rc = ERR_OK;
    }
    X509_free(x);
    return rc;
}
