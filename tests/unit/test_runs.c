/* The run ledger through fsmApply: the move table, fences, exactly-once claims, workers,
 * retention, snapshots, and a randomized property test. */
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
#include "fixture_fsm.h"
#include "core/policy.h"
#include "core/runs.h"

#define T0  INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC INT64_C(1000000)
#define MIN (60 * SEC)

static void ok(struct rc_fsm_result res)
{
    fxExpectOk(&res);
}

struct job_opts {
    uint32_t max_attempts;
    bool at_most_once;
    uint32_t history_max;
    int64_t history_age_us;
};

static const Raftcron__Job *mkJob(struct fx *x, const char *name, const struct job_opts *o)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    Raftcron__RetryPolicy retry = RAFTCRON__RETRY_POLICY__INIT;
    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    spec.name = (char *)name;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    tr.interval_us = MIN;
    sh.command = "true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.trigger = &tr;
    spec.executor = &ex;
    if (o != NULL) {
        retry.max_attempts = o->max_attempts;
        spec.retry = &retry;
        spec.at_most_once = o->at_most_once;
        pol.history_max = o->history_max;
        pol.history_age_us = o->history_age_us;
        spec.policy = &pol;
    }
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(&spec, 0, false, false, T0, &buf, &len), 0);
    struct rc_fsm_result res = fxApply(x, buf, len);
    fxExpectOk(&res);
    return fsmJobGet(x->f, "", name);
}

static Raftcron__FireItem item(const char *name, uint64_t version, int64_t first, int64_t last,
                               uint64_t count, enum rc_decision d)
{
    Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
    it.name = (char *)name;
    it.job_version = version;
    it.first_us = first;
    it.last_us = last;
    it.count = count;
    it.decision = d;
    it.start_at_us = last;
    return it;
}

static struct rc_fsm_result fireItems(struct fx *x, int64_t now, Raftcron__FireItem *items,
                                      size_t n)
{
    Raftcron__FireItem *ptrs[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = &items[i];
    }
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeFireBatch(now, ptrs, n, &buf, &len), 0);
    return fxApply(x, buf, len);
}

/* One FIRED instant of job `name` (version 1); returns the run id. */
static uint64_t fire(struct fx *x, const char *name, int64_t t)
{
    Raftcron__FireItem it =
        item(name, fsmJobGet(x->f, "", name)->version, t, t, 1, RC_DECISION_FIRED);
    struct rc_fsm_result res = fireItems(x, t, &it, 1);
    fxExpectOk(&res);
    assert_int_equal(res.runs_created, 1);
    return res.run_id;
}

static struct rc_fsm_result workerUpAs(struct fx *x, uint64_t id, uint64_t incarnation, int64_t now)
{
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    w.incarnation = incarnation;
    char addr[32];
    snprintf(addr, sizeof addr, "w%llu:7002", (unsigned long long)id);
    w.id = id;
    w.address = addr;
    w.capacity = 4;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeWorkerUp(&w, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result workerUp(struct fx *x, uint64_t id, int64_t now)
{
    return workerUpAs(x, id, 0, now);
}

static struct rc_fsm_result workerDown(struct fx *x, uint64_t id, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeWorkerDown(id, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result assign(struct fx *x, uint64_t run, uint64_t fence, uint64_t worker,
                                   int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunAssign(run, fence, worker, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result started(struct fx *x, uint64_t run, uint64_t fence, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunStarted(run, fence, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result accepted(struct fx *x, uint64_t run, uint64_t fence, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunAccept(run, fence, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result finished(struct fx *x, uint64_t run, uint64_t fence, uint32_t state,
                                     int64_t now)
{
    Raftcron__Outcome o = RAFTCRON__OUTCOME__INIT;
    o.exit_code = state == RC_RUN_SUCCEEDED ? 0 : 1;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunFinished(run, fence, state, &o, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result retry(struct fx *x, uint64_t run, uint64_t fence, int64_t nb,
                                  int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunRetry(run, fence, nb, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static struct rc_fsm_result runEnd(struct fx *x, Raftcron__Command__CmdCase kind, uint64_t run,
                                   uint64_t fence, const char *reason, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunEnd(kind, run, fence, reason, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static const Raftcron__Run *run(struct fx *x, uint64_t id)
{
    const Raftcron__Run *r = fsmRunGet(x->f, id);
    assert_non_null(r);
    return r;
}

/* ---- The table ---------------------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    /* The masks say the same as runsStateFinished, state by state, and nothing outside them. */
    for (uint32_t st = 0; st < 32; st++) {
        bool fin = (RC_RUN_FINISHED_MASK >> st) & 1;
        bool unfin = (RC_RUN_UNFINISHED_MASK >> st) & 1;
        assert_int_equal(fin, runsStateValid(st) && runsStateFinished(st));
        assert_int_equal(unfin, runsStateValid(st) && !runsStateFinished(st));
    }
    /* The diagram of DESIGN.md §3 (plus RETRY_WAIT → CANCELLED), written out in full. */
    static const char *const allowed[] = {
        "pending>assigned",  "pending>cancelled",    "assigned>running",     "assigned>lost",
        "assigned>assigned", "assigned>cancelled",   "running>succeeded",    "running>failed",
        "running>timed_out", "running>lost",         "running>cancelled",    "failed>retry_wait",
        "failed>dead",       "timed_out>retry_wait", "timed_out>dead",       "lost>retry_wait",
        "lost>dead",         "retry_wait>assigned",  "retry_wait>cancelled",
    };
    size_t n_allowed = 0;
    for (uint32_t from = 0; from <= RC_RUN__COUNT; from++) {
        for (uint32_t to = 0; to <= RC_RUN__COUNT; to++) {
            char edge[64];
            snprintf(edge, sizeof edge, "%s>%s", runsStateName(from), runsStateName(to));
            bool want = false;
            for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
                want |= strcmp(edge, allowed[i]) == 0;
            }
            if (runsCanMove(from, to) != want) {
                fail_msg("edge %s: table says %d", edge, runsCanMove(from, to));
            }
            n_allowed += want;
        }
    }
    assert_int_equal(n_allowed, sizeof allowed / sizeof allowed[0]);
    assert_string_equal(runsStateName(0), "invalid");
    assert_string_equal(runsStateName(RC_RUN__COUNT), "invalid");
    assert_true(runsStateFinished(RC_RUN_SUCCEEDED) && runsStateFinished(RC_RUN_DEAD) &&
                runsStateFinished(RC_RUN_CANCELLED) && !runsStateFinished(RC_RUN_FAILED));
}

/* Drive a fresh run of job "j" to state s; returns its id. */
static uint64_t driveTo(struct fx *x, uint32_t s, int64_t t)
{
    uint64_t id = fire(x, "j", t);
    struct rc_fsm_result r;
    if (s == RC_RUN_PENDING) {
        return id;
    }
    if (s == RC_RUN_CANCELLED) {
        r = runEnd(x, RAFTCRON__COMMAND__CMD_RUN_CANCEL, id, 0, "by test", t);
        fxExpectOk(&r);
        return id;
    }
    r = assign(x, id, 0, 1, t);
    fxExpectOk(&r);
    uint64_t fence = r.fence;
    if (s == RC_RUN_ASSIGNED) {
        return id;
    }
    if (s == RC_RUN_LOST) {
        r = runEnd(x, RAFTCRON__COMMAND__CMD_RUN_LOST, id, fence, "by test", t);
        fxExpectOk(&r);
        return id;
    }
    r = started(x, id, fence, t);
    fxExpectOk(&r);
    if (s == RC_RUN_RUNNING) {
        return id;
    }
    uint32_t end = s == RC_RUN_SUCCEEDED || s == RC_RUN_TIMED_OUT ? s : RC_RUN_FAILED;
    r = finished(x, id, fence, end, t);
    fxExpectOk(&r);
    if (s == RC_RUN_RETRY_WAIT) {
        r = retry(x, id, fence, t, t);
        fxExpectOk(&r);
    } else if (s == RC_RUN_DEAD) {
        r = runEnd(x, RAFTCRON__COMMAND__CMD_RUN_DEAD, id, fence, "by test", t);
        fxExpectOk(&r);
    }
    assert_int_equal(run(x, id)->state, s);
    return id;
}

enum cmd_kind {
    K_ASSIGN,
    K_STARTED,
    K_SUCCEEDED,
    K_FAILED,
    K_TIMED_OUT,
    K_RETRY,
    K_DEAD,
    K_LOST,
    K_CANCEL,
    K_COUNT
};

static const uint32_t kind_target[K_COUNT] = {
    RC_RUN_ASSIGNED,   RC_RUN_RUNNING, RC_RUN_SUCCEEDED, RC_RUN_FAILED,    RC_RUN_TIMED_OUT,
    RC_RUN_RETRY_WAIT, RC_RUN_DEAD,    RC_RUN_LOST,      RC_RUN_CANCELLED,
};

static struct rc_fsm_result applyKind(struct fx *x, enum cmd_kind k, uint64_t id, uint64_t fence,
                                      int64_t t)
{
    switch (k) {
    case K_ASSIGN:
        return assign(x, id, fence, 1, t);
    case K_STARTED:
        return started(x, id, fence, t);
    case K_SUCCEEDED:
    case K_FAILED:
    case K_TIMED_OUT:
        return finished(x, id, fence, kind_target[k], t);
    case K_RETRY:
        return retry(x, id, fence, t, t);
    case K_DEAD:
        return runEnd(x, RAFTCRON__COMMAND__CMD_RUN_DEAD, id, fence, "d", t);
    case K_LOST:
        return runEnd(x, RAFTCRON__COMMAND__CMD_RUN_LOST, id, fence, "l", t);
    default:
        return runEnd(x, RAFTCRON__COMMAND__CMD_RUN_CANCEL, id, fence, "c", t);
    }
}

/* Every command from every state, through apply: allowed moves happen, forbidden ones are
 * RC_ESTALE no-ops (digest unchanged); a wrong fence is refused even on an allowed move. */
static void test_every_move(void **state)
{
    (void)state;
    for (uint32_t s = RC_RUN_PENDING; s < RC_RUN__COUNT; s++) {
        for (int k = 0; k < K_COUNT; k++) {
            struct fx x = {0};
            assert_int_equal(fsmCreate(&x.f), 0);
            struct job_opts o = {.max_attempts = 5};
            mkJob(&x, "j", &o);
            ok(workerUp(&x, 1, T0));
            int64_t t = T0 + MIN;
            uint64_t id = driveTo(&x, s, t);
            uint64_t fence = run(&x, id)->fence;
            uint32_t attempt = run(&x, id)->attempt;
            uint64_t before = fsmDigest(x.f);
            /* A wrong fence first: never a move (RunCancel's 0 means any, so use fence + 7). */
            struct rc_fsm_result r = applyKind(&x, (enum cmd_kind)k, id, fence + 7, t + SEC);
            assert_int_not_equal(r.code, 0);
            assert_false(r.changed);
            assert_int_equal(fsmDigest(x.f), before);
            r = applyKind(&x, (enum cmd_kind)k, id, fence, t + SEC);
            const Raftcron__Run *after = run(&x, id);
            if (runsCanMove(s, kind_target[k])) {
                fxExpectOk(&r);
                assert_true(r.changed);
                assert_int_equal(after->state, kind_target[k]);
                if (k == K_ASSIGN) {
                    assert_true(after->fence > fence);
                    assert_int_equal(r.fence, after->fence);
                }
                if (k == K_RETRY) {
                    assert_int_equal(after->attempt, attempt + 1);
                }
            } else {
                fxExpectCode(&r, RC_ESTALE, "cannot become");
                assert_false(r.changed);
                assert_int_equal(after->state, s);
                assert_int_equal(fsmDigest(x.f), before);
            }
            fsmDestroy(x.f);
        }
    }
}

/* ---- Fences ------------------------------------------------------------------------------- */

static void test_stale_fence(void **state)
{
    struct fx *x = *state;
    struct job_opts o = {.max_attempts = 3};
    mkJob(x, "j", &o);
    ok(workerUp(x, 1, T0));
    ok(workerUp(x, 2, T0));
    uint64_t id = fire(x, "j", T0 + MIN);
    struct rc_fsm_result r = assign(x, id, 0, 1, T0 + MIN);
    fxExpectOk(&r);
    uint64_t f1 = r.fence;
    ok(started(x, id, f1, T0 + MIN));
    /* Worker 1 goes quiet; its run is lost, retried, and assigned to worker 2. */
    r = workerDown(x, 1, T0 + 2 * MIN);
    fxExpectOk(&r);
    assert_int_equal(r.runs_moved, 1);
    assert_int_equal(run(x, id)->state, RC_RUN_LOST);
    ok(retry(x, id, f1, T0 + 3 * MIN, T0 + 2 * MIN));
    /* Not before its not-before instant. */
    r = assign(x, id, f1, 2, T0 + 2 * MIN);
    fxExpectCode(&r, RC_ESTALE, "retry not before");
    r = assign(x, id, f1, 2, T0 + 3 * MIN);
    fxExpectOk(&r);
    uint64_t f2 = r.fence;
    assert_true(f2 > f1);
    /* The old attempt's reports change nothing. */
    uint64_t before = fsmDigest(x->f);
    r = started(x, id, f1, T0 + 3 * MIN);
    fxExpectCode(&r, RC_ESTALE, "is not the current fence");
    r = finished(x, id, f1, RC_RUN_SUCCEEDED, T0 + 3 * MIN);
    fxExpectCode(&r, RC_ESTALE, NULL);
    r = runEnd(x, RAFTCRON__COMMAND__CMD_RUN_LOST, id, f1, "old", T0 + 3 * MIN);
    fxExpectCode(&r, RC_ESTALE, NULL);
    assert_int_equal(fsmDigest(x->f), before);
    ok(started(x, id, f2, T0 + 3 * MIN));
    ok(finished(x, id, f2, RC_RUN_SUCCEEDED, T0 + 4 * MIN));
    assert_int_equal(run(x, id)->attempt, 2);
    assert_int_equal(run(x, id)->worker_id, 2);
    /* A finished run takes no further report, and unknown runs are not found. */
    r = finished(x, id, f2, RC_RUN_FAILED, T0 + 4 * MIN);
    fxExpectCode(&r, RC_ESTALE, "succeeded: cannot become failed");
    r = started(x, 999, 1, T0);
    fxExpectCode(&r, RC_ENOTFOUND, "run 999 not found");
    r = finished(x, id, f2, RC_RUN_PENDING, T0);
    fxExpectCode(&r, RC_EINVAL, "not a finishing state");
    /* Stats of the job: two attempts finished? No: one RunFinished recorded. */
    const Raftcron__Job *job = fsmJobGet(x->f, "", "j");
    assert_int_equal(job->runs_total, 1);
    assert_int_equal(job->runs_failed, 0);
    assert_string_equal(job->last_outcome, "succeeded");
    assert_int_equal(job->last_finished_us, T0 + 4 * MIN);
}

/* ---- FireBatch ---------------------------------------------------------------------------- */

static void test_exactly_once(void **state)
{
    struct fx *x = *state;
    const Raftcron__Job *job = mkJob(x, "j", NULL);
    uint64_t jid = job->id;
    assert_int_equal(job->cursor_us, T0);
    Raftcron__FireItem it = item("j", 1, T0 + MIN, T0 + MIN, 1, RC_DECISION_FIRED);
    struct rc_fsm_result r = fireItems(x, T0 + MIN, &it, 1);
    fxExpectOk(&r);
    assert_int_equal(r.items_applied, 1);
    assert_int_equal(fsmJobGet(x->f, "", "j")->cursor_us, T0 + MIN);
    /* A second leader proposes the same instant: refused, recorded once. */
    uint64_t before = fsmDigest(x->f);
    r = fireItems(x, T0 + MIN + 5, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "item 0: job default/j: instant");
    assert_int_equal(r.items_rejected, 1);
    assert_false(r.changed);
    assert_int_equal(fsmDigest(x->f), before);
    /* So is a range that reaches back over it. */
    Raftcron__FireItem range = item("j", 1, T0, T0 + 2 * MIN, 3, RC_DECISION_MISSED);
    r = fireItems(x, T0 + 3 * MIN, &range, 1);
    fxExpectCode(&r, RC_ESTALE, "already decided");
    size_t n;
    Raftcron__Decision *const *d = fsmJobDecisions(x->f, jid, &n);
    assert_int_equal(n, 1);
    assert_int_equal(d[0]->decision, RC_DECISION_FIRED);
    assert_int_equal(d[0]->first_us, T0 + MIN);
    assert_int_equal(d[0]->run_id, 1);
    assert_string_equal(d[0]->job, "default/j");
    /* A batch mixing good and stale items records the good ones and reports the first bad. */
    Raftcron__FireItem mix[3] = {
        item("j", 1, T0 + MIN, T0 + MIN, 1, RC_DECISION_FIRED),
        item("j", 1, T0 + 2 * MIN, T0 + 2 * MIN, 1, RC_DECISION_FIRED),
        item("nope", 1, T0 + 2 * MIN, T0 + 2 * MIN, 1, RC_DECISION_FIRED),
    };
    r = fireItems(x, T0 + 2 * MIN, mix, 3);
    fxExpectCode(&r, RC_ESTALE, "item 0:");
    assert_int_equal(r.items_applied, 1);
    assert_int_equal(r.items_rejected, 2);
    assert_true(r.changed);
    assert_int_equal(r.run_id, 2);
    d = fsmJobDecisions(x->f, jid, &n);
    assert_int_equal(n, 2);
    /* Ranges: one record with a count. */
    Raftcron__FireItem missed = item("j", 1, T0 + 3 * MIN, T0 + 7 * MIN, 5, RC_DECISION_MISSED);
    missed.reason = RC_REASON_MISFIRE_GRACE;
    r = fireItems(x, T0 + 60 * MIN, &missed, 1);
    fxExpectOk(&r);
    assert_int_equal(r.runs_created, 0);
    d = fsmJobDecisions(x->f, jid, &n);
    assert_int_equal(n, 3);
    assert_int_equal(d[2]->count, 5);
    assert_int_equal(d[2]->last_us, T0 + 7 * MIN);
    assert_int_equal(d[2]->reason, RC_REASON_MISFIRE_GRACE);
    assert_int_equal(d[2]->run_id, 0);
    assert_int_equal(d[2]->decided_us, T0 + 60 * MIN);
    assert_int_equal(fsmJobGet(x->f, "", "j")->cursor_us, T0 + 7 * MIN);
}

static void test_bad_items(void **state)
{
    struct fx *x = *state;
    mkJob(x, "j", NULL);
    static const struct {
        int64_t first, last;
        uint64_t count;
        uint32_t decision, reason;
        const char *name;
        int code;
        const char *needle;
    } cases[] = {
        {MIN, MIN, 1, 0, 0, "j", RC_EINVAL, "decision 0"},
        {MIN, MIN, 1, 5, 0, "j", RC_EINVAL, "decision 5"},
        {MIN, MIN, 1, RC_DECISION_MISSED, 99, "j", RC_EINVAL, "reason 99"},
        {MIN, MIN, 0, RC_DECISION_MISSED, 0, "j", RC_EINVAL, "inconsistent"},
        {2 * MIN, MIN, 1, RC_DECISION_MISSED, 0, "j", RC_EINVAL, "inconsistent"},
        {MIN, 2 * MIN, 1, RC_DECISION_MISSED, 0, "j", RC_EINVAL, "inconsistent"},
        {MIN, MIN, 2, RC_DECISION_MISSED, 0, "j", RC_EINVAL, "inconsistent"},
        {MIN, 2 * MIN, 2, RC_DECISION_FIRED, 0, "j", RC_EINVAL, "one instant"},
        {MIN, MIN, 1, RC_DECISION_FIRED, 0, "bad name", RC_EINVAL, "job name"},
        {MIN, MIN, 1, RC_DECISION_FIRED, 0, "other", RC_ESTALE, "not found"},
    };
    uint64_t before = fsmDigest(x->f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Raftcron__FireItem it = item(cases[i].name, 1, T0 + cases[i].first, T0 + cases[i].last,
                                     cases[i].count, cases[i].decision);
        it.reason = cases[i].reason;
        struct rc_fsm_result r = fireItems(x, T0 + MIN, &it, 1);
        fxExpectCode(&r, cases[i].code, cases[i].needle);
        assert_int_equal(fsmDigest(x->f), before);
    }
    /* Stale version and paused job. */
    Raftcron__FireItem it = item("j", 2, T0 + MIN, T0 + MIN, 1, RC_DECISION_FIRED);
    struct rc_fsm_result r = fireItems(x, T0 + MIN, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "is at version 1, decided at 2");
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPause("", "j", 0, T0, &buf, &len), 0);
    ok(fxApply(x, buf, len));
    it.job_version = 2;
    r = fireItems(x, T0 + MIN, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "paused");
    /* An empty batch is a successful no-op. */
    r = fireItems(x, T0, NULL, 0);
    fxExpectOk(&r);
    assert_false(r.changed);
}

static void test_manual(void **state)
{
    struct fx *x = *state;
    const Raftcron__Job *job = mkJob(x, "j", NULL);
    uint64_t jid = job->id;
    fire(x, "j", T0 + 10 * MIN);
    /* Backfill of an instant long before the cursor, twice: two runs, cursor unchanged. */
    Raftcron__FireItem it = item("j", 1, T0 - 60 * MIN, T0 - 60 * MIN, 1, RC_DECISION_FIRED);
    it.manual = true;
    it.reason = RC_REASON_MANUAL;
    for (int i = 0; i < 2; i++) {
        struct rc_fsm_result r = fireItems(x, T0 + 11 * MIN, &it, 1);
        fxExpectOk(&r);
        assert_true(run(x, r.run_id)->manual);
        assert_int_equal(run(x, r.run_id)->scheduled_us, T0 - 60 * MIN);
    }
    assert_int_equal(fsmJobGet(x->f, "", "j")->cursor_us, T0 + 10 * MIN);
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(x->f, jid, &n);
    assert_int_equal(n, 3);
    assert_false(runs[0]->manual);
    assert_true(runs[2]->manual); /* newest last: iterate backwards for newest first */
    int active, queued;
    fsmJobActive(x->f, jid, &active, &queued);
    assert_int_equal(active, 3);
    assert_int_equal(queued, 0);
}

static void test_replace_and_queue(void **state)
{
    struct fx *x = *state;
    const Raftcron__Job *job = mkJob(x, "j", NULL);
    uint64_t jid = job->id;
    ok(workerUp(x, 1, T0));
    uint64_t a = fire(x, "j", T0 + MIN);
    struct rc_fsm_result r = assign(x, a, 0, 1, T0 + MIN);
    fxExpectOk(&r);
    /* QUEUE_ONE while busy: the run waits, marked queued. */
    Raftcron__FireItem q = item("j", 1, T0 + 2 * MIN, T0 + 2 * MIN, 1, RC_DECISION_FIRED);
    q.queued = true;
    r = fireItems(x, T0 + 2 * MIN, &q, 1);
    fxExpectOk(&r);
    uint64_t b = r.run_id;
    assert_string_equal(run(x, b)->wait_reason, "queued");
    int active, queued;
    fsmJobActive(x->f, jid, &active, &queued);
    assert_int_equal(active, 2);
    assert_int_equal(queued, 1);
    /* REPLACE: both active runs are cancelled in the same apply as the new fire. */
    Raftcron__FireItem rep = item("j", 1, T0 + 3 * MIN, T0 + 3 * MIN, 1, RC_DECISION_FIRED);
    rep.cancel_active = true;
    r = fireItems(x, T0 + 3 * MIN, &rep, 1);
    fxExpectOk(&r);
    assert_int_equal(r.runs_moved, 2);
    assert_int_equal(run(x, a)->state, RC_RUN_CANCELLED);
    assert_int_equal(run(x, b)->state, RC_RUN_CANCELLED);
    assert_string_equal(run(x, a)->end_reason, "replaced by a newer run");
    assert_int_equal(run(x, r.run_id)->state, RC_RUN_PENDING);
    fsmJobActive(x->f, jid, &active, &queued);
    assert_int_equal(active, 1);
    assert_int_equal(queued, 0);
}

/* ---- Workers ------------------------------------------------------------------------------ */

static void test_workers(void **state)
{
    struct fx *x = *state;
    mkJob(x, "j", NULL);
    struct rc_fsm_result r = workerUp(x, 1, T0);
    fxExpectOk(&r);
    assert_true(r.changed);
    r = workerUp(x, 1, T0 + SEC); /* a re-hello with nothing new */
    fxExpectOk(&r);
    assert_false(r.changed);
    assert_int_equal(fsmWorkerGet(x->f, 1)->since_us, T0);
    ok(workerUp(x, 2, T0));
    uint64_t a = fire(x, "j", T0 + MIN);
    uint64_t b = fire(x, "j", T0 + 2 * MIN);
    uint64_t c = fire(x, "j", T0 + 3 * MIN);
    uint64_t d = fire(x, "j", T0 + 4 * MIN);
    ok(assign(x, a, 0, 1, T0));
    r = assign(x, b, 0, 1, T0);
    fxExpectOk(&r);
    ok(started(x, b, r.fence, T0));
    ok(assign(x, c, 0, 2, T0));
    const Raftcron__Run *sel[8];
    assert_int_equal(fsmRunsSelect(x->f, 1u << RC_RUN_ASSIGNED | 1u << RC_RUN_RUNNING, 1, sel, 8),
                     2);
    assert_int_equal(sel[0]->id, a);
    assert_int_equal(sel[1]->id, b);
    assert_int_equal(fsmRunsSelect(x->f, 1u << RC_RUN_PENDING, 0, sel, 8), 1);
    assert_int_equal(sel[0]->id, d);
    assert_int_equal(fsmRunsSelect(x->f, 0xffff, 0, sel, 1), 4); /* counts beyond max */
    r = workerDown(x, 1, T0 + 5 * MIN);
    fxExpectOk(&r);
    /* b was running there: LOST. a was assigned and never accepted: the worker never started
     * it, so it stays ASSIGNED for the leader to give to another worker (same attempt). */
    assert_int_equal(r.runs_moved, 1);
    assert_int_equal(run(x, a)->state, RC_RUN_ASSIGNED);
    assert_int_equal(run(x, b)->state, RC_RUN_LOST);
    assert_int_equal(run(x, b)->finished_us, T0 + 5 * MIN);
    assert_string_equal(run(x, b)->end_reason, "worker 1 down");
    assert_int_equal(run(x, c)->state, RC_RUN_ASSIGNED);
    uint64_t fence_a = run(x, a)->fence;
    r = assign(x, a, fence_a, 2, T0 + 5 * MIN);
    fxExpectOk(&r);
    assert_int_equal(run(x, a)->worker_id, 2);
    assert_int_equal(run(x, a)->attempt, 1);
    assert_true(run(x, a)->fence > fence_a);
    assert_false(fsmWorkerGet(x->f, 1)->alive);
    /* Down again: nothing to do. Unknown: not found. Assigning to a down worker: stale. */
    r = workerDown(x, 1, T0 + 6 * MIN);
    fxExpectOk(&r);
    assert_false(r.changed);
    r = workerDown(x, 9, T0);
    fxExpectCode(&r, RC_ENOTFOUND, "worker 9 unknown");
    r = assign(x, d, 0, 1, T0);
    fxExpectCode(&r, RC_ESTALE, "worker 1 is down");
    r = assign(x, d, 0, 9, T0);
    fxExpectCode(&r, RC_ENOTFOUND, "worker 9 is unknown");
    /* Back up: alive again, since now. */
    r = workerUp(x, 1, T0 + 7 * MIN);
    fxExpectOk(&r);
    assert_true(fsmWorkerGet(x->f, 1)->alive);
    assert_int_equal(fsmWorkerGet(x->f, 1)->since_us, T0 + 7 * MIN);
    size_t n;
    fsmWorkers(x->f, &n);
    assert_int_equal(n, 2);
    /* Invalid hellos. */
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    w.id = 3;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeWorkerUp(&w, T0, &buf, &len), 0);
    r = fxApply(x, buf, len);
    fxExpectCode(&r, RC_EINVAL, "address");
}

/* Regression (Jepsen, clock,member seed 2): a node removed, wiped and re-added under the same
 * id replayed the log and executed runs its earlier process had finished. Runs carry the
 * incarnation of the worker process they were assigned to; a hello from a new incarnation
 * makes the old one's unfinished runs LOST at once (and the node's worker never executes a run
 * of another incarnation). */
static void test_worker_restart_loses_its_runs(void **state)
{
    struct fx *x = *state;
    mkJob(x, "j", NULL);
    ok(workerUpAs(x, 1, 111, T0));
    uint64_t a = fire(x, "j", T0 + MIN);
    uint64_t b = fire(x, "j", T0 + 2 * MIN);
    uint64_t done = fire(x, "j", T0 + 3 * MIN);
    ok(assign(x, a, 0, 1, T0));
    struct rc_fsm_result r = assign(x, b, 0, 1, T0);
    fxExpectOk(&r);
    ok(started(x, b, r.fence, T0));
    r = assign(x, done, 0, 1, T0);
    ok(started(x, done, r.fence, T0));
    ok(finished(x, done, r.fence, RC_RUN_SUCCEEDED, T0));
    assert_int_equal(run(x, a)->worker_incarnation, 111);
    /* The same process says hello again: nothing moves. */
    r = workerUpAs(x, 1, 111, T0 + SEC);
    fxExpectOk(&r);
    assert_false(r.changed);
    assert_int_equal(run(x, a)->state, RC_RUN_ASSIGNED);
    /* A new process under id 1: what the old one held is lost, what finished stays. */
    r = workerUpAs(x, 1, 222, T0 + 2 * SEC);
    fxExpectOk(&r);
    assert_true(r.changed);
    /* b ran there: LOST. a was never accepted, so never started: it stays assigned to the
     * old incarnation, for the leader to give again (same attempt). */
    assert_int_equal(r.runs_moved, 1);
    assert_int_equal(run(x, a)->state, RC_RUN_ASSIGNED);
    assert_int_equal(run(x, a)->worker_incarnation, 111);
    assert_int_equal(run(x, b)->state, RC_RUN_LOST);
    assert_string_equal(run(x, b)->end_reason, "worker 1 restarted");
    assert_int_equal(run(x, done)->state, RC_RUN_SUCCEEDED);
    assert_true(fsmWorkerGet(x->f, 1)->alive);
    assert_int_equal(fsmWorkerGet(x->f, 1)->incarnation, 222);
    /* New assignments carry the new incarnation. */
    uint64_t c = fire(x, "j", T0 + 4 * MIN);
    ok(assign(x, c, 0, 1, T0 + 3 * SEC));
    assert_int_equal(run(x, c)->worker_incarnation, 222);
}

/* ---- Retry policy in apply ---------------------------------------------------------------- */

static void test_retry_limits(void **state)
{
    struct fx *x = *state;
    struct job_opts two = {.max_attempts = 2};
    struct job_opts amo = {.max_attempts = 3, .at_most_once = true};
    mkJob(x, "j", &two);
    mkJob(x, "k", &amo);
    ok(workerUp(x, 1, T0));
    uint64_t id = fire(x, "j", T0 + MIN);
    uint64_t fence = 0;
    for (int attempt = 1; attempt <= 2; attempt++) {
        struct rc_fsm_result r = assign(x, id, fence, 1, T0 + MIN);
        fxExpectOk(&r);
        fence = r.fence;
        ok(started(x, id, fence, T0 + MIN));
        ok(finished(x, id, fence, RC_RUN_TIMED_OUT, T0 + MIN));
        r = retry(x, id, fence, T0 + MIN, T0 + MIN);
        if (attempt == 1) {
            fxExpectOk(&r);
        } else {
            fxExpectCode(&r, RC_EINVAL, "allows no attempt 3");
        }
    }
    struct rc_fsm_result r =
        runEnd(x, RAFTCRON__COMMAND__CMD_RUN_DEAD, id, fence, "gave up", T0 + 2 * MIN);
    fxExpectOk(&r);
    assert_int_equal(run(x, id)->state, RC_RUN_DEAD);
    assert_string_equal(run(x, id)->end_reason, "gave up");
    const Raftcron__Job *j = fsmJobGet(x->f, "", "j");
    assert_int_equal(j->runs_total, 2);
    assert_int_equal(j->runs_failed, 2);
    assert_string_equal(j->last_outcome, "timed_out");
    /* At-most-once: a lost attempt is final. */
    uint64_t k = fire(x, "k", T0 + MIN);
    r = assign(x, k, 0, 1, T0 + MIN);
    fxExpectOk(&r);
    ok(accepted(x, k, r.fence, T0 + MIN));
    ok(workerDown(x, 1, T0 + MIN));
    assert_int_equal(run(x, k)->state, RC_RUN_LOST);
    r = retry(x, k, r.fence, T0 + MIN, T0 + MIN);
    fxExpectCode(&r, RC_EINVAL, "allows no attempt 2");
}

/* ---- Job delete --------------------------------------------------------------------------- */

static void test_job_delete(void **state)
{
    struct fx *x = *state;
    uint64_t jid = mkJob(x, "j", NULL)->id;
    ok(workerUp(x, 1, T0));
    uint64_t a = fire(x, "j", T0 + MIN);
    uint64_t b = fire(x, "j", T0 + 2 * MIN);
    struct rc_fsm_result r = assign(x, a, 0, 1, T0);
    fxExpectOk(&r);
    uint64_t fence = r.fence;
    ok(runEnd(x, RAFTCRON__COMMAND__CMD_RUN_CANCEL, b, 0, "x", T0));
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobDelete("", "j", 0, T0, &buf, &len), 0);
    r = fxApply(x, buf, len);
    fxExpectOk(&r);
    assert_int_equal(r.runs_moved, 1);
    assert_null(fsmRunGet(x->f, a));
    assert_null(fsmRunGet(x->f, b));
    size_t n;
    assert_null(fsmJobDecisions(x->f, jid, &n));
    assert_int_equal(n, 0);
    struct rc_fsm_ledger_stats st;
    fsmLedgerStats(x->f, &st);
    assert_int_equal(st.runs, 0);
    assert_int_equal(st.runs_dropped, 2);
    assert_int_equal(st.decisions_dropped, 2);
    /* The worker's late report names a run that no longer exists. */
    r = started(x, a, fence, T0);
    fxExpectCode(&r, RC_ENOTFOUND, NULL);
    /* A new job of the same name starts a fresh history; run ids keep increasing. */
    mkJob(x, "j", NULL);
    assert_int_equal(fire(x, "j", T0 + MIN), 3);
}

/* ---- Retention ---------------------------------------------------------------------------- */

static struct rc_fsm_result exportMark(struct fx *x, uint64_t position, bool gate, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeExportMark(position, gate, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

/* One run of job "e" from fire to SUCCEEDED at t; returns its id. */
static uint64_t runToEnd(struct fx *x, int64_t t)
{
    uint64_t id = fire(x, "e", t);
    struct rc_fsm_result r = assign(x, id, 0, 1, t);
    fxExpectOk(&r);
    ok(started(x, id, r.fence, t));
    ok(finished(x, id, r.fence, RC_RUN_SUCCEEDED, t));
    return id;
}

/* The export gate (docs/ledger.md "Export to PostgreSQL"): finished runs get export_seq in the
 * order they finish; with the gate on, retention keeps every run above the exported position,
 * and an ExportMark that moves the position lets retention drop them; marks never go back. */
static void test_export_gate(void **state)
{
    struct fx *x = *state;
    struct job_opts small = {.history_max = 5};
    uint64_t jid = mkJob(x, "e", &small)->id;
    ok(workerUp(x, 1, T0));
    ok(exportMark(x, 0, true, T0)); /* gate on, nothing exported */
    for (int i = 1; i <= 20; i++) {
        runToEnd(x, T0 + i * MIN);
    }
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(x->f, jid, &n);
    assert_int_equal(n, 20); /* held for the export beyond history_max */
    assert_int_equal(runs[0]->export_seq, 1);
    assert_int_equal(runs[19]->export_seq, 20);
    uint64_t pos, last;
    bool gate;
    fsmExportState(x->f, &pos, &last, &gate);
    assert_int_equal(pos, 0);
    assert_int_equal(last, 20);
    assert_true(gate);

    const Raftcron__Run *pend[8];
    assert_int_equal(fsmExportPending(x->f, 0, pend, 8), 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pend[i]->export_seq, (uint64_t)i + 1);
    }
    assert_int_equal(fsmExportPending(x->f, 17, pend, 8), 3);
    assert_int_equal(pend[0]->export_seq, 18);

    /* 12 exported: those may go now (down to history_max), the 8 others stay. */
    ok(exportMark(x, 12, true, T0 + 30 * MIN));
    runs = fsmJobRuns(x->f, jid, &n);
    assert_int_equal(n, 8);
    assert_int_equal(runs[0]->export_seq, 13);
    /* A mark that does not advance is stale; one past the last finished run is invalid. */
    struct rc_fsm_result r = exportMark(x, 12, true, T0 + 30 * MIN);
    fxExpectCode(&r, RC_ESTALE, "not past 12");
    r = exportMark(x, 99, true, T0 + 30 * MIN);
    fxExpectCode(&r, RC_EINVAL, "past the last finished run 20");
    fsmExportState(x->f, &pos, &last, &gate);
    assert_int_equal(pos, 12);

    /* Gate off: ordinary retention again. */
    ok(exportMark(x, 12, false, T0 + 31 * MIN));
    runs = fsmJobRuns(x->f, jid, &n);
    assert_int_equal(n, 5);
    assert_int_equal(runs[0]->export_seq, 16);

    /* Snapshot and restore keep the position, the gate and the sequence. */
    void *snap;
    size_t len;
    assert_int_equal(fsmSnapshot(x->f, &snap, &len), 0);
    struct rc_fsm *g;
    assert_int_equal(fsmCreate(&g), 0);
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(fsmRestore(g, x->index, snap, len, err, sizeof err), 0);
    fsmExportState(g, &pos, &last, &gate);
    assert_int_equal(pos, 12);
    assert_int_equal(last, 20);
    assert_false(gate);
    assert_int_equal(fsmDigest(g), fsmDigest(x->f));
    fsmDestroy(g);
    free(snap);
}

static void test_retention(void **state)
{
    struct fx *x = *state;
    uint64_t jid = mkJob(x, "j", NULL)->id;
    struct job_opts small = {.history_max = 10, .history_age_us = 60 * MIN};
    uint64_t kid = mkJob(x, "k", &small)->id;
    ok(workerUp(x, 1, T0));
    for (int i = 1; i <= 10000; i++) {
        int64_t t = T0 + i * MIN;
        uint64_t id = fire(x, "j", t);
        struct rc_fsm_result r = assign(x, id, 0, 1, t);
        fxExpectOk(&r);
        ok(started(x, id, r.fence, t));
        ok(finished(x, id, r.fence, RC_RUN_SUCCEEDED, t));
        size_t n;
        fsmJobRuns(x->f, jid, &n);
        assert_true(n <= 100);
        fsmJobDecisions(x->f, jid, &n);
        assert_true(n <= 100);
    }
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(x->f, jid, &n);
    assert_int_equal(n, 100);
    assert_int_equal(runs[0]->id, 9901); /* the newest 100 are kept */
    struct rc_fsm_ledger_stats st;
    fsmLedgerStats(x->f, &st);
    assert_int_equal(st.runs_dropped, 9900);
    assert_int_equal(st.decisions_dropped, 9900);
    assert_int_equal(fsmJobGet(x->f, "", "j")->runs_total, 10000);

    /* Unfinished runs are never dropped, whatever the bound. */
    for (int i = 1; i <= 30; i++) {
        fire(x, "k", T0 + i * MIN);
    }
    fsmJobRuns(x->f, kid, &n);
    assert_int_equal(n, 30);
    fsmJobDecisions(x->f, kid, &n);
    assert_int_equal(n, 10);
    /* The age bound: a fire two hours later drops the finished runs and old decisions. */
    const Raftcron__Run *sel[64];
    size_t m = fsmRunsSelect(x->f, 1u << RC_RUN_PENDING, 0, sel, 64);
    assert_int_equal(m, 30);
    uint64_t ids[30];
    for (size_t i = 0; i < m; i++) {
        ids[i] = sel[i]->id;
    }
    for (size_t i = 0; i < 5; i++) {
        ok(runEnd(x, RAFTCRON__COMMAND__CMD_RUN_CANCEL, ids[i], 0, "x", T0 + 31 * MIN));
    }
    fsmJobRuns(x->f, kid, &n);
    assert_int_equal(n, 30); /* 5 finished <= 10 */
    fire(x, "k", T0 + 200 * MIN);
    fsmJobRuns(x->f, kid, &n);
    assert_int_equal(n, 26); /* 25 pending + the new one */
    Raftcron__Decision *const *d = fsmJobDecisions(x->f, kid, &n);
    assert_int_equal(n, 1);
    assert_int_equal(d[0]->first_us, T0 + 200 * MIN);
}

/* ---- Snapshots ---------------------------------------------------------------------------- */

static void fillLedger(struct fx *x)
{
    struct job_opts o = {.max_attempts = 3};
    mkJob(x, "a", &o);
    mkJob(x, "b", NULL);
    ok(workerUp(x, 7, T0));
    ok(workerUp(x, 3, T0));
    uint64_t r1 = fire(x, "a", T0 + MIN);
    uint64_t r2 = fire(x, "b", T0 + MIN);
    fire(x, "a", T0 + 2 * MIN);
    Raftcron__FireItem missed = item("b", 1, T0 + 2 * MIN, T0 + 4 * MIN, 3, RC_DECISION_MISSED);
    ok(fireItems(x, T0 + 5 * MIN, &missed, 1));
    struct rc_fsm_result r = assign(x, r1, 0, 7, T0 + MIN);
    fxExpectOk(&r);
    ok(started(x, r1, r.fence, T0 + MIN));
    Raftcron__Outcome o2 = RAFTCRON__OUTCOME__INIT;
    o2.error = "boom";
    void *buf;
    size_t len;
    assert_int_equal(
        commandEncodeRunFinished(r1, r.fence, RC_RUN_FAILED, &o2, T0 + 2 * MIN, &buf, &len), 0);
    ok(fxApply(x, buf, len));
    ok(retry(x, r1, r.fence, T0 + 3 * MIN, T0 + 2 * MIN));
    ok(assign(x, r2, 0, 3, T0 + MIN));
}

static void snap(struct rc_fsm *f, void **buf, size_t *len)
{
    assert_int_equal(fsmSnapshot(f, buf, len), 0);
}

static void test_snapshot(void **state)
{
    struct fx *x = *state;
    fillLedger(x);
    void *a;
    size_t alen;
    snap(x->f, &a, &alen);
    struct rc_fsm *g;
    assert_int_equal(fsmCreate(&g), 0);
    char err[RC_ERRMSG_SIZE];
    if (fsmRestore(g, 5, a, alen, err, sizeof err) != 0) {
        fail_msg("restore: %s", err);
    }
    assert_int_equal(fsmDigest(g), fsmDigest(x->f));
    void *b;
    size_t blen;
    snap(g, &b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    const Raftcron__Run *r1 = fsmRunGet(g, 1);
    assert_non_null(r1);
    assert_int_equal(r1->state, RC_RUN_RETRY_WAIT);
    assert_int_equal(r1->attempt, 2);
    assert_string_equal(r1->outcome->error, "boom");
    struct rc_fsm_ledger_stats s1, s2;
    fsmLedgerStats(x->f, &s1);
    fsmLedgerStats(g, &s2);
    assert_memory_equal(&s1, &s2, sizeof s1);
    assert_int_equal(s2.runs, 3);
    assert_int_equal(s2.decisions, 4);
    assert_int_equal(s2.workers, 2);
    /* Both continue identically: fences and ids from the restored counters. */
    struct fx y = {.f = g, .index = 5};
    struct rc_fsm_result ra = assign(x, 3, 0, 7, T0 + 3 * MIN);
    struct rc_fsm_result rb = assign(&y, 3, 0, 7, T0 + 3 * MIN);
    fxExpectOk(&ra);
    assert_int_equal(ra.fence, rb.fence);
    assert_int_equal(ra.fence, 3);
    assert_int_equal(fsmDigest(g), fsmDigest(x->f));
    free(a);
    free(b);
    fsmDestroy(g);
}

typedef void (*mutator)(Raftcron__Snapshot *s);

static void mState(Raftcron__Snapshot *s)
{
    s->runs[0]->state = 11;
}
static void mFence(Raftcron__Snapshot *s)
{
    s->runs[0]->fence = s->fence_seq + 1;
}
static void mRunId(Raftcron__Snapshot *s)
{
    s->runs[2]->id = s->run_seq + 1;
}
static void mDupRun(Raftcron__Snapshot *s)
{
    s->runs[2]->id = s->runs[0]->id; /* another job's run: order holds, the id repeats */
}
static void mRunOrder(Raftcron__Snapshot *s)
{
    Raftcron__Run *t = s->runs[0];
    s->runs[0] = s->runs[1];
    s->runs[1] = t;
}
static void mRunJob(Raftcron__Snapshot *s)
{
    s->runs[2]->job_id = 99;
}
static void mAttempt(Raftcron__Snapshot *s)
{
    s->runs[0]->attempt = 0;
}
static void mDecId(Raftcron__Snapshot *s)
{
    s->decisions[0]->id = s->decision_seq + 1;
}
static void mDecKind(Raftcron__Snapshot *s)
{
    s->decisions[0]->decision = 0;
}
static void mDecOrder(Raftcron__Snapshot *s)
{
    s->decisions[1]->id = s->decisions[0]->id;
}
static void mWorkerOrder(Raftcron__Snapshot *s)
{
    s->workers[1]->id = s->workers[0]->id;
}
static void mWorkerAddr(Raftcron__Snapshot *s)
{
    s->workers[0]->address = "";
}

static void test_restore_rejects(void **state)
{
    struct fx *x = *state;
    fillLedger(x);
    void *buf;
    size_t len;
    snap(x->f, &buf, &len);
    static const struct {
        mutator m;
        const char *needle;
    } cases[] = {
        {mState, "unknown state 11"},
        {mFence, "above fence_seq"},
        {mRunId, "outside 1-3 (run_seq)"},
        {mDupRun, "run id 1 used twice"},
        {mRunOrder, "out of (job, id) order"},
        {mRunJob, "belongs to no job"},
        {mAttempt, "lacks an attempt"},
        {mDecId, "outside 1-4 (decision_seq)"},
        {mDecKind, "malformed"},
        {mDecOrder, "out of (job, id) order"},
        {mWorkerOrder, "not in increasing id order"},
        {mWorkerAddr, "address of 0 characters"},
    };
    struct rc_fsm *victim;
    assert_int_equal(fsmCreate(&victim), 0);
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(fsmRestore(victim, 1, buf, len, err, sizeof err), 0);
    uint64_t digest = fsmDigest(victim);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ProtobufCMessage *msg;
        assert_int_equal(commandUnpack(&raftcron__snapshot__descriptor, buf, len - 9, &msg), 0);
        Raftcron__Snapshot *s = (Raftcron__Snapshot *)msg;
        assert_int_equal(s->n_runs, 3);
        assert_int_equal(s->n_decisions, 4);
        char *addr = s->workers[0]->address;
        cases[i].m(s);
        void *body;
        size_t blen;
        assert_int_equal(commandPack(msg, &body, &blen), 0);
        s->workers[0]->address = addr;
        protobuf_c_message_free_unpacked(msg, NULL);
        void *sealed;
        size_t slen;
        assert_int_equal(fsmSnapshotSeal(body, blen, &sealed, &slen), 0);
        int rv = fsmRestore(victim, 9, sealed, slen, err, sizeof err);
        if (rv != RC_ECORRUPT || strstr(err, cases[i].needle) == NULL) {
            fail_msg("case %zu: got %s '%s', want '%s'", i, rc_errname(rv), err, cases[i].needle);
        }
        assert_int_equal(fsmDigest(victim), digest);
        assert_int_equal(fsmAppliedIndex(victim), 1);
        free(body);
        free(sealed);
    }
    fsmDestroy(victim);
    free(buf);
}

/* ---- Property: random commands, two replicas, invariants ---------------------------------- */

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct prop {
    struct fx a;
    struct fx b;
    uint64_t max_fence;
};

static void applyBoth(struct prop *p, void *buf, size_t len)
{
    void *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    struct rc_fsm_result ra = fxApply(&p->a, buf, len);
    struct rc_fsm_result rb = fxApply(&p->b, copy, len);
    assert_int_equal(ra.code, rb.code);
    assert_int_equal(ra.changed, rb.changed);
    if (ra.fence != 0) {
        assert_true(ra.fence > p->max_fence);
        p->max_fence = ra.fence;
    }
}

static void checkInvariants(struct rc_fsm *f)
{
    struct rc_fsm_ledger_stats st;
    fsmLedgerStats(f, &st);
    for (size_t j = 0; j < fsmJobCount(f); j++) {
        const Raftcron__Job *job = fsmJobAt(f, j);
        size_t n;
        Raftcron__Decision *const *d = fsmJobDecisions(f, job->id, &n);
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            assert_true(i == 0 || d[i]->id > d[i - 1]->id);
            if (d[i]->manual) {
                continue;
            }
            assert_true(d[i]->first_us > last); /* one decision per instant */
            last = d[i]->last_us;
            assert_true(last <= job->cursor_us);
        }
        Raftcron__Run *const *r = fsmJobRuns(f, job->id, &n);
        for (size_t i = 0; i < n; i++) {
            assert_true(runsStateValid(r[i]->state));
            assert_true(r[i]->fence <= st.fence_seq);
            assert_true(r[i]->id <= st.run_seq);
            assert_true(r[i]->attempt >= 1 && r[i]->attempt <= 3);
            /* A worker may hold what it accepted or runs only while alive (an assignment it
             * never accepted may wait on a down worker for the leader to move it). */
            if ((r[i]->state == RC_RUN_ASSIGNED && r[i]->accepted_us != 0) ||
                r[i]->state == RC_RUN_RUNNING) {
                const Raftcron__Worker *w = fsmWorkerGet(f, r[i]->worker_id);
                assert_non_null(w);
                assert_true(w->alive);
            }
        }
    }
    /* The per-job count of unfinished runs (which lets a select for unfinished states skip
     * jobs) agrees with the runs themselves: the fast select equals a filtered slow one. */
    uint32_t unfinished = 0;
    for (uint32_t s = RC_RUN_PENDING; s < RC_RUN__COUNT; s++) {
        unfinished |= runsStateFinished(s) ? 0 : UINT32_C(1) << s;
    }
    static const Raftcron__Run *fast[4096], *slow[4096];
    size_t nf = fsmRunsSelect(f, unfinished, 0, fast, 4096);
    size_t ns = fsmRunsSelect(f, unfinished | UINT32_C(1) << RC_RUN_SUCCEEDED, 0, slow, 4096);
    assert_true(nf <= 4096 && ns <= 4096);
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        if (slow[i]->state != RC_RUN_SUCCEEDED) {
            assert_true(k < nf);
            assert_ptr_equal(slow[i], fast[k]);
            k++;
        }
    }
    assert_int_equal(k, nf);
}

static void randomCommand(struct prop *p, uint64_t *seed, int64_t now)
{
    static const char *const names[] = {"a", "b", "c"};
    void *buf = NULL;
    size_t len = 0;
    uint64_t run_id = 1 + rng(seed) % 40;
    const Raftcron__Run *r = fsmRunGet(p->a.f, run_id);
    /* Mostly the right fence, sometimes an old one. */
    uint64_t fence = r != NULL && rng(seed) % 4 != 0 ? r->fence : rng(seed) % 8;
    uint32_t op = (uint32_t)(rng(seed) % 13);
    switch (op) {
    case 11:
        assert_int_equal(commandEncodeRunAccept(run_id, fence, now, &buf, &len), 0);
        break;
    case 12: {
        /* A group commit: an assignment and its acceptance in one entry. */
        struct command_batch batch;
        commandBatchInit(&batch);
        void *one;
        size_t n1;
        uint64_t worker = 1 + rng(seed) % 3;
        assert_int_equal(commandEncodeRunAssign(run_id, fence, worker, now, &one, &n1), 0);
        assert_int_equal(commandBatchAdd(&batch, one, n1), 0);
        free(one);
        assert_int_equal(commandEncodeRunAccept(run_id, fence + 1, now, &one, &n1), 0);
        assert_int_equal(commandBatchAdd(&batch, one, n1), 0);
        free(one);
        assert_int_equal(commandBatchFinish(&batch, &buf, &len), 0);
        commandBatchClose(&batch);
        break;
    }
    case 0:
    case 1: {
        const char *name = names[rng(seed) % 3];
        const Raftcron__Job *job = fsmJobGet(p->a.f, "", name);
        int64_t base = job != NULL ? job->cursor_us : T0;
        int64_t first = base + ((int64_t)(rng(seed) % 5) - 1) * MIN; /* sometimes stale */
        uint64_t count = 1 + rng(seed) % 3;
        enum rc_decision d = count > 1 ? RC_DECISION_MISSED : RC_DECISION_FIRED;
        Raftcron__FireItem it = item(name, job != NULL ? job->version : 1, first,
                                     first + (int64_t)(count - 1) * MIN, count, d);
        it.manual = rng(seed) % 8 == 0;
        it.cancel_active = rng(seed) % 8 == 0;
        it.worker_id = rng(seed) % 2 == 0 ? 1 + rng(seed) % 4 : 0; /* 4: never a worker */
        Raftcron__FireItem *ptrs[1] = {&it};
        assert_int_equal(commandEncodeFireBatch(now, ptrs, 1, &buf, &len), 0);
        break;
    }
    case 2:
        assert_int_equal(commandEncodeRunAssign(run_id, fence, 1 + rng(seed) % 3, now, &buf, &len),
                         0);
        break;
    case 3:
        assert_int_equal(commandEncodeRunStarted(run_id, fence, now, &buf, &len), 0);
        break;
    case 4:
        assert_int_equal(commandEncodeRunFinished(run_id, fence,
                                                  RC_RUN_SUCCEEDED + (uint32_t)(rng(seed) % 3),
                                                  NULL, now, &buf, &len),
                         0);
        break;
    case 5:
        assert_int_equal(commandEncodeRunRetry(run_id, fence, now, now, &buf, &len), 0);
        break;
    case 6:
    case 7: {
        static const Raftcron__Command__CmdCase k[] = {RAFTCRON__COMMAND__CMD_RUN_DEAD,
                                                       RAFTCRON__COMMAND__CMD_RUN_LOST,
                                                       RAFTCRON__COMMAND__CMD_RUN_CANCEL};
        assert_int_equal(commandEncodeRunEnd(k[rng(seed) % 3], run_id, fence, "r", now, &buf, &len),
                         0);
        break;
    }
    case 8: {
        Raftcron__Worker w = RAFTCRON__WORKER__INIT;
        w.id = 1 + rng(seed) % 3;
        w.address = "h:1";
        assert_int_equal(commandEncodeWorkerUp(&w, now, &buf, &len), 0);
        break;
    }
    case 9:
        assert_int_equal(commandEncodeWorkerDown(1 + rng(seed) % 3, now, &buf, &len), 0);
        break;
    default: {
        const char *name = names[rng(seed) % 3];
        if (rng(seed) % 4 == 0) {
            assert_int_equal(commandEncodeJobDelete("", name, 0, now, &buf, &len), 0);
        } else {
            mkJob(&p->a, name, &(struct job_opts){.max_attempts = 3, .history_max = 5});
            mkJob(&p->b, name, &(struct job_opts){.max_attempts = 3, .history_max = 5});
            return;
        }
        break;
    }
    }
    applyBoth(p, buf, len);
}

static void test_property(void **state)
{
    (void)state;
    for (uint64_t round = 1; round <= 20; round++) {
        struct prop p = {0};
        assert_int_equal(fsmCreate(&p.a.f), 0);
        assert_int_equal(fsmCreate(&p.b.f), 0);
        uint64_t seed = round * UINT64_C(0x9e3779b97f4a7c15);
        int64_t now = T0;
        for (int step = 0; step < 400; step++) {
            now += (int64_t)(rng(&seed) % 30) * SEC;
            randomCommand(&p, &seed, now);
            assert_int_equal(fsmDigest(p.a.f), fsmDigest(p.b.f));
            checkInvariants(p.a.f);
            if (step % 100 == 99) {
                /* Replica b catches up from a snapshot of a: still the same state. */
                void *s;
                size_t n;
                snap(p.a.f, &s, &n);
                char err[RC_ERRMSG_SIZE];
                if (fsmRestore(p.b.f, p.b.index, s, n, err, sizeof err) != 0) {
                    fail_msg("restore: %s", err);
                }
                free(s);
                assert_int_equal(fsmDigest(p.a.f), fsmDigest(p.b.f));
            }
        }
        fsmDestroy(p.a.f);
        fsmDestroy(p.b.f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_move),
        cmocka_unit_test_setup_teardown(test_stale_fence, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_exactly_once, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_bad_items, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_manual, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_replace_and_queue, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_workers, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_retry_limits, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_job_delete, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_retention, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_export_gate, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_worker_restart_loses_its_runs, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_snapshot, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_restore_rejects, fxSetup, fxTeardown),
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
