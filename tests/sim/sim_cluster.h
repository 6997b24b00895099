/*
 * A simulated raftcron cluster (STYLE.md §11): libraft's fixture for Raft, and on every server
 * the code that ships — the leader loop (src/node/leader.c), the dispatcher (dispatch.c) and
 * the worker (worker.c) — reaching time, timers and Raft through the io seam (src/node/io.h)
 * backed here by one virtual clock, and running fake executors (src/exec/fake.c).
 *
 * What is simulated rather than shipped: the transport between a worker and the leader's
 * dispatcher (link.c and rpc_worker.c in the daemon). A message takes SIM_LATENCY_US; it is
 * lost when either end is down or they are cut apart; a server that dies resets the sessions
 * it held (as a dead process's sockets do), a partition does not (the worker notices the
 * silence after LINK_SILENCE_MS, as link.c does). A worker opens its session with the server
 * its own Raft instance calls leader, or with its own dispatcher when that is the active
 * leader, as link.c's target does.
 *
 * Servers are numbered 0 .. n-1, worker ids 1 .. n (server i runs worker i + 1). A killed
 * server loses its process: leader loop, dispatcher, worker and running executions are gone;
 * revived, it comes back with a new worker incarnation over the same Raft log and FSM.
 *
 * Every execution (a start of the fake executor) is recorded for the checks.
 */
#ifndef RC_TESTS_SIM_CLUSTER_H
#define RC_TESTS_SIM_CLUSTER_H

#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fsm.h"
#include "exec/exec.h"
#include "node/dispatch.h"
#include "node/io.h"
#include "node/leader.h"
#include "node/worker.h"

#define SIM_MAX_SERVERS    5
#define SIM_T0             INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SIM_SEC            INT64_C(1000000)
#define SIM_LATENCY_US     500
#define SIM_LOOKAHEAD      (100 * 1000)
#define SIM_WORKER_TIMEOUT (4 * SIM_SEC)

struct sim;
struct sim_msg;
struct sim_peer;

/* One start of an executor. */
struct sim_exec {
    uint64_t run_id;
    uint64_t fence;
    uint32_t attempt;
    uint64_t worker;      /* worker id (server + 1) */
    int64_t scheduled_us; /* the run's instant */
    int64_t start_at_us;  /* when it was to start (the assignment's start_at) */
    int64_t started_us;   /* the worker's wall clock when it started */
    int64_t started_virtual;
    bool finished; /* the executor reported the end */
    bool killed;   /* its server died under it */
};

/* The worker's side of its link (the simulated transport). */
struct sim_link {
    struct worker_link base;    /* first */
    int state;                  /* SIM_LINK_* */
    unsigned target;            /* the server its session is with */
    uint64_t session;           /* increments with every open */
    int64_t heard;              /* virtual time a message of the session last arrived */
    int64_t retry_at;           /* virtual time to try again when idle */
    struct dispatch_peer local; /* LOCAL: the dispatcher's view of it */
};

/* One process of a server: what dies with it. A dead process's structures are kept until the
 * end of the simulation, because Raft (which outlives it in the fixture) may still answer its
 * proposals. */
struct sim_proc {
    struct sim_proc *older; /* the server's earlier processes */
    struct sim_server *sv;
    unsigned closing; /* closes still under way */
    struct dispatch d;
    struct leader l;
    struct worker w;
    struct exec_backend fake;
    struct exec_backend rec; /* records, then starts on fake */
    struct sim_link link;
    struct sim_peer *peers; /* remote sessions its dispatcher holds */
    int last_state;
    uint64_t last_term;
    raft_id last_leader;
};

struct sim_server {
    struct sim *sim;
    unsigned i;
    bool up;               /* the process runs */
    struct sim_proc *proc; /* the process, or NULL while down */
    unsigned restarts;
    struct rc_fsm *core;
    struct raft_fsm fsm;
    struct node_io io;
    int64_t clock_offset; /* its wall clock minus virtual time */
    bool execute;         /* runs a worker */
};

struct sim {
    struct raft_fixture f;
    unsigned n;
    struct sim_server s[SIM_MAX_SERVERS];
    int64_t now;              /* virtual microseconds since SIM_T0 */
    struct io_timer **timers; /* armed timers */
    size_t n_timers, cap_timers;
    struct io_timer **closing; /* timers whose close callback is due */
    size_t n_closing, cap_closing;
    struct sim_msg *msgs; /* in flight, in no order */
    uint64_t msg_seq;
    bool cut[SIM_MAX_SERVERS][SIM_MAX_SERVERS];
    struct sim_exec *execs;
    size_t n_execs, cap_execs;
    uint64_t dropped_msgs;
    int64_t link_latency_us[SIM_MAX_SERVERS]; /* one way, between server i's worker and its
                                                 leader (default SIM_LATENCY_US) */
    int64_t lookahead_us;
    int64_t ack_timeout_us;
};

/* A cluster of n servers (3 or 5), bootstrapped, with a leader elected and every worker's
 * session open. Time starts at SIM_T0. */
struct sim *simStart(unsigned n);
void simClose(struct sim *s);

/* Virtual time (the simulation's clock, what mono() reads) and one server's wall clock. */
int64_t simNow(const struct sim *s);
int64_t simWall(const struct sim *s, unsigned i);

/* Run until virtual time reaches until. hook (may be NULL) runs before every Raft step. */
typedef void (*sim_hook)(struct sim *s, void *arg);
void simRunUntil(struct sim *s, int64_t until, sim_hook hook, void *arg);
/* Run until fn(s, arg) or the deadline (virtual time); returns fn's last answer. */
bool simRunUntilTrue(struct sim *s, int64_t deadline, bool (*fn)(struct sim *, void *), void *arg);

/* The server whose leader loop is active (ACTIVE), or n when none. */
unsigned simLeader(struct sim *s);
/* Wait (virtual time, at most 30 s) for an active leader; fails the test otherwise. */
unsigned simWaitLeader(struct sim *s);
/* Run until every live server has applied the leader's last index and nothing is in flight
 * on the workers (at most 60 s of virtual time). */
void simSettle(struct sim *s);

/* Commit an encoded command through the leader (waits for it); returns what apply said. */
struct rc_fsm_result simCommit(struct sim *s, void *buf, size_t len);

/* Faults. */
void simKill(struct sim *s, unsigned i);
void simRevive(struct sim *s, unsigned i);
void simCut(struct sim *s, unsigned i);  /* partition server i from every other */
void simHeal(struct sim *s, unsigned i); /* undo simCut */
void simSetClock(struct sim *s, unsigned i, int64_t offset_us);

/* Every later run (of job; NULL: any) on server i's fake executor does *sc. */
void simScript(struct sim *s, unsigned i, const char *job, const struct fake_script *sc);
void simScriptAll(struct sim *s, const char *job, const struct fake_script *sc);

/* Server i's process (leader loop, dispatcher, worker), or NULL while it is down. */
struct sim_proc *simProc(struct sim *s, unsigned i);

/* The recorded execution of (run, fence), or NULL. */
const struct sim_exec *simFindExec(const struct sim *s, uint64_t run_id, uint64_t fence);

#endif /* RC_TESTS_SIM_CLUSTER_H */
