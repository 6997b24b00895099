/*
 * Comparing secrets (auth tokens, MACs) in time that does not depend on where they differ, so
 * that a peer timing our answers learns nothing about the secret byte by byte. The one place
 * such comparisons are made: RPC tokens (node/rpc.c) and the Raft handshake's MACs
 * (raft/transport.c).
 */
#ifndef RC_CORE_SECRET_H
#define RC_CORE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the n bytes at a and b are equal; time depends on n only. */
bool secretEqualBytes(const void *a, const void *b, size_t n);

/* Whether the string given equals the secret (NUL-terminated both). Time depends on the
 * secret's length only, never on the content of either or where they differ; a given string
 * of another length is unequal. */
bool secretEqual(const char *given, const char *secret);

#endif /* RC_CORE_SECRET_H */
