/*
 * libraftcron — the public C API of raftcron.
 *
 * This is the only installed header. Everything under src/ is internal.
 * Naming: public symbols start with rc_ / RC_ (STYLE.md §5).
 */
#ifndef RAFTCRON_CLIENT_H
#define RAFTCRON_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RC_API __attribute__((visibility("default")))
#else
#define RC_API
#endif

/*
 * Error codes. Every fallible function returns 0 or one of these (STYLE.md §6).
 * One X-macro table gives the enum and rc_strerror().
 */
#define RC_ERRNO_MAP(X)                                                                            \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(PARSE, "malformed input")                                                                    \
    X(RANGE, "value out of range")                                                                 \
    X(NOTFOUND, "not found")                                                                       \
    X(NEVER, "the schedule has no further instant")                                                \
    X(TZ, "unknown or unusable time zone")                                                         \
    X(EXISTS, "already exists")                                                                    \
    X(STALE, "stale version")                                                                      \
    X(TOOBIG, "too large")                                                                         \
    X(IO, "input/output error")                                                                    \
    X(NOTLEADER, "not the leader")                                                                 \
    X(SHUTDOWN, "shutting down")                                                                   \
    X(TIMEOUT, "timed out")                                                                        \
    X(CANCELED, "canceled")                                                                        \
    X(CORRUPT, "corrupt data")                                                                     \
    X(INTERNAL, "internal error")

enum rc_errno {
    RC_OK = 0,
#define RC__ERRNO_ENUM(name, msg) RC_E##name,
    RC__ERRNO_FIRST = 1000,
    RC_ERRNO_MAP(RC__ERRNO_ENUM)
#undef RC__ERRNO_ENUM
    RC__ERRNO_LAST
};

/* Static message for an RC_E* code (or "unknown error"). Never NULL, never to be freed. */
RC_API const char *rc_strerror(int code);

/* Symbolic name of an RC_E* code, e.g. "RC_EPARSE". Never NULL, never to be freed. */
RC_API const char *rc_errname(int code);

/*
 * RPC status codes: gRPC's numbering, so that proxies and people read them the same way.
 * Every RPC reply carries one plus a message (DESIGN.md §6).
 */
#define RC_STATUS_MAP(X)                                                                           \
    X(OK, 0)                                                                                       \
    X(CANCELLED, 1)                                                                                \
    X(UNKNOWN, 2)                                                                                  \
    X(INVALID_ARGUMENT, 3)                                                                         \
    X(DEADLINE_EXCEEDED, 4)                                                                        \
    X(NOT_FOUND, 5)                                                                                \
    X(ALREADY_EXISTS, 6)                                                                           \
    X(PERMISSION_DENIED, 7)                                                                        \
    X(RESOURCE_EXHAUSTED, 8)                                                                       \
    X(FAILED_PRECONDITION, 9)                                                                      \
    X(ABORTED, 10)                                                                                 \
    X(OUT_OF_RANGE, 11)                                                                            \
    X(UNIMPLEMENTED, 12)                                                                           \
    X(INTERNAL, 13)                                                                                \
    X(UNAVAILABLE, 14)                                                                             \
    X(DATA_LOSS, 15)                                                                               \
    X(UNAUTHENTICATED, 16)

enum rc_status {
#define RC__STATUS_ENUM(name, value) RC_STATUS_##name = value,
    RC_STATUS_MAP(RC__STATUS_ENUM)
#undef RC__STATUS_ENUM
};

/* "OK", "INVALID_ARGUMENT", …; "UNKNOWN_STATUS" for other values. Never NULL. */
RC_API const char *rc_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* RAFTCRON_CLIENT_H */
