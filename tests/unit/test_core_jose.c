/* test_core_jose.c: base64url, digests, JWS RS256/PS256 sign and verify, JWK round trips,
 * thumbprints and PEM loading. Keys are generated at test time; nothing is committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "vmlogind/jose.h"
#include "vmlogind/xalloc.h"

struct keys {
    EVP_PKEY *a;
    EVP_PKEY *b;
    X509 *cert;
};

static struct keys K;

static int setup(void **state)
{
    (void)state;
    xalloc_init_json();
    K.a = jose_rsa_generate(2048);
    K.b = jose_rsa_generate(2048);
    K.cert = K.a ? jose_selfsigned_cert(K.a, "jose-test", 1) : NULL;
    return K.a && K.b && K.cert ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(K.cert);
    EVP_PKEY_free(K.a);
    EVP_PKEY_free(K.b);
    return 0;
}

static json_t *claims(void)
{
    return json_pack("{s:s, s:s, s:I}", "iss", "https://issuer.example/t/v2.0", "aud", "api://x",
                     "exp", (json_int_t)4102444800);
}

static char *sign_with(EVP_PKEY *key, const char *alg, const char *kid)
{
    json_t *c = claims();
    json_t *h = kid ? json_pack("{s:s}", "kid", kid) : NULL;
    char *t = jws_sign(key, alg, h, c);

    json_decref(h);
    json_decref(c);
    return t;
}

static enum err parse_verify(const char *token, EVP_PKEY *key)
{
    struct jws j;
    enum err rc = jws_parse(token, &j, NULL);

    if (rc != ERR_OK)
        return rc;
    rc = jws_verify(&j, key, NULL);
    jws_cleanup(&j);
    return rc;
}

static void test_b64url_vectors(void **state)
{
    static const struct {
        const char *in, *url, *std;
    } v[] = {{"", "", ""},
             {"f", "Zg", "Zg=="},
             {"fo", "Zm8", "Zm8="},
             {"foo", "Zm9v", "Zm9v"},
             {"foob", "Zm9vYg", "Zm9vYg=="},
             {"\xfb\xff", "-_8", "+/8="}};
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *u = b64url_encode(v[i].in, strlen(v[i].in));
        char *s = b64_encode(v[i].in, strlen(v[i].in));
        size_t n = 99;
        unsigned char *d = b64url_decode(v[i].url, strlen(v[i].url), &n);

        assert_string_equal(u, v[i].url);
        assert_string_equal(s, v[i].std);
        assert_non_null(d);
        assert_int_equal(n, strlen(v[i].in));
        assert_memory_equal(d, v[i].in, n);
        free(d);
        d = b64_decode(v[i].std, strlen(v[i].std), &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(v[i].in));
        free(d);
        free(u);
        free(s);
    }
}

static void test_b64url_rejects(void **state)
{
    static const char *bad[] = {"Zm9v+", "Zm9v/", "Z", "Zm9v!", "Zh", "Zm9 v"};
    size_t n;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(b64url_decode(bad[i], strlen(bad[i]), &n));
    assert_null(b64_decode("Zm9v-_", 6, &n));
}

static void test_sha256(void **state)
{
    char hex[65];
    (void)state;
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* azure-wire.md 12.1: SHA-1 84E05C1D98BCE3A5421D225B140B36E86A3D5534 -> x5t. */
static void test_x5t_vector(void **state)
{
    static const unsigned char sha1[] = {0x84, 0xE0, 0x5C, 0x1D, 0x98, 0xBC, 0xE3,
                                         0xA5, 0x42, 0x1D, 0x22, 0x5B, 0x14, 0x0B,
                                         0x36, 0xE8, 0x6A, 0x3D, 0x55, 0x34};
    char *x5t = b64url_encode(sha1, sizeof(sha1));
    (void)state;
    assert_string_equal(x5t, "hOBcHZi846VCHSJbFAs26Go9VTQ");
    free(x5t);
}

static void test_x5t_of_cert(void **state)
{
    unsigned char *der = NULL;
    int len = i2d_X509(K.cert, &der);
    unsigned char md[32];
    char *want;
    char *got = x5t_sha256(K.cert);
    char *s1 = x5t_sha1(K.cert);
    (void)state;
    assert_true(len > 0);
    sha256(der, (size_t)len, md);
    want = b64url_encode(md, 32);
    assert_string_equal(got, want);
    assert_int_equal(strlen(s1), 27); /* 20 bytes */
    free(want);
    free(got);
    free(s1);
    OPENSSL_free(der);
}

static void round_trip(const char *alg)
{
    char *t = sign_with(K.a, alg, "k1");
    struct jws j;

    assert_non_null(t);
    assert_int_equal(jws_parse(t, &j, NULL), ERR_OK);
    assert_string_equal(j.alg, alg);
    assert_string_equal(j.kid, "k1");
    assert_string_equal(json_string_value(json_object_get(j.header, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(j.claims, "aud")), "api://x");
    assert_int_equal(jws_verify(&j, K.a, NULL), ERR_OK);
    assert_int_equal(jws_verify(&j, K.b, NULL), ERR_INVALID);
    jws_cleanup(&j);
    free(t);
}

static void test_rs256_round_trip(void **state)
{
    (void)state;
    round_trip("RS256");
}

static void test_ps256_round_trip(void **state)
{
    (void)state;
    round_trip("PS256");
}

/* The alg in the header is what the signature is checked with: RS256 signature relabelled PS256
 * must fail, and the other way round. */
static void test_alg_confusion(void **state)
{
    char *t = sign_with(K.a, "RS256", NULL);
    struct jws j;
    (void)state;
    assert_int_equal(jws_parse(t, &j, NULL), ERR_OK);
    memcpy(j.alg, "PS256", 6);
    assert_int_equal(jws_verify(&j, K.a, NULL), ERR_INVALID);
    jws_cleanup(&j);
    free(t);
}

static void test_tampered_signature(void **state)
{
    char *t = sign_with(K.a, "PS256", NULL);
    char *last = strrchr(t, '.') + 5;
    (void)state;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(parse_verify(t, K.a), ERR_INVALID);
    free(t);
}

static void test_tampered_payload(void **state)
{
    char *t = sign_with(K.a, "RS256", NULL);
    char *dot1 = strchr(t, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    json_t *c = claims();
    char *text;
    char *p64;
    char *forged;
    (void)state;
    json_object_set_new(c, "aud", json_string("api://other"));
    text = json_dumps(c, JSON_COMPACT);
    p64 = b64url_encode(text, strlen(text));
    *dot1 = '\0';
    forged = xasprintf("%s.%s%s", t, p64, dot2);
    assert_int_equal(parse_verify(forged, K.a), ERR_INVALID);
    free(forged);
    free(p64);
    free(text);
    json_decref(c);
    free(t);
}

static char *unsigned_token(const char *header_json)
{
    const char *payload = "{\"sub\":\"x\"}";
    char *h = b64url_encode(header_json, strlen(header_json));
    char *p = b64url_encode(payload, strlen(payload));
    char *t = xasprintf("%s.%s.", h, p);

    free(h);
    free(p);
    return t;
}

static void test_alg_none_refused(void **state)
{
    char *t = unsigned_token("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    struct jws j;
    struct err_detail d;
    json_t *c;
    (void)state;
    assert_int_equal(jws_parse(t, &j, NULL), ERR_OK);
    assert_string_equal(j.alg, "none");
    assert_int_equal(j.sig_len, 0);
    assert_int_equal(jws_verify(&j, K.a, &d), ERR_INVALID);
    assert_string_equal(d.code, "jws_alg");
    jws_cleanup(&j);
    free(t);
    t = unsigned_token("{\"alg\":\"HS256\"}");
    assert_int_equal(parse_verify(t, K.a), ERR_INVALID);
    free(t);
    c = json_object();
    assert_null(jws_sign(K.a, "none", NULL, c));
    json_decref(c);
}

static void test_malformed(void **state)
{
    static const char *bad[] = {
        "",         "a.b",
        "a.b.c.d",  "e30.e30",
        "!!.e30.",  "e30.W10.",
        "W10.e30.", "eyJhIjoxLCJhIjoyfQ.e30."}; /* last: duplicate header key */
    struct jws j;
    char *big = xmalloc(JOSE_MAX_TOKEN_BYTES + 2);
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(jws_parse(bad[i], &j, NULL), ERR_INVALID);
    assert_int_equal(jws_parse("e30.e30.", &j, NULL), ERR_OK);
    jws_cleanup(&j);
    memset(big, 'A', JOSE_MAX_TOKEN_BYTES + 1);
    big[JOSE_MAX_TOKEN_BYTES + 1] = '\0';
    assert_int_equal(jws_parse(big, &j, NULL), ERR_INVALID);
    free(big);
    assert_int_equal(jws_parse(NULL, &j, NULL), ERR_INVALID);
}

static void test_small_key_refused(void **state)
{
    EVP_PKEY *small = EVP_RSA_gen(1024);
    (void)state;
    assert_non_null(small);
    assert_null(sign_with(small, "RS256", NULL));
    EVP_PKEY_free(small);
}

static void test_jwk_round_trip(void **state)
{
    json_t *jwk = jwk_from_pkey(K.a, "kid-1", K.cert);
    EVP_PKEY *pub;
    char *t = sign_with(K.a, "RS256", "kid-1");
    char *x5t = x5t_sha1(K.cert);
    const char *x5c;
    unsigned char *der;
    size_t n;
    const unsigned char *p;
    X509 *back;
    (void)state;
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), "kid-1");
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_string_equal(json_string_value(json_object_get(jwk, "x5t")), x5t);
    x5c = json_string_value(json_array_get(json_object_get(jwk, "x5c"), 0));
    der = b64_decode(x5c, strlen(x5c), &n);
    p = der;
    back = d2i_X509(NULL, &p, (long)n);
    assert_non_null(back);
    assert_int_equal(X509_cmp(back, K.cert), 0);
    pub = jwk_to_pkey(jwk);
    assert_non_null(pub);
    assert_int_equal(parse_verify(t, pub), ERR_OK);
    X509_free(back);
    free(der);
    EVP_PKEY_free(pub);
    free(x5t);
    free(t);
    json_decref(jwk);
}

static void test_jwk_rejects(void **state)
{
    json_t *bad1 = json_pack("{s:s, s:s, s:s}", "kty", "EC", "n", "AQAB", "e", "AQAB");
    json_t *bad2 = json_pack("{s:s, s:s}", "kty", "RSA", "e", "AQAB");
    json_t *bad3 = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", "***", "e", "AQAB");
    (void)state;
    assert_null(jwk_to_pkey(bad1));
    assert_null(jwk_to_pkey(bad2));
    assert_null(jwk_to_pkey(bad3));
    json_decref(bad1);
    json_decref(bad2);
    json_decref(bad3);
}

static char *to_pem(int (*write)(BIO *, void *), void *obj, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;
    char *copy;

    assert_int_equal(write(bio, obj), 1);
    n = BIO_get_mem_data(bio, &data);
    copy = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    return copy;
}

static int write_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, void *c)
{
    return PEM_write_bio_X509(b, c);
}

static void test_pem_load(void **state)
{
    size_t klen;
    size_t clen;
    char *kpem = to_pem(write_key, K.a, &klen);
    char *cpem = to_pem(write_cert, K.cert, &clen);
    EVP_PKEY *key = pem_load_key_mem(kpem, klen);
    X509 *cert = pem_load_cert_mem(cpem, clen);
    char *t;
    (void)state;
    assert_non_null(key);
    assert_non_null(cert);
    assert_int_equal(EVP_PKEY_eq(key, K.a), 1);
    assert_int_equal(X509_cmp(cert, K.cert), 0);
    t = sign_with(key, "PS256", NULL);
    assert_int_equal(parse_verify(t, X509_get0_pubkey(cert)), ERR_OK);
    assert_null(pem_load_key_mem("garbage", 7));
    assert_null(pem_load_cert_mem(kpem, klen));
    assert_null(pem_load_key_file("/nonexistent/key.pem"));
    free(t);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(kpem);
    free(cpem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_rejects),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_x5t_vector),
        cmocka_unit_test(test_x5t_of_cert),
        cmocka_unit_test(test_rs256_round_trip),
        cmocka_unit_test(test_ps256_round_trip),
        cmocka_unit_test(test_alg_confusion),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_small_key_refused),
        cmocka_unit_test(test_jwk_round_trip),
        cmocka_unit_test(test_jwk_rejects),
        cmocka_unit_test(test_pem_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
