/*
 * Decoding protobuf messages so that "out of memory" and "malformed input" stay distinct:
 * protobuf-c reports both as NULL, and a replica that mistook an allocation failure for a bad
 * entry would silently diverge from the others.
 *
 * And decoding what a peer sent within bounds (DESIGN.md §9: every decoder is bounded before it
 * allocates). protobuf-c allocates for every field occurrence on the wire, unknown fields
 * included: measured, one 15 MiB Job.Put of 2-byte unknown fields took the daemon from 6 MB to
 * 712 MB. pbufUnpackBounded walks the wire first (nothing allocated) and refuses what would
 * cost more than its limits, then unpacks with an allocator that enforces the same cap.
 */
#ifndef RC_CORE_PBUF_H
#define RC_CORE_PBUF_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of struct pbuf_limits (a field left 0 takes them). */
#define PBUF_DEPTH_MAX    32         /* sub-messages within sub-messages */
#define PBUF_UNKNOWN_MAX  64         /* unknown field occurrences in the whole message */
#define PBUF_ALLOC_FACTOR 16         /* bytes of memory per byte of input, */
#define PBUF_ALLOC_SLACK  (1u << 20) /* plus this */

struct pbuf_limits {
    unsigned max_depth;
    size_t max_unknown;
    size_t max_alloc; /* bytes live at once while unpacking; 0: FACTOR * len + SLACK */
};

/*
 * Decode len bytes of buf (may be NULL when len is 0) as a desc message into *out (owned by the
 * caller; allocated with malloc, so it and any sub-message detached from it are freed with
 * protobuf_c_message_free_unpacked(msg, NULL)). Returns 0, RC_EPARSE (not such a message) or
 * RC_ENOMEM; *out is NULL on error. For our own bytes (the log, snapshots): unbounded.
 */
int pbufUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
               ProtobufCMessage **out);

/*
 * Decode bytes a peer sent. Before anything is allocated the wire is walked: every string
 * field, at any depth, must be UTF-8 without NUL (proto3 strings are UTF-8; a C string would end
 * at the NUL); sub-messages nest at most max_depth; at most max_unknown unknown fields; and the
 * memory protobuf-c will need, estimated from the wire, stays within max_alloc, which the
 * allocator then enforces. lim may be NULL (defaults). Returns 0, or with a message in err that
 * names the field and its byte offset:
 *   RC_EPARSE  malformed, a bad string, or nested too deep
 *   RC_ETOOBIG too many unknown fields, or more memory than max_alloc
 *   RC_ENOMEM  no memory
 */
int pbufUnpackBounded(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                      const struct pbuf_limits *lim, ProtobufCMessage **out, char *err,
                      size_t errlen);

/* Wire helpers: read a varint at *p (advancing it; false when truncated or over 10 bytes), and
 * skip one value of wire type wire, giving its bytes (false when truncated or a wire type
 * protobuf-c refuses: groups). */
bool pbufReadVarint(const uint8_t **p, const uint8_t *end, uint64_t *v);
bool pbufSkipValue(const uint8_t **p, const uint8_t *end, unsigned wire, const uint8_t **bytes,
                   size_t *nbytes);

#endif /* RC_CORE_PBUF_H */
