/* Per-job statistics: counted by apply as entries move runs (core/jobstats.h), equal on a
 * replica that replays the same log and after a snapshot, and the summary of durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/command.h"
#include "core/fsm.h"
#include "core/jobstats.h"
#include "core/policy.h"
#include "core/runs.h"
#include "fixture_fsm.h"

#define T0  INT64_C(1767225600000000)
#define SEC INT64_C(1000000)
#define MIN (60 * SEC)

/* The log of the test, kept so that a second FSM can replay it. */
struct log {
    void *buf[64];
    size_t len[64];
    size_t n;
};

static struct rc_fsm_result apply(struct fx *x, struct log *lg, void *buf, size_t len)
{
    assert_true(lg->n < 64);
    lg->buf[lg->n] = malloc(len);
    memcpy(lg->buf[lg->n], buf, len);
    lg->len[lg->n++] = len;
    return fxApply(x, buf, len);
}

static void put(struct fx *x, struct log *lg, uint32_t attempts)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__NoopExec noop = RAFTCRON__NOOP_EXEC__INIT;
    Raftcron__RetryPolicy retry = RAFTCRON__RETRY_POLICY__INIT;
    spec.name = "j";
    tr.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    tr.interval_us = MIN;
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_NOOP;
    ex.noop = &noop;
    retry.max_attempts = attempts;
    spec.trigger = &tr;
    spec.executor = &ex;
    spec.retry = &retry;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(&spec, 0, false, false, T0, &buf, &len), 0);
    struct rc_fsm_result res = apply(x, lg, buf, len);
    fxExpectOk(&res);
}

static struct rc_fsm_result fire(struct fx *x, struct log *lg, int64_t first, int64_t last,
                                 uint64_t count, enum rc_decision d, bool manual)
{
    Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
    it.name = "j";
    it.job_version = fsmJobGet(x->f, "", "j")->version;
    it.first_us = first;
    it.last_us = last;
    it.count = count;
    it.decision = d;
    it.start_at_us = last;
    it.manual = manual;
    Raftcron__FireItem *p = &it;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeFireBatch(last, &p, 1, &buf, &len), 0);
    return apply(x, lg, buf, len);
}

#define ENC(call)                                                                                  \
    do {                                                                                           \
        void *buf_;                                                                                \
        size_t len_;                                                                               \
        assert_int_equal(call, 0);                                                                 \
        struct rc_fsm_result r_ = apply(x, lg, buf_, len_);                                        \
        fxExpectOk(&r_);                                                                           \
    } while (0)

static void workerUp(struct fx *x, struct log *lg)
{
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    w.id = 7;
    w.address = "w:1";
    w.capacity = 4;
    ENC(commandEncodeWorkerUp(&w, T0, &buf_, &len_));
}

/* Assign, start at `start`, finish in state at `end`; returns the fence. */
static uint64_t attempt(struct fx *x, struct log *lg, uint64_t run, int64_t start, int64_t end,
                        uint32_t state)
{
    ENC(commandEncodeRunAssign(run, fsmRunGet(x->f, run)->fence, 7, start, &buf_, &len_));
    uint64_t fence = fsmRunGet(x->f, run)->fence;
    ENC(commandEncodeRunStarted(run, fence, start, &buf_, &len_));
    Raftcron__Outcome o = RAFTCRON__OUTCOME__INIT;
    ENC(commandEncodeRunFinished(run, fence, state, &o, end, &buf_, &len_));
    return fence;
}

static void freeLog(struct log *lg)
{
    for (size_t i = 0; i < lg->n; i++) {
        free(lg->buf[i]);
    }
}

static void test_counts(void **state)
{
    struct fx *x = *state;
    struct log lg_ = {0}, *lg = &lg_;
    put(x, lg, 3);
    workerUp(x, lg);
    /* A run that succeeds in 2 s. */
    struct rc_fsm_result r1 = fire(x, lg, T0 + MIN, T0 + MIN, 1, RC_DECISION_FIRED, false);
    attempt(x, lg, r1.run_id, T0 + MIN, T0 + MIN + 2 * SEC, RC_RUN_SUCCEEDED);
    /* Missed and coalesced instants count by their number. */
    fire(x, lg, T0 + 2 * MIN, T0 + 4 * MIN, 3, RC_DECISION_MISSED, false);
    fire(x, lg, T0 + 5 * MIN, T0 + 6 * MIN, 2, RC_DECISION_COALESCED, false);
    fire(x, lg, T0 + 7 * MIN, T0 + 7 * MIN, 1, RC_DECISION_SKIPPED, false);
    /* A run that fails, is retried, times out, is retried, and goes dead after a lost attempt
     * would exceed the policy: fail, retry, timeout, dead. */
    struct rc_fsm_result r2 = fire(x, lg, T0 + 8 * MIN, T0 + 8 * MIN, 1, RC_DECISION_FIRED, false);
    uint64_t fence = attempt(x, lg, r2.run_id, T0 + 8 * MIN, T0 + 8 * MIN + 4 * SEC, RC_RUN_FAILED);
    ENC(commandEncodeRunRetry(r2.run_id, fence, T0 + 9 * MIN, T0 + 8 * MIN + 5 * SEC, &buf_,
                              &len_));
    fence = attempt(x, lg, r2.run_id, T0 + 9 * MIN, T0 + 9 * MIN + 6 * SEC, RC_RUN_TIMED_OUT);
    ENC(commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_DEAD, r2.run_id, fence, "retries exhausted",
                            T0 + 9 * MIN + 7 * SEC, &buf_, &len_));
    /* A manual run, cancelled before it starts. */
    struct rc_fsm_result r3 = fire(x, lg, T0 + 10 * MIN, T0 + 10 * MIN, 1, RC_DECISION_FIRED, true);
    ENC(commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_CANCEL, r3.run_id, 0, "by hand",
                            T0 + 10 * MIN + SEC, &buf_, &len_));

    const Raftcron__JobStats *s = fsmJobGet(x->f, "", "j")->stats;
    assert_non_null(s);
    assert_int_equal(s->runs, 3);
    assert_int_equal(s->manual, 1);
    assert_int_equal(s->fired, 2); /* the manual FIRED record is not a scheduled fire */
    assert_int_equal(s->missed, 3);
    assert_int_equal(s->coalesced, 2);
    assert_int_equal(s->skipped, 1);
    assert_int_equal(s->succeeded, 1);
    assert_int_equal(s->failed, 1);
    assert_int_equal(s->timed_out, 1);
    assert_int_equal(s->retried, 1);
    assert_int_equal(s->dead, 1);
    assert_int_equal(s->cancelled, 1);
    assert_int_equal(s->lost, 0);
    assert_int_equal(s->last_run_id, r2.run_id);
    assert_int_equal(s->last_state, RC_RUN_TIMED_OUT);
    assert_int_equal(s->last_started_us, T0 + 9 * MIN);
    assert_int_equal(s->last_finished_us, T0 + 9 * MIN + 6 * SEC);
    assert_int_equal(s->last_success_us, T0 + MIN + 2 * SEC);
    assert_int_equal(s->last_failure_us, T0 + 9 * MIN + 6 * SEC);
    assert_int_equal(s->duration_count, 3);
    assert_int_equal(s->duration_sum_us, (2 + 4 + 6) * SEC);

    /* Determinism: a replica that applies the same log holds the same counters, and so does
     * one restored from a snapshot (equal digests). */
    struct rc_fsm *f2;
    assert_int_equal(fsmCreate(&f2), 0);
    for (size_t i = 0; i < lg->n; i++) {
        struct rc_fsm_result res;
        assert_int_equal(fsmApply(f2, i + 1, lg->buf[i], lg->len[i], &res), 0);
    }
    assert_true(fsmDigest(f2) == fsmDigest(x->f));
    void *snap;
    size_t snap_len;
    assert_int_equal(fsmSnapshot(x->f, &snap, &snap_len), 0);
    struct rc_fsm *f3;
    char err[256];
    assert_int_equal(fsmCreate(&f3), 0);
    assert_int_equal(fsmRestore(f3, 99, snap, snap_len, err, sizeof err), 0);
    assert_int_equal(fsmJobGet(f3, "", "j")->stats->dead, 1);
    assert_true(fsmDigest(f3) == fsmDigest(x->f));
    free(snap);
    fsmDestroy(f2);
    fsmDestroy(f3);
    freeLog(lg);
}

/* A worker marked down loses its running attempt: counted as lost, once. */
static void test_lost(void **state)
{
    struct fx *x = *state;
    struct log lg_ = {0}, *lg = &lg_;
    put(x, lg, 1);
    workerUp(x, lg);
    struct rc_fsm_result r = fire(x, lg, T0 + MIN, T0 + MIN, 1, RC_DECISION_FIRED, false);
    ENC(commandEncodeRunAssign(r.run_id, 0, 7, T0 + MIN, &buf_, &len_));
    uint64_t fence = fsmRunGet(x->f, r.run_id)->fence;
    ENC(commandEncodeRunStarted(r.run_id, fence, T0 + MIN, &buf_, &len_));
    ENC(commandEncodeWorkerDown(7, T0 + 2 * MIN, &buf_, &len_));
    ENC(commandEncodeWorkerDown(7, T0 + 3 * MIN, &buf_, &len_)); /* again: nothing new */
    const Raftcron__JobStats *s = fsmJobGet(x->f, "", "j")->stats;
    assert_int_equal(s->lost, 1);
    assert_int_equal(s->last_state, RC_RUN_LOST);
    assert_int_equal(s->last_failure_us, T0 + 2 * MIN);
    assert_int_equal(s->duration_count, 0); /* a lost attempt's end is not its duration */
    freeLog(lg);
}

static Raftcron__Run *mkRun(uint32_t state, int64_t started, int64_t finished)
{
    Raftcron__Run *r = calloc(1, sizeof *r);
    raftcron__run__init(r);
    r->state = state;
    r->started_us = started;
    r->finished_us = finished;
    return r;
}

static void test_summary(void **state)
{
    (void)state;
    Raftcron__Run *runs[25];
    size_t n = 0;
    /* 20 durations 1..20 s, in no order; and runs that do not count. */
    for (int i = 20; i >= 1; i--) {
        runs[n++] = mkRun(i % 2 ? RC_RUN_SUCCEEDED : RC_RUN_FAILED, T0, T0 + i * SEC);
    }
    runs[n++] = mkRun(RC_RUN_RUNNING, T0, 0);
    runs[n++] = mkRun(RC_RUN_DEAD, T0, T0 + 100 * SEC);
    runs[n++] = mkRun(RC_RUN_SUCCEEDED, 0, T0); /* never started: no duration */
    runs[n++] = mkRun(RC_RUN_PENDING, 0, 0);
    struct rc_jobstats_summary sum;
    assert_int_equal(jobstatsSummarize(runs, n, &sum), 0);
    assert_int_equal(sum.count, 20);
    assert_int_equal(sum.mean_us, 21 * SEC / 2);
    assert_int_equal(sum.p95_us, 19 * SEC); /* nearest rank: ceil(0.95 * 20) = 19th */
    assert_int_equal(sum.max_us, 20 * SEC);
    assert_int_equal(sum.active, 12); /* FAILED runs wait for a retry or the dead letter */
    assert_int_equal(jobstatsSummarize(runs, 0, &sum), 0);
    assert_int_equal(sum.count, 0);
    assert_int_equal(sum.p95_us, 0);
    for (size_t i = 0; i < n; i++) {
        free(runs[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_lost, fxSetup, fxTeardown),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
