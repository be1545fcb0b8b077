/* Operation ids (protocol.md §2, schema/ids.md): the official SDKs' hashes.
 * BLAKE2b (RFC 7693) and MD5 (RFC 1321) are written out here because every
 * declared operation hashes a few bytes, where libcrypto's EVP calls cost
 * twice the hashing itself; tests/c/test_ids.c checks both against the RFC
 * vectors and against libcrypto on random inputs. */
#include <string.h>

#include "internal.h"

/* Length in hex characters of the id a scheme keeps (0: unknown scheme). */
static size_t scheme_id_len(perdure_id_scheme scheme)
{
    switch (scheme) {
    case PERDURE_IDS_BLAKE2B:
        return 64;   /* py: blake2b(raw).hexdigest()[:64], i.e. half the digest */
    case PERDURE_IDS_MD5_PATH:
        return 16;   /* js: md5(raw) hex, first 16 characters */
    }
    return 0;
}

/* ---- BLAKE2b-512, unkeyed ---- */

static const uint64_t blake2b_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

static const uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static uint64_t rotr64(uint64_t x, unsigned n) { return x >> n | x << (64 - n); }

static uint64_t load64_le(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

#define B2_G(a, b, c, d, x, y)          \
    do {                                \
        a = a + b + (x);                \
        d = rotr64(d ^ a, 32);          \
        c = c + d;                      \
        b = rotr64(b ^ c, 24);          \
        a = a + b + (y);                \
        d = rotr64(d ^ a, 16);          \
        c = c + d;                      \
        b = rotr64(b ^ c, 63);          \
    } while (0)

typedef struct blake2b {
    uint64_t h[8];
    uint64_t bytes;            /* hashed so far, the pending block included */
    unsigned char block[128];
    size_t fill;
} blake2b;

static void blake2b_compress(blake2b *s, bool last)
{
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++)
        m[i] = load64_le(s->block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = blake2b_iv[i];
    }
    v[12] ^= s->bytes;   /* the counter's high word stays 0 below 2^64 bytes */
    if (last)
        v[14] = ~v[14];
    /* Unrolled, the schedule's indices are constants: no loads of sigma. */
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
        const uint8_t *z = blake2b_sigma[r];
        B2_G(v[0], v[4], v[8], v[12], m[z[0]], m[z[1]]);
        B2_G(v[1], v[5], v[9], v[13], m[z[2]], m[z[3]]);
        B2_G(v[2], v[6], v[10], v[14], m[z[4]], m[z[5]]);
        B2_G(v[3], v[7], v[11], v[15], m[z[6]], m[z[7]]);
        B2_G(v[0], v[5], v[10], v[15], m[z[8]], m[z[9]]);
        B2_G(v[1], v[6], v[11], v[12], m[z[10]], m[z[11]]);
        B2_G(v[2], v[7], v[8], v[13], m[z[12]], m[z[13]]);
        B2_G(v[3], v[4], v[9], v[14], m[z[14]], m[z[15]]);
    }
    for (int i = 0; i < 8; i++)
        s->h[i] ^= v[i] ^ v[i + 8];
}

static void blake2b_init(blake2b *s)
{
    memcpy(s->h, blake2b_iv, sizeof s->h);
    s->h[0] ^= 0x01010000ULL ^ 64;   /* depth 1, fanout 1, no key, 64-byte digest */
    s->bytes = 0;
    s->fill = 0;
}

static void blake2b_update(blake2b *s, const unsigned char *p, size_t len)
{
    while (len) {
        if (s->fill == sizeof s->block) {   /* full, and more follows: not the last block */
            blake2b_compress(s, false);
            s->fill = 0;
        }
        size_t n = sizeof s->block - s->fill;
        if (n > len)
            n = len;
        memcpy(s->block + s->fill, p, n);
        s->fill += n;
        s->bytes += n;
        p += n;
        len -= n;
    }
}

/* The first n bytes of the digest (ids keep half of it). */
static void blake2b_final(blake2b *s, unsigned char *digest, size_t n)
{
    memset(s->block + s->fill, 0, sizeof s->block - s->fill);
    blake2b_compress(s, true);
    for (size_t w = 0; w < n / 8; w++) {
        uint64_t word = s->h[w];
        for (int b = 0; b < 8; b++, word >>= 8)
            *digest++ = (unsigned char)word;
    }
}

/* ---- MD5 ---- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

static const uint8_t md5_shift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

typedef struct md5 {
    uint32_t h[4];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} md5;

static void md5_compress(md5 *s)
{
    uint32_t m[16];
    memcpy(m, s->block, sizeof m);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int i = 0; i < 16; i++)
        m[i] = __builtin_bswap32(m[i]);
#endif
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    for (unsigned i = 0; i < 64; i++) {
        uint32_t f;
        unsigned g, round = i / 16;
        switch (round) {
        case 0: f = (b & c) | (~b & d), g = i; break;
        case 1: f = (d & b) | (~d & c), g = (5 * i + 1) % 16; break;
        case 2: f = b ^ c ^ d, g = (3 * i + 5) % 16; break;
        default: f = c ^ (b | ~d), g = (7 * i) % 16; break;
        }
        f += a + md5_k[i] + m[g];
        unsigned r = md5_shift[round][i % 4];
        a = d;
        d = c;
        c = b;
        b += f << r | f >> (32 - r);
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
}

static void md5_init(md5 *s)
{
    static const uint32_t start[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    memcpy(s->h, start, sizeof s->h);
    s->bytes = 0;
    s->fill = 0;
}

static void md5_update(md5 *s, const unsigned char *p, size_t len)
{
    s->bytes += len;
    while (len) {
        size_t n = sizeof s->block - s->fill;
        if (n > len)
            n = len;
        memcpy(s->block + s->fill, p, n);
        s->fill += n;
        p += n;
        len -= n;
        if (s->fill == sizeof s->block) {
            md5_compress(s);
            s->fill = 0;
        }
    }
}

static void md5_final(md5 *s, unsigned char digest[16])
{
    uint64_t bits = s->bytes * 8;
    unsigned char pad[72] = {0x80};
    size_t pad_len = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++)
        pad[pad_len + i] = (unsigned char)(bits >> (8 * i));
    md5_update(s, pad, pad_len + 8);
    for (int w = 0; w < 4; w++) {
        uint32_t word = s->h[w];
        for (int b = 0; b < 4; b++, word >>= 8)
            *digest++ = (unsigned char)word;
    }
}

size_t pd_u64_dec(uint64_t n, char out[21])
{
    char tmp[20];
    size_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[len - 1 - i];
    out[len] = 0;
    return len;
}

/* Hashes the concatenation of parts and writes the scheme's id into out.
 * Parts let pd_id_for hash "<prefix>-<n>" without building the string. */
static perdure_status hash_parts(perdure_id_scheme scheme, const char *const *parts, const size_t *lens, size_t nparts,
                                 char out[PD_MAX_ID + 1])
{
    size_t id_len = scheme_id_len(scheme);
    if (!id_len)
        return PERDURE_E_INVALID;
    unsigned char digest[64];   /* id_len / 2 bytes are kept */
    if (scheme == PERDURE_IDS_BLAKE2B) {
        blake2b s;
        blake2b_init(&s);
        for (size_t i = 0; i < nparts; i++)
            blake2b_update(&s, (const unsigned char *)parts[i], lens[i]);
        blake2b_final(&s, digest, id_len / 2);
    } else {
        md5 s;
        md5_init(&s);
        for (size_t i = 0; i < nparts; i++)
            md5_update(&s, (const unsigned char *)parts[i], lens[i]);
        md5_final(&s, digest);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < id_len / 2; i++) {
        unsigned char byte = digest[i];   /* once: out may alias it as far as C knows */
        out[2 * i] = hex[byte >> 4];
        out[2 * i + 1] = hex[byte & 15];
    }
    out[id_len] = 0;
    return PERDURE_OK;
}

perdure_status pd_id_for(perdure_id_scheme scheme, const char *prefix, uint64_t n, char out[PD_MAX_ID + 1])
{
    char num[21];
    size_t num_len = pd_u64_dec(n, num);
    /* Both SDKs test the prefix for truthiness, so "" means the root. */
    if (!prefix || !*prefix)
        return hash_parts(scheme, (const char *const[]){num}, (const size_t[]){num_len}, 1, out);
    return hash_parts(scheme, (const char *const[]){prefix, "-", num}, (const size_t[]){strlen(prefix), 1, num_len}, 3,
                      out);
}

perdure_status perdure_id_hash(perdure_id_scheme scheme, const char *raw, char *out, unsigned long long out_size)
{
    if (!raw || !out)
        return PERDURE_E_MISUSE;
    if (out_size > 0)
        out[0] = 0;
    /* The header promises callers one rule for every scheme: 65 bytes. */
    if (out_size < PD_MAX_ID + 1 || !scheme_id_len(scheme))
        return PERDURE_E_INVALID;
    return hash_parts(scheme, (const char *const[]){raw}, (const size_t[]){strlen(raw)}, 1, out);
}
