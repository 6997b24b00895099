#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/civil.h"
#include "core/cron.h"
#include "core/err.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */

static struct rc_cron parseOk(const char *expr)
{
    struct rc_cron c;
    char err[RC_ERRMSG_SIZE] = "";
    int rc = cronParse(expr, &c, err, sizeof err);
    if (rc != 0) {
        fail_msg("cronParse(\"%s\") failed: %s", expr, err);
    }
    return c;
}

static void expectError(const char *expr, const char *message)
{
    struct rc_cron c;
    char err[RC_ERRMSG_SIZE] = "";
    int rc = cronParse(expr, &c, err, sizeof err);
    if (rc != RC_EPARSE) {
        fail_msg("cronParse(\"%s\") returned %d, expected RC_EPARSE", expr, rc);
    }
    if (message != NULL && strcmp(err, message) != 0) {
        fail_msg("cronParse(\"%s\"): message\n  \"%s\"\nexpected\n  \"%s\"", expr, err, message);
    }
    assert_true(err[0] != '\0');
}

static struct rc_civil at(int y, int mo, int d, int h, int mi, int s)
{
    struct rc_civil t = {y, mo, d, h, mi, s};
    return t;
}

static void assertCivil(const struct rc_civil *got, const struct rc_civil *want)
{
    if (civilCompare(got, want) != 0 || got->day != want->day) {
        fail_msg("got %04d-%02d-%02d %02d:%02d:%02d, expected %04d-%02d-%02d %02d:%02d:%02d",
                 got->year, got->month, got->day, got->hour, got->minute, got->second, want->year,
                 want->month, want->day, want->hour, want->minute, want->second);
    }
}

static void expectNext(const char *expr, struct rc_civil after, struct rc_civil want)
{
    struct rc_cron c = parseOk(expr);
    struct rc_civil got;
    assert_int_equal(cronNextCivil(&c, &after, after.year + 400, &got), 0);
    assertCivil(&got, &want);
    assert_true(cronMatches(&c, &got));
}

static void expectPrev(const char *expr, struct rc_civil before, struct rc_civil want)
{
    struct rc_cron c = parseOk(expr);
    struct rc_civil got;
    assert_int_equal(cronPrevCivil(&c, &before, before.year - 400, &got), 0);
    assertCivil(&got, &want);
    assert_true(cronMatches(&c, &got));
}

/* The successive next() results from after, n of them, as a chain. */
static void expectNextChain(const char *expr, struct rc_civil after, const struct rc_civil *want,
                            int n)
{
    struct rc_cron c = parseOk(expr);
    for (int i = 0; i < n; i++) {
        struct rc_civil got;
        assert_int_equal(cronNextCivil(&c, &after, after.year + 10, &got), 0);
        assertCivil(&got, &want[i]);
        after = got;
    }
}

static void expectExplain(const char *expr, const char *want)
{
    struct rc_cron c = parseOk(expr);
    char buf[512];
    size_t n = cronExplain(&c, buf, sizeof buf);
    if (strcmp(buf, want) != 0) {
        fail_msg("cronExplain(\"%s\") = \"%s\", expected \"%s\"", expr, buf, want);
    }
    assert_int_equal(n, strlen(want));
}

/*
 * An independent, deliberately naive reading of the day rules (cron(5): OR when both day fields
 * are restricted, AND when either starts with '*' or '?'; and the Quartz specials), evaluated
 * per date: the engine's month masks are checked against it.
 */
static int refNearestWeekday(int y, int m, int n)
{
    int dim = civilDaysInMonth(y, m);
    int wd = civilWeekday(y, m, n);
    if (wd == 6) {
        return n == 1 ? 3 : n - 1;
    }
    if (wd == 0) {
        return n == dim ? n - 2 : n + 1;
    }
    return n;
}

static bool refDay(const struct rc_cron *c, int y, int m, int d)
{
    int dim = civilDaysInMonth(y, m);
    if (!((c->months >> m) & 1) || d > dim) {
        return false;
    }
    int wd = civilWeekday(y, m, d);
    bool dom = (c->dom >> d) & 1;
    for (int n = 0; n <= 30; n++) {
        dom = dom || (((c->dom_last_offsets >> n) & 1) && d == dim - n);
    }
    for (int n = 1; n <= dim; n++) {
        dom = dom || (((c->dom_nearest_wd >> n) & 1) && d == refNearestWeekday(y, m, n));
    }
    if (c->dom_last_wd) {
        int last = dim;
        while (civilWeekday(y, m, last) == 0 || civilWeekday(y, m, last) == 6) {
            last--;
        }
        dom = dom || d == last;
    }
    bool dow = (c->dow >> wd) & 1;
    dow = dow || (((c->dow_last >> wd) & 1) && d + 7 > dim);
    for (int k = 1; k <= 5; k++) {
        dow = dow || (((c->dow_nth[k] >> wd) & 1) && (d - 1) / 7 + 1 == k);
    }
    if (c->dom_star || c->dow_star) {
        return dom && dow;
    }
    return dom || dow;
}

static uint64_t lcg(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 33;
}

/* Expressions exercising every feature, used by the property tests. */
static const char *const property_exprs[] = {
    "* * * * *",           "*/5 * * * *",      "0 9 * * mon-fri",
    "0 0 1 * *",           "30 2 L * *",       "0 0 29 2 *",
    "0 0 29 2 1",          "15 10 L-3 * *",    "0 12 15W * *",
    "0 12 1W * *",         "0 12 31W * *",     "0 18 LW * *",
    "0 8 * * 5L",          "0 8 * * 1#1,3#3",  "0 8 * * 1#5",
    "0 0 13 * 5",          "0 0 31 * *",       "5,35 */7 10-20/3 jan,jun-aug ?",
    "*/13 5-9,17 * * 0,6", "0 0 * * 7",        "*/20 */6 1,L * 2L",
    "7 3 */10 */2 sun#2",  "*/15 30 9 * * *",  "0,30 * * * * *",
    "10-20/5 0 0 1 1 *",   "59 59 23 31 12 *", "* * * 2 *",
    "0 0 L-30 * *",        "0 0 1-7 * 1",      "0 0 ? * 6#5",
};
#define PROPERTY_COUNT (sizeof property_exprs / sizeof property_exprs[0])

static struct rc_civil randomCivil(uint64_t *state, int year_lo, int year_span)
{
    struct rc_civil t;
    t.year = year_lo + (int)(lcg(state) % (uint64_t)year_span);
    t.month = 1 + (int)(lcg(state) % 12);
    t.day = 1 + (int)(lcg(state) % (uint64_t)civilDaysInMonth(t.year, t.month));
    t.hour = (int)(lcg(state) % 24);
    t.minute = (int)(lcg(state) % 60);
    t.second = (int)(lcg(state) % 60);
    return t;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing: syntax
 */

static void test_parse_basic_fields(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("5 4 3 2 1");
    assert_false(c.has_seconds);
    assert_int_equal(c.seconds, 1);
    assert_int_equal(c.minutes, UINT64_C(1) << 5);
    assert_int_equal(c.hours, 1u << 4);
    assert_int_equal(c.dom, 1u << 3);
    assert_int_equal(c.months, 1u << 2);
    assert_int_equal(c.dow, 1u << 1);
    assert_false(c.dom_any);
    assert_false(c.dow_any);
    assert_int_equal(c.every_us, 0);
    assert_string_equal(c.tz, "");

    c = parseOk("* * * * *");
    assert_int_equal(c.minutes, (UINT64_C(1) << 60) - 1);
    assert_int_equal(c.hours, 0xffffffu);
    assert_int_equal(c.dom, 0xfffffffeu);
    assert_int_equal(c.months, 0x1ffeu);
    assert_int_equal(c.dow, 0x7fu);
    assert_true(c.dom_any);
    assert_true(c.dow_any);
}

static void test_parse_six_fields(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("*/20 0 12 * * *");
    assert_true(c.has_seconds);
    assert_int_equal(c.seconds, (UINT64_C(1) << 0) | (UINT64_C(1) << 20) | (UINT64_C(1) << 40));
    assert_int_equal(c.minutes, 1);
    assert_int_equal(c.hours, 1u << 12);
    expectError("60 * * * * *", "field 1 (second): 60 is out of range 0-59");
    expectError("0 60 * * * *", "field 2 (minute): 60 is out of range 0-59");
}

static void test_parse_ranges_steps_lists(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("*/15 10-20/5 5/10 1-3,6 *");
    assert_int_equal(c.minutes, (UINT64_C(1) << 0) | (UINT64_C(1) << 15) | (UINT64_C(1) << 30) |
                                    (UINT64_C(1) << 45));
    assert_int_equal(c.hours, (1u << 10) | (1u << 15) | (1u << 20));
    assert_int_equal(c.dom, (1u << 5) | (1u << 15) | (1u << 25));
    assert_int_equal(c.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 6));
    c = parseOk("1,2,3-5,59 0-23/23 * * *");
    assert_int_equal(c.minutes, UINT64_C(0x3e) | (UINT64_C(1) << 59));
    assert_int_equal(c.hours, 1u | (1u << 23));
    /* "*\/1" is still the wildcard for the day rule. */
    c = parseOk("0 0 */1 * */1");
    assert_true(c.dom_any);
    assert_true(c.dow_any);
    c = parseOk("0 0 1-31 * 0-6");
    assert_false(c.dom_any);
    assert_false(c.dow_any);
}

static void test_parse_names_and_case(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 * JAN-mar,Dec Mon-FRI");
    assert_int_equal(c.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
    assert_int_equal(c.dow, 0x3eu);
    c = parseOk("0 0 * * sun,SAT");
    assert_int_equal(c.dow, (1u << 0) | (1u << 6));
    /* Sunday may close a range. */
    c = parseOk("0 0 * * fri-sun");
    assert_int_equal(c.dow, (1u << 5) | (1u << 6) | (1u << 0));
    c = parseOk("0 0 * jul/2 *");
    assert_int_equal(c.months, (1u << 7) | (1u << 9) | (1u << 11));
    expectError("0 0 * * fru", "field 5 (day of week): unknown name \"fru\"");
    expectError("0 0 * janu *", "field 4 (month): unknown name \"janu\"");
    expectError("0 0 * mon *", "field 4 (month): unknown name \"mon\"");
    expectError("0 0 jan * *", "field 3 (day of month): \"jan\" is not a number");
    expectError("abc * * * *", "field 1 (minute): \"abc\" is not a number");
}

static void test_parse_sunday_is_zero_and_seven(void **state)
{
    (void)state;
    assert_int_equal(parseOk("0 0 * * 7").dow, 1u);
    assert_int_equal(parseOk("0 0 * * 0").dow, 1u);
    assert_int_equal(parseOk("0 0 * * 5-7").dow, (1u << 5) | (1u << 6) | 1u);
    assert_int_equal(parseOk("0 0 * * 0-7").dow, 0x7fu);
    assert_int_equal(parseOk("0 0 * * 7L").dow_last, 1u);
    assert_int_equal(parseOk("0 0 * * 7#2").dow_nth[2], 1u);
    /* "a/n" runs to Saturday: "1/2" is Monday, Wednesday, Friday, not also "7" = Sunday. */
    assert_int_equal(parseOk("0 0 * * 1/2").dow, (1u << 1) | (1u << 3) | (1u << 5));
    assert_int_equal(parseOk("0 0 * * */3").dow, 1u | (1u << 3) | (1u << 6));
    /* 2024-06-02 was a Sunday. */
    struct rc_cron c = parseOk("0 0 * * 7");
    assert_true(cronMatchesDay(&c, 2024, 6, 2));
    assert_false(cronMatchesDay(&c, 2024, 6, 3));
    expectError("0 0 * * 8", "field 5 (day of week): 8 is out of range 0-7");
}

static void test_parse_question_mark(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 ? * 1");
    assert_true(c.dom_any);
    assert_false(c.dow_any);
    c = parseOk("0 0 1 * ?");
    assert_false(c.dom_any);
    assert_true(c.dow_any);
    assert_int_equal(c.dow, 0x7fu);
    expectError("? * * * *",
                "field 1 (minute): '?' is only allowed in the day-of-month and day-of-week fields");
    expectError("0 0 1,? * *", "field 3 (day of month): '?' must be the whole field, not part of "
                               "\"1,?\"");
}

static void test_parse_whitespace(void **state)
{
    (void)state;
    struct rc_cron a = parseOk("  \t0\t\t9   *  * \t mon-fri \t ");
    struct rc_cron b = parseOk("0 9 * * mon-fri");
    assert_memory_equal(&a, &b, sizeof a);
    parseOk("0 9 * * *\n");
    expectError("   ", "empty expression");
    expectError("", "empty expression");
    expectError("\t", "empty expression");
}

static void test_parse_dom_specials(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 L * *");
    assert_int_equal(c.dom_last_offsets, 1u);
    assert_int_equal(c.dom, 0u);
    assert_false(c.dom_any);
    c = parseOk("0 0 L-3,l-0,L-30 * *");
    assert_int_equal(c.dom_last_offsets, (1u << 3) | 1u | (1u << 30));
    c = parseOk("0 0 15W,1w,31W * *");
    assert_int_equal(c.dom_nearest_wd, (1u << 15) | (1u << 1) | (1u << 31));
    c = parseOk("0 0 LW * *");
    assert_true(c.dom_last_wd);
    c = parseOk("0 0 lw,1,L * *");
    assert_true(c.dom_last_wd);
    assert_int_equal(c.dom, 1u << 1);
    assert_int_equal(c.dom_last_offsets, 1u);
    expectError("0 0 L-31 * *", "field 3 (day of month): offset in \"L-31\" is out of range 0-30");
    expectError("0 0 32W * *", "field 3 (day of month): day in \"32W\" is out of range 1-31");
    expectError("0 0 0W * *", "field 3 (day of month): day in \"0W\" is out of range 1-31");
    expectError("0 0 L-x * *", "field 3 (day of month): offset in \"L-x\" is not a number");
    expectError("0 0 1-5W * *", "field 3 (day of month): invalid use of L or W in \"1-5W\" (use "
                                "L, L-n, nW or LW)");
    expectError("0 0 W * *", NULL);
    expectError("0 0 L/2 * *", NULL);
    expectError("0 0 L- * *", NULL);
    expectError("0 0 * * 5W", NULL);
    expectError("0 L * * *", NULL);
}

static void test_parse_dow_specials(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 * * 5L");
    assert_int_equal(c.dow_last, 1u << 5);
    assert_int_equal(c.dow, 0u);
    assert_false(c.dow_any);
    c = parseOk("0 0 * * friL,0l");
    assert_int_equal(c.dow_last, (1u << 5) | 1u);
    c = parseOk("0 0 * * fri#2,1#1,MON#5");
    assert_int_equal(c.dow_nth[2], 1u << 5);
    assert_int_equal(c.dow_nth[1], 1u << 1);
    assert_int_equal(c.dow_nth[5], 1u << 1);
    assert_int_equal(c.dow_nth[0], 0u);
    expectError("0 0 * * 1#6", "field 5 (day of week): occurrence in \"1#6\" is out of range 1-5");
    expectError("0 0 * * 1#0", "field 5 (day of week): occurrence in \"1#0\" is out of range 1-5");
    expectError("0 0 * * 1#", "field 5 (day of week): occurrence in \"1#\" is not a number");
    expectError("0 0 * * L",
                "field 5 (day of week): \"L\" needs a weekday, e.g. 5L for the last Friday");
    expectError("0 0 * * 8L", "field 5 (day of week): 8 is out of range 0-7");
    expectError("0 0 * * #2", "field 5 (day of week): missing value in \"#2\"");
    expectError("0 0 * * fru#2", "field 5 (day of week): unknown name \"fru\"");
    expectError("0 0 * * 1-5L", NULL);
}

static void test_parse_macros(void **state)
{
    (void)state;
    struct {
        const char *macro;
        const char *expr;
    } cases[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {"@DAILY", "0 0 * * *"},    {"  @Hourly  ", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rc_cron a = parseOk(cases[i].macro);
        struct rc_cron b = parseOk(cases[i].expr);
        assert_memory_equal(&a, &b, sizeof a);
    }
    struct rc_cron c = parseOk("@every 1h30m");
    assert_int_equal(c.every_us, INT64_C(5400) * RC_USEC_PER_SEC);
    c = parseOk("@EVERY 500ms");
    assert_int_equal(c.every_us, 500000);
    expectError("@fortnightly", "unknown macro \"@fortnightly\"");
    expectError("@", "unknown macro \"@\"");
    expectError("@daily 5", "@daily: unexpected \"5\" after the macro");
    expectError("@every", "@every: missing duration");
    expectError("@every   ", "@every: missing duration");
    expectError("@every 1h 5m", "@every: unexpected \"5m\" after the duration");
    expectError("@every 1x", "@every: invalid duration \"1x\": unknown unit \"x\" (use us, ms, s, "
                             "m, h, d)");
    expectError("@every 0s", "@every: invalid duration \"0s\": must be positive");
    expectError("@every -5m", "@every: invalid duration \"-5m\": negative durations are not "
                              "allowed");
}

static void test_parse_time_zone_prefix(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("CRON_TZ=Europe/Berlin 0 9 * * 1-5");
    assert_string_equal(c.tz, "Europe/Berlin");
    assert_int_equal(c.hours, 1u << 9);
    c = parseOk("  TZ=America/New_York\t@daily");
    assert_string_equal(c.tz, "America/New_York");
    assert_int_equal(c.hours, 1u);
    c = parseOk("CRON_TZ=UTC @every 5m");
    assert_string_equal(c.tz, "UTC");
    assert_int_equal(c.every_us, 300 * RC_USEC_PER_SEC);
    char zone[RC_CRON_TZ_MAX + 32];
    memset(zone, 'x', RC_CRON_TZ_MAX - 1);
    zone[RC_CRON_TZ_MAX - 1] = '\0';
    char expr[RC_CRON_TZ_MAX + 64];
    snprintf(expr, sizeof expr, "TZ=%s * * * * *", zone);
    c = parseOk(expr);
    assert_int_equal(strlen(c.tz), RC_CRON_TZ_MAX - 1);
    snprintf(expr, sizeof expr, "TZ=%sy * * * * *", zone);
    expectError(expr, NULL);
    expectError("CRON_TZ= 0 0 * * *", "CRON_TZ: missing zone name");
    expectError("TZ=UTC", "empty expression after the time zone");
    expectError("TZ=UTC   ", "empty expression after the time zone");
    expectError("tz=UTC 0 0 * * *", "field 1 (second): \"tz=UTC\" is not a number");
}

/* ---------------------------------------------------------------------------------------------
 * Parsing: errors
 */

static void test_parse_error_messages(void **state)
{
    (void)state;
    expectError("0 0 32 * *", "field 3 (day of month): 32 is out of range 1-31");
    expectError("0 0 0 * *", "field 3 (day of month): 0 is out of range 1-31");
    expectError("0 24 * * *", "field 2 (hour): 24 is out of range 0-23");
    expectError("0 0 * 13 *", "field 4 (month): 13 is out of range 1-12");
    expectError("0 0 * 0 *", "field 4 (month): 0 is out of range 1-12");
    expectError("* * * *", "expected 5 or 6 fields, got 4");
    expectError("* * * * * * *", "expected 5 or 6 fields, got 7");
    expectError("*", "expected 5 or 6 fields, got 1");
    expectError("*/0 * * * *", "field 1 (minute): step 0 must be at least 1");
    expectError("*/61 * * * *", "field 1 (minute): step 61 is out of range 1-60");
    expectError("0 */25 * * *", "field 2 (hour): step 25 is out of range 1-24");
    expectError("0 5-3 * * *",
                "field 2 (hour): range 5-3 is reversed (ranges do not wrap: write 5-23,0-3)");
    expectError("0 0 * * fri-mon",
                "field 5 (day of week): range fri-mon is reversed (ranges do not wrap: write "
                "5-6,0-1)");
    expectError("0 0 * dec-jan *",
                "field 4 (month): range dec-jan is reversed (ranges do not wrap: write 12,1)");
    expectError("1,,2 * * * *", "field 1 (minute): empty list element in \"1,,2\"");
    expectError(",1 * * * *", "field 1 (minute): empty list element in \",1\"");
    expectError("1, * * * *", "field 1 (minute): empty list element in \"1,\"");
    expectError("1- * * * *", "field 1 (minute): missing value in \"1-\"");
    expectError("-1 * * * *", "field 1 (minute): missing value in \"-1\"");
    expectError("1/ * * * *", "field 1 (minute): missing step in \"1/\"");
    expectError("*/x * * * *", "field 1 (minute): invalid step \"x\"");
    expectError("1x * * * *", "field 1 (minute): invalid number \"1x\"");
    expectError("*-5 * * * *", NULL);
    expectError("1-2-3 * * * *", NULL);
    expectError("1/2/3 * * * *", NULL);
    expectError("99999999999999999999 * * * *",
                "field 1 (minute): 99999999999999999999 is out of range 0-59");
    expectError("0 0 * * 1 extra", "field 6 (day of week): unknown name \"extra\"");
}

static void test_parse_error_quotes_are_bounded(void **state)
{
    (void)state;
    char expr[600];
    memset(expr, '9', 500);
    memcpy(expr + 500, " * * * *", 9);
    struct rc_cron c;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(cronParse(expr, &c, err, sizeof err), RC_EPARSE);
    assert_true(strlen(err) < 120);
    assert_non_null(strstr(err, "..."));
    /* Control bytes are not copied into the message. */
    assert_int_equal(cronParse("\x01\x02 * * * *", &c, err, sizeof err), RC_EPARSE);
    for (const char *p = err; *p != '\0'; p++) {
        assert_true((unsigned char)*p >= 0x20);
    }
    /* A short or absent message buffer is fine. */
    char tiny[8];
    assert_int_equal(cronParse("0 0 32 * *", &c, tiny, sizeof tiny), RC_EPARSE);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_int_equal(cronParse("0 0 32 * *", &c, NULL, 0), RC_EPARSE);
    assert_int_equal(cronParse(NULL, &c, err, sizeof err), RC_EPARSE);
}

static void test_parse_error_leaves_output_alone(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 9 * * *");
    struct rc_cron copy = c;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(cronParse("0 9 * * fru", &c, err, sizeof err), RC_EPARSE);
    assert_memory_equal(&c, &copy, sizeof c);
}

static void test_parse_rejects_impossible_days(void **state)
{
    (void)state;
    expectError("* * 31 2 *", "field 3 (day of month): \"31\" never occurs in February");
    expectError("0 0 30 2 *", "field 3 (day of month): \"30\" never occurs in February");
    expectError("0 0 30,31 2 ?", "field 3 (day of month): \"30,31\" never occurs in February");
    expectError("0 0 31 4,6,9,11 *", "field 3 (day of month): \"31\" never occurs in April, June, "
                                     "September and November");
    expectError("0 0 0 31 feb *", "field 4 (day of month): \"31\" never occurs in February");
    expectError("0 0 31W 4,6,9,11 *", "field 3 (day of month): \"31W\" never occurs in April, "
                                      "June, September and November");
    expectError("0 0 L-29 2 *", "field 3 (day of month): \"L-29\" never occurs in February");
    expectError("0 0 30W feb *", "field 3 (day of month): \"30W\" never occurs in February");
    /* Possible somewhere: Feb 29, a 31st in some selected month, L-28 of a leap February. */
    parseOk("0 0 29 2 *");
    parseOk("0 0 31 2,3 *");
    parseOk("0 0 L-28 2 *");
    parseOk("0 0 31W 4,5 *");
    parseOk("0 0 LW 2 *");
    /* With day of week restricted the day can still match through it (OR). */
    parseOk("0 0 31 2 1");
    parseOk("0 0 30 2 fri#1");
}

/* ---------------------------------------------------------------------------------------------
 * Durations
 */

static void test_duration_valid(void **state)
{
    (void)state;
    struct {
        const char *text;
        int64_t us;
    } cases[] = {
        {"1h30m", INT64_C(5400000000)},
        {"500ms", 500000},
        {"90s", 90000000},
        {"2d", INT64_C(172800000000)},
        {"1.5h", INT64_C(5400000000)},
        {"90", 90000000},
        {"1.5", 1500000},
        {"250us", 250},
        {"1d2h3m4s5ms6us", INT64_C(93784005006)},
        {"0.000001s", 1},
        {"0.5ms", 500},
        {".5s", 500000},
        {"1.s", 1000000},
        {"30m1h", INT64_C(5400000000)},
        {"0s1s", 1000000},
        {"1.000000000000000000s", 1000000},
        {"106751991d", INT64_C(106751991) * 86400 * 1000000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t us = -1;
        char err[RC_ERRMSG_SIZE] = "";
        if (durationParse(cases[i].text, &us, err, sizeof err) != 0) {
            fail_msg("durationParse(\"%s\"): %s", cases[i].text, err);
        }
        if (us != cases[i].us) {
            fail_msg("durationParse(\"%s\") = %lld, expected %lld", cases[i].text, (long long)us,
                     (long long)cases[i].us);
        }
    }
}

static void test_duration_invalid(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *message; /* NULL: any */
    } cases[] = {
        {"", "empty duration"},
        {"-1s", "invalid duration \"-1s\": negative durations are not allowed"},
        {"0", "invalid duration \"0\": must be positive"},
        {"0h0m", "invalid duration \"0h0m\": must be positive"},
        {"1x", "invalid duration \"1x\": unknown unit \"x\" (use us, ms, s, m, h, d)"},
        {"1H", NULL},
        {"h", "invalid duration \"h\": expected a number at \"h\""},
        {"1h30", "invalid duration \"1h30\": missing unit after \"30\""},
        {"1 h", NULL},
        {" 1h", NULL},
        {"1h ", NULL},
        {"+1h", NULL},
        {".s", NULL},
        {"1.2.3s", NULL},
        {"0.0000001s", "invalid duration \"0.0000001s\": \"0.0000001s\" is not a whole number of "
                       "microseconds"},
        {"0.5us", NULL},
        {"106751992d", "invalid duration \"106751992d\": too large"},
        {"9223372036854775807s", "invalid duration \"9223372036854775807s\": too large"},
        {"99999999999999999999", "invalid duration \"99999999999999999999\": too large"},
        {"106751991d1d", "invalid duration \"106751991d1d\": too large"},
        {"1.0000000000000000001s",
         "invalid duration \"1.0000000000000000001s\": too many decimal places"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t us = 42;
        char err[RC_ERRMSG_SIZE] = "";
        int rc = durationParse(cases[i].text, &us, err, sizeof err);
        if (rc != RC_EPARSE) {
            fail_msg("durationParse(\"%s\") = %d (%lld), expected RC_EPARSE", cases[i].text, rc,
                     (long long)us);
        }
        assert_int_equal(us, 42);
        if (cases[i].message != NULL && strcmp(err, cases[i].message) != 0) {
            fail_msg("durationParse(\"%s\"): \"%s\", expected \"%s\"", cases[i].text, err,
                     cases[i].message);
        }
    }
    int64_t us;
    assert_int_equal(durationParse(NULL, &us, NULL, 0), RC_EPARSE);
}

/* ---------------------------------------------------------------------------------------------
 * Matching
 */

static void test_match_or_semantics(void **state)
{
    (void)state;
    /* 2025-06-13 is a Friday; 2025-06-06 a Friday; 2025-07-13 a Sunday. */
    struct rc_cron both = parseOk("0 0 13 * 5");
    assert_true(cronMatchesDay(&both, 2025, 6, 13));
    assert_true(cronMatchesDay(&both, 2025, 6, 6));
    assert_true(cronMatchesDay(&both, 2025, 7, 13));
    assert_false(cronMatchesDay(&both, 2025, 7, 14));
    struct rc_cron dom = parseOk("0 0 13 * *");
    assert_false(cronMatchesDay(&dom, 2025, 6, 6));
    assert_true(cronMatchesDay(&dom, 2025, 7, 13));
    struct rc_cron dom_q = parseOk("0 0 13 * ?");
    assert_false(cronMatchesDay(&dom_q, 2025, 6, 6));
    struct rc_cron dow = parseOk("0 0 * * 5");
    assert_true(cronMatchesDay(&dow, 2025, 6, 6));
    assert_false(cronMatchesDay(&dow, 2025, 7, 13));
    struct rc_cron dow_q = parseOk("0 0 ? * 5");
    assert_false(cronMatchesDay(&dow_q, 2025, 7, 13));
    /* Month still applies to both halves of the OR. */
    struct rc_cron feb = parseOk("0 0 29 2 1");
    assert_true(cronMatchesDay(&feb, 2024, 2, 29));
    assert_true(cronMatchesDay(&feb, 2025, 2, 3)); /* a Monday */
    assert_false(cronMatchesDay(&feb, 2025, 3, 3));
    assert_false(cronMatchesDay(&feb, 2025, 2, 4));
    /* cron(5): a day field starting with '*' is unrestricted even with a step, so the other
     * field must match too (AND), as in Vixie cron and cronie. 2026-01-05 is a Monday. */
    struct rc_cron odd_mondays = parseOk("0 0 */2 * mon");
    assert_true(odd_mondays.dom_star && !odd_mondays.dom_any && !odd_mondays.dow_star);
    assert_true(cronMatchesDay(&odd_mondays, 2026, 1, 5));
    assert_false(cronMatchesDay(&odd_mondays, 2026, 1, 12)); /* Monday, even day */
    assert_false(cronMatchesDay(&odd_mondays, 2026, 1, 7));  /* odd day, Wednesday */
    struct rc_cron every_other = parseOk("0 0 1-10 * */2");
    assert_true(cronMatchesDay(&every_other, 2026, 1, 6));   /* Tuesday: 2 is in 0-6/2 */
    assert_false(cronMatchesDay(&every_other, 2026, 1, 5));  /* Monday */
    assert_false(cronMatchesDay(&every_other, 2026, 1, 13)); /* Tuesday, day 13 */
    /* Without a star both fields are restricted: OR. */
    struct rc_cron first_week_or_monday = parseOk("0 0 1-7 * mon");
    assert_true(cronMatchesDay(&first_week_or_monday, 2026, 1, 12));
    assert_true(cronMatchesDay(&first_week_or_monday, 2026, 1, 7));
    assert_false(cronMatchesDay(&first_week_or_monday, 2026, 1, 13));
    /* A stepped star day of week cannot rescue an impossible day of month. */
    expectError("0 0 31 2 */2", "field 3 (day of month): \"31\" never occurs in February");
    char text[256];
    assert_int_equal(cronExplain(&odd_mondays, text, sizeof text) > 0, true);
    assert_non_null(strstr(text, "of the month and on Monday"));
}

static void test_match_fields_and_invalid_input(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("30 15 10 * * *");
    struct rc_civil t = at(2025, 1, 1, 10, 15, 30);
    assert_true(cronMatches(&c, &t));
    t.second = 31;
    assert_false(cronMatches(&c, &t));
    t = at(2025, 1, 1, 10, 16, 30);
    assert_false(cronMatches(&c, &t));
    t = at(2025, 1, 1, 11, 15, 30);
    assert_false(cronMatches(&c, &t));
    c = parseOk("* * * * *");
    t = at(2025, 1, 1, 0, 0, 0);
    assert_true(cronMatches(&c, &t));
    t.second = 1;
    assert_false(cronMatches(&c, &t));
    t = at(2025, 2, 29, 0, 0, 0);
    assert_false(cronMatches(&c, &t));
    t = at(2025, 13, 1, 0, 0, 0);
    assert_false(cronMatches(&c, &t));
    t = at(2025, 1, 1, 24, 0, 0);
    assert_false(cronMatches(&c, &t));
    assert_false(cronMatchesDay(&c, 2025, 0, 1));
    assert_false(cronMatchesDay(&c, 2025, 1, 0));
    assert_false(cronMatchesDay(&c, 2025, 1, 32));
    assert_false(cronMatchesDay(&c, 2025, 4, 31));
    struct rc_cron every = parseOk("@every 1m");
    assert_false(cronMatchesDay(&every, 2025, 1, 1));
}

static void test_match_last_day(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 L * *");
    assert_true(cronMatchesDay(&c, 2025, 1, 31));
    assert_false(cronMatchesDay(&c, 2025, 1, 30));
    assert_true(cronMatchesDay(&c, 2025, 2, 28));
    assert_true(cronMatchesDay(&c, 2024, 2, 29));
    assert_false(cronMatchesDay(&c, 2024, 2, 28));
    assert_true(cronMatchesDay(&c, 2025, 4, 30));
    c = parseOk("0 0 L-3 * *");
    assert_true(cronMatchesDay(&c, 2025, 1, 28));
    assert_true(cronMatchesDay(&c, 2025, 2, 25));
    assert_true(cronMatchesDay(&c, 2024, 2, 26));
    assert_true(cronMatchesDay(&c, 2025, 4, 27));
    assert_false(cronMatchesDay(&c, 2025, 4, 28));
    /* L-30 exists only in 31-day months. */
    c = parseOk("0 0 L-30 * *");
    assert_true(cronMatchesDay(&c, 2025, 1, 1));
    assert_false(cronMatchesDay(&c, 2025, 4, 1));
    assert_false(cronMatchesDay(&c, 2025, 2, 1));
    expectNext("0 0 L-30 * *", at(2025, 1, 1, 0, 0, 0), at(2025, 3, 1, 0, 0, 0));
}

static void test_match_nearest_weekday(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 15W * *");
    /* 2025-03-15 is a Saturday: Friday the 14th. */
    assert_true(cronMatchesDay(&c, 2025, 3, 14));
    assert_false(cronMatchesDay(&c, 2025, 3, 15));
    assert_false(cronMatchesDay(&c, 2025, 3, 17));
    /* 2025-06-15 is a Sunday: Monday the 16th. */
    assert_true(cronMatchesDay(&c, 2025, 6, 16));
    assert_false(cronMatchesDay(&c, 2025, 6, 13));
    /* 2025-01-15 is a Wednesday. */
    assert_true(cronMatchesDay(&c, 2025, 1, 15));
    /* 2025-02-01 is a Saturday: not back into January but forward to Monday the 3rd. */
    c = parseOk("0 0 1W * *");
    assert_true(cronMatchesDay(&c, 2025, 2, 3));
    assert_false(cronMatchesDay(&c, 2025, 2, 1));
    assert_false(cronMatchesDay(&c, 2025, 1, 31));
    expectNext("0 0 1W * *", at(2025, 1, 2, 0, 0, 0), at(2025, 2, 3, 0, 0, 0));
    /* 2025-06-01 is a Sunday: Monday the 2nd. */
    assert_true(cronMatchesDay(&c, 2025, 6, 2));
    /* 2025-11-30 is a Sunday and November's last day: back to Friday the 28th. */
    c = parseOk("0 0 30W * *");
    assert_true(cronMatchesDay(&c, 2025, 11, 28));
    assert_false(cronMatchesDay(&c, 2025, 12, 1));
    /* 2025-05-31 is a Saturday: Friday the 30th. */
    c = parseOk("0 0 31W * *");
    assert_true(cronMatchesDay(&c, 2025, 5, 30));
    /* April has no 31st: no match in April at all (Quartz). */
    for (int d = 1; d <= 30; d++) {
        assert_false(cronMatchesDay(&c, 2025, 4, d));
    }
    expectNext("0 0 31W * *", at(2025, 4, 1, 0, 0, 0), at(2025, 5, 30, 0, 0, 0));
}

static void test_match_last_weekday_of_month(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 LW * *");
    /* 2025-05-31 Saturday -> 30th; 2025-08-31 Sunday -> 29th; 2025-07-31 Thursday. */
    assert_true(cronMatchesDay(&c, 2025, 5, 30));
    assert_false(cronMatchesDay(&c, 2025, 5, 31));
    assert_true(cronMatchesDay(&c, 2025, 8, 29));
    assert_false(cronMatchesDay(&c, 2025, 8, 31));
    assert_true(cronMatchesDay(&c, 2025, 7, 31));
    expectNext("0 0 LW * *", at(2025, 8, 1, 0, 0, 0), at(2025, 8, 29, 0, 0, 0));
}

static void test_match_last_and_nth_weekday(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 * * 5L");
    /* Last Fridays: 2025-01-31, 2025-02-28, 2025-03-28. */
    assert_true(cronMatchesDay(&c, 2025, 1, 31));
    assert_false(cronMatchesDay(&c, 2025, 1, 24));
    assert_true(cronMatchesDay(&c, 2025, 2, 28));
    assert_true(cronMatchesDay(&c, 2025, 3, 28));
    assert_false(cronMatchesDay(&c, 2025, 3, 31));
    c = parseOk("0 0 * * 1#1");
    assert_true(cronMatchesDay(&c, 2025, 9, 1));
    assert_false(cronMatchesDay(&c, 2025, 9, 8));
    assert_true(cronMatchesDay(&c, 2025, 6, 2));
    /* 2#5 with 2 = Tuesday; "1#5" = fifth Monday: Jan and Feb 2025 have none. */
    c = parseOk("0 0 * * 1#5");
    for (int d = 1; d <= 31; d++) {
        assert_false(cronMatchesDay(&c, 2025, 1, d));
    }
    expectNext("0 0 * * 1#5", at(2025, 1, 1, 0, 0, 0), at(2025, 3, 31, 0, 0, 0));
    expectNext("0 0 * * 2#5", at(2025, 1, 1, 0, 0, 0), at(2025, 4, 29, 0, 0, 0));
    expectPrev("0 0 * * 1#5", at(2025, 3, 30, 0, 0, 0), at(2024, 12, 30, 0, 0, 0));
    expectNext("0 0 * * fri#2", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 10, 0, 0, 0));
    /* The fifth Monday of February: only in a leap year whose Feb 1 is a Monday (2016, 2044). */
    expectNext("0 0 * 2 1#5", at(2016, 3, 1, 0, 0, 0), at(2044, 2, 29, 0, 0, 0));
}

/* ---------------------------------------------------------------------------------------------
 * Searching
 */

static void test_next_simple(void **state)
{
    (void)state;
    expectNext("*/5 * * * *", at(2025, 1, 1, 0, 0, 0), at(2025, 1, 1, 0, 5, 0));
    expectNext("*/5 * * * *", at(2025, 1, 1, 0, 4, 59), at(2025, 1, 1, 0, 5, 0));
    expectNext("*/5 * * * *", at(2025, 1, 1, 0, 5, 0), at(2025, 1, 1, 0, 10, 0));
    expectNext("*/5 * * * *", at(2025, 1, 1, 0, 5, 1), at(2025, 1, 1, 0, 10, 0));
    expectNext("0 9 * * mon-fri", at(2025, 1, 3, 9, 0, 0), at(2025, 1, 6, 9, 0, 0));
    expectNext("0 0 1 * *", at(2025, 1, 1, 0, 0, 0), at(2025, 2, 1, 0, 0, 0));
    expectNext("30 * * * *", at(2025, 1, 1, 23, 30, 0), at(2025, 1, 2, 0, 30, 0));
    expectNext("0 0 * * *", at(2025, 1, 1, 12, 0, 0), at(2025, 1, 2, 0, 0, 0));
    expectNext("15 30 9 * * *", at(2025, 1, 1, 9, 30, 15), at(2025, 1, 2, 9, 30, 15));
    expectNext("* * * * * *", at(2025, 1, 1, 9, 30, 15), at(2025, 1, 1, 9, 30, 16));
    expectNext("0 12 0 1 1 *", at(2025, 1, 1, 0, 12, 0), at(2026, 1, 1, 0, 12, 0));
    expectNext("0 0 * 3 *", at(2025, 1, 15, 8, 0, 0), at(2025, 3, 1, 0, 0, 0));
    expectNext("59 23 * * *", at(2025, 1, 1, 23, 59, 0), at(2025, 1, 2, 23, 59, 0));
}

static void test_next_month_ends(void **state)
{
    (void)state;
    const struct rc_civil want[] = {
        at(2025, 3, 31, 0, 0, 0), at(2025, 5, 31, 0, 0, 0),  at(2025, 7, 31, 0, 0, 0),
        at(2025, 8, 31, 0, 0, 0), at(2025, 10, 31, 0, 0, 0), at(2025, 12, 31, 0, 0, 0),
        at(2026, 1, 31, 0, 0, 0),
    };
    expectNextChain("0 0 31 * *", at(2025, 1, 31, 0, 0, 0), want, 7);
    const struct rc_civil last[] = {
        at(2024, 2, 29, 0, 0, 0),
        at(2024, 3, 31, 0, 0, 0),
        at(2024, 4, 30, 0, 0, 0),
    };
    expectNextChain("0 0 L * *", at(2024, 1, 31, 0, 0, 0), last, 3);
    expectNext("0 0 30 * *", at(2025, 1, 30, 0, 0, 0), at(2025, 3, 30, 0, 0, 0));
    expectPrev("0 0 31 * *", at(2025, 3, 31, 0, 0, 0), at(2025, 1, 31, 0, 0, 0));
    expectPrev("0 0 L * *", at(2024, 3, 1, 0, 0, 0), at(2024, 2, 29, 0, 0, 0));
}

static void test_next_leap_years(void **state)
{
    (void)state;
    expectNext("0 0 29 2 *", at(2025, 1, 1, 0, 0, 0), at(2028, 2, 29, 0, 0, 0));
    expectNext("0 0 29 2 *", at(2024, 2, 29, 0, 0, 0), at(2028, 2, 29, 0, 0, 0));
    /* 2100 is not a leap year, 2000 is. */
    expectNext("0 0 29 2 *", at(2096, 3, 1, 0, 0, 0), at(2104, 2, 29, 0, 0, 0));
    expectNext("0 0 29 2 *", at(1996, 3, 1, 0, 0, 0), at(2000, 2, 29, 0, 0, 0));
    expectPrev("0 0 29 2 *", at(2104, 1, 1, 0, 0, 0), at(2096, 2, 29, 0, 0, 0));
    expectPrev("0 0 29 2 *", at(2003, 1, 1, 0, 0, 0), at(2000, 2, 29, 0, 0, 0));
    expectNext("0 0 L 2 *", at(2100, 1, 1, 0, 0, 0), at(2100, 2, 28, 0, 0, 0));
    expectNext("0 0 L 2 *", at(2000, 1, 1, 0, 0, 0), at(2000, 2, 29, 0, 0, 0));
    /* Either Feb 29 or a Monday in February (OR): quick, and the Monday comes first. */
    expectNext("0 0 29 2 1", at(2025, 1, 1, 0, 0, 0), at(2025, 2, 3, 0, 0, 0));
    expectNext("0 0 29 2 1", at(2025, 2, 24, 0, 0, 0), at(2026, 2, 2, 0, 0, 0));
    expectNext("0 0 29 2 1", at(2028, 2, 28, 0, 0, 0), at(2028, 2, 29, 0, 0, 0));
}

static void test_next_year_wrap(void **state)
{
    (void)state;
    expectNext("* * * * *", at(2025, 12, 31, 23, 59, 0), at(2026, 1, 1, 0, 0, 0));
    expectNext("* * * * *", at(2025, 12, 31, 23, 59, 30), at(2026, 1, 1, 0, 0, 0));
    expectNext("* * * * * *", at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1, 0, 0, 0));
    expectNext("0 0 1 1 *", at(2025, 1, 1, 0, 0, 0), at(2026, 1, 1, 0, 0, 0));
    expectNext("59 59 23 31 12 *", at(2025, 12, 31, 23, 59, 59), at(2026, 12, 31, 23, 59, 59));
    expectPrev("* * * * *", at(2026, 1, 1, 0, 0, 0), at(2025, 12, 31, 23, 59, 0));
    expectPrev("* * * * * *", at(2026, 1, 1, 0, 0, 0), at(2025, 12, 31, 23, 59, 59));
    expectPrev("0 0 1 1 *", at(2026, 1, 1, 0, 0, 0), at(2025, 1, 1, 0, 0, 0));
    expectPrev("59 59 23 31 12 *", at(2026, 12, 31, 23, 59, 59), at(2025, 12, 31, 23, 59, 59));
}

static void test_prev_simple(void **state)
{
    (void)state;
    expectPrev("*/5 * * * *", at(2025, 1, 1, 0, 5, 0), at(2025, 1, 1, 0, 0, 0));
    expectPrev("*/5 * * * *", at(2025, 1, 1, 0, 5, 1), at(2025, 1, 1, 0, 5, 0));
    expectPrev("0 9 * * mon-fri", at(2025, 1, 6, 9, 0, 0), at(2025, 1, 3, 9, 0, 0));
    expectPrev("0 0 1 * *", at(2025, 1, 1, 0, 0, 0), at(2024, 12, 1, 0, 0, 0));
    expectPrev("30 2 L * *", at(2025, 3, 31, 2, 29, 59), at(2025, 2, 28, 2, 30, 0));
    expectPrev("0 12 15W * *", at(2025, 3, 15, 0, 0, 0), at(2025, 3, 14, 12, 0, 0));
    expectPrev("0 0 * * 5L", at(2025, 3, 1, 0, 0, 0), at(2025, 2, 28, 0, 0, 0));
}

static void test_limit_year(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 0 29 2 *");
    struct rc_civil after = at(2025, 1, 1, 0, 0, 0);
    struct rc_civil out = at(1, 1, 1, 0, 0, 0);
    struct rc_civil untouched = out;
    assert_int_equal(cronNextCivil(&c, &after, 2027, &out), RC_ENEVER);
    assertCivil(&out, &untouched);
    assert_int_equal(cronNextCivil(&c, &after, 2028, &out), 0);
    assertCivil(&out, &(struct rc_civil){2028, 2, 29, 0, 0, 0});
    assert_int_equal(cronNextCivil(&c, &after, 2024, &out), RC_ENEVER);
    struct rc_civil before = at(2027, 1, 1, 0, 0, 0);
    assert_int_equal(cronPrevCivil(&c, &before, 2025, &out), RC_ENEVER);
    assert_int_equal(cronPrevCivil(&c, &before, 2024, &out), 0);
    assertCivil(&out, &(struct rc_civil){2024, 2, 29, 0, 0, 0});
    assert_int_equal(cronPrevCivil(&c, &before, 2030, &out), RC_ENEVER);
    /* The last second of the limit year is still searched. */
    c = parseOk("59 59 23 31 12 *");
    after = at(2025, 1, 1, 0, 0, 0);
    assert_int_equal(cronNextCivil(&c, &after, 2025, &out), 0);
    assertCivil(&out, &(struct rc_civil){2025, 12, 31, 23, 59, 59});
    after = out;
    assert_int_equal(cronNextCivil(&c, &after, 2025, &out), RC_ENEVER);
    /* Years at the edge of int do not overflow. */
    c = parseOk("* * * * *");
    after = at(2147483647, 12, 31, 23, 59, 0);
    assert_int_equal(cronNextCivil(&c, &after, 2147483647, &out), RC_ENEVER);
    before = at(-2147483647 - 1, 1, 1, 0, 0, 0);
    assert_int_equal(cronPrevCivil(&c, &before, -2147483647 - 1, &out), RC_ENEVER);
}

static void test_search_invalid_arguments(void **state)
{
    (void)state;
    struct rc_cron every = parseOk("@every 5m");
    struct rc_civil t = at(2025, 1, 1, 0, 0, 0);
    struct rc_civil out;
    assert_int_equal(cronNextCivil(&every, &t, 2030, &out), RC_EINVAL);
    assert_int_equal(cronPrevCivil(&every, &t, 2020, &out), RC_EINVAL);
    struct rc_cron c = parseOk("* * * * *");
    struct rc_civil bad = at(2025, 2, 30, 0, 0, 0);
    assert_int_equal(cronNextCivil(&c, &bad, 2030, &out), RC_EINVAL);
    assert_int_equal(cronPrevCivil(&c, &bad, 2020, &out), RC_EINVAL);
    bad = at(2025, 1, 1, 0, 0, 60);
    assert_int_equal(cronNextCivil(&c, &bad, 2030, &out), RC_EINVAL);
}

/*
 * For every property expression and a few instants: cronMatches stepped second by second over
 * a short window finds exactly the instants that the next() chain and the prev() chain visit.
 */
static void test_search_brute_force_seconds(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (size_t e = 0; e < PROPERTY_COUNT; e++) {
        struct rc_cron c = parseOk(property_exprs[e]);
        for (int trial = 0; trial < 4; trial++) {
            const int window = 2 * 3600;
            struct rc_civil start = randomCivil(&seed, 1999, 130);
            int64_t s0 = civilToSeconds(&start);
            struct rc_civil cur = start;
            struct rc_civil next;
            int rc = cronNextCivil(&c, &cur, start.year + 400, &next);
            for (int64_t s = s0 + 1; s <= s0 + window; s++) {
                struct rc_civil t;
                civilFromSeconds(s, &t);
                if (!cronMatches(&c, &t)) {
                    continue;
                }
                assert_int_equal(rc, 0);
                assertCivil(&next, &t);
                cur = next;
                rc = cronNextCivil(&c, &cur, start.year + 400, &next);
            }
            assert_true(rc != 0 || civilToSeconds(&next) > s0 + window);
            /* Backwards from the window's end. */
            struct rc_civil end;
            civilFromSeconds(s0 + window + 1, &end);
            struct rc_civil prev;
            rc = cronPrevCivil(&c, &end, end.year - 400, &prev);
            for (int64_t s = s0 + window; s > s0; s--) {
                struct rc_civil t;
                civilFromSeconds(s, &t);
                if (!cronMatches(&c, &t)) {
                    continue;
                }
                assert_int_equal(rc, 0);
                assertCivil(&prev, &t);
                cur = prev;
                rc = cronPrevCivil(&c, &cur, end.year - 400, &prev);
            }
            assert_true(rc != 0 || civilToSeconds(&prev) <= s0);
        }
    }
}

/* cronMatchesDay agrees with the naive per-date reading over whole years. */
static void test_match_day_against_reference(void **state)
{
    (void)state;
    for (size_t e = 0; e < PROPERTY_COUNT; e++) {
        struct rc_cron c = parseOk(property_exprs[e]);
        for (int y = 2023; y <= 2029; y++) {
            for (int m = 1; m <= 12; m++) {
                for (int d = 1; d <= civilDaysInMonth(y, m); d++) {
                    if (cronMatchesDay(&c, y, m, d) != refDay(&c, y, m, d)) {
                        fail_msg("\"%s\" on %04d-%02d-%02d: engine %d, reference %d",
                                 property_exprs[e], y, m, d, cronMatchesDay(&c, y, m, d),
                                 refDay(&c, y, m, d));
                    }
                }
            }
        }
    }
}

/*
 * Day-level brute force over long windows: the next() chain from a random instant visits the
 * first matching time of each day the reference says matches, and skips every other day.
 */
static void test_search_brute_force_days(void **state)
{
    (void)state;
    uint64_t seed = 7;
    for (size_t e = 0; e < PROPERTY_COUNT; e++) {
        struct rc_cron c = parseOk(property_exprs[e]);
        int first_hour = __builtin_ctz(c.hours);
        int first_minute = __builtin_ctzll(c.minutes);
        int first_second = __builtin_ctzll(c.seconds);
        for (int trial = 0; trial < 3; trial++) {
            struct rc_civil start = randomCivil(&seed, 1900, 300);
            start.hour = 23;
            start.minute = 59;
            start.second = 59;
            int64_t day0 = civilDaysFromDate(start.year, start.month, start.day);
            struct rc_civil cur = start;
            for (int64_t day = day0 + 1; day <= day0 + 800; day++) {
                int y, m, d;
                civilDateFromDays(day, &y, &m, &d);
                if (!refDay(&c, y, m, d)) {
                    continue;
                }
                struct rc_civil want = at(y, m, d, first_hour, first_minute, first_second);
                struct rc_civil got;
                assert_int_equal(cronNextCivil(&c, &cur, y + 1, &got), 0);
                assertCivil(&got, &want);
                /* Jump to the day's end so the next call looks at the following day. */
                cur = at(y, m, d, 23, 59, 59);
            }
        }
    }
}

/* prev(next(t)) <= t, equal exactly when t matches; next(prev(t)) >= t likewise. */
static void test_search_next_prev_symmetry(void **state)
{
    (void)state;
    uint64_t seed = 2024;
    for (size_t e = 0; e < PROPERTY_COUNT; e++) {
        struct rc_cron c = parseOk(property_exprs[e]);
        for (int trial = 0; trial < 50; trial++) {
            struct rc_civil t = randomCivil(&seed, 1970, 200);
            if (trial % 3 == 0) {
                /* Land on a matching instant half of the time it can. */
                struct rc_civil m;
                if (cronNextCivil(&c, &t, t.year + 400, &m) == 0) {
                    t = m;
                }
            }
            bool matches = cronMatches(&c, &t);
            struct rc_civil n, p, back;
            assert_int_equal(cronNextCivil(&c, &t, t.year + 400, &n), 0);
            assert_true(civilCompare(&n, &t) > 0);
            assert_int_equal(cronPrevCivil(&c, &n, n.year - 400, &back), 0);
            assert_true(civilCompare(&back, &t) <= 0);
            assert_int_equal(civilCompare(&back, &t) == 0, matches);
            assert_int_equal(cronPrevCivil(&c, &t, t.year - 400, &p), 0);
            assert_true(civilCompare(&p, &t) < 0);
            assert_int_equal(cronNextCivil(&c, &p, p.year + 400, &back), 0);
            assert_true(civilCompare(&back, &t) >= 0);
            assert_int_equal(civilCompare(&back, &t) == 0, matches);
        }
    }
}

static void test_hour_is_wildcard(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 * * * *");
    assert_true(cronHourIsWildcard(&c));
    c = parseOk("*/5 0-23 * * *");
    assert_true(cronHourIsWildcard(&c));
    c = parseOk("0 */2 * * *");
    assert_false(cronHourIsWildcard(&c));
    c = parseOk("0 0-22 * * *");
    assert_false(cronHourIsWildcard(&c));
    c = parseOk("@hourly");
    assert_true(cronHourIsWildcard(&c));
    c = parseOk("@daily");
    assert_false(cronHourIsWildcard(&c));
}

/* ---------------------------------------------------------------------------------------------
 * Explaining
 */

static void test_explain(void **state)
{
    (void)state;
    expectExplain("* * * * *", "every minute");
    expectExplain("*/5 * * * *", "every 5 minutes");
    expectExplain("*/7 * * * *", "every 7th minute");
    expectExplain("0 9 * * mon-fri", "at 09:00 on Monday through Friday");
    expectExplain("0 0 1 * *", "at 00:00 on day 1 of the month");
    expectExplain("30 * * * *", "at minute 30 past every hour");
    expectExplain("30 2 L * *", "at 02:30 on the last day of the month");
    expectExplain("@every 1h30m", "every 1h30m");
    expectExplain("@every 90s", "every 1m30s");
    expectExplain("@every 1.5ms", "every 1ms500us");
    expectExplain("@daily", "at 00:00 every day");
    expectExplain("@weekly", "at 00:00 on Sunday");
    expectExplain("@yearly", "at 00:00 on day 1 of the month in January");
    expectExplain("0 9,17 * * *", "at 09:00 and 17:00 every day");
    expectExplain("0 */2 * * *", "at minute 0 past every 2nd hour");
    expectExplain("* 9 * * *", "every minute past hour 9");
    expectExplain("0,15,45 9-17 * * *", "at minutes 0, 15 and 45 past hours 9 through 17");
    expectExplain("*/10 * * * * *", "every 10 seconds");
    expectExplain("* * * * * *", "every second");
    expectExplain("30 0 9 * * *", "at 09:00:30 every day");
    expectExplain("*/15 30 9 * * *", "every 15 seconds during 09:30");
    expectExplain("15 */5 * * * *", "at second 15 past every 5th minute");
    expectExplain("0 0 L-3 * *", "at 00:00 on the 4th-to-last day of the month");
    expectExplain("0 0 15W * *", "at 00:00 on the weekday nearest day 15 of the month");
    expectExplain("0 0 LW * *", "at 00:00 on the last weekday of the month");
    expectExplain("0 0 * * 5L", "at 00:00 on the last Friday of the month");
    expectExplain("0 0 * * fri#2", "at 00:00 on the 2nd Friday of the month");
    expectExplain("0 0 1,15 * 1", "at 00:00 on days 1 and 15 of the month or on Monday");
    expectExplain("0 0 1-7 * *", "at 00:00 on days 1 through 7 of the month");
    expectExplain("0 0 1,L * *", "at 00:00 on day 1 and the last day of the month");
    expectExplain("0 0 * * 1,3,5", "at 00:00 on Monday, Wednesday and Friday");
    expectExplain("0 12 * jan-mar,jul *", "at 12:00 every day in January through March and July");
    expectExplain("0 0 29 2 *", "at 00:00 on day 29 of the month in February");
    expectExplain("CRON_TZ=Europe/Berlin 0 9 * * 1-5",
                  "at 09:00 on Monday through Friday in time zone Europe/Berlin");
}

static void test_explain_truncates_safely(void **state)
{
    (void)state;
    struct rc_cron c = parseOk("0 9 * * mon-fri");
    const char *full = "at 09:00 on Monday through Friday";
    char buf[64];
    for (size_t len = 0; len <= strlen(full) + 2; len++) {
        memset(buf, 'Z', sizeof buf);
        size_t n = cronExplain(&c, buf, len);
        assert_int_equal(n, strlen(full));
        if (len == 0) {
            assert_int_equal(buf[0], 'Z');
            continue;
        }
        size_t kept = len - 1 < n ? len - 1 : n;
        assert_int_equal(strlen(buf), kept);
        assert_memory_equal(buf, full, kept);
        assert_int_equal(buf[len], 'Z');
    }
    assert_int_equal(cronExplain(&c, NULL, 0), strlen(full));
    /* Long explanations are not cut inside the formatter. */
    c = parseOk("0,2,4,6,8,10,12,14,16,18,20,22,24,26,28 0,3,5,7,9,11,13,15,17,19,21,23 "
                "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29 1,3,5,7,9,11 0,2,4,6");
    char big[1024];
    size_t n = cronExplain(&c, big, sizeof big);
    assert_int_equal(n, strlen(big));
    assert_true(n > 200);
    assert_non_null(strstr(big, "days 1, 3, 5"));
    assert_non_null(strstr(big, "in January, March, May, July, September and November"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic_fields),
        cmocka_unit_test(test_parse_six_fields),
        cmocka_unit_test(test_parse_ranges_steps_lists),
        cmocka_unit_test(test_parse_names_and_case),
        cmocka_unit_test(test_parse_sunday_is_zero_and_seven),
        cmocka_unit_test(test_parse_question_mark),
        cmocka_unit_test(test_parse_whitespace),
        cmocka_unit_test(test_parse_dom_specials),
        cmocka_unit_test(test_parse_dow_specials),
        cmocka_unit_test(test_parse_macros),
        cmocka_unit_test(test_parse_time_zone_prefix),
        cmocka_unit_test(test_parse_error_messages),
        cmocka_unit_test(test_parse_error_quotes_are_bounded),
        cmocka_unit_test(test_parse_error_leaves_output_alone),
        cmocka_unit_test(test_parse_rejects_impossible_days),
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_match_or_semantics),
        cmocka_unit_test(test_match_fields_and_invalid_input),
        cmocka_unit_test(test_match_last_day),
        cmocka_unit_test(test_match_nearest_weekday),
        cmocka_unit_test(test_match_last_weekday_of_month),
        cmocka_unit_test(test_match_last_and_nth_weekday),
        cmocka_unit_test(test_next_simple),
        cmocka_unit_test(test_next_month_ends),
        cmocka_unit_test(test_next_leap_years),
        cmocka_unit_test(test_next_year_wrap),
        cmocka_unit_test(test_prev_simple),
        cmocka_unit_test(test_limit_year),
        cmocka_unit_test(test_search_invalid_arguments),
        cmocka_unit_test(test_search_brute_force_seconds),
        cmocka_unit_test(test_match_day_against_reference),
        cmocka_unit_test(test_search_brute_force_days),
        cmocka_unit_test(test_search_next_prev_symmetry),
        cmocka_unit_test(test_hour_is_wildcard),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_explain_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
