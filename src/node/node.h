/*
 * A raftcrond node: the Raft member (raft/cluster.c), the RPC server (listener.c, conn.c,
 * rpc_*.c) and the signal handling that makes shutdown graceful. One libuv loop.
 *
 * Lifecycle: nodeStart → RUNNING → (SIGTERM/SIGINT) → STOPPING → STOPPED (loop exits, exit
 * status 0). Stopping: new requests are refused as retryable (the client sends them elsewhere);
 * a leader first lets the writes it proposed commit (at most NODE_DRAIN_MS), then hands over
 * leadership (at most NODE_TRANSFER_GRACE_MS, trying again if the first transfer left it
 * leader), so that no client is left with an "outcome unknown"; then the client connections,
 * Raft and the signal handlers close. A second signal while STOPPING exits at once with
 * status 130.
 */
#ifndef RC_NODE_NODE_H
#define RC_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "dispatch.h"
#include "events.h"
#include "execs.h"
#include "io_uv.h"
#include "leader.h"
#include "link.h"
#include "export.h"
#include "http.h"
#include "listener.h"
#include "metrics.h"
#include "orphan.h"
#include "credentials.h"
#include "raft/cluster.h"
#include "worker.h"

struct rc_conf_conn;

struct node_options {
    uint64_t id;
    const char *raft_addr;
    const char *rpc_addr;
    const char *data_dir;
    bool bootstrap;
    const char *join;       /* "h:p,h:p" RPC endpoints to ask to join, or NULL */
    bool standby;           /* join as a non-voting standby */
    bool recover;           /* --recover: force a one-voter configuration (this node) */
    const char *restore;    /* --restore FILE: seed a new cluster from a backup, or NULL */
    const char *auth_token; /* required on every RPC when non-NULL */
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    size_t max_frame;
    int64_t lookahead_us;           /* claims are committed this long before their instant */
    int64_t worker_timeout_us;      /* a worker silent for longer is marked down */
    int64_t ack_timeout_us;         /* an assignment not acknowledged within goes elsewhere */
    bool no_execute;                /* this node's worker runs nothing */
    const struct rc_conf_tag *tags; /* this node's worker tags (borrowed) */
    unsigned n_tags;
    unsigned max_parallel;  /* this node's worker capacity */
    unsigned history_runs;  /* default history count of jobs put through this leader */
    int64_t history_age_us; /* default history age of jobs put through this leader */
    /* Run-history export (export.h): NULL conninfo = none. */
    const char *history_conninfo;
    const char *history_password_file;
    /* For the worker's http and sql executors (exec.h httpInit/sqlInit; borrowed). */
    const struct rc_conf_conn *conns; /* core/confparse.h */
    unsigned n_conns;
    unsigned sql_pool_size;
    const char *http_ca_file; /* NULL: libcurl's CA store */
    /* Security (docs/security.md). */
    struct credentials *creds; /* borrowed: TLS contexts (NULL: plain), token, secret */
    const char *tls_ca;        /* files, for the join client (NULL: plain) */
    const char *tls_cert;
    const char *tls_key;
    const char *peer_tls_name;        /* NULL: peers' certificates name their addresses */
    bool insecure;                    /* listening beyond loopback without protection: warn */
    unsigned rpc_max_connections;     /* 0: no cap */
    unsigned rpc_idle_ms;             /* 0: never idle */
    const struct exec_security *exec; /* borrowed: this node's worker's limits (exec.h) */
    /* The REST API (http.h) and credentials (auth.h); strings borrowed. */
    const char *http_addr; /* NULL: no HTTP listener */
    size_t http_max_body;
    unsigned events_buffer;  /* events kept for resuming watches (events.h) */
    bool metrics_token;      /* /metrics needs a credential */
    bool metrics_namespaces; /* runs by namespace at /metrics */
    struct auth_options auth;
};

enum node_state { NODE_STARTING = 0, NODE_RUNNING, NODE_STOPPING, NODE_STOPPED };

struct node {
    uv_loop_t *loop;          /* borrowed */
    struct node_options opts; /* strings borrowed from the caller */
    enum node_state state;
    struct cluster cluster;
    struct listener rpc;
    struct io_uv io;          /* the io seam (io.h) over this loop and cluster */
    struct dispatch dispatch; /* the leader's side of the workers */
    struct leader leader;     /* the trigger loop */
    bool sched_open;          /* dispatch and leader */
    struct worker worker;     /* this node's own worker (unless --no-execute) */
    struct link link;         /* its link to the leader */
    struct execs execs;       /* its executors */
    bool worker_open;
    struct exporter exporter; /* the run-history export, active while leader */
    bool exporter_open;
    struct orphan orphan; /* stops this node once it learns it was removed */
    bool orphan_open;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup;         /* reload the TLS files and the token file */
    uv_timer_t insecure;        /* repeats the --insecure warning every hour */
    uint64_t refused_logged_ms; /* rate limit of "peer refused" lines: window start */
    unsigned refused_lines;     /* lines logged in the window */
    unsigned refused_quiet;     /* refusals not logged since the last line */
    uv_timer_t join_timer;      /* retries the join request until it succeeds */
    uv_timer_t stop_timer;      /* polls the drain, then bounds the leadership transfer */
    bool stop_timer_open;
    bool transfer_pending;
    unsigned transfer_tries;
    unsigned drain_waited_ms;
    unsigned writes_pending; /* client writes proposed and not yet answered (rpc.c) */
    bool signals_open;
    uv_work_t join_work;
    bool join_pending;
    bool joined;
    int join_status;
    char join_msg[256];
    int exit_code;
    /* The snapshot Cluster.Snapshot is sending in chunks (rpc_cluster.c), or none (buf NULL):
     * dropped once its last chunk went out, when a newer one is taken, or when the node stops
     * (a client that gave up midway leaves one copy of the state until then). */
    struct {
        uint64_t id;
        uint8_t *buf; /* owned (fsmSnapshot's) */
        size_t len;
        uint64_t index, term;
        int64_t taken_us;
    } held;
    bool rpc_open, cluster_open;
    unsigned pending_close;
    struct auth auth;       /* credentials of every RPC and REST call */
    struct metrics metrics; /* /metrics */
    struct events events;   /* the event stream (SSE and Events.Watch) */
    bool events_open;
    struct rc_fsm_events fsm_hooks; /* the FSM's changes, to events and metrics */
    struct http_server http;        /* --http-addr */
    bool http_open;
    struct watch *watches; /* Events.Watch calls (rpc_events.c) */
};

/* Start everything. On error returns an RC_E* code with a message; run the loop to let
 * nodeStop's cleanup finish (it is called internally). */
int nodeStart(struct node *n, uv_loop_t *loop, const struct node_options *opts, char *err,
              size_t errlen);

/* Begin a graceful stop (what SIGTERM does). */
void nodeStop(struct node *n);

/* The RPC address of the current leader as recorded in the FSM, or NULL. */
const char *nodeLeaderRpcAddr(struct node *n);

#endif /* RC_NODE_NODE_H */
