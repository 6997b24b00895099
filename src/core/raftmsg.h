/*
 * Raft messages as libraft 0.22's raft_uv puts them on the wire, checked before raft reads a
 * byte of them (DESIGN.md §9: every decoder is bounded before it allocates).
 *
 * Why: raft_uv's decoder trusts the peer. It allocates whatever header length the preamble
 * states, then reads each message's fields at fixed offsets without looking at that length (a
 * RequestVote with a 1-byte header made a node take a heap pointer as its term), trusts the
 * entry count and lengths of an AppendEntries batch, and decodes configurations without bounds.
 * The transport (src/raft/transport.c) therefore reads every message into a reader of this file
 * and hands raft only messages that passed, whole.
 *
 * A message (all integers little-endian, as raft_uv writes them):
 *
 *   preamble  16 bytes: u8 type, u8 0, u8 version, 5 bytes 0; u64 header length
 *   header    per type, below
 *   payload   AppendEntries: the entries' data, back to back; InstallSnapshot: the snapshot
 *
 *   type                    header (bytes)                             what is checked
 *   1 AppendEntries         term, prev index, prev term, commit (32),  n <= max_entries; each
 *                           n (8), n x {term 8, type 1, 0 0 0, len 4}, entry: type 1-3, 8 <= len,
 *                           0 (8)                                      len % 8 == 0; a CHANGE
 *                                                                      entry's data is a valid
 *                                                                      configuration
 *   2 AppendEntriesResult   term, rejected, last index, features 2,    length 24 (version 0) or
 *                           capacity 2, 0 (4)                          32
 *   3 RequestVote           term, candidate, last index, last term,    length 40; the candidate
 *                           flags (bits 0 and 1)                       is the sending peer
 *   4 RequestVoteResult     term, granted (0/1), flags 1, 0, features  length 16 (version 0 or
 *                           2, capacity 2, 0 (2)                       1) or 24 (0 or 2)
 *   5 InstallSnapshot       term, last index, last term, conf index,   conf length as stated and
 *                           conf length (8), configuration, data       a valid configuration;
 *                           length (8), 0 (8)                          data length = payload
 *   6 TimeoutNow            term, last index, last term                length 24
 *
 * Shapes are the ones raft_uv's decoder reads within the stated length, nothing else: a peer
 * that sends another shape runs a libraft this build does not speak with. Besides the shape,
 * terms are checked as Raft states them: every term is at least 1, and no term a message
 * carries (an entry's, the previous entry's, the last log entry's) exceeds the message's own.
 *
 * A configuration (raft_uv's encoding): u8 format 1, u64 n (1..RAFTMSG_SERVERS_MAX), n x {u64
 * id != 0, address of 1..RAFTMSG_ADDRESS_MAX bytes then NUL, u8 role 0-2}, zeros up to a
 * multiple of 8; ids and addresses distinct.
 *
 * Pure core: no I/O, no clock.
 */
#ifndef RC_CORE_RAFTMSG_H
#define RC_CORE_RAFTMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RAFTMSG_PREAMBLE_SIZE 16
/* Message types, as raft.h numbers them. */
#define RAFTMSG_APPEND_ENTRIES        1
#define RAFTMSG_APPEND_ENTRIES_RESULT 2
#define RAFTMSG_REQUEST_VOTE          3
#define RAFTMSG_REQUEST_VOTE_RESULT   4
#define RAFTMSG_INSTALL_SNAPSHOT      5
#define RAFTMSG_TIMEOUT_NOW           6
/* Servers in one configuration, and the longest address (the transport's handshake bound). */
#define RAFTMSG_SERVERS_MAX 1024
#define RAFTMSG_ADDRESS_MAX 255
/* Defaults: entries in one AppendEntries, and bytes of one message (preamble, header and
 * payload: a snapshot travels in one InstallSnapshot). */
#define RAFTMSG_ENTRIES_MAX_DEFAULT (1u << 20)
#define RAFTMSG_MESSAGE_MAX_DEFAULT ((uint64_t)1 << 30)

struct raftmsg_options {
    uint64_t peer_id;     /* the authenticated sender: a RequestVote must name it */
    bool allow_elections; /* false: RequestVote and TimeoutNow are refused (a sender that is
                           * not in the configuration may replicate, never campaign) */
    uint32_t max_entries; /* 0: RAFTMSG_ENTRIES_MAX_DEFAULT */
    uint64_t max_message; /* 0: RAFTMSG_MESSAGE_MAX_DEFAULT */
};

/* What a checked message is. */
struct raftmsg_info {
    unsigned type;        /* RAFTMSG_* */
    uint64_t term;        /* the sender's term */
    uint64_t header_len;  /* bytes after the preamble, before the payload */
    uint64_t payload_len; /* bytes after the header */
    uint32_t n_entries;   /* AppendEntries */
};

/*
 * Check one complete message of len bytes (preamble, header, payload). Returns 0 and fills
 * *info (may be NULL), or RC_EPARSE (malformed, or a message the options refuse) or
 * RC_ETOOBIG (over a limit) with a message naming the field and its byte offset in err.
 */
int raftmsgCheck(const uint8_t *msg, size_t len, const struct raftmsg_options *o,
                 struct raftmsg_info *info, char *err, size_t errlen);

/*
 * Check the configuration raft_uv encodes in len bytes at p (a CHANGE entry's data or an
 * InstallSnapshot's configuration). Returns 0 or RC_EPARSE with a message.
 */
int raftmsgCheckConfiguration(const uint8_t *p, size_t len, char *err, size_t errlen);

/* A message delivered by the reader: msg (malloc'd, len bytes) now belongs to the callback. */
typedef void (*raftmsg_cb)(uint8_t *msg, size_t len, const struct raftmsg_info *info, void *arg);

/*
 * Incremental reader of a connection's messages. Lifecycle (STYLE.md §9), checked on every move:
 *
 *   PREAMBLE → HEADER → PAYLOAD → PREAMBLE …   a part complete and checked
 *   PREAMBLE | HEADER | PAYLOAD → FAILED      a check failed or no memory (sticky)
 *
 * Nothing is allocated before the preamble's length passed the limits, nor grown for the payload
 * before the header was checked, and the payload's buffer grows with the bytes that arrived (at
 * most doubling), never to what the header announces at once: a peer holds at most one message
 * within the limits, and only as many bytes of it as it really sent.
 */
enum raftmsg_reader_state {
    RAFTMSG_READER_PREAMBLE = 0,
    RAFTMSG_READER_HEADER,
    RAFTMSG_READER_PAYLOAD,
    RAFTMSG_READER_FAILED,
};

struct raftmsg_reader {
    enum raftmsg_reader_state state; /* read-only */
    struct raftmsg_options o;        /* read-only */
    uint8_t pre[RAFTMSG_PREAMBLE_SIZE];
    uint8_t *buf;   /* private (owned): the message being read */
    size_t cap;     /* private: bytes allocated for buf */
    size_t have;    /* private: bytes of the message read so far */
    size_t need;    /* private: bytes the current part ends at */
    uint64_t count; /* read-only: messages delivered */
    int error;      /* read-only: the code that failed the reader, 0 if none */
    char errmsg[RC_ERRMSG_SIZE];
};

void raftmsgReaderInit(struct raftmsg_reader *r, const struct raftmsg_options *o);

/* Consume len bytes (any split) and call cb for each message they complete, in order. Returns 0
 * when all were consumed, else the code that failed the reader (every later call returns it
 * too), with the message in r->errmsg. */
int raftmsgReaderFeed(struct raftmsg_reader *r, const uint8_t *data, size_t len, raftmsg_cb cb,
                      void *arg);

/* Release the message being read. */
void raftmsgReaderClose(struct raftmsg_reader *r);

#endif /* RC_CORE_RAFTMSG_H */
