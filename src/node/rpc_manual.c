/*
 * Job.RunNow, Dlq.Retry and Run.Cancel: manual runs and cancellation, on the leader. A manual
 * run is an ordinary FireBatch item marked manual (DESIGN.md §3): it does not move the job's
 * cursor, so it can never take the place of a scheduled instant's decision.
 */
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/policy.h"
#include "core/runs.h"
#include "node.h"
#include "rpc.h"

static void manualApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    if (res->code != 0 || res->runs_created != 1) {
        rpcReply(call, rpcStatusOf(res->code != 0 ? res->code : RC_ESTALE), res->message, NULL);
        return;
    }
    Raftcron__RunNowResponse resp = RAFTCRON__RUN_NOW_RESPONSE__INIT;
    resp.run_id = res->run_id;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
}

/* Whether the job's overlap policy lets one more run start now. */
static const char *overlapRefusal(const struct rc_fsm *f, const Raftcron__Job *job)
{
    int active = 0, queued = 0;
    fsmJobActive(f, job->id, &active, &queued);
    const Raftcron__Policy *p = job->spec->policy;
    uint32_t overlap = p != NULL ? p->overlap : RC_OVERLAP_ALLOW;
    uint32_t max = p != NULL && p->max_instances > 0 ? p->max_instances : 1;
    if (overlap == RC_OVERLAP_SKIP && active > 0) {
        return "a run of this job is active and its overlap policy is skip (use --force)";
    }
    if (overlap == RC_OVERLAP_ALLOW && (uint32_t)active >= max) {
        return "the job already has max_instances runs active (use --force)";
    }
    if (overlap == RC_OVERLAP_QUEUE_ONE && queued > 0) {
        return "a run of this job is already queued (use --force)";
    }
    return NULL;
}

static void proposeManual(struct rpc_call *call, const Raftcron__Job *job, int64_t instant)
{
    int64_t now = rpcNow();
    Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
    it.namespace_ = job->spec->namespace_;
    it.name = job->spec->name;
    it.job_version = job->version;
    it.first_us = it.last_us = instant;
    it.count = 1;
    it.decision = RC_DECISION_FIRED;
    it.reason = RC_REASON_MANUAL;
    it.start_at_us = now;
    it.manual = true;
    Raftcron__FireItem *items[1] = {&it};
    void *buf;
    size_t len;
    int rv = commandEncodeFireBatch(now, items, 1, &buf, &len);
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "%s: %s", call->req->method, rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, manualApplied);
}

void rpcJobRunNow(struct rpc_call *call)
{
    Raftcron__RunNowRequest *req =
        (Raftcron__RunNowRequest *)rpcUnpack(call, &raftcron__run_now_request__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    const Raftcron__Job *job = fsmJobGet(n->cluster.core, req->namespace_, req->name);
    if (job == NULL) {
        rpcReplyf(call, RC_STATUS_NOT_FOUND, "job %s/%s not found",
                  req->namespace_[0] ? req->namespace_ : "default", req->name);
        return;
    }
    const char *refusal = req->force ? NULL : overlapRefusal(n->cluster.core, job);
    if (refusal != NULL) {
        rpcReply(call, RC_STATUS_FAILED_PRECONDITION, refusal, NULL);
        return;
    }
    proposeManual(call, job, rpcNow());
}

void rpcDlqRetry(struct rpc_call *call)
{
    Raftcron__RunIdRequest *req =
        (Raftcron__RunIdRequest *)rpcUnpack(call, &raftcron__run_id_request__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    const Raftcron__Run *run = fsmRunGet(n->cluster.core, req->id);
    if (run == NULL) {
        rpcReplyf(call, RC_STATUS_NOT_FOUND, "run %llu not found", (unsigned long long)req->id);
        return;
    }
    if (run->state != RC_RUN_DEAD) {
        rpcReplyf(call, RC_STATUS_FAILED_PRECONDITION, "run %llu is %s, not dead",
                  (unsigned long long)req->id, runsStateName(run->state));
        return;
    }
    const Raftcron__Job *job = fsmJobOfRun(n->cluster.core, run);
    if (job == NULL) {
        rpcReplyf(call, RC_STATUS_NOT_FOUND, "the job of run %llu no longer exists",
                  (unsigned long long)req->id);
        return;
    }
    proposeManual(call, job, run->scheduled_us);
}

static void cancelApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    if (res->code != 0) {
        rpcReply(call, rpcStatusOf(res->code), res->message, NULL);
        return;
    }
    Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
    rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
}

void rpcRunCancel(struct rpc_call *call)
{
    Raftcron__RunIdRequest *req =
        (Raftcron__RunIdRequest *)rpcUnpack(call, &raftcron__run_id_request__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    void *buf;
    size_t len;
    int rv = commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_CANCEL, req->id, 0,
                                 "cancelled by an operator", rpcNow(), &buf, &len);
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "Run.Cancel: %s", rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, cancelApplied);
}
