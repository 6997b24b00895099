/*
 * The run-history read API on a one-node cluster (docs/rpc.md §7): Job.Next against the
 * scheduler's instants (a Berlin cron job across the 2030 spring-forward gap, an interval job
 * anchored at its creation), empty Run.List / Dlq.List / Decision.List for a job that never
 * fired, NOT_FOUND and INVALID_ARGUMENT answers, and the CLI's run/dlq/job next output.
 * Runs themselves need the planner; their selection and order are unit-tested (test_runview).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "harness.h"
#include "raftcron.pb-c.h"

#define SEC INT64_C(1000000)

static char EP[128];

static void put(struct rc_client *c, const char *name, Raftcron__Trigger *tr)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Executor ex = RAFTCRON__EXECUTOR__INIT;
    Raftcron__ShellExec sh = RAFTCRON__SHELL_EXEC__INIT;
    sh.command = "true";
    ex.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    ex.shell = &sh;
    spec.name = (char *)name;
    spec.trigger = tr;
    spec.executor = &ex;
    int rv = rc_job_put(c, &spec, 0, 1, NULL);
    if (rv != 0) {
        fail_msg("put %s: %s", name, rc_client_errmsg(c));
    }
}

static int setup(void **state)
{
    harnessSetup(state);
    static const char *const args[] = {"--bootstrap", NULL};
    harnessStart(&H, 1, args);
    assert_int_not_equal(harnessWaitLeader(&H, 1, 1, 20000), 0);
    harnessEndpoints(&H, 1, EP, sizeof EP);
    return 0;
}

static void test_next(void **state)
{
    (void)state;
    struct rc_client *c = harnessClient(&H, 1, 10 * SEC);
    Raftcron__Trigger cron = RAFTCRON__TRIGGER__INIT;
    cron.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    cron.cron = "30 2 * * *";
    cron.tz = "Europe/Berlin";
    cron.start_us = INT64_C(1900972800) * SEC; /* 2030-03-29T00:00:00Z */
    put(c, "berlin", &cron);
    Raftcron__JobNextResponse *r;
    assert_int_equal(rc_job_next(c, NULL, "berlin", 4, 0, &r), 0);
    assert_int_equal(r->n_instants_us, 4);
    assert_int_equal(r->n_offsets_s, 4);
    assert_string_equal(r->tz, "Europe/Berlin");
    assert_int_equal(r->instants_us[0], INT64_C(1900978200) * SEC); /* 03-29 02:30+01 */
    assert_int_equal(r->offsets_s[0], 3600);
    assert_int_equal(r->instants_us[2], INT64_C(1901149200) * SEC); /* 03-31 03:00+02 */
    assert_int_equal(r->offsets_s[2], 7200);
    assert_int_equal(r->instants_us[3] - r->instants_us[2], 23 * 3600 * SEC + 1800 * SEC);
    rc_message_free(r);

    Raftcron__Trigger every = RAFTCRON__TRIGGER__INIT;
    every.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    every.interval_us = 7 * SEC;
    put(c, "every", &every);
    Raftcron__Job *job;
    assert_int_equal(rc_job_get(c, NULL, "every", 0, &job), 0);
    assert_int_equal(rc_job_next(c, NULL, "every", 0, 0, &r), 0);
    assert_int_equal(r->n_instants_us, 5); /* the default */
    assert_true(r->instants_us[0] > r->after_us);
    assert_true(r->after_us >= job->created_us);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal((r->instants_us[i] - job->created_us) % (7 * SEC), 0);
    }
    assert_int_equal(r->instants_us[4] - r->instants_us[0], 28 * SEC);
    rc_message_free(r);
    rc_message_free(job);

    assert_int_equal(rc_job_next(c, NULL, "nope", 1, 0, &r), RC_ENOTFOUND);
    assert_int_equal(rc_client_status(c), RC_STATUS_NOT_FOUND);
    assert_int_equal(rc_job_next(c, NULL, "every", 1001, 0, &r), RC_EINVAL);
    assert_int_equal(rc_client_status(c), RC_STATUS_INVALID_ARGUMENT);
    assert_int_equal(rc_job_next(c, NULL, "every", 3, 1, &r), 0); /* stale */
    assert_int_equal(r->n_instants_us, 3);
    rc_message_free(r);
    rc_client_close(c);
}

static void test_empty_history(void **state)
{
    (void)state;
    struct rc_client *c = harnessClient(&H, 1, 10 * SEC);
    Raftcron__Trigger every = RAFTCRON__TRIGGER__INIT;
    every.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    every.interval_us = 3600 * SEC;
    put(c, "quiet", &every);
    Raftcron__RunListResponse *l;
    assert_int_equal(rc_run_list(c, NULL, "quiet", NULL, 0, 0, &l), 0);
    assert_int_equal(l->n_runs, 0);
    rc_message_free(l);
    assert_int_equal(rc_run_list(c, NULL, NULL, "dead", 10, 0, &l), 0);
    assert_int_equal(l->n_runs, 0);
    rc_message_free(l);
    assert_int_equal(rc_run_list(c, NULL, "missing", NULL, 0, 0, &l), RC_ENOTFOUND);
    assert_null(l);
    assert_int_equal(rc_run_list(c, NULL, "quiet", "zombie", 0, 0, &l), RC_EINVAL);
    assert_non_null(strstr(rc_client_errmsg(c), "\"zombie\" is not pending"));
    assert_int_equal(rc_run_list(c, NULL, NULL, NULL, 5000, 0, &l), RC_EINVAL);

    Raftcron__Run *run;
    assert_int_equal(rc_run_get(c, 999, 0, &run), RC_ENOTFOUND);
    assert_int_equal(rc_client_status(c), RC_STATUS_NOT_FOUND);
    assert_null(run);
    assert_int_equal(rc_run_get(c, 0, 0, &run), RC_EINVAL);

    assert_int_equal(rc_dlq_list(c, NULL, 0, 0, &l), 0);
    assert_int_equal(l->n_runs, 0);
    rc_message_free(l);

    Raftcron__DecisionListResponse *d;
    assert_int_equal(rc_decision_list(c, NULL, "quiet", 0, 0, &d), 0);
    assert_int_equal(d->n_decisions, 0);
    rc_message_free(d);
    assert_int_equal(rc_decision_list(c, "ops", "quiet", 0, 0, &d), RC_ENOTFOUND);
    assert_int_equal(rc_decision_list(c, NULL, "", 0, 0, &d), RC_EINVAL);
    rc_client_close(c);
}

static void test_cli(void **state)
{
    (void)state;
    char out[4096];
    char cmd[768];
    snprintf(cmd, sizeof cmd, "%s/raftcronctl --endpoints %s", H.bin, EP);
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s job add dst --cron '30 2 * * *' --tz Europe/Berlin "
                                "--start 2030-03-30T00:00:00Z --shell true",
                                cmd),
                     0);
    assert_int_equal(harnessRun(out, sizeof out, "%s job next dst -n 3", cmd), 0);
    assert_string_equal(out, "2030-03-30T02:30:00+01:00\n2030-03-31T03:00:00+02:00\n"
                             "2030-04-01T02:30:00+02:00\n");
    assert_int_equal(harnessRun(out, sizeof out, "%s job get dst", cmd), 0);
    assert_non_null(strstr(out, "next             2030-03-30T02:30:00+01:00"));
    assert_non_null(strstr(out, "runs_total       0"));
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s -o json job next dst -n 2 | python3 -c 'import json,sys; "
                                "d=json.load(sys.stdin); print(d[\"tz\"], d[\"instants\"][1])'",
                                cmd),
                     0);
    assert_string_equal(out, "Europe/Berlin 2030-03-31T03:00:00+02:00\n");
    assert_int_equal(harnessRun(out, sizeof out,
                                "%s -o json run list --job dst | python3 -c 'import json,sys; "
                                "print(json.load(sys.stdin))'",
                                cmd),
                     0);
    assert_string_equal(out, "{'runs': []}\n");
    assert_int_equal(harnessRun(out, sizeof out, "%s dlq list", cmd), 0);
    assert_non_null(strstr(out, "ID"));
    assert_int_equal(harnessRun(out, sizeof out, "%s run get 999", cmd), 1);
    assert_non_null(strstr(out, "run 999 not found (NOT_FOUND)"));
    assert_int_equal(harnessRun(out, sizeof out, "%s run list --job ghost", cmd), 1);
    assert_int_equal(harnessRun(out, sizeof out, "%s job decisions dst --limit 5", cmd), 0);
    assert_non_null(strstr(out, "DECISION"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_empty_history),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, harnessTeardown);
}
