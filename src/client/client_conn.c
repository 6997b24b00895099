#include "client_conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#define READ_CHUNK 16384

int64_t clientConnNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* poll() timeout in ms for the time left, rounded up so that a wait never ends just before the
 * deadline and spins. */
static int msLeft(int64_t deadline)
{
    int64_t left = deadline - clientConnNow();
    if (left <= 0) {
        return 0;
    }
    int64_t ms = (left + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}

int clientConnSplitAddr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':') {
            return RC_EINVAL;
        }
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
            return RC_EINVAL; /* an IPv6 address needs brackets */
        }
        hlen = (size_t)(colon - addr);
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (hlen == 0 || hlen >= hostlen || plen == 0 || plen > 5 || plen >= portlen ||
        strspn(p, "0123456789") != plen || atoi(p) < 1 || atoi(p) > 65535) {
        return RC_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

/* The allowed moves of the lifecycle in client_conn.h. */
static const bool moves[3][3] = {
    [CLIENT_CONN_CLOSED] = {[CLIENT_CONN_OPEN] = true},
    [CLIENT_CONN_OPEN] = {[CLIENT_CONN_DRAINING] = true, [CLIENT_CONN_CLOSED] = true},
    [CLIENT_CONN_DRAINING] = {[CLIENT_CONN_CLOSED] = true},
};

static void setState(struct client_conn *cc, enum client_conn_state to)
{
    assert(moves[cc->state][to]);
    (void)moves; /* NDEBUG builds keep the table as documentation only */
    cc->state = to;
}

void clientConnInit(struct client_conn *cc)
{
    memset(cc, 0, sizeof *cc);
    cc->state = CLIENT_CONN_CLOSED;
    cc->fd = -1;
}

void clientConnClose(struct client_conn *cc)
{
    if (cc->state == CLIENT_CONN_CLOSED) {
        return;
    }
    close(cc->fd);
    frameDecoderClose(&cc->dec);
    tlsSessionFree(cc->tls);
    cc->tls = NULL;
    cc->fd = -1;
    cc->addr[0] = '\0';
    setState(cc, CLIENT_CONN_CLOSED);
}

/* Non-blocking connect, then wait for writability: the only portable way to bound connect(). */
static int connectOne(const struct addrinfo *ai, int64_t deadline, int *out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        return errno;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return e;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do {
        n = poll(&p, 1, msLeft(deadline));
    } while (n < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (n == 0) {
        soerr = ETIMEDOUT;
    } else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        soerr = errno;
    }
    if (soerr != 0) {
        close(fd);
        return soerr;
    }
    *out = fd;
    return 0;
}

static int handshake(struct client_conn *cc, const char *host, int64_t deadline, char *err,
                     size_t errlen);

int clientConnOpen(struct client_conn *cc, const char *addr, struct tls_ctx *tls, int64_t deadline,
                   char *err, size_t errlen)
{
    char host[CLIENT_ADDR_MAX], port[8];
    clientConnClose(cc);
    if (strlen(addr) >= sizeof cc->addr ||
        clientConnSplitAddr(addr, host, sizeof host, port, sizeof port) != 0) {
        return errSet(err, errlen, RC_EIO, "%s: not a host:port address", addr);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        return errSet(err, errlen, RC_EIO, "%s: %s", addr, gai_strerror(rv));
    }
    int e = ENOENT;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        e = connectOne(ai, deadline, &cc->fd);
        if (e == 0 || e == ETIMEDOUT) {
            break;
        }
    }
    freeaddrinfo(res);
    if (e != 0) {
        cc->fd = -1;
        return errSet(err, errlen, e == ETIMEDOUT ? RC_ETIMEOUT : RC_EIO, "%s: connect: %s", addr,
                      strerror(e));
    }
    snprintf(cc->addr, sizeof cc->addr, "%s", addr);
    frameDecoderInit(&cc->dec, RC_FRAME_MAX_DEFAULT);
    setState(cc, CLIENT_CONN_OPEN);
    if (tls != NULL) {
        if (tlsSessionNew(tls, &cc->tls) != 0) {
            clientConnClose(cc);
            return errSet(err, errlen, RC_EIO, "%s: out of memory", addr);
        }
        rv = handshake(cc, host, deadline, err, errlen);
        if (rv != 0) {
            clientConnClose(cc);
            return rv;
        }
    }
    return 0;
}

static int rawSend(struct client_conn *cc, const uint8_t *buf, size_t len, int64_t deadline,
                   char *err, size_t errlen)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(cc->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return errSet(err, errlen, RC_EIO, "%s: send: %s", cc->addr, strerror(errno));
        }
        struct pollfd p = {.fd = cc->fd, .events = POLLOUT};
        if (clientConnNow() >= deadline) {
            return errSet(err, errlen, RC_ETIMEOUT, "%s: send timed out", cc->addr);
        }
        if (poll(&p, 1, msLeft(deadline)) < 0 && errno != EINTR) {
            return errSet(err, errlen, RC_EIO, "%s: poll: %s", cc->addr, strerror(errno));
        }
    }
    return 0;
}

/* Send what the TLS session has for the network. */
static int flushTls(struct client_conn *cc, int64_t deadline, char *err, size_t errlen)
{
    uint8_t out[READ_CHUNK];
    size_t n;
    while ((n = tlsSessionPull(cc->tls, out, sizeof out)) > 0) {
        int rv = rawSend(cc, out, n, deadline, err, errlen);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int sendAll(struct client_conn *cc, const uint8_t *buf, size_t len, int64_t deadline,
                   char *err, size_t errlen)
{
    if (cc->tls == NULL) {
        return rawSend(cc, buf, len, deadline, err, errlen);
    }
    if (tlsSessionWrite(cc->tls, buf, len) != 0) {
        return errSet(err, errlen, RC_EIO, "%s: tls: %s", cc->addr, tlsSessionError(cc->tls));
    }
    return flushTls(cc, deadline, err, errlen);
}

/* The handshake on the connected socket, then the server's identity: its certificate must be
 * valid for the host we dialled (DNS name or IP address). */
static int handshake(struct client_conn *cc, const char *host, int64_t deadline, char *err,
                     size_t errlen)
{
    for (;;) {
        int hs = tlsSessionHandshake(cc->tls);
        int rv = flushTls(cc, deadline, err, errlen);
        if (rv != 0) {
            return rv;
        }
        if (hs < 0) {
            return errSet(err, errlen, RC_EIO, "%s: tls: %s", cc->addr, tlsSessionError(cc->tls));
        }
        if (hs > 0) {
            break;
        }
        uint8_t buf[READ_CHUNK];
        ssize_t n = recv(cc->fd, buf, sizeof buf, 0);
        if (n == 0) {
            return errSet(err, errlen, RC_EIO,
                          "%s: tls: the server closed the connection during the handshake "
                          "(does it want a client certificate, or speak TLS at all?)",
                          cc->addr);
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return errSet(err, errlen, RC_EIO, "%s: recv: %s", cc->addr, strerror(errno));
        }
        if (n < 0) {
            struct pollfd p = {.fd = cc->fd, .events = POLLIN};
            if (clientConnNow() >= deadline) {
                return errSet(err, errlen, RC_ETIMEOUT, "%s: tls handshake timed out", cc->addr);
            }
            (void)poll(&p, 1, msLeft(deadline));
            continue;
        }
        if (tlsSessionPush(cc->tls, buf, (size_t)n) != 0) {
            return errSet(err, errlen, RC_EIO, "%s: out of memory", cc->addr);
        }
    }
    if (!tlsSessionPeerMatches(cc->tls, host)) {
        return errSet(err, errlen, RC_EIO, "%s: tls: the server's certificate is not valid for %s",
                      cc->addr, host);
    }
    return 0;
}

int clientConnSend(struct client_conn *cc, const uint8_t *buf, size_t len, int64_t deadline,
                   char *err, size_t errlen)
{
    int rv = sendAll(cc, buf, len, deadline, err, errlen);
    if (rv != 0) {
        clientConnClose(cc);
    }
    return rv;
}

/* What the frame callback found, for the reader that fed the decoder. */
struct reader {
    struct client_conn *cc;
    uint32_t stream; /* 0: no call waits (draining before a request) */
    int64_t deadline;
    Raftcron__Response *resp; /* the awaited response, once arrived */
    int (*push)(void *data, const uint8_t *payload, size_t len); /* PUSH of stream, or NULL */
    void *push_data;
    bool stopped; /* push said stop */
    int rv;       /* first error met in a callback */
    char *err;
    size_t errlen;
};

static void answerPing(struct reader *r, const struct rc_frame *f)
{
    uint8_t *buf = malloc(RC_FRAME_HEADER_SIZE + f->len);
    if (buf == NULL) {
        return; /* an unanswered PING costs at most this connection, later */
    }
    frameEncode(RC_FRAME_PONG, f->stream, f->payload, f->len, buf, RC_FRAME_HEADER_SIZE + f->len);
    int rv = sendAll(r->cc, buf, RC_FRAME_HEADER_SIZE + f->len, r->deadline, r->err, r->errlen);
    free(buf);
    if (rv != 0 && r->rv == 0) {
        r->rv = rv;
    }
}

static void onFrame(const struct rc_frame *f, void *arg)
{
    struct reader *r = arg;
    switch (f->type) {
    case RC_FRAME_RESPONSE:
        if (r->stream != 0 && f->stream == r->stream && r->resp == NULL && r->rv == 0) {
            r->rv = frameUnpackResponse(f->payload, f->len, &r->resp, r->err, r->errlen);
        }
        break; /* a response to an abandoned stream is dropped */
    case RC_FRAME_PING:
        answerPing(r, f);
        break;
    case RC_FRAME_GOAWAY:
        if (r->cc->state == CLIENT_CONN_OPEN) {
            setState(r->cc, CLIENT_CONN_DRAINING);
        }
        break;
    case RC_FRAME_PUSH:
        if (r->push != NULL && f->stream == r->stream && !r->stopped && r->rv == 0) {
            Raftcron__Push *p = NULL;
            r->rv = frameUnpackPush(f->payload, f->len, &p, r->err, r->errlen);
            if (p != NULL) {
                r->stopped = r->push(r->push_data, p->payload.data, p->payload.len) != 0;
                raftcron__push__free_unpacked(p, NULL);
            }
        }
        break;
    default:
        break; /* PONG and the rest mean nothing to a caller */
    }
}

static int feed(struct reader *r, const uint8_t *buf, size_t n)
{
    struct client_conn *cc = r->cc;
    if (frameDecoderFeed(&cc->dec, buf, n, onFrame, r) != 0) {
        return errSet(r->err, r->errlen, RC_EPARSE, "%s: protocol error: %s", cc->addr,
                      frameDecoderError(&cc->dec));
    }
    return r->rv;
}

/* Read what is there (or wait until deadline for something) and feed it. Returns 0, RC_EIO on
 * EOF or error, RC_EPARSE on a protocol error, RC_ETIMEOUT when nothing came in time. */
static int readSome(struct reader *r, bool wait)
{
    struct client_conn *cc = r->cc;
    uint8_t buf[READ_CHUNK];
    ssize_t n = recv(cc->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait) {
            return RC_ETIMEOUT;
        }
        struct pollfd p = {.fd = cc->fd, .events = POLLIN};
        int k = poll(&p, 1, msLeft(r->deadline));
        if (k == 0 || (k < 0 && errno == EINTR)) {
            return clientConnNow() >= r->deadline ? RC_ETIMEOUT : 0;
        }
        return k < 0 ? errSet(r->err, r->errlen, RC_EIO, "%s: poll: %s", cc->addr, strerror(errno))
                     : 0;
    }
    if (n == 0) {
        /* A TLS server closes a plain client's connection at its first bytes. */
        return errSet(r->err, r->errlen, RC_EIO, "%s: connection closed by the server%s", cc->addr,
                      cc->tls == NULL ? " (if it speaks TLS, the client needs its CA: --cacert)"
                                      : "");
    }
    if (n < 0) {
        return errSet(r->err, r->errlen, RC_EIO, "%s: recv: %s", cc->addr, strerror(errno));
    }
    if (cc->tls == NULL) {
        return feed(r, buf, (size_t)n);
    }
    if (tlsSessionPush(cc->tls, buf, (size_t)n) != 0) {
        return errSet(r->err, r->errlen, RC_EIO, "%s: out of memory", cc->addr);
    }
    for (;;) {
        ssize_t got = tlsSessionRead(cc->tls, buf, sizeof buf);
        if (got == 0) {
            return r->rv;
        }
        if (got < 0) {
            const char *why = tlsSessionError(cc->tls);
            return errSet(r->err, r->errlen, RC_EIO, "%s: %s", cc->addr,
                          why[0] != '\0' ? why : "connection closed by the server");
        }
        int rv = feed(r, buf, (size_t)got);
        if (rv != 0 || cc->state == CLIENT_CONN_CLOSED) {
            return rv;
        }
    }
}

bool clientConnUsable(struct client_conn *cc)
{
    if (cc->state != CLIENT_CONN_OPEN) {
        clientConnClose(cc);
        return false;
    }
    char err[RC_ERRMSG_SIZE];
    struct reader r = {
        .cc = cc, .deadline = clientConnNow() + 1000000, .err = err, .errlen = sizeof err};
    int rv;
    while ((rv = readSome(&r, false)) == 0) {
    }
    if (rv != RC_ETIMEOUT || cc->state != CLIENT_CONN_OPEN) {
        clientConnClose(cc);
        return false;
    }
    return true;
}

int clientConnAwait(struct client_conn *cc, uint32_t stream, int64_t deadline,
                    Raftcron__Response **out, char *err, size_t errlen)
{
    struct reader r = {
        .cc = cc, .stream = stream, .deadline = deadline, .err = err, .errlen = errlen};
    int rv = 0;
    while (r.resp == NULL && rv == 0) {
        rv = readSome(&r, true);
    }
    if (r.resp != NULL) {
        *out = r.resp;
        return 0;
    }
    if (rv == RC_ETIMEOUT) {
        errSet(err, errlen, RC_ETIMEOUT, "%s: no reply before the deadline", cc->addr);
    }
    clientConnClose(cc);
    return rv;
}

int clientConnAwaitPush(struct client_conn *cc, uint32_t stream, int64_t deadline,
                        int (*push)(void *data, const uint8_t *payload, size_t len), void *data,
                        Raftcron__Response **out, char *err, size_t errlen)
{
    struct reader r = {.cc = cc,
                       .stream = stream,
                       .deadline = deadline,
                       .push = push,
                       .push_data = data,
                       .err = err,
                       .errlen = errlen};
    int rv = 0;
    while (r.resp == NULL && rv == 0 && !r.stopped) {
        rv = readSome(&r, true);
    }
    if (r.resp != NULL) {
        *out = r.resp;
        return 0;
    }
    if (r.stopped) {
        return RC_ECANCELED;
    }
    if (rv == RC_ETIMEOUT) {
        return rv;
    }
    clientConnClose(cc);
    return rv;
}
