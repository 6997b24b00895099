#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/hash.h"

/* The published FNV-1a 64 test vectors (draft-eastlake-fnv, appendix C). */
static void test_fnv_vectors(void **state)
{
    (void)state;
    assert_true(hashFnv(RC_HASH_FNV_OFFSET, "", 0) == UINT64_C(0xcbf29ce484222325));
    assert_true(hashFnvStr(RC_HASH_FNV_OFFSET, "a") == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(hashFnvStr(RC_HASH_FNV_OFFSET, "foobar") == UINT64_C(0x85944171f73967e8));
    assert_true(hashFnv(RC_HASH_FNV_OFFSET, "foobar", 6) == UINT64_C(0x85944171f73967e8));
}

/* Feeding the bytes in pieces gives the hash of the whole (snapshot digests are streamed). */
static void test_fnv_streams(void **state)
{
    (void)state;
    uint64_t whole = hashFnvStr(RC_HASH_FNV_OFFSET, "default/backup");
    uint64_t parts =
        hashFnvStr(hashFnv(hashFnvStr(RC_HASH_FNV_OFFSET, "default"), "/", 1), "backup");
    assert_true(whole == parts);
    uint8_t bytes[] = {0, 1, 2, 0xff};
    assert_true(hashFnv(hashFnv(RC_HASH_FNV_OFFSET, bytes, 2), bytes + 2, 2) ==
                hashFnv(RC_HASH_FNV_OFFSET, bytes, 4));
    assert_true(hashFnv(RC_HASH_FNV_OFFSET, bytes, 1) != RC_HASH_FNV_OFFSET); /* NUL counts */
}

/* SplitMix64 seeded with 0 (Vigna's reference splitmix64.c) outputs these first. */
static void test_splitmix_vectors(void **state)
{
    (void)state;
    uint64_t gamma = UINT64_C(0x9e3779b97f4a7c15);
    assert_true(hashSplitmix(0) == UINT64_C(0xe220a8397b1dcdaf));
    assert_true(hashSplitmix(gamma) == UINT64_C(0x6e789e6aa1b965f4));
    assert_true(hashSplitmix(2 * gamma) == UINT64_C(0x06c45d188009454f));
    for (uint64_t x = 0; x < 1000; x++) {
        assert_true(hashSplitmix(x) == hashMix(x + gamma));
    }
    assert_true(hashMix(0) == 0); /* the finaliser alone fixes 0: callers' keys are non-zero */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv_vectors),
        cmocka_unit_test(test_fnv_streams),
        cmocka_unit_test(test_splitmix_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
