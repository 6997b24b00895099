#include "u64map.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"

void u64mapInit(struct u64map *m)
{
    memset(m, 0, sizeof *m);
}

void u64mapClose(struct u64map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void u64mapClear(struct u64map *m)
{
    if (m->slots != NULL) {
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    }
    m->n = 0;
}

static size_t find(const struct u64map *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hashMix(key) & mask;
    while (m->slots[i].key != 0 && m->slots[i].key != key) {
        i = (i + 1) & mask;
    }
    return i;
}

void *u64mapGet(const struct u64map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0) {
        return NULL;
    }
    size_t i = find(m, key);
    return m->slots[i].key == key ? m->slots[i].value : NULL;
}

static int grow(struct u64map *m)
{
    size_t cap = m->cap ? 2 * m->cap : 16;
    struct u64map_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (m->slots == NULL) {
        m->slots = old;
        return RC_ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key != 0) {
            m->slots[find(m, old[i].key)] = old[i];
        }
    }
    free(old);
    return 0;
}

int u64mapPut(struct u64map *m, uint64_t key, void *value)
{
    if (key == 0) {
        return RC_EINVAL;
    }
    if (m->cap == 0 || 2 * (m->n + 1) > m->cap) {
        if (grow(m) != 0) {
            return RC_ENOMEM;
        }
    }
    size_t i = find(m, key);
    if (m->slots[i].key == 0) {
        m->n++;
    }
    m->slots[i].key = key;
    m->slots[i].value = value;
    return 0;
}

/* Backward-shift deletion keeps every probe sequence unbroken without tombstones. */
void *u64mapDel(struct u64map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0) {
        return NULL;
    }
    size_t mask = m->cap - 1;
    size_t i = find(m, key);
    if (m->slots[i].key != key) {
        return NULL;
    }
    void *value = m->slots[i].value;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->slots[j].key == 0) {
            break;
        }
        size_t home = (size_t)hashMix(m->slots[j].key) & mask;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    m->n--;
    return value;
}

void *u64mapNext(const struct u64map *m, size_t *pos, uint64_t *key)
{
    while (*pos < m->cap) {
        size_t i = (*pos)++;
        if (m->slots[i].key != 0) {
            if (key != NULL) {
                *key = m->slots[i].key;
            }
            return m->slots[i].value;
        }
    }
    return NULL;
}
