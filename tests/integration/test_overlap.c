/*
 * Overlap policies on real workers and real processes (docs/misfire.md "Overlap"), three nodes,
 * jobs every 2 s whose runs last longer than that:
 *   replace    each new instant cancels the active run: its process group is killed (the
 *              command never reaches its end, its child is gone), and the new run starts;
 *   queue-one  a busy job's next instant is queued and starts only after the active run ended;
 *              the instant after that is SKIPPED ("a run is already queued"); no two runs of
 *              the job ever overlap.
 * Driven through the client only (jobs, runs, decisions), as a user would.
 */
#include <errno.h>
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
#include "core/policy.h"
#include "core/runs.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC       INT64_C(1000000)
#define MAX_LINES 256

struct mark {
    char what[8]; /* "start" or "end" */
    unsigned long long run_id;
    long long ns; /* wall clock */
};

static size_t readMarks(const char *path, struct mark *out, size_t max)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    while (f != NULL && n < max &&
           fscanf(f, "%7s %llu %lld", out[n].what, &out[n].run_id, &out[n].ns) == 3) {
        n++;
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static const struct mark *findMark(const struct mark *m, size_t n, const char *what,
                                   unsigned long long run_id)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].run_id == run_id && strcmp(m[i].what, what) == 0) {
            return &m[i];
        }
    }
    return NULL;
}

/* Polls until job has at least want runs in state (a run list state name). */
static void waitRuns(struct rc_client *c, const char *job, const char *state, size_t want,
                     int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    size_t n = 0;
    while (harnessNowMs() < deadline) {
        Raftcron__RunListResponse *l = NULL;
        assert_int_equal(rc_run_list(c, "", job, state, 1000, 0, &l), 0);
        n = l->n_runs;
        rc_message_free(l);
        if (n >= want) {
            return;
        }
        usleep(100000);
    }
    fail_msg("%s: %zu runs %s after %d ms, want %zu", job, n, state, timeout_ms, want);
}

static void pauseAndWaitIdle(struct rc_client *c, const char *job)
{
    Raftcron__Job *j = NULL;
    assert_int_equal(rc_job_pause(c, "", job, &j), 0);
    rc_message_free(j);
    int64_t deadline = harnessNowMs() + 30000;
    for (;;) {
        Raftcron__RunListResponse *l = NULL;
        size_t busy = 0;
        const char *states[] = {"pending", "assigned", "running", "retry_wait"};
        for (size_t s = 0; s < 4; s++) {
            assert_int_equal(rc_run_list(c, "", job, states[s], 1000, 0, &l), 0);
            busy += l->n_runs;
            rc_message_free(l);
        }
        if (busy == 0) {
            return;
        }
        if (harnessNowMs() > deadline) {
            fail_msg("%s: %zu runs still in flight 30 s after the pause", job, busy);
        }
        usleep(100000);
    }
}

/* Gone: no such process, or a zombie waiting for its reaper. */
static bool processGone(long pid)
{
    if (kill((pid_t)pid, 0) != 0) {
        return errno == ESRCH;
    }
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return true;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')');
    return close != NULL && close[1] == ' ' && close[2] == 'Z';
}

static void test_replace_kills_the_running_process(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 3, NULL), 0);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    char out[300], cmd[1200];
    snprintf(out, sizeof out, "%s/replace.txt", H.dir);
    /* Runs 5 s, every 2 s: each is replaced 2 s in, 3 s before it would record its end. */
    snprintf(cmd, sizeof cmd,
             "echo \"start $RAFTCRON_RUN_ID $(date +%%s%%N)\" >> %s; sleep 5 & "
             "echo $! > %s/child.$RAFTCRON_RUN_ID; wait; "
             "echo \"end $RAFTCRON_RUN_ID $(date +%%s%%N)\" >> %s",
             out, H.dir, out);
    harnessPutJob(c, &(struct harness_job){.name = "replace",
                                           .cron = "*/2 * * * * *",
                                           .command = cmd,
                                           .misfire_grace_us = 60 * SEC,
                                           .max_instances = 1,
                                           .overlap = RC_OVERLAP_REPLACE});
    waitRuns(c, "replace", "cancelled", 3, 30000);
    pauseAndWaitIdle(c, "replace");

    static struct mark m[MAX_LINES];
    size_t n = readMarks(out, m, MAX_LINES);
    Raftcron__RunListResponse *l = NULL;
    assert_int_equal(rc_run_list(c, "", "replace", "", 1000, 0, &l), 0);
    size_t replaced = 0, succeeded = 0;
    for (size_t i = 0; i < l->n_runs; i++) {
        const Raftcron__Run *r = l->runs[i];
        if (r->state == RC_RUN_SUCCEEDED) {
            succeeded++; /* the last one, after the pause: nothing replaced it */
            assert_non_null(findMark(m, n, "end", r->id));
            continue;
        }
        assert_int_equal(r->state, RC_RUN_CANCELLED);
        assert_string_equal(r->end_reason, "replaced by a newer run");
        if (findMark(m, n, "start", r->id) == NULL) {
            continue; /* replaced before its process started */
        }
        replaced++;
        if (findMark(m, n, "end", r->id) != NULL) {
            fail_msg("run %llu was replaced, but its command ran to its end",
                     (unsigned long long)r->id);
        }
        char pidfile[400];
        snprintf(pidfile, sizeof pidfile, "%s/child.%llu", H.dir, (unsigned long long)r->id);
        FILE *f = fopen(pidfile, "r");
        assert_non_null(f);
        long pid = 0;
        assert_int_equal(fscanf(f, "%ld", &pid), 1);
        fclose(f);
        int64_t deadline = harnessNowMs() + 10000;
        while (!processGone(pid) && harnessNowMs() < deadline) {
            usleep(20000);
        }
        if (!processGone(pid)) {
            fail_msg("run %llu was replaced, but its child %ld still runs",
                     (unsigned long long)r->id, pid);
        }
    }
    rc_message_free(l);
    assert_true(replaced >= 2);
    assert_int_equal(succeeded, 1);
    /* Every instant FIRED: replace never skips. */
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", "replace", 1000, 0, &d), 0);
    for (size_t i = 0; i < d->n_decisions; i++) {
        assert_int_equal(d->decisions[i]->decision, RC_DECISION_FIRED);
    }
    rc_message_free(d);
    rc_client_close(c);
}

static int byInstant(const void *a, const void *b)
{
    const Raftcron__Run *x = *(Raftcron__Run *const *)a, *y = *(Raftcron__Run *const *)b;
    return (x->scheduled_us > y->scheduled_us) - (x->scheduled_us < y->scheduled_us);
}

static void test_queue_one_starts_after_the_active_run(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 3, NULL), 0);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    char out[300], cmd[1200];
    snprintf(out, sizeof out, "%s/queue.txt", H.dir);
    /* Runs 3 s, every 2 s: the job is always busy when its next instant comes. */
    snprintf(cmd, sizeof cmd,
             "echo \"start $RAFTCRON_RUN_ID $(date +%%s%%N)\" >> %s; sleep 3; "
             "echo \"end $RAFTCRON_RUN_ID $(date +%%s%%N)\" >> %s",
             out, out);
    harnessPutJob(c, &(struct harness_job){.name = "queue",
                                           .cron = "*/2 * * * * *",
                                           .command = cmd,
                                           .misfire_grace_us = 60 * SEC,
                                           .max_instances = 1,
                                           .overlap = RC_OVERLAP_QUEUE_ONE});
    waitRuns(c, "queue", "succeeded", 4, 40000);
    pauseAndWaitIdle(c, "queue");

    static struct mark m[MAX_LINES];
    size_t n = readMarks(out, m, MAX_LINES);
    Raftcron__RunListResponse *l = NULL;
    assert_int_equal(rc_run_list(c, "", "queue", "", 1000, 0, &l), 0);
    /* In the order of their instants: walk pairs (earlier, later). */
    qsort(l->runs, l->n_runs, sizeof *l->runs, byInstant);
    size_t queued = 0;
    for (size_t i = 0; i + 1 < l->n_runs; i++) {
        const Raftcron__Run *earlier = l->runs[i], *later = l->runs[i + 1];
        assert_int_equal(later->state, RC_RUN_SUCCEEDED);
        const struct mark *s = findMark(m, n, "start", later->id);
        const struct mark *e = findMark(m, n, "end", earlier->id);
        assert_non_null(s);
        assert_non_null(e);
        if (s->ns < e->ns) {
            fail_msg("run %llu started %lld ms before run %llu ended: two at once",
                     (unsigned long long)later->id, (e->ns - s->ns) / 1000000,
                     (unsigned long long)earlier->id);
        }
        /* Queued: its instant came while the earlier run was still active. */
        queued += later->scheduled_us * 1000 < e->ns;
    }
    rc_message_free(l);
    assert_true(queued >= 2);
    /* The instants that came while one run was active and one queued were SKIPPED for that
     * reason, and only those. */
    Raftcron__DecisionListResponse *d = NULL;
    assert_int_equal(rc_decision_list(c, "", "queue", 1000, 0, &d), 0);
    size_t skipped = 0;
    for (size_t i = 0; i < d->n_decisions; i++) {
        const Raftcron__Decision *x = d->decisions[i];
        if (x->decision == RC_DECISION_SKIPPED) {
            assert_int_equal(x->reason, RC_REASON_QUEUE_FULL);
            skipped += x->count;
        } else {
            assert_int_equal(x->decision, RC_DECISION_FIRED);
        }
    }
    rc_message_free(d);
    assert_true(skipped >= 1);
    rc_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_kills_the_running_process, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_queue_one_starts_after_the_active_run, harnessSetup,
                                        harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
