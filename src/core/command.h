/*
 * Commands of the replicated log (DESIGN.md §3): building and encoding raftcron.Command entries
 * for the proposer, and decoding protobuf messages for the FSM.
 *
 * Rule: every time value in a command is the leader's wall clock, written here by the caller
 * (now_us); apply never reads a clock. Encoders produce deterministic bytes for equal inputs.
 *
 * Ownership: every encoder returns *buf malloc'd and owned by the caller (free()); inputs are
 * borrowed. Decoded messages are owned by the caller and freed with commandFree (or, for
 * messages from commandUnpack, protobuf_c_message_free_unpacked(msg, NULL)): they are
 * allocated with malloc, so sub-messages may be detached and freed on their own with the
 * default allocator.
 */
#ifndef RC_CORE_COMMAND_H
#define RC_CORE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftcron.pb-c.h"

/*
 * JobPut: create or update spec. expected_version != 0 asks for compare-and-set; create_only
 * fails with RC_EEXISTS when the job exists; paused creates the job paused (ignored on update).
 * Returns 0, RC_EINVAL (spec NULL) or RC_ENOMEM.
 */
int commandEncodeJobPut(const Raftcron__JobSpec *spec, uint64_t expected_version, bool create_only,
                        bool paused, int64_t now_us, void **buf, size_t *len);

/* JobDelete / JobPause / JobResume of namespace ns ("" or NULL: "default") and name.
 * Returns 0, RC_EINVAL (name NULL) or RC_ENOMEM. */
int commandEncodeJobDelete(const char *ns, const char *name, uint64_t expected_version,
                           int64_t now_us, void **buf, size_t *len);
int commandEncodeJobPause(const char *ns, const char *name, uint64_t expected_version,
                          int64_t now_us, void **buf, size_t *len);
int commandEncodeJobResume(const char *ns, const char *name, uint64_t expected_version,
                           int64_t now_us, void **buf, size_t *len);

/* MemberSet: record (remove = false) or forget (remove = true) the RPC address of member id.
 * rpc_addr may be NULL when removing. Returns 0 or RC_ENOMEM. */
int commandEncodeMemberSet(uint64_t id, const char *rpc_addr, bool remove, void **buf, size_t *len);

/* ---- Run ledger (docs/ledger.md). Each returns 0 or RC_ENOMEM (RC_EINVAL for a NULL input).
 * ---- */

/* FireBatch of n items (borrowed) decided at the leader's now_us. */
int commandEncodeFireBatch(int64_t now_us, Raftcron__FireItem *const *items, size_t n, void **buf,
                           size_t *len);
/* RunAssign: fence is the run's current fence (0 before its first assignment). */
int commandEncodeRunAssign(uint64_t run_id, uint64_t fence, uint64_t worker_id, int64_t now_us,
                           void **buf, size_t *len);
int commandEncodeRunStarted(uint64_t run_id, uint64_t fence, int64_t now_us, void **buf,
                            size_t *len);
/* state: RC_RUN_SUCCEEDED, RC_RUN_FAILED or RC_RUN_TIMED_OUT (runs.h); outcome may be NULL. */
int commandEncodeRunFinished(uint64_t run_id, uint64_t fence, uint32_t state,
                             const Raftcron__Outcome *outcome, int64_t now_us, void **buf,
                             size_t *len);
int commandEncodeRunRetry(uint64_t run_id, uint64_t fence, int64_t not_before_us, int64_t now_us,
                          void **buf, size_t *len);
/* RunDead, RunLost or RunCancel (kind), with a reason (NULL: ""). RunCancel's fence 0 cancels
 * whatever attempt is current. */
int commandEncodeRunEnd(Raftcron__Command__CmdCase kind, uint64_t run_id, uint64_t fence,
                        const char *reason, int64_t now_us, void **buf, size_t *len);
/* RunAccept: the worker holding fence accepted the run. */
int commandEncodeRunAccept(uint64_t run_id, uint64_t fence, int64_t now_us, void **buf,
                           size_t *len);

/*
 * A Batch command built from already encoded commands (group commit: one entry for many state
 * changes). The sub-commands are appended as bytes, never decoded again; commandBatchFinish
 * writes the whole Command. A batch must hold no batch (apply and commandDecode refuse it).
 * Ownership: the builder owns its buffer (commandBatchClose); *buf from Finish is the
 * caller's (free()). Add and Finish return 0 or RC_ENOMEM (RC_EINVAL: cmd NULL with len > 0).
 */
struct command_batch {
    uint8_t *buf; /* private */
    size_t len;   /* read-only: bytes of the commands field so far */
    size_t cap;   /* private */
    size_t n;     /* read-only: commands added */
};
void commandBatchInit(struct command_batch *b);
int commandBatchAdd(struct command_batch *b, const void *cmd, size_t len);
int commandBatchFinish(struct command_batch *b, void **buf, size_t *len);
/* Empty the batch, keeping its buffer for the next one. */
void commandBatchReset(struct command_batch *b);
void commandBatchClose(struct command_batch *b);

int commandEncodeWorkerUp(const Raftcron__Worker *worker, int64_t now_us, void **buf, size_t *len);
int commandEncodeWorkerDown(uint64_t worker_id, int64_t now_us, void **buf, size_t *len);
/* ExportMark (ledger.h ledgerApplyExportMark). */
int commandEncodeExportMark(uint64_t position, bool gate, int64_t now_us, void **buf, size_t *len);

/*
 * Decode any message of descriptor desc. Returns 0, RC_EPARSE (bytes that are not such a
 * message) or RC_ENOMEM — told apart, because a replica that mistook an allocation failure
 * for a malformed entry would silently diverge from the others.
 */
int commandUnpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                  ProtobufCMessage **out);

/* Decode a Command (as commandUnpack). Free with commandFree. */
int commandDecode(const void *buf, size_t len, Raftcron__Command **out);
void commandFree(Raftcron__Command *cmd);

/* "job_put", "job_delete", ..., "fire_batch", "run_assign", ..., "worker_down" (the oneof's
 * field name) or "unknown", for logs. */
const char *commandName(const Raftcron__Command *cmd);

/* Pack a message into a malloc'd buffer (*buf owned by the caller). Returns 0 or RC_ENOMEM. */
int commandPack(const ProtobufCMessage *msg, void **buf, size_t *len);

#endif /* RC_CORE_COMMAND_H */
