#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/civil.h"
#include "core/err.h"

static void test_days_roundtrip(void **state)
{
    (void)state;
    for (int64_t d = -800000; d <= 800000; d += 7) {
        int y, m, day;
        civilDateFromDays(d, &y, &m, &day);
        assert_int_equal(civilDaysFromDate(y, m, day), d);
    }
    assert_int_equal(civilDaysFromDate(1970, 1, 1), 0);
    assert_int_equal(civilDaysFromDate(2000, 3, 1), 11017);
}

static void test_leap_and_month_lengths(void **state)
{
    (void)state;
    assert_true(civilIsLeap(2000));
    assert_false(civilIsLeap(1900));
    assert_true(civilIsLeap(2024));
    assert_false(civilIsLeap(2023));
    assert_int_equal(civilDaysInMonth(2024, 2), 29);
    assert_int_equal(civilDaysInMonth(2100, 2), 28);
    assert_int_equal(civilDaysInMonth(2023, 4), 30);
    assert_int_equal(civilDaysInMonth(2023, 12), 31);
}

static void test_weekday(void **state)
{
    (void)state;
    assert_int_equal(civilWeekday(1970, 1, 1), 4);   /* Thursday */
    assert_int_equal(civilWeekday(2026, 11, 23), 1); /* Monday */
    assert_int_equal(civilWeekday(1969, 12, 28), 0); /* Sunday, before the epoch */
}

static void test_seconds_roundtrip(void **state)
{
    (void)state;
    struct rc_civil c = {2024, 2, 29, 23, 59, 59};
    int64_t s = civilToSeconds(&c);
    assert_int_equal(s, 1709251199);
    struct rc_civil back;
    civilFromSeconds(s, &back);
    assert_int_equal(civilCompare(&c, &back), 0);
    civilFromSeconds(-1, &back);
    assert_int_equal(back.year, 1969);
    assert_int_equal(back.second, 59);
    assert_true(civilValid(&c));
    c.day = 30;
    assert_false(civilValid(&c));
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(rc_strerror(RC_EPARSE), "malformed input");
    assert_string_equal(rc_errname(RC_ENEVER), "RC_ENEVER");
    assert_string_equal(rc_strerror(0), "success");
    assert_string_equal(rc_strerror(-42), "unknown error");
    char buf[32];
    assert_int_equal(errSet(buf, sizeof buf, RC_ERANGE, "x=%d", 7), RC_ERANGE);
    assert_string_equal(buf, "x=7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_roundtrip), cmocka_unit_test(test_leap_and_month_lengths),
        cmocka_unit_test(test_weekday),        cmocka_unit_test(test_seconds_roundtrip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
