/*
 * Proleptic Gregorian calendar arithmetic on "civil" (wall-clock) date-times, independent of
 * any time zone. Days are counted from 1970-01-01; algorithms after H. Hinnant's
 * "chrono-Compatible Low-Level Date Algorithms" (valid for years -32767..32767).
 */
#ifndef RC_CORE_CIVIL_H
#define RC_CORE_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* A wall-clock date and time. month 1-12, day 1-31, hour 0-23, minute/second 0-59. */
struct rc_civil {
    int year;
    int month;
    int day;
    int hour;
    int minute;
    int second;
};

#define RC_USEC_PER_SEC INT64_C(1000000)

bool civilIsLeap(int year);
int civilDaysInMonth(int year, int month);
/* Days since 1970-01-01 of the given date. */
int64_t civilDaysFromDate(int year, int month, int day);
void civilDateFromDays(int64_t days, int *year, int *month, int *day);
/* Day of week of the date: 0 = Sunday … 6 = Saturday. */
int civilWeekday(int year, int month, int day);
/* Seconds since 1970-01-01T00:00:00 of the civil time read as if it were UTC. */
int64_t civilToSeconds(const struct rc_civil *c);
void civilFromSeconds(int64_t seconds, struct rc_civil *out);
/* <0, 0, >0 like strcmp. */
int civilCompare(const struct rc_civil *a, const struct rc_civil *b);
/* True when every field is in range (including day within the month). */
bool civilValid(const struct rc_civil *c);

/* floor(a / b) and the matching non-negative remainder, for b > 0. */
int64_t civilFloorDiv(int64_t a, int64_t b);

#endif /* RC_CORE_CIVIL_H */
