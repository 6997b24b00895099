/*
 * RPC framing over TCP and the RPC envelopes (DESIGN.md §6; the full protocol is docs/rpc.md).
 *
 * A frame on the wire:
 *
 *   offset 0  u32 big-endian  length: bytes after this field = 5 + payload length
 *   offset 4  u8              type (enum rc_frame_type)
 *   offset 5  u32 big-endian  stream id
 *   offset 9  length - 5 bytes of payload
 *
 * A length below 5, an unknown type or a length above the decoder's maximum (default
 * RC_FRAME_MAX_DEFAULT = 16 MiB, configurable) is a protocol error: the decoder reports it with a
 * message as soon as the offending header bytes arrive and never allocates for that frame.
 *
 * Payloads by type: REQUEST a Request, RESPONSE a Response, PUSH a Push, GOAWAY a GoAway
 * (proto/rpc.proto); PING any bytes, which the PONG echoes; CANCEL nothing. The decoder checks
 * framing only; which types a peer may send, and what stream ids mean, is the caller's business.
 *
 * Pure core: no sockets, no clock.
 */
#ifndef RC_CORE_FRAME_H
#define RC_CORE_FRAME_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "rpc.pb-c.h"

/* Bytes before the payload: length, type, stream id. */
#define RC_FRAME_HEADER_SIZE 9
/* Smallest valid length field: type + stream id, no payload. */
#define RC_FRAME_MIN_LENGTH 5
/* Default largest length field a decoder accepts. */
#define RC_FRAME_MAX_DEFAULT (16u << 20)
/* Hard ceiling of any decoder's maximum, and of what the encoders produce. */
#define RC_FRAME_MAX_LIMIT (1u << 30)
/* Largest payload of any frame. */
#define RC_FRAME_PAYLOAD_MAX (RC_FRAME_MAX_LIMIT - RC_FRAME_MIN_LENGTH)
/* Most field occurrences (known, repeated or unknown) an envelope may carry on the wire: it
 * bounds what unpacking allocates to about the payload's size. */
#define RC_FRAME_ENVELOPE_FIELDS_MAX 64

enum rc_frame_type {
    RC_FRAME_REQUEST = 1,  /* client → server: a call (Request) */
    RC_FRAME_RESPONSE = 2, /* server → client: the reply to the request of the same stream */
    RC_FRAME_PUSH = 3,     /* server → client: on a session (Push), e.g. a run assignment */
    RC_FRAME_CANCEL = 4,   /* client → server: the caller no longer wants the stream's reply */
    RC_FRAME_PING = 5,     /* either way: answer with a PONG of the same stream and payload */
    RC_FRAME_PONG = 6,     /* the answer to a PING */
    RC_FRAME_GOAWAY = 7,   /* server → client: closing, send no new requests (GoAway) */
};

/* "REQUEST", "RESPONSE", …; NULL for a type that is not in enum rc_frame_type. */
const char *frameTypeName(unsigned type);

/* One decoded frame, as handed to a rc_frame_cb. */
struct rc_frame {
    uint8_t type; /* an enum rc_frame_type value */
    uint32_t stream;
    const uint8_t *payload; /* borrowed, valid during the callback only; never NULL */
    size_t len;             /* payload bytes (length field − 5) */
};

typedef void (*rc_frame_cb)(const struct rc_frame *frame, void *arg);

/*
 * Incremental decoder. Lifecycle (STYLE.md §9), checked on every move:
 *
 *   HEADER ⇄ PAYLOAD      a frame's header complete / its payload delivered
 *   HEADER → FAILED       protocol error or no memory: every later feed returns the same error
 *   any    → CLOSED       frameDecoderClose; frameDecoderInit starts over
 *
 * A payload that arrives whole within one feed is handed over from the caller's bytes without
 * copying; one that arrives in pieces is gathered in a buffer sized once to the frame's length,
 * so every byte is copied at most once.
 */
enum rc_frame_decoder_state {
    RC_FRAME_DECODER_HEADER = 0,
    RC_FRAME_DECODER_PAYLOAD,
    RC_FRAME_DECODER_FAILED,
    RC_FRAME_DECODER_CLOSED,
};

struct rc_frame_decoder {
    enum rc_frame_decoder_state state; /* read-only */
    size_t max_frame;                  /* read-only: largest length field accepted */
    uint8_t *buf;                      /* private (owned): a payload arriving in pieces */
    size_t buf_cap;                    /* read-only: bytes allocated for buf */
    uint8_t hdr[RC_FRAME_HEADER_SIZE]; /* private: header bytes of the current frame */
    size_t have;                       /* private: bytes of the current header or payload */
    struct rc_frame frame;             /* private: the frame being read */
    uint64_t offset;                   /* read-only: bytes consumed since init */
    uint64_t frame_offset;             /* private: where the current frame starts */
    int error;                         /* read-only: 0 or the code that failed the decoder */
    bool busy;                         /* private: inside a callback */
    char errmsg[RC_ERRMSG_SIZE];       /* read-only: why it failed */
};

/*
 * Start a decoder. max_frame bounds the length field (type + stream id + payload): 0 means
 * RC_FRAME_MAX_DEFAULT, values above RC_FRAME_MAX_LIMIT are lowered to it and values below
 * RC_FRAME_MIN_LENGTH raised to it. Allocates nothing. Pair with frameDecoderClose.
 */
void frameDecoderInit(struct rc_frame_decoder *dec, size_t max_frame);

/*
 * Consume len bytes (any split of the stream, down to one byte at a time) and call cb(frame,
 * arg) for each frame they complete, in order. cb must not feed or close this decoder.
 * Returns 0 when every byte was consumed. Otherwise the decoder is FAILED (frames before the
 * error were delivered) and this and every later call return the same code, with the message
 * in frameDecoderError:
 *   RC_EPARSE  length below 5, or unknown type
 *   RC_ETOOBIG length above max_frame (detected from the 4 length bytes, before any allocation)
 *   RC_ENOMEM  no memory for a payload arriving in pieces
 *   RC_EINVAL  the decoder is closed
 */
int frameDecoderFeed(struct rc_frame_decoder *dec, const uint8_t *data, size_t len, rc_frame_cb cb,
                     void *arg);

/* Change the largest length field accepted from the next frame on (clamped as in
 * frameDecoderInit): an RPC connection lifts its small limit once the peer authenticated. */
void frameDecoderSetMax(struct rc_frame_decoder *dec, size_t max_frame);

/* Why the decoder failed, e.g. "frame at byte 18: unknown frame type 9"; "" when it has not. */
const char *frameDecoderError(const struct rc_frame_decoder *dec);

/* Free the buffer and mark the decoder CLOSED. Safe to call twice. Not from a callback. */
void frameDecoderClose(struct rc_frame_decoder *dec);

/*
 * Write the 9 header bytes of a frame whose payload is payload_len bytes, so that header and
 * payload can go out as two iovecs without copying the payload. Returns 0, RC_EINVAL for a type
 * not in enum rc_frame_type, or RC_ETOOBIG when payload_len > RC_FRAME_PAYLOAD_MAX.
 */
int frameWriteHeader(uint8_t out[RC_FRAME_HEADER_SIZE], uint8_t type, uint32_t stream,
                     size_t payload_len);

/*
 * Write a whole frame (header then len payload bytes) into out, which holds out_cap bytes; it
 * takes RC_FRAME_HEADER_SIZE + len. payload may be NULL when len is 0. Returns 0, the errors of
 * frameWriteHeader, or RC_ERANGE when out_cap is too small (out untouched).
 */
int frameEncode(uint8_t type, uint32_t stream, const void *payload, size_t len, uint8_t *out,
                size_t out_cap);

/*
 * Pack an envelope into a new frame (header + protobuf) in *out (malloc'd, owned by the caller,
 * free()), *out_len bytes. msg must be the envelope of the type: a Raftcron__Request for REQUEST,
 * Response for RESPONSE, Push for PUSH, GoAway for GOAWAY. The rules the unpack functions check
 * apply to what is sent, so that a peer never refuses what we pack. Returns 0, RC_EINVAL (a type
 * without envelope, the wrong message for the type, empty method or kind, negative deadline, a
 * string that is not UTF-8), RC_ETOOBIG (payload above RC_FRAME_PAYLOAD_MAX) or RC_ENOMEM, with
 * a message in err; on error *out is NULL.
 */
int framePack(uint8_t type, uint32_t stream, const ProtobufCMessage *msg, uint8_t **out,
              size_t *out_len, char *err, size_t errlen);

/*
 * Unpack a frame's payload into an envelope (*out owned by the caller; free it with the
 * matching raftcron__<message>__free_unpacked(*out, NULL)). On error *out is NULL and err says
 * what, e.g. "request: malformed protobuf (42 bytes)". Errors:
 *   RC_EPARSE  not a protobuf of that message (truncated, wrong wire type), more than
 *              RC_FRAME_ENVELOPE_FIELDS_MAX fields, a string that is not UTF-8 or holds a NUL
 *              (proto3 strings are UTF-8; C strings end at NUL), or it breaks a rule: Request
 *              with an empty method or a negative deadline_us, Push with an empty kind
 *   RC_ETOOBIG len > RC_FRAME_PAYLOAD_MAX
 *   RC_ENOMEM  no memory (told apart from malformed input)
 * Response.status is not checked: receivers read values they do not know as UNKNOWN.
 */
int frameUnpackRequest(const uint8_t *payload, size_t len, Raftcron__Request **out, char *err,
                       size_t errlen);
int frameUnpackResponse(const uint8_t *payload, size_t len, Raftcron__Response **out, char *err,
                        size_t errlen);
int frameUnpackPush(const uint8_t *payload, size_t len, Raftcron__Push **out, char *err,
                    size_t errlen);
int frameUnpackGoAway(const uint8_t *payload, size_t len, Raftcron__GoAway **out, char *err,
                      size_t errlen);

#endif /* RC_CORE_FRAME_H */
