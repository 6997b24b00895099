/*
 * What starting a run's process costs the node's loop (docs/performance.md "Spawning"): the
 * time spawnProcess (src/exec/spawn.c: clone(CLONE_VM | CLONE_VFORK)) blocks its caller, next to
 * fork()+execve() as libuv 1.44's uv_spawn does it and to posix_spawn, each in a process whose
 * heap is grown to the given size first (a daemon's memory is what fork copies).
 *
 *   bench_spawn [MEGABYTES] [COUNT]     (defaults: 32 MB, 200 spawns of /bin/sh -c true)
 *
 * Prints, per method, the median and p99 of the blocking time and of spawn-to-reap.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/spawn.h"

extern char **environ;

static double nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double *blocked, double *total, int n)
{
    qsort(blocked, (size_t)n, sizeof *blocked, cmp);
    qsort(total, (size_t)n, sizeof *total, cmp);
    printf("%-12s blocked p50 %6.3f ms p99 %6.3f ms   spawn-to-reap p50 %6.3f ms p99 %6.3f ms\n",
           name, blocked[n / 2], blocked[n * 99 / 100], total[n / 2], total[n * 99 / 100]);
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 32;
    int n = argc > 2 ? atoi(argv[2]) : 200;
    char *heap = malloc(mb << 20);
    memset(heap, 1, mb << 20);
    char *args[] = {"/bin/sh", "-c", "true", NULL};
    double *blocked = calloc((size_t)n, sizeof *blocked);
    double *total = calloc((size_t)n, sizeof *total);
    for (int m = 0; m < 3; m++) {
        for (int i = 0; i < n; i++) {
            double t0 = nowMs();
            pid_t pid = -1;
            if (m == 0) {
                struct spawn_options o = {.file = args[0],
                                          .argv = args,
                                          .envp = environ,
                                          .fds = {0, 1, 2},
                                          .new_session = true};
                struct spawn_result r;
                if (spawnProcess(&o, &r) != 0) {
                    fprintf(stderr, "spawn: %s: %s\n", r.step, strerror(r.err));
                    return 1;
                }
                pid = r.pid;
                close(r.pidfd);
            } else if (m == 1) {
                pid = fork();
                if (pid == 0) {
                    setsid();
                    execve(args[0], args, environ);
                    _exit(127);
                }
            } else {
                posix_spawn(&pid, args[0], NULL, NULL, args, environ);
            }
            blocked[i] = nowMs() - t0;
            int st;
            waitpid(pid, &st, 0);
            total[i] = nowMs() - t0;
        }
        report(m == 0 ? "spawnProcess" : m == 1 ? "fork+execve" : "posix_spawn", blocked, total, n);
    }
    printf("(heap %zu MB, %d spawns of /bin/sh -c true each)\n", mb, n);
    free(heap);
    return 0;
}
