/*
 * Job.Stats (docs/rest.md "Statistics"): the counters apply keeps in the job (core/jobstats.h),
 * the durations of the runs the ledger holds, and the next instants. A read like Job.Get:
 * linearizable unless stale.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/jobs.h"
#include "core/jobstats.h"
#include "core/runview.h"
#include "node.h"
#include "rpc.h"

#define NEXT_SHOWN 5

static void statsRead(struct rpc_call *call)
{
    Raftcron__JobRequest *req = (Raftcron__JobRequest *)call->msg;
    struct rc_fsm *f = call->node->cluster.core;
    char msg[256];
    snprintf(msg, sizeof msg, "job %s/%.128s not found", jobsNamespace(req->namespace_), req->name);
    if (!rpcAllowed(call, req->namespace_, msg)) {
        return;
    }
    const Raftcron__Job *job = fsmJobGet(f, req->namespace_, req->name);
    if (job == NULL) {
        rpcReply(call, RC_STATUS_NOT_FOUND, msg, NULL);
        return;
    }
    size_t n;
    Raftcron__Run *const *runs = fsmJobRuns(f, job->id, &n);
    struct rc_jobstats_summary sum;
    if (jobstatsSummarize(runs, n, &sum) != 0) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    int64_t next[NEXT_SHOWN];
    int32_t offsets[NEXT_SHOWN];
    size_t n_next = 0;
    const char *zone;
    char err[RC_ERRMSG_SIZE];
    if (!job->paused && runviewNext(job, rpcNow(), NEXT_SHOWN, next, offsets, &n_next, &zone, err,
                                    sizeof err) != 0) {
        n_next = 0;
    }
    Raftcron__JobStatsResponse resp = RAFTCRON__JOB_STATS_RESPONSE__INIT;
    resp.namespace_ = job->spec->namespace_;
    resp.name = job->spec->name;
    resp.stats = job->stats;
    resp.retained = sum.count;
    resp.mean_duration_us = sum.mean_us;
    resp.p95_duration_us = sum.p95_us;
    resp.max_duration_us = sum.max_us;
    resp.next_us = next;
    resp.n_next_us = n_next;
    resp.active = sum.active;
    resp.paused = job->paused;
    resp.version = job->version;
    rpcReply(call, RC_STATUS_OK, NULL, &resp.base);
}

void rpcJobStats(struct rpc_call *call)
{
    Raftcron__JobRequest *req =
        (Raftcron__JobRequest *)rpcUnpack(call, &raftcron__job_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->name[0] == '\0') {
        rpcReply(call, RC_STATUS_INVALID_ARGUMENT, "Job.Stats: name is required", NULL);
        return;
    }
    rpcRead(call, req->stale, statsRead);
}
