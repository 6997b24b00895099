#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/jobspec.h"

#define MIN INT64_C(60000000)
#define T0  INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static void test_policy_rules(void **state)
{
    (void)state;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    struct rc_policy p, dflt;
    policyDefaults(&dflt);
    jobspecPolicy(&spec, &p); /* no policy message: the defaults */
    assert_int_equal(p.misfire_grace_us, dflt.misfire_grace_us);
    assert_int_equal(p.coalesce, dflt.coalesce);
    assert_int_equal(p.overlap, dflt.overlap);
    assert_int_equal(p.max_instances, dflt.max_instances);

    Raftcron__Policy sp = RAFTCRON__POLICY__INIT; /* present: as written, grace 0 included */
    spec.policy = &sp;
    jobspecPolicy(&spec, &p);
    assert_int_equal(p.misfire_grace_us, 0);
    assert_false(p.coalesce);
    assert_int_equal(p.overlap, RC_OVERLAP_ALLOW);
    assert_int_equal(p.max_instances, 1); /* 0 means the default */

    sp.misfire_grace_us = 5 * MIN;
    sp.coalesce = true;
    sp.overlap = RC_OVERLAP_QUEUE_ONE;
    sp.max_instances = 4;
    jobspecPolicy(&spec, &p);
    assert_int_equal(p.misfire_grace_us, 5 * MIN);
    assert_true(p.coalesce);
    assert_int_equal(p.overlap, RC_OVERLAP_QUEUE_ONE);
    assert_int_equal(p.max_instances, 4);

    sp.overlap = 9; /* hand-made: copied, and policyOverlapValid says so */
    jobspecPolicy(&spec, &p);
    assert_false(policyOverlapValid(p.overlap));
}

static void test_trigger_fields(void **state)
{
    (void)state;
    Raftcron__Trigger tr = RAFTCRON__TRIGGER__INIT;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Job job = RAFTCRON__JOB__INIT;
    spec.trigger = &tr;
    job.spec = &spec;
    job.created_us = T0 + 7;
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];

    /* An interval without an anchor counts from the job's creation; bounds 0 are none. */
    tr.kind_case = RAFTCRON__TRIGGER__KIND_INTERVAL_US;
    tr.interval_us = MIN;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), 0);
    assert_int_equal(t.kind, RC_TRIGGER_INTERVAL);
    assert_int_equal(t.anchor_us, T0 + 7);
    assert_true(t.start_us == RC_TIME_NONE_LO && t.end_us == RC_TIME_NONE_HI);
    int64_t next;
    assert_int_equal(triggerNext(&t, T0 + 7, &next), 0);
    assert_int_equal(next, T0 + 7 + MIN);

    tr.anchor_us = T0;
    tr.start_us = T0 + 10 * MIN;
    tr.end_us = T0 + 20 * MIN;
    tr.jitter_us = 1000;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), 0);
    assert_int_equal(t.anchor_us, T0);
    assert_int_equal(t.start_us, T0 + 10 * MIN);
    assert_int_equal(t.end_us, T0 + 20 * MIN);
    assert_int_equal(t.jitter_us, 1000);

    tr.interval_us = 0;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), RC_EINVAL);
    assert_string_equal(err, "trigger: interval 0 is not > 0");

    /* Cron: the zone and the DST choices (1 = skip / both, else shift / once). */
    tr.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    tr.cron = "30 2 * * *";
    tr.tz = "Europe/Berlin";
    tr.dst_gap = 1;
    tr.dst_repeat = 1;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), 0);
    assert_int_equal(t.kind, RC_TRIGGER_CRON);
    assert_int_equal(t.dst_gap, RC_DST_GAP_SKIP);
    assert_int_equal(t.dst_repeat, RC_DST_REPEAT_BOTH);
    tr.dst_gap = 0;
    tr.dst_repeat = 0;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), 0);
    assert_int_equal(t.dst_gap, RC_DST_GAP_SHIFT);
    assert_int_equal(t.dst_repeat, RC_DST_REPEAT_ONCE);
    tr.tz = "Nowhere/Atlantis";
    assert_int_not_equal(jobspecTrigger(&job, &t, err, sizeof err), 0);

    tr.kind_case = RAFTCRON__TRIGGER__KIND_AT_US;
    tr.at_us = T0 + 15 * MIN;
    assert_int_equal(jobspecTrigger(&job, &t, err, sizeof err), 0);
    assert_int_equal(t.kind, RC_TRIGGER_ONCE);
}

static void test_key_and_item(void **state)
{
    (void)state;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    Raftcron__Job job = RAFTCRON__JOB__INIT;
    spec.namespace_ = "";
    spec.name = "backup";
    job.spec = &spec;
    job.version = 3;
    char key[RC_JOBSPEC_KEY_SIZE];
    jobspecKey(&job, key);
    assert_string_equal(key, RC_JOBS_DEFAULT_NAMESPACE "/backup");
    spec.namespace_ = "team-a";
    jobspecKey(&job, key);
    assert_string_equal(key, "team-a/backup");

    struct rc_decision_rec fired = {.decision = RC_DECISION_FIRED,
                                    .first_us = T0,
                                    .last_us = T0,
                                    .count = 1,
                                    .start_at_us = T0 + 5,
                                    .cancel_active = true};
    Raftcron__FireItem it;
    jobspecFireItem(&job, &fired, &it);
    assert_string_equal(it.namespace_, "team-a");
    assert_string_equal(it.name, "backup");
    assert_int_equal(it.job_version, 3);
    assert_int_equal(it.decision, RC_DECISION_FIRED);
    assert_int_equal(it.start_at_us, T0 + 5);
    assert_true(it.cancel_active);
    assert_false(it.queued || it.manual || it.backfill);

    /* Only a FIRED record has a start. */
    struct rc_decision_rec missed = {.decision = RC_DECISION_MISSED,
                                     .reason = RC_REASON_MISFIRE_GRACE,
                                     .first_us = T0,
                                     .last_us = T0 + 9 * MIN,
                                     .count = 10,
                                     .start_at_us = T0};
    jobspecFireItem(&job, &missed, &it);
    assert_int_equal(it.reason, RC_REASON_MISFIRE_GRACE);
    assert_int_equal(it.count, 10);
    assert_int_equal(it.last_us, T0 + 9 * MIN);
    assert_int_equal(it.start_at_us, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_rules),
        cmocka_unit_test(test_trigger_fields),
        cmocka_unit_test(test_key_and_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
