#include "worker.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "core/runs.h"
#include "log.h"
#include "raftcron/client.h"
#include "rpc.h"
#include "rtimer.h"

#define WORKER_SCAN_MS         20
#define WORKER_HEARTBEAT_US    1000000
#define WORKER_RETRY_US        200000
#define WORKER_REFUSED_US      5000000 /* a refused hello is retried, but not in a tight loop */
#define WORKER_CALL_TIMEOUT_US 2000000

enum run_state { RUN_WAITING = 0, RUN_RUNNING, RUN_DONE, RUN_DROPPED };

struct worker_run {
    struct worker_run *next;
    struct worker *w;
    uint64_t run_id;
    uint64_t fence;
    enum run_state state;
    struct rtimer timer; /* start_at on the wall clock, sub-millisecond (rtimer.h) */
    bool timer_open;     /* initialised and not yet closed */
    bool timer_closing;  /* uv_close called, its callback not yet run */
    struct exec_handle *h;
};

struct worker_report {
    struct worker_report *next;
    const char *method;
    uint8_t *req; /* owned */
    size_t len;
};

/* What one thread-pool call carries: filled on the loop, used by the thread, read back. */
struct delivery {
    char endpoints[1024];
    const char *method;
    uint8_t *req; /* owned copy */
    size_t len;
    bool from_queue;
    int rc;
    int status;
    char msg[256];
};

static struct delivery cur; /* one node, one worker, one call at a time */

static int64_t now(void)
{
    return rpcNow();
}

/* ---- delivery to the leader ------------------------------------------------------------ */

static void enqueue(struct worker *w, const char *method, const ProtobufCMessage *msg)
{
    struct worker_report *r = calloc(1, sizeof *r);
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (r == NULL || buf == NULL) {
        free(r);
        free(buf);
        LOG_ERROR("worker: out of memory queueing a report");
        return;
    }
    protobuf_c_message_pack(msg, buf);
    r->method = method;
    r->req = buf;
    r->len = len;
    if (w->tail != NULL) {
        w->tail->next = r;
    } else {
        w->queue = r;
    }
    w->tail = r;
}

static void popQueue(struct worker *w)
{
    struct worker_report *r = w->queue;
    w->queue = r->next;
    if (w->queue == NULL) {
        w->tail = NULL;
    }
    free(r->req);
    free(r);
}

static void deliverWork(uv_work_t *req)
{
    (void)req;
    struct rc_client_options o = {
        .endpoints = cur.endpoints, .timeout_us = WORKER_CALL_TIMEOUT_US, .auth_token = NULL};
    struct worker *w = req->data;
    o.auth_token = w->me.auth_token;
    struct rc_client *c;
    cur.rc = rc_client_open(&o, &c);
    if (cur.rc != 0) {
        cur.status = RC_STATUS_INVALID_ARGUMENT;
        snprintf(cur.msg, sizeof cur.msg, "bad endpoints");
        return;
    }
    void *resp = NULL;
    size_t resp_len = 0;
    cur.rc = rc_client_call(c, cur.method, cur.req, cur.len, &resp, &resp_len, 1);
    cur.status = rc_client_status(c);
    snprintf(cur.msg, sizeof cur.msg, "%s", rc_client_errmsg(c));
    free(resp);
    rc_client_close(c);
}

static bool definite(int status)
{
    /* The leader answered and refused: stale fence or state, unknown run, bad request. */
    return status == RC_STATUS_FAILED_PRECONDITION || status == RC_STATUS_NOT_FOUND ||
           status == RC_STATUS_INVALID_ARGUMENT || status == RC_STATUS_ALREADY_EXISTS;
}

static void deliverDone(uv_work_t *req, int status)
{
    struct worker *w = req->data;
    (void)status;
    w->sending = false;
    free(cur.req);
    cur.req = NULL;
    if (cur.rc != 0 && !definite(cur.status)) {
        w->retry_at_us = now() + WORKER_RETRY_US;
        return;
    }
    if (cur.rc != 0 && strcmp(cur.method, "Worker.Hello") == 0) {
        LOG_ERROR("worker: hello refused", "error", "%s", cur.msg);
        w->retry_at_us = now() + WORKER_REFUSED_US;
    } else if (cur.rc != 0) {
        LOG_DEBUG("worker: report refused", "method", "%s", cur.method, "error", "%s", cur.msg);
    }
    if (cur.from_queue && w->queue != NULL) {
        popQueue(w);
    }
    if (strcmp(cur.method, "Worker.Heartbeat") == 0 && cur.rc == 0) {
        w->last_heartbeat_us = now();
    }
    if (strcmp(cur.method, "Worker.Hello") == 0 && cur.rc == 0) {
        w->hello_ok = true;
        w->last_heartbeat_us = now();
    }
    if (strcmp(cur.method, "Worker.Heartbeat") == 0 && cur.status == RC_STATUS_NOT_FOUND) {
        w->hello_ok = false; /* marked down meanwhile: say hello again */
    }
}

static void deliverCall(struct worker *w, const char *method, const uint8_t *req, size_t len,
                        bool from_queue)
{
    /* The thread gets its own copy: the queue may be freed by a close meanwhile. */
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, req, len);
    if (!w->src.endpoints(w->src.ctx, cur.endpoints, sizeof cur.endpoints)) {
        free(copy);
        return;
    }
    cur.method = method;
    cur.req = copy;
    cur.len = len;
    cur.from_queue = from_queue;
    w->sending = true;
    w->work.data = w;
    if (uv_queue_work(w->loop, &w->work, deliverWork, deliverDone) != 0) {
        w->sending = false;
        free(copy);
    }
}

static uint8_t *packOwned(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len > 0 ? *len : 1);
    if (buf != NULL) {
        protobuf_c_message_pack(msg, buf);
    }
    return buf;
}

bool workerRegistered(struct worker *w)
{
    return w->src.registered != NULL ? w->src.registered(w->src.ctx, w) : w->hello_ok;
}

static void control(struct worker *w)
{
    size_t len;
    uint8_t *buf;
    if (!workerRegistered(w)) {
        Raftcron__Worker me = RAFTCRON__WORKER__INIT;
        me.id = w->me.id;
        me.address = (char *)w->me.address;
        me.capacity = w->me.capacity;
        me.incarnation = w->me.incarnation;
        me.alive = true;
        Raftcron__Worker__TagsEntry tags[RC_CONF_TAGS_MAX];
        Raftcron__Worker__TagsEntry *tagp[RC_CONF_TAGS_MAX];
        for (unsigned i = 0; i < w->me.n_tags && i < RC_CONF_TAGS_MAX; i++) {
            raftcron__worker__tags_entry__init(&tags[i]);
            tags[i].key = (char *)w->me.tags[i].key;
            tags[i].value = (char *)w->me.tags[i].value;
            tagp[i] = &tags[i];
        }
        me.n_tags = w->me.n_tags;
        me.tags = tagp;
        Raftcron__WorkerHello hello = RAFTCRON__WORKER_HELLO__INIT;
        hello.worker = &me;
        buf = packOwned(&hello.base, &len);
        if (buf != NULL) {
            deliverCall(w, "Worker.Hello", buf, len, false);
            free(buf);
        }
        return;
    }
    if (now() - w->last_heartbeat_us >= WORKER_HEARTBEAT_US) {
        Raftcron__WorkerHeartbeat hb = RAFTCRON__WORKER_HEARTBEAT__INIT;
        hb.worker_id = w->me.id;
        buf = packOwned(&hb.base, &len);
        if (buf != NULL) {
            deliverCall(w, "Worker.Heartbeat", buf, len, false);
            free(buf);
        }
    }
}

static void deliver(struct worker *w)
{
    if (w->sending || w->closing || now() < w->retry_at_us) {
        return;
    }
    if (w->queue != NULL) {
        deliverCall(w, w->queue->method, w->queue->req, w->queue->len, true);
        return;
    }
    control(w);
}

static void report(struct worker *w, uint64_t run_id, uint64_t fence, uint32_t kind, uint32_t state,
                   Raftcron__Outcome *outcome)
{
    Raftcron__RunReport r = RAFTCRON__RUN_REPORT__INIT;
    r.run_id = run_id;
    r.fence = fence;
    r.kind = kind;
    r.state = state;
    r.outcome = outcome;
    r.at_us = now();
    enqueue(w, "Run.Report", &r.base);
}

/* ---- local runs ----------------------------------------------------------------------- */

static struct worker_run *findRun(struct worker *w, uint64_t run_id)
{
    for (struct worker_run *r = w->runs; r != NULL; r = r->next) {
        if (r->run_id == run_id) {
            return r;
        }
    }
    return NULL;
}

static void runDone(struct exec_handle *h, const struct exec_result *res, void *data)
{
    struct worker_run *r = data;
    struct worker *w = r->w;
    (void)h;
    r->h = NULL;
    if (r->state == RUN_DROPPED || w->closing) {
        r->state = RUN_DONE;
        return;
    }
    r->state = RUN_DONE;
    Raftcron__Outcome o = RAFTCRON__OUTCOME__INIT;
    o.exit_code = res->exit_code;
    o.output_tail.data = (uint8_t *)res->tail;
    o.output_tail.len = res->tail_len;
    o.error = (char *)res->error;
    uint32_t state = RC_RUN_SUCCEEDED;
    if (res->timed_out) {
        state = RC_RUN_TIMED_OUT;
    } else if (res->start_failed || res->exit_code != 0 || res->term_signal != 0) {
        state = RC_RUN_FAILED;
    }
    report(w, r->run_id, r->fence, 2, state, &o);
}

static void startRun(struct worker_run *r)
{
    struct worker *w = r->w;
    const Raftcron__Run *run = w->src.run(w->src.ctx, r->run_id);
    if (run == NULL || run->state != RC_RUN_ASSIGNED || run->fence != r->fence) {
        r->state = RUN_DONE; /* moved on while we waited */
        return;
    }
    const Raftcron__JobSpec *spec = w->src.spec(w->src.ctx, run);
    if (spec == NULL) {
        r->state = RUN_DONE;
        return;
    }
    const char *env[65];
    char envbuf[64][256];
    size_t ne = 0;
    for (size_t i = 0; i < spec->n_env && ne < 64; i++) {
        snprintf(envbuf[ne], sizeof envbuf[ne], "%s=%s", spec->env[i]->key, spec->env[i]->value);
        env[ne] = envbuf[ne];
        ne++;
    }
    env[ne] = NULL;
    struct exec_request req = {
        .run_id = run->id,
        .fence = run->fence,
        .attempt = run->attempt,
        .job = run->job,
        .scheduled_us = run->scheduled_us,
        .spec = spec->executor,
        .env = env,
        .timeout_us = spec->timeout_us,
    };
    report(w, r->run_id, r->fence, 1, 0, NULL);
    r->state = RUN_RUNNING;
    w->started++;
    if (execStart(&w->exec, &req, runDone, r, &r->h) != 0) {
        Raftcron__Outcome o = RAFTCRON__OUTCOME__INIT;
        o.exit_code = -1;
        o.error = w->exec.errmsg;
        r->state = RUN_DONE;
        report(w, r->run_id, r->fence, 2, RC_RUN_FAILED, &o);
    }
}

static void finishClose(struct worker *w);

/* Run timers close either when the ledger moved on (reap) or at shutdown; a close in flight at
 * shutdown is waited for too, since finishClose frees the runs. */
static void runTimerClosed(struct rtimer *t)
{
    struct worker_run *r = t->data;
    r->timer_open = false;
    r->timer_closing = false;
    if (r->w->closing) {
        finishClose(r->w);
    }
}

static void startAtDeadline(struct rtimer *t)
{
    startRun(t->data);
}

static void trackAssigned(struct worker *w, const Raftcron__Run *run, int64_t t_now)
{
    struct worker_run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return;
    }
    r->w = w;
    r->run_id = run->id;
    r->fence = run->fence;
    r->next = w->runs;
    w->runs = r;
    if (run->state == RC_RUN_RUNNING) {
        /* Recorded as running here, unknown to this process: it restarted mid-run. */
        r->state = RUN_DONE;
        report(w, run->id, run->fence, 3, 0, NULL);
        return;
    }
    (void)t_now;
    if (rtimerInit(w->loop, &r->timer) != 0) {
        LOG_WARN("worker: no start timer; starting the run now", "run", "%llu",
                 (unsigned long long)run->id);
        startRun(r);
        return;
    }
    r->timer.data = r;
    r->timer_open = true;
    if (rtimerStart(&r->timer, startAtDeadline, run->start_at_us) != 0) {
        startRun(r);
    }
}

static bool stillOurs(const Raftcron__Run *run, const struct worker_run *r)
{
    return run != NULL && run->fence == r->fence &&
           (run->state == RC_RUN_ASSIGNED || run->state == RC_RUN_RUNNING);
}

/* Forget local runs the ledger moved on from; cancel one still running (cancelled, lost). */
static void reap(struct worker *w)
{
    struct worker_run **pp = &w->runs;
    while (*pp != NULL) {
        struct worker_run *r = *pp;
        const Raftcron__Run *run = w->src.run(w->src.ctx, r->run_id);
        if (stillOurs(run, r) || r->state == RUN_RUNNING) {
            if (r->state == RUN_RUNNING && !stillOurs(run, r) && r->h != NULL) {
                r->state = RUN_DROPPED;
                execCancel(r->h);
            }
            pp = &r->next;
            continue;
        }
        if (r->timer_open) {
            if (!r->timer_closing) {
                r->timer_closing = true;
                rtimerClose(&r->timer, runTimerClosed);
            }
            pp = &r->next;
            continue;
        }
        if (r->state == RUN_DROPPED && r->h != NULL) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        free(r);
    }
}

void workerScanNow(struct worker *w)
{
    if (w->closing) {
        return;
    }
    if (w->enabled) {
        const Raftcron__Run *runs[256];
        size_t k = w->src.assigned(w->src.ctx, w->me.id, runs, 256);
        int64_t t_now = now();
        for (size_t i = 0; i < k && i < 256; i++) {
            if (runs[i]->worker_incarnation != w->me.incarnation) {
                /* Assigned to an earlier process with this id (a replica replaying history,
                 * or a run from before a restart): never ours to run. Its WorkerUp for this
                 * incarnation moves such runs to LOST. */
                continue;
            }
            struct worker_run *r = findRun(w, runs[i]->id);
            if (r == NULL || (r->fence != runs[i]->fence && r->state == RUN_DONE)) {
                if (r != NULL) {
                    r->run_id = 0; /* superseded: reap forgets it */
                }
                trackAssigned(w, runs[i], t_now);
            }
        }
        reap(w);
    }
    deliver(w);
}

uint64_t workerIncarnation(void)
{
    uint64_t v = 0;
    while (v == 0) {
        if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                ((uint64_t)getpid() << 32);
        }
    }
    return v;
}

static void scan(uv_timer_t *t)
{
    workerScanNow(t->data);
}

int workerStart(struct worker *w, uv_loop_t *loop, const struct worker_identity *me,
                const struct worker_source *src, bool enabled)
{
    memset(w, 0, sizeof *w);
    w->me = *me;
    w->src = *src;
    w->loop = loop;
    w->enabled = enabled;
    if (enabled) {
        int rv = shellInit(&w->exec, loop);
        if (rv != 0) {
            return rv;
        }
    }
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, scan, WORKER_SCAN_MS, WORKER_SCAN_MS);
    return 0;
}

static void finishClose(struct worker *w)
{
    if (--w->pending_close > 0) {
        return;
    }
    while (w->queue != NULL) {
        popQueue(w);
    }
    struct worker_run *r = w->runs;
    while (r != NULL) {
        struct worker_run *next = r->next;
        free(r);
        r = next;
    }
    w->runs = NULL;
    w->close_cb(w);
}

static void timerClosed(uv_handle_t *h)
{
    finishClose(h->data);
}

static void execClosed(struct exec_backend *b)
{
    struct worker *w = (struct worker *)((char *)b - offsetof(struct worker, exec));
    finishClose(w);
}

void workerClose(struct worker *w, void (*cb)(struct worker *w))
{
    w->closing = true;
    w->close_cb = cb;
    w->pending_close = 1; /* released at the end of this function */
    uv_timer_stop(&w->timer);
    w->pending_close++;
    uv_close((uv_handle_t *)&w->timer, timerClosed);
    for (struct worker_run *r = w->runs; r != NULL; r = r->next) {
        if (!r->timer_open) {
            continue;
        }
        w->pending_close++;
        if (!r->timer_closing) {
            r->timer_closing = true;
            rtimerClose(&r->timer, runTimerClosed);
        }
    }
    if (w->enabled) {
        w->pending_close++;
        execClose(&w->exec, execClosed);
    }
    finishClose(w);
}
