/*
 * Job.Backfill end to end (docs/misfire.md "Backfill"): three nodes, a paused 5-minute cron job
 * whose shell command appends "$RAFTCRON_SCHEDULED_AT $RAFTCRON_RUN_ID" to a file. Backfilling
 * its past hour runs its 12 instants once each; the same backfill again runs nothing; a range of
 * more than 1000 instants and a range ending in the future are refused and create nothing. The
 * CLI is driven for the same calls (dry run, JSON, errors, run list marks).
 */
#include <setjmp.h>
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
#include "core/timefmt.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC   INT64_C(1000000)
#define STEP  (300 * SEC)
#define LINES 64

static int64_t wallNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

struct line {
    char at[RC_TIMEFMT_MAX];
    unsigned long long run_id;
};

static size_t readLines(const char *path, struct line *out, size_t max)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    while (f != NULL && n < max && fscanf(f, "%39s %llu", out[n].at, &out[n].run_id) == 2) {
        n++;
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static size_t waitLines(const char *path, size_t want, int timeout_ms)
{
    struct line lines[LINES];
    int64_t deadline = harnessNowMs() + timeout_ms;
    size_t n = 0;
    while ((n = readLines(path, lines, LINES)) < want && harnessNowMs() < deadline) {
        usleep(50000);
    }
    return n;
}

static size_t runsOf(struct rc_client *c, const char *state)
{
    Raftcron__RunListResponse *l = NULL;
    assert_int_equal(rc_run_list(c, "", "bf", state, 1000, 0, &l), 0);
    size_t n = l->n_runs;
    rc_message_free(l);
    return n;
}

static void waitSucceeded(struct rc_client *c, size_t want, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    while (runsOf(c, "succeeded") < want && harnessNowMs() < deadline) {
        usleep(100000);
    }
    assert_int_equal(runsOf(c, "succeeded"), want);
}

/* Exactly the 12 expected instants, each once, each by the run the reply named. */
static void checkFile(const char *path, const int64_t *instants, const uint64_t *run_ids)
{
    struct line lines[LINES];
    size_t n = readLines(path, lines, LINES);
    assert_int_equal(n, 12);
    for (size_t i = 0; i < 12; i++) {
        char want[RC_TIMEFMT_MAX];
        timefmtFormat(instants[i], 0, want);
        size_t seen = 0;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(lines[j].at, want) == 0) {
                seen++;
                assert_int_equal(lines[j].run_id, run_ids[i]);
            }
        }
        if (seen != 1) {
            fail_msg("instant %s executed %zu times", want, seen);
        }
    }
}

static void test_backfill_past_hour(void **state)
{
    (void)state;
    uint64_t leader = harnessStartCluster(&H, 3, NULL);
    assert_int_not_equal(leader, 0);
    char ep[256], out[300], ctl[800], buf[8192];
    harnessEndpoints(&H, 3, ep, sizeof ep);
    snprintf(out, sizeof out, "%s/backfill.txt", H.dir);
    snprintf(ctl, sizeof ctl, "%s/raftcronctl --endpoints %s", H.bin, ep);
    /* Created paused, so that the schedule itself never runs it during the test. */
    int rc = harnessRun(buf, sizeof buf,
                        "%s job add bf --cron '*/5 * * * *' --max-instances 20 --paused "
                        "--shell 'echo \"$RAFTCRON_SCHEDULED_AT $RAFTCRON_RUN_ID\" >> %s'",
                        ctl, out);
    if (rc != 0) {
        fail_msg("job add: %s", buf);
    }
    struct rc_client *c = harnessClient(&H, 3, 10 * SEC);

    /* (now − 1h, now], in whole seconds: exactly 12 instants of the 5-minute schedule. */
    int64_t to = wallNow() / SEC * SEC;
    int64_t from = to - 3600 * SEC + SEC;
    int64_t instants[12];
    int64_t first = (from + STEP - 1) / STEP * STEP;
    for (size_t i = 0; i < 12; i++) {
        instants[i] = first + (int64_t)i * STEP;
    }
    assert_true(instants[11] <= to);

    /* Dry run: the plan, nothing created. */
    Raftcron__BackfillResponse *r = NULL;
    assert_int_equal(rc_job_backfill(c, "", "bf", from, to, 0, 1, &r), 0);
    assert_true(r->dry_run);
    assert_int_equal(r->n_instants, 12);
    assert_int_equal(r->runs_created, 0);
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(r->instants[i]->at_us, instants[i]);
        assert_int_equal(r->instants[i]->outcome, RC_BACKFILL_FIRED);
        assert_int_equal(r->instants[i]->run_id, 0);
    }
    rc_message_free(r);
    assert_int_equal(runsOf(c, ""), 0);

    /* The backfill: 12 runs, one per instant, executed although the job is paused. */
    assert_int_equal(rc_job_backfill(c, "", "bf", from, to, 0, 0, &r), 0);
    assert_false(r->dry_run);
    assert_int_equal(r->runs_created, 12);
    assert_int_equal(r->n_instants, 12);
    uint64_t run_ids[12];
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(r->instants[i]->outcome, RC_BACKFILL_FIRED);
        run_ids[i] = r->instants[i]->run_id;
        assert_int_not_equal(run_ids[i], 0);
    }
    rc_message_free(r);
    assert_int_equal(waitLines(out, 12, 60000), 12);
    waitSucceeded(c, 12, 30000);
    checkFile(out, instants, run_ids);
    Raftcron__Run *run = NULL;
    assert_int_equal(rc_run_get(c, run_ids[3], 0, &run), 0);
    assert_true(run->manual);
    assert_true(run->backfill);
    assert_int_equal(run->scheduled_us, instants[3]);
    rc_message_free(run);

    /* The same backfill again: every instant is already decided; nothing runs twice. */
    assert_int_equal(rc_job_backfill(c, "", "bf", from, to, 0, 0, &r), 0);
    assert_int_equal(r->runs_created, 0);
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(r->instants[i]->outcome, RC_BACKFILL_DECIDED);
        assert_int_equal(r->instants[i]->decision, 1); /* fired */
    }
    rc_message_free(r);
    rc = harnessRun(buf, sizeof buf, "%s job backfill bf --from yesterday --to now", ctl);
    assert_int_equal(rc, 2); /* a usage error: not a timestamp */
    char f3339[RC_TIMEFMT_MAX], t3339[RC_TIMEFMT_MAX];
    timefmtFormat(from, 0, f3339);
    timefmtFormat(to, 0, t3339);
    rc = harnessRun(buf, sizeof buf, "%s job backfill bf --from %s --to %s", ctl, f3339, t3339);
    if (rc != 0 || strstr(buf, "12 instants: 0 fired, 0 skipped, 12 decided") == NULL ||
        strstr(buf, "; 0 runs created") == NULL || strstr(buf, "already fired (decision") == NULL) {
        fail_msg("job backfill again (exit %d): %s", rc, buf);
    }

    /* More than 1000 instants (five days: 1440), and a range ending in the future: refused,
     * nothing created, the count and the limit named. */
    assert_int_equal(rc_job_backfill(c, "", "bf", to - 5 * 86400 * SEC + SEC, to, 0, 0, &r),
                     RC_EINVAL);
    assert_int_equal(rc_client_status(c), RC_STATUS_INVALID_ARGUMENT);
    if (strstr(rc_client_errmsg(c), "1440 instants") == NULL ||
        strstr(rc_client_errmsg(c), "more than the limit 1000") == NULL) {
        fail_msg("too large: %s", rc_client_errmsg(c));
    }
    assert_int_equal(rc_job_backfill(c, "", "bf", from, to, 5, 1, &r), RC_EINVAL);
    assert_non_null(strstr(rc_client_errmsg(c), "holds 12 instants"));
    assert_int_equal(rc_job_backfill(c, "", "bf", from, to + 3600 * SEC, 0, 0, &r), RC_EINVAL);
    if (strstr(rc_client_errmsg(c), "in the future") == NULL) {
        fail_msg("future: %s", rc_client_errmsg(c));
    }
    char early[RC_TIMEFMT_MAX], late[RC_TIMEFMT_MAX];
    timefmtFormat(to - 5 * 86400 * SEC, 0, early);
    timefmtFormat(to + 3600 * SEC, 0, late);
    rc = harnessRun(buf, sizeof buf, "%s job backfill bf --from %s --to %s", ctl, early, t3339);
    if (rc != 1 ||
        strstr(buf, "instants of the job's schedule, more than the limit 1000") == NULL) {
        fail_msg("job backfill, too large (exit %d): %s", rc, buf);
    }
    rc = harnessRun(buf, sizeof buf, "%s job backfill bf --from %s --to %s --dry-run", ctl, f3339,
                    late);
    if (rc != 1 || strstr(buf, "is in the future") == NULL) {
        fail_msg("job backfill, future (exit %d): %s", rc, buf);
    }

    /* CLI dry run as JSON, and run list telling backfill runs apart. */
    rc = harnessRun(buf, sizeof buf,
                    "%s -o json job backfill bf --from %s --to %s --dry-run | python3 -c "
                    "'import json,sys; d=json.load(sys.stdin); "
                    "print(d[\"dry_run\"], len(d[\"instants\"]), "
                    "sorted(set(i[\"result\"] for i in d[\"instants\"])))'",
                    ctl, f3339, t3339);
    assert_int_equal(rc, 0);
    assert_string_equal(buf, "True 12 ['decided']\n");
    rc = harnessRun(buf, sizeof buf, "%s run list --job bf --limit 1", ctl);
    if (rc != 0 || strstr(buf, "backfill") == NULL) {
        fail_msg("run list (exit %d): %s", rc, buf);
    }

    /* Nothing more happened: once every replica agrees with the leader and no run is
     * unfinished, no worker has anything it could execute; then still 12 runs, 12 lines. */
    for (int id = 1; id <= 3; id++) {
        assert_true(harnessWaitConverged(&H, 3, id, 10000));
    }
    const char *unfinished[] = {"pending", "assigned", "running", "retry_wait"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(runsOf(c, unfinished[i]), 0);
    }
    assert_int_equal(runsOf(c, ""), 12);
    assert_int_equal(runsOf(c, "succeeded"), 12);
    checkFile(out, instants, run_ids);
    rc_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backfill_past_hour, harnessSetup, harnessTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
