/*
 * What one leader plan costs (core/sched.c): N jobs in the FSM, D of them due now, best of R
 * plans (docs/performance.md).
 *
 *   build-bench/bin/bench_sched [--jobs N] [--due D] [--rounds R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/sched.h"

#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static double nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put(struct rc_fsm *f, uint64_t index, const char *name, const char *cron)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger trig = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    trig.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    trig.cron = (char *)cron;
    sh.command = "true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.name = (char *)name;
    spec.trigger = &trig;
    spec.executor = &ex;
    void *buf;
    size_t len;
    struct rc_fsm_result res;
    if (commandEncodeJobPut(&spec, 0, true, false, T0, &buf, &len) != 0 ||
        fsmApply(f, index, buf, len, &res) != 0 || res.code != 0) {
        fprintf(stderr, "bench_sched: put %s failed\n", name);
        exit(1);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    long jobs = 10000, due = 100, rounds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--jobs") == 0) {
            jobs = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--due") == 0) {
            due = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = atol(argv[i + 1]);
        }
    }
    if (jobs < 1 || due < 0 || due > jobs || rounds < 1) {
        fprintf(stderr, "usage: bench_sched [--jobs N] [--due D] [--rounds R]\n");
        return 2;
    }
    struct rc_fsm *f;
    if (fsmCreate(&f) != 0) {
        return 1;
    }
    long every = due > 0 ? jobs / due : jobs + 1;
    for (long i = 0; i < jobs; i++) {
        char name[32];
        snprintf(name, sizeof name, "job%06ld", i);
        put(f, (uint64_t)i + 1, name, due > 0 && i % every == 0 ? "* * * * * *" : "0 0 1 1 *");
    }
    struct sched_options o = {.now_us = T0 + 1000000, .lookahead_us = 100000};
    double best = 1e18;
    size_t entries = 0;
    for (long r = 0; r < rounds; r++) {
        struct sched_plan p;
        double t0 = nowMs();
        if (schedPlan(f, &o, &p) != 0) {
            fprintf(stderr, "bench_sched: plan failed\n");
            return 1;
        }
        double ms = nowMs() - t0;
        best = ms < best ? ms : best;
        entries = p.n_entries;
        schedPlanFree(&p);
    }
    printf("schedPlan: %ld jobs, %ld due: %.3f ms per plan (best of %ld), %zu entries\n", jobs,
           due, best, rounds, entries);
    fsmDestroy(f);
    return 0;
}
