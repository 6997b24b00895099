#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"

#define T0  INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC INT64_C(1000000)

/* ---- Helpers ------------------------------------------------------------------------------ */

struct spec_buf {
    Raftcron__JobSpec spec;
    Raftcron__Trigger trigger;
    Raftcron__Executor executor;
    Raftcron__ShellExec shell;
};

static Raftcron__JobSpec *specMake(struct spec_buf *b, const char *ns, const char *name,
                                   const char *cron, const char *command)
{
    raftcron__job_spec__init(&b->spec);
    raftcron__trigger__init(&b->trigger);
    raftcron__executor__init(&b->executor);
    raftcron__shell_exec__init(&b->shell);
    b->spec.namespace_ = (char *)ns;
    b->spec.name = (char *)name;
    b->trigger.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    b->trigger.cron = (char *)cron;
    b->shell.command = (char *)command;
    b->executor.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    b->executor.shell = &b->shell;
    b->spec.trigger = &b->trigger;
    b->spec.executor = &b->executor;
    return &b->spec;
}

struct fixture {
    struct rc_fsm *f;
    uint64_t index;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(fsmCreate(&fx->f), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    fsmDestroy(fx->f);
    free(fx);
    return 0;
}

/* Apply an encoded entry at the next index; apply itself must succeed. */
static struct rc_fsm_result applyBuf(struct fixture *fx, void *buf, size_t len)
{
    struct rc_fsm_result res;
    memset(&res, 0xAB, sizeof res);
    assert_int_equal(fsmApply(fx->f, ++fx->index, buf, len, &res), 0);
    assert_int_equal(fsmAppliedIndex(fx->f), fx->index);
    free(buf);
    return res;
}

static struct rc_fsm_result putEx(struct fixture *fx, const Raftcron__JobSpec *spec,
                                  uint64_t expected, bool create_only, bool paused, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(spec, expected, create_only, paused, now, &buf, &len), 0);
    return applyBuf(fx, buf, len);
}

static struct rc_fsm_result put(struct fixture *fx, const char *ns, const char *name,
                                const char *cron, const char *command, int64_t now)
{
    struct spec_buf b;
    return putEx(fx, specMake(&b, ns, name, cron, command), 0, false, false, now);
}

typedef int (*ref_encoder)(const char *, const char *, uint64_t, int64_t, void **, size_t *);

static struct rc_fsm_result ref(struct fixture *fx, ref_encoder enc, const char *ns,
                                const char *name, uint64_t expected, int64_t now)
{
    void *buf;
    size_t len;
    assert_int_equal(enc(ns, name, expected, now, &buf, &len), 0);
    return applyBuf(fx, buf, len);
}

static struct rc_fsm_result member(struct fixture *fx, uint64_t id, const char *addr, bool remove)
{
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeMemberSet(id, addr, remove, &buf, &len), 0);
    return applyBuf(fx, buf, len);
}

static struct rc_fsm_result applyRaw(struct fixture *fx, const void *bytes, size_t len)
{
    void *buf = malloc(len > 0 ? len : 1);
    assert_non_null(buf);
    memcpy(buf, bytes, len);
    return applyBuf(fx, buf, len);
}

static void assertOk(const struct rc_fsm_result *res)
{
    if (res->code != 0) {
        fail_msg("expected success, got %s: %s", rc_errname(res->code), res->message);
    }
}

static void ok(struct rc_fsm_result res)
{
    assertOk(&res);
}

static void assertRefused(const struct rc_fsm_result *res, int code, const char *needle)
{
    if (res->code != code) {
        fail_msg("expected %s, got %s: %s", rc_errname(code), rc_errname(res->code), res->message);
    }
    assert_false(res->changed);
    assert_false(res->created);
    if (strstr(res->message, needle) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", res->message, needle);
    }
}

static void snapshotOf(struct rc_fsm *f, void **buf, size_t *len)
{
    assert_int_equal(fsmSnapshot(f, buf, len), 0);
}

/* ---- JobPut ------------------------------------------------------------------------------- */

static void test_create(void **state)
{
    struct fixture *fx = *state;
    struct rc_fsm_result r = put(fx, "", "backup", "0 3 * * *", "backup.sh", T0);
    assertOk(&r);
    assert_true(r.created);
    assert_true(r.changed);
    assert_int_equal(r.job_id, 1);
    assert_int_equal(r.version, 1);
    assert_string_equal(r.message, "");

    const Raftcron__Job *j = fsmJobGet(fx->f, "", "backup");
    assert_non_null(j);
    assert_ptr_equal(j, fsmJobGet(fx->f, "default", "backup"));
    assert_ptr_equal(j, fsmJobGet(fx->f, NULL, "backup"));
    assert_string_equal(j->spec->namespace_, "default");
    assert_string_equal(j->spec->name, "backup");
    assert_string_equal(j->spec->trigger->cron, "0 3 * * *");
    assert_string_equal(j->spec->executor->shell->command, "backup.sh");
    assert_int_equal(j->id, 1);
    assert_int_equal(j->version, 1);
    assert_int_equal(j->created_us, T0);
    assert_int_equal(j->updated_us, T0);
    assert_int_equal(j->cursor_us, T0);
    assert_false(j->paused);
    assert_int_equal(j->paused_us, 0);

    r = put(fx, "team-a", "backup", "0 3 * * *", "backup.sh", T0 + SEC);
    assertOk(&r);
    assert_true(r.created);
    assert_int_equal(r.job_id, 2);
    assert_int_equal(fsmJobCount(fx->f), 2);
    assert_null(fsmJobGet(fx->f, "team-b", "backup"));
    assert_null(fsmJobGet(fx->f, "", "restore"));
}

static void test_create_paused(void **state)
{
    struct fixture *fx = *state;
    struct spec_buf b;
    struct rc_fsm_result r =
        putEx(fx, specMake(&b, "", "p", "* * * * *", "true"), 0, false, true, T0 + 5);
    assertOk(&r);
    const Raftcron__Job *j = fsmJobGet(fx->f, "", "p");
    assert_true(j->paused);
    assert_int_equal(j->paused_us, T0 + 5);
    assert_int_equal(j->version, 1);
}

static void test_update_identical(void **state)
{
    struct fixture *fx = *state;
    ok(put(fx, "", "x", "*/5 * * * *", "a", T0));
    uint64_t digest = fsmDigest(fx->f);

    /* Same spec, "default" spelled out, later clock: nothing changes. */
    struct rc_fsm_result r = put(fx, "default", "x", "*/5 * * * *", "a", T0 + 60 * SEC);
    assertOk(&r);
    assert_false(r.changed);
    assert_false(r.created);
    assert_int_equal(r.job_id, 1);
    assert_int_equal(r.version, 1);
    assert_int_equal(fsmJobGet(fx->f, "", "x")->updated_us, T0);
    assert_int_equal(fsmDigest(fx->f), digest);

    /* Identical, paused flag set: paused only applies on create. */
    struct spec_buf b;
    r = putEx(fx, specMake(&b, "", "x", "*/5 * * * *", "a"), 1, false, true, T0 + 61 * SEC);
    assertOk(&r);
    assert_false(r.changed);
    assert_false(fsmJobGet(fx->f, "", "x")->paused);
}

static void test_update_keeps_cursor(void **state)
{
    struct fixture *fx = *state;
    ok(put(fx, "", "x", "*/5 * * * *", "a", T0));
    struct rc_fsm_result r = put(fx, "", "x", "*/5 * * * *", "b", T0 + 10 * SEC);
    assertOk(&r);
    assert_true(r.changed);
    assert_false(r.created);
    assert_int_equal(r.version, 2);
    const Raftcron__Job *j = fsmJobGet(fx->f, "", "x");
    assert_int_equal(j->version, 2);
    assert_int_equal(j->updated_us, T0 + 10 * SEC);
    assert_int_equal(j->created_us, T0);
    assert_int_equal(j->cursor_us, T0);
    assert_string_equal(j->spec->executor->shell->command, "b");
}

static void test_update_trigger_resets_cursor(void **state)
{
    struct fixture *fx = *state;
    ok(put(fx, "", "x", "*/5 * * * *", "a", T0));
    struct rc_fsm_result r = put(fx, "", "x", "*/10 * * * *", "a", T0 + 10 * SEC);
    assertOk(&r);
    assert_true(r.changed);
    const Raftcron__Job *j = fsmJobGet(fx->f, "", "x");
    assert_int_equal(j->version, 2);
    assert_int_equal(j->cursor_us, T0 + 10 * SEC);
    assert_string_equal(j->spec->trigger->cron, "*/10 * * * *");
}

static void test_create_only(void **state)
{
    struct fixture *fx = *state;
    struct spec_buf b;
    struct rc_fsm_result r = putEx(fx, specMake(&b, "", "x", "* * * * *", "a"), 0, true, false, T0);
    assertOk(&r);
    assert_true(r.created);
    uint64_t digest = fsmDigest(fx->f);
    r = putEx(fx, specMake(&b, "", "x", "* * * * *", "other"), 0, true, false, T0 + SEC);
    assertRefused(&r, RC_EEXISTS, "job default/x already exists");
    assert_int_equal(r.job_id, 1);
    assert_int_equal(r.version, 1);
    assert_int_equal(fsmDigest(fx->f), digest);
    assert_string_equal(fsmJobGet(fx->f, "", "x")->spec->executor->shell->command, "a");
}

static void test_cas(void **state)
{
    struct fixture *fx = *state;
    struct spec_buf b;
    /* Expected version on an absent job. */
    struct rc_fsm_result r =
        putEx(fx, specMake(&b, "", "x", "* * * * *", "a"), 2, false, false, T0);
    assertRefused(&r, RC_ENOTFOUND, "job default/x not found");
    assert_int_equal(fsmJobCount(fx->f), 0);

    ok(put(fx, "", "x", "* * * * *", "a", T0));
    r = putEx(fx, specMake(&b, "", "x", "* * * * *", "b"), 1, false, false, T0 + 1);
    assertOk(&r);
    assert_int_equal(r.version, 2);
    r = putEx(fx, specMake(&b, "", "x", "* * * * *", "c"), 2, false, false, T0 + 2);
    assertOk(&r);
    assert_int_equal(r.version, 3);

    uint64_t digest = fsmDigest(fx->f);
    r = putEx(fx, specMake(&b, "", "x", "* * * * *", "d"), 2, false, false, T0 + 3);
    assertRefused(&r, RC_ESTALE, "");
    assert_string_equal(r.message, "job default/x is at version 3, expected 2");
    assert_int_equal(r.version, 3);
    assert_int_equal(fsmDigest(fx->f), digest);
    assert_string_equal(fsmJobGet(fx->f, "", "x")->spec->executor->shell->command, "c");
}

static void test_put_invalid(void **state)
{
    struct fixture *fx = *state;
    struct spec_buf b;
    char long_name[130];
    memset(long_name, 'n', 129);
    long_name[129] = '\0';
    char long_ns[66];
    memset(long_ns, 's', 65);
    long_ns[65] = '\0';

    struct rc_fsm_result r = put(fx, "", "bad name", "* * * * *", "a", T0);
    assertRefused(&r, RC_EINVAL, "job name: character 0x20 at offset 3");
    r = put(fx, "", "", "* * * * *", "a", T0);
    assertRefused(&r, RC_EINVAL, "job name: 0 characters, must be 1-128");
    r = put(fx, "", long_name, "* * * * *", "a", T0);
    assertRefused(&r, RC_EINVAL, "job name: 129 characters");
    long_name[128] = '\0';
    ok(put(fx, "", long_name, "* * * * *", "a", T0));
    r = put(fx, long_ns, "x", "* * * * *", "a", T0);
    assertRefused(&r, RC_EINVAL, "job namespace: 65 characters, must be 1-64");
    r = put(fx, "a/b", "x", "* * * * *", "a", T0);
    assertRefused(&r, RC_EINVAL, "job namespace: character 0x2f");

    Raftcron__JobSpec *spec = specMake(&b, "", "x", "* * * * *", "a");
    b.trigger.kind_case = RAFTCRON__TRIGGER__KIND__NOT_SET;
    r = putEx(fx, spec, 0, false, false, T0);
    assertRefused(&r, RC_EINVAL, "trigger: kind not set");
    spec = specMake(&b, "", "x", "* * * * *", "a");
    spec->trigger = NULL;
    r = putEx(fx, spec, 0, false, false, T0);
    assertRefused(&r, RC_EINVAL, "trigger: kind not set");
    spec = specMake(&b, "", "x", "* * * * *", "a");
    spec->executor = NULL;
    r = putEx(fx, spec, 0, false, false, T0);
    assertRefused(&r, RC_EINVAL, "executor: kind not set");

    /* A JobPut without a spec cannot be built by the encoder: build it by hand. */
    Raftcron__JobPut jp = RAFTCRON__JOB_PUT__INIT;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = RAFTCRON__COMMAND__CMD_JOB_PUT;
    cmd.job_put = &jp;
    void *buf;
    size_t len;
    assert_int_equal(commandPack(&cmd.base, &buf, &len), 0);
    r = applyBuf(fx, buf, len);
    assertRefused(&r, RC_EINVAL, "spec: missing");
    assert_int_equal(commandEncodeJobPut(NULL, 0, false, false, T0, &buf, &len), RC_EINVAL);

    /* Only the 128-character name got in. */
    assert_int_equal(fsmJobCount(fx->f), 1);
    assert_int_equal(fsmAppliedIndex(fx->f), fx->index);
}

/* ---- JobRef ------------------------------------------------------------------------------- */

static void test_delete(void **state)
{
    struct fixture *fx = *state;
    struct rc_fsm_result r = ref(fx, commandEncodeJobDelete, "", "x", 0, T0);
    assertRefused(&r, RC_ENOTFOUND, "job default/x not found");

    ok(put(fx, "", "x", "* * * * *", "a", T0));
    ok(put(fx, "", "x", "* * * * *", "b", T0));
    r = ref(fx, commandEncodeJobDelete, "", "x", 1, T0);
    assertRefused(&r, RC_ESTALE, "job default/x is at version 2, expected 1");
    assert_non_null(fsmJobGet(fx->f, "", "x"));
    r = ref(fx, commandEncodeJobDelete, "", "bad/name", 0, T0);
    assertRefused(&r, RC_EINVAL, "job name");

    r = ref(fx, commandEncodeJobDelete, "default", "x", 2, T0);
    assertOk(&r);
    assert_true(r.changed);
    assert_int_equal(r.job_id, 1);
    assert_int_equal(r.version, 0);
    assert_null(fsmJobGet(fx->f, "", "x"));
    assert_int_equal(fsmJobCount(fx->f), 0);

    r = ref(fx, commandEncodeJobDelete, "", "x", 0, T0);
    assertRefused(&r, RC_ENOTFOUND, "not found");

    /* Ids are never reused. */
    r = put(fx, "", "x", "* * * * *", "a", T0);
    assertOk(&r);
    assert_true(r.created);
    assert_int_equal(r.job_id, 2);
    assert_int_equal(r.version, 1);
}

static void test_pause_resume(void **state)
{
    struct fixture *fx = *state;
    struct rc_fsm_result r = ref(fx, commandEncodeJobPause, "", "x", 0, T0);
    assertRefused(&r, RC_ENOTFOUND, "job default/x not found");
    r = ref(fx, commandEncodeJobResume, "", "x", 0, T0);
    assertRefused(&r, RC_ENOTFOUND, "job default/x not found");

    ok(put(fx, "", "x", "* * * * *", "a", T0));
    r = ref(fx, commandEncodeJobResume, "", "x", 0, T0 + SEC);
    assertOk(&r);
    assert_false(r.changed);
    assert_int_equal(r.version, 1);

    r = ref(fx, commandEncodeJobPause, "", "x", 2, T0 + 10 * SEC);
    assertRefused(&r, RC_ESTALE, "is at version 1, expected 2");
    r = ref(fx, commandEncodeJobPause, "", "x", 1, T0 + 10 * SEC);
    assertOk(&r);
    assert_true(r.changed);
    assert_int_equal(r.version, 2);
    const Raftcron__Job *j = fsmJobGet(fx->f, "", "x");
    assert_true(j->paused);
    assert_int_equal(j->paused_us, T0 + 10 * SEC);
    assert_int_equal(j->updated_us, T0 + 10 * SEC);
    assert_int_equal(j->cursor_us, T0);

    r = ref(fx, commandEncodeJobPause, "", "x", 0, T0 + 20 * SEC);
    assertOk(&r);
    assert_false(r.changed);
    assert_int_equal(r.version, 2);
    assert_int_equal(j->paused_us, T0 + 10 * SEC);

    /* Resume continues from now: the cursor jumps over the pause. */
    r = ref(fx, commandEncodeJobResume, "", "x", 2, T0 + 100 * SEC);
    assertOk(&r);
    assert_true(r.changed);
    assert_int_equal(r.version, 3);
    j = fsmJobGet(fx->f, "", "x");
    assert_false(j->paused);
    assert_int_equal(j->paused_us, 0);
    assert_int_equal(j->cursor_us, T0 + 100 * SEC);
    assert_int_equal(j->updated_us, T0 + 100 * SEC);

    r = ref(fx, commandEncodeJobResume, "", "x", 0, T0 + 200 * SEC);
    assertOk(&r);
    assert_false(r.changed);
    assert_int_equal(r.version, 3);
    assert_int_equal(j->cursor_us, T0 + 100 * SEC);

    /* A leader clock behind the cursor never moves it back. */
    ok(ref(fx, commandEncodeJobPause, "", "x", 0, T0 + 300 * SEC));
    r = ref(fx, commandEncodeJobResume, "", "x", 0, T0 + 50 * SEC);
    assertOk(&r);
    assert_int_equal(r.version, 5);
    assert_int_equal(fsmJobGet(fx->f, "", "x")->cursor_us, T0 + 100 * SEC);
}

/* ---- Members ------------------------------------------------------------------------------
 */

static void test_members(void **state)
{
    struct fixture *fx = *state;
    struct rc_fsm_result r = member(fx, 2, "10.0.0.2:7001", false);
    assertOk(&r);
    assert_true(r.changed);
    ok(member(fx, 3, "10.0.0.3:7001", false));
    ok(member(fx, 1, "10.0.0.1:7001", false));
    assert_string_equal(fsmMemberRpcAddr(fx->f, 1), "10.0.0.1:7001");
    assert_string_equal(fsmMemberRpcAddr(fx->f, 2), "10.0.0.2:7001");
    assert_string_equal(fsmMemberRpcAddr(fx->f, 3), "10.0.0.3:7001");
    assert_null(fsmMemberRpcAddr(fx->f, 4));

    r = member(fx, 2, "10.0.0.2:7001", false);
    assertOk(&r);
    assert_false(r.changed);
    r = member(fx, 2, "10.0.0.9:7001", false);
    assertOk(&r);
    assert_true(r.changed);
    assert_string_equal(fsmMemberRpcAddr(fx->f, 2), "10.0.0.9:7001");

    r = member(fx, 2, NULL, true);
    assertOk(&r);
    assert_true(r.changed);
    assert_null(fsmMemberRpcAddr(fx->f, 2));
    assert_string_equal(fsmMemberRpcAddr(fx->f, 1), "10.0.0.1:7001");
    assert_string_equal(fsmMemberRpcAddr(fx->f, 3), "10.0.0.3:7001");
    r = member(fx, 2, NULL, true);
    assertOk(&r);
    assert_false(r.changed);

    r = member(fx, 0, "x:1", false);
    assertRefused(&r, RC_EINVAL, "id 0");
    r = member(fx, 5, "", false);
    assertRefused(&r, RC_EINVAL, "member 5: rpc_addr has 0 characters");
    assert_null(fsmMemberRpcAddr(fx->f, 5));

    /* The snapshot lists members in id order. */
    void *buf;
    size_t len;
    snapshotOf(fx->f, &buf, &len);
    Raftcron__Snapshot *s = raftcron__snapshot__unpack(NULL, len, buf);
    assert_non_null(s);
    assert_int_equal(s->n_members, 2);
    assert_int_equal(s->members[0]->id, 1);
    assert_int_equal(s->members[1]->id, 3);
    assert_string_equal(s->members[1]->rpc_addr, "10.0.0.3:7001");
    raftcron__snapshot__free_unpacked(s, NULL);
    free(buf);
}

/* ---- Garbage ------------------------------------------------------------------------------
 */

static void test_garbage(void **state)
{
    struct fixture *fx = *state;
    ok(put(fx, "", "x", "* * * * *", "a", T0));
    uint64_t digest = fsmDigest(fx->f);

    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0x01};
    struct rc_fsm_result r = applyRaw(fx, junk, sizeof junk);
    assertRefused(&r, RC_EPARSE, "entry: not a raftcron.Command (11 bytes)");

    /* Zero bytes decode as a Command with no kind set. */
    r = applyRaw(fx, "", 0);
    assertRefused(&r, RC_EPARSE, "command: no known kind");

    /* A field number this version does not know (99, varint): what a newer writer sends. */
    static const uint8_t unknown[] = {0x98, 0x06, 0x01};
    r = applyRaw(fx, unknown, sizeof unknown);
    assertRefused(&r, RC_EPARSE, "command: no known kind");

    /* A length-delimited field running past the end. */
    static const uint8_t truncated[] = {0x0a, 0x40, 0x0a, 0x02};
    r = applyRaw(fx, truncated, sizeof truncated);
    assertRefused(&r, RC_EPARSE, "not a raftcron.Command");

    /* Every proper prefix of a valid JobPut entry. */
    struct spec_buf b;
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPut(specMake(&b, "ns", "y", "* * * * *", "a"), 0, false, false,
                                         T0, &buf, &len),
                     0);
    for (size_t n = 0; n < len; n++) {
        r = applyRaw(fx, buf, n);
        assert_int_not_equal(r.code, 0);
        assert_false(r.changed);
    }
    free(buf);

    /* Every entry above was a no-op, and each was recorded as applied. */
    assert_int_equal(fsmDigest(fx->f), digest);
    assert_int_equal(fsmJobCount(fx->f), 1);
    assert_int_equal(fsmAppliedIndex(fx->f), fx->index);

    /* A NULL result is allowed. */
    assert_int_equal(fsmApply(fx->f, ++fx->index, junk, sizeof junk, NULL), 0);
    assert_int_equal(fsmAppliedIndex(fx->f), fx->index);
}

static void test_command_roundtrip(void **state)
{
    (void)state;
    struct spec_buf b;
    void *buf;
    size_t len;
    assert_int_equal(
        commandEncodeJobPut(specMake(&b, "ns", "y", "@hourly", "a"), 7, true, true, T0, &buf, &len),
        0);
    Raftcron__Command *cmd;
    assert_int_equal(commandDecode(buf, len, &cmd), 0);
    assert_string_equal(commandName(cmd), "job_put");
    assert_int_equal(cmd->job_put->expected_version, 7);
    assert_true(cmd->job_put->create_only);
    assert_true(cmd->job_put->paused);
    assert_int_equal(cmd->job_put->now_us, T0);
    assert_string_equal(cmd->job_put->spec->name, "y");
    assert_string_equal(cmd->job_put->spec->trigger->cron, "@hourly");
    commandFree(cmd);
    free(buf);

    assert_int_equal(commandEncodeJobPause(NULL, "z", 3, T0, &buf, &len), 0);
    assert_int_equal(commandDecode(buf, len, &cmd), 0);
    assert_string_equal(commandName(cmd), "job_pause");
    {
        void *wb;
        size_t wl;
        Raftcron__Command *wc;
        assert_int_equal(commandEncodeWorkerDown(3, T0, &wb, &wl), 0);
        assert_int_equal(commandDecode(wb, wl, &wc), 0);
        assert_string_equal(commandName(wc), "worker_down");
        assert_int_equal(wc->worker_down->worker_id, 3);
        commandFree(wc);
        free(wb);
        assert_int_equal(
            commandEncodeRunEnd(RAFTCRON__COMMAND__CMD_JOB_PUT, 1, 1, "", T0, &wb, &wl), RC_EINVAL);
    }
    assert_string_equal(cmd->job_pause->namespace_, "");
    assert_string_equal(cmd->job_pause->name, "z");
    assert_int_equal(cmd->job_pause->expected_version, 3);
    commandFree(cmd);
    free(buf);
    assert_int_equal(commandEncodeJobResume("", NULL, 0, T0, &buf, &len), RC_EINVAL);

    static const uint8_t junk[] = {0x0a, 0x7f};
    assert_int_equal(commandDecode(junk, sizeof junk, &cmd), RC_EPARSE);
    assert_null(cmd);
}

/* ---- Snapshots ----------------------------------------------------------------------------
 */

static void fillVaried(struct fixture *fx)
{
    /* (namespace, name) order differs from "namespace/name" string order here: '.' < '/'. */
    ok(put(fx, "a.b", "x", "* * * * *", "1", T0));
    ok(put(fx, "a", "x", "0 * * * *", "2", T0 + 1));
    ok(put(fx, "", "zeta", "@daily", "3", T0 + 2));
    ok(put(fx, "", "alpha", "@hourly", "4", T0 + 3));
    ok(put(fx, "", "gone", "@hourly", "5", T0 + 4));
    ok(ref(fx, commandEncodeJobDelete, "", "gone", 0, T0 + 5));
    ok(ref(fx, commandEncodeJobPause, "a", "x", 0, T0 + 6));
    ok(member(fx, 3, "h3:7001", false));
    ok(member(fx, 1, "h1:7001", false));
}

static void test_job_order(void **state)
{
    struct fixture *fx = *state;
    fillVaried(fx);
    assert_int_equal(fsmJobCount(fx->f), 4);
    const char *want[][2] = {{"a", "x"}, {"a.b", "x"}, {"default", "alpha"}, {"default", "zeta"}};
    for (size_t i = 0; i < 4; i++) {
        const Raftcron__Job *j = fsmJobAt(fx->f, i);
        assert_non_null(j);
        assert_string_equal(j->spec->namespace_, want[i][0]);
        assert_string_equal(j->spec->name, want[i][1]);
    }
    assert_null(fsmJobAt(fx->f, 4));
    /* The index follows inserts. */
    ok(put(fx, "", "beta", "@hourly", "6", T0 + 7));
    assert_string_equal(fsmJobAt(fx->f, 3)->spec->name, "beta");
}

static void test_snapshot_roundtrip(void **state)
{
    struct fixture *fx = *state;
    fillVaried(fx);
    void *buf;
    size_t len;
    snapshotOf(fx->f, &buf, &len);

    struct rc_fsm *g;
    assert_int_equal(fsmCreate(&g), 0);
    assert_int_not_equal(fsmDigest(g), fsmDigest(fx->f));
    char err[RC_ERRMSG_SIZE] = "";
    assert_int_equal(fsmRestore(g, 777, buf, len, err, sizeof err), 0);
    assert_int_equal(fsmAppliedIndex(g), 777);
    assert_int_equal(fsmDigest(g), fsmDigest(fx->f));
    void *buf2;
    size_t len2;
    snapshotOf(g, &buf2, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    assert_int_equal(fsmJobCount(g), 4);
    const Raftcron__Job *j = fsmJobGet(g, "a", "x");
    assert_non_null(j);
    assert_true(j->paused);
    assert_int_equal(j->version, 2);
    assert_string_equal(fsmMemberRpcAddr(g, 3), "h3:7001");

    /* Applying the same entry to both keeps them equal; job_seq survived the snapshot. */
    struct fixture fg = {.f = g, .index = 777};
    struct rc_fsm_result r1 = put(fx, "", "new", "@daily", "n", T0 + 100);
    struct rc_fsm_result r2 = put(&fg, "", "new", "@daily", "n", T0 + 100);
    assert_int_equal(r1.job_id, 6);
    assert_int_equal(r2.job_id, 6);
    assert_int_equal(fsmDigest(g), fsmDigest(fx->f));

    /* Restoring over a non-empty FSM replaces its state. */
    assert_int_equal(fsmRestore(g, 5, buf, len, err, sizeof err), 0);
    assert_null(fsmJobGet(g, "", "new"));
    assert_int_equal(fsmAppliedIndex(g), 5);

    /* An empty FSM round-trips too. */
    struct rc_fsm *e;
    assert_int_equal(fsmCreate(&e), 0);
    void *ebuf;
    size_t elen;
    snapshotOf(e, &ebuf, &elen);
    assert_int_equal(fsmRestore(g, 9, ebuf, elen, err, sizeof err), 0);
    assert_int_equal(fsmJobCount(g), 0);
    assert_null(fsmMemberRpcAddr(g, 3));
    assert_int_equal(fsmDigest(g), fsmDigest(e));
    free(ebuf);
    fsmDestroy(e);

    free(buf2);
    free(buf);
    fsmDestroy(g);
}

/* Restore of bytes that must be refused: the FSM keeps its state and applied index. */
static void assertRestoreRefused(struct rc_fsm *g, const void *buf, size_t len, int code,
                                 const char *needle)
{
    uint64_t digest = fsmDigest(g);
    uint64_t applied = fsmAppliedIndex(g);
    size_t count = fsmJobCount(g);
    char err[RC_ERRMSG_SIZE] = "";
    int rv = fsmRestore(g, applied + 100, buf, len, err, sizeof err);
    if (rv != code) {
        fail_msg("expected %s, got %s: %s", rc_errname(code), rc_errname(rv), err);
    }
    if (strstr(err, needle) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err, needle);
    }
    assert_int_equal(fsmDigest(g), digest);
    assert_int_equal(fsmAppliedIndex(g), applied);
    assert_int_equal(fsmJobCount(g), count);
}

/* Decode a snapshot, let mutate change it, re-encode it into *out. mutate returns a pointer it
 * replaced and undo puts it back, so that the decoded message frees cleanly. */
typedef void (*mutator)(Raftcron__Snapshot *s, void **saved);
typedef void (*undoer)(Raftcron__Snapshot *s, void *saved);

static void mutated(const void *buf, size_t len, mutator mutate, undoer undo, void **out,
                    size_t *out_len)
{
    Raftcron__Snapshot *s = raftcron__snapshot__unpack(NULL, len, buf);
    assert_non_null(s);
    void *saved = NULL;
    mutate(s, &saved);
    void *body;
    size_t body_len;
    assert_int_equal(commandPack(&s->base, &body, &body_len), 0);
    assert_int_equal(fsmSnapshotSeal(body, body_len, out, out_len), 0);
    free(body);
    if (undo != NULL) {
        undo(s, saved);
    }
    raftcron__snapshot__free_unpacked(s, NULL);
}

static void mFormat(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->format = fsmSnapshotFormat() + 1; /* what a later raftcron would write */
}

static void mFormatZero(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->format = 0;
}

static void mDupKey(Raftcron__Snapshot *s, void **saved)
{
    /* jobs[3] ("default"/"zeta") takes the name of jobs[2] ("default"/"alpha"). */
    *saved = s->jobs[3]->spec->name;
    s->jobs[3]->spec->name = s->jobs[2]->spec->name;
}

static void uDupKey(Raftcron__Snapshot *s, void *saved)
{
    s->jobs[3]->spec->name = saved;
}

static void mNoSpec(Raftcron__Snapshot *s, void **saved)
{
    *saved = s->jobs[1]->spec;
    s->jobs[1]->spec = NULL;
}

static void uNoSpec(Raftcron__Snapshot *s, void *saved)
{
    s->jobs[1]->spec = saved;
}

static void mBadName(Raftcron__Snapshot *s, void **saved)
{
    *saved = s->jobs[0]->spec->name;
    s->jobs[0]->spec->name = "no spaces";
}

static void uBadName(Raftcron__Snapshot *s, void *saved)
{
    s->jobs[0]->spec->name = saved;
}

static void mEmptyNamespace(Raftcron__Snapshot *s, void **saved)
{
    *saved = s->jobs[0]->spec->namespace_;
    s->jobs[0]->spec->namespace_ = "";
}

static void uEmptyNamespace(Raftcron__Snapshot *s, void *saved)
{
    s->jobs[0]->spec->namespace_ = saved;
}

static void mIdAboveSeq(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->job_seq = 4; /* ids in use: 1-4 (5 was deleted) */
    s->jobs[1]->id = 5;
}

static void mDupId(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->jobs[2]->id = s->jobs[0]->id;
}

static void mZeroId(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->jobs[2]->id = 0;
}

static void mZeroVersion(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->jobs[2]->version = 0;
}

static void mMemberOrder(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    Raftcron__Member *m = s->members[0];
    s->members[0] = s->members[1];
    s->members[1] = m;
}

static void mMemberAddr(Raftcron__Snapshot *s, void **saved)
{
    *saved = s->members[1]->rpc_addr;
    s->members[1]->rpc_addr = "";
}

static void uMemberAddr(Raftcron__Snapshot *s, void *saved)
{
    s->members[1]->rpc_addr = saved;
}

static void mNoTrigger(Raftcron__Snapshot *s, void **saved)
{
    *saved = s->jobs[2]->spec->trigger;
    s->jobs[2]->spec->trigger = NULL;
}

static void uNoTrigger(Raftcron__Snapshot *s, void *saved)
{
    s->jobs[2]->spec->trigger = saved;
}

static Raftcron__Run fake_run = RAFTCRON__RUN__INIT;
static Raftcron__Run *fake_runs[1] = {&fake_run};

static void mRuns(Raftcron__Snapshot *s, void **saved)
{
    (void)saved;
    s->n_runs = 1;
    s->runs = fake_runs;
}

static void uRuns(Raftcron__Snapshot *s, void *saved)
{
    (void)saved;
    s->n_runs = 0;
    s->runs = NULL;
}

static void test_restore_rejects(void **state)
{
    struct fixture *fx = *state;
    fillVaried(fx);
    void *buf;
    size_t len;
    snapshotOf(fx->f, &buf, &len);

    /* The victim holds some other state that must survive every refused restore. */
    struct fixture victim = {0};
    assert_int_equal(fsmCreate(&victim.f), 0);
    ok(put(&victim, "", "keep", "@daily", "k", T0));
    ok(member(&victim, 9, "h9:1", false));

    static const struct {
        mutator mutate;
        undoer undo;
        const char *needle;
    } cases[] = {
        /* A newer format is refused as such, naming the remedy (rolling upgrades: a node left on
         * the old version must not load what an upgraded leader wrote). */
        {mFormat, NULL,
         "snapshot: format 2 was written by a newer raftcron; this version reads format 1: "
         "upgrade this node"},
        {mFormatZero, NULL, "snapshot: format 0, expected 1"},
        {mDupKey, uDupKey, "snapshot: job default/alpha appears twice"},
        {mNoSpec, uNoSpec, "snapshot: job 1: spec: missing"},
        {mBadName, uBadName, "snapshot: job 0: job name: character 0x20"},
        {mEmptyNamespace, uEmptyNamespace, "snapshot: job 0: namespace empty"},
        {mIdAboveSeq, NULL, "has id 5, outside 1-4 (job_seq)"},
        {mDupId, NULL, "snapshot: job id 2 used twice"},
        {mZeroId, NULL, "has id 0"},
        {mZeroVersion, NULL, "has version 0"},
        {mMemberOrder, NULL, "not in increasing id order"},
        {mMemberAddr, uMemberAddr, "snapshot: member 3 has an rpc_addr of 0 characters"},
        {mNoTrigger, uNoTrigger, "trigger: kind not set"},
        {mRuns, uRuns, "snapshot: run 0 has unknown state 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *bad;
        size_t bad_len;
        mutated(buf, len, cases[i].mutate, cases[i].undo, &bad, &bad_len);
        assertRestoreRefused(victim.f, bad, bad_len, RC_ECORRUPT, cases[i].needle);
        free(bad);
    }

    /* Every proper prefix is refused by the trailer check (the first two bytes alone, "format
     * 1", would otherwise be a valid empty snapshot), and so is every flipped byte. */
    for (size_t n = 0; n < len; n++) {
        assertRestoreRefused(victim.f, buf, n, RC_ECORRUPT, "snapshot: checksum trailer");
    }
    uint8_t *flipped = malloc(len);
    assert_non_null(flipped);
    for (size_t i = 0; i < len; i++) {
        memcpy(flipped, buf, len);
        flipped[i] ^= 0x20;
        assertRestoreRefused(victim.f, flipped, len, RC_ECORRUPT, "snapshot: checksum trailer");
    }
    free(flipped);

    /* Sealed garbage is a parse error; sealed "format 1" alone is a valid empty snapshot. */
    static const uint8_t junk[] = {0x12, 0xff, 0xff, 0x03};
    void *sealed_junk;
    size_t sealed_len;
    assert_int_equal(fsmSnapshotSeal(junk, sizeof junk, &sealed_junk, &sealed_len), 0);
    assertRestoreRefused(victim.f, sealed_junk, sealed_len, RC_EPARSE,
                         "snapshot: not a raftcron.Snapshot (13 bytes)");
    free(sealed_junk);
    struct rc_fsm *empty;
    assert_int_equal(fsmCreate(&empty), 0);
    void *eb;
    size_t el;
    assert_int_equal(fsmSnapshotSeal(buf, 2, &eb, &el), 0);
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(fsmRestore(empty, 1, eb, el, err, sizeof err), 0);
    assert_int_equal(fsmJobCount(empty), 0);
    free(eb);
    fsmDestroy(empty);

    assert_non_null(fsmJobGet(victim.f, "", "keep"));
    assert_string_equal(fsmMemberRpcAddr(victim.f, 9), "h9:1");
    assert_int_equal(fsmAppliedIndex(victim.f), 2);

    /* The unmodified snapshot still restores. */
    assert_int_equal(fsmRestore(victim.f, 3, buf, len, err, sizeof err), 0);
    assert_int_equal(fsmDigest(victim.f), fsmDigest(fx->f));
    fsmDestroy(victim.f);
    free(buf);
}

static double elapsed(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void test_ten_thousand(void **state)
{
    struct fixture *fx = *state;
    enum { N = 10000 };
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "job-%05d", (i * 7919) % N); /* not in key order */
        struct rc_fsm_result r = put(fx, i % 3 == 0 ? "" : "ns1", name, "*/5 * * * *", "x", T0 + i);
        assert_int_equal(r.code, 0);
        assert_true(r.created);
    }
    double t_put = elapsed(&t0);
    assert_int_equal(fsmJobCount(fx->f), N);

    /* Deletes keep lookups right (backward-shift deletion). */
    for (int i = 0; i < N; i += 10) {
        snprintf(name, sizeof name, "job-%05d", (i * 7919) % N);
        struct rc_fsm_result r =
            ref(fx, commandEncodeJobDelete, i % 3 == 0 ? "" : "ns1", name, 0, T0);
        assert_int_equal(r.code, 0);
    }
    assert_int_equal(fsmJobCount(fx->f), N - N / 10);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "job-%05d", (i * 7919) % N);
        const Raftcron__Job *j = fsmJobGet(fx->f, i % 3 == 0 ? "" : "ns1", name);
        if (i % 10 == 0) {
            assert_null(j);
        } else {
            assert_non_null(j);
            assert_int_equal(j->id, (uint64_t)i + 1);
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    void *buf;
    size_t len;
    snapshotOf(fx->f, &buf, &len);
    struct rc_fsm *g;
    assert_int_equal(fsmCreate(&g), 0);
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(fsmRestore(g, 1, buf, len, err, sizeof err), 0);
    uint64_t dg = fsmDigest(g);
    double t_snap = elapsed(&t0);
    assert_int_equal(dg, fsmDigest(fx->f));
    assert_int_equal(fsmJobCount(g), N - N / 10);
    /* Sorted iteration over the restored table. */
    for (size_t i = 1; i < fsmJobCount(g); i++) {
        const Raftcron__Job *a = fsmJobAt(g, i - 1);
        const Raftcron__Job *b = fsmJobAt(g, i);
        int c = strcmp(a->spec->namespace_, b->spec->namespace_);
        assert_true(c < 0 || (c == 0 && strcmp(a->spec->name, b->spec->name) < 0));
    }
    print_message("10000 puts + 1000 deletes: %.3f s; snapshot (%zu bytes) + restore + digest: "
                  "%.3f s\n",
                  t_put, len, t_snap);
    free(buf);
    fsmDestroy(g);
}

/* ---- fsmValidateSpec ----------------------------------------------------------------------
 */

static void assertInvalid(const Raftcron__JobSpec *spec, const char *needle)
{
    char err[RC_ERRMSG_SIZE] = "";
    int rv = fsmValidateSpec(spec, err, sizeof err);
    if (rv != RC_EINVAL) {
        fail_msg("expected RC_EINVAL for \"%s\", got %s: %s", needle, rc_errname(rv), err);
    }
    if (strstr(err, needle) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err, needle);
    }
}

static void test_validate_spec(void **state)
{
    (void)state;
    struct spec_buf b;
    char err[RC_ERRMSG_SIZE] = "";
    Raftcron__JobSpec *spec = specMake(&b, "", "ok", "30 2 * * 1-5", "true");
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);
    b.trigger.tz = "Europe/Berlin";
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);

    assertInvalid(NULL, "spec: missing");
    assertInvalid(specMake(&b, "", "no way", "* * * * *", "true"), "job name");
    assertInvalid(specMake(&b, "", "x", "0 25 * * *", "true"),
                  "trigger.cron: field 2 (hour): 25 is out of range 0-23");
    assertInvalid(specMake(&b, "", "x", "not cron", "true"), "trigger.cron: ");
    spec = specMake(&b, "", "x", "* * * * *", "true");
    b.trigger.tz = "Mars/Olympus_Mons";
    assertInvalid(spec, "trigger.tz: ");

    spec = specMake(&b, "", "x", "* * * * *", "true");
    b.trigger.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    b.trigger.interval_us = 0;
    assertInvalid(spec, "trigger.interval_us: 0, must be > 0");
    b.trigger.interval_us = 60 * SEC;
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);
    b.trigger.tz = "Nowhere/Atall";
    assertInvalid(spec, "trigger.tz: ");
    b.trigger.tz = "";
    b.trigger.start_us = T0;
    b.trigger.end_us = T0 - 1;
    assertInvalid(spec, "trigger.end_us: before trigger.start_us");
    b.trigger.end_us = 0;
    b.trigger.jitter_us = -1;
    assertInvalid(spec, "trigger.jitter_us");
    b.trigger.jitter_us = 0;
    b.trigger.dst_gap = 2;
    assertInvalid(spec, "trigger.dst_gap: 2");
    b.trigger.dst_gap = 1;
    b.trigger.dst_repeat = 2;
    assertInvalid(spec, "trigger.dst_repeat: 2");
    b.trigger.dst_repeat = 1;
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);

    Raftcron__Policy pol = RAFTCRON__POLICY__INIT;
    spec->policy = &pol;
    pol.overlap = 4;
    assertInvalid(spec, "policy.overlap: 4");
    pol.overlap = 3;
    pol.max_instances = 1001;
    assertInvalid(spec, "policy.max_instances: 1001");
    pol.max_instances = 0;
    pol.history_max = 10001;
    assertInvalid(spec, "policy.history_max: 10001");
    pol.history_max = 10000;
    pol.history_age_us = -1;
    assertInvalid(spec, "policy.history_age_us: -1 is negative");
    pol.history_age_us = 0;
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);

    Raftcron__RetryPolicy retry = RAFTCRON__RETRY_POLICY__INIT;
    spec->retry = &retry;
    retry.max_attempts = 101;
    assertInvalid(spec, "retry.max_attempts: 101, must be at most 100");
    retry.max_attempts = 100;
    retry.backoff = 3;
    assertInvalid(spec, "retry.backoff: 3");
    retry.backoff = 2;
    retry.delay_us = -5;
    assertInvalid(spec, "retry.delay_us: negative");
    retry.delay_us = 5;
    retry.max_delay_us = -1;
    assertInvalid(spec, "retry.max_delay_us: negative");
    retry.max_delay_us = 0;
    retry.multiplier = 0.5;
    assertInvalid(spec, "retry.multiplier");
    retry.multiplier = 2.0;
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);

    spec->timeout_us = -1;
    assertInvalid(spec, "timeout_us: -1 is negative");
    spec->timeout_us = 0;

    b.shell.command = "";
    assertInvalid(spec, "executor.shell.command: empty");
    char *argv[] = {"/bin/true"};
    b.shell.n_argv = 1;
    b.shell.argv = argv;
    assert_int_equal(fsmValidateSpec(spec, err, sizeof err), 0);

    Raftcron__HttpExec http = RAFTCRON__HTTP_EXEC__INIT;
    b.executor.kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    b.executor.http = &http;
    assertInvalid(spec, "executor.http.url: empty");
    Raftcron__SqlExec sql = RAFTCRON__SQL_EXEC__INIT;
    b.executor.kind_case = RAFTCRON__EXECUTOR__KIND_SQL;
    b.executor.sql = &sql;
    assertInvalid(spec, "executor.sql.query: empty");
    b.executor.kind_case = RAFTCRON__EXECUTOR__KIND__NOT_SET;
    assertInvalid(spec, "executor: kind not set");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_keeps_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_trigger_resets_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test(test_command_roundtrip),
        cmocka_unit_test_setup_teardown(test_job_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_thousand, setup, teardown),
        cmocka_unit_test(test_validate_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
