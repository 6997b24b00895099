/*
 * libraftcron's typed calls: each packs its api.proto request, goes through rc_client_call and
 * unpacks the reply. Which calls are idempotent (may be sent again after a broken connection)
 * is decided here, per method:
 *   - reads (Job.Get, Job.List, Job.Next, Run.*, Decision.List, Dlq.List, Cluster.Status,
 *     Cluster.Digest): always;
 *   - Job.Put with expected_version or create_only: a repeat of an applied put is refused
 *     (RC_ESTALE / RC_EEXISTS), never applied twice; a plain upsert is not;
 *   - Job.Delete, Job.Pause, Job.Resume: their effect does not grow with repeats (a repeated
 *     delete reports RC_ENOTFOUND);
 *   - Member.*: not (a repeated transfer or remove acts on a changed cluster).
 */
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "client_internal.h"
#include "raftcron/client.h"

/* rc_client_call with messages. out may be NULL when the reply is not wanted. */
static int invoke(struct rc_client *c, const char *method, const ProtobufCMessage *req,
                  int idempotent, const ProtobufCMessageDescriptor *reply, ProtobufCMessage **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        return clientFail(c, RC_ENOMEM, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    protobuf_c_message_pack(req, buf);
    void *rbuf;
    size_t rlen;
    int rv = rc_client_call(c, method, buf, len, &rbuf, &rlen, idempotent);
    free(buf);
    if (rv != 0 || out == NULL) {
        free(rv == 0 ? rbuf : NULL);
        return rv;
    }
    *out = protobuf_c_message_unpack(reply, NULL, rlen, rbuf);
    free(rbuf);
    if (*out == NULL) {
        return clientFail(c, RC_EPARSE, RC_STATUS_INTERNAL, "%s: malformed %s reply (%zu bytes)",
                          method, reply->short_name, rlen);
    }
    return 0;
}

/* Take the job out of a JobResponse / JobPutResponse-like reply and free the rest. */
static int takeJob(struct rc_client *c, const char *method, Raftcron__Job **slot,
                   ProtobufCMessage *reply, Raftcron__Job **out)
{
    Raftcron__Job *job = *slot;
    *slot = NULL;
    protobuf_c_message_free_unpacked(reply, NULL);
    if (job == NULL) {
        return clientFail(c, RC_EPARSE, RC_STATUS_INTERNAL, "%s: reply without a job", method);
    }
    if (out != NULL) {
        *out = job;
    } else {
        raftcron__job__free_unpacked(job, NULL);
    }
    return 0;
}

int rc_job_put(struct rc_client *c, const struct Raftcron__JobSpec *spec, uint64_t expected_version,
               int create_only, struct Raftcron__Job **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (spec == NULL) {
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "Job.Put: no spec");
    }
    Raftcron__JobPutRequest req = RAFTCRON__JOB_PUT_REQUEST__INIT;
    req.spec = (Raftcron__JobSpec *)spec;
    req.expected_version = expected_version;
    req.create_only = create_only != 0;
    ProtobufCMessage *m;
    int rv = invoke(c, "Job.Put", &req.base, expected_version != 0 || create_only,
                    &raftcron__job_put_response__descriptor, &m);
    return rv != 0 ? rv : takeJob(c, "Job.Put", &((Raftcron__JobPutResponse *)m)->job, m, out);
}

/* Job.Get, Job.Delete, Job.Pause, Job.Resume: a JobRequest answered by a JobResponse. */
static int jobCall(struct rc_client *c, const char *method, const char *ns, const char *name,
                   uint64_t expected_version, int stale, Raftcron__Job **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (name == NULL) {
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "%s: no job name", method);
    }
    Raftcron__JobRequest req = RAFTCRON__JOB_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.name = (char *)name;
    req.expected_version = expected_version;
    req.stale = stale != 0;
    ProtobufCMessage *m;
    int rv = invoke(c, method, &req.base, 1, &raftcron__job_response__descriptor,
                    out != NULL ? &m : NULL);
    if (rv != 0 || out == NULL) {
        return rv;
    }
    return takeJob(c, method, &((Raftcron__JobResponse *)m)->job, m, out);
}

int rc_job_get(struct rc_client *c, const char *ns, const char *name, int stale,
               struct Raftcron__Job **out)
{
    return jobCall(c, "Job.Get", ns, name, 0, stale, out);
}

/* Job.List comes in pages (at most 1000 jobs each); the pages are joined into one response
 * by moving each page's jobs into it. protobuf-c's unpack allocates every sub-message on its
 * own with the default allocator, so the joined message frees like an unpacked one. */
int rc_job_list(struct rc_client *c, const char *ns, int stale,
                struct Raftcron__JobListResponse **out)
{
    *out = NULL;
    Raftcron__JobListResponse *all = malloc(sizeof *all);
    if (all == NULL) {
        return clientFail(c, RC_ENOMEM, RC_STATUS_RESOURCE_EXHAUSTED, "Job.List: out of memory");
    }
    raftcron__job_list_response__init(all);
    Raftcron__JobListRequest req = RAFTCRON__JOB_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.stale = stale != 0;
    char *after_ns = NULL, *after_name = NULL;
    int rv = 0;
    for (;;) {
        ProtobufCMessage *m;
        rv = invoke(c, "Job.List", &req.base, 1, &raftcron__job_list_response__descriptor, &m);
        if (rv != 0) {
            break;
        }
        Raftcron__JobListResponse *page = (Raftcron__JobListResponse *)m;
        Raftcron__Job **grown =
            page->n_jobs == 0 ? all->jobs
                              : realloc(all->jobs, (all->n_jobs + page->n_jobs) * sizeof *grown);
        if (grown == NULL && page->n_jobs > 0) {
            protobuf_c_message_free_unpacked(m, NULL);
            rv = clientFail(c, RC_ENOMEM, RC_STATUS_RESOURCE_EXHAUSTED, "Job.List: out of memory");
            break;
        }
        all->jobs = grown;
        if (page->n_jobs > 0) {
            memcpy(all->jobs + all->n_jobs, page->jobs, page->n_jobs * sizeof *grown);
        }
        all->n_jobs += page->n_jobs;
        bool more = page->more && page->n_jobs > 0;
        if (more) {
            const Raftcron__JobSpec *last = page->jobs[page->n_jobs - 1]->spec;
            free(after_ns);
            free(after_name);
            after_ns = strdup(last->namespace_);
            after_name = strdup(last->name);
        }
        page->n_jobs = 0; /* the jobs are all's now */
        protobuf_c_message_free_unpacked(m, NULL);
        if (!more) {
            break;
        }
        if (after_ns == NULL || after_name == NULL) {
            rv = clientFail(c, RC_ENOMEM, RC_STATUS_RESOURCE_EXHAUSTED, "Job.List: out of memory");
            break;
        }
        req.after_namespace = after_ns;
        req.after_name = after_name;
    }
    free(after_ns);
    free(after_name);
    if (rv != 0) {
        protobuf_c_message_free_unpacked(&all->base, NULL);
        return rv;
    }
    *out = all;
    return 0;
}

int rc_job_delete(struct rc_client *c, const char *ns, const char *name, uint64_t expected_version)
{
    return jobCall(c, "Job.Delete", ns, name, expected_version, 0, NULL);
}

int rc_job_pause(struct rc_client *c, const char *ns, const char *name, struct Raftcron__Job **out)
{
    return jobCall(c, "Job.Pause", ns, name, 0, 0, out);
}

int rc_job_resume(struct rc_client *c, const char *ns, const char *name, struct Raftcron__Job **out)
{
    return jobCall(c, "Job.Resume", ns, name, 0, 0, out);
}

/* A read answered by a message the caller takes whole. */
static int readCall(struct rc_client *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *reply, void **out)
{
    ProtobufCMessage *m;
    int rv = invoke(c, method, req, 1, reply, &m);
    *out = rv == 0 ? m : NULL;
    return rv;
}

int rc_run_list(struct rc_client *c, const char *ns, const char *job, const char *state,
                uint32_t limit, int stale, struct Raftcron__RunListResponse **out)
{
    Raftcron__RunListRequest req = RAFTCRON__RUN_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.job = (char *)(job != NULL ? job : "");
    req.state = (char *)(state != NULL ? state : "");
    req.limit = limit;
    req.stale = stale != 0;
    return readCall(c, "Run.List", &req.base, &raftcron__run_list_response__descriptor,
                    (void **)out);
}

int rc_run_list_page(struct rc_client *c, const char *ns, const char *job, const char *state,
                     uint32_t limit, const char *page_token, int stale,
                     struct Raftcron__RunListResponse **out)
{
    Raftcron__RunListRequest req = RAFTCRON__RUN_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.job = (char *)(job != NULL ? job : "");
    req.state = (char *)(state != NULL ? state : "");
    req.limit = limit;
    req.stale = stale != 0;
    req.page_token = (char *)(page_token != NULL ? page_token : "");
    return readCall(c, "Run.List", &req.base, &raftcron__run_list_response__descriptor,
                    (void **)out);
}

int rc_dlq_list_page(struct rc_client *c, const char *ns, uint32_t limit, const char *page_token,
                     int stale, struct Raftcron__RunListResponse **out)
{
    Raftcron__DlqListRequest req = RAFTCRON__DLQ_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.limit = limit;
    req.stale = stale != 0;
    req.page_token = (char *)(page_token != NULL ? page_token : "");
    return readCall(c, "Dlq.List", &req.base, &raftcron__run_list_response__descriptor,
                    (void **)out);
}

int rc_decision_list_page(struct rc_client *c, const char *ns, const char *job, uint32_t limit,
                          const char *page_token, int stale,
                          struct Raftcron__DecisionListResponse **out)
{
    if (job == NULL || job[0] == '\0') {
        *out = NULL;
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "Decision.List: no job name");
    }
    Raftcron__DecisionListRequest req = RAFTCRON__DECISION_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.job = (char *)job;
    req.limit = limit;
    req.stale = stale != 0;
    req.page_token = (char *)(page_token != NULL ? page_token : "");
    return readCall(c, "Decision.List", &req.base, &raftcron__decision_list_response__descriptor,
                    (void **)out);
}

int rc_job_list_page(struct rc_client *c, const char *ns, uint32_t limit, const char *page_token,
                     int stale, struct Raftcron__JobListResponse **out)
{
    Raftcron__JobListRequest req = RAFTCRON__JOB_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.limit = limit;
    req.stale = stale != 0;
    req.page_token = (char *)(page_token != NULL ? page_token : "");
    return readCall(c, "Job.List", &req.base, &raftcron__job_list_response__descriptor,
                    (void **)out);
}

int rc_job_stats(struct rc_client *c, const char *ns, const char *name, int stale,
                 struct Raftcron__JobStatsResponse **out)
{
    if (name == NULL || name[0] == '\0') {
        *out = NULL;
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "Job.Stats: no job name");
    }
    Raftcron__JobRequest req = RAFTCRON__JOB_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.name = (char *)name;
    req.stale = stale != 0;
    return readCall(c, "Job.Stats", &req.base, &raftcron__job_stats_response__descriptor,
                    (void **)out);
}

int rc_run_get(struct rc_client *c, uint64_t id, int stale, struct Raftcron__Run **out)
{
    *out = NULL;
    Raftcron__RunGetRequest req = RAFTCRON__RUN_GET_REQUEST__INIT;
    req.id = id;
    req.stale = stale != 0;
    Raftcron__RunResponse *m;
    int rv = readCall(c, "Run.Get", &req.base, &raftcron__run_response__descriptor, (void **)&m);
    if (rv != 0) {
        return rv;
    }
    *out = m->run;
    m->run = NULL;
    raftcron__run_response__free_unpacked(m, NULL);
    return *out != NULL
               ? 0
               : clientFail(c, RC_EPARSE, RC_STATUS_INTERNAL, "Run.Get: reply without a run");
}

int rc_decision_list(struct rc_client *c, const char *ns, const char *job, uint32_t limit,
                     int stale, struct Raftcron__DecisionListResponse **out)
{
    if (job == NULL || job[0] == '\0') {
        *out = NULL;
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "Decision.List: no job name");
    }
    Raftcron__DecisionListRequest req = RAFTCRON__DECISION_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.job = (char *)job;
    req.limit = limit;
    req.stale = stale != 0;
    return readCall(c, "Decision.List", &req.base, &raftcron__decision_list_response__descriptor,
                    (void **)out);
}

int rc_dlq_list(struct rc_client *c, const char *ns, uint32_t limit, int stale,
                struct Raftcron__RunListResponse **out)
{
    Raftcron__DlqListRequest req = RAFTCRON__DLQ_LIST_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.limit = limit;
    req.stale = stale != 0;
    return readCall(c, "Dlq.List", &req.base, &raftcron__run_list_response__descriptor,
                    (void **)out);
}

int rc_job_next(struct rc_client *c, const char *ns, const char *name, uint32_t n, int stale,
                struct Raftcron__JobNextResponse **out)
{
    if (name == NULL || name[0] == '\0') {
        *out = NULL;
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "Job.Next: no job name");
    }
    Raftcron__JobNextRequest req = RAFTCRON__JOB_NEXT_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.name = (char *)name;
    req.n = n;
    req.stale = stale != 0;
    return readCall(c, "Job.Next", &req.base, &raftcron__job_next_response__descriptor,
                    (void **)out);
}

int rc_cluster_status(struct rc_client *c, int stale, struct Raftcron__ClusterStatus **out)
{
    Raftcron__ClusterStatusRequest req = RAFTCRON__CLUSTER_STATUS_REQUEST__INIT;
    req.stale = stale != 0;
    ProtobufCMessage *m;
    int rv = invoke(c, "Cluster.Status", &req.base, 1, &raftcron__cluster_status__descriptor, &m);
    *out = rv == 0 ? (Raftcron__ClusterStatus *)m : NULL;
    return rv;
}

int rc_cluster_digest(struct rc_client *c, int stale, struct Raftcron__DigestResponse **out)
{
    Raftcron__DigestRequest req = RAFTCRON__DIGEST_REQUEST__INIT;
    req.stale = stale != 0;
    ProtobufCMessage *m;
    int rv = invoke(c, "Cluster.Digest", &req.base, 1, &raftcron__digest_response__descriptor, &m);
    *out = rv == 0 ? (Raftcron__DigestResponse *)m : NULL;
    return rv;
}

static int memberCall(struct rc_client *c, const char *method, uint64_t id, const char *raft_addr,
                      const char *rpc_addr, int standby, int force)
{
    Raftcron__MemberRequest req = RAFTCRON__MEMBER_REQUEST__INIT;
    req.id = id;
    req.raft_addr = (char *)(raft_addr != NULL ? raft_addr : "");
    req.rpc_addr = (char *)(rpc_addr != NULL ? rpc_addr : "");
    req.standby = standby != 0;
    req.force = force != 0;
    return invoke(c, method, &req.base, 0, NULL, NULL);
}

int rc_member_add(struct rc_client *c, uint64_t id, const char *raft_addr, const char *rpc_addr,
                  int standby)
{
    if (id == 0 || raft_addr == NULL || rpc_addr == NULL) {
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT,
                          "Member.Add: needs an id > 0, a raft address and an rpc address");
    }
    return memberCall(c, "Member.Add", id, raft_addr, rpc_addr, standby, 0);
}

int rc_member_remove(struct rc_client *c, uint64_t id, int force)
{
    return memberCall(c, "Member.Remove", id, NULL, NULL, 0, force);
}

int rc_member_promote(struct rc_client *c, uint64_t id)
{
    return memberCall(c, "Member.Promote", id, NULL, NULL, 0, 0);
}

int rc_member_demote(struct rc_client *c, uint64_t id, int force)
{
    return memberCall(c, "Member.Demote", id, NULL, NULL, 0, force);
}

int rc_member_transfer(struct rc_client *c, uint64_t id)
{
    return memberCall(c, "Member.Transfer", id, NULL, NULL, 0, 0);
}

int rc_job_run_now(struct rc_client *c, const char *ns, const char *name, int force,
                   uint64_t *run_id)
{
    Raftcron__RunNowRequest req = RAFTCRON__RUN_NOW_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.name = (char *)(name != NULL ? name : "");
    req.force = force != 0;
    Raftcron__RunNowResponse *m;
    /* Not idempotent: a repeated request would start a second manual run. */
    int rv = invoke(c, "Job.RunNow", &req.base, 0, &raftcron__run_now_response__descriptor,
                    (ProtobufCMessage **)&m);
    if (rv != 0) {
        return rv;
    }
    if (run_id != NULL) {
        *run_id = m->run_id;
    }
    raftcron__run_now_response__free_unpacked(m, NULL);
    return 0;
}

int rc_dlq_retry(struct rc_client *c, uint64_t id, uint64_t *run_id)
{
    Raftcron__RunIdRequest req = RAFTCRON__RUN_ID_REQUEST__INIT;
    req.id = id;
    Raftcron__RunNowResponse *m;
    int rv = invoke(c, "Dlq.Retry", &req.base, 0, &raftcron__run_now_response__descriptor,
                    (ProtobufCMessage **)&m);
    if (rv != 0) {
        return rv;
    }
    if (run_id != NULL) {
        *run_id = m->run_id;
    }
    raftcron__run_now_response__free_unpacked(m, NULL);
    return 0;
}

int rc_run_cancel(struct rc_client *c, uint64_t id)
{
    Raftcron__RunIdRequest req = RAFTCRON__RUN_ID_REQUEST__INIT;
    req.id = id;
    /* Idempotent: cancelling a cancelled run is refused as stale, never cancels another. */
    return invoke(c, "Run.Cancel", &req.base, 1, &raftcron__empty__descriptor, NULL);
}

int rc_job_backfill(struct rc_client *c, const char *ns, const char *name, int64_t from_us,
                    int64_t to_us, uint32_t limit, int dry_run,
                    struct Raftcron__BackfillResponse **out)
{
    *out = NULL;
    if (name == NULL || name[0] == '\0') {
        return clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "Job.Backfill: no job name");
    }
    Raftcron__BackfillRequest req = RAFTCRON__BACKFILL_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.name = (char *)name;
    req.from_us = from_us;
    req.to_us = to_us;
    req.limit = limit;
    req.dry_run = dry_run != 0;
    /* Idempotent: apply fires an instant at most once, so a repeat finds it decided. */
    ProtobufCMessage *m;
    int rv = invoke(c, "Job.Backfill", &req.base, 1, &raftcron__backfill_response__descriptor, &m);
    *out = rv == 0 ? (Raftcron__BackfillResponse *)m : NULL;
    return rv;
}
