#include "watch.h"

#include <stdint.h>
#include <stdlib.h>

#include "api.pb-c.h"
#include "core/fsm.h"
#include "core/runs.h"
#include "node.h"
#include "rpc.h"
#include "tick.h"

#define WATCH_MAX_WAIT_MS 5000
#define WATCH_MAX_RUNS    1024

struct parked_watch {
    struct parked_watch *next;
    struct rpc_call *call; /* owns the request (call->msg is the WorkerWatch) */
    int64_t deadline_ms;   /* loop time */
};

static uint32_t assignedMask(void)
{
    return 1u << RC_RUN_ASSIGNED | 1u << RC_RUN_RUNNING;
}

/* The worker's runs now, or SIZE_MAX when there are more than an answer carries. */
static size_t assignedRuns(const struct rc_fsm *f, uint64_t worker_id, const Raftcron__Run **runs)
{
    return fsmRunsSelect(f, assignedMask(), worker_id, runs, WATCH_MAX_RUNS);
}

static bool holds(const Raftcron__WorkerWatch *req, const Raftcron__Run *run)
{
    for (size_t i = 0; i < req->n_held; i++) {
        if (req->held[i]->run_id == run->id && req->held[i]->fence == run->fence) {
            return true;
        }
    }
    return false;
}

/* Whether the answer would differ from what the agent holds. */
static bool changed(const struct rc_fsm *f, const Raftcron__WorkerWatch *req)
{
    static const Raftcron__Run *runs[WATCH_MAX_RUNS];
    size_t n = assignedRuns(f, req->worker_id, runs);
    if (n > WATCH_MAX_RUNS) {
        n = WATCH_MAX_RUNS;
    }
    if (n != req->n_held) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!holds(req, runs[i])) {
            return true;
        }
    }
    return false;
}

/* The answer: every run assigned to the worker with its job's spec (borrowed from the FSM
 * for as long as the reply is being packed). */
static void answer(struct rpc_call *call)
{
    const Raftcron__WorkerWatch *req = (const Raftcron__WorkerWatch *)call->msg;
    const struct rc_fsm *f = call->node->cluster.core;
    static const Raftcron__Run *runs[WATCH_MAX_RUNS];
    static Raftcron__AssignedRun items[WATCH_MAX_RUNS];
    static Raftcron__AssignedRun *ptrs[WATCH_MAX_RUNS];
    size_t n = assignedRuns(f, req->worker_id, runs);
    if (n > WATCH_MAX_RUNS) {
        n = WATCH_MAX_RUNS;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const Raftcron__Job *job = fsmJobOfRun(f, runs[i]);
        if (job == NULL) {
            continue; /* the job is gone: the run ends with it, nothing to execute */
        }
        raftcron__assigned_run__init(&items[k]);
        items[k].run = (Raftcron__Run *)runs[i];
        items[k].spec = job->spec;
        ptrs[k] = &items[k];
        k++;
    }
    Raftcron__WorkerAssignments resp = RAFTCRON__WORKER_ASSIGNMENTS__INIT;
    resp.n_runs = k;
    resp.runs = ptrs;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
}

/* Leader, and the worker registered alive: otherwise the call is answered with why. */
static bool admissible(struct rpc_call *call)
{
    struct node *n = call->node;
    const Raftcron__WorkerWatch *req = (const Raftcron__WorkerWatch *)call->msg;
    if (!clusterIsLeader(&n->cluster) || n->state != NODE_RUNNING) {
        rpcReplyNotLeader(call);
        return false;
    }
    const Raftcron__Worker *w = fsmWorkerGet(n->cluster.core, req->worker_id);
    if (w == NULL || !w->alive) {
        rpcReplyf(call, RC_STATUS_NOT_FOUND, "worker %llu is not registered as alive",
                  (unsigned long long)req->worker_id);
        return false;
    }
    return true;
}

static void onTimer(uv_timer_t *t);

static void arm(struct watches *ws)
{
    if (ws->parked == NULL || ws->closing) {
        uv_timer_stop(&ws->timer);
        return;
    }
    int64_t first = ws->parked->deadline_ms;
    for (struct parked_watch *p = ws->parked->next; p != NULL; p = p->next) {
        first = p->deadline_ms < first ? p->deadline_ms : first;
    }
    int64_t now = (int64_t)uv_now(ws->node->loop);
    uv_timer_start(&ws->timer, onTimer, first > now ? (uint64_t)(first - now) : 0, 0);
}

/* Answer (and unpark) every watch for which force is set, or whose wait ended, or whose
 * answer changed, or which is no longer admissible. */
static void sweep(struct watches *ws, bool force)
{
    int64_t now = (int64_t)uv_now(ws->node->loop);
    struct parked_watch **pp = &ws->parked;
    while (*pp != NULL) {
        struct parked_watch *p = *pp;
        struct rpc_call *call = p->call;
        const Raftcron__WorkerWatch *req = (const Raftcron__WorkerWatch *)call->msg;
        struct node *n = ws->node;
        bool leader = clusterIsLeader(&n->cluster) && n->state == NODE_RUNNING && !force;
        bool done = !leader || now >= p->deadline_ms || changed(n->cluster.core, req);
        if (!done) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        ws->count--;
        free(p);
        if (!leader) {
            rpcReplyNotLeader(call);
        } else if (admissible(call)) {
            answer(call);
        }
    }
    arm(ws);
}

static void onTimer(uv_timer_t *t)
{
    sweep(t->data, false);
}

void watchesInit(struct watches *ws, struct node *n, uv_loop_t *loop)
{
    ws->node = n;
    ws->parked = NULL;
    ws->count = 0;
    ws->closing = false;
    uv_timer_init(loop, &ws->timer);
    ws->timer.data = ws;
}

void watchesPoke(struct watches *ws)
{
    if (ws->parked != NULL && !ws->closing) {
        sweep(ws, false);
    }
}

void watchesClose(struct watches *ws, uv_close_cb cb)
{
    sweep(ws, true);
    ws->closing = true;
    uv_timer_stop(&ws->timer);
    uv_close((uv_handle_t *)&ws->timer, cb);
}

void rpcWorkerWatch(struct rpc_call *call)
{
    Raftcron__WorkerWatch *req =
        (Raftcron__WorkerWatch *)rpcUnpack(call, &raftcron__worker_watch__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->worker_id == 0) {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Worker.Watch: worker_id is required", NULL);
        return;
    }
    if (!admissible(call)) {
        return;
    }
    struct node *n = call->node;
    struct watches *ws = &n->watches;
    tickWorkerSeen(&n->tick, req->worker_id);
    if (req->wait_ms == 0 || ws->closing || changed(n->cluster.core, req)) {
        answer(call);
        return;
    }
    struct parked_watch *p = calloc(1, sizeof *p);
    if (p == NULL) {
        answer(call);
        return;
    }
    uint32_t wait = req->wait_ms < WATCH_MAX_WAIT_MS ? req->wait_ms : WATCH_MAX_WAIT_MS;
    p->call = call;
    p->deadline_ms = (int64_t)uv_now(n->loop) + wait;
    p->next = ws->parked;
    ws->parked = p;
    ws->count++;
    arm(ws);
}
