#include "duration.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "civil.h"
#include "err.h"

static bool isDigit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool isAlpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* ---- Parsing --------------------------------------------------------------------------------- */

enum { UNIT_S = 2 };

struct unit {
    const char *name;
    int64_t us;
};

static const struct unit units[] = {
    {"us", 1},
    {"ms", 1000},
    {"s", RC_USEC_PER_SEC},
    {"m", 60 * RC_USEC_PER_SEC},
    {"h", 3600 * RC_USEC_PER_SEC},
    {"d", 86400 * RC_USEC_PER_SEC},
};

struct number {
    int64_t whole;
    int64_t frac;     /* the fraction digits as an integer */
    int64_t frac_div; /* 10^(number of fraction digits) */
};

static int durationError(char *err, size_t errlen, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int durationError(char *err, size_t errlen, const char *text, const char *fmt, ...)
{
    char reason[128];
    char q[RC_ERRQUOTE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return errSet(err, errlen, RC_EPARSE, "invalid duration \"%s\": %s",
                  errQuote(q, text, strlen(text)), reason);
}

enum scan { SCAN_OK, SCAN_NONE, SCAN_TOO_LARGE, SCAN_TOO_PRECISE };

/* Reads "digits[.digits]" at *p (at least one digit on either side of the point). */
static enum scan scanNumber(const char **p, struct number *n)
{
    const char *s = *p;
    bool any = false;
    enum scan result = SCAN_OK;
    n->whole = 0;
    n->frac = 0;
    n->frac_div = 1;
    for (; isDigit(*s); s++, any = true) {
        if (__builtin_mul_overflow(n->whole, 10, &n->whole) ||
            __builtin_add_overflow(n->whole, *s - '0', &n->whole)) {
            result = SCAN_TOO_LARGE;
        }
    }
    if (*s == '.') {
        for (s++; isDigit(*s); s++, any = true) {
            if (n->frac_div >= INT64_C(1000000000000000000)) {
                result = result == SCAN_OK ? SCAN_TOO_PRECISE : result;
                continue;
            }
            n->frac = n->frac * 10 + (*s - '0');
            n->frac_div *= 10;
        }
    }
    *p = s;
    return any ? result : SCAN_NONE;
}

static const struct unit *findUnit(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].name) == n && memcmp(units[i].name, s, n) == 0) {
            return &units[i];
        }
    }
    return NULL;
}

/* number * unit in microseconds, exactly: false on overflow or a sub-microsecond remainder. */
static bool scale(const struct number *n, int64_t unit_us, int64_t *out, bool *inexact)
{
    int64_t whole;
    *inexact = false;
    if (__builtin_mul_overflow(n->whole, unit_us, &whole)) {
        return false;
    }
    unsigned __int128 frac = (unsigned __int128)n->frac * (unsigned __int128)unit_us;
    if (frac % (unsigned __int128)n->frac_div != 0) {
        *inexact = true;
        return false;
    }
    /* frac / frac_div < unit_us, so it fits. */
    return !__builtin_add_overflow(whole, (int64_t)(frac / (unsigned __int128)n->frac_div), out);
}

int durationParse(const char *text, int64_t *out_us, char *err, size_t errlen)
{
    if (text == NULL || *text == '\0') {
        return errSet(err, errlen, RC_EPARSE, "empty duration");
    }
    if (*text == '-') {
        return durationError(err, errlen, text, "negative durations are not allowed");
    }
    int64_t total = 0;
    const char *p = text;
    char q[RC_ERRQUOTE_SIZE];
    while (*p != '\0') {
        const char *start = p;
        struct number n;
        switch (scanNumber(&p, &n)) {
        case SCAN_OK:
            break;
        case SCAN_TOO_LARGE:
            return durationError(err, errlen, text, "too large");
        case SCAN_TOO_PRECISE:
            return durationError(err, errlen, text, "too many decimal places");
        default:
            return durationError(err, errlen, text, "expected a number at \"%s\"",
                                 errQuote(q, start, strlen(start)));
        }
        const char *u = p;
        while (isAlpha(*p)) {
            p++;
        }
        const struct unit *unit = findUnit(u, (size_t)(p - u));
        if (u == p) {
            if (start != text || *p != '\0') {
                return durationError(err, errlen, text, "missing unit after \"%s\"",
                                     errQuote(q, start, (size_t)(p - start)));
            }
            unit = &units[UNIT_S]; /* a bare number is seconds */
        } else if (unit == NULL) {
            return durationError(err, errlen, text, "unknown unit \"%s\" (use us, ms, s, m, h, d)",
                                 errQuote(q, u, (size_t)(p - u)));
        }
        int64_t part;
        bool inexact;
        if (!scale(&n, unit->us, &part, &inexact)) {
            return inexact ? durationError(err, errlen, text,
                                           "\"%s\" is not a whole number of microseconds",
                                           errQuote(q, start, (size_t)(p - start)))
                           : durationError(err, errlen, text, "too large");
        }
        if (__builtin_add_overflow(total, part, &total)) {
            return durationError(err, errlen, text, "too large");
        }
    }
    if (total <= 0) {
        return durationError(err, errlen, text, "must be positive");
    }
    *out_us = total;
    return 0;
}

/* ---- Formatting ------------------------------------------------------------------------------ */

/* The largest unit first, each with a non-zero count, so that durationParse reads it back. */
void durationFormat(int64_t us, char *buf)
{
    if (us == 0) {
        snprintf(buf, RC_DURATION_MAX, "0s");
        return;
    }
    size_t n = 0;
    if (us < 0) {
        buf[n++] = '-';
    }
    uint64_t left = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
    for (size_t i = sizeof units / sizeof units[0]; i-- > 0;) {
        uint64_t k = left / (uint64_t)units[i].us;
        if (k > 0) {
            n += (size_t)snprintf(buf + n, RC_DURATION_MAX - n, "%llu%s", (unsigned long long)k,
                                  units[i].name);
            left -= k * (uint64_t)units[i].us;
        }
    }
    buf[n] = '\0';
}
