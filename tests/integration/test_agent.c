/*
 * Worker agents end to end (DESIGN.md §5): three member nodes that execute nothing
 * (--no-execute) and two `raftcrond --worker` agents with tags. Runs go only to an agent whose
 * tags match the job's target; a run nobody matches waits and says why; a cancel reaches the
 * agent and kills the process; an agent killed mid-run is marked down, its run LOST and retried,
 * and the retry waits until a matching agent is back.
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

enum {
    ST_PENDING = 1,
    ST_RUNNING = 3,
    ST_SUCCEEDED = 4,
    ST_CANCELLED = 10,
};

static size_t countLines(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    for (int ch; f != NULL && (ch = fgetc(f)) != EOF;) {
        n += ch == '\n';
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static long readPid(const char *path, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    long pid = 0;
    while (pid == 0 && harnessNowMs() < deadline) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fscanf(f, "%ld", &pid) != 1) {
                pid = 0;
            }
            fclose(f);
        }
        if (pid == 0) {
            usleep(20000);
        }
    }
    return pid;
}

static bool waitGone(long pid, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    while (kill((pid_t)pid, 0) == 0 && harnessNowMs() < deadline) {
        usleep(20000);
    }
    return kill((pid_t)pid, 0) != 0;
}

static const char *const MEMBER_FLAGS[] = {"--no-execute", "--worker-timeout", "3s", NULL};

static void startAgents(void)
{
    const char *const a[] = {"--tags", "zone=a", "--max-parallel", "2", NULL};
    const char *const b[] = {"--tags", "zone=b", NULL};
    harnessStartAgent(&H, 5, 3, a);
    harnessStartAgent(&H, 6, 3, b);
}

static void test_agents_run_what_matches_their_tags(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 3, MEMBER_FLAGS), 0);
    startAgents();
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    char out[300], cmd[400];
    snprintf(out, sizeof out, "%s/a.txt", H.dir);
    snprintf(cmd, sizeof cmd, "echo \"$RAFTCRON_SCHEDULED_AT $RAFTCRON_RUN_ID\" >> %s", out);
    struct harness_job tick = {.misfire_grace_us = 60 * SEC,
                               .max_instances = 5,
                               .name = "tick-a",
                               .cron = "* * * * * *",
                               .command = cmd,
                               .zone = "a",
                               .attempts = 1};
    harnessPutJob(c, &tick);
    int64_t deadline = harnessNowMs() + 30000;
    while (countLines(out) < 4 && harnessNowMs() < deadline) {
        usleep(50000);
    }
    assert_true(countLines(out) >= 4);

    /* Every run of the job went to the zone=a agent, and none to a member (--no-execute). */
    Raftcron__RunListResponse *list = NULL;
    assert_int_equal(rc_run_list(c, "", "tick-a", "", 1000, 0, &list), 0);
    size_t placed = 0;
    for (size_t i = 0; i < list->n_runs; i++) {
        if (list->runs[i]->worker_id != 0) {
            assert_int_equal(list->runs[i]->worker_id, 5);
            placed++;
        }
    }
    assert_true(placed >= 4);
    rc_message_free(list);

    /* No agent has zone=c: the run waits and says why. */
    struct harness_job nowhere = {.misfire_grace_us = 60 * SEC,
                                  .max_instances = 5,
                                  .name = "nowhere",
                                  .command = "true",
                                  .zone = "c",
                                  .attempts = 1};
    harnessPutJob(c, &nowhere);
    uint64_t id = 0;
    assert_int_equal(rc_job_run_now(c, "", "nowhere", 0, &id), 0);
    deadline = harnessNowMs() + 10000;
    bool explained = false;
    char reason[256] = "";
    while (!explained && harnessNowMs() < deadline) {
        Raftcron__Run *r = NULL;
        if (rc_run_get(c, id, 0, &r) == 0) {
            assert_int_equal(r->state, ST_PENDING);
            snprintf(reason, sizeof reason, "%s", r->wait_reason);
            explained = strstr(reason, "zone=c") != NULL;
            rc_message_free(r);
        }
        if (!explained) {
            usleep(50000);
        }
    }
    if (!explained) {
        fail_msg("the waiting run says \"%s\"", reason);
    }

    /* A worker cannot take a member's id: the two would take each other's runs. */
    Raftcron__Worker impostor = RAFTCRON__WORKER__INIT;
    impostor.id = 2;
    impostor.address = "agent@elsewhere";
    impostor.capacity = 1;
    impostor.incarnation = 1;
    Raftcron__SessionOpen hello = RAFTCRON__SESSION_OPEN__INIT;
    hello.worker = &impostor;
    uint8_t buf[256];
    size_t len = raftcron__session_open__pack(&hello, buf);
    void *resp = NULL;
    size_t resp_len = 0;
    assert_int_not_equal(rc_client_call(c, "Worker.Session", buf, len, &resp, &resp_len, 0), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_ALREADY_EXISTS);
    assert_non_null(strstr(rc_client_errmsg(c), "member node"));
    free(resp);
    rc_client_close(c);
}

static void test_agent_cancel_and_death(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 3, MEMBER_FLAGS), 0);
    startAgents();
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    char pidfile[300], cmd[400];
    snprintf(pidfile, sizeof pidfile, "%s/sleeper.pid", H.dir);
    snprintf(cmd, sizeof cmd, "echo $$ > %s.$RAFTCRON_ATTEMPT; exec sleep 60", pidfile);
    struct harness_job sleeper = {.misfire_grace_us = 60 * SEC,
                                  .max_instances = 5,
                                  .name = "sleeper",
                                  .command = cmd,
                                  .zone = "b",
                                  .attempts = 3};
    harnessPutJob(c, &sleeper);

    /* A cancel is pushed to the agent, which kills the process. */
    uint64_t id = 0;
    assert_int_equal(rc_job_run_now(c, "", "sleeper", 0, &id), 0);
    Raftcron__Run *r = harnessWaitRun(c, id, ST_RUNNING, 20000);
    assert_int_equal(r->worker_id, 6);
    rc_message_free(r);
    char path[320];
    snprintf(path, sizeof path, "%s.1", pidfile);
    long pid = readPid(path, 10000);
    assert_true(pid > 0);
    assert_int_equal(rc_run_cancel(c, id), 0);
    rc_message_free(harnessWaitRun(c, id, ST_CANCELLED, 5000));
    assert_true(waitGone(pid, 10000));
    unlink(path);

    /* The agent dies mid-run: after the worker timeout its run is LOST and retried; the retry
     * waits for a zone=b worker and runs when the agent is back. */
    assert_int_equal(rc_job_run_now(c, "", "sleeper", 0, &id), 0);
    rc_message_free(harnessWaitRun(c, id, ST_RUNNING, 20000));
    pid = readPid(path, 10000);
    assert_true(pid > 0);
    harnessSignal(&H, 6, SIGKILL);
    kill((pid_t)pid, SIGKILL); /* its process went with its host */
    /* LOST, then retried as attempt 2 of the same run, which waits for a zone=b worker. */
    int64_t deadline = harnessNowMs() + 20000;
    char reason[256] = "";
    uint32_t attempt = 0;
    while (harnessNowMs() < deadline && (attempt != 2 || strstr(reason, "zone=b") == NULL)) {
        r = NULL;
        if (rc_run_get(c, id, 0, &r) == 0) {
            attempt = r->attempt;
            snprintf(reason, sizeof reason, "%s", r->wait_reason);
            rc_message_free(r);
        }
        usleep(50000);
    }
    if (attempt != 2 || strstr(reason, "zone=b") == NULL) {
        fail_msg("run %llu: attempt %u, waiting because \"%s\"", (unsigned long long)id, attempt,
                 reason);
    }
    uint64_t retry = id;
    const char *const b[] = {"--tags", "zone=b", NULL};
    harnessStartAgent(&H, 6, 3, b);
    r = harnessWaitRun(c, retry, ST_RUNNING, 20000);
    assert_int_equal(r->worker_id, 6);
    assert_int_equal(r->attempt, 2);
    rc_message_free(r);
    snprintf(path, sizeof path, "%s.2", pidfile);
    pid = readPid(path, 10000);
    assert_true(pid > 0);
    assert_int_equal(rc_run_cancel(c, retry), 0);
    assert_true(waitGone(pid, 10000));
    rc_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agents_run_what_matches_their_tags, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_agent_cancel_and_death, harnessSetup, harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
