/*
 * Events.Watch (docs/rpc.md "Events.Watch", node/events.h): a held call on which the node pushes
 * "Events.Push" frames, one EventBatch each, for as long as the client keeps the connection.
 * Any node serves it (every node applies every entry); the client resumes elsewhere after the
 * last index it saw. A client that reads slowly is not given more than WATCH_QUEUE_MAX bytes
 * of unsent frames: its subscription waits (the ring keeps its place) and is polled again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "conn.h"
#include "core/err.h"
#include "core/frame.h"
#include "log.h"
#include "node.h"
#include "rpc.h"

#define EVENTS_PUSH     "Events.Push"
#define WATCH_QUEUE_MAX (4u << 20)
#define WATCH_POLL_MS   20

struct watch {
    struct events_sub sub;
    struct rpc_call *call; /* the held call (owned until its reply) */
    struct node *node;
    uv_timer_t poll; /* while the socket is full */
    struct watch *next;
};

static void pushBatch(struct watch *w, const Raftcron__EventBatch *b)
{
    size_t len = raftcron__event_batch__get_packed_size(b);
    uint8_t *payload = malloc(len > 0 ? len : 1);
    if (payload == NULL) {
        connClose(w->call->conn);
        return;
    }
    raftcron__event_batch__pack(b, payload);
    Raftcron__Push push = RAFTCRON__PUSH__INIT;
    push.kind = EVENTS_PUSH;
    push.payload.data = payload;
    push.payload.len = len;
    uint8_t *frame;
    size_t flen;
    char err[RC_ERRMSG_SIZE];
    int rv = framePack(RC_FRAME_PUSH, w->call->stream, &push.base, &frame, &flen, err, sizeof err);
    free(payload);
    if (rv != 0) {
        LOG_WARN("events watch: cannot pack a push", "error", "%s", err);
        connClose(w->call->conn);
        return;
    }
    connSendFrame(w->call->conn, frame, flen);
}

static void onPoll(uv_timer_t *t)
{
    struct watch *w = t->data;
    if (sstreamQueued(&w->call->conn->stream) < WATCH_QUEUE_MAX / 2) {
        eventsWake(&w->node->events, &w->sub);
    } else {
        uv_timer_start(&w->poll, onPoll, WATCH_POLL_MS, 0);
    }
}

static bool deliver(void *data, const Raftcron__Event *e, bool last)
{
    struct watch *w = data;
    (void)last;
    if (sstreamQueued(&w->call->conn->stream) > WATCH_QUEUE_MAX) {
        uv_timer_start(&w->poll, onPoll, WATCH_POLL_MS, 0);
        return false;
    }
    Raftcron__Event *one = (Raftcron__Event *)e;
    Raftcron__EventBatch b = RAFTCRON__EVENT_BATCH__INIT;
    b.events = &one;
    b.n_events = 1;
    pushBatch(w, &b);
    return true;
}

static void gap(void *data, uint64_t oldest)
{
    struct watch *w = data;
    Raftcron__EventBatch b = RAFTCRON__EVENT_BATCH__INIT;
    b.gap = true;
    b.oldest_index = oldest;
    pushBatch(w, &b);
}

static void freeWatch(uv_handle_t *h)
{
    free(h->data);
}

static void unlinkWatch(struct watch *w)
{
    for (struct watch **p = &w->node->watches; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    eventsUnsubscribe(&w->node->events, &w->sub);
    uv_timer_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, freeWatch);
}

static void connGone(struct conn *c, void *data)
{
    struct watch *w = data;
    (void)c;
    rpcReply(w->call, RC_STATUS_CANCELLED, "connection closed", NULL);
    unlinkWatch(w);
}

void rpcEventsEnd(struct node *n)
{
    while (n->watches != NULL) {
        struct watch *w = n->watches;
        connOnClose(w->call->conn, NULL, NULL);
        rpcReply(w->call, RC_STATUS_UNAVAILABLE, "node is shutting down", NULL);
        unlinkWatch(w);
    }
}

void rpcEventsWatch(struct rpc_call *call)
{
    Raftcron__WatchRequest *req =
        (Raftcron__WatchRequest *)rpcUnpack(call, &raftcron__watch_request__descriptor);
    if (req == NULL) {
        return;
    }
    char err[RC_ERRMSG_SIZE];
    if ((req->namespace_[0] != '\0' || req->job[0] != '\0') &&
        jobsCheckKey(req->namespace_, req->job[0] != '\0' ? req->job : "x", err, sizeof err) != 0) {
        rpcReplyf(call, RC_STATUS_INVALID_ARGUMENT, "Events.Watch: %s", err);
        return;
    }
    if (call->conn == NULL) {
        rpcReply(call, RC_STATUS_UNIMPLEMENTED, "Events.Watch: only over a connection", NULL);
        return;
    }
    if (call->conn->hook != NULL) {
        rpcReply(call, RC_STATUS_FAILED_PRECONDITION,
                 "Events.Watch: this connection already carries a session", NULL);
        return;
    }
    struct watch *w = calloc(1, sizeof *w);
    if (w == NULL) {
        rpcReply(call, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    struct node *n = call->node;
    w->call = call;
    w->node = n;
    uv_timer_init(n->loop, &w->poll);
    w->poll.data = w;
    struct events_filter *f = &w->sub.filter;
    snprintf(f->ns, sizeof f->ns, "%s", req->namespace_);
    snprintf(f->job, sizeof f->job, "%s", req->job);
    f->principal = call->principal;
    w->sub.deliver = deliver;
    w->sub.gap = gap;
    w->sub.data = w;
    w->next = n->watches;
    n->watches = w;
    connOnClose(call->conn, connGone, w);
    eventsSubscribe(&n->events, &w->sub, req->after_index);
}
