#include "ledger.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jobstats.h"
#include "policy.h"
#include "retry.h"

#define QUEUED_REASON "queued"

int ledgerInit(struct rc_ledger *l)
{
    memset(l, 0, sizeof *l);
    if (runsCreate(&l->runs) != 0) {
        return RC_ENOMEM;
    }
    if (workersCreate(&l->workers) != 0) {
        runsDestroy(l->runs);
        l->runs = NULL;
        return RC_ENOMEM;
    }
    return 0;
}

void ledgerClose(struct rc_ledger *l)
{
    runsDestroy(l->runs);
    workersDestroy(l->workers);
    memset(l, 0, sizeof *l);
}

__attribute__((format(printf, 3, 4))) static void refuse(struct rc_fsm_result *res, int code,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    res->code = code;
}

static void setString(char **field, char *value)
{
    if (*field != protobuf_c_empty_string) {
        free(*field);
    }
    *field = value != NULL ? value : (char *)protobuf_c_empty_string;
}

/* A copy bounded to RC_LEDGER_TEXT_MAX bytes, so that no entry can grow the state without
 * limit. The cut is by bytes and deterministic; it may split a UTF-8 sequence. */
static char *boundedCopy(const char *s)
{
    size_t n = 0;
    while (n < RC_LEDGER_TEXT_MAX && s[n] != '\0') {
        n++;
    }
    char *copy = malloc(n + 1);
    if (copy != NULL) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

/* ---- Jobs of runs ------------------------------------------------------------------------- */

/* Runs and decisions name their job by key ("namespace/name") and id; both must match, so a
 * job deleted and created again under the same key is another job. */
static Raftcron__Job *jobByKey(const struct rc_jobs *jobs, const char *key, uint64_t id)
{
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) > RC_JOBS_NAMESPACE_MAX) {
        return NULL;
    }
    char ns[RC_JOBS_NAMESPACE_MAX + 1];
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    Raftcron__Job *job = jobsFind(jobs, ns, slash + 1);
    return job != NULL && job->id == id ? job : NULL;
}

Raftcron__Job *ledgerJobOfRun(const struct rc_jobs *jobs, const Raftcron__Run *run)
{
    return jobByKey(jobs, run->job, run->job_id);
}

static char *jobKey(const Raftcron__Job *job)
{
    char *key;
    if (asprintf(&key, "%s/%s", job->spec->namespace_, job->spec->name) < 0) {
        return NULL;
    }
    return key;
}

/* Retention (docs/ledger.md): bounds from the job's policy, age measured against the entry's
 * now — never against a local clock. Returns whether anything was dropped. */
static bool retain(struct rc_ledger *l, Raftcron__Job *job, int64_t now_us)
{
    const Raftcron__Policy *p = job->spec->policy;
    size_t max = p != NULL && p->history_max > 0 ? p->history_max : RC_LEDGER_HISTORY_DEFAULT;
    int64_t age = p != NULL && p->history_age_us > 0 ? p->history_age_us : RC_LEDGER_AGE_DEFAULT;
    int64_t min_us = now_us < INT64_MIN + age ? INT64_MIN : now_us - age;
    uint64_t before = l->runs_dropped + l->decisions_dropped;
    /* With the export on, a finished run stays until it is in the export's table. */
    uint64_t held_after = l->export_gate ? l->export_position : UINT64_MAX;
    runsPrune(l->runs, job->id, max, min_us, held_after, &l->runs_dropped, &l->decisions_dropped,
              &job->history_floor_us);
    return l->runs_dropped + l->decisions_dropped != before;
}

/* ---- Moves -------------------------------------------------------------------------------- */

/* Every run move goes through here: the table is checked again as an assertion, because the
 * callers' checks (checkRun) are what make apply a no-op, and a move they let through that the
 * table forbids would be a bug that diverges nothing yet breaks the contract. */
static uint32_t move(struct rc_ledger *l, Raftcron__Run *run, enum rc_run_state to, int64_t now_us)
{
    assert(runsCanMove(run->state, to));
    uint32_t from = run->state;
    run->state = to;
    if (runsStateFinished(to)) {
        run->export_seq = ++l->export_seq;
    }
    runsStateChanged(l->runs, run, from);
    if (to != RC_RUN_ASSIGNED && to != RC_RUN_RUNNING && to != RC_RUN_RETRY_WAIT) {
        run->finished_us = now_us;
    }
    if (to != RC_RUN_ASSIGNED) {
        run->accepted_us = 0; /* an acceptance is of one assignment */
    }
    if (jobstatsCounts(to)) {
        Raftcron__Job *job = ledgerJobOfRun(l->jobs, run);
        if (job != NULL) {
            jobstatsRunMoved(job, run, from);
        }
    }
    return from;
}

/* The observer (fsm.h) learns of a run once its fields are final for this command. */
static void notify(const struct rc_ledger *l, const Raftcron__Run *run, uint32_t from, bool dropped)
{
    if (l->obs != NULL && l->obs->run_changed != NULL) {
        l->obs->run_changed(l->obs_data, run, from, dropped);
    }
    if (l->ev != NULL && l->ev->run_changed != NULL) {
        l->ev->run_changed(l->ev_data, l->index, run, from, dropped);
    }
}

/* The run a command names, if moving it to `to` is allowed now and the fence matches; else
 * NULL with res filled. fence 0 with any_fence accepts any attempt (RunCancel). */
static Raftcron__Run *checkRun(struct rc_ledger *l, uint64_t run_id, uint64_t fence, bool any_fence,
                               enum rc_run_state to, struct rc_fsm_result *res)
{
    res->run_id = run_id;
    Raftcron__Run *run = runsFind(l->runs, run_id);
    if (run == NULL) {
        refuse(res, RC_ENOTFOUND, "run %llu not found", (unsigned long long)run_id);
        return NULL;
    }
    if (!runsCanMove(run->state, to)) {
        refuse(res, RC_ESTALE, "run %llu is %s: cannot become %s", (unsigned long long)run_id,
               runsStateName(run->state), runsStateName(to));
        return NULL;
    }
    if (!(any_fence && fence == 0) && fence != run->fence) {
        refuse(res, RC_ESTALE, "run %llu: fence %llu is not the current fence %llu",
               (unsigned long long)run_id, (unsigned long long)fence,
               (unsigned long long)run->fence);
        return NULL;
    }
    return run;
}

/* Move every run of job_id (0: of every job) that `match` selects to `to`, all or none: the
 * reason strings are allocated before anything moves. */
typedef bool (*run_match)(const Raftcron__Run *run, uint64_t arg);

struct batch {
    Raftcron__Run **runs;
    char **reasons;
    size_t n;
};

static int collect(struct rc_ledger *l, uint64_t job_id, run_match match, uint64_t arg,
                   const char *reason, struct batch *b)
{
    memset(b, 0, sizeof *b);
    size_t total = job_id != 0 ? 0 : runsCount(l->runs);
    if (job_id != 0) {
        runsOfJob(l->runs, job_id, &total);
    }
    if (total == 0) {
        return 0;
    }
    b->runs = malloc(total * sizeof *b->runs);
    b->reasons = calloc(total, sizeof *b->reasons);
    if (b->runs == NULL || b->reasons == NULL) {
        goto err_nomem;
    }
    for (size_t j = 0; j < runsJobCount(l->runs); j++) {
        uint64_t id = runsJobIdAt(l->runs, j);
        if (job_id != 0 && id != job_id) {
            continue;
        }
        size_t n;
        Raftcron__Run *const *runs = runsOfJob(l->runs, id, &n);
        for (size_t i = 0; i < n; i++) {
            if (!match(runs[i], arg)) {
                continue;
            }
            b->reasons[b->n] = boundedCopy(reason);
            if (b->reasons[b->n] == NULL) {
                goto err_nomem;
            }
            b->runs[b->n++] = runs[i];
        }
    }
    return 0;

err_nomem:
    for (size_t i = 0; i < b->n; i++) {
        free(b->reasons[i]);
    }
    free(b->reasons);
    free(b->runs);
    return RC_ENOMEM;
}

static uint32_t moveAll(struct rc_ledger *l, struct batch *b, enum rc_run_state to, int64_t now_us)
{
    for (size_t i = 0; i < b->n; i++) {
        uint32_t from = move(l, b->runs[i], to, now_us);
        setString(&b->runs[i]->end_reason, b->reasons[i]);
        notify(l, b->runs[i], from, false);
    }
    free(b->reasons);
    free(b->runs);
    return (uint32_t)b->n;
}

/* The assignment itself, as RunAssign and a FireItem's worker_id make it: a new fence from the
 * counter, the worker's incarnation, nothing of an earlier attempt's times. */
static void assignTo(struct rc_ledger *l, Raftcron__Run *run, const Raftcron__Worker *w,
                     int64_t now_us)
{
    uint32_t from = move(l, run, RC_RUN_ASSIGNED, now_us);
    run->worker_id = w->id;
    run->worker_incarnation = w->incarnation;
    run->fence = ++l->fence_seq;
    run->accepted_us = 0;
    run->started_us = 0;
    run->finished_us = 0;
    setString(&run->wait_reason, NULL);
    notify(l, run, from, false);
}

/* ---- FireBatch ---------------------------------------------------------------------------- */

static int checkItemShape(const Raftcron__FireItem *it, char *why, size_t n)
{
    if (it->decision < RC_DECISION_FIRED || it->decision > RC_DECISION_SKIPPED) {
        return errSet(why, n, RC_EINVAL, "decision %u is not FIRED, COALESCED, MISSED or SKIPPED",
                      it->decision);
    }
    if (it->reason > RC_REASON_MANUAL) {
        return errSet(why, n, RC_EINVAL, "reason %u unknown", it->reason);
    }
    if (it->count == 0 || it->last_us < it->first_us ||
        (it->count > 1) != (it->last_us > it->first_us)) {
        return errSet(why, n, RC_EINVAL, "range [%lld, %lld] with count %llu is inconsistent",
                      (long long)it->first_us, (long long)it->last_us,
                      (unsigned long long)it->count);
    }
    if (it->decision == RC_DECISION_FIRED && it->count != 1) {
        return errSet(why, n, RC_EINVAL, "a FIRED item covers one instant, not %llu",
                      (unsigned long long)it->count);
    }
    if (it->backfill && !it->manual) {
        return errSet(why, n, RC_EINVAL, "a backfill item must be manual");
    }
    return jobsCheckKey(it->namespace_, it->name, why, n);
}

/* Rule (DESIGN.md §1.1, exactly-once claim): a scheduled item must start strictly after the
 * cursor, so an instant already decided — by this leader or an earlier one — is refused, never
 * recorded twice. Manual items (run-now, backfill) neither need nor move the cursor; a backfill
 * item may name a paused job (backfillCheck has its own rules). */
static Raftcron__Job *itemJob(struct rc_jobs *jobs, const Raftcron__FireItem *it, char *why,
                              size_t n, int *code)
{
    const char *ns = jobsNamespace(it->namespace_);
    Raftcron__Job *job = jobsFind(jobs, ns, it->name);
    if (job == NULL) {
        *code = errSet(why, n, RC_ESTALE, "job %s/%s not found", ns, it->name);
    } else if (job->version != it->job_version) {
        *code =
            errSet(why, n, RC_ESTALE, "job %s/%s is at version %llu, decided at %llu", ns, it->name,
                   (unsigned long long)job->version, (unsigned long long)it->job_version);
    } else if (job->paused && !it->backfill) {
        *code = errSet(why, n, RC_ESTALE, "job %s/%s is paused", ns, it->name);
    } else if (!it->manual && it->first_us <= job->cursor_us) {
        *code = errSet(why, n, RC_ESTALE,
                       "job %s/%s: instant %lld is not after the cursor %lld (already decided)", ns,
                       it->name, (long long)it->first_us, (long long)job->cursor_us);
    } else {
        return job;
    }
    return NULL;
}

/*
 * Rule (docs/ledger.md "Backfill", exactly once per (job, instant)): a backfill item is recorded
 * only when no decision record of the job — scheduled or manual — covers any part of its range,
 * and the range is after the job's history floor (records ending at or before it may have been
 * dropped by retention, so such an instant may have been decided). An active job's instants
 * after its cursor are the scheduler's to decide; a paused job's are not (resume skips them).
 * Nothing is after the entry's now: only the past is backfilled.
 */
static int backfillCheck(const struct rc_ledger *l, const Raftcron__Job *job,
                         const Raftcron__FireItem *it, int64_t now_us, char *why, size_t n)
{
    const char *ns = job->spec->namespace_;
    const char *name = job->spec->name;
    if (it->last_us > now_us) {
        return errSet(why, n, RC_EINVAL, "job %s/%s: backfill instant %lld is after now %lld", ns,
                      name, (long long)it->last_us, (long long)now_us);
    }
    if (it->first_us <= job->history_floor_us) {
        return errSet(why, n, RC_ESTALE,
                      "job %s/%s: instant %lld is not after the history floor %lld (its "
                      "decision may have been dropped)",
                      ns, name, (long long)it->first_us, (long long)job->history_floor_us);
    }
    if (!job->paused && it->last_us > job->cursor_us) {
        return errSet(why, n, RC_ESTALE,
                      "job %s/%s: instant %lld is after the cursor %lld (the scheduler decides it)",
                      ns, name, (long long)it->last_us, (long long)job->cursor_us);
    }
    size_t nd;
    Raftcron__Decision *const *decs = runsDecisionsOfJob(l->runs, job->id, &nd);
    for (size_t i = 0; i < nd; i++) {
        if (decs[i]->first_us <= it->last_us && decs[i]->last_us >= it->first_us) {
            return errSet(why, n, RC_ESTALE,
                          "job %s/%s: instant %lld already decided (decision %llu, %s)", ns, name,
                          (long long)it->first_us, (unsigned long long)decs[i]->id,
                          policyDecisionName((enum rc_decision)decs[i]->decision));
        }
    }
    return 0;
}

static bool cancellable(const Raftcron__Run *run, uint64_t arg)
{
    (void)arg;
    return runsCanMove(run->state, RC_RUN_CANCELLED);
}

struct fire_alloc {
    Raftcron__Decision *dec;
    Raftcron__Run *run;
    struct batch replaced;
};

static void freeFireAlloc(struct fire_alloc *a)
{
    if (a->dec != NULL) {
        raftcron__decision__free_unpacked(a->dec, NULL);
    }
    if (a->run != NULL) {
        raftcron__run__free_unpacked(a->run, NULL);
    }
}

static int allocFire(struct rc_ledger *l, const Raftcron__Job *job, const Raftcron__FireItem *it,
                     struct fire_alloc *a)
{
    memset(a, 0, sizeof *a);
    if (runsReserve(l->runs, job->id) != 0) {
        return RC_ENOMEM;
    }
    a->dec = malloc(sizeof *a->dec);
    if (a->dec == NULL) {
        return RC_ENOMEM;
    }
    raftcron__decision__init(a->dec);
    char *key = jobKey(job);
    if (key == NULL) {
        goto err_nomem;
    }
    a->dec->job = key;
    if (it->decision != RC_DECISION_FIRED) {
        return 0;
    }
    a->run = malloc(sizeof *a->run);
    if (a->run == NULL) {
        goto err_nomem;
    }
    raftcron__run__init(a->run);
    a->run->job = jobKey(job);
    if (a->run->job == NULL) {
        a->run->job = (char *)protobuf_c_empty_string;
        goto err_nomem;
    }
    if (it->queued) {
        a->run->wait_reason = strdup(QUEUED_REASON);
        if (a->run->wait_reason == NULL) {
            a->run->wait_reason = (char *)protobuf_c_empty_string;
            goto err_nomem;
        }
    }
    if (it->cancel_active &&
        collect(l, job->id, cancellable, 0, "replaced by a newer run", &a->replaced) != 0) {
        goto err_nomem;
    }
    return 0;

err_nomem:
    freeFireAlloc(a);
    return RC_ENOMEM;
}

static void recordFire(struct rc_ledger *l, Raftcron__Job *job, const Raftcron__FireItem *it,
                       int64_t now_us, struct fire_alloc *a, struct rc_fsm_result *res)
{
    Raftcron__Decision *d = a->dec;
    if (a->run != NULL) {
        res->runs_moved += moveAll(l, &a->replaced, RC_RUN_CANCELLED, now_us);
        Raftcron__Run *r = a->run;
        r->id = ++l->run_seq;
        r->job_id = job->id;
        r->scheduled_us = it->first_us;
        r->attempt = 1;
        r->state = RC_RUN_PENDING;
        r->fired_us = now_us;
        r->start_at_us = it->start_at_us;
        r->manual = it->manual;
        r->backfill = it->backfill;
        runsInsert(l->runs, r);
        jobstatsRunCreated(job, r);
        d->run_id = r->id;
        if (res->runs_created++ == 0) {
            res->run_id = r->id;
        }
        const Raftcron__Worker *w =
            it->worker_id != 0 && !it->queued ? workersFind(l->workers, it->worker_id) : NULL;
        if (w != NULL && w->alive) {
            assignTo(l, r, w, now_us);
        } else {
            notify(l, r, RC_RUN_NONE, false);
        }
    }
    d->id = ++l->decision_seq;
    d->job_id = job->id;
    d->first_us = it->first_us;
    d->last_us = it->last_us;
    d->count = it->count;
    d->decision = it->decision;
    d->reason = it->reason;
    d->decided_us = now_us;
    d->manual = it->manual;
    d->backfill = it->backfill;
    runsAddDecision(l->runs, d);
    jobstatsDecided(job, d);
    if (l->ev != NULL && l->ev->decided != NULL) {
        l->ev->decided(l->ev_data, l->index, d);
    }
    /* A paused job's backfilled instants are decided: a resume by a leader whose clock is
     * behind must not decide them again. */
    if (!it->manual || (it->backfill && job->paused && it->last_us > job->cursor_us)) {
        job->cursor_us = it->last_us;
    }
    retain(l, job, now_us);
}

/* One item: *code is 0 when recorded, else why not (in why). Returns 0 or RC_ENOMEM. */
static int fireItem(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__FireItem *it,
                    int64_t now_us, char *why, size_t n, int *code, struct rc_fsm_result *res)
{
    *code = checkItemShape(it, why, n);
    if (*code != 0) {
        return 0;
    }
    Raftcron__Job *job = itemJob(jobs, it, why, n, code);
    if (job == NULL) {
        return 0;
    }
    if (it->backfill) {
        *code = backfillCheck(l, job, it, now_us, why, n);
        if (*code != 0) {
            return 0;
        }
    }
    struct fire_alloc a;
    if (allocFire(l, job, it, &a) != 0) {
        return RC_ENOMEM;
    }
    recordFire(l, job, it, now_us, &a, res);
    return 0;
}

/* Every check of one item of an atomic batch, against the state before the batch. */
static Raftcron__Job *checkAtomicItem(struct rc_ledger *l, struct rc_jobs *jobs,
                                      const Raftcron__FireBatch *b, size_t i, char *why, size_t n,
                                      int *code)
{
    const Raftcron__FireItem *it = b->items[i];
    *code = checkItemShape(it, why, n);
    if (*code == 0 && i > 0) {
        const Raftcron__FireItem *prev = b->items[i - 1];
        if (strcmp(jobsNamespace(prev->namespace_), jobsNamespace(it->namespace_)) != 0 ||
            strcmp(prev->name, it->name) != 0 || it->first_us <= prev->last_us) {
            *code = errSet(why, n, RC_EINVAL,
                           "an atomic batch names one job, in increasing instant order");
        }
    }
    if (*code != 0) {
        return NULL;
    }
    Raftcron__Job *job = itemJob(jobs, it, why, n, code);
    if (job != NULL && it->backfill) {
        *code = backfillCheck(l, job, it, b->now_us, why, n);
    }
    return *code == 0 ? job : NULL;
}

/*
 * Rule (docs/ledger.md "Backfill"): an atomic batch is recorded whole or not at all. Every item
 * is checked against the state before the batch; the items are of one job, in increasing
 * instant order, so they cannot cover each other's instants, and each is then recorded without
 * a second check — retention while recording may raise the history floor past a later item,
 * which passed against the state it was decided on.
 */
static int applyAtomic(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__FireBatch *b,
                       struct rc_fsm_result *res)
{
    if (b->n_items == 0) {
        refuse(res, RC_EINVAL, "an atomic batch has no item");
        return 0;
    }
    Raftcron__Job *job = NULL;
    for (size_t i = 0; i < b->n_items; i++) {
        char why[RC_ERRMSG_SIZE];
        int code;
        job = checkAtomicItem(l, jobs, b, i, why, sizeof why, &code);
        if (code != 0) {
            res->items_rejected = (uint32_t)b->n_items;
            refuse(res, code, "item %zu: %s (nothing recorded)", i, why);
            return 0;
        }
    }
    for (size_t i = 0; i < b->n_items; i++) {
        struct fire_alloc a;
        if (allocFire(l, job, b->items[i], &a) != 0) {
            return RC_ENOMEM;
        }
        recordFire(l, job, b->items[i], b->now_us, &a, res);
        res->items_applied++;
    }
    res->changed = true;
    return 0;
}

/* An item out of memory halts the node (fsmApply's contract), so the items before it being
 * applied does not matter: this replica will not serve the state. */
int ledgerApplyFire(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__FireBatch *b,
                    struct rc_fsm_result *res)
{
    if (b == NULL) {
        refuse(res, RC_EPARSE, "command: fire_batch body missing");
        return 0;
    }
    if (b->atomic) {
        return applyAtomic(l, jobs, b, res);
    }
    for (size_t i = 0; i < b->n_items; i++) {
        char why[RC_ERRMSG_SIZE];
        int code;
        if (fireItem(l, jobs, b->items[i], b->now_us, why, sizeof why, &code, res) != 0) {
            return RC_ENOMEM;
        }
        if (code == 0) {
            res->items_applied++;
            continue;
        }
        if (res->items_rejected++ == 0) {
            refuse(res, code, "item %zu: %s", i, why);
        }
    }
    res->changed = res->items_applied > 0;
    return 0;
}

/* ---- Run commands ------------------------------------------------------------------------- */

/* Rule: a run is assigned only to a live worker, and a retry only once its not-before instant
 * (per the entry's clock) is reached; the fence is new on every assignment. An assigned run
 * moves to another worker (same attempt) only while its worker has not accepted it: after
 * RunAccept that worker may start it, and only LOST (then the retry policy) takes it away. */
int ledgerApplyAssign(struct rc_ledger *l, const Raftcron__RunAssign *a, struct rc_fsm_result *res)
{
    Raftcron__Run *run = checkRun(l, a->run_id, a->fence, false, RC_RUN_ASSIGNED, res);
    if (run == NULL) {
        return 0;
    }
    if (run->state == RC_RUN_ASSIGNED && run->accepted_us != 0) {
        refuse(res, RC_ESTALE, "run %llu: accepted by worker %llu, not reassignable",
               (unsigned long long)run->id, (unsigned long long)run->worker_id);
        return 0;
    }
    const Raftcron__Worker *w = workersFind(l->workers, a->worker_id);
    if (w == NULL || !w->alive) {
        refuse(res, w == NULL ? RC_ENOTFOUND : RC_ESTALE, "run %llu: worker %llu is %s",
               (unsigned long long)run->id, (unsigned long long)a->worker_id,
               w == NULL ? "unknown" : "down");
        return 0;
    }
    if (run->state == RC_RUN_RETRY_WAIT && a->now_us < run->not_before_us) {
        refuse(res, RC_ESTALE, "run %llu: retry not before %lld, now %lld",
               (unsigned long long)run->id, (long long)run->not_before_us, (long long)a->now_us);
        return 0;
    }
    assignTo(l, run, w, a->now_us);
    res->fence = run->fence;
    res->changed = true;
    return 0;
}

/* Rule (docs/ledger.md "Acceptance"): the worker holding the current fence has the run and may
 * start it at start_at. Accepting the same fence again is a no-op; a worker marked down (or a
 * process of it other than the one assigned) cannot accept. */
int ledgerApplyAccept(struct rc_ledger *l, const Raftcron__RunAccept *a, struct rc_fsm_result *res)
{
    res->run_id = a->run_id;
    Raftcron__Run *run = runsFind(l->runs, a->run_id);
    if (run == NULL) {
        refuse(res, RC_ENOTFOUND, "run %llu not found", (unsigned long long)a->run_id);
        return 0;
    }
    if (run->state != RC_RUN_ASSIGNED || run->fence != a->fence) {
        refuse(res, RC_ESTALE, "run %llu is %s with fence %llu: cannot accept fence %llu",
               (unsigned long long)run->id, runsStateName(run->state),
               (unsigned long long)run->fence, (unsigned long long)a->fence);
        return 0;
    }
    if (run->accepted_us != 0) {
        return 0;
    }
    const Raftcron__Worker *w = workersFind(l->workers, run->worker_id);
    if (w == NULL || !w->alive || w->incarnation != run->worker_incarnation) {
        /* Marked down or restarted since the assignment: the leader gives the run again. */
        refuse(res, RC_ESTALE, "run %llu: worker %llu is down or restarted",
               (unsigned long long)run->id, (unsigned long long)run->worker_id);
        return 0;
    }
    run->accepted_us = a->now_us != 0 ? a->now_us : 1;
    res->changed = true;
    notify(l, run, run->state, false);
    return 0;
}

int ledgerApplyStarted(struct rc_ledger *l, const Raftcron__RunStarted *s,
                       struct rc_fsm_result *res)
{
    Raftcron__Run *run = checkRun(l, s->run_id, s->fence, false, RC_RUN_RUNNING, res);
    if (run == NULL) {
        return 0;
    }
    /* An assignment left on a worker marked down (never accepted) is the leader's to move: the
     * worker may not start it (DESIGN.md §5). */
    const Raftcron__Worker *w = workersFind(l->workers, run->worker_id);
    if (w == NULL || !w->alive || w->incarnation != run->worker_incarnation) {
        refuse(res, RC_ESTALE, "run %llu: worker %llu is down or restarted",
               (unsigned long long)run->id, (unsigned long long)run->worker_id);
        return 0;
    }
    uint32_t from = move(l, run, RC_RUN_RUNNING, s->now_us);
    run->started_us = s->now_us;
    res->changed = true;
    notify(l, run, from, false);
    return 0;
}

/* The outcome is bounded at apply (output tail: the last RC_LEDGER_OUTPUT_MAX bytes; error:
 * RC_LEDGER_TEXT_MAX), so that workers cannot grow the replicated state without limit. */
static int boundOutcome(Raftcron__Outcome *o)
{
    if (o->output_tail.len > RC_LEDGER_OUTPUT_MAX) {
        size_t cut = o->output_tail.len - RC_LEDGER_OUTPUT_MAX;
        memmove(o->output_tail.data, o->output_tail.data + cut, RC_LEDGER_OUTPUT_MAX);
        o->output_tail.len = RC_LEDGER_OUTPUT_MAX;
    }
    if (strlen(o->error) > RC_LEDGER_TEXT_MAX) {
        o->error[RC_LEDGER_TEXT_MAX] = '\0';
    }
    return 0;
}

static int recordStats(Raftcron__Job *job, uint32_t state, int64_t now_us)
{
    char *text = strdup(runsStateName(state));
    if (text == NULL) {
        return RC_ENOMEM;
    }
    setString(&job->last_outcome, text);
    job->runs_total++;
    job->runs_failed += state != RC_RUN_SUCCEEDED;
    job->last_finished_us = now_us;
    return 0;
}

int ledgerApplyFinished(struct rc_ledger *l, struct rc_jobs *jobs, Raftcron__RunFinished *fin,
                        struct rc_fsm_result *res)
{
    if (fin->state != RC_RUN_SUCCEEDED && fin->state != RC_RUN_FAILED &&
        fin->state != RC_RUN_TIMED_OUT) {
        res->run_id = fin->run_id;
        refuse(res, RC_EINVAL,
               "run %llu: %s is not a finishing state (succeeded, failed, "
               "timed_out)",
               (unsigned long long)fin->run_id, runsStateName(fin->state));
        return 0;
    }
    Raftcron__Run *run = checkRun(l, fin->run_id, fin->fence, false, fin->state, res);
    if (run == NULL) {
        return 0;
    }
    Raftcron__Job *job = ledgerJobOfRun(jobs, run);
    assert(job != NULL); /* a deleted job's runs are dropped with it */
    if (recordStats(job, fin->state, fin->now_us) != 0) {
        return RC_ENOMEM;
    }
    uint32_t from = move(l, run, fin->state, fin->now_us);
    if (fin->outcome != NULL) {
        boundOutcome(fin->outcome);
        if (run->outcome != NULL) {
            raftcron__outcome__free_unpacked(run->outcome, NULL);
        }
        run->outcome = fin->outcome;
        fin->outcome = NULL;
    }
    res->changed = true;
    notify(l, run, from, false);
    retain(l, job, fin->now_us);
    return 0;
}

/* Rule (DESIGN.md §1.3): the job's retry policy bounds the attempts, and a lost attempt of an
 * at-most-once job is never retried; a RunRetry beyond that is refused, so that the bound holds
 * whatever a leader proposes. */
int ledgerApplyRetry(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__RunRetry *r,
                     struct rc_fsm_result *res)
{
    Raftcron__Run *run = checkRun(l, r->run_id, r->fence, false, RC_RUN_RETRY_WAIT, res);
    if (run == NULL) {
        return 0;
    }
    const Raftcron__Job *job = ledgerJobOfRun(jobs, run);
    assert(job != NULL);
    if (!retryShouldRetry(job->spec->retry, run->attempt, run->state == RC_RUN_LOST,
                          job->spec->at_most_once)) {
        refuse(res, RC_EINVAL, "run %llu: the job's retry policy allows no attempt %u",
               (unsigned long long)run->id, run->attempt + 1);
        return 0;
    }
    uint32_t from = move(l, run, RC_RUN_RETRY_WAIT, r->now_us);
    run->attempt++;
    run->not_before_us = r->not_before_us;
    res->changed = true;
    notify(l, run, from, false);
    return 0;
}

int ledgerApplyEnd(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__RunEnd *e,
                   enum rc_run_state to, struct rc_fsm_result *res)
{
    Raftcron__Run *run = checkRun(l, e->run_id, e->fence, to == RC_RUN_CANCELLED, to, res);
    if (run == NULL) {
        return 0;
    }
    char *reason = boundedCopy(e->reason);
    if (reason == NULL) {
        return RC_ENOMEM;
    }
    uint32_t from = move(l, run, to, e->now_us);
    setString(&run->end_reason, reason);
    res->changed = true;
    notify(l, run, from, false);
    Raftcron__Job *job = ledgerJobOfRun(jobs, run);
    assert(job != NULL);
    retain(l, job, e->now_us);
    return 0;
}

/* ---- Workers ------------------------------------------------------------------------------ */

static bool sameWorker(const Raftcron__Worker *a, const Raftcron__Worker *b)
{
    size_t na = raftcron__worker__get_packed_size(a);
    size_t nb = raftcron__worker__get_packed_size(b);
    if (na != nb) {
        return false;
    }
    uint8_t *buf = malloc(2 * na + 1);
    if (buf == NULL) {
        return false; /* "different": the caller then replaces, which is correct either way */
    }
    raftcron__worker__pack(a, buf);
    raftcron__worker__pack(b, buf + na);
    bool same = memcmp(buf, buf + na, na) == 0;
    free(buf);
    return same;
}

/* Runs a worker may have started: running, or accepted (it starts them at start_at on its
 * own). An assignment it has not accepted it never starts: the leader gives it to another
 * worker under a new fence (RunAssign), which is not an attempt. */
static bool onWorker(const Raftcron__Run *run, uint64_t worker_id)
{
    return run->worker_id == worker_id &&
           ((run->state == RC_RUN_ASSIGNED && run->accepted_us != 0) ||
            run->state == RC_RUN_RUNNING);
}

/* A hello from a live worker with nothing new keeps its since_us: heartbeat-like re-hellos do
 * not change the state. */
int ledgerApplyWorkerUp(struct rc_ledger *l, Raftcron__WorkerUp *up, struct rc_fsm_result *res)
{
    Raftcron__Worker *w = up->worker;
    size_t n = w != NULL ? strlen(w->address) : 0;
    if (w == NULL || w->id == 0 || n == 0 || n > RC_WORKER_ADDR_MAX) {
        refuse(res, RC_EINVAL, "worker_up: id must be > 0 and address 1-%d characters",
               RC_WORKER_ADDR_MAX);
        return 0;
    }
    Raftcron__Worker *old = workersFind(l->workers, w->id);
    w->alive = true;
    w->since_us = old != NULL && old->alive ? old->since_us : up->now_us;
    if (old != NULL && sameWorker(old, w)) {
        return 0;
    }
    if (old != NULL && old->incarnation != w->incarnation) {
        /* Rule (docs/ledger.md): a worker process that restarted lost what the previous one
         * held; its assigned and running runs are LOST now, in this apply, and follow their
         * retry policy. The new process never executes a run assigned to the old one. */
        char reason[64];
        snprintf(reason, sizeof reason, "worker %llu restarted", (unsigned long long)w->id);
        struct batch b;
        if (collect(l, 0, onWorker, w->id, reason, &b) != 0) {
            return RC_ENOMEM;
        }
        res->runs_moved = moveAll(l, &b, RC_RUN_LOST, up->now_us);
        w->since_us = up->now_us;
    }
    if (workersPut(l->workers, w) != 0) {
        return RC_ENOMEM;
    }
    up->worker = NULL;
    res->changed = true;
    return 0;
}

/* Rule (DESIGN.md §5): a worker marked down loses its accepted and running runs in the same
 * apply; they then follow the job's retry policy through RunRetry / RunDead. Assignments it
 * never accepted stay ASSIGNED for the leader to give to another worker. */
int ledgerApplyWorkerDown(struct rc_ledger *l, const Raftcron__WorkerDown *down,
                          struct rc_fsm_result *res)
{
    Raftcron__Worker *w = workersFind(l->workers, down->worker_id);
    if (w == NULL) {
        refuse(res, RC_ENOTFOUND, "worker %llu unknown", (unsigned long long)down->worker_id);
        return 0;
    }
    if (!w->alive) {
        return 0;
    }
    char reason[64];
    snprintf(reason, sizeof reason, "worker %llu down", (unsigned long long)w->id);
    struct batch b;
    if (collect(l, 0, onWorker, w->id, reason, &b) != 0) {
        return RC_ENOMEM;
    }
    w->alive = false;
    w->since_us = down->now_us;
    res->runs_moved = moveAll(l, &b, RC_RUN_LOST, down->now_us);
    res->changed = true;
    return 0;
}

/* Decision (docs/ledger.md): a deleted job takes its history with it. Its unfinished runs are
 * dropped too; a worker still executing one learns it when its report names an unknown run
 * (RC_ENOTFOUND) and stops. */
void ledgerJobDeleted(struct rc_ledger *l, uint64_t job_id, struct rc_fsm_result *res)
{
    int active;
    int queued;
    ledgerJobActive(l, job_id, &active, &queued);
    res->runs_moved = (uint32_t)active;
    size_t n;
    Raftcron__Run *const *runs = runsOfJob(l->runs, job_id, &n);
    for (size_t i = 0; i < n; i++) {
        if (!runsStateFinished(runs[i]->state)) {
            notify(l, runs[i], runs[i]->state, true);
        }
    }
    runsDropJob(l->runs, job_id, &l->runs_dropped, &l->decisions_dropped);
}

void ledgerJobActive(const struct rc_ledger *l, uint64_t job_id, int *active, int *queued)
{
    size_t n;
    Raftcron__Run *const *runs = runsOfJob(l->runs, job_id, &n);
    *active = 0;
    *queued = 0;
    for (size_t i = 0; i < n; i++) {
        if (!runsStateFinished(runs[i]->state)) {
            (*active)++;
            *queued += strcmp(runs[i]->wait_reason, QUEUED_REASON) == 0;
        }
    }
}

/* ---- Restore ------------------------------------------------------------------------------ */

/* Messages [0, taken) of an array now belong to the new state: what remains is shifted down so
 * that freeing the snapshot frees only that. */
#define GIVE_UP(arr, n, taken)                                                                     \
    do {                                                                                           \
        if ((taken) > 0) {                                                                         \
            memmove((arr), (arr) + (taken), ((n) - (taken)) * sizeof *(arr));                      \
            (n) -= (taken);                                                                        \
        }                                                                                          \
    } while (0)

static bool keyOrder(uint64_t job, uint64_t id, uint64_t prev_job, uint64_t prev_id)
{
    return job > prev_job || (job == prev_job && id > prev_id);
}

static int checkRunRecord(const Raftcron__Snapshot *s, size_t i, const struct rc_jobs *jobs,
                          char *err, size_t errlen)
{
    const Raftcron__Run *r = s->runs[i];
    unsigned long long id = (unsigned long long)r->id;
    if (!runsStateValid(r->state)) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: run %llu has unknown state %u", id,
                      r->state);
    }
    if (r->id == 0 || r->id > s->run_seq) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: run id %llu outside 1-%llu (run_seq)",
                      id, (unsigned long long)s->run_seq);
    }
    if (r->fence > s->fence_seq) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: run %llu has fence %llu above fence_seq %llu", id,
                      (unsigned long long)r->fence, (unsigned long long)s->fence_seq);
    }
    if (r->attempt == 0 || ((r->state == RC_RUN_ASSIGNED || r->state == RC_RUN_RUNNING) &&
                            (r->fence == 0 || r->worker_id == 0))) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: run %llu (%s) lacks an attempt, fence or worker", id,
                      runsStateName(r->state));
    }
    if (i > 0 && !keyOrder(r->job_id, r->id, s->runs[i - 1]->job_id, s->runs[i - 1]->id)) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: run %llu is out of (job, id) order", id);
    }
    if (jobByKey(jobs, r->job, r->job_id) == NULL) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: run %llu belongs to no job (id %llu)",
                      id, (unsigned long long)r->job_id);
    }
    return 0;
}

static int takeRuns(struct rc_ledger *l, Raftcron__Snapshot *s, const struct rc_jobs *jobs,
                    char *err, size_t errlen)
{
    size_t taken = 0;
    int rv = 0;
    for (; taken < s->n_runs; taken++) {
        Raftcron__Run *r = s->runs[taken];
        rv = checkRunRecord(s, taken, jobs, err, errlen);
        if (rv == 0 && runsFind(l->runs, r->id) != NULL) {
            rv = errSet(err, errlen, RC_ECORRUPT, "snapshot: run id %llu used twice",
                        (unsigned long long)r->id);
        }
        if (rv == 0 && runsReserve(l->runs, r->job_id) != 0) {
            rv = errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
        }
        if (rv != 0) {
            break;
        }
        runsInsert(l->runs, r);
    }
    GIVE_UP(s->runs, s->n_runs, taken);
    return rv;
}

static int checkDecisionRecord(const Raftcron__Snapshot *s, size_t i, const struct rc_jobs *jobs,
                               char *err, size_t errlen)
{
    const Raftcron__Decision *d = s->decisions[i];
    unsigned long long id = (unsigned long long)d->id;
    if (d->id == 0 || d->id > s->decision_seq) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: decision id %llu outside 1-%llu (decision_seq)", id,
                      (unsigned long long)s->decision_seq);
    }
    if (i > 0 &&
        !keyOrder(d->job_id, d->id, s->decisions[i - 1]->job_id, s->decisions[i - 1]->id)) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: decision %llu is out of (job, id) order (or used twice)", id);
    }
    if (d->decision < RC_DECISION_FIRED || d->decision > RC_DECISION_SKIPPED || d->count == 0 ||
        d->last_us < d->first_us || d->run_id > s->run_seq) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: decision %llu is malformed", id);
    }
    if (jobByKey(jobs, d->job, d->job_id) == NULL) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: decision %llu belongs to no job (id %llu)", id,
                      (unsigned long long)d->job_id);
    }
    return 0;
}

static int takeDecisions(struct rc_ledger *l, Raftcron__Snapshot *s, const struct rc_jobs *jobs,
                         char *err, size_t errlen)
{
    size_t taken = 0;
    int rv = 0;
    for (; taken < s->n_decisions; taken++) {
        rv = checkDecisionRecord(s, taken, jobs, err, errlen);
        if (rv == 0 && runsReserve(l->runs, s->decisions[taken]->job_id) != 0) {
            rv = errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
        }
        if (rv != 0) {
            break;
        }
        runsAddDecision(l->runs, s->decisions[taken]);
    }
    GIVE_UP(s->decisions, s->n_decisions, taken);
    return rv;
}

static int takeWorkers(struct rc_ledger *l, Raftcron__Snapshot *s, char *err, size_t errlen)
{
    size_t taken = 0;
    int rv = 0;
    for (; taken < s->n_workers; taken++) {
        Raftcron__Worker *w = s->workers[taken];
        size_t n = strlen(w->address);
        if (w->id == 0 || (taken > 0 && w->id <= s->workers[taken - 1]->id)) {
            rv = errSet(err, errlen, RC_ECORRUPT,
                        "snapshot: worker %zu (id %llu) is not in increasing id order", taken,
                        (unsigned long long)w->id);
        } else if (n == 0 || n > RC_WORKER_ADDR_MAX) {
            rv = errSet(err, errlen, RC_ECORRUPT,
                        "snapshot: worker %llu has an address of %zu characters",
                        (unsigned long long)w->id, n);
        } else if (workersPut(l->workers, w) != 0) {
            rv = errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
        }
        if (rv != 0) {
            break;
        }
    }
    GIVE_UP(s->workers, s->n_workers, taken);
    return rv;
}

int ledgerRestore(struct rc_ledger *l, Raftcron__Snapshot *s, const struct rc_jobs *jobs, char *err,
                  size_t errlen)
{
    int rv = takeWorkers(l, s, err, errlen);
    if (rv == 0) {
        rv = takeRuns(l, s, jobs, err, errlen);
    }
    if (rv == 0) {
        rv = takeDecisions(l, s, jobs, err, errlen);
    }
    l->run_seq = s->run_seq;
    l->fence_seq = s->fence_seq;
    l->decision_seq = s->decision_seq;
    l->runs_dropped = s->runs_dropped;
    l->decisions_dropped = s->decisions_dropped;
    l->export_seq = s->export_seq;
    l->export_position = s->export_position;
    l->export_gate = s->export_gate;
    return rv;
}

int ledgerApplyExportMark(struct rc_ledger *l, struct rc_jobs *jobs, const Raftcron__ExportMark *m,
                          struct rc_fsm_result *res)
{
    if (m == NULL) {
        refuse(res, RC_EPARSE, "command: export_mark body missing");
        return 0;
    }
    if (m->position > l->export_seq) {
        refuse(res, RC_EINVAL, "export_mark: position %llu is past the last finished run %llu",
               (unsigned long long)m->position, (unsigned long long)l->export_seq);
        return 0;
    }
    bool advanced = m->position > l->export_position;
    if (advanced) {
        l->export_position = m->position;
    }
    res->changed = advanced || m->gate != l->export_gate;
    l->export_gate = m->gate;
    if (!res->changed) {
        refuse(res, RC_ESTALE, "export_mark: position %llu is not past %llu",
               (unsigned long long)m->position, (unsigned long long)l->export_position);
    }
    /* Retention for every job that holds runs: what was kept for the export may go now. A
     * job whose history empties leaves runsJobIdAt's list, so the index moves only when it
     * does not. */
    for (size_t i = 0; i < runsJobCount(l->runs);) {
        size_t n;
        uint64_t id = runsJobIdAt(l->runs, i);
        Raftcron__Run *const *runs = runsOfJob(l->runs, id, &n);
        Raftcron__Job *job = n > 0 ? ledgerJobOfRun(jobs, runs[0]) : NULL;
        if (job != NULL) {
            retain(l, job, m->now_us);
        }
        i += i < runsJobCount(l->runs) && runsJobIdAt(l->runs, i) == id;
    }
    return 0;
}
