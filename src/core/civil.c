#include "civil.h"

bool civilIsLeap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int civilDaysInMonth(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && civilIsLeap(year)) {
        return 29;
    }
    return days[month - 1];
}

int64_t civilFloorDiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

int64_t civilDaysFromDate(int year, int month, int day)
{
    /* Shift the year so that it starts in March: the leap day is then the year's last day. */
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = civilFloorDiv(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civilDateFromDays(int64_t days, int *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = civilFloorDiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(yoe + era * 400 + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

int civilWeekday(int year, int month, int day)
{
    int64_t days = civilDaysFromDate(year, month, day);
    /* 1970-01-01 was a Thursday (4). */
    int64_t wd = (days + 4) % 7;
    return (int)(wd < 0 ? wd + 7 : wd);
}

int64_t civilToSeconds(const struct rc_civil *c)
{
    int64_t days = civilDaysFromDate(c->year, c->month, c->day);
    return days * 86400 + c->hour * 3600 + c->minute * 60 + c->second;
}

void civilFromSeconds(int64_t seconds, struct rc_civil *out)
{
    int64_t days = civilFloorDiv(seconds, 86400);
    int64_t rem = seconds - days * 86400;
    civilDateFromDays(days, &out->year, &out->month, &out->day);
    out->hour = (int)(rem / 3600);
    out->minute = (int)(rem % 3600 / 60);
    out->second = (int)(rem % 60);
}

int civilCompare(const struct rc_civil *a, const struct rc_civil *b)
{
    int64_t x = civilToSeconds(a);
    int64_t y = civilToSeconds(b);
    return (x > y) - (x < y);
}

bool civilValid(const struct rc_civil *c)
{
    return c->month >= 1 && c->month <= 12 && c->day >= 1 &&
           c->day <= civilDaysInMonth(c->year, c->month) && c->hour >= 0 && c->hour <= 23 &&
           c->minute >= 0 && c->minute <= 59 && c->second >= 0 && c->second <= 59;
}
