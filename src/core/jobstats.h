/*
 * Per-job statistics (docs/rest.md "Statistics"): counters kept in Job.stats by apply as entries
 * create runs, record decisions and move runs, and a summary of the durations of the runs the
 * ledger still holds, computed when asked.
 *
 * Determinism (DESIGN.md §3): the counters change only inside apply, from the entry and the
 * state (times are the entry's); every replica holds the same counters, and they travel in
 * snapshots with the job. Counters only grow: retention dropping runs does not lower them.
 *
 * What is counted, and when (the run states of runs.h):
 *   runs, manual            a FIRED item creates a run (manual: run-now, backfill, retry of a
 *                           dead letter)
 *   fired, coalesced,       a scheduled (not manual) decision record, by its count of instants
 *   missed, skipped         (skipped also counts manual instants an overlap policy skipped)
 *   succeeded, failed,      an attempt enters that state (each attempt once)
 *   timed_out, lost
 *   retried                 an attempt is followed by another (→ RETRY_WAIT)
 *   dead, cancelled         a run enters that final state
 *   last_*                  the attempt that ended last (SUCCEEDED, FAILED, TIMED_OUT, LOST)
 *   duration_*              attempts that started and ended SUCCEEDED, FAILED or TIMED_OUT
 */
#ifndef RC_CORE_JOBSTATS_H
#define RC_CORE_JOBSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

/* Give job an empty Job.stats when it has none (a new job, or one restored from a snapshot
 * written before statistics existed). Returns 0 or RC_ENOMEM. */
int jobstatsEnsure(Raftcron__Job *job);

/* Apply hooks (ledger.c). job->stats must exist (jobstatsEnsure); none of them fails. */
void jobstatsRunCreated(Raftcron__Job *job, const Raftcron__Run *run);
void jobstatsDecided(Raftcron__Job *job, const Raftcron__Decision *d);
/* run moved from `from` to run->state (its finished_us already set by the move). */
void jobstatsRunMoved(Raftcron__Job *job, const Raftcron__Run *run, uint32_t from);
/* Whether a move into state `to` changes any counter (so that the caller looks the job up only
 * then). */
bool jobstatsCounts(uint32_t to);

/* The durations of the runs the ledger holds for one job: of those in SUCCEEDED, FAILED or
 * TIMED_OUT with both a start and an end. */
struct rc_jobstats_summary {
    uint32_t count;
    int64_t mean_us;
    int64_t p95_us; /* nearest rank: the smallest duration at or above 95% of them */
    int64_t max_us;
    uint32_t active; /* runs not finished */
};

/* Summarize runs (borrowed, any order). Returns 0 or RC_ENOMEM (the sort's buffer). */
int jobstatsSummarize(Raftcron__Run *const *runs, size_t n, struct rc_jobstats_summary *out);

#endif /* RC_CORE_JOBSTATS_H */
