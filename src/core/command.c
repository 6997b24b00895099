#include "command.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pbuf.h"

int commandUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                  ProtobufCMessage **out)
{
    return pbufUnpack(desc, buf, len, out);
}

/* ---- Wire scanning (no allocation) --------------------------------------------------------- */

static bool readVarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return true;
        }
    }
    return false;
}

/* Visit the top-level fields of a message: for each length-delimited field, fn(field, bytes).
 * False when the bytes are not a well-formed sequence of fields or fn says stop. */
static bool scanFields(const uint8_t *p, size_t len,
                       bool (*fn)(uint32_t field, const uint8_t *b, size_t n, void *arg), void *arg)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t key;
        uint64_t v;
        if (!readVarint(&p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX) {
            return false;
        }
        switch (key & 7) {
        case 0:
            if (!readVarint(&p, end, &v)) {
                return false;
            }
            break;
        case 1:
            if ((size_t)(end - p) < 8) {
                return false;
            }
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4) {
                return false;
            }
            p += 4;
            break;
        case 2:
            if (!readVarint(&p, end, &v) || v > (uint64_t)(end - p)) {
                return false;
            }
            if (fn != NULL && !fn((uint32_t)(key >> 3), p, (size_t)v, arg)) {
                return false;
            }
            p += v;
            break;
        default:
            return false;
        }
    }
    return true;
}

#define COMMAND_BATCH_FIELD 17 /* Command.batch */
#define BATCH_COMMANDS      1  /* Batch.commands */

static bool noBatch(uint32_t field, const uint8_t *b, size_t n, void *arg)
{
    (void)b;
    (void)n;
    (void)arg;
    return field != COMMAND_BATCH_FIELD;
}

static bool flatCommand(uint32_t field, const uint8_t *b, size_t n, void *arg)
{
    (void)arg;
    return field != BATCH_COMMANDS || scanFields(b, n, noBatch, NULL);
}

static bool flatBatch(uint32_t field, const uint8_t *b, size_t n, void *arg)
{
    (void)arg;
    return field != COMMAND_BATCH_FIELD || scanFields(b, n, flatCommand, NULL);
}

int commandDecode(const void *buf, size_t len, Raftcron__Command **out)
{
    /* Rule (proto Batch): no batch inside a batch. Refused before protobuf-c sees the bytes,
     * whose unpacking recurses once per level of nesting. */
    if (len > 0 && !scanFields(buf, len, flatBatch, NULL)) {
        *out = NULL;
        return RC_EPARSE;
    }
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

/* ---- Batches ------------------------------------------------------------------------------- */

static size_t varintLen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *putVarint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static int batchReserve(struct command_batch *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->buf, cap);
    if (p == NULL) {
        return RC_ENOMEM;
    }
    b->buf = p;
    b->cap = cap;
    return 0;
}

void commandBatchInit(struct command_batch *b)
{
    memset(b, 0, sizeof *b);
}

int commandBatchAdd(struct command_batch *b, const void *cmd, size_t len)
{
    if (cmd == NULL && len > 0) {
        return RC_EINVAL;
    }
    int rv = batchReserve(b, 1 + varintLen(len) + len);
    if (rv != 0) {
        return rv;
    }
    uint8_t *p = b->buf + b->len;
    *p++ = (uint8_t)(BATCH_COMMANDS << 3 | 2);
    p = putVarint(p, len);
    if (len > 0) {
        memcpy(p, cmd, len);
    }
    b->len = (size_t)(p - b->buf) + len;
    b->n++;
    return 0;
}

int commandBatchFinish(struct command_batch *b, void **buf, size_t *len)
{
    /* Command.batch is field 17: a two-byte key (17 << 3 | 2 = 138 = 0x8a 0x01). */
    size_t head = 2 + varintLen(b->len);
    uint8_t *out = malloc(head + b->len + 1);
    if (out == NULL) {
        return RC_ENOMEM;
    }
    uint8_t *p = out;
    p = putVarint(p, (uint64_t)COMMAND_BATCH_FIELD << 3 | 2);
    p = putVarint(p, b->len);
    if (b->len > 0) {
        memcpy(p, b->buf, b->len);
    }
    *len = (size_t)(p - out) + b->len;
    *buf = out;
    return 0;
}

void commandBatchReset(struct command_batch *b)
{
    b->len = 0;
    b->n = 0;
}

void commandBatchClose(struct command_batch *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

int commandEncodeRunAccept(uint64_t run_id, uint64_t fence, int64_t now_us, void **buf, size_t *len)
{
    Raftcron__RunAccept a = RAFTCRON__RUN_ACCEPT__INIT;
    a.run_id = run_id;
    a.fence = fence;
    a.now_us = now_us;
    Raftcron__Command cmd = RAFTCRON__COMMAND__INIT;
    cmd.cmd_case = RAFTCRON__COMMAND__CMD_RUN_ACCEPT;
    cmd.run_accept = &a;
    return commandPack(&cmd.base, buf, len);
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
