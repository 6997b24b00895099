/*
 * Applying the run ledger's commands (DESIGN.md §3, docs/ledger.md): FireBatch, RunAssign,
 * RunAccept, RunStarted, RunFinished, RunRetry, RunDead, RunLost, RunCancel, WorkerUp and
 * WorkerDown, and restoring the ledger from a snapshot. Called by fsm.c only.
 *
 * Rules: apply reads only the entry and the state; a stale or invalid command is a no-op with
 * res->code set (RC_ESTALE: the run's state, fence or the job's version/cursor moved on;
 * RC_ENOTFOUND: no such run or worker; RC_EINVAL: a malformed command). Every run move is
 * checked against runsCanMove (the one table) and, where the command carries a fence, against
 * the run's fence. Fences and run ids come from counters that only increase.
 * Functions return 0, or RC_ENOMEM (the node must stop; see fsmApply).
 */
#ifndef RC_CORE_LEDGER_H
#define RC_CORE_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"
#include "jobs.h"
#include "runs.h"
#include "workers.h"

#define RC_LEDGER_HISTORY_DEFAULT 100                                /* per job */
#define RC_LEDGER_HISTORY_MAX     10000                              /* policy.history_max */
#define RC_LEDGER_AGE_DEFAULT     (INT64_C(7) * 24 * 3600 * 1000000) /* 7 days */
#define RC_LEDGER_OUTPUT_MAX      4096                               /* outcome.output_tail */
#define RC_LEDGER_TEXT_MAX        1024                               /* error, reasons */

/* The ledger part of the FSM. Fields are read by fsm.c (snapshot, queries); changed only here. */
struct rc_ledger {
    const struct rc_fsm_observer *obs; /* borrowed, or NULL: told of every run change */
    void *obs_data;
    const struct rc_fsm_events *ev; /* borrowed, or NULL: the event stream (fsmSetEvents) */
    void *ev_data;
    uint64_t index;             /* the entry being applied (for ev) */
    struct rc_jobs *jobs;       /* borrowed: the FSM's job table (statistics, jobstats.h) */
    struct rc_runs *runs;       /* owned */
    struct rc_workers *workers; /* owned */
    uint64_t run_seq;
    uint64_t fence_seq;
    uint64_t decision_seq;
    uint64_t runs_dropped;      /* finished runs dropped by retention or JobDelete */
    uint64_t decisions_dropped; /* decision records dropped likewise */
    uint64_t export_seq;        /* last Run.export_seq given (finished runs, in order) */
    uint64_t export_position;   /* runs with export_seq <= this are exported */
    bool export_gate;           /* retention keeps finished runs not yet exported */
};

/* Returns 0 or RC_ENOMEM (then l holds nothing to close). */
int ledgerInit(struct rc_ledger *l);
void ledgerClose(struct rc_ledger *l);

/* Each item independently: recorded, or refused with a code; res->code and message tell the
 * first refusal, items_applied / items_rejected the counts. An atomic batch (one job, items in
 * increasing instant order; backfill) is recorded whole or refused whole. Takes nothing from
 * b. */
int ledgerApplyFire(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__FireBatch *b,
                    struct rc_fsm_result *res);
int ledgerApplyAssign(struct rc_ledger *l, const Raftcron__RunAssign *a, struct rc_fsm_result *res);
int ledgerApplyStarted(struct rc_ledger *l, const Raftcron__RunStarted *s,
                       struct rc_fsm_result *res);
int ledgerApplyAccept(struct rc_ledger *l, const Raftcron__RunAccept *a, struct rc_fsm_result *res);
/* Takes fin->outcome (sets it to NULL) when the report is recorded. */
int ledgerApplyFinished(struct rc_ledger *l, struct rc_jobs *jobs, Raftcron__RunFinished *fin,
                        struct rc_fsm_result *res);
int ledgerApplyRetry(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__RunRetry *r,
                     struct rc_fsm_result *res);
/* to: RC_RUN_DEAD (RunDead), RC_RUN_LOST (RunLost) or RC_RUN_CANCELLED (RunCancel). */
int ledgerApplyEnd(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__RunEnd *e,
                   enum rc_run_state to, struct rc_fsm_result *res);
/* Takes up->worker (sets it to NULL) when recorded. */
/* ExportMark: raise export_position and set export_gate (RC_ESTALE when the mark changes
 * neither: its position is not past the current one and the gate is the same), and apply retention
 * to every job (runs it held for the export may go now). */
int ledgerApplyExportMark(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__ExportMark *m,
                          struct rc_fsm_result *res);
int ledgerApplyWorkerUp(struct rc_ledger *l, Raftcron__WorkerUp *up, struct rc_fsm_result *res);
int ledgerApplyWorkerDown(struct rc_ledger *l, const Raftcron__WorkerDown *down,
                          struct rc_fsm_result *res);

/* Job job_id was deleted: drop its runs and decisions (res->runs_moved: how many were
 * unfinished). Never fails. */
void ledgerJobDeleted(struct rc_ledger *l, uint64_t job_id, struct rc_fsm_result *res);

/*
 * Build l (initialised, empty) from a decoded snapshot whose jobs are in `jobs`: validates
 * every run, decision and worker and the counters (RC_ECORRUPT with a message), and takes the
 * accepted messages out of s (its counts are lowered to what remains s's). On failure l holds
 * whatever was taken and is closed by the caller.
 */
int ledgerRestore(struct rc_ledger *l, Raftcron__Snapshot *s, const struct rc_jobs *jobs, char *err,
                  size_t errlen);

/* Active (not finished, see runsStateFinished) and queued runs of one job: the policy's
 * active_runs and queued_runs. */
void ledgerJobActive(const struct rc_ledger *l, uint64_t job_id, int *active, int *queued);

/* The job a run belongs to, or NULL. */
Raftcron__Job *ledgerJobOfRun(const struct rc_jobs *jobs, const Raftcron__Run *run);

#endif /* RC_CORE_LEDGER_H */
