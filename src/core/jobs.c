#include "jobs.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"

/* Open addressing with linear probing: jobs are few enough (tens of thousands) that a flat
 * array beats chained nodes, and backward-shift deletion keeps probe runs short without
 * tombstones. The hash is cached in the slot so that probing and growing never re-read keys. */
#define MIN_CAPACITY 16

struct slot {
    uint64_t hash;
    Raftcron__Job *job; /* NULL: free */
};

struct rc_jobs {
    struct slot *slots; /* cap entries, cap a power of two */
    size_t cap;
    size_t n;
    Raftcron__Job **order; /* order_cap >= every n reserved: rebuilding never allocates */
    size_t order_cap;
    bool order_valid;
};

int jobsCreate(struct rc_jobs **out)
{
    struct rc_jobs *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return RC_ENOMEM;
    }
    *out = t;
    return 0;
}

static void freeJobs(struct rc_jobs *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].job != NULL) {
            raftcron__job__free_unpacked(t->slots[i].job, NULL);
        }
    }
}

void jobsDestroy(struct rc_jobs *t)
{
    if (t == NULL) {
        return;
    }
    freeJobs(t);
    free(t->slots);
    free(t->order);
    free(t);
}

void jobsDetachAll(struct rc_jobs *t)
{
    if (t->cap > 0) {
        memset(t->slots, 0, t->cap * sizeof *t->slots);
    }
    t->n = 0;
    t->order_valid = false;
}

size_t jobsCount(const struct rc_jobs *t)
{
    return t->n;
}

const char *jobsNamespace(const char *ns)
{
    return ns == NULL || ns[0] == '\0' ? RC_JOBS_DEFAULT_NAMESPACE : ns;
}

static bool keyChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* The offending text is described, not echoed: it may hold any bytes, and the message travels
 * back to clients and into logs. */
static int checkPart(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
    size_t n = s == NULL ? 0 : strlen(s);
    if (n == 0 || n > max) {
        return errSet(err, errlen, RC_EINVAL, "job %s: %zu characters, must be 1-%zu", what, n,
                      max);
    }
    for (size_t i = 0; i < n; i++) {
        if (!keyChar(s[i])) {
            return errSet(err, errlen, RC_EINVAL,
                          "job %s: character 0x%02x at offset %zu is not one of A-Z a-z 0-9 . _ -",
                          what, (unsigned char)s[i], i);
        }
    }
    return 0;
}

int jobsCheckKey(const char *ns, const char *name, char *err, size_t errlen)
{
    int rv = checkPart("namespace", jobsNamespace(ns), RC_JOBS_NAMESPACE_MAX, err, errlen);
    if (rv != 0) {
        return rv;
    }
    return checkPart("name", name, RC_JOBS_NAME_MAX, err, errlen);
}

/* FNV-1a of "namespace/name". */
static uint64_t keyHash(const char *ns, const char *name)
{
    return hashFnvStr(hashFnv(hashFnvStr(RC_HASH_FNV_OFFSET, ns), "/", 1), name);
}

static bool keyIs(const Raftcron__Job *job, const char *ns, const char *name)
{
    return strcmp(job->spec->name, name) == 0 && strcmp(job->spec->namespace_, ns) == 0;
}

/* Index of the slot holding the key, or of the free slot where it would go. */
static size_t probe(const struct rc_jobs *t, uint64_t h, const char *ns, const char *name)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)h & mask;
    while (t->slots[i].job != NULL) {
        if (t->slots[i].hash == h && keyIs(t->slots[i].job, ns, name)) {
            return i;
        }
        i = (i + 1) & mask;
    }
    return i;
}

Raftcron__Job *jobsFind(const struct rc_jobs *t, const char *ns, const char *name)
{
    if (t->n == 0 || ns == NULL || name == NULL) {
        return NULL;
    }
    return t->slots[probe(t, keyHash(ns, name), ns, name)].job;
}

static int growSlots(struct rc_jobs *t, size_t cap)
{
    struct slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].job == NULL) {
            continue;
        }
        size_t j = (size_t)t->slots[i].hash & (cap - 1);
        while (slots[j].job != NULL) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int jobsReserve(struct rc_jobs *t, size_t n)
{
    if (n > t->order_cap) {
        size_t cap = t->order_cap > 0 ? t->order_cap : MIN_CAPACITY;
        while (cap < n) {
            cap *= 2;
        }
        Raftcron__Job **order = realloc(t->order, cap * sizeof *order);
        if (order == NULL) {
            return RC_ENOMEM;
        }
        t->order = order;
        t->order_cap = cap;
    }
    /* Load factor at most 1/2: probes stay short. */
    size_t cap = t->cap > 0 ? t->cap : MIN_CAPACITY;
    while (cap / 2 < n) {
        cap *= 2;
    }
    if (cap != t->cap) {
        return growSlots(t, cap);
    }
    return 0;
}

void jobsInsert(struct rc_jobs *t, Raftcron__Job *job)
{
    const char *ns = job->spec->namespace_;
    const char *name = job->spec->name;
    uint64_t h = keyHash(ns, name);
    size_t i = probe(t, h, ns, name);
    t->slots[i].hash = h;
    t->slots[i].job = job;
    t->n++;
    t->order_valid = false;
}

/* Backward-shift deletion: move later members of the probe run into the hole as long as that
 * does not put them before their home slot. */
static void removeAt(struct rc_jobs *t, size_t hole)
{
    size_t mask = t->cap - 1;
    size_t j = hole;
    t->slots[hole].job = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j].job == NULL) {
            return;
        }
        size_t home = (size_t)t->slots[j].hash & mask;
        /* Distance from home to j versus from home to the hole, modulo cap. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            t->slots[j].job = NULL;
            hole = j;
        }
    }
}

void jobsDelete(struct rc_jobs *t, Raftcron__Job *job)
{
    const char *ns = job->spec->namespace_;
    const char *name = job->spec->name;
    size_t i = probe(t, keyHash(ns, name), ns, name);
    removeAt(t, i);
    t->n--;
    t->order_valid = false;
    raftcron__job__free_unpacked(job, NULL);
}

/* The key order: namespace, then name, bytewise. */
static int keyCompare(const Raftcron__Job *job, const char *ns, const char *name)
{
    int c = strcmp(job->spec->namespace_, ns);
    return c != 0 ? c : strcmp(job->spec->name, name);
}

static int compareJobs(const void *a, const void *b)
{
    const Raftcron__Job *y = *(Raftcron__Job *const *)b;
    return keyCompare(*(Raftcron__Job *const *)a, y->spec->namespace_, y->spec->name);
}

Raftcron__Job **jobsSorted(struct rc_jobs *t, size_t *n)
{
    *n = t->n;
    if (t->n == 0) {
        return NULL;
    }
    if (!t->order_valid) {
        size_t k = 0;
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slots[i].job != NULL) {
                t->order[k++] = t->slots[i].job;
            }
        }
        qsort(t->order, k, sizeof *t->order, compareJobs);
        t->order_valid = true;
    }
    return t->order;
}

size_t jobsSortedAfter(struct rc_jobs *t, const char *ns, const char *name)
{
    size_t n;
    Raftcron__Job **jobs = jobsSorted(t, &n);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keyCompare(jobs[mid], ns, name) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}
