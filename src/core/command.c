#include "command.h"

#include <stdlib.h>

#include "err.h"
#include "pbuf.h"

int commandUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                  ProtobufCMessage **out)
{
    return pbufUnpack(desc, buf, len, out);
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

/* The oneof's field names, from the descriptor: they cannot drift from the proto. */
const char *commandName(const Raftcron__Command *cmd)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&raftcron__command__descriptor, cmd->cmd_case);
    return fd != NULL ? fd->name : "unknown";
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

static int packCommand(Raftcron__Command *cmd, Raftcron__Command__CmdCase kind, void *body,
                       void **buf, size_t *len)
{
    cmd->cmd_case = kind;
    /* The oneof's members share one pointer (a union in protobuf-c). */
    cmd->fire_batch = body;
    return commandPack(&cmd->base, buf, len);
}

int commandEncodeFireBatch(int64_t now_us, Raftcron__FireItem *const *items, size_t n, void **buf,
                           size_t *len)
{
    if (items == NULL && n > 0) {
        return RC_EINVAL;
    }
    Raftcron__FireBatch b = RAFTCRON__FIRE_BATCH__INIT;
    b.now_us = now_us;
    b.items = (Raftcron__FireItem **)items;
    b.n_items = n;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_FIRE_BATCH, &b, buf, len);
}

int commandEncodeRunAssign(uint64_t run_id, uint64_t fence, uint64_t worker_id, int64_t now_us,
                           void **buf, size_t *len)
{
    Raftcron__RunAssign a = RAFTCRON__RUN_ASSIGN__INIT;
    a.run_id = run_id;
    a.fence = fence;
    a.worker_id = worker_id;
    a.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_RUN_ASSIGN, &a, buf, len);
}

int commandEncodeRunStarted(uint64_t run_id, uint64_t fence, int64_t now_us, void **buf,
                            size_t *len)
{
    Raftcron__RunStarted s = RAFTCRON__RUN_STARTED__INIT;
    s.run_id = run_id;
    s.fence = fence;
    s.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_RUN_STARTED, &s, buf, len);
}

int commandEncodeRunFinished(uint64_t run_id, uint64_t fence, uint32_t state,
                             const Raftcron__Outcome *outcome, int64_t now_us, void **buf,
                             size_t *len)
{
    Raftcron__RunFinished fin = RAFTCRON__RUN_FINISHED__INIT;
    fin.run_id = run_id;
    fin.fence = fence;
    fin.state = state;
    fin.outcome = (Raftcron__Outcome *)outcome;
    fin.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_RUN_FINISHED, &fin, buf, len);
}

int commandEncodeRunRetry(uint64_t run_id, uint64_t fence, int64_t not_before_us, int64_t now_us,
                          void **buf, size_t *len)
{
    Raftcron__RunRetry r = RAFTCRON__RUN_RETRY__INIT;
    r.run_id = run_id;
    r.fence = fence;
    r.not_before_us = not_before_us;
    r.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_RUN_RETRY, &r, buf, len);
}

int commandEncodeRunEnd(Raftcron__Command__CmdCase kind, uint64_t run_id, uint64_t fence,
                        const char *reason, int64_t now_us, void **buf, size_t *len)
{
    if (kind != RAFTCRON__COMMAND__CMD_RUN_DEAD && kind != RAFTCRON__COMMAND__CMD_RUN_LOST &&
        kind != RAFTCRON__COMMAND__CMD_RUN_CANCEL) {
        return RC_EINVAL;
    }
    Raftcron__RunEnd e = RAFTCRON__RUN_END__INIT;
    e.run_id = run_id;
    e.fence = fence;
    e.reason = (char *)(reason != NULL ? reason : "");
    e.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, kind, &e, buf, len);
}

int commandEncodeWorkerUp(const Raftcron__Worker *worker, int64_t now_us, void **buf, size_t *len)
{
    if (worker == NULL) {
        return RC_EINVAL;
    }
    Raftcron__WorkerUp up = RAFTCRON__WORKER_UP__INIT;
    up.worker = (Raftcron__Worker *)worker;
    up.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_WORKER_UP, &up, buf, len);
}

int commandEncodeWorkerDown(uint64_t worker_id, int64_t now_us, void **buf, size_t *len)
{
    Raftcron__WorkerDown d = RAFTCRON__WORKER_DOWN__INIT;
    d.worker_id = worker_id;
    d.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_WORKER_DOWN, &d, buf, len);
}

int commandEncodeExportMark(uint64_t position, bool gate, int64_t now_us, void **buf, size_t *len)
{
    Raftcron__ExportMark m = RAFTCRON__EXPORT_MARK__INIT;
    m.position = position;
    m.gate = gate;
    m.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    return packCommand(&cmd, RAFTCRON__COMMAND__CMD_EXPORT_MARK, &m, buf, len);
}
