/*
 * Seeding a new cluster from a backup (raftcrond --restore, docs/operations.md "Backup and
 * restore"): the backup's state is written into a pristine data dir as an installed snapshot,
 * exactly as raft_uv stores one received from a leader (snapshot_put with no trailing entries),
 * with a configuration of this node as the only voter and the current term set to the
 * snapshot's. raft_start then loads it like any snapshot: the FSM is restored through the
 * bridge (every check of fsmRestore applies again) and the node elects itself.
 *
 * It runs on a private libuv loop with a private raft_uv instance, before the node's own is
 * opened; nothing of it outlives the call.
 */
#ifndef RC_RAFT_SEED_H
#define RC_RAFT_SEED_H

#include <stddef.h>
#include <stdint.h>

/* Write the sealed FSM snapshot body (borrowed), standing for applied index index, into the
 * data dir dir as node id at raft_addr's only state. dir must hold no Raft files. Returns 0 or
 * an RC_E* code with a message. */
int seedDataDir(const char *dir, uint64_t id, const char *raft_addr, const void *body, size_t len,
                uint64_t index, char *err, size_t errlen);

#endif /* RC_RAFT_SEED_H */
