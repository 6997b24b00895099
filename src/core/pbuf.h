/*
 * Decoding protobuf messages so that "out of memory" and "malformed input" stay distinct:
 * protobuf-c reports both as NULL, and a replica that mistook an allocation failure for a bad
 * entry would silently diverge from the others.
 */
#ifndef RC_CORE_PBUF_H
#define RC_CORE_PBUF_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/*
 * Decode len bytes of buf (may be NULL when len is 0) as a desc message into *out (owned by the
 * caller; allocated with malloc, so it and any sub-message detached from it are freed with
 * protobuf_c_message_free_unpacked(msg, NULL)). Returns 0, RC_EPARSE (not such a message) or
 * RC_ENOMEM; *out is NULL on error.
 */
int pbufUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
               ProtobufCMessage **out);

#endif /* RC_CORE_PBUF_H */
