/*
 * Membership changes that would break the cluster are refused (docs/operations.md
 * "Membership"): removing or demoting the last voter, or a voter whose departure leaves the
 * reachable voters short of a majority; adding a second member on a raft address in use, or a
 * member that exists under another role; a transfer to a standby. A node that cannot be caught
 * up is reported as left behind as a spare, with how to undo it. Each refusal leaves the
 * cluster serving, and every completed change is logged on the leader.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC INT64_C(1000000)

static void expectRefused(struct rc_client *c, int rv, int status, const char *needle)
{
    if (rv == 0 || rc_client_status(c) != status || strstr(rc_client_errmsg(c), needle) == NULL) {
        fail_msg("expected status %d with \"%s\", got rv %d status %d: %s", status, needle, rv,
                 rc_client_status(c), rc_client_errmsg(c));
    }
}

/* The cluster still takes writes. */
static void writeOne(struct rc_client *c, const char *name)
{
    harnessPutJob(c, &(struct harness_job){.name = name, .command = "true"});
}

static void roleOf(struct rc_client *c, uint64_t id, const char *want)
{
    Raftcron__ClusterStatus *st = NULL;
    assert_int_equal(rc_cluster_status(c, 0, &st), 0);
    const char *role = "absent";
    for (size_t i = 0; i < st->n_members; i++) {
        if (st->members[i]->id == id) {
            role = st->members[i]->role;
        }
    }
    if (strcmp(role, want) != 0) {
        rc_message_free(st);
        fail_msg("member %llu is %s, want %s", (unsigned long long)id, role, want);
    }
    rc_message_free(st);
}

static void test_last_voter_stays(void **state)
{
    (void)state;
    assert_int_not_equal(harnessStartCluster(&H, 1, NULL), 0);
    struct rc_client *c = harnessClient(&H, 1, 10 * SEC);
    expectRefused(c, rc_member_demote(c, 1, 0), RC_STATUS_FAILED_PRECONDITION,
                  "member 1 is the last voter");
    expectRefused(c, rc_member_remove(c, 1, 0), RC_STATUS_FAILED_PRECONDITION,
                  "member 1 is the last voter");
    /* Not even with --force: a cluster without voters can never elect a leader again. */
    expectRefused(c, rc_member_remove(c, 1, 1), RC_STATUS_FAILED_PRECONDITION, "last voter");
    roleOf(c, 1, "voter");
    writeOne(c, "still-serving");
    rc_client_close(c);
}

static void test_quorum_kept(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_int_not_equal(leader, 0);
    int down = leader == 3 ? 2 : 3;
    int other = 6 - (int)leader - down; /* the third voter, running */
    harnessSignal(&H, down, SIGSTOP);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    /* Without a running voter only 1 of the 2 voters left answers. */
    expectRefused(c, rc_member_remove(c, (uint64_t)other, 0), RC_STATUS_FAILED_PRECONDITION,
                  "not a majority");
    expectRefused(c, rc_member_demote(c, leader, 0), RC_STATUS_FAILED_PRECONDITION,
                  "not a majority");
    roleOf(c, (uint64_t)other, "voter");
    roleOf(c, leader, "voter");
    writeOne(c, "after-refusals");
    /* Removing the silent voter itself keeps the two that answer: allowed. */
    assert_int_equal(rc_member_remove(c, (uint64_t)down, 0), 0);
    roleOf(c, (uint64_t)down, "absent");
    writeOne(c, "after-remove");
    harnessSignal(&H, down, SIGCONT);
    /* With everyone answering, demoting one of two voters leaves one of one: allowed. */
    assert_int_equal(rc_member_demote(c, (uint64_t)other, 0), 0);
    roleOf(c, (uint64_t)other, "standby");
    writeOne(c, "after-demote");
    char log[300];
    snprintf(log, sizeof log, "%s/node%d.log", H.dir, (int)leader);
    assert_true(harnessFileContains(log, "msg=\"member removed\""));
    assert_true(harnessFileContains(log, "msg=\"member role changed\""));
    rc_client_close(c);
}

static void test_add_and_transfer_checks(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_int_not_equal(leader, 0);
    struct rc_client *c = harnessClient(&H, 3, 20 * SEC);
    char raft2[64], rpc[64];
    harnessRaftAddr(&H, 2, raft2, sizeof raft2);
    harnessRpcAddr(&H, 5, rpc, sizeof rpc);
    expectRefused(c, rc_member_add(c, 6, raft2, rpc, 0), RC_STATUS_ALREADY_EXISTS, "is member 2's");
    /* Demote 3, then "add 3" as a voter: it exists, as a standby. */
    assert_int_equal(rc_member_demote(c, 3, 0), 0);
    char raft3[64], rpc3[64];
    harnessRaftAddr(&H, 3, raft3, sizeof raft3);
    harnessRpcAddr(&H, 3, rpc3, sizeof rpc3);
    expectRefused(c, rc_member_add(c, 3, raft3, rpc3, 0), RC_STATUS_ALREADY_EXISTS,
                  "already exists as a standby; use 'member promote 3'");
    expectRefused(c, rc_member_transfer(c, 3), RC_STATUS_FAILED_PRECONDITION,
                  "member 3 is a standby: only a voter can lead");
    assert_int_equal(rc_member_promote(c, 3), 0);
    roleOf(c, 3, "voter");
    /* A node that is not running cannot be caught up: it is left a spare, and the answer says
     * so and how to undo it. */
    char raft5[64];
    harnessRaftAddr(&H, 5, raft5, sizeof raft5);
    expectRefused(c, rc_member_add(c, 5, raft5, rpc, 0), RC_STATUS_UNAVAILABLE,
                  "member 5 is in the configuration as a spare but could not be caught up");
    roleOf(c, 5, "spare");
    assert_int_equal(rc_member_remove(c, 5, 0), 0);
    roleOf(c, 5, "absent");
    writeOne(c, "still-serving");
    rc_client_close(c);
}

/* A removed member learns it (Raft never tells it) and stops with status 0; a removed leader
 * too. Before the check both kept campaigning forever. */
static void test_removed_members_stop(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 4, NULL);
    assert_int_not_equal(leader, 0);
    struct rc_client *c = harnessClient(&H, 4, 20 * SEC);
    int follower = leader == 4 ? 3 : 4;
    assert_int_equal(rc_member_remove(c, (uint64_t)follower, 0), 0);
    assert_int_equal(harnessWait(&H, follower, 30000), 0);
    char log[300];
    snprintf(log, sizeof log, "%s/node%d.log", H.dir, follower);
    assert_true(harnessFileContains(log, "removed from the cluster"));
    /* The leader removes itself: it steps down, and stops as well. */
    assert_int_equal(rc_member_remove(c, leader, 0), 0);
    assert_int_equal(harnessWait(&H, (int)leader, 30000), 0);
    snprintf(log, sizeof log, "%s/node%d.log", H.dir, (int)leader);
    assert_true(harnessFileContains(log, "removed from the cluster"));
    /* The two left elect a leader and serve. */
    assert_int_not_equal(harnessWaitLeader(&H, 4, 2, 20000), 0);
    writeOne(c, "after-removals");
    rc_client_close(c);
}

/* A majority lost for good: the survivor restarted with --recover becomes the only voter of
 * its log, keeps every job, takes writes, and takes new members with empty data dirs. Without
 * --recover it could never elect a leader again. An old member that comes back with its old
 * data dir finds itself removed and stops. */
static void test_recover_after_losing_the_majority(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_int_not_equal(leader, 0);
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "j%02d", i);
        writeOne(c, name);
    }
    rc_client_close(c);
    int survivor = leader == 1 ? 2 : 1;
    int lost = 6 - survivor - (int)leader;
    harnessSignal(&H, (int)leader, SIGKILL);
    harnessSignal(&H, lost, SIGKILL);
    harnessSignal(&H, survivor, SIGTERM);
    assert_int_equal(harnessWait(&H, survivor, 15000), 0);
    const char *const recover[] = {"--recover", NULL};
    harnessStart(&H, survivor, recover);
    c = harnessClientOf(&H, survivor, 10 * SEC);
    int64_t deadline = harnessNowMs() + 20000;
    Raftcron__JobListResponse *list = NULL;
    while (rc_job_list(c, NULL, 0, &list) != 0 && harnessNowMs() < deadline) {
        usleep(100000);
    }
    assert_non_null(list);
    assert_int_equal(list->n_jobs, 20);
    rc_message_free(list);
    roleOf(c, (uint64_t)survivor, "voter");
    roleOf(c, leader, "absent");
    writeOne(c, "after-recovery");
    /* The old leader comes back with its old data dir. It cannot apply its log (no leader in
     * its configuration), so it asks the addresses it kept on disk, learns it is no member,
     * and stops; meanwhile the recovered cluster takes writes. */
    harnessStart(&H, (int)leader, NULL);
    writeOne(c, "with-the-old-leader-back");
    rc_client_close(c);
    assert_int_equal(harnessWait(&H, (int)leader, 30000), 0);
    char log[300];
    snprintf(log, sizeof log, "%s/node%d.log", H.dir, (int)leader);
    assert_true(harnessFileContains(log, "removed from the cluster"));
    /* A wiped node joins the recovered cluster and gets everything. */
    char dir[300], out[256];
    harnessDataDir(&H, lost, dir, sizeof dir);
    assert_int_equal(harnessRun(out, sizeof out, "rm -rf '%s'", dir), 0);
    char via[64];
    harnessRpcAddr(&H, survivor, via, sizeof via);
    const char *const join[] = {"--join", via, NULL};
    harnessStart(&H, lost, join);
    assert_true(harnessWaitConverged(&H, 3, lost, 30000));
}

/* --recover needs a log: on an empty data dir it refuses, naming the dir. */
static void test_recover_needs_a_log(void **state)
{
    (void)state;
    const char *const recover[] = {"--recover", NULL};
    harnessStart(&H, 1, recover);
    assert_int_equal(harnessWait(&H, 1, 15000), 1);
    char log[300];
    snprintf(log, sizeof log, "%s/node1.log", H.dir);
    assert_true(harnessFileContains(log, "holds no log to recover"));
}

/* Two clusters, and the first is told to add a node of the second (an address reused, a
 * mistyped member add): the second node refuses the first's connections at the handshake, so
 * its log and jobs stay its own, and the add fails saying the node was left a spare. Without
 * the cluster id, the first leader's appends would have replaced the second node's log. */
static void test_foreign_cluster_refused(void **state)
{
    (void)state;
    const char *const bootstrap[] = {"--bootstrap", NULL};
    harnessStart(&H, 1, bootstrap);
    harnessStart(&H, 2, bootstrap);
    struct rc_client *a = harnessClientOf(&H, 1, 10 * SEC);
    struct rc_client *b = harnessClientOf(&H, 2, 10 * SEC);
    int64_t deadline = harnessNowMs() + 20000;
    Raftcron__ClusterStatus *st = NULL;
    while ((rc_cluster_status(b, 0, &st) != 0 || st->leader_id != 2) && harnessNowMs() < deadline) {
        rc_message_free(st);
        st = NULL;
        usleep(50000);
    }
    assert_non_null(st);
    char b_cluster[20];
    snprintf(b_cluster, sizeof b_cluster, "%s", st->cluster_id);
    assert_int_equal(strlen(b_cluster), 16);
    rc_message_free(st);
    writeOne(a, "a-only");
    writeOne(b, "b-only");
    char raft2[64], rpc2[64];
    harnessRaftAddr(&H, 2, raft2, sizeof raft2);
    harnessRpcAddr(&H, 2, rpc2, sizeof rpc2);
    expectRefused(a, rc_member_add(a, 2, raft2, rpc2, 0), RC_STATUS_UNAVAILABLE,
                  "could not be caught up");
    char log[300];
    snprintf(log, sizeof log, "%s/node2.log", H.dir);
    assert_true(harnessFileContains(log, "refused a peer of another cluster"));
    /* Node 2 is still the leader of its own cluster, with its own job only. */
    assert_int_equal(rc_cluster_status(b, 0, &st), 0);
    assert_int_equal(st->leader_id, 2);
    assert_string_equal(st->cluster_id, b_cluster);
    assert_int_equal(st->n_members, 1);
    rc_message_free(st);
    Raftcron__JobListResponse *list = NULL;
    assert_int_equal(rc_job_list(b, NULL, 0, &list), 0);
    assert_int_equal(list->n_jobs, 1);
    assert_string_equal(list->jobs[0]->spec->name, "b-only");
    rc_message_free(list);
    assert_int_equal(rc_member_remove(a, 2, 0), 0);
    rc_client_close(a);
    rc_client_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_last_voter_stays, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_quorum_kept, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_add_and_transfer_checks, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_removed_members_stop, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_recover_after_losing_the_majority, harnessSetup,
                                        harnessTeardown),
        cmocka_unit_test_setup_teardown(test_recover_needs_a_log, harnessSetup, harnessTeardown),
        cmocka_unit_test_setup_teardown(test_foreign_cluster_refused, harnessSetup,
                                        harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
