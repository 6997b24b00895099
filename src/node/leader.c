#include "leader.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "log.h"

static void setState(struct leader *l, enum leader_state to)
{
    static const bool allowed[4][4] = {
        [LEADER_IDLE] = {[LEADER_BARRIER] = true, [LEADER_CLOSED] = true},
        [LEADER_BARRIER] = {[LEADER_IDLE] = true,
                            [LEADER_ACTIVE] = true,
                            [LEADER_BARRIER] = true,
                            [LEADER_CLOSED] = true},
        [LEADER_ACTIVE] = {[LEADER_IDLE] = true, [LEADER_BARRIER] = true, [LEADER_CLOSED] = true},
    };
    assert(allowed[l->state][to]);
    (void)allowed;
    l->state = to;
}

static struct rc_fsm *fsmOf(struct leader *l)
{
    return l->io->fsm(l->io);
}

static void plan(struct io_timer *t);

static void wakeIn(struct leader *l, int64_t us)
{
    if (l->state != LEADER_ACTIVE) {
        return;
    }
    /* At least 1 ms when nothing is due at once: a plan that cannot make progress must not spin
     * the loop (Jepsen: a leader in a leadership transfer stopped answering). */
    ioTimerIn(&l->timer, us, plan);
}

/* ---- The adaptive lookahead ------------------------------------------------------------------ */

static void sampleCommit(struct leader *l, int64_t us)
{
    if (us > l->commit_max_us) {
        l->commit_max_us = us;
    }
}

static void adaptLookahead(struct leader *l)
{
    /* Forget the slowest commit slowly: about 1/64 per plan. The dispatcher's group commits
     * count too (an acceptance is a commit on the way to a start), once each. */
    l->commit_max_us -= l->commit_max_us / 64;
    if (l->dispatch->stats.batches != l->batches_seen) {
        l->batches_seen = l->dispatch->stats.batches;
        sampleCommit(l, l->dispatch->stats.commit_us_last);
    }
    int64_t want = LEADER_LOOKAHEAD_FACTOR * l->commit_max_us;
    want =
        (want + LEADER_LOOKAHEAD_STEP_US - 1) / LEADER_LOOKAHEAD_STEP_US * LEADER_LOOKAHEAD_STEP_US;
    if (want < l->o.lookahead_us) {
        want = l->o.lookahead_us;
    }
    if (want > LEADER_LOOKAHEAD_MAX_US) {
        want = l->o.lookahead_us > LEADER_LOOKAHEAD_MAX_US ? l->o.lookahead_us
                                                           : LEADER_LOOKAHEAD_MAX_US;
    }
    if (want != l->lookahead_us) {
        LOG_INFO("lookahead adapted to the commit latency", "lookahead_ms", "%lld",
                 (long long)(want / 1000), "commit_ms", "%lld",
                 (long long)(l->commit_max_us / 1000));
        l->lookahead_us = want;
    }
}

/* ---- Wait reasons ------------------------------------------------------------------------------
 */

static void keepWaits(struct leader *l, struct sched_plan *p)
{
    free(l->waits);
    l->waits = p->waits;
    l->n_waits = p->n_waits;
    p->waits = NULL;
    p->n_waits = 0;
}

size_t leaderDueJobs(const struct leader *l)
{
    return l->state == LEADER_ACTIVE ? l->heap.n : 0;
}

const char *leaderWaitReason(const struct leader *l, uint64_t run_id)
{
    if (l->state != LEADER_ACTIVE) {
        return NULL;
    }
    for (size_t i = 0; i < l->n_waits; i++) {
        if (l->waits[i].run_id == run_id) {
            return l->waits[i].reason;
        }
    }
    return NULL;
}

/* ---- Proposals ------------------------------------------------------------------------------- */

struct proposal {
    struct leader *l;
    bool fires;
    uint64_t term;
};

static void planDone(struct leader *l)
{
    l->in_flight = false;
    if (l->fire_refused) {
        /* The heap re-keyed the fired jobs as if every item committed: a refused item leaves
         * its cursor behind, so its key could be late. */
        dueheapInvalidate(&l->heap);
        l->fire_refused = false;
    }
    if (l->state != LEADER_ACTIVE) {
        return;
    }
    /* What was applied may make more work due: plan again at once. */
    l->again = false;
    wakeIn(l, 0);
}

static void proposalApplied(void *data, int status, const struct rc_fsm_result *res)
{
    struct proposal *p = data;
    struct leader *l = p->l;
    if (status == 0) { /* a failed entry (leadership lost) measures no commit */
        sampleCommit(l, ioMono(l->io) - l->proposed_mono);
    }
    if (status != 0) {
        /* Outcome unknown (leadership lost, or shutting down): a new plan from the committed
         * state decides again, with a heap rebuilt from it. */
        l->fire_refused = true;
    } else if (res != NULL && res->code != 0 && res->code != RC_ESTALE) {
        LOG_WARN("scheduler entry refused", "error", "%s", res->message);
    }
    if (p->fires && status == 0 && (res == NULL || res->code != 0 || res->items_rejected != 0)) {
        l->fire_refused = true;
    }
    free(p);
    assert(l->pending > 0);
    if (--l->pending == 0 && l->state != LEADER_CLOSED) {
        planDone(l);
    }
}

/* Propose buf (copied by Raft); counts as part of the plan in flight. */
static bool propose(struct leader *l, void *buf, size_t len, bool fires)
{
    struct proposal *p = malloc(sizeof *p);
    if (p == NULL) {
        return false;
    }
    *p = (struct proposal){l, fires, l->term};
    if (l->io->propose(l->io, buf, len, proposalApplied, p) != 0) {
        free(p);
        return false;
    }
    l->pending++;
    return true;
}

/* Workers silent for longer than the worker timeout are declared down (their accepted and
 * running runs LOST). Silence is measured on the monotonic clock: a step of the leader's wall
 * clock must not declare every worker down at once (Jepsen, clock nemesis); a new leader gives
 * every worker a full timeout. */
static bool silentWorkers(struct leader *l, int64_t now)
{
    struct rc_fsm *f = fsmOf(l);
    size_t n = 0;
    Raftcron__Worker *const *ws = fsmWorkers(f, &n);
    int64_t mono = ioMono(l->io);
    bool refused = false;
    for (size_t i = 0; i < n; i++) {
        if (!ws[i]->alive) {
            continue;
        }
        int64_t seen = dispatchLastHeard(l->dispatch, ws[i]->id);
        if (seen < l->active_since_mono) {
            seen = l->active_since_mono;
        }
        if (mono - seen <= l->o.worker_timeout_us) {
            continue;
        }
        void *buf;
        size_t len;
        if (commandEncodeWorkerDown(ws[i]->id, now, &buf, &len) != 0) {
            continue;
        }
        if (propose(l, buf, len, false)) {
            LOG_WARN("worker silent: marking it down", "worker", "%llu",
                     (unsigned long long)ws[i]->id);
        } else {
            refused = true;
        }
        free(buf);
    }
    return refused;
}

static void plan(struct io_timer *t)
{
    struct leader *l = t->data;
    if (l->state != LEADER_ACTIVE || l->in_flight) {
        return;
    }
    if (!l->io->is_leader(l->io)) {
        return;
    }
    int64_t now = ioWall(l->io);
    adaptLookahead(l);
    l->in_flight = true;
    l->proposed_mono = ioMono(l->io);
    if (l->last_plan_mono != 0 && l->proposed_mono - l->last_plan_mono > LEADER_STALL_US) {
        /* This process did not run for a while (paused, starved): the silence of the workers
         * is its own, and what they sent waits unread in its sockets. Count afresh. */
        LOG_WARN("the leader loop stalled: giving every worker a full timeout again", "stall_ms",
                 "%lld", (long long)((l->proposed_mono - l->last_plan_mono) / 1000));
        l->active_since_mono = l->proposed_mono;
    }
    bool refused = silentWorkers(l, now);
    size_t n_live;
    size_t n_overdue;
    const uint64_t *live = dispatchLive(l->dispatch, &n_live);
    const uint64_t *overdue = dispatchOverdue(l->dispatch, &n_overdue);
    struct sched_options o = {
        .now_us = now,
        .lookahead_us = l->lookahead_us,
        .live = live,
        .n_live = n_live,
        .overdue = overdue,
        .n_overdue = n_overdue,
        .backlog = SCHED_BACKLOG_DEFAULT,
    };
    struct sched_plan p;
    int rv = schedPlanHeap(fsmOf(l), &o, &l->heap, &p);
    keepWaits(l, &p);
    l->plans++;
    l->last_plan_mono = l->proposed_mono;
    if (rv != 0) {
        LOG_ERROR("scheduler plan failed", "error", "%s", rc_strerror(rv));
        schedPlanFree(&p);
        if (l->pending == 0) {
            l->in_flight = false;
            wakeIn(l, LEADER_MAX_SLEEP_US);
        }
        return;
    }
    struct sched_proposal props[2];
    int n = schedPlanPack(&p, props);
    int64_t wake = p.next_wake_us;
    schedPlanFree(&p);
    if (n < 0) {
        dueheapInvalidate(&l->heap);
        n = 0;
        refused = true;
    }
    for (int i = 0; i < n; i++) {
        if (!propose(l, props[i].buf, props[i].len, props[i].fires)) {
            refused = true;
            if (props[i].fires) {
                dueheapInvalidate(&l->heap); /* not proposed: the heap assumed it would be */
            }
        }
        free(props[i].buf);
    }
    if (l->pending > 0) {
        return; /* planDone plans again */
    }
    l->in_flight = false;
    if (refused) {
        /* What Raft refused (not the leader any more, a leadership transfer under way) will not
         * change at once: back off. */
        wakeIn(l, LEADER_REFUSED_US);
        return;
    }
    int64_t sleep = wake == INT64_MAX ? LEADER_MAX_SLEEP_US : wake - now;
    if (l->again) {
        l->again = false;
        sleep = 0;
    }
    wakeIn(l, sleep < LEADER_MAX_SLEEP_US ? sleep : LEADER_MAX_SLEEP_US);
}

/* ---- Leadership ----------------------------------------------------------------------------- */

static void barrierDone(void *data, int status, const char *msg)
{
    struct leader *l = data;
    if (l->state != LEADER_BARRIER) {
        return;
    }
    if (status != 0 || !l->io->is_leader(l->io) || l->io->term(l->io) != l->term) {
        LOG_INFO("leader barrier did not complete", "error", "%s", msg);
        setState(l, LEADER_IDLE);
        leaderOnChange(l);
        return;
    }
    setState(l, LEADER_ACTIVE);
    dueheapInvalidate(&l->heap); /* DESIGN.md §4.1: the first plan rebuilds it from the FSM */
    l->active_since_mono = ioMono(l->io);
    l->last_plan_mono = 0; /* a gap since an earlier leadership is no stall */
    l->commit_max_us = 0;  /* this leadership's commits, not an earlier one's */
    l->batches_seen = l->dispatch->stats.batches;
    l->lookahead_us = l->o.lookahead_us;
    dispatchActivate(l->dispatch, l->term);
    LOG_INFO("scheduler active"); /* the line carries the term */
    wakeIn(l, 0);
    if (l->o.activated != NULL) {
        l->o.activated(l->o.activated_data);
    }
}

void leaderOnChange(struct leader *l)
{
    if (l->state == LEADER_CLOSED) {
        return;
    }
    bool leader = l->io->is_leader(l->io);
    uint64_t term = l->io->term(l->io);
    if (!leader) {
        if (l->state != LEADER_IDLE) {
            ioTimerStop(&l->timer);
            setState(l, LEADER_IDLE);
            dispatchDeactivate(l->dispatch);
        }
        dueheapClose(&l->heap); /* a follower has no use for it */
        return;
    }
    if (l->state != LEADER_IDLE && l->term == term) {
        return;
    }
    /* DESIGN.md §4.1: act only on what is committed — first a barrier. */
    ioTimerStop(&l->timer);
    if (l->state == LEADER_ACTIVE) {
        dispatchDeactivate(l->dispatch);
    }
    l->term = term;
    setState(l, LEADER_BARRIER);
    if (l->io->barrier(l->io, barrierDone, l) != 0) {
        setState(l, LEADER_IDLE);
    }
}

void leaderPokeNow(struct leader *l)
{
    if (l->state != LEADER_ACTIVE) {
        return;
    }
    if (l->in_flight) {
        l->again = true;
        return;
    }
    if (l->timer.state == IO_TIMER_ARMED && l->timer.deadline_us <= ioMono(l->io)) {
        return;
    }
    wakeIn(l, 0);
}

/* A burst of writes (10,000 job puts) must not cost a heap rebuild each (every job write moves
 * fsmJobsGeneration, and the next plan then rebuilds the heap: ~5 ms for 10,000 jobs
 * optimised, ~60 ms under ASan): these pokes are coalesced to at most one plan per
 * LEADER_POKE_GAP_US, and never push back a wake-up already due sooner. */
void leaderPoke(struct leader *l)
{
    if (l->state != LEADER_ACTIVE || l->in_flight) {
        return;
    }
    int64_t now = ioMono(l->io);
    int64_t due = l->last_plan_mono + LEADER_POKE_GAP_US;
    if (due < now) {
        due = now;
    }
    if (l->timer.state == IO_TIMER_ARMED && l->timer.deadline_us <= due) {
        return;
    }
    ioTimerStart(&l->timer, due, plan);
}

int leaderInit(struct leader *l, struct node_io *io, struct dispatch *d,
               const struct leader_options *o)
{
    memset(l, 0, sizeof *l);
    l->io = io;
    l->dispatch = d;
    l->o = *o;
    l->lookahead_us = o->lookahead_us;
    dueheapInit(&l->heap);
    int rv = ioTimerInit(io, &l->timer, IO_MONO);
    if (rv != 0) {
        return rv;
    }
    l->timer.data = l;
    return 0;
}

static void timerClosed(struct io_timer *t)
{
    struct leader *l = t->data;
    if (l->close_cb != NULL) {
        l->close_cb(l);
    }
}

void leaderClose(struct leader *l, void (*cb)(struct leader *l))
{
    if (l->state != LEADER_CLOSED) {
        setState(l, LEADER_CLOSED);
    }
    free(l->waits);
    l->waits = NULL;
    l->n_waits = 0;
    dueheapClose(&l->heap);
    l->close_cb = cb;
    ioTimerClose(&l->timer, timerClosed);
}
