/*
 * The run-history export (src/node/export.c, docs/ledger.md "Export to PostgreSQL") with real
 * nodes and a real PostgreSQL: a 3-node cluster whose nodes carry --history-postgres finishes
 * 10,000 runs while its leader is killed and PostgreSQL is restarted; every run must be in
 * raftcron_runs exactly once (as many rows as distinct run ids, and the ids exactly those the
 * backfills created), and the FSM must keep runs beyond --history-runs until they are exported
 * and drop them after.
 *
 * The runs come from backfills of paused per-second jobs, 1,000 instants each. One job runs
 * `true` on the nodes (SUCCEEDED runs); the others target a tag no worker has, so that their
 * runs stay pending until the test cancels them (CANCELLED runs, finished as fast as Raft
 * commits, where executing 10,000 processes would measure the execution path instead).
 * RC_EXPORT_RUNS overrides the total (a multiple of 1,000, at least 3,000).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/backfill.h"
#include "harness.h"
#include "harness_pg.h"
#include "raftcron.pb-c.h"

#define SEC   INT64_C(1000000)
#define CHUNK 1000

static struct harness_pg pg;

static int64_t wallNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static int cmpU64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Backfill job name over [from, from + CHUNK s): CHUNK runs, their ids appended to ids. */
static void backfill(struct rc_client *c, const char *name, int64_t from, uint64_t *ids, size_t *n)
{
    Raftcron__BackfillResponse *r = NULL;
    int rv = rc_job_backfill(c, "", name, from, from + (CHUNK - 1) * SEC, CHUNK, 0, &r);
    if (rv != 0) {
        fail_msg("backfill %s: %s", name, rc_client_errmsg(c));
    }
    assert_int_equal(r->runs_created, CHUNK);
    for (size_t i = 0; i < r->n_instants; i++) {
        assert_int_equal(r->instants[i]->outcome, RC_BACKFILL_FIRED);
        ids[(*n)++] = r->instants[i]->run_id;
    }
    rc_message_free(r);
}

static long long exportedRows(void)
{
    return harnessPgScalar(&pg, "SELECT count(*) FROM raftcron_runs");
}

/* Poll until the table holds want rows (or timeout_ms passed); returns what it holds. */
static long long waitRows(long long want, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    long long n = 0;
    while ((n = exportedRows()) < want && harnessNowMs() < deadline) {
        usleep(200000);
    }
    return n;
}

/* Runs of job name the leader's FSM holds. */
static size_t heldRuns(struct rc_client *c, const char *name)
{
    Raftcron__RunListResponse *list = NULL;
    if (rc_run_list(c, "", name, "", 1000, 0, &list) != 0) {
        fail_msg("run list %s: %s", name, rc_client_errmsg(c));
    }
    size_t n = list->n_runs;
    rc_message_free(list);
    return n;
}

static void addJob(const char *ep, const char *name, const char *zone)
{
    char buf[4096];
    /* Paused: only the backfills run it. */
    if (harnessRun(buf, sizeof buf,
                   "%s/raftcronctl --endpoints %s job add %s --cron '* * * * * *' "
                   "--max-instances %d --target zone=%s --paused --shell true",
                   H.bin, ep, name, CHUNK, zone) != 0) {
        fail_msg("job add %s: %s", name, buf);
    }
}

/* Cancel runs ids[from, to): each becomes CANCELLED, a finished run for the export. fault, when
 * set, is called halfway, while the export is busy with the runs cancelled so far. */
static void cancelRuns(struct rc_client **c, const uint64_t *ids, size_t from, size_t to,
                       void (*fault)(struct rc_client **c))
{
    for (size_t i = from; i < to; i++) {
        if (fault != NULL && i == from + (to - from) / 2) {
            fault(c);
        }
        if (rc_run_cancel(*c, ids[i]) != 0) {
            fail_msg("cancel run %llu: %s", (unsigned long long)ids[i], rc_client_errmsg(*c));
        }
    }
}

static const char *const *nodeFlags;
static int64_t started_ms;

static double secondsSince(int64_t t0)
{
    return (double)(harnessNowMs() - t0) / 1000;
}

/* SIGKILL the leader, wait for another, start the dead node again, reconnect the client. */
static void killLeader(struct rc_client **c)
{
    uint64_t leader = harnessWaitLeader(&H, 3, 3, 20000);
    assert_int_not_equal(leader, 0);
    print_message("%lld rows exported after %.1f s, when leader %llu is killed\n", exportedRows(),
                  secondsSince(started_ms), (unsigned long long)leader);
    harnessSignal(&H, (int)leader, SIGKILL);
    assert_int_not_equal(harnessWaitLeader(&H, 3, 2, 30000), 0);
    harnessStart(&H, (int)leader, nodeFlags);
    rc_client_close(*c);
    *c = harnessClient(&H, 3, 20 * SEC);
}

static void restartPostgres(struct rc_client **c)
{
    (void)c;
    print_message("%lld rows exported after %.1f s, when PostgreSQL is restarted\n", exportedRows(),
                  secondsSince(started_ms));
    harnessPgRestart(&pg);
}

static void test_export_exactly_once(void **state)
{
    (void)state;
    const char *env = getenv("RC_EXPORT_RUNS");
    size_t total = env != NULL ? (size_t)strtoul(env, NULL, 10) : 10000;
    size_t jobs = total / CHUNK;
    assert_true(jobs >= 3 && jobs <= 20 && jobs * CHUNK == total);
    const char *extra[] = {"--history-postgres",
                           pg.conninfo,
                           "--history-runs",
                           "5",
                           "--max-parallel",
                           "64",
                           "--tags",
                           "zone=a",
                           NULL};
    assert_int_not_equal(harnessStartCluster(&H, 3, extra), 0);
    struct rc_client *c = harnessClient(&H, 3, 20 * SEC);
    char name[32], ep[256];
    harnessEndpoints(&H, 3, ep, sizeof ep);
    addJob(ep, "exec", "a");
    for (size_t j = 1; j < jobs; j++) {
        snprintf(name, sizeof name, "c%zu", j);
        addJob(ep, name, "nowhere");
    }
    uint64_t *ids = calloc(total, sizeof *ids);
    assert_non_null(ids);
    size_t n = 0;
    int64_t t0 = harnessNowMs();
    int64_t from = (wallNow() / SEC - 2 * (int64_t)CHUNK - 60) * SEC;

    /* 1,000 executed runs, then the cancelled ones; the leader is killed in the middle of the
     * first half, PostgreSQL restarted in the middle of the second. */
    nodeFlags = extra;
    started_ms = t0;
    backfill(c, "exec", from, ids, &n);
    size_t half = jobs / 2;
    for (size_t j = 1; j < jobs; j++) {
        snprintf(name, sizeof name, "c%zu", j);
        size_t first = n;
        backfill(c, name, from, ids, &n);
        cancelRuns(&c, ids, first, n,
                   j == half - 1                   ? killLeader
                   : j == half + (jobs - half) / 2 ? restartPostgres
                                                   : NULL);
    }
    assert_int_equal(n, total);
    long long rows = waitRows((long long)total, 300000);
    print_message("%lld of %zu runs exported in %.1f s across a leader kill and a PostgreSQL "
                  "restart\n",
                  rows, total, secondsSince(started_ms));
    assert_int_equal(rows, (long long)total);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(DISTINCT run_id) FROM raftcron_runs"),
                     (long long)total);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(*) FROM raftcron_runs WHERE job = "
                                          "'default/exec' AND state <> 'cancelled'"),
                     CHUNK);

    /* The outage was noticed and logged by the leader of the moment. */
    bool logged = false;
    for (int id = 1; id <= 3; id++) {
        char log[300];
        snprintf(log, sizeof log, "%s/node%d.log", H.dir, id);
        logged |= harnessFileContains(log, "history export: PostgreSQL unavailable");
    }
    assert_true(logged);

    /* Exactly the runs the backfills created. */
    qsort(ids, n, sizeof *ids, cmpU64);
    PGconn *conn = harnessPgConnect(&pg);
    PGresult *r = PQexec(conn, "SELECT run_id FROM raftcron_runs ORDER BY run_id");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), (int)total);
    for (int i = 0; i < PQntuples(r); i++) {
        assert_int_equal(strtoull(PQgetvalue(r, i, 0), NULL, 10), ids[i]);
    }
    PQclear(r);
    PQfinish(conn);

    /* Exported runs leave the ledger down to --history-runs (5 per job). */
    int64_t deadline = harnessNowMs() + 30000;
    size_t held = 0;
    do {
        held = heldRuns(c, "c1");
    } while (held > 5 && harnessNowMs() < deadline && usleep(200000) == 0);
    assert_true(held <= 5);
    free(ids);
    rc_client_close(c);
}

static int setup(void **state)
{
    harnessPgStart(&pg);
    return harnessSetup(state);
}

static int teardown(void **state)
{
    int rv = harnessTeardown(state);
    harnessPgClose(&pg);
    return rv;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export_exactly_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
