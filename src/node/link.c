#include "link.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "client/client_conn.h"
#include "core/err.h"
#include "core/pbuf.h"
#include "log.h"
#include "raftcron/client.h"

#define SESSION_STREAM 1u
#define SESSION_PUSH   "Session.Push"

/* A Worker.Report call on the TCP connection, waiting for its answer. */
struct link_call {
    struct link_call *next;
    uint32_t stream;
    uint64_t tag;
};

/* A local answer to deliver from the loop. */
struct link_done {
    struct link_done *next;
    uint64_t tag;
    int status;
};

/* The local dispatcher's callback data for one report call. */
struct local_report {
    struct link *l;
    uint64_t tag;
    uint64_t sessions; /* the session it was sent on */
};

static void setState(struct link *l, enum link_state to);

/* One connection attempt: the stream (plain or TLS) and its connect request live and die
 * together. */
struct link_tcp {
    struct sstream s;
    uv_connect_t connect;
    struct link *l;
};

static void maybeClosed(struct link *l)
{
    if (l->state == LINK_CLOSING && l->timers_open == 0 && l->tcp_closing == 0) {
        setState(l, LINK_CLOSED);
        if (l->close_cb != NULL) {
            l->close_cb(l);
        }
    }
}

static void setState(struct link *l, enum link_state to)
{
    /* Every move but those into CLOSING/CLOSED goes through IDLE, BACKOFF or a connection
     * state; the table is small enough to read as code. */
    assert(l->state != LINK_CLOSED);
    assert(to != LINK_CLOSED || l->state == LINK_CLOSING);
    l->state = to;
}

static void reopen(struct link *l);
static void retryLater(struct link *l, unsigned ms);

/* ---- Deferred local answers ----------------------------------------------------------------- */

static void deliverDone(uv_timer_t *t)
{
    struct link *l = t->data;
    struct link_done *d = l->done;
    l->done = NULL;
    /* Oldest first. */
    struct link_done *rev = NULL;
    while (d != NULL) {
        struct link_done *next = d->next;
        d->next = rev;
        rev = d;
        d = next;
    }
    while (rev != NULL) {
        struct link_done *next = rev->next;
        if (l->state != LINK_CLOSING && l->state != LINK_CLOSED) {
            workerReported(l->o.worker, rev->tag, rev->status);
        }
        free(rev);
        rev = next;
    }
}

static void queueDone(struct link *l, uint64_t tag, int status)
{
    if (tag == 0) {
        return;
    }
    struct link_done *d = malloc(sizeof *d);
    if (d == NULL) {
        return; /* the report is sent again on the next session */
    }
    d->tag = tag;
    d->status = status;
    d->next = l->done;
    l->done = d;
    if (!uv_is_active((uv_handle_t *)&l->deliver)) {
        uv_timer_start(&l->deliver, deliverDone, 0, 0);
    }
}

/* ---- The local session (this node leads) ----------------------------------------------------- */

static void localPush(struct dispatch_peer *p, const Raftcron__SessionPush *msg)
{
    struct link *l = (struct link *)((char *)p - offsetof(struct link, peer));
    if (l->state == LINK_LOCAL) {
        workerOnPush(l->o.worker, msg);
    }
}

static void localEnd(struct dispatch_peer *p, int status, const char *msg)
{
    struct link *l = (struct link *)((char *)p - offsetof(struct link, peer));
    (void)status;
    LOG_DEBUG("worker: local session ended", "reason", "%s", msg);
    if (l->state != LINK_LOCAL) {
        return;
    }
    workerOnSessionEnd(l->o.worker);
    setState(l, LINK_IDLE);
    retryLater(l, 0);
}

static const struct dispatch_peer_ops localOps = {.push = localPush, .end = localEnd};

static void localReported(void *data, int status)
{
    struct local_report *r = data;
    struct link *l = r->l;
    if (r->sessions == l->sessions) {
        queueDone(l, r->tag, status);
    }
    free(r);
}

static void openLocal(struct link *l)
{
    struct worker_hello h;
    if (workerHelloBuild(l->o.worker, &h) != 0) {
        retryLater(l, l->backoff_ms);
        return;
    }
    l->peer.ops = &localOps;
    l->peer.session = NULL;
    setState(l, LINK_LOCAL);
    l->sessions++;
    int status = dispatchOpen(l->o.dispatch, &l->peer, &h.open);
    workerHelloFree(&h);
    if (status != 0) {
        setState(l, LINK_IDLE);
        LOG_DEBUG("worker: local session refused", "error", "%s", l->o.dispatch->errmsg);
        retryLater(l, l->backoff_ms);
        return;
    }
    l->backoff_ms = LINK_BACKOFF_MIN_MS;
}

static void closeLocal(struct link *l)
{
    if (l->state != LINK_LOCAL) {
        return;
    }
    dispatchPeerGone(l->o.dispatch, &l->peer);
    workerOnSessionEnd(l->o.worker);
    setState(l, LINK_IDLE);
}

/* ---- TCP
 * ------------------------------------------------------------------------------------------ */

static void tcpClosed(struct sstream *s)
{
    struct link_tcp *t = s->data;
    struct link *l = t->l;
    free(t);
    l->tcp_closing--;
    maybeClosed(l);
}

static void forgetCalls(struct link *l)
{
    while (l->calls != NULL) {
        struct link_call *c = l->calls;
        l->calls = c->next;
        free(c);
    }
}

/* The connection is over (error, EOF, the session ended): everything unanswered goes again on
 * the next session. */
static void dropTcp(struct link *l)
{
    if (l->tcp != NULL) {
        l->tcp_closing++;
        sstreamClose(&l->tcp->s, tcpClosed);
        l->tcp = NULL;
    }
    /* The decoder may be inside a frame callback: it is started again by the next connection
     * (frameDecoderInit after frameDecoderClose). */
    forgetCalls(l);
    workerOnSessionEnd(l->o.worker);
}

static void broken(struct link *l, const char *why)
{
    if (l->state == LINK_CLOSING || l->state == LINK_CLOSED) {
        return;
    }
    LOG_DEBUG("worker: session lost", "leader", "%s", l->peer_addr, "reason", "%s", why);
    dropTcp(l);
    setState(l, LINK_BACKOFF);
    retryLater(l, l->backoff_ms);
    l->backoff_ms =
        l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* The stream takes buf; a write that fails later ends the session (streamError). */
static int sendFrame(struct link *l, uint8_t *buf, size_t len)
{
    return sstreamWrite(&l->tcp->s, buf, len) != 0 ? RC_EIO : 0;
}

static int sendRequest(struct link *l, uint32_t stream, const char *method,
                       const ProtobufCMessage *payload)
{
    size_t plen = protobuf_c_message_get_packed_size(payload);
    uint8_t *pbuf = malloc(plen > 0 ? plen : 1);
    if (pbuf == NULL) {
        return RC_ENOMEM;
    }
    protobuf_c_message_pack(payload, pbuf);
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = (char *)method;
    req.auth_token = (char *)(l->o.auth_token != NULL ? l->o.auth_token : "");
    req.payload.data = pbuf;
    req.payload.len = plen;
    uint8_t *frame;
    size_t flen;
    char err[RC_ERRMSG_SIZE];
    int rv = framePack(RC_FRAME_REQUEST, stream, &req.base, &frame, &flen, err, sizeof err);
    free(pbuf);
    if (rv != 0) {
        return rv;
    }
    return sendFrame(l, frame, flen);
}

static int statusToCode(uint32_t status)
{
    switch (status) {
    case RC_STATUS_OK:
        return 0;
    case RC_STATUS_INVALID_ARGUMENT:
        return RC_EINVAL;
    case RC_STATUS_NOT_FOUND:
        return RC_ENOTFOUND;
    case RC_STATUS_FAILED_PRECONDITION:
        return RC_ESTALE;
    case RC_STATUS_UNAVAILABLE:
        return RC_ENOTLEADER;
    default:
        return RC_EIO;
    }
}

static void onResponse(struct link *l, uint32_t stream, const uint8_t *payload, size_t len)
{
    Raftcron__Response *resp = NULL;
    char err[RC_ERRMSG_SIZE];
    if (frameUnpackResponse(payload, len, &resp, err, sizeof err) != 0) {
        broken(l, err);
        return;
    }
    if (stream == SESSION_STREAM) {
        /* The leader ended (or refused) the session: go where it points. */
        if (resp->leader_hint[0] != '\0' && strcmp(resp->leader_hint, l->peer_addr) != 0) {
            snprintf(l->hint, sizeof l->hint, "%s", resp->leader_hint);
            l->backoff_ms = LINK_BACKOFF_MIN_MS;
        }
        if (resp->status != RC_STATUS_UNAVAILABLE && resp->status != RC_STATUS_ABORTED) {
            LOG_WARN("worker: the leader refused the session", "leader", "%s", l->peer_addr,
                     "status", "%s", rc_status_name((int)resp->status), "error", "%s",
                     resp->message);
            l->backoff_ms = LINK_BACKOFF_MAX_MS;
        }
        raftcron__response__free_unpacked(resp, NULL);
        broken(l, "session ended");
        return;
    }
    struct link_call **pp = &l->calls;
    while (*pp != NULL && (*pp)->stream != stream) {
        pp = &(*pp)->next;
    }
    if (*pp != NULL) {
        struct link_call *c = *pp;
        *pp = c->next;
        uint64_t tag = c->tag;
        free(c);
        workerReported(l->o.worker, tag, statusToCode(resp->status));
    }
    raftcron__response__free_unpacked(resp, NULL);
}

static void onPush(struct link *l, uint32_t stream, const uint8_t *payload, size_t len)
{
    Raftcron__Push *push = NULL;
    char err[RC_ERRMSG_SIZE];
    if (stream != SESSION_STREAM || frameUnpackPush(payload, len, &push, err, sizeof err) != 0) {
        broken(l, "malformed push");
        return;
    }
    ProtobufCMessage *msg = NULL;
    if (strcmp(push->kind, SESSION_PUSH) != 0 ||
        pbufUnpack(&raftcron__session_push__descriptor, push->payload.data, push->payload.len,
                   &msg) != 0) {
        raftcron__push__free_unpacked(push, NULL);
        broken(l, "malformed session push");
        return;
    }
    raftcron__push__free_unpacked(push, NULL);
    const Raftcron__SessionPush *p = (const Raftcron__SessionPush *)msg;
    if (p->sync && l->state == LINK_OPENING) {
        setState(l, LINK_UP);
        l->backoff_ms = LINK_BACKOFF_MIN_MS;
        LOG_DEBUG("worker: session open", "leader", "%s", l->peer_addr);
    }
    workerOnPush(l->o.worker, p);
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void onFrame(const struct rc_frame *f, void *arg)
{
    struct link *l = arg;
    if (l->state != LINK_OPENING && l->state != LINK_UP) {
        return;
    }
    l->heard_ms = uv_now(l->o.loop);
    switch (f->type) {
    case RC_FRAME_RESPONSE:
        onResponse(l, f->stream, f->payload, f->len);
        break;
    case RC_FRAME_PUSH:
        onPush(l, f->stream, f->payload, f->len);
        break;
    case RC_FRAME_PING: {
        uint8_t *buf = malloc(RC_FRAME_HEADER_SIZE + f->len + 1);
        if (buf != NULL && frameEncode(RC_FRAME_PONG, f->stream, f->payload, f->len, buf,
                                       RC_FRAME_HEADER_SIZE + f->len + 1) == 0) {
            sendFrame(l, buf, RC_FRAME_HEADER_SIZE + f->len);
        } else {
            free(buf);
        }
        break;
    }
    case RC_FRAME_GOAWAY:
        broken(l, "the leader is going away");
        break;
    default:
        break;
    }
}

static void onRead(struct sstream *s, const uint8_t *data, size_t n)
{
    struct link_tcp *t = s->data;
    struct link *l = t->l;
    if (l->tcp != t || (l->state != LINK_OPENING && l->state != LINK_UP)) {
        return;
    }
    if (frameDecoderFeed(&l->dec, data, n, onFrame, l) != 0 && l->tcp == t) {
        broken(l, frameDecoderError(&l->dec));
    }
}

static void streamError(struct sstream *s, const char *why)
{
    struct link_tcp *t = s->data;
    if (t->l->tcp == t) {
        broken(t->l, why);
    }
}

/* Connected (and, with TLS, the leader's certificate verified): open the session. */
static void streamReady(struct sstream *s)
{
    struct link_tcp *t = s->data;
    struct link *l = t->l;
    if (l->tcp != t || l->state != LINK_CONNECTING) {
        return;
    }
    char host[256], port[16];
    if (sstreamIsTls(s) &&
        (clientConnSplitAddr(l->peer_addr, host, sizeof host, port, sizeof port) != 0 ||
         !sstreamPeerMatches(s, host))) {
        broken(l, "the leader's certificate is not valid for its address");
        return;
    }
    frameDecoderClose(&l->dec);
    frameDecoderInit(&l->dec, l->o.max_frame);
    struct worker_hello h;
    if (workerHelloBuild(l->o.worker, &h) != 0) {
        broken(l, "out of memory");
        return;
    }
    setState(l, LINK_OPENING);
    l->next_stream = SESSION_STREAM + 1;
    int rv = sendRequest(l, SESSION_STREAM, "Worker.Session", &h.open.base);
    workerHelloFree(&h);
    if (rv != 0) {
        broken(l, "cannot send the session request");
        return;
    }
    l->sessions++;
    l->heard_ms = uv_now(l->o.loop);
}

static const struct sstream_callbacks streamCallbacks = {
    .ready = streamReady, .read = onRead, .error = streamError};

static void connected(uv_connect_t *req, int status)
{
    struct link_tcp *t = req->data;
    struct link *l = t->l;
    if (l->tcp != t || l->state != LINK_CONNECTING) {
        return; /* an earlier attempt, closed meanwhile */
    }
    if (status != 0) {
        broken(l, uv_strerror(status));
        return;
    }
    if (sstreamStart(&t->s, l->o.tls, &streamCallbacks) != 0) {
        broken(l, "cannot start the connection");
    }
}

static void checkSilence(uv_timer_t *t)
{
    struct link *l = t->data;
    if ((l->state == LINK_OPENING || l->state == LINK_UP) &&
        uv_now(l->o.loop) - l->heard_ms > LINK_SILENCE_MS) {
        broken(l, "the leader is silent");
    }
}

/* The next address to try: the leader hint of the last refusal, else the candidates in turn. */
static bool nextAddress(struct link *l, char *out, size_t n)
{
    if (l->hint[0] != '\0') {
        snprintf(out, n, "%s", l->hint);
        l->hint[0] = '\0';
        return true;
    }
    unsigned count = 0;
    for (const char *p = l->endpoints; *p != '\0'; p++) {
        count += *p == ',';
    }
    count += l->endpoints[0] != '\0';
    if (count == 0) {
        return false;
    }
    unsigned want = l->candidate++ % count;
    const char *p = l->endpoints;
    for (unsigned i = 0; i < want; i++) {
        p = strchr(p, ',') + 1;
    }
    size_t len = strcspn(p, ",");
    if (len >= n) {
        return false;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);

static void connectTo(struct link *l, const struct sockaddr *sa)
{
    struct link_tcp *t = malloc(sizeof *t);
    if (t == NULL) {
        setState(l, LINK_BACKOFF);
        retryLater(l, l->backoff_ms);
        return;
    }
    t->l = l;
    sstreamInit(&t->s, l->o.loop);
    t->s.data = t;
    t->connect.data = t;
    l->tcp = t;
    if (uv_tcp_connect(&t->connect, &t->s.tcp, sa, connected) != 0) {
        l->tcp = NULL;
        l->tcp_closing++;
        sstreamClose(&t->s, tcpClosed);
        setState(l, LINK_BACKOFF);
        retryLater(l, l->backoff_ms);
    }
}

struct resolve {
    uv_getaddrinfo_t req;
    struct link *l;
    uint64_t attempt;
};

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct resolve *r = (struct resolve *)req;
    struct link *l = r->l;
    bool current = l->state == LINK_CONNECTING && l->tcp == NULL && r->attempt == l->attempt;
    if (current && status == 0 && res != NULL) {
        connectTo(l, res->ai_addr);
    } else if (current) {
        LOG_DEBUG("worker: cannot resolve the leader's address", "address", "%s", l->peer_addr);
        setState(l, LINK_BACKOFF);
        retryLater(l, l->backoff_ms);
    }
    uv_freeaddrinfo(res);
    free(r);
}

static void openTcp(struct link *l)
{
    char addr[256];
    if (!nextAddress(l, addr, sizeof addr)) {
        retryLater(l, l->backoff_ms);
        return;
    }
    snprintf(l->peer_addr, sizeof l->peer_addr, "%s", addr);
    char host[256];
    char port[16];
    if (clientConnSplitAddr(addr, host, sizeof host, port, sizeof port) != 0) {
        LOG_WARN("worker: bad leader address", "address", "%s", addr);
        retryLater(l, LINK_BACKOFF_MAX_MS);
        return;
    }
    setState(l, LINK_CONNECTING);
    l->attempt++;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(host, atoi(port), (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(host, atoi(port), (struct sockaddr_in6 *)&ss) == 0) {
        connectTo(l, (const struct sockaddr *)&ss);
        return;
    }
    /* A host name: DESIGN.md §2, DNS goes to the thread pool, never the loop. */
    struct resolve *r = calloc(1, sizeof *r);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (r == NULL) {
        setState(l, LINK_BACKOFF);
        retryLater(l, l->backoff_ms);
        return;
    }
    r->l = l;
    r->attempt = l->attempt;
    if (uv_getaddrinfo(l->o.loop, &r->req, resolved, host, port, &hints) != 0) {
        free(r);
        setState(l, LINK_BACKOFF);
        retryLater(l, l->backoff_ms);
    }
}

/* ---- Choosing the way -------------------------------------------------------------------------
 */

static void onRetry(uv_timer_t *t)
{
    struct link *l = t->data;
    if (l->state == LINK_IDLE || l->state == LINK_BACKOFF) {
        reopen(l);
    }
}

static void retryLater(struct link *l, unsigned ms)
{
    if (l->state == LINK_CLOSING || l->state == LINK_CLOSED) {
        return;
    }
    uv_timer_start(&l->retry, onRetry, ms, 0);
}

static void reopen(struct link *l)
{
    bool self = false;
    char buf[LINK_ENDPOINTS_MAX];
    buf[0] = '\0';
    if (!l->o.target(l->o.target_ctx, &self, buf, sizeof buf)) {
        setState(l, LINK_IDLE);
        retryLater(l, LINK_BACKOFF_MIN_MS * 5);
        return;
    }
    if (self && l->o.dispatch != NULL) {
        openLocal(l);
        return;
    }
    if (strcmp(buf, l->endpoints) != 0) {
        snprintf(l->endpoints, sizeof l->endpoints, "%s", buf);
        l->candidate = 0;
    }
    openTcp(l);
}

static void workerReport(struct worker_link *wl, const Raftcron__ReportBatch *b, uint64_t tag,
                         int *rv);

static int linkReport(struct worker_link *wl, const Raftcron__ReportBatch *b, uint64_t tag)
{
    int rv = 0;
    workerReport(wl, b, tag, &rv);
    return rv;
}

static void workerReport(struct worker_link *wl, const Raftcron__ReportBatch *b, uint64_t tag,
                         int *rv)
{
    struct link *l = (struct link *)wl;
    if (l->state == LINK_LOCAL) {
        struct local_report *r = malloc(sizeof *r);
        if (r == NULL) {
            *rv = RC_ENOMEM;
            return;
        }
        *r = (struct local_report){l, tag, l->sessions};
        int d = dispatchReport(l->o.dispatch, &l->peer, b, localReported, r);
        if (d != 0) {
            free(r);
        }
        if (d == 1) {
            queueDone(l, tag, 0);
        } else if (d < 0) {
            *rv = -d;
        }
        return;
    }
    if (l->state != LINK_UP) {
        *rv = RC_ENOTLEADER;
        return;
    }
    uint32_t stream = l->next_stream;
    l->next_stream += 2;
    if (tag != 0) {
        struct link_call *c = malloc(sizeof *c);
        if (c == NULL) {
            *rv = RC_ENOMEM;
            return;
        }
        *c = (struct link_call){l->calls, stream, tag};
        l->calls = c;
    }
    if (sendRequest(l, stream, "Worker.Report", &b->base) != 0) {
        broken(l, "cannot send a report");
        *rv = RC_EIO;
    }
}

static const struct worker_link_ops linkOps = {.report = linkReport};

void linkPoke(struct link *l)
{
    if (l->state == LINK_CLOSING || l->state == LINK_CLOSED) {
        return;
    }
    bool self = false;
    char buf[LINK_ENDPOINTS_MAX];
    buf[0] = '\0';
    bool known = l->o.target(l->o.target_ctx, &self, buf, sizeof buf);
    self = self && l->o.dispatch != NULL;
    switch (l->state) {
    case LINK_LOCAL:
        if (!self) {
            closeLocal(l);
            reopen(l);
        }
        break;
    case LINK_OPENING:
    case LINK_UP: {
        size_t first = strcspn(buf, ",");
        bool elsewhere = known && (self || strncmp(buf, l->peer_addr, first) != 0 ||
                                   l->peer_addr[first] != '\0');
        if (elsewhere) {
            dropTcp(l);
            setState(l, LINK_IDLE);
            l->backoff_ms = LINK_BACKOFF_MIN_MS;
            reopen(l);
        }
        break;
    }
    case LINK_IDLE:
    case LINK_BACKOFF:
        if (known) {
            uv_timer_stop(&l->retry);
            reopen(l);
        }
        break;
    default:
        break;
    }
}

int linkStart(struct link *l, const struct link_options *o)
{
    memset(l, 0, sizeof *l);
    l->o = *o;
    l->base.ops = &linkOps;
    l->backoff_ms = LINK_BACKOFF_MIN_MS;
    uv_timer_init(o->loop, &l->retry);
    uv_timer_init(o->loop, &l->deliver);
    uv_timer_init(o->loop, &l->silence);
    l->retry.data = l->deliver.data = l->silence.data = l;
    uv_timer_start(&l->silence, checkSilence, LINK_SILENCE_MS / 4, LINK_SILENCE_MS / 4);
    workerSetLink(o->worker, &l->base);
    retryLater(l, 0);
    return 0;
}

static void handleClosed(uv_handle_t *h)
{
    struct link *l = h->data;
    l->timers_open--;
    maybeClosed(l);
}

void linkClose(struct link *l, void (*cb)(struct link *l))
{
    if (l->state == LINK_CLOSING || l->state == LINK_CLOSED) {
        return;
    }
    closeLocal(l);
    l->close_cb = cb;
    setState(l, LINK_CLOSING);
    if (l->tcp != NULL) {
        dropTcp(l);
    }
    while (l->done != NULL) {
        struct link_done *d = l->done;
        l->done = d->next;
        free(d);
    }
    frameDecoderClose(&l->dec);
    l->timers_open = 3;
    uv_close((uv_handle_t *)&l->retry, handleClosed);
    uv_close((uv_handle_t *)&l->deliver, handleClosed);
    uv_close((uv_handle_t *)&l->silence, handleClosed);
}
