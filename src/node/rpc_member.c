/*
 * Member.* handlers: membership changes on the leader. Adding is three committed steps —
 * record the RPC address (MemberSet), raft_add (as spare), raft_assign (voter or standby; raft
 * catches the new server up before it counts) — each started when the previous one is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "node.h"
#include "rpc.h"

enum add_step { ADD_RECORD = 0, ADD_RAFT, ADD_ASSIGN, ADD_DONE };

struct member_op {
    struct rpc_call *call;
    enum add_step step;
    uint64_t id;
    int role;
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
    int role = req->standby ? RAFT_STANDBY : RAFT_VOTER;
    if (s != NULL && !join && s->role == role) {
        rpcReplyf(call, RC_STATUS_ALREADY_EXISTS, "member %llu already exists",
                  (unsigned long long)req->id);
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

static void assignRole(struct rpc_call *call, int role)
{
    const struct raft_server *s;
    struct member_op *op = changeBegin(call, &s);
    if (op == NULL) {
        return;
    }
    if (s->role == role) {
        free(op);
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
        return;
    }
    struct cluster *c = &call->node->cluster;
    int rv = clusterAssign(c, op->id, role, changeDone, op);
    if (rv != 0) {
        opFail(op, rv, call->req->method, c->errmsg);
    }
}

void rpcMemberPromote(struct rpc_call *call)
{
    assignRole(call, RAFT_VOTER);
}

void rpcMemberDemote(struct rpc_call *call)
{
    assignRole(call, RAFT_STANDBY);
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
    const struct raft_server *s;
    struct member_op *op = changeBegin(call, &s);
    if (op == NULL) {
        return;
    }
    struct cluster *c = &call->node->cluster;
    int rv = clusterRemove(c, op->id, removed, op);
    if (rv != 0) {
        opFail(op, rv, "Member.Remove", c->errmsg);
    }
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
