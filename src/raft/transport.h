/*
 * raftcron's Raft peer transport: a struct raft_uv_transport over libuv TCP that sets
 * TCP_NODELAY on every connected and accepted socket (DESIGN.md §8: libraft's stock
 * raft_uv_tcp leaves Nagle on, and pipelined commits then stall ~40 ms on delayed ACKs).
 *
 * Use: transportInit(), optionally transportSetBindAddress()/transportSetHandshakeTimeout(),
 * then raft_uv_init(io, loop, dir, t). raft_uv drives the vtable (init, listen, connect, close);
 * after raft_close() has completed (which ran t->close and waited for its callback), release
 * the memory with transportClose(). t->data belongs to raft_uv; ours lives in t->impl.
 *
 * Addresses are "HOST:PORT": a dotted IPv4 address, a host name ("localhost") or
 * "[IPv6]:PORT". Numeric hosts are parsed in place; names are resolved with uv_getaddrinfo on
 * the thread pool for connect (every result is tried in order) and synchronously, once, for
 * listen (the first result is bound).
 *
 * Handshake (sent by the connecting side right after TCP connect, before any Raft message;
 * all integers big-endian):
 *
 *     offset  size  field
 *          0     8  magic "RCRAFT02" (protocol and version)
 *          8     8  server id of the connecting node (non-zero)
 *         16     8  cluster id of the connecting node (0: it does not know one yet)
 *         24     2  length L of its Raft address, 1..TRANSPORT_ADDRESS_MAX
 *         26     L  the address bytes, no terminator, no NUL inside
 *
 * The listening side reads exactly these bytes (never more: what follows is raft_uv's) and
 * then calls raft's accept callback with the id, address and stream. A wrong magic, a zero id,
 * an out-of-range length, a NUL in the address or EOF before the end closes the connection
 * without calling accept; so does a handshake not complete within the handshake timeout.
 * Cluster ids: a handshake whose cluster id differs from ours (both non-zero) is refused the
 * same way — a node of another cluster (an address or data dir reused) could otherwise
 * overwrite our log; a transport without an id adopts the first non-zero one it is sent (a
 * new member learns its cluster's id from the leader that catches it up).
 * The format is ours: a stock raft_uv_tcp peer cannot talk to this transport (all the members
 * of one cluster must use the same one).
 *
 * Lifecycles (STYLE.md §9, tables in transport.c): the transport NEW → READY (init) →
 * LISTENING (listen) → CLOSING (close) → CLOSED (close callback fired); a connect request
 * RESOLVING → CONNECTING → HANDSHAKING → DONE, or → ABORTING → DONE when it fails or is
 * canceled; an incoming connection HEADER → ADDRESS → ACCEPTED, or → REJECTED.
 * Set RAFTCRON_TRACE in the environment to get a trace line on stderr for every move.
 *
 * Raft-facing calls (the vtable) return RAFT_* codes with a message in t->errmsg, as
 * raft_uv expects; the functions below return 0 or RC_E* codes (STYLE.md §6). A connect that
 * fails synchronously never invokes its callback; one canceled by close completes with
 * RAFT_CANCELED before the close callback fires. Streams handed to raft are allocated with
 * raft_malloc (raft_uv frees them with raft_free after uv_close).
 */
#ifndef RC_RAFT_TRANSPORT_H
#define RC_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Longest Raft address the handshake carries (and that init accepts for ourselves). */
#define TRANSPORT_ADDRESS_MAX 255

/* How long an accepted connection may take to deliver its handshake, by default. */
#define TRANSPORT_HANDSHAKE_TIMEOUT_MS 5000

/* Counters since transportInit, and one gauge (read-only snapshot). */
struct transport_stats {
    uint64_t handshaking;    /* gauge: incoming connections now awaiting their handshake */
    uint64_t connected;      /* outgoing connections handed to raft */
    uint64_t connect_failed; /* outgoing requests that ended in RAFT_NOCONNECTION */
    uint64_t canceled;       /* outgoing requests canceled by close */
    uint64_t accepted;       /* incoming connections handed to raft */
    uint64_t rejected;       /* incoming connections closed for a bad or truncated handshake */
    uint64_t timed_out;      /* incoming connections closed for a late handshake */
    uint64_t foreign;        /* incoming connections closed: another cluster's id */
};

/* Told (on the loop) when this transport adopted a cluster id (adopted) or refused a peer of
 * another cluster (!adopted). */
typedef void (*transport_cluster_cb)(void *data, uint64_t peer_id, uint64_t peer_cluster,
                                     bool adopted);

/* This node's cluster id (0: adopt the first one a peer sends) and who to tell. */
void transportSetCluster(struct raft_uv_transport *t, uint64_t id, transport_cluster_cb cb,
                         void *data);
uint64_t transportClusterId(const struct raft_uv_transport *t);

/* Make t a transport for raft_uv_init on loop (borrowed; must outlive t). Sets t->version to
 * 1 and the vtable; keeps t->data. Returns 0 or RC_ENOMEM. Release with transportClose. */
int transportInit(struct raft_uv_transport *t, uv_loop_t *loop);

/* Listen on address ("HOST:PORT", copied) instead of the address raft passes to init, e.g.
 * "0.0.0.0:9000" in a container. Call before listen. Returns 0, RC_EINVAL for a malformed
 * address or RC_ENOMEM. */
int transportSetBindAddress(struct raft_uv_transport *t, const char *address);

/* Handshake timeout for connections accepted from now on (0 means the default). */
void transportSetHandshakeTimeout(struct raft_uv_transport *t, unsigned ms);

/* Copy the counters into *out. */
void transportStats(const struct raft_uv_transport *t, struct transport_stats *out);

/* Release t's memory. Allowed before listen was called, or after t->close's callback fired
 * (raft_close's callback implies it); never while handles are open. t->impl becomes NULL;
 * calling it again is a no-op. */
void transportClose(struct raft_uv_transport *t);

#endif /* RC_RAFT_TRANSPORT_H */
