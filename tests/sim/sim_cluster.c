#include "sim_cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "core/pbuf.h"
#include "core/runs.h"
#include "node/link.h"
#include "node/log.h"
#include "raft/fsm_bridge.h"

enum { SIM_LINK_IDLE = 0, SIM_LINK_OPENING, SIM_LINK_UP, SIM_LINK_LOCAL };
enum { MSG_OPEN = 1, MSG_PUSH, MSG_END, MSG_REPORT, MSG_ANSWER };

/* A message between a worker (on server w) and a dispatcher (on server d). */
struct sim_msg {
    struct sim_msg *next;
    int64_t at;
    uint64_t seq; /* sending order: ties in `at` are delivered in it, as one stream would */
    int kind;
    unsigned w;
    unsigned d;
    uint64_t session;
    uint8_t *buf; /* owned: a packed SessionOpen, SessionPush or ReportBatch */
    size_t len;
    uint64_t tag;
    int status;
};

/* A remote session as the dispatcher on server d holds it. */
struct sim_peer {
    struct dispatch_peer peer; /* first */
    struct sim_peer *next;
    struct sim *sim;
    unsigned w;
    unsigned d;
    uint64_t session;
};

/* A report call waiting for the dispatcher's answer. */
struct sim_call {
    struct sim *sim;
    unsigned w;
    unsigned d;
    uint64_t session;
    uint64_t tag;
    bool local;
};

/* Wraps a run's done, to record the end of its execution. */
struct sim_run {
    exec_done_cb done;
    void *data;
    size_t exec;
    struct sim *sim;
};

static struct raft_tracer silent;

static void silentEmit(struct raft_tracer *t, int type, const void *info)
{
    (void)t;
    (void)type;
    (void)info;
}

static struct sim_server *serverOf(struct node_io *io)
{
    return io->impl;
}

int64_t simNow(const struct sim *s)
{
    return SIM_T0 + s->now;
}

int64_t simWall(const struct sim *s, unsigned i)
{
    return simNow(s) + s->s[i].clock_offset;
}

static struct raft *raftOf(struct sim *s, unsigned i)
{
    return raft_fixture_get(&s->f, i);
}

static bool reachable(const struct sim *s, unsigned a, unsigned b)
{
    return s->s[a].up && s->s[b].up && !s->cut[a][b];
}

/* ---- The io seam: clocks and timers on virtual time ----------------------------------------- */

static int64_t ioWallNow(struct node_io *io)
{
    struct sim_server *sv = serverOf(io);
    return simWall(sv->sim, sv->i);
}

static int64_t ioMonoNow(struct node_io *io)
{
    return simNow(serverOf(io)->sim);
}

/* A timer's deadline on the virtual clock. */
static int64_t timerDue(const struct io_timer *t)
{
    struct sim_server *sv = serverOf(t->io);
    return t->clock == IO_WALL ? t->deadline_us - sv->clock_offset : t->deadline_us;
}

static void timerUnlist(struct sim *s, struct io_timer *t)
{
    for (size_t i = 0; i < s->n_timers; i++) {
        if (s->timers[i] == t) {
            s->timers[i] = s->timers[--s->n_timers];
            return;
        }
    }
}

static int timerInit(struct node_io *io, struct io_timer *t, enum io_clock clock)
{
    t->io = io;
    t->clock = clock;
    t->state = IO_TIMER_IDLE;
    t->deadline_us = 0;
    t->impl = NULL;
    return 0;
}

static int timerStart(struct io_timer *t, int64_t deadline_us, io_timer_cb cb)
{
    if (t->state == IO_TIMER_CLOSING || t->state == IO_TIMER_CLOSED || cb == NULL) {
        return RC_EINVAL;
    }
    struct sim *s = serverOf(t->io)->sim;
    t->cb = cb;
    t->deadline_us = deadline_us;
    if (t->state != IO_TIMER_ARMED) {
        if (s->n_timers == s->cap_timers) {
            s->cap_timers = s->cap_timers ? 2 * s->cap_timers : 64;
            s->timers = realloc(s->timers, s->cap_timers * sizeof *s->timers);
            assert_non_null(s->timers);
        }
        s->timers[s->n_timers++] = t;
    }
    t->state = IO_TIMER_ARMED;
    return 0;
}

static void timerStop(struct io_timer *t)
{
    if (t->state == IO_TIMER_ARMED) {
        timerUnlist(serverOf(t->io)->sim, t);
        t->state = IO_TIMER_IDLE;
    }
}

static void timerClose(struct io_timer *t, io_timer_cb close_cb)
{
    if (t->state == IO_TIMER_CLOSING || t->state == IO_TIMER_CLOSED) {
        return;
    }
    timerStop(t);
    t->state = IO_TIMER_CLOSING;
    t->close_cb = close_cb;
    struct sim *s = serverOf(t->io)->sim;
    if (s->n_closing == s->cap_closing) {
        s->cap_closing = s->cap_closing ? 2 * s->cap_closing : 64;
        s->closing = realloc(s->closing, s->cap_closing * sizeof *s->closing);
        assert_non_null(s->closing);
    }
    s->closing[s->n_closing++] = t;
}

/* ---- The io seam: Raft through the fixture ----------------------------------------------------
 */

struct sim_prop {
    struct raft_apply req;
    struct sim_server *sv;
    struct sim_proc *proc; /* the process that proposed (it may be dead by the answer) */
    io_apply_cb cb;
    void *data;
};

struct sim_barrier {
    struct raft_barrier req;
    io_done_cb cb;
    void *data;
};

static struct rc_fsm *ioFsm(struct node_io *io)
{
    return serverOf(io)->core;
}

static bool ioIsLeader(struct node_io *io)
{
    struct sim_server *sv = serverOf(io);
    return sv->up && raft_state(raftOf(sv->sim, sv->i)) == RAFT_LEADER;
}

struct sim_proc *simProc(struct sim *s, unsigned i)
{
    return s->s[i].proc;
}

static uint64_t ioTerm(struct node_io *io)
{
    struct sim_server *sv = serverOf(io);
    return raftOf(sv->sim, sv->i)->current_term;
}

static void propApplied(struct raft_apply *req, int status, void *result)
{
    struct sim_prop *p = req->data;
    struct sim_server *sv = p->sv;
    (void)result;
    struct rc_fsm_result res;
    if (status == 0 && !fsmBridgeResult(&sv->fsm, p->req.index, &res)) {
        memset(&res, 0, sizeof res);
        res.code = RC_EINTERNAL;
    }
    int code = status == 0                                                 ? 0
               : status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST ? RC_ENOTLEADER
                                                                           : RC_EIO;
    io_apply_cb cb = p->cb;
    void *data = p->data;
    struct sim_proc *proc = p->proc;
    free(p);
    cb(data, code, status == 0 ? &res : NULL);
    if (status == 0 && proc == sv->proc && proc != NULL) {
        leaderPoke(&proc->l); /* what node.c's onApplied does */
    }
}

static int ioPropose(struct node_io *io, const void *buf, size_t len, io_apply_cb cb, void *data)
{
    struct sim_server *sv = serverOf(io);
    struct raft *r = raftOf(sv->sim, sv->i);
    if (!sv->up || raft_state(r) != RAFT_LEADER) {
        return RC_ENOTLEADER;
    }
    struct sim_prop *p = calloc(1, sizeof *p);
    assert_non_null(p);
    struct raft_buffer b;
    assert_int_equal(fsmBridgeEncodeEntry(buf, len, &b), 0);
    p->req.data = p;
    p->sv = sv;
    p->proc = sv->proc;
    p->cb = cb;
    p->data = data;
    if (raft_apply(r, &p->req, &b, 1, propApplied) != 0) {
        free(p);
        return RC_ENOTLEADER;
    }
    return 0;
}

static void barrierDone(struct raft_barrier *req, int status)
{
    struct sim_barrier *b = req->data;
    io_done_cb cb = b->cb;
    void *data = b->data;
    free(b);
    cb(data, status == 0 ? 0 : RC_ENOTLEADER, status == 0 ? "" : raft_strerror(status));
}

static int ioBarrier(struct node_io *io, io_done_cb cb, void *data)
{
    struct sim_server *sv = serverOf(io);
    struct raft *r = raftOf(sv->sim, sv->i);
    if (!sv->up || raft_state(r) != RAFT_LEADER) {
        return RC_ENOTLEADER;
    }
    struct sim_barrier *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->req.data = b;
    b->cb = cb;
    b->data = data;
    if (raft_barrier(r, &b->req, barrierDone) != 0) {
        free(b);
        return RC_ENOTLEADER;
    }
    return 0;
}

/* ---- Messages ----------------------------------------------------------------------------------
 */

static void simSend(struct sim *s, int kind, unsigned w, unsigned d, uint64_t session,
                    const ProtobufCMessage *m, uint64_t tag, int status)
{
    unsigned from = kind == MSG_OPEN || kind == MSG_REPORT ? w : d;
    unsigned to = from == w ? d : w;
    if (!reachable(s, from, to) && from != to) {
        s->dropped_msgs++;
        return;
    }
    struct sim_msg *msg = calloc(1, sizeof *msg);
    assert_non_null(msg);
    msg->at = s->now + (from == to ? 0 : s->link_latency_us[w]);
    msg->seq = ++s->msg_seq;
    msg->kind = kind;
    msg->w = w;
    msg->d = d;
    msg->session = session;
    msg->tag = tag;
    msg->status = status;
    if (m != NULL) {
        msg->len = protobuf_c_message_get_packed_size(m);
        msg->buf = malloc(msg->len + 1);
        assert_non_null(msg->buf);
        protobuf_c_message_pack(m, msg->buf);
    }
    msg->next = s->msgs;
    s->msgs = msg;
}

/* ---- The dispatcher's remote peers ---------------------------------------------------------- */

static void peerPush(struct dispatch_peer *p, const Raftcron__SessionPush *msg)
{
    struct sim_peer *sp = (struct sim_peer *)p;
    simSend(sp->sim, MSG_PUSH, sp->w, sp->d, sp->session, &msg->base, 0, 0);
}

static void peerUnlink(struct sim_peer *sp)
{
    struct sim_proc *d = sp->sim->s[sp->d].proc;
    for (struct sim_peer **pp = d != NULL ? &d->peers : NULL; pp != NULL && *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == sp) {
            *pp = sp->next;
            return;
        }
    }
}

static void peerEnd(struct dispatch_peer *p, int status, const char *msg)
{
    struct sim_peer *sp = (struct sim_peer *)p;
    (void)msg;
    simSend(sp->sim, MSG_END, sp->w, sp->d, sp->session, NULL, 0, status);
    peerUnlink(sp);
    free(sp);
}

static const struct dispatch_peer_ops peerOps = {.push = peerPush, .end = peerEnd};

static struct sim_peer *findPeer(struct sim *s, unsigned d, unsigned w, uint64_t session)
{
    for (struct sim_peer *sp = s->s[d].proc->peers; sp != NULL; sp = sp->next) {
        if (sp->w == w && sp->session == session) {
            return sp;
        }
    }
    return NULL;
}

static void linkEnd(struct sim_server *sv);

/* Sessions reset: those dispatcher d holds with worker w (w_only), or all it holds (w_only
 * < 0; d's process died: the workers see their connections reset at once). */
static void resetPeers(struct sim *s, unsigned d, int w_only)
{
    struct sim_proc *pd = s->s[d].proc;
    struct sim_peer **pp = pd != NULL ? &pd->peers : NULL;
    while (pp != NULL && *pp != NULL) {
        struct sim_peer *sp = *pp;
        if (w_only >= 0 && sp->w != (unsigned)w_only) {
            pp = &sp->next;
            continue;
        }
        *pp = sp->next;
        dispatchPeerGone(&pd->d, &sp->peer);
        struct sim_proc *pw = s->s[sp->w].proc;
        if (w_only < 0 && pw != NULL && pw->link.session == sp->session &&
            pw->link.state != SIM_LINK_IDLE) {
            linkEnd(&s->s[sp->w]);
        }
        free(sp);
    }
}

static void callAnswered(void *data, int status)
{
    struct sim_call *c = data;
    simSend(c->sim, MSG_ANSWER, c->w, c->d, c->session, NULL, c->tag, status);
    free(c);
}

/* ---- The worker's link ---------------------------------------------------------------------- */

static struct sim_proc *procOfLink(struct sim_link *lk)
{
    return (struct sim_proc *)((char *)lk - offsetof(struct sim_proc, link));
}

static void linkEnd(struct sim_server *sv)
{
    struct sim_proc *pr = sv->proc;
    struct sim_link *lk = &pr->link;
    if (lk->state == SIM_LINK_LOCAL) {
        dispatchPeerGone(&pr->d, &lk->local);
    }
    if (lk->state != SIM_LINK_IDLE) {
        workerOnSessionEnd(&pr->w);
    }
    lk->state = SIM_LINK_IDLE;
    lk->retry_at = sv->sim->now + LINK_BACKOFF_MIN_MS * 1000;
}

static void localPush(struct dispatch_peer *p, const Raftcron__SessionPush *msg)
{
    struct sim_link *lk = (struct sim_link *)((char *)p - offsetof(struct sim_link, local));
    struct sim_server *sv = procOfLink(lk)->sv;
    /* Delivered from the loop, never inside the dispatcher's call: a zero-latency message. */
    simSend(sv->sim, MSG_PUSH, sv->i, sv->i, lk->session, &msg->base, 0, 0);
}

static void localEnd(struct dispatch_peer *p, int status, const char *msg)
{
    struct sim_link *lk = (struct sim_link *)((char *)p - offsetof(struct sim_link, local));
    struct sim_server *sv = procOfLink(lk)->sv;
    (void)msg;
    simSend(sv->sim, MSG_END, sv->i, sv->i, lk->session, NULL, 0, status);
}

static const struct dispatch_peer_ops localOps = {.push = localPush, .end = localEnd};

static int linkReport(struct worker_link *wl, const Raftcron__ReportBatch *b, uint64_t tag)
{
    struct sim_link *lk = (struct sim_link *)wl;
    struct sim_proc *pr = procOfLink(lk);
    struct sim_server *sv = pr->sv;
    struct sim *s = sv->sim;
    if (lk->state == SIM_LINK_LOCAL) {
        struct sim_call *c = calloc(1, sizeof *c);
        assert_non_null(c);
        *c = (struct sim_call){s, sv->i, sv->i, lk->session, tag, true};
        int rv = dispatchReport(&pr->d, &lk->local, b, callAnswered, c);
        if (rv != 0) {
            free(c);
        }
        if (rv == 1) {
            simSend(s, MSG_ANSWER, sv->i, sv->i, lk->session, NULL, tag, 0);
        }
        return rv < 0 ? -rv : 0;
    }
    if (lk->state != SIM_LINK_UP) {
        return RC_ENOTLEADER;
    }
    simSend(s, MSG_REPORT, sv->i, lk->target, lk->session, &b->base, tag, 0);
    return 0;
}

static const struct worker_link_ops simLinkOps = {.report = linkReport};

/* Where the worker's session should be, as link.c's target says for a member. */
static bool linkTarget(struct sim_server *sv, unsigned *target)
{
    if (sv->proc->l.state == LEADER_ACTIVE) {
        *target = sv->i;
        return true;
    }
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(raftOf(sv->sim, sv->i), &leader, &addr);
    if (leader == 0 || leader == sv->i + 1) {
        return false;
    }
    *target = (unsigned)(leader - 1);
    return true;
}

static void openSession(struct sim_server *sv, unsigned target)
{
    struct sim_proc *pr = sv->proc;
    struct sim_link *lk = &pr->link;
    struct worker_hello h;
    assert_int_equal(workerHelloBuild(&pr->w, &h), 0);
    lk->session++;
    lk->target = target;
    lk->heard = sv->sim->now;
    if (target == sv->i) {
        lk->local.ops = &localOps;
        lk->local.session = NULL;
        lk->state = SIM_LINK_LOCAL;
        if (dispatchOpen(&pr->d, &lk->local, &h.open) != 0) {
            lk->state = SIM_LINK_IDLE;
            lk->retry_at = sv->sim->now + LINK_BACKOFF_MIN_MS * 1000;
        }
    } else {
        lk->state = SIM_LINK_OPENING;
        simSend(sv->sim, MSG_OPEN, sv->i, target, lk->session, &h.open.base, 0, 0);
    }
    workerHelloFree(&h);
}

/* link.c's decisions, once per step: follow the leader, notice silence, retry. */
static void linkTick(struct sim_server *sv)
{
    struct sim_link *lk = &sv->proc->link;
    struct sim *s = sv->sim;
    if (!sv->execute) {
        return;
    }
    unsigned target = 0;
    bool known = linkTarget(sv, &target);
    if (lk->state != SIM_LINK_IDLE && known && target != lk->target) {
        linkEnd(sv);
        lk->retry_at = s->now;
    }
    if ((lk->state == SIM_LINK_OPENING || lk->state == SIM_LINK_UP) &&
        s->now - lk->heard > LINK_SILENCE_MS * 1000) {
        linkEnd(sv);
    }
    if (lk->state == SIM_LINK_IDLE && known && s->now >= lk->retry_at) {
        openSession(sv, target);
    }
}

/* ---- Delivering messages -----------------------------------------------------------------------
 */

static void deliverToDispatcher(struct sim *s, struct sim_msg *m)
{
    struct sim_proc *d = s->s[m->d].proc;
    if (d == NULL) {
        return;
    }
    if (m->kind == MSG_OPEN) {
        ProtobufCMessage *open = NULL;
        assert_int_equal(pbufUnpack(&raftcron__session_open__descriptor, m->buf, m->len, &open), 0);
        struct sim_peer *sp = calloc(1, sizeof *sp);
        assert_non_null(sp);
        *sp = (struct sim_peer){
            .peer.ops = &peerOps, .sim = s, .w = m->w, .d = m->d, .session = m->session};
        sp->next = d->peers;
        d->peers = sp;
        int status = dispatchOpen(&d->d, &sp->peer, (Raftcron__SessionOpen *)open);
        protobuf_c_message_free_unpacked(open, NULL);
        if (status != 0) {
            peerUnlink(sp);
            free(sp);
            simSend(s, MSG_END, m->w, m->d, m->session, NULL, 0, status);
        }
        return;
    }
    /* MSG_REPORT */
    struct sim_peer *sp = findPeer(s, m->d, m->w, m->session);
    if (sp == NULL) {
        simSend(s, MSG_ANSWER, m->w, m->d, m->session, NULL, m->tag, RC_ENOTLEADER);
        return;
    }
    ProtobufCMessage *b = NULL;
    assert_int_equal(pbufUnpack(&raftcron__report_batch__descriptor, m->buf, m->len, &b), 0);
    struct sim_call *c = calloc(1, sizeof *c);
    assert_non_null(c);
    *c = (struct sim_call){s, m->w, m->d, m->session, m->tag, false};
    int rv = dispatchReport(&d->d, &sp->peer, (Raftcron__ReportBatch *)b, callAnswered, c);
    protobuf_c_message_free_unpacked(b, NULL);
    if (rv != 0) {
        free(c);
        simSend(s, MSG_ANSWER, m->w, m->d, m->session, NULL, m->tag, rv == 1 ? 0 : -rv);
    }
}

static void deliverToWorker(struct sim *s, struct sim_msg *m)
{
    struct sim_proc *w = s->s[m->w].proc;
    if (w == NULL) {
        return;
    }
    struct sim_link *lk = &w->link;
    if (m->session != lk->session || lk->state == SIM_LINK_IDLE) {
        return; /* an earlier session's */
    }
    lk->heard = s->now;
    switch (m->kind) {
    case MSG_PUSH: {
        ProtobufCMessage *p = NULL;
        assert_int_equal(pbufUnpack(&raftcron__session_push__descriptor, m->buf, m->len, &p), 0);
        const Raftcron__SessionPush *push = (const Raftcron__SessionPush *)p;
        if (push->sync && lk->state == SIM_LINK_OPENING) {
            lk->state = SIM_LINK_UP;
        }
        workerOnPush(&w->w, push);
        protobuf_c_message_free_unpacked(p, NULL);
        break;
    }
    case MSG_END:
        if (lk->state == SIM_LINK_LOCAL) {
            lk->state = SIM_LINK_IDLE; /* the dispatcher already forgot the peer */
            workerOnSessionEnd(&w->w);
            lk->retry_at = s->now + LINK_BACKOFF_MIN_MS * 1000;
        } else {
            linkEnd(w->sv);
        }
        break;
    case MSG_ANSWER:
        workerReported(&w->w, m->tag, m->status);
        break;
    default:
        break;
    }
}

static void deliver(struct sim *s, struct sim_msg *m)
{
    unsigned from = m->kind == MSG_OPEN || m->kind == MSG_REPORT ? m->w : m->d;
    unsigned to = from == m->w ? m->d : m->w;
    if (from != to && !reachable(s, from, to)) {
        s->dropped_msgs++;
        return;
    }
    if (m->kind == MSG_OPEN || m->kind == MSG_REPORT) {
        deliverToDispatcher(s, m);
    } else {
        deliverToWorker(s, m);
    }
}

/* ---- Recording executions -----------------------------------------------------------------------
 */

static void runEnded(struct exec_handle *h, const struct exec_result *res, void *data)
{
    struct sim_run *r = data;
    r->sim->execs[r->exec].finished = true;
    exec_done_cb done = r->done;
    void *d = r->data;
    free(r);
    done(h, res, d);
}

static int recStart(struct exec_backend *b, const struct exec_request *req, exec_done_cb done,
                    void *data, struct exec_handle **out)
{
    struct sim_proc *pr = b->impl;
    struct sim_server *sv = pr->sv;
    struct sim *s = sv->sim;
    if (s->n_execs == s->cap_execs) {
        s->cap_execs = s->cap_execs ? 2 * s->cap_execs : 1024;
        s->execs = realloc(s->execs, s->cap_execs * sizeof *s->execs);
        assert_non_null(s->execs);
    }
    struct sim_exec *e = &s->execs[s->n_execs];
    memset(e, 0, sizeof *e);
    e->run_id = req->run_id;
    e->fence = req->fence;
    e->attempt = req->attempt;
    e->worker = sv->i + 1;
    e->scheduled_us = req->scheduled_us;
    e->started_us = simWall(s, sv->i);
    e->started_virtual = simNow(s);
    struct sim_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    *r = (struct sim_run){done, data, s->n_execs, s};
    int rv = execStart(&pr->fake, req, runEnded, r, out);
    if (rv != 0) {
        free(r);
        snprintf(b->errmsg, sizeof b->errmsg, "%s", pr->fake.errmsg);
        return rv;
    }
    s->n_execs++;
    return 0;
}

static void recCancel(struct exec_handle *h)
{
    execCancel(h);
}

static void recClose(struct exec_backend *b, exec_close_cb cb)
{
    (void)b;
    (void)cb;
}

/* ---- A server's process ------------------------------------------------------------------------
 */

static void dispatchPoke(void *data)
{
    struct sim_proc *pr = data;
    leaderPokeNow(&pr->l);
}

static void leaderClosed(struct leader *l)
{
    ((struct sim_proc *)((char *)l - offsetof(struct sim_proc, l)))->closing--;
}

static void dispatchClosed(struct dispatch *d)
{
    ((struct sim_proc *)((char *)d - offsetof(struct sim_proc, d)))->closing--;
}

static void workerClosed(struct worker *w)
{
    ((struct sim_proc *)((char *)w - offsetof(struct sim_proc, w)))->closing--;
}

static void fakeClosed(struct exec_backend *b)
{
    (void)b;
}

static void startProc(struct sim *s, unsigned i)
{
    struct sim_server *sv = &s->s[i];
    struct sim_proc *pr = calloc(1, sizeof *pr);
    assert_non_null(pr);
    pr->sv = sv;
    struct dispatch_options dopts = {
        .ack_timeout_us = s->ack_timeout_us, .poke = dispatchPoke, .poke_data = pr};
    assert_int_equal(dispatchInit(&pr->d, &sv->io, &dopts), 0);
    struct leader_options lopts = {.lookahead_us = s->lookahead_us,
                                   .worker_timeout_us = SIM_WORKER_TIMEOUT};
    assert_int_equal(leaderInit(&pr->l, &sv->io, &pr->d, &lopts), 0);
    assert_int_equal(fakeInit(&pr->fake, simNow(s)), 0);
    pr->rec.name = "sim";
    pr->rec.impl = pr;
    pr->rec.start = recStart;
    pr->rec.cancel = recCancel;
    pr->rec.close = recClose;
    static char addr[SIM_MAX_SERVERS][32];
    snprintf(addr[i], sizeof addr[i], "10.0.0.%u:7101", i + 1);
    /* Deterministic incarnations, so that a seed replays the same log. */
    struct worker_identity me = {.id = i + 1,
                                 .address = addr[i],
                                 .capacity = 8,
                                 .incarnation = (uint64_t)(i + 1) << 32 | ++sv->restarts};
    struct worker_execs execs = {.shell = &pr->rec, .noop = &pr->rec};
    assert_int_equal(workerStart(&pr->w, &sv->io, &me, &execs, sv->execute), 0);
    pr->link.base.ops = &simLinkOps;
    pr->link.retry_at = s->now;
    workerSetLink(&pr->w, &pr->link.base);
    pr->last_state = -1;
    pr->older = sv->proc;
    sv->proc = pr;
}

/* The process dies: its sessions reset, its timers stop, its executions are cancelled. */
static void stopProc(struct sim *s, unsigned i)
{
    struct sim_server *sv = &s->s[i];
    struct sim_proc *pr = sv->proc;
    if (pr == NULL || pr->closing > 0 || pr->w.closing) {
        return;
    }
    linkEnd(sv);
    for (unsigned d = 0; d < s->n; d++) {
        if (d != i) {
            resetPeers(s, d, (int)i); /* its sessions elsewhere */
        }
    }
    resetPeers(s, i, -1); /* and those it held */
    pr->closing = 3;
    workerClose(&pr->w, workerClosed);
    execClose(&pr->fake, fakeClosed); /* cancels the runs in flight */
    leaderClose(&pr->l, leaderClosed);
    dispatchClose(&pr->d, dispatchClosed);
}

/* Raft's state, term or leader changed: what node.c's onChange does. */
static void watchRaft(struct sim *s, unsigned i)
{
    struct sim_proc *pr = s->s[i].proc;
    if (pr == NULL || !s->s[i].up) {
        return;
    }
    struct raft *r = raftOf(s, i);
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(r, &leader, &addr);
    int state = raft_state(r);
    if (state != pr->last_state || r->current_term != pr->last_term || leader != pr->last_leader) {
        pr->last_state = state;
        pr->last_term = r->current_term;
        pr->last_leader = leader;
        leaderOnChange(&pr->l);
    }
}

/* ---- The loop ----------------------------------------------------------------------------------
 */

/* The earliest thing due at or before `limit`: a timer, a message, a fake executor's event. */
static bool runOne(struct sim *s, int64_t limit)
{
    if (s->n_closing > 0) {
        struct io_timer *t = s->closing[--s->n_closing];
        t->state = IO_TIMER_CLOSED;
        if (t->close_cb != NULL) {
            t->close_cb(t);
        }
        return true;
    }
    int64_t best = INT64_MAX;
    int kind = 0;
    size_t which = 0;
    struct sim_msg **msg_at = NULL;
    for (size_t i = 0; i < s->n_timers; i++) {
        struct sim_server *sv = serverOf(s->timers[i]->io);
        int64_t due = timerDue(s->timers[i]) - SIM_T0;
        if (sv->up && due < best) {
            best = due;
            kind = 1;
            which = i;
        }
    }
    uint64_t best_seq = UINT64_MAX;
    for (struct sim_msg **pp = &s->msgs; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->at < best || ((*pp)->at == best && kind == 2 && (*pp)->seq < best_seq)) {
            best = (*pp)->at;
            best_seq = (*pp)->seq;
            kind = 2;
            msg_at = pp;
        }
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (s->s[i].proc == NULL || !s->s[i].up) {
            continue;
        }
        int64_t due = fakeNextEvent(&s->s[i].proc->fake);
        if (due != INT64_MAX && due - SIM_T0 < best) {
            best = due - SIM_T0;
            kind = 3;
            which = i;
        }
    }
    if (kind == 0 || best > limit) {
        return false;
    }
    if (best > s->now) {
        s->now = best;
        for (unsigned i = 0; i < s->n; i++) {
            if (s->s[i].proc != NULL && s->s[i].up) {
                fakeAdvance(&s->s[i].proc->fake, simNow(s));
            }
        }
    }
    if (kind == 1) {
        struct io_timer *t = s->timers[which];
        timerUnlist(s, t);
        t->state = IO_TIMER_IDLE;
        t->cb(t);
    } else if (kind == 2) {
        struct sim_msg *m = *msg_at;
        *msg_at = m->next;
        deliver(s, m);
        free(m->buf);
        free(m);
    } else {
        fakeAdvance(&s->s[which].proc->fake, simNow(s));
    }
    return true;
}

static void step(struct sim *s)
{
    int64_t fixture_now = (int64_t)raft_fixture_time(&s->f) * 1000;
    while (runOne(s, fixture_now)) {
    }
    if (s->now < fixture_now) {
        s->now = fixture_now;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (s->s[i].proc != NULL && s->s[i].up) {
            fakeAdvance(&s->s[i].proc->fake, simNow(s));
            linkTick(&s->s[i]);
        }
    }
    raft_fixture_step(&s->f);
    for (unsigned i = 0; i < s->n; i++) {
        watchRaft(s, i);
    }
}

void simRunUntil(struct sim *s, int64_t until, sim_hook hook, void *arg)
{
    while (simNow(s) < until) {
        if (hook != NULL) {
            hook(s, arg);
        }
        step(s);
    }
}

bool simRunUntilTrue(struct sim *s, int64_t deadline, bool (*fn)(struct sim *, void *), void *arg)
{
    while (!fn(s, arg) && simNow(s) < deadline) {
        step(s);
    }
    return fn(s, arg);
}

unsigned simLeader(struct sim *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (s->s[i].up && s->s[i].proc != NULL && s->s[i].proc->l.state == LEADER_ACTIVE) {
            return i;
        }
    }
    return s->n;
}

static bool hasLeader(struct sim *s, void *arg)
{
    (void)arg;
    return simLeader(s) < s->n;
}

unsigned simWaitLeader(struct sim *s)
{
    if (!simRunUntilTrue(s, simNow(s) + 30 * SIM_SEC, hasLeader, NULL)) {
        fail_msg("no active leader after 30 s");
    }
    return simLeader(s);
}

/* Settled: every live server applied the leader's index, no message in flight, no report
 * waiting on a worker. */
static bool settled(struct sim *s, void *arg)
{
    (void)arg;
    unsigned l = simLeader(s);
    if (l == s->n || s->msgs != NULL) {
        return false;
    }
    uint64_t idx = fsmAppliedIndex(s->s[l].core);
    if (raft_last_index(raftOf(s, l)) != idx) {
        return false;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (!s->s[i].up || s->cut[i][l]) {
            continue;
        }
        if (fsmAppliedIndex(s->s[i].core) != idx) {
            return false;
        }
        struct sim_proc *pr = s->s[i].proc;
        if (pr != NULL && (pr->w.pending != NULL || pr->w.sent != NULL)) {
            return false;
        }
    }
    return true;
}

void simSettle(struct sim *s)
{
    /* Settled twice, a second apart: nothing was merely between two steps. */
    for (int k = 0; k < 2; k++) {
        if (!simRunUntilTrue(s, simNow(s) + 60 * SIM_SEC, settled, NULL)) {
            fail_msg("the cluster did not settle within 60 s");
        }
        simRunUntil(s, simNow(s) + SIM_SEC, NULL, NULL);
    }
}

struct commit_wait {
    bool done;
    int status;
    struct rc_fsm_result res;
};

static void committed(void *data, int status, const struct rc_fsm_result *res)
{
    struct commit_wait *c = data;
    c->done = true;
    c->status = status;
    if (res != NULL) {
        c->res = *res;
    }
}

static bool commitDone(struct sim *s, void *arg)
{
    (void)s;
    return ((struct commit_wait *)arg)->done;
}

struct rc_fsm_result simCommit(struct sim *s, void *buf, size_t len)
{
    for (int tries = 0; tries < 10; tries++) {
        unsigned l = simWaitLeader(s);
        struct commit_wait c = {0};
        int rv = s->s[l].io.propose(&s->s[l].io, buf, len, committed, &c);
        if (rv != 0) {
            simRunUntil(s, simNow(s) + SIM_SEC / 10, NULL, NULL);
            continue;
        }
        if (rv == 0) {
            int64_t t = simNow(s);
            simRunUntilTrue(s, simNow(s) + 30 * SIM_SEC, commitDone, &c);
            if (getenv("RC_SIM_COMMIT") != NULL) {
                fprintf(stderr, "commit took %lld us\n", (long long)(simNow(s) - t));
            }
            if (c.done && c.status == 0) {
                free(buf);
                return c.res;
            }
        }
        simRunUntil(s, simNow(s) + SIM_SEC, NULL, NULL);
    }
    fail_msg("could not commit a command");
    return (struct rc_fsm_result){0};
}

/* ---- Faults -----------------------------------------------------------------------------------
 */

void simKill(struct sim *s, unsigned i)
{
    for (size_t k = 0; k < s->n_execs; k++) {
        if (s->execs[k].worker == i + 1 && !s->execs[k].finished) {
            s->execs[k].killed = true;
        }
    }
    raft_fixture_kill(&s->f, i);
    stopProc(s, i);
    s->s[i].up = false;
    /* The closes of the dead process complete (its timers no longer fire). */
    while (s->s[i].proc->closing > 0) {
        assert_true(runOne(s, s->now));
    }
}

void simRevive(struct sim *s, unsigned i)
{
    raft_fixture_revive(&s->f, i);
    s->s[i].up = true;
    startProc(s, i);
}

void simCut(struct sim *s, unsigned i)
{
    for (unsigned j = 0; j < s->n; j++) {
        if (j != i) {
            raft_fixture_disconnect(&s->f, i, j);
            raft_fixture_disconnect(&s->f, j, i);
            s->cut[i][j] = s->cut[j][i] = true;
        }
    }
}

void simHeal(struct sim *s, unsigned i)
{
    for (unsigned j = 0; j < s->n; j++) {
        if (j != i) {
            raft_fixture_reconnect(&s->f, i, j);
            raft_fixture_reconnect(&s->f, j, i);
            s->cut[i][j] = s->cut[j][i] = false;
        }
    }
}

void simSetClock(struct sim *s, unsigned i, int64_t offset_us)
{
    s->s[i].clock_offset = offset_us;
}

void simScript(struct sim *s, unsigned i, const char *job, const struct fake_script *sc)
{
    assert_non_null(s->s[i].proc);
    assert_int_equal(fakeScript(&s->s[i].proc->fake, job, sc), 0);
}

void simScriptAll(struct sim *s, const char *job, const struct fake_script *sc)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (s->s[i].proc != NULL && s->s[i].up) {
            simScript(s, i, job, sc);
        }
    }
}

const struct sim_exec *simFindExec(const struct sim *s, uint64_t run_id, uint64_t fence)
{
    for (size_t i = 0; i < s->n_execs; i++) {
        if (s->execs[i].run_id == run_id && s->execs[i].fence == fence) {
            return &s->execs[i];
        }
    }
    return NULL;
}

/* ---- Setup ------------------------------------------------------------------------------------
 */

static bool sessionsOpen(struct sim *s, void *arg)
{
    (void)arg;
    unsigned l = simLeader(s);
    if (l == s->n) {
        return false;
    }
    size_t n_live;
    dispatchLive(&s->s[l].proc->d, &n_live);
    return n_live == s->n;
}

struct sim *simStart(unsigned n)
{
    assert_true(n >= 1 && n <= SIM_MAX_SERVERS);
    struct sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    /* The node code logs as the daemon does; RC_SIM_LOG=1 shows it. */
    logInit(RC_LOG_LOGFMT, getenv("RC_SIM_LOG") != NULL ? RC_LOG_DEBUG : RC_LOG_ERROR, 0, stderr);
    s->n = n;
    s->lookahead_us = SIM_LOOKAHEAD;
    s->ack_timeout_us = DISPATCH_ACK_TIMEOUT_US;
    silent.version = 2;
    silent.emit = silentEmit;
    assert_int_equal(raft_fixture_init(&s->f), 0);
    for (unsigned i = 0; i < n; i++) {
        struct sim_server *sv = &s->s[i];
        sv->sim = s;
        sv->i = i;
        sv->up = true;
        sv->execute = true;
        s->link_latency_us[i] = SIM_LATENCY_US;
        assert_int_equal(fsmCreate(&sv->core), 0);
        assert_int_equal(fsmBridgeInit(&sv->fsm, sv->core), 0);
        assert_int_equal(raft_fixture_grow(&s->f, &sv->fsm), 0);
        struct raft *r = raftOf(s, i);
        fsmBridgeAttach(&sv->fsm, r);
        if (getenv("RC_SIM_TRACE") == NULL) {
            r->tracer = &silent;
        }
        raft_set_pre_vote(r, true);
        raft_set_snapshot_threshold(r, 256);
        raft_set_snapshot_trailing(r, 64);
        raft_set_heartbeat_timeout(r, 20); /* the daemon's default (confparse.c) */
        raft_fixture_set_network_latency(&s->f, i, 1);
        raft_fixture_set_disk_latency(&s->f, i, 1);
        sv->io = (struct node_io){
            .impl = sv,
            .wall = ioWallNow,
            .mono = ioMonoNow,
            .timer_init = timerInit,
            .timer_start = timerStart,
            .timer_stop = timerStop,
            .timer_close = timerClose,
            .fsm = ioFsm,
            .is_leader = ioIsLeader,
            .term = ioTerm,
            .propose = ioPropose,
            .barrier = ioBarrier,
        };
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&s->f, n, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&s->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&s->f), 0);
    for (unsigned i = 0; i < n; i++) {
        startProc(s, i);
    }
    simWaitLeader(s);
    if (!simRunUntilTrue(s, simNow(s) + 30 * SIM_SEC, sessionsOpen, NULL)) {
        fail_msg("the workers' sessions did not open");
    }
    return s;
}

void simClose(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (s->s[i].up) {
            stopProc(s, i);
        }
    }
    while (s->n_closing > 0) {
        runOne(s, s->now);
    }
    raft_fixture_close(&s->f); /* answers what the processes proposed: they must still exist */
    for (unsigned i = 0; i < s->n; i++) {
        fsmBridgeClose(&s->s[i].fsm);
        fsmDestroy(s->s[i].core);
        while (s->s[i].proc != NULL) {
            struct sim_proc *pr = s->s[i].proc;
            s->s[i].proc = pr->older;
            while (pr->peers != NULL) {
                struct sim_peer *sp = pr->peers;
                pr->peers = sp->next;
                free(sp);
            }
            free(pr);
        }
    }
    while (s->msgs != NULL) {
        struct sim_msg *m = s->msgs;
        s->msgs = m->next;
        free(m->buf);
        free(m);
    }
    free(s->timers);
    free(s->closing);
    free(s->execs);
    free(s);
}
