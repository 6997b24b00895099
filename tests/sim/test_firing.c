/*
 * The leader's firing loop on libraft's fixture (DESIGN.md §1, §4, §5): three servers with
 * bridged FSMs, the pure planner (core/sched.h) played by a small driver on whichever server
 * leads, and the fake executor on one virtual clock. Worker k (1..3) lives on server k - 1: a
 * killed server's worker dies with it.
 *
 * The driver, per step: a new leader first completes a barrier; then, with no plan in flight,
 * it plans on its own FSM at its "now" (virtual time plus a settable clock offset) and proposes
 * the whole plan; it dispatches every committed ASSIGNED run of its FSM to the worker's fake
 * executor once the worker's clock reaches start_at, exactly once per (run, fence); workers
 * report RunStarted/RunFinished with the fence through whichever server leads, re-sending
 * while the outcome is unknown. A worker whose server is down for WORKER_TIMEOUT is marked down
 * with WorkerDown by the leader.
 *
 * Checks: one decision per instant (the union of all decision records covers every instant of
 * the checked window exactly once), every FIRED run SUCCEEDED, no (run, attempt) executed
 * twice, fences increasing per run, and equal digests on every replica.
 *
 * RC_SIM_SEED=n reruns the randomized test with seed n (the seed is printed); RC_SIM_FILTER=
 * pattern runs only the matching tests.
 */
#include <raft.h>
#include <raft/fixture.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/policy.h"
#include "core/runs.h"
#include "core/sched.h"
#include "core/trigger.h"
#include "exec/exec.h"
#include "raft/fsm_bridge.h"

#define N_SERVERS      3
#define N_WORKERS      3
#define T0             INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC            INT64_C(1000000)
#define LOOKAHEAD      (100 * 1000)
#define WORKER_TIMEOUT (5 * SEC)
#define MAX_PROPS      65536
#define MAX_EXECS      16384
#define WAIT_MS        60000

struct prop {
    struct raft_apply req;
    bool done;
    int status;
    bool has_result;
    struct rc_fsm_result res;
    int kind;    /* PROP_* */
    size_t exec; /* PROP_STARTED / PROP_FINISHED: the execution reported */
    unsigned server;
    raft_term term;
};

enum { PROP_PLAN = 1, PROP_STARTED, PROP_FINISHED, PROP_ADMIN };

/* One execution: a (run, fence) started on a worker's fake executor. */
struct exec {
    uint64_t run_id;
    uint64_t fence;
    uint32_t attempt;
    uint64_t worker;
    int64_t scheduled_us;
    int64_t start_at_us;
    int64_t started_us;  /* worker's clock */
    bool finished;       /* the fake reported the end */
    bool cancelled;      /* the worker died under it */
    uint32_t state;      /* reported outcome */
    int stage;           /* 0: report started, 1: started committed, 2: finished committed */
    struct prop *report; /* the report in flight */
    struct exec_handle *h;
};

struct sim {
    struct raft_fixture f;
    struct rc_fsm *core[N_SERVERS];
    struct raft_fsm fsm[N_SERVERS];
    struct exec_backend fake;
    struct prop *props;
    size_t n_props;
    struct exec *execs;
    size_t n_execs;
    int64_t clock_offset; /* the leader's clock minus virtual time */
    /* Leader state: */
    unsigned leader;
    raft_term term;
    bool barrier_done;
    struct raft_barrier barrier;
    bool barrier_pending;
    size_t plan_inflight; /* proposals of the current plan not yet answered */
    raft_term plan_term;
    uint64_t planned_at_index;
    int64_t next_wake;
    /* Workers: */
    int64_t server_down_since[N_SERVERS];    /* 0: up */
    struct prop *worker_prop[N_WORKERS + 1]; /* WorkerUp/WorkerDown in flight */
    unsigned worker_downs;                   /* WorkerDown committed */
    bool partitioned[N_SERVERS];
    /* Counters for the assertions: */
    uint64_t dispatched_at_index; /* dispatch rescans when the leader applied more, */
    int64_t dispatch_wake;        /* or when a start_at it waited for has come */
    size_t report_from;           /* executions before it have nothing left to report */
    struct prop *fire_prop;       /* the last FireBatch proposed */
    unsigned plans_proposed;
    unsigned stale_items;
};

static struct sim *current;

static void silentEmit(struct raft_tracer *t, int type, const void *info)
{
    (void)t;
    (void)type;
    (void)info;
}

static struct raft_tracer silent = {.impl = NULL, .version = 2, .emit = silentEmit};

static int64_t virtualNow(struct sim *s)
{
    return T0 + (int64_t)raft_fixture_time(&s->f) * 1000;
}

static int64_t leaderNow(struct sim *s)
{
    return virtualNow(s) + s->clock_offset;
}

static struct sim *simStart(void)
{
    struct sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->props = calloc(MAX_PROPS, sizeof *s->props);
    s->execs = calloc(MAX_EXECS, sizeof *s->execs);
    assert_non_null(s->props);
    assert_non_null(s->execs);
    current = s;
    assert_int_equal(raft_fixture_init(&s->f), 0);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        assert_int_equal(fsmCreate(&s->core[i]), 0);
        assert_int_equal(fsmBridgeInit(&s->fsm[i], s->core[i]), 0);
        assert_int_equal(raft_fixture_grow(&s->f, &s->fsm[i]), 0);
        struct raft *r = raft_fixture_get(&s->f, i);
        fsmBridgeAttach(&s->fsm[i], r);
        if (getenv("RC_SIM_TRACE") == NULL) {
            r->tracer = &silent;
        }
        raft_set_pre_vote(r, true);
        raft_set_snapshot_threshold(r, 256);
        raft_set_snapshot_trailing(r, 64);
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&s->f, N_SERVERS, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&s->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&s->f), 0);
    assert_int_equal(fakeInit(&s->fake, virtualNow(s)), 0);
    s->leader = N_SERVERS;
    s->next_wake = INT64_MIN;
    return s;
}

static void closeDone(struct exec_backend *b)
{
    (void)b;
}

static void simClose(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    execClose(&s->fake, closeDone);
    raft_fixture_close(&s->f);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        fsmBridgeClose(&s->fsm[i]);
        fsmDestroy(s->core[i]);
    }
    free(s->props);
    free(s->execs);
    free(s);
    current = NULL;
}

static int teardown(void **state)
{
    simClose(*state);
    return 0;
}

/* ---- Proposals ------------------------------------------------------------------------------ */

static void propDone(struct raft_apply *req, int status, void *result)
{
    struct prop *p = req->data;
    p->done = true;
    p->status = status;
    if (result != NULL) {
        p->has_result = true;
        p->res = *(const struct rc_fsm_result *)result;
    }
    struct sim *s = current;
    if (p->kind == PROP_PLAN && s->plan_inflight > 0 && p->server == s->leader &&
        p->term == s->term) {
        s->plan_inflight--;
        if (p->has_result && p->res.items_rejected > 0) {
            s->stale_items += p->res.items_rejected;
        }
    }
}

/* Propose buf (borrowed) on server i; NULL when raft refuses at once (not leader). */
static struct prop *propose(struct sim *s, unsigned i, const void *buf, size_t len, int kind)
{
    assert_true(s->n_props < MAX_PROPS);
    struct raft_buffer b;
    assert_int_equal(fsmBridgeEncodeEntry(buf, len, &b), 0);
    struct prop *p = &s->props[s->n_props];
    memset(p, 0, sizeof *p);
    p->req.data = p;
    p->kind = kind;
    p->server = i;
    p->term = s->term;
    if (raft_apply(raft_fixture_get(&s->f, i), &p->req, &b, 1, propDone) != 0) {
        raft_free(b.base);
        return NULL;
    }
    s->n_props++;
    return p;
}

static unsigned findLeader(struct sim *s)
{
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (raft_fixture_alive(&s->f, i) && raft_state(raft_fixture_get(&s->f, i)) == RAFT_LEADER) {
            return i;
        }
    }
    return N_SERVERS;
}

static void barrierDone(struct raft_barrier *req, int status)
{
    struct sim *s = req->data;
    s->barrier_pending = false;
    s->barrier_done = status == 0;
}

/* A new leader (or term) forgets the old plan and completes a barrier first (DESIGN.md §4.1). */
static bool leaderReady(struct sim *s)
{
    unsigned l = findLeader(s);
    if (l == N_SERVERS) {
        return false;
    }
    raft_term t = raft_current_term(raft_fixture_get(&s->f, l));
    if (l != s->leader || t != s->term) {
        s->leader = l;
        s->term = t;
        s->barrier_done = false;
        s->plan_inflight = 0;
        s->next_wake = INT64_MIN;
        memset(s->worker_prop, 0, sizeof s->worker_prop);
        s->dispatched_at_index = 0;
        if (!s->barrier_pending) {
            s->barrier.data = s;
            s->barrier_pending =
                raft_barrier(raft_fixture_get(&s->f, l), &s->barrier, barrierDone) == 0;
        }
    }
    return s->barrier_done;
}

/* ---- The leader's plan ------------------------------------------------------------------- */

static void planAndPropose(struct sim *s)
{
    unsigned l = s->leader;
    uint64_t applied = fsmAppliedIndex(s->core[l]);
    int64_t now = leaderNow(s);
    if (s->plan_inflight > 0 || (applied == s->planned_at_index && now < s->next_wake)) {
        return;
    }
    struct sched_options o = {.now_us = now, .lookahead_us = LOOKAHEAD};
    struct sched_plan p;
    assert_int_equal(schedPlan(s->core[l], &o, &p), 0);
    s->planned_at_index = applied;
    s->next_wake = p.next_wake_us;
    for (size_t i = 0; i < p.n_entries; i++) {
        struct prop *q = propose(s, l, p.entries[i].buf, p.entries[i].len, PROP_PLAN);
        if (q != NULL) {
            s->plan_inflight++;
            s->fire_prop = p.entries[i].run_id == 0 ? q : s->fire_prop;
        }
    }
    s->plans_proposed += p.n_entries > 0;
    schedPlanFree(&p);
}

static void proposeWorker(struct sim *s, uint64_t w, bool up)
{
    void *buf;
    size_t len;
    if (up) {
        Raftcron__Worker wk = RAFTCRON__WORKER__INIT;
        char addr[32];
        snprintf(addr, sizeof addr, "10.0.0.%llu:7000", (unsigned long long)w);
        wk.id = w;
        wk.address = addr;
        wk.capacity = 8;
        assert_int_equal(commandEncodeWorkerUp(&wk, leaderNow(s), &buf, &len), 0);
    } else {
        assert_int_equal(commandEncodeWorkerDown(w, leaderNow(s), &buf, &len), 0);
    }
    s->worker_prop[w] = propose(s, s->leader, buf, len, PROP_ADMIN);
    free(buf);
}

/* Rule (DESIGN.md §5): a worker silent for longer than the timeout is marked down by a
 * committed WorkerDown (its runs become LOST); a worker back says hello (WorkerUp). */
static void trackWorkers(struct sim *s)
{
    for (uint64_t w = 1; w <= N_WORKERS; w++) {
        struct prop *p = s->worker_prop[w];
        if (p != NULL && !p->done) {
            continue;
        }
        if (p != NULL && p->status == 0 && p->has_result && p->res.code == 0 &&
            p->res.runs_moved > 0) {
            s->worker_downs++;
        }
        s->worker_prop[w] = NULL;
        const Raftcron__Worker *wk = fsmWorkerGet(s->core[s->leader], w);
        if (wk == NULL) {
            continue;
        }
        int64_t since = s->server_down_since[w - 1];
        bool down = since != 0 && virtualNow(s) - since >= WORKER_TIMEOUT;
        if (down && wk->alive) {
            proposeWorker(s, w, false);
        } else if (since == 0 && !wk->alive) {
            proposeWorker(s, w, true);
        }
    }
}

/* ---- Workers ------------------------------------------------------------------------------ */

static bool workerAlive(struct sim *s, uint64_t w)
{
    return raft_fixture_alive(&s->f, (unsigned)(w - 1)) && s->server_down_since[w - 1] == 0;
}

static struct exec *findExec(struct sim *s, uint64_t run_id, uint64_t fence)
{
    for (size_t i = s->n_execs; i-- > 0;) {
        if (s->execs[i].run_id == run_id && s->execs[i].fence == fence) {
            return &s->execs[i];
        }
    }
    return NULL;
}

static void execDone(struct exec_handle *h, const struct exec_result *res, void *data)
{
    (void)h;
    struct exec *e = data;
    e->h = NULL;
    e->finished = true;
    e->cancelled = res->cancelled;
    e->state = res->exit_code == 0 ? RC_RUN_SUCCEEDED : RC_RUN_FAILED;
}

/* The leader pushes every committed assignment to its worker, which starts it at start_at;
 * the worker keeps one execution per (run, fence), so a re-sent assignment does not run twice. */
static void dispatch(struct sim *s)
{
    uint64_t applied = fsmAppliedIndex(s->core[s->leader]);
    if (applied == s->dispatched_at_index && virtualNow(s) < s->dispatch_wake) {
        return;
    }
    s->dispatched_at_index = applied;
    s->dispatch_wake = INT64_MAX;
    const Raftcron__Run *runs[256];
    size_t n = fsmRunsSelect(s->core[s->leader], 1u << RC_RUN_ASSIGNED, 0, runs, 256);
    for (size_t i = 0; i < n && i < 256; i++) {
        const Raftcron__Run *r = runs[i];
        if (virtualNow(s) < r->start_at_us) {
            s->dispatch_wake =
                r->start_at_us < s->dispatch_wake ? r->start_at_us : s->dispatch_wake;
            continue;
        }
        if (!workerAlive(s, r->worker_id) || findExec(s, r->id, r->fence) != NULL) {
            continue;
        }
        assert_true(s->n_execs < MAX_EXECS);
        struct exec *e = &s->execs[s->n_execs++];
        memset(e, 0, sizeof *e);
        e->run_id = r->id;
        e->fence = r->fence;
        e->attempt = r->attempt;
        e->worker = r->worker_id;
        e->scheduled_us = r->scheduled_us;
        e->start_at_us = r->start_at_us;
        e->started_us = virtualNow(s);
        struct exec_request req = {.run_id = r->id,
                                   .fence = r->fence,
                                   .attempt = r->attempt,
                                   .job = r->job,
                                   .scheduled_us = r->scheduled_us};
        assert_int_equal(execStart(&s->fake, &req, execDone, e, &e->h), 0);
    }
}

/* Reports go through whichever server leads; an unknown outcome is re-sent (the fence makes a
 * duplicate a no-op). A worker whose server is down reports nothing. */
static void report(struct sim *s)
{
    while (s->report_from < s->n_execs &&
           (s->execs[s->report_from].stage == 2 || s->execs[s->report_from].cancelled)) {
        s->report_from++;
    }
    for (size_t i = s->report_from; i < s->n_execs; i++) {
        struct exec *e = &s->execs[i];
        if (e->stage == 2 || e->cancelled || !workerAlive(s, e->worker)) {
            continue;
        }
        if (e->report != NULL) {
            if (!e->report->done) {
                continue;
            }
            bool known = e->report->status == 0 && e->report->has_result;
            e->report = NULL;
            if (!known) {
                continue; /* re-sent below */
            }
            e->stage++;
            if (e->stage == 2) {
                continue;
            }
        }
        if (e->stage == 1 && !e->finished) {
            continue;
        }
        void *buf;
        size_t len;
        if (e->stage == 0) {
            assert_int_equal(
                commandEncodeRunStarted(e->run_id, e->fence, e->started_us, &buf, &len), 0);
        } else {
            assert_int_equal(commandEncodeRunFinished(e->run_id, e->fence, e->state, NULL,
                                                      virtualNow(s), &buf, &len),
                             0);
        }
        e->report = propose(s, s->leader, buf, len, e->stage == 0 ? PROP_STARTED : PROP_FINISHED);
        free(buf);
    }
}

/* ---- The driver --------------------------------------------------------------------------- */

typedef void (*sim_hook)(struct sim *s, void *arg);

static void tick(struct sim *s, sim_hook hook, void *arg)
{
    fakeAdvance(&s->fake, virtualNow(s));
    if (hook != NULL) {
        hook(s, arg);
    }
    if (leaderReady(s)) {
        trackWorkers(s);
        planAndPropose(s);
        dispatch(s);
        report(s);
    }
    raft_fixture_step(&s->f);
}

static void driveUntil(struct sim *s, int64_t until, sim_hook hook, void *arg)
{
    while (virtualNow(s) < until) {
        tick(s, hook, arg);
    }
}

/* Until every alive server applied the same index and nothing is in flight. */
static void settle(struct sim *s)
{
    for (int k = 0; k < 200000; k++) {
        tick(s, NULL, NULL);
        if (findLeader(s) == N_SERVERS || s->plan_inflight > 0) {
            continue;
        }
        uint64_t idx = fsmAppliedIndex(s->core[s->leader]);
        bool same = true;
        for (unsigned i = 0; i < N_SERVERS; i++) {
            if (raft_fixture_alive(&s->f, i) && !s->partitioned[i]) {
                same = same && fsmAppliedIndex(s->core[i]) == idx;
            }
        }
        if (same && k > 100) {
            return;
        }
    }
    fail_msg("the cluster did not settle");
}

static void waitLeader(struct sim *s)
{
    for (int k = 0; k < 100000 && !leaderReady(s); k++) {
        tick(s, NULL, NULL);
    }
    assert_true(leaderReady(s));
}

/* ---- Setup of a scenario ------------------------------------------------------------------ */

struct job_opts {
    const char *cron;
    int64_t grace;
    bool coalesce;
    uint32_t max_instances;
    uint32_t max_attempts;
};

static void adminCommit(struct sim *s, void *buf, size_t len)
{
    waitLeader(s);
    struct prop *p = propose(s, s->leader, buf, len, PROP_ADMIN);
    free(buf);
    assert_non_null(p);
    for (int k = 0; k < 100000 && !p->done; k++) {
        raft_fixture_step(&s->f);
    }
    assert_true(p->done);
    assert_int_equal(p->status, 0);
    assert_int_equal(p->res.code, 0);
}

static void putJob(struct sim *s, const char *name, const struct job_opts *o)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    Raftcron__RetryPolicy rp = RAFTCRON__RETRY_POLICY__INIT;
    spec.name = (char *)name;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = (char *)o->cron;
    sh.command = (char *)"true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.trigger = &tr;
    spec.executor = &ex;
    pol.misfire_grace_us = o->grace;
    pol.coalesce = o->coalesce;
    pol.max_instances = o->max_instances;
    pol.history_max = 10000; /* the checks read every decision record */
    spec.policy = &pol;
    rp.max_attempts = o->max_attempts;
    spec.retry = &rp;
    void *buf;
    size_t len;
    waitLeader(s);
    assert_int_equal(commandEncodeJobPut(&spec, 0, false, false, leaderNow(s), &buf, &len), 0);
    adminCommit(s, buf, len);
}

static void workersUp(struct sim *s)
{
    for (uint64_t w = 1; w <= N_WORKERS; w++) {
        Raftcron__Worker wk = RAFTCRON__WORKER__INIT;
        char addr[32];
        snprintf(addr, sizeof addr, "10.0.0.%llu:7000", (unsigned long long)w);
        wk.id = w;
        wk.address = addr;
        wk.capacity = 8;
        void *buf;
        size_t len;
        waitLeader(s);
        assert_int_equal(commandEncodeWorkerUp(&wk, leaderNow(s), &buf, &len), 0);
        adminCommit(s, buf, len);
    }
}

/* Pause the job so that the runs in flight can finish without new instants. */
static void pauseJob(struct sim *s, const char *name)
{
    void *buf;
    size_t len;
    waitLeader(s);
    assert_int_equal(commandEncodeJobPause("", name, 0, leaderNow(s), &buf, &len), 0);
    adminCommit(s, buf, len);
}

static struct sim *scenario(const char *name, const struct job_opts *o)
{
    struct sim *s = simStart();
    waitLeader(s);
    workersUp(s);
    putJob(s, name, o);
    return s;
}

/* ---- Checks -------------------------------------------------------------------------------- */

static void assertSameDigests(struct sim *s)
{
    uint64_t d = fsmDigest(s->core[0]);
    for (unsigned i = 1; i < N_SERVERS; i++) {
        if (fsmDigest(s->core[i]) != d) {
            fail_msg("server %u digest differs from server 0's", i);
        }
    }
}

struct tally {
    uint64_t fired, coalesced, missed, skipped;
    uint64_t covered; /* instants covered by all records */
};

/* Every instant of the job in (from, to] has exactly one decision: the records, in id order,
 * are consecutive ranges of the trigger's instants. */
static struct tally checkDecisions(struct sim *s, unsigned server, const char *name,
                                   const char *cron, int64_t from, int64_t to)
{
    const Raftcron__Job *job = fsmJobGet(s->core[server], "", name);
    assert_non_null(job);
    struct rc_trigger t;
    char err[256];
    assert_int_equal(triggerInitCron(&t, cron, "", 0, err, sizeof err), 0);
    size_t n;
    Raftcron__Decision *const *d = fsmJobDecisions(s->core[server], job->id, &n);
    struct tally k = {0};
    int64_t prev = from;
    for (size_t i = 0; i < n; i++) {
        int64_t first;
        assert_int_equal(triggerNext(&t, prev, &first), 0);
        assert_int_equal(d[i]->first_us, first);
        int64_t last = prev;
        assert_int_equal(triggerCount(&t, prev, d[i]->last_us, &last), d[i]->count);
        assert_int_equal(last, d[i]->last_us);
        prev = d[i]->last_us;
        k.covered += d[i]->count;
        switch (d[i]->decision) {
        case RC_DECISION_FIRED:
            k.fired++;
            break;
        case RC_DECISION_COALESCED:
            k.coalesced += d[i]->count;
            break;
        case RC_DECISION_MISSED:
            k.missed += d[i]->count;
            break;
        default:
            k.skipped += d[i]->count;
        }
    }
    int64_t last = from;
    uint64_t want = triggerCount(&t, from, to, &last);
    if (k.covered < want) {
        fail_msg("%llu instants decided, %llu due in the window", (unsigned long long)k.covered,
                 (unsigned long long)want);
    }
    return k;
}

/* No (run, attempt) executed twice; fences strictly increase per run with the attempts. */
static void checkExecutions(struct sim *s)
{
    for (size_t i = 0; i < s->n_execs; i++) {
        for (size_t j = i + 1; j < s->n_execs; j++) {
            const struct exec *a = &s->execs[i];
            const struct exec *b = &s->execs[j];
            if (a->run_id != b->run_id) {
                continue;
            }
            if (a->attempt == b->attempt) {
                fail_msg("run %llu attempt %u executed twice", (unsigned long long)a->run_id,
                         a->attempt);
            }
            assert_true(b->fence > a->fence);
            assert_true(b->attempt > a->attempt);
        }
    }
}

/* Every run of the job is SUCCEEDED, each with exactly one execution of its final attempt. */
static size_t checkAllSucceeded(struct sim *s, unsigned server, const char *name)
{
    const Raftcron__Job *job = fsmJobGet(s->core[server], "", name);
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(s->core[server], job->id, &n);
    for (size_t i = 0; i < n; i++) {
        if (runs[i]->state != RC_RUN_SUCCEEDED) {
            fail_msg("run %llu is %s", (unsigned long long)runs[i]->id,
                     runsStateName(runs[i]->state));
        }
        assert_non_null(findExec(s, runs[i]->id, runs[i]->fence));
    }
    return n;
}

/* ---- Scenarios ---------------------------------------------------------------------------- */

static const struct job_opts every_second = {"* * * * * *", 60 * SEC, true, 0, 1};

static void test_sixty_seconds(void **state)
{
    struct sim *s = scenario("tick", &every_second);
    *state = s;
    int64_t from = fsmJobGet(s->core[s->leader], "", "tick")->cursor_us;
    int64_t end = from - from % SEC + 60 * SEC;
    driveUntil(s, end - LOOKAHEAD + 1, NULL, NULL);
    settle(s);
    struct tally k = checkDecisions(s, 0, "tick", "* * * * * *", from, end);
    assert_int_equal(k.covered, 60);
    assert_int_equal(k.fired, 60);
    assert_int_equal(checkAllSucceeded(s, 0, "tick"), 60);
    assert_int_equal(s->n_execs, 60);
    checkExecutions(s);
    for (size_t i = 0; i < s->n_execs; i++) {
        int64_t late = s->execs[i].started_us - s->execs[i].scheduled_us;
        if (late < 0 || late > LOOKAHEAD + 50000) {
            fail_msg("run %zu started %lld us after its instant", i, (long long)late);
        }
    }
    assertSameDigests(s);
}

struct kill_at {
    int when; /* 0: FireBatch proposed, 1: run PENDING committed, 2: a run executing */
    bool done;
    struct prop *lost_fire; /* when 0: the FireBatch the kill interrupted */
    unsigned killed;
    int64_t killed_at;
};

static void killHook(struct sim *s, void *arg)
{
    struct kill_at *k = arg;
    if (k->done || findLeader(s) == N_SERVERS || !s->barrier_done) {
        return;
    }
    unsigned l = s->leader;
    bool now = false;
    if (k->when == 0) {
        now = s->fire_prop != NULL && !s->fire_prop->done && virtualNow(s) > T0 + 10 * SEC;
        k->lost_fire = s->fire_prop;
    } else if (k->when == 1) {
        now = s->plan_inflight == 0 &&
              fsmRunsSelect(s->core[l], 1u << RC_RUN_PENDING, 0, NULL, 0) > 0 &&
              virtualNow(s) > T0 + 10 * SEC;
    } else {
        for (size_t i = 0; i < s->n_execs; i++) {
            now = now || (!s->execs[i].finished && s->execs[i].worker == l + 1 &&
                          virtualNow(s) > T0 + 10 * SEC);
        }
    }
    if (now) {
        raft_fixture_kill(&s->f, l);
        s->server_down_since[l] = virtualNow(s);
        for (size_t i = 0; i < s->n_execs; i++) {
            if (s->execs[i].worker == l + 1 && s->execs[i].h != NULL) {
                execCancel(s->execs[i].h); /* the worker dies with its server */
            }
        }
        k->done = true;
        k->killed = l;
        k->killed_at = virtualNow(s);
    }
}

static void runKill(void **state, int when)
{
    struct job_opts o = every_second;
    o.max_attempts = 3;
    struct sim *s = scenario("tick", &o);
    *state = s;
    /* Runs last 1.5 s, so a kill finds one executing. */
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 1500 * 1000};
    assert_int_equal(fakeScript(&s->fake, NULL, &sc), 0);
    int64_t from = fsmJobGet(s->core[s->leader], "", "tick")->cursor_us;
    int64_t end = from - from % SEC + 40 * SEC;
    struct kill_at k = {.when = when};
    driveUntil(s, end - LOOKAHEAD + 1, killHook, &k);
    assert_true(k.done);
    pauseJob(s, "tick");
    driveUntil(s, virtualNow(s) + 15 * SEC, NULL, NULL);
    settle(s);
    unsigned ref = (k.killed + 1) % N_SERVERS;
    struct tally t = checkDecisions(s, ref, "tick", "* * * * * *", from, end);
    assert_true(t.covered >= 40);
    checkExecutions(s);
    /* Nothing silently dropped: every FIRED run ended SUCCEEDED (a lost attempt retried). */
    const Raftcron__Job *job = fsmJobGet(s->core[ref], "", "tick");
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(s->core[ref], job->id, &n);
    assert_int_equal(n, t.fired);
    unsigned retried = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(runs[i]->state, RC_RUN_SUCCEEDED);
        retried += runs[i]->attempt == 2;
    }
    if (when == 0) {
        /* The interrupted batch never committed; its instants were decided by the next leader. */
        assert_true(!k.lost_fire->done || k.lost_fire->status != 0);
    }
    if (when == 2) {
        assert_true(retried >= 1); /* the run on the dead worker: LOST, then attempt 2 */
        assert_true(s->worker_downs >= 1);
    }
    /* Revive the old leader: it catches up to the same state. */
    raft_fixture_revive(&s->f, k.killed);
    s->server_down_since[k.killed] = 0;
    settle(s);
    assertSameDigests(s);
}

static void test_kill_before_commit(void **state)
{
    runKill(state, 0);
}

static void test_kill_before_assign(void **state)
{
    runKill(state, 1);
}

static void test_kill_during_run(void **state)
{
    runKill(state, 2);
}

/* The old leader is cut off from both followers and keeps planning on its own: none of its
 * proposals are applied anywhere, and the majority's leader decides every instant once. */
static void test_partitioned_leader(void **state)
{
    struct sim *s = scenario("tick", &every_second);
    *state = s;
    int64_t from = fsmJobGet(s->core[s->leader], "", "tick")->cursor_us;
    driveUntil(s, T0 + 5 * SEC, NULL, NULL);
    unsigned old = s->leader;
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (i != old) {
            raft_fixture_disconnect(&s->f, old, i);
            raft_fixture_disconnect(&s->f, i, old);
        }
    }
    s->partitioned[old] = true;
    /* Plan on the old leader while it still believes it leads. */
    uint64_t idx_before = fsmAppliedIndex(s->core[old]);
    size_t first_stale = s->n_props;
    struct sched_options op = {.now_us = leaderNow(s) + 2 * SEC, .lookahead_us = LOOKAHEAD};
    struct sched_plan p;
    assert_int_equal(schedPlan(s->core[old], &op, &p), 0);
    assert_true(p.n_entries > 0);
    for (size_t i = 0; i < p.n_entries; i++) {
        assert_non_null(propose(s, old, p.entries[i].buf, p.entries[i].len, PROP_ADMIN));
    }
    schedPlanFree(&p);
    size_t last_stale = s->n_props;
    driveUntil(s, T0 + 20 * SEC, NULL, NULL);
    assert_int_not_equal(s->leader, old);
    /* The old leader applied nothing new while cut off. */
    assert_int_equal(fsmAppliedIndex(s->core[old]), idx_before);
    for (size_t i = first_stale; i < last_stale; i++) {
        assert_true(!s->props[i].done || s->props[i].status != 0);
    }
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (i != old) {
            raft_fixture_reconnect(&s->f, old, i);
            raft_fixture_reconnect(&s->f, i, old);
        }
    }
    s->partitioned[old] = false;
    int64_t end = T0 + 20 * SEC;
    settle(s);
    for (size_t i = first_stale; i < last_stale; i++) {
        assert_true(s->props[i].done);
        assert_int_not_equal(s->props[i].status, 0);
    }
    struct tally t = checkDecisions(s, s->leader, "tick", "* * * * * *", from, end);
    assert_true(t.covered >= 15);
    checkExecutions(s);
    assertSameDigests(s);
}

/* An outage (no quorum) of 10 minutes for a per-minute job: with coalesce, one COALESCED range
 * and the latest judged by the grace; without, MISSED beyond the grace and the rest fired or
 * skipped by max_instances. */
static void runOutage(void **state, bool coalesce)
{
    struct job_opts o = {"* * * * *", 5 * 60 * SEC, coalesce, 1, 1};
    struct sim *s = scenario("minutely", &o);
    *state = s;
    int64_t from = fsmJobGet(s->core[s->leader], "", "minutely")->cursor_us;
    int64_t m0 = from - from % (60 * SEC);          /* the minute the job was created in */
    driveUntil(s, m0 + 60 * SEC + SEC, NULL, NULL); /* instant m0+1m fired normally */
    /* Kill two servers: no quorum from m0+1m01s to m0+11m30s. */
    unsigned l = s->leader;
    unsigned a = (l + 1) % N_SERVERS;
    unsigned b = (l + 2) % N_SERVERS;
    raft_fixture_kill(&s->f, a);
    raft_fixture_kill(&s->f, b);
    while (virtualNow(s) < m0 + 11 * 60 * SEC + 30 * SEC) {
        raft_fixture_step(&s->f);
        fakeAdvance(&s->fake, virtualNow(s));
    }
    raft_fixture_revive(&s->f, a);
    raft_fixture_revive(&s->f, b);
    /* The same leader may stay: force a plan when quorum is back. */
    s->leader = N_SERVERS;
    driveUntil(s, m0 + 11 * 60 * SEC + 50 * SEC, NULL, NULL);
    settle(s);
    struct tally t = checkDecisions(s, 0, "minutely", "* * * * *", from, m0 + 11 * 60 * SEC);
    const Raftcron__Job *job = fsmJobGet(s->core[0], "", "minutely");
    size_t n;
    Raftcron__Decision *const *d = fsmJobDecisions(s->core[0], job->id, &n);
    assert_int_equal(t.covered, 11);
    assert_int_equal(d[0]->decision, RC_DECISION_FIRED); /* m0+1m, on time */
    /* Instants m0+2m .. m0+11m were due in the outage; the decision is taken at about
     * m0+11m30s + election time (< 20 s). */
    if (coalesce) {
        assert_int_equal(n, 3);
        assert_int_equal(d[1]->decision, RC_DECISION_COALESCED);
        assert_int_equal(d[1]->count, 9);
        assert_int_equal(d[1]->first_us, m0 + 2 * 60 * SEC);
        assert_int_equal(d[2]->decision, RC_DECISION_FIRED); /* 11m, < 5 min late */
        assert_int_equal(d[2]->first_us, m0 + 11 * 60 * SEC);
        assert_int_equal(t.coalesced, 9);
        assert_int_equal(t.fired, 2);
    } else {
        /* now - grace is about m0+6m30s+: m0+2m .. m0+6m MISSED (5), m0+7m FIRED, then
         * m0+8m .. m0+11m SKIPPED (max instances 1; the 7m run is active). */
        assert_int_equal(n, 4);
        assert_int_equal(d[1]->decision, RC_DECISION_MISSED);
        assert_int_equal(d[1]->reason, RC_REASON_MISFIRE_GRACE);
        assert_int_equal(d[1]->count, 5);
        assert_int_equal(d[2]->decision, RC_DECISION_FIRED);
        assert_int_equal(d[2]->first_us, m0 + 7 * 60 * SEC);
        assert_int_equal(d[3]->decision, RC_DECISION_SKIPPED);
        assert_int_equal(d[3]->count, 4);
        assert_int_equal(t.missed, 5);
        assert_int_equal(t.skipped, 4);
    }
    checkExecutions(s);
    assertSameDigests(s);
}

static void test_outage_coalesce(void **state)
{
    runOutage(state, true);
}

static void test_outage_no_coalesce(void **state)
{
    runOutage(state, false);
}

/* The leader's clock steps back 30 s, then forward 30 s: instants already decided are never
 * decided again; the ones skipped over by the forward step are judged late, not dropped. */
static void test_clock_steps(void **state)
{
    struct job_opts o = every_second;
    o.coalesce = false;
    o.max_instances = 100;
    struct sim *s = scenario("tick", &o);
    *state = s;
    int64_t from = fsmJobGet(s->core[s->leader], "", "tick")->cursor_us;
    driveUntil(s, T0 + 20 * SEC, NULL, NULL);
    s->clock_offset = -30 * SEC;
    s->next_wake = INT64_MIN;
    driveUntil(s, T0 + 40 * SEC, NULL, NULL);
    s->clock_offset = 30 * SEC;
    s->next_wake = INT64_MIN;
    driveUntil(s, T0 + 50 * SEC, NULL, NULL);
    s->clock_offset = 0;
    s->next_wake = INT64_MIN;
    driveUntil(s, T0 + 90 * SEC, NULL, NULL);
    settle(s);
    struct tally t = checkDecisions(s, 0, "tick", "* * * * * *", from, T0 + 80 * SEC);
    assert_true(t.covered >= 80);
    assert_int_equal(t.fired, t.covered); /* grace 60 s covers a 30 s step */
    checkExecutions(s);
    assertSameDigests(s);
}

/* ---- Randomized --------------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct chaos {
    uint64_t rng;
    int64_t next_event;
    unsigned kills, partitions, steps;
};

static void chaosHook(struct sim *s, void *arg)
{
    struct chaos *c = arg;
    if (virtualNow(s) < c->next_event) {
        return;
    }
    c->next_event = virtualNow(s) + (int64_t)(rnd(&c->rng) % 20 + 5) * SEC;
    unsigned victim = (unsigned)(rnd(&c->rng) % N_SERVERS);
    /* Heal everything first: at most one fault at a time keeps a majority. */
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (!raft_fixture_alive(&s->f, i)) {
            raft_fixture_revive(&s->f, i);
            s->server_down_since[i] = 0;
        }
        if (s->partitioned[i]) {
            for (unsigned j = 0; j < N_SERVERS; j++) {
                if (j != i) {
                    raft_fixture_reconnect(&s->f, i, j);
                    raft_fixture_reconnect(&s->f, j, i);
                }
            }
            s->partitioned[i] = false;
        }
    }
    switch (rnd(&c->rng) % 4) {
    case 0:
        raft_fixture_kill(&s->f, victim);
        s->server_down_since[victim] = virtualNow(s);
        for (size_t i = 0; i < s->n_execs; i++) {
            if (s->execs[i].worker == victim + 1 && s->execs[i].h != NULL) {
                execCancel(s->execs[i].h);
            }
        }
        c->kills++;
        break;
    case 1:
        for (unsigned j = 0; j < N_SERVERS; j++) {
            if (j != victim) {
                raft_fixture_disconnect(&s->f, victim, j);
                raft_fixture_disconnect(&s->f, j, victim);
            }
        }
        s->partitioned[victim] = true;
        c->partitions++;
        break;
    case 2:
        s->clock_offset = (int64_t)(rnd(&c->rng) % 40) * SEC - 20 * SEC;
        s->next_wake = INT64_MIN;
        c->steps++;
        break;
    default:
        break;
    }
}

static void test_randomized(void **state)
{
    uint64_t seed = 1;
    const char *env = getenv("RC_SIM_SEED");
    if (env != NULL) {
        seed = strtoull(env, NULL, 10);
    }
    printf("test_randomized: seed %llu (RC_SIM_SEED=%llu reproduces)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    struct job_opts o = {"*/5 * * * * *", 60 * SEC, true, 4, 3};
    struct sim *s = scenario("chaos", &o);
    *state = s;
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 2 * SEC};
    assert_int_equal(fakeScript(&s->fake, NULL, &sc), 0);
    int64_t from = fsmJobGet(s->core[s->leader], "", "chaos")->cursor_us;
    struct chaos c = {.rng = seed, .next_event = T0 + 10 * SEC};
    int64_t end = T0 + 2000 * SEC;
    driveUntil(s, end, chaosHook, &c);
    pauseJob(s, "chaos");
    /* Heal, restore the clock, and let everything finish. */
    c.next_event = INT64_MAX;
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (!raft_fixture_alive(&s->f, i)) {
            raft_fixture_revive(&s->f, i);
        }
        s->server_down_since[i] = 0;
        for (unsigned j = 0; j < N_SERVERS; j++) {
            if (j != i) {
                raft_fixture_reconnect(&s->f, i, j);
            }
        }
        s->partitioned[i] = false;
    }
    s->clock_offset = 0;
    s->next_wake = INT64_MIN;
    driveUntil(s, end + 120 * SEC, NULL, NULL);
    settle(s);
    printf("test_randomized: %u kills, %u partitions, %u clock steps, %zu executions, %zu "
           "proposals, %u plans, %u stale items\n",
           c.kills, c.partitions, c.steps, s->n_execs, s->n_props, s->plans_proposed,
           s->stale_items);
    /* The leader's clock may lag by 20 s and a leaderless spell may precede the pause: every
     * instant up to a minute before it must be decided. */
    struct tally t = checkDecisions(s, 0, "chaos", "*/5 * * * * *", from, end - 60 * SEC);
    assert_true(t.covered >= 388);
    printf("test_randomized: %llu instants decided: %llu fired, %llu coalesced, %llu missed, "
           "%llu skipped\n",
           (unsigned long long)t.covered, (unsigned long long)t.fired,
           (unsigned long long)t.coalesced, (unsigned long long)t.missed,
           (unsigned long long)t.skipped);
    checkExecutions(s);
    /* Nothing silently dropped: every run finished (succeeded, or dead after its retries). */
    const Raftcron__Job *job = fsmJobGet(s->core[0], "", "chaos");
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(s->core[0], job->id, &n);
    for (size_t i = 0; i < n; i++) {
        if (!runsStateFinished(runs[i]->state)) {
            fail_msg("run %llu left %s", (unsigned long long)runs[i]->id,
                     runsStateName(runs[i]->state));
        }
    }
    assertSameDigests(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sixty_seconds, teardown),
        cmocka_unit_test_teardown(test_kill_before_commit, teardown),
        cmocka_unit_test_teardown(test_kill_before_assign, teardown),
        cmocka_unit_test_teardown(test_kill_during_run, teardown),
        cmocka_unit_test_teardown(test_partitioned_leader, teardown),
        cmocka_unit_test_teardown(test_outage_coalesce, teardown),
        cmocka_unit_test_teardown(test_outage_no_coalesce, teardown),
        cmocka_unit_test_teardown(test_clock_steps, teardown),
        cmocka_unit_test_teardown(test_randomized, teardown),
    };
    if (getenv("RC_SIM_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("RC_SIM_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
