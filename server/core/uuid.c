/* uuid.c: UUID v4 (random) and v5 (SHA-1 name-based, RFC 9562) as lowercase text. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlogind/uuid.h"

void uuid_random_bytes(void *p, size_t n)
{
    if (RAND_bytes(p, (int)n) != 1)
        abort();
}

static void fmt(const unsigned char b[16], char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void uuid_v4(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    uuid_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    fmt(b, out);
}

/* splitmix64's finalizer: a bijection on 64 bits that scatters every input bit. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t fast_key[2];
static atomic_uint_fast64_t fast_ctr;
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

static void fast_seed(void)
{
    uint64_t c;

    uuid_random_bytes(fast_key, sizeof(fast_key));
    uuid_random_bytes(&c, sizeof(c));
    atomic_store(&fast_ctr, c);
}

/* Request ids: one per HTTP request, so the cost counts (RAND_bytes per id was 8% of a
 * request's CPU on GET /access). A counter keyed with 128 random bits drawn once per process
 * and scattered by a bijection: no two ids of a process share their first 64 bits before the
 * version bits are set, ids differ across restarts, and a caller cannot step from one id to
 * the next without the key. Not for anything secret: that is uuid_v4. */
void uuid_v4_fast(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    uint64_t n, hi, lo;

    pthread_once(&fast_once, fast_seed);
    n = atomic_fetch_add(&fast_ctr, 1);
    hi = mix64(n ^ fast_key[0]);
    lo = mix64(hi + fast_key[1]);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(hi >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    fmt(b, out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse(const char *s, unsigned char b[16])
{
    int j = 0;
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        b[j++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return j == 16;
}

bool uuid_is_valid(const char *s)
{
    unsigned char b[16];
    return s != NULL && parse(s, b);
}

bool uuid_v5(const char *ns, const char *name, size_t name_len, char out[UUID_STR_LEN])
{
    unsigned char nsb[16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx;

    if (!parse(ns, nsb))
        return false;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        abort();
    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 || EVP_DigestUpdate(ctx, nsb, 16) != 1 ||
        EVP_DigestUpdate(ctx, name, name_len) != 1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    fmt(md, out);
    return true;
}
