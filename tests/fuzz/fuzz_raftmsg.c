/*
 * Fuzz the Raft message checks (src/core/raftmsg.c) against an oracle of raft_uv 0.22's decoder.
 *
 * Input: byte 0 picks the options (bit 0: elections allowed; bit 1: a 4 KiB message limit; bit
 * 2: at most 4 entries), byte 1 seeds the chunking, the rest is a connection's byte stream. The
 * stream is read twice, whole and in chunks of 1-64 bytes; both runs must deliver the same
 * messages and end in the same error. Every delivered message must pass raftmsgCheck again, and
 * the oracle then walks it the way raft_uv's uvDecodeMessage, uvDecodeEntriesBatch and
 * configurationDecode do: every byte they would read must lie inside the message. That is the
 * property the checks exist for (an accepted message never makes libraft read out of bounds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/raftmsg.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct record {
    size_t messages;
    uint64_t hash;
    struct raftmsg_options o;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * UINT64_C(0x100000001b3);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* raft_uv's configurationDecode over len bytes at p: the reads it makes. */
static void oracleConfiguration(const uint8_t *p, size_t len)
{
    size_t off = 0;
    CHECK(len >= 9);
    off = 9;
    uint64_t n = le64(p + 1);
    for (uint64_t i = 0; i < n; i++) {
        CHECK(off + 8 <= len);
        off += 8;
        /* byteGetString: scans up to the remaining length for a NUL */
        const uint8_t *nul = memchr(p + off, 0, len - off);
        CHECK(nul != NULL);
        off = (size_t)(nul - p) + 1;
        CHECK(off + 1 <= len); /* the role byte */
        off++;
    }
}

/* What raft_uv reads of a message whose preamble said type, version and header length. */
static void oracle(const uint8_t *msg, size_t len)
{
    CHECK(len >= RAFTMSG_PREAMBLE_SIZE);
    unsigned type = msg[0], version = msg[2];
    uint64_t hl = le64(msg + 8);
    CHECK(hl > 0 && RAFTMSG_PREAMBLE_SIZE + hl <= len);
    const uint8_t *h = msg + RAFTMSG_PREAMBLE_SIZE;
    size_t payload = len - RAFTMSG_PREAMBLE_SIZE - (size_t)hl;
    switch (type) {
    case 1: { /* AppendEntries: 32 bytes, the batch header, entries placed with padding */
        CHECK(hl >= 40);
        uint64_t n = le64(h + 32);
        CHECK(40 + 16 * n <= hl);
        uint64_t sum = 0, placed = 0;
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *e = h + 40 + 16 * i;
            uint32_t elen = (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 |
                            (uint32_t)e[15] << 24;
            CHECK(e[8] >= 1 && e[8] <= 3);
            if (e[8] == 3) {
                CHECK(placed + elen <= payload);
                oracleConfiguration(h + hl + placed, elen);
            }
            sum += elen;
            placed += elen + (elen % 8 != 0 ? 8 - elen % 8 : 0);
        }
        CHECK(sum == payload && placed <= payload);
        break;
    }
    case 2: { /* AppendEntriesResult: v0 grows to v2 when longer than 24 */
        unsigned v = version == 0 && hl > 24 ? 2 : version;
        CHECK(hl >= 24 + (v >= 1 ? 2u : 0u) + (v >= 2 ? 2u : 0u));
        CHECK(payload == 0);
        break;
    }
    case 3: /* RequestVote: version 0 becomes 1 or 2, both read the flags */
        CHECK(hl >= 40 && payload == 0);
        break;
    case 4: { /* RequestVoteResult */
        unsigned v = version == 0 ? (hl == 16 ? 1 : 2) : version;
        CHECK(hl >= (v >= 2 ? 24u : 16u) && payload == 0);
        break;
    }
    case 5: { /* InstallSnapshot: 40 bytes, the configuration, the data length */
        CHECK(hl >= 40);
        uint64_t conf = le64(h + 32);
        CHECK(conf > 0 && 40 + conf + 8 <= hl);
        oracleConfiguration(h + 40, (size_t)conf);
        CHECK(le64(h + 40 + conf) == payload);
        break;
    }
    case 6:
        CHECK(hl >= 24 && payload == 0);
        break;
    default:
        CHECK(0);
    }
}

static void onMessage(uint8_t *msg, size_t len, const struct raftmsg_info *info, void *arg)
{
    struct record *r = arg;
    char err[RC_ERRMSG_SIZE];
    CHECK(raftmsgCheck(msg, len, &r->o, NULL, err, sizeof err) == 0);
    CHECK(info->type == msg[0]);
    CHECK(RAFTMSG_PREAMBLE_SIZE + info->header_len + info->payload_len == len);
    if (!r->o.allow_elections) {
        CHECK(info->type != RAFTMSG_REQUEST_VOTE && info->type != RAFTMSG_TIMEOUT_NOW);
    }
    oracle(msg, len);
    r->messages++;
    r->hash = mix(r->hash, len);
    for (size_t i = 0; i < len; i++) {
        r->hash = mix(r->hash, msg[i]);
    }
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    struct raftmsg_options o = {
        .peer_id = 2,
        .allow_elections = (data[0] & 1) != 0,
        .max_message = (data[0] & 2) != 0 ? 4096 : 0,
        .max_entries = (data[0] & 4) != 0 ? 4 : 0,
    };
    uint32_t x = (uint32_t)data[1] * 2654435761u + (uint32_t)size + 1;
    const uint8_t *stream = data + 2;
    size_t len = size - 2;
    struct raftmsg_reader whole, chunked;
    struct record rw = {0, 0, o}, rc = {0, 0, o};
    raftmsgReaderInit(&whole, &o);
    raftmsgReaderInit(&chunked, &o);
    int rv_whole = raftmsgReaderFeed(&whole, stream, len, onMessage, &rw);
    int rv_chunked = 0;
    for (size_t off = 0; off < len && rv_chunked == 0;) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t n = 1 + x % 64;
        n = n < len - off ? n : len - off;
        rv_chunked = raftmsgReaderFeed(&chunked, stream + off, n, onMessage, &rc);
        off += n;
    }
    CHECK(rv_whole == rv_chunked);
    CHECK(rw.messages == rc.messages && rw.hash == rc.hash);
    CHECK(strcmp(whole.errmsg, chunked.errmsg) == 0);
    if (rv_whole != 0) {
        CHECK(whole.errmsg[0] != '\0' && whole.buf == NULL);
        CHECK(raftmsgReaderFeed(&whole, stream, len, onMessage, &rw) == rv_whole);
    }
    raftmsgReaderClose(&whole);
    raftmsgReaderClose(&chunked);
    return 0;
}
