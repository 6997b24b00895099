#include "pbuf.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "utf8.h"

/* What protobuf-c allocates per field occurrence, beyond the value itself: its scan record
 * (ScannedMember, while the message's level is parsed) and malloc's own overhead. */
#define SCAN_COST    48
#define MALLOC_COST  16
#define UNKNOWN_COST 24 /* sizeof(ProtobufCMessageUnknownField) */
#define ELEMENT_COST 16 /* a repeated field's array slot, at most */

struct tracking_allocator {
    ProtobufCAllocator base;
    bool failed; /* malloc said no */
    bool over;   /* the cap said no */
    size_t cap;  /* 0: none */
    size_t live; /* bytes allocated and not freed */
};

static void *trackingAlloc(void *data, size_t size)
{
    struct tracking_allocator *a = data;
    size = size > 0 ? size : 1;
    if (a->cap != 0 && (size > a->cap || a->live > a->cap - size)) {
        a->over = true;
        return NULL;
    }
    void *p = malloc(size);
    if (p == NULL) {
        a->failed = true;
        return NULL;
    }
    a->live += malloc_usable_size(p);
    return p;
}

static void trackingFree(void *data, void *p)
{
    struct tracking_allocator *a = data;
    if (p != NULL) {
        size_t n = malloc_usable_size(p);
        a->live = a->live > n ? a->live - n : 0;
    }
    free(p);
}

static int unpackWith(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                      size_t cap, ProtobufCMessage **out, bool *over)
{
    struct tracking_allocator a = {
        .base = {.alloc = trackingAlloc, .free = trackingFree, .allocator_data = NULL},
        .cap = cap,
    };
    a.base.allocator_data = &a;
    static const uint8_t empty[1]; /* protobuf-c never reads it, but wants non-NULL */
    const uint8_t *data = len > 0 ? buf : empty;
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &a.base, len, data);
    *out = NULL;
    *over = a.over;
    if (msg == NULL) {
        return a.failed ? RC_ENOMEM : a.over ? RC_ETOOBIG : RC_EPARSE;
    }
    if (a.failed || a.over) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return a.failed ? RC_ENOMEM : RC_ETOOBIG;
    }
    *out = msg;
    return 0;
}

int pbufUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
               ProtobufCMessage **out)
{
    bool over;
    return unpackWith(desc, buf, len, 0, out, &over);
}

/* ---- Wire helpers -------------------------------------------------------------------------- */

bool pbufReadVarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*p == end) {
            return false;
        }
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false;
}

bool pbufSkipValue(const uint8_t **p, const uint8_t *end, unsigned wire, const uint8_t **bytes,
                   size_t *nbytes)
{
    uint64_t v;
    size_t size;
    switch (wire) {
    case 0:
        *bytes = *p;
        if (!pbufReadVarint(p, end, &v)) {
            return false;
        }
        *nbytes = (size_t)(*p - *bytes);
        return true;
    case 1:
        size = 8;
        break;
    case 2:
        if (!pbufReadVarint(p, end, &v) || v > (uint64_t)(end - *p)) {
            return false;
        }
        size = (size_t)v;
        break;
    case 5:
        size = 4;
        break;
    default:
        return false;
    }
    if (size > (size_t)(end - *p)) {
        return false;
    }
    *bytes = *p;
    *nbytes = size;
    *p += size;
    return true;
}

/* ---- The walk before unpacking ---------------------------------------------------------- */

struct walk {
    const uint8_t *start; /* for byte offsets in messages */
    const struct pbuf_limits *lim;
    size_t unknown;
    size_t cost; /* estimated bytes protobuf-c will allocate */
    char *err;
    size_t errlen;
};

static int walkMessage(struct walk *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                       const uint8_t *end, unsigned depth);

static int overCost(struct walk *w, const ProtobufCMessageDescriptor *desc, size_t at)
{
    return errSet(w->err, w->errlen, RC_ETOOBIG,
                  "%s at byte %zu: unpacking would take more than %zu bytes of memory",
                  desc->short_name, at, w->lim->max_alloc);
}

static int walkField(struct walk *w, const ProtobufCMessageDescriptor *desc,
                     const ProtobufCFieldDescriptor *f, unsigned wire, const uint8_t *bytes,
                     size_t n, unsigned depth)
{
    size_t at = (size_t)(bytes - w->start);
    w->cost += SCAN_COST;
    if (f == NULL) {
        if (++w->unknown > w->lim->max_unknown) {
            return errSet(w->err, w->errlen, RC_ETOOBIG,
                          "%s at byte %zu: more than %zu unknown fields", desc->short_name, at,
                          w->lim->max_unknown);
        }
        w->cost += UNKNOWN_COST + MALLOC_COST + n;
        return 0;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        /* A packed run holds at most one element per byte. */
        w->cost += ELEMENT_COST * (wire == 2 && f->type != PROTOBUF_C_TYPE_STRING &&
                                           f->type != PROTOBUF_C_TYPE_BYTES &&
                                           f->type != PROTOBUF_C_TYPE_MESSAGE
                                       ? n
                                       : 1);
    }
    if (wire != 2) {
        return 0; /* a scalar lives in its message's struct; a mismatch is protobuf-c's to refuse */
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!utf8Valid(bytes, n, true)) {
            return errSet(w->err, w->errlen, RC_EPARSE,
                          "%s.%s at byte %zu: not valid UTF-8 without NUL", desc->short_name,
                          f->name, at);
        }
        w->cost += MALLOC_COST + n + 1;
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        w->cost += MALLOC_COST + n;
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        if (depth + 1 > w->lim->max_depth) {
            return errSet(w->err, w->errlen, RC_EPARSE, "%s.%s at byte %zu: nested deeper than %u",
                          desc->short_name, f->name, at, w->lim->max_depth);
        }
        w->cost += MALLOC_COST + sub->sizeof_message;
        return walkMessage(w, sub, bytes, bytes + n, depth + 1);
    }
    default:
        return 0;
    }
}

static int walkMessage(struct walk *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                       const uint8_t *end, unsigned depth)
{
    while (p < end) {
        size_t at = (size_t)(p - w->start);
        uint64_t tag;
        const uint8_t *bytes = NULL;
        size_t n = 0;
        if (!pbufReadVarint(&p, end, &tag) || tag >> 3 == 0 || tag >> 3 > UINT32_MAX ||
            !pbufSkipValue(&p, end, (unsigned)(tag & 7), &bytes, &n)) {
            return errSet(w->err, w->errlen, RC_EPARSE, "%s at byte %zu: malformed protobuf",
                          desc->short_name, at);
        }
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        int rv = walkField(w, desc, f, (unsigned)(tag & 7), bytes, n, depth);
        if (rv != 0) {
            return rv;
        }
        if (w->cost > w->lim->max_alloc) {
            return overCost(w, desc, at);
        }
    }
    return 0;
}

int pbufUnpackBounded(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                      const struct pbuf_limits *lim, ProtobufCMessage **out, char *err,
                      size_t errlen)
{
    struct pbuf_limits l = lim != NULL ? *lim : (struct pbuf_limits){0};
    l.max_depth = l.max_depth != 0 ? l.max_depth : PBUF_DEPTH_MAX;
    l.max_unknown = l.max_unknown != 0 ? l.max_unknown : PBUF_UNKNOWN_MAX;
    if (l.max_alloc == 0) {
        l.max_alloc = len > (SIZE_MAX - PBUF_ALLOC_SLACK) / PBUF_ALLOC_FACTOR
                          ? SIZE_MAX
                          : PBUF_ALLOC_FACTOR * len + PBUF_ALLOC_SLACK;
    }
    *out = NULL;
    static const uint8_t empty[1];
    const uint8_t *data = len > 0 ? buf : empty;
    struct walk w = {.start = data, .lim = &l, .err = err, .errlen = errlen};
    w.cost = MALLOC_COST + desc->sizeof_message;
    int rv = walkMessage(&w, desc, data, data + len, 0);
    if (rv != 0) {
        return rv;
    }
    bool over;
    rv = unpackWith(desc, data, len, l.max_alloc, out, &over);
    switch (rv) {
    case 0:
        return 0;
    case RC_ENOMEM:
        return errSet(err, errlen, RC_ENOMEM, "%s: out of memory unpacking %zu bytes",
                      desc->short_name, len);
    case RC_ETOOBIG:
        return errSet(err, errlen, RC_ETOOBIG,
                      "%s: unpacking %zu bytes took more than %zu bytes of memory",
                      desc->short_name, len, l.max_alloc);
    default:
        return errSet(err, errlen, RC_EPARSE, "%s: malformed protobuf (%zu bytes)",
                      desc->short_name, len);
    }
}
