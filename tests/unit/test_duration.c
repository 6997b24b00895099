#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/duration.h"
#include "core/err.h"

static void test_format(void **state)
{
    (void)state;
    static const struct {
        int64_t us;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {1, "1us"},
        {1000, "1ms"},
        {1500000, "1s500ms"},
        {INT64_C(5400000000), "1h30m"},
        {INT64_C(86400000000), "1d"},
        {INT64_C(93784005006), "1d2h3m4s5ms6us"},
        {INT64_C(3650) * 86400000000, "3650d"},
        {-90000000, "-1m30s"},
        {INT64_MAX, "106751991d4h54s775ms807us"},
        {INT64_MIN, "-106751991d4h54s775ms808us"},
    };
    char buf[RC_DURATION_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        durationFormat(cases[i].us, buf);
        assert_string_equal(buf, cases[i].text);
        assert_true(strlen(buf) < RC_DURATION_MAX);
    }
}

/* What is printed parses back to the same value (the CLI's output is valid input). */
static void test_round_trip(void **state)
{
    (void)state;
    char buf[RC_DURATION_MAX];
    char err[RC_ERRMSG_SIZE];
    uint64_t x = 1;
    for (int i = 0; i < 20000; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        int64_t us = (int64_t)(x >> (1 + i % 63));
        if (us <= 0) {
            continue;
        }
        durationFormat(us, buf);
        int64_t back = 0;
        if (durationParse(buf, &back, err, sizeof err) != 0) {
            fail_msg("%lld as \"%s\": %s", (long long)us, buf, err);
        }
        assert_int_equal(back, us);
    }
}

static void test_parse(void **state)
{
    (void)state;
    int64_t us = 7;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(durationParse("1.5h", &us, err, sizeof err), 0);
    assert_int_equal(us, INT64_C(5400000000));
    assert_int_equal(durationParse("90", &us, err, sizeof err), 0); /* bare: seconds */
    assert_int_equal(us, 90000000);
    us = 7;
    assert_int_equal(durationParse("1h30", &us, err, sizeof err), RC_EPARSE);
    assert_string_equal(err, "invalid duration \"1h30\": missing unit after \"30\"");
    assert_int_equal(us, 7); /* unchanged on error */
    assert_int_equal(durationParse("", &us, err, sizeof err), RC_EPARSE);
    assert_string_equal(err, "empty duration");
    assert_int_equal(durationParse("106751991d4h54s775ms808us", &us, err, sizeof err), RC_EPARSE);
    assert_string_equal(err, "invalid duration \"106751991d4h54s775ms808us\": too large");
    /* Bytes that are not printable are quoted as '?'. */
    assert_int_equal(durationParse("1\x01s", &us, err, sizeof err), RC_EPARSE);
    assert_string_equal(err, "invalid duration \"1?s\": missing unit after \"1\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
