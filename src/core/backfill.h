/*
 * Backfill (docs/misfire.md "Backfill", docs/ledger.md "Backfill"): the leader's plan for running
 * a job's past instants in [from, to], as a pure function of the FSM, the job and the leader's
 * now, and its encoding as one atomic FireBatch of backfill items. Apply checks every item
 * again (ledger.c backfillCheck) and records all of them or none, so a plan that is stale when
 * it commits creates nothing.
 *
 * Rules, for the trigger's instants in [from, to] (both inclusive):
 *   - from must not be after to (RC_EINVAL), to not after now (RC_ERANGE): only the past;
 *   - at most limit instants (0: RC_BACKFILL_LIMIT_DEFAULT; above RC_BACKFILL_LIMIT_MAX:
 *     RC_EINVAL); a range holding more is refused whole (RC_ETOOBIG) and nothing is planned;
 *   - DECIDED: an instant covered by a decision record of the job (fired, coalesced, missed or
 *     skipped; by the scheduler, run-now or an earlier backfill) keeps that decision: exactly
 *     once per (job, instant), it is neither fired nor recorded again;
 *   - DROPPED: an instant at or before the job's history floor (Job.history_floor_us: retention
 *     dropped records ending there) may have had a decision that is gone, so it is not fired;
 *   - SCHEDULED: an instant after the cursor of an unpaused job is the scheduler's to decide;
 *   - the others are judged in instant order by policyDecide with the job's overlap policy and
 *     max_instances, misfire grace unlimited and coalescing off (a backfill exists to run past
 *     instants), counting the job's active and queued runs plus those fired before them in the
 *     same backfill: FIRED (cancel_active under replace, queued under queue-one) or SKIPPED with
 *     the policy's reason — the same judgement as a scheduled fire. Runs start at now.
 * A record is a "cover" of an instant when first_us <= instant <= last_us. SKIPPED instants are
 * stored as ranges, split wherever another record lies between two of them, so that apply's
 * check (no record intersects an item's range) accepts exactly what the plan saw as free.
 *
 * Cost: O(instants × decision records) (both bounded: limit, history_max).
 */
#ifndef RC_CORE_BACKFILL_H
#define RC_CORE_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm.h"
#include "policy.h"
#include "trigger.h"

#define RC_BACKFILL_LIMIT_DEFAULT 1000 /* instants per backfill: limit 0 */
#define RC_BACKFILL_LIMIT_MAX     1000 /* and the most a request may ask for */

#define RC_BACKFILL_OUTCOME_MAP(X)                                                                 \
    X(FIRED, "fired")                                                                              \
    X(SKIPPED, "skipped")                                                                          \
    X(DECIDED, "decided")                                                                          \
    X(DROPPED, "dropped")                                                                          \
    X(SCHEDULED, "scheduled")

/* Values of api.proto BackfillInstant.outcome. */
enum rc_backfill_outcome {
    RC__BACKFILL_NONE = 0,
#define RC__BACKFILL_ENUM(name, text) RC_BACKFILL_##name,
    RC_BACKFILL_OUTCOME_MAP(RC__BACKFILL_ENUM)
#undef RC__BACKFILL_ENUM
};

struct rc_backfill_instant {
    int64_t at_us;
    enum rc_backfill_outcome outcome;
    enum rc_reason reason;     /* SKIPPED: the overlap policy's reason */
    bool cancel_active;        /* FIRED under REPLACE with active runs */
    bool queued;               /* FIRED under QUEUE_ONE while busy */
    uint64_t decision_id;      /* DECIDED: the record covering the instant */
    enum rc_decision decision; /* DECIDED: what that record says */
};

struct rc_backfill_input {
    const struct rc_trigger *trigger;     /* borrowed */
    const struct rc_policy *policy;       /* the job's (overlap, max_instances); borrowed */
    const char *job_key;                  /* "namespace/name" (borrowed) */
    int64_t cursor_us;                    /* the job's cursor */
    bool paused;                          /* the job is paused */
    int64_t history_floor_us;             /* Job.history_floor_us */
    Raftcron__Decision *const *decisions; /* the job's decision records (borrowed) */
    size_t n_decisions;
    int active_runs; /* runs of the job not finished (incl. queued) */
    int queued_runs; /* of those, queued under QUEUE_ONE */
    int64_t from_us; /* the range, both ends included */
    int64_t to_us;
    int64_t now_us; /* the leader's wall clock */
    size_t limit;   /* 0: RC_BACKFILL_LIMIT_DEFAULT */
};

/* A plan. Ownership: instants and recs are malloc'd, owned by the plan; backfillPlanFree. */
struct rc_backfill_plan {
    struct rc_backfill_instant *instants; /* every instant of [from, to], in order */
    size_t n_instants;
    struct rc_decision_rec *recs; /* what the entry records (FIRED, SKIPPED), in instant order;
                                     start_at_us is now */
    size_t n_recs;
    size_t n_fired, n_skipped, n_decided, n_dropped, n_scheduled;
};

/*
 * Plan from explicit inputs (above). Returns 0, or RC_EINVAL / RC_ERANGE / RC_ETOOBIG with a
 * message for users in err (times as RFC 3339), RC_ENOMEM, RC_EINTERNAL (the trigger
 * contradicts itself). On error *out is empty (backfillPlanFree is still safe).
 */
int backfillDecide(const struct rc_backfill_input *in, struct rc_backfill_plan *out, char *err,
                   size_t errlen);

/*
 * Plan for a job of the FSM: its trigger and policy as the scheduler builds them, its cursor,
 * pause, history floor, decision records and active runs. Returns as backfillDecide, or an
 * error of jobspecTrigger for a spec whose trigger no longer builds.
 */
int backfillPlan(const struct rc_fsm *f, const Raftcron__Job *job, int64_t from_us, int64_t to_us,
                 int64_t now_us, size_t limit, struct rc_backfill_plan *out, char *err,
                 size_t errlen);

void backfillPlanFree(struct rc_backfill_plan *p);

/*
 * The plan's records as one atomic FireBatch decided at now_us: items of job (at its version)
 * marked manual and backfill, FIRED with reason MANUAL and start_at now_us. *buf is malloc'd,
 * owned by the caller. Returns 0, RC_EINVAL (no record to write) or RC_ENOMEM.
 */
int backfillEncode(const Raftcron__Job *job, const struct rc_backfill_plan *p, int64_t now_us,
                   void **buf, size_t *len);

/* The first of the n records that covers part of [first_us, last_us], or NULL. O(n). */
const Raftcron__Decision *backfillCovering(Raftcron__Decision *const *decisions, size_t n,
                                           int64_t first_us, int64_t last_us);

/* "fired", "skipped", "decided", "dropped", "scheduled", or "unknown". */
const char *backfillOutcomeName(enum rc_backfill_outcome o);

#endif /* RC_CORE_BACKFILL_H */
