/*
 * One log line, formatted without side effects (the node's log.c adds the clock and the output).
 *
 * Field order is fixed: ts, level, node, term, role, msg, then the caller's key/value pairs.
 *   logfmt: ts=2026-11-23T12:00:00.123456Z level=info node=1 term=4 role=leader msg="became leader"
 *           A value is quoted when it is empty or holds a space, '=', '"', a control character or
 *           invalid UTF-8 (the go-logfmt rule); inside quotes \" \\ \n \r \t and \u00XX escapes.
 *           Keys keep only printable ASCII other than space, '=' and '"' (others become '_').
 *   json:   one object per line, strings escaped per RFC 8259 §7 (", \, and every control
 *           character); a value whose format is a single numeric conversion (%d, %llu, %g, …) and
 *           whose text is a JSON number is written as a number, everything else as a string.
 * Invalid UTF-8 in messages, keys or values is replaced by U+FFFD in both formats.
 * A line never exceeds LOGFMT_LINE_MAX bytes: an oversized value is cut at a character boundary
 * and the line ends with truncated=true (logfmt) or "truncated":true (json).
 *
 * Key/value pairs are passed as a NULL-terminated variadic list of triples
 *   "key", "printf format", value arguments…
 * Each format may mix text and conversions (flags, width, precision and length modifiers of
 * C11 printf are understood; %n and wide-character %lc/%ls are refused). The compiler cannot
 * check these formats: an argument must have exactly the type its conversion names. A bad format
 * stops the list (the rest of the arguments cannot be located) and is logged as "!BADFORMAT".
 */
#ifndef RC_CORE_LOGFMT_H
#define RC_CORE_LOGFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum rc_log_level { RC_LOG_DEBUG = 0, RC_LOG_INFO, RC_LOG_WARN, RC_LOG_ERROR };

enum rc_log_format { RC_LOG_LOGFMT = 0, RC_LOG_JSON };

/* Longest line logfmtLine writes, newline included (buffers need one byte more for the NUL). */
#define LOGFMT_LINE_MAX 8192

/* Who is logging: written on every line. role is borrowed ("leader", "follower", …). */
struct logfmt_context {
    enum rc_log_format format;
    uint64_t node_id;
    uint64_t term;
    const char *role;
};

/* "debug", "info", "warn" or "error"; "?" for anything else. */
const char *logfmtLevelName(enum rc_log_level level);

/* Parse "debug" | "info" | "warn" | "error" (exact, lower case). Returns 0 or RC_EINVAL. */
int logfmtParseLevel(const char *text, enum rc_log_level *out);

/* Parse "logfmt" | "json". Returns 0 or RC_EINVAL. */
int logfmtParseFormat(const char *text, enum rc_log_format *out);

/*
 * Format one line, ending in '\n', for the instant ts_us (printed in UTC with 6 fraction
 * digits). kv is the NULL-terminated key/format/value list described above. buf must hold at
 * least 256 bytes; at most min(len, LOGFMT_LINE_MAX + 1) are used. Returns the line's length
 * (without the NUL it also writes).
 */
size_t logfmtLineV(char *buf, size_t len, const struct logfmt_context *ctx, int64_t ts_us,
                   enum rc_log_level level, const char *msg, va_list kv);

/* logfmtLineV with the key/format/value list inline, terminated by NULL. */
size_t logfmtLine(char *buf, size_t len, const struct logfmt_context *ctx, int64_t ts_us,
                  enum rc_log_level level, const char *msg, ...);

#endif /* RC_CORE_LOGFMT_H */
