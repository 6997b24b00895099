#include "backfill.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "err.h"
#include "jobs.h"
#include "jobspec.h"
#include "timefmt.h"

/*
 * Why the overlap judgement goes through policyDecide rather than a loop of its own: a backfill
 * must decide an instant exactly as the scheduler would have (docs/misfire.md), and that rule
 * lives in one place. policyDecide decides every trigger instant in (cursor, now]; a backfill's
 * free instants come in runs ("segments") between instants that are already decided, so each
 * segment is one call with cursor just before its first instant and now at its last, grace
 * unlimited and coalescing off — every instant is then past due and judged by the overlap
 * policy, in order. The active and queued counts carry from one segment to the next.
 */

const Raftcron__Decision *backfillCovering(Raftcron__Decision *const *decisions, size_t n,
                                           int64_t first_us, int64_t last_us)
{
    for (size_t i = 0; i < n; i++) {
        if (decisions[i]->first_us <= last_us && decisions[i]->last_us >= first_us) {
            return decisions[i];
        }
    }
    return NULL;
}

const char *backfillOutcomeName(enum rc_backfill_outcome o)
{
    switch (o) {
#define RC__BACKFILL_NAME(name, text)                                                              \
    case RC_BACKFILL_##name:                                                                       \
        return text;
        RC_BACKFILL_OUTCOME_MAP(RC__BACKFILL_NAME)
#undef RC__BACKFILL_NAME
    case RC__BACKFILL_NONE:
        break;
    }
    return "unknown";
}

void backfillPlanFree(struct rc_backfill_plan *p)
{
    if (p == NULL) {
        return;
    }
    free(p->instants);
    free(p->recs);
    memset(p, 0, sizeof *p);
}

/* ---- The range ------------------------------------------------------------------------------ */

static int checkRange(const struct rc_backfill_input *in, size_t *limit, char *err, size_t errlen)
{
    char a[RC_TIMEFMT_MAX];
    char b[RC_TIMEFMT_MAX];
    *limit = in->limit != 0 ? in->limit : RC_BACKFILL_LIMIT_DEFAULT;
    if (*limit > RC_BACKFILL_LIMIT_MAX) {
        return errSet(err, errlen, RC_EINVAL, "limit %zu is above the maximum %d", *limit,
                      RC_BACKFILL_LIMIT_MAX);
    }
    if (in->from_us > in->to_us) {
        timefmtFormat(in->from_us, 0, a);
        timefmtFormat(in->to_us, 0, b);
        return errSet(err, errlen, RC_EINVAL, "from %s is after to %s", a, b);
    }
    if (in->to_us > in->now_us) {
        timefmtFormat(in->to_us, 0, a);
        timefmtFormat(in->now_us, 0, b);
        return errSet(err, errlen, RC_ERANGE,
                      "to %s is in the future (the leader's now is %s): only past instants can "
                      "be backfilled",
                      a, b);
    }
    return 0;
}

/* Every trigger instant of [from, to] into out->instants, or RC_ETOOBIG when there are more
 * than limit. Counting first costs a few steps per civil day (triggerCount) and tells users
 * the exact number they asked for. */
static int listInstants(const struct rc_backfill_input *in, size_t limit,
                        struct rc_backfill_plan *out, char *err, size_t errlen)
{
    int64_t before = in->from_us == INT64_MIN ? INT64_MIN : in->from_us - 1;
    int64_t last = before;
    uint64_t count = triggerCount(in->trigger, before, in->to_us, &last);
    if (count > limit) {
        char a[RC_TIMEFMT_MAX];
        char b[RC_TIMEFMT_MAX];
        timefmtFormat(in->from_us, 0, a);
        timefmtFormat(in->to_us, 0, b);
        return errSet(err, errlen, RC_ETOOBIG,
                      "[%s, %s] holds %llu instants of the job's schedule, more than the limit "
                      "%zu",
                      a, b, (unsigned long long)count, limit);
    }
    out->instants = calloc(count + 1, sizeof *out->instants);
    out->recs = calloc(count + 1, sizeof *out->recs);
    if (out->instants == NULL || out->recs == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "out of memory");
    }
    int64_t at = before;
    for (size_t i = 0; i < count; i++) {
        if (triggerNext(in->trigger, at, &at) != 0 || at > in->to_us) {
            return errSet(err, errlen, RC_EINTERNAL,
                          "the trigger counts %llu instants but lists %zu",
                          (unsigned long long)count, i);
        }
        out->instants[i].at_us = at;
    }
    out->n_instants = count;
    return 0;
}

/* ---- Classification ------------------------------------------------------------------------- */

static void classify(const struct rc_backfill_input *in, struct rc_backfill_instant *x)
{
    const Raftcron__Decision *d =
        backfillCovering(in->decisions, in->n_decisions, x->at_us, x->at_us);
    if (d != NULL) {
        x->outcome = RC_BACKFILL_DECIDED;
        x->decision_id = d->id;
        x->decision = (enum rc_decision)d->decision;
    } else if (x->at_us <= in->history_floor_us) {
        x->outcome = RC_BACKFILL_DROPPED;
    } else if (!in->paused && x->at_us > in->cursor_us) {
        x->outcome = RC_BACKFILL_SCHEDULED;
    }
}

/* Whether instants a < b (both free) may share a range record: no record lies between them. */
static bool adjacent(const struct rc_backfill_input *in, int64_t a, int64_t b)
{
    return b - a < 2 || backfillCovering(in->decisions, in->n_decisions, a + 1, b - 1) == NULL;
}

struct judge {
    const struct rc_backfill_input *in;
    struct rc_policy policy; /* the job's overlap, grace unlimited, no coalescing */
    int active;
    int queued;
};

/* The segment instants[i..j] (free, adjacent) through policyDecide; records appended. */
static int judgeSegment(struct judge *jd, struct rc_backfill_plan *out, size_t i, size_t j)
{
    struct rc_backfill_instant *xs = out->instants;
    struct rc_policy_input pin = {
        .trigger = jd->in->trigger,
        .policy = &jd->policy,
        .job_key = jd->in->job_key,
        .cursor_us = xs[i].at_us - 1,
        .now_us = xs[j].at_us,
        .lookahead_us = 0,
        .active_runs = jd->active,
        .queued_runs = jd->queued,
    };
    struct rc_decision_rec *recs = out->recs + out->n_recs;
    size_t n;
    int64_t cursor;
    int rv = policyDecide(&pin, recs, j - i + 1, &n, &cursor);
    if (rv != 0 || cursor != xs[j].at_us) {
        return rv != 0 ? rv : RC_EINTERNAL;
    }
    size_t k = i;
    for (size_t r = 0; r < n; r++) {
        recs[r].start_at_us = jd->in->now_us;
        for (; k <= j && xs[k].at_us <= recs[r].last_us; k++) {
            if (xs[k].at_us < recs[r].first_us) {
                return RC_EINTERNAL;
            }
            if (recs[r].decision == RC_DECISION_FIRED) {
                xs[k].outcome = RC_BACKFILL_FIRED;
                xs[k].cancel_active = recs[r].cancel_active;
                xs[k].queued = recs[r].queued;
                jd->active++;
                jd->queued += recs[r].queued;
            } else if (recs[r].decision == RC_DECISION_SKIPPED) {
                xs[k].outcome = RC_BACKFILL_SKIPPED;
                xs[k].reason = recs[r].reason;
            } else {
                return RC_EINTERNAL; /* no grace, no coalescing: nothing else is decided */
            }
        }
    }
    out->n_recs += n;
    return k == j + 1 ? 0 : RC_EINTERNAL;
}

static int judgeAll(const struct rc_backfill_input *in, struct rc_backfill_plan *out)
{
    struct judge jd = {
        .in = in, .policy = *in->policy, .active = in->active_runs, .queued = in->queued_runs};
    jd.policy.misfire_grace_us = -1;
    jd.policy.coalesce = false;
    size_t i = 0;
    while (i < out->n_instants) {
        if (out->instants[i].outcome != RC__BACKFILL_NONE) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < out->n_instants && out->instants[j + 1].outcome == RC__BACKFILL_NONE &&
               adjacent(in, out->instants[j].at_us, out->instants[j + 1].at_us)) {
            j++;
        }
        int rv = judgeSegment(&jd, out, i, j);
        if (rv != 0) {
            return rv;
        }
        i = j + 1;
    }
    return 0;
}

static void countOutcomes(struct rc_backfill_plan *p)
{
    for (size_t i = 0; i < p->n_instants; i++) {
        switch (p->instants[i].outcome) {
        case RC_BACKFILL_FIRED:
            p->n_fired++;
            break;
        case RC_BACKFILL_SKIPPED:
            p->n_skipped++;
            break;
        case RC_BACKFILL_DECIDED:
            p->n_decided++;
            break;
        case RC_BACKFILL_DROPPED:
            p->n_dropped++;
            break;
        case RC_BACKFILL_SCHEDULED:
            p->n_scheduled++;
            break;
        case RC__BACKFILL_NONE:
            assert(false); /* judgeAll decided every free instant */
            break;
        }
    }
}

int backfillDecide(const struct rc_backfill_input *in, struct rc_backfill_plan *out, char *err,
                   size_t errlen)
{
    if (out == NULL) {
        return RC_EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (in == NULL || in->trigger == NULL || in->policy == NULL || in->job_key == NULL ||
        (in->decisions == NULL && in->n_decisions > 0) || in->active_runs < 0 ||
        in->queued_runs < 0 || in->queued_runs > in->active_runs) {
        return errSet(err, errlen, RC_EINVAL, "backfill: invalid input");
    }
    size_t limit;
    int rv = checkRange(in, &limit, err, errlen);
    if (rv == 0) {
        rv = listInstants(in, limit, out, err, errlen);
    }
    if (rv != 0) {
        goto err_after_list;
    }
    for (size_t i = 0; i < out->n_instants; i++) {
        classify(in, &out->instants[i]);
    }
    rv = judgeAll(in, out);
    if (rv != 0) {
        errSet(err, errlen, rv, "backfill: the overlap policy could not judge the instants (%s)",
               rc_strerror(rv));
        goto err_after_list;
    }
    countOutcomes(out);
    return 0;

err_after_list:
    assert(rv != 0);
    backfillPlanFree(out);
    return rv;
}

int backfillPlan(const struct rc_fsm *f, const Raftcron__Job *job, int64_t from_us, int64_t to_us,
                 int64_t now_us, size_t limit, struct rc_backfill_plan *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct rc_trigger t;
    int rv = jobspecTrigger(job, &t, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct rc_policy pol;
    jobspecPolicy(job->spec, &pol);
    char key[RC_JOBSPEC_KEY_SIZE];
    jobspecKey(job, key);
    struct rc_backfill_input in = {
        .trigger = &t,
        .policy = &pol,
        .job_key = key,
        .cursor_us = job->cursor_us,
        .paused = job->paused,
        .history_floor_us = job->history_floor_us,
        .from_us = from_us,
        .to_us = to_us,
        .now_us = now_us,
        .limit = limit,
    };
    in.decisions = fsmJobDecisions(f, job->id, &in.n_decisions);
    fsmJobActive(f, job->id, &in.active_runs, &in.queued_runs);
    return backfillDecide(&in, out, err, errlen);
}

/* ---- The entry ------------------------------------------------------------------------------ */

int backfillEncode(const Raftcron__Job *job, const struct rc_backfill_plan *p, int64_t now_us,
                   void **buf, size_t *len)
{
    if (job == NULL || p == NULL || p->n_recs == 0) {
        return RC_EINVAL;
    }
    Raftcron__FireItem *items = calloc(p->n_recs, sizeof *items);
    Raftcron__FireItem **ptrs = calloc(p->n_recs, sizeof *ptrs);
    int rv = RC_ENOMEM;
    if (items == NULL || ptrs == NULL) {
        goto out;
    }
    for (size_t i = 0; i < p->n_recs; i++) {
        const struct rc_decision_rec *r = &p->recs[i];
        Raftcron__FireItem *it = &items[i];
        jobspecFireItem(job, r, it);
        if (r->decision == RC_DECISION_FIRED) {
            it->reason = RC_REASON_MANUAL;
            it->start_at_us = now_us;
        }
        it->manual = true;
        it->backfill = true;
        ptrs[i] = it;
    }
    Raftcron__FireBatch b = RAFTCRON__FIRE_BATCH__INIT;
    b.now_us = now_us;
    b.items = ptrs;
    b.n_items = p->n_recs;
    b.atomic = true;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = RAFTCRON__COMMAND__CMD_FIRE_BATCH;
    cmd.fire_batch = &b;
    rv = commandPack(&cmd.base, buf, len);
out:
    free(items);
    free(ptrs);
    return rv;
}
