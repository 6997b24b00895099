#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/policy.h"
#include "core/timefmt.h"
#include "core/trigger.h"

#define T0   INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define MS   INT64_C(1000)
#define SEC  INT64_C(1000000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define KEY  "ns/job"

#define REC_MAX 64

/* ---- Helpers ------------------------------------------------------------------------------ */

static struct rc_trigger every(int64_t interval_us)
{
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, interval_us, 0), 0);
    return t;
}

static struct rc_policy policyMake(int64_t grace_us, bool coalesce, enum rc_overlap overlap,
                                   int max_instances)
{
    struct rc_policy p = {
        .misfire_grace_us = grace_us,
        .coalesce = coalesce,
        .overlap = overlap,
        .max_instances = max_instances,
    };
    return p;
}

static struct rc_policy_input inputMake(const struct rc_trigger *t, const struct rc_policy *p,
                                        int64_t cursor_us, int64_t now_us)
{
    struct rc_policy_input in = {
        .trigger = t,
        .policy = p,
        .job_key = KEY,
        .cursor_us = cursor_us,
        .now_us = now_us,
        .lookahead_us = 0,
        .active_runs = 0,
        .queued_runs = 0,
    };
    return in;
}

/* One policyDecide call into out[REC_MAX] that must succeed; returns the record count. */
static size_t decide(const struct rc_policy_input *in, struct rc_decision_rec *out, size_t max,
                     int64_t *new_cursor)
{
    size_t n = SIZE_MAX;
    assert_int_equal(policyDecide(in, out, max, &n, new_cursor), 0);
    assert_true(n <= max);
    return n;
}

static void assertRange(const struct rc_decision_rec *r, enum rc_decision decision,
                        enum rc_reason reason, int64_t first, int64_t last, uint64_t count)
{
    assert_string_equal(policyDecisionName(r->decision), policyDecisionName(decision));
    assert_string_equal(policyReasonText(r->reason), policyReasonText(reason));
    assert_int_equal(r->first_us, first);
    assert_int_equal(r->last_us, last);
    assert_int_equal(r->count, count);
    assert_false(r->cancel_active);
    assert_false(r->queued);
}

static void assertFired(const struct rc_decision_rec *r, int64_t instant, int64_t start_at,
                        bool cancel_active, bool queued)
{
    assert_string_equal(policyDecisionName(r->decision), "fired");
    assert_int_equal(r->reason, RC_REASON_NONE);
    assert_int_equal(r->first_us, instant);
    assert_int_equal(r->last_us, instant);
    assert_int_equal(r->count, 1);
    assert_int_equal(r->start_at_us, start_at);
    assert_int_equal(r->cancel_active, cancel_active);
    assert_int_equal(r->queued, queued);
}

/* Whether every byte of p is byte: records past max were not written. */
static bool untouched(const void *p, size_t len, unsigned char byte)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        if (b[i] != byte) {
            return false;
        }
    }
    return true;
}

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    char err[RC_ERRMSG_SIZE] = "";
    if (timefmtParse(rfc3339, &t, err, sizeof err) != 0) {
        fail_msg("%s: %s", rfc3339, err);
    }
    return t;
}

static struct rc_trigger cron(const char *expr, const char *tz)
{
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE] = "";
    if (triggerInitCron(&t, expr, tz, 0, err, sizeof err) != 0) {
        fail_msg("%s: %s", expr, err);
    }
    return t;
}

static double secondsSince(const struct timespec *start)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    return (double)(end.tv_sec - start->tv_sec) + (double)(end.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- Basics ------------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct rc_policy p;
    memset(&p, 0xff, sizeof p);
    policyDefaults(&p);
    assert_int_equal(p.misfire_grace_us, 60 * SEC);
    assert_true(p.coalesce);
    assert_int_equal(p.overlap, RC_OVERLAP_ALLOW);
    assert_int_equal(p.max_instances, 1);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(policyDecisionName(RC_DECISION_FIRED), "fired");
    assert_string_equal(policyDecisionName(RC_DECISION_COALESCED), "coalesced");
    assert_string_equal(policyDecisionName(RC_DECISION_MISSED), "missed");
    assert_string_equal(policyDecisionName(RC_DECISION_SKIPPED), "skipped");
    assert_string_equal(policyDecisionName(RC__DECISION_NONE), "unknown");
    assert_string_equal(policyDecisionName((enum rc_decision)99), "unknown");

    assert_string_equal(policyReasonText(RC_REASON_NONE), "");
    assert_string_equal(policyReasonText(RC_REASON_MISFIRE_GRACE), "later than the misfire grace");
    assert_string_equal(policyReasonText(RC_REASON_QUEUE_FULL), "a run is already queued");
    assert_string_equal(policyReasonText(RC_REASON_MANUAL), "manual run");
    assert_string_equal(policyReasonText((enum rc_reason)99), "unknown reason");

    assert_string_equal(policyOverlapName(RC_OVERLAP_ALLOW), "allow");
    assert_string_equal(policyOverlapName(RC_OVERLAP_SKIP), "skip");
    assert_string_equal(policyOverlapName(RC_OVERLAP_REPLACE), "replace");
    assert_string_equal(policyOverlapName(RC_OVERLAP_QUEUE_ONE), "queue-one");
    assert_string_equal(policyOverlapName((enum rc_overlap)99), "unknown");
}

static void test_overlap_parse(void **state)
{
    (void)state;
    enum rc_overlap all[] = {RC_OVERLAP_ALLOW, RC_OVERLAP_SKIP, RC_OVERLAP_REPLACE,
                             RC_OVERLAP_QUEUE_ONE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        enum rc_overlap o = (enum rc_overlap)99;
        assert_int_equal(policyOverlapParse(policyOverlapName(all[i]), &o), 0);
        assert_int_equal(o, all[i]);
    }
    const char *bad[] = {"", "Allow", "queue_one", "queue-one ", "allowed", "repl"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum rc_overlap o = RC_OVERLAP_SKIP;
        assert_int_equal(policyOverlapParse(bad[i], &o), RC_EPARSE);
        assert_int_equal(o, RC_OVERLAP_SKIP);
    }
    enum rc_overlap o;
    assert_int_equal(policyOverlapParse(NULL, &o), RC_EPARSE);
    assert_int_equal(policyOverlapParse("skip", NULL), RC_EPARSE);
}

static void test_invalid_input(void **state)
{
    (void)state;
    struct rc_trigger t = every(SEC);
    struct rc_policy p;
    policyDefaults(&p);
    struct rc_decision_rec out[REC_MAX];
    size_t n = 7;
    int64_t cur = 42;
    const struct rc_policy_input good = inputMake(&t, &p, T0, T0 + 5 * SEC);

    assert_int_equal(policyDecide(NULL, out, REC_MAX, &n, &cur), RC_EINVAL);
    assert_int_equal(policyDecide(&good, NULL, REC_MAX, &n, &cur), RC_EINVAL);
    assert_int_equal(policyDecide(&good, out, REC_MAX, NULL, &cur), RC_EINVAL);
    assert_int_equal(policyDecide(&good, out, REC_MAX, &n, NULL), RC_EINVAL);
    assert_int_equal(policyDecide(&good, out, 0, &n, &cur), RC_EINVAL);

    struct rc_policy_input in = good;
    in.trigger = NULL;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    in = good;
    in.policy = NULL;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    in = good;
    in.job_key = NULL;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    in = good;
    in.lookahead_us = -1;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    in = good;
    in.active_runs = -1;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    in = good;
    in.queued_runs = -1;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    in = good;
    in.active_runs = 1;
    in.queued_runs = 2;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    struct rc_policy bad = p;
    bad.overlap = (enum rc_overlap)4;
    in = good;
    in.policy = &bad;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    /* Invalid arguments leave the outputs alone. */
    assert_int_equal(n, 7);
    assert_int_equal(cur, 42);

    /* A trigger that cannot be evaluated fails the call without records. */
    struct rc_trigger broken = t;
    broken.interval_us = 0;
    in = good;
    in.trigger = &broken;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(cur, T0);
    broken = t;
    broken.kind = (enum rc_trigger_kind)0;
    assert_int_equal(policyDecide(&in, out, REC_MAX, &n, &cur), RC_EINVAL);

    /* The same input, valid, decides something: the failures above were the input's fault. */
    assert_int_equal(policyDecide(&good, out, REC_MAX, &n, &cur), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cur, T0 + 5 * SEC);
}

/* ---- Timing: due, lookahead, jitter, grace ------------------------------------------------ */

static void test_nothing_due(void **state)
{
    (void)state;
    struct rc_trigger t = every(SEC);
    struct rc_policy p;
    policyDefaults(&p);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    /* Next instant T0 + 1 s is after now. */
    struct rc_policy_input in = inputMake(&t, &p, T0, T0 + 999 * MS);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 0);
    assert_int_equal(cur, T0);

    /* The lookahead stops just short of it. */
    in.lookahead_us = 1 * MS - 1;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 0);
    assert_int_equal(cur, T0);

    /* A cursor already past the horizon (decided in an earlier lookahead) decides nothing. */
    in = inputMake(&t, &p, T0 + 5 * SEC, T0 + 2 * SEC);
    in.lookahead_us = 100 * MS;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 0);
    assert_int_equal(cur, T0 + 5 * SEC);
}

static void test_on_time_fire(void **state)
{
    (void)state;
    struct rc_trigger t = every(MIN);
    struct rc_policy p;
    policyDefaults(&p);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    struct rc_policy_input in = inputMake(&t, &p, T0 - MIN, T0);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0, false, false);
    assert_int_equal(cur, T0);

    /* The cursor is exclusive: the instant it names is never decided again. */
    in.cursor_us = cur;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 0);
    assert_int_equal(cur, T0);
}

static void test_lookahead_future_instants(void **state)
{
    (void)state;
    struct rc_trigger t = every(SEC);
    struct rc_policy p = policyMake(60 * SEC, true, RC_OVERLAP_ALLOW, 10);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    /* 50 ms before T0 with 100 ms lookahead: T0 is claimed early and starts on time. */
    struct rc_policy_input in = inputMake(&t, &p, T0 - SEC, T0 - 50 * MS);
    in.lookahead_us = 100 * MS;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0, false, false);
    assert_int_equal(cur, T0);

    /* The horizon is inclusive: now + lookahead == instant is due. */
    in = inputMake(&t, &p, T0 - SEC, T0 - 100 * MS);
    in.lookahead_us = 100 * MS;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0, false, false);

    /* A long lookahead: several future instants, never coalesced, never missed (grace 0). */
    p = policyMake(0, true, RC_OVERLAP_ALLOW, 10);
    in = inputMake(&t, &p, T0 - SEC, T0 - 500 * MS);
    in.lookahead_us = 3 * SEC;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    for (int i = 0; i < 3; i++) {
        assertFired(&out[i], T0 + i * SEC, T0 + i * SEC, false, false);
    }
    assert_int_equal(cur, T0 + 2 * SEC);
}

static void test_jitter(void **state)
{
    (void)state;
    struct rc_trigger t = every(MIN);
    t.jitter_us = 30 * SEC;
    struct rc_policy p = policyMake(-1, false, RC_OVERLAP_ALLOW, 100);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    /* Ten future instants in the lookahead: each starts at instant + its own jitter. */
    struct rc_policy_input in = inputMake(&t, &p, T0 - MIN, T0 - SEC);
    in.lookahead_us = 10 * MIN;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 10);
    int jittered = 0;
    for (int i = 0; i < 10; i++) {
        int64_t instant = T0 + i * MIN;
        int64_t j = triggerJitter(&t, KEY, instant);
        assert_true(j >= 0 && j <= 30 * SEC);
        jittered += j > 0;
        assertFired(&out[i], instant, instant + j, false, false);
    }
    assert_true(jittered >= 5);

    /* Late: the start is max(instant + jitter, now). */
    int64_t instant = T0;
    int64_t j = triggerJitter(&t, KEY, instant);
    for (int64_t i = 1; j < 2; i++) {
        instant = T0 + i * MIN;
        j = triggerJitter(&t, KEY, instant);
    }
    in = inputMake(&t, &p, instant - MIN, instant + j - 1);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], instant, instant + j, false, false);
    in.now_us = instant + j + 1;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], instant, instant + j + 1, false, false);

    /* Same key and instant: same delay; another key: a different delay somewhere. */
    struct rc_trigger t2 = t;
    int differs = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(triggerJitter(&t2, KEY, T0 + i * MIN),
                         triggerJitter(&t, KEY, T0 + i * MIN));
        differs +=
            triggerJitter(&t, "other/job", T0 + i * MIN) != triggerJitter(&t, KEY, T0 + i * MIN);
    }
    assert_true(differs > 0);
}

static void test_grace(void **state)
{
    (void)state;
    struct rc_trigger t = every(HOUR);
    struct rc_policy p = policyMake(60 * SEC, true, RC_OVERLAP_ALLOW, 1);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    /* Late within grace: fires at once. */
    struct rc_policy_input in = inputMake(&t, &p, T0 - HOUR, T0 + 30 * SEC);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0 + 30 * SEC, false, false);
    assert_int_equal(cur, T0);

    /* Exactly grace late: still fires (MISSED needs now - instant > grace). */
    in.now_us = T0 + 60 * SEC;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0 + 60 * SEC, false, false);

    /* One microsecond more: MISSED, with its reason, and the cursor moves past it. */
    in.now_us = T0 + 60 * SEC + 1;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0, T0, 1);
    assert_int_equal(out[0].start_at_us, 0);
    assert_int_equal(cur, T0);

    /* Unlimited grace: ten days late still fires. */
    p.misfire_grace_us = -1;
    in.now_us = T0 + 10 * DAY + 5;
    in.cursor_us = T0 - HOUR;
    p.coalesce = false;
    p.overlap = RC_OVERLAP_REPLACE;
    assert_int_equal(decide(&in, out, 3, &cur), 3);
    assertFired(&out[0], T0, T0 + 10 * DAY + 5, false, false);
    assertFired(&out[1], T0 + HOUR, T0 + 10 * DAY + 5, true, false);
    assertFired(&out[2], T0 + 2 * HOUR, T0 + 10 * DAY + 5, true, false);
    assert_int_equal(cur, T0 + 2 * HOUR);

    /* Zero grace: only an instant at exactly now fires. */
    p = policyMake(0, false, RC_OVERLAP_ALLOW, 1);
    in = inputMake(&t, &p, T0 - HOUR, T0);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0, false, false);
    in.now_us = T0 + 1;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0, T0, 1);

    /* A grace longer than the epoch is unlimited in effect. */
    p = policyMake(INT64_MAX, false, RC_OVERLAP_ALLOW, 1);
    in = inputMake(&t, &p, T0 - HOUR, T0 + 5 * DAY);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertFired(&out[0], T0, T0 + 5 * DAY, false, false);
    assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + HOUR, T0 + 5 * DAY,
                5 * 24);
}

/* ---- Outages: coalesce and misfire -------------------------------------------------------- */

static void test_outage_without_coalesce(void **state)
{
    (void)state;
    struct rc_trigger t = every(MIN);
    struct rc_policy p = policyMake(5 * MIN, false, RC_OVERLAP_ALLOW, 1);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    /* Instants T0 .. T0+10m are past due; now - grace = T0+5m30s. */
    int64_t now = T0 + 10 * MIN + 30 * SEC;
    struct rc_policy_input in = inputMake(&t, &p, T0 - MIN, now);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0, T0 + 5 * MIN, 6);
    assertFired(&out[1], T0 + 6 * MIN, now, false, false);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 7 * MIN, T0 + 10 * MIN,
                4);
    assert_int_equal(cur, T0 + 10 * MIN);

    /* Enough instances: every instant within grace fires, one record each. */
    p.max_instances = 100;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 6);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0, T0 + 5 * MIN, 6);
    for (int i = 1; i <= 5; i++) {
        assertFired(&out[i], T0 + (5 + i) * MIN, now, false, false);
    }
    assert_int_equal(cur, T0 + 10 * MIN);
}

static void test_outage_with_coalesce(void **state)
{
    (void)state;
    struct rc_trigger t = every(MIN);
    struct rc_policy p = policyMake(5 * MIN, true, RC_OVERLAP_ALLOW, 1);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    int64_t now = T0 + 10 * MIN + 30 * SEC;
    struct rc_policy_input in = inputMake(&t, &p, T0 - MIN, now);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0, T0 + 9 * MIN, 10);
    assertFired(&out[1], T0 + 10 * MIN, now, false, false);
    assert_int_equal(cur, T0 + 10 * MIN);

    /* Exactly one past-due instant: nothing is coalesced. */
    in = inputMake(&t, &p, T0 - MIN, T0 + 59 * SEC);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0 + 59 * SEC, false, false);

    /* Two past-due instants: one coalesced, the latest fires. */
    in.now_us = T0 + MIN;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0, T0, 1);
    assertFired(&out[1], T0 + MIN, T0 + MIN, false, false);

    /* Future instants in the lookahead are not coalesced; overlap still applies to them. */
    in = inputMake(&t, &p, T0 - MIN, now);
    in.lookahead_us = 2 * MIN;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0, T0 + 9 * MIN, 10);
    assertFired(&out[1], T0 + 10 * MIN, now, false, false);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 11 * MIN, T0 + 12 * MIN,
                2);
    p.max_instances = 5;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 4);
    assertFired(&out[2], T0 + 11 * MIN, T0 + 11 * MIN, false, false);
    assertFired(&out[3], T0 + 12 * MIN, T0 + 12 * MIN, false, false);
    assert_int_equal(cur, T0 + 12 * MIN);
}

static void test_coalesce_latest_beyond_grace(void **state)
{
    (void)state;
    struct rc_trigger t = every(HOUR);
    struct rc_policy p = policyMake(MIN, true, RC_OVERLAP_ALLOW, 1);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;

    /* Instants T0 .. T0+5h past due, the latest 2 minutes late with 1 minute of grace. */
    struct rc_policy_input in = inputMake(&t, &p, T0 - HOUR, T0 + 5 * HOUR + 2 * MIN);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0, T0 + 4 * HOUR, 5);
    assertRange(&out[1], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0 + 5 * HOUR, T0 + 5 * HOUR,
                1);
    assert_int_equal(cur, T0 + 5 * HOUR);
}

static void test_month_outage_per_second(void **state)
{
    (void)state;
    struct rc_trigger t = every(SEC);
    struct rc_policy p;
    policyDefaults(&p);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);

    /* Defaults (coalesce, grace 60 s, ALLOW 1) with the next instant inside the lookahead. */
    int64_t now = T0 + 30 * DAY - 50 * MS;
    struct rc_policy_input in = inputMake(&t, &p, T0, now);
    in.lookahead_us = 100 * MS;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0 + SEC,
                T0 + 30 * DAY - 2 * SEC, 30 * 86400 - 2);
    assertFired(&out[1], T0 + 30 * DAY - SEC, now, false, false);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 30 * DAY, T0 + 30 * DAY,
                1);
    assert_int_equal(cur, T0 + 30 * DAY);

    /* No coalesce: the month is one MISSED range, then one fire and one SKIPPED range. */
    p.coalesce = false;
    in.lookahead_us = 0;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0 + SEC,
                T0 + 30 * DAY - 61 * SEC, 30 * 86400 - 61);
    assertFired(&out[1], T0 + 30 * DAY - 60 * SEC, now, false, false);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 30 * DAY - 59 * SEC,
                T0 + 30 * DAY - SEC, 59);

    /* Unlimited grace, no coalesce, skip on overlap: one fire, then the month in one range. */
    p = policyMake(-1, false, RC_OVERLAP_SKIP, 1);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertFired(&out[0], T0 + SEC, now, false, false);
    assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_OVERLAP, T0 + 2 * SEC, T0 + 30 * DAY - SEC,
                30 * 86400 - 2);

    /* REPLACE fires every instant: the work stops at the output slots. */
    p.overlap = RC_OVERLAP_REPLACE;
    assert_int_equal(decide(&in, out, 4, &cur), 4);
    assertFired(&out[3], T0 + 4 * SEC, now, true, false);
    assert_int_equal(cur, T0 + 4 * SEC);

    double elapsed = secondsSince(&start);
    print_message("month outage of a 1 s job: 4 calls, 12 records in %.6f s\n", elapsed);

    /* The same outage of a per-second cron job in a zone with DST: still three records. */
    clock_gettime(CLOCK_MONOTONIC, &start);
    t = cron("* * * * * *", "Europe/Berlin");
    policyDefaults(&p);
    in = inputMake(&t, &p, at("2026-03-15T00:00:00Z"), at("2026-04-14T00:00:00Z") - 50 * MS);
    in.lookahead_us = 100 * MS;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, at("2026-03-15T00:00:01Z"),
                at("2026-04-13T23:59:58Z"), 30 * 86400 - 2);
    assertFired(&out[1], at("2026-04-13T23:59:59Z"), in.now_us, false, false);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, at("2026-04-14T00:00:00Z"),
                at("2026-04-14T00:00:00Z"), 1);
    elapsed = secondsSince(&start);
    print_message("month outage of a 1 s cron job: 3 records in %.6f s\n", elapsed);
}

/* ---- Overlap ------------------------------------------------------------------------------ */

/* Three instants T0, T0+1m, T0+2m, all due (the last two in the lookahead). */
static size_t decideThree(enum rc_overlap overlap, int max_instances, int active, int queued,
                          struct rc_decision_rec *out)
{
    struct rc_trigger t = every(MIN);
    struct rc_policy p = policyMake(MIN, true, overlap, max_instances);
    struct rc_policy_input in = inputMake(&t, &p, T0 - MIN, T0);
    in.lookahead_us = 2 * MIN;
    in.active_runs = active;
    in.queued_runs = queued;
    int64_t cur = 0;
    size_t n = decide(&in, out, REC_MAX, &cur);
    assert_int_equal(cur, T0 + 2 * MIN);
    return n;
}

static void test_overlap_allow(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];

    assert_int_equal(decideThree(RC_OVERLAP_ALLOW, 2, 0, 0, out), 3);
    assertFired(&out[0], T0, T0, false, false);
    assertFired(&out[1], T0 + MIN, T0 + MIN, false, false);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 2 * MIN, T0 + 2 * MIN,
                1);

    assert_int_equal(decideThree(RC_OVERLAP_ALLOW, 2, 1, 0, out), 2);
    assertFired(&out[0], T0, T0, false, false);
    assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + MIN, T0 + 2 * MIN, 2);

    assert_int_equal(decideThree(RC_OVERLAP_ALLOW, 2, 5, 0, out), 1);
    assertRange(&out[0], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0, T0 + 2 * MIN, 3);

    /* max_instances below 1 counts as 1. */
    for (int m = -3; m <= 1; m++) {
        assert_int_equal(decideThree(RC_OVERLAP_ALLOW, m, 0, 0, out), 2);
        assertFired(&out[0], T0, T0, false, false);
        assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + MIN, T0 + 2 * MIN,
                    2);
    }

    assert_int_equal(decideThree(RC_OVERLAP_ALLOW, 3, 0, 0, out), 3);
    assertFired(&out[2], T0 + 2 * MIN, T0 + 2 * MIN, false, false);
}

/* With deferral (the leader's planner), a busy job's instants after now are not decided: only
 * the due one is skipped, and the first one ahead is handed back as deferred_us, so that a run
 * ending before it lets it fire. Skipping the whole lookahead at once (a new leader with a 2 s
 * lookahead, a run just fired late) lost instants that came due after the run had ended. */
static void test_busy_instants_deferred_until_due(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];
    struct rc_trigger t = every(SEC);
    struct rc_policy p = policyMake(60 * SEC, true, RC_OVERLAP_ALLOW, 1);
    int64_t deferred = 0;
    int64_t cursor = 0;
    /* Instant T0 due 5 ms ago, T0+1s and T0+2s in the 2 s lookahead, one run active. */
    struct rc_policy_input in = inputMake(&t, &p, T0 - SEC, T0 + 5 * MS);
    in.lookahead_us = 2 * SEC;
    in.active_runs = 1;
    in.deferred_us = &deferred;
    size_t n = decide(&in, out, REC_MAX, &cursor);
    assert_int_equal(n, 1);
    assertRange(&out[0], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0, T0, 1);
    assert_int_equal(cursor, T0);
    assert_int_equal(deferred, T0 + SEC);
    /* Nothing due, all ahead: the first is deferred, nothing is decided. */
    in.cursor_us = T0;
    n = decide(&in, out, REC_MAX, &cursor);
    assert_int_equal(n, 0);
    assert_int_equal(cursor, T0);
    assert_int_equal(deferred, T0 + SEC);
    /* The run ended before T0+1s came due: it fires; the next, ahead and busy with it, waits. */
    in.active_runs = 0;
    in.now_us = T0 + SEC - 100 * MS;
    n = decide(&in, out, REC_MAX, &cursor);
    assert_int_equal(n, 1);
    assertFired(&out[0], T0 + SEC, T0 + SEC, false, false);
    assert_int_equal(deferred, T0 + 2 * SEC);
    /* Without deferral (no deferred_us) the whole lookahead is skipped, as before. */
    in.deferred_us = NULL;
    in.active_runs = 1;
    in.cursor_us = T0 - SEC;
    in.now_us = T0 + 5 * MS;
    n = decide(&in, out, REC_MAX, &cursor);
    assert_int_equal(n, 1);
    assertRange(&out[0], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0, T0 + 2 * SEC, 3);
}

static void test_overlap_skip(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];

    assert_int_equal(decideThree(RC_OVERLAP_SKIP, 5, 0, 0, out), 2);
    assertFired(&out[0], T0, T0, false, false);
    assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_OVERLAP, T0 + MIN, T0 + 2 * MIN, 2);

    for (int active = 1; active <= 4; active += 3) {
        assert_int_equal(decideThree(RC_OVERLAP_SKIP, 5, active, 0, out), 1);
        assertRange(&out[0], RC_DECISION_SKIPPED, RC_REASON_OVERLAP, T0, T0 + 2 * MIN, 3);
    }
}

static void test_overlap_replace(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];

    /* Idle: the first cancels nothing; later ones cancel the run fired just before. */
    assert_int_equal(decideThree(RC_OVERLAP_REPLACE, 1, 0, 0, out), 3);
    assertFired(&out[0], T0, T0, false, false);
    assertFired(&out[1], T0 + MIN, T0 + MIN, true, false);
    assertFired(&out[2], T0 + 2 * MIN, T0 + 2 * MIN, true, false);

    for (int active = 1; active <= 3; active += 2) {
        assert_int_equal(decideThree(RC_OVERLAP_REPLACE, 1, active, 0, out), 3);
        for (int i = 0; i < 3; i++) {
            assertFired(&out[i], T0 + i * MIN, T0 + i * MIN, true, false);
        }
    }
}

static void test_overlap_queue_one(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];

    /* Idle: fire, then queue one behind it, then the queue is full. */
    assert_int_equal(decideThree(RC_OVERLAP_QUEUE_ONE, 1, 0, 0, out), 3);
    assertFired(&out[0], T0, T0, false, false);
    assertFired(&out[1], T0 + MIN, T0 + MIN, false, true);
    assertRange(&out[2], RC_DECISION_SKIPPED, RC_REASON_QUEUE_FULL, T0 + 2 * MIN, T0 + 2 * MIN, 1);

    /* Busy, nothing queued: the first is queued, the rest find the queue full. */
    for (int active = 1; active <= 3; active += 2) {
        assert_int_equal(decideThree(RC_OVERLAP_QUEUE_ONE, 1, active, 0, out), 2);
        assertFired(&out[0], T0, T0, false, true);
        assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_QUEUE_FULL, T0 + MIN, T0 + 2 * MIN, 2);
    }

    /* Busy with one queued already: all skipped. */
    assert_int_equal(decideThree(RC_OVERLAP_QUEUE_ONE, 1, 2, 1, out), 1);
    assertRange(&out[0], RC_DECISION_SKIPPED, RC_REASON_QUEUE_FULL, T0, T0 + 2 * MIN, 3);
}

/* ---- Output slots, triggers that end ------------------------------------------------------ */

static void test_output_limit_and_resume(void **state)
{
    (void)state;
    struct rc_trigger t = every(MIN);
    struct rc_policy p = policyMake(5 * MIN, false, RC_OVERLAP_ALLOW, 3);
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;
    int64_t now = T0 + 10 * MIN + 30 * SEC;

    /* One call: MISSED(6), FIRED x3, SKIPPED(2). */
    struct rc_policy_input in = inputMake(&t, &p, T0 - MIN, now);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 5);
    assertRange(&out[4], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 9 * MIN, T0 + 10 * MIN,
                2);

    /* One slot at a time, carrying the cursor and the fired runs. Canaries stay intact. */
    struct rc_decision_rec slot[2];
    memset(slot, 0xab, sizeof slot);
    in.cursor_us = T0 - MIN;
    assert_int_equal(decide(&in, slot, 1, &cur), 1);
    assertRange(&slot[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0, T0 + 5 * MIN, 6);
    assert_int_equal(cur, T0 + 5 * MIN);
    assert_true(untouched(&slot[1], sizeof slot[1], 0xab));
    for (int i = 0; i < 3; i++) {
        in.cursor_us = cur;
        assert_int_equal(decide(&in, slot, 1, &cur), 1);
        assertFired(&slot[0], T0 + (6 + i) * MIN, now, false, false);
        assert_int_equal(cur, T0 + (6 + i) * MIN);
        in.active_runs++;
        assert_true(untouched(&slot[1], sizeof slot[1], 0xab));
    }
    in.cursor_us = cur;
    assert_int_equal(decide(&in, slot, 1, &cur), 1);
    assertRange(&slot[0], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + 9 * MIN, T0 + 10 * MIN,
                2);
    in.cursor_us = cur;
    assert_int_equal(decide(&in, slot, 1, &cur), 0);
    assert_int_equal(cur, T0 + 10 * MIN);

    /* Coalesce with one slot: the COALESCED range first, then the latest on the next call. */
    p.coalesce = true;
    in = inputMake(&t, &p, T0 - MIN, now);
    assert_int_equal(decide(&in, slot, 1, &cur), 1);
    assertRange(&slot[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0, T0 + 9 * MIN, 10);
    assert_int_equal(cur, T0 + 9 * MIN);
    in.cursor_us = cur;
    assert_int_equal(decide(&in, slot, 1, &cur), 1);
    assertFired(&slot[0], T0 + 10 * MIN, now, false, false);
}

static void test_trigger_end(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;
    struct rc_policy p = policyMake(-1, false, RC_OVERLAP_ALLOW, 10);

    /* A one-off at T0: fires once when due, then never again. */
    struct rc_trigger once;
    triggerInitOnce(&once, T0);
    struct rc_policy_input in = inputMake(&once, &p, T0 - DAY, T0 - 20 * MS);
    in.lookahead_us = 100 * MS;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0, false, false);
    assert_int_equal(cur, T0);
    in.cursor_us = cur;
    in.now_us = T0 + DAY;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 0);
    assert_int_equal(cur, T0);

    /* A lookahead reaching past the end of time saturates instead of overflowing. */
    in = inputMake(&once, &p, T0 - DAY, T0 - HOUR);
    in.lookahead_us = INT64_MAX;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0, false, false);
    assert_int_equal(cur, T0);

    /* Decided for the first time long after its instant: late fire, or MISSED beyond grace. */
    in = inputMake(&once, &p, T0 - DAY, T0 + HOUR);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertFired(&out[0], T0, T0 + HOUR, false, false);
    p.misfire_grace_us = MIN;
    p.coalesce = true;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 1);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0, T0, 1);
    assert_int_equal(cur, T0);

    /* An interval bounded by an end: stops at the last instant, the cursor stays there. */
    struct rc_trigger t = every(MIN);
    t.end_us = T0 + 2 * MIN + 30 * SEC;
    p = policyMake(-1, false, RC_OVERLAP_ALLOW, 10);
    in = inputMake(&t, &p, T0 - MIN, T0 + HOUR);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertFired(&out[2], T0 + 2 * MIN, T0 + HOUR, false, false);
    assert_int_equal(cur, T0 + 2 * MIN);
    in.cursor_us = cur;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 0);
    assert_int_equal(cur, T0 + 2 * MIN);

    /* The same end reached through the SKIPPED range. */
    p.max_instances = 1;
    in.cursor_us = T0 - MIN;
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[1], RC_DECISION_SKIPPED, RC_REASON_MAX_INSTANCES, T0 + MIN, T0 + 2 * MIN, 2);
    assert_int_equal(cur, T0 + 2 * MIN);
}

/* ---- Cron triggers ------------------------------------------------------------------------ */

static void test_cron_outage(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;
    struct rc_policy p;
    policyDefaults(&p);

    /* Every 15 minutes, down for two hours: seven coalesced, the latest 5 minutes late. */
    struct rc_trigger t = cron("*/15 * * * *", "UTC");
    struct rc_policy_input in = inputMake(&t, &p, T0, T0 + 2 * HOUR + 5 * MIN);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED, T0 + 15 * MIN, T0 + 105 * MIN,
                7);
    assertRange(&out[1], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, T0 + 2 * HOUR, T0 + 2 * HOUR,
                1);
    assert_int_equal(cur, T0 + 2 * HOUR);

    /* Weekdays at 09:00 in Berlin, two weeks down, no coalesce, an hour of grace. */
    t = cron("0 9 * * 1-5", "Europe/Berlin");
    p = policyMake(HOUR, false, RC_OVERLAP_ALLOW, 1);
    in = inputMake(&t, &p, at("2026-03-01T12:00:00Z"), at("2026-03-13T08:30:00Z"));
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[0], RC_DECISION_MISSED, RC_REASON_MISFIRE_GRACE, at("2026-03-02T08:00:00Z"),
                at("2026-03-12T08:00:00Z"), 9);
    assertFired(&out[1], at("2026-03-13T08:00:00Z"), at("2026-03-13T08:30:00Z"), false, false);
}

static void test_cron_dst(void **state)
{
    (void)state;
    struct rc_decision_rec out[REC_MAX];
    int64_t cur = 0;
    struct rc_policy p;
    policyDefaults(&p);

    /*
     * Every 30 minutes in New York across the fall-back night (2026-11-01): 01:00 and 01:30
     * happen twice, so 25 hours hold 50 instants; 49 coalesce into the last.
     */
    struct rc_trigger t = cron("*/30 * * * *", "America/New_York");
    int64_t now = at("2026-11-02T00:00:00-05:00");
    struct rc_policy_input in = inputMake(&t, &p, at("2026-11-01T00:00:00-04:00"), now);
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 2);
    assertRange(&out[0], RC_DECISION_COALESCED, RC_REASON_COALESCED,
                at("2026-11-01T00:30:00-04:00"), at("2026-11-01T23:30:00-05:00"), 49);
    assertFired(&out[1], now, now, false, false);

    /* Daily at 02:30 in Berlin: on the spring-forward day it runs at 03:00 CEST (SHIFT). */
    t = cron("30 2 * * *", "Europe/Berlin");
    p = policyMake(-1, false, RC_OVERLAP_REPLACE, 1);
    in = inputMake(&t, &p, at("2026-03-28T00:00:00Z"), at("2026-03-30T12:00:00Z"));
    assert_int_equal(decide(&in, out, REC_MAX, &cur), 3);
    assertFired(&out[0], at("2026-03-28T02:30:00+01:00"), in.now_us, false, false);
    assertFired(&out[1], at("2026-03-29T03:00:00+02:00"), in.now_us, true, false);
    assertFired(&out[2], at("2026-03-30T02:30:00+02:00"), in.now_us, true, false);
}

/* ---- Property: every due instant gets exactly one decision -------------------------------- */

#define PROP_TRIALS  3000
#define PROP_INSTANT 1024
#define PROP_RECS    1200

struct one {
    int64_t instant;
    struct rc_decision_rec rec; /* first/last/count reset to the instant */
};

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(uint64_t bound)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % bound;
}

static int64_t rndRange(int64_t lo, int64_t hi)
{
    return lo + (int64_t)rnd((uint64_t)(hi - lo + 1));
}

/*
 * Expand records into per-instant decisions, checking against enumeration with triggerNext
 * that they cover (from, *to] in order, each instant exactly once. Returns the instants added.
 */
static size_t expand(const struct rc_trigger *t, int64_t from, const struct rc_decision_rec *r,
                     size_t n, struct one *ones, size_t have)
{
    int64_t cursor = from;
    for (size_t i = 0; i < n; i++) {
        assert_true(r[i].count >= 1);
        assert_true(r[i].decision != RC_DECISION_FIRED || r[i].count == 1);
        assert_true(r[i].first_us <= r[i].last_us);
        for (uint64_t k = 0; k < r[i].count; k++) {
            int64_t instant;
            assert_int_equal(triggerNext(t, cursor, &instant), 0);
            if (k == 0) {
                assert_int_equal(instant, r[i].first_us);
            }
            assert_true(have < PROP_INSTANT);
            ones[have].instant = instant;
            ones[have].rec = r[i];
            ones[have].rec.first_us = instant;
            ones[have].rec.last_us = instant;
            ones[have].rec.count = 1;
            have++;
            cursor = instant;
        }
        assert_int_equal(cursor, r[i].last_us);
    }
    return have;
}

/* A random trigger, policy and input; returns the trigger's spacing. */
static int64_t randomCase(struct rc_trigger *t, struct rc_policy *p, struct rc_policy_input *in)
{
    int64_t iv = rndRange(1, 20) * 1000;
    if (rnd(8) == 0) {
        triggerInitOnce(t, T0 + rndRange(-10, 10) * iv);
    } else {
        assert_int_equal(triggerInitInterval(t, iv, T0 + rndRange(0, iv - 1)), 0);
        if (rnd(4) == 0) {
            t->end_us = T0 + rndRange(-20, 150) * iv;
        }
    }
    t->jitter_us = rnd(3) == 0 ? rndRange(0, 2 * iv) : 0;
    int64_t grace = rnd(5) == 0 ? -1 : rnd(5) == 0 ? 0 : rndRange(0, 60 * iv);
    *p = policyMake(grace, rnd(2) == 0, (enum rc_overlap)rnd(4), (int)rndRange(-1, 4));
    *in = inputMake(t, p, T0 + rndRange(-50, 50) * iv + rndRange(-iv, iv),
                    T0 + rndRange(-10, 120) * iv + rndRange(0, iv));
    in->lookahead_us = rnd(3) == 0 ? 0 : rndRange(0, 10 * iv);
    in->active_runs = (int)rndRange(0, 3);
    in->queued_runs = in->active_runs > 0 ? (int)rnd(2) : 0;
    return iv;
}

/* The instants in (from, to], by enumeration. */
static int64_t enumerate(const struct rc_trigger *t, int64_t from, int64_t to)
{
    int64_t count = 0;
    int64_t instant;
    while (from < to && triggerNext(t, from, &instant) == 0 && instant <= to) {
        count++;
        from = instant;
    }
    return count;
}

/* The decisions of one call (ones, from in->cursor_us on) follow the header's rules. */
static void checkRules(const struct rc_policy_input *in, const struct one *ones, size_t n)
{
    const struct rc_policy *p = in->policy;
    int64_t past_due = enumerate(in->trigger, in->cursor_us, in->now_us);
    int64_t seen_past = 0;
    for (size_t i = 0; i < n; i++) {
        const struct rc_decision_rec *r = &ones[i].rec;
        int64_t instant = ones[i].instant;
        bool past = instant <= in->now_us;
        seen_past += past;
        bool coalesced = p->coalesce && past && seen_past < past_due;
        bool missed = !coalesced && past && p->misfire_grace_us >= 0 &&
                      in->now_us - instant > p->misfire_grace_us;
        if (coalesced) {
            assert_int_equal(r->decision, RC_DECISION_COALESCED);
        } else if (missed) {
            assert_int_equal(r->decision, RC_DECISION_MISSED);
            assert_int_equal(r->reason, RC_REASON_MISFIRE_GRACE);
        } else {
            assert_true(r->decision == RC_DECISION_FIRED || r->decision == RC_DECISION_SKIPPED);
        }
        if (r->decision == RC_DECISION_FIRED) {
            int64_t start = instant + triggerJitter(in->trigger, in->job_key, instant);
            assert_int_equal(r->start_at_us, start > in->now_us ? start : in->now_us);
        }
    }
}

/*
 * One big call, then the same decisions in small buffers resuming from new_cursor (carrying the
 * fired runs as active): both cover the same instants with the same decisions, every instant in
 * (cursor, new_cursor] exactly once. Returns the instants decided.
 */
static size_t checkResume(const struct rc_policy_input *in)
{
    static struct rc_decision_rec big[PROP_RECS];
    static struct one whole[PROP_INSTANT];
    static struct one parts[PROP_INSTANT];
    const struct rc_trigger *t = in->trigger;

    int64_t end = 0;
    size_t nbig = decide(in, big, PROP_RECS, &end);
    size_t nwhole = expand(t, in->cursor_us, big, nbig, whole, 0);
    assert_int_equal(nwhole == 0 ? in->cursor_us : whole[nwhole - 1].instant, end);
    checkRules(in, whole, nwhole);
    /* Nothing due is left behind: the next instant is beyond the horizon (or none). */
    int64_t next;
    if (triggerNext(t, end, &next) == 0) {
        assert_true(next > in->now_us + in->lookahead_us);
    }

    struct rc_policy_input part = *in;
    size_t nparts = 0;
    for (;;) {
        struct rc_decision_rec small[4];
        size_t max = (size_t)rndRange(1, 3);
        memset(small, 0x5a, sizeof small);
        int64_t cur = 0;
        size_t n = decide(&part, small, max, &cur);
        assert_true(untouched(&small[max], sizeof small[max], 0x5a));
        if (n == 0) {
            assert_int_equal(cur, part.cursor_us);
            break;
        }
        nparts = expand(t, part.cursor_us, small, n, parts, nparts);
        for (size_t i = 0; i < n; i++) {
            part.active_runs += small[i].decision == RC_DECISION_FIRED;
            part.queued_runs += small[i].queued;
        }
        assert_true(cur > part.cursor_us);
        part.cursor_us = cur;
    }
    assert_int_equal(part.cursor_us, end);
    assert_int_equal(nparts, nwhole);
    for (size_t i = 0; i < nwhole; i++) {
        const struct rc_decision_rec *a = &parts[i].rec;
        const struct rc_decision_rec *b = &whole[i].rec;
        assert_int_equal(parts[i].instant, whole[i].instant);
        assert_int_equal(a->decision, b->decision);
        assert_int_equal(a->reason, b->reason);
        assert_int_equal(a->start_at_us, b->start_at_us);
        assert_int_equal(a->cancel_active, b->cancel_active);
        assert_int_equal(a->queued, b->queued);
    }
    return nwhole;
}

static void test_property_resume(void **state)
{
    (void)state;
    uint64_t decided = 0;
    for (int trial = 0; trial < PROP_TRIALS; trial++) {
        struct rc_trigger t;
        struct rc_policy p;
        struct rc_policy_input in;
        randomCase(&t, &p, &in);
        decided += checkResume(&in);
    }
    print_message("property: %d interval/one-off trials, %llu instants, split == whole\n",
                  PROP_TRIALS, (unsigned long long)decided);
    assert_true(decided > PROP_TRIALS); /* the generator does produce work */
}

/* The same over cron triggers, around DST changes, with the spacing of each expression. */
static void test_property_resume_cron(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        const char *tz;
        int64_t spacing_us;
    } crons[] = {
        {"*/7 * * * *", "UTC", 7 * MIN},
        {"*/30 * * * *", "America/New_York", 30 * MIN},
        {"30 2 * * *", "Europe/Berlin", DAY},
        {"0 9 * * 1-5", "Europe/Berlin", DAY},
        {"*/10 * * * * *", "Australia/Lord_Howe", 10 * SEC},
        {"0 0 L * *", "UTC", 30 * DAY},
    };
    const int64_t bases[] = {T0, at("2026-03-29T00:00:00Z"), at("2026-10-25T00:00:00Z"),
                             at("2026-11-01T00:00:00Z"), at("2026-04-05T00:00:00Z")};
    uint64_t decided = 0;
    for (int trial = 0; trial < 400; trial++) {
        size_t k = (size_t)rnd(sizeof crons / sizeof crons[0]);
        struct rc_trigger t = cron(crons[k].expr, crons[k].tz);
        int64_t iv = crons[k].spacing_us;
        int64_t base = bases[rnd(sizeof bases / sizeof bases[0])];
        t.jitter_us = rnd(3) == 0 ? rndRange(0, iv) : 0;
        int64_t grace = rnd(5) == 0 ? -1 : rndRange(0, 40 * iv);
        struct rc_policy p =
            policyMake(grace, rnd(2) == 0, (enum rc_overlap)rnd(4), (int)rndRange(-1, 4));
        struct rc_policy_input in = inputMake(&t, &p, base + rndRange(-30, 30) * iv,
                                              base + rndRange(-5, 60) * iv + rndRange(0, iv));
        in.lookahead_us = rnd(3) == 0 ? 0 : rndRange(0, 5 * iv);
        in.active_runs = (int)rndRange(0, 3);
        in.queued_runs = in.active_runs > 0 ? (int)rnd(2) : 0;
        decided += checkResume(&in);
    }
    print_message("property: 400 cron trials, %llu instants, split == whole\n",
                  (unsigned long long)decided);
    assert_true(decided > 400);
}

/* A leader loop with an advancing clock: the union of all records has no gap and no repeat. */
static void test_property_advancing_clock(void **state)
{
    (void)state;
    static struct one ones[PROP_INSTANT];
    for (int trial = 0; trial < 300; trial++) {
        struct rc_trigger t;
        struct rc_policy p;
        struct rc_policy_input in;
        int64_t iv = randomCase(&t, &p, &in);
        t.end_us = RC_TIME_NONE_HI;
        int64_t start = in.cursor_us;
        size_t have = 0;
        for (int step = 0; step < 12; step++) {
            struct rc_decision_rec out[3];
            int64_t cur = 0;
            size_t n = decide(&in, out, (size_t)rndRange(1, 3), &cur);
            size_t before = have;
            have = expand(&t, in.cursor_us, out, n, ones, have);
            checkRules(&in, ones + before, have - before);
            in.cursor_us = cur;
            in.now_us += rndRange(0, 8) * iv / 2;
            in.active_runs = (int)rnd(2);
            in.queued_runs = 0;
        }
        /* Enumerate from the start: the recorded instants are exactly the schedule. */
        int64_t cursor = start;
        for (size_t i = 0; i < have; i++) {
            int64_t instant;
            assert_int_equal(triggerNext(&t, cursor, &instant), 0);
            assert_int_equal(ones[i].instant, instant);
            cursor = instant;
        }
        assert_int_equal(cursor, in.cursor_us);
    }
}

/* The judgement of one more run, which manual runs ask too: refusals name the rule. */
static void test_judge(void **state)
{
    (void)state;
    struct rc_policy p;
    policyDefaults(&p);
    bool cancel, queue;
    assert_int_equal(policyJudge(&p, 0, 0, &cancel, &queue), RC_REASON_NONE);
    assert_int_equal(policyJudge(&p, 1, 0, &cancel, &queue), RC_REASON_MAX_INSTANCES);
    p.max_instances = 3;
    assert_int_equal(policyJudge(&p, 2, 0, &cancel, &queue), RC_REASON_NONE);
    assert_int_equal(policyJudge(&p, 3, 0, &cancel, &queue), RC_REASON_MAX_INSTANCES);
    p.overlap = RC_OVERLAP_SKIP;
    assert_int_equal(policyJudge(&p, 0, 0, &cancel, &queue), RC_REASON_NONE);
    assert_int_equal(policyJudge(&p, 1, 0, &cancel, &queue), RC_REASON_OVERLAP);
    p.overlap = RC_OVERLAP_REPLACE;
    assert_int_equal(policyJudge(&p, 0, 0, &cancel, &queue), RC_REASON_NONE);
    assert_false(cancel);
    assert_int_equal(policyJudge(&p, 5, 0, &cancel, &queue), RC_REASON_NONE);
    assert_true(cancel);
    assert_false(queue);
    p.overlap = RC_OVERLAP_QUEUE_ONE;
    assert_int_equal(policyJudge(&p, 0, 0, &cancel, &queue), RC_REASON_NONE);
    assert_false(queue);
    assert_int_equal(policyJudge(&p, 1, 0, &cancel, &queue), RC_REASON_NONE);
    assert_true(queue);
    assert_false(cancel);
    assert_int_equal(policyJudge(&p, 2, 1, &cancel, &queue), RC_REASON_QUEUE_FULL);
    assert_false(queue);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_overlap_parse),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_nothing_due),
        cmocka_unit_test(test_on_time_fire),
        cmocka_unit_test(test_lookahead_future_instants),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_grace),
        cmocka_unit_test(test_outage_without_coalesce),
        cmocka_unit_test(test_outage_with_coalesce),
        cmocka_unit_test(test_coalesce_latest_beyond_grace),
        cmocka_unit_test(test_month_outage_per_second),
        cmocka_unit_test(test_overlap_allow),
        cmocka_unit_test(test_busy_instants_deferred_until_due),
        cmocka_unit_test(test_overlap_skip),
        cmocka_unit_test(test_overlap_replace),
        cmocka_unit_test(test_overlap_queue_one),
        cmocka_unit_test(test_output_limit_and_resume),
        cmocka_unit_test(test_trigger_end),
        cmocka_unit_test(test_cron_outage),
        cmocka_unit_test(test_cron_dst),
        cmocka_unit_test(test_property_resume),
        cmocka_unit_test(test_property_resume_cron),
        cmocka_unit_test(test_property_advancing_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
