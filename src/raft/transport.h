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
 * Every connection is authenticated before raft reads a byte of it, and every Raft message is
 * checked (core/raftmsg.h) before raft decodes it. Raft never touches the network socket: it is
 * handed one end of a socketpair, and this file carries bytes between that end and the socket
 * (plain or TLS, net/sstream.h): for a connection we accepted, only whole messages that passed
 * the checks; for one we opened, raft's messages out. Measured attacks this closes (a port
 * open to anyone made a leader step down on a forged RequestVote of term 1000, made a node
 * follow non-member 99 on a forged AppendEntries, and let a 1-byte RequestVote header set a
 * node's term to a heap pointer through libraft's unchecked decoder).
 *
 * Handshake, after TLS when it is on (all integers big-endian):
 *
 *   connector → listener  HELLO    "RCRAFT03", id (8), cluster id (8), nonce (16),
 *                                  address length L (2, 1..TRANSPORT_ADDRESS_MAX), address (L)
 *   listener → connector  WELCOME  "RCRAFT03", id (8), cluster id (8), nonce (16), mac (32)
 *   connector → listener  PROOF    mac (32)
 *   then raft's messages, connector → listener only.
 *
 * With a cluster secret, WELCOME's mac is HMAC-SHA256(secret, "RCRAFT03 welcome" | HELLO |
 * WELCOME without its mac) and PROOF's is HMAC-SHA256(secret, "RCRAFT03 proof" | HELLO |
 * WELCOME): each side proves it holds the secret, over both nonces (no replay); both are
 * checked in constant time. Without one they are zeros and not checked.
 *
 * The listener refuses, closing the connection before raft sees it:
 *  - a malformed or truncated handshake, or one not complete within the handshake timeout;
 *  - TLS: no certificate from the cluster CA, or one not valid for the host of the address the
 *    peer claims (or for the configured peer name); a wrong MAC;
 *  - a peer of another cluster (both ids known and different), and a peer that sends cluster
 *    id 0 once ours is known (a node of this cluster always knows the id before it speaks: it
 *    learns it from the first authenticated peer that connects to it, or at bootstrap);
 *  - an id the configuration holds at another address; an id the configuration does not hold,
 *    unless the connection is authenticated (TLS or the secret), and then that peer may
 *    replicate but never campaign: a member whose configuration lags must still be able to
 *    learn it from a leader it does not know yet, while an outsider's RequestVote or
 *    TimeoutNow could depose a leader. A node without any configuration (joining) cannot
 *    check ids and accepts them.
 * The connector refuses a WELCOME from another id than the one raft asked for, of another
 * cluster, with a wrong MAC, or (TLS) a certificate not valid for the host it dialled. A node
 * without a cluster id adopts the one its first authenticated peer sends, either way
 * (transportSetCluster's callback says so).
 *
 * After the handshake, a message that fails the checks (raftmsg.h: the shape raft_uv's decoder
 * reads within bounds, terms, configurations, a RequestVote that names the peer itself) closes
 * the connection; nothing of it reaches raft.
 *
 * The format is ours: a stock raft_uv_tcp peer cannot talk to this transport (all the members
 * of one cluster must use the same one).
 *
 * Lifecycles (STYLE.md §9, tables in transport.c): the transport NEW → READY (init) →
 * LISTENING (listen) → CLOSING (close) → CLOSED (close callback fired); a connection
 * RESOLVING → CONNECTING → SECURING (TLS) → HELLO (listener: awaiting it) or WELCOME
 * (connector: awaiting it) → PROOF (listener) → OPEN (proxying) → CLOSING → freed.
 * Set RAFTCRON_TRACE in the environment to get a trace line on stderr for every move.
 *
 * Raft-facing calls (the vtable) return RAFT_* codes with a message in t->errmsg, as
 * raft_uv expects; the functions below return 0 or RC_E* codes (STYLE.md §6). A connect that
 * fails synchronously never invokes its callback; one canceled by close completes with
 * RAFT_CANCELED before the close callback fires. Streams handed to raft are uv_pipe_t (raft's
 * end of the socketpair) allocated with raft_malloc (raft_uv frees them with raft_free after
 * uv_close).
 */
#ifndef RC_RAFT_TRANSPORT_H
#define RC_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "net/tls.h"

/* Longest Raft address the handshake carries (and that init accepts for ourselves). */
#define TRANSPORT_ADDRESS_MAX 255

/* How long an accepted connection may take to deliver its handshake, by default. */
#define TRANSPORT_HANDSHAKE_TIMEOUT_MS 5000

/* Counters since transportInit, and one gauge (read-only snapshot). */
struct transport_stats {
    uint64_t handshaking;     /* gauge: incoming connections now awaiting their handshake */
    uint64_t connected;       /* outgoing connections handed to raft */
    uint64_t connect_failed;  /* outgoing requests that ended in RAFT_NOCONNECTION */
    uint64_t canceled;        /* outgoing requests canceled by close */
    uint64_t accepted;        /* incoming connections handed to raft */
    uint64_t rejected;        /* incoming connections closed for a bad or truncated handshake */
    uint64_t timed_out;       /* incoming connections closed for a late handshake */
    uint64_t foreign;         /* incoming connections closed: another cluster's id, or id 0 */
    uint64_t unauthenticated; /* connections closed: TLS, certificate identity or MAC failed */
    uint64_t not_member;      /* incoming connections closed: id not in the configuration */
    uint64_t malformed;       /* connections closed for a message that failed the checks */
    uint64_t messages;        /* messages that passed the checks and reached raft */
};

/* Whether (id, address) is a member (transportSetSecurity's callback; on the loop). */
enum transport_member {
    TRANSPORT_MEMBER = 0,       /* in the configuration at this address */
    TRANSPORT_NOT_MEMBER,       /* the configuration does not hold the id */
    TRANSPORT_WRONG_ADDRESS,    /* it holds the id at another address */
    TRANSPORT_NO_CONFIGURATION, /* this node has no configuration yet (joining) */
};
typedef enum transport_member (*transport_member_fn)(void *data, uint64_t id, const char *address);

/* Told (on the loop) why a connection was refused: peer is "id N at ADDRESS" or the remote
 * socket address, why a sentence. For the operator's log. */
typedef void (*transport_refused_cb)(void *data, const char *peer, const char *why);

struct transport_security {
    struct tls_ctx *tls_server; /* borrowed, NULL: plain. Accepted connections: must require
                                 * client certificates (TLS_SERVER, TLS_PEER_REQUIRED) */
    struct tls_ctx *tls_client; /* borrowed: connections we open (TLS_CLIENT, our certificate);
                                 * both or neither */
    const char *peer_name;      /* NULL: a peer's certificate must be valid for the host of its
                                 * Raft address; else for this name (copied) */
    const void *secret;         /* the cluster secret for the HMAC handshake, or NULL (copied) */
    size_t secret_len;
    transport_member_fn member; /* NULL: every id is a member (a transport used alone) */
    void *member_data;
    transport_refused_cb refused; /* may be NULL */
    void *refused_data;
};

/* Set before listen. The TLS contexts must outlive the transport (tlsCtxReload keeps the
 * pointers valid). Returns 0, RC_EINVAL (one TLS context without the other) or RC_ENOMEM. */
int transportSetSecurity(struct raft_uv_transport *t, const struct transport_security *s);

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
