/*
 * The leader's due-heap (src/core/dueheap.h) and schedPlanHeap (src/core/sched.h).
 *
 * The property: over randomized job tables (cron in several zones, intervals, one-offs,
 * bounds, jitter, paused jobs, every overlap policy, broken specs) and randomized clock steps
 * (small, exact, large, backwards), with every plan committed the way the leader does it or
 * dropped as a failed proposal, the heap-driven planner gives byte-identical entries, the same
 * waits and the same next_wake_us as the full scan on the same FSM — also across job puts,
 * deletes, pauses, resumes, lookahead changes and restores of an older snapshot between plans.
 * Seeded and reproducible: RC_SEED=<n> runs one seed, RC_STEPS=<n> sets the steps per seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/command.h"
#include "core/dueheap.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/policy.h"
#include "core/runs.h"
#include "core/sched.h"

#define T0   INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define MS   INT64_C(1000)
#define SEC  INT64_C(1000000)
#define MIN  (60 * SEC)
#define LOOK (100 * MS)

#define N_NAMES   48
#define N_WORKERS 3

/* ---- The heap on its own -------------------------------------------------------------------- */

static void test_heap_order(void **state)
{
    (void)state;
    struct dueheap h;
    dueheapInit(&h);
    assert_null(dueheapTop(&h));
    uint64_t x = 12345;
    for (size_t i = 0; i < 1000; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        assert_int_equal(dueheapPush(&h, (int64_t)(x >> 40) % 97, i + 1, i), 0);
    }
    struct dueheap_item prev = {.key = INT64_MIN};
    struct dueheap_item it;
    size_t n = 0;
    while (dueheapPop(&h, &it)) {
        assert_true(it.key > prev.key || (it.key == prev.key && it.slot > prev.slot));
        assert_int_equal(it.job_id, it.slot + 1);
        prev = it;
        n++;
    }
    assert_int_equal(n, 1000);
    /* Appends then heapify give the same order. */
    assert_int_equal(dueheapReserve(&h, 500), 0);
    for (size_t i = 0; i < 500; i++) {
        dueheapAppend(&h, (int64_t)((i * 7919) % 500), i, i);
    }
    dueheapHeapify(&h);
    for (int64_t k = 0; k < 500; k++) {
        assert_true(dueheapPop(&h, &it));
        assert_int_equal(it.key, k);
    }
    assert_false(dueheapPop(&h, &it));
    dueheapClose(&h);
    dueheapClose(NULL);
}

/* ---- A world: one FSM, committed to as the leader does -------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return rnd(s) % n;
}

static bool chance(uint64_t *s, unsigned per_mille)
{
    return below(s, 1000) < per_mille;
}

static int64_t between(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)below(s, (uint64_t)(hi - lo + 1));
}

struct world {
    uint64_t rng;
    struct rc_fsm *f;
    uint64_t index;
    int64_t now;
    int64_t look;
    size_t max_items;
    size_t max_assign;
    struct dueheap h;
    bool invalidate_on_failure; /* false only for the control test below */
    void *snap;                 /* an older state, restored now and then */
    size_t snap_len;
    uint64_t snap_index;
    /* what the run covered */
    unsigned long steps, fire_plans, items, failed, restores, job_writes;
};

static struct rc_fsm_result apply(struct world *w, const void *buf, size_t len)
{
    struct rc_fsm_result res;
    assert_int_equal(fsmApply(w->f, ++w->index, buf, len, &res), 0);
    return res;
}

static void applyOwned(struct world *w, void *buf, size_t len)
{
    apply(w, buf, len);
    free(buf);
}

static const char *const CRONS[] = {
    "* * * * * *",       "*/5 * * * * *", "*/7 * * * * *",  "0 * * * * *", "15,45 * * * * *",
    "* * * * *",         "*/2 * * * *",   "@every 13s",     "0 0 1 1 *",   "30 2 * * *",
    "*/10 * 1-12 * * *", "0 */3 * * * *", "59 59 23 * * *", "61 * * * *", /* broken */
};
static const char *const ZONES[] = {"", "", "Europe/Berlin", "America/New_York", "Nowhere/Zone"};

struct spec_buf {
    Raftcron__JobSpec spec;
    Raftcron__Trigger trigger;
    Raftcron__Executor executor;
    Raftcron__ShellExec shell;
    Raftcron__Policy policy;
    Raftcron__RetryPolicy retry;
    Raftcron__JobSpec__TargetEntry tag;
    Raftcron__JobSpec__TargetEntry *tags[1];
};

static void randomTrigger(struct world *w, Raftcron__Trigger *t)
{
    uint64_t *r = &w->rng;
    uint64_t kind = below(r, 10);
    if (kind < 5) {
        t->kind_case = RAFTCRON__TRIGGER__KIND_CRON;
        t->cron = (char *)CRONS[below(r, sizeof CRONS / sizeof CRONS[0])];
        t->tz = (char *)ZONES[below(r, sizeof ZONES / sizeof ZONES[0])];
        t->dst_gap = (uint32_t)below(r, 2);
        t->dst_repeat = (uint32_t)below(r, 2);
    } else if (kind < 8) {
        static const int64_t every[] = {250 * MS, 1 * SEC, 3 * SEC, 10 * SEC, 45 * SEC, 0};
        t->kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
        t->interval_us = every[below(r, 6)]; /* 0: broken */
        t->anchor_us = chance(r, 500) ? 0 : w->now - between(r, 0, 100 * SEC);
    } else {
        t->kind_case = RAFTCRON__TRIGGER__KIND_AT_US;
        t->at_us = w->now + between(r, -30 * SEC, 120 * SEC);
    }
    if (chance(r, 100)) {
        t->start_us = w->now + between(r, 0, 60 * SEC);
    }
    if (chance(r, 100)) {
        t->end_us = w->now + between(r, 0, 300 * SEC);
    }
    if (chance(r, 200)) {
        t->jitter_us = between(r, 0, 2 * SEC);
    }
}

static void randomSpec(struct world *w, struct spec_buf *b, const char *ns, const char *name)
{
    uint64_t *r = &w->rng;
    memset(b, 0, sizeof *b);
    raftcron__job_spec__init(&b->spec);
    raftcron__trigger__init(&b->trigger);
    raftcron__executor__init(&b->executor);
    raftcron__shell_exec__init(&b->shell);
    b->spec.namespace_ = (char *)ns;
    b->spec.name = (char *)name;
    b->shell.command = (char *)(chance(r, 500) ? "true" : "echo hi");
    b->executor.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    b->executor.shell = &b->shell;
    b->spec.trigger = &b->trigger;
    b->spec.executor = &b->executor;
    randomTrigger(w, &b->trigger);
    if (chance(r, 700)) {
        static const int64_t grace[] = {-1, 0, 2 * SEC, 10 * SEC, 60 * SEC};
        raftcron__policy__init(&b->policy);
        b->policy.misfire_grace_us = grace[below(r, 5)];
        b->policy.coalesce = chance(r, 500);
        b->policy.overlap = chance(r, 20) ? 7 : (uint32_t)below(r, 4); /* 7: broken */
        b->policy.max_instances = (uint32_t)below(r, 4);
        b->spec.policy = &b->policy;
    }
    if (chance(r, 300)) {
        raftcron__retry_policy__init(&b->retry);
        b->retry.max_attempts = (uint32_t)between(r, 1, 3);
        b->retry.delay_us = between(r, 0, 3 * SEC);
        b->spec.retry = &b->retry;
    }
    if (chance(r, 200)) {
        raftcron__job_spec__target_entry__init(&b->tag);
        b->tag.key = (char *)"region";
        b->tag.value = (char *)(chance(r, 500) ? "eu" : "us");
        b->tags[0] = &b->tag;
        b->spec.target = b->tags;
        b->spec.n_target = 1;
    }
}

static void jobName(struct world *w, const char **ns, char *name, size_t n)
{
    uint64_t i = below(&w->rng, N_NAMES);
    *ns = i % 3 == 0 ? "team" : "";
    snprintf(name, n, "job%02llu", (unsigned long long)i);
}

static void putJob(struct world *w)
{
    const char *ns;
    char name[16];
    jobName(w, &ns, name, sizeof name);
    struct spec_buf b;
    randomSpec(w, &b, ns, name);
    void *buf;
    size_t len;
    assert_int_equal(
        commandEncodeJobPut(&b.spec, 0, false, chance(&w->rng, 150), w->now, &buf, &len), 0);
    applyOwned(w, buf, len);
}

static void jobCommand(struct world *w, uint64_t kind)
{
    const char *ns;
    char name[16];
    jobName(w, &ns, name, sizeof name);
    void *buf;
    size_t len;
    int rv = kind == 0   ? commandEncodeJobDelete(ns, name, 0, w->now, &buf, &len)
             : kind == 1 ? commandEncodeJobPause(ns, name, 0, w->now, &buf, &len)
                         : commandEncodeJobResume(ns, name, 0, w->now, &buf, &len);
    assert_int_equal(rv, 0);
    applyOwned(w, buf, len);
}

static void workerToggle(struct world *w)
{
    uint64_t id = 1 + below(&w->rng, N_WORKERS);
    const Raftcron__Worker *cur = fsmWorkerGet(w->f, id);
    void *buf;
    size_t len;
    if (cur != NULL && cur->alive) {
        assert_int_equal(commandEncodeWorkerDown(id, w->now, &buf, &len), 0);
    } else {
        Raftcron__Worker wk = RAFTCRON__WORKER__INIT;
        Raftcron__Worker__TagsEntry tag = RAFTCRON__WORKER__TAGS_ENTRY__INIT;
        Raftcron__Worker__TagsEntry *tags[1] = {&tag};
        char addr[32];
        snprintf(addr, sizeof addr, "10.0.0.%llu:7000", (unsigned long long)id);
        wk.id = id;
        wk.address = addr;
        wk.capacity = (uint32_t)below(&w->rng, 4);
        tag.key = (char *)"region";
        tag.value = (char *)(id == 1 ? "eu" : "us");
        wk.tags = tags;
        wk.n_tags = 1;
        assert_int_equal(commandEncodeWorkerUp(&wk, w->now, &buf, &len), 0);
    }
    applyOwned(w, buf, len);
}

/* Workers report: some assigned runs start, some running ones end (any outcome). */
static void progressRuns(struct world *w)
{
    uint32_t mask = (1u << RC_RUN_ASSIGNED) | (1u << RC_RUN_RUNNING);
    const Raftcron__Run *runs[64];
    size_t n = fsmRunsSelect(w->f, mask, 0, runs, 64);
    n = n < 64 ? n : 64;
    uint64_t ids[64];
    for (size_t i = 0; i < n; i++) {
        ids[i] = runs[i]->id;
    }
    for (size_t i = 0; i < n; i++) {
        const Raftcron__Run *r = fsmRunGet(w->f, ids[i]);
        if (r == NULL || !chance(&w->rng, 400)) {
            continue;
        }
        void *buf;
        size_t len;
        if (r->state == RC_RUN_ASSIGNED) {
            assert_int_equal(commandEncodeRunStarted(r->id, r->fence, w->now, &buf, &len), 0);
        } else {
            static const uint32_t ends[] = {RC_RUN_SUCCEEDED, RC_RUN_SUCCEEDED, RC_RUN_FAILED,
                                            RC_RUN_TIMED_OUT};
            assert_int_equal(commandEncodeRunFinished(r->id, r->fence, ends[below(&w->rng, 4)],
                                                      NULL, w->now, &buf, &len),
                             0);
        }
        applyOwned(w, buf, len);
    }
}

static void snapshotOrRestore(struct world *w)
{
    if (w->snap == NULL || chance(&w->rng, 500)) {
        free(w->snap);
        assert_int_equal(fsmSnapshot(w->f, &w->snap, &w->snap_len), 0);
        w->snap_index = w->index;
        return;
    }
    /* An older state: cursors move back, jobs come back. Only the generation tells. */
    char err[256];
    assert_int_equal(fsmRestore(w->f, w->snap_index, w->snap, w->snap_len, err, sizeof err), 0);
    w->restores++;
}

static void changeSomething(struct world *w)
{
    uint64_t *r = &w->rng;
    if (chance(r, 40)) {
        putJob(w);
        w->job_writes++;
    }
    if (chance(r, 45)) {
        jobCommand(w, below(r, 3));
        w->job_writes++;
    }
    if (chance(r, 10)) {
        workerToggle(w);
    }
    if (chance(r, 8)) {
        snapshotOrRestore(w);
    }
    if (chance(r, 5)) {
        static const int64_t looks[] = {0, LOOK, LOOK, SEC};
        w->look = looks[below(r, 4)];
    }
    w->max_items = chance(r, 300) ? (size_t)between(r, 1, 6) : 0;
    w->max_assign = chance(r, 300) ? (size_t)between(r, 1, 4) : 0;
    progressRuns(w);
}

static void advanceClock(struct world *w)
{
    uint64_t *r = &w->rng;
    uint64_t k = below(r, 1000);
    if (k < 100) {
        return; /* the same instant again */
    }
    if (k < 300) {
        w->now += between(r, 0, LOOK);
    } else if (k < 900) {
        w->now += between(r, 0, 1200 * MS);
    } else if (k < 970) {
        w->now += between(r, 2 * SEC, 40 * SEC);
    } else if (k < 990) {
        w->now += between(r, 1 * MIN, 20 * MIN); /* an outage */
    } else {
        w->now -= between(r, 0, 5 * SEC); /* the clock stepped back */
    }
}

/* ---- Comparing and committing plans ------------------------------------------------------- */

static void describe(const struct sched_plan *p, const char *which)
{
    fprintf(stderr, "  %s: %zu entries, %zu waits, next_wake %lld\n", which, p->n_entries,
            p->n_waits, (long long)p->next_wake_us);
    for (size_t i = 0; i < p->n_entries; i++) {
        Raftcron__Command *cmd;
        if (commandDecode(p->entries[i].buf, p->entries[i].len, &cmd) != 0) {
            continue;
        }
        if (cmd->cmd_case == RAFTCRON__COMMAND__CMD_FIRE_BATCH) {
            for (size_t j = 0; j < cmd->fire_batch->n_items; j++) {
                const Raftcron__FireItem *it = cmd->fire_batch->items[j];
                fprintf(stderr, "    %s/%s %s [%lld, %lld] x%llu\n", it->namespace_, it->name,
                        policyDecisionName((enum rc_decision)it->decision), (long long)it->first_us,
                        (long long)it->last_us, (unsigned long long)it->count);
            }
        } else {
            fprintf(stderr, "    %s run %llu\n", commandName(cmd),
                    (unsigned long long)p->entries[i].run_id);
        }
        commandFree(cmd);
    }
}

/* Heap items keyed before the full scan's wake-up: the job a wrong key belongs to. */
static void describeEarlyKeys(const struct world *w, const struct sched_plan *full)
{
    for (size_t k = 0; k < w->h.n_busy; k++) {
        const Raftcron__Job *j = fsmJobAt(w->f, w->h.busy[k].slot);
        fprintf(stderr, "  busy list: instant %lld (slot %zu): %s\n", (long long)w->h.busy[k].key,
                w->h.busy[k].slot, j != NULL ? j->spec->name : "?");
    }
    for (size_t k = 0; k < w->h.n; k++) {
        const struct dueheap_item *it = &w->h.items[k];
        const Raftcron__Job *j = fsmJobAt(w->f, it->slot);
        if (it->key >= full->next_wake_us || j == NULL) {
            continue;
        }
        fprintf(stderr, "  heap key %lld (slot %zu): %s/%s cursor %lld paused %d trigger kind %d\n",
                (long long)it->key, it->slot, j->spec->namespace_, j->spec->name,
                (long long)j->cursor_us, j->paused, (int)j->spec->trigger->kind_case);
    }
}

static bool samePlan(const struct sched_plan *a, const struct sched_plan *b)
{
    if (a->n_entries != b->n_entries || a->n_waits != b->n_waits ||
        a->next_wake_us != b->next_wake_us) {
        return false;
    }
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct sched_entry *x = &a->entries[i];
        const struct sched_entry *y = &b->entries[i];
        if (x->len != y->len || memcmp(x->buf, y->buf, x->len) != 0 || x->run_id != y->run_id ||
            x->worker_id != y->worker_id) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_waits; i++) {
        if (a->waits[i].run_id != b->waits[i].run_id ||
            strcmp(a->waits[i].reason, b->waits[i].reason) != 0) {
            return false;
        }
    }
    return true;
}

/* As the leader does: every entry in order; a refused FireBatch item, a failed proposal (the
 * plan dropped, or only a prefix committed) or an outcome-unknown callback invalidates the
 * heap. Returns false when something failed. */
static bool commit(struct world *w, const struct sched_plan *p)
{
    uint64_t *r = &w->rng;
    uint64_t k = below(r, 1000);
    size_t upto = p->n_entries;
    bool failed = false;
    if (k < 50) {
        upto = 0; /* the first proposal failed: nothing committed */
        failed = true;
    } else if (k < 80 && p->n_entries > 0) {
        upto = (size_t)below(r, p->n_entries); /* a later one failed */
        failed = true;
    } else if (k < 100) {
        failed = true; /* callbacks said "unknown", yet everything committed */
    }
    for (size_t i = 0; i < upto; i++) {
        struct rc_fsm_result res = apply(w, p->entries[i].buf, p->entries[i].len);
        if (p->entries[i].run_id == 0 && (res.code != 0 || res.items_rejected != 0)) {
            failed = true;
        }
    }
    if (failed && w->invalidate_on_failure) {
        dueheapInvalidate(&w->h);
    }
    w->failed += failed;
    return !failed;
}

static void worldInit(struct world *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->rng = seed;
    w->now = T0 + (int64_t)below(&w->rng, 3600) * SEC;
    w->look = LOOK;
    w->invalidate_on_failure = true;
    assert_int_equal(fsmCreate(&w->f), 0);
    dueheapInit(&w->h);
    for (int i = 0; i < N_NAMES / 2; i++) {
        putJob(w);
    }
    for (int i = 0; i < N_WORKERS; i++) {
        workerToggle(w);
    }
}

static void worldClose(struct world *w)
{
    dueheapClose(&w->h);
    fsmDestroy(w->f);
    free(w->snap);
}

/* One step: change the world, plan both ways, compare, commit. False on a difference. */
static bool step(struct world *w, uint64_t seed, unsigned long i)
{
    changeSomething(w);
    advanceClock(w);
    struct sched_options o = {.now_us = w->now,
                              .lookahead_us = w->look,
                              .max_items = w->max_items,
                              .max_assign = w->max_assign};
    struct sched_plan full;
    struct sched_plan fast;
    assert_int_equal(schedPlan(w->f, &o, &full), 0);
    assert_int_equal(schedPlanHeap(w->f, &o, &w->h, &fast), 0);
    bool same = samePlan(&full, &fast);
    if (!same && w->invalidate_on_failure) {
        fprintf(stderr, "seed %llu step %lu now %lld: plans differ\n", (unsigned long long)seed, i,
                (long long)w->now);
        describe(&full, "full scan");
        describe(&fast, "due-heap");
        describeEarlyKeys(w, &full);
    }
    w->steps++;
    if (full.n_entries > 0 && full.entries[0].run_id == 0) {
        w->fire_plans++;
        Raftcron__Command *cmd;
        assert_int_equal(commandDecode(full.entries[0].buf, full.entries[0].len, &cmd), 0);
        w->items += cmd->fire_batch->n_items;
        commandFree(cmd);
    }
    commit(w, &fast);
    schedPlanFree(&full);
    schedPlanFree(&fast);
    return same;
}

static unsigned long envSteps(unsigned long dflt)
{
    const char *s = getenv("RC_STEPS");
    return s != NULL ? strtoul(s, NULL, 10) : dflt;
}

static void test_heap_matches_full_scan(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *one = getenv("RC_SEED");
    size_t n_seeds = one != NULL ? 1 : sizeof seeds / sizeof seeds[0];
    unsigned long steps = envSteps(1500);
    unsigned long total = 0, fire_plans = 0, items = 0, failed = 0, restores = 0, writes = 0;
    uint64_t rebuilds = 0;
    for (size_t s = 0; s < n_seeds; s++) {
        uint64_t seed = one != NULL ? strtoull(one, NULL, 10) : seeds[s];
        struct world w;
        worldInit(&w, seed);
        for (unsigned long i = 0; i < steps; i++) {
            if (!step(&w, seed, i)) {
                fail_msg("seed %llu step %lu: the due-heap plan differs from the full scan",
                         (unsigned long long)seed, i);
            }
        }
        total += w.steps;
        fire_plans += w.fire_plans;
        items += w.items;
        failed += w.failed;
        restores += w.restores;
        writes += w.job_writes;
        rebuilds += w.h.rebuilds;
        worldClose(&w);
    }
    printf("due-heap vs full scan: %lu steps, %lu plans with a FireBatch (%lu items), %lu job "
           "writes, %lu restores, %lu failed commits, %llu rebuilds: all identical\n",
           total, fire_plans, items, writes, restores, failed, (unsigned long long)rebuilds);
    /* The run must have exercised what it claims to. */
    assert_true(fire_plans > total / 4);
    assert_true(failed > 0 && restores > 0 && writes > 0);
}

/* Control: a heap that is not invalidated after a failed proposal keeps keys that assumed the
 * plan committed, so a job's instants come late: the comparison above must notice. */
static void test_stale_heap_is_caught(void **state)
{
    (void)state;
    struct world w;
    worldInit(&w, 1);
    w.invalidate_on_failure = false;
    bool differed = false;
    for (unsigned long i = 0; i < 3000 && !differed; i++) {
        differed = !step(&w, 1, i);
    }
    worldClose(&w);
    assert_true(differed);
}

/* A plan that finds nothing due pops nothing, and the wake-up is the earliest key. */
static void test_heap_wake(void **state)
{
    (void)state;
    struct world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(fsmCreate(&w.f), 0);
    dueheapInit(&w.h);
    struct spec_buf b;
    static const char *const names[] = {"a", "b", "c"};
    static const char *const crons[] = {"0 * * * * *", "*/10 * * * * *", "0 0 1 1 *"};
    for (int i = 0; i < 3; i++) {
        w.now = T0;
        w.rng = 99;
        randomSpec(&w, &b, "", names[i]);
        b.trigger.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
        b.trigger.cron = (char *)crons[i];
        b.trigger.tz = (char *)"";
        b.trigger.start_us = 0;
        b.trigger.end_us = 0;
        b.spec.policy = NULL;
        void *buf;
        size_t len;
        assert_int_equal(commandEncodeJobPut(&b.spec, 0, false, false, T0, &buf, &len), 0);
        applyOwned(&w, buf, len);
    }
    struct sched_options o = {.now_us = T0 + SEC, .lookahead_us = LOOK};
    struct sched_plan p;
    assert_int_equal(schedPlanHeap(w.f, &o, &w.h, &p), 0);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.next_wake_us, T0 + 10 * SEC - LOOK);
    assert_int_equal(w.h.n, 3);
    assert_int_equal(w.h.rebuilds, 1);
    schedPlanFree(&p);
    /* Due: b fires, and is re-keyed 10 s later without a rebuild. */
    o.now_us = T0 + 10 * SEC - LOOK;
    assert_int_equal(schedPlanHeap(w.f, &o, &w.h, &p), 0);
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.next_wake_us, T0 + 20 * SEC - LOOK);
    for (size_t i = 0; i < p.n_entries; i++) {
        apply(&w, p.entries[i].buf, p.entries[i].len);
    }
    schedPlanFree(&p);
    o.now_us = T0 + 15 * SEC;
    assert_int_equal(schedPlanHeap(w.f, &o, &w.h, &p), 0);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.next_wake_us, T0 + 20 * SEC - LOOK);
    assert_int_equal(w.h.rebuilds, 1);
    schedPlanFree(&p);
    /* A pause moves the generation: rebuilt, without the paused job. */
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPause("", "b", 0, T0 + 15 * SEC, &buf, &len), 0);
    applyOwned(&w, buf, len);
    assert_int_equal(schedPlanHeap(w.f, &o, &w.h, &p), 0);
    assert_int_equal(w.h.rebuilds, 2);
    assert_int_equal(w.h.n, 2);
    assert_int_equal(p.next_wake_us, T0 + MIN - LOOK);
    schedPlanFree(&p);
    /* Invalid arguments leave the heap alone; NULL heap is the full scan. */
    assert_int_equal(schedPlanHeap(NULL, &o, &w.h, &p), RC_EINVAL);
    assert_int_equal(schedPlanHeap(w.f, &o, NULL, &p), 0);
    assert_int_equal(p.next_wake_us, T0 + MIN - LOOK);
    schedPlanFree(&p);
    worldClose(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_order),
        cmocka_unit_test(test_heap_wake),
        cmocka_unit_test(test_heap_matches_full_scan),
        cmocka_unit_test(test_stale_heap_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
