/*
 * A one-shot timer on the wall clock with microsecond resolution, for starting runs on time
 * (DESIGN.md §8). Measured here (bench/bench_timer.c, docs/performance.md "Start timer"):
 * uv_timer armed with a millisecond timeout computed from the deadline fires 0.6 ms late at
 * p50 and 1.8-2.8 ms at p99 on an otherwise quiet machine, and in 1 case in 8 up to 0.9 ms
 * *early* by the wall clock (its loop time is cached and truncated to whole milliseconds). An
 * rtimer fires 60-90 µs late at p50 and ~0.2 ms at p99 there, and never early. It is a
 * timerfd on CLOCK_REALTIME armed with an absolute deadline (TFD_TIMER_ABSTIME |
 * TFD_TIMER_CANCEL_ON_SET) and watched by a uv_poll on the loop.
 *
 * Rules: it never fires before the deadline by the wall clock (clock_gettime(CLOCK_REALTIME)
 * in the callback is >= deadline_us). If the wall clock is stepped while armed, it re-arms for
 * the same absolute deadline, and fires at once if that instant has now passed. A deadline in
 * the past fires on the next loop iteration. An armed rtimer keeps the loop alive, an idle one
 * does not (as uv_timer).
 *
 * Lifecycle (STYLE.md §9):
 *
 *   IDLE ──rtimerStart──▶ ARMED ──deadline (cb) / rtimerStop──▶ IDLE
 *   IDLE, ARMED ──rtimerClose──▶ CLOSING ──uv close cb──▶ CLOSED (close_cb; memory is the
 *   caller's again)
 */
#ifndef RC_NODE_RTIMER_H
#define RC_NODE_RTIMER_H

#include <stdint.h>
#include <uv.h>

enum rtimer_state { RTIMER_IDLE = 0, RTIMER_ARMED, RTIMER_CLOSING, RTIMER_CLOSED };

struct rtimer;
typedef void (*rtimer_cb)(struct rtimer *t);

struct rtimer {
    void *data;              /* public: the caller's */
    enum rtimer_state state; /* read-only */
    int64_t deadline_us;     /* read-only: the last deadline given to rtimerStart */
    int fd;                  /* private (owned): the timerfd, closed in the close cb */
    uv_poll_t poll;          /* private */
    rtimer_cb cb;            /* private */
    rtimer_cb close_cb;      /* private */
};

/* Set up t (memory owned by the caller) on loop, IDLE. Returns 0, or RC_EIO if the timerfd or
 * the poll handle cannot be made; then nothing is left to close. */
int rtimerInit(uv_loop_t *loop, struct rtimer *t);

/* Arm t to call cb once when the wall clock reaches deadline_us (microseconds since the
 * epoch), replacing any deadline already armed. Returns 0; RC_EINVAL if t is closing or cb is
 * NULL, RC_EIO if the kernel refuses; on failure cb never fires and t is IDLE. */
int rtimerStart(struct rtimer *t, rtimer_cb cb, int64_t deadline_us);

/* Disarm t; its callback will not fire. A no-op unless ARMED. */
void rtimerStop(struct rtimer *t);

/* Close t, armed or not: its callback will not fire. close_cb (may be NULL) is called from the
 * loop once the poll handle and the timerfd are closed; only then may t's memory be freed. */
void rtimerClose(struct rtimer *t, rtimer_cb close_cb);

/* Set the calling thread's timer slack to 1 ns (prctl(PR_SET_TIMERSLACK)): the kernel's
 * default lets a sleep with a timeout, such as the loop's epoll_wait for its uv_timers, end up
 * to 50 µs late. A timerfd's own expiry is not slackened, so rtimers gain nothing measurable
 * from it (docs/performance.md). Threads created afterwards inherit it: calling it once at
 * daemon start, before any thread exists, covers the process. */
void rtimerLowSlack(void);

#endif /* RC_NODE_RTIMER_H */
