/*
 * The leader's side of its workers (DESIGN.md §5, docs/architecture.md "How a fire becomes a
 * run"): the sessions of the workers that reach it in its term, the push of every committed
 * assignment, acceptance and cancel to the worker concerned the moment it applies, the
 * acknowledgement deadlines, and the group commit of what workers report.
 *
 * A session is one worker process (id, incarnation) talking to this leader through a peer: a
 * TCP connection (rpc_worker.c) or, for the leader's own worker, a direct link (link.c). It
 * opens with the worker's identity and the runs it holds; the dispatcher answers with a sync
 * push (every run assigned to that process) and then pushes changes. The worker acknowledges
 * each assignment with a "received" report; the dispatcher commits RunAccept for it (only
 * then may the worker start the run), and an assignment not acknowledged within the ack
 * timeout is handed to the leader loop as overdue, to be reassigned elsewhere under a new
 * fence (not an attempt: the worker never accepted it, so never started it).
 *
 * Group commit: every report (received, started, finished, lost) becomes commands appended to
 * the next Batch entry; one Batch is in flight at a time, and whatever arrives meanwhile goes
 * into the next one, so one commit serves every report that arrived during the previous one.
 * A report call is answered once the batch holding it is applied (or fails: the worker sends
 * it again, to whichever leader it finds; apply refuses what is stale, so a repeat is harmless).
 *
 * Liveness (for placement): a worker is live when its session has been heard from within the
 * live window and the FSM has it alive under the session's incarnation.
 *
 * Everything runs on the node's loop and reaches time, timers and Raft through io.h only.
 * Lifecycle (STYLE.md §9): IDLE ─dispatchActivate→ ACTIVE ─dispatchDeactivate→ IDLE;
 * IDLE|ACTIVE ─dispatchClose→ CLOSED.
 */
#ifndef RC_NODE_DISPATCH_H
#define RC_NODE_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/fsm.h"
#include "core/u64map.h"
#include "io.h"

#define DISPATCH_ACK_TIMEOUT_US  1000000 /* default */
#define DISPATCH_LIVE_WINDOW_US  1000000 /* default */
#define DISPATCH_MAX_BATCH       8192    /* commands per group-commit entry */
#define DISPATCH_CLOCK_WINDOW_US (60 * INT64_C(1000000))

struct dispatch;
struct dispatch_peer;
struct dispatch_session;
struct ack_entry;

/* How the dispatcher reaches a session's worker. Both are called from the loop, never from
 * inside a dispatcher call made by that peer. */
struct dispatch_peer_ops {
    /* Deliver msg (borrowed for the call) to the worker. */
    void (*push)(struct dispatch_peer *p, const Raftcron__SessionPush *msg);
    /* The session is over (status: an RC_STATUS_* code, msg why, borrowed): the dispatcher has
     * forgotten the peer and will not call it again. */
    void (*end)(struct dispatch_peer *p, int status, const char *msg);
};

struct dispatch_peer {
    const struct dispatch_peer_ops *ops; /* set by the transport */
    struct dispatch_session *session;    /* private: set by dispatchOpen */
};

/* A report call is done: status 0 committed (or nothing to commit); an RC_E* code: send it
 * again later (outcome unknown). */
typedef void (*dispatch_report_cb)(void *data, int status);
/* The leader loop should plan now: an assignment is overdue, a worker became live, a report
 * batch freed capacity. */
typedef void (*dispatch_poke_cb)(void *data);

struct dispatch_options {
    int64_t ack_timeout_us; /* 0: DISPATCH_ACK_TIMEOUT_US */
    int64_t live_window_us; /* 0: DISPATCH_LIVE_WINDOW_US */
    size_t max_batch;       /* 0: DISPATCH_MAX_BATCH */
    dispatch_poke_cb poke;  /* may be NULL */
    void *poke_data;
};

enum dispatch_state { DISPATCH_IDLE = 0, DISPATCH_ACTIVE, DISPATCH_CLOSED };

struct dispatch_waiter {
    dispatch_report_cb cb;
    void *data;
};

/* Counters, read-only, for metrics and tests. */
struct dispatch_stats {
    uint64_t pushes;        /* push messages sent */
    uint64_t assigns;       /* assignments pushed */
    uint64_t batches;       /* group-commit entries proposed */
    uint64_t batch_cmds;    /* commands in them */
    uint64_t overdue;       /* assignments found unacknowledged in time */
    uint64_t foreign;       /* report items about runs not assigned to their sender */
    int64_t commit_us_last; /* propose → apply of the last batch */
};

struct dispatch {
    struct node_io *io;                 /* borrowed */
    struct dispatch_options o;          /* read-only */
    enum dispatch_state state;          /* read-only */
    uint64_t term;                      /* read-only: of the leadership served */
    int64_t active_since_mono;          /* read-only */
    struct dispatch_session **sessions; /* private */
    size_t n_sessions;                  /* read-only */
    size_t cap_sessions;
    struct u64map holders;    /* private: run id → struct holder (ASSIGNED/RUNNING runs) */
    struct u64map heard;      /* private: worker id → last heard (mono, boxed), this term: kept
                                 after its session ends, so that silence counts from then */
    struct u64map dirty;      /* private: run ids changed by apply, to look at in the flush */
    struct io_timer flush;    /* private: zero-delay, after apply and reports */
    struct io_timer acks;     /* private: the next ack deadline */
    struct ack_entry *acks_q; /* private: a ring of ack deadlines, earliest first */
    size_t head_acks, n_acks, cap_acks;
    bool resync;                     /* private: a restore replaced the state */
    struct command_batch next;       /* private: commands of the next group-commit entry */
    struct dispatch_waiter *waiters; /* private: report calls in `next` */
    size_t n_waiters, cap_waiters;
    struct dispatch_waiter *inflight; /* private: report calls in the entry in flight */
    size_t n_inflight;
    bool in_flight;
    int64_t proposed_mono;
    uint64_t *live; /* private: dispatchLive's answer */
    size_t cap_live;
    uint64_t *overdue; /* private: dispatchOverdue's answer */
    size_t cap_overdue;
    struct rc_fsm_observer obs; /* private */
    struct dispatch_stats stats;
    void (*close_cb)(struct dispatch *d);
    unsigned pending_close;
    char errmsg[256]; /* read-only: why the last dispatchOpen refused */
};

/* Set up d on io (a member's: with Raft). Installs d as the FSM's observer. Returns 0 or an
 * RC_E* code (then nothing is left to close). */
int dispatchInit(struct dispatch *d, struct node_io *io, const struct dispatch_options *o);

/* This node's leadership of term is active (its barrier completed): take the assignments of
 * the FSM as they are, each unacknowledged one with a fresh ack deadline. */
void dispatchActivate(struct dispatch *d, uint64_t term);
/* Leadership lost or ending: end every session (UNAVAILABLE), fail the report calls waiting
 * (RC_ENOTLEADER), forget the assignments. */
void dispatchDeactivate(struct dispatch *d);

/*
 * A worker opens a session through peer (which must stay valid until its end() or
 * dispatchPeerGone). Returns 0 (the sync push follows from the loop), or an RC_STATUS_* code
 * with d->errmsg saying why (not the leader, a bad identity, a member's id from another
 * address): the peer is then not part of the dispatcher and end() is not called.
 */
int dispatchOpen(struct dispatch *d, struct dispatch_peer *peer, const Raftcron__SessionOpen *open);

/* The transport lost the peer (connection closed): forget it without calling it. */
void dispatchPeerGone(struct dispatch *d, struct dispatch_peer *peer);

/*
 * Reports (and a heartbeat, when b has none) from peer's worker. Returns 1 when done at once
 * (nothing to commit: cb will not be called), 0 when cb will be called once the batch holding
 * them is applied, or a negative RC_E* code (-RC_ENOTLEADER: no session or not active; cb
 * will not be called). Items about runs not assigned to the sender are dropped.
 */
int dispatchReport(struct dispatch *d, struct dispatch_peer *peer, const Raftcron__ReportBatch *b,
                   dispatch_report_cb cb, void *data);

/* The live workers (ids ascending), borrowed until the next call. */
const uint64_t *dispatchLive(struct dispatch *d, size_t *n);
/* The assignments past their ack deadline (run ids ascending), borrowed until the next call. */
const uint64_t *dispatchOverdue(struct dispatch *d, size_t *n);
/* When worker_id was last heard from (mono clock), or INT64_MIN. */
int64_t dispatchLastHeard(const struct dispatch *d, uint64_t worker_id);

/* Close: deactivate, remove the observer, release the timers; cb once done. */
void dispatchClose(struct dispatch *d, void (*cb)(struct dispatch *d));

#endif /* RC_NODE_DISPATCH_H */
