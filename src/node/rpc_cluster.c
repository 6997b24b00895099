/* Cluster.Status / Member.List, Cluster.Digest and Cluster.Snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/fsm.h"
#include "node.h"
#include "raft/acks.h"
#include "rpc.h"

/*
 * "Reachable" must be an observation, not a guess: on the leader, a member is reachable when it
 * acknowledged, within ACKS_WAIT_MS (acks.h), the barrier entry this very request appended (libraft
 * exposes no heartbeat times, and match indexes alone stay current for a dead member of an idle
 * cluster). A follower answering a --stale status knows only itself and whether it hears from
 * a leader.
 */

static bool reachable(struct node *n, const struct cluster_member *s, uint64_t target)
{
    struct cluster *c = &n->cluster;
    if (s->id == n->opts.id) {
        return true;
    }
    if (clusterIsLeader(c)) {
        return target > 0 && clusterMatchIndex(c, s->id) >= target;
    }
    return s->id == clusterLeader(c, NULL);
}

static void statusReply(struct rpc_call *call, uint64_t target)
{
    struct node *n = call->node;
    struct cluster *c = &n->cluster;
    unsigned members = clusterMemberCount(c);
    Raftcron__ClusterStatus st = RAFTCRON__CLUSTER_STATUS__INIT;
    Raftcron__MemberStatus *ms = calloc(members > 0 ? members : 1, sizeof *ms);
    Raftcron__MemberStatus **mp = calloc(members > 0 ? members : 1, sizeof *mp);
    if (ms == NULL || mp == NULL) {
        free(ms);
        free(mp);
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    const char *leader_raft = NULL;
    st.node_id = n->opts.id;
    st.node_state = (char *)clusterStateName(c);
    st.leader_id = clusterLeader(c, &leader_raft);
    st.leader_raft_addr = (char *)(leader_raft != NULL ? leader_raft : "");
    const char *leader_rpc = nodeLeaderRpcAddr(n);
    st.leader_rpc_addr = (char *)(leader_rpc != NULL ? leader_rpc : "");
    st.term = clusterTerm(c);
    st.commit_index = clusterCommitIndex(c);
    st.applied_index = clusterAppliedIndex(c);
    char cluster_id[20] = "";
    if (clusterId(c) != 0) {
        snprintf(cluster_id, sizeof cluster_id, "%016llx", (unsigned long long)clusterId(c));
    }
    st.cluster_id = cluster_id;
    for (unsigned i = 0; i < members; i++) {
        struct cluster_member s = clusterMemberAt(c, i);
        Raftcron__MemberStatus *m = &ms[i];
        raftcron__member_status__init(m);
        m->id = s.id;
        m->raft_addr = (char *)s.raft_addr;
        const char *rpc = fsmMemberRpcAddr(c->core, s.id);
        m->rpc_addr = (char *)(rpc != NULL ? rpc : "");
        m->role = (char *)clusterRoleName(s.role);
        m->reachable = reachable(n, &s, target);
        m->match_index = s.id == n->opts.id ? clusterLastIndex(c) : clusterMatchIndex(c, s.id);
        mp[i] = m;
    }
    st.members = mp;
    st.n_members = members;
    rpcReply(call, RC_STATUS_OK, NULL, &st.base);
    free(ms);
    free(mp);
}

/* Every member but spares acknowledged target (acks.h). */
static bool allCaughtUp(struct cluster *c, uint64_t target, void *data)
{
    struct rpc_call *call = data;
    unsigned members = clusterMemberCount(c);
    for (unsigned i = 0; i < members; i++) {
        struct cluster_member s = clusterMemberAt(c, i);
        if (s.role != CLUSTER_SPARE && !reachable(call->node, &s, target)) {
            return false;
        }
    }
    return true;
}

static void statusAcked(struct cluster *c, uint64_t target, void *data)
{
    (void)c;
    statusReply(data, target);
}

static void statusRead(struct rpc_call *call)
{
    struct node *n = call->node;
    Raftcron__ClusterStatusRequest *req = (Raftcron__ClusterStatusRequest *)call->msg;
    if (req->stale || !clusterIsLeader(&n->cluster)) {
        statusReply(call, 0);
        return;
    }
    if (acksAwait(&n->cluster, allCaughtUp, statusAcked, call) != 0) {
        statusReply(call, clusterLastIndex(&n->cluster));
    }
}

void rpcClusterStatus(struct rpc_call *call)
{
    Raftcron__ClusterStatusRequest *req = (Raftcron__ClusterStatusRequest *)rpcUnpack(
        call, &raftcron__cluster_status_request__descriptor);
    if (req != NULL) {
        rpcRead(call, req->stale, statusRead);
    }
}

static void digestRead(struct rpc_call *call)
{
    struct node *n = call->node;
    Raftcron__DigestResponse d = RAFTCRON__DIGEST_RESPONSE__INIT;
    d.digest = fsmDigest(n->cluster.core);
    d.applied_index = fsmAppliedIndex(n->cluster.core);
    d.node_id = n->opts.id;
    d.jobs = fsmJobCount(n->cluster.core);
    rpcReply(call, RC_STATUS_OK, NULL, &d.base);
}

void rpcClusterDigest(struct rpc_call *call)
{
    Raftcron__DigestRequest *req =
        (Raftcron__DigestRequest *)rpcUnpack(call, &raftcron__digest_request__descriptor);
    if (req != NULL) {
        rpcRead(call, req->stale, digestRead);
    }
}

/* ---- Cluster.Snapshot ------------------------------------------------------------------------ */

/* Well under the frame limit, and small enough that a terminal sees the progress move. */
#define SNAPSHOT_CHUNK (1u << 20)

static void snapshotChunk(struct rpc_call *call, uint64_t offset)
{
    struct node *n = call->node;
    Raftcron__ClusterSnapshotResponse r = RAFTCRON__CLUSTER_SNAPSHOT_RESPONSE__INIT;
    char cluster_id[20] = "";
    if (clusterId(&n->cluster) != 0) {
        snprintf(cluster_id, sizeof cluster_id, "%016llx",
                 (unsigned long long)clusterId(&n->cluster));
    }
    size_t left = n->held.len - (size_t)offset;
    size_t chunk = left < SNAPSHOT_CHUNK ? left : SNAPSHOT_CHUNK;
    r.snapshot_id = n->held.id;
    r.offset = offset;
    r.data.data = n->held.buf + offset;
    r.data.len = chunk;
    r.total_len = n->held.len;
    r.applied_index = n->held.index;
    r.term = n->held.term;
    r.cluster_id = cluster_id;
    r.node_id = n->opts.id;
    r.taken_us = n->held.taken_us;
    r.snapshot_format = fsmSnapshotFormat();
    rpcReply(call, RC_STATUS_OK, NULL, &r.base);
    if (offset + chunk == n->held.len) {
        /* The last chunk went out: a client that lost it starts again. */
        free(n->held.buf);
        n->held.buf = NULL;
    }
}

/* After the barrier: the state now holds every write acknowledged before the request. */
static void snapshotTake(struct rpc_call *call)
{
    struct node *n = call->node;
    void *buf;
    size_t len;
    if (fsmSnapshot(n->cluster.core, &buf, &len) != 0) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    free(n->held.buf);
    n->held.buf = buf;
    n->held.len = len;
    n->held.index = fsmAppliedIndex(n->cluster.core);
    n->held.term = clusterTerm(&n->cluster);
    n->held.taken_us = rpcNow();
    n->held.id = 0;
    while (n->held.id == 0) {
        if (getrandom(&n->held.id, sizeof n->held.id, 0) != (ssize_t)sizeof n->held.id) {
            n->held.id = (uint64_t)n->held.taken_us ^ n->held.index;
        }
    }
    snapshotChunk(call, 0);
}

void rpcClusterSnapshot(struct rpc_call *call)
{
    Raftcron__ClusterSnapshotRequest *req = (Raftcron__ClusterSnapshotRequest *)rpcUnpack(
        call, &raftcron__cluster_snapshot_request__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    if (req->snapshot_id == 0) {
        rpcRead(call, false, snapshotTake);
        return;
    }
    if (n->held.buf == NULL || n->held.id != req->snapshot_id) {
        rpcReplyf(call, RC_STATUS_FAILED_PRECONDITION,
                  "snapshot %016llx is not held by node %llu (taken elsewhere, replaced by a newer "
                  "one, or already sent in full): start again",
                  (unsigned long long)req->snapshot_id, (unsigned long long)n->opts.id);
        return;
    }
    if (req->offset >= n->held.len) {
        rpcReplyf(call, RC_STATUS_OUT_OF_RANGE, "offset %llu is past the snapshot's %zu bytes",
                  (unsigned long long)req->offset, n->held.len);
        return;
    }
    snapshotChunk(call, req->offset);
}
