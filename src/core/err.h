/*
 * Error helpers for the core: error codes come from include/raftcron/client.h
 * (RC_ERRNO_MAP); objects that can fail carry a short message buffer with context.
 */
#ifndef RC_CORE_ERR_H
#define RC_CORE_ERR_H

#include <stddef.h>

#include "raftcron/client.h"

/* Size of the error-message buffers carried by fallible objects and calls. */
#define RC_ERRMSG_SIZE 256

/* printf into buf (of size len) and return code; buf may be NULL. */
int errSet(char *buf, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Longest token errQuote copies before eliding it ("..."), and the size of its output. */
#define RC_ERRQUOTE_MAX  40
#define RC_ERRQUOTE_SIZE (RC_ERRQUOTE_MAX + 4)

/* The n bytes at s as a message may quote them: at most RC_ERRQUOTE_MAX, then "...", and
 * every byte outside printable ASCII as '?'. Messages reach JSON and terminals, and parsers
 * are fed arbitrary bytes. Returns out. */
const char *errQuote(char out[RC_ERRQUOTE_SIZE], const char *s, size_t n);

#endif /* RC_CORE_ERR_H */
