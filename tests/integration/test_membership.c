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

static struct harness H;

static int setup(void **state)
{
    (void)state;
    harnessInit(&H);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harnessClose(&H) ? 0 : -1;
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_last_voter_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_and_transfer_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_members_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
