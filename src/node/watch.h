/*
 * Worker.Watch on the leader (DESIGN.md §5): the session by which worker agents, which hold no
 * replica of the ledger, are pushed their assignments and cancels. A watch whose answer would
 * be what the agent already holds is parked; every entry the leader applies re-checks the
 * parked watches, and the ones whose set of assigned runs changed are answered at once. A
 * parked watch is otherwise answered when its wait ends, and with "not leader" when this node
 * loses leadership or stops.
 */
#ifndef RC_NODE_WATCH_H
#define RC_NODE_WATCH_H

#include <stdbool.h>
#include <uv.h>

struct node;
struct rpc_call;
struct parked_watch;

struct watches {
    struct node *node;           /* borrowed */
    uv_timer_t timer;            /* private: the earliest wait to end */
    struct parked_watch *parked; /* private */
    unsigned count;              /* read-only: watches parked now */
    bool closing;
};

void watchesInit(struct watches *ws, struct node *n, uv_loop_t *loop);
/* The state or the leadership may have changed: answer the watches that should be. */
void watchesPoke(struct watches *ws);
/* Answer every parked watch (the node is stopping) and close; cb when closed. */
void watchesClose(struct watches *ws, uv_close_cb cb);

/* The Worker.Watch handler. */
void rpcWorkerWatch(struct rpc_call *call);

#endif /* RC_NODE_WATCH_H */
