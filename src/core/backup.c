#include "backup.h"

#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "err.h"
#include "fsm.h"

#define MAGIC     "RCBACKUP"
#define MAGIC_LEN 8

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

void backupHeaderEncode(const struct rc_backup_info *info, uint8_t out[RC_BACKUP_HEADER_LEN])
{
    memcpy(out, MAGIC, MAGIC_LEN);
    put32(out + 8, RC_BACKUP_FORMAT);
    put32(out + 12, fsmSnapshotFormat());
    put64(out + 16, info->index);
    put64(out + 24, info->term);
    put64(out + 32, info->cluster_id);
    put64(out + 40, info->node_id);
    put64(out + 48, (uint64_t)info->taken_us);
    put64(out + 56, info->snapshot_len);
}

int backupDecode(const void *buf, size_t len, struct rc_backup_info *info, const uint8_t **snapshot,
                 char *err, size_t errlen)
{
    const uint8_t *p = buf;
    if (len < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
        return errSet(err, errlen, RC_EPARSE,
                      "not a raftcron backup (no \"" MAGIC "\" at offset 0; %zu bytes)", len);
    }
    if (len < RC_BACKUP_HEADER_LEN) {
        return errSet(err, errlen, RC_EPARSE, "backup header cut short: %zu of %d bytes", len,
                      RC_BACKUP_HEADER_LEN);
    }
    memset(info, 0, sizeof *info);
    info->format = get32(p + 8);
    info->snapshot_format = get32(p + 12);
    info->index = get64(p + 16);
    info->term = get64(p + 24);
    info->cluster_id = get64(p + 32);
    info->node_id = get64(p + 40);
    info->taken_us = (int64_t)get64(p + 48);
    info->snapshot_len = get64(p + 56);
    if (info->format != RC_BACKUP_FORMAT) {
        return errSet(err, errlen, RC_ECORRUPT,
                      "backup file format %u at offset 8: this version reads format %d%s",
                      info->format, RC_BACKUP_FORMAT,
                      info->format > RC_BACKUP_FORMAT ? " (written by a newer raftcron)" : "");
    }
    if (info->snapshot_len != len - RC_BACKUP_HEADER_LEN) {
        return errSet(err, errlen, RC_EPARSE,
                      "backup holds %zu bytes of snapshot after its header, but the header "
                      "(offset 56) says %llu: the file is cut short or has bytes appended",
                      len - RC_BACKUP_HEADER_LEN, (unsigned long long)info->snapshot_len);
    }
    if (info->index == 0) {
        return errSet(err, errlen, RC_ECORRUPT, "backup header: applied index 0 (offset 16)");
    }
    *snapshot = p + RC_BACKUP_HEADER_LEN;
    return 0;
}

/* Forget every recorded member address by applying MemberSet removals, as the log would. */
static int forgetMembers(struct rc_fsm *f, uint64_t *index, size_t *forgotten)
{
    while (fsmMemberCount(f) > 0) {
        void *cmd;
        size_t len;
        struct rc_fsm_result res;
        int rv = commandEncodeMemberSet(fsmMemberIdAt(f, 0), NULL, true, &cmd, &len);
        if (rv != 0) {
            return rv;
        }
        rv = fsmApply(f, ++*index, cmd, len, &res);
        free(cmd);
        if (rv != 0) {
            return rv;
        }
        if (res.code != 0) {
            return RC_EINTERNAL; /* a member that cannot be forgotten: never loops */
        }
        ++*forgotten;
    }
    return 0;
}

int backupSeed(const uint8_t *snapshot, size_t len, uint64_t index, void **out, size_t *out_len,
               uint64_t *out_index, struct rc_backup_summary *sum, char *err, size_t errlen)
{
    struct rc_fsm *f;
    memset(sum, 0, sizeof *sum);
    if (fsmCreate(&f) != 0) {
        return errSet(err, errlen, RC_ENOMEM, "out of memory");
    }
    int rv = fsmRestore(f, index, snapshot, len, err, errlen);
    if (rv != 0) {
        goto out;
    }
    rv = forgetMembers(f, &index, &sum->members_forgotten);
    if (rv != 0) {
        errSet(err, errlen, rv, "forgetting the old members: %s", rc_strerror(rv));
        goto out;
    }
    struct rc_fsm_ledger_stats st;
    fsmLedgerStats(f, &st);
    sum->jobs = fsmJobCount(f);
    sum->runs = st.runs;
    rv = fsmSnapshot(f, out, out_len);
    if (rv != 0) {
        errSet(err, errlen, rv, "out of memory");
        goto out;
    }
    *out_index = index;
out:
    fsmDestroy(f);
    return rv;
}
