/*
 * One blocking RPC connection of libraftcron (internal): TCP connect with a deadline, frames out,
 * frames in until the RESPONSE of a stream (DESIGN.md §6, src/core/frame.h). Plain sockets and
 * poll, no event loop; every wait is bounded by an absolute monotonic deadline.
 *
 * Lifecycle (STYLE.md §9; every move asserted against one table in client_conn.c):
 *   CLOSED (fd -1) ──clientConnOpen──▶ OPEN ──GOAWAY received──▶ DRAINING (the reply in flight
 *   is still read; no new request is sent) ──clientConnClose, or any I/O or protocol
 *   error──▶ CLOSED; OPEN ──same──▶ CLOSED.
 * Every socket has TCP_NODELAY (DESIGN.md §8). With a TLS context the connection is TLS (memory
 * BIOs, net/tls.h, driven by the same polls): the server's certificate must chain to the
 * context's CA and be valid for the host dialled.
 *
 * Messages written to err name the address ("127.0.0.1:7101: connect: Connection refused").
 */
#ifndef RC_CLIENT_CLIENT_CONN_H
#define RC_CLIENT_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "net/tls.h"

/* Longest "host:port" accepted, NUL included. */
#define CLIENT_ADDR_MAX 300

enum client_conn_state { CLIENT_CONN_CLOSED = 0, CLIENT_CONN_OPEN, CLIENT_CONN_DRAINING };

struct client_conn {
    enum client_conn_state state; /* read-only */
    int fd;                       /* -1 when CLOSED */
    char addr[CLIENT_ADDR_MAX];   /* where fd is connected; "" when CLOSED */
    struct rc_frame_decoder dec;  /* private */
    struct tls_session *tls;      /* private (owned): NULL for plain TCP */
};

/* Monotonic clock in microseconds: what deadlines are measured against. */
int64_t clientConnNow(void);

/* Split "host:port" or "[v6]:port" into host (hostlen bytes) and port (portlen bytes). The port
 * must be a number from 1 to 65535. Returns 0 or RC_EINVAL. */
int clientConnSplitAddr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen);

void clientConnInit(struct client_conn *cc);

/* Connect to addr before deadline, with TLS when tls is not NULL (handshake and the server's
 * identity included). Returns 0, RC_ETIMEOUT or RC_EIO with a message in err (no request was
 * sent in either case). */
int clientConnOpen(struct client_conn *cc, const char *addr, struct tls_ctx *tls, int64_t deadline,
                   char *err, size_t errlen);

/* Whether the connection can take a new request: open, no GOAWAY, and the peer has not closed
 * it (pending PINGs are answered on the way). */
bool clientConnUsable(struct client_conn *cc);

/* Send a whole encoded frame before deadline. Returns 0, RC_ETIMEOUT or RC_EIO (the connection
 * is then closed: part of the frame may have left). */
int clientConnSend(struct client_conn *cc, const uint8_t *buf, size_t len, int64_t deadline,
                   char *err, size_t errlen);

/*
 * Read frames until the RESPONSE of stream arrives or deadline passes; PINGs are answered with
 * PONGs, other frames skipped. *out is owned by the caller (raftcron__response__free_unpacked).
 * Returns 0, RC_ETIMEOUT, or RC_EIO / RC_EPARSE (closed, reset or protocol error: the
 * connection is then closed).
 */
int clientConnAwait(struct client_conn *cc, uint32_t stream, int64_t deadline,
                    Raftcron__Response **out, char *err, size_t errlen);

/*
 * The same for a held call (Events.Watch): each PUSH frame of stream is unpacked and its payload
 * handed to push (borrowed for the call), which returns non-zero to stop. Returns 0 when the
 * call's RESPONSE arrived (*out, as clientConnAwait: the server ended the call), RC_ETIMEOUT when
 * nothing more came before deadline (the connection stays open), RC_ECANCELED when push said
 * stop (the connection stays open), or RC_EIO / RC_EPARSE (the connection is then closed).
 */
int clientConnAwaitPush(struct client_conn *cc, uint32_t stream, int64_t deadline,
                        int (*push)(void *data, const uint8_t *payload, size_t len), void *data,
                        Raftcron__Response **out, char *err, size_t errlen);

void clientConnClose(struct client_conn *cc);

#endif /* RC_CLIENT_CLIENT_CONN_H */
