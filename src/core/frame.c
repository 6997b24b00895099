#include "frame.h"

#include "pbuf.h"
#include "utf8.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A payload buffer above this size is freed once its frame is delivered: one large request
 * should not pin megabytes on a connection that then sits idle for hours. */
#define RETAIN_MAX (64u << 10)

/* Handed out as the payload of empty frames, so that payload is never NULL. */
static const uint8_t empty[1];

static const char *const type_names[] = {
    [RC_FRAME_REQUEST] = "REQUEST", [RC_FRAME_RESPONSE] = "RESPONSE", [RC_FRAME_PUSH] = "PUSH",
    [RC_FRAME_CANCEL] = "CANCEL",   [RC_FRAME_PING] = "PING",         [RC_FRAME_PONG] = "PONG",
    [RC_FRAME_GOAWAY] = "GOAWAY",
};

const char *frameTypeName(unsigned type)
{
    if (type >= sizeof type_names / sizeof type_names[0]) {
        return NULL;
    }
    return type_names[type];
}

static uint32_t readBe32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void writeBe32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- Decoder ----------------------------------------------------------------------------------
 */

static void setState(struct rc_frame_decoder *dec, enum rc_frame_decoder_state to)
{
    enum { H = RC_FRAME_DECODER_HEADER, P = RC_FRAME_DECODER_PAYLOAD };
    enum { F = RC_FRAME_DECODER_FAILED, C = RC_FRAME_DECODER_CLOSED };
    static const bool allowed[4][4] = {
        [H] = {[P] = true, [F] = true, [C] = true},
        [P] = {[H] = true, [F] = true, [C] = true},
        [F] = {[C] = true},
    };
    assert(allowed[dec->state][to]);
    (void)allowed; /* NDEBUG builds keep the table as documentation only */
    dec->state = to;
}

static size_t clampMax(size_t max_frame)
{
    if (max_frame == 0) {
        return RC_FRAME_MAX_DEFAULT;
    }
    if (max_frame > RC_FRAME_MAX_LIMIT) {
        return RC_FRAME_MAX_LIMIT;
    }
    return max_frame < RC_FRAME_MIN_LENGTH ? RC_FRAME_MIN_LENGTH : max_frame;
}

void frameDecoderInit(struct rc_frame_decoder *dec, size_t max_frame)
{
    memset(dec, 0, sizeof *dec);
    dec->max_frame = clampMax(max_frame);
    dec->state = RC_FRAME_DECODER_HEADER;
}

void frameDecoderSetMax(struct rc_frame_decoder *dec, size_t max_frame)
{
    dec->max_frame = clampMax(max_frame);
}

/* code comes from errSet, which has already written the message. */
static int fail(struct rc_frame_decoder *dec, int code)
{
    assert(code != 0);
    setState(dec, RC_FRAME_DECODER_FAILED);
    dec->error = code;
    return code;
}

/* Called as soon as the 4 length bytes are in, so that a peer announcing a huge frame is cut off
 * at once: nothing is allocated for it and the rest of its header is not awaited. */
static int checkLength(struct rc_frame_decoder *dec)
{
    uint32_t length = readBe32(dec->hdr);
    if (length < RC_FRAME_MIN_LENGTH) {
        return fail(dec, errSet(dec->errmsg, sizeof dec->errmsg, RC_EPARSE,
                                "frame at byte %" PRIu64 ": length %" PRIu32
                                " is below the minimum of %d (type and stream id)",
                                dec->frame_offset, length, RC_FRAME_MIN_LENGTH));
    }
    if (length > dec->max_frame) {
        return fail(dec, errSet(dec->errmsg, sizeof dec->errmsg, RC_ETOOBIG,
                                "frame at byte %" PRIu64 ": length %" PRIu32
                                " exceeds the maximum frame size of %zu bytes",
                                dec->frame_offset, length, dec->max_frame));
    }
    dec->frame.len = length - RC_FRAME_MIN_LENGTH;
    return 0;
}

static int checkType(struct rc_frame_decoder *dec)
{
    uint8_t type = dec->hdr[4];
    if (frameTypeName(type) == NULL) {
        return fail(dec, errSet(dec->errmsg, sizeof dec->errmsg, RC_EPARSE,
                                "frame at byte %" PRIu64 ": unknown frame type %u",
                                dec->frame_offset, (unsigned)type));
    }
    dec->frame.type = type;
    dec->frame.stream = readBe32(dec->hdr + 5);
    return 0;
}

static void deliver(struct rc_frame_decoder *dec, const uint8_t *payload, rc_frame_cb cb, void *arg)
{
    dec->frame.payload = payload;
    dec->busy = true;
    cb(&dec->frame, arg);
    dec->busy = false;
    if (dec->buf_cap > RETAIN_MAX) {
        free(dec->buf);
        dec->buf = NULL;
        dec->buf_cap = 0;
    }
    dec->have = 0;
    dec->frame_offset = dec->offset;
    setState(dec, RC_FRAME_DECODER_HEADER);
}

static int readHeader(struct rc_frame_decoder *dec, const uint8_t *data, size_t len, size_t *used,
                      rc_frame_cb cb, void *arg)
{
    size_t n = RC_FRAME_HEADER_SIZE - dec->have;
    if (n > len) {
        n = len;
    }
    bool had_length = dec->have >= 4;
    memcpy(dec->hdr + dec->have, data, n);
    dec->have += n;
    dec->offset += n;
    *used = n;
    int rv = 0;
    if (!had_length && dec->have >= 4) {
        rv = checkLength(dec);
    }
    if (rv != 0 || dec->have < RC_FRAME_HEADER_SIZE) {
        return rv;
    }
    rv = checkType(dec);
    if (rv != 0) {
        return rv;
    }
    dec->have = 0;
    setState(dec, RC_FRAME_DECODER_PAYLOAD);
    if (dec->frame.len == 0) {
        deliver(dec, empty, cb, arg);
    }
    return 0;
}

/* The buffer is sized to the frame exactly, once, when its first piece arrives: growing it
 * piece by piece would copy a large frame fed in small reads over and over. Old contents are
 * dead, hence free + malloc rather than realloc. */
static int reserve(struct rc_frame_decoder *dec)
{
    if (dec->buf_cap >= dec->frame.len) {
        return 0;
    }
    free(dec->buf);
    dec->buf_cap = 0;
    dec->buf = malloc(dec->frame.len);
    if (dec->buf == NULL) {
        return fail(dec, errSet(dec->errmsg, sizeof dec->errmsg, RC_ENOMEM,
                                "frame at byte %" PRIu64 ": cannot allocate %zu bytes of payload",
                                dec->frame_offset, dec->frame.len));
    }
    dec->buf_cap = dec->frame.len;
    return 0;
}

static int readPayload(struct rc_frame_decoder *dec, const uint8_t *data, size_t len, size_t *used,
                       rc_frame_cb cb, void *arg)
{
    size_t need = dec->frame.len - dec->have;
    if (dec->have == 0 && len >= need) {
        *used = need;
        dec->offset += need;
        deliver(dec, data, cb, arg);
        return 0;
    }
    if (dec->have == 0) {
        int rv = reserve(dec);
        if (rv != 0) {
            return rv;
        }
    }
    size_t n = need < len ? need : len;
    memcpy(dec->buf + dec->have, data, n);
    dec->have += n;
    dec->offset += n;
    *used = n;
    if (dec->have == dec->frame.len) {
        deliver(dec, dec->buf, cb, arg);
    }
    return 0;
}

int frameDecoderFeed(struct rc_frame_decoder *dec, const uint8_t *data, size_t len, rc_frame_cb cb,
                     void *arg)
{
    assert(!dec->busy);
    if (dec->state == RC_FRAME_DECODER_CLOSED) {
        return errSet(dec->errmsg, sizeof dec->errmsg, RC_EINVAL, "frame decoder is closed");
    }
    if (dec->state == RC_FRAME_DECODER_FAILED) {
        return dec->error;
    }
    while (len > 0) {
        size_t used = 0;
        int rv = dec->state == RC_FRAME_DECODER_HEADER
                     ? readHeader(dec, data, len, &used, cb, arg)
                     : readPayload(dec, data, len, &used, cb, arg);
        if (rv != 0) {
            return rv;
        }
        data += used;
        len -= used;
    }
    return 0;
}

const char *frameDecoderError(const struct rc_frame_decoder *dec)
{
    return dec->errmsg;
}

void frameDecoderClose(struct rc_frame_decoder *dec)
{
    assert(!dec->busy);
    if (dec->state == RC_FRAME_DECODER_CLOSED) {
        return;
    }
    free(dec->buf);
    dec->buf = NULL;
    dec->buf_cap = 0;
    setState(dec, RC_FRAME_DECODER_CLOSED);
}

/* ---- Encoding ---------------------------------------------------------------------------------
 */

int frameWriteHeader(uint8_t out[RC_FRAME_HEADER_SIZE], uint8_t type, uint32_t stream,
                     size_t payload_len)
{
    if (frameTypeName(type) == NULL) {
        return RC_EINVAL;
    }
    if (payload_len > RC_FRAME_PAYLOAD_MAX) {
        return RC_ETOOBIG;
    }
    writeBe32(out, (uint32_t)(payload_len + RC_FRAME_MIN_LENGTH));
    out[4] = type;
    writeBe32(out + 5, stream);
    return 0;
}

int frameEncode(uint8_t type, uint32_t stream, const void *payload, size_t len, uint8_t *out,
                size_t out_cap)
{
    uint8_t hdr[RC_FRAME_HEADER_SIZE];
    int rv = frameWriteHeader(hdr, type, stream, len);
    if (rv != 0) {
        return rv;
    }
    if (out_cap < RC_FRAME_HEADER_SIZE || out_cap - RC_FRAME_HEADER_SIZE < len) {
        return RC_ERANGE;
    }
    memcpy(out, hdr, sizeof hdr);
    if (len > 0) {
        memcpy(out + RC_FRAME_HEADER_SIZE, payload, len);
    }
    return 0;
}

/* ---- Envelopes --------------------------------------------------------------------------------
 */

struct envelope {
    uint8_t type;
    const char *name; /* starts every message about this envelope */
    const ProtobufCMessageDescriptor *desc;
};

static const struct envelope envelopes[] = {
    {RC_FRAME_REQUEST, "request", &raftcron__request__descriptor},
    {RC_FRAME_RESPONSE, "response", &raftcron__response__descriptor},
    {RC_FRAME_PUSH, "push", &raftcron__push__descriptor},
    {RC_FRAME_GOAWAY, "goaway", &raftcron__go_away__descriptor},
};

static const struct envelope *envelopeOf(unsigned type)
{
    for (size_t i = 0; i < sizeof envelopes / sizeof envelopes[0]; i++) {
        if (envelopes[i].type == type) {
            return &envelopes[i];
        }
    }
    return NULL;
}

/* proto3 strings are UTF-8 and other implementations (Go, Java, Python) refuse a message whose
 * string is not: checked on both sides (utf8Valid) so that nothing we send breaks their
 * decoding. NUL is refused too, because a C string would silently end there. */
/* protobuf-c allocates for every field occurrence on the wire, repeated singular fields and
 * unknown fields included (measured: a 16 MiB Request of 2-byte unknown fields made it allocate
 * 746 MB). Envelopes have at most 5 fields, so their count is bounded before unpacking, which
 * keeps what an unauthenticated peer can make us allocate near the payload's size. String fields
 * are checked here on their raw bytes, where an embedded NUL is still visible. */
static int checkWire(const struct envelope *e, const uint8_t *payload, size_t len, char *err,
                     size_t errlen)
{
    const uint8_t *p = payload, *end = payload + len;
    for (size_t count = 0; p < end; count++) {
        if (count == RC_FRAME_ENVELOPE_FIELDS_MAX) {
            return errSet(err, errlen, RC_EPARSE, "%s: more than %d fields (%zu bytes)", e->name,
                          RC_FRAME_ENVELOPE_FIELDS_MAX, len);
        }
        uint64_t tag;
        const uint8_t *bytes = NULL;
        size_t nbytes = 0;
        if (!pbufReadVarint(&p, end, &tag) || tag >> 3 == 0 || tag >> 3 > UINT32_MAX ||
            !pbufSkipValue(&p, end, (unsigned)(tag & 7), &bytes, &nbytes)) {
            return errSet(err, errlen, RC_EPARSE, "%s: malformed protobuf (%zu bytes)", e->name,
                          len);
        }
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(e->desc, (unsigned)(tag >> 3));
        if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && (tag & 7) == 2 &&
            !utf8Valid(bytes, nbytes, true)) {
            return errSet(err, errlen, RC_EPARSE, "%s: %s is not valid UTF-8 without NUL", e->name,
                          f->name);
        }
    }
    return 0;
}

/* Rules of the protocol that the schema cannot state. code: RC_EINVAL when we are about to send,
 * RC_EPARSE when we received. */
static int checkRules(const struct envelope *e, const ProtobufCMessage *msg, int code, char *err,
                      size_t errlen)
{
    if (e->type == RC_FRAME_REQUEST) {
        const Raftcron__Request *r = (const Raftcron__Request *)msg;
        if (r->method == NULL || r->method[0] == '\0') {
            return errSet(err, errlen, code, "request: empty method");
        }
        if (r->deadline_us < 0) {
            return errSet(err, errlen, code, "request: negative deadline_us %" PRId64,
                          r->deadline_us);
        }
    } else if (e->type == RC_FRAME_PUSH) {
        const Raftcron__Push *m = (const Raftcron__Push *)msg;
        if (m->kind == NULL || m->kind[0] == '\0') {
            return errSet(err, errlen, code, "push: empty kind");
        }
    }
    return 0;
}

/* The sending side of that check: the strings of a message built in C. */
static int checkStrings(const struct envelope *e, const ProtobufCMessage *msg, char *err,
                        size_t errlen)
{
    for (unsigned i = 0; i < e->desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &e->desc->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED) {
            continue;
        }
        const char *s = *(const char *const *)((const char *)msg + f->offset);
        if (s != NULL && !utf8Valid(s, strlen(s), true)) {
            return errSet(err, errlen, RC_EINVAL, "%s: %s is not valid UTF-8", e->name, f->name);
        }
    }
    return 0;
}

int framePack(uint8_t type, uint32_t stream, const ProtobufCMessage *msg, uint8_t **out,
              size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    const struct envelope *e = envelopeOf(type);
    if (e == NULL) {
        return errSet(err, errlen, RC_EINVAL, "frame type %u carries no envelope", (unsigned)type);
    }
    if (msg == NULL || msg->descriptor != e->desc) {
        return errSet(err, errlen, RC_EINVAL, "%s frame: expected a %s message, got %s",
                      frameTypeName(type), e->desc->name,
                      msg == NULL ? "none" : msg->descriptor->name);
    }
    int rv = checkRules(e, msg, RC_EINVAL, err, errlen);
    if (rv == 0) {
        rv = checkStrings(e, msg, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > RC_FRAME_PAYLOAD_MAX) {
        return errSet(err, errlen, RC_ETOOBIG, "%s: %zu bytes exceed the payload limit of %u",
                      e->name, len, RC_FRAME_PAYLOAD_MAX);
    }
    uint8_t *buf = malloc(RC_FRAME_HEADER_SIZE + len);
    if (buf == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "%s: cannot allocate %zu bytes", e->name,
                      RC_FRAME_HEADER_SIZE + len);
    }
    rv = frameWriteHeader(buf, type, stream, len);
    assert(rv == 0);
    size_t packed = protobuf_c_message_pack(msg, buf + RC_FRAME_HEADER_SIZE);
    assert(packed == len);
    (void)packed;
    *out = buf;
    *out_len = RC_FRAME_HEADER_SIZE + len;
    return 0;
}

static int unpack(const struct envelope *e, const uint8_t *payload, size_t len,
                  ProtobufCMessage **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > RC_FRAME_PAYLOAD_MAX) {
        return errSet(err, errlen, RC_ETOOBIG, "%s: %zu bytes exceed the payload limit of %u",
                      e->name, len, RC_FRAME_PAYLOAD_MAX);
    }
    const uint8_t *data = len > 0 ? payload : empty; /* protobuf-c wants non-NULL */
    int rv = checkWire(e, data, len, err, errlen);
    if (rv != 0) {
        return rv;
    }
    ProtobufCMessage *msg;
    rv = pbufUnpack(e->desc, data, len, &msg);
    if (rv == RC_ENOMEM) {
        return errSet(err, errlen, RC_ENOMEM, "%s: out of memory unpacking %zu bytes", e->name,
                      len);
    }
    if (rv != 0) {
        return errSet(err, errlen, RC_EPARSE, "%s: malformed protobuf (%zu bytes)", e->name, len);
    }
    rv = checkRules(e, msg, RC_EPARSE, err, errlen);
    if (rv != 0) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return rv;
    }
    *out = msg;
    return 0;
}

int frameUnpackRequest(const uint8_t *payload, size_t len, Raftcron__Request **out, char *err,
                       size_t errlen)
{
    ProtobufCMessage *msg;
    int rv = unpack(envelopeOf(RC_FRAME_REQUEST), payload, len, &msg, err, errlen);
    *out = (Raftcron__Request *)msg;
    return rv;
}

int frameUnpackResponse(const uint8_t *payload, size_t len, Raftcron__Response **out, char *err,
                        size_t errlen)
{
    ProtobufCMessage *msg;
    int rv = unpack(envelopeOf(RC_FRAME_RESPONSE), payload, len, &msg, err, errlen);
    *out = (Raftcron__Response *)msg;
    return rv;
}

int frameUnpackPush(const uint8_t *payload, size_t len, Raftcron__Push **out, char *err,
                    size_t errlen)
{
    ProtobufCMessage *msg;
    int rv = unpack(envelopeOf(RC_FRAME_PUSH), payload, len, &msg, err, errlen);
    *out = (Raftcron__Push *)msg;
    return rv;
}

int frameUnpackGoAway(const uint8_t *payload, size_t len, Raftcron__GoAway **out, char *err,
                      size_t errlen)
{
    ProtobufCMessage *msg;
    int rv = unpack(envelopeOf(RC_FRAME_GOAWAY), payload, len, &msg, err, errlen);
    *out = (Raftcron__GoAway *)msg;
    return rv;
}
