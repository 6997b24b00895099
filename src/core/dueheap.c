#include "dueheap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* A plain binary heap in an array: the planner pops only what is due, so a plan costs
 * O(due · log n); a rebuild appends every job and heapifies in O(n). */

void dueheapInit(struct dueheap *h)
{
    memset(h, 0, sizeof *h);
}

void dueheapClose(struct dueheap *h)
{
    if (h == NULL) {
        return;
    }
    free(h->items);
    free(h->busy);
    dueheapInit(h);
}

int dueheapBusyAdd(struct dueheap *h, int64_t key, uint64_t job_id, size_t slot)
{
    if (h->n_busy == h->cap_busy) {
        size_t cap = h->cap_busy ? 2 * h->cap_busy : 16;
        struct dueheap_item *b = realloc(h->busy, cap * sizeof *b);
        if (b == NULL) {
            return RC_ENOMEM;
        }
        h->busy = b;
        h->cap_busy = cap;
    }
    h->busy[h->n_busy++] = (struct dueheap_item){key, job_id, slot};
    return 0;
}

void dueheapInvalidate(struct dueheap *h)
{
    h->valid = false;
}

void dueheapClear(struct dueheap *h)
{
    h->n = 0;
    h->n_busy = 0;
}

int dueheapReserve(struct dueheap *h, size_t n)
{
    if (n <= h->cap) {
        return 0;
    }
    size_t cap = h->cap ? h->cap : 64;
    while (cap < n) {
        cap *= 2;
    }
    struct dueheap_item *items = realloc(h->items, cap * sizeof *items);
    if (items == NULL) {
        return RC_ENOMEM;
    }
    h->items = items;
    h->cap = cap;
    return 0;
}

/* Strict order on (key, slot): slots are unique, so equal items never compare both ways and
 * the pop order is fully determined. */
static bool before(const struct dueheap_item *a, const struct dueheap_item *b)
{
    return a->key < b->key || (a->key == b->key && a->slot < b->slot);
}

static void swap(struct dueheap_item *a, struct dueheap_item *b)
{
    struct dueheap_item t = *a;
    *a = *b;
    *b = t;
}

static void siftUp(struct dueheap *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&h->items[i], &h->items[parent])) {
            return;
        }
        swap(&h->items[i], &h->items[parent]);
        i = parent;
    }
}

static void siftDown(struct dueheap *h, size_t i)
{
    for (;;) {
        size_t least = i;
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        if (l < h->n && before(&h->items[l], &h->items[least])) {
            least = l;
        }
        if (r < h->n && before(&h->items[r], &h->items[least])) {
            least = r;
        }
        if (least == i) {
            return;
        }
        swap(&h->items[i], &h->items[least]);
        i = least;
    }
}

int dueheapPush(struct dueheap *h, int64_t key, uint64_t job_id, size_t slot)
{
    int rv = dueheapReserve(h, h->n + 1);
    if (rv != 0) {
        return rv;
    }
    dueheapAppend(h, key, job_id, slot);
    siftUp(h, h->n - 1);
    return 0;
}

void dueheapAppend(struct dueheap *h, int64_t key, uint64_t job_id, size_t slot)
{
    assert(h->n < h->cap);
    h->items[h->n++] = (struct dueheap_item){.key = key, .job_id = job_id, .slot = slot};
}

void dueheapHeapify(struct dueheap *h)
{
    for (size_t i = h->n / 2; i-- > 0;) {
        siftDown(h, i);
    }
}

const struct dueheap_item *dueheapTop(const struct dueheap *h)
{
    return h->n > 0 ? &h->items[0] : NULL;
}

bool dueheapPop(struct dueheap *h, struct dueheap_item *out)
{
    if (h->n == 0) {
        return false;
    }
    *out = h->items[0];
    h->items[0] = h->items[--h->n];
    siftDown(h, 0);
    return true;
}
