/* Cluster.Status / Member.List and Cluster.Digest. */
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/fsm.h"
#include "acks.h"
#include "node.h"
#include "rpc.h"

/*
 * "Reachable" must be an observation, not a guess: on the leader, a member is reachable when it
 * acknowledged, within ACKS_WAIT_MS (acks.h), the barrier entry this very request appended (libraft
 * exposes no heartbeat times, and match indexes alone stay current for a dead member of an idle
 * cluster). A follower answering a --stale status knows only itself and whether it hears from
 * a leader.
 */

static bool reachable(struct node *n, const struct raft_server *s, uint64_t target)
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
    const struct raft_configuration *conf = clusterConfiguration(c);
    Raftcron__ClusterStatus st = RAFTCRON__CLUSTER_STATUS__INIT;
    Raftcron__MemberStatus *ms = calloc(conf->n > 0 ? conf->n : 1, sizeof *ms);
    Raftcron__MemberStatus **mp = calloc(conf->n > 0 ? conf->n : 1, sizeof *mp);
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
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        Raftcron__MemberStatus *m = &ms[i];
        raftcron__member_status__init(m);
        m->id = s->id;
        m->raft_addr = s->address;
        const char *rpc = fsmMemberRpcAddr(c->core, s->id);
        m->rpc_addr = (char *)(rpc != NULL ? rpc : "");
        m->role = (char *)clusterRoleName(s->role);
        m->reachable = reachable(n, s, target);
        m->match_index = s->id == n->opts.id ? clusterLastIndex(c) : clusterMatchIndex(c, s->id);
        mp[i] = m;
    }
    st.members = mp;
    st.n_members = conf->n;
    rpcReply(call, RC_STATUS_OK, NULL, &st.base);
    free(ms);
    free(mp);
}

/* Every member but spares acknowledged target (acks.h). */
static bool allCaughtUp(struct node *n, uint64_t target, void *data)
{
    (void)data;
    const struct raft_configuration *conf = clusterConfiguration(&n->cluster);
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        if (s->role != RAFT_SPARE && !reachable(n, s, target)) {
            return false;
        }
    }
    return true;
}

static void statusAcked(struct node *n, uint64_t target, void *data)
{
    (void)n;
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
    if (acksAwait(n, allCaughtUp, statusAcked, call) != 0) {
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
