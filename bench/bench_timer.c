/*
 * How late a run's start timer fires (DESIGN.md §8, docs/performance.md): the wall-clock time
 * in the callback minus the deadline, for uv_timer armed with a relative timeout in whole
 * milliseconds computed from the deadline (as the worker did) and for src/node/rtimer.c (a
 * CLOCK_REALTIME timerfd under uv_poll), each with the default timer slack and with
 * rtimerLowSlack(). Every case runs idle, then beside busy-looping child processes, in this one
 * invocation. Deadlines are random instants up to --max-ms ahead; --inflight timers are armed
 * at once, each re-armed when it fires, until --samples have fired.
 *
 *   build-bench/bin/bench_timer [--samples N] [--inflight K] [--max-ms M] [--spinners S]
 *                               [--seed X]
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "node/rtimer.h"

#define MAX_INFLIGHT 512
#define MAX_SPINNERS 64

enum kind { KIND_UV, KIND_RTIMER };

struct slot {
    struct bench *b;
    int64_t deadline_us;
    uv_timer_t uv;
    struct rtimer rt;
};

struct bench {
    enum kind kind;
    long samples; /* to take */
    long started; /* timers armed so far */
    long taken;   /* lateness values recorded */
    int64_t *late_ns;
    int64_t max_us; /* deadlines are up to this far ahead */
    uint64_t rng;
    int open; /* handles not yet closed */
};

static int64_t realNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rnd(struct bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static void onUvFire(uv_timer_t *t);
static void onRtFire(struct rtimer *t);

static void onUvClosed(uv_handle_t *h)
{
    struct slot *s = h->data;
    s->b->open--;
}

static void onRtClosed(struct rtimer *t)
{
    struct slot *s = t->data;
    s->b->open--;
}

/* Arm s for a new random deadline, or close it once every sample is under way. */
static void next(struct slot *s)
{
    struct bench *b = s->b;
    if (b->started == b->samples) {
        if (b->kind == KIND_UV) {
            uv_close((uv_handle_t *)&s->uv, onUvClosed);
        } else {
            rtimerClose(&s->rt, onRtClosed);
        }
        return;
    }
    b->started++;
    int64_t now_us = realNs() / 1000;
    s->deadline_us = now_us + 1 + (int64_t)(rnd(b) % (uint64_t)b->max_us);
    if (b->kind == KIND_UV) {
        /* The worker's old arithmetic: milliseconds from now, rounded up. */
        int64_t wait = s->deadline_us - now_us;
        uv_timer_start(&s->uv, onUvFire, wait > 0 ? (uint64_t)((wait + 999) / 1000) : 0, 0);
    } else if (rtimerStart(&s->rt, onRtFire, s->deadline_us) != 0) {
        fprintf(stderr, "bench_timer: rtimerStart failed\n");
        exit(1);
    }
}

static void record(struct slot *s)
{
    struct bench *b = s->b;
    b->late_ns[b->taken++] = realNs() - s->deadline_us * 1000;
    next(s);
}

static void onUvFire(uv_timer_t *t)
{
    record(t->data);
}

static void onRtFire(struct rtimer *t)
{
    record(t->data);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n], in µs. */
static double pct(const int64_t *v, long n, double p)
{
    long i = (long)(p * (double)n + 0.999999) - 1;
    return (double)v[i < 0 ? 0 : i] / 1000.0;
}

static void run(const char *name, enum kind kind, bool low_slack, const char *load, long samples,
                int inflight, int64_t max_us, uint64_t seed)
{
    unsigned long saved_slack = (unsigned long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (low_slack) {
        rtimerLowSlack();
    }
    struct bench b = {.kind = kind, .samples = samples, .max_us = max_us, .rng = seed | 1};
    b.late_ns = malloc((size_t)samples * sizeof *b.late_ns);
    struct slot *slots = calloc((size_t)inflight, sizeof *slots);
    uv_loop_t loop;
    if (b.late_ns == NULL || slots == NULL || uv_loop_init(&loop) != 0) {
        fprintf(stderr, "bench_timer: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < inflight; i++) {
        slots[i].b = &b;
        if (kind == KIND_UV) {
            uv_timer_init(&loop, &slots[i].uv);
            slots[i].uv.data = &slots[i];
        } else {
            if (rtimerInit(&loop, &slots[i].rt) != 0) {
                fprintf(stderr, "bench_timer: rtimerInit failed (ulimit -n?)\n");
                exit(1);
            }
            slots[i].rt.data = &slots[i];
        }
        b.open++;
        next(&slots[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (b.open != 0 || uv_loop_close(&loop) != 0 || b.taken != samples) {
        fprintf(stderr, "bench_timer: loop did not drain\n");
        exit(1);
    }
    prctl(PR_SET_TIMERSLACK, saved_slack, 0, 0, 0);

    qsort(b.late_ns, (size_t)samples, sizeof *b.late_ns, cmp64);
    long early = 0;
    for (long i = 0; i < samples && b.late_ns[i] < 0; i++) {
        early++;
    }
    printf("%-18s %-5s %7ld %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %6ld\n", name, load, samples,
           (double)b.late_ns[0] / 1000.0, pct(b.late_ns, samples, 0.5),
           pct(b.late_ns, samples, 0.9), pct(b.late_ns, samples, 0.99),
           pct(b.late_ns, samples, 0.999), (double)b.late_ns[samples - 1] / 1000.0, early);
    fflush(stdout);
    free(slots);
    free(b.late_ns);
}

static void printLoadavg(const char *when)
{
    char buf[64] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(buf, sizeof buf, f) != NULL) {
            buf[strcspn(buf, "\n")] = '\0';
        }
        fclose(f);
    }
    printf("# %s: /proc/loadavg %s\n", when, buf);
}

/* Busy-looping children, one per CPU by default: the other builds and runs of a shared box. */
static int spin(pid_t *pids, int n)
{
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            return -1;
        }
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* never outlive the bench */
            volatile uint64_t x = 0;
            for (;;) {
                x++;
            }
        }
    }
    return 0;
}

static void unspin(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    }
}

int main(int argc, char **argv)
{
    long samples = 2000, inflight = 40, max_ms = 1000;
    long spinners = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--samples") == 0) {
            samples = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--inflight") == 0) {
            inflight = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--max-ms") == 0) {
            max_ms = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--spinners") == 0) {
            spinners = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[i + 1], NULL, 10);
        }
    }
    if (samples < 1 || inflight < 1 || inflight > MAX_INFLIGHT || inflight > samples ||
        max_ms < 1 || spinners < 0 || spinners > MAX_SPINNERS) {
        fprintf(stderr,
                "usage: bench_timer [--samples N] [--inflight K<=%d] [--max-ms M] "
                "[--spinners S<=%d] [--seed X]\n",
                MAX_INFLIGHT, MAX_SPINNERS);
        return 2;
    }
    static const struct {
        const char *name;
        enum kind kind;
        bool low_slack;
    } cases[] = {
        {"uv_timer", KIND_UV, false},
        {"uv_timer+lowslack", KIND_UV, true},
        {"rtimer", KIND_RTIMER, false},
        {"rtimer+lowslack", KIND_RTIMER, true},
    };
    printf("start lateness (fire wall clock - deadline), µs; %ld samples per row, %ld in flight, "
           "deadlines up to %ld ms ahead; default timer slack %ld ns; busy = %ld spinning "
           "processes on %ld CPUs\n",
           samples, inflight, max_ms, (long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), spinners,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-18s %-5s %7s %8s %8s %8s %8s %8s %8s %6s\n", "timer", "load", "samples", "min", "p50",
           "p90", "p99", "p99.9", "max", "early");
    for (int busy = 0; busy < 2; busy++) {
        pid_t pids[MAX_SPINNERS] = {0};
        if (busy && spin(pids, (int)spinners) != 0) {
            unspin(pids, (int)spinners);
            fprintf(stderr, "bench_timer: fork failed\n");
            return 1;
        }
        printLoadavg(busy ? "busy phase" : "idle phase");
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            run(cases[c].name, cases[c].kind, cases[c].low_slack, busy ? "busy" : "idle", samples,
                (int)inflight, (int64_t)max_ms * 1000, seed + c);
        }
        if (busy) {
            unspin(pids, (int)spinners);
        }
    }
    return 0;
}
