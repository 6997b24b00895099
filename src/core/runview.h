/*
 * The read side of the run ledger (docs/ledger.md "Queries", docs/rpc.md Run.List, Dlq.List,
 * Decision.List, Job.Next): which runs and decision records a listing shows and in what order,
 * and the preview of a job's next scheduled instants. Pure: reads the FSM and its arguments.
 *
 * Order: newest first, by id (ids come from increasing counters, so the highest id is the
 * latest fire). Pointers written to out are borrowed from the FSM, valid until the next apply.
 *
 * Job.Next builds the job's trigger exactly as the scheduler does (jobspecTrigger, DESIGN.md
 * §4). The preview starts strictly after the later of the cursor and now.
 */
#ifndef RC_CORE_RUNVIEW_H
#define RC_CORE_RUNVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "fsm.h"
#include "jobs.h"
#include "trigger.h"

#define RC_RUNVIEW_LIMIT_DEFAULT 100  /* Run.List, Dlq.List, Decision.List: limit 0 */
#define RC_RUNVIEW_LIMIT_MAX     1000 /* larger limits are refused (reply size) */
#define RC_RUNVIEW_NEXT_DEFAULT  5    /* Job.Next: n 0 */
#define RC_RUNVIEW_NEXT_MAX      1000

/* Every run state, as a mask of 1 << RC_RUN_* (runs.h). */
#define RC_RUNVIEW_ALL_STATES 0x7feu

/* A state filter: "" or NULL gives every state, a state name ("dead", "retry_wait", …; runs.h)
 * that state's bit. Returns 0, or RC_EINVAL with a message listing the names. */
int runviewStateMask(const char *name, uint32_t *mask, char *err, size_t errlen);

/* A limit as the RPC takes it: 0 gives def, above max is RC_EINVAL with a message. */
int runviewLimit(uint32_t limit, size_t def, size_t max, size_t *out, char *err, size_t errlen);

/*
 * Runs whose state is in mask, newest first, at most limit written to out (room for limit).
 * job != NULL: that job's runs; else the runs of every job of namespace ns (NULL or "": every
 * namespace). Returns how many were written.
 */
size_t runviewRuns(const struct rc_fsm *f, const Raftcron__Job *job, const char *ns, uint32_t mask,
                   const Raftcron__Run **out, size_t limit);

/* Decision records of job_id, newest first, at most limit. Returns how many were written. */
size_t runviewDecisions(const struct rc_fsm *f, uint64_t job_id, const Raftcron__Decision **out,
                        size_t limit);

/* ---- Pages (docs/rpc.md "Pages") -------------------------------------------------------------
 * A listing answers one page and a token for the next: newest first, a page holds the matching
 * records older than the token's (ids only grow, so records added meanwhile never shift a
 * page: each record held throughout is listed exactly once). Tokens are opaque to clients:
 * "r1:ID" (runs), "d1:ID" (decisions), "j1:NS:NAME" (jobs, key order).
 */

/* Whether a listing across namespaces shows namespace ns (the caller's read rights). */
typedef bool (*runview_visible_fn)(void *data, const char *ns);

struct runview_page {
    uint64_t before_id;         /* only records with id < before_id (0: no bound) */
    runview_visible_fn visible; /* NULL: every namespace */
    void *visible_data;
};

/* As runviewRuns, within the page's bounds; visible applies when job is NULL. */
size_t runviewRunsPage(const struct rc_fsm *f, const Raftcron__Job *job, const char *ns,
                       uint32_t mask, const struct runview_page *page, const Raftcron__Run **out,
                       size_t limit);
/* As runviewDecisions, only ids below before_id (0: no bound). */
size_t runviewDecisionsPage(const struct rc_fsm *f, uint64_t job_id, uint64_t before_id,
                            const Raftcron__Decision **out, size_t limit);

#define RC_RUNVIEW_TOKEN_MAX (8 + RC_JOBS_NAMESPACE_MAX + RC_JOBS_NAME_MAX)

/* Write the token of a record id of kind 'r' or 'd' into buf (RC_RUNVIEW_TOKEN_MAX bytes). */
void runviewTokenId(char kind, uint64_t id, char *buf);
/* Read such a token ("" gives *id = 0). Returns 0 or RC_EINVAL with a message. */
int runviewParseTokenId(char kind, const char *token, uint64_t *id, char *err, size_t errlen);
/* The token of a job key, and back ("" gives "" and ""); ns and name hold
 * RC_JOBS_NAMESPACE_MAX + 1 and RC_JOBS_NAME_MAX + 1 bytes. */
void runviewTokenJob(const char *ns, const char *name, char *buf);
int runviewParseTokenJob(const char *token, char *ns, char *name, char *err, size_t errlen);

/*
 * The next instants of the job strictly after max(cursor, now_us): up to n into instants, and
 * the UTC offset (seconds) of the trigger's zone at each into offsets_s (the zone of a cron
 * trigger, else the spec's tz, else UTC). *count is how many (fewer than n when the schedule
 * ends), *zone that zone's id (static, never freed). Returns 0 or an error of jobspecTrigger.
 */
int runviewNext(const Raftcron__Job *job, int64_t now_us, size_t n, int64_t *instants,
                int32_t *offsets_s, size_t *count, const char **zone, char *err, size_t errlen);

#endif /* RC_CORE_RUNVIEW_H */
