/*
 * UTF-8 as RFC 3629 §4 defines it (Unicode 15, table 3-7): no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. The one validator of the tree: protobuf strings
 * (pbuf.c), log lines (logfmt.c), JSON (jobjson.c) and the CLI's JSON and YAML (print.c) all
 * judge bytes by it, so a string one of them accepts is never refused or rewritten by another.
 */
#ifndef RC_CORE_UTF8_H
#define RC_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The replacement character U+FFFD, encoded (3 bytes). */
#define RC_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Length (1 to 4) of the well-formed sequence at the start of the n > 0 bytes at s, or 0 when
 * they do not start with one (a stray continuation byte, a truncated or overlong sequence, a
 * surrogate, a code point above U+10FFFF). NUL is a well-formed sequence of length 1. */
size_t utf8Len(const void *s, size_t n);

/* Whether the n bytes at s are all well-formed UTF-8. With no_nul, a NUL byte fails too. */
bool utf8Valid(const void *s, size_t n, bool no_nul);

/*
 * Copy the n bytes at s to out, each byte that does not start a well-formed sequence replaced
 * by U+FFFD (one replacement per bad byte), and with nul_too every NUL as well. out holds at least
 * 3 * n bytes; nothing is terminated. Returns the bytes written.
 */
size_t utf8Repair(char *out, const void *s, size_t n, bool nul_too);

#endif /* RC_CORE_UTF8_H */
