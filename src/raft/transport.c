#include "transport.h"

#include <assert.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/raftmsg.h"
#include "core/secret.h"
#include "net/sstream.h"

#define MAGIC       "RCRAFT03"
#define MAGIC_LEN   8
#define NONCE_LEN   16
#define MAC_LEN     32
#define HELLO_FIXED (MAGIC_LEN + 8 + 8 + NONCE_LEN + 2)
#define HELLO_MAX   (HELLO_FIXED + TRANSPORT_ADDRESS_MAX)
#define WELCOME_LEN (MAGIC_LEN + 8 + 8 + NONCE_LEN + MAC_LEN)
#define PROOF_LEN   MAC_LEN
#define BACKLOG     128
#define HOST_MAX    256
#define PORT_MAX    8
#define SECRET_MAX  1024
/* A proxy stops reading one side while this many bytes wait to be written to the other, and
 * goes on below half of it: a slow raft or a slow peer costs at most about this much. */
#define PROXY_QUEUE_MAX (8u << 20)

/* Intrusive doubly-linked list with a sentinel: connections are removed from the middle
 * whenever they end, and close walks whatever is left. */
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

/* One connection, either way, from the first step to the last. CONNECTING loops when a name
 * resolved to several addresses and one fails. An outgoing connection's raft request is
 * answered when it becomes OPEN (the stream) or when it is closed before (a status).
 * HANDOVER: a plain outgoing connection whose PROOF is being written; then raft gets the socket
 * itself (a copy of its descriptor: raft only writes on connections it opened, and its own
 * messages need no check), and ours closes. Only TLS needs the proxy that way. */
enum pcState {
    PC_RESOLVING,
    PC_CONNECTING,
    PC_SECURING,
    PC_HELLO,
    PC_WELCOME,
    PC_PROOF,
    PC_HANDOVER,
    PC_OPEN,
    PC_CLOSING,
    PC__N
};
static const char *const pcNames[PC__N] = {"RESOLVING", "CONNECTING", "SECURING",
                                           "HELLO",     "WELCOME",    "PROOF",
                                           "HANDOVER",  "OPEN",       "CLOSING"};
static const bool pcMoves[PC__N][PC__N] = {
    [PC_RESOLVING] = {[PC_CONNECTING] = true, [PC_CLOSING] = true},
    [PC_CONNECTING] =
        {[PC_CONNECTING] = true, [PC_SECURING] = true, [PC_WELCOME] = true, [PC_CLOSING] = true},
    [PC_SECURING] = {[PC_HELLO] = true, [PC_WELCOME] = true, [PC_CLOSING] = true},
    [PC_HELLO] = {[PC_PROOF] = true, [PC_CLOSING] = true},
    [PC_WELCOME] = {[PC_OPEN] = true, [PC_HANDOVER] = true, [PC_CLOSING] = true},
    [PC_HANDOVER] = {[PC_CLOSING] = true},
    [PC_PROOF] = {[PC_OPEN] = true, [PC_CLOSING] = true},
    [PC_OPEN] = {[PC_CLOSING] = true},
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
    struct transport_security sec; /* peer_name and secret owned */
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    bool has_handles; /* listener and sweep are initialised */
    uv_tcp_t listener;
    uv_timer_t sweep;   /* drops connections whose handshake is late */
    unsigned n_closing; /* our handles whose close callback has not fired yet */
    struct link conns;  /* every connection until it is freed */
    struct transport_stats stats;
};

struct pconn {
    struct link link;     /* in transport.conns until freed */
    struct transport *tr; /* borrowed */
    enum pcState state;
    bool outgoing;
    struct raft_uv_connect *req; /* outgoing: raft's request, until answered */
    int status;                  /* outgoing: what the request gets if it ends before OPEN */
    raft_id peer_id;             /* outgoing: whom raft asked for; incoming: who said hello */
    char peer_addr[TRANSPORT_ADDRESS_MAX + 1];
    char remote[64];      /* the socket's remote address, for messages */
    uint64_t deadline;    /* uv_now() after which the handshake is late */
    bool authenticated;   /* TLS identity or MAC verified */
    bool allow_elections; /* incoming: it may send RequestVote and TimeoutNow */
    struct sstream *net;  /* owned: the network side (freed in its close callback) */
    uv_pipe_t inner;      /* our end of the socketpair, once OPEN */
    bool inner_open;      /* inner initialised and not yet closed */
    unsigned handles;     /* our handles still to close before the memory may go */
    bool inner_paused;    /* outgoing: reading raft's messages stopped for backpressure */
    uv_getaddrinfo_t resolve;
    struct addrinfo *addrs;     /* owned (uv_freeaddrinfo), NULL for a numeric host */
    struct addrinfo *next_addr; /* borrowed from addrs: what to try after a failure */
    uv_connect_t conn;
    size_t have; /* handshake bytes received of the current message */
    uint8_t hello[HELLO_MAX];
    size_t hello_len;
    uint8_t welcome[WELCOME_LEN];
    uint8_t proof[PROOF_LEN];
    struct raftmsg_reader reader; /* incoming, once OPEN */
    bool reader_open;
    struct pwrite *batch; /* incoming: messages of the current read (owned) */
    bool batch_failed;    /* no memory to hold one of them */
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

static void pcMove(struct pconn *p, enum pcState to)
{
    checkMove(pcMoves[p->state][to], "connection", pcNames[p->state], pcNames[to]);
    trace(p->tr, "%s %p (%" PRIu64 "): %s -> %s", p->outgoing ? "out" : "in", (void *)p,
          (uint64_t)p->peer_id, pcNames[p->state], pcNames[to]);
    p->state = to;
}

/* ---- Closing ---------------------------------------------------------------------------- */

/* raft's contract: the close callback means "the transport's memory may go", so it waits
 * for every handle and connection we still own. */
static void maybeClosed(struct transport *tr)
{
    if (tr->state != TR_CLOSING || tr->n_closing > 0 || !linkEmpty(&tr->conns)) {
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

/* ---- Connections: the end of one ---------------------------------------------------------- */

/* The memory goes once no handle or request of ours is left; an outgoing request that was
 * never answered is answered now, after its socket is gone. */
static void pcMaybeFree(struct pconn *p)
{
    if (p->state != PC_CLOSING || p->handles > 0) {
        return;
    }
    struct transport *tr = p->tr;
    struct raft_uv_connect *req = p->req;
    int status = p->status;
    linkRemove(&p->link);
    if (p->addrs != NULL) {
        uv_freeaddrinfo(p->addrs);
    }
    if (p->reader_open) {
        raftmsgReaderClose(&p->reader);
    }
    trace(tr, "%s %p: freed", p->outgoing ? "out" : "in", (void *)p);
    free(p);
    if (req != NULL) {
        if (status == RAFT_CANCELED) {
            tr->stats.canceled++;
        } else {
            tr->stats.connect_failed++;
        }
        req->cb(req, NULL, status);
    }
    maybeClosed(tr);
}

static void netClosed(struct sstream *s)
{
    struct pconn *p = s->data;
    if (p->net == s) {
        p->net = NULL;
    }
    free(s);
    assert(p->handles > 0);
    p->handles--;
    pcMaybeFree(p);
}

static void innerClosed(uv_handle_t *h)
{
    struct pconn *p = h->data;
    assert(p->handles > 0);
    p->handles--;
    pcMaybeFree(p);
}

static void dropNet(struct pconn *p)
{
    if (p->net != NULL && p->net->state != SSTREAM_CLOSING && p->net->state != SSTREAM_CLOSED) {
        p->handles++;
        sstreamClose(p->net, netClosed);
    }
}

/* "id 7 at 10.0.0.7:9001 from 10.0.0.7:53412", or what is known so far. */
static void describe(const struct pconn *p, char *buf, size_t len)
{
    if (p->peer_id != 0) {
        snprintf(buf, len, "id %" PRIu64 " at %s%s%s", (uint64_t)p->peer_id,
                 p->peer_addr[0] != '\0' ? p->peer_addr : "?", p->remote[0] != '\0' ? " from " : "",
                 p->remote);
    } else {
        snprintf(buf, len, "%s", p->remote[0] != '\0' ? p->remote : "a peer");
    }
}

/*
 * End the connection. counter: the statistic it counts in (NULL: none); why: the refusal the
 * operator is told of (NULL: none, e.g. a peer that went away); status: what an unanswered
 * outgoing request gets.
 */
static void pcClose(struct pconn *p, int status, uint64_t *counter, const char *why)
{
    if (p->state == PC_CLOSING) {
        return;
    }
    struct transport *tr = p->tr;
    bool resolving = p->state == PC_RESOLVING;
    pcMove(p, PC_CLOSING);
    p->status = status;
    if (counter != NULL) {
        (*counter)++;
    }
    if (why != NULL) {
        char peer[TRANSPORT_ADDRESS_MAX + 128];
        describe(p, peer, sizeof peer);
        trace(tr, "%s: %s", peer, why);
        if (tr->sec.refused != NULL && tr->state != TR_CLOSING) {
            tr->sec.refused(tr->sec.refused_data, peer, why);
        }
    }
    if (resolving) {
        /* The resolver may be running on a worker thread: then cancel fails and resolved()
         * finds the connection CLOSING. */
        uv_cancel((uv_req_t *)&p->resolve);
    }
    dropNet(p);
    if (p->inner_open) {
        p->inner_open = false;
        p->handles++;
        uv_close((uv_handle_t *)&p->inner, innerClosed);
    }
    pcMaybeFree(p);
}

/* A refused incoming connection, or a failed outgoing one. */
static void pcRefuse(struct pconn *p, uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pcRefuse(struct pconn *p, uint64_t *counter, const char *fmt, ...)
{
    char why[RC_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (p->outgoing) {
        errSet(p->tr->t->errmsg, sizeof p->tr->t->errmsg, RAFT_NOCONNECTION, "%s", why);
    }
    pcClose(p, RAFT_NOCONNECTION, counter, why);
}

/* ---- Handshake pieces ----------------------------------------------------------------------- */

static void putBigEndian(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t getBigEndian(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* HMAC-SHA256(secret, label | a | b) into out; zeros without a secret. */
static void mac(const struct transport *tr, const char *label, const uint8_t *a, size_t alen,
                const uint8_t *b, size_t blen, uint8_t out[MAC_LEN])
{
    memset(out, 0, MAC_LEN);
    if (tr->sec.secret == NULL) {
        return;
    }
    uint8_t msg[32 + HELLO_MAX + WELCOME_LEN];
    size_t ll = strlen(label);
    assert(ll <= 32 && alen <= HELLO_MAX && blen <= WELCOME_LEN);
    memcpy(msg, label, ll);
    memcpy(msg + ll, a, alen);
    memcpy(msg + ll + alen, b, blen);
    unsigned len = MAC_LEN;
    HMAC(EVP_sha256(), tr->sec.secret, (int)tr->sec.secret_len, msg, ll + alen + blen, out, &len);
}

static int nonce(uint8_t out[NONCE_LEN])
{
    return RAND_bytes(out, NONCE_LEN) == 1 ? 0 : RC_EINTERNAL;
}

/* Whether the peer's certificate names it as it must: the configured peer name, else the host
 * of its Raft address. */
static bool identityMatches(const struct pconn *p, const char *address)
{
    const struct transport *tr = p->tr;
    if (tr->sec.peer_name != NULL) {
        return sstreamPeerMatches(p->net, tr->sec.peer_name);
    }
    char host[HOST_MAX];
    char port[PORT_MAX];
    return splitAddress(address, host, port) == 0 && sstreamPeerMatches(p->net, host);
}

/* Cluster ids (transport.h): 0 when the peer's id is acceptable, else the refusal counted. */
static int checkCluster(struct pconn *p, uint64_t theirs)
{
    struct transport *tr = p->tr;
    if (theirs != 0 && tr->cluster_id != 0 && theirs != tr->cluster_id) {
        pcRefuse(p, &tr->stats.foreign, "cluster %016" PRIx64 ", ours is %016" PRIx64, theirs,
                 tr->cluster_id);
        if (tr->cluster_cb != NULL) {
            tr->cluster_cb(tr->cluster_data, p->peer_id, theirs, false);
        }
        return RC_EINVAL;
    }
    if (theirs == 0 && tr->cluster_id != 0 && !p->outgoing) {
        pcRefuse(p, &tr->stats.foreign,
                 "no cluster id, ours is %016" PRIx64 " (only a node that knows it may speak)",
                 tr->cluster_id);
        return RC_EINVAL;
    }
    return 0;
}

/* A node without a cluster id learns it from its first peer that passed every check. */
static void adoptCluster(struct pconn *p, uint64_t theirs)
{
    struct transport *tr = p->tr;
    if (theirs != 0 && tr->cluster_id == 0) {
        tr->cluster_id = theirs;
        if (tr->cluster_cb != NULL) {
            tr->cluster_cb(tr->cluster_data, p->peer_id, theirs, true);
        }
    }
}

static int sendCopy(struct pconn *p, const uint8_t *bytes, size_t len)
{
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        return RC_ENOMEM;
    }
    memcpy(buf, bytes, len);
    return sstreamWrite(p->net, buf, len);
}

/* ---- The proxy: raft's end of a socketpair on one side, the network on the other ---------- */

/* The messages of one network read that passed the checks, written to raft in one writev
 * (a pipelined leader sends many per read: one write and one wake-up of raft for all). */
struct pwrite {
    uv_write_t req;
    size_t n;
    uint8_t **msgs; /* owned, n of them, each owned */
    uv_buf_t *bufs; /* owned */
};

static void pwriteFree(struct pwrite *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->msgs[i]);
    }
    free(w->msgs);
    free(w->bufs);
    free(w);
}

static void innerAlloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

/* Outgoing: raft's messages, on to the network as they come (the stream takes the buffer). */
static void innerReadOut(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct pconn *p = s->data;
    if (n > 0 && p->state == PC_OPEN) {
        if (sstreamWrite(p->net, (uint8_t *)buf->base, (size_t)n) != 0) {
            pcClose(p, 0, NULL, NULL);
            return;
        }
        if (sstreamQueued(p->net) > PROXY_QUEUE_MAX) {
            uv_read_stop((uv_stream_t *)&p->inner);
            p->inner_paused = true;
        }
        return;
    }
    free(buf->base);
    if (n < 0) {
        pcClose(p, 0, NULL, NULL); /* raft closed its end */
    }
}

/* Incoming: raft never writes on it; reading only tells when raft closes its end. */
static void innerReadIn(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct pconn *p = s->data;
    free(buf->base);
    if (n < 0) {
        pcClose(p, 0, NULL, NULL);
    }
}

static void messageWritten(uv_write_t *req, int status)
{
    struct pwrite *w = (struct pwrite *)req;
    struct pconn *p = req->handle->data;
    pwriteFree(w);
    if (p->state != PC_OPEN) {
        return;
    }
    if (status != 0) {
        pcClose(p, 0, NULL, NULL);
        return;
    }
    if (p->net->paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&p->inner) < PROXY_QUEUE_MAX / 2) {
        sstreamResume(p->net);
    }
}

/* A message that passed every check: to raft, whole. */
static void messageChecked(uint8_t *msg, size_t len, const struct raftmsg_info *info, void *arg)
{
    struct pconn *p = arg;
    (void)info;
    struct pwrite *w = p->batch;
    if (w == NULL) {
        w = p->batch = calloc(1, sizeof *w);
    }
    if (w != NULL && w->n % 16 == 0) {
        uint8_t **msgs = realloc(w->msgs, (w->n + 16) * sizeof *msgs);
        uv_buf_t *bufs = realloc(w->bufs, (w->n + 16) * sizeof *bufs);
        w->msgs = msgs != NULL ? msgs : w->msgs;
        w->bufs = bufs != NULL ? bufs : w->bufs;
        if (msgs == NULL || bufs == NULL) {
            w = NULL;
        }
    }
    if (w == NULL) {
        free(msg);
        p->batch_failed = true;
        return;
    }
    w->msgs[w->n] = msg;
    w->bufs[w->n] = uv_buf_init((char *)msg, (unsigned)len);
    w->n++;
    p->tr->stats.messages++;
}

/* The checked messages of this read, to raft. */
static void flushBatch(struct pconn *p)
{
    struct pwrite *w = p->batch;
    p->batch = NULL;
    if (w == NULL) {
        return;
    }
    if (p->state != PC_OPEN || p->batch_failed ||
        uv_write(&w->req, (uv_stream_t *)&p->inner, w->bufs, (unsigned)w->n, messageWritten) != 0) {
        pwriteFree(w);
        pcClose(p, 0, NULL, NULL);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&p->inner) > PROXY_QUEUE_MAX) {
        sstreamPause(p->net);
    }
}

/* Network bytes on an OPEN connection. */
static void openRead(struct pconn *p, const uint8_t *data, size_t len)
{
    struct transport *tr = p->tr;
    if (p->outgoing) {
        pcRefuse(p, &tr->stats.malformed, "the listening side sent %zu bytes after its welcome",
                 len);
        return;
    }
    int rv = raftmsgReaderFeed(&p->reader, data, len, messageChecked, p);
    flushBatch(p); /* what passed before a refusal still goes to raft */
    if (rv != 0 && p->state == PC_OPEN) {
        pcRefuse(p, &tr->stats.malformed, "message refused: %s", p->reader.errmsg);
    }
}

static void handOver(struct pconn *p);

static void netWritten(struct sstream *s)
{
    struct pconn *p = s->data;
    if (p->state == PC_HANDOVER && sstreamQueued(s) == 0) {
        handOver(p);
        return;
    }
    if (p->inner_paused && p->state == PC_OPEN && sstreamQueued(s) < PROXY_QUEUE_MAX / 2) {
        p->inner_paused = false;
        if (uv_read_start((uv_stream_t *)&p->inner, innerAlloc, innerReadOut) != 0) {
            pcClose(p, 0, NULL, NULL);
        }
    }
}

static void raftEndClosed(uv_handle_t *h)
{
    raft_free(h);
}

/* Handshake done: make the socketpair and hand raft its end. */
static void pcOpen(struct pconn *p, bool allow_elections)
{
    struct transport *tr = p->tr;
    int fds[2];
    uv_pipe_t *raft_end = raft_malloc(sizeof *raft_end);
    if (raft_end == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        raft_free(raft_end);
        pcRefuse(p, NULL, "cannot make the socketpair for raft");
        return;
    }
    uv_pipe_init(tr->loop, raft_end, 0);
    uv_pipe_init(tr->loop, &p->inner, 0);
    p->inner.data = p;
    p->inner_open = true;
    int rv = uv_pipe_open(raft_end, fds[0]);
    if (rv != 0) {
        close(fds[0]);
        close(fds[1]);
    } else if ((rv = uv_pipe_open(&p->inner, fds[1])) != 0) {
        close(fds[1]);
    } else {
        rv = uv_read_start((uv_stream_t *)&p->inner, innerAlloc,
                           p->outgoing ? innerReadOut : innerReadIn);
    }
    if (rv != 0) {
        uv_close((uv_handle_t *)raft_end, raftEndClosed);
        pcRefuse(p, NULL, "socketpair for raft: %s", uv_strerror(rv));
        return;
    }
    pcMove(p, PC_OPEN);
    if (p->outgoing) {
        struct raft_uv_connect *req = p->req;
        p->req = NULL;
        tr->stats.connected++;
        req->cb(req, (uv_stream_t *)raft_end, 0);
        return;
    }
    struct raftmsg_options o = {.peer_id = p->peer_id, .allow_elections = allow_elections};
    raftmsgReaderInit(&p->reader, &o);
    p->reader_open = true;
    tr->stats.accepted++;
    trace(tr, "accepted %" PRIu64 " at %s%s", (uint64_t)p->peer_id, p->peer_addr,
          allow_elections ? "" : " (not in the configuration: no elections)");
    tr->accept_cb(tr->t, p->peer_id, p->peer_addr, (uv_stream_t *)raft_end);
}

/* ---- The listening side: HELLO, then PROOF ---------------------------------------------- */

/* Everything HELLO can be refused for (transport.h), checked before WELCOME is sent. */
static int checkHello(struct pconn *p)
{
    struct transport *tr = p->tr;
    const uint8_t *h = p->hello;
    uint64_t cluster = getBigEndian(h + MAGIC_LEN + 8, 8);
    if (p->peer_id == tr->id) {
        pcRefuse(p, &tr->stats.not_member, "a peer may not claim this node's own id");
        return RC_EINVAL;
    }
    if (checkCluster(p, cluster) != 0) {
        return RC_EINVAL;
    }
    if (sstreamIsTls(p->net)) {
        if (!identityMatches(p, p->peer_addr)) {
            pcRefuse(p, &tr->stats.unauthenticated, "its certificate is not valid for %s",
                     tr->sec.peer_name != NULL ? tr->sec.peer_name : p->peer_addr);
            return RC_EINVAL;
        }
        p->authenticated = true;
    }
    p->allow_elections = true;
    if (tr->sec.member == NULL) {
        return 0;
    }
    switch (tr->sec.member(tr->sec.member_data, p->peer_id, p->peer_addr)) {
    case TRANSPORT_MEMBER:
    case TRANSPORT_NO_CONFIGURATION:
        return 0;
    case TRANSPORT_WRONG_ADDRESS:
        pcRefuse(p, &tr->stats.not_member, "the configuration has this id at another address");
        return RC_EINVAL;
    default:
        if (!sstreamIsTls(p->net) && tr->sec.secret == NULL) {
            pcRefuse(p, &tr->stats.not_member, "not in the configuration");
            return RC_EINVAL;
        }
        p->allow_elections = false; /* authenticated below, or refused */
        return 0;
    }
}

static void onHello(struct pconn *p)
{
    struct transport *tr = p->tr;
    if (checkHello(p) != 0) {
        return;
    }
    uint8_t *w = p->welcome;
    memcpy(w, MAGIC, MAGIC_LEN);
    putBigEndian(w + MAGIC_LEN, tr->id, 8);
    putBigEndian(w + MAGIC_LEN + 8, tr->cluster_id, 8);
    if (nonce(w + MAGIC_LEN + 16) != 0) {
        pcRefuse(p, NULL, "no randomness for a nonce");
        return;
    }
    mac(tr, "RCRAFT03 welcome", p->hello, p->hello_len, w, WELCOME_LEN - MAC_LEN,
        w + WELCOME_LEN - MAC_LEN);
    if (sendCopy(p, w, WELCOME_LEN) != 0) {
        pcClose(p, 0, &tr->stats.rejected, NULL);
        return;
    }
    pcMove(p, PC_PROOF);
}

static void onProof(struct pconn *p)
{
    struct transport *tr = p->tr;
    if (tr->sec.secret != NULL) {
        uint8_t want[MAC_LEN];
        mac(tr, "RCRAFT03 proof", p->hello, p->hello_len, p->welcome, WELCOME_LEN, want);
        if (!secretEqualBytes(want, p->proof, MAC_LEN)) {
            pcRefuse(p, &tr->stats.unauthenticated,
                     "wrong MAC: it does not hold the cluster secret");
            return;
        }
        p->authenticated = true;
    }
    uint64_t cluster = getBigEndian(p->hello + MAGIC_LEN + 8, 8);
    if (checkCluster(p, cluster) != 0) {
        return; /* another connection adopted a different id meanwhile */
    }
    if (!p->authenticated && !p->allow_elections) {
        pcRefuse(p, &tr->stats.not_member, "not in the configuration");
        return;
    }
    adoptCluster(p, cluster);
    pcOpen(p, p->allow_elections);
}

/* Take bytes for the part being read (HELLO's fixed part and address, or PROOF); returns how
 * many were used. */
static size_t take(struct pconn *p, uint8_t *dst, size_t want, const uint8_t *data, size_t len)
{
    size_t n = want - p->have < len ? want - p->have : len;
    memcpy(dst + p->have, data, n);
    p->have += n;
    return n;
}

/* HELLO's fixed part is in: the address length tells how much more to read. */
static bool helloHeaderValid(struct pconn *p)
{
    const uint8_t *h = p->hello;
    p->peer_id = getBigEndian(h + MAGIC_LEN, 8);
    size_t alen = getBigEndian(h + HELLO_FIXED - 2, 2);
    p->hello_len = HELLO_FIXED + alen;
    return memcmp(h, MAGIC, MAGIC_LEN) == 0 && p->peer_id != 0 && alen >= 1 &&
           alen <= TRANSPORT_ADDRESS_MAX;
}

static void incomingRead(struct sstream *s, const uint8_t *data, size_t len)
{
    struct pconn *p = s->data;
    struct transport *tr = p->tr;
    while (len > 0 && p->state != PC_CLOSING) {
        size_t used;
        switch (p->state) {
        case PC_HELLO: {
            size_t want = p->have < HELLO_FIXED ? HELLO_FIXED : p->hello_len;
            used = take(p, p->hello, want, data, len);
            if (memcmp(p->hello, MAGIC, p->have < MAGIC_LEN ? p->have : MAGIC_LEN) != 0) {
                /* Not our protocol (an HTTP probe, a port scanner): no need to wait for more. */
                pcRefuse(p, &tr->stats.rejected, "malformed handshake (not RCRAFT03)");
                return;
            }
            if (p->have == HELLO_FIXED && want == HELLO_FIXED) {
                if (!helloHeaderValid(p)) {
                    pcRefuse(p, &tr->stats.rejected, "malformed handshake");
                    return;
                }
            } else if (p->have == p->hello_len && p->have > HELLO_FIXED) {
                size_t alen = p->hello_len - HELLO_FIXED;
                if (memchr(p->hello + HELLO_FIXED, '\0', alen) != NULL) {
                    pcRefuse(p, &tr->stats.rejected, "malformed handshake (NUL in the address)");
                    return;
                }
                memcpy(p->peer_addr, p->hello + HELLO_FIXED, alen);
                p->peer_addr[alen] = '\0';
                p->have = 0;
                onHello(p);
            }
            break;
        }
        case PC_PROOF:
            used = take(p, p->proof, PROOF_LEN, data, len);
            if (p->have == PROOF_LEN) {
                onProof(p);
            }
            break;
        case PC_OPEN:
            openRead(p, data, len);
            return;
        default:
            pcRefuse(p, &tr->stats.rejected, "bytes before the TLS handshake ended");
            return;
        }
        data += used;
        len -= used;
    }
}

/* ---- The connecting side: HELLO out, WELCOME in, PROOF out ------------------------------- */

static void onWelcome(struct pconn *p)
{
    struct transport *tr = p->tr;
    const uint8_t *w = p->welcome;
    uint64_t id = getBigEndian(w + MAGIC_LEN, 8);
    uint64_t cluster = getBigEndian(w + MAGIC_LEN + 8, 8);
    if (memcmp(w, MAGIC, MAGIC_LEN) != 0) {
        pcRefuse(p, NULL, "%s: malformed welcome", p->peer_addr);
        return;
    }
    if (id != p->peer_id) {
        pcRefuse(p, NULL, "%s answers as node %" PRIu64 ", not %" PRIu64, p->peer_addr, id,
                 (uint64_t)p->peer_id);
        return;
    }
    if (tr->sec.secret != NULL) {
        uint8_t want[MAC_LEN];
        mac(tr, "RCRAFT03 welcome", p->hello, p->hello_len, w, WELCOME_LEN - MAC_LEN, want);
        if (!secretEqualBytes(want, w + WELCOME_LEN - MAC_LEN, MAC_LEN)) {
            pcRefuse(p, &tr->stats.unauthenticated,
                     "%s: wrong MAC: it does not hold the cluster secret", p->peer_addr);
            return;
        }
        p->authenticated = true;
    }
    if (sstreamIsTls(p->net)) {
        if (!identityMatches(p, p->peer_addr)) {
            pcRefuse(p, &tr->stats.unauthenticated, "%s: its certificate is not valid for %s",
                     p->peer_addr, tr->sec.peer_name != NULL ? tr->sec.peer_name : "its address");
            return;
        }
        p->authenticated = true;
    }
    if (checkCluster(p, cluster) != 0) {
        return;
    }
    mac(tr, "RCRAFT03 proof", p->hello, p->hello_len, w, WELCOME_LEN, p->proof);
    if (sendCopy(p, p->proof, PROOF_LEN) != 0) {
        pcRefuse(p, NULL, "%s: cannot send the proof", p->peer_addr);
        return;
    }
    adoptCluster(p, cluster);
    if (sstreamIsTls(p->net)) {
        pcOpen(p, true);
        return;
    }
    pcMove(p, PC_HANDOVER); /* netWritten goes on once the proof has left */
}

/* A plain outgoing connection, handshake done: raft writes on the socket directly. */
static void handOver(struct pconn *p)
{
    struct transport *tr = p->tr;
    uv_os_fd_t fd;
    uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
    int copy = -1;
    if (tcp == NULL || uv_fileno((uv_handle_t *)&p->net->tcp, &fd) != 0 ||
        (copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        raft_free(tcp);
        pcRefuse(p, NULL, "%s: cannot hand the connection to raft", p->peer_addr);
        return;
    }
    uv_tcp_init(tr->loop, tcp);
    if (uv_tcp_open(tcp, copy) != 0) {
        close(copy);
        uv_close((uv_handle_t *)tcp, raftEndClosed);
        pcRefuse(p, NULL, "%s: cannot hand the connection to raft", p->peer_addr);
        return;
    }
    struct raft_uv_connect *req = p->req;
    p->req = NULL;
    tr->stats.connected++;
    pcClose(p, 0, NULL, NULL);
    req->cb(req, (uv_stream_t *)tcp, 0);
}

static void outgoingRead(struct sstream *s, const uint8_t *data, size_t len)
{
    struct pconn *p = s->data;
    if (p->state == PC_OPEN) {
        openRead(p, data, len);
        return;
    }
    if (p->state != PC_WELCOME) {
        pcRefuse(p, NULL, "%s: unexpected bytes from the listening side", p->peer_addr);
        return;
    }
    size_t used = take(p, p->welcome, WELCOME_LEN, data, len);
    if (p->have < WELCOME_LEN) {
        return;
    }
    onWelcome(p);
    if (used < len && p->state == PC_OPEN) {
        openRead(p, data + used, len - used);
    }
}

static size_t encodeHello(const struct transport *tr, uint8_t *buf)
{
    size_t len = strlen(tr->address);
    memcpy(buf, MAGIC, MAGIC_LEN);
    putBigEndian(buf + MAGIC_LEN, tr->id, 8);
    putBigEndian(buf + MAGIC_LEN + 8, tr->cluster_id, 8);
    /* the nonce at MAGIC_LEN + 16 is written by the caller */
    putBigEndian(buf + HELLO_FIXED - 2, len, 2);
    memcpy(buf + HELLO_FIXED, tr->address, len);
    return HELLO_FIXED + len;
}

static void netReady(struct sstream *s)
{
    struct pconn *p = s->data;
    struct transport *tr = p->tr;
    p->have = 0;
    if (!p->outgoing) {
        pcMove(p, PC_HELLO);
        return;
    }
    p->hello_len = encodeHello(tr, p->hello);
    if (nonce(p->hello + MAGIC_LEN + 16) != 0 || sendCopy(p, p->hello, p->hello_len) != 0) {
        pcRefuse(p, NULL, "%s: cannot send the handshake", p->peer_addr);
        return;
    }
    pcMove(p, PC_WELCOME);
}

static void netError(struct sstream *s, const char *why)
{
    struct pconn *p = s->data;
    struct transport *tr = p->tr;
    if (p->state == PC_OPEN) {
        trace(tr, "%s %p: %s", p->outgoing ? "out" : "in", (void *)p, why);
        pcClose(p, 0, NULL, NULL);
        return;
    }
    if (p->state == PC_SECURING) {
        pcRefuse(p, &tr->stats.unauthenticated, "TLS: %s", why);
    } else if (p->outgoing) {
        pcRefuse(p, NULL, "%s: %s", p->peer_addr, why);
    } else {
        pcClose(p, 0, &tr->stats.rejected, NULL); /* a truncated handshake: gone */
    }
}

static const struct sstream_callbacks incomingCallbacks = {
    .ready = netReady, .read = incomingRead, .error = netError};
static const struct sstream_callbacks outgoingCallbacks = {
    .ready = netReady, .read = outgoingRead, .error = netError, .written = netWritten};

/* ---- Outgoing connections: resolve, connect ------------------------------------------------ */

static int connectAttempt(struct pconn *p, const struct sockaddr *sa);

static void connected(uv_connect_t *req, int status)
{
    struct pconn *p = req->data;
    struct transport *tr = p->tr;
    if (p->state == PC_CLOSING) {
        return;
    }
    if (status != 0) {
        errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION, "connect: %s",
               uv_strerror(status));
        if (p->next_addr == NULL) {
            pcClose(p, RAFT_NOCONNECTION, NULL, NULL);
            return;
        }
        const struct addrinfo *ai = p->next_addr;
        p->next_addr = ai->ai_next;
        dropNet(p);
        p->net = NULL;
        pcMove(p, PC_CONNECTING);
        if (connectAttempt(p, ai->ai_addr) != 0) {
            pcClose(p, RAFT_NOCONNECTION, NULL, NULL);
        }
        return;
    }
    struct tls_ctx *tls = tr->sec.tls_client;
    if (tls != NULL) {
        pcMove(p, PC_SECURING);
    }
    if (sstreamStart(p->net, tls, &outgoingCallbacks) != 0) {
        pcRefuse(p, NULL, "%s: cannot start the connection", p->peer_addr);
    }
}

/* Open a fresh socket and connect it to sa. On failure the socket is being dropped and the
 * caller ends the connection. */
static int connectAttempt(struct pconn *p, const struct sockaddr *sa)
{
    struct transport *tr = p->tr;
    p->net = malloc(sizeof *p->net);
    if (p->net == NULL) {
        return errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOMEM, "out of memory");
    }
    sstreamInit(p->net, tr->loop);
    p->net->data = p;
    p->conn.data = p;
    int rv = uv_tcp_connect(&p->conn, &p->net->tcp, sa, connected);
    if (rv != 0) {
        dropNet(p);
        p->net = NULL;
        return errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION, "connect: %s",
                      uv_strerror(rv));
    }
    return 0;
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pconn *p = req->data;
    struct transport *tr = p->tr;
    p->addrs = res;
    assert(p->handles > 0);
    p->handles--;
    if (p->state == PC_CLOSING) {
        pcMaybeFree(p);
        return;
    }
    if (status != 0 || res == NULL) {
        errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION, "resolve: %s",
               uv_strerror(status));
        pcClose(p, RAFT_NOCONNECTION, NULL, NULL);
        return;
    }
    p->next_addr = res->ai_next;
    pcMove(p, PC_CONNECTING);
    if (connectAttempt(p, res->ai_addr) != 0) {
        pcClose(p, RAFT_NOCONNECTION, NULL, NULL);
    }
}

static void sweepArm(struct transport *tr);

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
    if (splitAddress(address, host, port) != 0 || strlen(address) > TRANSPORT_ADDRESS_MAX) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_NOCONNECTION,
                      "peer address \"%s\": expected HOST:PORT or [IPv6]:PORT", address);
    }
    struct pconn *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return errSet(t->errmsg, sizeof t->errmsg, RAFT_NOMEM, "out of memory");
    }
    p->tr = tr;
    p->outgoing = true;
    p->req = req;
    p->peer_id = id;
    snprintf(p->peer_addr, sizeof p->peer_addr, "%s", address);
    p->resolve.data = p;
    p->deadline = uv_now(tr->loop) + tr->handshake_timeout_ms;
    req->cb = cb;
    linkInit(&p->link);
    int rv;
    if (parseNumeric(host, port, &sa) == 0) {
        p->state = PC_CONNECTING;
        rv = connectAttempt(p, (const struct sockaddr *)&sa);
        if (rv != 0 && p->handles > 0) {
            /* The socket is closing: the connection ends when it has, without the callback
             * (a synchronous failure never calls it). */
            p->req = NULL;
            p->state = PC_CLOSING;
            linkPush(&tr->conns, &p->link);
            return rv;
        }
    } else {
        p->state = PC_RESOLVING;
        rv = uv_getaddrinfo(tr->loop, &p->resolve, resolved, host, port, &resolveHints);
        if (rv != 0) {
            rv = errSet(t->errmsg, sizeof t->errmsg, RAFT_NOCONNECTION, "resolve %s: %s", host,
                        uv_strerror(rv));
        } else {
            p->handles++;
        }
    }
    if (rv != 0) {
        free(p);
        return rv;
    }
    trace(tr, "out %p to %" PRIu64 " at %s: %s", (void *)p, (uint64_t)id, address,
          pcNames[p->state]);
    linkPush(&tr->conns, &p->link);
    sweepArm(tr);
    return 0;
}

/* ---- Incoming connections --------------------------------------------------------------- */

static bool handshaking(const struct pconn *p)
{
    return p->state != PC_OPEN && p->state != PC_CLOSING;
}

/* One timer for all pending handshakes, both ways: a late one is dropped between the timeout
 * and 1.25 times it, which is all the precision this needs. */
static void sweepTick(uv_timer_t *timer)
{
    struct transport *tr = timer->data;
    uint64_t now = uv_now(tr->loop);
    bool pending = false;
    struct link *l = tr->conns.next;
    while (l != &tr->conns) {
        struct pconn *p = CONTAINER(l, struct pconn, link);
        l = l->next;
        if (!handshaking(p)) {
            continue;
        }
        if (now < p->deadline || p->state == PC_RESOLVING) {
            pending = true;
            continue;
        }
        if (p->outgoing) {
            errSet(tr->t->errmsg, sizeof tr->t->errmsg, RAFT_NOCONNECTION,
                   "%s: no handshake within %u ms", p->peer_addr, tr->handshake_timeout_ms);
            pcClose(p, RAFT_NOCONNECTION, NULL, NULL);
        } else {
            trace(tr, "in %p: handshake timed out", (void *)p);
            pcClose(p, 0, &tr->stats.timed_out, NULL);
        }
    }
    if (!pending) {
        uv_timer_stop(timer);
    }
}

static void sweepArm(struct transport *tr)
{
    if (!tr->has_handles || uv_is_active((uv_handle_t *)&tr->sweep)) {
        return;
    }
    uint64_t period = tr->handshake_timeout_ms / 4;
    period = period > 0 ? period : 1;
    uv_timer_start(&tr->sweep, sweepTick, period, period);
}

static void remoteName(uv_tcp_t *tcp, char *buf, size_t len)
{
    struct sockaddr_storage sa;
    int n = sizeof sa;
    char ip[64] = "?";
    buf[0] = '\0';
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

static void incomingConnection(uv_stream_t *listener, int status)
{
    struct transport *tr = listener->data;
    if (status != 0 || tr->state != TR_LISTENING) {
        return;
    }
    struct pconn *p = calloc(1, sizeof *p);
    struct sstream *net = malloc(sizeof *net);
    if (p == NULL || net == NULL) {
        free(p);
        free(net);
        return;
    }
    p->tr = tr;
    p->net = net;
    p->state = PC_SECURING;
    p->deadline = uv_now(tr->loop) + tr->handshake_timeout_ms;
    sstreamInit(net, tr->loop);
    net->data = p;
    linkPush(&tr->conns, &p->link);
    int rv = uv_accept(listener, (uv_stream_t *)&net->tcp);
    if (rv == 0) {
        remoteName(&net->tcp, p->remote, sizeof p->remote);
        trace(tr, "in %p from %s: %s", (void *)p, p->remote, pcNames[p->state]);
        rv = sstreamStart(net, tr->sec.tls_server, &incomingCallbacks);
    }
    if (rv != 0) {
        pcClose(p, 0, NULL, NULL);
        return;
    }
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
    sweepArm(tr); /* connections opened before listen wait for it */
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
    /* pcClose may free a connection at once: walk from a saved next. */
    struct link *l = tr->conns.next;
    while (l != &tr->conns) {
        struct link *next = l->next;
        pcClose(CONTAINER(l, struct pconn, link), RAFT_CANCELED, NULL, NULL);
        l = next;
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
    linkInit(&tr->conns);
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

static void freeSecurity(struct transport_security *s)
{
    free((char *)s->peer_name);
    if (s->secret != NULL) {
        OPENSSL_cleanse((void *)s->secret, s->secret_len);
        free((void *)s->secret);
    }
    memset(s, 0, sizeof *s);
}

int transportSetSecurity(struct raft_uv_transport *t, const struct transport_security *s)
{
    struct transport *tr = t->impl;
    if ((s->tls_server == NULL) != (s->tls_client == NULL) ||
        (s->secret != NULL && (s->secret_len == 0 || s->secret_len > SECRET_MAX))) {
        return RC_EINVAL;
    }
    struct transport_security copy = *s;
    copy.peer_name = s->peer_name != NULL ? strdup(s->peer_name) : NULL;
    copy.secret = NULL;
    if (s->secret != NULL) {
        void *secret = malloc(s->secret_len);
        if (secret != NULL) {
            memcpy(secret, s->secret, s->secret_len);
        }
        copy.secret = secret;
    }
    if ((s->peer_name != NULL && copy.peer_name == NULL) ||
        (s->secret != NULL && copy.secret == NULL)) {
        freeSecurity(&copy);
        return RC_ENOMEM;
    }
    freeSecurity(&tr->sec);
    tr->sec = copy;
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
    for (const struct link *l = tr->conns.next; l != &tr->conns; l = l->next) {
        const struct pconn *p = CONTAINER(l, struct pconn, link);
        out->handshaking += !p->outgoing && handshaking(p);
    }
}

void transportClose(struct raft_uv_transport *t)
{
    struct transport *tr = t->impl;
    if (tr == NULL) {
        return;
    }
    assert(tr->state == TR_CLOSED || !tr->has_handles);
    assert(tr->n_closing == 0 && linkEmpty(&tr->conns));
    free(tr->bind_address);
    freeSecurity(&tr->sec);
    free(tr);
    t->impl = NULL;
}
