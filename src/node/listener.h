/*
 * The RPC listener: accepts TCP connections on --rpc-addr (TLS when configured) and keeps the
 * list of open ones so that a graceful shutdown can stop accepting, then close them all. It
 * bounds them (DESIGN.md §9): at most max_connections at once (the next is accepted and closed
 * at once, so that the backlog drains), and once a second it closes those idle for longer than
 * idle_ms or not authenticated within CONN_AUTH_TIMEOUT_MS.
 */
#ifndef RC_NODE_LISTENER_H
#define RC_NODE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "conn.h"

struct listener;
typedef void (*listener_close_cb)(struct listener *l);

struct listener_options {
    size_t max_frame;         /* an authenticated connection's frames; 0: RC_FRAME_MAX_DEFAULT */
    struct tls_ctx *tls;      /* borrowed; NULL: plain TCP */
    bool open;                /* no credential is asked of anyone: connections start
                               * authenticated */
    unsigned max_connections; /* 0: no cap */
    uint64_t idle_ms;         /* 0: never idle */
};

struct listener {
    uv_tcp_t tcp;              /* private */
    uv_timer_t sweep;          /* private: idle and unauthenticated connections */
    struct conn *conns;        /* private: open connections */
    unsigned n_conns;          /* read-only */
    uint64_t refused;          /* read-only: connections closed at accept for the cap */
    uint64_t idled;            /* read-only: connections closed idle or unauthenticated */
    struct listener_options o; /* private */
    conn_frame_cb frame_cb;
    void *data;
    bool listening;
    unsigned closing; /* private: handles whose close callback is pending */
    listener_close_cb close_cb;
};

/* Parse "HOST:PORT" / "[V6]:PORT" (numeric hosts and "localhost") into a socket address.
 * Returns 0 or RC_EINVAL with a message. */
int listenerParseAddr(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen);

/* Bind and listen. Returns 0, or RC_EINVAL / RC_EIO with a message (e.g. address in use). */
int listenerStart(struct listener *l, uv_loop_t *loop, const char *addr,
                  const struct listener_options *o, conn_frame_cb cb, void *data, char *err,
                  size_t errlen);

/* Stop accepting and close every connection; cb fires once the listener's handles are closed. */
void listenerClose(struct listener *l, listener_close_cb cb);

#endif /* RC_NODE_LISTENER_H */
