/*
 * Time zones: offsets, transitions and civil-time resolution at known 2025 DST changes, the
 * unknown-zone error, and the round trip instant -> civil -> instants over three years.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/tz.h"

static const struct rc_tz *zone(const char *id)
{
    const struct rc_tz *tz = NULL;
    char err[RC_ERRMSG_SIZE];
    int rv = tzGet(id, &tz, err, sizeof err);
    if (rv != 0) {
        fail_msg("tzGet(%s): %s", id != NULL ? id : "(null)", err);
    }
    return tz;
}

/* Seconds since the epoch of a UTC date-time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct rc_civil c = {y, mo, d, h, mi, s};
    return civilToSeconds(&c);
}

static int resolve(const struct rc_tz *tz, int y, int mo, int d, int h, int mi, int s,
                   int64_t out[2])
{
    struct rc_civil c = {y, mo, d, h, mi, s};
    return tzFromCivil(tz, &c, out);
}

static void expectTransition(const struct rc_tz *tz, int64_t after, int64_t at, int before_s,
                             int after_s)
{
    int64_t got;
    int b = 0, a = 0;
    assert_int_equal(tzNextTransition(tz, after, &got, &b, &a), 0);
    assert_int_equal(got, at);
    assert_int_equal(b, before_s);
    assert_int_equal(a, after_s);
    assert_int_equal(tzOffsetAt(tz, at - 1), before_s);
    assert_int_equal(tzOffsetAt(tz, at), after_s);
}

static void expectOne(const struct rc_tz *tz, int y, int mo, int d, int h, int mi, int s,
                      int64_t want)
{
    int64_t out[2];
    assert_int_equal(resolve(tz, y, mo, d, h, mi, s, out), 1);
    assert_int_equal(out[0], want);
}

static void expectTwo(const struct rc_tz *tz, int y, int mo, int d, int h, int mi, int s,
                      int64_t first, int64_t second)
{
    int64_t out[2];
    assert_int_equal(resolve(tz, y, mo, d, h, mi, s, out), 2);
    assert_int_equal(out[0], first);
    assert_int_equal(out[1], second);
}

static void expectGap(const struct rc_tz *tz, int y, int mo, int d, int h, int mi, int s,
                      int64_t transition)
{
    int64_t out[2];
    assert_int_equal(resolve(tz, y, mo, d, h, mi, s, out), 0);
    assert_int_equal(out[0], transition);
}

static void test_utc(void **state)
{
    (void)state;
    const struct rc_tz *u = zone("UTC");
    assert_ptr_equal(zone(""), u);
    assert_ptr_equal(zone(NULL), u);
    assert_string_equal(tzName(u), "UTC");
    assert_int_equal(tzOffsetAt(u, utc(2025, 3, 30, 1, 0, 0)), 0);
    int64_t at;
    int b, a;
    assert_int_equal(tzNextTransition(u, INT64_MIN, &at, &b, &a), RC_ENOTFOUND);
    expectOne(u, 2025, 3, 30, 2, 30, 0, utc(2025, 3, 30, 2, 30, 0));
    struct rc_civil c;
    int off = -1;
    tzToCivil(u, utc(2024, 2, 29, 23, 59, 59), &c, &off);
    assert_int_equal(off, 0);
    assert_int_equal(c.day, 29);
    assert_int_equal(c.second, 59);
}

static void test_tokyo_no_dst(void **state)
{
    (void)state;
    const struct rc_tz *tz = zone("Asia/Tokyo");
    assert_string_equal(tzName(tz), "Asia/Tokyo");
    assert_int_equal(tzOffsetAt(tz, utc(2025, 1, 15, 0, 0, 0)), 9 * 3600);
    assert_int_equal(tzOffsetAt(tz, utc(2025, 7, 15, 0, 0, 0)), 9 * 3600);
    int64_t at;
    int b, a;
    assert_int_equal(tzNextTransition(tz, utc(2000, 1, 1, 0, 0, 0), &at, &b, &a), RC_ENOTFOUND);
    /* Japan kept DST from 1948 to 1951: the table has those. */
    assert_int_equal(tzNextTransition(tz, utc(1948, 1, 1, 0, 0, 0), &at, &b, &a), 0);
    assert_int_equal(b, 9 * 3600);
    assert_int_equal(a, 10 * 3600);
    expectOne(tz, 2025, 3, 30, 2, 30, 0, utc(2025, 3, 29, 17, 30, 0));
    struct rc_civil c;
    int off;
    tzToCivil(tz, utc(2025, 12, 31, 20, 0, 0), &c, &off);
    assert_int_equal(off, 32400);
    assert_int_equal(c.year, 2026);
    assert_int_equal(c.month, 1);
    assert_int_equal(c.hour, 5);
}

static void test_berlin(void **state)
{
    (void)state;
    const struct rc_tz *tz = zone("Europe/Berlin");
    int64_t spring = utc(2025, 3, 30, 1, 0, 0);
    int64_t fall = utc(2025, 10, 26, 1, 0, 0);
    expectTransition(tz, utc(2025, 1, 1, 0, 0, 0), spring, 3600, 7200);
    expectTransition(tz, spring, fall, 7200, 3600);
    expectTransition(tz, fall - 1, fall, 7200, 3600);
    expectTransition(tz, fall, utc(2026, 3, 29, 1, 0, 0), 3600, 7200);
    expectTransition(tz, utc(2024, 1, 1, 0, 0, 0), utc(2024, 3, 31, 1, 0, 0), 3600, 7200);

    /* Spring forward: 02:00-02:59:59 local do not exist. */
    expectOne(tz, 2025, 3, 30, 1, 59, 59, spring - 1);
    expectGap(tz, 2025, 3, 30, 2, 0, 0, spring);
    expectGap(tz, 2025, 3, 30, 2, 30, 0, spring);
    expectGap(tz, 2025, 3, 30, 2, 59, 59, spring);
    expectOne(tz, 2025, 3, 30, 3, 0, 0, spring);
    /* Fall back: 02:00-02:59:59 local happen twice, CEST then CET. */
    expectOne(tz, 2025, 10, 26, 1, 59, 59, fall - 3600 - 1);
    expectTwo(tz, 2025, 10, 26, 2, 0, 0, fall - 3600, fall);
    expectTwo(tz, 2025, 10, 26, 2, 30, 0, utc(2025, 10, 26, 0, 30, 0), utc(2025, 10, 26, 1, 30, 0));
    expectTwo(tz, 2025, 10, 26, 2, 59, 59, fall - 1, fall + 3599);
    expectOne(tz, 2025, 10, 26, 3, 0, 0, fall + 3600);
    /* A day away from any change. */
    expectOne(tz, 2025, 7, 1, 12, 0, 0, utc(2025, 7, 1, 10, 0, 0));
    expectOne(tz, 2025, 12, 1, 12, 0, 0, utc(2025, 12, 1, 11, 0, 0));

    struct rc_civil c;
    int off;
    tzToCivil(tz, fall - 1, &c, &off);
    assert_int_equal(off, 7200);
    assert_int_equal(c.hour, 2);
    assert_int_equal(c.minute, 59);
    tzToCivil(tz, fall, &c, &off);
    assert_int_equal(off, 3600);
    assert_int_equal(c.hour, 2);
    assert_int_equal(c.minute, 0);
}

static void test_new_york(void **state)
{
    (void)state;
    const struct rc_tz *tz = zone("America/New_York");
    int64_t spring = utc(2025, 3, 9, 7, 0, 0);
    int64_t fall = utc(2025, 11, 2, 6, 0, 0);
    expectTransition(tz, utc(2025, 1, 1, 0, 0, 0), spring, -5 * 3600, -4 * 3600);
    expectTransition(tz, spring, fall, -4 * 3600, -5 * 3600);
    expectTransition(tz, fall, utc(2026, 3, 8, 7, 0, 0), -5 * 3600, -4 * 3600);
    expectOne(tz, 2025, 3, 9, 1, 59, 0, spring - 60);
    expectGap(tz, 2025, 3, 9, 2, 0, 0, spring);
    expectGap(tz, 2025, 3, 9, 2, 30, 0, spring);
    expectOne(tz, 2025, 3, 9, 3, 0, 0, spring);
    expectOne(tz, 2025, 11, 2, 0, 59, 59, fall - 3601);
    expectTwo(tz, 2025, 11, 2, 1, 0, 0, fall - 3600, fall);
    expectTwo(tz, 2025, 11, 2, 1, 30, 0, utc(2025, 11, 2, 5, 30, 0), utc(2025, 11, 2, 6, 30, 0));
    expectOne(tz, 2025, 11, 2, 2, 0, 0, fall + 3600);
}

static void test_lord_howe(void **state)
{
    (void)state;
    const struct rc_tz *tz = zone("Australia/Lord_Howe");
    /* 2025-04-06 02:00 +11:00 -> 01:30 +10:30; 2025-10-05 02:00 +10:30 -> 02:30 +11:00. */
    int64_t fall = utc(2025, 4, 5, 15, 0, 0);
    int64_t spring = utc(2025, 10, 4, 15, 30, 0);
    expectTransition(tz, utc(2025, 1, 1, 0, 0, 0), fall, 39600, 37800);
    expectTransition(tz, fall, spring, 37800, 39600);
    expectOne(tz, 2025, 4, 6, 1, 29, 59, fall - 1800 - 1);
    expectTwo(tz, 2025, 4, 6, 1, 30, 0, fall - 1800, fall);
    expectTwo(tz, 2025, 4, 6, 1, 45, 0, fall - 900, fall + 900);
    expectOne(tz, 2025, 4, 6, 2, 0, 0, fall + 1800);
    expectOne(tz, 2025, 10, 5, 1, 59, 59, spring - 1);
    expectGap(tz, 2025, 10, 5, 2, 0, 0, spring);
    expectGap(tz, 2025, 10, 5, 2, 29, 59, spring);
    expectOne(tz, 2025, 10, 5, 2, 30, 0, spring);
}

static void test_unknown_zone(void **state)
{
    (void)state;
    const struct rc_tz *tz = NULL;
    char err[RC_ERRMSG_SIZE] = "";
    assert_int_equal(tzGet("Mars/Olympus", &tz, err, sizeof err), RC_ETZ);
    assert_string_equal(err, "unknown time zone \"Mars/Olympus\"");
    assert_null(tz);
    /* ICU would read these as GMT; they are not zones. */
    assert_int_equal(tzGet("Etc/Unknown", &tz, err, sizeof err), RC_ETZ);
    assert_int_equal(tzGet("GMT+05:00", &tz, err, sizeof err), RC_ETZ);
    assert_int_equal(tzGet("europe/berlin ", &tz, err, sizeof err), RC_ETZ);
    assert_int_equal(tzGet("../../etc/passwd", &tz, err, sizeof err), RC_ETZ);
    assert_string_equal(err, "unknown time zone \"../../etc/passwd\"");
    char long_id[RC_TZ_ID_MAX + 8];
    memset(long_id, 'A', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(tzGet(long_id, &tz, err, sizeof err), RC_ETZ);
    assert_non_null(strstr(err, "longer than 63 bytes"));
    assert_null(tz);
    /* NULL message buffer is fine. */
    assert_int_equal(tzGet("Mars/Olympus", &tz, NULL, 0), RC_ETZ);
}

static void test_cache_and_aliases(void **state)
{
    (void)state;
    const struct rc_tz *a = zone("Europe/Berlin");
    assert_ptr_equal(zone("Europe/Berlin"), a);
    const struct rc_tz *eastern = zone("US/Eastern");
    assert_string_equal(tzName(eastern), "US/Eastern");
    assert_ptr_not_equal(eastern, zone("America/New_York"));
    assert_int_equal(tzOffsetAt(eastern, utc(2025, 7, 1, 0, 0, 0)), -4 * 3600);
    assert_int_equal(tzOffsetAt(zone("Etc/GMT+5"), utc(2025, 7, 1, 0, 0, 0)), -5 * 3600);
}

/*
 * ICU also reports changes that only move the split between raw and DST offset (London's
 * "British Standard Time", 1968-10-27: BST +1 becomes standard +1). The wall clock does not
 * move, so the table has no transition there.
 */
static void test_offset_neutral_changes_dropped(void **state)
{
    (void)state;
    const struct rc_tz *tz = zone("Europe/London");
    expectTransition(tz, utc(1968, 1, 1, 0, 0, 0), utc(1968, 2, 18, 2, 0, 0), 0, 3600);
    expectTransition(tz, utc(1968, 2, 18, 2, 0, 0), utc(1971, 10, 31, 2, 0, 0), 3600, 0);
    expectOne(tz, 1968, 10, 27, 2, 30, 0, utc(1968, 10, 27, 1, 30, 0));
}

/* Before 1900 the 1900 offset holds; after 2200 the last offset of the table stays. */
static void test_table_edges(void **state)
{
    (void)state;
    const struct rc_tz *tz = zone("Europe/Berlin");
    assert_int_equal(tzOffsetAt(tz, utc(1850, 7, 1, 0, 0, 0)),
                     tzOffsetAt(tz, utc(1900, 1, 1, 0, 0, 0)));
    expectTransition(tz, utc(2200, 1, 1, 0, 0, 0), utc(2200, 3, 30, 1, 0, 0), 3600, 7200);
    int64_t at;
    int b, a;
    assert_int_equal(tzNextTransition(tz, utc(2200, 12, 1, 0, 0, 0), &at, &b, &a), RC_ENOTFOUND);
    assert_int_equal(tzOffsetAt(tz, utc(2300, 7, 1, 0, 0, 0)), 3600);
    assert_int_equal(tzOffsetAt(tz, INT64_MAX), 3600);
    assert_int_equal(tzOffsetAt(tz, INT64_MIN), tzOffsetAt(tz, utc(1850, 1, 1, 0, 0, 0)));

    struct rc_tz_segment s;
    tzSegmentAt(tz, utc(2025, 7, 1, 0, 0, 0), &s);
    assert_int_equal(s.from_s, utc(2025, 3, 30, 1, 0, 0));
    assert_int_equal(s.to_s, utc(2025, 10, 26, 1, 0, 0));
    assert_int_equal(s.offset_s, 7200);
    assert_int_equal(s.prev_offset_s, 3600);
    tzSegmentAt(tz, INT64_MAX, &s);
    assert_int_equal(s.to_s, INT64_MAX);
    tzSegmentAt(zone("UTC"), 0, &s);
    assert_int_equal(s.from_s, INT64_MIN);
    assert_int_equal(s.to_s, INT64_MAX);
    assert_int_equal(s.prev_offset_s, 0);
}

/*
 * Every instant's wall-clock reading resolves back to it, and every wall-clock time resolves to
 * instants that read it: over 2024-2026 in 10-minute steps, for each zone.
 */
static void test_round_trip(void **state)
{
    (void)state;
    static const char *const ids[] = {
        "UTC",           "Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
        "Asia/Kathmandu"};
    int64_t from = utc(2024, 1, 1, 0, 0, 0);
    int64_t to = utc(2027, 1, 1, 0, 0, 0);
    for (size_t z = 0; z < sizeof ids / sizeof ids[0]; z++) {
        const struct rc_tz *tz = zone(ids[z]);
        int gaps = 0, repeats = 0;
        for (int64_t u = from; u < to; u += 600) {
            struct rc_civil c;
            int off;
            tzToCivil(tz, u, &c, &off);
            int64_t out[2];
            int n = tzFromCivil(tz, &c, out);
            assert_true(n == 1 || n == 2);
            assert_true(out[0] == u || (n == 2 && out[1] == u));
            repeats += n == 2;
            /* The same wall-clock reading taken as a civil time of its own. */
            struct rc_civil w;
            civilFromSeconds(u, &w);
            n = tzFromCivil(tz, &w, out);
            for (int i = 0; i < n; i++) {
                struct rc_civil back;
                tzToCivil(tz, out[i], &back, NULL);
                assert_int_equal(civilCompare(&back, &w), 0);
            }
            if (n == 0) {
                gaps++;
                assert_true(tzOffsetAt(tz, out[0]) > tzOffsetAt(tz, out[0] - 1));
            }
        }
        bool has_dst = z == 2 || z == 3 || z == 4;
        assert_int_equal(gaps > 0, has_dst);
        assert_int_equal(repeats > 0, has_dst);
    }
}

static void *getMany(void *arg)
{
    static const char *const ids[] = {"Europe/Paris", "America/Chicago",  "Asia/Kolkata",
                                      "Africa/Cairo", "Pacific/Auckland", "Europe/Paris"};
    const struct rc_tz **out = arg;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (tzGet(ids[i], &out[i], NULL, 0) != 0) {
            out[i] = NULL;
        }
    }
    return NULL;
}

/* Concurrent first loads of the same zones end with one shared zone per id. */
static void test_threads(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t th[N];
    const struct rc_tz *got[N][6];
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, getMany, got[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 6; k++) {
            assert_non_null(got[i][k]);
            assert_ptr_equal(got[i][k], got[0][k]);
        }
        assert_ptr_equal(got[i][0], got[i][5]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_tokyo_no_dst),
        cmocka_unit_test(test_berlin),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_lord_howe),
        cmocka_unit_test(test_unknown_zone),
        cmocka_unit_test(test_cache_and_aliases),
        cmocka_unit_test(test_offset_neutral_changes_dropped),
        cmocka_unit_test(test_table_edges),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
