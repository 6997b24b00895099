/*
 * The worker (src/node/worker.c) alone, on a virtual clock: a small io table of its own, the
 * fake executor, and a link that records what the worker sends and lets the test answer each
 * report batch when and how it likes — which the simulated cluster (sim_cluster.c) cannot do,
 * since its leaders answer in the order Raft gives.
 *
 *  - reports_keep_their_order: batches answered out of order (the older one failing first, as
 *    a leader stepping down fails its group commit in flight before the one queued behind it)
 *    go out again in the order they were made, and a finished report carries the run's start;
 *  - lease: a run due while no leader answered the worker for WORKER_LEASE_US waits, and
 *    starts once an answer comes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "core/runs.h"
#include "exec/exec.h"
#include "node/io.h"
#include "node/worker.h"

#define SEC INT64_C(1000000)
#define MS  INT64_C(1000)
#define T0  INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z: the wall clock at virtual 0 */

/* ---- A virtual io: one clock, armed timers in a list ------------------------------------- */

struct vio {
    struct node_io io;
    int64_t now; /* virtual microseconds (mono); wall = T0 + now */
    struct io_timer *timers[16];
    size_t n;
};

static struct vio V;

static int64_t vWall(struct node_io *io)
{
    (void)io;
    return T0 + V.now;
}

static int64_t vMono(struct node_io *io)
{
    (void)io;
    return V.now;
}

static int vTimerInit(struct node_io *io, struct io_timer *t, enum io_clock clock)
{
    memset(t, 0, sizeof *t);
    t->io = io;
    t->clock = clock;
    t->state = IO_TIMER_IDLE;
    assert_true(V.n < sizeof V.timers / sizeof V.timers[0]);
    V.timers[V.n++] = t;
    return 0;
}

static int vTimerStart(struct io_timer *t, int64_t deadline_us, io_timer_cb cb)
{
    t->deadline_us = deadline_us;
    t->cb = cb;
    t->state = IO_TIMER_ARMED;
    return 0;
}

static void vTimerStop(struct io_timer *t)
{
    if (t->state == IO_TIMER_ARMED) {
        t->state = IO_TIMER_IDLE;
    }
}

static void vTimerClose(struct io_timer *t, io_timer_cb close_cb)
{
    t->state = IO_TIMER_CLOSED;
    for (size_t i = 0; i < V.n; i++) {
        if (V.timers[i] == t) {
            V.timers[i] = V.timers[--V.n];
            break;
        }
    }
    if (close_cb != NULL) {
        close_cb(t);
    }
}

static struct exec_backend fake;

/* Advance virtual time to `until`, firing timers and ending fake runs in time order. */
static void runUntil(int64_t until)
{
    for (;;) {
        struct io_timer *next = NULL;
        int64_t at = INT64_MAX;
        for (size_t i = 0; i < V.n; i++) {
            struct io_timer *t = V.timers[i];
            if (t->state != IO_TIMER_ARMED) {
                continue;
            }
            int64_t when = t->clock == IO_WALL ? t->deadline_us - T0 : t->deadline_us;
            if (when < at) {
                at = when;
                next = t;
            }
        }
        int64_t run_end = fakeNextEvent(&fake);
        run_end = run_end == INT64_MAX ? INT64_MAX : run_end - T0;
        if (run_end <= at && run_end <= until) {
            V.now = run_end > V.now ? run_end : V.now;
            fakeAdvance(&fake, T0 + V.now);
            continue;
        }
        if (next == NULL || at > until) {
            break;
        }
        V.now = at > V.now ? at : V.now;
        fakeAdvance(&fake, T0 + V.now); /* the executor's clock is ours: runs start now */
        next->state = IO_TIMER_IDLE;
        next->cb(next);
    }
    V.now = until > V.now ? until : V.now;
    fakeAdvance(&fake, T0 + V.now);
}

/* ---- A link that records ------------------------------------------------------------------ */

struct sent {
    uint64_t tag;
    size_t n;
    uint32_t kinds[8];
    uint64_t runs[8];
    int64_t started_us[8];
};

static struct sent batches[64];
static size_t n_batches;

static int recordReport(struct worker_link *l, const Raftcron__ReportBatch *b, uint64_t tag)
{
    (void)l;
    assert_true(n_batches < sizeof batches / sizeof batches[0]);
    struct sent *s = &batches[n_batches++];
    memset(s, 0, sizeof *s);
    s->tag = tag;
    s->n = b->n_reports;
    for (size_t i = 0; i < b->n_reports && i < 8; i++) {
        s->kinds[i] = b->reports[i]->kind;
        s->runs[i] = b->reports[i]->run_id;
        s->started_us[i] = b->reports[i]->started_us;
    }
    return 0;
}

static const struct worker_link_ops recordOps = {.report = recordReport};
static struct worker_link link = {.ops = &recordOps};

/* The last batch with reports, or NULL. */
static struct sent *lastReports(void)
{
    for (size_t i = n_batches; i > 0; i--) {
        if (batches[i - 1].n > 0) {
            return &batches[i - 1];
        }
    }
    return NULL;
}

/* ---- Fixture -------------------------------------------------------------------------------- */

static struct worker W;

static int setup(void **state)
{
    (void)state;
    memset(&V, 0, sizeof V);
    V.io = (struct node_io){.wall = vWall,
                            .mono = vMono,
                            .timer_init = vTimerInit,
                            .timer_start = vTimerStart,
                            .timer_stop = vTimerStop,
                            .timer_close = vTimerClose};
    n_batches = 0;
    assert_int_equal(fakeInit(&fake, T0), 0);
    struct worker_identity me = {
        .id = 7, .address = "127.0.0.1:7107", .capacity = 3, .incarnation = 99};
    struct worker_execs ex = {.shell = &fake, .noop = &fake, .http = &fake, .sql = &fake};
    assert_int_equal(workerStart(&W, &V.io, &me, &ex, true), 0);
    workerSetLink(&W, &link);
    return 0;
}

static void closed(struct worker *w)
{
    (void)w;
}

static void fakeClosed(struct exec_backend *b)
{
    (void)b;
}

static int teardown(void **state)
{
    (void)state;
    workerClose(&W, closed);
    fake.close(&fake, fakeClosed);
    return 0;
}

/* Open a session: the hello, then a sync push assigning run 1 (fence 3) starting at start_us. */
static void openSession(int64_t start_us)
{
    struct worker_hello h;
    assert_int_equal(workerHelloBuild(&W, &h), 0);
    workerHelloFree(&h);
    Raftcron__Run run = RAFTCRON__RUN__INIT;
    run.id = 1;
    run.fence = 3;
    run.attempt = 1;
    run.state = RC_RUN_ASSIGNED;
    run.scheduled_us = run.start_at_us = start_us;
    run.worker_id = 7;
    run.worker_incarnation = 99;
    run.job = "default/job";
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    sh.command = "true";
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    spec.namespace_ = "";
    spec.name = "job";
    spec.executor = &ex;
    Raftcron__AssignedRun a = RAFTCRON__ASSIGNED_RUN__INIT;
    a.run = &run;
    a.spec = &spec;
    Raftcron__AssignedRun *ap = &a;
    Raftcron__SessionPush p = RAFTCRON__SESSION_PUSH__INIT;
    p.term = 2;
    p.sync = true;
    p.n_assign = 1;
    p.assign = &ap;
    workerOnPush(&W, &p);
}

static void pushAccepted(void)
{
    Raftcron__RunRef ref = RAFTCRON__RUN_REF__INIT;
    ref.run_id = 1;
    ref.fence = 3;
    Raftcron__RunRef *rp = &ref;
    Raftcron__SessionPush p = RAFTCRON__SESSION_PUSH__INIT;
    p.term = 2;
    p.n_accepted = 1;
    p.accepted = &rp;
    workerOnPush(&W, &p);
}

/* ---- Tests -------------------------------------------------------------------------------- */

static void test_reports_keep_their_order(void **state)
{
    (void)state;
    fakeScript(&fake, NULL, &(struct fake_script){.outcome = FAKE_EXIT, .duration_us = 5 * MS});
    openSession(T0 + 100 * MS);
    runUntil(1 * MS);
    struct sent *received = lastReports();
    assert_non_null(received);
    assert_int_equal(received->kinds[0], 1); /* received */
    workerReported(&W, received->tag, 0);
    pushAccepted();
    /* The run starts at 100 ms: its started report goes out alone (nothing answered yet). */
    runUntil(101 * MS);
    struct sent *started = lastReports();
    assert_int_equal(started->n, 1);
    assert_int_equal(started->kinds[0], 2);
    uint64_t tag_started = started->tag;
    /* It ends 5 ms later: the finished report goes out in a batch of its own. */
    runUntil(110 * MS);
    struct sent *finished = lastReports();
    assert_int_equal(finished->n, 1);
    assert_int_equal(finished->kinds[0], 3);
    assert_int_equal(finished->started_us[0], T0 + 100 * MS); /* it says when it started */
    uint64_t tag_finished = finished->tag;
    assert_true(tag_finished > tag_started);
    /* The leader steps down: the older batch fails first, then the newer one. */
    size_t before = n_batches;
    workerReported(&W, tag_started, RC_ENOTLEADER);
    workerReported(&W, tag_finished, RC_ENOTLEADER);
    runUntil(111 * MS);
    assert_true(n_batches > before);
    struct sent *again = lastReports();
    assert_int_equal(again->n, 2);
    assert_int_equal(again->kinds[0], 2); /* started first, as made */
    assert_int_equal(again->kinds[1], 3);
    assert_int_equal(again->started_us[1], T0 + 100 * MS);
    workerReported(&W, again->tag, 0);
    assert_int_equal(workerRunCount(&W), 0); /* the leader has the end: forgotten */
}

static void test_lease(void **state)
{
    (void)state;
    fakeScript(&fake, NULL, &(struct fake_script){.outcome = FAKE_EXIT, .duration_us = 1 * MS});
    /* The sync push answers the hello: the lease runs WORKER_LEASE_US from it. */
    openSession(T0 + 3 * SEC);
    runUntil(1 * MS);
    struct sent *received = lastReports();
    assert_non_null(received);
    pushAccepted();
    /* Nothing the worker sends is answered from now on (heartbeats included): at 3 s the
     * lease (from the hello at 0) has run out, so the run does not start. */
    runUntil(3 * SEC + 100 * MS);
    assert_int_equal(W.stats.started, 0);
    assert_true(W.stats.held >= 1);
    /* The last heartbeat sent gets its answer: the lease is back and the run starts at once. */
    uint64_t beat = 0;
    for (size_t i = n_batches; i > 0 && beat == 0; i--) {
        if (batches[i - 1].n == 0) {
            beat = batches[i - 1].tag;
        }
    }
    assert_int_not_equal(beat, 0);
    workerReported(&W, beat, 0);
    assert_int_equal(W.stats.started, 1);
    assert_true(W.stats.late_max_us >= 100 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reports_keep_their_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
