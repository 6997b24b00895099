/* Bounded protobuf decoding (src/core/pbuf.c): what a peer sends costs memory near its size,
 * nested strings are UTF-8 without NUL, and every refusal names the field and byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.pb-c.h"
#include "core/err.h"
#include "core/pbuf.h"

static uint8_t *packJobPut(const char *name, size_t *len)
{
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    spec.name = (char *)name;
    spec.namespace_ = "default";
    Raftcron__JobPutRequest req = RAFTCRON__JOB_PUT_REQUEST__INIT;
    req.spec = &spec;
    *len = raftcron__job_put_request__get_packed_size(&req);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    raftcron__job_put_request__pack(&req, buf);
    return buf;
}

static void test_valid(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = packJobPut("backup", &len);
    ProtobufCMessage *m = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len, NULL, &m,
                                       err, sizeof err),
                     0);
    Raftcron__JobPutRequest *req = (Raftcron__JobPutRequest *)m;
    assert_string_equal(req->spec->name, "backup");
    protobuf_c_message_free_unpacked(m, NULL);
    free(buf);
}

/* The measured amplification: a Job.Put padded with 2-byte unknown fields (tag 99, varint 0).
 * Refused by the walk, before protobuf-c allocates anything for it. */
static void test_unknown_fields(void **state)
{
    (void)state;
    size_t len;
    uint8_t *head = packJobPut("backup", &len);
    size_t n = 1 << 20;
    uint8_t *buf = malloc(len + 3 * n);
    assert_non_null(buf);
    memcpy(buf, head, len);
    for (size_t i = 0; i < n; i++) {
        buf[len + 3 * i] = 0x98; /* field 99, wire 0: two tag bytes */
        buf[len + 3 * i + 1] = 0x06;
        buf[len + 3 * i + 2] = 0x00;
    }
    ProtobufCMessage *m = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len + 3 * n,
                                       NULL, &m, err, sizeof err),
                     RC_ETOOBIG);
    assert_null(m);
    assert_non_null(strstr(err, "more than 64 unknown fields"));
    /* A few unknown fields (a newer client) are fine. */
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len + 3 * 10,
                                       NULL, &m, err, sizeof err),
                     0);
    protobuf_c_message_free_unpacked(m, NULL);
    free(buf);
    free(head);
}

/* Known fields can amplify too: empty elements of a repeated message field cost a struct each
 * for two bytes of wire. The memory estimate refuses them. */
static void test_amplification(void **state)
{
    (void)state;
    size_t n = 1 << 18;
    uint8_t *buf = malloc(2 * n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = 0x0A; /* JobListResponse.jobs (1), length-delimited */
        buf[2 * i + 1] = 0x00;
    }
    ProtobufCMessage *m = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(pbufUnpackBounded(&raftcron__job_list_response__descriptor, buf, 2 * n, NULL,
                                       &m, err, sizeof err),
                     RC_ETOOBIG);
    assert_non_null(strstr(err, "bytes of memory"));
    /* The allocator enforces the cap even when the walk's estimate would let it through. */
    struct pbuf_limits tight = {.max_alloc = 1 << 20};
    assert_int_equal(pbufUnpackBounded(&raftcron__job_list_response__descriptor, buf, 2 * 1000,
                                       &tight, &m, err, sizeof err),
                     0);
    protobuf_c_message_free_unpacked(m, NULL);
    free(buf);
}

static void test_nested_strings(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = packJobPut("bad\xffname", &len);
    ProtobufCMessage *m = NULL;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len, NULL, &m,
                                       err, sizeof err),
                     RC_EPARSE);
    assert_non_null(strstr(err, "JobSpec.name at byte"));
    free(buf);
    /* A NUL inside a string: a C string would end there. */
    buf = packJobPut("badXname", &len);
    uint8_t *x = memchr(buf, 'X', len);
    *x = '\0';
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len, NULL, &m,
                                       err, sizeof err),
                     RC_EPARSE);
    free(buf);
}

static void test_depth_and_garbage(void **state)
{
    (void)state;
    Raftcron__Policy policy = RAFTCRON__POLICY__INIT;
    policy.max_instances = 2;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    spec.name = "backup";
    spec.policy = &policy;
    Raftcron__JobPutRequest req = RAFTCRON__JOB_PUT_REQUEST__INIT;
    req.spec = &spec;
    uint8_t buf[256];
    size_t len = raftcron__job_put_request__pack(&req, buf);
    ProtobufCMessage *m = NULL;
    char err[RC_ERRMSG_SIZE];
    /* JobPutRequest → spec (depth 1) → policy (depth 2). */
    struct pbuf_limits two = {.max_depth = 2}, one = {.max_depth = 1};
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len, &two, &m,
                                       err, sizeof err),
                     0);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, buf, len, &one, &m,
                                       err, sizeof err),
                     RC_EPARSE);
    assert_non_null(strstr(err, "JobSpec.policy at byte"));
    assert_non_null(strstr(err, "nested deeper than 1"));
    static const uint8_t truncated[] = {0x0A, 0x10, 0x0A};
    assert_int_equal(pbufUnpackBounded(&raftcron__job_put_request__descriptor, truncated,
                                       sizeof truncated, NULL, &m, err, sizeof err),
                     RC_EPARSE);
    assert_non_null(strstr(err, "malformed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_amplification),
        cmocka_unit_test(test_nested_strings),
        cmocka_unit_test(test_depth_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
