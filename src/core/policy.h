/*
 * Misfire, coalesce and overlap decisions as pure functions (DESIGN.md §4.3).
 * Inputs: the job's trigger and policy, its cursor (latest decided instant), the leader's
 * wall-clock now and the job's active runs. Output: one decision for every due instant,
 * as compact records (a range of MISSED or COALESCED instants is one record with a count).
 *
 * Semantics (APScheduler's misfire_grace_time and coalesce):
 *   - due instants are those in (cursor, now + lookahead]; an instant <= now is past due;
 *   - coalesce: when more than one instant is past due, all but the latest are COALESCED and
 *     only the latest is considered further;
 *   - an instant with now - instant > misfire_grace is MISSED (reason MISFIRE_GRACE);
 *   - otherwise the overlap policy decides between FIRED and SKIPPED:
 *       ALLOW      fire while active runs < max_instances, else SKIPPED (MAX_INSTANCES);
 *       SKIP       fire only when no run is active, else SKIPPED (OVERLAP);
 *       REPLACE    always fire, cancelling the active runs (cancel_active);
 *       QUEUE_ONE  fire when idle; when busy, fire queued (starts after the active run ends)
 *                  unless one is already queued, else SKIPPED (QUEUE_FULL).
 *   - a FIRED run starts at max(instant + jitter, now) (late instants start at once).
 *   - with deferred_us: an instant in the lookahead (after now) that the active runs would
 *     decide otherwise than FIRED is not decided before it is due.
 */
#ifndef RC_CORE_POLICY_H
#define RC_CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trigger.h"

#define RC_DECISION_MAP(X)                                                                         \
    X(FIRED, "fired")                                                                              \
    X(COALESCED, "coalesced")                                                                      \
    X(MISSED, "missed")                                                                            \
    X(SKIPPED, "skipped")

enum rc_decision {
#define RC__DECISION_ENUM(name, text) RC_DECISION_##name,
    RC__DECISION_NONE = 0,
    RC_DECISION_MAP(RC__DECISION_ENUM)
#undef RC__DECISION_ENUM
};

#define RC_REASON_MAP(X)                                                                           \
    X(NONE, "")                                                                                    \
    X(MISFIRE_GRACE, "later than the misfire grace")                                               \
    X(COALESCED, "coalesced into a later instant")                                                 \
    X(MAX_INSTANCES, "max instances already running")                                              \
    X(OVERLAP, "previous run still active")                                                        \
    X(QUEUE_FULL, "a run is already queued")                                                       \
    X(PAUSED, "job paused")                                                                        \
    X(MANUAL, "manual run")

enum rc_reason {
#define RC__REASON_ENUM(name, text) RC_REASON_##name,
    RC_REASON_MAP(RC__REASON_ENUM)
#undef RC__REASON_ENUM
};

#define RC_OVERLAP_MAP(X)                                                                          \
    X(ALLOW, "allow")                                                                              \
    X(SKIP, "skip")                                                                                \
    X(REPLACE, "replace")                                                                          \
    X(QUEUE_ONE, "queue-one")

enum rc_overlap {
#define RC__OVERLAP_ENUM(name, text) RC_OVERLAP_##name,
    RC_OVERLAP_MAP(RC__OVERLAP_ENUM)
#undef RC__OVERLAP_ENUM
};

struct rc_policy {
    int64_t misfire_grace_us; /* < 0: unlimited */
    bool coalesce;
    enum rc_overlap overlap;
    int max_instances; /* ALLOW: >= 1 */
};

/* APScheduler-like defaults: grace 60 s, coalesce on, ALLOW with max_instances 1. */
void policyDefaults(struct rc_policy *p);

struct rc_decision_rec {
    enum rc_decision decision;
    enum rc_reason reason;
    int64_t first_us;    /* first instant covered */
    int64_t last_us;     /* last instant covered (== first_us when count == 1) */
    uint64_t count;      /* instants covered, >= 1; > 1 only for MISSED, COALESCED, SKIPPED */
    int64_t start_at_us; /* FIRED: when the run starts */
    bool cancel_active;  /* FIRED under REPLACE with active runs */
    bool queued;         /* FIRED under QUEUE_ONE while busy */
};

struct rc_policy_input {
    const struct rc_trigger *trigger; /* borrowed */
    const struct rc_policy *policy;   /* borrowed */
    const char *job_key;              /* for jitter (borrowed) */
    int64_t cursor_us;                /* latest decided instant: instants after it are due */
    int64_t now_us;                   /* the leader's wall clock */
    int64_t lookahead_us;             /* >= 0 */
    int active_runs;                  /* runs of the job not finished yet (incl. queued) */
    int queued_runs;                  /* of those, queued under QUEUE_ONE */
    /* NULL: instants in the lookahead are decided now, like the others. Else an instant after
     * now whose decision the job's active runs would change (a skip, a replace's cancel, a
     * queue-one's queue) is left undecided, with every later one: the runs may end before it.
     * *deferred_us is then that instant (INT64_MAX when nothing was left), and it is decided
     * once now reaches it (APScheduler checks max_instances when an instant is due, not a
     * lookahead before). */
    int64_t *deferred_us;
};

/*
 * Decide the due instants in order, writing at most max records to out (*n set to the count).
 * *new_cursor is the last instant decided (== cursor when nothing was due). When out fills up,
 * the decision stops early and the rest is due on the next call. Returns 0, or RC_EINVAL.
 */
int policyDecide(const struct rc_policy_input *in, struct rc_decision_rec *out, size_t max,
                 size_t *n, int64_t *new_cursor);

/*
 * The overlap policy's judgement of one more run of a job that has active runs, queued of
 * them queued (the rules above): RC_REASON_NONE to fire it, with *cancel_active (REPLACE:
 * cancel the active runs) and *queue (QUEUE_ONE: start when they end); else why not:
 * MAX_INSTANCES, OVERLAP or QUEUE_FULL. policyDecide asks it for every instant it judges,
 * and a manual run asks it before it is proposed.
 */
enum rc_reason policyJudge(const struct rc_policy *p, int64_t active, int64_t queued,
                           bool *cancel_active, bool *queue);

const char *policyDecisionName(enum rc_decision d);
const char *policyReasonText(enum rc_reason r);
const char *policyOverlapName(enum rc_overlap o);
/* Parse "allow" | "skip" | "replace" | "queue-one". Returns 0 or RC_EPARSE. */
int policyOverlapParse(const char *text, enum rc_overlap *out);
/* One of the overlap policies of RC_OVERLAP_MAP (a hand-made JobPut may carry another value). */
bool policyOverlapValid(enum rc_overlap o);

#endif /* RC_CORE_POLICY_H */
