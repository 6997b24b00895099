/*
 * schedPlan (src/core/sched.h): fire decisions, placement, retries and dead letters, wake-ups,
 * idempotence of re-planning and of re-applying a stale plan, and the cost of a 10,000-job scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/policy.h"
#include "core/runs.h"
#include "core/sched.h"

#define T0   INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC  INT64_C(1000000)
#define MIN  (60 * SEC)
#define LOOK (100 * 1000)

/* ---- Helpers ------------------------------------------------------------------------------ */

struct spec_buf {
    Raftcron__JobSpec spec;
    Raftcron__Trigger trigger;
    Raftcron__Executor executor;
    Raftcron__ShellExec shell;
    Raftcron__NoopExec noop;
    Raftcron__Policy policy;
    Raftcron__RetryPolicy retry;
    Raftcron__JobSpec__TargetEntry tag;
    Raftcron__JobSpec__TargetEntry *tags[1];
};

static Raftcron__JobSpec *specMake(struct spec_buf *b, const char *name, const char *cron)
{
    memset(b, 0, sizeof *b);
    raftcron__job_spec__init(&b->spec);
    raftcron__trigger__init(&b->trigger);
    raftcron__executor__init(&b->executor);
    raftcron__shell_exec__init(&b->shell);
    b->spec.name = (char *)name;
    b->trigger.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    b->trigger.cron = (char *)cron;
    b->shell.command = (char *)"true";
    b->executor.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    b->executor.shell = &b->shell;
    b->spec.trigger = &b->trigger;
    b->spec.executor = &b->executor;
    return &b->spec;
}

static void specPolicy(struct spec_buf *b, int64_t grace, bool coalesce, uint32_t overlap,
                       uint32_t max_instances)
{
    raftcron__policy__init(&b->policy);
    b->policy.misfire_grace_us = grace;
    b->policy.coalesce = coalesce;
    b->policy.overlap = overlap;
    b->policy.max_instances = max_instances;
    b->spec.policy = &b->policy;
}

static void specRetry(struct spec_buf *b, uint32_t max_attempts, uint32_t backoff, int64_t delay,
                      double multiplier)
{
    raftcron__retry_policy__init(&b->retry);
    b->retry.max_attempts = max_attempts;
    b->retry.backoff = backoff;
    b->retry.delay_us = delay;
    b->retry.multiplier = multiplier;
    b->spec.retry = &b->retry;
}

static void specTarget(struct spec_buf *b, const char *k, const char *v)
{
    raftcron__job_spec__target_entry__init(&b->tag);
    b->tag.key = (char *)k;
    b->tag.value = (char *)v;
    b->tags[0] = &b->tag;
    b->spec.target = b->tags;
    b->spec.n_target = 1;
}

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

static struct rc_fsm_result applyBuf(struct fx *x, const void *buf, size_t len)
{
    struct rc_fsm_result res;
    assert_int_equal(fsmApply(x->f, ++x->index, buf, len, &res), 0);
    return res;
}

static struct rc_fsm_result applyOwned(struct fx *x, void *buf, size_t len)
{
    struct rc_fsm_result res = applyBuf(x, buf, len);
    free(buf);
    return res;
}

static void putJob(struct fx *x, const Raftcron__JobSpec *spec, bool paused, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(spec, 0, false, paused, now, &buf, &len), 0);
    struct rc_fsm_result res = applyOwned(x, buf, len);
    assert_int_equal(res.code, 0);
}

static void workerUp(struct fx *x, uint64_t id, uint32_t capacity, const char *k, const char *v)
{
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    Raftcron__Worker__TagsEntry tag = RAFTCRON__WORKER__TAGS_ENTRY__INIT;
    Raftcron__Worker__TagsEntry *tags[1] = {&tag};
    char addr[32];
    snprintf(addr, sizeof addr, "10.0.0.%llu:7000", (unsigned long long)id);
    w.id = id;
    w.address = addr;
    w.capacity = capacity;
    if (k != NULL) {
        tag.key = (char *)k;
        tag.value = (char *)v;
        w.tags = tags;
        w.n_tags = 1;
    }
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeWorkerUp(&w, T0, &buf, &len), 0);
    assert_int_equal(applyOwned(x, buf, len).code, 0);
}

static struct sched_plan plan(struct fx *x, int64_t now)
{
    struct sched_options o = {.now_us = now, .lookahead_us = LOOK};
    struct sched_plan p;
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    return p;
}

/* Apply every entry of p; each must be accepted (code 0). */
static void applyPlan(struct fx *x, const struct sched_plan *p)
{
    for (size_t i = 0; i < p->n_entries; i++) {
        struct rc_fsm_result res = applyBuf(x, p->entries[i].buf, p->entries[i].len);
        assert_int_equal(res.code, 0);
    }
}

static Raftcron__Command *decode(const struct sched_plan *p, size_t i)
{
    assert_true(i < p->n_entries);
    Raftcron__Command *cmd;
    assert_int_equal(commandDecode(p->entries[i].buf, p->entries[i].len, &cmd), 0);
    return cmd;
}

static Raftcron__FireBatch *batchOf(Raftcron__Command *cmd)
{
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_FIRE_BATCH);
    return cmd->fire_batch;
}

static void assertItem(const Raftcron__FireItem *it, uint32_t decision, uint32_t reason,
                       int64_t first, int64_t last, uint64_t count)
{
    assert_int_equal(it->decision, decision);
    assert_int_equal(it->reason, reason);
    assert_int_equal(it->first_us, first);
    assert_int_equal(it->last_us, last);
    assert_int_equal(it->count, count);
}

/* Runs of the job by state, for the few-runs tests. */
static const Raftcron__Run *onlyRun(struct fx *x, uint32_t state)
{
    const Raftcron__Run *r[4];
    assert_int_equal(fsmRunsSelect(x->f, 1u << state, 0, r, 4), 1);
    return r[0];
}

/* Fire the job's one due instant at now (the FireBatch places the run on a worker), and drive
 * it to `state`. */
static const Raftcron__Run *runTo(struct fx *x, uint32_t state, int64_t now)
{
    struct sched_plan p = plan(x, now);
    assert_int_equal(p.n_entries, 1); /* the FireBatch, with the placement */
    applyPlan(x, &p);
    schedPlanFree(&p);
    const Raftcron__Run *r = onlyRun(x, RC_RUN_ASSIGNED);
    void *buf;
    size_t len;
    uint64_t id = r->id;
    uint64_t fence = r->fence;
    assert_int_equal(commandEncodeRunStarted(id, fence, now, &buf, &len), 0);
    assert_int_equal(applyOwned(x, buf, len).code, 0);
    if (state == RC_RUN_LOST) {
        assert_int_equal(commandEncodeWorkerDown(r->worker_id, now + SEC, &buf, &len), 0);
    } else {
        assert_int_equal(commandEncodeRunFinished(id, fence, state, NULL, now + SEC, &buf, &len),
                         0);
    }
    assert_int_equal(applyOwned(x, buf, len).code, 0);
    return fsmRunGet(x->f, id);
}

/* ---- Fire decisions ----------------------------------------------------------------------- */

static void test_due_now(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "* * * * *"), false, T0);
    struct sched_plan p = plan(x, T0 + MIN - 50000);
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.entries[0].run_id, 0);
    Raftcron__Command *cmd = decode(&p, 0);
    Raftcron__FireBatch *fb = batchOf(cmd);
    assert_int_equal(fb->now_us, T0 + MIN - 50000);
    assert_int_equal(fb->n_items, 1);
    assertItem(fb->items[0], RC_DECISION_FIRED, RC_REASON_NONE, T0 + MIN, T0 + MIN, 1);
    assert_string_equal(fb->items[0]->namespace_, "default");
    assert_string_equal(fb->items[0]->name, "a");
    assert_int_equal(fb->items[0]->job_version, 1);
    assert_int_equal(fb->items[0]->start_at_us, T0 + MIN);
    assert_false(fb->items[0]->queued);
    assert_int_equal(p.next_wake_us, T0 + 2 * MIN - LOOK);
    commandFree(cmd);
    schedPlanFree(&p);
}

static void test_not_yet_due(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "* * * * *"), false, T0);
    struct sched_plan p = plan(x, T0 + 30 * SEC);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 0);
    assert_int_equal(p.next_wake_us, T0 + MIN - LOOK);
    schedPlanFree(&p);
    /* One microsecond before the lookahead opens: still nothing. */
    p = plan(x, T0 + MIN - LOOK - 1);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.next_wake_us, T0 + MIN - LOOK);
    schedPlanFree(&p);
    p = plan(x, T0 + MIN - LOOK);
    assert_int_equal(p.n_entries, 1);
    schedPlanFree(&p);
}

static void test_paused(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "* * * * *"), true, T0);
    struct sched_plan p = plan(x, T0 + 10 * MIN);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.next_wake_us, INT64_MAX);
    schedPlanFree(&p);
}

static void test_outage_coalesce(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "* * * * *"), false, T0); /* defaults: grace 60 s, coalesce */
    int64_t now = T0 + 10 * MIN + 30 * SEC;
    struct sched_plan p = plan(x, now);
    Raftcron__Command *cmd = decode(&p, 0);
    Raftcron__FireBatch *fb = batchOf(cmd);
    assert_int_equal(fb->n_items, 2);
    assertItem(fb->items[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0 + MIN, T0 + 9 * MIN, 9);
    assertItem(fb->items[1], RC_DECISION_FIRED, RC_REASON_NONE, T0 + 10 * MIN, T0 + 10 * MIN, 1);
    assert_int_equal(fb->items[1]->start_at_us, now); /* late: starts at once */
    commandFree(cmd);
    schedPlanFree(&p);
}

static void test_outage_no_coalesce(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * *");
    specPolicy(&b, 5 * MIN, false, RC_OVERLAP_ALLOW, 0);
    putJob(x, &b.spec, false, T0);
    int64_t now = T0 + 10 * MIN + 30 * SEC;
    struct sched_plan p = plan(x, now);
    Raftcron__Command *cmd = decode(&p, 0);
    Raftcron__FireBatch *fb = batchOf(cmd);
    assert_int_equal(fb->n_items, 3);
    assertItem(fb->items[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0 + MIN, T0 + 5 * MIN,
               5);
    assertItem(fb->items[1], RC_DECISION_FIRED, RC_REASON_NONE, T0 + 6 * MIN, T0 + 6 * MIN, 1);
    assertItem(fb->items[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 7 * MIN,
               T0 + 10 * MIN, 4);
    commandFree(cmd);
    schedPlanFree(&p);
}

/* max_items bounds one batch; the rest is due at once (next_wake = now) and comes next time. */
static void test_max_items(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "* * * * *"), false, T0);
    putJob(x, specMake(&b, "b", "* * * * *"), false, T0);
    putJob(x, specMake(&b, "c", "* * * * *"), false, T0);
    int64_t now = T0 + MIN;
    struct sched_options o = {.now_us = now, .lookahead_us = LOOK, .max_items = 2, .max_assign = 1};
    struct sched_plan p;
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.next_wake_us, now);
    Raftcron__Command *cmd = decode(&p, 0);
    assert_int_equal(batchOf(cmd)->n_items, 2);
    assert_string_equal(batchOf(cmd)->items[1]->name, "b");
    commandFree(cmd);
    applyPlan(x, &p);
    schedPlanFree(&p);
    /* Now c's instant, and one of the two pending runs (max_assign 1): no worker, so a wait. */
    workerUp(x, 1, 10, NULL, NULL);
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 2);
    cmd = decode(&p, 0);
    assert_int_equal(batchOf(cmd)->n_items, 1);
    assert_string_equal(batchOf(cmd)->items[0]->name, "c");
    commandFree(cmd);
    assert_int_equal(p.entries[1].worker_id, 1);
    assert_int_equal(p.next_wake_us, now); /* the second pending run is left for later */
    schedPlanFree(&p);
}

/* ---- Placement ---------------------------------------------------------------------------- */

static void test_no_worker(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * *");
    specTarget(&b, "region", "eu");
    putJob(x, &b.spec, false, T0);
    workerUp(x, 1, 4, "region", "us");
    struct sched_plan p = plan(x, T0 + MIN);
    applyPlan(x, &p);
    assert_int_equal(p.n_entries, 1); /* only the FireBatch: the run did not exist yet */
    schedPlanFree(&p);
    p = plan(x, T0 + MIN);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 1);
    assert_int_equal(p.waits[0].run_id, 1);
    assert_string_equal(p.waits[0].reason, "no alive worker with tags region=eu");
    schedPlanFree(&p);
}

static void test_placement(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * *");
    specPolicy(&b, -1, false, RC_OVERLAP_ALLOW, 4);
    specTarget(&b, "region", "eu");
    putJob(x, &b.spec, false, T0);
    workerUp(x, 1, 5, "region", "us");
    workerUp(x, 2, 1, "region", "eu");
    workerUp(x, 3, 2, "region", "eu");
    workerUp(x, 4, 9, "region", "eu");
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeWorkerDown(4, T0, &buf, &len), 0);
    assert_int_equal(applyOwned(x, buf, len).code, 0);
    /* Four instants, all fired, each run placed by its item on the least loaded matching
     * worker with room: 2 (capacity 1) takes one, 3 (capacity 2) two, in whatever order the
     * ties fall; run 4 finds both full, 1 does not match and 4 is down: no placement. */
    struct sched_plan p = plan(x, T0 + 4 * MIN);
    assert_int_equal(p.n_entries, 1);
    Raftcron__Command *cmd = decode(&p, 0);
    Raftcron__FireBatch *fb = batchOf(cmd);
    assert_int_equal(fb->n_items, 4);
    unsigned on[5] = {0};
    for (size_t i = 0; i < 3; i++) {
        assert_true(fb->items[i]->worker_id == 2 || fb->items[i]->worker_id == 3);
        on[fb->items[i]->worker_id]++;
    }
    assert_int_equal(on[2], 1);
    assert_int_equal(on[3], 2);
    assert_int_equal(fb->items[3]->worker_id, 0);
    /* The least loaded first: the first two went to different workers. */
    assert_int_not_equal(fb->items[0]->worker_id, fb->items[1]->worker_id);
    commandFree(cmd);
    applyPlan(x, &p);
    schedPlanFree(&p);
    const Raftcron__Run *r = fsmRunGet(x->f, 1);
    assert_int_equal(r->state, RC_RUN_ASSIGNED);
    assert_true(r->worker_id == 2 || r->worker_id == 3);
    assert_int_equal(r->fence, 1);
    assert_int_equal(fsmRunGet(x->f, 4)->state, RC_RUN_PENDING);
    /* Existing assignments count as load: worker 2 full, 3 full. */
    p = plan(x, T0 + 4 * MIN);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 1);
    assert_int_equal(p.waits[0].run_id, 4);
    assert_string_equal(p.waits[0].reason, "all matching workers at capacity");
    schedPlanFree(&p);
    /* With a backlog, a worker takes runs beyond its capacity (it starts them as slots free). */
    struct sched_options o = {.now_us = T0 + 4 * MIN, .lookahead_us = LOOK, .backlog = 1};
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.entries[0].run_id, 4);
    assert_true(p.entries[0].worker_id == 2); /* 2 holds 1 run, 3 holds 2: the least loaded */
    cmd = decode(&p, 0);
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_RUN_ASSIGN);
    assert_int_equal(cmd->run_assign->fence, 0);
    assert_int_equal(cmd->run_assign->now_us, T0 + 4 * MIN);
    commandFree(cmd);
    schedPlanFree(&p);
}

/* Placement only on live workers (the leader's sessions), and noop runs take no slot. */
static void test_placement_live_and_noop(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * *");
    specPolicy(&b, -1, false, RC_OVERLAP_ALLOW, 10);
    putJob(x, &b.spec, false, T0);
    workerUp(x, 1, 1, NULL, NULL);
    workerUp(x, 2, 1, NULL, NULL);
    const uint64_t live[] = {2};
    struct sched_options o = {
        .now_us = T0 + 3 * MIN, .lookahead_us = LOOK, .live = live, .n_live = 1};
    struct sched_plan p;
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    Raftcron__Command *cmd = decode(&p, 0);
    Raftcron__FireBatch *fb = batchOf(cmd);
    assert_int_equal(fb->n_items, 3);
    assert_int_equal(fb->items[0]->worker_id, 2); /* worker 1 is alive but not reachable */
    assert_int_equal(fb->items[1]->worker_id, 0); /* worker 2 is full (capacity 1) */
    commandFree(cmd);
    applyPlan(x, &p);
    schedPlanFree(&p);
    o.n_live = 0; /* no worker reachable */
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 2);
    assert_string_equal(p.waits[0].reason, "no matching worker connected to the leader");
    schedPlanFree(&p);
    /* A noop job's runs all go to the one live worker of capacity 1, spread by load. */
    struct spec_buf nb;
    specMake(&nb, "n", "* * * * *");
    specPolicy(&nb, -1, false, RC_OVERLAP_ALLOW, 10);
    raftcron__noop_exec__init(&nb.noop);
    nb.executor.kind_case = RAFTCRON__EXECUTOR__KIND_NOOP;
    nb.executor.noop = &nb.noop;
    putJob(x, &nb.spec, false, T0 + 3 * MIN);
    o.now_us = T0 + 6 * MIN;
    o.n_live = 1;
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    cmd = decode(&p, 0);
    fb = batchOf(cmd);
    size_t placed = 0;
    for (size_t i = 0; i < fb->n_items; i++) {
        if (strcmp(fb->items[i]->name, "n") == 0) {
            assert_int_equal(fb->items[i]->worker_id, 2);
            placed++;
        }
    }
    assert_int_equal(placed, 3);
    commandFree(cmd);
    schedPlanFree(&p);
}

/* An assigned run its worker did not acknowledge in time goes to another worker under a new
 * fence (same attempt); one the worker accepted does not move; one on a worker that is down
 * or restarted moves without being overdue. */
static void test_reassign(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "0 0 1 1 *"), false, T0 - 1);
    workerUp(x, 1, 5, NULL, NULL);
    const Raftcron__Run *r = NULL;
    struct sched_plan p = plan(x, T0 + SEC);
    applyPlan(x, &p);
    schedPlanFree(&p);
    r = onlyRun(x, RC_RUN_ASSIGNED);
    uint64_t id = r->id;
    assert_int_equal(r->worker_id, 1);
    /* Overdue, with no other worker: it waits, still on worker 1. */
    const uint64_t overdue[] = {id};
    struct sched_options o = {
        .now_us = T0 + 2 * SEC, .lookahead_us = LOOK, .overdue = overdue, .n_overdue = 1};
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 1);
    schedPlanFree(&p);
    workerUp(x, 2, 5, NULL, NULL);
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.entries[0].worker_id, 2);
    applyPlan(x, &p);
    schedPlanFree(&p);
    r = fsmRunGet(x->f, id);
    assert_int_equal(r->state, RC_RUN_ASSIGNED);
    assert_int_equal(r->worker_id, 2);
    assert_int_equal(r->fence, 2);
    assert_int_equal(r->attempt, 1);
    /* Accepted: not reassignable even when overdue (the worker may have started it). */
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeRunAccept(id, 2, T0 + 3 * SEC, &buf, &len), 0);
    assert_int_equal(applyOwned(x, buf, len).code, 0);
    assert_int_equal(commandEncodeRunAssign(id, 2, 1, T0 + 3 * SEC, &buf, &len), 0);
    assert_int_equal(applyOwned(x, buf, len).code, RC_ESTALE);
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 0);
    schedPlanFree(&p);
    /* Worker 2 down: the accepted run is LOST (retry policy), not reassigned. */
    assert_int_equal(commandEncodeWorkerDown(2, T0 + 4 * SEC, &buf, &len), 0);
    assert_int_equal(applyOwned(x, buf, len).code, 0);
    assert_int_equal(fsmRunGet(x->f, id)->state, RC_RUN_LOST);
}

/* QUEUE_ONE: the queued run waits while the active one lives. */
static void test_queued_waits(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * *");
    specPolicy(&b, -1, false, RC_OVERLAP_QUEUE_ONE, 0);
    putJob(x, &b.spec, false, T0);
    workerUp(x, 1, 5, NULL, NULL);
    struct sched_plan p = plan(x, T0 + 2 * MIN);
    Raftcron__Command *cmd = decode(&p, 0);
    assert_int_equal(batchOf(cmd)->items[0]->worker_id, 1);
    assert_true(batchOf(cmd)->items[1]->queued);
    assert_int_equal(batchOf(cmd)->items[1]->worker_id, 0); /* a queued run is placed later */
    commandFree(cmd);
    applyPlan(x, &p);
    schedPlanFree(&p);
    p = plan(x, T0 + 2 * MIN);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 1);
    assert_int_equal(p.waits[0].run_id, 2);
    assert_string_equal(p.waits[0].reason, "queued behind an active run");
    schedPlanFree(&p);
}

/* More unfinished runs than the planner's first guess (256): all are seen, in run order. */
static void test_many_pending(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    char name[16];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "j%03d", i);
        putJob(x, specMake(&b, name, "* * * * *"), false, T0);
    }
    struct sched_plan p = plan(x, T0 + MIN);
    applyPlan(x, &p);
    schedPlanFree(&p);
    p = plan(x, T0 + MIN);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 300);
    for (size_t i = 0; i < p.n_waits; i++) {
        assert_int_equal(p.waits[i].run_id, i + 1);
        assert_string_equal(p.waits[i].reason, "no alive worker");
    }
    schedPlanFree(&p);
    workerUp(x, 1, 1000, NULL, NULL);
    struct sched_options o = {.now_us = T0 + MIN, .lookahead_us = LOOK, .max_assign = 256};
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 256); /* max_assign */
    assert_int_equal(p.entries[255].run_id, 256);
    assert_int_equal(p.next_wake_us, T0 + MIN);
    /* Packed for the leader: one Batch of the 256 assignments. */
    struct sched_proposal props[2];
    assert_int_equal(schedPlanPack(&p, props), 1);
    assert_false(props[0].fires);
    Raftcron__Command *cmd;
    assert_int_equal(commandDecode(props[0].buf, props[0].len, &cmd), 0);
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_BATCH);
    assert_int_equal(cmd->batch->n_commands, 256);
    commandFree(cmd);
    struct rc_fsm_result res = applyBuf(x, props[0].buf, props[0].len);
    assert_int_equal(res.code, 0);
    assert_int_equal(res.items_applied, 256);
    free(props[0].buf);
    schedPlanFree(&p);
    assert_int_equal(fsmRunsSelect(x->f, 1u << RC_RUN_ASSIGNED, 0, NULL, 0), 256);
}

/* ---- Retries and dead letters --------------------------------------------------------------- */

static void test_retry_fixed(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "0 0 1 1 *"); /* yearly: no new instant gets in the way */
    specRetry(&b, 3, 0, 10 * SEC, 0);
    putJob(x, &b.spec, false, T0 - 1);
    workerUp(x, 1, 5, NULL, NULL);
    int64_t now = T0 + 5 * SEC;
    const Raftcron__Run *r = runTo(x, RC_RUN_FAILED, now);
    uint64_t fence = r->fence;
    int64_t at = now + 2 * SEC;
    struct sched_plan p = plan(x, at);
    assert_int_equal(p.n_entries, 1);
    Raftcron__Command *cmd = decode(&p, 0);
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_RUN_RETRY);
    assert_int_equal(cmd->run_retry->not_before_us, at + 10 * SEC);
    assert_int_equal(cmd->run_retry->fence, fence);
    commandFree(cmd);
    assert_int_equal(p.next_wake_us, at + 10 * SEC);
    applyPlan(x, &p);
    schedPlanFree(&p);
    r = onlyRun(x, RC_RUN_RETRY_WAIT);
    assert_int_equal(r->attempt, 2);
    /* Not before not_before: nothing, and the wake-up is exactly then. */
    p = plan(x, at + 10 * SEC - 1);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.next_wake_us, at + 10 * SEC);
    schedPlanFree(&p);
    p = plan(x, at + 10 * SEC);
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.entries[0].worker_id, 1);
    applyPlan(x, &p);
    schedPlanFree(&p);
    assert_int_equal(onlyRun(x, RC_RUN_ASSIGNED)->fence, fence + 1);
}

static void test_retry_exponential(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "0 0 1 1 *");
    specRetry(&b, 5, 2, 1 * SEC, 3.0);
    putJob(x, &b.spec, false, T0 - 1);
    workerUp(x, 1, 5, NULL, NULL);
    int64_t now = T0 + 5 * SEC;
    const Raftcron__Run *r = runTo(x, RC_RUN_TIMED_OUT, now);
    int64_t expect[] = {1 * SEC, 3 * SEC, 9 * SEC, 27 * SEC};
    for (int k = 0; k < 4; k++) {
        struct sched_plan p = plan(x, now);
        assert_int_equal(p.n_entries, 1);
        Raftcron__Command *cmd = decode(&p, 0);
        assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_RUN_RETRY);
        assert_int_equal(cmd->run_retry->not_before_us - now, expect[k]);
        commandFree(cmd);
        applyPlan(x, &p);
        schedPlanFree(&p);
        now += expect[k];
        p = plan(x, now); /* assign */
        assert_int_equal(p.n_entries, 1);
        applyPlan(x, &p);
        schedPlanFree(&p);
        r = onlyRun(x, RC_RUN_ASSIGNED);
        void *buf;
        size_t len;
        uint64_t id = r->id;
        uint64_t fence = r->fence;
        assert_int_equal(commandEncodeRunStarted(id, fence, now, &buf, &len), 0);
        assert_int_equal(applyOwned(x, buf, len).code, 0);
        assert_int_equal(commandEncodeRunFinished(id, fence, RC_RUN_FAILED, NULL, now, &buf, &len),
                         0);
        assert_int_equal(applyOwned(x, buf, len).code, 0);
    }
    /* Attempt 5 of 5 failed: dead letter. */
    struct sched_plan p = plan(x, now);
    assert_int_equal(p.n_entries, 1);
    Raftcron__Command *cmd = decode(&p, 0);
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_RUN_DEAD);
    assert_string_equal(cmd->run_dead->reason, "retries exhausted");
    commandFree(cmd);
    applyPlan(x, &p);
    schedPlanFree(&p);
    r = onlyRun(x, RC_RUN_DEAD);
    assert_int_equal(r->attempt, 5);
    assert_string_equal(r->end_reason, "retries exhausted");
}

static void test_no_retry_policy_dead(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    putJob(x, specMake(&b, "a", "0 0 1 1 *"), false, T0 - 1);
    workerUp(x, 1, 5, NULL, NULL);
    runTo(x, RC_RUN_FAILED, T0 + SEC);
    struct sched_plan p = plan(x, T0 + 3 * SEC);
    assert_int_equal(p.n_entries, 1);
    Raftcron__Command *cmd = decode(&p, 0);
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_RUN_DEAD);
    assert_string_equal(cmd->run_dead->reason, "retries exhausted");
    commandFree(cmd);
    schedPlanFree(&p);
}

static void test_lost_at_most_once(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "0 0 1 1 *");
    specRetry(&b, 3, 0, SEC, 0);
    b.spec.at_most_once = true;
    putJob(x, &b.spec, false, T0 - 1);
    workerUp(x, 1, 5, NULL, NULL);
    const Raftcron__Run *r = runTo(x, RC_RUN_LOST, T0 + SEC);
    assert_int_equal(r->state, RC_RUN_LOST);
    struct sched_plan p = plan(x, T0 + 3 * SEC);
    assert_int_equal(p.n_entries, 1);
    Raftcron__Command *cmd = decode(&p, 0);
    assert_int_equal(cmd->cmd_case, RAFTCRON__COMMAND__CMD_RUN_DEAD);
    assert_string_equal(cmd->run_dead->reason, "lost under at-most-once");
    commandFree(cmd);
    applyPlan(x, &p);
    schedPlanFree(&p);
    assert_string_equal(onlyRun(x, RC_RUN_DEAD)->end_reason, "lost under at-most-once");
}

static void test_lost_retried(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "0 0 1 1 *");
    specRetry(&b, 2, 0, 0, 0);
    putJob(x, &b.spec, false, T0 - 1);
    workerUp(x, 1, 5, NULL, NULL);
    workerUp(x, 2, 5, NULL, NULL);
    runTo(x, RC_RUN_LOST, T0 + SEC); /* worker 1 went down */
    struct sched_plan p = plan(x, T0 + 2 * SEC);
    assert_int_equal(p.n_entries, 1);
    applyPlan(x, &p);
    schedPlanFree(&p);
    p = plan(x, T0 + 2 * SEC); /* delay 0: assigned at once, to the live worker */
    assert_int_equal(p.n_entries, 1);
    assert_int_equal(p.entries[0].worker_id, 2);
    applyPlan(x, &p);
    schedPlanFree(&p);
    assert_int_equal(onlyRun(x, RC_RUN_ASSIGNED)->attempt, 2);
}

/* ---- Idempotence -------------------------------------------------------------------------- */

static void test_replan_same_now(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * * *");
    specPolicy(&b, 60 * SEC, false, RC_OVERLAP_ALLOW, 100);
    putJob(x, &b.spec, false, T0);
    putJob(x, specMake(&b, "b", "* * * * *"), false, T0);
    workerUp(x, 1, 100, NULL, NULL);
    int64_t now = T0 + 10 * SEC;
    struct sched_plan p = plan(x, now);
    assert_int_equal(p.n_entries, 1); /* the FireBatch: ten runs, each placed by its item */
    applyPlan(x, &p);
    schedPlanFree(&p);
    assert_int_equal(fsmRunsSelect(x->f, 1u << RC_RUN_ASSIGNED, 0, NULL, 0), 10);
    p = plan(x, now);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.n_waits, 0);
    assert_int_equal(p.next_wake_us, now + SEC - LOOK);
    schedPlanFree(&p);
}

/* A deposed leader re-proposing the same plan: nothing is claimed or assigned twice. */
static void test_stale_plan_twice(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    specMake(&b, "a", "* * * * * *");
    specPolicy(&b, 60 * SEC, false, RC_OVERLAP_ALLOW, 100);
    putJob(x, &b.spec, false, T0);
    workerUp(x, 1, 100, NULL, NULL);
    struct sched_plan p = plan(x, T0 + 3 * SEC);
    applyPlan(x, &p);
    struct rc_fsm_result res = applyBuf(x, p.entries[0].buf, p.entries[0].len);
    assert_int_equal(res.code, RC_ESTALE);
    assert_int_equal(res.items_applied, 0);
    assert_int_equal(res.items_rejected, 3);
    assert_int_equal(res.runs_created, 0);
    schedPlanFree(&p);
    /* The FireBatch assigned the runs; an assignment of an older plan (fence 0) is stale. */
    struct rc_fsm_ledger_stats before;
    fsmLedgerStats(x->f, &before);
    for (uint64_t id = 1; id <= 3; id++) {
        void *buf;
        size_t len;
        assert_int_equal(commandEncodeRunAssign(id, 0, 1, T0 + 3 * SEC, &buf, &len), 0);
        res = applyOwned(x, buf, len);
        assert_int_equal(res.code, RC_ESTALE);
        assert_false(res.changed);
    }
    struct rc_fsm_ledger_stats after;
    fsmLedgerStats(x->f, &after);
    assert_int_equal(after.fence_seq, before.fence_seq);
    assert_int_equal(after.run_seq, 3);
    assert_int_equal(after.decisions, 3);
    schedPlanFree(&p);
}

/* ---- Errors and cost ------------------------------------------------------------------------ */

static void test_invalid(void **state)
{
    struct fx *x = *state;
    struct sched_options o = {.now_us = T0, .lookahead_us = LOOK};
    struct sched_plan p;
    assert_int_equal(schedPlan(NULL, &o, &p), RC_EINVAL);
    assert_int_equal(p.n_entries, 0);
    assert_null(p.entries);
    assert_int_equal(schedPlan(x->f, NULL, &p), RC_EINVAL);
    assert_int_equal(schedPlan(x->f, &o, NULL), RC_EINVAL);
    o.lookahead_us = -1;
    assert_int_equal(schedPlan(x->f, &o, &p), RC_EINVAL);
    schedPlanFree(NULL);
    /* An empty FSM: nothing to do, ever. */
    o.lookahead_us = LOOK;
    assert_int_equal(schedPlan(x->f, &o, &p), 0);
    assert_int_equal(p.n_entries, 0);
    assert_int_equal(p.next_wake_us, INT64_MAX);
    schedPlanFree(&p);
}

static double msSince(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* 10,000 jobs, 100 of them due: the plan holds exactly the 100 (its cost is measured by
 * bench/bench_sched.c, never asserted here). */
static void test_cost_10k(void **state)
{
    struct fx *x = *state;
    struct spec_buf b;
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "job%05d", i);
        specMake(&b, name, i % 100 == 0 ? "* * * * * *" : "0 0 1 1 *");
        putJob(x, &b.spec, false, T0);
    }
    double best = 1e9;
    size_t items = 0;
    for (int k = 0; k < 5; k++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct sched_plan p = plan(x, T0 + SEC);
        double ms = msSince(&t0);
        best = ms < best ? ms : best;
        assert_int_equal(p.n_entries, 1);
        Raftcron__Command *cmd = decode(&p, 0);
        items = batchOf(cmd)->n_items;
        commandFree(cmd);
        schedPlanFree(&p);
    }
    assert_int_equal(items, 100);
    printf("schedPlan: 10000 jobs, 100 due: %.3f ms (best of 5)\n", best);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_due_now),
        T(test_not_yet_due),
        T(test_paused),
        T(test_outage_coalesce),
        T(test_outage_no_coalesce),
        T(test_max_items),
        T(test_no_worker),
        T(test_placement),
        T(test_placement_live_and_noop),
        T(test_reassign),
        T(test_queued_waits),
        T(test_many_pending),
        T(test_retry_fixed),
        T(test_retry_exponential),
        T(test_no_retry_policy_dead),
        T(test_lost_at_most_once),
        T(test_lost_retried),
        T(test_replan_same_now),
        T(test_stale_plan_twice),
        T(test_invalid),
        T(test_cost_10k),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
