/*
 * Membership changes, decided on the leader (docs/operations.md "Membership"):
 *
 *   add / join   record the member's RPC address (a MemberSet entry), add it to the Raft
 *                configuration as a spare, then assign its role (voter or standby; Raft
 *                catches a new voter up before it counts), each step started when the previous
 *                one is done. A join repeats what is missing; an add of a member that exists
 *                with another role is refused (promote / demote change roles).
 *   remove       take the member out of the configuration, then forget its RPC address.
 *   demote       voter -> standby;  promote: standby or spare -> voter.
 *   transfer     hand leadership to a voter (id 0: any up-to-date voter).
 *
 * Removing or demoting a voter is refused when it would leave no voter, or, unless forced, when
 * the voters left that acknowledge a fresh barrier within ACKS_WAIT_MS (acks.h) are not a
 * majority of the new configuration: such a change commits (the old majority agrees) and then
 * leaves a cluster that can elect no leader. etcd's strict reconfiguration check.
 *
 * Each call either answers at once (returns false, the outcome in *res, cb never fires) or
 * goes on (returns true; cb fires exactly once, later, on the loop). The outcome says what
 * happened so that the caller can reply and log; the messages are the ones clients see.
 */
#ifndef RC_RAFT_MEMBERSHIP_H
#define RC_RAFT_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

struct membership_request {
    const char *what;      /* names the request in messages, e.g. "Member.Remove" (borrowed) */
    uint64_t id;           /* the member; transfer: 0 lets Raft choose */
    const char *raft_addr; /* add / join (borrowed until the outcome) */
    const char *rpc_addr;  /* add / join (borrowed until the outcome) */
    bool standby;          /* add / join: as a standby rather than a voter */
    bool force;            /* remove / demote: skip the quorum check */
};

enum membership_event {
    MEMBERSHIP_UNCHANGED,    /* nothing to do (already so) or refused */
    MEMBERSHIP_ADDED,        /* in the configuration with role */
    MEMBERSHIP_REMOVED,      /* out of the configuration */
    MEMBERSHIP_ROLE_CHANGED, /* now role */
    MEMBERSHIP_TRANSFERRED,  /* leader now leads */
    MEMBERSHIP_STRANDED      /* added as a spare but not caught up (rv != 0; cause says why) */
};

struct membership_result {
    /* 0: done. RC_ENOTLEADER: this node is not (or no longer) the leader; nothing else is set.
     * Another RC_E* code: refused or failed, message says why. */
    int rv;
    int status;        /* rv != 0: the RC_STATUS_* the outcome calls for, or 0 for rv's own */
    char message[512]; /* rv != 0 */
    enum membership_event event;
    enum cluster_role role; /* MEMBERSHIP_ADDED, MEMBERSHIP_ROLE_CHANGED */
    uint64_t leader;        /* MEMBERSHIP_TRANSFERRED */
    bool forced;            /* the quorum check was skipped (request.force on a voter) */
    char cause[256];        /* MEMBERSHIP_STRANDED */
};

/* res is borrowed for the duration of the call. */
typedef void (*membership_done_cb)(void *data, const struct membership_result *res);

/* join: the member asks for itself (raftcrond --join), so an existing entry is completed
 * rather than refused. */
bool membershipAdd(struct cluster *c, const struct membership_request *req, bool join,
                   struct membership_result *res, membership_done_cb cb, void *data);
bool membershipRemove(struct cluster *c, const struct membership_request *req,
                      struct membership_result *res, membership_done_cb cb, void *data);
bool membershipPromote(struct cluster *c, const struct membership_request *req,
                       struct membership_result *res, membership_done_cb cb, void *data);
bool membershipDemote(struct cluster *c, const struct membership_request *req,
                      struct membership_result *res, membership_done_cb cb, void *data);
bool membershipTransfer(struct cluster *c, const struct membership_request *req,
                        struct membership_result *res, membership_done_cb cb, void *data);

#endif /* RC_RAFT_MEMBERSHIP_H */
