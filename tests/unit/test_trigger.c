/*
 * Triggers: interval and one-off arithmetic, cron triggers across DST changes in Berlin,
 * New York, Lord Howe and Tokyo (the semantics of trigger.h and docs/scheduling.md), jitter,
 * and randomized properties (next/prev consistency, monotonicity, count = enumeration, and
 * agreement with an independent oracle built on tzFromCivil).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/timefmt.h"
#include "core/trigger.h"

#define SEC  INT64_C(1000000)
#define MIN  (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY  (86400 * SEC)

static int64_t at(const char *text)
{
    int64_t t = 0;
    char err[RC_ERRMSG_SIZE];
    if (timefmtParse(text, &t, err, sizeof err) != 0) {
        fail_msg("%s: %s", text, err);
    }
    return t;
}

static const char *show(int64_t us, char buf[RC_TIMEFMT_MAX])
{
    timefmtFormat(us, 0, buf);
    return buf;
}

static struct rc_trigger cron(const char *expr, const char *tz, enum rc_dst_gap gap,
                              enum rc_dst_repeat repeat)
{
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];
    if (triggerInitCron(&t, expr, tz, 0, err, sizeof err) != 0) {
        fail_msg("%s in %s: %s", expr, tz, err);
    }
    t.dst_gap = gap;
    t.dst_repeat = repeat;
    return t;
}

static int64_t next(const struct rc_trigger *t, int64_t after)
{
    int64_t out = 0;
    int rv = triggerNext(t, after, &out);
    if (rv != 0) {
        char b[RC_TIMEFMT_MAX];
        fail_msg("next after %s: %s", show(after, b), rc_errname(rv));
    }
    return out;
}

static int64_t prev(const struct rc_trigger *t, int64_t before)
{
    int64_t out = 0;
    int rv = triggerPrev(t, before, &out);
    if (rv != 0) {
        char b[RC_TIMEFMT_MAX];
        fail_msg("prev before %s: %s", show(before, b), rc_errname(rv));
    }
    return out;
}

static void expectInstant(int64_t got, int64_t want, const char *what, size_t i)
{
    if (got != want) {
        char g[RC_TIMEFMT_MAX], w[RC_TIMEFMT_MAX];
        fail_msg("%s #%zu: got %s, want %s", what, i, show(got, g), show(want, w));
    }
}

/*
 * The instants after `from` are exactly `want` (UTC RFC 3339), walking forward; walking back
 * from the last gives them in reverse; and triggerCount over (from, last] agrees.
 */
static void expectSeqN(const struct rc_trigger *t, const char *from, const char *const *want,
                       size_t n)
{
    int64_t cur = at(from);
    for (size_t i = 0; i < n; i++) {
        cur = next(t, cur);
        expectInstant(cur, at(want[i]), "next", i);
    }
    for (size_t i = n - 1; i > 0; i--) {
        expectInstant(prev(t, at(want[i])), at(want[i - 1]), "prev", i - 1);
    }
    int64_t last = 0;
    assert_int_equal(triggerCount(t, at(from), cur, &last), n);
    assert_int_equal(last, cur);
}

#define SEQ(t, from, ...)                                                                          \
    expectSeqN(t, from, (const char *const[]){__VA_ARGS__},                                        \
               sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Every consecutive pair of instants in [from, to) is exactly step apart. */
static void expectSpacing(const struct rc_trigger *t, int64_t from, int64_t to, int64_t step)
{
    int64_t cur = next(t, from - 1);
    assert_int_equal(cur, from);
    uint64_t n = 1;
    for (;;) {
        int64_t nx = next(t, cur);
        if (nx >= to) {
            break;
        }
        expectInstant(nx, cur + step, "spacing", (size_t)n);
        cur = nx;
        n++;
    }
    int64_t last;
    assert_int_equal(triggerCount(t, from - 1, to - 1, &last), n);
    assert_int_equal(last, cur);
}

/* ---- interval and one-off -------------------------------------------------------------------- */

static void test_interval_basic(void **state)
{
    (void)state;
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, 0, 0), RC_EINVAL);
    assert_int_equal(triggerInitInterval(&t, -5, 0), RC_EINVAL);
    assert_int_equal(triggerInitInterval(&t, 10 * SEC, 1000 * SEC), 0);
    assert_int_equal(t.kind, RC_TRIGGER_INTERVAL);
    assert_int_equal(t.start_us, RC_TIME_NONE_LO);
    assert_int_equal(t.end_us, RC_TIME_NONE_HI);
    assert_int_equal(t.jitter_us, 0);
    /* Anchor in the past. */
    assert_int_equal(next(&t, 1234 * SEC), 1240 * SEC);
    assert_int_equal(next(&t, 1240 * SEC), 1250 * SEC); /* strictly after */
    assert_int_equal(next(&t, 1240 * SEC - 1), 1240 * SEC);
    assert_int_equal(prev(&t, 1240 * SEC), 1230 * SEC); /* strictly before */
    assert_int_equal(prev(&t, 1240 * SEC + 1), 1240 * SEC);
    /* Anchor in the future, and instants before it: floor division, not truncation. */
    assert_int_equal(next(&t, 0), 10 * SEC);
    assert_int_equal(next(&t, -1), 0);
    assert_int_equal(next(&t, -15 * SEC), -10 * SEC);
    assert_int_equal(prev(&t, -15 * SEC), -20 * SEC);
    assert_int_equal(prev(&t, -20 * SEC), -30 * SEC);
    assert_int_equal(prev(&t, 1), 0);
    /* Microsecond phase of the anchor is kept. */
    assert_int_equal(triggerInitInterval(&t, 90 * SEC, 7), 0);
    assert_int_equal(next(&t, 0), 7);
    assert_int_equal(next(&t, 7), 90 * SEC + 7);
    assert_int_equal(prev(&t, -1), -90 * SEC + 7);
}

static void test_interval_bounds(void **state)
{
    (void)state;
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, HOUR, 0), 0);
    t.start_us = 5 * HOUR + 1;
    t.end_us = 8 * HOUR;
    int64_t out = 0;
    assert_int_equal(next(&t, INT64_MIN), 6 * HOUR);
    assert_int_equal(next(&t, 0), 6 * HOUR);
    assert_int_equal(next(&t, 7 * HOUR), 8 * HOUR); /* the end is inclusive */
    assert_int_equal(triggerNext(&t, 8 * HOUR, &out), RC_ENEVER);
    assert_int_equal(prev(&t, INT64_MAX), 8 * HOUR);
    assert_int_equal(prev(&t, 7 * HOUR), 6 * HOUR);
    assert_int_equal(triggerPrev(&t, 6 * HOUR, &out), RC_ENEVER);
    int64_t last = -1;
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), 3);
    assert_int_equal(last, 8 * HOUR);
    assert_int_equal(triggerCount(&t, 6 * HOUR, 7 * HOUR, &last), 1);
    assert_int_equal(last, 7 * HOUR);
    last = -1;
    assert_int_equal(triggerCount(&t, 8 * HOUR, INT64_MAX, &last), 0);
    assert_int_equal(last, -1); /* unchanged */
    assert_int_equal(triggerCount(&t, 7 * HOUR, 6 * HOUR, &last), 0);
    /* start == end: a single instant if it is on the grid. */
    t.start_us = t.end_us = 3 * HOUR;
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), 1);
    t.start_us = t.end_us = 3 * HOUR + 1;
    assert_int_equal(triggerNext(&t, INT64_MIN, &out), RC_ENEVER);
}

/* Near the ends of int64 nothing overflows: arithmetic is exact. */
static void test_interval_extremes(void **state)
{
    (void)state;
    struct rc_trigger t;
    int64_t out = 0, last = 0;
    assert_int_equal(triggerInitInterval(&t, 1, 0), 0);
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), UINT64_MAX);
    assert_int_equal(last, INT64_MAX);
    assert_int_equal(triggerNext(&t, INT64_MAX, &out), RC_ENEVER);
    assert_int_equal(triggerPrev(&t, INT64_MIN, &out), RC_ENEVER);
    assert_int_equal(next(&t, INT64_MAX - 1), INT64_MAX);
    assert_int_equal(prev(&t, INT64_MIN + 1), INT64_MIN);

    assert_int_equal(triggerInitInterval(&t, INT64_MAX, INT64_MAX - 5), 0);
    assert_int_equal(next(&t, INT64_MIN), -5);
    assert_int_equal(next(&t, -5), INT64_MAX - 5);
    assert_int_equal(triggerNext(&t, INT64_MAX - 5, &out), RC_ENEVER);
    assert_int_equal(prev(&t, 0), -5);
    assert_int_equal(triggerPrev(&t, -5, &out), RC_ENEVER); /* -5 - INT64_MAX < INT64_MIN */
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), 2);
    assert_int_equal(last, INT64_MAX - 5);

    assert_int_equal(triggerInitInterval(&t, 3 * DAY, INT64_MIN + 1), 0);
    assert_int_equal(prev(&t, INT64_MIN + 2), INT64_MIN + 1);
    assert_int_equal(next(&t, INT64_MIN), INT64_MIN + 1);
}

/* The arithmetic count equals enumeration, over ranges crossing the anchor. */
static void test_interval_count_matches_enumeration(void **state)
{
    (void)state;
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, 7 * MIN + 3, at("2025-01-01T00:00:00Z")), 0);
    t.start_us = at("2024-06-01T00:00:00Z");
    t.end_us = at("2025-09-01T00:00:00Z");
    uint64_t rnd = 42;
    for (int k = 0; k < 40; k++) {
        rnd = rnd * 6364136223846793005u + 1442695040888963407u;
        int64_t from = at("2024-05-01T00:00:00Z") + (int64_t)((rnd >> 20) % (500ull * 86400)) * SEC;
        int64_t to = from + (int64_t)((rnd >> 7) % (30ull * 86400)) * SEC;
        uint64_t n = 0;
        int64_t cur = from, last_enum = 0, got;
        while (triggerNext(&t, cur, &got) == 0 && got <= to) {
            n++;
            last_enum = cur = got;
        }
        int64_t last = 0;
        assert_int_equal(triggerCount(&t, from, to, &last), n);
        if (n > 0) {
            assert_int_equal(last, last_enum);
        }
    }
    /* A long range: ten years of every-7-minutes-3-seconds, counted arithmetically. */
    t.start_us = RC_TIME_NONE_LO;
    t.end_us = RC_TIME_NONE_HI;
    int64_t last = 0;
    uint64_t n = triggerCount(&t, at("2025-01-01T00:00:00Z"), at("2035-01-01T00:00:00Z"), &last);
    assert_int_equal(
        n, (uint64_t)((at("2035-01-01T00:00:00Z") - at("2025-01-01T00:00:00Z")) / (7 * MIN + 3)));
    assert_int_equal(last, at("2025-01-01T00:00:00Z") + (int64_t)n * (7 * MIN + 3));
}

static void test_once(void **state)
{
    (void)state;
    struct rc_trigger t;
    triggerInitOnce(&t, 1000);
    assert_int_equal(t.kind, RC_TRIGGER_ONCE);
    int64_t out = 0, last = -1;
    assert_int_equal(next(&t, INT64_MIN), 1000);
    assert_int_equal(next(&t, 999), 1000);
    assert_int_equal(triggerNext(&t, 1000, &out), RC_ENEVER);
    assert_int_equal(prev(&t, 1001), 1000);
    assert_int_equal(prev(&t, INT64_MAX), 1000);
    assert_int_equal(triggerPrev(&t, 1000, &out), RC_ENEVER);
    assert_int_equal(triggerCount(&t, 999, 1000, &last), 1);
    assert_int_equal(last, 1000);
    last = -1;
    assert_int_equal(triggerCount(&t, 1000, 5000, &last), 0);
    assert_int_equal(triggerCount(&t, 0, 999, &last), 0);
    assert_int_equal(last, -1);
    /* Bounds exclude the instant. */
    t.end_us = 999;
    assert_int_equal(triggerNext(&t, 0, &out), RC_ENEVER);
    assert_int_equal(triggerPrev(&t, INT64_MAX, &out), RC_ENEVER);
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), 0);
    t.end_us = RC_TIME_NONE_HI;
    t.start_us = 1001;
    assert_int_equal(triggerNext(&t, 0, &out), RC_ENEVER);
    triggerInitOnce(&t, INT64_MAX);
    assert_int_equal(next(&t, INT64_MAX - 1), INT64_MAX);
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), 1);
}

static void test_invalid_kind(void **state)
{
    (void)state;
    struct rc_trigger t;
    triggerInitOnce(&t, 0);
    t.kind = (enum rc_trigger_kind)0;
    int64_t out, last = 0;
    assert_int_equal(triggerNext(&t, 0, &out), RC_EINVAL);
    assert_int_equal(triggerPrev(&t, 0, &out), RC_EINVAL);
    assert_int_equal(triggerCount(&t, 0, 10, &last), 0);
    assert_int_equal(triggerInitInterval(&t, 10, 0), 0);
    t.interval_us = 0;
    assert_int_equal(triggerNext(&t, 0, &out), RC_EINVAL);
}

/* ---- cron: construction ---------------------------------------------------------------------- */

static void test_cron_init(void **state)
{
    (void)state;
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE] = "";
    assert_int_equal(triggerInitCron(&t, "30 2 * * *", "Europe/Berlin", 0, err, sizeof err), 0);
    assert_int_equal(t.kind, RC_TRIGGER_CRON);
    assert_string_equal(tzName(t.tz), "Europe/Berlin");
    assert_int_equal(t.dst_gap, RC_DST_GAP_SHIFT);
    assert_int_equal(t.dst_repeat, RC_DST_REPEAT_ONCE);
    assert_int_equal(t.start_us, RC_TIME_NONE_LO);
    assert_int_equal(t.end_us, RC_TIME_NONE_HI);
    assert_int_equal(triggerInitCron(&t, "30 2 * * *", NULL, 0, err, sizeof err), 0);
    assert_string_equal(tzName(t.tz), "UTC");
    assert_int_equal(next(&t, at("2025-03-30T00:00:00Z")), at("2025-03-30T02:30:00Z"));

    /* CRON_TZ= in the expression. */
    const char *prefixed = "CRON_TZ=Europe/Berlin 30 2 * * *";
    assert_int_equal(triggerInitCron(&t, prefixed, "", 0, err, sizeof err), 0);
    assert_string_equal(tzName(t.tz), "Europe/Berlin");
    assert_int_equal(next(&t, at("2025-03-31T00:00:00Z")), at("2025-03-31T00:30:00Z"));
    assert_int_equal(triggerInitCron(&t, prefixed, "Europe/Berlin", 0, err, sizeof err), 0);
    assert_int_equal(triggerInitCron(&t, "TZ=Asia/Tokyo 0 9 * * *", NULL, 0, err, sizeof err), 0);
    assert_string_equal(tzName(t.tz), "Asia/Tokyo");
    assert_int_equal(triggerInitCron(&t, prefixed, "America/New_York", 0, err, sizeof err),
                     RC_EPARSE);
    assert_string_equal(err, "conflicting time zones: the expression says CRON_TZ=Europe/Berlin, "
                             "the trigger says America/New_York");

    /* Errors from the parser and the zone lookup pass through. */
    assert_int_equal(triggerInitCron(&t, "61 * * * *", "", 0, err, sizeof err), RC_EPARSE);
    assert_true(strlen(err) > 0);
    assert_int_equal(triggerInitCron(&t, "0 * * * *", "Mars/Olympus", 0, err, sizeof err), RC_ETZ);
    assert_string_equal(err, "unknown time zone \"Mars/Olympus\"");
    assert_int_equal(triggerInitCron(&t, "CRON_TZ=Mars/Olympus 0 * * * *", "", 0, err, sizeof err),
                     RC_ETZ);
}

static void test_cron_every(void **state)
{
    (void)state;
    struct rc_trigger t;
    char err[RC_ERRMSG_SIZE];
    int64_t anchor = at("2025-06-01T12:00:00Z");
    assert_int_equal(triggerInitCron(&t, "@every 90s", "", anchor, err, sizeof err), 0);
    assert_int_equal(t.kind, RC_TRIGGER_INTERVAL);
    assert_int_equal(t.interval_us, 90 * SEC);
    assert_int_equal(t.anchor_us, anchor);
    SEQ(&t, "2025-06-01T11:58:00Z", "2025-06-01T11:58:30Z", "2025-06-01T12:00:00Z",
        "2025-06-01T12:01:30Z", "2025-06-01T12:03:00Z");
    /* A zone does not change elapsed-time schedules, even across a DST change. */
    assert_int_equal(triggerInitCron(&t, "@every 1h", "Europe/Berlin", at("2025-03-30T00:00:00Z"),
                                     err, sizeof err),
                     0);
    SEQ(&t, "2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z");
}

/* Instants are whole seconds; a fractional "after" or "before" is compared exactly. */
static void test_cron_fractions_and_bounds(void **state)
{
    (void)state;
    struct rc_trigger t = cron("*/10 * * * * *", "", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    int64_t x = at("2025-01-01T00:00:10Z");
    assert_int_equal(next(&t, x - 1), x);
    assert_int_equal(next(&t, x), x + 10 * SEC);
    assert_int_equal(next(&t, x + 1), x + 10 * SEC);
    assert_int_equal(next(&t, x - SEC / 2), x);
    assert_int_equal(prev(&t, x + 1), x);
    assert_int_equal(prev(&t, x), x - 10 * SEC);
    assert_int_equal(prev(&t, x - 1), x - 10 * SEC);
    assert_int_equal(next(&t, -1), 0);
    assert_int_equal(prev(&t, 1), 0);
    assert_int_equal(prev(&t, -SEC / 2), -10 * SEC);
    int64_t last;
    assert_int_equal(triggerCount(&t, x - 1, x, &last), 1);
    assert_int_equal(triggerCount(&t, x, x + 10 * SEC - 1, &last), 0);
    assert_int_equal(triggerCount(&t, x - 1, x + 25 * SEC + 999999, &last), 3);
    assert_int_equal(last, x + 20 * SEC);

    t.start_us = x + 1;
    t.end_us = x + 30 * SEC + 1;
    int64_t out;
    assert_int_equal(next(&t, INT64_MIN), x + 10 * SEC);
    assert_int_equal(prev(&t, INT64_MAX), x + 30 * SEC);
    assert_int_equal(triggerNext(&t, x + 30 * SEC, &out), RC_ENEVER);
    assert_int_equal(triggerPrev(&t, x + 10 * SEC, &out), RC_ENEVER);
    assert_int_equal(triggerCount(&t, INT64_MIN, INT64_MAX, &last), 3);
    assert_int_equal(last, x + 30 * SEC);
}

/* Cron instants live in years 1..9999; beyond, there is none. */
static void test_cron_calendar_ends(void **state)
{
    (void)state;
    struct rc_trigger t = cron("0 0 1 1 *", "", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    int64_t out, last;
    assert_int_equal(next(&t, INT64_MIN), at("0001-01-01T00:00:00Z"));
    assert_int_equal(prev(&t, INT64_MAX), at("9999-01-01T00:00:00Z"));
    assert_int_equal(triggerNext(&t, at("9999-01-01T00:00:00Z"), &out), RC_ENEVER);
    assert_int_equal(triggerNext(&t, INT64_MAX, &out), RC_ENEVER);
    assert_int_equal(triggerPrev(&t, at("0001-01-01T00:00:00Z"), &out), RC_ENEVER);
    assert_int_equal(triggerPrev(&t, INT64_MIN, &out), RC_ENEVER);
    assert_int_equal(
        triggerCount(&t, at("1900-01-01T00:00:00Z"), at("2100-01-01T00:00:00Z"), &last), 200);
    assert_int_equal(last, at("2100-01-01T00:00:00Z"));
    /* Feb 29 only: next leap year, up to eight years away across 2100. */
    t = cron("0 12 29 2 *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    assert_int_equal(next(&t, at("2097-01-01T00:00:00Z")), at("2104-02-29T11:00:00Z"));
    assert_int_equal(prev(&t, at("2104-01-01T00:00:00Z")), at("2096-02-29T11:00:00Z"));
}

/* ---- cron across DST ------------------------------------------------------------------------- */

static void test_berlin_fixed_time(void **state)
{
    (void)state;
    /* Spring 2025-03-30: 02:00-03:00 CET does not exist; 02:30 runs at 03:00 CEST. */
    struct rc_trigger t = cron("30 2 * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-28T12:00:00Z", "2025-03-29T01:30:00Z", "2025-03-30T01:00:00Z",
        "2025-03-31T00:30:00Z");
    t.dst_gap = RC_DST_GAP_SKIP;
    SEQ(&t, "2025-03-28T12:00:00Z", "2025-03-29T01:30:00Z", "2025-03-31T00:30:00Z");
    /* Fall 2025-10-26: 02:00-03:00 happens in CEST and again in CET. */
    t.dst_repeat = RC_DST_REPEAT_ONCE;
    SEQ(&t, "2025-10-25T12:00:00Z", "2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z");
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    SEQ(&t, "2025-10-25T12:00:00Z", "2025-10-26T00:30:00Z", "2025-10-26T01:30:00Z",
        "2025-10-27T01:30:00Z");
    /* Asking from inside the repeat. */
    t.dst_repeat = RC_DST_REPEAT_ONCE;
    assert_int_equal(next(&t, at("2025-10-26T00:45:00Z")), at("2025-10-27T01:30:00Z"));
    assert_int_equal(prev(&t, at("2025-10-26T01:45:00Z")), at("2025-10-26T00:30:00Z"));
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    assert_int_equal(next(&t, at("2025-10-26T00:45:00Z")), at("2025-10-26T01:30:00Z"));
    assert_int_equal(prev(&t, at("2025-10-26T01:45:00Z")), at("2025-10-26T01:30:00Z"));
}

/* A match on the gap's last second: the search for the segment after the gap starts there. */
static void test_berlin_gap_last_second(void **state)
{
    (void)state;
    struct rc_trigger t =
        cron("59 59 2 * * *", "Europe/Berlin", RC_DST_GAP_SKIP, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-29T00:00:00Z", "2025-03-29T01:59:59Z", "2025-03-31T00:59:59Z");
    t.dst_gap = RC_DST_GAP_SHIFT;
    SEQ(&t, "2025-03-29T00:00:00Z", "2025-03-29T01:59:59Z", "2025-03-30T01:00:00Z",
        "2025-03-31T00:59:59Z");
    t = cron("59 59 * * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-29T23:30:00Z", "2025-03-29T23:59:59Z", "2025-03-30T00:59:59Z",
        "2025-03-30T01:59:59Z");
}

/* Several gap times shifted to the transition fire once; a regular 03:00 there too. */
static void test_berlin_gap_dedup(void **state)
{
    (void)state;
    struct rc_trigger t =
        cron("0,30 2,3 * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z",
        "2025-03-31T00:00:00Z");
    t = cron("*/15 2 * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z");
    t.dst_gap = RC_DST_GAP_SKIP;
    SEQ(&t, "2025-03-29T12:00:00Z", "2025-03-31T00:00:00Z");
    /* Fixed hour in the repeat: four runs (ONCE) or eight (BOTH). */
    SEQ(&t, "2025-10-25T12:00:00Z", "2025-10-26T00:00:00Z", "2025-10-26T00:15:00Z",
        "2025-10-26T00:30:00Z", "2025-10-26T00:45:00Z", "2025-10-27T01:00:00Z");
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    SEQ(&t, "2025-10-25T12:00:00Z", "2025-10-26T00:00:00Z", "2025-10-26T00:15:00Z",
        "2025-10-26T00:30:00Z", "2025-10-26T00:45:00Z", "2025-10-26T01:00:00Z",
        "2025-10-26T01:15:00Z", "2025-10-26T01:30:00Z", "2025-10-26T01:45:00Z",
        "2025-10-27T01:00:00Z");
}

static void test_berlin_wildcard_hour(void **state)
{
    (void)state;
    /* dst options do not apply to wildcard-hour expressions: try the non-defaults. */
    struct rc_trigger t =
        cron("*/15 * * * *", "Europe/Berlin", RC_DST_GAP_SKIP, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-30T00:20:00Z", "2025-03-30T00:30:00Z", "2025-03-30T00:45:00Z",
        "2025-03-30T01:00:00Z", "2025-03-30T01:15:00Z");
    SEQ(&t, "2025-10-26T00:20:00Z", "2025-10-26T00:30:00Z", "2025-10-26T00:45:00Z",
        "2025-10-26T01:00:00Z", "2025-10-26T01:15:00Z");
    expectSpacing(&t, at("2025-03-28T00:00:00Z"), at("2025-04-02T00:00:00Z"), 15 * MIN);
    expectSpacing(&t, at("2025-10-24T00:00:00Z"), at("2025-10-29T00:00:00Z"), 15 * MIN);
    int64_t last;
    /* The local day of the change: 23 hours in spring, 25 in the fall. */
    assert_int_equal(
        triggerCount(&t, at("2025-03-29T23:00:00Z") - 1, at("2025-03-30T22:00:00Z") - 1, &last),
        23 * 4);
    assert_int_equal(
        triggerCount(&t, at("2025-10-25T22:00:00Z") - 1, at("2025-10-26T23:00:00Z") - 1, &last),
        25 * 4);
    t.dst_gap = RC_DST_GAP_SHIFT;
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    expectSpacing(&t, at("2025-03-28T00:00:00Z"), at("2025-04-02T00:00:00Z"), 15 * MIN);

    t = cron("5 * * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-29T23:30:00Z", "2025-03-30T00:05:00Z", "2025-03-30T01:05:00Z",
        "2025-03-30T02:05:00Z");
    SEQ(&t, "2025-10-25T23:30:00Z", "2025-10-26T00:05:00Z", "2025-10-26T01:05:00Z",
        "2025-10-26T02:05:00Z");
    expectSpacing(&t, at("2025-03-28T00:05:00Z"), at("2025-04-02T00:00:00Z"), HOUR);
    expectSpacing(&t, at("2025-10-24T00:05:00Z"), at("2025-10-29T00:00:00Z"), HOUR);
}

static void test_new_york(void **state)
{
    (void)state;
    /* Spring 2025-03-09 07:00Z: 02:00-03:00 EST is skipped. */
    struct rc_trigger t =
        cron("30 2 * * *", "America/New_York", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-07T12:00:00Z", "2025-03-08T07:30:00Z", "2025-03-09T07:00:00Z",
        "2025-03-10T06:30:00Z");
    t.dst_gap = RC_DST_GAP_SKIP;
    SEQ(&t, "2025-03-07T12:00:00Z", "2025-03-08T07:30:00Z", "2025-03-10T06:30:00Z");
    /* Fall 2025-11-02 06:00Z: 01:00-02:00 happens in EDT and again in EST. */
    t = cron("30 1 * * *", "America/New_York", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-11-01T00:00:00Z", "2025-11-01T05:30:00Z", "2025-11-02T05:30:00Z",
        "2025-11-03T06:30:00Z");
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    SEQ(&t, "2025-11-01T00:00:00Z", "2025-11-01T05:30:00Z", "2025-11-02T05:30:00Z",
        "2025-11-02T06:30:00Z", "2025-11-03T06:30:00Z");

    t = cron("*/15 * * * *", "America/New_York", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-09T06:40:00Z", "2025-03-09T06:45:00Z", "2025-03-09T07:00:00Z");
    SEQ(&t, "2025-11-02T05:40:00Z", "2025-11-02T05:45:00Z", "2025-11-02T06:00:00Z",
        "2025-11-02T06:15:00Z");
    expectSpacing(&t, at("2025-03-08T00:00:00Z"), at("2025-03-11T00:00:00Z"), 15 * MIN);
    expectSpacing(&t, at("2025-11-01T00:00:00Z"), at("2025-11-04T00:00:00Z"), 15 * MIN);
    t = cron("5 * * * *", "America/New_York", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-03-09T05:30:00Z", "2025-03-09T06:05:00Z", "2025-03-09T07:05:00Z");
    SEQ(&t, "2025-11-02T04:30:00Z", "2025-11-02T05:05:00Z", "2025-11-02T06:05:00Z",
        "2025-11-02T07:05:00Z");
}

/* Lord Howe moves by 30 minutes, in the southern hemisphere. */
static void test_lord_howe(void **state)
{
    (void)state;
    const char *z = "Australia/Lord_Howe";
    /* 2025-04-06 02:00 +11:00 -> 01:30 +10:30: 01:30-02:00 repeats. */
    struct rc_trigger t = cron("45 1 * * *", z, RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-04-04T00:00:00Z", "2025-04-04T14:45:00Z", "2025-04-05T14:45:00Z",
        "2025-04-06T15:15:00Z");
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    SEQ(&t, "2025-04-04T00:00:00Z", "2025-04-04T14:45:00Z", "2025-04-05T14:45:00Z",
        "2025-04-05T15:15:00Z", "2025-04-06T15:15:00Z");
    /* 2025-10-05 02:00 +10:30 -> 02:30 +11:00: 02:00-02:30 does not exist. */
    t = cron("15 2 * * *", z, RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-10-03T00:00:00Z", "2025-10-03T15:45:00Z", "2025-10-04T15:30:00Z",
        "2025-10-05T15:15:00Z");
    t.dst_gap = RC_DST_GAP_SKIP;
    SEQ(&t, "2025-10-03T00:00:00Z", "2025-10-03T15:45:00Z", "2025-10-05T15:15:00Z");

    t = cron("*/15 * * * *", z, RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-04-05T14:20:00Z", "2025-04-05T14:30:00Z", "2025-04-05T14:45:00Z",
        "2025-04-05T15:00:00Z", "2025-04-05T15:15:00Z", "2025-04-05T15:30:00Z");
    SEQ(&t, "2025-10-04T15:05:00Z", "2025-10-04T15:15:00Z", "2025-10-04T15:30:00Z",
        "2025-10-04T15:45:00Z");
    expectSpacing(&t, at("2025-04-04T00:00:00Z"), at("2025-04-08T00:00:00Z"), 15 * MIN);
    expectSpacing(&t, at("2025-10-03T00:00:00Z"), at("2025-10-07T00:00:00Z"), 15 * MIN);
    /* On the hour: 02:00 does not exist in spring, so 01:00 to 03:00 is 90 real minutes. */
    t = cron("0 * * * *", z, RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    SEQ(&t, "2025-10-04T14:00:00Z", "2025-10-04T14:30:00Z", "2025-10-04T16:00:00Z");
    SEQ(&t, "2025-04-05T13:30:00Z", "2025-04-05T14:00:00Z", "2025-04-05T15:30:00Z");
}

static void test_tokyo(void **state)
{
    (void)state;
    struct rc_trigger t = cron("30 2 * * *", "Asia/Tokyo", RC_DST_GAP_SKIP, RC_DST_REPEAT_BOTH);
    SEQ(&t, "2025-03-29T00:00:00Z", "2025-03-29T17:30:00Z", "2025-03-30T17:30:00Z");
    int64_t last;
    assert_int_equal(
        triggerCount(&t, at("2025-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"), &last), 365);
    assert_int_equal(last, at("2025-12-31T17:30:00Z"));
    t = cron("*/15 * * * *", "Asia/Tokyo", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    expectSpacing(&t, at("2025-03-28T00:00:00Z"), at("2025-04-02T00:00:00Z"), 15 * MIN);
}

/* Counting is per day, not per instant: an every-second job over a decade. */
static void test_count_long_outage(void **state)
{
    (void)state;
    struct rc_trigger t =
        cron("* * * * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    int64_t from = at("2020-01-01T00:00:00Z");
    int64_t to = at("2030-01-01T00:00:00Z");
    int64_t last = 0;
    /* Wildcard hour: every real second, DST or not. */
    assert_int_equal(triggerCount(&t, from - 1, to - 1, &last), (uint64_t)((to - from) / SEC));
    assert_int_equal(last, to - SEC);
    /* Fixed hour 2 in Berlin: the spring day's hour collapses to one shifted instant; the fall
     * day's hour runs once (ONCE) or twice (BOTH). */
    t = cron("* * 2 * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    int64_t y0 = at("2025-01-01T00:00:00Z"), y1 = at("2026-01-01T00:00:00Z");
    assert_int_equal(triggerCount(&t, y0, y1, &last), 364 * 3600 + 1);
    t.dst_gap = RC_DST_GAP_SKIP;
    assert_int_equal(triggerCount(&t, y0, y1, &last), 364 * 3600);
    t.dst_repeat = RC_DST_REPEAT_BOTH;
    assert_int_equal(triggerCount(&t, y0, y1, &last), 365 * 3600);
    assert_int_equal(last, at("2025-12-31T01:59:59Z"));
}

/* ---- jitter ---------------------------------------------------------------------------------- */

static void test_jitter_bounds_and_determinism(void **state)
{
    (void)state;
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, MIN, 0), 0);
    assert_int_equal(triggerJitter(&t, "ns/job", 12345), 0); /* jitter 0: none */
    t.jitter_us = 10 * SEC;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int differ = 0;
    for (int i = 0; i < 10000; i++) {
        int64_t instant = (int64_t)i * MIN;
        int64_t d = triggerJitter(&t, "ns/job", instant);
        assert_true(d >= 0 && d <= t.jitter_us);
        assert_int_equal(triggerJitter(&t, "ns/job", instant), d);
        differ += d != triggerJitter(&t, "ns/job2", instant);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(differ >= 9990);
    assert_true(lo < SEC / 10);
    assert_true(hi > t.jitter_us - SEC / 10);
    /* Fixed values: the mapping is part of the contract (every leader computes the same). */
    int64_t a = triggerJitter(&t, "ns/job", 0);
    struct rc_trigger u = t;
    assert_int_equal(triggerJitter(&u, "ns/job", 0), a);
    assert_int_equal(triggerJitter(&t, NULL, 0), triggerJitter(&t, "", 0));
    /* jitter 1 µs: both 0 and 1 occur. */
    t.jitter_us = 1;
    int ones = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t d = triggerJitter(&t, "k", (int64_t)i * MIN);
        assert_true(d == 0 || d == 1);
        ones += (int)d;
    }
    assert_true(ones > 400 && ones < 600);
}

static void test_jitter_uniform(void **state)
{
    (void)state;
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, HOUR, 0), 0);
    t.jitter_us = 10 * MIN;
    enum { BINS = 10, SAMPLES = 50000 };
    int bins[BINS] = {0};
    for (int i = 0; i < SAMPLES; i++) {
        char key[32];
        snprintf(key, sizeof key, "team/job-%d", i % 97);
        int64_t d = triggerJitter(&t, key, (int64_t)(i / 97) * HOUR);
        bins[d * BINS / (t.jitter_us + 1)]++;
    }
    for (int b = 0; b < BINS; b++) {
        /* Expected 5000 per bin, standard deviation ~67. */
        assert_true(bins[b] > 4700 && bins[b] < 5300);
    }
}

/* A delay never reaches the next instant, whatever the trigger kind. */
static void test_jitter_capped_by_next(void **state)
{
    (void)state;
    struct rc_trigger t;
    assert_int_equal(triggerInitInterval(&t, 10 * SEC, 0), 0);
    t.jitter_us = 60 * SEC;
    int64_t max = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t d = triggerJitter(&t, "k", (int64_t)i * 10 * SEC);
        assert_true(d >= 0 && d <= 10 * SEC - 1);
        max = d > max ? d : max;
    }
    assert_int_equal(max, 10 * SEC - 1);
    /* The last instant of a bounded trigger has no next: the full range applies. */
    t.end_us = 100 * SEC;
    int over = 0;
    for (int i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        int64_t d = triggerJitter(&t, key, 100 * SEC);
        assert_true(d >= 0 && d <= 60 * SEC);
        over += d >= 10 * SEC;
    }
    assert_true(over > 100);
    /* Cron in Berlin across the spring change: 15 real minutes between instants. */
    t = cron("*/15 * * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    t.jitter_us = HOUR;
    for (int64_t x = at("2025-03-30T00:00:00Z"); x < at("2025-03-30T03:00:00Z"); x += 15 * MIN) {
        int64_t d = triggerJitter(&t, "k", x);
        assert_true(d >= 0 && d < 15 * MIN);
    }
    /* Fixed time with a shifted instant: 01:00Z is followed by 03:30 CEST the same night. */
    t = cron("0,30 2,3 * * *", "Europe/Berlin", RC_DST_GAP_SHIFT, RC_DST_REPEAT_ONCE);
    t.jitter_us = 2 * HOUR;
    int64_t x = at("2025-03-30T01:00:00Z");
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        assert_true(triggerJitter(&t, key, x) < 30 * MIN);
    }
    triggerInitOnce(&t, 0);
    t.jitter_us = 5;
    assert_true(triggerJitter(&t, "k", 0) <= 5);
}

/* ---- randomized properties ------------------------------------------------------------------ */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t rndRange(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo));
}

static const char *const prop_exprs[] = {
    "*/15 * * * *",   "5 * * * *",        "30 2 * * *",    "0 */2 * * *",  "*/7 1-3 * * *",
    "0 0 * * 0",      "0 9 * * mon-fri",  "0 0 1 * *",     "59 23 L * *",  "0 30 2 * * *",
    "*/20 * 2 * * *", "0 0,30 1-3 * * *", "15 2 29 2 *",   "0 12 15W * *", "0 0 * * 5#3",
    "*/10 * * * * *", "@hourly",          "0 2 * * *",     "45 1 * * *",   "0,30 2,3 * * *",
    "@every 45m",     "59 59 * * * *",    "59 59 2 * * *",
};

static const char *const prop_zones[] = {
    "UTC",          "Asia/Tokyo",       "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
    "Pacific/Apia", "America/Santiago", "Asia/Kathmandu"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A random instant: uniform over 1995-2055, or within hours of one of the zone's changes. */
static int64_t rndInstant(const struct rc_trigger *t)
{
    int64_t u = rndRange(at("1995-01-01T00:00:00Z"), at("2055-01-01T00:00:00Z"));
    int64_t tr;
    int b, a;
    if (t->tz != NULL && rnd() % 2 == 0 && tzNextTransition(t->tz, u / SEC, &tr, &b, &a) == 0) {
        u = tr * SEC + rndRange(-3 * HOUR, 3 * HOUR);
    }
    return rnd() % 4 == 0 ? u - u % SEC : u;
}

static struct rc_trigger rndTrigger(void)
{
    const char *expr = prop_exprs[rnd() % NELEM(prop_exprs)];
    const char *zone = prop_zones[rnd() % NELEM(prop_zones)];
    struct rc_trigger t =
        cron(expr, zone, (enum rc_dst_gap)(rnd() % 2), (enum rc_dst_repeat)(rnd() % 2));
    if (t.kind == RC_TRIGGER_INTERVAL) {
        t.anchor_us = rndInstant(&t);
    }
    return t;
}

static void checkAround(const struct rc_trigger *t, int64_t x)
{
    int64_t n = next(t, x);
    assert_true(n > x);
    int64_t p;
    if (triggerPrev(t, n, &p) == 0) {
        assert_true(p <= x); /* nothing in (x, n) */
        assert_int_equal(next(t, p), n);
    }
    int64_t b = prev(t, x);
    assert_true(b < x);
    assert_true(next(t, b) >= x);
    /* Monotone: a later start never gives an earlier instant. */
    int64_t y = x + rndRange(0, 2 * DAY);
    assert_true(next(t, y) >= n);
    assert_true(prev(t, y) >= b);
    /* Counting agrees with enumeration over (x, y]. */
    uint64_t count = 0;
    int64_t cur = x, last_enum = 0;
    while ((cur = next(t, cur)) <= y) {
        count++;
        last_enum = cur;
        if (count > 20000) {
            return; /* an every-10-seconds expression over two days: enough seen */
        }
    }
    int64_t last = 0;
    assert_int_equal(triggerCount(t, x, y, &last), count);
    if (count > 0) {
        assert_int_equal(last, last_enum);
    }
}

static void test_property_next_prev(void **state)
{
    (void)state;
    for (int i = 0; i < 1500; i++) {
        struct rc_trigger t = rndTrigger();
        checkAround(&t, rndInstant(&t));
    }
}

/*
 * An independent oracle for the DST rules, from civil time: every matching wall-clock time in
 * a window is resolved with tzFromCivil and mapped through the rules of trigger.h. The
 * trigger's own walk (segment by segment) must give the same instants.
 */
static size_t oracle(const struct rc_trigger *t, int64_t from_s, int64_t to_s, int64_t *out,
                     size_t max)
{
    bool wildcard = cronHourIsWildcard(&t->cron);
    struct rc_civil c, m;
    civilFromSeconds(from_s, &c);
    size_t n = 0;
    while (cronNextCivil(&t->cron, &c, 10000, &m) == 0 && civilToSeconds(&m) <= to_s) {
        int64_t u[2];
        int k = tzFromCivil(t->tz, &m, u);
        if (k >= 1) {
            out[n++] = u[0];
        }
        if (k == 2 && (wildcard || t->dst_repeat == RC_DST_REPEAT_BOTH)) {
            out[n++] = u[1];
        }
        if (k == 0 && !wildcard && t->dst_gap == RC_DST_GAP_SHIFT) {
            out[n++] = u[0];
        }
        assert_true(n + 2 < max);
        c = m;
    }
    return n;
}

static int cmpI64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void checkOracle(const struct rc_trigger *t, int64_t transition_s)
{
    enum { MAX = 4096 };
    static int64_t want[MAX];
    /* Civil window two days wide around the change; compare on the middle day only, so that
     * no instant outside the civil window can belong to it. */
    size_t n = oracle(t, transition_s - 2 * 86400, transition_s + 2 * 86400, want, MAX);
    qsort(want, n, sizeof want[0], cmpI64);
    int64_t lo = (transition_s - 86400) * SEC, hi = (transition_s + 86400) * SEC;
    size_t i = 0;
    while (i < n && want[i] * SEC <= lo) {
        i++;
    }
    int64_t cur = lo;
    for (;;) {
        while (i + 1 < n && want[i + 1] == want[i]) {
            i++; /* several gap times shifted to one instant */
        }
        int64_t got = next(t, cur);
        if (got > hi) {
            break;
        }
        assert_true(i < n);
        expectInstant(got, want[i] * SEC, "oracle", i);
        cur = got;
        i++;
    }
    assert_true(i >= n || want[i] * SEC > hi);
}

static void test_property_oracle(void **state)
{
    (void)state;
    static const char *const exprs[] = {
        "*/15 * * * *",   "5 * * * *",     "30 2 * * *",    "0 */2 * * *", "*/7 1-3 * * *",
        "0,30 2,3 * * *", "45 1 * * *",    "15 2 * * *",    "0 0 * * *",   "*/20 * 2 * * *",
        "0 0-4 * * *",    "59 59 * * * *", "59 59 2 * * *", "0 0 0 * * *"};
    static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                        "Pacific/Apia",  "America/Santiago", "Asia/Tokyo"};
    int transitions = 0;
    for (size_t z = 0; z < NELEM(zones); z++) {
        for (size_t e = 0; e < NELEM(exprs); e++) {
            for (int opt = 0; opt < 4; opt++) {
                struct rc_trigger t = cron(exprs[e], zones[z], (enum rc_dst_gap)(opt & 1),
                                           (enum rc_dst_repeat)(opt >> 1));
                int64_t s = at("2010-01-01T00:00:00Z") / SEC, tr;
                int b, a;
                while (tzNextTransition(t.tz, s, &tr, &b, &a) == 0 &&
                       tr < at("2027-01-01T00:00:00Z") / SEC) {
                    checkOracle(&t, tr);
                    s = tr;
                    transitions += e == 0 && opt == 0;
                }
            }
        }
    }
    assert_true(transitions > 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_basic),
        cmocka_unit_test(test_interval_bounds),
        cmocka_unit_test(test_interval_extremes),
        cmocka_unit_test(test_interval_count_matches_enumeration),
        cmocka_unit_test(test_once),
        cmocka_unit_test(test_invalid_kind),
        cmocka_unit_test(test_cron_init),
        cmocka_unit_test(test_cron_every),
        cmocka_unit_test(test_cron_fractions_and_bounds),
        cmocka_unit_test(test_cron_calendar_ends),
        cmocka_unit_test(test_berlin_fixed_time),
        cmocka_unit_test(test_berlin_gap_dedup),
        cmocka_unit_test(test_berlin_gap_last_second),
        cmocka_unit_test(test_berlin_wildcard_hour),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_lord_howe),
        cmocka_unit_test(test_tokyo),
        cmocka_unit_test(test_count_long_outage),
        cmocka_unit_test(test_jitter_bounds_and_determinism),
        cmocka_unit_test(test_jitter_uniform),
        cmocka_unit_test(test_jitter_capped_by_next),
        cmocka_unit_test(test_property_next_prev),
        cmocka_unit_test(test_property_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
