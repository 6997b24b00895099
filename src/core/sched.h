/*
 * The leader's scheduler as a pure function (DESIGN.md §4, §5): given the FSM and the leader's
 * wall clock, what to propose next — one FireBatch for every instant due within the lookahead
 * (decided by policy.c), RunAssign for runs waiting for a worker, RunRetry/RunDead for failed
 * attempts — and when to look again. It reads nothing but its arguments (schedPlanHeap also
 * updates the leader's due-heap it is given), so the simulator can drive it at virtual times
 * and the node can run it on its timer.
 *
 * Safety does not depend on the plan being fresh: every entry it produces is checked again by
 * apply (an instant at or before the cursor, a stale fence or state is a no-op), so a plan
 * computed by a deposed leader, or proposed twice, cannot claim anything twice.
 */
#ifndef RC_CORE_SCHED_H
#define RC_CORE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm.h"

/* Runs a worker holds beyond its capacity (processes at once), waiting there for a slot: the
 * leader assigns up to capacity + backlog runs of process executors to a worker, so that a
 * burst due at one instant is on its workers before that instant instead of being assigned
 * slot by slot as earlier runs finish. Runs of the noop executor do not count. */
#define SCHED_BACKLOG_DEFAULT 64

struct sched_options {
    int64_t now_us;       /* the leader's wall clock */
    int64_t lookahead_us; /* instants due up to now + lookahead are claimed now (>= 0; the
                             node uses 100 ms) */
    size_t max_items;     /* FireBatch items per plan (0: 4096) */
    size_t max_assign;    /* RunAssign per plan (0: 1024) */
    /* Workers the leader can reach now (DESIGN.md §5: heard from in its own term), ids in
     * ascending order; NULL: every worker the FSM shows alive. Runs are placed only on these. */
    const uint64_t *live;
    size_t n_live;
    /* Assigned runs, not accepted, whose worker did not acknowledge the assignment in time
     * (run ids in ascending order): given to another worker under a new fence. */
    const uint64_t *overdue;
    size_t n_overdue;
    unsigned backlog; /* runs held beyond capacity (the node uses SCHED_BACKLOG_DEFAULT) */
};

/* One encoded Command (malloc'd, owned by the plan). */
struct sched_entry {
    void *buf;
    size_t len;
    uint64_t run_id;    /* the run concerned, 0 for a FireBatch */
    uint64_t worker_id; /* RunAssign: the chosen worker */
};

/* What the leader proposes for a plan: at most two log entries, the FireBatch (decisions and
 * the placement of the runs they create) and one Batch of every other entry (assignments,
 * retries, dead letters), so that one commit serves them all. */
struct sched_proposal {
    void *buf; /* malloc'd, owned by the caller */
    size_t len;
    bool fires; /* the FireBatch */
};

/* A run that waits and why ("no alive worker with tags region=eu", "all matching workers at
 * capacity"), for run list. */
struct sched_wait {
    uint64_t run_id;
    char reason[96];
};

struct sched_plan {
    struct sched_entry *entries; /* in proposal order: the FireBatch first (if any) */
    size_t n_entries;
    struct sched_wait *waits;
    size_t n_waits;
    int64_t next_wake_us; /* when to plan again; INT64_MAX when nothing is scheduled */
};

/*
 * Compute the plan. Jobs that are paused are skipped; a job's instants come from its trigger
 * (built from its spec: cron in its zone with its DST policy, interval anchored at its anchor or
 * creation time, one-off), starting after its cursor. Placement: the least loaded live worker
 * (o->live; alive in the FSM) whose tags include all of the job's target tags and which holds
 * fewer than capacity + backlog runs of process executors (ASSIGNED+RUNNING, plus the
 * placements made earlier in this plan; capacity 0 counts as 1); load is every run it holds,
 * ties go to the worker whose id hashes lowest with a value of the run (its job and instant,
 * or its id), which spreads a lightly loaded cluster's runs over its workers. A FIRED item (not
 * queued) carries its placement (FireItem.worker_id) so the run is assigned by the same entry; a
 * PENDING run (placed nowhere, queued) or a due RETRY_WAIT run gets a RunAssign, and so does an
 * ASSIGNED run its worker has not accepted when that worker is down, restarted (another
 * incarnation) or in o->overdue (then another worker). A queued run (QUEUE_ONE) waits while its job
 * has a non-queued active run; a RETRY_WAIT run waits for its not_before. Runs that cannot be
 * placed are listed in waits with the reason. next_wake_us: the earliest of each job's next instant
 * minus the lookahead and every RETRY_WAIT not_before, never before now (now itself when a limit
 * left work for later). Failed, timed-out and lost attempts get RunRetry (not_before = now +
 * retryDelay) while retryShouldRetry allows, else RunDead ("retries exhausted", "lost under
 * at-most-once"). Returns 0, RC_ENOMEM or RC_EINVAL (NULL arguments, negative lookahead); on error
 * *out is empty (schedPlanFree is still safe). Ownership: *out owns its entries and waits; free
 * with schedPlanFree (NULL or an empty plan is fine).
 */
int schedPlan(const struct rc_fsm *f, const struct sched_options *o, struct sched_plan *out);

struct dueheap;

/*
 * schedPlan through the leader's due-heap h (dueheap.h; NULL: the full scan, i.e. schedPlan).
 * Only the jobs whose key is <= now are looked at, each recomputed from the FSM exactly as the
 * full scan does (cursor, paused, policy, trigger, active runs), in the same key order: the
 * entries and waits are those schedPlan gives for the same FSM and options, byte for byte.
 * next_wake_us is also the same while the heap's keys are exact, and never later otherwise
 * (the earliest key counts as a wake-up). Cost: O(due · log n) for the fire decisions, plus
 * the run scans schedPlan does too.
 *
 * h is rebuilt from the FSM first (O(n log n)) when it is invalid (new, or dueheapInvalidate),
 * when fsmJobsGeneration moved (a job put, delete, pause or resume, a restore) or when the
 * lookahead changed. Afterwards h assumes this plan's FireBatch commits exactly as planned: the
 * jobs looked at are re-keyed at their next instant after the instants just decided. When the
 * FireBatch is not proposed, its proposal fails, or apply refuses any of its items, the caller
 * must call dueheapInvalidate(h). On error h is invalidated. Returns as schedPlan.
 */
int schedPlanHeap(const struct rc_fsm *f, const struct sched_options *o, struct dueheap *h,
                  struct sched_plan *out);

/* The plan's entries as at most two proposals (struct sched_proposal): out must hold 2.
 * Returns how many were written, or -RC_ENOMEM; the plan keeps its entries. */
int schedPlanPack(const struct sched_plan *p, struct sched_proposal out[2]);

void schedPlanFree(struct sched_plan *p);

#endif /* RC_CORE_SCHED_H */
