/* Backup files (core/backup.h): the header round trip, every refusal of a damaged or foreign
 * file with its offset, and the seed a restore starts from (checked state, old members
 * forgotten, index advanced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/backup.h"
#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "fixture_fsm.h"

#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static void addJob(struct fx *x, const char *name)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    spec.name = (char *)name;
    tr.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    tr.interval_us = 60000000;
    sh.command = "true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.trigger = &tr;
    spec.executor = &ex;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(&spec, 0, false, false, T0, &buf, &len), 0);
    struct rc_fsm_result res = fxApply(x, buf, len);
    fxExpectOk(&res);
}

static void addMember(struct fx *x, uint64_t id, const char *addr)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeMemberSet(id, addr, false, &buf, &len), 0);
    struct rc_fsm_result res = fxApply(x, buf, len);
    fxExpectOk(&res);
}

/* A whole backup file of x's state: header, then the sealed snapshot. */
static uint8_t *backupOf(struct fx *x, size_t *len)
{
    void *snap;
    size_t snap_len;
    assert_int_equal(fsmSnapshot(x->f, &snap, &snap_len), 0);
    struct rc_backup_info info = {.index = fsmAppliedIndex(x->f),
                                  .term = 3,
                                  .cluster_id = UINT64_C(0x3f9a61c0d2b7e845),
                                  .node_id = 2,
                                  .taken_us = T0,
                                  .snapshot_len = snap_len};
    uint8_t *file = malloc(RC_BACKUP_HEADER_LEN + snap_len);
    assert_non_null(file);
    backupHeaderEncode(&info, file);
    memcpy(file + RC_BACKUP_HEADER_LEN, snap, snap_len);
    free(snap);
    *len = RC_BACKUP_HEADER_LEN + snap_len;
    return file;
}

static void expectRefused(const uint8_t *buf, size_t len, int code, const char *needle)
{
    struct rc_backup_info info;
    const uint8_t *snap;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = backupDecode(buf, len, &info, &snap, err, sizeof err);
    if (rv != code || strstr(err, needle) == NULL) {
        fail_msg("want %s \"%s\", got %s \"%s\"", rc_errname(code), needle, rc_errname(rv), err);
    }
}

static void test_header_round_trip(void **state)
{
    struct fx *x = *state;
    addJob(x, "a");
    size_t len;
    uint8_t *file = backupOf(x, &len);
    struct rc_backup_info info;
    const uint8_t *snap;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(backupDecode(file, len, &info, &snap, err, sizeof err), 0);
    assert_memory_equal(file, "RCBACKUP", 8);
    assert_int_equal(info.format, RC_BACKUP_FORMAT);
    assert_int_equal(info.snapshot_format, fsmSnapshotFormat());
    assert_int_equal(info.index, 1);
    assert_int_equal(info.term, 3);
    assert_true(info.cluster_id == UINT64_C(0x3f9a61c0d2b7e845));
    assert_int_equal(info.node_id, 2);
    assert_true(info.taken_us == T0);
    assert_int_equal(info.snapshot_len, len - RC_BACKUP_HEADER_LEN);
    assert_ptr_equal(snap, file + RC_BACKUP_HEADER_LEN);
    free(file);
}

static void test_refusals(void **state)
{
    struct fx *x = *state;
    addJob(x, "a");
    size_t len;
    uint8_t *file = backupOf(x, &len);
    expectRefused(file, 0, RC_EPARSE, "not a raftcron backup");
    expectRefused((const uint8_t *)"RCF1....", 8, RC_EPARSE, "not a raftcron backup");
    expectRefused(file, 40, RC_EPARSE, "backup header cut short: 40 of 64 bytes");
    expectRefused(file, len - 1, RC_EPARSE, "the file is cut short or has bytes appended");
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, file, len);
    longer[len] = 0;
    expectRefused(longer, len + 1, RC_EPARSE, "(offset 56) says");
    free(longer);
    file[11] = RC_BACKUP_FORMAT + 1; /* u32 big-endian at offset 8 */
    expectRefused(file, len, RC_ECORRUPT,
                  "backup file format 2 at offset 8: this version reads "
                  "format 1 (written by a newer raftcron)");
    file[11] = RC_BACKUP_FORMAT;
    memset(file + 16, 0, 8);
    expectRefused(file, len, RC_ECORRUPT, "applied index 0 (offset 16)");
    free(file);
}

static void test_seed(void **state)
{
    struct fx *x = *state;
    addJob(x, "a");
    addJob(x, "b");
    addMember(x, 1, "10.0.0.1:7101");
    addMember(x, 3, "10.0.0.3:7101");
    size_t len;
    uint8_t *file = backupOf(x, &len);
    struct rc_backup_info info;
    const uint8_t *snap;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(backupDecode(file, len, &info, &snap, err, sizeof err), 0);
    void *seed;
    size_t seed_len;
    uint64_t index;
    struct rc_backup_summary sum;
    assert_int_equal(backupSeed(snap, info.snapshot_len, info.index, &seed, &seed_len, &index, &sum,
                                err, sizeof err),
                     0);
    assert_int_equal(sum.jobs, 2);
    assert_int_equal(sum.members_forgotten, 2);
    assert_int_equal(index, info.index + 2);
    /* The seed restores: the jobs are there, the old members' addresses are not. */
    struct rc_fsm *f;
    assert_int_equal(fsmCreate(&f), 0);
    assert_int_equal(fsmRestore(f, index, seed, seed_len, err, sizeof err), 0);
    assert_non_null(fsmJobGet(f, "", "a"));
    assert_non_null(fsmJobGet(f, "", "b"));
    assert_int_equal(fsmMemberCount(f), 0);
    assert_null(fsmMemberRpcAddr(f, 1));
    fsmDestroy(f);
    free(seed);

    /* A damaged snapshot is refused with fsmRestore's reason, and nothing is made. */
    file[len - 3] ^= 0x40;
    seed = NULL;
    int rv = backupSeed(snap, info.snapshot_len, info.index, &seed, &seed_len, &index, &sum, err,
                        sizeof err);
    assert_int_equal(rv, RC_ECORRUPT);
    assert_non_null(strstr(err, "checksum trailer missing or wrong"));
    assert_null(seed);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_round_trip, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_refusals, fxSetup, fxTeardown),
        cmocka_unit_test_setup_teardown(test_seed, fxSetup, fxTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
