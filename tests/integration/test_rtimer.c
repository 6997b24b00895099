/*
 * The wall-clock start timer (src/node/rtimer.c) on a real loop and the real clock: it fires
 * once, never before its deadline by clock_gettime(CLOCK_REALTIME); a past deadline fires at
 * once; stop, re-start and close behave as uv_timer's do, also when the expiry is already
 * queued in the kernel; many timers fire in deadline order; a wall-clock step while armed
 * neither fires a timer early nor loses it. Lateness is bounded twice: every firing within
 * LATE_MAX_MS (a stall of a loaded machine, not of the timer), the median of a series within
 * LATE_TYPICAL_MS; how late it really is belongs to bench/bench_timer.c.
 * Every test ends with uv_loop_close() == 0 and runs under ASan's leak checker.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "node/rtimer.h"
#include "raftcron/client.h"

#define WAIT_MS         5000
#define LATE_MAX_MS     1000 /* any one firing: a loaded machine may stall the loop that long */
#define LATE_TYPICAL_MS 50   /* the median of a series: stalls are rare, the timer is precise */

static int64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t nowUs(void)
{
    return nowNs() / 1000;
}

/* ---- Loop harness ----------------------------------------------------------------------- */

struct harness {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
};

static void deadlineFired(uv_timer_t *t)
{
    struct harness *h = t->data;
    h->expired = true;
}

static void harnessInit(struct harness *h)
{
    assert_int_equal(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->deadline);
    h->deadline.data = h;
}

/* Run the loop until *counter >= want or ms elapse; returns whether it got there. */
static bool runUntil(struct harness *h, const int *counter, int want, unsigned ms)
{
    h->expired = false;
    uv_timer_start(&h->deadline, deadlineFired, ms, 0);
    while (*counter < want && !h->expired) {
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&h->deadline);
    return *counter >= want;
}

/* Run the loop for ms, whatever happens. */
static void runFor(struct harness *h, unsigned ms)
{
    int never = 0;
    runUntil(h, &never, 1, ms);
}

static void harnessClose(struct harness *h)
{
    uv_close((uv_handle_t *)&h->deadline, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h->loop), 0);
}

/* ---- A timer that records its firings --------------------------------------------------- */

#define MAX_TIMERS 64

struct probe {
    struct rtimer t;
    int fired;
    int64_t fired_ns;    /* wall clock in the callback */
    unsigned iteration;  /* loop iteration of the callback (iterations, below) */
    int64_t deadline_us; /* the deadline it was armed for */
    int closed;
    int *order; /* shared: index of each firing, in order */
    int *n_order;
    int index;
    int *closes; /* shared: close callbacks of freed probes */
};

static int fires_total;     /* every probe's firings */
static unsigned iterations; /* loop iterations, counted by a prepare handle where a test has one */

static void onFire(struct rtimer *t)
{
    struct probe *p = t->data;
    p->fired_ns = nowNs();
    p->iteration = iterations;
    p->fired++;
    fires_total++;
    assert_int_equal(t->state, RTIMER_IDLE);
    if (p->order != NULL) {
        p->order[(*p->n_order)++] = p->index;
    }
}

static void onClose(struct rtimer *t)
{
    struct probe *p = t->data;
    p->closed++;
}

static void probeInit(struct harness *h, struct probe *p)
{
    *p = (struct probe){0};
    assert_int_equal(rtimerInit(&h->loop, &p->t), 0);
    p->t.data = p;
    assert_int_equal(p->t.state, RTIMER_IDLE);
}

static void probeStart(struct probe *p, int64_t deadline_us)
{
    p->deadline_us = deadline_us;
    assert_int_equal(rtimerStart(&p->t, onFire, deadline_us), 0);
    assert_int_equal(p->t.state, RTIMER_ARMED);
}

static void probeClose(struct harness *h, struct probe *p)
{
    rtimerClose(&p->t, onClose);
    assert_true(runUntil(h, &p->closed, 1, WAIT_MS));
    assert_int_equal(p->closed, 1);
    assert_int_equal(p->t.state, RTIMER_CLOSED);
}

/* Fired exactly once, at or after its deadline by the wall clock, within LATE_MAX_MS. */
static void assertFiredOnTime(const struct probe *p)
{
    assert_int_equal(p->fired, 1);
    assert_true(p->fired_ns >= p->deadline_us * 1000);
    assert_true(p->fired_ns - p->deadline_us * 1000 < (int64_t)LATE_MAX_MS * 1000000);
}

static int compareI64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The median lateness of n firings (nanoseconds) is within LATE_TYPICAL_MS. */
static void assertTypicallyOnTime(int64_t *late_ns, size_t n)
{
    qsort(late_ns, n, sizeof *late_ns, compareI64);
    if (late_ns[n / 2] >= (int64_t)LATE_TYPICAL_MS * 1000000) {
        fail_msg("median lateness %lld us over %zu firings", (long long)late_ns[n / 2] / 1000, n);
    }
}

/* ---- Tests ------------------------------------------------------------------------------ */

static void test_fires_once_after_deadline(void **state)
{
    struct harness h;
    struct probe p;
    harnessInit(&h);
    probeInit(&h, &p);
    /* Odd microseconds, so that rounding to milliseconds anywhere would show as early. */
    int64_t late[9];
    for (int i = 0; i < 9; i++) {
        p.fired = 0;
        probeStart(&p, nowUs() + 20000 + 137 * i);
        assert_true(runUntil(&h, &p.fired, 1, WAIT_MS));
        assertFiredOnTime(&p);
        late[i] = p.fired_ns - p.deadline_us * 1000;
    }
    assertTypicallyOnTime(late, 9);
    runFor(&h, 50);
    assert_int_equal(p.fired, 1);
    /* Idle, it does not keep the loop alive. */
    assert_false(uv_loop_alive(&h.loop));
    probeClose(&h, &p);
    harnessClose(&h);
}

static void test_past_deadline_fires_promptly(void **state)
{
    struct harness h;
    struct probe p;
    const int64_t past[] = {-1, 0, 1, 1000000000000, nowUs() - 1000000, nowUs()};
    harnessInit(&h);
    probeInit(&h, &p);
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        p.fired = 0;
        int64_t armed_ns = nowNs();
        probeStart(&p, past[i]);
        assert_true(runUntil(&h, &p.fired, 1, WAIT_MS));
        assert_int_equal(p.fired, 1);
        assert_true(p.fired_ns >= p.deadline_us * 1000);
        assert_true(p.fired_ns - armed_ns < (int64_t)LATE_MAX_MS * 1000000);
    }
    probeClose(&h, &p);
    harnessClose(&h);
}

static void test_stop_prevents_firing(void **state)
{
    struct harness h;
    struct probe p;
    harnessInit(&h);
    probeInit(&h, &p);
    probeStart(&p, nowUs() + 30000);
    rtimerStop(&p.t);
    assert_int_equal(p.t.state, RTIMER_IDLE);
    rtimerStop(&p.t); /* a no-op when idle */
    assert_false(uv_loop_alive(&h.loop));
    runFor(&h, 100);
    assert_int_equal(p.fired, 0);
    /* Expired in the kernel, not yet seen by the loop: stopping still wins. */
    probeStart(&p, nowUs() - 1000);
    usleep(5000);
    rtimerStop(&p.t);
    runFor(&h, 50);
    assert_int_equal(p.fired, 0);
    probeClose(&h, &p);
    harnessClose(&h);
}

/* What the first of two timers that expired together does to the other from its callback. */
enum victim_move { VICTIM_STOP, VICTIM_STOP_RESTART, VICTIM_RESTART };
static struct probe *stop_victim;
static enum victim_move victim_move;
static int64_t victim_restart_us;

static void onFireStopOther(struct rtimer *t)
{
    onFire(t);
    if (stop_victim != NULL && stop_victim != t->data) {
        if (victim_move != VICTIM_RESTART) {
            rtimerStop(&stop_victim->t);
        }
        if (victim_move != VICTIM_STOP) {
            stop_victim->deadline_us = victim_restart_us;
            assert_int_equal(rtimerStart(&stop_victim->t, onFire, victim_restart_us), 0);
        }
        stop_victim = NULL;
    }
}

static void test_stop_from_callback(void **state)
{
    struct harness h;
    struct probe p, q;
    harnessInit(&h);
    probeInit(&h, &p);
    probeInit(&h, &q);
    for (int m = VICTIM_STOP; m <= VICTIM_RESTART; m++) {
        bool restart = m != VICTIM_STOP;
        int64_t d = nowUs() + 20000;
        p.fired = q.fired = 0;
        p.deadline_us = q.deadline_us = d;
        assert_int_equal(rtimerStart(&p.t, onFireStopOther, d), 0);
        assert_int_equal(rtimerStart(&q.t, onFireStopOther, d), 0);
        usleep(30000); /* both are readable when the loop next polls */
        stop_victim = &q;
        victim_move = (enum victim_move)m;
        victim_restart_us = nowUs() + 100000;
        int before = fires_total;
        runUntil(&h, &fires_total, before + 2, restart ? WAIT_MS : 100);
        /* Whichever fired first stopped or re-armed the other, whose expiry the loop had
         * already seen: stopped, it never fires; re-armed for later, it fires then, never for
         * the old expiry. */
        assert_int_equal(p.fired + q.fired, restart ? 2 : 1);
        if (restart) {
            assertFiredOnTime(p.deadline_us == victim_restart_us ? &p : &q);
        }
    }
    stop_victim = NULL;
    probeClose(&h, &q);
    probeClose(&h, &p);
    harnessClose(&h);
}

static void test_restart_replaces_deadline(void **state)
{
    struct harness h;
    struct probe p;
    harnessInit(&h);
    probeInit(&h, &p);
    /* Earlier: fires once, at the new deadline, long before the old one. */
    int64_t old_us = nowUs() + 1000000;
    probeStart(&p, old_us);
    probeStart(&p, nowUs() + 20000);
    assert_true(runUntil(&h, &p.fired, 1, WAIT_MS));
    assertFiredOnTime(&p);
    assert_true(p.fired_ns < old_us * 1000);
    /* Later: nothing at the old deadline, once at the new one. */
    p.fired = 0;
    probeStart(&p, nowUs() + 20000);
    probeStart(&p, nowUs() + 150000);
    assert_true(runUntil(&h, &p.fired, 1, WAIT_MS));
    assertFiredOnTime(&p);
    /* Already expired in the kernel, then moved to the future: the old expiry is dropped. */
    p.fired = 0;
    probeStart(&p, nowUs() - 1000);
    usleep(5000);
    probeStart(&p, nowUs() + 50000);
    assert_true(runUntil(&h, &p.fired, 1, WAIT_MS));
    assertFiredOnTime(&p);
    runFor(&h, 50);
    assert_int_equal(p.fired, 1);
    probeClose(&h, &p);
    harnessClose(&h);
}

static void onCloseFree(struct rtimer *t)
{
    struct probe *p = t->data;
    (*p->closes)++;
    free(p);
}

static void test_close_while_armed(void **state)
{
    struct harness h;
    harnessInit(&h);
    int closes = 0;
    /* Armed in the future, and expired but not yet seen: neither fires. Heap-allocated and
     * freed in the close callback, so ASan sees any later use. */
    const int64_t offsets_us[] = {20000, -1000};
    int fds[2];
    for (int i = 0; i < 2; i++) {
        struct probe *p = malloc(sizeof *p);
        assert_non_null(p);
        probeInit(&h, p);
        p->closes = &closes;
        fds[i] = p->t.fd;
        probeStart(p, nowUs() + offsets_us[i]);
        if (offsets_us[i] < 0) {
            usleep(5000);
        }
        rtimerClose(&p->t, onCloseFree);
        assert_int_equal(p->t.state, RTIMER_CLOSING);
        assert_int_equal(rtimerStart(&p->t, onFire, nowUs()), RC_EINVAL);
        rtimerStop(&p->t); /* a no-op while closing */
    }
    runFor(&h, 100); /* a firing would touch a freed probe: ASan would report it */
    assert_int_equal(closes, 2);
    for (int i = 0; i < 2; i++) {
        errno = 0;
        assert_int_equal(fcntl(fds[i], F_GETFD), -1); /* the timerfd is closed */
        assert_int_equal(errno, EBADF);
    }
    harnessClose(&h);
}

static void test_start_errors(void **state)
{
    struct harness h;
    struct probe p;
    harnessInit(&h);
    probeInit(&h, &p);
    assert_int_equal(rtimerStart(&p.t, NULL, nowUs()), RC_EINVAL);
    assert_int_equal(p.t.state, RTIMER_IDLE);
    runFor(&h, 20);
    assert_int_equal(p.fired, 0);
    probeClose(&h, &p);
    /* Closed with no callback. */
    probeInit(&h, &p);
    rtimerClose(&p.t, NULL);
    uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(p.t.state, RTIMER_CLOSED);
    harnessClose(&h);
}

static void countIteration(uv_prepare_t *p)
{
    (void)p;
    iterations++;
}

/* Deadline order, as a loaded machine can keep it: a timer never fires in an earlier loop
 * iteration than one with an earlier deadline (that one expired first, so the kernel had it
 * ready no later). Two that expired before the same poll fire in that iteration, in whatever
 * order the poll reports them: with deadlines 1.5 ms apart a stalled loop sees several at once. */
static void test_many_fire_in_deadline_order(void **state)
{
    struct harness h;
    struct probe *ps = calloc(MAX_TIMERS, sizeof *ps);
    int order[MAX_TIMERS];
    int n_order = 0;
    assert_non_null(ps);
    harnessInit(&h);
    uv_prepare_t counter;
    uv_prepare_init(&h.loop, &counter);
    uv_prepare_start(&counter, countIteration);
    int64_t base = nowUs() + 50000;
    /* Started in a scrambled order (37 is coprime with 64), deadlines 1.5 ms apart. */
    for (int k = 0; k < MAX_TIMERS; k++) {
        int i = (k * 37) % MAX_TIMERS;
        probeInit(&h, &ps[i]);
        ps[i].order = order;
        ps[i].n_order = &n_order;
        ps[i].index = i;
        probeStart(&ps[i], base + 1500 * i + 7);
    }
    assert_true(runUntil(&h, &n_order, MAX_TIMERS, WAIT_MS));
    int64_t late[MAX_TIMERS];
    bool seen[MAX_TIMERS] = {false};
    for (int i = 0; i < MAX_TIMERS; i++) {
        assertFiredOnTime(&ps[i]);
        assert_false(seen[order[i]]);
        seen[order[i]] = true;
        late[i] = ps[i].fired_ns - ps[i].deadline_us * 1000;
        if (i > 0 && ps[i].iteration < ps[i - 1].iteration) {
            fail_msg("timer %d (deadline %lld) fired in iteration %u, before timer %d (deadline "
                     "%lld) in iteration %u",
                     i, (long long)ps[i].deadline_us, ps[i].iteration, i - 1,
                     (long long)ps[i - 1].deadline_us, ps[i - 1].iteration);
        }
    }
    assertTypicallyOnTime(late, MAX_TIMERS);
    uv_close((uv_handle_t *)&counter, NULL);
    for (int i = 0; i < MAX_TIMERS; i++) {
        probeClose(&h, &ps[i]);
    }
    harnessClose(&h);
    free(ps);
}

/* ---- A wall-clock step while armed (rtimer.c, the ECANCELED read) ----------------------- */

/* Step the wall clock by us microseconds (adjtimex ADJ_SETOFFSET). The kernel cancels every
 * TFD_TIMER_CANCEL_ON_SET timerfd on any change of the offset between the monotonic and the
 * wall clock, however small: 1 µs forward and back again disturbs nothing else on the machine.
 * Returns 0 or -errno (EPERM without CAP_SYS_TIME). */
static int stepClock(long us)
{
    struct timex tx = {.modes = ADJ_SETOFFSET | ADJ_MICRO};
    tx.time.tv_sec = us < 0 ? -1 : 0;
    tx.time.tv_usec = us < 0 ? 1000000 + us : us;
    return clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? -errno : 0;
}

/* A timerfd armed like an rtimer's, to show that a step really cancels (the test proves
 * nothing otherwise). */
static int witnessArm(int64_t deadline_us)
{
    int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    assert_true(fd >= 0);
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(deadline_us / 1000000),
                                          .tv_nsec = (long)(deadline_us % 1000000) * 1000}};
    assert_int_equal(timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL),
                     0);
    return fd;
}

static void witnessCancelled(int fd)
{
    uint64_t n;
    errno = 0;
    assert_int_equal(read(fd, &n, sizeof n), -1);
    assert_int_equal(errno, ECANCELED);
    close(fd);
}

static void test_clock_step_while_armed(void **state)
{
    assert_int_equal(stepClock(1), 0); /* main() made sure it may */
    struct harness h;
    struct probe p, q;
    harnessInit(&h);
    probeInit(&h, &p);
    probeInit(&h, &q);
    /* Armed for the future: the step's ECANCELED read is no expiry; it fires at its deadline. */
    probeStart(&p, nowUs() + 300000);
    int w1 = witnessArm(p.deadline_us);
    runFor(&h, 50);
    /* Expired in the kernel and not yet read when the clock steps: the step drops the expiry
     * (the read fails ECANCELED); re-armed for its past deadline, it fires at once. */
    probeStart(&q, nowUs() - 1000);
    int w2 = witnessArm(nowUs() - 1000);
    usleep(5000);
    assert_int_equal(stepClock(-1), 0);
    witnessCancelled(w1);
    witnessCancelled(w2);
    assert_true(runUntil(&h, &q.fired, 1, WAIT_MS));
    assert_int_equal(q.fired, 1);
    assert_true(q.fired_ns >= q.deadline_us * 1000);
    assert_int_equal(p.fired, 0);
    assert_true(runUntil(&h, &p.fired, 1, WAIT_MS));
    assertFiredOnTime(&p);
    runFor(&h, 50);
    assert_int_equal(p.fired + q.fired, 2);
    probeClose(&h, &q);
    probeClose(&h, &p);
    harnessClose(&h);
}

static void test_low_slack(void **state)
{
    rtimerLowSlack();
    assert_int_equal(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 1);
}

/* `test_rtimer clock-step` runs only the clock-step test, which steps the machine's wall clock
 * (ctest: integration/test_rtimer_clock_step). Without the right to (CAP_SYS_TIME) it exits 77,
 * skipped, unless the suite must be complete (RC_TESTS_COMPLETE: make test), where that fails. */
static int runClockStep(void)
{
    int rv = stepClock(1);
    if (rv != 0) {
        bool complete = getenv("RC_TESTS_COMPLETE") != NULL;
        fprintf(stderr, "%s: cannot step the wall clock (%s): run as root\n",
                complete ? "FAIL" : "SKIP", strerror(-rv));
        return complete ? 1 : 77;
    }
    stepClock(-1); /* back to where it was; the test steps it again */
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_clock_step_while_armed)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "clock-step") == 0) {
        return runClockStep();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_once_after_deadline),
        cmocka_unit_test(test_past_deadline_fires_promptly),
        cmocka_unit_test(test_stop_prevents_firing),
        cmocka_unit_test(test_stop_from_callback),
        cmocka_unit_test(test_restart_replaces_deadline),
        cmocka_unit_test(test_close_while_armed),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_many_fire_in_deadline_order),
        cmocka_unit_test(test_low_slack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
