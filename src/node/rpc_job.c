/* Job.* handlers: writes go through the leader's log, reads are linearizable unless stale. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/err.h"
#include "core/execpolicy.h"
#include "exec/exec.h"
#include "core/fsm.h"
#include "core/jobs.h"
#include "core/ledger.h"
#include "core/runview.h"
#include "node.h"
#include "rpc.h"

static struct rc_fsm *fsmOf(struct rpc_call *call)
{
    return call->node->cluster.core;
}

/* The words of a missing job, also what a job the caller may not see gets (rpcAllowed). */
static const char *notFound(const char *ns, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "job %s/%.128s not found", jobsNamespace(ns), name);
    return buf;
}

static void replyJob(struct rpc_call *call, const char *ns, const char *name)
{
    char msg[256];
    if (!rpcAllowed(call, ns, notFound(ns, name, msg, sizeof msg))) {
        return;
    }
    const Raftcron__Job *job = fsmJobGet(fsmOf(call), ns, name);
    if (job == NULL) {
        rpcReply(call, RC_STATUS_NOT_FOUND, msg, NULL);
        return;
    }
    Raftcron__JobResponse resp = RAFTCRON__JOB_RESPONSE__INIT;
    resp.job = (Raftcron__Job *)job;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
}

static void putApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    if (res->code != 0) {
        rpcReply(call, rpcStatusOf(res->code), res->message, NULL);
        return;
    }
    Raftcron__JobPutRequest *req = (Raftcron__JobPutRequest *)call->msg;
    Raftcron__JobPutResponse resp = RAFTCRON__JOB_PUT_RESPONSE__INIT;
    resp.job = (Raftcron__Job *)fsmJobGet(fsmOf(call), req->spec->namespace_, req->spec->name);
    resp.created = res->created;
    resp.changed = res->changed;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
}

/* Least privilege (core/execpolicy.h): the leader's --executors decides which executors a
 * namespace may use; workers check again when they run. */
static bool executorAllowed(struct rpc_call *call, const Raftcron__JobSpec *spec)
{
    const struct exec_security *sec = call->node->opts.exec;
    const Raftcron__Executor *e = spec->executor;
    const char *kind = e == NULL                                       ? "noop"
                       : e->kind_case == RAFTCRON__EXECUTOR__KIND_NOOP ? "noop"
                                                                       : execKindName(e->kind_case);
    const char *ns = spec->namespace_[0] != '\0' ? spec->namespace_ : "default";
    if (sec == NULL || kind == NULL || execpolicyAllows(sec->policy, ns, kind)) {
        return true;
    }
    rpcReplyf(call, RC_STATUS_PERMISSION_DENIED,
              "Job.Put: namespace %s may not use the %s executor (the leader's --executors)", ns,
              kind);
    return false;
}

void rpcJobPut(struct rpc_call *call)
{
    Raftcron__JobPutRequest *req =
        (Raftcron__JobPutRequest *)rpcUnpack(call, &raftcron__job_put_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->spec == NULL) {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Job.Put: spec is required", NULL);
        return;
    }
    char err[RC_ERRMSG_SIZE];
    if (fsmValidateSpec(req->spec, err, sizeof err) != 0) {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, err, NULL);
        return;
    }
    if (!rpcAllowed(call, req->spec->namespace_,
                    notFound(req->spec->namespace_, req->spec->name, err, sizeof err))) {
        return;
    }
    if (!clusterIsLeader(&call->node->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    if (!executorAllowed(call, req->spec)) {
        return;
    }
    /* A job that leaves its history bounds unset gets the leader's --history-runs and
     * --history-age, written into the entry (apply never reads a node's settings). */
    Raftcron__Policy local = RAFTCRON__POLICY__INIT;
    bool borrowed = req->spec->policy == NULL;
    if (borrowed) {
        req->spec->policy = &local;
    }
    const struct node_options *o = &call->node->opts;
    /* Only a setting that differs from the built-in default is written: jobs of a cluster
     * left at the defaults keep 0 ("the default") in their spec. */
    if (req->spec->policy->history_max == 0 && o->history_runs > 0 &&
        o->history_runs != RC_LEDGER_HISTORY_DEFAULT) {
        req->spec->policy->history_max =
            o->history_runs < RC_LEDGER_HISTORY_MAX ? o->history_runs : RC_LEDGER_HISTORY_MAX;
    }
    if (req->spec->policy->history_age_us == 0 && o->history_age_us > 0 &&
        o->history_age_us != RC_LEDGER_AGE_DEFAULT) {
        req->spec->policy->history_age_us = o->history_age_us;
    }
    void *buf;
    size_t len;
    int rv = commandEncodeJobPut(req->spec, req->expected_version, req->create_only, req->paused,
                                 rpcNow(), &buf, &len);
    if (borrowed) {
        req->spec->policy = NULL; /* the request is freed with its own allocations only */
    }
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "Job.Put: %s", rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, putApplied);
}

static void getRead(struct rpc_call *call)
{
    Raftcron__JobRequest *req = (Raftcron__JobRequest *)call->msg;
    replyJob(call, req->namespace_, req->name);
}

void rpcJobGet(struct rpc_call *call)
{
    Raftcron__JobRequest *req =
        (Raftcron__JobRequest *)rpcUnpack(call, &raftcron__job_request__descriptor);
    if (req != NULL) {
        rpcRead(call, req->stale, getRead);
    }
}

/* Job.List answers in pages so that a reply stays far below the frame limit whatever the
 * number of jobs: at most JOB_PAGE_MAX jobs and about JOB_PAGE_BYTES of encoded jobs. */
#define JOB_PAGE_MAX   1000
#define JOB_PAGE_BYTES (4u << 20)

/* Where a page starts: after the page token's key, or after (after_namespace, after_name). */
static int pageStart(struct rpc_call *call, const Raftcron__JobListRequest *req, size_t *start)
{
    struct rc_fsm *f = fsmOf(call);
    char ns[RC_JOBS_NAMESPACE_MAX + 1], name[RC_JOBS_NAME_MAX + 1], err[RC_ERRMSG_SIZE];
    *start = 0;
    if (req->page_token[0] != '\0') {
        if (runviewParseTokenJob(req->page_token, ns, name, err, sizeof err) != 0) {
            rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "Job.List: %s", err);
            return RC_EINVAL;
        }
        *start = fsmJobIndexAfter(f, ns, name);
    } else if (req->after_namespace[0] != '\0' || req->after_name[0] != '\0') {
        *start = fsmJobIndexAfter(f, req->after_namespace, req->after_name);
    }
    return 0;
}

static bool listed(struct rpc_call *call, const Raftcron__JobListRequest *req,
                   const Raftcron__Job *job)
{
    if (req->namespace_[0] != '\0') {
        return strcmp(job->spec->namespace_, req->namespace_) == 0;
    }
    return rpcCanRead(call, job->spec->namespace_);
}

static void listRead(struct rpc_call *call)
{
    Raftcron__JobListRequest *req = (Raftcron__JobListRequest *)call->msg;
    struct rc_fsm *f = fsmOf(call);
    size_t total = fsmJobCount(f);
    size_t limit = req->limit == 0 || req->limit > JOB_PAGE_MAX ? JOB_PAGE_MAX : req->limit;
    size_t i;
    if (pageStart(call, req, &i) != 0) {
        return;
    }
    /* A namespace the caller may not read lists as empty, as one that holds no job does. */
    if (req->namespace_[0] != '\0' && !rpcCanRead(call, req->namespace_)) {
        i = total;
    }
    Raftcron__Job **jobs = calloc(limit, sizeof *jobs);
    if (jobs == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    size_t n = 0, bytes = 0;
    bool more = false;
    for (; i < total; i++) {
        const Raftcron__Job *job = fsmJobAt(f, i);
        if (!listed(call, req, job)) {
            continue;
        }
        size_t size = raftcron__job__get_packed_size(job);
        if (n == limit || (n > 0 && bytes + size > JOB_PAGE_BYTES)) {
            more = true;
            break;
        }
        jobs[n++] = (Raftcron__Job *)job;
        bytes += size;
    }
    char token[RC_RUNVIEW_TOKEN_MAX] = "";
    if (more) {
        runviewTokenJob(jobs[n - 1]->spec->namespace_, jobs[n - 1]->spec->name, token);
    }
    Raftcron__JobListResponse resp = RAFTCRON__JOB_LIST_RESPONSE__INIT;
    resp.jobs = jobs;
    resp.n_jobs = n;
    resp.more = more;
    resp.next_page_token = token;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
    free(jobs);
}

void rpcJobList(struct rpc_call *call)
{
    Raftcron__JobListRequest *req =
        (Raftcron__JobListRequest *)rpcUnpack(call, &raftcron__job_list_request__descriptor);
    if (req != NULL) {
        rpcRead(call, req->stale, listRead);
    }
}

typedef int (*encode_ref_fn)(const char *ns, const char *name, uint64_t expected_version,
                             int64_t now_us, void **buf, size_t *len);

static void refApplied(struct rpc_call *call, const struct rc_fsm_result *res)
{
    if (res->code != 0) {
        rpcReply(call, rpcStatusOf(res->code), res->message, NULL);
        return;
    }
    Raftcron__JobRequest *req = (Raftcron__JobRequest *)call->msg;
    if (strcmp(call->req->method, "Job.Delete") == 0) {
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
        return;
    }
    replyJob(call, req->namespace_, req->name);
}

static void jobRefWrite(struct rpc_call *call, encode_ref_fn encode)
{
    Raftcron__JobRequest *req =
        (Raftcron__JobRequest *)rpcUnpack(call, &raftcron__job_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->name[0] == '\0') {
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "%s: name is required", call->req->method);
        return;
    }
    char msg[256];
    if (!rpcAllowed(call, req->namespace_, notFound(req->namespace_, req->name, msg, sizeof msg))) {
        return;
    }
    if (!clusterIsLeader(&call->node->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    void *buf;
    size_t len;
    int rv = encode(req->namespace_, req->name, req->expected_version, rpcNow(), &buf, &len);
    if (rv != 0) {
        rpcReplyf(call, rpcStatusOf(rv), "%s: %s", call->req->method, rc_strerror(rv));
        return;
    }
    rpcWrite(call, buf, len, refApplied);
}

void rpcJobDelete(struct rpc_call *call)
{
    jobRefWrite(call, commandEncodeJobDelete);
}

void rpcJobPause(struct rpc_call *call)
{
    jobRefWrite(call, commandEncodeJobPause);
}

void rpcJobResume(struct rpc_call *call)
{
    jobRefWrite(call, commandEncodeJobResume);
}
