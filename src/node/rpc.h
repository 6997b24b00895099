/*
 * RPC calls on the server side (DESIGN.md §6): a decoded Request, dispatched by method name to
 * one handler per method (rpc_<group>.c), answered exactly once with rpcReply.
 *
 * A call holds a reference on its connection; replying after the client went away is fine
 * (the reply is dropped). Handlers run on the loop thread.
 */
#ifndef RC_NODE_RPC_H
#define RC_NODE_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/authz.h"
#include "raftcron/client.h"
#include "rpc.pb-c.h"

struct conn;
struct node;

/* Where the reply of a call made inside the node goes (the REST API): called exactly once, on
 * the loop, with the Response (borrowed for the call). */
typedef void (*rpc_sink_fn)(void *data, const Raftcron__Response *resp);

struct rpc_call {
    struct node *node; /* borrowed */
    struct conn *conn; /* referenced until the reply; NULL for a call with a sink */
    uint32_t stream;
    Raftcron__Request *req; /* owned (unpacked envelope) */
    ProtobufCMessage *msg;  /* owned: the unpacked payload (rpcUnpack) */
    int64_t received_us;
    bool replied;
    rpc_sink_fn sink; /* or NULL: the reply goes to conn */
    void *sink_data;
    struct rc_principal principal; /* who calls (authenticated before the handler runs) */
    enum rc_authz_action action;   /* what the method needs (core/authz.h) */
};

struct rc_fsm_result;
/* Continue a read once it may see every write acknowledged before it was received. */
typedef void (*rpc_read_fn)(struct rpc_call *call);
/* Continue a write once its entry is committed and applied (res: what apply did). */
typedef void (*rpc_write_fn)(struct rpc_call *call, const struct rc_fsm_result *res);

typedef void (*rpc_handler)(struct rpc_call *call);

struct rpc_method {
    const char *name; /* "Job.Put" */
    rpc_handler handler;
};

/* Find the handler of a method, or NULL. */
const struct rpc_method *rpcLookup(const char *method);
/* The method's place in the table (metrics), or rpcMethodCount() for an unknown one; and the
 * name at a place. */
size_t rpcMethodIndex(const char *method);
size_t rpcMethodCount(void);
const char *rpcMethodName(size_t i);
/* End every Events.Watch call (the node stops). */
void rpcEventsEnd(struct node *n);

/* Answer the call (exactly once) and free it. payload may be NULL. message may be NULL. */
void rpcReply(struct rpc_call *call, int status, const char *message,
              const ProtobufCMessage *payload);
/* rpcReply with a printf message. */
void rpcReplyf(struct rpc_call *call, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answer UNAVAILABLE with the leader hint (a follower's answer to a write or a strong read). */
void rpcReplyNotLeader(struct rpc_call *call);
/* Map an RC_E* code onto an RPC status. */
int rpcStatusOf(int rc_code);

/* Unpack the request payload as the given message type into call->msg; on failure answers
 * INVALID_ARGUMENT and returns NULL (the call is then finished). */
ProtobufCMessage *rpcUnpack(struct rpc_call *call, const ProtobufCMessageDescriptor *desc);

/*
 * Linearizable read (DESIGN.md §6): on the leader, after a barrier; on a follower, UNAVAILABLE
 * with the leader hint; stale reads run fn at once on any node.
 */
void rpcRead(struct rpc_call *call, bool stale, rpc_read_fn fn);

/*
 * Propose an encoded command (buf is freed here) on the leader and continue with fn once it is
 * applied. Not leader, lost leadership (outcome unknown) and other failures are answered here.
 */
void rpcWrite(struct rpc_call *call, void *buf, size_t len, rpc_write_fn fn);

/*
 * Authorization of a namespaced call (core/authz.h) once the handler knows the namespace:
 * true when allowed; otherwise answers and returns false — NOT_FOUND with `hidden` as the
 * message (the words a missing object gets, so that names of other tenants do not leak) when
 * the caller may not read ns, PERMISSION_DENIED when it may read but not do this.
 */
bool rpcAllowed(struct rpc_call *call, const char *ns, const char *hidden);
/* Whether the caller may read namespace ns (listings across namespaces show only those). */
bool rpcCanRead(const struct rpc_call *call, const char *ns);
/* A runview_visible_fn (core/runview.h) over rpcCanRead; data is the call. */
bool rpcVisible(void *data, const char *ns);
/* The namespace of a run or decision's job key ("ns/name") into ns (RC_JOBS_NAMESPACE_MAX + 1
 * bytes). */
void rpcKeyNamespace(const char *key, char *ns);

/*
 * Run a request that came from inside the node (the REST API) through the same checks and
 * handlers as one from a connection: authentication of req->auth_token, the method's policy,
 * the handler. req is taken (freed with the call). The reply goes to sink exactly once, maybe
 * before this returns.
 */
void rpcDispatch(struct node *n, Raftcron__Request *req, rpc_sink_fn sink, void *data);

/* Wall-clock now in microseconds: the leader writes it into commands (never read by apply). */
int64_t rpcNow(void);

/* The listener's frame callback (data: the node). */
void rpcOnFrame(struct conn *c, uint8_t type, uint32_t stream, const uint8_t *payload, size_t len,
                void *data);

/* Handlers, one per method, grouped by file. */
void rpcJobPut(struct rpc_call *call);
void rpcJobGet(struct rpc_call *call);
void rpcJobList(struct rpc_call *call);
void rpcJobDelete(struct rpc_call *call);
void rpcJobPause(struct rpc_call *call);
void rpcJobResume(struct rpc_call *call);
void rpcJobNext(struct rpc_call *call); /* rpc_run.c, with the run history reads below */
void rpcRunList(struct rpc_call *call);
void rpcRunGet(struct rpc_call *call);
void rpcDecisionList(struct rpc_call *call);
void rpcDlqList(struct rpc_call *call);
void rpcClusterStatus(struct rpc_call *call);
void rpcClusterDigest(struct rpc_call *call);
void rpcClusterSnapshot(struct rpc_call *call);
void rpcMemberAdd(struct rpc_call *call);
void rpcMemberJoin(struct rpc_call *call);
void rpcMemberRemove(struct rpc_call *call);
void rpcMemberPromote(struct rpc_call *call);
void rpcMemberDemote(struct rpc_call *call);
void rpcMemberTransfer(struct rpc_call *call);
void rpcWorkerSession(struct rpc_call *call); /* rpc_worker.c */
void rpcWorkerReport(struct rpc_call *call);
void rpcJobRunNow(struct rpc_call *call);
void rpcDlqRetry(struct rpc_call *call);
void rpcRunCancel(struct rpc_call *call);
void rpcJobBackfill(struct rpc_call *call); /* rpc_manual.c */
void rpcJobStats(struct rpc_call *call);    /* rpc_stats.c */
void rpcEventsWatch(struct rpc_call *call); /* rpc_events.c */

#endif /* RC_NODE_RPC_H */
