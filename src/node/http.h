/*
 * The HTTP face of a node (docs/rest.md): the REST/JSON API under /v1, /health, /ready,
 * /metrics, the OpenAPI document and the dashboard (/ui/), on the node's own libuv loop.
 *
 * The server is libmicrohttpd in "external polling" mode with epoll: its one epoll descriptor
 * is watched by a uv_poll, its timeout by a uv_timer, and every request is handled on the loop
 * thread. (Why not h2o: docs/rest.md "HTTP server".) A REST call is no second implementation:
 * it becomes the RPC request of the same method (rpcDispatch), is authenticated and judged by
 * the same policy and answered by the same handler; its Response becomes JSON. A follower
 * hands what only the leader can answer (writes, linearizable reads) to the leader over RPC
 * (http_forward.c) and relays the answer, so a client may talk to any node.
 *
 * Request lifecycle (STYLE.md §9; every move asserted against one table in http.c):
 *   READING (body arriving) → ROUTED (handler running; waiting for the RPC, connection
 *   suspended) → ANSWERED (response queued) → DONE (libmicrohttpd finished it: freed)
 *   ROUTED → STREAMING (an event stream) → DONE;  any → DONE when the client goes away.
 *
 * Limits: a body above max_body bytes is refused with 413 before it is read; nesting and keys
 * of JSON bodies are checked by their decoders (core/jobjson.h).
 *
 * HTTPS (docs/security.md "The REST API"): a node with --tls-cert/--tls-key serves the API over
 * TLS with that certificate (libmicrohttpd's GnuTLS; TLS 1.2 or 1.3, as on Raft and RPC). No
 * client certificate is asked for: REST callers authenticate with a bearer token. The PEM files
 * are read once at start: SIGHUP renews the Raft/RPC certificates (credentials.h), not this
 * one; a renewed HTTPS certificate is served after a restart.
 */
#ifndef RC_NODE_HTTP_H
#define RC_NODE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api.pb-c.h"
#include "events.h"
#include "http_forward.h"
#include "rpc.pb-c.h"

struct node;
struct http_req;
struct MHD_Daemon;
struct MHD_Connection;

enum http_req_state { HTTP_READING = 0, HTTP_ROUTED, HTTP_ANSWERED, HTTP_STREAMING, HTTP_DONE };

/* What to do with the answer of an RPC started by httpCall (resp borrowed for the call). */
typedef void (*http_cont_fn)(struct http_req *r, const Raftcron__Response *resp);

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum http_req_state state; /* read-only */
    char method[16];
    char *path; /* owned: the URL's path (no query) */
    char *body; /* owned: the request body */
    size_t len; /* bytes of body */
    size_t cap;
    bool too_big;              /* the body passed max_body */
    bool suspended;            /* the connection waits for us */
    bool gone;                 /* the client went away while an RPC was out: drop its answer */
    char token[16 * 1024 + 1]; /* the bearer token ("" when none) */
    /* The RPC in flight (httpCall): its packed Request, for a follower's forward. */
    uint8_t *rpc;
    size_t rpc_len;
    http_cont_fn cont;
    bool forwarded;
    void *ctx; /* the route's own state (owned by the route; freed by ctx_free) */
    void (*ctx_free)(void *ctx);
    /* Event stream */
    struct events_sub sub;
    bool subscribed;
    char *sse; /* owned: text not yet taken by libmicrohttpd */
    size_t sse_len, sse_cap, sse_off;
    struct http_req *next, *prev; /* the server's list */
};

struct http_server {
    struct node *node; /* borrowed */
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    int listen_fd;
    size_t max_body;
    uv_poll_t poll;  /* private: libmicrohttpd's epoll descriptor */
    uv_timer_t wake; /* private: its timeouts */
    uv_timer_t beat; /* private: event-stream keepalives, loop-lag probe */
    uint64_t beat_due_ms;
    int64_t loop_lag_ms; /* read-only: how late the last probe ran (/health) */
    struct http_req *reqs;
    struct http_forward fwd;
    bool https;         /* read-only: served over TLS */
    char *tls_cert_pem; /* owned: the PEM text libmicrohttpd was given (NULL: plain) */
    char *tls_key_pem;  /* owned: the key's PEM text; cleansed when freed */
    size_t tls_key_len; /* bytes of tls_key_pem */
    bool running;
    unsigned handles_open;
    void (*close_cb)(struct http_server *s);
};

struct http_server_options {
    const char *addr;     /* "HOST:PORT" */
    size_t max_body;      /* bytes of a request body at most */
    const char *tls_cert; /* PEM files (borrowed): HTTPS with them; NULL: plain HTTP */
    const char *tls_key;
};

/* Listen on o->addr and serve. Returns 0, or RC_EINVAL / RC_EIO / RC_ETOOBIG with a message
 * (an unreadable or malformed PEM file, a key file readable by others, a libmicrohttpd built
 * without TLS). Nothing of the key is logged or kept in the message. */
int httpStart(struct http_server *s, struct node *n, const struct http_server_options *o, char *err,
              size_t errlen);
/* Stop: streams end, waiting requests are answered 503, the listener and every connection
 * close; cb once every handle is closed. */
void httpClose(struct http_server *s, void (*cb)(struct http_server *s));

/* ---- For the routes (http_api.c) --------------------------------------------------------------
 */

/* Answer with a JSON document (taken: decref'd here) and status; extra headers are
 * "Name: value" pairs (n of them) or NULL. */
void httpJson(struct http_req *r, unsigned status, json_t *doc, const char *const *headers,
              size_t n_headers);
/* Answer with the error object {"error": {"code", "message", "details"}}; code is the RPC
 * status name the HTTP status stands for; details may be NULL (taken). */
void httpError(struct http_req *r, unsigned status, const char *code, const char *message,
               json_t *details);
/* Answer with raw bytes (borrowed; copied) of a content type. */
void httpBytes(struct http_req *r, unsigned status, const char *type, const void *data, size_t len,
               const char *const *headers, size_t n_headers);
/* Call method with msg (packed here) as the request's credentials allow; cont gets the
 * answer, from this node or, when only the leader can answer, from the leader. */
void httpCall(struct http_req *r, const char *method, const ProtobufCMessage *msg,
              http_cont_fn cont);
/* The HTTP status of an RPC status (FAILED_PRECONDITION: 409, or 412 when if_match). */
unsigned httpStatusOf(int rpc_status, bool if_match);
/* Answer a failed RPC: its status mapped, its message, the field named when the message starts
 * with a job key ("cron: ..."). */
void httpRpcError(struct http_req *r, const Raftcron__Response *resp, bool if_match);

/* A request header or query argument, or NULL. */
const char *httpHeader(struct http_req *r, const char *name);
const char *httpQuery(struct http_req *r, const char *name);
/* Refuse any query argument not in allowed (NULL-ended): answers 400 naming it, returns false. */
bool httpQueryOnly(struct http_req *r, const char *const *allowed);

/* Start an event stream answer (text/event-stream) subscribed with filter after index
 * after. */
void httpStream(struct http_req *r, const struct events_filter *f, uint64_t after);

/* The routes (http_api.c): called once the request is complete. */
void httpRoute(struct http_req *r);

#endif /* RC_NODE_HTTP_H */
