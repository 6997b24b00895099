#include "fsm.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "err.h"
#include "execpolicy.h"
#include "execspec.h"
#include "hash.h"
#include "jobs.h"
#include "jobstats.h"
#include "ledger.h"
#include "trigger.h"
#include "tz.h"

#define SNAPSHOT_FORMAT      1
#define MEMBER_ADDR_MAX      255
#define POLICY_MAX_INSTANCES 1000
#define RETRY_MAX_ATTEMPTS   100

struct rc_fsm {
    struct rc_jobs *jobs;       /* owned */
    Raftcron__Member **members; /* owned, sorted by id (a Snapshot's member list as is) */
    size_t n_members;
    size_t cap_members;
    struct rc_ledger ledger; /* runs, decisions, workers and their counters */
    uint64_t job_seq;
    uint64_t applied;
    uint64_t jobs_gen; /* local, not state: see fsmJobsGeneration */
};

int fsmCreate(struct rc_fsm **out)
{
    struct rc_fsm *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return RC_ENOMEM;
    }
    int rv = jobsCreate(&f->jobs);
    if (rv != 0) {
        free(f);
        return rv;
    }
    rv = ledgerInit(&f->ledger);
    if (rv != 0) {
        jobsDestroy(f->jobs);
        free(f);
        return rv;
    }
    f->ledger.jobs = f->jobs;
    *out = f;
    return 0;
}

static void freeMembers(Raftcron__Member **members, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        raftcron__member__free_unpacked(members[i], NULL);
    }
    free(members);
}

void fsmDestroy(struct rc_fsm *f)
{
    if (f == NULL) {
        return;
    }
    jobsDestroy(f->jobs);
    freeMembers(f->members, f->n_members);
    ledgerClose(&f->ledger);
    free(f);
}

uint64_t fsmAppliedIndex(const struct rc_fsm *f)
{
    return f->applied;
}

/* ---- Results ------------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static void refuse(struct rc_fsm_result *res, int code,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    res->code = code;
}

static void tellJob(const struct rc_fsm *f, const Raftcron__Job *job, enum rc_fsm_job_change what)
{
    const struct rc_ledger *l = &f->ledger;
    if (l->ev != NULL && l->ev->job_changed != NULL) {
        l->ev->job_changed(l->ev_data, l->index, job, what);
    }
}

static void report(struct rc_fsm_result *res, const Raftcron__Job *job, bool changed)
{
    res->job_id = job->id;
    res->version = job->version;
    res->changed = changed;
}

/* ---- Job spec checks ---------------------------------------------------------------------- */

/* What apply can check without tzdata or parsing: the shape every stored job has. Restore
 * checks the same, so that a table built from a snapshot satisfies what apply guarantees. */
static int checkShape(const Raftcron__JobSpec *spec, char *err, size_t errlen)
{
    if (spec == NULL) {
        return errSet(err, errlen, RC_EINVAL, "spec: missing");
    }
    int rv = jobsCheckKey(spec->namespace_, spec->name, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (spec->trigger == NULL || spec->trigger->kind_case == RAFTCRON__TRIGGER__KIND__NOT_SET) {
        return errSet(err, errlen, RC_EINVAL,
                      "trigger: kind not set (one of cron, interval_us, at_us)");
    }
    if (spec->executor == NULL || spec->executor->kind_case == RAFTCRON__EXECUTOR__KIND__NOT_SET) {
        return errSet(err, errlen, RC_EINVAL,
                      "executor: kind not set (one of shell, http, sql, noop)");
    }
    return 0;
}

/* ---- Apply: jobs -------------------------------------------------------------------------- */

static bool isDefaultString(const char *s)
{
    return s == protobuf_c_empty_string;
}

/* The namespace "" is stored as "default", so that both spellings name one job and an update
 * that spells it differently is still byte-identical. */
static int normalizeNamespace(Raftcron__JobSpec *spec)
{
    if (spec->namespace_[0] != '\0') {
        return 0;
    }
    char *ns = strdup(RC_JOBS_DEFAULT_NAMESPACE);
    if (ns == NULL) {
        return RC_ENOMEM;
    }
    if (!isDefaultString(spec->namespace_)) {
        free(spec->namespace_);
    }
    spec->namespace_ = ns;
    return 0;
}

/* Byte equality of the encodings: what "the same spec" means for an update. */
static int sameEncoding(const ProtobufCMessage *a, const ProtobufCMessage *b, bool *same)
{
    size_t na = protobuf_c_message_get_packed_size(a);
    size_t nb = protobuf_c_message_get_packed_size(b);
    if (na != nb) {
        *same = false;
        return 0;
    }
    uint8_t *buf = malloc(2 * na + 1);
    if (buf == NULL) {
        return RC_ENOMEM;
    }
    protobuf_c_message_pack(a, buf);
    protobuf_c_message_pack(b, buf + na);
    *same = memcmp(buf, buf + na, na) == 0;
    free(buf);
    return 0;
}

/* Compare-and-set: expected_version 0 means no check. */
static bool versionMatches(const Raftcron__Job *job, const char *ns, const char *name,
                           uint64_t expected, struct rc_fsm_result *res)
{
    if (expected == 0) {
        return true;
    }
    if (job == NULL) {
        refuse(res, RC_ENOTFOUND, "job %s/%s not found (expected version %llu)", ns, name,
               (unsigned long long)expected);
        return false;
    }
    if (job->version != expected) {
        report(res, job, false);
        refuse(res, RC_ESTALE, "job %s/%s is at version %llu, expected %llu", ns, name,
               (unsigned long long)job->version, (unsigned long long)expected);
        return false;
    }
    return true;
}

/* A new job is due for instants strictly after its creation (cursor = now). */
static int createJob(struct rc_fsm *f, Raftcron__JobPut *put, struct rc_fsm_result *res)
{
    int rv = jobsReserve(f->jobs, jobsCount(f->jobs) + 1);
    if (rv != 0) {
        return rv;
    }
    Raftcron__Job *job = malloc(sizeof *job);
    if (job == NULL) {
        return RC_ENOMEM;
    }
    raftcron__job__init(job);
    if (jobstatsEnsure(job) != 0) {
        free(job);
        return RC_ENOMEM;
    }
    job->id = ++f->job_seq;
    job->version = 1;
    job->created_us = put->now_us;
    job->updated_us = put->now_us;
    job->cursor_us = put->now_us;
    job->paused = put->paused;
    job->paused_us = put->paused ? put->now_us : 0;
    /* Taken over from the command: protobuf-c frees sub-messages one by one. */
    job->spec = put->spec;
    put->spec = NULL;
    jobsInsert(f->jobs, job);
    report(res, job, true);
    res->created = true;
    tellJob(f, job, RC_FSM_JOB_CREATED);
    return 0;
}

/* A changed trigger restarts the schedule from now: the old cursor belongs to instants of a
 * schedule that no longer exists. Otherwise the cursor stays, so an edit of, say, the command
 * neither re-fires nor skips instants. */
static int updateJob(struct rc_fsm *f, Raftcron__Job *job, Raftcron__JobPut *put,
                     struct rc_fsm_result *res)
{
    bool same;
    int rv = sameEncoding(&job->spec->base, &put->spec->base, &same);
    if (rv != 0) {
        return rv;
    }
    if (same) {
        report(res, job, false);
        return 0;
    }
    bool same_trigger;
    rv = sameEncoding(&job->spec->trigger->base, &put->spec->trigger->base, &same_trigger);
    if (rv != 0) {
        return rv;
    }
    raftcron__job_spec__free_unpacked(job->spec, NULL);
    job->spec = put->spec;
    put->spec = NULL;
    job->version++;
    job->updated_us = put->now_us;
    if (!same_trigger) {
        job->cursor_us = put->now_us;
    }
    report(res, job, true);
    tellJob(f, job, RC_FSM_JOB_UPDATED);
    return 0;
}

static int applyJobPut(struct rc_fsm *f, Raftcron__JobPut *put, struct rc_fsm_result *res)
{
    Raftcron__JobSpec *spec = put->spec;
    int code = checkShape(spec, res->message, sizeof res->message);
    if (code != 0) {
        res->code = code;
        return 0;
    }
    int rv = normalizeNamespace(spec);
    if (rv != 0) {
        return rv;
    }
    Raftcron__Job *job = jobsFind(f->jobs, spec->namespace_, spec->name);
    if (job != NULL && put->create_only) {
        report(res, job, false);
        refuse(res, RC_EEXISTS, "job %s/%s already exists (version %llu)", spec->namespace_,
               spec->name, (unsigned long long)job->version);
        return 0;
    }
    if (!versionMatches(job, spec->namespace_, spec->name, put->expected_version, res)) {
        return 0;
    }
    return job == NULL ? createJob(f, put, res) : updateJob(f, job, put, res);
}

/* The job a JobRef names, after its key and expected version are checked; NULL (with res
 * filled) when the command is a no-op. */
static Raftcron__Job *findRef(struct rc_fsm *f, const Raftcron__JobRef *ref,
                              struct rc_fsm_result *res)
{
    if (ref == NULL) {
        refuse(res, RC_EPARSE, "command: job reference missing");
        return NULL;
    }
    int code = jobsCheckKey(ref->namespace_, ref->name, res->message, sizeof res->message);
    if (code != 0) {
        res->code = code;
        return NULL;
    }
    const char *ns = jobsNamespace(ref->namespace_);
    Raftcron__Job *job = jobsFind(f->jobs, ns, ref->name);
    if (job == NULL) {
        refuse(res, RC_ENOTFOUND, "job %s/%s not found", ns, ref->name);
        return NULL;
    }
    if (!versionMatches(job, ns, ref->name, ref->expected_version, res)) {
        return NULL;
    }
    return job;
}

/* A deleted job has no version left: res->version is 0, res->job_id the id it had. */
static void applyJobDelete(struct rc_fsm *f, const Raftcron__JobRef *ref, struct rc_fsm_result *res)
{
    Raftcron__Job *job = findRef(f, ref, res);
    if (job == NULL) {
        return;
    }
    res->job_id = job->id;
    res->version = 0;
    res->changed = true;
    ledgerJobDeleted(&f->ledger, job->id, res);
    tellJob(f, job, RC_FSM_JOB_DELETED);
    jobsDelete(f->jobs, job);
}

static void bump(Raftcron__Job *job, int64_t now_us)
{
    job->version++;
    job->updated_us = now_us;
}

static void applyJobPause(struct rc_fsm *f, const Raftcron__JobRef *ref, struct rc_fsm_result *res)
{
    Raftcron__Job *job = findRef(f, ref, res);
    if (job == NULL) {
        return;
    }
    if (job->paused) {
        report(res, job, false);
        return;
    }
    job->paused = true;
    job->paused_us = ref->now_us;
    bump(job, ref->now_us);
    report(res, job, true);
    tellJob(f, job, RC_FSM_JOB_PAUSED);
}

/* Rule: resume continues from now; instants during the pause are not fired. Moving the cursor
 * to now makes them "decided" without a run, so the leader neither fires nor reports them as
 * missed. A cursor already past now (decided ahead by the lookahead) is kept. */
static void applyJobResume(struct rc_fsm *f, const Raftcron__JobRef *ref, struct rc_fsm_result *res)
{
    Raftcron__Job *job = findRef(f, ref, res);
    if (job == NULL) {
        return;
    }
    if (!job->paused) {
        report(res, job, false);
        return;
    }
    job->paused = false;
    job->paused_us = 0;
    if (job->cursor_us < ref->now_us) {
        job->cursor_us = ref->now_us;
    }
    bump(job, ref->now_us);
    report(res, job, true);
    tellJob(f, job, RC_FSM_JOB_RESUMED);
}

/* ---- Apply: members ----------------------------------------------------------------------- */

/* Index of member id, or where it would be inserted. */
static size_t memberSlot(const struct rc_fsm *f, uint64_t id)
{
    size_t lo = 0;
    size_t hi = f->n_members;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->members[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static bool memberAt(const struct rc_fsm *f, size_t i, uint64_t id)
{
    return i < f->n_members && f->members[i]->id == id;
}

static void removeMember(struct rc_fsm *f, size_t i)
{
    raftcron__member__free_unpacked(f->members[i], NULL);
    memmove(&f->members[i], &f->members[i + 1], (f->n_members - i - 1) * sizeof *f->members);
    f->n_members--;
}

static int insertMember(struct rc_fsm *f, size_t i, uint64_t id, char *addr)
{
    if (f->n_members == f->cap_members) {
        size_t cap = f->cap_members > 0 ? 2 * f->cap_members : 4;
        Raftcron__Member **members = realloc(f->members, cap * sizeof *members);
        if (members == NULL) {
            return RC_ENOMEM;
        }
        f->members = members;
        f->cap_members = cap;
    }
    Raftcron__Member *m = malloc(sizeof *m);
    if (m == NULL) {
        return RC_ENOMEM;
    }
    raftcron__member__init(m);
    m->id = id;
    m->rpc_addr = addr;
    memmove(&f->members[i + 1], &f->members[i], (f->n_members - i) * sizeof *f->members);
    f->members[i] = m;
    f->n_members++;
    return 0;
}

static int setMember(struct rc_fsm *f, const Raftcron__MemberSet *set, struct rc_fsm_result *res)
{
    size_t n = strlen(set->rpc_addr);
    if (n == 0 || n > MEMBER_ADDR_MAX) {
        refuse(res, RC_EINVAL, "member %llu: rpc_addr has %zu characters, must be 1-%d",
               (unsigned long long)set->id, n, MEMBER_ADDR_MAX);
        return 0;
    }
    size_t i = memberSlot(f, set->id);
    bool present = memberAt(f, i, set->id);
    if (present && strcmp(f->members[i]->rpc_addr, set->rpc_addr) == 0) {
        return 0;
    }
    char *addr = strdup(set->rpc_addr);
    if (addr == NULL) {
        return RC_ENOMEM;
    }
    if (present) {
        free(f->members[i]->rpc_addr);
        f->members[i]->rpc_addr = addr;
    } else if (insertMember(f, i, set->id, addr) != 0) {
        free(addr);
        return RC_ENOMEM;
    }
    res->changed = true;
    return 0;
}

/* Removing an absent member is a successful no-op: the desired state already holds. */
static int applyMemberSet(struct rc_fsm *f, const Raftcron__MemberSet *set,
                          struct rc_fsm_result *res)
{
    if (set == NULL) {
        refuse(res, RC_EPARSE, "command: member_set body missing");
        return 0;
    }
    if (set->id == 0) {
        refuse(res, RC_EINVAL, "member_set: id 0 is not a member id");
        return 0;
    }
    if (!set->remove) {
        return setMember(f, set, res);
    }
    size_t i = memberSlot(f, set->id);
    if (memberAt(f, i, set->id)) {
        removeMember(f, i);
        res->changed = true;
    }
    return 0;
}

/* ---- Apply -------------------------------------------------------------------------------- */

static int dispatchLedger(struct rc_fsm *f, Raftcron__Command *cmd, struct rc_fsm_result *res);
static int applyBatch(struct rc_fsm *f, Raftcron__Batch *b, struct rc_fsm_result *res);

static int dispatch(struct rc_fsm *f, Raftcron__Command *cmd, struct rc_fsm_result *res)
{
    switch (cmd->cmd_case) {
    case RAFTCRON__COMMAND__CMD_BATCH:
        if (cmd->batch == NULL) {
            refuse(res, RC_EPARSE, "command: batch body missing");
            return 0;
        }
        return applyBatch(f, cmd->batch, res);
    case RAFTCRON__COMMAND__CMD_JOB_PUT:
        if (cmd->job_put == NULL) {
            refuse(res, RC_EPARSE, "command: job_put body missing");
            return 0;
        }
        return applyJobPut(f, cmd->job_put, res);
    case RAFTCRON__COMMAND__CMD_JOB_DELETE:
        applyJobDelete(f, cmd->job_delete, res);
        return 0;
    case RAFTCRON__COMMAND__CMD_JOB_PAUSE:
        applyJobPause(f, cmd->job_pause, res);
        return 0;
    case RAFTCRON__COMMAND__CMD_JOB_RESUME:
        applyJobResume(f, cmd->job_resume, res);
        return 0;
    case RAFTCRON__COMMAND__CMD_MEMBER_SET:
        return applyMemberSet(f, cmd->member_set, res);
    default:
        return dispatchLedger(f, cmd, res);
    }
}

/* protobuf-c leaves a oneof's message NULL only for hand-made commands; decoded ones always
 * carry it, but apply must not trust that. The oneof's members share one pointer (a union). */
static int dispatchLedger(struct rc_fsm *f, Raftcron__Command *cmd, struct rc_fsm_result *res)
{
    struct rc_ledger *l = &f->ledger;
    if (((cmd->cmd_case >= RAFTCRON__COMMAND__CMD_FIRE_BATCH &&
          cmd->cmd_case <= RAFTCRON__COMMAND__CMD_WORKER_DOWN) ||
         cmd->cmd_case == RAFTCRON__COMMAND__CMD_RUN_ACCEPT) &&
        cmd->fire_batch == NULL) {
        refuse(res, RC_EPARSE, "command: %s body missing", commandName(cmd));
        return 0;
    }
    switch (cmd->cmd_case) {
    case RAFTCRON__COMMAND__CMD_FIRE_BATCH:
        return ledgerApplyFire(l, f->jobs, cmd->fire_batch, res);
    case RAFTCRON__COMMAND__CMD_RUN_ASSIGN:
        return ledgerApplyAssign(l, cmd->run_assign, res);
    case RAFTCRON__COMMAND__CMD_RUN_STARTED:
        return ledgerApplyStarted(l, cmd->run_started, res);
    case RAFTCRON__COMMAND__CMD_RUN_ACCEPT:
        return ledgerApplyAccept(l, cmd->run_accept, res);
    case RAFTCRON__COMMAND__CMD_RUN_FINISHED:
        return ledgerApplyFinished(l, f->jobs, cmd->run_finished, res);
    case RAFTCRON__COMMAND__CMD_RUN_RETRY:
        return ledgerApplyRetry(l, f->jobs, cmd->run_retry, res);
    case RAFTCRON__COMMAND__CMD_RUN_DEAD:
        return ledgerApplyEnd(l, f->jobs, cmd->run_dead, RC_RUN_DEAD, res);
    case RAFTCRON__COMMAND__CMD_RUN_LOST:
        return ledgerApplyEnd(l, f->jobs, cmd->run_lost, RC_RUN_LOST, res);
    case RAFTCRON__COMMAND__CMD_RUN_CANCEL:
        return ledgerApplyEnd(l, f->jobs, cmd->run_cancel, RC_RUN_CANCELLED, res);
    case RAFTCRON__COMMAND__CMD_WORKER_UP:
        return ledgerApplyWorkerUp(l, cmd->worker_up, res);
    case RAFTCRON__COMMAND__CMD_WORKER_DOWN:
        return ledgerApplyWorkerDown(l, cmd->worker_down, res);
    case RAFTCRON__COMMAND__CMD_EXPORT_MARK:
        return ledgerApplyExportMark(l, f->jobs, cmd->export_mark, res);
    default:
        /* Also what an entry written by a newer version looks like: a no-op, never a halt. */
        refuse(res, RC_EPARSE, "command: no known kind");
        return 0;
    }
}

/* What fsmJobsGeneration counts. A FireBatch moves cursors too, but only forward, which the
 * leader's due-heap tolerates (its keys may be early, never late). */
static bool touchesJobs(const Raftcron__Command *cmd)
{
    switch (cmd->cmd_case) {
    case RAFTCRON__COMMAND__CMD_JOB_PUT:
    case RAFTCRON__COMMAND__CMD_JOB_DELETE:
    case RAFTCRON__COMMAND__CMD_JOB_PAUSE:
    case RAFTCRON__COMMAND__CMD_JOB_RESUME:
        return true;
    default:
        return false;
    }
}

/*
 * Rule (proto Batch): each command as if it were an entry of its own, in order; a Batch inside
 * a Batch is refused (a no-op), so nesting cannot make an entry's cost unbounded. The result
 * counts the commands applied and refused (items_applied / items_rejected, the first refusal's
 * code and message), adds up runs moved, and says changed if any command changed the state.
 * RC_ENOMEM stops the node (fsmApply), whatever commands before it did.
 */
static int applyBatch(struct rc_fsm *f, Raftcron__Batch *b, struct rc_fsm_result *res)
{
    for (size_t i = 0; i < b->n_commands; i++) {
        Raftcron__Command *cmd = b->commands[i];
        struct rc_fsm_result one;
        memset(&one, 0, sizeof one);
        int rv = 0;
        if (cmd->cmd_case == RAFTCRON__COMMAND__CMD_BATCH) {
            refuse(&one, RC_EINVAL, "a batch inside a batch");
        } else {
            rv = dispatch(f, cmd, &one);
        }
        if (rv != 0) {
            return rv;
        }
        if (one.changed && touchesJobs(cmd)) {
            f->jobs_gen++;
        }
        res->changed |= one.changed;
        res->runs_moved += one.runs_moved;
        if (one.code == 0) {
            res->items_applied++;
        } else if (res->items_rejected++ == 0) {
            refuse(res, one.code, "command %zu (%s): %s", i, commandName(cmd), one.message);
        }
    }
    return 0;
}

/* Every path allocates before it mutates, so RC_ENOMEM leaves the state as it was: the caller
 * stops the node rather than skip the entry, which would make this replica diverge. */
int fsmApply(struct rc_fsm *f, uint64_t index, const void *buf, size_t len,
             struct rc_fsm_result *res)
{
    struct rc_fsm_result scratch;
    if (res == NULL) {
        res = &scratch;
    }
    memset(res, 0, sizeof *res);
    Raftcron__Command *cmd;
    f->ledger.index = index;
    int rv = commandDecode(buf, len, &cmd);
    if (rv == RC_ENOMEM) {
        return rv;
    }
    if (rv != 0) {
        refuse(res, RC_EPARSE, "entry: not a raftcron.Command (%zu bytes)", len);
    } else {
        rv = dispatch(f, cmd, res);
        if (res->changed && touchesJobs(cmd)) {
            f->jobs_gen++;
        }
        commandFree(cmd);
        if (rv != 0) {
            memset(res, 0, sizeof *res);
            return rv;
        }
    }
    f->applied = index;
    return 0;
}

/* ---- Snapshot ----------------------------------------------------------------------------- */

/* A Snapshot message borrowing the FSM's own arrays: encoding it allocates nothing but the
 * output. Runs and decisions are not in it: they live per job (runs.h) and are streamed after
 * it by emitState. */
static void snapshotView(const struct rc_fsm *f, Raftcron__Snapshot *s)
{
    const struct rc_ledger *l = &f->ledger;
    raftcron__snapshot__init(s);
    s->format = SNAPSHOT_FORMAT;
    s->jobs = jobsSorted(f->jobs, &s->n_jobs);
    s->workers = workersAll(l->workers, &s->n_workers);
    s->members = f->members;
    s->n_members = f->n_members;
    s->job_seq = f->job_seq;
    s->run_seq = l->run_seq;
    s->fence_seq = l->fence_seq;
    s->decision_seq = l->decision_seq;
    s->runs_dropped = l->runs_dropped;
    s->decisions_dropped = l->decisions_dropped;
    s->export_seq = l->export_seq;
    s->export_position = l->export_position;
    s->export_gate = l->export_gate;
}

#define SNAPSHOT_RUNS_TAG      0x1a /* field 3, wire type 2 (length-delimited) */
#define SNAPSHOT_DECISIONS_TAG 0x4a /* field 9, wire type 2 */

static void emitRecord(ProtobufCBuffer *out, uint8_t tag, const ProtobufCMessage *m)
{
    uint8_t head[1 + 10];
    size_t n = 0;
    head[n++] = tag;
    for (uint64_t v = protobuf_c_message_get_packed_size(m);; v >>= 7) {
        head[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80) {
            break;
        }
    }
    out->append(out, n, head);
    protobuf_c_message_pack_to_buffer(m, out);
}

/* The snapshot's bytes: the view, then every run and every decision as repeated fields 3 and 9,
 * each in (job id, id) order. Fields out of number order are valid protobuf, and this is the
 * one encoder, so equal states still give equal bytes. */
static void emitState(const struct rc_fsm *f, ProtobufCBuffer *out)
{
    Raftcron__Snapshot s;
    snapshotView(f, &s);
    protobuf_c_message_pack_to_buffer(&s.base, out);
    const struct rc_runs *runs = f->ledger.runs;
    for (size_t j = 0; j < runsJobCount(runs); j++) {
        size_t n;
        Raftcron__Run *const *r = runsOfJob(runs, runsJobIdAt(runs, j), &n);
        for (size_t i = 0; i < n; i++) {
            emitRecord(out, SNAPSHOT_RUNS_TAG, &r[i]->base);
        }
    }
    for (size_t j = 0; j < runsJobCount(runs); j++) {
        size_t n;
        Raftcron__Decision *const *d = runsDecisionsOfJob(runs, runsJobIdAt(runs, j), &n);
        for (size_t i = 0; i < n; i++) {
            emitRecord(out, SNAPSHOT_DECISIONS_TAG, &d[i]->base);
        }
    }
}

/* Sizing pass and writing pass over emitState: the output is allocated once, exactly. */
struct writer {
    ProtobufCBuffer base;
    uint8_t *data; /* NULL: only count */
    size_t len;
};

static void writerAppend(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct writer *w = (struct writer *)b;
    if (w->data != NULL) {
        memcpy(w->data + w->len, data, len);
    }
    w->len += len;
}

#define TRAILER_TAG 0x79 /* field 15, wire type 1 (fixed64) */
#define TRAILER_LEN 9

static void putTrailer(uint8_t *p, uint64_t sum)
{
    p[0] = TRAILER_TAG;
    for (int i = 0; i < 8; i++) {
        p[1 + i] = (uint8_t)(sum >> (8 * i));
    }
}

static uint64_t getFixed64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

int fsmSnapshot(const struct rc_fsm *f, void **buf, size_t *len)
{
    struct writer w = {.base = {.append = writerAppend}};
    emitState(f, &w.base);
    size_t n = w.len;
    uint8_t *b = malloc(n + TRAILER_LEN);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    w.data = b;
    w.len = 0;
    emitState(f, &w.base);
    assert(w.len == n);
    putTrailer(b + n, hashFnv(RC_HASH_FNV_OFFSET, b, n));
    *buf = b;
    *len = n + TRAILER_LEN;
    return 0;
}

int fsmSnapshotSeal(const void *body, size_t len, void **buf, size_t *out_len)
{
    uint8_t *b = malloc(len + TRAILER_LEN);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    if (len > 0) {
        memcpy(b, body, len);
    }
    putTrailer(b + len, hashFnv(RC_HASH_FNV_OFFSET, b, len));
    *buf = b;
    *out_len = len + TRAILER_LEN;
    return 0;
}

struct hasher {
    ProtobufCBuffer base;
    uint64_t h;
};

static void hashAppend(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct hasher *hs = (struct hasher *)b;
    hs->h = hashFnv(hs->h, data, len);
}

/* Streamed over the encoding: no copy of the state is made. */
uint64_t fsmDigest(const struct rc_fsm *f)
{
    struct hasher hs = {.base = {.append = hashAppend}, .h = RC_HASH_FNV_OFFSET};
    emitState(f, &hs.base);
    return hs.h;
}

/* ---- Restore ------------------------------------------------------------------------------ */

struct state {
    struct rc_jobs *jobs;
    Raftcron__Member **members;
    size_t n_members;
    struct rc_ledger ledger;
};

static int compareIds(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int checkJob(const Raftcron__Snapshot *s, size_t i, char *err, size_t errlen)
{
    const Raftcron__Job *job = s->jobs[i];
    char why[RC_ERRMSG_SIZE];
    if (job->spec != NULL && job->spec->namespace_[0] == '\0') {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: job %zu: namespace empty", i);
    }
    if (checkShape(job->spec, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: job %zu: %s", i, why);
    }
    if (job->id == 0 || job->id > s->job_seq) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: job %s/%s has id %llu, outside 1-%llu (job_seq)",
                      job->spec->namespace_, job->spec->name, (unsigned long long)job->id,
                      (unsigned long long)s->job_seq);
    }
    if (job->version == 0) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: job %s/%s has version 0",
                      job->spec->namespace_, job->spec->name);
    }
    return 0;
}

static int checkUniqueIds(const Raftcron__Snapshot *s, char *err, size_t errlen)
{
    if (s->n_jobs < 2) {
        return 0;
    }
    uint64_t *ids = malloc(s->n_jobs * sizeof *ids);
    if (ids == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
    }
    for (size_t i = 0; i < s->n_jobs; i++) {
        ids[i] = s->jobs[i]->id;
    }
    qsort(ids, s->n_jobs, sizeof *ids, compareIds);
    int rv = 0;
    for (size_t i = 1; i < s->n_jobs && rv == 0; i++) {
        if (ids[i] == ids[i - 1]) {
            rv = errSet(err, errlen, RC_ECORRUPT, "snapshot: job id %llu used twice",
                        (unsigned long long)ids[i]);
        }
    }
    free(ids);
    return rv;
}

/* Index the snapshot's jobs in a new table. The table does not own them yet: buildState hands
 * them over once the whole snapshot has been checked. */
static int indexJobs(const Raftcron__Snapshot *s, struct rc_jobs *t, char *err, size_t errlen)
{
    if (jobsReserve(t, s->n_jobs) != 0) {
        return errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
    }
    for (size_t i = 0; i < s->n_jobs; i++) {
        int rv = checkJob(s, i, err, errlen);
        if (rv != 0) {
            return rv;
        }
        const Raftcron__JobSpec *spec = s->jobs[i]->spec;
        if (jobsFind(t, spec->namespace_, spec->name) != NULL) {
            return errSet(err, errlen, RC_ECORRUPT, "snapshot: job %s/%s appears twice",
                          spec->namespace_, spec->name);
        }
        if (jobstatsEnsure(s->jobs[i]) != 0) {
            return errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
        }
        jobsInsert(t, s->jobs[i]);
    }
    return checkUniqueIds(s, err, errlen);
}

static int checkMembers(const Raftcron__Snapshot *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n_members; i++) {
        const Raftcron__Member *m = s->members[i];
        if (m->id == 0 || (i > 0 && m->id <= s->members[i - 1]->id)) {
            return errSet(err, errlen, RC_ECORRUPT,
                          "snapshot: member %zu (id %llu) is not in increasing id order", i,
                          (unsigned long long)m->id);
        }
        size_t n = strlen(m->rpc_addr);
        if (n == 0 || n > MEMBER_ADDR_MAX) {
            return errSet(err, errlen, RC_ECORRUPT,
                          "snapshot: member %llu has an rpc_addr of %zu characters (1-%d)",
                          (unsigned long long)m->id, n, MEMBER_ADDR_MAX);
        }
    }
    return 0;
}

/* A format this binary does not know is refused whole: a newer one may mean things this
 * version would silently drop (fields it skips as unknown), so reading it could lose state. */
static int checkHeader(const Raftcron__Snapshot *s, char *err, size_t errlen)
{
    if (s->format > SNAPSHOT_FORMAT) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: format %u was written by a newer raftcron; this version reads "
                      "format %d: upgrade this node (docs/operations.md, \"Upgrades\")",
                      s->format, SNAPSHOT_FORMAT);
    }
    if (s->format != SNAPSHOT_FORMAT) {
        return errSet(err, errlen, RC_ECORRUPT, "snapshot: format %u, expected %d", s->format,
                      SNAPSHOT_FORMAT);
    }
    return 0;
}

uint32_t fsmSnapshotFormat(void)
{
    return SNAPSHOT_FORMAT;
}

/* Build the new state beside the current one: on any failure the FSM is untouched. */
static int buildState(Raftcron__Snapshot *s, struct state *st, char *err, size_t errlen)
{
    int rv = checkHeader(s, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = checkMembers(s, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (jobsCreate(&st->jobs) != 0) {
        return errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
    }
    rv = indexJobs(s, st->jobs, err, errlen);
    if (rv != 0) {
        goto err_after_jobs;
    }
    if (s->n_members > 0) {
        st->members = malloc(s->n_members * sizeof *st->members);
        if (st->members == NULL) {
            rv = errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
            goto err_after_jobs;
        }
        memcpy(st->members, s->members, s->n_members * sizeof *st->members);
    }
    st->n_members = s->n_members;
    if (ledgerInit(&st->ledger) != 0) {
        rv = errSet(err, errlen, RC_ENOMEM, "snapshot: out of memory");
        goto err_after_members;
    }
    st->ledger.jobs = st->jobs;
    rv = ledgerRestore(&st->ledger, s, st->jobs, err, errlen);
    if (rv != 0) {
        goto err_after_ledger;
    }
    /* The new state owns the jobs and members now; the snapshot keeps only its arrays. */
    s->n_jobs = 0;
    s->n_members = 0;
    return 0;

err_after_ledger:
    ledgerClose(&st->ledger);
err_after_members:
    free(st->members);
    st->members = NULL;
err_after_jobs:
    assert(rv != 0);
    jobsDetachAll(st->jobs);
    jobsDestroy(st->jobs);
    st->jobs = NULL;
    return rv;
}

static bool sealed(const uint8_t *buf, size_t len)
{
    if (len < TRAILER_LEN || buf[len - TRAILER_LEN] != TRAILER_TAG) {
        return false;
    }
    size_t n = len - TRAILER_LEN;
    return getFixed64(buf + n + 1) == hashFnv(RC_HASH_FNV_OFFSET, buf, n);
}

int fsmRestore(struct rc_fsm *f, uint64_t index, const void *buf, size_t len, char *err,
               size_t errlen)
{
    if (!sealed(buf, len)) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "snapshot: checksum trailer missing or wrong (%zu bytes: truncated or "
                      "damaged)",
                      len);
    }
    ProtobufCMessage *msg;
    int rv = commandUnpack(&raftcron__snapshot__descriptor, buf, len - TRAILER_LEN, &msg);
    if (rv != 0) {
        return errSet(err, errlen, rv, "snapshot: %s (%zu bytes)",
                      rv == RC_ENOMEM ? "out of memory" : "not a raftcron.Snapshot", len);
    }
    Raftcron__Snapshot *s = (Raftcron__Snapshot *)msg;
    struct state st = {0};
    rv = buildState(s, &st, err, errlen);
    if (rv == 0) {
        jobsDestroy(f->jobs);
        freeMembers(f->members, f->n_members);
        ledgerClose(&f->ledger);
        f->jobs = st.jobs;
        f->members = st.members;
        f->n_members = st.n_members;
        f->cap_members = st.n_members;
        st.ledger.obs = f->ledger.obs;
        st.ledger.obs_data = f->ledger.obs_data;
        st.ledger.ev = f->ledger.ev;
        st.ledger.ev_data = f->ledger.ev_data;
        f->ledger = st.ledger;
        f->job_seq = s->job_seq;
        f->applied = index;
        f->jobs_gen++;
        if (f->ledger.obs != NULL && f->ledger.obs->restored != NULL) {
            f->ledger.obs->restored(f->ledger.obs_data);
        }
        if (f->ledger.ev != NULL && f->ledger.ev->restored != NULL) {
            f->ledger.ev->restored(f->ledger.ev_data, index);
        }
    }
    raftcron__snapshot__free_unpacked(s, NULL);
    return rv;
}

/* ---- Queries ------------------------------------------------------------------------------ */

void fsmSetEvents(struct rc_fsm *f, const struct rc_fsm_events *ev, void *data)
{
    f->ledger.ev = ev;
    f->ledger.ev_data = data;
}

void fsmSetObserver(struct rc_fsm *f, const struct rc_fsm_observer *obs, void *data)
{
    f->ledger.obs = obs;
    f->ledger.obs_data = data;
}

const Raftcron__Job *fsmJobGet(const struct rc_fsm *f, const char *ns, const char *name)
{
    return jobsFind(f->jobs, jobsNamespace(ns), name);
}

const Raftcron__Job *fsmJobOfRun(const struct rc_fsm *f, const Raftcron__Run *run)
{
    const char *slash = strchr(run->job, '/');
    char ns[RC_JOBS_NAMESPACE_MAX + 1];
    if (slash == NULL || (size_t)(slash - run->job) > RC_JOBS_NAMESPACE_MAX) {
        return NULL;
    }
    memcpy(ns, run->job, (size_t)(slash - run->job));
    ns[slash - run->job] = '\0';
    const Raftcron__Job *job = fsmJobGet(f, ns, slash + 1);
    /* a job deleted and created again under the same name is another job */
    return job != NULL && job->id == run->job_id ? job : NULL;
}

uint64_t fsmJobsGeneration(const struct rc_fsm *f)
{
    return f->jobs_gen;
}

size_t fsmJobCount(const struct rc_fsm *f)
{
    return jobsCount(f->jobs);
}

const Raftcron__Job *fsmJobAt(const struct rc_fsm *f, size_t i)
{
    size_t n;
    Raftcron__Job **jobs = jobsSorted(f->jobs, &n);
    return i < n ? jobs[i] : NULL;
}

size_t fsmJobIndexAfter(const struct rc_fsm *f, const char *ns, const char *name)
{
    return jobsSortedAfter(f->jobs, ns, name);
}

size_t fsmMemberCount(const struct rc_fsm *f)
{
    return f->n_members;
}

uint64_t fsmMemberIdAt(const struct rc_fsm *f, size_t i)
{
    return i < f->n_members ? f->members[i]->id : 0;
}

const char *fsmMemberRpcAddr(const struct rc_fsm *f, uint64_t id)
{
    size_t i = memberSlot(f, id);
    return memberAt(f, i, id) ? f->members[i]->rpc_addr : NULL;
}

const Raftcron__Run *fsmRunGet(const struct rc_fsm *f, uint64_t id)
{
    return runsFind(f->ledger.runs, id);
}

Raftcron__Run *const *fsmJobRuns(const struct rc_fsm *f, uint64_t job_id, size_t *n)
{
    return runsOfJob(f->ledger.runs, job_id, n);
}

Raftcron__Decision *const *fsmJobDecisions(const struct rc_fsm *f, uint64_t job_id, size_t *n)
{
    return runsDecisionsOfJob(f->ledger.runs, job_id, n);
}

void fsmJobActive(const struct rc_fsm *f, uint64_t job_id, int *active, int *queued)
{
    ledgerJobActive(&f->ledger, job_id, active, queued);
}

size_t fsmRunsSelect(const struct rc_fsm *f, uint32_t state_mask, uint64_t worker_id,
                     const Raftcron__Run **out, size_t max)
{
    const struct rc_runs *t = f->ledger.runs;
    /* Asking only for unfinished states (dispatch, load, a worker's runs): jobs without an
     * unfinished run are skipped by their count, so the walk costs O(jobs + unfinished runs),
     * not O(every run kept in history). */
    bool only_unfinished = (state_mask & RC_RUN_FINISHED_MASK) == 0;
    size_t found = 0;
    for (size_t j = 0; j < runsJobCount(t); j++) {
        if (only_unfinished && runsUnfinishedAt(t, j) == 0) {
            continue;
        }
        uint64_t job_id = runsJobIdAt(t, j);
        size_t n;
        Raftcron__Run *const *runs = runsOfJob(t, job_id, &n);
        for (size_t i = 0; i < n; i++) {
            const Raftcron__Run *r = runs[i];
            if ((state_mask & (UINT32_C(1) << r->state)) == 0 ||
                (worker_id != 0 && r->worker_id != worker_id)) {
                continue;
            }
            if (found < max) {
                out[found] = r;
            }
            found++;
        }
    }
    return found;
}

void fsmLedgerStats(const struct rc_fsm *f, struct rc_fsm_ledger_stats *out)
{
    const struct rc_ledger *l = &f->ledger;
    out->runs = runsCount(l->runs);
    out->decisions = runsDecisionCount(l->runs);
    workersAll(l->workers, &out->workers);
    out->run_seq = l->run_seq;
    out->fence_seq = l->fence_seq;
    out->decision_seq = l->decision_seq;
    out->runs_dropped = l->runs_dropped;
    out->decisions_dropped = l->decisions_dropped;
}

const Raftcron__Worker *fsmWorkerGet(const struct rc_fsm *f, uint64_t id)
{
    return workersFind(f->ledger.workers, id);
}

Raftcron__Worker *const *fsmWorkers(const struct rc_fsm *f, size_t *n)
{
    return workersAll(f->ledger.workers, n);
}

/* ---- Validation (RPC layer, before proposing) --------------------------------------------- */

static int checkCron(const Raftcron__Trigger *tr, char *err, size_t errlen)
{
    struct rc_trigger t;
    char why[RC_ERRMSG_SIZE];
    int rv = triggerInitCron(&t, tr->cron, tr->tz, tr->anchor_us, why, sizeof why);
    if (rv == RC_ETZ) {
        return errSet(err, errlen, RC_EINVAL, "trigger.tz: %s", why);
    }
    if (rv != 0) {
        return errSet(err, errlen, RC_EINVAL, "trigger.cron: %s", why);
    }
    return 0;
}

static int checkTrigger(const Raftcron__Trigger *tr, char *err, size_t errlen)
{
    if (tr->kind_case == RAFTCRON__TRIGGER__KIND_CRON) {
        int rv = checkCron(tr, err, errlen);
        if (rv != 0) {
            return rv;
        }
    } else if (tr->tz[0] != '\0') {
        const struct rc_tz *tz;
        char why[RC_ERRMSG_SIZE];
        if (tzGet(tr->tz, &tz, why, sizeof why) != 0) {
            return errSet(err, errlen, RC_EINVAL, "trigger.tz: %s", why);
        }
    }
    if (tr->kind_case == RAFTCRON__TRIGGER__KIND_INTERVAL_US && tr->interval_us <= 0) {
        return errSet(err, errlen, RC_EINVAL, "trigger.interval_us: %lld, must be > 0",
                      (long long)tr->interval_us);
    }
    if (tr->start_us != 0 && tr->end_us != 0 && tr->end_us < tr->start_us) {
        return errSet(err, errlen, RC_EINVAL, "trigger.end_us: before trigger.start_us");
    }
    if (tr->jitter_us < 0) {
        return errSet(err, errlen, RC_EINVAL, "trigger.jitter_us: %lld is negative",
                      (long long)tr->jitter_us);
    }
    if (tr->dst_gap > 1) {
        return errSet(err, errlen, RC_EINVAL, "trigger.dst_gap: %u is not shift (0) or skip (1)",
                      tr->dst_gap);
    }
    if (tr->dst_repeat > 1) {
        return errSet(err, errlen, RC_EINVAL, "trigger.dst_repeat: %u is not once (0) or both (1)",
                      tr->dst_repeat);
    }
    return 0;
}

static int checkPolicy(const Raftcron__Policy *p, char *err, size_t errlen)
{
    if (p == NULL) {
        return 0;
    }
    if (p->overlap > 3) {
        return errSet(err, errlen, RC_EINVAL,
                      "policy.overlap: %u is not allow (0), skip (1), replace (2) or "
                      "queue-one (3)",
                      p->overlap);
    }
    if (p->max_instances > POLICY_MAX_INSTANCES) {
        return errSet(err, errlen, RC_EINVAL, "policy.max_instances: %u, must be 0 (default) to %d",
                      p->max_instances, POLICY_MAX_INSTANCES);
    }
    if (p->history_max > RC_LEDGER_HISTORY_MAX) {
        return errSet(err, errlen, RC_EINVAL, "policy.history_max: %u, must be 0 (default) to %d",
                      p->history_max, RC_LEDGER_HISTORY_MAX);
    }
    if (p->history_age_us < 0) {
        return errSet(err, errlen, RC_EINVAL, "policy.history_age_us: %lld is negative",
                      (long long)p->history_age_us);
    }
    return 0;
}

static int checkRetry(const Raftcron__RetryPolicy *r, char *err, size_t errlen)
{
    if (r == NULL) {
        return 0;
    }
    if (r->max_attempts > RETRY_MAX_ATTEMPTS) {
        return errSet(err, errlen, RC_EINVAL, "retry.max_attempts: %u, must be at most %d",
                      r->max_attempts, RETRY_MAX_ATTEMPTS);
    }
    if (r->backoff > 2) {
        return errSet(err, errlen, RC_EINVAL,
                      "retry.backoff: %u is not fixed (0), linear (1) or exponential (2)",
                      r->backoff);
    }
    if (r->delay_us < 0 || r->max_delay_us < 0 || r->jitter_us < 0) {
        return errSet(err, errlen, RC_EINVAL, "retry.%s: negative",
                      r->delay_us < 0 ? "delay_us"
                                      : (r->max_delay_us < 0 ? "max_delay_us" : "jitter_us"));
    }
    if (!isfinite(r->multiplier) || (r->multiplier != 0 && r->multiplier < 1)) {
        return errSet(err, errlen, RC_EINVAL, "retry.multiplier: must be 0 (default) or >= 1");
    }
    return 0;
}

static int checkExecutor(const Raftcron__Executor *e, char *err, size_t errlen)
{
    switch (e->kind_case) {
    case RAFTCRON__EXECUTOR__KIND_SHELL:
        if (e->shell == NULL || (e->shell->command[0] == '\0' &&
                                 (e->shell->n_argv == 0 || e->shell->argv[0][0] == '\0'))) {
            return errSet(err, errlen, RC_EINVAL, "executor.shell.command: empty (and no argv)");
        }
        if (e->shell->rlimits[0] != '\0') {
            struct execpolicy_rlimits lim;
            char why[RC_ERRMSG_SIZE];
            if (execpolicyRlimitsParse(e->shell->rlimits, &lim, why, sizeof why) != 0) {
                return errSet(err, errlen, RC_EINVAL, "executor.shell.rlimits: %s", why);
            }
        }
        return 0;
    case RAFTCRON__EXECUTOR__KIND_HTTP:
    case RAFTCRON__EXECUTOR__KIND_SQL:
        return execspecCheck(e, err, errlen);
    case RAFTCRON__EXECUTOR__KIND_NOOP:
        return 0;
    default:
        return errSet(err, errlen, RC_EINVAL,
                      "executor: kind not set (one of shell, http, sql, noop)");
    }
}

int fsmValidateSpec(const Raftcron__JobSpec *spec, char *err, size_t errlen)
{
    int rv = checkShape(spec, err, errlen);
    if (rv == 0) {
        rv = checkTrigger(spec->trigger, err, errlen);
    }
    if (rv == 0) {
        rv = checkPolicy(spec->policy, err, errlen);
    }
    if (rv == 0) {
        rv = checkRetry(spec->retry, err, errlen);
    }
    if (rv == 0) {
        rv = checkExecutor(spec->executor, err, errlen);
    }
    if (rv == 0 && spec->timeout_us < 0) {
        rv = errSet(err, errlen, RC_EINVAL, "timeout_us: %lld is negative",
                    (long long)spec->timeout_us);
    }
    return rv;
}

void fsmExportState(const struct rc_fsm *f, uint64_t *position, uint64_t *last, bool *gate)
{
    *position = f->ledger.export_position;
    *last = f->ledger.export_seq;
    *gate = f->ledger.export_gate;
}

static int cmpExportSeq(const void *a, const void *b)
{
    uint64_t x = (*(const Raftcron__Run *const *)a)->export_seq;
    uint64_t y = (*(const Raftcron__Run *const *)b)->export_seq;
    return (x > y) - (x < y);
}

size_t fsmExportPending(const struct rc_fsm *f, uint64_t after, const Raftcron__Run **out,
                        size_t max)
{
    const struct rc_runs *t = f->ledger.runs;
    size_t found = 0;
    uint64_t worst = 0; /* the highest export_seq in out once it is full */
    for (size_t i = 0; i < runsJobCount(t) && max > 0; i++) {
        size_t n;
        Raftcron__Run *const *runs = runsOfJob(t, runsJobIdAt(t, i), &n);
        for (size_t k = 0; k < n; k++) {
            const Raftcron__Run *r = runs[k];
            if (r->export_seq <= after || !runsStateFinished(r->state)) {
                continue;
            }
            if (found < max) {
                out[found++] = r;
                if (found == max) {
                    qsort(out, found, sizeof *out, cmpExportSeq);
                    worst = out[found - 1]->export_seq;
                }
                continue;
            }
            if (r->export_seq >= worst) {
                continue;
            }
            /* Replace the highest and keep out sorted: insertion from the end. */
            size_t j = found - 1;
            while (j > 0 && out[j - 1]->export_seq > r->export_seq) {
                out[j] = out[j - 1];
                j--;
            }
            out[j] = r;
            worst = out[found - 1]->export_seq;
        }
    }
    if (found < max && found > 1) {
        qsort(out, found, sizeof *out, cmpExportSeq);
    }
    return found;
}
