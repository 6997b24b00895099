/*
 * Worker.Session and Worker.Report on the leader (DESIGN.md §5, docs/rpc.md "Worker
 * sessions"): the TCP side of a worker's session, translated into the dispatcher's calls
 * (dispatch.h). A session is a held call: the dispatcher's pushes go out as PUSH frames on its
 * stream, and its end is the call's reply. Reports are ordinary calls on the same connection,
 * answered when the dispatcher says they are committed. One session per connection; the
 * connection closing ends it.
 */
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "conn.h"
#include "core/err.h"
#include "core/frame.h"
#include "log.h"
#include "node.h"
#include "rpc.h"

#define SESSION_PUSH "Session.Push"

struct session_peer {
    struct dispatch_peer peer; /* first */
    struct rpc_call *call;     /* the held Worker.Session call (owned until its reply) */
    struct conn *conn;         /* borrowed: the call holds a reference */
    struct node *node;
};

static void peerPush(struct dispatch_peer *p, const Raftcron__SessionPush *msg)
{
    struct session_peer *sp = (struct session_peer *)p;
    size_t len = raftcron__session_push__get_packed_size(msg);
    uint8_t *payload = malloc(len > 0 ? len : 1);
    if (payload == NULL) {
        connClose(sp->conn); /* the worker reconnects and gets a sync push */
        return;
    }
    raftcron__session_push__pack(msg, payload);
    Raftcron__Push push = RAFTCRON__PUSH__INIT;
    push.kind = SESSION_PUSH;
    push.payload.data = payload;
    push.payload.len = len;
    uint8_t *frame;
    size_t flen;
    char err[RC_ERRMSG_SIZE];
    int rv = framePack(RC_FRAME_PUSH, sp->call->stream, &push.base, &frame, &flen, err, sizeof err);
    free(payload);
    if (rv != 0) {
        LOG_WARN("worker session: cannot pack a push", "error", "%s", err);
        connClose(sp->conn);
        return;
    }
    connSendFrame(sp->conn, frame, flen);
}

static void peerEnd(struct dispatch_peer *p, int status, const char *msg)
{
    struct session_peer *sp = (struct session_peer *)p;
    connOnClose(sp->conn, NULL, NULL);
    if (status == RC_STATUS_UNAVAILABLE) {
        rpcReplyNotLeader(sp->call);
    } else {
        rpcReply(sp->call, status, msg, NULL);
    }
    free(sp);
}

static const struct dispatch_peer_ops peerOps = {.push = peerPush, .end = peerEnd};

static void connGone(struct conn *c, void *data)
{
    struct session_peer *sp = data;
    (void)c;
    dispatchPeerGone(&sp->node->dispatch, &sp->peer);
    rpcReply(sp->call, RC_STATUS_CANCELLED, "connection closed", NULL);
    free(sp);
}

void rpcWorkerSession(struct rpc_call *call)
{
    Raftcron__SessionOpen *req =
        (Raftcron__SessionOpen *)rpcUnpack(call, &raftcron__session_open__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    if (n->state != NODE_RUNNING || n->dispatch.state != DISPATCH_ACTIVE) {
        rpcReplyNotLeader(call);
        return;
    }
    if (call->conn->hook != NULL) {
        rpcReply(call, RC_STATUS_FAILED_PRECONDITION,
                 "Worker.Session: this connection already carries a session", NULL);
        return;
    }
    struct session_peer *sp = calloc(1, sizeof *sp);
    if (sp == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    sp->peer.ops = &peerOps;
    sp->call = call;
    sp->conn = call->conn;
    sp->node = n;
    int status = dispatchOpen(&n->dispatch, &sp->peer, req);
    if (status != 0) {
        free(sp);
        if (status == RC_STATUS_UNAVAILABLE) {
            rpcReplyNotLeader(call);
        } else {
            rpcReply(call, status, n->dispatch.errmsg, NULL);
        }
        return;
    }
    connOnClose(call->conn, connGone, sp);
}

static void reportDone(void *data, int status)
{
    struct rpc_call *call = data;
    if (status == 0) {
        Raftcron__Empty empty = RAFTCRON__EMPTY__INIT;
        rpcReply(call, RC_STATUS_OK, NULL, &empty.base);
    } else if (status == RC_ENOTLEADER || status == RC_ESHUTDOWN) {
        rpcReplyNotLeader(call);
    } else {
        rpcReplyf(call, rpcStatusOf(status), "reports not committed (%s): send them again",
                  rc_strerror(status));
    }
}

void rpcWorkerReport(struct rpc_call *call)
{
    Raftcron__ReportBatch *req =
        (Raftcron__ReportBatch *)rpcUnpack(call, &raftcron__report_batch__descriptor);
    if (req == NULL) {
        return;
    }
    struct node *n = call->node;
    struct session_peer *sp = call->conn->hook == connGone ? call->conn->hook_data : NULL;
    if (sp == NULL) {
        rpcReply(call, RC_STATUS_UNAVAILABLE,
                 "Worker.Report: no session on this connection (Worker.Session first)", NULL);
        return;
    }
    int rv = dispatchReport(&n->dispatch, &sp->peer, req, reportDone, call);
    if (rv == 1) {
        reportDone(call, 0);
    } else if (rv < 0) {
        reportDone(call, -rv);
    }
}
