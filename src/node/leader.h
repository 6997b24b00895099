/*
 * The leader's trigger loop (DESIGN.md §4): on gaining leadership a Raft barrier, then plans on
 * one timer. A plan (core/sched.h) decides every instant due within the lookahead and places
 * the runs it fires on live workers, reassigns what its worker did not acknowledge in time,
 * retries and dead-letters failed attempts; it is proposed as at most two entries (the
 * FireBatch, and one Batch of the rest), one plan in flight at a time. Workers silent for
 * longer than the worker timeout are marked down (WorkerDown).
 *
 * The lookahead adapts (DESIGN.md §5): a claim must be committed, pushed, acknowledged,
 * accepted (a second commit) and pushed again before its instant, so the loop measures its
 * commits and keeps the lookahead at least LEADER_LOOKAHEAD_FACTOR times the slowest recent
 * one (never below the configured value, never above LEADER_LOOKAHEAD_MAX_US), in steps of
 * LEADER_LOOKAHEAD_STEP_US so that the due-heap (keyed by it) is not rebuilt for every sample.
 *
 * Time, timers and Raft come through io.h only (the simulator drives this file).
 * Lifecycle (STYLE.md §9): IDLE ─leader with a new term→ BARRIER ─barrier done→ ACTIVE ─lost
 * leadership→ IDLE; any ─leaderClose→ CLOSED.
 */
#ifndef RC_NODE_LEADER_H
#define RC_NODE_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dueheap.h"
#include "core/sched.h"
#include "dispatch.h"
#include "io.h"

#define LEADER_MAX_SLEEP_US      1000000 /* look again at least this often (worker silence) */
#define LEADER_STALL_US          (2 * LEADER_MAX_SLEEP_US) /* a longer gap: this process stalled */
#define LEADER_REFUSED_US        100000                    /* after Raft refused a proposal */
#define LEADER_POKE_GAP_US       250000 /* job-table changes: at most one plan per gap */
#define LEADER_LOOKAHEAD_FACTOR  6
#define LEADER_LOOKAHEAD_STEP_US 50000
#define LEADER_LOOKAHEAD_MAX_US  2000000

enum leader_state { LEADER_IDLE = 0, LEADER_BARRIER, LEADER_ACTIVE, LEADER_CLOSED };

struct leader_options {
    int64_t lookahead_us;          /* the configured (smallest) lookahead */
    int64_t worker_timeout_us;     /* a worker silent for longer is marked down */
    void (*activated)(void *data); /* may be NULL: the leadership became ACTIVE */
    void *activated_data;
};

struct leader {
    struct node_io *io;        /* borrowed */
    struct dispatch *dispatch; /* borrowed */
    struct leader_options o;
    enum leader_state state; /* read-only */
    struct io_timer timer;   /* private: the next plan */
    uint64_t term;           /* read-only: of the leadership served */
    bool in_flight;          /* private: a plan's entries are being proposed */
    unsigned pending;        /* private: its proposals not yet answered */
    bool again;              /* private: plan again as soon as the one in flight is done */
    bool fire_refused;       /* private: the FireBatch in flight failed or was refused */
    struct dueheap heap;     /* private (owned) */
    int64_t lookahead_us;    /* read-only: the lookahead in use */
    int64_t commit_max_us;   /* private: slowest recent commit, decaying */
    uint64_t batches_seen;   /* private: the dispatcher's group commits sampled */
    int64_t proposed_mono;   /* private */
    int64_t active_since_mono;
    int64_t last_plan_mono;
    struct sched_wait *waits; /* private: why runs wait, from the latest plan (owned) */
    size_t n_waits;
    uint64_t plans; /* read-only: plans computed */
    void (*close_cb)(struct leader *l);
};

/* Set up l; IDLE until leaderOnChange sees this node lead. Returns 0 or an RC_E* code. */
int leaderInit(struct leader *l, struct node_io *io, struct dispatch *d,
               const struct leader_options *o);
/* Raft's state, term or leader changed. */
void leaderOnChange(struct leader *l);
/* Something changed the job table or the runs (an applied write): plan again soon (at most
 * one plan per LEADER_POKE_GAP_US for these). */
void leaderPoke(struct leader *l);
/* Plan again at once (the dispatcher: an overdue assignment, a worker became live, capacity
 * freed). */
void leaderPokeNow(struct leader *l);
/* Jobs in the due-heap (metrics; 0 while not leading). */
size_t leaderDueJobs(const struct leader *l);
/* Why run_id waits, from the latest plan, or NULL (borrowed). */
const char *leaderWaitReason(const struct leader *l, uint64_t run_id);
void leaderClose(struct leader *l, void (*cb)(struct leader *l));

#endif /* RC_NODE_LEADER_H */
