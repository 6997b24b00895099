/*
 * The tree's non-cryptographic hashes, each the same on every platform and every build: the
 * values reach the replicated state (snapshot digests, jitter, placement), so every node must
 * compute the same number from the same bytes.
 *   - FNV-1a 64 (Fowler, Noll, Vo; draft-eastlake-fnv): for byte strings (job keys, snapshot
 *     digests). Streamable: feed the result of one call as h of the next.
 *   - splitmix64 (Steele, Lea, Flood 2014) and its finaliser: for 64-bit values (ids,
 *     instants); every input bit reaches every output bit.
 */
#ifndef RC_CORE_HASH_H
#define RC_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a's offset basis: the h to start a string with. */
#define RC_HASH_FNV_OFFSET UINT64_C(14695981039346656037)

/* FNV-1a 64 of the len bytes at data, continuing from h. */
uint64_t hashFnv(uint64_t h, const void *data, size_t len);

/* FNV-1a 64 of the NUL-terminated s, continuing from h. */
uint64_t hashFnvStr(uint64_t h, const char *s);

/* splitmix64's finaliser (mix64 variant 13): a bijection of 64-bit values. */
uint64_t hashMix(uint64_t x);

/* splitmix64's output for state x: hashMix(x + the golden gamma 0x9e3779b97f4a7c15). */
uint64_t hashSplitmix(uint64_t x);

#endif /* RC_CORE_HASH_H */
