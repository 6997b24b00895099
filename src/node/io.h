/*
 * The seam between the code that decides and executes runs — the leader loop (leader.c), the
 * dispatcher (dispatch.c) and the worker (worker.c) — and everything with a side effect: the
 * clocks, timers and Raft (DESIGN.md §5: "the leader loop, placement and worker reach time and
 * I/O only through a small io/clock table, so the simulator runs the code that ships", as
 * libraft's struct raft_io is for Raft). Two backends: io_uv.c (libuv, the cluster, the
 * timerfd start timer) in the daemon, and the simulator's (tests/sim/sim_cluster.c: one virtual
 * clock, libraft's fixture).
 *
 * Clocks: wall() is the wall clock (microseconds since the Unix epoch; what the leader writes
 * into entries and what start_at is measured on); mono() is monotonic (microseconds since an
 * arbitrary origin; silences and timeouts). Neither may be read anywhere else by these parts.
 *
 * Timers are one-shot, on one of the two clocks, with an absolute deadline in microseconds; a
 * deadline in the past fires on the next turn of the loop, never inside timer_start. Lifecycle
 * (STYLE.md §9): IDLE ─start→ ARMED ─fire (cb) / stop→ IDLE; any ─close→ CLOSING ─(close_cb)→
 * CLOSED. The callback never runs after stop or close; close_cb runs from the loop, after which
 * the struct io_timer's memory is the caller's again.
 *
 * Raft (a member node only; an agent's table leaves these NULL): fsm() is this replica's state
 * (read only); propose() and barrier() follow cluster.h: 0 and the callback fires later, or an
 * RC_E* code and it never fires (STYLE.md §6).
 */
#ifndef RC_NODE_IO_H
#define RC_NODE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_fsm;
struct rc_fsm_result;
struct node_io;
struct io_timer;

typedef void (*io_timer_cb)(struct io_timer *t);
/* status 0: committed and applied (res: what apply did, borrowed for the call); RC_ENOTLEADER:
 * leadership lost, outcome unknown; other RC_E*: failed. */
typedef void (*io_apply_cb)(void *data, int status, const struct rc_fsm_result *res);
typedef void (*io_done_cb)(void *data, int status, const char *msg);

enum io_clock { IO_MONO = 0, IO_WALL };
enum io_timer_state { IO_TIMER_IDLE = 0, IO_TIMER_ARMED, IO_TIMER_CLOSING, IO_TIMER_CLOSED };

struct io_timer {
    void *data;                /* public: the caller's */
    struct node_io *io;        /* read-only */
    enum io_clock clock;       /* read-only */
    enum io_timer_state state; /* read-only */
    int64_t deadline_us;       /* read-only: of the last start */
    io_timer_cb cb;            /* private */
    io_timer_cb close_cb;      /* private */
    void *impl;                /* private: the backend's (owned by it) */
};

struct node_io {
    void *impl; /* the backend's */
    int64_t (*wall)(struct node_io *io);
    int64_t (*mono)(struct node_io *io);
    /* Returns 0 or RC_ENOMEM / RC_EIO (then nothing is left to close). */
    int (*timer_init)(struct node_io *io, struct io_timer *t, enum io_clock clock);
    /* Arm (or re-arm) t for deadline_us on its clock. Returns 0, or RC_E* (t stays IDLE). */
    int (*timer_start)(struct io_timer *t, int64_t deadline_us, io_timer_cb cb);
    void (*timer_stop)(struct io_timer *t);
    void (*timer_close)(struct io_timer *t, io_timer_cb close_cb);
    /* Raft (NULL on an agent). */
    struct rc_fsm *(*fsm)(struct node_io *io);
    bool (*is_leader)(struct node_io *io);
    uint64_t (*term)(struct node_io *io);
    int (*propose)(struct node_io *io, const void *buf, size_t len, io_apply_cb cb, void *data);
    int (*barrier)(struct node_io *io, io_done_cb cb, void *data);
};

/* Shorthands through the table. */
static inline int64_t ioWall(struct node_io *io)
{
    return io->wall(io);
}
static inline int64_t ioMono(struct node_io *io)
{
    return io->mono(io);
}
static inline int ioTimerInit(struct node_io *io, struct io_timer *t, enum io_clock clock)
{
    return io->timer_init(io, t, clock);
}
static inline int ioTimerStart(struct io_timer *t, int64_t deadline_us, io_timer_cb cb)
{
    return t->io->timer_start(t, deadline_us, cb);
}
static inline void ioTimerStop(struct io_timer *t)
{
    t->io->timer_stop(t);
}
static inline void ioTimerClose(struct io_timer *t, io_timer_cb close_cb)
{
    t->io->timer_close(t, close_cb);
}
/* Arm t to fire after us microseconds on its clock. */
static inline int ioTimerIn(struct io_timer *t, int64_t us, io_timer_cb cb)
{
    int64_t now = t->clock == IO_WALL ? ioWall(t->io) : ioMono(t->io);
    return ioTimerStart(t, now + (us > 0 ? us : 0), cb);
}

#endif /* RC_NODE_IO_H */
