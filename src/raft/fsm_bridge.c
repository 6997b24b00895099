#include "fsm_bridge.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define SNAPSHOT_MAGIC "RCF1"
#define HEADER_LEN     12 /* magic + index */

/*
 * Results of applied entries, for the proposers' callbacks, in a ring keyed by Raft index.
 * libraft 0.22 applies a whole commit batch before it fires the callbacks, and under load more
 * batches may be applied before a callback runs, so a pointer handed to raft can outlive its
 * slot; the proposer therefore copies its result out by index (fsmBridgeResult), and a slot
 * overwritten meanwhile (RESULT_RING entries later) is detected by its stored index.
 */
#define RESULT_RING 4096

struct result_slot {
    raft_index index;
    struct rc_fsm_result res;
};

struct bridge {
    struct rc_fsm *core;      /* borrowed */
    struct raft *raft;        /* borrowed; NULL until fsmBridgeAttach */
    struct result_slot *ring; /* owned, RESULT_RING slots */
    struct rc_fsm_result scratch;
    char errmsg[RC_ERRMSG_SIZE];
};

/* Where the result of the entry at index goes: only a leader has proposers to read it. */
static struct rc_fsm_result *resultSlot(struct bridge *b, raft_index index)
{
    if (b->raft == NULL || raft_state(b->raft) != RAFT_LEADER) {
        return &b->scratch;
    }
    struct result_slot *s = &b->ring[index % RESULT_RING];
    s->index = index;
    return &s->res;
}

bool fsmBridgeResult(const struct raft_fsm *fsm, uint64_t index, struct rc_fsm_result *out)
{
    const struct bridge *b = fsm->data;
    const struct result_slot *s = &b->ring[index % RESULT_RING];
    if (s->index != index) {
        return false;
    }
    *out = s->res;
    return true;
}

/* raft advances last_applied after each entry, barrier and configuration entries included, so
 * during apply the entry's index is the next one. */
static raft_index entryIndex(const struct bridge *b)
{
    if (b->raft != NULL) {
        return raft_last_applied(b->raft) + 1;
    }
    return fsmAppliedIndex(b->core) + 1;
}

/*
 * Entry envelope: raft_uv stores entries in 8-byte units and refuses a buffer whose length is
 * not a multiple of 8, while protobuf cannot carry padding. So a command entry is
 * "RCE1", u32 big-endian command length, the command, then zeros up to a multiple of 8.
 */
#define ENTRY_MAGIC  "RCE1"
#define ENTRY_HEADER 8

int fsmBridgeEncodeEntry(const void *cmd, size_t len, struct raft_buffer *out)
{
    if (len > UINT32_MAX - 16) {
        return RC_ETOOBIG;
    }
    size_t total = ENTRY_HEADER + ((len + 7) & ~(size_t)7);
    uint8_t *p = raft_malloc(total);
    if (p == NULL) {
        return RC_ENOMEM;
    }
    memset(p, 0, total);
    memcpy(p, ENTRY_MAGIC, 4);
    p[4] = (uint8_t)(len >> 24);
    p[5] = (uint8_t)(len >> 16);
    p[6] = (uint8_t)(len >> 8);
    p[7] = (uint8_t)len;
    if (len > 0) {
        memcpy(p + ENTRY_HEADER, cmd, len);
    }
    out->base = p;
    out->len = total;
    return 0;
}

static bool entryUnwrap(const uint8_t **cmd, size_t *len)
{
    const uint8_t *p = *cmd;
    if (*len < ENTRY_HEADER || memcmp(p, ENTRY_MAGIC, 4) != 0) {
        return false;
    }
    size_t n = (size_t)p[4] << 24 | (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7];
    if (n > *len - ENTRY_HEADER) {
        return false;
    }
    *cmd = p + ENTRY_HEADER;
    *len = n;
    return true;
}

static int bridgeApply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct bridge *b = fsm->data;
    raft_index index = entryIndex(b);
    *result = NULL;
    struct rc_fsm_result *res = resultSlot(b, index);
    if (res == NULL) {
        errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "apply %llu: out of memory", index);
        return RAFT_NOMEM;
    }
    const uint8_t *cmd = buf->base;
    size_t len = buf->len;
    if (!entryUnwrap(&cmd, &len)) {
        /* Not our envelope: apply the raw bytes, which the FSM answers deterministically as a
         * malformed command (a no-op with RC_EPARSE on every replica). */
        cmd = buf->base;
        len = buf->len;
    }
    int rv = fsmApply(b->core, index, cmd, len, res);
    if (rv != 0) {
        errSet(b->errmsg, sizeof b->errmsg, rv, "apply %llu: %s", index, rc_strerror(rv));
        return RAFT_NOMEM;
    }
    *result = res;
    return 0;
}

static raft_index snapshotIndex(const struct bridge *b)
{
    if (b->raft != NULL) {
        return raft_last_applied(b->raft);
    }
    return fsmAppliedIndex(b->core);
}

int fsmBridgeEncodeSnapshot(uint64_t index, const void *body, size_t len, struct raft_buffer *out)
{
    out->len = HEADER_LEN + len;
    out->base = raft_malloc(out->len);
    if (out->base == NULL) {
        return RC_ENOMEM;
    }
    uint8_t *p = out->base;
    memcpy(p, SNAPSHOT_MAGIC, 4);
    for (int i = 0; i < 8; i++) {
        p[4 + i] = (uint8_t)(index >> (56 - 8 * i));
    }
    memcpy(p + HEADER_LEN, body, len);
    return 0;
}

static int bridgeSnapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct bridge *b = fsm->data;
    void *body;
    size_t len;
    if (fsmSnapshot(b->core, &body, &len) != 0) {
        goto err;
    }
    struct raft_buffer *out = raft_malloc(sizeof *out);
    if (out == NULL) {
        goto err_after_body;
    }
    if (fsmBridgeEncodeSnapshot(snapshotIndex(b), body, len, out) != 0) {
        goto err_after_out;
    }
    free(body);
    *bufs = out;
    *n_bufs = 1;
    return 0;

err_after_out:
    raft_free(out);
err_after_body:
    free(body);
err:
    errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "snapshot: out of memory");
    return RAFT_NOMEM;
}

static int bridgeRestore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct bridge *b = fsm->data;
    const uint8_t *p = buf->base;
    if (buf->len < HEADER_LEN || memcmp(p, SNAPSHOT_MAGIC, 4) != 0) {
        errSet(b->errmsg, sizeof b->errmsg, RC_ECORRUPT,
               "restore: not a raftcron snapshot (%zu bytes, no " SNAPSHOT_MAGIC " header)",
               buf->len);
        return RAFT_CORRUPT;
    }
    uint64_t index = 0;
    for (int i = 0; i < 8; i++) {
        index = (index << 8) | p[4 + i];
    }
    char err[RC_ERRMSG_SIZE];
    int rv = fsmRestore(b->core, index, p + HEADER_LEN, buf->len - HEADER_LEN, err, sizeof err);
    if (rv != 0) {
        errSet(b->errmsg, sizeof b->errmsg, rv, "restore at %llu: %s", (unsigned long long)index,
               err);
        return rv == RC_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
    }
    raft_free(buf->base);
    return 0;
}

int fsmBridgeInit(struct raft_fsm *out, struct rc_fsm *core)
{
    struct bridge *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return RC_ENOMEM;
    }
    b->ring = calloc(RESULT_RING, sizeof *b->ring);
    if (b->ring == NULL) {
        free(b);
        return RC_ENOMEM;
    }
    b->core = core;
    memset(out, 0, sizeof *out);
    out->version = 1;
    out->data = b;
    out->apply = bridgeApply;
    out->snapshot = bridgeSnapshot;
    out->restore = bridgeRestore;
    return 0;
}

void fsmBridgeAttach(struct raft_fsm *fsm, struct raft *r)
{
    struct bridge *b = fsm->data;
    b->raft = r;
}

void fsmBridgeClose(struct raft_fsm *fsm)
{
    struct bridge *b = fsm->data;
    if (b == NULL) {
        return;
    }
    free(b->ring);
    free(b);
    fsm->data = NULL;
}

const char *fsmBridgeErrmsg(const struct raft_fsm *fsm)
{
    const struct bridge *b = fsm->data;
    return b->errmsg;
}
