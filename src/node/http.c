#include "http.h"

#include <assert.h>
#include <stddef.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ledgerjson.h"
#include "listener.h"
#include "net/tls.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "rpc.h"

#define BEAT_MS         100   /* loop-lag probe */
#define KEEPALIVE_MS    15000 /* event streams: a comment line this often */
#define SSE_BACKLOG_MAX (1u << 20)
#define CONN_TIMEOUT_S  60
#define CONN_LIMIT      1024
#define SSE_RETRY_MS    2000
#define PEM_MAX         (256u * 1024) /* a certificate chain or key file, at most */
/* GnuTLS priorities: the protocol floor of the Raft and RPC ports (net/tls.c), TLS 1.2. */
#define HTTPS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* ---- Request lifecycle ----------------------------------------------------------------------- */

static void setState(struct http_req *r, enum http_req_state to)
{
    static const bool allowed[5][5] = {
        [HTTP_READING] = {[HTTP_ROUTED] = true, [HTTP_ANSWERED] = true, [HTTP_DONE] = true},
        [HTTP_ROUTED] = {[HTTP_ANSWERED] = true, [HTTP_STREAMING] = true, [HTTP_DONE] = true},
        [HTTP_ANSWERED] = {[HTTP_DONE] = true},
        [HTTP_STREAMING] = {[HTTP_DONE] = true},
    };
    assert(allowed[r->state][to]);
    (void)allowed; /* NDEBUG builds check nothing */
    r->state = to;
}

static struct http_req *reqNew(struct http_server *s, struct MHD_Connection *conn, const char *url,
                               const char *method)
{
    struct http_req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    r->path = strdup(url);
    if (r->path == NULL) {
        free(r);
        return NULL;
    }
    r->srv = s;
    r->conn = conn;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->next = s->reqs;
    if (s->reqs != NULL) {
        s->reqs->prev = r;
    }
    s->reqs = r;
    return r;
}

static void reqFree(struct http_req *r)
{
    struct http_server *s = r->srv;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else if (s->reqs == r) {
        s->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    if (r->subscribed) {
        eventsUnsubscribe(&s->node->events, &r->sub);
    }
    if (r->ctx_free != NULL) {
        r->ctx_free(r->ctx);
    }
    free(r->path);
    free(r->body);
    free(r->rpc);
    free(r->sse);
    free(r);
}

static void onWake(uv_timer_t *t);

/* A resumed connection is served by the next MHD_run: run it from the loop at once rather
 * than wait for libmicrohttpd's wake-up through its epoll descriptor. */
static void resume(struct http_req *r)
{
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        if (r->srv->mhd != NULL) {
            uv_timer_start(&r->srv->wake, onWake, 0, 0);
        }
    }
}

/* ---- Answers --------------------------------------------------------------------------------- */

static void queue(struct http_req *r, unsigned status, struct MHD_Response *resp,
                  const char *const *headers, size_t n_headers)
{
    if (r->gone || r->state == HTTP_ANSWERED || r->state == HTTP_DONE) {
        if (resp != NULL) {
            MHD_destroy_response(resp);
        }
        return;
    }
    for (size_t i = 0; resp != NULL && i + 1 < 2 * n_headers + 1 && i < 2 * n_headers; i += 2) {
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    }
    if (resp != NULL) {
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        MHD_queue_response(r->conn, status, resp);
        MHD_destroy_response(resp);
    }
    metricsHttp(&r->srv->node->metrics, (int)status);
    setState(r, HTTP_ANSWERED);
    resume(r);
}

void httpBytes(struct http_req *r, unsigned status, const char *type, const void *data, size_t len,
               const char *const *headers, size_t n_headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp != NULL && type != NULL) {
        MHD_add_response_header(resp, "Content-Type", type);
    }
    queue(r, status, resp, headers, n_headers);
}

void httpJson(struct http_req *r, unsigned status, json_t *doc, const char *const *headers,
              size_t n_headers)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(doc);
    if (text == NULL) {
        static const char oom[] =
            "{\"error\":{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"out of memory\"}}";
        httpBytes(r, 503, "application/json", oom, sizeof oom - 1, NULL, 0);
        return;
    }
    size_t len = strlen(text);
    text[len] = '\0';
    char *withnl = realloc(text, len + 2);
    if (withnl != NULL) {
        text = withnl;
        text[len++] = '\n';
        text[len] = '\0';
    }
    httpBytes(r, status, "application/json", text, len, headers, n_headers);
    free(text);
}

void httpError(struct http_req *r, unsigned status, const char *code, const char *message,
               json_t *details)
{
    json_t *err = json_pack("{s:s, s:s%, s:o}", "code", code, "message", message, strlen(message),
                            "details", details != NULL ? details : json_object());
    if (err == NULL) {
        /* message was not UTF-8: say so rather than fail */
        err = json_pack("{s:s, s:s, s:o}", "code", code, "message", "(message not shown)",
                        "details", json_object());
    }
    const char *headers[2] = {"WWW-Authenticate", "Bearer realm=\"raftcron\""};
    httpJson(r, status, json_pack("{s:o}", "error", err), headers, status == 401 ? 1 : 0);
}

unsigned httpStatusOf(int rpc_status, bool if_match)
{
    switch (rpc_status) {
    case RC_STATUS_OK:
        return 200;
    case RC_STATUS_INVALID_ARGUMENT:
    case RC_STATUS_OUT_OF_RANGE:
        return 400;
    case RC_STATUS_UNAUTHENTICATED:
        return 401;
    case RC_STATUS_PERMISSION_DENIED:
        return 403;
    case RC_STATUS_NOT_FOUND:
        return 404;
    case RC_STATUS_ALREADY_EXISTS:
    case RC_STATUS_ABORTED:
        return 409;
    case RC_STATUS_FAILED_PRECONDITION:
        return if_match ? 412 : 409;
    case RC_STATUS_RESOURCE_EXHAUSTED:
        return 429;
    case RC_STATUS_UNIMPLEMENTED:
        return 501;
    case RC_STATUS_UNAVAILABLE:
    case RC_STATUS_CANCELLED:
        return 503;
    case RC_STATUS_DEADLINE_EXCEEDED:
        return 504;
    default:
        return 500;
    }
}

/* The field a message names, when it starts with one ("cron: ...", "trigger.tz: ..."). */
static json_t *fieldOf(const char *message)
{
    size_t n = strcspn(message, ": ");
    if (n == 0 || n > 64 || message[n] != ':') {
        return json_object();
    }
    for (size_t i = 0; i < n; i++) {
        char c = message[i];
        if (!((c >= 'a' && c <= 'z') || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
              c == '[' || c == ']')) {
            return json_object();
        }
    }
    return json_pack("{s:s%}", "field", message, n);
}

void httpRpcError(struct http_req *r, const Raftcron__Response *resp, bool if_match)
{
    unsigned status = httpStatusOf((int)resp->status, if_match);
    json_t *details = status == 400 ? fieldOf(resp->message) : json_object();
    if (resp->leader_hint[0] != '\0') {
        json_object_set_new(details, "leader", json_string(resp->leader_hint));
    }
    httpError(r, status, rc_status_name((int)resp->status),
              resp->message[0] != '\0' ? resp->message : rc_status_name((int)resp->status),
              details);
}

/* ---- RPC calls ------------------------------------------------------------------------------- */

static void finishCall(struct http_req *r, const Raftcron__Response *resp)
{
    http_cont_fn cont = r->cont;
    r->cont = NULL;
    free(r->rpc);
    r->rpc = NULL;
    if (r->gone) {
        reqFree(r);
        return;
    }
    cont(r, resp);
    if (r->state == HTTP_ROUTED && r->cont == NULL && !r->subscribed) {
        /* The route asked nothing more and said nothing: a bug, but never a hung client. */
        httpError(r, 500, "INTERNAL", "no answer", NULL);
    }
}

static void forwarded(void *data, const Raftcron__Response *resp)
{
    finishCall(data, resp);
}

/* A follower's refusal of what only the leader can answer carries the leader's RPC address:
 * the request goes there, once. */
static void answered(void *data, const Raftcron__Response *resp)
{
    struct http_req *r = data;
    struct http_server *s = r->srv;
    if (resp->status == RC_STATUS_UNAVAILABLE && resp->retryable && resp->leader_hint[0] != '\0' &&
        !r->forwarded && !r->gone && s->running) {
        r->forwarded = true;
        if (forwardSend(&s->fwd, resp->leader_hint, r->rpc, r->rpc_len, forwarded, r) == 0) {
            return;
        }
    }
    finishCall(r, resp);
}

void httpCall(struct http_req *r, const char *method, const ProtobufCMessage *msg,
              http_cont_fn cont)
{
    size_t plen = protobuf_c_message_get_packed_size(msg);
    uint8_t *payload = malloc(plen > 0 ? plen : 1);
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = (char *)method;
    req.auth_token = r->token;
    Raftcron__Request *copy = NULL;
    free(r->rpc);
    r->rpc = NULL;
    if (payload != NULL) {
        protobuf_c_message_pack(msg, payload);
        req.payload.data = payload;
        req.payload.len = plen;
        r->rpc_len = raftcron__request__get_packed_size(&req);
        r->rpc = malloc(r->rpc_len > 0 ? r->rpc_len : 1);
    }
    if (r->rpc != NULL) {
        raftcron__request__pack(&req, r->rpc);
        copy = raftcron__request__unpack(NULL, r->rpc_len, r->rpc);
    }
    free(payload);
    if (copy == NULL) {
        httpError(r, 503, "RESOURCE_EXHAUSTED", "out of memory", NULL);
        return;
    }
    r->cont = cont;
    r->forwarded = false;
    rpcDispatch(r->srv->node, copy, answered, r);
}

/* ---- Headers and query ----------------------------------------------------------------------- */

const char *httpHeader(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *httpQuery(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_check {
    const char *const *allowed;
    const char *bad;
};

static enum MHD_Result checkArg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct query_check *q = cls;
    (void)kind;
    (void)value;
    for (size_t i = 0; q->allowed[i] != NULL; i++) {
        if (strcmp(q->allowed[i], key) == 0) {
            return MHD_YES;
        }
    }
    q->bad = key;
    return MHD_NO;
}

bool httpQueryOnly(struct http_req *r, const char *const *allowed)
{
    struct query_check q = {.allowed = allowed};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, checkArg, &q);
    if (q.bad == NULL) {
        return true;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%.64s: unknown query parameter", q.bad);
    json_t *details = json_pack("{s:s}", "field", q.bad);
    httpError(r, 400, "INVALID_ARGUMENT", msg, details);
    return false;
}

/* "Authorization: Bearer TOKEN" (RFC 6750 §2.1). False when the header is there but no bearer
 * token (answered 401). */
static bool readToken(struct http_req *r)
{
    const char *h = httpHeader(r, "Authorization");
    r->token[0] = '\0';
    if (h == NULL) {
        return true;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) >= sizeof r->token) {
        httpError(r, 401, "UNAUTHENTICATED", "Authorization: expected \"Bearer TOKEN\"", NULL);
        return false;
    }
    const char *t = h + 7;
    while (*t == ' ') {
        t++;
    }
    snprintf(r->token, sizeof r->token, "%s", t);
    return true;
}

/* ---- Event streams (text/event-stream, WHATWG HTML §9.2) --------------------------------------
 */

static bool sseAppend(struct http_req *r, const char *text, size_t n)
{
    if (r->sse_len + n > r->sse_cap) {
        size_t cap = r->sse_cap > 0 ? r->sse_cap : 4096;
        while (cap < r->sse_len + n) {
            cap *= 2;
        }
        char *buf = realloc(r->sse, cap);
        if (buf == NULL) {
            return false;
        }
        r->sse = buf;
        r->sse_cap = cap;
    }
    memcpy(r->sse + r->sse_len, text, n);
    r->sse_len += n;
    resume(r);
    return true;
}

/* An event: its index as the id only on the last event of an index, so that a client that
 * resumes from its last id misses nothing of an entry it saw only in part. */
static bool sseDeliver(void *data, const Raftcron__Event *e, bool last)
{
    struct http_req *r = data;
    if (r->sse_len - r->sse_off > SSE_BACKLOG_MAX) {
        return false;
    }
    char *json = NULL;
    json_t *doc = ledgerjsonEvent(e);
    if (doc != NULL) {
        json = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(doc);
    }
    char head[160];
    int n = last ? snprintf(head, sizeof head,
                            "id: %llu\nevent: %s\ndata: ", (unsigned long long)e->index, e->type)
                 : snprintf(head, sizeof head, "event: %s\ndata: ", e->type);
    bool ok = json != NULL && sseAppend(r, head, (size_t)n) && sseAppend(r, json, strlen(json)) &&
              sseAppend(r, "\n\n", 2);
    free(json);
    return ok;
}

static void sseGap(void *data, uint64_t oldest)
{
    struct http_req *r = data;
    char text[160];
    int n = snprintf(text, sizeof text, "event: gap\ndata: {\"oldest_index\":%llu}\n\n",
                     (unsigned long long)oldest);
    sseAppend(r, text, (size_t)n);
}

static ssize_t sseRead(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    (void)pos;
    size_t have = r->sse_len - r->sse_off;
    if (have == 0) {
        if (!r->srv->running) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        r->sse_len = r->sse_off = 0;
        if (r->sub.blocked) {
            eventsWake(&r->srv->node->events, &r->sub);
        }
        r->suspended = true;
        MHD_suspend_connection(r->conn);
        return 0;
    }
    size_t n = have < max ? have : max;
    memcpy(buf, r->sse + r->sse_off, n);
    r->sse_off += n;
    return (ssize_t)n;
}

void httpStream(struct http_req *r, const struct events_filter *f, uint64_t after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sseRead, r, NULL);
    if (resp == NULL) {
        httpError(r, 503, "RESOURCE_EXHAUSTED", "out of memory", NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    char retry[32];
    int n = snprintf(retry, sizeof retry, "retry: %d\n\n", SSE_RETRY_MS);
    sseAppend(r, retry, (size_t)n);
    MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    metricsHttp(&r->srv->node->metrics, 200);
    setState(r, HTTP_STREAMING);
    r->sub.filter = *f;
    r->sub.deliver = sseDeliver;
    r->sub.gap = sseGap;
    r->sub.data = r;
    r->subscribed = true;
    eventsSubscribe(&r->srv->node->events, &r->sub, after);
}

/* ---- libmicrohttpd callbacks ----------------------------------------------------------------- */

static void appendBody(struct http_req *r, const char *data, size_t n)
{
    if (r->too_big || r->len + n > r->srv->max_body) {
        r->too_big = true;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap > 0 ? r->cap : 1024;
        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        char *body = realloc(r->body, cap);
        if (body == NULL) {
            r->too_big = true;
            return;
        }
        r->body = body;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static void tooBig(struct http_req *r)
{
    char msg[128];
    snprintf(msg, sizeof msg, "body: larger than %zu bytes (http_max_body)", r->srv->max_body);
    httpError(r, 413, "RESOURCE_EXHAUSTED", msg, json_pack("{s:s}", "field", "body"));
}

static enum MHD_Result onRequest(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    (void)version;
    if (r == NULL) {
        r = reqNew(s, conn, url, method);
        if (r == NULL) {
            return MHD_NO;
        }
        *con_cls = r;
        const char *cl = httpHeader(r, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > s->max_body) {
            r->too_big = true;
            tooBig(r);
        }
        return MHD_YES;
    }
    if (r->state != HTTP_READING) {
        *upload_data_size = 0; /* answered already (413): the rest is dropped */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        appendBody(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big) {
        tooBig(r);
        return MHD_YES;
    }
    setState(r, HTTP_ROUTED);
    if (!s->running) {
        httpError(r, 503, "UNAVAILABLE", "node is shutting down", NULL);
    } else if (readToken(r)) {
        httpRoute(r);
    }
    if (r->state == HTTP_ROUTED) {
        r->suspended = true;
        MHD_suspend_connection(conn);
    }
    return MHD_YES;
}

static void onCompleted(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    struct http_req *r = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL) {
        return;
    }
    *con_cls = NULL;
    if (r->cont != NULL) {
        /* An RPC is still out: its answer frees the request. */
        r->gone = true;
        forwardCancel(&r->srv->fwd, r);
        return;
    }
    reqFree(r);
}

/* ---- The loop side --------------------------------------------------------------------------- */

static void runMhd(struct http_server *s);

static void onWake(uv_timer_t *t)
{
    runMhd(t->data);
}

static void onPoll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    runMhd(p->data);
}

/* Let libmicrohttpd work, then arm its next timeout. */
static void runMhd(struct http_server *s)
{
    if (s->mhd == NULL) {
        return;
    }
    MHD_run(s->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES) {
        uv_timer_start(&s->wake, onWake, ms, 0);
    } else {
        uv_timer_stop(&s->wake);
    }
}

static void onBeat(uv_timer_t *t)
{
    struct http_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    s->loop_lag_ms =
        s->beat_due_ms != 0 && now > s->beat_due_ms ? (int64_t)(now - s->beat_due_ms) : 0;
    s->beat_due_ms = now + BEAT_MS;
    static uint64_t last_keepalive;
    if (now - last_keepalive >= KEEPALIVE_MS) {
        last_keepalive = now;
        for (struct http_req *r = s->reqs; r != NULL; r = r->next) {
            if (r->state == HTTP_STREAMING) {
                sseAppend(r, ": keepalive\n\n", 13);
            }
        }
    }
}

static int bindSocket(const char *addr, int *out, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    int rv = listenerParseAddr(addr, &sa, err, errlen);
    if (rv != 0) {
        return rv;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    socklen_t len =
        sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, len) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        return errSet(err, errlen, RC_EIO, "--http-addr %s: %s", addr, strerror(e));
    }
    *out = fd;
    return 0;
}

/* The whole of a PEM file as a C string (libmicrohttpd takes them so). A key file must be
 * private (0600, like the Raft/RPC key: net/tls.c). *len excludes the NUL. */
static int readPem(const char *path, bool key, char **out, size_t *len, char *err, size_t errlen)
{
    const char *what = key ? "--tls-key" : "--tls-cert";
    int rv = key ? tlsCheckPrivateFile(path, "key file", err, errlen) : 0;
    if (rv != 0) {
        return rv;
    }
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return errSet(err, errlen, RC_EIO, "%s %s: %s", what, path, strerror(errno));
    }
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (buf == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "%s %s: out of memory", what, path);
    }
    if (failed || n > PEM_MAX || n == 0 || memchr(buf, '\0', n) != NULL) {
        explicit_bzero(buf, n); /* n <= PEM_MAX + 1: all that was read */
        free(buf);
        return failed        ? errSet(err, errlen, RC_EIO, "%s %s: read error", what, path)
               : n > PEM_MAX ? errSet(err, errlen, RC_ETOOBIG, "%s %s: larger than %u bytes", what,
                                      path, PEM_MAX)
                             : errSet(err, errlen, RC_EINVAL, "%s %s: not PEM text", what, path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void freePems(struct http_server *s)
{
    if (s->tls_key_pem != NULL) {
        explicit_bzero(s->tls_key_pem, s->tls_key_len);
    }
    free(s->tls_key_pem);
    free(s->tls_cert_pem);
    s->tls_key_pem = s->tls_cert_pem = NULL;
    s->tls_key_len = 0;
}

/* HTTPS: the node's certificate and key, handed to libmicrohttpd as PEM text. */
static int loadTls(struct http_server *s, const struct http_server_options *o, char *err,
                   size_t errlen)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        return errSet(err, errlen, RC_EIO,
                      "--http-addr %s: this libmicrohttpd has no TLS support, and the node has "
                      "--tls-cert: install a libmicrohttpd built with GnuTLS (Debian's is)",
                      o->addr);
    }
    size_t cert_len;
    int rv = readPem(o->tls_cert, false, &s->tls_cert_pem, &cert_len, err, errlen);
    if (rv == 0) {
        rv = readPem(o->tls_key, true, &s->tls_key_pem, &s->tls_key_len, err, errlen);
    }
    if (rv != 0) {
        freePems(s);
        return rv;
    }
    s->https = true;
    return 0;
}

static struct MHD_Daemon *startDaemon(struct http_server *s)
{
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (!s->https) {
        return MHD_start_daemon(flags, 0, NULL, NULL, onRequest, s, MHD_OPTION_LISTEN_SOCKET,
                                s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, onCompleted, s,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT, MHD_OPTION_END);
    }
    return MHD_start_daemon(
        flags | MHD_USE_TLS, 0, NULL, NULL, onRequest, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_NOTIFY_COMPLETED, onCompleted, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
        MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert_pem, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem,
        MHD_OPTION_HTTPS_PRIORITIES, HTTPS_PRIORITIES, MHD_OPTION_END);
}

int httpStart(struct http_server *s, struct node *n, const struct http_server_options *o, char *err,
              size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->node = n;
    s->loop = n->loop;
    s->max_body = o->max_body;
    int rv = 0;
    if (o->tls_cert != NULL && (rv = loadTls(s, o, err, errlen)) != 0) {
        return rv;
    }
    if ((rv = bindSocket(o->addr, &s->listen_fd, err, errlen)) != 0) {
        goto err_after_tls;
    }
    s->mhd = startDaemon(s);
    if (s->mhd == NULL) {
        /* libmicrohttpd says no more (it logs nothing: MHD_USE_ERROR_LOG is off, so that no
         * key material reaches a log); with TLS the likely cause is the files. */
        rv = errSet(err, errlen, s->https ? RC_EINVAL : RC_EIO,
                    s->https ? "--http-addr %s: cannot start the HTTPS server: the certificate "
                               "(--tls-cert) or key (--tls-key) is not usable by GnuTLS, or they "
                               "do not match"
                             : "--http-addr %s: cannot start the HTTP server",
                    o->addr);
        close(s->listen_fd);
        goto err_after_tls;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(s->loop, &s->poll, info->epoll_fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, onPoll);
    uv_timer_init(s->loop, &s->wake);
    s->wake.data = s;
    uv_timer_init(s->loop, &s->beat);
    s->beat.data = s;
    uv_timer_start(&s->beat, onBeat, BEAT_MS, BEAT_MS);
    forwardInit(&s->fwd, s->loop, n->opts.creds != NULL ? n->opts.creds->client : NULL);
    s->handles_open = 3;
    s->running = true;
    runMhd(s);
    return 0;

err_after_tls:
    assert(rv != 0);
    freePems(s);
    return rv;
}

static void handleClosed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    if (--s->handles_open == 0 && s->close_cb != NULL) {
        s->close_cb(s);
    }
}

static void forwardClosed(struct http_forward *f)
{
    struct http_server *s = (struct http_server *)((char *)f - offsetof(struct http_server, fwd));
    handleClosed((uv_handle_t *)&s->poll);
}

void httpClose(struct http_server *s, void (*cb)(struct http_server *s))
{
    s->close_cb = cb;
    s->running = false;
    /* Streams end, waiting requests get 503: every connection is running again, as
     * libmicrohttpd requires before it stops. */
    for (struct http_req *r = s->reqs; r != NULL; r = r->next) {
        if (r->state == HTTP_ROUTED) {
            httpError(r, 503, "UNAVAILABLE", "node is shutting down", NULL);
        }
        if (r->cont != NULL) {
            r->gone = true; /* its RPC answer frees it */
            forwardCancel(&s->fwd, r);
        }
        if (r->subscribed) {
            eventsUnsubscribe(&s->node->events, &r->sub);
            r->subscribed = false;
        }
        resume(r);
    }
    MHD_run(s->mhd);
    uv_poll_stop(&s->poll);
    /* Requests whose RPC is still out are not freed by the daemon's completion callbacks:
     * their answers will find them gone. */
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    freePems(s);
    s->handles_open++; /* the forwarder */
    uv_close((uv_handle_t *)&s->poll, handleClosed);
    uv_close((uv_handle_t *)&s->wake, handleClosed);
    uv_close((uv_handle_t *)&s->beat, handleClosed);
    forwardClose(&s->fwd, forwardClosed);
}
