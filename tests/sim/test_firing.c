/*
 * Firing, dispatch and execution on the simulated cluster (sim_cluster.h): the leader loop,
 * the dispatcher and the worker that ship, on libraft's fixture with one virtual clock and
 * fake executors, through kills, partitions, silent workers and clock steps (DESIGN.md §1, §4,
 * §5).
 *
 * Checks, in every scenario: one decision per instant (the decision records of the checked
 * window are consecutive ranges of the trigger's instants), no (run, attempt) executed twice,
 * fences increasing with the attempts of a run, every run finished as the scenario says, and
 * equal digests on every replica.
 *
 * RC_SIM_SEEDS=a,b,c runs the randomized test with those seeds (default: three fixed ones;
 * each seed is printed); RC_SIM_FILTER=pattern runs only the matching tests.
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
#include "core/err.h"
#include "core/fsm.h"
#include "core/policy.h"
#include "core/runs.h"
#include "core/trigger.h"
#include "sim_cluster.h"

#define SEC SIM_SEC

static int teardown(void **state)
{
    simClose(*state);
    return 0;
}

/* ---- Jobs ---------------------------------------------------------------------------------------
 */

struct job_opts {
    const char *cron;
    int64_t grace;
    bool coalesce;
    uint32_t max_instances;
    uint32_t max_attempts;
    bool noop;
};

static void encodeJob(const char *name, const struct job_opts *o, int64_t now, void **buf,
                      size_t *len)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    Raftcron__NoopExec noop = RAFTCRON__NOOP_EXEC__INIT;
    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    Raftcron__RetryPolicy rp = RAFTCRON__RETRY_POLICY__INIT;
    spec.name = (char *)name;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = (char *)o->cron;
    if (o->noop) {
        ex.kind_case = RAFTCRON__EXECUTOR__KIND_NOOP;
        ex.noop = &noop;
    } else {
        sh.command = (char *)"true";
        ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
        ex.shell = &sh;
    }
    spec.trigger = &tr;
    spec.executor = &ex;
    pol.misfire_grace_us = o->grace;
    pol.coalesce = o->coalesce;
    pol.max_instances = o->max_instances;
    pol.history_max = 10000; /* the checks read every decision record */
    spec.policy = &pol;
    rp.max_attempts = o->max_attempts;
    spec.retry = &rp;
    assert_int_equal(commandEncodeJobPut(&spec, 0, false, false, now, buf, len), 0);
}

static void putJob(struct sim *s, const char *name, const struct job_opts *o)
{
    unsigned l = simWaitLeader(s);
    void *buf;
    size_t len;
    encodeJob(name, o, simWall(s, l), &buf, &len);
    struct rc_fsm_result res = simCommit(s, buf, len);
    assert_int_equal(res.code, 0);
}

static void pauseJob(struct sim *s, const char *name)
{
    unsigned l = simWaitLeader(s);
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPause("", name, 0, simWall(s, l), &buf, &len), 0);
    assert_int_equal(simCommit(s, buf, len).code, 0);
}

static struct rc_fsm *fsmOn(struct sim *s, unsigned i)
{
    return s->s[i].core;
}

static int64_t cursorOf(struct sim *s, unsigned i, const char *name)
{
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, i), "", name);
    assert_non_null(job);
    return job->cursor_us;
}

/* ---- Checks
 * -------------------------------------------------------------------------------------- */

static void assertSameDigests(struct sim *s)
{
    uint64_t d = fsmDigest(fsmOn(s, 0));
    for (unsigned i = 1; i < s->n; i++) {
        if (fsmDigest(fsmOn(s, i)) != d) {
            fail_msg("server %u's digest differs from server 0's", i);
        }
    }
}

struct tally {
    uint64_t fired, coalesced, missed, skipped;
    uint64_t covered; /* instants covered by all records */
};

/* Every instant of the job in (from, to] has exactly one decision: the records, in id order,
 * are consecutive ranges of the trigger's instants from `from` on. The tally counts the
 * records that begin by `to`. */
static struct tally checkDecisions(struct sim *s, unsigned server, const char *name,
                                   const char *cron, int64_t from, int64_t to)
{
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, server), "", name);
    assert_non_null(job);
    struct rc_trigger t;
    char err[256];
    assert_int_equal(triggerInitCron(&t, cron, "", 0, err, sizeof err), 0);
    size_t n;
    Raftcron__Decision *const *d = fsmJobDecisions(fsmOn(s, server), job->id, &n);
    struct tally k = {0};
    int64_t prev = from;
    for (size_t i = 0; i < n; i++) {
        int64_t first;
        assert_int_equal(triggerNext(&t, prev, &first), 0);
        if (d[i]->first_us != first) {
            fail_msg("decision %zu starts at %lld, the next instant is %lld", i,
                     (long long)d[i]->first_us, (long long)first);
        }
        int64_t last = prev;
        assert_int_equal(triggerCount(&t, prev, d[i]->last_us, &last), d[i]->count);
        assert_int_equal(last, d[i]->last_us);
        prev = d[i]->last_us;
        if (d[i]->first_us > to) {
            continue; /* checked for order, not counted */
        }
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

/* No (run, attempt) executed twice; fences strictly increase with the attempts of a run. */
static void checkExecutions(struct sim *s)
{
    for (size_t i = 0; i < s->n_execs; i++) {
        for (size_t j = i + 1; j < s->n_execs; j++) {
            const struct sim_exec *a = &s->execs[i];
            const struct sim_exec *b = &s->execs[j];
            if (a->run_id != b->run_id) {
                continue;
            }
            if (a->attempt == b->attempt) {
                fail_msg("run %llu attempt %u executed twice (workers %llu and %llu)",
                         (unsigned long long)a->run_id, a->attempt, (unsigned long long)a->worker,
                         (unsigned long long)b->worker);
            }
            assert_true(b->fence > a->fence);
            assert_true(b->attempt > a->attempt);
        }
    }
}

/* Every run of the job is SUCCEEDED, with an execution of its final attempt's fence. */
static size_t checkAllSucceeded(struct sim *s, unsigned server, const char *name)
{
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, server), "", name);
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(fsmOn(s, server), job->id, &n);
    for (size_t i = 0; i < n; i++) {
        if (runs[i]->state != RC_RUN_SUCCEEDED) {
            fail_msg("run %llu is %s (%s)", (unsigned long long)runs[i]->id,
                     runsStateName(runs[i]->state), runs[i]->end_reason);
        }
        assert_non_null(simFindExec(s, runs[i]->id, runs[i]->fence));
    }
    return n;
}

/* ---- Steady state ---------------------------------------------------------------------------- */

static const struct job_opts every_second = {"* * * * * *", 60 * SEC, true, 0, 1, false};

/* A minute of a per-second job: every instant fired, every run started on its instant to the
 * microsecond (the claim, the push, the acceptance and its push all happen within the
 * lookahead), on all three workers. */
static void test_sixty_seconds(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    putJob(s, "tick", &every_second);
    unsigned l = simLeader(s);
    int64_t from = cursorOf(s, l, "tick");
    int64_t end = from - from % SEC + 60 * SEC;
    simRunUntil(s, end + SEC / 2, NULL, NULL);
    pauseJob(s, "tick");
    simRunUntil(s, simNow(s) + 3 * SEC, NULL, NULL);
    simSettle(s);
    struct tally k = checkDecisions(s, 0, "tick", "* * * * * *", from, end);
    assert_int_equal(k.covered, 60);
    assert_int_equal(k.fired, 60);
    size_t runs = checkAllSucceeded(s, 0, "tick");
    assert_true(runs >= 60);
    assert_int_equal(s->n_execs, runs);
    checkExecutions(s);
    unsigned per_worker[SIM_MAX_SERVERS + 1] = {0};
    for (size_t i = 0; i < s->n_execs; i++) {
        int64_t late = s->execs[i].started_us - s->execs[i].scheduled_us;
        if (late != 0) {
            fail_msg("run %llu started %lld us after its instant",
                     (unsigned long long)s->execs[i].run_id, (long long)late);
        }
        per_worker[s->execs[i].worker]++;
    }
    for (unsigned w = 1; w <= 3; w++) {
        assert_true(per_worker[w] >= 10); /* spread by load */
    }
    assertSameDigests(s);
}

/* 10,000 jobs due at the same instant (the top of the minute): every one starts, within the
 * lookahead of the adaptive loop. */
static void test_ten_thousand_same_second(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = {"0 * * * * *", 60 * SEC, true, 0, 1, true};
    enum { N = 10000, PER_ENTRY = 500 };
    for (int batch = 0; batch < N / PER_ENTRY; batch++) {
        unsigned l = simWaitLeader(s);
        struct command_batch b;
        commandBatchInit(&b);
        for (int k = 0; k < PER_ENTRY; k++) {
            char name[16];
            snprintf(name, sizeof name, "j%05d", batch * PER_ENTRY + k);
            void *buf;
            size_t len;
            encodeJob(name, &o, simWall(s, l), &buf, &len);
            assert_int_equal(commandBatchAdd(&b, buf, len), 0);
            free(buf);
        }
        void *buf;
        size_t len;
        assert_int_equal(commandBatchFinish(&b, &buf, &len), 0);
        commandBatchClose(&b);
        struct rc_fsm_result res = simCommit(s, buf, len);
        assert_int_equal(res.items_applied, PER_ENTRY);
    }
    assert_int_equal(fsmJobCount(fsmOn(s, 0)), N);
    int64_t top = simNow(s) - simNow(s) % (60 * SEC) + 60 * SEC;
    simRunUntil(s, top + 2 * SEC, NULL, NULL);
    size_t started = 0;
    int64_t late_max = 0;
    unsigned per_worker[SIM_MAX_SERVERS + 1] = {0};
    for (size_t i = 0; i < s->n_execs; i++) {
        if (s->execs[i].scheduled_us != top) {
            continue;
        }
        started++;
        int64_t late = s->execs[i].started_us - top;
        assert_true(late >= 0);
        late_max = late > late_max ? late : late_max;
        per_worker[s->execs[i].worker]++;
    }
    printf("ten thousand at the top of the minute: %zu started, latest %lld us late, per worker "
           "%u/%u/%u\n",
           started, (long long)late_max, per_worker[1], per_worker[2], per_worker[3]);
    assert_int_equal(started, N);
    assert_true(late_max <= SIM_LOOKAHEAD);
    checkExecutions(s);
}

/* ---- Workers that go away ------------------------------------------------------------------- */

/* Whether the leader holds a run assigned to server i's worker that it has not accepted yet. */
static bool unacceptedOn(struct sim *s, unsigned i)
{
    unsigned l = simLeader(s);
    if (l == s->n) {
        return false;
    }
    const Raftcron__Run *runs[64];
    size_t n = fsmRunsSelect(fsmOn(s, l), 1u << RC_RUN_ASSIGNED, i + 1, runs, 64);
    for (size_t k = 0; k < n && k < 64; k++) {
        if (runs[k]->accepted_us == 0) {
            return true;
        }
    }
    return false;
}

struct hang_at {
    unsigned victim;
    bool done;
    int64_t at;
};

/* Hang the victim's worker the moment an assignment to it waits for its acknowledgement. */
static void hangHook(struct sim *s, void *arg)
{
    struct hang_at *h = arg;
    if (h->done || !unacceptedOn(s, h->victim)) {
        return;
    }
    for (unsigned j = 0; j < s->n; j++) {
        if (j != h->victim) {
            s->cut[h->victim][j] = s->cut[j][h->victim] = true; /* Raft itself still flows */
        }
    }
    h->done = true;
    h->at = simNow(s);
}

/* A worker process hangs (alive for Raft, silent to the leader: its messages are lost) while
 * an assignment to it waits for its acknowledgement. That run is given to another worker
 * under a new fence once the ack timeout passes — the same attempt, no dead letter — and once
 * the hung session is silent for the live window the worker is given nothing more. */
static void test_silent_worker_reassigned(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = every_second;
    o.max_instances = 4;
    putJob(s, "tick", &o);
    unsigned l = simLeader(s);
    struct hang_at h = {.victim = (l + 1) % s->n};
    int64_t from = cursorOf(s, l, "tick");
    simRunUntil(s, simNow(s) + 3 * SEC, NULL, NULL);
    while (!h.done && simNow(s) < from + 60 * SEC) {
        simRunUntil(s, simNow(s) + SEC / 10, hangHook, &h);
    }
    assert_true(h.done);
    simRunUntil(s, h.at + 20 * SEC, NULL, NULL);
    for (unsigned j = 0; j < s->n; j++) {
        s->cut[h.victim][j] = s->cut[j][h.victim] = false;
    }
    pauseJob(s, "tick");
    simSettle(s);
    checkDecisions(s, 0, "tick", "* * * * * *", from, h.at + 19 * SEC);
    checkAllSucceeded(s, 0, "tick");
    checkExecutions(s);
    size_t reassigned = 0;
    for (size_t i = 0; i < s->n_execs; i++) {
        const struct sim_exec *e = &s->execs[i];
        assert_int_equal(e->attempt, 1); /* a reassignment is not an attempt */
        if (e->started_virtual > h.at && e->started_virtual < h.at + 20 * SEC) {
            assert_int_not_equal(e->worker, h.victim + 1);
        }
        int64_t late = e->started_us - e->scheduled_us;
        if (late > 0) {
            /* Given to another worker after the ack timeout (plus its commits and pushes). */
            if (late > DISPATCH_ACK_TIMEOUT_US + 300 * 1000) {
                fail_msg("run %llu started %lld ms late", (unsigned long long)e->run_id,
                         (long long)late / 1000);
            }
            reassigned++;
        }
    }
    printf("silent worker: %zu runs reassigned after the ack timeout\n", reassigned);
    assert_true(reassigned >= 1);
    /* After the live window, nothing more was even placed on it. */
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, 0), "", "tick");
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(fsmOn(s, 0), job->id, &n);
    for (size_t i = 0; i < n; i++) {
        bool later = runs[i]->fired_us > h.at + 2 * SEC && runs[i]->fired_us < h.at + 19 * SEC;
        if (later && runs[i]->worker_id == h.victim + 1) {
            fail_msg("run %llu fired %lld ms after the hang was placed on the silent worker",
                     (unsigned long long)runs[i]->id, (long long)(runs[i]->fired_us - h.at) / 1000);
        }
    }
    assertSameDigests(s);
}

struct kill_at {
    int64_t at;
    bool leader;     /* kill the leader, else a follower */
    bool running;    /* only while the victim executes a run */
    bool unaccepted; /* only while an assignment to the victim waits for its acceptance */
    bool done;
    unsigned killed;
    int64_t killed_at;
};

static bool executing(struct sim *s, unsigned i)
{
    for (size_t k = 0; k < s->n_execs; k++) {
        if (s->execs[k].worker == i + 1 && !s->execs[k].finished && !s->execs[k].killed) {
            return true;
        }
    }
    return false;
}

static void killHook(struct sim *s, void *arg)
{
    struct kill_at *k = arg;
    unsigned l = simLeader(s);
    if (k->done || simNow(s) < k->at || l == s->n) {
        return;
    }
    unsigned victim = k->leader ? l : (l + 1) % s->n;
    if ((k->running && !executing(s, victim)) || (k->unaccepted && !unacceptedOn(s, victim))) {
        return;
    }
    k->killed = victim;
    k->killed_at = simNow(s);
    simKill(s, victim);
    k->done = true;
}

static void runUntilKilled(struct sim *s, struct kill_at *k)
{
    while (!k->done && simNow(s) < k->at + 60 * SEC) {
        simRunUntil(s, simNow(s) + SEC / 10, killHook, k);
    }
    assert_true(k->done);
}

static bool leaderOtherThan(struct sim *s, void *arg)
{
    unsigned l = simLeader(s);
    return l < s->n && l != *(unsigned *)arg;
}

/* The leader is killed while runs execute on its worker: a new leader is elected, places
 * nothing on the dead node, the next instants start on the survivors within a couple of
 * seconds, and the runs that died with it are LOST and retried (not dead letters). */
static void test_leader_killed(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = every_second;
    o.max_instances = 4;
    o.max_attempts = 3;
    putJob(s, "tick", &o);
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 1500 * 1000};
    simScriptAll(s, NULL, &sc);
    unsigned l0 = simLeader(s);
    int64_t from = cursorOf(s, l0, "tick");
    struct kill_at k = {.at = simNow(s) + 10 * SEC, .leader = true, .running = true};
    runUntilKilled(s, &k);
    assert_true(simRunUntilTrue(s, simNow(s) + 10 * SEC, leaderOtherThan, &k.killed));
    int64_t active_at = simNow(s);
    simScriptAll(s, NULL, &sc);
    simRunUntil(s, k.killed_at + 20 * SEC, NULL, NULL);
    pauseJob(s, "tick");
    simRevive(s, k.killed);
    simSettle(s);
    unsigned ref = (k.killed + 1) % s->n;
    checkDecisions(s, ref, "tick", "* * * * * *", from, k.killed_at + 19 * SEC);
    checkExecutions(s);
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, ref), "", "tick");
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(fsmOn(s, ref), job->id, &n);
    size_t retried = 0;
    for (size_t i = 0; i < n; i++) {
        const Raftcron__Run *r = runs[i];
        if (r->state != RC_RUN_SUCCEEDED) {
            fail_msg("run %llu is %s (%s)", (unsigned long long)r->id, runsStateName(r->state),
                     r->end_reason);
        }
        retried += r->attempt > 1;
        if (r->fired_us >= active_at && r->fired_us < k.killed_at + 19 * SEC) {
            /* The new leader placed nothing on the dead node. */
            if (r->worker_id == k.killed + 1 && r->attempt == 1) {
                fail_msg("run %llu fired at %lld was placed on the dead node",
                         (unsigned long long)r->id, (long long)r->fired_us);
            }
        }
    }
    int64_t first_after = INT64_MAX;
    for (size_t i = 0; i < s->n_execs; i++) {
        if (s->execs[i].started_virtual > k.killed_at && s->execs[i].attempt == 1) {
            first_after = s->execs[i].started_virtual < first_after ? s->execs[i].started_virtual
                                                                    : first_after;
        }
    }
    printf("leader killed: new leader active %lld ms later, first run %lld ms after the kill, "
           "%zu runs retried\n",
           (long long)(active_at - k.killed_at) / 1000,
           (long long)(first_after - k.killed_at) / 1000, retried);
    assert_true(first_after - k.killed_at <= 2 * SEC);
    assert_true(retried >= 1); /* the runs that were executing on the dead node */
    assertSameDigests(s);
}

/* A follower is killed with runs assigned, accepted and running on it: what it never accepted
 * goes elsewhere (same attempt), what it accepted or ran is LOST after the worker timeout and
 * retried; nothing is executed twice, nothing ends a dead letter. */
static void test_follower_killed(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = every_second;
    o.max_instances = 8;
    o.max_attempts = 3;
    putJob(s, "tick", &o);
    /* Runs outlast the three workers' turns: the victim runs some when it is given another. */
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 4500 * 1000};
    simScriptAll(s, NULL, &sc);
    int64_t from = cursorOf(s, simLeader(s), "tick");
    /* A slow link to the victim: an assignment pushed to it is unacknowledged for 60 ms. */
    unsigned victim = (simLeader(s) + 1) % s->n;
    s->link_latency_us[victim] = 30 * 1000;
    /* While an assignment to it waits for its acceptance, and runs execute there. */
    struct kill_at k = {
        .at = simNow(s) + 10 * SEC, .leader = false, .running = true, .unaccepted = true};
    runUntilKilled(s, &k);
    simRunUntil(s, k.killed_at + 15 * SEC, NULL, NULL);
    pauseJob(s, "tick");
    s->link_latency_us[victim] = SIM_LATENCY_US;
    simRevive(s, k.killed);
    simScriptAll(s, NULL, &sc);
    simRunUntil(s, simNow(s) + 10 * SEC, NULL, NULL);
    simSettle(s);
    checkDecisions(s, 0, "tick", "* * * * * *", from, k.killed_at + 14 * SEC);
    checkExecutions(s);
    assert_true(checkAllSucceeded(s, 0, "tick") >= 20);
    size_t moved = 0, retried = 0;
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, 0), "", "tick");
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(fsmOn(s, 0), job->id, &n);
    for (size_t i = 0; i < n; i++) {
        retried += runs[i]->attempt > 1;
        /* Given to another worker (a later fence, the same attempt) after the kill. */
        const struct sim_exec *e = simFindExec(s, runs[i]->id, runs[i]->fence);
        moved += runs[i]->attempt == 1 && e != NULL &&
                 e->started_us > runs[i]->scheduled_us + DISPATCH_ACK_TIMEOUT_US / 2;
    }
    printf("follower killed: %zu runs given to another worker, %zu retried after LOST\n", moved,
           retried);
    assert_true(moved >= 1);   /* the assignment it never accepted */
    assert_true(retried >= 1); /* what it was running */
    assertSameDigests(s);
}

/* ---- Leadership and clocks ------------------------------------------------------------------ */

/* The old leader is cut off from both followers and keeps planning on its own: nothing it
 * proposes is applied anywhere, the majority's leader decides every instant once. */
static void test_partitioned_leader(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    putJob(s, "tick", &every_second);
    unsigned old = simLeader(s);
    int64_t from = cursorOf(s, old, "tick");
    simRunUntil(s, simNow(s) + 5 * SEC, NULL, NULL);
    uint64_t idx_before = fsmAppliedIndex(fsmOn(s, old));
    simCut(s, old);
    simRunUntil(s, simNow(s) + 15 * SEC, NULL, NULL);
    unsigned now_leader = simLeader(s);
    assert_true(now_leader < s->n && now_leader != old);
    assert_int_equal(fsmAppliedIndex(fsmOn(s, old)), idx_before);
    int64_t end = simNow(s);
    simHeal(s, old);
    simSettle(s);
    struct tally t = checkDecisions(s, now_leader, "tick", "* * * * * *", from, end - 2 * SEC);
    assert_true(t.covered >= 15);
    checkExecutions(s);
    assertSameDigests(s);
}

/* Reports stay in order across a step-down. A leader's own worker has a run's "started" in
 * the group commit in flight and its "finished" waiting for the next one when the leader is
 * cut off: on stepping down, the older batch fails first, then the newer. Both go back to the
 * worker's queue and to the next leader — in the order they were made: the other order made
 * the new leader refuse the finish (the run not yet RUNNING), commit the start, and leave the
 * run RUNNING for good (found by the Jepsen suite). Short runs and 20 jobs a second put runs on
 * every worker, the leader's own included, with reports in flight at every cut. */
static void test_reports_in_order_across_step_down(void **state)
{
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = {"* * * * * *", 60 * SEC, true, 4, 1, false};
    char name[16];
    for (int k = 0; k < 20; k++) {
        snprintf(name, sizeof name, "r%02d", k);
        putJob(s, name, &o);
    }
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 1000};
    simScriptAll(s, NULL, &sc);
    for (int round = 0; round < 6; round++) {
        simRunUntil(s, simNow(s) + 3 * SEC + round * 137 * 1000, NULL, NULL);
        unsigned leader = simLeader(s);
        assert_true(leader < s->n);
        simCut(s, leader);
        simRunUntil(s, simNow(s) + 4 * SEC, NULL, NULL);
        simHeal(s, leader);
        simScriptAll(s, NULL, &sc);
    }
    for (int k = 0; k < 20; k++) {
        snprintf(name, sizeof name, "r%02d", k);
        pauseJob(s, name);
    }
    simRunUntil(s, simNow(s) + 30 * SEC, NULL, NULL);
    simSettle(s);
    checkExecutions(s);
    unsigned l = simLeader(s);
    size_t total = 0;
    for (int k = 0; k < 20; k++) {
        snprintf(name, sizeof name, "r%02d", k);
        const Raftcron__Job *job = fsmJobGet(fsmOn(s, l), "", name);
        size_t n;
        Raftcron__Run *const *runs = fsmJobRuns(fsmOn(s, l), job->id, &n);
        for (size_t i = 0; i < n; i++) {
            if (!runsStateFinished(runs[i]->state)) {
                fail_msg("%s run %llu left %s (worker %llu)", name, (unsigned long long)runs[i]->id,
                         runsStateName(runs[i]->state), (unsigned long long)runs[i]->worker_id);
            }
        }
        total += n;
    }
    printf("reports in order: %zu runs over 6 cut leaders, all finished\n", total);
    assertSameDigests(s);
}

/* An outage (no quorum) of 10 minutes for a per-minute job: with coalesce, one COALESCED range
 * and the latest judged by the grace; without, MISSED beyond the grace and the rest fired or
 * skipped by max_instances. */
static void runOutage(void **state, bool coalesce)
{
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = {"* * * * *", 5 * 60 * SEC, coalesce, 1, 1, false};
    putJob(s, "minutely", &o);
    unsigned l = simLeader(s);
    int64_t from = cursorOf(s, l, "minutely");
    int64_t m0 = from - from % (60 * SEC);
    simRunUntil(s, m0 + 60 * SEC + SEC, NULL, NULL); /* instant m0+1m fired normally */
    /* Two servers down: no quorum from m0+1m01s to m0+11m30s. */
    unsigned a = (l + 1) % s->n;
    unsigned b = (l + 2) % s->n;
    simKill(s, a);
    simKill(s, b);
    simRunUntil(s, m0 + 11 * 60 * SEC + 30 * SEC, NULL, NULL);
    simRevive(s, a);
    simRevive(s, b);
    simRunUntil(s, m0 + 11 * 60 * SEC + 50 * SEC, NULL, NULL);
    simSettle(s);
    struct tally t = checkDecisions(s, 0, "minutely", "* * * * *", from, m0 + 11 * 60 * SEC);
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, 0), "", "minutely");
    size_t n;
    Raftcron__Decision *const *d = fsmJobDecisions(fsmOn(s, 0), job->id, &n);
    assert_int_equal(t.covered, 11);
    assert_int_equal(d[0]->decision, RC_DECISION_FIRED); /* m0+1m, on time */
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
    struct sim *s = simStart(3);
    *state = s;
    struct job_opts o = every_second;
    o.coalesce = false;
    o.max_instances = 100;
    putJob(s, "tick", &o);
    unsigned l = simLeader(s);
    int64_t from = cursorOf(s, l, "tick");
    int64_t t0 = simNow(s);
    simRunUntil(s, t0 + 20 * SEC, NULL, NULL);
    for (unsigned i = 0; i < s->n; i++) {
        simSetClock(s, i, i == simLeader(s) ? -30 * SEC : 0);
    }
    simRunUntil(s, t0 + 40 * SEC, NULL, NULL);
    for (unsigned i = 0; i < s->n; i++) {
        simSetClock(s, i, i == simLeader(s) ? 30 * SEC : 0);
    }
    simRunUntil(s, t0 + 50 * SEC, NULL, NULL);
    for (unsigned i = 0; i < s->n; i++) {
        simSetClock(s, i, 0);
    }
    simRunUntil(s, t0 + 90 * SEC, NULL, NULL);
    pauseJob(s, "tick");
    simSettle(s);
    struct tally t = checkDecisions(s, 0, "tick", "* * * * * *", from, t0 + 80 * SEC);
    assert_true(t.covered >= 80);
    assert_int_equal(t.fired, t.covered); /* grace 60 s covers a 30 s step */
    checkExecutions(s);
    assertSameDigests(s);
}

/* ---- Randomized ---------------------------------------------------------------------------------
 */

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
    unsigned kills, partitions, steps, hangs;
    int down; /* server killed, or -1 */
    int cut;  /* server partitioned, or -1 */
    int hung; /* server whose worker is silent to the others, or -1 */
};

static void heal(struct sim *s, struct chaos *c)
{
    if (c->down >= 0) {
        simRevive(s, (unsigned)c->down);
        c->down = -1;
    }
    if (c->cut >= 0) {
        simHeal(s, (unsigned)c->cut);
        c->cut = -1;
    }
    if (c->hung >= 0) {
        for (unsigned j = 0; j < s->n; j++) {
            s->cut[c->hung][j] = s->cut[j][c->hung] = false;
        }
        c->hung = -1;
    }
    for (unsigned i = 0; i < s->n; i++) {
        simSetClock(s, i, 0);
    }
}

static void chaosHook(struct sim *s, void *arg)
{
    struct chaos *c = arg;
    if (simNow(s) < c->next_event) {
        return;
    }
    c->next_event = simNow(s) + (int64_t)(rnd(&c->rng) % 20 + 5) * SEC;
    heal(s, c); /* at most one fault at a time keeps a majority */
    unsigned victim = (unsigned)(rnd(&c->rng) % s->n);
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 2 * SEC};
    switch (rnd(&c->rng) % 5) {
    case 0:
        simKill(s, victim);
        c->down = (int)victim;
        c->kills++;
        break;
    case 1:
        simCut(s, victim);
        c->cut = (int)victim;
        c->partitions++;
        break;
    case 2:
        simSetClock(s, victim, (int64_t)(rnd(&c->rng) % 40) * SEC - 20 * SEC);
        c->steps++;
        break;
    case 3:
        /* The worker falls silent (Raft still flows). */
        for (unsigned j = 0; j < s->n; j++) {
            if (j != victim) {
                s->cut[victim][j] = s->cut[j][victim] = true;
            }
        }
        c->hung = (int)victim;
        c->hangs++;
        break;
    default:
        break;
    }
    simScriptAll(s, NULL, &sc); /* a revived process needs its script again */
}

static void runRandomized(uint64_t seed)
{
    printf("randomized: seed %llu (RC_SIM_SEEDS=%llu reproduces)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    struct sim *s = simStart(3);
    struct job_opts o = {"*/5 * * * * *", 60 * SEC, true, 4, 3, false};
    putJob(s, "chaos", &o);
    struct fake_script sc = {.outcome = FAKE_EXIT, .duration_us = 2 * SEC};
    simScriptAll(s, NULL, &sc);
    int64_t from = cursorOf(s, simLeader(s), "chaos");
    struct chaos c = {
        .rng = seed, .next_event = simNow(s) + 10 * SEC, .down = -1, .cut = -1, .hung = -1};
    int64_t end = simNow(s) + 1500 * SEC;
    simRunUntil(s, end, chaosHook, &c);
    heal(s, &c);
    simScriptAll(s, NULL, &sc);
    pauseJob(s, "chaos");
    simRunUntil(s, end + 120 * SEC, NULL, NULL);
    simSettle(s);
    printf("randomized: %u kills, %u partitions, %u clock steps, %u silent workers, %zu "
           "executions, %llu messages lost\n",
           c.kills, c.partitions, c.steps, c.hangs, s->n_execs,
           (unsigned long long)s->dropped_msgs);
    /* A leaderless spell may precede the pause: every instant up to a minute before it. */
    struct tally t = checkDecisions(s, 0, "chaos", "*/5 * * * * *", from, end - 60 * SEC);
    printf("randomized: %llu instants decided: %llu fired, %llu coalesced, %llu missed, %llu "
           "skipped\n",
           (unsigned long long)t.covered, (unsigned long long)t.fired,
           (unsigned long long)t.coalesced, (unsigned long long)t.missed,
           (unsigned long long)t.skipped);
    assert_true(t.covered >= 280);
    checkExecutions(s);
    /* Nothing silently dropped: every run finished (succeeded, or dead after its retries). */
    const Raftcron__Job *job = fsmJobGet(fsmOn(s, 0), "", "chaos");
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(fsmOn(s, 0), job->id, &n);
    for (size_t i = 0; i < n; i++) {
        if (!runsStateFinished(runs[i]->state)) {
            fail_msg("run %llu left %s", (unsigned long long)runs[i]->id,
                     runsStateName(runs[i]->state));
        }
    }
    assertSameDigests(s);
    simClose(s);
}

static void test_randomized(void **state)
{
    (void)state;
    const char *env = getenv("RC_SIM_SEEDS");
    if (env == NULL) {
        env = getenv("RC_SIM_SEED");
    }
    char seeds[256];
    snprintf(seeds, sizeof seeds, "%s", env != NULL ? env : "1,2,3");
    for (char *tok = strtok(seeds, ","); tok != NULL; tok = strtok(NULL, ",")) {
        runRandomized(strtoull(tok, NULL, 10));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sixty_seconds, teardown),
        cmocka_unit_test_teardown(test_ten_thousand_same_second, teardown),
        cmocka_unit_test_teardown(test_silent_worker_reassigned, teardown),
        cmocka_unit_test_teardown(test_leader_killed, teardown),
        cmocka_unit_test_teardown(test_follower_killed, teardown),
        cmocka_unit_test_teardown(test_partitioned_leader, teardown),
        cmocka_unit_test_teardown(test_reports_in_order_across_step_down, teardown),
        cmocka_unit_test_teardown(test_outage_coalesce, teardown),
        cmocka_unit_test_teardown(test_outage_no_coalesce, teardown),
        cmocka_unit_test_teardown(test_clock_steps, teardown),
        cmocka_unit_test(test_randomized),
    };
    if (getenv("RC_SIM_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("RC_SIM_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
