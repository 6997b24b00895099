/*
 * A worker (DESIGN.md §5): executes the runs the leader assigns to it. Every member node has
 * one (unless --no-execute), and `raftcrond --worker` runs one alone as an agent that is not a
 * Raft member. Both talk to the leader through a link (link.h): one session, opened with this
 * worker's identity and the runs it holds; the leader pushes assignments, acceptances and
 * cancels on it, and the worker sends reports back, many in flight.
 *
 * Protocol (docs/executors.md "From assignment to process"):
 *  1. An assignment arrives (run, fence, start_at, the job's spec): the worker keeps it and
 *     reports "received" at once.
 *  2. The leader commits the worker's acceptance (RunAccept) and pushes "accepted": only now
 *     may the run start, so that an assignment the leader gave to another worker after an ack
 *     timeout (a new fence) is never started here. The run waits for start_at on one
 *     wall-clock timer (a heap of start times, the timerfd of rtimer.h in the daemon).
 *  3. At start_at the run starts on the executor of its kind (shell, noop, ...); runs of
 *     process executors (shell) wait for one of `capacity` slots, the others do not.
 *  4. "started" and "finished" reports go to the leader in batches; a quick run's started
 *     report still waiting to be sent is folded into its finished one. A report is kept until
 *     the leader answers it (committed, or refused as stale); a broken session sends it again
 *     on the next one.
 *  A cancel (or a sync push that no longer lists a run) drops a run not yet started and kills
 *  one running.
 *
 * Lease (no attempt twice, DESIGN.md §1.3): an accepted run becomes LOST, and is retried
 * elsewhere, only after a leader heard nothing from this worker for the worker timeout. So the
 * worker starts a run only while it holds a lease: WORKER_LEASE_US from the sending of any
 * message a leader answered (a report batch, a heartbeat, or the hello its sync push answers). A
 * partitioned or paused worker stops starting runs before any leader can have given them away; the
 * leader's worker timeout must exceed the lease plus an election timeout (confparse.c checks it). A
 * run due without a lease waits, and starts late if the lease comes back (the leader then still
 * holds it as this worker's: a retry would have been preceded by a sync push that dropped it).
 *
 * Local run lifecycle (STYLE.md §9): RECEIVED → ACCEPTED (in the start heap) → READY (start_at
 * reached, waiting for a slot) → RUNNING → DONE (finished report until answered); a cancel
 * moves RECEIVED/ACCEPTED/READY to gone, RUNNING to DONE once the executor says so.
 *
 * Time and timers come through io.h; executors through exec.h (the simulator gives fakes).
 */
#ifndef RC_NODE_WORKER_H
#define RC_NODE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "core/confparse.h"
#include "core/u64map.h"
#include "exec/exec.h"
#include "io.h"

#define WORKER_HEARTBEAT_US  200000 /* an empty report when nothing else was sent */
#define WORKER_MAX_INFLIGHT  8      /* report batches unanswered at once */
#define WORKER_BATCH_REPORTS 2048   /* reports per batch */
/* How long an answered round trip lets the worker start accepted runs (see "Lease" below). */
#define WORKER_LEASE_US    RC_WORKER_LEASE_US
#define WORKER_SENT_RING   32         /* send times remembered for the lease */
#define WORKER_BATCH_BYTES (1u << 20) /* and bytes: well within the RPC frame limit */

struct worker;
struct worker_run;
struct worker_report;
struct worker_link;

/* How the worker reaches the leader. */
struct worker_link_ops {
    /* Send b (borrowed for the call) on the session; the link later calls workerReported(w,
     * tag, status) exactly once. Returns 0, or an RC_E* code when there is no session (then no
     * workerReported). */
    int (*report)(struct worker_link *l, const Raftcron__ReportBatch *b, uint64_t tag);
};

struct worker_link {
    const struct worker_link_ops *ops;
};

struct worker_identity {
    uint64_t id;
    const char *address;            /* what the worker table shows */
    const struct rc_conf_tag *tags; /* matched against jobs' target tags */
    unsigned n_tags;
    unsigned capacity;    /* processes at once */
    uint64_t incarnation; /* random, non-zero, new for every process (workerIncarnation) */
};

/* The executor of each kind (borrowed; NULL: runs of that kind fail to start). */
struct worker_execs {
    struct exec_backend *shell;
    struct exec_backend *noop;
    struct exec_backend *http;
    struct exec_backend *sql;
};

/* The session's hello (workerHelloBuild), owned by the caller until workerHelloFree. */
struct worker_hello {
    Raftcron__SessionOpen open;
    Raftcron__Worker worker;
    Raftcron__Worker__TagsEntry tags[RC_CONF_TAGS_MAX];
    Raftcron__Worker__TagsEntry *tagp[RC_CONF_TAGS_MAX];
    Raftcron__HeldRun *held;
    Raftcron__HeldRun **heldp;
};

struct worker_stats {
    uint64_t received;   /* assignments received */
    uint64_t started;    /* runs started by this process */
    uint64_t finished;   /* runs whose executor ended */
    uint64_t cancelled;  /* runs dropped or killed on the leader's word */
    uint64_t reports;    /* reports answered */
    uint64_t batches;    /* report batches sent */
    uint64_t held;       /* runs due that waited for a lease */
    int64_t late_max_us; /* the latest start relative to start_at */
};

struct worker {
    struct worker_identity me; /* strings borrowed */
    struct node_io *io;        /* borrowed */
    struct worker_execs execs; /* borrowed */
    struct worker_link *link;  /* borrowed; NULL until workerSetLink */
    bool enabled;              /* false: executes nothing (--no-execute) */
    bool closing;
    bool session_up;          /* read-only: a sync push arrived on the current session */
    struct u64map runs;       /* private: run id → struct worker_run */
    struct worker_run **heap; /* private: accepted runs by start_at */
    size_t n_heap, cap_heap;  /* private */
    struct worker_run *ready; /* private: FIFO of runs waiting for a process slot */
    struct worker_run *ready_tail;
    unsigned procs;                /* read-only: processes running */
    struct io_timer start_timer;   /* private: wall clock, the heap's top */
    struct io_timer flush_timer;   /* private: send pending reports */
    struct io_timer beat_timer;    /* private: heartbeats */
    struct worker_report *pending; /* private: reports to send, in order */
    struct worker_report *pending_tail;
    struct worker_report *sent; /* private: reports in batches unanswered */
    unsigned inflight;          /* read-only: batches unanswered */
    uint64_t next_tag;
    uint64_t next_seq; /* private: reports made */
    int64_t last_sent_mono;
    int64_t lease_until;                 /* read-only: mono; accepted runs start before */
    int64_t hello_mono;                  /* private: when the last hello was built */
    bool lease_lapsed;                   /* private: runs waited for a lease (logged once) */
    uint64_t sent_tag[WORKER_SENT_RING]; /* private: recent batches and heartbeats, */
    int64_t sent_mono[WORKER_SENT_RING]; /* private: when each was sent */
    unsigned sent_next;                  /* private */
    struct worker_stats stats;           /* read-only */
    void (*close_cb)(struct worker *w);
    unsigned pending_close;
};

/* A fresh random incarnation (never 0): runs assigned to an earlier process under the same
 * worker id are never executed by this one. */
uint64_t workerIncarnation(void);

/* Set up w. enabled false: it still says hello and reports nothing. Returns 0 or an RC_E*
 * code (nothing to close then). */
int workerStart(struct worker *w, struct node_io *io, const struct worker_identity *me,
                const struct worker_execs *execs, bool enabled);
/* The link to use from now on (NULL: none). A change ends the current session. */
void workerSetLink(struct worker *w, struct worker_link *link);

/* ---- Called by the link ---- */

/* The hello for a new session: this worker's identity and the runs it holds. */
int workerHelloBuild(struct worker *w, struct worker_hello *h);
void workerHelloFree(struct worker_hello *h);
/* A push from the leader (borrowed for the call). The first of a session is a sync push. */
void workerOnPush(struct worker *w, const Raftcron__SessionPush *p);
/* The session ended (the link reconnects on its own): unanswered reports go again later. */
void workerOnSessionEnd(struct worker *w);
/* The answer to the batch sent with tag: 0 done; RC_EINVAL, RC_ENOTFOUND or RC_ESTALE refused
 * for good (dropped); any other code: its reports are sent again (outcome unknown). */
void workerReported(struct worker *w, uint64_t tag, int status);

/* Runs held (not yet forgotten), for tests and logs. */
size_t workerRunCount(const struct worker *w);

void workerClose(struct worker *w, void (*cb)(struct worker *w));

#endif /* RC_NODE_WORKER_H */
