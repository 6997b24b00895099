/*
 * The daemon's log: one line per event on one stream, logfmt or JSON (format in
 * src/core/logfmt.h), every line carrying the node id and the current Raft term and role.
 *
 *   LOG_INFO("became leader");
 *   LOG_WARN("join attempt failed; retrying", "error", "%s", msg, "attempt", "%u", n);
 *
 * After the message come key, printf format, value triples; the macros add the terminating
 * NULL. Each format must match its argument's type exactly (the compiler cannot check it).
 * Lines below the configured level cost one comparison. Safe to call from any thread: a line
 * is written with a single fwrite and flushed.
 */
#ifndef RC_NODE_LOG_H
#define RC_NODE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/logfmt.h"

/* Configure the log; out is borrowed (NULL: stderr). Before any call: logfmt, info, node 0,
 * stderr. Term 0 and role "none" until logSetRaftState. */
void logInit(enum rc_log_format format, enum rc_log_level level, uint64_t node_id, FILE *out);

/* The Raft term and role ("leader", "follower", …; copied, at most 31 bytes) put on every
 * later line. */
void logSetRaftState(uint64_t term, const char *role);

/* Whether a line at this level would be written. */
bool logEnabled(enum rc_log_level level);

/* Write one line: msg, then key, format, value… triples, then NULL. Use the macros. */
void logWrite(enum rc_log_level level, const char *msg, ...);

#define LOG_DEBUG(...) logWrite(RC_LOG_DEBUG, __VA_ARGS__, (const char *)NULL)
#define LOG_INFO(...)  logWrite(RC_LOG_INFO, __VA_ARGS__, (const char *)NULL)
#define LOG_WARN(...)  logWrite(RC_LOG_WARN, __VA_ARGS__, (const char *)NULL)
#define LOG_ERROR(...) logWrite(RC_LOG_ERROR, __VA_ARGS__, (const char *)NULL)

/* The same, in the moduleVerb spelling that src/node callers use. */
#define logDebug(...) LOG_DEBUG(__VA_ARGS__)
#define logInfo(...)  LOG_INFO(__VA_ARGS__)
#define logWarn(...)  LOG_WARN(__VA_ARGS__)
#define logError(...) LOG_ERROR(__VA_ARGS__)

#endif /* RC_NODE_LOG_H */
