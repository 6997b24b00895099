/*
 * libraftcron: the client and its call loop (include/raftcron/client.h, DESIGN.md §6).
 *
 * A call is one request that may travel to several nodes before it gets its answer:
 *
 *   - it starts at the node that answered the previous call (the leader, usually), else at the
 *     first endpoint;
 *   - UNAVAILABLE with a leader hint comes from a follower that did not touch the request
 *     (rpcReplyNotLeader), so the call follows the hint at once, listed or not, at no cost —
 *     up to MAX_HOPS times in a row, after which hints chasing each other count as a failure;
 *   - a connect failure, a lost connection or UNAVAILABLE without a hint moves on to the next
 *     endpoint; once every endpoint failed in a row the call sleeps (50 ms, doubling, at most
 *     1 s) before the next round, until the deadline;
 *   - once a request may have reached a server, only an idempotent call is sent again: a write
 *     whose connection broke, or that got UNAVAILABLE without a hint (the server's "leadership
 *     lost, outcome unknown"), is reported as it is, never repeated, because repeating it could
 *     apply it twice — unless the answer says retryable: the server did not act on it (a node
 *     that is shutting down, a follower without a leader), so any call moves on.
 *
 * The deadline is measured on the monotonic clock; the request carries it as an absolute UTC
 * instant so that a server can drop work nobody waits for.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.pb-c.h"
#include "client_conn.h"
#include "client_internal.h"
#include "core/err.h"
#include "core/frame.h"
#include "net/tls.h"
#include "raftcron/client.h"

#define DEFAULT_TIMEOUT_US (10 * INT64_C(1000000))
#define BACKOFF_FIRST_US   (50 * INT64_C(1000))
#define BACKOFF_MAX_US     INT64_C(1000000)
#define MAX_HOPS           4
#define NO_INDEX           ((size_t)-1)
#define ERRMSG_SIZE        512

struct rc_client {
    char **endpoints; /* owned: "host:port" each */
    size_t n_endpoints;
    char *auth_token;    /* owned; "" when none */
    char *tls_files[3];  /* owned: CA, certificate, key; NULL when not given */
    struct tls_ctx *tls; /* owned, made at the first connection; NULL: plain */
    int64_t timeout_us;
    char *last_node; /* owned: the node that answered the last call, or NULL */
    uint32_t stream; /* last stream id used on any connection */
    struct client_conn conn;
    int status; /* enum rc_status of the last call */
    char errmsg[ERRMSG_SIZE];
};

/* One call on its way (see the comment at the top). */
struct call {
    const char *method;
    const void *req;
    size_t req_len;
    bool idempotent;
    bool maybe_applied; /* an earlier attempt was sent and its answer lost */
    int64_t deadline;   /* monotonic */
    int64_t backoff_us;
    size_t misses; /* endpoints that failed since the last pause */
    unsigned hops; /* hints followed in a row */
    size_t index;  /* endpoint of the current round, or NO_INDEX */
    char target[CLIENT_ADDR_MAX];
    int fatal;              /* the TLS files cannot be used: no endpoint can help */
    int last_code;          /* RC_EIO (transport), RC_ENOTLEADER (told UNAVAILABLE), or
                               the local error of STEP_ERROR */
    char last[ERRMSG_SIZE]; /* why the last attempt failed */
};

enum step {
    STEP_REPLY,   /* a final answer */
    STEP_HINT,    /* follow the leader hint now in target */
    STEP_NEXT,    /* nothing applied (or idempotent): try the next endpoint */
    STEP_LOST,    /* the request may have been applied and cannot be sent again */
    STEP_TIMEOUT, /* the deadline passed while a request was out */
    STEP_ERROR,   /* a local failure; status and message are set */
};

int clientFail(struct rc_client *c, int code, int status, const char *fmt, ...)
{
    if (c == NULL) {
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    c->status = status;
    return code;
}

/* ---- Opening --------------------------------------------------------------------------------- */

static void freeEndpoints(struct rc_client *c)
{
    for (size_t i = 0; i < c->n_endpoints; i++) {
        free(c->endpoints[i]);
    }
    free(c->endpoints);
}

/* One entry of "h:p, h:p": blanks around it are dropped, an empty one is an error. */
static int addEndpoint(struct rc_client *c, const char *start, size_t len)
{
    while (len > 0 && (*start == ' ' || *start == '\t')) {
        start++;
        len--;
    }
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t')) {
        len--;
    }
    char host[CLIENT_ADDR_MAX], port[8];
    char *addr = len > 0 && len < CLIENT_ADDR_MAX ? strndup(start, len) : NULL;
    if (addr == NULL) {
        return len > 0 && len < CLIENT_ADDR_MAX ? RC_ENOMEM : RC_EINVAL;
    }
    if (clientConnSplitAddr(addr, host, sizeof host, port, sizeof port) != 0) {
        free(addr);
        return RC_EINVAL;
    }
    c->endpoints[c->n_endpoints++] = addr;
    return 0;
}

static int parseEndpoints(struct rc_client *c, const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p != '\0'; p++) {
        n += *p == ',';
    }
    c->endpoints = calloc(n, sizeof *c->endpoints);
    if (c->endpoints == NULL) {
        return RC_ENOMEM;
    }
    const char *start = list;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);
        int rv = addEndpoint(c, start, len);
        if (rv != 0 || comma == NULL) {
            return rv;
        }
        start = comma + 1;
    }
}

int rc_client_open(const struct rc_client_options *opts, struct rc_client **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (opts == NULL || out == NULL || opts->endpoints == NULL || opts->timeout_us < 0) {
        return RC_EINVAL;
    }
    struct rc_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return RC_ENOMEM;
    }
    clientConnInit(&c->conn);
    c->timeout_us = opts->timeout_us > 0 ? opts->timeout_us : DEFAULT_TIMEOUT_US;
    c->status = RC_STATUS_OK;
    int rv = parseEndpoints(c, opts->endpoints);
    if (rv != 0) {
        goto err_after_alloc;
    }
    c->auth_token = strdup(opts->auth_token != NULL ? opts->auth_token : "");
    if (c->auth_token == NULL) {
        rv = RC_ENOMEM;
        goto err_after_alloc;
    }
    const char *files[3] = {opts->ca_file, opts->cert_file, opts->key_file};
    for (int i = 0; i < 3; i++) {
        if (files[i] != NULL && files[i][0] != '\0' &&
            (c->tls_files[i] = strdup(files[i])) == NULL) {
            rv = RC_ENOMEM;
            goto err_after_alloc;
        }
    }
    if (c->tls_files[0] == NULL && (c->tls_files[1] != NULL || c->tls_files[2] != NULL)) {
        rv = RC_EINVAL; /* a certificate needs the CA to verify the server with */
        goto err_after_alloc;
    }
    *out = c;
    return 0;

err_after_alloc:
    for (int i = 0; i < 3; i++) {
        free(c->tls_files[i]);
    }
    free(c->auth_token);
    freeEndpoints(c);
    free(c);
    return rv;
}

void rc_client_close(struct rc_client *c)
{
    if (c == NULL) {
        return;
    }
    clientConnClose(&c->conn);
    freeEndpoints(c);
    if (c->auth_token != NULL) {
        memset(c->auth_token, 0, strlen(c->auth_token));
    }
    free(c->auth_token);
    for (int i = 0; i < 3; i++) {
        free(c->tls_files[i]);
    }
    tlsCtxClose(c->tls);
    free(c->last_node);
    free(c);
}

int rc_client_status(const struct rc_client *c)
{
    return c != NULL ? c->status : RC_STATUS_UNKNOWN;
}

const char *rc_client_errmsg(const struct rc_client *c)
{
    return c != NULL ? c->errmsg : "no client";
}

void rc_message_free(void *message)
{
    if (message != NULL) {
        protobuf_c_message_free_unpacked(message, NULL);
    }
}

/* ---- One attempt ----------------------------------------------------------------------------- */

static int64_t wallNowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t nextStream(struct rc_client *c)
{
    if (++c->stream == 0) {
        c->stream = 1;
    }
    return c->stream;
}

static int packRequest(struct rc_client *c, const struct call *k, uint32_t stream, uint8_t **frame,
                       size_t *len)
{
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = (char *)k->method;
    req.deadline_us = wallNowUs() + (k->deadline - clientConnNow());
    req.auth_token = c->auth_token;
    req.payload.data = (uint8_t *)k->req;
    req.payload.len = k->req_len;
    char err[RC_ERRMSG_SIZE];
    int rv = framePack(RC_FRAME_REQUEST, stream, &req.base, frame, len, err, sizeof err);
    if (rv != 0) {
        return clientFail(c, rv, RC_STATUS_INVALID_ARGUMENT, "%s: %s", k->method, err);
    }
    return 0;
}

/* The TLS context, made on first use when the client has TLS files. Returns 0 or an RC_E* code
 * with why. */
static int ensureTls(struct rc_client *c, char *why, size_t len)
{
    if (c->tls_files[0] == NULL || c->tls != NULL) {
        return 0;
    }
    struct tls_files f = {c->tls_files[0], c->tls_files[1], c->tls_files[2]};
    return tlsCtxOpen(&f, TLS_CLIENT, TLS_PEER_REQUIRED, &c->tls, why, len);
}

static int connectTarget(struct rc_client *c, struct call *k)
{
    if (strcmp(c->conn.addr, k->target) == 0 && clientConnUsable(&c->conn)) {
        return 0;
    }
    char why[RC_ERRMSG_SIZE];
    int rv = ensureTls(c, why, sizeof why);
    if (rv != 0) {
        k->fatal = clientFail(c, rv, RC_STATUS_FAILED_PRECONDITION, "%s", why);
        return rv;
    }
    return clientConnOpen(&c->conn, k->target, c->tls, k->deadline, k->last, sizeof k->last);
}

static enum step lost(struct call *k, int rv)
{
    if (rv == RC_ETIMEOUT) {
        return STEP_TIMEOUT;
    }
    k->last_code = RC_EIO;
    k->maybe_applied = true;
    return k->idempotent ? STEP_NEXT : STEP_LOST;
}

/* A conflict answer to a repeated call may be the effect of our own earlier attempt (a
 * create-only put that did create, a compare-and-set that did set): say so, since the caller
 * cannot tell it from a conflict with someone else. */
static bool conflict(int status)
{
    return status == RC_STATUS_ALREADY_EXISTS || status == RC_STATUS_FAILED_PRECONDITION ||
           status == RC_STATUS_NOT_FOUND || status == RC_STATUS_ABORTED;
}

static size_t indexOf(const struct rc_client *c, const char *addr);

/* Whether the client may carry its request to hint: an address it was given, or a server that
 * must prove its identity (TLS), or nothing secret travels (no token). A token in clear text
 * is never sent to an address a server named. */
static bool hintTrusted(const struct rc_client *c, const char *hint)
{
    return indexOf(c, hint) != NO_INDEX || c->tls_files[0] != NULL || c->auth_token[0] == '\0';
}

/* An UNAVAILABLE answer: follow its hint, or treat it as this node failing. */
static enum step unavailable(struct rc_client *c, struct call *k, const Raftcron__Response *resp)
{
    const char *hint = resp->leader_hint;
    if (hint[0] != '\0' && strcmp(hint, k->target) != 0 && strlen(hint) < sizeof k->target &&
        hintTrusted(c, hint)) {
        snprintf(k->target, sizeof k->target, "%s", hint);
        return STEP_HINT;
    }
    snprintf(k->last, sizeof k->last, "%.300s: %.200s", k->target,
             resp->message[0] != '\0' ? resp->message : "unavailable");
    k->last_code = RC_ENOTLEADER;
    return k->idempotent || resp->retryable ? STEP_NEXT : STEP_REPLY;
}

static enum step attempt(struct rc_client *c, struct call *k, Raftcron__Response **resp)
{
    if (connectTarget(c, k) != 0) {
        if (k->fatal != 0) {
            k->last_code = k->fatal;
            return STEP_ERROR;
        }
        k->last_code = RC_EIO;
        return STEP_NEXT;
    }
    uint32_t stream = nextStream(c);
    uint8_t *frame;
    size_t len;
    int rv = packRequest(c, k, stream, &frame, &len);
    if (rv != 0) {
        k->last_code = rv;
        return STEP_ERROR;
    }
    rv = clientConnSend(&c->conn, frame, len, k->deadline, k->last, sizeof k->last);
    free(frame);
    if (rv == 0) {
        rv = clientConnAwait(&c->conn, stream, k->deadline, resp, k->last, sizeof k->last);
    }
    if (rv != 0) {
        return lost(k, rv);
    }
    if ((*resp)->status != RC_STATUS_UNAVAILABLE) {
        return STEP_REPLY;
    }
    enum step s = unavailable(c, k, *resp);
    if (s != STEP_REPLY) {
        raftcron__response__free_unpacked(*resp, NULL);
        *resp = NULL;
    }
    return s;
}

/* ---- The call loop --------------------------------------------------------------------------- */

static size_t indexOf(const struct rc_client *c, const char *addr)
{
    for (size_t i = 0; i < c->n_endpoints; i++) {
        if (strcmp(c->endpoints[i], addr) == 0) {
            return i;
        }
    }
    return NO_INDEX;
}

static void startAt(const struct rc_client *c, struct call *k)
{
    const char *first = c->last_node != NULL ? c->last_node : c->endpoints[0];
    snprintf(k->target, sizeof k->target, "%s", first);
    k->index = indexOf(c, first);
}

/* The current node failed: forget it as the place to start, move to the next endpoint. */
static void advance(struct rc_client *c, struct call *k)
{
    free(c->last_node);
    c->last_node = NULL;
    k->index = k->index == NO_INDEX ? 0 : (k->index + 1) % c->n_endpoints;
    snprintf(k->target, sizeof k->target, "%s", c->endpoints[k->index]);
    k->misses++;
}

/* After a whole round of failures, wait before the next. False when the deadline has passed. */
static bool pause(struct call *k, size_t n_endpoints)
{
    if (k->misses >= n_endpoints) {
        int64_t left = k->deadline - clientConnNow();
        int64_t us = k->backoff_us < left ? k->backoff_us : left;
        if (us > 0) {
            struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        k->backoff_us = k->backoff_us * 2 < BACKOFF_MAX_US ? k->backoff_us * 2 : BACKOFF_MAX_US;
        k->misses = 0;
    }
    return clientConnNow() < k->deadline;
}

static int mapStatus(int status)
{
    switch (status) {
    case RC_STATUS_OK:
        return 0;
    case RC_STATUS_NOT_FOUND:
        return RC_ENOTFOUND;
    case RC_STATUS_ALREADY_EXISTS:
        return RC_EEXISTS;
    case RC_STATUS_ABORTED:
    case RC_STATUS_FAILED_PRECONDITION:
        return RC_ESTALE;
    case RC_STATUS_INVALID_ARGUMENT:
        return RC_EINVAL;
    case RC_STATUS_DEADLINE_EXCEEDED:
        return RC_ETIMEOUT;
    case RC_STATUS_UNAVAILABLE:
        return RC_ENOTLEADER;
    case RC_STATUS_UNAUTHENTICATED:
    case RC_STATUS_PERMISSION_DENIED:
        return RC_EDENIED;
    default:
        return RC_EINTERNAL;
    }
}

static int finish(struct rc_client *c, const struct call *k, Raftcron__Response *resp, void **out,
                  size_t *out_len)
{
    c->status = (int)resp->status;
    snprintf(c->errmsg, sizeof c->errmsg, "%s%s", resp->message,
             k->maybe_applied && conflict(c->status)
                 ? " (an earlier attempt of this call was sent and may have been applied: its "
                   "outcome is unknown)"
                 : "");
    int rv = mapStatus(c->status);
    if (c->status != RC_STATUS_UNAVAILABLE) {
        free(c->last_node);
        c->last_node = strdup(k->target); /* NULL only costs the next call a detour */
    }
    if (rv == 0) {
        *out = malloc(resp->payload.len > 0 ? resp->payload.len : 1);
        if (*out == NULL) {
            rv = clientFail(c, RC_ENOMEM, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        } else if (resp->payload.len > 0) {
            memcpy(*out, resp->payload.data, resp->payload.len);
        }
        *out_len = *out != NULL ? resp->payload.len : 0;
    }
    raftcron__response__free_unpacked(resp, NULL);
    return rv;
}

static int outOfTime(struct rc_client *c, const struct call *k, int64_t timeout_us)
{
    double s = (double)timeout_us / 1e6;
    if (k->last_code == RC_ENOTLEADER) {
        return clientFail(c, RC_ENOTLEADER, RC_STATUS_UNAVAILABLE,
                          "unavailable: no leader answered within %gs (last: %s)", s, k->last);
    }
    return clientFail(c, RC_EIO, RC_STATUS_UNAVAILABLE,
                      "unavailable: no endpoint answered within %gs (last: %s)", s, k->last);
}

int rc_client_call(struct rc_client *c, const char *method, const void *req, size_t req_len,
                   void **resp, size_t *resp_len, int idempotent)
{
    if (c == NULL || method == NULL || (req == NULL && req_len > 0) || resp == NULL ||
        resp_len == NULL) {
        return c != NULL ? clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "bad arguments")
                         : RC_EINVAL;
    }
    *resp = NULL;
    *resp_len = 0;
    struct call k = {.method = method,
                     .req = req,
                     .req_len = req_len,
                     .idempotent = idempotent != 0,
                     .backoff_us = BACKOFF_FIRST_US,
                     .last_code = RC_EIO};
    k.deadline = clientConnNow() + c->timeout_us;
    startAt(c, &k);
    for (;;) {
        Raftcron__Response *r = NULL;
        switch (attempt(c, &k, &r)) {
        case STEP_REPLY:
            return finish(c, &k, r, resp, resp_len);
        case STEP_HINT:
            if (++k.hops <= MAX_HOPS) {
                continue;
            }
            /* Hints chasing each other: an election is going on; pause like after a round. */
            snprintf(k.last, sizeof k.last, "leader hints lead in a circle (last: %.300s)",
                     k.target);
            k.last_code = RC_ENOTLEADER;
            k.hops = 0;
            k.misses = c->n_endpoints;
            break;
        case STEP_NEXT:
            k.hops = 0;
            advance(c, &k);
            break;
        case STEP_LOST:
            return clientFail(c, RC_EIO, RC_STATUS_UNAVAILABLE,
                              "%s (%s was sent and may have been applied: its outcome is unknown)",
                              k.last, method);
        case STEP_TIMEOUT:
            return clientFail(c, RC_ETIMEOUT, RC_STATUS_DEADLINE_EXCEEDED, "%s%s", k.last,
                              k.idempotent ? ""
                                           : " (the request may have been applied: its "
                                             "outcome is unknown)");
        case STEP_ERROR:
            return k.last_code;
        }
        if (!pause(&k, c->n_endpoints)) {
            return outOfTime(c, &k, c->timeout_us);
        }
    }
}

/* ---- Events.Watch ---------------------------------------------------------------------------- */

/* Where a watch is in the stream: what it delivered, and where it resumes after a lost
 * connection (after the last entry it saw whole, skipping what it already had of the next). */
struct watch {
    rc_event_cb cb;
    void *data;
    uint64_t seen_index; /* the entry of the last event delivered */
    uint64_t seen_count; /* events of that entry delivered */
    uint64_t complete;   /* the last entry delivered whole: resume after it */
    uint64_t skip;       /* after a resume: events of seen_index to pass over */
    int rv;
};

static int watchPush(void *data, const uint8_t *payload, size_t len)
{
    struct watch *w = data;
    Raftcron__EventBatch *b = raftcron__event_batch__unpack(NULL, len, payload);
    if (b == NULL) {
        w->rv = RC_EPARSE;
        return 1;
    }
    int stop = 0;
    if (b->gap) {
        stop = w->cb(w->data, NULL, b->oldest_index);
    }
    for (size_t i = 0; i < b->n_events && stop == 0; i++) {
        const Raftcron__Event *e = b->events[i];
        if (e->index == w->seen_index && w->skip > 0) {
            w->skip--;
            continue;
        }
        if (e->index != w->seen_index) {
            w->complete = w->seen_index;
            w->seen_index = e->index;
            w->seen_count = 0;
            w->skip = 0;
        }
        w->seen_count++;
        stop = w->cb(w->data, e, 0);
    }
    raftcron__event_batch__free_unpacked(b, NULL);
    return stop;
}

/* One connection's watch. Returns 0 to try another endpoint, or the final result (*done). */
static int watchOnce(struct rc_client *c, const char *addr, const Raftcron__WatchRequest *req,
                     struct watch *w, bool *done)
{
    struct client_conn cc;
    clientConnInit(&cc);
    char err[ERRMSG_SIZE];
    *done = false;
    int trv = ensureTls(c, err, sizeof err);
    if (trv != 0) {
        *done = true;
        return clientFail(c, trv, RC_STATUS_FAILED_PRECONDITION, "%s", err);
    }
    if (clientConnOpen(&cc, addr, c->tls, clientConnNow() + c->timeout_us, err, sizeof err) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", err);
        return 0;
    }
    uint8_t payload[512];
    size_t plen = raftcron__watch_request__get_packed_size(req);
    Raftcron__Request r = RAFTCRON__REQUEST__INIT;
    r.method = "Events.Watch";
    r.auth_token = c->auth_token;
    raftcron__watch_request__pack(req, payload);
    r.payload.data = payload;
    r.payload.len = plen;
    uint8_t *frame;
    size_t flen;
    uint32_t stream = nextStream(c);
    int rv = framePack(RC_FRAME_REQUEST, stream, &r.base, &frame, &flen, err, sizeof err);
    if (rv == 0) {
        rv = clientConnSend(&cc, frame, flen, clientConnNow() + c->timeout_us, err, sizeof err);
        free(frame);
    }
    Raftcron__Response *resp = NULL;
    while (rv == 0) {
        rv = clientConnAwaitPush(&cc, stream, clientConnNow() + 1000000, watchPush, w, &resp, err,
                                 sizeof err);
        if (rv == RC_ETIMEOUT) {
            rv = 0; /* quiet: keep waiting */
            continue;
        }
        break;
    }
    clientConnClose(&cc);
    if (rv == RC_ECANCELED) {
        *done = true;
        return w->rv;
    }
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", err);
        return 0;
    }
    c->status = (int)resp->status;
    snprintf(c->errmsg, sizeof c->errmsg, "%s", resp->message);
    rv = resp->status == RC_STATUS_UNAVAILABLE ? 0 : mapStatus((int)resp->status);
    *done = rv != 0;
    raftcron__response__free_unpacked(resp, NULL);
    return rv;
}

int rc_events_watch(struct rc_client *c, const char *ns, const char *job, uint64_t after_index,
                    rc_event_cb cb, void *data)
{
    if (c == NULL || cb == NULL) {
        return c != NULL ? clientFail(c, RC_EINVAL, RC_STATUS_INVALID_ARGUMENT, "bad arguments")
                         : RC_EINVAL;
    }
    struct watch w = {.cb = cb, .data = data, .seen_index = after_index, .complete = after_index};
    Raftcron__WatchRequest req = RAFTCRON__WATCH_REQUEST__INIT;
    req.namespace_ = (char *)(ns != NULL ? ns : "");
    req.job = (char *)(job != NULL ? job : "");
    size_t at = c->last_node != NULL ? indexOf(c, c->last_node) : 0;
    at = at == NO_INDEX ? 0 : at;
    int64_t failing_since = clientConnNow();
    int64_t backoff = BACKOFF_FIRST_US;
    for (size_t tries = 0;; tries++) {
        req.after_index = w.complete;
        w.skip = w.seen_count;
        bool done;
        const char *addr = c->endpoints[(at + tries) % c->n_endpoints];
        int64_t started = clientConnNow();
        int rv = watchOnce(c, addr, &req, &w, &done);
        if (done) {
            return rv;
        }
        int64_t now = clientConnNow();
        if (now - started > c->timeout_us) {
            failing_since = now; /* it was a working watch: a new stretch of failures */
            backoff = BACKOFF_FIRST_US;
        }
        if (now - failing_since > c->timeout_us) {
            char last[ERRMSG_SIZE];
            snprintf(last, sizeof last, "%s", c->errmsg);
            return clientFail(c, RC_EIO, RC_STATUS_UNAVAILABLE,
                              "unavailable: no endpoint kept the watch within %gs (last: %.300s)",
                              (double)c->timeout_us / 1e6, last);
        }
        if ((tries + 1) % c->n_endpoints == 0) {
            struct timespec ts = {.tv_sec = backoff / 1000000,
                                  .tv_nsec = (backoff % 1000000) * 1000};
            nanosleep(&ts, NULL);
            backoff = backoff * 2 < BACKOFF_MAX_US ? backoff * 2 : BACKOFF_MAX_US;
        }
    }
}
