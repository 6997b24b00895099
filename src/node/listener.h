/*
 * The RPC listener: accepts TCP connections on --rpc-addr and keeps the list of open ones so
 * that a graceful shutdown can stop accepting, then close them all.
 */
#ifndef RC_NODE_LISTENER_H
#define RC_NODE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "conn.h"

struct listener;
typedef void (*listener_close_cb)(struct listener *l);

struct listener {
    uv_tcp_t tcp;       /* private */
    struct conn *conns; /* private: open connections */
    size_t max_frame;   /* private */
    conn_frame_cb frame_cb;
    void *data;
    bool listening;
    listener_close_cb close_cb;
};

/* Parse "HOST:PORT" / "[V6]:PORT" (numeric hosts and "localhost") into a socket address.
 * Returns 0 or RC_EINVAL with a message. */
int listenerParseAddr(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen);

/* Bind and listen. Returns 0, or RC_EINVAL / RC_EIO with a message (e.g. address in use). */
int listenerStart(struct listener *l, uv_loop_t *loop, const char *addr, size_t max_frame,
                  conn_frame_cb cb, void *data, char *err, size_t errlen);

/* Stop accepting and close every connection; cb fires once the listening handle is closed. */
void listenerClose(struct listener *l, listener_close_cb cb);

#endif /* RC_NODE_LISTENER_H */
