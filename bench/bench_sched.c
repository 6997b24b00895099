/*
 * What one leader plan costs (core/sched.c), through the due-heap (schedPlanHeap) and by the
 * full scan (schedPlan), in the same run on the same FSM (docs/performance.md).
 *
 * For each N: N cron jobs spread over S seconds of instants (job i fires at second i mod S of
 * every minute for S = 60, of every hour for S = 3600), so N/S are due per plan. The leader's
 * loop is replayed for P plans: now = each plan's next_wake_us (an instant minus the lookahead),
 * both planners plan at that now, their entries must be the same bytes, and the FireBatch is
 * committed as the leader would (its runs are then cancelled: finished runs stay in the ledger
 * as history, as succeeded ones would). The first heap plan, which builds the heap, is timed
 * apart as the rebuild. The last column is one fsmRunsSelect for unfinished runs (what every
 * plan, either way, asks) with the runs kept in history.
 *
 *   build-bench/bin/bench_sched [--jobs N[,N...]] [--spread S] [--plans P]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/command.h"
#include "core/dueheap.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/runs.h"
#include "core/sched.h"

#define T0   INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define LOOK INT64_C(100000)

static double nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_sched: %s\n", what);
    exit(1);
}

static struct rc_fsm_result apply(struct rc_fsm *f, uint64_t *index, void *buf, size_t len,
                                  bool owned)
{
    struct rc_fsm_result res;
    if (fsmApply(f, ++*index, buf, len, &res) != 0) {
        die("apply failed");
    }
    if (owned) {
        free(buf);
    }
    return res;
}

static void put(struct rc_fsm *f, uint64_t *index, const char *name, const char *cron)
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
    if (commandEncodeJobPut(&spec, 0, true, false, T0, &buf, &len) != 0) {
        die("encode failed");
    }
    if (apply(f, index, buf, len, true).code != 0) {
        die("put failed");
    }
}

static struct rc_fsm *jobTable(long jobs, long spread, uint64_t *index)
{
    struct rc_fsm *f;
    if (fsmCreate(&f) != 0) {
        die("out of memory");
    }
    for (long i = 0; i < jobs; i++) {
        char name[32];
        char cron[32];
        snprintf(name, sizeof name, "job%07ld", i);
        long at = i % spread;
        snprintf(cron, sizeof cron, "%ld %ld * * * *", at % 60, at / 60 % 60);
        if (spread <= 60) {
            snprintf(cron, sizeof cron, "%ld * * * * *", at);
        }
        put(f, index, name, cron);
    }
    return f;
}

/* Commit the FireBatch (entries[0]) and cancel the runs it created. */
static void commit(struct rc_fsm *f, uint64_t *index, const struct sched_plan *p, int64_t now)
{
    if (p->n_entries == 0 || p->entries[0].run_id != 0) {
        return;
    }
    struct rc_fsm_result res = apply(f, index, p->entries[0].buf, p->entries[0].len, false);
    if (res.code != 0 || res.items_rejected != 0) {
        die("FireBatch refused");
    }
    for (uint32_t i = 0; i < res.runs_created; i++) {
        void *buf;
        size_t len;
        if (commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_CANCEL, res.run_id + i, 0, "bench", now,
                                &buf, &len) != 0) {
            die("encode failed");
        }
        apply(f, index, buf, len, true);
    }
}

static bool samePlan(const struct sched_plan *a, const struct sched_plan *b)
{
    if (a->n_entries != b->n_entries || a->next_wake_us != b->next_wake_us) {
        return false;
    }
    for (size_t i = 0; i < a->n_entries; i++) {
        if (a->entries[i].len != b->entries[i].len ||
            memcmp(a->entries[i].buf, b->entries[i].buf, a->entries[i].len) != 0) {
            return false;
        }
    }
    return true;
}

struct stat {
    double sum;
    double max;
    long n;
};

static void add(struct stat *s, double ms)
{
    s->sum += ms;
    s->max = ms > s->max ? ms : s->max;
    s->n++;
}

static void run(long jobs, long spread, long plans)
{
    uint64_t index = 0;
    struct rc_fsm *f = jobTable(jobs, spread, &index);
    struct dueheap h;
    dueheapInit(&h);
    struct stat full = {0}, heap = {0};
    double rebuild = 0;
    size_t items = 0;
    int64_t now = T0 + 1000000 - LOOK;
    for (long k = 0; k <= plans; k++) {
        struct sched_options o = {.now_us = now, .lookahead_us = LOOK};
        struct sched_plan pf;
        struct sched_plan ph;
        double t0 = nowMs();
        if (schedPlan(f, &o, &pf) != 0) {
            die("plan failed");
        }
        double t1 = nowMs();
        if (schedPlanHeap(f, &o, &h, &ph) != 0) {
            die("plan failed");
        }
        double t2 = nowMs();
        if (!samePlan(&pf, &ph)) {
            die("the due-heap plan differs from the full scan");
        }
        if (k == 0) {
            rebuild = t2 - t1; /* the first heap plan builds the heap */
        } else {
            add(&full, t1 - t0);
            add(&heap, t2 - t1);
        }
        if (ph.n_entries > 0) {
            Raftcron__Command *cmd;
            if (commandDecode(ph.entries[0].buf, ph.entries[0].len, &cmd) == 0) {
                items += cmd->cmd_case == RAFTCRON__COMMAND__CMD_FIRE_BATCH
                             ? cmd->fire_batch->n_items
                             : 0;
                commandFree(cmd);
            }
        }
        commit(f, &index, &ph, now);
        now = ph.next_wake_us;
        schedPlanFree(&pf);
        schedPlanFree(&ph);
    }
    struct rc_fsm_ledger_stats st;
    fsmLedgerStats(f, &st);
    /* What every plan pays whatever is due: one walk over the ledger (best of 5). */
    double scan = 1e18;
    for (int r = 0; r < 5; r++) {
        double t0 = nowMs();
        /* The planner's select (unfinished states): jobs without unfinished runs are skipped
         * by their count, so history no longer costs a walk. */
        fsmRunsSelect(f,
                      (1u << RC_RUN_PENDING) | (1u << RC_RUN_ASSIGNED) | (1u << RC_RUN_RUNNING) |
                          (1u << RC_RUN_RETRY_WAIT) | (1u << RC_RUN_FAILED) |
                          (1u << RC_RUN_TIMED_OUT) | (1u << RC_RUN_LOST),
                      0, NULL, 0);
        double ms = nowMs() - t0;
        scan = ms < scan ? ms : scan;
    }
    printf("%8ld %9.1f %6ld %11.3f %9.3f %11.3f %9.3f %8.0fx %11.2f %9zu %9.3f\n", jobs,
           (double)items / (double)(plans + 1), plans, full.sum / (double)full.n, full.max,
           heap.sum / (double)heap.n, heap.max,
           (full.sum / (double)full.n) / (heap.sum / (double)heap.n), rebuild, st.runs, scan);
    fflush(stdout);
    dueheapClose(&h);
    fsmDestroy(f);
}

int main(int argc, char **argv)
{
    const char *list = "1000,10000,100000";
    long spread = 60, plans = 120;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--jobs") == 0) {
            list = argv[i + 1];
        } else if (strcmp(argv[i], "--spread") == 0) {
            spread = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--plans") == 0) {
            plans = atol(argv[i + 1]);
        }
    }
    if (spread < 1 || spread > 3600 || plans < 1) {
        fprintf(stderr, "usage: bench_sched [--jobs N[,N...]] [--spread S (1-3600)] [--plans P]\n");
        return 2;
    }
    printf(
        "cron jobs spread over %ld s of instants, lookahead %lld ms, %ld plans after the first\n",
        spread, (long long)(LOOK / 1000), plans);
    printf("    jobs  due/plan  plans  full ms/plan       max  heap ms/plan       max  speedup  "
           "rebuild ms  runs kept  runs scan ms\n");
    char *copy = strdup(list);
    for (char *tok = strtok(copy, ","); tok != NULL; tok = strtok(NULL, ",")) {
        long jobs = atol(tok);
        if (jobs < 1) {
            fprintf(stderr, "bench_sched: bad job count %s\n", tok);
            return 2;
        }
        run(jobs, spread, plans);
    }
    free(copy);
    return 0;
}
