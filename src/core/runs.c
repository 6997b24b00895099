#include "runs.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define BIT(s) (1u << (s))

/* Indexed by the source state: the set of target states. Everything not listed is refused, so
 * a report from an old attempt, or a command proposed twice, can never move a run backwards. */
static const uint32_t moves[RC_RUN__COUNT] = {
    [RC_RUN_PENDING] = BIT(RC_RUN_ASSIGNED) | BIT(RC_RUN_CANCELLED),
    /* ASSIGNED → ASSIGNED: a reassignment under a new fence, only while not accepted. */
    [RC_RUN_ASSIGNED] =
        BIT(RC_RUN_ASSIGNED) | BIT(RC_RUN_RUNNING) | BIT(RC_RUN_LOST) | BIT(RC_RUN_CANCELLED),
    [RC_RUN_RUNNING] = BIT(RC_RUN_SUCCEEDED) | BIT(RC_RUN_FAILED) | BIT(RC_RUN_TIMED_OUT) |
                       BIT(RC_RUN_LOST) | BIT(RC_RUN_CANCELLED),
    [RC_RUN_FAILED] = BIT(RC_RUN_RETRY_WAIT) | BIT(RC_RUN_DEAD),
    [RC_RUN_TIMED_OUT] = BIT(RC_RUN_RETRY_WAIT) | BIT(RC_RUN_DEAD),
    [RC_RUN_LOST] = BIT(RC_RUN_RETRY_WAIT) | BIT(RC_RUN_DEAD),
    [RC_RUN_RETRY_WAIT] = BIT(RC_RUN_ASSIGNED) | BIT(RC_RUN_CANCELLED),
};

bool runsStateValid(uint32_t s)
{
    return s > RC_RUN_NONE && s < RC_RUN__COUNT;
}

bool runsCanMove(uint32_t from, uint32_t to)
{
    return runsStateValid(from) && runsStateValid(to) && (moves[from] & BIT(to)) != 0;
}

bool runsStateFinished(uint32_t s)
{
    return s == RC_RUN_SUCCEEDED || s == RC_RUN_DEAD || s == RC_RUN_CANCELLED;
}

const char *runsStateName(uint32_t s)
{
    static const char *const names[] = {
#define RC__RUN_STATE_TEXT(name, text) text,
        RC_RUN_STATE_MAP(RC__RUN_STATE_TEXT)
#undef RC__RUN_STATE_TEXT
    };
    return runsStateValid(s) ? names[s - 1] : "invalid";
}

/* ---- Store -------------------------------------------------------------------------------- */

/* One job's history. Lists are short (retention keeps them near the per-job bound), so removal
 * by memmove is cheaper than any linked structure. */
struct history {
    uint64_t job_id;
    Raftcron__Run **runs;
    size_t n_runs;
    size_t unfinished; /* runs not SUCCEEDED, DEAD or CANCELLED (runsStateChanged keeps it) */
    size_t cap_runs;
    Raftcron__Decision **decs;
    size_t n_decs;
    size_t cap_decs;
};

/* Runs are found by id through an open-addressing index (linear probing, backward-shift
 * deletion, load at most 1/2); histories live in an array sorted by job id. */
struct rc_runs {
    Raftcron__Run **index;
    size_t index_cap; /* a power of two, or 0 */
    size_t n;
    size_t n_decs;
    struct history *jobs;
    size_t n_jobs;
    size_t cap_jobs;
};

int runsCreate(struct rc_runs **out)
{
    struct rc_runs *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return RC_ENOMEM;
    }
    *out = t;
    return 0;
}

static void freeHistory(struct history *h)
{
    for (size_t i = 0; i < h->n_runs; i++) {
        raftcron__run__free_unpacked(h->runs[i], NULL);
    }
    for (size_t i = 0; i < h->n_decs; i++) {
        raftcron__decision__free_unpacked(h->decs[i], NULL);
    }
    free(h->runs);
    free(h->decs);
}

void runsDestroy(struct rc_runs *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n_jobs; i++) {
        freeHistory(&t->jobs[i]);
    }
    free(t->jobs);
    free(t->index);
    free(t);
}

static size_t slotOf(uint64_t id, size_t cap)
{
    return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 17) & (cap - 1);
}

/* Slot holding id, or the free slot where it would go. */
static size_t probe(const struct rc_runs *t, uint64_t id)
{
    size_t mask = t->index_cap - 1;
    size_t i = slotOf(id, t->index_cap);
    while (t->index[i] != NULL && t->index[i]->id != id) {
        i = (i + 1) & mask;
    }
    return i;
}

Raftcron__Run *runsFind(const struct rc_runs *t, uint64_t id)
{
    return t->n == 0 ? NULL : t->index[probe(t, id)];
}

static int growIndex(struct rc_runs *t)
{
    if (2 * (t->n + 1) <= t->index_cap) {
        return 0;
    }
    size_t cap = t->index_cap > 0 ? 2 * t->index_cap : 64;
    Raftcron__Run **index = calloc(cap, sizeof *index);
    if (index == NULL) {
        return RC_ENOMEM;
    }
    Raftcron__Run **old = t->index;
    size_t old_cap = t->index_cap;
    t->index = index;
    t->index_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] != NULL) {
            t->index[probe(t, old[i]->id)] = old[i];
        }
    }
    free(old);
    return 0;
}

static void unindex(struct rc_runs *t, uint64_t id)
{
    size_t mask = t->index_cap - 1;
    size_t i = probe(t, id);
    t->index[i] = NULL;
    for (size_t j = (i + 1) & mask; t->index[j] != NULL; j = (j + 1) & mask) {
        size_t home = slotOf(t->index[j]->id, t->index_cap);
        /* Move j back into the hole when its home is not cyclically within (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->index[i] = t->index[j];
            t->index[j] = NULL;
            i = j;
        }
    }
    t->n--;
}

/* Index of job_id's history, or where it would be inserted. */
static size_t historySlot(const struct rc_runs *t, uint64_t job_id)
{
    size_t lo = 0;
    size_t hi = t->n_jobs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->jobs[mid].job_id < job_id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static struct history *historyOf(const struct rc_runs *t, uint64_t job_id)
{
    size_t i = historySlot(t, job_id);
    return i < t->n_jobs && t->jobs[i].job_id == job_id ? &t->jobs[i] : NULL;
}

static int addHistory(struct rc_runs *t, uint64_t job_id)
{
    if (t->n_jobs == t->cap_jobs) {
        size_t cap = t->cap_jobs > 0 ? 2 * t->cap_jobs : 8;
        struct history *jobs = realloc(t->jobs, cap * sizeof *jobs);
        if (jobs == NULL) {
            return RC_ENOMEM;
        }
        t->jobs = jobs;
        t->cap_jobs = cap;
    }
    size_t i = historySlot(t, job_id);
    memmove(&t->jobs[i + 1], &t->jobs[i], (t->n_jobs - i) * sizeof *t->jobs);
    memset(&t->jobs[i], 0, sizeof t->jobs[i]);
    t->jobs[i].job_id = job_id;
    t->n_jobs++;
    return 0;
}

static int growList(void **list, size_t n, size_t *cap)
{
    if (n < *cap) {
        return 0;
    }
    size_t c = *cap > 0 ? 2 * *cap : 8;
    void **l = realloc(*list, c * sizeof *l);
    if (l == NULL) {
        return RC_ENOMEM;
    }
    *list = l;
    *cap = c;
    return 0;
}

int runsReserve(struct rc_runs *t, uint64_t job_id)
{
    if (growIndex(t) != 0) {
        return RC_ENOMEM;
    }
    struct history *h = historyOf(t, job_id);
    if (h == NULL) {
        if (addHistory(t, job_id) != 0) {
            return RC_ENOMEM;
        }
        h = historyOf(t, job_id);
    }
    if (growList((void **)&h->runs, h->n_runs, &h->cap_runs) != 0 ||
        growList((void **)&h->decs, h->n_decs, &h->cap_decs) != 0) {
        return RC_ENOMEM;
    }
    return 0;
}

void runsInsert(struct rc_runs *t, Raftcron__Run *run)
{
    struct history *h = historyOf(t, run->job_id);
    h->runs[h->n_runs++] = run;
    h->unfinished += !runsStateFinished(run->state);
    t->index[probe(t, run->id)] = run;
    t->n++;
}

void runsAddDecision(struct rc_runs *t, Raftcron__Decision *d)
{
    struct history *h = historyOf(t, d->job_id);
    h->decs[h->n_decs++] = d;
    t->n_decs++;
}

void runsStateChanged(struct rc_runs *t, const Raftcron__Run *run, uint32_t from)
{
    bool was = runsStateFinished(from);
    bool is = runsStateFinished(run->state);
    if (was != is) {
        struct history *h = historyOf(t, run->job_id);
        assert(h != NULL && (is ? h->unfinished > 0 : true));
        if (h != NULL) {
            h->unfinished = is ? h->unfinished - 1 : h->unfinished + 1;
        }
    }
}

size_t runsUnfinishedOfJob(const struct rc_runs *t, uint64_t job_id)
{
    const struct history *h = historyOf(t, job_id);
    return h != NULL ? h->unfinished : 0;
}

Raftcron__Run *const *runsOfJob(const struct rc_runs *t, uint64_t job_id, size_t *n)
{
    const struct history *h = historyOf(t, job_id);
    *n = h != NULL ? h->n_runs : 0;
    return h != NULL && h->n_runs > 0 ? h->runs : NULL;
}

Raftcron__Decision *const *runsDecisionsOfJob(const struct rc_runs *t, uint64_t job_id, size_t *n)
{
    const struct history *h = historyOf(t, job_id);
    *n = h != NULL ? h->n_decs : 0;
    return h != NULL && h->n_decs > 0 ? h->decs : NULL;
}

size_t runsJobCount(const struct rc_runs *t)
{
    return t->n_jobs;
}

uint64_t runsJobIdAt(const struct rc_runs *t, size_t i)
{
    return t->jobs[i].job_id;
}

size_t runsUnfinishedAt(const struct rc_runs *t, size_t i)
{
    return t->jobs[i].unfinished;
}

size_t runsCount(const struct rc_runs *t)
{
    return t->n;
}

size_t runsDecisionCount(const struct rc_runs *t)
{
    return t->n_decs;
}

/* ---- Retention ---------------------------------------------------------------------------- */

static void pruneRuns(struct rc_runs *t, struct history *h, size_t max, int64_t min_us,
                      uint64_t held_after, uint64_t *dropped)
{
    size_t finished = 0;
    for (size_t i = 0; i < h->n_runs; i++) {
        finished += runsStateFinished(h->runs[i]->state);
    }
    size_t kept = 0;
    for (size_t i = 0; i < h->n_runs; i++) {
        Raftcron__Run *r = h->runs[i];
        bool fin = runsStateFinished(r->state);
        bool held = r->export_seq > held_after;
        if (fin && !held && (finished > max || r->finished_us < min_us)) {
            finished--;
            unindex(t, r->id);
            raftcron__run__free_unpacked(r, NULL);
            (*dropped)++;
            continue;
        }
        h->runs[kept++] = r;
    }
    h->n_runs = kept;
}

static void pruneDecisions(struct rc_runs *t, struct history *h, size_t max, int64_t min_us,
                           uint64_t *dropped, int64_t *floor_us)
{
    size_t left = h->n_decs;
    size_t kept = 0;
    for (size_t i = 0; i < h->n_decs; i++) {
        Raftcron__Decision *d = h->decs[i];
        if (left > max || d->decided_us < min_us) {
            left--;
            if (floor_us != NULL && d->last_us > *floor_us) {
                *floor_us = d->last_us;
            }
            raftcron__decision__free_unpacked(d, NULL);
            t->n_decs--;
            (*dropped)++;
            continue;
        }
        h->decs[kept++] = d;
    }
    h->n_decs = kept;
}

void runsPrune(struct rc_runs *t, uint64_t job_id, size_t max, int64_t min_us, uint64_t held_after,
               uint64_t *runs, uint64_t *decisions, int64_t *floor_us)
{
    struct history *h = historyOf(t, job_id);
    if (h == NULL) {
        return;
    }
    pruneRuns(t, h, max, min_us, held_after, runs);
    pruneDecisions(t, h, max, min_us, decisions, floor_us);
}

void runsDropJob(struct rc_runs *t, uint64_t job_id, uint64_t *runs, uint64_t *decisions)
{
    size_t i = historySlot(t, job_id);
    if (i == t->n_jobs || t->jobs[i].job_id != job_id) {
        return;
    }
    struct history *h = &t->jobs[i];
    for (size_t k = 0; k < h->n_runs; k++) {
        unindex(t, h->runs[k]->id);
    }
    *runs += h->n_runs;
    *decisions += h->n_decs;
    t->n_decs -= h->n_decs;
    freeHistory(h);
    memmove(&t->jobs[i], &t->jobs[i + 1], (t->n_jobs - i - 1) * sizeof *t->jobs);
    t->n_jobs--;
}
