/*
 * A TCP connection on the libuv loop that is plain or TLS (tls.h) behind one interface: the
 * owner writes and reads plaintext either way. Used by the RPC server (node/conn.c), the
 * worker's link to the leader (node/link.c) and the Raft transport (raft/transport.c).
 *
 * Use: sstreamInit, then connect or accept through s->tcp as with any uv_tcp_t, then
 * sstreamStart with a TLS context (NULL: plain). TCP_NODELAY is set (DESIGN.md §8). ready fires
 * once the connection is usable: for plain, from inside sstreamStart; for TLS, when the
 * handshake is done (the owner bounds how long that may take). Writes before then are kept and
 * sent after the handshake. read delivers plaintext. error fires at most once — EOF, a socket or
 * TLS error, a failed write — after which nothing else is delivered; the owner then closes.
 * written fires after each write leaves the socket, so that an owner that paused reading for a
 * long write queue can resume. Callbacks never fire after sstreamClose.
 *
 * Lifecycle (STYLE.md §9): NEW → STARTED → (READY) → CLOSING → CLOSED; close_cb fires once the
 * handle is closed, and only then may the memory go.
 */
#ifndef RC_NET_SSTREAM_H
#define RC_NET_SSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tls.h"

struct sstream;
typedef void (*sstream_ready_cb)(struct sstream *s);
typedef void (*sstream_read_cb)(struct sstream *s, const uint8_t *data, size_t len);
typedef void (*sstream_error_cb)(struct sstream *s, const char *why);
typedef void (*sstream_written_cb)(struct sstream *s);
typedef void (*sstream_close_cb)(struct sstream *s);

enum sstream_state {
    SSTREAM_NEW = 0,
    SSTREAM_STARTED,
    SSTREAM_READY,
    SSTREAM_CLOSING,
    SSTREAM_CLOSED
};

struct sstream_callbacks {
    sstream_ready_cb ready;
    sstream_read_cb read;
    sstream_error_cb error;
    sstream_written_cb written; /* may be NULL */
};

struct sstream_plain;

struct sstream {
    uv_tcp_t tcp;             /* public until sstreamStart: connect or accept with it */
    void *data;               /* the owner's */
    enum sstream_state state; /* read-only */
    struct tls_session *tls;  /* private (owned); NULL for plain */
    struct sstream_callbacks cb;
    sstream_close_cb close_cb;
    struct sstream_plain *early; /* private: plaintext written before READY */
    struct sstream_plain **early_tail;
    size_t early_bytes;
    bool failed;  /* private: error has fired */
    bool reading; /* private: uv_read_start is in effect */
    bool paused;  /* private: the owner stopped reading */
};

/* uv_tcp_init on loop; s->tcp.data is s. */
void sstreamInit(struct sstream *s, uv_loop_t *loop);

/* Start on a connected or accepted s->tcp: ctx NULL for plain, else a new TLS session of ctx
 * (its side says whether this end is the client or the server). Returns 0 or RC_ENOMEM /
 * RC_EIO (then no callback fires; close it). */
int sstreamStart(struct sstream *s, struct tls_ctx *ctx, const struct sstream_callbacks *cb);

/* Send len bytes of buf, which the stream takes (it frees buf, on error too). Returns 0, or
 * RC_EIO when the stream is failed or closing (nothing sent). */
int sstreamWrite(struct sstream *s, uint8_t *buf, size_t len);

/* Bytes accepted by sstreamWrite and not yet written to the socket. */
size_t sstreamQueued(const struct sstream *s);

/* Stop and resume reading from the socket (backpressure). Plaintext already decrypted is still
 * delivered. */
void sstreamPause(struct sstream *s);
void sstreamResume(struct sstream *s);

/* Close (idempotent); cb fires when the handle is closed. */
void sstreamClose(struct sstream *s, sstream_close_cb cb);

bool sstreamIsTls(const struct sstream *s);
/* TLS only, once READY: whether the peer's certificate is valid for name (tlsSessionPeerMatches),
 * and its name (tlsSessionPeerName). Plain streams: false. */
bool sstreamPeerMatches(const struct sstream *s, const char *name);
bool sstreamPeerName(const struct sstream *s, char *buf, size_t len);

#endif /* RC_NET_SSTREAM_H */
