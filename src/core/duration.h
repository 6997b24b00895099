/*
 * Durations as users type them and as the tree writes them back: "1h30m", "500ms", "2d".
 * One reading for every place that takes one (job files, "@every" in cron expressions, the
 * CLI's --timeout, configuration) and one spelling for every place that shows one (the CLI,
 * the REST API's JSON, cron explanations), so what is printed always parses back to the same
 * value.
 */
#ifndef RC_CORE_DURATION_H
#define RC_CORE_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse a duration: a sequence of <number><unit> with units us, ms, s, m, h, d (e.g. "1h30m",
 * "500ms", "90s", "2d"; lower case, no blanks or sign). A number may have a decimal fraction
 * ("1.5h") as long as the result is a whole number of microseconds. A bare number is seconds.
 * The total must be positive and fit an int64_t. Returns 0, or RC_EPARSE with a message
 * naming the text and what is wrong in it (*out_us unchanged).
 */
int durationParse(const char *text, int64_t *out_us, char *err, size_t errlen);

/* Longest string durationFormat writes, NUL included. */
#define RC_DURATION_MAX 48

/* A duration as durationParse reads it back: "1d2h3m4s5ms6us" (units with a zero count left
 * out; 0 is "0s"; negative "-…"). buf holds RC_DURATION_MAX bytes. */
void durationFormat(int64_t us, char *buf);

#endif /* RC_CORE_DURATION_H */
