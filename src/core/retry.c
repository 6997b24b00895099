#include "retry.h"

#include <math.h>

#include "err.h"
#include "hash.h"

static int checkPolicy(const Raftcron__RetryPolicy *p)
{
    if (p->delay_us < 0 || p->max_delay_us < 0 || p->jitter_us < 0 || p->backoff > 2) {
        return RC_EINVAL;
    }
    if (!isfinite(p->multiplier) || (p->multiplier != 0 && p->multiplier < 1)) {
        return RC_EINVAL;
    }
    return 0;
}

/* Multiplying step by step, stopping at the cap, keeps every intermediate value finite and
 * exact for integral multipliers (the usual 2): pow() would overflow for large attempts. */
static int64_t exponential(int64_t delay, double multiplier, uint32_t attempt, int64_t cap)
{
    double m = multiplier != 0 ? multiplier : RC_RETRY_DEFAULT_MULTIPLIER;
    double d = (double)delay;
    for (uint32_t i = 1; i < attempt && d < (double)cap; i++) {
        d *= m;
    }
    return d >= (double)cap ? cap : (int64_t)d;
}

static int64_t linear(int64_t delay, uint32_t attempt, int64_t cap)
{
    if (delay != 0 && (int64_t)attempt > cap / delay) {
        return cap;
    }
    return delay * (int64_t)attempt;
}

int retryDelay(const Raftcron__RetryPolicy *p, uint32_t attempt, uint64_t run_id, int64_t *delay_us)
{
    if (attempt == 0) {
        return RC_EINVAL;
    }
    if (p == NULL) {
        *delay_us = 0;
        return 0;
    }
    int rv = checkPolicy(p);
    if (rv != 0) {
        return rv;
    }
    int64_t cap = p->max_delay_us > 0 && p->max_delay_us < RC_RETRY_DELAY_LIMIT
                      ? p->max_delay_us
                      : RC_RETRY_DELAY_LIMIT;
    int64_t d;
    switch (p->backoff) {
    case RC_BACKOFF_LINEAR:
        d = linear(p->delay_us, attempt, cap);
        break;
    case RC_BACKOFF_EXPONENTIAL:
        d = exponential(p->delay_us, p->multiplier, attempt, cap);
        break;
    default:
        d = p->delay_us;
        break;
    }
    if (d > cap) {
        d = cap;
    }
    if (p->jitter_us > 0) {
        int64_t jitter = p->jitter_us < RC_RETRY_DELAY_LIMIT ? p->jitter_us : RC_RETRY_DELAY_LIMIT;
        uint64_t span = (uint64_t)jitter + 1;
        /* A hash, not a random draw: the jitter must not depend on the node that computes it,
         * or a re-elected leader would re-time a retry. */
        d += (int64_t)(hashSplitmix(run_id ^ hashSplitmix(attempt)) % span);
    }
    *delay_us = d;
    return 0;
}

bool retryShouldRetry(const Raftcron__RetryPolicy *p, uint32_t attempt, bool lost,
                      bool at_most_once)
{
    if (p == NULL || (lost && at_most_once)) {
        return false;
    }
    return attempt < p->max_attempts;
}
