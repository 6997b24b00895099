/*
 * One RPC connection (server side): reads frames (core/frame.c), hands requests to the node's
 * dispatcher, writes replies. Lifecycle (STYLE.md §9):
 *
 *   OPEN ──read error / protocol error / connClose──▶ CLOSING ──uv close cb──▶ CLOSED (freed
 *   when the last reference is dropped)
 *
 * Calls in flight hold references, so a reply to a closed connection is dropped, never a
 * use-after-free. Every socket has TCP_NODELAY (DESIGN.md §8).
 */
#ifndef RC_NODE_CONN_H
#define RC_NODE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"

enum conn_state { CONN_OPEN = 0, CONN_CLOSING, CONN_CLOSED };

struct conn;
/* Called for each complete frame while the connection is open (payload borrowed). */
typedef void (*conn_frame_cb)(struct conn *c, uint8_t type, uint32_t stream, const uint8_t *payload,
                              size_t len, void *data);

struct conn {
    uv_tcp_t tcp;                             /* private */
    enum conn_state state;                    /* read-only */
    unsigned refs;                            /* private */
    struct rc_frame_decoder dec;              /* private */
    conn_frame_cb frame_cb;                   /* private */
    void *data;                               /* private: the dispatcher's */
    uint64_t id;                              /* read-only: for logs */
    char peer[64];                            /* read-only: "ip:port" */
    struct conn *next, *prev;                 /* private: the listener's list */
    void *owner;                              /* private: the listener */
    void (*closed_cb)(struct conn *c);        /* private: told when the handle is closed */
    void (*hook)(struct conn *c, void *data); /* private: connOnClose */
    void *hook_data;                          /* private */
};

/* Call fn(c, data) once when c starts closing (one hook per connection: a worker session;
 * NULL removes it). */
void connOnClose(struct conn *c, void (*fn)(struct conn *c, void *data), void *data);

/* Accept a pending connection from server into a new conn. Returns 0 or an RC_E* code. */
int connAccept(uv_stream_t *server, size_t max_frame, conn_frame_cb cb, void *data,
               struct conn **out);

/* Queue a frame (header + payload copied). Dropped silently unless OPEN. */
void connSend(struct conn *c, uint8_t type, uint32_t stream, const void *payload, size_t len);
/* Queue a whole encoded frame (frame.h), taking frame (malloc'd): no copy. */
void connSendFrame(struct conn *c, uint8_t *frame, size_t len);

/* Start closing (idempotent). The memory goes when the last reference is dropped. */
void connClose(struct conn *c);

void connRef(struct conn *c);
void connUnref(struct conn *c);

#endif /* RC_NODE_CONN_H */
