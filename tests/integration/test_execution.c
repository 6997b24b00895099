/*
 * Execution through the cluster (DESIGN.md §5): what a run's outcome says when the command fails
 * and is retried with backoff, times out (the whole process group is killed), prints 100 MB (only
 * the tail is kept in the ledger) or does not exist (the run fails with a clear error; the node
 * carries on). One node: placement and failover are other tests' business.
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

#define SEC INT64_C(1000000)
#define MS  INT64_C(1000)

enum { ST_SUCCEEDED = 4, ST_DEAD = 9 };

static struct rc_client *oneNode(void)
{
    assert_int_not_equal(harnessStartCluster(&H, 1, NULL), 0);
    return harnessClient(&H, 1, 10 * SEC);
}

static uint64_t runNow(struct rc_client *c, const char *name)
{
    uint64_t id = 0;
    if (rc_job_run_now(c, "", name, 0, &id) != 0) {
        fail_msg("run-now %s: %s", name, rc_client_errmsg(c));
    }
    return id;
}

/* The attempts of a run as its command recorded them ("ATTEMPT FENCE NS" lines). */
struct attempts {
    int n;
    unsigned attempt[8];
    unsigned long long fence[8], ns[8];
};

static void readAttempts(const char *path, struct attempts *a)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    a->n = 0;
    while (a->n < 8 &&
           fscanf(f, "%u %llu %llu", &a->attempt[a->n], &a->fence[a->n], &a->ns[a->n]) == 3) {
        a->n++;
    }
    fclose(f);
}

/* A gap between attempts is the backoff plus what it takes to commit the retry, place and
 * start the next attempt (about 0.3 s here under ASan): at least the backoff, and less than
 * BACKOFF_SLACK_MS more on a loaded machine. The lower bounds tell fixed from linear from
 * exponential; the upper bound tells exponential's third gap (1800 ms) from linear's (600 ms),
 * so the slack stays below their difference. */
#define BACKOFF_SLACK_MS 1000

static void assertGaps(const char *name, const struct attempts *a, const long long *want_ms,
                       int n_gaps)
{
    assert_int_equal(a->n, n_gaps + 1); /* exactly this many executions */
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->attempt[i], (unsigned)i + 1);
        if (i == 0) {
            continue;
        }
        assert_true(a->fence[i] > a->fence[i - 1]); /* each attempt under a newer fence */
        long long gap_ms = (long long)(a->ns[i] - a->ns[i - 1]) / 1000000;
        if (gap_ms < want_ms[i - 1] || gap_ms >= want_ms[i - 1] + BACKOFF_SLACK_MS) {
            fail_msg("%s: attempt %d came %lld ms after attempt %d, want [%lld, %lld)", name, i + 1,
                     gap_ms, i, want_ms[i - 1], want_ms[i - 1] + BACKOFF_SLACK_MS);
        }
    }
}

/* Backoff: four attempts with linear (200, 400, 600 ms) and with exponential (multiplier 3:
 * 200, 600, 1800 ms) delays, then a dead letter each. The attempts are read from what the
 * commands themselves recorded. */
static void test_retries_back_off_then_dead_letter(void **state)
{
    (void)state;
    struct rc_client *c = oneNode();
    const char *names[] = {"linear", "exponential"};
    const long long want[2][3] = {{200, 400, 600}, {200, 600, 1800}};
    uint64_t ids[2];
    for (int k = 0; k < 2; k++) {
        char out[300], cmd[500];
        snprintf(out, sizeof out, "%s/%s.txt", H.dir, names[k]);
        snprintf(cmd, sizeof cmd,
                 "echo \"$RAFTCRON_ATTEMPT $RAFTCRON_FENCE $(date +%%s%%N)\" >> %s; exit 1", out);
        struct harness_job flaky = {.name = names[k],
                                    .command = cmd,
                                    .attempts = 4,
                                    .backoff = k == 0 ? 1 : 2,
                                    .delay_us = 200 * MS,
                                    .multiplier = k == 0 ? 0 : 3};
        harnessPutJob(c, &flaky);
        ids[k] = runNow(c, names[k]);
    }
    for (int k = 0; k < 2; k++) {
        Raftcron__Run *r = harnessWaitRun(c, ids[k], ST_DEAD, 30000);
        assert_int_equal(r->attempt, 4);
        assert_int_equal(r->outcome->exit_code, 1);
        rc_message_free(r);
        char out[300];
        snprintf(out, sizeof out, "%s/%s.txt", H.dir, names[k]);
        struct attempts a;
        readAttempts(out, &a);
        assertGaps(names[k], &a, want[k], 3);
    }

    Raftcron__RunListResponse *dlq = NULL;
    assert_int_equal(rc_dlq_list(c, "", 100, 0, &dlq), 0);
    assert_int_equal(dlq->n_runs, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(dlq->runs[i]->id == ids[0] || dlq->runs[i]->id == ids[1]);
    }
    rc_message_free(dlq);
    rc_client_close(c);
}

/* A timeout kills the whole process group: a background child of the command dies too. */
static void test_timeout_kills_the_process_group(void **state)
{
    (void)state;
    struct rc_client *c = oneNode();
    char pidfile[300], cmd[500];
    snprintf(pidfile, sizeof pidfile, "%s/child.pid", H.dir);
    snprintf(cmd, sizeof cmd, "sleep 120 & echo $! > %s; wait", pidfile);
    struct harness_job slow = {
        .name = "slow", .command = cmd, .timeout_us = 700 * MS, .attempts = 1};
    harnessPutJob(c, &slow);
    uint64_t id = runNow(c, "slow");
    Raftcron__Run *r = harnessWaitRun(c, id, ST_DEAD, 20000);
    assert_non_null(strstr(r->end_reason, "retries exhausted"));
    rc_message_free(r);
    /* The dead letter came from a TIMED_OUT attempt: check the outcome's error. */
    assert_int_equal(rc_run_get(c, id, 0, &r), 0);
    assert_non_null(r->outcome);
    assert_non_null(strstr(r->outcome->error, "timed out"));
    rc_message_free(r);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    int64_t deadline = harnessNowMs() + 10000;
    while (kill((pid_t)pid, 0) == 0 && harnessNowMs() < deadline) {
        usleep(20000);
    }
    assert_int_not_equal(kill((pid_t)pid, 0), 0);
    rc_client_close(c);
}

/* 100 MB of output: the run succeeds and the ledger keeps only the last 16 KiB. */
static void test_huge_output_keeps_the_tail(void **state)
{
    (void)state;
    struct rc_client *c = oneNode();
    struct harness_job loud = {.name = "loud",
                               .command = "head -c 100000000 /dev/zero | tr '\\0' x; echo; "
                                          "echo the-end",
                               .attempts = 1};
    harnessPutJob(c, &loud);
    uint64_t id = runNow(c, "loud");
    Raftcron__Run *r = harnessWaitRun(c, id, ST_SUCCEEDED, 60000);
    assert_non_null(r->outcome);
    assert_true(r->outcome->output_tail.len > 0);
    assert_true(r->outcome->output_tail.len <= 16384);
    const char *end = "the-end\n";
    size_t len = r->outcome->output_tail.len;
    assert_true(len >= strlen(end));
    assert_memory_equal(r->outcome->output_tail.data + len - strlen(end), end, strlen(end));
    rc_message_free(r);
    rc_client_close(c);
}

/* A command that does not exist fails its run with a clear error; the node goes on. */
static void test_missing_command_fails_the_run_not_the_node(void **state)
{
    (void)state;
    struct rc_client *c = oneNode();
    struct harness_job viaShell = {
        .name = "via-shell", .command = "/no/such/command --flag", .attempts = 1};
    struct harness_job viaArgv = {.name = "via-argv", .argv0 = "/no/such/binary", .attempts = 1};
    harnessPutJob(c, &viaShell);
    harnessPutJob(c, &viaArgv);
    uint64_t a = runNow(c, "via-shell");
    uint64_t b = runNow(c, "via-argv");
    Raftcron__Run *r = harnessWaitRun(c, a, ST_DEAD, 20000);
    assert_int_equal(r->outcome->exit_code, 127);
    assert_non_null(memmem(r->outcome->output_tail.data, r->outcome->output_tail.len,
                           "/no/such/command", strlen("/no/such/command")));
    rc_message_free(r);
    r = harnessWaitRun(c, b, ST_DEAD, 20000);
    assert_non_null(strstr(r->outcome->error, "/no/such/binary"));
    rc_message_free(r);
    /* The node still serves and still executes. */
    struct harness_job fine = {.name = "fine", .command = "true", .attempts = 1};
    harnessPutJob(c, &fine);
    rc_message_free(harnessWaitRun(c, runNow(c, "fine"), ST_SUCCEEDED, 20000));
    rc_client_close(c);
}

/* --history-runs is the default history count of jobs put through the leader: with 3, a job
 * that leaves its own bound unset keeps 3 finished runs, whatever ran before. */
static void test_history_runs_flag_bounds_history(void **state)
{
    (void)state;
    const char *const extra[] = {"--history-runs", "3", NULL};
    assert_int_not_equal(harnessStartCluster(&H, 1, extra), 0);
    struct rc_client *c = harnessClient(&H, 1, 10 * SEC);
    struct harness_job quick = {.name = "quick", .command = "true", .attempts = 1};
    harnessPutJob(c, &quick);
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_get(c, "", "quick", 0, &job), 0);
    assert_int_equal(job->spec->policy->history_max, 3);
    rc_message_free(job);
    for (int i = 0; i < 5; i++) {
        rc_message_free(harnessWaitRun(c, runNow(c, "quick"), ST_SUCCEEDED, 20000));
    }
    Raftcron__RunListResponse *list = NULL;
    assert_int_equal(rc_run_list(c, "", "quick", "", 100, 0, &list), 0);
    assert_int_equal(list->n_runs, 3);
    rc_message_free(list);
    rc_client_close(c);
}

/* Job.Put takes http and sql jobs and checks them first: a URL that is not http(s) and a dsn
 * that carries a password (it would be replicated to every node) are refused with
 * INVALID_ARGUMENT and nothing is committed. */
static void test_http_and_sql_jobs_are_checked(void **state)
{
    (void)state;
    struct rc_client *c = oneNode();
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger trig = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__HttpExec http = RAFTCRON__HTTP_EXEC__INIT;
    Raftcron__SqlExec sql = RAFTCRON__SQL_EXEC__INIT;
    trig.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    trig.interval_us = 3600 * SEC;
    http.url = "ftp://127.0.0.1:9/hook";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    ex.http = &http;
    spec.name = "hook";
    spec.trigger = &trig;
    spec.executor = &ex;
    Raftcron__Job *job = NULL;
    assert_int_not_equal(rc_job_put(c, &spec, 0, 1, &job), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(rc_client_errmsg(c), "http:// or https://"));
    http.url = "http://127.0.0.1:9/hook";
    assert_int_equal(rc_job_put(c, &spec, 0, 1, &job), 0);
    rc_message_free(job);

    sql.query = "SELECT 1";
    sql.dsn = "host=db user=app password=hunter2";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SQL;
    ex.sql = &sql;
    spec.name = "db";
    assert_int_not_equal(rc_job_put(c, &spec, 0, 1, &job), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(rc_client_errmsg(c), "holds a password"));
    assert_null(strstr(rc_client_errmsg(c), "hunter2"));
    assert_int_not_equal(rc_job_get(c, "", "db", 0, &job), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_NOT_FOUND);
    sql.dsn = "";
    sql.conn = "warehouse";
    assert_int_equal(rc_job_put(c, &spec, 0, 1, &job), 0);
    rc_message_free(job);
    rc_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retries_back_off_then_dead_letter, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_the_process_group, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_huge_output_keeps_the_tail, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_missing_command_fails_the_run_not_the_node,
                                        harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_history_runs_flag_bounds_history, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_http_and_sql_jobs_are_checked, harnessSetup,
                                        harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
