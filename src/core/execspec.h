/*
 * The rules an executor spec must satisfy before it enters the replicated job table
 * (fsmValidateSpec calls execspecCheck), for every executor kind. Pure: no libcurl or libpq
 * here, so a DSN is read by a small conninfo scanner that follows libpq's grammar ("Connection
 * Strings" in the PostgreSQL manual: key = value pairs, values bare or single-quoted with
 * backslash escapes; or a postgresql:// URI).
 *
 * http: url http:// or https:// without blanks or control characters, at most
 *   RC_EXECSPEC_URL_MAX bytes; method an RFC 9110 token of at most 32; headers (at most
 *   RC_EXECSPEC_HEADERS_MAX) with token names and values without CR, LF or NUL, none named
 *   Idempotency-Key or X-Raftcron-* (the executor sets those); body at most
 *   RC_EXECSPEC_BODY_MAX; expect codes 100-599, at most 32; ca_file absolute when set.
 * sql: a statement of at most RC_EXECSPEC_QUERY_MAX bytes; exactly one of dsn and conn; a dsn
 *   that carries no password (DESIGN.md §9: secrets never in the replicated state) and parses;
 *   a conn name of 1-64 of [A-Za-z0-9._-].
 */
#ifndef RC_CORE_EXECSPEC_H
#define RC_CORE_EXECSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "raftcron.pb-c.h"

#define RC_EXECSPEC_URL_MAX     8192
#define RC_EXECSPEC_HEADERS_MAX 64
#define RC_EXECSPEC_HEADER_MAX  1000 /* name + value */
#define RC_EXECSPEC_BODY_MAX    (256 * 1024)
#define RC_EXECSPEC_QUERY_MAX   (256 * 1024)
#define RC_EXECSPEC_DSN_MAX     4096

/* Check e's http or sql part (shell and unset kinds are fsm.c's). Returns 0 or RC_EINVAL with
 * a message naming the field: "executor.sql.dsn: holds a password (...)". */
int execspecCheck(const Raftcron__Executor *e, char *err, size_t errlen);

/* Whether a libpq conninfo or URI names a password. Returns 0 (*has set) or RC_EINVAL when it
 * does not parse (message says where). */
int execspecDsnHasPassword(const char *dsn, bool *has, char *err, size_t errlen);

/* Whether name is a header the HTTP executor sets itself (Idempotency-Key, X-Raftcron-*). */
bool execspecReservedHeader(const char *name);

#endif /* RC_CORE_EXECSPEC_H */
