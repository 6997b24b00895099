/*
 * The node's own worker (DESIGN.md §5; every node executes unless --no-execute). Member nodes
 * replicate the ledger, so a committed RunAssign naming this node is the dispatch: the worker
 * sees it in its FSM replica, starts the run at its start_at with the shell executor, and
 * reports RunStarted / RunFinished to the leader (Run.Report), retrying until the report is
 * committed or refused as stale. It says hello (WorkerUp) and heartbeats to the leader.
 * A run recorded RUNNING on this worker that this process does not know (it restarted) is
 * reported lost, and the job's retry policy decides.
 *
 * Local run lifecycle: WAITING (timer to start_at) → RUNNING (executor) → DONE (finished report
 * queued); a run reassigned or cancelled meanwhile is dropped (cancelled if running).
 */
#ifndef RC_NODE_WORKER_H
#define RC_NODE_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "exec/exec.h"

struct node;
struct worker_run;
struct worker_report;

struct worker {
    struct node *node;            /* borrowed */
    uv_loop_t *loop;
    bool enabled;
    bool closing;
    struct exec_backend exec;     /* shell */
    uv_timer_t timer;             /* scan of the replica + heartbeats */
    struct worker_run *runs;      /* local runs */
    struct worker_report *queue;  /* reports to deliver, in order */
    struct worker_report *tail;
    bool sending;                 /* a report or hello/heartbeat is in the thread pool */
    uv_work_t work;
    int64_t last_heartbeat_us;
    int64_t retry_at_us;          /* after a failed delivery */
    unsigned capacity;
    uint64_t started;             /* read-only: runs started by this process */
    void (*close_cb)(struct worker *w);
    unsigned pending_close;
};

int workerStart(struct worker *w, struct node *n, uv_loop_t *loop, bool enabled,
                unsigned capacity);
void workerClose(struct worker *w, void (*cb)(struct worker *w));

#endif /* RC_NODE_WORKER_H */
