/*
 * Fuzz the FSM's two inputs from the outside world: log entries (fsmApply) and snapshots
 * (fsmRestore). Apply must never fail or crash on arbitrary bytes, and these invariants hold:
 *   - res.changed is true exactly when the state (its digest) changed;
 *   - a refused entry (res.code != 0) changes nothing, except a FireBatch whose other items
 *     were recorded (res.items_applied > 0);
 *   - fences and run ids never decrease; the ledger's invariants hold (fsmRunGet finds every
 *     run of every job, states are known);
 *   - snapshot -> restore reproduces the state (equal digest and bytes);
 *   - a refused restore leaves the FSM as it was; an accepted one is a fixed point of
 *     snapshot -> restore.
 * The input is tried as a snapshot twice: as is, and sealed with a valid checksum trailer so
 * that the decoding and validation behind the trailer check are reached. It is also read as a
 * backup file (core/backup.h), with a valid header put before the sealed bytes: a backup that
 * decodes seeds a state that restores (backupSeed's output is a valid snapshot).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/backup.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "core/runs.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void applyOk(struct rc_fsm *f, uint64_t index, void *buf, size_t len)
{
    struct rc_fsm_result res;
    CHECK(fsmApply(f, index, buf, len, &res) == 0);
    CHECK(res.code == 0);
    free(buf);
}

static void putJob(struct rc_fsm *f, uint64_t index, const char *ns, const char *name,
                   const char *cron, bool paused)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger trigger = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor executor = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec shell = RAFTCRON__SHELL_EXEC__INIT;
    spec.namespace_ = (char *)ns;
    spec.name = (char *)name;
    trigger.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    trigger.cron = (char *)cron;
    shell.command = "true";
    executor.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    executor.shell = &shell;
    spec.trigger = &trigger;
    spec.executor = &executor;
    void *buf;
    size_t len;
    CHECK(commandEncodeJobPut(&spec, 0, false, paused, 1000 + (int64_t)index, &buf, &len) == 0);
    applyOk(f, index, buf, len);
}

static void applyEncoded(struct rc_fsm *f, uint64_t index, int rv, void *buf, size_t len)
{
    CHECK(rv == 0);
    applyOk(f, index, buf, len);
}

/* Runs 1-4 of job default/a: PENDING, ASSIGNED (fence 1, worker 1), RUNNING (fence 2, worker
 * 2) and FAILED (fence 3), so that run commands with small ids and fences reach every path. */
static void prefillLedger(struct rc_fsm *f)
{
    void *buf;
    size_t len;
    Raftcron__Worker w = RAFTCRON__WORKER__INIT;
    w.address = "w:7002";
    for (uint64_t id = 1; id <= 2; id++) {
        w.id = id;
        applyEncoded(f, 5 + id, commandEncodeWorkerUp(&w, 2000, &buf, &len), buf, len);
    }
    Raftcron__FireItem items[4];
    Raftcron__FireItem *ptrs[4];
    for (int i = 0; i < 4; i++) {
        Raftcron__FireItem it = RAFTCRON__FIRE_ITEM__INIT;
        it.name = "a";
        it.job_version = 1;
        it.first_us = it.last_us = it.start_at_us = 5000 + i;
        it.count = 1;
        it.decision = 1;
        items[i] = it;
        ptrs[i] = &items[i];
    }
    applyEncoded(f, 8, commandEncodeFireBatch(5000, ptrs, 4, &buf, &len), buf, len);
    applyEncoded(f, 9, commandEncodeRunAssign(2, 0, 1, 5001, &buf, &len), buf, len);
    applyEncoded(f, 10, commandEncodeRunAssign(3, 0, 2, 5001, &buf, &len), buf, len);
    applyEncoded(f, 11, commandEncodeRunStarted(3, 2, 5002, &buf, &len), buf, len);
    applyEncoded(f, 12, commandEncodeRunAssign(4, 0, 2, 5001, &buf, &len), buf, len);
    applyEncoded(f, 13, commandEncodeRunStarted(4, 3, 5002, &buf, &len), buf, len);
    applyEncoded(f, 14, commandEncodeRunFinished(4, 3, RC_RUN_FAILED, NULL, 5003, &buf, &len), buf,
                 len);
}

static void checkLedger(const struct rc_fsm *f)
{
    struct rc_fsm_ledger_stats st;
    fsmLedgerStats(f, &st);
    size_t total = 0;
    for (size_t j = 0; j < fsmJobCount(f); j++) {
        size_t n;
        Raftcron__Run *const *runs = fsmJobRuns(f, fsmJobAt(f, j)->id, &n);
        for (size_t i = 0; i < n; i++) {
            CHECK(fsmRunGet(f, runs[i]->id) == runs[i]);
            CHECK(runsStateValid(runs[i]->state));
            CHECK(runs[i]->fence <= st.fence_seq && runs[i]->id <= st.run_seq);
        }
        total += n;
    }
    CHECK(total == st.runs);
}

/* A few jobs, members, workers and runs, so that inputs naming them reach the update paths. */
static struct rc_fsm *prefilled(void)
{
    struct rc_fsm *f;
    CHECK(fsmCreate(&f) == 0);
    putJob(f, 1, "", "a", "*/5 * * * *", false);
    putJob(f, 2, "", "b", "@hourly", true);
    putJob(f, 3, "ns1", "c", "0 3 * * *", false);
    void *buf;
    size_t len;
    CHECK(commandEncodeMemberSet(1, "h1:7001", false, &buf, &len) == 0);
    applyOk(f, 4, buf, len);
    CHECK(commandEncodeMemberSet(2, "h2:7001", false, &buf, &len) == 0);
    applyOk(f, 5, buf, len);
    prefillLedger(f);
    return f;
}

/* snapshot -> restore into a fresh FSM gives the same digest and the same bytes. */
static void checkRoundTrip(const struct rc_fsm *f)
{
    void *a;
    size_t alen;
    CHECK(fsmSnapshot(f, &a, &alen) == 0);
    struct rc_fsm *g;
    CHECK(fsmCreate(&g) == 0);
    char err[RC_ERRMSG_SIZE];
    CHECK(fsmRestore(g, 7, a, alen, err, sizeof err) == 0);
    CHECK(fsmDigest(g) == fsmDigest(f));
    void *b;
    size_t blen;
    CHECK(fsmSnapshot(g, &b, &blen) == 0);
    CHECK(alen == blen && memcmp(a, b, alen) == 0);
    free(b);
    free(a);
    fsmDestroy(g);
}

static void fuzzApply(const uint8_t *data, size_t size)
{
    struct rc_fsm *f = prefilled();
    uint64_t before = fsmDigest(f);
    struct rc_fsm_ledger_stats s0;
    fsmLedgerStats(f, &s0);
    struct rc_fsm_result res;
    CHECK(fsmApply(f, 20, data, size, &res) == 0);
    CHECK(fsmAppliedIndex(f) == 20);
    CHECK(res.code == 0 || !res.changed || res.items_applied > 0);
    CHECK(res.changed == (fsmDigest(f) != before));
    CHECK(strlen(res.message) < sizeof res.message);
    struct rc_fsm_ledger_stats s1;
    fsmLedgerStats(f, &s1);
    CHECK(s1.fence_seq >= s0.fence_seq && s1.run_seq >= s0.run_seq);
    CHECK(res.fence == 0 || res.fence == s1.fence_seq);
    checkLedger(f);
    checkRoundTrip(f);
    fsmDestroy(f);
}

static void fuzzRestore(const uint8_t *data, size_t size)
{
    struct rc_fsm *f = prefilled();
    uint64_t before = fsmDigest(f);
    char err[RC_ERRMSG_SIZE];
    int rv = fsmRestore(f, 99, data, size, err, sizeof err);
    if (rv != 0) {
        CHECK(rv == RC_ECORRUPT || rv == RC_EPARSE);
        CHECK(fsmDigest(f) == before);
        CHECK(fsmAppliedIndex(f) == 14);
    } else {
        CHECK(fsmAppliedIndex(f) == 99);
        checkLedger(f);
        checkRoundTrip(f);
    }
    fsmDestroy(f);
}

static void fuzzBackup(const uint8_t *data, size_t size)
{
    struct rc_backup_info info;
    const uint8_t *snap;
    char err[RC_ERRMSG_SIZE];
    if (backupDecode(data, size, &info, &snap, err, sizeof err) != 0) {
        return;
    }
    CHECK(snap == data + RC_BACKUP_HEADER_LEN && info.snapshot_len == size - RC_BACKUP_HEADER_LEN);
    void *seed;
    size_t seed_len;
    uint64_t index;
    struct rc_backup_summary sum;
    if (backupSeed(snap, info.snapshot_len, info.index, &seed, &seed_len, &index, &sum, err,
                   sizeof err) != 0) {
        return;
    }
    struct rc_fsm *f;
    CHECK(fsmCreate(&f) == 0);
    CHECK(fsmRestore(f, index, seed, seed_len, err, sizeof err) == 0);
    CHECK(fsmMemberCount(f) == 0 && fsmJobCount(f) == sum.jobs);
    fsmDestroy(f);
    free(seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzzApply(data, size);
    fuzzRestore(data, size);
    fuzzBackup(data, size);
    void *sealed;
    size_t sealed_len;
    CHECK(fsmSnapshotSeal(data, size, &sealed, &sealed_len) == 0);
    fuzzRestore(sealed, sealed_len);
    /* The sealed bytes behind a valid header. */
    struct rc_backup_info info = {.index = 1 + (size > 0 ? data[0] : 0),
                                  .snapshot_len = sealed_len};
    uint8_t *file = malloc(RC_BACKUP_HEADER_LEN + sealed_len);
    CHECK(file != NULL);
    backupHeaderEncode(&info, file);
    memcpy(file + RC_BACKUP_HEADER_LEN, sealed, sealed_len);
    fuzzBackup(file, RC_BACKUP_HEADER_LEN + sealed_len);
    free(file);
    free(sealed);
    return 0;
}
