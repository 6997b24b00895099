/*
 * The attacks of a hostile network (docs/security.md), each against real raftcrond processes on
 * 127.0.0.1, each with the harm it did measured and refused:
 *
 *  - the Raft port: a forged RequestVote of term 1000 from a non-member, a forged AppendEntries
 *    of term 5000 making it leader, libraft 0.22's out-of-bounds RequestVote (a 1-byte header)
 *    sent as a member, and with a cluster secret a member impersonated without it: no leader
 *    steps down, none follows 99, no term moves;
 *  - the RPC port: a 15 MiB Job.Put of unknown fields, and 3.9 MiB PINGs never read, keep the
 *    daemon's peak memory within 64 MB; before authentication frames are small and PINGs
 *    unanswered; wrong tokens close the connection; a connection cap and an idle timeout hold;
 *  - a job's environment holds no token and no inherited descriptor, and neither the token nor
 *    a flag's secret shows in /proc/PID/cmdline or environ;
 *  - a node refuses to listen beyond loopback without TLS unless --insecure (and then warns);
 *  - the data dir is made 0700 and its files are 0600;
 *  - shell runs as --run-as (id -u), within their rlimits, refused as root without it; a
 *    namespace denied shell cannot create a shell job;
 *  - a worker session cannot report on a run assigned to another worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/frame.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC    INT64_C(1000000)
#define MIB    (1024 * 1024)
#define RSS_MB 64

enum { ST_RUNNING = 3, ST_SUCCEEDED = 4, ST_FAILED = 5, ST_DEAD = 9 };

/* ---- Raw sockets -------------------------------------------------------------------------- */

static int portOf(const char *addr)
{
    return atoi(strrchr(addr, ':') + 1);
}

static int rawConnect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Send as much of buf as the peer takes within timeout_ms; returns the bytes sent (the peer may
 * close, or stop reading: both are answers). */
static size_t sendSome(int fd, const void *buf, size_t len, int timeout_ms)
{
    size_t off = 0;
    int64_t deadline = harnessNowMs() + timeout_ms;
    while (off < len && harnessNowMs() < deadline) {
        ssize_t n = send(fd, (const char *)buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 50);
    }
    return off;
}

/* Whether the peer closes the connection within timeout_ms (bytes it sends are read and
 * dropped). */
static bool closedWithin(int fd, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    char buf[65536];
    while (harnessNowMs() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int k = poll(&p, 1, 50);
        if (k > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                return true;
            }
        }
    }
    return false;
}

struct responses {
    int status; /* of the first RESPONSE; -2 none yet */
    int pongs;  /* PONGs before it */
};

static void onFrame(const struct rc_frame *f, void *arg)
{
    struct responses *r = arg;
    if (r->status != -2) {
        return;
    }
    if (f->type == RC_FRAME_PONG) {
        r->pongs++;
    } else if (f->type == RC_FRAME_RESPONSE) {
        Raftcron__Response *resp = NULL;
        char err[RC_ERRMSG_SIZE];
        assert_int_equal(frameUnpackResponse(f->payload, f->len, &resp, err, sizeof err), 0);
        r->status = (int)resp->status;
        raftcron__response__free_unpacked(resp, NULL);
    }
}

/* Read frames until a RESPONSE arrives; counts the PONGs before it. Returns its status, or -1
 * when the connection closed first (or nothing came within timeout_ms). */
static int awaitResponse(int fd, int *pongs, int timeout_ms)
{
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct responses r = {-2, 0};
    int64_t deadline = harnessNowMs() + timeout_ms;
    uint8_t buf[16384];
    while (r.status == -2 && harnessNowMs() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0 || frameDecoderFeed(&dec, buf, (size_t)n, onFrame, &r) != 0) {
            break;
        }
    }
    frameDecoderClose(&dec);
    if (pongs != NULL) {
        *pongs = r.pongs;
    }
    return r.status >= 0 ? r.status : -1;
}

/* A REQUEST frame for method with payload and token. */
static uint8_t *requestFrame(const char *method, const void *payload, size_t len, const char *token,
                             size_t *out_len)
{
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = (char *)method;
    req.auth_token = (char *)(token != NULL ? token : "");
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    uint8_t *frame = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &req.base, &frame, out_len, err, sizeof err),
                     0);
    return frame;
}

static uint8_t *pingFrame(size_t payload, size_t *out_len)
{
    uint8_t *f = calloc(1, RC_FRAME_HEADER_SIZE + payload);
    assert_non_null(f);
    assert_int_equal(frameWriteHeader(f, RC_FRAME_PING, 7, payload), 0);
    *out_len = RC_FRAME_HEADER_SIZE + payload;
    return f;
}

/* ---- Processes -------------------------------------------------------------------------- */

/* Peak resident memory of pid (VmHWM), in kB. */
static long peakKb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    assert_true(kb > 0);
    return kb;
}

/* Whether /proc/PID/<what> (cmdline, environ: NUL-separated) holds text. */
static bool procHolds(pid_t pid, const char *what, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\0') {
            buf[i] = '\n';
        }
    }
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

struct status {
    uint64_t leader;
    uint64_t term;
    uint64_t cluster; /* the cluster id (anyone who can call Cluster.Status reads it) */
};

/* Node id's own view (stale), or zeros when it does not answer. */
static struct status statusOf(int id)
{
    struct status st = {0, 0, 0};
    struct rc_client *c = harnessClientOf(&H, id, 2 * SEC);
    Raftcron__ClusterStatus *cs = NULL;
    if (rc_cluster_status(c, 1, &cs) == 0) {
        st.leader = cs->leader_id;
        st.term = cs->term;
        st.cluster = strtoull(cs->cluster_id, NULL, 16);
        rc_message_free(cs);
    }
    rc_client_close(c);
    return st;
}

static struct rc_client *clientWith(int id, const char *token)
{
    char addr[64];
    harnessRpcAddr(&H, id, addr, sizeof addr);
    struct rc_client_options o = {.endpoints = addr, .timeout_us = 5 * SEC, .auth_token = token};
    struct rc_client *c = NULL;
    assert_int_equal(rc_client_open(&o, &c), 0);
    return c;
}

static void writeFile(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* ---- The Raft port -------------------------------------------------------------------------- */

static void putBe(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static size_t putLe64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
    return 8;
}

/* The handshake of the transport before this version ("RCRAFT02": id, cluster, address),
 * which accepted whoever sent it: what an attacker sends to an unprotected node. */
static size_t helloV2(uint8_t *b, uint64_t id, const char *address)
{
    memcpy(b, "RCRAFT02", 8);
    putBe(b + 8, id, 8);
    putBe(b + 16, 0, 8);
    putBe(b + 24, strlen(address), 2);
    memcpy(b + 26, address, strlen(address));
    return 26 + strlen(address);
}

/* The current handshake as a peer without the cluster secret sends it: HELLO, then a PROOF of
 * zeros (taken after the WELCOME, so it may come at once). */
static size_t helloV3(uint8_t *b, uint64_t id, uint64_t cluster, const char *address)
{
    memcpy(b, "RCRAFT03", 8);
    putBe(b + 8, id, 8);
    putBe(b + 16, cluster, 8);
    memset(b + 24, 0x42, 16);
    putBe(b + 40, strlen(address), 2);
    memcpy(b + 42, address, strlen(address));
    memset(b + 42 + strlen(address), 0, 32);
    return 42 + strlen(address) + 32;
}

static size_t requestVote(uint8_t *p, uint64_t term, uint64_t candidate)
{
    memset(p, 0, 16);
    p[0] = 3; /* RequestVote */
    p[2] = 2;
    putLe64(p + 8, 40);
    size_t n = 16;
    n += putLe64(p + n, term);
    n += putLe64(p + n, candidate);
    n += putLe64(p + n, 0);
    n += putLe64(p + n, 0);
    n += putLe64(p + n, 1); /* flags: disrupt the leader (as after TimeoutNow), a real vote */
    return n;
}

static size_t appendEntries(uint8_t *p, uint64_t term)
{
    memset(p, 0, 16);
    p[0] = 1; /* AppendEntries, a heartbeat */
    putLe64(p + 8, 48);
    memset(p + 16, 0, 48);
    putLe64(p + 16, term);
    return 64;
}

/* libraft 0.22's out-of-bounds read: a RequestVote with a 1-byte header (measured: a node
 * took a heap pointer for its term). */
static size_t oobRequestVote(uint8_t *p)
{
    memset(p, 0, 17);
    p[0] = 3;
    p[2] = 2;
    putLe64(p + 8, 1);
    p[16] = 0x7f;
    return 17;
}

/* Send each handshake with msg after it to node id's Raft port: the old format, and the
 * current one without and with the cluster's id, so that the test fails on a node that
 * accepts any. Waits until the node closes each connection, or 2 s (an accepted connection
 * stays open). */
static void attackRaft(int id, uint64_t as_id, const char *as_addr, const uint8_t *msg, size_t mlen)
{
    char raft[64];
    harnessRaftAddr(&H, id, raft, sizeof raft);
    uint64_t cluster = statusOf(id).cluster;
    for (int v = 0; v < 3; v++) {
        uint8_t buf[512];
        size_t n = v == 0 ? helloV2(buf, as_id, as_addr)
                          : helloV3(buf, as_id, v == 1 ? 0 : cluster, as_addr);
        memcpy(buf + n, msg, mlen);
        int fd = rawConnect(portOf(raft));
        sendSome(fd, buf, n + mlen, 2000);
        (void)closedWithin(fd, 2000);
        close(fd);
    }
}

/* No node follows 99 and no term reached what the attacker sent. (Terms are compared with the
 * forged one, not with the term before: on a loaded machine an honest election may happen.) */
static void assertUnmoved(uint64_t leader, uint64_t term_before, uint64_t forged_term)
{
    for (int id = 1; id <= 3; id++) {
        struct status st = statusOf(id);
        if (st.leader == 99 || st.term >= forged_term) {
            fail_msg("node %d: leader %llu, term %llu (was leader %llu at term %llu)", id,
                     (unsigned long long)st.leader, (unsigned long long)st.term,
                     (unsigned long long)leader, (unsigned long long)term_before);
        }
    }
}

static char *logOf(uint64_t id)
{
    static char log[300];
    snprintf(log, sizeof log, "%s/node%llu.log", H.dir, (unsigned long long)id);
    return log;
}

/* A non-member asks for votes at term 1000 (measured: the leader stepped down). */
static void test_raft_forged_vote(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_true(leader != 0);
    struct status before = statusOf((int)leader);
    uint8_t msg[128];
    attackRaft((int)leader, 99, "127.0.0.1:9", msg, requestVote(msg, 1000, 99));
    assertUnmoved(leader, before.term, 1000);
    assert_true(harnessFileContains(logOf(leader), "not in the configuration"));
}

/* A non-member claims leadership at term 5000 (measured: a node followed 99). */
static void test_raft_forged_append(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_true(leader != 0);
    struct status before = statusOf((int)leader);
    int follower = leader == 1 ? 2 : 1;
    uint8_t msg[128];
    attackRaft(follower, 99, "127.0.0.1:9", msg, appendEntries(msg, 5000));
    assertUnmoved(leader, before.term, 5000);
    assert_true(harnessFileContains(logOf((uint64_t)follower), "not in the configuration"));
}

/* A member (as anyone on this host can claim without a secret) sends the message libraft 0.22
 * reads out of bounds (measured: a node took a heap pointer for its term): the check drops it
 * before raft decodes it. */
static void test_raft_out_of_bounds_message(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_true(leader != 0);
    struct status before = statusOf((int)leader);
    int other = leader == 1 ? 2 : 1;
    char addr[64];
    harnessRaftAddr(&H, other, addr, sizeof addr);
    uint8_t msg[128];
    attackRaft((int)leader, (uint64_t)other, addr, msg, oobRequestVote(msg));
    assertUnmoved(leader, before.term, 1u << 20);
    assert_true(harnessFileContains(logOf(leader), "message refused: RequestVote: header of 1"));
}

/* With a cluster secret even a member's id is worth nothing without the secret: an
 * impersonated member's RequestVote is refused at the handshake. */
static void test_raft_secret(void **state)
{
    (void)state;
    char secret[300];
    snprintf(secret, sizeof secret, "%s/secret", H.dir);
    writeFile(secret, "0123456789abcdef0123456789abcdef\n", 0600);
    const char *const extra[] = {"--cluster-secret-file", secret, NULL};
    uint64_t leader = harnessStartCluster(&H, 3, extra);
    assert_true(leader != 0);
    struct status before = statusOf((int)leader);
    int other = leader == 1 ? 2 : 1;
    char addr[64];
    harnessRaftAddr(&H, other, addr, sizeof addr);
    uint8_t msg[128];
    attackRaft((int)leader, (uint64_t)other, addr, msg, requestVote(msg, 1000, (uint64_t)other));
    assertUnmoved(leader, before.term, 1000);
    assert_true(harnessFileContains(logOf(leader), "does not hold the cluster secret"));
    /* A secret file others may read is refused at start. */
    chmod(secret, 0644);
    const char *const loose[] = {"--bootstrap", "--cluster-secret-file", secret, NULL};
    harnessStart(&H, 4, loose);
    assert_int_equal(harnessWait(&H, 4, 20000), 2);
    assert_true(harnessFileContains(logOf(4), "readable by others"));
}

/* ---- The RPC port ------------------------------------------------------------------------ */

/* A Job.Put whose payload is a valid request followed by total bytes of 2-byte unknown fields
 * (field 15, varint 0). */
static uint8_t *unknownFieldsPut(size_t total, size_t *len)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    spec.name = "padded";
    Raftcron__JobPutRequest req = RAFTCRON__JOB_PUT_REQUEST__INIT;
    req.spec = &spec;
    size_t head = raftcron__job_put_request__get_packed_size(&req);
    uint8_t *payload = malloc(head + total);
    assert_non_null(payload);
    raftcron__job_put_request__pack(&req, payload);
    for (size_t i = 0; i + 1 < total; i += 2) {
        payload[head + i] = 0x78;
        payload[head + i + 1] = 0x00;
    }
    uint8_t *frame = requestFrame("Job.Put", payload, head + (total & ~(size_t)1), NULL, len);
    free(payload);
    return frame;
}

/* Measured before: one 15 MiB Job.Put of unknown fields took a daemon from 6 MB to 712 MB, and
 * twelve unread 16 MiB PINGs to 219 MB. Now the 15 MiB frame is over the request limit, a
 * 3.9 MiB one is refused by the bounded unpack, and PINGs nobody reads stop being read. */
static void test_rpc_memory(void **state)
{
    (void)state;
    /* What is measured is the daemon's memory, not AddressSanitizer's quarantine of freed
     * blocks (256 MB by default, which keeps every freed frame buffer resident). */
    setenv("ASAN_OPTIONS", "quarantine_size_mb=4", 1);
    uint64_t leader = harnessStartCluster(&H, 1, NULL);
    unsetenv("ASAN_OPTIONS");
    assert_int_equal(leader, 1);
    pid_t pid = H.pids[1];
    char rpc[64];
    harnessRpcAddr(&H, 1, rpc, sizeof rpc);
    long base = peakKb(pid);

    size_t len;
    uint8_t *big = unknownFieldsPut(15 * MIB, &len);
    int fd = rawConnect(portOf(rpc));
    sendSome(fd, big, len, 5000);
    int status = awaitResponse(fd, NULL, 20000);
    close(fd);
    free(big);
    long grew = peakKb(pid) - base;
    printf("peak memory grew by %ld kB after a 15 MiB Job.Put of unknown fields\n", grew);
    assert_true(grew < RSS_MB * 1024);
    assert_true(status != RC_STATUS_OK);

    uint8_t *under = unknownFieldsPut(3900 * 1024, &len);
    fd = rawConnect(portOf(rpc));
    assert_int_equal(sendSome(fd, under, len, 10000), len);
    status = awaitResponse(fd, NULL, 20000);
    close(fd);
    free(under);
    grew = peakKb(pid) - base;
    printf("peak memory grew by %ld kB after a 3.9 MiB one\n", grew);
    assert_true(grew < RSS_MB * 1024);
    assert_int_equal(status, RC_STATUS_RESOURCE_EXHAUSTED);

    size_t plen;
    uint8_t *ping = pingFrame(3900 * 1024, &plen);
    fd = rawConnect(portOf(rpc));
    int rcv = 4096; /* and never read */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    size_t sent = 0;
    for (int i = 0; i < 40; i++) {
        size_t n = sendSome(fd, ping, plen, 500);
        sent += n;
        if (n < plen) {
            break; /* the daemon stopped reading: what it holds is bounded */
        }
    }
    grew = peakKb(pid) - base;
    printf("peak memory grew by %ld kB (%zu MiB of PINGs sent, unread)\n", grew, sent / MIB);
    assert_true(grew < RSS_MB * 1024);
    assert_true(sent < 40 * plen);
    close(fd);
    free(ping);
    /* The node still serves. */
    assert_true(statusOf(1).leader == 1);
}

/* With a token (from a 0600 file): before a connection authenticated its frames are small and
 * its PINGs unanswered; wrong tokens are UNAUTHENTICATED and close it after three; the right
 * token lifts the limit. A connection cap and an idle timeout hold. */
static void test_rpc_authentication(void **state)
{
    (void)state;
    char token[300];
    snprintf(token, sizeof token, "%s/token", H.dir);
    writeFile(token, "t0ken-of-this-test\n", 0600);
    harnessStart(&H, 1,
                 (const char *const[]){"--bootstrap", "--auth-token-file", token,
                                       "--rpc-max-connections", "3", "--rpc-idle-timeout", "1s",
                                       NULL});
    struct rc_client *good = clientWith(1, "t0ken-of-this-test");
    Raftcron__ClusterStatus *cs = NULL;
    int64_t deadline = harnessNowMs() + 20000;
    while (rc_cluster_status(good, 0, &cs) != 0 && harnessNowMs() < deadline) {
        usleep(50000);
    }
    assert_non_null(cs);
    rc_message_free(cs);
    rc_client_close(good);
    struct rc_client *bad = clientWith(1, "guess");
    assert_int_equal(rc_cluster_status(bad, 1, &cs), RC_EDENIED);
    assert_int_equal(rc_client_status(bad), RC_STATUS_UNAUTHENTICATED);
    rc_client_close(bad);
    char rpc[64];
    harnessRpcAddr(&H, 1, rpc, sizeof rpc);

    /* A PING first, then a request with a wrong token: no PONG comes before the answer. */
    size_t plen, rlen;
    uint8_t *ping = pingFrame(16, &plen);
    uint8_t *wrong = requestFrame("Cluster.Status", NULL, 0, "guess", &rlen);
    int fd = rawConnect(portOf(rpc));
    int pongs = -1;
    assert_int_equal(sendSome(fd, ping, plen, 2000), plen);
    assert_int_equal(sendSome(fd, wrong, rlen, 2000), rlen);
    assert_int_equal(awaitResponse(fd, &pongs, 5000), RC_STATUS_UNAUTHENTICATED);
    assert_int_equal(pongs, 0);
    /* Two more wrong tokens and the connection is closed. */
    for (int i = 0; i < 2; i++) {
        sendSome(fd, wrong, rlen, 2000);
    }
    assert_true(closedWithin(fd, 5000));
    close(fd);

    /* Before authenticating, a 100 KiB frame is refused from its header; after, accepted. */
    uint8_t *bigping = pingFrame(100 * 1024, &plen);
    fd = rawConnect(portOf(rpc));
    sendSome(fd, bigping, plen, 2000);
    assert_true(closedWithin(fd, 5000));
    close(fd);
    uint8_t *right = requestFrame("Cluster.Status", NULL, 0, "t0ken-of-this-test", &rlen);
    fd = rawConnect(portOf(rpc));
    assert_int_equal(sendSome(fd, right, rlen, 2000), rlen);
    assert_int_equal(awaitResponse(fd, NULL, 5000), RC_STATUS_OK);
    assert_int_equal(sendSome(fd, bigping, plen, 5000), plen);
    assert_int_equal(sendSome(fd, right, rlen, 2000), rlen);
    assert_int_equal(awaitResponse(fd, &pongs, 5000), RC_STATUS_OK);
    assert_int_equal(pongs, 1);
    /* Idle for the idle timeout (1 s): closed by the node. */
    int64_t t0 = harnessNowMs();
    assert_true(closedWithin(fd, 5000));
    assert_true(harnessNowMs() - t0 >= 900);
    close(fd);

    /* The cap: three connections, the fourth is closed at once. */
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = rawConnect(portOf(rpc));
        assert_int_equal(sendSome(fds[i], right, rlen, 2000), rlen);
        assert_int_equal(awaitResponse(fds[i], NULL, 5000), RC_STATUS_OK);
    }
    int over = rawConnect(portOf(rpc));
    t0 = harnessNowMs();
    assert_true(closedWithin(over, 900));
    close(over);
    for (int i = 0; i < 3; i++) {
        close(fds[i]);
    }
    free(ping);
    free(wrong);
    free(right);
    free(bigping);
}

/* ---- Jobs and the daemon's secrets ---------------------------------------------------- */

static uint64_t runNow(struct rc_client *c, const char *ns, const char *name)
{
    uint64_t id = 0;
    int rv = rc_job_run_now(c, ns, name, 0, &id);
    if (rv != 0) {
        fail_msg("run-now %s/%s: %s", ns, name, rc_client_errmsg(c));
    }
    return id;
}

static int putShell(struct rc_client *c, const char *ns, const char *name, const char *command,
                    const char *rlimits)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger trig = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    trig.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    trig.cron = "0 0 1 1 *";
    sh.command = (char *)command;
    sh.rlimits = (char *)(rlimits != NULL ? rlimits : "");
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.namespace_ = (char *)ns;
    spec.name = (char *)name;
    spec.trigger = &trig;
    spec.executor = &ex;
    return rc_job_put(c, &spec, 0, 1, NULL);
}

static char *outputOf(Raftcron__Run *r)
{
    static char out[8192];
    size_t n = 0;
    if (r->outcome != NULL) {
        n = r->outcome->output_tail.len < sizeof out - 1 ? r->outcome->output_tail.len
                                                         : sizeof out - 1;
        memcpy(out, r->outcome->output_tail.data, n);
    }
    out[n] = '\0';
    return out;
}

/* Measured before: a job printed RAFTCRON_AUTH_TOKEN (it inherited the daemon's environment),
 * and a descriptor the daemon inherited without close-on-exec reached it. The token given on
 * the command line and in the environment is blanked where ps and /proc show them. */
static void test_job_environment(void **state)
{
    (void)state;
    /* A descriptor the daemon inherits without close-on-exec. */
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 250), 250);
    close(fd);
    setenv("RAFTCRON_AUTH_TOKEN", "env-SECRET-token", 1);
    setenv("CLOUD_API_KEY", "cloud-SECRET-key", 1);
    harnessStart(&H, 1,
                 (const char *const[]){"--bootstrap", "--auth-token", "argv-SECRET-token", NULL});
    unsetenv("RAFTCRON_AUTH_TOKEN");
    unsetenv("CLOUD_API_KEY");
    close(250);
    struct rc_client *c = clientWith(1, "argv-SECRET-token");
    int64_t deadline = harnessNowMs() + 20000;
    int rv;
    while ((rv = putShell(c, "default", "snoop", "env; echo fds:; ls /proc/$$/fd; echo end",
                          NULL)) != 0 &&
           harnessNowMs() < deadline) {
        usleep(100000);
    }
    assert_int_equal(rv, 0);
    pid_t pid = H.pids[1];
    assert_false(procHolds(pid, "cmdline", "SECRET"));
    assert_false(procHolds(pid, "environ", "env-SECRET"));
    Raftcron__Run *r = harnessWaitRun(c, runNow(c, "default", "snoop"), ST_SUCCEEDED, 20000);
    const char *out = outputOf(r);
    if (strstr(out, "SECRET") != NULL || strstr(out, "RAFTCRON_AUTH") != NULL) {
        fail_msg("the job saw a secret:\n%s", out);
    }
    assert_non_null(strstr(out, "RAFTCRON_RUN_ID="));
    assert_non_null(strstr(out, "PATH="));
    /* The shell's descriptors, listed by ls from outside it: 0, 1 and 2 only. */
    const char *fds = strstr(out, "fds:\n");
    assert_non_null(fds);
    if (strcmp(fds, "fds:\n0\n1\n2\nend\n") != 0) {
        fail_msg("the job holds more than 0-2:\n%s", fds);
    }
    rc_message_free(r);
    rc_client_close(c);
}

/* ---- Listening beyond loopback, the data dir ----------------------------------------------- */

static void test_non_loopback_refused(void **state)
{
    (void)state;
    char rpc[64];
    harnessRpcAddr(&H, 1, rpc, sizeof rpc);
    char open_addr[64];
    snprintf(open_addr, sizeof open_addr, "0.0.0.0:%d", portOf(rpc));
    harnessStart(&H, 1, (const char *const[]){"--bootstrap", "--rpc-addr", open_addr, NULL});
    assert_int_equal(harnessWait(&H, 1, 20000), 2);
    char log[300];
    snprintf(log, sizeof log, "%s/node1.log", H.dir);
    assert_true(harnessFileContains(log, "refusing to listen on 0.0.0.0"));
    harnessStart(&H, 1,
                 (const char *const[]){"--bootstrap", "--rpc-addr", open_addr, "--insecure", NULL});
    assert_int_equal(harnessWaitLeader(&H, 1, 1, 20000), 1);
    assert_true(
        harnessFileContains(log, "--insecure: Raft, RPC and HTTP may listen beyond loopback"));
}

static void test_data_dir_private(void **state)
{
    (void)state;
    char dir[300], path[400];
    harnessDataDir(&H, 1, dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(harnessStartCluster(&H, 1, NULL), 1);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    static const char *const files[] = {"raftcron-node", "cluster-id", "metadata1"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 077) != 0) {
            fail_msg("%s has mode %03o", path, st.st_mode & 0777);
        }
    }
}

/* ---- Executors: run-as, rlimits, refusal as root, namespaces ---------------------------- */

static bool skipUnlessRoot(void)
{
    if (geteuid() == 0) {
        return false;
    }
    if (getenv("RC_TESTS_COMPLETE") != NULL) {
        fail_msg("must run as root (make test runs as root)");
    }
    skip();
    return true;
}

static void test_shell_privileges(void **state)
{
    (void)state;
    if (skipUnlessRoot()) {
        return;
    }
    const char *const extra[] = {
        "--run-as",      "nobody",     "--executors", "ops=shell+noop,*=noop+http",
        "--job-rlimits", "nofile=100", NULL};
    assert_int_equal(harnessStartCluster(&H, 1, extra), 1);
    struct rc_client *c = harnessClientOf(&H, 1, 5 * SEC);
    /* The default namespace may not use shell: refused at Job.Put. */
    assert_int_equal(putShell(c, "default", "denied", "id -u", NULL), RC_EDENIED);
    assert_int_equal(rc_client_status(c), RC_STATUS_PERMISSION_DENIED);
    assert_non_null(strstr(rc_client_errmsg(c), "may not use the shell executor"));
    /* ops may: it runs as nobody, with the lower of its own and the worker's open files. */
    assert_int_equal(putShell(c, "ops", "who", "id -u; id -g; ulimit -n; umask", "nofile=77"), 0);
    assert_int_equal(putShell(c, "ops", "greedy", "ulimit -n", "nofile=5000"), 0);
    Raftcron__Run *r = harnessWaitRun(c, runNow(c, "ops", "who"), ST_SUCCEEDED, 20000);
    assert_string_equal(outputOf(r), "65534\n65534\n77\n0022\n");
    rc_message_free(r);
    r = harnessWaitRun(c, runNow(c, "ops", "greedy"), ST_SUCCEEDED, 20000);
    assert_string_equal(outputOf(r), "100\n");
    rc_message_free(r);
    rc_client_close(c);
}

static void test_shell_refused_as_root(void **state)
{
    (void)state;
    if (skipUnlessRoot()) {
        return;
    }
    const char *const extra[] = {"--allow-root-jobs=false", NULL};
    assert_int_equal(harnessStartCluster(&H, 1, extra), 1);
    struct rc_client *c = harnessClientOf(&H, 1, 5 * SEC);
    assert_int_equal(putShell(c, "default", "rootly", "id -u", NULL), 0);
    /* Failed, and no retry is configured: a dead letter, with the reason. */
    Raftcron__Run *r = harnessWaitRun(c, runNow(c, "default", "rootly"), ST_DEAD, 20000);
    assert_non_null(r->outcome);
    assert_non_null(strstr(r->outcome->error, "refusing to run a shell job as root"));
    rc_message_free(r);
    rc_client_close(c);
}

/* ---- Worker sessions ------------------------------------------------------------------ */

/* A session opened as worker 12 reports run id (assigned to worker 7) finished: nothing
 * changes, since the leader drops reports on runs that are not the session's. */
static void forgeReport(int fd, uint64_t run_id, uint64_t fence)
{
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    w.id = 12;
    w.address = "forger";
    w.capacity = 1;
    w.incarnation = 77;
    Raftcron__SessionOpen open = RAFTCRON__SESSION_OPEN__INIT;
    open.worker = &w;
    uint8_t buf[256];
    size_t n = raftcron__session_open__pack(&open, buf);
    size_t len;
    uint8_t *f = requestFrame("Worker.Session", buf, n, NULL, &len);
    assert_int_equal(sendSome(fd, f, len, 2000), len);
    free(f);
    Raftcron__WorkerReport rep = RAFTCRON__WORKER_REPORT__INIT;
    rep.run_id = run_id;
    rep.fence = fence;
    rep.kind = 3;
    rep.state = ST_FAILED;
    Raftcron__WorkerReport *reps[1] = {&rep};
    Raftcron__ReportBatch batch = RAFTCRON__REPORT_BATCH__INIT;
    batch.worker_id = 12;
    batch.incarnation = 77;
    batch.n_reports = 1;
    batch.reports = reps;
    n = raftcron__report_batch__pack(&batch, buf);
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = "Worker.Report";
    req.auth_token = "";
    req.payload.data = buf;
    req.payload.len = n;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(framePack(RC_FRAME_REQUEST, 3, &req.base, &f, &len, err, sizeof err), 0);
    assert_int_equal(sendSome(fd, f, len, 2000), len);
    free(f);
    assert_int_equal(awaitResponse(fd, NULL, 5000), RC_STATUS_OK);
}

static void test_worker_reports_only_its_runs(void **state)
{
    (void)state;
    const char *const members[] = {"--no-execute", NULL};
    assert_int_equal(harnessStartCluster(&H, 1, members), 1);
    harnessStartAgent(&H, 7, 1, (const char *const[]){"--tags", "zone=a", NULL});
    struct rc_client *c = harnessClientOf(&H, 1, 5 * SEC);
    struct harness_job j = {.name = "slow", .command = "sleep 2; echo done", .zone = "a"};
    harnessPutJob(c, &j);
    uint64_t id = 0;
    int64_t deadline = harnessNowMs() + 20000;
    while (rc_job_run_now(c, "default", "slow", 0, &id) != 0 && harnessNowMs() < deadline) {
        usleep(100000);
    }
    Raftcron__Run *r = harnessWaitRun(c, id, ST_RUNNING, 20000);
    assert_int_equal(r->worker_id, 7);
    uint64_t fence = r->fence;
    rc_message_free(r);
    char rpc[64];
    harnessRpcAddr(&H, 1, rpc, sizeof rpc);
    int fd = rawConnect(portOf(rpc));
    forgeReport(fd, id, fence);
    r = NULL;
    assert_int_equal(rc_run_get(c, id, 0, &r), 0);
    assert_int_equal(r->state, ST_RUNNING); /* the forged "finished" changed nothing */
    rc_message_free(r);
    r = harnessWaitRun(c, id, ST_SUCCEEDED, 20000);
    assert_int_equal(r->worker_id, 7);
    assert_string_equal(outputOf(r), "done\n");
    rc_message_free(r);
    close(fd);
    rc_client_close(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, harnessSetup, harnessTeardown)
    const struct CMUnitTest tests[] = {
        T(test_raft_forged_vote),
        T(test_raft_forged_append),
        T(test_raft_out_of_bounds_message),
        T(test_raft_secret),
        T(test_rpc_memory),
        T(test_rpc_authentication),
        T(test_job_environment),
        T(test_non_loopback_refused),
        T(test_data_dir_private),
        T(test_shell_privileges),
        T(test_shell_refused_as_root),
        T(test_worker_reports_only_its_runs),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
