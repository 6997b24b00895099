#include "workers.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* A sorted array: workers number in the tens to hundreds and change rarely, while the
 * snapshot wants them in id order every time. */
struct rc_workers {
    Raftcron__Worker **w;
    size_t n;
    size_t cap;
};

int workersCreate(struct rc_workers **out)
{
    struct rc_workers *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return RC_ENOMEM;
    }
    *out = t;
    return 0;
}

void workersDestroy(struct rc_workers *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        raftcron__worker__free_unpacked(t->w[i], NULL);
    }
    free(t->w);
    free(t);
}

static size_t slot(const struct rc_workers *t, uint64_t id)
{
    size_t lo = 0;
    size_t hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->w[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

Raftcron__Worker *workersFind(const struct rc_workers *t, uint64_t id)
{
    size_t i = slot(t, id);
    return i < t->n && t->w[i]->id == id ? t->w[i] : NULL;
}

int workersPut(struct rc_workers *t, Raftcron__Worker *w)
{
    size_t i = slot(t, w->id);
    if (i < t->n && t->w[i]->id == w->id) {
        raftcron__worker__free_unpacked(t->w[i], NULL);
        t->w[i] = w;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap > 0 ? 2 * t->cap : 8;
        Raftcron__Worker **a = realloc(t->w, cap * sizeof *a);
        if (a == NULL) {
            return RC_ENOMEM;
        }
        t->w = a;
        t->cap = cap;
    }
    memmove(&t->w[i + 1], &t->w[i], (t->n - i) * sizeof *t->w);
    t->w[i] = w;
    t->n++;
    return 0;
}

Raftcron__Worker **workersAll(const struct rc_workers *t, size_t *n)
{
    *n = t->n;
    return t->w;
}
