/* jose.c: base64/base64url, SHA-256, compact JWS (RS256, PS256) sign/verify, RSA JWK <-> EVP_PKEY,
 * certificate thumbprints and PEM loading, all with OpenSSL 3 EVP/OSSL_PARAM APIs.
 * It validates structure and signatures only; claim policy (iss, aud, exp) belongs to callers. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

#define JOSE_MIN_RSA_BITS 2048

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *encode(const char *alphabet, bool pad, const void *p, size_t n)
{
    const unsigned char *in = p;
    char *out = xmalloc(xadd(xmul(n / 3 + 1, 4), 1));
    size_t o = 0;
    size_t i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = alphabet[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int sextet(const char *alphabet, char c)
{
    const char *hit;

    if (c == '\0')
        return -1;
    hit = strchr(alphabet, c);
    return hit ? (int)(hit - alphabet) : -1;
}

/* Strict decoder: only the alphabet, padding only at the end, no stray bits in the last sextet. */
static unsigned char *decode(const char *alphabet, const char *s, size_t slen, size_t *out_len)
{
    unsigned char *out;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    while (slen > 0 && s[slen - 1] == '=')
        slen--;
    if (slen % 4 == 1)
        return NULL;
    out = xmalloc(xmul(slen / 4, 3) + 3);
    for (size_t i = 0; i < slen; i++) {
        int v = sextet(alphabet, s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

char *b64url_encode(const void *p, size_t n)
{
    return encode(B64_URL, false, p, n);
}

unsigned char *b64url_decode(const char *s, size_t slen, size_t *out_len)
{
    return decode(B64_URL, s, slen, out_len);
}

char *b64_encode(const void *p, size_t n)
{
    return encode(B64_STD, true, p, n);
}

unsigned char *b64_decode(const char *s, size_t slen, size_t *out_len)
{
    return decode(B64_STD, s, slen, out_len);
}

/* OpenSSL 3 looks EVP_sha256()'s implementation up in its provider store on every digest
 * (an "implicit fetch", https://www.openssl.org/docs/man3.0/man7/crypto.html, "Performance");
 * fetched once, it is not. The API key of every request is hashed here. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;

    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md == NULL || EVP_Digest(p, n, out, &len, sha256_md, NULL) != 1)
        abort();
}

void sha256_hex(const void *p, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];

    sha256(p, n, md);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* ---- JWS ---- */

void jws_cleanup(struct jws *j)
{
    if (!j)
        return;
    json_decref(j->header);
    json_decref(j->claims);
    free(j->signing_input);
    free(j->sig);
    memset(j, 0, sizeof(*j));
}

static json_t *decode_json_part(const char *s, size_t n)
{
    size_t len = 0;
    unsigned char *raw = b64url_decode(s, n, &len);
    json_t *v;

    if (!raw)
        return NULL;
    v = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static enum err copy_header_str(const json_t *hdr, const char *key, char *dst, size_t cap,
                                struct err_detail *d)
{
    const json_t *v = json_object_get(hdr, key);
    size_t n;

    dst[0] = '\0';
    if (!v)
        return ERR_OK;
    if (!json_is_string(v))
        return err_set(d, ERR_INVALID, "jws_header", "header '%s' is not a string", key);
    n = json_string_length(v);
    if (n >= cap || strlen(json_string_value(v)) != n)
        return err_set(d, ERR_INVALID, "jws_header", "header '%s' is too long", key);
    memcpy(dst, json_string_value(v), n + 1);
    return ERR_OK;
}

enum err jws_parse(const char *token, struct jws *out, struct err_detail *d)
{
    const char *dot1;
    const char *dot2;
    size_t len;
    enum err rc;

    memset(out, 0, sizeof(*out));
    if (!token)
        return err_set(d, ERR_INVALID, "jws_malformed", "no token");
    len = strnlen(token, JOSE_MAX_TOKEN_BYTES + 1);
    if (len > JOSE_MAX_TOKEN_BYTES)
        return err_set(d, ERR_INVALID, "jws_too_large", "token longer than %d bytes",
                       JOSE_MAX_TOKEN_BYTES);
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return err_set(d, ERR_INVALID, "jws_malformed", "a compact JWS has three parts");
    out->header = decode_json_part(token, (size_t)(dot1 - token));
    if (!out->header) {
        rc = err_set(d, ERR_INVALID, "jws_malformed", "header is not base64url JSON object");
        goto out;
    }
    out->claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!out->claims) {
        rc = err_set(d, ERR_INVALID, "jws_malformed", "payload is not base64url JSON object");
        goto out;
    }
    out->sig = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &out->sig_len);
    if (!out->sig) {
        rc = err_set(d, ERR_INVALID, "jws_malformed", "signature is not base64url");
        goto out;
    }
    rc = copy_header_str(out->header, "alg", out->alg, sizeof(out->alg), d);
    if (rc != ERR_OK)
        goto out;
    rc = copy_header_str(out->header, "kid", out->kid, sizeof(out->kid), d);
    if (rc != ERR_OK)
        goto out;
    out->signing_input = xstrndup(token, (size_t)(dot2 - token));
out:
    if (rc != ERR_OK)
        jws_cleanup(out);
    return rc;
}

static bool alg_is_pss(const char *alg, bool *known)
{
    *known = strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0;
    return strcmp(alg, "PS256") == 0;
}

/* Sets up an EVP_MD_CTX for RS256/PS256 with key; sign or verify. NULL on failure. */
static EVP_MD_CTX *md_ctx_for(EVP_PKEY *key, bool pss, bool sign)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    if (!md)
        return NULL;
    if (sign)
        ok = EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL);
    else
        ok = EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL);
    if (ok == 1 && pss) {
        /* RFC 7518 3.5: MGF1 with SHA-256 and a salt as long as the hash. Verification accepts
         * any salt length, as most JOSE libraries do. */
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sign ? RSA_PSS_SALTLEN_DIGEST
                                                         : RSA_PSS_SALTLEN_AUTO) == 1;
    } else if (ok == 1) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    if (ok != 1) {
        EVP_MD_CTX_free(md);
        return NULL;
    }
    return md;
}

static bool key_is_usable_rsa(EVP_PKEY *key)
{
    return key && EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= JOSE_MIN_RSA_BITS;
}

enum err jws_verify(const struct jws *j, EVP_PKEY *key, struct err_detail *d)
{
    bool known;
    bool pss = alg_is_pss(j->alg, &known);
    EVP_MD_CTX *md;
    int ok;

    if (!known)
        return err_set(d, ERR_INVALID, "jws_alg", "alg '%s' is not accepted", j->alg);
    if (!key_is_usable_rsa(key))
        return err_set(d, ERR_INVALID, "jws_key", "key is not an RSA key of at least %d bits",
                       JOSE_MIN_RSA_BITS);
    if (!j->signing_input || j->sig_len != (size_t)EVP_PKEY_get_size(key))
        return err_set(d, ERR_INVALID, "jws_signature", "signature has the wrong length");
    md = md_ctx_for(key, pss, false);
    if (!md)
        return err_set(d, ERR_INTERNAL, "jws_crypto", "cannot set up verification");
    ok = EVP_DigestVerify(md, j->sig, j->sig_len, (const unsigned char *)j->signing_input,
                          strlen(j->signing_input));
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (ok != 1)
        return err_set(d, ERR_INVALID, "jws_signature", "signature does not verify");
    return ERR_OK;
}

static char *b64url_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    char *enc;

    if (!text)
        return NULL;
    enc = b64url_encode(text, strlen(text));
    free(text);
    return enc;
}

char *jws_sign(EVP_PKEY *key, const char *alg, const json_t *extra_header, const json_t *claims)
{
    bool known;
    bool pss = alg_is_pss(alg ? alg : "", &known);
    json_t *hdr = NULL;
    char *h64 = NULL;
    char *p64 = NULL;
    char *input = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    char *s64 = NULL;
    char *token = NULL;
    EVP_MD_CTX *md = NULL;

    if (!known || !key_is_usable_rsa(key) || !json_is_object(claims))
        return NULL;
    hdr = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (extra_header && json_object_update(hdr, (json_t *)extra_header) != 0)
        goto out;
    /* extra_header must not change the algorithm the key signs with */
    json_object_set_new(hdr, "alg", json_string(alg));
    h64 = b64url_json(hdr);
    p64 = b64url_json(claims);
    if (!h64 || !p64)
        goto out;
    input = xasprintf("%s.%s", h64, p64);
    md = md_ctx_for(key, pss, true);
    if (!md || EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    sig = xmalloc(sig_len);
    if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    s64 = b64url_encode(sig, sig_len);
    token = xasprintf("%s.%s", input, s64);
out:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    free(s64);
    free(sig);
    free(input);
    free(p64);
    free(h64);
    json_decref(hdr);
    return token;
}

/* ---- JWK ---- */

static json_t *bn_param_b64url(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char *raw;
    char *enc;
    json_t *v;
    int n;

    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        return NULL;
    n = BN_num_bytes(bn);
    raw = xmalloc((size_t)n + 1);
    BN_bn2bin(bn, raw);
    enc = b64url_encode(raw, (size_t)n);
    v = json_string(enc);
    free(enc);
    free(raw);
    BN_free(bn);
    return v;
}

json_t *jwk_from_pkey(EVP_PKEY *key, const char *kid, X509 *cert)
{
    json_t *jwk;
    json_t *n;
    json_t *e;

    if (!key || !EVP_PKEY_is_a(key, "RSA"))
        return NULL;
    n = bn_param_b64url(key, OSSL_PKEY_PARAM_RSA_N);
    e = bn_param_b64url(key, OSSL_PKEY_PARAM_RSA_E);
    if (!n || !e) {
        json_decref(n);
        json_decref(e);
        return NULL;
    }
    jwk = json_pack("{s:s, s:s, s:o, s:o}", "kty", "RSA", "use", "sig", "n", n, "e", e);
    if (kid)
        json_object_set_new(jwk, "kid", json_string(kid));
    if (cert) {
        unsigned char *der = NULL;
        int len = i2d_X509(cert, &der);
        char *x5t = x5t_sha1(cert);
        char *x5c;

        if (len > 0) {
            x5c = b64_encode(der, (size_t)len);
            json_object_set_new(jwk, "x5c", json_pack("[s]", x5c));
            free(x5c);
        }
        if (x5t)
            json_object_set_new(jwk, "x5t", json_string(x5t));
        free(x5t);
        OPENSSL_free(der);
    }
    ERR_clear_error();
    return jwk;
}

static BIGNUM *bn_from_b64url(const json_t *jwk, const char *key)
{
    const char *s = json_string_value(json_object_get(jwk, key));
    unsigned char *raw;
    size_t len = 0;
    BIGNUM *bn;

    if (!s)
        return NULL;
    raw = b64url_decode(s, strlen(s), &len);
    if (!raw || len == 0 || len > 2048) {
        free(raw);
        return NULL;
    }
    bn = BN_bin2bn(raw, (int)len, NULL);
    free(raw);
    return bn;
}

EVP_PKEY *jwk_to_pkey(const json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    if (!kty || strcmp(kty, "RSA") != 0)
        return NULL;
    n = bn_from_b64url(jwk, "n");
    e = bn_from_b64url(jwk, "e");
    if (!n || !e)
        goto out;
    bld = OSSL_PARAM_BLD_new();
    if (!bld || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1)
        goto out;
    if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
out:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(e);
    BN_free(n);
    return key;
}

/* ---- certificates and PEM ---- */

static char *thumbprint(X509 *cert, const EVP_MD *md)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (!cert || X509_digest(cert, md, digest, &len) != 1)
        return NULL;
    return b64url_encode(digest, len);
}

char *x5t_sha1(X509 *cert)
{
    return thumbprint(cert, EVP_sha1());
}

char *x5t_sha256(X509 *cert)
{
    return thumbprint(cert, EVP_sha256());
}

static EVP_PKEY *read_key(BIO *bio)
{
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return key;
}

static X509 *read_cert(BIO *bio)
{
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return cert;
}

EVP_PKEY *pem_load_key_file(const char *path)
{
    return read_key(BIO_new_file(path, "r"));
}

X509 *pem_load_cert_file(const char *path)
{
    return read_cert(BIO_new_file(path, "r"));
}

EVP_PKEY *pem_load_key_mem(const char *pem, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    return read_key(BIO_new_mem_buf(pem, (int)len));
}

X509 *pem_load_cert_mem(const char *pem, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    return read_cert(BIO_new_mem_buf(pem, (int)len));
}

EVP_PKEY *jose_rsa_generate(unsigned bits)
{
    EVP_PKEY *key = EVP_RSA_gen(bits);

    ERR_clear_error();
    return key;
}

X509 *jose_selfsigned_cert(EVP_PKEY *key, const char *cn, int days)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    BIGNUM *serial = BN_new();

    if (!cert || !serial || BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)))
        goto fail;
    if (X509_set_version(cert, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) ||
        X509_set_pubkey(cert, key) != 1)
        goto fail;
    name = X509_get_subject_name(cert);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert, name) != 1 || X509_sign(cert, key, EVP_sha256()) <= 0)
        goto fail;
    BN_free(serial);
    return cert;
fail:
    ERR_clear_error();
    BN_free(serial);
    X509_free(cert);
    return NULL;
}
