#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/policy.h"
#include "core/runs.h"

/* Records one flush delivers to one subscriber before it lets the loop breathe. */
#define FLUSH_BATCH 4096

enum event_type {
    EV_JOB_CREATED = 0,
    EV_JOB_UPDATED,
    EV_JOB_DELETED,
    EV_JOB_PAUSED,
    EV_JOB_RESUMED,
    EV_RUN_FIRED,
    EV_RUN_STARTED,
    EV_RUN_SUCCEEDED,
    EV_RUN_FAILED,
    EV_RUN_TIMED_OUT,
    EV_RUN_LOST,
    EV_RUN_RETRY,
    EV_RUN_DEAD,
    EV_RUN_CANCELLED,
    EV_DECISION_MISSED,
    EV_DECISION_SKIPPED,
    EV_DECISION_COALESCED,
    EV__COUNT
};

static const char *const type_names[EV__COUNT] = {
    "job.created",      "job.updated",        "job.deleted",   "job.paused",    "job.resumed",
    "run.fired",        "run.started",        "run.succeeded", "run.failed",    "run.timed_out",
    "run.lost",         "run.retry",          "run.dead",      "run.cancelled", "decision.missed",
    "decision.skipped", "decision.coalesced",
};

struct event_rec {
    uint64_t index;
    uint64_t job_version;
    uint64_t run_id;
    uint64_t worker_id;
    uint64_t count;
    int64_t scheduled_us;
    int64_t at_us;
    uint32_t attempt;
    uint32_t http_status;
    int32_t exit_code;
    uint8_t type;
    char ns[RC_JOBS_NAMESPACE_MAX + 1];
    char job[RC_JOBS_NAME_MAX + 1];
    char reason[96];
};

static uint64_t oldestSeq(const struct events *e)
{
    return e->seq > e->cap ? e->seq - e->cap : 0;
}

static struct event_rec *at(const struct events *e, uint64_t seq)
{
    return &e->ring[seq % e->cap];
}

static void scheduleFlush(struct events *e);

/* A new record, in the ring's next slot; the one it replaces is lost to late subscribers. */
static struct event_rec *add(struct events *e, uint64_t index, enum event_type type)
{
    if (e->cap == 0) {
        if (index > e->restored_index) {
            e->restored_index = index; /* nothing is kept: every event is lost */
        }
        return NULL;
    }
    struct event_rec *r = at(e, e->seq);
    if (e->seq >= e->cap && r->index > e->restored_index) {
        e->restored_index = r->index;
    }
    memset(r, 0, sizeof *r);
    r->index = index;
    r->type = (uint8_t)type;
    e->seq++;
    scheduleFlush(e);
    return r;
}

/* "ns/name" into the record's two fields. */
static void setKey(struct event_rec *r, const char *key)
{
    const char *slash = strchr(key, '/');
    size_t n = slash != NULL ? (size_t)(slash - key) : 0;
    if (n > RC_JOBS_NAMESPACE_MAX) {
        n = RC_JOBS_NAMESPACE_MAX;
    }
    memcpy(r->ns, key, n);
    r->ns[n] = '\0';
    snprintf(r->job, sizeof r->job, "%s", slash != NULL ? slash + 1 : key);
}

/* ---- FSM hooks (inside apply: copy, never block) --------------------------------------------- */

static void onJob(void *data, uint64_t index, const Raftcron__Job *job, enum rc_fsm_job_change what)
{
    static const enum event_type types[] = {[RC_FSM_JOB_CREATED] = EV_JOB_CREATED,
                                            [RC_FSM_JOB_UPDATED] = EV_JOB_UPDATED,
                                            [RC_FSM_JOB_DELETED] = EV_JOB_DELETED,
                                            [RC_FSM_JOB_PAUSED] = EV_JOB_PAUSED,
                                            [RC_FSM_JOB_RESUMED] = EV_JOB_RESUMED};
    struct event_rec *r = add(data, index, types[what]);
    if (r == NULL) {
        return;
    }
    snprintf(r->ns, sizeof r->ns, "%s", job->spec->namespace_);
    snprintf(r->job, sizeof r->job, "%s", job->spec->name);
    r->job_version = what == RC_FSM_JOB_DELETED ? 0 : job->version;
    r->at_us = what == RC_FSM_JOB_DELETED ? 0 : job->updated_us;
}

static int runType(uint32_t state)
{
    switch (state) {
    case RC_RUN_RUNNING:
        return EV_RUN_STARTED;
    case RC_RUN_SUCCEEDED:
        return EV_RUN_SUCCEEDED;
    case RC_RUN_FAILED:
        return EV_RUN_FAILED;
    case RC_RUN_TIMED_OUT:
        return EV_RUN_TIMED_OUT;
    case RC_RUN_LOST:
        return EV_RUN_LOST;
    case RC_RUN_RETRY_WAIT:
        return EV_RUN_RETRY;
    case RC_RUN_DEAD:
        return EV_RUN_DEAD;
    case RC_RUN_CANCELLED:
        return EV_RUN_CANCELLED;
    default:
        return -1; /* assignments and acceptances are the scheduler's own business */
    }
}

/* A run's creation is told by its FIRED decision (onDecision); a run dropped with its job by
 * the job's deletion. */
static void onRun(void *data, uint64_t index, const Raftcron__Run *run, uint32_t from, bool dropped)
{
    int type = runType(run->state);
    if (dropped || from == run->state || from == RC_RUN_NONE || type < 0) {
        return;
    }
    struct event_rec *r = add(data, index, (enum event_type)type);
    if (r == NULL) {
        return;
    }
    setKey(r, run->job);
    r->run_id = run->id;
    r->attempt = run->attempt;
    r->worker_id = run->worker_id;
    r->scheduled_us = run->scheduled_us;
    r->at_us = run->state == RC_RUN_RUNNING      ? run->started_us
               : run->state == RC_RUN_RETRY_WAIT ? run->not_before_us
                                                 : run->finished_us;
    if (run->outcome != NULL &&
        (type == EV_RUN_SUCCEEDED || type == EV_RUN_FAILED || type == EV_RUN_TIMED_OUT)) {
        r->exit_code = run->outcome->exit_code;
        r->http_status = run->outcome->http_status;
        snprintf(r->reason, sizeof r->reason, "%s", run->outcome->error);
    } else if (type == EV_RUN_LOST || type == EV_RUN_DEAD || type == EV_RUN_CANCELLED) {
        snprintf(r->reason, sizeof r->reason, "%s", run->end_reason);
    }
}

static void onDecision(void *data, uint64_t index, const Raftcron__Decision *d)
{
    enum event_type type;
    switch (d->decision) {
    case RC_DECISION_FIRED:
        type = EV_RUN_FIRED;
        break;
    case RC_DECISION_MISSED:
        type = EV_DECISION_MISSED;
        break;
    case RC_DECISION_SKIPPED:
        type = EV_DECISION_SKIPPED;
        break;
    default:
        type = EV_DECISION_COALESCED;
        break;
    }
    struct event_rec *r = add(data, index, type);
    if (r == NULL) {
        return;
    }
    setKey(r, d->job);
    r->run_id = d->run_id;
    r->attempt = d->run_id != 0 ? 1 : 0;
    r->scheduled_us = d->first_us;
    r->count = d->count;
    r->at_us = d->decided_us;
    if (type != EV_RUN_FIRED || d->manual) {
        snprintf(r->reason, sizeof r->reason, "%s",
                 type == EV_RUN_FIRED ? (d->backfill ? "backfill" : "manual")
                                      : policyReasonText((enum rc_reason)d->reason));
    }
}

/* Everything held is older than the snapshot: subscribers resuming before it missed events. */
static void onRestored(void *data, uint64_t index)
{
    struct events *e = data;
    if (index > e->restored_index) {
        e->restored_index = index;
    }
    for (struct events_sub *s = e->subs; s != NULL; s = s->next) {
        s->gap_pending = true;
        s->next_seq = e->seq;
    }
    scheduleFlush(e);
}

/* ---- Delivery -------------------------------------------------------------------------------- */

static bool matches(const struct events_sub *s, const struct event_rec *r)
{
    const struct events_filter *f = &s->filter;
    if ((f->ns[0] != '\0' && strcmp(f->ns, r->ns) != 0) || !authzCanRead(&f->principal, r->ns)) {
        return false;
    }
    return f->job[0] == '\0' || strcmp(f->job, r->job) == 0;
}

static void toEvent(const struct event_rec *r, Raftcron__Event *ev)
{
    raftcron__event__init(ev);
    ev->index = r->index;
    ev->type = (char *)type_names[r->type];
    ev->namespace_ = (char *)r->ns;
    ev->job = (char *)r->job;
    ev->job_version = r->job_version;
    ev->run_id = r->run_id;
    ev->attempt = r->attempt;
    ev->scheduled_us = r->scheduled_us;
    ev->worker_id = r->worker_id;
    ev->exit_code = r->exit_code;
    ev->http_status = r->http_status;
    ev->count = r->count;
    ev->reason = (char *)r->reason;
    ev->at_us = r->at_us;
}

/* Whether r is the last record the subscriber gets of its index among those held now. */
static bool lastOfIndex(const struct events *e, const struct events_sub *s, uint64_t seq)
{
    uint64_t index = at(e, seq)->index;
    for (uint64_t k = seq + 1; k < e->seq && at(e, k)->index == index; k++) {
        if (matches(s, at(e, k))) {
            return false;
        }
    }
    return true;
}

/* Deliver what the subscriber has not had yet. Returns true when it is caught up. */
static bool flushSub(struct events *e, struct events_sub *s)
{
    if (s->next_seq < oldestSeq(e) || s->gap_pending) {
        e->gaps++;
        s->gap_pending = false;
        if (s->next_seq < oldestSeq(e)) {
            s->next_seq = oldestSeq(e);
        }
        uint64_t oldest, newest;
        eventsRange(e, &oldest, &newest);
        s->gap(s->data, oldest);
    }
    unsigned done = 0;
    while (s->next_seq < e->seq && !s->blocked) {
        if (done++ == FLUSH_BATCH) {
            return false;
        }
        const struct event_rec *r = at(e, s->next_seq);
        if (r->index <= s->after || !matches(s, r)) {
            s->next_seq++;
            continue;
        }
        Raftcron__Event ev;
        toEvent(r, &ev);
        if (!s->deliver(s->data, &ev, lastOfIndex(e, s, s->next_seq))) {
            s->blocked = true;
            return true;
        }
        e->delivered++;
        s->next_seq++;
    }
    return true;
}

static void onFlush(uv_timer_t *t)
{
    struct events *e = t->data;
    e->flush_pending = false;
    bool again = false;
    for (struct events_sub *s = e->subs; s != NULL;) {
        struct events_sub *next = s->next; /* deliver may unsubscribe s */
        if (!s->blocked && !flushSub(e, s)) {
            again = true;
        }
        s = next;
    }
    if (again) {
        scheduleFlush(e);
    }
}

static void scheduleFlush(struct events *e)
{
    if (!e->flush_pending && e->subs != NULL) {
        e->flush_pending = true;
        uv_timer_start(&e->flush, onFlush, 0, 0);
    }
}

/* ---- Lifecycle ------------------------------------------------------------------------------- */

int eventsInit(struct events *e, uv_loop_t *loop, size_t cap)
{
    memset(e, 0, sizeof *e);
    if (cap > 0) {
        e->ring = calloc(cap, sizeof *e->ring);
        if (e->ring == NULL) {
            return RC_ENOMEM;
        }
    }
    e->cap = cap;
    uv_timer_init(loop, &e->flush);
    e->flush.data = e;
    e->hooks = (struct rc_fsm_events){
        .job_changed = onJob, .run_changed = onRun, .decided = onDecision, .restored = onRestored};
    return 0;
}

void eventsClose(struct events *e, uv_close_cb cb)
{
    uv_timer_stop(&e->flush);
    free(e->ring);
    e->ring = NULL;
    e->cap = 0;
    uv_close((uv_handle_t *)&e->flush, cb);
}

/* The first record of an index above after. */
static uint64_t seqAfter(const struct events *e, uint64_t after)
{
    uint64_t lo = oldestSeq(e), hi = e->seq;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (at(e, mid)->index <= after) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void eventsSubscribe(struct events *e, struct events_sub *sub, uint64_t after)
{
    sub->blocked = false;
    sub->gap_pending = false;
    sub->after = after;
    sub->prev = NULL;
    sub->next = e->subs;
    if (e->subs != NULL) {
        e->subs->prev = sub;
    }
    e->subs = sub;
    if (after == 0) {
        sub->next_seq = e->seq;
        return;
    }
    /* Events of indexes up to restored_index may be gone (evicted or never seen here). */
    sub->gap_pending = after < e->restored_index;
    sub->next_seq = seqAfter(e, after);
    if (sub->next_seq < e->seq || sub->gap_pending) {
        scheduleFlush(e);
    }
}

void eventsUnsubscribe(struct events *e, struct events_sub *sub)
{
    if (sub->prev != NULL) {
        sub->prev->next = sub->next;
    } else if (e->subs == sub) {
        e->subs = sub->next;
    }
    if (sub->next != NULL) {
        sub->next->prev = sub->prev;
    }
    sub->next = sub->prev = NULL;
}

void eventsWake(struct events *e, struct events_sub *sub)
{
    if (sub->blocked) {
        sub->blocked = false;
        e->flush_pending = false;
        uv_timer_stop(&e->flush);
        scheduleFlush(e);
    }
}

void eventsRange(const struct events *e, uint64_t *oldest, uint64_t *newest)
{
    if (e->seq == oldestSeq(e)) {
        *oldest = *newest = 0;
        return;
    }
    *oldest = at(e, oldestSeq(e))->index;
    *newest = at(e, e->seq - 1)->index;
}

size_t eventsSubscribers(const struct events *e)
{
    size_t n = 0;
    for (const struct events_sub *s = e->subs; s != NULL; s = s->next) {
        n++;
    }
    return n;
}
