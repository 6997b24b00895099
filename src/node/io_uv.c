#include "io_uv.h"

#include <assert.h>
#include <stdlib.h>
#include <time.h>

#include "core/err.h"
#include "raft/cluster.h"
#include "rtimer.h"

/* One per io_timer: a uv_timer for the monotonic clock, an rtimer for the wall clock. */
struct uv_io_timer {
    struct io_timer *t;
    uv_timer_t uv;
    struct rtimer rt;
};

static struct io_uv *uvOf(struct node_io *io)
{
    return io->impl;
}

static int64_t wallNow(struct node_io *io)
{
    (void)io;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t monoNow(struct node_io *io)
{
    (void)io;
    return (int64_t)(uv_hrtime() / 1000);
}

static void fire(struct io_timer *t)
{
    assert(t->state == IO_TIMER_ARMED);
    t->state = IO_TIMER_IDLE;
    t->cb(t);
}

static void uvFired(uv_timer_t *h)
{
    struct uv_io_timer *u = h->data;
    fire(u->t);
}

static void rtFired(struct rtimer *r)
{
    struct uv_io_timer *u = r->data;
    fire(u->t);
}

static int timerInit(struct node_io *io, struct io_timer *t, enum io_clock clock)
{
    struct uv_io_timer *u = calloc(1, sizeof *u);
    if (u == NULL) {
        return RC_ENOMEM;
    }
    u->t = t;
    if (clock == IO_WALL) {
        if (rtimerInit(uvOf(io)->loop, &u->rt) != 0) {
            free(u);
            return RC_EIO;
        }
        u->rt.data = u;
    } else {
        uv_timer_init(uvOf(io)->loop, &u->uv);
        u->uv.data = u;
    }
    t->io = io;
    t->clock = clock;
    t->state = IO_TIMER_IDLE;
    t->deadline_us = 0;
    t->impl = u;
    return 0;
}

static int timerStart(struct io_timer *t, int64_t deadline_us, io_timer_cb cb)
{
    if (t->state == IO_TIMER_CLOSING || t->state == IO_TIMER_CLOSED || cb == NULL) {
        return RC_EINVAL;
    }
    struct uv_io_timer *u = t->impl;
    t->cb = cb;
    t->deadline_us = deadline_us;
    if (t->clock == IO_WALL) {
        if (rtimerStart(&u->rt, rtFired, deadline_us) != 0) {
            t->state = IO_TIMER_IDLE;
            return RC_EIO;
        }
    } else {
        /* uv timers count from the loop's cached time: refresh it, and round up, so that the
         * timer does not fire before the deadline by more than the loop's granularity. */
        uv_update_time(uvOf(t->io)->loop);
        int64_t left = deadline_us - monoNow(t->io);
        uint64_t ms = left > 0 ? (uint64_t)((left + 999) / 1000) : 0;
        uv_timer_start(&u->uv, uvFired, ms, 0);
    }
    t->state = IO_TIMER_ARMED;
    return 0;
}

static void timerStop(struct io_timer *t)
{
    if (t->state != IO_TIMER_ARMED) {
        return;
    }
    struct uv_io_timer *u = t->impl;
    if (t->clock == IO_WALL) {
        rtimerStop(&u->rt);
    } else {
        uv_timer_stop(&u->uv);
    }
    t->state = IO_TIMER_IDLE;
}

static void closed(struct uv_io_timer *u)
{
    struct io_timer *t = u->t;
    t->state = IO_TIMER_CLOSED;
    t->impl = NULL;
    free(u);
    if (t->close_cb != NULL) {
        t->close_cb(t);
    }
}

static void uvClosed(uv_handle_t *h)
{
    closed(h->data);
}

static void rtClosed(struct rtimer *r)
{
    closed(r->data);
}

static void timerClose(struct io_timer *t, io_timer_cb close_cb)
{
    if (t->state == IO_TIMER_CLOSING || t->state == IO_TIMER_CLOSED) {
        return;
    }
    timerStop(t);
    t->state = IO_TIMER_CLOSING;
    t->close_cb = close_cb;
    struct uv_io_timer *u = t->impl;
    if (t->clock == IO_WALL) {
        rtimerClose(&u->rt, rtClosed);
    } else {
        uv_close((uv_handle_t *)&u->uv, uvClosed);
    }
}

static struct rc_fsm *fsmOf(struct node_io *io)
{
    return uvOf(io)->cluster->core;
}

static bool isLeader(struct node_io *io)
{
    return clusterIsLeader(uvOf(io)->cluster);
}

static uint64_t termOf(struct node_io *io)
{
    return clusterTerm(uvOf(io)->cluster);
}

static int propose(struct node_io *io, const void *buf, size_t len, io_apply_cb cb, void *data)
{
    return clusterPropose(uvOf(io)->cluster, buf, len, cb, data);
}

static int barrier(struct node_io *io, io_done_cb cb, void *data)
{
    return clusterBarrier(uvOf(io)->cluster, cb, data);
}

void ioUvInit(struct io_uv *u, uv_loop_t *loop, struct cluster *cluster)
{
    u->loop = loop;
    u->cluster = cluster;
    u->io = (struct node_io){
        .impl = u,
        .wall = wallNow,
        .mono = monoNow,
        .timer_init = timerInit,
        .timer_start = timerStart,
        .timer_stop = timerStop,
        .timer_close = timerClose,
    };
    if (cluster != NULL) {
        u->io.fsm = fsmOf;
        u->io.is_leader = isLeader;
        u->io.term = termOf;
        u->io.propose = propose;
        u->io.barrier = barrier;
    }
}
