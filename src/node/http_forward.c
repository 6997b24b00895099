#include "http_forward.h"

#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_conn.h"
#include "core/err.h"
#include "listener.h"
#include "log.h"
#include "raftcron/client.h"

#define TICK_MS 500

struct forward_conn {
    struct sstream s; /* plain, or TLS with the node's client context */
    uv_connect_t connect;
    uv_getaddrinfo_t resolve; /* the leader's address is a host name (a pod's, say) */
    bool resolving;           /* resolve is pending: closing waits for its callback */
    struct http_forward *f;
    enum forward_state state;
    char addr[256];
    struct rc_frame_decoder dec;
};

struct forward_call {
    struct forward_conn *conn;
    uint32_t stream;
    forward_cb cb;
    void *data;
    uint64_t deadline_ms;
    uint8_t *frame; /* owned until written */
    size_t frame_len;
    struct forward_call *next;
};

static void setState(struct forward_conn *c, enum forward_state to)
{
    static const bool allowed[4][4] = {
        [FORWARD_IDLE] = {[FORWARD_CONNECTING] = true},
        [FORWARD_CONNECTING] = {[FORWARD_OPEN] = true, [FORWARD_CLOSING] = true},
        [FORWARD_OPEN] = {[FORWARD_CLOSING] = true},
    };
    assert(allowed[c->state][to]);
    (void)allowed; /* NDEBUG builds check nothing */
    c->state = to;
}

/* Answer call with a status and message of our own and free it (unlinked by the caller). */
static void answer(struct forward_call *call, int status, const char *msg)
{
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    resp.status = (uint32_t)status;
    resp.message = (char *)msg;
    if (call->cb != NULL) {
        call->cb(call->data, &resp);
    }
    free(call->frame);
    free(call);
}

/* Take every call of conn (NULL: every call) out of the list and answer it. */
static void failCalls(struct http_forward *f, struct forward_conn *conn, int status,
                      const char *why)
{
    struct forward_call **p = &f->calls;
    struct forward_call *failed = NULL;
    while (*p != NULL) {
        struct forward_call *c = *p;
        if (conn == NULL || c->conn == conn) {
            *p = c->next;
            c->next = failed;
            failed = c;
        } else {
            p = &c->next;
        }
    }
    while (failed != NULL) {
        struct forward_call *c = failed;
        failed = c->next;
        char msg[512];
        snprintf(msg, sizeof msg, "%s%s", why,
                 c->frame == NULL ? " (the request was sent: its outcome is unknown)" : "");
        answer(c, status, msg);
    }
}

static void closed(struct sstream *st)
{
    struct forward_conn *c = st->data;
    struct http_forward *f = c->f;
    frameDecoderClose(&c->dec);
    free(c);
    f->closing--;
    if (!f->open && f->closing == 0 && f->close_cb != NULL) {
        f->close_cb(f);
    }
}

static void closeConn(struct forward_conn *c, const char *why)
{
    struct http_forward *f = c->f;
    if (c->state == FORWARD_CLOSING) {
        return;
    }
    setState(c, FORWARD_CLOSING);
    if (f->conn == c) {
        f->conn = NULL;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "forwarding to the leader at %s: %s", c->addr, why);
    failCalls(f, c, RC_STATUS_UNAVAILABLE, msg);
    f->closing++;
    if (c->resolving) {
        (void)uv_cancel((uv_req_t *)&c->resolve); /* resolved() closes it */
        return;
    }
    sstreamClose(&c->s, closed);
}

static void writeCall(struct forward_conn *c, struct forward_call *call)
{
    uint8_t *frame = call->frame;
    call->frame = NULL;
    if (sstreamWrite(&c->s, frame, call->frame_len) != 0) { /* it took frame */
        closeConn(c, "cannot write");
    }
}

static void onFrame(const struct rc_frame *fr, void *arg)
{
    struct forward_conn *c = arg;
    struct http_forward *f = c->f;
    if (fr->type != RC_FRAME_RESPONSE) {
        return; /* PING, GOAWAY, PUSH: nothing this client asked for */
    }
    for (struct forward_call **p = &f->calls; *p != NULL; p = &(*p)->next) {
        struct forward_call *call = *p;
        if (call->conn != c || call->stream != fr->stream) {
            continue;
        }
        *p = call->next;
        Raftcron__Response *resp = NULL;
        char err[RC_ERRMSG_SIZE];
        if (frameUnpackResponse(fr->payload, fr->len, &resp, err, sizeof err) != 0) {
            answer(call, RC_STATUS_UNAVAILABLE, err);
            return;
        }
        if (call->cb != NULL) {
            call->cb(call->data, resp);
        }
        raftcron__response__free_unpacked(resp, NULL);
        free(call->frame);
        free(call);
        return;
    }
}

static void onRead(struct sstream *st, const uint8_t *data, size_t n)
{
    struct forward_conn *c = st->data;
    if (c->state == FORWARD_OPEN && frameDecoderFeed(&c->dec, data, n, onFrame, c) != 0) {
        closeConn(c, frameDecoderError(&c->dec));
    }
}

static void onError(struct sstream *st, const char *why)
{
    closeConn(st->data, why);
}

/* Connected (and, with TLS, the leader's certificate checked against its address). */
static void onReady(struct sstream *st)
{
    struct forward_conn *c = st->data;
    if (c->state != FORWARD_CONNECTING) {
        return;
    }
    char host[256], port[16];
    if (sstreamIsTls(st) &&
        (clientConnSplitAddr(c->addr, host, sizeof host, port, sizeof port) != 0 ||
         !sstreamPeerMatches(st, host))) {
        closeConn(c, "the leader's certificate is not valid for its address");
        return;
    }
    setState(c, FORWARD_OPEN);
    for (struct forward_call *call = c->f->calls; call != NULL; call = call->next) {
        if (call->conn == c && call->frame != NULL && c->state == FORWARD_OPEN) {
            writeCall(c, call);
        }
    }
}

static const struct sstream_callbacks callbacks = {
    .ready = onReady, .read = onRead, .error = onError};

static void onConnect(uv_connect_t *req, int status)
{
    struct forward_conn *c = req->data;
    if (c->state != FORWARD_CONNECTING) {
        return;
    }
    if (status != 0) {
        closeConn(c, uv_strerror(status));
        return;
    }
    if (sstreamStart(&c->s, c->f->tls, &callbacks) != 0) {
        closeConn(c, "cannot start TLS");
    }
}

/* The leader's host name resolved (or not): connect, or close what closeConn left open. */
static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct forward_conn *c = req->data;
    c->resolving = false;
    if (c->state == FORWARD_CLOSING) {
        uv_freeaddrinfo(res);
        sstreamClose(&c->s, closed);
        return;
    }
    if (status != 0 || res == NULL) {
        uv_freeaddrinfo(res);
        closeConn(c, status != 0 ? uv_strerror(status) : "no address");
        return;
    }
    int rv = uv_tcp_connect(&c->connect, &c->s.tcp, res->ai_addr, onConnect);
    uv_freeaddrinfo(res);
    if (rv != 0) {
        closeConn(c, uv_strerror(rv));
    }
}

static struct forward_conn *openConn(struct http_forward *f, const char *addr)
{
    struct sockaddr_storage sa;
    char err[RC_ERRMSG_SIZE];
    bool numeric = listenerParseAddr(addr, &sa, err, sizeof err) == 0;
    char host[256], port[16];
    if (!numeric && clientConnSplitAddr(addr, host, sizeof host, port, sizeof port) != 0) {
        return NULL;
    }
    struct forward_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->f = f;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    frameDecoderInit(&c->dec, RC_FRAME_MAX_DEFAULT);
    sstreamInit(&c->s, f->loop);
    c->s.data = c;
    c->connect.data = c;
    c->resolve.data = c;
    setState(c, FORWARD_CONNECTING);
    int rv;
    if (numeric) {
        rv = uv_tcp_connect(&c->connect, &c->s.tcp, (struct sockaddr *)&sa, onConnect);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        rv = uv_getaddrinfo(f->loop, &c->resolve, resolved, host, port, &hints);
        c->resolving = rv == 0;
    }
    if (rv != 0) {
        c->state = FORWARD_CONNECTING;
        f->conn = c;
        closeConn(c, uv_strerror(rv));
        return NULL;
    }
    return c;
}

static void onTick(uv_timer_t *t)
{
    struct http_forward *f = t->data;
    uint64_t now = uv_now(f->loop);
    struct forward_call **p = &f->calls;
    while (*p != NULL) {
        struct forward_call *c = *p;
        if (c->deadline_ms > now) {
            p = &c->next;
            continue;
        }
        *p = c->next;
        answer(c, RC_STATUS_DEADLINE_EXCEEDED,
               "the leader did not answer in time (if the request was a write, its outcome is "
               "unknown)");
    }
    if (f->calls == NULL) {
        uv_timer_stop(&f->timer);
    }
}

void forwardInit(struct http_forward *f, uv_loop_t *loop, struct tls_ctx *tls)
{
    memset(f, 0, sizeof *f);
    f->loop = loop;
    f->tls = tls;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    f->open = true;
}

int forwardSend(struct http_forward *f, const char *addr, const uint8_t *req, size_t len,
                forward_cb cb, void *data)
{
    if (!f->open) {
        return RC_ESHUTDOWN;
    }
    if (f->conn != NULL && strcmp(f->conn->addr, addr) != 0) {
        closeConn(f->conn, "the leader moved");
    }
    if (f->conn == NULL) {
        f->conn = openConn(f, addr);
        if (f->conn == NULL) {
            return RC_EINVAL;
        }
    }
    struct forward_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return RC_ENOMEM;
    }
    if (++f->next_stream == 0) {
        f->next_stream = 1;
    }
    call->stream = f->next_stream;
    call->frame_len = RC_FRAME_HEADER_SIZE + len;
    call->frame = malloc(call->frame_len);
    if (call->frame == NULL ||
        frameEncode(RC_FRAME_REQUEST, call->stream, req, len, call->frame, call->frame_len) != 0) {
        free(call->frame);
        free(call);
        return RC_ENOMEM;
    }
    call->conn = f->conn;
    call->cb = cb;
    call->data = data;
    call->deadline_ms = uv_now(f->loop) + FORWARD_TIMEOUT_MS;
    call->next = f->calls;
    f->calls = call;
    if (!uv_is_active((uv_handle_t *)&f->timer)) {
        uv_timer_start(&f->timer, onTick, TICK_MS, TICK_MS);
    }
    if (f->conn->state == FORWARD_OPEN) {
        writeCall(f->conn, call);
    }
    return 0;
}

void forwardCancel(struct http_forward *f, void *data)
{
    for (struct forward_call *c = f->calls; c != NULL; c = c->next) {
        if (c->data == data) {
            c->cb = NULL;
        }
    }
}

static void timerClosed(uv_handle_t *h)
{
    struct http_forward *f = h->data;
    f->closing--;
    if (f->closing == 0 && f->close_cb != NULL) {
        f->close_cb(f);
    }
}

void forwardClose(struct http_forward *f, void (*cb)(struct http_forward *f))
{
    f->open = false;
    f->close_cb = cb;
    if (f->conn != NULL) {
        closeConn(f->conn, "the node is stopping");
    }
    failCalls(f, NULL, RC_STATUS_UNAVAILABLE, "the node is stopping");
    f->closing++;
    uv_close((uv_handle_t *)&f->timer, timerClosed);
}
