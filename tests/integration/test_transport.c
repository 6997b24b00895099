/*
 * Our Raft transport (src/raft/transport.c) on 127.0.0.1, all in one process and one loop:
 * a 3-voter raft_uv cluster commits 1,000 entries through it, in plain TCP, with a cluster
 * secret and with mutual TLS; raw TCP clients probe the handshake (garbage, truncation,
 * oversized length, silence, a wrong MAC, an id not in the configuration, cluster id 0) and
 * the message checks (libraft 0.22's out-of-bounds RequestVote, a forged candidate); connects
 * succeed, fail, or are canceled by close; a peer with a certificate of another CA is refused.
 * Every test ends with uv_loop_close() == 0 (no handle left behind) and runs under ASan's leak
 * checker.
 */
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/tls.h"
#include "raft/transport.h"
#include "raftcron/client.h"

#define WAIT_MS 10000

/* ---- Loop harness ----------------------------------------------------------------------- */

struct harness {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
};

static void deadlineFired(uv_timer_t *t)
{
    struct harness *h = t->data;
    h->expired = true;
}

static void harnessInit(struct harness *h)
{
    assert_int_equal(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->deadline);
    h->deadline.data = h;
}

/* Run the loop until done(arg) holds or ms elapse; returns whether done(arg) held. */
static bool runUntil(struct harness *h, bool (*done)(void *), void *arg, unsigned ms)
{
    h->expired = false;
    uv_timer_start(&h->deadline, deadlineFired, ms, 0);
    while (!done(arg) && !h->expired) {
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&h->deadline);
    return done(arg);
}

/* Close the deadline timer, let every pending close callback run, and check nothing is
 * left on the loop. */
static void harnessClose(struct harness *h)
{
    uv_close((uv_handle_t *)&h->deadline, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h->loop), 0);
}

/* A port nobody listens on right now (the kernel's choice for port 0). */
static int freePort(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void freeStream(uv_handle_t *h)
{
    raft_free(h);
}

/* ---- A listening transport with a recording accept callback ------------------------------ */

struct server {
    struct raft_uv_transport t;
    char address[64];
    int accepted;
    raft_id peer_id;
    char peer_address[TRANSPORT_ADDRESS_MAX + 1];
    uv_stream_t *stream; /* the accepted stream, owned by the test */
    char after[128];     /* bytes read from it after the handshake */
    bool after_eof;      /* raft's end saw the connection end */
    size_t after_len;
    bool closed;
};

static void serverAccept(struct raft_uv_transport *t, raft_id id, const char *address,
                         uv_stream_t *stream)
{
    struct server *s = t->data;
    s->accepted++;
    s->peer_id = id;
    snprintf(s->peer_address, sizeof s->peer_address, "%s", address);
    assert_null(s->stream);
    s->stream = stream;
}

static void serverStart(struct harness *h, struct server *s, raft_id id, int port,
                        unsigned timeout_ms)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(transportInit(&s->t, &h->loop), 0);
    s->t.data = s;
    transportSetHandshakeTimeout(&s->t, timeout_ms);
    snprintf(s->address, sizeof s->address, "127.0.0.1:%d", port);
    assert_int_equal(s->t.init(&s->t, id, s->address), 0);
    assert_int_equal(s->t.listen(&s->t, serverAccept), 0);
}

static void serverClosed(struct raft_uv_transport *t)
{
    struct server *s = t->data;
    s->closed = true;
}

static bool serverIsClosed(void *arg)
{
    return ((struct server *)arg)->closed;
}

static void serverStop(struct harness *h, struct server *s)
{
    if (s->stream != NULL) {
        uv_close((uv_handle_t *)s->stream, freeStream);
        s->stream = NULL;
    }
    s->t.close(&s->t, serverClosed);
    assert_true(runUntil(h, serverIsClosed, s, WAIT_MS));
    transportClose(&s->t);
    assert_null(s->t.impl);
}

/* ---- A raw TCP client speaking whatever bytes a test gives it ----------------------------- */

struct raw {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t write;
    uv_shutdown_t shutdown;
    char out[512];
    size_t out_len;
    bool half_close; /* shut our side down after writing */
    bool connected;
    bool gone; /* the server closed (EOF or reset) */
    uint64_t connected_ns;
    uint64_t gone_ns;
    bool closed;
    char buf[160];
};

static void rawClosed(uv_handle_t *h)
{
    struct raw *r = h->data;
    r->closed = true;
}

static void rawAlloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct raw *r = h->data;
    *buf = uv_buf_init(r->buf, sizeof r->buf);
}

static void rawRead(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct raw *r = s->data;
    if (nread >= 0) {
        return;
    }
    r->gone = true;
    r->gone_ns = uv_hrtime();
    uv_close((uv_handle_t *)&r->tcp, rawClosed);
}

static void rawWritten(uv_write_t *w, int status)
{
}

static void rawShut(uv_shutdown_t *req, int status)
{
}

static void rawConnected(uv_connect_t *req, int status)
{
    struct raw *r = req->data;
    assert_int_equal(status, 0);
    r->connected = true;
    r->connected_ns = uv_hrtime();
    if (r->out_len > 0) {
        uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
        assert_int_equal(uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, rawWritten), 0);
    }
    if (r->half_close) {
        assert_int_equal(uv_shutdown(&r->shutdown, (uv_stream_t *)&r->tcp, rawShut), 0);
    }
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, rawAlloc, rawRead), 0);
}

static void rawStart(struct harness *h, struct raw *r, int port, const void *bytes, size_t len,
                     bool half_close)
{
    struct sockaddr_in sa;
    memset(r, 0, sizeof *r);
    assert_true(len <= sizeof r->out);
    memcpy(r->out, bytes, len);
    r->out_len = len;
    r->half_close = half_close;
    uv_tcp_init(&h->loop, &r->tcp);
    r->tcp.data = r;
    r->conn.data = r;
    uv_ip4_addr("127.0.0.1", port, &sa);
    assert_int_equal(uv_tcp_connect(&r->conn, &r->tcp, (struct sockaddr *)&sa, rawConnected), 0);
}

static bool rawIsGone(void *arg)
{
    return ((struct raw *)arg)->gone;
}

static bool rawIsClosed(void *arg)
{
    return ((struct raw *)arg)->closed;
}

/* Our HELLO for (id, cluster, address), then a PROOF of zeros (no secret: the listener reads
 * it after its WELCOME, so it may come at once), then extra bytes (len_extra of them). */
static size_t handshakeOfN(char *buf, uint64_t id, uint64_t cluster, const char *address,
                           uint16_t len_field, const void *extra, size_t len_extra)
{
    size_t n = 0;
    memcpy(buf, "RCRAFT03", 8);
    n = 8;
    for (int i = 7; i >= 0; i--) {
        buf[n++] = (char)(id >> (8 * i));
    }
    for (int i = 7; i >= 0; i--) {
        buf[n++] = (char)(cluster >> (8 * i));
    }
    memset(buf + n, 0x5a, 16); /* nonce */
    n += 16;
    buf[n++] = (char)(len_field >> 8);
    buf[n++] = (char)(len_field & 0xff);
    memcpy(buf + n, address, strlen(address));
    n += strlen(address);
    memset(buf + n, 0, 32); /* proof */
    n += 32;
    memcpy(buf + n, extra, len_extra);
    return n + len_extra;
}

static size_t handshakeOf(char *buf, uint64_t id, uint64_t cluster, const char *address,
                          uint16_t len_field, const char *extra)
{
    return handshakeOfN(buf, id, cluster, address, len_field, extra, strlen(extra));
}

/* The same from a node that knows no cluster id yet. */
static size_t handshake(char *buf, uint64_t id, const char *address, uint16_t len_field,
                        const char *extra)
{
    return handshakeOf(buf, id, 0, address, len_field, extra);
}

/* Length of the HELLO alone for an address of len bytes. */
#define HELLO_LEN(len) (42 + (len))

/* Raft messages as raft_uv 0.22 writes them (little-endian). */
static size_t putLe64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (char)(v >> (8 * i));
    }
    return 8;
}

/* A RequestVote of term from candidate, as libraft sends it (40-byte header). */
static size_t requestVote(char *p, uint64_t term, uint64_t candidate)
{
    size_t n = 0;
    memset(p, 0, 8);
    p[0] = 3; /* RequestVote */
    p[2] = 2; /* version */
    n = 8;
    n += putLe64(p + n, 40);
    n += putLe64(p + n, term);
    n += putLe64(p + n, candidate);
    n += putLe64(p + n, 0);
    n += putLe64(p + n, 0);
    n += putLe64(p + n, 0);
    return n;
}

/* libraft 0.22's out-of-bounds read: a RequestVote whose header is one byte. */
static size_t truncatedRequestVote(char *p)
{
    memset(p, 0, 8);
    p[0] = 3;
    p[2] = 2;
    putLe64(p + 8, 1);
    p[16] = 0x7f;
    return 17;
}

/* ---- Handshake tests -------------------------------------------------------------------- */

static void afterAlloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct server *s = h->data;
    *buf = uv_buf_init(s->after + s->after_len, (unsigned)(sizeof s->after - s->after_len));
}

static void afterRead(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct server *s = stream->data;
    if (nread > 0) {
        s->after_len += (size_t)nread;
    } else if (nread < 0) {
        s->after_eof = true;
    }
}

static bool wholeVoteAfter(void *arg)
{
    return ((struct server *)arg)->after_len >= 56;
}

static bool serverHandshaking(void *arg)
{
    struct transport_stats st;
    transportStats(&((struct server *)arg)->t, &st);
    return st.handshaking > 0;
}

static bool serverAccepted(void *arg)
{
    return ((struct server *)arg)->accepted > 0;
}

/* A valid handshake reaches accept with its id and address, and a message that passes the
 * checks reaches raft's end of the stream byte for byte. */
static void test_handshake_accepted(void **state)
{
    struct harness h;
    struct server s;
    struct raw r;
    char buf[256], rv[64];
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    int port = atoi(strrchr(s.address, ':') + 1);
    size_t mlen = requestVote(rv, 5, 7);
    size_t n = handshakeOfN(buf, 7, 0, "10.0.0.7:9999", 13, rv, mlen);
    rawStart(&h, &r, port, buf, n, false);

    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));
    assert_int_equal(s.peer_id, 7);
    assert_string_equal(s.peer_address, "10.0.0.7:9999");
    s.stream->data = &s;
    assert_int_equal(uv_read_start(s.stream, afterAlloc, afterRead), 0);
    assert_true(runUntil(&h, wholeVoteAfter, &s, WAIT_MS));
    assert_int_equal(s.after_len, mlen);
    assert_memory_equal(s.after, rv, mlen);

    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.rejected + st.timed_out + st.malformed, 0);

    uv_close((uv_handle_t *)&r.tcp, rawClosed);
    serverStop(&h, &s);
    harnessClose(&h);
}

struct bad_case {
    const char *name;
    char bytes[96];
    size_t len;
    bool half_close;
};

/* Each malformed or truncated handshake is closed by the server and never reaches accept. */
static void test_handshake_rejected(void **state)
{
    struct bad_case cases[9];
    _Static_assert(sizeof cases[0].bytes >= HELLO_LEN(11) + 32, "room for a handshake");
    memset(cases, 0, sizeof cases);
    cases[0].name = "garbage";
    memcpy(cases[0].bytes, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    cases[0].len = 27;
    cases[1].name = "truncated header then EOF";
    handshake(cases[1].bytes, 7, "", 0, "");
    cases[1].len = HELLO_LEN(0) - 4;
    cases[1].half_close = true;
    cases[2].name = "truncated address then EOF";
    handshake(cases[2].bytes, 7, "127.0.0.1:1", 11, "");
    cases[2].len = HELLO_LEN(11) - 3;
    cases[2].half_close = true;
    cases[3].name = "oversized address length";
    cases[3].len = handshake(cases[3].bytes, 7, "127.0.0.1:1", 256, "");
    cases[4].name = "maximum length field";
    cases[4].len = handshake(cases[4].bytes, 7, "127.0.0.1:1", 0xffff, "");
    cases[5].name = "zero id";
    cases[5].len = handshake(cases[5].bytes, 0, "127.0.0.1:1", 11, "");
    cases[6].name = "NUL inside the address";
    cases[6].len = handshake(cases[6].bytes, 7, "127.0.0.1:1", 11, "");
    cases[6].bytes[HELLO_LEN(3)] = '\0';
    cases[7].name = "next protocol version";
    cases[7].len = handshake(cases[7].bytes, 7, "127.0.0.1:1", 11, "");
    cases[7].bytes[7] = '4';
    cases[8].name = "empty address";
    cases[8].len = handshake(cases[8].bytes, 7, "", 0, "");

    struct harness h;
    struct server s;
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    int port = atoi(strrchr(s.address, ':') + 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct raw r;
        rawStart(&h, &r, port, cases[i].bytes, cases[i].len, cases[i].half_close);
        if (!runUntil(&h, rawIsClosed, &r, WAIT_MS)) {
            fail_msg("%s: the server did not close the connection", cases[i].name);
        }
        struct transport_stats st;
        transportStats(&s.t, &st);
        if (st.rejected != i + 1) {
            fail_msg("%s: rejected %llu, want %zu", cases[i].name, (unsigned long long)st.rejected,
                     i + 1);
        }
        assert_int_equal(st.timed_out, 0);
    }
    assert_int_equal(s.accepted, 0);
    serverStop(&h, &s);
    harnessClose(&h);
}

struct cluster_seen {
    int calls;
    uint64_t peer, cluster;
    bool adopted;
};

static void clusterSeen(void *data, uint64_t peer_id, uint64_t peer_cluster, bool adopted)
{
    struct cluster_seen *c = data;
    c->calls++;
    c->peer = peer_id;
    c->cluster = peer_cluster;
    c->adopted = adopted;
}

static bool rejectedForeign(void *arg)
{
    struct transport_stats st;
    transportStats(&((struct server *)arg)->t, &st);
    return st.foreign > 0;
}

/* Cluster ids: a peer of another cluster is refused before raft sees it (its messages could
 * overwrite our log); our own id and "none yet" are accepted; a transport without an id
 * adopts the first one it is sent and says so. */
static void test_handshake_cluster_ids(void **state)
{
    struct harness h;
    struct server s;
    struct raw r;
    char buf[128];
    struct cluster_seen seen = {0};
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    transportSetCluster(&s.t, 0xaa, clusterSeen, &seen);
    int port = atoi(strrchr(s.address, ':') + 1);
    size_t n = handshakeOf(buf, 7, 0xbb, "10.0.0.7:9999", 13, "");
    rawStart(&h, &r, port, buf, n, false);
    assert_true(runUntil(&h, rawIsClosed, &r, WAIT_MS));
    assert_true(rejectedForeign(&s));
    assert_int_equal(s.accepted, 0);
    assert_int_equal(seen.calls, 1);
    assert_false(seen.adopted);
    assert_int_equal(seen.peer, 7);
    assert_int_equal(seen.cluster, 0xbb);
    assert_int_equal(transportClusterId(&s.t), 0xaa);
    n = handshakeOf(buf, 8, 0xaa, "10.0.0.8:9999", 13, "");
    struct raw r2;
    rawStart(&h, &r2, port, buf, n, false);
    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));
    assert_int_equal(s.peer_id, 8);
    /* Once the id is known, a peer without one is refused: a node of this cluster knows it
     * before it speaks. */
    n = handshakeOf(buf, 9, 0, "10.0.0.9:9999", 13, "");
    struct raw r0;
    rawStart(&h, &r0, port, buf, n, false);
    assert_true(runUntil(&h, rawIsClosed, &r0, WAIT_MS));
    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.foreign, 2);
    assert_int_equal(s.accepted, 1);
    uv_close((uv_handle_t *)&r2.tcp, rawClosed);
    serverStop(&h, &s);

    /* No id yet: the first one sent is adopted. */
    struct server s2;
    struct cluster_seen seen2 = {0};
    serverStart(&h, &s2, 2, freePort(), 0);
    transportSetCluster(&s2.t, 0, clusterSeen, &seen2);
    port = atoi(strrchr(s2.address, ':') + 1);
    n = handshakeOf(buf, 9, 0xcc, "10.0.0.9:9999", 13, "");
    struct raw r3;
    rawStart(&h, &r3, port, buf, n, false);
    assert_true(runUntil(&h, serverAccepted, &s2, WAIT_MS));
    assert_int_equal(transportClusterId(&s2.t), 0xcc);
    assert_int_equal(seen2.calls, 1);
    assert_true(seen2.adopted);
    uv_close((uv_handle_t *)&r3.tcp, rawClosed);
    serverStop(&h, &s2);
    harnessClose(&h);
}

/* A client that connects and stays silent (or stops half-way) is dropped after the
 * handshake timeout, not before; accept is never called. */
static void test_handshake_timeout(void **state)
{
    const unsigned timeout_ms = 200;
    struct harness h;
    struct server s;
    struct raw silent;
    struct raw partial;
    char buf[160];
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), timeout_ms);
    int port = atoi(strrchr(s.address, ':') + 1);
    rawStart(&h, &silent, port, "", 0, false);
    rawStart(&h, &partial, port, buf, handshake(buf, 7, "127.0.0.1:1", 11, "") - 3, false);

    assert_false(runUntil(&h, rawIsGone, &silent, timeout_ms / 2));
    assert_false(partial.gone);
    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.handshaking, 2);
    assert_true(runUntil(&h, rawIsGone, &silent, WAIT_MS));
    assert_true(runUntil(&h, rawIsGone, &partial, WAIT_MS));
    uint64_t waited_ms = (silent.gone_ns - silent.connected_ns) / 1000000;
    assert_in_range(waited_ms, timeout_ms - 10, timeout_ms * 2);

    transportStats(&s.t, &st);
    assert_int_equal(st.timed_out, 2);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.handshaking, 0);
    assert_int_equal(s.accepted, 0);
    assert_true(runUntil(&h, rawIsClosed, &partial, WAIT_MS));
    serverStop(&h, &s);
    harnessClose(&h);
}

/* ---- Connect tests ---------------------------------------------------------------------- */

struct dial {
    struct raft_uv_connect req;
    int calls;
    int status;
    uv_stream_t *stream;
    bool transport_closed_first; /* the transport's close callback fired before ours */
    struct client *owner;
};

struct client {
    struct raft_uv_transport t;
    bool closed;
};

static void dialed(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
    struct dial *d = req->data;
    d->calls++;
    d->status = status;
    d->stream = stream;
    d->transport_closed_first = d->owner != NULL && d->owner->closed;
    if (status == 0) {
        assert_non_null(stream);
    } else {
        assert_null(stream);
    }
}

static bool dialDone(void *arg)
{
    return ((struct dial *)arg)->calls > 0;
}

static void clientClosed(struct raft_uv_transport *t)
{
    struct client *c = t->data;
    c->closed = true;
}

static bool clientIsClosed(void *arg)
{
    return ((struct client *)arg)->closed;
}

static void clientStart(struct harness *h, struct client *c, raft_id id, const char *address)
{
    memset(c, 0, sizeof *c);
    assert_int_equal(transportInit(&c->t, &h->loop), 0);
    c->t.data = c;
    assert_int_equal(c->t.init(&c->t, id, address), 0);
}

static void clientStop(struct harness *h, struct client *c)
{
    c->t.close(&c->t, clientClosed);
    assert_true(runUntil(h, clientIsClosed, c, WAIT_MS));
    transportClose(&c->t);
}

static void dialStart(struct client *c, struct dial *d, raft_id id, const char *address)
{
    memset(d, 0, sizeof *d);
    d->req.data = d;
    d->owner = c;
    assert_int_equal(c->t.connect(&c->t, &d->req, id, address, dialed), 0);
}

/* Transport to transport, by IPv4 literal, by name and by IPv6 literal: the connecting side
 * gets a stream, the listening side accepts it with the dialer's identity. */
static void connectTo(const char *host_fmt, const char *listen_fmt)
{
    struct harness h;
    struct server s;
    struct client c;
    struct dial d;
    char address[64];
    char bind[64];
    harnessInit(&h);
    int port = freePort();
    memset(&s, 0, sizeof s);
    assert_int_equal(transportInit(&s.t, &h.loop), 0);
    s.t.data = &s;
    snprintf(s.address, sizeof s.address, host_fmt, port);
    snprintf(bind, sizeof bind, listen_fmt, port);
    assert_int_equal(transportSetBindAddress(&s.t, bind), 0);
    assert_int_equal(s.t.init(&s.t, 1, s.address), 0);
    assert_int_equal(s.t.listen(&s.t, serverAccept), 0);

    clientStart(&h, &c, 2, "client.example:4242");
    snprintf(address, sizeof address, host_fmt, port);
    dialStart(&c, &d, 1, address);
    assert_true(runUntil(&h, dialDone, &d, WAIT_MS));
    assert_int_equal(d.status, 0);
    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));
    assert_int_equal(s.peer_id, 2);
    assert_string_equal(s.peer_address, "client.example:4242");

    struct transport_stats st;
    transportStats(&c.t, &st);
    assert_int_equal(st.connected, 1);
    uv_close((uv_handle_t *)d.stream, freeStream);
    clientStop(&h, &c);
    serverStop(&h, &s);
    harnessClose(&h);
}

static void test_connect_ipv4(void **state)
{
    connectTo("127.0.0.1:%d", "127.0.0.1:%d");
}

static void test_connect_by_name(void **state)
{
    connectTo("localhost:%d", "127.0.0.1:%d");
}

static void test_connect_ipv6(void **state)
{
    connectTo("[::1]:%d", "[::1]:%d");
}

/* Nobody listening: the callback reports RAFT_NOCONNECTION. */
static void test_connect_refused(void **state)
{
    struct harness h;
    struct client c;
    struct dial d;
    char address[32];
    harnessInit(&h);
    clientStart(&h, &c, 2, "127.0.0.1:1");
    snprintf(address, sizeof address, "127.0.0.1:%d", freePort());
    dialStart(&c, &d, 1, address);
    assert_true(runUntil(&h, dialDone, &d, WAIT_MS));
    assert_int_equal(d.status, RAFT_NOCONNECTION);
    assert_int_equal(d.calls, 1);
    struct transport_stats st;
    transportStats(&c.t, &st);
    assert_int_equal(st.connect_failed, 1);
    clientStop(&h, &c);
    harnessClose(&h);
}

/* Malformed peer addresses fail synchronously and the callback never fires. */
static void test_connect_malformed(void **state)
{
    const char *bad[] = {"nocolon",      "127.0.0.1:",      "127.0.0.1:0", "127.0.0.1:65536",
                         "127.0.0.1:8x", ":8080",           "a:b:8080",    "[::1:8080",
                         "[::1]8080",    "127.0.0.1:123456"};
    struct harness h;
    struct client c;
    harnessInit(&h);
    clientStart(&h, &c, 2, "127.0.0.1:1");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct dial d;
        memset(&d, 0, sizeof d);
        d.req.data = &d;
        if (c.t.connect(&c.t, &d.req, 1, bad[i], dialed) != RAFT_NOCONNECTION) {
            fail_msg("%s: accepted", bad[i]);
        }
        uv_run(&h.loop, UV_RUN_NOWAIT);
        assert_int_equal(d.calls, 0);
    }
    assert_non_null(strstr(c.t.errmsg, "HOST:PORT"));
    clientStop(&h, &c);
    harnessClose(&h);
}

/* close() while connects are in flight (one resolving a name on the thread pool, one in TCP
 * connect) and while an incoming handshake is pending: every request completes with
 * RAFT_CANCELED before the close callback, the half-open incoming connection is dropped, and
 * nothing leaks. */
static void test_close_cancels(void **state)
{
    struct harness h;
    struct server s;
    struct client c;
    struct dial resolving, connecting;
    struct raw pending;
    char address[64];
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    int port = atoi(strrchr(s.address, ':') + 1);
    rawStart(&h, &pending, port, "", 0, false);
    assert_true(runUntil(&h, serverHandshaking, &s, WAIT_MS));

    clientStart(&h, &c, 2, "127.0.0.1:2");
    snprintf(address, sizeof address, "localhost:%d", port);
    dialStart(&c, &resolving, 1, address);
    dialStart(&c, &connecting, 1, s.address);
    clientStop(&h, &c);
    assert_int_equal(resolving.calls, 1);
    assert_int_equal(resolving.status, RAFT_CANCELED);
    assert_false(resolving.transport_closed_first);
    assert_int_equal(connecting.calls, 1);
    assert_int_equal(connecting.status, RAFT_CANCELED);
    assert_false(connecting.transport_closed_first);

    /* The listening side drops its half-done handshake when it closes. */
    serverStop(&h, &s);
    assert_true(runUntil(&h, rawIsClosed, &pending, WAIT_MS));
    assert_int_equal(s.accepted, 0);
    harnessClose(&h);
}

/* ---- Setup errors ----------------------------------------------------------------------- */

static void test_setup_errors(void **state)
{
    struct harness h;
    struct raft_uv_transport t;
    char longaddr[TRANSPORT_ADDRESS_MAX + 2];
    harnessInit(&h);

    memset(&t, 0, sizeof t);
    assert_int_equal(transportInit(&t, &h.loop), 0);
    assert_int_equal(t.version, 1);
    assert_int_equal(transportSetBindAddress(&t, "0.0.0.0"), RC_EINVAL);
    assert_int_equal(t.init(&t, 0, "127.0.0.1:1"), RAFT_INVALID);
    memset(longaddr, 'a', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';
    assert_int_equal(t.init(&t, 1, longaddr), RAFT_INVALID);
    assert_int_equal(t.init(&t, 1, "not an address"), 0); /* only listen parses it */
    assert_int_equal(t.listen(&t, serverAccept), RAFT_INVALID);
    transportClose(&t); /* never listened: no handles to close */
    assert_null(t.impl);
    transportClose(&t);

    /* Port already taken: listen fails, close still releases the handles. */
    struct server s;
    struct client c;
    serverStart(&h, &s, 1, freePort(), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(transportInit(&c.t, &h.loop), 0);
    c.t.data = &c;
    assert_int_equal(c.t.init(&c.t, 2, s.address), 0);
    assert_int_equal(c.t.listen(&c.t, serverAccept), RAFT_IOERR);
    assert_non_null(strstr(c.t.errmsg, "listen on"));
    clientStop(&h, &c);
    serverStop(&h, &s);
    harnessClose(&h);
}

/* ---- Message checks, membership, secret, TLS --------------------------------------------- */

static bool serverSawEof(void *arg)
{
    return ((struct server *)arg)->after_eof;
}

/* Messages that fail the checks close the connection and never reach raft: libraft 0.22's
 * out-of-bounds RequestVote (a 1-byte header) and a RequestVote naming another candidate than
 * the authenticated peer. A good message before the bad one still arrives. */
static void test_messages_checked(void **state)
{
    struct harness h;
    struct server s;
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    int port = atoi(strrchr(s.address, ':') + 1);
    char msgs[128], buf[256];
    size_t good = requestVote(msgs, 5, 7);
    size_t mlen = good + truncatedRequestVote(msgs + good);
    struct raw r;
    rawStart(&h, &r, port, buf, handshakeOfN(buf, 7, 0, "10.0.0.7:9999", 13, msgs, mlen), false);
    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));
    s.stream->data = &s;
    assert_int_equal(uv_read_start(s.stream, afterAlloc, afterRead), 0);
    assert_true(runUntil(&h, rawIsClosed, &r, WAIT_MS));
    assert_true(runUntil(&h, serverSawEof, &s, WAIT_MS));
    assert_int_equal(s.after_len, good); /* the valid vote, and nothing of the bad one */
    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(st.messages, 1);

    /* A forged candidate: node 7 asking votes for 99. */
    uv_close((uv_handle_t *)s.stream, freeStream);
    s.stream = NULL;
    s.after_len = 0;
    s.after_eof = false;
    size_t forged = requestVote(msgs, 5, 99);
    struct raw r2;
    rawStart(&h, &r2, port, buf, handshakeOfN(buf, 7, 0, "10.0.0.7:9999", 13, msgs, forged), false);
    assert_true(runUntil(&h, rawIsClosed, &r2, WAIT_MS));
    transportStats(&s.t, &st);
    assert_int_equal(st.malformed, 2);
    assert_int_equal(st.messages, 1);
    serverStop(&h, &s);
    harnessClose(&h);
}

/* Members: node 7 at 10.0.0.7:9999 and node 1 (the server). */
static enum transport_member memberOf(void *data, uint64_t id, const char *address)
{
    (void)data;
    if (id == 1 || id == 7) {
        return strcmp(address, id == 7 ? "10.0.0.7:9999" : "self") == 0 ? TRANSPORT_MEMBER
                                                                        : TRANSPORT_WRONG_ADDRESS;
    }
    return TRANSPORT_NOT_MEMBER;
}

struct refusals {
    int n;
    char last[256];
};

static void refused(void *data, const char *peer, const char *why)
{
    struct refusals *r = data;
    r->n++;
    snprintf(r->last, sizeof r->last, "%s: %s", peer, why);
}

/* With a configuration and no credentials (loopback without TLS or secret): an id it does not
 * hold, or holds at another address, is refused before raft sees a byte; the member is
 * accepted. The operator is told why. */
static void test_membership(void **state)
{
    struct harness h;
    struct server s;
    struct refusals seen = {0};
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    struct transport_security sec = {.member = memberOf, .refused = refused, .refused_data = &seen};
    assert_int_equal(transportSetSecurity(&s.t, &sec), 0);
    int port = atoi(strrchr(s.address, ':') + 1);
    char buf[256], vote[64];
    size_t vlen = requestVote(vote, 1000, 99);
    struct raw outsider, impostor, member;
    rawStart(&h, &outsider, port, buf, handshakeOfN(buf, 99, 0, "10.0.0.99:9999", 14, vote, vlen),
             false);
    assert_true(runUntil(&h, rawIsClosed, &outsider, WAIT_MS));
    assert_non_null(strstr(seen.last, "id 99 at 10.0.0.99:9999"));
    assert_non_null(strstr(seen.last, "not in the configuration"));
    rawStart(&h, &impostor, port, buf, handshake(buf, 7, "10.6.6.6:9999", 13, ""), false);
    assert_true(runUntil(&h, rawIsClosed, &impostor, WAIT_MS));
    assert_non_null(strstr(seen.last, "another address"));
    rawStart(&h, &member, port, buf, handshake(buf, 7, "10.0.0.7:9999", 13, ""), false);
    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));
    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.not_member, 2);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.messages, 0);
    assert_int_equal(seen.n, 2);
    uv_close((uv_handle_t *)&member.tcp, rawClosed);
    serverStop(&h, &s);
    harnessClose(&h);
}

static void clientSecure(struct client *c, const struct transport_security *sec)
{
    assert_int_equal(transportSetSecurity(&c->t, sec), 0);
}

/* A cluster secret: transports that share it connect; a peer without it (a PROOF of zeros) or
 * with another one is refused, both ways. */
static void test_secret(void **state)
{
    struct harness h;
    struct server s;
    struct client c, wrong;
    struct dial d, dw;
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    struct transport_security sec = {.secret = "correct horse battery", .secret_len = 21};
    assert_int_equal(transportSetSecurity(&s.t, &sec), 0);
    int port = atoi(strrchr(s.address, ':') + 1);
    char buf[256];
    struct raw r;
    rawStart(&h, &r, port, buf, handshake(buf, 7, "10.0.0.7:9999", 13, ""), false);
    assert_true(runUntil(&h, rawIsClosed, &r, WAIT_MS));
    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.unauthenticated, 1);

    clientStart(&h, &c, 2, "127.0.0.1:2");
    clientSecure(&c, &sec);
    dialStart(&c, &d, 1, s.address);
    assert_true(runUntil(&h, dialDone, &d, WAIT_MS));
    assert_int_equal(d.status, 0);
    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));
    assert_int_equal(s.peer_id, 2);

    struct transport_security other = {.secret = "another secret", .secret_len = 14};
    clientStart(&h, &wrong, 3, "127.0.0.1:3");
    clientSecure(&wrong, &other);
    dialStart(&wrong, &dw, 1, s.address);
    assert_true(runUntil(&h, dialDone, &dw, WAIT_MS));
    assert_int_equal(dw.status, RAFT_NOCONNECTION);
    assert_non_null(strstr(wrong.t.errmsg, "wrong MAC"));
    assert_int_equal(s.accepted, 1);
    uv_close((uv_handle_t *)d.stream, freeStream);
    clientStop(&h, &c);
    clientStop(&h, &wrong);
    serverStop(&h, &s);
    harnessClose(&h);
}

/* Certificates from scripts/gen-certs: the CA and node1..node3 in dir, a foreign CA's node in
 * dir/other, and a node whose certificate names 10.1.2.3 only. */
static void makeCerts(char *dir, size_t len)
{
    const char *src = getenv("RC_SRC");
    if (src == NULL) {
        src = ".";
    }
    snprintf(dir, len, "/tmp/rc-transport-tls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s/scripts/gen-certs %s >/dev/null && %s/scripts/gen-certs %s node elsewhere "
             "IP:10.1.2.3 >/dev/null && %s/scripts/gen-certs %s/other >/dev/null",
             src, dir, src, dir, src, dir);
    assert_int_equal(system(cmd), 0);
}

static void removeCerts(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

struct tls_pair {
    struct tls_ctx *server, *client;
};

static void tlsPair(struct tls_pair *p, const char *ca_dir, const char *dir, const char *name)
{
    char ca[256], cert[256], key[256], err[256];
    snprintf(ca, sizeof ca, "%s/ca.pem", ca_dir);
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    struct tls_files f = {.ca_file = ca, .cert_file = cert, .key_file = key};
    if (tlsCtxOpen(&f, TLS_SERVER, TLS_PEER_REQUIRED, &p->server, err, sizeof err) != 0 ||
        tlsCtxOpen(&f, TLS_CLIENT, TLS_PEER_REQUIRED, &p->client, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
}

static void tlsPairClose(struct tls_pair *p)
{
    tlsCtxClose(p->server);
    tlsCtxClose(p->client);
}

/* Mutual TLS: peers with certificates of the cluster CA that name their addresses connect; a
 * peer with a certificate of another CA, or one that does not name the address it claims, is
 * refused before raft reads anything. */
static void test_tls(void **state)
{
    char dir[128], other[160];
    makeCerts(dir, sizeof dir);
    snprintf(other, sizeof other, "%s/other", dir);
    struct tls_pair n1, n2, foreign, elsewhere;
    tlsPair(&n1, dir, dir, "node1");
    tlsPair(&n2, dir, dir, "node2");
    tlsPair(&foreign, dir, other, "node3"); /* trusts our CA, holds another CA's certificate */
    tlsPair(&elsewhere, dir, dir, "elsewhere");

    struct harness h;
    struct server s;
    harnessInit(&h);
    serverStart(&h, &s, 1, freePort(), 0);
    struct transport_security sec = {.tls_server = n1.server, .tls_client = n1.client};
    assert_int_equal(transportSetSecurity(&s.t, &sec), 0);

    struct client c, f, e;
    struct dial d, df, de;
    clientStart(&h, &c, 2, "127.0.0.1:2");
    clientSecure(&c,
                 &(struct transport_security){.tls_server = n2.server, .tls_client = n2.client});
    dialStart(&c, &d, 1, s.address);
    assert_true(runUntil(&h, dialDone, &d, WAIT_MS));
    assert_int_equal(d.status, 0);
    assert_true(runUntil(&h, serverAccepted, &s, WAIT_MS));

    clientStart(&h, &f, 3, "127.0.0.1:3");
    clientSecure(&f, &(struct transport_security){.tls_server = foreign.server,
                                                  .tls_client = foreign.client});
    dialStart(&f, &df, 1, s.address);
    assert_true(runUntil(&h, dialDone, &df, WAIT_MS));
    assert_int_equal(df.status, RAFT_NOCONNECTION);

    clientStart(&h, &e, 4, "127.0.0.1:4");
    clientSecure(&e, &(struct transport_security){.tls_server = elsewhere.server,
                                                  .tls_client = elsewhere.client});
    dialStart(&e, &de, 1, s.address);
    assert_true(runUntil(&h, dialDone, &de, WAIT_MS));
    /* The listener refuses on HELLO, before its WELCOME; the dialer learns it from the closed
     * socket. */
    assert_int_equal(de.status, RAFT_NOCONNECTION);
    struct transport_stats st;
    transportStats(&s.t, &st);
    assert_int_equal(st.unauthenticated, 2);
    assert_int_equal(st.messages, 0);
    assert_int_equal(s.accepted, 1);

    if (de.stream != NULL) {
        uv_close((uv_handle_t *)de.stream, freeStream);
    }
    uv_close((uv_handle_t *)d.stream, freeStream);
    clientStop(&h, &c);
    clientStop(&h, &f);
    clientStop(&h, &e);
    serverStop(&h, &s);
    harnessClose(&h);
    tlsPairClose(&n1);
    tlsPairClose(&n2);
    tlsPairClose(&foreign);
    tlsPairClose(&elsewhere);
    removeCerts(dir);
}

/* ---- A 3-voter cluster over the transport ----------------------------------------------- */

#define N_NODES   3
#define N_ENTRIES 1000

struct node {
    raft_id id;
    char address[32];
    char dir[64];
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uint64_t applied;
    bool in_order;
    bool closed;
};

enum security_mode { PLAIN, SECRET, TLS };

struct cluster {
    enum security_mode mode;
    char certs[128];
    struct tls_pair tls[N_NODES];
    struct node nodes[N_NODES];
    struct raft_apply reqs[N_ENTRIES];
    unsigned acked;
    unsigned failed;
};

static int fsmApply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    uint64_t v;
    assert_int_equal(buf->len, sizeof v);
    memcpy(&v, buf->base, sizeof v);
    if (v != n->applied + 1) {
        n->in_order = false;
    }
    n->applied++;
    *result = NULL;
    return 0;
}

static int fsmSnapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct node *n = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].base = raft_malloc(sizeof n->applied);
    (*bufs)[0].len = sizeof n->applied;
    memcpy((*bufs)[0].base, &n->applied, sizeof n->applied);
    *n_bufs = 1;
    return 0;
}

static int fsmRestore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    memcpy(&n->applied, buf->base, sizeof n->applied);
    raft_free(buf->base);
    return 0;
}

static void nodeStart(struct harness *h, struct node *n, const struct raft_configuration *conf,
                      const struct transport_security *sec)
{
    snprintf(n->dir, sizeof n->dir, "/tmp/rc-transport-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    n->in_order = true;
    n->fsm = (struct raft_fsm){
        .version = 1, .data = n, .apply = fsmApply, .snapshot = fsmSnapshot, .restore = fsmRestore};
    assert_int_equal(transportInit(&n->transport, &h->loop), 0);
    assert_int_equal(transportSetSecurity(&n->transport, sec), 0);
    assert_int_equal(raft_uv_init(&n->io, &h->loop, n->dir, &n->transport), 0);
    raft_uv_set_connect_retry_delay(&n->io, 50);
    assert_int_equal(raft_init(&n->raft, &n->io, &n->fsm, n->id, n->address), 0);
    n->raft.data = n;
    raft_set_election_timeout(&n->raft, 500);
    raft_set_heartbeat_timeout(&n->raft, 50);
    raft_set_snapshot_threshold(&n->raft, 1u << 20);
    assert_int_equal(raft_bootstrap(&n->raft, conf), 0);
    assert_int_equal(raft_start(&n->raft), 0);
}

static void nodeClosed(struct raft *r)
{
    struct node *n = r->data;
    n->closed = true;
}

/* Returns 0 when dir and the files in it are gone. */
static int removeDir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    struct dirent *e;
    int rv = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rv |= unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
    return rv | rmdir(dir);
}

/* The data dirs go even when an assertion ended the test early. */
static int clusterTeardown(void **state)
{
    struct cluster *cl = *state;
    for (int i = 0; i < N_NODES; i++) {
        if (cl->nodes[i].dir[0] != '\0') {
            removeDir(cl->nodes[i].dir);
        }
        if (cl->mode == TLS) {
            tlsPairClose(&cl->tls[i]);
        }
    }
    if (cl->certs[0] != '\0') {
        removeCerts(cl->certs);
    }
    free(cl);
    return 0;
}

static int clusterSetup(void **state)
{
    *state = calloc(1, sizeof(struct cluster));
    return *state == NULL ? -1 : 0;
}

static struct node *leaderOf(struct cluster *cl)
{
    for (int i = 0; i < N_NODES; i++) {
        if (raft_state(&cl->nodes[i].raft) == RAFT_LEADER) {
            return &cl->nodes[i];
        }
    }
    return NULL;
}

static bool hasLeader(void *arg)
{
    return leaderOf(arg) != NULL;
}

static bool allApplied(void *arg)
{
    struct cluster *cl = arg;
    for (int i = 0; i < N_NODES; i++) {
        if (cl->nodes[i].applied < N_ENTRIES) {
            return false;
        }
    }
    return cl->acked + cl->failed == N_ENTRIES;
}

static bool allClosed(void *arg)
{
    struct cluster *cl = arg;
    for (int i = 0; i < N_NODES; i++) {
        if (!cl->nodes[i].closed) {
            return false;
        }
    }
    return true;
}

static void entryApplied(struct raft_apply *req, int status, void *result)
{
    struct cluster *cl = req->data;
    if (status == 0) {
        cl->acked++;
    } else {
        cl->failed++;
    }
}

static void clusterCommits(struct cluster *cl, enum security_mode mode)
{
    struct harness h;
    struct raft_configuration conf;
    cl->mode = mode;
    if (mode == TLS) {
        makeCerts(cl->certs, sizeof cl->certs);
        for (int i = 0; i < N_NODES; i++) {
            char name[16];
            snprintf(name, sizeof name, "node%d", i + 1);
            tlsPair(&cl->tls[i], cl->certs, cl->certs, name);
        }
    }
    harnessInit(&h);
    raft_configuration_init(&conf);
    for (int i = 0; i < N_NODES; i++) {
        struct node *n = &cl->nodes[i];
        n->id = (raft_id)(i + 1);
        snprintf(n->address, sizeof n->address, "127.0.0.1:%d", freePort());
        assert_int_equal(raft_configuration_add(&conf, n->id, n->address, RAFT_VOTER), 0);
    }
    for (int i = 0; i < N_NODES; i++) {
        struct transport_security sec = {0};
        if (mode == SECRET) {
            sec.secret = "cluster secret";
            sec.secret_len = 14;
        } else if (mode == TLS) {
            sec.tls_server = cl->tls[i].server;
            sec.tls_client = cl->tls[i].client;
        }
        nodeStart(&h, &cl->nodes[i], &conf, &sec);
    }
    raft_configuration_close(&conf);

    assert_true(runUntil(&h, hasLeader, cl, WAIT_MS));
    struct node *leader = leaderOf(cl);
    for (uint64_t i = 0; i < N_ENTRIES; i++) {
        struct raft_buffer buf = {.base = raft_malloc(sizeof i), .len = sizeof i};
        uint64_t v = i + 1;
        memcpy(buf.base, &v, sizeof v);
        cl->reqs[i].data = cl;
        assert_int_equal(raft_apply(&leader->raft, &cl->reqs[i], &buf, 1, entryApplied), 0);
    }
    assert_true(runUntil(&h, allApplied, cl, 30000));
    assert_int_equal(cl->acked, N_ENTRIES);
    for (int i = 0; i < N_NODES; i++) {
        struct node *n = &cl->nodes[i];
        struct transport_stats st;
        assert_int_equal(n->applied, N_ENTRIES);
        assert_true(n->in_order);
        transportStats(&n->transport, &st);
        /* Raft traffic rode our connections: the leader dialled both followers and heard
         * back from both on their own connections; a follower dialled at least the leader. */
        unsigned peers = n == leader ? N_NODES - 1 : 1;
        assert_true(st.connected >= peers);
        assert_true(st.accepted >= peers);
        assert_true(st.messages >= N_ENTRIES / 64);
        assert_int_equal(st.rejected + st.timed_out + st.malformed + st.unauthenticated, 0);
    }

    for (int i = 0; i < N_NODES; i++) {
        raft_close(&cl->nodes[i].raft, nodeClosed);
    }
    assert_true(runUntil(&h, allClosed, cl, WAIT_MS));
    for (int i = 0; i < N_NODES; i++) {
        raft_uv_close(&cl->nodes[i].io);
        transportClose(&cl->nodes[i].transport);
        assert_int_equal(removeDir(cl->nodes[i].dir), 0);
        cl->nodes[i].dir[0] = '\0';
    }
    harnessClose(&h);
}

static void test_cluster_commits(void **state)
{
    clusterCommits(*state, PLAIN);
}

static void test_cluster_commits_secret(void **state)
{
    clusterCommits(*state, SECRET);
}

static void test_cluster_commits_tls(void **state)
{
    clusterCommits(*state, TLS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_accepted),
        cmocka_unit_test(test_handshake_rejected),
        cmocka_unit_test(test_handshake_cluster_ids),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_connect_ipv4),
        cmocka_unit_test(test_connect_by_name),
        cmocka_unit_test(test_connect_ipv6),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_malformed),
        cmocka_unit_test(test_close_cancels),
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_messages_checked),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_tls),
        cmocka_unit_test_setup_teardown(test_cluster_commits, clusterSetup, clusterTeardown),
        cmocka_unit_test_setup_teardown(test_cluster_commits_secret, clusterSetup, clusterTeardown),
        cmocka_unit_test_setup_teardown(test_cluster_commits_tls, clusterSetup, clusterTeardown),
    };
    /* libuv writes sockets with write(2): a peer closing first must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
