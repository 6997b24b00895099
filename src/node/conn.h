/*
 * One RPC connection (server side): reads frames (core/frame.c) over plain TCP or TLS
 * (net/sstream.h), hands requests to the node's dispatcher, writes replies. Lifecycle
 * (STYLE.md §9):
 *
 *   OPEN ──read error / protocol error / connClose──▶ CLOSING ──close cb──▶ CLOSED (freed
 *   when the last reference is dropped)
 *
 * Calls in flight hold references, so a reply to a closed connection is dropped, never a
 * use-after-free. Every socket has TCP_NODELAY (DESIGN.md §8).
 *
 * Bounds (DESIGN.md §9; measured: twelve unread 16 MiB PINGs took a daemon to 219 MB):
 *  - until the connection authenticated (conn_limits.preauth_frame) frames are small; after,
 *    up to max_frame;
 *  - reading stops while more than CONN_QUEUE_MAX bytes wait to be written to the peer or
 *    more than CONN_CALLS_MAX calls wait for their replies, and goes on below half of either:
 *    a client that does not read its replies holds at most about that much of our memory;
 *  - the listener closes connections idle for longer than idle_ms, or not authenticated
 *    within CONN_AUTH_TIMEOUT_MS (listener.c).
 */
#ifndef RC_NODE_CONN_H
#define RC_NODE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"
#include "net/sstream.h"

#define CONN_QUEUE_MAX       (4u << 20)
#define CONN_CALLS_MAX       256
#define CONN_PREAUTH_FRAME   (64u << 10)
#define CONN_AUTH_TIMEOUT_MS 10000
#define CONN_PEER_NAME_MAX   256

enum conn_state { CONN_OPEN = 0, CONN_CLOSING, CONN_CLOSED };

struct conn;
/* Called for each complete frame while the connection is open (payload borrowed). */
typedef void (*conn_frame_cb)(struct conn *c, uint8_t type, uint32_t stream, const uint8_t *payload,
                              size_t len, void *data);

struct conn_limits {
    size_t max_frame;     /* 0: RC_FRAME_MAX_DEFAULT */
    size_t preauth_frame; /* 0: CONN_PREAUTH_FRAME */
};

struct conn {
    struct sstream stream;                    /* private */
    enum conn_state state;                    /* read-only */
    unsigned refs;                            /* private */
    struct rc_frame_decoder dec;              /* private */
    conn_frame_cb frame_cb;                   /* private */
    void *data;                               /* private: the dispatcher's */
    uint64_t id;                              /* read-only: for logs */
    char peer[64];                            /* read-only: "ip:port" */
    bool ready;                               /* read-only: TLS handshake done (plain: at once) */
    bool authenticated;                       /* read-only: connAuthenticated was called */
    bool peer_verified;                       /* read-only: a client certificate was verified */
    char peer_name[CONN_PEER_NAME_MAX];       /* read-only: its name (tlsSessionPeerName) */
    unsigned calls;                           /* read-only: calls awaiting their reply */
    uint64_t opened_ms;                       /* read-only: loop time of the accept */
    uint64_t active_ms;                       /* read-only: loop time of the last frame */
    unsigned auth_failures;                   /* private */
    struct conn_limits limits;                /* private */
    struct conn *next, *prev;                 /* private: the listener's list */
    void *owner;                              /* private: the listener */
    void (*closed_cb)(struct conn *c);        /* private: told when the handle is closed */
    void (*hook)(struct conn *c, void *data); /* private: connOnClose */
    void *hook_data;                          /* private */
};

/* Call fn(c, data) once when c starts closing (one hook per connection: a worker session;
 * NULL removes it). */
void connOnClose(struct conn *c, void (*fn)(struct conn *c, void *data), void *data);

/* Accept a pending connection from server into a new conn, with TLS when tls is not NULL.
 * Returns 0 or an RC_E* code. The connection starts unauthenticated unless open is set (no
 * credential is required of anyone). */
int connAccept(uv_stream_t *server, struct tls_ctx *tls, const struct conn_limits *limits,
               bool open, conn_frame_cb cb, void *data, struct conn **out);

/* The peer proved who it is (a token, a client certificate): frames up to max_frame. */
void connAuthenticated(struct conn *c);
/* A request with a wrong credential; the connection closes after a few. */
void connAuthFailed(struct conn *c);

/* A call started on c / was answered (the backpressure on calls in flight). */
void connCallStarted(struct conn *c);
void connCallEnded(struct conn *c);

/* Queue a frame (header + payload copied). Dropped silently unless OPEN. */
void connSend(struct conn *c, uint8_t type, uint32_t stream, const void *payload, size_t len);
/* Queue a whole encoded frame (frame.h), taking frame (malloc'd): no copy. */
void connSendFrame(struct conn *c, uint8_t *frame, size_t len);

/* Start closing (idempotent). The memory goes when the last reference is dropped. */
void connClose(struct conn *c);

void connRef(struct conn *c);
void connUnref(struct conn *c);

#endif /* RC_NODE_CONN_H */
