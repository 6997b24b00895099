/*
 * How many next-instant computations per second the pure core does, for typical and for
 * pathological expressions, in UTC and in a zone with DST (docs/performance.md).
 *
 *   build-bench/bin/bench_cron [--seconds S]
 *
 * Each case walks forward from 2026-01-01T00:00:00Z, feeding every result back in as the next
 * "after", for S seconds (default 1), and reports calls per second and ns per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/trigger.h"

struct bench_case {
    const char *expr;
    const char *tz;
};

static const struct bench_case cases[] = {
    {"*/5 * * * *", ""},
    {"0 9 * * mon-fri", ""},
    {"0 0 1 * *", ""},
    {"*/10 * * * * *", ""},
    {"0 30 2 * * *", "Europe/Berlin"},
    {"*/15 * * * *", "America/New_York"},
    {"0 9 * * mon-fri", "Australia/Lord_Howe"},
    {"0 0 L * *", ""},
    {"0 0 15W * *", ""},
    {"0 0 * * 5#3", ""},
    {"0 0 29 2 *", ""},
    {"0 0 29 2 1", ""},
    {"0 0 29 2 mon#5", ""},
    {"59 23 31 12 *", "Europe/Berlin"},
    {"@every 90s", ""},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void runCase(const struct bench_case *bc, double seconds)
{
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];
    const int64_t start = INT64_C(1767225600) * RC_USEC_PER_SEC; /* 2026-01-01T00:00:00Z */
    if (triggerInitCron(&t, bc->expr, bc->tz, start, err, sizeof err) != 0) {
        fprintf(stderr, "bench_cron: %s: %s\n", bc->expr, err);
        exit(1);
    }
    uint64_t calls = 0;
    int64_t at = start;
    double t0 = now();
    double elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 1000; i++) {
            int64_t next;
            if (triggerNext(&t, at, &next) != 0) {
                at = start;
                continue;
            }
            at = next;
            calls++;
        }
        elapsed = now() - t0;
    }
    printf("%-28s %-20s %12.0f next/s %9.1f ns/call\n", bc->expr, bc->tz[0] ? bc->tz : "UTC",
           (double)calls / elapsed, elapsed * 1e9 / (double)calls);
}

static void runNever(void)
{
    /* "* * 31 2 *" can never match: it must be rejected at parse time, quickly. */
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];
    double t0 = now();
    int rv = triggerInitCron(&t, "* * 31 2 *", "", 0, err, sizeof err);
    printf("%-28s %-20s rejected=%s in %.1f us (%s)\n", "* * 31 2 *", "UTC", rv != 0 ? "yes" : "NO",
           (now() - t0) * 1e6, rv != 0 ? err : "accepted");
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_cron [--seconds S]\n");
            return 2;
        }
    }
    printf("%-28s %-20s %s\n", "expression", "zone", "throughput (single core)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        runCase(&cases[i], seconds);
    }
    runNever();
    return 0;
}
