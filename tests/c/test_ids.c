/* Operation ids against the golden vectors in schema/ids.json (schema/ids.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "internal.h"

static json_t *load_vectors(void)
{
    json_error_t jerr;
    json_t *root = json_load_file(PERDURE_SOURCE_ROOT "/schema/ids.json", 0, &jerr);
    cr_assert_not_null(root, "schema/ids.json: %s (line %d)", jerr.text, jerr.line);
    cr_assert(json_is_array(root) && json_array_size(root) > 0, "schema/ids.json must be a non-empty array");
    return root;
}

static perdure_id_scheme scheme_of(const char *name)
{
    if (strcmp(name, "blake2b") == 0)
        return PERDURE_IDS_BLAKE2B;
    cr_assert_str_eq(name, "md5_path", "unknown scheme in schema/ids.json");
    return PERDURE_IDS_MD5_PATH;
}

Test(ids, golden_vectors_hash)
{
    json_t *root = load_vectors();
    size_t i;
    json_t *v;
    size_t per_scheme[2] = {0, 0};
    json_array_foreach(root, i, v) {
        const char *scheme = json_string_value(json_object_get(v, "scheme"));
        const char *raw = json_string_value(json_object_get(v, "raw"));
        const char *id = json_string_value(json_object_get(v, "id"));
        cr_assert(scheme && raw && id, "vector %zu lacks scheme, raw or id", i);
        perdure_id_scheme s = scheme_of(scheme);
        per_scheme[s]++;
        char out[PD_MAX_ID + 1];
        cr_assert_eq(perdure_id_hash(s, raw, out, sizeof out), PERDURE_OK, "vector %zu", i);
        cr_expect_str_eq(out, id, "%s(%s)", scheme, raw);
        cr_expect_eq(strlen(out), s == PERDURE_IDS_BLAKE2B ? 64u : 16u);
        cr_expect_eq(strspn(out, "0123456789abcdef"), strlen(out), "ids are lowercase hex");
    }
    /* protocol.md §2 has 8 blake2b rows and 2 md5 rows; we add more. */
    cr_expect_geq(per_scheme[PERDURE_IDS_BLAKE2B], 8);
    cr_expect_geq(per_scheme[PERDURE_IDS_MD5_PATH], 2);
    json_decref(root);
}

/* pd_id_for must agree with hashing the raw string: split every vector's raw
 * at its last '-' into (prefix, n). */
Test(ids, golden_vectors_pd_id_for)
{
    json_t *root = load_vectors();
    size_t i;
    json_t *v;
    json_array_foreach(root, i, v) {
        const char *raw = json_string_value(json_object_get(v, "raw"));
        const char *id = json_string_value(json_object_get(v, "id"));
        perdure_id_scheme s = scheme_of(json_string_value(json_object_get(v, "scheme")));
        const char *dash = strrchr(raw, '-');
        char *prefix = dash ? strndup(raw, (size_t)(dash - raw)) : NULL;
        uint64_t n = strtoull(dash ? dash + 1 : raw, NULL, 10);
        char out[PD_MAX_ID + 1];
        cr_assert_eq(pd_id_for(s, prefix, n, out), PERDURE_OK);
        cr_expect_str_eq(out, id, "pd_id_for(%s, %llu)", prefix ? prefix : "(root)", (unsigned long long)n);
        free(prefix);
    }
    json_decref(root);
}

Test(ids, chains_link_by_full_parent_id)
{
    char op1[PD_MAX_ID + 1], item0[PD_MAX_ID + 1], inner[PD_MAX_ID + 1];
    cr_assert_eq(pd_id_for(PERDURE_IDS_BLAKE2B, NULL, 1, op1), PERDURE_OK);
    cr_assert_eq(pd_id_for(PERDURE_IDS_BLAKE2B, op1, 0, item0), PERDURE_OK);
    cr_expect_str_eq(item0, "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591");
    cr_assert_eq(pd_id_for(PERDURE_IDS_BLAKE2B, item0, 1, inner), PERDURE_OK);
    cr_expect_str_neq(inner, item0);

    /* The JS scheme chains raw paths, not hashes. */
    cr_assert_eq(pd_id_for(PERDURE_IDS_MD5_PATH, "1", 1, inner), PERDURE_OK);
    cr_expect_str_eq(inner, "ea66c06c1e1c05fa");
}

Test(ids, empty_prefix_is_root)
{
    char a[PD_MAX_ID + 1], b[PD_MAX_ID + 1];
    cr_assert_eq(pd_id_for(PERDURE_IDS_BLAKE2B, "", 2, a), PERDURE_OK);
    cr_assert_eq(pd_id_for(PERDURE_IDS_BLAKE2B, NULL, 2, b), PERDURE_OK);
    cr_expect_str_eq(a, b);
    cr_expect_str_eq(a, "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6");
}

Test(ids, largest_counter)
{
    char a[PD_MAX_ID + 1], b[PD_MAX_ID + 1];
    cr_assert_eq(pd_id_for(PERDURE_IDS_MD5_PATH, "7", UINT64_MAX, a), PERDURE_OK);
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "7-18446744073709551615", b, sizeof b), PERDURE_OK);
    cr_expect_str_eq(a, b);
}

Test(ids, bad_input)
{
    char out[PD_MAX_ID + 1] = "x";
    cr_expect_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, NULL, out, sizeof out), PERDURE_E_MISUSE);
    cr_expect_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, "1", NULL, sizeof out), PERDURE_E_MISUSE);
    /* 65 bytes for every scheme, as the header says, and an empty string on error. */
    cr_expect_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, "1", out, PD_MAX_ID), PERDURE_E_INVALID);
    cr_expect_str_eq(out, "");
    cr_expect_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "1", out, 17), PERDURE_E_INVALID);
    cr_expect_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "1", out, 0), PERDURE_E_INVALID);
    cr_expect_eq(perdure_id_hash((perdure_id_scheme)7, "1", out, sizeof out), PERDURE_E_INVALID);
    cr_expect_eq(perdure_id_hash((perdure_id_scheme)-1, "1", out, sizeof out), PERDURE_E_INVALID);
    cr_expect_eq(pd_id_for((perdure_id_scheme)7, NULL, 1, out), PERDURE_E_INVALID);
}

Test(ids, empty_raw_is_hashed)
{
    /* Not an id the SDKs produce, but a defined input: hashes of "". */
    char out[PD_MAX_ID + 1];
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "", out, sizeof out), PERDURE_OK);
    cr_expect_str_eq(out, "d41d8cd98f00b204");
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, "", out, sizeof out), PERDURE_OK);
    cr_expect_str_eq(out, "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419");
}

/* ---- the hashes against RFC vectors and against libcrypto ------------------ */

#include <openssl/evp.h>

static void libcrypto_id(perdure_id_scheme scheme, const char *raw, char *out)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    cr_assert(EVP_Digest(raw, strlen(raw), digest, &len, scheme == PERDURE_IDS_BLAKE2B ? EVP_blake2b512() : EVP_md5(),
                         NULL));
    size_t keep = scheme == PERDURE_IDS_BLAKE2B ? 32 : 8;
    for (size_t i = 0; i < keep; i++)
        sprintf(out + 2 * i, "%02x", digest[i]);
}

Test(ids, hashes_match_the_rfc_vectors)
{
    char out[65];
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_BLAKE2B, "abc", out, sizeof out), PERDURE_OK);
    cr_assert_str_eq(out, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1");   /* RFC 7693 A */
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "abc", out, sizeof out), PERDURE_OK);
    cr_assert_str_eq(out, "900150983cd24fb0");   /* RFC 1321 A.5 */
    cr_assert_eq(perdure_id_hash(PERDURE_IDS_MD5_PATH, "", out, sizeof out), PERDURE_OK);
    cr_assert_str_eq(out, "d41d8cd98f00b204");
}

Test(ids, hashes_match_libcrypto_at_every_length_across_blocks)
{
    char raw[400], mine[65], theirs[65];
    srand(11);
    for (size_t len = 0; len < sizeof raw; len++) {
        for (size_t i = 0; i < len; i++)
            raw[i] = (char)(1 + rand() % 255);
        raw[len] = 0;
        const perdure_id_scheme schemes[] = {PERDURE_IDS_BLAKE2B, PERDURE_IDS_MD5_PATH};
        for (size_t k = 0; k < 2; k++) {
            cr_assert_eq(perdure_id_hash(schemes[k], raw, mine, sizeof mine), PERDURE_OK);
            libcrypto_id(schemes[k], raw, theirs);
            cr_assert_str_eq(mine, theirs, "scheme %d, length %zu", (int)schemes[k], len);
        }
    }
}
