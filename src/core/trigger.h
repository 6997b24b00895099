/*
 * Triggers: the schedule of a job as a pure function from an instant to the next (or previous)
 * scheduled instant. Instants are microseconds since the Unix epoch, UTC.
 *
 * Kinds: cron (in a time zone, with DST policy), interval (every D from an anchor) and one-off
 * (at an instant). Every kind may be bounded by [start, end] (inclusive).
 *
 * DST semantics (docs/scheduling.md), for cron triggers:
 *   - An expression whose hour field matches every hour "follows elapsed time": wall-clock
 *     times inside a spring-forward gap do not exist and are skipped; wall-clock times inside a
 *     fall-back repeat fire at both occurrences.
 *   - Otherwise ("fixed time"): a time inside a gap runs at the first valid instant after the
 *     gap (dst_gap SHIFT, default) or is skipped (SKIP); a time inside a repeat runs at its first
 *     occurrence only (dst_repeat ONCE, default) or at both (BOTH).
 * Several gap times shifted to the same instant fire once there.
 *
 * Cron instants are whole seconds within years 1..9999 (UTC); "after" and "before" may carry
 * fractions and are compared exactly. The zone's transitions are known for 1900-2200 (tz.h).
 */
#ifndef RC_CORE_TRIGGER_H
#define RC_CORE_TRIGGER_H

#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "tz.h"

#define RC_TIME_NONE_LO INT64_MIN
#define RC_TIME_NONE_HI INT64_MAX

enum rc_trigger_kind {
    RC_TRIGGER_CRON = 1,
    RC_TRIGGER_INTERVAL = 2,
    RC_TRIGGER_ONCE = 3,
};

enum rc_dst_gap {
    RC_DST_GAP_SHIFT = 0, /* run at the first valid instant after the gap */
    RC_DST_GAP_SKIP = 1,  /* do not run */
};

enum rc_dst_repeat {
    RC_DST_REPEAT_ONCE = 0, /* run at the first occurrence */
    RC_DST_REPEAT_BOTH = 1, /* run at both occurrences */
};

struct rc_trigger {
    enum rc_trigger_kind kind;
    struct rc_cron cron;           /* CRON */
    const struct rc_tz *tz;        /* CRON: zone (borrowed from tzGet's cache) */
    enum rc_dst_gap dst_gap;       /* CRON */
    enum rc_dst_repeat dst_repeat; /* CRON */
    int64_t interval_us;           /* INTERVAL: > 0 */
    int64_t anchor_us;             /* INTERVAL: instants are anchor + k * interval */
    int64_t at_us;                 /* ONCE */
    int64_t start_us;              /* no instant before this (RC_TIME_NONE_LO: unbounded) */
    int64_t end_us;                /* no instant after this (RC_TIME_NONE_HI: unbounded) */
    int64_t jitter_us;             /* maximum start delay added by triggerJitter; 0 = none */
};

/*
 * A cron trigger from an expression. tz_id names the zone ("" or NULL: UTC, unless the
 * expression carries CRON_TZ=; both given and different is an error). An "@every D"
 * expression becomes an INTERVAL trigger anchored at anchor_us.
 * Bounds are unbounded and jitter 0; set the fields afterwards.
 * Returns 0, RC_EPARSE or RC_ETZ with a message in err.
 */
int triggerInitCron(struct rc_trigger *t, const char *expr, const char *tz_id, int64_t anchor_us,
                    char *err, size_t errlen);

/* An interval trigger: every interval_us (> 0) from anchor_us. Returns 0 or RC_EINVAL. */
int triggerInitInterval(struct rc_trigger *t, int64_t interval_us, int64_t anchor_us);

/* A one-off trigger at at_us. */
void triggerInitOnce(struct rc_trigger *t, int64_t at_us);

/*
 * The first scheduled instant strictly after after_us. Returns 0, or RC_ENEVER when there is
 * none (past the end bound, a one-off already passed, or no match within 400 years).
 */
int triggerNext(const struct rc_trigger *t, int64_t after_us, int64_t *out_us);

/* The last scheduled instant strictly before before_us. Returns 0 or RC_ENEVER. */
int triggerPrev(const struct rc_trigger *t, int64_t before_us, int64_t *out_us);

/*
 * The number of scheduled instants in (from_us, to_us], and the last of them in *last_us
 * (unchanged when the count is 0). Interval triggers answer arithmetically; cron triggers count
 * per civil day (an every-second job over ten years costs about 3,650 day steps, not 3e8).
 */
uint64_t triggerCount(const struct rc_trigger *t, int64_t from_us, int64_t to_us, int64_t *last_us);

/*
 * Deterministic start delay for the instant: a hash of (key, instant) mapped into
 * [0, jitter_us], capped so that instant + delay stays strictly before the next instant.
 * key identifies the job (e.g. "namespace/name"; NULL reads as ""). Returns 0 when jitter_us
 * is 0 or negative. The hash is FNV-1a 64 of the key, xored with splitmix64(instant) and
 * mixed again by splitmix64, mapped onto [0, jitter_us] by a 64x64->128 multiply: the same
 * inputs give the same delay on every node and in every version that keeps this definition.
 */
int64_t triggerJitter(const struct rc_trigger *t, const char *key, int64_t instant_us);

#endif /* RC_CORE_TRIGGER_H */
