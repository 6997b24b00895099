/*
 * A node's data dir (--data-dir): raft_uv's files (metadata1/2, segments, snapshots) and ours
 * beside them. This file owns what is ours and the checks made before raft_uv opens the dir:
 *
 *   cluster-id   the cluster's random id (hex), written once at bootstrap or --restore, or
 *                when a joining node adopts its cluster's (raft/transport.h); never changed.
 *
 * Damaged Raft metadata (term and vote) with a log on disk stops the node: restarting at an
 * older term would let it vote twice in a term (Raft §5.2). --restore seeds a pristine dir
 * from a backup (seed.h). Everything here runs before the loop serves anything (blocking I/O).
 */
#ifndef RC_RAFT_DATADIR_H
#define RC_RAFT_DATADIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backup.h"

#define DATADIR_CLUSTER_ID "cluster-id"

/* What to do about a damaged data dir, appended to the messages that refuse one. */
#define DATADIR_REMEDY                                                                             \
    "restore the data dir from a backup, or remove the node from the cluster and re-add it with "  \
    "an empty data dir"

/* The cluster id kept in dir, or 0 when there is none (or it cannot be read). */
uint64_t datadirReadClusterId(const char *dir);

/* Keep id in dir: a temporary file renamed into place after fsync. 0 or RC_EIO. */
int datadirWriteClusterId(const char *dir, uint64_t id);

/* Name of one file in dir that holds log entries (into name), or false if there is none: a
 * fresh (or missing) dir. */
bool datadirFindLog(const char *dir, char *name, size_t len);

/* 0 when raft_uv would load the term and vote this node last persisted (or the dir is fresh);
 * otherwise -1 with the reason in why. Reads only: raft_uv would delete a short file. */
int datadirCheckMetadata(const char *dir, char *why, size_t len);

/* --restore: check the backup file in full (core/backup.h), then seed dir, which must hold no
 * log, with its state as node id's only snapshot under a configuration of this node alone.
 * Fills info (what the backup is), seeded and seeded_index (what the seed holds). 0 or an RC_E*
 * code with a message in err. */
int datadirRestore(const char *dir, uint64_t id, const char *raft_addr, const char *backup,
                   struct rc_backup_info *info, struct rc_backup_summary *seeded,
                   uint64_t *seeded_index, char *err, size_t errlen);

#endif /* RC_RAFT_DATADIR_H */
