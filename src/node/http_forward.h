/*
 * A follower's way to the leader for the REST API (http.h): the RPC request a REST call became
 * is sent, as packed, to the leader's RPC address over one persistent connection (plain or TLS
 * as the node's own RPC clients; pipelined,
 * one stream per request), and the Response comes back to the caller. The leader checks the
 * credentials again: forwarding grants nothing.
 *
 * Connection lifecycle: IDLE → CONNECTING → OPEN → (error or a new leader address) → CLOSING →
 * IDLE. A request whose connection breaks is answered UNAVAILABLE ("its outcome is unknown"
 * for a write that may have left); a request never waits longer than FORWARD_TIMEOUT_MS.
 */
#ifndef RC_NODE_HTTP_FORWARD_H
#define RC_NODE_HTTP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"
#include "net/sstream.h"
#include "rpc.pb-c.h"

#define FORWARD_TIMEOUT_MS 15000

/* The answer (resp borrowed for the call). Called exactly once per httpForward that returned
 * 0, on the loop. */
typedef void (*forward_cb)(void *data, const Raftcron__Response *resp);

enum forward_state { FORWARD_IDLE = 0, FORWARD_CONNECTING, FORWARD_OPEN, FORWARD_CLOSING };

struct forward_call;
struct forward_conn;

struct http_forward {
    uv_loop_t *loop;
    struct tls_ctx *tls;        /* the node's client context (borrowed), or NULL: plain */
    struct forward_conn *conn;  /* private: the current connection, or NULL */
    struct forward_call *calls; /* private: unanswered, on any connection */
    uint32_t next_stream;
    uv_timer_t timer; /* private: request deadlines */
    unsigned closing; /* private: connections whose handles are closing */
    bool open;
    void (*close_cb)(struct http_forward *f);
};

/* tls: the context RPC connections to other nodes use (credentials.h "client"), or NULL. */
void forwardInit(struct http_forward *f, uv_loop_t *loop, struct tls_ctx *tls);
/* Send a packed Request (copied) to addr. Returns 0 (cb will fire) or RC_ENOMEM / RC_EINVAL. */
int forwardSend(struct http_forward *f, const char *addr, const uint8_t *req, size_t len,
                forward_cb cb, void *data);
/* Forget every call of data (its request went away): its cb will not fire. */
void forwardCancel(struct http_forward *f, void *data);
/* Answer every call UNAVAILABLE, close; cb when the handles are closed. */
void forwardClose(struct http_forward *f, void (*cb)(struct http_forward *f));

#endif /* RC_NODE_HTTP_FORWARD_H */
