/*
 * The Raft member of a node: libraft with raft_uv storage, our TCP_NODELAY transport
 * (transport.c) and the bridged FSM (fsm_bridge.c). Everything runs on one libuv loop.
 *
 * Rules (DESIGN.md §7): pre-vote on, raft_uv's automatic segment recovery off (a damaged data
 * dir stops the node with a message instead of silently dropping entries). Likewise damaged
 * Raft metadata (term and vote) with a log on disk, or a term below the last entry's term, stops
 * the node: restarting at an older term would let it vote twice in a term (Raft §5.2).
 * Async calls that fail synchronously never invoke their callback (STYLE.md §6).
 */
#ifndef RC_RAFT_CLUSTER_H
#define RC_RAFT_CLUSTER_H

#include <raft.h>
#include <raft/uv.h>
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

struct cluster {
    uv_loop_t *loop;                    /* borrowed */
    struct rc_fsm *core;                /* owned */
    struct raft raft;                   /* private */
    struct raft_io io;                  /* private */
    struct raft_uv_transport transport; /* private */
    struct raft_fsm fsm;                /* private */
    uv_timer_t watch;                   /* private: polls for state/leader changes */
    int last_state;
    raft_term last_term;
    raft_id last_leader;
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
    /* private: raft_uv's load, called by the checking one installed in io */
    int (*uv_load)(struct raft_io *io, raft_term *term, raft_id *voted_for,
                   struct raft_snapshot **snapshot, raft_index *start_index,
                   struct raft_entry *entries[], size_t *n_entries);
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
/* "voter", "standby" or "spare" for a RAFT_* role. */
const char *clusterRoleName(int role);
/* Role of this node in the configuration (RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE) or -1. */
int clusterRole(struct cluster *c);
/* Whether the configuration has any server (false before bootstrap or join). */
bool clusterHasConfiguration(struct cluster *c);

/* Propose an encoded Command (copied). Returns 0 (cb will fire) or RC_ENOTLEADER/RC_ENOMEM/…
 * (cb will not fire). */
int clusterPropose(struct cluster *c, const void *buf, size_t len, cluster_apply_cb cb, void *data);

/* A barrier: cb fires when every entry before it is applied (linearizable reads). */
int clusterBarrier(struct cluster *c, cluster_done_cb cb, void *data);

/* Membership (leader only). role: RAFT_VOTER / RAFT_STANDBY / RAFT_SPARE. */
int clusterAdd(struct cluster *c, uint64_t id, const char *raft_addr, cluster_done_cb cb,
               void *data);
int clusterAssign(struct cluster *c, uint64_t id, int role, cluster_done_cb cb, void *data);
int clusterRemove(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data);
/* Hand leadership to id (0: any up-to-date voter). cb fires when done or timed out; check
 * clusterLeader afterwards. */
int clusterTransfer(struct cluster *c, uint64_t id, cluster_done_cb cb, void *data);

/* Leader only: the match index of server id (0 when unknown). */
uint64_t clusterMatchIndex(struct cluster *c, uint64_t id);
/* Index of the last entry in this node's log. */
uint64_t clusterLastIndex(struct cluster *c);

/* The current configuration (borrowed, valid until the next loop iteration). */
const struct raft_configuration *clusterConfiguration(struct cluster *c);

#endif /* RC_RAFT_CLUSTER_H */
