/*
 * Worker.Hello, Worker.Heartbeat and Run.Report on the leader (DESIGN.md §5): what workers tell
 * the leader becomes committed entries (WorkerUp, RunStarted, RunFinished, RunLost), each
 * checked by apply against the run's current state and fence, so a late or repeated report can
 * never change a newer attempt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/runs.h"
#include "node.h"
#include "rpc.h"
#include "tick.h"

static void entryApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    if (res->code != 0) {
        rpcReply(call, rpcStatusOf(res->code), res->message, NULL);
        return;
    }
    Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
    rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
}

static bool sameWorker(const Raftcron__Worker *a, const Raftcron__Worker *b)
{
    return a->alive && strcmp(a->address, b->address) == 0 && a->capacity == b->capacity &&
           a->incarnation == b->incarnation &&
           a->n_tags == b->n_tags; /* tags are compared by count only: a change re-registers */
}

void rpcWorkerHello(struct rpc_call *call)
{
    Raftcron__WorkerHello *req =
        (Raftcron__WorkerHello *)rpcUnpack(call, &raftcron__worker_hello__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->worker == NULL || req->worker->id == 0) {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Worker.Hello: worker id is required", NULL);
        return;
    }
    struct node *n = call->node;
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    const char *member = fsmMemberRpcAddr(n->cluster.core, req->worker->id);
    if (member != NULL && strcmp(member, req->worker->address) != 0) {
        /* Two workers under one id would take each other's runs: refuse the newcomer. */
        rpcReplyf(call, RC_STATUS_ALREADY_EXISTS,
                  "Worker.Hello: id %llu belongs to member node %s; a worker agent needs an id "
                  "of its own",
                  (unsigned long long)req->worker->id, member);
        return;
    }
    int64_t now = rpcNow();
    tickWorkerSeen(&n->tick, req->worker->id);
    const Raftcron__Worker *have = fsmWorkerGet(n->cluster.core, req->worker->id);
    if (have != NULL && sameWorker(have, req->worker)) {
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
        return;
    }
    req->worker->alive = true;
    req->worker->since_us = now;
    void *buf;
    size_t len;
    int rv = commandEncodeWorkerUp(req->worker, now, &buf, &len);
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "Worker.Hello: %s", rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, entryApplied);
}

void rpcWorkerHeartbeat(struct rpc_call *call)
{
    Raftcron__WorkerHeartbeat *req =
        (Raftcron__WorkerHeartbeat *)rpcUnpack(call, &raftcron__worker_heartbeat__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    const Raftcron__Worker *w = fsmWorkerGet(n->cluster.core, req->worker_id);
    if (w == NULL || !w->alive) {
        /* Marked down (or never seen): it must say hello again to be given runs. */
        rpcReplyf(call, RC_STATUS_NOT_FOUND, "worker %llu is not registered as alive",
                  (unsigned long long)req->worker_id);
        return;
    }
    tickWorkerSeen(&n->tick, req->worker_id);
    Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
    rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
}

void rpcRunReport(struct rpc_call *call)
{
    Raftcron__RunReport *req =
        (Raftcron__RunReport *)rpcUnpack(call, &raftcron__run_report__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->run_id == 0 || req->fence == 0) {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Run.Report: run_id and fence are required",
                 NULL);
        return;
    }
    struct node *n = call->node;
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    void *buf = NULL;
    size_t len = 0;
    int64_t now = rpcNow();
    /* Started and finished are the worker's clock, when it says (it knows when the process
     * started; the leader only when the report arrived), but never later than the leader's
     * now nor more than a minute before it: a skewed worker cannot move history around. */
    int64_t at = req->at_us > 0 ? req->at_us : now;
    at = at > now ? now : at < now - 60 * INT64_C(1000000) ? now - 60 * INT64_C(1000000) : at;
    int rv;
    switch (req->kind) {
    case 1:
        rv = commandEncodeRunStarted(req->run_id, req->fence, at, &buf, &len);
        break;
    case 2:
        rv = commandEncodeRunFinished(req->run_id, req->fence, req->state, req->outcome, at, &buf,
                                      &len);
        break;
    case 3:
        rv = commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_LOST, req->run_id, req->fence,
                                 "the worker lost the run (it restarted)", now, &buf, &len);
        break;
    default:
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "Run.Report: unknown kind %u", req->kind);
        return;
    }
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "Run.Report: %s", rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, entryApplied);
}
