/* The RPC dispatcher: frames → calls → handlers, and replies → frames. */
#include "rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "core/err.h"
#include "core/frame.h"
#include "core/pbuf.h"
#include "core/secret.h"
#include "node.h"

static const struct rpc_method methods[] = {
    {"Job.Put", rpcJobPut},
    {"Job.Get", rpcJobGet},
    {"Job.List", rpcJobList},
    {"Job.Delete", rpcJobDelete},
    {"Job.Pause", rpcJobPause},
    {"Job.Resume", rpcJobResume},
    {"Job.Next", rpcJobNext},
    {"Run.List", rpcRunList},
    {"Run.Get", rpcRunGet},
    {"Decision.List", rpcDecisionList},
    {"Dlq.List", rpcDlqList},
    {"Cluster.Status", rpcClusterStatus},
    {"Cluster.Digest", rpcClusterDigest},
    {"Member.List", rpcClusterStatus},
    {"Member.Add", rpcMemberAdd},
    {"Member.Join", rpcMemberJoin},
    {"Member.Remove", rpcMemberRemove},
    {"Member.Promote", rpcMemberPromote},
    {"Member.Demote", rpcMemberDemote},
    {"Member.Transfer", rpcMemberTransfer},
    {"Worker.Session", rpcWorkerSession},
    {"Worker.Report", rpcWorkerReport},
    {"Job.RunNow", rpcJobRunNow},
    {"Dlq.Retry", rpcDlqRetry},
    {"Run.Cancel", rpcRunCancel},
    {"Job.Backfill", rpcJobBackfill},
};

const struct rpc_method *rpcLookup(const char *method)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(methods[i].name, method) == 0) {
            return &methods[i];
        }
    }
    return NULL;
}

int rpcStatusOf(int rc_code)
{
    switch (rc_code) {
    case 0:
        return RC_STATUS_OK;
    case RC_EINVAL:
    case RC_EPARSE:
    case RC_ERANGE:
    case RC_ETZ:
    case RC_ENEVER:
        return RC_STATUS_INVALID_ARGUMENT;
    case RC_ENOTFOUND:
        return RC_STATUS_NOT_FOUND;
    case RC_EEXISTS:
        return RC_STATUS_ALREADY_EXISTS;
    case RC_ESTALE:
        return RC_STATUS_FAILED_PRECONDITION;
    case RC_ENOTLEADER:
    case RC_ESHUTDOWN:
        return RC_STATUS_UNAVAILABLE;
    case RC_ETIMEOUT:
        return RC_STATUS_DEADLINE_EXCEEDED;
    case RC_ETOOBIG:
        return RC_STATUS_RESOURCE_EXHAUSTED;
    case RC_ECANCELED:
        return RC_STATUS_CANCELLED;
    default:
        return RC_STATUS_INTERNAL;
    }
}

static void sendResponse(struct conn *c, uint32_t stream, Raftcron__Response *resp)
{
    size_t len = raftcron__response__get_packed_size(resp);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        connClose(c);
        return;
    }
    raftcron__response__pack(resp, buf);
    connSend(c, RC_FRAME_RESPONSE, stream, buf, len);
    free(buf);
}

static void callFree(struct rpc_call *call)
{
    connCallEnded(call->conn);
    if (call->msg != NULL) {
        protobuf_c_message_free_unpacked(call->msg, NULL);
    }
    if (call->req != NULL) {
        raftcron__request__free_unpacked(call->req, NULL);
    }
    connUnref(call->conn);
    free(call);
}

static void replyWith(struct rpc_call *call, Raftcron__Response *resp,
                      const ProtobufCMessage *payload)
{
    uint8_t *body = NULL;
    if (payload != NULL) {
        size_t len = protobuf_c_message_get_packed_size(payload);
        body = malloc(len > 0 ? len : 1);
        if (body == NULL) {
            resp->status = RC_STATUS_INTERNAL;
            resp->message = "out of memory";
        } else {
            protobuf_c_message_pack(payload, body);
            resp->payload.data = body;
            resp->payload.len = len;
        }
    }
    sendResponse(call->conn, call->stream, resp);
    free(body);
    callFree(call);
}

void rpcReply(struct rpc_call *call, int status, const char *message,
              const ProtobufCMessage *payload)
{
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    resp.status = (uint32_t)status;
    resp.message = (char *)(message != NULL ? message : "");
    call->replied = true;
    replyWith(call, &resp, status == RC_STATUS_OK ? payload : NULL);
}

void rpcReplyf(struct rpc_call *call, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rpcReply(call, status, msg, NULL);
}

void rpcReplyNotLeader(struct rpc_call *call)
{
    struct node *n = call->node;
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    const char *hint = nodeLeaderRpcAddr(n);
    resp.status = RC_STATUS_UNAVAILABLE;
    resp.leader_id = clusterLeader(&n->cluster, NULL);
    resp.leader_hint = (char *)(hint != NULL ? hint : "");
    resp.message = (char *)(hint != NULL ? "not the leader" : "no leader known");
    resp.retryable = true; /* nothing was proposed */
    call->replied = true;
    replyWith(call, &resp, NULL);
}

/* The same bounds as the envelope's (frame.c): a payload costs memory near its own size, its
 * strings are UTF-8 without NUL, whatever method it is for. */
ProtobufCMessage *rpcUnpack(struct rpc_call *call, const ProtobufCMessageDescriptor *desc)
{
    char err[RC_ERRMSG_SIZE];
    ProtobufCMessage *m = NULL;
    int rv = pbufUnpackBounded(desc, call->req->payload.data, call->req->payload.len, NULL, &m, err,
                               sizeof err);
    if (rv != 0) {
        rpcReplyf(call,
                  rv == RC_ENOMEM    ? RC_STATUS_RESOURCE_EXHAUSTED
                  : rv == RC_ETOOBIG ? RC_STATUS_RESOURCE_EXHAUSTED
                                     : RC_STATUS_INVALID_ARGUMENT,
                  "%s: payload refused: %s", call->req->method, err);
        return NULL;
    }
    call->msg = m;
    return m;
}

int64_t rpcNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct pending {
    struct rpc_call *call;
    rpc_read_fn read;
    rpc_write_fn write;
};

static void barrierDone(void *data, int status, const char *msg)
{
    struct pending *p = data;
    struct rpc_call *call = p->call;
    rpc_read_fn fn = p->read;
    free(p);
    if (status != 0) {
        rpcReplyf(call, RC_STATUS_UNAVAILABLE, "read barrier failed: %s", msg);
        return;
    }
    fn(call);
}

void rpcRead(struct rpc_call *call, bool stale, rpc_read_fn fn)
{
    struct node *n = call->node;
    if (stale) {
        fn(call);
        return;
    }
    if (!clusterIsLeader(&n->cluster)) {
        rpcReplyNotLeader(call);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    p->call = call;
    p->read = fn;
    int rv = clusterBarrier(&n->cluster, barrierDone, p);
    if (rv != 0) {
        free(p);
        if (rv == RC_ENOTLEADER) {
            rpcReplyNotLeader(call);
        } else {
            rpcReplyf(call, rpcStatusOf(rv), "read barrier: %s", rc_strerror(rv));
        }
    }
}

static void applied(void *data, int status, const struct rc_fsm_result *res)
{
    struct pending *p = data;
    struct rpc_call *call = p->call;
    rpc_write_fn fn = p->write;
    free(p);
    call->node->writes_pending--;
    if (status == RC_ENOTLEADER) {
        rpcReply(call, RC_STATUS_UNAVAILABLE,
                 "leadership lost before the write was applied: its outcome is unknown", NULL);
        return;
    }
    if (status != 0) {
        rpcReplyf(call, rpcStatusOf(status), "write failed (%s): its outcome is unknown",
                  rc_strerror(status));
        return;
    }
    fn(call, res);
}

void rpcWrite(struct rpc_call *call, void *buf, size_t len, rpc_write_fn fn)
{
    struct node *n = call->node;
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL) {
        free(buf);
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    p->call = call;
    p->write = fn;
    int rv = clusterPropose(&n->cluster, buf, len, applied, p);
    free(buf);
    if (rv == 0) {
        n->writes_pending++; /* a stopping leader waits for these (node.c) */
    } else {
        free(p);
        if (rv == RC_ENOTLEADER) {
            rpcReplyNotLeader(call);
        } else {
            rpcReplyf(call, rpcStatusOf(rv), "propose: %s", rc_strerror(rv));
        }
    }
}

/* A reply before any handler ran: nothing was done, so the client may send it again. */
static void immediate(struct conn *c, uint32_t stream, int status, const char *msg)
{
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    resp.status = (uint32_t)status;
    resp.message = (char *)msg;
    resp.retryable = status == RC_STATUS_UNAVAILABLE;
    sendResponse(c, stream, &resp);
}

static void onRequest(struct node *n, struct conn *c, uint32_t stream, const uint8_t *payload,
                      size_t len)
{
    char err[RC_ERRMSG_SIZE];
    Raftcron__Request *req = NULL;
    if (frameUnpackRequest(payload, len, &req, err, sizeof err) != 0) {
        immediate(c, stream, RC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    const struct rpc_method *m = rpcLookup(req->method);
    const char *reject = NULL;
    int status = RC_STATUS_OK;
    char msg[160];
    if (n->opts.auth_token != NULL && !secretEqual(req->auth_token, n->opts.auth_token)) {
        status = RC_STATUS_UNAUTHENTICATED;
        reject = "missing or wrong auth token";
    } else if (m == NULL) {
        snprintf(msg, sizeof msg, "unknown method \"%.100s\"", req->method);
        status = RC_STATUS_UNIMPLEMENTED;
        reject = msg;
    } else if (n->state != NODE_RUNNING) {
        status = RC_STATUS_UNAVAILABLE;
        reject = "node is shutting down";
    }
    if (status != RC_STATUS_UNAUTHENTICATED) {
        connAuthenticated(c); /* the token is right (or none is asked) */
    }
    if (reject != NULL) {
        immediate(c, stream, status, reject);
        raftcron__request__free_unpacked(req, NULL);
        if (status == RC_STATUS_UNAUTHENTICATED) {
            connAuthFailed(c);
        }
        return;
    }
    struct rpc_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        immediate(c, stream, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        raftcron__request__free_unpacked(req, NULL);
        return;
    }
    call->node = n;
    call->conn = c;
    connRef(c);
    connCallStarted(c);
    call->stream = stream;
    call->req = req;
    call->received_us = rpcNow();
    m->handler(call);
}

void rpcOnFrame(struct conn *c, uint8_t type, uint32_t stream, const uint8_t *payload, size_t len,
                void *data)
{
    struct node *n = data;
    switch (type) {
    case RC_FRAME_REQUEST:
        onRequest(n, c, stream, payload, len);
        break;
    case RC_FRAME_PING:
        /* Only for a peer that proved who it is: echoing anyone's PINGs would let a stranger
         * fill our memory with replies it never reads (conn.h bounds the rest). */
        if (c->authenticated) {
            connSend(c, RC_FRAME_PONG, stream, payload, len);
        }
        break;
    case RC_FRAME_CANCEL:
    case RC_FRAME_PONG:
        break; /* calls are short: a cancel only means the reply will be ignored */
    default:
        /* A server never receives RESPONSE/PUSH/GOAWAY from a client: protocol error. */
        connClose(c);
        break;
    }
}
