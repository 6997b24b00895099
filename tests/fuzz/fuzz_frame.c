/*
 * Fuzz the frame decoder and the envelope unpackers (src/core/frame.c).
 *
 * Input: byte 0 picks the decoder's max frame (5 + byte, 255 = the 16 MiB default), byte 1 seeds
 * the chunking, the rest is the byte stream of a connection. The stream is decoded twice, whole
 * and in chunks of 1-32 bytes, and both runs must see the same frames and the same error: the
 * split must never matter. Every payload is tried as each envelope; one that unpacks must pack
 * again (what we accept we can send) and unpack to the same fields. A request's payload is then
 * unpacked within bounds as the method payloads that nest deepest (pbufUnpackBounded): a result
 * or a refusal with a message, never a crash, a leak or memory beyond the cap (run under
 * -rss_limit_mb=256).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/frame.h"
#include "core/pbuf.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct record {
    size_t frames;
    uint64_t hash;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * UINT64_C(0x100000001b3);
}

static const uint8_t *payloadOf(const uint8_t *frame)
{
    return frame + RC_FRAME_HEADER_SIZE;
}

static void tryPayload(const Raftcron__Request *r)
{
    static const ProtobufCMessageDescriptor *const descs[] = {
        &raftcron__job_put_request__descriptor,
        &raftcron__report_batch__descriptor,
        &raftcron__session_open__descriptor,
    };
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++) {
        char err[RC_ERRMSG_SIZE] = "";
        ProtobufCMessage *m = NULL;
        int rv =
            pbufUnpackBounded(descs[i], r->payload.data, r->payload.len, NULL, &m, err, sizeof err);
        CHECK((rv == 0) == (m != NULL));
        CHECK(rv == 0 || err[0] != '\0');
        if (m != NULL) {
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
}

static void tryRequest(const struct rc_frame *f)
{
    char err[RC_ERRMSG_SIZE] = "";
    Raftcron__Request *a = NULL, *b = NULL;
    if (frameUnpackRequest(f->payload, f->len, &a, err, sizeof err) != 0) {
        CHECK(a == NULL && err[0] != '\0');
        return;
    }
    CHECK(a->method[0] != '\0' && a->deadline_us >= 0);
    tryPayload(a);
    uint8_t *out = NULL;
    size_t len = 0;
    CHECK(framePack(RC_FRAME_REQUEST, f->stream, &a->base, &out, &len, err, sizeof err) == 0);
    CHECK(frameUnpackRequest(payloadOf(out), len - RC_FRAME_HEADER_SIZE, &b, err, sizeof err) == 0);
    CHECK(strcmp(a->method, b->method) == 0 && strcmp(a->auth_token, b->auth_token) == 0);
    CHECK(a->deadline_us == b->deadline_us && a->payload.len == b->payload.len);
    CHECK(a->payload.len == 0 || memcmp(a->payload.data, b->payload.data, a->payload.len) == 0);
    raftcron__request__free_unpacked(b, NULL);
    raftcron__request__free_unpacked(a, NULL);
    free(out);
}

static void tryResponse(const struct rc_frame *f)
{
    char err[RC_ERRMSG_SIZE] = "";
    Raftcron__Response *a = NULL, *b = NULL;
    if (frameUnpackResponse(f->payload, f->len, &a, err, sizeof err) != 0) {
        CHECK(a == NULL && err[0] != '\0');
        return;
    }
    uint8_t *out = NULL;
    size_t len = 0;
    CHECK(framePack(RC_FRAME_RESPONSE, f->stream, &a->base, &out, &len, err, sizeof err) == 0);
    CHECK(frameUnpackResponse(payloadOf(out), len - RC_FRAME_HEADER_SIZE, &b, err, sizeof err) ==
          0);
    CHECK(a->status == b->status && a->leader_id == b->leader_id);
    CHECK(strcmp(a->message, b->message) == 0 && strcmp(a->leader_hint, b->leader_hint) == 0);
    CHECK(a->payload.len == b->payload.len);
    raftcron__response__free_unpacked(b, NULL);
    raftcron__response__free_unpacked(a, NULL);
    free(out);
}

static void tryPushAndGoAway(const struct rc_frame *f)
{
    char err[RC_ERRMSG_SIZE] = "";
    Raftcron__Push *p = NULL;
    if (frameUnpackPush(f->payload, f->len, &p, err, sizeof err) == 0) {
        CHECK(p->kind[0] != '\0');
        raftcron__push__free_unpacked(p, NULL);
    } else {
        CHECK(p == NULL);
    }
    Raftcron__GoAway *g = NULL;
    if (frameUnpackGoAway(f->payload, f->len, &g, err, sizeof err) == 0) {
        raftcron__go_away__free_unpacked(g, NULL);
    } else {
        CHECK(g == NULL);
    }
}

static void onFrame(const struct rc_frame *f, void *arg)
{
    struct record *r = arg;
    CHECK(frameTypeName(f->type) != NULL && f->payload != NULL);
    r->frames++;
    r->hash = mix(mix(mix(r->hash, f->type), f->stream), f->len);
    for (size_t i = 0; i < f->len; i++) {
        r->hash = mix(r->hash, f->payload[i]);
    }
}

/* Only the chunked run unpacks, so that each payload is tried once. */
static void onFrameUnpack(const struct rc_frame *f, void *arg)
{
    onFrame(f, arg);
    tryRequest(f);
    tryResponse(f);
    tryPushAndGoAway(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t max = data[0] == 255 ? 0 : (size_t)RC_FRAME_MIN_LENGTH + data[0];
    uint32_t x = (uint32_t)data[1] * 2654435761u + (uint32_t)size + 1;
    const uint8_t *stream = data + 2;
    size_t len = size - 2;

    struct rc_frame_decoder whole, chunked;
    struct record rw = {0, 0}, rc = {0, 0};
    frameDecoderInit(&whole, max);
    frameDecoderInit(&chunked, max);
    int rv_whole = frameDecoderFeed(&whole, stream, len, onFrame, &rw);
    int rv_chunked = 0;
    for (size_t off = 0; off < len && rv_chunked == 0;) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t n = 1 + x % 32;
        n = n < len - off ? n : len - off;
        rv_chunked = frameDecoderFeed(&chunked, stream + off, n, onFrameUnpack, &rc);
        off += n;
    }
    CHECK(rv_whole == rv_chunked);
    CHECK(rw.frames == rc.frames && rw.hash == rc.hash);
    CHECK(strcmp(frameDecoderError(&whole), frameDecoderError(&chunked)) == 0);
    CHECK(chunked.buf_cap <= chunked.max_frame - RC_FRAME_MIN_LENGTH);
    if (rv_whole != 0) {
        CHECK(frameDecoderError(&whole)[0] != '\0');
        size_t before = rw.frames;
        CHECK(frameDecoderFeed(&whole, stream, len, onFrame, &rw) == rv_whole);
        CHECK(rw.frames == before);
    }
    frameDecoderClose(&whole);
    frameDecoderClose(&chunked);
    return 0;
}
