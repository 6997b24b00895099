#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/frame.h"

/* ---- Helpers ----------------------------------------------------------------------------------
 */

#define SINK_MAX 4096

struct seen {
    uint8_t type;
    uint32_t stream;
    size_t len;
    uint8_t *bytes;     /* copy of the payload */
    const uint8_t *ptr; /* where the decoder pointed */
    uint64_t at;        /* sink->fed when it was delivered */
};

struct sink {
    struct seen f[SINK_MAX];
    size_t n;
    uint64_t fed; /* bytes fed so far, maintained by the feeding test */
};

static struct sink *sinkNew(void)
{
    struct sink *s = calloc(1, sizeof *s);
    assert_non_null(s);
    return s;
}

static void sinkFree(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->f[i].bytes);
    }
    free(s);
}

static void collect(const struct rc_frame *f, void *arg)
{
    struct sink *s = arg;
    assert_true(s->n < SINK_MAX);
    assert_non_null(f->payload);
    struct seen *x = &s->f[s->n++];
    x->type = f->type;
    x->stream = f->stream;
    x->len = f->len;
    x->bytes = malloc(f->len > 0 ? f->len : 1);
    assert_non_null(x->bytes);
    memcpy(x->bytes, f->payload, f->len);
    x->ptr = f->payload;
    x->at = s->fed;
}

static void mustNotBeCalled(const struct rc_frame *f, void *arg)
{
    (void)arg;
    fail_msg("unexpected frame type %u stream %u", f->type, f->stream);
}

/* Append one frame to buf at *off (buf holds cap bytes). */
static void put(uint8_t *buf, size_t cap, size_t *off, uint8_t type, uint32_t stream,
                const void *payload, size_t len)
{
    assert_int_equal(frameEncode(type, stream, payload, len, buf + *off, cap - *off), 0);
    *off += RC_FRAME_HEADER_SIZE + len;
}

static void assertFrame(const struct seen *x, uint8_t type, uint32_t stream, const void *payload,
                        size_t len)
{
    assert_int_equal(x->type, type);
    assert_int_equal(x->stream, stream);
    assert_int_equal(x->len, len);
    assert_memory_equal(x->bytes, payload, len);
}

/* One frame of every type, with distinct streams and payloads, some empty. */
static size_t everyType(uint8_t *buf, size_t cap)
{
    size_t off = 0;
    put(buf, cap, &off, RC_FRAME_REQUEST, 1, "req", 3);
    put(buf, cap, &off, RC_FRAME_RESPONSE, 1, "resp\0bin", 8);
    put(buf, cap, &off, RC_FRAME_PUSH, 0x80000000u, "push", 4);
    put(buf, cap, &off, RC_FRAME_CANCEL, 77, NULL, 0);
    put(buf, cap, &off, RC_FRAME_PING, 0, "12345678", 8);
    put(buf, cap, &off, RC_FRAME_PONG, 0, "12345678", 8);
    put(buf, cap, &off, RC_FRAME_GOAWAY, UINT32_MAX, "bye", 3);
    return off;
}

static void assertEveryType(const struct sink *s)
{
    assert_int_equal(s->n, 7);
    assertFrame(&s->f[0], RC_FRAME_REQUEST, 1, "req", 3);
    assertFrame(&s->f[1], RC_FRAME_RESPONSE, 1, "resp\0bin", 8);
    assertFrame(&s->f[2], RC_FRAME_PUSH, 0x80000000u, "push", 4);
    assertFrame(&s->f[3], RC_FRAME_CANCEL, 77, "", 0);
    assertFrame(&s->f[4], RC_FRAME_PING, 0, "12345678", 8);
    assertFrame(&s->f[5], RC_FRAME_PONG, 0, "12345678", 8);
    assertFrame(&s->f[6], RC_FRAME_GOAWAY, UINT32_MAX, "bye", 3);
}

/* ---- Framing ----------------------------------------------------------------------------------
 */

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(frameTypeName(RC_FRAME_REQUEST), "REQUEST");
    assert_string_equal(frameTypeName(RC_FRAME_RESPONSE), "RESPONSE");
    assert_string_equal(frameTypeName(RC_FRAME_PUSH), "PUSH");
    assert_string_equal(frameTypeName(RC_FRAME_CANCEL), "CANCEL");
    assert_string_equal(frameTypeName(RC_FRAME_PING), "PING");
    assert_string_equal(frameTypeName(RC_FRAME_PONG), "PONG");
    assert_string_equal(frameTypeName(RC_FRAME_GOAWAY), "GOAWAY");
    assert_null(frameTypeName(0));
    assert_null(frameTypeName(8));
    assert_null(frameTypeName(255));
    assert_null(frameTypeName(1000));
}

/* The layout of docs/rpc.md, byte for byte. */
static void test_header_layout(void **state)
{
    (void)state;
    uint8_t h[RC_FRAME_HEADER_SIZE];
    assert_int_equal(frameWriteHeader(h, RC_FRAME_REQUEST, 0x01020304u, 3), 0);
    const uint8_t want1[] = {0x00, 0x00, 0x00, 0x08, 0x01, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(h, want1, sizeof want1);

    assert_int_equal(frameWriteHeader(h, RC_FRAME_GOAWAY, 0xA1B2C3D4u, 0x00ABCDEFu - 5), 0);
    const uint8_t want2[] = {0x00, 0xAB, 0xCD, 0xEF, 0x07, 0xA1, 0xB2, 0xC3, 0xD4};
    assert_memory_equal(h, want2, sizeof want2);

    assert_int_equal(frameWriteHeader(h, RC_FRAME_PING, 0, 0), 0);
    const uint8_t want3[] = {0x00, 0x00, 0x00, 0x05, 0x05, 0x00, 0x00, 0x00, 0x00};
    assert_memory_equal(h, want3, sizeof want3);

    assert_int_equal(frameWriteHeader(h, RC_FRAME_PUSH, 1, RC_FRAME_PAYLOAD_MAX), 0);
    const uint8_t want4[] = {0x40, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01};
    assert_memory_equal(h, want4, sizeof want4);
}

static void test_header_errors(void **state)
{
    (void)state;
    uint8_t h[RC_FRAME_HEADER_SIZE];
    assert_int_equal(frameWriteHeader(h, 0, 1, 0), RC_EINVAL);
    assert_int_equal(frameWriteHeader(h, 8, 1, 0), RC_EINVAL);
    assert_int_equal(frameWriteHeader(h, RC_FRAME_PUSH, 1, (size_t)RC_FRAME_PAYLOAD_MAX + 1),
                     RC_ETOOBIG);
}

static void test_encode(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(frameEncode(RC_FRAME_RESPONSE, 42, "abc", 3, out, 12), 0);
    const uint8_t want[] = {0, 0, 0, 8, 2, 0, 0, 0, 42, 'a', 'b', 'c'};
    assert_memory_equal(out, want, sizeof want);

    /* Too small by one: nothing written. */
    memset(out, 0xEE, sizeof out);
    assert_int_equal(frameEncode(RC_FRAME_RESPONSE, 42, "abc", 3, out, 11), RC_ERANGE);
    assert_int_equal(frameEncode(RC_FRAME_RESPONSE, 42, NULL, 0, out, 8), RC_ERANGE);
    for (size_t i = 0; i < sizeof out; i++) {
        assert_int_equal(out[i], 0xEE);
    }
    assert_int_equal(frameEncode(9, 42, "abc", 3, out, sizeof out), RC_EINVAL);
    assert_int_equal(frameEncode(RC_FRAME_CANCEL, 5, NULL, 0, out, 9), 0);
    const uint8_t cancel[] = {0, 0, 0, 5, 4, 0, 0, 0, 5};
    assert_memory_equal(out, cancel, sizeof cancel);
}

/* Hand-written bytes, not produced by our encoder. */
static void test_decode_hand_written(void **state)
{
    (void)state;
    const uint8_t wire[] = {0x00, 0x00, 0x00, 0x07, 0x03, 0xDE, 0xAD, 0xBE, 0xEF, 0x68,
                            0x69, 0x00, 0x00, 0x00, 0x05, 0x06, 0x00, 0x00, 0x01, 0x00};
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct sink *s = sinkNew();
    assert_int_equal(frameDecoderFeed(&dec, wire, sizeof wire, collect, s), 0);
    assert_int_equal(s->n, 2);
    assertFrame(&s->f[0], RC_FRAME_PUSH, 0xDEADBEEFu, "hi", 2);
    assertFrame(&s->f[1], RC_FRAME_PONG, 256, "", 0);
    assert_string_equal(frameDecoderError(&dec), "");
    assert_int_equal(dec.offset, sizeof wire);
    frameDecoderClose(&dec);
    sinkFree(s);
}

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len = everyType(buf, sizeof buf);
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct sink *s = sinkNew();
    assert_int_equal(frameDecoderFeed(&dec, buf, len, collect, s), 0);
    assertEveryType(s);
    assert_int_equal(dec.state, RC_FRAME_DECODER_HEADER);
    frameDecoderClose(&dec);
    sinkFree(s);
}

/* Each frame is delivered exactly when its last byte arrives, not before, not later. */
static void test_one_byte_at_a_time(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len = everyType(buf, sizeof buf);
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct sink *s = sinkNew();
    for (size_t i = 0; i < len; i++) {
        s->fed = i + 1;
        assert_int_equal(frameDecoderFeed(&dec, buf + i, 1, collect, s), 0);
    }
    assertEveryType(s);
    size_t end = 0;
    const size_t payloads[] = {3, 8, 4, 0, 8, 8, 3};
    for (size_t k = 0; k < 7; k++) {
        end += RC_FRAME_HEADER_SIZE + payloads[k];
        assert_int_equal(s->f[k].at, end);
    }
    assert_int_equal(frameDecoderFeed(&dec, NULL, 0, collect, s), 0);
    assert_int_equal(s->n, 7);
    frameDecoderClose(&dec);
    sinkFree(s);
}

/* Every split of the stream into two feeds, and a few thousand random chunkings. */
static void test_any_split(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len = everyType(buf, sizeof buf);
    for (size_t cut = 0; cut <= len; cut++) {
        struct rc_frame_decoder dec;
        frameDecoderInit(&dec, 64);
        struct sink *s = sinkNew();
        assert_int_equal(frameDecoderFeed(&dec, buf, cut, collect, s), 0);
        assert_int_equal(frameDecoderFeed(&dec, buf + cut, len - cut, collect, s), 0);
        assertEveryType(s);
        frameDecoderClose(&dec);
        sinkFree(s);
    }
    uint32_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        struct rc_frame_decoder dec;
        frameDecoderInit(&dec, 64);
        struct sink *s = sinkNew();
        for (size_t off = 0; off < len;) {
            x = x * 1103515245u + 12345u;
            size_t n = 1 + (x >> 16) % 24;
            n = n > len - off ? len - off : n;
            assert_int_equal(frameDecoderFeed(&dec, buf + off, n, collect, s), 0);
            off += n;
        }
        assertEveryType(s);
        frameDecoderClose(&dec);
        sinkFree(s);
    }
}

/* Frames that arrive whole are handed over from the caller's bytes: no copy, no allocation. */
static void test_many_frames_one_chunk(void **state)
{
    (void)state;
    enum { N = 3000 };
    size_t cap = N * (RC_FRAME_HEADER_SIZE + 8);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    size_t off = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t p[8];
        memcpy(p, &i, sizeof i);
        memcpy(p + 4, &i, sizeof i);
        put(buf, cap, &off, (uint8_t)(1 + i % 7), i * 7919u, p, i % 9);
    }
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct sink *s = sinkNew();
    size_t half = off / 2;
    assert_int_equal(frameDecoderFeed(&dec, buf, half, collect, s), 0);
    assert_int_equal(frameDecoderFeed(&dec, buf + half, off - half, collect, s), 0);
    assert_int_equal(s->n, N);
    size_t at = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t p[8];
        memcpy(p, &i, sizeof i);
        memcpy(p + 4, &i, sizeof i);
        assertFrame(&s->f[i], (uint8_t)(1 + i % 7), i * 7919u, p, i % 9);
        size_t end = at + RC_FRAME_HEADER_SIZE + i % 9;
        bool cut = at < half && half < end;
        if (i % 9 > 0 && !cut) {
            assert_ptr_equal(s->f[i].ptr, buf + at + RC_FRAME_HEADER_SIZE);
        }
        at = end;
    }
    /* Only the frame cut by the middle of the stream needed the buffer. */
    assert_true(dec.buf_cap <= 8);
    frameDecoderClose(&dec);
    sinkFree(s);
    free(buf);
}

static void countFrame(const struct rc_frame *f, void *arg)
{
    size_t *n = arg;
    (void)f;
    (*n)++;
}

struct big_check {
    size_t n;
    size_t len;
    uint8_t first, last;
};

static void checkBig(const struct rc_frame *f, void *arg)
{
    struct big_check *c = arg;
    c->n++;
    c->len = f->len;
    c->first = f->payload[0];
    c->last = f->payload[f->len - 1];
}

/* A 4 MiB frame in 1000-byte reads: its buffer is allocated once, at its exact size, and
 * released after delivery (it is above what a decoder keeps). */
static void test_large_frame_in_pieces(void **state)
{
    (void)state;
    size_t plen = 4u << 20;
    size_t len = RC_FRAME_HEADER_SIZE + plen;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(frameWriteHeader(buf, RC_FRAME_REQUEST, 9, plen), 0);
    for (size_t i = 0; i < plen; i++) {
        buf[RC_FRAME_HEADER_SIZE + i] = (uint8_t)(i * 31 + 7);
    }
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct big_check c = {0};
    assert_int_equal(frameDecoderFeed(&dec, buf, 1000, checkBig, &c), 0);
    assert_int_equal(dec.buf_cap, plen);
    const uint8_t *first_buf = dec.buf;
    size_t off = 1000;
    while (off < len) {
        size_t n = len - off < 1000 ? len - off : 1000;
        if (off + n < len) {
            assert_ptr_equal(dec.buf, first_buf);
            assert_int_equal(dec.buf_cap, plen);
        }
        assert_int_equal(frameDecoderFeed(&dec, buf + off, n, checkBig, &c), 0);
        off += n;
    }
    assert_int_equal(c.n, 1);
    assert_int_equal(c.len, plen);
    assert_int_equal(c.first, 7);
    assert_int_equal(c.last, (uint8_t)((plen - 1) * 31 + 7));
    assert_null(dec.buf);
    assert_int_equal(dec.buf_cap, 0);
    frameDecoderClose(&dec);
    free(buf);
}

/* A small buffer is kept for the next frame that arrives in pieces. */
static void test_small_buffer_reused(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t off = 0;
    put(buf, sizeof buf, &off, RC_FRAME_PING, 1, "0123456789", 10);
    put(buf, sizeof buf, &off, RC_FRAME_PING, 2, "abcdef", 6);
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    struct sink *s = sinkNew();
    assert_int_equal(frameDecoderFeed(&dec, buf, 12, collect, s), 0);
    const uint8_t *b = dec.buf;
    assert_non_null(b);
    assert_int_equal(dec.buf_cap, 10);
    assert_int_equal(frameDecoderFeed(&dec, buf + 12, 20, collect, s), 0);
    assert_int_equal(frameDecoderFeed(&dec, buf + 32, off - 32, collect, s), 0);
    assert_ptr_equal(dec.buf, b);
    assert_int_equal(dec.buf_cap, 10);
    assert_int_equal(s->n, 2);
    assertFrame(&s->f[0], RC_FRAME_PING, 1, "0123456789", 10);
    assertFrame(&s->f[1], RC_FRAME_PING, 2, "abcdef", 6);
    assert_ptr_equal(s->f[1].ptr, b);
    frameDecoderClose(&dec);
    assert_null(dec.buf);
    sinkFree(s);
}

static void test_max_boundary(void **state)
{
    (void)state;
    uint8_t payload[95];
    memset(payload, 'x', sizeof payload);
    uint8_t buf[RC_FRAME_HEADER_SIZE + 96];

    /* Length exactly 100 = max: accepted, also in pieces (then buffered at its size). */
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 100);
    assert_int_equal(dec.max_frame, 100);
    size_t n = 0;
    assert_int_equal(frameEncode(RC_FRAME_REQUEST, 1, payload, 95, buf, sizeof buf), 0);
    assert_int_equal(frameDecoderFeed(&dec, buf, 50, countFrame, &n), 0);
    assert_int_equal(dec.buf_cap, 95);
    assert_int_equal(
        frameDecoderFeed(&dec, buf + 50, RC_FRAME_HEADER_SIZE + 95 - 50, countFrame, &n), 0);
    assert_int_equal(n, 1);
    frameDecoderClose(&dec);

    /* Length 101: refused from the 4 length bytes alone, nothing allocated. */
    frameDecoderInit(&dec, 100);
    assert_int_equal(frameEncode(RC_FRAME_REQUEST, 1, payload, 95, buf, sizeof buf), 0);
    buf[3] = 101;
    assert_int_equal(frameDecoderFeed(&dec, buf, 3, mustNotBeCalled, NULL), 0);
    assert_int_equal(frameDecoderFeed(&dec, buf + 3, 1, mustNotBeCalled, NULL), RC_ETOOBIG);
    assert_int_equal(dec.state, RC_FRAME_DECODER_FAILED);
    assert_int_equal(dec.error, RC_ETOOBIG);
    assert_null(dec.buf);
    assert_int_equal(dec.buf_cap, 0);
    assert_string_equal(frameDecoderError(&dec),
                        "frame at byte 0: length 101 exceeds the maximum frame size of 100 bytes");
    frameDecoderClose(&dec);
}

/* A peer announcing 4 GiB costs us nothing; the default limit is 16 MiB exactly. */
static void test_default_and_clamped_max(void **state)
{
    (void)state;
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    assert_int_equal(dec.max_frame, RC_FRAME_MAX_DEFAULT);
    assert_int_equal(dec.max_frame, 16u * 1024 * 1024);
    uint8_t h[RC_FRAME_HEADER_SIZE];
    assert_int_equal(frameWriteHeader(h, RC_FRAME_REQUEST, 1, RC_FRAME_MAX_DEFAULT - 5), 0);
    assert_int_equal(frameDecoderFeed(&dec, h, sizeof h, mustNotBeCalled, NULL), 0);
    assert_int_equal(dec.state, RC_FRAME_DECODER_PAYLOAD);
    assert_int_equal(dec.buf_cap, 0); /* nothing until the first payload byte */
    frameDecoderClose(&dec);

    frameDecoderInit(&dec, 0);
    const uint8_t over[] = {0x01, 0x00, 0x00, 0x01};
    assert_int_equal(frameDecoderFeed(&dec, over, sizeof over, mustNotBeCalled, NULL), RC_ETOOBIG);
    assert_int_equal(dec.buf_cap, 0);
    frameDecoderClose(&dec);

    frameDecoderInit(&dec, 0);
    const uint8_t huge[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0, 0, 1};
    assert_int_equal(frameDecoderFeed(&dec, huge, sizeof huge, mustNotBeCalled, NULL), RC_ETOOBIG);
    assert_non_null(strstr(frameDecoderError(&dec), "length 4294967295"));
    assert_int_equal(dec.buf_cap, 0);
    frameDecoderClose(&dec);

    frameDecoderInit(&dec, SIZE_MAX);
    assert_int_equal(dec.max_frame, RC_FRAME_MAX_LIMIT);
    frameDecoderClose(&dec);
    frameDecoderInit(&dec, 1);
    assert_int_equal(dec.max_frame, RC_FRAME_MIN_LENGTH);
    size_t n = 0;
    const uint8_t ping[] = {0, 0, 0, 5, 5, 0, 0, 0, 0, 0, 0, 0, 6, 5, 0, 0, 0, 0, 1};
    assert_int_equal(frameDecoderFeed(&dec, ping, sizeof ping, countFrame, &n), RC_ETOOBIG);
    assert_int_equal(n, 1);
    frameDecoderClose(&dec);
}

static void test_length_below_minimum(void **state)
{
    (void)state;
    for (uint8_t length = 0; length < RC_FRAME_MIN_LENGTH; length++) {
        struct rc_frame_decoder dec;
        frameDecoderInit(&dec, 0);
        const uint8_t wire[] = {0, 0, 0, length, 1, 0, 0, 0, 1};
        assert_int_equal(frameDecoderFeed(&dec, wire, sizeof wire, mustNotBeCalled, NULL),
                         RC_EPARSE);
        assert_non_null(strstr(frameDecoderError(&dec), "below the minimum of 5"));
        assert_int_equal(dec.buf_cap, 0);
        frameDecoderClose(&dec);
    }
}

/* Frames before the bad one are delivered; the message says where the bad one starts. */
static void test_unknown_type(void **state)
{
    (void)state;
    const uint8_t types[] = {0, 8, 0x7F, 0xFF};
    for (size_t i = 0; i < sizeof types; i++) {
        uint8_t buf[64];
        size_t off = 0;
        put(buf, sizeof buf, &off, RC_FRAME_PING, 3, "ab", 2);
        const uint8_t bad[] = {0, 0, 0, 6, types[i], 0, 0, 0, 1, 'z'};
        memcpy(buf + off, bad, sizeof bad);
        off += sizeof bad;
        struct rc_frame_decoder dec;
        frameDecoderInit(&dec, 0);
        struct sink *s = sinkNew();
        assert_int_equal(frameDecoderFeed(&dec, buf, off, collect, s), RC_EPARSE);
        assert_int_equal(s->n, 1);
        assertFrame(&s->f[0], RC_FRAME_PING, 3, "ab", 2);
        char want[80];
        snprintf(want, sizeof want, "frame at byte 11: unknown frame type %u", types[i]);
        assert_string_equal(frameDecoderError(&dec), want);
        assert_int_equal(dec.buf_cap, 0);
        frameDecoderClose(&dec);
        sinkFree(s);
    }
}

static void test_state_after_error(void **state)
{
    (void)state;
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    const uint8_t bad[] = {0, 0, 0, 5, 9, 0, 0, 0, 0};
    assert_int_equal(frameDecoderFeed(&dec, bad, sizeof bad, mustNotBeCalled, NULL), RC_EPARSE);
    char msg[RC_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "%s", frameDecoderError(&dec));

    /* A good frame afterwards is not decoded: the stream position is lost for good. */
    uint8_t good[16];
    assert_int_equal(frameEncode(RC_FRAME_PING, 1, "x", 1, good, sizeof good), 0);
    assert_int_equal(frameDecoderFeed(&dec, good, 10, mustNotBeCalled, NULL), RC_EPARSE);
    assert_int_equal(frameDecoderFeed(&dec, NULL, 0, mustNotBeCalled, NULL), RC_EPARSE);
    assert_int_equal(dec.state, RC_FRAME_DECODER_FAILED);
    assert_string_equal(frameDecoderError(&dec), msg);

    frameDecoderClose(&dec);
    frameDecoderClose(&dec);
    assert_int_equal(dec.state, RC_FRAME_DECODER_CLOSED);
    assert_int_equal(frameDecoderFeed(&dec, good, 10, mustNotBeCalled, NULL), RC_EINVAL);
    assert_string_equal(frameDecoderError(&dec), "frame decoder is closed");

    /* Init starts over. */
    frameDecoderInit(&dec, 0);
    assert_string_equal(frameDecoderError(&dec), "");
    size_t n = 0;
    assert_int_equal(frameDecoderFeed(&dec, good, 10, countFrame, &n), 0);
    assert_int_equal(n, 1);
    frameDecoderClose(&dec);
}

/* Closing in the middle of a buffered payload frees it (ASan reports a leak otherwise). */
static void test_close_mid_frame(void **state)
{
    (void)state;
    uint8_t buf[64];
    assert_int_equal(frameEncode(RC_FRAME_REQUEST, 1, "0123456789abcdef", 16, buf, sizeof buf), 0);
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    assert_int_equal(frameDecoderFeed(&dec, buf, 12, mustNotBeCalled, NULL), 0);
    assert_int_equal(dec.state, RC_FRAME_DECODER_PAYLOAD);
    assert_int_equal(dec.buf_cap, 16);
    frameDecoderClose(&dec);
    assert_null(dec.buf);
    assert_int_equal(dec.buf_cap, 0);
}

/* ---- Envelopes --------------------------------------------------------------------------------
 */

/* Pack, then decode the frame, then unpack: what the two ends of a connection do. */
static void packAndDecode(uint8_t type, uint32_t stream, const ProtobufCMessage *msg,
                          struct sink *s)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = framePack(type, stream, msg, &frame, &len, err, sizeof err);
    if (rv != 0) {
        fail_msg("framePack: %s", err);
    }
    struct rc_frame_decoder dec;
    frameDecoderInit(&dec, 0);
    assert_int_equal(frameDecoderFeed(&dec, frame, len, collect, s), 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->f[0].type, type);
    assert_int_equal(s->f[0].stream, stream);
    assert_int_equal(s->f[0].len + RC_FRAME_HEADER_SIZE, len);
    frameDecoderClose(&dec);
    free(frame);
}

static void test_request_roundtrip(void **state)
{
    (void)state;
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = "Job.Put";
    req.deadline_us = INT64_C(1735689600000000);
    req.auth_token = "s3cret";
    uint8_t body[] = {0, 1, 2, 0xFF, 0};
    req.payload.data = body;
    req.payload.len = sizeof body;
    struct sink *s = sinkNew();
    packAndDecode(RC_FRAME_REQUEST, 41, &req.base, s);

    Raftcron__Request *got = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(frameUnpackRequest(s->f[0].bytes, s->f[0].len, &got, err, sizeof err), 0);
    assert_string_equal(got->method, "Job.Put");
    assert_int_equal(got->deadline_us, INT64_C(1735689600000000));
    assert_string_equal(got->auth_token, "s3cret");
    assert_int_equal(got->payload.len, sizeof body);
    assert_memory_equal(got->payload.data, body, sizeof body);
    raftcron__request__free_unpacked(got, NULL);
    sinkFree(s);
}

/* framePack's bytes against a hand-encoded protobuf: other clients must produce the same. */
static void test_request_wire_bytes(void **state)
{
    (void)state;
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = "Job.Get";
    req.deadline_us = 1;
    uint8_t *frame = NULL;
    size_t len = 0;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(framePack(RC_FRAME_REQUEST, 42, &req.base, &frame, &len, err, sizeof err), 0);
    const uint8_t want[] = {0x00, 0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x2A, 0x0A,
                            0x07, 'J',  'o',  'b',  '.',  'G',  'e',  't',  0x10, 0x01};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(frame, want, sizeof want);
    free(frame);

    /* And hand-encoded bytes unpack: a Response {status 14, leader_hint "10.0.0.2:7001",
     * leader_id 2}. */
    const uint8_t resp[] = {0x08, 0x0E, 0x1A, 0x0D, '1', '0', '.', '0',  '.', '0',
                            '.',  '2',  ':',  '7',  '0', '0', '1', 0x20, 0x02};
    Raftcron__Response *r = NULL;
    assert_int_equal(frameUnpackResponse(resp, sizeof resp, &r, err, sizeof err), 0);
    assert_int_equal(r->status, RC_STATUS_UNAVAILABLE);
    assert_string_equal(r->message, "");
    assert_string_equal(r->leader_hint, "10.0.0.2:7001");
    assert_int_equal(r->leader_id, 2);
    assert_int_equal(r->payload.len, 0);
    raftcron__response__free_unpacked(r, NULL);
}

static void test_response_push_goaway_roundtrip(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;
    resp.status = RC_STATUS_UNAVAILABLE;
    resp.message = "not the leader: é €";
    resp.leader_hint = "127.0.0.1:7002";
    resp.leader_id = 2;
    resp.payload.data = (uint8_t *)"xyz";
    resp.payload.len = 3;
    struct sink *s = sinkNew();
    packAndDecode(RC_FRAME_RESPONSE, 7, &resp.base, s);
    Raftcron__Response *r = NULL;
    assert_int_equal(frameUnpackResponse(s->f[0].bytes, s->f[0].len, &r, err, sizeof err), 0);
    assert_int_equal(r->status, RC_STATUS_UNAVAILABLE);
    assert_string_equal(r->message, "not the leader: é €");
    assert_string_equal(r->leader_hint, "127.0.0.1:7002");
    assert_int_equal(r->leader_id, 2);
    assert_int_equal(r->payload.len, 3);
    assert_memory_equal(r->payload.data, "xyz", 3);
    raftcron__response__free_unpacked(r, NULL);
    sinkFree(s);

    Raftcron__Push push = RAFTCRON__PUSH__INIT;
    push.kind = "Run.Assign";
    push.payload.data = (uint8_t *)"\x08\x01";
    push.payload.len = 2;
    s = sinkNew();
    packAndDecode(RC_FRAME_PUSH, 3, &push.base, s);
    Raftcron__Push *p = NULL;
    assert_int_equal(frameUnpackPush(s->f[0].bytes, s->f[0].len, &p, err, sizeof err), 0);
    assert_string_equal(p->kind, "Run.Assign");
    assert_int_equal(p->payload.len, 2);
    assert_memory_equal(p->payload.data, "\x08\x01", 2);
    raftcron__push__free_unpacked(p, NULL);
    sinkFree(s);

    Raftcron__GoAway bye = RAFTCRON__GO_AWAY__INIT;
    bye.reason = "shutting down 😀";
    s = sinkNew();
    packAndDecode(RC_FRAME_GOAWAY, 0, &bye.base, s);
    Raftcron__GoAway *g = NULL;
    assert_int_equal(frameUnpackGoAway(s->f[0].bytes, s->f[0].len, &g, err, sizeof err), 0);
    assert_string_equal(g->reason, "shutting down 😀");
    raftcron__go_away__free_unpacked(g, NULL);
    sinkFree(s);
}

/* Defaults are legal on the wire: an empty Response is status OK, an empty GoAway no reason. */
static void test_empty_envelopes(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE] = "";
    Raftcron__Response *r = NULL;
    assert_int_equal(frameUnpackResponse(NULL, 0, &r, err, sizeof err), 0);
    assert_int_equal(r->status, RC_STATUS_OK);
    assert_string_equal(r->message, "");
    raftcron__response__free_unpacked(r, NULL);
    Raftcron__GoAway *g = NULL;
    assert_int_equal(frameUnpackGoAway((const uint8_t *)"", 0, &g, err, sizeof err), 0);
    assert_string_equal(g->reason, "");
    raftcron__go_away__free_unpacked(g, NULL);

    Raftcron__Request *q = (Raftcron__Request *)&err; /* must be reset to NULL */
    assert_int_equal(frameUnpackRequest(NULL, 0, &q, err, sizeof err), RC_EPARSE);
    assert_null(q);
    assert_string_equal(err, "request: empty method");
    Raftcron__Push *p = NULL;
    assert_int_equal(frameUnpackPush(NULL, 0, &p, err, sizeof err), RC_EPARSE);
    assert_null(p);
    assert_string_equal(err, "push: empty kind");
}

static void test_pack_errors(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    uint8_t *out = (uint8_t *)err;
    size_t len = 99;
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = "Job.Get";
    Raftcron__Response resp = RAFTCRON__RESPONSE__INIT;

    assert_int_equal(framePack(RC_FRAME_PING, 1, &req.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "frame type 5 carries no envelope");
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(framePack(0, 1, &req.base, &out, &len, err, sizeof err), RC_EINVAL);
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &resp.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "REQUEST frame: expected a raftcron.Request message, got "
                             "raftcron.Response");
    assert_int_equal(framePack(RC_FRAME_RESPONSE, 1, NULL, &out, &len, err, sizeof err), RC_EINVAL);
    assert_null(out);

    req.method = "";
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &req.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "request: empty method");
    req.method = NULL;
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &req.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    req.method = "Job.Get";
    req.deadline_us = -1;
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &req.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "request: negative deadline_us -1");
    req.deadline_us = 0;
    req.auth_token = "\xC3\x28"; /* invalid continuation byte */
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &req.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "request: auth_token is not valid UTF-8");
    req.auth_token = NULL; /* NULL strings are sent as "" */
    assert_int_equal(framePack(RC_FRAME_REQUEST, 1, &req.base, &out, &len, err, sizeof err), 0);
    free(out);

    resp.message = "cut \xE2\x82"; /* a UTF-8 sequence cut short, as %.100s can do */
    assert_int_equal(framePack(RC_FRAME_RESPONSE, 1, &resp.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "response: message is not valid UTF-8");

    Raftcron__Push push = RAFTCRON__PUSH__INIT;
    assert_int_equal(framePack(RC_FRAME_PUSH, 1, &push.base, &out, &len, err, sizeof err),
                     RC_EINVAL);
    assert_string_equal(err, "push: empty kind");
}

/* Every strict prefix of a packed Request that cuts a field in two is malformed. */
static void test_unpack_truncated(void **state)
{
    (void)state;
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = "Job.Put";
    req.deadline_us = INT64_C(1735689600000000);
    req.auth_token = "token";
    req.payload.data = (uint8_t *)"0123456789";
    req.payload.len = 10;
    uint8_t buf[128];
    size_t len = raftcron__request__pack(&req, buf);
    /* Field boundaries: after method (2+7), deadline (1+8), token (2+5), payload (2+10). */
    const size_t bounds[] = {9, 18, 25};
    assert_int_equal(len, 37);
    char err[RC_ERRMSG_SIZE];
    for (size_t cut = 1; cut < len; cut++) {
        bool boundary = false;
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
            boundary = boundary || bounds[b] == cut;
        }
        Raftcron__Request *got = NULL;
        int rv = frameUnpackRequest(buf, cut, &got, err, sizeof err);
        if (boundary) {
            assert_int_equal(rv, 0);
            raftcron__request__free_unpacked(got, NULL);
            continue;
        }
        assert_int_equal(rv, RC_EPARSE);
        assert_null(got);
        char want[64];
        snprintf(want, sizeof want, "request: malformed protobuf (%zu bytes)", cut);
        assert_string_equal(err, want);
    }
}

struct bad_case {
    const char *what;
    const char *bytes;
    size_t len;
    const char *err;
};

static void test_unpack_garbage(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"method as varint (wrong wire type)", "\x08\x01", 2,
         "request: malformed protobuf (2 bytes)"},
        {"a Response read as a Request", "\x08\x0E\x12\x01x", 5,
         "request: malformed protobuf (5 bytes)"},
        {"deadline as a string", "\x0A\x01x\x12\x01y", 6, "request: malformed protobuf (6 bytes)"},
        {"field number 0", "\x02\x00", 2, "request: malformed protobuf (2 bytes)"},
        {"start group", "\x0A\x01x\x7B", 4, "request: malformed protobuf (4 bytes)"},
        {"wire type 7", "\x0A\x01x\x7F\x00", 5, "request: malformed protobuf (5 bytes)"},
        {"varint of 11 bytes", "\x0A\x01x\x78\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 15,
         "request: malformed protobuf (15 bytes)"},
        {"length past the end",
         "\x0A\x05"
         "ab",
         4, "request: malformed protobuf (4 bytes)"},
        {"length of 2^63", "\x0A\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11,
         "request: malformed protobuf (11 bytes)"},
        {"all ones", "\xFF\xFF\xFF\xFF", 4, "request: malformed protobuf (4 bytes)"},
        {"negative deadline", "\x0A\x01x\x10\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 14,
         "request: negative deadline_us -1"},
        {"method not UTF-8", "\x0A\x02\xFF\xFE", 4,
         "request: method is not valid UTF-8 without NUL"},
        {"NUL in method", "\x0A\x03J\x00x", 5, "request: method is not valid UTF-8 without NUL"},
        {"overlong NUL", "\x0A\x03J\xC0\x80", 5, "request: method is not valid UTF-8 without NUL"},
        {"surrogate", "\x0A\x04J\xED\xA0\x80", 6, "request: method is not valid UTF-8 without NUL"},
        {"above U+10FFFF", "\x0A\x05J\xF4\x90\x80\x80", 7,
         "request: method is not valid UTF-8 without NUL"},
        {"bad token", "\x0A\x01x\x1A\x01\x80", 6,
         "request: auth_token is not valid UTF-8 without NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[RC_ERRMSG_SIZE] = "";
        Raftcron__Request *got = NULL;
        int rv = frameUnpackRequest((const uint8_t *)cases[i].bytes, cases[i].len, &got, err,
                                    sizeof err);
        if (rv != RC_EPARSE || strcmp(err, cases[i].err) != 0) {
            fail_msg("%s: rv %d, \"%s\"", cases[i].what, rv, err);
        }
        assert_null(got);
    }
    /* Bytes are not strings: any value goes in payload. */
    Raftcron__Request *ok = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(
        frameUnpackRequest((const uint8_t *)"\x0A\x01x\x22\x02\xFF\x00", 7, &ok, err, sizeof err),
        0);
    assert_int_equal(ok->payload.len, 2);
    raftcron__request__free_unpacked(ok, NULL);
}

/* Unknown fields are skipped (a newer peer may add some), but no envelope may carry more than
 * RC_FRAME_ENVELOPE_FIELDS_MAX fields: that is what bounds the allocation. */
static void test_field_limit(void **state)
{
    (void)state;
    uint8_t buf[3 * 70];
    size_t len = 0;
    for (int i = 0; i < RC_FRAME_ENVELOPE_FIELDS_MAX; i++) {
        buf[len++] = 0x0A; /* method, again and again: the last one wins */
        buf[len++] = 0x01;
        buf[len++] = (uint8_t)('a' + i % 26);
    }
    char err[RC_ERRMSG_SIZE];
    Raftcron__Request *got = NULL;
    assert_int_equal(frameUnpackRequest(buf, len, &got, err, sizeof err), 0);
    assert_string_equal(got->method, "l"); /* 63 % 26 = 11 */
    raftcron__request__free_unpacked(got, NULL);

    buf[len++] = 0x78; /* field 15, varint 0: unknown */
    buf[len++] = 0x00;
    assert_int_equal(frameUnpackRequest(buf, len, &got, err, sizeof err), RC_EPARSE);
    assert_string_equal(err, "request: more than 64 fields (194 bytes)");
    assert_null(got);

    const uint8_t newer[] = {0x0A, 0x01, 'x', 0x78, 0x05, 0x82, 0x01, 0x02, 'h', 'i'};
    assert_int_equal(frameUnpackRequest(newer, sizeof newer, &got, err, sizeof err), 0);
    assert_string_equal(got->method, "x");
    raftcron__request__free_unpacked(got, NULL);

    /* A 1 MiB payload of 2-byte unknown fields is refused without unpacking. */
    size_t big = 1u << 20;
    uint8_t *many = malloc(big);
    assert_non_null(many);
    for (size_t i = 0; i < big; i += 2) {
        many[i] = 0x78;
        many[i + 1] = 0x00;
    }
    Raftcron__Response *r = NULL;
    assert_int_equal(frameUnpackResponse(many, big, &r, err, sizeof err), RC_EPARSE);
    assert_string_equal(err, "response: more than 64 fields (1048576 bytes)");
    assert_null(r);
    free(many);
}

static void test_unpack_too_big(void **state)
{
    (void)state;
    /* The length is refused before a byte is read, so a small buffer is enough. */
    const uint8_t one[1] = {0};
    char err[RC_ERRMSG_SIZE];
    Raftcron__GoAway *g = (Raftcron__GoAway *)err;
    assert_int_equal(frameUnpackGoAway(one, (size_t)RC_FRAME_PAYLOAD_MAX + 1, &g, err, sizeof err),
                     RC_ETOOBIG);
    assert_null(g);
    assert_string_equal(err, "goaway: 1073741820 bytes exceed the payload limit of 1073741819");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_decode_hand_written),
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_any_split),
        cmocka_unit_test(test_many_frames_one_chunk),
        cmocka_unit_test(test_large_frame_in_pieces),
        cmocka_unit_test(test_small_buffer_reused),
        cmocka_unit_test(test_max_boundary),
        cmocka_unit_test(test_default_and_clamped_max),
        cmocka_unit_test(test_length_below_minimum),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_state_after_error),
        cmocka_unit_test(test_close_mid_frame),
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_request_wire_bytes),
        cmocka_unit_test(test_response_push_goaway_roundtrip),
        cmocka_unit_test(test_empty_envelopes),
        cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_unpack_truncated),
        cmocka_unit_test(test_unpack_garbage),
        cmocka_unit_test(test_field_limit),
        cmocka_unit_test(test_unpack_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
