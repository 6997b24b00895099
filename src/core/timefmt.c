#include "timefmt.h"

#include <stdio.h>
#include <string.h>

#include "civil.h"
#include "err.h"

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int bad(char *err, size_t errlen, const char *text, size_t pos, const char *what)
{
    return errSet(err, errlen, RC_EPARSE, "timestamp \"%.64s\": expected %s at position %zu", text,
                  what, pos + 1);
}

int timefmtParse(const char *text, int64_t *out_us, char *err, size_t errlen)
{
    struct rc_civil c;
    size_t n = strlen(text);
    if (n < 20) {
        return errSet(err, errlen, RC_EPARSE,
                      "timestamp \"%.64s\": expected RFC 3339 like 2026-01-31T09:00:00Z", text);
    }
    if (digits(text, 4, &c.year) != 0) {
        return bad(err, errlen, text, 0, "a 4-digit year");
    }
    if (text[4] != '-' || digits(text + 5, 2, &c.month) != 0) {
        return bad(err, errlen, text, 4, "-MM");
    }
    if (text[7] != '-' || digits(text + 8, 2, &c.day) != 0) {
        return bad(err, errlen, text, 7, "-DD");
    }
    if (strchr("Tt ", text[10]) == NULL) {
        return bad(err, errlen, text, 10, "'T'");
    }
    if (digits(text + 11, 2, &c.hour) != 0 || text[13] != ':') {
        return bad(err, errlen, text, 11, "HH:");
    }
    if (digits(text + 14, 2, &c.minute) != 0 || text[16] != ':') {
        return bad(err, errlen, text, 14, "MM:");
    }
    if (digits(text + 17, 2, &c.second) != 0) {
        return bad(err, errlen, text, 17, "SS");
    }
    if (!civilValid(&c)) {
        return errSet(err, errlen, RC_EPARSE, "timestamp \"%.64s\": no such date or time", text);
    }
    size_t i = 19;
    int64_t frac = 0;
    if (text[i] == '.') {
        int64_t scale = 100000;
        size_t start = ++i;
        while (text[i] >= '0' && text[i] <= '9') {
            frac += (text[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start) {
            return bad(err, errlen, text, i, "fraction digits");
        }
    }
    int offset = 0;
    if (text[i] == 'Z' || text[i] == 'z') {
        i++;
    } else if (text[i] == '+' || text[i] == '-') {
        int oh, om;
        if (digits(text + i + 1, 2, &oh) != 0 || text[i + 3] != ':' ||
            digits(text + i + 4, 2, &om) != 0 || oh > 23 || om > 59) {
            return bad(err, errlen, text, i, "an offset ±HH:MM");
        }
        offset = (oh * 3600 + om * 60) * (text[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return bad(err, errlen, text, i, "'Z' or an offset ±HH:MM");
    }
    if (text[i] != '\0') {
        return bad(err, errlen, text, i, "the end");
    }
    *out_us = (civilToSeconds(&c) - offset) * RC_USEC_PER_SEC + frac;
    return 0;
}

void timefmtFormat(int64_t instant_us, int offset_s, char *buf)
{
    int64_t secs = civilFloorDiv(instant_us, RC_USEC_PER_SEC);
    int64_t frac = instant_us - secs * RC_USEC_PER_SEC;
    if (offset_s % 60 != 0) {
        offset_s = 0; /* RFC 3339 offsets are whole minutes (LMT, Monrovia before 1972): UTC */
    }
    struct rc_civil c;
    civilFromSeconds(secs + offset_s, &c);
    int n = snprintf(buf, RC_TIMEFMT_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", c.year, c.month, c.day,
                     c.hour, c.minute, c.second);
    if (frac != 0) {
        n += snprintf(buf + n, (size_t)(RC_TIMEFMT_MAX - n), ".%06lld", (long long)frac);
    }
    if (offset_s == 0) {
        snprintf(buf + n, (size_t)(RC_TIMEFMT_MAX - n), "Z");
        return;
    }
    int a = offset_s < 0 ? -offset_s : offset_s;
    snprintf(buf + n, (size_t)(RC_TIMEFMT_MAX - n), "%c%02d:%02d", offset_s < 0 ? '-' : '+',
             a / 3600, a % 3600 / 60);
}
