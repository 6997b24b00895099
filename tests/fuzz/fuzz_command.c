/*
 * Fuzz the FSM's two inputs from the outside world: log entries (fsmApply) and snapshots
 * (fsmRestore). Apply must never fail or crash on arbitrary bytes, and these invariants hold:
 *   - res.changed is true exactly when the state (its digest) changed;
 *   - a refused entry (res.code != 0) changes nothing;
 *   - snapshot -> restore reproduces the state (equal digest and bytes);
 *   - a refused restore leaves the FSM as it was; an accepted one is a fixed point of
 *     snapshot -> restore.
 * The input is tried as a snapshot twice: as is, and sealed with a valid checksum trailer so
 * that the decoding and validation behind the trailer check are reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

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

/* A few jobs and members, so that inputs naming them reach the update paths. */
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
    struct rc_fsm_result res;
    CHECK(fsmApply(f, 6, data, size, &res) == 0);
    CHECK(fsmAppliedIndex(f) == 6);
    CHECK(res.code == 0 || !res.changed);
    CHECK(res.changed == (fsmDigest(f) != before));
    CHECK(strlen(res.message) < sizeof res.message);
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
        CHECK(fsmAppliedIndex(f) == 5);
    } else {
        CHECK(fsmAppliedIndex(f) == 99);
        checkRoundTrip(f);
    }
    fsmDestroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzzApply(data, size);
    fuzzRestore(data, size);
    void *sealed;
    size_t sealed_len;
    CHECK(fsmSnapshotSeal(data, size, &sealed, &sealed_len) == 0);
    fuzzRestore(sealed, sealed_len);
    free(sealed);
    return 0;
}
