/*
 * The replicated state machine (DESIGN.md §3): job table, run ledger, workers, members and
 * counters, changed only by applying committed log entries (encoded raftcron.Command).
 *
 * Determinism rules: fsmApply reads nothing but the entry and the FSM — no clock, randomness,
 * tzdata, environment or I/O. It never fails for a business reason: an invalid or stale command
 * is applied as a no-op and the result code tells the proposer why. Equal logs give equal
 * states, equal snapshots and equal digests on every replica.
 */
#ifndef RC_CORE_FSM_H
#define RC_CORE_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

struct rc_fsm;

/* What applying one entry did, for the proposer's callback. */
struct rc_fsm_result {
    int code;          /* 0, or RC_EEXISTS, RC_ESTALE, RC_ENOTFOUND, RC_EINVAL, RC_EPARSE */
    uint64_t job_id;   /* job commands: the job concerned */
    uint64_t version;  /* job commands: its version after the entry */
    bool created;      /* JobPut created the job */
    bool changed;      /* the entry changed the state */
    char message[160]; /* why, when code != 0 */
    /* Run ledger commands (docs/ledger.md): */
    uint64_t run_id;         /* the run concerned; FireBatch: the first run created */
    uint64_t fence;          /* RunAssign: the new fence */
    uint32_t items_applied;  /* FireBatch: items recorded */
    uint32_t items_rejected; /* FireBatch: items refused (code and message: the first) */
    uint32_t runs_created;   /* FireBatch: FIRED runs, ids run_id .. run_id + runs_created - 1 */
    uint32_t runs_moved;     /* other runs moved: LOST by WorkerDown, CANCELLED by a REPLACE
                                fire, dropped unfinished by JobDelete */
};

/*
 * Told of every change to a run as it is applied (DESIGN.md §5: the leader pushes a committed
 * assignment the moment it applies). Local to this replica, never part of the state: an
 * observer reads, it must not change the FSM or apply anything from inside the call.
 */
struct rc_fsm_observer {
    /* run was created (from == RC_RUN_NONE), moved from state `from` to run->state, or changed
     * within its state (from == run->state: a reassignment, an acceptance); dropped: an
     * unfinished run removed with its deleted job. run is borrowed for the call only. */
    void (*run_changed)(void *data, const Raftcron__Run *run, uint32_t from, bool dropped);
    /* The whole state was replaced by a snapshot: no run_changed is told for it. */
    void (*restored)(void *data);
};

/* Install obs (borrowed, NULL to remove) with its data. */
void fsmSetObserver(struct rc_fsm *f, const struct rc_fsm_observer *obs, void *data);

/*
 * Told of every change with the Raft index of the entry that made it: what the event stream
 * (node/events.h) is made of. Local and read-only like the observer, and a second, independent
 * slot. Borrowed arguments, valid for the call only.
 */
enum rc_fsm_job_change {
    RC_FSM_JOB_CREATED = 1,
    RC_FSM_JOB_UPDATED,
    RC_FSM_JOB_DELETED, /* job is the job as it was, freed after the call */
    RC_FSM_JOB_PAUSED,
    RC_FSM_JOB_RESUMED
};
struct rc_fsm_events {
    void (*job_changed)(void *data, uint64_t index, const Raftcron__Job *job,
                        enum rc_fsm_job_change what);
    /* As rc_fsm_observer.run_changed. */
    void (*run_changed)(void *data, uint64_t index, const Raftcron__Run *run, uint32_t from,
                        bool dropped);
    void (*decided)(void *data, uint64_t index, const Raftcron__Decision *d);
    /* The state was replaced by a snapshot of index: changes up to it were not told. */
    void (*restored)(void *data, uint64_t index);
};
void fsmSetEvents(struct rc_fsm *f, const struct rc_fsm_events *ev, void *data);

/* Create an empty FSM. Returns 0 or RC_ENOMEM. Free with fsmDestroy. */
int fsmCreate(struct rc_fsm **out);
void fsmDestroy(struct rc_fsm *f);

/*
 * Apply one committed entry. buf is an encoded raftcron.Command (borrowed). index is the
 * entry's Raft index (recorded as the applied index). Fills *res (may be NULL).
 * Returns 0, or RC_ENOMEM only when memory ran out (the caller must then stop the node: the
 * replica can no longer follow the log; a FireBatch may then have recorded its earlier items).
 * Undecodable entries are no-ops with res->code RC_EPARSE.
 */
int fsmApply(struct rc_fsm *f, uint64_t index, const void *buf, size_t len,
             struct rc_fsm_result *res);

/* Index of the last applied entry (0 for none). */
uint64_t fsmAppliedIndex(const struct rc_fsm *f);

/*
 * Encode the whole state as a raftcron.Snapshot (deterministic bytes: lists in key order),
 * sealed by a checksum trailer: a last field number 15, wire type fixed64, holding the 64-bit
 * FNV-1a of the bytes before it (= fsmDigest). Protobuf readers see it as an unknown field;
 * fsmRestore requires it, because a truncated Snapshot is often itself a valid, smaller
 * Snapshot. *buf is malloc'd and owned by the caller. Returns 0 or RC_ENOMEM.
 */
int fsmSnapshot(const struct rc_fsm *f, void **buf, size_t *len);

/* Append the checksum trailer to an encoded raftcron.Snapshot (body, borrowed): for tools and
 * tests that build snapshots by hand. *buf is malloc'd, owned by the caller. 0 or RC_ENOMEM. */
int fsmSnapshotSeal(const void *body, size_t len, void **buf, size_t *out_len);

/*
 * Replace the whole state by a sealed snapshot, and set the applied index to index.
 * On error the FSM is unchanged: RC_ECORRUPT (trailer missing or wrong, or a decoded snapshot
 * that breaks a rule: format 1 (a newer format is refused as written by a newer raftcron),
 * unique keys and ids, valid names, ids <= job_seq, ...),
 * RC_EPARSE (sealed bytes that are no raftcron.Snapshot) or RC_ENOMEM, with a message in err.
 */
int fsmRestore(struct rc_fsm *f, uint64_t index, const void *buf, size_t len, char *err,
               size_t errlen);

/* A 64-bit digest of the whole state (FNV-1a of the snapshot bytes before the trailer): equal
 * states, equal digests. */
uint64_t fsmDigest(const struct rc_fsm *f);

/* Look up a job by namespace ("" means "default") and name. Borrowed; valid until the next
 * apply/restore. NULL when absent. */
const Raftcron__Job *fsmJobGet(const struct rc_fsm *f, const char *ns, const char *name);

/* The job a run belongs to (by its "namespace/name" key and id), or NULL when that job was
 * deleted (or replaced by another of the same name). Borrowed as above. */
const Raftcron__Job *fsmJobOfRun(const struct rc_fsm *f, const Raftcron__Run *run);

/* A counter that changes whenever a job is created, updated, deleted, paused or resumed, and on
 * every restore; nothing else changes it. Local to this replica and not part of the state (not
 * in snapshots or digests): for the leader's caches of the job table (core/dueheap.h). */
uint64_t fsmJobsGeneration(const struct rc_fsm *f);

/* Number of jobs, and the i-th in key order (namespace, name); i < fsmJobCount. Borrowed as
 * above. Iterating in order costs O(n log n) once after each change, then O(1) per call. */
size_t fsmJobCount(const struct rc_fsm *f);
const Raftcron__Job *fsmJobAt(const struct rc_fsm *f, size_t i);
/* The index (for fsmJobAt) of the first job whose key comes after (ns, name). */
size_t fsmJobIndexAfter(const struct rc_fsm *f, const char *ns, const char *name);

/* ---- Run ledger queries (docs/ledger.md). Pointers are borrowed, valid until the next
 * apply or restore. ---- */

/* The run with that id, or NULL. */
const Raftcron__Run *fsmRunGet(const struct rc_fsm *f, uint64_t id);

/* Runs of job job_id, oldest first (*n set; iterate from n - 1 down for newest first), and its
 * decision records likewise. NULL with *n = 0 when there are none. */
Raftcron__Run *const *fsmJobRuns(const struct rc_fsm *f, uint64_t job_id, size_t *n);
Raftcron__Decision *const *fsmJobDecisions(const struct rc_fsm *f, uint64_t job_id, size_t *n);

/* The policy's inputs for job job_id: runs not finished (all but SUCCEEDED, DEAD, CANCELLED)
 * and, of those, queued ones (QUEUE_ONE). */
void fsmJobActive(const struct rc_fsm *f, uint64_t job_id, int *active, int *queued);

/*
 * Runs whose state is in state_mask (bit 1 << RC_RUN_*, runs.h) and, when worker_id != 0,
 * that are assigned to that worker, in (job id, run id) order: up to max written to out.
 * Returns how many match (may exceed max). E.g. PENDING|RETRY_WAIT for dispatch,
 * ASSIGNED|RUNNING of one worker for its session. O(all runs).
 */
size_t fsmRunsSelect(const struct rc_fsm *f, uint32_t state_mask, uint64_t worker_id,
                     const Raftcron__Run **out, size_t max);

/* Counts of everything held, and of what retention and job deletes dropped since the
 * beginning of the log (for an exporter and metrics). */
struct rc_fsm_ledger_stats {
    size_t runs;
    size_t decisions;
    size_t workers;
    uint64_t run_seq;
    uint64_t fence_seq;
    uint64_t decision_seq;
    uint64_t runs_dropped;
    uint64_t decisions_dropped;
};
void fsmLedgerStats(const struct rc_fsm *f, struct rc_fsm_ledger_stats *out);

/* A worker by id, or NULL; and all workers in id order (*n set). */
const Raftcron__Worker *fsmWorkerGet(const struct rc_fsm *f, uint64_t id);
Raftcron__Worker *const *fsmWorkers(const struct rc_fsm *f, size_t *n);

/* Members recorded by MemberSet: their number, and the id of the i-th in id order (0 past the
 * last). */
size_t fsmMemberCount(const struct rc_fsm *f);
uint64_t fsmMemberIdAt(const struct rc_fsm *f, size_t i);

/* The snapshot format this binary writes, and the newest it reads: a snapshot of a newer
 * format (a later raftcron) is refused by fsmRestore with a message saying so. */
uint32_t fsmSnapshotFormat(void);

/* RPC address of a member recorded by MemberSet, or NULL. */
const char *fsmMemberRpcAddr(const struct rc_fsm *f, uint64_t id);

/* Validate a job spec as a JobPut would (name, trigger parses, zone exists, executor present,
 * policy ranges). Used by the RPC layer before proposing, so that users get the error at once.
 * Returns 0 or RC_EINVAL with a message. Not called by apply (it reads tzdata). */
/* The run-history export (docs/ledger.md "Export to PostgreSQL"): the exported position, the
 * last export_seq given to a finished run, and whether retention waits for the export. */
void fsmExportState(const struct rc_fsm *f, uint64_t *position, uint64_t *last, bool *gate);

/* Up to max finished runs with export_seq > after, lowest export_seq first, into out (borrowed
 * pointers, valid until the next apply). Returns how many. O(runs held). */
size_t fsmExportPending(const struct rc_fsm *f, uint64_t after, const Raftcron__Run **out,
                        size_t max);

int fsmValidateSpec(const Raftcron__JobSpec *spec, char *err, size_t errlen);

#endif /* RC_CORE_FSM_H */
