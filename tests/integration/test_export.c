/*
 * The run-history export (src/node/export.c, docs/ledger.md "Export to PostgreSQL") with real
 * nodes and a real PostgreSQL: a 3-node cluster whose nodes carry --history-postgres executes
 * 10,000 runs (ten jobs, each backfilled with 1,000 instants of a per-second schedule, running
 * `true`), while the leader is killed and PostgreSQL is restarted; every run must be in
 * raftcron_runs exactly once (the row count equals the number of distinct run ids, and the ids
 * are exactly those the backfills created), the FSM must keep runs beyond --history-runs until
 * they are exported and drop them after. RC_EXPORT_RUNS overrides the count (a multiple of
 * 1,000).
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

static void test_export_exactly_once(void **state)
{
    (void)state;
    const char *env = getenv("RC_EXPORT_RUNS");
    size_t total = env != NULL ? (size_t)strtoul(env, NULL, 10) : 10000;
    size_t jobs = total / CHUNK;
    assert_true(jobs >= 2 && jobs <= 20);
    harnessPgStart(&pg);
    const char *extra[] = {
        "--history-postgres", pg.conninfo, "--history-runs", "5", "--max-parallel", "64", NULL};
    assert_int_not_equal(harnessStartCluster(&H, 3, extra), 0);
    struct rc_client *c = harnessClient(&H, 3, 20 * SEC);
    char name[32], ep[256], buf[4096];
    harnessEndpoints(&H, 3, ep, sizeof ep);
    for (size_t j = 0; j < jobs; j++) {
        /* Paused: only the backfills run it. */
        snprintf(name, sizeof name, "x%zu", j);
        if (harnessRun(buf, sizeof buf,
                       "%s/raftcronctl --endpoints %s job add %s --cron '* * * * * *' "
                       "--max-instances %d --retries 2 --paused --shell true",
                       H.bin, ep, name, CHUNK) != 0) {
            fail_msg("job add %s: %s", name, buf);
        }
    }
    uint64_t *ids = calloc(total, sizeof *ids);
    assert_non_null(ids);
    size_t n = 0;
    int64_t t0 = harnessNowMs();
    int64_t from = (wallNow() / SEC - 2 * (int64_t)CHUNK - 60) * SEC;

    /* First half, then the leader dies in the middle of executing and exporting it. */
    for (size_t j = 0; j < jobs / 2; j++) {
        snprintf(name, sizeof name, "x%zu", j);
        backfill(c, name, from, ids, &n);
    }
    long long before = waitRows((long long)n / 4, 300000);
    print_message("%lld rows exported after %.1f s, when the leader is killed\n", before,
                  (double)(harnessNowMs() - t0) / 1000);
    uint64_t leader = harnessWaitLeader(&H, 3, 3, 20000);
    assert_int_not_equal(leader, 0);
    harnessSignal(&H, (int)leader, SIGKILL);
    assert_int_not_equal(harnessWaitLeader(&H, 3, 2, 30000), 0);
    harnessStart(&H, (int)leader, extra);
    rc_client_close(c);
    c = harnessClient(&H, 3, 20 * SEC);

    /* Second half, with PostgreSQL restarted while it runs. */
    for (size_t j = jobs / 2; j < jobs; j++) {
        snprintf(name, sizeof name, "x%zu", j);
        backfill(c, name, from, ids, &n);
    }
    assert_int_equal(n, total);
    long long mid = waitRows((long long)total * 5 / 8, 300000);
    print_message("%lld rows exported after %.1f s, when PostgreSQL is restarted\n", mid,
                  (double)(harnessNowMs() - t0) / 1000);
    harnessPgRestart(&pg);
    long long rows = waitRows((long long)total, 400000);
    int64_t took = harnessNowMs() - t0;
    print_message("%lld of %zu runs exported in %.1f s across a leader kill and a PostgreSQL "
                  "restart\n",
                  rows, total, (double)took / 1000);
    assert_int_equal(rows, (long long)total);
    assert_int_equal(harnessPgScalar(&pg, "SELECT count(DISTINCT run_id) FROM raftcron_runs"),
                     (long long)total);

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
    r = PQexec(conn, "SELECT count(*) FROM raftcron_runs WHERE state NOT IN ('succeeded', 'dead', "
                     "'cancelled') OR export_seq <= 0");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(conn);

    /* Exported runs leave the ledger down to --history-runs (5 per job). */
    int64_t deadline = harnessNowMs() + 30000;
    size_t held = 0;
    do {
        held = heldRuns(c, "x0");
    } while (held > 5 && harnessNowMs() < deadline && usleep(200000) == 0);
    assert_true(held <= 5);
    free(ids);
    rc_client_close(c);
    harnessPgClose(&pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export_exactly_once, harnessSetup, harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
