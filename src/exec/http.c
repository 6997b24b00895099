/* The HTTP executor: libcurl's multi interface driven by the node's libuv loop. The rules are in
 * exec.h and docs/executors.md; this file says why the code is shaped the way it is.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION → one uv_poll per socket)
 * and when to call it back without socket activity (CURLMOPT_TIMERFUNCTION → one uv_timer);
 * we hand every event back with curl_multi_socket_action and collect finished transfers with
 * curl_multi_info_read. One thread, no blocking call: a thousand requests in flight cost a
 * thousand sockets, not a thousand threads. */
#include "exec.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <uv.h>

#include "core/confparse.h"
#include "core/timefmt.h"

/* ---- State machine (STYLE.md §9) -------------------------------------------------------- */

enum reqState {
    REQ_PENDING, /* built, waiting for its turn to enter the multi handle */
    REQ_ACTIVE,  /* the easy handle is in the multi handle */
    REQ_ENDING,  /* out of the multi (finished or cancelled), result final; done is queued */
    REQ_DONE,    /* done called */
    REQ__N
};
static const char *const reqNames[REQ__N] = {"PENDING", "ACTIVE", "ENDING", "DONE"};
static const bool reqMoves[REQ__N][REQ__N] = {
    [REQ_PENDING] = {[REQ_ACTIVE] = true, [REQ_ENDING] = true},
    [REQ_ACTIVE] = {[REQ_ENDING] = true},
    [REQ_ENDING] = {[REQ_DONE] = true},
};

struct http {
    struct exec_backend *b; /* borrowed: the interface we implement */
    uv_loop_t *loop;        /* borrowed */
    CURLM *multi;           /* owned */
    uv_timer_t timer;       /* libcurl's multi timer */
    uv_idle_t turn;         /* admits pending requests and runs queued done callbacks */
    bool trace;
    bool closing;
    exec_close_cb close_cb;
    struct req *reqs;    /* done not yet called */
    struct req *pending; /* PENDING requests, in start order */
    struct req **pending_tail;
    struct req *ending; /* ENDING requests, in order */
    struct req **ending_tail;
    struct sock *socks; /* watched sockets */
    struct sock *ready; /* sockets with events for libcurl, oldest first */
    struct sock *ready_last;
    size_t in_flight;
    unsigned handles; /* uv handles whose close callback has not fired */
    char *ca_file;    /* owned, may be NULL */
    char *ca_path;    /* owned, may be NULL */
    char *user_agent; /* owned */
    int64_t timeout_default_us;
    unsigned max_connections;
};

/* One socket libcurl asked us to watch. */
struct sock {
    uv_poll_t poll;
    struct http *ht; /* borrowed */
    curl_socket_t fd;
    struct sock *prev, *next;
    int events;                           /* UV_READABLE/UV_WRITABLE libcurl asked for */
    int ready;                            /* CURL_CSELECT_* seen and not yet handed to libcurl */
    struct sock *ready_prev, *ready_next; /* in http.ready while ready != 0 */
};

struct req {
    struct exec_handle h; /* first: the handle given to the caller is the request */
    struct http *ht;      /* borrowed */
    struct req *prev, *next;
    struct req *queue_next; /* in pending or ending */
    enum reqState state;
    exec_done_cb done;
    CURL *easy;                 /* owned */
    struct curl_slist *headers; /* owned */
    uint32_t *expect;           /* owned copy of expect_codes */
    size_t n_expect;
    struct exec_tail tail;
    struct exec_result res;
    char errbuf[CURL_ERROR_SIZE];
};

static void trace(const struct http *ht, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace(const struct http *ht, const char *fmt, ...)
{
    if (!ht->trace) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "exec http: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* An illegal move is a bug in this file: stop in every build. */
static void reqMove(struct req *r, enum reqState to)
{
    if (!reqMoves[r->state][to]) {
        fprintf(stderr, "exec http: illegal request move %s -> %s\n", reqNames[r->state],
                reqNames[to]);
        abort();
    }
    trace(r->ht, "run %" PRIu64 ": %s -> %s", r->h.run_id, reqNames[r->state], reqNames[to]);
    r->state = to;
}

static int64_t wallNowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- Backend teardown ------------------------------------------------------------------- */

static void maybeClosed(struct http *ht)
{
    if (!ht->closing || ht->handles > 0 || ht->reqs != NULL) {
        return;
    }
    struct exec_backend *b = ht->b;
    exec_close_cb cb = ht->close_cb;
    free(ht->ca_file);
    free(ht->ca_path);
    free(ht->user_agent);
    free(ht);
    b->impl = NULL;
    if (cb != NULL) {
        cb(b);
    }
}

static void handleClosed(uv_handle_t *handle)
{
    struct http *ht = handle->data;
    assert(ht->handles > 0);
    ht->handles--;
    maybeClosed(ht);
}

static void sockClosed(uv_handle_t *handle)
{
    struct sock *k = handle->data;
    struct http *ht = k->ht;
    free(k);
    assert(ht->handles > 0);
    ht->handles--;
    maybeClosed(ht);
}

static void readyUnlink(struct sock *k)
{
    struct http *ht = k->ht;
    if (k->ready == 0) {
        return;
    }
    if (k->ready_prev != NULL) {
        k->ready_prev->ready_next = k->ready_next;
    } else {
        ht->ready = k->ready_next;
    }
    if (k->ready_next != NULL) {
        k->ready_next->ready_prev = k->ready_prev;
    } else {
        ht->ready_last = k->ready_prev;
    }
    k->ready_prev = k->ready_next = NULL;
    k->ready = 0;
}

static void sockDrop(struct sock *k)
{
    struct http *ht = k->ht;
    readyUnlink(k);
    if (k->prev != NULL) {
        k->prev->next = k->next;
    } else {
        ht->socks = k->next;
    }
    if (k->next != NULL) {
        k->next->prev = k->prev;
    }
    uv_poll_stop(&k->poll);
    uv_close((uv_handle_t *)&k->poll, sockClosed);
}

/* The last request is gone and close() was called: release libcurl, then our handles. Sockets
 * still watched (idle connections of libcurl's cache) are let go before libcurl closes them. */
static void teardown(struct http *ht)
{
    while (ht->socks != NULL) {
        curl_multi_assign(ht->multi, ht->socks->fd, NULL);
        sockDrop(ht->socks);
    }
    curl_multi_cleanup(ht->multi);
    ht->multi = NULL;
    while (ht->socks != NULL) { /* cleanup may have asked for more; they are closed now */
        sockDrop(ht->socks);
    }
    uv_close((uv_handle_t *)&ht->timer, handleClosed);
    uv_close((uv_handle_t *)&ht->turn, handleClosed);
}

/* ---- Ending a request ------------------------------------------------------------------- */

static void reqFree(struct req *r)
{
    if (r->easy != NULL) {
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->headers);
    free(r->expect);
    execTailClose(&r->tail);
    free(r);
}

static void unlinkReq(struct req *r)
{
    struct http *ht = r->ht;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        ht->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    ht->in_flight--;
}

/* Call done and free the request. The result is complete before this. */
static void finish(struct req *r)
{
    struct http *ht = r->ht;
    reqMove(r, REQ_DONE);
    unlinkReq(r);
    r->res.finished_us = wallNowUs();
    execResultFromTail(&r->res, &r->tail);
    r->done(&r->h, &r->res, r->h.data);
    reqFree(r);
    if (ht->closing && ht->reqs == NULL && ht->multi != NULL) {
        teardown(ht);
    }
}

/* The idle handle does the executor's work in slices: per turn of the loop it admits at most
 * ADMIT_BATCH new requests into libcurl (counted, not timed: libcurl's next timer callback
 * connects all those admitted, outside this budget), then hands socket events to libcurl (a
 * thousand answers arriving together are a thousand readable sockets in one poll) and runs done
 * callbacks, one of each in turn, until TURN_BUDGET_NS has passed. A thousand runs started, or
 * answered, at the same instant are spread over turns, and timers (the firing of other runs)
 * are served in between. At least one item of each kind is done per turn, so work always
 * progresses. */
#define ADMIT_BATCH    16
#define TURN_BUDGET_NS 2000000 /* 2 ms */

static struct req *queuePop(struct req **head, struct req ***tail)
{
    struct req *r = *head;
    *head = r->queue_next;
    if (*head == NULL) {
        *tail = head;
    }
    r->queue_next = NULL;
    return r;
}

static void queuePush(struct req ***tail, struct req *r)
{
    r->queue_next = NULL;
    **tail = r;
    *tail = &r->queue_next;
}

static void endLater(struct req *r);

static void admit(struct req *r)
{
    struct http *ht = r->ht;
    CURLMcode mc = curl_multi_add_handle(ht->multi, r->easy);
    if (mc != CURLM_OK) {
        r->res.start_failed = true;
        snprintf(r->res.error, sizeof r->res.error, "curl_multi_add_handle: %s",
                 curl_multi_strerror(mc));
        endLater(r);
        return;
    }
    reqMove(r, REQ_ACTIVE);
    r->res.started_us = wallNowUs();
}

static void checkInfo(struct http *ht);
static void onPoll(uv_poll_t *p, int status, int events);

/* Hand the oldest ready socket's events to libcurl. */
static void socketEvent(struct http *ht)
{
    struct sock *k = ht->ready;
    int flags = k->ready;
    readyUnlink(k);
    int running;
    curl_multi_socket_action(ht->multi, k->fd, flags, &running);
    /* Watch it again, for what libcurl wants now (unless it let the socket go: then the handle
     * is closing, and its memory lives until the close callback). */
    if (!uv_is_closing((uv_handle_t *)&k->poll) && k->events != 0) {
        uv_poll_start(&k->poll, k->events, onPoll);
    }
    checkInfo(ht);
}

static void onTurn(uv_idle_t *idle)
{
    struct http *ht = idle->data;
    uint64_t until = uv_hrtime() + TURN_BUDGET_NS;
    for (int n = 0; n < ADMIT_BATCH && ht->pending != NULL; n++) {
        admit(queuePop(&ht->pending, &ht->pending_tail));
    }
    bool more;
    do {
        more = false;
        if (ht->ready != NULL && ht->multi != NULL) {
            socketEvent(ht);
            more = true;
        }
        if (ht->ending != NULL) {
            finish(queuePop(&ht->ending, &ht->ending_tail));
            more = true;
        }
    } while (more && uv_hrtime() < until);
    if (ht->pending == NULL && ht->ending == NULL && ht->ready == NULL && ht->multi != NULL) {
        uv_idle_stop(&ht->turn);
    }
}

/* Take the request out of libcurl and report it on a later turn of the loop: done never runs
 * inside start() or cancel(), so close() can walk the list while it cancels. */
static void endLater(struct req *r)
{
    struct http *ht = r->ht;
    if (r->state == REQ_ACTIVE) {
        curl_multi_remove_handle(ht->multi, r->easy);
    } else if (r->state == REQ_PENDING) {
        struct req **p = &ht->pending;
        while (*p != r) {
            p = &(*p)->queue_next;
        }
        *p = r->queue_next;
        if (*p == NULL) {
            ht->pending_tail = p;
        }
    }
    reqMove(r, REQ_ENDING);
    queuePush(&ht->ending_tail, r);
    uv_idle_start(&ht->turn, onTurn);
}

static bool expected(const struct req *r, unsigned status)
{
    if (r->n_expect == 0) {
        return status >= 200 && status <= 299;
    }
    for (size_t i = 0; i < r->n_expect; i++) {
        if (r->expect[i] == status) {
            return true;
        }
    }
    return false;
}

static void describeExpected(const struct req *r, char *buf, size_t len)
{
    if (r->n_expect == 0) {
        snprintf(buf, len, "2xx");
        return;
    }
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_expect && n < len; i++) {
        n += (size_t)snprintf(buf + n, len - n, "%s%" PRIu32, i == 0 ? "" : ",", r->expect[i]);
    }
}

static int64_t infoUs(CURL *easy, CURLINFO what)
{
    curl_off_t v = 0;
    return curl_easy_getinfo(easy, what, &v) == CURLE_OK ? (int64_t)v : 0;
}

static void collectTimings(struct req *r)
{
    struct exec_http_timings *t = &r->res.timings;
    t->dns_us = infoUs(r->easy, CURLINFO_NAMELOOKUP_TIME_T);
    t->connect_us = infoUs(r->easy, CURLINFO_CONNECT_TIME_T);
    t->tls_us = infoUs(r->easy, CURLINFO_APPCONNECT_TIME_T);
    t->first_byte_us = infoUs(r->easy, CURLINFO_STARTTRANSFER_TIME_T);
    t->total_us = infoUs(r->easy, CURLINFO_TOTAL_TIME_T);
}

/* libcurl finished the transfer with code: judge it. */
static void completed(struct req *r, CURLcode code)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->res.http_status = status > 0 && status < 1000 ? (unsigned)status : 0;
    collectTimings(r);
    if (code == CURLE_OK && expected(r, r->res.http_status)) {
        r->res.exit_code = 0;
    } else if (code == CURLE_OK) {
        char want[96];
        describeExpected(r, want, sizeof want);
        r->res.exit_code = 1;
        snprintf(r->res.error, sizeof r->res.error, "HTTP status %u, expected %s",
                 r->res.http_status, want);
    } else {
        r->res.exit_code = 1;
        r->res.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        /* libcurl's detail ("Failed to connect to … port …: Connection refused"), then its
         * category; cut at the buffer's end. */
        int n = snprintf(r->res.error, sizeof r->res.error, "%.180s (curl %d: %.48s)",
                         r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(code), (int)code,
                         curl_easy_strerror(code));
        (void)n;
    }
    trace(r->ht, "run %" PRIu64 ": curl %d, status %u", r->h.run_id, (int)code, r->res.http_status);
    endLater(r);
}

static void checkInfo(struct http *ht)
{
    CURLMsg *m;
    int left;
    while (ht->multi != NULL && (m = curl_multi_info_read(ht->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        struct req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        assert(r != NULL && r->state == REQ_ACTIVE);
        completed(r, m->data.result);
    }
}

/* ---- libcurl's socket and timer callbacks ----------------------------------------------- */

/* Note the event; libcurl gets it from the idle handle, within its budget per turn, in the
 * order sockets became ready. The socket is not watched while it waits its turn: epoll is
 * level-triggered, and a thousand waiting sockets reported at every turn would cost the loop
 * what the batching saves. */
static void onPoll(uv_poll_t *p, int status, int events)
{
    struct sock *k = p->data;
    struct http *ht = k->ht;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    if (flags == 0) {
        return;
    }
    if (k->ready == 0) {
        k->ready_prev = ht->ready_last;
        k->ready_next = NULL;
        if (ht->ready_last != NULL) {
            ht->ready_last->ready_next = k;
        } else {
            ht->ready = k;
        }
        ht->ready_last = k;
        uv_idle_start(&ht->turn, onTurn);
    }
    k->ready |= flags;
    uv_poll_stop(&k->poll);
}

static int onSocket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct http *ht = userp;
    struct sock *k = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (k != NULL) {
            curl_multi_assign(ht->multi, s, NULL);
            sockDrop(k);
        }
        return 0;
    }
    if (k == NULL) {
        k = calloc(1, sizeof *k);
        if (k == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(ht->loop, &k->poll, s) != 0) {
            free(k);
            return -1;
        }
        k->ht = ht;
        k->fd = s;
        k->poll.data = k;
        k->next = ht->socks;
        if (ht->socks != NULL) {
            ht->socks->prev = k;
        }
        ht->socks = k;
        ht->handles++;
        curl_multi_assign(ht->multi, s, k);
    }
    int events = 0;
    events |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    events |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    k->events = events;
    if (k->ready != 0) {
        return 0; /* waiting its turn: watched again after libcurl has it */
    }
    return uv_poll_start(&k->poll, events, onPoll) == 0 ? 0 : -1;
}

static void onTimer(uv_timer_t *t)
{
    struct http *ht = t->data;
    int running;
    curl_multi_socket_action(ht->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    checkInfo(ht);
}

static int onMultiTimer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http *ht = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&ht->timer);
    } else {
        uv_timer_start(&ht->timer, onTimer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static size_t onBody(char *data, size_t size, size_t n, void *userp)
{
    struct req *r = userp;
    execTailAppend(&r->tail, (const uint8_t *)data, size * n);
    return size * n;
}

/* ---- Building a request ----------------------------------------------------------------- */

/* Headers the executor sets itself; a job header of the same name is dropped. */
static const char *const reserved[] = {"Idempotency-Key", "X-Raftcron-Attempt",
                                       "X-Raftcron-Scheduled-At", "X-Raftcron-Fence",
                                       "X-Raftcron-Job"};

static bool isReserved(const char *name)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strcasecmp(name, reserved[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool validHeader(const char *s, bool name)
{
    if (name && *s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s == '\r' || *s == '\n' || (name && (*s <= ' ' || *s == ':'))) {
            return false;
        }
    }
    return true;
}

static int addHeader(struct curl_slist **list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int addHeader(struct curl_slist **list, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        return RC_ETOOBIG;
    }
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL) {
        return RC_ENOMEM;
    }
    *list = l;
    return 0;
}

static int buildHeaders(struct req *r, const struct exec_request *req, char *errmsg, size_t errlen)
{
    const Raftcron__HttpExec *x = req->spec->http;
    int rv;
    for (size_t i = 0; i < x->n_headers; i++) {
        const char *k = x->headers[i]->key, *v = x->headers[i]->value;
        if (!validHeader(k, true) || !validHeader(v, false)) {
            return errSet(errmsg, errlen, RC_EINVAL, "job %s: header \"%s\": bad name or value",
                          req->job, k);
        }
        if (isReserved(k)) {
            continue;
        }
        if ((rv = addHeader(&r->headers, "%s: %s", k, v)) != 0) {
            return errSet(errmsg, errlen, rv, "job %s: header \"%s\": %s", req->job, k,
                          rv == RC_ETOOBIG ? "longer than 1 KiB" : "out of memory");
        }
    }
    char at[RC_TIMEFMT_MAX];
    timefmtFormat(req->scheduled_us, 0, at);
    if ((rv = addHeader(&r->headers, "Idempotency-Key: %" PRIu64, req->run_id)) != 0 ||
        (rv = addHeader(&r->headers, "X-Raftcron-Attempt: %" PRIu32, req->attempt)) != 0 ||
        (rv = addHeader(&r->headers, "X-Raftcron-Scheduled-At: %s", at)) != 0 ||
        (rv = addHeader(&r->headers, "X-Raftcron-Fence: %" PRIu64, req->fence)) != 0 ||
        (rv = addHeader(&r->headers, "X-Raftcron-Job: %s", req->job)) != 0 ||
        /* No "Expect: 100-continue" round trip before a body. */
        (rv = addHeader(&r->headers, "Expect:")) != 0) {
        return errSet(errmsg, errlen, rv, "job %s: building headers: %s", req->job,
                      rc_strerror(rv));
    }
    return 0;
}

static uint64_t toMs(int64_t us)
{
    return (uint64_t)(us + 999) / 1000;
}

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                                           \
            return errSet(errmsg, errlen, RC_EINVAL, "job %s: curl option " #opt ": %s", req->job, \
                          r->errbuf[0] != '\0' ? r->errbuf : "refused");                           \
        }                                                                                          \
    } while (0)

/* The method and body: GET without a body, POST with one unless the job names a method. */
static int setMethod(struct req *r, const struct exec_request *req, char *errmsg, size_t errlen)
{
    CURL *e = r->easy;
    const Raftcron__HttpExec *x = req->spec->http;
    bool body = x->body.len > 0;
    const char *m = x->method != NULL && x->method[0] != '\0' ? x->method : body ? "POST" : "GET";
    if (strcmp(m, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
        return 0;
    }
    if (body || strcmp(m, "POST") == 0) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
        SET(CURLOPT_COPYPOSTFIELDS, body ? (const char *)x->body.data : "");
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0 && body) {
        SET(CURLOPT_CUSTOMREQUEST, "GET");
    }
    return 0;
}

static int setOptions(struct http *ht, struct req *r, const struct exec_request *req, char *errmsg,
                      size_t errlen)
{
    CURL *e = r->easy;
    const Raftcron__HttpExec *x = req->spec->http;
    int64_t timeout = req->timeout_us > 0 ? req->timeout_us : ht->timeout_default_us;
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_PRIVATE, (char *)r);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_URL, x->url);
    SET(CURLOPT_TIMEOUT_MS, (long)toMs(timeout));
    SET(CURLOPT_FOLLOWLOCATION, x->follow_redirects ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, (long)EXEC_HTTP_MAX_REDIRECTS);
    SET(CURLOPT_SSL_VERIFYPEER, x->tls_insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, x->tls_insecure ? 0L : 2L);
    const char *ca = x->ca_file != NULL && x->ca_file[0] != '\0' ? x->ca_file : ht->ca_file;
    if (ca != NULL) {
        SET(CURLOPT_CAINFO, ca);
    }
    if (ht->ca_path != NULL) {
        SET(CURLOPT_CAPATH, ht->ca_path);
    }
    SET(CURLOPT_USERAGENT, ht->user_agent);
    SET(CURLOPT_WRITEFUNCTION, onBody);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_HTTPHEADER, r->headers);
    return setMethod(r, req, errmsg, errlen);
}

#undef SET

static int checkSpec(const struct exec_request *req, char *errmsg, size_t errlen)
{
    const Raftcron__Executor *spec = req->spec;
    if (spec == NULL || spec->kind_case != RAFTCRON__EXECUTOR__KIND_HTTP || spec->http == NULL) {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: not an http executor", req->job);
    }
    const char *url = spec->http->url;
    if (url == NULL || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8))) {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: url must start with http:// or https://",
                      req->job);
    }
    return 0;
}

static struct req *reqNew(struct http *ht, const struct exec_request *req, exec_done_cb done,
                          void *data)
{
    struct req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    const Raftcron__HttpExec *x = req->spec->http;
    if (execTailInit(&r->tail, req->tail_max) != 0) {
        goto err_after_alloc;
    }
    if (x->n_expect_codes > 0) {
        r->expect = calloc(x->n_expect_codes, sizeof *r->expect);
        if (r->expect == NULL) {
            goto err_after_tail;
        }
        memcpy(r->expect, x->expect_codes, x->n_expect_codes * sizeof *r->expect);
        r->n_expect = x->n_expect_codes;
    }
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        goto err_after_expect;
    }
    r->ht = ht;
    r->h.backend = ht->b;
    r->h.run_id = req->run_id;
    r->h.data = data;
    r->done = done;
    r->res.exit_code = 1;
    r->state = REQ_PENDING;
    return r;

err_after_expect:
    free(r->expect);
err_after_tail:
    execTailClose(&r->tail);
err_after_alloc:
    free(r);
    return NULL;
}

static void linkReq(struct http *ht, struct req *r)
{
    r->next = ht->reqs;
    if (ht->reqs != NULL) {
        ht->reqs->prev = r;
    }
    ht->reqs = r;
    ht->in_flight++;
}

/* ---- start / cancel / close ------------------------------------------------------------- */

static int httpStart(struct exec_backend *b, const struct exec_request *in, exec_done_cb done,
                     void *data, struct exec_handle **out)
{
    struct http *ht = b->impl;
    struct exec_request req;
    int rv;
    if (ht == NULL || ht->closing) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ESHUTDOWN, "http executor is closing");
    }
    if ((rv = execRequestNormalize(in, &req, b->errmsg, sizeof b->errmsg)) != 0 ||
        (rv = checkSpec(&req, b->errmsg, sizeof b->errmsg)) != 0) {
        return rv;
    }
    struct req *r = reqNew(ht, &req, done, data);
    if (r == NULL) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "job %s: out of memory", req.job);
    }
    if ((rv = buildHeaders(r, &req, b->errmsg, sizeof b->errmsg)) != 0 ||
        (rv = setOptions(ht, r, &req, b->errmsg, sizeof b->errmsg)) != 0) {
        goto err_after_req;
    }
    linkReq(ht, r);
    queuePush(&ht->pending_tail, r);
    uv_idle_start(&ht->turn, onTurn);
    trace(ht, "run %" PRIu64 ": %s", r->h.run_id, req.spec->http->url);
    *out = &r->h;
    return 0;

err_after_req:
    assert(rv != 0);
    reqFree(r);
    return rv;
}

static void httpCancel(struct exec_handle *h)
{
    struct req *r = (struct req *)h;
    if (r->state != REQ_ACTIVE && r->state != REQ_PENDING) {
        return;
    }
    r->res.cancelled = true;
    r->res.exit_code = 1;
    collectTimings(r);
    snprintf(r->res.error, sizeof r->res.error, "cancelled");
    endLater(r);
}

static void httpClose(struct exec_backend *b, exec_close_cb close_cb)
{
    struct http *ht = b->impl;
    assert(ht != NULL && !ht->closing);
    ht->closing = true;
    ht->close_cb = close_cb;
    trace(ht, "closing with %zu requests in flight", ht->in_flight);
    for (struct req *r = ht->reqs; r != NULL; r = r->next) {
        httpCancel(&r->h);
    }
    if (ht->reqs == NULL) {
        teardown(ht);
    }
}

static pthread_once_t globalOnce = PTHREAD_ONCE_INIT;
static CURLcode globalRv;

static void globalInit(void)
{
    globalRv = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dupOrNull(const char *s, bool *failed)
{
    if (s == NULL || s[0] == '\0') {
        return NULL;
    }
    char *d = strdup(s);
    *failed |= d == NULL;
    return d;
}

static int setupMulti(struct http *ht)
{
    ht->multi = curl_multi_init();
    if (ht->multi == NULL) {
        return RC_ENOMEM;
    }
    curl_multi_setopt(ht->multi, CURLMOPT_SOCKETFUNCTION, onSocket);
    curl_multi_setopt(ht->multi, CURLMOPT_SOCKETDATA, ht);
    curl_multi_setopt(ht->multi, CURLMOPT_TIMERFUNCTION, onMultiTimer);
    curl_multi_setopt(ht->multi, CURLMOPT_TIMERDATA, ht);
    if (ht->max_connections > 0) {
        curl_multi_setopt(ht->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)ht->max_connections);
    }
    return 0;
}

int httpInit(struct exec_backend *b, uv_loop_t *loop, const struct http_options *o)
{
    const struct http_options none = {0};
    memset(b, 0, sizeof *b);
    o = o != NULL ? o : &none;
    pthread_once(&globalOnce, globalInit);
    if (globalRv != CURLE_OK) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_EINTERNAL, "curl_global_init: %s",
                      curl_easy_strerror(globalRv));
    }
    struct http *ht = calloc(1, sizeof *ht);
    if (ht == NULL) {
        return RC_ENOMEM;
    }
    bool failed = false;
    ht->ca_file = dupOrNull(o->ca_file, &failed);
    ht->ca_path = dupOrNull(o->ca_path, &failed);
    ht->user_agent = strdup(o->user_agent != NULL ? o->user_agent : "raftcron/" RC_VERSION_STRING);
    ht->timeout_default_us =
        o->timeout_default_us > 0 ? o->timeout_default_us : EXEC_HTTP_TIMEOUT_DEFAULT_US;
    ht->max_connections = o->max_connections;
    if (failed || ht->user_agent == NULL || setupMulti(ht) != 0) {
        free(ht->ca_file);
        free(ht->ca_path);
        free(ht->user_agent);
        free(ht);
        return RC_ENOMEM;
    }
    ht->b = b;
    ht->loop = loop;
    ht->trace = getenv("RAFTCRON_TRACE") != NULL;
    ht->pending_tail = &ht->pending;
    ht->ending_tail = &ht->ending;
    uv_timer_init(loop, &ht->timer);
    uv_idle_init(loop, &ht->turn);
    ht->timer.data = ht->turn.data = ht;
    ht->handles = 2;
    b->name = "http";
    b->impl = ht;
    b->start = httpStart;
    b->cancel = httpCancel;
    b->close = httpClose;
    return 0;
}

size_t httpInFlight(const struct exec_backend *b)
{
    const struct http *ht = b->impl;
    return ht == NULL ? 0 : ht->in_flight;
}
