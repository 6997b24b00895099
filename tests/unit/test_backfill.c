/* Backfill (src/core/backfill.h, docs/misfire.md "Backfill"): the leader's plan — instants in
 * range, bounds, the overlap policy as for scheduled fires, already-decided instants, the
 * history floor — and the apply side through fsmApply: all or nothing, exactly once per
 * (job, instant), paused jobs, retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/backfill.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "fixture_fsm.h"
#include "core/policy.h"
#include "core/runs.h"
#include "core/trigger.h"

#define T0    INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC   INT64_C(1000000)
#define MIN   (60 * SEC)
#define HOUR  (60 * MIN)
#define AT(k) (T0 + (k)*5 * MIN) /* the k-th instant of the 5-minute cron after T0 */

/* ---- The plan from explicit inputs ---------------------------------------------------------- */

struct pin {
    struct rc_trigger t;
    struct rc_policy p;
    struct rc_backfill_input in;
};

static void pinInit(struct pin *x, enum rc_overlap overlap, int max_instances)
{
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(triggerInitCron(&x->t, "*/5 * * * *", "", 0, err, sizeof err), 0);
    policyDefaults(&x->p);
    x->p.overlap = overlap;
    x->p.max_instances = max_instances;
    memset(&x->in, 0, sizeof x->in);
    x->in.trigger = &x->t;
    x->in.policy = &x->p;
    x->in.job_key = "default/j";
    x->in.cursor_us = AT(100); /* everything of the tests is decided by the schedule's time */
    x->in.history_floor_us = INT64_MIN;
    x->in.from_us = AT(0) + 1; /* (T0, T0 + 1h]: 12 instants, 00:05 … 01:00 */
    x->in.to_us = AT(12);
    x->in.now_us = AT(12) + SEC;
}

static void plan(struct pin *x, struct rc_backfill_plan *p)
{
    char err[RC_ERRMSG_SIZE] = "";
    int rv = backfillDecide(&x->in, p, err, sizeof err);
    if (rv != 0) {
        fail_msg("backfillDecide: %s: %s", rc_errname(rv), err);
    }
}

static void planFails(struct pin *x, int code, const char *needle)
{
    struct rc_backfill_plan p;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = backfillDecide(&x->in, &p, err, sizeof err);
    if (rv != code || strstr(err, needle) == NULL) {
        fail_msg("expected %s with '%s', got %s: '%s'", rc_errname(code), needle, rc_errname(rv),
                 err);
    }
    assert_null(p.instants);
    assert_int_equal(p.n_instants, 0);
}

/* "F" fired, "Q" fired queued, "R" fired replacing, "S" skipped, "D" decided, "X" dropped,
 * "L" left to the schedule: one letter per instant. */
static void expectOutcomes(const struct rc_backfill_plan *p, const char *want)
{
    char got[RC_BACKFILL_LIMIT_MAX + 1];
    size_t n = 0;
    for (; n < p->n_instants && n < RC_BACKFILL_LIMIT_MAX; n++) {
        const struct rc_backfill_instant *x = &p->instants[n];
        switch (x->outcome) {
        case RC_BACKFILL_FIRED:
            got[n] = x->queued ? 'Q' : x->cancel_active ? 'R' : 'F';
            break;
        case RC_BACKFILL_SKIPPED:
            got[n] = 'S';
            break;
        case RC_BACKFILL_DECIDED:
            got[n] = 'D';
            break;
        case RC_BACKFILL_DROPPED:
            got[n] = 'X';
            break;
        case RC_BACKFILL_SCHEDULED:
            got[n] = 'L';
            break;
        default:
            got[n] = '?';
        }
    }
    got[n] = '\0';
    assert_string_equal(got, want);
}

static void test_range(void **state)
{
    (void)state;
    struct pin x;
    pinInit(&x, RC_OVERLAP_ALLOW, 100);
    struct rc_backfill_plan p;
    plan(&x, &p);
    assert_int_equal(p.n_instants, 12);
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(p.instants[i].at_us, AT(i + 1));
    }
    assert_int_equal(p.n_fired, 12);
    assert_int_equal(p.n_recs, 12);
    backfillPlanFree(&p);

    /* Both ends are included. */
    x.in.from_us = AT(0);
    plan(&x, &p);
    assert_int_equal(p.n_instants, 13);
    assert_int_equal(p.instants[0].at_us, AT(0));
    backfillPlanFree(&p);

    /* to = now is the past; an empty range plans nothing. */
    x.in.to_us = x.in.now_us = AT(12);
    plan(&x, &p);
    assert_int_equal(p.n_instants, 13);
    backfillPlanFree(&p);
    x.in.from_us = AT(1) + 1;
    x.in.to_us = AT(2) - 1;
    plan(&x, &p);
    assert_int_equal(p.n_instants, 0);
    assert_int_equal(p.n_recs, 0);
    backfillPlanFree(&p);
}

static void test_bounds(void **state)
{
    (void)state;
    struct pin x;
    pinInit(&x, RC_OVERLAP_ALLOW, 100);
    /* The future. */
    x.in.to_us = x.in.now_us + 1;
    planFails(&x, RC_ERANGE, "is in the future");
    x.in.to_us = AT(12);
    /* Reversed. */
    x.in.from_us = AT(13);
    planFails(&x, RC_EINVAL, "is after to");
    /* More instants than the limit: refused whole, naming both numbers. */
    x.in.from_us = AT(0) + 1;
    x.in.limit = 11;
    planFails(&x, RC_ETOOBIG, "holds 12 instants of the job's schedule, more than the limit 11");
    x.in.limit = 12;
    struct rc_backfill_plan p;
    plan(&x, &p);
    assert_int_equal(p.n_instants, 12);
    backfillPlanFree(&p);
    /* The default limit is the maximum: five days of a 5-minute schedule is 1440 instants. */
    x.in.limit = 0;
    x.in.from_us = AT(12) - 5 * 24 * HOUR + 1;
    planFails(&x, RC_ETOOBIG,
              "holds 1440 instants of the job's schedule, more than the limit 1000");
    x.in.from_us = AT(12) - 1000 * 5 * MIN + 1;
    x.in.cursor_us = AT(12);
    plan(&x, &p);
    assert_int_equal(p.n_instants, RC_BACKFILL_LIMIT_MAX);
    backfillPlanFree(&p);
    x.in.limit = RC_BACKFILL_LIMIT_MAX + 1;
    planFails(&x, RC_EINVAL, "above the maximum 1000");
}

/* The backfill's judgement equals the scheduler's for the same instants caught up at once with
 * unlimited grace and no coalescing (docs/misfire.md "Overlap policies"). */
static void sameAsScheduler(struct pin *x, const struct rc_backfill_plan *p)
{
    struct rc_policy pol = x->p;
    pol.misfire_grace_us = -1;
    pol.coalesce = false;
    struct rc_policy_input in = {
        .trigger = &x->t,
        .policy = &pol,
        .job_key = "default/j",
        .cursor_us = x->in.from_us - 1,
        .now_us = x->in.to_us,
        .active_runs = x->in.active_runs,
        .queued_runs = x->in.queued_runs,
    };
    struct rc_decision_rec recs[32];
    size_t n;
    int64_t cursor;
    assert_int_equal(policyDecide(&in, recs, 32, &n, &cursor), 0);
    assert_int_equal(n, p->n_recs);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(recs[i].decision, p->recs[i].decision);
        assert_int_equal(recs[i].reason, p->recs[i].reason);
        assert_int_equal(recs[i].first_us, p->recs[i].first_us);
        assert_int_equal(recs[i].last_us, p->recs[i].last_us);
        assert_int_equal(recs[i].count, p->recs[i].count);
        assert_int_equal(recs[i].cancel_active, p->recs[i].cancel_active);
        assert_int_equal(recs[i].queued, p->recs[i].queued);
        assert_int_equal(p->recs[i].start_at_us, x->in.now_us);
    }
}

static void checkPolicy(enum rc_overlap o, int max, int active, int queued, const char *want,
                        enum rc_reason skip_reason)
{
    struct pin x;
    pinInit(&x, o, max);
    x.in.active_runs = active;
    x.in.queued_runs = queued;
    struct rc_backfill_plan p;
    plan(&x, &p);
    expectOutcomes(&p, want);
    for (size_t i = 0; i < p.n_instants; i++) {
        if (p.instants[i].outcome == RC_BACKFILL_SKIPPED) {
            assert_int_equal(p.instants[i].reason, skip_reason);
        }
    }
    sameAsScheduler(&x, &p);
    backfillPlanFree(&p);
}

static void test_overlap_policies(void **state)
{
    (void)state;
    checkPolicy(RC_OVERLAP_ALLOW, 100, 0, 0, "FFFFFFFFFFFF", RC_REASON_NONE);
    checkPolicy(RC_OVERLAP_ALLOW, 2, 0, 0, "FFSSSSSSSSSS", RC_REASON_MAX_INSTANCES);
    checkPolicy(RC_OVERLAP_ALLOW, 2, 1, 0, "FSSSSSSSSSSS", RC_REASON_MAX_INSTANCES);
    checkPolicy(RC_OVERLAP_ALLOW, 1, 1, 0, "SSSSSSSSSSSS", RC_REASON_MAX_INSTANCES);
    checkPolicy(RC_OVERLAP_SKIP, 1, 0, 0, "FSSSSSSSSSSS", RC_REASON_OVERLAP);
    checkPolicy(RC_OVERLAP_SKIP, 1, 1, 0, "SSSSSSSSSSSS", RC_REASON_OVERLAP);
    checkPolicy(RC_OVERLAP_REPLACE, 1, 0, 0, "FRRRRRRRRRRR", RC_REASON_NONE);
    checkPolicy(RC_OVERLAP_REPLACE, 1, 1, 0, "RRRRRRRRRRRR", RC_REASON_NONE);
    checkPolicy(RC_OVERLAP_QUEUE_ONE, 1, 0, 0, "FQSSSSSSSSSS", RC_REASON_QUEUE_FULL);
    checkPolicy(RC_OVERLAP_QUEUE_ONE, 1, 1, 0, "QSSSSSSSSSSS", RC_REASON_QUEUE_FULL);
    checkPolicy(RC_OVERLAP_QUEUE_ONE, 1, 2, 1, "SSSSSSSSSSSS", RC_REASON_QUEUE_FULL);
}

static Raftcron__Decision *rec(Raftcron__Decision *d, uint64_t id, int64_t first, int64_t last,
                               uint64_t count, enum rc_decision what)
{
    raftcron__decision__init(d);
    d->id = id;
    d->first_us = first;
    d->last_us = last;
    d->count = count;
    d->decision = what;
    return d;
}

static void test_already_decided(void **state)
{
    (void)state;
    Raftcron__Decision d[4];
    Raftcron__Decision *decs[4] = {
        rec(&d[0], 7, AT(3), AT(3), 1, RC_DECISION_FIRED),
        rec(&d[1], 8, AT(6), AT(8), 3, RC_DECISION_MISSED),
        rec(&d[2], 9, AT(10) + 17 * SEC, AT(10) + 17 * SEC, 1, RC_DECISION_FIRED), /* run-now */
        rec(&d[3], 10, AT(20), AT(30), 11, RC_DECISION_SKIPPED), /* outside the range */
    };
    struct pin x;
    pinInit(&x, RC_OVERLAP_ALLOW, 100);
    x.in.decisions = decs;
    x.in.n_decisions = 4;
    struct rc_backfill_plan p;
    plan(&x, &p);
    expectOutcomes(&p, "FFDFFDDDFFFF");
    assert_int_equal(p.instants[2].decision_id, 7);
    assert_int_equal(p.instants[2].decision, RC_DECISION_FIRED);
    assert_int_equal(p.instants[6].decision_id, 8);
    assert_int_equal(p.instants[6].decision, RC_DECISION_MISSED);
    assert_int_equal(p.n_decided, 4);
    assert_int_equal(p.n_fired, 8);
    assert_int_equal(p.n_recs, 8);
    backfillPlanFree(&p);

    /* Skipped instants become ranges, split at every record between them (the run-now at
     * 00:50:17 lies between 00:50 and 00:55), so that no range of the entry covers a decided
     * instant or record. */
    x.p.overlap = RC_OVERLAP_SKIP;
    x.in.active_runs = 1;
    plan(&x, &p);
    expectOutcomes(&p, "SSDSSDDDSSSS");
    assert_int_equal(p.n_recs, 4);
    int64_t want[4][2] = {{AT(1), AT(2)}, {AT(4), AT(5)}, {AT(9), AT(10)}, {AT(11), AT(12)}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(p.recs[i].decision, RC_DECISION_SKIPPED);
        assert_int_equal(p.recs[i].first_us, want[i][0]);
        assert_int_equal(p.recs[i].last_us, want[i][1]);
        assert_int_equal(p.recs[i].count, 2);
        assert_null(backfillCovering(decs, 4, p.recs[i].first_us, p.recs[i].last_us));
    }
    backfillPlanFree(&p);

    /* The overlap count runs across segments: allow 3 fires the first three free instants. */
    x.p.overlap = RC_OVERLAP_ALLOW;
    x.p.max_instances = 3;
    x.in.active_runs = 0;
    plan(&x, &p);
    expectOutcomes(&p, "FFDFSDDDSSSS");
    backfillPlanFree(&p);
}

static void test_floor_and_cursor(void **state)
{
    (void)state;
    struct pin x;
    pinInit(&x, RC_OVERLAP_ALLOW, 100);
    /* Retention dropped records up to 00:20: whether 00:05 … 00:20 ran is unknown. */
    x.in.history_floor_us = AT(4);
    struct rc_backfill_plan p;
    plan(&x, &p);
    expectOutcomes(&p, "XXXXFFFFFFFF");
    assert_int_equal(p.n_dropped, 4);
    backfillPlanFree(&p);
    /* An active job's instants after its cursor are the scheduler's; a paused job's are not. */
    x.in.history_floor_us = INT64_MIN;
    x.in.cursor_us = AT(10);
    plan(&x, &p);
    expectOutcomes(&p, "FFFFFFFFFFLL");
    assert_int_equal(p.n_scheduled, 2);
    backfillPlanFree(&p);
    x.in.paused = true;
    plan(&x, &p);
    expectOutcomes(&p, "FFFFFFFFFFFF");
    backfillPlanFree(&p);
}

/* ---- Through the FSM: what apply records ---------------------------------------------------- */

struct job_opts {
    bool paused;
    uint32_t max_instances;
    uint32_t history_max;
    int64_t created_us;
};

static const Raftcron__Job *mkJob(struct fx *x, const char *name, const struct job_opts *o)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    spec.name = (char *)name;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = "*/5 * * * *";
    sh.command = "true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    pol.misfire_grace_us = MIN;
    pol.coalesce = true;
    pol.max_instances = o->max_instances;
    pol.history_max = o->history_max;
    spec.trigger = &tr;
    spec.executor = &ex;
    spec.policy = &pol;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(&spec, 0, true, o->paused, o->created_us, &buf, &len), 0);
    struct rc_fsm_result res = fxApply(x, buf, len);
    fxExpectOk(&res);
    return fsmJobGet(x->f, "", name);
}

/* Plan a backfill of [from, to] at now and apply its entry. */
static struct rc_fsm_result backfill(struct fx *x, const char *name, int64_t from, int64_t to,
                                     int64_t now, struct rc_backfill_plan *p)
{
    const Raftcron__Job *job = fsmJobGet(x->f, "", name);
    char err[RC_ERRMSG_SIZE];
    int rv = backfillPlan(x->f, job, from, to, now, 0, p, err, sizeof err);
    if (rv != 0) {
        fail_msg("backfillPlan: %s", err);
    }
    void *buf;
    size_t len;
    assert_int_equal(backfillEncode(job, p, now, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static size_t runCount(struct fx *x, const char *name)
{
    size_t n;
    fsmJobRuns(x->f, fsmJobGet(x->f, "", name)->id, &n);
    return n;
}

static void test_apply_exactly_once(void **state)
{
    struct fx *x = *state;
    /* A paused job created at 01:00 with room for every run: its past hour, 12 instants. */
    struct job_opts o = {.paused = true, .max_instances = 20, .created_us = AT(12)};
    mkJob(x, "j", &o);
    int64_t now = AT(12) + SEC;
    struct rc_backfill_plan p;
    struct rc_fsm_result r = backfill(x, "j", AT(0) + 1, AT(12), now, &p);
    fxExpectOk(&r);
    assert_int_equal(r.items_applied, 12);
    assert_int_equal(r.runs_created, 12);
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(x->f, fsmJobGet(x->f, "", "j")->id, &n);
    assert_int_equal(n, 12);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(runs[i]->id, r.run_id + i);
        assert_int_equal(runs[i]->scheduled_us, AT(i + 1));
        assert_true(runs[i]->manual);
        assert_true(runs[i]->backfill);
        assert_int_equal(runs[i]->state, RC_RUN_PENDING);
        assert_int_equal(runs[i]->start_at_us, now);
    }
    Raftcron__Decision *const *decs = fsmJobDecisions(x->f, fsmJobGet(x->f, "", "j")->id, &n);
    assert_int_equal(n, 12);
    assert_true(decs[0]->backfill && decs[0]->manual);
    assert_int_equal(decs[0]->reason, RC_REASON_MANUAL);
    assert_int_equal(fsmJobGet(x->f, "", "j")->cursor_us, AT(12)); /* unchanged: not after it */

    /* The same entry again (a repeated proposal): refused whole, nothing recorded. */
    void *buf;
    size_t len;
    assert_int_equal(backfillEncode(fsmJobGet(x->f, "", "j"), &p, now, &buf, &len), 0);
    uint64_t digest = fsmDigest(x->f);
    r = fxApply(x, buf, len);
    fxExpectCode(&r, RC_ESTALE, "already decided");
    assert_int_equal(r.items_rejected, 12);
    assert_int_equal(r.items_applied, 0);
    assert_false(r.changed);
    assert_int_equal(fsmDigest(x->f), digest);
    backfillPlanFree(&p);

    /* The same backfill planned again: every instant is decided, nothing to write. */
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(backfillPlan(x->f, fsmJobGet(x->f, "", "j"), AT(0) + 1, AT(12), now + SEC, 0,
                                  &p, err, sizeof err),
                     0);
    assert_int_equal(p.n_decided, 12);
    assert_int_equal(p.n_recs, 0);
    assert_int_equal(backfillEncode(fsmJobGet(x->f, "", "j"), &p, now, &buf, &len), RC_EINVAL);
    backfillPlanFree(&p);
    assert_int_equal(runCount(x, "j"), 12);
}

static void test_apply_all_or_nothing(void **state)
{
    struct fx *x = *state;
    struct job_opts o = {.paused = true, .max_instances = 20, .created_us = AT(12)};
    mkJob(x, "j", &o);
    int64_t now = AT(12) + SEC;
    /* A plan for the hour, made before someone backfilled 00:30 alone. */
    struct rc_backfill_plan hour;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(backfillPlan(x->f, fsmJobGet(x->f, "", "j"), AT(0) + 1, AT(12), now, 0, &hour,
                                  err, sizeof err),
                     0);
    struct rc_backfill_plan one;
    struct rc_fsm_result r = backfill(x, "j", AT(6), AT(6), now, &one);
    fxExpectOk(&r);
    backfillPlanFree(&one);
    void *buf;
    size_t len;
    assert_int_equal(backfillEncode(fsmJobGet(x->f, "", "j"), &hour, now, &buf, &len), 0);
    r = fxApply(x, buf, len);
    fxExpectCode(&r, RC_ESTALE, "item 5: ");
    assert_int_equal(r.items_rejected, 12);
    assert_int_equal(runCount(x, "j"), 1);
    backfillPlanFree(&hour);
    /* Planned again, the hour fires the other 11. */
    r = backfill(x, "j", AT(0) + 1, AT(12), now, &hour);
    fxExpectOk(&r);
    assert_int_equal(r.runs_created, 11);
    assert_int_equal(hour.n_decided, 1);
    backfillPlanFree(&hour);
    assert_int_equal(runCount(x, "j"), 12);

    /* A job edit between plan and commit: the items name an old version. */
    mkJob(x, "k", &o);
    assert_int_equal(backfillPlan(x->f, fsmJobGet(x->f, "", "k"), AT(0) + 1, AT(12), now, 0, &hour,
                                  err, sizeof err),
                     0);
    assert_int_equal(backfillEncode(fsmJobGet(x->f, "", "k"), &hour, now, &buf, &len), 0);
    void *rb;
    size_t rl;
    assert_int_equal(commandEncodeJobResume("", "k", 0, now, &rb, &rl), 0);
    fxExpectOk((struct rc_fsm_result[]){fxApply(x, rb, rl)});
    r = fxApply(x, buf, len);
    fxExpectCode(&r, RC_ESTALE, "version");
    assert_int_equal(runCount(x, "k"), 0);
    backfillPlanFree(&hour);
}

static Raftcron__FireItem bfItem(const char *name, uint64_t version, int64_t t)
{
    Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
    it.name = (char *)name;
    it.job_version = version;
    it.first_us = it.last_us = t;
    it.count = 1;
    it.decision = RC_DECISION_FIRED;
    it.reason = RC_REASON_MANUAL;
    it.manual = true;
    it.backfill = true;
    return it;
}

static struct rc_fsm_result applyItems(struct fx *x, int64_t now, bool atomic,
                                       Raftcron__FireItem *items, size_t n)
{
    Raftcron__FireItem *ptrs[8];
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = &items[i];
    }
    Raftcron__FireBatch b = RAFTCRON__FIRE_BATCH__INIT;
    b.now_us = now;
    b.items = ptrs;
    b.n_items = n;
    b.atomic = atomic;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = RAFTCRON__COMMAND__CMD_FIRE_BATCH;
    cmd.fire_batch = &b;
    void *buf;
    size_t len;
    assert_int_equal(commandPack(&cmd.base, &buf, &len), 0);
    return fxApply(x, buf, len);
}

static void test_apply_rules(void **state)
{
    struct fx *x = *state;
    struct job_opts o = {.paused = true, .max_instances = 20, .created_us = AT(0)};
    mkJob(x, "p", &o);
    o.paused = false;
    mkJob(x, "a", &o);
    int64_t now = AT(12) + SEC;

    /* A paused job takes backfill items — not other manual ones (run-now waits for resume). */
    Raftcron__FireItem it = bfItem("p", 1, AT(1));
    it.backfill = false;
    struct rc_fsm_result r = applyItems(x, now, false, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "paused");
    it = bfItem("p", 1, AT(1));
    it.manual = false;
    r = applyItems(x, now, false, &it, 1);
    fxExpectCode(&r, RC_EINVAL, "must be manual");
    /* Nothing after the entry's now. */
    it = bfItem("p", 1, now + 1);
    r = applyItems(x, now, false, &it, 1);
    fxExpectCode(&r, RC_EINVAL, "after now");
    /* An atomic batch is one job in increasing order. */
    Raftcron__FireItem two[2] = {bfItem("p", 1, AT(2)), bfItem("a", 1, AT(3))};
    r = applyItems(x, now, true, two, 2);
    fxExpectCode(&r, RC_EINVAL, "one job");
    two[1] = bfItem("p", 1, AT(2));
    r = applyItems(x, now, true, two, 2);
    fxExpectCode(&r, RC_EINVAL, "increasing");
    assert_int_equal(runCount(x, "p"), 0);
    r = applyItems(x, now, true, NULL, 0);
    fxExpectCode(&r, RC_EINVAL, "no item");

    /* A paused job's cursor moves up to what was backfilled after it, so that a resume by a
     * leader whose clock is behind does not decide those instants again. */
    assert_int_equal(fsmJobGet(x->f, "", "p")->cursor_us, AT(0));
    two[0] = bfItem("p", 1, AT(2));
    two[1] = bfItem("p", 1, AT(4));
    r = applyItems(x, now, true, two, 2);
    fxExpectOk(&r);
    assert_int_equal(r.runs_created, 2);
    assert_int_equal(fsmJobGet(x->f, "", "p")->cursor_us, AT(4));
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobResume("", "p", 0, AT(3), &buf, &len), 0);
    fxExpectOk((struct rc_fsm_result[]){fxApply(x, buf, len)});
    assert_int_equal(fsmJobGet(x->f, "", "p")->cursor_us, AT(4));

    /* An active job's instants after its cursor are the scheduler's. */
    it = bfItem("a", 1, AT(1));
    r = applyItems(x, now, false, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "the scheduler decides it");
    /* Its scheduled decisions cover their instants: a backfill of them is refused. */
    Raftcron__FireItem s = RAFTCRON__FIRE_ITEM__INIT;
    s.name = "a";
    s.job_version = 1;
    s.first_us = AT(1);
    s.last_us = AT(3);
    s.count = 3;
    s.decision = RC_DECISION_MISSED;
    s.reason = RC_REASON_MISFIRE_GRACE;
    r = applyItems(x, now, false, &s, 1);
    fxExpectOk(&r);
    it = bfItem("a", 1, AT(2));
    r = applyItems(x, now, false, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "already decided");
    /* In a plain batch, two backfill items of one instant: the second is refused. */
    mkJob(x, "q", &(struct job_opts){.paused = true, .max_instances = 20, .created_us = AT(12)});
    two[0] = bfItem("q", 1, AT(5));
    two[1] = bfItem("q", 1, AT(5));
    r = applyItems(x, now, false, two, 2);
    fxExpectCode(&r, RC_ESTALE, "item 1: ");
    assert_int_equal(r.items_applied, 1);
    assert_int_equal(runCount(x, "q"), 1);
}

/* Retention drops decision records; the history floor keeps what they proved. */
static void test_history_floor(void **state)
{
    struct fx *x = *state;
    struct job_opts o = {
        .paused = true, .max_instances = 20, .history_max = 5, .created_us = AT(12)};
    mkJob(x, "j", &o);
    int64_t now = AT(12) + SEC;
    struct rc_backfill_plan p;
    struct rc_fsm_result r = backfill(x, "j", AT(0) + 1, AT(12), now, &p);
    fxExpectOk(&r);
    assert_int_equal(r.runs_created, 12); /* all or nothing, even beyond history_max */
    backfillPlanFree(&p);
    const Raftcron__Job *job = fsmJobGet(x->f, "", "j");
    size_t n;
    fsmJobDecisions(x->f, job->id, &n);
    assert_int_equal(n, 5);
    assert_int_equal(job->history_floor_us, AT(7));
    /* The same backfill again fires nothing: 00:05 … 00:35 are beyond the floor, the rest
     * still have their records. */
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(backfillPlan(x->f, job, AT(0) + 1, AT(12), now, 0, &p, err, sizeof err), 0);
    expectOutcomes(&p, "XXXXXXXDDDDD");
    assert_int_equal(p.n_recs, 0);
    backfillPlanFree(&p);
    Raftcron__FireItem it = bfItem("j", 1, AT(7));
    r = applyItems(x, now, false, &it, 1);
    fxExpectCode(&r, RC_ESTALE, "history floor");

    /* The floor is state: it survives a snapshot. */
    void *buf;
    size_t len;
    assert_int_equal(fsmSnapshot(x->f, &buf, &len), 0);
    struct rc_fsm *g;
    assert_int_equal(fsmCreate(&g), 0);
    assert_int_equal(fsmRestore(g, 9, buf, len, err, sizeof err), 0);
    assert_int_equal(fsmJobGet(g, "", "j")->history_floor_us, AT(7));
    assert_int_equal(fsmDigest(g), fsmDigest(x->f));
    fsmDestroy(g);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_overlap_policies),
        cmocka_unit_test(test_already_decided),
        cmocka_unit_test(test_floor_and_cursor),
        cmocka_unit_test_setup_teardown(test_apply_exactly_once, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_apply_all_or_nothing, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_apply_rules, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_history_floor, fxSetup, fxTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
