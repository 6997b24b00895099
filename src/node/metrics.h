/*
 * What a node exposes at /metrics (docs/rest.md "Metrics"): counters and histograms kept as
 * things happen (RPCs, commits, leader changes, decisions and starts as this node applies
 * them), and gauges read from the node's state at scrape time (Raft indexes, runs by state and
 * executor, workers, the leader's due jobs and lookahead, process figures). Names follow
 * Prometheus' conventions: a raftcron_ prefix, units in the name, _total on counters; every
 * label has a bounded set of values (methods, codes, states, executors; a namespace label only
 * when metrics_namespaces is on).
 */
#ifndef RC_NODE_METRICS_H
#define RC_NODE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fsm.h"
#include "metrics_text.h"

#define METRICS_METHODS_MAX 40 /* RPC methods counted by name; others count as "other" */
#define METRICS_CODES       17 /* RPC status codes (gRPC numbering) */
#define METRICS_HTTP_CODES  12 /* HTTP statuses counted by value (see metrics.c) */

struct metrics {
    int64_t started_us; /* process start (wall clock) */
    uint64_t leader_changes;
    uint64_t last_leader;
    struct metrics_hist append; /* local proposal → applied */
    uint64_t rpc[METRICS_METHODS_MAX + 1][METRICS_CODES];
    struct metrics_hist rpc_latency[METRICS_METHODS_MAX + 1];
    uint64_t http[METRICS_HTTP_CODES + 1];
    uint64_t decisions[2][4];           /* [manual][FIRED, COALESCED, MISSED, SKIPPED] instants */
    uint64_t run_ends[16];              /* attempts and runs ending, by runs.h state */
    struct metrics_hist fire_lateness;  /* scheduled FIRED: decided - instant */
    struct metrics_hist start_lateness; /* RUNNING: started - start_at */
    struct rc_fsm_events hooks;         /* counted as this node applies entries */
};

void metricsInit(struct metrics *m, int64_t now_us);
/* One RPC answered (latency from its receipt). */
void metricsRpc(struct metrics *m, const char *method, int status, int64_t latency_us);
/* One REST response. */
void metricsHttp(struct metrics *m, int status);
/* One local proposal applied, latency_us after it was proposed. */
void metricsAppend(struct metrics *m, int64_t latency_us);
/* The leader may have changed. */
void metricsLeader(struct metrics *m, uint64_t leader_id);

struct node;
/* The whole exposition of node n into t. */
void metricsRender(struct node *n, struct metrics_text *t);

#endif /* RC_NODE_METRICS_H */
