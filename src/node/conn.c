#include "conn.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "log.h"

#define AUTH_FAILURES_MAX 3

static uint64_t next_conn_id = 1;

static void setState(struct conn *c, enum conn_state to)
{
    /* Allowed moves: OPEN→CLOSING, CLOSING→CLOSED. */
    assert((c->state == CONN_OPEN && to == CONN_CLOSING) ||
           (c->state == CONN_CLOSING && to == CONN_CLOSED));
    c->state = to;
}

void connRef(struct conn *c)
{
    c->refs++;
}

void connUnref(struct conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0) {
        assert(c->state == CONN_CLOSED);
        frameDecoderClose(&c->dec);
        free(c);
    }
}

static struct conn *connOf(struct sstream *s)
{
    return (struct conn *)((char *)s - offsetof(struct conn, stream));
}

static void closed(struct sstream *s)
{
    struct conn *c = connOf(s);
    setState(c, CONN_CLOSED);
    if (c->closed_cb != NULL) {
        c->closed_cb(c);
    }
    connUnref(c); /* the handle's own reference */
}

void connOnClose(struct conn *c, void (*fn)(struct conn *c, void *data), void *data)
{
    c->hook = fn;
    c->hook_data = data;
}

void connClose(struct conn *c)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    setState(c, CONN_CLOSING);
    if (c->hook != NULL) {
        void (*fn)(struct conn *, void *) = c->hook;
        c->hook = NULL;
        fn(c, c->hook_data);
    }
    sstreamClose(&c->stream, closed);
}

/* Reading goes on only while the peer reads its replies and its calls are answered. */
static void backpressure(struct conn *c)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    size_t queued = sstreamQueued(&c->stream);
    if (!c->stream.paused && (queued > CONN_QUEUE_MAX || c->calls > CONN_CALLS_MAX)) {
        sstreamPause(&c->stream);
    } else if (c->stream.paused && queued < CONN_QUEUE_MAX / 2 && c->calls < CONN_CALLS_MAX / 2) {
        sstreamResume(&c->stream);
    }
}

void connCallStarted(struct conn *c)
{
    c->calls++;
    backpressure(c);
}

void connCallEnded(struct conn *c)
{
    assert(c->calls > 0);
    c->calls--;
    backpressure(c);
}

void connAuthenticated(struct conn *c)
{
    if (!c->authenticated) {
        c->authenticated = true;
        c->auth_failures = 0;
        frameDecoderSetMax(&c->dec, c->limits.max_frame);
    }
}

void connAuthFailed(struct conn *c)
{
    if (++c->auth_failures >= AUTH_FAILURES_MAX) {
        LOG_WARN("rpc: closing a connection after failed authentications", "conn", "%llu",
                 (unsigned long long)c->id, "peer", "%s", c->peer);
        connClose(c);
    }
}

static void onFrame(const struct rc_frame *f, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_OPEN) {
        c->frame_cb(c, f->type, f->stream, f->payload, f->len, c->data);
    }
}

static void onRead(struct sstream *s, const uint8_t *data, size_t len)
{
    struct conn *c = connOf(s);
    c->active_ms = uv_now(s->tcp.loop);
    connRef(c); /* a frame callback may close the connection */
    int rv = frameDecoderFeed(&c->dec, data, len, onFrame, c);
    if (rv != 0) {
        LOG_WARN("rpc: protocol error, closing the connection", "conn", "%llu",
                 (unsigned long long)c->id, "peer", "%s", c->peer, "error", "%s",
                 frameDecoderError(&c->dec));
        connClose(c);
    }
    connUnref(c);
}

static void onReady(struct sstream *s)
{
    struct conn *c = connOf(s);
    c->ready = true;
    c->peer_verified = sstreamPeerName(s, c->peer_name, sizeof c->peer_name);
}

static void onError(struct sstream *s, const char *why)
{
    struct conn *c = connOf(s);
    if (!c->ready) {
        LOG_DEBUG("rpc: TLS handshake failed", "conn", "%llu", (unsigned long long)c->id, "peer",
                  "%s", c->peer, "error", "%s", why);
    }
    connClose(c);
}

static void onWritten(struct sstream *s)
{
    backpressure(connOf(s));
}

static const struct sstream_callbacks callbacks = {
    .ready = onReady, .read = onRead, .error = onError, .written = onWritten};

static void peerName(uv_tcp_t *tcp, char *buf, size_t len)
{
    struct sockaddr_storage sa;
    int n = sizeof sa;
    char ip[48] = "?";
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &n) != 0) {
        return;
    }
    if (sa.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
        snprintf(buf, len, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
    } else {
        uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    }
}

int connAccept(uv_stream_t *server, struct tls_ctx *tls, const struct conn_limits *limits,
               bool open, conn_frame_cb cb, void *data, struct conn **out)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return RC_ENOMEM;
    }
    c->frame_cb = cb;
    c->data = data;
    c->id = next_conn_id++;
    c->refs = 1; /* the handle's */
    c->limits = *limits;
    c->limits.preauth_frame =
        c->limits.preauth_frame != 0 ? c->limits.preauth_frame : CONN_PREAUTH_FRAME;
    c->authenticated = open;
    frameDecoderInit(&c->dec, open ? c->limits.max_frame : c->limits.preauth_frame);
    sstreamInit(&c->stream, server->loop);
    c->opened_ms = c->active_ms = uv_now(server->loop);
    if (uv_accept(server, (uv_stream_t *)&c->stream.tcp) != 0) {
        connClose(c);
        return RC_EIO;
    }
    peerName(&c->stream.tcp, c->peer, sizeof c->peer);
    if (sstreamStart(&c->stream, tls, &callbacks) != 0) {
        connClose(c);
        return RC_EIO;
    }
    *out = c;
    return 0;
}

void connSendFrame(struct conn *c, uint8_t *frame, size_t len)
{
    if (c->state != CONN_OPEN) {
        free(frame);
        return;
    }
    if (sstreamWrite(&c->stream, frame, len) != 0) {
        connClose(c);
        return;
    }
    backpressure(c);
}

void connSend(struct conn *c, uint8_t type, uint32_t stream, const void *payload, size_t len)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    uint8_t *buf = malloc(RC_FRAME_HEADER_SIZE + len);
    if (buf == NULL) {
        connClose(c);
        return;
    }
    frameWriteHeader(buf, type, stream, len);
    if (len > 0) {
        memcpy(buf + RC_FRAME_HEADER_SIZE, payload, len);
    }
    connSendFrame(c, buf, RC_FRAME_HEADER_SIZE + len);
}
