/*
 * Retry backoff (DESIGN.md §1.3, §5): how long a failed, timed-out or lost attempt waits
 * before the next one, and whether there is a next one. Pure functions of the job's
 * RetryPolicy, the attempt and the run id: the leader computes them and writes the result into
 * RunRetry.not_before_us; apply never calls them with a clock.
 *
 * Backoff of attempt n (the attempt that failed, 1-based), before the cap and the jitter:
 *   fixed        delay
 *   linear       delay * n
 *   exponential  delay * multiplier^(n-1)   (multiplier 0 means 2; APScheduler / seeds form)
 * then min(., max_delay_us) (max_delay_us 0: RC_RETRY_DELAY_LIMIT), plus a jitter in
 * [0, min(jitter_us, RC_RETRY_DELAY_LIMIT)] taken from a hash of (run id, attempt): equal inputs,
 * equal delay, on every node and every call.
 */
#ifndef RC_CORE_RETRY_H
#define RC_CORE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

#define RC_RETRY_DEFAULT_MULTIPLIER 2.0
#define RC_RETRY_DELAY_LIMIT        (INT64_C(30) * 24 * 3600 * 1000000) /* 30 days */

enum rc_backoff {
    RC_BACKOFF_FIXED = 0,
    RC_BACKOFF_LINEAR = 1,
    RC_BACKOFF_EXPONENTIAL = 2,
};

/*
 * The wait after attempt `attempt` (>= 1) of run run_id failed, in *delay_us (>= 0, at most
 * the cap plus jitter_us). p NULL is the default policy (no delay). Returns 0, or RC_EINVAL
 * (attempt 0, a negative field, an unknown backoff, a multiplier that is neither 0 nor >= 1).
 */
int retryDelay(const Raftcron__RetryPolicy *p, uint32_t attempt, uint64_t run_id,
               int64_t *delay_us);

/*
 * Whether attempt `attempt` (1-based, the one that just ended) may be followed by another:
 * attempt < max_attempts, where max_attempts counts the first attempt (0 or 1: never retry;
 * p NULL: never). A LOST attempt of an at-most-once job is never retried (DESIGN.md §1.3).
 */
bool retryShouldRetry(const Raftcron__RetryPolicy *p, uint32_t attempt, bool lost,
                      bool at_most_once);

#endif /* RC_CORE_RETRY_H */
