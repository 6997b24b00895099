/*
 * RFC 3339 timestamps for the CLI, the REST API and logs (durations: duration.h).
 * Instants are microseconds since the Unix epoch, UTC.
 */
#ifndef RC_CORE_TIMEFMT_H
#define RC_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest string timefmtFormat writes, NUL included ("-292277-01-01T00:00:00.000000+00:00"). */
#define RC_TIMEFMT_MAX 40

/*
 * Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"; 't', ' ' accepted for 'T' and 'z' for 'Z'
 * (RFC 3339 §5.6). Fractions beyond microseconds are truncated. Returns 0 or RC_EPARSE with a
 * message naming the position and what was expected.
 */
int timefmtParse(const char *text, int64_t *out_us, char *err, size_t errlen);

/*
 * Format the instant as RFC 3339 in the given UTC offset (seconds), e.g.
 * "2025-03-30T03:00:00+02:00"; offset 0 prints "Z". Fractional seconds are printed only when
 * non-zero (6 digits). An offset that is not a whole number of minutes (local mean times before
 * 1972) cannot be written in RFC 3339: the instant is then printed in UTC ("Z"). buf must hold
 * RC_TIMEFMT_MAX bytes.
 */
void timefmtFormat(int64_t instant_us, int offset_s, char *buf);

#endif /* RC_CORE_TIMEFMT_H */
