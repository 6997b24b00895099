/*
 * The shell executor (src/exec/shell.c) with real processes on one libuv loop: exit codes, the
 * RAFTCRON_* environment and its precedence, argv form and workdir, spawn failures, timeouts
 * that kill the whole process group, SIGKILL after the grace for a child ignoring SIGTERM, a
 * 100 MB job whose memory stays one bounded tail, interleaved stdout/stderr, output drained after
 * the exit, cancel, close with runs in flight, and 50 concurrent runs. Every wait is the loop
 * running until a condition holds or a deadline passes; every test ends with uv_loop_close() ==
 * 0 (no handle left behind) under ASan's leak checker.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "core/timefmt.h"
#include "exec/exec.h"

#define WAIT_MS 20000

/* ---- Loop and backend fixture ----------------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    struct exec_backend b;
    bool closed;            /* close callback fired */
    unsigned done_at_close; /* outcomes delivered when the close callback fired */
    unsigned delivered;
    char dir[64]; /* scratch directory */
};

/* What a done callback saw, copied. */
struct outcome {
    struct fixture *fx;
    unsigned calls;
    struct exec_result res;
    uint8_t *tail; /* owned copy, NUL-terminated */
    bool cancel_in_done;
};

static void deadlineFired(uv_timer_t *t)
{
    struct fixture *fx = t->data;
    fx->expired = true;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->deadline);
    fx->deadline.data = fx;
    assert_int_equal(shellInit(&fx->b, &fx->loop), 0);
    strcpy(fx->dir, "/tmp/rc-exec-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static void onClosed(struct exec_backend *b)
{
    struct fixture *fx = (struct fixture *)((char *)b - offsetof(struct fixture, b));
    fx->closed = true;
    fx->done_at_close = fx->delivered;
}

static bool isClosed(void *arg)
{
    return ((struct fixture *)arg)->closed;
}

static bool runUntil(struct fixture *fx, bool (*cond)(void *), void *arg, unsigned ms)
{
    fx->expired = false;
    uv_timer_start(&fx->deadline, deadlineFired, ms, 0);
    while (!cond(arg) && !fx->expired) {
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&fx->deadline);
    return cond(arg);
}

static void removeDir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (!fx->closed) {
        execClose(&fx->b, onClosed);
        assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
    }
    uv_close((uv_handle_t *)&fx->deadline, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    removeDir(fx->dir);
    free(fx);
    return 0;
}

static void onDone(struct exec_handle *h, const struct exec_result *res, void *data)
{
    struct outcome *o = data;
    assert_ptr_equal(h->data, data);
    o->calls++;
    o->fx->delivered++;
    o->res = *res;
    o->tail = malloc(res->tail_len + 1);
    assert_non_null(o->tail);
    memcpy(o->tail, res->tail, res->tail_len);
    o->tail[res->tail_len] = '\0';
    o->res.tail = NULL;
    if (o->cancel_in_done) {
        execCancel(h); /* must be harmless */
    }
}

static bool isDone(void *arg)
{
    return ((struct outcome *)arg)->calls > 0;
}

static void outcomeFree(struct outcome *o)
{
    free(o->tail);
    o->tail = NULL;
}

/* A request for spec, with test defaults. */
struct job {
    Raftcron__ShellExec shell;
    Raftcron__Executor spec;
    struct exec_request req;
};

static void jobInit(struct job *j, const char *command)
{
    memset(j, 0, sizeof *j);
    raftcron__shell_exec__init(&j->shell);
    raftcron__executor__init(&j->spec);
    j->shell.command = (char *)command;
    j->spec.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    j->spec.shell = &j->shell;
    j->req.run_id = 7;
    j->req.fence = 11;
    j->req.attempt = 1;
    j->req.job = "default/test";
    j->req.scheduled_us = 1700000000000000;
    j->req.spec = &j->spec;
}

static void startOk(struct fixture *fx, struct job *j, struct outcome *o, struct exec_handle **h)
{
    struct exec_handle *dummy;
    o->fx = fx;
    int rv = execStart(&fx->b, &j->req, onDone, o, h != NULL ? h : &dummy);
    if (rv != 0) {
        fail_msg("start: %s: %s", rc_errname(rv), fx->b.errmsg);
    }
    assert_int_equal(o->calls, 0); /* never from inside start() */
}

/* Run command to completion and return its outcome in *o. */
static void runCommand(struct fixture *fx, struct job *j, struct outcome *o)
{
    startOk(fx, j, o, NULL);
    assert_true(runUntil(fx, isDone, o, WAIT_MS));
    assert_int_equal(o->calls, 1);
}

#define PF_EXITING 0x00000004 /* include/linux/sched.h: the process is in do_exit() */

/* Timers run on libuv's coarse millisecond clock: allow them to fire this much early. */
#define TIMER_SLACK_US 10000

/* Run the loop until path exists (checked every few milliseconds), within WAIT_MS. */
static void pollTick(uv_timer_t *t)
{
    (void)t;
}

static bool fileExists(void *arg)
{
    return access(arg, F_OK) == 0;
}

static bool waitForFile(struct fixture *fx, const char *path)
{
    uv_timer_t tick;
    uv_timer_init(&fx->loop, &tick);
    uv_timer_start(&tick, pollTick, 5, 5);
    bool ok = runUntil(fx, fileExists, (void *)path, WAIT_MS);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    return ok;
}

/* Whether pid is gone, exiting or a zombie (dead, not yet reaped by its new parent). */
static bool processDead(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return true;
    }
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    if (paren == NULL) {
        return false;
    }
    char st = 0;
    unsigned long flags = 0;
    if (sscanf(paren + 1, " %c %*d %*d %*d %*d %*d %lu", &st, &flags) != 2) {
        return false;
    }
    /* A SIGKILLed process has closed its files (our pipes) before it becomes a zombie; in
     * between it is already committed to exit (PF_EXITING). */
    return st == 'Z' || st == 'X' || (flags & PF_EXITING) != 0;
}

/* Read the pids a job wrote one per line to path; asserts there are want of them. */
static void readPids(const char *path, long *pids, int want)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (n < want && fscanf(f, "%ld", &pids[n]) == 1) {
        n++;
    }
    fclose(f);
    assert_int_equal(n, want);
}

/* ---- Exit codes ------------------------------------------------------------------------- */

static void exitZero(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "echo hi");
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.term_signal, 0);
    assert_false(o.res.timed_out);
    assert_false(o.res.cancelled);
    assert_false(o.res.start_failed);
    assert_string_equal(o.res.error, "");
    assert_string_equal((char *)o.tail, "hi\n");
    assert_int_equal(o.res.output_bytes, 3);
    assert_false(o.res.tail_truncated);
    assert_true(o.res.started_us > 1700000000000000);
    assert_true(o.res.finished_us >= o.res.started_us);
    assert_int_equal(shellInFlight(&fx->b), 0);
    outcomeFree(&o);
}

static void exitThree(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "echo failing >&2; exit 3");
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 3);
    assert_int_equal(o.res.term_signal, 0);
    assert_false(o.res.start_failed);
    assert_string_equal((char *)o.tail, "failing\n");
    outcomeFree(&o);
}

static void killedBySignal(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "kill -SEGV $$");
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, -1);
    assert_int_equal(o.res.term_signal, SIGSEGV);
    assert_false(o.res.timed_out);
    assert_false(o.res.cancelled);
    outcomeFree(&o);
}

/* ---- Environment ------------------------------------------------------------------------ */

static void environmentExact(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    assert_int_equal(setenv("RC_TEST_INHERITED", "parent", 1), 0);
    assert_int_equal(setenv("RC_TEST_KEPT", "not allow-listed: never reaches a job", 1), 0);
    assert_int_equal(setenv("TZ", "Europe/Berlin", 1), 0);
    assert_int_equal(setenv("RAFTCRON_FENCE", "from-node", 1), 0);
    const char *env[] = {"RC_TEST_JOB=hello world", "RC_TEST_INHERITED=job", "RAFTCRON_RUN_ID=999",
                         "RAFTCRON_JOB=evil/job", NULL};
    jobInit(&j, "printf '%s|%s|%s|%s|%s|%s|%s|%s' \"$RAFTCRON_JOB\" \"$RAFTCRON_RUN_ID\" "
                "\"$RAFTCRON_SCHEDULED_AT\" \"$RAFTCRON_ATTEMPT\" \"$RAFTCRON_FENCE\" "
                "\"$RC_TEST_JOB\" \"$RC_TEST_INHERITED\" \"$RC_TEST_KEPT$TZ\"");
    j.req.run_id = 18446744073709551615ull;
    j.req.fence = 42;
    j.req.attempt = 3;
    j.req.job = "billing/nightly-report";
    j.req.scheduled_us = 1743296400123456; /* 2025-03-30T01:00:00.123456Z */
    j.req.env = env;
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    /* Of the node's environment only allow-listed names (TZ) arrive (exec.h). */
    assert_string_equal((char *)o.tail, "billing/nightly-report|18446744073709551615|"
                                        "2025-03-30T01:00:00.123456Z|3|42|hello world|job|"
                                        "Europe/Berlin");
    /* The timestamp is RFC 3339 and names the scheduled instant exactly. */
    char *at = strstr((char *)o.tail, "|2025") + 1;
    *strchr(at, '|') = '\0';
    int64_t parsed = 0;
    char err[128];
    assert_int_equal(timefmtParse(at, &parsed, err, sizeof err), 0);
    assert_int_equal(parsed, 1743296400123456);
    outcomeFree(&o);
    unsetenv("RC_TEST_INHERITED");
    unsetenv("RC_TEST_KEPT");
    unsetenv("RAFTCRON_FENCE");
    unsetenv("TZ");
}

static void environmentWholeSecond(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "printf %s \"$RAFTCRON_SCHEDULED_AT\"");
    runCommand(fx, &j, &o);
    assert_string_equal((char *)o.tail, "2023-11-14T22:13:20Z");
    outcomeFree(&o);
}

static void environmentBadEntry(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {.fx = fx};
    struct exec_handle *h = NULL;
    const char *env[] = {"GOOD=1", "NOEQUALS", NULL};
    jobInit(&j, "true");
    j.req.env = env;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_null(h);
    assert_non_null(strstr(fx->b.errmsg, "NOEQUALS"));
    const char *env2[] = {"=value", NULL};
    j.req.env = env2;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(o.calls, 0);
    assert_int_equal(shellInFlight(&fx->b), 0);
}

/* ---- argv form, workdir, bad requests --------------------------------------------------- */

static void argvForm(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    char *argv[] = {"/bin/echo", "a  b", "$HOME", "c"};
    jobInit(&j, "");
    j.shell.n_argv = 4;
    j.shell.argv = argv;
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal((char *)o.tail, "a  b $HOME c\n"); /* no shell: no splitting, no $ */
    outcomeFree(&o);
}

static void argvPathLookup(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    char *argv[] = {"printf", "%s-%s", "x", "y"};
    jobInit(&j, NULL);
    j.shell.n_argv = 4;
    j.shell.argv = argv;
    runCommand(fx, &j, &o);
    assert_false(o.res.start_failed);
    assert_string_equal((char *)o.tail, "x-y");
    outcomeFree(&o);
}

static void workdir(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "pwd");
    j.shell.workdir = fx->dir;
    runCommand(fx, &j, &o);
    char want[80];
    snprintf(want, sizeof want, "%s\n", fx->dir);
    assert_string_equal((char *)o.tail, want);
    outcomeFree(&o);
}

static void badRequests(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {.fx = fx};
    struct exec_handle *h = NULL;
    jobInit(&j, "");
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "no command or argv"));
    jobInit(&j, "true");
    j.req.spec = NULL;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "not a shell executor"));
    jobInit(&j, "true");
    j.req.job = NULL;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    jobInit(&j, "true");
    j.req.tail_max = EXEC_TAIL_MAX_LIMIT + 1;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    jobInit(&j, "true");
    j.req.timeout_us = -1;
    assert_int_equal(execStart(&fx->b, &j.req, onDone, &o, &h), RC_EINVAL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_null(h);
    assert_int_equal(o.calls, 0);
}

/* ---- Spawn failures --------------------------------------------------------------------- */

static void missingArgv(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    char *argv[] = {"/no/such"};
    jobInit(&j, NULL);
    j.shell.n_argv = 1;
    j.shell.argv = argv;
    runCommand(fx, &j, &o);
    assert_true(o.res.start_failed);
    assert_string_equal(o.res.error, "spawn /no/such: execve: No such file or directory");
    assert_int_equal(o.res.exit_code, -1);
    assert_int_equal(o.res.started_us, 0);
    assert_int_equal(o.res.tail_len, 0);
    outcomeFree(&o);
}

static void missingWorkdir(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "true");
    j.shell.workdir = "/no/such/dir";
    runCommand(fx, &j, &o);
    assert_true(o.res.start_failed);
    assert_string_equal(o.res.error,
                        "spawn /bin/sh (in /no/such/dir): chdir: No such file or directory");
    outcomeFree(&o);
}

static void missingShellCommand(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "/no/such");
    runCommand(fx, &j, &o);
    assert_false(o.res.start_failed);
    assert_int_equal(o.res.exit_code, 127);
    assert_non_null(strstr((char *)o.tail, "/no/such"));
    outcomeFree(&o);
}

/* ---- Timeouts and the process group ----------------------------------------------------- */

static void timeoutKillsGroup(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    char cmd[512];
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/pids", fx->dir);
    snprintf(cmd, sizeof cmd,
             "sleep 1000 & echo $! > %s; sleep 1000 & echo $! >> %s; echo $$ >> %s; wait", pidfile,
             pidfile, pidfile);
    jobInit(&j, cmd);
    j.req.timeout_us = 1000000;
    runCommand(fx, &j, &o);
    assert_true(o.res.timed_out);
    assert_false(o.res.cancelled);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_int_equal(o.res.exit_code, -1);
    assert_true(o.res.finished_us - o.res.started_us >= 1000000 - TIMER_SLACK_US);
    assert_true(o.res.finished_us - o.res.started_us < 5000000); /* no grace needed */
    long pids[3];
    readPids(pidfile, pids, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(processDead(pids[i]));
    }
    outcomeFree(&o);
}

static void sigkillAfterGrace(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    char cmd[512];
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/pids", fx->dir);
    snprintf(cmd, sizeof cmd, "trap '' TERM; sleep 1000 & echo $! > %s; wait; wait", pidfile);
    jobInit(&j, cmd);
    j.req.timeout_us = 800000; /* time for the shell to set its trap, even on a busy machine */
    j.req.kill_grace_us = 300000;
    runCommand(fx, &j, &o);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGKILL);
    assert_true(o.res.finished_us - o.res.started_us >= 1100000 - TIMER_SLACK_US);
    long pid;
    readPids(pidfile, &pid, 1);
    assert_true(processDead(pid));
    outcomeFree(&o);
}

/* The leader exits at once but a background child keeps stdout open: the run is not over until
 * the output is drained, and the timeout still applies to what is left of the group. */
static void timeoutAfterLeaderExit(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    char cmd[512];
    char pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/pids", fx->dir);
    snprintf(cmd, sizeof cmd, "sleep 1000 & echo $! > %s; echo leader done", pidfile);
    jobInit(&j, cmd);
    j.req.timeout_us = 1000000;
    runCommand(fx, &j, &o);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.exit_code, 0); /* the leader's own status */
    assert_int_equal(o.res.term_signal, 0);
    assert_string_equal((char *)o.tail, "leader done\n");
    assert_true(o.res.finished_us - o.res.started_us >= 1000000 - TIMER_SLACK_US);
    long pid;
    readPids(pidfile, &pid, 1);
    assert_true(processDead(pid));
    outcomeFree(&o);
}

/* Output written after the leader's exit is still collected (exit before EOF). */
static void outputAfterExit(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "(sleep 0.2; echo late) & echo early");
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_false(o.res.timed_out);
    assert_string_equal((char *)o.tail, "early\nlate\n");
    outcomeFree(&o);
}

/* ---- Output tail ------------------------------------------------------------------------ */

static void hundredMegabytes(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "head -c 100000000 /dev/zero | tr '\\0' x; echo END");
    j.req.tail_max = 16384;
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.output_bytes, 100000004);
    assert_int_equal(o.res.tail_len, 16384);
    assert_int_equal(o.res.tail_capacity, 16384);
    assert_true(o.res.tail_truncated);
    assert_memory_equal(o.tail + 16384 - 4, "END\n", 4);
    for (size_t i = 0; i < 16384 - 4; i++) {
        if (o.tail[i] != 'x') {
            fail_msg("tail[%zu] = %d", i, o.tail[i]);
        }
    }
    outcomeFree(&o);
}

static void stdoutAndStderr(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "i=0; while [ $i -lt 100 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done");
    runCommand(fx, &j, &o);
    assert_int_equal(o.res.exit_code, 0);
    /* Both streams land in the one tail, each in its own order. */
    const char *p = (char *)o.tail;
    const char *q = (char *)o.tail;
    for (int i = 0; i < 100; i++) {
        char line[16];
        snprintf(line, sizeof line, "o%d\n", i);
        p = strstr(p, line);
        assert_non_null(p);
        p += strlen(line);
        snprintf(line, sizeof line, "e%d\n", i);
        q = strstr(q, line);
        assert_non_null(q);
        q += strlen(line);
    }
    assert_int_equal(o.res.output_bytes, 2 * (10 * 3 + 90 * 4));
    assert_int_equal(o.res.tail_len, o.res.output_bytes);
    outcomeFree(&o);
}

static void smallTailKeepsEnd(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {0};
    jobInit(&j, "echo 0123456789; echo abcdefghij");
    j.req.tail_max = 5;
    runCommand(fx, &j, &o);
    assert_string_equal((char *)o.tail, "ghij\n");
    assert_true(o.res.tail_truncated);
    assert_int_equal(o.res.output_bytes, 22);
    outcomeFree(&o);
}

/* ---- Cancel and close ------------------------------------------------------------------- */

static void cancelRunning(void **state)
{
    struct fixture *fx = *state;
    struct job j;
    struct outcome o = {.cancel_in_done = true};
    struct exec_handle *h = NULL;
    jobInit(&j, "echo started; exec sleep 1000");
    startOk(fx, &j, &o, &h);
    assert_non_null(h);
    assert_int_equal(h->run_id, 7);
    assert_int_equal(shellInFlight(&fx->b), 1);
    execCancel(h);
    execCancel(h);                /* twice: harmless */
    assert_int_equal(o.calls, 0); /* not from inside cancel */
    assert_true(runUntil(fx, isDone, &o, WAIT_MS));
    assert_true(o.res.cancelled);
    assert_false(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_int_equal(shellInFlight(&fx->b), 0);
    outcomeFree(&o);
}

static bool allDone(void *arg)
{
    struct outcome *o = arg;
    for (; o->fx != NULL; o++) {
        if (o->calls == 0) {
            return false;
        }
    }
    return true;
}

static void closeWithRunsInFlight(void **state)
{
    struct fixture *fx = *state;
    struct job j[5];
    struct outcome o[6] = {{0}};
    char *argv[] = {"/no/such"};
    char ready[128];
    char cmd[256];
    snprintf(ready, sizeof ready, "%s/ready", fx->dir);
    snprintf(cmd, sizeof cmd, "trap '' TERM; sleep 1000 & echo > %s; wait; wait", ready);
    jobInit(&j[0], "sleep 1000");
    jobInit(&j[1], "sleep 1000 & sleep 1000 & wait");
    jobInit(&j[2], cmd);
    j[2].req.kill_grace_us = 200000;
    jobInit(&j[3], NULL);
    j[3].shell.n_argv = 1;
    j[3].shell.argv = argv;
    jobInit(&j[4], "sleep 1000 & exit 0"); /* leader gone, output held */
    for (int i = 0; i < 5; i++) {
        j[i].req.run_id = (uint64_t)i + 1;
    }
    for (int i = 0; i < 5; i++) {
        if (i != 3) {
            startOk(fx, &j[i], &o[i], NULL);
        }
    }
    assert_true(waitForFile(fx, ready)); /* SIGTERM is ignored from here on */
    startOk(fx, &j[3], &o[3], NULL);     /* its spawn failure is still to be reported */
    assert_int_equal(shellInFlight(&fx->b), 5);
    execClose(&fx->b, onClosed);
    struct exec_handle *h = NULL;
    jobInit(&j[0], "true");
    assert_int_equal(execStart(&fx->b, &j[0].req, onDone, &o[0], &h), RC_ESHUTDOWN);
    assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
    assert_int_equal(fx->done_at_close, 5); /* every done before the close callback */
    assert_true(allDone(o));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].res.cancelled);
        outcomeFree(&o[i]);
    }
    assert_int_equal(o[0].res.term_signal, SIGTERM);
    assert_int_equal(o[2].res.term_signal, SIGKILL);
    assert_true(o[3].res.start_failed);
}

static void closeIdle(void **state)
{
    struct fixture *fx = *state;
    execClose(&fx->b, onClosed);
    assert_false(fx->closed); /* the close callback is never synchronous */
    assert_true(runUntil(fx, isClosed, fx, WAIT_MS));
}

static void manyConcurrent(void **state)
{
    struct fixture *fx = *state;
    enum { N = 50 };
    struct job *j = calloc(N, sizeof *j);
    struct outcome *o = calloc(N + 1, sizeof *o);
    assert_non_null(j);
    assert_non_null(o);
    for (int i = 0; i < N; i++) {
        jobInit(&j[i], "echo run $RAFTCRON_RUN_ID; exit $((RAFTCRON_RUN_ID % 7))");
        j[i].req.run_id = (uint64_t)i + 100;
        startOk(fx, &j[i], &o[i], NULL);
    }
    assert_int_equal(shellInFlight(&fx->b), N);
    assert_true(runUntil(fx, allDone, o, WAIT_MS));
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "run %d\n", i + 100);
        assert_int_equal(o[i].calls, 1);
        assert_string_equal((char *)o[i].tail, want);
        assert_int_equal(o[i].res.exit_code, (i + 100) % 7);
        outcomeFree(&o[i]);
    }
    assert_int_equal(shellInFlight(&fx->b), 0);
    free(j);
    free(o);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(exitZero),
        T(exitThree),
        T(killedBySignal),
        T(environmentExact),
        T(environmentWholeSecond),
        T(environmentBadEntry),
        T(argvForm),
        T(argvPathLookup),
        T(workdir),
        T(badRequests),
        T(missingArgv),
        T(missingWorkdir),
        T(missingShellCommand),
        T(timeoutKillsGroup),
        T(sigkillAfterGrace),
        T(timeoutAfterLeaderExit),
        T(outputAfterExit),
        T(hundredMegabytes),
        T(stdoutAndStderr),
        T(smallTailKeepsEnd),
        T(cancelRunning),
        T(closeWithRunsInFlight),
        T(closeIdle),
        T(manyConcurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
