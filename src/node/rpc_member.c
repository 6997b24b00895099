/*
 * Member.* handlers: membership changes on the leader. Adding is three committed steps —
 * record the RPC address (MemberSet), raft_add (as spare), raft_assign (voter or standby; raft
 * catches the new server up before it counts) — each started when the previous one is done.
 *
 * Removing or demoting a voter is refused (FAILED_PRECONDITION) when it would leave no voter,
 * or when the voters left that acknowledge a fresh barrier within ACKS_WAIT_MS are not a
 * majority of the new configuration: such a change commits (the old majority agrees) and then
 * leaves a cluster that can elect no leader. etcd's strict reconfiguration check; --force
 * skips it. Every change that completes is logged on the leader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "acks.h"
#include "log.h"
#include "node.h"
#include "rpc.h"

enum add_step { ADD_RECORD = 0, ADD_RAFT, ADD_ASSIGN, ADD_DONE };

struct member_op {
    struct rpc_call *call;
    enum add_step step;
    uint64_t id;
    int role;         /* add / promote / demote: the role asked for */
    bool remove;      /* remove rather than demote (quorum check) */
    uv_timer_t timer; /* quorum probe */
    uint64_t target;  /* index the voters left must have acknowledged */
    unsigned waited_ms;
};

static const struct raft_server *findServer(struct cluster *c, uint64_t id)
{
    const struct raft_configuration *conf = clusterConfiguration(c);
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id == id) {
            return &conf->servers[i];
        }
    }
    return NULL;
}

static void opFail(struct member_op *op, int rv, const char *what, const char *msg)
{
    struct rpc_call *call = op->call;
    free(op);
    if (rv == RC_ENOTLEADER) {
        rpcReplyNotLeader(call);
        return;
    }
    if (rv == RC_ESTALE) {
        rpcReplyf(call, RC_STATUS_FAILED_PRECONDITION,
                  "%s: another configuration change is in progress; retry", what);
        return;
    }
    rpcReplyf(call, rpcStatusOf(rv), "%s: %s", what, msg != NULL ? msg : rc_strerror(rv));
}

static void addStep(struct member_op *op);

static void addChanged(void *data, int status, const char *msg)
{
    struct member_op *op = data;
    if (status != 0 && op->step == ADD_ASSIGN && status != RC_ENOTLEADER && status != RC_ESTALE) {
        /* Raft added the server as a spare but could not catch it up (not running, wrong
         * address): say what is left behind and how to finish or undo it. */
        struct rpc_call *call = op->call;
        unsigned long long id = (unsigned long long)op->id;
        logWarn("member not caught up", "id", "%llu", id, "error", "%s",
                msg != NULL ? msg : rc_strerror(status));
        free(op);
        rpcReplyf(call, RC_STATUS_UNAVAILABLE,
                  "member %llu is in the configuration as a spare but could not be caught up "
                  "(%s): start it with --join, or undo with 'member remove %llu'",
                  id, msg != NULL && msg[0] != '\0' ? msg : rc_strerror(status), id);
        return;
    }
    if (status != 0) {
        opFail(op, status, op->step == ADD_ASSIGN ? "raft assign" : "raft add", msg);
        return;
    }
    op->step++;
    addStep(op);
}

static void recordApplied(void *data, int status, const struct rc_fsm_result *res)
{
    struct member_op *op = data;
    (void)res;
    if (status != 0) {
        opFail(op, status, "record member address", NULL);
        return;
    }
    op->step = ADD_RAFT;
    addStep(op);
}

static void addStep(struct member_op *op)
{
    struct rpc_call *call = op->call;
    Raftcron__MemberRequest *req = (Raftcron__MemberRequest *)call->msg;
    struct cluster *c = &call->node->cluster;
    const struct raft_server *s = findServer(c, op->id);
    int rv = 0;
    switch (op->step) {
    case ADD_RECORD: {
        void *buf;
        size_t len;
        rv = commandEncodeMemberSet(op->id, req->rpc_addr, false, &buf, &len);
        if (rv == 0) {
            rv = clusterPropose(c, buf, len, recordApplied, op);
            free(buf);
        }
        if (rv != 0) {
            opFail(op, rv, "record member address", NULL);
        }
        return;
    }
    case ADD_RAFT:
        if (s != NULL) {
            op->step = ADD_ASSIGN;
            addStep(op);
            return;
        }
        rv = clusterAdd(c, op->id, req->raft_addr, addChanged, op);
        break;
    case ADD_ASSIGN:
        if (s != NULL && s->role == op->role) {
            op->step = ADD_DONE;
            addStep(op);
            return;
        }
        rv = clusterAssign(c, op->id, op->role, addChanged, op);
        break;
    case ADD_DONE: {
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        orphanRemember(&call->node->orphan);
        logInfo("member added", "id", "%llu", (unsigned long long)op->id, "role", "%s",
                clusterRoleName(op->role), "raft_addr", "%s", req->raft_addr, "rpc_addr", "%s",
                req->rpc_addr);
        free(op);
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
        return;
    }
    }
    if (rv != 0) {
        opFail(op, rv, op->step == ADD_RAFT ? "raft add" : "raft assign", c->errmsg);
    }
}

static void addOrJoin(struct rpc_call *call, bool join)
{
    Raftcron__MemberRequest *req =
        (Raftcron__MemberRequest *)rpcUnpack(call, &raftcron__member_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (req->id == 0 || req->raft_addr[0] == '\0' || req->rpc_addr[0] == '\0') {
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "%s: id, raft_addr and rpc_addr are required",
                  call->req->method);
        return;
    }
    struct cluster *c = &call->node->cluster;
    if (!clusterIsLeader(c)) {
        rpcReplyNotLeader(call);
        return;
    }
    const struct raft_server *s = findServer(c, req->id);
    if (s != NULL && strcmp(s->address, req->raft_addr) != 0) {
        rpcReplyf(call, RC_STATUS_ALREADY_EXISTS, "member %llu already exists with address %s",
                  (unsigned long long)req->id, s->address);
        return;
    }
    const struct raft_configuration *conf = clusterConfiguration(c);
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id != req->id &&
            strcmp(conf->servers[i].address, req->raft_addr) == 0) {
            rpcReplyf(call, RC_STATUS_ALREADY_EXISTS, "raft address %s is member %llu's",
                      req->raft_addr, (unsigned long long)conf->servers[i].id);
            return;
        }
    }
    int role = req->standby ? RAFT_STANDBY : RAFT_VOTER;
    if (s != NULL && !join && s->role == role) {
        rpcReplyf(call, RC_STATUS_ALREADY_EXISTS, "member %llu already exists",
                  (unsigned long long)req->id);
        return;
    }
    if (s != NULL && !join && s->role != RAFT_SPARE) {
        rpcReplyf(call, RC_STATUS_ALREADY_EXISTS,
                  "member %llu already exists as a %s; use 'member %s %llu'",
                  (unsigned long long)req->id, clusterRoleName(s->role),
                  role == RAFT_VOTER ? "promote" : "demote", (unsigned long long)req->id);
        return;
    }
    struct member_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    op->call = call;
    op->id = req->id;
    op->role = role;
    op->step = ADD_RECORD;
    addStep(op);
}

void rpcMemberAdd(struct rpc_call *call)
{
    addOrJoin(call, false);
}

void rpcMemberJoin(struct rpc_call *call)
{
    addOrJoin(call, true);
}

static void changeDone(void *data, int status, const char *msg)
{
    struct member_op *op = data;
    if (status != 0) {
        opFail(op, status, op->call->req->method, msg);
        return;
    }
    struct rpc_call *call = op->call;
    orphanRemember(&call->node->orphan);
    if (op->remove) {
        logInfo("member removed", "id", "%llu", (unsigned long long)op->id);
    } else {
        logInfo("member role changed", "id", "%llu", (unsigned long long)op->id, "role", "%s",
                clusterRoleName(op->role));
    }
    free(op);
    Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
    rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
}

/* Shared by remove / promote / demote: validate, then one configuration change. */
static struct member_op *changeBegin(struct rpc_call *call, const struct raft_server **server)
{
    Raftcron__MemberRequest *req =
        (Raftcron__MemberRequest *)rpcUnpack(call, &raftcron__member_request__descriptor);
    if (req == NULL) {
        return NULL;
    }
    struct cluster *c = &call->node->cluster;
    if (!clusterIsLeader(c)) {
        rpcReplyNotLeader(call);
        return NULL;
    }
    *server = findServer(c, req->id);
    if (*server == NULL) {
        rpcReplyf(call, RC_STATUS_NOT_FOUND, "member %llu is not in the configuration",
                  (unsigned long long)req->id);
        return NULL;
    }
    struct member_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return NULL;
    }
    op->call = call;
    op->id = req->id;
    return op;
}

static void removed(void *data, int status, const char *msg);

/* The configuration change itself, once allowed. */
static void changeStart(struct member_op *op)
{
    struct rpc_call *call = op->call;
    struct cluster *c = &call->node->cluster;
    int rv = op->remove ? clusterRemove(c, op->id, removed, op)
                        : clusterAssign(c, op->id, op->role, changeDone, op);
    if (rv != 0) {
        opFail(op, rv, call->req->method, c->errmsg);
    }
}

/* Voters of the configuration without op->id, and how many of them have acknowledged
 * op->target (this node counts as acknowledging). */
/* Voters of the configuration without op->id, and how many of them have acknowledged target
 * (this node counts as acknowledging). */
static void votersLeft(const struct member_op *op, uint64_t target, unsigned *voters,
                       unsigned *acked)
{
    struct node *n = op->call->node;
    struct cluster *c = &n->cluster;
    const struct raft_configuration *conf = clusterConfiguration(c);
    *voters = 0;
    *acked = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        if (s->role != RAFT_VOTER || s->id == op->id) {
            continue;
        }
        (*voters)++;
        if (s->id == n->opts.id || (target > 0 && clusterMatchIndex(c, s->id) >= target)) {
            (*acked)++;
        }
    }
}

static bool majorityLeft(struct node *n, uint64_t target, void *data)
{
    (void)n;
    unsigned voters, acked;
    votersLeft(data, target, &voters, &acked);
    return acked * 2 > voters;
}

static void quorumAcked(struct node *n, uint64_t target, void *data)
{
    struct member_op *op = data;
    struct rpc_call *call = op->call;
    if (!clusterIsLeader(&n->cluster)) {
        free(op);
        rpcReplyNotLeader(call);
        return;
    }
    unsigned voters, acked;
    votersLeft(op, target, &voters, &acked);
    if (acked * 2 > voters) {
        changeStart(op);
        return;
    }
    unsigned long long id = (unsigned long long)op->id;
    free(op);
    rpcReplyf(call, RC_STATUS_FAILED_PRECONDITION,
              "%s: without voter %llu only %u of the %u voters left answer, not a majority: the "
              "cluster could elect no leader. Bring members back first, or use --force",
              call->req->method, id, acked, voters);
}

/* After a barrier: give the voters left ACKS_WAIT_MS to acknowledge it. */
static void quorumBarrier(void *data, int status, const char *msg)
{
    struct member_op *op = data;
    if (status != 0) {
        opFail(op, status, "quorum check", msg);
        return;
    }
    int rv = acksAwait(op->call->node, majorityLeft, quorumAcked, op);
    if (rv != 0) {
        opFail(op, rv, "quorum check", NULL);
    }
}

/* Remove or demote: refuse what leaves no voter; unless forced, check the quorum first. */
static void removeOrDemote(struct rpc_call *call, bool remove)
{
    const struct raft_server *s;
    struct member_op *op = changeBegin(call, &s);
    if (op == NULL) {
        return;
    }
    Raftcron__MemberRequest *req = (Raftcron__MemberRequest *)call->msg;
    op->remove = remove;
    op->role = RAFT_STANDBY;
    if (!remove && s->role == RAFT_STANDBY) {
        free(op);
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
        return;
    }
    if (s->role != RAFT_VOTER) {
        changeStart(op); /* a standby or spare never counts towards a quorum */
        return;
    }
    unsigned voters, acked;
    votersLeft(op, 0, &voters, &acked);
    if (voters == 0) {
        free(op);
        rpcReplyf(call, RC_STATUS_FAILED_PRECONDITION,
                  "%s: member %llu is the last voter: the cluster would have none left",
                  call->req->method, (unsigned long long)req->id);
        return;
    }
    if (req->force) {
        logWarn("membership change forced", "id", "%llu", (unsigned long long)req->id, "method",
                "%s", call->req->method);
        changeStart(op);
        return;
    }
    struct cluster *c = &call->node->cluster;
    int rv = clusterBarrier(c, quorumBarrier, op);
    if (rv != 0) {
        opFail(op, rv, "quorum check", c->errmsg);
    }
}

void rpcMemberPromote(struct rpc_call *call)
{
    const struct raft_server *s;
    struct member_op *op = changeBegin(call, &s);
    if (op == NULL) {
        return;
    }
    op->role = RAFT_VOTER;
    if (s->role == RAFT_VOTER) {
        free(op);
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
        return;
    }
    changeStart(op);
}

void rpcMemberDemote(struct rpc_call *call)
{
    removeOrDemote(call, false);
}

static void forgetApplied(void *data, int status, const struct rc_fsm_result *res)
{
    (void)res;
    changeDone(data, status == RC_ENOTLEADER ? 0 : status, "");
}

static void removed(void *data, int status, const char *msg)
{
    struct member_op *op = data;
    if (status != 0) {
        opFail(op, status, "Member.Remove", msg);
        return;
    }
    /* Forget the RPC address too; if this node just removed itself it is no longer leader,
     * and the address entry is harmless (it is only a hint). */
    struct cluster *c = &op->call->node->cluster;
    void *buf;
    size_t len;
    if (commandEncodeMemberSet(op->id, NULL, true, &buf, &len) == 0) {
        int rv = clusterPropose(c, buf, len, forgetApplied, op);
        free(buf);
        if (rv == 0) {
            return;
        }
    }
    changeDone(op, 0, "");
}

void rpcMemberRemove(struct rpc_call *call)
{
    removeOrDemote(call, true);
}

static void transferred(void *data, int status, const char *msg)
{
    struct member_op *op = data;
    struct rpc_call *call = op->call;
    free(op);
    (void)status;
    (void)msg;
    uint64_t leader = clusterLeader(&call->node->cluster, NULL);
    if (leader == call->node->opts.id || leader == 0) {
        rpcReply(call, RC_STATUS_ABORTED,
                 "leadership transfer did not complete within the election timeout", NULL);
        return;
    }
    logInfo("leadership transferred", "to", "%llu", (unsigned long long)leader);
    Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
    rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
}

void rpcMemberTransfer(struct rpc_call *call)
{
    Raftcron__MemberRequest *req =
        (Raftcron__MemberRequest *)rpcUnpack(call, &raftcron__member_request__descriptor);
    if (req == NULL) {
        return;
    }
    struct cluster *c = &call->node->cluster;
    if (!clusterIsLeader(c)) {
        rpcReplyNotLeader(call);
        return;
    }
    if (req->id != 0) {
        const struct raft_server *s = findServer(c, req->id);
        if (s == NULL) {
            rpcReplyf(call, RC_STATUS_NOT_FOUND, "member %llu is not in the configuration",
                      (unsigned long long)req->id);
            return;
        }
        if (s->role != RAFT_VOTER) {
            rpcReplyf(call, RC_STATUS_FAILED_PRECONDITION,
                      "member %llu is a %s: only a voter can lead ('member promote %llu' first)",
                      (unsigned long long)req->id, clusterRoleName(s->role),
                      (unsigned long long)req->id);
            return;
        }
    }
    struct member_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    op->call = call;
    op->id = req->id;
    int rv = clusterTransfer(c, req->id, transferred, op);
    if (rv != 0) {
        opFail(op, rv, "Member.Transfer", c->errmsg);
    }
}
