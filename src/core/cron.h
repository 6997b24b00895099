/*
 * Cron expressions: parsing, matching and searching over civil (wall-clock) time.
 *
 * Accepted syntax (cron(5), with Quartz and robfig/cron extensions):
 *   - 5 fields "min hour dom month dow", or 6 fields with a leading seconds field; fields are
 *     separated by any run of blanks (space, tab, CR, LF), and leading/trailing blanks ignored;
 *   - numbers, names (jan-dec, sun-sat: three letters, case-insensitive), '*', '?' (= '*',
 *     dom/dow only, and only as the whole field), ranges a-b, steps * / n and a-b / n and
 *     a / n (= a through the field's maximum, Saturday for day of week), lists a,b,c;
 *   - a range must not be reversed ("5-3" is an error: no Quartz-style wraparound), except that
 *     the name "sun" may end a day-of-week range ("fri-sun"); a step is 1 up to the number of
 *     values the field has (60, 24, 31, 12, 7);
 *   - day of week 0-7 (0 and 7 are Sunday); day of week nL (last such weekday of the month)
 *     and n#k (k-th such weekday, k 1-5; no match in a month without a k-th);
 *   - day of month L (last day), L-n (n days before the last, n 0-30), nW (the weekday Mon-Fri
 *     nearest to day n, not crossing the month; no match in a month without day n: Quartz),
 *     LW (last weekday of the month);
 *   - macros @yearly @annually @monthly @weekly @daily @midnight @hourly (case-insensitive),
 *     and @every DURATION (e.g. "@every 1h30m", "@every 500ms"; see durationParse);
 *   - an optional "CRON_TZ=Zone " or "TZ=Zone " prefix naming an IANA zone, stored verbatim in
 *     tz (shorter than RC_CRON_TZ_MAX); the zone is validated by the caller (tzGet).
 * Day of month and day of week (cron(5), as Vixie cron and cronie implement it): a field that
 * starts with '*' or '?' is unrestricted. When both fields are restricted, a day matches if
 * either matches ("0 0 13 * fri": every 13th and every Friday); when one or both are
 * unrestricted, a day must match both ("0 0 * / 2 * mon", written without the blanks: Mondays
 * that are odd days of the month). robfig/cron (Kubernetes) instead treats a stepped star as
 * restricted; docs/scheduling.md lists the differences. An expression that can never match because
 * no selected month has a selected day while day of week is unrestricted (e.g. "* * 31 2 *",
 * "0 0 31 4,6,9,11 *"; Feb 29 counts as possible) is rejected.
 *
 * Errors name the field, the token and the reason, e.g.
 *   "field 3 (day of month): 32 is out of range 1-31".
 */
#ifndef RC_CORE_CRON_H
#define RC_CORE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "civil.h"
#include "duration.h"

#define RC_CRON_TZ_MAX 64

struct rc_cron {
    uint64_t seconds; /* bit s set: second s matches (0-59) */
    uint64_t minutes; /* bit m set: minute m matches (0-59) */
    uint32_t hours;   /* bit h set: hour h matches (0-23) */
    uint32_t dom;     /* bit d set: day of month d matches (1-31) */
    uint16_t months;  /* bit m set: month m matches (1-12) */
    uint8_t dow;      /* bit w set: weekday w matches (0-6, 0 = Sunday) */
    bool dom_any;     /* day-of-month field was '*' or '?' */
    bool dow_any;     /* day-of-week field was '*' or '?' */
    bool dom_star;    /* day-of-month field starts with '*' or '?' (cron(5): unrestricted) */
    bool dow_star;    /* day-of-week field starts with '*' or '?' */
    bool has_seconds; /* the expression had 6 fields */
    /* Day-of-month specials (each also makes dom restricted). */
    uint32_t dom_last_offsets; /* bit n set: "L-n" (n = 0 for plain "L"), n 0-30 */
    uint32_t dom_nearest_wd;   /* bit d set: "dW" */
    bool dom_last_wd;          /* "LW" */
    /* Day-of-week specials (each also makes dow restricted). */
    uint8_t dow_last;        /* bit w set: "wL" */
    uint8_t dow_nth[6];      /* dow_nth[k] bit w set: "w#k", k 1-5 */
    int64_t every_us;        /* > 0: the expression was "@every DURATION"; other fields unused */
    char tz[RC_CRON_TZ_MAX]; /* zone from a CRON_TZ= prefix, or "" */
};

/*
 * Parse expr into *out. Returns 0, or RC_EPARSE with a message in err (size errlen; err may be
 * NULL) naming the field, the token and the reason; *out is then unchanged. Any byte string is
 * safe to pass; quoted tokens are bounded and non-printable bytes shown as '?'.
 */
int cronParse(const char *expr, struct rc_cron *out, char *err, size_t errlen);

/* Whether the calendar day matches the day-of-month / day-of-week / month fields (false for a
 * date that does not exist and for "@every"). */
bool cronMatchesDay(const struct rc_cron *c, int year, int month, int day);

/* Whether the civil time matches every field (false when *t is not a valid civil time). */
bool cronMatches(const struct rc_cron *c, const struct rc_civil *t);

/*
 * The earliest matching civil time strictly after *after, searching no further than the year
 * limit_year (inclusive). Returns 0, or RC_ENEVER when there is none up to then (*out
 * unchanged). RC_EINVAL for "@every" expressions and when *after is not civilValid.
 * Jumps field by field (no scanning): tens of nanoseconds for typical expressions.
 */
int cronNextCivil(const struct rc_cron *c, const struct rc_civil *after, int limit_year,
                  struct rc_civil *out);

/* The latest matching civil time strictly before *before, not earlier than the year
 * limit_year. Returns as cronNextCivil. */
int cronPrevCivil(const struct rc_cron *c, const struct rc_civil *before, int limit_year,
                  struct rc_civil *out);

/* True when the hour field matches all 24 hours (the expression "follows elapsed time" across
 * DST changes: see docs/scheduling.md). */
bool cronHourIsWildcard(const struct rc_cron *c);

/*
 * A plain-English reading of the expression, e.g. "at 02:30 on Monday through Friday".
 * Writes at most len bytes (always NUL-terminated when len > 0; buf may be NULL when len is 0)
 * and returns the length it wanted without the NUL, like snprintf: a result >= len means the
 * text was truncated.
 */
size_t cronExplain(const struct rc_cron *c, char *buf, size_t len);

#endif /* RC_CORE_CRON_H */
