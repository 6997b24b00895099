/*
 * The Raft member of a node: libraft with raft_uv storage, our TCP_NODELAY transport
 * (transport.c) and the bridged FSM (fsm_bridge.c). Everything runs on one libuv loop.
 *
 * Rules (DESIGN.md §7): pre-vote on, raft_uv's automatic segment recovery off (a damaged data
 * dir stops the node with a message instead of silently dropping entries). Likewise damaged
 * Raft metadata (term and vote) with a log on disk, or a term below the last entry's term, stops
 * the node: restarting at an older term would let it vote twice in a term (Raft §5.2).
 * Async calls that fail synchronously never invoke their callback (STYLE.md §6).
 *
 * This header is src/node's whole view of Raft: its types are ours (roles, members, ids), and
 * libraft's (raft.h) stay inside src/raft. The data dir's own files are datadir.h's.
 */
#ifndef RC_RAFT_CLUSTER_H
#define RC_RAFT_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/backup.h"
#include "core/fsm.h"
#include "net/tls.h"

struct cluster_options {
    uint64_t id;
    const char *raft_addr; /* borrowed */
    const char *data_dir;  /* borrowed */
    bool bootstrap;        /* bootstrap a one-voter configuration if the data dir is pristine */
    bool recover;          /* force a one-voter configuration (this node) onto the log on disk */
    const char *restore;   /* a backup file (borrowed): seed a new cluster from it (seed.h);
                              the data dir must hold no log */
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    /* Peer security (raft/transport.h): mutual TLS with these contexts (borrowed, both or
     * neither), certificates checked against the peer's address or peer_tls_name, and/or the
     * cluster secret of the HMAC handshake (borrowed for the call, copied). */
    struct tls_ctx *tls_server;
    struct tls_ctx *tls_client;
    const char *peer_tls_name;
    const void *secret;
    size_t secret_len;
};

struct cluster;
/* Called on the loop whenever the state, term or known leader changed. */
typedef void (*cluster_change_cb)(struct cluster *c, void *data);
typedef void (*cluster_close_cb)(struct cluster *c);
/* status: 0 when committed and applied (res then says what apply did); RC_ENOTLEADER when
 * leadership was lost (the outcome is unknown: the entry may still commit); other RC_E*. */
typedef void (*cluster_apply_cb)(void *data, int status, const struct rc_fsm_result *res);
/* status: 0 or an RC_E* code; msg says why (borrowed, for the duration of the call). */
typedef void (*cluster_done_cb)(void *data, int status, const char *msg);

/* A server's role in the configuration (Raft §4: only voters count towards a majority; a
 * standby replicates without voting; a spare is known but gets no entries). */
enum cluster_role { CLUSTER_VOTER, CLUSTER_STANDBY, CLUSTER_SPARE };

/* One server of the configuration. raft_addr is borrowed: valid until the next loop iteration. */
struct cluster_member {
    uint64_t id;
    const char *raft_addr;
    enum cluster_role role;
};

struct cluster_raft; /* libraft and its I/O (cluster.c) */

struct cluster {
    uv_loop_t *loop;        /* borrowed */
    struct rc_fsm *core;    /* owned */
    uint64_t id;            /* read-only: this node's server id */
    struct cluster_raft *r; /* private (owned) */
    uv_timer_t watch;       /* private: polls for state/leader changes */
    int last_state;         /* private */
    uint64_t last_term;     /* private */
    uint64_t last_leader;   /* private */
    cluster_change_cb change_cb;
    void *change_data;
    cluster_close_cb close_cb;
    void (*applied_cb)(struct cluster *c, void *data); /* after each local proposal applied */
    /* Each local proposal applied, latency_us after it was proposed (metrics; may be NULL). */
    void (*commit_cb)(struct cluster *c, void *data, int64_t latency_us);
    /* A peer of another cluster was refused (peer_cluster: its id), or this node adopted its
     * cluster's id (adopted). May be NULL. */
    void (*cluster_cb)(struct cluster *c, void *data, uint64_t peer_id, uint64_t peer_cluster,
                       bool adopted);
    /* A peer connection was refused before raft saw it (peer and why: raft/transport.h). May
     * be NULL. */
    void (*refused_cb)(struct cluster *c, void *data, const char *peer, const char *why);
    char data_dir[4096]; /* private: where the cluster id is kept */
    bool started;
    bool raft_open;
    char errmsg[256];
    bool restored;                   /* --restore seeded the data dir at this start */
    struct rc_backup_info backup;    /* what it was seeded from */
    struct rc_backup_summary seeded; /* and what the seed holds */
    uint64_t seeded_index;
};

/* Open the data dir and start Raft. On error returns an RC_E* code with a message in err and
 * leaves nothing running (c needs no close). */
int clusterStart(struct cluster *c, uv_loop_t *loop, const struct cluster_options *opts,
                 cluster_change_cb change_cb, void *change_data, char *err, size_t errlen);

/* The cluster's id (random, made at bootstrap, kept in DATA/cluster-id; a joining node learns
 * it from the first peer that connects): peers of another cluster are refused at the
 * transport handshake. 0 while not known. */
uint64_t clusterId(struct cluster *c);

/* Stop Raft and release everything; cb fires when c may be freed. */
void clusterClose(struct cluster *c, cluster_close_cb cb);

bool clusterIsLeader(struct cluster *c);
/* Known leader id (0 if none) and its Raft address (NULL if none; borrowed). */
uint64_t clusterLeader(struct cluster *c, const char **raft_addr);
/* "leader", "follower", "candidate" or "unavailable". */
const char *clusterStateName(struct cluster *c);
uint64_t clusterTerm(struct cluster *c);
uint64_t clusterCommitIndex(struct cluster *c);
uint64_t clusterAppliedIndex(struct cluster *c);
/* "voter", "standby" or "spare". */
const char *clusterRoleName(enum cluster_role role);
/* Role of this node in the configuration (an enum cluster_role) or -1 when it is not in it. */
int clusterRole(struct cluster *c);
/* Whether the configuration has any server (false before bootstrap or join). */
bool clusterHasConfiguration(struct cluster *c);

/* Propose an encoded Command (copied). Returns 0 (cb will fire) or RC_ENOTLEADER/RC_ENOMEM/…
 * (cb will not fire). */
int clusterPropose(struct cluster *c, const void *buf, size_t len, cluster_apply_cb cb, void *data);

/* A barrier: cb fires when every entry before it is applied (linearizable reads). */
int clusterBarrier(struct cluster *c, cluster_done_cb cb, void *data);

/* Configuration changes (leader only; the decisions around them are membership.h's). Raft
 * allows one change at a time: while one is in flight (ours, or an earlier leader's entry not
 * yet committed) or leadership is being handed over, these return RC_ESTALE. clusterAdd adds
 * id as a spare. */
int clusterAdd(struct cluster *c, uint64_t id, const char *raft_addr, cluster_done_cb cb,
               void *data);
int clusterAssign(struct cluster *c, uint64_t id, enum cluster_role role, cluster_done_cb cb,
                  void *data);
int clusterRemove(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data);
/* Hand leadership to id (0: any up-to-date voter). cb fires when done or timed out; check
 * clusterLeader afterwards. */
int clusterTransfer(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data);

/* Leader only: the match index of server id (0 when unknown). */
uint64_t clusterMatchIndex(struct cluster *c, uint64_t id);
/* Index of the last entry in this node's log. */
uint64_t clusterLastIndex(struct cluster *c);

/* The current configuration (committed or not): how many servers it has, the i-th of them
 * (i < clusterMemberCount), and the one with id (false when there is none). */
unsigned clusterMemberCount(struct cluster *c);
struct cluster_member clusterMemberAt(struct cluster *c, unsigned i);
bool clusterMemberGet(struct cluster *c, uint64_t id, struct cluster_member *m);

#endif /* RC_RAFT_CLUSTER_H */
