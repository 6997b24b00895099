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
#include "metrics.h"
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
    {"Cluster.Snapshot", rpcClusterSnapshot},
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
    {"Job.Stats", rpcJobStats},
    {"Events.Watch", rpcEventsWatch},
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

size_t rpcMethodCount(void)
{
    return sizeof methods / sizeof methods[0];
}

size_t rpcMethodIndex(const char *method)
{
    const struct rpc_method *m = rpcLookup(method);
    return m != NULL ? (size_t)(m - methods) : rpcMethodCount();
}

const char *rpcMethodName(size_t i)
{
    return i < rpcMethodCount() ? methods[i].name : "other";
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
    if (call->conn != NULL) {
        connCallEnded(call->conn);
    }
    if (call->msg != NULL) {
        protobuf_c_message_free_unpacked(call->msg, NULL);
    }
    if (call->req != NULL) {
        raftcron__request__free_unpacked(call->req, NULL);
    }
    if (call->conn != NULL) {
        connUnref(call->conn);
    }
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
    metricsRpc(&call->node->metrics, call->req->method, (int)resp->status,
               rpcNow() - call->received_us);
    if (call->sink != NULL) {
        call->sink(call->sink_data, resp);
    } else {
        sendResponse(call->conn, call->stream, resp);
    }
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

/* Where an answer given before any handler ran goes. */
struct origin {
    struct conn *conn;
    uint32_t stream;
    rpc_sink_fn sink;
    void *data;
};

/* A reply before any handler ran: nothing was done, so the client may send it again. */
static void immediate(const struct origin *o, const char *method, int status, const char *msg)
{
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    resp.status = (uint32_t)status;
    resp.message = (char *)msg;
    resp.retryable = status == RC_STATUS_UNAVAILABLE;
    if (o->sink != NULL) {
        o->sink(o->data, &resp);
    } else {
        sendResponse(o->conn, o->stream, &resp);
    }
    (void)method;
}

/* Authentication and the method-level policy (core/authz.h); namespaced methods are judged
 * again by their handlers once they know the namespace (rpcAllowed). NULL: go on. */
static const char *refusal(struct node *n, Raftcron__Request *req, struct rpc_call *call,
                           int *status, char *msg, size_t len)
{
    char why[RC_ERRMSG_SIZE];
    if (authVerify(&n->auth, req->auth_token, rpcNow(), &call->principal, why, sizeof why) != 0) {
        *status = RC_STATUS_UNAUTHENTICATED;
        snprintf(msg, len, "unauthenticated: %s", why);
        return msg;
    }
    const struct rpc_method *m = rpcLookup(req->method);
    bool namespaced = false;
    if (m == NULL) {
        *status = RC_STATUS_UNIMPLEMENTED;
        snprintf(msg, len, "unknown method \"%.100s\"", req->method);
        return msg;
    }
    if (!authzMethod(req->method, &call->action, &namespaced)) {
        call->action = AUTHZ_ADMIN;
    }
    if (!namespaced && authzCheck(&call->principal, call->action, NULL) != AUTHZ_ALLOW) {
        *status = RC_STATUS_PERMISSION_DENIED;
        snprintf(msg, len, "%.100s: not allowed for %.128s", req->method,
                 call->principal.subject[0] != '\0' ? call->principal.subject : "this token");
        return msg;
    }
    if (n->state != NODE_RUNNING) {
        *status = RC_STATUS_UNAVAILABLE;
        return "node is shutting down";
    }
    return NULL;
}

static void startCall(struct node *n, Raftcron__Request *req, const struct origin *o)
{
    struct rpc_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        immediate(o, req->method, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        raftcron__request__free_unpacked(req, NULL);
        return;
    }
    int status = RC_STATUS_OK;
    char msg[RC_ERRMSG_SIZE + 64];
    const char *reject = refusal(n, req, call, &status, msg, sizeof msg);
    if (o->conn != NULL && status != RC_STATUS_UNAUTHENTICATED) {
        connAuthenticated(o->conn); /* the credential is right (or none is asked) */
    }
    if (reject != NULL) {
        metricsRpc(&n->metrics, req->method, status, 0);
        immediate(o, req->method, status, reject);
        raftcron__request__free_unpacked(req, NULL);
        free(call);
        if (o->conn != NULL && status == RC_STATUS_UNAUTHENTICATED) {
            connAuthFailed(o->conn);
        }
        return;
    }
    call->node = n;
    call->conn = o->conn;
    if (o->conn != NULL) {
        connRef(o->conn);
        connCallStarted(o->conn);
    }
    call->stream = o->stream;
    call->sink = o->sink;
    call->sink_data = o->data;
    call->req = req;
    call->received_us = rpcNow();
    rpcLookup(req->method)->handler(call);
}

static void onRequest(struct node *n, struct conn *c, uint32_t stream, const uint8_t *payload,
                      size_t len)
{
    char err[RC_ERRMSG_SIZE];
    Raftcron__Request *req = NULL;
    struct origin o = {.conn = c, .stream = stream};
    if (frameUnpackRequest(payload, len, &req, err, sizeof err) != 0) {
        immediate(&o, NULL, RC_STATUS_INVALID_ARGUMENT, err);
        return;
    }
    startCall(n, req, &o);
}

void rpcDispatch(struct node *n, Raftcron__Request *req, rpc_sink_fn sink, void *data)
{
    struct origin o = {.sink = sink, .data = data};
    startCall(n, req, &o);
}

bool rpcCanRead(const struct rpc_call *call, const char *ns)
{
    return authzCanRead(&call->principal, ns);
}

bool rpcVisible(void *data, const char *ns)
{
    return rpcCanRead(data, ns);
}

void rpcKeyNamespace(const char *key, char *ns)
{
    const char *slash = strchr(key, '/');
    size_t n = slash != NULL ? (size_t)(slash - key) : 0;
    if (n > RC_JOBS_NAMESPACE_MAX) {
        n = 0;
    }
    memcpy(ns, key, n);
    ns[n] = '\0';
}

bool rpcAllowed(struct rpc_call *call, const char *ns, const char *hidden)
{
    switch (authzCheck(&call->principal, call->action, ns)) {
    case AUTHZ_ALLOW:
        return true;
    case AUTHZ_HIDE:
        rpcReply(call, RC_STATUS_NOT_FOUND, hidden, NULL);
        return false;
    default:
        rpcReplyf(call, RC_STATUS_PERMISSION_DENIED,
                  "%s: the role %s in namespace %s does not "
                  "allow it",
                  call->req->method, authzRoleName(authzRole(&call->principal, ns)),
                  jobsNamespace(ns));
        return false;
    }
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
