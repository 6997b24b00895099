/*
 * The removed-member check. Raft stops talking to a member the moment the configuration that
 * removes it is appended, so a removed node usually never learns of its removal: it would
 * stand for election forever (pre-vote keeps it harmless) and keep answering stale reads with
 * an old member list. Like etcd, a node that has heard from no leader for ORPHAN_QUIET_MIN_MS
 * (or three election timeouts, if longer) asks the other members it knows — over RPC, from the
 * thread pool — for the leader's configuration; if a leader answers and this node is not in it,
 * the node logs "removed from the cluster" and stops gracefully (exit status 0). A node that
 * reaches no one, or hears of no leader, keeps running: that is a partition, not a removal.
 *
 * The members' RPC addresses come from the replicated member table, which a restarted node
 * has only once it has applied its log again — which needs a leader. So the node keeps a copy
 * in its data dir (ORPHAN_FILE, "ID RPC_ADDR" lines, rewritten when the table changes; a hint,
 * never trusted for anything but whom to ask), and a restarted former member asks those.
 */
#ifndef RC_NODE_ORPHAN_H
#define RC_NODE_ORPHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define ORPHAN_QUIET_MIN_MS 5000
#define ORPHAN_POLL_MS      250
#define ORPHAN_ENDPOINTS    2048
#define ORPHAN_FILE         "member-addresses"

struct cluster;

/* What the check needs of its node; borrowed, for as long as the check runs. */
struct orphan_env {
    uv_loop_t *loop;
    struct cluster *cluster;
    uint64_t id;                  /* this node's */
    const char *data_dir;         /* where ORPHAN_FILE is kept */
    const char *auth_token;       /* presented to the members asked (may be NULL) */
    unsigned election_timeout_ms; /* the quiet time is at least three of them */
    bool (*running)(void *data);  /* the node serves (neither starting nor stopping) */
    void (*stop)(void *data);     /* stop the node gracefully: it was removed */
    void *data;
};

struct orphan {
    struct orphan_env env;
    uv_timer_t timer;
    uv_work_t work;
    bool busy;            /* a probe is in the thread pool */
    bool was_member;      /* this node has been in its own configuration */
    uint64_t quiet_since; /* uv_now when no leader was known, 0 while one is */
    char endpoints[ORPHAN_ENDPOINTS];
    char saved[ORPHAN_ENDPOINTS]; /* what ORPHAN_FILE holds */
    /* Written by the probe (thread pool), read after it (loop). */
    bool removed;
    uint64_t leader_id;
    char msg[256];
};

/* Start polling (the node must be running). env is copied. */
void orphanStart(struct orphan *o, const struct orphan_env *env);
/* Rewrite ORPHAN_FILE if the members' addresses changed: called by the leader when a member
 * change completes, and by every node at each poll. Nothing before orphanStart. */
void orphanRemember(struct orphan *o);
/* Stop polling and close the timer; cb runs when the handle is closed. A probe still in the
 * thread pool finishes and is ignored. */
void orphanClose(struct orphan *o, uv_close_cb cb);

#endif /* RC_NODE_ORPHAN_H */
