#include "command.h"

#include <stdlib.h>

#include "err.h"

/* protobuf-c reports an allocation failure and malformed input the same way (NULL). This
 * allocator remembers the former so that the two can be told apart. It uses malloc/free so that
 * decoded messages, and parts detached from them, can be freed with the default allocator. */
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

int commandUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                  ProtobufCMessage **out)
{
    struct tracking_allocator a = {
        .base = {.alloc = trackingAlloc, .free = trackingFree, .allocator_data = NULL},
        .failed = false,
    };
    a.base.allocator_data = &a;
    /* protobuf-c never reads buf when len is 0, but it must not be NULL for it. */
    static const uint8_t empty[1];
    const uint8_t *data = len > 0 ? buf : empty;
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &a.base, len, data);
    if (msg == NULL) {
        *out = NULL;
        return a.failed ? RC_ENOMEM : RC_EPARSE;
    }
    if (a.failed) {
        protobuf_c_message_free_unpacked(msg, NULL);
        *out = NULL;
        return RC_ENOMEM;
    }
    *out = msg;
    return 0;
}

int commandDecode(const void *buf, size_t len, Raftcron__Command **out)
{
    ProtobufCMessage *msg;
    int rv = commandUnpack(&raftcron__command__descriptor, buf, len, &msg);
    *out = (Raftcron__Command *)msg;
    return rv;
}

void commandFree(Raftcron__Command *cmd)
{
    if (cmd != NULL) {
        raftcron__command__free_unpacked(cmd, NULL);
    }
}

const char *commandName(const Raftcron__Command *cmd)
{
    switch (cmd->cmd_case) {
    case RAFTCRON__COMMAND__CMD_JOB_PUT:
        return "job_put";
    case RAFTCRON__COMMAND__CMD_JOB_DELETE:
        return "job_delete";
    case RAFTCRON__COMMAND__CMD_JOB_PAUSE:
        return "job_pause";
    case RAFTCRON__COMMAND__CMD_JOB_RESUME:
        return "job_resume";
    case RAFTCRON__COMMAND__CMD_MEMBER_SET:
        return "member_set";
    default:
        return "unknown";
    }
}

int commandPack(const ProtobufCMessage *msg, void **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *b = malloc(n > 0 ? n : 1);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    *len = protobuf_c_message_pack(msg, b);
    *buf = b;
    return 0;
}

int commandEncodeJobPut(const Raftcron__JobSpec *spec, uint64_t expected_version, bool create_only,
                        bool paused, int64_t now_us, void **buf, size_t *len)
{
    if (spec == NULL) {
        return RC_EINVAL;
    }
    Raftcron__JobPut put = RAFTCRON__JOB_PUT__INIT;
    /* Packing only reads the spec: the cast does not let it be modified. */
    put.spec = (Raftcron__JobSpec *)spec;
    put.expected_version = expected_version;
    put.create_only = create_only;
    put.paused = paused;
    put.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = RAFTCRON__COMMAND__CMD_JOB_PUT;
    cmd.job_put = &put;
    return commandPack(&cmd.base, buf, len);
}

static int encodeJobRef(Raftcron__Command__CmdCase kind, const char *ns, const char *name,
                        uint64_t expected_version, int64_t now_us, void **buf, size_t *len)
{
    if (name == NULL) {
        return RC_EINVAL;
    }
    Raftcron__JobRef ref = RAFTCRON__JOB_REF__INIT;
    ref.namespace_ = (char *)(ns != NULL ? ns : "");
    ref.name = (char *)name;
    ref.expected_version = expected_version;
    ref.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = kind;
    switch (kind) {
    case RAFTCRON__COMMAND__CMD_JOB_DELETE:
        cmd.job_delete = &ref;
        break;
    case RAFTCRON__COMMAND__CMD_JOB_PAUSE:
        cmd.job_pause = &ref;
        break;
    default:
        cmd.job_resume = &ref;
        break;
    }
    return commandPack(&cmd.base, buf, len);
}

int commandEncodeJobDelete(const char *ns, const char *name, uint64_t expected_version,
                           int64_t now_us, void **buf, size_t *len)
{
    return encodeJobRef(RAFTCRON__COMMAND__CMD_JOB_DELETE, ns, name, expected_version, now_us, buf,
                        len);
}

int commandEncodeJobPause(const char *ns, const char *name, uint64_t expected_version,
                          int64_t now_us, void **buf, size_t *len)
{
    return encodeJobRef(RAFTCRON__COMMAND__CMD_JOB_PAUSE, ns, name, expected_version, now_us, buf,
                        len);
}

int commandEncodeJobResume(const char *ns, const char *name, uint64_t expected_version,
                           int64_t now_us, void **buf, size_t *len)
{
    return encodeJobRef(RAFTCRON__COMMAND__CMD_JOB_RESUME, ns, name, expected_version, now_us, buf,
                        len);
}

int commandEncodeMemberSet(uint64_t id, const char *rpc_addr, bool remove, void **buf, size_t *len)
{
    Raftcron__MemberSet set = RAFTCRON__MEMBER_SET__INIT;
    set.id = id;
    set.rpc_addr = (char *)(rpc_addr != NULL ? rpc_addr : "");
    set.remove = remove;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = RAFTCRON__COMMAND__CMD_MEMBER_SET;
    cmd.member_set = &set;
    return commandPack(&cmd.base, buf, len);
}
