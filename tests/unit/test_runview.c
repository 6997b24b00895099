/* The run ledger's read side (core/runview.c): newest-first listings with state, job and
 * namespace filters and limits, decision records, and the Job.Next preview built from a
 * job's spec (Berlin DST, interval anchored at creation, one-off, cursor after now). */
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
#include "core/jobspec.h"
#include "core/policy.h"
#include "core/runs.h"
#include "core/runview.h"
#include "core/timefmt.h"

#define T0  INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC INT64_C(1000000)
#define MIN (60 * SEC)

struct fx {
    struct rc_fsm *f;
    uint64_t index;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    assert_int_equal(fsmCreate(&x->f), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    fsmDestroy(x->f);
    free(x);
    return 0;
}

static struct rc_fsm_result applyBuf(struct fx *x, void *buf, size_t len)
{
    struct rc_fsm_result res;
    assert_int_equal(fsmApply(x->f, ++x->index, buf, len, &res), 0);
    free(buf);
    if (res.code != 0) {
        fail_msg("apply: %s: %s", rc_errname(res.code), res.message);
    }
    return res;
}

static int64_t at(const char *text)
{
    int64_t us;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(timefmtParse(text, &us, err, sizeof err), 0);
    return us;
}

/* A shell job in namespace ns; trigger filled by the caller's tr. */
static const Raftcron__Job *putJob(struct fx *x, const char *ns, const char *name,
                                   Raftcron__Trigger *tr, int64_t now)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    spec.namespace_ = (char *)ns;
    spec.name = (char *)name;
    sh.command = "true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.trigger = tr;
    spec.executor = &ex;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(fsmValidateSpec(&spec, err, sizeof err), 0);
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(&spec, 0, false, false, now, &buf, &len), 0);
    applyBuf(x, buf, len);
    return fsmJobGet(x->f, ns, name);
}

static const Raftcron__Job *minuteJob(struct fx *x, const char *ns, const char *name)
{
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    tr.interval_us = MIN;
    return putJob(x, ns, name, &tr, T0);
}

/* One FIRED instant t of ns/name: returns the run id. */
static uint64_t fire(struct fx *x, const char *ns, const char *name, int64_t t)
{
    Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
    it.namespace_ = (char *)ns;
    it.name = (char *)name;
    it.job_version = fsmJobGet(x->f, ns, name)->version;
    it.first_us = it.last_us = it.start_at_us = t;
    it.count = 1;
    it.decision = RC_DECISION_FIRED;
    Raftcron__FireItem *items[1] = {&it};
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeFireBatch(t, items, 1, &buf, &len), 0);
    struct rc_fsm_result res = applyBuf(x, buf, len);
    assert_int_equal(res.runs_created, 1);
    return res.run_id;
}

/* A missed range [first, last] of count instants. */
static void miss(struct fx *x, const char *name, int64_t first, int64_t last, uint64_t count)
{
    Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
    it.name = (char *)name;
    it.job_version = fsmJobGet(x->f, "", name)->version;
    it.first_us = first;
    it.last_us = last;
    it.count = count;
    it.decision = RC_DECISION_MISSED;
    it.reason = RC_REASON_MISFIRE_GRACE;
    Raftcron__FireItem *items[1] = {&it};
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeFireBatch(last + MIN, items, 1, &buf, &len), 0);
    applyBuf(x, buf, len);
}

/* Take run through assign, start, FAILED, and DEAD on worker 1. */
static void killRun(struct fx *x, uint64_t run, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunAssign(run, 0, 1, now, &buf, &len), 0);
    uint64_t fence = applyBuf(x, buf, len).fence;
    assert_int_equal(commandEncodeRunStarted(run, fence, now, &buf, &len), 0);
    applyBuf(x, buf, len);
    Raftcron__Outcome o = RAFTCRON__OUTCOME__INIT;
    o.exit_code = 3;
    assert_int_equal(commandEncodeRunFinished(run, fence, RC_RUN_FAILED, &o, now, &buf, &len), 0);
    applyBuf(x, buf, len);
    assert_int_equal(commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_DEAD, run, fence, "no retries",
                                         now, &buf, &len),
                     0);
    applyBuf(x, buf, len);
}

static void workerUp(struct fx *x)
{
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    w.id = 1;
    w.address = "w1:7002";
    w.capacity = 8;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeWorkerUp(&w, T0, &buf, &len), 0);
    applyBuf(x, buf, len);
}

static void test_state_mask(void **state)
{
    (void)state;
    uint32_t mask;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(runviewStateMask("", &mask, err, sizeof err), 0);
    assert_int_equal(mask, RC_RUNVIEW_ALL_STATES);
    assert_int_equal(runviewStateMask(NULL, &mask, err, sizeof err), 0);
    assert_int_equal(mask, RC_RUNVIEW_ALL_STATES);
    for (uint32_t s = RC_RUN_PENDING; s < RC_RUN__COUNT; s++) {
        assert_int_equal(runviewStateMask(runsStateName(s), &mask, err, sizeof err), 0);
        assert_int_equal(mask, 1u << s);
        assert_true((RC_RUNVIEW_ALL_STATES & mask) != 0);
    }
    assert_int_equal(runviewStateMask("DEAD", &mask, err, sizeof err), RC_EINVAL);
    assert_int_equal(runviewStateMask("invalid", &mask, err, sizeof err), RC_EINVAL);
    assert_non_null(strstr(err, "\"invalid\" is not pending"));
}

static void test_limit(void **state)
{
    (void)state;
    size_t n;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(runviewLimit(0, 100, 1000, &n, err, sizeof err), 0);
    assert_int_equal(n, 100);
    assert_int_equal(runviewLimit(1000, 100, 1000, &n, err, sizeof err), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(runviewLimit(1001, 100, 1000, &n, err, sizeof err), RC_EINVAL);
    assert_non_null(strstr(err, "1001"));
}

static void test_runs_newest_first_filtered(void **state)
{
    struct fx *x = *state;
    const Raftcron__Run *out[16];
    const Raftcron__Job *a = minuteJob(x, "", "a");
    minuteJob(x, "ops", "b");
    assert_int_equal(runviewRuns(x->f, a, NULL, RC_RUNVIEW_ALL_STATES, out, 16), 0);
    workerUp(x);
    uint64_t ids[6];
    /* Interleave the two jobs so that a merge by id is needed: a, b, a, b, a, b. */
    for (int i = 0; i < 6; i++) {
        ids[i] = fire(x, i % 2 == 0 ? "" : "ops", i % 2 == 0 ? "a" : "b", T0 + (i / 2 + 1) * MIN);
    }
    killRun(x, ids[2], T0 + 10 * MIN);
    a = fsmJobGet(x->f, "", "a");

    size_t n = runviewRuns(x->f, a, NULL, RC_RUNVIEW_ALL_STATES, out, 16);
    assert_int_equal(n, 3);
    assert_int_equal(out[0]->id, ids[4]);
    assert_int_equal(out[1]->id, ids[2]);
    assert_int_equal(out[2]->id, ids[0]);

    n = runviewRuns(x->f, NULL, "", RC_RUNVIEW_ALL_STATES, out, 16);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(out[i]->id, ids[5 - i]);
    }
    /* A limit keeps the newest across jobs. */
    n = runviewRuns(x->f, NULL, NULL, RC_RUNVIEW_ALL_STATES, out, 4);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(out[i]->id, ids[5 - i]);
    }
    n = runviewRuns(x->f, NULL, "ops", RC_RUNVIEW_ALL_STATES, out, 16);
    assert_int_equal(n, 3);
    assert_int_equal(out[0]->id, ids[5]);
    assert_string_equal(out[0]->job, "ops/b");
    assert_int_equal(runviewRuns(x->f, NULL, "nobody", RC_RUNVIEW_ALL_STATES, out, 16), 0);

    n = runviewRuns(x->f, NULL, NULL, 1u << RC_RUN_DEAD, out, 16);
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, ids[2]);
    assert_int_equal(out[0]->state, RC_RUN_DEAD);
    assert_string_equal(out[0]->end_reason, "no retries");
    assert_int_equal(out[0]->outcome->exit_code, 3);
    assert_int_equal(runviewRuns(x->f, NULL, "ops", 1u << RC_RUN_DEAD, out, 16), 0);
    n = runviewRuns(x->f, NULL, NULL, 1u << RC_RUN_PENDING, out, 16);
    assert_int_equal(n, 5);
    assert_int_equal(out[4]->id, ids[0]);
    assert_int_equal(runviewRuns(x->f, NULL, NULL, RC_RUNVIEW_ALL_STATES, out, 0), 0);
}

static void test_decisions_newest_first(void **state)
{
    struct fx *x = *state;
    const Raftcron__Decision *out[8];
    const Raftcron__Job *a = minuteJob(x, "", "a");
    assert_int_equal(runviewDecisions(x->f, a->id, out, 8), 0);
    miss(x, "a", T0 + MIN, T0 + 5 * MIN, 5);
    uint64_t run = fire(x, "", "a", T0 + 6 * MIN);
    a = fsmJobGet(x->f, "", "a");
    size_t n = runviewDecisions(x->f, a->id, out, 8);
    assert_int_equal(n, 2);
    assert_int_equal(out[0]->decision, RC_DECISION_FIRED);
    assert_int_equal(out[0]->run_id, run);
    assert_int_equal(out[1]->decision, RC_DECISION_MISSED);
    assert_int_equal(out[1]->count, 5);
    assert_int_equal(out[1]->first_us, T0 + MIN);
    assert_int_equal(out[1]->reason, RC_REASON_MISFIRE_GRACE);
    assert_int_equal(runviewDecisions(x->f, a->id, out, 1), 1);
    assert_int_equal(out[0]->decision, RC_DECISION_FIRED);
}

static void expectNext(const Raftcron__Job *job, int64_t now, const char *const *want, size_t n,
                       const char *zone)
{
    int64_t got[16];
    int32_t off[16];
    size_t count;
    const char *z;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(
        runviewNext(job, now, 16 < n + 2 ? 16 : n + 2, got, off, &count, &z, err, sizeof err), 0);
    assert_string_equal(z, zone);
    assert_true(count >= n);
    for (size_t i = 0; i < n; i++) {
        char buf[RC_TIMEFMT_MAX];
        timefmtFormat(got[i], off[i], buf);
        assert_string_equal(buf, want[i]);
    }
}

static void test_next_berlin_dst(void **state)
{
    struct fx *x = *state;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = "30 2 * * *";
    tr.tz = "Europe/Berlin";
    const Raftcron__Job *shift = putJob(x, "", "shift", &tr, T0);
    static const char *const want[] = {"2030-03-30T02:30:00+01:00", "2030-03-31T03:00:00+02:00",
                                       "2030-04-01T02:30:00+02:00"};
    expectNext(shift, at("2030-03-29T12:00:00Z"), want, 3, "Europe/Berlin");
    tr.dst_gap = 1;
    const Raftcron__Job *skip = putJob(x, "", "skip", &tr, T0);
    static const char *const skipped[] = {"2030-03-30T02:30:00+01:00", "2030-04-01T02:30:00+02:00"};
    expectNext(skip, at("2030-03-29T12:00:00Z"), skipped, 2, "Europe/Berlin");
    /* Fall back: 02:30 happens twice on 2030-10-27; once by default. */
    static const char *const fall[] = {"2030-10-27T02:30:00+02:00", "2030-10-28T02:30:00+01:00"};
    expectNext(fsmJobGet(x->f, "", "shift"), at("2030-10-26T12:00:00Z"), fall, 2, "Europe/Berlin");
    /* A start bound in the future wins over now. */
    tr.dst_gap = 0;
    tr.start_us = at("2030-06-01T00:00:00Z");
    const Raftcron__Job *later = putJob(x, "", "later", &tr, T0);
    static const char *const june[] = {"2030-06-01T02:30:00+02:00"};
    expectNext(later, T0, june, 1, "Europe/Berlin");
}

static void test_next_interval_anchor(void **state)
{
    struct fx *x = *state;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    tr.interval_us = 90 * MIN;
    int64_t created = T0 + 7 * SEC;
    const Raftcron__Job *job = putJob(x, "", "every", &tr, created);
    assert_int_equal(job->created_us, created);
    int64_t got[4];
    int32_t off[4];
    size_t n;
    const char *z;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(runviewNext(job, T0 + 100 * MIN, 4, got, off, &n, &z, err, sizeof err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(z, "UTC");
    assert_int_equal(got[0], created + 2 * 90 * MIN); /* the first after now */
    for (size_t i = 1; i < 4; i++) {
        assert_int_equal(got[i] - got[i - 1], 90 * MIN);
        assert_int_equal(off[i], 0);
    }
    /* An explicit anchor, a zone for the offsets, and an end bound that stops the preview. */
    tr.anchor_us = at("2030-01-01T00:00:00Z");
    tr.tz = "Asia/Kolkata";
    tr.end_us = at("2030-01-01T03:00:00Z");
    job = putJob(x, "", "anchored", &tr, created);
    assert_int_equal(
        runviewNext(job, at("2029-12-31T23:59:00Z"), 4, got, off, &n, &z, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(z, "Asia/Kolkata");
    assert_int_equal(got[0], at("2030-01-01T00:00:00Z"));
    assert_int_equal(got[2], at("2030-01-01T03:00:00Z"));
    assert_int_equal(off[0], 19800);
}

static void test_next_once_and_cursor(void **state)
{
    struct fx *x = *state;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_AT_US;
    tr.at_us = T0 + MIN;
    const Raftcron__Job *once = putJob(x, "", "once", &tr, T0);
    int64_t got[4];
    int32_t off[4];
    size_t n;
    const char *z;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(runviewNext(once, T0, 4, got, off, &n, &z, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(got[0], T0 + MIN);
    assert_int_equal(runviewNext(once, T0 + MIN, 4, got, off, &n, &z, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* A cursor ahead of now (the leader claimed ahead, or this clock is behind) wins. */
    minuteJob(x, "", "m");
    fire(x, "", "m", T0 + 10 * MIN);
    const Raftcron__Job *m = fsmJobGet(x->f, "", "m");
    assert_int_equal(m->cursor_us, T0 + 10 * MIN);
    assert_int_equal(runviewNext(m, T0 + 2 * MIN, 2, got, off, &n, &z, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(got[0], T0 + 11 * MIN);
    assert_int_equal(got[1], T0 + 12 * MIN);
}

static void test_trigger_without_spec(void **state)
{
    (void)state;
    Raftcron__Job job = RAFTCRON__JOB__INIT;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), RC_EINVAL);
    job.spec = &spec;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), RC_EINVAL);
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    spec.trigger = &tr;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), RC_EINVAL);
    assert_non_null(strstr(err, "no cron, interval or at"));
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = "0 25 * * *";
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), RC_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_mask),
        cmocka_unit_test(test_limit),
        cmocka_unit_test_setup_teardown(test_runs_newest_first_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decisions_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_berlin_dst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_interval_anchor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_once_and_cursor, setup, teardown),
        cmocka_unit_test(test_trigger_without_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
