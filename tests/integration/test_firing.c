/*
 * Firing end to end with real processes (DESIGN.md §1): three nodes, a job every second whose
 * shell command appends "$RAFTCRON_JOB $RAFTCRON_SCHEDULED_AT $RAFTCRON_ATTEMPT $RAFTCRON_RUN_ID"
 * to a file, the leader SIGKILLed midway (and a follower stopped with it, so that instants
 * come due while no leader can be elected). Then: no instant executed twice under one attempt,
 * every instant of the window has exactly one decision (no gap, no overlap), all FIRED within
 * the grace, and every run the ledger records as succeeded really ran.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/policy.h"
#include "core/runs.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC       INT64_C(1000000)
#define MAX_LINES 4096

struct line {
    char scheduled[40];
    unsigned attempt;
    unsigned long long run_id;
};

/* The lines the jobs' commands wrote; with job set, each line must be that job's. */
static size_t readLines(const char *path, const char *job, struct line *out, size_t max)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    char name[64];
    while (f != NULL && n < max &&
           fscanf(f, "%63s %39s %u %llu", name, out[n].scheduled, &out[n].attempt,
                  &out[n].run_id) == 4) {
        if (job != NULL) {
            assert_string_equal(name, job);
        }
        n++;
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static size_t waitLines(const char *path, size_t want, int timeout_ms)
{
    static struct line lines[MAX_LINES];
    int64_t deadline = harnessNowMs() + timeout_ms;
    size_t n = 0;
    while ((n = readLines(path, "default/tick", lines, MAX_LINES)) < want &&
           harnessNowMs() < deadline) {
        usleep(50000);
    }
    return n;
}

static void addNamedTicker(struct rc_client *c, const char *name, const char *out);

static void addTicker(struct rc_client *c, const char *out)
{
    addNamedTicker(c, "tick", out);
}

static void addNamedTicker(struct rc_client *c, const char *name, const char *out)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "echo \"$RAFTCRON_JOB $RAFTCRON_SCHEDULED_AT $RAFTCRON_ATTEMPT $RAFTCRON_RUN_ID\" "
             ">> %s",
             out);
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger trig = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    trig.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    trig.cron = "* * * * * *";
    sh.command = cmd;
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    pol.misfire_grace_us = 60 * SEC; /* every instant missed during the failover still fires */
    pol.coalesce = false;
    pol.max_instances = 5;
    spec.name = (char *)name;
    spec.trigger = &trig;
    spec.executor = &ex;
    spec.policy = &pol;
    Raftcron__Job *job = NULL;
    int rv = rc_job_put(c, &spec, 0, 1, &job);
    if (rv != 0) {
        fail_msg("put: %s", rc_client_errmsg(c));
    }
    rc_message_free(job);
}

/* The decisions must tile the instants from the first to the last: one each, no gap. Returns
 * the instants covered; *fired_out counts the FIRED ones. */
static int64_t checkDecisions(struct rc_client *c, const char *job, int64_t *fired_out)
{
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", job, 1000, 0, &d), 0);
    assert_true(d->n_decisions > 0);
    assert_true(d->n_decisions < 1000); /* the whole ledger, not its newest page */
    /* newest first: walk backwards in time */
    int64_t expect_prev = 0;
    int64_t fired = 0, covered = 0;
    for (size_t i = 0; i < d->n_decisions; i++) {
        const Raftcron__Decision *x = d->decisions[i];
        int64_t span = (x->last_us - x->first_us) / SEC + 1;
        assert_int_equal((uint64_t)span, x->count);
        if (i > 0) {
            if (x->last_us + SEC != expect_prev) {
                fail_msg("decisions leave a gap or overlap before %lld (record %zu ends %lld)",
                         (long long)expect_prev, i, (long long)x->last_us);
            }
        }
        expect_prev = x->first_us;
        covered += (int64_t)x->count;
        fired += x->decision == RC_DECISION_FIRED ? (int64_t)x->count : 0;
    }
    *fired_out = fired;
    rc_message_free(d);
    return covered;
}

/* Every decision of job is FIRED: with a misfire grace far longer than any failover here and
 * room for several runs at once, no instant may be MISSED, SKIPPED or COALESCED. */
static void assertAllFired(struct rc_client *c, const char *job)
{
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", job, 1000, 0, &d), 0);
    for (size_t i = 0; i < d->n_decisions; i++) {
        const Raftcron__Decision *x = d->decisions[i];
        if (x->decision != RC_DECISION_FIRED) {
            fail_msg("%s: instants %lld..%lld (count %llu) decided %s (%s), not FIRED: the grace "
                     "covers every outage here",
                     job, (long long)x->first_us, (long long)x->last_us,
                     (unsigned long long)x->count,
                     policyDecisionName((enum rc_decision)x->decision),
                     policyReasonText((enum rc_reason)x->reason));
        }
    }
    rc_message_free(d);
}

/* The instants of job decided at least late_us after they came due. */
static int64_t lateDecisions(struct rc_client *c, const char *job, int64_t late_us)
{
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", job, 1000, 0, &d), 0);
    int64_t n = 0;
    for (size_t i = 0; i < d->n_decisions; i++) {
        const Raftcron__Decision *x = d->decisions[i];
        n += x->decided_us - x->first_us >= late_us ? (int64_t)x->count : 0;
    }
    rc_message_free(d);
    return n;
}

/* Waits until no run of job is pending, assigned, running or waiting for a retry: the runs in
 * flight have finished and written what they write. */
static void waitIdle(struct rc_client *c, const char *job, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    for (;;) {
        size_t busy = 0;
        const char *states[] = {"pending", "assigned", "running", "retry_wait"};
        for (size_t s = 0; s < 4; s++) {
            Raftcron__RunListResponse *active = NULL;
            assert_int_equal(rc_run_list(c, "", job, states[s], 1000, 0, &active), 0);
            busy += active->n_runs;
            rc_message_free(active);
        }
        if (busy == 0) {
            return;
        }
        if (harnessNowMs() > deadline) {
            fail_msg("%s: %zu runs still in flight after %d ms", job, busy, timeout_ms);
        }
        usleep(100000);
    }
}

static void test_leader_killed_while_firing(void **state)
{
    (void)state;
    const char *const extra[] = {"--worker-timeout", "3s", NULL};
    uint64_t leader = harnessStartCluster(&H, 3, extra);
    assert_int_not_equal(leader, 0);
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", H.dir);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    addTicker(c, out);
    size_t before = waitLines(out, 4, 20000);
    assert_true(before >= 4);

    /* The leader is killed and one follower stopped for 2.5 s with it, so that no leader can
     * be elected meanwhile: instants come due that nobody decides (an election alone can fall
     * between two instants). */
    int stopped = leader == 3 ? 2 : 3;
    harnessSignal(&H, stopped, SIGSTOP);
    harnessSignal(&H, (int)leader, SIGKILL);
    usleep(2500000); /* the outage itself */
    harnessSignal(&H, stopped, SIGCONT);
    uint64_t next = harnessWaitLeader(&H, 3, 2, 20000);
    assert_int_not_equal(next, 0);
    assert_int_not_equal(next, leader);
    size_t after = waitLines(out, before + 5, 30000);
    assert_true(after >= before + 5);

    /* Stop firing, let the last runs finish, then judge. */
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_pause(c, "", "tick", &job), 0);
    rc_message_free(job);
    waitIdle(c, "tick", 20000);

    static struct line lines[MAX_LINES];
    size_t n = readLines(out, "default/tick", lines, MAX_LINES);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(lines[i].scheduled, lines[j].scheduled) == 0 &&
                lines[i].attempt == lines[j].attempt) {
                fail_msg("instant %s executed twice under attempt %u (runs %llu and %llu)",
                         lines[i].scheduled, lines[i].attempt, lines[i].run_id, lines[j].run_id);
            }
        }
    }
    /* Every instant from the first decision to the pause has one decision, and each is FIRED:
     * the instants due while no leader could decide are fired late by the next leader, within
     * the 60 s grace, never MISSED (nor SKIPPED: max instances 5 of 1 ms commands). */
    int64_t fired = 0;
    int64_t covered = checkDecisions(c, "tick", &fired);
    assertAllFired(c, "tick");
    assert_int_equal(fired, covered);
    assert_true(fired >= (int64_t)after);
    assert_true(lateDecisions(c, "tick", SEC) >= 1); /* the outage did delay decisions */

    /* Every run either ran (its run id is in the file) and SUCCEEDED, or was lost with the
     * killed leader's or the stopped follower's worker (DEAD: no retries); nothing else. */
    Raftcron__RunListResponse *all = NULL;
    assert_int_equal(rc_run_list(c, "", "tick", "", 1000, 0, &all), 0);
    assert_int_equal(all->n_runs, (size_t)fired);
    for (size_t i = 0; i < all->n_runs; i++) {
        const Raftcron__Run *r = all->runs[i];
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            seen = lines[j].run_id == r->id;
        }
        if (r->state == RC_RUN_SUCCEEDED && !seen) {
            fail_msg("run %llu is recorded succeeded but never ran", (unsigned long long)r->id);
        }
        bool lost = r->worker_id == leader || r->worker_id == (uint64_t)stopped;
        if (r->state != RC_RUN_SUCCEEDED && !(r->state == RC_RUN_DEAD && lost)) {
            fail_msg("run %llu ended %s on worker %llu (%s)", (unsigned long long)r->id,
                     runsStateName(r->state), (unsigned long long)r->worker_id, r->end_reason);
        }
    }
    rc_message_free(all);
    /* The replicas agree. */
    for (int id = 1; id <= 3; id++) {
        if ((uint64_t)id != leader) {
            assert_true(harnessWaitConverged(&H, 3, id, 10000));
        }
    }
    rc_client_close(c);
}

/* A job every second with coalescing on and the grace of 60 s (APScheduler's defaults). */
static void addCoalescing(struct rc_client *c, const char *out)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "echo \"$RAFTCRON_JOB $RAFTCRON_SCHEDULED_AT $RAFTCRON_ATTEMPT $RAFTCRON_RUN_ID\" "
             ">> %s",
             out);
    harnessPutJob(c, &(struct harness_job){.name = "tick",
                                           .cron = "* * * * * *",
                                           .command = cmd,
                                           .misfire_grace_us = 60 * SEC,
                                           .max_instances = 5,
                                           .coalesce = true});
}

/* Coalescing after a real failover (docs/misfire.md): the leader is killed and one follower
 * stopped, so the last node alone can elect no one and instants pile up past due; when the
 * follower comes back, the new leader decides the backlog at once: every instant but the
 * latest COALESCED, the latest FIRED, in one entry (one decided_at), none MISSED (the grace is
 * 60 s), and the coalesced instants were all past due when decided. */
static void test_coalesce_after_failover(void **state)
{
    (void)state;
    const char *const extra[] = {"--worker-timeout", "3s", NULL};
    uint64_t leader = harnessStartCluster(&H, 3, extra);
    assert_int_not_equal(leader, 0);
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", H.dir);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    addCoalescing(c, out);
    size_t before = waitLines(out, 3, 20000);
    assert_true(before >= 3);
    int stopped = leader == 3 ? 2 : 3;
    harnessSignal(&H, stopped, SIGSTOP);
    harnessSignal(&H, (int)leader, SIGKILL);
    usleep(3500000); /* the outage itself: instants pile up while no leader can be elected */
    harnessSignal(&H, stopped, SIGCONT);
    uint64_t next = harnessWaitLeader(&H, 3, 2, 20000);
    assert_int_not_equal(next, 0);
    assert_int_not_equal(next, leader);
    size_t after = waitLines(out, before + 3, 20000);
    assert_true(after >= before + 3);
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_pause(c, "", "tick", &job), 0);
    rc_message_free(job);
    waitIdle(c, "tick", 20000);

    int64_t fired = 0;
    checkDecisions(c, "tick", &fired);
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", "tick", 1000, 0, &d), 0);
    size_t coalesced = 0;
    for (size_t i = 0; i < d->n_decisions; i++) { /* newest first */
        const Raftcron__Decision *x = d->decisions[i];
        assert_int_not_equal(x->decision, RC_DECISION_MISSED);
        assert_int_not_equal(x->decision, RC_DECISION_SKIPPED);
        if (x->decision != RC_DECISION_COALESCED) {
            continue;
        }
        coalesced += x->count;
        assert_true(x->last_us < x->decided_us); /* only past-due instants coalesce */
        assert_true(i > 0);
        const Raftcron__Decision *latest = d->decisions[i - 1];
        assert_int_equal(latest->decision, RC_DECISION_FIRED);
        assert_int_equal(latest->first_us, x->last_us + SEC);
        assert_int_equal(latest->decided_us, x->decided_us); /* the same entry */
    }
    rc_message_free(d);
    if (coalesced < 2) {
        fail_msg("%zu instants coalesced after a 3.5 s outage, want 2 at least", coalesced);
    }
    /* Nothing ran twice; every FIRED instant ran at most once (runs placed on the killed leader
     * died with it). */
    static struct line lines[MAX_LINES];
    size_t n = readLines(out, "default/tick", lines, MAX_LINES);
    assert_true((int64_t)n <= fired);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(lines[i].scheduled, lines[j].scheduled) == 0) {
                fail_msg("instant %s executed twice", lines[i].scheduled);
            }
        }
    }
    rc_client_close(c);
}

/* Start lateness under the real scheduler, three nodes, a job every second: every run starts
 * at or after its instant (the start timer never fires early) and within START_LATE_MS. A
 * generous bound for a loaded machine, far below what a heartbeat- or failover-driven delay
 * would show; the precise figures are bench/'s. */
#define START_LATE_MS 1000

static void test_start_lateness(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 3, NULL), 0);
    char out[300], cmd[600];
    snprintf(out, sizeof out, "%s/late.txt", H.dir);
    snprintf(cmd, sizeof cmd,
             "t=$(date +%%s%%N); echo \"$t $(date -d \"$RAFTCRON_SCHEDULED_AT\" +%%s%%N) "
             "$RAFTCRON_RUN_ID\" >> %s",
             out);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    harnessPutJob(c,
                  &(struct harness_job){
                      .name = "late", .cron = "* * * * * *", .command = cmd, .max_instances = 5});
    int64_t deadline = harnessNowMs() + 30000;
    size_t n = 0;
    long long start[16], sched[16];
    unsigned long long run[16];
    while (n < 12 && harnessNowMs() < deadline) {
        usleep(200000);
        FILE *f = fopen(out, "r");
        n = 0;
        while (f != NULL && n < 16 &&
               fscanf(f, "%lld %lld %llu", &start[n], &sched[n], &run[n]) == 3) {
            n++;
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    assert_true(n >= 12);
    for (size_t i = 0; i < n; i++) {
        long long late_ms = (start[i] - sched[i]) / 1000000;
        if (start[i] < sched[i] || late_ms >= START_LATE_MS) {
            fail_msg("run %llu started %lld ms after its instant (bound [0, %d))", run[i], late_ms,
                     START_LATE_MS);
        }
    }
    rc_client_close(c);
}

/* The highest index of the snapshots in dir (raft_uv: snapshot-TERM-INDEX-TIMESTAMP), 0 if
 * none. */
static uint64_t snapshotIndex(const char *dir)
{
    char out[64];
    harnessRun(out, sizeof out,
               "ls '%s' | sed -n 's/^snapshot-[0-9]*-\\([0-9]*\\)-[0-9]*$/\\1/p' | sort -n | "
               "tail -1",
               dir);
    return strtoull(out, NULL, 10);
}

static uint64_t appliedIndex(int id)
{
    struct rc_client *c = harnessClientOf(&H, id, 2 * SEC);
    Raftcron__DigestResponse *d = NULL;
    uint64_t index = 0;
    if (c != NULL && rc_cluster_digest(c, 1, &d) == 0) {
        index = d->applied_index;
    }
    rc_message_free(d);
    rc_client_close(c);
    return index;
}

/* A snapshot installed while jobs fire (DESIGN.md §1.1, §1.3): nodes 1 and 2 compact their log
 * every 64 entries keeping 16, node 3 never compacts its own. Node 3 is stopped while eight
 * jobs fire every second, until the others' logs have moved 200 entries past it; restarted, it
 * can only catch up by an installed snapshot — which is then on its disk, of an index past where
 * it left, the only way one gets there. Then nothing was lost or doubled: the decisions of every
 * job tile its instants, all FIRED (the grace is 60 s); every run ran once, or died with node 3's
 * worker; no (run, attempt) ran twice; the replicas agree. */
#define SNAP_JOBS 8

static void test_snapshot_installed_while_firing(void **state)
{
    (void)state;
    const char *const small[] = {"--bootstrap", "--snapshot-threshold", "64", "--snapshot-trailing",
                                 "16",          "--worker-timeout",     "3s", NULL};
    harnessStart(&H, 1, small);
    assert_int_not_equal(harnessWaitLeader(&H, 1, 1, 20000), 0);
    char join[64];
    harnessRpcAddr(&H, 1, join, sizeof join);
    const char *const small_join[] = {"--join",
                                      join,
                                      "--snapshot-threshold",
                                      "64",
                                      "--snapshot-trailing",
                                      "16",
                                      "--worker-timeout",
                                      "3s",
                                      NULL};
    const char *const big_join[] = {
        "--join", join, "--snapshot-threshold", "1000000", "--worker-timeout", "3s", NULL};
    harnessStart(&H, 2, small_join);
    harnessStart(&H, 3, big_join);
    assert_int_not_equal(harnessWaitLeader(&H, 3, 3, 30000), 0);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    if (harnessWaitLeader(&H, 3, 3, 10000) == 3) {
        assert_int_equal(rc_member_transfer(c, 1), 0);
        assert_int_equal(harnessWaitLeader(&H, 3, 3, 10000), 1);
    }
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", H.dir);
    for (int i = 0; i < SNAP_JOBS; i++) {
        char name[32];
        snprintf(name, sizeof name, "snap-%d", i);
        addNamedTicker(c, name, out);
    }
    char dir3[300];
    harnessDataDir(&H, 3, dir3, sizeof dir3);
    static struct line lines[MAX_LINES * 4];
    int64_t deadline = harnessNowMs() + 20000;
    while (readLines(out, NULL, lines, MAX_LINES * 4) < 3 * SNAP_JOBS &&
           harnessNowMs() < deadline) {
        usleep(50000);
    }
    uint64_t left_at = appliedIndex(3);
    assert_int_not_equal(left_at, 0);
    harnessSignal(&H, 3, SIGTERM);
    assert_int_equal(harnessWait(&H, 3, HARNESS_STOP_MS), 0);
    deadline = harnessNowMs() + 60000;
    while (appliedIndex(1) < left_at + 200 && harnessNowMs() < deadline) {
        usleep(100000);
    }
    assert_true(appliedIndex(1) >= left_at + 200);
    harnessStart(&H, 3, big_join);
    assert_true(harnessWaitConverged(&H, 3, 3, 60000));
    /* Installed: node 3 takes no snapshot of its own, and this one is of state it never had. */
    uint64_t installed = snapshotIndex(dir3);
    if (installed <= left_at) {
        fail_msg("node 3 holds no snapshot past index %llu, where it left (newest: %llu)",
                 (unsigned long long)left_at, (unsigned long long)installed);
    }
    size_t before = readLines(out, NULL, lines, MAX_LINES * 4);
    deadline = harnessNowMs() + 20000;
    while (readLines(out, NULL, lines, MAX_LINES * 4) < before + 2 * SNAP_JOBS &&
           harnessNowMs() < deadline) {
        usleep(50000);
    }

    for (int i = 0; i < SNAP_JOBS; i++) {
        char name[32];
        snprintf(name, sizeof name, "snap-%d", i);
        Raftcron__Job *job = NULL;
        assert_int_equal(rc_job_pause(c, "", name, &job), 0);
        rc_message_free(job);
    }
    size_t n = readLines(out, NULL, lines, MAX_LINES * 4);
    assert_true(n >= before + 2 * SNAP_JOBS); /* firing went on after the install */
    for (int i = 0; i < SNAP_JOBS; i++) {
        char name[32];
        snprintf(name, sizeof name, "snap-%d", i);
        waitIdle(c, name, 30000);
        int64_t fired = 0;
        int64_t covered = checkDecisions(c, name, &fired);
        assertAllFired(c, name);
        assert_int_equal(fired, covered);
    }
    n = readLines(out, NULL, lines, MAX_LINES * 4);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (lines[i].run_id == lines[j].run_id && lines[i].attempt == lines[j].attempt) {
                fail_msg("run %llu attempt %u (instant %s) executed twice", lines[i].run_id,
                         lines[i].attempt, lines[i].scheduled);
            }
        }
    }
    for (int i = 0; i < SNAP_JOBS; i++) {
        char name[32];
        snprintf(name, sizeof name, "snap-%d", i);
        Raftcron__RunListResponse *all = NULL;
        assert_int_equal(rc_run_list(c, "", name, "", 1000, 0, &all), 0);
        for (size_t k = 0; k < all->n_runs; k++) {
            const Raftcron__Run *r = all->runs[k];
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++) {
                seen = lines[j].run_id == r->id;
            }
            bool lost_with_3 = r->state == RC_RUN_DEAD && r->worker_id == 3;
            if (!(r->state == RC_RUN_SUCCEEDED && seen) && !lost_with_3) {
                fail_msg("%s run %llu is %s on worker %llu%s", name, (unsigned long long)r->id,
                         runsStateName(r->state), (unsigned long long)r->worker_id,
                         seen ? "" : ", never executed");
            }
        }
        rc_message_free(all);
    }
    for (int id = 1; id <= 3; id++) {
        assert_true(harnessWaitConverged(&H, 3, id, 20000));
    }
    rc_client_close(c);
}

enum { ST_RUNNING = 3, ST_SUCCEEDED = 4, ST_DEAD = 9, ST_CANCELLED = 10 };

static void test_manual_runs_cancel_and_dead_letters(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 1, NULL), 0);
    struct rc_client *c = harnessClient(&H, 1, 10 * SEC);
    char out[300], cmd[400];
    snprintf(out, sizeof out, "%s/manual.txt", H.dir);
    snprintf(cmd, sizeof cmd, "echo \"$RAFTCRON_RUN_ID\" >> %s", out);
    harnessPutJob(c, &(struct harness_job){.name = "manual", .command = cmd});
    harnessPutJob(c, &(struct harness_job){.name = "sleeper", .command = "sleep 30"});
    harnessPutJob(c, &(struct harness_job){.name = "fails", .command = "exit 3"});

    /* run-now: a manual run executes at once. */
    uint64_t id = 0;
    assert_int_equal(rc_job_run_now(c, "", "manual", 0, &id), 0);
    assert_int_not_equal(id, 0);
    rc_message_free(harnessWaitRun(c, id, ST_SUCCEEDED, 20000));
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    unsigned long long ran = 0;
    assert_int_equal(fscanf(f, "%llu", &ran), 1);
    fclose(f);
    assert_int_equal(ran, id);

    /* The overlap policy (allow, max 1) refuses a second run while one is active, unless
     * forced; cancel stops both. */
    uint64_t s1 = 0, s2 = 0;
    assert_int_equal(rc_job_run_now(c, "", "sleeper", 0, &s1), 0);
    rc_message_free(harnessWaitRun(c, s1, ST_RUNNING, 20000));
    assert_int_not_equal(rc_job_run_now(c, "", "sleeper", 0, &s2), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_FAILED_PRECONDITION);
    assert_int_equal(rc_job_run_now(c, "", "sleeper", 1, &s2), 0);
    assert_int_equal(rc_run_cancel(c, s1), 0);
    assert_int_equal(rc_run_cancel(c, s2), 0);
    rc_message_free(harnessWaitRun(c, s1, ST_CANCELLED, 5000));
    rc_message_free(harnessWaitRun(c, s2, ST_CANCELLED, 5000));
    /* Cancelling again is no error (a retried cancel whose first try was applied). */
    assert_int_equal(rc_run_cancel(c, s1), 0);

    /* A failing run without retries is a dead letter; dlq retry runs its instant again. */
    uint64_t dead = 0, again = 0;
    assert_int_equal(rc_job_run_now(c, "", "fails", 0, &dead), 0);
    rc_message_free(harnessWaitRun(c, dead, ST_DEAD, 20000));
    /* A run that finished otherwise cannot be cancelled. */
    assert_int_not_equal(rc_run_cancel(c, dead), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_FAILED_PRECONDITION);
    Raftcron__RunListResponse *dlq = NULL;
    assert_int_equal(rc_dlq_list(c, "", 100, 0, &dlq), 0);
    assert_int_equal(dlq->n_runs, 1);
    assert_int_equal(dlq->runs[0]->id, dead);
    int64_t instant = dlq->runs[0]->scheduled_us;
    rc_message_free(dlq);
    assert_int_equal(rc_dlq_retry(c, dead, &again), 0);
    assert_true(again > dead);
    rc_message_free(harnessWaitRun(c, again, ST_DEAD, 20000));
    Raftcron__Run *r = NULL;
    assert_int_equal(rc_run_get(c, again, 0, &r), 0);
    assert_int_equal(r->scheduled_us, instant);
    assert_true(r->manual);
    assert_int_equal(r->outcome->exit_code, 3);
    rc_message_free(r);
    assert_int_not_equal(rc_dlq_retry(c, id, &again), 0); /* a succeeded run is no dead letter */
    rc_client_close(c);
}

/* Regression (Jepsen, clock,member seed 2): a node removed, wiped and re-added under the same id
 * replays the whole log; while it does, runs its earlier process was assigned (and finished)
 * look ASSIGNED to it for a moment. It must never execute them: runs carry the incarnation of
 * the worker process they were given to. Three remove/wipe/re-add cycles while a job fires
 * every second; then no (run, attempt) executed twice. */
static void test_readded_node_never_replays_runs(void **state)
{
    (void)state;
    const char *const extra[] = {"--worker-timeout", "3s", NULL};
    assert_int_not_equal(harnessStartCluster(&H, 3, extra), 0);
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", H.dir);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    addTicker(c, out);
    /* More history to replay: the re-added node's log holds many assignments. */
    char more[300];
    snprintf(more, sizeof more, "%s/more.txt", H.dir);
    for (int i = 0; i < 15; i++) {
        char name[32];
        snprintf(name, sizeof name, "more-%02d", i);
        addNamedTicker(c, name, more);
    }
    size_t seen = waitLines(out, 6, 20000);
    assert_true(seen >= 6);
    for (int cycle = 0; cycle < 3; cycle++) {
        uint64_t leader = harnessWaitLeader(&H, 3, 3, 30000);
        assert_int_not_equal(leader, 0);
        int victim = leader == 3 ? 2 : 3;
        assert_int_equal(rc_member_remove(c, (uint64_t)victim, 0), 0);
        harnessSignal(&H, victim, SIGKILL);
        char data[300];
        harnessDataDir(&H, victim, data, sizeof data);
        char rm[400];
        snprintf(rm, sizeof rm, "rm -rf '%s'", data);
        assert_int_equal(system(rm), 0);
        char join[64];
        harnessRpcAddr(&H, (int)leader, join, sizeof join);
        const char *const args[] = {"--join", join, "--worker-timeout", "3s", NULL};
        harnessStart(&H, victim, args);
        assert_int_not_equal(harnessWaitLeader(&H, 3, 3, 30000), 0);
        size_t before = seen;
        seen = waitLines(out, before + 4, 20000);
        assert_true(seen >= before + 4); /* the cluster goes on firing after each cycle */
    }
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_pause(c, "", "tick", &job), 0);
    rc_message_free(job);
    for (int i = 0; i < 15; i++) {
        char name[32];
        snprintf(name, sizeof name, "more-%02d", i);
        assert_int_equal(rc_job_pause(c, "", name, &job), 0);
        rc_message_free(job);
    }
    /* Runs still in flight finish (and write their lines) before the files are judged. */
    waitIdle(c, "tick", 30000);
    for (int i = 0; i < 15; i++) {
        char name[32];
        snprintf(name, sizeof name, "more-%02d", i);
        waitIdle(c, name, 30000);
    }
    /* Every execution of every job: no (run, attempt) twice. */
    char cat[700];
    snprintf(cat, sizeof cat, "cat '%s' >> '%s'", more, out);
    assert_int_equal(system(cat), 0);
    static struct line lines[MAX_LINES * 4];
    size_t n = readLines(out, NULL, lines, MAX_LINES * 4);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (lines[i].run_id == lines[j].run_id && lines[i].attempt == lines[j].attempt) {
                fail_msg("run %llu attempt %u (instant %s) executed twice", lines[i].run_id,
                         lines[i].attempt, lines[i].scheduled);
            }
        }
    }
    /* The re-added replicas hold the same state as the leader's. */
    for (int id = 1; id <= 3; id++) {
        assert_true(harnessWaitConverged(&H, 3, id, 20000));
    }
    rc_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leader_killed_while_firing, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_readded_node_never_replays_runs, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_manual_runs_cancel_and_dead_letters, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_coalesce_after_failover, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_start_lateness, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_snapshot_installed_while_firing, harnessSetup,
                                        harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
