/*
 * The leader's trigger loop (DESIGN.md §4): on gaining leadership, a Raft barrier; then, on one
 * timer set to the earliest due-heap key (or retry), the pure planner (core/sched.c) turns the
 * committed state and the wall clock into entries — one FireBatch for every instant due within
 * the lookahead, RunAssign, RunRetry/RunDead, WorkerDown for silent workers — proposed one after
 * another. Only committed results are acted on: a proposal that fails means "outcome unknown",
 * and the next plan, computed from the committed state, tells the truth.
 *
 * The due-heap (core/dueheap.h) is this leader's own: built from the FSM after the barrier,
 * invalidated (rebuilt by the next plan) on leadership loss or gain, when a proposal fails or
 * cannot be made, and when apply refuses any item of the FireBatch; the planner rebuilds it by
 * itself when the job table changed (fsmJobsGeneration).
 *
 * Lifecycle: IDLE (not leader) → BARRIER (leader, barrier in flight) → ACTIVE (planning) →
 * IDLE on leadership loss; CLOSED at shutdown.
 */
#ifndef RC_NODE_TICK_H
#define RC_NODE_TICK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/dueheap.h"
#include "core/sched.h"

#define TICK_MAX_SEEN 256

enum tick_state { TICK_IDLE = 0, TICK_BARRIER, TICK_ACTIVE, TICK_CLOSED };

struct node;

struct tick {
    struct node *node;      /* borrowed */
    enum tick_state state;  /* read-only */
    uv_timer_t timer;       /* private */
    uint64_t term;          /* the term of the leadership being served */
    bool in_flight;         /* a plan's entries are being proposed */
    struct sched_plan plan; /* private: the plan being proposed */
    struct dueheap heap;    /* private: due-heap of this leadership (owned) */
    size_t next_entry;
    int64_t lookahead_us;
    int64_t worker_timeout_us;
    int64_t active_since_us;      /* wall clock when this leadership became ACTIVE */
    int64_t active_since_mono_us; /* the same on the monotonic clock (worker silence) */
    uint64_t seen_id[TICK_MAX_SEEN];
    int64_t seen_us[TICK_MAX_SEEN];
    unsigned n_seen;
    struct sched_wait *waits; /* private: why runs wait, from the latest plan (owned) */
    size_t n_waits;
    uint64_t plans;        /* read-only: plans computed (metrics, tests) */
    uint64_t last_plan_ms; /* loop time of the last plan */
};

void tickInit(struct tick *t, struct node *n, uv_loop_t *loop, int64_t lookahead_us,
              int64_t worker_timeout_us);
/* Leadership or term may have changed. */
void tickOnChange(struct tick *t);
/* The state changed in a way a new plan should see (a write was applied). */
void tickPoke(struct tick *t);
/* A worker showed it is alive (hello, heartbeat, watch), now by the monotonic clock. */
void tickWorkerSeen(struct tick *t, uint64_t worker_id);
/* Why the run waits, from the latest plan of this leader, or NULL (not known here: waits are
 * the leader's view and are not replicated). */
const char *tickWaitReason(const struct tick *t, uint64_t run_id);
/* Stop for good; cb fires when the timer is closed. */
void tickClose(struct tick *t, uv_close_cb cb);

#endif /* RC_NODE_TICK_H */
