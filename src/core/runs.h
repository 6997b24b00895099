/*
 * The run ledger of the FSM (DESIGN.md §3, docs/ledger.md): the run state machine as one table
 * of allowed moves, and the store of runs and decision records, kept per job in id order.
 *
 * Run states (DESIGN.md §3, "Run states"):
 *   PENDING → ASSIGNED → RUNNING → SUCCEEDED | FAILED | TIMED_OUT
 *   ASSIGNED → ASSIGNED (another worker, a new fence: only while the worker has not accepted)
 *   ASSIGNED | RUNNING → LOST
 *   FAILED | TIMED_OUT | LOST → RETRY_WAIT → ASSIGNED …      FAILED | TIMED_OUT | LOST → DEAD
 *   PENDING | ASSIGNED | RUNNING | RETRY_WAIT → CANCELLED
 * SUCCEEDED, DEAD and CANCELLED are final ("finished": the only runs retention may drop).
 *
 * Ownership: the store owns its runs and decisions (allocated with malloc, freed with
 * protobuf_c_message_free_unpacked(msg, NULL)). Pointers it returns are borrowed and valid
 * until the next insert, prune or drop. Order: jobs by job id, and within a job runs and
 * decisions by id (ids come from increasing counters, so appending keeps the order).
 */
#ifndef RC_CORE_RUNS_H
#define RC_CORE_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

#define RC_RUN_STATE_MAP(X)                                                                        \
    X(PENDING, "pending")                                                                          \
    X(ASSIGNED, "assigned")                                                                        \
    X(RUNNING, "running")                                                                          \
    X(SUCCEEDED, "succeeded")                                                                      \
    X(FAILED, "failed")                                                                            \
    X(TIMED_OUT, "timed_out")                                                                      \
    X(LOST, "lost")                                                                                \
    X(RETRY_WAIT, "retry_wait")                                                                    \
    X(DEAD, "dead")                                                                                \
    X(CANCELLED, "cancelled")

/* Values of Raftcron__Run.state. 0 is no state (invalid in a stored run). */
enum rc_run_state {
    RC_RUN_NONE = 0,
#define RC__RUN_STATE_ENUM(name, text) RC_RUN_##name,
    RC_RUN_STATE_MAP(RC__RUN_STATE_ENUM)
#undef RC__RUN_STATE_ENUM
        RC_RUN__COUNT
};

/* The one table of allowed moves: true when from → to is an edge of the diagram above. */
bool runsCanMove(uint32_t from, uint32_t to);
/* A known state (PENDING..CANCELLED). */
bool runsStateValid(uint32_t s);
/* SUCCEEDED, DEAD or CANCELLED. */
bool runsStateFinished(uint32_t s);
/* The same sets as state masks (bit 1 << state), for fsmRunsSelect. */
#define RC_RUN_FINISHED_MASK                                                                       \
    ((UINT32_C(1) << RC_RUN_SUCCEEDED) | (UINT32_C(1) << RC_RUN_DEAD) |                            \
     (UINT32_C(1) << RC_RUN_CANCELLED))
#define RC_RUN_UNFINISHED_MASK (((UINT32_C(1) << RC_RUN__COUNT) - 2) & ~RC_RUN_FINISHED_MASK)
/* "pending", ..., or "invalid". */
const char *runsStateName(uint32_t s);

struct rc_runs;

/* Create an empty store. Returns 0 or RC_ENOMEM. */
int runsCreate(struct rc_runs **out);
/* Free the store with every run and decision in it. */
void runsDestroy(struct rc_runs *t);

/* The run with that id, or NULL. O(1). */
Raftcron__Run *runsFind(const struct rc_runs *t, uint64_t id);

/* Make room so that one runsInsert and one runsAddDecision for job_id cannot fail.
 * Returns 0 or RC_ENOMEM (the store is unchanged apart from capacity). */
int runsReserve(struct rc_runs *t, uint64_t job_id);

/* Append a run (owned by the store from now on). Room must be reserved for run->job_id, its id
 * must be absent and greater than every id of that job's runs. */
void runsInsert(struct rc_runs *t, Raftcron__Run *run);

/* Append a decision record (owned from now on), as runsInsert. */
void runsAddDecision(struct rc_runs *t, Raftcron__Decision *d);

/* Tell the store that run's state changed from `from` (every state change of a stored run
 * goes through here: it keeps each job's count of unfinished runs). */
void runsStateChanged(struct rc_runs *t, const Raftcron__Run *run, uint32_t from);
/* How many of the job's runs are not finished (not SUCCEEDED, DEAD or CANCELLED). O(log jobs). */
size_t runsUnfinishedOfJob(const struct rc_runs *t, uint64_t job_id);
/* The same for the i-th job of runsJobIdAt's order. O(1). */
size_t runsUnfinishedAt(const struct rc_runs *t, size_t i);

/* Runs of one job, oldest (lowest id) first; *n set to the count (0 and NULL for none).
 * Iterate backwards for newest first. */
Raftcron__Run *const *runsOfJob(const struct rc_runs *t, uint64_t job_id, size_t *n);
/* Decision records of one job, oldest first, as runsOfJob. */
Raftcron__Decision *const *runsDecisionsOfJob(const struct rc_runs *t, uint64_t job_id, size_t *n);

/* Jobs with any run or decision, in job id order: i < runsJobCount. */
size_t runsJobCount(const struct rc_runs *t);
uint64_t runsJobIdAt(const struct rc_runs *t, size_t i);

/* Total runs and decisions held. */
size_t runsCount(const struct rc_runs *t);
size_t runsDecisionCount(const struct rc_runs *t);

/*
 * Retention for one job: drop its oldest finished runs until at most max remain, and every
 * finished run that finished before min_us; likewise decision records (all of which count as
 * finished) by decided_us. Unfinished runs are never dropped, nor finished runs whose
 * export_seq is above held_after (not yet exported: UINT64_MAX holds nothing). Adds what it dropped
 * to *runs and *decisions, and raises *floor_us (may be NULL) to the last_us of every decision
 * record dropped: the job's history floor (Job.history_floor_us, docs/ledger.md "Backfill"). Never
 * fails.
 */
void runsPrune(struct rc_runs *t, uint64_t job_id, size_t max, int64_t min_us, uint64_t held_after,
               uint64_t *runs, uint64_t *decisions, int64_t *floor_us);

/* Drop every run and decision of job_id (the job was deleted), counting them as runsPrune. */
void runsDropJob(struct rc_runs *t, uint64_t job_id, uint64_t *runs, uint64_t *decisions);

#endif /* RC_CORE_RUNS_H */
