#include "transport.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define MAGIC      "RCRAFT02"
#define MAGIC_LEN  8
#define HEADER_LEN (MAGIC_LEN + 8 + 8 + 2)
#define BACKLOG    128
#define HOST_MAX   256
#define PORT_MAX   8

/* Intrusive doubly-linked list with a sentinel: pending requests are removed from the
 * middle whenever they complete, and close walks whatever is left. */
struct link {
    struct link *prev;
    struct link *next;
};

static void linkInit(struct link *head)
{
    head->prev = head->next = head;
}

static bool linkEmpty(const struct link *head)
{
    return head->next == head;
}

static void linkPush(struct link *head, struct link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void linkRemove(struct link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

#define CONTAINER(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* ---- State machines (STYLE.md §9) ------------------------------------------------------- */

enum trState { TR_NEW, TR_READY, TR_LISTENING, TR_CLOSING, TR_CLOSED, TR__N };
static const char *const trNames[TR__N] = {"NEW", "READY", "LISTENING", "CLOSING", "CLOSED"};
static const bool trMoves[TR__N][TR__N] = {
    [TR_NEW] = {[TR_READY] = true, [TR_CLOSING] = true},
    [TR_READY] = {[TR_LISTENING] = true, [TR_CLOSING] = true},
    [TR_LISTENING] = {[TR_CLOSING] = true},
    [TR_CLOSING] = {[TR_CLOSED] = true},
};

/* A connect request can loop on CONNECTING: a failed attempt moves on to the next address a
 * name resolved to. DONE is terminal: the request's callback has fired and the object is
 * gone. */
enum connectState {
    CONNECT_RESOLVING,
    CONNECT_CONNECTING,
    CONNECT_HANDSHAKING,
    CONNECT_ABORTING,
    CONNECT_DONE,
    CONNECT__N
};
static const char *const connectNames[CONNECT__N] = {"RESOLVING", "CONNECTING", "HANDSHAKING",
                                                     "ABORTING", "DONE"};
static const bool connectMoves[CONNECT__N][CONNECT__N] = {
    [CONNECT_RESOLVING] = {[CONNECT_CONNECTING] = true, [CONNECT_DONE] = true},
    [CONNECT_CONNECTING] = {[CONNECT_CONNECTING] = true,
                            [CONNECT_HANDSHAKING] = true,
                            [CONNECT_ABORTING] = true,
                            [CONNECT_DONE] = true},
    [CONNECT_HANDSHAKING] = {[CONNECT_ABORTING] = true, [CONNECT_DONE] = true},
    [CONNECT_ABORTING] = {[CONNECT_DONE] = true},
};

enum incomingState { IN_HEADER, IN_ADDRESS, IN_ACCEPTED, IN_REJECTED, IN__N };
static const char *const incomingNames[IN__N] = {"HEADER", "ADDRESS", "ACCEPTED", "REJECTED"};
static const bool incomingMoves[IN__N][IN__N] = {
    [IN_HEADER] = {[IN_ADDRESS] = true, [IN_REJECTED] = true},
    [IN_ADDRESS] = {[IN_ACCEPTED] = true, [IN_REJECTED] = true},
};

/* ---- Objects ---------------------------------------------------------------------------- */

struct transport {
    struct raft_uv_transport *t; /* borrowed: the interface we implement */
    uv_loop_t *loop;             /* borrowed */
    enum trState state;
    bool trace;
    raft_id id;
    char address[TRANSPORT_ADDRESS_MAX + 1];
    char *bind_address; /* owned, may be NULL */
    unsigned handshake_timeout_ms;
    uint64_t cluster_id; /* 0: not known yet (adopted from the first peer that says) */
    transport_cluster_cb cluster_cb;
    void *cluster_data;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    bool has_handles; /* listener and sweep are initialised */
    uv_tcp_t listener;
    uv_timer_t sweep;   /* drops incoming connections whose handshake is late */
    unsigned n_closing; /* our handles whose close callback has not fired yet */
    struct link connects;
    struct link incomings;
    struct transport_stats stats;
};

struct connect {
    struct link link;            /* in transport.connects until DONE */
    struct transport *tr;        /* borrowed */
    struct raft_uv_connect *req; /* borrowed: raft's request */
    enum connectState state;
    int status;   /* what the callback reports once the socket has closed */
    raft_id peer; /* for the trace only */
    uv_getaddrinfo_t resolve;
    struct addrinfo *addrs;     /* owned (uv_freeaddrinfo), NULL for a numeric host */
    struct addrinfo *next_addr; /* borrowed from addrs: what to try after a failure */
    uv_tcp_t *tcp;              /* owned until handed to raft; raft_malloc'd */
    uv_connect_t conn;
    uv_write_t write;
    size_t handshake_len;
    char handshake[HEADER_LEN + TRANSPORT_ADDRESS_MAX];
};

struct incoming {
    struct link link;     /* in transport.incomings until ACCEPTED or REJECTED */
    struct transport *tr; /* borrowed */
    enum incomingState state;
    uv_tcp_t *tcp;     /* owned until handed to raft; raft_malloc'd */
    uint64_t deadline; /* uv_now() after which the handshake is late */
    size_t nread;      /* bytes of the current part received so far */
    size_t address_len;
    raft_id id;
    uint64_t cluster_id;
    unsigned char header[HEADER_LEN];
    char address[TRANSPORT_ADDRESS_MAX + 1];
};

static void trace(const struct transport *tr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace(const struct transport *tr, const char *fmt, ...)
{
    if (!tr->trace) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "transport %" PRIu64 ": ", (uint64_t)tr->id);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* An illegal move is a bug in this file: stop in every build, not only with assertions. */
static void checkMove(bool allowed, const char *what, const char *from, const char *to)
{
    if (!allowed) {
        fprintf(stderr, "transport: illegal %s move %s -> %s\n", what, from, to);
        abort();
    }
}

static void trMove(struct transport *tr, enum trState to)
{
    checkMove(trMoves[tr->state][to], "transport", trNames[tr->state], trNames[to]);
    trace(tr, "%s -> %s", trNames[tr->state], trNames[to]);
    tr->state = to;
}

static void connectMove(struct connect *c, enum connectState to)
{
    checkMove(connectMoves[c->state][to], "connect", connectNames[c->state], connectNames[to]);
    trace(c->tr, "connect %p to %" PRIu64 ": %s -> %s", (void *)c, (uint64_t)c->peer,
          connectNames[c->state], connectNames[to]);
    c->state = to;
}

static void incomingMove(struct incoming *in, enum incomingState to)
{
    checkMove(incomingMoves[in->state][to], "incoming", incomingNames[in->state],
              incomingNames[to]);
    trace(in->tr, "incoming %p: %s -> %s", (void *)in, incomingNames[in->state], incomingNames[to]);
    in->state = to;
}

/* ---- Closing ---------------------------------------------------------------------------- */

/* raft's contract: the close callback means "the transport's memory may go", so it waits
 * for every handle and request we still own. */
static void maybeClosed(struct transport *tr)
{
    if (tr->state != TR_CLOSING || tr->n_closing > 0 || !linkEmpty(&tr->connects) ||
        !linkEmpty(&tr->incomings)) {
        return;
    }
    trMove(tr, TR_CLOSED);
    if (tr->close_cb != NULL) {
        tr->close_cb(tr->t);
    }
}

static void ownHandleClosed(uv_handle_t *h)
{
    struct transport *tr = h->data;
    assert(tr->n_closing > 0);
    tr->n_closing--;
    maybeClosed(tr);
}

static void socketDropped(uv_handle_t *h)
{
    struct transport *tr = h->data;
    raft_free(h);
    assert(tr->n_closing > 0);
    tr->n_closing--;
    maybeClosed(tr);
}

/* Close a socket that no request object waits on any more (no callback of ours can fire for
 * it again) and free it; close waits for it through n_closing. */
static void dropSocket(struct transport *tr, uv_tcp_t *tcp)
{
    tcp->data = tr;
    tr->n_closing++;
    uv_close((uv_handle_t *)tcp, socketDropped);
}

/* ---- Addresses -------------------------------------------------------------------------- */

/* IPv6 literals need brackets so that the last colon is unambiguously the port's. */
static int splitAddress(const char *address, char *host, char *port)
{
    const char *h = address;
    const char *colon;
    size_t hl;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (close == NULL || close[1] != ':') {
            return RC_EINVAL;
        }
        h = address + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(address, ':');
        if (colon == NULL || memchr(address, ':', (size_t)(colon - address)) != NULL) {
            return RC_EINVAL;
        }
        hl = (size_t)(colon - address);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (hl == 0 || hl >= HOST_MAX || pl == 0 || pl > 5 || strspn(p, "0123456789") != pl) {
        return RC_EINVAL;
    }
    long n = strtol(p, NULL, 10);
    if (n < 1 || n > 65535) {
        return RC_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 0;
}

/* 0 and *sa filled when host is an IP literal; otherwise it is a name to resolve. */
static int parseNumeric(const char *host, const char *port, struct sockaddr_storage *sa)
{
    int p = atoi(port);
    if (uv_ip4_addr(host, p, (struct sockaddr_in *)sa) == 0) {
        return 0;
    }
    if (strchr(host, ':') != NULL && uv_ip6_addr(host, p, (struct sockaddr_in6 *)sa) == 0) {
        return 0;
    }
    return RC_ENOTFOUND;
}

static const struct addrinfo resolveHints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

/* Listening happens once at start-up, before any peer traffic: resolving there on the loop
 * thread costs nothing that matters, and a bad name fails raft_start at once. */
static int resolveForListen(struct transport *tr, const char *address, struct sockaddr_storage *sa)
{
    char host[HOST_MAX];
    char port[PORT_MAX];
    if (splitAddress(address, host, port) != 0) {
        return errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_INVALID,
                      "listen address \"%s\": expected HOST:PORT or [IPv6]:PORT", address);
    }
    if (parseNumeric(host, port, sa) == 0) {
        return 0;
    }
    uv_getaddrinfo_t req;
    int rv = uv_getaddrinfo(tr->loop, &req, NULL, host, port, &resolveHints);
    if (rv != 0) {
        return errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_IOERR, "listen address \"%s\": %s",
                      address, uv_strerror(rv));
    }
    memcpy(sa, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

/* ---- Outgoing connections --------------------------------------------------------------- */

static void putBigEndian(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t getBigEndian(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static size_t encodeHandshake(const struct transport *tr, char *buf)
{
    size_t len = strlen(tr->address);
    memcpy(buf, MAGIC, MAGIC_LEN);
    putBigEndian((unsigned char *)buf + MAGIC_LEN, tr->id, 8);
    putBigEndian((unsigned char *)buf + MAGIC_LEN + 8, tr->cluster_id, 8);
    putBigEndian((unsigned char *)buf + MAGIC_LEN + 16, len, 2);
    memcpy(buf + HEADER_LEN, tr->address, len);
    return HEADER_LEN + len;
}

/* The request ends here: with the connected stream (ownership passes to raft) or with a
 * failure status after the socket is gone. */
static void connectFinish(struct connect *c, uv_stream_t *stream, int status)
{
    struct transport *tr = c->tr;
    struct raft_uv_connect *req = c->req;
    linkRemove(&c->link);
    if (c->addrs != NULL) {
        uv_freeaddrinfo(c->addrs);
    }
    connectMove(c, CONNECT_DONE);
    free(c);
    if (status == 0) {
        tr->stats.connected++;
    } else if (status == RAFT_CANCELED) {
        tr->stats.canceled++;
    } else {
        tr->stats.connect_failed++;
    }
    req->cb(req, stream, status);
    maybeClosed(tr);
}

static void connectSocketClosed(uv_handle_t *h)
{
    struct connect *c = h->data;
    raft_free(c->tcp);
    c->tcp = NULL;
    connectFinish(c, NULL, c->status);
}

/* Close the socket; libuv completes the pending connect or write with UV_ECANCELED first (their
 * callbacks see ABORTING and return), so the object may only go in the close callback. */
static void connectAbort(struct connect *c, int status)
{
    c->status = status;
    connectMove(c, CONNECT_ABORTING);
    uv_close((uv_handle_t *)c->tcp, connectSocketClosed);
}

static void handshakeWritten(uv_write_t *w, int status)
{
    struct connect *c = w->data;
    if (c->state == CONNECT_ABORTING) {
        return;
    }
    if (status != 0) {
        errSet(c->tr->t->errmsg, sizeof c->tr->t->errmsg, RAFT_NOCONNECTION, "write handshake: %s",
               uv_strerror(status));
        connectAbort(c, RAFT_NOCONNECTION);
        return;
    }
    uv_tcp_t *tcp = c->tcp;
    c->tcp = NULL;
    connectFinish(c, (uv_stream_t *)tcp, 0);
}

static int connectAttempt(struct connect *c, const struct sockaddr *sa);

static void connected(uv_connect_t *req, int status)
{
    struct connect *c = req->data;
    if (c->state == CONNECT_ABORTING) {
        return;
    }
    if (status != 0) {
        struct transport *tr = c->tr;
        errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION, "connect: %s",
               uv_strerror(status));
        if (c->next_addr == NULL) {
            connectAbort(c, RAFT_NOCONNECTION);
            return;
        }
        const struct addrinfo *ai = c->next_addr;
        c->next_addr = ai->ai_next;
        dropSocket(tr, c->tcp);
        c->tcp = NULL;
        connectMove(c, CONNECT_CONNECTING);
        if (connectAttempt(c, ai->ai_addr) != 0) {
            connectFinish(c, NULL, RAFT_NOCONNECTION);
        }
        return;
    }
    /* The point of this transport (DESIGN.md §8). */
    int rv = uv_tcp_nodelay(c->tcp, 1);
    if (rv == 0) {
        uv_buf_t buf = uv_buf_init(c->handshake, (unsigned)c->handshake_len);
        rv = uv_write(&c->write, (uv_stream_t *)c->tcp, &buf, 1, handshakeWritten);
    }
    if (rv != 0) {
        errSet(c->tr->t->errmsg, sizeof c->tr->t->errmsg, RAFT_NOCONNECTION, "handshake: %s",
               uv_strerror(rv));
        connectAbort(c, RAFT_NOCONNECTION);
        return;
    }
    connectMove(c, CONNECT_HANDSHAKING);
}

/* Open a fresh socket and connect it to sa. On failure the socket is dropped, c->tcp is NULL
 * and the caller finishes the request. */
static int connectAttempt(struct connect *c, const struct sockaddr *sa)
{
    struct transport *tr = c->tr;
    c->tcp = raft_malloc(sizeof *c->tcp);
    if (c->tcp == NULL) {
        return errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOMEM, "out of memory");
    }
    uv_tcp_init(tr->loop, c->tcp);
    c->tcp->data = c;
    c->conn.data = c;
    int rv = uv_tcp_connect(&c->conn, c->tcp, sa, connected);
    if (rv != 0) {
        dropSocket(tr, c->tcp);
        c->tcp = NULL;
        return errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION, "connect: %s",
                      uv_strerror(rv));
    }
    return 0;
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct connect *c = req->data;
    struct transport *tr = c->tr;
    c->addrs = res;
    if (tr->state == TR_CLOSING) {
        connectFinish(c, NULL, RAFT_CANCELED);
        return;
    }
    if (status != 0 || res == NULL) {
        errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION, "resolve: %s",
               uv_strerror(status));
        connectFinish(c, NULL, RAFT_NOCONNECTION);
        return;
    }
    c->next_addr = res->ai_next;
    connectMove(c, CONNECT_CONNECTING);
    if (connectAttempt(c, res->ai_addr) != 0) {
        connectFinish(c, NULL, RAFT_NOCONNECTION);
    }
}

/* raft_uv_transport->connect */
static int implConnect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                       const char *address, raft_uv_connect_cb cb)
{
    struct transport *tr = t->impl;
    char host[HOST_MAX];
    char port[PORT_MAX];
    struct sockaddr_storage sa;
    if (tr->state != TR_READY && tr->state != TR_LISTENING) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_CANCELED, "transport is not running");
    }
    if (splitAddress(address, host, port) != 0) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_NOCONNECTION,
                      "peer address \"%s\": expected HOST:PORT or [IPv6]:PORT", address);
    }
    struct connect *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_NOMEM, "out of memory");
    }
    c->tr = tr;
    c->req = req;
    c->peer = id;
    c->write.data = c;
    c->resolve.data = c;
    c->handshake_len = encodeHandshake(tr, c->handshake);
    req->cb = cb;
    int rv;
    if (parseNumeric(host, port, &sa) == 0) {
        c->state = CONNECT_CONNECTING;
        rv = connectAttempt(c, (const struct sockaddr *)&sa);
    } else {
        c->state = CONNECT_RESOLVING;
        rv = uv_getaddrinfo(tr->loop, &c->resolve, resolved, host, port, &resolveHints);
        if (rv != 0) {
            rv = errSet(t->errmsg, sizeof t->errmsg, RAFT_NOCONNECTION, "resolve %s: %s", host,
                        uv_strerror(rv));
        }
    }
    if (rv != 0) {
        free(c);
        return rv;
    }
    trace(tr, "connect %p to %" PRIu64 " at %s: %s", (void *)c, (uint64_t)id, address,
          connectNames[c->state]);
    linkPush(&tr->connects, &c->link);
    return 0;
}

/* ---- Incoming connections --------------------------------------------------------------- */

/* counter: the statistic the rejection counts in, NULL when close is the reason. */
static void incomingReject(struct incoming *in, uint64_t *counter)
{
    struct transport *tr = in->tr;
    incomingMove(in, IN_REJECTED);
    linkRemove(&in->link);
    if (counter != NULL) {
        (*counter)++;
    }
    dropSocket(tr, in->tcp);
    free(in);
}

/* Exactly the bytes still missing from the current part: anything past the handshake is
 * raft_uv's first message and must stay in the socket for it. */
static void incomingAlloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct incoming *in = h->data;
    if (in->state == IN_HEADER) {
        *buf = uv_buf_init((char *)in->header + in->nread, (unsigned)(HEADER_LEN - in->nread));
    } else {
        *buf = uv_buf_init(in->address + in->nread, (unsigned)(in->address_len - in->nread));
    }
}

static bool headerValid(struct incoming *in)
{
    if (memcmp(in->header, MAGIC, MAGIC_LEN) != 0) {
        return false;
    }
    in->id = getBigEndian(in->header + MAGIC_LEN, 8);
    in->cluster_id = getBigEndian(in->header + MAGIC_LEN + 8, 8);
    in->address_len = getBigEndian(in->header + MAGIC_LEN + 16, 2);
    return in->id != 0 && in->address_len >= 1 && in->address_len <= TRANSPORT_ADDRESS_MAX;
}

static void incomingAccept(struct incoming *in)
{
    struct transport *tr = in->tr;
    uv_read_stop((uv_stream_t *)in->tcp);
    in->address[in->address_len] = '\0';
    incomingMove(in, IN_ACCEPTED);
    linkRemove(&in->link);
    tr->stats.accepted++;
    trace(tr, "accepted %" PRIu64 " at %s", (uint64_t)in->id, in->address);
    tr->accept_cb(tr->t, in->id, in->address, (uv_stream_t *)in->tcp);
    free(in);
}

static void incomingRead(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct incoming *in = s->data;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        incomingReject(in, &in->tr->stats.rejected);
        return;
    }
    in->nread += (size_t)nread;
    if (in->state == IN_HEADER) {
        if (in->nread < HEADER_LEN) {
            return;
        }
        if (!headerValid(in)) {
            incomingReject(in, &in->tr->stats.rejected);
            return;
        }
        struct transport *tr = in->tr;
        if (in->cluster_id != 0 && tr->cluster_id != 0 && in->cluster_id != tr->cluster_id) {
            /* A node of another cluster (a reused address or data dir): its messages could
             * overwrite our log. Refused before raft sees a byte. */
            trace(tr, "rejected %" PRIu64 ": cluster %016" PRIx64 ", ours %016" PRIx64,
                  (uint64_t)in->id, in->cluster_id, tr->cluster_id);
            uint64_t peer = in->id, theirs = in->cluster_id;
            incomingReject(in, &tr->stats.foreign);
            if (tr->cluster_cb != NULL) {
                tr->cluster_cb(tr->cluster_data, peer, theirs, false);
            }
            return;
        }
        if (in->cluster_id != 0 && tr->cluster_id == 0) {
            tr->cluster_id = in->cluster_id; /* a new member learns its cluster's id */
            if (tr->cluster_cb != NULL) {
                tr->cluster_cb(tr->cluster_data, in->id, in->cluster_id, true);
            }
        }
        in->nread = 0;
        incomingMove(in, IN_ADDRESS);
        return;
    }
    if (in->nread < in->address_len) {
        return;
    }
    if (memchr(in->address, '\0', in->address_len) != NULL) {
        incomingReject(in, &in->tr->stats.rejected);
        return;
    }
    incomingAccept(in);
}

/* One timer for all pending handshakes: a late one is dropped between the timeout and 1.25
 * times it, which is all the precision this needs. */
static void sweepTick(uv_timer_t *timer)
{
    struct transport *tr = timer->data;
    uint64_t now = uv_now(tr->loop);
    struct link *l = tr->incomings.next;
    while (l != &tr->incomings) {
        struct incoming *in = CONTAINER(l, struct incoming, link);
        l = l->next;
        if (now >= in->deadline) {
            trace(tr, "incoming %p: handshake timed out", (void *)in);
            incomingReject(in, &tr->stats.timed_out);
        }
    }
    if (linkEmpty(&tr->incomings)) {
        uv_timer_stop(timer);
    }
}

static void sweepArm(struct transport *tr)
{
    if (uv_is_active((uv_handle_t *)&tr->sweep)) {
        return;
    }
    uint64_t period = tr->handshake_timeout_ms / 4;
    period = period > 0 ? period : 1;
    uv_timer_start(&tr->sweep, sweepTick, period, period);
}

static void incomingConnection(uv_stream_t *listener, int status)
{
    struct transport *tr = listener->data;
    if (status != 0 || tr->state != TR_LISTENING) {
        return;
    }
    struct incoming *in = calloc(1, sizeof *in);
    uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
    if (in == NULL || tcp == NULL) {
        free(in);
        raft_free(tcp);
        return;
    }
    uv_tcp_init(tr->loop, tcp);
    tcp->data = in;
    in->tr = tr;
    in->tcp = tcp;
    in->state = IN_HEADER;
    in->deadline = uv_now(tr->loop) + tr->handshake_timeout_ms;
    int rv = uv_accept(listener, (uv_stream_t *)tcp);
    if (rv == 0) {
        rv = uv_tcp_nodelay(tcp, 1);
    }
    if (rv == 0) {
        rv = uv_read_start((uv_stream_t *)tcp, incomingAlloc, incomingRead);
    }
    if (rv != 0) {
        trace(tr, "accept: %s", uv_strerror(rv));
        dropSocket(tr, tcp);
        free(in);
        return;
    }
    trace(tr, "incoming %p: %s", (void *)in, incomingNames[in->state]);
    linkPush(&tr->incomings, &in->link);
    sweepArm(tr);
}

/* raft_uv_transport->listen */
static int implListen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct transport *tr = t->impl;
    struct sockaddr_storage sa;
    assert(tr->state == TR_READY && !tr->has_handles);
    const char *address = tr->bind_address != NULL ? tr->bind_address : tr->address;
    int rv = resolveForListen(tr, address, &sa);
    if (rv != 0) {
        return rv;
    }
    uv_tcp_init(tr->loop, &tr->listener);
    uv_timer_init(tr->loop, &tr->sweep);
    tr->listener.data = tr;
    tr->sweep.data = tr;
    tr->has_handles = true;
    tr->accept_cb = cb;
    rv = uv_tcp_bind(&tr->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&tr->listener, BACKLOG, incomingConnection);
    }
    if (rv != 0) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_IOERR, "listen on %s: %s", address,
                      uv_strerror(rv));
    }
    trMove(tr, TR_LISTENING);
    return 0;
}

/* ---- Init and close --------------------------------------------------------------------- */

/* raft_uv_transport->init */
static int implInit(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct transport *tr = t->impl;
    assert(tr->state == TR_NEW);
    size_t len = strlen(address);
    if (id == 0 || len == 0 || len > TRANSPORT_ADDRESS_MAX) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_INVALID,
                      "server id must be non-zero and the address 1..%d bytes",
                      TRANSPORT_ADDRESS_MAX);
    }
    tr->id = id;
    memcpy(tr->address, address, len + 1);
    trMove(tr, TR_READY);
    return 0;
}

/* raft_uv_transport->close */
static void implClose(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct transport *tr = t->impl;
    trMove(tr, TR_CLOSING);
    tr->close_cb = cb;
    if (tr->has_handles) {
        tr->n_closing += 2;
        uv_close((uv_handle_t *)&tr->listener, ownHandleClosed);
        uv_close((uv_handle_t *)&tr->sweep, ownHandleClosed);
    }
    while (!linkEmpty(&tr->incomings)) {
        struct incoming *in = CONTAINER(tr->incomings.next, struct incoming, link);
        incomingReject(in, NULL);
    }
    /* A resolving request cannot be stopped once a worker thread runs it: uv_cancel then
     * fails and resolved() sees CLOSING. */
    for (struct link *l = tr->connects.next; l != &tr->connects; l = l->next) {
        struct connect *c = CONTAINER(l, struct connect, link);
        if (c->state == CONNECT_RESOLVING) {
            uv_cancel((uv_req_t *)&c->resolve);
        } else if (c->state != CONNECT_ABORTING) {
            connectAbort(c, RAFT_CANCELED);
        }
    }
    maybeClosed(tr);
}

int transportInit(struct raft_uv_transport *t, uv_loop_t *loop)
{
    struct transport *tr = calloc(1, sizeof *tr);
    if (tr == NULL) {
        return RC_ENOMEM;
    }
    void *data = t->data;
    memset(t, 0, sizeof *t);
    t->version = 1;
    t->data = data;
    t->impl = tr;
    t->init = implInit;
    t->listen = implListen;
    t->connect = implConnect;
    t->close = implClose;
    tr->t = t;
    tr->loop = loop;
    tr->state = TR_NEW;
    tr->trace = getenv("RAFTCRON_TRACE") != NULL;
    tr->handshake_timeout_ms = TRANSPORT_HANDSHAKE_TIMEOUT_MS;
    linkInit(&tr->connects);
    linkInit(&tr->incomings);
    return 0;
}

int transportSetBindAddress(struct raft_uv_transport *t, const char *address)
{
    struct transport *tr = t->impl;
    char host[HOST_MAX];
    char port[PORT_MAX];
    if (splitAddress(address, host, port) != 0) {
        return errSet(t->errmsg, sizeof t->errmsg, RC_EINVAL,
                      "bind address \"%s\": expected HOST:PORT or [IPv6]:PORT", address);
    }
    char *copy = strdup(address);
    if (copy == NULL) {
        return RC_ENOMEM;
    }
    free(tr->bind_address);
    tr->bind_address = copy;
    return 0;
}

void transportSetCluster(struct raft_uv_transport *t, uint64_t id, transport_cluster_cb cb,
                         void *data)
{
    struct transport *tr = t->impl;
    tr->cluster_id = id;
    tr->cluster_cb = cb;
    tr->cluster_data = data;
}

uint64_t transportClusterId(const struct raft_uv_transport *t)
{
    const struct transport *tr = t->impl;
    return tr->cluster_id;
}

void transportSetHandshakeTimeout(struct raft_uv_transport *t, unsigned ms)
{
    struct transport *tr = t->impl;
    tr->handshake_timeout_ms = ms > 0 ? ms : TRANSPORT_HANDSHAKE_TIMEOUT_MS;
}

void transportStats(const struct raft_uv_transport *t, struct transport_stats *out)
{
    const struct transport *tr = t->impl;
    *out = tr->stats;
    out->handshaking = 0;
    for (const struct link *l = tr->incomings.next; l != &tr->incomings; l = l->next) {
        out->handshaking++;
    }
}

void transportClose(struct raft_uv_transport *t)
{
    struct transport *tr = t->impl;
    if (tr == NULL) {
        return;
    }
    assert(tr->state == TR_CLOSED || !tr->has_handles);
    assert(tr->n_closing == 0 && linkEmpty(&tr->connects) && linkEmpty(&tr->incomings));
    free(tr->bind_address);
    free(tr);
    t->impl = NULL;
}
