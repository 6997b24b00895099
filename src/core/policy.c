#include "policy.h"

#include <string.h>

#include "err.h"

/*
 * Why the decision runs in three steps rather than one loop over instants:
 * after a long outage a per-second job has millions of due instants, and the leader must still
 * decide them in one short FireBatch. Everything that is decided the same way for a whole range
 * is therefore one record computed with triggerCount:
 *   1. coalesce: the past-due instants before the latest are one COALESCED range;
 *   2. the instants older than now - grace are one MISSED range;
 *   3. the rest (within grace, or in the lookahead) is judged one by one by the overlap
 *      policy. Only FIRED changes the overlap state, so the first SKIPPED decides every later
 *      instant the same way and the remainder becomes one SKIPPED range.
 * Each record fills one output slot, so the work is bounded by max plus a few counts.
 */

struct decider {
    const struct rc_policy_input *in;
    struct rc_decision_rec *out;
    size_t max;
    size_t n;
    int64_t cursor;  /* last instant covered by a written record */
    int64_t horizon; /* now + lookahead, saturated */
    int64_t active;  /* in->active_runs plus runs FIRED by this call */
    int64_t queued;  /* in->queued_runs plus queued runs FIRED by this call */
};

void policyDefaults(struct rc_policy *p)
{
    p->misfire_grace_us = INT64_C(60000000);
    p->coalesce = true;
    p->overlap = RC_OVERLAP_ALLOW;
    p->max_instances = 1;
}

static int64_t addSat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

bool policyOverlapValid(enum rc_overlap o)
{
    switch (o) {
#define RC__OVERLAP_CASE(name, text) case RC_OVERLAP_##name:
        RC_OVERLAP_MAP(RC__OVERLAP_CASE)
#undef RC__OVERLAP_CASE
        return true;
    }
    return false;
}

static bool validInput(const struct rc_policy_input *in, const struct rc_decision_rec *out,
                       size_t max, const size_t *n, const int64_t *new_cursor)
{
    if (in == NULL || out == NULL || n == NULL || new_cursor == NULL || max == 0) {
        return false;
    }
    if (in->trigger == NULL || in->policy == NULL || in->job_key == NULL) {
        return false;
    }
    if (in->lookahead_us < 0 || in->active_runs < 0 || in->queued_runs < 0 ||
        in->queued_runs > in->active_runs) {
        return false;
    }
    return policyOverlapValid(in->policy->overlap);
}

static bool full(const struct decider *d)
{
    return d->n == d->max;
}

static void emitRange(struct decider *d, enum rc_decision decision, enum rc_reason reason,
                      int64_t first, int64_t last, uint64_t count)
{
    struct rc_decision_rec *r = &d->out[d->n++];
    memset(r, 0, sizeof *r);
    r->decision = decision;
    r->reason = reason;
    r->first_us = first;
    r->last_us = last;
    r->count = count;
    d->cursor = last;
}

/*
 * Emits the range of every instant in (d->cursor, to]; none when the range is empty.
 * triggerCount and triggerNext disagreeing is a bug in the trigger: reporting it beats writing
 * a record whose first instant is made up.
 */
static int emitUpTo(struct decider *d, enum rc_decision decision, enum rc_reason reason, int64_t to)
{
    if (to <= d->cursor) {
        return 0;
    }
    int64_t last = d->cursor;
    uint64_t count = triggerCount(d->in->trigger, d->cursor, to, &last);
    if (count == 0) {
        return 0;
    }
    int64_t first;
    int rv = triggerNext(d->in->trigger, d->cursor, &first);
    if (rv != 0) {
        return rv == RC_ENEVER ? RC_EINTERNAL : rv;
    }
    emitRange(d, decision, reason, first, last, count);
    return 0;
}

/* Step 1: with coalesce, all past-due instants but the latest collapse into one record. */
static int coalescePastDue(struct decider *d)
{
    const struct rc_policy_input *in = d->in;
    if (!in->policy->coalesce || in->now_us <= d->cursor) {
        return 0;
    }
    int64_t latest = d->cursor;
    if (triggerCount(in->trigger, d->cursor, in->now_us, &latest) < 2) {
        return 0;
    }
    int64_t before_latest;
    int rv = triggerPrev(in->trigger, latest, &before_latest);
    if (rv != 0) {
        return rv == RC_ENEVER ? RC_EINTERNAL : rv;
    }
    return emitUpTo(d, RC_DECISION_COALESCED, RC_REASON_COALESCED, before_latest);
}

/* Step 2: an instant with now - instant > grace, i.e. instant <= now - grace - 1, is MISSED. */
static int missBeyondGrace(struct decider *d)
{
    int64_t grace = d->in->policy->misfire_grace_us;
    int64_t to;
    if (grace < 0 || __builtin_sub_overflow(d->in->now_us, grace, &to) ||
        __builtin_sub_overflow(to, 1, &to)) {
        return 0;
    }
    return emitUpTo(d, RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, to);
}

enum rc_reason policyJudge(const struct rc_policy *p, int64_t active, int64_t queued,
                           bool *cancel_active, bool *queue)
{
    *cancel_active = false;
    *queue = false;
    switch (p->overlap) {
    case RC_OVERLAP_ALLOW: {
        int limit = p->max_instances < 1 ? 1 : p->max_instances;
        return active < limit ? RC_REASON_NONE : RC_REASON_MAX_INSTANCES;
    }
    case RC_OVERLAP_SKIP:
        return active == 0 ? RC_REASON_NONE : RC_REASON_OVERLAP;
    case RC_OVERLAP_REPLACE:
        *cancel_active = active > 0;
        return RC_REASON_NONE;
    case RC_OVERLAP_QUEUE_ONE:
        if (active == 0) {
            return RC_REASON_NONE;
        }
        *queue = queued == 0;
        return *queue ? RC_REASON_NONE : RC_REASON_QUEUE_FULL;
    }
    return RC_REASON_OVERLAP; /* an unknown policy (validInput refuses it) */
}

static void emitFired(struct decider *d, int64_t instant, bool cancel_active, bool queued)
{
    const struct rc_policy_input *in = d->in;
    int64_t start = addSat(instant, triggerJitter(in->trigger, in->job_key, instant));
    emitRange(d, RC_DECISION_FIRED, RC_REASON_NONE, instant, instant, 1);
    d->out[d->n - 1].start_at_us = start > in->now_us ? start : in->now_us;
    d->out[d->n - 1].cancel_active = cancel_active;
    d->out[d->n - 1].queued = queued;
    d->active++;
    d->queued += queued;
}

/* Step 3: the instants within grace and in the lookahead, in order, by the overlap policy. */
static int judgeRemaining(struct decider *d)
{
    while (!full(d) && d->cursor < d->horizon) {
        int64_t instant;
        int rv = triggerNext(d->in->trigger, d->cursor, &instant);
        if (rv == RC_ENEVER) {
            return 0;
        }
        if (rv != 0) {
            return rv;
        }
        if (instant > d->horizon) {
            return 0;
        }
        bool cancel_active;
        bool queued;
        enum rc_reason reason =
            policyJudge(d->in->policy, d->active, d->queued, &cancel_active, &queued);
        if (d->in->deferred_us != NULL && instant > d->in->now_us &&
            (reason != RC_REASON_NONE || cancel_active || queued)) {
            *d->in->deferred_us = instant; /* the active runs may end before it */
            return 0;
        }
        if (reason != RC_REASON_NONE) {
            /* With deferral only what is due is skipped now: the instants after now are
             * decided when they come due (the next turn of this loop defers the first). */
            bool defer = d->in->deferred_us != NULL && d->in->now_us < d->horizon;
            int64_t upto = defer ? d->in->now_us : d->horizon;
            int rv2 = emitUpTo(d, RC_DECISION_SKIPPED, reason, upto);
            if (rv2 != 0 || !defer) {
                return rv2;
            }
            continue;
        }
        emitFired(d, instant, cancel_active, queued);
    }
    return 0;
}

int policyDecide(const struct rc_policy_input *in, struct rc_decision_rec *out, size_t max,
                 size_t *n, int64_t *new_cursor)
{
    if (!validInput(in, out, max, n, new_cursor)) {
        return RC_EINVAL;
    }
    if (in->deferred_us != NULL) {
        *in->deferred_us = INT64_MAX;
    }
    struct decider d = {
        .in = in,
        .out = out,
        .max = max,
        .cursor = in->cursor_us,
        .horizon = addSat(in->now_us, in->lookahead_us),
        .active = in->active_runs,
        .queued = in->queued_runs,
    };
    int rv = coalescePastDue(&d);
    if (rv == 0 && !full(&d)) {
        rv = missBeyondGrace(&d);
    }
    if (rv == 0) {
        rv = judgeRemaining(&d);
    }
    if (rv != 0) {
        *n = 0;
        *new_cursor = in->cursor_us;
        return rv;
    }
    *n = d.n;
    *new_cursor = d.cursor;
    return 0;
}

const char *policyDecisionName(enum rc_decision d)
{
    switch (d) {
#define RC__DECISION_NAME(name, text)                                                              \
    case RC_DECISION_##name:                                                                       \
        return text;
        RC_DECISION_MAP(RC__DECISION_NAME)
#undef RC__DECISION_NAME
    case RC__DECISION_NONE:
        break;
    }
    return "unknown";
}

const char *policyReasonText(enum rc_reason r)
{
    switch (r) {
#define RC__REASON_TEXT(name, text)                                                                \
    case RC_REASON_##name:                                                                         \
        return text;
        RC_REASON_MAP(RC__REASON_TEXT)
#undef RC__REASON_TEXT
    }
    return "unknown reason";
}

const char *policyOverlapName(enum rc_overlap o)
{
    switch (o) {
#define RC__OVERLAP_NAME(name, text)                                                               \
    case RC_OVERLAP_##name:                                                                        \
        return text;
        RC_OVERLAP_MAP(RC__OVERLAP_NAME)
#undef RC__OVERLAP_NAME
    }
    return "unknown";
}

int policyOverlapParse(const char *text, enum rc_overlap *out)
{
    if (text == NULL || out == NULL) {
        return RC_EPARSE;
    }
#define RC__OVERLAP_PARSE(name, str)                                                               \
    if (strcmp(text, str) == 0) {                                                                  \
        *out = RC_OVERLAP_##name;                                                                  \
        return 0;                                                                                  \
    }
    RC_OVERLAP_MAP(RC__OVERLAP_PARSE)
#undef RC__OVERLAP_PARSE
    return RC_EPARSE;
}
