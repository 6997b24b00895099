/*
 * Waiting for members to acknowledge the leader's log. libraft exposes no heartbeat times, and
 * match indexes alone stay current for a dead member of an idle cluster, so "who answers" is
 * observed: after a barrier, the leader polls (every ACKS_POLL_MS, for at most ACKS_WAIT_MS)
 * until enough members have a match index at or past the target. Used by Cluster.Status
 * (reachability) and by membership.h's quorum check (is a majority of the voters left answering?).
 */
#ifndef RC_RAFT_ACKS_H
#define RC_RAFT_ACKS_H

#include <stdbool.h>
#include <stdint.h>

#define ACKS_WAIT_MS 500
#define ACKS_POLL_MS 10

struct cluster;

/* Whether enough members have acknowledged target. */
typedef bool (*acks_enough_fn)(struct cluster *c, uint64_t target, void *data);
/* The wait is over: enough acknowledged, ACKS_WAIT_MS passed, or this node stopped leading. */
typedef void (*acks_done_fn)(struct cluster *c, uint64_t target, void *data);

/* target = the leader's last index now. done is called once, never from inside this call;
 * returns 0, or RC_ENOMEM (nothing is called). */
int acksAwait(struct cluster *c, acks_enough_fn enough, acks_done_fn done, void *data);

#endif /* RC_RAFT_ACKS_H */
