#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/timefmt.h"

static int64_t parse(const char *s)
{
    int64_t t = 0;
    char err[RC_ERRMSG_SIZE];
    int rv = timefmtParse(s, &t, err, sizeof err);
    if (rv != 0) {
        fail_msg("%s: %s", s, err);
    }
    return t;
}

static void test_parse(void **state)
{
    (void)state;
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2025-03-30T03:00:00+02:00"), INT64_C(1743296400) * 1000000);
    assert_int_equal(parse("2025-03-30t01:00:00z"), INT64_C(1743296400) * 1000000);
    assert_int_equal(parse("2025-03-30 01:00:00.5Z"), INT64_C(1743296400) * 1000000 + 500000);
    assert_int_equal(parse("1969-12-31T19:00:00-05:00"), 0);
    assert_int_equal(parse("2024-02-29T12:00:00.123456789Z") % 1000000, 123456);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "2025-03-30",
                         "2025-02-29T00:00:00Z",
                         "2025-13-01T00:00:00Z",
                         "2025-01-01T24:00:00Z",
                         "2025-01-01T00:00:00",
                         "2025-01-01T00:00:00+5",
                         "2025-01-01T00:00:00Zjunk",
                         "2025-01-01T00:00:00.Z",
                         "20x5-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t;
        char err[RC_ERRMSG_SIZE] = "";
        assert_int_equal(timefmtParse(bad[i], &t, err, sizeof err), RC_EPARSE);
        assert_non_null(strstr(err, "timestamp"));
    }
    int64_t t;
    char err[RC_ERRMSG_SIZE];
    timefmtParse("2025-01-01T00:00:00", &t, err, sizeof err);
    assert_string_equal(err, "timestamp \"2025-01-01T00:00:00\": expected RFC 3339 like "
                             "2026-01-31T09:00:00Z");
    timefmtParse("2025-01-01T00:00:00+5:00", &t, err, sizeof err);
    assert_string_equal(err, "timestamp \"2025-01-01T00:00:00+5:00\": expected an offset ±HH:MM "
                             "at position 20");
}

static void test_format(void **state)
{
    (void)state;
    char buf[RC_TIMEFMT_MAX];
    timefmtFormat(0, 0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    timefmtFormat(INT64_C(1743296400) * 1000000, 7200, buf);
    assert_string_equal(buf, "2025-03-30T03:00:00+02:00");
    timefmtFormat(-1, -19800, buf);
    assert_string_equal(buf, "1969-12-31T18:29:59.999999-05:30");
    timefmtFormat(INT64_C(1743296400) * 1000000, 37800, buf);
    assert_string_equal(buf, "2025-03-30T11:30:00+10:30");
    int64_t back = 0;
    assert_int_equal(timefmtParse(buf, &back, NULL, 0), 0);
    assert_int_equal(back, INT64_C(1743296400) * 1000000);
    /* Offsets that are not whole minutes (Africa/Monrovia until 1972: -00:44:30) cannot be
     * written in RFC 3339: the instant is printed in UTC, never with a truncated offset. */
    timefmtFormat((INT64_C(-315576000) + 44 * 60 + 30) * 1000000, -2670, buf);
    assert_string_equal(buf, "1960-01-01T12:44:30Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
