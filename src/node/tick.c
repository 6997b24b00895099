#include "tick.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "log.h"
#include "node.h"
#include "rpc.h"

/* Even with nothing due, look again this often: worker liveness is judged on the timer. */
#define TICK_MAX_SLEEP_US 1000000
#define TICK_REFUSED_US   100000 /* after Raft refused a proposal */

static void setState(struct tick *t, enum tick_state to)
{
    static const bool allowed[4][4] = {
        [TICK_IDLE] = {[TICK_BARRIER] = true, [TICK_CLOSED] = true},
        [TICK_BARRIER] =
            {[TICK_IDLE] = true, [TICK_ACTIVE] = true, [TICK_BARRIER] = true, [TICK_CLOSED] = true},
        [TICK_ACTIVE] = {[TICK_IDLE] = true, [TICK_BARRIER] = true, [TICK_CLOSED] = true},
    };
    assert(allowed[t->state][to]);
    (void)allowed;
    t->state = to;
}

static void plan(uv_timer_t *timer);

static void wakeIn(struct tick *t, int64_t us)
{
    if (t->state != TICK_ACTIVE) {
        return;
    }
    /* At least 1 ms: a libuv timer re-armed with 0 from its own callback runs again in the same
     * pass over the timers, before any I/O or raft tick — a plan that cannot make progress
     * would then spin forever (Jepsen: a leader stuck in a leadership transfer stopped
     * answering and could not even be stopped). */
    if (us < 1000) {
        us = 1000;
    }
    uv_timer_start(&t->timer, plan, (uint64_t)((us + 999) / 1000), 0);
}

void tickInit(struct tick *t, struct node *n, uv_loop_t *loop, int64_t lookahead_us,
              int64_t worker_timeout_us)
{
    memset(t, 0, sizeof *t);
    t->node = n;
    t->lookahead_us = lookahead_us;
    t->worker_timeout_us = worker_timeout_us;
    dueheapInit(&t->heap);
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
}

/* Worker silence is measured on the monotonic clock: a step of the leader's wall clock must
 * not declare every worker down at once (Jepsen, clock nemesis). */
static int64_t monoUs(void)
{
    return (int64_t)(uv_hrtime() / 1000);
}

void tickWorkerSeen(struct tick *t, uint64_t worker_id)
{
    int64_t now_us = monoUs();
    for (unsigned i = 0; i < t->n_seen; i++) {
        if (t->seen_id[i] == worker_id) {
            t->seen_us[i] = now_us;
            return;
        }
    }
    if (t->n_seen < TICK_MAX_SEEN) {
        t->seen_id[t->n_seen] = worker_id;
        t->seen_us[t->n_seen++] = now_us;
    }
}

static int64_t lastSeen(const struct tick *t, uint64_t worker_id)
{
    for (unsigned i = 0; i < t->n_seen; i++) {
        if (t->seen_id[i] == worker_id) {
            return t->seen_us[i];
        }
    }
    return INT64_MIN;
}

/* Keep the plan's waits (they are sorted by nothing: a linear search serves run list). */
static void keepWaits(struct tick *t)
{
    free(t->waits);
    t->waits = t->plan.waits;
    t->n_waits = t->plan.n_waits;
    t->plan.waits = NULL;
    t->plan.n_waits = 0;
}

const char *tickWaitReason(const struct tick *t, uint64_t run_id)
{
    if (t->state != TICK_ACTIVE) {
        return NULL;
    }
    for (size_t i = 0; i < t->n_waits; i++) {
        if (t->waits[i].run_id == run_id) {
            return t->waits[i].reason;
        }
    }
    return NULL;
}

static void finishPlan(struct tick *t)
{
    schedPlanFree(&t->plan);
    t->next_entry = 0;
    t->in_flight = false;
}

static void proposeNext(struct tick *t);

/* The entry last proposed is the plan's FireBatch (the only entry without a run). */
static bool firingEntry(const struct tick *t)
{
    return t->next_entry > 0 && t->next_entry <= t->plan.n_entries &&
           t->plan.entries[t->next_entry - 1].run_id == 0;
}

static void entryApplied(void *data, int status, const struct rc_fsm_result *res)
{
    struct tick *t = data;
    if (t->state == TICK_CLOSED) {
        return;
    }
    if (status != 0) {
        /* Outcome unknown (leadership lost, or shutting down): drop the rest of the plan; a
         * new plan from the committed state decides again, with a heap rebuilt from it. */
        dueheapInvalidate(&t->heap);
        finishPlan(t);
        return;
    }
    if (res != NULL && res->code != 0 && res->code != RC_ESTALE) {
        LOG_WARN("scheduler entry refused", "error", "%s", res->message);
    }
    /* The heap re-keyed the fired jobs as if every item committed: a refused item leaves its
     * cursor behind, so its key could be late (no result: assume the worst). */
    if (firingEntry(t) && (res == NULL || res->code != 0 || res->items_rejected != 0)) {
        dueheapInvalidate(&t->heap);
    }
    proposeNext(t);
}

static void proposeNext(struct tick *t)
{
    struct node *n = t->node;
    bool refused = false;
    while (t->next_entry < t->plan.n_entries) {
        struct sched_entry *e = &t->plan.entries[t->next_entry++];
        if (clusterPropose(&n->cluster, e->buf, e->len, entryApplied, t) == 0) {
            return;
        }
        refused = true;
        dueheapInvalidate(&t->heap); /* not proposed: the heap's keys assumed it would be */
    }
    finishPlan(t);
    /* What was applied may make more work due: plan again at once. What Raft refused (not the
     * leader any more, a leadership transfer under way) will not change at once: back off. */
    wakeIn(t, refused ? TICK_REFUSED_US : 0);
}

/* Workers silent for longer than the worker timeout are declared down (their runs LOST). */
static void silentWorkers(struct tick *t, int64_t now)
{
    struct rc_fsm *f = t->node->cluster.core;
    size_t n = 0;
    Raftcron__Worker *const *ws = fsmWorkers(f, &n);
    for (size_t i = 0; i < n; i++) {
        if (!ws[i]->alive) {
            continue;
        }
        int64_t seen = lastSeen(t, ws[i]->id);
        if (seen == INT64_MIN) {
            seen = t->active_since_mono_us; /* a new leader gives every worker a full timeout */
        }
        if (monoUs() - seen <= t->worker_timeout_us) {
            continue;
        }
        void *buf;
        size_t len;
        if (commandEncodeWorkerDown(ws[i]->id, now, &buf, &len) == 0) {
            int rv = clusterPropose(&t->node->cluster, buf, len, entryApplied, t);
            free(buf);
            if (rv == 0) {
                LOG_WARN("worker silent: marking it down", "worker", "%llu",
                         (unsigned long long)ws[i]->id);
                memset(&t->plan, 0, sizeof t->plan);
                t->next_entry = 0;
                t->in_flight = true; /* entryApplied continues with an empty plan: replan */
            }
            return;
        }
    }
}

static void plan(uv_timer_t *timer)
{
    struct tick *t = timer->data;
    struct node *n = t->node;
    if (t->state != TICK_ACTIVE || t->in_flight) {
        return;
    }
    if (!clusterIsLeader(&n->cluster)) {
        return;
    }
    int64_t now = rpcNow();
    silentWorkers(t, now);
    if (t->in_flight) {
        return;
    }
    struct sched_options o = {.now_us = now, .lookahead_us = t->lookahead_us};
    int rv = schedPlanHeap(n->cluster.core, &o, &t->heap, &t->plan);
    keepWaits(t);
    t->plans++;
    t->last_plan_ms = uv_now(timer->loop);
    if (rv != 0) {
        LOG_ERROR("scheduler plan failed", "error", "%s", rc_strerror(rv));
        wakeIn(t, TICK_MAX_SLEEP_US);
        return;
    }
    if (t->plan.n_entries > 0) {
        t->in_flight = true;
        t->next_entry = 0;
        proposeNext(t);
        return;
    }
    int64_t wake = t->plan.next_wake_us;
    schedPlanFree(&t->plan);
    int64_t sleep = wake == INT64_MAX ? TICK_MAX_SLEEP_US : wake - now;
    wakeIn(t, sleep < TICK_MAX_SLEEP_US ? sleep : TICK_MAX_SLEEP_US);
}

static void barrierDone(void *data, int status, const char *msg)
{
    struct tick *t = data;
    if (t->state != TICK_BARRIER) {
        return;
    }
    struct node *n = t->node;
    if (status != 0 || !clusterIsLeader(&n->cluster) || clusterTerm(&n->cluster) != t->term) {
        LOG_INFO("leader barrier did not complete", "error", "%s", msg);
        setState(t, TICK_IDLE);
        tickOnChange(t);
        return;
    }
    setState(t, TICK_ACTIVE);
    dueheapInvalidate(&t->heap); /* DESIGN.md §4.1: the first plan rebuilds it from the FSM */
    t->active_since_us = rpcNow();
    t->active_since_mono_us = monoUs();
    t->n_seen = 0;
    LOG_INFO("scheduler active"); /* the line carries the term */
    wakeIn(t, 0);
}

void tickOnChange(struct tick *t)
{
    struct node *n = t->node;
    if (t->state == TICK_CLOSED) {
        return;
    }
    bool leader = clusterIsLeader(&n->cluster);
    uint64_t term = clusterTerm(&n->cluster);
    if (!leader) {
        if (t->state != TICK_IDLE) {
            uv_timer_stop(&t->timer);
            setState(t, TICK_IDLE);
        }
        dueheapClose(&t->heap); /* a follower has no use for it */
        return;
    }
    if (t->state != TICK_IDLE && t->term == term) {
        return;
    }
    /* DESIGN.md §4.1: act only on what is committed — first a barrier. */
    uv_timer_stop(&t->timer);
    t->term = term;
    setState(t, TICK_BARRIER);
    if (clusterBarrier(&n->cluster, barrierDone, t) != 0) {
        setState(t, TICK_IDLE);
    }
}

/* A burst of writes (10,000 job puts) must not cost a heap rebuild each (every job write moves
 * fsmJobsGeneration, and the next plan then rebuilds the heap: ~5 ms for 10,000 jobs
 * optimised, ~60 ms under ASan): pokes are coalesced to at most one plan per TICK_POKE_GAP_MS,
 * and never push back a wake-up already due sooner. */
#define TICK_POKE_GAP_MS 250

void tickPoke(struct tick *t)
{
    if (t->state != TICK_ACTIVE || t->in_flight) {
        return;
    }
    uint64_t now = uv_now(t->timer.loop);
    uint64_t due =
        t->last_plan_ms + TICK_POKE_GAP_MS > now ? t->last_plan_ms + TICK_POKE_GAP_MS - now : 0;
    if (uv_is_active((uv_handle_t *)&t->timer) && uv_timer_get_due_in(&t->timer) <= due) {
        return;
    }
    uv_timer_start(&t->timer, plan, due, 0);
}

void tickClose(struct tick *t, uv_close_cb cb)
{
    if (t->state != TICK_CLOSED) {
        setState(t, TICK_CLOSED);
    }
    if (t->in_flight) {
        schedPlanFree(&t->plan);
        t->in_flight = false;
    }
    free(t->waits);
    t->waits = NULL;
    t->n_waits = 0;
    dueheapClose(&t->heap);
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, cb);
}
