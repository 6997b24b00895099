/* cmocka fixtures and the job and run helpers shared by the integration tests (harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "raftcron.pb-c.h"

struct harness H;

int harnessSetup(void **state)
{
    (void)state;
    harnessInit(&H);
    return 0;
}

int harnessTeardown(void **state)
{
    (void)state;
    return harnessClose(&H) ? 0 : -1;
}

int harnessTryPutJob(struct rc_client *c, const struct harness_job *j)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger trig = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    Raftcron__RetryPolicy retry = RAFTCRON__RETRY_POLICY__INIT;
    Raftcron__JobSpec__TargetEntry zone = RAFTCRON__JOB_SPEC__TARGET_ENTRY__INIT;
    Raftcron__JobSpec__TargetEntry *targets[1] = {&zone};
    char *argv[1] = {(char *)j->argv0};
    if (j->at_us != 0) {
        trig.kind_case = RAFTCRON__TRIGGER__KIND_AT_US;
        trig.at_us = j->at_us;
    } else {
        trig.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
        trig.cron = (char *)(j->cron != NULL ? j->cron : "0 0 1 1 *");
    }
    if (j->command != NULL) {
        sh.command = (char *)j->command;
    } else {
        sh.n_argv = 1;
        sh.argv = argv;
    }
    Raftcron__NoopExec noop = RAFTCRON__NOOP_EXEC__INIT;
    if (j->noop) {
        ex.kind_case = RAFTCRON__EXECUTOR__KIND_NOOP;
        ex.noop = &noop;
    } else {
        ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
        ex.shell = &sh;
    }
    spec.name = (char *)j->name;
    spec.trigger = &trig;
    spec.executor = j->executor != NULL ? (Raftcron__Executor *)j->executor : &ex;
    spec.timeout_us = j->timeout_us;
    if (j->misfire_grace_us != 0 || j->max_instances != 0 || j->coalesce || j->overlap != 0) {
        pol.misfire_grace_us = j->misfire_grace_us;
        pol.max_instances = j->max_instances;
        pol.coalesce = j->coalesce;
        pol.overlap = j->overlap;
        spec.policy = &pol;
    }
    if (j->attempts != 0 || j->backoff != 0 || j->delay_us != 0 || j->multiplier != 0) {
        retry.max_attempts = j->attempts;
        retry.backoff = j->backoff;
        retry.delay_us = j->delay_us;
        retry.multiplier = j->multiplier;
        spec.retry = &retry;
    }
    if (j->zone != NULL) {
        zone.key = "zone";
        zone.value = (char *)j->zone;
        spec.n_target = 1;
        spec.target = targets;
    }
    Raftcron__Job *job = NULL;
    int rv = rc_job_put(c, &spec, 0, 1, &job);
    rc_message_free(job);
    return rv;
}

void harnessPutJob(struct rc_client *c, const struct harness_job *j)
{
    if (harnessTryPutJob(c, j) != 0) {
        fail_msg("put %s: %s", j->name, rc_client_errmsg(c));
    }
}

Raftcron__Run *harnessWaitRun(struct rc_client *c, uint64_t id, uint32_t want, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    uint32_t state = 0;
    while (harnessNowMs() < deadline) {
        Raftcron__Run *r = NULL;
        if (rc_run_get(c, id, 0, &r) == 0) {
            state = r->state;
            if (state == want) {
                return r;
            }
            rc_message_free(r);
        }
        usleep(50000);
    }
    fail_msg("run %llu is in state %u, not %u, after %d ms", (unsigned long long)id, state, want,
             timeout_ms);
    return NULL;
}
