/*
 * Member.* handlers: translate the request for raft/membership.h, which decides and carries
 * out the change on the leader, and its outcome into the reply. Every change that completes is
 * logged here, and the members' RPC addresses are kept for a node cut off later (orphan.h).
 */
#include <stdlib.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "log.h"
#include "node.h"
#include "raft/membership.h"
#include "rpc.h"

typedef bool (*member_fn)(struct cluster *c, const struct membership_request *req,
                          struct membership_result *res, membership_done_cb cb, void *data);

static void logOutcome(struct node *n, const Raftcron__MemberRequest *req, const char *method,
                       const struct membership_result *res)
{
    unsigned long long id = (unsigned long long)req->id;
    if (res->forced) {
        logWarn("membership change forced", "id", "%llu", id, "method", "%s", method);
    }
    switch (res->event) {
    case MEMBERSHIP_ADDED:
        logInfo("member added", "id", "%llu", id, "role", "%s", clusterRoleName(res->role),
                "raft_addr", "%s", req->raft_addr, "rpc_addr", "%s", req->rpc_addr);
        break;
    case MEMBERSHIP_REMOVED:
        logInfo("member removed", "id", "%llu", id);
        break;
    case MEMBERSHIP_ROLE_CHANGED:
        logInfo("member role changed", "id", "%llu", id, "role", "%s", clusterRoleName(res->role));
        break;
    case MEMBERSHIP_TRANSFERRED:
        logInfo("leadership transferred", "to", "%llu", (unsigned long long)res->leader);
        break;
    case MEMBERSHIP_STRANDED:
        logWarn("member not caught up", "id", "%llu", id, "error", "%s", res->cause);
        break;
    case MEMBERSHIP_UNCHANGED:
        break;
    }
    if (res->event == MEMBERSHIP_ADDED || res->event == MEMBERSHIP_REMOVED ||
        res->event == MEMBERSHIP_ROLE_CHANGED) {
        orphanRemember(&n->orphan);
    }
}

static void reply(struct rpc_call *call, const struct membership_result *res)
{
    logOutcome(call->node, (const Raftcron__MemberRequest *)call->msg, call->req->method, res);
    if (res->rv == RC_ENOTLEADER) {
        rpcReplyNotLeader(call);
        return;
    }
    if (res->rv != 0) {
        rpcReplyf(call, res->status != 0 ? res->status : rpcStatusOf(res->rv), "%s", res->message);
        return;
    }
    Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
    rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
}

static void done(void *data, const struct membership_result *res)
{
    reply(data, res);
}

/* Add and join need the three addresses before anything else is asked. */
static void member(struct rpc_call *call, member_fn fn, bool addresses)
{
    Raftcron__MemberRequest *req =
        (Raftcron__MemberRequest *)rpcUnpack(call, &raftcron__member_request__descriptor);
    if (req == NULL) {
        return;
    }
    if (addresses && (req->id == 0 || req->raft_addr[0] == '\0' || req->rpc_addr[0] == '\0')) {
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "%s: id, raft_addr and rpc_addr are required",
                  call->req->method);
        return;
    }
    struct membership_request mr = {.what = call->req->method,
                                    .id = req->id,
                                    .raft_addr = req->raft_addr,
                                    .rpc_addr = req->rpc_addr,
                                    .standby = req->standby,
                                    .force = req->force};
    struct membership_result res;
    if (!fn(&call->node->cluster, &mr, &res, done, call)) {
        reply(call, &res);
    }
}

static bool add(struct cluster *c, const struct membership_request *req,
                struct membership_result *res, membership_done_cb cb, void *data)
{
    return membershipAdd(c, req, false, res, cb, data);
}

static bool join(struct cluster *c, const struct membership_request *req,
                 struct membership_result *res, membership_done_cb cb, void *data)
{
    return membershipAdd(c, req, true, res, cb, data);
}

void rpcMemberAdd(struct rpc_call *call)
{
    member(call, add, true);
}

void rpcMemberJoin(struct rpc_call *call)
{
    member(call, join, true);
}

void rpcMemberRemove(struct rpc_call *call)
{
    member(call, membershipRemove, false);
}

void rpcMemberPromote(struct rpc_call *call)
{
    member(call, membershipPromote, false);
}

void rpcMemberDemote(struct rpc_call *call)
{
    member(call, membershipDemote, false);
}

void rpcMemberTransfer(struct rpc_call *call)
{
    member(call, membershipTransfer, false);
}
