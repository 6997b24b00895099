/*
 * Firing end to end with real processes (DESIGN.md §1): three nodes, a job every second whose
 * shell command appends "$RAFTCRON_JOB $RAFTCRON_SCHEDULED_AT $RAFTCRON_ATTEMPT $RAFTCRON_RUN_ID"
 * to a file, the leader SIGKILLed midway. Then: no instant executed twice under one attempt,
 * every instant of the window has exactly one decision (no gap, no overlap), and every run the
 * ledger records as succeeded really ran.
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

/* The decisions must tile the instants from the first to the last: one each, no gap. */
static int64_t checkDecisions(struct rc_client *c, int64_t *first_out)
{
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", "tick", 1000, 0, &d), 0);
    assert_true(d->n_decisions > 0);
    /* newest first: walk backwards in time */
    int64_t expect_prev = 0;
    int64_t fired = 0;
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
        fired += x->decision == 1 ? (int64_t)x->count : 0;
    }
    *first_out = expect_prev;
    rc_message_free(d);
    return fired;
}

static void test_leader_killed_while_firing(void **state)
{
    (void)state;
    const char *const extra[] = {"--worker-timeout", "2s", NULL};
    uint64_t leader = harnessStartCluster(&H, 3, extra);
    assert_int_not_equal(leader, 0);
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", H.dir);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    addTicker(c, out);
    size_t before = waitLines(out, 4, 20000);
    assert_true(before >= 4);

    harnessSignal(&H, (int)leader, SIGKILL);
    uint64_t next = harnessWaitLeader(&H, 3, 2, 20000);
    assert_int_not_equal(next, 0);
    assert_int_not_equal(next, leader);
    size_t after = waitLines(out, before + 5, 30000);
    assert_true(after >= before + 5);

    /* Stop firing, let the last runs finish, then judge. */
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_pause(c, "", "tick", &job), 0);
    rc_message_free(job);
    int64_t deadline = harnessNowMs() + 20000;
    for (;;) {
        Raftcron__RunListResponse *active = NULL;
        size_t busy = 0;
        const char *states[] = {"pending", "assigned", "running", "retry_wait"};
        for (size_t s = 0; s < 4; s++) {
            assert_int_equal(rc_run_list(c, "", "tick", states[s], 1000, 0, &active), 0);
            busy += active->n_runs;
            rc_message_free(active);
        }
        if (busy == 0 || harnessNowMs() > deadline) {
            assert_int_equal(busy, 0);
            break;
        }
        usleep(100000);
    }

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
    int64_t first = 0;
    int64_t fired = checkDecisions(c, &first);
    assert_true(fired >= (int64_t)after - 2);

    /* Every run recorded SUCCEEDED really ran (its run id is in the file). */
    Raftcron__RunListResponse *ok = NULL;
    assert_int_equal(rc_run_list(c, "", "tick", "succeeded", 1000, 0, &ok), 0);
    assert_true(ok->n_runs > 0);
    for (size_t i = 0; i < ok->n_runs; i++) {
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            seen = lines[j].run_id == ok->runs[i]->id;
        }
        if (!seen) {
            fail_msg("run %llu is recorded succeeded but never ran",
                     (unsigned long long)ok->runs[i]->id);
        }
    }
    rc_message_free(ok);
    /* The replicas agree. */
    for (int id = 1; id <= 3; id++) {
        if ((uint64_t)id != leader) {
            assert_true(harnessWaitConverged(&H, 3, id, 10000));
        }
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
    assert_int_not_equal(rc_run_cancel(c, s1), 0); /* already cancelled: stale */

    /* A failing run without retries is a dead letter; dlq retry runs its instant again. */
    uint64_t dead = 0, again = 0;
    assert_int_equal(rc_job_run_now(c, "", "fails", 0, &dead), 0);
    rc_message_free(harnessWaitRun(c, dead, ST_DEAD, 20000));
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
    const char *const extra[] = {"--worker-timeout", "2s", NULL};
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
        const char *const args[] = {"--join", join, "--worker-timeout", "2s", NULL};
        harnessStart(&H, victim, args);
        assert_int_not_equal(harnessWaitLeader(&H, 3, 3, 30000), 0);
        seen = waitLines(out, seen + 4, 20000);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
