/*
 * The executor layer without processes: the fake executor (src/exec/fake.c) on a virtual clock
 * — scripted exits, crashes, hangs, timeouts with and without SIGTERM being ignored, cancels,
 * start failures, script precedence, completion order, callbacks that start runs, close — and
 * the shared helpers of src/exec/exec.c: the output ring buffer against a reference model and
 * the environment's precedence rules. Exact virtual instants are asserted throughout.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "exec/exec.h"

#define T0  1700000000000000 /* virtual start instant */
#define SEC 1000000

struct outcome {
    unsigned calls;
    unsigned order; /* completion rank, from 1 */
    struct exec_result res;
    char tail[256];
    /* Optional follow-up run started from the done callback. */
    struct exec_request *follow;
    struct outcome *follow_out;
    int follow_rv;
};

static unsigned completed;
static unsigned closes;
static unsigned done_at_close;

static void onDone(struct exec_handle *h, const struct exec_result *res, void *data)
{
    struct outcome *o = data;
    o->calls++;
    o->order = ++completed;
    o->res = *res;
    assert_true(res->tail_len < sizeof o->tail);
    memcpy(o->tail, res->tail, res->tail_len);
    o->tail[res->tail_len] = '\0';
    o->res.tail = NULL;
    execCancel(h); /* harmless from inside done */
    if (o->follow != NULL) {
        struct exec_handle *fh;
        o->follow_rv = execStart(h->backend, o->follow, onDone, o->follow_out, &fh);
    }
}

static void onClosed(struct exec_backend *b)
{
    (void)b;
    closes++;
    done_at_close = completed;
}

static struct exec_request request(uint64_t run_id, const char *job)
{
    struct exec_request r = {
        .run_id = run_id, .fence = 1, .attempt = 1, .job = job, .scheduled_us = T0};
    return r;
}

struct fx {
    struct exec_backend b;
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(fakeInit(&fx->b, T0), 0);
    completed = closes = done_at_close = 0;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx->b.impl != NULL) {
        assert_int_equal(fakeInFlight(&fx->b), 0); /* outcomes live on the test's stack */
        execClose(&fx->b, onClosed);
    }
    assert_null(fx->b.impl);
    free(fx);
    return 0;
}

static struct exec_handle *startOk(struct fx *fx, const struct exec_request *req, struct outcome *o)
{
    struct exec_handle *h = NULL;
    int rv = execStart(&fx->b, req, onDone, o, &h);
    if (rv != 0) {
        fail_msg("start: %s", fx->b.errmsg);
    }
    assert_non_null(h);
    assert_int_equal(h->run_id, req->run_id);
    assert_int_equal(o->calls, 0);
    return h;
}

/* ---- Fake executor ---------------------------------------------------------------------- */

static void unscriptedExitsZeroAtNextAdvance(void **state)
{
    struct fx *fx = *state;
    struct exec_request req = request(1, "ns/a");
    struct outcome o = {0};
    startOk(fx, &req, &o);
    assert_int_equal(fakeInFlight(&fx->b), 1);
    assert_int_equal(fakeNextEvent(&fx->b), T0);
    fakeAdvance(&fx->b, T0);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.term_signal, 0);
    assert_int_equal(o.res.started_us, T0);
    assert_int_equal(o.res.finished_us, T0);
    assert_int_equal(fakeInFlight(&fx->b), 0);
    assert_int_equal(fakeStarted(&fx->b), 1);
    assert_int_equal(fakeNextEvent(&fx->b), INT64_MAX);
}

static void exitCodeAfterDuration(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {
        .outcome = FAKE_EXIT, .exit_code = 3, .duration_us = 5 * SEC, .output = "some output\n"};
    assert_int_equal(fakeScript(&fx->b, "ns/a", &s), 0);
    struct exec_request req = request(1, "ns/a");
    struct outcome o = {0};
    startOk(fx, &req, &o);
    assert_int_equal(fakeNextEvent(&fx->b), T0 + 5 * SEC);
    fakeAdvance(&fx->b, T0 + 5 * SEC - 1);
    assert_int_equal(o.calls, 0);
    fakeAdvance(&fx->b, T0 + 5 * SEC);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.res.exit_code, 3);
    assert_int_equal(o.res.finished_us, T0 + 5 * SEC);
    assert_string_equal(o.tail, "some output\n");
    assert_int_equal(o.res.output_bytes, 12);
    assert_false(o.res.tail_truncated);
}

static void crash(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_SIGNAL, .signal = SIGSEGV, .duration_us = SEC};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0 + 10 * SEC);
    assert_int_equal(o.res.term_signal, SIGSEGV);
    assert_int_equal(o.res.exit_code, -1);
    assert_int_equal(o.res.finished_us, T0 + SEC);
    assert_false(o.res.timed_out);
}

static void hangTimesOutWithSigterm(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_HANG};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    req.timeout_us = 10 * SEC;
    struct outcome o = {0};
    startOk(fx, &req, &o);
    assert_int_equal(fakeNextEvent(&fx->b), T0 + 10 * SEC);
    fakeAdvance(&fx->b, T0 + 100 * SEC);
    assert_true(o.res.timed_out);
    assert_false(o.res.cancelled);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_int_equal(o.res.finished_us, T0 + 10 * SEC);
}

static void ignoredSigtermGetsSigkillAfterGrace(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_HANG, .ignore_term = true};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    req.timeout_us = 10 * SEC;
    req.kill_grace_us = 2 * SEC;
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0 + 11 * SEC);
    assert_int_equal(o.calls, 0);
    fakeAdvance(&fx->b, T0 + 12 * SEC);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGKILL);
    assert_int_equal(o.res.finished_us, T0 + 12 * SEC);
}

static void defaultGraceIsFiveSeconds(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_HANG, .ignore_term = true};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    req.timeout_us = SEC;
    struct outcome o = {0};
    startOk(fx, &req, &o);
    assert_int_equal(fakeNextEvent(&fx->b), T0 + SEC + EXEC_KILL_GRACE_US_DEFAULT);
    execClose(&fx->b, onClosed);
    assert_int_equal(o.calls, 1);
}

static void exitDuringGraceKeepsItsCode(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {
        .outcome = FAKE_EXIT, .exit_code = 4, .duration_us = 11 * SEC, .ignore_term = true};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    req.timeout_us = 10 * SEC;
    req.kill_grace_us = 5 * SEC;
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0 + 20 * SEC);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.exit_code, 4);
    assert_int_equal(o.res.term_signal, 0);
    assert_int_equal(o.res.finished_us, T0 + 11 * SEC);
}

static void exitAtTimeoutInstantWins(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_EXIT, .exit_code = 0, .duration_us = 10 * SEC};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    req.timeout_us = 10 * SEC;
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0 + 10 * SEC);
    assert_false(o.res.timed_out);
    assert_int_equal(o.res.term_signal, 0);
}

static void cancelHang(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_HANG};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    struct outcome o = {0};
    struct exec_handle *h = startOk(fx, &req, &o);
    assert_int_equal(fakeNextEvent(&fx->b), INT64_MAX);
    fakeAdvance(&fx->b, T0 + 3 * SEC);
    execCancel(h);
    execCancel(h);
    assert_int_equal(o.calls, 0); /* never from inside cancel */
    fakeAdvance(&fx->b, T0 + 3 * SEC);
    assert_int_equal(o.calls, 1);
    assert_true(o.res.cancelled);
    assert_false(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_int_equal(o.res.finished_us, T0 + 3 * SEC);
}

static void startFailure(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_START_FAIL, .output = "never printed"};
    assert_int_equal(fakeScriptOnce(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0);
    assert_int_equal(o.calls, 1);
    assert_true(o.res.start_failed);
    assert_string_equal(o.res.error, "spawn fake: scripted start failure");
    assert_int_equal(o.res.started_us, 0);
    assert_int_equal(o.res.tail_len, 0);
}

static void invalidRequest(void **state)
{
    struct fx *fx = *state;
    struct exec_request req = request(1, NULL);
    struct outcome o = {0};
    struct exec_handle *h = NULL;
    assert_int_equal(execStart(&fx->b, &req, onDone, &o, &h), RC_EINVAL);
    assert_non_null(strstr(fx->b.errmsg, "no job name"));
    assert_null(h);
    req = request(1, "ns/a");
    req.tail_max = EXEC_TAIL_MAX_LIMIT + 1;
    assert_int_equal(execStart(&fx->b, &req, onDone, &o, &h), RC_EINVAL);
    fakeAdvance(&fx->b, T0 + SEC);
    assert_int_equal(o.calls, 0);
    assert_int_equal(fakeStarted(&fx->b), 0);
}

static int runOnce(struct fx *fx, const char *job)
{
    struct exec_request req = request(1, job);
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0);
    assert_int_equal(o.calls, 1);
    return o.res.exit_code;
}

static void scriptPrecedence(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_EXIT};
    s.exit_code = 1;
    assert_int_equal(fakeScript(&fx->b, "a/x", &s), 0);
    s.exit_code = 2;
    assert_int_equal(fakeScriptOnce(&fx->b, "a/x", &s), 0);
    s.exit_code = 4;
    assert_int_equal(fakeScriptOnce(&fx->b, NULL, &s), 0);
    s.exit_code = 9;
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    assert_int_equal(runOnce(fx, "a/x"), 2); /* one-shots first, in the order given */
    assert_int_equal(runOnce(fx, "b/y"), 4);
    assert_int_equal(runOnce(fx, "a/x"), 1); /* then the job's standing script */
    assert_int_equal(runOnce(fx, "b/y"), 9); /* then the default */
    s.exit_code = 5;
    assert_int_equal(fakeScript(&fx->b, "a/x", &s), 0); /* replaces */
    assert_int_equal(runOnce(fx, "a/x"), 5);
    assert_int_equal(runOnce(fx, "a/x"), 5);
    assert_int_equal(fakeStarted(&fx->b), 6);
}

static void completionOrder(void **state)
{
    struct fx *fx = *state;
    int64_t dur[4] = {3 * SEC, SEC, 2 * SEC, SEC};
    struct outcome o[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        struct fake_script s = {.outcome = FAKE_EXIT, .duration_us = dur[i]};
        assert_int_equal(fakeScriptOnce(&fx->b, NULL, &s), 0);
        struct exec_request req = request((uint64_t)i, "ns/a");
        startOk(fx, &req, &o[i]);
    }
    fakeAdvance(&fx->b, T0 + 10 * SEC);
    /* By end instant, ties by start order. */
    assert_int_equal(o[1].order, 1);
    assert_int_equal(o[3].order, 2);
    assert_int_equal(o[2].order, 3);
    assert_int_equal(o[0].order, 4);
}

static void callbackStartsRunAtEventInstant(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_EXIT, .duration_us = 2 * SEC};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request first = request(1, "ns/a");
    struct exec_request second = request(2, "ns/a");
    struct outcome o2 = {0};
    struct outcome o1 = {.follow = &second, .follow_out = &o2};
    startOk(fx, &first, &o1);
    fakeAdvance(&fx->b, T0 + 10 * SEC);
    assert_int_equal(o1.follow_rv, 0);
    assert_int_equal(o2.calls, 1); /* due within the same advance */
    assert_int_equal(o2.res.started_us, T0 + 2 * SEC);
    assert_int_equal(o2.res.finished_us, T0 + 4 * SEC);
    /* Later starts use the advanced clock. */
    struct exec_request third = request(3, "ns/a");
    struct outcome o3 = {0};
    startOk(fx, &third, &o3);
    assert_int_equal(fakeNextEvent(&fx->b), T0 + 12 * SEC);
    execClose(&fx->b, onClosed);
    assert_int_equal(o3.calls, 1);
}

static void clockNeverGoesBack(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_EXIT, .duration_us = SEC};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    fakeAdvance(&fx->b, T0 + 5 * SEC);
    fakeAdvance(&fx->b, T0);
    struct exec_request req = request(1, "ns/a");
    struct outcome o = {0};
    startOk(fx, &req, &o);
    assert_int_equal(fakeNextEvent(&fx->b), T0 + 6 * SEC);
    execClose(&fx->b, onClosed);
    assert_int_equal(o.calls, 1);
    assert_int_equal(closes, 1);
}

static void tailTruncated(void **state)
{
    struct fx *fx = *state;
    struct fake_script s = {.outcome = FAKE_EXIT, .output = "0123456789abcdef"};
    assert_int_equal(fakeScript(&fx->b, NULL, &s), 0);
    struct exec_request req = request(1, "ns/a");
    req.tail_max = 4;
    struct outcome o = {0};
    startOk(fx, &req, &o);
    fakeAdvance(&fx->b, T0);
    assert_string_equal(o.tail, "cdef");
    assert_true(o.res.tail_truncated);
    assert_int_equal(o.res.output_bytes, 16);
    assert_int_equal(o.res.tail_capacity, 4);
}

static void closeCancelsEverything(void **state)
{
    struct fx *fx = *state;
    struct fake_script hang = {.outcome = FAKE_HANG};
    struct fake_script quick = {.outcome = FAKE_EXIT, .exit_code = 0};
    assert_int_equal(fakeScriptOnce(&fx->b, NULL, &hang), 0);
    assert_int_equal(fakeScriptOnce(&fx->b, NULL, &hang), 0);
    assert_int_equal(fakeScriptOnce(&fx->b, NULL, &quick), 0);
    struct exec_request req = request(1, "ns/a");
    struct exec_request again = request(9, "ns/a");
    struct outcome o[3] = {{0}};
    o[0].follow = &again; /* a start from a done during close is refused */
    o[0].follow_out = &o[2];
    startOk(fx, &req, &o[0]);
    startOk(fx, &req, &o[1]);
    startOk(fx, &req, &o[2]);
    fakeAdvance(&fx->b, T0 + SEC); /* the quick one ends; o[2] is reused below */
    assert_int_equal(o[2].calls, 1);
    o[2].calls = 0;
    execClose(&fx->b, onClosed);
    assert_int_equal(closes, 1);
    assert_int_equal(done_at_close, 3);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].res.cancelled);
        assert_int_equal(o[i].res.term_signal, SIGKILL);
        assert_int_equal(o[i].res.finished_us, T0 + SEC);
    }
    assert_int_equal(o[0].follow_rv, RC_ESHUTDOWN);
    assert_int_equal(o[2].calls, 0);
}

/* ---- Output ring buffer ----------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void tailMatchesModel(void **state)
{
    (void)state;
    size_t caps[] = {1, 2, 7, 16, 100};
    enum { TOTAL = 20000 };
    uint8_t *ref = malloc(TOTAL + 1024);
    uint8_t *chunk = malloc(1024);
    assert_non_null(ref);
    assert_non_null(chunk);
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        size_t cap = caps[c];
        struct exec_tail t;
        assert_int_equal(execTailInit(&t, cap), 0);
        size_t total = 0;
        while (total < TOTAL) {
            size_t n = (size_t)(next() % (3 * cap + 2));
            for (size_t i = 0; i < n; i++) {
                chunk[i] = (uint8_t)next();
            }
            execTailAppend(&t, chunk, n);
            memcpy(ref + total, chunk, n);
            total += n;
            assert_int_equal(t.total, total);
            if (next() % 4 == 0) {
                size_t want = total < cap ? total : cap;
                const uint8_t *got = execTailLinearize(&t);
                assert_int_equal(t.len, want);
                assert_memory_equal(got, ref + total - want, want);
            }
        }
        execTailClose(&t);
    }
    free(ref);
    free(chunk);
}

static void tailZeroCapacityCounts(void **state)
{
    (void)state;
    struct exec_tail t;
    assert_int_equal(execTailInit(&t, 0), 0);
    execTailAppend(&t, (const uint8_t *)"abc", 3);
    assert_int_equal(t.total, 3);
    assert_int_equal(t.len, 0);
    struct exec_result res = {0};
    execResultFromTail(&res, &t);
    assert_int_equal(res.tail_len, 0);
    assert_true(res.tail_truncated);
    execTailClose(&t);
}

/* ---- Environment ------------------------------------------------------------------------ */

static const char *lookup(char **env, const char *name)
{
    const char *found = NULL;
    size_t len = strlen(name);
    for (size_t i = 0; env[i] != NULL; i++) {
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
            assert_null(found); /* no name twice */
            found = env[i] + len + 1;
        }
    }
    return found;
}

/* Only allow-listed names come from the node's environment (never its secrets or RAFTCRON_*
 * settings), then the run-as identity, the job's env, and the run's RAFTCRON_* variables. */
static void environmentPrecedence(void **state)
{
    (void)state;
    const char *base[] = {"PATH=/opt/bin:/usr/bin",
                          "LANG=C.UTF-8",
                          "HOME=/root",
                          "RAFTCRON_AUTH_TOKEN=s3cret",
                          "AWS_SECRET_ACCESS_KEY=k",
                          "RAFTCRON_JOB=node",
                          "NOEQUALS",
                          "=x",
                          "TZ=",
                          NULL};
    const char *identity[] = {"HOME=/home/runner", "USER=runner", NULL};
    const char *job_env[] = {"LANG=de_DE.UTF-8", "C=x=y", "RAFTCRON_FENCE=9", "RAFTCRON_ATTEMPT=0",
                             NULL};
    struct exec_request req = request(12345, "ns/job");
    req.fence = 77;
    req.attempt = 2;
    req.scheduled_us = T0 + 500000;
    req.env = job_env;
    char **env = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(execEnvBuild(base, NULL, identity, &req, &env, err, sizeof err), 0);
    assert_string_equal(lookup(env, "PATH"), "/opt/bin:/usr/bin");
    assert_string_equal(lookup(env, "LANG"), "de_DE.UTF-8");
    assert_string_equal(lookup(env, "HOME"), "/home/runner");
    assert_string_equal(lookup(env, "USER"), "runner");
    assert_string_equal(lookup(env, "TZ"), "");
    assert_string_equal(lookup(env, "C"), "x=y");
    assert_null(lookup(env, "RAFTCRON_AUTH_TOKEN"));
    assert_null(lookup(env, "AWS_SECRET_ACCESS_KEY"));
    assert_null(lookup(env, "NOEQUALS"));
    assert_string_equal(lookup(env, "RAFTCRON_JOB"), "ns/job");
    assert_string_equal(lookup(env, "RAFTCRON_RUN_ID"), "12345");
    assert_string_equal(lookup(env, "RAFTCRON_FENCE"), "77");
    assert_string_equal(lookup(env, "RAFTCRON_ATTEMPT"), "2");
    assert_string_equal(lookup(env, "RAFTCRON_SCHEDULED_AT"), "2023-11-14T22:13:20.500000Z");
    size_t n = 0;
    while (env[n] != NULL) {
        n++;
    }
    assert_int_equal(n, 11); /* PATH LANG HOME TZ USER C + five RAFTCRON_* */
    execEnvFree(env);
    /* --job-env-keep adds names of the node's environment, never RAFTCRON_* ones. */
    assert_int_equal(execEnvBuild(base, "AWS_SECRET_ACCESS_KEY,RAFTCRON_AUTH_TOKEN,NOPE", identity,
                                  &req, &env, err, sizeof err),
                     0);
    assert_string_equal(lookup(env, "AWS_SECRET_ACCESS_KEY"), "k");
    assert_null(lookup(env, "RAFTCRON_AUTH_TOKEN"));
    assert_null(lookup(env, "NOPE"));
    execEnvFree(env);
    /* Without PATH in the node's environment, runs get a default one. */
    assert_int_equal(execEnvBuild(NULL, NULL, NULL, &req, &env, err, sizeof err), 0);
    assert_string_equal(lookup(env, "PATH"), "/usr/local/bin:/usr/bin:/bin");
    execEnvFree(env);
}

static void environmentRejectsBadEntry(void **state)
{
    (void)state;
    const char *job_env[] = {"OK=1", "BAD", NULL};
    struct exec_request req = request(1, "ns/job");
    req.env = job_env;
    char **env = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(execEnvBuild(NULL, NULL, NULL, &req, &env, err, sizeof err), RC_EINVAL);
    assert_null(env);
    assert_string_equal(err, "job ns/job: env entry \"BAD\" is not NAME=VALUE");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(unscriptedExitsZeroAtNextAdvance),
        T(exitCodeAfterDuration),
        T(crash),
        T(hangTimesOutWithSigterm),
        T(ignoredSigtermGetsSigkillAfterGrace),
        T(defaultGraceIsFiveSeconds),
        T(exitDuringGraceKeepsItsCode),
        T(exitAtTimeoutInstantWins),
        T(cancelHang),
        T(startFailure),
        T(invalidRequest),
        T(scriptPrecedence),
        T(completionOrder),
        T(callbackStartsRunAtEventInstant),
        T(clockNeverGoesBack),
        T(tailTruncated),
        T(closeCancelsEverything),
        cmocka_unit_test(tailMatchesModel),
        cmocka_unit_test(tailZeroCapacityCounts),
        cmocka_unit_test(environmentPrecedence),
        cmocka_unit_test(environmentRejectsBadEntry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
