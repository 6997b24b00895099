/*
 * Job.RunNow, Dlq.Retry, Run.Cancel and Job.Backfill: manual runs, cancellation and backfills,
 * on the leader. A manual run is an ordinary FireBatch item marked manual (DESIGN.md §3): it
 * does not move the job's cursor, so it can never take the place of a scheduled instant's
 * decision. A backfill is one atomic FireBatch of items marked manual and backfill, planned by
 * the pure core (src/core/backfill.h) and checked again at apply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/backfill.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/jobs.h"
#include "core/jobspec.h"
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

/* Whether the job's overlap policy lets one more run start now: the judgement of a scheduled
 * instant (policyJudge). A manual run that it lets through starts at once, alongside the active
 * runs: it neither cancels them (REPLACE) nor waits for them (QUEUE_ONE). */
static const char *overlapRefusal(const struct rc_fsm *f, const Raftcron__Job *job)
{
    int active = 0, queued = 0;
    fsmJobActive(f, job->id, &active, &queued);
    struct rc_policy pol;
    jobspecPolicy(job->spec, &pol);
    bool cancel_active, queue;
    switch (policyJudge(&pol, active, queued, &cancel_active, &queue)) {
    case RC_REASON_OVERLAP:
        return "a run of this job is active and its overlap policy is skip (use --force)";
    case RC_REASON_MAX_INSTANCES:
        return "the job already has max_instances runs active (use --force)";
    case RC_REASON_QUEUE_FULL:
        return "a run of this job is already queued (use --force)";
    default:
        return NULL;
    }
}

static void proposeManual(struct rpc_call *call, const Raftcron__Job *job, int64_t instant)
{
    int64_t now = rpcNow();
    struct rc_decision_rec rec = {.decision = RC_DECISION_FIRED,
                                  .reason = RC_REASON_MANUAL,
                                  .first_us = instant,
                                  .last_us = instant,
                                  .count = 1,
                                  .start_at_us = now};
    Raftcron__FireItem it;
    jobspecFireItem(job, &rec, &it);
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
    char msg[256];
    snprintf(msg, sizeof msg, "job %s/%.128s not found", jobsNamespace(req->namespace_), req->name);
    if (!rpcAllowed(call, req->namespace_, msg)) {
        return;
    }
    const Raftcron__Job *job = fsmJobGet(n->cluster.core, req->namespace_, req->name);
    if (job == NULL) {
        rpcReply(call, RC_STATUS_NOT_FOUND, msg, NULL);
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
    char msg[64], ns[RC_JOBS_NAMESPACE_MAX + 1];
    snprintf(msg, sizeof msg, "run %llu not found", (unsigned long long)req->id);
    if (run == NULL) {
        rpcReply(call, RC_STATUS_NOT_FOUND, msg, NULL);
        return;
    }
    rpcKeyNamespace(run->job, ns);
    if (!rpcAllowed(call, ns, msg)) {
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

/* Cancelling is idempotent: a run already cancelled (by this request's earlier attempt, which a
 * client retries when a leader change left its outcome unknown, or by another) answers OK. */
static bool alreadyCancelled(struct node *n, uint64_t run_id)
{
    const Raftcron__Run *run = fsmRunGet(n->cluster.core, run_id);
    return run != NULL && run->state == RC_RUN_CANCELLED;
}

static void cancelApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    if (res->code != 0 && !alreadyCancelled(call->node, res->run_id)) {
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
    /* An unknown run is left to apply to refuse ("run N not found"); one the caller may not
     * see gets the same words. */
    const Raftcron__Run *run = fsmRunGet(n->cluster.core, req->id);
    if (run != NULL) {
        char msg[64], ns[RC_JOBS_NAMESPACE_MAX + 1];
        snprintf(msg, sizeof msg, "run %llu not found", (unsigned long long)req->id);
        rpcKeyNamespace(run->job, ns);
        if (!rpcAllowed(call, ns, msg)) {
            return;
        }
        if (run->state == RC_RUN_CANCELLED) {
            Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
            rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
            return;
        }
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

/* ---- Job.Backfill ---------------------------------------------------------------------------- */

/* The reply, as planned; run ids are filled in once the entry is applied. */
static int planReply(const struct rc_backfill_plan *p, const Raftcron__Job *job, int64_t now,
                     bool dry_run, Raftcron__BackfillResponse *resp)
{
    raftcron__backfill_response__init(resp);
    resp->dry_run = dry_run;
    resp->now_us = now;
    resp->history_floor_us = job->history_floor_us;
    if (p->n_instants == 0) {
        return 0;
    }
    Raftcron__BackfillInstant *xs = calloc(p->n_instants, sizeof *xs);
    resp->instants = calloc(p->n_instants, sizeof *resp->instants);
    if (xs == NULL || resp->instants == NULL) {
        free(xs);
        free(resp->instants);
        resp->instants = NULL;
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < p->n_instants; i++) {
        const struct rc_backfill_instant *in = &p->instants[i];
        Raftcron__BackfillInstant *x = &xs[i];
        raftcron__backfill_instant__init(x);
        x->at_us = in->at_us;
        x->outcome = (uint32_t)in->outcome;
        x->reason = (uint32_t)in->reason;
        x->decision_id = in->decision_id;
        x->decision = (uint32_t)in->decision;
        x->queued = in->queued;
        x->cancel_active = in->cancel_active;
        resp->instants[i] = x;
    }
    resp->n_instants = p->n_instants;
    return 0;
}

static void freeReply(Raftcron__BackfillResponse *resp)
{
    if (resp->n_instants > 0) {
        free(resp->instants[0]); /* the one array of planReply */
    }
    free(resp->instants);
}

/*
 * Keep the planned reply with the call until the entry is applied: it replaces the request as
 * call->msg (a copy decoded with the default allocator, so that the call frees it however it
 * ends — applied, leadership lost, or refused before proposing). The request is not needed any
 * more: everything the write needs is in the encoded entry.
 */
static int adoptReply(struct rpc_call *call, const Raftcron__BackfillResponse *resp)
{
    void *buf;
    size_t len;
    int rv = commandPack(&resp->base, &buf, &len);
    if (rv != 0) {
        return rv;
    }
    ProtobufCMessage *copy =
        protobuf_c_message_unpack(&raftcron__backfill_response__descriptor, NULL, len, buf);
    free(buf);
    if (copy == NULL) {
        return RC_ENOMEM;
    }
    protobuf_c_message_free_unpacked(call->msg, NULL);
    call->msg = copy;
    return 0;
}

/* Applied whole or refused whole (an atomic batch): FIRED runs have consecutive ids in
 * instant order. */
static void backfillApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    Raftcron__BackfillResponse *resp = (Raftcron__BackfillResponse *)call->msg;
    if (res->code != 0) {
        rpcReplyf(call, rpcStatusOf(res->code), "Job.Backfill: nothing was created: %s",
                  res->message);
        return;
    }
    uint64_t next = res->run_id;
    for (size_t i = 0; i < resp->n_instants; i++) {
        if (resp->instants[i]->outcome == RC_BACKFILL_FIRED) {
            resp->instants[i]->run_id = next++;
        }
    }
    if (next - res->run_id != res->runs_created) {
        rpcReplyf(call, RC_STATUS_INTERNAL,
                  "Job.Backfill: %u runs created, %llu planned (see run list)", res->runs_created,
                  (unsigned long long)(next - res->run_id));
        return;
    }
    resp->runs_created = res->runs_created;
    rpcReply(call, RC_STATUS_OK, NULL, &resp->base);
}

/* Plan errors are the caller's range or limit, except memory and internal ones. */
static int planStatus(int rv)
{
    switch (rv) {
    case RC_EINVAL:
    case RC_ERANGE:
    case RC_ETOOBIG:
        return RC_STATUS_INVALID_ARGUMENT;
    default:
        return rpcStatusOf(rv);
    }
}

static void proposeBackfill(struct rpc_call *call, const Raftcron__Job *job,
                            const struct rc_backfill_plan *p, int64_t now,
                            Raftcron__BackfillResponse *resp)
{
    void *buf;
    size_t len;
    int rv = backfillEncode(job, p, now, &buf, &len);
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "Job.Backfill: %s", rc_strerror(rv));
        return;
    }
    rv = adoptReply(call, resp);
    if (rv != 0) {
        free(buf);
        rpcReplyf(call, rpcStatusOf(rv), "Job.Backfill: %s", rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, backfillApplied);
}

/* After the barrier: the plan sees every decision committed before the request. */
static void backfillRead(struct rpc_call *call)
{
    const Raftcron__BackfillRequest *req = (const Raftcron__BackfillRequest *)call->msg;
    struct node *n = call->node;
    char msg[256];
    snprintf(msg, sizeof msg, "job %s/%.128s not found", jobsNamespace(req->namespace_), req->name);
    if (!rpcAllowed(call, req->namespace_, msg)) {
        return;
    }
    const Raftcron__Job *job = fsmJobGet(n->cluster.core, req->namespace_, req->name);
    if (job == NULL) {
        rpcReply(call, RC_STATUS_NOT_FOUND, msg, NULL);
        return;
    }
    int64_t now = rpcNow();
    struct rc_backfill_plan plan;
    char err[RC_ERRMSG_SIZE];
    int rv = backfillPlan(n->cluster.core, job, req->from_us, req->to_us, now, req->limit, &plan,
                          err, sizeof err);
    if (rv != 0) {
        rpcReplyf(call, planStatus(rv), "Job.Backfill: %s; nothing was created", err);
        return;
    }
    Raftcron__BackfillResponse resp;
    rv = planReply(&plan, job, now, req->dry_run, &resp);
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "Job.Backfill: %s", rc_strerror(rv));
    } else if (req->dry_run || plan.n_recs == 0) {
        rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
    } else {
        proposeBackfill(call, job, &plan, now, &resp);
    }
    freeReply(&resp);
    backfillPlanFree(&plan);
}

void rpcJobBackfill(struct rpc_call *call)
{
    Raftcron__BackfillRequest *req =
        (Raftcron__BackfillRequest *)rpcUnpack(call, &raftcron__backfill_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->name[0] == '\0') {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Job.Backfill: no job name", NULL);
        return;
    }
    rpcRead(call, false, backfillRead);
}
