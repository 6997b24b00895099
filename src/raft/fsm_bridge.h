/*
 * The FSM seen by libraft: a struct raft_fsm (version 1, synchronous snapshots) whose apply,
 * snapshot and restore call the pure core (core/fsm.h). This file and cluster code are the
 * only places that include raft.h (DESIGN.md §7).
 *
 * Apply results. fsm->apply sets *result to a struct rc_fsm_result owned by the bridge; libraft
 * hands that pointer to the proposer's raft_apply callback. libraft 0.22 applies every entry
 * of a commit batch first and fires the callbacks after the batch, within the same I/O event,
 * so each entry applied on a leader gets its own slot, kept until two later batches have been
 * applied (a batch = the entries applied while raft's commit index had one value). The pointer
 * is therefore valid during the callback, and only then: copy what you need.
 * On non-leaders, where no callback can fire, one scratch slot is reused.
 *
 * Apply returns non-zero (RAFT_NOMEM) only when memory ran out: raft must then stop this node,
 * which can no longer follow the log. Business errors are results, never apply failures.
 *
 * Snapshot bytes: "RCF1", the Raft index the state reflects (8 bytes, big-endian), then
 * fsmSnapshot's sealed raftcron.Snapshot. libraft passes no index to restore, so the bridge
 * carries it; fsmRestore then records it as the applied index.
 *
 * Ownership: snapshot buffers are allocated with raft_malloc and freed by raft (no
 * snapshot_finalize). On a successful restore the bridge frees buf->base with raft_free, as
 * libraft requires; on failure it leaves it to raft.
 */
#ifndef RC_RAFT_FSM_BRIDGE_H
#define RC_RAFT_FSM_BRIDGE_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/fsm.h"

/* Fill *out to drive core (borrowed: it must outlive the bridge). Returns 0 or RC_ENOMEM.
 * Release with fsmBridgeClose after raft_close completed. */
int fsmBridgeInit(struct raft_fsm *out, struct rc_fsm *core);

/*
 * Let the bridge read r's applied and commit indexes; call after raft_init, before raft_start.
 * Required for exact applied indexes and for per-entry results when several entries commit
 * at once. Without it the bridge numbers command entries itself (skipping raft's barrier and
 * configuration entries) and reuses one result slot.
 */
void fsmBridgeAttach(struct raft_fsm *fsm, struct raft *r);

void fsmBridgeClose(struct raft_fsm *fsm);

/* Copy the result of the entry at index, applied on this node while it was leader, into *out.
 * False when it is not (or no longer: RESULT_RING entries later) available. */
bool fsmBridgeResult(const struct raft_fsm *fsm, uint64_t index, struct rc_fsm_result *out);

/* Wrap an encoded Command (borrowed) into a log entry buffer (out->base from raft_malloc,
 * handed to raft_apply): "RCE1", u32 big-endian length, the command, zero padding to a
 * multiple of 8 bytes, as raft_uv requires. Returns 0, RC_ENOMEM or RC_ETOOBIG. */
int fsmBridgeEncodeEntry(const void *cmd, size_t len, struct raft_buffer *out);

/* The snapshot bytes the bridge writes for the sealed FSM snapshot body (borrowed) standing
 * for applied index index: out->base from raft_malloc, owned by the caller (raft_free).
 * Returns 0 or RC_ENOMEM. For seeding a data dir from a backup (seed.h). */
int fsmBridgeEncodeSnapshot(uint64_t index, const void *body, size_t len, struct raft_buffer *out);

/* Why the last apply, snapshot or restore failed (borrowed; "" when none did). */
const char *fsmBridgeErrmsg(const struct raft_fsm *fsm);

#endif /* RC_RAFT_FSM_BRIDGE_H */
