#include "sched.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "dueheap.h"
#include "err.h"
#include "hash.h"
#include "jobs.h"
#include "jobspec.h"
#include "policy.h"
#include "retry.h"
#include "runs.h"
#include "trigger.h"

/*
 * Why two paths: schedPlan scans every job (one trigger build and one policyDecide per
 * unpaused job, ~0.5 µs each); schedPlanHeap looks only at the jobs the leader's due-heap says
 * are due. Both call planJob for a job they look at, in the same (namespace, name) order, so
 * the entries are the same bytes: the heap only chooses which jobs are looked at, and a job that is
 * not due produces nothing in either path (policyDecide emits only instants <= now + lookahead, and
 * a job is popped when its key, <= next instant - lookahead, is <= now).
 *
 * Why no entry is checked here beyond what the FSM shows: apply checks every item again (cursor,
 * version, fence, state), so a plan that is stale by the time it commits is harmless.
 */

#define DEFAULT_MAX_ITEMS  4096
#define DEFAULT_MAX_ASSIGN 1024
#define QUEUED_REASON      "queued" /* ledger.c marks queued runs with this wait_reason */

struct builder {
    const struct rc_fsm *f;
    const struct sched_options *o;
    int64_t now;
    size_t max_items;
    size_t max_assign;
    struct sched_plan *out;
    size_t cap_entries;
    size_t cap_waits;
    Raftcron__FireItem *items; /* max_items, strings borrowed from the FSM */
    Raftcron__FireItem **item_ptrs;
    size_t n_items;
    struct rc_decision_rec *recs; /* max_items */
    uint64_t *worker_load;        /* per worker, in fsmWorkers order: runs held */
    uint64_t *worker_busy;        /* the same, runs of process executors only */
    const Raftcron__Run **runs;   /* unfinished runs (selectRuns) */
    size_t n_runs;
    struct dueheap_item *due; /* schedPlanHeap: the popped items */
    size_t n_due;
    size_t cap_due;
};

static void wakeAt(struct builder *b, int64_t t)
{
    if (t < b->now) {
        t = b->now;
    }
    if (t < b->out->next_wake_us) {
        b->out->next_wake_us = t;
    }
}

static int64_t subSat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) {
        return b > 0 ? INT64_MIN : INT64_MAX;
    }
    return r;
}

static int pushEntry(struct builder *b, void *buf, size_t len, uint64_t run_id, uint64_t worker_id)
{
    struct sched_plan *p = b->out;
    if (p->n_entries == b->cap_entries) {
        size_t cap = b->cap_entries ? 2 * b->cap_entries : 16;
        struct sched_entry *e = realloc(p->entries, cap * sizeof *e);
        if (e == NULL) {
            free(buf);
            return RC_ENOMEM;
        }
        p->entries = e;
        b->cap_entries = cap;
    }
    p->entries[p->n_entries++] = (struct sched_entry){buf, len, run_id, worker_id};
    return 0;
}

static int pushWait(struct builder *b, uint64_t run_id, const char *reason)
{
    struct sched_plan *p = b->out;
    if (p->n_waits == b->cap_waits) {
        size_t cap = b->cap_waits ? 2 * b->cap_waits : 16;
        struct sched_wait *w = realloc(p->waits, cap * sizeof *w);
        if (w == NULL) {
            return RC_ENOMEM;
        }
        p->waits = w;
        b->cap_waits = cap;
    }
    struct sched_wait *w = &p->waits[p->n_waits++];
    w->run_id = run_id;
    snprintf(w->reason, sizeof w->reason, "%s", reason);
    return 0;
}

/* ---- Fire decisions --------------------------------------------------------------------- */

static size_t placeRun(struct builder *b, const Raftcron__Job *job, uint64_t exclude,
                       uint64_t spread, char *why, size_t n);

static void addItem(struct builder *b, const Raftcron__Job *job, const struct rc_decision_rec *r)
{
    Raftcron__FireItem *it = &b->items[b->n_items];
    jobspecFireItem(job, r, it);
    if (r->decision == RC_DECISION_FIRED && !r->queued) {
        char why[sizeof b->out->waits[0].reason];
        uint64_t spread = hashMix(job->id) ^ (uint64_t)r->first_us;
        size_t slot = placeRun(b, job, 0, spread, why, sizeof why);
        if (slot != SIZE_MAX) {
            size_t nw;
            it->worker_id = fsmWorkers(b->f, &nw)[slot]->id;
        }
    }
    b->item_ptrs[b->n_items++] = it;
}

/* A job the planner decides for: not paused, with a trigger this node can build and a policy
 * policyDecide accepts (an unknown overlap can only come from a hand-made JobPut). The full
 * scan and the heap rebuild use this one test, so they skip the same jobs. */
static bool plannable(const Raftcron__Job *job, struct rc_trigger *t, struct rc_policy *pol)
{
    char why[RC_ERRMSG_SIZE];
    if (job->paused || jobspecTrigger(job, t, why, sizeof why) != 0) {
        return false;
    }
    jobspecPolicy(job->spec, pol);
    return policyOverlapValid(pol->overlap);
}

/* What planJob leaves for the due-heap. */
enum rekey {
    REKEY_NONE, /* nothing left to schedule (paused, no trigger, no next instant, policy error) */
    REKEY_AT,   /* look again at *key */
    REKEY_KEEP, /* the batch was already full: not looked at, keep the old key */
    REKEY_BUSY, /* its next instant waits for its active runs: look at it on every plan */
};

/* One job's due instants into the batch, and when it must be looked at again (its next
 * instant minus the lookahead, also a wake-up). A job whose spec no longer builds a trigger (a
 * zone gone from this node's tzdata) is left alone: another node or a fixed tzdata decides it
 * later, and a guess here would be a decision. */
static enum rekey planJob(struct builder *b, const Raftcron__Job *job, int64_t *key)
{
    struct rc_trigger t;
    struct rc_policy pol;
    if (!plannable(job, &t, &pol)) {
        return REKEY_NONE;
    }
    if (b->n_items == b->max_items) {
        wakeAt(b, b->now);
        return REKEY_KEEP;
    }
    char jkey[RC_JOBSPEC_KEY_SIZE];
    jobspecKey(job, jkey);
    struct rc_policy_input in = {
        .trigger = &t,
        .policy = &pol,
        .job_key = jkey,
        .cursor_us = job->cursor_us,
        .now_us = b->now,
        .lookahead_us = b->o->lookahead_us,
    };
    fsmJobActive(b->f, job->id, &in.active_runs, &in.queued_runs);
    int64_t deferred;
    in.deferred_us = &deferred;
    size_t room = b->max_items - b->n_items;
    size_t n;
    int64_t cursor;
    if (policyDecide(&in, b->recs, room, &n, &cursor) != 0) {
        return REKEY_NONE;
    }
    for (size_t i = 0; i < n; i++) {
        addItem(b, job, &b->recs[i]);
    }
    if (n == room) {
        wakeAt(b, b->now); /* the batch is full: the rest of this job is due at once */
    }
    if (deferred != INT64_MAX) {
        /* Busy: its next instant is decided when due (policy.h, deferred_us), or earlier if
         * its runs end first. */
        *key = deferred;
        wakeAt(b, *key);
        return REKEY_BUSY;
    }
    int64_t next;
    if (triggerNext(&t, cursor, &next) != 0) {
        return REKEY_NONE;
    }
    *key = subSat(next, b->o->lookahead_us);
    wakeAt(b, *key);
    return REKEY_AT;
}

static int encodeFires(struct builder *b)
{
    if (b->n_items == 0) {
        return 0;
    }
    void *buf;
    size_t len;
    int rv = commandEncodeFireBatch(b->now, b->item_ptrs, b->n_items, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    return pushEntry(b, buf, len, 0, 0);
}

static int planFires(struct builder *b)
{
    size_t jobs = fsmJobCount(b->f);
    for (size_t i = 0; i < jobs; i++) {
        int64_t key;
        planJob(b, fsmJobAt(b->f, i), &key);
    }
    return encodeFires(b);
}

/* ---- Fire decisions through the due-heap -------------------------------------------------- */

/* Rule (dueheap.h): every plannable job gets its exact key, next instant after its cursor
 * minus the lookahead; the others are left out (only a pause, a resume or an edit changes
 * that, and each moves fsmJobsGeneration, which brings them back through a rebuild). */
static int heapRebuild(const struct rc_fsm *f, struct dueheap *h, int64_t lookahead)
{
    dueheapInvalidate(h);
    dueheapClear(h);
    size_t jobs = fsmJobCount(f);
    int rv = dueheapReserve(h, jobs);
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < jobs; i++) {
        const Raftcron__Job *job = fsmJobAt(f, i);
        struct rc_trigger t;
        struct rc_policy pol;
        int64_t next;
        if (!plannable(job, &t, &pol) || triggerNext(&t, job->cursor_us, &next) != 0) {
            continue;
        }
        dueheapAppend(h, subSat(next, lookahead), job->id, i);
    }
    dueheapHeapify(h);
    h->valid = true;
    h->jobs_gen = fsmJobsGeneration(f);
    h->lookahead_us = lookahead;
    h->rebuilds++;
    return 0;
}

static int heapFresh(const struct builder *b, struct dueheap *h)
{
    if (h->valid && h->jobs_gen == fsmJobsGeneration(b->f) &&
        h->lookahead_us == b->o->lookahead_us) {
        return 0;
    }
    return heapRebuild(b->f, h, b->o->lookahead_us);
}

/* The popped items whose key is due (<= now), in b->due. False when one of them names a
 * position that no longer holds its job: the heap is then out of date (a change that did not
 * move the generation would be a bug; rebuilding is the safe answer). */
static int popDue(struct builder *b, struct dueheap *h, bool *current)
{
    *current = true;
    b->n_due = 0;
    /* The busy jobs first: every plan looks at them (dueheap.h). */
    for (size_t i = 0; i < h->n_busy; i++) {
        if (b->n_due == b->cap_due) {
            size_t cap = b->cap_due ? 2 * b->cap_due : 64;
            struct dueheap_item *d = realloc(b->due, cap * sizeof *d);
            if (d == NULL) {
                return RC_ENOMEM;
            }
            b->due = d;
            b->cap_due = cap;
        }
        /* Its key as if it were not busy (its instant minus the lookahead): exact should the
         * batch be full and it go back unlooked at (REKEY_KEEP). */
        b->due[b->n_due] = h->busy[i];
        b->due[b->n_due++].key = subSat(h->busy[i].key, b->o->lookahead_us);
        const Raftcron__Job *job = fsmJobAt(b->f, h->busy[i].slot);
        if (job == NULL || job->id != h->busy[i].job_id) {
            *current = false;
        }
    }
    h->n_busy = 0;
    const struct dueheap_item *top;
    while ((top = dueheapTop(h)) != NULL && top->key <= b->now) {
        if (b->n_due == b->cap_due) {
            size_t cap = b->cap_due ? 2 * b->cap_due : 64;
            struct dueheap_item *d = realloc(b->due, cap * sizeof *d);
            if (d == NULL) {
                return RC_ENOMEM;
            }
            b->due = d;
            b->cap_due = cap;
        }
        struct dueheap_item *it = &b->due[b->n_due++];
        dueheapPop(h, it);
        const Raftcron__Job *job = fsmJobAt(b->f, it->slot);
        if (job == NULL || job->id != it->job_id) {
            *current = false;
        }
    }
    return 0;
}

static int bySlot(const void *a, const void *b)
{
    size_t x = ((const struct dueheap_item *)a)->slot;
    size_t y = ((const struct dueheap_item *)b)->slot;
    return (x > y) - (x < y);
}

/* Popped jobs are looked at in (namespace, name) order, as planFires does (a slot is that
 * position), so the items come out in the same order; each is put back at the key planJob
 * computed from the cursor this plan leaves it at (the caller invalidates the heap if that
 * does not commit). */
static int planFiresHeap(struct builder *b, struct dueheap *h)
{
    bool current = false;
    for (int tries = 0; !current; tries++) {
        int rv = tries < 2 ? heapFresh(b, h) : RC_EINTERNAL;
        if (rv == 0) {
            rv = popDue(b, h, &current);
        }
        if (rv != 0) {
            return rv;
        }
        if (!current) {
            dueheapInvalidate(h);
        }
    }
    if (b->n_due > 1) {
        qsort(b->due, b->n_due, sizeof *b->due, bySlot);
    }
    for (size_t i = 0; i < b->n_due; i++) {
        struct dueheap_item *it = &b->due[i];
        int64_t key = it->key;
        enum rekey rk = planJob(b, fsmJobAt(b->f, it->slot), &key);
        if (rk == REKEY_NONE) {
            continue;
        }
        int rv = rk == REKEY_BUSY ? dueheapBusyAdd(h, key, it->job_id, it->slot)
                                  : dueheapPush(h, key, it->job_id, it->slot); /* room: popped */
        if (rv != 0) {
            return rv;
        }
    }
    const struct dueheap_item *top = dueheapTop(h);
    if (top != NULL) {
        wakeAt(b, top->key);
    }
    return encodeFires(b);
}

/* ---- Placement -------------------------------------------------------------------------- */

/* The job of a run, through its "namespace/name" and checked by id (runs of a deleted job are
 * dropped with it, so a miss is a job replaced under the same name). */
static const Raftcron__Job *jobOfRun(const struct rc_fsm *f, const Raftcron__Run *run)
{
    const char *slash = strchr(run->job, '/');
    if (slash == NULL || (size_t)(slash - run->job) > RC_JOBS_NAMESPACE_MAX) {
        return NULL;
    }
    char ns[RC_JOBS_NAMESPACE_MAX + 1];
    memcpy(ns, run->job, (size_t)(slash - run->job));
    ns[slash - run->job] = '\0';
    const Raftcron__Job *job = fsmJobGet(f, ns, slash + 1);
    return job != NULL && job->id == run->job_id ? job : NULL;
}

static bool hasTag(const Raftcron__Worker *w, const char *k, const char *v)
{
    for (size_t i = 0; i < w->n_tags; i++) {
        if (strcmp(w->tags[i]->key, k) == 0 && strcmp(w->tags[i]->value, v) == 0) {
            return true;
        }
    }
    return false;
}

static bool tagsMatch(const Raftcron__Worker *w, const Raftcron__JobSpec *spec)
{
    for (size_t i = 0; i < spec->n_target; i++) {
        if (!hasTag(w, spec->target[i]->key, spec->target[i]->value)) {
            return false;
        }
    }
    return true;
}

static uint64_t capacityOf(const Raftcron__Worker *w)
{
    return w->capacity == 0 ? 1 : w->capacity;
}

/* Workers are sorted by id: their position indexes b->worker_load. */
static size_t workerSlot(const struct rc_fsm *f, uint64_t id)
{
    size_t n;
    Raftcron__Worker *const *ws = fsmWorkers(f, &n);
    size_t lo = 0;
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ws[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && ws[lo]->id == id ? lo : SIZE_MAX;
}

/* The runs the planner acts on or counts, in (job id, run id) order. fsmRunsSelect walks every
 * run, finished ones included, so the plan takes them all in one pass (two when more than
 * FIRST_GUESS_RUNS are unfinished) rather than a count and a copy for each kind. */
#define FIRST_GUESS_RUNS 256

static int selectRuns(struct builder *b)
{
    size_t cap = FIRST_GUESS_RUNS;
    for (;;) {
        b->runs = malloc(cap * sizeof *b->runs);
        if (b->runs == NULL) {
            return RC_ENOMEM;
        }
        size_t n = fsmRunsSelect(b->f, RC_RUN_UNFINISHED_MASK, 0, b->runs, cap);
        if (n <= cap) {
            b->n_runs = n;
            return 0;
        }
        free(b->runs);
        b->runs = NULL;
        cap = n;
    }
}

static bool inStates(const Raftcron__Run *run, uint32_t mask)
{
    return (mask & (UINT32_C(1) << run->state)) != 0;
}

/* Rule (SCHED_BACKLOG_DEFAULT): a noop run takes no process slot. */
static uint64_t weightOf(const Raftcron__Job *job)
{
    const Raftcron__Executor *e = job != NULL ? job->spec->executor : NULL;
    return e != NULL && e->kind_case == RAFTCRON__EXECUTOR__KIND_NOOP ? 0 : 1;
}

static int countLoad(struct builder *b)
{
    size_t nw;
    fsmWorkers(b->f, &nw);
    b->worker_load = calloc(nw + 1, sizeof *b->worker_load);
    b->worker_busy = calloc(nw + 1, sizeof *b->worker_busy);
    if (b->worker_load == NULL || b->worker_busy == NULL) {
        return RC_ENOMEM;
    }
    uint32_t mask = (1u << RC_RUN_ASSIGNED) | (1u << RC_RUN_RUNNING);
    for (size_t i = 0; i < b->n_runs; i++) {
        if (!inStates(b->runs[i], mask)) {
            continue;
        }
        size_t slot = workerSlot(b->f, b->runs[i]->worker_id);
        if (slot != SIZE_MAX) {
            b->worker_load[slot]++;
            b->worker_busy[slot] += weightOf(jobOfRun(b->f, b->runs[i]));
        }
    }
    return 0;
}

static bool sortedHas(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0;
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && ids[lo] == id;
}

static bool isLive(const struct builder *b, uint64_t worker_id)
{
    return b->o->live == NULL || sortedHas(b->o->live, b->o->n_live, worker_id);
}

static void describeTarget(const Raftcron__JobSpec *spec, char *buf, size_t n)
{
    if (spec->n_target == 0) {
        snprintf(buf, n, "no alive worker");
        return;
    }
    size_t used = (size_t)snprintf(buf, n, "no alive worker with tags");
    for (size_t i = 0; i < spec->n_target && used < n; i++) {
        used += (size_t)snprintf(buf + used, n - used, "%s%s=%s", i == 0 ? " " : ",",
                                 spec->target[i]->key, spec->target[i]->value);
    }
}

/* Ties among the least loaded go to the worker whose id hashes lowest with `spread` (a value
 * of the run: its instant and job, or its id), so that a job firing once a second on idle
 * workers does not always land on the lowest id, and every leader places alike. */
static bool preferred(const Raftcron__Worker *a, const Raftcron__Worker *b, uint64_t spread)
{
    uint64_t x = hashMix(a->id ^ spread);
    uint64_t y = hashMix(b->id ^ spread);
    return x < y || (x == y && a->id < b->id);
}

/* Least loaded matching live worker with room, other than exclude (ties: preferred), or
 * SIZE_MAX with the reason in why. */
static size_t pickWorker(struct builder *b, const Raftcron__JobSpec *spec, uint64_t weight,
                         uint64_t exclude, uint64_t spread, char *why, size_t n)
{
    size_t nw;
    Raftcron__Worker *const *ws = fsmWorkers(b->f, &nw);
    size_t best = SIZE_MAX;
    bool matched = false;
    bool unreachable = false;
    unsigned backlog = b->o->backlog;
    for (size_t i = 0; i < nw; i++) {
        if (!ws[i]->alive || ws[i]->id == exclude || !tagsMatch(ws[i], spec)) {
            continue;
        }
        if (!isLive(b, ws[i]->id)) {
            unreachable = true;
            continue;
        }
        matched = true;
        if (weight > 0 && b->worker_busy[i] >= capacityOf(ws[i]) + backlog) {
            continue;
        }
        if (best == SIZE_MAX || b->worker_load[i] < b->worker_load[best] ||
            (b->worker_load[i] == b->worker_load[best] && preferred(ws[i], ws[best], spread))) {
            best = i;
        }
    }
    if (best == SIZE_MAX) {
        if (matched) {
            snprintf(why, n, "all matching workers at capacity");
        } else if (unreachable) {
            snprintf(why, n, "no matching worker connected to the leader");
        } else {
            describeTarget(spec, why, n);
        }
    }
    return best;
}

/* Place one run of job (the load counts it at once), or SIZE_MAX with why. */
static size_t placeRun(struct builder *b, const Raftcron__Job *job, uint64_t exclude,
                       uint64_t spread, char *why, size_t n)
{
    uint64_t weight = weightOf(job);
    size_t slot = pickWorker(b, job->spec, weight, exclude, spread, why, n);
    if (slot != SIZE_MAX) {
        b->worker_load[slot]++;
        b->worker_busy[slot] += weight;
    }
    return slot;
}

/* Rule (docs/ledger.md, QUEUE_ONE): a queued run starts only once every other active run of
 * its job has ended, i.e. when the only active runs left are queued ones. */
static bool queuedBehindActive(const struct rc_fsm *f, const Raftcron__Run *run)
{
    if (run->state != RC_RUN_PENDING || strcmp(run->wait_reason, QUEUED_REASON) != 0) {
        return false;
    }
    int active;
    int queued;
    fsmJobActive(f, run->job_id, &active, &queued);
    return active > queued;
}

/* An assigned run its worker has not accepted, and will not: the worker is down or restarted
 * (another incarnation), or did not acknowledge in time (overdue: not that worker again). */
static bool reassignable(const struct builder *b, const Raftcron__Run *run, uint64_t *exclude)
{
    *exclude = 0;
    if (run->state != RC_RUN_ASSIGNED || run->accepted_us != 0) {
        return false;
    }
    if (sortedHas(b->o->overdue, b->o->n_overdue, run->id)) {
        *exclude = run->worker_id;
        return true;
    }
    const Raftcron__Worker *w = fsmWorkerGet(b->f, run->worker_id);
    return w == NULL || !w->alive || w->incarnation != run->worker_incarnation;
}

static int assignRun(struct builder *b, const Raftcron__Run *run)
{
    uint64_t exclude = 0;
    if (run->state == RC_RUN_ASSIGNED && !reassignable(b, run, &exclude)) {
        return 0;
    }
    if (run->state == RC_RUN_RETRY_WAIT && run->not_before_us > b->now) {
        wakeAt(b, run->not_before_us);
        return 0;
    }
    const Raftcron__Job *job = jobOfRun(b->f, run);
    if (job == NULL) {
        return pushWait(b, run->id, "job not found");
    }
    if (queuedBehindActive(b->f, run)) {
        return pushWait(b, run->id, "queued behind an active run");
    }
    char why[sizeof b->out->waits[0].reason];
    size_t slot = placeRun(b, job, exclude, hashMix(run->id), why, sizeof why);
    if (slot == SIZE_MAX) {
        return pushWait(b, run->id, why);
    }
    if (run->state == RC_RUN_ASSIGNED) {
        size_t old = workerSlot(b->f, run->worker_id);
        if (old != SIZE_MAX && b->worker_load[old] > 0) {
            b->worker_load[old]--;
            b->worker_busy[old] -= b->worker_busy[old] > 0 ? weightOf(job) : 0;
        }
    }
    size_t nw;
    uint64_t worker_id = fsmWorkers(b->f, &nw)[slot]->id;
    void *buf;
    size_t len;
    int rv = commandEncodeRunAssign(run->id, run->fence, worker_id, b->now, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    return pushEntry(b, buf, len, run->id, worker_id);
}

static int planAssign(struct builder *b)
{
    uint32_t mask = (1u << RC_RUN_PENDING) | (1u << RC_RUN_RETRY_WAIT) | (1u << RC_RUN_ASSIGNED);
    size_t assigned = 0;
    int rv = 0;
    for (size_t i = 0; i < b->n_runs && rv == 0; i++) {
        if (!inStates(b->runs[i], mask)) {
            continue;
        }
        if (assigned == b->max_assign) {
            wakeAt(b, b->now);
            break;
        }
        size_t before = b->out->n_entries;
        rv = assignRun(b, b->runs[i]);
        assigned += b->out->n_entries - before;
    }
    return rv;
}

/* ---- Retries and dead letters ----------------------------------------------------------- */

static int endRun(struct builder *b, const Raftcron__Run *run, const char *reason)
{
    void *buf;
    size_t len;
    int rv = commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_DEAD, run->id, run->fence, reason,
                                 b->now, &buf, &len);
    return rv != 0 ? rv : pushEntry(b, buf, len, run->id, 0);
}

/* Rule (DESIGN.md §1.3): retried while the policy allows, else the dead letter; a lost attempt
 * of an at-most-once job is never retried. */
static int settleRun(struct builder *b, const Raftcron__Run *run)
{
    const Raftcron__Job *job = jobOfRun(b->f, run);
    if (job == NULL) {
        return 0;
    }
    bool lost = run->state == RC_RUN_LOST;
    const Raftcron__RetryPolicy *rp = job->spec->retry;
    if (!retryShouldRetry(rp, run->attempt, lost, job->spec->at_most_once)) {
        bool amo = lost && job->spec->at_most_once;
        return endRun(b, run, amo ? "lost under at-most-once" : "retries exhausted");
    }
    int64_t delay;
    if (retryDelay(rp, run->attempt, run->id, &delay) != 0) {
        return endRun(b, run, "invalid retry policy");
    }
    int64_t not_before = b->now + delay;
    void *buf;
    size_t len;
    int rv = commandEncodeRunRetry(run->id, run->fence, not_before, b->now, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    wakeAt(b, not_before);
    return pushEntry(b, buf, len, run->id, 0);
}

static int planSettle(struct builder *b)
{
    uint32_t mask = (1u << RC_RUN_FAILED) | (1u << RC_RUN_TIMED_OUT) | (1u << RC_RUN_LOST);
    int rv = 0;
    for (size_t i = 0; i < b->n_runs && rv == 0; i++) {
        if (inStates(b->runs[i], mask)) {
            rv = settleRun(b, b->runs[i]);
        }
    }
    return rv;
}

/* ---- The plan ----------------------------------------------------------------------------- */

static int builderInit(struct builder *b, const struct rc_fsm *f, const struct sched_options *o,
                       struct sched_plan *out)
{
    memset(b, 0, sizeof *b);
    b->f = f;
    b->o = o;
    b->now = o->now_us;
    b->out = out;
    b->max_items = o->max_items != 0 ? o->max_items : DEFAULT_MAX_ITEMS;
    b->max_assign = o->max_assign != 0 ? o->max_assign : DEFAULT_MAX_ASSIGN;
    b->items = malloc(b->max_items * sizeof *b->items);
    b->item_ptrs = malloc(b->max_items * sizeof *b->item_ptrs);
    b->recs = malloc(b->max_items * sizeof *b->recs);
    if (b->items == NULL || b->item_ptrs == NULL || b->recs == NULL) {
        return RC_ENOMEM;
    }
    return 0;
}

static void builderClose(struct builder *b)
{
    free(b->items);
    free(b->item_ptrs);
    free(b->recs);
    free(b->worker_load);
    free(b->worker_busy);
    free(b->runs);
    free(b->due);
}

int schedPlanHeap(const struct rc_fsm *f, const struct sched_options *o, struct dueheap *h,
                  struct sched_plan *out)
{
    if (out == NULL) {
        return RC_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->next_wake_us = INT64_MAX;
    if (f == NULL || o == NULL || o->lookahead_us < 0) {
        return RC_EINVAL;
    }
    struct builder b;
    int rv = builderInit(&b, f, o, out);
    if (rv != 0) {
        goto err_after_init;
    }
    /* The load first: the fires place their runs. */
    rv = selectRuns(&b);
    if (rv == 0) {
        rv = countLoad(&b);
    }
    if (rv == 0) {
        rv = h != NULL ? planFiresHeap(&b, h) : planFires(&b);
    }
    if (rv == 0) {
        rv = planAssign(&b);
    }
    if (rv == 0) {
        rv = planSettle(&b);
    }
    if (rv != 0) {
        goto err_after_init;
    }
    builderClose(&b);
    return 0;

err_after_init:
    assert(rv != 0);
    if (h != NULL) {
        dueheapInvalidate(h); /* popped jobs may not be back in it */
    }
    builderClose(&b);
    schedPlanFree(out);
    return rv;
}

int schedPlan(const struct rc_fsm *f, const struct sched_options *o, struct sched_plan *out)
{
    return schedPlanHeap(f, o, NULL, out);
}

int schedPlanPack(const struct sched_plan *p, struct sched_proposal out[2])
{
    int n = 0;
    struct command_batch batch;
    commandBatchInit(&batch);
    for (size_t i = 0; i < p->n_entries; i++) {
        const struct sched_entry *e = &p->entries[i];
        if (e->run_id == 0) {
            void *copy = malloc(e->len > 0 ? e->len : 1);
            if (copy == NULL) {
                goto err_nomem;
            }
            memcpy(copy, e->buf, e->len);
            out[n++] = (struct sched_proposal){copy, e->len, true};
            continue;
        }
        if (commandBatchAdd(&batch, e->buf, e->len) != 0) {
            goto err_nomem;
        }
    }
    if (batch.n > 0) {
        void *buf;
        size_t len;
        if (commandBatchFinish(&batch, &buf, &len) != 0) {
            goto err_nomem;
        }
        out[n++] = (struct sched_proposal){buf, len, false};
    }
    commandBatchClose(&batch);
    return n;

err_nomem:
    commandBatchClose(&batch);
    for (int i = 0; i < n; i++) {
        free(out[i].buf);
    }
    return -RC_ENOMEM;
}

void schedPlanFree(struct sched_plan *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n_entries; i++) {
        free(p->entries[i].buf);
    }
    free(p->entries);
    free(p->waits);
    memset(p, 0, sizeof *p);
    p->next_wake_us = INT64_MAX;
}
