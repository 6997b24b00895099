#include "pbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"

struct tracking_allocator {
    ProtobufCAllocator base;
    bool failed;
};

static void *trackingAlloc(void *data, size_t size)
{
    struct tracking_allocator *a = data;
    void *p = malloc(size > 0 ? size : 1);
    if (p == NULL) {
        a->failed = true;
    }
    return p;
}

static void trackingFree(void *data, void *p)
{
    (void)data;
    free(p);
}

int pbufUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
               ProtobufCMessage **out)
{
    struct tracking_allocator a = {
        .base = {.alloc = trackingAlloc, .free = trackingFree, .allocator_data = NULL},
        .failed = false,
    };
    a.base.allocator_data = &a;
    static const uint8_t empty[1]; /* protobuf-c never reads it, but wants non-NULL */
    const uint8_t *data = len > 0 ? buf : empty;
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &a.base, len, data);
    *out = NULL;
    if (msg == NULL) {
        return a.failed ? RC_ENOMEM : RC_EPARSE;
    }
    if (a.failed) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return RC_ENOMEM;
    }
    *out = msg;
    return 0;
}
