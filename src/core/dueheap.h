/*
 * The leader's due-heap (DESIGN.md §4.2): a min-heap of (key, job), where a job's key is its
 * next scheduled instant minus the lookahead — the moment the planner must look at it. It is
 * leader-local planning state: never replicated, never read by apply, rebuilt from the FSM.
 *
 * Rule (what makes it an accelerator, never the authority): a job's key is never later than
 * its true next instant minus the lookahead. A key may be early (the job is then looked at,
 * found not due, and re-keyed); it must never be late (that would delay a fire). The planner
 * (sched.h, schedPlanHeap) recomputes everything for a popped job from the FSM, so an early
 * key costs one look and changes no decision.
 *
 * Jobs are named by their position in the FSM's key order (fsmJobAt) plus their id, which is
 * checked on use: positions hold only while the job table does not change, which is why the
 * heap remembers fsmJobsGeneration and is rebuilt when it moved.
 *
 * Ownership: the heap owns its arrays; dueheapClose frees them (the struct may then be
 * initialised again). Not thread-safe: the leader's loop thread only.
 */
#ifndef RC_CORE_DUEHEAP_H
#define RC_CORE_DUEHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dueheap_item {
    int64_t key;     /* next instant minus the lookahead (saturated) */
    uint64_t job_id; /* the job's id, checked against fsmJobAt(slot) */
    size_t slot;     /* the job's position in fsmJobAt order when the heap was built */
};

struct dueheap {
    struct dueheap_item *items; /* private (owned): the heap, items[0] is the earliest */
    size_t n;                   /* read-only */
    size_t cap;                 /* private */
    bool valid;                 /* private (kept by sched.c): false until built, and after
                                   dueheapInvalidate */
    uint64_t jobs_gen;          /* private (kept by sched.c): fsmJobsGeneration when built */
    int64_t lookahead_us;       /* private (kept by sched.c): the lookahead of the keys */
    uint64_t rebuilds;          /* read-only: times rebuilt (metrics, tests) */
    /* Jobs whose next instant waits for their active runs (policy.h, deferred_us): looked at
     * on every plan, outside the heap, since a run ending (which moves no key) may let the
     * instant be decided before it is due. */
    struct dueheap_item *busy; /* private (owned) */
    size_t n_busy;             /* read-only */
    size_t cap_busy;           /* private */
};

/* An empty, invalid heap (the first plan builds it). */
void dueheapInit(struct dueheap *h);
/* Free the arrays; h is empty and invalid afterwards. NULL is fine. */
void dueheapClose(struct dueheap *h);

/* Forget the keys: the next plan rebuilds the heap from the FSM. Call it when leadership is
 * gained or lost, and when any proposal of a plan failed or an entry of it was refused (its
 * outcome is unknown: the cursors the heap assumed may not have moved). */
void dueheapInvalidate(struct dueheap *h);

/* Empty the heap and the busy list, keeping their memory. */
void dueheapClear(struct dueheap *h);
/* Make room for n items in total. Returns 0 or RC_ENOMEM. */
int dueheapReserve(struct dueheap *h, size_t n);

/* Add an item (O(log n)). Returns 0 or RC_ENOMEM (the heap is then unchanged). */
int dueheapPush(struct dueheap *h, int64_t key, uint64_t job_id, size_t slot);
/* Append without ordering: room must be reserved; call dueheapHeapify before any other use. */
void dueheapAppend(struct dueheap *h, int64_t key, uint64_t job_id, size_t slot);
/* Restore the heap order after appends (O(n)). */
void dueheapHeapify(struct dueheap *h);

/* Keep an item on the busy list. Returns 0 or RC_ENOMEM (the list is then unchanged). */
int dueheapBusyAdd(struct dueheap *h, int64_t key, uint64_t job_id, size_t slot);

/* The earliest item, or NULL when empty (borrowed until the next change). */
const struct dueheap_item *dueheapTop(const struct dueheap *h);
/* Remove the earliest item into *out. Returns false when empty. Ties in key: lower slot first. */
bool dueheapPop(struct dueheap *h, struct dueheap_item *out);

#endif /* RC_CORE_DUEHEAP_H */
