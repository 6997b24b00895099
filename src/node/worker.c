#include "worker.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ledger.h"
#include "core/runs.h"
#include "log.h"

enum run_stage { WR_RECEIVED = 0, WR_ACCEPTED, WR_READY, WR_RUNNING, WR_DONE };

struct worker_run {
    struct worker *w;
    uint64_t run_id;
    uint64_t fence;
    int64_t start_at;
    Raftcron__AssignedRun *a; /* owned: the assignment as pushed (run + spec) */
    enum run_stage stage;
    bool cancelled;    /* RUNNING: the leader took it away; no report at the end */
    bool process;      /* takes a process slot (shell) */
    size_t heap_index; /* in w->heap while ACCEPTED */
    struct worker_run *next_ready;
    struct exec_handle *h;
    int64_t started_us;
    struct worker_report *started_report; /* the started report while still unsent */
};

/* Report kinds (api.proto WorkerReport.kind). */
enum { REPORT_RECEIVED = 1, REPORT_STARTED = 2, REPORT_FINISHED = 3, REPORT_LOST = 4 };

struct worker_report {
    struct worker_report *next;
    struct worker_run *run; /* STARTED while unsent, so that a finish can fold it in */
    uint64_t tag;           /* the batch it went out in; 0 while pending */
    uint64_t seq;           /* the order it was made in: pending is kept in this order */
    Raftcron__WorkerReport msg;
    Raftcron__Outcome *outcome; /* owned (msg.outcome points here when set) */
};

/* ---- Runs ---------------------------------------------------------------------------------- */

static int64_t wallNow(struct worker *w)
{
    return ioWall(w->io);
}

static struct worker_run *findRun(struct worker *w, uint64_t run_id)
{
    return u64mapGet(&w->runs, run_id);
}

static void freeRun(struct worker *w, struct worker_run *r)
{
    u64mapDel(&w->runs, r->run_id);
    if (r->started_report != NULL) {
        r->started_report->run = NULL;
    }
    if (r->a != NULL) {
        raftcron__assigned_run__free_unpacked(r->a, NULL);
    }
    free(r);
}

/* A deep copy of a pushed assignment: pack and unpack, the one copy protobuf-c offers. */
static Raftcron__AssignedRun *copyAssignment(const Raftcron__AssignedRun *a)
{
    size_t len = raftcron__assigned_run__get_packed_size(a);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        return NULL;
    }
    raftcron__assigned_run__pack(a, buf);
    Raftcron__AssignedRun *copy = raftcron__assigned_run__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

/* ---- The start heap (accepted runs by start_at) -------------------------------------------- */

static bool before(const struct worker_run *a, const struct worker_run *b)
{
    return a->start_at < b->start_at || (a->start_at == b->start_at && a->run_id < b->run_id);
}

static void heapSet(struct worker *w, size_t i, struct worker_run *r)
{
    w->heap[i] = r;
    r->heap_index = i;
}

static void siftUp(struct worker *w, size_t i)
{
    struct worker_run *r = w->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(r, w->heap[parent])) {
            break;
        }
        heapSet(w, i, w->heap[parent]);
        i = parent;
    }
    heapSet(w, i, r);
}

static void siftDown(struct worker *w, size_t i)
{
    struct worker_run *r = w->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n_heap) {
            break;
        }
        if (c + 1 < w->n_heap && before(w->heap[c + 1], w->heap[c])) {
            c++;
        }
        if (!before(w->heap[c], r)) {
            break;
        }
        heapSet(w, i, w->heap[c]);
        i = c;
    }
    heapSet(w, i, r);
}

static void heapRemove(struct worker *w, struct worker_run *r)
{
    size_t i = r->heap_index;
    assert(i < w->n_heap && w->heap[i] == r);
    struct worker_run *last = w->heap[--w->n_heap];
    if (last != r) {
        heapSet(w, i, last);
        siftDown(w, i);
        siftUp(w, last->heap_index);
    }
    r->heap_index = SIZE_MAX;
}

static void onStartTimer(struct io_timer *t);

static void armStart(struct worker *w)
{
    if (w->n_heap == 0) {
        ioTimerStop(&w->start_timer);
        return;
    }
    int64_t at = w->heap[0]->start_at;
    if (w->start_timer.state != IO_TIMER_ARMED || w->start_timer.deadline_us != at) {
        ioTimerStart(&w->start_timer, at, onStartTimer);
    }
}

static int heapPush(struct worker *w, struct worker_run *r)
{
    if (w->n_heap == w->cap_heap) {
        size_t cap = w->cap_heap ? 2 * w->cap_heap : 64;
        struct worker_run **h = realloc(w->heap, cap * sizeof *h);
        if (h == NULL) {
            return RC_ENOMEM;
        }
        w->heap = h;
        w->cap_heap = cap;
    }
    w->heap[w->n_heap] = r;
    r->heap_index = w->n_heap++;
    siftUp(w, r->heap_index);
    return 0;
}

/* ---- Reports ------------------------------------------------------------------------------ */

static void onFlush(struct io_timer *t);

static void flushSoon(struct worker *w)
{
    if (!w->closing && w->flush_timer.state != IO_TIMER_ARMED) {
        ioTimerIn(&w->flush_timer, 0, onFlush);
    }
}

static void freeReport(struct worker_report *rep)
{
    if (rep->run != NULL && rep->run->started_report == rep) {
        rep->run->started_report = NULL;
    }
    if (rep->outcome != NULL) {
        raftcron__outcome__free_unpacked(rep->outcome, NULL);
    }
    free(rep);
}

/* An owned copy of an outcome whose strings are borrowed (pack and unpack). */
static Raftcron__Outcome *copyOutcome(const Raftcron__Outcome *o)
{
    size_t len = raftcron__outcome__get_packed_size(o);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        return NULL;
    }
    raftcron__outcome__pack(o, buf);
    Raftcron__Outcome *copy = raftcron__outcome__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

static struct worker_report *queueReport(struct worker *w, struct worker_run *r, uint32_t kind)
{
    struct worker_report *rep = calloc(1, sizeof *rep);
    if (rep == NULL) {
        LOG_ERROR("worker: out of memory queueing a report");
        return NULL;
    }
    raftcron__worker_report__init(&rep->msg);
    rep->msg.run_id = r->run_id;
    rep->msg.fence = r->fence;
    rep->msg.kind = kind;
    rep->msg.at_us = wallNow(w);
    rep->seq = ++w->next_seq;
    if (w->pending_tail != NULL) {
        w->pending_tail->next = rep;
    } else {
        w->pending = rep;
    }
    w->pending_tail = rep;
    flushSoon(w);
    return rep;
}

/* Unlink rep from the pending list (a started report folded into the finished one). */
static void unlinkPending(struct worker *w, struct worker_report *rep)
{
    struct worker_report *prev = NULL;
    for (struct worker_report *p = w->pending; p != NULL; prev = p, p = p->next) {
        if (p != rep) {
            continue;
        }
        if (prev != NULL) {
            prev->next = p->next;
        } else {
            w->pending = p->next;
        }
        if (w->pending_tail == p) {
            w->pending_tail = prev;
        }
        return;
    }
}

static void rememberSent(struct worker *w, uint64_t tag)
{
    w->sent_tag[w->sent_next] = tag;
    w->sent_mono[w->sent_next] = ioMono(w->io);
    w->sent_next = (w->sent_next + 1) % WORKER_SENT_RING;
}

static void startReady(struct worker *w);

/* An answer from a leader to what was sent with tag: the lease runs from that sending. */
static void renewLease(struct worker *w, uint64_t tag)
{
    for (unsigned i = 0; i < WORKER_SENT_RING; i++) {
        if (w->sent_tag[i] == tag && w->sent_mono[i] + WORKER_LEASE_US > w->lease_until) {
            w->lease_until = w->sent_mono[i] + WORKER_LEASE_US;
            startReady(w);
            return;
        }
    }
}

static bool leased(struct worker *w)
{
    return ioMono(w->io) < w->lease_until;
}

static void sendBatch(struct worker *w)
{
    size_t n = 0, bytes = 0;
    for (struct worker_report *p = w->pending; p != NULL && n < WORKER_BATCH_REPORTS; p = p->next) {
        bytes += raftcron__worker_report__get_packed_size(&p->msg) + 8;
        if (n > 0 && bytes > WORKER_BATCH_BYTES) {
            break; /* the leader refuses frames over its limit (--rpc-max-frame) */
        }
        n++;
    }
    Raftcron__WorkerReport **items = n > 0 ? malloc(n * sizeof *items) : NULL;
    if (n > 0 && items == NULL) {
        return;
    }
    struct worker_report *p = w->pending;
    for (size_t i = 0; i < n; i++, p = p->next) {
        items[i] = &p->msg;
    }
    Raftcron__ReportBatch b = RAFTCRON__REPORT_BATCH__INIT;
    b.worker_id = w->me.id;
    b.incarnation = w->me.incarnation;
    b.n_reports = n;
    b.reports = items;
    uint64_t tag = ++w->next_tag;
    int rv = w->link->ops->report(w->link, &b, tag);
    free(items);
    w->last_sent_mono = ioMono(w->io);
    if (rv != 0) {
        return;
    }
    rememberSent(w, tag);
    if (n == 0) {
        return;
    }
    w->stats.batches++;
    w->inflight++;
    /* Move the n reports from pending to sent, tagged. */
    for (size_t i = 0; i < n; i++) {
        struct worker_report *rep = w->pending;
        w->pending = rep->next;
        if (rep->run != NULL && rep->run->started_report == rep) {
            rep->run->started_report = NULL; /* sent: too late to fold */
        }
        rep->run = NULL;
        rep->tag = tag;
        rep->next = w->sent;
        w->sent = rep;
    }
    if (w->pending == NULL) {
        w->pending_tail = NULL;
    }
}

static void onFlush(struct io_timer *t)
{
    struct worker *w = t->data;
    if (w->closing || w->link == NULL || !w->session_up) {
        return;
    }
    while (w->pending != NULL && w->inflight < WORKER_MAX_INFLIGHT) {
        unsigned before = w->inflight;
        sendBatch(w);
        if (w->inflight == before) {
            break; /* the link refused: the session is going; its end brings us back */
        }
    }
}

static void onBeat(struct io_timer *t)
{
    struct worker *w = t->data;
    if (w->closing) {
        return;
    }
    if (w->n_heap > 0 && w->heap[0]->start_at <= ioWall(w->io)) {
        /* Due, and the start timer has not fired: its deadline was set under a clock that has
         * since been put right without the kernel saying so (a time namespace, a faked clock,
         * a stepped VM): arm it again, for now. A real step is seen at once (rtimer.h). */
        ioTimerStart(&w->start_timer, w->heap[0]->start_at, onStartTimer);
    }
    if (w->link != NULL && w->session_up &&
        ioMono(w->io) - w->last_sent_mono >= WORKER_HEARTBEAT_US) {
        if (w->pending != NULL && w->inflight < WORKER_MAX_INFLIGHT) {
            sendBatch(w);
        } else {
            /* A heartbeat: answered for the lease only (it is not in w->sent). */
            Raftcron__ReportBatch b = RAFTCRON__REPORT_BATCH__INIT;
            b.worker_id = w->me.id;
            b.incarnation = w->me.incarnation;
            uint64_t tag = ++w->next_tag;
            if (w->link->ops->report(w->link, &b, tag) == 0) {
                rememberSent(w, tag);
            }
            w->last_sent_mono = ioMono(w->io);
        }
    }
    ioTimerIn(&w->beat_timer, WORKER_HEARTBEAT_US / 2, onBeat);
}

/* Sent reports (of batch tag, or all: 0) go back to the pending list, which stays in the order
 * the reports were made: batches are answered in any order, and a "started" sent again after
 * the "finished" of its run would reach the leader second (found by the Jepsen suite: the
 * finish was refused, the start committed, and the run stayed RUNNING for good). */
static void requeue(struct worker *w, uint64_t tag)
{
    struct worker_report **pp = &w->sent;
    struct worker_report *back = NULL;
    while (*pp != NULL) {
        struct worker_report *rep = *pp;
        if (tag != 0 && rep->tag != tag) {
            pp = &rep->next;
            continue;
        }
        *pp = rep->next;
        rep->tag = 0;
        rep->next = back; /* sent is newest first: prepending restores the order */
        back = rep;
    }
    /* Merge back (in order) into pending (in order). */
    struct worker_report *merged = NULL;
    struct worker_report **tail = &merged;
    struct worker_report *a = back;
    struct worker_report *b = w->pending;
    while (a != NULL || b != NULL) {
        struct worker_report **take = b == NULL || (a != NULL && a->seq < b->seq) ? &a : &b;
        struct worker_report *rep = *take;
        *take = rep->next;
        rep->next = NULL;
        *tail = rep;
        tail = &rep->next;
        w->pending_tail = rep;
    }
    w->pending = merged;
    if (merged == NULL) {
        w->pending_tail = NULL;
    }
}

static bool finalRefusal(int status)
{
    return status == RC_EINVAL || status == RC_ENOTFOUND || status == RC_ESTALE;
}

void workerReported(struct worker *w, uint64_t tag, int status)
{
    if (tag == 0 || w->closing) {
        return;
    }
    if (status == 0 || finalRefusal(status)) {
        renewLease(w, tag); /* a leader answered: it heard this worker */
    }
    bool known = false;
    for (struct worker_report *p = w->sent; p != NULL && !known; p = p->next) {
        known = p->tag == tag;
    }
    if (!known) {
        return; /* answered after its session ended: its reports were queued again */
    }
    if (w->inflight > 0) {
        w->inflight--;
    }
    if (status != 0 && !finalRefusal(status)) {
        requeue(w, tag);
        flushSoon(w);
        return;
    }
    if (status != 0) {
        LOG_WARN("worker: the leader refused reports for good", "error", "%s", rc_strerror(status));
    }
    struct worker_report **pp = &w->sent;
    while (*pp != NULL) {
        struct worker_report *rep = *pp;
        if (rep->tag != tag) {
            pp = &rep->next;
            continue;
        }
        *pp = rep->next;
        w->stats.reports++;
        if (rep->msg.kind == REPORT_FINISHED || rep->msg.kind == REPORT_LOST) {
            struct worker_run *r = findRun(w, rep->msg.run_id);
            if (r != NULL && r->stage == WR_DONE && r->fence == rep->msg.fence) {
                freeRun(w, r); /* the leader has the end: nothing left to do for it */
            }
        }
        freeReport(rep);
    }
    flushSoon(w);
}

/* ---- Executing --------------------------------------------------------------------------- */

static struct exec_backend *backendOf(struct worker *w, const Raftcron__JobSpec *spec)
{
    const Raftcron__Executor *e = spec != NULL ? spec->executor : NULL;
    switch (e != NULL ? e->kind_case : RAFTCRON__EXECUTOR__KIND__NOT_SET) {
    case RAFTCRON__EXECUTOR__KIND_SHELL:
        return w->execs.shell;
    case RAFTCRON__EXECUTOR__KIND_NOOP:
        return w->execs.noop;
    case RAFTCRON__EXECUTOR__KIND_HTTP:
        return w->execs.http;
    case RAFTCRON__EXECUTOR__KIND_SQL:
        return w->execs.sql;
    default:
        return NULL;
    }
}

static void finishClose(struct worker *w);

static void finishRun(struct worker *w, struct worker_run *r, uint32_t state,
                      const struct exec_result *res, const char *error)
{
    bool was_process = r->stage == WR_RUNNING && r->process;
    r->stage = WR_DONE;
    r->h = NULL;
    if (was_process) {
        w->procs--;
    }
    if (r->cancelled) {
        freeRun(w, r);
        startReady(w);
        return;
    }
    struct worker_report *started = r->started_report;
    if (started != NULL) {
        /* Not sent yet: the finished report says when it started. */
        unlinkPending(w, started);
        r->started_report = NULL;
        freeReport(started);
    }
    /* The finished report always says when the run started, so that it stands on its own:
     * the leader commits the start first if it has not (its started report may be lost, or
     * reach a leader after the finish). */
    int64_t started_us = r->started_us;
    struct worker_report *rep = queueReport(w, r, REPORT_FINISHED);
    if (rep != NULL) {
        rep->msg.state = state;
        rep->msg.started_us = started_us;
        Raftcron__Outcome o = RAFTCRON__OUTCOME__INIT;
        Raftcron__HttpTimings timings = RAFTCRON__HTTP_TIMINGS__INIT;
        if (res != NULL) {
            execResultOutcome(res, &o, &timings);
            if (res->finished_us != 0) {
                rep->msg.at_us = res->finished_us;
            }
        } else {
            o.exit_code = -1;
        }
        if (error != NULL) {
            o.error = (char *)error;
        }
        if (o.output_tail.len > RC_LEDGER_OUTPUT_MAX) { /* all the leader keeps (dispatch.c) */
            o.output_tail.data += o.output_tail.len - RC_LEDGER_OUTPUT_MAX;
            o.output_tail.len = RC_LEDGER_OUTPUT_MAX;
        }
        rep->outcome = copyOutcome(&o);
        rep->msg.outcome = rep->outcome; /* no memory: the end is reported without it */
    }
    w->stats.finished++;
    startReady(w);
}

static void runDone(struct exec_handle *h, const struct exec_result *res, void *data)
{
    struct worker_run *r = data;
    struct worker *w = r->w;
    (void)h;
    if (w->closing) {
        r->h = NULL;
        r->stage = WR_DONE;
        finishClose(w); /* workerClose counted it */
        return;
    }
    uint32_t state = execResultState(res);
    if (res->started_us != 0) {
        r->started_us = res->started_us;
    }
    finishRun(w, r, state, res, NULL);
}

static void startRun(struct worker *w, struct worker_run *r)
{
    const Raftcron__Run *run = r->a->run;
    const Raftcron__JobSpec *spec = r->a->spec;
    struct exec_backend *b = backendOf(w, spec);
    r->stage = WR_RUNNING;
    if (r->process) {
        w->procs++;
    }
    if (b == NULL) {
        char why[RC_ERRMSG_SIZE];
        snprintf(why, sizeof why, "this worker has no executor for the job's kind");
        finishRun(w, r, RC_RUN_FAILED, NULL, why);
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
    int64_t now = wallNow(w);
    r->started_us = now;
    int64_t late = now - r->start_at;
    if (late > w->stats.late_max_us) {
        w->stats.late_max_us = late;
    }
    w->stats.started++;
    r->started_report = queueReport(w, r, REPORT_STARTED);
    if (r->started_report != NULL) {
        r->started_report->run = r;
    }
    if (execStart(b, &req, runDone, r, &r->h) != 0) {
        finishRun(w, r, RC_RUN_FAILED, NULL, b->errmsg);
    }
}

/* Start what waits, oldest first: runs of process executors while slots are free, the others
 * at once, and none without a lease. */
static void startReady(struct worker *w)
{
    struct worker_run **pp = &w->ready;
    struct worker_run *prev = NULL;
    if (w->lease_lapsed && leased(w)) {
        w->lease_lapsed = false;
        LOG_INFO("worker: a leader answers again: waiting runs start", "held_total", "%llu",
                 (unsigned long long)w->stats.held);
    }
    while (*pp != NULL && !w->closing && leased(w)) {
        struct worker_run *r = *pp;
        if (r->process && w->procs >= w->me.capacity) {
            prev = r;
            pp = &r->next_ready;
            continue;
        }
        *pp = r->next_ready;
        if (w->ready_tail == r) {
            w->ready_tail = prev;
        }
        r->next_ready = NULL;
        startRun(w, r);
    }
}

static void makeReady(struct worker *w, struct worker_run *r)
{
    if (leased(w) && (!r->process || w->procs < w->me.capacity)) {
        startRun(w, r);
        return;
    }
    if (!leased(w)) {
        w->stats.held++;
        if (!w->lease_lapsed) {
            w->lease_lapsed = true;
            LOG_WARN("worker: no leader has answered for the lease time: due runs wait", "lease_ms",
                     "%lld", (long long)(WORKER_LEASE_US / 1000));
        }
    }
    r->stage = WR_READY;
    if (w->ready_tail != NULL) {
        w->ready_tail->next_ready = r;
    } else {
        w->ready = r;
    }
    w->ready_tail = r;
}

static void onStartTimer(struct io_timer *t)
{
    struct worker *w = t->data;
    if (w->closing) {
        return;
    }
    int64_t now = wallNow(w);
    while (w->n_heap > 0 && w->heap[0]->start_at <= now) {
        struct worker_run *r = w->heap[0];
        heapRemove(w, r);
        makeReady(w, r);
    }
    armStart(w);
}

static void dropFromReady(struct worker *w, struct worker_run *r)
{
    struct worker_run *prev = NULL;
    for (struct worker_run *p = w->ready; p != NULL; prev = p, p = p->next_ready) {
        if (p != r) {
            continue;
        }
        if (prev != NULL) {
            prev->next_ready = p->next_ready;
        } else {
            w->ready = p->next_ready;
        }
        if (w->ready_tail == p) {
            w->ready_tail = prev;
        }
        return;
    }
}

/* The leader took the run away: forget it, or kill it if it runs. */
static void cancelRun(struct worker *w, struct worker_run *r)
{
    w->stats.cancelled++;
    switch (r->stage) {
    case WR_ACCEPTED:
        heapRemove(w, r);
        armStart(w);
        freeRun(w, r);
        break;
    case WR_READY:
        dropFromReady(w, r);
        freeRun(w, r);
        break;
    case WR_RECEIVED:
        freeRun(w, r);
        break;
    case WR_RUNNING:
        r->cancelled = true;
        if (r->h != NULL) {
            execCancel(r->h);
        }
        break;
    case WR_DONE:
        break; /* its report is on the way; the leader refuses it if stale */
    }
}

/* ---- Pushes -------------------------------------------------------------------------------- */

static void receive(struct worker *w, const Raftcron__AssignedRun *a)
{
    const Raftcron__Run *run = a->run;
    if (run == NULL || a->spec == NULL || run->id == 0) {
        return;
    }
    struct worker_run *r = findRun(w, run->id);
    if (r != NULL && r->fence == run->fence) {
        if (r->stage == WR_RECEIVED) {
            queueReport(w, r, REPORT_RECEIVED); /* the first one may have been lost */
        }
        return;
    }
    if (r != NULL) {
        if (r->fence > run->fence) {
            return; /* an old push */
        }
        cancelRun(w, r); /* reassigned here under a newer fence */
        if (findRun(w, run->id) != NULL) {
            return; /* still running under the old fence: its end frees it first */
        }
    }
    if (!w->enabled) {
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        return;
    }
    r->a = copyAssignment(a);
    if (r->a == NULL || u64mapPut(&w->runs, run->id, r) != 0) {
        if (r->a != NULL) {
            raftcron__assigned_run__free_unpacked(r->a, NULL);
        }
        free(r);
        return;
    }
    r->w = w;
    r->run_id = run->id;
    r->fence = run->fence;
    r->start_at = run->start_at_us != 0 ? run->start_at_us : run->scheduled_us;
    r->heap_index = SIZE_MAX;
    const Raftcron__Executor *e = a->spec->executor;
    r->process = e != NULL && e->kind_case == RAFTCRON__EXECUTOR__KIND_SHELL;
    r->stage = WR_RECEIVED;
    w->stats.received++;
    if (run->state == RC_RUN_RUNNING) {
        /* Recorded as running here, unknown to this process' state: it was lost. */
        r->stage = WR_DONE;
        queueReport(w, r, REPORT_LOST);
        return;
    }
    queueReport(w, r, REPORT_RECEIVED);
}

static void accept(struct worker *w, const Raftcron__RunRef *ref)
{
    struct worker_run *r = findRun(w, ref->run_id);
    if (r == NULL || r->fence != ref->fence || r->stage != WR_RECEIVED) {
        return;
    }
    r->stage = WR_ACCEPTED;
    if (heapPush(w, r) != 0) {
        makeReady(w, r); /* no memory for the heap: start now rather than never */
        return;
    }
    armStart(w);
}

static bool listed(const Raftcron__SessionPush *p, uint64_t run_id, uint64_t fence)
{
    for (size_t i = 0; i < p->n_assign; i++) {
        if (p->assign[i]->run != NULL && p->assign[i]->run->id == run_id &&
            p->assign[i]->run->fence == fence) {
            return true;
        }
    }
    return false;
}

/* A sync push lists every run assigned to this process: anything else held was taken away. */
static void syncDrop(struct worker *w, const Raftcron__SessionPush *p)
{
    size_t n = 0;
    size_t pos = 0;
    struct worker_run *r;
    struct worker_run **gone = malloc((w->runs.n + 1) * sizeof *gone);
    if (gone == NULL) {
        return;
    }
    while ((r = u64mapNext(&w->runs, &pos, NULL)) != NULL) {
        if (r->stage != WR_DONE && !listed(p, r->run_id, r->fence)) {
            gone[n++] = r;
        }
    }
    for (size_t i = 0; i < n; i++) {
        cancelRun(w, gone[i]);
    }
    free(gone);
}

void workerOnPush(struct worker *w, const Raftcron__SessionPush *p)
{
    if (w->closing) {
        return;
    }
    if (p->sync) {
        syncDrop(w, p);
        /* The leader heard the hello: the lease runs from its sending (only now that what
         * it no longer lists is gone, so no slot freed above starts one of those). */
        if (w->hello_mono + WORKER_LEASE_US > w->lease_until) {
            w->lease_until = w->hello_mono + WORKER_LEASE_US;
        }
        if (!w->session_up) {
            w->session_up = true;
            flushSoon(w);
        }
    }
    for (size_t i = 0; i < p->n_cancel; i++) {
        struct worker_run *r = findRun(w, p->cancel[i]->run_id);
        if (r != NULL && r->fence == p->cancel[i]->fence) {
            cancelRun(w, r);
        }
    }
    for (size_t i = 0; i < p->n_assign; i++) {
        receive(w, p->assign[i]);
    }
    for (size_t i = 0; i < p->n_accepted; i++) {
        accept(w, p->accepted[i]);
    }
    if (p->sync) {
        startReady(w);
    }
}

void workerOnSessionEnd(struct worker *w)
{
    w->session_up = false;
    w->inflight = 0;
    requeue(w, 0);
}

/* ---- The hello --------------------------------------------------------------------------- */

int workerHelloBuild(struct worker *w, struct worker_hello *h)
{
    memset(h, 0, sizeof *h);
    w->hello_mono = ioMono(w->io);
    raftcron__session_open__init(&h->open);
    raftcron__worker__init(&h->worker);
    h->worker.id = w->me.id;
    h->worker.address = (char *)w->me.address;
    h->worker.capacity = w->me.capacity;
    h->worker.incarnation = w->me.incarnation;
    h->worker.alive = true;
    for (unsigned i = 0; i < w->me.n_tags && i < RC_CONF_TAGS_MAX; i++) {
        raftcron__worker__tags_entry__init(&h->tags[i]);
        h->tags[i].key = (char *)w->me.tags[i].key;
        h->tags[i].value = (char *)w->me.tags[i].value;
        h->tagp[i] = &h->tags[i];
    }
    h->worker.n_tags = w->me.n_tags;
    h->worker.tags = h->tagp;
    h->open.worker = &h->worker;
    size_t n = w->runs.n;
    if (n > 0) {
        h->held = calloc(n, sizeof *h->held);
        h->heldp = calloc(n, sizeof *h->heldp);
        if (h->held == NULL || h->heldp == NULL) {
            workerHelloFree(h);
            return RC_ENOMEM;
        }
    }
    size_t k = 0;
    size_t pos = 0;
    struct worker_run *r;
    while ((r = u64mapNext(&w->runs, &pos, NULL)) != NULL && k < n) {
        if (r->stage == WR_DONE) {
            continue;
        }
        raftcron__held_run__init(&h->held[k]);
        h->held[k].run_id = r->run_id;
        h->held[k].fence = r->fence;
        h->held[k].running = r->stage == WR_RUNNING;
        h->heldp[k] = &h->held[k];
        k++;
    }
    h->open.n_held = k;
    h->open.held = h->heldp;
    return 0;
}

void workerHelloFree(struct worker_hello *h)
{
    free(h->held);
    free(h->heldp);
    h->held = NULL;
    h->heldp = NULL;
}

/* ---- Lifecycle ---------------------------------------------------------------------------- */

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

size_t workerRunCount(const struct worker *w)
{
    return w->runs.n;
}

void workerSetLink(struct worker *w, struct worker_link *link)
{
    if (w->link == link) {
        return;
    }
    if (w->link != NULL) {
        workerOnSessionEnd(w);
    }
    w->link = link;
}

int workerStart(struct worker *w, struct node_io *io, const struct worker_identity *me,
                const struct worker_execs *execs, bool enabled)
{
    memset(w, 0, sizeof *w);
    w->me = *me;
    if (w->me.capacity == 0) {
        w->me.capacity = 1;
    }
    w->io = io;
    w->execs = *execs;
    w->enabled = enabled;
    u64mapInit(&w->runs);
    int rv = ioTimerInit(io, &w->start_timer, IO_WALL);
    if (rv != 0) {
        goto err;
    }
    rv = ioTimerInit(io, &w->flush_timer, IO_MONO);
    if (rv != 0) {
        goto err_after_start;
    }
    rv = ioTimerInit(io, &w->beat_timer, IO_MONO);
    if (rv != 0) {
        goto err_after_flush;
    }
    w->start_timer.data = w->flush_timer.data = w->beat_timer.data = w;
    ioTimerIn(&w->beat_timer, WORKER_HEARTBEAT_US / 2, onBeat);
    return 0;

err_after_flush:
    ioTimerClose(&w->flush_timer, NULL);
err_after_start:
    ioTimerClose(&w->start_timer, NULL);
err:
    assert(rv != 0);
    u64mapClose(&w->runs);
    return rv;
}

static void finishClose(struct worker *w)
{
    if (--w->pending_close > 0) {
        return;
    }
    struct worker_report *lists[2] = {w->pending, w->sent};
    for (int i = 0; i < 2; i++) {
        while (lists[i] != NULL) {
            struct worker_report *next = lists[i]->next;
            lists[i]->run = NULL;
            freeReport(lists[i]);
            lists[i] = next;
        }
    }
    w->pending = w->pending_tail = w->sent = NULL;
    size_t pos = 0;
    struct worker_run *r;
    while ((r = u64mapNext(&w->runs, &pos, NULL)) != NULL) {
        if (r->a != NULL) {
            raftcron__assigned_run__free_unpacked(r->a, NULL);
        }
        free(r);
    }
    u64mapClose(&w->runs);
    free(w->heap);
    w->heap = NULL;
    w->n_heap = 0;
    if (w->close_cb != NULL) {
        w->close_cb(w);
    }
}

static void timerClosed(struct io_timer *t)
{
    finishClose(t->data);
}

/* Running processes are cancelled by their backend's close (the owner closes the backends
 * after this): the close completes once each has reported its end. */
void workerClose(struct worker *w, void (*cb)(struct worker *w))
{
    size_t unsent = 0;
    for (struct worker_report *p = w->pending; p != NULL; p = p->next) {
        unsent++;
    }
    for (struct worker_report *p = w->sent; p != NULL; p = p->next) {
        unsent++;
    }
    if (w->runs.n > 0 || unsent > 0) {
        LOG_INFO("worker: stopping with runs held", "runs", "%zu", w->runs.n, "running", "%u",
                 w->procs, "reports_unanswered", "%zu", unsent);
    }
    w->closing = true;
    w->close_cb = cb;
    w->link = NULL;
    w->pending_close = 3;
    size_t pos = 0;
    struct worker_run *r;
    while ((r = u64mapNext(&w->runs, &pos, NULL)) != NULL) {
        w->pending_close += r->h != NULL;
    }
    ioTimerClose(&w->start_timer, timerClosed);
    ioTimerClose(&w->flush_timer, timerClosed);
    ioTimerClose(&w->beat_timer, timerClosed);
}
