/* jose.h: the JOSE pieces both sides need: base64url, digests, compact JWS sign and verify
 * (RS256 and PS256 with OpenSSL), JWK <-> EVP_PKEY for RSA keys, and x5t thumbprints.
 * It parses untrusted tokens but decides nothing about claims: callers check iss/aud/exp. */
#ifndef VMLOGIND_JOSE_H
#define VMLOGIND_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmlogind/err.h"

#define JOSE_MAX_TOKEN_BYTES 16384

/* base64url without padding. Returns a new NUL-terminated string. */
char *b64url_encode(const void *p, size_t n);
/* Decodes base64url (padding optional). Returns a new buffer (NUL-terminated too) and its
 * length, or NULL on bad input. */
unsigned char *b64url_decode(const char *s, size_t slen, size_t *out_len);
/* Standard base64 with padding (for x5c). */
char *b64_encode(const void *p, size_t n);
unsigned char *b64_decode(const char *s, size_t slen, size_t *out_len);

void sha256(const void *p, size_t n, unsigned char out[32]);
/* Lowercase hex of SHA-256; out needs 65 bytes. */
void sha256_hex(const void *p, size_t n, char out[65]);

/* A parsed compact JWS. Owns everything. */
struct jws {
    json_t *header;
    json_t *claims;
    char *signing_input; /* "b64(header).b64(payload)" */
    unsigned char *sig;
    size_t sig_len;
    char alg[16]; /* from the header, "" if absent */
    char kid[128];
};

/* Splits and decodes a compact JWS (3 parts, JSON header and payload, duplicate keys refused).
 * Does not verify. ERR_INVALID with a reason in d on any malformation. */
enum err jws_parse(const char *token, struct jws *out, struct err_detail *d) VL_MUST_CHECK;
void jws_cleanup(struct jws *j);
/* Verifies j's signature with key for alg "RS256" or "PS256" (anything else: ERR_INVALID). */
enum err jws_verify(const struct jws *j, EVP_PKEY *key, struct err_detail *d) VL_MUST_CHECK;

/* Signs claims with key. alg is "RS256" or "PS256"; extra_header (may be NULL) is merged into
 * {"alg","typ":"JWT"} (for kid, x5t, x5t#S256). Returns a new compact token or NULL. */
char *jws_sign(EVP_PKEY *key, const char *alg, const json_t *extra_header, const json_t *claims);

/* RSA public JWK {"kty":"RSA","use":"sig","kid","n","e"} (plus x5t/x5c if cert given). New ref. */
json_t *jwk_from_pkey(EVP_PKEY *key, const char *kid, X509 *cert);
/* Public key from an RSA JWK (kty RSA, n, e). NULL if malformed. Caller frees. */
EVP_PKEY *jwk_to_pkey(const json_t *jwk);

/* Certificate thumbprints, base64url: SHA-1 (x5t) and SHA-256 (x5t#S256). New strings. */
char *x5t_sha1(X509 *cert);
char *x5t_sha256(X509 *cert);

/* PEM helpers: load a private key / first certificate from a file or memory. NULL on error. */
EVP_PKEY *pem_load_key_file(const char *path);
X509 *pem_load_cert_file(const char *path);
EVP_PKEY *pem_load_key_mem(const char *pem, size_t len);
X509 *pem_load_cert_mem(const char *pem, size_t len);

/* A new RSA key pair (bits >= 2048 for use with jws_*). NULL on failure. Caller frees. */
EVP_PKEY *jose_rsa_generate(unsigned bits);
/* A self-signed X.509 v3 certificate for key (CN=cn, valid from an hour ago for days days,
 * SHA-256). For simulators and tests; NULL on failure. Caller frees. */
X509 *jose_selfsigned_cert(EVP_PKEY *key, const char *cn, int days);

#endif
