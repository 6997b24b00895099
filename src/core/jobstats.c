#include "jobstats.h"

#include <stdlib.h>

#include "err.h"
#include "policy.h"
#include "runs.h"

int jobstatsEnsure(Raftcron__Job *job)
{
    if (job->stats != NULL) {
        return 0;
    }
    job->stats = malloc(sizeof *job->stats);
    if (job->stats == NULL) {
        return RC_ENOMEM;
    }
    raftcron__job_stats__init(job->stats);
    return 0;
}

void jobstatsRunCreated(Raftcron__Job *job, const Raftcron__Run *run)
{
    Raftcron__JobStats *s = job->stats;
    s->runs++;
    s->manual += run->manual;
}

void jobstatsDecided(Raftcron__Job *job, const Raftcron__Decision *d)
{
    Raftcron__JobStats *s = job->stats;
    switch (d->decision) {
    case RC_DECISION_FIRED:
        s->fired += !d->manual;
        break;
    case RC_DECISION_COALESCED:
        s->coalesced += d->manual ? 0 : d->count;
        break;
    case RC_DECISION_MISSED:
        s->missed += d->manual ? 0 : d->count;
        break;
    case RC_DECISION_SKIPPED:
        s->skipped += d->count;
        break;
    default:
        break;
    }
}

bool jobstatsCounts(uint32_t to)
{
    switch (to) {
    case RC_RUN_SUCCEEDED:
    case RC_RUN_FAILED:
    case RC_RUN_TIMED_OUT:
    case RC_RUN_LOST:
    case RC_RUN_RETRY_WAIT:
    case RC_RUN_DEAD:
    case RC_RUN_CANCELLED:
        return true;
    default:
        return false;
    }
}

/* An attempt ended: it becomes the job's last, and its duration counts when it ran. */
static void attemptEnded(Raftcron__JobStats *s, const Raftcron__Run *run)
{
    s->last_run_id = run->id;
    s->last_state = run->state;
    s->last_started_us = run->started_us;
    s->last_finished_us = run->finished_us;
    if (run->state == RC_RUN_SUCCEEDED) {
        s->last_success_us = run->finished_us;
    } else {
        s->last_failure_us = run->finished_us;
    }
    if (run->state != RC_RUN_LOST && run->started_us != 0 && run->finished_us >= run->started_us) {
        s->duration_count++;
        s->duration_sum_us += (uint64_t)(run->finished_us - run->started_us);
    }
}

void jobstatsRunMoved(Raftcron__Job *job, const Raftcron__Run *run, uint32_t from)
{
    Raftcron__JobStats *s = job->stats;
    if (from == run->state) {
        return;
    }
    switch (run->state) {
    case RC_RUN_SUCCEEDED:
        s->succeeded++;
        attemptEnded(s, run);
        break;
    case RC_RUN_FAILED:
        s->failed++;
        attemptEnded(s, run);
        break;
    case RC_RUN_TIMED_OUT:
        s->timed_out++;
        attemptEnded(s, run);
        break;
    case RC_RUN_LOST:
        s->lost++;
        attemptEnded(s, run);
        break;
    case RC_RUN_RETRY_WAIT:
        s->retried++;
        break;
    case RC_RUN_DEAD:
        s->dead++;
        break;
    case RC_RUN_CANCELLED:
        s->cancelled++;
        break;
    default:
        break;
    }
}

static int cmpDuration(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool hasDuration(const Raftcron__Run *r)
{
    return (r->state == RC_RUN_SUCCEEDED || r->state == RC_RUN_FAILED ||
            r->state == RC_RUN_TIMED_OUT) &&
           r->started_us != 0 && r->finished_us >= r->started_us;
}

int jobstatsSummarize(Raftcron__Run *const *runs, size_t n, struct rc_jobstats_summary *out)
{
    *out = (struct rc_jobstats_summary){0};
    int64_t *d = malloc((n > 0 ? n : 1) * sizeof *d);
    if (d == NULL) {
        return RC_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out->active += !runsStateFinished(runs[i]->state);
        if (hasDuration(runs[i])) {
            d[k++] = runs[i]->finished_us - runs[i]->started_us;
        }
    }
    if (k > 0) {
        qsort(d, k, sizeof *d, cmpDuration);
        /* Sum in double: k durations of up to years each cannot overflow it meaningfully. */
        double sum = 0;
        for (size_t i = 0; i < k; i++) {
            sum += (double)d[i];
        }
        out->count = (uint32_t)k;
        out->mean_us = (int64_t)(sum / (double)k + 0.5);
        /* Nearest rank: ceil(0.95 k), 1-based. */
        size_t rank = (95 * k + 99) / 100;
        out->p95_us = d[rank - 1];
        out->max_us = d[k - 1];
    }
    free(d);
    return 0;
}
