/*
 * Backup files (docs/operations.md, "Backup and restore"): what `raftcronctl cluster snapshot
 * save FILE` writes and `raftcrond --restore FILE` reads.
 *
 * A file is a 64-byte header, then the FSM's sealed snapshot (fsmSnapshot's bytes, which carry
 * their own checksum trailer and format number):
 *     0   "RCBACKUP"
 *     8   u32 file format (RC_BACKUP_FORMAT)      12  u32 snapshot format (fsmSnapshotFormat)
 *     16  u64 applied index of the state           24  u64 Raft term it was read in
 *     32  u64 id of the cluster it came from       40  u64 id of the node that took it
 *     48  i64 when it was taken (us since epoch)   56  u64 length of the snapshot that follows
 * all big-endian. The header is informative except the lengths and the index; the snapshot is
 * checked in full (seal, format, every rule of fsmRestore) before anything is seeded from it.
 */
#ifndef RC_CORE_BACKUP_H
#define RC_CORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#define RC_BACKUP_HEADER_LEN 64
#define RC_BACKUP_FORMAT     1

struct rc_backup_info {
    uint32_t format;          /* file format */
    uint32_t snapshot_format; /* the FSM snapshot's */
    uint64_t index;
    uint64_t term;
    uint64_t cluster_id;
    uint64_t node_id;
    int64_t taken_us;
    uint64_t snapshot_len;
};

/* Write the header of info (format fields are filled in here) into out. */
void backupHeaderEncode(const struct rc_backup_info *info, uint8_t out[RC_BACKUP_HEADER_LEN]);

/*
 * Read a whole backup file (buf, len bytes, borrowed): the header into *info and where the
 * snapshot starts (*snapshot points into buf, info->snapshot_len bytes). Returns 0, or
 * RC_EPARSE (not a backup file, cut short or with bytes after its end) / RC_ECORRUPT (a newer
 * file format, index 0) with a message naming what and at which offset.
 */
int backupDecode(const void *buf, size_t len, struct rc_backup_info *info, const uint8_t **snapshot,
                 char *err, size_t errlen);

/* What a seed holds, for the restoring node's log. */
struct rc_backup_summary {
    size_t jobs;
    size_t runs;
    size_t members_forgotten;
};

/*
 * The state a restored cluster starts from: the snapshot (borrowed) restored into a scratch FSM
 * (so every rule of fsmRestore is checked), the old cluster's member addresses forgotten (the
 * new cluster records its own; the old addresses must not be asked who leads), and sealed
 * again. *out (malloc'd, owned by the caller) is the new sealed snapshot, *out_index the
 * applied index it stands for (index, plus one per member forgotten). Returns 0, RC_ENOMEM, or
 * the fsmRestore error (RC_ECORRUPT, RC_EPARSE) with its message.
 */
int backupSeed(const uint8_t *snapshot, size_t len, uint64_t index, void **out, size_t *out_len,
               uint64_t *out_index, struct rc_backup_summary *sum, char *err, size_t errlen);

#endif /* RC_CORE_BACKUP_H */
