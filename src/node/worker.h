/*
 * A worker (DESIGN.md §5): executes the runs assigned to it. Every member node has one (unless
 * --no-execute), and `raftcrond --worker` runs one alone as an agent that is not a Raft member.
 * Where the assignments come from is the worker's source: a member reads its own replica of
 * the ledger (a committed RunAssign naming it is the dispatch); an agent holds the leader's
 * latest answer to Worker.Watch (watch.c), which the leader pushes as soon as an assignment or
 * a cancel is applied. Either way the worker starts a run at its start_at with the shell
 * executor, and reports RunStarted / RunFinished to the leader (Run.Report), retrying until the
 * report is committed or refused as stale. It says hello (WorkerUp, with its tags and capacity)
 * and heartbeats. A run recorded RUNNING on this worker that this process does not know (it
 * restarted) is reported lost, and the job's retry policy decides.
 *
 * Local run lifecycle: WAITING (timer to start_at) → RUNNING (executor) → DONE (finished report
 * queued); a run reassigned or cancelled meanwhile is dropped (cancelled if running).
 */
#ifndef RC_NODE_WORKER_H
#define RC_NODE_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api.pb-c.h"
#include "core/confparse.h"
#include "exec/exec.h"

struct worker;
struct worker_run;
struct worker_report;

/* Where the worker learns its assignments. Returned pointers are borrowed and valid until the
 * loop runs again. */
struct worker_source {
    /* The runs assigned to worker_id (ASSIGNED or RUNNING): fills at most max, returns the
     * number there are. */
    size_t (*assigned)(void *ctx, uint64_t worker_id, const Raftcron__Run **out, size_t max);
    const Raftcron__Run *(*run)(void *ctx, uint64_t run_id);
    const Raftcron__JobSpec *(*spec)(void *ctx, const Raftcron__Run *run);
    /* Registered alive with the cluster (else the worker says hello). NULL: the worker tracks
     * it from the answers to its hello and heartbeats. */
    bool (*registered)(void *ctx, const struct worker *w);
    /* The endpoints to send to, best first; false when no leader is known. */
    bool (*endpoints)(void *ctx, char *buf, size_t len);
    void *ctx;
};

struct worker_identity {
    uint64_t id;
    const char *address;            /* what the worker table shows */
    const struct rc_conf_tag *tags; /* matched against jobs' target tags */
    unsigned n_tags;
    unsigned capacity;      /* runs at once */
    const char *auth_token; /* or NULL */
    uint64_t incarnation;   /* random, non-zero, new for every process (workerIncarnation) */
};

struct worker {
    struct worker_identity me; /* strings borrowed */
    struct worker_source src;
    uv_loop_t *loop;
    bool enabled;
    bool closing;
    struct exec_backend exec;    /* shell */
    uv_timer_t timer;            /* scan of the replica + heartbeats */
    struct worker_run *runs;     /* local runs */
    struct worker_report *queue; /* reports to deliver, in order */
    struct worker_report *tail;
    bool sending; /* a report or hello/heartbeat is in the thread pool */
    uv_work_t work;
    int64_t last_heartbeat_us;
    int64_t retry_at_us; /* after a failed delivery */
    bool hello_ok;       /* source without registered(): hello answered, not since lost */
    uint64_t started;    /* read-only: runs started by this process */
    void (*close_cb)(struct worker *w);
    unsigned pending_close;
};

/* A fresh random incarnation (never 0): runs assigned to an earlier process under the same
 * worker id are never executed by this one, even while a replica replays them. */
uint64_t workerIncarnation(void);
int workerStart(struct worker *w, uv_loop_t *loop, const struct worker_identity *me,
                const struct worker_source *src, bool enabled);
/* Registered alive with the cluster, as far as the worker knows. */
bool workerRegistered(struct worker *w);
/* The source changed: look at it now rather than at the next scan. */
void workerScanNow(struct worker *w);
void workerClose(struct worker *w, void (*cb)(struct worker *w));

#endif /* RC_NODE_WORKER_H */
