#include "dispatch.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ledger.h"
#include "core/runs.h"
#include "log.h"
#include "raftcron/client.h"

/* One run assigned or running on a worker, as this leader last pushed it. */
struct holder {
    uint64_t run_id;
    uint64_t worker_id;
    uint64_t fence;
    int64_t ack_deadline; /* mono; 0 once acknowledged or accepted */
    bool accepted_pushed;
    bool overdue;
};

/* Ack deadlines in the order they were set: the ack timeout is one constant, so the order is
 * that of the deadlines and the earliest is always at the head. */
struct ack_entry {
    uint64_t run_id;
    uint64_t fence;
    int64_t deadline;
};

struct dispatch_session {
    struct dispatch_peer *peer; /* borrowed */
    uint64_t worker_id;
    uint64_t incarnation;
    int64_t last_heard; /* mono */
    int64_t revived;    /* mono: when a WorkerUp was last queued for a worker marked down */
    bool was_live;
    /* Built during a flush, sent at its end. */
    Raftcron__AssignedRun *assign;
    Raftcron__AssignedRun **assign_ptrs;
    size_t n_assign, cap_assign;
    Raftcron__RunRef *refs; /* accepted first, then cancel */
    size_t n_accepted, n_cancel, cap_refs;
    Raftcron__RunRef *cancel_refs;
    size_t cap_cancel;
};

/* ---- Small helpers ------------------------------------------------------------------------- */

static int64_t mono(struct dispatch *d)
{
    return ioMono(d->io);
}

static struct rc_fsm *fsmOf(struct dispatch *d)
{
    return d->io->fsm(d->io);
}

static void poke(struct dispatch *d)
{
    if (d->o.poke != NULL && d->state == DISPATCH_ACTIVE) {
        d->o.poke(d->o.poke_data);
    }
}

static void flushSoon(struct dispatch *d)
{
    if (d->state == DISPATCH_CLOSED || d->flush.state == IO_TIMER_ARMED) {
        return;
    }
    ioTimerIn(&d->flush, 0, d->flush.cb);
}

/* Remember when worker_id was heard from, for as long as this leadership lasts. */
static void heardFrom(struct dispatch *d, uint64_t worker_id, int64_t when)
{
    int64_t *t = u64mapGet(&d->heard, worker_id);
    if (t == NULL) {
        t = malloc(sizeof *t);
        if (t == NULL || u64mapPut(&d->heard, worker_id, t) != 0) {
            free(t);
            return;
        }
    }
    *t = when;
}

static void forgetHeard(struct dispatch *d)
{
    size_t pos = 0;
    int64_t *t;
    while ((t = u64mapNext(&d->heard, &pos, NULL)) != NULL) {
        free(t);
    }
    u64mapClear(&d->heard);
}

static struct dispatch_session *sessionOf(struct dispatch *d, uint64_t worker_id)
{
    for (size_t i = 0; i < d->n_sessions; i++) {
        if (d->sessions[i]->worker_id == worker_id) {
            return d->sessions[i];
        }
    }
    return NULL;
}

static bool workerMatches(const Raftcron__Worker *w, const struct dispatch_session *s)
{
    return w != NULL && w->alive && w->incarnation == s->incarnation;
}

static bool sessionLive(struct dispatch *d, struct dispatch_session *s, int64_t now)
{
    return now - s->last_heard <= d->o.live_window_us &&
           workerMatches(fsmWorkerGet(fsmOf(d), s->worker_id), s);
}

/* ---- Pushes -------------------------------------------------------------------------------- */

static int growArray(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        c *= 2;
    }
    void *p = realloc(*arr, c * size);
    if (p == NULL) {
        return RC_ENOMEM;
    }
    *arr = p;
    *cap = c;
    return 0;
}

static void queueAssign(struct dispatch_session *s, const Raftcron__Run *run,
                        const Raftcron__JobSpec *spec)
{
    if (growArray((void **)&s->assign, &s->cap_assign, s->n_assign + 1, sizeof *s->assign) != 0) {
        return; /* the worker's sync after a reconnect, or the ack deadline, recovers */
    }
    Raftcron__AssignedRun *a = &s->assign[s->n_assign++];
    raftcron__assigned_run__init(a);
    a->run = (Raftcron__Run *)run;
    a->spec = (Raftcron__JobSpec *)spec;
}

static void queueRef(Raftcron__RunRef **arr, size_t *n, size_t *cap, uint64_t run_id,
                     uint64_t fence)
{
    if (growArray((void **)arr, cap, *n + 1, sizeof **arr) != 0) {
        return;
    }
    Raftcron__RunRef *r = &(*arr)[(*n)++];
    raftcron__run_ref__init(r);
    r->run_id = run_id;
    r->fence = fence;
}

/* Send what the flush queued for s, and empty it. */
static void sendQueued(struct dispatch *d, struct dispatch_session *s, bool sync)
{
    if (!sync && s->n_assign == 0 && s->n_accepted == 0 && s->n_cancel == 0) {
        return;
    }
    Raftcron__AssignedRun **aptrs = NULL;
    Raftcron__RunRef **rptrs = NULL;
    size_t nrefs = s->n_accepted + s->n_cancel;
    if (s->n_assign > 0) {
        aptrs = malloc(s->n_assign * sizeof *aptrs);
    }
    if (nrefs > 0) {
        rptrs = malloc(nrefs * sizeof *rptrs);
    }
    if ((s->n_assign > 0 && aptrs == NULL) || (nrefs > 0 && rptrs == NULL)) {
        free(aptrs);
        free(rptrs);
        s->n_assign = s->n_accepted = s->n_cancel = 0;
        return;
    }
    for (size_t i = 0; i < s->n_assign; i++) {
        aptrs[i] = &s->assign[i];
    }
    for (size_t i = 0; i < s->n_accepted; i++) {
        rptrs[i] = &s->refs[i];
    }
    for (size_t i = 0; i < s->n_cancel; i++) {
        rptrs[s->n_accepted + i] = &s->cancel_refs[i];
    }
    Raftcron__SessionPush p = RAFTCRON__SESSION_PUSH__INIT;
    p.term = d->term;
    p.sync = sync;
    p.n_assign = s->n_assign;
    p.assign = aptrs;
    p.n_accepted = s->n_accepted;
    p.accepted = rptrs;
    p.n_cancel = s->n_cancel;
    p.cancel = rptrs != NULL ? rptrs + s->n_accepted : NULL;
    d->stats.pushes++;
    d->stats.assigns += s->n_assign;
    s->n_assign = s->n_accepted = s->n_cancel = 0;
    s->peer->ops->push(s->peer, &p);
    free(aptrs);
    free(rptrs);
}

/* ---- Holders: what each worker was told ----------------------------------------------------- */

static void ackPush(struct dispatch *d, const struct holder *h)
{
    if (d->n_acks == d->cap_acks) {
        size_t cap = d->cap_acks ? 2 * d->cap_acks : 64;
        struct ack_entry *e = malloc(cap * sizeof *e);
        if (e == NULL) {
            return; /* the worker's acknowledgement still accepts it; only the timeout is lost */
        }
        for (size_t i = 0; i < d->n_acks; i++) {
            e[i] = d->acks_q[(d->head_acks + i) % d->cap_acks];
        }
        free(d->acks_q);
        d->acks_q = e;
        d->cap_acks = cap;
        d->head_acks = 0;
    }
    d->acks_q[(d->head_acks + d->n_acks++) % d->cap_acks] =
        (struct ack_entry){h->run_id, h->fence, h->ack_deadline};
    if (d->acks.state != IO_TIMER_ARMED) {
        ioTimerStart(&d->acks, h->ack_deadline, d->acks.cb);
    }
}

static struct holder *holderPut(struct dispatch *d, const Raftcron__Run *run, int64_t now)
{
    struct holder *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return NULL;
    }
    h->run_id = run->id;
    h->worker_id = run->worker_id;
    h->fence = run->fence;
    h->ack_deadline =
        run->state == RC_RUN_ASSIGNED && run->accepted_us == 0 ? now + d->o.ack_timeout_us : 0;
    h->accepted_pushed = false;
    if (u64mapPut(&d->holders, run->id, h) != 0) {
        free(h);
        return NULL;
    }
    if (h->ack_deadline != 0) {
        ackPush(d, h);
    }
    return h;
}

static void holderDrop(struct dispatch *d, uint64_t run_id)
{
    free(u64mapDel(&d->holders, run_id));
}

static void cancelTo(struct dispatch *d, const struct holder *h)
{
    struct dispatch_session *s = sessionOf(d, h->worker_id);
    if (s != NULL) {
        queueRef(&s->cancel_refs, &s->n_cancel, &s->cap_cancel, h->run_id, h->fence);
    }
}

/* States after which a worker must stop what it holds of a run: taken away, not finished by
 * the worker itself (that one knows). */
static bool takenAway(uint32_t state)
{
    return state == RC_RUN_CANCELLED || state == RC_RUN_LOST || state == RC_RUN_DEAD ||
           state == RC_RUN_PENDING || state == RC_RUN_RETRY_WAIT;
}

/* Bring what the workers were told in line with the FSM for one run (the flush). */
static void reconcile(struct dispatch *d, uint64_t run_id, int64_t now)
{
    struct rc_fsm *f = fsmOf(d);
    const Raftcron__Run *run = fsmRunGet(f, run_id);
    struct holder *h = u64mapGet(&d->holders, run_id);
    bool held = run != NULL && (run->state == RC_RUN_ASSIGNED || run->state == RC_RUN_RUNNING);
    if (h != NULL && (!held || h->worker_id != run->worker_id || h->fence != run->fence)) {
        if (run == NULL || held || takenAway(run->state)) {
            cancelTo(d, h);
        }
        holderDrop(d, run_id);
        h = NULL;
    }
    if (!held) {
        return;
    }
    struct dispatch_session *s = sessionOf(d, run->worker_id);
    if (h == NULL) {
        h = holderPut(d, run, now);
        if (h == NULL) {
            return;
        }
        if (s != NULL && run->worker_incarnation == s->incarnation &&
            run->state == RC_RUN_ASSIGNED) {
            const Raftcron__Job *job = fsmJobOfRun(f, run);
            if (job != NULL) {
                queueAssign(s, run, job->spec);
            }
        }
    }
    if (run->state == RC_RUN_ASSIGNED && run->accepted_us != 0 && !h->accepted_pushed) {
        h->accepted_pushed = true;
        h->ack_deadline = 0;
        h->overdue = false;
        if (s != NULL && run->worker_incarnation == s->incarnation) {
            queueRef(&s->refs, &s->n_accepted, &s->cap_refs, run->id, run->fence);
        }
    }
}

/* The whole set for one session: every run assigned to its worker process. */
static void syncSession(struct dispatch *d, struct dispatch_session *s)
{
    struct rc_fsm *f = fsmOf(d);
    size_t n =
        fsmRunsSelect(f, 1u << RC_RUN_ASSIGNED | 1u << RC_RUN_RUNNING, s->worker_id, NULL, 0);
    const Raftcron__Run **runs = n > 0 ? malloc(n * sizeof *runs) : NULL;
    if (n > 0 && runs == NULL) {
        return;
    }
    n = fsmRunsSelect(f, 1u << RC_RUN_ASSIGNED | 1u << RC_RUN_RUNNING, s->worker_id, runs, n);
    for (size_t i = 0; i < n; i++) {
        const Raftcron__Run *run = runs[i];
        const Raftcron__Job *job = fsmJobOfRun(f, run);
        if (run->worker_incarnation != s->incarnation || job == NULL) {
            continue;
        }
        queueAssign(s, run, job->spec);
        if (run->accepted_us != 0 || run->state == RC_RUN_RUNNING) {
            queueRef(&s->refs, &s->n_accepted, &s->cap_refs, run->id, run->fence);
            struct holder *h = u64mapGet(&d->holders, run->id);
            if (h != NULL) {
                h->accepted_pushed = true;
            }
        }
    }
    sendQueued(d, s, true);
    free(runs);
}

/* Every ASSIGNED or RUNNING run of the FSM becomes a holder (activation, after a restore). */
static void rebuildHolders(struct dispatch *d, int64_t now)
{
    size_t pos = 0;
    struct holder *h;
    while ((h = u64mapNext(&d->holders, &pos, NULL)) != NULL) {
        free(h);
    }
    u64mapClear(&d->holders);
    struct rc_fsm *f = fsmOf(d);
    uint32_t mask = 1u << RC_RUN_ASSIGNED | 1u << RC_RUN_RUNNING;
    size_t n = fsmRunsSelect(f, mask, 0, NULL, 0);
    const Raftcron__Run **runs = n > 0 ? malloc(n * sizeof *runs) : NULL;
    if (n > 0 && runs == NULL) {
        return;
    }
    n = fsmRunsSelect(f, mask, 0, runs, n);
    for (size_t i = 0; i < n; i++) {
        struct holder *nh = holderPut(d, runs[i], now);
        if (nh != NULL) {
            nh->accepted_pushed = runs[i]->accepted_us != 0 || runs[i]->state == RC_RUN_RUNNING;
        }
    }
    free(runs);
}

/* ---- The flush: after apply and reports, on the loop ---------------------------------------- */

static void proposeNext(struct dispatch *d);

static void onFlush(struct io_timer *t)
{
    struct dispatch *d = t->data;
    if (d->state != DISPATCH_ACTIVE) {
        return;
    }
    int64_t now = mono(d);
    if (d->resync) {
        d->resync = false;
        u64mapClear(&d->dirty);
        rebuildHolders(d, now);
        for (size_t i = 0; i < d->n_sessions; i++) {
            syncSession(d, d->sessions[i]);
        }
    }
    size_t pos = 0;
    uint64_t run_id;
    while (u64mapNext(&d->dirty, &pos, &run_id) != NULL) {
        reconcile(d, run_id, now);
    }
    u64mapClear(&d->dirty);
    for (size_t i = 0; i < d->n_sessions; i++) {
        sendQueued(d, d->sessions[i], false);
    }
    proposeNext(d);
}

/* Ack deadlines: an assignment still unacknowledged is overdue; the leader loop reassigns it. */
static void onAcks(struct io_timer *t)
{
    struct dispatch *d = t->data;
    if (d->state != DISPATCH_ACTIVE) {
        return;
    }
    int64_t now = mono(d);
    bool found = false;
    struct rc_fsm *f = fsmOf(d);
    while (d->n_acks > 0) {
        struct ack_entry e = d->acks_q[d->head_acks];
        if (e.deadline > now) {
            ioTimerStart(&d->acks, e.deadline, onAcks);
            break;
        }
        d->head_acks = (d->head_acks + 1) % d->cap_acks;
        d->n_acks--;
        struct holder *h = u64mapGet(&d->holders, e.run_id);
        if (h == NULL || h->fence != e.fence || h->ack_deadline == 0 || h->overdue) {
            continue;
        }
        const Raftcron__Run *run = fsmRunGet(f, h->run_id);
        if (run != NULL && run->state == RC_RUN_ASSIGNED && run->accepted_us == 0 &&
            run->fence == h->fence) {
            h->overdue = true;
            found = true;
            d->stats.overdue++;
            LOG_INFO("assignment not acknowledged in time: reassigning", "run", "%llu",
                     (unsigned long long)h->run_id, "worker", "%llu",
                     (unsigned long long)h->worker_id);
        } else {
            h->ack_deadline = 0;
        }
    }
    if (found) {
        poke(d);
    }
}

/* ---- The FSM observer ------------------------------------------------------------------------ */

static void runChanged(void *data, const Raftcron__Run *run, uint32_t from, bool dropped)
{
    struct dispatch *d = data;
    (void)from;
    (void)dropped;
    if (d->state != DISPATCH_ACTIVE) {
        return;
    }
    if (u64mapPut(&d->dirty, run->id, d) != 0) {
        d->resync = true; /* no memory to remember the run: look at everything */
    }
    flushSoon(d);
}

static void restored(void *data)
{
    struct dispatch *d = data;
    if (d->state == DISPATCH_ACTIVE) {
        d->resync = true;
        flushSoon(d);
    }
}

/* ---- Group commit -----------------------------------------------------------------------------
 */

static void finishWaiters(struct dispatch_waiter *w, size_t n, int status)
{
    for (size_t i = 0; i < n; i++) {
        w[i].cb(w[i].data, status);
    }
}

static void batchApplied(void *data, int status, const struct rc_fsm_result *res)
{
    struct dispatch *d = data;
    (void)res;
    d->in_flight = false;
    if (status == 0) { /* a failed entry (leadership lost) measures no commit */
        d->stats.commit_us_last = mono(d) - d->proposed_mono;
    }

    struct dispatch_waiter *w = d->inflight;
    size_t n = d->n_inflight;
    d->inflight = NULL;
    d->n_inflight = 0;
    finishWaiters(w, n, status);
    free(w);
    if (status == 0) {
        poke(d); /* finished runs free capacity */
    }
    if (d->state == DISPATCH_ACTIVE) {
        proposeNext(d);
    }
}

static void proposeNext(struct dispatch *d)
{
    if (d->in_flight || d->next.n == 0 || d->state != DISPATCH_ACTIVE) {
        return;
    }
    void *buf;
    size_t len;
    int rv = commandBatchFinish(&d->next, &buf, &len);
    size_t n_cmds = d->next.n;
    if (rv == 0) {
        rv = d->io->propose(d->io, buf, len, batchApplied, d);
        free(buf);
    }
    commandBatchReset(&d->next);
    struct dispatch_waiter *w = d->waiters;
    size_t n = d->n_waiters;
    d->waiters = NULL;
    d->n_waiters = d->cap_waiters = 0;
    if (rv != 0) {
        finishWaiters(w, n, rv);
        free(w);
        return;
    }
    d->in_flight = true;
    d->inflight = w;
    d->n_inflight = n;
    d->proposed_mono = mono(d);
    d->stats.batches++;
    d->stats.batch_cmds += n_cmds;
}

static int queueCommand(struct dispatch *d, int rv, void *buf, size_t len)
{
    if (rv == 0) {
        rv = commandBatchAdd(&d->next, buf, len);
        free(buf);
    }
    return rv;
}

/* ---- Sessions -----------------------------------------------------------------------------------
 */

static void sessionFree(struct dispatch_session *s)
{
    free(s->assign);
    free(s->refs);
    free(s->cancel_refs);
    free(s);
}

static void sessionRemove(struct dispatch *d, struct dispatch_session *s)
{
    for (size_t i = 0; i < d->n_sessions; i++) {
        if (d->sessions[i] == s) {
            d->sessions[i] = d->sessions[--d->n_sessions];
            break;
        }
    }
    s->peer->session = NULL;
    sessionFree(s);
}

static void sessionEnd(struct dispatch *d, struct dispatch_session *s, int status, const char *msg)
{
    struct dispatch_peer *peer = s->peer;
    sessionRemove(d, s);
    peer->ops->end(peer, status, msg);
}

static bool sameIdentity(const Raftcron__Worker *have, const Raftcron__Worker *w)
{
    if (!have->alive || have->incarnation != w->incarnation || have->capacity != w->capacity ||
        strcmp(have->address, w->address) != 0 || have->n_tags != w->n_tags) {
        return false;
    }
    for (size_t i = 0; i < w->n_tags; i++) {
        bool found = false;
        for (size_t j = 0; j < have->n_tags && !found; j++) {
            found = strcmp(have->tags[j]->key, w->tags[i]->key) == 0 &&
                    strcmp(have->tags[j]->value, w->tags[i]->value) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static int refuseOpen(struct dispatch *d, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuseOpen(struct dispatch *d, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof d->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

/* The held runs of a reconnecting worker: an assignment it has and never acknowledged counts
 * as acknowledged now. */
static void takeHeld(struct dispatch *d, struct dispatch_session *s, const Raftcron__SessionOpen *o)
{
    struct rc_fsm *f = fsmOf(d);
    int64_t now = ioWall(d->io);
    for (size_t i = 0; i < o->n_held; i++) {
        const Raftcron__HeldRun *hr = o->held[i];
        const Raftcron__Run *run = fsmRunGet(f, hr->run_id);
        if (run == NULL || run->state != RC_RUN_ASSIGNED || run->fence != hr->fence ||
            run->worker_id != s->worker_id || run->worker_incarnation != s->incarnation ||
            run->accepted_us != 0) {
            continue;
        }
        void *buf;
        size_t len;
        int rv = commandEncodeRunAccept(run->id, run->fence, now, &buf, &len);
        if (queueCommand(d, rv, buf, len) == 0) {
            struct holder *h = u64mapGet(&d->holders, run->id);
            if (h != NULL) {
                h->ack_deadline = 0;
            }
        }
    }
}

int dispatchOpen(struct dispatch *d, struct dispatch_peer *peer, const Raftcron__SessionOpen *open)
{
    d->errmsg[0] = '\0';
    if (d->state != DISPATCH_ACTIVE) {
        return refuseOpen(d, RC_STATUS_UNAVAILABLE, "not the active leader");
    }
    const Raftcron__Worker *w = open->worker;
    if (w == NULL || w->id == 0 || w->incarnation == 0 || w->address[0] == '\0') {
        return refuseOpen(d, RC_STATUS_INVALID_ARGUMENT,
                          "Worker.Session: worker id, incarnation and address are required");
    }
    struct rc_fsm *f = fsmOf(d);
    const char *member = fsmMemberRpcAddr(f, w->id);
    if (member != NULL && strcmp(member, w->address) != 0) {
        /* Two workers under one id would take each other's runs: refuse the newcomer. */
        return refuseOpen(d, RC_STATUS_ALREADY_EXISTS,
                          "Worker.Session: id %llu belongs to member node %s; a worker agent "
                          "needs an id of its own",
                          (unsigned long long)w->id, member);
    }
    struct dispatch_session *old = sessionOf(d, w->id);
    if (old != NULL) {
        sessionEnd(d, old, RC_STATUS_ABORTED, "replaced by a newer session of this worker");
    }
    struct dispatch_session *s = calloc(1, sizeof *s);
    if (s == NULL || growArray((void **)&d->sessions, &d->cap_sessions, d->n_sessions + 1,
                               sizeof *d->sessions) != 0) {
        free(s);
        return refuseOpen(d, RC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    s->peer = peer;
    s->worker_id = w->id;
    s->incarnation = w->incarnation;
    s->last_heard = mono(d);
    heardFrom(d, w->id, s->last_heard);
    peer->session = s;
    d->sessions[d->n_sessions++] = s;
    const Raftcron__Worker *have = fsmWorkerGet(f, w->id);
    if (have == NULL || !sameIdentity(have, w)) {
        Raftcron__Worker up = *w;
        up.alive = true;
        void *buf;
        size_t len;
        int rv = commandEncodeWorkerUp(&up, ioWall(d->io), &buf, &len);
        queueCommand(d, rv, buf, len);
    }
    takeHeld(d, s, open);
    syncSession(d, s);
    flushSoon(d);
    if (sessionLive(d, s, s->last_heard)) {
        s->was_live = true;
        poke(d);
    }
    return 0;
}

void dispatchPeerGone(struct dispatch *d, struct dispatch_peer *peer)
{
    if (peer->session != NULL) {
        sessionRemove(d, peer->session);
    }
}

/* ---- Reports -----------------------------------------------------------------------------------
 */

/* Rule (rpc_worker.c before: a skewed worker cannot move history around): the worker's clock,
 * but never later than the leader's now nor more than a minute before it. */
static int64_t clampAt(int64_t at, int64_t now)
{
    if (at <= 0 || at > now) {
        return now;
    }
    return at < now - DISPATCH_CLOCK_WINDOW_US ? now - DISPATCH_CLOCK_WINDOW_US : at;
}

/* What enters the log is bounded before it is proposed, not only at apply: the output tail
 * and the error are cut to what the ledger keeps (ledger.h). */
static void boundOutcome(Raftcron__Outcome *o, Raftcron__Outcome *copy)
{
    *copy = *o;
    if (copy->output_tail.len > RC_LEDGER_OUTPUT_MAX) {
        copy->output_tail.data += copy->output_tail.len - RC_LEDGER_OUTPUT_MAX;
        copy->output_tail.len = RC_LEDGER_OUTPUT_MAX;
    }
}

static int reportItem(struct dispatch *d, struct dispatch_session *s,
                      const Raftcron__WorkerReport *r, int64_t now, bool *queued)
{
    struct rc_fsm *f = fsmOf(d);
    const Raftcron__Run *run = fsmRunGet(f, r->run_id);
    if (run == NULL || run->worker_id != s->worker_id ||
        run->worker_incarnation != s->incarnation) {
        d->stats.foreign += run != NULL;
        if (run != NULL && r->kind == 3) {
            LOG_INFO("report of a run assigned elsewhere: ignored", "run", "%llu",
                     (unsigned long long)r->run_id, "worker", "%llu",
                     (unsigned long long)s->worker_id, "assigned", "%llu",
                     (unsigned long long)run->worker_id);
        }
        return 0; /* gone, or not this worker's: nothing it says can matter */
    }
    void *buf = NULL;
    size_t len = 0;
    int rv = 0;
    switch (r->kind) {
    case 1: /* received */
        if (run->state != RC_RUN_ASSIGNED || run->fence != r->fence) {
            queueRef(&s->cancel_refs, &s->n_cancel, &s->cap_cancel, r->run_id, r->fence);
            flushSoon(d);
            return 0;
        }
        if (run->accepted_us != 0) {
            queueRef(&s->refs, &s->n_accepted, &s->cap_refs, run->id, run->fence);
            flushSoon(d);
            return 0;
        }
        /* Late (overdue) or not, the acknowledgement is proposed: if a reassignment commits
         * first, the acceptance is refused for its old fence; if the acceptance does, the
         * reassignment is refused. Either way one worker may start the run. */
        struct holder *h = u64mapGet(&d->holders, run->id);
        if (h != NULL) {
            h->ack_deadline = 0;
            h->overdue = false;
        }
        rv = commandEncodeRunAccept(run->id, run->fence, now, &buf, &len);
        break;
    case 2: /* started */
        rv = commandEncodeRunStarted(r->run_id, r->fence, clampAt(r->at_us, now), &buf, &len);
        break;
    case 3: { /* finished */
        if (r->started_us != 0 && run->state == RC_RUN_ASSIGNED) {
            rv = commandEncodeRunStarted(r->run_id, r->fence, clampAt(r->started_us, now), &buf,
                                         &len);
            rv = queueCommand(d, rv, buf, len);
            if (rv != 0) {
                return rv;
            }
        }
        Raftcron__Outcome o;
        if (r->outcome != NULL) {
            boundOutcome(r->outcome, &o);
        }
        rv = commandEncodeRunFinished(r->run_id, r->fence, r->state, r->outcome != NULL ? &o : NULL,
                                      clampAt(r->at_us, now), &buf, &len);
        break;
    }
    case 4: /* lost */
        rv = commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_RUN_LOST, r->run_id, r->fence,
                                 "the worker lost the run (it restarted)", now, &buf, &len);
        break;
    default:
        return 0;
    }
    rv = queueCommand(d, rv, buf, len);
    *queued |= rv == 0;
    return rv;
}

/* A worker marked down (silent for the worker timeout: this leader could not hear it for a
 * while) that still talks on its session is up again: commit WorkerUp, at most once a second,
 * rather than leave it without work until it happens to reconnect. Its runs were LOST with the
 * WorkerDown; the worker, whose lease ran out before that, drops them on the cancel pushes. */
static void reviveIfDown(struct dispatch *d, struct dispatch_session *s, int64_t now_mono,
                         int64_t now)
{
    const Raftcron__Worker *have = fsmWorkerGet(fsmOf(d), s->worker_id);
    if (have == NULL || have->alive || have->incarnation != s->incarnation ||
        (s->revived != 0 && now_mono - s->revived < 1000000)) {
        return;
    }
    Raftcron__Worker up = *have;
    up.alive = true;
    void *buf;
    size_t len;
    int rv = commandEncodeWorkerUp(&up, now, &buf, &len);
    if (queueCommand(d, rv, buf, len) == 0) {
        s->revived = now_mono;
        LOG_INFO("worker marked down is talking again: marking it up", "worker", "%llu",
                 (unsigned long long)s->worker_id);
        flushSoon(d);
    }
}

int dispatchReport(struct dispatch *d, struct dispatch_peer *peer, const Raftcron__ReportBatch *b,
                   dispatch_report_cb cb, void *data)
{
    struct dispatch_session *s = peer->session;
    if (d->state != DISPATCH_ACTIVE || s == NULL) {
        return -RC_ENOTLEADER;
    }
    int64_t now_mono = mono(d);
    s->last_heard = now_mono;
    heardFrom(d, s->worker_id, now_mono);
    if (!s->was_live && sessionLive(d, s, now_mono)) {
        s->was_live = true;
        poke(d);
    }
    int64_t now = ioWall(d->io);
    bool queued = false;
    reviveIfDown(d, s, now_mono, now);
    for (size_t i = 0; i < b->n_reports; i++) {
        int rv = reportItem(d, s, b->reports[i], now, &queued);
        if (rv != 0) {
            return -rv;
        }
    }
    if (!queued) {
        return 1;
    }
    if (growArray((void **)&d->waiters, &d->cap_waiters, d->n_waiters + 1, sizeof *d->waiters) !=
        0) {
        return -RC_ENOMEM;
    }
    d->waiters[d->n_waiters++] = (struct dispatch_waiter){cb, data};
    flushSoon(d);
    return 0;
}

/* ---- Queries ------------------------------------------------------------------------------------
 */

static int cmpU64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

const uint64_t *dispatchLive(struct dispatch *d, size_t *n)
{
    *n = 0;
    if (growArray((void **)&d->live, &d->cap_live, d->n_sessions + 1, sizeof *d->live) != 0) {
        return d->live;
    }
    int64_t now = mono(d);
    for (size_t i = 0; i < d->n_sessions; i++) {
        struct dispatch_session *s = d->sessions[i];
        bool live = sessionLive(d, s, now);
        s->was_live = live;
        if (live) {
            d->live[(*n)++] = s->worker_id;
        }
    }
    qsort(d->live, *n, sizeof *d->live, cmpU64);
    return d->live;
}

const uint64_t *dispatchOverdue(struct dispatch *d, size_t *n)
{
    *n = 0;
    size_t count = 0;
    size_t pos = 0;
    struct holder *h;
    while ((h = u64mapNext(&d->holders, &pos, NULL)) != NULL) {
        count += h->overdue;
    }
    if (count == 0 ||
        growArray((void **)&d->overdue, &d->cap_overdue, count, sizeof *d->overdue) != 0) {
        return d->overdue;
    }
    pos = 0;
    while ((h = u64mapNext(&d->holders, &pos, NULL)) != NULL) {
        if (h->overdue) {
            d->overdue[(*n)++] = h->run_id;
        }
    }
    qsort(d->overdue, *n, sizeof *d->overdue, cmpU64);
    return d->overdue;
}

int64_t dispatchLastHeard(const struct dispatch *d, uint64_t worker_id)
{
    const int64_t *t = u64mapGet(&d->heard, worker_id);
    return t != NULL ? *t : INT64_MIN;
}

/* ---- Lifecycle ---------------------------------------------------------------------------------
 */

int dispatchInit(struct dispatch *d, struct node_io *io, const struct dispatch_options *o)
{
    memset(d, 0, sizeof *d);
    d->io = io;
    d->o = *o;
    if (d->o.ack_timeout_us <= 0) {
        d->o.ack_timeout_us = DISPATCH_ACK_TIMEOUT_US;
    }
    if (d->o.live_window_us <= 0) {
        d->o.live_window_us = DISPATCH_LIVE_WINDOW_US;
    }
    if (d->o.max_batch == 0) {
        d->o.max_batch = DISPATCH_MAX_BATCH;
    }
    u64mapInit(&d->holders);
    u64mapInit(&d->heard);
    u64mapInit(&d->dirty);
    commandBatchInit(&d->next);
    int rv = ioTimerInit(io, &d->flush, IO_MONO);
    if (rv != 0) {
        return rv;
    }
    rv = ioTimerInit(io, &d->acks, IO_MONO);
    if (rv != 0) {
        ioTimerClose(&d->flush, NULL);
        return rv;
    }
    d->flush.data = d->acks.data = d;
    d->flush.cb = onFlush;
    d->acks.cb = onAcks;
    d->obs.run_changed = runChanged;
    d->obs.restored = restored;
    fsmSetObserver(fsmOf(d), &d->obs, d);
    return 0;
}

void dispatchActivate(struct dispatch *d, uint64_t term)
{
    if (d->state == DISPATCH_CLOSED) {
        return;
    }
    if (d->state == DISPATCH_ACTIVE) {
        dispatchDeactivate(d);
    }
    d->state = DISPATCH_ACTIVE;
    d->term = term;
    d->active_since_mono = mono(d);
    u64mapClear(&d->dirty);
    d->resync = false;
    rebuildHolders(d, d->active_since_mono);
}

void dispatchDeactivate(struct dispatch *d)
{
    if (d->state != DISPATCH_ACTIVE) {
        return;
    }
    d->state = DISPATCH_IDLE;
    ioTimerStop(&d->flush);
    ioTimerStop(&d->acks);
    d->n_acks = d->head_acks = 0;
    while (d->n_sessions > 0) {
        sessionEnd(d, d->sessions[d->n_sessions - 1], RC_STATUS_UNAVAILABLE,
                   "the leader stepped down");
    }
    finishWaiters(d->waiters, d->n_waiters, RC_ENOTLEADER);
    free(d->waiters);
    d->waiters = NULL;
    d->n_waiters = d->cap_waiters = 0;
    commandBatchReset(&d->next);
    /* The entry in flight answers its waiters through its own callback. */
    size_t pos = 0;
    struct holder *h;
    while ((h = u64mapNext(&d->holders, &pos, NULL)) != NULL) {
        free(h);
    }
    u64mapClear(&d->holders);
    u64mapClear(&d->dirty);
    forgetHeard(d);
}

static void timerClosed(struct io_timer *t)
{
    struct dispatch *d = t->data;
    if (--d->pending_close == 0) {
        free(d->live);
        free(d->overdue);
        free(d->acks_q);
        free(d->sessions);
        u64mapClose(&d->holders);
        forgetHeard(d);
        u64mapClose(&d->heard);
        u64mapClose(&d->dirty);
        commandBatchClose(&d->next);
        if (d->close_cb != NULL) {
            d->close_cb(d);
        }
    }
}

void dispatchClose(struct dispatch *d, void (*cb)(struct dispatch *d))
{
    dispatchDeactivate(d);
    d->state = DISPATCH_CLOSED;
    fsmSetObserver(fsmOf(d), NULL, NULL);
    d->close_cb = cb;
    d->pending_close = 2;
    ioTimerClose(&d->flush, timerClosed);
    ioTimerClose(&d->acks, timerClosed);
}
