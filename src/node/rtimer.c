#include "rtimer.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/err.h"

static void setState(struct rtimer *t, enum rtimer_state to)
{
    /* Allowed moves: IDLE→ARMED, ARMED→ARMED (new deadline), ARMED→IDLE, IDLE|ARMED→CLOSING,
     * CLOSING→CLOSED. */
    assert((to == RTIMER_ARMED && (t->state == RTIMER_IDLE || t->state == RTIMER_ARMED)) ||
           (to == RTIMER_IDLE && t->state == RTIMER_ARMED) ||
           (to == RTIMER_CLOSING && (t->state == RTIMER_IDLE || t->state == RTIMER_ARMED)) ||
           (to == RTIMER_CLOSED && t->state == RTIMER_CLOSING));
    t->state = to;
}

/* Arm the timerfd for t->deadline_us on the wall clock. An it_value of zero would disarm it,
 * so instants at or before the epoch become 1 µs after it: all are in the past alike, and an
 * absolute deadline in the past expires at once. */
static int arm(struct rtimer *t)
{
    int64_t us = t->deadline_us > 0 ? t->deadline_us : 1;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000}};
    return timerfd_settime(t->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

/* Nothing stays armed in the kernel (nor on its clock-step list) for a stopped timer. Every
 * settime, this one and arm()'s, also drops an expiry not yet read, so a re-armed timer never
 * reports its old deadline. */
static void disarm(struct rtimer *t)
{
    struct itimerspec zero = {0};
    timerfd_settime(t->fd, 0, &zero, NULL);
}

static void onReadable(uv_poll_t *p, int status, int events)
{
    struct rtimer *t = p->data;
    uint64_t expirations;
    ssize_t n = read(t->fd, &expirations, sizeof expirations);
    if (n < 0 && errno == ECANCELED) {
        /* The wall clock was stepped: the kernel dropped any expiry of the old timeline. The
         * deadline is a wall-clock instant, so arm it again; if it is now past, it expires at
         * once and the next read fires. settime cannot fail on our own fd with a valid time. */
        int rv = arm(t);
        assert(rv == 0);
        (void)rv;
        return;
    }
    if (n != (ssize_t)sizeof expirations) {
        return; /* EAGAIN: no expiry pending (a spurious wakeup) */
    }
    setState(t, RTIMER_IDLE);
    uv_poll_stop(&t->poll);
    t->cb(t);
}

int rtimerInit(uv_loop_t *loop, struct rtimer *t)
{
    t->state = RTIMER_IDLE;
    t->deadline_us = 0;
    t->cb = NULL;
    t->close_cb = NULL;
    t->fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->fd < 0) {
        return RC_EIO;
    }
    if (uv_poll_init(loop, &t->poll, t->fd) != 0) {
        close(t->fd);
        t->fd = -1;
        return RC_EIO;
    }
    t->poll.data = t;
    return 0;
}

int rtimerStart(struct rtimer *t, rtimer_cb cb, int64_t deadline_us)
{
    if (cb == NULL || (t->state != RTIMER_IDLE && t->state != RTIMER_ARMED)) {
        return RC_EINVAL;
    }
    t->cb = cb;
    t->deadline_us = deadline_us;
    if (arm(t) != 0 || uv_poll_start(&t->poll, UV_READABLE, onReadable) != 0) {
        disarm(t);
        uv_poll_stop(&t->poll);
        if (t->state == RTIMER_ARMED) {
            setState(t, RTIMER_IDLE);
        }
        return RC_EIO;
    }
    setState(t, RTIMER_ARMED);
    return 0;
}

void rtimerStop(struct rtimer *t)
{
    if (t->state != RTIMER_ARMED) {
        return;
    }
    disarm(t);
    uv_poll_stop(&t->poll);
    setState(t, RTIMER_IDLE);
}

static void onClosed(uv_handle_t *h)
{
    struct rtimer *t = h->data;
    close(t->fd);
    t->fd = -1;
    setState(t, RTIMER_CLOSED);
    if (t->close_cb != NULL) {
        t->close_cb(t);
    }
}

void rtimerClose(struct rtimer *t, rtimer_cb close_cb)
{
    assert(t->state == RTIMER_IDLE || t->state == RTIMER_ARMED);
    t->close_cb = close_cb;
    setState(t, RTIMER_CLOSING);
    /* uv_close stops the poll and drops any event already queued for the fd, so the callback
     * cannot fire; the fd may only be closed once libuv has let go of it. */
    uv_close((uv_handle_t *)&t->poll, onClosed);
}

void rtimerLowSlack(void)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
}
