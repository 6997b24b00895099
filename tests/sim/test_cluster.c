/*
 * The replicated FSM on libraft's in-memory fixture (virtual clock, partitions, kills): every
 * server runs the real core FSM behind the real bridge (src/raft/fsm_bridge.c). Each test
 * asserts the exact replicated state: job counts, versions, per-entry results, applied
 * indexes and equal digests.
 *
 * Set RC_SIM_TRACE=1 to see libraft's trace of the fixture.
 */
#include <raft.h>
#include <raft/fixture.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/command.h"
#include "core/err.h"
#include "core/fsm.h"
#include "raft/fsm_bridge.h"

#define MAX_SERVERS   5
#define MAX_PROPOSALS 512
#define T0            INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define WAIT_MS       20000                     /* virtual time */

struct proposal {
    struct raft_apply req;
    bool done;
    int status;
    bool has_result;
    struct rc_fsm_result res;
};

struct change {
    struct raft_change req;
    bool done;
    int status;
};

struct sim {
    struct raft_fixture f;
    unsigned n;
    struct rc_fsm *core[MAX_SERVERS];
    struct raft_fsm fsm[MAX_SERVERS];
    unsigned restores[MAX_SERVERS];       /* successful snapshot restores per server */
    unsigned marker_applies[MAX_SERVERS]; /* applies of the marker entry per server */
    void *marker;                         /* the entry bytes counted (owned) */
    size_t marker_len;
    struct proposal props[MAX_PROPOSALS];
    unsigned n_props;
    struct change changes[8];
    unsigned n_changes;
};

/* The bridge's own functions, wrapped by counting shims. */
static int (*bridge_apply)(struct raft_fsm *, const struct raft_buffer *, void **);
static int (*bridge_restore)(struct raft_fsm *, struct raft_buffer *);
static struct sim *current;

static unsigned serverOf(const struct raft_fsm *fsm)
{
    return (unsigned)(fsm - current->fsm);
}

static int countingApply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct sim *s = current;
    if (s->marker != NULL && buf->len == s->marker_len &&
        memcmp(buf->base, s->marker, buf->len) == 0) {
        s->marker_applies[serverOf(fsm)]++;
    }
    return bridge_apply(fsm, buf, result);
}

static int countingRestore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    int rv = bridge_restore(fsm, buf);
    if (rv == 0) {
        current->restores[serverOf(fsm)]++;
    }
    return rv;
}

static void silentEmit(struct raft_tracer *t, int type, const void *info)
{
    (void)t;
    (void)type;
    (void)info;
}

static struct raft_tracer silent = {.impl = NULL, .version = 2, .emit = silentEmit};

/* Add one server (not started) with its own FSM behind a bridge. */
static unsigned simGrow(struct sim *s, unsigned snapshot_threshold)
{
    unsigned i = s->n;
    assert_true(i < MAX_SERVERS);
    assert_int_equal(fsmCreate(&s->core[i]), 0);
    assert_int_equal(fsmBridgeInit(&s->fsm[i], s->core[i]), 0);
    bridge_apply = s->fsm[i].apply;
    bridge_restore = s->fsm[i].restore;
    s->fsm[i].apply = countingApply;
    s->fsm[i].restore = countingRestore;
    assert_int_equal(raft_fixture_grow(&s->f, &s->fsm[i]), 0);
    struct raft *r = raft_fixture_get(&s->f, i);
    fsmBridgeAttach(&s->fsm[i], r);
    if (getenv("RC_SIM_TRACE") == NULL) {
        r->tracer = &silent;
    }
    raft_set_pre_vote(r, true);
    if (snapshot_threshold > 0) {
        raft_set_snapshot_threshold(r, snapshot_threshold);
        raft_set_snapshot_trailing(r, snapshot_threshold / 4);
    }
    s->n++;
    return i;
}

static struct sim *simStart(unsigned n, unsigned snapshot_threshold)
{
    struct sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    current = s;
    assert_int_equal(raft_fixture_init(&s->f), 0);
    for (unsigned i = 0; i < n; i++) {
        simGrow(s, snapshot_threshold);
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&s->f, n, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&s->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&s->f), 0);
    assert_true(raft_fixture_step_until_has_leader(&s->f, WAIT_MS));
    return s;
}

static void simClose(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    raft_fixture_close(&s->f);
    for (unsigned i = 0; i < s->n; i++) {
        fsmBridgeClose(&s->fsm[i]);
        fsmDestroy(s->core[i]);
    }
    free(s->marker);
    free(s);
    current = NULL;
}

/* The fixture's own leader detection (raft_fixture_leader_index) needs every live,
 * unsaturated server to follow the leader, which a disconnected one does not: these helpers
 * look at the servers' states instead. */
struct among {
    const unsigned *servers;
    unsigned n;
    raft_term min_term;
    unsigned found;
};

static bool leaderAmong(struct raft_fixture *f, void *arg)
{
    struct among *a = arg;
    for (unsigned k = 0; k < a->n; k++) {
        struct raft *r = raft_fixture_get(f, a->servers[k]);
        if (raft_state(r) == RAFT_LEADER && raft_current_term(r) >= a->min_term) {
            a->found = a->servers[k];
            return true;
        }
    }
    return false;
}

/* Step until one of servers leads in a term >= min_term; returns its index. */
static unsigned waitLeaderAmong(struct sim *s, const unsigned *servers, unsigned n,
                                raft_term min_term)
{
    struct among a = {servers, n, min_term, 0};
    assert_true(raft_fixture_step_until(&s->f, leaderAmong, &a, WAIT_MS));
    return a.found;
}

static unsigned leaderOf(struct sim *s)
{
    unsigned l = raft_fixture_leader_index(&s->f);
    assert_true(l < s->n);
    assert_int_equal(raft_state(raft_fixture_get(&s->f, l)), RAFT_LEADER);
    return l;
}

static void cut(struct sim *s, unsigned a, unsigned b)
{
    raft_fixture_disconnect(&s->f, a, b);
    raft_fixture_disconnect(&s->f, b, a);
}

static void heal(struct sim *s, unsigned a, unsigned b)
{
    raft_fixture_reconnect(&s->f, a, b);
    raft_fixture_reconnect(&s->f, b, a);
}

/* ---- Proposals ---------------------------------------------------------------------------- */

static void proposalDone(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    p->done = true;
    p->status = status;
    if (result != NULL) {
        p->has_result = true;
        p->res = *(const struct rc_fsm_result *)result;
    }
}

/* Propose an encoded command (buf is freed here) on server i. */
static struct proposal *propose(struct sim *s, unsigned i, void *buf, size_t len)
{
    assert_true(s->n_props < MAX_PROPOSALS);
    struct proposal *p = &s->props[s->n_props++];
    struct raft_buffer b;
    assert_int_equal(fsmBridgeEncodeEntry(buf, len, &b), 0);
    free(buf);
    p->req.data = p;
    int rv = raft_apply(raft_fixture_get(&s->f, i), &p->req, &b, 1, proposalDone);
    if (rv != 0) {
        raft_free(b.base);
        fail_msg("raft_apply on server %u: %s", i, raft_strerror(rv));
    }
    return p;
}

struct spec_buf {
    Raftcron__JobSpec spec;
    Raftcron__Trigger trigger;
    Raftcron__Executor executor;
    Raftcron__ShellExec shell;
};

static void encodePut(const char *name, const char *command, int64_t now, uint64_t expected,
                      void **buf, size_t *len)
{
    struct spec_buf b;
    raftcron__job_spec__init(&b.spec);
    raftcron__trigger__init(&b.trigger);
    raftcron__executor__init(&b.executor);
    raftcron__shell_exec__init(&b.shell);
    b.spec.name = (char *)name;
    b.trigger.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    b.trigger.cron = "*/5 * * * *";
    b.shell.command = (char *)command;
    b.executor.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    b.executor.shell = &b.shell;
    b.spec.trigger = &b.trigger;
    b.spec.executor = &b.executor;
    assert_int_equal(commandEncodeJobPut(&b.spec, expected, false, false, now, buf, len), 0);
}

static struct proposal *proposePut(struct sim *s, unsigned i, const char *name, const char *command,
                                   int64_t now)
{
    void *buf;
    size_t len;
    encodePut(name, command, now, 0, &buf, &len);
    return propose(s, i, buf, len);
}

/* Put jobs name-<first> .. name-<first+n-1> on server i, pipelined. */
static struct proposal *proposePuts(struct sim *s, unsigned i, const char *prefix, int first, int n)
{
    struct proposal *p = NULL;
    for (int k = first; k < first + n; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%03d", prefix, k);
        struct proposal *q = proposePut(s, i, name, "true", T0 + k);
        p = p == NULL ? q : p;
    }
    return p;
}

struct wait_props {
    struct proposal *first;
    unsigned n;
};

static bool propsDone(struct raft_fixture *f, void *arg)
{
    (void)f;
    struct wait_props *w = arg;
    for (unsigned k = 0; k < w->n; k++) {
        if (!w->first[k].done) {
            return false;
        }
    }
    return true;
}

static void waitProps(struct sim *s, struct proposal *first, unsigned n)
{
    struct wait_props w = {first, n};
    assert_true(raft_fixture_step_until(&s->f, propsDone, &w, WAIT_MS));
}

static void assertCommitted(const struct proposal *p, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        if (p[k].status != 0 || !p[k].has_result || p[k].res.code != 0) {
            fail_msg("proposal %u: status %d, result %s: %s", k, p[k].status,
                     p[k].has_result ? rc_errname(p[k].res.code) : "none", p[k].res.message);
        }
    }
}

static void waitApplied(struct sim *s, unsigned i, raft_index index)
{
    assert_true(raft_fixture_step_until_applied(&s->f, i, index, WAIT_MS));
}

static bool changeIsDone(struct raft_fixture *f, void *arg)
{
    (void)f;
    return ((struct change *)arg)->done;
}

static void waitChange(struct sim *s, struct change *c)
{
    assert_true(raft_fixture_step_until(&s->f, changeIsDone, c, WAIT_MS));
}

static void changeDone(struct raft_change *req, int status)
{
    struct change *c = req->data;
    c->done = true;
    c->status = status;
}

static struct change *newChange(struct sim *s)
{
    assert_true(s->n_changes < 8);
    struct change *c = &s->changes[s->n_changes++];
    c->req.data = c;
    return c;
}

/* Every listed server has the same digest and job count as server ref. */
static void assertSame(struct sim *s, const unsigned *servers, unsigned n, size_t jobs)
{
    uint64_t digest = fsmDigest(s->core[servers[0]]);
    for (unsigned k = 0; k < n; k++) {
        unsigned i = servers[k];
        if (fsmDigest(s->core[i]) != digest) {
            fail_msg("server %u digest %016llx differs from server %u's %016llx", i,
                     (unsigned long long)fsmDigest(s->core[i]), servers[0],
                     (unsigned long long)digest);
        }
        assert_int_equal(fsmJobCount(s->core[i]), jobs);
    }
}

/* The marker is compared with whole log entries, i.e. the command in its entry envelope. */
static void setMarker(struct sim *s, const void *buf, size_t len)
{
    struct raft_buffer entry;
    assert_int_equal(fsmBridgeEncodeEntry(buf, len, &entry), 0);
    s->marker = malloc(entry.len);
    assert_non_null(s->marker);
    memcpy(s->marker, entry.base, entry.len);
    s->marker_len = entry.len;
    raft_free(entry.base);
}

/* ---- Tests -------------------------------------------------------------------------------- */

static void test_election(void **state)
{
    (void)state;
    struct sim *s = simStart(3, 0);
    unsigned l = leaderOf(s);
    raft_term term = raft_current_term(raft_fixture_get(&s->f, l));
    assert_true(term >= 2);
    for (unsigned i = 0; i < 3; i++) {
        struct raft *r = raft_fixture_get(&s->f, i);
        assert_int_equal(raft_current_term(r), term);
        raft_id id;
        const char *addr;
        raft_leader(r, &id, &addr);
        assert_int_equal(id, l + 1);
        if (i != l) {
            assert_int_equal(raft_state(r), RAFT_FOLLOWER);
        }
        assert_int_equal(fsmJobCount(s->core[i]), 0);
        assert_int_equal(fsmDigest(s->core[i]), fsmDigest(s->core[0]));
    }
    simClose(s);
}

static void test_replicate_100(void **state)
{
    (void)state;
    struct sim *s = simStart(3, 0);
    unsigned l = leaderOf(s);
    struct proposal *p = proposePuts(s, l, "job", 0, 100);
    /* A pause with a stale expected version, and one that matches, inside the same pipeline:
     * each callback must see its own entry's result. */
    void *buf;
    size_t len;
    assert_int_equal(commandEncodeJobPause("", "job-007", 9, T0 + 500, &buf, &len), 0);
    struct proposal *stale = propose(s, l, buf, len);
    assert_int_equal(commandEncodeJobPause("", "job-007", 1, T0 + 501, &buf, &len), 0);
    struct proposal *pause = propose(s, l, buf, len);
    proposePuts(s, l, "late", 0, 5);
    waitProps(s, p, 107);

    assertCommitted(p, 100);
    for (unsigned k = 0; k < 100; k++) {
        assert_true(p[k].res.created);
        assert_int_equal(p[k].res.job_id, k + 1);
        assert_int_equal(p[k].res.version, 1);
    }
    assert_int_equal(stale->status, 0);
    assert_int_equal(stale->res.code, RC_ESTALE);
    assert_string_equal(stale->res.message, "job default/job-007 is at version 1, expected 9");
    assertCommitted(pause, 1);
    assert_true(pause->res.changed);
    assert_int_equal(pause->res.version, 2);
    assertCommitted(p + 102, 5);
    assert_int_equal(p[106].res.job_id, 105);

    raft_index last = p[106].req.index;
    waitApplied(s, 3, last);
    unsigned all[] = {0, 1, 2};
    assertSame(s, all, 3, 105);
    for (unsigned i = 0; i < 3; i++) {
        /* The bridge records raft's own index for each entry. */
        assert_int_equal(fsmAppliedIndex(s->core[i]), last);
        const Raftcron__Job *j = fsmJobGet(s->core[i], "", "job-042");
        assert_non_null(j);
        assert_int_equal(j->id, 43);
        assert_int_equal(j->created_us, T0 + 42);
        j = fsmJobGet(s->core[i], "", "job-007");
        assert_true(j->paused);
        assert_int_equal(j->paused_us, T0 + 501);
        assert_int_equal(j->version, 2);
    }
    simClose(s);
}

/* A server that missed entries the leader has compacted away catches up by snapshot install,
 * first after being killed, then after being disconnected. */
static void test_snapshot_catch_up(void **state)
{
    (void)state;
    struct sim *s = simStart(3, 8);
    unsigned l = leaderOf(s);
    unsigned v = (l + 1) % 3;
    raft_fixture_kill(&s->f, v);

    struct proposal *p = proposePuts(s, l, "a", 0, 40);
    waitProps(s, p, 40);
    assertCommitted(p, 40);
    assert_int_equal(fsmJobCount(s->core[v]), 0);
    assert_int_equal(s->restores[v], 0);

    raft_fixture_revive(&s->f, v);
    waitApplied(s, 3, p[39].req.index);
    assert_true(s->restores[v] >= 1);
    unsigned all[] = {0, 1, 2};
    assertSame(s, all, 3, 40);
    assert_int_equal(fsmAppliedIndex(s->core[v]), p[39].req.index);

    /* Now cut it off by disconnection (its clock keeps ticking) and do it again. */
    unsigned restores = s->restores[v];
    unsigned others[2];
    for (unsigned j = 0, m = 0; j < 3; j++) {
        if (j != v) {
            others[m++] = j;
            cut(s, v, j);
        }
    }
    l = waitLeaderAmong(s, others, 2, 0);
    p = proposePuts(s, l, "b", 0, 40);
    waitProps(s, p, 40);
    assertCommitted(p, 40);
    assert_int_equal(fsmJobCount(s->core[v]), 40);
    heal(s, v, others[0]);
    heal(s, v, others[1]);
    waitApplied(s, 3, p[39].req.index);
    assert_true(s->restores[v] > restores);
    assertSame(s, all, 3, 80);
    const Raftcron__Job *j = fsmJobGet(s->core[v], "", "b-039");
    assert_non_null(j);
    assert_int_equal(j->id, 80);
    simClose(s);
}

/* The leader is deposed after its entry reached the followers but before it learned of the
 * commit: the proposer hears "leadership lost" (outcome unknown), yet the entry is committed
 * by the next leader and applied exactly once on every replica. */
static void test_deposed_with_pending_entry(void **state)
{
    (void)state;
    struct sim *s = simStart(3, 0);
    unsigned l = leaderOf(s);
    struct proposal *base = proposePut(s, l, "base", "true", T0);
    waitProps(s, base, 1);
    assertCommitted(base, 1);

    void *buf;
    size_t len;
    encodePut("pending", "true", T0 + 1, 0, &buf, &len);
    setMarker(s, buf, len);
    struct proposal *p = propose(s, l, buf, len);
    for (unsigned j = 0; j < 3; j++) {
        if (j != l) {
            assert_true(raft_fixture_step_until_delivered(&s->f, l, j, WAIT_MS));
        }
    }
    assert_false(p->done);
    raft_fixture_depose(&s->f);
    waitProps(s, p, 1);
    assert_int_equal(p->status, RAFT_LEADERSHIPLOST);
    assert_false(p->has_result);

    assert_true(raft_fixture_step_until_has_leader(&s->f, WAIT_MS));
    unsigned n = leaderOf(s);
    struct proposal *after = proposePut(s, n, "after", "true", T0 + 2);
    waitProps(s, after, 1);
    assertCommitted(after, 1);
    waitApplied(s, 3, after->req.index);

    unsigned all[] = {0, 1, 2};
    assertSame(s, all, 3, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(s->marker_applies[i], 1);
        const Raftcron__Job *j = fsmJobGet(s->core[i], "", "pending");
        assert_non_null(j);
        assert_int_equal(j->id, 2);
        assert_int_equal(j->version, 1);
        assert_int_equal(fsmJobGet(s->core[i], "", "after")->id, 3);
    }
    simClose(s);
}

/* Five servers; the leader and one follower are cut off from the other three. The old
 * leader's entry never commits (applied nowhere, its proposer told "leadership lost"), the
 * majority elects a leader and takes writes, and after healing everyone converges. */
static void test_partition(void **state)
{
    (void)state;
    struct sim *s = simStart(5, 0);
    unsigned l = leaderOf(s);
    unsigned minority[2] = {l, (l + 1) % 5};
    unsigned majority[3] = {(l + 2) % 5, (l + 3) % 5, (l + 4) % 5};
    struct proposal *base = proposePuts(s, l, "base", 0, 3);
    waitProps(s, base, 3);
    assertCommitted(base, 3);

    for (unsigned a = 0; a < 2; a++) {
        for (unsigned b = 0; b < 3; b++) {
            cut(s, minority[a], majority[b]);
        }
    }
    void *buf;
    size_t len;
    encodePut("minority", "true", T0 + 10, 0, &buf, &len);
    setMarker(s, buf, len);
    struct proposal *lost = propose(s, l, buf, len);

    /* The majority elects a leader of its own and commits writes. */
    struct raft *old = raft_fixture_get(&s->f, l);
    raft_term old_term = raft_current_term(old);
    unsigned n = waitLeaderAmong(s, majority, 3, old_term + 1);
    struct proposal *p = proposePuts(s, n, "major", 0, 20);
    waitProps(s, p, 20);
    assertCommitted(p, 20);
    waitProps(s, lost, 1);
    assert_int_equal(lost->status, RAFT_LEADERSHIPLOST);
    assert_int_not_equal(raft_state(old), RAFT_LEADER);
    for (unsigned a = 0; a < 2; a++) {
        assert_int_equal(fsmJobCount(s->core[minority[a]]), 3);
    }

    for (unsigned a = 0; a < 2; a++) {
        for (unsigned b = 0; b < 3; b++) {
            heal(s, minority[a], majority[b]);
        }
    }
    waitApplied(s, 5, p[19].req.index);
    unsigned all[] = {0, 1, 2, 3, 4};
    assertSame(s, all, 5, 23);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(s->marker_applies[i], 0);
        assert_null(fsmJobGet(s->core[i], "", "minority"));
        assert_int_equal(fsmJobGet(s->core[i], "", "major-019")->id, 23);
    }
    simClose(s);
}

/* Add a fourth server, promote it to voter, record its RPC address, then remove a follower:
 * the new configuration keeps replicating to equal states. */
static void test_membership(void **state)
{
    (void)state;
    struct sim *s = simStart(3, 0);
    unsigned l = leaderOf(s);
    struct raft *leader = raft_fixture_get(&s->f, l);
    struct proposal *p = proposePuts(s, l, "m", 0, 10);
    waitProps(s, p, 10);
    assertCommitted(p, 10);

    unsigned k = simGrow(s, 0);
    assert_int_equal(k, 3);
    assert_int_equal(raft_start(raft_fixture_get(&s->f, k)), 0);
    struct change *add = newChange(s);
    assert_int_equal(raft_add(leader, &add->req, 4, "4", changeDone), 0);
    waitChange(s, add);
    assert_int_equal(add->status, 0);
    struct change *promote = newChange(s);
    assert_int_equal(raft_assign(leader, &promote->req, 4, RAFT_VOTER, changeDone), 0);
    waitChange(s, promote);
    assert_int_equal(promote->status, 0);

    void *buf;
    size_t len;
    assert_int_equal(commandEncodeMemberSet(4, "127.0.0.1:7004", false, &buf, &len), 0);
    struct proposal *ms = propose(s, l, buf, len);
    p = proposePuts(s, l, "m", 10, 10);
    waitProps(s, ms, 11);
    assertCommitted(ms, 11);
    assert_true(ms->res.changed);
    waitApplied(s, 4, p[9].req.index);
    unsigned four[] = {0, 1, 2, 3};
    assertSame(s, four, 4, 20);

    unsigned gone = (l + 1) % 3;
    struct change *rm = newChange(s);
    assert_int_equal(raft_remove(leader, &rm->req, gone + 1, changeDone), 0);
    waitChange(s, rm);
    assert_int_equal(rm->status, 0);

    p = proposePuts(s, l, "after", 0, 5);
    waitProps(s, p, 5);
    assertCommitted(p, 5);
    unsigned rest[3];
    unsigned m = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (i != gone) {
            rest[m++] = i;
            waitApplied(s, i, p[4].req.index);
        }
    }
    assertSame(s, rest, 3, 25);
    const struct raft_configuration *conf = &leader->configuration;
    assert_int_equal(conf->n, 3);
    for (unsigned i = 0; i < conf->n; i++) {
        assert_int_not_equal(conf->servers[i].id, gone + 1);
        assert_int_equal(conf->servers[i].role, RAFT_VOTER);
    }
    for (unsigned i = 0; i < 3; i++) {
        assert_string_equal(fsmMemberRpcAddr(s->core[rest[i]], 4), "127.0.0.1:7004");
        assert_int_equal(fsmJobGet(s->core[rest[i]], "", "after-004")->id, 25);
    }
    /* The removed server saw nothing after its removal. */
    assert_null(fsmJobGet(s->core[gone], "", "after-000"));
    simClose(s);
}

/* The bridge's functions called directly, without raft: results, the snapshot header, and
 * restores raft must see fail (and whose buffer it then still owns). */
static void test_bridge_direct(void **state)
{
    (void)state;
    struct rc_fsm *a;
    struct raft_fsm fa;
    assert_int_equal(fsmCreate(&a), 0);
    assert_int_equal(fsmBridgeInit(&fa, a), 0);
    assert_int_equal(fa.version, 1);

    void *enc;
    size_t len;
    encodePut("x", "true", T0, 0, &enc, &len);
    struct raft_buffer entry = {.base = enc, .len = len};
    void *result = NULL;
    assert_int_equal(fa.apply(&fa, &entry, &result), 0);
    const struct rc_fsm_result *res = result;
    assert_non_null(res);
    assert_int_equal(res->code, 0);
    assert_true(res->created);
    assert_int_equal(res->job_id, 1);
    assert_int_equal(fsmAppliedIndex(a), 1);
    free(enc);
    static char junk[] = {0x0a, 0x7f};
    entry.base = junk;
    entry.len = sizeof junk;
    assert_int_equal(fa.apply(&fa, &entry, &result), 0);
    assert_int_equal(((const struct rc_fsm_result *)result)->code, RC_EPARSE);
    assert_int_equal(fsmAppliedIndex(a), 2);

    struct raft_buffer *bufs = NULL;
    unsigned n = 0;
    assert_int_equal(fa.snapshot(&fa, &bufs, &n), 0);
    assert_int_equal(n, 1);
    const uint8_t *p = bufs[0].base;
    assert_memory_equal(p, "RCF1", 4);
    assert_int_equal(p[11], 2); /* big-endian index 2 */

    struct rc_fsm *b;
    struct raft_fsm fb;
    assert_int_equal(fsmCreate(&b), 0);
    assert_int_equal(fsmBridgeInit(&fb, b), 0);
    struct raft_buffer copy = {.base = raft_malloc(bufs[0].len), .len = bufs[0].len};
    memcpy(copy.base, bufs[0].base, copy.len);
    ((uint8_t *)copy.base)[0] = 'X';
    assert_int_equal(fb.restore(&fb, &copy), RAFT_CORRUPT);
    assert_non_null(strstr(fsmBridgeErrmsg(&fb), "no RCF1 header"));
    ((uint8_t *)copy.base)[0] = 'R';
    ((uint8_t *)copy.base)[copy.len - 20] ^= 1;
    assert_int_equal(fb.restore(&fb, &copy), RAFT_CORRUPT);
    assert_non_null(strstr(fsmBridgeErrmsg(&fb), "restore at 2: snapshot: checksum"));
    assert_int_equal(fsmJobCount(b), 0);
    assert_int_equal(fsmAppliedIndex(b), 0);
    ((uint8_t *)copy.base)[copy.len - 20] ^= 1;
    assert_int_equal(fb.restore(&fb, &copy), 0); /* the bridge freed copy.base */
    assert_int_equal(fsmDigest(b), fsmDigest(a));
    assert_int_equal(fsmAppliedIndex(b), 2);
    assert_non_null(fsmJobGet(b, "", "x"));

    raft_free(bufs[0].base);
    raft_free(bufs);
    fsmBridgeClose(&fb);
    fsmBridgeClose(&fa);
    fsmDestroy(b);
    fsmDestroy(a);
}

/* Closes the cluster of a test that failed half-way (a passing test closed it already). */
static int teardown(void **state)
{
    (void)state;
    simClose(current);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_direct),
        cmocka_unit_test_teardown(test_election, teardown),
        cmocka_unit_test_teardown(test_replicate_100, teardown),
        cmocka_unit_test_teardown(test_snapshot_catch_up, teardown),
        cmocka_unit_test_teardown(test_deposed_with_pending_entry, teardown),
        cmocka_unit_test_teardown(test_partition, teardown),
        cmocka_unit_test_teardown(test_membership, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
