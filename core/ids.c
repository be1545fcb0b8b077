/* Operation ids (protocol.md §2, schema/ids.md): the official SDKs' hashes,
 * computed with libcrypto so that no hash is hand-written here. */
#include <string.h>

#include <openssl/evp.h>

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

static const char *scheme_md_name(perdure_id_scheme scheme)
{
    return scheme == PERDURE_IDS_BLAKE2B ? "BLAKE2B-512" : "MD5";
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

void pd_hasher_free(pd_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    *h = (pd_hasher){0};
}

/* Fetches the scheme's digest and a context into h, once per scheme. */
static perdure_status hasher_ready(pd_hasher *h, perdure_id_scheme scheme)
{
    if (h->md && h->scheme == scheme)
        return PERDURE_OK;
    EVP_MD_free(h->md);
    h->md = EVP_MD_fetch(NULL, scheme_md_name(scheme), NULL);
    h->scheme = scheme;
    /* Only a crippled libcrypto (e.g. FIPS mode without md5) fails here. */
    if (!h->md)
        return PERDURE_E_INTERNAL;
    if (!h->ctx && !(h->ctx = EVP_MD_CTX_new()))
        return PERDURE_E_NOMEM;
    return PERDURE_OK;
}

/* Hashes the concatenation of parts and writes the scheme's id into out.
 * Parts let pd_id_for hash "<prefix>-<n>" without building the string. */
static perdure_status hash_parts(pd_hasher *h, perdure_id_scheme scheme, const char *const *parts,
                                 const size_t *lens, size_t nparts, char out[PD_MAX_ID + 1])
{
    size_t id_len = scheme_id_len(scheme);
    if (!id_len)
        return PERDURE_E_INVALID;
    TRY(hasher_ready(h, scheme));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok = EVP_DigestInit_ex2(h->ctx, h->md, NULL);
    for (size_t i = 0; ok && i < nparts; i++)
        ok = EVP_DigestUpdate(h->ctx, parts[i], lens[i]);
    ok = ok && EVP_DigestFinal_ex(h->ctx, digest, &digest_len);
    if (!ok || digest_len * 2 < id_len)
        return PERDURE_E_INTERNAL;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < id_len / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[id_len] = 0;
    return PERDURE_OK;
}

perdure_status pd_id_hash_with(pd_hasher *h, perdure_id_scheme scheme, const char *raw, size_t len,
                               char out[PD_MAX_ID + 1])
{
    return hash_parts(h, scheme, (const char *const[]){raw}, (const size_t[]){len}, 1, out);
}

perdure_status pd_id_for_with(pd_hasher *h, perdure_id_scheme scheme, const char *prefix, uint64_t n,
                              char out[PD_MAX_ID + 1])
{
    char num[21];
    size_t num_len = pd_u64_dec(n, num);
    /* Both SDKs test the prefix for truthiness, so "" means the root. */
    if (!prefix || !*prefix)
        return hash_parts(h, scheme, (const char *const[]){num}, (const size_t[]){num_len}, 1, out);
    return hash_parts(h, scheme, (const char *const[]){prefix, "-", num}, (const size_t[]){strlen(prefix), 1, num_len},
                      3, out);
}

perdure_status pd_id_for(perdure_id_scheme scheme, const char *prefix, uint64_t n, char out[PD_MAX_ID + 1])
{
    pd_hasher h = {0};
    perdure_status st = pd_id_for_with(&h, scheme, prefix, n, out);
    pd_hasher_free(&h);
    return st;
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
    pd_hasher h = {0};
    perdure_status st = pd_id_hash_with(&h, scheme, raw, strlen(raw), out);
    pd_hasher_free(&h);
    return st;
}
