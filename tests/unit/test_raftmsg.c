/* The Raft message checks (src/core/raftmsg.c): what raft_uv 0.22 sends passes, split any way;
 * every shape its decoder would read out of bounds, and every term or configuration Raft
 * cannot produce, is refused before anything is allocated for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/raftmsg.h"

#define PEER 2

/* ---- Messages as raft_uv encodes them ------------------------------------------------------- */

struct msg {
    uint8_t b[8192];
    size_t n;
};

static void put8(struct msg *m, uint8_t v)
{
    assert_true(m->n < sizeof m->b);
    m->b[m->n++] = v;
}

static void put64(struct msg *m, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        put8(m, (uint8_t)(v >> (8 * i)));
    }
}

static void put32(struct msg *m, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        put8(m, (uint8_t)(v >> (8 * i)));
    }
}

static void putBytes(struct msg *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

/* The preamble; the header length is patched by finish(). */
static void begin(struct msg *m, uint8_t type, uint8_t version)
{
    m->n = 0;
    put8(m, type);
    put8(m, 0);
    put8(m, version);
    for (int i = 0; i < 5; i++) {
        put8(m, 0);
    }
    put64(m, 0);
}

static void setHeaderLen(struct msg *m, uint64_t len)
{
    for (int i = 0; i < 8; i++) {
        m->b[8 + i] = (uint8_t)(len >> (8 * i));
    }
}

/* A configuration of servers 1..n at "127.0.0.1:900N", all voters, padded to 8. */
static size_t conf(uint8_t *out, unsigned n)
{
    struct msg m = {.n = 0};
    put8(&m, 1);
    put64(&m, n);
    for (unsigned i = 1; i <= n; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:900%u", i);
        put64(&m, i);
        putBytes(&m, addr, strlen(addr) + 1);
        put8(&m, 1);
    }
    while (m.n % 8 != 0) {
        put8(&m, 0);
    }
    memcpy(out, m.b, m.n);
    return m.n;
}

/* AppendEntries at term 5 after (3, 4) with a command entry of 16 bytes and a configuration
 * entry, as a leader sends to catch a follower up. */
static void appendEntries(struct msg *m)
{
    uint8_t c[256];
    size_t clen = conf(c, 3);
    begin(m, RAFTMSG_APPEND_ENTRIES, 0);
    put64(m, 5); /* term */
    put64(m, 3); /* prev index */
    put64(m, 4); /* prev term */
    put64(m, 3); /* commit */
    put64(m, 2); /* n */
    put64(m, 4); /* entry 0: term, type 1, len 16 */
    put8(m, 1);
    put8(m, 0);
    put8(m, 0);
    put8(m, 0);
    put32(m, 16);
    put64(m, 5); /* entry 1: term, type 3 (change) */
    put8(m, 3);
    put8(m, 0);
    put8(m, 0);
    put8(m, 0);
    put32(m, (uint32_t)clen);
    put64(m, 0); /* unused */
    setHeaderLen(m, m->n - RAFTMSG_PREAMBLE_SIZE);
    putBytes(m,
             "RCE1\0\0\0\x08"
             "commands",
             16);
    putBytes(m, c, clen);
}

static void requestVote(struct msg *m, uint64_t term, uint64_t candidate)
{
    begin(m, RAFTMSG_REQUEST_VOTE, 2);
    put64(m, term);
    put64(m, candidate);
    put64(m, 10); /* last index */
    put64(m, 4);  /* last term */
    put64(m, 2);  /* flags: pre-vote */
    setHeaderLen(m, 40);
}

static void installSnapshot(struct msg *m)
{
    uint8_t c[256];
    size_t clen = conf(c, 2);
    begin(m, RAFTMSG_INSTALL_SNAPSHOT, 0);
    put64(m, 7);
    put64(m, 100);
    put64(m, 6);
    put64(m, 90);
    put64(m, clen);
    putBytes(m, c, clen);
    put64(m, 24); /* data length */
    put64(m, 0);
    setHeaderLen(m, m->n - RAFTMSG_PREAMBLE_SIZE);
    putBytes(m, "RCF1snapshot bytes......", 24);
}

static void simple(struct msg *m, uint8_t type, uint8_t version, unsigned words)
{
    begin(m, type, version);
    put64(m, 3); /* term */
    for (unsigned i = 1; i < words; i++) {
        put64(m, i == 1 && type == RAFTMSG_REQUEST_VOTE_RESULT ? 1 : 2);
    }
    setHeaderLen(m, m->n - RAFTMSG_PREAMBLE_SIZE);
}

static const struct raftmsg_options opts = {.peer_id = PEER, .allow_elections = true};

static int check(const struct msg *m, const struct raftmsg_options *o, char *err)
{
    return raftmsgCheck(m->b, m->n, o, NULL, err, RC_ERRMSG_SIZE);
}

/* ---- Reader helpers ---------------------------------------------------------------------- */

struct got {
    unsigned n;
    size_t bytes;
    unsigned types[16];
};

static void collect(uint8_t *msg, size_t len, const struct raftmsg_info *info, void *arg)
{
    struct got *g = arg;
    assert_true(g->n < 16);
    g->types[g->n++] = info->type;
    g->bytes += len;
    free(msg);
}

/* Feed m in pieces of `step` bytes; returns the reader's result. */
static int feed(struct raftmsg_reader *r, const struct msg *m, size_t step, struct got *g)
{
    for (size_t off = 0; off < m->n; off += step) {
        size_t n = m->n - off < step ? m->n - off : step;
        int rv = raftmsgReaderFeed(r, m->b + off, n, collect, g);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* ---- Tests ---------------------------------------------------------------------------------- */

static void test_valid_messages_pass(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    struct msg m;
    struct raftmsg_info info;
    appendEntries(&m);
    assert_int_equal(raftmsgCheck(m.b, m.n, &opts, &info, err, sizeof err), 0);
    assert_int_equal(info.n_entries, 2);
    assert_int_equal(info.term, 5);
    requestVote(&m, 5, PEER);
    assert_int_equal(check(&m, &opts, err), 0);
    installSnapshot(&m);
    assert_int_equal(raftmsgCheck(m.b, m.n, &opts, &info, err, sizeof err), 0);
    assert_int_equal(info.payload_len, 24);
    simple(&m, RAFTMSG_APPEND_ENTRIES_RESULT, 2, 4);
    assert_int_equal(check(&m, &opts, err), 0);
    simple(&m, RAFTMSG_REQUEST_VOTE_RESULT, 2, 3);
    assert_int_equal(check(&m, &opts, err), 0);
    simple(&m, RAFTMSG_REQUEST_VOTE_RESULT, 1, 2);
    assert_int_equal(check(&m, &opts, err), 0);
    simple(&m, RAFTMSG_TIMEOUT_NOW, 0, 3);
    assert_int_equal(check(&m, &opts, err), 0);
}

/* The measured attack: a RequestVote whose header is one byte. raft_uv would read 40 bytes of
 * it (the term from the heap beyond); the preamble alone refuses it. */
static void test_truncated_request_vote(void **state)
{
    (void)state;
    struct msg m;
    begin(&m, RAFTMSG_REQUEST_VOTE, 2);
    setHeaderLen(&m, 1);
    put8(&m, 0xff);
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    assert_non_null(strstr(err, "RequestVote: header of 1 bytes"));
    struct raftmsg_reader r;
    raftmsgReaderInit(&r, &opts);
    struct got g = {0};
    assert_int_equal(feed(&r, &m, 16, &g), RC_EPARSE);
    assert_null(r.buf); /* nothing was allocated for it */
    assert_int_equal(g.n, 0);
    raftmsgReaderClose(&r);
}

static void test_shapes_refused(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    struct msg m;
    requestVote(&m, 5, PEER);
    m.n -= 8;
    setHeaderLen(&m, 32); /* a version-1 RequestVote: raft_uv still reads the flags */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    simple(&m, RAFTMSG_TIMEOUT_NOW, 0, 2);
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    simple(&m, RAFTMSG_REQUEST_VOTE_RESULT, 1, 3); /* version 1 reads 16: 24 is not its shape */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    begin(&m, 9, 0);
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    assert_non_null(strstr(err, "message type 9"));
    requestVote(&m, 5, PEER);
    m.b[1] = 1; /* reserved preamble byte */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
}

static void test_append_entries_refused(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    struct msg m;
    /* An entry length that is not a multiple of 8: raft_uv pads while placing entries and
     * would run past the payload. */
    appendEntries(&m);
    m.b[RAFTMSG_PREAMBLE_SIZE + 40 + 12] = 15;
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    assert_non_null(strstr(err, "entry 0 is 15 bytes"));
    /* The count does not match the header. */
    appendEntries(&m);
    m.b[RAFTMSG_PREAMBLE_SIZE + 32] = 3;
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    /* An entry from a later term than the message's. */
    appendEntries(&m);
    m.b[RAFTMSG_PREAMBLE_SIZE + 40 + 16] = 6;
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    /* An unknown entry type. */
    appendEntries(&m);
    m.b[RAFTMSG_PREAMBLE_SIZE + 40 + 8] = 4;
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    /* A payload shorter than the entries announce. */
    appendEntries(&m);
    m.n -= 8;
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    /* A malformed configuration entry (role 7). */
    appendEntries(&m);
    uint8_t c[256];
    size_t conf_at = m.n - conf(c, 3);
    m.b[conf_at + 9 + 8 + strlen("127.0.0.1:9001") + 1] = 7;
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    assert_non_null(strstr(err, "role 7"));
}

static void test_limits(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    struct msg m;
    /* A header claiming 2^40 bytes: refused from the preamble, before any allocation. */
    begin(&m, RAFTMSG_APPEND_ENTRIES, 0);
    setHeaderLen(&m, (uint64_t)1 << 40);
    struct raftmsg_reader r;
    raftmsgReaderInit(&r, &opts);
    struct got g = {0};
    assert_int_equal(feed(&r, &m, 1, &g), RC_ETOOBIG);
    assert_null(r.buf);
    raftmsgReaderClose(&r);
    /* A payload over the message limit: refused from the header. */
    struct raftmsg_options small = opts;
    small.max_message = 128;
    appendEntries(&m);
    assert_int_equal(check(&m, &small, err), RC_ETOOBIG);
    small.max_message = 0;
    small.max_entries = 1;
    assert_int_equal(check(&m, &small, err), RC_ETOOBIG);
}

static void test_votes(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    struct msg m;
    requestVote(&m, 5, 99); /* a candidate other than the authenticated peer */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    assert_non_null(strstr(err, "candidate 99 is not the sending peer 2"));
    requestVote(&m, 0, PEER);
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    requestVote(&m, 3, PEER); /* last log term 4 above term 3 */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    struct raftmsg_options outsider = opts;
    outsider.allow_elections = false;
    requestVote(&m, 5, PEER);
    assert_int_equal(check(&m, &outsider, err), RC_EPARSE);
    simple(&m, RAFTMSG_TIMEOUT_NOW, 0, 3);
    assert_int_equal(check(&m, &outsider, err), RC_EPARSE);
    appendEntries(&m);
    assert_int_equal(check(&m, &outsider, err), 0); /* it may still replicate */
}

static void test_configuration(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    uint8_t c[256];
    size_t n = conf(c, 3);
    assert_int_equal(raftmsgCheckConfiguration(c, n, err, sizeof err), 0);
    uint8_t bad[256];
    memcpy(bad, c, n);
    bad[0] = 2; /* format */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    memcpy(bad, c, n);
    memset(bad + 1, 0, 8); /* no servers */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    memcpy(bad, c, n);
    bad[1] = 200; /* 200 servers in 3 servers' bytes */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    memcpy(bad, c, n);
    memset(bad + 9, 0, 8); /* id 0 */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    memcpy(bad, c, n);
    bad[9 + 8 + 14 + 1 + 1] = 1; /* server 2 gets id 1 */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    assert_non_null(strstr(err, "repeats"));
    memcpy(bad, c, n);
    bad[n - 1] = 1; /* padding */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    memcpy(bad, c, n);
    memset(bad + 9 + 8, 'x', n - 9 - 8); /* an address without its NUL */
    assert_int_equal(raftmsgCheckConfiguration(bad, n, err, sizeof err), RC_EPARSE);
    assert_int_equal(raftmsgCheckConfiguration(c, n - 8, err, sizeof err), RC_EPARSE);
}

static void test_install_snapshot_refused(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    struct msg m;
    installSnapshot(&m);
    m.b[RAFTMSG_PREAMBLE_SIZE + 32] += 8; /* configuration length beyond its bytes */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    installSnapshot(&m);
    m.b[RAFTMSG_PREAMBLE_SIZE + 24] = 200; /* configuration index above the last index */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
    installSnapshot(&m);
    m.n += 8; /* payload longer than announced */
    assert_int_equal(check(&m, &opts, err), RC_EPARSE);
}

/* Every message of a stream comes out whole and in order, however the bytes are split; a
 * failure is sticky. */
static void test_reader_splits(void **state)
{
    (void)state;
    struct msg all = {.n = 0}, m;
    unsigned want[5];
    unsigned k = 0;
    appendEntries(&m);
    putBytes(&all, m.b, m.n);
    want[k++] = RAFTMSG_APPEND_ENTRIES;
    requestVote(&m, 5, PEER);
    putBytes(&all, m.b, m.n);
    want[k++] = RAFTMSG_REQUEST_VOTE;
    installSnapshot(&m);
    putBytes(&all, m.b, m.n);
    want[k++] = RAFTMSG_INSTALL_SNAPSHOT;
    simple(&m, RAFTMSG_APPEND_ENTRIES_RESULT, 2, 4);
    putBytes(&all, m.b, m.n);
    want[k++] = RAFTMSG_APPEND_ENTRIES_RESULT;
    for (size_t step = 1; step <= all.n; step = step * 3 + 1) {
        struct raftmsg_reader r;
        raftmsgReaderInit(&r, &opts);
        struct got g = {0};
        assert_int_equal(feed(&r, &all, step, &g), 0);
        assert_int_equal(g.n, k);
        assert_int_equal(g.bytes, all.n);
        for (unsigned i = 0; i < k; i++) {
            assert_int_equal(g.types[i], want[i]);
        }
        assert_int_equal(r.state, RAFTMSG_READER_PREAMBLE);
        raftmsgReaderClose(&r);
    }
    struct raftmsg_reader r;
    raftmsgReaderInit(&r, &opts);
    struct got g = {0};
    requestVote(&m, 5, 77);
    assert_int_equal(feed(&r, &m, 7, &g), RC_EPARSE);
    requestVote(&m, 5, PEER);
    assert_int_equal(feed(&r, &m, 7, &g), RC_EPARSE);
    assert_int_equal(g.n, 0);
    raftmsgReaderClose(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_messages_pass),
        cmocka_unit_test(test_truncated_request_vote),
        cmocka_unit_test(test_shapes_refused),
        cmocka_unit_test(test_append_entries_refused),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_votes),
        cmocka_unit_test(test_configuration),
        cmocka_unit_test(test_install_snapshot_refused),
        cmocka_unit_test(test_reader_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
