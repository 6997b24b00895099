#include "conn.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "log.h"

struct write_req {
    uv_write_t req;
    struct conn *conn;
    uint8_t *owned;  /* connSendFrame's buffer, or NULL */
    uint8_t bytes[]; /* header + payload (connSend) */
};

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

static void closed(uv_handle_t *h)
{
    struct conn *c = h->data;
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
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, closed);
}

static void allocBuf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

static void onFrame(const struct rc_frame *f, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_OPEN) {
        c->frame_cb(c, f->type, f->stream, f->payload, f->len, c->data);
    }
}

static void onRead(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (n > 0) {
        connRef(c); /* a frame callback may close the connection */
        int rv = frameDecoderFeed(&c->dec, (const uint8_t *)buf->base, (size_t)n, onFrame, c);
        if (rv != 0) {
            LOG_WARN("rpc: protocol error, closing the connection", "conn", "%llu",
                     (unsigned long long)c->id, "peer", "%s", c->peer, "error", "%s",
                     frameDecoderError(&c->dec));
            connClose(c);
        }
        connUnref(c);
    } else if (n < 0) {
        connClose(c);
    }
    free(buf->base);
}

int connAccept(uv_stream_t *server, size_t max_frame, conn_frame_cb cb, void *data,
               struct conn **out)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return RC_ENOMEM;
    }
    c->frame_cb = cb;
    c->data = data;
    c->id = next_conn_id++;
    c->refs = 1; /* the handle's */
    frameDecoderInit(&c->dec, max_frame);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->state = CONN_OPEN;
        connClose(c);
        return RC_EIO;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char ip[48] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
            snprintf(c->peer, sizeof c->peer, "%s:%d", ip,
                     ntohs(((struct sockaddr_in *)&sa)->sin_port));
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip,
                     ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
        }
    }
    uv_read_start((uv_stream_t *)&c->tcp, allocBuf, onRead);
    *out = c;
    return 0;
}

static void written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    if (status != 0) {
        connClose(w->conn);
    }
    connUnref(w->conn);
    free(w->owned);
    free(w);
}

void connSendFrame(struct conn *c, uint8_t *frame, size_t len)
{
    if (c->state != CONN_OPEN) {
        free(frame);
        return;
    }
    struct write_req *w = malloc(sizeof *w);
    if (w == NULL) {
        free(frame);
        connClose(c);
        return;
    }
    w->conn = c;
    w->owned = frame;
    connRef(c);
    uv_buf_t buf = uv_buf_init((char *)frame, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, written) != 0) {
        connUnref(c);
        free(frame);
        free(w);
        connClose(c);
    }
}

void connSend(struct conn *c, uint8_t type, uint32_t stream, const void *payload, size_t len)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    struct write_req *w = malloc(sizeof *w + RC_FRAME_HEADER_SIZE + len);
    if (w == NULL) {
        connClose(c);
        return;
    }
    w->owned = NULL;
    frameWriteHeader(w->bytes, type, stream, len);
    if (len > 0) {
        memcpy(w->bytes + RC_FRAME_HEADER_SIZE, payload, len);
    }
    w->conn = c;
    connRef(c);
    uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)(RC_FRAME_HEADER_SIZE + len));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, written) != 0) {
        connUnref(c);
        free(w);
        connClose(c);
    }
}
