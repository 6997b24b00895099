/*
 * Run.List, Run.Get, Decision.List, Dlq.List and Job.Next: reads of the run ledger, linearizable
 * unless stale (rpcRead). Selection and order live in core/runview.c so that the unit tests
 * cover them; these handlers only check arguments, look the job up and build the reply.
 * The reply borrows the FSM's messages: it is packed before anything can apply again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/runs.h"
#include "core/runview.h"
#include "node.h"
#include "rpc.h"

static struct rc_fsm *fsmOf(struct rpc_call *call)
{
    return call->node->cluster.core;
}

/* The job named by (ns, name), or NULL after answering NOT_FOUND (also for a job the caller
 * may not see, with the same words) or PERMISSION_DENIED. */
static const Raftcron__Job *findJob(struct rpc_call *call, const char *ns, const char *name)
{
    char msg[320];
    snprintf(msg, sizeof msg, "%s: job %s/%.128s not found", call->req->method,
             ns[0] != '\0' ? ns : "default", name);
    if (!rpcAllowed(call, ns, msg)) {
        return NULL;
    }
    const Raftcron__Job *job = fsmJobGet(fsmOf(call), ns, name);
    if (job == NULL) {
        rpcReply(call, RC_STATUS_NOT_FOUND, msg, NULL);
    }
    return job;
}

static bool badArgument(struct rpc_call *call, int rv, const char *err)
{
    if (rv != 0) {
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "%s: %s", call->req->method, err);
    }
    return rv != 0;
}

/* A waiting run with the leader's reason why, as a shallow copy in *copy (the FSM's run is not
 * touched), or the run itself. */
static const Raftcron__Run *withWaitReason(struct rpc_call *call, const Raftcron__Run *run,
                                           Raftcron__Run *copy)
{
    if ((run->state != RC_RUN_PENDING && run->state != RC_RUN_RETRY_WAIT) ||
        run->wait_reason[0] != '\0') {
        return run;
    }
    const char *why = leaderWaitReason(&call->node->leader, run->id);
    if (why == NULL) {
        return run;
    }
    *copy = *run;
    copy->wait_reason = (char *)why;
    return copy;
}

/* Answer with a page of the runs of job (or of every job of ns the caller may read) whose state
 * is in mask, older than the page token's. */
static void replyRuns(struct rpc_call *call, const Raftcron__Job *job, const char *ns,
                      uint32_t mask, size_t limit, const char *token)
{
    struct runview_page page = {.visible = rpcVisible, .visible_data = call};
    char err[RC_ERRMSG_SIZE];
    if (runviewParseTokenId('r', token, &page.before_id, err, sizeof err) != 0) {
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "%s: %s", call->req->method, err);
        return;
    }
    /* One more than the page: whether a next page exists. */
    const Raftcron__Run **runs = calloc(limit + 1, sizeof *runs);
    Raftcron__Run *copies = calloc(limit, sizeof *copies);
    if (runs == NULL || copies == NULL) {
        free(runs);
        free(copies);
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    Raftcron__RunListResponse resp = RAFTCRON__RUN_LIST_RESPONSE__INIT;
    /* A namespace the caller may not read lists as empty, as one without runs does. */
    bool hidden = job == NULL && ns[0] != '\0' && !rpcCanRead(call, ns);
    size_t n = hidden ? 0 : runviewRunsPage(fsmOf(call), job, ns, mask, &page, runs, limit + 1);
    char next[RC_RUNVIEW_TOKEN_MAX] = "";
    if (n > limit) {
        n = limit;
        runviewTokenId('r', runs[n - 1]->id, next);
    }
    resp.n_runs = n;
    for (size_t i = 0; i < resp.n_runs; i++) {
        runs[i] = withWaitReason(call, runs[i], &copies[i]);
    }
    resp.runs = (Raftcron__Run **)runs;
    resp.next_page_token = next;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
    free(runs);
    free(copies);
}

static void runListRead(struct rpc_call *call)
{
    Raftcron__RunListRequest *req = (Raftcron__RunListRequest *)call->msg;
    char err[RC_ERRMSG_SIZE];
    uint32_t mask;
    size_t limit;
    if (badArgument(call, runviewStateMask(req->state, &mask, err, sizeof err), err) ||
        badArgument(call,
                    runviewLimit(req->limit, RC_RUNVIEW_LIMIT_DEFAULT, RC_RUNVIEW_LIMIT_MAX, &limit,
                                 err, sizeof err),
                    err)) {
        return;
    }
    const Raftcron__Job *job = NULL;
    if (req->job[0] != '\0' && (job = findJob(call, req->namespace_, req->job)) == NULL) {
        return;
    }
    replyRuns(call, job, req->namespace_, mask, limit, req->page_token);
}

void rpcRunList(struct rpc_call *call)
{
    Raftcron__RunListRequest *req =
        (Raftcron__RunListRequest *)rpcUnpack(call, &raftcron__run_list_request__descriptor);
    if (req != NULL) {
        rpcRead(call, req->stale, runListRead);
    }
}

static void runGetRead(struct rpc_call *call)
{
    Raftcron__RunGetRequest *req = (Raftcron__RunGetRequest *)call->msg;
    const Raftcron__Run *run = fsmRunGet(fsmOf(call), req->id);
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
    Raftcron__Run copy;
    Raftcron__RunResponse resp = RAFTCRON__RUN_RESPONSE__INIT;
    resp.run = (Raftcron__Run *)withWaitReason(call, run, &copy);
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
}

void rpcRunGet(struct rpc_call *call)
{
    Raftcron__RunGetRequest *req =
        (Raftcron__RunGetRequest *)rpcUnpack(call, &raftcron__run_get_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->id == 0) {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Run.Get: id is required", NULL);
        return;
    }
    rpcRead(call, req->stale, runGetRead);
}

static void dlqListRead(struct rpc_call *call)
{
    Raftcron__DlqListRequest *req = (Raftcron__DlqListRequest *)call->msg;
    char err[RC_ERRMSG_SIZE];
    size_t limit;
    if (!badArgument(call,
                     runviewLimit(req->limit, RC_RUNVIEW_LIMIT_DEFAULT, RC_RUNVIEW_LIMIT_MAX,
                                  &limit, err, sizeof err),
                     err)) {
        replyRuns(call, NULL, req->namespace_, 1u << RC_RUN_DEAD, limit, req->page_token);
    }
}

void rpcDlqList(struct rpc_call *call)
{
    Raftcron__DlqListRequest *req =
        (Raftcron__DlqListRequest *)rpcUnpack(call, &raftcron__dlq_list_request__descriptor);
    if (req != NULL) {
        rpcRead(call, req->stale, dlqListRead);
    }
}

static void decisionListRead(struct rpc_call *call)
{
    Raftcron__DecisionListRequest *req = (Raftcron__DecisionListRequest *)call->msg;
    char err[RC_ERRMSG_SIZE];
    size_t limit;
    if (badArgument(call,
                    runviewLimit(req->limit, RC_RUNVIEW_LIMIT_DEFAULT, RC_RUNVIEW_LIMIT_MAX, &limit,
                                 err, sizeof err),
                    err)) {
        return;
    }
    const Raftcron__Job *job = findJob(call, req->namespace_, req->job);
    if (job == NULL) {
        return;
    }
    uint64_t before;
    if (badArgument(call, runviewParseTokenId('d', req->page_token, &before, err, sizeof err),
                    err)) {
        return;
    }
    const Raftcron__Decision **ds = calloc(limit + 1, sizeof *ds);
    if (ds == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    Raftcron__DecisionListResponse resp = RAFTCRON__DECISION_LIST_RESPONSE__INIT;
    size_t n = runviewDecisionsPage(fsmOf(call), job->id, before, ds, limit + 1);
    char next[RC_RUNVIEW_TOKEN_MAX] = "";
    if (n > limit) {
        n = limit;
        runviewTokenId('d', ds[n - 1]->id, next);
    }
    resp.n_decisions = n;
    resp.decisions = (Raftcron__Decision **)ds;
    resp.next_page_token = next;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
    free(ds);
}

void rpcDecisionList(struct rpc_call *call)
{
    Raftcron__DecisionListRequest *req = (Raftcron__DecisionListRequest *)rpcUnpack(
        call, &raftcron__decision_list_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->job[0] == '\0') {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Decision.List: job is required", NULL);
        return;
    }
    rpcRead(call, req->stale, decisionListRead);
}

/* The preview is the node's own clock: a follower's stale preview may start a little off,
 * which is harmless because nothing is decided from it. */
static void jobNextRead(struct rpc_call *call)
{
    Raftcron__JobNextRequest *req = (Raftcron__JobNextRequest *)call->msg;
    char err[RC_ERRMSG_SIZE];
    size_t n;
    if (badArgument(
            call,
            runviewLimit(req->n, RC_RUNVIEW_NEXT_DEFAULT, RC_RUNVIEW_NEXT_MAX, &n, err, sizeof err),
            err)) {
        return;
    }
    const Raftcron__Job *job = findJob(call, req->namespace_, req->name);
    if (job == NULL) {
        return;
    }
    Raftcron__JobNextResponse resp = RAFTCRON__JOB_NEXT_RESPONSE__INIT;
    int64_t now = rpcNow();
    const char *zone = "UTC";
    int64_t *instants = calloc(n, sizeof *instants);
    int32_t *offsets = calloc(n, sizeof *offsets);
    if (instants == NULL || offsets == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    int rv =
        runviewNext(job, now, n, instants, offsets, &resp.n_instants_us, &zone, err, sizeof err);
    if (rv != 0) {
        rpcReplyf(call, RC_STATUS_INTERNAL, "Job.Next: stored job has a bad trigger: %s", err);
        goto out;
    }
    resp.instants_us = instants;
    resp.offsets_s = offsets;
    resp.n_offsets_s = resp.n_instants_us;
    resp.tz = (char *)zone;
    resp.after_us = job->cursor_us > now ? job->cursor_us : now;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
out:
    free(offsets);
    free(instants);
}

void rpcJobNext(struct rpc_call *call)
{
    Raftcron__JobNextRequest *req =
        (Raftcron__JobNextRequest *)rpcUnpack(call, &raftcron__job_next_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->name[0] == '\0') {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Job.Next: name is required", NULL);
        return;
    }
    rpcRead(call, req->stale, jobNextRead);
}
