/*
 * Bad input on a live node's RPC port: oversized and garbage frames, unknown methods, truncated
 * protobufs, wrong message types, a wrong auth token. Each gets a status or a closed
 * connection — and the node keeps serving (DESIGN.md §6; rule: bad input loses nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/frame.h"
#include "harness.h"
#include "rpc.pb-c.h"

static int setup(void **state)
{
    harnessSetup(state);
    const char *const args[] = {"--bootstrap", "--auth-token", "s3cret", NULL};
    harnessStart(&H, 1, args);
    return 0;
}

static int dial(void)
{
    int64_t deadline = harnessNowMs() + 20000;
    while (harnessNowMs() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)(H.base_port + 1))};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            return fd;
        }
        close(fd);
        usleep(20000);
    }
    fail_msg("node did not listen");
    return -1;
}

/* Read one frame (or detect EOF: returns -1) within 5 s. */
static int readFrame(int fd, uint8_t *type, uint32_t *stream, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t hdr[RC_FRAME_HEADER_SIZE];
    size_t got = 0;
    while (got < sizeof hdr) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1) {
            fail_msg("no answer within 5 s");
        }
        ssize_t n = read(fd, hdr + got, sizeof hdr - got);
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
    }
    uint32_t length =
        (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    *type = hdr[4];
    *stream = (uint32_t)hdr[5] << 24 | (uint32_t)hdr[6] << 16 | (uint32_t)hdr[7] << 8 | hdr[8];
    *len = length - 5;
    assert_true(*len <= cap);
    got = 0;
    while (got < *len) {
        ssize_t n = read(fd, buf + got, *len - got);
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

static void sendRaw(int fd, const void *buf, size_t len)
{
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static void sendRequest(int fd, uint32_t stream, const char *method, const char *token,
                        const void *payload, size_t len)
{
    Raftcron__Request req = RAFTCRON__REQUEST__INIT;
    req.method = (char *)method;
    req.auth_token = (char *)token;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    uint8_t *frame;
    size_t flen;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(framePack(RC_FRAME_REQUEST, stream, &req.base, &frame, &flen, err, sizeof err),
                     0);
    sendRaw(fd, frame, flen);
    free(frame);
}

/* Expect a RESPONSE on stream with the status; returns the message (static). */
static const char *expectStatus(int fd, uint32_t stream, int status)
{
    static char msg[512];
    uint8_t buf[65536];
    uint8_t type;
    uint32_t s;
    size_t len;
    assert_int_equal(readFrame(fd, &type, &s, buf, sizeof buf, &len), 0);
    assert_int_equal(type, RC_FRAME_RESPONSE);
    assert_int_equal(s, stream);
    Raftcron__Response *resp = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(frameUnpackResponse(buf, len, &resp, err, sizeof err), 0);
    if ((int)resp->status != status) {
        fail_msg("stream %u: status %s (%s), expected %s", stream,
                 rc_status_name((int)resp->status), resp->message, rc_status_name(status));
    }
    snprintf(msg, sizeof msg, "%s", resp->message);
    raftcron__response__free_unpacked(resp, NULL);
    return msg;
}

static void expectClosed(int fd)
{
    uint8_t buf[1024];
    uint8_t type;
    uint32_t s;
    size_t len;
    assert_int_equal(readFrame(fd, &type, &s, buf, sizeof buf, &len), -1);
}

/* The node still answers a well-formed call. */
static void expectAlive(void)
{
    int fd = dial();
    Raftcron__DigestRequest d = RAFTCRON__DIGEST_REQUEST__INIT;
    d.stale = 1;
    uint8_t buf[16];
    size_t len = raftcron__digest_request__pack(&d, buf);
    sendRequest(fd, 99, "Cluster.Digest", "s3cret", buf, len);
    expectStatus(fd, 99, RC_STATUS_OK);
    close(fd);
}

static void test_bad_envelopes_get_statuses(void **state)
{
    (void)state;
    int fd = dial();
    sendRequest(fd, 1, "No.Such", "s3cret", NULL, 0);
    assert_non_null(strstr(expectStatus(fd, 1, RC_STATUS_UNIMPLEMENTED), "No.Such"));
    sendRequest(fd, 2, "Cluster.Digest", "wrong", NULL, 0);
    expectStatus(fd, 2, RC_STATUS_UNAUTHENTICATED);
    sendRequest(fd, 3, "Cluster.Digest", "", NULL, 0);
    expectStatus(fd, 3, RC_STATUS_UNAUTHENTICATED);
    /* A truncated payload of the right method. */
    static const uint8_t truncated[] = {0x0a, 0x20, 'a', 'b'};
    sendRequest(fd, 4, "Job.Get", "s3cret", truncated, sizeof truncated);
    assert_non_null(strstr(expectStatus(fd, 4, RC_STATUS_INVALID_ARGUMENT), "malformed"));
    /* A payload of the wrong type: a JobSpec where a JobPutRequest is expected, with a
     * string in the place of a message. */
    static const uint8_t wrong[] = {0x0a, 0x03, 'x', 'y', 'z', 0x10, 0x01};
    sendRequest(fd, 5, "Job.Put", "s3cret", wrong, sizeof wrong);
    expectStatus(fd, 5, RC_STATUS_INVALID_ARGUMENT);
    /* A request envelope that is not a protobuf at all. */
    uint8_t frame[64];
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(frameEncode(RC_FRAME_REQUEST, 6, junk, sizeof junk, frame, sizeof frame), 0);
    sendRaw(fd, frame, RC_FRAME_HEADER_SIZE + sizeof junk);
    expectStatus(fd, 6, RC_STATUS_INVALID_ARGUMENT);
    /* A ping is answered with a pong carrying the same payload. */
    assert_int_equal(frameEncode(RC_FRAME_PING, 7, "hi", 2, frame, sizeof frame), 0);
    sendRaw(fd, frame, RC_FRAME_HEADER_SIZE + 2);
    uint8_t buf[64];
    uint8_t type;
    uint32_t s;
    size_t len;
    assert_int_equal(readFrame(fd, &type, &s, buf, sizeof buf, &len), 0);
    assert_int_equal(type, RC_FRAME_PONG);
    assert_int_equal(s, 7);
    assert_memory_equal(buf, "hi", 2);
    close(fd);
    expectAlive();
}

static void test_bad_frames_close_the_connection(void **state)
{
    (void)state;
    /* Oversized: a 2 GiB length is refused from its header, before any allocation. */
    int fd = dial();
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1};
    sendRaw(fd, huge, sizeof huge);
    expectClosed(fd);
    close(fd);
    /* Unknown frame type. */
    fd = dial();
    static const uint8_t unknown[] = {0, 0, 0, 5, 42, 0, 0, 0, 1};
    sendRaw(fd, unknown, sizeof unknown);
    expectClosed(fd);
    close(fd);
    /* Length below the header. */
    fd = dial();
    static const uint8_t tiny[] = {0, 0, 0, 2, 1, 0};
    sendRaw(fd, tiny, sizeof tiny);
    expectClosed(fd);
    close(fd);
    /* A client must not send responses. */
    fd = dial();
    uint8_t frame[32];
    assert_int_equal(frameEncode(RC_FRAME_RESPONSE, 1, NULL, 0, frame, sizeof frame), 0);
    sendRaw(fd, frame, RC_FRAME_HEADER_SIZE);
    expectClosed(fd);
    close(fd);
    /* Plain garbage, e.g. an HTTP request on the RPC port. */
    fd = dial();
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    sendRaw(fd, http, strlen(http));
    expectClosed(fd);
    close(fd);
    /* Half a frame, then the client goes away. */
    fd = dial();
    static const uint8_t half[] = {0, 0, 1, 0, 1, 0, 0, 0, 1, 'x'};
    sendRaw(fd, half, sizeof half);
    close(fd);
    expectAlive();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_envelopes_get_statuses),
        cmocka_unit_test(test_bad_frames_close_the_connection),
    };
    return cmocka_run_group_tests(tests, setup, harnessTeardown);
}
