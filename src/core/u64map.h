/*
 * A map from non-zero 64-bit keys (run ids, worker ids) to pointers: open addressing with
 * linear probing and backward-shift deletion, load at most 1/2, so lookups stay O(1) at any
 * size. Pure core: no I/O.
 *
 * Ownership: the map owns its table only; values are the caller's (borrowed). Iteration order
 * is the table's, not the keys'.
 */
#ifndef RC_CORE_U64MAP_H
#define RC_CORE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
    uint64_t key; /* 0: empty */
    void *value;
};

struct u64map {
    struct u64map_slot *slots; /* private (owned) */
    size_t cap;                /* private: a power of two, or 0 */
    size_t n;                  /* read-only: keys held */
};

void u64mapInit(struct u64map *m);
void u64mapClose(struct u64map *m);
/* The value of key, or NULL. */
void *u64mapGet(const struct u64map *m, uint64_t key);
/* Insert or replace. Returns 0, RC_EINVAL (key 0) or RC_ENOMEM (the map is unchanged). */
int u64mapPut(struct u64map *m, uint64_t key, void *value);
/* Remove key; returns its value, or NULL when absent. */
void *u64mapDel(struct u64map *m, uint64_t key);
/* Iterate: *pos starts at 0; returns the next occupied slot's value (key in *key), or NULL at
 * the end. The map must not change during an iteration. */
void *u64mapNext(const struct u64map *m, size_t *pos, uint64_t *key);
/* Remove everything, keeping the table. */
void u64mapClear(struct u64map *m);

#endif /* RC_CORE_U64MAP_H */
