/* Operation ids (protocol.md §2, schema/ids.md): the official SDKs' hashes,
 * computed with libcrypto so that no hash is hand-written here. */
#include <inttypes.h>
#include <stdio.h>
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

/* Hashes the concatenation of parts and writes the scheme's id into out.
 * Parts let pd_id_for hash "<prefix>-<n>" without building the string. */
static perdure_status hash_parts(perdure_id_scheme scheme, const char *const *parts, size_t nparts,
                                 char out[PD_MAX_ID + 1])
{
    size_t id_len = scheme_id_len(scheme);
    if (!id_len)
        return PERDURE_E_INVALID;
    const EVP_MD *md = scheme == PERDURE_IDS_BLAKE2B ? EVP_blake2b512() : EVP_md5();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return PERDURE_E_NOMEM;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok = EVP_DigestInit_ex(ctx, md, NULL);
    for (size_t i = 0; ok && i < nparts; i++)
        ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);
    /* Only a crippled libcrypto (e.g. FIPS mode without md5) fails here. */
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

perdure_status pd_id_for(perdure_id_scheme scheme, const char *prefix, uint64_t n, char out[PD_MAX_ID + 1])
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, n);
    /* Both SDKs test the prefix for truthiness, so "" means the root. */
    if (!prefix || !*prefix)
        return hash_parts(scheme, (const char *const[]){num}, 1, out);
    return hash_parts(scheme, (const char *const[]){prefix, "-", num}, 3, out);
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
    return hash_parts(scheme, (const char *const[]){raw}, 1, out);
}
