/*
 * libraftcron and raftcronctl against fake RPC servers on 127.0.0.1: threads that speak the
 * frame protocol (src/core/frame.h) and answer each request as the test scripts them — with a
 * leader hint, a status, silence, a dropped connection, a PING first. The tests check that the
 * client follows hints to unlisted addresses, maps every status, honours its deadline, retries
 * idempotent calls only, answers PINGs, and that raftcronctl prints valid JSON and applies YAML
 * files with the right writes. Every wait is a blocking call with a deadline; nothing sleeps.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/frame.h"
#include "core/jobyaml.h"
#include "harness.h"
#include "raftcron/client.h"
#include "raftcron.pb-c.h"

#define MS        INT64_C(1000)
#define MAX_CONNS 16
#define MAX_SEEN  64

/* ---- The fake server ------------------------------------------------------------------------- */

enum action {
    ACT_REPLY,  /* send the response */
    ACT_DROP,   /* close the connection without answering */
    ACT_SILENT, /* never answer */
    ACT_PING,   /* PING, PUSH and a stray RESPONSE first; the real one once the PONG is back */
    ACT_GOAWAY, /* GOAWAY, then the response */
};

struct reply {
    enum action action;
    uint32_t status;
    const char *message;
    const char *hint;
    uint8_t *payload; /* malloc'd, freed by the server */
    size_t len;
};

struct seen {
    char method[64];
    char token[64];
    int64_t deadline_us;
    int64_t received_us; /* wall clock */
    uint32_t stream;
    uint8_t payload[4096];
    size_t len;
};

struct fake;
typedef void (*fake_handler)(struct fake *f, const struct seen *req, struct reply *r);

struct fake {
    int lfd;
    int port;
    char addr[32];
    int stop[2];
    pthread_t thread;
    fake_handler handler;
    void *data; /* the handler's */
    pthread_mutex_t mu;
    struct seen seen[MAX_SEEN]; /* guarded by mu */
    int n_seen;
    int pongs;
    int accepts;
    uint32_t pending_stream; /* ACT_PING: the response waits for the PONG */
    struct reply pending;
};

struct fconn {
    int fd;
    struct rc_frame_decoder dec;
};

static int64_t wallUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sendFrame(int fd, uint8_t type, uint32_t stream, const ProtobufCMessage *msg,
                      const void *raw, size_t raw_len)
{
    uint8_t *buf;
    size_t len;
    char err[RC_ERRMSG_SIZE];
    if (msg != NULL) {
        assert_int_equal(framePack(type, stream, msg, &buf, &len, err, sizeof err), 0);
    } else {
        len = RC_FRAME_HEADER_SIZE + raw_len;
        buf = malloc(len);
        assert_int_equal(frameEncode(type, stream, raw, raw_len, buf, len), 0);
    }
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
    free(buf);
}

static void sendReply(int fd, uint32_t stream, struct reply *r)
{
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    resp.status = r->status;
    resp.message = (char *)(r->message != NULL ? r->message : "");
    resp.leader_hint = (char *)(r->hint != NULL ? r->hint : "");
    resp.payload.data = r->payload;
    resp.payload.len = r->len;
    sendFrame(fd, RC_FRAME_RESPONSE, stream, &resp.base, NULL, 0);
    free(r->payload);
    r->payload = NULL;
}

struct frame_ctx {
    struct fake *f;
    struct fconn *c;
    bool drop;
};

static void onRequest(struct frame_ctx *x, const struct rc_frame *fr)
{
    struct fake *f = x->f;
    Raftcron__Request *req;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(frameUnpackRequest(fr->payload, fr->len, &req, err, sizeof err), 0);
    struct seen s = {
        .deadline_us = req->deadline_us, .received_us = wallUs(), .stream = fr->stream};
    snprintf(s.method, sizeof s.method, "%s", req->method);
    snprintf(s.token, sizeof s.token, "%s", req->auth_token);
    assert_true(req->payload.len <= sizeof s.payload);
    if (req->payload.len > 0) {
        memcpy(s.payload, req->payload.data, req->payload.len);
    }
    s.len = req->payload.len;
    raftcron__request__free_unpacked(req, NULL);
    pthread_mutex_lock(&f->mu);
    if (f->n_seen < MAX_SEEN) {
        f->seen[f->n_seen++] = s;
    }
    fake_handler handler = f->handler;
    pthread_mutex_unlock(&f->mu);
    struct reply r = {.action = ACT_REPLY};
    handler(f, &s, &r);
    switch (r.action) {
    case ACT_REPLY:
        sendReply(x->c->fd, fr->stream, &r);
        break;
    case ACT_DROP:
        free(r.payload);
        x->drop = true;
        break;
    case ACT_SILENT:
        free(r.payload);
        break;
    case ACT_GOAWAY: {
        Raftcron__GoAway g = RAFTCRON__GO_AWAY__INIT;
        g.reason = "shutting down";
        sendFrame(x->c->fd, RC_FRAME_GOAWAY, 0, &g.base, NULL, 0);
        sendReply(x->c->fd, fr->stream, &r);
        break;
    }
    case ACT_PING:
        f->pending = r;
        f->pending_stream = fr->stream;
        sendFrame(x->c->fd, RC_FRAME_PING, 77, NULL, "abc", 3);
        sendFrame(x->c->fd, RC_FRAME_PUSH, 0, NULL, "", 0);
        sendFrame(x->c->fd, RC_FRAME_RESPONSE, fr->stream + 1000, NULL, "", 0);
        break;
    }
}

static void onFrame(const struct rc_frame *fr, void *arg)
{
    struct frame_ctx *x = arg;
    if (fr->type == RC_FRAME_REQUEST) {
        onRequest(x, fr);
    } else if (fr->type == RC_FRAME_PONG && fr->stream == 77 && fr->len == 3 &&
               memcmp(fr->payload, "abc", 3) == 0 && x->f->pending_stream != 0) {
        pthread_mutex_lock(&x->f->mu);
        x->f->pongs++;
        pthread_mutex_unlock(&x->f->mu);
        sendReply(x->c->fd, x->f->pending_stream, &x->f->pending);
        x->f->pending_stream = 0;
    }
}

static void closeConn(struct fconn *c)
{
    close(c->fd);
    frameDecoderClose(&c->dec);
    c->fd = -1;
}

/* Read what one connection has; false when it is finished. */
static bool serveConn(struct fake *f, struct fconn *c)
{
    uint8_t buf[8192];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n <= 0) {
        return false;
    }
    struct frame_ctx x = {.f = f, .c = c};
    int rv = frameDecoderFeed(&c->dec, buf, (size_t)n, onFrame, &x);
    return rv == 0 && !x.drop;
}

static void *serve(void *arg)
{
    struct fake *f = arg;
    struct fconn conns[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        conns[i].fd = -1;
    }
    for (;;) {
        struct pollfd p[MAX_CONNS + 2] = {{.fd = f->stop[0], .events = POLLIN},
                                          {.fd = f->lfd, .events = POLLIN}};
        for (int i = 0; i < MAX_CONNS; i++) {
            p[i + 2] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        }
        if (poll(p, MAX_CONNS + 2, -1) < 0 || p[0].revents != 0) {
            break;
        }
        if (p[1].revents & POLLIN) {
            int fd = accept(f->lfd, NULL, NULL);
            pthread_mutex_lock(&f->mu);
            f->accepts += fd >= 0;
            pthread_mutex_unlock(&f->mu);
            for (int i = 0; i < MAX_CONNS && fd >= 0; i++) {
                if (conns[i].fd < 0) {
                    conns[i].fd = fd;
                    frameDecoderInit(&conns[i].dec, 0);
                    fd = -1;
                }
            }
            if (fd >= 0) {
                close(fd);
            }
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd >= 0 && p[i + 2].revents != 0 && !serveConn(f, &conns[i])) {
                closeConn(&conns[i]);
            }
        }
    }
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].fd >= 0) {
            closeConn(&conns[i]);
        }
    }
    return NULL;
}

static void fakeStart(struct fake *f, fake_handler h, void *data)
{
    memset(f, 0, sizeof *f);
    f->handler = h;
    f->data = data;
    pthread_mutex_init(&f->mu, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", f->port);
    assert_int_equal(pipe(f->stop), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void fakeStop(struct fake *f)
{
    assert_int_equal(write(f->stop[1], "x", 1), 1);
    pthread_join(f->thread, NULL);
    close(f->stop[0]);
    close(f->stop[1]);
    close(f->lfd);
    free(f->pending.payload);
    pthread_mutex_destroy(&f->mu);
}

static int requests(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->n_seen;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* The i-th request the server saw (a copy). */
static struct seen seenAt(struct fake *f, int i)
{
    pthread_mutex_lock(&f->mu);
    assert_true(i < f->n_seen);
    struct seen s = f->seen[i];
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* A port nobody listens on: bound, then closed. */
static int closedPort(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void packInto(struct reply *r, const ProtobufCMessage *m)
{
    r->len = protobuf_c_message_get_packed_size(m);
    r->payload = malloc(r->len + 1);
    protobuf_c_message_pack(m, r->payload);
}

/* ---- Handlers -------------------------------------------------------------------------------- */

/* A three-member cluster status with node 2 as the leader. */
static void replyStatus(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)f;
    (void)req;
    Raftcron__MemberStatus m[3] = {RAFTCRON__MEMBER_STATUS__INIT, RAFTCRON__MEMBER_STATUS__INIT,
                                   RAFTCRON__MEMBER_STATUS__INIT};
    Raftcron__MemberStatus *mp[3] = {&m[0], &m[1], &m[2]};
    const char *roles[3] = {"voter", "voter", "standby"};
    char raft[3][32], rpc[3][32];
    for (int i = 0; i < 3; i++) {
        snprintf(raft[i], sizeof raft[i], "127.0.0.1:720%d", i + 1);
        snprintf(rpc[i], sizeof rpc[i], "127.0.0.1:710%d", i + 1);
        m[i].id = (uint64_t)i + 1;
        m[i].role = (char *)roles[i];
        m[i].raft_addr = raft[i];
        m[i].rpc_addr = rpc[i];
        m[i].reachable = i != 2;
        m[i].match_index = 40 + (uint64_t)i;
    }
    Raftcron__ClusterStatus st = RAFTCRON__CLUSTER_STATUS__INIT;
    st.node_id = 2;
    st.node_state = "leader";
    st.leader_id = 2;
    st.leader_raft_addr = "127.0.0.1:7202";
    st.leader_rpc_addr = "127.0.0.1:7102";
    st.term = 7;
    st.commit_index = 42;
    st.applied_index = 41;
    st.n_members = 3;
    st.members = mp;
    packInto(r, &st.base);
}

/* Always UNAVAILABLE with the hint in f->data (read under mu: fakeSetData). */
static void replyHint(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)req;
    r->status = RC_STATUS_UNAVAILABLE;
    r->message = "not the leader";
    pthread_mutex_lock(&f->mu);
    r->hint = f->data;
    pthread_mutex_unlock(&f->mu);
}

static void fakeSetData(struct fake *f, void *data)
{
    pthread_mutex_lock(&f->mu);
    f->data = data;
    pthread_mutex_unlock(&f->mu);
}

static void replyNoLeader(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)f;
    (void)req;
    r->status = RC_STATUS_UNAVAILABLE;
    r->message = "no leader known";
}

static void replyDrop(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)f;
    (void)req;
    r->action = ACT_DROP;
}

static void replySilent(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)f;
    (void)req;
    r->action = ACT_SILENT;
}

/* The status in *(uint32_t *)f->data, with a message naming it. */
static void replyStatusCode(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)req;
    r->status = *(uint32_t *)f->data;
    r->message = rc_status_name((int)r->status);
}

static void replyGarbage(struct fake *f, const struct seen *req, struct reply *r)
{
    (void)f;
    (void)req;
    r->payload = malloc(4);
    memcpy(r->payload, "\xff\xff\xff\xff", 4);
    r->len = 4;
}

static void replyStatusAfterPing(struct fake *f, const struct seen *req, struct reply *r)
{
    replyStatus(f, req, r);
    r->action = ACT_PING;
}

static void replyStatusGoAway(struct fake *f, const struct seen *req, struct reply *r)
{
    replyStatus(f, req, r);
    r->action = ACT_GOAWAY;
}

static void fakeSetHandler(struct fake *f, fake_handler h)
{
    pthread_mutex_lock(&f->mu);
    f->handler = h;
    pthread_mutex_unlock(&f->mu);
}

static int accepts(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->accepts;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static struct rc_client *client(const char *endpoints, int64_t timeout_us, const char *token)
{
    struct rc_client_options o = {
        .endpoints = endpoints, .timeout_us = timeout_us, .auth_token = token};
    struct rc_client *c = NULL;
    assert_int_equal(rc_client_open(&o, &c), 0);
    return c;
}

/* ---- Library tests --------------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
    (void)state;
    const char *bad[] = {"",     "host",     "host:", ":80",    "h:0",    "h:65536",
                         "h:8x", "a:1,,b:2", "a:1,",  "::1:80", "[::1]80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rc_client_options o = {.endpoints = bad[i]};
        struct rc_client *c = NULL;
        if (rc_client_open(&o, &c) != RC_EINVAL) {
            fail_msg("endpoints \"%s\" accepted", bad[i]);
        }
        assert_null(c);
    }
    struct rc_client_options neg = {.endpoints = "a:1", .timeout_us = -1};
    struct rc_client *c = NULL;
    assert_int_equal(rc_client_open(&neg, &c), RC_EINVAL);
    assert_int_equal(rc_client_open(NULL, &c), RC_EINVAL);
    c = client(" 127.0.0.1:1 , [::1]:2,localhost:65535 ", 0, NULL);
    assert_int_equal(rc_client_status(c), RC_STATUS_OK);
    assert_string_equal(rc_client_errmsg(c), "");
    rc_client_close(c);
    rc_client_close(NULL);
    rc_message_free(NULL);
}

static void test_follow_hint(void **state)
{
    (void)state;
    struct fake leader, follower;
    fakeStart(&leader, replyStatus, NULL);
    fakeStart(&follower, replyHint, leader.addr);
    /* Only the follower is listed, and the client has no credential: the hint leads to an
     * address the client did not know. */
    struct rc_client *c = client(follower.addr, 2000 * MS, NULL);
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    assert_int_equal(rc_client_status(c), RC_STATUS_OK);
    assert_int_equal(st->leader_id, 2);
    assert_int_equal(st->term, 7);
    assert_int_equal(st->n_members, 3);
    assert_string_equal(st->members[2]->role, "standby");
    rc_message_free(st);
    assert_int_equal(requests(&follower), 1);
    assert_int_equal(requests(&leader), 1);
    rc_client_close(c);

    /* Both listed, with a token: the hint is followed. */
    char both[128];
    snprintf(both, sizeof both, "%s,%s", follower.addr, leader.addr);
    c = client(both, 2000 * MS, "s3cret");
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    rc_message_free(st);
    assert_int_equal(requests(&follower), 2);
    assert_int_equal(requests(&leader), 2);
    /* The envelope: method, token, an absolute deadline about timeout ahead, the payload. */
    struct seen s = seenAt(&leader, 1);
    assert_string_equal(s.method, "Cluster.Status");
    assert_string_equal(s.token, "s3cret");
    int64_t ahead = s.deadline_us - s.received_us;
    assert_true(ahead > 1500 * MS && ahead <= 2000 * MS);
    Raftcron__ClusterStatusRequest *creq =
        raftcron__cluster_status_request__unpack(NULL, s.len, s.payload);
    assert_non_null(creq);
    assert_false(creq->stale);
    raftcron__cluster_status_request__free_unpacked(creq, NULL);
    /* The next call starts at the leader, and uses a new stream id. */
    assert_int_equal(rc_cluster_status(c, 1, &st), 0);
    rc_message_free(st);
    assert_int_equal(requests(&follower), 2);
    assert_int_equal(requests(&leader), 3);
    assert_true(seenAt(&leader, 2).stream > s.stream);
    rc_client_close(c);

    /* A token in clear text never travels to an address a server named (it could be anyone's):
     * the hint is not followed, the call fails as unavailable. */
    c = client(follower.addr, 300 * MS, "s3cret");
    assert_int_equal(rc_cluster_status(c, 0, &st), RC_ENOTLEADER);
    assert_null(st);
    assert_int_equal(requests(&leader), 3);
    assert_true(requests(&follower) > 2);
    rc_client_close(c);
    fakeStop(&follower);
    fakeStop(&leader);
}

static void test_status_mapping(void **state)
{
    (void)state;
    static const struct {
        uint32_t status;
        int code;
    } map[] = {
        {RC_STATUS_NOT_FOUND, RC_ENOTFOUND},
        {RC_STATUS_ALREADY_EXISTS, RC_EEXISTS},
        {RC_STATUS_FAILED_PRECONDITION, RC_ESTALE},
        {RC_STATUS_ABORTED, RC_ESTALE},
        {RC_STATUS_INVALID_ARGUMENT, RC_EINVAL},
        {RC_STATUS_DEADLINE_EXCEEDED, RC_ETIMEOUT},
        {RC_STATUS_INTERNAL, RC_EINTERNAL},
        {RC_STATUS_UNAUTHENTICATED, RC_EDENIED},
        {RC_STATUS_PERMISSION_DENIED, RC_EDENIED},
        {RC_STATUS_RESOURCE_EXHAUSTED, RC_EINTERNAL},
        {99, RC_EINTERNAL},
    };
    uint32_t status;
    struct fake f;
    fakeStart(&f, replyStatusCode, &status);
    struct rc_client *c = client(f.addr, 2000 * MS, NULL);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        status = map[i].status;
        Raftcron__Job *job = NULL;
        assert_int_equal(rc_job_get(c, "ns", "x", 0, &job), map[i].code);
        assert_null(job);
        assert_int_equal(rc_client_status(c), (int)map[i].status);
        assert_string_equal(rc_client_errmsg(c), rc_status_name((int)map[i].status));
    }
    /* Every answer was final: one request each, no retry. */
    assert_int_equal(requests(&f), (int)(sizeof map / sizeof map[0]));
    rc_client_close(c);
    fakeStop(&f);
}

static void test_reads_retry_on_next_endpoint(void **state)
{
    (void)state;
    struct fake dropper, silent_leader, good;
    fakeStart(&dropper, replyDrop, NULL);
    fakeStart(&good, replyStatus, NULL);
    char eps[128];
    snprintf(eps, sizeof eps, "%s,%s", dropper.addr, good.addr);
    struct rc_client *c = client(eps, 2000 * MS, NULL);
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    rc_message_free(st);
    assert_int_equal(requests(&dropper), 1);
    assert_int_equal(requests(&good), 1);
    rc_client_close(c);

    /* UNAVAILABLE without a hint: a read tries the next endpoint. */
    fakeStart(&silent_leader, replyNoLeader, NULL);
    snprintf(eps, sizeof eps, "%s,%s", silent_leader.addr, good.addr);
    c = client(eps, 2000 * MS, NULL);
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    rc_message_free(st);
    assert_int_equal(requests(&silent_leader), 1);
    assert_int_equal(requests(&good), 2);
    rc_client_close(c);
    fakeStop(&silent_leader);
    fakeStop(&good);
    fakeStop(&dropper);
}

static void test_writes_not_repeated(void **state)
{
    (void)state;
    struct fake dropper, noleader, good;
    fakeStart(&dropper, replyDrop, NULL);
    fakeStart(&noleader, replyNoLeader, NULL);
    fakeStart(&good, replyStatus, NULL);
    char eps[128];
    /* A broken connection after the request went out: the write is not sent again. */
    snprintf(eps, sizeof eps, "%s,%s", dropper.addr, good.addr);
    struct rc_client *c = client(eps, 2000 * MS, NULL);
    assert_int_equal(rc_member_remove(c, 3, 0), RC_EIO);
    assert_int_equal(rc_client_status(c), RC_STATUS_UNAVAILABLE);
    assert_non_null(strstr(rc_client_errmsg(c), "outcome is unknown"));
    assert_int_equal(requests(&dropper), 1);
    assert_int_equal(requests(&good), 0);
    /* Nor is a plain upsert (no compare-and-set, not create-only). */
    struct rc_jobdef def;
    char err[RC_ERRMSG_SIZE];
    struct rc_jobfile file;
    const char *yaml = "jobs: [{name: a, every: 1m, shell: x}]\n";
    assert_int_equal(jobyamlLoad("t.yaml", yaml, strlen(yaml), &file, err, sizeof err), 0);
    def = file.jobs[0];
    assert_int_equal(rc_job_put(c, def.spec, 0, 0, NULL), RC_EIO);
    assert_int_equal(requests(&dropper), 2);
    assert_int_equal(requests(&good), 0);
    /* With compare-and-set it is repeated on the next endpoint (which answers). */
    assert_int_equal(rc_job_put(c, def.spec, 4, 0, NULL), RC_EPARSE); /* good's odd payload */
    assert_int_equal(requests(&dropper), 3);
    assert_int_equal(requests(&good), 1);
    rc_client_close(c);

    /* UNAVAILABLE without a hint may mean "outcome unknown": the write reports it, no retry. */
    snprintf(eps, sizeof eps, "%s,%s", noleader.addr, good.addr);
    c = client(eps, 2000 * MS, NULL);
    assert_int_equal(rc_member_add(c, 4, "127.0.0.1:7204", "127.0.0.1:7104", 1), RC_ENOTLEADER);
    assert_int_equal(rc_client_status(c), RC_STATUS_UNAVAILABLE);
    assert_string_equal(rc_client_errmsg(c), "no leader known");
    assert_int_equal(requests(&noleader), 1);
    assert_int_equal(requests(&good), 1);
    /* A connect failure sends nothing: even a write moves on. */
    char eps2[128];
    snprintf(eps2, sizeof eps2, "127.0.0.1:%d,%s", closedPort(), good.addr);
    rc_client_close(c);
    c = client(eps2, 2000 * MS, NULL);
    assert_int_equal(rc_member_transfer(c, 0), 0);
    assert_int_equal(requests(&good), 2);
    struct seen s = seenAt(&good, 1);
    assert_string_equal(s.method, "Member.Transfer");
    rc_client_close(c);
    jobyamlFileClear(&file);
    fakeStop(&good);
    fakeStop(&noleader);
    fakeStop(&dropper);
}

/* A call gives up at its deadline: never before it, and well before the 10 s default that a
 * client ignoring its own deadline would wait. The margin is for a loaded machine's scheduling,
 * not for the client: what the deadline was is read from the request itself (the envelope's
 * absolute deadline, as in test_follow_hint) and one request only is sent. */
#define DEADLINE_SLACK_MS 4000

static void test_deadline(void **state)
{
    (void)state;
    struct fake f;
    fakeStart(&f, replySilent, NULL);
    struct rc_client *c = client(f.addr, 300 * MS, NULL);
    int64_t t0 = harnessNowMs();
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), RC_ETIMEOUT);
    int64_t took = harnessNowMs() - t0;
    assert_true(took >= 300 && took < 300 + DEADLINE_SLACK_MS);
    int64_t ahead = seenAt(&f, 0).deadline_us - seenAt(&f, 0).received_us;
    assert_true(ahead <= 300 * MS); /* the deadline it carried was its own */
    assert_int_equal(rc_client_status(c), RC_STATUS_DEADLINE_EXCEEDED);
    assert_null(strstr(rc_client_errmsg(c), "outcome is unknown"));
    assert_int_equal(requests(&f), 1);
    /* A write that timed out says its outcome is unknown. */
    assert_int_equal(rc_member_promote(c, 3), RC_ETIMEOUT);
    assert_non_null(strstr(rc_client_errmsg(c), "outcome is unknown"));
    assert_int_equal(requests(&f), 2);
    rc_client_close(c);
    fakeStop(&f);
}

static void test_closed_port_and_backoff(void **state)
{
    (void)state;
    char eps[64];
    snprintf(eps, sizeof eps, "127.0.0.1:%d", closedPort());
    struct rc_client *c = client(eps, 400 * MS, NULL);
    int64_t t0 = harnessNowMs();
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), RC_EIO);
    int64_t took = harnessNowMs() - t0;
    assert_true(took >= 400 && took < 400 + DEADLINE_SLACK_MS);
    assert_int_equal(rc_client_status(c), RC_STATUS_UNAVAILABLE);
    assert_non_null(strstr(rc_client_errmsg(c), "unavailable"));
    assert_non_null(strstr(rc_client_errmsg(c), "Connection refused"));
    rc_client_close(c);

    /* A node without a leader: reads are retried with a growing pause (50, 100, 200 ms …),
     * not in a tight loop: about 4 attempts fit in 600 ms. */
    struct fake f;
    fakeStart(&f, replyNoLeader, NULL);
    c = client(f.addr, 600 * MS, NULL);
    assert_int_equal(rc_cluster_status(c, 0, &st), RC_ENOTLEADER);
    assert_int_equal(rc_client_status(c), RC_STATUS_UNAVAILABLE);
    assert_non_null(strstr(rc_client_errmsg(c), "no leader answered"));
    int n = requests(&f);
    assert_true(n >= 3 && n <= 6);
    rc_client_close(c);
    fakeStop(&f);

    /* Two nodes pointing at each other (an election in progress): bounded, then a timeout. */
    struct fake a, b;
    fakeStart(&a, replyHint, NULL);
    fakeStart(&b, replyHint, a.addr);
    fakeSetData(&a, b.addr);
    c = client(a.addr, 300 * MS, NULL);
    assert_int_equal(rc_cluster_status(c, 0, &st), RC_ENOTLEADER);
    assert_non_null(strstr(rc_client_errmsg(c), "leader hints"));
    n = requests(&a) + requests(&b);
    assert_true(n >= 5 && n <= 40);
    rc_client_close(c);
    fakeStop(&a);
    fakeStop(&b);
}

static void test_ping_push_ignored(void **state)
{
    (void)state;
    struct fake f;
    fakeStart(&f, replyStatusAfterPing, NULL);
    struct rc_client *c = client(f.addr, 2000 * MS, NULL);
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    assert_int_equal(st->commit_index, 42);
    rc_message_free(st);
    pthread_mutex_lock(&f.mu);
    assert_int_equal(f.pongs, 1);
    pthread_mutex_unlock(&f.mu);
    rc_client_close(c);
    fakeStop(&f);
}

/* Calls share one connection, until the server says GOAWAY: the reply in flight is still
 * read, the next call opens a new connection. */
static void test_connection_reuse_and_goaway(void **state)
{
    (void)state;
    struct fake f;
    fakeStart(&f, replyStatus, NULL);
    struct rc_client *c = client(f.addr, 2000 * MS, NULL);
    Raftcron__ClusterStatus *st = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rc_cluster_status(c, 0, &st), 0);
        rc_message_free(st);
    }
    assert_int_equal(accepts(&f), 1);
    fakeSetHandler(&f, replyStatusGoAway);
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    assert_int_equal(st->term, 7);
    rc_message_free(st);
    assert_int_equal(accepts(&f), 1);
    fakeSetHandler(&f, replyStatus);
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    rc_message_free(st);
    assert_int_equal(accepts(&f), 2);
    rc_client_close(c);
    fakeStop(&f);
}

static void test_malformed_reply(void **state)
{
    (void)state;
    struct fake f;
    fakeStart(&f, replyGarbage, NULL);
    struct rc_client *c = client(f.addr, 2000 * MS, NULL);
    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_get(c, NULL, "x", 0, &job), RC_EPARSE);
    assert_null(job);
    assert_non_null(strstr(rc_client_errmsg(c), "malformed JobResponse"));
    /* The raw call hands the bytes over as they came. */
    void *resp;
    size_t len;
    assert_int_equal(rc_client_call(c, "Job.Get", "", 0, &resp, &len, 1), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(resp, "\xff\xff\xff\xff", 4);
    free(resp);
    assert_int_equal(rc_client_call(c, "", "", 0, &resp, &len, 1), RC_EINVAL);
    assert_int_equal(rc_client_call(c, "Job.Get", NULL, 3, &resp, &len, 1), RC_EINVAL);
    rc_client_close(c);
    fakeStop(&f);
}

/* ---- A job store, for the typed calls and raftcronctl ---------------------------------------- */

struct store {
    Raftcron__Job *jobs[8]; /* owned */
    size_t n;
};

static void storeAdd(struct store *s, const char *yaml, uint64_t version, bool paused)
{
    struct rc_jobfile f;
    char err[RC_ERRMSG_SIZE];
    int rv = jobyamlLoad("store.yaml", yaml, strlen(yaml), &f, err, sizeof err);
    if (rv != 0) {
        fail_msg("%s", err);
    }
    for (size_t i = 0; i < f.n_jobs; i++) {
        Raftcron__Job *job = malloc(sizeof *job);
        raftcron__job__init(job);
        job->spec = f.jobs[i].spec;
        f.jobs[i].spec = NULL;
        job->id = s->n + 1;
        job->version = version;
        job->paused = paused;
        job->created_us = INT64_C(1735689600000000);
        job->updated_us = INT64_C(1735689660000000);
        s->jobs[s->n++] = job;
    }
    jobyamlFileClear(&f);
}

static void storeClear(struct store *s)
{
    for (size_t i = 0; i < s->n; i++) {
        raftcron__job__free_unpacked(s->jobs[i], NULL);
    }
    s->n = 0;
}

/* Job.List answers the store; Job.Get its first job; Job.Put echoes the spec (version 9,
 * created unless expected_version is set); everything else OK with an empty payload. */
static void replyStore(struct fake *f, const struct seen *req, struct reply *r)
{
    struct store *s = f->data;
    if (strcmp(req->method, "Job.List") == 0) {
        Raftcron__JobListResponse l = RAFTCRON__JOB_LIST_RESPONSE__INIT;
        l.jobs = s->jobs;
        l.n_jobs = s->n;
        packInto(r, &l.base);
    } else if (strcmp(req->method, "Job.Get") == 0 || strcmp(req->method, "Job.Pause") == 0) {
        Raftcron__JobResponse g = RAFTCRON__JOB_RESPONSE__INIT;
        g.job = s->jobs[0];
        packInto(r, &g.base);
    } else if (strcmp(req->method, "Job.Put") == 0) {
        Raftcron__JobPutRequest *p =
            raftcron__job_put_request__unpack(NULL, req->len, req->payload);
        assert_non_null(p);
        Raftcron__Job job = RAFTCRON__JOB__INIT;
        job.spec = p->spec;
        job.version = 9;
        Raftcron__JobPutResponse pr = RAFTCRON__JOB_PUT_RESPONSE__INIT;
        pr.job = &job;
        pr.created = p->expected_version == 0;
        pr.changed = true;
        packInto(r, &pr.base);
        raftcron__job_put_request__free_unpacked(p, NULL);
    }
}

static void test_typed_job_calls(void **state)
{
    (void)state;
    struct store s = {0};
    storeAdd(&s, "jobs: [{name: a, namespace: ops, every: 1m, shell: 'echo a'}]", 3, false);
    struct fake f;
    fakeStart(&f, replyStore, &s);
    struct rc_client *c = client(f.addr, 2000 * MS, NULL);

    Raftcron__Job *job = NULL;
    assert_int_equal(rc_job_get(c, "ops", "a", 1, &job), 0);
    assert_string_equal(job->spec->name, "a");
    assert_int_equal(job->version, 3);
    rc_message_free(job);
    struct seen q = seenAt(&f, 0);
    Raftcron__JobRequest *jr = raftcron__job_request__unpack(NULL, q.len, q.payload);
    assert_string_equal(jr->namespace_, "ops");
    assert_string_equal(jr->name, "a");
    assert_true(jr->stale);
    raftcron__job_request__free_unpacked(jr, NULL);

    Raftcron__JobListResponse *l = NULL;
    assert_int_equal(rc_job_list(c, NULL, 0, &l), 0);
    assert_int_equal(l->n_jobs, 1);
    rc_message_free(l);

    assert_int_equal(rc_job_put(c, s.jobs[0]->spec, 0, 1, &job), 0);
    assert_int_equal(job->version, 9);
    rc_message_free(job);
    q = seenAt(&f, 2);
    Raftcron__JobPutRequest *pr = raftcron__job_put_request__unpack(NULL, q.len, q.payload);
    assert_true(pr->create_only);
    assert_int_equal(pr->expected_version, 0);
    assert_string_equal(pr->spec->name, "a");
    raftcron__job_put_request__free_unpacked(pr, NULL);

    assert_int_equal(rc_job_delete(c, "ops", "a", 3), 0);
    q = seenAt(&f, 3);
    assert_string_equal(q.method, "Job.Delete");
    jr = raftcron__job_request__unpack(NULL, q.len, q.payload);
    assert_int_equal(jr->expected_version, 3);
    raftcron__job_request__free_unpacked(jr, NULL);

    assert_int_equal(rc_job_pause(c, "ops", "a", NULL), 0);
    /* Job.Resume answers an empty payload: a job reply without a job is an error. */
    assert_int_equal(rc_job_resume(c, "ops", "a", &job), RC_EPARSE);
    assert_null(job);
    assert_string_equal(seenAt(&f, 5).method, "Job.Resume");

    assert_int_equal(rc_member_demote(c, 2, 0), 0);
    q = seenAt(&f, 6);
    assert_string_equal(q.method, "Member.Demote");
    Raftcron__MemberRequest *mr = raftcron__member_request__unpack(NULL, q.len, q.payload);
    assert_int_equal(mr->id, 2);
    raftcron__member_request__free_unpacked(mr, NULL);
    assert_int_equal(rc_member_add(c, 0, "a:1", "b:2", 0), RC_EINVAL);
    assert_int_equal(requests(&f), 7);

    rc_client_close(c);
    fakeStop(&f);
    storeClear(&s);
}

/* ---- raftcronctl ----------------------------------------------------------------------------- */

static char tmpdir[64];

static int groupSetup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rc-test-client-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int groupTeardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *bin(void)
{
    const char *b = getenv("RC_BIN");
    return b != NULL ? b : "build/bin";
}

/* Run raftcronctl with args against endpoint; stdout and stderr go to files of tmpdir, read
 * back into out/err. Returns the exit status. */
static int ctl(const char *endpoint, const char *args, char *out, size_t outlen, char *err,
               size_t errlen)
{
    int rc =
        harnessRun(NULL, 0, "{ %s/raftcronctl --endpoints %s --timeout 2s %s >%s/out 2>%s/err; }",
                   bin(), endpoint, args, tmpdir, tmpdir);
    char path[128];
    snprintf(path, sizeof path, "%s/out", tmpdir);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(out, 1, outlen - 1, f) : 0;
    out[n] = '\0';
    if (f != NULL) {
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/err", tmpdir);
    f = fopen(path, "r");
    n = f != NULL ? fread(err, 1, errlen - 1, f) : 0;
    err[n] = '\0';
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

/* Check the last stdout with a Python expression over d = json.load(...): the output must be
 * one valid JSON document for which expr holds. */
static void checkJson(const char *expr)
{
    char path[128], out[1024];
    snprintf(path, sizeof path, "%s/check.py", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "import json, sys\nd = json.load(open(sys.argv[1]))\nsys.exit(0 if (%s) else 3)\n",
            expr);
    fclose(f);
    int rc = harnessRun(out, sizeof out, "python3 %s %s/out", path, tmpdir);
    if (rc != 0) {
        fail_msg("JSON check \"%s\" failed (%d): %s", expr, rc, out);
    }
}

static void test_ctl_cluster_json(void **state)
{
    (void)state;
    struct fake f;
    fakeStart(&f, replyStatus, NULL);
    char out[8192], err[1024];
    assert_int_equal(ctl(f.addr, "-o json cluster status", out, sizeof out, err, sizeof err), 0);
    checkJson("d['leader']['id'] == 2 and d['term'] == 7 and d['commit_index'] == 42 and "
              "[m['role'] for m in d['members']] == ['voter', 'voter', 'standby'] and "
              "d['members'][0]['raft_addr'] == '127.0.0.1:7201' and "
              "d['members'][1]['rpc_addr'] == '127.0.0.1:7102' and "
              "d['members'][2]['reachable'] is False and d['members'][2]['id'] == 3");
    assert_int_equal(ctl(f.addr, "-o json member list --stale", out, sizeof out, err, sizeof err),
                     0);
    checkJson("d['leader_id'] == 2 and len(d['members']) == 3");
    Raftcron__ClusterStatusRequest *r =
        raftcron__cluster_status_request__unpack(NULL, seenAt(&f, 1).len, seenAt(&f, 1).payload);
    assert_true(r->stale);
    raftcron__cluster_status_request__free_unpacked(r, NULL);
    /* The table: the leader line, then one row per member with a header. */
    assert_int_equal(ctl(f.addr, "cluster status", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "leader         2 127.0.0.1:7102\n"));
    assert_non_null(strstr(out, "ID  ROLE     LEADER  RAFT_ADDR"));
    assert_non_null(strstr(out, "3   standby  no      127.0.0.1:7203"));
    fakeStop(&f);
}

static void test_ctl_failures(void **state)
{
    (void)state;
    uint32_t status = RC_STATUS_NOT_FOUND;
    struct fake f;
    fakeStart(&f, replyStatusCode, &status);
    char out[4096], err[1024];
    assert_int_equal(ctl(f.addr, "job get nope", out, sizeof out, err, sizeof err), 1);
    assert_string_equal(out, "");
    assert_string_equal(err, "raftcronctl: job get nope: NOT_FOUND (NOT_FOUND)\n");
    status = RC_STATUS_ALREADY_EXISTS;
    assert_int_equal(
        ctl(f.addr, "job add x --every 1m --shell true", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "ALREADY_EXISTS"));
    /* Usage errors are found before anything is sent. */
    int before = requests(&f);
    assert_int_equal(
        ctl(f.addr, "job add x --cron '61 * * * *' --shell true", out, sizeof out, err, sizeof err),
        2);
    assert_non_null(strstr(err, "--cron: field 1 (minute)"));
    assert_int_equal(requests(&f), before);
    fakeStop(&f);
}

static void test_ctl_job_get_add(void **state)
{
    (void)state;
    struct store s = {0};
    storeAdd(&s,
             "jobs: [{name: a, namespace: ops, cron: '0 3 * * *', tz: Europe/Berlin, "
             "http: 'https://h/x', header: {X-A: \"1\"}, body: \"caf\\xe9\", expect: [200],"
             " retries: 2, retry_multiplier: 1.5, description: \"say \\\"hi\\\"\\n\"}]",
             3, true);
    struct fake f;
    fakeStart(&f, replyStore, &s);
    char out[8192], err[1024];
    assert_int_equal(ctl(f.addr, "-o json job get ops/a", out, sizeof out, err, sizeof err), 0);
    checkJson("d['name'] == 'a' and d['namespace'] == 'ops' and d['version'] == 3 and "
              "d['paused'] is True and d['cron'] == '0 3 * * *' and d['tz'] == 'Europe/Berlin' and "
              "d['created'] == '2025-01-01T00:00:00Z' and d['header'] == {'X-A': '1'} and "
              "d['expect'] == [200] and d['retries'] == 2 and d['retry_multiplier'] == 1.5 and "
              "d['misfire_grace'] == '1m' and d['overlap'] == 'allow' and "
              "d['description'] == 'say \"hi\"\\n' and d['body'] == 'caf\\u00e9' and "
              "d['last_finished'] is None");
    /* The text form escapes line breaks; a value that is not UTF-8 still gives valid JSON. */
    assert_int_equal(ctl(f.addr, "job get ops/a", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "\ndescription      say \"hi\"\\n\n"));
    assert_non_null(strstr(out, "\nheader           X-A: 1\n"));
    assert_non_null(strstr(out, "\nnamespace        ops\n"));
    free(s.jobs[0]->spec->description);
    s.jobs[0]->spec->description = strdup("bad \xff\xc3( end");
    assert_int_equal(ctl(f.addr, "-o json job list", out, sizeof out, err, sizeof err), 0);
    checkJson("[j['name'] for j in d['jobs']] == ['a'] and "
              "d['jobs'][0]['description'] == 'bad \\ufffd\\ufffd( end'");
    assert_int_equal(ctl(f.addr, "job list", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "NAMESPACE  NAME  VERSION  STATE   EXECUTOR  RUNS  FAILED  "
                                "SCHEDULE\nops        a     3        paused  http      0     0"
                                "       cron 0 3 * * * Europe/Berlin\n"));
    int before = requests(&f);
    assert_int_equal(ctl(f.addr, "job add b --namespace ops --every 90s --shell 'echo b' --paused",
                         out, sizeof out, err, sizeof err),
                     0);
    assert_string_equal(out, "created ops/b version 9\n");
    struct seen q = seenAt(&f, before);
    Raftcron__JobPutRequest *pr = raftcron__job_put_request__unpack(NULL, q.len, q.payload);
    assert_true(pr->create_only);
    assert_true(pr->paused);
    assert_int_equal(pr->spec->trigger->interval_us, 90 * INT64_C(1000000));
    raftcron__job_put_request__free_unpacked(pr, NULL);
    /* update reads the version, then compare-and-sets on it. */
    assert_int_equal(
        ctl(f.addr, "job update ops/a --every 1m --shell true", out, sizeof out, err, sizeof err),
        0);
    assert_string_equal(out, "updated ops/a version 9\n");
    assert_string_equal(seenAt(&f, before + 1).method, "Job.Get");
    q = seenAt(&f, before + 2);
    pr = raftcron__job_put_request__unpack(NULL, q.len, q.payload);
    assert_false(pr->create_only);
    assert_int_equal(pr->expected_version, 3);
    raftcron__job_put_request__free_unpacked(pr, NULL);
    fakeStop(&f);
    storeClear(&s);
}

static void writeFile(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The methods (and for puts/deletes the job names) of requests from..n-1, space-separated. */
static void methodsSince(struct fake *f, int from, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = from; i < requests(f); i++) {
        struct seen q = seenAt(f, i);
        char extra[64] = "";
        if (strcmp(q.method, "Job.Put") == 0) {
            Raftcron__JobPutRequest *p = raftcron__job_put_request__unpack(NULL, q.len, q.payload);
            snprintf(extra, sizeof extra, "(%s,v%" PRIu64 "%s%s)", p->spec->name,
                     p->expected_version, p->create_only ? ",create" : "",
                     p->paused ? ",paused" : "");
            raftcron__job_put_request__free_unpacked(p, NULL);
        } else if (strcmp(q.method, "Job.Delete") == 0) {
            Raftcron__JobRequest *r = raftcron__job_request__unpack(NULL, q.len, q.payload);
            snprintf(extra, sizeof extra, "(%s/%s,v%" PRIu64 ")", r->namespace_, r->name,
                     r->expected_version);
            raftcron__job_request__free_unpacked(r, NULL);
        }
        k += (size_t)snprintf(buf + k, len - k, "%s%s%s", k > 0 ? " " : "", q.method, extra);
    }
}

static void test_ctl_apply(void **state)
{
    (void)state;
    struct store s = {0};
    storeAdd(&s, "jobs: [{name: a, every: 1m, shell: 'echo a'}, {name: c, every: 5m, shell: c}]", 3,
             false);
    storeAdd(&s, "jobs: [{name: x, namespace: other, every: 5m, shell: x}]", 1, false);
    struct fake f;
    fakeStart(&f, replyStore, &s);
    writeFile("jobs.yaml", "jobs:\n"
                           "  - {name: a, every: 1m, shell: 'echo a'}\n"
                           "  - {name: b, cron: '0 3 * * *', shell: 'echo b', paused: true}\n");
    char out[4096], err[1024], args[256], calls[1024];
    snprintf(args, sizeof args, "job apply -f %s/jobs.yaml --prune --dry-run", tmpdir);
    assert_int_equal(ctl(f.addr, args, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "unchanged default/a (dry run)\ncreated default/b (dry run)\n"
                             "deleted default/c (dry run)\n");
    methodsSince(&f, 0, calls, sizeof calls);
    assert_string_equal(calls, "Job.List");

    snprintf(args, sizeof args, "job apply -f %s/jobs.yaml --prune", tmpdir);
    assert_int_equal(ctl(f.addr, args, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "unchanged default/a\ncreated default/b\ndeleted default/c\n");
    methodsSince(&f, 1, calls, sizeof calls);
    assert_string_equal(calls, "Job.List Job.Put(b,v0,create,paused) Job.Delete(default/c,v3)");

    /* Without --prune nothing is deleted; a changed job is updated on its version. */
    writeFile("jobs.yaml", "jobs:\n  - {name: a, every: 2m, shell: 'echo a'}\n");
    snprintf(args, sizeof args, "-o json job apply -f %s/jobs.yaml", tmpdir);
    int from = requests(&f);
    assert_int_equal(ctl(f.addr, args, out, sizeof out, err, sizeof err), 0);
    checkJson("d == {'dry_run': False, 'jobs': [{'namespace': 'default', 'name': 'a', "
              "'result': 'updated'}]}");
    methodsSince(&f, from, calls, sizeof calls);
    assert_string_equal(calls, "Job.List Job.Put(a,v3)");

    /* A bad file is a usage error naming file:line, and nothing is sent. */
    writeFile("bad.yaml", "jobs:\n  - name: a\n    every: 1m\n    shell: x\n    colour: red\n");
    snprintf(args, sizeof args, "job apply -f %s/bad.yaml", tmpdir);
    from = requests(&f);
    assert_int_equal(ctl(f.addr, args, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "bad.yaml:5: unknown key \"colour\""));
    assert_int_equal(requests(&f), from);
    fakeStop(&f);
    storeClear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_follow_hint),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_reads_retry_on_next_endpoint),
        cmocka_unit_test(test_writes_not_repeated),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_closed_port_and_backoff),
        cmocka_unit_test(test_ping_push_ignored),
        cmocka_unit_test(test_connection_reuse_and_goaway),
        cmocka_unit_test(test_malformed_reply),
        cmocka_unit_test(test_typed_job_calls),
        cmocka_unit_test(test_ctl_cluster_json),
        cmocka_unit_test(test_ctl_failures),
        cmocka_unit_test(test_ctl_job_get_add),
        cmocka_unit_test(test_ctl_apply),
    };
    return cmocka_run_group_tests(tests, groupSetup, groupTeardown);
}
